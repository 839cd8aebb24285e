/* Whole-trainer parity with PyTorch: `charlstm train --init` on the committed
 * initial weights and text reproduces, step by step, the loss of a PyTorch run
 * of the same training (Adam, clipping, learning-rate decay, truncated BPTT
 * with the state carried across chunks, several streams, several epochs), and
 * its final weights.  The fixture comes from tests/make_trainer_fixture.py;
 * the test drives the command line only, so that it outlives rewrites of the
 * trainer's library interface.
 *
 * Tolerances: final weights within 1e-4 relative to max(1, |w|); losses
 * within 1e-4 plus half a unit of the log's last printed digit (the log has 4
 * decimals).  PyTorch's own float32 run is 4x inside both (the script checks). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cl_model.h"
#include "cl_test.h"

#define MAX_STEPS 256
#define MAX_TENSORS 32
#define WEIGHT_TOL 1e-4
#define LOSS_TOL (1e-4 + 0.5e-4)

typedef struct {
    char section[64], name[64];
    long n;
    float *v;
} fx_tensor;

typedef struct {
    char name[32], model[128], args[1024];
    int nsteps, ntensors;
    double loss[MAX_STEPS + 1]; /* by step, from 1 */
    fx_tensor t[MAX_TENSORS];
} fx_case;

static void fx_free(fx_case *c)
{
    for (int i = 0; i < c->ntensors; i++)
        free(c->t[i].v);
}

static void parse_tensor(fx_case *c, const char *line)
{
    ck_assert_int_lt(c->ntensors, MAX_TENSORS);
    fx_tensor *t = &c->t[c->ntensors++];
    int used = 0;
    ck_assert_int_eq(sscanf(line, "tensor %63[^/]/%63s %ld%n", t->section, t->name, &t->n, &used),
                     3);
    t->v = malloc((size_t)t->n * sizeof *t->v);
    const char *p = line + used;
    for (long i = 0; i < t->n; i++) {
        char *end;
        t->v[i] = strtof(p, &end);
        ck_assert_msg(end != p, "fixture tensor %s: value %ld missing", t->name, i);
        p = end;
    }
}

/* The case called name from tests/data/trainer_fixture.txt. */
static void fx_load(fx_case *c, const char *name)
{
    char path[1024], *line = NULL;
    size_t cap = 0;
    int in = 0, found = 0;
    memset(c, 0, sizeof *c);
    FILE *f = fopen(cl_test_path(path, sizeof path, "tests/data/trainer_fixture.txt"), "r");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    while (getline(&line, &cap, f) > 0) {
        line[strcspn(line, "\n")] = 0;
        char cname[32], model[128];
        if (sscanf(line, "case %31s model=%127s", cname, model) == 2) {
            in = strcmp(cname, name) == 0;
            found |= in;
            if (in)
                snprintf(c->name, sizeof c->name, "%s", cname),
                    snprintf(c->model, sizeof c->model, "%s", model);
        } else if (!in || line[0] == '#') {
            continue;
        } else if (strncmp(line, "args ", 5) == 0) {
            snprintf(c->args, sizeof c->args, "%s", line + 5);
        } else if (strncmp(line, "loss ", 5) == 0) {
            int step;
            double v;
            ck_assert_int_eq(sscanf(line, "loss %d %lf", &step, &v), 2);
            ck_assert(step >= 1 && step <= MAX_STEPS);
            c->loss[step] = v;
            c->nsteps = step > c->nsteps ? step : c->nsteps;
        } else if (strncmp(line, "tensor ", 7) == 0) {
            parse_tensor(c, line);
        } else if (strcmp(line, "end") == 0) {
            in = 0;
        }
    }
    free(line);
    fclose(f);
    ck_assert_msg(found && c->nsteps > 0 && c->ntensors > 0, "no case %s in the fixture", name);
}

/* Column index of name in a TSV header line, or -1. */
static int column_of(const char *header, const char *name)
{
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", header);
    buf[strcspn(buf, "\r\n")] = 0;
    int i = 0;
    for (char *save, *tok = strtok_r(buf, "\t", &save); tok; tok = strtok_r(NULL, "\t", &save), i++)
        if (strcmp(tok, name) == 0)
            return i;
    return -1;
}

/* Field i of a TSV line as a number. */
static double field(const char *line, int i)
{
    const char *p = line;
    for (int k = 0; k < i && p; k++)
        p = strchr(p, '\t') ? strchr(p, '\t') + 1 : NULL;
    ck_assert_msg(p != NULL, "log line without column %d: %s", i, line);
    return strtod(p, NULL);
}

/* Every step's train_loss in the log equals the fixture's. */
static void check_log(const fx_case *c, const char *log)
{
    char line[1024];
    FILE *f = fopen(log, "r");
    ck_assert_msg(f != NULL, "no log %s", log);
    ck_assert_ptr_nonnull(fgets(line, sizeof line, f));
    int cs = column_of(line, "step"), cl = column_of(line, "train_loss");
    ck_assert_msg(cs >= 0 && cl >= 0, "log header without step and train_loss: %s", line);
    int seen = 0;
    while (fgets(line, sizeof line, f)) {
        int step = (int)field(line, cs);
        double loss = field(line, cl);
        ck_assert_msg(step == seen + 1, "%s: log step %d after %d", c->name, step, seen);
        ck_assert_msg(fabs(loss - c->loss[step]) <= LOSS_TOL,
                      "%s: step %d loss %.6f, PyTorch %.6f", c->name, step, loss, c->loss[step]);
        seen = step;
    }
    fclose(f);
    ck_assert_msg(seen == c->nsteps, "%s: the log has %d steps, the fixture %d", c->name, seen,
                  c->nsteps);
}

/* Every final weight in the model file equals the fixture's. */
static void check_weights(const fx_case *c, const char *path)
{
    cl_model *m;
    cl_ckpt *ck;
    cl_diag d = {{0}};
    ck_assert_msg(cl_model_load(&m, path, &ck, &d) == CL_OK, "%s: %s", path, d.msg);
    for (int i = 0; i < c->ntensors; i++) {
        const fx_tensor *t = &c->t[i];
        const cl_ckpt_section *s = cl_ckpt_find(ck, t->section);
        cl_ckpt_tensor_info info;
        ck_assert_msg(s && cl_ckpt_tensor_find(s, t->name, &info) == CL_OK, "%s: no %s/%s",
                      path, t->section, t->name);
        ck_assert_int_eq(info.dtype, CL_CKPT_F32);
        ck_assert_uint_eq(info.nbytes, (uint64_t)t->n * 4);
        float *w = malloc(info.nbytes);
        memcpy(w, info.data, info.nbytes); /* little-endian bytes: the test hosts are */
        for (long k = 0; k < t->n; k++) {
            double err = fabs((double)w[k] - t->v[k]) / fmax(1.0, fabs((double)t->v[k]));
            ck_assert_msg(err <= WEIGHT_TOL, "%s: %s/%s[%ld] = %.7g, PyTorch %.7g", c->name,
                          t->section, t->name, k, (double)w[k], (double)t->v[k]);
        }
        free(w);
    }
    cl_ckpt_free(ck);
    cl_model_free(m);
}

static const char *const cases[] = {"lstm", "gru"};

START_TEST(lm_trainer_matches_pytorch)
{
    static fx_case c;
    static char out[16384];
    char model[1024], text[1024], log[1024], dst[1024], last[1100], rel[200];
    fx_load(&c, cases[_i]);
    snprintf(rel, sizeof rel, "tests/data/%s", c.model);
    cl_test_path(model, sizeof model, rel);
    cl_test_path(text, sizeof text, "tests/data/trainer_text.txt");
    snprintf(log, sizeof log, "%s/parity_%s.tsv", cl_test_tmpdir(), c.name);
    snprintf(dst, sizeof dst, "%s/parity_%s.model", cl_test_tmpdir(), c.name);
    snprintf(last, sizeof last, "%s.last", dst); /* always the latest weights */
    int rc = cl_test_run(out, sizeof out, "train --init '%s' --train '%s' %s --log '%s' -o '%s' -q",
                         model, text, c.args, log, dst);
    ck_assert_msg(rc == 0, "train failed (%d): %s", rc, out);
    check_log(&c, log);
    check_weights(&c, last);
    fx_free(&c);
}
END_TEST

Suite *suite_trainer_parity(void)
{
    Suite *s = suite_create("trainer_parity");
    TCase *tc = tcase_create("lm");
    tcase_add_loop_test(tc, lm_trainer_matches_pytorch, 0, (int)(sizeof cases / sizeof *cases));
    suite_add_tcase(s, tc);
    return s;
}
