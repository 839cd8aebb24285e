/* cl_sample: choosing the next character from a model's logits.
 *
 * Temperature scaling, then top-k and nucleus (top-p) truncation, then a draw
 * from the renormalised distribution with the caller's cl_rng.  Temperature 0
 * means argmax (deterministic). */
#ifndef CL_SAMPLE_H
#define CL_SAMPLE_H

#include "cl_rng.h"
#include "cl_api.h"

CL_API_BEGIN

typedef struct {
    float temperature; /* > 0, or 0 for argmax */
    int top_k;         /* keep the k most likely (0 = all) */
    float top_p;       /* keep the smallest set with probability >= p (1 = all) */
} cl_sample_config;

cl_sample_config cl_sample_defaults(void); /* 1.0, 0, 1.0 */
int cl_sample_validate(const cl_sample_config *c); /* 0 or CL_EINVAL */

/* An index in [0, V) drawn from softmax(logits / temperature) restricted as
 * configured.  Entries with logit -INFINITY are never drawn.  work needs room
 * for V floats and order for V ints (caller-owned scratch). */
int cl_sample(const float *logits, int V, const cl_sample_config *c, cl_rng *rng, float *work,
              int *order);

/* p = softmax(logits) over n entries (p may be logits). */
void cl_softmax(const float *logits, int n, float *p);
/* The min(k, n) indices of the largest p, largest first, into best (ties:
 * the lower index first); returns how many.  O(k n): for small k. */
int cl_top_k(const float *p, int n, int k, int *best);

CL_API_END
#endif
