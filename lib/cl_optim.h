/* cl_optim: Adam and SGD over the flat parameter buffer, global gradient-norm
 * clipping and learning-rate schedules.
 *
 * The moments m and v hold n floats: the trained parts of the parameter
 * buffer laid end to end (cl_train's parameter groups), so one update of a
 * part is one loop, parts can be trained at their own learning rate and a
 * frozen part costs no moments. */
#ifndef CL_OPTIM_H
#define CL_OPTIM_H

#include <stddef.h>

#include "cl_api.h"

CL_API_BEGIN

typedef enum { CL_OPTIM_ADAM = 0, CL_OPTIM_SGD = 1 } cl_optim_kind;

typedef struct {
    cl_optim_kind kind;
    float lr;           /* base learning rate */
    float beta1, beta2; /* Adam moment decay (0.9, 0.999) */
    float eps;          /* Adam epsilon (1e-8) */
    float momentum;     /* SGD momentum (0 = plain SGD) */
    float weight_decay; /* decoupled (AdamW style), 0 = off */
} cl_optim_config;

typedef struct {
    cl_optim_config cfg;
    size_t n;
    float *m, *v; /* Adam moments (SGD uses m as velocity), 64-byte aligned */
    long step;    /* completed updates; drives Adam's bias correction */
} cl_optim;

/* Defaults: Adam, lr 2e-3, betas (0.9, 0.999), eps 1e-8. */
cl_optim_config cl_optim_defaults(void);
int cl_optim_create(cl_optim *o, const cl_optim_config *cfg, size_t n);
void cl_optim_free(cl_optim *o);
/* Start an update: advances the step counter used by bias correction. */
void cl_optim_begin(cl_optim *o);
/* Update w[0, n) from gradients g[0, n) with learning rate lr, using the
 * moments [moff, moff + n). */
void cl_optim_update(cl_optim *o, float *w, const float *g, size_t moff, size_t n, float lr);

/* L2 norm of g[0,n), accumulated in double. */
double cl_grad_norm(const float *g, size_t n);
/* Scale g so its norm is at most max_norm (no-op if max_norm <= 0); returns
 * the norm before clipping. */
double cl_grad_clip(float *g, size_t n, double max_norm);

/* Learning rate at `step` for base lr: constant until decay_start, then
 * multiplied by decay every decay_every steps (char-rnn's schedule). */
float cl_lr_at(float lr, long step, long decay_start, long decay_every, float decay);

CL_API_END
#endif
