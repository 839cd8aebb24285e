/* cl_clfeval: classifier metrics and evaluation over a data set. */
#include "cl_clfeval.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int cl_clfeval_metrics_init(cl_clfeval_metrics *m, int K)
{
    memset(m, 0, sizeof *m);
    if (K < 1 || K > CL_CLASSIFIER_MAX_LABELS)
        return CL_EINVAL;
    m->K = K;
    m->confusion = calloc((size_t)K * K, sizeof *m->confusion);
    return m->confusion ? CL_OK : CL_ENOMEM;
}

void cl_clfeval_metrics_free(cl_clfeval_metrics *m)
{
    free(m->confusion);
    memset(m, 0, sizeof *m);
}

void cl_clfeval_metrics_reset(cl_clfeval_metrics *m)
{
    memset(m->confusion, 0, sizeof *m->confusion * (size_t)m->K * m->K);
    m->total = m->correct = 0, m->loss_sum = 0;
}

int cl_clfeval_argmax(const float *probs, int K)
{
    int best = 0;
    for (int k = 1; k < K; k++)
        best = probs[k] > probs[best] ? k : best;
    return best;
}

void cl_clfeval_metrics_add(cl_clfeval_metrics *m, int gold, const float *probs)
{
    int pred = cl_clfeval_argmax(probs, m->K);
    m->confusion[(size_t)gold * m->K + pred]++;
    m->total++;
    m->correct += pred == gold;
    m->loss_sum += -log(fmax(probs[gold], 1e-30));
}

double cl_clfeval_accuracy(const cl_clfeval_metrics *m)
{
    return m->total ? (double)m->correct / (double)m->total : 0;
}

double cl_clfeval_mean_loss(const cl_clfeval_metrics *m)
{
    return m->total ? m->loss_sum / (double)m->total : NAN;
}

void cl_clfeval_prf(const cl_clfeval_metrics *m, int k, double *p, double *r, double *f1)
{
    long tp = m->confusion[(size_t)k * m->K + k], pred = 0, gold = 0;
    for (int j = 0; j < m->K; j++) {
        pred += m->confusion[(size_t)j * m->K + k];
        gold += m->confusion[(size_t)k * m->K + j];
    }
    *p = pred ? (double)tp / (double)pred : 0;
    *r = gold ? (double)tp / (double)gold : 0;
    *f1 = *p + *r > 0 ? 2 * *p * *r / (*p + *r) : 0;
}

double cl_clfeval_macro_f1(const cl_clfeval_metrics *m)
{
    double sum = 0, p, r, f;
    for (int k = 0; k < m->K; k++) {
        cl_clfeval_prf(m, k, &p, &r, &f);
        sum += f;
    }
    return m->K ? sum / m->K : 0;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

void cl_clfeval_sort_by_length(const cl_clfdata *ds, int *idx, int n, uint64_t *scratch)
{
    /* (length, position) packed in one key: a plain integer sort, stable. */
    for (int i = 0; i < n; i++)
        scratch[i] = (uint64_t)ds->len[idx[i]] << 32 | (uint32_t)i;
    qsort(scratch, (size_t)n, sizeof *scratch, cmp_u64);
    for (int i = 0; i < n; i++)
        scratch[i] = (uint64_t)idx[(uint32_t)scratch[i]];
    for (int i = 0; i < n; i++)
        idx[i] = (int)scratch[i];
}

int *cl_clfeval_length_order(const cl_clfdata *ds)
{
    size_t n = (size_t)(ds->n ? ds->n : 1);
    uint64_t *key = malloc(sizeof *key * n);
    int *order = malloc(sizeof *order * n);
    if (!key || !order) {
        free(key), free(order);
        return NULL;
    }
    for (int i = 0; i < ds->n; i++)
        order[i] = i;
    cl_clfeval_sort_by_length(ds, order, ds->n, key);
    free(key);
    return order;
}

/* Pointers and lengths of examples order[i0 .. i0+B) (file order if NULL). */
static void batch_of(const cl_clfdata *ds, const int *order, int i0, int B, const int **ids,
                     int *len, int *y)
{
    for (int b = 0; b < B; b++) {
        int i = order ? order[i0 + b] : i0 + b;
        ids[b] = ds->ids + ds->off[i], len[b] = ds->len[i], y[b] = ds->y[i];
    }
}

int cl_clfeval_run(cl_classifier *c, const cl_clfdata *ds, const int *order,
                   cl_clfeval_metrics *m, cl_diag *d)
{
    int maxB = cl_classifier_max_batch(c), K = m->K;
    const int **ids = malloc(sizeof *ids * (size_t)maxB);
    int *len = malloc(sizeof *len * (size_t)maxB), *y = malloc(sizeof *y * (size_t)maxB);
    float *probs = malloc(sizeof *probs * (size_t)maxB * K);
    int err = ids && len && y && probs ? CL_OK : CL_ENOMEM;
    if (!err && ds->max_len > cl_classifier_max_len(c))
        err = cl_diag_set(d, CL_EINVAL, "%s: texts longer than the workspace", ds->name);
    for (int i0 = 0; i0 < ds->n && !err; i0 += maxB) {
        int B = ds->n - i0 < maxB ? ds->n - i0 : maxB;
        batch_of(ds, order, i0, B, ids, len, y);
        err = cl_classifier_predict(c, ids, len, B, probs);
        for (int b = 0; b < B && !err; b++)
            cl_clfeval_metrics_add(m, y[b], probs + (size_t)b * K);
    }
    free(ids), free(len), free(y), free(probs);
    return err;
}

int cl_clfeval_features(cl_classifier *c, const cl_clfdata *ds, int own, float *feats)
{
    int maxB = cl_classifier_max_batch(c), F = cl_classifier_nfeatures(c);
    int *order = cl_clfeval_length_order(ds), *len = malloc(sizeof *len * (size_t)maxB);
    int *y = malloc(sizeof *y * (size_t)maxB);
    const int **ids = malloc(sizeof *ids * (size_t)maxB);
    float *batch = malloc(sizeof *batch * (size_t)maxB * F);
    int err = order && len && y && ids && batch ? CL_OK : CL_ENOMEM;
    for (int i0 = 0; i0 < ds->n && !err; i0 += maxB) {
        int B = ds->n - i0 < maxB ? ds->n - i0 : maxB;
        batch_of(ds, order, i0, B, ids, len, y);
        err = cl_classifier_encode(c, ids, len, B, own ? y : NULL, batch, 0, NULL);
        for (int b = 0; b < B && !err; b++)
            memcpy(feats + (size_t)order[i0 + b] * F, batch + (size_t)b * F, sizeof *batch * F);
    }
    free(order), free(len), free(y), free(ids), free(batch);
    return err;
}

int cl_clfeval_run_features(cl_classifier *c, const cl_clfdata *ds, const float *feats,
                            cl_clfeval_metrics *m)
{
    int maxB = cl_classifier_max_batch(c), F = cl_classifier_nfeatures(c), K = m->K;
    float *probs = malloc(sizeof *probs * (size_t)maxB * K);
    const int **ids = malloc(sizeof *ids * (size_t)maxB);
    int *len = malloc(sizeof *len * (size_t)maxB), *y = malloc(sizeof *y * (size_t)maxB);
    int err = probs && ids && len && y ? CL_OK : CL_ENOMEM;
    for (int i0 = 0; i0 < ds->n && !err; i0 += maxB) {
        int B = ds->n - i0 < maxB ? ds->n - i0 : maxB;
        batch_of(ds, NULL, i0, B, ids, len, y); /* the n-grams for the head's NBSVM part */
        if ((err = cl_classifier_ngrams(c, ids, len, B, NULL)) != CL_OK)
            break;
        if (isnan(cl_classifier_head(c, feats + (size_t)i0 * F, B, NULL, NULL, probs, 0, NULL)))
            err = CL_EINVAL;
        for (int b = 0; b < B && !err; b++)
            cl_clfeval_metrics_add(m, ds->y[i0 + b], probs + (size_t)b * K);
    }
    free(probs), free(ids), free(len), free(y);
    return err;
}
