/* cli_json: the JSON the tools write (one object per line, cJSON), in one
 * place so that the HTTP server writes the same objects.  The schemas are
 * in docs/json.md.
 *
 * Memory: every cli_json_* builder returns a new cJSON tree (NULL when out
 * of memory) that the caller frees with cJSON_Delete, or hands to
 * cli_json_print, which prints it on one line and frees it. */
#ifndef CLI_JSON_H
#define CLI_JSON_H

#include <cjson/cJSON.h>
#include <stdio.h>

#include "cl_annotate.h"
#include "cl_train.h"

/* Print j compactly followed by "\n", then free it.  0, or CL_ENOMEM / CL_EIO. */
int cli_json_print(FILE *out, cJSON *j);

/* One tagged sentence: its id, text, start/end, tokens (with their words
 * and space_after) and words (form, start/end, token, tag, prob, and the
 * `top` most likely tags when top > 0).  Offsets are in characters (code
 * points) from the start of the input line, end exclusive; base_chars is
 * the sentence's own offset in characters. */
cJSON *cli_json_sentence(const cl_ann_sent *s, const cl_tagger *t, long id, long base_chars,
                         int top);

/* {"line": lineno, "sentences": [...]} for the sentences [first, first+n) of
 * doc, which come from the input line `line` (offsets are counted in it);
 * ids start at first_id. */
cJSON *cli_json_tagged_line(const cl_ann_doc *doc, int first, int n, const cl_tagger *t,
                            const char *line, long lineno, long first_id, int top);

/* {"label": L, "probability": P} and with all, "probabilities": {label: p}. */
cJSON *cli_json_label(char *const *labels, const float *p, int nlabels, int best, int all);

/* A progress report of charlstm train --progress json: the statistics of s,
 * and "evaluation": true when it follows an evaluation. */
cJSON *cli_json_train_stats(const cl_train_stats *s, int evaluation);

/* Add a number that may be NAN (written as null). */
cJSON *cli_json_add_number(cJSON *obj, const char *key, double v);

/* Characters (code points) in the UTF-8 bytes s[0..n). */
long cli_json_chars(const char *s, size_t n);

#endif
