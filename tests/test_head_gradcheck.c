/* Every gradient of every head: finite-difference checks (headgrad.h) of
 * each parameter tensor of the language model, the classifier and the
 * tagger, together with the encoder under them, with dropout on and a fixed
 * mask, so that a mask or scale missing from a backward pass fails (the
 * tagger's word and character dropout too).  The LM
 * runs a unidirectional encoder, i.e. the fast path that folds the embedding
 * into layer 0's input projection (cl_encoder "fold").
 *
 * In double precision: this file is compiled twice.  In the test build of
 * the whole library in double (CL_WIDE, tests/wide.h; build/wide/check_heads)
 * it holds the checks; in the ordinary test binary, the suite of the same
 * name runs that program, so `check_charlstm head_gradcheck` (and `make
 * mutation`) runs them. */
#ifndef CL_WIDE
#include <stdio.h>
#include <string.h>

#include "cl_test.h"

START_TEST(heads_in_double_precision)
{
    static char out[1 << 16];
    int rc = cl_test_shell("'" CL_WIDE_CHECK "' head_gradcheck 2>&1", out, sizeof out);
    ck_assert_msg(rc == 0, "%s failed (%d):\n%s", CL_WIDE_CHECK, rc, out);
    ck_assert_msg(strstr(out, "100%: Checks: ") != NULL, "%s", out);
}
END_TEST

Suite *suite_head_gradcheck(void)
{
    Suite *s = suite_create("head_gradcheck");
    TCase *tc = tcase_create("double");
    tcase_set_timeout(tc, 900); /* the program's own tests have 600 s each */
    tcase_add_test(tc, heads_in_double_precision);
    suite_add_tcase(s, tc);
    return s;
}

#else /* the checks, in the double build */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cl_lm.h"
#include "cl_tagger_impl.h" /* white box: one batch through the network */
#include "cl_test.h"
#include "clf_test.h"
#include "headgrad.h"

static void fill(float *x, size_t n, cl_rng *rng, float scale)
{
    for (size_t i = 0; i < n; i++)
        x[i] = scale * (2 * (float)cl_rng_double(rng) - 1);
}

/* ==== language model ======================================================= */

enum { LM_T = 5, LM_B = 3 };

typedef struct {
    cl_params p;
    cl_lm lm;
    int ids[LM_T * LM_B], tg[LM_T * LM_B];
    float h0[2 * LM_B * 8], c0[2 * LM_B * 8], h[2 * LM_B * 8], c[2 * LM_B * 8];
} lm_case;

static double lm_loss(void *ctx, int grads)
{
    lm_case *k = ctx;
    cl_rng rng;
    cl_rng_seed(&rng, 99); /* the same dropout masks at every call */
    memcpy(k->h, k->h0, sizeof k->h); /* the state is updated in place */
    memcpy(k->c, k->c0, sizeof k->c);
    double loss = cl_lm_forward(&k->lm, &k->p, k->ids, k->tg, LM_T, LM_B, k->h, k->c, 1, &rng);
    if (grads) {
        cl_params_zero_grad(&k->p);
        ck_assert_int_eq(cl_lm_backward(&k->lm, &k->p), 0);
    }
    return loss / (double)k->lm.count; /* cl_lm_backward's loss is the mean */
}

/* reg: locked dropout, DropConnect and embedding dropout (NULL: none); fold 0
 * takes the encoder's plain embedding path instead of the folded table. */
static void check_lm_with(cl_cell cell, const cl_encoder_reg *reg, int fold, const char *what)
{
    static lm_case k;
    const int V = 7, E = 4, H = 5;
    cl_encoder_config ec = {V, E, {cell, E, H, 2, 0, 0.3f}};
    cl_rng rng;
    cl_rng_seed(&rng, 17 + cell);
    memset(&k, 0, sizeof k);
    cl_params_init(&k.p);
    ck_assert_int_eq(cl_encoder_add_params(&ec, &k.p), 0);
    ck_assert_int_eq(cl_lm_add_params(&ec, &k.p), 0);
    ck_assert_int_eq(cl_params_alloc(&k.p), 0);
    ck_assert_int_eq(cl_params_alloc_grads(&k.p), 0);
    fill(k.p.w, k.p.n, &rng, 0.6f);
    ck_assert_int_eq(cl_lm_create(&k.lm, &ec, &k.p, 0.4f, LM_T, LM_B), 0);
    if (reg)
        ck_assert_int_eq(cl_lm_set_regularization(&k.lm, reg), 0);
    k.lm.enc.fold = k.lm.enc.fold && fold;
    for (int i = 0; i < LM_T * LM_B; i++) {
        k.ids[i] = (int)cl_rng_below(&rng, (uint64_t)V);
        k.tg[i] = i % 7 == 3 ? -1 : (int)cl_rng_below(&rng, (uint64_t)V); /* some masked */
    }
    k.ids[LM_T * LM_B - 1] = -1; /* padding: a zero input */
    size_t ns = (size_t)2 * LM_B * H;
    fill(k.h0, ns, &rng, 0.8f);
    fill(k.c0, ns, &rng, 0.8f);
    hg_check(lm_loss, &k, &k.p, NULL, what);
    cl_lm_free(&k.lm);
    cl_params_free(&k.p);
}

static void check_lm(cl_cell cell)
{
    check_lm_with(cell, NULL, 1, cell == CL_CELL_LSTM ? "lm lstm" : "lm gru");
}

/* High rates so that each mask drops something at these tiny sizes. */
static const cl_encoder_reg awd = {{1, 0.4f}, 0.3f};

START_TEST(lm_head_lstm) { check_lm(CL_CELL_LSTM); }
END_TEST
START_TEST(lm_head_gru) { check_lm(CL_CELL_GRU); }
END_TEST
START_TEST(lm_head_lstm_regularised) { check_lm_with(CL_CELL_LSTM, &awd, 1, "lm lstm awd"); }
END_TEST
START_TEST(lm_head_gru_regularised_unfolded)
{
    check_lm_with(CL_CELL_GRU, &awd, 0, "lm gru awd, plain embedding");
}
END_TEST

/* ==== classifier =========================================================== */

static const char clf_tsv[] = "pos\tthe good film was good\n"
                              "neg\ta bad plot\n"
                              "mid\tit was a film\n"
                              "pos\tgood actors , good story\n"
                              "neg\tthe story was bad and the film was bad\n";
enum { CLF_N = 5 };

typedef struct {
    cl_model *m;
    cl_classifier *c;
    cl_clfdata ds;
    const int *ids[CLF_N];
    float w[3];
} clf_case;

static double clf_loss(void *ctx, int grads)
{
    clf_case *k = ctx;
    float feats[CLF_N * 256];
    cl_rng rng;
    cl_rng_seed(&rng, 31); /* the same dropout masks (encoder and head) at every call */
    ck_assert_int_eq(cl_classifier_encode(k->c, k->ids, k->ds.len, CLF_N, NULL, feats, 1, &rng),
                     0);
    double loss = cl_classifier_head(k->c, feats, CLF_N, k->ds.y, k->w, NULL, 1, &rng);
    if (grads) {
        cl_params_zero_grad(&k->m->params);
        ck_assert_int_eq(cl_classifier_backward(k->c, &k->m->params, 1), 0);
    }
    return loss;
}

/* A model over the characters of the data set: a 2-layer encoder with
 * dropout between the layers, a classifier head with its own dropout. */
static cl_model *clf_model(const cl_clfdata *ds, cl_cell cell, int bidir, int pool, int ngram)
{
    cl_encoder_config ec = {0, 4, {cell, 4, 5, 2, bidir, 0.3f}};
    cl_rng rng;
    cl_classifier_config *c;
    cl_rng_seed(&rng, 23);
    cl_model *m = clf_test_model(ds, ec, &rng, &c);
    c->hidden = 6, c->dropout = 0.4f, c->ngram = ngram, c->pool = pool, c->ngram_bits = 10;
    c->ngram_dropout = 0;
    ck_assert_int_eq(cl_model_add_head(m, &cl_classifier_head_ops, c, &rng), 0);
    fill(m->params.w, m->params.n, &rng, 0.6f); /* larger than the init: gradients everywhere */
    return m;
}

static void check_classifier(cl_cell cell, int bidir, int pool, int ngram)
{
    static clf_case k;
    char path[512], what[64];
    memset(&k, 0, sizeof k);
    snprintf(path, sizeof path, "%s/hg.tsv", cl_test_tmpdir());
    cl_test_write(path, clf_tsv, strlen(clf_tsv));
    cl_diag d = {{0}};
    ck_assert_msg(cl_clfdata_read_file(&k.ds, path, NULL, &d) == 0, "%s", d.msg);
    k.m = clf_model(&k.ds, cell, bidir, pool, ngram);
    ck_assert_int_eq(cl_clfdata_encode(&k.ds, k.m, NULL), 0);
    ck_assert_int_eq(cl_classifier_create(&k.c, k.m, k.ds.max_len, CLF_N), 0);
    for (int i = 0; i < CLF_N; i++)
        k.ids[i] = k.ds.ids + k.ds.off[i];
    if (ngram) /* evidence in the logits: ngram_scale gets a gradient */
        ck_assert_int_eq(cl_classifier_count_ngrams(k.c, &k.m->params, k.ids, k.ds.len, k.ds.y,
                                                    3), 0);
    /* A standardisation that is not the identity, so that its scale must be
     * in the backward pass. */
    float feats[CLF_N * 256];
    cl_rng rng;
    cl_rng_seed(&rng, 8);
    for (int i = 0; i < CLF_N * 256; i++)
        feats[i] = (float)cl_rng_normal(&rng) * (0.5f + (float)(i % 7) / 6);
    ck_assert_int_eq(cl_classifier_set_norm(k.m, feats, CLF_N), 0);
    k.w[0] = 0.7f, k.w[1] = 1.9f, k.w[2] = 1.2f; /* class weights */
    static const char *const constants[] = {"head.classifier.norm_mean",
                                            "head.classifier.norm_scale",
                                            "head.classifier.ngram_counts", NULL};
    snprintf(what, sizeof what, "classifier %s bidir %d pool %d ngram %d",
             cell == CL_CELL_LSTM ? "lstm" : "gru", bidir, pool, ngram);
    hg_check(clf_loss, &k, &k.m->params, constants, what);
    cl_classifier_free(k.c);
    cl_model_free(k.m);
    cl_clfdata_free(&k.ds);
}

/* Max pooling is not differentiable where two steps tie: a finite step can
 * switch the maximum.  With steps of 1e-5 neither case has a switch (they
 * are deterministic: a passing run is a proof). */
START_TEST(classifier_head_bidir_lstm) { check_classifier(CL_CELL_LSTM, 1, CL_CLASSIFIER_POOL_ALL, 0); }
END_TEST
START_TEST(classifier_head_uni_gru_ngram)
{
    check_classifier(CL_CELL_GRU, 0, CL_CLASSIFIER_POOL_ALL, 2);
}
END_TEST

/* ==== tagger =============================================================== */

typedef struct {
    cl_model *m;
    cl_tagger *t;
    cl_tagger_data *x;
    int sents[3];
} tag_case;

static double tag_loss(void *ctx, int grads)
{
    tag_case *k = ctx;
    cl_rng rng;
    long count;
    cl_rng_seed(&rng, 57); /* the same dropout masks and dropped words at every call */
    double loss = cl_tagger_forward(k->t, k->x, k->sents, 3, 1, &rng, &count);
    if (grads) {
        cl_params_zero_grad(&k->m->params);
        ck_assert_int_eq(cl_tagger_backward(k->t, k->x, k->sents, 3), 0);
    }
    return loss / (double)count; /* the backward pass's loss is the mean */
}

/* Three sentences; "zebra" is in no sentence the config is built from, so
 * it is an unknown word (id 0) with affix features of its own. */
static void tag_corpus(cl_tagger_corpus *c)
{
    static const char *const f[3][4] = {{"The", "dog", "walked", "."},
                                        {"a", "famous", "nation", "slowly"},
                                        {"zebra", "jumped", "quickly", "!"}};
    static const char *const g[3][4] = {{"DET", "NOUN", "VERB", "PUNCT"},
                                        {"DET", "ADJ", "NOUN", "ADV"},
                                        {"NOUN", "VERB", "ADV", "PUNCT"}};
    cl_tagger_corpus_init(c);
    for (int s = 0; s < 3; s++)
        ck_assert_int_eq(cl_tagger_corpus_add(c, f[s], g[s], s == 0 ? 4 : 4 - (s == 1)), 0);
}

/* use_lm: bit 1 the forward LM's states, bit 2 the backward LM's. */
static void check_tagger(int use_lm, int layers)
{
    static tag_case k;
    cl_tagger_corpus c;
    cl_text_opts text = cl_text_defaults();
    cl_vocab v;
    cl_rng rng;
    cl_rng_seed(&rng, 71);
    memset(&k, 0, sizeof k);
    tag_corpus(&c);
    ck_assert_int_eq(cl_tagger_vocab_build(&v, &c, &text, NULL), 0);
    cl_encoder_config ec = cl_tagger_tiny_encoder(cl_vocab_size(&v));
    if (use_lm) /* a language model whose states are an input */
        ec.emb = ec.rnn.input = 3, ec.rnn.hidden = 4;
    ck_assert_int_eq(cl_model_create(&k.m, &text, &v, &ec, &rng), 0);
    if (use_lm & 2) { /* a backward language model of another width */
        cl_encoder_config bc = ec;
        bc.rnn.hidden = 5;
        ck_assert_int_eq(cl_model_add_head(k.m, &cl_lm_backward_head_ops,
                                           cl_lm_backward_new(&bc, 0), &rng), 0);
    }
    cl_tagger_config cfg = cl_tagger_config_defaults();
    cfg.feat.buckets = 1 << 5;
    cfg.char_emb = 3, cfg.char_hidden = 3, cfg.feat_emb = 2, cfg.word_emb = 3;
    cfg.word_hidden = 4, cfg.word_layers = layers;
    cfg.use_lm = use_lm & 1, cfg.use_lm_backward = (use_lm & 2) != 0;
    cfg.dropout = 0.3f, cfg.word_dropout = 0.3f, cfg.char_dropout = 0.2f;
    ck_assert_int_eq(cl_tagger_config_build(&cfg, &c, 1), 0);
    ck_assert_int_eq(cl_model_add_head(k.m, &cl_tagger_head_ops, cl_tagger_config_dup(&cfg), &rng),
                     0);
    cl_tagger_config_clear(&cfg);
    fill(k.m->params.w, k.m->params.n, &rng, 0.6f);
    ck_assert_int_eq(cl_tagger_create(&k.t, k.m, NULL), 0);
    ck_assert_int_eq(cl_tagger_data_prepare(&k.x, k.t, &c, NULL), 0);
    k.sents[0] = 0, k.sents[1] = 1, k.sents[2] = 2;
    int N, Tc, Tw, Tl;
    cl_tagger_batch_shape(k.x, k.sents, 3, &N, &Tc, &Tw, &Tl);
    ck_assert_int_eq(cl_tagger_ws_reserve(k.t, N, 3, Tc, Tw, Tl), 0);
    /* The encoder is never trained by the tagger: it gets no gradient. */
    static const char *const constants[] = {"encoder.", "head.lm_backward.", NULL};
    char what[64];
    snprintf(what, sizeof what, "tagger use_lm %d layers %d", use_lm, layers);
    hg_check(tag_loss, &k, &k.m->params, constants, what);
    cl_tagger_data_free(k.x);
    cl_tagger_free(k.t);
    cl_model_free(k.m);
    cl_tagger_corpus_free(&c);
}

START_TEST(tagger_network) { check_tagger(0, 2); }
END_TEST
START_TEST(tagger_network_on_lm_states) { check_tagger(1, 1); }
END_TEST
START_TEST(tagger_network_on_both_lm_states) { check_tagger(3, 1); }
END_TEST

Suite *suite_head_gradcheck(void)
{
    Suite *s = suite_create("head_gradcheck");
    TCase *tc = tcase_create("heads");
    tcase_set_timeout(tc, 600); /* minutes under the sanitizers */
    tcase_add_test(tc, lm_head_lstm);
    tcase_add_test(tc, lm_head_gru);
    tcase_add_test(tc, lm_head_lstm_regularised);
    tcase_add_test(tc, lm_head_gru_regularised_unfolded);
    tcase_add_test(tc, classifier_head_bidir_lstm);
    tcase_add_test(tc, classifier_head_uni_gru_ngram);
    tcase_add_test(tc, tagger_network);
    tcase_add_test(tc, tagger_network_on_lm_states);
    tcase_add_test(tc, tagger_network_on_both_lm_states);
    suite_add_tcase(s, tc);
    return s;
}
#endif
