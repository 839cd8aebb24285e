/* clpy: the C side of the Python package (see _glue.h). */
#include "_glue.h"

#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "charlstm.h"

struct clpy_model {
    cl_model *m;
    cl_annotator *ann; /* made on first use */
    cl_tok *tok;       /* made on first use */
    int threads;
    cl_precision prec; /* tag's and classify's products (charlstm tag --precision) */
};

/* ==== errors =============================================================== */

/* "<diag> (<strerror>)" as the tools print it; returns err. */
static int fail(char *msg, int err, const cl_diag *d)
{
    if (d && d->msg[0])
        snprintf(msg, CLPY_MSG, "%s (%s)", d->msg, cl_strerror(err));
    else
        snprintf(msg, CLPY_MSG, "%s", cl_strerror(err));
    return err;
}

static int failf(char *msg, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int failf(char *msg, int err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, CLPY_MSG, fmt, ap);
    va_end(ap);
    return err;
}

void clpy_release(void *p) { free(p); }

/* Every call runs with the model's threads (OpenMP's count is per thread of
 * the caller, so each call sets it). */
static void use_threads(const clpy_model *cm)
{
    openblas_set_num_threads(1);
    omp_set_num_threads(cm->threads);
}

/* ==== the model ============================================================ */

int clpy_load(const char *path, clpy_model **out, char *msg)
{
    cl_diag d = {{0}};
    *out = calloc(1, sizeof **out);
    if (!*out)
        return fail(msg, CL_ENOMEM, NULL);
    (*out)->threads = 1;
    int err = cl_model_load(&(*out)->m, path, NULL, &d);
    if (err) {
        free(*out);
        *out = NULL;
        return fail(msg, err, &d);
    }
    return CL_OK;
}

void clpy_free(clpy_model *cm)
{
    if (!cm)
        return;
    cl_annotator_free(cm->ann);
    cl_tok_free(cm->tok);
    cl_model_free(cm->m);
    free(cm);
}

void clpy_set_threads(clpy_model *cm, int threads) { cm->threads = threads > 0 ? threads : 1; }

int clpy_set_precision(clpy_model *cm, const char *precision, char *msg)
{
    cl_precision p;
    if (cl_precision_parse(precision, &p))
        return failf(msg, CL_EPARSE, "precision must be auto, fp32 or bf16, not '%s'", precision);
    int err = cl_precision_check(p);
    if (err)
        return failf(msg, err, "precision bf16: this CPU has neither AMX nor AVX512-BF16");
    cm->prec = p;
    err = cm->ann ? cl_tagger_set_precision(cl_annotator_tagger(cm->ann), p) : CL_OK;
    return err ? fail(msg, err, NULL) : CL_OK;
}

void clpy_get_info(const clpy_model *cm, clpy_info *info)
{
    const cl_model *m = cm->m;
    const cl_encoder_config *ec = cl_model_encoder(m);
    const cl_text_opts *to = cl_model_text(m);
    const cl_rnn_config *r = &ec->rnn;
    const cl_tagger_config *t = cl_model_head(m, "head.tagger");
    const cl_classifier_config *c = cl_model_head(m, "head.classifier");
    *info = (clpy_info){ec->vocab, ec->emb, r->hidden, r->layers, r->bidir,
                        r->cell == CL_CELL_GRU, cl_encoder_out_dim(ec), to->nfc, to->casefold,
                        cl_model_nheads(m), t ? t->ntags : 0, c ? c->nlabels : 0};
}

const char *clpy_head(const clpy_model *cm, int i)
{
    return cl_model_head_name(cm->m, i);
}

void clpy_vocab(const clpy_model *cm, int32_t *cps)
{
    for (int i = 0; i < cl_model_encoder(cm->m)->vocab; i++)
        cps[i] = cl_vocab_cp(cl_model_vocab(cm->m), i);
}

const char *clpy_tag_name(const clpy_model *cm, int id)
{
    const cl_tagger_config *t = cl_model_head(cm->m, "head.tagger");
    return t && id >= 0 && id < t->ntags ? t->tags[id] : NULL;
}

const char *clpy_label(const clpy_model *cm, int k)
{
    const cl_classifier_config *c = cl_model_head(cm->m, "head.classifier");
    return c && k >= 0 && k < c->nlabels ? c->labels[k] : NULL;
}

/* ==== tensors ============================================================== */

const char *clpy_tensor(const clpy_model *cm, int i, int *ndim, int *shape, float **values,
                        int *constant)
{
    const cl_params *p = cl_model_params(cm->m);
    if (i < 0 || i >= p->nt)
        return NULL;
    const cl_tensor *t = &p->t[i];
    *ndim = t->ndim;
    memcpy(shape, t->shape, sizeof t->shape);
    *values = cl_params_w(p, i);
    *constant = t->constant;
    return t->name;
}

int clpy_new_lm(const int32_t *cps, int n, int emb, int hidden, int layers, int gru, int nfc,
                int casefold, float dropout, uint64_t seed, clpy_model **out, char *msg)
{
    cl_vocab v;
    cl_rng rng;
    cl_text_opts text = cl_text_defaults();
    text.nfc = nfc, text.casefold = casefold;
    cl_encoder_config ec = {n + 1, emb, {gru ? CL_CELL_GRU : CL_CELL_LSTM, emb, hidden, layers, 0,
                                         0}};
    cl_rng_seed(&rng, seed);
    *out = NULL;
    int err = cl_vocab_from_cps(&v, cps, n);
    if (err)
        return failf(msg, err, "the vocabulary must be distinct characters (%s)",
                     cl_strerror(err));
    clpy_model *cm = calloc(1, sizeof *cm);
    if (!cm) {
        cl_vocab_free(&v);
        return fail(msg, CL_ENOMEM, NULL);
    }
    cm->threads = 1;
    if ((err = cl_encoder_validate(&ec)) != 0 || (err = cl_model_create(&cm->m, &text, &v, &ec,
                                                                        &rng)) != 0) {
        cl_vocab_free(&v);
        free(cm);
        return failf(msg, err, "cannot make the model: %s", cl_strerror(err));
    }
    cl_lm_head_config *h = cl_lm_head_new(dropout);
    err = h ? cl_model_add_head(cm->m, &cl_lm_head_ops, h, &rng) : CL_ENOMEM;
    if (err) {
        clpy_free(cm);
        return fail(msg, err, NULL);
    }
    *out = cm;
    return CL_OK;
}

int clpy_save(const clpy_model *cm, const char *path, char *msg)
{
    cl_diag d = {{0}};
    int err = cl_model_save(cm->m, path, NULL, NULL, &d);
    return err ? fail(msg, err, &d) : CL_OK;
}

/* ==== text ================================================================= */

/* Character ids of text as model m reads it; *cps (may be NULL) keeps the
 * code points.  Both malloc'd (at least one element). */
static int encode_text(const cl_model *m, const char *text, size_t n, const char *name,
                       int **ids, int32_t **cps_out, size_t *T, char *msg)
{
    cl_diag d = {{0}};
    int32_t *cps = NULL;
    int err = cl_text_decode(text, n, cl_model_text(m), name, &cps, T, &d);
    if (err)
        return fail(msg, err, &d);
    *ids = malloc(sizeof **ids * (*T + 1));
    if (!*ids) {
        free(cps);
        return fail(msg, CL_ENOMEM, NULL);
    }
    cl_model_encode(m, cps, *T, *ids, NULL);
    if (cps_out)
        *cps_out = cps;
    else
        free(cps);
    return CL_OK;
}

/* The id a text starts after, as cl_gen_prime: a newline, else id 1. */
static int start_id(const cl_model *m)
{
    int id = cl_vocab_id(cl_model_vocab(m), '\n');
    return id == CL_VOCAB_UNK ? 1 : id;
}

/* Code-point offset of every byte offset of a valid UTF-8 string:
 * continuation bytes do not start a code point. */
static int64_t cp_offset(const char *s, size_t byte, size_t *from_byte, int64_t *from_cp)
{
    for (; *from_byte < byte; (*from_byte)++)
        *from_cp += ((unsigned char)s[*from_byte] & 0xC0) != 0x80;
    return *from_cp;
}

/* ==== generation =========================================================== */

struct clpy_gen {
    const cl_model *m;
    cl_gen *g;
    int threads;
    int *prompt;
    size_t nprompt;
};

int clpy_gen_new(clpy_model *cm, const char *prompt, size_t n, float temperature, int top_k,
                 float top_p, uint64_t seed, clpy_gen **out, size_t *prompt_len, char *msg)
{
    cl_diag d = {{0}};
    cl_sample_config sc = {temperature, top_k, top_p};
    clpy_gen *g = calloc(1, sizeof *g);
    *out = NULL;
    if (!g)
        return fail(msg, CL_ENOMEM, NULL);
    g->m = cm->m, g->threads = cm->threads;
    use_threads(cm);
    int err = encode_text(cm->m, prompt, n, "prompt", &g->prompt, NULL, &g->nprompt, msg);
    if (!err && (err = cl_gen_create(&g->g, cm->m, &sc, seed, &d)) != 0)
        fail(msg, err, &d);
    if (!err)
        err = cl_gen_prime(g->g, g->prompt, g->nprompt);
    if (err) {
        clpy_gen_free(g);
        return err;
    }
    *prompt_len = g->nprompt;
    *out = g;
    return CL_OK;
}

void clpy_gen_prompt(const clpy_gen *g, int32_t *cps)
{
    for (size_t i = 0; i < g->nprompt; i++)
        cps[i] = cl_vocab_cp(cl_model_vocab(g->m), g->prompt[i]);
}

int clpy_gen_next(clpy_gen *g, int32_t *cps, int n)
{
    openblas_set_num_threads(1);
    omp_set_num_threads(g->threads);
    for (int i = 0; i < n; i++) {
        int id, err = cl_gen_next(g->g, &id);
        if (err)
            return err;
        cps[i] = cl_vocab_cp(cl_model_vocab(g->m), id);
    }
    return CL_OK;
}

void clpy_gen_free(clpy_gen *g)
{
    if (!g)
        return;
    cl_gen_free(g->g);
    free(g->prompt);
    free(g);
}

/* ==== logits =============================================================== */

#define LOGIT_CHUNK 256 /* steps per forward; the state is carried between them */

static int lm_logits(const cl_model *m, const int *ids, size_t T, float *out)
{
    cl_lm lm;
    const cl_encoder_config *ec = cl_model_encoder(m);
    const cl_params *p = cl_model_params(m);
    int V = ec->vocab, err = cl_lm_create(&lm, ec, p, 0, LOGIT_CHUNK, 1);
    if (err)
        return err;
    size_t S = cl_encoder_state_size(ec);
    float *h = calloc(S, sizeof *h), *c = calloc(S, sizeof *c);
    err = h && c ? CL_OK : CL_ENOMEM;
    for (size_t t = 0; t < T && !err; t += LOGIT_CHUNK) {
        int n = T - t < LOGIT_CHUNK ? (int)(T - t) : LOGIT_CHUNK;
        cl_lm_forward(&lm, p, ids + t, NULL, n, 1, h, c, 0, NULL);
        memcpy(out + t * V, lm.logits, sizeof *out * (size_t)n * V);
    }
    free(h), free(c);
    cl_lm_free(&lm);
    return err;
}

int clpy_logits(clpy_model *cm, const char *text, size_t n, int after_newline, float **logits,
                int **ids, size_t *T, char *msg)
{
    const cl_model *m = cm->m;
    *logits = NULL, *ids = NULL;
    if (!cl_model_head(m, "head.lm"))
        return failf(msg, CL_ENOTFOUND, "the model has no language-model head (head.lm)");
    use_threads(cm);
    int *x;
    size_t nx;
    int err = encode_text(m, text, n, "text", &x, NULL, &nx, msg);
    if (err)
        return err;
    /* with after_newline the model reads "\n" + text[0..T-1) */
    int *in = malloc(sizeof *in * (nx + 1));
    *logits = malloc(sizeof **logits * (nx ? nx : 1) * (size_t)cl_model_encoder(m)->vocab);
    if (!in || !*logits)
        err = CL_ENOMEM;
    if (!err && after_newline && nx) {
        in[0] = start_id(m);
        memcpy(in + 1, x, sizeof *in * (nx - 1));
    } else if (!err) {
        memcpy(in, x, sizeof *in * nx);
    }
    err = err ? err : lm_logits(m, in, nx, *logits);
    free(in);
    if (err) {
        free(x), free(*logits);
        *logits = NULL;
        return fail(msg, err, NULL);
    }
    *ids = x, *T = nx;
    return CL_OK;
}

/* ==== encoder states ======================================================= */

static int make_tok(clpy_model *cm, char *msg)
{
    cl_diag d = {{0}};
    int err = cm->tok ? CL_OK : cl_tok_create(&cm->tok, &d);
    return err ? fail(msg, err, &d) : CL_OK;
}

/* The words of cps[0..T) (the tokenizer reads their UTF-8) as code-point
 * spans appended to s at word index *nw. */
static int state_words(clpy_model *cm, clpy_states *s, const int32_t *cps, size_t T,
                       size_t *nw, size_t *capw, char *msg)
{
    char *utf8 = malloc(4 * T + 1);
    size_t len = 0, ntok = 0, b = 0;
    int64_t cp = 0;
    cl_tok_span *sp = NULL;
    cl_diag d = {{0}};
    if (!utf8)
        return fail(msg, CL_ENOMEM, NULL);
    for (size_t i = 0; i < T; i++)
        len += (size_t)cl_text_encode_cp(cps[i], utf8 + len);
    int err = cl_tok_line_alloc(cm->tok, utf8, len, &sp, &ntok, &d);
    if (!err && *nw + ntok > *capw) {
        size_t cap = (*nw + ntok) * 2;
        int64_t *a = realloc(s->word_start, sizeof *a * cap);
        s->word_start = a ? a : s->word_start;
        int64_t *e = a ? realloc(s->word_end, sizeof *e * cap) : NULL;
        s->word_end = e ? e : s->word_end;
        err = a && e ? CL_OK : CL_ENOMEM;
        *capw = err ? *capw : cap;
    }
    for (size_t k = 0; k < ntok && !err; k++, (*nw)++) {
        s->word_start[*nw] = cp_offset(utf8, sp[k].off, &b, &cp);
        s->word_end[*nw] = cp_offset(utf8, sp[k].off + sp[k].len, &b, &cp);
    }
    free(sp), free(utf8);
    return err ? fail(msg, err, &d) : CL_OK;
}

/* Texts in batches of similar length: a unidirectional encoder's output at
 * a character does not depend on what follows it, so padding after a short
 * text changes none of its rows; a bidirectional one reads texts one by one. */
#define STATES_BATCH 32
#define STATES_BATCH_CHARS 16384

typedef struct {
    int **ids;     /* [n] ids of each text */
    size_t *len;   /* [n] its length */
} states_input;

static int cmp_text_len(const void *a, const void *b, void *ctx)
{
    const size_t *len = ctx;
    size_t x = len[*(const int *)a], y = len[*(const int *)b];
    return x != y ? (x < y ? -1 : 1) : *(const int *)a - *(const int *)b;
}

/* Encoder outputs of "\n" + text for texts order[0..B) into s->chars. */
static int states_batch(const cl_model *m, cl_precision prec, const states_input *in,
                        const int *order, int B, clpy_states *s)
{
    size_t T = 0, D = (size_t)s->dim;
    for (int b = 0; b < B; b++)
        T = in->len[order[b]] > T ? in->len[order[b]] : T;
    T += 1;
    int *x = malloc(sizeof *x * T * B), start = start_id(m);
    float *Y = malloc(sizeof *Y * T * B * D);
    cl_encoder e;
    int err = x && Y ? cl_encoder_create(&e, cl_model_encoder(m), cl_model_params(m), (int)T, B)
                     : CL_ENOMEM;
    if (!err && (err = cl_encoder_set_precision(&e, prec)) != 0)
        cl_encoder_free(&e);
    for (size_t t = 0; t < T && !err; t++)
        for (int b = 0; b < B; b++)
            x[t * B + b] = t && t <= in->len[order[b]] ? in->ids[order[b]][t - 1] : start;
    if (!err) {
        err = cl_encoder_forward(&e, cl_model_params(m), x, (int)T, B, NULL, NULL, Y, NULL, NULL, 0,
                                 NULL);
        cl_encoder_free(&e);
    }
    for (int b = 0; b < B && !err; b++) {
        float *out = s->chars + s->char_off[order[b]] * D;
        for (size_t t = 0; t < in->len[order[b]]; t++)
            memcpy(out + t * D, Y + ((t + 1) * B + b) * D, sizeof *out * D);
    }
    free(x), free(Y);
    return err;
}

static int states_all(const cl_model *m, cl_precision prec, const states_input *in, int n,
                      clpy_states *s)
{
    int *order = malloc(sizeof *order * (size_t)(n ? n : 1)), err = CL_OK;
    if (!order)
        return CL_ENOMEM;
    for (int i = 0; i < n; i++)
        order[i] = i;
    qsort_r(order, (size_t)n, sizeof *order, cmp_text_len, in->len);
    int most = cl_model_encoder(m)->rnn.bidir ? 1 : STATES_BATCH;
    for (int b = 0, e; b < n && !err; b = e) {
        /* sorted by length: the last text of a batch is its longest */
        for (e = b + 1; e < n && e - b < most; e++)
            if ((in->len[order[e]] + 1) * (size_t)(e - b + 1) > STATES_BATCH_CHARS)
                break;
        err = states_batch(m, prec, in, order + b, e - b, s);
    }
    free(order);
    return err;
}

/* Text i as ids (into in) and code points (into s), and its words. */
static int states_text(clpy_model *cm, clpy_states *s, states_input *in, const char *text,
                       size_t n, int i, size_t *nw, size_t *capw, char *msg)
{
    char name[32];
    int32_t *cps = NULL;
    size_t at = s->char_off[i];
    snprintf(name, sizeof name, "texts[%d]", i);
    int err = encode_text(cm->m, text, n, name, &in->ids[i], &cps, &in->len[i], msg);
    if (err)
        return err;
    int32_t *all = realloc(s->cps, sizeof *all * (at + in->len[i] + 1));
    if (all) {
        s->cps = all;
        memcpy(s->cps + at, cps, sizeof *cps * in->len[i]);
        s->char_off[i + 1] = at + in->len[i];
        err = state_words(cm, s, cps, in->len[i], nw, capw, msg);
    } else {
        err = fail(msg, CL_ENOMEM, NULL);
    }
    free(cps);
    return err;
}

/* Rows of words: the character state at each word's last character. */
static int gather_words(clpy_states *s, size_t nw)
{
    size_t D = (size_t)s->dim;
    s->words = malloc(sizeof *s->words * (nw ? nw : 1) * D);
    if (!s->words)
        return CL_ENOMEM;
    for (int i = 0; i < s->n; i++)
        for (size_t w = s->word_off[i]; w < s->word_off[i + 1]; w++)
            memcpy(s->words + w * D, s->chars + (s->char_off[i] + s->word_end[w] - 1) * D,
                   sizeof *s->words * D);
    return CL_OK;
}

int clpy_states_of(clpy_model *cm, const char *const *texts, const size_t *lens, int n,
                   clpy_states *s, char *msg)
{
    size_t nw = 0, capw = 0, N = (size_t)n + 1;
    states_input in = {calloc(N, sizeof *in.ids), calloc(N, sizeof *in.len)};
    memset(s, 0, sizeof *s);
    s->n = n, s->dim = cl_encoder_out_dim(cl_model_encoder(cm->m));
    s->char_off = calloc(N, sizeof *s->char_off);
    s->word_off = calloc(N, sizeof *s->word_off);
    int err = s->char_off && s->word_off && in.ids && in.len ? CL_OK : fail(msg, CL_ENOMEM, NULL);
    use_threads(cm);
    err = err ? err : make_tok(cm, msg);
    for (int i = 0; i < n && !err; i++) {
        err = states_text(cm, s, &in, texts[i], lens[i], i, &nw, &capw, msg);
        s->word_off[i + 1] = nw;
    }
    if (!err) {
        s->chars = malloc(sizeof *s->chars * (s->char_off[n] + 1) * (size_t)s->dim);
        err = s->chars ? states_all(cm->m, cm->prec, &in, n, s) : CL_ENOMEM;
        err = err ? err : gather_words(s, nw);
        if (err)
            fail(msg, err, NULL);
    }
    for (int i = 0; in.ids && i < n; i++)
        free(in.ids[i]);
    free(in.ids), free(in.len);
    return err;
}

void clpy_states_free(clpy_states *s)
{
    free(s->char_off), free(s->cps), free(s->chars), free(s->word_off);
    free(s->word_start), free(s->word_end), free(s->words);
    memset(s, 0, sizeof *s);
}

/* ==== tagging ============================================================== */

/* cl_annotate does the work, as for charlstm tag, eval --raw and serve: this
 * part only lays its document out as arrays for Python. */

static int make_annotator(clpy_model *cm, char *msg)
{
    cl_diag d = {{0}};
    if (cm->ann)
        return CL_OK;
    int err = cl_annotator_create(&cm->ann, cm->m, &d);
    err = err ? err : cl_tagger_set_precision(cl_annotator_tagger(cm->ann), cm->prec);
    return err ? fail(msg, err, &d) : CL_OK;
}

/* Sentences per batch, as charlstm tag's default --batch. */
#define TAG_BATCH 32

/* The document being made, with the code-point offset of each sentence in
 * the text (0 for given words). */
typedef struct {
    cl_ann_doc doc;
    int64_t *base;
    int cap;
} tag_doc;

static int tag_doc_new(clpy_tagged *out, tag_doc **td, char *msg)
{
    memset(out, 0, sizeof *out);
    *td = calloc(1, sizeof **td);
    if (!*td)
        return fail(msg, CL_ENOMEM, NULL);
    cl_ann_doc_init(&(*td)->doc);
    out->doc = *td;
    return CL_OK;
}

/* Offsets of the sentences [first, doc.n) of the line at byte b of text;
 * *at_byte / *at_cp carry the count of code points forward (sentences come
 * in text order, so the whole text is counted once). */
static int tag_doc_bases(tag_doc *td, int first, const char *text, size_t b, size_t *at_byte,
                         int64_t *at_cp)
{
    if (td->doc.n > td->cap) {
        int cap = 2 * td->doc.n;
        int64_t *v = realloc(td->base, sizeof *v * (size_t)cap);
        if (!v)
            return CL_ENOMEM;
        td->base = v, td->cap = cap;
    }
    for (int k = first; k < td->doc.n; k++)
        td->base[k] = text ? cp_offset(text, b + td->doc.sent[k].off, at_byte, at_cp) : 0;
    return CL_OK;
}

static int64_t chars_in(const char *s, size_t n)
{
    size_t b = 0;
    int64_t cp = 0;
    return cp_offset(s, n, &b, &cp);
}

static int tagged_alloc(clpy_tagged *t, const cl_ann_doc *doc, int ntags)
{
    size_t S = (size_t)doc->n + 1, K = 1, W = 1;
    for (int s = 0; s < doc->n; s++)
        K += (size_t)doc->sent[s].ntok, W += (size_t)doc->sent[s].nword;
    t->nsent = doc->n, t->ntok = (int)K - 1, t->nword = (int)W - 1, t->ntags = ntags;
    t->sent_tok = calloc(S, sizeof(int)), t->sent_word = calloc(S, sizeof(int));
    t->sent_text = calloc(S, sizeof(char *));
    t->sent_start = calloc(S, sizeof(int64_t)), t->sent_end = calloc(S, sizeof(int64_t));
    t->tok_start = calloc(K, sizeof(int64_t)), t->tok_end = calloc(K, sizeof(int64_t));
    t->tok_word = calloc(K, sizeof(int)), t->tok_nwords = calloc(K, sizeof(int));
    t->tok_space_after = calloc(K, sizeof(int));
    t->form = calloc(W, sizeof(char *)), t->word_token = calloc(W, sizeof(int));
    t->word_start = calloc(W, sizeof(int64_t)), t->word_end = calloc(W, sizeof(int64_t));
    t->tag = calloc(W, sizeof(int)), t->prob = calloc(W, sizeof(float));
    t->probs = calloc(W * (size_t)ntags, sizeof(float));
    return t->sent_tok && t->sent_word && t->sent_text && t->sent_start && t->sent_end &&
                   t->tok_start && t->tok_end && t->tok_word && t->tok_nwords &&
                   t->tok_space_after && t->form && t->word_token && t->word_start &&
                   t->word_end && t->tag && t->prob && t->probs ? CL_OK : CL_ENOMEM;
}

/* Sentence s of the document into the arrays at token k and word w. */
static void tagged_sentence(clpy_tagged *t, const cl_ann_sent *s, int64_t base, int k, int w)
{
    const char *x = s->text;
    for (int i = 0; i < s->ntok; i++, k++) {
        const cl_ann_token *tk = &s->tok[i];
        t->tok_start[k] = base + chars_in(x, tk->off);
        t->tok_end[k] = t->tok_start[k] + chars_in(x + tk->off, tk->len);
        t->tok_word[k] = tk->word, t->tok_nwords[k] = tk->nwords;
        t->tok_space_after[k] = tk->space_after;
    }
    for (int i = 0; i < s->nword; i++, w++) {
        const cl_ann_word *wd = &s->word[i];
        float *p = t->probs + (size_t)w * t->ntags;
        t->form[w] = wd->form;
        t->word_start[w] = base + chars_in(x, wd->off);
        t->word_end[w] = t->word_start[w] + chars_in(x + wd->off, wd->len);
        t->word_token[w] = wd->token, t->tag[w] = wd->tag, t->prob[w] = wd->prob;
        if (s->probs)
            memcpy(p, s->probs + (size_t)i * t->ntags, sizeof *p * (size_t)t->ntags);
        for (int j = 0; !s->probs && j < t->ntags; j++)
            p[j] = NAN;
    }
}

/* Tag the document and lay it out in out. */
static int tag_doc_finish(clpy_model *cm, tag_doc *td, clpy_tagged *out, char *msg)
{
    cl_diag d = {{0}};
    use_threads(cm);
    int err = cl_annotate_tag(cm->ann, &td->doc, 0, TAG_BATCH, 1, &d);
    if (err)
        return fail(msg, err, &d);
    int ntags = cl_tagger_config_of(cl_annotator_tagger(cm->ann))->ntags;
    if ((err = tagged_alloc(out, &td->doc, ntags)) != 0)
        return fail(msg, err, NULL);
    for (int s = 0, k = 0, w = 0; s < td->doc.n; s++) {
        const cl_ann_sent *x = &td->doc.sent[s];
        out->sent_tok[s] = k, out->sent_word[s] = w, out->sent_text[s] = x->text;
        out->sent_start[s] = td->base[s];
        out->sent_end[s] = td->base[s] + chars_in(x->text, strlen(x->text));
        tagged_sentence(out, x, td->base[s], k, w);
        k += x->ntok, w += x->nword;
    }
    out->sent_tok[td->doc.n] = out->ntok, out->sent_word[td->doc.n] = out->nword;
    return CL_OK;
}

/* Each line of text (without its "\r\n" or "\n") into td, as charlstm tag
 * reads its input lines. */
static int annotate_lines(clpy_model *cm, tag_doc *td, const char *text, size_t n, int mode,
                          char *msg)
{
    cl_diag d = {{0}};
    size_t at_byte = 0;
    int64_t at_cp = 0;
    int err = CL_OK;
    for (size_t b = 0, e; b <= n && !err; b = e + 1) {
        const char *nl = memchr(text + b, '\n', n - b);
        size_t len = (e = nl ? (size_t)(nl - text) : n) - b;
        while (len && text[b + len - 1] == '\r')
            len--;
        int first = td->doc.n;
        if ((err = cl_annotate_text(cm->ann, text + b, len, mode, &td->doc, &d)) != 0)
            return fail(msg, err, &d);
        if ((err = tag_doc_bases(td, first, text, b, &at_byte, &at_cp)) != 0)
            return fail(msg, err, NULL);
    }
    return CL_OK;
}

int clpy_tag_text(clpy_model *cm, const char *text, size_t n, int split, clpy_tagged *out,
                  char *msg)
{
    cl_diag d = {{0}};
    tag_doc *td;
    int32_t *cps = NULL;
    size_t ncps;
    int err = tag_doc_new(out, &td, msg);
    if (err)
        return err;
    /* validated whole first, so a bad byte is named by its offset in the text */
    if ((err = cl_text_decode(text, n, NULL, "text", &cps, &ncps, &d)) != 0)
        return fail(msg, err, &d);
    free(cps);
    err = make_annotator(cm, msg);
    err = err ? err : annotate_lines(cm, td, text, n, split ? CL_ANN_SPLIT : CL_ANN_LINE, msg);
    return err ? err : tag_doc_finish(cm, td, out, msg);
}

int clpy_tag_words(clpy_model *cm, const char *const *forms, const int *sent_start, int nsent,
                   clpy_tagged *out, char *msg)
{
    tag_doc *td;
    int err = tag_doc_new(out, &td, msg);
    err = err ? err : make_annotator(cm, msg);
    for (int s = 0; s < nsent && !err; s++) {
        int n = sent_start[s + 1] - sent_start[s], first = td->doc.n;
        if (n > 0)
            err = cl_annotate_words(&td->doc, forms + sent_start[s], NULL, n);
        err = err ? err : tag_doc_bases(td, first, NULL, 0, NULL, NULL);
        if (err)
            fail(msg, err, NULL);
    }
    return err ? err : tag_doc_finish(cm, td, out, msg);
}

void clpy_tagged_free(clpy_tagged *t)
{
    tag_doc *td = t->doc;
    if (td) {
        cl_ann_doc_free(&td->doc);
        free(td->base), free(td);
    }
    free(t->sent_tok), free(t->sent_word), free(t->sent_text), free(t->sent_start);
    free(t->sent_end), free(t->tok_start), free(t->tok_end), free(t->tok_word);
    free(t->tok_nwords), free(t->tok_space_after), free(t->form), free(t->word_start);
    free(t->word_end), free(t->word_token), free(t->tag), free(t->prob), free(t->probs);
    memset(t, 0, sizeof *t);
}

/* ==== classification ======================================================= */

#define CLASSIFY_BATCH 32
#define CLASSIFY_POSITIONS 8192 /* padded characters per batch, as charlstm classify */

/* Texts as ids, cut to max_chars; an empty text is one unknown id. */
static int classify_encode(const cl_model *m, const cl_classifier_config *cfg,
                           const char *const *texts, const size_t *lens, int n, int **ids,
                           int *len, int *longest, char *msg)
{
    int err = CL_OK;
    *longest = 1;
    for (int i = 0; i < n && !err; i++) {
        char name[32];
        size_t T;
        snprintf(name, sizeof name, "texts[%d]", i);
        err = encode_text(m, texts[i], lens[i], name, &ids[i], NULL, &T, msg);
        if (!err && T == 0)
            ids[i][0] = CL_VOCAB_UNK, T = 1;
        len[i] = T > (size_t)cfg->max_chars ? cfg->max_chars : (int)T;
        *longest = len[i] > *longest ? len[i] : *longest;
    }
    return err;
}

/* One workspace for every batch, as charlstm classify keeps one (a
 * workspace per batch cost more than the classification). */
int clpy_classify(clpy_model *cm, const char *const *texts, const size_t *lens, int n,
                  float *probs, char *msg)
{
    const cl_classifier_config *cfg = cl_model_head(cm->m, "head.classifier");
    if (!cfg)
        return failf(msg, CL_ENOTFOUND, "the model has no classifier head (head.classifier)");
    use_threads(cm);
    int **ids = calloc((size_t)n + 1, sizeof *ids), *len = calloc((size_t)n + 1, sizeof *len);
    int T, err = ids && len ? CL_OK : fail(msg, CL_ENOMEM, NULL);
    err = err ? err : classify_encode(cm->m, cfg, texts, lens, n, ids, len, &T, msg);
    cl_classifier *c = NULL;
    /* memory bounded as in charlstm classify: long texts make smaller batches */
    int B = n < CLASSIFY_BATCH ? (n ? n : 1) : CLASSIFY_BATCH;
    if (!err && B * T > CLASSIFY_POSITIONS)
        B = CLASSIFY_POSITIONS / T > 1 ? CLASSIFY_POSITIONS / T : 1;
    if (!err && (err = cl_classifier_create(&c, cm->m, T, B)) != 0)
        fail(msg, err, NULL);
    if (!err && (err = cl_classifier_set_precision(c, cm->prec)) != 0)
        fail(msg, err, NULL);
    for (int b = 0; b < n && !err; b += B) {
        int k = n - b < B ? n - b : B;
        err = cl_classifier_predict(c, (const int *const *)ids + b, len + b, k,
                                    probs + (size_t)b * cfg->nlabels);
        if (err)
            fail(msg, err, NULL);
    }
    cl_classifier_free(c);
    for (int i = 0; ids && i < n; i++)
        free(ids[i]);
    free(ids), free(len);
    return err;
}

/* ==== the command ========================================================= */

const char *clpy_tool(void) { return CLPY_TOOL; }
