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
    /* the sample under way (cl_gen_begin / cl_gen_step) */
    const cl_gen_request *req;
    int32_t *tail;    /* its last `keep` characters, newest last */
    size_t tail_cap, keep, have;
    long drawn;
    int stopped;
};

void cl_gen_free(cl_gen *g)
{
    if (!g)
        return;
    cl_lm_free(&g->lm);
    cl_infer_free(g->fast);
    free(g->h), free(g->c), free(g->last), free(g->work), free(g->order), free(g->tail);
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

/* ---- one sample ------------------------------------------------------------ */

/* Does the text so far (its last `have` code points in tail, newest last)
 * end with one of the stop strings? */
static int ends_with_stop(const cl_gen_request *r, const int32_t *tail, size_t have)
{
    for (int i = 0; i < r->nstops; i++) {
        size_t k = r->stop_len[i];
        if (k && k <= have && memcmp(tail + have - k, r->stops[i], k * sizeof(int32_t)) == 0)
            return 1;
    }
    return 0;
}

int cl_gen_begin(cl_gen *g, const int *ids, size_t n, const cl_gen_request *r)
{
    size_t keep = 1;
    for (int i = 0; i < r->nstops; i++)
        keep = r->stop_len[i] > keep ? r->stop_len[i] : keep;
    if (keep > g->tail_cap) {
        int32_t *t = realloc(g->tail, keep * sizeof *t);
        if (!t)
            return CL_ENOMEM;
        g->tail = t, g->tail_cap = keep;
    }
    g->req = r, g->keep = keep, g->have = 0, g->drawn = 0, g->stopped = 0;
    return cl_gen_prime(g, ids, n);
}

int cl_gen_step(cl_gen *g, int32_t *cp, int *stopped)
{
    *stopped = g->stopped;
    if (g->stopped || g->drawn >= g->req->length)
        return 0;
    int id;
    cl_gen_next(g, &id);
    *cp = cl_vocab_cp(&g->m->vocab, id);
    /* The last `keep` characters, slid down as the text grows: stop strings
     * are short, so the copy is cheaper than a ring buffer's bookkeeping. */
    if (g->have == g->keep)
        memmove(g->tail, g->tail + 1, (g->keep - 1) * sizeof *g->tail), g->have--;
    g->tail[g->have++] = *cp;
    g->drawn++;
    g->stopped = ends_with_stop(g->req, g->tail, g->have);
    return 1;
}

int cl_gen_sample(cl_gen *g, const int *ids, size_t n, const cl_gen_request *r,
                  cl_gen_emit_fn emit, void *ctx, int *stopped)
{
    int rc = cl_gen_begin(g, ids, n, r), stop = 0;
    int32_t cp;
    while (!rc && cl_gen_step(g, &cp, &stop))
        rc = emit(cp, ctx);
    if (stopped)
        *stopped = stop;
    return rc;
}
