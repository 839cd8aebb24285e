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

/* Character n-grams: lengths 2..chars over the text with spaces at its
 * ends, whitespace runs as one space, case folded, a set like the words. */
START_TEST(test_char_buckets)
{
    cl_vocab v;
    cl_ngram g;
    uint32_t u[600];
    ascii_vocab(&v);
    ck_assert_int_eq(cl_ngram_init(&g, &v, 1, 20, 2, 1.0f), 0);
    ck_assert_int_eq(cl_ngram_set_chars(&g, 1), CL_EINVAL);
    ck_assert_int_eq(cl_ngram_set_chars(&g, CL_NGRAM_MAX_CHARS + 1), CL_EINVAL);
    ck_assert_int_eq(cl_ngram_set_chars(&g, 3), 0);
    /* "ab": the word, " a" "ab" "b " and " ab" "ab " */
    ck_assert_uint_eq(buckets(&g, &v, "ab", u), 1 + 3 + 2);
    ck_assert_uint_eq(buckets(&g, &v, "   ", u), 0);
    ck_assert(same(&g, &v, "Ab  cd", " ab\tcd"));
    ck_assert(!same(&g, &v, "ab cd", "abcd"));
    /* "aaaa": the word, " a" "aa" "a " and " aa" "aaa" "aa " */
    ck_assert_uint_eq(buckets(&g, &v, "aaaa", u), 1 + 3 + 3);
    ck_assert_uint_ge(cl_ngram_capacity(&g, 4), 1 + 2 * 6);
    cl_ngram_free(&g);
    cl_vocab_free(&v);
}
END_TEST

/* A long text in few buckets: hundreds of n-grams, most of them colliding,
 * come out as a strictly ascending set, and as the same set whatever the
 * order of the words that make the sentence's n-grams repeat. */
START_TEST(test_buckets_sorted_set)
{
    cl_vocab v;
    cl_ngram g;
    uint32_t u[600], w[600];
    ascii_vocab(&v);
    ck_assert_int_eq(cl_ngram_init(&g, &v, 2, CL_NGRAM_MIN_BITS, 2, 1.0f), 0);
    ck_assert_int_eq(cl_ngram_set_chars(&g, 5), 0);
    const char *a = "the film is good , the film is bad , the plot is good and the acting is bad";
    size_t n = buckets(&g, &v, a, u);
    ck_assert_uint_gt(n, 16); /* past the insertion sort's size */
    ck_assert_uint_lt(n, (size_t)1 << CL_NGRAM_MIN_BITS);
    for (size_t i = 1; i < n; i++)
        ck_assert_uint_lt(u[i - 1], u[i]);
    /* every bucket of a part of the text is one of the text's */
    size_t m = buckets(&g, &v, "the film is good", w);
    for (size_t i = 0, j = 0; i < m; i++) {
        while (j < n && u[j] < w[i])
            j++;
        ck_assert(j < n && u[j] == w[i]);
    }
    cl_ngram_free(&g);
    cl_vocab_free(&v);
}
END_TEST

/* The log-count ratios of a text's buckets sum to its evidence, with and
 * without its own counts, and are those of the counts of a tiny corpus. */
START_TEST(test_ratios)
{
    cl_vocab v;
    cl_ngram g;
    uint32_t u[600];
    float r[1200], e[2];
    ascii_vocab(&v);
    ck_assert_int_eq(cl_ngram_init(&g, &v, 2, 16, 2, 1.0f), 0);
    ck_assert_uint_eq(buckets(&g, &v, "good", u), 1);
    uint32_t word = u[0]; /* the same bucket with character n-grams */
    ck_assert_int_eq(cl_ngram_set_chars(&g, 4), 0);
    ck_assert_uint_eq(buckets(&g, &v, "good", u), 1 + 5 + 4 + 3); /* + 5, 4, 3 in " good " */
    float *counts = calloc((size_t)2 << 16, sizeof(float));
    count_all(&g, &v, counts, -1);
    cl_ngram_totals(&g, counts);
    /* the counts: texts having "good" are 2 of label 1 and 1 of label 0 */
    ck_assert_float_eq(counts[word], 1.0f);
    ck_assert_float_eq(counts[(1u << 16) + word], 2.0f);
    size_t n;
    /* r of "good" = the centred log-ratio of its shares of the two labels */
    double share1 = (2 + 1) / (g.total[1] + g.seen), share0 = (1 + 1) / (g.total[0] + g.seen);
    cl_ngram_ratios(&g, counts, &word, 1, -1, r);
    ck_assert_float_eq_tol(r[1], 0.5 * log(share1 / share0), 1e-5);
    ck_assert_float_eq_tol(r[0], -r[1], 1e-6);
    for (int i = 0; i < NTEXTS; i++)
        for (int own = -1; own <= 0; own++) {
            n = buckets(&g, &v, texts[i], u);
            int o = own < 0 ? -1 : labels[i];
            cl_ngram_ratios(&g, counts, u, n, o, r);
            cl_ngram_evidence(&g, counts, u, n, o, e);
            for (int k = 0; k < 2; k++) {
                double sum = 0;
                for (size_t j = 0; j < n; j++)
                    sum += r[j * 2 + k];
                ck_assert_msg(fabs(sum - e[k]) < 1e-4 * (1 + fabs(e[k])), "text %d: %g vs %g",
                              i, sum, e[k]);
            }
        }
    free(counts);
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
    tcase_add_test(tc, test_char_buckets);
    tcase_add_test(tc, test_buckets_sorted_set);
    tcase_add_test(tc, test_ratios);
    suite_add_tcase(s, tc);
    return s;
}
