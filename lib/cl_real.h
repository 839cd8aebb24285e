/* cl_real: the scalar type of the numeric kernels.
 *
 * Kernel sources (cl_rnn.c, cl_layers.c) are compiled twice: as float for
 * training and inference, and with -DCL_DOUBLE as double so that the tests can
 * check every gradient against finite differences in double precision.  The
 * double build gets a _d suffix on every exported name via CL_R().
 *
 * CL_WIDE is the test build of the whole library in double (tests/wide.h,
 * for the heads' gradient checks): there `float` itself is double, so the
 * kernels keep their plain names and use double BLAS. */
#ifndef CL_REAL_H
#define CL_REAL_H

#include <cblas.h>
#include <math.h>
#include <stddef.h>

#if defined(CL_DOUBLE) || defined(CL_WIDE)
typedef double real;
#ifdef CL_WIDE
#define CL_R(name) name
#else
#define CL_R(name) name##_d
#endif
#define cl_gemm_ cblas_dgemm
#define cl_gemv_ cblas_dgemv
#define R_EXP exp
#define R_TANH tanh
#define R_LOG log
#else
typedef float real;
#define CL_R(name) name
#define cl_gemm_ cblas_sgemm
#define cl_gemv_ cblas_sgemv
#define R_EXP expf
#define R_TANH tanhf
#define R_LOG logf
#endif

/* Row-major C[M,N] = alpha * op(A) * op(B) + beta * C with op chosen by ta/tb
 * ('N' or 'T') and explicit leading dimensions. */
static inline void cl_gemm_ld(char ta, char tb, int M, int N, int K, real alpha, const real *A,
                              int lda, const real *B, int ldb, real beta, real *C, int ldc)
{
    /* One row times a weight matrix (generation, batch 1): GEMM would pack the
     * whole weight matrix on every call; GEMV streams it once. */
    if (M == 1 && ta == 'N' && tb == 'T') {
        cl_gemv_(CblasRowMajor, CblasNoTrans, N, K, alpha, B, ldb, A, 1, beta, C, 1);
        return;
    }
    cl_gemm_(CblasRowMajor, ta == 'T' ? CblasTrans : CblasNoTrans,
             tb == 'T' ? CblasTrans : CblasNoTrans, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

/* The same for dense matrices (leading dimensions follow from the shapes). */
static inline void cl_gemm(char ta, char tb, int M, int N, int K, real alpha, const real *A,
                           const real *B, real beta, real *C)
{
    cl_gemm_ld(ta, tb, M, N, K, alpha, A, ta == 'T' ? M : K, B, tb == 'T' ? K : N, beta, C, N);
}

/* cl_gemm with the rows of C split among `threads` OpenMP threads, each
 * running a single-threaded OpenBLAS product on its block.  The whole program
 * then has one thread pool: OpenBLAS's own pool, spinning while OpenMP's
 * threads worked (and the other way round), starved both on two cores. */
static inline void cl_gemm_mt(int threads, char ta, char tb, int M, int N, int K, real alpha,
                              const real *A, const real *B, real beta, real *C)
{
    int n = threads < M / 64 ? threads : M / 64; /* blocks of at least 64 rows */
    if (n <= 1) {
        cl_gemm(ta, tb, M, N, K, alpha, A, B, beta, C);
        return;
    }
    int lda = ta == 'T' ? M : K, ldb = tb == 'T' ? K : N;
#pragma omp parallel for num_threads(n) schedule(static, 1)
    for (int p = 0; p < n; p++) {
        int m0 = (int)((long)M * p / n), m1 = (int)((long)M * (p + 1) / n);
        const real *Ap = ta == 'T' ? A + m0 : A + (size_t)m0 * lda;
        cl_gemm_ld(ta, tb, m1 - m0, N, K, alpha, Ap, lda, B, ldb, beta, C + (size_t)m0 * N, N);
    }
}

/* glibc's libmvec (2.35+) has vector tanh: declaring it lets `omp simd`
 * loops call 8- or 16-wide versions instead of one scalar tanhf per value,
 * which was a third of training time.  Same declaration glibc's own headers
 * make under -ffast-math; here without loosening any other arithmetic. */
extern float tanhf(float) __attribute__((simd("notinbranch")));
extern double tanh(double) __attribute__((simd("notinbranch")));

static inline real cl_sigmoid(real x) { return (real)0.5 * R_TANH((real)0.5 * x) + (real)0.5; }

/* In place over n contiguous values; sigmoid(x) = (1 + tanh(x/2)) / 2 so that
 * both activations use the one vector function. */
static inline void cl_vtanh(real *restrict x, size_t n)
{
#pragma omp simd
    for (size_t i = 0; i < n; i++)
        x[i] = R_TANH(x[i]);
}

static inline void cl_vsigmoid(real *restrict x, size_t n)
{
#pragma omp simd
    for (size_t i = 0; i < n; i++)
        x[i] = (real)0.5 * R_TANH((real)0.5 * x[i]) + (real)0.5;
}

#endif
