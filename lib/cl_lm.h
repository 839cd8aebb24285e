/* cl_lm: the language-model head (next character) on top of the encoder.
 *
 * logits = dropout(encoder states) W^T + b over the character vocabulary,
 * trained with mean softmax cross-entropy.  Tensors "head.lm.weight" [V, H]
 * and "head.lm.bias" [V].  The dropout before the output layer follows
 * karpathy/char-rnn and the PyTorch reference (bench/torch_charlm.py).
 *
 * A model holds up to two language models (docs/model-format.md): the
 * forward one (the model's encoder and "head.lm") and a backward one, which
 * reads the text right to left and predicts the previous character
 * ("head.lm_backward": an encoder and output layer of its own, tensors
 * "head.lm_backward.embed", "head.lm_backward.rnn.*", "head.lm_backward.weight"
 * and "head.lm_backward.bias").  The backward LM is the forward machinery on
 * the reversed text: only the order in which ids are read differs
 * (cl_lm_read). */
#ifndef CL_LM_H
#define CL_LM_H

#include "cl_encoder.h"
#include "cl_ids.h"
#include "cl_api.h"

CL_API_BEGIN

/* Which of a model's language models. */
typedef enum { CL_LM_FORWARD = 0, CL_LM_BACKWARD = 1 } cl_lm_dir;

#define CL_LM_SECTION "head.lm"
#define CL_LM_BACKWARD_SECTION "head.lm_backward"

typedef struct {
    cl_encoder enc;
    cl_lm_dir dir;      /* the text is read right to left when CL_LM_BACKWARD */
    int V, H;           /* vocabulary, encoder output width */
    int i_w, i_b;       /* tensor indices */
    float dropout;      /* on the encoder output, training only */
    int locked;         /* that dropout with one mask per stream and pass */
    int max_T, max_B, T, B, train;
    float *Y, *dY;      /* [T*B, H] encoder output (after dropout) and gradient */
    float *mask;        /* [T*B, H] dropout mask, 0 or 1/(1-p) */
    float *logits;      /* [T*B, V]; becomes dlogits after a training forward */
    long count;         /* unmasked targets of the last forward */
    cl_linear_mm *out;  /* the output layer's products on oneDNN, or NULL: OpenBLAS */
} cl_lm;

int cl_lm_add_params(const cl_encoder_config *ec, cl_params *p);
/* PyTorch's nn.Linear init: U(-1/sqrt(H), 1/sqrt(H)) for weight and bias. */
int cl_lm_init_params(cl_params *p, cl_rng *rng);
int cl_lm_create(cl_lm *lm, const cl_encoder_config *ec, const cl_params *p, float dropout,
                 int max_T, int max_B);
/* The same for the language model of direction dir over parameters p whose
 * encoder has configuration ec (cl_lm_encoder_of). */
int cl_lm_create_dir(cl_lm *lm, cl_lm_dir dir, const cl_encoder_config *ec, const cl_params *p,
                     float dropout, int max_T, int max_B);
void cl_lm_free(cl_lm *lm);
/* Precision of every matrix product, the encoder's (cl_encoder_set_precision)
 * and the output layer's (cl_linear_mm): call once after cl_lm_create;
 * without it products use OpenBLAS in fp32.  0, CL_EINVAL (bf16 on a CPU
 * without it), CL_EISA or CL_ENOMEM. */
int cl_lm_set_precision(cl_lm *lm, cl_precision p);
/* out[0..n) = positions [pos, pos + n) of ids in reading order: as they are
 * for CL_LM_FORWARD, right to left for CL_LM_BACKWARD (position j is
 * ids[N - 1 - j]); positions past the end give -1. */
int cl_lm_read(const cl_ids *ids, cl_lm_dir dir, int64_t pos, int64_t n, int *out, cl_diag *d);
/* Training-only regularisation: g->rnn.locked also locks the output dropout's
 * mask over time; see cl_encoder_set_regularization for the rest. */
int cl_lm_set_regularization(cl_lm *lm, const cl_encoder_reg *g);

/* Forward over ids [T, B] (time major).  h, c [layers, B, H] hold the initial
 * state on entry and the final state on exit (c unused for GRU; NULL = zero
 * start, nothing returned).  With targets (ids of the next characters, < 0 =
 * masked) returns the summed cross-entropy and sets lm->count; with train != 0
 * it also prepares cl_lm_backward (mean loss).  Without targets returns 0 and
 * leaves logits in lm->logits. */
double cl_lm_forward(cl_lm *lm, const cl_params *p, const int *ids, const int *targets, int T,
                     int B, float *h, float *c, int train, cl_rng *rng);
/* Gradients of the mean loss of the last training forward into p->g. */
int cl_lm_backward(cl_lm *lm, cl_params *p);

/* ---- the lm heads inside a model file (sections "head.lm", "head.lm_backward") */

#include "cl_model.h"

typedef struct {
    float dropout; /* dropout on the encoder output during training */
} cl_lm_head_config;

extern const cl_head_ops cl_lm_head_ops;
/* A config for cl_model_add_head (freed by the model); NULL on no memory. */
cl_lm_head_config *cl_lm_head_new(float dropout);

/* The backward language model: section "head.lm_backward" with keys emb,
 * cell, hidden, layers, rnn_dropout (between layers) and dropout (before the
 * output layer); its vocabulary is the model's. */
typedef struct {
    cl_encoder_config enc; /* unidirectional; enc.vocab = the model's vocabulary */
    float dropout;
} cl_lm_backward_config;

extern const cl_head_ops cl_lm_backward_head_ops;
/* A config for cl_model_add_head (freed by the model); NULL on no memory. */
cl_lm_backward_config *cl_lm_backward_new(const cl_encoder_config *ec, float dropout);

/* The encoder configuration of m's language model of direction dir, or
 * NULL when m has none (owned by m). */
const cl_encoder_config *cl_lm_encoder_of(const cl_model *m, cl_lm_dir dir);
/* Its dropout before the output layer (0 when m has none). */
float cl_lm_dropout_of(const cl_model *m, cl_lm_dir dir);
/* "forward" or "backward". */
const char *cl_lm_dir_name(cl_lm_dir dir);

/* Mean cross-entropy (nats/char) of every next-character prediction in ids,
 * with `streams` parallel streams each starting from a zero state and
 * windows of `chunk` steps (the reference's evaluation).  *count gets the
 * number of predictions. */
int cl_lm_evaluate(const cl_model *m, const cl_ids *ids, int streams, int chunk, double *loss,
                   long *count, cl_diag *d);
/* nanoGPT's estimate of the loss: `windows` windows of `window` characters
 * at uniformly random starts (drawn from `seed`), each read from a zero
 * state, the mean cross-entropy over every position of every window (so
 * early positions, with little context, count as in a transformer's
 * evaluation).  `batch` windows run at a time.  CL_EEMPTY when the text is
 * shorter than window + 1 characters. */
int cl_lm_evaluate_windows(const cl_model *m, const cl_ids *ids, int window, long windows,
                           int batch, uint64_t seed, double *loss, long *count, cl_diag *d);
/* The same with a caller's workspace lm (dropout 0): windows of lm->max_T
 * characters, lm->max_B at a time. */
int cl_lm_evaluate_windows_with(cl_lm *lm, const cl_params *p, const cl_ids *ids, long windows,
                                uint64_t seed, double *loss, long *count, cl_diag *d);
/* The same for the language model of direction dir (the backward one reads
 * ids right to left). */
int cl_lm_evaluate_dir(const cl_model *m, cl_lm_dir dir, const cl_ids *ids, int streams,
                       int chunk, double *loss, long *count, cl_diag *d);
/* The same with a caller's evaluation workspace lm (created with dropout 0;
 * its max_B streams and max_T window) on parameters p. */
int cl_lm_evaluate_with(cl_lm *lm, const cl_params *p, const cl_ids *ids, double *loss,
                        long *count, cl_diag *d);

CL_API_END
#endif
