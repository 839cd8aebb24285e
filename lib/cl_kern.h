/* cl_kern: charlstm's own hot kernels, one table of them per instruction set.
 *
 * Internal (not installed).  The gate kernels of training and generation
 * (cl_gates.h), generation's weight products (cl_wmat_kern.h) and the
 * fp32 -> bfloat16 conversion of the products on oneDNN (cl_mm.h).
 * lib/cl_kern_isa.c is compiled once per variant
 * of cl_isa.h with that variant's flags (Makefile: KERN_FLAGS_*), in every
 * build, and each compilation defines one constant table below.  The whole
 * file is compiled for the variant, rather than marking functions with
 * target attributes or target_clones, so that `omp simd` loops call libmvec's
 * tanh of the same width (4, 8 or 16 lanes) and intrinsics would need no
 * per-function attributes; and a table, rather than GCC's ifunc resolvers,
 * so that CHARLSTM_ISA can force a variant with an error code instead of an
 * illegal instruction, and a test can run every variant in one process.
 *
 * There is no global choice: an object that runs kernels calls
 * cl_kern_select() when it is created and keeps the table it got (cl_rnn,
 * cl_infer).  The tables themselves are constant.
 *
 * Adding a kernel: a field here, its body in cl_kern_isa.c (plain C that the
 * compiler vectorises for each variant, or `#if defined(__AVX512F__)` /
 * `__AVX2__` branches with intrinsics), its name in the table at the end of
 * that file, and a case in tests/test_kern.c that compares the variants. */
#ifndef CL_KERN_H
#define CL_KERN_H

#include <stddef.h>
#include <stdint.h>

#include <string.h>

#include "cl_isa.h"
#include "cl_wmat.h"

/* x rounded to the nearest bfloat16, ties to even; a NaN stays a quiet NaN
 * of the same sign, infinities stay infinite, finite values beyond the
 * largest bfloat16 round to infinity, and subnormals round as any other
 * value (the AVX512-BF16 instruction flushes them: its variant mends those
 * lanes).  Every variant's bf16_from_f32 gives these bits. */
static inline uint16_t cl_kern_bf16_round(float x)
{
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    if ((u & 0x7fffffffu) > 0x7f800000u)
        return (uint16_t)((u >> 16) | 0x40u); /* rounding could carry a NaN into the sign */
    return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

typedef struct {
    cl_isa isa;
    /* LSTM step, B rows: g [B,4H] holds x W_ih^T + h W_hh^T on entry and the
     * activated gates i f g o on exit; c, h [B,H] <- from cp [B,H]. */
    void (*lstm_fwd)(float *g, const float *bih, const float *bhh, const float *cp, float *c,
                     float *h, int B, int H);
    /* GRU step (PyTorch's equations): gi [B,3H] holds x W_ih^T + b_ih on entry
     * and r z n on exit; gh [B,3H] holds h W_hh^T + b_hh; hn <- gh's n part. */
    void (*gru_fwd)(float *gi, const float *gh, const float *hp, float *hn, float *h, int B,
                    int H);
    /* LSTM step backward: dg [B,4H] <- pre-activation gradients; dc [B,H]
     * carries dL/dc from step t+1 to step t-1. */
    void (*lstm_bwd)(float *dg, const float *g, const float *c, const float *cp, const float *dh,
                     float *dc, int B, int H);
    /* GRU step backward: dgi, dgh [B,3H]; dh [B,H] becomes z * dh. */
    void (*gru_bwd)(float *dgi, float *dgh, const float *g, const float *hn, const float *hp,
                    float *dh, int B, int H);
    /* LSTM step of batch 1 with c updated in place: g [4H] pre-activations. */
    void (*lstm_step)(float *g, float *c, float *h, int H);
    /* Generation's weight products (cl_wmat_kern.h): Y[c * ldy + (r - r0)] =
     * sum_k W[r, k] X_c[k] for rows r0 <= r < r1 and columns c < ncol; X holds
     * ncol input columns (cl_wmat_put) one after another.  int8 sums are
     * exact, so every variant gives the same int8 result; fp32 and bf16 differ
     * by the order of additions. */
    void (*wmat_rows)(const cl_wmat *m, int r0, int r1, const void *X, int ncol, float *Y,
                      int ldy);
    /* dst[i] = cl_kern_bf16_round(src[i]), i < n: the bfloat16 copies that the
     * products on oneDNN read (weights once per update, activations and
     * gradients once per pass). */
    void (*bf16_from_f32)(uint16_t *dst, const float *src, size_t n);
} cl_kern;

/* The table of `isa`: CL_OK, or CL_EISA when this CPU cannot run it (or this
 * build has no such variant); *out is NULL then.  The table is static. */
int cl_kern_for(cl_isa isa, const cl_kern **out);
/* The table of cl_isa_active(): CHARLSTM_ISA's variant, else the widest this
 * CPU runs.  CL_EISA as cl_isa_choose. */
int cl_kern_select(const cl_kern **out);

#endif
