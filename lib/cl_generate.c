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
    cl_infer *fast;   /* the engine for LSTM models, NULL otherwise */
    uint64_t seed;
    long samples;     /* samples begun: the next one is seeded with seed + samples */
    int columns;      /* the engine's columns: samples cl_gen_batch steps together */
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
    /* Generation continues a prompt: the forward model, never the backward. */
    if (!cl_model_head(m, "head.lm"))
        return cl_diag_set(d, CL_EINVAL, "the model has no %slanguage-model head (train one with "
                           "charlstm train --task lm)", cl_model_head(m, "head.lm_backward")
                           ? "forward " : "");
    if (cl_sample_validate(sc))
        return cl_diag_set(d, CL_EINVAL, "invalid sampling settings");
    cl_gen *g = calloc(1, sizeof *g);
    if (!g)
        return CL_ENOMEM;
    size_t V = (size_t)m->enc.vocab, sn = cl_encoder_state_size(&m->enc);
    g->m = m, g->sc = *sc, g->seed = seed, g->columns = 1;
    cl_rng_seed(&g->rng, seed);
    int err = cl_lm_create(&g->lm, &m->enc, &m->params, 0, PRIME_CHUNK, 1);
    g->h = cl_alloc(sn * sizeof(float)), g->c = cl_alloc(sn * sizeof(float));
    g->last = malloc(V * sizeof(float)), g->work = malloc(V * sizeof(float));
    g->order = malloc(V * sizeof(int));
    if (!err && !(g->h && g->c && g->last && g->work && g->order))
        err = CL_ENOMEM;
    if (!err && cl_infer_create(&g->fast, m, NULL) == CL_ENOMEM)
        err = CL_ENOMEM; /* CL_EINVAL: not an LSTM; the general path serves */
    if (err) {
        cl_gen_free(g);
        return err;
    }
    *out = g;
    return CL_OK;
}

int cl_gen_set_engine(cl_gen *g, const cl_infer_config *c)
{
    if (!g->fast)
        return CL_OK;
    cl_infer *e;
    int err = cl_infer_create(&e, g->m, c);
    if (err)
        return err;
    cl_infer_free(g->fast);
    g->fast = e, g->columns = c ? c->columns : 1;
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

/* A character id drawn from logits z [V] (changed: <unk> is masked). */
static int pick(cl_gen *g, float *z, cl_rng *rng)
{
    z[CL_VOCAB_UNK] = -INFINITY; /* <unk> is not a character to print */
    return cl_sample(z, g->m->enc.vocab, &g->sc, rng, g->work, g->order);
}

int cl_gen_next(cl_gen *g, int *id)
{
    *id = pick(g, g->last, &g->rng);
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

/* How many characters the stop strings look back: the longest (at least 1). */
static size_t stop_window(const cl_gen_request *r)
{
    size_t keep = 1;
    for (int i = 0; i < r->nstops; i++)
        keep = r->stop_len[i] > keep ? r->stop_len[i] : keep;
    return keep;
}

/* Append cp to a sample's last `keep` characters (tail, `*have` of them,
 * newest last) and say whether a stop string now ends it.  Stop strings are
 * short, so sliding the window down is cheaper than a ring buffer's
 * bookkeeping. */
static int track(const cl_gen_request *r, int32_t *tail, size_t keep, size_t *have, int32_t cp)
{
    if (*have == keep)
        memmove(tail, tail + 1, (keep - 1) * sizeof *tail), (*have)--;
    tail[(*have)++] = cp;
    return ends_with_stop(r, tail, *have);
}

int cl_gen_begin(cl_gen *g, const int *ids, size_t n, const cl_gen_request *r)
{
    size_t keep = stop_window(r);
    if (keep > g->tail_cap) {
        int32_t *t = realloc(g->tail, keep * sizeof *t);
        if (!t)
            return CL_ENOMEM;
        g->tail = t, g->tail_cap = keep;
    }
    g->req = r, g->keep = keep, g->have = 0, g->drawn = 0, g->stopped = 0;
    cl_rng_seed(&g->rng, g->seed + (uint64_t)g->samples++);
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
    g->drawn++;
    g->stopped = track(g->req, g->tail, g->keep, &g->have, *cp);
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

/* ---- several samples at once ---------------------------------------------- */

/* One running sample of a batch, in the engine column of its index in the
 * group's array. */
typedef struct {
    cl_rng rng;
    int32_t *tail; /* its last `keep` characters */
    size_t have;
    long drawn;
    int s;         /* which sample of the batch */
    int id;        /* the character drawn last */
} gen_col;

typedef struct {
    const cl_gen_request *r;
    size_t keep;
    cl_gen_batch_emit_fn emit;
    void *ctx;
    int *stopped;
} batch_job;

/* Column j draws its next character from logits z (NULL: the prompt's, in
 * g->last); returns emit's value, *more = 1 when the sample goes on. */
static int draw(cl_gen *g, const batch_job *b, gen_col *c, const float *z, int *more)
{
    if (z)
        memcpy(g->last, z, (size_t)g->m->enc.vocab * sizeof(float));
    c->id = pick(g, g->last, &c->rng);
    int32_t cp = cl_vocab_cp(&g->m->vocab, c->id);
    int stop = track(b->r, c->tail, b->keep, &c->have, cp);
    c->drawn++;
    if (stop && b->stopped)
        b->stopped[c->s] = 1;
    *more = !stop && c->drawn < b->r->length;
    return b->emit(c->s, cp, b->ctx);
}

/* Samples s0 .. s0 + m - 1 (m <= columns) from the primed prompt: every
 * column starts from column 0's state; each round, those still running
 * move down to the first columns and step together. */
static int batch_group(cl_gen *g, const batch_job *b, gen_col *cols, int32_t *tails, int *next,
                       int s0, int m)
{
    for (int j = 0; j < m; j++) {
        cols[j] = (gen_col){.tail = tails + (size_t)j * b->keep, .s = s0 + j};
        cl_rng_seed(&cols[j].rng, g->seed + (uint64_t)g->samples++);
        cl_infer_copy(g->fast, 0, j);
    }
    const float *z = NULL;
    int live = b->r->length > 0 ? m : 0, rc = 0, V = g->m->enc.vocab;
    while (live && !rc) {
        int k = 0;
        for (int j = 0; j < live && !rc; j++) {
            int more;
            rc = draw(g, b, &cols[j], z ? z + (size_t)j * V : NULL, &more);
            if (!more)
                continue;
            cl_infer_copy(g->fast, j, k);
            cols[k] = cols[j], next[k] = cols[k].id, k++;
        }
        live = k;
        if (live && !rc)
            z = cl_infer_step_n(g->fast, next, live);
    }
    return rc;
}

/* Without the engine (or with one column): one sample after another. */
typedef struct {
    cl_gen_batch_emit_fn emit;
    void *ctx;
    int s;
} one_emit;

static int emit_one(int32_t cp, void *ctx)
{
    one_emit *o = ctx;
    return o->emit(o->s, cp, o->ctx);
}

static int batch_serial(cl_gen *g, const int *ids, size_t n, const cl_gen_request *r,
                        int nsamples, cl_gen_batch_emit_fn emit, void *ctx, int *stopped)
{
    int rc = 0;
    for (int s = 0; s < nsamples && !rc; s++) {
        one_emit o = {emit, ctx, s};
        rc = cl_gen_sample(g, ids, n, r, emit_one, &o, stopped ? &stopped[s] : NULL);
    }
    return rc;
}

int cl_gen_batch(cl_gen *g, const int *ids, size_t n, const cl_gen_request *r, int nsamples,
                 cl_gen_batch_emit_fn emit, void *ctx, int *stopped)
{
    if (!g->fast || g->columns < 2 || nsamples < 2)
        return batch_serial(g, ids, n, r, nsamples, emit, ctx, stopped);
    int m = nsamples < g->columns ? nsamples : g->columns, rc = 0;
    batch_job b = {r, stop_window(r), emit, ctx, stopped};
    gen_col *cols = malloc((size_t)m * sizeof *cols);
    int32_t *tails = malloc((size_t)m * b.keep * sizeof *tails);
    int *next = malloc((size_t)m * sizeof *next);
    if (!cols || !tails || !next)
        rc = CL_ENOMEM;
    for (int s = 0; s < nsamples && !rc; s += m) {
        if (stopped)
            memset(stopped + s, 0, (size_t)(nsamples - s < m ? nsamples - s : m) * sizeof *stopped);
        cl_gen_prime(g, ids, n);
        rc = batch_group(g, &b, cols, tails, next, s, nsamples - s < m ? nsamples - s : m);
    }
    free(cols), free(tails), free(next);
    return rc;
}
