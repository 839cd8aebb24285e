/* cl_generate: prime with a prompt, then sample and feed back. */
#include "cl_generate.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cl_infer.h"
#include "cl_lm.h"

enum { PRIME_CHUNK = 128 };

struct cl_gen {
    const cl_model *m;
    cl_sample_config sc;
    cl_rng rng;
    cl_lm lm;
    cl_infer *fast;   /* bfloat16 engine for LSTM models, NULL otherwise */
    float *h, *c;     /* carried state [layers, 1, H] */
    float *last;      /* logits after the last character fed [V] */
    float *work;      /* [V] */
    int *order;       /* [V] */
};

void cl_gen_free(cl_gen *g)
{
    if (!g)
        return;
    cl_lm_free(&g->lm);
    cl_infer_free(g->fast);
    free(g->h), free(g->c), free(g->last), free(g->work), free(g->order);
    free(g);
}

int cl_gen_create(cl_gen **out, const cl_model *m, const cl_sample_config *sc, uint64_t seed,
                  cl_diag *d)
{
    *out = NULL;
    if (!cl_model_head(m, "head.lm"))
        return cl_diag_set(d, CL_EINVAL, "the model has no language-model head (train one with "
                                         "charlstm train --task lm)");
    if (cl_sample_validate(sc))
        return cl_diag_set(d, CL_EINVAL, "invalid sampling settings");
    cl_gen *g = calloc(1, sizeof *g);
    if (!g)
        return CL_ENOMEM;
    size_t V = (size_t)m->enc.vocab, sn = cl_encoder_state_size(&m->enc);
    g->m = m, g->sc = *sc;
    cl_rng_seed(&g->rng, seed);
    int err = cl_lm_create(&g->lm, &m->enc, &m->params, 0, PRIME_CHUNK, 1);
    g->h = cl_alloc(sn * sizeof(float)), g->c = cl_alloc(sn * sizeof(float));
    g->last = malloc(V * sizeof(float)), g->work = malloc(V * sizeof(float));
    g->order = malloc(V * sizeof(int));
    if (!err && !(g->h && g->c && g->last && g->work && g->order))
        err = CL_ENOMEM;
    if (!err && cl_infer_create(&g->fast, m) == CL_ENOMEM)
        err = CL_ENOMEM; /* CL_EINVAL: not an LSTM; the general path serves */
    if (err) {
        cl_gen_free(g);
        return err;
    }
    *out = g;
    return CL_OK;
}

/* Feed ids[0..n), keeping the logits after the last one. */
static void feed(cl_gen *g, const int *ids, size_t n)
{
    int V = g->m->enc.vocab;
    if (g->fast) {
        const float *logits = NULL;
        for (size_t i = 0; i < n; i++)
            logits = cl_infer_step(g->fast, ids[i]);
        if (logits)
            memcpy(g->last, logits, (size_t)V * sizeof(float));
        return;
    }
    for (size_t i = 0; i < n; i += PRIME_CHUNK) {
        int T = (int)(n - i < PRIME_CHUNK ? n - i : PRIME_CHUNK);
        cl_lm_forward(&g->lm, &g->m->params, ids + i, NULL, T, 1, g->h, g->c, 0, NULL);
        memcpy(g->last, g->lm.logits + (size_t)(T - 1) * V, (size_t)V * sizeof(float));
    }
}

int cl_gen_prime(cl_gen *g, const int *ids, size_t n)
{
    if (g->fast)
        cl_infer_reset(g->fast);
    memset(g->h, 0, cl_encoder_state_size(&g->m->enc) * sizeof(float));
    memset(g->c, 0, cl_encoder_state_size(&g->m->enc) * sizeof(float));
    /* A zero state is rare in training (only where a stream starts), and from
     * it some prompts fall into a loop of junk (greedy "R" -> "RSZZZZ..." on a
     * tiny-shakespeare model).  Starting as after a newline puts the model
     * where text begins: at the start of a line. */
    int start = cl_vocab_id(&g->m->vocab, '\n');
    if (start == CL_VOCAB_UNK)
        start = 1;
    feed(g, &start, 1);
    if (n)
        feed(g, ids, n);
    return CL_OK;
}

int cl_gen_next(cl_gen *g, int *id)
{
    g->last[CL_VOCAB_UNK] = -INFINITY; /* <unk> is not a character to print */
    *id = cl_sample(g->last, g->m->enc.vocab, &g->sc, &g->rng, g->work, g->order);
    feed(g, id, 1);
    return CL_OK;
}
