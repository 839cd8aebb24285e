/* cl_sample: temperature, top-k, top-p sampling. */
#include "cl_sample.h"

#include <math.h>
#include <stdlib.h>

#include "cl_error.h"

cl_sample_config cl_sample_defaults(void)
{
    cl_sample_config c = {1.0f, 0, 1.0f};
    return c;
}

int cl_sample_validate(const cl_sample_config *c)
{
    return c->temperature >= 0 && c->top_k >= 0 && c->top_p > 0 && c->top_p <= 1 ? CL_OK
                                                                                   : CL_EINVAL;
}

static int argmax(const float *x, int V)
{
    int best = 0;
    for (int i = 1; i < V; i++)
        if (x[i] > x[best])
            best = i;
    return best;
}

/* order[0..V) sorted by decreasing probability; qsort_r keeps this reentrant. */
static int by_prob_desc(const void *a, const void *b, void *ctx)
{
    const float *p = ctx;
    float x = p[*(const int *)a], y = p[*(const int *)b];
    return (x < y) - (x > y);
}

/* How many of the most likely entries top-k and top-p keep. */
static int kept_count(const float *p, const int *order, int V, const cl_sample_config *c)
{
    int k = c->top_k > 0 && c->top_k < V ? c->top_k : V;
    if (c->top_p >= 1)
        return k;
    double mass = 0;
    for (int i = 0; i < k; i++) {
        mass += p[order[i]];
        if (mass >= c->top_p)
            return i + 1;
    }
    return k;
}

int cl_sample(const float *logits, int V, const cl_sample_config *c, cl_rng *rng, float *work,
              int *order)
{
    if (c->temperature <= 0)
        return argmax(logits, V);
    float m = logits[argmax(logits, V)];
    double sum = 0;
    for (int i = 0; i < V; i++) {
        work[i] = expf((logits[i] - m) / c->temperature);
        sum += work[i];
        order[i] = i;
    }
    int n = V;
    if (c->top_k > 0 || c->top_p < 1) {
        for (int i = 0; i < V; i++)
            work[i] = (float)(work[i] / sum);
        qsort_r(order, (size_t)V, sizeof *order, by_prob_desc, work);
        n = kept_count(work, order, V, c);
        sum = 0;
        for (int i = 0; i < n; i++)
            sum += work[order[i]];
    }
    double u = cl_rng_double(rng) * sum, acc = 0;
    for (int i = 0; i < n; i++) {
        acc += work[order[i]];
        if (u < acc)
            return order[i];
    }
    return order[n - 1]; /* u landed in rounding slack at the top */
}

void cl_softmax(const float *logits, int n, float *p)
{
    float mx = logits[0], sum = 0;
    for (int j = 1; j < n; j++)
        mx = logits[j] > mx ? logits[j] : mx;
    for (int j = 0; j < n; j++)
        sum += p[j] = expf(logits[j] - mx);
    for (int j = 0; j < n; j++)
        p[j] /= sum;
}

int cl_top_k(const float *p, int n, int k, int *best)
{
    k = k < n ? k : n;
    for (int i = 0; i < k; i++) {
        int b = -1;
        for (int j = 0; j < n; j++) {
            int taken = 0;
            for (int q = 0; q < i && !taken; q++)
                taken = best[q] == j;
            if (!taken && (b < 0 || p[j] > p[b]))
                b = j;
        }
        best[i] = b;
    }
    return k;
}
