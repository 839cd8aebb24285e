/* The classifier: TSV data sets and their errors, the head's gradients, a
 * tiny classifier that must learn "good"/"bad" sentences, frozen training
 * that must not touch the encoder, model files holding several heads, and
 * the classify/train commands through the built tool. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "cl_clftrain.h"
#include "cl_labeler.h"
#include "clf_test.h"
#include "cl_lm.h"
#include "cl_tagger.h"
#include "cl_test.h"

/* ==== helpers ============================================================== */

static const char *tmp_file(char *buf, size_t size, const char *name)
{
    snprintf(buf, size, "%s/%s", cl_test_tmpdir(), name);
    return buf;
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    ck_assert_int_eq(fclose(f), 0);
}

/* n sentences of filler words with "good" (pos) or "bad" (neg) somewhere. */
static void write_good_bad(const char *path, int n, uint64_t seed)
{
    static const char *const words[] = {"the", "movie", "was", "quite", "a", "film", "plot",
                                        "and", "actors", "really", "it", "story"};
    cl_rng rng;
    cl_rng_seed(&rng, seed);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    for (int i = 0; i < n; i++) {
        int pos = (int)cl_rng_below(&rng, 2), nw = 2 + (int)cl_rng_below(&rng, 5);
        int at = (int)cl_rng_below(&rng, (uint64_t)nw + 1);
        fprintf(f, "%s\t", pos ? "pos" : "neg");
        for (int w = 0; w <= nw; w++)
            fprintf(f, "%s%s", w ? " " : "",
                    w == at ? (pos ? "good" : "bad") : words[cl_rng_below(&rng, 12)]);
        fputc('\n', f);
    }
    ck_assert_int_eq(fclose(f), 0);
}

/* A fresh model over the characters of ds with a classifier head. */
static cl_model *fresh_model(const cl_clfdata *ds, int hidden, int bidir, int clf_hidden,
                             float dropout, uint64_t seed)
{
    cl_encoder_config ec = {0, 8, {CL_CELL_LSTM, 8, hidden, 1, bidir, 0}};
    cl_rng rng;
    cl_classifier_config *c;
    cl_rng_seed(&rng, seed);
    cl_model *m = clf_test_model(ds, ec, &rng, &c);
    c->hidden = clf_hidden, c->dropout = dropout;
    ck_assert_int_eq(cl_model_add_head(m, &cl_classifier_head_ops, c, &rng), 0);
    return m;
}

/* The same with word n-gram evidence of orders 1..ngram (small table). */
/* ngram < 0: -ngram word orders with NBSVM weights and character 2..3-grams. */
static cl_model *fresh_model_ngram(const cl_clfdata *ds, int hidden, int bidir, int clf_hidden,
                                   int ngram, uint64_t seed)
{
    cl_model *m = fresh_model(ds, hidden, bidir, clf_hidden, 0, seed);
    if (!ngram)
        return m;
    /* Replace the head by one with n-grams (a head is configured before it is added). */
    const cl_classifier_config *old = cl_model_head(m, "head.classifier");
    cl_classifier_config *c;
    ck_assert_int_eq(
        cl_classifier_config_new(&c, (const char *const *)old->labels, old->nlabels, NULL), 0);
    c->hidden = clf_hidden, c->dropout = 0, c->ngram = abs(ngram), c->ngram_bits = 12;
    if (ngram < 0)
        c->nbsvm = 1, c->ngram_chars = 3;
    cl_rng rng;
    cl_rng_seed(&rng, seed + 1);
    ck_assert_int_eq(cl_model_add_head(m, &cl_classifier_head_ops, c, &rng), 0);
    return m;
}

static void read_tsv(cl_clfdata *ds, const char *path)
{
    cl_diag d = {{0}};
    int err = cl_clfdata_read_file(ds, path, NULL, &d);
    ck_assert_msg(err == 0, "%s", d.msg);
}

/* ==== data sets ============================================================ */

START_TEST(test_data_read)
{
    char path[512];
    cl_clfdata ds;
    write_file(tmp_file(path, sizeof path, "a.tsv"),
               "pos\tfine\tfilm\r\n\nneg\tdull\nneu\tso-so\npos\tCafe\xcc\x81\n");
    read_tsv(&ds, path);
    ck_assert_int_eq(ds.n, 4);
    ck_assert_int_eq(ds.nlabels, 3);
    ck_assert_str_eq(ds.labels[ds.tag[2]], "neu");
    ck_assert_int_eq(ds.line[1], 3); /* the blank line counts */
    ck_assert_uint_eq(ds.off[1] - ds.off[0], 9); /* "fine\tfilm": later tabs are text */
    ck_assert_uint_eq(ds.off[4] - ds.off[3], 4); /* NFC: e + combining acute = one char */
    const char **sorted;
    ck_assert_int_eq(cl_clfdata_sorted_labels(&ds, &sorted), 0);
    ck_assert_str_eq(sorted[0], "neg");
    ck_assert_str_eq(sorted[2], "pos");
    free(sorted);
    cl_clfdata_free(&ds);
}
END_TEST

static void expect_read_error(const char *name, const char *text, int code, const char *msg)
{
    char path[512];
    cl_clfdata ds;
    cl_diag d = {{0}};
    write_file(tmp_file(path, sizeof path, name), text);
    ck_assert_int_eq(cl_clfdata_read_file(&ds, path, NULL, &d), code);
    ck_assert_msg(strstr(d.msg, msg) != NULL, "message \"%s\" lacks \"%s\"", d.msg, msg);
    cl_clfdata_free(&ds);
}

START_TEST(test_data_errors)
{
    expect_read_error("notab.tsv", "pos\tok\nno tab here\n", CL_EPARSE, "notab.tsv:2:");
    expect_read_error("nolabel.tsv", "pos\tok\n\nneg\tok\n\tx\n", CL_EPARSE, "nolabel.tsv:4:");
    expect_read_error("utf8.tsv", "pos\tok\nneg\tbad \xff byte\n", CL_EUTF8, "utf8.tsv:2");
    expect_read_error("empty.tsv", "\n\n", CL_EEMPTY, "empty.tsv");
}
END_TEST

START_TEST(test_data_unknown_label)
{
    char path[512];
    cl_clfdata tr, dev;
    cl_diag d = {{0}};
    write_file(tmp_file(path, sizeof path, "tr.tsv"), "pos\tgood\nneg\tbad\n");
    read_tsv(&tr, path);
    write_file(tmp_file(path, sizeof path, "dev.tsv"), "pos\tgood\nmeh\tso so\n");
    read_tsv(&dev, path);
    cl_model *m = fresh_model(&tr, 4, 0, 4, 0, 1);
    ck_assert_int_eq(cl_clfdata_encode(&tr, m, NULL), 0);
    ck_assert_int_eq(cl_clfdata_encode(&dev, m, &d), CL_ENOTFOUND);
    ck_assert_msg(strstr(d.msg, "dev.tsv:2: unknown label \"meh\"") != NULL, "%s", d.msg);
    cl_model_free(m);
    cl_clfdata_free(&tr);
    cl_clfdata_free(&dev);
}
END_TEST

START_TEST(test_data_split)
{
    char path[512];
    cl_clfdata all, tr, dev;
    cl_rng rng;
    write_good_bad(tmp_file(path, sizeof path, "split.tsv"), 400, 3);
    read_tsv(&all, path);
    cl_rng_seed(&rng, 1);
    ck_assert_int_eq(cl_clfdata_split(&all, 0.25, &rng, &tr, &dev), 0);
    ck_assert_int_eq(tr.n + dev.n, 400);
    ck_assert(dev.n > 60 && dev.n < 140);
    ck_assert_uint_eq(tr.off[tr.n] + dev.off[dev.n], all.off[all.n]);
    cl_clfdata_free(&all);
    cl_clfdata_free(&tr);
    cl_clfdata_free(&dev);
}
END_TEST

/* Folds: disjoint, covering every line, as even as can be overall and per
 * label, the same for the same seed and different for another. */
START_TEST(test_data_folds)
{
    char path[512];
    cl_clfdata all;
    /* 3 labels of unequal size, sorted by label as files often are */
    write_file(tmp_file(path, sizeof path, "folds.tsv"), "");
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    for (int i = 0; i < 103; i++)
        fprintf(f, "%s\ttext %d\n", i < 61 ? "pos" : i < 91 ? "neg" : "meh", i);
    ck_assert_int_eq(fclose(f), 0);
    read_tsv(&all, path);
    int K = 10, fold[103], again[103], other[103];
    ck_assert_int_eq(cl_clfdata_folds(&all, 1, 1, fold), CL_EINVAL);
    ck_assert_int_eq(cl_clfdata_folds(&all, 104, 1, fold), CL_EINVAL);
    ck_assert_int_eq(cl_clfdata_folds(&all, K, 5, fold), 0);
    ck_assert_int_eq(cl_clfdata_folds(&all, K, 5, again), 0);
    ck_assert_int_eq(cl_clfdata_folds(&all, K, 6, other), 0);
    ck_assert_mem_eq(fold, again, sizeof fold);
    ck_assert(memcmp(fold, other, sizeof fold) != 0);
    int size[10] = {0}, per[10][3] = {{0}};
    for (int i = 0; i < all.n; i++) {
        ck_assert(fold[i] >= 0 && fold[i] < K);
        size[fold[i]]++, per[fold[i]][all.tag[i]]++;
    }
    for (int k = 0; k < K; k++) {
        ck_assert(size[k] == 10 || size[k] == 11);
        ck_assert(per[k][0] == 6 || per[k][0] == 7);  /* 61 pos */
        ck_assert_int_eq(per[k][1], 3);               /* 30 neg */
        ck_assert(per[k][2] <= 2);                    /* 12 meh */
    }
    /* select: each fold's test part and the rest cover every line once */
    long seen[103] = {0};
    for (int k = 0; k < K; k++) {
        cl_clfdata in, out;
        ck_assert_int_eq(cl_clfdata_select(&all, fold, k, &in, &out), 0);
        ck_assert_int_eq(in.n, size[k]);
        ck_assert_int_eq(in.n + out.n, all.n);
        ck_assert_int_eq(in.nlabels, 3);
        for (int i = 0; i < in.n; i++) {
            seen[in.line[i] - 1]++;
            ck_assert_int_eq(fold[in.line[i] - 1], k);
            ck_assert_str_eq(in.labels[in.tag[i]], all.labels[all.tag[in.line[i] - 1]]);
        }
        for (int i = 0; i < out.n; i++)
            ck_assert_int_ne(fold[out.line[i] - 1], k);
        cl_clfdata_free(&in);
        cl_clfdata_free(&out);
    }
    for (int i = 0; i < all.n; i++)
        ck_assert_int_eq(seen[i], 1);
    cl_clfdata_free(&all);
}
END_TEST

/* Two files as one: labels merged by name, texts and lines kept. */
START_TEST(test_data_concat)
{
    char path[512];
    cl_clfdata a, b, ab;
    write_file(tmp_file(path, sizeof path, "a.tsv"), "pos\tgood\nneg\tbad\n");
    read_tsv(&a, path);
    write_file(tmp_file(path, sizeof path, "b.tsv"), "meh\tso so\npos\tfine\n");
    read_tsv(&b, path);
    ck_assert_int_eq(cl_clfdata_concat(&a, &b, &ab), 0);
    ck_assert_int_eq(ab.n, 4);
    ck_assert_int_eq(ab.nlabels, 3);
    ck_assert_str_eq(ab.labels[ab.tag[3]], "pos");
    ck_assert_str_eq(ab.labels[ab.tag[2]], "meh");
    ck_assert_int_eq(ab.tag[3], ab.tag[0]);
    ck_assert_int_eq(ab.line[3], 2);
    ck_assert_uint_eq(ab.off[4], a.off[2] + b.off[2]);
    ck_assert_int_eq(ab.cps[ab.off[3]], 'f');
    ck_assert(strstr(ab.name, "a.tsv+") && strstr(ab.name, "b.tsv"));
    cl_clfdata_free(&a);
    cl_clfdata_free(&b);
    cl_clfdata_free(&ab);
}
END_TEST

/* ==== gradients ============================================================ */

/* Loss of a fixed batch (no dropout) at the model's current weights. */
static double batch_loss(cl_classifier *c, const int *const *ids, const int *len, int B,
                         const int *y, const float *w, int grads, cl_model *m)
{
    float feats[8 * 64];
    ck_assert_int_eq(cl_classifier_encode(c, ids, len, B, NULL, feats, grads, NULL), 0);
    double loss = cl_classifier_head(c, feats, B, y, w, NULL, grads, NULL);
    if (grads) {
        cl_params_zero_grad(&m->params);
        ck_assert_int_eq(cl_classifier_backward(c, &m->params, 1), 0);
    }
    return loss;
}

/* Tensor name of m set to small random values. */
static void nudge(cl_model *m, const char *name, uint64_t seed)
{
    cl_rng rng;
    cl_rng_seed(&rng, seed);
    int i = cl_params_find(&m->params, name);
    ck_assert_int_ge(i, 0);
    for (size_t j = 0; j < m->params.t[i].size; j++)
        cl_params_w(&m->params, i)[j] = 0.3f * (float)cl_rng_normal(&rng);
}

/* Central differences along a random direction over every trained tensor:
 * pooling (last, mean, max), both directions, padding and class weights. */
static void check_gradient(int bidir, int pool, int clf_hidden, int ngram)
{
    char path[512];
    cl_clfdata ds;
    write_good_bad(tmp_file(path, sizeof path, "grad.tsv"), 6, 7);
    read_tsv(&ds, path);
    cl_model *m = fresh_model_ngram(&ds, 6, bidir, clf_hidden, ngram, 11);
    ((cl_classifier_config *)cl_model_head(m, "head.classifier"))->pool = pool;
    if (ngram < 0) /* NBSVM weights away from 0, so that they weigh in the loss */
        nudge(m, "head.classifier.ngram_weight", 12);
    ((cl_classifier_config *)cl_model_head(m, "head.classifier"))->ngram_dropout = 0;
    ck_assert_int_eq(cl_clfdata_encode(&ds, m, NULL), 0);
    cl_classifier *c;
    ck_assert_int_eq(cl_classifier_create(&c, m, ds.max_len, 6), 0);
    const int *ids[6];
    for (int i = 0; i < 6; i++)
        ids[i] = ds.ids + ds.off[i];
    if (ngram) /* evidence in the logits, its scale in the gradient */
        ck_assert_int_eq(cl_classifier_count_ngrams(c, &m->params, ids, ds.len, ds.y, 3), 0);
    float w[2] = {0.7f, 1.9f}, feats[6 * 64];
    /* A non-trivial standardisation, so its scale is in the gradient too;
     * from features made up to spread 0.5 to 1.5, so the scales stay near 1
     * and the finite differences in float stay accurate. */
    cl_rng frng;
    cl_rng_seed(&frng, 8);
    for (int i = 0; i < 6 * 64; i++)
        feats[i] = (float)cl_rng_normal(&frng) * (0.5f + (float)(i % 7) / 6);
    ck_assert_int_eq(cl_classifier_set_norm(m, feats, 6), 0);
    batch_loss(c, ids, ds.len, 6, ds.y, w, 1, m);
    cl_params *p = &m->params;
    float *dir = calloc(p->n, sizeof *dir), *w0 = malloc(p->n * sizeof *w0);
    memcpy(w0, p->w, p->n * sizeof *w0);
    cl_rng rng;
    cl_rng_seed(&rng, 5);
    double analytic = 0, eps = 1e-2;
    /* Constants (standardisation, counts) have no gradient: no step along them. */
    for (size_t i = 0; i < p->n_train; i++)
        dir[i] = (float)cl_rng_normal(&rng);
    int im = cl_params_find(p, "head.classifier.norm_mean");
    ck_assert(im >= 0 && p->t[im].constant && p->t[im].offset >= p->n_train);
    for (size_t i = 0; i < p->n_train; i++)
        analytic += (double)dir[i] * p->g[i];
    for (size_t i = 0; i < p->n; i++)
        p->w[i] = w0[i] + (float)eps * dir[i];
    double up = batch_loss(c, ids, ds.len, 6, ds.y, w, 0, m);
    for (size_t i = 0; i < p->n; i++)
        p->w[i] = w0[i] - (float)eps * dir[i];
    double down = batch_loss(c, ids, ds.len, 6, ds.y, w, 0, m);
    double numeric = (up - down) / (2 * eps);
    ck_assert_msg(fabs(numeric - analytic) <= 2e-2 * fmax(1, fabs(analytic)),
                  "bidir %d pool %d: numeric %g analytic %g", bidir, pool, numeric, analytic);
    free(dir), free(w0);
    cl_classifier_free(c);
    cl_model_free(m);
    cl_clfdata_free(&ds);
}

START_TEST(test_gradient)
{
    check_gradient(0, CL_CLASSIFIER_POOL_ALL, 5, 0);
    check_gradient(1, CL_CLASSIFIER_POOL_ALL, 5, 0);
    check_gradient(1, CL_CLASSIFIER_POOL_LAST, 0, 0);
    check_gradient(0, CL_CLASSIFIER_POOL_MEAN, 3, 0);
    check_gradient(1, CL_CLASSIFIER_POOL_MAX, 3, 0);
    check_gradient(1, CL_CLASSIFIER_POOL_ALL, 5, 2);
    check_gradient(0, CL_CLASSIFIER_POOL_LAST, 0, 1);
    check_gradient(1, CL_CLASSIFIER_POOL_ALL, 5, -2); /* NBSVM, character n-grams */
    check_gradient(0, 0, 0, -1);                      /* the linear part alone */
}
END_TEST

/* ==== training ============================================================= */

typedef struct {
    cl_model *m;
    cl_clfdata tr, dev;
} tiny_task;

static void tiny_setup(tiny_task *t, int bidir)
{
    char path[512];
    write_good_bad(tmp_file(path, sizeof path, "gb-train.tsv"), 240, 1);
    read_tsv(&t->tr, path);
    write_good_bad(tmp_file(path, sizeof path, "gb-dev.tsv"), 60, 2);
    read_tsv(&t->dev, path);
    t->m = fresh_model(&t->tr, 16, bidir, 16, 0.1f, 3);
    ck_assert_int_eq(cl_clfdata_encode(&t->tr, t->m, NULL), 0);
    ck_assert_int_eq(cl_clfdata_encode(&t->dev, t->m, NULL), 0);
}

static void tiny_free(tiny_task *t)
{
    cl_model_free(t->m);
    cl_clfdata_free(&t->tr);
    cl_clfdata_free(&t->dev);
}

/* Train through the core for `epochs` epochs; returns the best dev accuracy
 * (the model then holds those weights). */
static double tiny_train(tiny_task *t, int freeze, int epochs, float lr)
{
    cl_clftrain_config c = cl_clftrain_defaults();
    c.batch = 16, c.freeze = freeze, c.class_weights = 1;
    cl_train_config tc = cl_train_defaults();
    tc.lr = lr, tc.max_epochs = epochs;
    cl_diag d = {{0}};
    cl_clftrain *k;
    cl_trainer *tr;
    cl_train_group g[2];
    ck_assert_int_eq(cl_clftrain_create(&k, t->m, &c, &t->tr, &t->dev, &d), 0);
    cl_train_task task = cl_clftrain_task(k);
    ck_assert_msg(cl_trainer_create(&tr, t->m, &tc, g, cl_clftrain_groups(k, lr, lr, g), &task,
                                    NULL, &d) == 0, "%s", d.msg);
    int err = cl_trainer_run(tr, NULL, &d);
    ck_assert_msg(err == 0, "%s", d.msg);
    double best = cl_trainer_stats(tr)->best.metric;
    cl_trainer_free(tr);
    cl_clftrain_free(k);
    return best;
}

START_TEST(test_learns_good_bad)
{
    tiny_task t = {0};
    tiny_setup(&t, 1);
    double best = tiny_train(&t, 0, 12, 1e-2f);
    ck_assert_msg(best >= 0.95, "dev accuracy %.3f", best);
    /* The model holds the best weights: scoring it again gives the best accuracy. */
    cl_classifier *c;
    cl_clfeval_metrics mt;
    ck_assert_int_eq(cl_classifier_create(&c, t.m, t.dev.max_len, 7), 0);
    ck_assert_int_eq(cl_clfeval_metrics_init(&mt, 2), 0);
    ck_assert_int_eq(cl_clfeval_run(c, &t.dev, NULL, &mt, NULL), 0);
    ck_assert_double_eq_tol(cl_clfeval_accuracy(&mt), best, 1e-9);
    cl_clfeval_metrics_free(&mt);
    cl_classifier_free(c);
    tiny_free(&t);
}
END_TEST

/* With n-gram evidence: learns, evidence of a training text leaves the
 * text out, and the table and settings survive a save/load. */
START_TEST(test_ngram_head)
{
    tiny_task t = {0};
    char path[512];
    tiny_setup(&t, 0);
    cl_model_free(t.m);
    t.m = fresh_model_ngram(&t.tr, 8, 0, 8, 2, 3);
    ck_assert_int_eq(cl_clfdata_encode(&t.tr, t.m, NULL), 0);
    ck_assert_int_eq(cl_clfdata_encode(&t.dev, t.m, NULL), 0);
    double best = tiny_train(&t, 0, 3, 1e-2f);
    ck_assert_msg(best >= 0.95, "dev accuracy %.3f", best);
    int ic = cl_params_find(&t.m->params, "head.classifier.ngram_counts");
    ck_assert_int_ge(ic, 0);
    double total = 0;
    for (size_t i = 0; i < t.m->params.t[ic].size; i++)
        total += cl_params_w(&t.m->params, ic)[i];
    ck_assert(total > t.tr.n); /* every training text counted, several buckets each */
    /* The counts are constants: outside the trainable range, no gradient. */
    size_t tb, te;
    cl_model_param_range(t.m, "head.classifier", &tb, &te);
    ck_assert(t.m->params.t[ic].constant);
    ck_assert_uint_ge(t.m->params.t[ic].offset, t.m->params.n_train);
    ck_assert_uint_le(te, t.m->params.n_train);
    ck_assert_int_eq(cl_model_save(t.m, tmp_file(path, sizeof path, "ngram.model"), NULL, NULL,
                                   NULL), 0);
    cl_model *back;
    cl_diag d = {{0}};
    ck_assert_msg(cl_model_load(&back, path, NULL, &d) == 0, "%s", d.msg);
    const cl_classifier_config *c = cl_model_head(back, "head.classifier");
    ck_assert_int_eq(c->ngram, 2);
    ck_assert_int_eq(c->ngram_bits, 12);
    ck_assert_float_eq(c->ngram_dropout, 0.5f);
    /* Same probabilities from the loaded model. */
    cl_classifier *c1, *c2;
    float p1[2 * 4], p2[2 * 4];
    const int *ids[4];
    for (int i = 0; i < 4; i++)
        ids[i] = t.dev.ids + t.dev.off[i];
    ck_assert_int_eq(cl_classifier_create(&c1, t.m, t.dev.max_len, 4), 0);
    ck_assert_int_eq(cl_classifier_create(&c2, back, t.dev.max_len, 4), 0);
    ck_assert_int_eq(cl_classifier_predict(c1, ids, t.dev.len, 4, p1), 0);
    ck_assert_int_eq(cl_classifier_predict(c2, ids, t.dev.len, 4, p2), 0);
    ck_assert_int_eq(memcmp(p1, p2, sizeof p1), 0);
    /* A training text's own counts are left out: its evidence is weaker. */
    float f_in[64], f_out[64];
    int F = cl_classifier_feature_dim(c, &back->enc);
    ck_assert_int_le(F, 64);
    const int *one[1] = {t.tr.ids + t.tr.off[0]};
    cl_classifier_free(c1);
    ck_assert_int_eq(cl_classifier_create(&c1, back, t.tr.max_len, 1), 0);
    ck_assert_int_eq(cl_classifier_encode(c1, one, t.tr.len, 1, NULL, f_in, 0, NULL), 0);
    ck_assert_int_eq(cl_classifier_encode(c1, one, t.tr.len, 1, t.tr.y, f_out, 0, NULL), 0);
    int y = t.tr.y[0];
    ck_assert_msg(f_out[F - 2 + y] < f_in[F - 2 + y], "own-label evidence %g vs %g",
                  f_out[F - 2 + y], f_in[F - 2 + y]);
    cl_classifier_free(c1);
    cl_classifier_free(c2);
    cl_model_free(back);
    tiny_free(&t);
}
END_TEST

START_TEST(test_frozen_encoder_unchanged)
{
    tiny_task t = {0};
    tiny_setup(&t, 0);
    size_t eb, ee, hb, he;
    cl_model_param_range(t.m, "encoder", &eb, &ee);
    cl_model_param_range(t.m, "head.classifier", &hb, &he);
    ck_assert(ee > eb && he > hb);
    float *enc = malloc((ee - eb) * sizeof *enc), *head = malloc((he - hb) * sizeof *head);
    memcpy(enc, t.m->params.w + eb, (ee - eb) * sizeof *enc);
    memcpy(head, t.m->params.w + hb, (he - hb) * sizeof *head);
    tiny_train(&t, 1, 3, 1e-2f);
    ck_assert_int_eq(memcmp(enc, t.m->params.w + eb, (ee - eb) * sizeof *enc), 0);
    ck_assert_int_ne(memcmp(head, t.m->params.w + hb, (he - hb) * sizeof *head), 0);
    free(enc), free(head);
    tiny_free(&t);
}
END_TEST

START_TEST(test_metrics)
{
    cl_clfeval_metrics m;
    ck_assert_int_eq(cl_clfeval_metrics_init(&m, 3), 0);
    float a[3] = {0.8f, 0.1f, 0.1f}, b[3] = {0.1f, 0.7f, 0.2f};
    cl_clfeval_metrics_add(&m, 0, a); /* right */
    cl_clfeval_metrics_add(&m, 0, b); /* gold 0, predicted 1 */
    cl_clfeval_metrics_add(&m, 1, b); /* right */
    cl_clfeval_metrics_add(&m, 2, a); /* gold 2, predicted 0 */
    ck_assert_double_eq_tol(cl_clfeval_accuracy(&m), 0.5, 1e-12);
    ck_assert_int_eq(m.confusion[0 * 3 + 1], 1);
    double p, r, f;
    cl_clfeval_prf(&m, 0, &p, &r, &f);
    ck_assert_double_eq_tol(p, 0.5, 1e-12);
    ck_assert_double_eq_tol(r, 0.5, 1e-12);
    cl_clfeval_prf(&m, 2, &p, &r, &f);
    ck_assert_double_eq_tol(f, 0, 1e-12);
    ck_assert_double_eq_tol(cl_clfeval_mean_loss(&m),
                            -(log(0.8) + log(0.1) + log(0.7) + log(0.1)) / 4, 1e-6);
    cl_clfeval_metrics_free(&m);
}
END_TEST

/* ==== model files with several heads ======================================= */

/* A small tagger head (its own char BiLSTM; not reading the encoder). */
static void add_tagger(cl_model *m, cl_rng *rng)
{
    cl_tagger_corpus tc;
    const char *forms[2] = {"good", "film"}, *tags[2] = {"ADJ", "NOUN"};
    cl_tagger_corpus_init(&tc);
    ck_assert_int_eq(cl_tagger_corpus_add(&tc, forms, tags, 2), 0);
    cl_tagger_config cfg = cl_tagger_config_defaults();
    cfg.feat.buckets = 1 << 10;
    cfg.char_emb = 4, cfg.char_hidden = 4, cfg.feat_emb = 4, cfg.word_emb = 4;
    cfg.word_hidden = 4, cfg.use_lm = 0;
    ck_assert_int_eq(cl_tagger_config_build(&cfg, &tc, 1), 0);
    ck_assert_int_eq(cl_model_add_head(m, &cl_tagger_head_ops, cl_tagger_config_dup(&cfg), rng),
                     0);
    cl_tagger_config_clear(&cfg);
    cl_tagger_corpus_free(&tc);
}

START_TEST(test_several_heads_round_trip)
{
    char path[512], tsv[512];
    cl_clfdata ds;
    write_good_bad(tmp_file(tsv, sizeof tsv, "heads.tsv"), 20, 4);
    read_tsv(&ds, tsv);
    cl_model *m = fresh_model(&ds, 6, 0, 4, 0, 9);
    cl_rng rng;
    cl_rng_seed(&rng, 2);
    /* Adding lm and tagger heads keeps the encoder and classifier values. */
    size_t b0, e0;
    cl_model_param_range(m, "head.classifier", &b0, &e0);
    float *before = malloc((e0 - b0) * sizeof *before);
    memcpy(before, m->params.w + b0, (e0 - b0) * sizeof *before);
    ck_assert_int_eq(cl_model_add_head(m, &cl_lm_head_ops, cl_lm_head_new(0.1f), &rng), 0);
    add_tagger(m, &rng);
    size_t b1, e1;
    cl_model_param_range(m, "head.classifier", &b1, &e1);
    ck_assert_int_eq(memcmp(before, m->params.w + b1, (e1 - b1) * sizeof *before), 0);
    free(before);
    ck_assert_int_eq(cl_model_save(m, tmp_file(path, sizeof path, "heads.model"), NULL, NULL,
                                   NULL), 0);
    cl_model *back;
    cl_diag d = {{0}};
    ck_assert_msg(cl_model_load(&back, path, NULL, &d) == 0, "%s", d.msg);
    ck_assert_int_eq(back->nheads, 3);
    ck_assert_ptr_nonnull(cl_model_head(back, "head.lm"));
    ck_assert_ptr_nonnull(cl_model_head(back, "head.tagger"));
    const cl_classifier_config *c = cl_model_head(back, "head.classifier");
    ck_assert_ptr_nonnull(c);
    ck_assert_int_eq(c->nlabels, 2);
    ck_assert_str_eq(c->labels[1], "pos");
    ck_assert_int_eq(c->pool, CL_CLASSIFIER_POOL_ALL);
    ck_assert_int_eq(c->hidden, 4);
    ck_assert_int_eq(c->norm, 1);
    ck_assert_uint_eq(back->params.n, m->params.n);
    ck_assert_int_eq(memcmp(back->params.w, m->params.w, m->params.n * sizeof(float)), 0);
    cl_model_free(back);
    cl_model_free(m);
    cl_clfdata_free(&ds);
}
END_TEST

/* ==== the tool ============================================================= */

static int have_tool(const char *test)
{
    if (access(CL_TOOL, X_OK) == 0)
        return 1;
    cl_test_skip(test, "%s not built", CL_TOOL);
    return 0;
}

/* The labeler (classify and /classify both run through it): texts of
 * mixed lengths held together run in groups within the padded-character
 * budget, and each gets what it gets alone, in the order added. */
START_TEST(test_labeler_groups_keep_order)
{
    char path[512];
    write_good_bad(tmp_file(path, sizeof path, "lab.tsv"), 20, 5);
    cl_clfdata ds;
    read_tsv(&ds, path);
    cl_model *m = fresh_model(&ds, 8, 0, 8, 0, 9);
    static char long_text[951];
    for (int i = 0; i < 950; i++)
        long_text[i] = "good film bad plot "[i % 19];
    const char *texts[] = {"good", long_text, "", "bad plot", long_text + 400, "the film",
                           long_text, long_text + 10, long_text + 1, long_text, long_text + 3,
                           "bad", long_text + 900};
    int n = 13, K = 2;
    cl_labeler *l, *one;
    ck_assert_int_eq(cl_labeler_create(&l, m, 16, NULL), 0);
    ck_assert_int_eq(cl_labeler_create(&one, m, 1, NULL), 0);
    float all[13 * 2], alone[2];
    for (int i = 0; i < n; i++)
        ck_assert_int_eq(cl_labeler_add(l, texts[i], strlen(texts[i]), "t", NULL), 0);
    ck_assert_int_eq(cl_labeler_run(l, all), 0); /* 950 x 13 padded: past the budget */
    ck_assert_int_eq(cl_labeler_count(l), 0);
    for (int i = 0; i < n; i++) {
        ck_assert_int_eq(cl_labeler_add(one, texts[i], strlen(texts[i]), "t", NULL), 0);
        ck_assert_int_eq(cl_labeler_run(one, alone), 0);
        for (int k = 0; k < K; k++)
            ck_assert_msg(fabsf(all[i * K + k] - alone[k]) < 1e-5, "text %d: %g vs %g", i,
                          all[i * K + k], alone[k]);
    }
    ck_assert_int_eq(cl_labeler_add(one, "x", 1, "t", NULL), 0);
    ck_assert_int_eq(cl_labeler_add(one, "y", 1, "t", NULL), CL_EINVAL); /* full */
    cl_labeler_free(l), cl_labeler_free(one);
    cl_model_free(m);
    cl_clfdata_free(&ds);
}
END_TEST

START_TEST(test_tool_train_and_classify)
{
    char tr[512], dev[512], model[512], cmd[4096], out[8192];
    if (!have_tool("test_tool_train_and_classify"))
        return;
    write_good_bad(tmp_file(tr, sizeof tr, "t-train.tsv"), 240, 1);
    write_good_bad(tmp_file(dev, sizeof dev, "t-dev.tsv"), 60, 2);
    tmp_file(model, sizeof model, "t.model");
    snprintf(cmd, sizeof cmd, "'%s' train --task classifier --train '%s' --dev '%s' -o '%s' "
             "--layers 1 --hidden 16 --emb 8 --lr 0.01 --epochs 12 --batch 16 -q 2>&1",
             CL_TOOL, tr, dev, model);
    ck_assert_msg(cl_test_shell(cmd, out, sizeof out) == 0, "%s", out);
    snprintf(cmd, sizeof cmd, "printf 'such a good film\\nbad plot\\n' | '%s' classify -m '%s'",
             CL_TOOL, model);
    ck_assert_int_eq(cl_test_shell(cmd, out, sizeof out), 0);
    ck_assert_msg(strncmp(out, "pos\t", 4) == 0 && strstr(out, "\nneg\t") != NULL, "%s", out);
    snprintf(cmd, sizeof cmd, "echo 'good' | '%s' classify -m '%s' --all --output json",
             CL_TOOL, model);
    ck_assert_int_eq(cl_test_shell(cmd, out, sizeof out), 0);
    cJSON *j = cJSON_Parse(out);
    ck_assert_msg(j != NULL, "not JSON: %s", out);
    ck_assert_str_eq(cJSON_GetObjectItem(j, "label")->valuestring, "pos");
    double p = cJSON_GetObjectItem(j, "probability")->valuedouble;
    ck_assert(p > 0.5 && p <= 1);
    ck_assert(cJSON_IsNumber(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "probabilities"), "neg")));
    cJSON_Delete(j);
    /* a co-process gets each answer while its pipe stays open */
    snprintf(cmd, sizeof cmd, "'%s' classify -m '%s'", CL_TOOL, model);
    cl_test_coproc c;
    char ans[256];
    cl_test_coproc_start(&c, cmd);
    /* the first answer waits for the model to load too: a loaded machine took over 5 s */
    ck_assert_msg(cl_test_coproc_ask(&c, "such a good film\n", ans, sizeof ans, 30000) >= 0,
                  "no answer within 30 s");
    ck_assert_msg(!strncmp(ans, "pos\t", 4), "%s", ans);
    ck_assert_msg(cl_test_coproc_ask(&c, "bad plot\n", ans, sizeof ans, 5000) >= 0,
                  "no answer within 5 s");
    ck_assert_msg(!strncmp(ans, "neg\t", 4), "%s", ans);
    ck_assert_int_eq(cl_test_coproc_finish(&c), 0);
    snprintf(cmd, sizeof cmd, "'%s' eval -m '%s' '%s'", CL_TOOL, model, dev);
    ck_assert_int_eq(cl_test_shell(cmd, out, sizeof out), 0);
    ck_assert_msg(strstr(out, "accuracy\t") && strstr(out, "confusion"), "%s", out);
}
END_TEST

/* --cv over two files: every sentence scored once, by a model that learned
 * the task, in text and JSON; what --cv excludes is a usage error. */
START_TEST(test_tool_cv)
{
    char a[512], b[512], cmd[4096], out[8192];
    if (!have_tool("test_tool_cv"))
        return;
    write_good_bad(tmp_file(a, sizeof a, "cv-a.tsv"), 200, 4);
    write_good_bad(tmp_file(b, sizeof b, "cv-b.tsv"), 100, 5);
    const char *recipe = "--layers 1 --hidden 8 --emb 8 --lr 0.01 --epochs 6 --batch 16 -q";
    snprintf(cmd, sizeof cmd, "'%s' train --task classifier --train '%s' --train '%s' --cv 3 "
             "--cv-output json %s", CL_TOOL, a, b, recipe);
    ck_assert_msg(cl_test_shell(cmd, out, sizeof out) == 0, "%s", out);
    cJSON *j = cJSON_Parse(out), *folds = cJSON_GetObjectItem(j, "folds");
    ck_assert_msg(j && cJSON_GetArraySize(folds) == 3, "%s", out);
    int n = 0;
    for (int f = 0; f < 3; f++) {
        cJSON *x = cJSON_GetArrayItem(folds, f);
        n += cJSON_GetObjectItem(x, "sentences")->valueint;
        ck_assert(cJSON_GetObjectItem(x, "accuracy")->valuedouble > 0.8);
    }
    ck_assert_int_eq(n, 300);
    ck_assert_int_eq(cJSON_GetObjectItem(j, "sentences")->valueint, 300);
    cJSON *acc = cJSON_GetObjectItem(j, "accuracy");
    ck_assert(cJSON_GetObjectItem(acc, "mean")->valuedouble > 0.8);
    ck_assert(cJSON_GetObjectItem(acc, "sd")->valuedouble >= 0);
    cJSON_Delete(j);
    snprintf(cmd, sizeof cmd, "'%s' train --task classifier --train '%s' --cv 2 %s", CL_TOOL, a,
             recipe);
    ck_assert_msg(cl_test_shell(cmd, out, sizeof out) == 0, "%s", out);
    ck_assert_msg(strstr(out, "2-fold cross-validation over 200 sentences") &&
                  strstr(out, "\naccuracy\t") && strstr(out, "\nmacro-F1\t"), "%s", out);
    snprintf(cmd, sizeof cmd, "'%s' train --task classifier --train '%s' --cv 3 -o x.model "
             "2>&1", CL_TOOL, a);
    ck_assert_int_eq(cl_test_shell(cmd, out, sizeof out), 2);
    ck_assert_msg(strstr(out, "--cv writes no model"), "%s", out);
    snprintf(cmd, sizeof cmd, "'%s' train --train '%s' --cv 3 2>&1", CL_TOOL, a);
    ck_assert_int_eq(cl_test_shell(cmd, out, sizeof out), 2);
}
END_TEST

START_TEST(test_tool_malformed_tsv)
{
    char tr[512], model[512], cmd[4096], out[8192];
    if (!have_tool("test_tool_malformed_tsv"))
        return;
    write_file(tmp_file(tr, sizeof tr, "m-train.tsv"), "pos\tgood\nneg\tbad\nno tab\n");
    tmp_file(model, sizeof model, "m.model");
    snprintf(cmd, sizeof cmd, "'%s' train --task classifier --train '%s' -o '%s' 2>&1",
             CL_TOOL, tr, model);
    int rc = cl_test_shell(cmd, out, sizeof out);
    ck_assert_int_ne(rc, 0);
    ck_assert_msg(strstr(out, "m-train.tsv:3:") != NULL, "%s", out);
    ck_assert_int_ne(access(model, F_OK), 0);
}
END_TEST

Suite *suite_classifier(void)
{
    Suite *s = suite_create("classifier");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_data_read);
    tcase_add_test(tc, test_data_errors);
    tcase_add_test(tc, test_data_unknown_label);
    tcase_add_test(tc, test_data_split);
    tcase_add_test(tc, test_data_folds);
    tcase_add_test(tc, test_data_concat);
    tcase_add_test(tc, test_metrics);
    tcase_add_test(tc, test_gradient);
    tcase_add_test(tc, test_learns_good_bad);
    tcase_add_test(tc, test_frozen_encoder_unchanged);
    tcase_add_test(tc, test_ngram_head);
    tcase_add_test(tc, test_several_heads_round_trip);
    tcase_add_test(tc, test_labeler_groups_keep_order);
    tcase_add_test(tc, test_tool_train_and_classify);
    tcase_add_test(tc, test_tool_malformed_tsv);
    tcase_add_test(tc, test_tool_cv);
    suite_add_tcase(s, tc);
    return s;
}
