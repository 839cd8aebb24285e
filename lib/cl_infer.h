/* cl_infer: fast LSTM inference for generation, one character per step
 * for each of a few sequences (columns) at once.
 *
 * Generating one character at a time is bound by reading the weights once
 * per step (DESIGN.md, Speed), so this engine changes what is read:
 *  - layer 0's input projection of every character is precomputed into a
 *    table [V, 4H] (embedding x W_ih^T + both biases): a row lookup instead
 *    of a matrix-vector product;
 *  - every other weight matrix is stored once in the chosen format
 *    (cl_weights: int8 with per-row scales, bfloat16 or float32) with
 *    [W_ih | W_hh] of a layer as one matrix, so the input and recurrent
 *    products are a single pass (lib/cl_wmat.c has the kernels);
 *  - several sequences step together: one pass over the weights serves
 *    every column (a product with n columns instead of n products);
 *  - the rows of each product (blocks of 16 units with their four gates,
 *    so each thread also updates its own units' cells) are split between
 *    OpenMP threads, one parallel region per step.
 * States, cell arithmetic and logits stay float32.  A column's logits do
 * not depend on the number of columns or threads (bit for bit).
 *
 * The engine reads the model's weights once at creation; the model may be
 * freed afterwards. */
#ifndef CL_INFER_H
#define CL_INFER_H

#include "cl_model.h"
#include "cl_api.h"

CL_API_BEGIN

typedef struct cl_infer cl_infer;

/* How the weights are stored: int8 (a quarter of float32's bytes; one
 * scale per row, products exact in int32 from 15-bit inputs), bfloat16
 * (half; float32 accumulation) or float32 (the model as trained). */
typedef enum { CL_WEIGHTS_INT8, CL_WEIGHTS_BF16, CL_WEIGHTS_FP32 } cl_weights;

/* "int8", "bf16", "fp32"; parse returns CL_EINVAL for anything else. */
const char *cl_weights_name(cl_weights w);
int cl_weights_parse(const char *s, cl_weights *w);

typedef struct {
    cl_weights weights; /* default int8: within 0.004 nats/char of float32, fastest */
    int threads;        /* OpenMP threads splitting each product's rows (default 1) */
    int columns;        /* most sequences stepped together (default 1) */
} cl_infer_config;

cl_infer_config cl_infer_defaults(void);

/* c NULL: the defaults.  CL_EINVAL when the model is not a unidirectional
 * LSTM with an lm head (callers then use the general cl_lm path) or c is
 * out of range (threads, columns < 1); CL_EISA when CHARLSTM_ISA names
 * kernels this CPU cannot run (cl_isa.h).  Free with cl_infer_free. */
int cl_infer_create(cl_infer **out, const cl_model *m, const cl_infer_config *c);
void cl_infer_free(cl_infer *e);
/* Zero state in every column. */
void cl_infer_reset(cl_infer *e);
/* Feed character ids[c] to column c for c < n (1 <= n <= columns); returns
 * the logits of each column's next character [n, V], valid until the next
 * call. */
const float *cl_infer_step_n(cl_infer *e, const int *ids, int n);
/* Column 0 alone: cl_infer_step_n(e, &id, 1). */
const float *cl_infer_step(cl_infer *e, int id);
/* Column `to` takes column `from`'s state (to start several samples from
 * one primed prompt, or to close the gap a finished sample leaves). */
void cl_infer_copy(cl_infer *e, int from, int to);
/* Bytes one step reads whatever the number of columns: the weights in
 * their format (with scales), biases and the layer-0 table row. */
size_t cl_infer_bytes(const cl_infer *e);
/* The kernel variant an engine created now would run (cl_isa.h: "avx512",
 * "avx2", "baseline"; "unavailable" when CHARLSTM_ISA names one this CPU
 * lacks). */
const char *cl_infer_isa(void);

/* bfloat16 helpers (exposed for tests): round to nearest even, and back. */
uint16_t cl_bf16_from_float(float x);
float cl_bf16_to_float(uint16_t b);

CL_API_END
#endif
