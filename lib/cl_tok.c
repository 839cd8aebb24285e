/* cl_tok: the rule table and the matching loop (see cl_tok.h). */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "cl_tok.h"

#include <assert.h>
#include <pcre2.h>
#include <stdint.h>
#include <stdlib.h>

/* ------------------------------------------------------------------------
 * The rules.  Order is priority: at each position the first rule that
 * matches (anchored there) makes the token.  Lookbehinds may look before the
 * current position because the whole line is passed to PCRE2.
 * ------------------------------------------------------------------------ */

#define AL      "[\\p{L}\\p{M}\\p{N}]"            /* a word character, any script */
#define END     "(?![\\p{L}\\p{M}\\p{N}])"        /* ... and none follows */
#define APOS    "['\\x{2019}]"                     /* ' or typographic ’ */
#define CLITIC  "(?i:s|m|d|re|ve|ll)"              /* after the apostrophe */
#define URLTAIL "[^\\s]*[^\\s.,;:!?'\"\\x{2019}\\x{201D})\\]}>]"

/* Prefixes that EWT keeps attached with their hyphen (e-mail, non-human);
 * every other hyphen between words is a token of its own (15 - year). */
#define HYPREFIX "(?i:e|non|pre|anti|re|mid|post|co|over|pro|multi|ex|sub|semi|neo" \
                 "|cross|vice|un|socio|micro|intra|inter|counter|mis|psycho|arch)"

/* Abbreviations whose period belongs to the word. */
/* Abbreviations whose period belongs to the word -- except at the end of
 * the line, where EWT gives the period its own token ("the U.S" "."). */
#define ABBREV "(?:(?i:e\\.g|i\\.e|a\\.k\\.a|etc|vs|viz|approx|cf|al|ext|a\\.m|p\\.m)" \
               "|Mr|Mrs|Ms|Dr|Prof|St|Jr|Sr|Inc|Ltd|Co|Corp|Bros|Gen|Gov|Sen|Rep|Rev" \
               "|Sgt|Capt|Col|Lt|Mt|Ft|Ave|Blvd|No|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep" \
               "|Sept|Oct|Nov|Dec|Mon|Tue|Tues|Wed|Thu|Thur|Thurs|Fri|Sat|Sun|Drs|Sts|PS" \
               "|(?i:ltd|inc|pvt|corp|ect))"
#define FINALDOT "(?:\\.(?!\\s*$)|(?=\\.\\s*$))"

/* File names and Usenet groups stay whole (CrudeStocks.pdf, alt.animals.cat). */
#define FILEEXT "(?i:pdf|docx?|xlsx?|pptx?|html?|jpe?g|gif|png|txt|zip|exe|wav|mp3|csv)"
#define NEWSGRP "(?:alt|comp|rec|sci|soc|misc|talk|news)"

#define UNIT "(?:(?i:[ap]\\.?m\\.?)|[kKmgfpcx]|mm|cm|km|kg|gb|GB|mb|MB|kb|hz|mhz|ghz|ft" \
             "|lbs?|hrs?|mins?|secs?|yrs?|days?)" END

/* Informal contractions without an apostrophe, split as EWT does: dont ->
 * do nt, im -> i m, thats -> that s.  The stem is a token here; the rest
 * ("nt", "m", "s") then matches as an ordinary word. */
#define INFORMAL "(?i:(?:do|does|did|is|was|were|are|have|has|had|could|would|should" \
                 "|ca|wo|ai)(?=nt" END ")|i(?=m" END "|ve" END ")" \
                 "|(?:that|what|there|he)(?=s" END ")|(?:you|they)(?=re" END "))"

typedef struct {
    const char *name;
    const char *pattern;
    int emit; /* 0: matched text is skipped (whitespace) */
} tok_rule;

static const tok_rule RULES[] = {
    {"space",      "\\s+", 0},
    {"url",        "(?:(?i:https?|ftp)://|www\\.)" URLTAIL, 1},
    /* also Enron-style "Warner@ENRON" and bare "@example.com" */
    {"email",      "[\\p{L}\\p{N}._%+-]*@[\\p{L}\\p{N}-]+(?:\\.[\\p{L}\\p{N}-]+)*", 1},
    {"filename",   "[\\p{L}\\p{N}_-]*\\." FILEEXT END, 1},
    {"newsgroup",  NEWSGRP "(?:\\.[\\p{L}\\p{N}+-]+)+" END, 1},
    {"hashtag",    "#\\p{L}[\\p{L}\\p{N}_]*", 1},
    {"domain",     "[\\p{L}\\p{N}][\\p{L}\\p{N}-]*(?:\\.[\\p{L}\\p{N}-]+)*"
                   "\\.(?i:com|org|net|edu|gov|co\\.uk|info|biz)(?:/" URLTAIL ")?" END, 1},
    {"phone",      "(?:(?:\\d{3}-)?\\d{3}-\\d{4}|\\d-\\d{4})" END, 1},
    /* "family:)" is two tokens, but "Re:P" is not an emoticon */
    {"emoticon",   "(?:[:;=][-o^']?[)(\\]\\[/\\\\|*]|(?<![\\p{L}\\p{N}])[:;=][-o^']?[DPpO]"
                   "|<3|\\^_*\\^|-_-)" END, 1},
    {"abbrev",     "(?:" ABBREV FINALDOT "|(?i:b/c|w/o|w/))" END, 1},
    {"acronym",    "(?:\\p{L}\\.)+\\p{L}(?:" FINALDOT ")?" END, 1},
    {"initial",    "\\p{Lu}\\.(?=\\s)", 1},
    {"ordinal",    "\\p{N}+(?i:st|nd|rd|th|s)" END, 1},
    /* Units are split off (3 pm, 70 k, 375 mm), but 10MM and 4gamer are
     * words (rule "word"). */
    {"number",     "\\p{N}+(?:[.,:/]\\p{N}+)*(?:(?=" UNIT ")|" END ")", 1},
    /* cannot -> can not, gonna -> gon na, ...: the stem here, the rest
     * becomes an ordinary word. */
    {"split_stem", "(?i:can(?=not" END ")|gon(?=na" END ")|wan(?=na" END ")"
                   "|got(?=ta" END ")|out(?=ta" END "))", 1},
    {"informal",   INFORMAL, 1},
    {"neg_stem",   "\\p{L}+?(?=[nN]" APOS "[tT]" END ")", 1},       /* do|n't */
    {"neg",        "[nN]" APOS "[tT]" END, 1},
    {"clitic",     "(?<=[\\p{L}\\p{N}])" APOS CLITIC END, 1},        /* John|'s */
    {"prefixed",   HYPREFIX "-\\p{L}" AL "*", 1},
    /* Words may hold apostrophes (O'Brien) but not before a clitic. */
    {"word",       AL "+(?:" APOS "(?!" CLITIC END ")" AL "+)*", 1},
    /* "..." "?!" "!!!" "--" "----==" are one token each; "...?" is two */
    {"punct",      "\\.{2,}|[.!?]+|[-=]{2,}|([\\p{P}\\p{S}])\\1*", 1},
    {"other",      "\\X", 1},
};

#define NRULES (sizeof RULES / sizeof RULES[0])

struct cl_tok {
    pcre2_code *code[NRULES];
};

/* ------------------------------------------------------------------------
 * Compile
 * ------------------------------------------------------------------------ */

static int compile_rule(cl_tok *t, size_t i, cl_diag *diag)
{
    int errcode;
    PCRE2_SIZE erroff;
    uint32_t opts = PCRE2_UTF | PCRE2_UCP | PCRE2_ANCHORED;
    t->code[i] = pcre2_compile((PCRE2_SPTR)RULES[i].pattern, PCRE2_ZERO_TERMINATED,
                               opts, &errcode, &erroff, NULL);
    if (!t->code[i]) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(errcode, msg, sizeof msg);
        return cl_diag_set(diag, CL_EINVAL, "tokenizer rule %s: %s at offset %zu",
                           RULES[i].name, (const char *)msg, (size_t)erroff);
    }
    /* JIT is an optimisation only: without it pcre2_match interprets. */
    (void)pcre2_jit_compile(t->code[i], PCRE2_JIT_COMPLETE);
    return 0;
}

int cl_tok_create(cl_tok **out, cl_diag *diag)
{
    *out = NULL;
    cl_tok *t = calloc(1, sizeof *t);
    if (!t)
        return cl_diag_set(diag, CL_ENOMEM, "tokenizer: out of memory");
    for (size_t i = 0; i < NRULES; i++) {
        int err = compile_rule(t, i, diag);
        if (err) {
            cl_tok_free(t);
            return err;
        }
    }
    *out = t;
    return 0;
}

void cl_tok_free(cl_tok *tok)
{
    if (!tok)
        return;
    for (size_t i = 0; i < NRULES; i++)
        pcre2_code_free(tok->code[i]);
    free(tok);
}

const char *cl_tok_rule_name(int rule)
{
    return rule >= 0 && (size_t)rule < NRULES ? RULES[rule].name : "?";
}

/* ------------------------------------------------------------------------
 * Match
 * ------------------------------------------------------------------------ */

/* Length of the token starting at pos and its rule; 0 or a cl_err. */
static int next_token(const cl_tok *t, pcre2_match_data *md, const char *s, size_t len,
                      size_t pos, uint32_t opts, size_t *end, int *which, cl_diag *diag)
{
    for (size_t i = 0; i < NRULES; i++) {
        int rc = pcre2_match(t->code[i], (PCRE2_SPTR)s, len, pos, opts, md, NULL);
        if (rc == PCRE2_ERROR_NOMATCH)
            continue;
        if (rc <= PCRE2_ERROR_UTF8_ERR1 && rc >= PCRE2_ERROR_UTF8_ERR21)
            return cl_diag_set(diag, CL_EUTF8, "tokenizer: invalid UTF-8 in input");
        if (rc < 0) {
            PCRE2_UCHAR msg[256];
            pcre2_get_error_message(rc, msg, sizeof msg);
            return cl_diag_set(diag, CL_EINVAL, "tokenizer rule %s at byte %zu: %s",
                               RULES[i].name, pos, (const char *)msg);
        }
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        if (ov[1] <= pos) /* an empty match would loop forever: no rule can */
            continue;
        *end = ov[1];
        *which = (int)i;
        return 0;
    }
    /* Unreachable: "other" (\X) matches any character. */
    assert(0);
    *end = pos + 1;
    *which = (int)NRULES - 1;
    return 0;
}

int cl_tok_line(const cl_tok *tok, const char *s, size_t len,
                cl_tok_span *spans, size_t cap, size_t *ntok, cl_diag *diag)
{
    *ntok = 0;
    if (len == 0)
        return 0;
    pcre2_match_data *md = pcre2_match_data_create(4, NULL);
    if (!md)
        return cl_diag_set(diag, CL_ENOMEM, "tokenizer: out of memory");
    /* PCRE2 checks the whole subject's UTF-8 on every call unless told not
     * to: check it once, on the first call, and skip the check after. */
    uint32_t opts = 0;
    size_t pos = 0, n = 0;
    int err = 0;
    while (pos < len) {
        size_t end;
        int which;
        err = next_token(tok, md, s, len, pos, opts, &end, &which, diag);
        opts = PCRE2_NO_UTF_CHECK;
        if (err)
            break;
        if (!RULES[which].emit) {
            pos = end;
            continue;
        }
        if (n < cap)
            spans[n] = (cl_tok_span){pos, end - pos, which};
        n++;
        pos = end;
    }
    pcre2_match_data_free(md);
    *ntok = err ? 0 : n;
    return err;
}

int cl_tok_line_alloc(const cl_tok *tok, const char *s, size_t len,
                      cl_tok_span **spans, size_t *ntok, cl_diag *diag)
{
    *spans = NULL;
    *ntok = 0;
    if (len == 0)
        return 0;
    /* A token is at least one byte, so len spans always suffice. */
    if (len > SIZE_MAX / sizeof(cl_tok_span))
        return cl_diag_set(diag, CL_EINVAL, "tokenizer: line of %zu bytes too long", len);
    cl_tok_span *buf = malloc(len * sizeof *buf);
    if (!buf)
        return cl_diag_set(diag, CL_ENOMEM, "tokenizer: out of memory");
    int err = cl_tok_line(tok, s, len, buf, len, ntok, diag);
    if (err || *ntok == 0) {
        free(buf);
        return err;
    }
    cl_tok_span *small = realloc(buf, *ntok * sizeof *buf);
    *spans = small ? small : buf;
    return 0;
}
