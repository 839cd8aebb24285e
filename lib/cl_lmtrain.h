/* cl_lmtrain: training a character language model with truncated BPTT.
 *
 * Data is laid out as in char-rnn and the PyTorch reference
 * (bench/torch_charlm.py): the training ids are cut into `batch` contiguous
 * streams; step k reads the next `seq` characters of every stream, carrying
 * the recurrent state over from step k-1 and resetting it at each epoch.
 * This is a task of the training core (cl_train), which runs the loop and
 * keeps what --resume needs; the carried recurrent state is this task's own
 * resumable state.  With state_reset, streams also restart from a zero state
 * at random steps (drawn from the step's random stream, so runs and resumes
 * stay exact).
 *
 * One run trains the model's forward language model, its backward one
 * (cl_lm.h: the same streams and windows over the text read right to left),
 * or both side by side: each step then runs both on the same positions of
 * the text, each with its own carried state, and an evaluation scores their
 * mean nats/char. */
#ifndef CL_LMTRAIN_H
#define CL_LMTRAIN_H

#include "cl_ids.h"
#include "cl_lm.h"
#include "cl_train.h"
#include "cl_api.h"

CL_API_BEGIN

typedef struct {
    int batch, seq;      /* streams per step, BPTT length */
    int eval_streams;    /* parallel streams for evaluation (64 as the reference) */
    int threads;         /* recurrence threads (cl_rnn_set_threads) */
    cl_train_shares shares; /* this process's streams: batch / parts of them per share */
    cl_encoder_reg reg;     /* regularisation of the training passes (cl_lm_set_regularization) */
    unsigned dirs;          /* bits 1 << CL_LM_FORWARD, 1 << CL_LM_BACKWARD; 0 = forward */
    /* Probability in [0, 1) that a stream's carried state is zeroed before a
     * step.  Carried state alone shows the model a zero state only where the
     * streams begin, the same `batch` places every epoch; evaluation, generation
     * and nanoGPT's windows start from zero anywhere, and a model that never
     * learned to can fall into a state it never leaves (seen on Tiny
     * Shakespeare: 15 nats/char for a whole stream).  0 = reference's layout. */
    float state_reset;
} cl_lmtrain_config;

#define CL_LMTRAIN_FORWARD (1u << CL_LM_FORWARD)
#define CL_LMTRAIN_BACKWARD (1u << CL_LM_BACKWARD)

/* batch 32, seq 100, eval_streams 64, threads 1, all shares, no regularisation
 * beyond the head's dropout.  The precision of the products is the training
 * core's (cl_train_config.precision). */
cl_lmtrain_config cl_lmtrain_defaults(void);

typedef struct cl_lmtrain cl_lmtrain;

/* The language-model task for model m (which must have the language models
 * of c->dirs: head.lm, head.lm_backward) on
 * `train` ids, evaluated on `dev` (NULL or under two characters: no
 * evaluation).  m, train and dev stay the caller's and must outlive it. */
int cl_lmtrain_create(cl_lmtrain **t, cl_model *m, const cl_lmtrain_config *c,
                      const cl_ids *train, const cl_ids *dev, cl_diag *d);
void cl_lmtrain_free(cl_lmtrain *t);
/* The task for cl_trainer_create (it borrows t). */
cl_train_task cl_lmtrain_task(cl_lmtrain *t);
/* The groups it trains at lr into g[0..3): the encoder and head.lm (forward),
 * head.lm_backward (backward); returns their number.  Other heads of the
 * model stay as they are. */
int cl_lmtrain_groups(const cl_lmtrain *t, float lr, cl_train_group *g);
long cl_lmtrain_steps_per_epoch(const cl_lmtrain *t);

CL_API_END
#endif
