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
    cl_lm lm, eval;   /* training and evaluation workspaces */
    cl_optim opt;
    cl_rng rng;       /* dropout */
    float *h, *cs;    /* carried recurrent state [layers*dirs, B, H] */
    size_t state_n;
    int *ids, *tg;    /* [T, B] inputs and targets of one step */
    int *win;         /* [T + 1] one stream's window */
    long step, chunks;
    double train_seconds, best_valid, loss_sum;
    long loss_n;
    cl_lmtrain_stats stats;
};

cl_lmtrain_config cl_lmtrain_defaults(void)
{
    cl_lmtrain_config c = {0};
    c.batch = 32, c.seq = 100, c.lr = 2e-3f, c.clip = 5.0f, c.lr_decay = 1.0f;
    c.eval_streams = 64, c.seed = 1, c.threads = 1;
    return c;
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* ==== set-up =============================================================== */

void cl_lmtrain_free(cl_lmtrain *t)
{
    if (!t)
        return;
    cl_lm_free(&t->lm);
    cl_lm_free(&t->eval);
    cl_optim_free(&t->opt);
    free(t->h), free(t->cs), free(t->ids), free(t->tg), free(t->win);
    free(t);
}

static int check_config(const cl_model *m, const cl_lmtrain_config *c, cl_diag *d)
{
    if (!cl_model_head(m, "head.lm"))
        return cl_diag_set(d, CL_EINVAL, "the model has no language-model head");
    if (c->batch < 1 || c->seq < 1 || c->eval_streams < 1 || !(c->lr > 0) || c->clip < 0 ||
        !(c->lr_decay > 0 && c->lr_decay <= 1) || m->enc.rnn.bidir)
        return cl_diag_set(d, CL_EINVAL, "invalid training configuration (a language model "
                                         "needs a unidirectional encoder, batch, seq >= 1, "
                                         "lr > 0, 0 < lr-decay <= 1)");
    return CL_OK;
}

static int alloc_buffers(cl_lmtrain *t)
{
    size_t TB = (size_t)t->c.batch * t->c.seq;
    t->state_n = cl_encoder_state_size(&t->m->enc) * (size_t)t->c.batch;
    t->h = cl_alloc(t->state_n * sizeof(float));
    t->cs = cl_alloc(t->state_n * sizeof(float));
    t->ids = malloc(TB * sizeof(int));
    t->tg = malloc(TB * sizeof(int));
    t->win = malloc(((size_t)t->c.seq + 1) * sizeof(int));
    return t->h && t->cs && t->ids && t->tg && t->win ? CL_OK : CL_ENOMEM;
}

int cl_lmtrain_create(cl_lmtrain **out, cl_model *m, const cl_lmtrain_config *c, cl_diag *d)
{
    *out = NULL;
    int err = check_config(m, c, d);
    if (err)
        return err;
    cl_lmtrain *t = calloc(1, sizeof *t);
    if (!t)
        return CL_ENOMEM;
    t->m = m, t->c = *c;
    t->best_valid = NAN;
    cl_rng_seed(&t->rng, c->seed ^ 0x5eedULL);
    const cl_lm_head_config *hc = cl_model_head(m, "head.lm");
    cl_optim_config oc = cl_optim_defaults();
    oc.lr = c->lr;
    err = cl_lm_create(&t->lm, &m->enc, &m->params, hc->dropout, c->seq, c->batch);
    err = err ? err : cl_lm_create(&t->eval, &m->enc, &m->params, 0, c->seq, c->eval_streams);
    err = err ? err : cl_optim_create(&t->opt, &oc, m->params.n);
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

const cl_lmtrain_stats *cl_lmtrain_stats_get(const cl_lmtrain *t) { return &t->stats; }

/* ==== evaluation =========================================================== */

/* Inputs and targets of `streams` streams of length L at column j0. */
static int eval_window(const cl_ids *ids, int64_t L, int64_t j0, int T, int S, int *x, int *y,
                       int *win, cl_diag *d)
{
    int64_t last = ids->n - 1; /* positions >= last have no next character */
    for (int s = 0; s < S; s++) {
        int64_t p0 = (int64_t)s * L + j0;
        int err = cl_ids_read(ids, p0, T + 1, win, d);
        if (err)
            return err;
        for (int t = 0; t < T; t++) {
            int ok = p0 + t < last;
            x[t * S + s] = ok ? win[t] : -1;
            y[t * S + s] = ok ? win[t + 1] : -1;
        }
    }
    return CL_OK;
}

static int evaluate_with(cl_lm *lm, const cl_params *p, const cl_ids *ids, double *loss,
                         long *count, cl_diag *d)
{
    int S = lm->max_B, chunk = lm->max_T;
    int64_t L = (ids->n - 1 + S - 1) / S;
    size_t sn = cl_encoder_state_size(&lm->enc.c) * (size_t)S;
    float *h = cl_alloc(sn * sizeof(float)), *c = cl_alloc(sn * sizeof(float));
    int *x = malloc(sizeof(int) * (size_t)chunk * S), *y = malloc(sizeof(int) * (size_t)chunk * S);
    int *win = malloc(sizeof(int) * ((size_t)chunk + 1));
    int err = h && c && x && y && win ? CL_OK : CL_ENOMEM;
    double total = 0;
    long n = 0;
    for (int64_t j = 0; j < L && !err; j += chunk) {
        int T = (int)(L - j < chunk ? L - j : chunk);
        err = eval_window(ids, L, j, T, S, x, y, win, d);
        if (!err)
            total += cl_lm_forward(lm, p, x, y, T, S, h, c, 0, NULL);
        n += lm->count;
    }
    free(h), free(c), free(x), free(y), free(win);
    *loss = n ? total / (double)n : NAN;
    if (count)
        *count = n;
    return err;
}

int cl_lm_evaluate(const cl_model *m, const cl_ids *ids, int streams, int chunk, double *loss,
                   long *count, cl_diag *d)
{
    cl_lm lm;
    if (!cl_model_head(m, "head.lm"))
        return cl_diag_set(d, CL_EINVAL, "the model has no language-model head");
    if (ids->n < 2)
        return cl_diag_set(d, CL_EEMPTY, "need at least two characters to evaluate");
    int err = cl_lm_create(&lm, &m->enc, &m->params, 0, chunk, streams);
    if (err)
        return err;
    err = evaluate_with(&lm, &m->params, ids, loss, count, d);
    cl_lm_free(&lm);
    return err;
}

/* ==== one step ============================================================= */

static int load_batch(cl_lmtrain *t, const cl_ids *train, long i, cl_diag *d)
{
    int B = t->c.batch, T = t->c.seq;
    int64_t L = (int64_t)t->chunks * T; /* one stream */
    for (int b = 0; b < B; b++) {
        int err = cl_ids_read(train, (int64_t)b * L + (int64_t)i * T, T + 1, t->win, d);
        if (err)
            return err;
        for (int s = 0; s < T; s++) {
            t->ids[s * B + b] = t->win[s];
            t->tg[s * B + b] = t->win[s + 1];
        }
    }
    return CL_OK;
}

static int train_step(cl_lmtrain *t, const cl_ids *train, cl_diag *d)
{
    long i = t->step % t->chunks;
    if (i == 0) { /* a new epoch starts every stream from a zero state */
        memset(t->h, 0, t->state_n * sizeof(float));
        memset(t->cs, 0, t->state_n * sizeof(float));
    }
    int err = load_batch(t, train, i, d);
    if (err)
        return err;
    cl_params *p = &t->m->params;
    cl_params_zero_grad(p);
    double loss = cl_lm_forward(&t->lm, p, t->ids, t->tg, t->c.seq, t->c.batch, t->h, t->cs, 1,
                                &t->rng);
    err = cl_lm_backward(&t->lm, p);
    if (err)
        return err;
    cl_grad_clip(p->g, p->n, t->c.clip);
    float lr = cl_lr_at(t->c.lr, t->step, t->c.decay_start, t->c.decay_every, t->c.lr_decay);
    cl_optim_begin(&t->opt);
    cl_optim_update(&t->opt, p->w, p->g, 0, p->n, lr);
    t->loss_sum += loss / (double)t->lm.count;
    t->loss_n++;
    t->step++;
    return CL_OK;
}

/* ==== the loop ============================================================= */

static double eta_of(const cl_lmtrain *t, double elapsed, double step_rate)
{
    double eta = INFINITY;
    if (t->c.max_steps && step_rate > 0)
        eta = fmin(eta, (double)(t->c.max_steps - t->step) / step_rate);
    if (t->c.max_epochs > 0 && step_rate > 0)
        eta = fmin(eta, (t->c.max_epochs * (double)t->chunks - (double)t->step) / step_rate);
    if (t->c.max_seconds > 0)
        eta = fmin(eta, t->c.max_seconds - elapsed);
    return isinf(eta) ? NAN : fmax(eta, 0);
}

static void fill_stats(cl_lmtrain *t, double t0, double run_train_s, long start_step)
{
    cl_lmtrain_stats *s = &t->stats;
    double elapsed = now() - t0, rate = run_train_s > 0 ? (t->step - start_step) / run_train_s : 0;
    s->step = t->step, s->steps_per_epoch = t->chunks, s->max_steps = t->c.max_steps;
    s->epoch = (double)t->step / (double)t->chunks;
    s->train_loss = t->loss_n ? t->loss_sum / (double)t->loss_n : NAN;
    s->best_valid = t->best_valid;
    s->train_seconds = t->train_seconds;
    s->elapsed = elapsed;
    s->chars_per_sec = rate * t->c.batch * t->c.seq;
    s->run_train_seconds = run_train_s;
    s->run_steps = t->step - start_step;
    s->eta = eta_of(t, elapsed, rate * (elapsed > 0 ? run_train_s / elapsed : 1));
}

static int evaluate_and_save(cl_lmtrain *t, const cl_ids *dev, const cl_lmtrain_hooks *h,
                             cl_diag *d)
{
    cl_lmtrain_stats *s = &t->stats;
    s->improved = 1;
    if (dev && dev->n >= 2) {
        double v;
        int err = evaluate_with(&t->eval, &t->m->params, dev, &v, NULL, d);
        if (err)
            return err;
        s->valid_loss = v;
        s->improved = isnan(t->best_valid) || v < t->best_valid;
        if (s->improved)
            t->best_valid = v;
        s->best_valid = t->best_valid;
    }
    if (h->evaluated && h->evaluated(s, h->ctx))
        return CL_EINTR;
    t->loss_sum = 0, t->loss_n = 0;
    return h->save ? h->save(s->improved, h->ctx) : CL_OK;
}

static int limit_reached(const cl_lmtrain *t, double t0)
{
    return (t->c.max_steps && t->step >= t->c.max_steps) ||
           (t->c.max_seconds > 0 && now() - t0 >= t->c.max_seconds) ||
           (t->c.max_epochs > 0 && (double)t->step >= t->c.max_epochs * (double)t->chunks);
}

int cl_lmtrain_run(cl_lmtrain *t, const cl_ids *train, const cl_ids *dev,
                   const cl_lmtrain_hooks *h, cl_diag *d)
{
    t->chunks = (long)((train->n - 1) / ((int64_t)t->c.batch * t->c.seq));
    if (t->chunks < 1)
        return cl_diag_set(d, CL_EEMPTY, "the training text (%lld characters) is shorter than "
                           "one step (batch %d x seq %d + 1)", (long long)train->n, t->c.batch,
                           t->c.seq);
    double t0 = now(), run_train_s = 0, last_report = 0;
    long start = t->step, last_eval = -1;
    t->stats.valid_loss = NAN;
    int err = CL_OK;
    while (!err && !limit_reached(t, t0)) {
        if (h->stop && h->stop(h->ctx))
            return h->save ? (h->save(0, h->ctx) ? CL_EIO : CL_EINTR) : CL_EINTR;
        double s0 = now();
        err = train_step(t, train, d);
        run_train_s += now() - s0;
        t->train_seconds += now() - s0;
        fill_stats(t, t0, run_train_s, start);
        if (h->progress && now() - last_report > 0.25) {
            h->progress(&t->stats, h->ctx);
            last_report = now();
        }
        if (!err && t->c.eval_every && t->step % t->c.eval_every == 0) {
            err = evaluate_and_save(t, dev, h, d);
            last_eval = t->step;
        }
    }
    fill_stats(t, t0, run_train_s, start);
    if (h->progress)
        h->progress(&t->stats, h->ctx); /* the final state, whatever the rate limit */
    if (!err && last_eval != t->step)
        err = evaluate_and_save(t, dev, h, d);
    return err;
}

/* ==== resumable state ====================================================== */

static int put_state(const cl_lmtrain *t, cl_ckpt_writer *w)
{
    int32_t rng[8];
    for (int i = 0; i < 4; i++) {
        rng[2 * i] = (int32_t)(uint32_t)t->rng.s[i];
        rng[2 * i + 1] = (int32_t)(uint32_t)(t->rng.s[i] >> 32);
    }
    int64_t n8 = 8, ns = (int64_t)t->state_n;
    int err = cl_ckpt_section_begin(w, "train");
    err = err ? err : cl_ckpt_put_i64(w, "step", t->step);
    err = err ? err : cl_ckpt_put_i64(w, "batch", t->c.batch);
    err = err ? err : cl_ckpt_put_i64(w, "seq", t->c.seq);
    err = err ? err : cl_ckpt_put_f64(w, "lr", t->c.lr);
    err = err ? err : cl_ckpt_put_f64(w, "clip", t->c.clip);
    err = err ? err : cl_ckpt_put_f64(w, "lr_decay", t->c.lr_decay);
    err = err ? err : cl_ckpt_put_i64(w, "decay_every", t->c.decay_every);
    err = err ? err : cl_ckpt_put_i64(w, "decay_start", t->c.decay_start);
    err = err ? err : cl_ckpt_put_i64(w, "eval_every", t->c.eval_every);
    err = err ? err : cl_ckpt_put_i64(w, "seed", (int64_t)t->c.seed);
    err = err ? err : cl_ckpt_put_f64(w, "train_seconds", t->train_seconds);
    err = err ? err : cl_ckpt_put_f64(w, "best_valid", t->best_valid);
    err = err ? err : cl_ckpt_put_i32(w, "rng", 1, &n8, rng);
    err = err ? err : cl_ckpt_put_f32(w, "h", 1, &ns, t->h);
    err = err ? err : cl_ckpt_put_f32(w, "c", 1, &ns, t->cs);
    return err ? err : cl_ckpt_section_end(w);
}

static int put_optim(const cl_lmtrain *t, cl_ckpt_writer *w)
{
    int64_t n = (int64_t)t->opt.n;
    int err = cl_ckpt_section_begin(w, "optim");
    err = err ? err : cl_ckpt_put_str(w, "kind", "adam");
    err = err ? err : cl_ckpt_put_i64(w, "step", t->opt.step);
    err = err ? err : cl_ckpt_put_f32(w, "m", 1, &n, t->opt.m);
    err = err ? err : cl_ckpt_put_f32(w, "v", 1, &n, t->opt.v);
    return err ? err : cl_ckpt_section_end(w);
}

int cl_lmtrain_save_history(cl_ckpt_writer *w, void *trainer)
{
    const cl_lmtrain *t = trainer;
    int err = cl_ckpt_section_begin(w, "history");
    err = err ? err : cl_ckpt_put_str(w, "task", "lm");
    err = err ? err : cl_ckpt_put_i64(w, "step", t->step);
    err = err ? err : cl_ckpt_put_i64(w, "chars", (int64_t)t->step * t->c.batch * t->c.seq);
    err = err ? err : cl_ckpt_put_f64(w, "train_seconds", t->train_seconds);
    err = err ? err : cl_ckpt_put_f64(w, "valid_loss", t->stats.valid_loss);
    return err ? err : cl_ckpt_section_end(w);
}

int cl_lmtrain_save_state(cl_ckpt_writer *w, void *trainer)
{
    const cl_lmtrain *t = trainer;
    int err = cl_lmtrain_save_history(w, trainer);
    err = err ? err : put_optim(t, w);
    return err ? err : put_state(t, w);
}

static int get_optim(cl_lmtrain *t, const cl_ckpt_section *s, cl_diag *d)
{
    int64_t n = (int64_t)t->opt.n, step;
    int err = cl_ckpt_get_i64(s, "step", &step, d);
    err = err ? err : cl_ckpt_get_f32(s, "m", 1, &n, t->opt.m, d);
    err = err ? err : cl_ckpt_get_f32(s, "v", 1, &n, t->opt.v, d);
    if (!err)
        t->opt.step = (long)step;
    return err;
}

/* What the run being resumed was configured with, so that it goes on exactly
 * as it would have (limits such as max_steps stay the caller's). */
static int get_run_config(cl_lmtrain *t, const cl_ckpt_section *s, cl_diag *d)
{
    double lr, clip, decay;
    int64_t every, start, eval, seed;
    int err = cl_ckpt_get_f64(s, "lr", &lr, d);
    err = err ? err : cl_ckpt_get_f64(s, "clip", &clip, d);
    err = err ? err : cl_ckpt_get_f64(s, "lr_decay", &decay, d);
    err = err ? err : cl_ckpt_get_i64(s, "decay_every", &every, d);
    err = err ? err : cl_ckpt_get_i64(s, "decay_start", &start, d);
    err = err ? err : cl_ckpt_get_i64(s, "eval_every", &eval, d);
    err = err ? err : cl_ckpt_get_i64(s, "seed", &seed, d);
    if (err)
        return err;
    t->c.lr = (float)lr, t->c.clip = (float)clip, t->c.lr_decay = (float)decay;
    t->c.decay_every = (long)every, t->c.decay_start = (long)start;
    t->c.eval_every = (long)eval, t->c.seed = (uint64_t)seed;
    return CL_OK;
}

static int get_state(cl_lmtrain *t, const cl_ckpt_section *s, cl_diag *d)
{
    int64_t step, batch, seq, n8 = 8, ns = (int64_t)t->state_n;
    int32_t rng[8];
    int err = cl_ckpt_get_i64(s, "step", &step, d);
    err = err ? err : cl_ckpt_get_i64(s, "batch", &batch, d);
    err = err ? err : cl_ckpt_get_i64(s, "seq", &seq, d);
    if (!err && (batch != t->c.batch || seq != t->c.seq))
        return cl_diag_set(d, CL_EMISMATCH, "the run being resumed used --batch %lld --seq %lld",
                           (long long)batch, (long long)seq);
    err = err ? err : cl_ckpt_get_f64(s, "train_seconds", &t->train_seconds, d);
    err = err ? err : cl_ckpt_get_f64(s, "best_valid", &t->best_valid, d);
    err = err ? err : cl_ckpt_get_i32(s, "rng", 1, &n8, rng, d);
    err = err ? err : cl_ckpt_get_f32(s, "h", 1, &ns, t->h, d);
    err = err ? err : cl_ckpt_get_f32(s, "c", 1, &ns, t->cs, d);
    if (err)
        return err;
    for (int i = 0; i < 4; i++)
        t->rng.s[i] = (uint64_t)(uint32_t)rng[2 * i] | (uint64_t)(uint32_t)rng[2 * i + 1] << 32;
    t->step = (long)step;
    return CL_OK;
}

int cl_lmtrain_resume(cl_lmtrain *t, const cl_ckpt *ck, cl_diag *d)
{
    const cl_ckpt_section *so = cl_ckpt_find(ck, "optim"), *st = cl_ckpt_find(ck, "train");
    if (!so || !st)
        return cl_diag_set(d, CL_ENOTFOUND, "the file holds no training state to resume");
    int err = get_optim(t, so, d);
    err = err ? err : get_run_config(t, st, d);
    return err ? err : get_state(t, st, d);
}
