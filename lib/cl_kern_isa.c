/* cl_kern_isa: one variant of the kernel table (see cl_kern.h).
 *
 * Compiled once per variant with -DCL_KERN_ISA=NAME and that variant's
 * instruction-set flags (Makefile: KERN_FLAGS_NAME); defines cl_kern_NAME.
 * The gate kernels are cl_gates.h's, vectorised by the compiler for the
 * variant's width (libmvec's tanhf of 4, 8 or 16 lanes); the weight products
 * are cl_wmat_kern.h's, with the variant's intrinsics. */
#include "cl_gates.h"
#include "cl_kern.h"
#include "cl_wmat_kern.h"

#ifndef CL_KERN_ISA
#error "cl_kern_isa.c is compiled with -DCL_KERN_ISA=baseline|avx2|avx512 (Makefile)"
#endif

/* ==== gates: float instances of cl_gates.h ================================ */

static void lstm_fwd(float *g, const float *bih, const float *bhh, const float *cp, float *c,
                     float *h, int B, int H)
{
    cl_gates_lstm_fwd(g, bih, bhh, cp, c, h, B, H);
}

static void gru_fwd(float *gi, const float *gh, const float *hp, float *hn, float *h, int B, int H)
{
    cl_gates_gru_fwd(gi, gh, hp, hn, h, B, H);
}

static void lstm_bwd(float *dg, const float *g, const float *c, const float *cp, const float *dh,
                     float *dc, int B, int H)
{
    cl_gates_lstm_bwd(dg, g, c, cp, dh, dc, B, H);
}

static void gru_bwd(float *dgi, float *dgh, const float *g, const float *hn, const float *hp,
                    float *dh, int B, int H)
{
    cl_gates_gru_bwd(dgi, dgh, g, hn, hp, dh, B, H);
}

static void lstm_step(float *g, float *c, float *h, int H) { cl_gates_lstm_step(g, c, h, H); }

/* ==== the table ============================================================ */

#define KERN_PASTE(a, b) a##b
#define KERN_NAME(isa) KERN_PASTE(cl_kern_, isa)
#define KERN_ID(isa) KERN_PASTE(KERN_ID_, isa)
#define KERN_ID_baseline CL_ISA_BASELINE
#define KERN_ID_avx2 CL_ISA_AVX2
#define KERN_ID_avx512 CL_ISA_AVX512

extern const cl_kern KERN_NAME(CL_KERN_ISA);
const cl_kern KERN_NAME(CL_KERN_ISA) = {
    KERN_ID(CL_KERN_ISA), lstm_fwd, gru_fwd, lstm_bwd, gru_bwd, lstm_step, wmat_rows,
};
