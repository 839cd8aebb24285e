/* cl_mm: large matrix products through oneDNN matmul primitives, in
 * bfloat16 (fp32 accumulation) or fp32, chosen at run time for the CPU.
 *
 * One cl_mm is a cache of primitives: each (shape, layout, beta, calling
 * OpenMP thread) gets its primitive, stream and memory objects the first time
 * it is multiplied; later products of that shape only point the memory
 * objects at the caller's buffers.  charlstm allocates nothing per product
 * after the first (oneDNN itself builds a small argument map per execution).
 * The cache keeps the 128 most recently used shapes (stacks over sentences
 * meet a new shape with nearly every batch), and the scratchpads oneDNN
 * needs are one buffer per calling thread, not one per shape.
 *
 * Precision: in bf16 mode A and B are uint16_t bfloat16 matrices (the caller
 * converts, usually once per weight update or per activation block: the
 * library with its kernel table's bf16_from_f32, vectorised for the CPU,
 * others with cl_bf16_from_f32) and C is fp32; in fp32 mode all three are float.  Master
 * weights, optimizer moments, cell states and gates stay fp32 in the callers.
 * Measured on an AMD EPYC (Zen 4, avx512_core_bf16) one thread: bf16 2.0-2.5x
 * oneDNN fp32, which is itself 1.3-2.5x OpenBLAS at the shapes of training
 * (docs/performance.md).
 *
 * Not used by the double build (gradient checks), which stays on BLAS. */
#ifndef CL_MM_H
#define CL_MM_H

#include <stddef.h>
#include <stdint.h>

#include "cl_api.h"

CL_API_BEGIN

typedef enum {
    CL_PREC_AUTO = 0, /* bf16 where the CPU has AMX or AVX512-BF16, else fp32 */
    CL_PREC_FP32 = 1,
    CL_PREC_BF16 = 2  /* CL_EINVAL from cl_mm_create if the CPU has neither */
} cl_precision;

/* "auto", "fp32", "bf16" -> 0 and *out, or CL_EPARSE. */
int cl_precision_parse(const char *s, cl_precision *out);
const char *cl_precision_name(cl_precision p);
/* What `auto` means on this CPU: CL_PREC_BF16 or CL_PREC_FP32. */
cl_precision cl_precision_resolve(cl_precision p);
/* 0 when this CPU runs products in p, CL_EINVAL for bf16 on a CPU without
 * AMX or AVX512-BF16 (what cl_mm_create would refuse). */
int cl_precision_check(cl_precision p);
/* The instruction set oneDNN uses here, e.g. "avx512_core_bf16"; static text. */
const char *cl_mm_isa(void);

/* The oneDNN implementation a product of a typical training shape ([32 x
 * 512] x [512 x 2048]) gets in precision p (auto resolved), e.g.
 * "brg:avx512_core_bf16", into buf (truncated to size).  0, or CL_EINVAL
 * (bf16 on a CPU without it) / CL_ENOMEM with buf "-". */
int cl_mm_impl(cl_precision p, char *buf, size_t size);

typedef struct cl_mm_s cl_mm;

/* A cache for products in precision p (auto resolved here); caller frees
 * with cl_mm_free.  CL_EINVAL: bf16 asked on a CPU without it; CL_ENOMEM. */
int cl_mm_create(cl_mm **out, cl_precision p);
void cl_mm_free(cl_mm *m);
/* CL_PREC_BF16 or CL_PREC_FP32: what A and B of cl_mm_gemm must hold. */
cl_precision cl_mm_precision(const cl_mm *m);

/* Row-major C[M,N] (ldc) = op(A) op(B) + beta C, beta 0 or 1, op by ta/tb
 * ('N' or 'T') with leading dimensions lda/ldb of the stored matrices.  A and
 * B are bf16 or float as cl_mm_precision() says.  `threads`: OpenMP threads
 * for this product when called outside a parallel region (inside one, the
 * product runs on the calling thread).  0 or CL_ENOMEM/CL_EINVAL (oneDNN
 * refused the shape). */
int cl_mm_gemm(cl_mm *m, int threads, char ta, char tb, int M, int N, int K, const void *A,
               int lda, const void *B, int ldb, float beta, float *C, int ldc);

/* Weights B [K,N] (op by tb, leading dimension ldb) kept in the layout
 * oneDNN prefers for products of M rows, in the cache's precision: repacked
 * once per weight update (cl_mm_pack), then read by many products
 * with A ['N', M' rows, any M'] (cl_mm_gemm_packed): a recurrent step no
 * longer re-packs its weight matrix.  Free with cl_mm_packed_free before the
 * cl_mm.  0, CL_ENOMEM or CL_EINVAL. */
typedef struct cl_mm_packed_s cl_mm_packed;
int cl_mm_packed_create(cl_mm *m, cl_mm_packed **out, char tb, int M, int N, int K, int ldb);
void cl_mm_packed_free(cl_mm_packed *p);
/* Reorders B (bf16 or float as cl_mm_precision() says, laid out as described
 * at creation) into the packed layout. */
int cl_mm_pack(cl_mm_packed *p, const void *B);
int cl_mm_gemm_packed(cl_mm *m, int threads, int M, const void *A, int lda,
                      const cl_mm_packed *p, float beta, float *C, int ldc);

/* dst[i] = src[i] rounded to the nearest bfloat16 (ties to even; NaN stays
 * NaN).  Portable scalar code; the same bits as every variant of the kernel
 * tables' bf16_from_f32 (cl_kern.h), which the library itself uses. */
void cl_bf16_from_f32(uint16_t *dst, const float *src, size_t n);

CL_API_END
#endif
