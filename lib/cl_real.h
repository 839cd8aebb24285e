/* cl_real: the scalar type of the numeric kernels.
 *
 * Kernel sources (cl_rnn.c, cl_layers.c) are compiled twice: as float for
 * training and inference, and with -DCL_DOUBLE as double so that the tests can
 * check every gradient against finite differences in double precision.  The
 * double build gets a _d suffix on every exported name via CL_R(). */
#ifndef CL_REAL_H
#define CL_REAL_H

#include <cblas.h>
#include <math.h>
#include <stddef.h>

#ifdef CL_DOUBLE
typedef double real;
#define CL_R(name) name##_d
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
 * ('N' or 'T'); leading dimensions follow from the shapes (dense matrices). */
static inline void cl_gemm(char ta, char tb, int M, int N, int K, real alpha, const real *A,
                           const real *B, real beta, real *C)
{
    /* One row times a weight matrix (generation, batch 1): GEMM would pack the
     * whole weight matrix on every call; GEMV streams it once. */
    if (M == 1 && ta == 'N' && tb == 'T') {
        cl_gemv_(CblasRowMajor, CblasNoTrans, N, K, alpha, B, K, A, 1, beta, C, 1);
        return;
    }
    cl_gemm_(CblasRowMajor, ta == 'T' ? CblasTrans : CblasNoTrans,
             tb == 'T' ? CblasTrans : CblasNoTrans, M, N, K, alpha, A, ta == 'T' ? M : K, B,
             tb == 'T' ? K : N, beta, C, N);
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
