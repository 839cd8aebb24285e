/* eval_tasks: "charlstm eval" for each kind of head, on a loaded model.
 * Each returns the process exit status. */
#ifndef EVAL_TASKS_H
#define EVAL_TASKS_H

#include "cl_model.h"

/* Text files: nats/char, bits/char, perplexity over every next-character
 * prediction, with `streams` parallel streams (as the PyTorch reference). */
int eval_lm(const cl_model *m, const char *const *files, int nfiles, int streams);
/* CoNLL-U files: accuracy, unseen-word accuracy, per-tag P/R, confusions. */
int eval_tagger(const cl_model *m, const char *const *files, int nfiles, int batch);
/* label<TAB>text files: accuracy, per-label P/R/F1, confusion matrix. */
int eval_classifier(const cl_model *m, const char *const *files, int nfiles, int batch);

#endif
