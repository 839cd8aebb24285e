/* cl_tagger_train: the tagger's task of the training core.
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
        cl_tagger_sort_by_length(x, order, S, tmp);
    err = err ? err : cl_tagger_reserve_batches(t, x, order, S, batch, TRAIN_BATCH_WORDS);
    for (int b = 0, e; b < S && !err; b = e) {
        e = cl_tagger_next_batch(x, order, b, S, batch, TRAIN_BATCH_WORDS);
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
    int part, parts;    /* this process's share of each batch (the current one) */
    int first, local;   /* deterministic training: it computes shares first .. + local - 1 */
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
        k->part = 0, k->parts = 1, k->first = 0, k->local = 1;
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

int cl_tagger_task_share(cl_tagger_task *k, cl_train_shares s, cl_diag *d)
{
    int err = cl_train_shares_check(&s, k->batch, d);
    if (!err)
        k->part = k->first = s.part, k->parts = s.parts, k->local = s.local;
    return err;
}

/* Share first + i of every batch. */
static int task_select(void *ctx, int i)
{
    cl_tagger_task *k = ctx;
    if (i < 0 || i >= k->local)
        return CL_EINVAL;
    k->part = k->first + i;
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
    cl_rng_shuffle(rng, k->order, S);
    for (int s = 0; s < S; s += W)
        cl_tagger_sort_by_length(k->train, k->order + s, s + W <= S ? W : S - s, k->tmp);
    k->nbatch = 0;
    for (int b = 0; b < S; b = k->bstart[k->nbatch]) {
        k->perm[k->nbatch] = k->nbatch;
        k->bstart[k->nbatch++] = b;
        k->bstart[k->nbatch] = cl_tagger_next_batch(k->train, k->order, b, S, B, TRAIN_BATCH_WORDS);
    }
    cl_rng_shuffle(rng, k->perm, k->nbatch);
    int err = cl_tagger_reserve_batches(k->t, k->train, k->order, S, B, TRAIN_BATCH_WORDS);
    return err ? cl_diag_set(d, err, "tagger workspace: %s", cl_strerror(err)) : k->nbatch;
}

static int task_step(void *ctx, long i, cl_rng *rng, double *loss, double *count, cl_diag *d)
{
    cl_tagger_task *k = ctx;
    int b = k->perm[i], s0, s1;
    cl_train_share(k->bstart[b + 1] - k->bstart[b], k->part, k->parts, &s0, &s1);
    const int *sents = k->order + k->bstart[b] + s0;
    int ns = s1 - s0;
    long n = 0;
    *loss = 0, *count = 0;
    if (ns == 0) /* a short batch leaves this share empty: nothing to add */
        return CL_OK;
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

static int task_set_precision(void *ctx, cl_precision p)
{
    return cl_tagger_set_precision(((cl_tagger_task *)ctx)->t, p);
}

cl_train_task cl_tagger_task_get(cl_tagger_task *k)
{
    cl_train_task t = {k, "tagger", task_prepare, task_begin_epoch, task_step,
                       k->dev ? task_evaluate : NULL, NULL,
                       log((double)k->t->cfg->ntags), task_select, task_set_precision};
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
