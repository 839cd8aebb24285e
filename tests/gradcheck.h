/* gradcheck: the finite-difference harness shared by the gradient-check
 * suites (test_gradcheck.c, test_seqrnn.c): central differences in double
 * precision, compared by relative error with a floor. */
#ifndef CL_GRADCHECK_H
#define CL_GRADCHECK_H

#include <math.h>
#include <stdlib.h>

#include "cl_rng.h"
#include "cl_test.h"

typedef double (*gc_loss)(void *ctx);

/* Relative error of one analytic/numeric pair.  The floor (1e-4, against
 * gradients of order 1) keeps tiny gradients, whose central differences carry
 * ~1e-10 truncation error, from counting as large relative errors, and exact
 * zeros from dividing by zero. */
static inline double gc_relerr(double a, double n)
{
    return fabs(a - n) / fmax(fabs(a) + fabs(n), 1e-4);
}

/* Worst relative error over n values; *worst gets its index. */
static inline double gc_compare(const double *analytic, const double *numeric, size_t n,
                                size_t *worst)
{
    double m = 0;
    for (size_t i = 0; i < n; i++) {
        double e = gc_relerr(analytic[i], numeric[i]);
        if (e > m || i == 0) {
            m = e;
            if (worst)
                *worst = i;
        }
    }
    return m;
}

/* Central differences of loss(ctx) w.r.t. every element of x[0,n). */
static inline void gc_numeric(gc_loss loss, void *ctx, double *x, size_t n, double *out)
{
    const double eps = 1e-5;
    for (size_t i = 0; i < n; i++) {
        double keep = x[i];
        x[i] = keep + eps;
        double lp = loss(ctx);
        x[i] = keep - eps;
        double lm = loss(ctx);
        x[i] = keep;
        out[i] = (lp - lm) / (2 * eps);
    }
}

#define GC_TOL 1e-6

static inline void gc_expect(gc_loss loss, void *ctx, double *x, const double *analytic,
                             size_t n, const char *what)
{
    double *num = malloc(n * sizeof *num);
    ck_assert_ptr_nonnull(num);
    gc_numeric(loss, ctx, x, n, num);
    size_t w = 0;
    double e = gc_compare(analytic, num, n, &w);
    ck_assert_msg(e < GC_TOL, "%s: element %zu analytic %.10g numeric %.10g (rel err %.3g)", what,
                  w, analytic[w], num[w], e);
    free(num);
}

static inline void fill_uniform(double *x, size_t n, cl_rng *rng, double scale)
{
    for (size_t i = 0; i < n; i++)
        x[i] = scale * (2 * cl_rng_double(rng) - 1);
}

static inline double dot(const double *a, const double *b, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += a[i] * b[i];
    return s;
}

#endif
