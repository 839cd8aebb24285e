/* cl_lmtrain: the language-model training loop, its evaluation and its
 * resumable state. */
#include "cl_lmtrain.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct cl_lmtrain {
    cl_model *m;
    cl_lmtrain_config c;
    const cl_ids *train, *dev;
    cl_lm lm, eval;   /* training and evaluation workspaces */
    float *state;     /* [local] carried recurrent state of each share: h then c */
    float *h, *cs;    /* that of the current share, [layers*dirs, B, H] each */
    size_t state_n;   /* floats in one h */
    int local;        /* shares this process computes */
    int *ids, *tg;    /* [T, B] inputs and targets of one step */
    int *win;         /* [T + 1] one stream's window */
    int B, b0;        /* this share's streams: [b0, b0 + B) of the batch */
    long chunks;      /* steps per epoch */
};

cl_lmtrain_config cl_lmtrain_defaults(void)
{
    cl_lmtrain_config c = {0};
    c.batch = 32, c.seq = 100, c.eval_streams = 64, c.threads = 1;
    c.shares = cl_train_shares_all();
    return c;
}

/* ==== set-up =============================================================== */

void cl_lmtrain_free(cl_lmtrain *t)
{
    if (!t)
        return;
    cl_lm_free(&t->lm);
    cl_lm_free(&t->eval);
    free(t->state), free(t->ids), free(t->tg), free(t->win); /* h and cs are in state */
    free(t);
}

static int check_config(const cl_model *m, const cl_lmtrain_config *c, const cl_ids *train,
                        cl_diag *d)
{
    if (!cl_model_head(m, "head.lm"))
        return cl_diag_set(d, CL_EINVAL, "the model has no language-model head");
    if (c->batch < 1 || c->seq < 1 || c->eval_streams < 1 || m->enc.rnn.bidir)
        return cl_diag_set(d, CL_EINVAL, "invalid training configuration (a language model "
                                         "needs a unidirectional encoder, batch, seq >= 1)");
    if (cl_train_shares_check(&c->shares, c->batch, d))
        return CL_EINVAL;
    if ((train->n - 1) / ((int64_t)c->batch * c->seq) < 1)
        return cl_diag_set(d, CL_EEMPTY, "the training text (%lld characters) is shorter than "
                           "one step (batch %d x seq %d + 1)", (long long)train->n, c->batch,
                           c->seq);
    return CL_OK;
}

static int alloc_buffers(cl_lmtrain *t)
{
    size_t TB = (size_t)t->B * t->c.seq;
    t->state_n = cl_encoder_state_size(&t->m->enc) * (size_t)t->B;
    t->state = cl_alloc(2 * t->state_n * (size_t)t->local * sizeof(float)); /* resumable */
    t->h = t->state, t->cs = t->state ? t->state + t->state_n : NULL;
    t->ids = malloc(TB * sizeof(int));
    t->tg = malloc(TB * sizeof(int));
    t->win = malloc(((size_t)t->c.seq + 1) * sizeof(int));
    return t->state && t->ids && t->tg && t->win ? CL_OK : CL_ENOMEM;
}

int cl_lmtrain_create(cl_lmtrain **out, cl_model *m, const cl_lmtrain_config *c,
                      const cl_ids *train, const cl_ids *dev, cl_diag *d)
{
    *out = NULL;
    int err = check_config(m, c, train, d);
    if (err)
        return err;
    cl_lmtrain *t = calloc(1, sizeof *t);
    if (!t)
        return CL_ENOMEM;
    t->m = m, t->c = *c, t->train = train, t->dev = dev && dev->n >= 2 ? dev : NULL;
    t->chunks = (long)((train->n - 1) / ((int64_t)c->batch * c->seq));
    t->B = c->batch / c->shares.parts, t->b0 = t->B * c->shares.part;
    t->local = c->shares.local;
    const cl_lm_head_config *hc = cl_model_head(m, "head.lm");
    err = cl_lm_create(&t->lm, &m->enc, &m->params, hc->dropout, c->seq, t->B);
    err = err ? err : cl_lm_set_regularization(&t->lm, &c->reg);
    err = err ? err : cl_lm_create(&t->eval, &m->enc, &m->params, 0, c->seq, c->eval_streams);
    err = err ? err : alloc_buffers(t);
    if (!err) {
        cl_rnn_set_threads(t->lm.enc.rnn, c->threads);
        cl_rnn_set_threads(t->eval.enc.rnn, c->threads);
    }
    if (err) {
        cl_lmtrain_free(t);
        return cl_diag_set(d, err, "cannot set up training: %s", cl_strerror(err));
    }
    *out = t;
    return CL_OK;
}

/* ==== the task ============================================================= */

/* Step i of this share's streams (stream b0 + b of the whole batch). */
static int load_batch(cl_lmtrain *t, long i, cl_diag *d)
{
    int B = t->B, T = t->c.seq;
    int64_t L = (int64_t)t->chunks * T; /* one stream */
    for (int b = 0; b < B; b++) {
        int64_t at = (int64_t)(t->b0 + b) * L + (int64_t)i * T;
        int err = cl_ids_read(t->train, at, T + 1, t->win, d);
        if (err)
            return err;
        for (int s = 0; s < T; s++) {
            t->ids[s * B + b] = t->win[s];
            t->tg[s * B + b] = t->win[s + 1];
        }
    }
    return CL_OK;
}

/* Epoch after epoch the streams are read in the same order. */
static long task_begin_epoch(void *ctx, long epoch, cl_rng *data_rng, cl_diag *d)
{
    (void)epoch, (void)data_rng, (void)d;
    return ((cl_lmtrain *)ctx)->chunks;
}

static int task_step(void *ctx, long i, cl_rng *rng, double *loss, double *count, cl_diag *d)
{
    cl_lmtrain *t = ctx;
    if (i == 0) { /* a new epoch starts every stream from a zero state */
        memset(t->h, 0, t->state_n * sizeof(float));
        memset(t->cs, 0, t->state_n * sizeof(float));
    }
    int err = load_batch(t, i, d);
    if (err)
        return err;
    *loss = cl_lm_forward(&t->lm, &t->m->params, t->ids, t->tg, t->c.seq, t->B, t->h, t->cs, 1,
                          rng);
    *count = (double)t->lm.count;
    cl_params_grads_count(&t->m->params, *count);
    return cl_lm_backward(&t->lm, &t->m->params);
}

static int task_evaluate(void *ctx, cl_train_score *s, cl_diag *d)
{
    cl_lmtrain *t = ctx;
    double v;
    int err = cl_lm_evaluate_with(&t->eval, &t->m->params, t->dev, &v, NULL, d);
    *s = (cl_train_score){v, v, 0};
    return err;
}

/* The carried state of this process's streams: h then c of each share. */
static float *task_state(void *ctx, size_t *n)
{
    cl_lmtrain *t = ctx;
    *n = 2 * t->state_n * (size_t)t->local;
    return t->state;
}

/* Share part + i: its streams and its carried state. */
static int task_select(void *ctx, int i)
{
    cl_lmtrain *t = ctx;
    if (i < 0 || i >= t->local)
        return CL_EINVAL;
    t->b0 = t->B * (t->c.shares.part + i);
    t->h = t->state + 2 * t->state_n * (size_t)i, t->cs = t->h + t->state_n;
    return CL_OK;
}

/* Training and evaluation workspaces alike: the model evaluated is the one
 * trained. */
static int task_set_precision(void *ctx, cl_precision p)
{
    cl_lmtrain *t = ctx;
    int err = cl_lm_set_precision(&t->lm, p);
    return err ? err : cl_lm_set_precision(&t->eval, p);
}

cl_train_task cl_lmtrain_task(cl_lmtrain *t)
{
    cl_train_task k = {t, "lm", NULL, task_begin_epoch, task_step,
                       t->dev ? task_evaluate : NULL, task_state,
                       log((double)t->m->enc.vocab), task_select, task_set_precision};
    return k;
}

int cl_lmtrain_groups(const cl_lmtrain *t, float lr, cl_train_group *g)
{
    g[0] = cl_train_group_of(t->m, "encoder", lr, 0);
    g[1] = cl_train_group_of(t->m, "head.lm", lr, 0);
    return 2;
}

long cl_lmtrain_steps_per_epoch(const cl_lmtrain *t) { return t->chunks; }
