/* serve_json: tag and classify answers as JSON (schema in serve_json.h). */
#include "serve_json.h"

#include <math.h>

#include "cl_sample.h"

/* Probabilities rounded to 6 decimals: the float's noise is not news, and
 * the text stays short. */
static double round6(float p) { return round((double)p * 1e6) / 1e6; }

static cJSON *token(const serve_json_sent *s, int w, const char *const *names, int ntags, int k)
{
    const float *p = s->probs + (size_t)w * ntags;
    cJSON *t = cJSON_CreateObject(), *top = cJSON_CreateArray();
    int best[64];
    k = cl_top_k(p, ntags, k < 64 ? k : 64, best);
    for (int i = 0; i < k; i++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "tag", names[best[i]]);
        cJSON_AddNumberToObject(o, "prob", round6(p[best[i]]));
        cJSON_AddItemToArray(top, o);
    }
    cJSON_AddStringToObject(t, "form", s->forms[w]);
    cJSON_AddNumberToObject(t, "start", (double)s->start[w]);
    cJSON_AddNumberToObject(t, "end", (double)s->end[w]);
    cJSON_AddStringToObject(t, "tag", names[s->tags[w]]);
    cJSON_AddNumberToObject(t, "prob", round6(p[s->tags[w]]));
    cJSON_AddItemToObject(t, "top", top);
    return t;
}

cJSON *serve_json_sentence(const serve_json_sent *s, const char *const *tag_names, int ntags,
                           int top_k)
{
    cJSON *o = cJSON_CreateObject(), *tokens = cJSON_CreateArray();
    cJSON_AddStringToObject(o, "text", s->text);
    for (int w = 0; w < s->nwords; w++)
        cJSON_AddItemToArray(tokens, token(s, w, tag_names, ntags, top_k));
    cJSON_AddItemToObject(o, "tokens", tokens);
    return o;
}

cJSON *serve_json_label(const float *p, const char *const *labels, int K)
{
    int best = 0;
    for (int k = 1; k < K; k++)
        best = p[k] > p[best] ? k : best;
    cJSON *o = cJSON_CreateObject(), *probs = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "label", labels[best]);
    cJSON_AddNumberToObject(o, "prob", round6(p[best]));
    for (int k = 0; k < K; k++)
        cJSON_AddNumberToObject(probs, labels[k], round6(p[k]));
    cJSON_AddItemToObject(o, "probs", probs);
    return o;
}
