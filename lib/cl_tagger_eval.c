/* cl_tagger_eval: batching by length, tagging whole data sets and scoring
 * them (accuracy, unseen words, confusions); shared by `tag`, `eval` and
 * the tagger's training task. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cl_tagger_impl.h"

/* ==== ordering ============================================================= */

static int cmp_len(const void *a, const void *b)
{
    const len_id *x = a, *y = b;
    return x->len != y->len ? x->len - y->len : x->id - y->id;
}

/* Sort ids[0..n) by sentence length (stable by id). */
void cl_tagger_sort_by_length(const cl_tagger_data *x, int *ids, int n, len_id *tmp)
{
    for (int i = 0; i < n; i++)
        tmp[i].len = x->start[ids[i] + 1] - x->start[ids[i]], tmp[i].id = ids[i];
    qsort(tmp, (size_t)n, sizeof *tmp, cmp_len);
    for (int i = 0; i < n; i++)
        ids[i] = tmp[i].id;
}

/* ==== scoring ============================================================== */

void cl_tagger_eval_free(cl_tagger_eval *e)
{
    free(e->confusion);
    memset(e, 0, sizeof *e);
}

double cl_tagger_eval_accuracy(const cl_tagger_eval *e)
{
    return e->words ? (double)e->correct / e->words : NAN;
}

double cl_tagger_eval_unseen_accuracy(const cl_tagger_eval *e)
{
    return e->unseen ? (double)e->unseen_correct / e->unseen : NAN;
}

static void score(const cl_tagger_data *x, const int *pred, cl_tagger_eval *e)
{
    for (int w = 0; w < x->nwords; w++) {
        int g = x->gold[w];
        if (g == -1)
            continue; /* no gold tag */
        if (g < 0) { /* a tag outside the tag set: always wrong */
            e->words++, e->unknown_gold++, e->unseen += x->unseen[w];
            continue;
        }
        int ok = pred[w] == g;
        e->words++, e->correct += ok;
        e->unseen += x->unseen[w], e->unseen_correct += ok && x->unseen[w];
        e->confusion[(size_t)g * e->ntags + pred[w]]++;
    }
}


int cl_tagger_next_batch(const cl_tagger_data *x, const int *order, int b, int S, int batch,
                      int max_words)
{
    int e = b + 1, words = x->start[order[b] + 1] - x->start[order[b]];
    while (e < S && e - b < batch) {
        words += x->start[order[e] + 1] - x->start[order[e]];
        if (words > max_words)
            break;
        e++;
    }
    return e;
}

int cl_tagger_reserve_batches(cl_tagger *t, const cl_tagger_data *x, const int *order, int S, int batch,
                       int max_words)
{
    int mN = 1, mS = 1, mTc = 1, mTw = 1, mTl = 1;
    for (int b = 0, e; b < S; b = e) {
        int N, Tc, Tw, Tl;
        e = cl_tagger_next_batch(x, order, b, S, batch, max_words);
        cl_tagger_batch_shape(x, order + b, e - b, &N, &Tc, &Tw, &Tl);
        mN = N > mN ? N : mN, mS = e - b > mS ? e - b : mS, mTc = Tc > mTc ? Tc : mTc;
        mTw = Tw > mTw ? Tw : mTw, mTl = Tl > mTl ? Tl : mTl;
    }
    return cl_tagger_ws_reserve(t, mN, mS, mTc, mTw, mTl);
}

/* Room for any batch of ordinary sentences from the start: a caller that
 * tags chunk after chunk (charlstm tag) then never reallocates, which would
 * cost more than the tagging (fresh pages are zeroed by the kernel). */
static int reserve_typical(cl_tagger *t, int batch)
{
    const cl_tagger_config *c = t->cfg;
    int Tw = 80, Tl = cl_tagger_reads_lm(c) ? 8 * Tw : 1;
    return cl_tagger_ws_reserve(t, TAG_BATCH_WORDS, batch, c->max_word_chars, Tw, Tl);
}

/* probs[w] = the probability of the tag chosen for word w, from the whole
 * distribution dist [nwords, ntags]. */
static void chosen_probs(const cl_tagger *t, const cl_tagger_data *x, const int *pred,
                         const float *dist, float *probs)
{
    for (int w = 0; w < x->nwords; w++)
        probs[w] = dist[(size_t)w * t->cfg->ntags + pred[w]];
}

int cl_tagger_tag(cl_tagger *t, const cl_tagger_data *x, int batch, int *pred, float *probs)
{
    int S = x->nsent, err = CL_OK;
    int *order = malloc(sizeof *order * (size_t)(S ? S : 1));
    len_id *tmp = malloc(sizeof *tmp * (size_t)(S ? S : 1));
    float *dist = probs ? malloc(sizeof *dist * (size_t)(x->nwords ? x->nwords : 1) *
                                 (size_t)t->cfg->ntags)
                        : NULL;
    if (!order || !tmp || (probs && !dist))
        err = CL_ENOMEM;
    for (int s = 0; s < S && !err; s++)
        order[s] = s;
    if (!err)
        cl_tagger_sort_by_length(x, order, S, tmp);
    err = err ? err : reserve_typical(t, batch);
    err = err ? err : cl_tagger_reserve_batches(t, x, order, S, batch, TAG_BATCH_WORDS);
    for (int b = 0, e; b < S && !err; b = e) {
        e = cl_tagger_next_batch(x, order, b, S, batch, TAG_BATCH_WORDS);
        err = cl_tagger_predict_probs(t, x, order + b, e - b, pred, dist);
    }
    if (!err && probs)
        chosen_probs(t, x, pred, dist, probs);
    free(order), free(tmp), free(dist);
    return err;
}

int cl_tagger_evaluate(cl_tagger *t, const cl_tagger_data *x, int batch, cl_tagger_eval *e,
                       int *pred)
{
    memset(e, 0, sizeof *e);
    e->ntags = t->cfg->ntags;
    e->confusion = calloc((size_t)e->ntags * e->ntags, sizeof *e->confusion);
    int *p = pred ? pred : malloc(sizeof *p * (size_t)(x->nwords ? x->nwords : 1));
    int err = e->confusion && p ? CL_OK : CL_ENOMEM;
    err = err ? err : cl_tagger_tag(t, x, batch < 1 ? 1 : batch, p, NULL);
    if (!err)
        score(x, p, e);
    if (p != pred)
        free(p);
    if (err)
        cl_tagger_eval_free(e);
    return err;
}

