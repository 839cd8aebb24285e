/* Tests for cl_tok: table-driven EWT conventions, spans, errors, and the
 * token P/R/F1 on UD English EWT dev (skipped when the data is absent). */
#include <stdlib.h>
#include <string.h>

#include "cl_conllu.h"
#include "cl_test.h"
#include "cl_tok.h"

/* Input and its expected tokens, joined by single spaces. */
static const struct {
    const char *in, *want;
} CASES[] = {
    {"I don't know.", "I do n't know ."},
    {"can't won't isn't", "ca n't wo n't is n't"},
    {"I'm sure John's they'll we've I'd", "I 'm sure John 's they 'll we 've I 'd"},
    {"We don\xe2\x80\x99t, they\xe2\x80\x99re", "We do n\xe2\x80\x99t , they \xe2\x80\x99re"},
    {"DON'T O'Brien's", "DO N'T O'Brien 's"},
    {"cannot gonna dont im", "can not gon na do nt i m"},
    {"See http://example.com/a?b=1.", "See http://example.com/a?b=1 ."},
    {"Mail john.doe@example.org!", "Mail john.doe@example.org !"},
    {"Costs $1,000.50 at 10:30, pi is 3.14.", "Costs $ 1,000.50 at 10:30 , pi is 3.14 ."},
    {"e.g. this, i.e. that, Dr. Smith, Mr. Jones, U.S. etc. end",
     "e.g. this , i.e. that , Dr. Smith , Mr. Jones , U.S. etc. end"},
    {"in the U.S.", "in the U.S ."},
    {"Hi :) bye :-( ok ;) love <3", "Hi :) bye :-( ok ;) love <3"},
    {"nice:)", "nice :)"},
    {"an e-mail, a well-known 15-year plan", "an e-mail , a well - known 15 - year plan"},
    {"call 303-832-8160 at 3pm on the 2nd", "call 303-832-8160 at 3 pm on the 2nd"},
    {"Wait... what?! \"Yes\" (no)", "Wait ... what ?! \" Yes \" ( no )"},
    {"P\xc5\x99\xc3\xadli\xc5\xa1 \xc5\xbelu\xc5\xa5ou\xc4\x8dk\xc3\xbd k\xc5\xaf\xc5\x88.",
     "P\xc5\x99\xc3\xadli\xc5\xa1 \xc5\xbelu\xc5\xa5ou\xc4\x8dk\xc3\xbd k\xc5\xaf\xc5\x88 ."},
    {"\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e\xe3\x80\x82", "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e \xe3\x80\x82"},
    {"\xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82, \xd0\xbc\xd0\xb8\xd1\x80!", /* Привет, мир! */
     "\xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82 , \xd0\xbc\xd0\xb8\xd1\x80 !"},
    {"  tabs\tand\xc2\xa0nbsp  ", "tabs and nbsp"},
    {"", ""},
    {"   ", ""},
};

/* Tokens of s joined by spaces, into out. */
static void tokenize_joined(const cl_tok *t, const char *s, char *out, size_t size)
{
    cl_tok_span *sp;
    size_t n;
    cl_diag d = {""};
    ck_assert_int_eq(cl_tok_line_alloc(t, s, strlen(s), &sp, &n, &d), 0);
    size_t o = 0;
    out[0] = '\0';
    for (size_t i = 0; i < n; i++)
        o += (size_t)snprintf(out + o, size - o, "%s%.*s", i ? " " : "", (int)sp[i].len,
                              s + sp[i].off);
    free(sp);
}

START_TEST(test_tok_cases)
{
    cl_tok *t;
    ck_assert_int_eq(cl_tok_create(&t, NULL), 0);
    char got[1024];
    tokenize_joined(t, CASES[_i].in, got, sizeof got);
    ck_assert_msg(strcmp(got, CASES[_i].want) == 0, "input \"%s\": got \"%s\", want \"%s\"",
                  CASES[_i].in, got, CASES[_i].want);
    cl_tok_free(t);
}
END_TEST

START_TEST(test_tok_spans)
{
    cl_tok *t;
    ck_assert_int_eq(cl_tok_create(&t, NULL), 0);
    const char *s = "I don't.";
    cl_tok_span sp[2];
    size_t n;
    /* Too small a buffer: the first two spans and the full count. */
    ck_assert_int_eq(cl_tok_line(t, s, strlen(s), sp, 2, &n, NULL), 0);
    ck_assert_uint_eq(n, 4);
    ck_assert_uint_eq(sp[1].off, 2);
    ck_assert_uint_eq(sp[1].len, 2);
    cl_tok_span all[8];
    ck_assert_int_eq(cl_tok_line(t, s, strlen(s), all, 8, &n, NULL), 0);
    ck_assert_uint_eq(all[2].off, 4); /* "n't" is a substring of "don't" */
    ck_assert_uint_eq(all[2].len, 3);
    ck_assert_str_eq(cl_tok_rule_name(all[2].rule), "neg");
    ck_assert_str_eq(cl_tok_rule_name(-1), "?");
    cl_tok_free(t);
}
END_TEST

START_TEST(test_tok_bad_utf8)
{
    cl_tok *t;
    ck_assert_int_eq(cl_tok_create(&t, NULL), 0);
    const char s[] = "ok \xc3\x28 no";
    cl_tok_span sp[16];
    size_t n = 99;
    cl_diag d = {""};
    ck_assert_int_eq(cl_tok_line(t, s, sizeof s - 1, sp, 16, &n, &d), CL_EUTF8);
    ck_assert_uint_eq(n, 0);
    ck_assert_ptr_nonnull(strstr(d.msg, "UTF-8"));
    cl_tok_free(t);
}
END_TEST

/* ------------------------------------------------------------------------
 * EWT dev: compare tokens of each "# text =" with the gold word FORMs by
 * their offsets in the text with whitespace removed.
 * ------------------------------------------------------------------------ */

typedef struct {
    size_t gold, pred, match;
} tok_counts;

static size_t nows_len(const char *s, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        n += s[i] != ' ' && s[i] != '\t';
    return n;
}

/* End offsets (whitespace removed) of the gold words; tokens are
 * contiguous there, so ends alone identify spans. */
static size_t *gold_ends(const cl_conllu_sent *s, size_t *n)
{
    *n = cl_conllu_nwords(s);
    size_t *e = malloc(*n * sizeof *e), pos = 0;
    ck_assert_ptr_nonnull(e);
    for (size_t i = 0; i < *n; i++) {
        const char *f = cl_conllu_form(s, i);
        e[i] = pos += nows_len(f, strlen(f));
    }
    return e;
}

static void score_sentence(const cl_tok *t, const cl_conllu_sent *s, tok_counts *c)
{
    const char *text = cl_conllu_text(s);
    ck_assert_ptr_nonnull(text);
    size_t ng, np, *ge = gold_ends(s, &ng);
    cl_tok_span *sp;
    ck_assert_int_eq(cl_tok_line_alloc(t, text, strlen(text), &sp, &np, NULL), 0);
    size_t g = 0, pend = 0, prev_gend = 0;
    for (size_t p = 0; p < np; p++) {
        size_t pstart = pend;
        pend = nows_len(text, sp[p].off + sp[p].len);
        while (g < ng && ge[g] < pend)
            prev_gend = ge[g++];
        c->match += g < ng && ge[g] == pend && prev_gend == pstart;
    }
    c->gold += ng;
    c->pred += np;
    free(sp);
    free(ge);
}

START_TEST(test_tok_ewt_dev)
{
    FILE *fp = cl_test_open_shared("ud-en-ewt/dev.conllu", "test_tok_ewt_dev");
    if (!fp)
        return;
    cl_tok *t;
    ck_assert_int_eq(cl_tok_create(&t, NULL), 0);
    cl_conllu_reader *r = cl_conllu_reader_new(fp, "ud-en-ewt/dev.conllu");
    cl_conllu_sent *s = cl_conllu_sent_new();
    tok_counts c = {0, 0, 0};
    cl_diag d = {""};
    int rc, nsent = 0;
    while ((rc = cl_conllu_read(r, s, &d)) == 1 && ++nsent)
        score_sentence(t, s, &c);
    ck_assert_msg(rc == 0, "%s", d.msg);
    double p = (double)c.match / (double)c.pred, rec = (double)c.match / (double)c.gold;
    double f1 = 2 * p * rec / (p + rec);
    printf("tokenizer on EWT dev: %d sentences, %zu gold tokens, %zu predicted: "
           "P %.4f R %.4f F1 %.4f\n", nsent, c.gold, c.pred, p, rec, f1);
    ck_assert_msg(f1 >= 0.99, "F1 %.4f below 0.99", f1);
    cl_conllu_sent_free(s);
    cl_conllu_reader_free(r);
    fclose(fp);
    cl_tok_free(t);
}
END_TEST

Suite *suite_tok(void)
{
    Suite *s = suite_create("tok");
    TCase *tc = tcase_create("core");
    tcase_add_loop_test(tc, test_tok_cases, 0, (int)(sizeof CASES / sizeof CASES[0]));
    tcase_add_test(tc, test_tok_spans);
    tcase_add_test(tc, test_tok_bad_utf8);
    tcase_add_test(tc, test_tok_ewt_dev);
    suite_add_tcase(s, tc);
    return s;
}
