/* cl_nn: the numeric layers of charlstm: recurrent stacks (LSTM, GRU),
 * embedding, linear, softmax cross-entropy.
 *
 * Every layer is a pair of kernels over caller-owned memory, in llm.c style:
 * forward(out, in..., params..., dims) and backward, which ACCUMULATES (+=)
 * into parameter gradients and WRITES (=) input gradients.  Parameters live in
 * one flat buffer owned by the model; layers only get pointers into it.
 *
 * Each kernel exists in float (name) and double (name_d); see cl_real.h. */
#ifndef CL_NN_H
#define CL_NN_H

#include <stddef.h>

#include "cl_mm.h"
#include "cl_rng.h"
#include "cl_api.h"

CL_API_BEGIN

/* ---- recurrent stack configuration (precision independent) ------------- */

typedef enum { CL_CELL_LSTM = 0, CL_CELL_GRU = 1 } cl_cell;

typedef struct {
    cl_cell cell;
    int input;     /* I: features per time step into layer 0 */
    int hidden;    /* H: units per layer and direction */
    int layers;    /* L >= 1 */
    int bidir;     /* 0: forward only; 1: forward and reverse directions */
    float dropout; /* inverted dropout on the input of layers 1..L-1, training only */
} cl_rnn_config;

/* Tensors of one layer and direction, in PyTorch's order and row-major layout:
 * weight_ih [G*H, I_l], weight_hh [G*H, H], bias_ih [G*H], bias_hh [G*H], where
 * G = 4 (LSTM gates i,f,g,o) or 3 (GRU gates r,z,n) and I_l = I for layer 0,
 * H*dirs above.  Layers follow each other, the reverse direction right after
 * the forward one: exactly the order of torch.nn.LSTM.parameters(). */
enum { CL_RNN_W_IH = 0, CL_RNN_W_HH = 1, CL_RNN_B_IH = 2, CL_RNN_B_HH = 3 };

/* Training-only regularisation of a workspace (not stored in models): set with
 * cl_rnn_set_regularization; all off by default. */
typedef struct {
    int locked;        /* variational dropout: one mask per stream and pass, shared by
                          every step (Gal & Ghahramani 2016), instead of one per step */
    float weight_drop; /* DropConnect on W_hh, one mask per pass (AWD-LSTM); [0, 1) */
} cl_rnn_reg;

int cl_rnn_validate(const cl_rnn_config *c); /* 0 or CL_EINVAL */
int cl_rnn_gates(cl_cell cell);              /* 4 or 3 */
int cl_rnn_dirs(const cl_rnn_config *c);     /* 1 or 2 */
int cl_rnn_out_dim(const cl_rnn_config *c);  /* H * dirs */
size_t cl_rnn_param_count(const cl_rnn_config *c);
/* Offset of tensor `which` (CL_RNN_W_IH...) of layer l, direction d within the
 * stack's parameters; rows/cols get its shape (cols = 1 for biases). */
size_t cl_rnn_param_offset(const cl_rnn_config *c, int l, int d, int which, int *rows, int *cols);
/* PyTorch's name of that tensor, e.g. "weight_hh_l1_reverse". */
void cl_rnn_param_name(int l, int d, int which, char *buf, size_t size);
struct cl_params_s;
/* Register the stack's tensors in p as "<prefix>.weight_ih_l0", ... packed
 * into one slab in PyTorch order; returns the index of the first (its values
 * are the `params` pointer of the kernels) or a negative error. */
int cl_rnn_add_params(const cl_rnn_config *c, struct cl_params_s *p, const char *prefix);
/* Glorot-uniform input weights, orthogonal recurrent weights (per gate block),
 * zero biases except the LSTM forget gate of bias_ih, which is 1. */
int cl_rnn_init(const cl_rnn_config *c, float *params, cl_rng *rng);

/* ---- template part: float and double ------------------------------------ */

#define CL_NN_DECLARE(real, S)                                                                 \
    typedef struct cl_rnn##S cl_rnn##S;                                                          \
    /* Workspace for up to max_T x max_B positions: T steps of B <= max_B streams with       \
     * T x B <= max_T x max_B (every buffer is sized by that product); caller frees             \
     * with cl_rnn_free. Allocates everything the forward and backward passes need, and         \
     * picks the gate kernels for the CPU (cl_isa.h; CL_EISA: CHARLSTM_ISA's is absent). */     \
    int cl_rnn_create##S(cl_rnn##S **out, const cl_rnn_config *c, int max_T, int max_B);       \
    /* The same for inference only: forward with train 0 (train 1: CL_EINVAL), no backward;   \
     * without the buffers backward needs (about half the memory, all of it zeroed). */       \
    int cl_rnn_create_inference##S(cl_rnn##S **out, const cl_rnn_config *c, int max_T,        \
                                   int max_B);                                                 \
    void cl_rnn_free##S(cl_rnn##S *r);                                                          \
    /* OpenMP threads for the recurrence and the large products (rows split among             \
     * them, each running single-threaded OpenBLAS products); 1 by default.  Give              \
     * OpenBLAS one thread (openblas_set_num_threads) when using more than one. */            \
    void cl_rnn_set_threads##S(cl_rnn##S *r, int threads);                                     \
    /* Regularisation of later training forwards (cl_rnn_reg); with weight_drop > 0 the       \
     * forward needs rng.  0, CL_EINVAL (rate out of range) or CL_ENOMEM. */                   \
    int cl_rnn_set_regularization##S(cl_rnn##S *r, const cl_rnn_reg *g);                       \
    /* The dropout mask [T, B, H*dirs] on layer l's input in the last training forward         \
     * (0 or 1/(1-p)), NULL when there was none; for tests and inspection. */                  \
    const real *cl_rnn_dropout_mask##S(const cl_rnn##S *r, int l);                             \
    /* X [T,B,I] (time major); h0, c0 [L*dirs, B, H] initial states or NULL for zeros          \
     * (c0/cT unused for GRU); Y [T,B,H*dirs]; hT, cT final states or NULL.  train != 0        \
     * enables dropout (needs rng) and keeps what backward needs.  hT may alias h0 and cT     \
     * c0 (state carried in place across chunks). */                                         \
    int cl_rnn_forward##S(cl_rnn##S *r, const real *params, int T, int B, const real *X,       \
                          const real *h0, const real *c0, real *Y, real *hT, real *cT,         \
                          int train, cl_rng *rng);                                             \
    /* Unidirectional stacks whose input is an embedding can fold the embedding into          \
     * layer 0's input projection: the caller writes x W_ih0^T (no bias) of every step         \
     * into cl_rnn_gates0() [max_T, max_B, G*H], then calls cl_rnn_forward_gates (the same     \
     * as cl_rnn_forward otherwise).  Its backward leaves W_ih0's gradient and dX to the       \
     * caller, who gets dL/d(x W_ih0^T) [T,B,G*H] from cl_rnn_gates0_grad().                   \
     * CL_EINVAL (NULL) for bidirectional stacks. */                                           \
    real *cl_rnn_gates0##S(cl_rnn##S *r);                                                      \
    int cl_rnn_forward_gates##S(cl_rnn##S *r, const real *params, int T, int B,                \
                                const real *h0, const real *c0, real *Y, real *hT, real *cT,  \
                                int train, cl_rng *rng);                                       \
    const real *cl_rnn_gates0_grad##S(const cl_rnn##S *r);                                     \
    /* P [n, G*H] = X [n, I] W_ih0^T (no bias): layer 0's input projection of n rows         \
     * (n <= max_T * max_B; layer 0, first direction), as cl_rnn_forward computes it, for      \
     * callers of cl_rnn_forward_gates that project fewer rows than they run (each distinct    \
     * word once).  convert 0 reuses the bfloat16 copy of W_ih the previous call with          \
     * convert 1 made (frozen weights; the copy is the stack's own: cl_rnn_forward redoes      \
     * it).  0, CL_EINVAL or an error of the products. */                                      \
    int cl_rnn_project0##S(cl_rnn##S *r, const real *params, int n, const real *X, real *P,   \
                           int convert);                                                       \
    /* Backward through the last training forward: dY [T,B,H*dirs]; dhT, dcT gradients        \
     * w.r.t. the final states or NULL.  grads += dL/dparams; dX [T,B,I], dh0, dc0 are          \
     * written when not NULL. */                                                               \
    int cl_rnn_backward##S(cl_rnn##S *r, const real *params, real *grads, const real *dY,      \
                           const real *dhT, const real *dcT, real *dX, real *dh0, real *dc0);  \
                                                                                               \
    /* Embedding: out[n,:] = table[ids[n],:]; ids < 0 give zero rows (padding). */             \
    void cl_embed_forward##S(real *out, const int *ids, int n, const real *table, int dim);    \
    /* dtable[ids[n],:] += dout[n,:]: touches only the rows in use. */                         \
    void cl_embed_backward##S(real *dtable, const int *ids, int n, const real *dout, int dim);\
                                                                                               \
    /* Linear: Y [N,O] = X [N,I] W^T + b, W [O,I], b [O] or NULL. */                           \
    void cl_linear_forward##S(real *Y, const real *X, const real *W, const real *b, int N,     \
                              int nin, int nout);                                                   \
    /* dW += dY^T X; db += colsum(dY) (db may be NULL); dX = dY W (dX may be NULL). */         \
    void cl_linear_backward##S(real *dX, real *dW, real *db, const real *dY, const real *X,    \
                               const real *W, int N, int nin, int nout);                            \
                                                                                               \
    /* Softmax cross-entropy over logits [N,V] with targets[n] in [0,V) or < 0 (masked).       \
     * Returns the summed loss over unmasked rows and stores their count in *count.            \
     * If dlogits is not NULL it receives d(sum loss)/dlogits * scale (0 on masked rows);      \
     * pass scale = 1/count for the mean.  dlogits may alias logits. */                       \
    double cl_xent##S(const real *logits, const int *targets, int N, int V, real *dlogits,     \
                      real scale, long *count);

CL_NN_DECLARE(float, )
CL_NN_DECLARE(double, _d)

/* Float stacks only (the double build, for gradient checks, stays on BLAS):
 * run the stack's matrix products through oneDNN in precision p (cl_mm.h):
 * bf16 products with fp32 accumulation, or fp32.  Weights, cell states, gates
 * and every gradient the caller sees stay fp32.  Without this call products
 * go to OpenBLAS in fp32.  Allocates the bfloat16 copies of weights,
 * activations and gate gradients (about half the workspace again) once.
 * 0, CL_EINVAL (bf16 on a CPU without it) or CL_ENOMEM; on error the stack
 * keeps its previous setting.  The backward pass must get the parameters of
 * the last forward (the bf16 copies are made there). */
int cl_rnn_set_precision(cl_rnn *r, cl_precision p);
/* Float stacks: in each backward pass, tell p's gradient hook (cl_params.h)
 * as soon as each layer's weight gradients are final, so that a training
 * core can start reducing them while the layers below are computed.  The
 * grads given to cl_rnn_backward must then lie inside p->g.  NULL (the
 * default): tell nobody.  p is borrowed. */
void cl_rnn_report_to(cl_rnn *r, const struct cl_params_s *p);
/* CL_PREC_BF16 or CL_PREC_FP32 (also for OpenBLAS, the default). */
cl_precision cl_rnn_precision(const cl_rnn *r);

/* ---- a linear layer's products on oneDNN (float builds) ------------------
 * The three products of cl_linear_forward/backward through oneDNN (cl_mm.h)
 * in precision p, for at most max_n rows of nin inputs and nout outputs: an
 * output layer over a whole batch (the language model's head: [T*B, H] x
 * [V, H]^T, oneDNN 1.2-2.5x OpenBLAS in fp32 and 2.4-5x in bf16 there).  In
 * bf16 it keeps bfloat16 copies of X and W (made by the forward pass, read
 * again by the backward pass) and of dY, allocated here once; weights and
 * every gradient stay fp32.  Caller frees with cl_linear_mm_free.
 * 0, CL_EINVAL (bf16 on a CPU without it, sizes < 1, or the double test
 * build, which stays on BLAS), CL_EISA (CHARLSTM_ISA) or CL_ENOMEM. */
typedef struct cl_linear_mm_s cl_linear_mm;
int cl_linear_mm_create(cl_linear_mm **out, cl_precision p, int max_n, int nin, int nout);
void cl_linear_mm_free(cl_linear_mm *l);
/* CL_PREC_BF16 or CL_PREC_FP32 (also for l NULL: OpenBLAS). */
cl_precision cl_linear_mm_precision(const cl_linear_mm *l);
/* cl_linear_forward with l's products (l NULL: cl_linear_forward itself).
 * 0, or CL_EINVAL (N > max_n, other nin/nout) or a product's error. */
int cl_linear_forward_mm(cl_linear_mm *l, float *Y, const float *X, const float *W,
                         const float *b, int N, int nin, int nout);
/* cl_linear_backward with l's products; X and W must be those of the last
 * cl_linear_forward_mm (bf16 reads the copies that pass made). */
int cl_linear_backward_mm(cl_linear_mm *l, float *dX, float *dW, float *db, const float *dY,
                          const float *X, const float *W, int N, int nin, int nout);

CL_API_END
#endif
