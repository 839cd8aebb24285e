/* cl_lm: language-model head and its fused forward/backward. */
#include "cl_lm.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cl_error.h"

int cl_lm_add_params(const cl_encoder_config *ec, cl_params *p)
{
    int sw[2] = {ec->vocab, cl_encoder_out_dim(ec)}, sb[1] = {ec->vocab};
    int err = cl_params_add(p, "head.lm.weight", 2, sw);
    if (err >= 0)
        err = cl_params_add(p, "head.lm.bias", 1, sb);
    return err < 0 ? err : CL_OK;
}

int cl_lm_init_params(cl_params *p, cl_rng *rng)
{
    return cl_params_init_linear(p, "head.lm.weight", "head.lm.bias", rng);
}

void cl_lm_free(cl_lm *lm)
{
    cl_encoder_free(&lm->enc);
    cl_linear_mm_free(lm->out);
    free(lm->Y), free(lm->dY), free(lm->mask), free(lm->logits);
    memset(lm, 0, sizeof *lm);
}

int cl_lm_create(cl_lm *lm, const cl_encoder_config *ec, const cl_params *p, float dropout,
                 int max_T, int max_B)
{
    return cl_lm_create_dir(lm, CL_LM_FORWARD, ec, p, dropout, max_T, max_B);
}

/* The prefix of the encoder's tensors and the output layer's section. */
static const char *encoder_prefix(cl_lm_dir dir)
{
    return dir == CL_LM_BACKWARD ? CL_LM_BACKWARD_SECTION : CL_ENCODER_PREFIX;
}

static const char *head_section(cl_lm_dir dir)
{
    return dir == CL_LM_BACKWARD ? CL_LM_BACKWARD_SECTION : CL_LM_SECTION;
}

int cl_lm_create_dir(cl_lm *lm, cl_lm_dir dir, const cl_encoder_config *ec, const cl_params *p,
                     float dropout, int max_T, int max_B)
{
    char w[CL_NAME_MAX], b[CL_NAME_MAX];
    memset(lm, 0, sizeof *lm);
    snprintf(w, sizeof w, "%s.weight", head_section(dir));
    snprintf(b, sizeof b, "%s.bias", head_section(dir));
    lm->dir = dir;
    lm->i_w = cl_params_find(p, w);
    lm->i_b = cl_params_find(p, b);
    if (lm->i_w < 0 || lm->i_b < 0 || !(dropout >= 0 && dropout < 1))
        return lm->i_w < 0 || lm->i_b < 0 ? CL_ENOTFOUND : CL_EINVAL;
    int err = cl_encoder_create_at(&lm->enc, ec, p, encoder_prefix(dir), max_T, max_B);
    if (err)
        return err;
    lm->V = ec->vocab, lm->H = cl_encoder_out_dim(ec), lm->dropout = dropout;
    lm->max_T = max_T, lm->max_B = max_B;
    size_t n = (size_t)max_T * max_B;
    lm->Y = cl_alloc(n * lm->H * sizeof(float));
    lm->dY = cl_alloc(n * lm->H * sizeof(float));
    lm->mask = dropout > 0 ? cl_alloc(n * lm->H * sizeof(float)) : NULL;
    lm->logits = cl_alloc(n * lm->V * sizeof(float));
    if (!lm->Y || !lm->dY || !lm->logits || (dropout > 0 && !lm->mask)) {
        cl_lm_free(lm);
        return CL_ENOMEM;
    }
    return CL_OK;
}

int cl_lm_set_precision(cl_lm *lm, cl_precision p)
{
    cl_linear_mm *out = NULL;
    int err = cl_linear_mm_create(&out, p, lm->max_T * lm->max_B, lm->H, lm->V);
    err = err ? err : cl_encoder_set_precision(&lm->enc, p);
    if (err) {
        cl_linear_mm_free(out);
        return err;
    }
    cl_linear_mm_free(lm->out);
    lm->out = out;
    return CL_OK;
}

int cl_lm_set_regularization(cl_lm *lm, const cl_encoder_reg *g)
{
    int err = cl_encoder_set_regularization(&lm->enc, g);
    if (!err)
        lm->locked = g->rnn.locked != 0;
    return err;
}

/* n = T*B*H values; locked: the first step's B*H draws serve every step. */
static void apply_dropout(cl_lm *lm, size_t n, cl_rng *rng)
{
    float keep = 1.0f / (1.0f - lm->dropout);
    size_t drawn = lm->locked ? (size_t)lm->B * lm->H : n;
    for (size_t i = 0; i < drawn; i++)
        lm->mask[i] = cl_rng_float(rng) < lm->dropout ? 0.0f : keep;
    for (size_t i = drawn; i < n; i++)
        lm->mask[i] = lm->mask[i - drawn];
    for (size_t i = 0; i < n; i++)
        lm->Y[i] *= lm->mask[i];
}

static long count_targets(const int *targets, size_t n, int V)
{
    long c = 0;
    for (size_t i = 0; i < n; i++)
        c += targets[i] >= 0 && targets[i] < V;
    return c;
}

double cl_lm_forward(cl_lm *lm, const cl_params *p, const int *ids, const int *targets, int T,
                     int B, float *h, float *c, int train, cl_rng *rng)
{
    int err = cl_encoder_forward(&lm->enc, p, ids, T, B, h, c, lm->Y, h, c, train, rng);
    if (err)
        return NAN;
    size_t n = (size_t)T * B;
    lm->T = T, lm->B = B, lm->train = train && targets;
    if (lm->train && lm->dropout > 0)
        apply_dropout(lm, n * lm->H, rng);
    if (cl_linear_forward_mm(lm->out, lm->logits, lm->Y, cl_params_w(p, lm->i_w),
                             cl_params_w(p, lm->i_b), (int)n, lm->H, lm->V))
        return NAN;
    if (!targets)
        return 0;
    lm->count = count_targets(targets, n, lm->V);
    float scale = lm->count ? 1.0f / (float)lm->count : 0.0f;
    return cl_xent(lm->logits, targets, (int)n, lm->V, lm->train ? lm->logits : NULL, scale, NULL);
}

int cl_lm_backward(cl_lm *lm, cl_params *p)
{
    if (!lm->train)
        return CL_EINVAL;
    size_t n = (size_t)lm->T * lm->B;
    int err = cl_linear_backward_mm(lm->out, lm->dY, cl_params_g(p, lm->i_w),
                                    cl_params_g(p, lm->i_b), lm->logits, lm->Y,
                                    cl_params_w(p, lm->i_w), (int)n, lm->H, lm->V);
    if (err)
        return err;
    cl_params_grads_final(p, cl_params_g(p, lm->i_w), p->t[lm->i_w].size);
    cl_params_grads_final(p, cl_params_g(p, lm->i_b), p->t[lm->i_b].size);
    if (lm->dropout > 0)
        for (size_t i = 0; i < n * lm->H; i++)
            lm->dY[i] *= lm->mask[i];
    /* Truncated BPTT: no gradient flows into the carried initial state. */
    return cl_encoder_backward(&lm->enc, p, lm->dY, NULL, NULL, NULL, NULL);
}

/* ==== head.lm in a model file ============================================== */

cl_lm_head_config *cl_lm_head_new(float dropout)
{
    cl_lm_head_config *c = malloc(sizeof *c);
    if (c)
        c->dropout = dropout;
    return c;
}

static int head_add_params(const cl_model *m, const void *cfg, cl_params *p)
{
    (void)cfg;
    return cl_lm_add_params(&m->enc, p);
}

static int head_init_params(const cl_model *m, const void *cfg, cl_params *p, cl_rng *rng)
{
    (void)m, (void)cfg;
    return cl_lm_init_params(p, rng);
}

static int head_save_meta(const void *cfg, cl_ckpt_writer *w)
{
    return cl_ckpt_put_f64(w, "dropout", ((const cl_lm_head_config *)cfg)->dropout);
}

static int head_load_meta(const cl_model *m, const cl_ckpt_section *s, void **cfg, cl_diag *d)
{
    double dropout;
    (void)m;
    int err = cl_ckpt_get_f64(s, "dropout", &dropout, d);
    if (err)
        return err;
    if (!(dropout >= 0 && dropout < 1))
        return cl_diag_set(d, CL_EFORMAT, "head.lm: dropout %g out of range", dropout);
    *cfg = cl_lm_head_new((float)dropout);
    return *cfg ? CL_OK : CL_ENOMEM;
}

const cl_head_ops cl_lm_head_ops = {CL_LM_SECTION, head_add_params, head_init_params,
                                    head_save_meta, head_load_meta, free};

/* ==== head.lm_backward: a language model of its own, read right to left === */

cl_lm_backward_config *cl_lm_backward_new(const cl_encoder_config *ec, float dropout)
{
    cl_lm_backward_config *c = malloc(sizeof *c);
    if (c)
        c->enc = *ec, c->dropout = dropout;
    return c;
}

/* Its encoder's tensors, then its output layer's: one contiguous range, so
 * training or freezing it is one parameter group. */
static int back_add_params(const cl_model *m, const void *cfg, cl_params *p)
{
    const cl_encoder_config *ec = &((const cl_lm_backward_config *)cfg)->enc;
    int sw[2] = {ec->vocab, cl_encoder_out_dim(ec)}, sb[1] = {ec->vocab};
    (void)m;
    int err = cl_encoder_add_params_at(ec, CL_LM_BACKWARD_SECTION, p);
    if (!err && (err = cl_params_add(p, CL_LM_BACKWARD_SECTION ".weight", 2, sw)) >= 0)
        err = cl_params_add(p, CL_LM_BACKWARD_SECTION ".bias", 1, sb);
    return err < 0 ? err : CL_OK;
}

static int back_init_params(const cl_model *m, const void *cfg, cl_params *p, cl_rng *rng)
{
    const cl_encoder_config *ec = &((const cl_lm_backward_config *)cfg)->enc;
    (void)m;
    int err = cl_encoder_init_params_at(ec, CL_LM_BACKWARD_SECTION, p, rng);
    return err ? err : cl_params_init_linear(p, CL_LM_BACKWARD_SECTION ".weight",
                                             CL_LM_BACKWARD_SECTION ".bias", rng);
}

static int back_save_meta(const void *cfg, cl_ckpt_writer *w)
{
    const cl_lm_backward_config *c = cfg;
    int err = cl_ckpt_put_i64(w, "emb", c->enc.emb);
    err = err ? err : cl_ckpt_put_str(w, "cell", c->enc.rnn.cell == CL_CELL_GRU ? "gru" : "lstm");
    err = err ? err : cl_ckpt_put_i64(w, "hidden", c->enc.rnn.hidden);
    err = err ? err : cl_ckpt_put_i64(w, "layers", c->enc.rnn.layers);
    err = err ? err : cl_ckpt_put_f64(w, "rnn_dropout", c->enc.rnn.dropout);
    return err ? err : cl_ckpt_put_f64(w, "dropout", c->dropout);
}

static int back_get_int(const cl_ckpt_section *s, const char *key, int hi, int *v, cl_diag *d)
{
    int64_t x;
    int err = cl_ckpt_get_i64(s, key, &x, d);
    if (!err && (x < 1 || x > hi))
        return cl_diag_set(d, CL_EFORMAT, CL_LM_BACKWARD_SECTION ": %s = %lld is out of range "
                           "[1, %d]", key, (long long)x, hi);
    *v = err ? 0 : (int)x;
    return err;
}

/* Keys into c (the vocabulary is the model's); every value range-checked. */
static int back_read(const cl_model *m, const cl_ckpt_section *s, cl_lm_backward_config *c,
                     cl_diag *d)
{
    const char *cell;
    double rdrop, drop;
    int err = back_get_int(s, "emb", 1 << 16, &c->enc.emb, d);
    err = err ? err : back_get_int(s, "hidden", 1 << 16, &c->enc.rnn.hidden, d);
    err = err ? err : back_get_int(s, "layers", 16, &c->enc.rnn.layers, d);
    err = err ? err : cl_ckpt_get_str(s, "cell", &cell, d);
    err = err ? err : cl_ckpt_get_f64(s, "rnn_dropout", &rdrop, d);
    err = err ? err : cl_ckpt_get_f64(s, "dropout", &drop, d);
    if (err)
        return err;
    c->enc.vocab = cl_vocab_size(&m->vocab);
    c->enc.rnn.cell = strcmp(cell, "gru") == 0 ? CL_CELL_GRU : CL_CELL_LSTM;
    c->enc.rnn.input = c->enc.emb, c->enc.rnn.bidir = 0;
    c->enc.rnn.dropout = (float)rdrop, c->dropout = (float)drop;
    if ((strcmp(cell, "lstm") != 0 && strcmp(cell, "gru") != 0) || !(drop >= 0 && drop < 1) ||
        cl_encoder_validate(&c->enc))
        return cl_diag_set(d, CL_EFORMAT, CL_LM_BACKWARD_SECTION ": inconsistent configuration");
    return CL_OK;
}

static int back_load_meta(const cl_model *m, const cl_ckpt_section *s, void **cfg, cl_diag *d)
{
    cl_lm_backward_config *c = calloc(1, sizeof *c);
    if (!c)
        return CL_ENOMEM;
    int err = back_read(m, s, c, d);
    if (err)
        free(c);
    else
        *cfg = c;
    return err;
}

const cl_head_ops cl_lm_backward_head_ops = {CL_LM_BACKWARD_SECTION, back_add_params,
                                             back_init_params, back_save_meta, back_load_meta,
                                             free};

const cl_encoder_config *cl_lm_encoder_of(const cl_model *m, cl_lm_dir dir)
{
    if (dir == CL_LM_FORWARD)
        return cl_model_head(m, CL_LM_SECTION) ? &m->enc : NULL;
    const cl_lm_backward_config *c = cl_model_head(m, CL_LM_BACKWARD_SECTION);
    return c ? &c->enc : NULL;
}

float cl_lm_dropout_of(const cl_model *m, cl_lm_dir dir)
{
    if (dir == CL_LM_FORWARD) {
        const cl_lm_head_config *c = cl_model_head(m, CL_LM_SECTION);
        return c ? c->dropout : 0;
    }
    const cl_lm_backward_config *c = cl_model_head(m, CL_LM_BACKWARD_SECTION);
    return c ? c->dropout : 0;
}

const char *cl_lm_dir_name(cl_lm_dir dir) { return dir == CL_LM_BACKWARD ? "backward" : "forward"; }

/* ==== evaluation =========================================================== */

int cl_lm_read(const cl_ids *ids, cl_lm_dir dir, int64_t pos, int64_t n, int *out, cl_diag *d)
{
    if (dir == CL_LM_FORWARD)
        return cl_ids_read(ids, pos, n, out, d);
    /* Reversed positions [pos, pos + m) are ids [N - pos - m, N - pos). */
    int64_t m = pos < ids->n ? ids->n - pos : 0;
    m = m < n ? m : n;
    int err = m ? cl_ids_read(ids, ids->n - pos - m, m, out, d) : CL_OK;
    for (int64_t i = 0, j = m - 1; i < j; i++, j--) {
        int x = out[i];
        out[i] = out[j], out[j] = x;
    }
    for (int64_t i = m; i < n; i++)
        out[i] = -1;
    return err;
}

/* Inputs and targets of `streams` streams of length L at column j0. */
static int eval_window(const cl_ids *ids, cl_lm_dir dir, int64_t L, int64_t j0, int T, int S,
                       int *x, int *y, int *win, cl_diag *d)
{
    int64_t last = ids->n - 1; /* positions >= last have no next character */
    for (int s = 0; s < S; s++) {
        int64_t p0 = (int64_t)s * L + j0;
        int err = cl_lm_read(ids, dir, p0, T + 1, win, d);
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

int cl_lm_evaluate_with(cl_lm *lm, const cl_params *p, const cl_ids *ids, double *loss,
                         long *count, cl_diag *d)
{
    if (ids->n < 2)
        return cl_diag_set(d, CL_EEMPTY, "need at least two characters to evaluate");
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
        err = eval_window(ids, lm->dir, L, j, T, S, x, y, win, d);
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

/* Windows [start, start + T] of the text at `nw` random starts, time major. */
static int random_windows(const cl_ids *ids, cl_lm_dir dir, int T, int nw, cl_rng *rng, int *x,
                          int *y, int *win, cl_diag *d)
{
    for (int s = 0; s < nw; s++) {
        int64_t p0 = (int64_t)cl_rng_below(rng, (uint64_t)(ids->n - T));
        int err = cl_lm_read(ids, dir, p0, T + 1, win, d);
        if (err)
            return err;
        for (int t = 0; t < T; t++)
            x[t * nw + s] = win[t], y[t * nw + s] = win[t + 1];
    }
    return CL_OK;
}

int cl_lm_evaluate_windows_with(cl_lm *lm, const cl_params *p, const cl_ids *ids, long windows,
                                uint64_t seed, double *loss, long *count, cl_diag *d)
{
    int T = lm->max_T, B = lm->max_B;
    cl_rng rng;
    if (windows < 1)
        return cl_diag_set(d, CL_EINVAL, "the number of windows must be positive");
    if (ids->n < (int64_t)T + 1)
        return cl_diag_set(d, CL_EEMPTY, "the text (%lld characters) is shorter than one window "
                           "of %d plus its next character", (long long)ids->n, T);
    int *x = malloc(sizeof(int) * (size_t)T * B), *y = malloc(sizeof(int) * (size_t)T * B);
    int *win = malloc(sizeof(int) * ((size_t)T + 1));
    int err = x && y && win ? CL_OK : CL_ENOMEM;
    cl_rng_seed(&rng, seed);
    double total = 0;
    long n = 0;
    for (long done = 0; done < windows && !err; done += B) {
        int nw = windows - done < B ? (int)(windows - done) : B;
        err = random_windows(ids, lm->dir, T, nw, &rng, x, y, win, d);
        if (!err) /* NULL states: every window starts from zero, as a transformer's context */
            total += cl_lm_forward(lm, p, x, y, T, nw, NULL, NULL, 0, NULL);
        n += err ? 0 : lm->count;
    }
    free(x), free(y), free(win);
    *loss = n ? total / (double)n : NAN;
    if (count)
        *count = n;
    return err;
}

int cl_lm_evaluate_windows(const cl_model *m, const cl_ids *ids, int window, long windows,
                           int batch, uint64_t seed, double *loss, long *count, cl_diag *d)
{
    cl_lm lm;
    if (!cl_model_head(m, "head.lm"))
        return cl_diag_set(d, CL_EINVAL, "the model has no language-model head");
    if (window < 1 || windows < 1 || batch < 1)
        return cl_diag_set(d, CL_EINVAL, "window, windows and batch must be positive");
    int err = cl_lm_create(&lm, &m->enc, &m->params, 0, window, windows < batch ? (int)windows : batch);
    if (err)
        return err;
    err = cl_lm_evaluate_windows_with(&lm, &m->params, ids, windows, seed, loss, count, d);
    cl_lm_free(&lm);
    return err;
}

int cl_lm_evaluate(const cl_model *m, const cl_ids *ids, int streams, int chunk, double *loss,
                   long *count, cl_diag *d)
{
    return cl_lm_evaluate_dir(m, CL_LM_FORWARD, ids, streams, chunk, loss, count, d);
}

int cl_lm_evaluate_dir(const cl_model *m, cl_lm_dir dir, const cl_ids *ids, int streams,
                       int chunk, double *loss, long *count, cl_diag *d)
{
    cl_lm lm;
    const cl_encoder_config *ec = cl_lm_encoder_of(m, dir);
    if (!ec)
        return cl_diag_set(d, CL_EINVAL, "the model has no %s language model", cl_lm_dir_name(dir));
    if (ids->n < 2)
        return cl_diag_set(d, CL_EEMPTY, "need at least two characters to evaluate");
    int err = cl_lm_create_dir(&lm, dir, ec, &m->params, 0, chunk, streams);
    if (err)
        return err;
    err = cl_lm_evaluate_with(&lm, &m->params, ids, loss, count, d);
    cl_lm_free(&lm);
    return err;
}
