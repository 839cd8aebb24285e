/* cl_clfdata: labelled sentences for the classifier, read from
 * `label<TAB>text` files (cl_tsv), decoded and normalised (cl_text), then
 * encoded to character ids of a model and label indices of its classifier.
 *
 * Texts are kept as code points so a fresh model's vocabulary can be built
 * from the training texts before they are encoded.  Every example remembers
 * its line so errors found later (an unknown label in dev data) still name
 * file and line. */
#ifndef CL_CLFDATA_H
#define CL_CLFDATA_H

#include <stdio.h>

#include "cl_classifier.h"
#include "cl_api.h"

CL_API_BEGIN

typedef struct {
    char *name;        /* file name used in messages */
    int n;             /* examples */
    int32_t *cps;      /* code points of every text, concatenated */
    size_t *off;       /* [n + 1]: text i is cps[off[i] .. off[i + 1]) */
    long *line;        /* [n] line of each example in its file */
    int *tag;          /* [n] index of the example's label string in labels */
    char **labels;     /* [nlabels] distinct label strings, in order of first appearance */
    int nlabels;
    /* Filled by cl_clfdata_encode: */
    int *ids;          /* character ids, text i at ids + off[i] */
    int *len;          /* [n] length used, cut to the classifier's max_chars (>= 1) */
    int *y;            /* [n] label index in the classifier */
    size_t unknown;    /* characters outside the model's vocabulary */
    int max_len;       /* max of len */
} cl_clfdata;

/* Read every record of fp (not closed) into *ds (zeroed first).  name is used
 * in messages: "NAME:LINE: ...".  Malformed lines (cl_tsv), invalid UTF-8 and
 * an empty file (CL_EEMPTY) are errors.  Free with cl_clfdata_free, also
 * after an error. */
int cl_clfdata_read(cl_clfdata *ds, FILE *fp, const char *name, const cl_text_opts *o,
                    cl_diag *d);
/* The same for a path ("-" = stdin). */
int cl_clfdata_read_file(cl_clfdata *ds, const char *path, const cl_text_opts *o, cl_diag *d);
void cl_clfdata_free(cl_clfdata *ds);

/* ds->labels sorted by strcmp into a new array of borrowed pointers (the
 * label set of a new classifier); the caller frees the array with free(). */
int cl_clfdata_sorted_labels(const cl_clfdata *ds, const char ***labels);

/* Character ids (m's vocabulary) and label indices (m's classifier head)
 * of every example.  CL_ENOTFOUND with "NAME:LINE: unknown label" when an
 * example's label is not one of the classifier's. */
int cl_clfdata_encode(cl_clfdata *ds, const cl_model *m, cl_diag *d);

/* Split the examples of all (read, not yet encoded) into *train and *dev
 * (both zeroed first, freed with cl_clfdata_free): each example goes to dev
 * with probability fraction, drawn from rng, so a file sorted by label still
 * gives a mixed dev set.  Labels keep their order of first appearance in all. */
int cl_clfdata_split(const cl_clfdata *all, double fraction, cl_rng *rng, cl_clfdata *train,
                     cl_clfdata *dev);

/* Cross-validation folds: fold[i] in 0..K-1 for every example of ds (read,
 * encoded or not), stratified by label: each label's examples, shuffled
 * with seed, are dealt to the folds in turn, each label continuing where
 * the previous one stopped, so that fold sizes differ by at most one and
 * so does each label's count in them.  The same seed gives the same folds.
 * CL_EINVAL unless 2 <= K <= ds->n; fold is caller-allocated [ds->n]. */
int cl_clfdata_folds(const cl_clfdata *ds, int K, uint64_t seed, int *fold);
/* The examples of all with fold[i] == f into *in, the others into *out
 * (both zeroed first; free with cl_clfdata_free, also after an error), in
 * their order in all; labels (all of all's, in its order) and lines kept. */
int cl_clfdata_select(const cl_clfdata *all, const int *fold, int f, cl_clfdata *in,
                      cl_clfdata *out);
/* The examples of a then those of b into *out (zeroed first; free with
 * cl_clfdata_free): labels merged by name, lines kept, named "A+B". */
int cl_clfdata_concat(const cl_clfdata *a, const cl_clfdata *b, cl_clfdata *out);

/* Per-label counts of the encoded examples into counts[K]. */
void cl_clfdata_label_counts(const cl_clfdata *ds, int K, long *counts);
/* Class weights w[k] = n / (K * count_k) (0 for an absent class): every
 * class weighs as much in total.  CL_ENOMEM or CL_OK. */
int cl_clfdata_class_weights(const cl_clfdata *ds, int K, float *w);
/* The classifier's n-gram table (cl_classifier_count_ngrams) from every
 * text of ds, as encoded for its model. */
int cl_clfdata_count_ngrams(const cl_clfdata *ds, cl_classifier *c, cl_params *p);

CL_API_END
#endif
