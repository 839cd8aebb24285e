/* cli_json: JSON objects of the tools (see cli_json.h and docs/json.md). */
#include "cli_json.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cl_sample.h"

int cli_json_print(FILE *out, cJSON *j)
{
    char *s = j ? cJSON_PrintUnformatted(j) : NULL;
    cJSON_Delete(j);
    if (!s)
        return CL_ENOMEM;
    int bad = fputs(s, out) < 0 || fputc('\n', out) < 0;
    free(s);
    return bad ? CL_EIO : CL_OK;
}

long cli_json_chars(const char *s, size_t n)
{
    long c = 0;
    for (size_t i = 0; i < n; i++)
        c += ((unsigned char)s[i] & 0xC0) != 0x80;
    return c;
}

cJSON *cli_json_add_number(cJSON *obj, const char *key, double v)
{
    return isfinite(v) ? cJSON_AddNumberToObject(obj, key, v) : cJSON_AddNullToObject(obj, key);
}

/* Probabilities to 6 decimals: more digits are noise and bulk. */
static double p6(float p) { return round((double)p * 1e6) / 1e6; }

/* "start" and "end" of bytes [off, off+len) of text, plus base characters. */
static void add_span(cJSON *o, const char *text, size_t off, size_t len, long base)
{
    long a = base + cli_json_chars(text, off);
    cJSON_AddNumberToObject(o, "start", (double)a);
    cJSON_AddNumberToObject(o, "end", (double)(a + cli_json_chars(text + off, len)));
}

/* The k most likely tags of one word, most likely first. */
static cJSON *top_tags(const float *p, int ntags, const cl_tagger *t, int k)
{
    cJSON *arr = cJSON_CreateArray();
    int *best = malloc(sizeof *best * (size_t)(ntags ? ntags : 1));
    k = arr && best ? cl_top_k(p, ntags, k, best) : 0;
    for (int r = 0; r < k; r++) {
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "tag", cl_tagger_tag_name(t, best[r]));
        cJSON_AddNumberToObject(e, "prob", p6(p[best[r]]));
        cJSON_AddItemToArray(arr, e);
    }
    free(best);
    return arr;
}

static cJSON *json_tokens(const cl_ann_sent *s, long base)
{
    cJSON *arr = cJSON_CreateArray();
    for (int k = 0; arr && k < s->ntok; k++) {
        const cl_ann_token *t = &s->tok[k];
        cJSON *o = cJSON_CreateObject(), *w = cJSON_CreateArray();
        char *txt = strndup(s->text + t->off, t->len);
        cJSON_AddStringToObject(o, "text", txt ? txt : "");
        free(txt);
        add_span(o, s->text, t->off, t->len, base);
        for (int i = 0; i < t->nwords; i++)
            cJSON_AddItemToArray(w, cJSON_CreateNumber(t->word + i));
        cJSON_AddItemToObject(o, "words", w);
        cJSON_AddBoolToObject(o, "space_after", t->space_after);
        cJSON_AddItemToArray(arr, o);
    }
    return arr;
}

static cJSON *json_words(const cl_ann_sent *s, const cl_tagger *t, long base, int top)
{
    int ntags = cl_tagger_config_of(t)->ntags;
    cJSON *arr = cJSON_CreateArray();
    for (int i = 0; arr && i < s->nword; i++) {
        const cl_ann_word *w = &s->word[i];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "form", w->form);
        add_span(o, s->text, w->off, w->len, base);
        cJSON_AddNumberToObject(o, "token", w->token);
        cJSON_AddStringToObject(o, "tag", w->tag >= 0 ? cl_tagger_tag_name(t, w->tag) : "_");
        if (s->probs) {
            cJSON_AddNumberToObject(o, "prob", p6(w->prob));
            if (top > 0)
                cJSON_AddItemToObject(o, "top", top_tags(s->probs + (size_t)i * ntags, ntags, t, top));
        }
        cJSON_AddItemToArray(arr, o);
    }
    return arr;
}

cJSON *cli_json_sentence(const cl_ann_sent *s, const cl_tagger *t, long id, long base_chars,
                         int top)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    cJSON_AddNumberToObject(o, "id", (double)id);
    cJSON_AddStringToObject(o, "text", s->text);
    add_span(o, s->text, 0, strlen(s->text), base_chars);
    cJSON_AddItemToObject(o, "tokens", json_tokens(s, base_chars));
    cJSON_AddItemToObject(o, "words", json_words(s, t, base_chars, top));
    return o;
}

cJSON *cli_json_tagged_line(const cl_ann_doc *doc, int first, int n, const cl_tagger *t,
                            const char *line, long lineno, long first_id, int top)
{
    cJSON *o = cJSON_CreateObject(), *arr = cJSON_CreateArray();
    if (!o || !arr) {
        cJSON_Delete(o), cJSON_Delete(arr);
        return NULL;
    }
    cJSON_AddNumberToObject(o, "line", (double)lineno);
    for (int k = 0; k < n; k++) {
        const cl_ann_sent *s = &doc->sent[first + k];
        long base = line ? cli_json_chars(line, s->off) : 0;
        cJSON_AddItemToArray(arr, cli_json_sentence(s, t, first_id + k, base, top));
    }
    cJSON_AddItemToObject(o, "sentences", arr);
    return o;
}

cJSON *cli_json_label(char *const *labels, const float *p, int nlabels, int best, int all)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    cJSON_AddStringToObject(o, "label", labels[best]);
    cJSON_AddNumberToObject(o, "probability", p6(p[best]));
    if (all) {
        cJSON *ps = cJSON_AddObjectToObject(o, "probabilities");
        for (int k = 0; ps && k < nlabels; k++)
            cJSON_AddNumberToObject(ps, labels[k], p6(p[k]));
    }
    return o;
}

cJSON *cli_json_train_stats(const cl_train_stats *s, int evaluation)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    const struct { const char *key; double v; } nums[] = {
        {"step", (double)s->step}, {"epoch", (double)s->epoch}, {"epochs", s->epochs},
        {"max_steps", (double)s->max_steps}, {"items", s->items},
        {"train_loss", s->train_loss}, {"last_metric", s->last.metric},
        {"last_loss", s->last.loss}, {"best_metric", s->best.metric},
        {"best_loss", s->best.loss}, {"best_step", (double)s->best_step}, {"lr", s->lr},
        {"elapsed", s->elapsed}, {"items_per_sec", s->items_per_sec}, {"eta", s->eta},
    };
    for (size_t i = 0; i < sizeof nums / sizeof nums[0]; i++)
        cli_json_add_number(o, nums[i].key, nums[i].v);
    cJSON_AddBoolToObject(o, "higher_better", s->last.higher_better);
    cJSON_AddBoolToObject(o, "evaluation", evaluation);
    cJSON_AddBoolToObject(o, "improved", evaluation && s->improved);
    cJSON_AddBoolToObject(o, "saved", evaluation && s->saved);
    return o;
}
