/* cl_clftrain: training the classifier head, with the encoder fine-tuned
 * at its own learning rate or frozen.
 *
 * Each epoch shuffles the training sentences (seeded cl_rng), sorts them by
 * length within windows of `window` batches so a batch holds sentences of
 * similar length (little padding), and shuffles the order of the batches.
 * Adam updates the classifier head at lr and the encoder at encoder_lr;
 * other heads of the model are left alone.  The gradient norm of the
 * trained parameters is clipped.
 *
 * Frozen encoder (freeze != 0): the encoder's weights are never written, and
 * since its output then never changes, the pooled features of every
 * training and dev sentence are computed once up front and training runs on
 * the head alone — a fast linear(ish) probe, as in Radford et al.'s
 * sentiment neuron.
 *
 * After each epoch (or every eval_every steps) the dev set is scored; the
 * best weights (accuracy, ties broken by lower dev loss) are kept in memory
 * and put back into the model when training ends, and training stops early
 * after `patience` evaluations without improvement.  Nothing is allocated
 * inside a training step. */
#ifndef CL_CLFTRAIN_H
#define CL_CLFTRAIN_H

#include "cl_clfeval.h"

typedef struct {
    int batch;           /* sentences per step */
    int window;          /* batches per length-sorting window */
    float lr;            /* head learning rate (Adam) */
    float encoder_lr;    /* encoder learning rate (ignored when frozen) */
    int freeze;          /* keep the encoder fixed */
    float clip;          /* gradient-norm bound, 0 = off */
    int class_weights;   /* weight each class by n / (K * count) */
    int max_epochs;      /* 0 = no limit */
    long max_steps;      /* 0 = no limit */
    double max_seconds;  /* 0 = no limit (evaluation included) */
    long eval_every;     /* steps between evaluations; 0 = once per epoch */
    int patience;        /* evaluations without improvement before stopping; 0 = never */
    int normalize;       /* standardise the pooled features first (cl_classifier_set_norm) */
    uint64_t seed;
} cl_clftrain_config;

/* batch 32, window 50, lr 1e-3, encoder_lr 1e-4, clip 5, max_epochs 10,
 * patience 3, normalize 1, seed 1. */
cl_clftrain_config cl_clftrain_defaults(void);

typedef struct {
    long step, steps_per_epoch;
    double epoch;
    double train_loss;     /* mean since the last evaluation */
    double dev_loss, dev_acc;
    double best_acc, best_loss; /* NAN before the first evaluation */
    double best_epoch;
    double elapsed;        /* wall seconds of this run */
    double sents_per_sec;  /* training throughput */
    double eta;            /* seconds to the nearest limit, NAN if none */
    int improved;          /* on evaluation: the best so far */
    int stale;             /* evaluations since the last improvement */
    int stopped_early;     /* patience ran out */
    double feature_seconds;/* frozen: time spent computing the cached features */
} cl_clftrain_stats;

typedef struct {
    void *ctx;
    void (*progress)(const cl_clftrain_stats *s, void *ctx); /* about 4 times a second */
    int (*evaluated)(const cl_clftrain_stats *s, const cl_clfeval_metrics *dev, void *ctx);
    int (*stop)(void *ctx);                 /* polled every step: non-zero stops (Ctrl-C) */
    int (*save)(int best, void *ctx);       /* after each evaluation */
} cl_clftrain_hooks;

typedef struct cl_clftrain cl_clftrain;

/* A trainer for model m (with a classifier head; caller-owned, must outlive
 * the trainer) on train (and dev, may be NULL), both already encoded for m
 * with cl_clfdata_encode.  Allocates every buffer of the run.  Free with
 * cl_clftrain_free. */
int cl_clftrain_create(cl_clftrain **t, cl_model *m, const cl_clftrain_config *c,
                       const cl_clfdata *train, const cl_clfdata *dev, cl_diag *d);
void cl_clftrain_free(cl_clftrain *t);
/* Train until a limit, early stopping or stop().  Returns CL_OK, or
 * CL_EINTR when stop() asked (the model then holds the best weights seen,
 * or the latest if there was no evaluation yet). */
int cl_clftrain_run(cl_clftrain *t, const cl_clftrain_hooks *h, cl_diag *d);
const cl_clftrain_stats *cl_clftrain_stats_get(const cl_clftrain *t);

#endif
