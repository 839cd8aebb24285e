/* cl_train: the one training loop of every task.
 *
 * The language model, the tagger and the classifier are adapters of this
 * core (cl_lmtrain, cl_tagger_train, cl_clftrain): a task supplies only what
 * is truly its own, through cl_train_task: the order of an epoch's batches,
 * one step's forward and backward (gradients accumulated into the model's
 * buffer) returning the loss, and an evaluation on held-out data.  The core
 * owns everything that must hold for every task, written once:
 *
 *   - parameter groups (a range of the trainable buffer, a learning rate,
 *     frozen or not): zeroing, clipping (the global norm over the trained
 *     groups), the Adam step and its moments cover trained groups only, so a
 *     frozen encoder or a head's constants cost no optimizer memory;
 *   - the learning-rate schedule (step decay, linear warm-up, cosine);
 *   - stop limits (steps, epochs, wall time with the final evaluation inside
 *     the budget), the evaluation cadence, patience and early stopping, the
 *     best-weights snapshot and an optional moving average of the weights;
 *   - the files: -o (best) and MODEL.last (latest, with everything --resume
 *     needs), written in the order that keeps a kill at any moment safe;
 *   - exact resume: MODEL.last holds the optimizer moments, both random
 *     states, the data position (the data generator's state at the start of
 *     the epoch, and the step within it), the best score and whether it was
 *     saved, the schedule and the limits; a resumed run ends with the same
 *     files, byte for byte, as an uninterrupted one (same thread count);
 *   - divergence safety: a non-finite loss, gradient norm or evaluation, or
 *     a loss far beyond a uniform guess CL_TRAIN_SPIKES steps in a row,
 *     stops training with CL_ENONFINITE before anything more is updated or
 *     saved; a lone step beyond it is passed over (stats.skipped);
 *   - gradient accumulation (several batches per optimizer step) and
 *     data-parallel training over a communicator (cl_dist): each of N ranks
 *     runs this loop on the same model, its task computes its share of every
 *     batch (the adapters' part/parts), the gradients are summed weighted by
 *     each share's item count, so that the step is that of one process with
 *     the whole batch.  Rank 0 alone evaluates and writes the files; .last
 *     holds every rank's random state and task state, and a resume needs
 *     the same number of ranks.  On several ranks the sums run in buckets
 *     that start while the backward pass goes on; with `shares` they run
 *     in a fixed order instead, for weights that are bit for bit those of
 *     one process (docs/scale-out.md).
 *
 * Model files hold no wall-clock times (they would make a resumed run's
 * files differ); the time spent is reported through the statistics. */
#ifndef CL_TRAIN_H
#define CL_TRAIN_H

#include "cl_dist.h"
#include "cl_model.h"
#include "cl_optim.h"
#include "cl_api.h"

CL_API_BEGIN

/* ==== configuration ====================================================== */

typedef enum { CL_SCHED_STEP = 0, CL_SCHED_COSINE = 1 } cl_sched_kind;

typedef struct {
    float lr;               /* base learning rate (groups may scale it) */
    float clip;             /* bound on the global gradient norm, 0 = off */
    cl_sched_kind schedule;
    float lr_decay;         /* step schedule: multiply by lr_decay ... */
    long decay_every;       /* ... every N steps from decay_start (0 = every epoch) */
    long decay_start;
    long warmup;            /* linear warm-up over the first N steps (0 = none) */
    float ema;              /* evaluate and save a moving average of the weights (0 = off) */
    long max_steps;         /* limits, 0 = none; the first one reached stops training */
    double max_epochs;
    double max_seconds;     /* this run's wall time, the final evaluation included */
    long eval_every;        /* steps between evaluations, 0 = at the end of every epoch */
    int patience;           /* evaluations without improvement before stopping, 0 = never */
    uint64_t seed;          /* dropout and data order */
    int accumulate;         /* batches per optimizer step (0 or 1: one) */
    const cl_dist *dist;    /* the ranks training together (borrowed; NULL: this process alone) */
    /* Deterministic (0 = off): every batch is computed as `shares` parts,
     * each with its own dropout, and their gradients are summed in part
     * order (cl_dist sum_ordered_f32), so that any number of ranks that
     * divides `shares` (one process included) trains the same weights, bit
     * for bit.  A rank computes shares / ranks parts, one after the other
     * (the task's select), and the reduction waits for the whole pass. */
    int shares;
    /* Without shares, on several ranks: floats per bucket of the gradient
     * sum, each bucket started as soon as the backward pass has made it
     * final (cl_params' hook), so that the sums overlap the rest of the
     * pass.  0: CL_TRAIN_BUCKET; < 0: one sum after the pass. */
    long bucket;
    /* The task's matrix products (cl_mm.h): CL_PREC_AUTO (0, the default:
     * bf16 where the CPU has AMX or AVX512-BF16, else fp32), CL_PREC_FP32 or
     * CL_PREC_BF16.  Resolved once and given to the task's set_precision;
     * the resolved one is in every saved model's history. */
    cl_precision precision;
} cl_train_config;

#define CL_TRAIN_BUCKET (1L << 18) /* 1 MB of floats */

/* lr 2e-3, clip 5, no decay, no limit, evaluation every epoch, seed 1,
 * precision auto. */
cl_train_config cl_train_defaults(void);

/* A part of the trainable buffer [begin, end) with its own learning rate
 * (lr > 0), or frozen (never zeroed, clipped or updated). */
typedef struct {
    size_t begin, end;
    float lr;
    int frozen;
} cl_train_group;

/* The group of the trainable tensors whose names start with prefix. */
cl_train_group cl_train_group_of(const cl_model *m, const char *prefix, float lr, int frozen);

/* ==== the task =========================================================== */

/* What an evaluation reports.  metric selects the best model (lower is
 * better unless higher_better); loss breaks ties (lower wins; NAN: none). */
typedef struct {
    double metric, loss;
    int higher_better;
} cl_train_score;

typedef struct {
    void *ctx;
    const char *name;   /* "lm", "tagger", "classifier": the history section */
    /* Once, after any resume and before the first step (precomputed
     * features, counts).  resumed != 0: the model's constants are those of
     * the interrupted run and must be kept.  May be NULL. */
    int (*prepare)(void *ctx, int resumed, cl_diag *d);
    /* Plan epoch `epoch` (0-based) with data_rng, the only source of its
     * randomness; returns the number of steps in it (>= 1) or an error. */
    long (*begin_epoch)(void *ctx, long epoch, cl_rng *data_rng, cl_diag *d);
    /* Step i of the current epoch: forward and backward of its batch with
     * gradients accumulated into the model's g (zeroed by the core), dropout
     * from rng.  *loss: summed loss, *count: items it is summed over (chars,
     * words, sentences); count 0 means nothing to learn from.  The
     * gradient is that of the mean loss (loss / count): accumulation and
     * the ranks weigh each batch's gradient by its count.  A task that
     * tells the model's gradient hook (cl_params.h: its count after the
     * forward pass, its final gradients during backward) lets the sums over
     * the ranks overlap its backward pass; one that does not is summed
     * after it. */
    int (*step)(void *ctx, long i, cl_rng *rng, double *loss, double *count, cl_diag *d);
    /* Score the current weights on held-out data.  NULL: no held-out data
     * (every evaluation then counts as the best). */
    int (*evaluate)(void *ctx, cl_train_score *s, cl_diag *d);
    /* The task's own resumable state (the LM's carried recurrent state) as
     * one float buffer of *n values that the core saves (every rank's, in
     * the "task" section) and restores in place; NULL: none. */
    float *(*state)(void *ctx, size_t *n);
    /* Loss per item of a uniform guess (ln of the number of outcomes), or 0.
     * A step whose mean loss exceeds CL_TRAIN_DIVERGED times it is a
     * spike; CL_TRAIN_SPIKES in a row have diverged (finite but exploding,
     * as with a far too high lr). */
    double chance;
    /* With config.shares, when a process computes k > 1 parts of each
     * batch (shares / ranks): the next step computes its part i (0 <= i
     * < k), each part with its own state.  NULL: the task holds one part. */
    int (*select)(void *ctx, int i);
    /* Once, from cl_trainer_create (before prepare): run the task's
     * products, training and evaluation, in precision p (CL_PREC_FP32 or
     * CL_PREC_BF16, already resolved).  0, CL_EINVAL (bf16 on a CPU
     * without it) or CL_ENOMEM.  NULL: the task has one way to multiply. */
    int (*set_precision)(void *ctx, cl_precision p);
} cl_train_task;

#define CL_TRAIN_DIVERGED 3.0
/* A step beyond it is passed over (its batch not applied, the step
 * counted); this many in a row stop training with CL_ENONFINITE. */
#define CL_TRAIN_SPIKES 4

/* ==== progress and files ================================================= */

typedef struct {
    long step;              /* optimizer steps taken, earlier runs included */
    long epoch;             /* 0-based epoch of the last step */
    long epoch_step, epoch_steps; /* position within it */
    double epochs;          /* fractional epochs done */
    long max_steps;         /* the step limit, or the one the epoch limit implies (0: none) */
    double items;           /* items trained on, earlier runs included */
    double train_loss;      /* mean loss per item since the last evaluation */
    cl_train_score last;    /* last evaluation (metric NAN before the first) */
    cl_train_score best;    /* best evaluation (metric NAN before the first) */
    long best_step;
    int improved;           /* on evaluation: this is the best so far */
    int saved;              /* on evaluation: the best model was written */
    int stale;              /* evaluations since the last improvement */
    int stopped_early;      /* patience ran out */
    float lr;               /* base learning rate of the last step */
    double elapsed;         /* wall seconds of this run */
    double run_train_seconds; /* inside steps, this run */
    double run_comm_seconds;  /* of which waiting for the gradient sums over the ranks */
    long run_steps;
    double items_per_sec;   /* this run's training throughput */
    double eta;             /* seconds to the nearest limit, NAN if none */
    long skipped;           /* this run's steps passed over as loss spikes */
} cl_train_stats;

typedef struct {
    void *ctx;
    /* About 4 times a second, and once at the end. */
    void (*progress)(const cl_train_stats *s, void *ctx);
    /* After each evaluation and its saves; non-zero stops with CL_EINTR. */
    int (*evaluated)(const cl_train_stats *s, void *ctx);
    /* Polled before every step: non-zero stops cleanly (Ctrl-C): the latest
     * state is saved to `last` and run returns CL_EINTR. */
    int (*stop)(void *ctx);
} cl_train_hooks;

/* Where the run writes (either may be NULL: not written).  best: the model
 * with the best evaluation (the latest when there is no held-out data);
 * last: the latest model with the training state, plus the sections of
 * extra(w, extra_ctx) (the tool's options, for a resume with none). */
typedef struct {
    const char *best, *last;
    cl_model_extra_fn extra;
    void *extra_ctx;
} cl_train_files;

/* ==== the trainer ======================================================== */

typedef struct cl_trainer cl_trainer;

/* Rows [*begin, *end) of n that share `part` of `parts` computes (parts
 * as even as they can be; a share may be empty). */
void cl_train_share(int n, int part, int parts, int *begin, int *end);

/* The shares of every batch a task computes in this process (data-parallel
 * training): share `part` of `parts` (the batch must divide into them); in
 * deterministic training (cl_train_config.shares) the `local` shares part ..
 * part + local - 1, one after the other, chosen by the task's select. */
typedef struct {
    int part, parts, local;
} cl_train_shares;

/* {0, 1, 1}: the whole batch. */
cl_train_shares cl_train_shares_all(void);
/* CL_OK, or CL_EINVAL with a message when `batch` does not divide into
 * s->parts equal shares or the local ones (at least 1) are out of range. */
int cl_train_shares_check(const cl_train_shares *s, int batch, cl_diag *d);

/* A trainer of model m (caller-owned; must outlive the trainer) with groups
 * [0, ngroups) copied, the task's ctx borrowed.  Allocates the moments (of
 * the trained groups only) and every buffer of the run. */
int cl_trainer_create(cl_trainer **t, cl_model *m, const cl_train_config *c,
                      const cl_train_group *groups, int ngroups, const cl_train_task *task,
                      const cl_train_files *files, cl_diag *d);
void cl_trainer_free(cl_trainer *t);

/* Restore the state of an interrupted run from its MODEL.last (loaded with
 * cl_model_load(..., &ck, ...)): moments, position, random states, best
 * score, moving average, the task's state; every value is range-checked.
 * The configuration stays the caller's: to continue exactly, pass the one
 * the run started with (charlstm keeps its options in MODEL.last).
 * CL_ENOTFOUND: the file holds no training state; CL_EMISMATCH: the task or
 * the parameters trained differ (the message says how). */
int cl_trainer_resume(cl_trainer *t, const cl_ckpt *ck, cl_diag *d);

/* Train until a limit, early stopping or stop().  CL_OK at a limit or early
 * stop, CL_EINTR when asked to stop, CL_ENONFINITE (d names the step) when
 * the loss or gradients became non-finite: nothing was updated or saved
 * after the last good state.  The model then holds the best weights this
 * run evaluated (those of files.best), or the latest ones when this run saw
 * no better evaluation than an earlier run had (resume).  Stopped before any
 * evaluation, files.best gets the latest weights. */
int cl_trainer_run(cl_trainer *t, const cl_train_hooks *h, cl_diag *d);

const cl_train_stats *cl_trainer_stats(const cl_trainer *t);
/* The configuration in force (the stored one after a resume). */
const cl_train_config *cl_trainer_config(const cl_trainer *t);

/* Learning-rate factor of the schedule at `step` of epoch `epoch` with
 * total_steps planned (0: unknown), in (0, 1]; exposed for tests. */
double cl_train_lr_factor(const cl_train_config *c, long step, long epoch, long total_steps);

CL_API_END
#endif
