/* cl_classifier: the sentence-classifier head (sentiment, any label set) on
 * top of the model's character encoder.
 *
 * A sentence's characters go through the encoder (encoder.embed and the
 * stack encoder.rnn, run by cl_seqrnn with each sentence's own length, so
 * padding never reaches the real steps; a bidirectional encoder runs both
 * directions).  The top layer's states are pooled over the sentence's valid
 * steps — last state, mean, max, any subset, in that order — and the pooled
 * vector goes through dropout, a tanh layer and a linear layer to logits over
 * the labels, trained with (optionally class-weighted) softmax cross-entropy:
 *
 *   F = pooled [B, P*D]  (D = encoder output width, P = pools in use)
 *   x = (F - norm_mean) * norm_scale               (standardised, per unit)
 *   h = tanh(dropout(x) W1^T + b1)  [B, hidden]   (hidden = 0: no such layer)
 *   logits = h W2^T + b2            [B, K]
 *
 * A unidirectional encoder (a language model's) stays unidirectional: the
 * last state then summarises the whole sentence left to right, and mean/max
 * pooling see every position.
 *
 * The standardisation is fixed before training from the training
 * sentences' features (cl_classifier_set_norm): a language model's states
 * have large common offsets and small spread between sentences, on which a
 * freshly initialised head learns very slowly.  norm_mean and norm_scale are
 * constants: they get no gradient.
 *
 * Tensors "head.classifier.norm_mean" [P*D], ".norm_scale" [P*D],
 * "head.classifier.w1" [hidden, P*D], ".b1" [hidden], ".w2" [K, hidden
 * or P*D], ".b2" [K].  The label strings and the settings below are the
 * section's key/values.
 *
 * With ngram > 0 the features of a text also hold, after the pooled
 * states, the naive Bayes evidence e [K] of its word n-grams (cl_ngram.h):
 * F = P*D + K, and
 *
 *   logits += ngram_scale * e        (ngram_scale [K] learned, starts at 1)
 *
 * so a fresh head starts as naive Bayes and the rest learns its errors
 * (with nbsvm ngram_scale starts at 0: see below).
 *
 * With nbsvm the n-grams also feed a logistic-regression layer on their
 * naive Bayes log-count ratios (NBSVM, Wang & Manning 2012): a text's
 * binarised buckets S, each scaled by its ratio r[u][k] (cl_ngram_ratios,
 * leave-one-out for training texts), weighted by the learned tensor
 * "head.classifier.ngram_weight" [K, 2^ngram_bits] (starts at 0):
 *
 *   logits_k += sum over u in S of ngram_weight[k][u] * r[u][k]
 *
 * Together with ngram_scale this is sum_u (ngram_scale_k + w_ku) r_uk: the
 * learned interpolation between naive Bayes (w = 0) and the logistic
 * regression, trained with the rest of the head.  ngram_chars adds
 * character n-grams (lengths 2..ngram_chars) to the buckets.
 *
 * pool 0 ("none") is the linear part alone: no encoder pass, no tanh layer,
 * logits = b2 + the n-gram terms (the ablation of the encoder).
 * The counts behind e are the tensor "head.classifier.ngram_counts" [K,
 * 2^ngram_bits], filled from the training texts by
 * cl_classifier_count_ngrams (constants, no gradient).
 * Character states and word statistics are complementary: the encoder
 * generalises over spelling and morphology, the counts remember which
 * words and word pairs go with which label.
 *
 * Texts longer than max_chars characters are cut to their first max_chars
 * (the encoder is a recurrence: cost is linear in length, and sentences are
 * far shorter than the default). */
#ifndef CL_CLASSIFIER_H
#define CL_CLASSIFIER_H

#include "cl_model.h"
#include "cl_api.h"

CL_API_BEGIN

enum { CL_CLASSIFIER_POOL_LAST = 1, CL_CLASSIFIER_POOL_MEAN = 2, CL_CLASSIFIER_POOL_MAX = 4 };
#define CL_CLASSIFIER_POOL_ALL 7
#define CL_CLASSIFIER_MAX_LABELS 4096
#define CL_CLASSIFIER_MAX_CHARS 1000 /* default cap on a text's length */
/* The largest max_chars a model file may declare: the workspace of one text
 * grows with it, so a stranger's file cannot ask for gigabytes. */
#define CL_CLASSIFIER_MAX_CHARS_LIMIT 8192

typedef struct {
    int nlabels;     /* K >= 2 */
    char **labels;   /* [K] distinct UTF-8 strings, owned */
    int pool;        /* CL_CLASSIFIER_POOL_* bits, at least one */
    int hidden;      /* units of the tanh layer; 0 = logits straight from the pooled vector */
    float dropout;   /* on the pooled vector, training only */
    int frozen;      /* the encoder was kept fixed in training (informational) */
    int max_chars;   /* longer texts are cut to their first max_chars characters */
    int norm;        /* the head standardises its input (norm_mean/norm_scale tensors) */
    int ngram;       /* word n-gram orders 1..ngram give naive Bayes evidence (cl_ngram); 0 = off */
    int ngram_bits;  /* 2^ngram_bits hash buckets */
    float ngram_alpha; /* add-alpha smoothing of the n-gram counts */
    float ngram_dropout; /* training: fraction of texts whose evidence is hidden */
    int ngram_chars; /* character n-grams of lengths 2..ngram_chars too (0 = words only) */
    int nbsvm;       /* a learned weight per bucket and label on the log-count ratios (NBSVM) */
} cl_classifier_config;

/* A config with copies of labels[0..n) (checked distinct, non-empty, valid
 * UTF-8, 2 <= n <= CL_CLASSIFIER_MAX_LABELS) and defaults pool = all,
 * hidden = 128, dropout = 0.3, max_chars = CL_CLASSIFIER_MAX_CHARS, norm = 1,
 * ngram = 0 (ngram_bits 20, ngram_alpha 1 for when it is set).  Freed by
 * the model once added, else with cl_classifier_config_free. */
int cl_classifier_config_new(cl_classifier_config **c, const char *const *labels, int n,
                             cl_diag *d);
void cl_classifier_config_free(cl_classifier_config *c);
/* Index of label, or -1. */
int cl_classifier_label_index(const cl_classifier_config *c, const char *label);
/* Width of the head's input for encoder config ec: P * D, + K with ngram. */
int cl_classifier_feature_dim(const cl_classifier_config *c, const cl_encoder_config *ec);

extern const cl_head_ops cl_classifier_head_ops; /* section "head.classifier" */

/* ---- forward / backward workspace --------------------------------------- */

typedef struct cl_classifier cl_classifier;

/* Workspace for batches of up to max_B texts of up to max_T characters over
 * model m (which must have a classifier head and must outlive it).  All
 * buffers are allocated here: the passes below allocate nothing.  Free with
 * cl_classifier_free. */
int cl_classifier_create(cl_classifier **c, const cl_model *m, int max_T, int max_B);
/* Padded characters (max_T x max_B) a workspace for inference should hold
 * at most: memory is proportional to them (tens of KB each with a large
 * encoder), so texts of T characters go max(1, budget / T) at a time. */
#define CL_CLASSIFIER_BATCH_CHARS 8192
/* Rows for texts of up to T characters: min(max_B, max(1, BATCH_CHARS / T)). */
int cl_classifier_rows_for(int T, int max_B);
void cl_classifier_free(cl_classifier *c);
/* Run the products of the encoder's recurrent stack through oneDNN in
 * precision p (cl_mm.h; auto resolved here); without this call they use
 * OpenBLAS in fp32.  0, CL_EINVAL (bf16 on a CPU without it) or CL_ENOMEM. */
int cl_classifier_set_precision(cl_classifier *c, cl_precision p);
int cl_classifier_max_batch(const cl_classifier *c);
int cl_classifier_max_len(const cl_classifier *c);
/* F, the width of the features cl_classifier_encode writes per text. */
int cl_classifier_nfeatures(const cl_classifier *c);

/* Features of B texts: text b is ids[b][0..len[b]) (1 <= len[b] <=
 * max_T, ids < 0 or out of the vocabulary are not allowed; use
 * cl_model_encode).  feats [B, F] may be NULL (kept inside for backward).
 * own: NULL, or the labels of texts that were counted by
 * cl_classifier_count_ngrams (training texts), whose n-gram evidence then
 * leaves their own counts out.  train != 0 runs the encoder with its
 * dropout (rng) and keeps what cl_classifier_backward needs to reach the
 * encoder. */
int cl_classifier_encode(cl_classifier *c, const int *const *ids, const int *len, int B,
                         const int *own, float *feats, int train, cl_rng *rng);
/* The head on pooled features feats [B, P*D] (from cl_classifier_encode or a
 * cache of them; with nbsvm the workspace must hold the same texts' n-grams,
 * from that encode or cl_classifier_ngrams): probabilities [B, K] into probs when not NULL.  With
 * targets (label indices) returns the loss — sum_b w[t_b] * xent_b /
 * sum_b w[t_b], weights w[K] or NULL for 1 — else 0.  train != 0 applies
 * dropout (rng) and prepares cl_classifier_backward. */
double cl_classifier_head(cl_classifier *c, const float *feats, int B, const int *targets,
                          const float *weights, float *probs, int train, cl_rng *rng);
/* Gradients of that loss: always into the head's tensors of the model's
 * p->g (+=); into the encoder's too when into_encoder != 0, which needs the
 * features of the last cl_classifier_encode with train != 0. */
int cl_classifier_backward(cl_classifier *c, cl_params *p, int into_encoder);

/* Set norm_mean / norm_scale of m's classifier (CL_ENOTFOUND without norm)
 * from the raw features feats [n, F] of training sentences: per pooled
 * unit, the mean and 1 / sqrt(variance + 1e-4). */
int cl_classifier_set_norm(cl_model *m, const float *feats, size_t n);

/* Fill the n-gram counts of c's model (whose params are p) from n
 * training texts ids[i][0..len[i]) with labels y[i] (replacing any).
 * CL_ENOTFOUND when the head has no n-grams. */
int cl_classifier_count_ngrams(cl_classifier *c, cl_params *p, const int *const *ids,
                               const int *len, const int *y, size_t n);

/* The n-gram buckets and ratios of B texts (as for cl_classifier_encode)
 * into the workspace without running the encoder: what the head's NBSVM
 * part reads when its features come from a cache (frozen encoder).  The
 * head pass after it must be on the same B texts.  CL_EINVAL on a bad
 * length; CL_OK and nothing done without n-grams. */
int cl_classifier_ngrams(cl_classifier *c, const int *const *ids, const int *len, int B,
                         const int *own);

/* Probabilities [B, K] of B texts (inference: no dropout). */
int cl_classifier_predict(cl_classifier *c, const int *const *ids, const int *len, int B,
                          float *probs);

CL_API_END
#endif
