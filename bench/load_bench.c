/* load_bench: seconds to load (and validate) a model file holding many
 * names, the case where pairwise duplicate checks were quadratic (issue
 * 12: 80,000 keys took 21.6 s in `charlstm info`).
 *   load_bench [KEYS=80000]
 * Writes a file with one section of KEYS i64 keys and one of KEYS/8
 * one-element tensors, then times cl_ckpt_load on it (median of 5). */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "cl_ckpt.h"

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int write_file(const char *path, int keys)
{
    cl_ckpt_writer *w;
    cl_diag d = {{0}};
    char name[32];
    int64_t one = 1;
    float x = 0;
    int err = cl_ckpt_writer_open(&w, path, &d);
    err = err ? err : cl_ckpt_section_begin(w, "keys");
    for (int i = 0; i < keys && !err; i++) {
        snprintf(name, sizeof name, "key.%d", i);
        err = cl_ckpt_put_i64(w, name, i);
    }
    err = err ? err : cl_ckpt_section_end(w);
    err = err ? err : cl_ckpt_section_begin(w, "tensors");
    for (int i = 0; i < keys / 8 && !err; i++) {
        snprintf(name, sizeof name, "t.%d", i);
        err = cl_ckpt_put_f32(w, name, 1, &one, &x);
    }
    err = err ? err : cl_ckpt_section_end(w);
    if (err) {
        cl_ckpt_writer_abort(w);
        return err;
    }
    return cl_ckpt_writer_commit(w, &d);
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    int keys = argc > 1 ? atoi(argv[1]) : 80000;
    char path[64];
    snprintf(path, sizeof path, "/tmp/load_bench.%ld.ckpt", (long)getpid());
    double t0 = now();
    if (keys < 1 || write_file(path, keys)) {
        fprintf(stderr, "load_bench: cannot write %s\n", path);
        return 1;
    }
    double wr = now() - t0, t[5];
    for (int r = 0; r < 5; r++) {
        cl_ckpt *ck;
        cl_diag d = {{0}};
        t0 = now();
        if (cl_ckpt_load(&ck, path, &d)) {
            fprintf(stderr, "load_bench: %s\n", d.msg);
            return 1;
        }
        t[r] = now() - t0;
        cl_ckpt_free(ck);
    }
    qsort(t, 5, sizeof t[0], cmp);
    printf("load %d keys + %d tensors: %.3f s (write %.3f s)\n", keys, keys / 8, t[2], wr);
    unlink(path);
    return 0;
}
