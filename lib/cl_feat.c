/* cl_feat: character features of a word, hashed to buckets (see cl_feat.h). */
#include "cl_feat.h"

#include <stdio.h>
#include <string.h>
#include <utf8proc.h>

cl_feat cl_feat_defaults(void)
{
    return (cl_feat){.buckets = 1 << 18, .max_affix = CL_FEAT_MAX_AFFIX, .affixes = 1};
}

int cl_feat_check(const cl_feat *f, cl_diag *diag)
{
    if (f->buckets < 1)
        return cl_diag_set(diag, CL_EINVAL, "feature buckets must be >= 1, got %d",
                           (int)f->buckets);
    if (f->max_affix < 0 || f->max_affix > CL_FEAT_MAX_AFFIX)
        return cl_diag_set(diag, CL_EINVAL, "max affix length must be 0..%d, got %d",
                           CL_FEAT_MAX_AFFIX, f->max_affix);
    return 0;
}

uint64_t cl_feat_hash(const char *s, size_t len)
{
    uint64_t h = 14695981039346656037ULL;
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ULL;
    }
    return h;
}

/* ------------------------------------------------------------------------
 * One pass over the code points
 * ------------------------------------------------------------------------ */

typedef struct {
    int32_t pre[CL_FEAT_MAX_AFFIX];  /* first code points */
    int32_t last[CL_FEAT_MAX_AFFIX]; /* ring of the last code points */
    size_t n;                        /* code points in the word */
    int upper, lower, first_upper;   /* cased letters seen */
    int digit, hyphen, punct;
    char shape[CL_FEAT_STRMAX - 8];
    size_t shape_len;
    int32_t shape_prev;
    int shape_run;
} scan;

static int32_t shape_char(utf8proc_category_t c, int32_t cp)
{
    switch (c) {
    case UTF8PROC_CATEGORY_LU: case UTF8PROC_CATEGORY_LT:
        return 'X';
    case UTF8PROC_CATEGORY_LL: case UTF8PROC_CATEGORY_LM: case UTF8PROC_CATEGORY_LO:
        return 'x';
    case UTF8PROC_CATEGORY_ND: case UTF8PROC_CATEGORY_NL: case UTF8PROC_CATEGORY_NO:
        return 'd';
    case UTF8PROC_CATEGORY_MN: case UTF8PROC_CATEGORY_MC: case UTF8PROC_CATEGORY_ME:
        return -1; /* marks do not change the shape */
    default:
        return cp;
    }
}

/* Append one shape character unless it extends a run beyond 4 or the
 * buffer is full (long URLs). */
static void shape_add(scan *sc, int32_t ch)
{
    if (ch < 0)
        return;
    sc->shape_run = ch == sc->shape_prev ? sc->shape_run + 1 : 1;
    sc->shape_prev = ch;
    if (sc->shape_run > 4 || sc->shape_len + 4 >= sizeof sc->shape)
        return;
    sc->shape_len += (size_t)utf8proc_encode_char(ch, (utf8proc_uint8_t *)sc->shape + sc->shape_len);
}

static void scan_cp(scan *sc, int32_t cp)
{
    utf8proc_category_t c = utf8proc_category(cp);
    if (sc->n < CL_FEAT_MAX_AFFIX)
        sc->pre[sc->n] = cp;
    sc->last[sc->n % CL_FEAT_MAX_AFFIX] = cp;
    sc->n++;
    int up = c == UTF8PROC_CATEGORY_LU || c == UTF8PROC_CATEGORY_LT;
    if ((up || c == UTF8PROC_CATEGORY_LL) && sc->upper + sc->lower == 0)
        sc->first_upper = up;
    sc->upper += up;
    sc->lower += c == UTF8PROC_CATEGORY_LL;
    sc->digit |= c >= UTF8PROC_CATEGORY_ND && c <= UTF8PROC_CATEGORY_NO;
    sc->hyphen |= c == UTF8PROC_CATEGORY_PD;
    sc->punct |= c >= UTF8PROC_CATEGORY_PC && c <= UTF8PROC_CATEGORY_PO;
    shape_add(sc, shape_char(c, cp));
}

static int scan_word(scan *sc, const char *word, size_t len)
{
    memset(sc, 0, sizeof *sc);
    sc->shape_prev = -1;
    const utf8proc_uint8_t *p = (const utf8proc_uint8_t *)word;
    size_t i = 0;
    while (i < len) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t k = utf8proc_iterate(p + i, (utf8proc_ssize_t)(len - i), &cp);
        if (k <= 0)
            return CL_EUTF8;
        scan_cp(sc, cp);
        i += (size_t)k;
    }
    sc->shape[sc->shape_len] = '\0';
    return 0;
}

/* ------------------------------------------------------------------------
 * Feature strings
 * ------------------------------------------------------------------------ */

/* "pre3=" or "suf3=" followed by n lower-cased code points, or "<none>". */
static void affix_string(char *out, const scan *sc, int suffix, size_t n)
{
    size_t o = (size_t)snprintf(out, CL_FEAT_STRMAX, "%s%zu=", suffix ? "suf" : "pre", n);
    if (sc->n < n) {
        snprintf(out + o, CL_FEAT_STRMAX - o, "<none>");
        return;
    }
    for (size_t j = 0; j < n; j++) {
        size_t k = sc->n - n + j; /* position in the word for a suffix */
        int32_t cp = suffix ? sc->last[k % CL_FEAT_MAX_AFFIX] : sc->pre[j];
        o += (size_t)utf8proc_encode_char(utf8proc_tolower(cp), (utf8proc_uint8_t *)out + o);
    }
    out[o] = '\0';
}

static const char *cap_name(const scan *sc)
{
    if (sc->upper + sc->lower == 0)
        return "none";
    if (sc->upper == 0)
        return "lower";
    if (sc->first_upper && sc->upper == 1)
        return "title";
    return sc->lower == 0 ? "upper" : "mixed";
}

int cl_feat_word_strings(const cl_feat *f, const char *word, size_t len,
                         char strs[CL_FEAT_SLOTS][CL_FEAT_STRMAX])
{
    scan sc;
    int err = scan_word(&sc, word, len);
    if (err)
        return err;
    int naff = f->affixes ? f->max_affix : 0;
    for (int n = 1; n <= CL_FEAT_MAX_AFFIX; n++) {
        strs[CL_FEAT_PRE1 + n - 1][0] = strs[CL_FEAT_SUF1 + n - 1][0] = '\0';
        if (n > naff)
            continue;
        affix_string(strs[CL_FEAT_PRE1 + n - 1], &sc, 0, (size_t)n);
        affix_string(strs[CL_FEAT_SUF1 + n - 1], &sc, 1, (size_t)n);
    }
    snprintf(strs[CL_FEAT_CAP], CL_FEAT_STRMAX, "cap=%s", cap_name(&sc));
    snprintf(strs[CL_FEAT_DIGIT], CL_FEAT_STRMAX, "digit=%d", sc.digit);
    snprintf(strs[CL_FEAT_HYPHEN], CL_FEAT_STRMAX, "hyphen=%d", sc.hyphen);
    snprintf(strs[CL_FEAT_PUNCT], CL_FEAT_STRMAX, "punct=%d", sc.punct);
    snprintf(strs[CL_FEAT_SHAPE], CL_FEAT_STRMAX, "shape=%s", sc.shape);
    return 0;
}

int cl_feat_word(const cl_feat *f, const char *word, size_t len, int32_t *ids)
{
    char strs[CL_FEAT_SLOTS][CL_FEAT_STRMAX];
    int err = cl_feat_word_strings(f, word, len, strs);
    if (err)
        return err;
    for (int s = 0; s < CL_FEAT_SLOTS; s++)
        ids[s] = strs[s][0] ? (int32_t)(cl_feat_hash(strs[s], strlen(strs[s]))
                                        % (uint64_t)f->buckets)
                            : -1;
    return 0;
}
