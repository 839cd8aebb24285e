/* cl_feat: per-word character features for the tagger ("charfeat").
 *
 * For one word it computes a fixed list of features, one per slot, each a
 * "kind=value" string hashed (64-bit FNV-1a, then modulo `buckets`) to a row
 * of one shared embedding table, as fastText does with character n-grams.
 * Everything is computed on Unicode code points with utf8proc, so any script
 * works.
 *
 * Slots (CL_FEAT_SLOTS = 13), in this order:
 *    0..3   pre1..pre4   prefix of 1..4 code points, lower-cased ("pre2=un")
 *    4..7   suf1..suf4   suffix of 1..4 code points, lower-cased ("suf2=ly")
 *    8      cap          capitalisation: lower | title | upper | mixed | none
 *    9      digit        any number character (Unicode N*): 0 | 1
 *    10     hyphen       any dash (Pd, includes '-'): 0 | 1
 *    11     punct        any punctuation (P*): 0 | 1
 *    12     shape        upper/title-case letter -> X, other letters -> x,
 *                        numbers -> d, marks dropped, anything else kept;
 *                        a run of one shape character is cut after 4 (spaCy):
 *                        "Hello" -> "Xxxxx", "3.14" -> "d.dd", "U.S." -> "X.X."
 *
 * Affixes are lower-cased because capitalisation has its own slot.  A word
 * shorter than n code points gets the value "<none>" for pre-n and suf-n, so
 * "short word" is itself visible.  Affix slots above max_affix, or all of
 * them when affixes are off, get id -1: the caller skips them (they add no
 * row).  cap: "none" when the word has no cased letter (digits, punctuation,
 * Japanese, ...); "title" when the first cased letter is upper case and all
 * others lower case (so "I" and "Příliš" are title); "upper" when two or more
 * cased letters are all upper case.  Shapes longer than CL_FEAT_STRMAX-8
 * bytes are truncated.
 *
 * Nothing here allocates; all functions are thread-safe. */
#ifndef CL_FEAT_H
#define CL_FEAT_H

#include <stddef.h>
#include <stdint.h>

#include "cl_error.h"
#include "cl_api.h"

CL_API_BEGIN

#define CL_FEAT_MAX_AFFIX 4
#define CL_FEAT_STRMAX 160

enum {
    CL_FEAT_PRE1 = 0, /* ... CL_FEAT_PRE1 + 3 */
    CL_FEAT_SUF1 = 4, /* ... CL_FEAT_SUF1 + 3 */
    CL_FEAT_CAP = 8,
    CL_FEAT_DIGIT = 9,
    CL_FEAT_HYPHEN = 10,
    CL_FEAT_PUNCT = 11,
    CL_FEAT_SHAPE = 12,
    CL_FEAT_SLOTS = 13
};

/* Configuration (plain struct; start from cl_feat_defaults()). */
typedef struct {
    int32_t buckets; /* rows of the feature embedding table, >= 1 */
    int max_affix;   /* prefixes/suffixes of length 1..max_affix, 0..4 */
    int affixes;     /* 0: no affix features at all (ablation) */
} cl_feat;

/* buckets = 1 << 18, max_affix = 4, affixes on. */
cl_feat cl_feat_defaults(void);

/* CL_EINVAL with a message when a field is out of range, else 0. */
int cl_feat_check(const cl_feat *f, cl_diag *diag);

/* Bucket ids of the word's features: ids[CL_FEAT_SLOTS], each in
 * [0, buckets) or -1 for a disabled slot.  word[0..len) must be UTF-8
 * (CL_EUTF8 otherwise); an empty word is allowed.  Returns 0 or CL_EUTF8. */
int cl_feat_word(const cl_feat *f, const char *word, size_t len, int32_t *ids);

/* The feature strings behind cl_feat_word, for tests and debugging
 * ("suf2=ly", "cap=title", "shape=Xxxx"); disabled slots are "". */
int cl_feat_word_strings(const cl_feat *f, const char *word, size_t len,
                         char strs[CL_FEAT_SLOTS][CL_FEAT_STRMAX]);

/* 64-bit FNV-1a of s[0..len), the hash behind the bucket ids. */
uint64_t cl_feat_hash(const char *s, size_t len);

CL_API_END
#endif
