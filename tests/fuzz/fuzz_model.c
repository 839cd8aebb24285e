/* Fuzz the model loader: the file container (cl_ckpt) and the model built
 * from it (cl_model: vocabulary, encoder, every head's load_meta and shape
 * checks), as `charlstm info` and every command read a stranger's file.
 *
 * Every part of a model file carries a CRC-32, so nearly every mutation
 * would stop at a checksum.  The harness first repairs them (tensor data,
 * section payloads, section headers, file header, in that order, since
 * each outer CRC covers the inner ones) wherever the structure can be
 * followed, so the fuzzer reaches the code behind the checks. */
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "cl_ckpt.h"
#include "cl_model.h"
#include "fuzz.h"

typedef struct {
    uint8_t *b;
    size_t n, off;
} cur;

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get64(const uint8_t *p) { return get32(p) | (uint64_t)get32(p + 4) << 32; }

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t crc(const uint8_t *p, size_t n) { return (uint32_t)crc32(0, p, (uInt)n); }

/* Advance by k bytes; 0 when they are not there. */
static int skip(cur *c, uint64_t k, size_t end)
{
    if (k > end - c->off)
        return 0;
    c->off += (size_t)k;
    return 1;
}

static int u32(cur *c, size_t end, uint32_t *v)
{
    if (end - c->off < 4)
        return 0;
    *v = get32(c->b + c->off);
    c->off += 4;
    return 1;
}

static int pad(cur *c, size_t end) { return skip(c, (64 - c->off % 64) % 64, end); }

static int skip_value(cur *c, size_t end, unsigned type)
{
    uint32_t n, k;
    if (type == 1 || type == 2)
        return skip(c, 8, end);
    if (type == 3)
        return u32(c, end, &n) && skip(c, n, end);
    if (type != 4 || !u32(c, end, &n))
        return 0;
    for (uint32_t i = 0; i < n; i++)
        if (!u32(c, end, &k) || !skip(c, k, end))
            return 0;
    return 1;
}

static int skip_kvs(cur *c, size_t end)
{
    uint32_t n, k;
    if (!u32(c, end, &n))
        return 0;
    for (uint32_t i = 0; i < n; i++) {
        if (!u32(c, end, &k) || !skip(c, k, end) || end - c->off < 1)
            return 0;
        unsigned type = c->b[c->off++];
        if (!skip_value(c, end, type))
            return 0;
    }
    return 1;
}

/* One tensor: header, CRC of its data made right. */
static int fix_tensor(cur *c, size_t end)
{
    uint32_t k, ndim;
    uint64_t elems = 1;
    if (!u32(c, end, &k) || !skip(c, (uint64_t)k + 1, end) || !u32(c, end, &ndim) || ndim < 1 || ndim > 4)
        return 0;
    for (uint32_t i = 0; i < ndim; i++) {
        if (end - c->off < 8)
            return 0;
        uint64_t dim = get64(c->b + c->off);
        c->off += 8;
        if (dim && elems > (uint64_t)(end - c->off) / dim)
            return 0;
        elems *= dim;
    }
    size_t at = c->off;
    if (!skip(c, 4, end) || !pad(c, end) || elems > (end - c->off) / 4)
        return 0;
    put32(c->b + at, crc(c->b + c->off, (size_t)elems * 4));
    return skip(c, elems * 4, end);
}

static void fix_payload(cur *c, size_t end)
{
    uint32_t n;
    if (!skip_kvs(c, end) || !u32(c, end, &n))
        return;
    for (uint32_t i = 0; i < n && fix_tensor(c, end); i++)
        ;
}

/* One section: tensors, payload CRC, header CRC; 0 when it cannot be followed. */
static int fix_section(cur *c)
{
    size_t start = c->off;
    uint32_t k;
    if (!u32(c, c->n, &k) || k < 1 || k > 63 || !skip(c, k, c->n) || c->n - c->off < 16)
        return 0;
    uint64_t len = get64(c->b + c->off);
    size_t crc_at = c->off + 8, hcrc_at = c->off + 12;
    c->off += 16;
    if (!pad(c, c->n) || len > c->n - c->off)
        return 0;
    cur p = {c->b, c->n, c->off};
    fix_payload(&p, c->off + (size_t)len);
    put32(c->b + crc_at, crc(c->b + c->off, (size_t)len));
    put32(c->b + hcrc_at, crc(c->b + start, hcrc_at - start));
    c->off += (size_t)len;
    return 1;
}

static void fix_crcs(uint8_t *b, size_t n)
{
    if (n < 24)
        return;
    put32(b + 20, crc(b, 20));
    cur c = {b, n, 24};
    uint32_t nsec = get32(b + 16);
    for (uint32_t i = 0; i < nsec && fix_section(&c); i++)
        ;
}

/* What `charlstm info` reads of a loaded file. */
static void walk(const cl_ckpt *ck)
{
    char buf[256];
    cl_ckpt_tensor_info t;
    for (int i = 0; i < cl_ckpt_nsections(ck); i++) {
        const cl_ckpt_section *s = cl_ckpt_section_at(ck, i);
        for (int k = 0; k < cl_ckpt_nkeys(s); k++)
            cl_ckpt_key_format(s, k, buf, sizeof buf);
        for (int k = 0; k < cl_ckpt_ntensors(s); k++)
            cl_ckpt_tensor_at(s, k, &t);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *b = malloc(size ? size : 1);
    if (!b)
        return 0;
    memcpy(b, data, size);
    fix_crcs(b, size);
    cl_ckpt *ck;
    cl_model *m;
    cl_diag d = {{0}};
    if (cl_ckpt_load_mem(&ck, b, size, "fuzz.model", &d) == 0) {
        walk(ck);
        if (cl_model_from_ckpt(&m, ck, "fuzz.model", &d) == 0)
            cl_model_free(m);
        cl_ckpt_free(ck);
    }
    free(b);
    return 0;
}
