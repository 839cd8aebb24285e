/* cl_layers: embedding, linear and softmax cross-entropy kernels.
 * Compiled twice (see cl_real.h); the linear layer on oneDNN in float only.  Large products use OpenMP's thread count
 * (omp_set_num_threads), split by rows as in cl_gemm_mt. */
#include <float.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "cl_error.h"
#include "cl_nn.h"
#include "cl_real.h"
#if !defined(CL_DOUBLE) && !defined(CL_WIDE)
#include "cl_kern.h"
#include "cl_params.h" /* cl_alloc */
#endif

/* ==== embedding ============================================================ */

void CL_R(cl_embed_forward)(real *out, const int *ids, int n, const real *table, int dim)
{
    for (int i = 0; i < n; i++) {
        real *o = out + (size_t)i * dim;
        if (ids[i] < 0)
            memset(o, 0, (size_t)dim * sizeof(real));
        else
            memcpy(o, table + (size_t)ids[i] * dim, (size_t)dim * sizeof(real));
    }
}

void CL_R(cl_embed_backward)(real *dtable, const int *ids, int n, const real *dout, int dim)
{
    for (int i = 0; i < n; i++) {
        if (ids[i] < 0)
            continue;
        real *d = dtable + (size_t)ids[i] * dim;
        const real *g = dout + (size_t)i * dim;
        for (int j = 0; j < dim; j++)
            d[j] += g[j];
    }
}

/* ==== linear =============================================================== */

/* Y[n, :] = b for the N rows (b NULL: nothing; the product then writes Y). */
static void fill_bias(real *Y, const real *b, int N, int nout)
{
    if (b)
        for (int n = 0; n < N; n++)
            memcpy(Y + (size_t)n * nout, b, (size_t)nout * sizeof(real));
}

/* db += colsum(dY) (db NULL: nothing). */
static void bias_grad(real *db, const real *dY, int N, int nout)
{
    if (db)
        for (int n = 0; n < N; n++)
            for (int o = 0; o < nout; o++)
                db[o] += dY[(size_t)n * nout + o];
}

void CL_R(cl_linear_forward)(real *Y, const real *X, const real *W, const real *b, int N, int nin,
                             int nout)
{
    fill_bias(Y, b, N, nout);
    cl_gemm_mt(omp_get_max_threads(), 'N', 'T', N, nout, nin, 1, X, W, b ? 1 : 0, Y); /* (N,O) = (N,I) (O,I)^T */
}

void CL_R(cl_linear_backward)(real *dX, real *dW, real *db, const real *dY, const real *X,
                              const real *W, int N, int nin, int nout)
{
    cl_gemm('T', 'N', nout, nin, N, 1, dY, X, 1, dW); /* (O,I) += (N,O)^T (N,I) */
    bias_grad(db, dY, N, nout);
    if (dX)
        cl_gemm_mt(omp_get_max_threads(), 'N', 'N', N, nin, nout, 1, dY, W, 0, dX); /* (N,I) = (N,O) (O,I) */
}

/* ==== linear on oneDNN (float builds; see cl_nn.h) ========================== */
#if !defined(CL_DOUBLE) && !defined(CL_WIDE)

struct cl_linear_mm_s {
    cl_mm *mm;
    const cl_kern *kern;             /* its bf16_from_f32 */
    int max_n, nin, nout;
    uint16_t *x16, *w16, *dy16; /* bf16 only: [max_n, nin], [nout, nin], [max_n, nout] */
};

void cl_linear_mm_free(cl_linear_mm *l)
{
    if (!l)
        return;
    cl_mm_free(l->mm);
    free(l->x16), free(l->w16), free(l->dy16);
    free(l);
}

static int linear_mm_bf16(cl_linear_mm *l)
{
    size_t n = (size_t)l->max_n;
    l->x16 = cl_alloc(n * l->nin * sizeof(uint16_t));
    l->w16 = cl_alloc((size_t)l->nout * l->nin * sizeof(uint16_t));
    l->dy16 = cl_alloc(n * l->nout * sizeof(uint16_t));
    return l->x16 && l->w16 && l->dy16 ? CL_OK : CL_ENOMEM;
}

int cl_linear_mm_create(cl_linear_mm **out, cl_precision p, int max_n, int nin, int nout)
{
    *out = NULL;
    if (max_n < 1 || nin < 1 || nout < 1)
        return CL_EINVAL;
    cl_linear_mm *l = calloc(1, sizeof *l);
    if (!l)
        return CL_ENOMEM;
    l->max_n = max_n, l->nin = nin, l->nout = nout;
    int err = cl_kern_select(&l->kern);
    err = err ? err : cl_mm_create(&l->mm, p);
    if (!err && cl_mm_precision(l->mm) == CL_PREC_BF16)
        err = linear_mm_bf16(l);
    if (err) {
        cl_linear_mm_free(l);
        return err;
    }
    *out = l;
    return CL_OK;
}

cl_precision cl_linear_mm_precision(const cl_linear_mm *l)
{
    return l ? cl_mm_precision(l->mm) : CL_PREC_FP32;
}

/* The operand the products read: src itself in fp32, else its bf16 copy. */
static const void *operand(const cl_linear_mm *l, uint16_t *copy, const float *src, size_t n)
{
    if (!copy)
        return src;
    l->kern->bf16_from_f32(copy, src, n);
    return copy;
}

static int linear_mm_fits(const cl_linear_mm *l, int N, int nin, int nout)
{
    return N >= 0 && N <= l->max_n && nin == l->nin && nout == l->nout;
}

int cl_linear_forward_mm(cl_linear_mm *l, float *Y, const float *X, const float *W,
                         const float *b, int N, int nin, int nout)
{
    if (!l) {
        cl_linear_forward(Y, X, W, b, N, nin, nout);
        return CL_OK;
    }
    if (!linear_mm_fits(l, N, nin, nout))
        return CL_EINVAL;
    if (!N)
        return CL_OK;
    fill_bias(Y, b, N, nout);
    const void *x = operand(l, l->x16, X, (size_t)N * nin);
    const void *w = operand(l, l->w16, W, (size_t)nout * nin);
    return cl_mm_gemm(l->mm, omp_get_max_threads(), 'N', 'T', N, nout, nin, x, nin, w, nin,
                      b ? 1 : 0, Y, nout); /* (N,O) = (N,I) (O,I)^T */
}

int cl_linear_backward_mm(cl_linear_mm *l, float *dX, float *dW, float *db, const float *dY,
                          const float *X, const float *W, int N, int nin, int nout)
{
    if (!l) {
        cl_linear_backward(dX, dW, db, dY, X, W, N, nin, nout);
        return CL_OK;
    }
    if (!linear_mm_fits(l, N, nin, nout))
        return CL_EINVAL;
    if (!N)
        return CL_OK;
    int threads = omp_get_max_threads();
    const void *dy = operand(l, l->dy16, dY, (size_t)N * nout);
    const void *x = l->x16 ? (const void *)l->x16 : X, *w = l->w16 ? (const void *)l->w16 : W;
    int err = cl_mm_gemm(l->mm, threads, 'T', 'N', nout, nin, N, dy, nout, x, nin, 1, dW,
                         nin); /* (O,I) += (N,O)^T (N,I) */
    bias_grad(db, dY, N, nout);
    if (!err && dX)
        err = cl_mm_gemm(l->mm, threads, 'N', 'N', N, nin, nout, dy, nout, w, nin, 0, dX,
                         nin); /* (N,I) = (N,O) (O,I) */
    return err;
}

#elif !defined(CL_DOUBLE)
/* The double test build (tests/wide.h) stays on BLAS: no layer is made, and
 * a NULL one is OpenBLAS. */
int cl_linear_mm_create(cl_linear_mm **out, cl_precision p, int max_n, int nin, int nout)
{
    (void)p, (void)max_n, (void)nin, (void)nout;
    *out = NULL;
    return CL_EINVAL;
}

void cl_linear_mm_free(cl_linear_mm *l) { (void)l; }

cl_precision cl_linear_mm_precision(const cl_linear_mm *l)
{
    (void)l;
    return CL_PREC_FP32;
}

int cl_linear_forward_mm(cl_linear_mm *l, float *Y, const float *X, const float *W,
                         const float *b, int N, int nin, int nout)
{
    (void)l;
    cl_linear_forward(Y, X, W, b, N, nin, nout);
    return CL_OK;
}

int cl_linear_backward_mm(cl_linear_mm *l, float *dX, float *dW, float *db, const float *dY,
                          const float *X, const float *W, int N, int nin, int nout)
{
    (void)l;
    cl_linear_backward(dX, dW, db, dY, X, W, N, nin, nout);
    return CL_OK;
}
#endif

/* ==== softmax cross-entropy ================================================ */

/* Loss of one row; dl (may alias z) gets (softmax - onehot) * scale. */
static double xent_row(const real *z, int target, int V, real *dl, real scale)
{
    real m = -(real)FLT_MAX;
    for (int v = 0; v < V; v++)
        m = z[v] > m ? z[v] : m;
    double sum = 0;
    for (int v = 0; v < V; v++)
        sum += R_EXP(z[v] - m);
    double loss = log(sum) + m - z[target];
    if (dl) {
        real inv = (real)(1.0 / sum);
        for (int v = 0; v < V; v++)
            dl[v] = R_EXP(z[v] - m) * inv * scale;
        dl[target] -= scale;
    }
    return loss;
}

double CL_R(cl_xent)(const real *logits, const int *targets, int N, int V, real *dlogits,
                     real scale, long *count)
{
    double total = 0;
    long c = 0;
#pragma omp parallel for reduction(+ : total, c) schedule(static) if (N * V > 1 << 16)
    for (int n = 0; n < N; n++) {
        real *dl = dlogits ? dlogits + (size_t)n * V : NULL;
        if (targets[n] < 0 || targets[n] >= V) {
            if (dl)
                memset(dl, 0, (size_t)V * sizeof(real));
            continue;
        }
        total += xent_row(logits + (size_t)n * V, targets[n], V, dl, scale);
        c++;
    }
    if (count)
        *count = c;
    return total;
}
