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
    cl_gemm_(CblasRowMajor, ta == 'T' ? CblasTrans : CblasNoTrans,
             tb == 'T' ? CblasTrans : CblasNoTrans, M, N, K, alpha, A, ta == 'T' ? M : K, B,
             tb == 'T' ? K : N, beta, C, N);
}

static inline real cl_sigmoid(real x) { return (real)1 / ((real)1 + R_EXP(-x)); }

#endif
