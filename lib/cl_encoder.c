/* cl_encoder: embedding + recurrent stack over the model's flat parameters. */
#include "cl_encoder.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cl_error.h"
#include "cl_real.h"

int cl_encoder_validate(const cl_encoder_config *c)
{
    if (c->vocab < 1 || c->emb < 1 || c->rnn.input != c->emb || c->vocab > (1 << 22))
        return CL_EINVAL;
    return cl_rnn_validate(&c->rnn);
}

int cl_encoder_out_dim(const cl_encoder_config *c) { return cl_rnn_out_dim(&c->rnn); }

int cl_encoder_set_precision(cl_encoder *e, cl_precision p)
{
    cl_linear_mm *fold = NULL;
    int GH = cl_rnn_gates(e->c.rnn.cell) * e->c.rnn.hidden;
    int err = e->fold ? cl_linear_mm_create(&fold, p, e->c.vocab, e->c.emb, GH) : CL_OK;
    err = err ? err : cl_rnn_set_precision(e->rnn, p);
    if (err) {
        cl_linear_mm_free(fold);
        return err;
    }
    cl_linear_mm_free(e->fold_mm);
    e->fold_mm = fold;
    return CL_OK;
}

void cl_encoder_set_threads(cl_encoder *e, int threads) { cl_rnn_set_threads(e->rnn, threads); }

size_t cl_encoder_state_size(const cl_encoder_config *c)
{
    return (size_t)c->rnn.layers * cl_rnn_dirs(&c->rnn) * c->rnn.hidden;
}

/* "<prefix>.<name>" into buf (CL_NAME_MAX bytes); CL_EINVAL when too long. */
static int tensor_name(char *buf, const char *prefix, const char *name)
{
    int n = snprintf(buf, CL_NAME_MAX, "%s.%s", prefix, name);
    return n > 0 && n < CL_NAME_MAX ? CL_OK : CL_EINVAL;
}

/* The indices of "<prefix>.embed" and "<prefix>.rnn.weight_ih_l0" in p. */
static int find_tensors(const cl_params *p, const char *prefix, int *ie, int *ir)
{
    char embed[CL_NAME_MAX], rnn[CL_NAME_MAX];
    if (tensor_name(embed, prefix, "embed") || tensor_name(rnn, prefix, "rnn.weight_ih_l0"))
        return CL_EINVAL;
    *ie = cl_params_find(p, embed), *ir = cl_params_find(p, rnn);
    return *ie < 0 || *ir < 0 ? CL_ENOTFOUND : CL_OK;
}

int cl_encoder_add_params_at(const cl_encoder_config *c, const char *prefix, cl_params *p)
{
    char embed[CL_NAME_MAX], rnn[CL_NAME_MAX];
    int err = cl_encoder_validate(c);
    err = err ? err : tensor_name(embed, prefix, "embed");
    err = err ? err : tensor_name(rnn, prefix, "rnn");
    if (err)
        return err;
    int se[2] = {c->vocab, c->emb};
    err = cl_params_add(p, embed, 2, se);
    if (err >= 0)
        err = cl_rnn_add_params(&c->rnn, p, rnn);
    return err < 0 ? err : CL_OK;
}

int cl_encoder_add_params(const cl_encoder_config *c, cl_params *p)
{
    return cl_encoder_add_params_at(c, CL_ENCODER_PREFIX, p);
}

int cl_encoder_init_params(const cl_encoder_config *c, cl_params *p, cl_rng *rng)
{
    return cl_encoder_init_params_at(c, CL_ENCODER_PREFIX, p, rng);
}

int cl_encoder_init_params_at(const cl_encoder_config *c, const char *prefix, cl_params *p,
                              cl_rng *rng)
{
    int ie, ir, err = find_tensors(p, prefix, &ie, &ir);
    if (err)
        return err;
    float *e = cl_params_w(p, ie);
    for (size_t i = 0; i < p->t[ie].size; i++)
        e[i] = (float)cl_rng_normal(rng); /* as torch.nn.Embedding */
    return cl_rnn_init(&c->rnn, cl_params_w(p, ir), rng);
}

void cl_encoder_free(cl_encoder *e)
{
    cl_rnn_free(e->rnn);
    cl_linear_mm_free(e->fold_mm);
    free(e->x), free(e->dx), free(e->ids), free(e->table), free(e->dtable), free(e->emask);
    free(e->dembed);
    memset(e, 0, sizeof *e);
}

int cl_encoder_create(cl_encoder *e, const cl_encoder_config *c, const cl_params *p, int max_T,
                      int max_B)
{
    return cl_encoder_create_at(e, c, p, CL_ENCODER_PREFIX, max_T, max_B);
}

int cl_encoder_create_at(cl_encoder *e, const cl_encoder_config *c, const cl_params *p,
                         const char *prefix, int max_T, int max_B)
{
    memset(e, 0, sizeof *e);
    e->c = *c;
    if (find_tensors(p, prefix, &e->i_embed, &e->i_rnn))
        return CL_ENOTFOUND;
    e->max_T = max_T, e->max_B = max_B;
    size_t n = (size_t)max_T * max_B;
    int err = cl_rnn_create(&e->rnn, &c->rnn, max_T, max_B);
    e->x = cl_alloc(n * c->emb * sizeof(float));
    e->dx = cl_alloc(n * c->emb * sizeof(float));
    e->ids = cl_alloc(n * sizeof(int));
    if (!err && (!e->x || !e->dx || !e->ids))
        err = CL_ENOMEM;
    e->fold = !c->rnn.bidir;
    if (!err && e->fold) {
        size_t table = (size_t)c->vocab * cl_rnn_gates(c->rnn.cell) * c->rnn.hidden;
        e->table = cl_alloc(table * sizeof(float));
        e->dtable = cl_alloc(table * sizeof(float));
        e->dembed = cl_alloc((size_t)c->vocab * c->emb * sizeof(float));
        err = e->table && e->dtable && e->dembed ? CL_OK : CL_ENOMEM;
    }
    if (err)
        cl_encoder_free(e);
    return err;
}

int cl_encoder_set_regularization(cl_encoder *e, const cl_encoder_reg *g)
{
    if (!(g->embed_drop >= 0 && g->embed_drop < 1))
        return CL_EINVAL;
    int err = cl_rnn_set_regularization(e->rnn, &g->rnn);
    if (err)
        return err;
    e->embed_drop = g->embed_drop;
    free(e->emask);
    e->emask = NULL, e->emask_on = 0;
    if (g->embed_drop > 0 && !(e->emask = malloc((size_t)e->c.vocab * sizeof(float))))
        return CL_ENOMEM;
    return CL_OK;
}

/* One keep/drop draw per character of the vocabulary (AWD-LSTM's embedding
 * dropout): a dropped character's embedding is zero wherever it occurs. */
static void draw_embed_mask(cl_encoder *e, int train, cl_rng *rng)
{
    e->emask_on = train && e->embed_drop > 0;
    if (!e->emask_on)
        return;
    float keep = 1.0f / (1.0f - e->embed_drop);
    for (int v = 0; v < e->c.vocab; v++)
        e->emask[v] = cl_rng_float(rng) < e->embed_drop ? 0.0f : keep;
}

/* rows[i, :] *= emask[ids[i]] for the n rows of width w, or of every id when
 * ids is NULL (the fold table, one row per character). */
static void mask_rows(const cl_encoder *e, float *rows, const int *ids, int n, int w)
{
    if (!e->emask_on)
        return;
    for (int i = 0; i < n; i++) {
        int v = ids ? ids[i] : i;
        if (v < 0)
            continue;
        float m = e->emask[v], *row = rows + (size_t)i * w;
        for (int j = 0; j < w; j++)
            row[j] *= m;
    }
}

static int gate_width(const cl_encoder *e)
{
    return cl_rnn_gates(e->c.rnn.cell) * e->c.rnn.hidden;
}

/* Layer 0's input projection by table lookup (padding ids give zeros); the
 * table is a linear layer without bias: embed [V, E] W_ih0^T. */
static int gather_gates(cl_encoder *e, const cl_params *p, int n)
{
    int GH = gate_width(e), V = e->c.vocab;
    const float *wih = cl_params_w(p, e->i_rnn); /* weight_ih_l0 comes first */
    float *g = cl_rnn_gates0(e->rnn);
    int err = cl_linear_forward_mm(e->fold_mm, e->table, cl_params_w(p, e->i_embed), wih, NULL,
                                   V, e->c.emb, GH);
    if (err)
        return err;
    mask_rows(e, e->table, NULL, V, GH);
    for (int i = 0; i < n; i++) {
        float *row = g + (size_t)i * GH;
        if (e->ids[i] < 0)
            memset(row, 0, (size_t)GH * sizeof(float));
        else
            memcpy(row, e->table + (size_t)e->ids[i] * GH, (size_t)GH * sizeof(float));
    }
    return CL_OK;
}

/* From dL/d(layer-0 projection) to the embedding's and W_ih0's gradients. */
static int scatter_gates_grad(cl_encoder *e, cl_params *p)
{
    int GH = gate_width(e), V = e->c.vocab, E = e->c.emb, n = e->T * e->B;
    const float *dg = cl_rnn_gates0_grad(e->rnn);
    memset(e->dtable, 0, (size_t)V * GH * sizeof(float));
    for (int i = 0; i < n; i++) {
        if (e->ids[i] < 0)
            continue;
        float *dst = e->dtable + (size_t)e->ids[i] * GH;
        const float *src = dg + (size_t)i * GH;
#pragma omp simd
        for (int j = 0; j < GH; j++)
            dst[j] += src[j];
    }
    mask_rows(e, e->dtable, NULL, V, GH);
    /* dW_ih0 += dtable^T embed [GH, E]; dembed = dtable W_ih0 [V, E], then added */
    int err = cl_linear_backward_mm(e->fold_mm, e->dembed, cl_params_g(p, e->i_rnn), NULL,
                                    e->dtable, cl_params_w(p, e->i_embed),
                                    cl_params_w(p, e->i_rnn), V, E, GH);
    float *gembed = cl_params_g(p, e->i_embed);
#pragma omp simd
    for (size_t i = 0; i < (size_t)V * E; i++)
        gembed[i] += e->dembed[i];
    return err;
}

int cl_encoder_forward(cl_encoder *e, const cl_params *p, const int *ids, int T, int B,
                       const float *h0, const float *c0, float *Y, float *hT, float *cT,
                       int train, cl_rng *rng)
{
    if (T > e->max_T || B > e->max_B || (train && e->embed_drop > 0 && !rng))
        return CL_EINVAL;
    e->T = T, e->B = B;
    memcpy(e->ids, ids, (size_t)T * B * sizeof(int));
    draw_embed_mask(e, train, rng);
    if (e->fold) {
        int err = gather_gates(e, p, T * B);
        return err ? err : cl_rnn_forward_gates(e->rnn, cl_params_w(p, e->i_rnn), T, B, h0, c0, Y, hT, cT,
                                    train, rng);
    }
    cl_embed_forward(e->x, ids, T * B, cl_params_w(p, e->i_embed), e->c.emb);
    mask_rows(e, e->x, ids, T * B, e->c.emb);
    return cl_rnn_forward(e->rnn, cl_params_w(p, e->i_rnn), T, B, e->x, h0, c0, Y, hT, cT, train,
                          rng);
}

int cl_encoder_backward(cl_encoder *e, cl_params *p, const float *dY, const float *dhT,
                        const float *dcT, float *dh0, float *dc0)
{
    cl_rnn_report_to(e->rnn, p->hook.final ? p : NULL); /* each layer as it is done */
    int err = cl_rnn_backward(e->rnn, cl_params_w(p, e->i_rnn), cl_params_g(p, e->i_rnn), dY, dhT,
                              dcT, e->fold ? NULL : e->dx, dh0, dc0);
    if (!err && e->fold)
        err = scatter_gates_grad(e, p); /* W_ih0, which the stack left to us */
    if (!err && e->fold) {
        cl_params_grads_final(p, cl_params_g(p, e->i_rnn), (size_t)gate_width(e) * e->c.emb);
    } else if (!err) {
        mask_rows(e, e->dx, e->ids, e->T * e->B, e->c.emb);
        cl_embed_backward(cl_params_g(p, e->i_embed), e->ids, e->T * e->B, e->dx, e->c.emb);
    }
    if (!err)
        cl_params_grads_final(p, cl_params_g(p, e->i_embed), p->t[e->i_embed].size);
    return err;
}
