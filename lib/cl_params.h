/* cl_params: every parameter of a model in one contiguous buffer.
 *
 * Components register named tensors (a size table); cl_params_alloc then
 * carves one 64-byte aligned buffer for values and a parallel one for
 * gradients.  The optimizer, zero-grad, clipping and saving are one loop each,
 * and nothing is allocated inside a training step.
 *
 * Tensors are trainable or constant (kann's KAD_F_CONSTANT): constants are
 * counted rather than learned (n-gram evidence, normalisation statistics).
 * The buffer holds the trainable tensors first, in the order registered, so
 * that [0, n_train) is everything an optimizer touches and a component's
 * trainable tensors stay one range; constants follow in [n_train, n).  They
 * are saved and loaded like any tensor but have no gradient (g holds n_train
 * floats) and no optimizer moments. */
#ifndef CL_PARAMS_H
#define CL_PARAMS_H

#include <stddef.h>

#include "cl_rng.h"
#include "cl_api.h"

CL_API_BEGIN

#define CL_NAME_MAX 64
#define CL_MAX_DIMS 4

typedef struct {
    char name[CL_NAME_MAX];
    int ndim;
    int shape[CL_MAX_DIMS];
    size_t offset; /* in floats from the start of the buffer, multiple of 16 */
    size_t size;   /* product of shape */
    int constant;  /* counted, not learned: no gradient, never updated */
} cl_tensor;

/* Who is told, during a backward pass, which gradients are already final:
 * the training core, to start summing them over the ranks while the rest
 * of the pass runs (cl_train).  Unset (fn NULL, the default) nothing is
 * told and nothing costs.  The contract of a pass that tells: count once,
 * after its forward, the items its gradient is the mean over; then each
 * trainable float of g at most once, when nothing later in the pass adds
 * to it.  Floats never told are taken as final when the pass returns. */
typedef struct {
    void (*count)(void *ctx, double items);
    void (*final)(void *ctx, const float *g, size_t n);
    void *ctx;
} cl_grad_hook;

typedef struct cl_params_s {
    cl_tensor *t;
    int nt, cap;
    size_t n;       /* floats in w, padding included (set by cl_params_alloc) */
    size_t n_train; /* trainable floats: [0, n_train) of w, all of g */
    size_t n_const; /* constant floats, before cl_params_alloc places them */
    float *w, *g;   /* values (cl_params_alloc) and gradients (cl_params_alloc_grads);
                     * NULL before: a model loaded for inference has no g */
    cl_grad_hook hook; /* set by the training core during a step (above); unset otherwise */
} cl_params;

void cl_params_init(cl_params *p);
/* Register a tensor; returns its index (>= 0) or CL_EINVAL/CL_ENOMEM.  Only
 * before cl_params_alloc.  Names must be unique. */
int cl_params_add(cl_params *p, const char *name, int ndim, const int *shape);
/* As cl_params_add, but the tensor follows the previous one with no padding,
 * so a run of packed tensors is one contiguous slab (a recurrent stack keeps
 * PyTorch's per-tensor names yet is passed to the kernels as one pointer). */
int cl_params_add_packed(cl_params *p, const char *name, int ndim, const int *shape);
/* As cl_params_add, for a constant tensor (placed after every trainable
 * one by cl_params_alloc; cl_params_g must not be called on it). */
int cl_params_add_const(cl_params *p, const char *name, int ndim, const int *shape);
/* Place the constants after the trainable tensors and allocate w (n
 * floats), zero-filled. */
int cl_params_alloc(cl_params *p);
/* Allocate g (n_train floats, zero-filled) unless it exists: what training
 * and backward passes need and inference does not (a loaded tagger's
 * gradient buffer was as large as its weights, zeroed for nothing). */
int cl_params_alloc_grads(cl_params *p);
/* Index of the tensor called name, or -1. */
int cl_params_find(const cl_params *p, const char *name);
float *cl_params_w(const cl_params *p, int idx);
float *cl_params_g(const cl_params *p, int idx);
/* What a backward pass tells p->hook (no-ops while it is unset): the
 * items this pass's gradient is the mean over, and that g[0..n) (inside
 * p->g) are final. */
void cl_params_grads_count(const cl_params *p, double items);
void cl_params_grads_final(const cl_params *p, const float *g, size_t n);
/* Zero the gradients of every trainable tensor. */
void cl_params_zero_grad(cl_params *p);
/* PyTorch's nn.Linear initialisation of tensors weight [out, in] and bias:
 * U(-1/sqrt(in), 1/sqrt(in)) for both.  CL_ENOTFOUND if either is missing. */
int cl_params_init_linear(cl_params *p, const char *weight, const char *bias, cl_rng *rng);
/* Copy the values of every tensor of src whose name and shape also exist in
 * dst (used when a head is added to a loaded model). Returns how many. */
int cl_params_copy_matching(cl_params *dst, const cl_params *src);
void cl_params_free(cl_params *p);

/* 64-byte aligned, zeroed allocation of n bytes; free with free(). */
void *cl_alloc(size_t n);

CL_API_END
#endif
