/* cl_ngram: hashed word n-grams of a character-id sequence and the naive
 * Bayes evidence they carry for each label.
 *
 * Words are maximal runs of non-whitespace characters, compared without
 * case (simple lowercase mapping of utf8proc), with punctuation (Unicode
 * categories P*) split off as words of its own unless it joins two
 * letters or digits ("film." = "film ." but "don't", "x-ray", "3.5" stay
 * whole), so raw and tokenized text give the same words; n-grams of orders 1..order
 * over consecutive words are hashed into 2^bits buckets.  A text gives the
 * set of its distinct buckets ("binarised" features: a word said twice
 * counts once), which is what Wang & Manning (2012) found best for
 * sentence polarity.
 *
 * The evidence for label k is the log-likelihood of a text's buckets under
 * a multinomial naive Bayes model with add-alpha smoothing,
 *
 *   e_k = sum over the text's buckets u of log((n_ku + alpha) / (N_k + alpha V))
 *
 * with n_ku the number of training texts of label k that have bucket u,
 * N_k = sum_u n_ku and V the number of buckets seen in training.  The
 * classifier feeds e (centred over labels) next to the encoder's pooled
 * states.  A training text would find its own counts in the table and look
 * far more certain than any unseen text, so for training texts the
 * evidence leaves them out (own label given): exactly the evidence of a
 * table counted without that text.
 *
 * Character n-grams (cl_ngram_set_chars, for NBSVM, Wang & Manning 2012,
 * whose log-count ratios also reward sub-word evidence: "-less", "unfunn"):
 * the text's keys with runs of whitespace read as one space and a space
 * added at both ends, every substring of lengths 2..chars, hashed like the
 * word n-grams but from other seeds, into the same buckets and the same set.
 *
 * The evidence is a sum over the text's buckets of per-bucket terms; the
 * terms themselves, centred over labels, are the naive Bayes log-count
 * ratios r[u][k] that weigh the binarised features of NBSVM's linear layer
 * (cl_ngram_ratios; the evidence is their sum).
 *
 * Works on ids of a model's vocabulary (id 0 = unknown character, a word
 * character of its own). */
#ifndef CL_NGRAM_H
#define CL_NGRAM_H

#include <stddef.h>
#include <stdint.h>

#include "cl_text.h"
#include "cl_api.h"

CL_API_BEGIN

#define CL_NGRAM_MAX_ORDER 4
#define CL_NGRAM_MIN_BITS 8
#define CL_NGRAM_MAX_BITS 26
#define CL_NGRAM_MAX_CHARS 8
#define CL_NGRAM_PUNCT 0x80000000u /* key flag: a punctuation character */

typedef struct {
    int order, bits, K; /* n-gram orders 1..order, 2^bits buckets, K labels */
    int chars;          /* character n-grams of lengths 2..chars too (0 = none) */
    float alpha;        /* add-alpha smoothing */
    int nkeys;          /* ids 0..nkeys-1 */
    uint32_t *key;      /* [nkeys] per id: lowercased code point + 1 (| CL_NGRAM_PUNCT for
                         * punctuation), 0 = whitespace */
    double *total;      /* [K] N_k */
    double seen;        /* V: buckets with a count */
} cl_ngram;

/* Per-id keys for vocabulary v (ids 0..size-1).  order in 1..CL_NGRAM_MAX_ORDER,
 * bits in CL_NGRAM_MIN_BITS..CL_NGRAM_MAX_BITS, K >= 1, alpha > 0; CL_EINVAL
 * otherwise.  Free with cl_ngram_free. */
int cl_ngram_init(cl_ngram *g, const cl_vocab *v, int order, int bits, int K, float alpha);
void cl_ngram_free(cl_ngram *g);
/* Add character n-grams of lengths 2..chars (2..CL_NGRAM_MAX_CHARS, or 0
 * for none: the default); CL_EINVAL otherwise. */
int cl_ngram_set_chars(cl_ngram *g, int chars);
/* Largest number of buckets a text of len characters can give (capacity
 * for cl_ngram_buckets). */
size_t cl_ngram_capacity(const cl_ngram *g, int len);
/* The distinct buckets of ids[0..len) into out (ascending); returns how
 * many.  out must hold cl_ngram_capacity(g, len). */
size_t cl_ngram_buckets(const cl_ngram *g, const int *ids, int len, uint32_t *out);

/* The log-count ratios of buckets u[0..n) into r[i * K + k]: bucket i's
 * term of the evidence for label k, centred over labels, so that e_k =
 * sum_i r[i * K + k] (cl_ngram_evidence); own as there.  All zero while the
 * table is empty. */
void cl_ngram_ratios(const cl_ngram *g, const float *counts, const uint32_t *u, size_t n,
                     int own, float *r);

/* Add the buckets u[0..n) of one text of label k to counts [K, 2^bits]
 * (row k += 1 at each). */
void cl_ngram_count(const cl_ngram *g, float *counts, int k, const uint32_t *u, size_t n);
/* N_k and V from counts (after counting, or after loading a model). */
void cl_ngram_totals(cl_ngram *g, const float *counts);
/* Evidence e[0..K) of buckets u[0..n), centred (mean over labels 0).  own
 * >= 0: the text is a training text of that label, counted in the table:
 * its own counts are left out.  All zero while the table is empty. */
void cl_ngram_evidence(const cl_ngram *g, const float *counts, const uint32_t *u, size_t n,
                       int own, float *e);

CL_API_END
#endif
