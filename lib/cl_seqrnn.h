/* cl_seqrnn: recurrent stacks over batches of sequences of different lengths
 * (sentences, words), uni- or bidirectional, multi-layer.
 *
 * cl_rnn runs every stream over the same T steps, which is right for a
 * language model's endless streams but wrong for sentences: the reverse
 * direction of a padded sentence would start in the padding.  cl_seqrnn
 * builds each layer from one-layer cl_rnn runs, feeding the reverse direction
 * each sequence reversed within its own length, so padding only ever follows
 * the real steps and never influences them.  Parameters have exactly the
 * layout of cl_rnn for the same cl_rnn_config (PyTorch's), so cl_rnn_init,
 * cl_rnn_add_params and the PyTorch name mapping apply unchanged.
 *
 * Its recurrences and large products use OpenMP's thread count at creation
 * (omp_set_num_threads; see cl_rnn_set_threads).
 * Compiled in float (names as below) and double (suffix _d) like cl_nn. */
#ifndef CL_SEQRNN_H
#define CL_SEQRNN_H

#include "cl_nn.h"
#include "cl_api.h"

CL_API_BEGIN

#define CL_SEQRNN_DECLARE(real, S)                                                            \
    typedef struct cl_seqrnn##S cl_seqrnn##S;                                                   \
    /* Workspace for up to max_T x max_B positions: T steps of B <= max_B sequences with    \
     * T x B <= max_T x max_B, as cl_rnn_create; free with cl_seqrnn_free. */                  \
    int cl_seqrnn_create##S(cl_seqrnn##S **out, const cl_rnn_config *c, int max_T, int max_B); \
    /* The same for inference only (forward with train 0, forward_table; no backward),       \
     * without the buffers of backward: about half the memory. */                             \
    int cl_seqrnn_create_inference##S(cl_seqrnn##S **out, const cl_rnn_config *c, int max_T,  \
                                      int max_B);                                              \
    void cl_seqrnn_free##S(cl_seqrnn##S *r);                                                    \
    /* X [T,B,I] time major, sequence b occupying steps 0..len[b]-1 (1 <= len[b] <= T);        \
     * Y [T,B,H*dirs] gets the top layer's outputs, zero at padded steps; last [B,H*dirs]      \
     * (may be NULL) gets each direction's final top-layer state: the forward one at           \
     * step len[b]-1, the reverse one at step 0.  Initial states are zero.  train != 0         \
     * enables dropout between layers (needs rng) and keeps what backward needs. */            \
    int cl_seqrnn_forward##S(cl_seqrnn##S *r, const real *params, int T, int B, const real *X, \
                             const int *len, real *Y, real *last, int train, cl_rng *rng);     \
    /* Backward through the last training forward: dY [T,B,H*dirs] and dlast [B,H*dirs]        \
     * (either may be NULL; padded steps of dY are ignored).  grads += dL/dparams; dX           \
     * [T,B,I] is written when not NULL (zero at padded steps). */                             \
    int cl_seqrnn_backward##S(cl_seqrnn##S *r, const real *params, real *grads, const real *dY, \
                              const real *dlast, real *dX);                                \
    /* Layer 0's input projections of n rows X [n,I], without bias, into a table per          \
     * direction: P + d * dstride [n, G*H] (n <= max_T * max_B), as the forward computes them.  \
     * When rows repeat (the same word many times) project each once, then run               \
     * cl_seqrnn_forward_table with the table.  convert as in cl_rnn_project0: 0 when the      \
     * weights are those of the previous call with convert 1 (frozen). */                      \
    int cl_seqrnn_project##S(cl_seqrnn##S *r, const real *params, int n, const real *X,       \
                             real *P, size_t dstride, int convert);                            \
    /* Inference forward (no dropout, nothing kept for backward) whose layer-0 input          \
     * projections come from such a table: step t of sequence b reads row idx[t * B + b]      \
     * (t < len[b]; padded entries are not read) of every direction's table.  Otherwise as     \
     * cl_seqrnn_forward, with the same results as giving it the rows themselves. */           \
    int cl_seqrnn_forward_table##S(cl_seqrnn##S *r, const real *params, int T, int B,         \
                                   const real *P, size_t dstride, const int *idx,              \
                                   const int *len, real *Y, real *last);

CL_SEQRNN_DECLARE(float, )
CL_SEQRNN_DECLARE(double, _d)

/* Float stacks only: the products of every layer and direction through
 * oneDNN in precision p (cl_rnn_set_precision, which says what stays fp32);
 * without this call they use OpenBLAS in fp32.  0, CL_EINVAL (bf16 on a CPU
 * without it) or CL_ENOMEM; on error the runs may differ in precision until
 * the next successful call, so a caller treats it as fatal for the stack. */
int cl_seqrnn_set_precision(cl_seqrnn *r, cl_precision p);

CL_API_END
#endif
