/* The training core (cl_train): its schedule, groups and non-finite guard
 * on a task made up here, and end to end through "charlstm train": exact
 * resume of every task after SIGINT, refused changes on resume, divergence
 * that leaves the earlier files intact, a better model never overwritten
 * by a worse one, and no optimizer moments for constants. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cl_lmtrain.h"
#include "cl_test.h"
#include "cl_train.h"

/* ==== the schedule ========================================================= */

START_TEST(schedule_warmup_step_and_cosine)
{
    cl_train_config c = cl_train_defaults();
    c.warmup = 4;
    ck_assert_double_eq_tol(cl_train_lr_factor(&c, 0, 0, 0), 0.25, 1e-12);
    ck_assert_double_eq_tol(cl_train_lr_factor(&c, 3, 0, 0), 1.0, 1e-12);
    ck_assert_double_eq_tol(cl_train_lr_factor(&c, 100, 3, 0), 1.0, 1e-12);
    c.warmup = 0, c.lr_decay = 0.5f, c.decay_every = 0; /* per epoch */
    ck_assert_double_eq_tol(cl_train_lr_factor(&c, 7, 0, 0), 1.0, 1e-12);
    ck_assert_double_eq_tol(cl_train_lr_factor(&c, 7, 2, 0), 0.25, 1e-12);
    c.decay_every = 10, c.decay_start = 20; /* per step, after decay_start */
    ck_assert_double_eq_tol(cl_train_lr_factor(&c, 19, 9, 0), 1.0, 1e-12);
    ck_assert_double_eq_tol(cl_train_lr_factor(&c, 30, 9, 0), 0.25, 1e-12);
    c.schedule = CL_SCHED_COSINE, c.warmup = 10;
    ck_assert_double_eq_tol(cl_train_lr_factor(&c, 10, 0, 110), 1.0, 1e-12);
    ck_assert_double_eq_tol(cl_train_lr_factor(&c, 60, 0, 110), 0.5, 1e-12);
    ck_assert(cl_train_lr_factor(&c, 109, 0, 110) < 1e-3);
}
END_TEST

/* ==== a task made up here ================================================== */

/* Loss 0.5 * |w - 3|^2 over a 2-tensor model; at step `nan_at` the loss is
 * NaN.  Two groups: "encoder" (trained) and "head.x" (frozen). */
typedef struct {
    cl_model *m;
    long nan_at, steps;
} toy_task;

static long toy_begin(void *ctx, long epoch, cl_rng *rng, cl_diag *d)
{
    (void)ctx, (void)epoch, (void)rng, (void)d;
    return 5;
}

static int toy_step(void *ctx, long i, cl_rng *rng, double *loss, double *count, cl_diag *d)
{
    toy_task *k = ctx;
    cl_params *p = &k->m->params;
    (void)i, (void)rng, (void)d;
    *loss = 0;
    for (size_t j = 0; j < p->n_train; j++) {
        *loss += 0.5 * (p->w[j] - 3) * (p->w[j] - 3);
        p->g[j] += p->w[j] - 3;
    }
    if (k->steps++ == k->nan_at)
        *loss = NAN;
    *count = 1;
    return CL_OK;
}

static cl_model *toy_model(void)
{
    cl_vocab v;
    cl_vocab_builder b;
    int32_t cps[2] = {'a', 'b'};
    ck_assert_int_eq(cl_vocab_builder_init(&b), 0);
    cl_vocab_builder_add(&b, cps, 2);
    ck_assert_int_eq(cl_vocab_build(&v, &b, 0, 1), 0);
    cl_vocab_builder_free(&b);
    cl_encoder_config ec = {cl_vocab_size(&v), 2, {CL_CELL_LSTM, 2, 2, 1, 0, 0}};
    cl_text_opts text = cl_text_defaults();
    cl_rng rng;
    cl_rng_seed(&rng, 1);
    cl_model *m;
    ck_assert_int_eq(cl_model_create(&m, &text, &v, &ec, &rng), 0);
    return m;
}

/* Frozen parts never move; a NaN loss stops before its update. */
static void run_toy(long nan_at, int want_err)
{
    cl_model *m = toy_model();
    toy_task k = {m, nan_at, 0};
    cl_train_task task = {&k, "toy", NULL, toy_begin, toy_step, NULL, NULL, 0, NULL, NULL};
    size_t n = m->params.n_train, half = n / 2 / 16 * 16;
    cl_train_group g[2] = {{0, half, 0.1f, 0}, {half, n, 0.1f, 1}};
    float *w0 = malloc(n * sizeof *w0);
    memcpy(w0, m->params.w, n * sizeof *w0);
    cl_train_config c = cl_train_defaults();
    c.max_steps = 20, c.clip = 0;
    cl_trainer *t;
    cl_diag d = {{0}};
    ck_assert_int_eq(cl_trainer_create(&t, m, &c, g, 2, &task, NULL, &d), 0);
    int err = cl_trainer_run(t, NULL, &d);
    ck_assert_msg(err == want_err, "%d: %s", err, d.msg);
    ck_assert_mem_eq(m->params.w + half, w0 + half, (n - half) * sizeof *w0);
    for (size_t j = 0; j < half; j++)
        ck_assert(isfinite(m->params.w[j]) && m->params.w[j] != w0[j]);
    if (want_err)
        ck_assert_msg(strstr(d.msg, "step 4: the training loss is nan") != NULL, "%s", d.msg);
    else
        ck_assert_int_eq(cl_trainer_stats(t)->step, 20);
    cl_trainer_free(t);
    cl_model_free(m);
    free(w0);
}

START_TEST(frozen_group_stays_trained_group_moves) { run_toy(-1, CL_OK); }
END_TEST

START_TEST(nan_loss_stops_before_the_update) { run_toy(3, CL_ENONFINITE); }
END_TEST

/* Loss spikes: calls [from, to) of the toy report 100 times chance and a
 * gradient of its own. */
typedef struct {
    toy_task k;
    long from, to;
} spiky_task;

#define SPIKY_CHANCE 1e4 /* far above the toy's own loss */

static int spiky_step(void *ctx, long i, cl_rng *rng, double *loss, double *count, cl_diag *d)
{
    spiky_task *s = ctx;
    long call = s->k.steps;
    int err = toy_step(&s->k, i, rng, loss, count, d);
    if (call >= s->from && call < s->to) {
        *loss = 100 * SPIKY_CHANCE;
        for (size_t j = 0; j < s->k.m->params.n_train; j++)
            s->k.m->params.g[j] = -1e6f;
    }
    return err;
}

/* The weights after `steps` steps with spikes at calls [from, to). */
static float *spiky_run(long steps, long from, long to, int want_err, long want_skipped,
                        char *msg, size_t msg_size)
{
    cl_model *m = toy_model();
    spiky_task s = {{m, -1, 0}, from, to};
    cl_train_task task = {&s, "spiky", NULL, toy_begin, spiky_step, NULL, NULL, SPIKY_CHANCE,
                          NULL, NULL};
    cl_train_group g[1] = {{0, m->params.n_train, 0.1f, 0}};
    cl_train_config c = cl_train_defaults();
    c.max_steps = steps;
    cl_trainer *t;
    cl_diag d = {{0}};
    ck_assert_int_eq(cl_trainer_create(&t, m, &c, g, 1, &task, NULL, &d), 0);
    int err = cl_trainer_run(t, NULL, &d);
    ck_assert_msg(err == want_err, "%d: %s", err, d.msg);
    ck_assert_int_eq(cl_trainer_stats(t)->skipped, want_skipped);
    snprintf(msg, msg_size, "%s", d.msg);
    float *w = malloc(m->params.n_train * sizeof *w);
    memcpy(w, m->params.w, m->params.n_train * sizeof *w);
    cl_trainer_free(t);
    cl_model_free(m);
    return w;
}

/* A lone spike is passed over (the run = one without that step's update);
 * CL_TRAIN_SPIKES in a row stop training with the weights of the last good
 * step. */
START_TEST(loss_spikes_are_passed_over_and_streaks_stop)
{
    char msg[512];
    size_t n;
    {
        cl_model *m = toy_model();
        n = m->params.n_train;
        cl_model_free(m);
    }
    float *clean19 = spiky_run(19, -1, -1, CL_OK, 0, msg, sizeof msg);
    float *last_spiked = spiky_run(20, 19, 20, CL_OK, 1, msg, sizeof msg);
    ck_assert_mem_eq(last_spiked, clean19, n * sizeof(float));
    float *clean5 = spiky_run(5, -1, -1, CL_OK, 0, msg, sizeof msg);
    float *streak = spiky_run(20, 5, 5 + CL_TRAIN_SPIKES, CL_ENONFINITE, CL_TRAIN_SPIKES - 1,
                              msg, sizeof msg);
    ck_assert_mem_eq(streak, clean5, n * sizeof(float));
    ck_assert_msg(strstr(msg, "4 steps in a row; nothing was updated or saved after step 5"),
                  "%s", msg);
    /* short of a streak: passed over, the run goes on */
    float *clean17 = spiky_run(17, -1, -1, CL_OK, 0, msg, sizeof msg);
    float *three = spiky_run(20, 17, 20, CL_OK, CL_TRAIN_SPIKES - 1, msg, sizeof msg);
    ck_assert_mem_eq(three, clean17, n * sizeof(float));
    free(clean19), free(last_spiked), free(clean5), free(streak), free(clean17), free(three);
}
END_TEST

/* Batch i pulls w towards i with mean gradient w - i over i + 1 items. */
static int toy_counted_step(void *ctx, long i, cl_rng *rng, double *loss, double *count,
                            cl_diag *d)
{
    cl_params *p = &((toy_task *)ctx)->m->params;
    (void)rng, (void)d;
    *loss = 0, *count = (double)(i + 1);
    for (size_t j = 0; j < p->n_train; j++) {
        *loss += *count * 0.5 * (p->w[j] - i) * (p->w[j] - i);
        p->g[j] += p->w[j] - (float)i;
    }
    return CL_OK;
}

/* --accumulate 3: one step's gradient is the mean over the items of its
 * three batches (each batch weighed by its count), not over the batches. */
START_TEST(accumulated_gradient_is_the_mean_over_items)
{
    cl_model *m = toy_model();
    toy_task k = {m, -1, 0};
    cl_train_task task = {&k, "toy", NULL, toy_begin, toy_counted_step, NULL, NULL, 0, NULL, NULL};
    size_t n = m->params.n_train;
    cl_train_group g[1] = {{0, n, 0.1f, 0}};
    float *w0 = malloc(n * sizeof *w0);
    memcpy(w0, m->params.w, n * sizeof *w0);
    cl_train_config c = cl_train_defaults();
    c.max_steps = 1, c.clip = 0, c.accumulate = 3;
    cl_trainer *t;
    cl_diag d = {{0}};
    ck_assert_int_eq(cl_trainer_create(&t, m, &c, g, 1, &task, NULL, &d), 0);
    ck_assert_msg(cl_trainer_run(t, NULL, &d) == CL_OK, "%s", d.msg);
    /* (1 (w - 0) + 2 (w - 1) + 3 (w - 2)) / 6 = w - 4/3 */
    for (size_t j = 0; j < n; j++)
        ck_assert_float_eq_tol(m->params.g[j], w0[j] - 4.0f / 3, 1e-5f);
    ck_assert_double_eq(cl_trainer_stats(t)->items, 6);
    ck_assert_int_eq(cl_trainer_stats(t)->epoch_step, 3);
    cl_trainer_free(t);
    cl_model_free(m);
    free(w0);
}
END_TEST

/* The shares of a batch cover it, in order, as evenly as they can. */
START_TEST(shares_cover_the_batch)
{
    int b, e, prev = 0;
    for (int part = 0; part < 4; part++, prev = e) {
        cl_train_share(7, part, 4, &b, &e);
        ck_assert_int_eq(b, prev);
        ck_assert(e - b == 1 || e - b == 2);
    }
    ck_assert_int_eq(e, 7);
    cl_train_share(1, 0, 2, &b, &e);
    ck_assert_int_eq(e - b, 0); /* a share may be empty */
}
END_TEST

/* ==== end to end =========================================================== */

/* Loop index i: 1 and 2 threads in the default precision (auto: bf16 where
 * the CPU has it, so both paths are checked on such a CPU), then 1 thread in
 * fp32 (what CPUs without bf16 run; the resumed run must take fp32 from
 * MODEL.last, as it is given no option). */
static void resume_exactly(const char *task, int i)
{
    char cmd[2048], out[8192];
    int threads = i == 1 ? 2 : 1;
    const char *prec = i == 2 ? "fp32" : "";
    snprintf(cmd, sizeof cmd, "%s/tests/train_resume.sh %s %s/resume-%s-%d %s %d %s 2>&1",
             CL_SRCDIR, CL_TOOL, cl_test_tmpdir(), task, i, task, threads, prec);
    int rc = cl_test_shell(cmd, out, sizeof out);
    ck_assert_msg(rc == 0, "%s", out);
    printf("%s", out);
}

/* tests/train_mpi.sh with the MPI build that make check builds when mpicc
 * exists (CHARLSTM_MPI): 2 ranks = 1 process, resume, refusal, a killed rank. */
START_TEST(mpi_ranks_train_as_one_process)
{
    const char *tool = getenv("CHARLSTM_MPI");
    if (!tool || !*tool || access(tool, X_OK) != 0) {
        const char *req = getenv("CHARLSTM_REQUIRE_MPI"); /* CI: make deps installed it */
        ck_assert_msg(!req || strcmp(req, "1") != 0, "CHARLSTM_REQUIRE_MPI=1 but MPI is not "
                      "built (no mpicc?)");
        cl_test_skip("mpi_ranks_train_as_one_process", "MPI not built (no mpicc: make deps "
                     "installs Open MPI, make check then builds build-mpi/charlstm)");
        return;
    }
    char cmd[2048], out[8192];
    snprintf(cmd, sizeof cmd, "%s/tests/train_mpi.sh %s %s/mpi 2>&1", CL_SRCDIR, tool,
             cl_test_tmpdir());
    int rc = cl_test_shell(cmd, out, sizeof out);
    ck_assert_msg(rc == 0, "%s", out);
    printf("%s", out);
}
END_TEST

START_TEST(lm_resumes_exactly) { resume_exactly("lm", _i); }
END_TEST
START_TEST(tagger_resumes_exactly) { resume_exactly("tagger", _i); }
END_TEST
START_TEST(classifier_resumes_exactly) { resume_exactly("classifier", _i); }
END_TEST

/* A text of a few thousand characters and a short LM run on it. */
static const char *lm_run(const char *name, const char *extra, int *rc, char *out, size_t size)
{
    static char dir[512];
    snprintf(dir, sizeof dir, "%s", cl_test_tmpdir());
    char text[8192] = "";
    for (int i = 0; i < 120; i++)
        strcat(text, i % 3 ? "the cat sat on the mat. " : "a dog ran to the door.\n");
    char path[600];
    snprintf(path, sizeof path, "%s/lm.txt", dir);
    cl_test_write(path, text, strlen(text));
    *rc = cl_test_run(out, size, "train --train %s/lm.txt --dev-fraction 0.1 -o %s/%s --layers 1 "
                      "--hidden 16 --emb 8 --batch 4 --seq 16 --eval-every 10 %s", dir, dir, name,
                      extra);
    return dir;
}

START_TEST(log_to_stdout)
{
    char out[8192];
    int rc;
    lm_run("log.model", "--steps 20 --log - -q", &rc, out, sizeof out);
    ck_assert_msg(rc == 0, "%s", out);
    ck_assert_msg(strstr(out, "step\tepoch\tchars\twall_seconds\ttrain_loss\tvalid_metric"),
                  "%s", out);
    ck_assert_msg(strstr(out, "\n10\t") && strstr(out, "\n20\t"), "%s", out);
}
END_TEST

/* --progress json: the reports a program reads (Python's charlstm.train),
 * one JSON line each, in place of the progress line. */
START_TEST(progress_as_json_lines)
{
    char out[65536];
    int rc;
    lm_run("json.model", "--steps 20 --progress json -q", &rc, out, sizeof out);
    ck_assert_msg(rc == 0, "%s", out);
    ck_assert_msg(strncmp(out, "{\"step\":1,", 10) == 0, "%s", out);
    ck_assert_msg(strstr(out, "\"last_metric\":null"), "%s", out); /* before the first evaluation */
    ck_assert_msg(strstr(out, "\n{\"step\":10,") && strstr(out, "\n{\"step\":20,"), "%s", out);
    ck_assert_msg(strstr(out, "\"evaluation\":true,\"improved\":true,\"saved\":true}\n"), "%s", out);
    for (const char *l = out, *nl; (nl = strchr(l, '\n')) != NULL; l = nl + 1)
        ck_assert_msg(l[0] == '{' && nl[-1] == '}', "not a report: %s", l); /* nothing else */
}
END_TEST

/* --precision: said at the start (with what oneDNN runs), and the precision
 * in force recorded in the model's history; auto becomes bf16 or fp32. */
START_TEST(precision_is_said_and_recorded)
{
    char out[8192], info[16384];
    int rc;
    const char *dir = lm_run("p32.model", "--steps 3 --precision fp32", &rc, out, sizeof out);
    ck_assert_msg(rc == 0, "%s", out);
    ck_assert_msg(strstr(out, "precision fp32: fp32 products through oneDNN (instruction set "),
                  "%s", out);
    ck_assert_int_eq(cl_test_run(info, sizeof info, "info %s/p32.model", dir), 0);
    ck_assert_msg(strstr(info, "precision        \"fp32\""), "%s", info);
    lm_run("pauto.model", "--steps 3", &rc, out, sizeof out);
    ck_assert_msg(rc == 0, "%s", out);
    int bf = cl_precision_resolve(CL_PREC_AUTO) == CL_PREC_BF16;
    ck_assert_msg(strstr(out, bf ? "precision auto: bf16 (fp32 accumulation) products"
                                 : "precision auto: fp32 products"), "%s", out);
    ck_assert_int_eq(cl_test_run(info, sizeof info, "info %s/pauto.model", dir), 0);
    ck_assert_msg(strstr(info, bf ? "precision        \"bf16\"" : "precision        \"fp32\""),
                  "%s", info);
}
END_TEST

/* tests/train_precision.sh: the precision reaches every task's products. */
START_TEST(every_task_takes_the_precision)
{
    char cmd[2048], out[8192];
    snprintf(cmd, sizeof cmd, "%s/tests/train_precision.sh %s %s/precision %d 2>&1", CL_SRCDIR,
             CL_TOOL, cl_test_tmpdir(), cl_precision_resolve(CL_PREC_AUTO) == CL_PREC_BF16);
    int rc = cl_test_shell(cmd, out, sizeof out);
    ck_assert_msg(rc == 0, "%s", out);
    printf("%s", out);
}
END_TEST

START_TEST(resume_refuses_a_changed_model_or_data)
{
    char out[8192];
    int rc;
    const char *dir = lm_run("chg.model", "--steps 20 -q", &rc, out, sizeof out);
    ck_assert_msg(rc == 0, "%s", out);
    rc = cl_test_run(out, sizeof out, "train --resume %s/chg.model.last -o %s/chg.model "
                     "--hidden 32 --steps 30", dir, dir);
    ck_assert_int_eq(rc, 2);
    ck_assert_msg(strstr(out, "--hidden 32 differs from the run being resumed (--hidden 16)"),
                  "%s", out);
    char path[600];
    snprintf(path, sizeof path, "%s/lm.txt", dir);
    FILE *f = fopen(path, "a");
    ck_assert_ptr_nonnull(f);
    fputs("one more line.\n", f);
    fclose(f);
    rc = cl_test_run(out, sizeof out, "train --resume %s/chg.model.last -o %s/chg.model "
                     "--steps 30", dir, dir);
    ck_assert_int_eq(rc, 2);
    ck_assert_msg(strstr(out, "lm.txt changed since the run being resumed"), "%s", out);
}
END_TEST

START_TEST(divergence_stops_and_keeps_earlier_files)
{
    char out[8192], cmd[2048];
    int rc;
    const char *dir = lm_run("div.model", "--steps 20 -q", &rc, out, sizeof out);
    ck_assert_msg(rc == 0, "%s", out);
    snprintf(cmd, sizeof cmd, "cp %s/div.model %s/keep.model && cp %s/div.model.last "
             "%s/keep.model.last", dir, dir, dir, dir);
    ck_assert_int_eq(cl_test_shell(cmd, out, sizeof out), 0);
    lm_run("div.model", "--steps 40 --lr 1e6 --clip 0 -q", &rc, out, sizeof out);
    ck_assert_msg(rc == 1, "rc %d: %s", rc, out);
    ck_assert_msg(strstr(out, "training diverged") && strstr(out, "Try a lower --lr"), "%s",
                  out);
    snprintf(cmd, sizeof cmd, "cmp %s/div.model %s/keep.model && cmp %s/div.model.last "
             "%s/keep.model.last", dir, dir, dir, dir);
    ck_assert_msg(cl_test_shell(cmd, out, sizeof out) == 0, "%s", out);
    ck_assert_int_eq(cl_test_run(out, sizeof out, "info %s/div.model", dir), 0);
}
END_TEST

/* The valid loss in a model file's history. */
static double history_valid(const char *path)
{
    cl_ckpt *ck;
    double v = NAN;
    ck_assert_int_eq(cl_ckpt_load(&ck, path, NULL), 0);
    const cl_ckpt_section *s = cl_ckpt_find(ck, "history");
    ck_assert_ptr_nonnull(s);
    ck_assert_int_eq(cl_ckpt_get_f64(s, "valid_metric", &v, NULL), 0);
    cl_ckpt_free(ck);
    return v;
}

/* -o holds the best evaluation of all runs, a resume included. */
START_TEST(resume_never_replaces_the_best_with_a_worse_model)
{
    char out[8192], path[600], log[600];
    int rc;
    const char *dir = lm_run("best.model", "--steps 40 --lr 0.05 -q", &rc, out, sizeof out);
    ck_assert_msg(rc == 0, "%s", out);
    snprintf(log, sizeof log, "%s/best.tsv", dir);
    rc = cl_test_run(out, sizeof out, "train --resume %s/best.model.last -o %s/best.model "
                     "--steps 120 --log %s -q", dir, dir, log);
    ck_assert_msg(rc == 0, "%s", out);
    snprintf(path, sizeof path, "%s/best.model", dir);
    double best = history_valid(path);
    FILE *f = fopen(log, "r");
    char line[512];
    double lowest = INFINITY, metric;
    long step;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "%ld %*f %*f %*f %*f %lf", &step, &metric) == 2)
            lowest = fmin(lowest, metric);
    if (f)
        fclose(f);
    ck_assert_msg(best <= lowest + 1e-6, "-o holds %g, a resumed evaluation had %g", best, lowest);
}
END_TEST

START_TEST(classifier_moments_cover_trainable_tensors_only)
{
    char out[8192], dir[512], tsv[600];
    snprintf(dir, sizeof dir, "%s", cl_test_tmpdir());
    snprintf(tsv, sizeof tsv, "%s/m.tsv", dir);
    const char *lines = "pos\tgood film\nneg\tbad film\npos\tgreat fun\nneg\tawful mess\n"
                        "pos\tgood fun\nneg\tbad mess\npos\tgreat film\nneg\tawful film\n";
    cl_test_write(tsv, lines, strlen(lines));
    int rc = cl_test_run(out, sizeof out, "train --task classifier --train %s --dev %s -o "
                         "%s/m.model --hidden 8 --emb 4 --epochs 1 -q", tsv, tsv, dir);
    ck_assert_msg(rc == 0, "%s", out);
    char path[600];
    snprintf(path, sizeof path, "%s/m.model.last", dir);
    cl_model *m;
    cl_ckpt *ck;
    cl_diag d = {{0}};
    ck_assert_msg(cl_model_load(&m, path, &ck, &d) == 0, "%s", d.msg);
    cl_ckpt_tensor_info ti;
    ck_assert_int_eq(cl_ckpt_tensor_find(cl_ckpt_find(ck, "optim"), "m", &ti), 0);
    int ic = cl_params_find(&m->params, "head.classifier.ngram_counts");
    ck_assert_int_ge(ic, 0);
    ck_assert_uint_le((size_t)ti.shape[0], m->params.n_train);
    /* the counts (2^20 per label) are constants, outside the moments' range */
    ck_assert_uint_ge(m->params.t[ic].offset, m->params.n_train);
    cl_ckpt_free(ck);
    cl_model_free(m);
}
END_TEST

Suite *suite_train_core(void)
{
    Suite *s = suite_create("train_core");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, schedule_warmup_step_and_cosine);
    tcase_add_test(tc, frozen_group_stays_trained_group_moves);
    tcase_add_test(tc, nan_loss_stops_before_the_update);
    tcase_add_test(tc, loss_spikes_are_passed_over_and_streaks_stop);
    tcase_add_test(tc, accumulated_gradient_is_the_mean_over_items);
    tcase_add_test(tc, shares_cover_the_batch);
    suite_add_tcase(s, tc);
    TCase *te = tcase_create("cli");
    tcase_set_timeout(te, 600);
    tcase_add_loop_test(te, lm_resumes_exactly, 0, 3);
    tcase_add_loop_test(te, tagger_resumes_exactly, 0, 3);
    tcase_add_loop_test(te, classifier_resumes_exactly, 0, 3);
    tcase_add_test(te, log_to_stdout);
    tcase_add_test(te, progress_as_json_lines);
    tcase_add_test(te, precision_is_said_and_recorded);
    tcase_add_test(te, every_task_takes_the_precision);
    tcase_add_test(te, resume_refuses_a_changed_model_or_data);
    tcase_add_test(te, divergence_stops_and_keeps_earlier_files);
    tcase_add_test(te, resume_never_replaces_the_best_with_a_worse_model);
    tcase_add_test(te, classifier_moments_cover_trainable_tensors_only);
    tcase_add_test(te, mpi_ranks_train_as_one_process);
    suite_add_tcase(s, te);
    return s;
}
