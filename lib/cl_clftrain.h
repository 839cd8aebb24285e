/* cl_clftrain: the classifier's task of the training core (cl_train): the
 * classifier head trained with the encoder fine-tuned at its own learning
 * rate, or frozen.
 *
 * Each epoch shuffles the training sentences, sorts them by length within
 * windows of `window` batches so a batch holds sentences of similar length
 * (little padding), and shuffles the order of the batches.  The dev set is
 * scored by accuracy, ties broken by the lower dev loss.
 *
 * Frozen encoder (freeze != 0): the encoder's weights are never written, and
 * since its output then never changes, the pooled features of every
 * training and dev sentence are computed once up front and training runs on
 * the head alone — a fast linear(ish) probe, as in Radford et al.'s
 * sentiment neuron.  The n-gram counts and the standardisation of the
 * features are computed before the first step (constants of the model, kept
 * as they are by a resumed run).  Nothing is allocated inside a step. */
#ifndef CL_CLFTRAIN_H
#define CL_CLFTRAIN_H

#include "cl_clfeval.h"
#include "cl_train.h"
#include "cl_api.h"

CL_API_BEGIN

typedef struct cl_clftrain cl_clftrain; /* one run's buffers and data order */

typedef struct {
    int batch;           /* sentences per step */
    int window;          /* batches per length-sorting window */
    int freeze;          /* keep the encoder fixed (and cache its features) */
    int class_weights;   /* weight each class by n / (K * count) */
    int normalize;       /* standardise the pooled features first (cl_classifier_set_norm) */
    float nbsvm_lr;      /* learning rate of the NBSVM weights (0: the head's) */
    cl_train_shares shares; /* this process's sentences of every batch */
} cl_clftrain_config;

/* batch 32, window 50, normalize 1, all shares. */
cl_clftrain_config cl_clftrain_defaults(void);

/* The task for model m (with a classifier head; caller-owned, must outlive
 * the task) on train (and dev, may be NULL), both already encoded for m with
 * cl_clfdata_encode.  Allocates every buffer of the run.  Free with
 * cl_clftrain_free. */
int cl_clftrain_create(cl_clftrain **t, cl_model *m, const cl_clftrain_config *c,
                       const cl_clfdata *train, const cl_clfdata *dev, cl_diag *d);
void cl_clftrain_free(cl_clftrain *t);
cl_train_task cl_clftrain_task(cl_clftrain *t);
/* The groups into g[0..3): the encoder at encoder_lr (frozen with freeze
 * or encoder_lr 0) and head.classifier at lr, its NBSVM weights (the last
 * tensor of the head) at nbsvm_lr when set; returns how many (2 or 3).
 * Millions of sparse weights, each moved by Adam as far as the head's few
 * dense ones, memorise the training texts within an epoch: a lower rate
 * keeps them where the evidence can bear them. */
int cl_clftrain_groups(const cl_clftrain *t, float lr, float encoder_lr, cl_train_group *g);

CL_API_END
#endif
