/* Tests for cl_tsv: label<TAB>text records and their errors. */
#include <string.h>

#include "cl_test.h"
#include "cl_tsv.h"

static cl_tsv_reader *open_text(const char *text, FILE **fp)
{
    *fp = fmemopen((void *)text, strlen(text), "r");
    ck_assert_ptr_nonnull(*fp);
    cl_tsv_reader *r = cl_tsv_reader_new(*fp, "d.tsv");
    ck_assert_ptr_nonnull(r);
    return r;
}

START_TEST(test_tsv_read)
{
    FILE *fp;
    cl_tsv_reader *r = open_text("pos\ta fine film\n\nneg\tdull\tand long\r\n\r\nneg\tbad", &fp);
    const char *label, *text;
    size_t ll, tl;
    cl_diag d = {""};
    ck_assert_int_eq(cl_tsv_read(r, &label, &ll, &text, &tl, &d), 1);
    ck_assert_str_eq(label, "pos");
    ck_assert_str_eq(text, "a fine film");
    ck_assert_uint_eq(ll, 3);
    ck_assert_uint_eq(tl, 11);
    ck_assert_int_eq(cl_tsv_read(r, &label, NULL, &text, &tl, &d), 1);
    ck_assert_str_eq(label, "neg");
    ck_assert_str_eq(text, "dull\tand long"); /* later tabs are text; CR gone */
    ck_assert_uint_eq(tl, 13);
    ck_assert_int_eq(cl_tsv_line(r), 3);
    ck_assert_int_eq(cl_tsv_read(r, &label, NULL, &text, NULL, &d), 1);
    ck_assert_str_eq(text, "bad");
    ck_assert_int_eq(cl_tsv_line(r), 5);
    ck_assert_int_eq(cl_tsv_read(r, &label, NULL, &text, NULL, &d), 0);
    cl_tsv_reader_free(r);
    fclose(fp);
}
END_TEST

static const struct {
    const char *text, *msg;
} BAD[] = {
    {"pos\tok\nno tab here\n", "d.tsv:2: expected label<TAB>text, found no tab"},
    {"pos\tok\n\n\tno label\n", "d.tsv:3: empty label"},
    {"pos\t\n", "d.tsv:1: empty text"},
    {"pos\t\r\n", "d.tsv:1: empty text"},
};

START_TEST(test_tsv_malformed)
{
    FILE *fp;
    cl_tsv_reader *r = open_text(BAD[_i].text, &fp);
    const char *label, *text;
    cl_diag d = {""};
    int rc;
    while ((rc = cl_tsv_read(r, &label, NULL, &text, NULL, &d)) == 1)
        ;
    ck_assert_int_eq(rc, CL_EPARSE);
    ck_assert_str_eq(d.msg, BAD[_i].msg);
    cl_tsv_reader_free(r);
    fclose(fp);
}
END_TEST

START_TEST(test_tsv_empty)
{
    FILE *fp;
    cl_tsv_reader *r = open_text("", &fp);
    const char *label, *text;
    ck_assert_int_eq(cl_tsv_read(r, &label, NULL, &text, NULL, NULL), 0);
    cl_tsv_reader_free(r);
    fclose(fp);
}
END_TEST

Suite *suite_tsv(void)
{
    Suite *s = suite_create("tsv");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_tsv_read);
    tcase_add_loop_test(tc, test_tsv_malformed, 0, (int)(sizeof BAD / sizeof BAD[0]));
    tcase_add_test(tc, test_tsv_empty);
    suite_add_tcase(s, tc);
    return s;
}
