/* cl_lmtrain: training a character language model with truncated BPTT.
 *
 * Data is laid out as in char-rnn and the PyTorch reference
 * (bench/torch_charlm.py): the training ids are cut into `batch` contiguous
 * streams; step k reads the next `seq` characters of every stream, carrying
 * the recurrent state over from step k-1 and resetting it at each epoch.  The
 * whole training state (weights, Adam moments, random state, carried
 * recurrent state, step) goes into the model file, so an interrupted run
 * resumes and ends with the same weights, bit for bit, as an uninterrupted
 * one with the same seed and thread count. */
#ifndef CL_LMTRAIN_H
#define CL_LMTRAIN_H

#include "cl_ids.h"
#include "cl_lm.h"
#include "cl_optim.h"

typedef struct {
    int batch, seq;      /* streams per step, BPTT length */
    float lr, clip;      /* Adam learning rate, global gradient-norm bound (0 = off) */
    float lr_decay;      /* multiply lr by this ... */
    long decay_every;    /* ... every N steps after decay_start (0 = never) */
    long decay_start;
    long max_steps;      /* 0 = no limit */
    double max_seconds;  /* wall time, evaluation included; 0 = no limit */
    double max_epochs;   /* 0 = no limit */
    long eval_every;     /* evaluate on the dev ids every N steps (0 = only at the end) */
    int eval_streams;    /* parallel streams for evaluation (64 as the reference) */
    uint64_t seed;
    int threads;         /* recurrence and OpenBLAS threads (cl_rnn_set_threads) */
} cl_lmtrain_config;

cl_lmtrain_config cl_lmtrain_defaults(void);

/* What the caller sees during training. */
typedef struct {
    long step, steps_per_epoch, max_steps;
    double epoch;
    double train_loss;    /* mean over the steps since the last report */
    double valid_loss;    /* last evaluation, NAN before the first */
    double best_valid;    /* NAN before the first */
    double train_seconds; /* inside training steps, this run and earlier ones */
    double elapsed;       /* wall seconds of this run */
    double chars_per_sec; /* training throughput of this run */
    double run_train_seconds; /* inside training steps, this run */
    long run_steps;       /* steps taken in this run */
    double eta;           /* seconds to the nearest limit, NAN if none */
    int improved;         /* on evaluation: this model is the best so far */
} cl_lmtrain_stats;

typedef struct {
    void *ctx;
    /* About 4 times a second and after every step when stderr is slow:
     * the caller decides what to show. */
    void (*progress)(const cl_lmtrain_stats *s, void *ctx);
    /* After each evaluation; return non-zero to stop with an error. */
    int (*evaluated)(const cl_lmtrain_stats *s, void *ctx);
    /* Polled every step: non-zero stops training cleanly (Ctrl-C). */
    int (*stop)(void *ctx);
    /* Save the latest state (always) and, when best != 0, the best model. */
    int (*save)(int best, void *ctx);
} cl_lmtrain_hooks;

typedef struct cl_lmtrain cl_lmtrain;

/* A trainer for model m (which must have an lm head).  The model stays owned
 * by the caller and must outlive the trainer. */
int cl_lmtrain_create(cl_lmtrain **t, cl_model *m, const cl_lmtrain_config *c, cl_diag *d);
void cl_lmtrain_free(cl_lmtrain *t);
/* Restore the optimizer and training state from a file saved during an
 * earlier run, and that run's configuration (learning rate, schedule,
 * clipping, evaluation interval, seed) so it goes on exactly as it would
 * have; only the limits (steps, time, epochs) stay as given.  CL_ENOTFOUND
 * if the file holds no training state, CL_EMISMATCH if batch or seq differ. */
int cl_lmtrain_resume(cl_lmtrain *t, const cl_ckpt *ck, cl_diag *d);
/* Train on `train` ids, evaluating on `dev` (dev.n == 0: no evaluation).
 * Returns CL_OK when a limit is reached, CL_EINTR when stop() asked. */
int cl_lmtrain_run(cl_lmtrain *t, const cl_ids *train, const cl_ids *dev,
                   const cl_lmtrain_hooks *h, cl_diag *d);
/* cl_model_extra_fn for cl_model_save with ctx = the trainer: a "history"
 * section (steps, characters, seconds, last validation loss), for every saved
 * model. */
int cl_lmtrain_save_history(cl_ckpt_writer *w, void *trainer);
/* The history plus the "optim" and "train" sections --resume needs. */
int cl_lmtrain_save_state(cl_ckpt_writer *w, void *trainer);
const cl_lmtrain_stats *cl_lmtrain_stats_get(const cl_lmtrain *t);

/* Mean cross-entropy (nats/char) of every next-character prediction in ids,
 * with `streams` parallel streams each starting from a zero state and
 * windows of `chunk` steps (the reference's evaluation).  *count gets the
 * number of predictions. */
int cl_lm_evaluate(const cl_model *m, const cl_ids *ids, int streams, int chunk, double *loss,
                   long *count, cl_diag *d);

#endif
