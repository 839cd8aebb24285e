/* cl_wmat_kern: the weight products of cl_wmat (cl_kern's wmat_rows), compiled
 * once per instruction-set variant as part of cl_kern_isa.c (cl_kern.h), so
 * that a portable build runs the AVX2 or AVX-512 tiles the CPU has.
 * Internal: included by lib/cl_kern_isa.c only; defines static functions. */
#ifndef CL_WMAT_KERN_H
#define CL_WMAT_KERN_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "cl_wmat.h"

#if defined(__AVX512F__) || defined(__AVX2__)
#include <immintrin.h>
#endif

/* A tile is MR rows by up to MC columns: each weight loaded (and widened)
 * once serves MC columns, each input load MR rows.  A single int8 column
 * takes MR1 rows at a time: more independent sums and weight streams in
 * flight (1.75x the bf16 rate instead of 1.35x with 4 rows, 2 x 512). */
enum { MR = 4, MC = 4, MR1 = 8 };

/* bfloat16 to float, inlined into the portable bf16 loop. */
static inline float wk_bf16(uint16_t b)
{
    uint32_t u = (uint32_t)b << 16;
    float x;
    memcpy(&x, &u, sizeof x);
    return x;
}

/* ==== the tile, written once ============================================== */

/* Rows r..r+nr of columns c..c+nc: one accumulator per (row, column), each
 * weight vector loaded once for the nc columns, each input once for the nr
 * rows.  Expanded inside a function whose nr, nc are constants where it is
 * inlined, so the accumulators stay in registers.  V: the vector type,
 * STEP: inputs per vector; ZERO(), XLOAD(p), WLOAD(row, k), DOT(acc, w, x)
 * and OUT(acc, row) (the finished value of a row) are the ISA's and the
 * format's. */
#define TILE_BODY(V, STEP, ZERO, XLOAD, WLOAD, DOT, OUT)                                           \
    V acc[MR1][MC];                                                                               \
    size_t kp = (size_t)m->kp;                                                                    \
    _Pragma("GCC unroll 8") for (int i = 0; i < nr; i++)                                          \
        _Pragma("GCC unroll 4") for (int j = 0; j < nc; j++) acc[i][j] = ZERO();                  \
    for (size_t k = 0; k < kp; k += STEP) {                                                       \
        V x[MC];                                                                                  \
        _Pragma("GCC unroll 4") for (int j = 0; j < nc; j++) x[j] =                               \
            XLOAD(X + (size_t)(c + j) * kp + k);                                                  \
        _Pragma("GCC unroll 8") for (int i = 0; i < nr; i++) {                                    \
            V w = WLOAD((size_t)(r + i) * kp, k);                                                 \
            _Pragma("GCC unroll 4") for (int j = 0; j < nc; j++) acc[i][j] =                      \
                DOT(acc[i][j], w, x[j]);                                                          \
        }                                                                                         \
    }                                                                                             \
    _Pragma("GCC unroll 8") for (int i = 0; i < nr; i++)                                          \
        _Pragma("GCC unroll 4") for (int j = 0; j < nc; j++)                                      \
            Y[(size_t)(c + j) * ldy + r + i - r0] = OUT(acc[i][j], r + i);

/* ==== kernels: AVX-512 ===================================================== */

#if defined(__AVX512F__) && defined(__AVX512BW__)

static inline __m512 load16(cl_weights t, const void *w, size_t i)
{
    if (t == CL_WEIGHTS_FP32)
        return _mm512_loadu_ps((const float *)w + i);
    __m256i v = _mm256_loadu_si256((const __m256i *)((const uint16_t *)w + i));
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(v), 16));
}

/* fp32 or bf16 weights, float32 sums. */
#define F_W(row, k) load16(t, m->w, (row) + (k))
#define F_DOT(acc, w, x) _mm512_fmadd_ps(w, x, acc)
#define F_OUT(acc, row) _mm512_reduce_add_ps(acc)
static inline __attribute__((always_inline)) void tile_f(cl_weights t, const cl_wmat *m, int r,
                                                         int nr, const float *X, int c, int nc,
                                                         float *Y, int ldy, int r0)
{
    TILE_BODY(__m512, 16, _mm512_setzero_ps, _mm512_loadu_ps, F_W, F_DOT, F_OUT)
}

/* The int8 tile's vector operations (tile_q below): QK inputs per step,
 * int16 products summed in pairs into int32 lanes (exact). */
typedef __m512i qvec;
enum { QK = 32 };
static inline qvec q_zero(void) { return _mm512_setzero_si512(); }
static inline qvec q_x(const int16_t *p) { return _mm512_loadu_si512(p); }
static inline qvec q_w(const int8_t *p) { return _mm512_cvtepi8_epi16(_mm256_loadu_si256((const __m256i *)p)); }
static inline qvec q_dot(qvec acc, qvec w, qvec x)
{
#if defined(__AVX512VNNI__)
    return _mm512_dpwssd_epi32(acc, w, x);
#else
    return _mm512_add_epi32(acc, _mm512_madd_epi16(w, x));
#endif
}
static inline int32_t q_sum(qvec v) { return _mm512_reduce_add_epi32(v); }

#define TILE_F tile_f
#define TILE_Q tile_q

/* ==== kernels: AVX2 (int8 only; fp32 and bf16 take the portable loops) ==== */

#elif defined(__AVX2__)

typedef __m256i qvec;
enum { QK = 16 };
static inline qvec q_zero(void) { return _mm256_setzero_si256(); }
static inline qvec q_x(const int16_t *p) { return _mm256_loadu_si256((const __m256i *)p); }
static inline qvec q_w(const int8_t *p) { return _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)p)); }
static inline qvec q_dot(qvec acc, qvec w, qvec x) { return _mm256_add_epi32(acc, _mm256_madd_epi16(w, x)); }
static inline int32_t q_sum(qvec v)
{
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
    return _mm_cvtsi128_si32(s);
}

#define TILE_Q tile_q
#else
#endif

/* ==== the int8 tile, on the vector operations above (AVX-512 or AVX2) ==== */

#if defined(TILE_Q)
#define Q_W(row, k) q_w((const int8_t *)m->w + (row) + (k))
#define Q_OUT(acc, row) ((float)q_sum(acc) * m->scale[row])
static inline __attribute__((always_inline)) void tile_q(const cl_wmat *m, int r, int nr,
                                                         const int16_t *X, int c, int nc, float *Y,
                                                         int ldy, int r0)
{
    TILE_BODY(qvec, QK, q_zero, q_x, Q_W, q_dot, Q_OUT)
}
#endif

/* ==== kernels: portable C (the compiler vectorises the inner loops) ======= */

/* One dot product per (row, column), never inlined: a loop inlined into
 * several call sites may be vectorised differently at each (another
 * order of additions), and a column must not depend on the tile it is in.
 * S: the sum's type, W and X: the weights' and inputs', TERM: one product. */
#define DOT(NAME, S, W, X, TERM)                                                                  \
    static __attribute__((noinline)) S NAME(const W *w, const X *x, size_t kp)                    \
    {                                                                                             \
        S s = 0;                                                                                  \
        _Pragma("omp simd reduction(+ : s)") for (size_t k = 0; k < kp; k++) s += TERM;           \
        return s;                                                                                 \
    }

#ifndef TILE_F
DOT(dot_fp32, float, float, float, w[k] * x[k])
DOT(dot_bf16, float, uint16_t, float, wk_bf16(w[k]) * x[k])
#endif
#ifndef TILE_Q
DOT(dot_int8, int32_t, int8_t, int16_t, (int32_t)w[k] * x[k])
#endif

#ifndef TILE_F
static inline void tile_f(cl_weights t, const cl_wmat *m, int r, int nr, const float *X, int c,
                          int nc, float *Y, int ldy, int r0)
{
    size_t kp = (size_t)m->kp;
    for (int i = 0; i < nr; i++)
        for (int j = 0; j < nc; j++) {
            const float *x = X + (size_t)(c + j) * kp;
            size_t row = (size_t)(r + i) * kp;
            Y[(size_t)(c + j) * ldy + r + i - r0] =
                t == CL_WEIGHTS_FP32 ? dot_fp32((const float *)m->w + row, x, kp)
                                     : dot_bf16((const uint16_t *)m->w + row, x, kp);
        }
}
#define TILE_F tile_f
#endif

#ifndef TILE_Q
static inline void tile_q(const cl_wmat *m, int r, int nr, const int16_t *X, int c, int nc,
                          float *Y, int ldy, int r0)
{
    size_t kp = (size_t)m->kp;
    for (int i = 0; i < nr; i++)
        for (int j = 0; j < nc; j++)
            Y[(size_t)(c + j) * ldy + r + i - r0] =
                (float)dot_int8((const int8_t *)m->w + (size_t)(r + i) * kp,
                                X + (size_t)(c + j) * kp, kp) * m->scale[r + i];
}
#define TILE_Q tile_q
#endif

/* ==== the product ========================================================== */

/* One group of MR rows (or one row) against every column, MC at a time;
 * the constant arguments let each call site inline its own tile. */
#define COLUMNS(CALL, NR, XT)                                                                     \
    do {                                                                                          \
        int c = 0;                                                                                \
        for (; c + MC <= ncol; c += MC)                                                           \
            CALL(m, r, NR, (const XT *)X, c, MC, Y, ldy, r0);                                     \
        switch (ncol - c) {                                                                       \
        case 3: CALL(m, r, NR, (const XT *)X, c, 3, Y, ldy, r0); break;                           \
        case 2: CALL(m, r, NR, (const XT *)X, c, 2, Y, ldy, r0); break;                           \
        case 1: CALL(m, r, NR, (const XT *)X, c, 1, Y, ldy, r0); break;                           \
        }                                                                                         \
    } while (0)

/* Every row of [r0, r1): R1 at a time for one column, MR for more, then
 * one by one. */
#define ROWS(NAME, CALL, XT, R1)                                                                  \
    static void NAME(const cl_wmat *m, int r0, int r1, const void *X, int ncol, float *Y,         \
                     int ldy)                                                                     \
    {                                                                                             \
        int r = r0;                                                                               \
        for (; ncol == 1 && r + R1 <= r1; r += R1)                                                \
            CALL(m, r, R1, (const XT *)X, 0, 1, Y, ldy, r0);                                      \
        for (; r + MR <= r1; r += MR)                                                             \
            COLUMNS(CALL, MR, XT);                                                                \
        for (; r < r1; r++)                                                                       \
            COLUMNS(CALL, 1, XT);                                                                 \
    }

/* The weight format as a constant, so each kernel has no test in its loop. */
#define TILE_FP32(...) TILE_F(CL_WEIGHTS_FP32, __VA_ARGS__)
#define TILE_BF16(...) TILE_F(CL_WEIGHTS_BF16, __VA_ARGS__)
/* 8 rows of bf16 or fp32 run out of general registers for the row
 * pointers (spilled, measured slower); int8 gains from 8. */
ROWS(rows_fp32, TILE_FP32, float, MR)
ROWS(rows_bf16, TILE_BF16, float, MR)
ROWS(rows_int8, TILE_Q, int16_t, MR1)

/* Y[c * ldy + (r - r0)] = sum_k W[r, k] X_c[k]: cl_kern.h's wmat_rows. */
static void wmat_rows(const cl_wmat *m, int r0, int r1, const void *X, int ncol, float *Y, int ldy)
{
    if (m->type == CL_WEIGHTS_INT8)
        rows_int8(m, r0, r1, X, ncol, Y, ldy);
    else if (m->type == CL_WEIGHTS_BF16)
        rows_bf16(m, r0, r1, X, ncol, Y, ldy);
    else
        rows_fp32(m, r0, r1, X, ncol, Y, ldy);
}

#endif
