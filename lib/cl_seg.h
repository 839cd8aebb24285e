/* cl_seg: what a treebank teaches about raw text — where sentences end and
 * which tokens are multiword tokens — and applying it to tokenized text.
 *
 * Learned (cl_seg_learn, from the training CoNLL-U files):
 *   - abbreviations: lower-cased tokens ending in "." that occur inside
 *     sentences more often than at their end ("mr.", "u.s.", "e.g.");
 *   - multiword tokens: lower-cased surfaces written as one token with
 *     several words (range lines "2-3 don't") more often than as separate
 *     tokens ("don't", "i'm", "cannot"), and clitics: last words that make a
 *     multiword token with whatever word they follow ("n't", "'s", "'m"),
 *     for surfaces the treebank never showed ("shouldn't").
 * A treebank without range lines teaches no multiword token.  The rules are
 * stored in the head.tagger section (keys seg_abbrevs, seg_mwt,
 * seg_clitics); files written before they existed load with none.
 *
 * Applied (cl_seg): sentence ends are found by PCRE2 rules over the tokens of
 * a paragraph: a token of final punctuation (". ! ? ...", followed by any
 * closing quotes or brackets) ends a sentence unless the next token starts
 * with a lower-case letter; a word ending in "." ends one when it is not a
 * learned abbreviation or a single initial and the next token starts with
 * an upper-case letter, a digit or a quote.  Multiword tokens join 2 or 3
 * tokens written without space between them.
 *
 * Memory: a cl_seg_rules owns its lists (cl_seg_rules_clear frees them); a
 * cl_seg borrows the rules it was made from, which must outlive it. */
#ifndef CL_SEG_H
#define CL_SEG_H

#include <stddef.h>

#include "cl_ckpt.h"
#include "cl_error.h"
#include "cl_tok.h"
#include "cl_api.h"

CL_API_BEGIN

typedef struct {
    int nabbrevs;  char **abbrevs;  /* sorted (strcmp), lower-cased */
    int nmwt;      char **mwt;      /* sorted, lower-cased surfaces, ’ written ' */
    int nclitics;  char **clitics;  /* sorted, lower-cased last words */
} cl_seg_rules;

/* Learn the rules from CoNLL-U files (replacing what r held).  Errors name
 * the file and line (cl_conllu).  r starts zeroed or from an earlier call. */
int cl_seg_learn(cl_seg_rules *r, const char *const *paths, int npaths, cl_diag *d);
/* Deep copy into dst (which is overwritten); CL_ENOMEM. */
int cl_seg_rules_copy(cl_seg_rules *dst, const cl_seg_rules *src);
void cl_seg_rules_clear(cl_seg_rules *r);
/* As keys of a model file section; loading a section without them gives
 * empty rules (older files). */
int cl_seg_rules_save(const cl_seg_rules *r, cl_ckpt_writer *w);
int cl_seg_rules_load(cl_seg_rules *r, const cl_ckpt_section *s, cl_diag *d);

typedef struct cl_seg cl_seg;

/* Compile the patterns for rules r (borrowed).  Free with cl_seg_free. */
int cl_seg_create(cl_seg **out, const cl_seg_rules *r, cl_diag *d);
void cl_seg_free(cl_seg *s);

/* Sentence ends over the n tokens of text: ends[k] is one past the last
 * token of sentence k, *nsent the count (ends needs room for n; the last
 * sentence always ends at n; n = 0 gives none). */
void cl_seg_sentences(const cl_seg *s, const char *text, const cl_tok_span *tok, size_t n,
                      size_t *ends, size_t *nsent);

/* Multiword tokens over the n tokens of text: join[i] = number of tokens
 * that token i starts (2 or 3 for a multiword token, 1 otherwise, 0 for
 * the tokens inside one). */
void cl_seg_mwt(const cl_seg *s, const char *text, const cl_tok_span *tok, size_t n, int *join);

CL_API_END

#endif
