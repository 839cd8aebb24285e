/* cl_clfeval: scoring a classifier: accuracy, per-label precision, recall
 * and F1, the confusion matrix, and the mean cross-entropy, over an encoded
 * cl_clfdata. */
#ifndef CL_CLFEVAL_H
#define CL_CLFEVAL_H

#include "cl_clfdata.h"
#include "cl_api.h"

CL_API_BEGIN

typedef struct {
    int K;
    long *confusion; /* [K, K]: confusion[gold * K + predicted] */
    long total, correct;
    double loss_sum; /* summed cross-entropy (nats) of the gold labels */
} cl_clfeval_metrics;

/* Zeroed metrics for K labels; free with cl_clfeval_metrics_free. */
int cl_clfeval_metrics_init(cl_clfeval_metrics *m, int K);
void cl_clfeval_metrics_free(cl_clfeval_metrics *m);
void cl_clfeval_metrics_reset(cl_clfeval_metrics *m);
/* One example: gold label and the model's probabilities probs[K]. */
void cl_clfeval_metrics_add(cl_clfeval_metrics *m, int gold, const float *probs);
double cl_clfeval_accuracy(const cl_clfeval_metrics *m);
double cl_clfeval_mean_loss(const cl_clfeval_metrics *m);
/* Precision, recall and F1 of label k (0 where undefined). */
void cl_clfeval_prf(const cl_clfeval_metrics *m, int k, double *p, double *r, double *f1);
/* Unweighted mean F1 over the labels. */
double cl_clfeval_macro_f1(const cl_clfeval_metrics *m);
/* Index of the largest of probs[0..K). */
int cl_clfeval_argmax(const float *probs, int K);

/* Run classifier c over every example of ds (encoded for c's model), in
 * batches of up to c's max batch taken in order of ds->order (NULL: file
 * order), adding to m.  The texts must fit c's max length. */
int cl_clfeval_run(cl_classifier *c, const cl_clfdata *ds, const int *order,
                   cl_clfeval_metrics *m, cl_diag *d);

/* The pooled encoder features [ds->n, F] of every text of ds into feats
 * (caller-allocated), in batches of the head's max batch, shortest texts
 * first so that batches pad little.  own != 0: ds is the training set, whose
 * own counts the n-gram evidence leaves out (leave-one-out). */
int cl_clfeval_features(cl_classifier *c, const cl_clfdata *ds, int own, float *feats);

/* cl_clfeval_run on features already computed by cl_clfeval_features. */
int cl_clfeval_run_features(cl_classifier *c, const cl_clfdata *ds, const float *feats,
                            cl_clfeval_metrics *m);

/* Sort idx[0..n) by the lengths of those examples (stable); scratch has
 * room for n values.  Allocates nothing. */
void cl_clfeval_sort_by_length(const cl_clfdata *ds, int *idx, int n, uint64_t *scratch);
/* Indices 0..n-1 sorted by ds->len (stable), so batches have little padding.
 * The caller frees the array with free(). */
int *cl_clfeval_length_order(const cl_clfdata *ds);

CL_API_END
#endif
