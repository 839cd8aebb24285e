/* cl_udscore: end-to-end scores of raw-text annotation against a gold
 * treebank, as the CoNLL 2018 shared task evaluation counts them.
 *
 * Both sides are cl_ann_docs over the same text (the gold file's sentences
 * of one paragraph joined by spaces, which the system then splits and
 * tokenizes itself), so a token is its byte span in that text: sentence
 * off + token off.  Counted:
 *   sentences  spans from the first token's start to the last token's end;
 *   tokens     token spans;
 *   mwt        spans of multiword tokens;
 *   words      words of tokens with equal spans, paired by the longest
 *              common subsequence of their lower-cased forms inside a
 *              multiword token (one-word tokens pair directly);
 *   upos       paired words with equal tag ids.
 * Each count holds gold, system and correct, from which precision =
 * correct/system, recall = correct/gold and F1 follow.  Unlike the official
 * script, words of multiword tokens whose spans differ are not aligned
 * (they count as errors), which can only lower the scores. */
#ifndef CL_UDSCORE_H
#define CL_UDSCORE_H

#include "cl_annotate.h"
#include "cl_api.h"

CL_API_BEGIN

typedef struct {
    long gold, system, correct;
} cl_ud_count;

typedef struct {
    cl_ud_count sentences, tokens, mwt, words, upos;
} cl_ud_score;

/* Add sentences gold[g0, g1) against sys[s0, s1), both over one text.
 * Tag ids must come from one tag set (gold tags outside it: -2).
 * Returns 0 or CL_ENOMEM. */
int cl_ud_score_add(cl_ud_score *sc, const cl_ann_doc *gold, int g0, int g1, const cl_ann_doc *sys,
                    int s0, int s1);

double cl_ud_precision(const cl_ud_count *c); /* NAN when system is 0 */
double cl_ud_recall(const cl_ud_count *c);    /* NAN when gold is 0 */
double cl_ud_f1(const cl_ud_count *c);        /* NAN when both are NAN */

CL_API_END

#endif
