/* Tests for cl_text: decoding, normalisation, the streamed corpus, vocabulary. */
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <utf8proc.h>

#include "cl_test.h"
#include "cl_text.h"

/* ------------------------------------------------------------------------ */
/* Helpers                                                                  */
/* ------------------------------------------------------------------------ */

/* Write n bytes to a file called name in the test directory; returns its path
 * in buf. */
static const char *write_file(char *buf, size_t size, const char *name, const char *bytes,
                              size_t n)
{
    snprintf(buf, size, "%s/%s", cl_test_tmpdir(), name);
    FILE *f = fopen(buf, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(bytes, 1, n, f), n);
    ck_assert_int_eq(fclose(f), 0);
    return buf;
}

/* Decode s (NUL-terminated) and compare with the expected code points. */
static void expect_decode(const char *s, const cl_text_opts *o, const int32_t *want, size_t nwant)
{
    int32_t *cps;
    size_t n;
    cl_diag d = {""};
    ck_assert_int_eq(cl_text_decode(s, strlen(s), o, "t", &cps, &n, &d), CL_OK);
    ck_assert_uint_eq(n, nwant);
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(cps[i] == want[i], "cp %zu: U+%04X, want U+%04X", i, (unsigned)cps[i],
                      (unsigned)want[i]);
    free(cps);
}

/* Everything left in c, read cap code points at a time; caller frees. */
static int32_t *read_corpus(cl_corpus *c, size_t cap, size_t *n)
{
    int32_t *all = NULL, buf[16];
    size_t got;
    cl_diag d = {""};
    *n = 0;
    ck_assert_uint_le(cap, 16);
    do {
        ck_assert_msg(cl_corpus_read(c, buf, cap, &got, &d) == CL_OK, "%s", d.msg);
        ck_assert_uint_le(got, cap);
        all = realloc(all, (*n + got + 1) * sizeof *all);
        memcpy(all + *n, buf, got * sizeof *buf);
        *n += got;
    } while (got > 0);
    return all;
}

/* ------------------------------------------------------------------------ */
/* Decoding                                                                 */
/* ------------------------------------------------------------------------ */

static const struct {
    const char *what, *bytes;
    size_t n, offset;
} bad_utf8[] = {
    {"lone continuation", "ab\x80" "cd", 5, 2},
    {"overlong 2-byte '/'", "a\xC0\xAF" "b", 4, 1},
    {"overlong 3-byte", "a\xE0\x80\xAF", 4, 1},
    {"overlong 4-byte", "\xF0\x80\x80\xAF", 4, 0},
    {"surrogate U+D800", "xy\xED\xA0\x80z", 6, 2},
    {"surrogate U+DFFF", "\xED\xBF\xBF", 3, 0},
    {"truncated at end", "abc\xE2\x82", 5, 3},
    {"truncated 4-byte at end", "\xF0\x9F\x98", 3, 0},
    {"truncated before ASCII", "\xE2\x82" "a", 3, 0},
    {"byte 0xFE", "\xFE", 1, 0},
    {"byte 0xFF", "a\xFF", 2, 1},
    {"above U+10FFFF", "ok\xF4\x90\x80\x80", 6, 2},
    {"valid then bad", "\xC3\xA9\xE2\x82\xAC\x80", 6, 5},
};

START_TEST(test_invalid_utf8)
{
    int32_t *cps = (int32_t *)1;
    size_t n = 99;
    cl_diag d = {""};
    char want[64];
    const cl_text_opts o = cl_text_defaults();
    int r = cl_text_decode(bad_utf8[_i].bytes, bad_utf8[_i].n, &o, "in.txt", &cps, &n, &d);
    ck_assert_msg(r == CL_EUTF8, "%s: got %d", bad_utf8[_i].what, r);
    snprintf(want, sizeof want, "in.txt: invalid UTF-8 at byte %zu", bad_utf8[_i].offset);
    ck_assert_msg(strcmp(d.msg, want) == 0, "%s: \"%s\"", bad_utf8[_i].what, d.msg);
    ck_assert_ptr_null(cps);
    ck_assert_uint_eq(n, 0);
}
END_TEST

START_TEST(test_replace_invalid)
{
    cl_text_opts o = cl_text_defaults();
    o.replace_invalid = 1;
    const int32_t w1[] = {'a', 0xFFFD, 'b'};
    expect_decode("a\x80" "b", &o, w1, 3);
    /* One U+FFFD per invalid byte; decoding resumes at the next byte. */
    const int32_t w2[] = {'a', 'b', 'c', 0xFFFD, 0xFFFD};
    expect_decode("abc\xE2\x82", &o, w2, 5);
    const int32_t w3[] = {0xFFFD, 0xFFFD, 0xFFFD, 0xE9};
    expect_decode("\xED\xA0\x80\xC3\xA9", &o, w3, 4);
    /* A real U+FFFD in the text stays one character. */
    const int32_t w4[] = {0xFFFD, 'x'};
    expect_decode("\xEF\xBF\xBDx", &o, w4, 2);
}
END_TEST

START_TEST(test_nfc)
{
    cl_text_opts o = cl_text_defaults();
    const int32_t composed[] = {'c', 'a', 'f', 0xE9};
    expect_decode("cafe\xCC\x81", &o, composed, 4);
    /* Marks are put in canonical order first: U+0316 (class 220) moves
     * before U+0301 (230), which still composes with the base. */
    const int32_t reordered[] = {0xE1, 0x316};
    expect_decode("a\xCC\x81\xCC\x96", &o, reordered, 2);
    const int32_t hangul[] = {0xAC01}; /* U+1100 U+1161 U+11A8 */
    expect_decode("\xE1\x84\x80\xE1\x85\xA1\xE1\x86\xA8", &o, hangul, 1);
    const int32_t tamil[] = {0xBCA}; /* U+0BC6 + U+0BBE (a class-0 second) */
    expect_decode("\xE0\xAF\x86\xE0\xAE\xBE", &o, tamil, 1);
    o.nfc = 0;
    const int32_t kept[] = {'c', 'a', 'f', 'e', 0x301};
    expect_decode("cafe\xCC\x81", &o, kept, 5);
}
END_TEST

START_TEST(test_casefold)
{
    cl_text_opts o = cl_text_defaults();
    o.casefold = 1;
    /* "ÀB ß" with the À decomposed: folds and recomposes. */
    const int32_t folded[] = {0xE0, 'b', ' ', 's', 's'};
    expect_decode("A\xCC\x80" "B \xC3\x9F", &o, folded, 5);
    o.nfc = 0;
    const int32_t unnormalised[] = {'a', 0x300};
    expect_decode("A\xCC\x80", &o, unnormalised, 2);
    o = cl_text_defaults();
    const int32_t unfolded[] = {0xC0, 'B'};
    expect_decode("A\xCC\x80" "B", &o, unfolded, 2);
}
END_TEST

START_TEST(test_four_byte_round_trip)
{
    const char *s = "\xF0\x9F\x98\x80 \xF0\x90\x8D\x88"; /* U+1F600, U+10348 */
    const int32_t want[] = {0x1F600, ' ', 0x10348};
    expect_decode(s, NULL, want, 3);
    char out[4], again[16];
    size_t len = 0;
    for (int i = 0; i < 3; i++) {
        int k = cl_text_encode_cp(want[i], out);
        ck_assert_int_eq(k, i == 1 ? 1 : 4);
        memcpy(again + len, out, (size_t)k);
        len += (size_t)k;
    }
    ck_assert_uint_eq(len, strlen(s));
    ck_assert_mem_eq(again, s, len);
}
END_TEST

START_TEST(test_encode_cp)
{
    char out[4];
    ck_assert_int_eq(cl_text_encode_cp('A', out), 1);
    ck_assert_int_eq(out[0], 'A');
    ck_assert_int_eq(cl_text_encode_cp(0xE9, out), 2);
    ck_assert_mem_eq(out, "\xC3\xA9", 2);
    ck_assert_int_eq(cl_text_encode_cp(0x20AC, out), 3);
    ck_assert_mem_eq(out, "\xE2\x82\xAC", 3);
    ck_assert_int_eq(cl_text_encode_cp(0x10FFFF, out), 4);
    ck_assert_int_eq(cl_text_encode_cp(0xD800, out), 0);
    ck_assert_int_eq(cl_text_encode_cp(0x110000, out), 0);
    ck_assert_int_eq(cl_text_encode_cp(-1, out), 0);
}
END_TEST

START_TEST(test_empty_and_nul)
{
    int32_t *cps = (int32_t *)1;
    size_t n = 99;
    ck_assert_int_eq(cl_text_decode("", 0, NULL, "e", &cps, &n, NULL), CL_OK);
    ck_assert_uint_eq(n, 0);
    ck_assert_ptr_null(cps);
    /* NUL is a character like any other: input is counted, not terminated. */
    ck_assert_int_eq(cl_text_decode("a\0b", 3, NULL, "e", &cps, &n, NULL), CL_OK);
    ck_assert_uint_eq(n, 3);
    ck_assert_int_eq(cps[1], 0);
    free(cps);
}
END_TEST

START_TEST(test_read_file)
{
    char path[512];
    int32_t *cps;
    size_t n;
    cl_diag d = {""};
    write_file(path, sizeof path, "small.txt", "n\xCC\x83o", 4);
    ck_assert_int_eq(cl_text_read_file(path, NULL, &cps, &n, &d), CL_OK);
    ck_assert_uint_eq(n, 2);
    ck_assert_int_eq(cps[0], 0xF1);
    free(cps);
    write_file(path, sizeof path, "bad.txt", "ok\n\xFF", 4);
    ck_assert_int_eq(cl_text_read_file(path, NULL, &cps, &n, &d), CL_EUTF8);
    ck_assert_ptr_nonnull(strstr(d.msg, "bad.txt: invalid UTF-8 at byte 3"));
    snprintf(path, sizeof path, "%s/missing.txt", cl_test_tmpdir());
    ck_assert_int_eq(cl_text_read_file(path, NULL, &cps, &n, &d), CL_EIO);
    ck_assert_ptr_nonnull(strstr(d.msg, "missing.txt"));
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Corpus                                                                   */
/* ------------------------------------------------------------------------ */

/* Text that is hard to cut: a mark continuing the previous file, marks to
 * reorder, Hangul jamo, class-0 vowel signs that compose, emoji, foldable
 * letters. */
static const char *const parts[] = {
    "Caf\xC3\xA9 Ame", /* ends with a base letter ... */
    "\xCC\x81lie a\xCC\x81\xCC\x96 \xE1\x84\x80\xE1\x85\xA1\xE1\x86\xA8 " /* ... the mark comes here */
    "\xE0\xAF\x86\xE0\xAE\xBE\xF0\x9F\x98\x80x\xCC\x96\xCC\x81\xCC\x81",
    "\xCD\x85\xCE\x91\xCD\x85 STRA\xC3\x9F" "E \xE1\x84\x80\xE1\x85\xA1\n",
};

static void corpus_matches_concatenation(const cl_text_opts *o)
{
    char paths[3][512], all[256] = "";
    const char *pp[3];
    for (int i = 0; i < 3; i++) {
        char name[32];
        snprintf(name, sizeof name, "part%d.txt", i);
        pp[i] = write_file(paths[i], sizeof paths[i], name, parts[i], strlen(parts[i]));
        strcat(all, parts[i]);
    }
    int32_t *want;
    size_t nwant;
    ck_assert_int_eq(cl_text_decode(all, strlen(all), o, "all", &want, &nwant, NULL), CL_OK);
    cl_corpus *c;
    cl_diag d = {""};
    ck_assert_int_eq(cl_corpus_open(&c, pp, 3, o, &d), CL_OK);
    for (size_t window = 1; window <= 7; window++) {
        for (size_t cap = 1; cap <= 7; cap++) {
            size_t n;
            cl_corpus_set_window(c, window);
            ck_assert_int_eq(cl_corpus_rewind(c), CL_OK);
            int32_t *got = read_corpus(c, cap, &n);
            ck_assert_msg(n == nwant, "window %zu cap %zu: %zu code points, want %zu", window,
                          cap, n, nwant);
            for (size_t i = 0; i < n; i++)
                ck_assert_msg(got[i] == want[i], "window %zu cap %zu: cp %zu", window, cap, i);
            free(got);
        }
    }
    cl_corpus_close(c);
    free(want);
}

START_TEST(test_corpus_chunks_nfc)
{
    cl_text_opts o = cl_text_defaults();
    corpus_matches_concatenation(&o);
}
END_TEST

START_TEST(test_corpus_chunks_casefold)
{
    cl_text_opts o = cl_text_defaults();
    o.casefold = 1;
    corpus_matches_concatenation(&o);
}
END_TEST

START_TEST(test_corpus_chunks_raw)
{
    cl_text_opts o = {0, 0, 0};
    corpus_matches_concatenation(&o);
}
END_TEST

START_TEST(test_corpus_mark_across_files)
{
    /* "e" at the end of one file, U+0301 at the start of the next, with
     * every window size: always one U+00E9. */
    char p1[512], p2[512];
    const char *pp[2] = {write_file(p1, sizeof p1, "e.txt", "xe", 2),
                         write_file(p2, sizeof p2, "acute.txt", "\xCC\x81y", 3)};
    cl_corpus *c;
    ck_assert_int_eq(cl_corpus_open(&c, pp, 2, NULL, NULL), CL_OK);
    for (size_t window = 1; window <= 4; window++) {
        size_t n;
        cl_corpus_set_window(c, window);
        cl_corpus_rewind(c);
        int32_t *got = read_corpus(c, 1, &n);
        ck_assert_uint_eq(n, 3);
        ck_assert_int_eq(got[0], 'x');
        ck_assert_int_eq(got[1], 0xE9);
        ck_assert_int_eq(got[2], 'y');
        free(got);
    }
    cl_corpus_close(c);
}
END_TEST

/* Every canonical decomposition of length >= 2 (all composition pairs, all
 * Hangul syllables), then folded ones, each followed by a space: reading it
 * with one-byte windows tries a cut before every code point, so a wrongly
 * allowed cut inside any composition shows up as a difference. */
static char *all_decompositions(size_t *len)
{
    size_t cap = 1 << 20, n = 0;
    char *s = malloc(cap);
    ck_assert_ptr_nonnull(s);
    for (int32_t cp = 0x80; cp <= 0x10FFFF; cp++) {
        int32_t dec[32];
        int bc = 0;
        utf8proc_ssize_t k = utf8proc_decompose_char(cp, dec, 32, UTF8PROC_DECOMPOSE, &bc);
        if ((cp >= 0xD800 && cp <= 0xDFFF) || k < 2 || k > 32)
            continue;
        for (utf8proc_ssize_t i = 0; i < k; i++) {
            if (n + 8 > cap)
                ck_assert_ptr_nonnull(s = realloc(s, cap *= 2));
            n += (size_t)cl_text_encode_cp(dec[i], s + n);
        }
        s[n++] = ' ';
    }
    *len = n;
    return s;
}

static void check_boundaries(const cl_text_opts *o)
{
    char path[512];
    size_t len, nwant, n;
    char *text = all_decompositions(&len);
    const char *pp[1] = {write_file(path, sizeof path, "nfd.txt", text, len)};
    int32_t *want;
    ck_assert_int_eq(cl_text_decode(text, len, o, "nfd", &want, &nwant, NULL), CL_OK);
    ck_assert_uint_gt(nwant, 10000);
    cl_corpus *c;
    ck_assert_int_eq(cl_corpus_open(&c, pp, 1, o, NULL), CL_OK);
    cl_corpus_set_window(c, 1);
    int32_t *got = read_corpus(c, 16, &n);
    ck_assert_uint_eq(n, nwant);
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(got[i] == want[i], "cp %zu: U+%04X, want U+%04X", i, (unsigned)got[i],
                      (unsigned)want[i]);
    free(got);
    free(want);
    free(text);
    cl_corpus_close(c);
}

START_TEST(test_corpus_boundaries_exhaustive)
{
    cl_text_opts o = cl_text_defaults();
    check_boundaries(&o);
    o.casefold = 1;
    check_boundaries(&o);
}
END_TEST

/* Read c to its end or first error; returns the error. */
static int drain(cl_corpus *c, cl_diag *d)
{
    int32_t buf[3];
    size_t got;
    int r;
    while ((r = cl_corpus_read(c, buf, 3, &got, d)) == CL_OK && got > 0)
        ;
    return r;
}

START_TEST(test_corpus_error_names_file)
{
    char p1[512], p2[512], want[600];
    const char *pp[2] = {write_file(p1, sizeof p1, "good.txt", "all fine\n", 9),
                         write_file(p2, sizeof p2, "second.txt", "ok\n\xC3\xA9\xFFz", 7)};
    cl_corpus *c;
    cl_diag d = {""};
    ck_assert_int_eq(cl_corpus_open(&c, pp, 2, NULL, &d), CL_OK);
    for (size_t window = 1; window <= 1024; window *= 32) {
        cl_corpus_set_window(c, window);
        cl_corpus_rewind(c);
        ck_assert_int_eq(drain(c, &d), CL_EUTF8);
        snprintf(want, sizeof want, "%s: invalid UTF-8 at byte 5", p2);
        ck_assert_msg(strcmp(d.msg, want) == 0, "window %zu: %s", window, d.msg);
    }
    cl_corpus_close(c);
}
END_TEST

START_TEST(test_corpus_split_character)
{
    /* Each file must be valid by itself: a character cut between two files
     * is an error in the first. */
    char p1[512], p2[512], want[600];
    const char *pp[2] = {write_file(p1, sizeof p1, "head.txt", "ab\xC3", 3),
                         write_file(p2, sizeof p2, "tail.txt", "\xA9", 1)};
    cl_corpus *c;
    cl_diag d = {""};
    ck_assert_int_eq(cl_corpus_open(&c, pp, 2, NULL, &d), CL_OK);
    ck_assert_int_eq(drain(c, &d), CL_EUTF8);
    snprintf(want, sizeof want, "%s: invalid UTF-8 at byte 2", p1);
    ck_assert_str_eq(d.msg, want);
    cl_corpus_close(c);
}
END_TEST

START_TEST(test_corpus_replace)
{
    char p1[512], p2[512];
    const char *pp[2] = {write_file(p1, sizeof p1, "r1.txt", "a\xFF", 2),
                         write_file(p2, sizeof p2, "r2.txt", "\x80" "b", 2)};
    cl_text_opts o = cl_text_defaults();
    o.replace_invalid = 1;
    cl_corpus *c;
    size_t n;
    ck_assert_int_eq(cl_corpus_open(&c, pp, 2, &o, NULL), CL_OK);
    cl_corpus_set_window(c, 1);
    int32_t *got = read_corpus(c, 2, &n);
    ck_assert_uint_eq(n, 4);
    ck_assert_int_eq(got[0], 'a');
    ck_assert_int_eq(got[1], 0xFFFD);
    ck_assert_int_eq(got[2], 0xFFFD);
    ck_assert_int_eq(got[3], 'b');
    free(got);
    cl_corpus_close(c);
}
END_TEST

START_TEST(test_corpus_empty)
{
    char p1[512], p2[512], p3[512];
    const char *pp[2] = {write_file(p1, sizeof p1, "empty1.txt", "", 0),
                         write_file(p2, sizeof p2, "empty2.txt", "", 0)};
    cl_corpus *c = (cl_corpus *)1;
    cl_diag d = {""};
    ck_assert_int_eq(cl_corpus_open(&c, pp, 2, NULL, &d), CL_EEMPTY);
    ck_assert_ptr_null(c);
    ck_assert_ptr_nonnull(strstr(d.msg, "empty1.txt"));
    ck_assert_ptr_nonnull(strstr(d.msg, "empty2.txt"));
    /* An empty file among others is simply skipped. */
    const char *mixed[3] = {p1, write_file(p3, sizeof p3, "one.txt", "z", 1), p2};
    ck_assert_int_eq(cl_corpus_open(&c, mixed, 3, NULL, &d), CL_OK);
    size_t n;
    int32_t *got = read_corpus(c, 4, &n);
    ck_assert_uint_eq(n, 1);
    ck_assert_int_eq(got[0], 'z');
    free(got);
    cl_corpus_close(c);
}
END_TEST

START_TEST(test_corpus_open_errors)
{
    char path[512];
    snprintf(path, sizeof path, "%s/nope.txt", cl_test_tmpdir());
    const char *pp[2] = {path, "-"};
    cl_corpus *c;
    cl_diag d = {""};
    ck_assert_int_eq(cl_corpus_open(&c, pp, 1, NULL, &d), CL_EIO);
    ck_assert_ptr_nonnull(strstr(d.msg, "nope.txt"));
    ck_assert_int_eq(cl_corpus_open(&c, pp, 0, NULL, &d), CL_EINVAL);
    const char *dir[1] = {cl_test_tmpdir()};
    ck_assert_int_eq(cl_corpus_open(&c, dir, 1, NULL, &d), CL_EIO);
    const char *twice[2] = {"-", "-"};
    ck_assert_int_eq(cl_corpus_open(&c, twice, 2, NULL, &d), CL_EINVAL);
}
END_TEST

START_TEST(test_corpus_stdin_and_tell)
{
    char p1[512], p2[512];
    write_file(p1, sizeof p1, "stdin.txt", "from stdin\n", 11);
    int saved = dup(STDIN_FILENO), fd = open(p1, O_RDONLY);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(dup2(fd, STDIN_FILENO), STDIN_FILENO);
    close(fd);
    const char *pp[2] = {"-", write_file(p2, sizeof p2, "after.txt", "\xC3\xA9!", 3)};
    cl_corpus *c;
    cl_diag d = {""};
    int r = cl_corpus_open(&c, pp, 2, NULL, &d);
    dup2(saved, STDIN_FILENO);
    close(saved);
    ck_assert_int_eq(r, CL_OK);
    cl_corpus_pos pos;
    cl_corpus_tell(c, &pos);
    ck_assert_str_eq(pos.name, "<stdin>");
    ck_assert_uint_eq(pos.total, 14);
    ck_assert_uint_eq(pos.done, 0);
    size_t n;
    int32_t *got = read_corpus(c, 5, &n);
    ck_assert_uint_eq(n, 13);
    ck_assert_int_eq(got[0], 'f');
    ck_assert_int_eq(got[11], 0xE9);
    free(got);
    cl_corpus_tell(c, &pos);
    ck_assert_int_eq(pos.file, 1);
    ck_assert_uint_eq(pos.offset, 3);
    ck_assert_uint_eq(pos.done, 14);
    cl_corpus_close(c);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Vocabulary                                                               */
/* ------------------------------------------------------------------------ */

/* Counts: a 3, b 3, c 2, é 2, d 1, 中 1, 😀 4. */
static void build_counts(cl_vocab_builder *b)
{
    char path[512];
    const char *text = "abacabcdbe\xCC\x81\xC3\xA9\xE4\xB8\xAD"
                       "\xF0\x9F\x98\x80\xF0\x9F\x98\x80\xF0\x9F\x98\x80\xF0\x9F\x98\x80";
    const char *pp[1] = {write_file(path, sizeof path, "vocab.txt", text, strlen(text))};
    cl_corpus *c;
    cl_diag d = {""};
    ck_assert_int_eq(cl_vocab_builder_init(b), CL_OK);
    ck_assert_int_eq(cl_corpus_open(&c, pp, 1, NULL, &d), CL_OK);
    ck_assert_int_eq(cl_vocab_builder_add_corpus(b, c, &d), CL_OK);
    cl_corpus_close(c);
    ck_assert_uint_eq(b->total, 16);
    ck_assert_uint_eq(b->counts[0xE9], 2);
}

START_TEST(test_vocab_all)
{
    cl_vocab_builder b;
    cl_vocab v;
    build_counts(&b);
    ck_assert_int_eq(cl_vocab_build(&v, &b, 0, 0), CL_OK);
    ck_assert_int_eq(cl_vocab_size(&v), 8);
    const int32_t order[] = {'a', 'b', 'c', 'd', 0xE9, 0x4E2D, 0x1F600};
    for (int id = 1; id < 8; id++) {
        ck_assert_int_eq(cl_vocab_cp(&v, id), order[id - 1]);
        ck_assert_int_eq(cl_vocab_id(&v, order[id - 1]), id);
    }
    ck_assert_int_eq(cl_vocab_counts(&v)[7], 4);
    ck_assert_int_eq(cl_vocab_counts(&v)[0], 0);
    ck_assert_int_eq(cl_vocab_id(&v, 'z'), CL_VOCAB_UNK);
    ck_assert_int_eq(cl_vocab_id(&v, 0x1F601), CL_VOCAB_UNK);
    ck_assert_int_eq(cl_vocab_id(&v, 0x10FFFF), CL_VOCAB_UNK);
    ck_assert_int_eq(cl_vocab_id(&v, -5), CL_VOCAB_UNK);
    ck_assert_int_eq(cl_vocab_cp(&v, 0), 0xFFFD);
    ck_assert_int_eq(cl_vocab_cp(&v, 8), 0xFFFD);
    cl_vocab_free(&v);
    cl_vocab_builder_free(&b);
}
END_TEST

START_TEST(test_vocab_cap_and_min_count)
{
    cl_vocab_builder b;
    cl_vocab v;
    build_counts(&b);
    /* Room for 4 characters: 😀 4, a 3, b 3, then c and é tie at 2 and the
     * smaller code point wins.  Ids follow code point order. */
    ck_assert_int_eq(cl_vocab_build(&v, &b, 5, 0), CL_OK);
    ck_assert_int_eq(cl_vocab_size(&v), 5);
    ck_assert_int_eq(cl_vocab_id(&v, 'a'), 1);
    ck_assert_int_eq(cl_vocab_id(&v, 'b'), 2);
    ck_assert_int_eq(cl_vocab_id(&v, 'c'), 3);
    ck_assert_int_eq(cl_vocab_id(&v, 0x1F600), 4);
    ck_assert_int_eq(cl_vocab_id(&v, 0xE9), CL_VOCAB_UNK);
    ck_assert_int_eq(cl_vocab_id(&v, 'd'), CL_VOCAB_UNK);
    ck_assert_int_eq(cl_vocab_counts(&v)[0], 4); /* é 2, d 1, 中 1 */
    cl_vocab_free(&v);
    ck_assert_int_eq(cl_vocab_build(&v, &b, 0, 3), CL_OK);
    ck_assert_int_eq(cl_vocab_size(&v), 4);
    ck_assert_int_eq(cl_vocab_id(&v, 'c'), CL_VOCAB_UNK);
    cl_vocab_free(&v);
    ck_assert_int_eq(cl_vocab_build(&v, &b, 1, 0), CL_EINVAL);
    ck_assert_int_eq(cl_vocab_build(&v, &b, -1, 0), CL_EINVAL);
    ck_assert_int_eq(cl_vocab_build(&v, &b, 0, 5), CL_EEMPTY);
    cl_vocab_builder_free(&b);
}
END_TEST

START_TEST(test_vocab_from_cps)
{
    cl_vocab_builder b;
    cl_vocab v, w;
    build_counts(&b);
    ck_assert_int_eq(cl_vocab_build(&v, &b, 0, 0), CL_OK);
    ck_assert_int_eq(cl_vocab_from_cps(&w, cl_vocab_cps(&v), cl_vocab_size(&v) - 1), CL_OK);
    ck_assert_int_eq(cl_vocab_size(&w), cl_vocab_size(&v));
    ck_assert_ptr_null(cl_vocab_counts(&w));
    for (int32_t cp = 0; cp < 0x20000; cp++)
        ck_assert_int_eq(cl_vocab_id(&w, cp), cl_vocab_id(&v, cp));
    cl_vocab_free(&w);
    cl_vocab_free(&v);
    cl_vocab_builder_free(&b);

    const int32_t unsorted[] = {'b', 'a'}, dup[] = {'a', 'a'}, surrogate[] = {'a', 0xDC00},
                  big[] = {'a', 0x110000}, neg[] = {-1, 'a'}, ok[] = {0, 0x10FFFF};
    ck_assert_int_eq(cl_vocab_from_cps(&w, unsorted, 2), CL_EFORMAT);
    ck_assert_int_eq(cl_vocab_from_cps(&w, dup, 2), CL_EFORMAT);
    ck_assert_int_eq(cl_vocab_from_cps(&w, surrogate, 2), CL_EFORMAT);
    ck_assert_int_eq(cl_vocab_from_cps(&w, big, 2), CL_EFORMAT);
    ck_assert_int_eq(cl_vocab_from_cps(&w, neg, 2), CL_EFORMAT);
    ck_assert_int_eq(cl_vocab_from_cps(&w, ok, 0), CL_EINVAL);
    ck_assert_int_eq(cl_vocab_from_cps(&w, ok, 2), CL_OK);
    ck_assert_int_eq(cl_vocab_id(&w, 0), 1);
    ck_assert_int_eq(cl_vocab_id(&w, 0x10FFFF), 2);
    cl_vocab_free(&w);
}
END_TEST

Suite *suite_text(void)
{
    Suite *s = suite_create("text");
    TCase *dec = tcase_create("decode");
    tcase_add_loop_test(dec, test_invalid_utf8, 0, (int)(sizeof bad_utf8 / sizeof *bad_utf8));
    tcase_add_test(dec, test_replace_invalid);
    tcase_add_test(dec, test_nfc);
    tcase_add_test(dec, test_casefold);
    tcase_add_test(dec, test_four_byte_round_trip);
    tcase_add_test(dec, test_encode_cp);
    tcase_add_test(dec, test_empty_and_nul);
    tcase_add_test(dec, test_read_file);
    suite_add_tcase(s, dec);
    TCase *cor = tcase_create("corpus");
    tcase_add_test(cor, test_corpus_chunks_nfc);
    tcase_add_test(cor, test_corpus_chunks_casefold);
    tcase_add_test(cor, test_corpus_chunks_raw);
    tcase_add_test(cor, test_corpus_mark_across_files);
    tcase_add_test(cor, test_corpus_boundaries_exhaustive);
    tcase_add_test(cor, test_corpus_error_names_file);
    tcase_add_test(cor, test_corpus_split_character);
    tcase_add_test(cor, test_corpus_replace);
    tcase_add_test(cor, test_corpus_empty);
    tcase_add_test(cor, test_corpus_open_errors);
    tcase_add_test(cor, test_corpus_stdin_and_tell);
    suite_add_tcase(s, cor);
    TCase *voc = tcase_create("vocab");
    tcase_add_test(voc, test_vocab_all);
    tcase_add_test(voc, test_vocab_cap_and_min_count);
    tcase_add_test(voc, test_vocab_from_cps);
    suite_add_tcase(s, voc);
    return s;
}
