/* cl_gates: the LSTM and GRU gate kernels, written once in `real`.
 *
 * Internal.  Included by cl_kern_isa.c, which compiles them in float once
 * per instruction set (the variants of cl_kern.h, chosen at run time), and by
 * the double builds of cl_rnn.c (gradient checks), which call them directly.
 * Everything here is static inline: an including file pays only for what it
 * calls.  Each loop runs over contiguous rows so that it vectorises (tanh
 * from libmvec, see cl_real.h). */
#ifndef CL_GATES_H
#define CL_GATES_H

#include <stddef.h>

#include "cl_real.h"

/* LSTM gates of one step: g [B,4H] holds x W_ih^T + h W_hh^T on entry and the
 * activated gates on exit; writes c and h.  Each loop runs over contiguous
 * rows so that it vectorises (tanh from libmvec, see cl_real.h). */
static inline void cl_gates_lstm_fwd(real *g, const real *bih, const real *bhh, const real *cp,
                                     real *c, real *h, int B, int H)
{
    for (int b = 0; b < B; b++) {
        real *restrict gi = g + (size_t)b * 4 * H, *restrict gf = gi + H, *restrict gg = gf + H,
                       *restrict go = gg + H;
        const real *restrict cprev = cp + (size_t)b * H;
        real *restrict cb = c + (size_t)b * H, *restrict hb = h + (size_t)b * H;
#pragma omp simd
        for (int k = 0; k < 4 * H; k++)
            gi[k] += bih[k] + bhh[k];
        cl_vsigmoid(gi, 2 * (size_t)H); /* i and f are adjacent */
        cl_vtanh(gg, (size_t)H);
        cl_vsigmoid(go, (size_t)H);
#pragma omp simd
        for (int j = 0; j < H; j++) {
            cb[j] = gf[j] * cprev[j] + gi[j] * gg[j];
            hb[j] = go[j] * R_TANH(cb[j]);
        }
    }
}

/* GRU step (PyTorch's equations): gi [B,3H] holds x W_ih^T + b_ih on entry and
 * r z n on exit; gh [B,3H] holds h W_hh^T + b_hh. */
static inline void cl_gates_gru_fwd(real *gi, const real *gh, const real *hp, real *hn, real *h,
                                    int B, int H)
{
    for (int b = 0; b < B; b++) {
        real *restrict xr = gi + (size_t)b * 3 * H, *restrict xn = xr + 2 * H;
        const real *restrict hr = gh + (size_t)b * 3 * H, *restrict hnn = hr + 2 * H;
        const real *restrict hpb = hp + (size_t)b * H;
        real *restrict hnb = hn + (size_t)b * H, *restrict hb = h + (size_t)b * H;
#pragma omp simd
        for (int k = 0; k < 2 * H; k++)
            xr[k] += hr[k];
        cl_vsigmoid(xr, 2 * (size_t)H); /* r and z are adjacent */
        const real *restrict z = xr + H;
#pragma omp simd
        for (int j = 0; j < H; j++) {
            hnb[j] = hnn[j];
            xn[j] = R_TANH(xn[j] + xr[j] * hnn[j]);
            hb[j] = (1 - z[j]) * xn[j] + z[j] * hpb[j];
        }
    }
}

/* LSTM step backward: from dh (dL/dh_t, all paths) and dc (dL/dc_t from step
 * t+1) to the pre-activation gate gradients dg; dc becomes dL/dc_{t-1}. */
static inline void cl_gates_lstm_bwd(real *dg, const real *g, const real *c, const real *cp,
                                     const real *dh, real *dc, int B, int H)
{
    for (int b = 0; b < B; b++) {
        const real *restrict gi = g + (size_t)b * 4 * H, *restrict gf = gi + H,
                             *restrict gg = gf + H, *restrict go = gg + H;
        real *restrict di = dg + (size_t)b * 4 * H, *restrict df = di + H, *restrict dz = df + H,
                       *restrict dout = dz + H;
        const real *restrict cb = c + (size_t)b * H, *restrict cpb = cp + (size_t)b * H,
                             *restrict dhb = dh + (size_t)b * H;
        real *restrict dcb = dc + (size_t)b * H;
#pragma omp simd
        for (int j = 0; j < H; j++) {
            real tc = R_TANH(cb[j]), i = gi[j], f = gf[j], z = gg[j], o = go[j];
            real dct = dcb[j] + dhb[j] * o * (1 - tc * tc);
            dout[j] = dhb[j] * tc * o * (1 - o);
            di[j] = dct * z * i * (1 - i);
            df[j] = dct * cpb[j] * f * (1 - f);
            dz[j] = dct * i * (1 - z * z);
            dcb[j] = dct * f;
        }
    }
}

/* GRU step backward: dgi feeds W_ih, b_ih and the input; dgh feeds W_hh, b_hh
 * and h_{t-1}.  dh becomes the direct part of dL/dh_{t-1} (z * dh). */
static inline void cl_gates_gru_bwd(real *dgi, real *dgh, const real *g, const real *hn,
                                    const real *hp, real *dh, int B, int H)
{
    for (int b = 0; b < B; b++) {
        const real *gr = g + (size_t)b * 3 * H, *gz = gr + H, *gn = gz + H;
        real *ir = dgi + (size_t)b * 3 * H, *iz = ir + H, *in = iz + H;
        real *hr = dgh + (size_t)b * 3 * H, *hz = hr + H, *hnn = hz + H;
        for (int j = 0; j < H; j++) {
            size_t k = (size_t)b * H + j;
            real r = gr[j], z = gz[j], n = gn[j], d = dh[k];
            real dn = d * (1 - z) * (1 - n * n);
            real dz = d * (hp[k] - n) * z * (1 - z);
            real dr = dn * hn[k] * r * (1 - r);
            ir[j] = hr[j] = dr;
            iz[j] = hz[j] = dz;
            in[j] = dn;
            hnn[j] = dn * r;
            dh[k] = d * z;
        }
    }
}

/* Batch 1 with the cell state updated in place (generation, cl_infer): g
 * [4H] holds the pre-activations, biases included. */
static inline void cl_gates_lstm_step(real *g, real *c, real *h, int H)
{
    cl_vsigmoid(g, 2 * (size_t)H);
    cl_vtanh(g + 2 * H, (size_t)H);
    cl_vsigmoid(g + 3 * H, (size_t)H);
#pragma omp simd
    for (int j = 0; j < H; j++) {
        c[j] = g[H + j] * c[j] + g[j] * g[2 * H + j];
        h[j] = g[3 * H + j] * R_TANH(c[j]);
    }
}

#endif
