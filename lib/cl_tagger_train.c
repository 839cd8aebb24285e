/* cl_tagger_train: scoring and the training loop of the tagger head.
 *
 * Batches: each epoch the sentences are shuffled (seeded cl_rng), sorted by
 * length within windows of 20 batches, so a batch holds sentences of similar
 * length (little padding), cut into batches, and the batches shuffled.  The
 * workspace is sized for the epoch's largest batch before its first step. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cl_optim.h"
#include "cl_tagger_impl.h"

#define SORT_WINDOW 20 /* batches whose sentences are sorted together */

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* ==== ordering ============================================================= */

/* qsort has no context argument: sort (length, id) pairs instead. */
typedef struct {
    int len, id;
} len_id;

static int cmp_len(const void *a, const void *b)
{
    const len_id *x = a, *y = b;
    return x->len != y->len ? x->len - y->len : x->id - y->id;
}

/* Sort ids[0..n) by sentence length (stable by id). */
static void sort_by_length(const cl_tagger_data *x, int *ids, int n, len_id *tmp)
{
    for (int i = 0; i < n; i++)
        tmp[i].len = x->start[ids[i] + 1] - x->start[ids[i]], tmp[i].id = ids[i];
    qsort(tmp, (size_t)n, sizeof *tmp, cmp_len);
    for (int i = 0; i < n; i++)
        ids[i] = tmp[i].id;
}

static void shuffle(int *a, int n, cl_rng *rng)
{
    for (int i = n - 1; i > 0; i--) {
        int j = (int)cl_rng_below(rng, (uint64_t)i + 1), v = a[i];
        a[i] = a[j], a[j] = v;
    }
}

/* ==== scoring ============================================================== */

void cl_tagger_eval_free(cl_tagger_eval *e)
{
    free(e->confusion);
    memset(e, 0, sizeof *e);
}

double cl_tagger_eval_accuracy(const cl_tagger_eval *e)
{
    return e->words ? (double)e->correct / e->words : NAN;
}

double cl_tagger_eval_unseen_accuracy(const cl_tagger_eval *e)
{
    return e->unseen ? (double)e->unseen_correct / e->unseen : NAN;
}

static void score(const cl_tagger_data *x, const int *pred, cl_tagger_eval *e)
{
    for (int w = 0; w < x->nwords; w++) {
        int g = x->gold[w];
        if (g == -1)
            continue; /* no gold tag */
        if (g < 0) { /* a tag outside the tag set: always wrong */
            e->words++, e->unknown_gold++, e->unseen += x->unseen[w];
            continue;
        }
        int ok = pred[w] == g;
        e->words++, e->correct += ok;
        e->unseen += x->unseen[w], e->unseen_correct += ok && x->unseen[w];
        e->confusion[(size_t)g * e->ntags + pred[w]]++;
    }
}

/* Batches of at most `batch` sentences and max_words words (the char
 * BiLSTM's workspace, which keeps what training needs, grows with the words
 * of a batch: ~0.3 MB per word).  Training takes larger batches than tagging,
 * where 256 words already keep the matrix products efficient. */
#define TRAIN_BATCH_WORDS 1024
#define TAG_BATCH_WORDS 256

static int next_batch(const cl_tagger_data *x, const int *order, int b, int S, int batch,
                      int max_words)
{
    int e = b + 1, words = x->start[order[b] + 1] - x->start[order[b]];
    while (e < S && e - b < batch) {
        words += x->start[order[e] + 1] - x->start[order[e]];
        if (words > max_words)
            break;
        e++;
    }
    return e;
}

static int reserve_all(cl_tagger *t, const cl_tagger_data *x, const int *order, int S, int batch,
                       int max_words)
{
    int mN = 1, mS = 1, mTc = 1, mTw = 1, mTl = 1;
    for (int b = 0, e; b < S; b = e) {
        int N, Tc, Tw, Tl;
        e = next_batch(x, order, b, S, batch, max_words);
        cl_tagger_batch_shape(x, order + b, e - b, &N, &Tc, &Tw, &Tl);
        mN = N > mN ? N : mN, mS = e - b > mS ? e - b : mS, mTc = Tc > mTc ? Tc : mTc;
        mTw = Tw > mTw ? Tw : mTw, mTl = Tl > mTl ? Tl : mTl;
    }
    return cl_tagger_ws_reserve(t, mN, mS, mTc, mTw, mTl);
}

/* Room for any batch of ordinary sentences from the start: a caller that
 * tags chunk after chunk (charlstm tag) then never reallocates, which would
 * cost more than the tagging (fresh pages are zeroed by the kernel). */
static int reserve_typical(cl_tagger *t, int batch)
{
    const cl_tagger_config *c = t->cfg;
    int Tw = 80, Tl = c->use_lm ? 8 * Tw : 1;
    return cl_tagger_ws_reserve(t, TAG_BATCH_WORDS, batch, c->max_word_chars, Tw, Tl);
}

static int predict_all(cl_tagger *t, const cl_tagger_data *x, int batch, int *pred)
{
    int S = x->nsent, err = CL_OK;
    int *order = malloc(sizeof *order * (size_t)(S ? S : 1));
    len_id *tmp = malloc(sizeof *tmp * (size_t)(S ? S : 1));
    if (!order || !tmp)
        err = CL_ENOMEM;
    for (int s = 0; s < S && !err; s++)
        order[s] = s;
    if (!err)
        sort_by_length(x, order, S, tmp);
    err = err ? err : reserve_typical(t, batch);
    err = err ? err : reserve_all(t, x, order, S, batch, TAG_BATCH_WORDS);
    for (int b = 0, e; b < S && !err; b = e) {
        e = next_batch(x, order, b, S, batch, TAG_BATCH_WORDS);
        err = cl_tagger_predict(t, x, order + b, e - b, pred);
    }
    free(order), free(tmp);
    return err;
}

int cl_tagger_evaluate(cl_tagger *t, const cl_tagger_data *x, int batch, cl_tagger_eval *e,
                       int *pred)
{
    memset(e, 0, sizeof *e);
    e->ntags = t->cfg->ntags;
    e->confusion = calloc((size_t)e->ntags * e->ntags, sizeof *e->confusion);
    int *p = pred ? pred : malloc(sizeof *p * (size_t)(x->nwords ? x->nwords : 1));
    int err = e->confusion && p ? CL_OK : CL_ENOMEM;
    err = err ? err : predict_all(t, x, batch < 1 ? 1 : batch, p);
    if (!err)
        score(x, p, e);
    if (p != pred)
        free(p);
    if (err)
        cl_tagger_eval_free(e);
    return err;
}

/* ==== training ============================================================= */

/* Fills cache slot i with x's encoder states (see cl_tagger.lmc), in batches
 * of sentences of similar length, shaped like the training batches so the
 * workspace does not grow beyond what training needs. */
static int lm_cache(cl_tagger *t, const cl_tagger_data *x, int i, int batch)
{
    int S = x->nsent, err = CL_OK;
    int *order = malloc(sizeof *order * (size_t)(S ? S : 1));
    len_id *tmp = malloc(sizeof *tmp * (size_t)(S ? S : 1));
    t->lmc[i] = cl_alloc(((size_t)x->nwords * t->lm_dim + 16) * sizeof(float));
    t->lmc_x[i] = x;
    if (!order || !tmp || !t->lmc[i])
        err = CL_ENOMEM;
    for (int s = 0; s < S && !err; s++)
        order[s] = s;
    if (!err)
        sort_by_length(x, order, S, tmp);
    err = err ? err : reserve_all(t, x, order, S, batch, TRAIN_BATCH_WORDS);
    for (int b = 0, e; b < S && !err; b = e) {
        e = next_batch(x, order, b, S, batch, TRAIN_BATCH_WORDS);
        err = cl_tagger_lm_states(t, x, order + b, e - b, t->lmc[i]);
    }
    free(order), free(tmp);
    return err;
}

static void lm_cache_free(cl_tagger *t)
{
    for (int i = 0; i < 2; i++)
        free(t->lmc[i]), t->lmc[i] = NULL, t->lmc_x[i] = NULL;
}

cl_tagger_train_config cl_tagger_train_defaults(void)
{
    cl_tagger_train_config c = {32, 2e-3f, 5.0f, 1.0f, 30, 5, 0, 1, 0};
    return c;
}

typedef struct {
    cl_tagger *t;
    const cl_tagger_data *train, *dev;
    cl_tagger_train_config c;
    const cl_tagger_train_hooks *h;
    cl_rng rng;
    cl_optim opt;
    size_t pb, pe;      /* the head's parameter range */
    float *best;        /* the best parameters so far */
    float *avg, *cur;   /* with ema: the moving average; the raw parameters while it is evaluated */
    int *order;         /* [nsent] sentences in batch order */
    int *bstart, *perm; /* [nbatch + 1] batch starts in order; [nbatch] batch order */
    len_id *tmp;
    int nbatch;
    double t0, loss_sum;
    long loss_count;
    cl_tagger_train_stats st;
} trainer;

static void trainer_free(trainer *r)
{
    lm_cache_free(r->t);
    cl_optim_free(&r->opt);
    free(r->avg), free(r->cur);
    free(r->best), free(r->order), free(r->bstart), free(r->perm), free(r->tmp);
}

static int trainer_init(trainer *r)
{
    int S = r->train->nsent;
    cl_rng_seed(&r->rng, r->c.seed);
    cl_model_param_range(r->t->m, "head.tagger", &r->pb, &r->pe);
    cl_optim_config oc = cl_optim_defaults();
    oc.lr = r->c.lr;
    int err = cl_optim_create(&r->opt, &oc, r->pe - r->pb);
    r->nbatch = (S + r->c.batch - 1) / r->c.batch;
    r->best = cl_alloc((r->pe - r->pb) * sizeof(float));
    r->order = malloc(sizeof(int) * (size_t)S);
    r->bstart = malloc(sizeof(int) * (size_t)(S + 1));
    r->perm = malloc(sizeof(int) * (size_t)S);
    r->tmp = malloc(sizeof(len_id) * (size_t)S);
    if (!err && (!r->best || !r->order || !r->bstart || !r->perm || !r->tmp))
        err = CL_ENOMEM;
    if (!err && r->c.ema > 0) {
        r->avg = cl_alloc((r->pe - r->pb) * sizeof(float));
        r->cur = cl_alloc((r->pe - r->pb) * sizeof(float));
        if (!r->avg || !r->cur)
            err = CL_ENOMEM;
        else
            memcpy(r->avg, r->t->m->params.w + r->pb, (r->pe - r->pb) * sizeof(float));
    }
    r->st.dev_acc = r->st.best_acc = NAN;
    r->st.epochs = r->c.epochs;
    r->st.steps_per_epoch = r->nbatch;
    if (!err && r->t->lm_dim)
        err = lm_cache(r->t, r->train, 0, r->c.batch);
    if (!err && r->t->lm_dim && r->dev)
        err = lm_cache(r->t, r->dev, 1, r->c.batch);
    return err;
}

/* This epoch's batches (at most `batch` sentences and TRAIN_BATCH_WORDS
 * words each); reserves the workspace for the largest. */
static int plan_epoch(trainer *r)
{
    int S = r->train->nsent, B = r->c.batch, W = B * SORT_WINDOW;
    for (int s = 0; s < S; s++)
        r->order[s] = s;
    shuffle(r->order, S, &r->rng);
    for (int s = 0; s < S; s += W)
        sort_by_length(r->train, r->order + s, s + W <= S ? W : S - s, r->tmp);
    r->nbatch = 0;
    for (int b = 0; b < S; b = r->bstart[r->nbatch]) {
        r->perm[r->nbatch] = r->nbatch;
        r->bstart[r->nbatch++] = b;
        r->bstart[r->nbatch] = next_batch(r->train, r->order, b, S, B, TRAIN_BATCH_WORDS);
    }
    r->st.steps_per_epoch = r->nbatch;
    shuffle(r->perm, r->nbatch, &r->rng);
    return reserve_all(r->t, r->train, r->order, S, B, TRAIN_BATCH_WORDS);
}

static int train_step(trainer *r, int b, float lr)
{
    cl_params *p = &r->t->m->params;
    const int *sents = r->order + r->bstart[b];
    int ns = r->bstart[b + 1] - r->bstart[b];
    long count;
    memset(p->g + r->pb, 0, (r->pe - r->pb) * sizeof(float));
    double loss = cl_tagger_forward(r->t, r->train, sents, ns, 1, &r->rng, &count);
    if (loss != loss)
        return CL_EINVAL;
    if (count == 0)
        return CL_OK;
    int err = cl_tagger_backward(r->t, r->train, sents, ns);
    if (err)
        return err;
    cl_grad_clip(p->g + r->pb, r->pe - r->pb, r->c.clip);
    cl_optim_begin(&r->opt);
    cl_optim_update(&r->opt, p->w + r->pb, p->g + r->pb, 0, r->pe - r->pb, lr);
    r->loss_sum += loss, r->loss_count += count;
    r->st.words += count;
    return CL_OK;
}

static int out_of_time(const trainer *r)
{
    return r->c.max_seconds > 0 && now_seconds() - r->t0 >= r->c.max_seconds;
}

/* The moving average follows the parameters after each step; the warm-up
 * keeps the random initialisation from lingering in it. */
static void ema_update(trainer *r)
{
    if (!r->avg)
        return;
    float k = (float)r->st.step, a = (1 + k) / (10 + k);
    a = a < r->c.ema ? a : r->c.ema;
    const float *w = r->t->m->params.w + r->pb;
    for (size_t i = 0, n = r->pe - r->pb; i < n; i++)
        r->avg[i] = a * r->avg[i] + (1 - a) * w[i];
}

/* With ema, the average stands in for the parameters during an evaluation
 * (in = 1) and the raw ones come back afterwards (in = 0). */
static void ema_swap(trainer *r, int in)
{
    if (!r->avg)
        return;
    float *w = r->t->m->params.w + r->pb;
    size_t bytes = (r->pe - r->pb) * sizeof(float);
    if (in)
        memcpy(r->cur, w, bytes), memcpy(w, r->avg, bytes);
    else
        memcpy(w, r->cur, bytes);
}

/* One epoch; CL_EINTR when stop() asked, 1 when the time is up. */
static int run_epoch(trainer *r, float lr)
{
    int err = plan_epoch(r);
    r->loss_sum = 0, r->loss_count = 0;
    for (int i = 0; i < r->nbatch && !err; i++) {
        if (r->h && r->h->stop && r->h->stop(r->h->ctx))
            return CL_EINTR;
        if (out_of_time(r))
            return 1;
        err = train_step(r, r->perm[i], lr);
        ema_update(r);
        r->st.step++;
        r->st.train_loss = r->loss_count ? r->loss_sum / r->loss_count : NAN;
        r->st.elapsed = now_seconds() - r->t0;
        if (!err && r->h && r->h->progress)
            r->h->progress(&r->st, r->h->ctx);
    }
    return err;
}

/* Dev accuracy after an epoch; keeps the best parameters and calls the hooks.
 * Returns non-zero to stop (error, or patience exhausted: 1). */
static int after_epoch(trainer *r, cl_diag *d)
{
    const float *w = r->t->m->params.w + r->pb;
    double acc = 0;
    if (r->dev) {
        cl_tagger_eval e;
        int err = cl_tagger_evaluate(r->t, r->dev, 64, &e, NULL);
        if (err)
            return cl_diag_set(d, err, "evaluating on the dev set: %s", cl_strerror(err));
        acc = cl_tagger_eval_accuracy(&e);
        cl_tagger_eval_free(&e);
    }
    r->st.dev_acc = r->dev ? acc : NAN;
    r->st.improved = !r->dev || !(acc <= r->st.best_acc);
    if (r->st.improved) {
        r->st.best_acc = r->st.dev_acc, r->st.best_epoch = r->st.epoch;
        memcpy(r->best, w, (r->pe - r->pb) * sizeof(float));
    }
    r->st.elapsed = now_seconds() - r->t0;
    if (r->h && r->h->evaluated && r->h->evaluated(&r->st, r->h->ctx))
        return cl_diag_set(d, CL_EINTR, "stopped by the caller");
    if (r->h && r->h->save && r->h->save(r->st.improved, r->h->ctx))
        return cl_diag_set(d, CL_EIO, "saving the model failed");
    int patience = r->c.patience > 0 && r->st.epoch - r->st.best_epoch >= r->c.patience;
    return patience ? 1 : 0;
}

static int train_loop(trainer *r, cl_diag *d)
{
    float lr = r->c.lr;
    int err = CL_OK;
    for (int ep = 1; !r->c.epochs || ep <= r->c.epochs; ep++, lr *= r->c.lr_decay) {
        r->st.epoch = ep;
        err = run_epoch(r, lr);
        if (err < 0 && err != CL_EINTR)
            return cl_diag_set(d, err, "training step: %s", cl_strerror(err));
        if (err) /* interrupted or out of time: this partial epoch is not scored */
            break;
        ema_swap(r, 1);
        err = after_epoch(r, d);
        ema_swap(r, 0);
        if (err)
            break;
    }
    return err;
}

int cl_tagger_train(cl_tagger *t, const cl_tagger_data *train, const cl_tagger_data *dev,
                    const cl_tagger_train_config *c, const cl_tagger_train_hooks *h,
                    cl_tagger_train_stats *final_stats, cl_diag *d)
{
    if (c->batch < 1 || train->nsent < 1)
        return cl_diag_set(d, CL_EINVAL, "no training sentences or batch < 1");
    trainer r = {.t = t, .train = train, .dev = dev, .c = *c, .h = h, .t0 = now_seconds()};
    int err = trainer_init(&r);
    if (!err) {
        err = train_loop(&r, d);
        if (r.st.best_epoch > 0) /* the model leaves with its best parameters */
            memcpy(t->m->params.w + r.pb, r.best, (r.pe - r.pb) * sizeof(float));
        if (err == 1)
            err = CL_OK;
    }
    if (final_stats)
        *final_stats = r.st;
    trainer_free(&r);
    return err;
}
