/* cl_clftrain: the classifier training loop (see cl_clftrain.h). */
#include "cl_clftrain.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cl_optim.h"

struct cl_clftrain {
    cl_model *m;
    cl_clftrain_config c;
    const cl_clfdata *train, *dev;
    cl_classifier *clf;
    int K, F, B;
    int share;                           /* the share of every batch computed next */
    float *weights;                      /* [K] class weights or NULL */
    int *perm, *border, nbatches;        /* epoch order; batch b starts at perm[border[b]*B] */
    uint64_t *scratch;                   /* [n] for sorting */
    const int **bids;                    /* [B] one batch */
    int *blen, *by;
    float *bfeats;                       /* [B, F] */
    float *train_feats, *dev_feats;      /* frozen: cached features [n, F] */
    int *dev_order;
    cl_clfeval_metrics dm;
};

cl_clftrain_config cl_clftrain_defaults(void)
{
    cl_clftrain_config c = {0};
    c.batch = 32, c.window = 50, c.normalize = 1;
    c.shares = cl_train_shares_all();
    return c;
}

/* ==== set-up =============================================================== */

void cl_clftrain_free(cl_clftrain *t)
{
    if (!t)
        return;
    cl_classifier_free(t->clf);
    cl_clfeval_metrics_free(&t->dm);
    free(t->weights), free(t->perm), free(t->border), free(t->scratch);
    free(t->bids), free(t->blen), free(t->by), free(t->bfeats), free(t->train_feats);
    free(t->dev_feats), free(t->dev_order);
    free(t);
}

static int check_config(const cl_model *m, const cl_clftrain_config *c, const cl_clfdata *train,
                        const cl_clfdata *dev, cl_diag *d)
{
    if (!cl_model_head(m, "head.classifier"))
        return cl_diag_set(d, CL_EINVAL, "the model has no classifier head");
    if (c->batch < 1 || c->window < 1)
        return cl_diag_set(d, CL_EINVAL, "invalid classifier training configuration");
    if (cl_train_shares_check(&c->shares, c->batch, d))
        return CL_EINVAL;
    if (!train->y || (dev && !dev->y))
        return cl_diag_set(d, CL_EINVAL, "training data not encoded for the model");
    if (train->n < 1)
        return cl_diag_set(d, CL_EEMPTY, "no training sentences");
    return CL_OK;
}

static int alloc_run(cl_clftrain *t)
{
    size_t n = (size_t)t->train->n, B = (size_t)t->B;
    t->nbatches = (int)((n + B - 1) / B);
    t->perm = malloc(sizeof(int) * n), t->scratch = malloc(sizeof(uint64_t) * n);
    t->border = malloc(sizeof(int) * (size_t)t->nbatches);
    t->bids = malloc(sizeof *t->bids * B);
    t->blen = malloc(sizeof(int) * B), t->by = malloc(sizeof(int) * B);
    t->bfeats = cl_alloc(sizeof(float) * B * t->F);
    if (t->c.freeze) {
        t->train_feats = cl_alloc(sizeof(float) * n * t->F);
        t->dev_feats = t->dev ? cl_alloc(sizeof(float) * (size_t)t->dev->n * t->F) : NULL;
        if (!t->train_feats || (t->dev && !t->dev_feats))
            return CL_ENOMEM;
    }
    if (t->dev && !(t->dev_order = cl_clfeval_length_order(t->dev)))
        return CL_ENOMEM;
    for (size_t i = 0; i < n && t->perm; i++)
        t->perm[i] = (int)i;
    return t->perm && t->scratch && t->border && t->bids && t->blen && t->by && t->bfeats
               ? CL_OK
               : CL_ENOMEM;
}

static int set_up(cl_clftrain *t)
{
    const cl_model *m = t->m;
    int maxT = t->train->max_len;
    if (t->dev && t->dev->max_len > maxT)
        maxT = t->dev->max_len;
    int err = cl_classifier_create(&t->clf, m, maxT, t->B);
    err = err ? err : cl_clfeval_metrics_init(&t->dm, t->K);
    if (!err && t->c.class_weights)
        err = (t->weights = malloc(sizeof *t->weights * (size_t)t->K))
                  ? cl_clfdata_class_weights(t->train, t->K, t->weights)
                  : CL_ENOMEM;
    return err ? err : alloc_run(t);
}

int cl_clftrain_create(cl_clftrain **out, cl_model *m, const cl_clftrain_config *c,
                       const cl_clfdata *train, const cl_clfdata *dev, cl_diag *d)
{
    *out = NULL;
    int err = check_config(m, c, train, dev, d);
    if (err)
        return err;
    cl_clftrain *t = calloc(1, sizeof *t);
    if (!t)
        return CL_ENOMEM;
    const cl_classifier_config *hc = cl_model_head(m, "head.classifier");
    t->m = m, t->c = *c, t->train = train, t->dev = dev && dev->n ? dev : NULL;
    t->share = c->shares.part;
    t->K = hc->nlabels, t->F = cl_classifier_feature_dim(hc, &m->enc), t->B = c->batch;
    if ((err = set_up(t)) != CL_OK) {
        cl_clftrain_free(t);
        return cl_diag_set(d, err, "cannot set up classifier training: %s", cl_strerror(err));
    }
    *out = t;
    return CL_OK;
}

/* ==== data order =========================================================== */

/* Shuffle, sort by length within windows, shuffle the batches. */
static long task_begin_epoch(void *ctx, long epoch, cl_rng *rng, cl_diag *d)
{
    cl_clftrain *t = ctx;
    int n = t->train->n, win = t->B * t->c.window;
    (void)epoch, (void)d;
    for (int i = 0; i < n; i++) /* the same start every epoch: a resume replans it */
        t->perm[i] = i;
    cl_rng_shuffle(rng, t->perm, n);
    for (int i = 0; i < n; i += win)
        cl_clfeval_sort_by_length(t->train, t->perm + i, n - i < win ? n - i : win, t->scratch);
    for (int b = 0; b < t->nbatches; b++)
        t->border[b] = b;
    cl_rng_shuffle(rng, t->border, t->nbatches);
    return t->nbatches;
}

/* This process's share of the k-th batch of the epoch into bids/blen/by
 * (and bfeats when frozen); returns its size (0: an empty share). */
static int load_batch(cl_clftrain *t, long k)
{
    const cl_clfdata *ds = t->train;
    int i0 = t->border[k] * t->B, s0, s1;
    cl_train_share(ds->n - i0 < t->B ? ds->n - i0 : t->B, t->share, t->c.shares.parts, &s0, &s1);
    int B = s1 - s0;
    i0 += s0;
    for (int b = 0; b < B; b++) {
        int i = t->perm[i0 + b];
        t->bids[b] = ds->ids + ds->off[i], t->blen[b] = ds->len[i], t->by[b] = ds->y[i];
        if (t->c.freeze)
            memcpy(t->bfeats + (size_t)b * t->F, t->train_feats + (size_t)i * t->F,
                   sizeof(float) * t->F);
    }
    return B;
}

/* ==== one step ============================================================= */

/* What the head's weighted mean divides by. */
static double weight_sum(const cl_clftrain *t, int B)
{
    double s = 0;
    for (int b = 0; b < B; b++)
        s += t->by[b] >= 0 && t->by[b] < t->K ? t->weights[t->by[b]] : 0;
    return s;
}

static int task_step(void *ctx, long k, cl_rng *rng, double *loss, double *count, cl_diag *d)
{
    cl_clftrain *t = ctx;
    cl_params *p = &t->m->params;
    int enc = !t->c.freeze, B = load_batch(t, k), err = CL_OK;
    *loss = 0, *count = 0;
    if (B == 0) /* a short batch leaves this share empty: nothing to add */
        return CL_OK;
    if (enc)
        err = cl_classifier_encode(t->clf, t->bids, t->blen, B, t->by, t->bfeats, 1, rng);
    else /* cached features: the n-grams of the batch for the head's NBSVM part */
        err = cl_classifier_ngrams(t->clf, t->bids, t->blen, B, t->by);
    *loss = err ? NAN
                : cl_classifier_head(t->clf, t->bfeats, B, t->by, t->weights, NULL, 1, rng);
    /* the head's loss is a mean over the batch (weighted by class with
     * class_weights): summed, it weighs like the others */
    *count = t->weights ? weight_sum(t, B) : B;
    *loss *= *count;
    cl_params_grads_count(p, *count);
    err = err ? err : cl_classifier_backward(t->clf, p, enc);
    return err ? cl_diag_set(d, err, "classifier step: %s", cl_strerror(err)) : CL_OK;
}

/* ==== evaluation =========================================================== */

static int task_evaluate(void *ctx, cl_train_score *s, cl_diag *d)
{
    cl_clftrain *t = ctx;
    cl_clfeval_metrics_reset(&t->dm);
    int err = t->c.freeze ? cl_clfeval_run_features(t->clf, t->dev, t->dev_feats, &t->dm)
                          : cl_clfeval_run(t->clf, t->dev, t->dev_order, &t->dm, d);
    if (err)
        return err;
    *s = (cl_train_score){cl_clfeval_accuracy(&t->dm), cl_clfeval_mean_loss(&t->dm), 1};
    return CL_OK;
}

/* ==== the loop ============================================================= */

/* Standardisation from the initial encoder's features of the training set
 * (one forward pass, before any step). */
static int set_norm_from_scratch(cl_clftrain *t)
{
    float *feats = malloc(sizeof(float) * (size_t)t->train->n * t->F);
    int err = feats ? cl_clfeval_features(t->clf, t->train, 1, feats) : CL_ENOMEM;
    err = err ? err : cl_classifier_set_norm(t->m, feats, (size_t)t->train->n);
    free(feats);
    return err;
}

/* Counts and standardisation are constants of the model: a resumed run
 * keeps those of the run it continues (its encoder has moved on since). */
static int task_prepare(void *ctx, int resumed, cl_diag *d)
{
    cl_clftrain *t = ctx;
    const cl_classifier_config *hc = cl_model_head(t->m, "head.classifier");
    int norm = t->c.normalize && hc->norm && !resumed;
    int err = CL_OK;
    if (hc->ngram && !resumed)
        err = cl_clfdata_count_ngrams(t->train, t->clf, &t->m->params);
    if (!err && !t->c.freeze)
        err = norm ? set_norm_from_scratch(t) : CL_OK;
    else if (!err) {
        err = cl_clfeval_features(t->clf, t->train, 1, t->train_feats);
        err = err ? err : t->dev ? cl_clfeval_features(t->clf, t->dev, 0, t->dev_feats) : CL_OK;
        if (!err && norm)
            err = cl_classifier_set_norm(t->m, t->train_feats, (size_t)t->train->n);
    }
    return err ? cl_diag_set(d, err, "computing the encoder features: %s", cl_strerror(err))
               : CL_OK;
}

/* Share part + i of every batch. */
static int task_select(void *ctx, int i)
{
    cl_clftrain *t = ctx;
    if (i < 0 || i >= t->c.shares.local)
        return CL_EINVAL;
    t->share = t->c.shares.part + i;
    return CL_OK;
}

static int task_set_precision(void *ctx, cl_precision p)
{
    return cl_classifier_set_precision(((cl_clftrain *)ctx)->clf, p);
}

cl_train_task cl_clftrain_task(cl_clftrain *t)
{
    cl_train_task k = {t, "classifier", task_prepare, task_begin_epoch, task_step,
                       t->dev ? task_evaluate : NULL, NULL, log((double)t->K), task_select,
                       task_set_precision};
    return k;
}

int cl_clftrain_groups(const cl_clftrain *t, float lr, float encoder_lr, cl_train_group *g)
{
    int frozen = t->c.freeze || !(encoder_lr > 0);
    g[0] = cl_train_group_of(t->m, "encoder", frozen ? lr : encoder_lr, frozen);
    g[1] = cl_train_group_of(t->m, "head.classifier", lr, 0);
    int iw = cl_params_find(&t->m->params, "head.classifier.ngram_weight");
    if (iw < 0 || !(t->c.nbsvm_lr > 0))
        return 2;
    g[2] = g[1];
    g[1].end = g[2].begin = t->m->params.t[iw].offset;
    g[2].lr = t->c.nbsvm_lr;
    return 3;
}
