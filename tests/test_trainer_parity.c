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
 * decimals).  PyTorch's own float32 run is 4x inside both (the script checks).
 *
 * The same fixture gives known answers for `charlstm eval`: PyTorch's
 * nats/char of the initial model for 1, 3 and 64 streams (each stream in one
 * piece: charlstm's chunking with the state carried must not change it), and
 * bits/char and perplexity derived from it; a model whose output is uniform
 * over V characters gives ln V, ln V / ln 2 and V.
 *
 * Both trainers run in fp32, forced (`--precision fp32`, tc.precision): the
 * default, auto, multiplies in bfloat16 where the CPU can, far outside
 * these tolerances by design (tests/test_bf16.c bounds that instead). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cl_clftrain.h"
#include "cl_lm.h"
#include "cl_lmtrain.h" /* cl_lm_evaluate */
#include "cl_model.h"
#include "cl_test.h"

#define MAX_STEPS 256
#define MAX_TENSORS 32
#define MAX_EVALS 8
#define WEIGHT_TOL 1e-4
#define LOSS_TOL (1e-4 + 0.5e-4)

typedef struct {
    char section[64], name[64];
    long n;
    float *v;
} fx_tensor;

typedef struct {
    char name[32], model[128], args[1024];
    int nsteps, ntensors, nevals;
    double loss[MAX_STEPS + 1]; /* by step, from 1 */
    int eval_streams[MAX_EVALS];
    double eval_nats[MAX_EVALS];
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

/* The case called name from fixture (a path under tests/data/). */
static void fx_load_from(fx_case *c, const char *fixture, const char *name)
{
    char path[1024], *line = NULL;
    size_t cap = 0;
    int in = 0, found = 0;
    memset(c, 0, sizeof *c);
    char rel[200];
    snprintf(rel, sizeof rel, "tests/data/%s", fixture);
    FILE *f = fopen(cl_test_path(path, sizeof path, rel), "r");
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
        } else if (strncmp(line, "eval ", 5) == 0) {
            ck_assert_int_lt(c->nevals, MAX_EVALS);
            ck_assert_int_eq(sscanf(line, "eval %d %lf", &c->eval_streams[c->nevals],
                                    &c->eval_nats[c->nevals]), 2);
            c->nevals++;
        } else if (strncmp(line, "tensor ", 7) == 0) {
            parse_tensor(c, line);
        } else if (strcmp(line, "end") == 0) {
            in = 0;
        }
    }
    free(line);
    fclose(f);
    ck_assert_msg(found && c->nsteps > 0 && c->ntensors > 0, "no case %s in %s", name, fixture);
}

/* The case called name from tests/data/trainer_fixture.txt (the LM's). */
static void fx_load(fx_case *c, const char *name) { fx_load_from(c, "trainer_fixture.txt", name); }

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
    int rc = cl_test_run(out, sizeof out,
                         "train --init '%s' --train '%s' %s --precision fp32 --log '%s' -o '%s' -q",
                         model, text, c.args, log, dst);
    ck_assert_msg(rc == 0, "train failed (%d): %s", rc, out);
    check_log(&c, log);
    check_weights(&c, last);
    fx_free(&c);
}
END_TEST

/* ==== the classifier's trainer ============================================= */

/* The classifier task under the training core, as `charlstm train --task
 * classifier` runs it (tools/train_classifier.c, train_job.c), but from the
 * fixture's model file with its classifier head as it is: the command would
 * give the head fresh random weights.  The settings are the fixture's args
 * line of KEY=VALUE pairs. */
typedef struct {
    cl_train_config tc;
    cl_clftrain_config cc;
    float encoder_lr;
} clf_settings;

static clf_settings clf_parse_args(const char *args)
{
    enum { STEPS, BATCH, LR, ENC_LR, CLIP, DECAY, EVERY, FREEZE, CW, SEED, NKEYS };
    static const char *const keys[NKEYS] = {"steps", "batch", "lr", "encoder_lr", "clip",
                                            "decay", "decay_every", "freeze", "class_weights",
                                            "seed"};
    double v[NKEYS];
    int seen[NKEYS] = {0};
    char buf[1024], *save;
    snprintf(buf, sizeof buf, "%s", args);
    for (char *tok = strtok_r(buf, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
        char key[32];
        double x;
        int k = 0;
        ck_assert_msg(sscanf(tok, "%31[^=]=%lf", key, &x) == 2, "fixture args: %s", tok);
        while (k < NKEYS && strcmp(key, keys[k]))
            k++;
        ck_assert_msg(k < NKEYS && !seen[k], "fixture args: unknown or repeated %s", key);
        v[k] = x, seen[k] = 1;
    }
    for (int k = 0; k < NKEYS; k++)
        ck_assert_msg(seen[k], "fixture args: no %s", keys[k]);
    clf_settings s = {cl_train_defaults(), cl_clftrain_defaults(), (float)v[ENC_LR]};
    s.tc.max_steps = (long)v[STEPS], s.tc.lr = (float)v[LR], s.tc.clip = (float)v[CLIP];
    s.tc.lr_decay = (float)v[DECAY], s.tc.decay_every = (long)v[EVERY];
    s.tc.seed = (uint64_t)v[SEED];
    s.tc.eval_every = 1; /* each step's loss reaches the hook */
    s.tc.precision = CL_PREC_FP32;
    s.cc.batch = (int)v[BATCH], s.cc.freeze = (int)v[FREEZE], s.cc.class_weights = (int)v[CW];
    return s;
}

typedef struct {
    double loss[MAX_STEPS + 1];
    long steps;
} clf_log;

static int clf_evaluated(const cl_train_stats *s, void *ctx)
{
    clf_log *log = ctx;
    ck_assert(s->step >= 1 && s->step <= MAX_STEPS);
    log->loss[s->step] = s->train_loss, log->steps = s->step;
    return 0;
}

/* Train the model at path m on the TSV; the losses into log, the latest
 * state into last. */
static void clf_train(const fx_case *c, cl_model *m, const char *tsv, clf_log *log,
                      const char *last)
{
    cl_clfdata ds;
    cl_diag d = {{0}};
    ck_assert_msg(cl_clfdata_read_file(&ds, tsv, cl_model_text(m), &d) == 0, "%s", d.msg);
    ck_assert_msg(cl_clfdata_encode(&ds, m, &d) == 0, "%s", d.msg);
    clf_settings s = clf_parse_args(c->args);
    cl_clftrain *t;
    ck_assert_msg(cl_clftrain_create(&t, m, &s.cc, &ds, NULL, &d) == 0, "%s", d.msg);
    cl_train_task task = cl_clftrain_task(t);
    cl_train_group g[2];
    int ng = cl_clftrain_groups(t, s.tc.lr, s.encoder_lr, g);
    cl_train_files files = {NULL, last, NULL, NULL};
    cl_trainer *tr;
    ck_assert_msg(cl_trainer_create(&tr, m, &s.tc, g, ng, &task, &files, &d) == 0, "%s", d.msg);
    cl_train_hooks h = {log, NULL, clf_evaluated, NULL};
    ck_assert_msg(cl_trainer_run(tr, &h, &d) == 0, "%s: %s", c->name, d.msg);
    cl_trainer_free(tr);
    cl_clftrain_free(t);
    cl_clfdata_free(&ds);
}

static const char *const clf_cases[] = {"bilstm", "gru"};

START_TEST(classifier_trainer_matches_pytorch)
{
    static fx_case c;
    static clf_log log;
    char model[1024], tsv[1024], last[1024], rel[200];
    fx_load_from(&c, "clf_fixture.txt", clf_cases[_i]);
    snprintf(rel, sizeof rel, "tests/data/%s", c.model);
    cl_test_path(model, sizeof model, rel);
    cl_test_path(tsv, sizeof tsv, "tests/data/clf_train.tsv");
    snprintf(last, sizeof last, "%s/parity_clf_%s.model.last", cl_test_tmpdir(), c.name);
    cl_model *m;
    cl_diag d = {{0}};
    ck_assert_msg(cl_model_load(&m, model, NULL, &d) == 0, "%s", d.msg);
    memset(&log, 0, sizeof log);
    clf_train(&c, m, tsv, &log, last);
    cl_model_free(m);
    ck_assert_int_eq(log.steps, c.nsteps);
    for (int k = 1; k <= c.nsteps; k++)
        ck_assert_msg(fabs(log.loss[k] - c.loss[k]) <= WEIGHT_TOL, "%s: step %d loss %.6f, "
                      "PyTorch %.6f", c.name, k, log.loss[k], c.loss[k]);
    check_weights(&c, last);
    fx_free(&c);
}
END_TEST

/* ==== eval: known answers ================================================== */

/* The value after "name<TAB>" in `charlstm eval` output. */
static double eval_value(const char *out, const char *name)
{
    char key[64];
    snprintf(key, sizeof key, "%s\t", name);
    const char *p = strstr(out, key);
    ck_assert_msg(p != NULL, "no %s in: %s", name, out);
    return strtod(p + strlen(key), NULL);
}

/* nats/char as PyTorch computed it, bits/char and perplexity from it; the
 * tolerances add half a unit of the last printed digit (4, 4 and 3 decimals). */
static void check_eval_output(const char *out, double nats, const char *what)
{
    double n = eval_value(out, "nats/char"), b = eval_value(out, "bits/char");
    double ppl = eval_value(out, "perplexity");
    ck_assert_msg(fabs(n - nats) <= 1.5e-4, "%s: nats/char %.4f, expected %.6f", what, n, nats);
    ck_assert_msg(fabs(b - nats / log(2)) <= 2e-4, "%s: bits/char %.4f, expected %.6f", what, b,
                  nats / log(2));
    ck_assert_msg(fabs(ppl - exp(nats)) <= 1.5e-4 * exp(nats) + 5e-4,
                  "%s: perplexity %.3f, expected %.4f", what, ppl, exp(nats));
}

static void fx_paths(const fx_case *c, char *model, char *text, size_t size)
{
    char rel[200];
    snprintf(rel, sizeof rel, "tests/data/%s", c->model);
    cl_test_path(model, size, rel);
    cl_test_path(text, size, "tests/data/trainer_text.txt");
}

START_TEST(eval_matches_pytorch)
{
    static fx_case c;
    static char out[4096];
    char model[1024], text[1024], what[64];
    fx_load(&c, cases[_i]);
    fx_paths(&c, model, text, sizeof model);
    ck_assert_int_gt(c.nevals, 0);
    for (int i = 0; i < c.nevals; i++) {
        int rc = cl_test_run(out, sizeof out, "eval -m '%s' --batch %d '%s'", model,
                             c.eval_streams[i], text);
        ck_assert_msg(rc == 0, "eval failed (%d): %s", rc, out);
        snprintf(what, sizeof what, "%s, %d streams", c.name, c.eval_streams[i]);
        check_eval_output(out, c.eval_nats[i], what);
    }
    fx_free(&c);
}
END_TEST

/* How the text is cut into chunks does not change the answer: the state is
 * carried from chunk to chunk (library level: the command has one chunk). */
START_TEST(eval_does_not_depend_on_the_chunk)
{
    static fx_case c;
    char model[1024], text[1024];
    fx_load(&c, cases[_i]);
    fx_paths(&c, model, text, sizeof model);
    cl_model *m;
    cl_diag d = {{0}};
    ck_assert_msg(cl_model_load(&m, model, NULL, &d) == 0, "%s", d.msg);
    cl_corpus *corpus;
    const char *paths[1] = {text};
    cl_ids ids;
    int64_t unk = 0;
    ck_assert_int_eq(cl_corpus_open(&corpus, paths, 1, &m->text, &d), 0);
    ck_assert_int_eq(cl_ids_from_corpus(&ids, corpus, &m->vocab, NULL, &unk, &d), 0);
    cl_corpus_close(corpus);
    static const int chunks[] = {1, 5, 12, 256};
    for (int i = 0; i < c.nevals; i++)
        for (size_t k = 0; k < sizeof chunks / sizeof *chunks; k++) {
            double loss;
            long count;
            ck_assert_int_eq(cl_lm_evaluate(m, &ids, c.eval_streams[i], chunks[k], &loss, &count,
                                            &d), 0);
            ck_assert_int_eq(count, (long)ids.n - 1);
            ck_assert_msg(fabs(loss - c.eval_nats[i]) < 2e-5, "%s: %d streams, chunk %d: %.6f, "
                          "PyTorch %.6f", c.name, c.eval_streams[i], chunks[k], loss,
                          c.eval_nats[i]);
        }
    cl_ids_release(&ids);
    cl_model_free(m);
    fx_free(&c);
}
END_TEST

/* A model whose output layer is zero predicts every one of its V characters
 * with probability 1/V: ln V nats/char, log2 V bits/char, perplexity V. */
START_TEST(eval_of_a_uniform_model)
{
    static char out[4096];
    char model[1024], text[1024], uniform[1024];
    static fx_case c;
    fx_load(&c, "lstm");
    fx_paths(&c, model, text, sizeof model);
    cl_model *m;
    cl_diag d = {{0}};
    ck_assert_msg(cl_model_load(&m, model, NULL, &d) == 0, "%s", d.msg);
    int iw = cl_params_find(&m->params, "head.lm.weight"), ib = cl_params_find(&m->params,
                                                                               "head.lm.bias");
    ck_assert(iw >= 0 && ib >= 0);
    memset(cl_params_w(&m->params, iw), 0, m->params.t[iw].size * sizeof(float));
    memset(cl_params_w(&m->params, ib), 0, m->params.t[ib].size * sizeof(float));
    int V = m->enc.vocab;
    snprintf(uniform, sizeof uniform, "%s/uniform.model", cl_test_tmpdir());
    ck_assert_msg(cl_model_save(m, uniform, NULL, NULL, &d) == 0, "%s", d.msg);
    cl_model_free(m);
    ck_assert_int_eq(V, 18);
    ck_assert_int_eq(cl_test_run(out, sizeof out, "eval -m '%s' '%s'", uniform, text), 0);
    check_eval_output(out, log(V), "uniform model");
    ck_assert_msg(strstr(out, "perplexity\t18.000\n") != NULL, "%s", out);
    fx_free(&c);
}
END_TEST

Suite *suite_trainer_parity(void)
{
    Suite *s = suite_create("trainer_parity");
    TCase *tc = tcase_create("lm");
    tcase_add_loop_test(tc, lm_trainer_matches_pytorch, 0, (int)(sizeof cases / sizeof *cases));
    suite_add_tcase(s, tc);
    tc = tcase_create("classifier");
    tcase_add_loop_test(tc, classifier_trainer_matches_pytorch, 0,
                        (int)(sizeof clf_cases / sizeof *clf_cases));
    suite_add_tcase(s, tc);
    tc = tcase_create("eval");
    tcase_add_loop_test(tc, eval_matches_pytorch, 0, (int)(sizeof cases / sizeof *cases));
    tcase_add_loop_test(tc, eval_does_not_depend_on_the_chunk, 0,
                        (int)(sizeof cases / sizeof *cases));
    tcase_add_test(tc, eval_of_a_uniform_model);
    suite_add_tcase(s, tc);
    return s;
}
