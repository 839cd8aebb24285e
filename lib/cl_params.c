/* cl_params: size table and flat parameter/gradient buffers. */
#include "cl_params.h"

#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "cl_error.h"

#define CL_ALIGN_FLOATS 16 /* 64 bytes: one cache line, one AVX-512 vector */

/* Buffers this large start on a 2 MiB boundary and ask for transparent
 * huge pages (where the kernel leaves that to madvise, as Debian's does):
 * first touching memory page by page cost ~9 ms per MB on the virtual
 * machines we run on (a 22 MB tagger's load, weights and workspaces, was
 * 0.6 s of faults), in 2 MiB pages 0.2-0.8 ms.  Only the rounded size is
 * advised and touched, so a buffer's tail stays in small pages and costs no
 * more than it holds; the request is rounded up to the 2 MiB alignment as
 * aligned_alloc requires.  Below 1 MiB, small pages. */
#define HUGE_FROM ((size_t)1 << 20)
#define HUGE_PAGE ((size_t)2 << 20)

void *cl_alloc(size_t n)
{
    size_t rounded = n ? (n + 63) / 64 * 64 : 64;
    if (rounded < n) /* wrapped around */
        return NULL;
    int huge = rounded >= HUGE_FROM;
    void *p = aligned_alloc(huge ? HUGE_PAGE : 64, huge ? (rounded + HUGE_PAGE - 1) & ~(HUGE_PAGE - 1)
                                                        : rounded);
#ifdef MADV_HUGEPAGE
    if (p && huge)
        (void)madvise(p, rounded, MADV_HUGEPAGE); /* advice: failing costs only speed */
#endif
    if (p)
        memset(p, 0, rounded);
    return p;
}

void cl_params_init(cl_params *p) { memset(p, 0, sizeof *p); }

void cl_params_grads_count(const cl_params *p, double items)
{
    if (p->hook.count)
        p->hook.count(p->hook.ctx, items);
}

void cl_params_grads_final(const cl_params *p, const float *g, size_t n)
{
    if (p->hook.final && n)
        p->hook.final(p->hook.ctx, g, n);
}

int cl_params_find(const cl_params *p, const char *name)
{
    for (int i = 0; i < p->nt; i++)
        if (strcmp(p->t[i].name, name) == 0)
            return i;
    return -1;
}

static size_t aligned(size_t n) { return (n + CL_ALIGN_FLOATS - 1) / CL_ALIGN_FLOATS * CL_ALIGN_FLOATS; }

/* Offsets of trainable tensors are final when registered; a constant's is
 * relative to the constant region until cl_params_alloc places it. */
static int add_tensor(cl_params *p, const char *name, int ndim, const int *shape, int packed,
                      int constant)
{
    if (p->w || ndim < 1 || ndim > CL_MAX_DIMS || strlen(name) >= CL_NAME_MAX ||
        cl_params_find(p, name) >= 0)
        return CL_EINVAL;
    if (p->nt == p->cap) {
        int cap = p->cap ? 2 * p->cap : 16;
        cl_tensor *t = realloc(p->t, (size_t)cap * sizeof *t);
        if (!t)
            return CL_ENOMEM;
        p->t = t;
        p->cap = cap;
    }
    cl_tensor *t = &p->t[p->nt];
    memset(t, 0, sizeof *t);
    strcpy(t->name, name);
    t->ndim = ndim;
    t->size = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] <= 0)
            return CL_EINVAL;
        t->shape[i] = shape[i];
        t->size *= (size_t)shape[i];
    }
    t->constant = constant;
    if (constant) {
        t->offset = p->n_const;
        p->n_const = aligned(t->offset + t->size);
        return p->nt++;
    }
    /* n_train is kept aligned; a packed tensor starts where the previous ended. */
    const cl_tensor *prev = p->nt ? &p->t[p->nt - 1] : NULL;
    t->offset = packed && prev && !prev->constant ? prev->offset + prev->size : p->n_train;
    p->n_train = aligned(t->offset + t->size);
    p->n = p->n_train + p->n_const;
    return p->nt++;
}

int cl_params_add(cl_params *p, const char *name, int ndim, const int *shape)
{
    return add_tensor(p, name, ndim, shape, 0, 0);
}

int cl_params_add_packed(cl_params *p, const char *name, int ndim, const int *shape)
{
    return add_tensor(p, name, ndim, shape, 1, 0);
}

int cl_params_add_const(cl_params *p, const char *name, int ndim, const int *shape)
{
    return add_tensor(p, name, ndim, shape, 0, 1);
}

int cl_params_alloc(cl_params *p)
{
    if (p->w)
        return CL_EINVAL;
    for (int i = 0; i < p->nt; i++)
        if (p->t[i].constant)
            p->t[i].offset += p->n_train;
    p->n = p->n_train + p->n_const;
    p->w = cl_alloc(p->n * sizeof(float));
    return p->w ? CL_OK : CL_ENOMEM;
}

int cl_params_alloc_grads(cl_params *p)
{
    if (!p->w)
        return CL_EINVAL;
    if (!p->g)
        p->g = cl_alloc(p->n_train * sizeof(float));
    return p->g ? CL_OK : CL_ENOMEM;
}

float *cl_params_w(const cl_params *p, int idx) { return p->w + p->t[idx].offset; }
float *cl_params_g(const cl_params *p, int idx)
{
    assert(!p->t[idx].constant && p->g);
    return p->g + p->t[idx].offset;
}

void cl_params_zero_grad(cl_params *p)
{
    if (p->g)
        memset(p->g, 0, p->n_train * sizeof(float));
}

int cl_params_copy_matching(cl_params *dst, const cl_params *src)
{
    int copied = 0;
    for (int i = 0; i < src->nt; i++) {
        int j = cl_params_find(dst, src->t[i].name);
        if (j < 0 || dst->t[j].ndim != src->t[i].ndim ||
            memcmp(dst->t[j].shape, src->t[i].shape, sizeof dst->t[j].shape) != 0)
            continue;
        memcpy(cl_params_w(dst, j), cl_params_w(src, i), src->t[i].size * sizeof(float));
        copied++;
    }
    return copied;
}

void cl_params_free(cl_params *p)
{
    free(p->t);
    free(p->w);
    free(p->g);
    cl_params_init(p);
}

int cl_params_init_linear(cl_params *p, const char *weight, const char *bias, cl_rng *rng)
{
    int iw = cl_params_find(p, weight), ib = cl_params_find(p, bias);
    if (iw < 0 || ib < 0 || p->t[iw].ndim != 2)
        return CL_ENOTFOUND;
    float a = 1.0f / sqrtf((float)p->t[iw].shape[1]);
    float *w = cl_params_w(p, iw), *b = cl_params_w(p, ib);
    for (size_t i = 0; i < p->t[iw].size; i++)
        w[i] = a * (2 * cl_rng_float(rng) - 1);
    for (size_t i = 0; i < p->t[ib].size; i++)
        b[i] = a * (2 * cl_rng_float(rng) - 1);
    return CL_OK;
}
