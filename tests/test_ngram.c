/* cl_ngram: word n-gram buckets (case, whitespace, duplicates, order) and
 * the naive Bayes evidence, whose leave-one-out form must equal the
 * evidence of a table counted without the text. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cl_ngram.h"
#include "cl_test.h"

/* A vocabulary of printable ASCII plus tab, and ids of an ASCII string. */
static void ascii_vocab(cl_vocab *v)
{
    int32_t cps[96];
    cps[0] = '\t';
    for (int i = 0; i < 95; i++)
        cps[i + 1] = 32 + i;
    ck_assert_int_eq(cl_vocab_from_cps(v, cps, 96), 0);
}

static int to_ids(const cl_vocab *v, const char *s, int *ids)
{
    int n = 0;
    for (; s[n]; n++)
        ids[n] = cl_vocab_id(v, (unsigned char)s[n]);
    return n;
}

/* Distinct buckets of s. */
static size_t buckets(const cl_ngram *g, const cl_vocab *v, const char *s, uint32_t *u)
{
    int ids[256], n = to_ids(v, s, ids);
    ck_assert_uint_le(cl_ngram_capacity(g, n), 600);
    ck_assert_uint_ge(cl_ngram_capacity(g, n), (size_t)g->order * n);
    return cl_ngram_buckets(g, ids, n, u);
}

static int same(const cl_ngram *g, const cl_vocab *v, const char *a, const char *b)
{
    uint32_t ua[600], ub[600];
    size_t na = buckets(g, v, a, ua), nb = buckets(g, v, b, ub);
    return na == nb && memcmp(ua, ub, na * sizeof *ua) == 0;
}

START_TEST(test_buckets)
{
    cl_vocab v;
    cl_ngram g;
    uint32_t u[600];
    ascii_vocab(&v);
    ck_assert_int_eq(cl_ngram_init(&g, &v, 2, 20, 2, 1.0f), 0);
    ck_assert_uint_eq(buckets(&g, &v, "a b c", u), 5); /* a, b, c, a b, b c */
    ck_assert_uint_eq(buckets(&g, &v, "   ", u), 0);
    ck_assert_uint_eq(buckets(&g, &v, "", u), 0);
    for (size_t i = 1; i < 5; i++)
        ck_assert_uint_lt(u[i - 1], u[i]); /* ascending, distinct */
    ck_assert(same(&g, &v, "Good  Film", " good\tfilm "));  /* case, whitespace */
    ck_assert(same(&g, &v, "x y x y", "x y x y x y"));    /* a set: repeats count once */
    ck_assert(!same(&g, &v, "good film", "film good"));    /* order matters (bigrams) */
    ck_assert(!same(&g, &v, "goodfilm", "good film"));
    /* Punctuation is a word unless it joins two letters or digits. */
    ck_assert(same(&g, &v, "a good film.", "a good film ."));
    ck_assert(same(&g, &v, "(great!)", "( great ! )"));
    ck_assert_uint_eq(buckets(&g, &v, "don't", u), 1);
    ck_assert_uint_eq(buckets(&g, &v, "x-ray 3.5", u), 3);
    ck_assert_uint_eq(buckets(&g, &v, "...", u), 2); /* ".", ". ." */
    ck_assert(!same(&g, &v, "don't", "don ' t"));
    cl_ngram_free(&g);
    ck_assert_int_eq(cl_ngram_init(&g, &v, 1, 20, 2, 1.0f), 0);
    ck_assert_uint_eq(buckets(&g, &v, "a b c", u), 3);
    ck_assert(same(&g, &v, "good film", "film good"));     /* unigrams only */
    cl_ngram_free(&g);
    ck_assert_int_eq(cl_ngram_init(&g, &v, 3, 20, 2, 1.0f), 0);
    ck_assert_uint_eq(buckets(&g, &v, "a b c d", u), 4 + 3 + 2);
    cl_ngram_free(&g);
    ck_assert_int_eq(cl_ngram_init(&g, &v, 0, 20, 2, 1.0f), CL_EINVAL);
    ck_assert_int_eq(cl_ngram_init(&g, &v, 2, 40, 2, 1.0f), CL_EINVAL);
    ck_assert_int_eq(cl_ngram_init(&g, &v, 2, 20, 2, 0.0f), CL_EINVAL);
    cl_vocab_free(&v);
}
END_TEST

static const char *const texts[] = {"a good film", "good acting , good plot", "a bad film",
                                    "bad plot", "not good", "a film", "unique words here"};
static const int labels[] = {1, 1, 0, 0, 0, 1, 0};
#define NTEXTS 7

/* The table of every text but `skip` (-1: all). */
static void count_all(const cl_ngram *g, const cl_vocab *v, float *counts, int skip)
{
    uint32_t u[600];
    memset(counts, 0, sizeof(float) * 2 << g->bits);
    for (int i = 0; i < NTEXTS; i++)
        if (i != skip)
            cl_ngram_count(g, counts, labels[i], u, buckets(g, v, texts[i], u));
}

START_TEST(test_evidence)
{
    cl_vocab v;
    cl_ngram g;
    uint32_t u[600];
    ascii_vocab(&v);
    ck_assert_int_eq(cl_ngram_init(&g, &v, 2, 12, 2, 1.0f), 0);
    float *counts = malloc(sizeof(float) * 2 << 12), *loo = malloc(sizeof(float) * 2 << 12);
    float e[2], want[2];
    /* An empty table says nothing. */
    memset(counts, 0, sizeof(float) * 2 << 12);
    cl_ngram_totals(&g, counts);
    cl_ngram_evidence(&g, counts, u, buckets(&g, &v, "good", u), -1, e);
    ck_assert(e[0] == 0 && e[1] == 0);
    count_all(&g, &v, counts, -1);
    cl_ngram_totals(&g, counts);
    cl_ngram_evidence(&g, counts, u, buckets(&g, &v, "good", u), -1, e);
    ck_assert_float_eq_tol(e[0] + e[1], 0, 1e-6); /* centred */
    ck_assert_float_eq_tol(e[1], 0.5f * logf(3.0f / 2), 1e-5); /* "good": 2 pos, 1 neg, N equal */
    cl_ngram_evidence(&g, counts, u, buckets(&g, &v, "bad plot", u), -1, e);
    ck_assert(e[0] > 0.5f);
    /* Leaving a text out = counting without it, for every text (one has
     * only buckets of its own, so the number of seen buckets changes). */
    for (int i = 0; i < NTEXTS; i++) {
        cl_ngram ref;
        ck_assert_int_eq(cl_ngram_init(&ref, &v, 2, 12, 2, 1.0f), 0);
        count_all(&ref, &v, loo, i);
        cl_ngram_totals(&ref, loo);
        size_t n = buckets(&g, &v, texts[i], u);
        cl_ngram_evidence(&ref, loo, u, n, -1, want);
        cl_ngram_evidence(&g, counts, u, n, labels[i], e);
        for (int k = 0; k < 2; k++)
            ck_assert_msg(fabsf(e[k] - want[k]) < 1e-5f, "text %d label %d: %g vs %g", i, k,
                          e[k], want[k]);
        cl_ngram_free(&ref);
    }
    free(counts), free(loo);
    cl_ngram_free(&g);
    cl_vocab_free(&v);
}
END_TEST

Suite *suite_ngram(void)
{
    Suite *s = suite_create("ngram");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_buckets);
    tcase_add_test(tc, test_evidence);
    suite_add_tcase(s, tc);
    return s;
}
