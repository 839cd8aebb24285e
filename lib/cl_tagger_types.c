/* cl_tagger_types: the distinct words of a data set and the cache of their
 * word-BiLSTM input projections (see cl_tagger_types in cl_tagger_impl.h).
 *
 * Two words are the same distinct word when everything the network reads
 * of them alone is the same: their character ids, feature buckets and
 * frequent-word id.  (Forms that differ only in characters outside the
 * vocabulary are then one word, rightly: the network cannot tell them
 * apart.)  Running text repeats its words: a chunk of 256 EWT sentences
 * holds 2.6 words per distinct word, so the char BiLSTM and the largest
 * product of the word BiLSTM run on 38 % of the words. */
#include <stdlib.h>
#include <string.h>

#include "cl_tagger_impl.h"

/* About this many bytes of projections at most (a row is 6.4 kB with
 * --hidden 200: 2,600 words, a chunk of `charlstm tag` holds ~1,000). */
#define TYPES_BYTES (16u << 20)

/* ---- distinct words: a hash table of word indices ------------------------ */

static uint32_t mix(uint32_t h, uint32_t v) { return (h ^ v) * 16777619u; }

static uint32_t word_hash(const cl_tagger_data *x, int w)
{
    uint32_t h = mix(2166136261u, (uint32_t)x->wid[w]);
    for (int i = x->cstart[w]; i < x->cstart[w + 1]; i++)
        h = mix(h, (uint32_t)x->chars[i]);
    for (int i = 0; i < CL_FEAT_SLOTS; i++)
        h = mix(h, (uint32_t)x->feats[(size_t)w * CL_FEAT_SLOTS + i]);
    return h;
}

static int same_word(const cl_tagger_data *x, int a, int b)
{
    int la = x->cstart[a + 1] - x->cstart[a], lb = x->cstart[b + 1] - x->cstart[b];
    return la == lb && x->wid[a] == x->wid[b] &&
           !memcmp(x->chars + x->cstart[a], x->chars + x->cstart[b], sizeof(int) * (size_t)la) &&
           !memcmp(x->feats + (size_t)a * CL_FEAT_SLOTS, x->feats + (size_t)b * CL_FEAT_SLOTS,
                   sizeof(int32_t) * CL_FEAT_SLOTS);
}

/* type[w] for every word of x, rep[] one word of each distinct one; table
 * has mask + 1 (a power of two above nwords) entries. */
static void find_types(cl_tagger_types *c, const cl_tagger_data *x, int *table, size_t mask)
{
    memset(table, -1, sizeof *table * (mask + 1));
    c->ntypes = 0;
    for (int w = 0; w < x->nwords; w++) {
        size_t i = word_hash(x, w) & mask;
        while (table[i] >= 0 && !same_word(x, c->rep[table[i]], w))
            i = (i + 1) & mask;
        if (table[i] < 0) {
            table[i] = c->ntypes;
            c->rep[c->ntypes++] = w;
        }
        c->type[w] = table[i];
    }
}

/* ---- the cache ------------------------------------------------------------ */

void cl_tagger_types_free(cl_tagger_types *c)
{
    free(c->type), free(c->rep), free(c->slot), free(c->held), free(c->miss), free(c->reps);
    free(c->proj);
    memset(c, 0, sizeof *c);
}

/* Rows for cap words (kept when already that size). */
static int alloc_rows(cl_tagger_types *c, int cap, size_t dirs, size_t row)
{
    if (c->proj && c->cap == cap)
        return CL_OK;
    free(c->held), free(c->miss), free(c->reps), free(c->proj);
    c->held = malloc(sizeof(int) * (size_t)cap);
    c->miss = malloc(sizeof(int) * (size_t)cap);
    c->reps = malloc(sizeof(int) * (size_t)cap);
    c->row = row, c->dstride = row * ((size_t)cap + CL_TAGGER_TYPES_ROUND);
    c->proj = malloc(sizeof(float) * dirs * c->dstride);
    c->cap = cap;
    return c->held && c->miss && c->reps && c->proj ? CL_OK : CL_ENOMEM;
}

int cl_tagger_types_begin(cl_tagger *t, const cl_tagger_data *x, int cap)
{
    cl_tagger_types *c = &t->types;
    c->x = NULL;
    if (t->lm_dim)
        return CL_OK; /* LM features differ with each word's context */
    size_t dirs = (size_t)cl_rnn_dirs(&t->wrnn), row = (size_t)cl_rnn_gates(t->wrnn.cell) * t->wrnn.hidden;
    cap = cap > 0 ? cap : (int)(TYPES_BYTES / (dirs * row * sizeof(float)));
    size_t n = (size_t)x->nwords + 1, mask = 1;
    while (mask < 2 * n)
        mask <<= 1;
    free(c->type), free(c->rep), free(c->slot);
    c->type = malloc(sizeof(int) * n), c->rep = malloc(sizeof(int) * n);
    c->slot = malloc(sizeof(int) * n);
    int *table = malloc(sizeof(int) * mask);
    int err = c->type && c->rep && c->slot && table ? alloc_rows(c, cap, dirs, row) : CL_ENOMEM;
    if (!err) {
        find_types(c, x, table, mask - 1);
        memset(c->slot, -1, sizeof(int) * (size_t)c->ntypes);
        c->used = 0, c->x = x, c->converted = NULL;
    }
    free(table);
    if (err)
        cl_tagger_types_free(c);
    return err;
}

void cl_tagger_types_end(cl_tagger *t) { t->types.x = NULL; }

/* The distinct words of words[0..n) without a row, each once (slot -2). */
static int collect(cl_tagger_types *c, const int *words, int n)
{
    int m = 0;
    for (int i = 0; i < n; i++) {
        int u = c->type[words[i]];
        if (c->slot[u] == -1)
            c->slot[u] = -2, c->miss[m++] = u;
    }
    return m;
}

void cl_tagger_types_missing(cl_tagger_types *c, const int *words, int n, int *nmiss)
{
    int m = collect(c, words, n);
    if (c->used + m <= c->cap) {
        *nmiss = m;
        return;
    }
    /* Full: drop every row (the words of one batch fit, n <= cap). */
    for (int i = 0; i < m; i++)
        c->slot[c->miss[i]] = -1;
    for (int r = 0; r < c->used; r++)
        c->slot[c->held[r]] = -1;
    c->used = 0;
    *nmiss = collect(c, words, n);
}

void cl_tagger_types_hold(cl_tagger_types *c, const int *miss, int n)
{
    for (int i = 0; i < n; i++) {
        c->slot[miss[i]] = c->used;
        c->held[c->used++] = miss[i];
    }
}
