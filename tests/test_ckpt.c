/* Tests of cl_ckpt: round trips, every kind of damaged or foreign file, and
 * the atomicity of saving. */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include "cl_ckpt.h"
#include "cl_test.h"

/* ---- helpers ----------------------------------------------------------- */

static char *tpath(char *buf, size_t size, const char *name)
{
    snprintf(buf, size, "%s/%s", cl_test_tmpdir(), name);
    return buf;
}

static unsigned char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *p = malloc((size_t)n + 1);
    ck_assert(p != NULL);
    ck_assert_uint_eq(fread(p, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return p;
}

static void spit(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    ck_assert(f != NULL);
    ck_assert_uint_eq(fwrite(p, 1, n, f), n);
    ck_assert_int_eq(fclose(f), 0);
}

/* Files in dir whose name contains ".tmp." (leftover temporaries). */
static int count_tmp(const char *dir)
{
    DIR *dp = opendir(dir);
    struct dirent *e;
    int n = 0;
    ck_assert(dp != NULL);
    while ((e = readdir(dp)))
        n += strstr(e->d_name, ".tmp.") != NULL;
    closedir(dp);
    return n;
}

static const int64_t SHAPE4[4] = {2, 3, 1, 4};
static const int64_t SHAPE_I[1] = {5};
static const int64_t SHAPE_EMPTY[2] = {0, 3};

static void fill(float *x, int n)
{
    for (int i = 0; i < n; i++)
        x[i] = (float)i * 0.25f - 1.5f;
}

/* A small file exercising every value type and tensor kind. */
static int write_sample(const char *path, cl_diag *d)
{
    static const char *const vocab[] = {"a", "é", "\xe6\x97\xa5", "<unk>", ""};
    float x[24];
    int32_t ids[5] = {-7, 0, 1, INT32_MAX, INT32_MIN};
    cl_ckpt_writer *w;
    int rc = cl_ckpt_writer_open(&w, path, d);
    if (rc)
        return rc;
    fill(x, 24);
    cl_ckpt_section_begin(w, "meta");
    cl_ckpt_put_i64(w, "hidden", 256);
    cl_ckpt_put_i64(w, "min", INT64_MIN);
    cl_ckpt_put_f64(w, "lr", 0.001);
    cl_ckpt_put_f64(w, "inf", -INFINITY);
    cl_ckpt_put_str(w, "cell", "lstm");
    cl_ckpt_put_str(w, "note", "tab\there \"q\" ünï");
    cl_ckpt_put_strs(w, "vocab", vocab, 5);
    cl_ckpt_put_strs(w, "none", NULL, 0);
    cl_ckpt_section_end(w);
    cl_ckpt_section_begin(w, "encoder");
    cl_ckpt_put_f32(w, "w4", 4, SHAPE4, x);
    cl_ckpt_put_i32(w, "ids", 1, SHAPE_I, ids);
    cl_ckpt_put_f32(w, "empty", 2, SHAPE_EMPTY, NULL);
    cl_ckpt_section_end(w);
    cl_ckpt_section_begin(w, "nothing");
    cl_ckpt_section_end(w);
    return cl_ckpt_writer_commit(w, d);
}

static unsigned char *sample_bytes(size_t *len)
{
    char path[512];
    cl_diag d = {{0}};
    tpath(path, sizeof path, "sample.ckpt");
    ck_assert_msg(write_sample(path, &d) == 0, "%s", d.msg);
    return slurp(path, len);
}

/* Load from memory and expect failure with code want (0: any) and a message. */
static void expect_fail(const void *buf, size_t len, int want, const char *what)
{
    cl_ckpt *ck = (cl_ckpt *)1;
    cl_diag d = {{0}};
    int rc = cl_ckpt_load_mem(&ck, buf, len, "t.ckpt", &d);
    ck_assert_msg(rc < 0, "%s: loaded successfully", what);
    if (want)
        ck_assert_msg(rc == want, "%s: got %d (%s) want %d", what, rc, d.msg, want);
    ck_assert_msg(d.msg[0] != 0, "%s: empty message", what);
    ck_assert_msg(strstr(d.msg, "t.ckpt") != NULL, "%s: file not named: %s", what, d.msg);
    ck_assert_ptr_null(ck);
}

/* ---- hand-built files (for damage a writer never produces) ------------- */

typedef struct {
    unsigned char *p;
    size_t n, cap;
} bb;

static void bb_bytes(bb *b, const void *p, size_t n)
{
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
        ck_assert(b->p != NULL);
    }
    if (n)
        memcpy(b->p + b->n, p, n);
    b->n += n;
}

static void bb_u8(bb *b, unsigned v)
{
    unsigned char c = (unsigned char)v;
    bb_bytes(b, &c, 1);
}

static void bb_u32(bb *b, uint32_t v)
{
    unsigned char c[4];
    for (int i = 0; i < 4; i++)
        c[i] = (unsigned char)(v >> (8 * i));
    bb_bytes(b, c, 4);
}

static void bb_u64(bb *b, uint64_t v)
{
    bb_u32(b, (uint32_t)v);
    bb_u32(b, (uint32_t)(v >> 32));
}

static void bb_name(bb *b, const char *s)
{
    bb_u32(b, (uint32_t)strlen(s));
    bb_bytes(b, s, strlen(s));
}

/* Payloads start 64-aligned, so padding inside one is relative to it. */
static void bb_pad(bb *b)
{
    while (b->n % 64)
        bb_u8(b, 0);
}

static uint32_t crc(const void *p, size_t n) { return (uint32_t)crc32(0, p, (uInt)n); }

static void file_begin(bb *f, uint32_t nsec, uint32_t version)
{
    bb_bytes(f, "CHARLSTM", 8);
    bb_u32(f, version);
    bb_u32(f, 0x01020304);
    bb_u32(f, nsec);
    bb_u32(f, crc(f->p, 20));
}

/* A section record; declared = payload length to write in the header. */
static void file_section(bb *f, const char *name, const bb *pay, uint64_t declared)
{
    size_t start = f->n;
    bb_name(f, name);
    bb_u64(f, declared);
    bb_u32(f, crc(pay->p, pay->n));
    bb_u32(f, crc(f->p + start, f->n - start));
    bb_pad(f);
    bb_bytes(f, pay->p, pay->n);
}

static void bb_tensor(bb *b, const char *name, unsigned dtype, uint32_t ndim, const uint64_t *dims,
                      const void *data, size_t nbytes)
{
    bb_name(b, name);
    bb_u8(b, dtype);
    bb_u32(b, ndim);
    for (uint32_t i = 0; i < ndim; i++)
        bb_u64(b, dims[i]);
    bb_u32(b, crc(data, nbytes));
    bb_pad(b);
    bb_bytes(b, data, nbytes);
}

/* A file with one section holding payload pay; expect code want. */
static void expect_payload_fail(bb *pay, int want, const char *what)
{
    bb f = {0};
    file_begin(&f, 1, 1);
    file_section(&f, "s", pay, pay->n);
    expect_fail(f.p, f.n, want, what);
    free(f.p);
    free(pay->p);
    memset(pay, 0, sizeof *pay);
}

/* ---- round trip -------------------------------------------------------- */

static void check_meta(const cl_ckpt_section *m)
{
    int64_t i;
    double f;
    const char *s;
    const char *const *v;
    int n;
    ck_assert_int_eq(cl_ckpt_get_i64(m, "hidden", &i, NULL), 0);
    ck_assert_int_eq(i, 256);
    ck_assert_int_eq(cl_ckpt_get_i64(m, "min", &i, NULL), 0);
    ck_assert(i == INT64_MIN);
    ck_assert_int_eq(cl_ckpt_get_f64(m, "lr", &f, NULL), 0);
    ck_assert(f == 0.001);
    ck_assert_int_eq(cl_ckpt_get_f64(m, "inf", &f, NULL), 0);
    ck_assert(isinf(f) && f < 0);
    ck_assert_int_eq(cl_ckpt_get_str(m, "cell", &s, NULL), 0);
    ck_assert_str_eq(s, "lstm");
    ck_assert_int_eq(cl_ckpt_get_strs(m, "vocab", &v, &n, NULL), 0);
    ck_assert_int_eq(n, 5);
    ck_assert_str_eq(v[1], "é");
    ck_assert_str_eq(v[2], "\xe6\x97\xa5");
    ck_assert_str_eq(v[4], "");
    ck_assert_int_eq(cl_ckpt_get_strs(m, "none", &v, &n, NULL), 0);
    ck_assert_int_eq(n, 0);
}

static void check_encoder(const cl_ckpt_section *e)
{
    float x[24], want[24];
    int32_t ids[5];
    cl_ckpt_tensor_info ti;
    fill(want, 24);
    ck_assert_int_eq(cl_ckpt_get_f32(e, "w4", 4, SHAPE4, x, NULL), 0);
    ck_assert_mem_eq(x, want, sizeof x);
    ck_assert_int_eq(cl_ckpt_get_i32(e, "ids", 1, SHAPE_I, ids, NULL), 0);
    ck_assert_int_eq(ids[0], -7);
    ck_assert_int_eq(ids[3], INT32_MAX);
    ck_assert_int_eq(ids[4], INT32_MIN);
    ck_assert_int_eq(cl_ckpt_get_f32(e, "empty", 2, SHAPE_EMPTY, x, NULL), 0);
    ck_assert_int_eq(cl_ckpt_ntensors(e), 3);
    cl_ckpt_tensor_at(e, 0, &ti);
    ck_assert_str_eq(ti.name, "w4");
    ck_assert_int_eq(ti.dtype, CL_CKPT_F32);
    ck_assert_int_eq(ti.ndim, 4);
    ck_assert_int_eq(ti.shape[3], 4);
    ck_assert_uint_eq(ti.nbytes, 96);
    ck_assert_uint_eq((uintptr_t)ti.data % 64, 0);
    ck_assert_int_eq(cl_ckpt_tensor_find(e, "ids", &ti), 0);
    ck_assert_uint_eq((uintptr_t)ti.data % 64, 0);
    ck_assert_int_eq(cl_ckpt_tensor_find(e, "nope", &ti), CL_ENOTFOUND);
}

START_TEST(test_roundtrip)
{
    char path[512];
    cl_ckpt *ck;
    cl_diag d = {{0}};
    tpath(path, sizeof path, "rt.ckpt");
    ck_assert_msg(write_sample(path, &d) == 0, "%s", d.msg);
    ck_assert_int_eq(count_tmp(cl_test_tmpdir()), 0);
    ck_assert_msg(cl_ckpt_load(&ck, path, &d) == 0, "%s", d.msg);
    ck_assert_int_eq(cl_ckpt_nsections(ck), 3);
    ck_assert_str_eq(cl_ckpt_section_name(cl_ckpt_section_at(ck, 1)), "encoder");
    ck_assert_ptr_null(cl_ckpt_section_at(ck, 3));
    ck_assert_ptr_null(cl_ckpt_find(ck, "head.lm"));
    check_meta(cl_ckpt_find(ck, "meta"));
    check_encoder(cl_ckpt_find(ck, "encoder"));
    const cl_ckpt_section *z = cl_ckpt_find(ck, "nothing");
    ck_assert_int_eq(cl_ckpt_nkeys(z), 0);
    ck_assert_int_eq(cl_ckpt_ntensors(z), 0);
    cl_ckpt_free(ck);
}
END_TEST

/* Tensor data lies at file offsets that are multiples of 64. */
START_TEST(test_alignment_in_file)
{
    size_t n;
    unsigned char *p = sample_bytes(&n);
    float want[24];
    unsigned char le[96];
    fill(want, 24);
    for (int i = 0; i < 24; i++) {
        uint32_t u;
        memcpy(&u, &want[i], 4);
        for (int k = 0; k < 4; k++)
            le[4 * i + k] = (unsigned char)(u >> (8 * k));
    }
    unsigned char *hit = memmem(p, n, le, sizeof le);
    ck_assert_ptr_nonnull(hit);
    ck_assert_uint_eq((size_t)(hit - p) % 64, 0);
    ck_assert_mem_eq(p, "CHARLSTM\x01\0\0\0\x04\x03\x02\x01\x03\0\0\0", 16);
    free(p);
}
END_TEST

START_TEST(test_getters)
{
    char path[512];
    cl_ckpt *ck;
    cl_diag d = {{0}};
    int64_t i;
    double f;
    float x[24];
    static const int64_t wrong[4] = {2, 3, 4, 1};
    tpath(path, sizeof path, "get.ckpt");
    ck_assert_msg(write_sample(path, &d) == 0, "%s", d.msg);
    ck_assert_int_eq(cl_ckpt_load(&ck, path, &d), 0);
    const cl_ckpt_section *m = cl_ckpt_find(ck, "meta"), *e = cl_ckpt_find(ck, "encoder");
    ck_assert_int_eq(cl_ckpt_get_i64(m, "layers", &i, &d), CL_ENOTFOUND);
    ck_assert_ptr_nonnull(strstr(d.msg, "layers"));
    ck_assert_int_eq(cl_ckpt_get_f64(m, "hidden", &f, &d), CL_EFORMAT);
    ck_assert_ptr_nonnull(strstr(d.msg, "hidden"));
    ck_assert_int_eq(cl_ckpt_get_f32(e, "w4", 4, wrong, x, &d), CL_EMISMATCH);
    ck_assert_msg(strstr(d.msg, "[2, 3, 1, 4]") && strstr(d.msg, "[2, 3, 4, 1]"), "%s", d.msg);
    ck_assert_int_eq(cl_ckpt_get_f32(e, "w4", 3, wrong, x, &d), CL_EMISMATCH);
    ck_assert_int_eq(cl_ckpt_get_i32(e, "w4", 4, SHAPE4, (int32_t *)x, &d), CL_EMISMATCH);
    ck_assert_ptr_nonnull(strstr(d.msg, "i32"));
    ck_assert_int_eq(cl_ckpt_get_f32(e, "w5", 4, SHAPE4, x, &d), CL_ENOTFOUND);
    ck_assert_ptr_nonnull(strstr(d.msg, "w5"));
    cl_ckpt_free(ck);
}
END_TEST

START_TEST(test_key_format)
{
    char path[512], buf[256];
    cl_ckpt *ck;
    cl_diag d = {{0}};
    int type;
    tpath(path, sizeof path, "fmt.ckpt");
    ck_assert_msg(write_sample(path, &d) == 0, "%s", d.msg);
    ck_assert_int_eq(cl_ckpt_load(&ck, path, &d), 0);
    const cl_ckpt_section *m = cl_ckpt_find(ck, "meta");
    ck_assert_int_eq(cl_ckpt_nkeys(m), 8);
    ck_assert_str_eq(cl_ckpt_key_at(m, 0, &type), "hidden");
    ck_assert_int_eq(type, CL_CKPT_I64);
    ck_assert_str_eq(cl_ckpt_key_format(m, 0, buf, sizeof buf), "256");
    ck_assert_str_eq(cl_ckpt_key_format(m, 2, buf, sizeof buf), "0.001");
    ck_assert_str_eq(cl_ckpt_key_format(m, 5, buf, sizeof buf), "\"tab\\there \\\"q\\\" ünï\"");
    ck_assert_str_eq(cl_ckpt_key_format(m, 6, buf, sizeof buf),
                     "[\"a\", \"é\", \"\xe6\x97\xa5\", \"<unk>\", \"\"] (5 items)");
    ck_assert_str_eq(cl_ckpt_key_format(m, 7, buf, sizeof buf), "[] (0 items)");
    ck_assert_ptr_null(cl_ckpt_key_at(m, 8, &type));
    /* Every small buffer: terminated, within bounds (ASan), shortened with "...". */
    for (size_t size = 1; size < 48; size++) {
        memset(buf, 'X', sizeof buf);
        cl_ckpt_key_format(m, 6, buf, size);
        ck_assert_uint_lt(strlen(buf), size);
        ck_assert_int_eq(buf[size], 'X');
        if (size >= 4 && size < 40)
            ck_assert_msg(strstr(buf, "...") != NULL, "size %zu: %s", size, buf);
    }
    cl_ckpt_free(ck);
}
END_TEST

/* ---- damaged and foreign files ----------------------------------------- */

START_TEST(test_empty_and_foreign)
{
    char path[512];
    cl_ckpt *ck;
    cl_diag d = {{0}};
    static const unsigned char png[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 13,
                                        'I', 'H', 'D', 'R', 0, 0, 1, 0, 0, 0, 1, 0, 8, 6};
    static const char text[] = "The quick brown fox jumps over the lazy dog.\n";
    tpath(path, sizeof path, "empty.ckpt");
    spit(path, "", 0);
    ck_assert_int_eq(cl_ckpt_load(&ck, path, &d), CL_ETRUNC);
    ck_assert_msg(strstr(d.msg, "empty file") && strstr(d.msg, path), "%s", d.msg);
    ck_assert_ptr_null(ck);
    expect_fail("", 0, CL_ETRUNC, "empty");
    expect_fail(png, sizeof png, CL_EFORMAT, "png");
    expect_fail(text, sizeof text - 1, CL_EFORMAT, "text");
    expect_fail("X", 1, CL_EFORMAT, "one byte");
    expect_fail("CHAR", 4, CL_ETRUNC, "magic prefix");
    tpath(path, sizeof path, "png.ckpt");
    spit(path, png, sizeof png);
    ck_assert_int_eq(cl_ckpt_load(&ck, path, &d), CL_EFORMAT);
    ck_assert_ptr_nonnull(strstr(d.msg, "not a charlstm model file"));
}
END_TEST

START_TEST(test_not_a_file)
{
    char path[512];
    cl_ckpt *ck;
    cl_diag d = {{0}};
    ck_assert_int_eq(cl_ckpt_load(&ck, cl_test_tmpdir(), &d), CL_EIO);
    ck_assert_ptr_nonnull(strstr(d.msg, "directory"));
    tpath(path, sizeof path, "does-not-exist.ckpt");
    ck_assert_int_eq(cl_ckpt_load(&ck, path, &d), CL_EIO);
    ck_assert_ptr_nonnull(strstr(d.msg, strerror(ENOENT)));
}
END_TEST

START_TEST(test_version_and_bom)
{
    size_t n;
    unsigned char *p = sample_bytes(&n);
    p[8] = 2; /* checked before the header CRC, so a newer file says so */
    expect_fail(p, n, CL_EVERSION, "version 2");
    p[8] = 0;
    expect_fail(p, n, CL_EVERSION, "version 0");
    p[8] = 1;
    bb f = {0};
    bb_bytes(&f, p, 24);
    f.p[12] = 1, f.p[13] = 2, f.p[14] = 3, f.p[15] = 4; /* big-endian BOM */
    uint32_t c = crc(f.p, 20);
    for (int i = 0; i < 4; i++)
        f.p[20 + i] = (unsigned char)(c >> (8 * i));
    bb_bytes(&f, p + 24, n - 24);
    expect_fail(f.p, f.n, CL_EFORMAT, "byte order");
    free(f.p);
    free(p);
}
END_TEST

START_TEST(test_truncated_everywhere)
{
    size_t n;
    unsigned char *p = sample_bytes(&n);
    char what[64];
    for (size_t len = 0; len < n; len++) {
        snprintf(what, sizeof what, "prefix of %zu/%zu bytes", len, n);
        expect_fail(p, len, CL_ETRUNC, what);
    }
    free(p);
}
END_TEST

/* Every single-bit flip anywhere is detected: never success, never a crash. */
START_TEST(test_bitflip_everywhere)
{
    size_t n;
    unsigned char *p = sample_bytes(&n);
    char what[64];
    for (size_t i = 0; i < n; i++)
        for (int bit = 0; bit < 8; bit++) {
            p[i] ^= (unsigned char)(1u << bit);
            snprintf(what, sizeof what, "bit %d of byte %zu", bit, i);
            expect_fail(p, n, 0, what);
            p[i] ^= (unsigned char)(1u << bit);
        }
    free(p);
}
END_TEST

START_TEST(test_checksum_names_tensor)
{
    size_t n;
    cl_diag d = {{0}};
    cl_ckpt *ck;
    unsigned char *p = sample_bytes(&n);
    float want[24];
    unsigned char le[8];
    fill(want, 24);
    memcpy(le, &want[0], 8); /* host order == LE on the machines we test on */
    unsigned char *hit = memmem(p, n, le, 8);
    ck_assert_ptr_nonnull(hit);
    hit[5] ^= 0x10;
    ck_assert_int_eq(cl_ckpt_load_mem(&ck, p, n, "x.ckpt", &d), CL_ECHECKSUM);
    ck_assert_msg(strstr(d.msg, "'w4'") && strstr(d.msg, "'encoder'"), "%s", d.msg);
    free(p);
}
END_TEST

START_TEST(test_trailing_garbage)
{
    size_t n;
    unsigned char *p = sample_bytes(&n);
    p = realloc(p, n + 3);
    memcpy(p + n, "abc", 3);
    expect_fail(p, n + 3, CL_EFORMAT, "trailing");
    free(p);
}
END_TEST

/* Declared sizes far beyond the file: rejected before any allocation (an
 * attempt to allocate 2^60 bytes would abort under ASan). */
START_TEST(test_huge_lengths)
{
    bb f = {0}, pay = {0};
    bb_u32(&pay, 0);
    bb_u32(&pay, 0);
    file_begin(&f, 0xffffffffu, 1);
    expect_fail(f.p, f.n, CL_ETRUNC, "2^32-1 sections");
    f.n = 0;
    file_begin(&f, 1, 1);
    file_section(&f, "s", &pay, (uint64_t)1 << 60);
    expect_fail(f.p, f.n, CL_ETRUNC, "2^60 payload");
    free(f.p);
    free(pay.p);
    pay = (bb){0};
    bb_u32(&pay, 0xffffffffu);
    expect_payload_fail(&pay, CL_EFORMAT, "2^32-1 keys");
    bb_u32(&pay, 1), bb_name(&pay, "k"), bb_u8(&pay, CL_CKPT_STR), bb_u32(&pay, 0xffffffffu);
    bb_u32(&pay, 0);
    expect_payload_fail(&pay, CL_EFORMAT, "4 GB string");
    bb_u32(&pay, 1), bb_name(&pay, "k"), bb_u8(&pay, CL_CKPT_STRS), bb_u32(&pay, 0xffffffffu);
    bb_u32(&pay, 0);
    expect_payload_fail(&pay, CL_EFORMAT, "2^32-1 strings");
    bb_u32(&pay, 0), bb_u32(&pay, 0xffffffffu);
    expect_payload_fail(&pay, CL_EFORMAT, "2^32-1 tensors");
    uint64_t dims[4] = {(uint64_t)1 << 60, (uint64_t)1 << 60, 0, 0};
    bb_u32(&pay, 0), bb_u32(&pay, 1);
    bb_tensor(&pay, "t", CL_CKPT_F32, 2, dims, "", 0);
    expect_payload_fail(&pay, CL_EFORMAT, "2^120 elements");
    dims[0] = (uint64_t)1 << 62;
    bb_u32(&pay, 0), bb_u32(&pay, 1);
    bb_tensor(&pay, "t", CL_CKPT_F32, 1, dims, "", 0);
    expect_payload_fail(&pay, CL_EFORMAT, "2^64 bytes");
    dims[0] = 0;
    dims[1] = UINT64_MAX;
    bb_u32(&pay, 0), bb_u32(&pay, 1);
    bb_tensor(&pay, "t", CL_CKPT_F32, 2, dims, "", 0);
    expect_payload_fail(&pay, CL_EFORMAT, "dimension 2^64-1");
}
END_TEST

START_TEST(test_bad_codes)
{
    bb pay = {0};
    uint64_t dims[5] = {1, 1, 1, 1, 1};
    static const float one = 1.0f;
    bb_u32(&pay, 1), bb_name(&pay, "k"), bb_u8(&pay, 5), bb_u64(&pay, 0), bb_u32(&pay, 0);
    expect_payload_fail(&pay, CL_EFORMAT, "type code 5");
    bb_u32(&pay, 1), bb_name(&pay, "k"), bb_u8(&pay, CL_CKPT_STR), bb_name(&pay, "\xc3\x28");
    bb_u32(&pay, 0);
    expect_payload_fail(&pay, CL_EUTF8, "bad UTF-8 value");
    bb_u32(&pay, 1), bb_name(&pay, ""), bb_u8(&pay, CL_CKPT_I64), bb_u64(&pay, 0), bb_u32(&pay, 0);
    expect_payload_fail(&pay, CL_EFORMAT, "empty key");
    bb_u32(&pay, 1);
    bb_name(&pay, "0123456789012345678901234567890123456789012345678901234567890123");
    bb_u8(&pay, CL_CKPT_I64), bb_u64(&pay, 0), bb_u32(&pay, 0);
    expect_payload_fail(&pay, CL_EFORMAT, "64-byte key");
    bb_u32(&pay, 0), bb_u32(&pay, 1);
    bb_tensor(&pay, "t", 3, 1, dims, &one, 4);
    expect_payload_fail(&pay, CL_EFORMAT, "dtype 3");
    bb_u32(&pay, 0), bb_u32(&pay, 1);
    bb_tensor(&pay, "t", CL_CKPT_F32, 0, dims, "", 0);
    expect_payload_fail(&pay, CL_EFORMAT, "ndim 0");
    bb_u32(&pay, 0), bb_u32(&pay, 1);
    bb_tensor(&pay, "t", CL_CKPT_F32, 5, dims, &one, 4);
    expect_payload_fail(&pay, CL_EFORMAT, "ndim 5");
    bb_u32(&pay, 0), bb_u32(&pay, 0), bb_u8(&pay, 0);
    expect_payload_fail(&pay, CL_EFORMAT, "unused payload byte");
    bb_u32(&pay, 0), bb_u32(&pay, 1);
    bb_tensor(&pay, "t", CL_CKPT_F32, 1, dims, &one, 4);
    pay.p[pay.n - 5] = 1; /* in the padding before the data */
    expect_payload_fail(&pay, CL_EFORMAT, "non-zero padding");
}
END_TEST

START_TEST(test_duplicates)
{
    bb f = {0}, pay = {0};
    bb_u32(&pay, 0), bb_u32(&pay, 0);
    file_begin(&f, 2, 1);
    file_section(&f, "head.lm", &pay, pay.n);
    file_section(&f, "head.lm", &pay, pay.n);
    expect_fail(f.p, f.n, CL_EFORMAT, "duplicate section");
    free(f.p);
    /* The same file with distinct names loads: the test above can fail. */
    f = (bb){0};
    cl_ckpt *ck;
    file_begin(&f, 2, 1);
    file_section(&f, "head.lm", &pay, pay.n);
    file_section(&f, "head.tagger", &pay, pay.n);
    ck_assert_int_eq(cl_ckpt_load_mem(&ck, f.p, f.n, "ok", NULL), 0);
    cl_ckpt_free(ck);
    free(f.p);
    free(pay.p);
    pay = (bb){0};
    bb_u32(&pay, 2);
    for (int i = 0; i < 2; i++)
        bb_name(&pay, "k"), bb_u8(&pay, CL_CKPT_I64), bb_u64(&pay, 1);
    bb_u32(&pay, 0);
    expect_payload_fail(&pay, CL_EFORMAT, "duplicate key");
    uint64_t dims[1] = {1};
    bb_u32(&pay, 0), bb_u32(&pay, 2);
    bb_tensor(&pay, "t", CL_CKPT_I32, 1, dims, "abcd", 4);
    bb_tensor(&pay, "t", CL_CKPT_I32, 1, dims, "abcd", 4);
    expect_payload_fail(&pay, CL_EFORMAT, "duplicate tensor");
}
END_TEST

/* ---- writer: misuse and atomic saving ---------------------------------- */

/* Commit must fail with want, name the problem, and leave no file behind. */
static void expect_commit_fail(cl_ckpt_writer *w, const char *path, int want)
{
    cl_diag d = {{0}};
    ck_assert_int_eq(cl_ckpt_writer_commit(w, &d), want);
    ck_assert_msg(d.msg[0] != 0, "no message");
    ck_assert_int_ne(access(path, F_OK), 0);
    ck_assert_int_eq(count_tmp(cl_test_tmpdir()), 0);
}

START_TEST(test_writer_misuse)
{
    char path[512];
    cl_ckpt_writer *w;
    static const int64_t shape[5] = {1, 1, 1, 1, 1};
    float x = 1;
    tpath(path, sizeof path, "misuse.ckpt");
    ck_assert_int_eq(cl_ckpt_writer_open(&w, path, NULL), 0);
    cl_ckpt_section_begin(w, "a");
    cl_ckpt_put_f32(w, "t", 1, shape, &x);
    ck_assert_int_eq(cl_ckpt_put_i64(w, "late", 1), CL_EINVAL);
    expect_commit_fail(w, path, CL_EINVAL);
    ck_assert_int_eq(cl_ckpt_writer_open(&w, path, NULL), 0);
    cl_ckpt_section_begin(w, "a");
    expect_commit_fail(w, path, CL_EINVAL); /* not ended */
    ck_assert_int_eq(cl_ckpt_writer_open(&w, path, NULL), 0);
    cl_ckpt_section_begin(w, "a");
    cl_ckpt_section_end(w);
    ck_assert_int_eq(cl_ckpt_section_begin(w, "a"), CL_EINVAL);
    expect_commit_fail(w, path, CL_EINVAL);
    ck_assert_int_eq(cl_ckpt_writer_open(&w, path, NULL), 0);
    cl_ckpt_section_begin(w, "a");
    ck_assert_int_eq(cl_ckpt_put_str(w, "s", "\xff"), CL_EUTF8);
    ck_assert_int_eq(cl_ckpt_put_i64(w, "ok", 1), CL_EUTF8); /* sticky */
    expect_commit_fail(w, path, CL_EUTF8);
    ck_assert_int_eq(cl_ckpt_writer_open(&w, path, NULL), 0);
    cl_ckpt_section_begin(w, "a");
    ck_assert_int_eq(cl_ckpt_put_f32(w, "t", 5, shape, &x), CL_EINVAL);
    expect_commit_fail(w, path, CL_EINVAL);
    ck_assert_int_eq(cl_ckpt_writer_open(&w, path, NULL), 0);
    static const char long_name[] =
        "0123456789012345678901234567890123456789012345678901234567890123"; /* 64 bytes */
    ck_assert_int_eq(cl_ckpt_section_begin(w, long_name), CL_EINVAL);
    expect_commit_fail(w, path, CL_EINVAL);
    ck_assert_int_eq(cl_ckpt_writer_open(&w, path, NULL), 0);
    cl_ckpt_writer_abort(w);
    ck_assert_int_eq(count_tmp(cl_test_tmpdir()), 0);
}
END_TEST

/* Writes a small valid file at path and returns its bytes. */
static unsigned char *old_file(const char *path, size_t *n)
{
    cl_diag d = {{0}};
    ck_assert_msg(write_sample(path, &d) == 0, "%s", d.msg);
    return slurp(path, n);
}

static void assert_unchanged(const char *path, const unsigned char *old, size_t n)
{
    size_t m;
    unsigned char *now = slurp(path, &m);
    ck_assert_uint_eq(m, n);
    ck_assert_mem_eq(now, old, n);
    free(now);
}

START_TEST(test_save_bad_directory)
{
    char path[1100], file[512];
    cl_diag d = {{0}};
    cl_ckpt_writer *w = (cl_ckpt_writer *)1;
    tpath(path, sizeof path, "no/such/dir/m.ckpt");
    ck_assert_int_eq(cl_ckpt_writer_open(&w, path, &d), CL_EIO);
    ck_assert_ptr_null(w);
    ck_assert_msg(strstr(d.msg, path) && strstr(d.msg, strerror(ENOENT)), "%s", d.msg);
    /* A parent that is a regular file. */
    size_t n;
    unsigned char *old = old_file(tpath(file, sizeof file, "plain.ckpt"), &n);
    snprintf(path, sizeof path, "%s/m.ckpt", file);
    ck_assert_int_eq(cl_ckpt_writer_open(&w, path, &d), CL_EIO);
    ck_assert_ptr_nonnull(strstr(d.msg, strerror(ENOTDIR)));
    assert_unchanged(file, old, n);
    free(old);
}
END_TEST

START_TEST(test_save_readonly_directory)
{
    char dir[512], path[1100];
    cl_diag d = {{0}};
    cl_ckpt_writer *w;
    size_t n;
    if (geteuid() == 0) {
        cl_test_skip("test_save_readonly_directory", "root ignores directory permissions");
        return;
    }
    tpath(dir, sizeof dir, "ro");
    ck_assert_int_eq(mkdir(dir, 0755), 0);
    snprintf(path, sizeof path, "%s/m.ckpt", dir);
    unsigned char *old = old_file(path, &n);
    ck_assert_int_eq(chmod(dir, 0555), 0);
    int rc = cl_ckpt_writer_open(&w, path, &d);
    chmod(dir, 0755);
    ck_assert_int_eq(rc, CL_EIO);
    ck_assert_msg(strstr(d.msg, path) && strstr(d.msg, strerror(EACCES)), "%s", d.msg);
    assert_unchanged(path, old, n);
    ck_assert_int_eq(count_tmp(dir), 0);
    free(old);
}
END_TEST

/* The rename fails (the target became a non-empty directory while the file
 * was written; one there from the start is refused by open): the temporary
 * file goes away and the target stays. */
START_TEST(test_save_rename_fails)
{
    char dir[512], inner[600];
    cl_diag d = {{0}};
    cl_ckpt_writer *w;
    size_t n;
    tpath(dir, sizeof dir, "isdir.ckpt");
    ck_assert_int_eq(cl_ckpt_writer_open(&w, dir, &d), 0);
    ck_assert_int_eq(mkdir(dir, 0755), 0);
    snprintf(inner, sizeof inner, "%s/keep", dir);
    unsigned char *old = old_file(inner, &n);
    cl_ckpt_section_begin(w, "meta");
    cl_ckpt_put_i64(w, "x", 1);
    cl_ckpt_section_end(w);
    ck_assert_int_eq(cl_ckpt_writer_commit(w, &d), CL_EIO);
    ck_assert_msg(strstr(d.msg, dir) && strstr(d.msg, "rename"), "%s", d.msg);
    ck_assert_int_eq(count_tmp(cl_test_tmpdir()), 0);
    assert_unchanged(inner, old, n);
    free(old);
}
END_TEST

/* In a child limited to small files (RLIMIT_FSIZE, SIGXFSZ ignored) every
 * write past the limit fails with EFBIG, as a full disk fails with ENOSPC.
 * Exit status: 0 ok, else the number of the failed check. */
static int full_disk_child(const char *path, size_t floats)
{
    struct rlimit rl = {4096, 4096};
    cl_diag d = {{0}};
    cl_ckpt_writer *w;
    int64_t shape[1] = {(int64_t)floats};
    float *x = calloc(floats, sizeof *x);
    signal(SIGXFSZ, SIG_IGN);
    if (!x || setrlimit(RLIMIT_FSIZE, &rl) != 0)
        return 1;
    if (cl_ckpt_writer_open(&w, path, &d) != 0)
        return 2;
    cl_ckpt_section_begin(w, "encoder");
    cl_ckpt_put_f32(w, "w", 1, shape, x);
    cl_ckpt_section_end(w);
    if (cl_ckpt_writer_commit(w, &d) != CL_EIO)
        return 3;
    if (!strstr(d.msg, path) || !strstr(d.msg, strerror(EFBIG)))
        return 4;
    free(x);
    return 0;
}

START_TEST(test_save_disk_full)
{
    char path[512];
    size_t n, sizes[2] = {1200, 100000}; /* fails at commit / while writing */
    unsigned char *old = old_file(tpath(path, sizeof path, "full.ckpt"), &n);
    for (int i = 0; i < 2; i++) {
        fflush(NULL);
        pid_t pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0)
            _exit(full_disk_child(path, sizes[i]));
        int status;
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "size %zu: status %d",
                      sizes[i], status);
        assert_unchanged(path, old, n);
        ck_assert_int_eq(count_tmp(cl_test_tmpdir()), 0);
    }
    free(old);
}
END_TEST

/* A replaced model keeps its old bytes until commit, then has the new ones. */
START_TEST(test_save_replaces)
{
    char path[512];
    cl_diag d = {{0}};
    cl_ckpt_writer *w;
    cl_ckpt *ck;
    size_t n;
    int64_t v;
    unsigned char *old = old_file(tpath(path, sizeof path, "replace.ckpt"), &n);
    ck_assert_int_eq(cl_ckpt_writer_open(&w, path, &d), 0);
    cl_ckpt_section_begin(w, "meta");
    cl_ckpt_put_i64(w, "epoch", 7);
    cl_ckpt_section_end(w);
    assert_unchanged(path, old, n);
    ck_assert_int_eq(cl_ckpt_writer_commit(w, &d), 0);
    ck_assert_int_eq(cl_ckpt_load(&ck, path, &d), 0);
    ck_assert_int_eq(cl_ckpt_nsections(ck), 1);
    ck_assert_int_eq(cl_ckpt_get_i64(cl_ckpt_find(ck, "meta"), "epoch", &v, NULL), 0);
    ck_assert_int_eq(v, 7);
    cl_ckpt_free(ck);
    free(old);
}
END_TEST

/* ---- verbatim section copy --------------------------------------------- */

/* Offset and length of section name's header and payload in a file image. */
static void locate(const unsigned char *p, size_t n, const char *name, size_t *hoff, size_t *hlen,
                   size_t *poff, size_t *plen)
{
    size_t off = 24;
    while (off < n) {
        uint32_t k = p[off] | p[off + 1] << 8 | p[off + 2] << 16 | (uint32_t)p[off + 3] << 24;
        size_t h = off, hl = 20 + k;
        uint64_t len = 0;
        for (int i = 7; i >= 0; i--)
            len = len << 8 | p[off + 4 + k + (size_t)i];
        off += hl;
        off += (64 - off % 64) % 64;
        if (k == strlen(name) && memcmp(p + h + 4, name, k) == 0) {
            *hoff = h, *hlen = hl, *poff = off, *plen = (size_t)len;
            return;
        }
        off += (size_t)len;
    }
    ck_abort_msg("section %s not found", name);
}

START_TEST(test_copy_section)
{
    char a[512], b[512];
    cl_diag d = {{0}};
    cl_ckpt *ck, *ck2;
    cl_ckpt_writer *w;
    size_t na, nb;
    tpath(a, sizeof a, "copy-a.ckpt");
    tpath(b, sizeof b, "copy-b.ckpt");
    ck_assert_msg(write_sample(a, &d) == 0, "%s", d.msg);
    ck_assert_int_eq(cl_ckpt_load(&ck, a, &d), 0);
    ck_assert_int_eq(cl_ckpt_writer_open(&w, b, &d), 0);
    /* A new section first, with a name of another length, so that the
     * copies land at other offsets (mod 64) than in a. */
    cl_ckpt_section_begin(w, "head.tagger.x");
    cl_ckpt_put_str(w, "tags", "NOUN VERB");
    cl_ckpt_section_end(w);
    ck_assert_int_eq(cl_ckpt_copy_section(w, cl_ckpt_find(ck, "encoder")), 0);
    ck_assert_int_eq(cl_ckpt_copy_section(w, cl_ckpt_find(ck, "meta")), 0);
    ck_assert_int_eq(cl_ckpt_writer_commit(w, &d), 0);
    unsigned char *pa = slurp(a, &na), *pb = slurp(b, &nb);
    static const char *const names[] = {"encoder", "meta"};
    for (int i = 0; i < 2; i++) {
        size_t ha, hla, oa, la, hb, hlb, ob, lb;
        locate(pa, na, names[i], &ha, &hla, &oa, &la);
        locate(pb, nb, names[i], &hb, &hlb, &ob, &lb);
        ck_assert_uint_ne(ha, hb);
        ck_assert_uint_eq(hla, hlb);
        ck_assert_mem_eq(pa + ha, pb + hb, hla);
        ck_assert_uint_eq(la, lb);
        ck_assert_mem_eq(pa + oa, pb + ob, la);
    }
    ck_assert_int_eq(cl_ckpt_load(&ck2, b, &d), 0);
    check_meta(cl_ckpt_find(ck2, "meta"));
    check_encoder(cl_ckpt_find(ck2, "encoder"));
    ck_assert_str_eq(cl_ckpt_section_name(cl_ckpt_section_at(ck2, 0)), "head.tagger.x");
    /* A name used twice is refused. */
    ck_assert_int_eq(cl_ckpt_writer_open(&w, b, &d), 0);
    ck_assert_int_eq(cl_ckpt_copy_section(w, cl_ckpt_find(ck, "meta")), 0);
    ck_assert_int_eq(cl_ckpt_copy_section(w, cl_ckpt_find(ck, "meta")), CL_EINVAL);
    ck_assert_int_eq(cl_ckpt_writer_commit(w, &d), CL_EINVAL);
    cl_ckpt_free(ck2);
    cl_ckpt_free(ck);
    free(pa);
    free(pb);
}
END_TEST

Suite *suite_ckpt(void)
{
    Suite *s = suite_create("ckpt");
    TCase *tc = tcase_create("format");
    tcase_add_test(tc, test_roundtrip);
    tcase_add_test(tc, test_alignment_in_file);
    tcase_add_test(tc, test_getters);
    tcase_add_test(tc, test_key_format);
    tcase_add_test(tc, test_empty_and_foreign);
    tcase_add_test(tc, test_not_a_file);
    tcase_add_test(tc, test_version_and_bom);
    tcase_add_test(tc, test_truncated_everywhere);
    tcase_add_test(tc, test_bitflip_everywhere);
    tcase_add_test(tc, test_checksum_names_tensor);
    tcase_add_test(tc, test_trailing_garbage);
    tcase_add_test(tc, test_huge_lengths);
    tcase_add_test(tc, test_bad_codes);
    tcase_add_test(tc, test_duplicates);
    suite_add_tcase(s, tc);
    tc = tcase_create("save");
    tcase_add_test(tc, test_writer_misuse);
    tcase_add_test(tc, test_save_bad_directory);
    tcase_add_test(tc, test_save_readonly_directory);
    tcase_add_test(tc, test_save_rename_fails);
    tcase_add_test(tc, test_save_disk_full);
    tcase_add_test(tc, test_save_replaces);
    tcase_add_test(tc, test_copy_section);
    suite_add_tcase(s, tc);
    return s;
}
