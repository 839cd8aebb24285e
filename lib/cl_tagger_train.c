/* cl_tagger_train: scoring, and the tagger's task of the training core.
 *
 * Batches: each epoch the sentences are shuffled (seeded cl_rng), sorted by
 * length within windows of 20 batches, so a batch holds sentences of similar
 * length (little padding), cut into batches, and the batches shuffled.  The
 * workspace is sized for the epoch's largest batch before its first step. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cl_tagger_impl.h"

#define SORT_WINDOW 20 /* batches whose sentences are sorted together */

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

int cl_tagger_tag(cl_tagger *t, const cl_tagger_data *x, int batch, int *pred, float *probs)
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
        err = cl_tagger_predict_probs(t, x, order + b, e - b, pred, probs);
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
    err = err ? err : cl_tagger_tag(t, x, batch < 1 ? 1 : batch, p, NULL);
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

struct cl_tagger_task {
    cl_tagger *t;
    const cl_tagger_data *train, *dev;
    int batch;
    int *order;         /* [nsent] sentences in batch order */
    int *bstart, *perm; /* [nbatch + 1] batch starts in order; [nbatch] batch order */
    len_id *tmp;
    int nbatch;
};

void cl_tagger_task_free(cl_tagger_task *k)
{
    if (!k)
        return;
    lm_cache_free(k->t);
    free(k->order), free(k->bstart), free(k->perm), free(k->tmp);
    free(k);
}

int cl_tagger_task_create(cl_tagger_task **out, cl_tagger *t, const cl_tagger_data *train,
                          const cl_tagger_data *dev, int batch, cl_diag *d)
{
    *out = NULL;
    if (batch < 1 || train->nsent < 1)
        return cl_diag_set(d, CL_EINVAL, "no training sentences or batch < 1");
    cl_tagger_task *k = calloc(1, sizeof *k);
    size_t S = (size_t)train->nsent;
    if (k) {
        k->t = t, k->train = train, k->dev = dev && dev->nsent ? dev : NULL, k->batch = batch;
        k->order = malloc(sizeof(int) * S), k->bstart = malloc(sizeof(int) * (S + 1));
        k->perm = malloc(sizeof(int) * S), k->tmp = malloc(sizeof(len_id) * S);
    }
    if (!k || !k->order || !k->bstart || !k->perm || !k->tmp) {
        cl_tagger_task_free(k);
        return cl_diag_set(d, CL_ENOMEM, "cannot set up tagger training: out of memory");
    }
    *out = k;
    return CL_OK;
}

/* The encoder never changes: its states are computed once. */
static int task_prepare(void *ctx, int resumed, cl_diag *d)
{
    cl_tagger_task *k = ctx;
    (void)resumed;
    int err = k->t->lm_dim ? lm_cache(k->t, k->train, 0, k->batch) : CL_OK;
    if (!err && k->t->lm_dim && k->dev)
        err = lm_cache(k->t, k->dev, 1, k->batch);
    return err ? cl_diag_set(d, err, "computing the encoder states: %s", cl_strerror(err)) : err;
}

/* This epoch's batches; reserves the workspace for the largest. */
static long task_begin_epoch(void *ctx, long epoch, cl_rng *rng, cl_diag *d)
{
    cl_tagger_task *k = ctx;
    int S = k->train->nsent, B = k->batch, W = B * SORT_WINDOW;
    (void)epoch;
    for (int s = 0; s < S; s++)
        k->order[s] = s;
    shuffle(k->order, S, rng);
    for (int s = 0; s < S; s += W)
        sort_by_length(k->train, k->order + s, s + W <= S ? W : S - s, k->tmp);
    k->nbatch = 0;
    for (int b = 0; b < S; b = k->bstart[k->nbatch]) {
        k->perm[k->nbatch] = k->nbatch;
        k->bstart[k->nbatch++] = b;
        k->bstart[k->nbatch] = next_batch(k->train, k->order, b, S, B, TRAIN_BATCH_WORDS);
    }
    shuffle(k->perm, k->nbatch, rng);
    int err = reserve_all(k->t, k->train, k->order, S, B, TRAIN_BATCH_WORDS);
    return err ? cl_diag_set(d, err, "tagger workspace: %s", cl_strerror(err)) : k->nbatch;
}

static int task_step(void *ctx, long i, cl_rng *rng, double *loss, double *count, cl_diag *d)
{
    cl_tagger_task *k = ctx;
    int b = k->perm[i];
    const int *sents = k->order + k->bstart[b];
    int ns = k->bstart[b + 1] - k->bstart[b];
    long n;
    *loss = cl_tagger_forward(k->t, k->train, sents, ns, 1, rng, &n);
    *count = (double)n;
    int err = n && isfinite(*loss) ? cl_tagger_backward(k->t, k->train, sents, ns) : CL_OK;
    return err ? cl_diag_set(d, err, "tagger step: %s", cl_strerror(err)) : CL_OK;
}

static int task_evaluate(void *ctx, cl_train_score *s, cl_diag *d)
{
    cl_tagger_task *k = ctx;
    cl_tagger_eval e;
    int err = cl_tagger_evaluate(k->t, k->dev, 64, &e, NULL);
    if (err)
        return cl_diag_set(d, err, "evaluating on the dev set: %s", cl_strerror(err));
    *s = (cl_train_score){cl_tagger_eval_accuracy(&e), NAN, 1};
    cl_tagger_eval_free(&e);
    return CL_OK;
}

cl_train_task cl_tagger_task_get(cl_tagger_task *k)
{
    cl_train_task t = {k, "tagger", task_prepare, task_begin_epoch, task_step,
                       k->dev ? task_evaluate : NULL, NULL, NULL};
    return t;
}

int cl_tagger_task_groups(const cl_tagger_task *k, float lr, cl_train_group *g)
{
    g[0] = cl_train_group_of(k->t->m, "head.tagger", lr, 0);
    return 1;
}

int cl_tagger_train(cl_tagger *t, const cl_tagger_data *train, const cl_tagger_data *dev,
                    int batch, const cl_train_config *c, cl_diag *d)
{
    cl_tagger_task *k;
    cl_trainer *tr = NULL;
    cl_train_group g[1];
    int err = cl_tagger_task_create(&k, t, train, dev, batch, d);
    if (err)
        return err;
    cl_train_task task = cl_tagger_task_get(k);
    err = cl_trainer_create(&tr, t->m, c, g, cl_tagger_task_groups(k, c->lr, g), &task, NULL, d);
    err = err ? err : cl_trainer_run(tr, NULL, d);
    cl_trainer_free(tr);
    cl_tagger_task_free(k);
    return err;
}
