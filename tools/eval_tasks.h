/* eval_tasks: "charlstm eval" for each kind of head, on a loaded model.
 * Each returns the process exit status. */
#ifndef EVAL_TASKS_H
#define EVAL_TASKS_H

#include <cjson/cJSON.h>

#include "cl_model.h"

/* Each prints its figures on stdout, or with json != NULL adds every one of
 * them to that object instead (cmd_eval prints it).  precision: the
 * cl_precision of the recurrent stacks' products (--precision). */

/* nanoGPT's evaluation: `windows` random windows (0: off) of `window`
 * characters from `seed` (cl_lm_evaluate_windows). */
typedef struct {
    long windows, seed;
    int window;
} eval_lm_windows;

/* Text files: nats/char, bits/char, perplexity over every next-character
 * prediction, with `streams` parallel streams (as the PyTorch reference), or
 * over random windows when win->windows > 0. */
int eval_lm(const cl_model *m, const char *const *files, int nfiles, int streams, int precision,
            const eval_lm_windows *win, cJSON *json);
/* CoNLL-U files: accuracy, unseen-word accuracy, per-tag P/R, confusions. */
int eval_tagger(const cl_model *m, const char *const *files, int nfiles, int batch, int precision,
                cJSON *json);
/* CoNLL-U files, end to end from their raw text (eval_raw.c): sentence,
 * token, multiword-token, word and tag precision/recall/F1. */
int eval_tagger_raw(const cl_model *m, const char *const *files, int nfiles, int batch,
                    int precision, cJSON *json);
/* label<TAB>text files: accuracy, per-label P/R/F1, confusion matrix. */
int eval_classifier(const cl_model *m, const char *const *files, int nfiles, int batch,
                    int precision, cJSON *json);

#endif
