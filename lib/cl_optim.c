/* cl_optim: one loop per update over the flat buffers. */
#include "cl_optim.h"

#include <assert.h>
#include <math.h>
#include <stdlib.h>

#include "cl_error.h"
#include "cl_params.h"

cl_optim_config cl_optim_defaults(void)
{
    cl_optim_config c = {CL_OPTIM_ADAM, 2e-3f, 0.9f, 0.999f, 1e-8f, 0.0f, 0.0f};
    return c;
}

int cl_optim_create(cl_optim *o, const cl_optim_config *cfg, size_t n)
{
    o->cfg = *cfg;
    o->n = n;
    o->step = 0;
    o->m = cl_alloc(n * sizeof(float));
    o->v = cl_alloc(n * sizeof(float));
    if (!o->m || !o->v) {
        cl_optim_free(o);
        return CL_ENOMEM;
    }
    return CL_OK;
}

void cl_optim_free(cl_optim *o)
{
    free(o->m);
    free(o->v);
    o->m = o->v = NULL;
}

void cl_optim_begin(cl_optim *o) { o->step++; }

static void adam_update(cl_optim *o, float *w, const float *g, float *m, float *v, size_t n,
                        float lr)
{
    const float b1 = o->cfg.beta1, b2 = o->cfg.beta2, eps = o->cfg.eps;
    const float wd = o->cfg.weight_decay;
    /* Bias corrections folded into the step size, as in the Adam paper (Alg. 1,
     * last paragraph of Sec. 2) and PyTorch. */
    const double c1 = 1.0 - pow(b1, (double)o->step), c2 = 1.0 - pow(b2, (double)o->step);
    const float step = (float)(lr / c1), rc2 = (float)(1.0 / sqrt(c2));
#pragma omp parallel for simd schedule(static) if (n > (1 << 18))
    for (size_t i = 0; i < n; i++) {
        m[i] = b1 * m[i] + (1 - b1) * g[i];
        v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
        w[i] -= step * m[i] / (sqrtf(v[i]) * rc2 + eps) + lr * wd * w[i];
    }
}

static void sgd_update(cl_optim *o, float *w, const float *g, float *m, size_t n, float lr)
{
    const float mu = o->cfg.momentum, wd = o->cfg.weight_decay;
    for (size_t i = 0; i < n; i++) {
        m[i] = mu * m[i] + g[i];
        w[i] -= lr * (m[i] + wd * w[i]);
    }
}

void cl_optim_update(cl_optim *o, float *w, const float *g, size_t moff, size_t n, float lr)
{
    assert(moff + n <= o->n);
    if (o->cfg.kind == CL_OPTIM_SGD)
        sgd_update(o, w, g, o->m + moff, n, lr);
    else
        adam_update(o, w, g, o->m + moff, o->v + moff, n, lr);
}

double cl_grad_norm(const float *g, size_t n)
{
    double s = 0;
#pragma omp simd reduction(+ : s)
    for (size_t i = 0; i < n; i++)
        s += (double)g[i] * g[i];
    return sqrt(s);
}

double cl_grad_clip(float *g, size_t n, double max_norm)
{
    double norm = cl_grad_norm(g, n);
    if (max_norm > 0 && norm > max_norm) {
        float s = (float)(max_norm / (norm + 1e-6));
        for (size_t i = 0; i < n; i++)
            g[i] *= s;
    }
    return norm;
}

float cl_lr_at(float lr, long step, long decay_start, long decay_every, float decay)
{
    if (decay_every <= 0 || step < decay_start || decay == 1.0f)
        return lr;
    return lr * powf(decay, (float)((step - decay_start) / decay_every + 1));
}
