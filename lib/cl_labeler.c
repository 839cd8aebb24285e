/* cl_labeler: a batch of texts as ids, and the classifier run over them. */
#include "cl_labeler.h"

#include <stdlib.h>

struct cl_labeler {
    const cl_model *m;
    cl_classifier *clf;
    const cl_classifier_config *cfg;
    int B, n;          /* capacity and texts held */
    int **ids, *len;   /* [B] ids of each text (grown as needed), lengths */
    size_t *cap;       /* [B] capacity of ids[b] */
    int mm;            /* products through oneDNN in precision prec; 0: OpenBLAS */
    cl_precision prec;
};

void cl_labeler_free(cl_labeler *l)
{
    if (!l)
        return;
    for (int i = 0; l->ids && i < l->B; i++)
        free(l->ids[i]);
    free(l->ids), free(l->len), free(l->cap);
    cl_classifier_free(l->clf);
    free(l);
}

int cl_labeler_create(cl_labeler **out, const cl_model *m, int max_batch, cl_diag *d)
{
    *out = NULL;
    const cl_classifier_config *cfg = cl_model_head(m, "head.classifier");
    if (!cfg)
        return cl_diag_set(d, CL_ENOTFOUND, "the model has no classifier head");
    if (max_batch < 1)
        return CL_EINVAL;
    cl_labeler *l = calloc(1, sizeof *l);
    if (!l)
        return CL_ENOMEM;
    *l = (cl_labeler){.m = m, .cfg = cfg, .B = max_batch};
    l->ids = calloc((size_t)max_batch, sizeof *l->ids);
    l->len = calloc((size_t)max_batch, sizeof *l->len);
    l->cap = calloc((size_t)max_batch, sizeof *l->cap);
    if (!l->ids || !l->len || !l->cap) {
        cl_labeler_free(l);
        return CL_ENOMEM;
    }
    *out = l;
    return CL_OK;
}

const cl_classifier_config *cl_labeler_config(const cl_labeler *l) { return l->cfg; }
int cl_labeler_count(const cl_labeler *l) { return l->n; }
int cl_labeler_capacity(const cl_labeler *l) { return l->B; }

/* A workspace for n texts of up to T characters: its length grown by
 * doubling, so memory follows the longest text seen, not max_chars; its
 * rows as many as CL_CLASSIFIER_BATCH_CHARS allows at that length (one
 * 300,000-character line in 32 rows took 22.6 GB). */
static int workspace(cl_labeler *l, int T, int n)
{
    if (l->clf && T <= cl_classifier_max_len(l->clf) && n <= cl_classifier_max_batch(l->clf))
        return CL_OK;
    int want = l->clf ? cl_classifier_max_len(l->clf) : 128;
    while (want < T)
        want *= 2;
    want = want < l->cfg->max_chars ? want : l->cfg->max_chars;
    if (cl_classifier_rows_for(want, l->B) < n) /* the doubled length would cost rows */
        want = T;
    cl_classifier_free(l->clf);
    l->clf = NULL;
    int err = cl_classifier_create(&l->clf, l->m, want, cl_classifier_rows_for(want, l->B));
    err = err || !l->mm ? err : cl_classifier_set_precision(l->clf, l->prec);
    if (err) {
        cl_classifier_free(l->clf);
        l->clf = NULL;
    }
    return err;
}

int cl_labeler_set_precision(cl_labeler *l, cl_precision p)
{
    int err = cl_precision_check(p); /* bf16 refused here and now, not at the first batch */
    if (err)
        return err;
    l->mm = 1, l->prec = cl_precision_resolve(p);
    return l->clf ? cl_classifier_set_precision(l->clf, l->prec) : CL_OK;
}

/* The texts from first on that run together: as many as keep (longest x
 * count) within CL_CLASSIFIER_BATCH_CHARS, at least one.  *T = their
 * longest. */
static int group(const cl_labeler *l, int first, int *T)
{
    int n = 0, t = 1;
    for (; first + n < l->n; n++) {
        int t2 = l->len[first + n] > t ? l->len[first + n] : t;
        if (n && (size_t)t2 * (size_t)(n + 1) > CL_CLASSIFIER_BATCH_CHARS)
            break;
        t = t2;
    }
    *T = t;
    return n;
}

int cl_labeler_add(cl_labeler *l, const char *text, size_t n, const char *where, cl_diag *d)
{
    if (l->n == l->B)
        return CL_EINVAL;
    int32_t *cps;
    size_t ncps;
    int err = cl_text_decode(text, n, &l->m->text, where, &cps, &ncps, d);
    if (err)
        return err;
    size_t keep = ncps > (size_t)l->cfg->max_chars ? (size_t)l->cfg->max_chars : ncps;
    int k = l->n;
    if (l->cap[k] < keep + 1) {
        int *p = realloc(l->ids[k], sizeof *p * (keep + 1));
        if (!p) {
            free(cps);
            return CL_ENOMEM;
        }
        l->ids[k] = p, l->cap[k] = keep + 1;
    }
    l->ids[k][0] = CL_VOCAB_UNK;
    cl_model_encode(l->m, cps, keep, l->ids[k], NULL);
    l->len[k] = keep ? (int)keep : 1;
    l->n++;
    free(cps);
    return CL_OK;
}

int cl_labeler_run(cl_labeler *l, float *probs)
{
    int err = CL_OK, K = l->cfg->nlabels;
    for (int i = 0, n, T; i < l->n && !err; i += n) {
        n = group(l, i, &T);
        err = workspace(l, T, n);
        err = err ? err : cl_classifier_predict(l->clf, (const int *const *)l->ids + i, l->len + i,
                                                n, probs + (size_t)i * K);
    }
    l->n = 0;
    return err;
}

void cl_labeler_clear(cl_labeler *l) { l->n = 0; }

/* Insertion sort: K is small. */
void cl_labeler_rank(const float *p, int K, int *rank)
{
    for (int k = 0; k < K; k++) {
        int j = k;
        for (; j > 0 && p[rank[j - 1]] < p[k]; j--)
            rank[j] = rank[j - 1];
        rank[j] = k;
    }
}
