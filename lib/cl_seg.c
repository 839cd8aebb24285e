/* cl_seg: learning abbreviations and multiword tokens from a treebank, and
 * the PCRE2 rules that split paragraphs and join multiword tokens. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "cl_seg.h"

#include <pcre2.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "cl_conllu.h"

#define KEY_MAX 128 /* bytes of a lower-cased token used as a key; longer: no rule */

/* ==== keys ================================================================= */

/* Lower-case s[0..len) into buf with ’ written as '; 0 when it does not fit
 * or is not UTF-8. */
static int seg_key(const char *s, size_t len, char *buf)
{
    const utf8proc_uint8_t *p = (const utf8proc_uint8_t *)s;
    size_t n = 0;
    utf8proc_int32_t cp;
    while (len > 0) {
        utf8proc_ssize_t k = utf8proc_iterate(p, (utf8proc_ssize_t)len, &cp);
        if (k <= 0 || n + 5 > KEY_MAX)
            return 0;
        cp = cp == 0x2019 ? '\'' : utf8proc_tolower(cp);
        n += (size_t)utf8proc_encode_char(cp, (utf8proc_uint8_t *)buf + n);
        p += k, len -= (size_t)k;
    }
    buf[n] = 0;
    return n > 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int in_list(char *const *list, int n, const char *key)
{
    return n > 0 && bsearch(&key, list, (size_t)n, sizeof *list, cmp_str) != NULL;
}

/* ==== learning ============================================================= */

/* Observations "key\tF": one string per sighting, counted after a sort. */
typedef struct {
    char **v;
    size_t n, cap;
} seen;

static int see(seen *s, const char *form, size_t len, char flag)
{
    char key[KEY_MAX + 3];
    if (!seg_key(form, len, key))
        return CL_OK;
    size_t k = strlen(key);
    key[k] = '\t', key[k + 1] = flag, key[k + 2] = 0;
    if (s->n == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 1024;
        char **v = realloc(s->v, cap * sizeof *v);
        if (!v)
            return CL_ENOMEM;
        s->v = v, s->cap = cap;
    }
    return (s->v[s->n] = strdup(key)) ? (s->n++, CL_OK) : CL_ENOMEM;
}

static void seen_free(seen *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->v[i]);
    free(s->v);
}

/* Keys seen with flag `yes` more often than with `no` (and at least
 * min_yes times), sorted, into *out. */
static int decide(seen *s, char yes, char no, int min_yes, char ***out, int *nout)
{
    if (s->n) /* nothing seen: v is NULL, which qsort must not get */
        qsort(s->v, s->n, sizeof *s->v, cmp_str);
    char **res = malloc(sizeof *res * (s->n ? s->n : 1));
    int m = 0;
    for (size_t i = 0, j; res && i < s->n; i = j) {
        size_t klen = (size_t)(strrchr(s->v[i], '\t') - s->v[i]);
        long y = 0, n = 0;
        for (j = i; j < s->n && !strncmp(s->v[j], s->v[i], klen + 1); j++)
            y += s->v[j][klen + 1] == yes, n += s->v[j][klen + 1] == no;
        if (y > n && y >= min_yes && (res[m] = strndup(s->v[i], klen)))
            m++;
    }
    if (!res)
        return CL_ENOMEM;
    *out = res, *nout = m;
    return CL_OK;
}

static int is_closer(const char *f) { return strspn(f, "\"')]}") == strlen(f) && *f; }

/* A word ending in "." with a letter in it: what may be an abbreviation. */
static int dotted(const char *f)
{
    size_t n = strlen(f);
    if (n < 2 || f[n - 1] != '.')
        return 0;
    for (size_t i = 0; i + 1 < n; i++)
        if ((f[i] | 0x20) >= 'a' && (f[i] | 0x20) <= 'z')
            return 1;
    return 0;
}

typedef struct {
    seen abbr, mwt, clitic;
} learner;

/* One sentence: its tokens (a range is one token), which end it, and which
 * are written without a space before the next. */
static int learn_sentence(learner *L, const cl_conllu_sent *s)
{
    size_t nw = cl_conllu_nwords(s), nr = cl_conllu_nranges(s), k = 0, first, last;
    const char *rform = nr ? cl_conllu_range(s, 0, &first, &last) : NULL;
    size_t end = nw; /* words after the last non-closing token */
    while (end > 0 && is_closer(cl_conllu_form(s, end - 1)))
        end--;
    int err = CL_OK, prev_single = 0; /* the previous token: one word, no space after it */
    for (size_t i = 0; i < nw && !err; i++) {
        const char *f = cl_conllu_form(s, i);
        if (rform && i == first) { /* a multiword token */
            const char *lastw = cl_conllu_form(s, last);
            err = see(&L->mwt, rform, strlen(rform), 'M');
            err = err ? err : see(&L->clitic, lastw, strlen(lastw), 'M');
            i = last, prev_single = 0;
            rform = ++k < nr ? cl_conllu_range(s, k, &first, &last) : NULL;
            continue;
        }
        if (prev_single && i > 0) { /* two words written together, not one token */
            const char *p = cl_conllu_form(s, i - 1);
            char pair[2 * KEY_MAX];
            size_t lp = strlen(p), lf = strlen(f);
            if (lp + lf < sizeof pair) {
                memcpy(pair, p, lp), memcpy(pair + lp, f, lf);
                err = see(&L->mwt, pair, lp + lf, 'S');
            }
            err = err ? err : see(&L->clitic, f, strlen(f), 'S');
        }
        if (!err && dotted(f))
            err = see(&L->abbr, f, strlen(f), i + 1 == end ? 'F' : 'I');
        prev_single = cl_conllu_no_space_after(cl_conllu_col(s, i, CL_CONLLU_MISC));
    }
    return err;
}

static int learn_file(learner *L, const char *path, cl_diag *d)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return cl_diag_set(d, CL_EIO, "%s: cannot open", path);
    cl_conllu_reader *r = cl_conllu_reader_new(fp, path);
    cl_conllu_sent *s = cl_conllu_sent_new();
    int got = r && s ? 0 : CL_ENOMEM;
    while (!got && (got = cl_conllu_read(r, s, d)) == 1)
        got = learn_sentence(L, s);
    cl_conllu_sent_free(s);
    cl_conllu_reader_free(r);
    fclose(fp);
    return got;
}

int cl_seg_learn(cl_seg_rules *r, const char *const *paths, int npaths, cl_diag *d)
{
    learner L;
    memset(&L, 0, sizeof L);
    int err = CL_OK;
    for (int i = 0; i < npaths && !err; i++)
        err = learn_file(&L, paths[i], d);
    cl_seg_rules_clear(r);
    err = err ? err : decide(&L.abbr, 'I', 'F', 1, &r->abbrevs, &r->nabbrevs);
    err = err ? err : decide(&L.mwt, 'M', 'S', 1, &r->mwt, &r->nmwt);
    /* a clitic generalises to unseen words: ask for a few sightings */
    err = err ? err : decide(&L.clitic, 'M', 'S', 3, &r->clitics, &r->nclitics);
    seen_free(&L.abbr), seen_free(&L.mwt), seen_free(&L.clitic);
    if (err)
        cl_seg_rules_clear(r);
    return err;
}

/* ==== rules as data ======================================================== */

static void free_list(char **v, int n)
{
    for (int i = 0; v && i < n; i++)
        free(v[i]);
    free(v);
}

void cl_seg_rules_clear(cl_seg_rules *r)
{
    free_list(r->abbrevs, r->nabbrevs);
    free_list(r->mwt, r->nmwt);
    free_list(r->clitics, r->nclitics);
    memset(r, 0, sizeof *r);
}

/* A sorted copy (the file's order is not trusted for bsearch). */
static int copy_list(char ***dst, int *ndst, const char *const *src, int n)
{
    char **v = calloc((size_t)(n ? n : 1), sizeof *v);
    for (int i = 0; v && i < n; i++)
        if (!(v[i] = strdup(src[i]))) {
            free_list(v, i);
            v = NULL;
        }
    if (!v)
        return CL_ENOMEM;
    qsort(v, (size_t)n, sizeof *v, cmp_str);
    *dst = v, *ndst = n;
    return CL_OK;
}

int cl_seg_rules_copy(cl_seg_rules *dst, const cl_seg_rules *src)
{
    memset(dst, 0, sizeof *dst);
    int err = copy_list(&dst->abbrevs, &dst->nabbrevs, (const char *const *)src->abbrevs,
                        src->nabbrevs);
    err = err ? err : copy_list(&dst->mwt, &dst->nmwt, (const char *const *)src->mwt, src->nmwt);
    err = err ? err : copy_list(&dst->clitics, &dst->nclitics, (const char *const *)src->clitics,
                                src->nclitics);
    if (err)
        cl_seg_rules_clear(dst);
    return err;
}

int cl_seg_rules_save(const cl_seg_rules *r, cl_ckpt_writer *w)
{
    int err = cl_ckpt_put_strs(w, "seg_abbrevs", (const char *const *)r->abbrevs, r->nabbrevs);
    err = err ? err : cl_ckpt_put_strs(w, "seg_mwt", (const char *const *)r->mwt, r->nmwt);
    return err ? err : cl_ckpt_put_strs(w, "seg_clitics", (const char *const *)r->clitics,
                                        r->nclitics);
}

static int load_list(const cl_ckpt_section *s, const char *key, char ***out, int *n, cl_diag *d)
{
    const char *const *v;
    int err = cl_ckpt_get_strs(s, key, &v, n, NULL);
    if (err == CL_ENOTFOUND) /* a file from before the rules: none */
        return copy_list(out, n, NULL, 0);
    if (err)
        return cl_ckpt_get_strs(s, key, &v, n, d); /* again, for the message */
    return copy_list(out, n, v, *n);
}

int cl_seg_rules_load(cl_seg_rules *r, const cl_ckpt_section *s, cl_diag *d)
{
    memset(r, 0, sizeof *r);
    int err = load_list(s, "seg_abbrevs", &r->abbrevs, &r->nabbrevs, d);
    err = err ? err : load_list(s, "seg_mwt", &r->mwt, &r->nmwt, d);
    err = err ? err : load_list(s, "seg_clitics", &r->clitics, &r->nclitics, d);
    if (err)
        cl_seg_rules_clear(r);
    return err;
}

/* ==== applying the rules =================================================== */

enum { P_FINAL, P_CLOSER, P_DOTTED, P_INITIAL, P_STARTER, P_LOWER, P_WORD, NPAT };

/* Whole-token patterns (anchored at both ends by the matching call). */
static const char *const PATTERNS[NPAT] = {
    [P_FINAL] = "[.!?\\x{2026}\\x{3002}\\x{FF01}\\x{FF1F}]+",
    [P_CLOSER] = "[\"'\\x{201D}\\x{2019}\\x{BB})\\]}]+",
    [P_DOTTED] = "[\\p{L}\\p{N}][\\p{L}\\p{N}.'&-]*\\.",
    [P_INITIAL] = "\\p{L}\\.",
    [P_STARTER] = "[\\p{Lu}\\p{Lt}\\p{N}\"'\\x{201C}\\x{2018}(\\[].*",
    [P_LOWER] = "\\p{Ll}.*",
    [P_WORD] = "[\\p{L}\\p{N}].*",
};

struct cl_seg {
    const cl_seg_rules *r;
    pcre2_code *code[NPAT];
};

int cl_seg_create(cl_seg **out, const cl_seg_rules *r, cl_diag *d)
{
    cl_seg *s = calloc(1, sizeof *s);
    if (!s)
        return CL_ENOMEM;
    s->r = r;
    for (int i = 0; i < NPAT; i++) {
        int ec;
        PCRE2_SIZE off;
        s->code[i] = pcre2_compile((PCRE2_SPTR)PATTERNS[i], PCRE2_ZERO_TERMINATED,
                                   PCRE2_UTF | PCRE2_UCP | PCRE2_ANCHORED | PCRE2_ENDANCHORED |
                                       PCRE2_DOTALL,
                                   &ec, &off, NULL);
        if (!s->code[i]) {
            cl_seg_free(s);
            return cl_diag_set(d, CL_EINVAL, "sentence rule %d does not compile at %zu", i,
                               (size_t)off);
        }
    }
    *out = s;
    return CL_OK;
}

void cl_seg_free(cl_seg *s)
{
    if (!s)
        return;
    for (int i = 0; i < NPAT; i++)
        pcre2_code_free(s->code[i]);
    free(s);
}

static int is(const cl_seg *s, int pat, const char *text, const cl_tok_span *t)
{
    pcre2_match_data *md = pcre2_match_data_create(1, NULL);
    int rc = md ? pcre2_match(s->code[pat], (PCRE2_SPTR)(text + t->off), t->len, 0,
                              PCRE2_NO_UTF_CHECK, md, NULL)
                : -1;
    pcre2_match_data_free(md);
    return rc > 0;
}

static int is_abbrev(const cl_seg *s, const char *text, const cl_tok_span *t)
{
    char key[KEY_MAX];
    return seg_key(text + t->off, t->len, key) && in_list(s->r->abbrevs, s->r->nabbrevs, key);
}

/* Does a sentence end after token i (of n)?  *last gets the last token of
 * the sentence (final punctuation takes the closing quotes after it). */
static int ends_at(const cl_seg *s, const char *text, const cl_tok_span *tok, size_t n, size_t i,
                   size_t *last)
{
    *last = i;
    if (is(s, P_FINAL, text, &tok[i])) {
        while (*last + 1 < n && is(s, P_CLOSER, text, &tok[*last + 1]))
            ++*last;
        return *last + 1 < n && !is(s, P_LOWER, text, &tok[*last + 1]);
    }
    return i + 1 < n && is(s, P_DOTTED, text, &tok[i]) && !is(s, P_INITIAL, text, &tok[i]) &&
           !is_abbrev(s, text, &tok[i]) && is(s, P_STARTER, text, &tok[i + 1]);
}

void cl_seg_sentences(const cl_seg *s, const char *text, const cl_tok_span *tok, size_t n,
                      size_t *ends, size_t *nsent)
{
    size_t k = 0, last;
    for (size_t i = 0; i < n; i = last + 1)
        if (ends_at(s, text, tok, n, i, &last))
            ends[k++] = last + 1;
    if (n > 0)
        ends[k++] = n;
    *nsent = k;
}

/* Tokens i..i+m-1 written without space between them, as one key. */
static int joined_key(const char *text, const cl_tok_span *tok, size_t i, size_t m, char *key)
{
    char buf[KEY_MAX];
    size_t len = 0;
    for (size_t j = i; j < i + m; j++) {
        if ((j > i && tok[j - 1].off + tok[j - 1].len != tok[j].off) || len + tok[j].len >= KEY_MAX)
            return 0;
        memcpy(buf + len, text + tok[j].off, tok[j].len);
        len += tok[j].len;
    }
    return seg_key(buf, len, key);
}

/* How many tokens from i form a multiword token (1: none). */
static int mwt_at(const cl_seg *s, const char *text, const cl_tok_span *tok, size_t n, size_t i)
{
    char key[KEY_MAX];
    for (size_t m = 3; m >= 2; m--)
        if (i + m <= n && joined_key(text, tok, i, m, key) && in_list(s->r->mwt, s->r->nmwt, key))
            return (int)m;
    if (i + 2 <= n && joined_key(text, tok, i, 2, key) && is(s, P_WORD, text, &tok[i]) &&
        seg_key(text + tok[i + 1].off, tok[i + 1].len, key) &&
        in_list(s->r->clitics, s->r->nclitics, key))
        return 2;
    return 1;
}

void cl_seg_mwt(const cl_seg *s, const char *text, const cl_tok_span *tok, size_t n, int *join)
{
    for (size_t i = 0; i < n;) {
        int m = s->r->nmwt || s->r->nclitics ? mwt_at(s, text, tok, n, i) : 1;
        join[i] = m;
        for (int j = 1; j < m; j++)
            join[i + (size_t)j] = 0;
        i += (size_t)m;
    }
}
