/* train_cv: "charlstm train --task classifier --cv K": K-fold
 * cross-validation of the classifier recipe the other options describe.
 *
 * The training sentences (every --train file) are dealt into K folds,
 * stratified by label, with --cv-seed (cl_clfdata_folds).  Fold f is scored
 * by a model trained on the other K-1 folds, and nothing about that model
 * is chosen on fold f: its epochs and early stopping are decided on a
 * stratified --dev-fraction of its own training part (default 0.1), held
 * out of what it trains on.  Each fold starts from the same state a single
 * run would (a fresh model with --seed, or --init's encoder), so the mean
 * over the folds estimates what the recipe scores on new sentences. */
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli_json.h"
#include "cli_progress.h"
#include "cli_signal.h"
#include "cli_util.h"
#include "train_classifier.h"
#include "train_job.h"

#define CMD "train"

typedef struct {
    int n;               /* test sentences */
    double acc, f1;      /* on them */
    double best_epoch;   /* epochs trained when inner dev was best */
    double seconds;      /* the fold's wall time */
} cv_fold;

typedef struct {
    clf_run *r;
    int fold, K;
    cli_progress progress;
} cv_watch;

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ==== progress: fold and epoch ============================================= */

static void cv_progress(const cl_train_stats *s, void *ctx)
{
    cv_watch *w = ctx;
    if (w->r->o->quiet)
        return;
    w->progress.total = s->max_steps;
    cli_progress_update(&w->progress, s->step, s->items, s->train_loss);
}

static int cv_evaluated(const cl_train_stats *s, void *ctx)
{
    cv_watch *w = ctx;
    if (w->r->o->quiet)
        return 0;
    cli_progress_set_val(&w->progress, s->last.metric);
    cli_progress_note(&w->progress, "fold %d/%d  epoch %ld  train %.4f  inner dev %.2f%%%s",
                      w->fold + 1, w->K, s->epoch + 1, s->train_loss, 100 * s->last.metric,
                      s->improved ? "  (best)" : "");
    return 0;
}

static int cv_stop(void *ctx)
{
    (void)ctx;
    return cli_signal_stop_requested();
}

/* ==== one fold ============================================================= */

/* r->train and r->dev from the fold's training part: the inner dev set is
 * one of round(1 / dev_fraction) stratified folds of it. */
static int inner_split(clf_run *r, cl_clfdata *part, int f)
{
    int K = (int)lround(1 / r->o->dev_fraction);
    K = K < 2 ? 2 : K > part->n ? part->n : K;
    int *fold = malloc(sizeof *fold * (size_t)(part->n ? part->n : 1));
    uint64_t seed = (uint64_t)r->o->cv_seed * 1000003u + (uint64_t)f + 1;
    int err = fold ? cl_clfdata_folds(part, K, seed, fold) : CL_ENOMEM;
    err = err ? err : cl_clfdata_select(part, fold, 0, &r->dev, &r->train);
    free(fold);
    return err ? cli_fail(CMD, err, NULL, "cannot hold out the inner dev set of fold %d", f + 1)
               : 0;
}

/* Train on r->train, stopping early on r->dev; the model then holds the
 * best weights on r->dev. */
static int fold_train(clf_run *r, cv_watch *w, cv_fold *out)
{
    const train_opts *o = r->o;
    if (clf_start(r))
        return CLI_EXIT_FAIL;
    cl_train_group g[4];
    int ng = cl_clftrain_groups(r->t, (float)o->lr, (float)o->encoder_lr, g);
    cl_train_config c = train_job_config(o);
    cl_train_task task = cl_clftrain_task(r->t);
    cl_train_files files = {NULL, NULL, NULL, NULL};
    cl_trainer *t = NULL;
    cl_diag d = {{0}};
    int err = cl_trainer_create(&t, r->m, &c, g, ng, &task, &files, &d);
    if (!err) {
        cli_progress_init(&w->progress, stderr, 0, "sentences");
        w->progress.val_label = "inner dev", w->progress.val_percent = 1;
        cl_train_hooks h = {w, cv_progress, cv_evaluated, cv_stop};
        err = cl_trainer_run(t, &h, &d);
        if (!o->quiet)
            cli_progress_finish(&w->progress);
        const cl_train_stats *s = cl_trainer_stats(t);
        out->best_epoch = s->epoch_steps > 0 ? (double)s->best_step / s->epoch_steps : NAN;
    }
    cl_trainer_free(t);
    if (err == CL_EINTR)
        return CLI_EXIT_INTERRUPTED;
    return err ? cli_fail(CMD, err, &d, "fold %d", w->fold + 1) : 0;
}

/* Accuracy and macro-F1 of r->m on the fold's test part (encoded). */
static int fold_score(clf_run *r, const cl_clfdata *test, cv_fold *out)
{
    cl_classifier *c = NULL;
    cl_clfeval_metrics m = {0};
    const cl_classifier_config *hc = cl_model_head(r->m, "head.classifier");
    int *order = cl_clfeval_length_order(test);
    cl_diag d = {{0}};
    int err = order ? cl_classifier_create(&c, r->m, test->max_len, r->o->batch) : CL_ENOMEM;
    err = err ? err : cl_clfeval_metrics_init(&m, hc->nlabels);
    err = err ? err : cl_clfeval_run(c, test, order, &m, &d);
    if (!err)
        out->n = test->n, out->acc = cl_clfeval_accuracy(&m), out->f1 = cl_clfeval_macro_f1(&m);
    cl_clfeval_metrics_free(&m);
    cl_classifier_free(c);
    free(order);
    return err ? cli_fail(CMD, err, &d, "scoring a fold") : 0;
}

static void fold_clear(clf_run *r)
{
    cl_clftrain_free(r->t);
    cl_model_free(r->m);
    cl_clfdata_free(&r->train);
    cl_clfdata_free(&r->dev);
    r->t = NULL, r->m = NULL;
}

static int run_fold(clf_run *r, const cl_clfdata *all, const int *fold, int f, cv_fold *out)
{
    cv_watch w = {.r = r, .fold = f, .K = r->o->cv};
    cl_clfdata test, part;
    cl_rng rng;
    cl_rng_seed(&rng, (uint64_t)r->o->seed);
    double t0 = now_seconds();
    int err = cl_clfdata_select(all, fold, f, &test, &part);
    int rc = err ? cli_fail(CMD, err, NULL, "cannot make fold %d", f + 1) : 0;
    rc = rc ? rc : inner_split(r, &part, f);
    rc = rc ? rc : clf_build(r, &rng);
    if (!rc && (err = cl_clfdata_encode(&test, r->m, NULL)) != CL_OK)
        rc = cli_fail(CMD, err, NULL, "cannot prepare fold %d", f + 1);
    if (!rc && !r->o->quiet)
        fprintf(stderr, "charlstm " CMD ": fold %d/%d: training on %d, inner dev %d, test %d "
                "sentences\n", f + 1, r->o->cv, r->train.n, r->dev.n, test.n);
    rc = rc ? rc : fold_train(r, &w, out);
    rc = rc ? rc : fold_score(r, &test, out);
    out->seconds = now_seconds() - t0;
    if (!rc && !r->o->quiet)
        fprintf(stderr, "charlstm " CMD ": fold %d/%d: test accuracy %.2f%%, macro-F1 %.2f%% "
                "(best inner dev after %.1f epochs; %.0f s)\n", f + 1, r->o->cv, 100 * out->acc,
                100 * out->f1, out->best_epoch, out->seconds);
    fold_clear(r);
    cl_clfdata_free(&test);
    cl_clfdata_free(&part);
    return rc;
}

/* ==== the report =========================================================== */

/* Mean and sample standard deviation of x[i].field over the folds. */
static void mean_sd(const cv_fold *x, int K, size_t at, double *mean, double *sd)
{
    double s = 0, q = 0;
    for (int i = 0; i < K; i++)
        s += *(const double *)((const char *)&x[i] + at);
    *mean = s / K;
    for (int i = 0; i < K; i++) {
        double v = *(const double *)((const char *)&x[i] + at) - *mean;
        q += v * v;
    }
    *sd = K > 1 ? sqrt(q / (K - 1)) : 0;
}

static void report_text(const train_opts *o, const cv_fold *x, int K, int n)
{
    double am, asd, fm, fsd;
    mean_sd(x, K, offsetof(cv_fold, acc), &am, &asd);
    mean_sd(x, K, offsetof(cv_fold, f1), &fm, &fsd);
    printf("%d-fold cross-validation over %d sentences (--cv-seed %ld, --seed %ld)\n", K, n,
           o->cv_seed, o->seed);
    printf("fold\ttest\taccuracy\tmacro-F1\tbest epoch\tseconds\n");
    for (int i = 0; i < K; i++)
        printf("%d\t%d\t%.2f\t%.2f\t%.1f\t%.0f\n", i + 1, x[i].n, 100 * x[i].acc, 100 * x[i].f1,
               x[i].best_epoch, x[i].seconds);
    printf("accuracy\t%.2f +- %.2f %%\n", 100 * am, 100 * asd);
    printf("macro-F1\t%.2f +- %.2f %%\n", 100 * fm, 100 * fsd);
}

static cJSON *summary_json(const cv_fold *x, int K, size_t at)
{
    double m, sd;
    mean_sd(x, K, at, &m, &sd);
    cJSON *j = cJSON_CreateObject();
    cli_json_add_number(j, "mean", m);
    cli_json_add_number(j, "sd", sd);
    return j;
}

static int report_json(const train_opts *o, const cv_fold *x, int K, int n)
{
    cJSON *j = cJSON_CreateObject(), *folds = cJSON_AddArrayToObject(j, "folds");
    cJSON_AddNumberToObject(j, "k", K);
    cJSON_AddNumberToObject(j, "sentences", n);
    cJSON_AddNumberToObject(j, "cv_seed", (double)o->cv_seed);
    cJSON_AddNumberToObject(j, "seed", (double)o->seed);
    for (int i = 0; i < K && folds; i++) {
        cJSON *f = cJSON_CreateObject();
        cJSON_AddNumberToObject(f, "fold", i + 1);
        cJSON_AddNumberToObject(f, "sentences", x[i].n);
        cli_json_add_number(f, "accuracy", x[i].acc);
        cli_json_add_number(f, "macro_f1", x[i].f1);
        cli_json_add_number(f, "best_epoch", x[i].best_epoch);
        cli_json_add_number(f, "seconds", x[i].seconds);
        cJSON_AddItemToArray(folds, f);
    }
    cJSON_AddItemToObject(j, "accuracy", summary_json(x, K, offsetof(cv_fold, acc)));
    cJSON_AddItemToObject(j, "macro_f1", summary_json(x, K, offsetof(cv_fold, f1)));
    return cli_json_print(stdout, j) ? cli_error(CMD, "cannot write the report") : 0;
}

/* ==== the run ============================================================== */

int train_classifier_cv(clf_run *r)
{
    const train_opts *o = r->o;
    cl_clfdata all = r->train;
    int K = o->cv, rc = 0;
    memset(&r->train, 0, sizeof r->train);
    cl_model_free(r->m); /* --init: every fold loads its own */
    r->m = NULL;
    int *fold = malloc(sizeof *fold * (size_t)all.n);
    cv_fold *x = calloc((size_t)K, sizeof *x);
    if (K > all.n)
        rc = cli_error(CMD, "--cv %d: only %d training sentences", K, all.n);
    else if (!fold || !x || cl_clfdata_folds(&all, K, (uint64_t)o->cv_seed, fold))
        rc = cli_fail(CMD, CL_ENOMEM, NULL, "cannot make the folds");
    for (int f = 0; f < K && !rc; f++)
        rc = run_fold(r, &all, fold, f, &x[f]);
    if (!rc)
        rc = o->cv_output == CV_OUTPUT_JSON ? report_json(o, x, K, all.n)
                                            : (report_text(o, x, K, all.n), 0);
    if (!rc && fflush(stdout))
        rc = cli_error(CMD, "cannot write the report");
    free(fold), free(x);
    cl_clfdata_free(&all);
    return rc;
}
