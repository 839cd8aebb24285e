/* cl_tagger: corpus of strings, the head.tagger configuration and section,
 * the runtime object and the conversion of sentences to ids. */
#include "cl_tagger.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "cl_conllu.h"
#include "cl_lm.h"
#include "cl_tagger_impl.h"

#define SECTION "head.tagger"
#define KEY_MAX 256 /* bytes of a lower-cased word used as its key */

/* ==== corpus =============================================================== */

void cl_tagger_corpus_init(cl_tagger_corpus *c) { memset(c, 0, sizeof *c); }

static int corpus_grow(cl_tagger_corpus *c, int words)
{
    if (c->nsent + 2 > c->cap_s) {
        int cap = c->cap_s ? 2 * c->cap_s : 64;
        int *s = realloc(c->start, sizeof *s * (size_t)cap);
        if (!s)
            return CL_ENOMEM;
        c->start = s, c->cap_s = cap;
    }
    if (c->nwords + words > c->cap_w) {
        int cap = c->cap_w ? 2 * c->cap_w : 256;
        while (cap < c->nwords + words)
            cap *= 2;
        char **f = realloc(c->form, sizeof *f * (size_t)cap);
        if (f)
            c->form = f;
        char **t = f ? realloc(c->tag, sizeof *t * (size_t)cap) : NULL;
        if (!t)
            return CL_ENOMEM;
        c->tag = t, c->cap_w = cap;
    }
    return CL_OK;
}

int cl_tagger_corpus_add(cl_tagger_corpus *c, const char *const *forms, const char *const *tags,
                         int n)
{
    if (n < 1)
        return CL_EINVAL;
    if (corpus_grow(c, n))
        return CL_ENOMEM;
    if (c->nsent == 0)
        c->start[0] = 0;
    for (int i = 0; i < n; i++) {
        int w = c->nwords + i;
        c->form[w] = strdup(forms[i]);
        c->tag[w] = tags && tags[i] ? strdup(tags[i]) : NULL;
        if (!c->form[w] || (tags && tags[i] && !c->tag[w])) {
            for (int k = c->nwords; k <= w; k++)
                free(c->form[k]), free(c->tag[k]);
            return CL_ENOMEM;
        }
    }
    c->nwords += n;
    c->start[++c->nsent] = c->nwords;
    return CL_OK;
}

int cl_tagger_corpus_add_line(cl_tagger_corpus *c, const cl_tok *tok, const char *line,
                              size_t len, cl_tok_span **spans, size_t *n, cl_diag *d)
{
    int err = cl_tok_line_alloc(tok, line, len, spans, n, d);
    if (err || !*n)
        return err;
    char **forms = malloc(sizeof *forms * *n);
    size_t made = 0;
    for (; forms && made < *n; made++)
        if (!(forms[made] = strndup(line + (*spans)[made].off, (*spans)[made].len)))
            break;
    err = made == *n ? cl_tagger_corpus_add(c, (const char *const *)forms, NULL, (int)*n)
                     : CL_ENOMEM;
    for (size_t i = 0; i < made; i++)
        free(forms[i]);
    free(forms);
    if (err)
        free(*spans), *spans = NULL, *n = 0;
    return err;
}

void cl_tagger_corpus_clear(cl_tagger_corpus *c)
{
    for (int i = 0; i < c->nwords; i++)
        free(c->form[i]), free(c->tag[i]);
    c->nwords = c->nsent = 0;
}

void cl_tagger_corpus_free(cl_tagger_corpus *c)
{
    cl_tagger_corpus_clear(c);
    free(c->start), free(c->form), free(c->tag);
    cl_tagger_corpus_init(c);
}

static int add_conllu_sentence(cl_tagger_corpus *c, const cl_conllu_sent *s, int column)
{
    size_t n = cl_conllu_nwords(s);
    const char **forms = malloc(sizeof *forms * n * 2);
    if (!forms)
        return CL_ENOMEM;
    const char **tags = forms + n;
    for (size_t i = 0; i < n; i++) {
        forms[i] = cl_conllu_form(s, i);
        tags[i] = cl_conllu_col(s, i, column);
        if (strcmp(tags[i], "_") == 0)
            tags[i] = NULL;
    }
    int err = cl_tagger_corpus_add(c, forms, tags, (int)n);
    free(forms);
    return err;
}

int cl_tagger_corpus_read_conllu(cl_tagger_corpus *c, const char *path, int column, cl_diag *d)
{
    FILE *fp = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
    if (!fp)
        return cl_diag_set(d, CL_EIO, "%s: cannot open", path);
    cl_conllu_reader *r = cl_conllu_reader_new(fp, path);
    cl_conllu_sent *s = cl_conllu_sent_new();
    int rc = r && s ? 1 : CL_ENOMEM;
    while (rc == 1 && (rc = cl_conllu_read(r, s, d)) == 1)
        if (add_conllu_sentence(c, s, column))
            rc = CL_ENOMEM;
    cl_conllu_sent_free(s);
    cl_conllu_reader_free(r);
    if (fp != stdin)
        fclose(fp);
    return rc;
}

/* ==== string helpers ======================================================= */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Lower-case UTF-8 s into buf (NUL-terminated, cut at KEY_MAX bytes); the
 * word embedding ignores case because capitalisation has its own feature.
 * Invalid UTF-8 is copied as it is. */
static void lower_utf8(const char *s, char *buf)
{
    const utf8proc_uint8_t *p = (const utf8proc_uint8_t *)s;
    size_t len = strlen(s), n = 0;
    utf8proc_int32_t cp;
    while (len > 0 && n + 4 < KEY_MAX) {
        utf8proc_ssize_t k = utf8proc_iterate(p, (utf8proc_ssize_t)len, &cp);
        if (k <= 0) { /* not UTF-8: keep the byte */
            buf[n++] = (char)*p, p++, len--;
            continue;
        }
        n += (size_t)utf8proc_encode_char(utf8proc_tolower(cp), (utf8proc_uint8_t *)buf + n);
        p += k, len -= (size_t)k;
    }
    buf[n] = 0;
}

/* Sorted unique copy of strs[0..n) (NULLs skipped) into *out; returns the count. */
static int sorted_unique(char **strs, int n, char ***out)
{
    const char **tmp = malloc(sizeof *tmp * (size_t)(n ? n : 1));
    if (!tmp)
        return CL_ENOMEM;
    int m = 0;
    for (int i = 0; i < n; i++)
        if (strs[i])
            tmp[m++] = strs[i];
    qsort(tmp, (size_t)m, sizeof *tmp, cmp_str);
    int u = 0;
    for (int i = 0; i < m; i++)
        if (u == 0 || strcmp(tmp[u - 1], tmp[i]) != 0)
            tmp[u++] = tmp[i];
    char **res = calloc((size_t)(u ? u : 1), sizeof *res);
    for (int i = 0; res && i < u; i++)
        if (!(res[i] = strdup(tmp[i]))) {
            while (i--)
                free(res[i]);
            free(res), res = NULL;
        }
    free(tmp);
    if (!res)
        return CL_ENOMEM;
    *out = res;
    return u;
}

static void free_strs(char **s, int n)
{
    for (int i = 0; s && i < n; i++)
        free(s[i]);
    free(s);
}

/* ==== configuration ======================================================== */

cl_tagger_config cl_tagger_config_defaults(void)
{
    cl_tagger_config c = {0};
    c.column = CL_CONLLU_UPOS;
    c.feat = cl_feat_defaults();
    c.feat.buckets = 1 << 17;
    c.char_emb = 32, c.char_hidden = 64, c.max_word_chars = 24;
    c.feat_emb = 32, c.word_emb = 64;
    c.word_hidden = 128, c.word_layers = 1;
    c.dropout = 0.33f, c.word_dropout = 0.1f, c.char_dropout = 0.02f;
    return c;
}

/* Lower-cased forms counted with a sort: those seen min_count times or more. */
static int frequent_words(cl_tagger_config *cfg, const cl_tagger_corpus *c, int min_count)
{
    char **low = malloc(sizeof *low * (size_t)(c->nwords ? c->nwords : 1));
    int err = low ? CL_OK : CL_ENOMEM;
    char buf[KEY_MAX];
    int n = 0;
    for (int i = 0; i < c->nwords && !err; i++, n++) {
        lower_utf8(c->form[i], buf);
        if (!(low[i] = strdup(buf)))
            err = CL_ENOMEM;
    }
    char **keep = err ? NULL : malloc(sizeof *keep * (size_t)(n ? n : 1)); /* not owning */
    if (!err && !keep)
        err = CL_ENOMEM;
    if (!err) {
        qsort(low, (size_t)n, sizeof *low, cmp_str);
        int u = 0;
        for (int i = 0, j; i < n; i = j) {
            for (j = i + 1; j < n && strcmp(low[i], low[j]) == 0; j++)
                ;
            if (j - i >= min_count)
                keep[u++] = low[i];
        }
        err = sorted_unique(keep, u, &cfg->words);
        cfg->nwords = err < 0 ? 0 : err;
    }
    free(keep);
    free_strs(low, n);
    return err < 0 ? err : CL_OK;
}

int cl_tagger_config_build(cl_tagger_config *cfg, const cl_tagger_corpus *train,
                           int min_word_count)
{
    int n = sorted_unique(train->tag, train->nwords, &cfg->tags);
    if (n < 0)
        return n;
    cfg->ntags = n;
    if (n == 0)
        return CL_EEMPTY;
    n = sorted_unique(train->form, train->nwords, &cfg->forms);
    if (n < 0)
        return n;
    cfg->nforms = n;
    return frequent_words(cfg, train, min_word_count < 1 ? 1 : min_word_count);
}

static char **dup_strs(char **s, int n)
{
    char **r = calloc((size_t)(n ? n : 1), sizeof *r);
    for (int i = 0; r && i < n; i++)
        if (!(r[i] = strdup(s[i]))) {
            free_strs(r, i);
            return NULL;
        }
    return r;
}

cl_tagger_config *cl_tagger_config_dup(const cl_tagger_config *cfg)
{
    cl_tagger_config *c = malloc(sizeof *c);
    if (!c)
        return NULL;
    *c = *cfg;
    c->tags = dup_strs(cfg->tags, cfg->ntags);
    c->words = dup_strs(cfg->words, cfg->nwords);
    c->forms = dup_strs(cfg->forms, cfg->nforms);
    int seg_err = cl_seg_rules_copy(&c->seg, &cfg->seg);
    if (!c->tags || !c->words || !c->forms || seg_err) {
        cl_tagger_config_free(c);
        return NULL;
    }
    return c;
}

void cl_tagger_config_clear(cl_tagger_config *cfg)
{
    free_strs(cfg->tags, cfg->ntags);
    free_strs(cfg->words, cfg->nwords);
    free_strs(cfg->forms, cfg->nforms);
    cfg->tags = cfg->words = cfg->forms = NULL;
    cfg->ntags = cfg->nwords = cfg->nforms = 0;
    cl_seg_rules_clear(&cfg->seg);
}

void cl_tagger_config_free(void *cfg)
{
    if (!cfg)
        return;
    cl_tagger_config_clear(cfg);
    free(cfg);
}

/* ==== head ops ============================================================= */

int cl_tagger_reads_lm(const cl_tagger_config *c) { return c->use_lm || c->use_lm_backward; }

/* Width of the word's LM features: the forward state, then the backward
 * one (Flair's concatenation); -1 when the model lacks the backward LM the
 * configuration reads. */
static int lm_width(const cl_model *m, const cl_tagger_config *c)
{
    const cl_encoder_config *b = cl_lm_encoder_of(m, CL_LM_BACKWARD);
    if (c->use_lm_backward && (!b || b->rnn.cell != CL_CELL_LSTM))
        return -1;
    return (c->use_lm ? cl_encoder_out_dim(&m->enc) : 0) +
           (c->use_lm_backward ? cl_encoder_out_dim(b) : 0);
}

static void rnn_configs(const cl_model *m, const cl_tagger_config *c, cl_rnn_config *cr,
                        cl_rnn_config *wr)
{
    int lm = lm_width(m, c);
    *cr = (cl_rnn_config){CL_CELL_LSTM, c->char_emb, c->char_hidden, 1, 1, 0};
    *wr = (cl_rnn_config){CL_CELL_LSTM,
                          2 * c->char_hidden + CL_FEAT_SLOTS * c->feat_emb + c->word_emb + lm,
                          c->word_hidden, c->word_layers, 1, c->dropout};
}

static int add_2d(cl_params *p, const char *name, int rows, int cols)
{
    int shape[2] = {rows, cols};
    return cl_params_add(p, name, cols ? 2 : 1, shape);
}

static int head_add_params(const cl_model *m, const void *cfg, cl_params *p)
{
    const cl_tagger_config *c = cfg;
    cl_rnn_config cr, wr;
    if (lm_width(m, c) < 0) /* a tagger that reads a backward LSTM the file lacks */
        return CL_EFORMAT;
    rnn_configs(m, c, &cr, &wr);
    int err = add_2d(p, SECTION ".char_embed", cl_vocab_size(&m->vocab), c->char_emb);
    err = err < 0 ? err : cl_rnn_add_params(&cr, p, SECTION ".char_rnn");
    err = err < 0 ? err : add_2d(p, SECTION ".feat_embed", c->feat.buckets, c->feat_emb);
    err = err < 0 ? err : add_2d(p, SECTION ".word_embed", c->nwords + 1, c->word_emb);
    err = err < 0 ? err : cl_rnn_add_params(&wr, p, SECTION ".word_rnn");
    err = err < 0 ? err : add_2d(p, SECTION ".out_weight", c->ntags, 2 * c->word_hidden);
    err = err < 0 ? err : add_2d(p, SECTION ".out_bias", c->ntags, 0);
    return err < 0 ? err : CL_OK;
}

/* U(-a, a) over a tensor. */
static void fill_uniform(cl_params *p, const char *name, float a, cl_rng *rng)
{
    int i = cl_params_find(p, name);
    float *w = cl_params_w(p, i);
    for (size_t k = 0; k < p->t[i].size; k++)
        w[k] = a * (2 * cl_rng_float(rng) - 1);
}

static int head_init_params(const cl_model *m, const void *cfg, cl_params *p, cl_rng *rng)
{
    const cl_tagger_config *c = cfg;
    cl_rnn_config cr, wr;
    rnn_configs(m, c, &cr, &wr);
    /* Embeddings with variance 1/dim (uniform), so the concatenated word
     * vector starts at a scale the BiLSTM's Glorot weights expect. */
    fill_uniform(p, SECTION ".char_embed", sqrtf(3.0f / c->char_emb), rng);
    fill_uniform(p, SECTION ".feat_embed", sqrtf(3.0f / c->feat_emb), rng);
    fill_uniform(p, SECTION ".word_embed", sqrtf(3.0f / c->word_emb), rng);
    float a = 1 / sqrtf(2.0f * c->word_hidden);
    fill_uniform(p, SECTION ".out_weight", a, rng);
    fill_uniform(p, SECTION ".out_bias", a, rng);
    int err = cl_rnn_init(&cr, cl_params_w(p, cl_params_find(p, SECTION ".char_rnn.weight_ih_l0")),
                          rng);
    return err ? err
               : cl_rnn_init(&wr, cl_params_w(p, cl_params_find(p, SECTION ".word_rnn.weight_ih_l0")),
                             rng);
}

static int put_list(cl_ckpt_writer *w, const char *key, char **s, int n)
{
    return cl_ckpt_put_strs(w, key, (const char *const *)s, n);
}

static int head_save_meta(const void *cfg, cl_ckpt_writer *w)
{
    const cl_tagger_config *c = cfg;
    int err = cl_ckpt_put_str(w, "column", c->column == CL_CONLLU_XPOS ? "xpos" : "upos");
    err = err ? err : put_list(w, "tags", c->tags, c->ntags);
    err = err ? err : put_list(w, "words", c->words, c->nwords);
    err = err ? err : put_list(w, "train_forms", c->forms, c->nforms);
    err = err ? err : cl_ckpt_put_i64(w, "feat_buckets", c->feat.buckets);
    err = err ? err : cl_ckpt_put_i64(w, "feat_max_affix", c->feat.max_affix);
    err = err ? err : cl_ckpt_put_i64(w, "feat_affixes", c->feat.affixes);
    err = err ? err : cl_ckpt_put_i64(w, "char_emb", c->char_emb);
    err = err ? err : cl_ckpt_put_i64(w, "char_hidden", c->char_hidden);
    err = err ? err : cl_ckpt_put_i64(w, "max_word_chars", c->max_word_chars);
    err = err ? err : cl_ckpt_put_i64(w, "feat_emb", c->feat_emb);
    err = err ? err : cl_ckpt_put_i64(w, "word_emb", c->word_emb);
    err = err ? err : cl_ckpt_put_i64(w, "word_hidden", c->word_hidden);
    err = err ? err : cl_ckpt_put_i64(w, "word_layers", c->word_layers);
    err = err ? err : cl_ckpt_put_f64(w, "dropout", c->dropout);
    err = err ? err : cl_ckpt_put_f64(w, "word_dropout", c->word_dropout);
    err = err ? err : cl_ckpt_put_f64(w, "char_dropout", c->char_dropout);
    err = err ? err : cl_seg_rules_save(&c->seg, w);
    err = err ? err : cl_ckpt_put_i64(w, "use_lm", c->use_lm);
    return err ? err : cl_ckpt_put_i64(w, "use_lm_backward", c->use_lm_backward);
}

static int get_int(const cl_ckpt_section *s, const char *key, int lo, int hi, int *v, cl_diag *d)
{
    int64_t x;
    int err = cl_ckpt_get_i64(s, key, &x, d);
    if (!err && (x < lo || x > hi))
        err = cl_diag_set(d, CL_EFORMAT, SECTION ": %s = %lld out of range [%d, %d]", key,
                          (long long)x, lo, hi);
    if (!err)
        *v = (int)x;
    return err;
}

static int get_prob(const cl_ckpt_section *s, const char *key, float *v, cl_diag *d)
{
    double x;
    int err = cl_ckpt_get_f64(s, key, &x, d);
    if (!err && !(x >= 0 && x < 1))
        err = cl_diag_set(d, CL_EFORMAT, SECTION ": %s = %g out of range [0, 1)", key, x);
    if (!err)
        *v = (float)x;
    return err;
}

static int get_list(const cl_ckpt_section *s, const char *key, char ***out, int *n, cl_diag *d)
{
    const char *const *v;
    int err = cl_ckpt_get_strs(s, key, &v, n, d);
    if (err)
        return err;
    *out = dup_strs((char **)v, *n);
    return *out ? CL_OK : CL_ENOMEM;
}

static int load_dims(const cl_ckpt_section *s, cl_tagger_config *c, cl_diag *d)
{
    const int big = 1 << 16;
    int err = get_int(s, "feat_buckets", 1, 1 << 26, &c->feat.buckets, d);
    err = err ? err : get_int(s, "feat_max_affix", 0, CL_FEAT_MAX_AFFIX, &c->feat.max_affix, d);
    err = err ? err : get_int(s, "feat_affixes", 0, 1, &c->feat.affixes, d);
    err = err ? err : get_int(s, "char_emb", 1, big, &c->char_emb, d);
    err = err ? err : get_int(s, "char_hidden", 1, big, &c->char_hidden, d);
    err = err ? err : get_int(s, "max_word_chars", 2, 4096, &c->max_word_chars, d);
    err = err ? err : get_int(s, "feat_emb", 1, big, &c->feat_emb, d);
    err = err ? err : get_int(s, "word_emb", 1, big, &c->word_emb, d);
    err = err ? err : get_int(s, "word_hidden", 1, big, &c->word_hidden, d);
    err = err ? err : get_int(s, "word_layers", 1, 16, &c->word_layers, d);
    err = err ? err : get_prob(s, "dropout", &c->dropout, d);
    err = err ? err : get_prob(s, "word_dropout", &c->word_dropout, d);
    err = err ? err : get_prob(s, "char_dropout", &c->char_dropout, d);
    err = err ? err : get_int(s, "use_lm", 0, 1, &c->use_lm, d);
    /* Absent in files from before backward language models: forward only. */
    int e = err ? err : get_int(s, "use_lm_backward", 0, 1, &c->use_lm_backward, NULL);
    if (e == CL_ENOTFOUND)
        c->use_lm_backward = 0, e = CL_OK;
    return e && !err ? cl_diag_set(d, e, SECTION ": use_lm_backward is not 0 or 1") : err;
}

static int head_load_meta(const cl_model *m, const cl_ckpt_section *s, void **out, cl_diag *d)
{
    cl_tagger_config *c = calloc(1, sizeof *c);
    if (!c)
        return CL_ENOMEM;
    const char *column;
    int err = cl_ckpt_get_str(s, "column", &column, d);
    if (!err && strcmp(column, "upos") != 0 && strcmp(column, "xpos") != 0)
        err = cl_diag_set(d, CL_EFORMAT, SECTION ": unknown column \"%s\"", column);
    if (!err)
        c->column = strcmp(column, "xpos") == 0 ? CL_CONLLU_XPOS : CL_CONLLU_UPOS;
    err = err ? err : get_list(s, "tags", &c->tags, &c->ntags, d);
    err = err ? err : get_list(s, "words", &c->words, &c->nwords, d);
    err = err ? err : get_list(s, "train_forms", &c->forms, &c->nforms, d);
    err = err ? err : load_dims(s, c, d);
    err = err ? err : cl_seg_rules_load(&c->seg, s, d);
    if (!err && c->ntags < 1)
        err = cl_diag_set(d, CL_EFORMAT, SECTION ": empty tag set");
    if (!err && c->use_lm && (m->enc.rnn.bidir || m->enc.rnn.cell != CL_CELL_LSTM))
        err = cl_diag_set(d, CL_EFORMAT, SECTION ": LM features need a forward LSTM encoder");
    if (err) {
        cl_tagger_config_free(c);
        return err;
    }
    *out = c;
    return CL_OK;
}

const cl_head_ops cl_tagger_head_ops = {SECTION, head_add_params, head_init_params,
                                        head_save_meta, head_load_meta, cl_tagger_config_free};

/* ==== model without a language model ====================================== */

int cl_tagger_vocab_build(cl_vocab *v, const cl_tagger_corpus *train, const cl_text_opts *text,
                          cl_diag *d)
{
    cl_vocab_builder b;
    int err = cl_vocab_builder_init(&b);
    if (err)
        return err;
    const int32_t sep[2] = {' ', '\n'};
    cl_vocab_builder_add(&b, sep, 2);
    for (int i = 0; i < train->nwords && !err; i++) {
        int32_t *cps;
        size_t n;
        err = cl_text_decode(train->form[i], strlen(train->form[i]), text, "word", &cps, &n, d);
        if (!err)
            cl_vocab_builder_add(&b, cps, n);
        free(cps);
    }
    err = err ? err : cl_vocab_build(v, &b, 0, 1);
    cl_vocab_builder_free(&b);
    return err;
}

cl_encoder_config cl_tagger_tiny_encoder(int vocab)
{
    cl_encoder_config e = {vocab, 1, {CL_CELL_LSTM, 1, 1, 1, 0, 0}};
    return e;
}

/* ==== lookups ============================================================== */

static int map_build(cl_tagger_map *mp, char **keys, int n)
{
    size_t cap = 16;
    while (cap < 2 * (size_t)n)
        cap *= 2;
    mp->key = calloc(cap, sizeof *mp->key);
    mp->val = calloc(cap, sizeof *mp->val);
    if (!mp->key || !mp->val)
        return CL_ENOMEM;
    mp->mask = cap - 1;
    for (int i = 0; i < n; i++) {
        size_t h = cl_feat_hash(keys[i], strlen(keys[i])) & mp->mask;
        while (mp->key[h])
            h = (h + 1) & mp->mask;
        mp->key[h] = keys[i], mp->val[h] = i;
    }
    return CL_OK;
}

static int map_get(const cl_tagger_map *mp, const char *key)
{
    size_t h = cl_feat_hash(key, strlen(key)) & mp->mask;
    for (; mp->key[h]; h = (h + 1) & mp->mask)
        if (strcmp(mp->key[h], key) == 0)
            return mp->val[h];
    return -1;
}

static void map_free(cl_tagger_map *mp)
{
    free(mp->key), free(mp->val);
    memset(mp, 0, sizeof *mp);
}

/* ==== runtime ============================================================== */

static int find_tensors(cl_tagger *t)
{
    const cl_params *p = &t->m->params;
    t->i_cemb = cl_params_find(p, SECTION ".char_embed");
    t->i_crnn = cl_params_find(p, SECTION ".char_rnn.weight_ih_l0");
    t->i_femb = cl_params_find(p, SECTION ".feat_embed");
    t->i_wemb = cl_params_find(p, SECTION ".word_embed");
    t->i_wrnn = cl_params_find(p, SECTION ".word_rnn.weight_ih_l0");
    t->i_ow = cl_params_find(p, SECTION ".out_weight");
    t->i_ob = cl_params_find(p, SECTION ".out_bias");
    int ok = t->i_cemb >= 0 && t->i_crnn >= 0 && t->i_femb >= 0 && t->i_wemb >= 0 &&
             t->i_wrnn >= 0 && t->i_ow >= 0 && t->i_ob >= 0;
    return ok ? CL_OK : CL_ENOTFOUND;
}

int cl_tagger_create(cl_tagger **out, cl_model *m, cl_diag *d)
{
    *out = NULL;
    const cl_tagger_config *cfg = cl_model_head(m, SECTION);
    if (!cfg)
        return cl_diag_set(d, CL_ENOTFOUND, "the model has no tagger (no section " SECTION ")");
    cl_tagger *t = calloc(1, sizeof *t);
    if (!t)
        return CL_ENOMEM;
    t->m = m, t->cfg = cfg;
    rnn_configs(m, cfg, &t->crnn, &t->wrnn);
    t->din = t->wrnn.input;
    t->lm_fdim = cfg->use_lm ? cl_encoder_out_dim(&m->enc) : 0;
    t->lm_dim = lm_width(m, cfg);
    int err = find_tensors(t);
    err = err ? err : map_build(&t->words, cfg->words, cfg->nwords);
    err = err ? err : map_build(&t->forms, cfg->forms, cfg->nforms);
    err = err ? err : map_build(&t->tags, cfg->tags, cfg->ntags);
    if (err) {
        cl_tagger_free(t);
        return err;
    }
    *out = t;
    return CL_OK;
}

void cl_tagger_free(cl_tagger *t)
{
    if (!t)
        return;
    map_free(&t->words), map_free(&t->forms), map_free(&t->tags);
    cl_tagger_ws_free(&t->ws);
    cl_tagger_types_free(&t->types);
    free(t);
}

const cl_tagger_config *cl_tagger_config_of(const cl_tagger *t) { return t->cfg; }

int cl_tagger_tag_id(const cl_tagger *t, const char *tag) { return map_get(&t->tags, tag); }

const char *cl_tagger_tag_name(const cl_tagger *t, int id)
{
    return id >= 0 && id < t->cfg->ntags ? t->cfg->tags[id] : "_";
}

/* ==== data ================================================================= */

void cl_tagger_data_free(cl_tagger_data *x)
{
    if (!x)
        return;
    free(x->start), free(x->cstart), free(x->chars), free(x->feats), free(x->wid);
    free(x->gold), free(x->unseen), free(x->tstart), free(x->text), free(x->tend);
    free(x);
}

int cl_tagger_data_nsent(const cl_tagger_data *x) { return x->nsent; }
int cl_tagger_data_nwords(const cl_tagger_data *x) { return x->nwords; }

int cl_tagger_data_sent(const cl_tagger_data *x, int s, int *len)
{
    *len = x->start[s + 1] - x->start[s];
    return x->start[s];
}

static int data_alloc(cl_tagger_data *x, const cl_tagger_corpus *c, size_t nchars, size_t ntext)
{
    size_t W = (size_t)c->nwords, S = (size_t)c->nsent;
    x->nsent = c->nsent, x->nwords = c->nwords;
    x->start = malloc(sizeof(int) * (S + 1));
    x->cstart = malloc(sizeof(int) * (W + 1));
    x->chars = malloc(sizeof(int) * (nchars + 1));
    x->feats = malloc(sizeof(int32_t) * W * CL_FEAT_SLOTS + 1);
    x->wid = malloc(sizeof(int) * W + 1);
    x->gold = malloc(sizeof(int) * W + 1);
    x->unseen = malloc(W + 1);
    x->tstart = malloc(sizeof(int) * (S + 1));
    x->text = malloc(sizeof(int) * (ntext + 1));
    x->tend = malloc(sizeof(int) * W + 1);
    int ok = x->start && x->cstart && x->chars && x->feats && x->wid && x->gold && x->unseen &&
             x->tstart && x->text && x->tend;
    if (ok)
        memcpy(x->start, c->start, sizeof(int) * (S + 1));
    return ok ? CL_OK : CL_ENOMEM;
}

/* Character ids of one word: all of them, or the first and last half of
 * max_word_chars for a long word. */
static size_t word_chars(const cl_tagger *t, const int32_t *cps, size_t n, int *out)
{
    size_t cap = (size_t)t->cfg->max_word_chars;
    if (n == 0) { /* an empty form (only the API allows one): one unknown character */
        out[0] = CL_VOCAB_UNK;
        return 1;
    }
    if (n <= cap) {
        cl_model_encode(t->m, cps, n, out, NULL);
        return n;
    }
    size_t h = cap / 2;
    cl_model_encode(t->m, cps, h, out, NULL);
    cl_model_encode(t->m, cps + n - (cap - h), cap - h, out + h, NULL);
    return cap;
}

/* Everything about word w except its place in the sentence text. */
static int prepare_word(const cl_tagger *t, const cl_tagger_corpus *c, cl_tagger_data *x, int w,
                        const int32_t *cps, size_t ncps, size_t *nchars)
{
    const char *form = c->form[w];
    char key[KEY_MAX];
    x->cstart[w] = (int)*nchars;
    *nchars += word_chars(t, cps, ncps, x->chars + *nchars);
    x->cstart[w + 1] = (int)*nchars;
    if (cl_feat_word(&t->cfg->feat, form, strlen(form), x->feats + (size_t)w * CL_FEAT_SLOTS))
        return CL_EUTF8;
    lower_utf8(form, key);
    int id = map_get(&t->words, key);
    x->wid[w] = id < 0 ? 0 : id + 1;
    x->gold[w] = -1; /* no tag; -2: a tag outside the tag set */
    if (c->tag[w])
        x->gold[w] = (id = map_get(&t->tags, c->tag[w])) >= 0 ? id : -2;
    x->unseen[w] = map_get(&t->forms, form) < 0;
    return CL_OK;
}

static int decode_word(const cl_tagger *t, const cl_tagger_corpus *c, int w, int32_t **cps,
                       size_t *n, cl_diag *d)
{
    int err = cl_text_decode(c->form[w], strlen(c->form[w]), &t->m->text, "word", cps, n, NULL);
    if (err)
        return cl_diag_set(d, err, "word %d (\"%.40s\"): %s", w + 1, c->form[w],
                           cl_strerror(err));
    return CL_OK;
}

/* One sentence: words, and the text "\n w1 w2 ..." the encoder reads. */
static int prepare_sentence(const cl_tagger *t, const cl_tagger_corpus *c, cl_tagger_data *x,
                            int s, size_t *nchars, size_t *ntext, cl_diag *d)
{
    int nl = cl_vocab_id(&t->m->vocab, '\n'), sp = cl_vocab_id(&t->m->vocab, ' ');
    x->tstart[s] = (int)*ntext;
    x->text[(*ntext)++] = nl;
    for (int w = c->start[s]; w < c->start[s + 1]; w++) {
        int32_t *cps;
        size_t n;
        int err = decode_word(t, c, w, &cps, &n, d);
        err = err ? err : prepare_word(t, c, x, w, cps, n, nchars);
        if (!err) {
            if (w > c->start[s])
                x->text[(*ntext)++] = sp;
            cl_model_encode(t->m, cps, n, x->text + *ntext, NULL);
            *ntext += n;
            x->tend[w] = (int)(*ntext - 1 - (size_t)x->tstart[s]);
        }
        free(cps);
        if (err)
            return err;
    }
    x->tstart[s + 1] = (int)*ntext;
    return CL_OK;
}

/* Upper bounds of the id arrays: bytes bound code points. */
static void count_sizes(const cl_tagger_corpus *c, size_t *nchars, size_t *ntext)
{
    size_t bytes = 0;
    for (int w = 0; w < c->nwords; w++)
        bytes += strlen(c->form[w]) + 1;
    *nchars = bytes;
    *ntext = bytes + (size_t)c->nsent;
}

int cl_tagger_data_prepare(cl_tagger_data **out, const cl_tagger *t, const cl_tagger_corpus *c,
                           cl_diag *d)
{
    *out = NULL;
    cl_tagger_data *x = calloc(1, sizeof *x);
    size_t nchars, ntext;
    count_sizes(c, &nchars, &ntext);
    int err = x ? data_alloc(x, c, nchars, ntext) : CL_ENOMEM;
    size_t uc = 0, ut = 0;
    if (!err)
        x->tstart[0] = 0;
    for (int s = 0; s < c->nsent && !err; s++)
        err = prepare_sentence(t, c, x, s, &uc, &ut, d);
    if (err) {
        cl_tagger_data_free(x);
        return err;
    }
    *out = x;
    return CL_OK;
}
