/* cl_conllu: streaming CoNLL-U reading and writing (see cl_conllu.h). */
#include "cl_conllu.h"
#include "cl_lines.h"

#include <assert.h>
#include <ctype.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char *raw;                   /* the line as read, without line end */
    char *split;                 /* word lines: copy of raw cut at tabs */
    char *col[CL_CONLLU_NCOLS];  /* word lines: columns inside split */
    char *set[CL_CONLLU_NCOLS];  /* replaced columns (owned), else NULL */
} line;

struct cl_conllu_sent {
    line *lines;
    size_t nlines, cap;
    size_t *words; /* index into lines of each ordinary word */
    size_t nwords, wcap;
    long first_line;
};

struct cl_conllu_reader {
    cl_lines in;   /* the file (fp NULL: lines come by cl_conllu_push) */
    int open;      /* push: a sentence has begun and not ended yet */
};

/* ------------------------------------------------------------------------
 * Objects
 * ------------------------------------------------------------------------ */

cl_conllu_reader *cl_conllu_reader_new(FILE *fp, const char *name)
{
    cl_conllu_reader *r = calloc(1, sizeof *r);
    if (r && cl_lines_init(&r->in, fp, name)) {
        cl_lines_free(&r->in);
        free(r);
        return NULL;
    }
    return r;
}

void cl_conllu_reader_free(cl_conllu_reader *r)
{
    if (r)
        cl_lines_free(&r->in);
    free(r);
}

cl_conllu_sent *cl_conllu_sent_new(void)
{
    return calloc(1, sizeof(cl_conllu_sent));
}

static void line_free(line *l)
{
    free(l->raw);
    free(l->split);
    for (int c = 0; c < CL_CONLLU_NCOLS; c++)
        free(l->set[c]);
}

static void sent_clear(cl_conllu_sent *s)
{
    for (size_t i = 0; i < s->nlines; i++)
        line_free(&s->lines[i]);
    s->nlines = 0;
    s->nwords = 0;
    s->first_line = 0;
}

void cl_conllu_sent_free(cl_conllu_sent *s)
{
    if (!s)
        return;
    sent_clear(s);
    free(s->lines);
    free(s->words);
    free(s);
}

/* Grow an array of elements of size `size` to hold one more. */
static int grow(void **arr, size_t *cap, size_t n, size_t size)
{
    if (n < *cap)
        return 0;
    size_t ncap = *cap ? *cap * 2 : 16;
    void *p = realloc(*arr, ncap * size);
    if (!p)
        return CL_ENOMEM;
    *arr = p;
    *cap = ncap;
    return 0;
}

/* Append a copy of text as a new line; *out points at it. */
static int add_line(cl_conllu_sent *s, const char *text, line **out)
{
    if (grow((void **)&s->lines, &s->cap, s->nlines, sizeof(line)))
        return CL_ENOMEM;
    line *l = &s->lines[s->nlines];
    memset(l, 0, sizeof *l);
    l->raw = strdup(text);
    if (!l->raw)
        return CL_ENOMEM;
    s->nlines++;
    *out = l;
    return 0;
}

/* ------------------------------------------------------------------------
 * Parsing one line
 * ------------------------------------------------------------------------ */

/* Parse a positive decimal integer filling [p, end); 0 if it is not one. */
static size_t parse_uint(const char *p, const char *end)
{
    size_t v = 0;
    if (p == end || *p == '0')
        return 0;
    for (; p < end; p++) {
        if (!isdigit((unsigned char)*p) || v > 100000000)
            return 0;
        v = v * 10 + (size_t)(*p - '0');
    }
    return v;
}

/* CL_EPARSE with "NAME:LINE: " before the message. */
__attribute__((format(printf, 3, 4)))
static int perr(const cl_conllu_reader *r, cl_diag *diag, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return cl_lines_error(&r->in, diag, CL_EPARSE, msg);
}

/* Cut l->split at tabs into exactly 10 columns. */
static int split_cols(cl_conllu_reader *r, line *l, cl_diag *diag)
{
    l->split = strdup(l->raw);
    if (!l->split)
        return CL_ENOMEM;
    int n = 0;
    char *p = l->split;
    for (;;) {
        char *tab = strchr(p, '\t');
        if (n < CL_CONLLU_NCOLS)
            l->col[n] = p;
        n++;
        if (!tab)
            break;
        *tab = '\0';
        p = tab + 1;
    }
    if (n != CL_CONLLU_NCOLS)
        return perr(r, diag, "expected 10 tab-separated columns, got %d", n);
    return 0;
}

/* Check the ID of a range (a-b) or empty node (n.m) line; sep points at
 * the '-' or '.'. */
static int check_special_id(cl_conllu_reader *r, const char *id, const char *sep,
                            size_t nwords, cl_diag *diag)
{
    size_t a = parse_uint(id, sep), b = parse_uint(sep + 1, sep + strlen(sep));
    if (*sep == '-') {
        if (a != nwords + 1 || b <= a)
            return perr(r, diag, "bad multiword token range '%s' after word %zu", id, nwords);
        return 0;
    }
    /* Empty node n.m follows word n; "0.m" comes before the first word. */
    int zero = sep == id + 1 && id[0] == '0';
    if ((!zero && a == 0) || (zero ? 0 : a) != nwords || b == 0)
        return perr(r, diag, "bad empty node ID '%s' after word %zu", id, nwords);
    return 0;
}

/* A non-comment line: validate, and register it if it is an ordinary word. */
static int parse_node(cl_conllu_reader *r, cl_conllu_sent *s, line *l, cl_diag *diag)
{
    int err = split_cols(r, l, diag);
    if (err)
        return err == CL_ENOMEM ? cl_diag_set(diag, err, "%s: out of memory", r->in.name) : err;
    const char *id = l->col[CL_CONLLU_ID];
    if (!l->col[CL_CONLLU_FORM][0])
        return perr(r, diag, "empty FORM");
    const char *sep = strpbrk(id, "-.");
    if (sep)
        return check_special_id(r, id, sep, s->nwords, diag);
    size_t v = parse_uint(id, id + strlen(id));
    if (v == 0)
        return perr(r, diag, "bad word ID '%s'", id);
    if (v != s->nwords + 1)
        return perr(r, diag, "expected word ID %zu, got %zu",
                    s->nwords + 1, v);
    if (grow((void **)&s->words, &s->wcap, s->nwords, sizeof(size_t)))
        return cl_diag_set(diag, CL_ENOMEM, "%s: out of memory", r->in.name);
    s->words[s->nwords++] = s->nlines - 1;
    return 0;
}

/* ------------------------------------------------------------------------
 * Reading sentences
 * ------------------------------------------------------------------------ */

static int finish(cl_conllu_reader *r, cl_conllu_sent *s, cl_diag *diag)
{
    if (s->nwords == 0)
        return cl_diag_set(diag, CL_EPARSE, "%s:%ld: sentence has no words",
                           r->in.name, s->first_line);
    return 1;
}

/* The line in r->in.buf into s: 1 when it is the blank line that ends s,
 * 0 when s goes on (or has not begun), or an error. */
static int take_line(cl_conllu_reader *r, cl_conllu_sent *s, cl_diag *diag)
{
    if (!r->in.buf[0])
        return s->nlines ? finish(r, s, diag) : 0; /* blank lines before a sentence are skipped */
    int bad = cl_lines_check_utf8(&r->in, diag); /* CoNLL-U is UTF-8 */
    if (bad)
        return bad;
    line *l;
    if (add_line(s, r->in.buf, &l))
        return cl_diag_set(diag, CL_ENOMEM, "%s: out of memory", r->in.name);
    if (s->nlines == 1)
        s->first_line = r->in.lineno;
    return r->in.buf[0] != '#' ? parse_node(r, s, l, diag) : 0;
}

int cl_conllu_read(cl_conllu_reader *r, cl_conllu_sent *s, cl_diag *diag)
{
    sent_clear(s);
    for (;;) {
        int got = cl_lines_next(&r->in, diag);
        if (got <= 0)
            return got < 0 ? got : s->nlines ? finish(r, s, diag) : 0;
        if ((got = take_line(r, s, diag)))
            return got;
    }
}

/* ---- push: the caller reads the lines (cl_conllu.h says why) */

int cl_conllu_push(cl_conllu_reader *r, cl_conllu_sent *s, const char *text, size_t len,
                   cl_diag *diag)
{
    cl_lines *in = &r->in;
    if (!r->open)
        sent_clear(s), r->open = 1;
    if (len + 1 > in->cap) {
        char *b = realloc(in->buf, len + 1);
        if (!b)
            return cl_diag_set(diag, CL_ENOMEM, "%s: out of memory", in->name);
        in->buf = b, in->cap = len + 1;
    }
    memcpy(in->buf, text, len);
    in->buf[len] = '\0';
    in->len = len, in->lineno++;
    int got = take_line(r, s, diag);
    r->open = got == 0; /* after an end or an error the next line begins a sentence */
    return got;
}

int cl_conllu_push_end(cl_conllu_reader *r, cl_conllu_sent *s, cl_diag *diag)
{
    int got = r->open && s->nlines ? finish(r, s, diag) : 0;
    r->open = 0;
    return got;
}

/* ------------------------------------------------------------------------
 * Access and writing
 * ------------------------------------------------------------------------ */

size_t cl_conllu_nwords(const cl_conllu_sent *s)
{
    return s->nwords;
}

const char *cl_conllu_col(const cl_conllu_sent *s, size_t i, int col)
{
    assert(i < s->nwords && col >= 0 && col < CL_CONLLU_NCOLS);
    const line *l = &s->lines[s->words[i]];
    return l->set[col] ? l->set[col] : l->col[col];
}

const char *cl_conllu_form(const cl_conllu_sent *s, size_t i) { return cl_conllu_col(s, i, CL_CONLLU_FORM); }
const char *cl_conllu_upos(const cl_conllu_sent *s, size_t i) { return cl_conllu_col(s, i, CL_CONLLU_UPOS); }
const char *cl_conllu_xpos(const cl_conllu_sent *s, size_t i) { return cl_conllu_col(s, i, CL_CONLLU_XPOS); }

int cl_conllu_set_col(cl_conllu_sent *s, size_t i, int col, const char *value)
{
    assert(i < s->nwords && col >= 0 && col < CL_CONLLU_NCOLS);
    if (!value[0] || strpbrk(value, "\t\r\n"))
        return CL_EINVAL;
    char *copy = strdup(value);
    if (!copy)
        return CL_ENOMEM;
    line *l = &s->lines[s->words[i]];
    free(l->set[col]);
    l->set[col] = copy;
    return 0;
}

int cl_conllu_set_upos(cl_conllu_sent *s, size_t i, const char *upos) { return cl_conllu_set_col(s, i, CL_CONLLU_UPOS, upos); }
int cl_conllu_set_xpos(cl_conllu_sent *s, size_t i, const char *xpos) { return cl_conllu_set_col(s, i, CL_CONLLU_XPOS, xpos); }

const char *cl_conllu_text(const cl_conllu_sent *s)
{
    static const char key[] = "# text = ";
    for (size_t i = 0; i < s->nlines; i++)
        if (strncmp(s->lines[i].raw, key, sizeof key - 1) == 0)
            return s->lines[i].raw + sizeof key - 1;
    return NULL;
}

/* Range line k (a-b IDs), or NULL. */
static const line *range_line(const cl_conllu_sent *s, size_t k)
{
    for (size_t i = 0; i < s->nlines; i++) {
        const line *l = &s->lines[i];
        if (l->raw[0] != '#' && strchr(l->col[CL_CONLLU_ID], '-') && k-- == 0)
            return l;
    }
    return NULL;
}

size_t cl_conllu_nranges(const cl_conllu_sent *s)
{
    size_t n = 0;
    while (range_line(s, n))
        n++;
    return n;
}

const char *cl_conllu_range(const cl_conllu_sent *s, size_t k, size_t *first, size_t *last)
{
    const line *l = range_line(s, k);
    assert(l);
    const char *id = l->col[CL_CONLLU_ID], *dash = strchr(id, '-');
    /* checked by the reader: 1 <= a < b */
    *first = parse_uint(id, dash) - 1;
    *last = parse_uint(dash + 1, dash + strlen(dash)) - 1;
    if (*last >= s->nwords)
        *last = s->nwords - 1; /* a range past the last word: clipped */
    if (*first > *last)
        *first = *last;
    return l->col[CL_CONLLU_FORM];
}

/* The MISC column of range k (SpaceAfter of a multiword token is there). */
const char *cl_conllu_range_misc(const cl_conllu_sent *s, size_t k)
{
    const line *l = range_line(s, k);
    assert(l);
    return l->col[CL_CONLLU_MISC];
}

int cl_conllu_no_space_after(const char *misc)
{
    static const char key[] = "SpaceAfter=No";
    for (const char *p = misc; (p = strstr(p, key)); p += sizeof key - 1)
        if ((p == misc || p[-1] == '|') && (!p[sizeof key - 1] || p[sizeof key - 1] == '|'))
            return 1;
    return 0;
}

int cl_conllu_has_comment(const cl_conllu_sent *s, const char *key)
{
    size_t n = strlen(key);
    for (size_t i = 0; i < s->nlines; i++) {
        const char *r = s->lines[i].raw;
        if (r[0] == '#' && r[1] == ' ' && !strncmp(r + 2, key, n) && (!r[2 + n] || r[2 + n] == ' '))
            return 1;
    }
    return 0;
}

long cl_conllu_line(const cl_conllu_sent *s)
{
    return s->first_line;
}

/* A word line with replaced columns is rebuilt; every other line is raw. */
static void write_line(FILE *fp, const line *l)
{
    int changed = 0;
    for (int c = 0; c < CL_CONLLU_NCOLS; c++)
        changed |= l->set[c] != NULL;
    if (!changed) {
        fputs(l->raw, fp);
        return;
    }
    for (int c = 0; c < CL_CONLLU_NCOLS; c++) {
        if (c)
            fputc('\t', fp);
        fputs(l->set[c] ? l->set[c] : l->col[c], fp);
    }
}

int cl_conllu_write(FILE *fp, const cl_conllu_sent *s, const char *name, cl_diag *diag)
{
    for (size_t i = 0; i < s->nlines; i++) {
        write_line(fp, &s->lines[i]);
        fputc('\n', fp);
    }
    fputc('\n', fp);
    if (ferror(fp))
        return cl_diag_set(diag, CL_EIO, "%s: write error", name ? name : "-");
    return 0;
}
