/* Tests for cl_conllu: byte-exact round trip, accessors, malformed input. */
#include <stdlib.h>
#include <string.h>

#include "cl_conllu.h"
#include "cl_test.h"

static const char SAMPLE[] =
    "# newdoc id = d1\n"
    "# sent_id = s1\n"
    "# text = I don't know.\n"
    "1\tI\tI\tPRON\tPRP\tCase=Nom\t4\tnsubj\t4:nsubj\t_\n"
    "2-3\tdon't\t_\t_\t_\t_\t_\t_\t_\t_\n"
    "2\tdo\tdo\tAUX\tVBP\t_\t4\taux\t4:aux\t_\n"
    "3\tn't\tnot\tPART\tRB\t_\t4\tadvmod\t4:advmod\t_\n"
    "4\tknow\tknow\tVERB\tVB\t_\t0\troot\t0:root\tSpaceAfter=No\n"
    "4.1\tknew\tknow\tVERB\tVBD\t_\t_\t_\t4:conj\t_\n"
    "5\t.\t.\tPUNCT\t.\t_\t4\tpunct\t4:punct\t_\n"
    "\n"
    "# sent_id = s2\n"
    "1\tHi\thi\tINTJ\tUH\t_\t0\troot\t0:root\t_\n"
    "\n";

/* Read all sentences of text and write them back; returns what was
 * written (caller frees) or NULL with the error in *err and d. */
static char *round_trip(const char *text, int *err, cl_diag *d)
{
    FILE *in = fmemopen((void *)text, strlen(text), "r");
    char *out = NULL;
    size_t outlen = 0;
    FILE *o = open_memstream(&out, &outlen);
    ck_assert_ptr_nonnull(in);
    ck_assert_ptr_nonnull(o);
    cl_conllu_reader *r = cl_conllu_reader_new(in, "t.conllu");
    cl_conllu_sent *s = cl_conllu_sent_new();
    while ((*err = cl_conllu_read(r, s, d)) == 1)
        ck_assert_int_eq(cl_conllu_write(o, s, "out", d), 0);
    cl_conllu_sent_free(s);
    cl_conllu_reader_free(r);
    fclose(in);
    fclose(o);
    if (*err == 0)
        return out;
    free(out);
    return NULL;
}

START_TEST(test_conllu_round_trip)
{
    int err;
    cl_diag d = {""};
    char *out = round_trip(SAMPLE, &err, &d);
    ck_assert_msg(err == 0, "%s", d.msg);
    ck_assert_str_eq(out, SAMPLE);
    free(out);
}
END_TEST

/* Pushed line by line, the sample comes back as it does when read, each
 * sentence complete at its blank line; a last sentence without one comes
 * at the end, and an error names the pushed line. */
START_TEST(test_conllu_push)
{
    cl_conllu_reader *r = cl_conllu_reader_new(NULL, "pipe");
    cl_conllu_sent *s = cl_conllu_sent_new();
    char *out = NULL;
    size_t outlen = 0;
    FILE *o = open_memstream(&out, &outlen);
    int ends = 0, lineno = 0;
    for (const char *p = SAMPLE; *p; p = strchr(p, '\n') + 1) {
        int got = cl_conllu_push(r, s, p, strcspn(p, "\n"), NULL);
        ck_assert_int_ge(got, 0);
        lineno++;
        if (got) {
            ck_assert_int_eq(lineno, ends ? 14 : 11); /* the blank lines */
            ck_assert_int_eq(cl_conllu_write(o, s, "out", NULL), 0);
            ends++;
        }
    }
    ck_assert_int_eq(cl_conllu_push_end(r, s, NULL), 0);
    fclose(o);
    ck_assert_int_eq(ends, 2);
    ck_assert_str_eq(out, SAMPLE);
    free(out);
    /* no blank line after the last sentence; then a bad line */
    ck_assert_int_eq(cl_conllu_push(r, s, "1\tHi\t_\t_\t_\t_\t_\t_\t_\t_", 19, NULL), 0);
    ck_assert_int_eq(cl_conllu_push_end(r, s, NULL), 1);
    ck_assert_str_eq(cl_conllu_form(s, 0), "Hi");
    cl_diag d = {""};
    ck_assert_int_eq(cl_conllu_push(r, s, "1\tHi", 4, &d), CL_EPARSE);
    ck_assert_msg(strstr(d.msg, "pipe:16:") != NULL, "%s", d.msg);
    cl_conllu_sent_free(s);
    cl_conllu_reader_free(r);
}
END_TEST

START_TEST(test_conllu_accessors)
{
    FILE *in = fmemopen((void *)SAMPLE, strlen(SAMPLE), "r");
    cl_conllu_reader *r = cl_conllu_reader_new(in, "t.conllu");
    cl_conllu_sent *s = cl_conllu_sent_new();
    cl_diag d = {""};
    ck_assert_int_eq(cl_conllu_read(r, s, &d), 1);
    ck_assert_uint_eq(cl_conllu_nwords(s), 5);
    ck_assert_str_eq(cl_conllu_form(s, 2), "n't");
    ck_assert_str_eq(cl_conllu_upos(s, 1), "AUX");
    ck_assert_str_eq(cl_conllu_xpos(s, 4), ".");
    ck_assert_str_eq(cl_conllu_col(s, 3, CL_CONLLU_MISC), "SpaceAfter=No");
    ck_assert_str_eq(cl_conllu_text(s), "I don't know.");
    ck_assert_int_eq(cl_conllu_line(s), 1);
    ck_assert_int_eq(cl_conllu_set_upos(s, 0, "X"), 0);
    ck_assert_int_eq(cl_conllu_set_xpos(s, 0, "FW"), 0);
    ck_assert_int_eq(cl_conllu_set_upos(s, 0, "A\tB"), CL_EINVAL);
    ck_assert_int_eq(cl_conllu_set_upos(s, 0, ""), CL_EINVAL);
    ck_assert_str_eq(cl_conllu_upos(s, 0), "X");
    char *out = NULL;
    size_t len = 0;
    FILE *o = open_memstream(&out, &len);
    ck_assert_int_eq(cl_conllu_write(o, s, "out", &d), 0);
    fclose(o);
    ck_assert_ptr_nonnull(strstr(out, "1\tI\tI\tX\tFW\tCase=Nom\t4\tnsubj\t4:nsubj\t_\n2-3\tdon't"));
    free(out);
    ck_assert_int_eq(cl_conllu_read(r, s, &d), 1);
    ck_assert_ptr_null(cl_conllu_text(s));
    ck_assert_int_eq(cl_conllu_line(s), 12);
    ck_assert_int_eq(cl_conllu_read(r, s, &d), 0);
    cl_conllu_sent_free(s);
    cl_conllu_reader_free(r);
    fclose(in);
}
END_TEST

START_TEST(test_conllu_lenient)
{
    /* CRLF, extra blank lines, no blank line at the end. */
    int err;
    cl_diag d = {""};
    char *out = round_trip("\n\n1\ta\t_\t_\t_\t_\t_\t_\t_\t_\r\n\r\n\n"
                           "1\tb\t_\t_\t_\t_\t_\t_\t_\t_", &err, &d);
    ck_assert_msg(err == 0, "%s", d.msg);
    ck_assert_str_eq(out, "1\ta\t_\t_\t_\t_\t_\t_\t_\t_\n\n1\tb\t_\t_\t_\t_\t_\t_\t_\t_\n\n");
    free(out);
}
END_TEST

#define W(id, form) id "\t" form "\t_\t_\t_\t_\t_\t_\t_\t_\n"

static const struct {
    const char *text, *msg;
} BAD[] = {
    {"# c\n" W("1", "a") "2\tb\t_\n", "t.conllu:3: expected 10 tab-separated columns, got 3"},
    {W("1", "a") W("x", "b"), "t.conllu:2: bad word ID 'x'"},
    {W("1", "a") W("1", "b"), "t.conllu:2: expected word ID 2, got 1"},
    {W("1", "a") W("3", "b"), "t.conllu:2: expected word ID 2, got 3"},
    {W("1", "a") "\n" W("2", "b"), "t.conllu:3: expected word ID 1, got 2"},
    {W("1", "") , "t.conllu:1: empty FORM"},
    {W("1", "a") W("3-2", "bc"), "t.conllu:2: bad multiword token range '3-2' after word 1"},
    {W("1", "a") W("2.1", "x"), "t.conllu:2: bad empty node ID '2.1' after word 1"},
    {"# only a comment\n\n", "t.conllu:1: sentence has no words"},
};

START_TEST(test_conllu_malformed)
{
    int err;
    cl_diag d = {""};
    char *out = round_trip(BAD[_i].text, &err, &d);
    ck_assert_ptr_null(out);
    ck_assert_int_eq(err, CL_EPARSE);
    ck_assert_str_eq(d.msg, BAD[_i].msg);
}
END_TEST

START_TEST(test_conllu_file)
{
    /* Through a real file in the test directory. */
    char path[512];
    snprintf(path, sizeof path, "%s/conllu_rt.conllu", cl_test_tmpdir());
    FILE *fp = fopen(path, "w");
    ck_assert_ptr_nonnull(fp);
    fputs(SAMPLE, fp);
    ck_assert_int_eq(fclose(fp), 0);
    fp = fopen(path, "r");
    cl_conllu_reader *r = cl_conllu_reader_new(fp, path);
    cl_conllu_sent *s = cl_conllu_sent_new();
    int n = 0, rc;
    while ((rc = cl_conllu_read(r, s, NULL)) == 1)
        n++;
    ck_assert_int_eq(rc, 0);
    ck_assert_int_eq(n, 2);
    cl_conllu_sent_free(s);
    cl_conllu_reader_free(r);
    fclose(fp);
}
END_TEST

START_TEST(test_conllu_ewt_dev)
{
    /* The real treebank file must come back byte for byte. */
    FILE *fp = cl_test_open_shared("ud-en-ewt/dev.conllu", "test_conllu_ewt_dev");
    if (!fp)
        return;
    ck_assert_int_eq(fseek(fp, 0, SEEK_END), 0);
    long size = ftell(fp);
    rewind(fp);
    char *text = malloc((size_t)size + 1);
    ck_assert_ptr_nonnull(text);
    ck_assert_uint_eq(fread(text, 1, (size_t)size, fp), (size_t)size);
    text[size] = '\0';
    fclose(fp);
    int err;
    cl_diag d = {""};
    char *out = round_trip(text, &err, &d);
    ck_assert_msg(err == 0, "%s", d.msg);
    ck_assert_msg(strcmp(out, text) == 0, "dev.conllu changed in a round trip");
    free(out);
    free(text);
}
END_TEST

Suite *suite_conllu(void)
{
    Suite *s = suite_create("conllu");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_conllu_round_trip);
    tcase_add_test(tc, test_conllu_push);
    tcase_add_test(tc, test_conllu_accessors);
    tcase_add_test(tc, test_conllu_lenient);
    tcase_add_loop_test(tc, test_conllu_malformed, 0, (int)(sizeof BAD / sizeof BAD[0]));
    tcase_add_test(tc, test_conllu_file);
    tcase_add_test(tc, test_conllu_ewt_dev);
    suite_add_tcase(s, tc);
    return s;
}
