/* cl_text: UTF-8 decoding, normalisation, streaming corpus, vocabulary.
 *
 * One mechanism serves both the single-buffer decoder and the corpus: a
 * cursor walks the input files code point by code point (utf8proc_iterate
 * validates), copies valid UTF-8 into a window, and the window is normalised
 * in one utf8proc_decompose + utf8proc_normalize_utf32 call.  A window may
 * only end in front of a code point that normalisation cannot join to what
 * precedes it, so normalising window by window gives exactly the code points
 * of normalising the whole concatenated input at once. */
#include "cl_text.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <utf8proc.h>

#define CL_TEXT_MAX_CP 0x10FFFF
/* Bytes a window may run past its size while it looks for a place to end;
 * only text with thousands of combining marks in a row gets there, and is
 * then cut anyway (normalisation there may differ from the whole-text one). */
#define CL_TEXT_HOLD_MAX ((size_t)1 << 16)
/* Give mapped pages back to the kernel once this much has been read. */
#define CL_TEXT_RELEASE ((size_t)1 << 24)

static const char replacement_utf8[3] = {'\xEF', '\xBF', '\xBD'}; /* U+FFFD */

/* ======================================================================== */
/* Growable buffers                                                         */
/* ======================================================================== */

typedef struct {
    uint8_t *p;
    size_t n, cap;
} bytes_buf;

typedef struct {
    int32_t *p;
    size_t n, cap;
} cps_buf;

/* Capacity >= need by doubling, or 0 when elem * capacity would overflow. */
static size_t grown_cap(size_t cap, size_t need, size_t elem)
{
    size_t c = cap ? cap : 256;
    while (c < need) {
        if (c > SIZE_MAX / 2)
            return 0;
        c *= 2;
    }
    return c > SIZE_MAX / elem ? 0 : c;
}

static int bytes_reserve(bytes_buf *b, size_t need)
{
    if (need <= b->cap)
        return CL_OK;
    size_t c = grown_cap(b->cap, need, 1);
    uint8_t *p = c ? realloc(b->p, c) : NULL;
    if (!p)
        return CL_ENOMEM;
    b->p = p;
    b->cap = c;
    return CL_OK;
}

static int cps_reserve(cps_buf *b, size_t need)
{
    if (need <= b->cap)
        return CL_OK;
    size_t c = grown_cap(b->cap, need, sizeof(int32_t));
    int32_t *p = c ? realloc(b->p, c * sizeof(int32_t)) : NULL;
    if (!p)
        return CL_ENOMEM;
    b->p = p;
    b->cap = c;
    return CL_OK;
}

/* ======================================================================== */
/* Normalisation                                                            */
/* ======================================================================== */

cl_text_opts cl_text_defaults(void)
{
    cl_text_opts o = {1, 0, 0};
    return o;
}

static utf8proc_option_t utf8proc_options(const cl_text_opts *o)
{
    utf8proc_option_t uo = 0;
    if (o->nfc)
        uo |= UTF8PROC_COMPOSE | UTF8PROC_STABLE;
    if (o->casefold)
        uo |= UTF8PROC_CASEFOLD;
    return uo;
}

/* Append the normalisation of s[0..n), valid UTF-8, to out.
 * utf8proc_decompose reports the size it needs when the buffer is too
 * small, so the usual case is a single pass. */
static int normalise_utf8proc(const uint8_t *s, size_t n, utf8proc_option_t uo, cps_buf *out)
{
    utf8proc_ssize_t r;
    for (;;) {
        r = utf8proc_decompose(s, (utf8proc_ssize_t)n, out->p + out->n,
                               (utf8proc_ssize_t)(out->cap - out->n), uo);
        if (r < 0)
            return r == UTF8PROC_ERROR_NOMEM ? CL_ENOMEM : CL_EUTF8;
        if ((size_t)r <= out->cap - out->n)
            break;
        if (cps_reserve(out, out->n + (size_t)r) != CL_OK)
            return CL_ENOMEM;
    }
    if (uo & UTF8PROC_COMPOSE)
        r = utf8proc_normalize_utf32(out->p + out->n, r, uo);
    if (r < 0)
        return r == UTF8PROC_ERROR_NOMEM ? CL_ENOMEM : CL_EUTF8;
    out->n += (size_t)r;
    return CL_OK;
}

static void append_ascii(const uint8_t *s, size_t n, int fold, cps_buf *out)
{
    int32_t *o = out->p + out->n;
    for (size_t i = 0; i < n; i++)
        o[i] = fold && s[i] >= 'A' && s[i] <= 'Z' ? s[i] + ('a' - 'A') : s[i];
    out->n += n;
}

/* Normalise s[0..n), valid UTF-8, into out (replacing its contents).  ASCII
 * is already in NFC, folds only A-Z, and joins nothing before it, so only
 * the non-ASCII stretches (with the ASCII letter before each, which a mark
 * may compose with) go through utf8proc: several times faster on mostly
 * ASCII text. */
static int normalise(const uint8_t *s, size_t n, utf8proc_option_t uo, cps_buf *out)
{
    int fold = (uo & UTF8PROC_CASEFOLD) != 0;
    size_t i = 0;
    out->n = 0;
    if (cps_reserve(out, n) != CL_OK)
        return CL_ENOMEM;
    while (i < n) {
        size_t j = i, k;
        while (j < n && s[j] < 0x80)
            j++;
        k = j < n && j > i ? j - 1 : j;
        if (cps_reserve(out, out->n + (k - i)) != CL_OK)
            return CL_ENOMEM;
        append_ascii(s + i, k - i, fold, out);
        if (k == n)
            break;
        for (i = j + 1; i < n && s[i] >= 0x80; i++)
            ;
        int r = normalise_utf8proc(s + k, i - k, uo, out);
        if (r != CL_OK)
            return r;
    }
    return CL_OK;
}

static int is_hangul_vowel_or_trailing(int32_t cp)
{
    /* Conjoining jamo that compose algorithmically with a preceding syllable
     * (Unicode ch. 3.12), which utf8proc's property table does not flag. */
    return (cp >= 0x1161 && cp <= 0x1175) || (cp >= 0x11A8 && cp <= 0x11C2);
}

/* Whether text may be split in front of cp without changing its
 * normalisation: cp, once decomposed and case-folded, must begin with a
 * starter (nothing reorders across it) that composes with nothing before it.
 * Second parts of compositions are marks or Hangul jamo, so a starter that
 * is neither qualifies. */
static int starts_segment(int32_t cp, utf8proc_option_t uo)
{
    int32_t first[32];
    int boundclass = 0;
    if (cp < 0x80)
        return 1;
    if (utf8proc_decompose_char(cp, first, 32, uo, &boundclass) < 1)
        return 0;
    const utf8proc_property_t *p = utf8proc_get_property(first[0]);
    if (p->combining_class != 0 || is_hangul_vowel_or_trailing(first[0]))
        return 0;
    return p->category != UTF8PROC_CATEGORY_MN && p->category != UTF8PROC_CATEGORY_MC &&
           p->category != UTF8PROC_CATEGORY_ME;
}

int cl_text_encode_cp(int32_t cp, char out[4])
{
    if (!utf8proc_codepoint_valid(cp))
        return 0;
    return (int)utf8proc_encode_char(cp, (utf8proc_uint8_t *)out);
}

/* ======================================================================== */
/* Input files                                                              */
/* ======================================================================== */

typedef struct {
    char *name;    /* for messages */
    uint8_t *data; /* NULL when size is 0 */
    size_t size;
    int mapped; /* 1: munmap; 0: free (or borrowed, see owned) */
    int owned;  /* 0: data belongs to the caller (cl_text_decode) */
} text_file;

/* All of fd into a malloc'd buffer: for stdin, pipes and other inputs that
 * cannot be mapped. */
static int read_all(int fd, text_file *f, cl_diag *d)
{
    bytes_buf b = {0};
    for (;;) {
        if (b.n == b.cap && bytes_reserve(&b, b.cap ? b.cap * 2 : 65536) != CL_OK) {
            free(b.p);
            return cl_diag_set(d, CL_ENOMEM, "%s: too large to read into memory", f->name);
        }
        ssize_t r = read(fd, b.p + b.n, b.cap - b.n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int e = errno;
            free(b.p);
            return cl_diag_set(d, CL_EIO, "%s: %s", f->name, strerror(e));
        }
        if (r == 0)
            break;
        b.n += (size_t)r;
    }
    f->data = b.p;
    f->size = b.n;
    f->owned = 1;
    return CL_OK;
}

static int map_file(int fd, off_t size, text_file *f, cl_diag *d)
{
    if ((uint64_t)size > SIZE_MAX)
        return cl_diag_set(d, CL_ENOMEM, "%s: too large to map", f->name);
    f->size = (size_t)size;
    f->owned = 1;
    if (f->size == 0)
        return CL_OK;
    void *p = mmap(NULL, f->size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED)
        return cl_diag_set(d, CL_EIO, "%s: cannot map: %s", f->name, strerror(errno));
    (void)madvise(p, f->size, MADV_SEQUENTIAL); /* a hint; failure is harmless */
    f->data = p;
    f->mapped = 1;
    return CL_OK;
}

static int load_path(int fd, text_file *f, cl_diag *d)
{
    struct stat st;
    if (fstat(fd, &st) != 0)
        return cl_diag_set(d, CL_EIO, "%s: %s", f->name, strerror(errno));
    if (S_ISDIR(st.st_mode))
        return cl_diag_set(d, CL_EIO, "%s: is a directory", f->name);
    return S_ISREG(st.st_mode) ? map_file(fd, st.st_size, f, d) : read_all(fd, f, d);
}

/* Open path ("-" = stdin) into f: mapped when it is a regular file. */
static int load_file(const char *path, text_file *f, cl_diag *d)
{
    int is_stdin = strcmp(path, "-") == 0;
    memset(f, 0, sizeof *f);
    f->name = strdup(is_stdin ? "<stdin>" : path);
    if (!f->name)
        return CL_ENOMEM;
    if (is_stdin)
        return read_all(STDIN_FILENO, f, d);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return cl_diag_set(d, CL_EIO, "%s: %s", path, strerror(errno));
    int r = load_path(fd, f, d);
    close(fd);
    return r;
}

static void unload_file(text_file *f)
{
    if (f->owned && f->mapped)
        munmap(f->data, f->size);
    else if (f->owned)
        free(f->data);
    free(f->name);
    memset(f, 0, sizeof *f);
}

/* ======================================================================== */
/* The cursor and its windows                                               */
/* ======================================================================== */

struct cl_corpus {
    text_file *files;
    int nfiles;
    utf8proc_option_t uo;
    int replace;
    size_t window;
    size_t page;
    int file;        /* cursor: next byte not yet copied into a window */
    size_t off;      /* ... its offset in files[file] */
    size_t released; /* bytes of files[file] already given back to the kernel */
    uint64_t done, total;
    bytes_buf win; /* the current window: valid UTF-8 */
    cps_buf out;   /* its normalised code points */
    size_t out_pos; /* next one to hand out */
};

static void corpus_setup(cl_corpus *c, const cl_text_opts *o)
{
    cl_text_opts def = cl_text_defaults();
    if (!o)
        o = &def;
    c->uo = utf8proc_options(o);
    c->replace = o->replace_invalid;
    c->window = CL_CORPUS_WINDOW;
    long page = sysconf(_SC_PAGESIZE);
    c->page = page > 0 ? (size_t)page : 4096;
}

/* Mapped pages behind the cursor are not read again before a rewind: drop
 * them from the resident set so memory stays flat however large the file. */
static void release_behind(cl_corpus *c, size_t upto)
{
    text_file *f = &c->files[c->file];
    upto -= upto % c->page;
    if (!f->mapped || upto <= c->released)
        return;
    (void)madvise(f->data + c->released, upto - c->released, MADV_DONTNEED);
    c->released = upto;
}

/* A UTF-8 byte-order mark at the start of a file (Windows editors) is not
 * text: it would become the first character of the corpus, a prompt or a
 * label. */
static int at_bom(const cl_corpus *c)
{
    const text_file *f = &c->files[c->file];
    return c->off == 0 && f->size >= 3 && memcmp(f->data, "\xEF\xBB\xBF", 3) == 0;
}

/* Move the cursor past finished (and empty) files and byte-order marks. */
static void skip_finished(cl_corpus *c)
{
    for (;;) {
        while (c->file < c->nfiles && c->off == c->files[c->file].size) {
            release_behind(c, c->files[c->file].size);
            c->file++;
            c->off = 0;
            c->released = 0;
        }
        if (c->file == c->nfiles || !at_bom(c))
            return;
        c->off = 3;
        c->done += 3;
    }
}

typedef struct {
    int32_t cp;
    size_t len; /* bytes at the cursor; 0 at the end of the input */
    int bad;    /* invalid byte, to be replaced by U+FFFD */
} cursor_step;

/* The code point at the cursor.  Sequences are decoded within one file, so a
 * character split between two files is invalid in the first. */
static int cursor_peek(cl_corpus *c, cursor_step *s, cl_diag *d)
{
    skip_finished(c);
    memset(s, 0, sizeof *s);
    if (c->file == c->nfiles)
        return CL_OK;
    const text_file *f = &c->files[c->file];
    utf8proc_ssize_t r =
        utf8proc_iterate(f->data + c->off, (utf8proc_ssize_t)(f->size - c->off), &s->cp);
    if (r > 0) {
        s->len = (size_t)r;
        return CL_OK;
    }
    if (!c->replace)
        return cl_diag_set(d, CL_EUTF8, "%s: invalid UTF-8 at byte %zu", f->name, c->off);
    s->cp = 0xFFFD;
    s->len = 1;
    s->bad = 1;
    return CL_OK;
}

static int window_take(cl_corpus *c, const cursor_step *s)
{
    const uint8_t *src = c->files[c->file].data + c->off;
    size_t n = s->len;
    if (s->bad) {
        src = (const uint8_t *)replacement_utf8;
        n = sizeof replacement_utf8;
    }
    if (bytes_reserve(&c->win, c->win.n + n) != CL_OK)
        return CL_ENOMEM;
    memcpy(c->win.p + c->win.n, src, n);
    c->win.n += n;
    c->off += s->len;
    c->done += s->len;
    return CL_OK;
}

/* Copy the ASCII bytes at the cursor that still fit in the window in one go;
 * they need no validation and a window may end in front of any of them.
 * Returns how many. */
static size_t window_take_ascii(cl_corpus *c)
{
    skip_finished(c);
    if (c->file == c->nfiles || c->win.n >= c->window)
        return 0;
    const text_file *f = &c->files[c->file];
    const uint8_t *p = f->data + c->off;
    size_t max = f->size - c->off, n = 0;
    if (max > c->window - c->win.n)
        max = c->window - c->win.n;
    while (n < max && p[n] < 0x80)
        n++;
    if (n == 0 || bytes_reserve(&c->win, c->win.n + n) != CL_OK)
        return 0; /* out of memory shows again, and is reported, in window_take */
    memcpy(c->win.p + c->win.n, p, n);
    c->win.n += n;
    c->off += n;
    c->done += n;
    return n;
}

/* Whether the window, full, can end in front of cp. */
static int window_ends(const cl_corpus *c, int32_t cp)
{
    if (c->win.n < c->window)
        return 0;
    return starts_segment(cp, c->uo) || c->win.n - c->window >= CL_TEXT_HOLD_MAX;
}

/* Copy the next window from the cursor and normalise it into c->out.
 * Returns 1 when it took input, 0 at the end, or an error. */
static int window_fill(cl_corpus *c, cl_diag *d)
{
    cursor_step s;
    int r;
    c->win.n = 0;
    c->out.n = c->out_pos = 0;
    for (;;) {
        if (window_take_ascii(c) > 0)
            continue;
        if ((r = cursor_peek(c, &s, d)) != CL_OK)
            return r;
        if (s.len == 0 || window_ends(c, s.cp))
            break;
        if ((r = window_take(c, &s)) != CL_OK)
            return r;
    }
    if (c->file < c->nfiles && c->off - c->released >= CL_TEXT_RELEASE)
        release_behind(c, c->off);
    if (c->win.n == 0)
        return 0;
    r = normalise(c->win.p, c->win.n, c->uo, &c->out);
    return r == CL_OK ? 1 : r;
}

/* ======================================================================== */
/* Single buffers                                                           */
/* ======================================================================== */

int cl_text_decode(const char *bytes, size_t n, const cl_text_opts *o, const char *name,
                   int32_t **cps, size_t *ncps, cl_diag *d)
{
    /* A one-file corpus over the caller's bytes, in one window that ends
     * only at the end of the input. */
    text_file f = {(char *)(name ? name : "<input>"), (uint8_t *)bytes, n, 0, 0};
    cl_corpus c = {0};
    corpus_setup(&c, o);
    c.files = &f;
    c.nfiles = 1;
    c.window = SIZE_MAX;
    *cps = NULL;
    *ncps = 0;
    int r = window_fill(&c, d);
    free(c.win.p);
    if (r < 0) {
        free(c.out.p);
        return r == CL_ENOMEM ? cl_diag_set(d, r, "%s: out of memory", f.name) : r;
    }
    *cps = c.out.p;
    *ncps = c.out.n;
    return CL_OK;
}

int cl_text_read_file(const char *path, const cl_text_opts *o, int32_t **cps, size_t *n,
                      cl_diag *d)
{
    text_file f;
    *cps = NULL;
    *n = 0;
    int r = load_file(path, &f, d);
    if (r == CL_OK)
        r = cl_text_decode((const char *)f.data, f.size, o, f.name, cps, n, d);
    unload_file(&f);
    return r;
}

/* ======================================================================== */
/* Corpus                                                                   */
/* ======================================================================== */

static int corpus_empty(const cl_corpus *c, cl_diag *d)
{
    char names[400] = "";
    size_t len = 0;
    for (int i = 0; i < c->nfiles && len < sizeof names; i++)
        len += (size_t)snprintf(names + len, sizeof names - len, "%s%s", i ? ", " : "",
                                c->files[i].name);
    return cl_diag_set(d, CL_EEMPTY, "%s: %s", names,
                       c->nfiles > 1 ? "all input files are empty" : "input is empty");
}

static int corpus_load(cl_corpus *c, const char *const *paths, int npaths, cl_diag *d)
{
    int stdin_seen = 0;
    for (int i = 0; i < npaths; i++) {
        int is_stdin = strcmp(paths[i], "-") == 0;
        if (is_stdin && stdin_seen++)
            return cl_diag_set(d, CL_EINVAL, "standard input (\"-\") given more than once");
        int r = load_file(paths[i], &c->files[i], d);
        c->nfiles = i + 1;
        if (r != CL_OK)
            return r;
        c->total += c->files[i].size;
    }
    return c->total == 0 ? corpus_empty(c, d) : CL_OK;
}

int cl_corpus_open(cl_corpus **cp, const char *const *paths, int npaths, const cl_text_opts *o,
                   cl_diag *d)
{
    *cp = NULL;
    if (npaths < 1)
        return cl_diag_set(d, CL_EINVAL, "no input files");
    cl_corpus *c = calloc(1, sizeof *c);
    if (!c || !(c->files = calloc((size_t)npaths, sizeof *c->files))) {
        free(c);
        return CL_ENOMEM;
    }
    corpus_setup(c, o);
    int r = corpus_load(c, paths, npaths, d);
    if (r != CL_OK) {
        cl_corpus_close(c);
        return r;
    }
    *cp = c;
    return CL_OK;
}

int cl_corpus_read(cl_corpus *c, int32_t *buf, size_t cap, size_t *got, cl_diag *d)
{
    size_t n = 0;
    assert(cap > 0);
    *got = 0;
    while (n < cap) {
        if (c->out_pos == c->out.n) {
            int r = window_fill(c, d);
            if (r < 0)
                return r;
            if (r == 0)
                break;
            continue; /* a window may normalise to nothing only in theory */
        }
        size_t k = c->out.n - c->out_pos;
        if (k > cap - n)
            k = cap - n;
        memcpy(buf + n, c->out.p + c->out_pos, k * sizeof *buf);
        n += k;
        c->out_pos += k;
    }
    *got = n;
    return CL_OK;
}

int cl_corpus_rewind(cl_corpus *c)
{
    c->file = 0;
    c->off = c->released = 0;
    c->done = 0;
    c->win.n = c->out.n = c->out_pos = 0;
    return CL_OK;
}

void cl_corpus_set_window(cl_corpus *c, size_t bytes)
{
    c->window = bytes ? bytes : 1;
}

void cl_corpus_tell(const cl_corpus *c, cl_corpus_pos *pos)
{
    int f = c->file < c->nfiles ? c->file : c->nfiles - 1;
    pos->file = f;
    pos->name = c->files[f].name;
    pos->offset = c->file < c->nfiles ? c->off : c->files[f].size;
    pos->done = c->done;
    pos->total = c->total;
}

void cl_corpus_close(cl_corpus *c)
{
    if (!c)
        return;
    for (int i = 0; i < c->nfiles; i++)
        unload_file(&c->files[i]);
    free(c->files);
    free(c->win.p);
    free(c->out.p);
    free(c);
}

/* ======================================================================== */
/* Vocabulary                                                               */
/* ======================================================================== */

#define CL_VOCAB_NCP (CL_TEXT_MAX_CP + 1)

int cl_vocab_builder_init(cl_vocab_builder *b)
{
    b->total = 0;
    b->counts = calloc(CL_VOCAB_NCP, sizeof *b->counts);
    return b->counts ? CL_OK : CL_ENOMEM;
}

void cl_vocab_builder_add(cl_vocab_builder *b, const int32_t *cps, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        assert(cps[i] >= 0 && cps[i] <= CL_TEXT_MAX_CP);
        b->counts[cps[i]]++;
    }
    b->total += n;
}

int cl_vocab_builder_add_corpus(cl_vocab_builder *b, cl_corpus *c, cl_diag *d)
{
    int32_t buf[4096];
    size_t got;
    int r;
    cl_corpus_rewind(c);
    while ((r = cl_corpus_read(c, buf, sizeof buf / sizeof *buf, &got, d)) == CL_OK && got)
        cl_vocab_builder_add(b, buf, got);
    cl_corpus_rewind(c);
    return r;
}

void cl_vocab_builder_free(cl_vocab_builder *b)
{
    free(b->counts);
    b->counts = NULL;
    b->total = 0;
}

/* Arrays for n characters, fast table zeroed (= <unk>). */
static int vocab_alloc(cl_vocab *v, int n, int with_counts)
{
    memset(v, 0, sizeof *v);
    v->n = n;
    v->cps = malloc((size_t)n * sizeof *v->cps);
    v->fast = calloc(CL_VOCAB_FAST, sizeof *v->fast);
    if (with_counts)
        v->counts = calloc((size_t)n + 1, sizeof *v->counts);
    if (!v->cps || !v->fast || (with_counts && !v->counts)) {
        cl_vocab_free(v);
        return CL_ENOMEM;
    }
    return CL_OK;
}

static void vocab_index(cl_vocab *v)
{
    for (int i = 0; i < v->n && v->cps[i] < CL_VOCAB_FAST; i++)
        v->fast[v->cps[i]] = i + 1;
}

typedef struct {
    int32_t cp;
    uint64_t count;
} char_count;

static int by_count_desc(const void *a, const void *b)
{
    const char_count *x = a, *y = b;
    if (x->count != y->count)
        return x->count > y->count ? -1 : 1;
    return (x->cp > y->cp) - (x->cp < y->cp);
}

static int by_cp(const void *a, const void *b)
{
    const char_count *x = a, *y = b;
    return (x->cp > y->cp) - (x->cp < y->cp);
}

/* Characters counted at least min_count times, in code point order. */
static char_count *vocab_candidates(const cl_vocab_builder *b, uint64_t min_count, size_t *n)
{
    size_t k = 0;
    for (int32_t cp = 0; cp < CL_VOCAB_NCP; cp++)
        k += b->counts[cp] >= min_count;
    char_count *cc = malloc((k ? k : 1) * sizeof *cc);
    if (!cc)
        return NULL;
    *n = 0;
    for (int32_t cp = 0; cp < CL_VOCAB_NCP; cp++)
        if (b->counts[cp] >= min_count)
            cc[(*n)++] = (char_count){cp, b->counts[cp]};
    return cc;
}

int cl_vocab_build(cl_vocab *v, const cl_vocab_builder *b, int max_vocab, int min_count)
{
    size_t n = 0;
    memset(v, 0, sizeof *v);
    if (max_vocab < 0 || max_vocab == 1)
        return CL_EINVAL;
    char_count *cc = vocab_candidates(b, min_count > 1 ? (uint64_t)min_count : 1, &n);
    if (!cc)
        return CL_ENOMEM;
    if (max_vocab > 0 && n > (size_t)max_vocab - 1) {
        qsort(cc, n, sizeof *cc, by_count_desc);
        n = (size_t)max_vocab - 1;
        qsort(cc, n, sizeof *cc, by_cp);
    }
    int r = n ? vocab_alloc(v, (int)n, 1) : CL_EEMPTY;
    if (r == CL_OK) {
        uint64_t kept = 0;
        for (size_t i = 0; i < n; i++) {
            v->cps[i] = cc[i].cp;
            v->counts[i + 1] = cc[i].count;
            kept += cc[i].count;
        }
        v->counts[0] = b->total - kept;
        vocab_index(v);
    }
    free(cc);
    return r;
}

static int is_scalar_value(int32_t cp)
{
    return cp >= 0 && cp <= CL_TEXT_MAX_CP && !(cp >= 0xD800 && cp <= 0xDFFF);
}

int cl_vocab_from_cps(cl_vocab *v, const int32_t *cps, int n)
{
    memset(v, 0, sizeof *v);
    if (n < 1)
        return CL_EINVAL;
    for (int i = 0; i < n; i++)
        if (!is_scalar_value(cps[i]) || (i > 0 && cps[i] <= cps[i - 1]))
            return CL_EFORMAT;
    int r = vocab_alloc(v, n, 0);
    if (r != CL_OK)
        return r;
    memcpy(v->cps, cps, (size_t)n * sizeof *cps);
    vocab_index(v);
    return CL_OK;
}

int cl_vocab_id(const cl_vocab *v, int32_t cp)
{
    assert(v->fast);
    if (cp >= 0 && cp < CL_VOCAB_FAST)
        return v->fast[cp];
    int lo = 0, hi = v->n; /* first index with cps[i] >= cp */
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        if (v->cps[mid] < cp)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < v->n && v->cps[lo] == cp ? lo + 1 : CL_VOCAB_UNK;
}

int32_t cl_vocab_cp(const cl_vocab *v, int id)
{
    return id >= 1 && id <= v->n ? v->cps[id - 1] : CL_VOCAB_UNK_CP;
}

int cl_vocab_size(const cl_vocab *v) { return v->n + 1; }

const int32_t *cl_vocab_cps(const cl_vocab *v) { return v->cps; }

const uint64_t *cl_vocab_counts(const cl_vocab *v) { return v->counts; }

void cl_vocab_free(cl_vocab *v)
{
    free(v->cps);
    free(v->counts);
    free(v->fast);
    memset(v, 0, sizeof *v);
}
