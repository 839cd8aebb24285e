/* serve_json: the JSON of tag and classify answers, in the schema that
 * `charlstm tag --output json` and `classify --output json` share:
 *
 *   tag      {"sentences": [{"text": ..., "tokens": [{"form": ..., "start": N,
 *             "end": N, "tag": "NOUN", "prob": 0.97,
 *             "top": [{"tag": ..., "prob": ...}, ...]}]}]}
 *   classify {"label": ..., "prob": ..., "probs": {"pos": 0.9, "neg": 0.1}}
 *
 * start/end are offsets in Unicode code points of the sentence's text, end
 * exclusive.  Built with cJSON; each function returns a new object the
 * caller frees with cJSON_Delete (NULL when out of memory). */
#ifndef SERVE_JSON_H
#define SERVE_JSON_H

#include <cjson/cJSON.h>

/* One tagged sentence: nwords words; tags[w] the chosen tag, probs
 * [nwords, ntags] every tag's probability. */
typedef struct {
    const char *text;
    int nwords;
    const char *const *forms;
    const long *start, *end;
    const int *tags;
    const float *probs;
} serve_json_sent;

/* {"text":..., "tokens": [...]} with the top_k most likely tags per word. */
cJSON *serve_json_sentence(const serve_json_sent *s, const char *const *tag_names, int ntags,
                           int top_k);
/* {"label":..., "prob":..., "probs": {...}} of one text's probabilities p [K]. */
cJSON *serve_json_label(const float *p, const char *const *labels, int K);

#endif
