/* cl_seqrnn: variable-length (bi)directional stacks from one-layer cl_rnn runs.
 *
 * Compiled twice (see cl_real.h): float for work, double for gradient checks.
 *
 * Each layer and direction owns a ONE-LAYER, UNIDIRECTIONAL cl_rnn workspace
 * (it keeps that run's activations for backward).  Its parameters are one
 * block of the stack's PyTorch layout, [W_ih, W_hh, b_ih, b_hh], which is
 * exactly the whole layout of a one-layer unidirectional stack, so a pointer
 * to the block is all the sub-run needs.  The reverse direction is fed each
 * sequence reversed within its own length: it starts at the sequence's real
 * last step, and padding only ever follows the real steps.  Padded steps of
 * every layer input are zero, so whatever the caller left there (even NaN)
 * never reaches an output or a gradient.  Nothing is allocated after create. */
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "cl_error.h"
#include "cl_nn.h"
#include "cl_params.h"
#include "cl_real.h"
#include "cl_seqrnn.h"

#define SEQ CL_R(cl_seqrnn)
#define RNN CL_R(cl_rnn)

struct SEQ {
    cl_rnn_config c;
    int max_T, max_B, D, H;
    int T, B, trained, dropped; /* last forward: shape, kept caches, used masks */
    int infer;                  /* created for inference only (no backward buffers) */
    int *len;                   /* [max_B] lengths of the last forward */
    RNN **rnn;                  /* [layers * dirs] one-layer unidirectional runs */
    real **xf, **xr;            /* [layers] layer input [T,B,I_l], and per-sequence reversed */
    real **mask;                /* [layers] dropout masks [T,B,D*H] (l >= 1, dropout > 0) */
    real *cat;                  /* [T,B,D*H] one layer's output, both directions */
    real *yd;                   /* [T,B,H] one direction's output or output gradient */
    real *dy, *dx, *dxr;        /* [T,B,max(I,D*H)] gradients between layers */
};

static real *ws_alloc(size_t n) { return cl_alloc(n * sizeof(real)); }

static int layer_in(const SEQ *r, int l) { return l == 0 ? r->c.input : r->D * r->H; }

void CL_R(cl_seqrnn_free)(SEQ *r)
{
    if (!r)
        return;
    for (int i = 0; r->rnn && i < r->c.layers * r->D; i++)
        CL_R(cl_rnn_free)(r->rnn[i]);
    for (int l = 0; l < r->c.layers; l++) {
        if (r->xf)
            free(r->xf[l]);
        if (r->xr)
            free(r->xr[l]);
        if (r->mask)
            free(r->mask[l]);
    }
    free(r->rnn), free(r->xf), free(r->xr), free(r->mask), free(r->len);
    free(r->cat), free(r->yd), free(r->dy), free(r->dx), free(r->dxr);
    free(r);
}

/* The one-layer unidirectional configuration of layer l's runs. */
static cl_rnn_config sub_config(const SEQ *r, int l)
{
    cl_rnn_config s = r->c;
    s.input = layer_in(r, l), s.layers = 1, s.bidir = 0, s.dropout = 0;
    return s;
}

static int alloc_layers(SEQ *r)
{
    int L = r->c.layers;
    size_t TB = (size_t)r->max_T * r->max_B, DH = (size_t)r->D * r->H;
    r->rnn = calloc((size_t)L * r->D, sizeof *r->rnn);
    r->xf = calloc(L, sizeof *r->xf), r->xr = calloc(L, sizeof *r->xr);
    r->mask = calloc(L, sizeof *r->mask);
    if (!r->rnn || !r->xf || !r->xr || !r->mask)
        return CL_ENOMEM;
    for (int l = 0; l < L; l++) {
        cl_rnn_config s = sub_config(r, l);
        for (int d = 0; d < r->D; d++) {
            RNN **rd = &r->rnn[l * r->D + d];
            int err = r->infer ? CL_R(cl_rnn_create_inference)(rd, &s, r->max_T, r->max_B)
                               : CL_R(cl_rnn_create)(rd, &s, r->max_T, r->max_B);
            if (err)
                return err;
            /* OpenMP's thread count, as the tools set it (cli_threads). */
            CL_R(cl_rnn_set_threads)(r->rnn[l * r->D + d], omp_get_max_threads());
        }
        r->xf[l] = ws_alloc(TB * s.input);
        r->xr[l] = r->D == 2 ? ws_alloc(TB * s.input) : NULL;
        if (!r->xf[l] || (r->D == 2 && !r->xr[l]))
            return CL_ENOMEM;
        if (l > 0 && r->c.dropout > 0 && !r->infer && !(r->mask[l] = ws_alloc(TB * DH)))
            return CL_ENOMEM;
    }
    return CL_OK;
}

static int alloc_scratch(SEQ *r)
{
    size_t TB = (size_t)r->max_T * r->max_B, DH = (size_t)r->D * r->H;
    size_t wide = (size_t)r->c.input > DH ? (size_t)r->c.input : DH;
    r->len = calloc(r->max_B, sizeof *r->len);
    r->cat = ws_alloc(TB * DH), r->yd = ws_alloc(TB * r->H);
    if (!r->len || !r->cat || !r->yd)
        return CL_ENOMEM;
    if (r->infer) /* the gradients between layers are backward's */
        return CL_OK;
    r->dy = ws_alloc(TB * wide), r->dx = ws_alloc(TB * wide), r->dxr = ws_alloc(TB * wide);
    return r->dy && r->dx && r->dxr ? CL_OK : CL_ENOMEM;
}

static int create(SEQ **out, const cl_rnn_config *c, int max_T, int max_B, int infer)
{
    *out = NULL;
    if (cl_rnn_validate(c) || max_T < 1 || max_B < 1)
        return CL_EINVAL;
    SEQ *r = calloc(1, sizeof *r);
    if (!r)
        return CL_ENOMEM;
    r->c = *c;
    r->max_T = max_T, r->max_B = max_B, r->D = cl_rnn_dirs(c), r->H = c->hidden;
    r->infer = infer;
    int err = alloc_layers(r);
    if (!err)
        err = alloc_scratch(r);
    if (err) {
        CL_R(cl_seqrnn_free)(r);
        return err;
    }
    *out = r;
    return CL_OK;
}

int CL_R(cl_seqrnn_create)(SEQ **out, const cl_rnn_config *c, int max_T, int max_B)
{
    return create(out, c, max_T, max_B, 0);
}

int CL_R(cl_seqrnn_create_inference)(SEQ **out, const cl_rnn_config *c, int max_T, int max_B)
{
    return create(out, c, max_T, max_B, 1);
}

#ifndef CL_DOUBLE
int cl_seqrnn_set_precision(SEQ *r, cl_precision p)
{
    int err = CL_OK;
    for (int i = 0; i < r->c.layers * r->D && !err; i++)
        err = cl_rnn_set_precision(r->rnn[i], p);
    return err;
}
#endif

/* ==== moving steps between layouts ========================================= */

/* Columns [off, off+w) of a [T,B,stride] buffer. */
typedef struct {
    real *p;
    int stride, off;
} CL_R(seq_view);
#define VIEW CL_R(seq_view)

static VIEW view(const real *p, int stride, int off)
{
    VIEW v = {(real *)p, stride, off};
    return v;
}

/* dst[t,b] = (or +=) src[s,b] with s = t, or s = len[b]-1-t when `reverse`,
 * for the w columns of each view; dst's padded steps t >= len[b] become zero.
 * Reversal is its own inverse, so this both reverses and un-reverses. */
static void seq_copy(const SEQ *r, VIEW dst, VIEW src, int w, int reverse, int add)
{
    for (int t = 0; t < r->T; t++)
        for (int b = 0; b < r->B; b++) {
            size_t row = (size_t)t * r->B + b;
            real *o = dst.p + row * dst.stride + dst.off;
            if (t >= r->len[b]) {
                memset(o, 0, (size_t)w * sizeof(real));
                continue;
            }
            int s = reverse ? r->len[b] - 1 - t : t;
            const real *i = src.p + ((size_t)s * r->B + b) * src.stride + src.off;
            if (!add) { /* the branch inside the loop kept it from vectorising */
                memcpy(o, i, (size_t)w * sizeof(real));
                continue;
            }
#pragma omp simd
            for (int j = 0; j < w; j++)
                o[j] += i[j];
        }
}

/* Rows of padded steps of a [T,B,w] buffer <- 0. */
static void zero_padding(const SEQ *r, real *p, int w)
{
    for (int b = 0; b < r->B; b++)
        for (int t = r->len[b]; t < r->T; t++)
            memset(p + ((size_t)t * r->B + b) * w, 0, (size_t)w * sizeof(real));
}

/* Parameters (or gradients) of layer l, direction d: one PyTorch block. */
static real *block(const SEQ *r, const real *p, int l, int d)
{
    return (real *)p + cl_rnn_param_offset(&r->c, l, d, CL_RNN_W_IH, NULL, NULL);
}

/* ==== forward ============================================================== */

/* Layer l's input into xf[l] (padding zeroed) and, for the reverse
 * direction, per-sequence reversed into xr[l].  Layers >= 1 read the previous
 * layer's output through inverted dropout drawn exactly as cl_rnn draws it. */
static void layer_input(SEQ *r, int l, const real *X, cl_rng *rng)
{
    int in = layer_in(r, l);
    if (l == 0) {
        seq_copy(r, view(r->xf[0], in, 0), view(X, in, 0), in, 0, 0);
    } else if (r->dropped) {
        size_t n = (size_t)r->T * r->B * in;
        real keep = (real)1 / (1 - (real)r->c.dropout), *m = r->mask[l];
        for (size_t i = 0; i < n; i++) {
            m[i] = cl_rng_float(rng) < r->c.dropout ? 0 : keep;
            r->xf[l][i] = r->cat[i] * m[i];
        }
    } else {
        memcpy(r->xf[l], r->cat, (size_t)r->T * r->B * in * sizeof(real));
    }
    if (r->D == 2)
        seq_copy(r, view(r->xr[l], in, 0), view(r->xf[l], in, 0), in, 1, 0);
}

/* Layer 0's gate inputs g [T,B,G*H] of one direction from table rows idx
 * (see cl_seqrnn_forward_table): per sequence reversed for the reverse
 * direction, as its input would be; padded steps zero, as a zero input row
 * projects to. */
static void gates_from_table(const SEQ *r, real *g, const real *P, const int *idx, int reverse)
{
    size_t GH = (size_t)cl_rnn_gates(r->c.cell) * r->H;
    for (int t = 0; t < r->T; t++)
        for (int b = 0; b < r->B; b++) {
            real *o = g + ((size_t)t * r->B + b) * GH;
            if (t >= r->len[b]) {
                memset(o, 0, GH * sizeof(real));
                continue;
            }
            int s = reverse ? r->len[b] - 1 - t : t;
            memcpy(o, P + (size_t)idx[(size_t)s * r->B + b] * GH, GH * sizeof(real));
        }
}

/* Runs layer l's directions and gathers their outputs into cat [T,B,D*H];
 * with a table P (layer 0, inference), its projections instead of the input. */
static int layer_forward(SEQ *r, const real *params, int l, int train, const real *P,
                         size_t dstride, const int *idx)
{
    int H = r->H, DH = r->D * H;
    for (int d = 0; d < r->D; d++) {
        RNN *rd = r->rnn[l * r->D + d];
        int err;
        if (P) {
            gates_from_table(r, CL_R(cl_rnn_gates0)(rd), P + d * dstride, idx, d);
            err = CL_R(cl_rnn_forward_gates)(rd, block(r, params, l, d), r->T, r->B, NULL, NULL,
                                             r->yd, NULL, NULL, 0, NULL);
        } else {
            err = CL_R(cl_rnn_forward)(rd, block(r, params, l, d), r->T, r->B,
                                       d ? r->xr[l] : r->xf[l], NULL, NULL, r->yd, NULL, NULL,
                                       train, NULL);
        }
        if (err)
            return err;
        seq_copy(r, view(r->cat, DH, d * H), view(r->yd, H, 0), H, d, 0);
    }
    return CL_OK;
}

/* Forward final state at step len[b]-1; the reverse one, un-reversed, at step 0. */
static void gather_last(const SEQ *r, const real *Y, real *last)
{
    int H = r->H, DH = r->D * H;
    for (int b = 0; b < r->B; b++) {
        memcpy(last + (size_t)b * DH, Y + ((size_t)(r->len[b] - 1) * r->B + b) * DH,
               H * sizeof(real));
        if (r->D == 2)
            memcpy(last + (size_t)b * DH + H, Y + (size_t)b * DH + H, H * sizeof(real));
    }
}

/* The top layer's outputs into Y and, when asked, the final states. */
static void output(const SEQ *r, real *Y, real *last)
{
    memcpy(Y, r->cat, (size_t)r->T * r->B * r->D * r->H * sizeof(real));
    if (last)
        gather_last(r, Y, last);
}

static int check_shape(const SEQ *r, int T, int B, const int *len)
{
    if (T < 1 || B < 1 || (size_t)T * B > (size_t)r->max_T * r->max_B || B > r->max_B || !len)
        return CL_EINVAL;
    for (int b = 0; b < B; b++)
        if (len[b] < 1 || len[b] > T)
            return CL_EINVAL;
    return CL_OK;
}

int CL_R(cl_seqrnn_forward)(SEQ *r, const real *params, int T, int B, const real *X,
                            const int *len, real *Y, real *last, int train, cl_rng *rng)
{
    r->trained = 0;
    int dropped = train && r->c.dropout > 0 && r->c.layers > 1;
    if (check_shape(r, T, B, len) || (dropped && !rng) || (train && r->infer))
        return CL_EINVAL;
    r->T = T, r->B = B, r->dropped = dropped;
    memcpy(r->len, len, (size_t)B * sizeof *len);
    for (int l = 0; l < r->c.layers; l++) {
        layer_input(r, l, X, rng);
        int err = layer_forward(r, params, l, train, NULL, 0, NULL);
        if (err)
            return err;
    }
    output(r, Y, last);
    r->trained = train;
    return CL_OK;
}

int CL_R(cl_seqrnn_project)(SEQ *r, const real *params, int n, const real *X, real *P,
                            size_t dstride, int convert)
{
    int err = CL_OK;
    for (int d = 0; d < r->D && !err; d++)
        err = CL_R(cl_rnn_project0)(r->rnn[d], block(r, params, 0, d), n, X, P + d * dstride,
                                    convert);
    return err;
}

int CL_R(cl_seqrnn_forward_table)(SEQ *r, const real *params, int T, int B, const real *P,
                                  size_t dstride, const int *idx, const int *len, real *Y,
                                  real *last)
{
    r->trained = 0;
    if (check_shape(r, T, B, len) || !P || !idx)
        return CL_EINVAL;
    r->T = T, r->B = B, r->dropped = 0;
    memcpy(r->len, len, (size_t)B * sizeof *len);
    int err = layer_forward(r, params, 0, 0, P, dstride, idx);
    for (int l = 1; l < r->c.layers && !err; l++) {
        layer_input(r, l, NULL, NULL);
        err = layer_forward(r, params, l, 0, NULL, 0, NULL);
    }
    if (!err)
        output(r, Y, last);
    return err;
}

/* ==== backward ============================================================= */

/* dy [T,B,D*H] <- dY with padded steps zeroed, plus dlast at the steps the
 * final states came from. */
static void output_grad(SEQ *r, const real *dY, const real *dlast)
{
    int H = r->H, DH = r->D * H;
    if (dY)
        seq_copy(r, view(r->dy, DH, 0), view(dY, DH, 0), DH, 0, 0);
    else
        memset(r->dy, 0, (size_t)r->T * r->B * DH * sizeof(real));
    for (int b = 0; dlast && b < r->B; b++) {
        const real *g = dlast + (size_t)b * DH;
        real *fwd = r->dy + ((size_t)(r->len[b] - 1) * r->B + b) * DH;
        real *rev = r->dy + (size_t)b * DH + H;
        for (int j = 0; j < H; j++) {
            fwd[j] += g[j];
            if (r->D == 2)
                rev[j] += g[H + j];
        }
    }
}

/* Layer l's backward from r->dy [T,B,D*H] to dx [T,B,I_l] (NULL: not needed). */
static int layer_backward(SEQ *r, const real *params, real *grads, int l, real *dx)
{
    int H = r->H, DH = r->D * H, in = layer_in(r, l);
    for (int d = 0; d < r->D; d++) {
        real *dxd = !dx ? NULL : d ? r->dxr : dx;
        seq_copy(r, view(r->yd, H, 0), view(r->dy, DH, d * H), H, d, 0);
        int err = CL_R(cl_rnn_backward)(r->rnn[l * r->D + d], block(r, params, l, d),
                                        block(r, grads, l, d), r->yd, NULL, NULL, dxd, NULL, NULL);
        if (err)
            return err;
    }
    if (dx && r->D == 2) /* the reverse run saw reversed steps: un-reverse its dx */
        seq_copy(r, view(dx, in, 0), view(r->dxr, in, 0), in, 1, 1);
    else if (dx) /* already zero in exact arithmetic; made explicit, as promised */
        zero_padding(r, dx, in);
    return CL_OK;
}

int CL_R(cl_seqrnn_backward)(SEQ *r, const real *params, real *grads, const real *dY,
                             const real *dlast, real *dX)
{
    if (!r->trained)
        return CL_EINVAL;
    output_grad(r, dY, dlast);
    for (int l = r->c.layers - 1; l >= 0; l--) {
        real *dx = l > 0 ? r->dx : dX;
        int err = layer_backward(r, params, grads, l, dx);
        if (err)
            return err;
        if (l == 0)
            break;
        size_t n = (size_t)r->T * r->B * layer_in(r, l);
        for (size_t i = 0; r->dropped && i < n; i++)
            dx[i] *= r->mask[l][i];
        real *t = r->dy; /* this layer's input gradient is the one below's output gradient */
        r->dy = r->dx, r->dx = t;
    }
    return CL_OK;
}
