/* cl_classifier: classifier head configuration, its place in the model file,
 * and its forward/backward passes.  Metrics are in cl_clfmetrics.c. */
#include "cl_classifier.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cl_ngram.h"
#include "cl_seqrnn.h"

#define SECTION "head.classifier"

/* ==== configuration ======================================================== */

void cl_classifier_config_free(cl_classifier_config *c)
{
    if (!c)
        return;
    for (int i = 0; i < c->nlabels; i++)
        free(c->labels[i]);
    free(c->labels);
    free(c);
}

static int check_labels(const char *const *labels, int n, cl_diag *d)
{
    if (n < 2 || n > CL_CLASSIFIER_MAX_LABELS)
        return cl_diag_set(d, CL_EINVAL, "a classifier needs 2 to %d labels, got %d",
                           CL_CLASSIFIER_MAX_LABELS, n);
    for (int i = 0; i < n; i++) {
        if (!labels[i][0])
            return cl_diag_set(d, CL_EINVAL, "empty label");
        for (int j = 0; j < i; j++)
            if (strcmp(labels[i], labels[j]) == 0)
                return cl_diag_set(d, CL_EINVAL, "label \"%s\" appears twice", labels[i]);
    }
    return CL_OK;
}

int cl_classifier_config_new(cl_classifier_config **out, const char *const *labels, int n,
                             cl_diag *d)
{
    *out = NULL;
    int err = check_labels(labels, n, d);
    if (err)
        return err;
    cl_classifier_config *c = calloc(1, sizeof *c);
    if (!c || !(c->labels = calloc((size_t)n, sizeof *c->labels))) {
        free(c);
        return CL_ENOMEM;
    }
    for (; c->nlabels < n; c->nlabels++)
        if (!(c->labels[c->nlabels] = strdup(labels[c->nlabels]))) {
            cl_classifier_config_free(c);
            return CL_ENOMEM;
        }
    c->pool = CL_CLASSIFIER_POOL_ALL, c->hidden = 128, c->dropout = 0.3f, c->norm = 1;
    c->max_chars = CL_CLASSIFIER_MAX_CHARS, c->ngram_bits = 20, c->ngram_alpha = 1.0f;
    c->ngram_dropout = 0.5f;
    *out = c;
    return CL_OK;
}

int cl_classifier_label_index(const cl_classifier_config *c, const char *label)
{
    for (int i = 0; i < c->nlabels; i++)
        if (strcmp(c->labels[i], label) == 0)
            return i;
    return -1;
}

static int npools(int pool)
{
    return !!(pool & CL_CLASSIFIER_POOL_LAST) + !!(pool & CL_CLASSIFIER_POOL_MEAN) +
           !!(pool & CL_CLASSIFIER_POOL_MAX);
}

static int pooled_dim(const cl_classifier_config *c, const cl_encoder_config *ec)
{
    return npools(c->pool) * cl_encoder_out_dim(ec);
}

int cl_classifier_feature_dim(const cl_classifier_config *c, const cl_encoder_config *ec)
{
    return pooled_dim(c, ec) + (c->ngram ? c->nlabels : 0);
}

/* ==== head.classifier in a model file ====================================== */

static int head_add_params(const cl_model *m, const void *cfg, cl_params *p)
{
    const cl_classifier_config *c = cfg;
    int F = pooled_dim(c, &m->enc), in2 = c->hidden ? c->hidden : F;
    int sw[2] = {c->nlabels, 1 << c->ngram_bits};
    int s1[2] = {c->hidden, F}, sb1[1] = {c->hidden}, s2[2] = {c->nlabels, in2},
        sb2[1] = {c->nlabels};
    int sn[1] = {F}, sc[2] = {c->nlabels, 1 << c->ngram_bits}, err = CL_OK;
    /* Counted, not learned: constants, outside the trainable range. */
    if (c->ngram)
        err = cl_params_add_const(p, SECTION ".ngram_counts", 2, sc);
    if (c->norm && err >= 0) {
        err = cl_params_add_const(p, SECTION ".norm_mean", 1, sn);
        err = err < 0 ? err : cl_params_add_const(p, SECTION ".norm_scale", 1, sn);
    }
    if (c->ngram && err >= 0)
        err = cl_params_add(p, SECTION ".ngram_scale", 1, sb2);
    if (c->hidden > 0 && err >= 0) {
        err = cl_params_add(p, SECTION ".w1", 2, s1);
        err = err < 0 ? err : cl_params_add(p, SECTION ".b1", 1, sb1);
    }
    if (in2 > 0) /* pool "none": no encoder part at all */
        err = err < 0 ? err : cl_params_add(p, SECTION ".w2", 2, s2);
    err = err < 0 ? err : cl_params_add(p, SECTION ".b2", 1, sb2);
    /* last, so that the trainer can give it a learning rate of its own */
    if (c->ngram && c->nbsvm && err >= 0)
        err = cl_params_add(p, SECTION ".ngram_weight", 2, sw);
    return err < 0 ? err : CL_OK;
}

static int head_init_params(const cl_model *m, const void *cfg, cl_params *p, cl_rng *rng)
{
    const cl_classifier_config *c = cfg;
    int im = cl_params_find(p, SECTION ".norm_mean"), is = cl_params_find(p, SECTION ".norm_scale");
    int F = pooled_dim(c, &m->enc), in2 = c->hidden ? c->hidden : F;
    if ((in2 > 0 && cl_params_find(p, SECTION ".w2") < 0) || cl_params_find(p, SECTION ".b2") < 0 ||
        (c->hidden > 0 && cl_params_find(p, SECTION ".w1") < 0) || (c->norm && (im < 0 || is < 0)))
        return CL_ENOTFOUND;
    int ic = cl_params_find(p, SECTION ".ngram_counts");
    int isc = cl_params_find(p, SECTION ".ngram_scale");
    int iw = cl_params_find(p, SECTION ".ngram_weight");
    if (c->ngram && (ic < 0 || isc < 0 || (c->nbsvm && iw < 0)))
        return CL_ENOTFOUND;
    if (c->ngram && c->nbsvm) /* naive Bayes until the head learns otherwise */
        memset(cl_params_w(p, iw), 0, sizeof(float) * p->t[iw].size);
    if (c->ngram) { /* empty until counted; evidence taken at face value (naive Bayes) */
        memset(cl_params_w(p, ic), 0, sizeof(float) * p->t[ic].size);
        /* NBSVM's character n-grams make naive Bayes far too sure of
         * itself (hundreds of overlapping terms): its head starts from
         * nothing and learns the weight of the evidence like the rest. */
        for (int k = 0; k < c->nlabels; k++)
            cl_params_w(p, isc)[k] = c->nbsvm ? 0.0f : 1.0f;
    }
    for (size_t i = 0; c->norm && i < p->t[is].size; i++) /* identity until set_norm */
        cl_params_w(p, im)[i] = 0, cl_params_w(p, is)[i] = 1;
    int err = c->hidden > 0 ? cl_params_init_linear(p, SECTION ".w1", SECTION ".b1", rng) : CL_OK;
    if (in2 == 0) { /* the linear part alone: a bias that starts at 0 */
        int ib = cl_params_find(p, SECTION ".b2");
        memset(cl_params_w(p, ib), 0, sizeof(float) * p->t[ib].size);
        return err;
    }
    return err ? err : cl_params_init_linear(p, SECTION ".w2", SECTION ".b2", rng);
}

static const char *const pool_names[] = {"last", "mean", "max"};

/* "last,mean,max" <-> bits, the file's self-describing form. */
static void pool_format(int pool, char *buf, size_t size)
{
    snprintf(buf, size, "%s", pool ? "" : "none");
    for (int i = 0; i < 3; i++)
        if (pool & (1 << i)) {
            size_t n = strlen(buf);
            snprintf(buf + n, size - n, "%s%s", n ? "," : "", pool_names[i]);
        }
}

static int pool_parse(const char *s, int *pool)
{
    *pool = 0;
    if (strcmp(s, "none") == 0)
        return CL_OK;
    while (*s) {
        size_t n = strcspn(s, ",");
        int found = 0;
        for (int i = 0; i < 3; i++)
            if (strlen(pool_names[i]) == n && strncmp(s, pool_names[i], n) == 0)
                *pool |= 1 << i, found = 1;
        if (!found)
            return CL_EFORMAT;
        s += n + (s[n] == ',');
    }
    return *pool ? CL_OK : CL_EFORMAT;
}

static int head_save_meta(const void *cfg, cl_ckpt_writer *w)
{
    const cl_classifier_config *c = cfg;
    char pool[32];
    pool_format(c->pool, pool, sizeof pool);
    int err = cl_ckpt_put_strs(w, "labels", (const char *const *)c->labels, c->nlabels);
    err = err ? err : cl_ckpt_put_str(w, "pool", pool);
    err = err ? err : cl_ckpt_put_i64(w, "hidden", c->hidden);
    err = err ? err : cl_ckpt_put_f64(w, "dropout", c->dropout);
    err = err ? err : cl_ckpt_put_i64(w, "frozen", c->frozen);
    err = err ? err : cl_ckpt_put_i64(w, "norm", c->norm);
    err = err ? err : cl_ckpt_put_i64(w, "ngram", c->ngram);
    err = err ? err : cl_ckpt_put_i64(w, "ngram_bits", c->ngram_bits);
    err = err ? err : cl_ckpt_put_f64(w, "ngram_alpha", c->ngram_alpha);
    err = err ? err : cl_ckpt_put_f64(w, "ngram_dropout", c->ngram_dropout);
    err = err ? err : cl_ckpt_put_i64(w, "ngram_chars", c->ngram_chars);
    err = err ? err : cl_ckpt_put_i64(w, "nbsvm", c->nbsvm);
    return err ? err : cl_ckpt_put_i64(w, "max_chars", c->max_chars);
}

/* ngram_chars and nbsvm: absent in files from before NBSVM (word n-grams
 * and naive Bayes only). */
static int get_meta_nbsvm(const cl_ckpt_section *s, cl_classifier_config *c, cl_diag *d)
{
    int64_t chars = 0, nbsvm = 0;
    int e = cl_ckpt_get_i64(s, "ngram_chars", &chars, NULL);
    e = e == CL_ENOTFOUND ? CL_OK : e;
    int e2 = cl_ckpt_get_i64(s, "nbsvm", &nbsvm, NULL);
    e = e ? e : e2 == CL_ENOTFOUND ? CL_OK : e2;
    if (e || (chars != 0 && (chars < 2 || chars > CL_NGRAM_MAX_CHARS)) || nbsvm < 0 || nbsvm > 1)
        return cl_diag_set(d, CL_EFORMAT, SECTION ": ngram_chars or nbsvm invalid");
    c->ngram_chars = (int)chars, c->nbsvm = (int)nbsvm;
    return CL_OK;
}

/* ngram, ngram_bits, ngram_alpha, ngram_dropout: absent in files from
 * before n-grams (off). */
static int get_meta_ngram(const cl_ckpt_section *s, cl_classifier_config *c, cl_diag *d)
{
    int64_t order = 0, bits = 20;
    double alpha = 1, drop = 0.5;
    int e = cl_ckpt_get_i64(s, "ngram", &order, NULL);
    if (e == CL_ENOTFOUND)
        return CL_OK;
    e = e ? e : cl_ckpt_get_i64(s, "ngram_bits", &bits, d);
    e = e ? e : cl_ckpt_get_f64(s, "ngram_alpha", &alpha, d);
    e = e ? e : cl_ckpt_get_f64(s, "ngram_dropout", &drop, d);
    if (e || order < 0 || order > CL_NGRAM_MAX_ORDER || bits < CL_NGRAM_MIN_BITS ||
        bits > CL_NGRAM_MAX_BITS || !(alpha > 0 && alpha < 1e6) || !(drop >= 0 && drop < 1))
        return cl_diag_set(d, CL_EFORMAT, SECTION ": ngram settings invalid");
    c->ngram = (int)order, c->ngram_bits = (int)bits, c->ngram_alpha = (float)alpha;
    c->ngram_dropout = (float)drop;
    return get_meta_nbsvm(s, c, d);
}

static int get_meta_numbers(const cl_ckpt_section *s, cl_classifier_config *c, cl_diag *d)
{
    int64_t hidden, frozen, max_chars;
    double dropout;
    int err = cl_ckpt_get_i64(s, "hidden", &hidden, d);
    err = err ? err : cl_ckpt_get_i64(s, "frozen", &frozen, d);
    err = err ? err : cl_ckpt_get_i64(s, "max_chars", &max_chars, d);
    err = err ? err : cl_ckpt_get_f64(s, "dropout", &dropout, d);
    if (err)
        return err;
    if (hidden < 0 || hidden > 65536 || max_chars < 1 ||
        max_chars > CL_CLASSIFIER_MAX_CHARS_LIMIT || !(dropout >= 0 && dropout < 1))
        return cl_diag_set(d, CL_EFORMAT, SECTION ": hidden, max_chars or dropout out of range");
    /* Without the key (early files), the tensors tell. */
    int64_t norm = 0;
    cl_ckpt_tensor_info ti;
    int e = cl_ckpt_get_i64(s, "norm", &norm, NULL);
    if (e == CL_EFORMAT)
        return cl_diag_set(d, CL_EFORMAT, SECTION ": norm is not an integer");
    if (e == CL_ENOTFOUND)
        norm = cl_ckpt_tensor_find(s, "norm_mean", &ti) == CL_OK;
    c->norm = norm != 0;
    err = get_meta_ngram(s, c, d);
    if (err)
        return err;
    c->hidden = (int)hidden, c->frozen = frozen != 0, c->max_chars = (int)max_chars;
    c->dropout = (float)dropout;
    return CL_OK;
}

static int head_load_meta(const cl_model *m, const cl_ckpt_section *s, void **cfg, cl_diag *d)
{
    const char *const *labels;
    const char *pool;
    int n;
    cl_classifier_config *c = NULL;
    (void)m;
    *cfg = NULL;
    int err = cl_ckpt_get_strs(s, "labels", &labels, &n, d);
    err = err ? err : cl_ckpt_get_str(s, "pool", &pool, d);
    if (!err && (err = cl_classifier_config_new(&c, labels, n, d)) != CL_OK)
        return err == CL_ENOMEM ? err : cl_diag_set(d, CL_EFORMAT, SECTION ": bad label set");
    if (!err && pool_parse(pool, &c->pool))
        err = cl_diag_set(d, CL_EFORMAT, SECTION ": unknown pooling \"%s\"", pool);
    err = err ? err : get_meta_numbers(s, c, d);
    if (err)
        cl_classifier_config_free(c);
    else
        *cfg = c;
    return err;
}

static void head_free_cfg(void *cfg) { cl_classifier_config_free(cfg); }

const cl_head_ops cl_classifier_head_ops = {SECTION, head_add_params, head_init_params,
                                            head_save_meta, head_load_meta, head_free_cfg};

/* ==== workspace ============================================================ */

struct cl_classifier {
    const cl_model *m;
    const cl_classifier_config *cfg;
    cl_seqrnn *rnn;
    int E, D, Fp, F, Hd, K, max_T, max_B; /* Fp: pooled part of the F features */
    int i_embed, i_rnn, i_w1, i_b1, i_w2, i_b2, i_mean, i_scale, i_counts, i_ev_scale, i_nbw;
    cl_ngram ng;                     /* with cfg->ngram */
    size_t cap;                      /* cl_ngram_capacity(max_T): one text's buckets at most */
    uint32_t *buckets;               /* [max_B, cap] each text's n-grams */
    int *nb_n;                       /* [max_B] how many */
    float *nb_r;                     /* [max_B, cap, K] their log-count ratios (nbsvm) */
    unsigned char *nb_hide;          /* [max_B] n-grams hidden in the last head pass */
    int T, B, enc_train, head_train; /* shape and mode of the last passes */
    int *ids, *len;                  /* [T, B] padded ids (-1), [B] lengths */
    float *X, *dX;                   /* [T, B, E] embedded characters */
    float *Y, *dY;                   /* [T, B, D] top-layer states */
    float *last, *dlast;             /* [B, D] final states */
    int *argmax;                     /* [B, D] step of each max */
    float *feats;                    /* [B, F] pooled, from the last encode */
    float *hin, *mask, *dhin;        /* [B, Fp] pooled input after dropout, mask, gradient */
    float *ev;                       /* [B, K] n-gram evidence of the last head pass */
    float *h, *dh;                   /* [B, Hd] tanh layer */
    float *dlogits;                  /* [B, K] */
    float *probs;                    /* [B, K] */
    cl_linear_mm *l1, *l2;           /* the two layers' products on oneDNN, or NULL: OpenBLAS */
};

void cl_classifier_free(cl_classifier *c)
{
    if (!c)
        return;
    cl_seqrnn_free(c->rnn);
    cl_linear_mm_free(c->l1), cl_linear_mm_free(c->l2);
    cl_ngram_free(&c->ng);
    free(c->buckets), free(c->nb_n), free(c->nb_r), free(c->nb_hide);
    free(c->ids), free(c->len), free(c->X), free(c->dX), free(c->Y), free(c->dY);
    free(c->last), free(c->dlast), free(c->argmax), free(c->feats), free(c->hin);
    free(c->mask), free(c->dhin), free(c->ev), free(c->h), free(c->dh), free(c->dlogits);
    free(c->probs);
    free(c);
}

static int alloc_buffers(cl_classifier *c)
{
    size_t TB = (size_t)c->max_T * c->max_B, B = (size_t)c->max_B, f = sizeof(float);
    size_t Hd = c->Hd ? (size_t)c->Hd : 1;
    c->ids = cl_alloc(TB * sizeof(int)), c->len = cl_alloc(B * sizeof(int));
    c->X = cl_alloc(TB * c->E * f), c->dX = cl_alloc(TB * c->E * f);
    c->Y = cl_alloc(TB * c->D * f), c->dY = cl_alloc(TB * c->D * f);
    c->last = cl_alloc(B * c->D * f), c->dlast = cl_alloc(B * c->D * f);
    c->argmax = cl_alloc(B * c->D * sizeof(int)), c->feats = cl_alloc(B * c->F * f);
    c->hin = cl_alloc(B * c->Fp * f), c->mask = cl_alloc(B * c->Fp * f);
    c->dhin = cl_alloc(B * c->Fp * f), c->ev = cl_alloc(B * c->K * f);
    c->h = cl_alloc(B * Hd * f), c->dh = cl_alloc(B * Hd * f);
    c->dlogits = cl_alloc(B * c->K * f), c->probs = cl_alloc(B * c->K * f);
    return c->ids && c->len && c->X && c->dX && c->Y && c->dY && c->last && c->dlast &&
                   c->argmax && c->feats && c->hin && c->mask && c->dhin && c->ev && c->h &&
                   c->dh &&
                   c->dlogits && c->probs
               ? CL_OK
               : CL_ENOMEM;
}

static int find_tensors(cl_classifier *c, const cl_params *p)
{
    c->i_embed = cl_params_find(p, "encoder.embed");
    c->i_rnn = cl_params_find(p, "encoder.rnn.weight_ih_l0");
    c->i_w1 = cl_params_find(p, SECTION ".w1"), c->i_b1 = cl_params_find(p, SECTION ".b1");
    c->i_mean = cl_params_find(p, SECTION ".norm_mean");
    c->i_scale = cl_params_find(p, SECTION ".norm_scale");
    c->i_w2 = cl_params_find(p, SECTION ".w2"), c->i_b2 = cl_params_find(p, SECTION ".b2");
    c->i_counts = cl_params_find(p, SECTION ".ngram_counts");
    c->i_ev_scale = cl_params_find(p, SECTION ".ngram_scale");
    c->i_nbw = cl_params_find(p, SECTION ".ngram_weight");
    int in2 = c->Hd ? c->Hd : c->Fp;
    int ok = c->i_embed >= 0 && c->i_rnn >= 0 && (c->i_w2 >= 0 || in2 == 0) && c->i_b2 >= 0 &&
             (!c->cfg->ngram || (c->i_counts >= 0 && c->i_ev_scale >= 0)) &&
             (!c->cfg->ngram || !c->cfg->nbsvm || c->i_nbw >= 0) &&
             (!c->cfg->norm || (c->i_mean >= 0 && c->i_scale >= 0)) &&
             (!c->Hd || (c->i_w1 >= 0 && c->i_b1 >= 0));
    return ok ? CL_OK : CL_ENOTFOUND;
}

static int set_up_ngrams(cl_classifier *c)
{
    const cl_classifier_config *cfg = c->cfg;
    int err = cl_ngram_init(&c->ng, &c->m->vocab, cfg->ngram, cfg->ngram_bits, c->K,
                            cfg->ngram_alpha);
    err = err ? err : cl_ngram_set_chars(&c->ng, cfg->ngram_chars);
    if (err)
        return err;
    size_t B = (size_t)c->max_B;
    c->cap = cl_ngram_capacity(&c->ng, c->max_T);
    c->buckets = malloc(sizeof *c->buckets * c->cap * B);
    c->nb_n = calloc(B, sizeof *c->nb_n), c->nb_hide = calloc(B, 1);
    c->nb_r = cfg->nbsvm ? malloc(sizeof *c->nb_r * c->cap * B * (size_t)c->K) : NULL;
    if (!c->buckets || !c->nb_n || !c->nb_hide || (cfg->nbsvm && !c->nb_r))
        return CL_ENOMEM;
    cl_ngram_totals(&c->ng, cl_params_w(&c->m->params, c->i_counts));
    return CL_OK;
}

int cl_classifier_create(cl_classifier **out, const cl_model *m, int max_T, int max_B)
{
    *out = NULL;
    const cl_classifier_config *cfg = cl_model_head(m, SECTION);
    if (!cfg)
        return CL_ENOTFOUND;
    if (max_T < 1 || max_B < 1)
        return CL_EINVAL;
    cl_classifier *c = calloc(1, sizeof *c);
    if (!c)
        return CL_ENOMEM;
    c->m = m, c->cfg = cfg, c->max_T = max_T, c->max_B = max_B;
    c->E = m->enc.emb, c->D = cl_encoder_out_dim(&m->enc);
    c->F = cl_classifier_feature_dim(cfg, &m->enc), c->Fp = pooled_dim(cfg, &m->enc);
    c->Hd = cfg->hidden, c->K = cfg->nlabels;
    int err = find_tensors(c, &m->params);
    err = err ? err : cfg->ngram ? set_up_ngrams(c) : CL_OK;
    err = err ? err : cl_seqrnn_create(&c->rnn, &m->enc.rnn, max_T, max_B);
    err = err ? err : alloc_buffers(c);
    if (err) {
        cl_classifier_free(c);
        return err;
    }
    *out = c;
    return CL_OK;
}

int cl_classifier_set_precision(cl_classifier *c, cl_precision p)
{
    int err = cl_seqrnn_set_precision(c->rnn, p);
    int in2 = c->Hd ? c->Hd : c->Fp;
    cl_linear_mm_free(c->l1), cl_linear_mm_free(c->l2);
    c->l1 = c->l2 = NULL;
    if (!err && c->Hd && c->Fp > 0)
        err = cl_linear_mm_create(&c->l1, p, c->max_B, c->Fp, c->Hd);
    if (!err && in2 > 0)
        err = cl_linear_mm_create(&c->l2, p, c->max_B, in2, c->K);
    return err;
}

int cl_classifier_rows_for(int T, int max_B)
{
    int rows = CL_CLASSIFIER_BATCH_CHARS / (T > 0 ? T : 1);
    return rows < 1 ? 1 : rows < max_B ? rows : max_B;
}

int cl_classifier_max_batch(const cl_classifier *c) { return c->max_B; }
int cl_classifier_max_len(const cl_classifier *c) { return c->max_T; }
int cl_classifier_nfeatures(const cl_classifier *c) { return c->F; }

/* ==== encoder and pooling ================================================== */

/* Time-major padded ids; returns the longest length, or -1 on a bad length. */
static int gather_ids(cl_classifier *c, const int *const *ids, const int *len, int B)
{
    int T = 0;
    for (int b = 0; b < B; b++) {
        if (len[b] < 1 || len[b] > c->max_T)
            return -1;
        T = len[b] > T ? len[b] : T;
        c->len[b] = len[b];
    }
    for (int t = 0; t < T; t++)
        for (int b = 0; b < B; b++)
            c->ids[t * B + b] = t < len[b] ? ids[b][t] : -1;
    return T;
}

/* Mean over the valid steps of sequence b into out[0..D). */
static void pool_mean(const cl_classifier *c, int b, float *out)
{
    int B = c->B, D = c->D, n = c->len[b];
    memset(out, 0, (size_t)D * sizeof(float));
    for (int t = 0; t < n; t++) {
        const float *y = c->Y + ((size_t)t * B + b) * D;
#pragma omp simd /* out (a feature row) and Y never overlap */
        for (int j = 0; j < D; j++)
            out[j] += y[j];
    }
    for (int j = 0; j < D; j++)
        out[j] /= (float)n;
}

static void pool_max(cl_classifier *c, int b, float *out)
{
    int B = c->B, D = c->D;
    int *arg = c->argmax + (size_t)b * D;
    for (int j = 0; j < D; j++)
        out[j] = -FLT_MAX, arg[j] = 0;
    for (int t = 0; t < c->len[b]; t++) {
        const float *y = c->Y + ((size_t)t * B + b) * D;
#pragma omp simd /* as a select, so that it vectorises; the first maximum still wins */
        for (int j = 0; j < D; j++) {
            int gt = y[j] > out[j];
            out[j] = gt ? y[j] : out[j];
            arg[j] = gt ? t : arg[j];
        }
    }
}

/* The n-grams of each text into the workspace and their evidence after
 * its pooled states; with nbsvm also their ratios, whose sums are the
 * evidence. */
static void add_evidence(cl_classifier *c, const int *const *ids, const int *own)
{
    const float *counts = cl_params_w(&c->m->params, c->i_counts);
    int K = c->K;
    for (int b = 0; b < c->B; b++) {
        uint32_t *u = c->buckets + (size_t)b * c->cap;
        float *e = c->feats + (size_t)b * c->F + c->Fp;
        size_t n = cl_ngram_buckets(&c->ng, ids[b], c->len[b], u);
        c->nb_n[b] = (int)n;
        if (!c->cfg->nbsvm) {
            cl_ngram_evidence(&c->ng, counts, u, n, own ? own[b] : -1, e);
            continue;
        }
        float *r = c->nb_r + (size_t)b * c->cap * K;
        cl_ngram_ratios(&c->ng, counts, u, n, own ? own[b] : -1, r);
        for (int k = 0; k < K; k++) {
            double sum = 0;
            for (size_t i = 0; i < n; i++)
                sum += r[i * K + k];
            e[k] = (float)sum;
        }
    }
}

static void pool_all(cl_classifier *c)
{
    int D = c->D, pool = c->cfg->pool;
    for (int b = 0; b < c->B; b++) {
        float *f = c->feats + (size_t)b * c->F;
        if (pool & CL_CLASSIFIER_POOL_LAST) {
            memcpy(f, c->last + (size_t)b * D, (size_t)D * sizeof(float));
            f += D;
        }
        if (pool & CL_CLASSIFIER_POOL_MEAN) {
            pool_mean(c, b, f);
            f += D;
        }
        if (pool & CL_CLASSIFIER_POOL_MAX)
            pool_max(c, b, f);
    }
}

int cl_classifier_encode(cl_classifier *c, const int *const *ids, const int *len, int B,
                         const int *own, float *feats, int train, cl_rng *rng)
{
    const cl_params *p = &c->m->params;
    if (B < 1 || B > c->max_B)
        return CL_EINVAL;
    int T = gather_ids(c, ids, len, B);
    if (T < 0)
        return CL_EINVAL;
    c->T = T, c->B = B, c->enc_train = train;
    if (c->Fp > 0) { /* pool "none" reads no states */
        cl_embed_forward(c->X, c->ids, T * B, cl_params_w(p, c->i_embed), c->E);
        int err = cl_seqrnn_forward(c->rnn, cl_params_w(p, c->i_rnn), T, B, c->X, c->len, c->Y,
                                    c->last, train, rng);
        if (err)
            return err;
        pool_all(c);
    }
    if (c->cfg->ngram)
        add_evidence(c, ids, own);
    if (feats)
        memcpy(feats, c->feats, (size_t)B * c->F * sizeof(float));
    return CL_OK;
}

/* ==== head ================================================================= */

static void apply_dropout(cl_classifier *c, int B, cl_rng *rng)
{
    float p = c->cfg->dropout, keep = 1.0f / (1.0f - p);
    for (size_t i = 0; i < (size_t)B * c->Fp; i++) {
        c->mask[i] = cl_rng_float(rng) < p ? 0.0f : keep;
        c->hin[i] *= c->mask[i];
    }
}

/* hin = (pooled - norm_mean) * norm_scale: standardised features, so the
 * head learns at the same pace whatever the encoder's output scale.  The
 * pooled states are the first Fp of each row of feats (stride F). */
static void normalise(cl_classifier *c, const float *feats, int B)
{
    const float *mu = c->cfg->norm ? cl_params_w(&c->m->params, c->i_mean) : NULL;
    const float *sc = c->cfg->norm ? cl_params_w(&c->m->params, c->i_scale) : NULL;
    for (int b = 0; b < B; b++) {
        const float *f = feats + (size_t)b * c->F;
        float *h = c->hin + (size_t)b * c->Fp;
        for (int j = 0; j < c->Fp; j++)
            h[j] = mu ? (f[j] - mu[j]) * sc[j] : f[j];
    }
}

/* NBSVM: logits[k] += sum over text b's buckets u of w[k][u] * r[u][k]. */
static void add_nbsvm_logits(const cl_classifier *c, int b, float *logits)
{
    const float *w = cl_params_w(&c->m->params, c->i_nbw);
    const uint32_t *u = c->buckets + (size_t)b * c->cap;
    const float *r = c->nb_r + (size_t)b * c->cap * c->K;
    for (int k = 0; k < c->K; k++) {
        const float *wk = w + ((size_t)k << c->cfg->ngram_bits);
        double s = 0;
        for (int i = 0; i < c->nb_n[b]; i++)
            s += wk[u[i]] * r[(size_t)i * c->K + k];
        logits[k] += (float)s;
    }
}

/* logits += ngram_scale * evidence: the naive Bayes log-likelihoods enter
 * the logits directly (at scale 1 the head starts as naive Bayes plus the
 * encoder's part), kept in ev for backward. */
static void add_evidence_logits(cl_classifier *c, const float *feats, int B, float *logits,
                                cl_rng *rng)
{
    const float *a = cl_params_w(&c->m->params, c->i_ev_scale);
    float drop = c->head_train ? c->cfg->ngram_dropout : 0;
    for (int b = 0; b < B; b++) {
        /* Training hides the evidence of some texts: the encoder's part
         * must then predict alone, so it learns all it can rather than
         * only the little naive Bayes leaves over. */
        int hide = drop > 0 && cl_rng_float(rng) < drop;
        c->nb_hide[b] = (unsigned char)hide;
        for (int k = 0; k < c->K; k++) {
            float e = hide ? 0.0f : feats[(size_t)b * c->F + c->Fp + k];
            c->ev[(size_t)b * c->K + k] = e;
            logits[(size_t)b * c->K + k] += a[k] * e;
        }
        if (c->cfg->nbsvm && !hide)
            add_nbsvm_logits(c, b, logits + (size_t)b * c->K);
    }
}

/* Softmax of logits (in probs) in place, row by row. */
static void softmax_rows(float *z, int B, int K)
{
    for (int b = 0; b < B; b++, z += K) {
        float m = z[0];
        for (int k = 1; k < K; k++)
            m = z[k] > m ? z[k] : m;
        double s = 0;
        for (int k = 0; k < K; k++)
            s += z[k] = expf(z[k] - m);
        for (int k = 0; k < K; k++)
            z[k] = (float)(z[k] / s);
    }
}

/* Weighted mean cross-entropy; dlogits = w_b (p - onehot) / sum w. */
static double weighted_xent(cl_classifier *c, int B, const int *targets, const float *weights)
{
    int K = c->K;
    double wsum = 0, loss = 0;
    for (int b = 0; b < B; b++) {
        if (targets[b] < 0 || targets[b] >= K)
            return NAN;
        wsum += weights ? weights[targets[b]] : 1.0;
    }
    for (int b = 0; b < B; b++) {
        const float *pr = c->probs + (size_t)b * K;
        float *dl = c->dlogits + (size_t)b * K;
        double w = (weights ? weights[targets[b]] : 1.0) / (wsum > 0 ? wsum : 1);
        loss += -w * log(fmax(pr[targets[b]], 1e-30));
        for (int k = 0; k < K; k++)
            dl[k] = (float)(w * (pr[k] - (k == targets[b])));
    }
    return loss;
}

double cl_classifier_head(cl_classifier *c, const float *feats, int B, const int *targets,
                          const float *weights, float *probs, int train, cl_rng *rng)
{
    const cl_params *p = &c->m->params;
    if (B < 1 || B > c->max_B)
        return NAN;
    c->B = B, c->head_train = train && targets;
    normalise(c, feats, B);
    if (c->head_train && c->cfg->dropout > 0)
        apply_dropout(c, B, rng);
    const float *x2 = c->hin;
    int in2 = c->Fp;
    if (c->Hd) {
        if (cl_linear_forward_mm(c->l1, c->h, c->hin, cl_params_w(p, c->i_w1),
                                 cl_params_w(p, c->i_b1), B, c->Fp, c->Hd))
            return NAN;
        for (size_t i = 0; i < (size_t)B * c->Hd; i++)
            c->h[i] = tanhf(c->h[i]);
        x2 = c->h, in2 = c->Hd;
    }
    if (in2 > 0 && cl_linear_forward_mm(c->l2, c->probs, x2, cl_params_w(p, c->i_w2),
                                        cl_params_w(p, c->i_b2), B, in2, c->K))
        return NAN;
    if (in2 <= 0)
        for (int b = 0; b < B; b++)
            memcpy(c->probs + (size_t)b * c->K, cl_params_w(p, c->i_b2), sizeof(float) * c->K);
    if (c->cfg->ngram)
        add_evidence_logits(c, feats, B, c->probs, rng);
    softmax_rows(c->probs, B, c->K);
    if (probs)
        memcpy(probs, c->probs, (size_t)B * c->K * sizeof(float));
    return targets ? weighted_xent(c, B, targets, weights) : 0.0;
}

/* ==== backward ============================================================= */

/* dY and dlast from the gradient of the pooled vector (c->dhin). */
static void unpool(cl_classifier *c)
{
    int B = c->B, D = c->D, pool = c->cfg->pool;
    memset(c->dY, 0, (size_t)c->T * B * D * sizeof(float));
    memset(c->dlast, 0, (size_t)B * D * sizeof(float));
    for (int b = 0; b < B; b++) {
        const float *g = c->dhin + (size_t)b * c->Fp;
        if (pool & CL_CLASSIFIER_POOL_LAST) {
            memcpy(c->dlast + (size_t)b * D, g, (size_t)D * sizeof(float));
            g += D;
        }
        if (pool & CL_CLASSIFIER_POOL_MEAN) {
            float inv = 1.0f / (float)c->len[b];
            for (int t = 0; t < c->len[b]; t++) {
                float *dy = c->dY + ((size_t)t * B + b) * D;
                for (int j = 0; j < D; j++)
                    dy[j] += g[j] * inv;
            }
            g += D;
        }
        if (pool & CL_CLASSIFIER_POOL_MAX) {
            const int *arg = c->argmax + (size_t)b * D;
            for (int j = 0; j < D; j++)
                c->dY[((size_t)arg[j] * B + b) * D + j] += g[j];
        }
    }
}

static int backward_encoder(cl_classifier *c, cl_params *p)
{
    if (!c->enc_train)
        return CL_EINVAL;
    unpool(c);
    int err = cl_seqrnn_backward(c->rnn, cl_params_w(p, c->i_rnn), cl_params_g(p, c->i_rnn),
                                 c->dY, c->dlast, c->dX);
    if (!err)
        cl_embed_backward(cl_params_g(p, c->i_embed), c->ids, c->T * c->B, c->dX, c->E);
    return err;
}

/* The NBSVM weights' gradient: sparse, at the buckets of the batch's texts
 * whose n-grams the head saw. */
static void nbsvm_backward(const cl_classifier *c, cl_params *p)
{
    float *gw = cl_params_g(p, c->i_nbw);
    for (int b = 0; b < c->B; b++) {
        const uint32_t *u = c->buckets + (size_t)b * c->cap;
        const float *r = c->nb_r + (size_t)b * c->cap * c->K;
        const float *dl = c->dlogits + (size_t)b * c->K;
        for (int k = 0; k < c->K && !c->nb_hide[b]; k++) {
            float *gk = gw + ((size_t)k << c->cfg->ngram_bits);
            for (int i = 0; i < c->nb_n[b]; i++)
                gk[u[i]] += dl[k] * r[(size_t)i * c->K + k];
        }
    }
}

/* The head's gradients are final before the encoder's are computed: tell
 * p's hook (cl_params.h), so that their reduction overlaps the encoder's
 * backward pass. */
static void report_head(const cl_classifier *c, const cl_params *p)
{
    int t[] = {c->i_w2, c->i_b2, c->cfg->ngram ? c->i_ev_scale : -1, c->Hd ? c->i_w1 : -1,
               c->Hd ? c->i_b1 : -1, c->cfg->ngram && c->cfg->nbsvm ? c->i_nbw : -1};
    for (size_t i = 0; i < sizeof t / sizeof *t; i++)
        if (t[i] >= 0)
            cl_params_grads_final(p, cl_params_g(p, t[i]), p->t[t[i]].size);
}

int cl_classifier_backward(cl_classifier *c, cl_params *p, int into_encoder)
{
    if (!c->head_train)
        return CL_EINVAL;
    int B = c->B;
    const float *x2 = c->Hd ? c->h : c->hin;
    int in2 = c->Hd ? c->Hd : c->Fp;
    float *dx2 = c->Hd ? c->dh : c->dhin;
    int err = in2 > 0 ? cl_linear_backward_mm(c->l2, dx2, cl_params_g(p, c->i_w2),
                                              cl_params_g(p, c->i_b2), c->dlogits, x2,
                                              cl_params_w(p, c->i_w2), B, in2, c->K)
                      : CL_OK;
    if (err)
        return err;
    if (in2 <= 0)
        for (size_t i = 0; i < (size_t)B * c->K; i++)
            cl_params_g(p, c->i_b2)[i % (size_t)c->K] += c->dlogits[i];
    if (c->cfg->ngram) {
        float *ga = cl_params_g(p, c->i_ev_scale);
        for (size_t i = 0; i < (size_t)B * c->K; i++)
            ga[i % (size_t)c->K] += c->dlogits[i] * c->ev[i];
    }
    if (c->cfg->ngram && c->cfg->nbsvm)
        nbsvm_backward(c, p);
    if (c->Hd) {
        for (size_t i = 0; i < (size_t)B * c->Hd; i++)
            c->dh[i] *= 1.0f - c->h[i] * c->h[i];
        err = cl_linear_backward_mm(c->l1, c->dhin, cl_params_g(p, c->i_w1),
                                    cl_params_g(p, c->i_b1), c->dh, c->hin,
                                    cl_params_w(p, c->i_w1), B, c->Fp, c->Hd);
        if (err)
            return err;
    }
    report_head(c, p);
    if (!into_encoder || c->Fp == 0)
        return CL_OK;
    const float *sc = c->cfg->norm ? cl_params_w(p, c->i_scale) : NULL;
    for (size_t i = 0; i < (size_t)B * c->Fp; i++)
        c->dhin[i] *= (c->cfg->dropout > 0 ? c->mask[i] : 1.0f) * (sc ? sc[i % (size_t)c->Fp] : 1);
    return backward_encoder(c, p);
}

int cl_classifier_ngrams(cl_classifier *c, const int *const *ids, const int *len, int B,
                         const int *own)
{
    if (B < 1 || B > c->max_B)
        return CL_EINVAL;
    for (int b = 0; b < B; b++)
        if (len[b] < 1 || len[b] > c->max_T)
            return CL_EINVAL;
    if (!c->cfg->ngram)
        return CL_OK;
    memcpy(c->len, len, sizeof *len * (size_t)B);
    c->B = B;
    add_evidence(c, ids, own);
    return CL_OK;
}

int cl_classifier_predict(cl_classifier *c, const int *const *ids, const int *len, int B,
                          float *probs)
{
    int err = cl_classifier_encode(c, ids, len, B, NULL, NULL, 0, NULL);
    if (err)
        return err;
    double r = cl_classifier_head(c, c->feats, B, NULL, NULL, probs, 0, NULL);
    return isnan(r) ? CL_EINVAL : CL_OK;
}

int cl_classifier_set_norm(cl_model *m, const float *feats, size_t n)
{
    const cl_classifier_config *cfg = cl_model_head(m, SECTION);
    int im = cl_params_find(&m->params, SECTION ".norm_mean");
    int is = cl_params_find(&m->params, SECTION ".norm_scale");
    if (!cfg || !cfg->norm || im < 0 || is < 0 || n < 1)
        return cfg && cfg->norm ? CL_EINVAL : CL_ENOTFOUND;
    int F = cl_classifier_feature_dim(cfg, &m->enc), Fp = pooled_dim(cfg, &m->enc);
    float *mu = cl_params_w(&m->params, im), *sc = cl_params_w(&m->params, is);
    for (int j = 0; j < Fp; j++) {
        double s = 0, s2 = 0;
        for (size_t i = 0; i < n; i++) {
            double x = feats[i * F + j];
            s += x, s2 += x * x;
        }
        double mean = s / (double)n, var = fmax(s2 / (double)n - mean * mean, 0);
        mu[j] = (float)mean;
        sc[j] = (float)(1 / sqrt(var + 1e-4)); /* floor: near-constant units stay tame */
    }
    return CL_OK;
}

int cl_classifier_count_ngrams(cl_classifier *c, cl_params *p, const int *const *ids,
                               const int *len, const int *y, size_t n)
{
    if (!c->cfg->ngram)
        return CL_ENOTFOUND;
    float *counts = cl_params_w(p, c->i_counts);
    memset(counts, 0, sizeof(float) * p->t[c->i_counts].size);
    for (size_t i = 0; i < n; i++) {
        if (y[i] < 0 || y[i] >= c->K || len[i] < 1 || len[i] > c->max_T)
            return CL_EINVAL;
        size_t nb = cl_ngram_buckets(&c->ng, ids[i], len[i], c->buckets);
        cl_ngram_count(&c->ng, counts, y[i], c->buckets, nb);
    }
    cl_ngram_totals(&c->ng, counts);
    return CL_OK;
}

