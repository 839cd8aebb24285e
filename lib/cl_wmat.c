/* cl_wmat: inference weights in fp32, bf16 or int8 and their products with
 * a few columns (see cl_wmat.h). */
#include "cl_wmat.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cl_error.h"
#include "cl_params.h"

/* ==== bfloat16 ============================================================= */

uint16_t cl_bf16_from_float(float x)
{
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    if ((u & 0x7fffffffu) > 0x7f800000u) /* NaN stays NaN */
        return (uint16_t)((u >> 16) | 0x40);
    u += 0x7fffu + ((u >> 16) & 1u); /* round to nearest, ties to even */
    return (uint16_t)(u >> 16);
}

float cl_bf16_to_float(uint16_t b)
{
    uint32_t u = (uint32_t)b << 16;
    float x;
    memcpy(&x, &u, sizeof x);
    return x;
}

/* ==== storing ============================================================== */

static size_t elem_size(cl_weights t)
{
    return t == CL_WEIGHTS_FP32 ? 4 : t == CL_WEIGHTS_BF16 ? 2 : 1;
}

/* The largest xq such that no int32 sum of a padded row can overflow:
 * kp products of |w| <= 127 and |x| <= xq. */
static int input_scale(int kp)
{
    long xq = 2147483647L / (127L * kp);
    return (int)(xq < 32767 ? xq : 32767);
}

/* Row r of src in int8: q = round(w / s) with s = max |w| / 127. */
static float quantize_row(int8_t *q, const float *w, int k)
{
    float mx = 0;
    for (int j = 0; j < k; j++)
        mx = fmaxf(mx, fabsf(w[j]));
    float s = mx / 127;
    for (int j = 0; j < k; j++)
        q[j] = (int8_t)(s > 0 ? lrintf(fminf(fmaxf(w[j] / s, -127), 127)) : 0);
    return s;
}

static void store_rows(cl_wmat *m, const float *src)
{
    for (int r = 0; r < m->n; r++) {
        const float *w = src + (size_t)r * m->k;
        size_t at = (size_t)r * m->kp;
        if (m->type == CL_WEIGHTS_FP32)
            memcpy((float *)m->w + at, w, (size_t)m->k * sizeof(float));
        else if (m->type == CL_WEIGHTS_BF16)
            for (int j = 0; j < m->k; j++)
                ((uint16_t *)m->w)[at + j] = cl_bf16_from_float(w[j]);
        else
            m->scale[r] = quantize_row((int8_t *)m->w + at, w, m->k) / (float)m->xq;
    }
}

int cl_wmat_init(cl_wmat *m, cl_weights type, const float *src, int n, int k)
{
    *m = (cl_wmat){type, n, k, (k + CL_WMAT_PAD - 1) / CL_WMAT_PAD * CL_WMAT_PAD, NULL, NULL, 0};
    size_t bytes = (size_t)n * m->kp * elem_size(type);
    m->w = cl_alloc(bytes);
    if (type == CL_WEIGHTS_INT8)
        m->scale = cl_alloc((size_t)n * sizeof(float)), m->xq = input_scale(m->kp);
    if (!m->w || (type == CL_WEIGHTS_INT8 && !m->scale))
        return CL_ENOMEM;
    memset(m->w, 0, bytes); /* the padding */
    store_rows(m, src);
    return CL_OK;
}

void cl_wmat_free(cl_wmat *m)
{
    free(m->w), free(m->scale);
    m->w = NULL, m->scale = NULL;
}

size_t cl_wmat_xbytes(const cl_wmat *m)
{
    return (size_t)m->kp * (m->type == CL_WEIGHTS_INT8 ? sizeof(int16_t) : sizeof(float));
}

size_t cl_wmat_bytes(const cl_wmat *m)
{
    return (size_t)m->n * m->kp * elem_size(m->type) + (m->scale ? (size_t)m->n * sizeof(float) : 0);
}

void cl_wmat_put(const cl_wmat *m, void *x, int off, const float *v, int len)
{
    if (m->type != CL_WEIGHTS_INT8) {
        memcpy((float *)x + off, v, (size_t)len * sizeof(float));
        return;
    }
    int16_t *q = (int16_t *)x + off;
    float xq = (float)m->xq;
#pragma omp simd
    for (int i = 0; i < len; i++) { /* round half away from zero: vectorises, unlike lrintf */
        float y = (v[i] < -1 ? -1 : v[i] > 1 ? 1 : v[i]) * xq;
        q[i] = (int16_t)(y + (y < 0 ? -0.5f : 0.5f));
    }
}


