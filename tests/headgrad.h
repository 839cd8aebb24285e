/* headgrad: finite-difference checks of a whole network whose parameters
 * live in one cl_params buffer (the LM, classifier and tagger heads with
 * their encoder), tensor by tensor.
 *
 * In double precision: the checks run in the test build of the whole
 * library in double (tests/wide.h, CL_WIDE), where every `float` of the
 * heads, the encoder and cl_params is a double.  Central differences with a
 * step of 1e-5 (1e-6 measured ten times worse: rounding of the loss
 * dominates); per tensor the error is the norm of the difference over the
 * norm of the numeric gradient, below 1e-6.  Correct code measures at most
 * 7e-8 (the tagger's character BiLSTM, whose gradients are the smallest).
 * Every checked tensor must have a gradient (an all-zero one would make the
 * check empty), and the trainable tensors that the head leaves frozen (the
 * encoder under the tagger) must get none.  The inputs are character ids:
 * their gradient is the embedding's, checked like any tensor. */
#ifndef CL_HEADGRAD_H
#define CL_HEADGRAD_H

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cl_params.h"
#include "cl_test.h"

/* The loss at p's current weights, the same dropout masks at every call;
 * with grads != 0 also its gradient into p->g (zeroed first by the callee). */
typedef double (*hg_loss)(void *ctx, int grads);

#ifndef CL_WIDE
#error "headgrad.h checks in double: build it in the CL_WIDE test build (tests/wide.h)"
#endif
#define HG_EPS 1e-5
#define HG_TOL 1e-6

/* Does tensor name start with one of the NULL-terminated list of prefixes of
 * tensors that get no gradient (the model's constants, a frozen encoder)? */
static inline int hg_is_constant(const char *name, const char *const *constants)
{
    for (; constants && *constants; constants++)
        if (strncmp(name, *constants, strlen(*constants)) == 0)
            return 1;
    return 0;
}

/* Relative error of tensor t's analytic gradient a against finite differences. */
static inline double hg_tensor_error(hg_loss f, void *ctx, cl_params *p, const cl_tensor *t,
                                     const double *a, double *norm)
{
    double diff = 0, nn = 0;
    for (size_t i = 0; i < t->size; i++) {
        double *w = p->w + t->offset + i, keep = *w; /* float is double here */
        double up = keep + HG_EPS, down = keep - HG_EPS;
        *w = up;
        double lp = f(ctx, 0);
        *w = down;
        double lm = f(ctx, 0);
        *w = keep;
        double num = (lp - lm) / ((double)up - (double)down);
        diff += (num - a[t->offset + i]) * (num - a[t->offset + i]);
        nn += num * num;
    }
    *norm = sqrt(nn);
    return sqrt(diff) / fmax(sqrt(nn), 1e-6);
}

/* Check every tensor of p except the constants; what names the case. */
static inline void hg_check(hg_loss f, void *ctx, cl_params *p, const char *const *constants,
                            const char *what)
{
    f(ctx, 1);
    double *a = calloc(p->n, sizeof *a); /* g holds the trainable [0, n_train) only */
    ck_assert_ptr_nonnull(a);
    memcpy(a, p->g, p->n_train * sizeof *a);
    for (int k = 0; k < p->nt; k++) {
        const cl_tensor *t = &p->t[k];
        if (hg_is_constant(t->name, constants)) {
            if (t->offset >= p->n_train) /* a constant of the model: it has no gradient */
                continue;
            for (size_t i = 0; i < t->size; i++) /* trainable, but frozen here */
                ck_assert_msg(a[t->offset + i] == 0, "%s: constant %s has a gradient", what,
                              t->name);
            continue;
        }
        double norm, e = hg_tensor_error(f, ctx, p, t, a, &norm);
        ck_assert_msg(norm > 1e-5, "%s: %s has no gradient (the check would be empty)", what,
                      t->name);
        ck_assert_msg(e < HG_TOL, "%s: %s: |analytic - numeric| / |numeric| = %.3g (|numeric| "
                      "%.3g)", what, t->name, e, norm);
    }
    free(a);
}

#endif
