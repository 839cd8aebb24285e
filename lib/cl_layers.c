/* cl_layers: embedding, linear and softmax cross-entropy kernels.
 * Compiled twice (see cl_real.h).  Large products use OpenMP's thread count
 * (omp_set_num_threads), split by rows as in cl_gemm_mt. */
#include <float.h>
#include <omp.h>
#include <string.h>

#include "cl_nn.h"
#include "cl_real.h"

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

void CL_R(cl_linear_forward)(real *Y, const real *X, const real *W, const real *b, int N, int nin,
                             int nout)
{
    if (b)
        for (int n = 0; n < N; n++)
            memcpy(Y + (size_t)n * nout, b, (size_t)nout * sizeof(real));
    cl_gemm_mt(omp_get_max_threads(), 'N', 'T', N, nout, nin, 1, X, W, b ? 1 : 0, Y); /* (N,O) = (N,I) (O,I)^T */
}

void CL_R(cl_linear_backward)(real *dX, real *dW, real *db, const real *dY, const real *X,
                              const real *W, int N, int nin, int nout)
{
    cl_gemm('T', 'N', nout, nin, N, 1, dY, X, 1, dW); /* (O,I) += (N,O)^T (N,I) */
    if (db)
        for (int n = 0; n < N; n++)
            for (int o = 0; o < nout; o++)
                db[o] += dY[(size_t)n * nout + o];
    if (dX)
        cl_gemm_mt(omp_get_max_threads(), 'N', 'N', N, nin, nout, 1, dY, W, 0, dX); /* (N,I) = (N,O) (O,I) */
}

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
