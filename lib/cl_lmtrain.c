/* cl_lmtrain: the language-model training loop, its evaluation and its
 * resumable state. */
#include "cl_lmtrain.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* One language model being trained: its workspaces and carried state. */
typedef struct {
    cl_lm_dir dir;
    cl_lm lm, eval;   /* training and evaluation workspaces */
    float *h, *cs;    /* the current share's carried state, [layers, B, H] each */
    size_t state_n;   /* floats in one h */
} lm_side;

struct cl_lmtrain {
    cl_model *m;
    cl_lmtrain_config c;
    const cl_ids *train, *dev;
    lm_side side[2];  /* in buffer order: forward before backward */
    int nside;
    float *state;     /* [local] carried state of each share: h then c of every side */
    size_t share_n;   /* floats of one share's state */
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
    c.dirs = CL_LMTRAIN_FORWARD;
    return c;
}

/* ==== set-up =============================================================== */

void cl_lmtrain_free(cl_lmtrain *t)
{
    if (!t)
        return;
    for (int i = 0; i < 2; i++) {
        cl_lm_free(&t->side[i].lm);
        cl_lm_free(&t->side[i].eval);
    }
    free(t->state), free(t->ids), free(t->tg), free(t->win); /* h and cs are in state */
    free(t);
}

static unsigned dirs_of(const cl_lmtrain_config *c)
{
    return c->dirs ? c->dirs : CL_LMTRAIN_FORWARD;
}

static int check_config(const cl_model *m, const cl_lmtrain_config *c, const cl_ids *train,
                        cl_diag *d)
{
    unsigned dirs = dirs_of(c);
    for (int k = CL_LM_FORWARD; k <= CL_LM_BACKWARD; k++)
        if ((dirs & (1u << k)) && !cl_lm_encoder_of(m, (cl_lm_dir)k))
            return cl_diag_set(d, CL_EINVAL, "the model has no %s language model",
                               cl_lm_dir_name((cl_lm_dir)k));
    if (dirs > (CL_LMTRAIN_FORWARD | CL_LMTRAIN_BACKWARD))
        return cl_diag_set(d, CL_EINVAL, "invalid directions");
    if (c->batch < 1 || c->seq < 1 || c->eval_streams < 1 ||
        ((dirs & CL_LMTRAIN_FORWARD) && m->enc.rnn.bidir))
        return cl_diag_set(d, CL_EINVAL, "invalid training configuration (a language model "
                                         "needs a unidirectional encoder, batch, seq >= 1)");
    if (!(c->state_reset >= 0 && c->state_reset < 1))
        return cl_diag_set(d, CL_EINVAL, "the state-reset probability must be in [0, 1)");
    if (cl_train_shares_check(&c->shares, c->batch, d))
        return CL_EINVAL;
    if ((train->n - 1) / ((int64_t)c->batch * c->seq) < 1)
        return cl_diag_set(d, CL_EEMPTY, "the training text (%lld characters) is shorter than "
                           "one step (batch %d x seq %d + 1)", (long long)train->n, c->batch,
                           c->seq);
    return CL_OK;
}

/* Share i's carried state: the h and c of each side in turn. */
static void point_state(cl_lmtrain *t, int i)
{
    float *at = t->state + t->share_n * (size_t)i;
    for (int k = 0; k < t->nside; k++) {
        t->side[k].h = at, t->side[k].cs = at + t->side[k].state_n;
        at += 2 * t->side[k].state_n;
    }
}

static int alloc_buffers(cl_lmtrain *t)
{
    size_t TB = (size_t)t->B * t->c.seq;
    t->share_n = 0;
    for (int k = 0; k < t->nside; k++) {
        lm_side *s = &t->side[k];
        s->state_n = cl_encoder_state_size(&s->lm.enc.c) * (size_t)t->B;
        t->share_n += 2 * s->state_n;
    }
    t->state = cl_alloc(t->share_n * (size_t)t->local * sizeof(float)); /* resumable */
    if (t->state)
        point_state(t, 0);
    t->ids = malloc(TB * sizeof(int));
    t->tg = malloc(TB * sizeof(int));
    t->win = malloc(((size_t)t->c.seq + 1) * sizeof(int));
    return t->state && t->ids && t->tg && t->win ? CL_OK : CL_ENOMEM;
}

/* The training and evaluation workspaces of the language model of s->dir. */
static int create_side(cl_lmtrain *t, lm_side *s)
{
    const cl_model *m = t->m;
    const cl_encoder_config *ec = cl_lm_encoder_of(m, s->dir);
    int err = cl_lm_create_dir(&s->lm, s->dir, ec, &m->params, cl_lm_dropout_of(m, s->dir),
                               t->c.seq, t->B);
    err = err ? err : cl_lm_set_regularization(&s->lm, &t->c.reg);
    err = err ? err : cl_lm_create_dir(&s->eval, s->dir, ec, &m->params, 0, t->c.seq,
                                       t->c.eval_streams);
    if (!err) {
        cl_rnn_set_threads(s->lm.enc.rnn, t->c.threads);
        cl_rnn_set_threads(s->eval.enc.rnn, t->c.threads);
    }
    return err;
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
    t->c.dirs = dirs_of(c);
    t->chunks = (long)((train->n - 1) / ((int64_t)c->batch * c->seq));
    t->B = c->batch / c->shares.parts, t->b0 = t->B * c->shares.part;
    t->local = c->shares.local;
    for (int k = CL_LM_FORWARD; k <= CL_LM_BACKWARD; k++)
        if (t->c.dirs & (1u << k))
            t->side[t->nside++].dir = (cl_lm_dir)k;
    for (int k = 0; k < t->nside && !err; k++)
        err = create_side(t, &t->side[k]);
    err = err ? err : alloc_buffers(t);
    if (err) {
        cl_lmtrain_free(t);
        return cl_diag_set(d, err, "cannot set up training: %s", cl_strerror(err));
    }
    *out = t;
    return CL_OK;
}

/* ==== the task ============================================================= */

/* Step i of this share's streams (stream b0 + b of the whole batch), read
 * in direction dir. */
static int load_batch(cl_lmtrain *t, cl_lm_dir dir, long i, cl_diag *d)
{
    int B = t->B, T = t->c.seq;
    int64_t L = (int64_t)t->chunks * T; /* one stream */
    for (int b = 0; b < B; b++) {
        int64_t at = (int64_t)(t->b0 + b) * L + (int64_t)i * T;
        int err = cl_lm_read(t->train, dir, at, T + 1, t->win, d);
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

/* Zero the carried state of each stream with probability state_reset.  The
 * state is [layer][stream][hidden] (cl_rnn's h0/c0 layout). */
static void reset_some_streams(const cl_lmtrain *t, lm_side *s, cl_rng *rng)
{
    size_t H = (size_t)s->lm.enc.c.rnn.hidden, layers = (size_t)s->lm.enc.c.rnn.layers;
    for (int b = 0; b < t->B; b++) {
        if (cl_rng_float(rng) >= t->c.state_reset)
            continue;
        for (size_t l = 0; l < layers; l++) {
            size_t at = (l * (size_t)t->B + (size_t)b) * H;
            memset(s->h + at, 0, H * sizeof(float));
            memset(s->cs + at, 0, H * sizeof(float));
        }
    }
}

/* The forward pass of one side on step i; its summed loss into *loss. */
static int side_forward(cl_lmtrain *t, lm_side *s, long i, cl_rng *rng, double *loss,
                        cl_diag *d)
{
    if (i == 0) { /* a new epoch starts every stream from a zero state */
        memset(s->h, 0, s->state_n * sizeof(float));
        memset(s->cs, 0, s->state_n * sizeof(float));
    } else if (t->c.state_reset > 0) {
        reset_some_streams(t, s, rng);
    }
    int err = load_batch(t, s->dir, i, d);
    if (err)
        return err;
    *loss = cl_lm_forward(&s->lm, &t->m->params, t->ids, t->tg, t->c.seq, t->B, s->h, s->cs, 1,
                          rng);
    return CL_OK;
}

/* Every side's forward pass, then the count, then the backward passes from
 * the last side down: the order in which the parameter buffer becomes final
 * (the gradient hook's buckets). */
static int task_step(void *ctx, long i, cl_rng *rng, double *loss, double *count, cl_diag *d)
{
    cl_lmtrain *t = ctx;
    int err = CL_OK;
    *loss = 0, *count = 0;
    for (int k = 0; k < t->nside && !err; k++) {
        double l = 0;
        err = side_forward(t, &t->side[k], i, rng, &l, d);
        *loss += l, *count += (double)t->side[k].lm.count;
    }
    if (err)
        return err;
    cl_params_grads_count(&t->m->params, *count);
    for (int k = t->nside - 1; k >= 0 && !err; k--)
        err = cl_lm_backward(&t->side[k].lm, &t->m->params);
    return err;
}

/* The mean nats/char of the sides (each reads the dev text its own way). */
static int task_evaluate(void *ctx, cl_train_score *s, cl_diag *d)
{
    cl_lmtrain *t = ctx;
    double sum = 0;
    int err = CL_OK;
    for (int k = 0; k < t->nside && !err; k++) {
        double v;
        err = cl_lm_evaluate_with(&t->side[k].eval, &t->m->params, t->dev, &v, NULL, d);
        sum += v;
    }
    double v = sum / t->nside;
    *s = (cl_train_score){v, v, 0};
    return err;
}

/* The carried state of this process's shares: h then c of every side. */
static float *task_state(void *ctx, size_t *n)
{
    cl_lmtrain *t = ctx;
    *n = t->share_n * (size_t)t->local;
    return t->state;
}

/* Share part + i: its streams and its carried state. */
static int task_select(void *ctx, int i)
{
    cl_lmtrain *t = ctx;
    if (i < 0 || i >= t->local)
        return CL_EINVAL;
    t->b0 = t->B * (t->c.shares.part + i);
    point_state(t, i);
    return CL_OK;
}

/* Training and evaluation workspaces alike: the model evaluated is the one
 * trained. */
static int task_set_precision(void *ctx, cl_precision p)
{
    cl_lmtrain *t = ctx;
    int err = CL_OK;
    for (int k = 0; k < t->nside && !err; k++) {
        err = cl_lm_set_precision(&t->side[k].lm, p);
        err = err ? err : cl_lm_set_precision(&t->side[k].eval, p);
    }
    return err;
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
    int n = 0;
    if (t->c.dirs & CL_LMTRAIN_FORWARD) {
        g[n++] = cl_train_group_of(t->m, CL_ENCODER_PREFIX, lr, 0);
        g[n++] = cl_train_group_of(t->m, CL_LM_SECTION, lr, 0);
    }
    if (t->c.dirs & CL_LMTRAIN_BACKWARD)
        g[n++] = cl_train_group_of(t->m, CL_LM_BACKWARD_SECTION, lr, 0);
    return n;
}

long cl_lmtrain_steps_per_epoch(const cl_lmtrain *t) { return t->chunks; }
