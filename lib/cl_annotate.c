/* cl_annotate: tokenizer + sentence rules + multiword tokens + tagger over
 * a cl_ann_doc (see cl_annotate.h). */
#include "cl_annotate.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cl_seg.h"
#include "cl_tagger_impl.h" /* the workspace, sized once (reserve_typical) */
#include "cl_tok.h"

struct cl_annotator {
    cl_tagger *tagger;
    cl_tok *tok;
    cl_seg *seg;
    cl_tagger_corpus corpus; /* the sentences being tagged, reused */
    int *tags, *order;    /* [words], [sentences] */
    float *probs;         /* [words * ntags] */
    size_t cap_words, cap_sents, cap_probs;
};

/* ==== the document ========================================================= */

void cl_ann_doc_init(cl_ann_doc *doc) { memset(doc, 0, sizeof *doc); }

static void sent_free(cl_ann_sent *s)
{
    for (int i = 0; i < s->nword; i++)
        free(s->word[i].form);
    free(s->text), free(s->tok), free(s->word), free(s->probs);
    memset(s, 0, sizeof *s);
}

void cl_ann_doc_clear(cl_ann_doc *doc)
{
    for (int i = 0; i < doc->n; i++)
        sent_free(&doc->sent[i]);
    doc->n = 0;
}

void cl_ann_doc_free(cl_ann_doc *doc)
{
    cl_ann_doc_clear(doc);
    free(doc->sent);
    cl_ann_doc_init(doc);
}

/* A new zeroed sentence at the end of doc with room for n tokens and words. */
static cl_ann_sent *new_sent(cl_ann_doc *doc, const char *text, size_t len, int n)
{
    if (doc->n == doc->cap) {
        int cap = doc->cap ? 2 * doc->cap : 16;
        cl_ann_sent *v = realloc(doc->sent, sizeof *v * (size_t)cap);
        if (!v)
            return NULL;
        doc->sent = v, doc->cap = cap;
    }
    cl_ann_sent *s = &doc->sent[doc->n];
    memset(s, 0, sizeof *s);
    s->text = strndup(text, len);
    s->tok = calloc((size_t)n, sizeof *s->tok);
    s->word = calloc((size_t)n, sizeof *s->word);
    if (!s->text || !s->tok || !s->word) {
        sent_free(s);
        return NULL;
    }
    doc->n++;
    return s;
}

static int is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f'; }

/* ==== the annotator ======================================================== */

int cl_annotator_create(cl_annotator **out, cl_model *m, cl_diag *d)
{
    cl_annotator *a = calloc(1, sizeof *a);
    if (!a)
        return CL_ENOMEM;
    cl_tagger_corpus_init(&a->corpus);
    int err = cl_tagger_create(&a->tagger, m, d);
    if (!err) /* it tags, never trains */
        cl_tagger_set_inference(a->tagger);
    err = err ? err : cl_tok_create(&a->tok, d);
    err = err ? err : cl_seg_create(&a->seg, &cl_tagger_config_of(a->tagger)->seg, d);
    if (err) {
        cl_annotator_free(a);
        return err;
    }
    *out = a;
    return CL_OK;
}

void cl_annotator_free(cl_annotator *a)
{
    if (!a)
        return;
    cl_seg_free(a->seg);
    cl_tok_free(a->tok);
    cl_tagger_free(a->tagger);
    cl_tagger_corpus_free(&a->corpus);
    free(a->tags), free(a->order), free(a->probs);
    free(a);
}

cl_tagger *cl_annotator_tagger(const cl_annotator *a) { return a->tagger; }

/* ==== tokens to a sentence ================================================= */

/* One sentence from the tokens of text[0..len) (at least one): multiword
 * tokens joined, spacing read from the text. */
static int add_sentence(cl_annotator *a, const char *text, size_t len, size_t base,
                        const cl_tok_span *sp, size_t n, cl_ann_doc *doc)
{
    int *join = malloc(sizeof *join * n);
    size_t b = sp[0].off, e = sp[n - 1].off + sp[n - 1].len;
    cl_ann_sent *s = join ? new_sent(doc, text + b, e - b, (int)n) : NULL;
    if (!s) {
        free(join);
        return CL_ENOMEM;
    }
    s->off = base + b;
    cl_seg_mwt(a->seg, text, sp, n, join);
    for (size_t i = 0; i < n; i++) {
        cl_ann_word *w = &s->word[s->nword];
        *w = (cl_ann_word){strndup(text + sp[i].off, sp[i].len), sp[i].off - b, sp[i].len,
                           s->ntok - (join[i] == 0), -1, 0};
        if (!w->form)
            return CL_ENOMEM; /* the sentence is freed with the doc */
        s->nword++;
        if (join[i] == 0) { /* inside a multiword token: widen it */
            cl_ann_token *t = &s->tok[s->ntok - 1];
            t->len = w->off + w->len - t->off, t->nwords++;
        } else {
            s->tok[s->ntok++] = (cl_ann_token){w->off, w->len, s->nword - 1, 1, 1};
        }
    }
    for (int k = 0; k < s->ntok; k++) {
        size_t end = b + s->tok[k].off + s->tok[k].len;
        s->tok[k].space_after = end >= len || is_space(text[end]);
    }
    free(join);
    return CL_OK;
}

/* Tokenize text[0..len) (a sentence) and add it; nothing when it has no token. */
static int add_line(cl_annotator *a, const char *text, size_t len, size_t base, cl_ann_doc *doc,
                    cl_diag *d)
{
    cl_tok_span *sp;
    size_t n;
    int err = cl_tok_line_alloc(a->tok, text, len, &sp, &n, d);
    if (!err && n)
        err = add_sentence(a, text, len, base, sp, n, doc);
    free(sp);
    return err;
}

/* A paragraph: sentence ends from its tokens, then each sentence on its own. */
static int add_paragraph(cl_annotator *a, const char *text, size_t len, cl_ann_doc *doc,
                         cl_diag *d)
{
    cl_tok_span *sp;
    size_t n, nsent;
    int err = cl_tok_line_alloc(a->tok, text, len, &sp, &n, d);
    size_t *ends = err || !n ? NULL : malloc(sizeof *ends * n);
    if (!err && n && !ends)
        err = CL_ENOMEM;
    if (!err && n)
        cl_seg_sentences(a->seg, text, sp, n, ends, &nsent);
    for (size_t k = 0, first = 0; !err && n && k < nsent; first = ends[k++]) {
        size_t b = sp[first].off, e = sp[ends[k] - 1].off + sp[ends[k] - 1].len;
        size_t nb = doc->n;
        err = add_line(a, text + b, e - b, b, doc, d);
        /* the sentence's last token: spacing from the paragraph */
        if (!err && doc->n > (int)nb) {
            cl_ann_sent *s = &doc->sent[doc->n - 1];
            s->tok[s->ntok - 1].space_after = e >= len || is_space(text[e]);
        }
    }
    free(ends), free(sp);
    return err;
}

int cl_annotate_text(cl_annotator *a, const char *text, size_t len, int mode, cl_ann_doc *doc,
                     cl_diag *d)
{
    return mode == CL_ANN_SPLIT ? add_paragraph(a, text, len, doc, d)
                                : add_line(a, text, len, 0, doc, d);
}

int cl_annotate_words(cl_ann_doc *doc, const char *const *forms, const int *space_after, int n)
{
    size_t len = 0;
    for (int i = 0; i < n; i++)
        len += strlen(forms[i]) + 1;
    char *text = malloc(len + 1);
    cl_ann_sent *s = text ? new_sent(doc, "", 0, n) : NULL;
    if (!s) {
        free(text);
        return CL_ENOMEM;
    }
    free(s->text);
    s->text = text;
    size_t at = 0;
    for (int i = 0; i < n; i++) {
        size_t k = strlen(forms[i]);
        int sp = !space_after || space_after[i];
        s->word[i] = (cl_ann_word){strdup(forms[i]), at, k, i, -1, 0};
        s->tok[i] = (cl_ann_token){at, k, i, 1, sp};
        if (!s->word[i].form)
            return CL_ENOMEM;
        s->nword = s->ntok = i + 1;
        memcpy(text + at, forms[i], k);
        at += k;
        if (sp && i + 1 < n)
            text[at++] = ' ';
    }
    text[at] = 0;
    return CL_OK;
}

/* ==== gold sentences from CoNLL-U ========================================= */

/* The tokens of a CoNLL-U sentence (a range line is one token): forms,
 * word ranges and spacing into form[] and tok[] (offsets not yet set). */
static int conllu_tokens(const cl_conllu_sent *c, const char **form, cl_ann_token *tok)
{
    size_t nw = cl_conllu_nwords(c), nr = cl_conllu_nranges(c), k = 0, first = 0, last = 0;
    const char *rform = nr ? cl_conllu_range(c, 0, &first, &last) : NULL;
    int n = 0;
    for (size_t i = 0; i < nw; i++, n++) {
        const char *misc = cl_conllu_col(c, i, CL_CONLLU_MISC);
        form[n] = cl_conllu_form(c, i);
        tok[n] = (cl_ann_token){0, 0, (int)i, 1, 0};
        if (rform && i == first) {
            form[n] = rform, misc = cl_conllu_range_misc(c, k);
            tok[n].nwords = (int)(last - first + 1), i = last;
            rform = ++k < nr ? cl_conllu_range(c, k, &first, &last) : NULL;
        }
        tok[n].len = strlen(form[n]);
        tok[n].space_after = !cl_conllu_no_space_after(misc);
    }
    return n;
}

/* Token offsets in text, found in order past whitespace; 0 if one is not there. */
static int find_tokens(const char *text, const char **form, cl_ann_token *tok, int n)
{
    size_t pos = 0;
    for (int k = 0; k < n; k++) {
        while (is_space(text[pos]))
            pos++;
        if (strncmp(text + pos, form[k], tok[k].len) != 0)
            return 0;
        tok[k].off = pos, pos += tok[k].len;
    }
    return 1;
}

/* The text the tokens and their spacing make; offsets set. */
static char *join_tokens(const char **form, cl_ann_token *tok, int n)
{
    size_t len = 1;
    for (int k = 0; k < n; k++)
        len += tok[k].len + 1;
    char *text = malloc(len);
    size_t at = 0;
    for (int k = 0; text && k < n; k++) {
        tok[k].off = at;
        memcpy(text + at, form[k], tok[k].len);
        at += tok[k].len;
        if (tok[k].space_after && k + 1 < n)
            text[at++] = ' ';
    }
    if (text)
        text[at] = 0;
    return text;
}

/* Word w of token t: its bytes are the part of the token that spells it
 * (case aside), else the whole token. */
static void word_span(const cl_ann_sent *s, const cl_ann_token *t, cl_ann_word *w, size_t *from)
{
    size_t k = strlen(w->form);
    w->off = t->off, w->len = t->len;
    if (t->nwords == 1)
        return;
    for (size_t p = *from; p + k <= t->off + t->len; p++)
        if (!strncasecmp(s->text + p, w->form, k)) {
            w->off = p, w->len = k, *from = p + k;
            return;
        }
}

int cl_annotate_conllu(cl_ann_doc *doc, const cl_conllu_sent *c, const cl_tagger *t)
{
    int nw = (int)cl_conllu_nwords(c), col = cl_tagger_config_of(t)->column;
    const char **form = malloc(sizeof *form * (size_t)nw);
    cl_ann_sent *s = form ? new_sent(doc, "", 0, nw) : NULL;
    if (!s) {
        free(form);
        return CL_ENOMEM;
    }
    s->ntok = conllu_tokens(c, form, s->tok);
    const char *text = cl_conllu_text(c);
    free(s->text);
    s->text = text && find_tokens(text, form, s->tok, s->ntok) ? strdup(text)
                                                               : join_tokens(form, s->tok, s->ntok);
    free(form);
    if (!s->text)
        return CL_ENOMEM; /* the sentence is freed with the doc */
    for (int k = 0; k < s->ntok; k++) {
        size_t from = s->tok[k].off;
        for (int i = s->tok[k].word; i < s->tok[k].word + s->tok[k].nwords; i++, s->nword++) {
            cl_ann_word *w = &s->word[i];
            const char *tag = cl_conllu_col(c, (size_t)i, col);
            int id = cl_tagger_tag_id(t, tag);
            *w = (cl_ann_word){strdup(cl_conllu_form(c, (size_t)i)), 0, 0, k,
                               !strcmp(tag, "_") ? -1 : id < 0 ? -2 : id, 0};
            if (!w->form)
                return CL_ENOMEM;
            word_span(s, &s->tok[k], w, &from);
        }
    }
    return CL_OK;
}
/* ==== tagging ============================================================ */

/* Grow *p to hold n elements of size sz; *cap counts elements. */
static int grow(void **p, size_t *cap, size_t n, size_t sz)
{
    if (n <= *cap)
        return CL_OK;
    void *q = realloc(*p, 2 * n * sz);
    if (!q)
        return CL_ENOMEM;
    *p = q, *cap = 2 * n;
    return CL_OK;
}

static int by_length(const void *x, const void *y, void *start)
{
    const int *st = start;
    int i = *(const int *)x, j = *(const int *)y;
    int li = st[i + 1] - st[i], lj = st[j + 1] - st[j];
    return li != lj ? li - lj : i - j;
}

/* Words tagged together at most, as cl_tagger_evaluate does: small batches
 * keep the workspace in cache, and a run of long sentences does not size
 * it for batch x the longest (3x slower and 4x the memory on EWT). */
#define BATCH_WORDS 256

/* Room for any batch of ordinary sentences from the start, as
 * cl_tagger_evaluate makes: growing the workspace batch after batch would
 * zero fresh pages again at every step (twice the tagging time).  Word
 * positions (longest sentence x sentences, a product) twice the words of a
 * batch: batches hold sentences of similar length, so little padding (80 x
 * `batch` positions, 10 times as many, took a fifth of tagging's CPU time
 * to zero); the text of LM features 8 x 80 characters per sentence. */
static int reserve_typical(cl_tagger *t, int batch)
{
    const cl_tagger_config *c = cl_tagger_config_of(t);
    int Tw = (2 * BATCH_WORDS + batch - 1) / batch;
    return cl_tagger_ws_reserve(t, BATCH_WORDS, batch, c->max_word_chars, Tw,
                                cl_tagger_reads_lm(c) ? 8 * 80 : 1);
}

/* How many of the n sentences order[0..n) go in the next batch. */
static int batch_size(const int *start, const int *order, int n, int batch)
{
    int m = 1, words = start[order[0] + 1] - start[order[0]];
    while (m < n && m < batch && (words += start[order[m] + 1] - start[order[m]]) <= BATCH_WORDS)
        m++;
    return m;
}

/* The doc's sentences [first, n) as the corpus to tag. */
static int fill_corpus(cl_annotator *a, const cl_ann_doc *doc, int first)
{
    cl_tagger_corpus_clear(&a->corpus);
    int err = CL_OK;
    for (int k = first; k < doc->n && !err; k++) {
        const cl_ann_sent *s = &doc->sent[k];
        const char **forms = malloc(sizeof *forms * (size_t)s->nword);
        for (int i = 0; forms && i < s->nword; i++)
            forms[i] = s->word[i].form;
        err = forms ? cl_tagger_corpus_add(&a->corpus, forms, NULL, s->nword) : CL_ENOMEM;
        free(forms);
    }
    return err;
}

/* Predicted tags (and probabilities) back into the words. */
static int store(cl_annotator *a, cl_ann_doc *doc, int first, int ntags, int with_probs)
{
    for (int k = first, w = 0; k < doc->n; k++) {
        cl_ann_sent *s = &doc->sent[k];
        if (with_probs && !(s->probs = malloc(sizeof *s->probs * (size_t)s->nword * ntags)))
            return CL_ENOMEM;
        for (int i = 0; i < s->nword; i++, w++) {
            s->word[i].tag = a->tags[w];
            if (with_probs) {
                memcpy(s->probs + (size_t)i * ntags, a->probs + (size_t)w * ntags,
                       sizeof(float) * (size_t)ntags);
                s->word[i].prob = a->probs[(size_t)w * ntags + a->tags[w]];
            }
        }
    }
    return CL_OK;
}

int cl_annotate_tag(cl_annotator *a, cl_ann_doc *doc, int first, int batch, int with_probs,
                    cl_diag *d)
{
    if (first >= doc->n)
        return CL_OK;
    int ntags = cl_tagger_config_of(a->tagger)->ntags, err = fill_corpus(a, doc, first);
    cl_tagger_corpus *c = &a->corpus;
    size_t nw = (size_t)c->nwords, ns = (size_t)c->nsent;
    err = err ? err : grow((void **)&a->tags, &a->cap_words, nw, sizeof *a->tags);
    err = err ? err : grow((void **)&a->order, &a->cap_sents, ns, sizeof *a->order);
    /* probabilities always come from the softmax; kept only when asked for */
    err = err ? err : grow((void **)&a->probs, &a->cap_probs, nw * (size_t)ntags, sizeof *a->probs);
    cl_tagger_data *x = NULL;
    err = err ? err : reserve_typical(a->tagger, batch);
    err = err ? err : cl_tagger_data_prepare(&x, a->tagger, c, d);
    for (size_t k = 0; !err && k < ns; k++)
        a->order[k] = (int)k;
    if (!err) /* batches of similar length waste least work */
        qsort_r(a->order, ns, sizeof *a->order, by_length, c->start);
    /* each distinct word of the chunk once (its char BiLSTM, its projection) */
    err = err ? err : cl_tagger_types_begin(a->tagger, x, 0);
    for (int k = 0, m; !err && k < (int)ns; k += m) {
        m = batch_size(c->start, a->order + k, (int)ns - k, batch);
        err = cl_tagger_predict_probs(a->tagger, x, a->order + k, m, a->tags, a->probs);
    }
    cl_tagger_types_end(a->tagger);
    cl_tagger_data_free(x);
    return err ? err : store(a, doc, first, ntags, with_probs);
}
