/* cl_infer: fast batch-1 inference for generation (LSTM language models).
 *
 * Generating one character at a time is bound by reading the weights once
 * per character (DESIGN.md, Speed), so this engine changes what is read:
 *  - layer 0's input projection of every character is precomputed into a
 *    table [V, 4H] (embedding x W_ih^T + both biases): a row lookup instead
 *    of a matrix-vector product;
 *  - every other weight matrix is stored once as bfloat16 (half the bytes,
 *    8 significant bits) and multiplied by the float32 state with float32
 *    accumulation; [W_ih | W_hh] of a layer are one matrix, so the input
 *    and recurrent products are a single pass.
 * Activations, states and logits stay float32.  Debian's OpenBLAS is built
 * without its bfloat16 routines (cblas_sbgemv is declared but not
 * exported), hence the small kernel in cl_infer.c.
 *
 * The engine reads the model's weights once at creation; the model may be
 * freed afterwards. */
#ifndef CL_INFER_H
#define CL_INFER_H

#include "cl_model.h"
#include "cl_api.h"

CL_API_BEGIN

typedef struct cl_infer cl_infer;

/* CL_EINVAL when the model is not a unidirectional LSTM with an lm head
 * (callers then use the general cl_lm path).  Free with cl_infer_free. */
int cl_infer_create(cl_infer **out, const cl_model *m);
void cl_infer_free(cl_infer *e);
/* Zero state. */
void cl_infer_reset(cl_infer *e);
/* Feed character id; returns the logits of the next character [V], valid
 * until the next call. */
const float *cl_infer_step(cl_infer *e, int id);

/* bfloat16 helpers (exposed for tests): round to nearest even, and back. */
uint16_t cl_bf16_from_float(float x);
float cl_bf16_to_float(uint16_t b);

CL_API_END
#endif
