/* cl_kern_isa: one variant of the kernel table (see cl_kern.h).
 *
 * Compiled once per variant with -DCL_KERN_ISA=NAME and that variant's
 * instruction-set flags (Makefile: KERN_FLAGS_NAME); defines cl_kern_NAME.
 * The gate kernels are cl_gates.h's, vectorised by the compiler for the
 * variant's width (libmvec's tanhf of 4, 8 or 16 lanes); the weight products
 * are cl_wmat_kern.h's, with the variant's intrinsics; the bfloat16
 * conversion is below. */
#include "cl_gates.h"
#include "cl_kern.h"
#include "cl_wmat_kern.h"

#ifndef CL_KERN_ISA
#error "cl_kern_isa.c is compiled with -DCL_KERN_ISA=baseline|avx2|avx512|avx512bf16 (Makefile)"
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

/* ==== fp32 -> bfloat16 ====================================================== */

#if defined(__AVX512F__) || defined(__AVX2__)
#include <immintrin.h>
#endif

/* The baseline's loop, and every variant's tail. */
static void bf16_tail(uint16_t *restrict dst, const float *restrict src, size_t n)
{
#pragma omp simd
    for (size_t i = 0; i < n; i++)
        dst[i] = cl_kern_bf16_round(src[i]);
}

#if defined(__AVX512BF16__)
/* 32 values per instruction (vcvtne2ps2bf16: round to nearest even, NaN
 * made quiet, as cl_kern_bf16_round) except that the instruction flushes
 * subnormal inputs to zero: a block holding one is redone by the tail loop
 * (they do not occur in training; the bits stay the baseline's). */
static __mmask16 subnormal(__m512 x)
{
    __m512i u = _mm512_castps_si512(x);
    return _mm512_test_epi32_mask(u, _mm512_set1_epi32(0x007fffff)) &
           (__mmask16)~_mm512_test_epi32_mask(u, _mm512_set1_epi32(0x7f800000));
}

static size_t bf16_body(uint16_t *restrict dst, const float *restrict src, size_t n)
{
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        __m512 lo = _mm512_loadu_ps(src + i), hi = _mm512_loadu_ps(src + i + 16);
        if (subnormal(lo) | subnormal(hi))
            bf16_tail(dst + i, src + i, 32);
        else
            _mm512_storeu_si512(dst + i, (__m512i)_mm512_cvtne2ps_pbh(hi, lo));
    }
    return i;
}
#elif defined(__AVX512F__)
/* cl_kern_bf16_round on 16 lanes: add 0x7fff plus the lowest kept bit, keep
 * the high half; NaN lanes get their high half with the quiet bit. */
static size_t bf16_body(uint16_t *restrict dst, const float *restrict src, size_t n)
{
    const __m512i one = _mm512_set1_epi32(1), half = _mm512_set1_epi32(0x7fff);
    const __m512i abs = _mm512_set1_epi32(0x7fffffff), inf = _mm512_set1_epi32(0x7f800000);
    const __m512i quiet = _mm512_set1_epi32(0x40);
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512i u = _mm512_loadu_si512(src + i), hi = _mm512_srli_epi32(u, 16);
        __m512i r = _mm512_add_epi32(u, _mm512_add_epi32(half, _mm512_and_si512(hi, one)));
        __mmask16 nan = _mm512_cmpgt_epi32_mask(_mm512_and_si512(u, abs), inf);
        r = _mm512_mask_mov_epi32(_mm512_srli_epi32(r, 16), nan, _mm512_or_si512(hi, quiet));
        _mm256_storeu_si256((__m256i *)(dst + i), _mm512_cvtepi32_epi16(r));
    }
    return i;
}
#elif defined(__AVX2__)
/* The same on 8 lanes; two registers packed into 16 values per store. */
static __m256i bf16_round8(const float *src)
{
    const __m256i one = _mm256_set1_epi32(1), half = _mm256_set1_epi32(0x7fff);
    const __m256i abs = _mm256_set1_epi32(0x7fffffff), inf = _mm256_set1_epi32(0x7f800000);
    __m256i u = _mm256_loadu_si256((const __m256i *)src), hi = _mm256_srli_epi32(u, 16);
    __m256i r = _mm256_add_epi32(u, _mm256_add_epi32(half, _mm256_and_si256(hi, one)));
    __m256i nan = _mm256_cmpgt_epi32(_mm256_and_si256(u, abs), inf);
    return _mm256_blendv_epi8(_mm256_srli_epi32(r, 16),
                              _mm256_or_si256(hi, _mm256_set1_epi32(0x40)), nan);
}

static size_t bf16_body(uint16_t *restrict dst, const float *restrict src, size_t n)
{
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        /* packus works within 128-bit halves: [a0-3 b0-3 a4-7 b4-7], then put in order */
        __m256i p = _mm256_packus_epi32(bf16_round8(src + i), bf16_round8(src + i + 8));
        _mm256_storeu_si256((__m256i *)(dst + i), _mm256_permute4x64_epi64(p, 0xd8));
    }
    return i;
}
#else
static size_t bf16_body(uint16_t *restrict dst, const float *restrict src, size_t n)
{
    (void)dst, (void)src, (void)n;
    return 0;
}
#endif

static void bf16_from_f32(uint16_t *restrict dst, const float *restrict src, size_t n)
{
    size_t i = bf16_body(dst, src, n);
    bf16_tail(dst + i, src + i, n - i);
}

/* ==== the table ============================================================ */

#define KERN_PASTE(a, b) a##b
#define KERN_NAME(isa) KERN_PASTE(cl_kern_, isa)
#define KERN_ID(isa) KERN_PASTE(KERN_ID_, isa)
#define KERN_ID_baseline CL_ISA_BASELINE
#define KERN_ID_avx2 CL_ISA_AVX2
#define KERN_ID_avx512 CL_ISA_AVX512
#define KERN_ID_avx512bf16 CL_ISA_AVX512BF16

extern const cl_kern KERN_NAME(CL_KERN_ISA);
const cl_kern KERN_NAME(CL_KERN_ISA) = {
    KERN_ID(CL_KERN_ISA), lstm_fwd, gru_fwd, lstm_bwd, gru_bwd, lstm_step, wmat_rows, bf16_from_f32,
};
