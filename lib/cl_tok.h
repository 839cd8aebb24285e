/* cl_tok: PCRE2 word tokenizer for raw text, splitting the way Universal
 * Dependencies English (EWT) does.
 *
 * The rules are one readable table of named PCRE2 patterns (cl_tok.c), tried
 * in order at each position after whitespace; the first that matches makes
 * the next token.  Patterns use PCRE2_UTF|PCRE2_UCP (\p{L}, \p{N}, \s for any
 * script) and are JIT-compiled when the PCRE2 build supports it.
 *
 * EWT conventions followed (checked against the treebank):
 *   - punctuation is split off; runs of one mark ("...", "--", "!!!") and
 *     mixed sentence-final runs ("?!", ".?") stay one token;
 *   - clitics are split as separate tokens: do|n't, ca|n't, wo|n't, I|'m,
 *     John|'s, they|'ll, we|'ve, I|'d, they|'re (ASCII ' or typographic ’),
 *     and cannot -> can|not, gonna -> gon|na, wanna, gotta, outta, and the
 *     informal dont -> do|nt, im -> i|m, thats -> that|s (as EWT annotates);
 *   - hyphens between words are split (15|-|year, wheel|-|chair) except after
 *     a short list of bound prefixes (e-mail, non-human, re-wording, anti-...);
 *   - URLs, e-mail addresses, phone numbers, numbers with separators
 *     (1,000.50  3.14  10:30  10/12/2005), ordinals and decades (1st, 1970s),
 *     abbreviations (e.g.  Dr.  U.S.  etc.  single initials "M.") and
 *     emoticons (:)  :-(  ;)  <3  ^_^), file names (a.pdf), Usenet groups
 *     and hashtags stay whole; units after numbers are split (3 pm, 70 k);
 *   - a period after an abbreviation or acronym is split off only at the end
 *     of the line ("in the U.S" "."), as in EWT.
 *
 * On EWT dev (# text lines against gold words, span P/R/F1) the table reaches
 * P 0.9953 R 0.9938 F1 0.9946; tests/test_tok.c prints the figures.
 *
 * Tokens are returned as byte spans into the caller's input: nothing is
 * copied, and a split clitic such as "n't" is simply the last three bytes of
 * "don't".  Input must be valid UTF-8 (the caller validates, see utf8proc).
 *
 * Thread safety: a cl_tok is read-only after cl_tok_create, so one object can
 * be shared by any number of threads; every call allocates its own PCRE2 match
 * data. */
#ifndef CL_TOK_H
#define CL_TOK_H

#include <stddef.h>

#include "cl_error.h"
#include "cl_api.h"

CL_API_BEGIN

typedef struct cl_tok cl_tok;

/* One token: bytes [off, off+len) of the input line; rule is the index of the
 * table rule that produced it (name via cl_tok_rule_name). */
typedef struct {
    size_t off;
    size_t len;
    int rule;
} cl_tok_span;

/* Compile the rule table.  On success *out is a new tokenizer that the caller
 * frees with cl_tok_free.  Fails with CL_EINVAL (a pattern did not compile:
 * diag names the rule and offset) or CL_ENOMEM. */
int cl_tok_create(cl_tok **out, cl_diag *diag);
void cl_tok_free(cl_tok *tok);

/* Tokenize s[0..len).  Writes the first min(total, cap) spans to spans[] and
 * the total number of tokens to *ntok, so a caller can size a buffer and call
 * again; cap >= len always suffices (a token holds at least one byte).  An
 * empty or all-whitespace line gives *ntok = 0.  Returns 0, CL_ENOMEM, or
 * CL_EINVAL (PCRE2 match failure such as a resource limit; diag says which). */
int cl_tok_line(const cl_tok *tok, const char *s, size_t len,
                cl_tok_span *spans, size_t cap, size_t *ntok, cl_diag *diag);

/* Same, with the span array allocated: *spans is malloc'd (NULL when there
 * are no tokens) and the caller frees it with free(). */
int cl_tok_line_alloc(const cl_tok *tok, const char *s, size_t len,
                      cl_tok_span **spans, size_t *ntok, cl_diag *diag);

/* Name of rule number `rule` ("word", "url", "clitic", ...), or "?" when out
 * of range.  Static string. */
const char *cl_tok_rule_name(int rule);

CL_API_END
#endif
