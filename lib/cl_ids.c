/* cl_ids: id sequences in a temporary file (pread) or in memory. */
#include "cl_ids.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct cl_ids_store {
    int refs;
    int fd;        /* -1 when in memory */
    int32_t *mem;  /* in-memory ids */
    int64_t n;
};

static cl_ids_store *store_new(void)
{
    cl_ids_store *s = calloc(1, sizeof *s);
    if (s)
        s->refs = 1, s->fd = -1;
    return s;
}

static void store_release(cl_ids_store *s)
{
    if (!s || --s->refs > 0)
        return;
    if (s->fd >= 0)
        close(s->fd);
    free(s->mem);
    free(s);
}

void cl_ids_release(cl_ids *ids)
{
    store_release(ids->store);
    memset(ids, 0, sizeof *ids);
}

int cl_ids_from_cps(cl_ids *ids, const int32_t *cps, int64_t n, const cl_vocab *v,
                    int64_t *unknown)
{
    memset(ids, 0, sizeof *ids);
    cl_ids_store *s = store_new();
    if (!s || !(s->mem = malloc(sizeof(int32_t) * (size_t)(n ? n : 1)))) {
        store_release(s);
        return CL_ENOMEM;
    }
    int64_t unk = 0;
    for (int64_t i = 0; i < n; i++) {
        s->mem[i] = cl_vocab_id(v, cps[i]);
        unk += s->mem[i] == CL_VOCAB_UNK;
    }
    if (unknown)
        *unknown = unk;
    s->n = n;
    ids->store = s, ids->n = n;
    return CL_OK;
}

static int open_tmp(const char *tmpdir, cl_diag *d)
{
    char path[4096];
    const char *dir = tmpdir ? tmpdir : getenv("TMPDIR");
    snprintf(path, sizeof path, "%s/charlstm-ids-XXXXXX", dir && *dir ? dir : "/tmp");
    int fd = mkstemp(path);
    if (fd < 0)
        return cl_diag_set(d, CL_EIO, "%s: cannot create temporary file: %s", path,
                           strerror(errno));
    unlink(path); /* gone when closed, even after a crash */
    return fd;
}

static int write_all(int fd, const void *buf, size_t n, cl_diag *d)
{
    const char *p = buf;
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return cl_diag_set(d, CL_EIO, "temporary id file: %s", strerror(errno));
        p += w, n -= (size_t)w;
    }
    return CL_OK;
}

enum { CHUNK = 1 << 16 };

int cl_ids_from_corpus(cl_ids *ids, cl_corpus *c, const cl_vocab *v, const char *tmpdir,
                       int64_t *unknown, cl_diag *d)
{
    memset(ids, 0, sizeof *ids);
    cl_ids_store *s = store_new();
    int32_t *buf = malloc(sizeof *buf * CHUNK);
    int err = s && buf ? CL_OK : CL_ENOMEM;
    if (!err && (s->fd = open_tmp(tmpdir, d)) < 0)
        err = s->fd, s->fd = -1;
    int64_t unk = 0;
    size_t got = 1;
    while (!err && got) {
        err = cl_corpus_read(c, buf, CHUNK, &got, d);
        for (size_t i = 0; !err && i < got; i++) {
            buf[i] = cl_vocab_id(v, buf[i]);
            unk += buf[i] == CL_VOCAB_UNK;
        }
        if (!err && got)
            err = write_all(s->fd, buf, got * sizeof *buf, d);
        s->n += (int64_t)got;
    }
    free(buf);
    if (err) {
        store_release(s);
        return err;
    }
    if (unknown)
        *unknown = unk;
    ids->store = s, ids->n = s->n;
    return CL_OK;
}

int cl_ids_view(cl_ids *view, const cl_ids *src, int64_t off, int64_t n)
{
    if (off < 0 || n < 0 || off + n > src->n)
        return CL_EINVAL;
    view->store = src->store;
    view->store->refs++;
    view->off = src->off + off, view->n = n;
    return CL_OK;
}

static int read_file(const cl_ids_store *s, int64_t pos, int64_t n, int *out, cl_diag *d)
{
    int64_t done = 0;
    while (done < n) {
        ssize_t r = pread(s->fd, out + done, (size_t)(n - done) * sizeof(int32_t),
                          (off_t)((pos + done) * (int64_t)sizeof(int32_t)));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0 || r % (ssize_t)sizeof(int32_t))
            return cl_diag_set(d, CL_EIO, "temporary id file: %s",
                               r < 0 ? strerror(errno) : "short read");
        done += r / (ssize_t)sizeof(int32_t);
    }
    return CL_OK;
}

int cl_ids_read(const cl_ids *ids, int64_t pos, int64_t n, int *out, cl_diag *d)
{
    int64_t have = pos >= ids->n ? 0 : (pos + n > ids->n ? ids->n - pos : n);
    for (int64_t i = have < 0 ? 0 : have; i < n; i++)
        out[i] = -1;
    if (have <= 0)
        return CL_OK;
    const cl_ids_store *s = ids->store;
    if (s->fd < 0) {
        memcpy(out, s->mem + ids->off + pos, (size_t)have * sizeof(int32_t));
        return CL_OK;
    }
    return read_file(s, ids->off + pos, have, out, d);
}
