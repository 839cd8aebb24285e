/* cl_ngram: hashed word n-grams and their naive Bayes evidence (cl_ngram.h). */
#include "cl_ngram.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "cl_error.h"

static int is_space(int32_t cp)
{
    return cp == '\t' || cp == '\n' || cp == '\v' || cp == '\f' || cp == '\r' ||
           utf8proc_category(cp) == UTF8PROC_CATEGORY_ZS ||
           utf8proc_category(cp) == UTF8PROC_CATEGORY_ZL ||
           utf8proc_category(cp) == UTF8PROC_CATEGORY_ZP;
}

static int is_punct(int32_t cp)
{
    utf8proc_category_t c = utf8proc_category(cp);
    return c >= UTF8PROC_CATEGORY_PC && c <= UTF8PROC_CATEGORY_PO;
}

int cl_ngram_init(cl_ngram *g, const cl_vocab *v, int order, int bits, int K, float alpha)
{
    memset(g, 0, sizeof *g);
    if (order < 1 || order > CL_NGRAM_MAX_ORDER || bits < CL_NGRAM_MIN_BITS ||
        bits > CL_NGRAM_MAX_BITS || K < 1 || !(alpha > 0))
        return CL_EINVAL;
    g->order = order, g->bits = bits, g->K = K, g->alpha = alpha;
    g->nkeys = cl_vocab_size(v);
    g->key = malloc(sizeof *g->key * (size_t)g->nkeys);
    g->total = calloc((size_t)K, sizeof *g->total);
    if (!g->key || !g->total) {
        cl_ngram_free(g);
        return CL_ENOMEM;
    }
    g->key[0] = 0x110000 + 1; /* unknown: a word character unlike any other */
    for (int id = 1; id < g->nkeys; id++) {
        int32_t cp = cl_vocab_cp(v, id);
        g->key[id] = is_space(cp) ? 0 : (uint32_t)utf8proc_tolower(cp) + 1;
        if (g->key[id] && is_punct(cp))
            g->key[id] |= CL_NGRAM_PUNCT;
    }
    return CL_OK;
}

void cl_ngram_free(cl_ngram *g)
{
    free(g->key), free(g->total);
    g->key = NULL, g->total = NULL;
}

int cl_ngram_set_chars(cl_ngram *g, int chars)
{
    if (chars != 0 && (chars < 2 || chars > CL_NGRAM_MAX_CHARS))
        return CL_EINVAL;
    g->chars = chars;
    return CL_OK;
}

size_t cl_ngram_capacity(const cl_ngram *g, int len)
{
    /* At most len words ("..." is three), each ending up to `order` n-grams;
     * len + 2 characters with the spaces at the ends, each ending up to
     * chars - 1 character n-grams. */
    size_t chars = g->chars ? (size_t)(g->chars - 1) * ((size_t)len + 2) : 0;
    return (size_t)g->order * (size_t)len + 1 + chars;
}

/* splitmix64's finaliser: every input bit reaches every output bit. */
static uint64_t mix(uint64_t x)
{
    x ^= x >> 30, x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27, x *= 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

/* Bucket of the n-gram of the last o words in ring (newest at index i). */
static uint32_t ngram_bucket(const cl_ngram *g, const uint64_t *ring, size_t i, int o)
{
    uint64_t h = mix((uint64_t)o);
    for (int j = o - 1; j >= 0; j--)
        h = mix(h * 0x100000001b3ULL + ring[(i - (size_t)j) % CL_NGRAM_MAX_ORDER]);
    return (uint32_t)(h >> 32) & ((1u << g->bits) - 1);
}

/* Key of position i of ids[0..len): 0 outside, for whitespace and for
 * ids outside the table. */
static uint32_t key_at(const cl_ngram *g, const int *ids, int len, int i)
{
    return i >= 0 && i < len && ids[i] >= 0 && ids[i] < g->nkeys ? g->key[ids[i]] : 0;
}

static int is_letter_key(uint32_t k) { return k && !(k & CL_NGRAM_PUNCT); }

typedef struct {
    uint64_t ring[CL_NGRAM_MAX_ORDER]; /* the last `order` word hashes */
    size_t words, n;                    /* words so far, buckets written */
} ngram_state;

/* A word (hash h) ends: emit the n-grams that end with it. */
static void end_word(const cl_ngram *g, ngram_state *st, uint64_t h, uint32_t *out)
{
    st->ring[st->words % CL_NGRAM_MAX_ORDER] = h;
    for (int o = 1; o <= g->order && (size_t)o <= st->words + 1; o++)
        out[st->n++] = ngram_bucket(g, st->ring, st->words, o);
    st->words++;
}

static void insertion_sort(uint32_t *u, size_t n)
{
    for (size_t i = 1; i < n; i++) {
        uint32_t x = u[i];
        size_t j = i;
        for (; j > 0 && u[j - 1] > x; j--)
            u[j] = u[j - 1];
        u[j] = x;
    }
}

/* Ascending, in place.  qsort's comparison by function pointer was a tenth
 * of a classifier training step (a sentence has ~600 buckets with character
 * n-grams); this is the same order without the calls.  Hoare partition
 * around a median of three; the loop keeps the larger side, recursion takes
 * the smaller, so the depth stays below log2(n). */
static void sort_u32(uint32_t *u, size_t n)
{
    while (n > 16) {
        uint32_t a = u[0], b = u[n / 2], c = u[n - 1];
        uint32_t p = a < b ? (b < c ? b : a < c ? c : a) : (a < c ? a : b < c ? c : b);
        size_t i = 0, j = n - 1;
        for (;;) {
            while (u[i] < p)
                i++;
            while (u[j] > p)
                j--;
            if (i >= j)
                break;
            uint32_t t = u[i];
            u[i++] = u[j], u[j--] = t;
        }
        size_t left = j + 1; /* u[0..left) <= p <= u[left..n) */
        if (left < n - left) {
            sort_u32(u, left);
            u += left, n -= left;
        } else {
            sort_u32(u + left, n - left);
            n = left;
        }
    }
    insertion_sort(u, n);
}

static size_t sort_unique(uint32_t *u, size_t n)
{
    sort_u32(u, n);
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (m == 0 || u[i] != u[m - 1])
            u[m++] = u[i];
    return m;
}

#define SPACE_KEY ((uint32_t)' ' + 1)

/* Bucket of the character n-gram of the last L keys in ring (n pushed). */
static uint32_t char_bucket(const cl_ngram *g, const uint32_t *ring, size_t n, int L)
{
    uint64_t h = mix(0x63686172ULL + (uint64_t)L); /* "char": apart from the word seeds */
    for (int j = L - 1; j >= 0; j--)
        h = mix(h * 0x100000001b3ULL + ring[(n - 1 - (size_t)j) % CL_NGRAM_MAX_CHARS]);
    return (uint32_t)(h >> 32) & ((1u << g->bits) - 1);
}

/* Push key k (whitespace: 0) and emit the character n-grams ending there. */
static void push_char(const cl_ngram *g, uint32_t *ring, size_t *n, uint32_t k, uint32_t *out,
                      size_t *nout)
{
    k = k ? k & ~CL_NGRAM_PUNCT : SPACE_KEY;
    if (k == SPACE_KEY && *n && ring[(*n - 1) % CL_NGRAM_MAX_CHARS] == SPACE_KEY)
        return; /* a run of whitespace is one space */
    ring[(*n)++ % CL_NGRAM_MAX_CHARS] = k;
    for (int L = 2; L <= g->chars && (size_t)L <= *n; L++)
        out[(*nout)++] = char_bucket(g, ring, *n, L);
}

/* The character n-grams of ids[0..len) appended to out at *nout. */
static void char_ngrams(const cl_ngram *g, const int *ids, int len, uint32_t *out,
                        size_t *nout)
{
    uint32_t ring[CL_NGRAM_MAX_CHARS];
    size_t n = 0;
    push_char(g, ring, &n, 0, out, nout);
    for (int i = 0; i < len; i++)
        push_char(g, ring, &n, key_at(g, ids, len, i), out, nout);
    push_char(g, ring, &n, 0, out, nout);
}

size_t cl_ngram_buckets(const cl_ngram *g, const int *ids, int len, uint32_t *out)
{
    ngram_state st = {{0}, 0, 0};
    uint64_t h = 0;
    int in_word = 0;
    for (int i = 0; i <= len; i++) {
        uint32_t k = key_at(g, ids, len, i);
        /* Punctuation is a word of its own unless it joins two letters
         * ("don't", "x-ray", "3.5"): "good." and "good" are one word. */
        int alone = (k & CL_NGRAM_PUNCT) && !(is_letter_key(key_at(g, ids, len, i - 1)) &&
                                              is_letter_key(key_at(g, ids, len, i + 1)));
        if (k && !alone) {
            h = mix(h + k), in_word = 1;
            continue;
        }
        if (in_word)
            end_word(g, &st, h, out);
        h = 0, in_word = 0;
        if (alone)
            end_word(g, &st, mix(k), out);
    }
    if (g->chars)
        char_ngrams(g, ids, len, out, &st.n);
    return sort_unique(out, st.n);
}

void cl_ngram_count(const cl_ngram *g, float *counts, int k, const uint32_t *u, size_t n)
{
    float *row = counts + ((size_t)k << g->bits);
    for (size_t i = 0; i < n; i++)
        row[u[i]] += 1.0f;
}

void cl_ngram_totals(cl_ngram *g, const float *counts)
{
    size_t nb = (size_t)1 << g->bits;
    g->seen = 0;
    for (int k = 0; k < g->K; k++)
        g->total[k] = 0;
    for (size_t u = 0; u < nb; u++) {
        int any = 0;
        for (int k = 0; k < g->K; k++) {
            float c = counts[((size_t)k << g->bits) + u];
            g->total[k] += c, any |= c > 0;
        }
        g->seen += any;
    }
}

/* Buckets of u[0..n) that only the text itself put in the table: seen no
 * more once it is left out. */
static double own_only(const cl_ngram *g, const float *counts, const uint32_t *u, size_t n)
{
    double k_only = 0;
    for (size_t i = 0; i < n; i++) {
        float s = 0;
        for (int k = 0; k < g->K; k++)
            s += counts[((size_t)k << g->bits) + u[i]];
        k_only += s <= 1.0f;
    }
    return k_only;
}

/* The log of label k's smoothed total, the text's own counts left out
 * (own >= 0; the text has n buckets, seen of them counted without it): the
 * denominator of every bucket's term, so computed once per text. */
static double log_total(const cl_ngram *g, size_t n, int own, double seen, int k)
{
    double self = k == own ? 1.0 : 0.0;
    return log(fmax(g->total[k] - self * (double)n, 0) + g->alpha * seen);
}

/* Up to LT_CACHE labels cl_ngram_ratios keeps the denominators of a text
 * on the stack; past that (up to 4096 labels) it computes them per term. */
#define LT_CACHE 64

/* Bucket u's term of the evidence for label k: the log of its smoothed
 * share of label k's counts (lt_k from log_total), the text's own count
 * left out. */
static double bucket_term(const cl_ngram *g, const float *counts, uint32_t u, int own,
                          double lt_k, int k)
{
    double self = k == own ? 1.0 : 0.0;
    return log(fmax((double)counts[((size_t)k << g->bits) + u] - self, 0) + g->alpha) - lt_k;
}

static double seen_without(const cl_ngram *g, const float *counts, const uint32_t *u, size_t n,
                           int own)
{
    return g->seen - (own >= 0 ? own_only(g, counts, u, n) : 0);
}

void cl_ngram_ratios(const cl_ngram *g, const float *counts, const uint32_t *u, size_t n,
                     int own, float *r)
{
    double seen = seen_without(g, counts, u, n, own), lt[LT_CACHE];
    int cached = g->K <= LT_CACHE;
    for (int k = 0; cached && seen > 0 && k < g->K; k++)
        lt[k] = log_total(g, n, own, seen, k);
    for (size_t i = 0; i < n && seen > 0; i++) {
        float *ri = r + i * (size_t)g->K;
        double mean = 0;
        for (int k = 0; k < g->K; k++) {
            double ltk = cached ? lt[k] : log_total(g, n, own, seen, k);
            double t = bucket_term(g, counts, u[i], own, ltk, k);
            ri[k] = (float)t, mean += t;
        }
        for (int k = 0; k < g->K; k++)
            ri[k] -= (float)(mean / g->K);
    }
    if (!(seen > 0)) /* an empty table: no evidence */
        memset(r, 0, sizeof *r * n * (size_t)g->K);
}

void cl_ngram_evidence(const cl_ngram *g, const float *counts, const uint32_t *u, size_t n,
                       int own, float *e)
{
    double mean = 0, seen = seen_without(g, counts, u, n, own);
    for (int k = 0; k < g->K; k++) {
        double s = 0, ltk = seen > 0 ? log_total(g, n, own, seen, k) : 0;
        for (size_t i = 0; i < n && seen > 0; i++)
            s += bucket_term(g, counts, u[i], own, ltk, k);
        e[k] = (float)s, mean += s;
    }
    for (int k = 0; k < g->K; k++)
        e[k] -= (float)(mean / g->K);
}
