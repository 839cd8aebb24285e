/* cl_ckpt: writer, validating loader and accessors of the model file.
 * The byte layout is specified in docs/model-format.md. */
#include "cl_ckpt.h"
#include "cl_params.h" /* cl_alloc */

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <utf8proc.h>
#include <zlib.h>

static const char MAGIC[8] = {'C', 'H', 'A', 'R', 'L', 'S', 'T', 'M'};
#define BOM 0x01020304u
#define HEADER_SIZE 24
/* Smallest possible encodings, used to bound counts read from a file
 * before anything is allocated for them. */
#define MIN_SECTION (4 + 1 + 8 + 4 + 4 + 8) /* header with 1-byte name + empty payload */
#define MIN_KV (4 + 1 + 1 + 4)              /* 1-byte key, empty string */
#define MIN_TENSOR (4 + 1 + 1 + 4 + 8 + 4)  /* 1-byte name, 1 dim, no data */
#define SECTION_HDR_MAX (4 + CL_CKPT_NAME_MAX + 8 + 4 + 4)
#define TENSOR_HDR_MAX (4 + CL_CKPT_NAME_MAX + 1 + 4 + 8 * CL_CKPT_MAX_DIMS + 4)
#define CHUNK 4096 /* elements converted per step when (de)coding tensors */

/* ======================================================================
 * Little-endian encoding, checksums, names
 * ====================================================================== */

static void put_u32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static void put_u64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t get_u32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get_u64(const unsigned char *p)
{
    return (uint64_t)get_u32(p) | (uint64_t)get_u32(p + 4) << 32;
}

/* zlib's crc32 takes a 32-bit length; files and tensors may be larger. */
static uint32_t crc_buf(uint32_t crc, const void *p, uint64_t n)
{
    const unsigned char *b = p;
    while (n > 0) {
        uInt k = n > (1u << 30) ? (1u << 30) : (uInt)n;
        crc = (uint32_t)crc32(crc, b, k);
        b += k;
        n -= k;
    }
    return crc;
}

/* Zero bytes needed after file offset off to reach the next multiple of 64. */
static unsigned pad_to_align(uint64_t off)
{
    return (unsigned)((CL_CKPT_ALIGN - off % CL_CKPT_ALIGN) % CL_CKPT_ALIGN);
}

/* Valid UTF-8 without NUL (values come back as C strings). */
static int utf8_ok(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        utf8proc_int32_t c;
        utf8proc_ssize_t k = utf8proc_iterate(s + i, (utf8proc_ssize_t)(n - i), &c);
        if (k <= 0 || c == 0)
            return 0;
        i += (size_t)k;
    }
    return 1;
}

/* 4-byte elements (f32 bits or i32) to little-endian bytes and back. */
static void encode4(unsigned char *out, const void *src, size_t n)
{
    const unsigned char *s = src;
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, s + 4 * i, 4);
        put_u32(out + 4 * i, u);
    }
}

static void decode4(void *dst, const unsigned char *in, uint64_t n)
{
    unsigned char *o = dst;
    for (uint64_t i = 0; i < n; i++) {
        uint32_t u = get_u32(in + 4 * i);
        memcpy(o + 4 * i, &u, 4);
    }
}

/* Elements of a shape, or -1 if a dimension is negative or the byte size
 * (elements * 4) would exceed limit. */
static int64_t shape_elems(int ndim, const int64_t *shape, uint64_t limit)
{
    uint64_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0)
            return -1;
        if (shape[i] != 0 && n > limit / 4 / (uint64_t)shape[i])
            return -1;
        n *= (uint64_t)shape[i];
    }
    return (int64_t)n;
}

static void format_shape(char *buf, size_t size, int ndim, const int64_t *shape)
{
    size_t len = (size_t)snprintf(buf, size, "[");
    for (int i = 0; i < ndim && len < size; i++)
        len += (size_t)snprintf(buf + len, size - len, i ? ", %" PRId64 : "%" PRId64, shape[i]);
    if (len < size)
        snprintf(buf + len, size - len, "]");
}

/* ---- duplicate names in linear time ----------------------------------- */

/* A hash set over names that live in someone else's array, name i at
 * base + i * stride: 80,000 keys are checked in milliseconds (a pairwise
 * check took 21 s).  Open addressing; slots hold index + 1, 0 = empty. */
typedef struct {
    const char *base;
    size_t stride;
    uint32_t *slot;
    uint32_t mask; /* slots - 1; a power of two at least twice the names */
} nameset;

static uint32_t name_hash(const char *s)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

/* Room for n names (slots zeroed); base/stride set by the caller. */
static int nameset_init(nameset *h, uint32_t n)
{
    uint32_t cap = 16;
    while (cap < 2 * (uint64_t)n)
        cap *= 2;
    free(h->slot);
    h->slot = calloc(cap, sizeof *h->slot);
    h->mask = cap - 1;
    return h->slot ? 0 : CL_ENOMEM;
}

/* Where name belongs: its own slot if present, else the empty slot to use. */
static uint32_t nameset_probe(const nameset *h, const char *name)
{
    uint32_t i = name_hash(name) & h->mask;
    while (h->slot[i] && strcmp(h->base + (h->slot[i] - 1) * h->stride, name) != 0)
        i = (i + 1) & h->mask;
    return i;
}

/* Insert name number idx; 1 if an equal name is already in (then not added). */
static int nameset_add(nameset *h, uint32_t idx)
{
    uint32_t i = nameset_probe(h, h->base + idx * h->stride);
    if (h->slot[i])
        return 1;
    h->slot[i] = idx + 1;
    return 0;
}

/* The growable list of names a writer has used, with its set. */
typedef struct {
    char (*v)[CL_CKPT_NAME_MAX + 1];
    int n, cap;
    nameset set;
} namelist;

static int names_has(const namelist *l, const char *name)
{
    return l->n && l->set.slot[nameset_probe(&l->set, name)] != 0;
}

/* Forget the names (a new section's keys), keeping the memory. */
static void names_clear(namelist *l)
{
    if (l->set.slot)
        memset(l->set.slot, 0, ((size_t)l->set.mask + 1) * sizeof *l->set.slot);
    l->n = 0;
}

/* The array moved or the set is full: rebuild the set over the array. */
static int names_rehash(namelist *l)
{
    l->set.base = l->v[0];
    l->set.stride = sizeof *l->v;
    if (nameset_init(&l->set, (uint32_t)l->cap))
        return CL_ENOMEM;
    for (int i = 0; i < l->n; i++)
        nameset_add(&l->set, (uint32_t)i);
    return 0;
}

static int names_add(namelist *l, const char *name)
{
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 16;
        void *v = realloc(l->v, (size_t)cap * sizeof *l->v);
        if (!v)
            return CL_ENOMEM;
        l->v = v;
        l->cap = cap;
        if (names_rehash(l))
            return CL_ENOMEM;
    }
    snprintf(l->v[l->n], sizeof *l->v, "%s", name);
    nameset_add(&l->set, (uint32_t)l->n++);
    return 0;
}

static void names_free(namelist *l)
{
    free(l->v);
    free(l->set.slot);
}

/* ======================================================================
 * Writer
 * ====================================================================== */

struct cl_ckpt_writer {
    FILE *f;
    char *path, *tmp;
    uint64_t off; /* bytes written = current file offset */
    int err;      /* first error; sticky */
    cl_diag diag;
    namelist sections;
    /* The open section. */
    int in_section;
    char name[CL_CKPT_NAME_MAX + 1];
    uint64_t hdr_off, pay_off; /* where its header and its payload start */
    unsigned char *kv;         /* encoded entries, written before the first tensor */
    size_t kvlen, kvcap;
    uint32_t nkv, ntensors;
    namelist keys, tensors;
    /* Tensors follow the tensor count, which is patched at the end: the
     * payload CRC is combined from the parts before and after it. */
    int kv_flushed;
    uint64_t tcount_off, len_post;
    uint32_t crc_pre, crc_post;
};

static int w_fail(cl_ckpt_writer *w, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int w_fail(cl_ckpt_writer *w, int err, const char *fmt, ...)
{
    if (!w->err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(w->diag.msg, sizeof w->diag.msg, fmt, ap);
        va_end(ap);
        w->err = err;
    }
    return w->err;
}

static int w_io(cl_ckpt_writer *w, const char *what)
{
    return w_fail(w, CL_EIO, "%s: %s %s: %s", w->path, what, w->tmp, strerror(errno));
}

/* Append bytes to the file; tensor bytes also feed the running CRC. */
static int w_raw(cl_ckpt_writer *w, const void *p, size_t n)
{
    if (w->err)
        return w->err;
    if (n && fwrite(p, 1, n, w->f) != n)
        return w_io(w, "cannot write");
    w->off += n;
    if (w->kv_flushed) {
        w->crc_post = crc_buf(w->crc_post, p, n);
        w->len_post += n;
    }
    return 0;
}

static int w_pad(cl_ckpt_writer *w)
{
    static const unsigned char zeros[CL_CKPT_ALIGN];
    return w_raw(w, zeros, pad_to_align(w->off));
}

/* Overwrite bytes written earlier (counts, lengths, CRCs) and come back. */
static int w_patch(cl_ckpt_writer *w, uint64_t at, const void *p, size_t n)
{
    if (w->err)
        return w->err;
    if (fseeko(w->f, (off_t)at, SEEK_SET) != 0 || fwrite(p, 1, n, w->f) != n ||
        fseeko(w->f, (off_t)w->off, SEEK_SET) != 0)
        return w_io(w, "cannot write");
    return 0;
}

static int w_check_name(cl_ckpt_writer *w, const char *what, const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > CL_CKPT_NAME_MAX)
        return w_fail(w, CL_EINVAL, "%s: %s name '%s' must have 1 to %d bytes", w->path, what,
                      name, CL_CKPT_NAME_MAX);
    if (!utf8_ok((const unsigned char *)name, n))
        return w_fail(w, CL_EUTF8, "%s: %s name is not valid UTF-8", w->path, what);
    return 0;
}

static void header_bytes(unsigned char *h, uint32_t nsections)
{
    memcpy(h, MAGIC, 8);
    put_u32(h + 8, CL_CKPT_VERSION);
    put_u32(h + 12, BOM);
    put_u32(h + 16, nsections);
    put_u32(h + 20, crc_buf(0, h, 20));
}

static int w_create(cl_ckpt_writer *w)
{
    struct stat st;
    int fd = open(w->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (fd < 0)
        return w_io(w, "cannot create");
    /* Best effort: a replaced model keeps its permissions. */
    if (stat(w->path, &st) == 0 && S_ISREG(st.st_mode))
        (void)fchmod(fd, st.st_mode & 07777);
    w->f = fdopen(fd, "wb");
    if (!w->f) {
        int e = errno;
        close(fd);
        unlink(w->tmp);
        errno = e;
        return w_io(w, "cannot open");
    }
    unsigned char h[HEADER_SIZE];
    header_bytes(h, 0); /* placeholder, rewritten by commit */
    return w_raw(w, h, sizeof h);
}

/* Is name "BASE.tmp.PID" for a PID that no longer runs (not ours)?  A PID
 * reused by another process keeps its file: never remove a live save. */
static int stale_tmp(const char *name, const char *base, size_t blen)
{
    if (strncmp(name, base, blen) != 0 || strncmp(name + blen, ".tmp.", 5) != 0)
        return 0;
    const char *num = name + blen + 5;
    char *end;
    long pid = strtol(num, &end, 10);
    if (!isdigit((unsigned char)*num) || *end || pid <= 0 || pid == (long)getpid())
        return 0;
    return kill((pid_t)pid, 0) != 0 && errno == ESRCH;
}

/* Temporary files of saves of PATH that were killed (kill -9, power cut)
 * would pile up next to the model: remove them.  Best effort. */
static void remove_stale_tmps(const char *path)
{
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    char *dir = slash ? strndup(path, (size_t)(slash - path) + 1) : strdup(".");
    DIR *dp = dir ? opendir(dir) : NULL;
    struct dirent *e;
    while (dp && (e = readdir(dp)))
        if (stale_tmp(e->d_name, base, strlen(base)))
            (void)unlinkat(dirfd(dp), e->d_name, 0);
    if (dp)
        closedir(dp);
    free(dir);
}

int cl_ckpt_writer_open(cl_ckpt_writer **out, const char *path, cl_diag *d)
{
    *out = NULL;
    cl_ckpt_writer *w = calloc(1, sizeof *w);
    size_t n = strlen(path) + 32;
    if (w) {
        w->path = strdup(path);
        w->tmp = malloc(n);
    }
    if (!w || !w->path || !w->tmp) {
        cl_ckpt_writer_abort(w);
        return cl_diag_set(d, CL_ENOMEM, "%s: out of memory", path);
    }
    snprintf(w->tmp, n, "%s.tmp.%ld", path, (long)getpid());
    /* The rename would replace a FIFO, a device (as root: /dev/null) or an
     * empty directory with the model. */
    struct stat st;
    if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
        cl_ckpt_writer_abort(w);
        return cl_diag_set(d, CL_EIO, "%s: exists and is not a regular file, not replaced", path);
    }
    remove_stale_tmps(path);
    int rc = w_create(w);
    if (rc) {
        cl_diag_set(d, rc, "%s", w->diag.msg);
        cl_ckpt_writer_abort(w);
        return rc;
    }
    *out = w;
    return 0;
}

static void w_free(cl_ckpt_writer *w)
{
    free(w->path);
    free(w->tmp);
    free(w->kv);
    names_free(&w->sections);
    names_free(&w->keys);
    names_free(&w->tensors);
    free(w);
}

void cl_ckpt_writer_abort(cl_ckpt_writer *w)
{
    if (!w)
        return;
    if (w->f) {
        fclose(w->f);
        unlink(w->tmp);
    }
    w_free(w);
}

/* ---- sections ---------------------------------------------------------- */

/* u32 name length, name, u64 payload length, u32 payload CRC, u32 CRC of
 * the preceding fields.  Returns the number of bytes. */
static size_t section_header(unsigned char *h, const char *name, uint64_t len, uint32_t crc)
{
    size_t n = strlen(name);
    put_u32(h, (uint32_t)n);
    memcpy(h + 4, name, n);
    put_u64(h + 4 + n, len);
    put_u32(h + 12 + n, crc);
    put_u32(h + 16 + n, crc_buf(0, h, 16 + n));
    return 20 + n;
}

static int w_section_ok(cl_ckpt_writer *w, const char *name)
{
    if (w->err)
        return w->err;
    if (w->in_section)
        return w_fail(w, CL_EINVAL, "%s: section '%s' begun inside section '%s'", w->path, name,
                      w->name);
    if (w_check_name(w, "section", name))
        return w->err;
    if (names_has(&w->sections, name))
        return w_fail(w, CL_EINVAL, "%s: duplicate section '%s'", w->path, name);
    if (names_add(&w->sections, name))
        return w_fail(w, CL_ENOMEM, "%s: out of memory", w->path);
    return 0;
}

int cl_ckpt_section_begin(cl_ckpt_writer *w, const char *name)
{
    unsigned char h[SECTION_HDR_MAX];
    if (w_section_ok(w, name))
        return w->err;
    w->in_section = 1;
    snprintf(w->name, sizeof w->name, "%s", name);
    w->hdr_off = w->off;
    w->kvlen = 0;
    w->nkv = w->ntensors = 0;
    names_clear(&w->keys);
    names_clear(&w->tensors);
    w->kv_flushed = 0;
    w->crc_post = 0;
    w->len_post = 0;
    if (w_raw(w, h, section_header(h, name, 0, 0)) || w_pad(w))
        return w->err;
    w->pay_off = w->off;
    return 0;
}

/* Write the key/value block and a placeholder tensor count. */
static int w_flush_kv(cl_ckpt_writer *w)
{
    unsigned char c[4];
    put_u32(c, w->nkv);
    if (w_raw(w, c, 4) || w_raw(w, w->kv, w->kvlen))
        return w->err;
    w->crc_pre = crc_buf(crc_buf(0, c, 4), w->kv, w->kvlen);
    w->tcount_off = w->off;
    put_u32(c, 0);
    if (w_raw(w, c, 4))
        return w->err;
    w->kv_flushed = 1;
    return 0;
}

int cl_ckpt_section_end(cl_ckpt_writer *w)
{
    unsigned char c[4], h[SECTION_HDR_MAX];
    if (w->err)
        return w->err;
    if (!w->in_section)
        return w_fail(w, CL_EINVAL, "%s: section_end without section_begin", w->path);
    if (!w->kv_flushed && w_flush_kv(w))
        return w->err;
    put_u32(c, w->ntensors);
    uint32_t crc = (uint32_t)crc32_combine(w->crc_pre, crc_buf(0, c, 4), 4);
    crc = (uint32_t)crc32_combine(crc, w->crc_post, (z_off_t)w->len_post);
    size_t hn = section_header(h, w->name, w->off - w->pay_off, crc);
    if (w_patch(w, w->tcount_off, c, 4) || w_patch(w, w->hdr_off, h, hn))
        return w->err;
    w->in_section = 0;
    w->kv_flushed = 0;
    return 0;
}

/* ---- key/value entries ------------------------------------------------- */

static int kv_append(cl_ckpt_writer *w, const void *p, size_t n)
{
    if (n > w->kvcap - w->kvlen) {
        size_t cap = w->kvcap ? w->kvcap : 256;
        while (cap - w->kvlen < n) {
            if (cap > SIZE_MAX / 2)
                return w_fail(w, CL_ENOMEM, "%s: out of memory", w->path);
            cap *= 2;
        }
        void *kv = realloc(w->kv, cap);
        if (!kv)
            return w_fail(w, CL_ENOMEM, "%s: out of memory", w->path);
        w->kv = kv;
        w->kvcap = cap;
    }
    memcpy(w->kv + w->kvlen, p, n);
    w->kvlen += n;
    return 0;
}

static int kv_u32(cl_ckpt_writer *w, uint32_t v)
{
    unsigned char b[4];
    put_u32(b, v);
    return kv_append(w, b, 4);
}

/* u32 length + bytes of a UTF-8 string value. */
static int kv_string(cl_ckpt_writer *w, const char *key, const char *s)
{
    size_t n = strlen(s);
    if (n > UINT32_MAX)
        return w_fail(w, CL_EINVAL, "%s: value of '%s' is too long", w->path, key);
    if (!utf8_ok((const unsigned char *)s, n))
        return w_fail(w, CL_EUTF8, "%s: value of '%s' in section '%s' is not valid UTF-8",
                      w->path, key, w->name);
    if (kv_u32(w, (uint32_t)n))
        return w->err;
    return kv_append(w, s, n);
}

/* Checks common to every put, then the key and its type code. */
static int kv_begin(cl_ckpt_writer *w, const char *key, unsigned char type)
{
    if (w->err)
        return w->err;
    if (!w->in_section)
        return w_fail(w, CL_EINVAL, "%s: key '%s' outside a section", w->path, key);
    if (w->kv_flushed)
        return w_fail(w, CL_EINVAL, "%s: key '%s' after the tensors of section '%s'", w->path,
                      key, w->name);
    if (w_check_name(w, "key", key))
        return w->err;
    if (names_has(&w->keys, key))
        return w_fail(w, CL_EINVAL, "%s: duplicate key '%s' in section '%s'", w->path, key,
                      w->name);
    if (names_add(&w->keys, key) || kv_u32(w, (uint32_t)strlen(key)) ||
        kv_append(w, key, strlen(key)) || kv_append(w, &type, 1))
        return w_fail(w, CL_ENOMEM, "%s: out of memory", w->path);
    w->nkv++;
    return 0;
}

int cl_ckpt_put_i64(cl_ckpt_writer *w, const char *key, int64_t v)
{
    unsigned char b[8];
    put_u64(b, (uint64_t)v);
    if (kv_begin(w, key, CL_CKPT_I64))
        return w->err;
    return kv_append(w, b, 8);
}

int cl_ckpt_put_f64(cl_ckpt_writer *w, const char *key, double v)
{
    unsigned char b[8];
    uint64_t bits;
    memcpy(&bits, &v, 8);
    put_u64(b, bits);
    if (kv_begin(w, key, CL_CKPT_F64))
        return w->err;
    return kv_append(w, b, 8);
}

int cl_ckpt_put_str(cl_ckpt_writer *w, const char *key, const char *s)
{
    if (kv_begin(w, key, CL_CKPT_STR))
        return w->err;
    return kv_string(w, key, s);
}

int cl_ckpt_put_strs(cl_ckpt_writer *w, const char *key, const char *const *s, int n)
{
    if (kv_begin(w, key, CL_CKPT_STRS))
        return w->err;
    if (n < 0)
        return w_fail(w, CL_EINVAL, "%s: negative count for '%s'", w->path, key);
    if (kv_u32(w, (uint32_t)n))
        return w->err;
    for (int i = 0; i < n; i++)
        if (kv_string(w, key, s[i]))
            return w->err;
    return 0;
}

/* ---- tensors ----------------------------------------------------------- */

static int w_tensor_ok(cl_ckpt_writer *w, const char *name, int ndim, const int64_t *shape)
{
    if (w->err)
        return w->err;
    if (!w->in_section)
        return w_fail(w, CL_EINVAL, "%s: tensor '%s' outside a section", w->path, name);
    if (w_check_name(w, "tensor", name))
        return w->err;
    if (ndim < 1 || ndim > CL_CKPT_MAX_DIMS)
        return w_fail(w, CL_EINVAL, "%s: tensor '%s' has %d dimensions (1 to %d allowed)",
                      w->path, name, ndim, CL_CKPT_MAX_DIMS);
    if (shape_elems(ndim, shape, SIZE_MAX) < 0)
        return w_fail(w, CL_EINVAL, "%s: tensor '%s' has a negative or too large shape",
                      w->path, name);
    if (names_has(&w->tensors, name))
        return w_fail(w, CL_EINVAL, "%s: duplicate tensor '%s' in section '%s'", w->path, name,
                      w->name);
    if (names_add(&w->tensors, name))
        return w_fail(w, CL_ENOMEM, "%s: out of memory", w->path);
    return 0;
}

/* CRC of n elements as they will be stored (little-endian). */
static uint32_t data_crc(const void *data, size_t n)
{
    unsigned char buf[4 * CHUNK];
    uint32_t crc = 0;
    for (size_t i = 0; i < n; i += CHUNK) {
        size_t k = n - i < CHUNK ? n - i : CHUNK;
        encode4(buf, (const unsigned char *)data + 4 * i, k);
        crc = crc_buf(crc, buf, 4 * k);
    }
    return crc;
}

static int w_data(cl_ckpt_writer *w, const void *data, size_t n)
{
    unsigned char buf[4 * CHUNK];
    for (size_t i = 0; i < n; i += CHUNK) {
        size_t k = n - i < CHUNK ? n - i : CHUNK;
        encode4(buf, (const unsigned char *)data + 4 * i, k);
        if (w_raw(w, buf, 4 * k))
            return w->err;
    }
    return 0;
}

static int put_tensor(cl_ckpt_writer *w, const char *name, unsigned char dtype, int ndim,
                      const int64_t *shape, const void *data)
{
    unsigned char h[TENSOR_HDR_MAX];
    if (w_tensor_ok(w, name, ndim, shape) || (!w->kv_flushed && w_flush_kv(w)))
        return w->err;
    size_t n = (size_t)shape_elems(ndim, shape, SIZE_MAX), len = strlen(name);
    put_u32(h, (uint32_t)len);
    memcpy(h + 4, name, len);
    h[4 + len] = dtype;
    put_u32(h + 5 + len, (uint32_t)ndim);
    size_t k = 9 + len;
    for (int i = 0; i < ndim; i++, k += 8)
        put_u64(h + k, (uint64_t)shape[i]);
    put_u32(h + k, data_crc(data, n));
    if (w_raw(w, h, k + 4) || w_pad(w) || w_data(w, data, n))
        return w->err;
    w->ntensors++;
    return 0;
}

int cl_ckpt_put_f32(cl_ckpt_writer *w, const char *name, int ndim, const int64_t *shape,
                    const float *data)
{
    return put_tensor(w, name, CL_CKPT_F32, ndim, shape, data);
}

int cl_ckpt_put_i32(cl_ckpt_writer *w, const char *name, int ndim, const int64_t *shape,
                    const int32_t *data)
{
    return put_tensor(w, name, CL_CKPT_I32, ndim, shape, data);
}

/* ---- commit ------------------------------------------------------------ */

/* Data and metadata on disk before the rename makes the file visible. */
static int w_finish_file(cl_ckpt_writer *w)
{
    unsigned char h[HEADER_SIZE];
    header_bytes(h, (uint32_t)w->sections.n);
    if (w_patch(w, 0, h, sizeof h))
        return w->err;
    if (fflush(w->f) != 0)
        return w_io(w, "cannot write");
    if (fsync(fileno(w->f)) != 0)
        return w_io(w, "cannot sync");
    FILE *f = w->f;
    w->f = NULL; /* closed even if fclose fails */
    if (fclose(f) != 0) {
        w_io(w, "cannot close");
        unlink(w->tmp);
        return w->err;
    }
    return 0;
}

/* Make the rename itself durable.  Some file systems cannot fsync a
 * directory (EINVAL); the data is safe there anyway. */
static int w_sync_dir(cl_ckpt_writer *w)
{
    const char *slash = strrchr(w->path, '/');
    char *dir = slash ? strndup(w->path, (size_t)(slash - w->path) + 1) : strdup(".");
    if (!dir)
        return w_fail(w, CL_ENOMEM, "%s: out of memory", w->path);
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc = 0;
    if (fd < 0 || (fsync(fd) != 0 && errno != EINVAL))
        rc = w_fail(w, CL_EIO, "%s: saved, but cannot sync directory %s: %s", w->path, dir,
                    strerror(errno));
    if (fd >= 0)
        close(fd);
    free(dir);
    return rc;
}

int cl_ckpt_writer_commit(cl_ckpt_writer *w, cl_diag *d)
{
    if (!w->err && w->in_section)
        w_fail(w, CL_EINVAL, "%s: section '%s' was not ended", w->path, w->name);
    if (!w->err)
        w_finish_file(w);
    if (!w->err && rename(w->tmp, w->path) != 0) {
        w_fail(w, CL_EIO, "%s: cannot rename %s to it: %s", w->path, w->tmp, strerror(errno));
        unlink(w->tmp);
    }
    if (w->err) {
        int rc = cl_diag_set(d, w->err, "%s", w->diag.msg);
        cl_ckpt_writer_abort(w);
        return rc;
    }
    int rc = w_sync_dir(w);
    if (rc)
        cl_diag_set(d, rc, "%s", w->diag.msg);
    w_free(w);
    return rc;
}

/* ======================================================================
 * Loaded file
 * ====================================================================== */

typedef struct {
    char key[CL_CKPT_NAME_MAX + 1];
    int type;
    int64_t i;
    double f;
    char *s;
    char **strs;
    uint32_t n;
} kvent;

typedef struct {
    char name[CL_CKPT_NAME_MAX + 1];
    int dtype, ndim;
    int64_t shape[CL_CKPT_MAX_DIMS];
    uint64_t nbytes;
    const unsigned char *data;
} tensor;

struct cl_ckpt_section {
    char name[CL_CKPT_NAME_MAX + 1];
    const cl_ckpt *ck;
    kvent *kv;
    tensor *t;
    uint32_t nkv, nt;
    const unsigned char *payload;
    uint64_t len;
    uint32_t crc;
};

struct cl_ckpt {
    unsigned char *buf; /* the whole file, 64-byte aligned */
    uint64_t size;
    char *path;
    cl_ckpt_section *s;
    uint32_t ns;
};

static void section_clear(cl_ckpt_section *s)
{
    for (uint32_t i = 0; s->kv && i < s->nkv; i++) {
        free(s->kv[i].s);
        for (uint32_t j = 0; s->kv[i].strs && j < s->kv[i].n; j++)
            free(s->kv[i].strs[j]);
        free(s->kv[i].strs);
    }
    free(s->kv);
    free(s->t);
    s->kv = NULL;
    s->t = NULL;
}

void cl_ckpt_free(cl_ckpt *ck)
{
    if (!ck)
        return;
    for (uint32_t i = 0; ck->s && i < ck->ns; i++)
        section_clear(&ck->s[i]);
    free(ck->s);
    free(ck->buf);
    free(ck->path);
    free(ck);
}

/* ---- bounds-checked reading -------------------------------------------- */

/* A cursor over [off, end) of the file.  Running out of bytes at the top
 * level means the file is truncated; inside a section payload (whose length
 * and CRC were already verified) it means inconsistent lengths. */
typedef struct {
    const unsigned char *buf;
    uint64_t off, end;
    const char *file;
    const char *section; /* NULL at the top level */
    cl_diag *d;
} rd;

static int rd_need(rd *r, uint64_t n, const char *what)
{
    if (r->end - r->off >= n)
        return 0;
    if (!r->section)
        return cl_diag_set(r->d, CL_ETRUNC,
                           "%s: truncated at byte %" PRIu64 ": %s needs %" PRIu64
                           " bytes, the file ends after %" PRIu64,
                           r->file, r->off, what, n, r->end - r->off);
    return cl_diag_set(r->d, CL_EFORMAT,
                       "%s: byte %" PRIu64 ": %s (%" PRIu64
                       " bytes) runs past the end of section '%s'",
                       r->file, r->off, what, n, r->section);
}

static int rd_u8(rd *r, const char *what, unsigned *v)
{
    int rc = rd_need(r, 1, what);
    if (rc)
        return rc;
    *v = r->buf[r->off++];
    return 0;
}

static int rd_u32(rd *r, const char *what, uint32_t *v)
{
    int rc = rd_need(r, 4, what);
    if (rc)
        return rc;
    *v = get_u32(r->buf + r->off);
    r->off += 4;
    return 0;
}

static int rd_u64(rd *r, const char *what, uint64_t *v)
{
    int rc = rd_need(r, 8, what);
    if (rc)
        return rc;
    *v = get_u64(r->buf + r->off);
    r->off += 8;
    return 0;
}

/* Pointer to n bytes, advancing the cursor. */
static int rd_bytes(rd *r, uint64_t n, const char *what, const unsigned char **p)
{
    int rc = rd_need(r, n, what);
    if (rc)
        return rc;
    *p = r->buf + r->off;
    r->off += n;
    return 0;
}

static int rd_fail(rd *r, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* "FILE: byte N: [section 'S': ]message" */
static int rd_fail(rd *r, int err, const char *fmt, ...)
{
    char m[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(m, sizeof m, fmt, ap);
    va_end(ap);
    if (r->section)
        return cl_diag_set(r->d, err, "%s: byte %" PRIu64 ": section '%s': %s", r->file, r->off,
                           r->section, m);
    return cl_diag_set(r->d, err, "%s: byte %" PRIu64 ": %s", r->file, r->off, m);
}

/* Zero bytes up to the next 64-byte file offset. */
static int rd_pad(rd *r)
{
    const unsigned char *p;
    unsigned n = pad_to_align(r->off);
    int rc = rd_bytes(r, n, "alignment padding", &p);
    for (unsigned i = 0; !rc && i < n; i++)
        if (p[i])
            return rd_fail(r, CL_EFORMAT, "non-zero alignment padding");
    return rc;
}

/* u32 length + 1..63 name bytes, copied to out; *p, *n give the raw bytes
 * (which may hold a NUL) so that the caller can check them. */
static int rd_name_raw(rd *r, const char *what, char out[CL_CKPT_NAME_MAX + 1],
                       const unsigned char **p, uint32_t *n)
{
    int rc = rd_u32(r, what, n);
    if (rc)
        return rc;
    if (*n == 0 || *n > CL_CKPT_NAME_MAX)
        return rd_fail(r, CL_EFORMAT, "%s length %" PRIu32 " (1 to %d allowed)", what, *n,
                       CL_CKPT_NAME_MAX);
    if ((rc = rd_bytes(r, *n, what, p)))
        return rc;
    memcpy(out, *p, *n);
    out[*n] = 0;
    return 0;
}

/* u32 length + 1..63 bytes of UTF-8. */
static int rd_name(rd *r, const char *what, char out[CL_CKPT_NAME_MAX + 1])
{
    const unsigned char *p;
    uint32_t n;
    int rc = rd_name_raw(r, what, out, &p, &n);
    if (!rc && !utf8_ok(p, n))
        return rd_fail(r, CL_EUTF8, "%s is not valid UTF-8", what);
    return rc;
}

/* u32 length + UTF-8 bytes, copied to a new C string. */
static int rd_string(rd *r, char **out)
{
    uint32_t n;
    const unsigned char *p;
    int rc = rd_u32(r, "string length", &n);
    if (rc || (rc = rd_bytes(r, n, "string", &p)))
        return rc;
    if (!utf8_ok(p, n))
        return rd_fail(r, CL_EUTF8, "string value is not valid UTF-8");
    if (!(*out = malloc((size_t)n + 1)))
        return cl_diag_set(r->d, CL_ENOMEM, "%s: out of memory", r->file);
    memcpy(*out, p, n);
    (*out)[n] = 0;
    return 0;
}

/* A count of things of at least min_size bytes each, checked against the
 * bytes left before it is used to size an allocation. */
static int check_count(rd *r, const char *what, uint64_t min_size, uint32_t n)
{
    if (n <= (r->end - r->off) / min_size)
        return 0;
    if (r->section)
        return rd_fail(r, CL_EFORMAT, "%" PRIu32 " %s cannot fit in the %" PRIu64
                       " bytes left", n, what, r->end - r->off);
    return cl_diag_set(r->d, CL_ETRUNC, "%s: truncated at byte %" PRIu64 ": %" PRIu32
                       " %s need at least %" PRIu64 " bytes, the file ends after %" PRIu64,
                       r->file, r->off, n, what, (uint64_t)n * min_size, r->end - r->off);
}

static int rd_count(rd *r, const char *what, uint64_t min_size, uint32_t *n)
{
    int rc = rd_u32(r, "count", n);
    return rc ? rc : check_count(r, what, min_size, *n);
}

static void *rd_calloc(rd *r, uint32_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size);
    if (!p)
        cl_diag_set(r->d, CL_ENOMEM, "%s: out of memory", r->file);
    return p;
}

/* ---- section payload --------------------------------------------------- */

static int rd_strs(rd *r, kvent *e)
{
    int rc = rd_count(r, "strings", 4, &e->n);
    if (rc)
        return rc;
    if (!(e->strs = rd_calloc(r, e->n, sizeof *e->strs)))
        return CL_ENOMEM;
    for (uint32_t i = 0; i < e->n; i++)
        if ((rc = rd_string(r, &e->strs[i])))
            return rc;
    return 0;
}

static int rd_value(rd *r, kvent *e)
{
    uint64_t bits;
    int rc;
    switch (e->type) {
    case CL_CKPT_I64:
        rc = rd_u64(r, "i64 value", &bits);
        e->i = (int64_t)bits;
        return rc;
    case CL_CKPT_F64:
        rc = rd_u64(r, "f64 value", &bits);
        memcpy(&e->f, &bits, 8);
        return rc;
    case CL_CKPT_STR:
        return rd_string(r, &e->s);
    case CL_CKPT_STRS:
        return rd_strs(r, e);
    default:
        return rd_fail(r, CL_EFORMAT, "key '%s' has unknown type code %d", e->key, e->type);
    }
}

/* A set over n names at base + i * stride, for the duplicate checks. */
static int rd_nameset(rd *r, nameset *h, const char *base, size_t stride, uint32_t n)
{
    *h = (nameset){base, stride, NULL, 0};
    if (!nameset_init(h, n))
        return 0;
    return cl_diag_set(r->d, CL_ENOMEM, "%s: out of memory", r->file);
}

static int rd_kv_entries(rd *r, cl_ckpt_section *s, nameset *seen)
{
    int rc;
    for (uint32_t i = 0; i < s->nkv; i++) {
        kvent *e = &s->kv[i];
        unsigned type;
        if ((rc = rd_name(r, "key", e->key)) || (rc = rd_u8(r, "type code", &type)))
            return rc;
        e->type = (int)type;
        if (nameset_add(seen, i))
            return rd_fail(r, CL_EFORMAT, "duplicate key '%s'", e->key);
        if ((rc = rd_value(r, e)))
            return rc;
    }
    return 0;
}

static int rd_kvs(rd *r, cl_ckpt_section *s)
{
    nameset seen;
    int rc = rd_count(r, "keys", MIN_KV, &s->nkv);
    if (rc)
        return rc;
    if (!(s->kv = rd_calloc(r, s->nkv, sizeof *s->kv)))
        return CL_ENOMEM;
    if ((rc = rd_nameset(r, &seen, s->kv[0].key, sizeof *s->kv, s->nkv)))
        return rc;
    rc = rd_kv_entries(r, s, &seen);
    free(seen.slot);
    return rc;
}

/* dtype, ndim, dims and the data size they imply. */
static int rd_tensor_shape(rd *r, tensor *t)
{
    unsigned dtype;
    uint32_t ndim;
    uint64_t dim;
    int rc = rd_u8(r, "dtype", &dtype);
    if (rc || (rc = rd_u32(r, "ndim", &ndim)))
        return rc;
    if (dtype != CL_CKPT_F32 && dtype != CL_CKPT_I32)
        return rd_fail(r, CL_EFORMAT, "tensor '%s' has unknown dtype %u", t->name, dtype);
    if (ndim < 1 || ndim > CL_CKPT_MAX_DIMS)
        return rd_fail(r, CL_EFORMAT, "tensor '%s' has %" PRIu32 " dimensions (1 to %d allowed)",
                       t->name, ndim, CL_CKPT_MAX_DIMS);
    t->dtype = (int)dtype;
    t->ndim = (int)ndim;
    for (int i = 0; i < t->ndim; i++) {
        if ((rc = rd_u64(r, "dimension", &dim)))
            return rc;
        if (dim > INT64_MAX)
            return rd_fail(r, CL_EFORMAT, "tensor '%s' has dimension %" PRIu64, t->name, dim);
        t->shape[i] = (int64_t)dim;
    }
    int64_t n = shape_elems(t->ndim, t->shape, r->end - r->off);
    if (n < 0)
        return rd_fail(r, CL_EFORMAT, "tensor '%s' is larger than its section", t->name);
    t->nbytes = 4 * (uint64_t)n;
    return 0;
}

static int rd_tensor(rd *r, tensor *t)
{
    uint32_t crc;
    int rc = rd_name(r, "tensor name", t->name);
    if (rc || (rc = rd_tensor_shape(r, t)) || (rc = rd_u32(r, "tensor CRC", &crc)) ||
        (rc = rd_pad(r)) || (rc = rd_bytes(r, t->nbytes, "tensor data", &t->data)))
        return rc;
    if (crc_buf(0, t->data, t->nbytes) != crc)
        return rd_fail(r, CL_ECHECKSUM, "tensor '%s': checksum mismatch (data corrupt)", t->name);
    return 0;
}

static int rd_tensors(rd *r, cl_ckpt_section *s)
{
    int rc = rd_count(r, "tensors", MIN_TENSOR, &s->nt);
    if (rc)
        return rc;
    if (!(s->t = rd_calloc(r, s->nt, sizeof *s->t)))
        return CL_ENOMEM;
    nameset seen;
    if ((rc = rd_nameset(r, &seen, s->t[0].name, sizeof *s->t, s->nt)))
        return rc;
    for (uint32_t i = 0; i < s->nt && !rc; i++)
        if (!(rc = rd_tensor(r, &s->t[i])) && nameset_add(&seen, i))
            rc = rd_fail(r, CL_EFORMAT, "duplicate tensor '%s'", s->t[i].name);
    free(seen.slot);
    return rc;
}

/* Parse a payload of len bytes at file offset off into s. */
static int rd_payload(const rd *top, uint64_t off, uint64_t len, cl_ckpt_section *s, cl_diag *d)
{
    rd r = {top->buf, off, off + len, top->file, s->name, d};
    int rc = rd_kvs(&r, s);
    if (rc || (rc = rd_tensors(&r, s)))
        return rc;
    if (r.off != r.end)
        return rd_fail(&r, CL_EFORMAT, "%" PRIu64 " unused bytes at the end", r.end - r.off);
    return 0;
}

/* The payload CRC failed: say which tensor is damaged if a tensor CRC
 * pinpoints it, else blame the section. */
static int rd_bad_payload(rd *r, uint64_t off, uint64_t len, const char *name)
{
    cl_ckpt_section tmp = {0};
    cl_diag dd = {{0}};
    snprintf(tmp.name, sizeof tmp.name, "%s", name);
    int rc = rd_payload(r, off, len, &tmp, &dd);
    section_clear(&tmp);
    if (rc == CL_ECHECKSUM)
        return cl_diag_set(r->d, rc, "%s", dd.msg);
    return cl_diag_set(r->d, CL_ECHECKSUM,
                       "%s: byte %" PRIu64 ": section '%s': checksum mismatch (data corrupt)",
                       r->file, off, name);
}

/* ---- sections and file ------------------------------------------------- */

static int rd_section_header(rd *r, cl_ckpt_section *s)
{
    uint64_t start = r->off;
    const unsigned char *name;
    uint32_t hcrc, n;
    /* UTF-8 is checked after the CRC: a flipped bit is the likelier cause. */
    int rc = rd_name_raw(r, "section name", s->name, &name, &n);
    if (rc || (rc = rd_u64(r, "section length", &s->len)) ||
        (rc = rd_u32(r, "section CRC", &s->crc)) || (rc = rd_u32(r, "section header CRC", &hcrc)))
        return rc;
    if (crc_buf(0, r->buf + start, r->off - 4 - start) != hcrc) {
        r->off = start;
        return rd_fail(r, CL_ECHECKSUM, "section header: checksum mismatch (file is corrupt)");
    }
    if (!utf8_ok(name, n))
        return rd_fail(r, CL_EUTF8, "section name is not valid UTF-8");
    return rd_pad(r);
}

static int rd_section(rd *r, cl_ckpt *ck, uint32_t i, nameset *seen)
{
    cl_ckpt_section *s = &ck->s[i];
    int rc = rd_section_header(r, s);
    if (rc)
        return rc;
    s->ck = ck;
    if (nameset_add(seen, i))
        return rd_fail(r, CL_EFORMAT, "duplicate section '%s'", s->name);
    if (r->end - r->off < s->len)
        return cl_diag_set(r->d, CL_ETRUNC,
                           "%s: truncated at byte %" PRIu64 ": section '%s' declares %" PRIu64
                           " bytes, the file ends after %" PRIu64,
                           r->file, r->off, s->name, s->len, r->end - r->off);
    uint64_t off = r->off;
    s->payload = r->buf + off;
    r->off += s->len;
    if (crc_buf(0, s->payload, s->len) != s->crc)
        return rd_bad_payload(r, off, s->len, s->name);
    return rd_payload(r, off, s->len, s, r->d);
}

/* Magic, version, byte order, header CRC; the section count. */
static int rd_file_header(rd *r, uint32_t *nsec)
{
    const unsigned char *h = r->buf;
    uint64_t n = r->end;
    if (n == 0)
        return cl_diag_set(r->d, CL_ETRUNC, "%s: empty file (0 bytes), not a charlstm model file",
                           r->file);
    if (memcmp(h, MAGIC, n < 8 ? n : 8) != 0)
        return cl_diag_set(r->d, CL_EFORMAT, "%s: not a charlstm model file (no CHARLSTM magic)",
                           r->file);
    if (n < 12)
        return rd_need(r, HEADER_SIZE, "file header");
    uint32_t version = get_u32(h + 8);
    if (version != CL_CKPT_VERSION)
        return cl_diag_set(r->d, CL_EVERSION,
                           "%s: model format version %" PRIu32 ", this build reads version %d%s",
                           r->file, version, CL_CKPT_VERSION,
                           version > CL_CKPT_VERSION ? " (upgrade charlstm)" : "");
    if (rd_need(r, HEADER_SIZE, "file header"))
        return CL_ETRUNC;
    if (get_u32(h + 12) != BOM)
        return cl_diag_set(r->d, CL_EFORMAT, "%s: bad byte-order mark 0x%08" PRIx32
                           " (expected 0x01020304): foreign or garbled file",
                           r->file, get_u32(h + 12));
    if (crc_buf(0, h, 20) != get_u32(h + 20))
        return cl_diag_set(r->d, CL_ECHECKSUM,
                           "%s: file header checksum mismatch (file is corrupt)",
                           r->file);
    r->off = HEADER_SIZE;
    *nsec = get_u32(h + 16);
    return check_count(r, "sections", MIN_SECTION, *nsec);
}

static int rd_file(rd *r, cl_ckpt *ck)
{
    int rc = rd_file_header(r, &ck->ns);
    if (rc)
        return rc;
    if (!(ck->s = rd_calloc(r, ck->ns, sizeof *ck->s)))
        return CL_ENOMEM;
    nameset seen;
    if ((rc = rd_nameset(r, &seen, ck->s[0].name, sizeof *ck->s, ck->ns)))
        return rc;
    for (uint32_t i = 0; i < ck->ns && !rc; i++)
        rc = rd_section(r, ck, i, &seen);
    free(seen.slot);
    if (rc)
        return rc;
    if (r->off != r->end)
        return rd_fail(r, CL_EFORMAT, "%" PRIu64 " bytes of trailing data after the last section",
                       r->end - r->off);
    return 0;
}

/* Takes ownership of buf (64-byte aligned, len bytes). */
static int load_owned(cl_ckpt **out, unsigned char *buf, uint64_t len, const char *name,
                      cl_diag *d)
{
    *out = NULL;
    cl_ckpt *ck = calloc(1, sizeof *ck);
    if (!ck || !(ck->path = strdup(name))) {
        free(ck);
        free(buf);
        return cl_diag_set(d, CL_ENOMEM, "%s: out of memory", name);
    }
    ck->buf = buf;
    ck->size = len;
    rd r = {buf, 0, len, ck->path, NULL, d};
    int rc = rd_file(&r, ck);
    if (rc) {
        cl_ckpt_free(ck);
        return rc;
    }
    *out = ck;
    return 0;
}

/* A buffer whose start is 64-byte aligned, like the tensor data offsets
 * (cl_alloc: in huge pages when large, which a model's file is). */
static unsigned char *alloc_aligned(uint64_t len)
{
    return len > SIZE_MAX - CL_CKPT_ALIGN ? NULL : cl_alloc((size_t)len);
}

int cl_ckpt_load_mem(cl_ckpt **ck, const void *buf, size_t len, const char *name, cl_diag *d)
{
    unsigned char *copy = alloc_aligned(len);
    *ck = NULL;
    if (!copy)
        return cl_diag_set(d, CL_ENOMEM, "%s: out of memory", name);
    if (len)
        memcpy(copy, buf, len);
    return load_owned(ck, copy, len, name, d);
}

/* Read exactly len bytes (the size fstat reported). */
static int read_all(int fd, unsigned char *buf, uint64_t len, const char *path, cl_diag *d)
{
    uint64_t got = 0;
    while (got < len) {
        size_t want = len - got > (1u << 30) ? (1u << 30) : (size_t)(len - got);
        ssize_t k = read(fd, buf + got, want);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            return cl_diag_set(d, CL_EIO, "%s: cannot read: %s", path, strerror(errno));
        if (k == 0)
            return cl_diag_set(d, CL_ETRUNC, "%s: file shrank while being read", path);
        got += (uint64_t)k;
    }
    return 0;
}

static int open_model(const char *path, struct stat *st, cl_diag *d)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return cl_diag_set(d, CL_EIO, "%s: cannot open: %s", path, strerror(errno));
    if (fstat(fd, st) != 0) {
        int e = errno;
        close(fd);
        return cl_diag_set(d, CL_EIO, "%s: cannot stat: %s", path, strerror(e));
    }
    if (!S_ISREG(st->st_mode)) {
        close(fd);
        return cl_diag_set(d, CL_EIO, "%s: %s", path,
                           S_ISDIR(st->st_mode) ? "is a directory" : "not a regular file");
    }
    return fd;
}

int cl_ckpt_load(cl_ckpt **ck, const char *path, cl_diag *d)
{
    struct stat st = {0};
    *ck = NULL;
    int fd = open_model(path, &st, d);
    if (fd < 0)
        return fd;
    uint64_t len = (uint64_t)st.st_size;
    unsigned char *buf = alloc_aligned(len);
    int rc = buf ? read_all(fd, buf, len, path, d)
                 : cl_diag_set(d, CL_ENOMEM, "%s: out of memory (%" PRIu64 " bytes)", path, len);
    close(fd);
    if (rc) {
        free(buf);
        return rc;
    }
    return load_owned(ck, buf, len, path, d);
}

/* ======================================================================
 * Accessors
 * ====================================================================== */

int cl_ckpt_nsections(const cl_ckpt *ck) { return (int)ck->ns; }

const cl_ckpt_section *cl_ckpt_section_at(const cl_ckpt *ck, int i)
{
    return i >= 0 && (uint32_t)i < ck->ns ? &ck->s[i] : NULL;
}

const cl_ckpt_section *cl_ckpt_find(const cl_ckpt *ck, const char *name)
{
    for (uint32_t i = 0; i < ck->ns; i++)
        if (strcmp(ck->s[i].name, name) == 0)
            return &ck->s[i];
    return NULL;
}

const char *cl_ckpt_section_name(const cl_ckpt_section *s) { return s->name; }

uint64_t cl_ckpt_section_size(const cl_ckpt_section *s) { return s->len; }

static const char *type_name(int type)
{
    static const char *const names[] = {"?", "i64", "f64", "string", "string list"};
    return type >= 1 && type <= 4 ? names[type] : names[0];
}

/* The entry key of type type, or NULL with CL_ENOTFOUND / CL_EFORMAT. */
static const kvent *get_kv(const cl_ckpt_section *s, const char *key, int type, int *rc,
                           cl_diag *d)
{
    for (uint32_t i = 0; i < s->nkv; i++) {
        const kvent *e = &s->kv[i];
        if (strcmp(e->key, key) != 0)
            continue;
        if (e->type == type)
            return e;
        *rc = cl_diag_set(d, CL_EFORMAT, "%s: section '%s': key '%s' is a %s, expected a %s",
                          s->ck->path, s->name, key, type_name(e->type), type_name(type));
        return NULL;
    }
    *rc = cl_diag_set(d, CL_ENOTFOUND, "%s: section '%s': missing key '%s'", s->ck->path, s->name,
                      key);
    return NULL;
}

int cl_ckpt_get_i64(const cl_ckpt_section *s, const char *key, int64_t *v, cl_diag *d)
{
    int rc = 0;
    const kvent *e = get_kv(s, key, CL_CKPT_I64, &rc, d);
    if (e)
        *v = e->i;
    return rc;
}

int cl_ckpt_get_f64(const cl_ckpt_section *s, const char *key, double *v, cl_diag *d)
{
    int rc = 0;
    const kvent *e = get_kv(s, key, CL_CKPT_F64, &rc, d);
    if (e)
        *v = e->f;
    return rc;
}

int cl_ckpt_get_str(const cl_ckpt_section *s, const char *key, const char **v, cl_diag *d)
{
    int rc = 0;
    const kvent *e = get_kv(s, key, CL_CKPT_STR, &rc, d);
    if (e)
        *v = e->s;
    return rc;
}

int cl_ckpt_get_strs(const cl_ckpt_section *s, const char *key, const char *const **v, int *n,
                     cl_diag *d)
{
    int rc = 0;
    const kvent *e = get_kv(s, key, CL_CKPT_STRS, &rc, d);
    if (e && e->n > INT32_MAX)
        return cl_diag_set(d, CL_EFORMAT, "%s: section '%s': list '%s' is too long", s->ck->path,
                           s->name, key);
    if (e) {
        *v = (const char *const *)e->strs;
        *n = (int)e->n;
    }
    return rc;
}

static const tensor *find_tensor(const cl_ckpt_section *s, const char *name)
{
    for (uint32_t i = 0; i < s->nt; i++)
        if (strcmp(s->t[i].name, name) == 0)
            return &s->t[i];
    return NULL;
}

static int get_tensor(const cl_ckpt_section *s, const char *name, int dtype, int ndim,
                      const int64_t *shape, void *dst, cl_diag *d)
{
    static const char *const dt[] = {"?", "f32", "i32"};
    char have[128], want[128];
    const tensor *t = find_tensor(s, name);
    if (!t)
        return cl_diag_set(d, CL_ENOTFOUND, "%s: section '%s': missing tensor '%s'", s->ck->path,
                           s->name, name);
    int same = t->dtype == dtype && t->ndim == ndim;
    for (int i = 0; same && i < ndim; i++)
        same = t->shape[i] == shape[i];
    if (!same) {
        format_shape(have, sizeof have, t->ndim, t->shape);
        format_shape(want, sizeof want, ndim, shape);
        return cl_diag_set(d, CL_EMISMATCH,
                           "%s: section '%s': tensor '%s' is %s %s in the file, expected %s %s",
                           s->ck->path, s->name, name, dt[t->dtype], have, dt[dtype], want);
    }
    if (dst)
        decode4(dst, t->data, t->nbytes / 4);
    return 0;
}

int cl_ckpt_get_f32(const cl_ckpt_section *s, const char *name, int ndim, const int64_t *shape,
                    float *dst, cl_diag *d)
{
    return get_tensor(s, name, CL_CKPT_F32, ndim, shape, dst, d);
}

int cl_ckpt_get_i32(const cl_ckpt_section *s, const char *name, int ndim, const int64_t *shape,
                    int32_t *dst, cl_diag *d)
{
    return get_tensor(s, name, CL_CKPT_I32, ndim, shape, dst, d);
}

/* ---- introspection ----------------------------------------------------- */

int cl_ckpt_nkeys(const cl_ckpt_section *s) { return (int)s->nkv; }

const char *cl_ckpt_key_at(const cl_ckpt_section *s, int i, int *type)
{
    if (i < 0 || (uint32_t)i >= s->nkv)
        return NULL;
    if (type)
        *type = s->kv[i].type;
    return s->kv[i].key;
}

/* Appends whole pieces only; once one does not fit, ends the text with "...". */
typedef struct {
    char *buf;
    size_t size, len;
    int full;
} textbuf;

static void tb_add(textbuf *t, const char *p, size_t n)
{
    if (t->full)
        return;
    /* Invariant: len + 4 <= size, so "..." and the NUL always fit. */
    if (t->len + n + 4 > t->size) {
        t->full = 1;
        p = "...";
        n = 3;
    }
    memcpy(t->buf + t->len, p, n);
    t->len += n;
    t->buf[t->len] = 0;
}

static void tb_quoted(textbuf *t, const char *s)
{
    tb_add(t, "\"", 1);
    for (size_t i = 0; s[i] && !t->full;) {
        unsigned char c = (unsigned char)s[i];
        char esc[8];
        if (c < 0x20 || c == 0x7f || c == '"' || c == '\\') {
            int n = c == '\n' ? snprintf(esc, sizeof esc, "\\n")
                  : c == '\t' ? snprintf(esc, sizeof esc, "\\t")
                  : c == '"' || c == '\\' ? snprintf(esc, sizeof esc, "\\%c", c)
                  : snprintf(esc, sizeof esc, "\\x%02x", c);
            tb_add(t, esc, (size_t)n);
            i++;
            continue;
        }
        utf8proc_int32_t cp;
        utf8proc_ssize_t k = utf8proc_iterate((const utf8proc_uint8_t *)s + i, -1, &cp);
        k = k > 0 ? k : 1; /* strings were validated on load */
        tb_add(t, s + i, (size_t)k);
        i += (size_t)k;
    }
    tb_add(t, "\"", 1);
}

static void tb_list(textbuf *t, const kvent *e)
{
    char tail[48];
    size_t n = (size_t)snprintf(tail, sizeof tail, "] (%" PRIu32 " items)", e->n);
    /* Reserve room for the tail: the item count matters most in a long list. */
    int room = t->size >= t->len + n + 8;
    if (room)
        t->size -= n;
    tb_add(t, "[", 1);
    for (uint32_t j = 0; j < e->n && !t->full; j++) {
        if (j)
            tb_add(t, ", ", 2);
        tb_quoted(t, e->strs[j]);
    }
    if (room) {
        t->size += n;
        memcpy(t->buf + t->len, tail, n + 1);
        t->len += n;
    }
}

/* The shortest "%.*g" that reads back as v; as a float when v is one
 * (dropout 0.1f shows as 0.1, not 0.10000000149011612). */
static int shortest_number(double v, char *num, size_t size)
{
    int as_float = isfinite(v) && (double)(float)v == v, n = 0;
    for (int p = 1; p <= 17; p++) {
        n = snprintf(num, size, "%.*g", p, v);
        double back = strtod(num, NULL);
        if (as_float ? (float)back == (float)v : back == v)
            break;
    }
    return n;
}

const char *cl_ckpt_key_format(const cl_ckpt_section *s, int i, char *buf, size_t size)
{
    textbuf t = {buf, size, 0, 0};
    char num[48];
    if (size == 0)
        return buf;
    buf[0] = 0;
    if (size < 4 || i < 0 || (uint32_t)i >= s->nkv)
        return buf;
    const kvent *e = &s->kv[i];
    if (e->type == CL_CKPT_I64)
        tb_add(&t, num, (size_t)snprintf(num, sizeof num, "%" PRId64, e->i));
    else if (e->type == CL_CKPT_F64)
        tb_add(&t, num, (size_t)shortest_number(e->f, num, sizeof num));
    else if (e->type == CL_CKPT_STR)
        tb_quoted(&t, e->s);
    else
        tb_list(&t, e);
    return buf;
}

int cl_ckpt_ntensors(const cl_ckpt_section *s) { return (int)s->nt; }

static void tensor_info(const tensor *t, cl_ckpt_tensor_info *info)
{
    memset(info, 0, sizeof *info);
    info->name = t->name;
    info->dtype = t->dtype;
    info->ndim = t->ndim;
    memcpy(info->shape, t->shape, sizeof t->shape);
    info->nbytes = t->nbytes;
    info->data = t->data;
}

void cl_ckpt_tensor_at(const cl_ckpt_section *s, int i, cl_ckpt_tensor_info *info)
{
    if (i >= 0 && (uint32_t)i < s->nt)
        tensor_info(&s->t[i], info);
    else
        memset(info, 0, sizeof *info);
}

int cl_ckpt_tensor_find(const cl_ckpt_section *s, const char *name, cl_ckpt_tensor_info *info)
{
    const tensor *t = find_tensor(s, name);
    if (!t)
        return CL_ENOTFOUND;
    tensor_info(t, info);
    return 0;
}

/* ---- verbatim copy (needs the loaded layout, hence here) --------------- */

int cl_ckpt_copy_section(cl_ckpt_writer *w, const cl_ckpt_section *s)
{
    unsigned char h[SECTION_HDR_MAX];
    if (w_section_ok(w, s->name))
        return w->err;
    /* Payloads start 64-byte aligned, so their internal padding is the same
     * at any position: the bytes can be copied as they are. */
    if (w_raw(w, h, section_header(h, s->name, s->len, s->crc)) || w_pad(w))
        return w->err;
    uint64_t done = 0;
    while (done < s->len) {
        size_t k = s->len - done > (1u << 30) ? (1u << 30) : (size_t)(s->len - done);
        if (w_raw(w, s->payload + done, k))
            return w->err;
        done += k;
    }
    return 0;
}
