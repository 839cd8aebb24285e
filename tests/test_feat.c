/* Tests for cl_feat: feature strings, hashing into buckets, switches. */
#include <string.h>

#include "cl_feat.h"
#include "cl_test.h"

static char S[CL_FEAT_SLOTS][CL_FEAT_STRMAX];

static void feats(const cl_feat *f, const char *w)
{
    ck_assert_int_eq(cl_feat_word_strings(f, w, strlen(w), S), 0);
}

/* Word, slot, expected feature string. */
static const struct {
    const char *word;
    int slot;
    const char *want;
} CASES[] = {
    {"quickly", CL_FEAT_SUF1 + 1, "suf2=ly"},
    {"quickly", CL_FEAT_SUF1 + 2, "suf3=kly"},
    {"quickly", CL_FEAT_PRE1, "pre1=q"},
    {"quickly", CL_FEAT_SHAPE, "shape=xxxx"},
    {"quickly", CL_FEAT_CAP, "cap=lower"},
    {"unhappy", CL_FEAT_PRE1 + 1, "pre2=un"},
    {"Walking", CL_FEAT_SUF1 + 2, "suf3=ing"},
    {"Walking", CL_FEAT_PRE1 + 3, "pre4=walk"},
    {"Test", CL_FEAT_SHAPE, "shape=Xxxx"},
    {"Hello", CL_FEAT_SHAPE, "shape=Xxxxx"},
    {"Hello", CL_FEAT_CAP, "cap=title"},
    {"3.14", CL_FEAT_SHAPE, "shape=d.dd"},
    {"3.14", CL_FEAT_DIGIT, "digit=1"},
    {"3.14", CL_FEAT_PUNCT, "punct=1"},
    {"3.14", CL_FEAT_CAP, "cap=none"},
    {"U.S.", CL_FEAT_SHAPE, "shape=X.X."},
    {"NASA", CL_FEAT_CAP, "cap=upper"},
    {"McDonald", CL_FEAT_CAP, "cap=mixed"},
    {"I", CL_FEAT_CAP, "cap=title"},
    {"well-known", CL_FEAT_HYPHEN, "hyphen=1"},
    {"well", CL_FEAT_HYPHEN, "hyphen=0"},
    {"well", CL_FEAT_PUNCT, "punct=0"},
    {"a", CL_FEAT_PRE1 + 1, "pre2=<none>"},
    {"a", CL_FEAT_SUF1 + 3, "suf4=<none>"},
    {"ab", CL_FEAT_SUF1 + 1, "suf2=ab"},
    {"P\xc5\x99\xc3\xadli\xc5\xa1", CL_FEAT_CAP, "cap=title"},                      /* Příliš */
    {"P\xc5\x99\xc3\xadli\xc5\xa1", CL_FEAT_PRE1 + 2, "pre3=p\xc5\x99\xc3\xad"},     /* příl.. */
    {"P\xc5\x99\xc3\xadli\xc5\xa1", CL_FEAT_SUF1 + 1, "suf2=i\xc5\xa1"},
    {"P\xc5\x99\xc3\xadli\xc5\xa1", CL_FEAT_SHAPE, "shape=Xxxxx"},
    {"\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e", CL_FEAT_CAP, "cap=none"},              /* 日本語 */
    {"\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e", CL_FEAT_SHAPE, "shape=xxx"},
    {"\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e", CL_FEAT_SUF1, "suf1=\xe8\xaa\x9e"},
    {"\xd0\x9c\xd0\x9e\xd0\xa1\xd0\x9a\xd0\x92\xd0\x90", CL_FEAT_CAP, "cap=upper"},  /* МОСКВА */
    {"1999", CL_FEAT_SHAPE, "shape=dddd"},
    {"", CL_FEAT_SHAPE, "shape="},
    {"", CL_FEAT_PRE1, "pre1=<none>"},
};

START_TEST(test_feat_cases)
{
    cl_feat f = cl_feat_defaults();
    feats(&f, CASES[_i].word);
    ck_assert_msg(strcmp(S[CASES[_i].slot], CASES[_i].want) == 0, "%s slot %d: got \"%s\", want \"%s\"",
                  CASES[_i].word, CASES[_i].slot, S[CASES[_i].slot], CASES[_i].want);
}
END_TEST

START_TEST(test_feat_ids)
{
    cl_feat f = cl_feat_defaults();
    f.buckets = 1000;
    int32_t a[CL_FEAT_SLOTS], b[CL_FEAT_SLOTS];
    ck_assert_int_eq(cl_feat_word(&f, "quickly", 7, a), 0);
    ck_assert_int_eq(cl_feat_word(&f, "quickly", 7, b), 0);
    for (int s = 0; s < CL_FEAT_SLOTS; s++) {
        ck_assert_int_ge(a[s], 0);
        ck_assert_int_lt(a[s], 1000);
        ck_assert_int_eq(a[s], b[s]);
    }
    /* The id is the FNV-1a hash of the string, modulo buckets. */
    feats(&f, "quickly");
    ck_assert_int_eq(a[CL_FEAT_SHAPE], (int32_t)(cl_feat_hash(S[CL_FEAT_SHAPE],
                                                 strlen(S[CL_FEAT_SHAPE])) % 1000));
    ck_assert_int_eq(cl_feat_word(&f, "slowly", 6, b), 0);
    ck_assert_int_eq(a[CL_FEAT_SUF1 + 1], b[CL_FEAT_SUF1 + 1]); /* both -ly */
    ck_assert_int_ne(a[CL_FEAT_PRE1 + 1], b[CL_FEAT_PRE1 + 1]); /* qu vs sl */
}
END_TEST

START_TEST(test_feat_hash)
{
    /* Published FNV-1a 64 test vectors. */
    ck_assert_uint_eq(cl_feat_hash("", 0), 0xcbf29ce484222325ULL);
    ck_assert_uint_eq(cl_feat_hash("a", 1), 0xaf63dc4c8601ec8cULL);
    ck_assert_uint_eq(cl_feat_hash("foobar", 6), 0x85944171f73967e8ULL);
}
END_TEST

START_TEST(test_feat_switches)
{
    cl_feat f = cl_feat_defaults();
    int32_t ids[CL_FEAT_SLOTS];
    f.affixes = 0;
    ck_assert_int_eq(cl_feat_word(&f, "quickly", 7, ids), 0);
    for (int s = CL_FEAT_PRE1; s < CL_FEAT_SUF1 + 4; s++)
        ck_assert_int_eq(ids[s], -1);
    ck_assert_int_ge(ids[CL_FEAT_SHAPE], 0);
    feats(&f, "quickly");
    ck_assert_str_eq(S[CL_FEAT_SUF1 + 1], "");
    f.affixes = 1;
    f.max_affix = 2;
    ck_assert_int_eq(cl_feat_word(&f, "quickly", 7, ids), 0);
    ck_assert_int_ge(ids[CL_FEAT_SUF1 + 1], 0);
    ck_assert_int_eq(ids[CL_FEAT_SUF1 + 2], -1);
    ck_assert_int_eq(ids[CL_FEAT_PRE1 + 3], -1);
}
END_TEST

START_TEST(test_feat_errors)
{
    cl_feat f = cl_feat_defaults();
    cl_diag d = {""};
    ck_assert_int_eq(cl_feat_check(&f, &d), 0);
    f.buckets = 0;
    ck_assert_int_eq(cl_feat_check(&f, &d), CL_EINVAL);
    ck_assert_ptr_nonnull(strstr(d.msg, "buckets"));
    f = cl_feat_defaults();
    f.max_affix = 5;
    ck_assert_int_eq(cl_feat_check(&f, &d), CL_EINVAL);
    int32_t ids[CL_FEAT_SLOTS];
    ck_assert_int_eq(cl_feat_word(&f, "a\xc3", 2, ids), CL_EUTF8);
}
END_TEST

Suite *suite_feat(void)
{
    Suite *s = suite_create("feat");
    TCase *tc = tcase_create("core");
    tcase_add_loop_test(tc, test_feat_cases, 0, (int)(sizeof CASES / sizeof CASES[0]));
    tcase_add_test(tc, test_feat_ids);
    tcase_add_test(tc, test_feat_hash);
    tcase_add_test(tc, test_feat_switches);
    tcase_add_test(tc, test_feat_errors);
    suite_add_tcase(s, tc);
    return s;
}
