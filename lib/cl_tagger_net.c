/* cl_tagger_net: the tagger's network over a batch of sentences — workspace,
 * forward, backward, prediction.
 *
 * Layout of a batch of S sentences holding N words: words are numbered n in
 * sentence order; word n of sentence s at position t sits in row t * S + s
 * of the word-level buffers (time major, as cl_seqrnn wants).  The char
 * BiLSTM runs over all N words at once, [Tc, N] time major. */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "cl_lm.h"
#include "cl_sample.h"
#include "cl_tagger_impl.h"

static float *falloc(size_t n) { return cl_alloc((n + 16) * sizeof(float)); }
static int *ialloc(size_t n) { return cl_alloc((n + 16) * sizeof(int)); }

/* ==== workspace ============================================================ */

void cl_tagger_ws_free(cl_tagger_ws *ws)
{
    for (int g = 0; g < CL_TAGGER_CHAR_GROUPS; g++)
        cl_seqrnn_free(ws->crnn[g]);
    cl_seqrnn_free(ws->wrnn);
    cl_linear_mm_free(ws->out);
    free(ws->cord), free(ws->slast), free(ws->dslast);
    if (ws->have_enc)
        cl_encoder_free(&ws->enc);
    if (ws->have_benc)
        cl_encoder_free(&ws->benc);
    void *bufs[] = {ws->cids, ws->clen, ws->cx, ws->dcx, ws->cy, ws->clast, ws->dclast,
                    ws->fids, ws->fx, ws->dfx, ws->wids, ws->wex, ws->dwex, ws->tids, ws->ly,
                    ws->wx, ws->dwx, ws->xmask, ws->slen, ws->row, ws->wy, ws->dwy, ws->ymask,
                    ws->logits, ws->targets};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        free(bufs[i]);
    memset(ws, 0, sizeof *ws);
}

/* Gradients and dropout masks: training only. */
static int ws_alloc_grads(const cl_tagger *t, cl_tagger_ws *ws)
{
    const cl_tagger_config *c = t->cfg;
    size_t N = (size_t)ws->N, TcN = (size_t)ws->Tc * N, TwS = (size_t)ws->Tw * ws->S;
    size_t C2 = 2 * (size_t)c->char_hidden, F = (size_t)CL_FEAT_SLOTS * c->feat_emb;
    size_t W2 = 2 * (size_t)c->word_hidden;
    ws->dslast = falloc(N * C2), ws->dcx = falloc(TcN * c->char_emb);
    ws->dclast = falloc(N * C2), ws->dfx = falloc(N * F), ws->dwex = falloc(N * c->word_emb);
    ws->dwx = falloc(TwS * t->din), ws->xmask = falloc(TwS * t->din);
    ws->dwy = falloc(TwS * W2), ws->ymask = falloc(TwS * W2);
    return ws->dslast && ws->dcx && ws->dclast && ws->dfx && ws->dwex && ws->dwx && ws->xmask &&
                   ws->dwy && ws->ymask
               ? CL_OK
               : CL_ENOMEM;
}

static int ws_alloc_bufs(cl_tagger *t, cl_tagger_ws *ws)
{
    const cl_tagger_config *c = t->cfg;
    size_t N = (size_t)ws->N, TcN = (size_t)ws->Tc * N, TwS = (size_t)ws->Tw * ws->S;
    size_t C2 = 2 * (size_t)c->char_hidden, F = (size_t)CL_FEAT_SLOTS * c->feat_emb;
    size_t W2 = 2 * (size_t)c->word_hidden;
    ws->cids = ialloc(TcN), ws->clen = ialloc(N), ws->cord = ialloc(N);
    ws->slast = falloc(N * C2), ws->cx = falloc(TcN * c->char_emb);
    ws->cy = falloc(TcN * C2), ws->clast = falloc(N * C2);
    ws->fids = (int32_t *)ialloc(N * CL_FEAT_SLOTS), ws->fx = falloc(N * F);
    ws->wids = ialloc(N), ws->wex = falloc(N * c->word_emb);
    ws->tids = ialloc((size_t)ws->Tl * ws->S);
    ws->ly = falloc(t->lm_dim ? (size_t)ws->Tl * ws->S * t->lm_dim : 0);
    ws->wx = falloc(TwS * t->din);
    ws->slen = ialloc((size_t)ws->S), ws->row = ialloc(N);
    ws->wy = falloc(TwS * W2);
    ws->logits = falloc(TwS * c->ntags), ws->targets = ialloc(TwS);
    int ok = ws->cids && ws->clen && ws->cord && ws->slast && ws->cx && ws->cy && ws->clast &&
             ws->fids && ws->fx && ws->wids && ws->wex && ws->tids && ws->ly && ws->wx &&
             ws->slen && ws->row && ws->wy && ws->logits && ws->targets;
    if (!ok)
        return CL_ENOMEM;
    return t->infer ? CL_OK : ws_alloc_grads(t, ws);
}

/* The workspace's stacks in t's precision (none set: OpenBLAS). */
static int ws_precision(const cl_tagger *t, cl_tagger_ws *ws)
{
    int err = CL_OK;
    for (int g = 0; g < CL_TAGGER_CHAR_GROUPS && t->mm && !err; g++)
        err = cl_seqrnn_set_precision(ws->crnn[g], t->prec);
    err = err || !t->mm ? err : cl_seqrnn_set_precision(ws->wrnn, t->prec);
    if (!err && t->mm && ws->have_enc)
        err = cl_encoder_set_precision(&ws->enc, t->prec);
    if (!err && t->mm && ws->have_benc)
        err = cl_encoder_set_precision(&ws->benc, t->prec);
    if (!err && t->mm) { /* sized for the workspace's Tw x S rows, remade when it grows */
        cl_linear_mm_free(ws->out);
        ws->out = NULL;
        err = cl_linear_mm_create(&ws->out, t->prec, ws->Tw * ws->S, 2 * t->cfg->word_hidden,
                                  t->cfg->ntags);
    }
    return err;
}

static int ws_alloc(cl_tagger *t, cl_tagger_ws *ws)
{
    int per = (ws->N + CL_TAGGER_CHAR_GROUPS - 1) / CL_TAGGER_CHAR_GROUPS, err = CL_OK;
    int (*create)(cl_seqrnn **, const cl_rnn_config *, int, int) =
        t->infer ? cl_seqrnn_create_inference : cl_seqrnn_create;
    for (int g = 0; g < CL_TAGGER_CHAR_GROUPS && !err; g++)
        err = create(&ws->crnn[g], &t->crnn, ws->Tc, per);
    err = err ? err : create(&ws->wrnn, &t->wrnn, ws->Tw, ws->S);
    if (!err && t->lm_fdim) {
        err = cl_encoder_create(&ws->enc, &t->m->enc, &t->m->params, ws->Tl, ws->S);
        ws->have_enc = !err;
        /* Sentences are rows: the threads the tools set, as the stacks take (cl_seqrnn). */
        if (!err)
            cl_encoder_set_threads(&ws->enc, omp_get_max_threads());
    }
    if (!err && t->lm_dim > t->lm_fdim) {
        err = cl_encoder_create_at(&ws->benc, cl_lm_encoder_of(t->m, CL_LM_BACKWARD),
                                   &t->m->params, CL_LM_BACKWARD_SECTION, ws->Tl, ws->S);
        ws->have_benc = !err;
    }
    err = err ? err : ws_precision(t, ws);
    return err ? err : ws_alloc_bufs(t, ws);
}

void cl_tagger_set_inference(cl_tagger *t)
{
    if (!t->infer)
        cl_tagger_ws_free(&t->ws); /* made again, smaller, by the next batch */
    t->infer = 1;
}

int cl_tagger_set_precision(cl_tagger *t, cl_precision p)
{
    int err = cl_precision_check(p); /* bf16 refused here and now, not at the first batch */
    if (err)
        return err;
    t->mm = 1, t->prec = cl_precision_resolve(p);
    t->types.converted = NULL; /* new bf16 copies */
    return t->ws.wrnn ? ws_precision(t, &t->ws) : CL_OK;
}

static int imax(int a, int b) { return a > b ? a : b; }

static int grow(int need, int have)
{
    return need <= have ? have : imax(need, have + have / 2);
}

/* Word positions (Tw x S) a workspace holds when nobody needs more; text
 * positions (Tl x S) get CL_TAGGER_TEXT_PER_WORD times as many.  Memory is
 * proportional to these products, and the longest sentence of one batch
 * times the most sentences of another made gigabytes (issue 12: 5.5 GB for
 * one 2,500-word sentence): beyond the budget a workspace is sized for the
 * batch at hand, so memory follows the batch, linear in its words. */
#define WS_WORD_POSITIONS 4096
#define WS_TEXT_PER_WORD 8
/* Words of a batch (the char BiLSTM's work, Tc x N) reserved in advance. */
#define WS_WORDS 1024

static size_t zmax(size_t a, size_t b) { return a > b ? a : b; }

/* Keep the grown T x B within the budget unless the batch itself (needT x
 * needB) is larger: then exactly the batch's shape. */
static void fit_budget(int *T, int *B, int needT, int needB, size_t budget)
{
    if ((size_t)*T * (size_t)*B > zmax(budget, (size_t)needT * (size_t)needB))
        *T = needT, *B = needB;
}

/* Word positions are a product: the stacks take any Tw x S up to theirs
 * (long sentences in small batches, short ones in large batches). */
static int ws_fits(const cl_tagger_ws *ws, int N, int S, int Tc, int Tw, int Tl)
{
    return ws->wrnn && N <= ws->N && S <= ws->S && Tc <= ws->Tc &&
           (size_t)Tw * S <= (size_t)ws->Tw * ws->S && Tl <= ws->Tl;
}

/* Room for a batch of this shape (every dimension at least this). */
static int ws_reserve_batch(cl_tagger *t, int N, int S, int Tc, int Tw, int Tl)
{
    cl_tagger_ws *ws = &t->ws;
    /* Without LM features the text is never read: its length must not grow
     * the workspace (it did, 1 -> 29 -> ... -> 414 characters, each step
     * freeing and zeroing all ~200 MB: a third of tagging's CPU time). */
    Tl = t->lm_dim ? Tl : 1;
    if (ws_fits(ws, N, S, Tc, Tw, Tl))
        return CL_OK;
    /* Grow by half again at least, so a stream of ever larger batches
     * (sentences sorted by length) reallocates only a few times. */
    cl_tagger_ws grown = {.N = grow(N, ws->N), .S = grow(S, ws->S), .Tc = grow(Tc, ws->Tc),
                          .Tw = grow(Tw, ws->Tw), .Tl = grow(Tl, ws->Tl)};
    fit_budget(&grown.Tw, &grown.S, Tw, S, WS_WORD_POSITIONS);
    fit_budget(&grown.Tl, &grown.S, Tl, S, (size_t)WS_TEXT_PER_WORD * WS_WORD_POSITIONS);
    grown.S = grown.S > S ? grown.S : S; /* the text fit may have changed it */
    cl_tagger_ws_free(ws);
    *ws = grown;
    int err = ws_alloc(t, ws);
    if (err)
        cl_tagger_ws_free(ws);
    return err;
}

/* Clip a reservation made in advance (maxima over many batches) to the
 * budget; a batch beyond it gets its room when it comes. */
static int clip(int T, int S, size_t budget)
{
    return (size_t)T * (size_t)S > budget ? (int)zmax(1, budget / (size_t)S) : T;
}

int cl_tagger_ws_reserve(cl_tagger *t, int N, int S, int Tc, int Tw, int Tl)
{
    Tw = clip(Tw, S, WS_WORD_POSITIONS);
    Tl = clip(Tl, S, (size_t)WS_TEXT_PER_WORD * WS_WORD_POSITIONS);
    N = N < WS_WORDS ? N : WS_WORDS;
    return ws_reserve_batch(t, N, S, Tc, Tw, Tl);
}

void cl_tagger_batch_shape(const cl_tagger_data *x, const int *sents, int ns, int *N, int *Tc,
                           int *Tw, int *Tl)
{
    *N = *Tc = *Tw = *Tl = 1;
    int n = 0;
    for (int i = 0; i < ns; i++) {
        int s = sents[i], len = x->start[s + 1] - x->start[s];
        n += len;
        *Tw = imax(*Tw, len);
        *Tl = imax(*Tl, x->tstart[s + 1] - x->tstart[s]);
        for (int w = x->start[s]; w < x->start[s + 1]; w++)
            *Tc = imax(*Tc, x->cstart[w + 1] - x->cstart[w]);
    }
    *N = imax(n, 1);
}

/* ==== forward ============================================================== */

static float *W(const cl_tagger *t, int i) { return cl_params_w(&t->m->params, i); }
static float *G(const cl_tagger *t, int i) { return cl_params_g(&t->m->params, i); }

/* Inverted dropout in place: x *= mask, mask in {0, 1/(1-p)}. */
static void dropout(float *x, float *mask, size_t n, float p, cl_rng *rng)
{
    float keep = 1 / (1 - p);
    for (size_t i = 0; i < n; i++) {
        mask[i] = cl_rng_float(rng) < p ? 0 : keep;
        x[i] *= mask[i];
    }
}

/* Batch words sorted by length (counting sort: lengths are at most Tc)
 * into cord, cut into CL_TAGGER_CHAR_GROUPS groups of equal size. */
static void char_groups(cl_tagger *t, const cl_tagger_data *x, const int *words, int N, int Tc)
{
    cl_tagger_ws *ws = &t->ws;
    int count[4097] = {0}, per = (N + CL_TAGGER_CHAR_GROUPS - 1) / CL_TAGGER_CHAR_GROUPS;
    for (int n = 0; n < N; n++)
        count[x->cstart[words[n] + 1] - x->cstart[words[n]]]++;
    for (int l = 1, sum = count[0]; l <= Tc; l++)
        sum += count[l], count[l] = sum - count[l];
    count[0] = 0;
    for (int n = 0; n < N; n++) {
        int len = x->cstart[words[n] + 1] - x->cstart[words[n]], i = count[len]++;
        ws->cord[i] = n, ws->clen[i] = len;
    }
    for (int g = 0; g <= CL_TAGGER_CHAR_GROUPS; g++)
        ws->gstart[g] = g * per < N ? g * per : N;
    for (int g = 0; g < CL_TAGGER_CHAR_GROUPS; g++)
        ws->gT[g] = ws->gstart[g + 1] > ws->gstart[g] ? ws->clen[ws->gstart[g + 1] - 1] : 0;
}

/* Char ids of group g ([T_g, B_g] from offset gstart * Tc; dropped
 * characters become unknown) and its BiLSTM run. */
static int char_group_forward(cl_tagger *t, const cl_tagger_data *x, const int *words, int g,
                              int Tc, int train, cl_rng *rng)
{
    cl_tagger_ws *ws = &t->ws;
    const cl_tagger_config *c = t->cfg;
    float pd = train ? c->char_dropout : 0;
    int g0 = ws->gstart[g], B = ws->gstart[g + 1] - g0, T = ws->gT[g];
    int *ids = ws->cids + (size_t)g0 * Tc;
    for (int i = 0; i < B; i++) {
        int w = words[ws->cord[g0 + i]], b = x->cstart[w], len = ws->clen[g0 + i];
        for (int k = 0; k < T; k++) {
            int id = k < len ? x->chars[b + k] : -1;
            if (id > 0 && pd > 0 && cl_rng_float(rng) < pd)
                id = CL_VOCAB_UNK;
            ids[(size_t)k * B + i] = id;
        }
    }
    float *cx = ws->cx + (size_t)g0 * Tc * c->char_emb;
    cl_embed_forward(cx, ids, T * B, W(t, t->i_cemb), c->char_emb);
    return cl_seqrnn_forward(ws->crnn[g], W(t, t->i_crnn), T, B, cx, ws->clen + g0,
                             ws->cy + (size_t)g0 * Tc * 2 * c->char_hidden,
                             ws->slast + (size_t)g0 * 2 * c->char_hidden, train, rng);
}

/* The char BiLSTM's final states of every word of the batch into clast. */
static int char_forward(cl_tagger *t, const cl_tagger_data *x, const int *words, int N, int Tc,
                        int train, cl_rng *rng)
{
    cl_tagger_ws *ws = &t->ws;
    size_t C2 = 2 * (size_t)t->cfg->char_hidden;
    char_groups(t, x, words, N, Tc);
    for (int g = 0; g < CL_TAGGER_CHAR_GROUPS; g++) {
        int err = ws->gT[g] ? char_group_forward(t, x, words, g, Tc, train, rng) : CL_OK;
        if (err)
            return err;
    }
    for (int i = 0; i < N; i++)
        memcpy(ws->clast + ws->cord[i] * C2, ws->slast + i * C2, C2 * sizeof(float));
    return CL_OK;
}

/* Backward through the char groups from dclast (batch order). */
static int char_backward(cl_tagger *t, int N, int Tc)
{
    cl_tagger_ws *ws = &t->ws;
    const cl_tagger_config *c = t->cfg;
    size_t C2 = 2 * (size_t)c->char_hidden;
    for (int i = 0; i < N; i++)
        memcpy(ws->dslast + i * C2, ws->dclast + ws->cord[i] * C2, C2 * sizeof(float));
    for (int g = 0; g < CL_TAGGER_CHAR_GROUPS; g++) {
        int g0 = ws->gstart[g], B = ws->gstart[g + 1] - g0, T = ws->gT[g];
        if (!T)
            continue;
        float *dcx = ws->dcx + (size_t)g0 * Tc * c->char_emb;
        int err = cl_seqrnn_backward(ws->crnn[g], W(t, t->i_crnn), G(t, t->i_crnn), NULL,
                                     ws->dslast + g0 * C2, dcx);
        if (err)
            return err;
        cl_embed_backward(G(t, t->i_cemb), ws->cids + (size_t)g0 * Tc, T * B, dcx, c->char_emb);
    }
    return CL_OK;
}

/* Feature and frequent-word embeddings of the batch's words. */
static void embed_forward(cl_tagger *t, const cl_tagger_data *x, const int *words, int N,
                          int train, cl_rng *rng)
{
    cl_tagger_ws *ws = &t->ws;
    const cl_tagger_config *c = t->cfg;
    for (int n = 0; n < N; n++) {
        int w = words[n];
        memcpy(ws->fids + (size_t)n * CL_FEAT_SLOTS, x->feats + (size_t)w * CL_FEAT_SLOTS,
               sizeof(int32_t) * CL_FEAT_SLOTS);
        ws->wids[n] = x->wid[w];
        if (train && c->word_dropout > 0 && cl_rng_float(rng) < c->word_dropout)
            ws->wids[n] = 0;
    }
    cl_embed_forward(ws->fx, (const int *)ws->fids, N * CL_FEAT_SLOTS, W(t, t->i_femb), c->feat_emb);
    cl_embed_forward(ws->wex, ws->wids, N, W(t, t->i_wemb), c->word_emb);
}

/* ---- LM features: Flair's contextual string embeddings ------------------- *
 * A sentence's text is "\n w1 w2 ...".  The forward LM reads it as it is; the
 * backward LM reads "\n" and then the words right to left, as it was trained
 * (the text reversed, with the same newline before the sentence), so that
 * step k > 0 reads text[len - k].  A word's features are the forward state
 * after its last character and the backward state after its first (which
 * has seen the word and everything right of it). */

/* Step of the backward reading at which the first character of word w of
 * sentence sent was read. */
static int backward_step(const cl_tagger_data *x, int sent, int w)
{
    int len = x->tstart[sent + 1] - x->tstart[sent];
    int first = w == x->start[sent] ? 1 : x->tend[w - 1] + 2; /* after "\n" or the space */
    int k = len - first;
    return k < 0 ? 0 : k > len - 1 ? len - 1 : k;
}

/* Sentence texts into tids [Tl, S] (zero-padded), backward as above. */
static void lm_input(cl_tagger_ws *ws, const cl_tagger_data *x, const int *sents, int S, int Tl,
                     int backward)
{
    for (int s = 0; s < S; s++) {
        int b = x->tstart[sents[s]], len = x->tstart[sents[s] + 1] - b;
        for (int k = 0; k < Tl; k++)
            ws->tids[(size_t)k * S + s] = k >= len ? 0 : !backward || k == 0 ? x->text[b + k]
                                                                             : x->text[b + len - k];
    }
}

/* The frozen LMs over each sentence's text: the forward states in ly
 * [Tl, S, lm_fdim], the backward ones in lyb [Tl, S, lm_dim - lm_fdim]. */
static int lm_forward(cl_tagger *t, const cl_tagger_data *x, const int *sents, int S, int Tl)
{
    cl_tagger_ws *ws = &t->ws;
    int err = CL_OK;
    ws->lyb = ws->ly + (size_t)Tl * S * t->lm_fdim;
    if (t->lm_fdim) {
        lm_input(ws, x, sents, S, Tl, 0);
        err = cl_encoder_forward(&ws->enc, &t->m->params, ws->tids, Tl, S, NULL, NULL, ws->ly,
                                 NULL, NULL, 0, NULL);
    }
    if (!err && t->lm_dim > t->lm_fdim) {
        lm_input(ws, x, sents, S, Tl, 1);
        err = cl_encoder_forward(&ws->benc, &t->m->params, ws->tids, Tl, S, NULL, NULL, ws->lyb,
                                 NULL, NULL, 0, NULL);
    }
    return err;
}

/* Word w's features (sentence sent of the data, s of the batch's S) from the
 * last lm_forward into out[0..lm_dim). */
static void lm_row(const cl_tagger *t, const cl_tagger_data *x, int sent, int w, int s, int S,
                   float *out)
{
    size_t F = (size_t)t->lm_fdim, Bd = (size_t)(t->lm_dim - t->lm_fdim);
    if (F)
        memcpy(out, t->ws.ly + ((size_t)x->tend[w] * S + s) * F, F * sizeof(float));
    if (Bd)
        memcpy(out + F, t->ws.lyb + ((size_t)backward_step(x, sent, w) * S + s) * Bd,
               Bd * sizeof(float));
}

/* The trainer's cache of x's encoder states, or NULL. */
static const float *lm_cached(const cl_tagger *t, const cl_tagger_data *x)
{
    for (int i = 0; i < 2; i++)
        if (t->lmc[i] && t->lmc_x[i] == x)
            return t->lmc[i];
    return NULL;
}

int cl_tagger_lm_states(cl_tagger *t, const cl_tagger_data *x, const int *sents, int S,
                        float *out)
{
    int N, Tc, Tw, Tl;
    cl_tagger_batch_shape(x, sents, S, &N, &Tc, &Tw, &Tl);
    int err = ws_reserve_batch(t, N, S, Tc, Tw, Tl);
    err = err ? err : lm_forward(t, x, sents, S, Tl);
    size_t D = (size_t)t->lm_dim;
    for (int s = 0; s < S && !err; s++)
        for (int w = x->start[sents[s]]; w < x->start[sents[s] + 1]; w++)
            lm_row(t, x, sents[s], w, s, S, out + w * D);
    return err;
}

/* One word's input row: [char states | features | word | LM features]. */
static void assemble_row(cl_tagger *t, const cl_tagger_data *x, int n, int sent, int w, int s,
                         int S)
{
    cl_tagger_ws *ws = &t->ws;
    const cl_tagger_config *c = t->cfg;
    size_t C2 = 2 * (size_t)c->char_hidden, F = (size_t)CL_FEAT_SLOTS * c->feat_emb;
    float *o = ws->wx + (size_t)ws->row[n] * t->din;
    memcpy(o, ws->clast + n * C2, C2 * sizeof(float));
    memcpy(o + C2, ws->fx + n * F, F * sizeof(float));
    memcpy(o + C2 + F, ws->wex + (size_t)n * c->word_emb, (size_t)c->word_emb * sizeof(float));
    const float *cache = lm_cached(t, x);
    if (t->lm_dim && cache)
        memcpy(o + C2 + F + c->word_emb, cache + (size_t)w * t->lm_dim,
               (size_t)t->lm_dim * sizeof(float));
    else if (t->lm_dim)
        lm_row(t, x, sent, w, s, S, o + C2 + F + c->word_emb);
}

/* Rows, lengths, targets and the word BiLSTM input of the batch. */
static long assemble(cl_tagger *t, const cl_tagger_data *x, const int *sents, int S, int Tw)
{
    cl_tagger_ws *ws = &t->ws;
    memset(ws->wx, 0, (size_t)Tw * S * t->din * sizeof(float));
    long count = 0;
    for (int i = 0; i < Tw * S; i++)
        ws->targets[i] = -1;
    for (int s = 0, n = 0; s < S; s++) {
        int b = x->start[sents[s]], len = x->start[sents[s] + 1] - b;
        ws->slen[s] = len;
        for (int k = 0; k < len; k++, n++) {
            ws->row[n] = k * S + s;
            assemble_row(t, x, n, sents[s], b + k, s, S);
            ws->targets[ws->row[n]] = x->gold[b + k];
            count += x->gold[b + k] >= 0;
        }
    }
    return count;
}

/* Word indices of the batch in sentence order. */
static void batch_words(const cl_tagger_data *x, const int *sents, int S, int *words)
{
    for (int s = 0, n = 0; s < S; s++)
        for (int w = x->start[sents[s]]; w < x->start[sents[s] + 1]; w++)
            words[n++] = w;
}

/* Logits [Tw * S, ntags] of the word BiLSTM's outputs. */
static int output_layer(cl_tagger *t, int Tw, int S)
{
    const cl_tagger_config *c = t->cfg;
    return cl_linear_forward_mm(t->ws.out, t->ws.logits, t->ws.wy, W(t, t->i_ow), W(t, t->i_ob),
                                Tw * S, 2 * c->word_hidden, c->ntags);
}

double cl_tagger_forward(cl_tagger *t, const cl_tagger_data *x, const int *sents, int S,
                         int train, cl_rng *rng, long *count)
{
    cl_tagger_ws *ws = &t->ws;
    const cl_tagger_config *c = t->cfg;
    int N, Tc, Tw, Tl;
    cl_tagger_batch_shape(x, sents, S, &N, &Tc, &Tw, &Tl);
    /* Only a batch beyond what was reserved allocates (a very long sentence). */
    if ((train && t->infer) || ws_reserve_batch(t, N, S, Tc, Tw, Tl))
        return NAN;
    /* The word list borrows targets' room until assembly refills it. */
    int *words = ws->targets;
    batch_words(x, sents, S, words);
    int err = char_forward(t, x, words, N, Tc, train, rng);
    embed_forward(t, x, words, N, train, rng);
    if (!err && t->lm_dim && !lm_cached(t, x))
        err = lm_forward(t, x, sents, S, Tl);
    if (err)
        return NAN;
    *count = assemble(t, x, sents, S, Tw);
    size_t nx = (size_t)Tw * S * t->din, ny = (size_t)Tw * S * 2 * c->word_hidden;
    if (train && c->dropout > 0)
        dropout(ws->wx, ws->xmask, nx, c->dropout, rng);
    if (cl_seqrnn_forward(ws->wrnn, W(t, t->i_wrnn), Tw, S, ws->wx, ws->slen, ws->wy, NULL, train,
                          rng))
        return NAN;
    if (train && c->dropout > 0)
        dropout(ws->wy, ws->ymask, ny, c->dropout, rng);
    if (output_layer(t, Tw, S))
        return NAN;
    if (*count == 0)
        return 0;
    long cnt;
    return cl_xent(ws->logits, ws->targets, Tw * S, c->ntags, train ? ws->logits : NULL,
                   1.0f / (float)*count, &cnt);
}

/* ==== backward ============================================================= */

/* dwx rows back into the gradients of the char states, features and words. */
static void scatter(cl_tagger *t, int N)
{
    cl_tagger_ws *ws = &t->ws;
    const cl_tagger_config *c = t->cfg;
    size_t C2 = 2 * (size_t)c->char_hidden, F = (size_t)CL_FEAT_SLOTS * c->feat_emb;
    for (int n = 0; n < N; n++) {
        const float *g = ws->dwx + (size_t)ws->row[n] * t->din;
        memcpy(ws->dclast + n * C2, g, C2 * sizeof(float));
        memcpy(ws->dfx + n * F, g + C2, F * sizeof(float));
        memcpy(ws->dwex + (size_t)n * c->word_emb, g + C2 + F, (size_t)c->word_emb * sizeof(float));
    }
}

static void mul(float *x, const float *m, size_t n)
{
    for (size_t i = 0; i < n; i++)
        x[i] *= m[i];
}

int cl_tagger_backward(cl_tagger *t, const cl_tagger_data *x, const int *sents, int S)
{
    cl_tagger_ws *ws = &t->ws;
    const cl_tagger_config *c = t->cfg;
    int N, Tc, Tw, Tl, H2 = 2 * c->word_hidden;
    if (t->infer)
        return CL_EINVAL; /* no gradient buffers */
    cl_tagger_batch_shape(x, sents, S, &N, &Tc, &Tw, &Tl);
    size_t nx = (size_t)Tw * S * t->din, ny = (size_t)Tw * S * H2;
    int err = cl_linear_backward_mm(ws->out, ws->dwy, G(t, t->i_ow), G(t, t->i_ob), ws->logits,
                                    ws->wy, W(t, t->i_ow), Tw * S, H2, c->ntags);
    if (err)
        return err;
    if (c->dropout > 0)
        mul(ws->dwy, ws->ymask, ny);
    err = cl_seqrnn_backward(ws->wrnn, W(t, t->i_wrnn), G(t, t->i_wrnn), ws->dwy, NULL, ws->dwx);
    if (err)
        return err;
    if (c->dropout > 0)
        mul(ws->dwx, ws->xmask, nx);
    scatter(t, N);
    cl_embed_backward(G(t, t->i_femb), (const int *)ws->fids, N * CL_FEAT_SLOTS, ws->dfx,
                      c->feat_emb);
    cl_embed_backward(G(t, t->i_wemb), ws->wids, N, ws->dwex, c->word_emb);
    return char_backward(t, N, Tc);
}

/* ==== inference over distinct words (cl_tagger_types) ==================== */

/* Input rows [char states | features | word] of words[0..n) (no LM
 * features) into wx [n, din], as assemble_row writes them. */
static int type_rows(cl_tagger *t, const cl_tagger_data *x, const int *words, int n, int Tc)
{
    cl_tagger_ws *ws = &t->ws;
    const cl_tagger_config *c = t->cfg;
    size_t C2 = 2 * (size_t)c->char_hidden, F = (size_t)CL_FEAT_SLOTS * c->feat_emb;
    int err = char_forward(t, x, words, n, Tc, 0, NULL);
    if (err)
        return err;
    embed_forward(t, x, words, n, 0, NULL);
    for (int i = 0; i < n; i++) {
        float *o = ws->wx + (size_t)i * t->din;
        memcpy(o, ws->clast + i * C2, C2 * sizeof(float));
        memcpy(o + C2, ws->fx + i * F, F * sizeof(float));
        memcpy(o + C2 + F, ws->wex + (size_t)i * c->word_emb, (size_t)c->word_emb * sizeof(float));
    }
    return CL_OK;
}

/* Rows of the cache for the distinct words of the batch's words[0..N) that
 * have none, computed in blocks of the workspace's words. */
static int fill_types(cl_tagger *t, const cl_tagger_data *x, const int *words, int N, int Tc)
{
    cl_tagger_types *c = &t->types;
    int m, err = CL_OK, rows = t->ws.Tw * t->ws.S; /* the word BiLSTM's room */
    cl_tagger_types_missing(c, words, N, &m);
    for (int i = 0, n; i < m && !err; i += n) {
        n = m - i < t->ws.N ? m - i : t->ws.N;
        for (int k = 0; k < n; k++)
            c->reps[k] = c->rep[c->miss[i + k]];
        err = type_rows(t, x, c->reps, n, Tc);
        int np = (n + CL_TAGGER_TYPES_ROUND - 1) / CL_TAGGER_TYPES_ROUND * CL_TAGGER_TYPES_ROUND;
        /* W_ih's bf16 copy once per data set (and workspace) */
        int convert = c->converted != t->ws.wrnn;
        c->converted = t->ws.wrnn;
        err = err ? err : cl_seqrnn_project(t->ws.wrnn, W(t, t->i_wrnn), np < rows ? np : rows,
                                            t->ws.wx, c->proj + c->used * c->row, c->dstride,
                                            convert);
        if (!err)
            cl_tagger_types_hold(c, c->miss + i, n);
    }
    return err;
}

/* The batch's logits as cl_tagger_forward computes them (train 0), the word
 * BiLSTM reading the projections of the cache. */
static int forward_types(cl_tagger *t, const cl_tagger_data *x, const int *sents, int S, int N,
                         int Tc, int Tw)
{
    cl_tagger_ws *ws = &t->ws;
    cl_tagger_types *c = &t->types;
    int *words = ws->row, *idx = ws->targets; /* both borrowed: no assembly follows */
    batch_words(x, sents, S, words);
    int err = fill_types(t, x, words, N, Tc);
    for (int s = 0, n = 0; s < S && !err; s++) {
        ws->slen[s] = x->start[sents[s] + 1] - x->start[sents[s]];
        for (int k = 0; k < ws->slen[s]; k++, n++)
            idx[k * S + s] = c->slot[c->type[words[n]]];
    }
    err = err ? err : cl_seqrnn_forward_table(ws->wrnn, W(t, t->i_wrnn), Tw, S, c->proj, c->dstride,
                                              idx, ws->slen, ws->wy, NULL);
    return err ? err : output_layer(t, Tw, S);
}

/* ==== prediction =========================================================== */

void cl_tagger_argmax(const cl_tagger *t, const cl_tagger_data *x, const int *sents, int S,
                      int *tags)
{
    const cl_tagger_ws *ws = &t->ws;
    int V = t->cfg->ntags;
    for (int s = 0; s < S; s++) {
        int b = x->start[sents[s]], len = x->start[sents[s] + 1] - b;
        for (int k = 0; k < len; k++) {
            const float *l = ws->logits + ((size_t)k * S + s) * V;
            int best = 0;
            for (int j = 1; j < V; j++)
                if (l[j] > l[best])
                    best = j;
            tags[b + k] = best;
        }
    }
}

/* Softmax of each word's logits into probs[w * ntags ...]. */
static void word_probs(const cl_tagger *t, const cl_tagger_data *x, const int *sents, int S,
                       float *probs)
{
    int V = t->cfg->ntags;
    for (int s = 0; s < S; s++) {
        int b = x->start[sents[s]], len = x->start[sents[s] + 1] - b;
        for (int k = 0; k < len; k++) {
            cl_softmax(t->ws.logits + ((size_t)k * S + s) * V, V, probs + (size_t)(b + k) * V);
        }
    }
}

/* ---- very long sentences: windows with overlap --------------------------
 * A sentence of more than WINDOW_WORDS words is tagged in windows of that
 * many words that overlap by 2 * WINDOW_CONTEXT; each word's tag comes from
 * the window where it has WINDOW_CONTEXT words of context on both sides (or
 * the sentence edge).  Memory is then bounded by the window, not the
 * sentence (a 10,000-word line took 12 GB). */
#define WINDOW_WORDS 512
#define WINDOW_CONTEXT 64

/* A one-sentence view of words [a, b) of sentence s (indices relative to
 * the sentence): x's arrays, its own sentence table and text offsets. */
typedef struct {
    cl_tagger_data v;
    int start[2], tstart[2];
} window_view;

static void window_set(window_view *w, const cl_tagger_data *x, int s, int a, int b, int *tend)
{
    int w0 = x->start[s];
    /* The window's text starts after the word before it (its LM context). */
    int p0 = a ? x->tend[w0 + a - 1] + 1 : 0;
    w->v = *x;
    w->v.nsent = 1;
    w->start[0] = w0 + a, w->start[1] = w0 + b;
    w->tstart[0] = x->tstart ? x->tstart[s] + p0 : 0;
    w->tstart[1] = x->tstart ? x->tstart[s] + x->tend[w0 + b - 1] + 1 : 0;
    w->v.start = w->start;
    w->v.tstart = x->tstart ? w->tstart : NULL;
    if (x->tend) {
        for (int k = a; k < b; k++)
            tend[w0 + k] = x->tend[w0 + k] - p0;
        w->v.tend = tend;
    }
}

/* Tag sentence s window by window; scratch has room for x->nwords ints
 * twice (window tags, shifted text offsets). */
static int predict_long(cl_tagger *t, const cl_tagger_data *x, int s, int *tags, int *scratch)
{
    int len = x->start[s + 1] - x->start[s], w0 = x->start[s], zero = 0;
    int step = WINDOW_WORDS - 2 * WINDOW_CONTEXT;
    window_view w;
    for (int k0 = 0; k0 < len; k0 += step) {
        int k1 = k0 + step < len ? k0 + step : len;
        int a = k0 > WINDOW_CONTEXT ? k0 - WINDOW_CONTEXT : 0;
        int b = k1 + WINDOW_CONTEXT < len ? k1 + WINDOW_CONTEXT : len;
        window_set(&w, x, s, a, b, scratch + x->nwords);
        int err = cl_tagger_predict(t, &w.v, &zero, 1, scratch);
        if (err)
            return err;
        memcpy(tags + w0 + k0, scratch + w0 + k0, sizeof *tags * (size_t)(k1 - k0));
    }
    return CL_OK;
}

/* The batch's long sentences one by one in windows; the others keep their
 * order in short[] (*nshort of them). */
static int predict_long_ones(cl_tagger *t, const cl_tagger_data *x, const int *sents, int ns,
                             int *tags, int *shorts, int *nshort)
{
    int *scratch = NULL, err = CL_OK;
    *nshort = 0;
    for (int i = 0; i < ns && !err; i++) {
        int s = sents[i];
        if (x->start[s + 1] - x->start[s] <= WINDOW_WORDS) {
            shorts[(*nshort)++] = s;
            continue;
        }
        if (!scratch && !(scratch = malloc(sizeof *scratch * 2 * (size_t)x->nwords)))
            err = CL_ENOMEM;
        err = err ? err : predict_long(t, x, s, tags, scratch);
    }
    free(scratch);
    return err;
}

static int has_long(const cl_tagger_data *x, const int *sents, int ns)
{
    for (int i = 0; i < ns; i++)
        if (x->start[sents[i] + 1] - x->start[sents[i]] > WINDOW_WORDS)
            return 1;
    return 0;
}

/* NAN probabilities for the words of the long sentences among sents. */
static void unknown_probs(const cl_tagger *t, const cl_tagger_data *x, const int *sents, int S,
                          float *probs)
{
    int V = t->cfg->ntags;
    for (int s = 0; s < S; s++) {
        int b = x->start[sents[s]], len = x->start[sents[s] + 1] - b;
        for (size_t i = 0; len > WINDOW_WORDS && i < (size_t)len * V; i++)
            probs[(size_t)b * V + i] = NAN;
    }
}

int cl_tagger_predict(cl_tagger *t, const cl_tagger_data *x, const int *sents, int ns, int *tags)
{
    return cl_tagger_predict_probs(t, x, sents, ns, tags, NULL);
}

int cl_tagger_predict_probs(cl_tagger *t, const cl_tagger_data *x, const int *sents, int ns,
                            int *tags, float *probs)
{
    if (ns < 1)
        return CL_OK;
    if (has_long(x, sents, ns)) {
        int *shorts = malloc(sizeof *shorts * (size_t)ns), nshort;
        int err = shorts ? predict_long_ones(t, x, sents, ns, tags, shorts, &nshort) : CL_ENOMEM;
        err = err ? err : cl_tagger_predict_probs(t, x, shorts, nshort, tags, probs);
        free(shorts);
        if (probs) /* the windows of a long sentence keep no probabilities */
            unknown_probs(t, x, sents, ns, probs);
        return err;
    }
    int N, Tc, Tw, Tl;
    cl_tagger_batch_shape(x, sents, ns, &N, &Tc, &Tw, &Tl);
    int err = ws_reserve_batch(t, N, ns, Tc, Tw, Tl);
    if (err)
        return err;
    if (t->types.x == x && N <= t->types.cap) {
        err = forward_types(t, x, sents, ns, N, Tc, Tw);
    } else {
        long count;
        double loss = cl_tagger_forward(t, x, sents, ns, 0, NULL, &count);
        err = loss != loss ? CL_EINVAL : CL_OK;
    }
    if (err)
        return err;
    cl_tagger_argmax(t, x, sents, ns, tags);
    if (probs)
        word_probs(t, x, sents, ns, probs);
    return CL_OK;
}
