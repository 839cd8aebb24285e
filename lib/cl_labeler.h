/* cl_labeler: texts in, label probabilities out — the classifier head as
 * `charlstm classify` and the server's /classify run it.
 *
 * A labeler holds up to max_batch texts as character ids (decoded with the
 * model's text options, cut to the head's max_chars; an empty text reads as
 * one unknown character so that every text gets an answer) and a classifier
 * workspace that grows with the longest text seen, never past max_chars.
 * The texts held run in groups of at most CL_CLASSIFIER_BATCH_CHARS padded
 * characters, so memory stays bounded whatever their lengths.  The one
 * batching path of the classifier: `classify` fills it from its input
 * lines, the server from the requests of concurrent clients.
 * One labeler serves one thread at a time. */
#ifndef CL_LABELER_H
#define CL_LABELER_H

#include "cl_classifier.h"
#include "cl_api.h"

CL_API_BEGIN

typedef struct cl_labeler cl_labeler;

/* A labeler over model m (which must outlive it); CL_ENOTFOUND (with a
 * message in d) when m has no classifier head.  Free with cl_labeler_free. */
int cl_labeler_create(cl_labeler **l, const cl_model *m, int max_batch, cl_diag *d);
void cl_labeler_free(cl_labeler *l);
/* Run the classifier's products through oneDNN in precision p (cl_mm.h;
 * auto resolved here), now and in every workspace it makes later; without
 * this call they use OpenBLAS in fp32.  0, CL_EINVAL (bf16 on a CPU without
 * it) or CL_ENOMEM. */
int cl_labeler_set_precision(cl_labeler *l, cl_precision p);
const cl_classifier_config *cl_labeler_config(const cl_labeler *l);
/* Texts held, and the capacity. */
int cl_labeler_count(const cl_labeler *l);
int cl_labeler_capacity(const cl_labeler *l);
/* Add text[0..n) (UTF-8; where names it in errors, e.g. "FILE:LINE").
 * CL_EINVAL when the labeler is full; CL_EUTF8 with the byte in d. */
int cl_labeler_add(cl_labeler *l, const char *text, size_t n, const char *where, cl_diag *d);
/* Probabilities [count, K] of the texts held, in the order added; then
 * the labeler is empty again. */
int cl_labeler_run(cl_labeler *l, float *probs);
/* Forget the texts held without running them. */
void cl_labeler_clear(cl_labeler *l);
/* Labels by decreasing probability: rank[0] is the most likely (K = nlabels). */
void cl_labeler_rank(const float *p, int K, int *rank);

CL_API_END
#endif
