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
    cl_optim opt;
    cl_rng rng;
    int K, F, B, cur_B;                  /* cur_B: size of the last batch */
    size_t enc_b, enc_e, head_b, head_e; /* parameter ranges trained */
    float *weights;                      /* [K] class weights or NULL */
    float *best_w;                       /* [params.n] best weights so far */
    int have_best;
    int *perm, *border, nbatches;        /* epoch order; batch b starts at perm[border[b]*B] */
    uint64_t *scratch;                   /* [n] for sorting */
    const int **bids;                    /* [B] one batch */
    int *blen, *by;
    float *bfeats;                       /* [B, F] */
    float *train_feats, *dev_feats;      /* frozen: cached features [n, F] */
    float *probs;                        /* [B, K] */
    int *dev_order;
    cl_clfeval_metrics dm;
    long step;
    double loss_sum;
    long loss_n;
    cl_clftrain_stats stats;
};

cl_clftrain_config cl_clftrain_defaults(void)
{
    cl_clftrain_config c = {0};
    c.batch = 32, c.window = 50, c.lr = 1e-3f, c.encoder_lr = 1e-4f, c.clip = 5.0f;
    c.max_epochs = 10, c.patience = 3, c.seed = 1, c.normalize = 1;
    return c;
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

const cl_clftrain_stats *cl_clftrain_stats_get(const cl_clftrain *t) { return &t->stats; }

/* ==== set-up =============================================================== */

void cl_clftrain_free(cl_clftrain *t)
{
    if (!t)
        return;
    cl_classifier_free(t->clf);
    cl_optim_free(&t->opt);
    cl_clfeval_metrics_free(&t->dm);
    free(t->weights), free(t->best_w), free(t->perm), free(t->border), free(t->scratch);
    free(t->bids), free(t->blen), free(t->by), free(t->bfeats), free(t->train_feats);
    free(t->dev_feats), free(t->probs), free(t->dev_order);
    free(t);
}

static int check_config(const cl_model *m, const cl_clftrain_config *c, const cl_clfdata *train,
                        const cl_clfdata *dev, cl_diag *d)
{
    if (!cl_model_head(m, "head.classifier"))
        return cl_diag_set(d, CL_EINVAL, "the model has no classifier head");
    if (c->batch < 1 || c->window < 1 || !(c->lr > 0) || !(c->encoder_lr >= 0) ||
        !(c->clip >= 0) || c->max_epochs < 0 || c->max_steps < 0 || c->patience < 0 ||
        c->eval_every < 0)
        return cl_diag_set(d, CL_EINVAL, "invalid classifier training configuration");
    if (!train->y || (dev && !dev->y))
        return cl_diag_set(d, CL_EINVAL, "training data not encoded for the model");
    if (train->n < 1)
        return cl_diag_set(d, CL_EEMPTY, "no training sentences");
    return CL_OK;
}

/* n / (K * count_k): every class weighs as much in total. */
static int make_weights(cl_clftrain *t)
{
    long *counts = calloc((size_t)t->K, sizeof *counts);
    t->weights = malloc(sizeof *t->weights * (size_t)t->K);
    if (!counts || !t->weights) {
        free(counts);
        return CL_ENOMEM;
    }
    cl_clfdata_label_counts(t->train, t->K, counts);
    for (int k = 0; k < t->K; k++)
        t->weights[k] = counts[k] ? (float)t->train->n / ((float)t->K * (float)counts[k]) : 0;
    free(counts);
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
    t->bfeats = cl_alloc(sizeof(float) * B * t->F), t->probs = malloc(sizeof(float) * B * t->K);
    t->best_w = cl_alloc(sizeof(float) * t->m->params.n);
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
    return t->perm && t->scratch && t->border && t->bids && t->blen && t->by && t->bfeats &&
                   t->probs && t->best_w
               ? CL_OK
               : CL_ENOMEM;
}

static int set_up(cl_clftrain *t)
{
    const cl_model *m = t->m;
    int maxT = t->train->max_len;
    if (t->dev && t->dev->max_len > maxT)
        maxT = t->dev->max_len;
    cl_model_param_range(m, "encoder", &t->enc_b, &t->enc_e);
    cl_classifier_trained_range(m, &t->head_b, &t->head_e);
    cl_optim_config oc = cl_optim_defaults();
    oc.lr = t->c.lr;
    int err = cl_classifier_create(&t->clf, m, maxT, t->B);
    err = err ? err : cl_optim_create(&t->opt, &oc, m->params.n);
    err = err ? err : cl_clfeval_metrics_init(&t->dm, t->K);
    err = err ? err : t->c.class_weights ? make_weights(t) : CL_OK;
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
    t->K = hc->nlabels, t->F = cl_classifier_feature_dim(hc, &m->enc), t->B = c->batch;
    cl_rng_seed(&t->rng, c->seed ^ 0xc1a55ULL);
    if ((err = set_up(t)) != CL_OK) {
        cl_clftrain_free(t);
        return cl_diag_set(d, err, "cannot set up classifier training: %s", cl_strerror(err));
    }
    *out = t;
    return CL_OK;
}

/* ==== data order =========================================================== */

static void shuffle_ints(int *a, int n, cl_rng *rng)
{
    for (int i = n - 1; i > 0; i--) {
        int j = (int)cl_rng_below(rng, (uint64_t)i + 1), x = a[i];
        a[i] = a[j], a[j] = x;
    }
}

/* Shuffle, sort by length within windows, shuffle the batches. */
static void new_epoch_order(cl_clftrain *t)
{
    int n = t->train->n, win = t->B * t->c.window;
    shuffle_ints(t->perm, n, &t->rng);
    for (int i = 0; i < n; i += win)
        cl_clfeval_sort_by_length(t->train, t->perm + i, n - i < win ? n - i : win, t->scratch);
    for (int b = 0; b < t->nbatches; b++)
        t->border[b] = b;
    shuffle_ints(t->border, t->nbatches, &t->rng);
}

/* The k-th batch of the epoch into bids/blen/by (and bfeats when frozen). */
static int load_batch(cl_clftrain *t, long k)
{
    const cl_clfdata *ds = t->train;
    int i0 = t->border[k] * t->B, B = ds->n - i0 < t->B ? ds->n - i0 : t->B;
    for (int b = 0; b < B; b++) {
        int i = t->perm[i0 + b];
        t->bids[b] = ds->ids + ds->off[i], t->blen[b] = ds->len[i], t->by[b] = ds->y[i];
        if (t->c.freeze)
            memcpy(t->bfeats + (size_t)b * t->F, t->train_feats + (size_t)i * t->F,
                   sizeof(float) * t->F);
    }
    return B;
}

/* ==== frozen features ====================================================== */

/* Features of every text of ds into cache [n, F]; own != 0: ds is the
 * training set, counted in the n-gram table (leave-one-out evidence). */
static int cache_features(cl_clftrain *t, const cl_clfdata *ds, int own, float *cache)
{
    int *order = t->perm; /* reused: sorted by length, so batches pad little */
    for (int i = 0; i < ds->n; i++)
        order[i] = i;
    cl_clfeval_sort_by_length(ds, order, ds->n, t->scratch);
    int err = CL_OK;
    for (int i0 = 0; i0 < ds->n && !err; i0 += t->B) {
        int B = ds->n - i0 < t->B ? ds->n - i0 : t->B;
        for (int b = 0; b < B; b++) {
            int i = order[i0 + b];
            t->bids[b] = ds->ids + ds->off[i], t->blen[b] = ds->len[i], t->by[b] = ds->y[i];
        }
        err = cl_classifier_encode(t->clf, t->bids, t->blen, B, own ? t->by : NULL, t->bfeats,
                                   0, NULL);
        for (int b = 0; b < B && !err; b++)
            memcpy(cache + (size_t)order[i0 + b] * t->F, t->bfeats + (size_t)b * t->F,
                   sizeof(float) * t->F);
    }
    for (int i = 0; i < t->train->n; i++) /* perm must be a permutation of train again */
        t->perm[i] = i;
    return err;
}

/* ==== one step ============================================================= */

static void zero_range(float *g, size_t b, size_t e) { memset(g + b, 0, sizeof(float) * (e - b)); }

static double sumsq(const float *g, size_t b, size_t e)
{
    double s = 0;
    for (size_t i = b; i < e; i++)
        s += (double)g[i] * g[i];
    return s;
}

static void scale_range(float *g, size_t b, size_t e, float s)
{
    for (size_t i = b; i < e; i++)
        g[i] *= s;
}

/* Clip the norm of the trained gradients (head, and encoder unless frozen). */
static void clip(cl_clftrain *t, float *g)
{
    int enc = !t->c.freeze;
    double n2 = sumsq(g, t->head_b, t->head_e) + (enc ? sumsq(g, t->enc_b, t->enc_e) : 0);
    double norm = sqrt(n2);
    if (t->c.clip <= 0 || norm <= t->c.clip)
        return;
    float s = (float)(t->c.clip / norm);
    scale_range(g, t->head_b, t->head_e, s);
    if (enc)
        scale_range(g, t->enc_b, t->enc_e, s);
}

static int train_step(cl_clftrain *t, long k)
{
    cl_params *p = &t->m->params;
    int enc = !t->c.freeze, B = t->cur_B = load_batch(t, k), err = CL_OK;
    zero_range(p->g, t->head_b, t->head_e);
    if (enc) {
        zero_range(p->g, t->enc_b, t->enc_e);
        err = cl_classifier_encode(t->clf, t->bids, t->blen, B, t->by, t->bfeats, 1, &t->rng);
    }
    double loss = err ? NAN
                      : cl_classifier_head(t->clf, t->bfeats, B, t->by, t->weights, NULL, 1,
                                           &t->rng);
    err = err ? err : cl_classifier_backward(t->clf, p, enc);
    if (err)
        return err;
    clip(t, p->g);
    cl_optim_begin(&t->opt);
    cl_optim_update(&t->opt, p->w, p->g, t->head_b, t->head_e, t->c.lr);
    if (enc && t->c.encoder_lr > 0)
        cl_optim_update(&t->opt, p->w, p->g, t->enc_b, t->enc_e, t->c.encoder_lr);
    t->loss_sum += loss, t->loss_n++;
    t->step++;
    return CL_OK;
}

/* ==== evaluation =========================================================== */

static int eval_cached(cl_clftrain *t)
{
    const cl_clfdata *ds = t->dev;
    for (int i0 = 0; i0 < ds->n; i0 += t->B) {
        int B = ds->n - i0 < t->B ? ds->n - i0 : t->B;
        double r = cl_classifier_head(t->clf, t->dev_feats + (size_t)i0 * t->F, B, NULL, NULL,
                                      t->probs, 0, NULL);
        if (isnan(r))
            return CL_EINVAL;
        for (int b = 0; b < B; b++)
            cl_clfeval_metrics_add(&t->dm, ds->y[i0 + b], t->probs + (size_t)b * t->K);
    }
    return CL_OK;
}

static void note_result(cl_clftrain *t)
{
    cl_clftrain_stats *s = &t->stats;
    s->dev_acc = cl_clfeval_accuracy(&t->dm), s->dev_loss = cl_clfeval_mean_loss(&t->dm);
    s->improved = isnan(s->best_acc) || s->dev_acc > s->best_acc ||
                  (s->dev_acc == s->best_acc && s->dev_loss < s->best_loss);
    if (s->improved)
        s->best_acc = s->dev_acc, s->best_loss = s->dev_loss, s->best_epoch = s->epoch;
    s->stale = s->improved ? 0 : s->stale + 1;
}

static int evaluate(cl_clftrain *t, const cl_clftrain_hooks *h, cl_diag *d)
{
    cl_clftrain_stats *s = &t->stats;
    s->train_loss = t->loss_n ? t->loss_sum / (double)t->loss_n : NAN;
    t->loss_sum = 0, t->loss_n = 0;
    s->improved = 1;
    if (t->dev) {
        cl_clfeval_metrics_reset(&t->dm);
        int err = t->c.freeze ? eval_cached(t)
                              : cl_clfeval_run(t->clf, t->dev, t->dev_order, &t->dm, d);
        if (err)
            return err;
        note_result(t);
    }
    if (s->improved) {
        memcpy(t->best_w, t->m->params.w, sizeof(float) * t->m->params.n);
        t->have_best = 1;
    }
    if (h->evaluated && h->evaluated(s, t->dev ? &t->dm : NULL, h->ctx))
        return CL_EINTR;
    return h->save ? h->save(s->improved, h->ctx) : CL_OK;
}

/* ==== the loop ============================================================= */

static void fill_stats(cl_clftrain *t, double t0, double train_s, long sents)
{
    cl_clftrain_stats *s = &t->stats;
    double elapsed = now() - t0, step_rate = elapsed > 0 ? (double)t->step / elapsed : 0;
    s->step = t->step, s->steps_per_epoch = t->nbatches;
    s->epoch = (double)t->step / t->nbatches;
    s->elapsed = elapsed;
    s->sents_per_sec = train_s > 0 ? (double)sents / train_s : 0;
    if (t->loss_n)
        s->train_loss = t->loss_sum / (double)t->loss_n;
    double eta = INFINITY;
    if (t->c.max_steps && step_rate > 0)
        eta = fmin(eta, (double)(t->c.max_steps - t->step) / step_rate);
    if (t->c.max_epochs && step_rate > 0)
        eta = fmin(eta, ((double)t->c.max_epochs * t->nbatches - (double)t->step) / step_rate);
    if (t->c.max_seconds > 0)
        eta = fmin(eta, t->c.max_seconds - elapsed);
    s->eta = isinf(eta) ? NAN : fmax(eta, 0);
}

static int limit_reached(const cl_clftrain *t, double t0)
{
    return (t->c.max_steps && t->step >= t->c.max_steps) ||
           (t->c.max_epochs && t->step >= (long)t->c.max_epochs * t->nbatches) ||
           (t->c.max_seconds > 0 && now() - t0 >= t->c.max_seconds) || t->stats.stopped_early;
}

static int is_eval_step(const cl_clftrain *t)
{
    return t->c.eval_every ? t->step % t->c.eval_every == 0 : t->step % t->nbatches == 0;
}

/* Standardisation from the initial encoder's features of the training set
 * (one forward pass, before any step). */
static int set_norm_from_scratch(cl_clftrain *t)
{
    float *feats = malloc(sizeof(float) * (size_t)t->train->n * t->F);
    int err = feats ? cache_features(t, t->train, 1, feats) : CL_ENOMEM;
    err = err ? err : cl_classifier_set_norm(t->m, feats, (size_t)t->train->n);
    free(feats);
    return err;
}

/* The n-gram table from the training texts (as cut to max_chars). */
static int count_ngrams(cl_clftrain *t)
{
    const cl_clfdata *ds = t->train;
    const int **ids = malloc(sizeof *ids * (size_t)ds->n);
    if (!ids)
        return CL_ENOMEM;
    for (int i = 0; i < ds->n; i++)
        ids[i] = ds->ids + ds->off[i];
    int err = cl_classifier_count_ngrams(t->clf, &t->m->params, ids, ds->len, ds->y,
                                         (size_t)ds->n);
    free(ids);
    return err;
}

static int prepare(cl_clftrain *t, double t0)
{
    t->stats = (cl_clftrain_stats){0};
    t->stats.best_acc = t->stats.best_loss = t->stats.dev_acc = t->stats.dev_loss = NAN;
    t->stats.train_loss = t->stats.eta = NAN;
    t->step = 0, t->have_best = 0, t->loss_sum = 0, t->loss_n = 0;
    const cl_classifier_config *hc = cl_model_head(t->m, "head.classifier");
    int norm = t->c.normalize && hc->norm;
    int err = hc->ngram ? count_ngrams(t) : CL_OK;
    if (err || !t->c.freeze)
        return err ? err : norm ? set_norm_from_scratch(t) : CL_OK;
    err = cache_features(t, t->train, 1, t->train_feats);
    err = err ? err : t->dev ? cache_features(t, t->dev, 0, t->dev_feats) : CL_OK;
    if (!err && norm)
        err = cl_classifier_set_norm(t->m, t->train_feats, (size_t)t->train->n);
    t->stats.feature_seconds = now() - t0;
    return err;
}

static int loop(cl_clftrain *t, const cl_clftrain_hooks *h, double t0, cl_diag *d)
{
    double train_s = 0, last_report = 0;
    long sents = 0, last_eval = -1;
    int err = CL_OK;
    while (!err && !limit_reached(t, t0)) {
        if (h->stop && h->stop(h->ctx))
            return CL_EINTR;
        long k = t->step % t->nbatches;
        if (k == 0)
            new_epoch_order(t);
        double s0 = now();
        err = train_step(t, k);
        train_s += now() - s0;
        sents += t->cur_B;
        fill_stats(t, t0, train_s, sents);
        if (h->progress && now() - last_report > 0.25) {
            h->progress(&t->stats, h->ctx);
            last_report = now();
        }
        if (!err && is_eval_step(t)) {
            err = evaluate(t, h, d);
            last_eval = t->step;
            if (t->c.patience && t->stats.stale >= t->c.patience)
                t->stats.stopped_early = 1;
        }
    }
    if (!err && last_eval != t->step && t->step > 0)
        err = evaluate(t, h, d);
    return err;
}

int cl_clftrain_run(cl_clftrain *t, const cl_clftrain_hooks *h, cl_diag *d)
{
    double t0 = now();
    int err = prepare(t, t0);
    if (err)
        return cl_diag_set(d, err, "computing the encoder features: %s", cl_strerror(err));
    err = loop(t, h, t0, d);
    if (t->have_best) /* the best weights seen, not the last ones */
        memcpy(t->m->params.w, t->best_w, sizeof(float) * t->m->params.n);
    return err;
}
