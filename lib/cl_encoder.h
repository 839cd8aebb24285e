/* cl_encoder: the character encoder shared by every head: an embedding table
 * over character ids followed by a recurrent stack (DESIGN.md: "character
 * encoder").  Its parameters are two tensors of the model's flat buffer:
 * "encoder.embed" [V, E] and the stack "encoder.rnn.weight_ih_l0", ... (PyTorch
 * names and layout, packed into one slab). */
#ifndef CL_ENCODER_H
#define CL_ENCODER_H

#include "cl_nn.h"
#include "cl_params.h"
#include "cl_api.h"

CL_API_BEGIN

typedef struct {
    int vocab;         /* V: character ids 0..V-1 (0 = unknown) */
    int emb;           /* E: embedding width = rnn.input */
    cl_rnn_config rnn; /* rnn.input must equal emb */
} cl_encoder_config;

/* Workspace for one (max_T, max_B) shape; owns no parameters. */
typedef struct {
    cl_encoder_config c;
    int i_embed, i_rnn; /* tensor indices in the model's cl_params */
    int max_T, max_B;
    cl_rnn *rnn;
    float *x, *dx; /* [T, B, E] embedded input and its gradient */
    int *ids;      /* [T, B] ids of the last forward */
    int T, B;
    /* Folding (unidirectional stacks): layer 0's input projection of every
     * character, table = embed W_ih0^T [V, G*H], is gathered by id instead of
     * multiplying [T*B, E] embeddings; its gradient is scattered back and
     * turned into the embedding's and W_ih0's gradients with two products of
     * V rows.  Set fold = 0 to use the plain path (tests compare the two). */
    int fold;
    float *table, *dtable;
    float *dembed;            /* [V, E] the fold's embedding gradient before it is added */
    cl_linear_mm *fold_mm;    /* the fold's products on oneDNN, or NULL: OpenBLAS */
    /* Embedding dropout (cl_encoder_set_regularization): whole characters are
     * dropped from a training pass, all their occurrences at once. */
    float embed_drop;
    float *emask; /* [V] 0 or 1/(1-embed_drop) of the last training forward */
    int emask_on;
} cl_encoder;

/* Training-only regularisation of an encoder workspace; all off by default. */
typedef struct {
    cl_rnn_reg rnn;   /* locked dropout and DropConnect of the stack */
    float embed_drop; /* rate at which characters are dropped from a pass; [0, 1) */
} cl_encoder_reg;

/* The model's encoder's tensor-name prefix.  A model can hold a second
 * encoder under another prefix (the backward language model's, cl_lm.h):
 * the *_at functions take the prefix, the others use this one. */
#define CL_ENCODER_PREFIX "encoder"

int cl_encoder_validate(const cl_encoder_config *c);
/* Register the encoder's tensors; returns 0 or an error. */
int cl_encoder_add_params(const cl_encoder_config *c, cl_params *p);
/* Random initial values: N(0,1) embeddings, see cl_rnn_init for the stack. */
int cl_encoder_init_params(const cl_encoder_config *c, cl_params *p, cl_rng *rng);
/* The same for "<prefix>.embed", "<prefix>.rnn.*" (CL_EINVAL: prefix too long). */
int cl_encoder_add_params_at(const cl_encoder_config *c, const char *prefix, cl_params *p);
int cl_encoder_init_params_at(const cl_encoder_config *c, const char *prefix, cl_params *p,
                              cl_rng *rng);
/* Workspace; tensor indices are looked up by name in p.  Free with cl_encoder_free. */
int cl_encoder_create(cl_encoder *e, const cl_encoder_config *c, const cl_params *p, int max_T,
                      int max_B);
/* The same over the encoder whose tensors start with prefix. */
int cl_encoder_create_at(cl_encoder *e, const cl_encoder_config *c, const cl_params *p,
                         const char *prefix, int max_T, int max_B);
void cl_encoder_free(cl_encoder *e);
/* Precision of the matrix products, the stack's (cl_rnn_set_precision) and
 * the fold's (cl_linear_mm): call once after cl_encoder_create; without it
 * products use OpenBLAS in fp32.  0, CL_EINVAL (bf16 on a CPU without it),
 * CL_EISA or CL_ENOMEM. */
int cl_encoder_set_precision(cl_encoder *e, cl_precision p);
/* Threads (OpenMP) of the stack's recurrence and products (cl_rnn_set_threads):
 * rows of the batch are split between them; 1 after cl_encoder_create. */
void cl_encoder_set_threads(cl_encoder *e, int threads);
/* Regularisation of later training forwards; they need rng when any rate is
 * non-zero.  0, CL_EINVAL (a rate out of range) or CL_ENOMEM. */
int cl_encoder_set_regularization(cl_encoder *e, const cl_encoder_reg *g);
/* ids [T, B] time major; state arrays as in cl_rnn_forward; Y [T, B, out_dim]. */
int cl_encoder_forward(cl_encoder *e, const cl_params *p, const int *ids, int T, int B,
                       const float *h0, const float *c0, float *Y, float *hT, float *cT,
                       int train, cl_rng *rng);
/* Accumulates into p->g; dh0/dc0 may be NULL. */
int cl_encoder_backward(cl_encoder *e, cl_params *p, const float *dY, const float *dhT,
                        const float *dcT, float *dh0, float *dc0);
/* Per-batch state size: layers * dirs * hidden floats per stream. */
size_t cl_encoder_state_size(const cl_encoder_config *c);
int cl_encoder_out_dim(const cl_encoder_config *c);

CL_API_END
#endif
