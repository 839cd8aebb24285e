/* train_job: the task-independent half of "charlstm train" (see train_job.h). */
#include "train_job.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

#include "cli_json.h"
#include "cli_progress.h"
#include "cli_signal.h"
#include "cli_util.h"

#define CMD "train"

typedef struct {
    train_job *j;
    cli_progress progress;
    FILE *log;
    char last[4096];
} job_run;

void train_job_describe(const train_opts *o, const char *fmt, ...)
{
    if (o->quiet)
        return;
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "charlstm " CMD ": ");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

/* ==== configuration and files ============================================== */

cl_train_config train_job_config(const train_opts *o)
{
    cl_train_config c = cl_train_defaults();
    c.lr = (float)o->lr, c.clip = (float)o->clip, c.lr_decay = (float)o->lr_decay;
    c.schedule = o->schedule == SCHEDULE_COSINE ? CL_SCHED_COSINE : CL_SCHED_STEP;
    c.decay_every = o->decay_every, c.warmup = o->warmup, c.ema = (float)o->ema;
    c.max_steps = o->steps, c.max_epochs = o->epochs, c.max_seconds = o->minutes * 60;
    c.eval_every = o->eval_every, c.patience = o->patience, c.seed = (uint64_t)o->seed;
    c.accumulate = o->accumulate, c.dist = o->dist, c.shares = o->deterministic;
    c.bucket = o->bucket_mb > 0 ? (long)(o->bucket_mb * (1 << 20) / sizeof(float)) : -1;
    c.bucket += !c.bucket; /* a tiny size is one float, not the default */
    c.precision = (cl_precision)o->precision;
    return c;
}

cl_train_shares train_job_shares(const train_opts *o)
{
    int k = o->deterministic ? o->deterministic / o->dist->size : 1;
    k = k > 0 ? k : 1; /* not a multiple: the trainer says so */
    return (cl_train_shares){o->dist->rank * k, o->dist->size * k, k};
}

/* The options of the run, in MODEL.last: a resume needs none of them. */
static int put_options(cl_ckpt_writer *w, void *ctx)
{
    const train_opts *o = ctx;
    int err = cl_ckpt_section_begin(w, "options");
    err = err ? err : cl_ckpt_put_strs(w, "args", (const char *const *)o->args, o->nargs);
    return err ? err : cl_ckpt_section_end(w);
}

static int open_log(job_run *r)
{
    const train_opts *o = r->j->o;
    if (!o->log || o->dist->rank != 0) /* rank 0 writes for all */
        return 0;
    int to_stdout = strcmp(o->log, "-") == 0;
    r->log = to_stdout ? stdout : fopen(o->log, o->resume ? "a" : "w");
    if (!r->log)
        return cli_error(CMD, "%s: cannot open the log file", o->log);
    if (!o->resume || to_stdout)
        fprintf(r->log, "step\tepoch\t%s\twall_seconds\ttrain_loss\tvalid_metric\tvalid_loss\n",
                r->j->unit);
    return 0;
}

static int close_log(job_run *r, int rc)
{
    if (!r->log)
        return rc;
    int bad = r->log == stdout ? fflush(stdout) != 0 : fclose(r->log) != 0;
    return bad && !rc ? cli_error(CMD, "%s: cannot write the log file", r->j->o->log) : rc;
}

/* ==== hooks ================================================================ */

/* --progress json: the report as one line for the program reading stderr
 * (rank 0 speaks for all). */
static int json_progress(const job_run *r, const cl_train_stats *s, int evaluation)
{
    const train_opts *o = r->j->o;
    if (o->progress != PROGRESS_JSON)
        return 0;
    if (o->dist->rank == 0)
        cli_json_print(stderr, cli_json_train_stats(s, evaluation));
    return 1;
}

static void hook_progress(const cl_train_stats *s, void *ctx)
{
    job_run *r = ctx;
    if (json_progress(r, s, 0) || r->j->o->quiet)
        return;
    r->progress.total = s->max_steps;
    cli_progress_update(&r->progress, s->step, s->items, s->train_loss);
}

static void note_evaluation(job_run *r, const cl_train_stats *s)
{
    const train_job *j = r->j;
    char metric[64] = "";
    if (!isnan(s->last.metric) && j->metric_percent)
        snprintf(metric, sizeof metric, "  %s %.2f%%", j->metric, 100 * s->last.metric);
    else if (!isnan(s->last.metric))
        snprintf(metric, sizeof metric, "  %s %.4f", j->metric, s->last.metric);
    cli_progress_set_val(&r->progress, s->last.metric);
    cli_progress_note(&r->progress, "step %ld  epoch %.2f  train %.4f%s%s", s->step, s->epochs,
                      s->train_loss, metric,
                      s->saved && !isnan(s->last.metric) ? "  (best, saved)" : "");
}

static int hook_evaluated(const cl_train_stats *s, void *ctx)
{
    job_run *r = ctx;
    if (r->log) {
        fprintf(r->log, "%ld\t%.4f\t%.0f\t%.1f\t%.4f\t%.6g\t%.6g\n", s->step, s->epochs, s->items,
                s->elapsed, s->train_loss, s->last.metric, s->last.loss);
        fflush(r->log);
    }
    if (!json_progress(r, s, 1) && !r->j->o->quiet)
        note_evaluation(r, s);
    return 0;
}

static int hook_stop(void *ctx)
{
    (void)ctx;
    return cli_signal_stop_requested();
}

/* ==== the end ============================================================== */

static void summary(const job_run *r, const cl_train_stats *s)
{
    const train_job *j = r->j;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    if (j->o->quiet)
        return;
    if (!isnan(s->best.metric))
        fprintf(stderr, "charlstm " CMD ": best %s %.4g%s at step %ld%s; saved %s\n", j->metric,
                j->metric_percent ? 100 * s->best.metric : s->best.metric,
                j->metric_percent ? "%" : "", s->best_step,
                s->stopped_early ? " (stopped early: no better evaluation in --patience)" : "",
                j->o->output);
    /* one line for scripts and benchmarks */
    fprintf(stderr, "train %s/s: %.0f (%ld steps, %.1f s in training steps); peak memory %.0f MB\n",
            j->unit, s->items_per_sec, s->run_steps, s->run_train_seconds, ru.ru_maxrss / 1024.0);
    if (s->skipped > 0)
        fprintf(stderr, "charlstm " CMD ": %ld step(s) passed over: a batch's loss was more than "
                "%g times that of a uniform guess\n", s->skipped, CL_TRAIN_DIVERGED);
    if (j->o->dist->size > 1 && s->run_train_seconds > 0)
        fprintf(stderr, "waiting for the gradient sums over %d processes: %.1f s, %.1f %% of the "
                "training steps\n", j->o->dist->size, s->run_comm_seconds,
                100 * s->run_comm_seconds / s->run_train_seconds);
}

static int finish(const job_run *r, int err, const cl_diag *d, const cl_train_stats *s)
{
    const train_opts *o = r->j->o;
    if (err == CL_OK) {
        summary(r, s);
        return 0;
    }
    if (err == CL_EINTR) {
        char launch[64] = "";
        if (o->dist->size > 1) /* a resume needs as many processes */
            snprintf(launch, sizeof launch, "mpirun -np %d ", o->dist->size);
        if (o->dist->rank == 0)
            fprintf(stderr, "charlstm " CMD ": interrupted at step %ld; saved %s and %s\n"
                            "resume with: %scharlstm train --resume %s -o %s\n",
                    s->step, o->output, r->last, launch, r->last, o->output);
        return CLI_EXIT_INTERRUPTED;
    }
    cli_fail(CMD, err, d, "training stopped");
    if (err == CL_ENONFINITE)
        fprintf(stderr, "charlstm " CMD ": training diverged; %s and %s hold the last good state "
                        "(if any was saved).  Try a lower --lr (now %g) or a smaller --clip "
                        "(now %g).\n", o->output, r->last, o->lr, o->clip);
    return CLI_EXIT_FAIL;
}

/* ==== the run ============================================================== */

/* Which products the trainer chose: the precision in force and what oneDNN
 * runs them with. */
static void describe_precision(const train_opts *o, const cl_trainer *t)
{
    cl_precision p = cl_trainer_config(t)->precision;
    char impl[64];
    if (o->quiet) /* no need to ask oneDNN */
        return;
    cl_mm_impl(p, impl, sizeof impl);
    train_job_describe(o, "precision %s: %s products through oneDNN (instruction set %s, "
                       "matmul %s)", cl_precision_name((cl_precision)o->precision),
                       p == CL_PREC_BF16 ? "bf16 (fp32 accumulation)" : "fp32", cl_mm_isa(), impl);
}

static int run_trainer(job_run *r)
{
    train_job *j = r->j;
    cl_train_config c = train_job_config(j->o);
    cl_train_files f = {j->o->output, r->last, put_options, (void *)j->o};
    cl_trainer *t = NULL;
    cl_diag d = {{0}};
    int err = cl_trainer_create(&t, j->m, &c, j->groups, j->ngroups, &j->task, &f, &d);
    if (!err && j->resume)
        err = cl_trainer_resume(t, j->resume, &d);
    if (err) {
        cl_trainer_free(t);
        return cli_fail(CMD, err, &d, "cannot start training");
    }
    describe_precision(j->o, t);
    cli_progress_init(&r->progress, stderr, 0, j->unit);
    r->progress.time_limit = c.max_seconds;
    r->progress.val_label = j->metric, r->progress.val_percent = j->metric_percent;
    cl_train_hooks h = {r, hook_progress, hook_evaluated, hook_stop};
    err = cl_trainer_run(t, &h, &d);
    if (!j->o->quiet && j->o->progress == PROGRESS_LINE)
        cli_progress_finish(&r->progress);
    int rc = finish(r, err, &d, cl_trainer_stats(t));
    cl_trainer_free(t);
    return rc;
}

int train_job_run(train_job *j)
{
    job_run r = {.j = j};
    snprintf(r.last, sizeof r.last, "%s.last", j->o->output);
    int rc = open_log(&r);
    rc = rc ? rc : run_trainer(&r);
    return close_log(&r, rc);
}

cl_text_opts train_job_text(const train_opts *o)
{
    cl_text_opts t = cl_text_defaults();
    t.nfc = !o->no_nfc, t.casefold = o->casefold, t.replace_invalid = o->replace_invalid;
    return t;
}
