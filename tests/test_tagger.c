/* Tests for cl_tagger: a tiny tagger learns a small tagged sample, model
 * files with encoder + head.lm + head.tagger round-trip, and the tool's
 * "tag" command reads stdin and reports malformed CoNLL-U with file:line. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <cjson/cJSON.h>

#include "cl_conllu.h"
#include "cl_lm.h"
#include "cl_tagger.h"
#include "cl_tagger_impl.h" /* white box: the trainer's encoder-state cache */
#include "cl_test.h"

/* ==== a small tagged sample ============================================== */

/* Words whose tag shows in their ending, so affixes and the char BiLSTM
 * have something to learn: -ly ADV, -ed VERB, -tion NOUN, -ous ADJ. */
static const char *const advs[] = {"quickly", "slowly", "badly", "softly", "gladly", "boldly"};
static const char *const verbs[] = {"walked", "jumped", "played", "called", "opened", "moved"};
static const char *const nouns[] = {"nation", "station", "motion", "notion", "fraction", "lotion"};
static const char *const adjs[] = {"famous", "nervous", "curious", "joyous", "various", "odious"};
static const char *const dets[] = {"the", "a", "The", "A"};

#define NSENT 30

/* Sentence i: six words in one of three orders, so that position alone
 * does not give the tag. */
static void sample_sentence(int i, const char *forms[6], const char *tags[6])
{
    static const char *const order[3][6] = {
        {"DET", "ADJ", "NOUN", "VERB", "ADV", "PUNCT"},
        {"ADV", "DET", "NOUN", "VERB", "ADJ", "PUNCT"},
        {"DET", "NOUN", "ADV", "VERB", "ADJ", "PUNCT"}};
    for (int k = 0; k < 6; k++) {
        const char *t = tags[k] = order[i % 3][k];
        int j = (i * (k + 5) + k) % 6;
        forms[k] = !strcmp(t, "DET")    ? dets[(i + k) % 4]
                   : !strcmp(t, "ADJ")  ? adjs[j]
                   : !strcmp(t, "NOUN") ? nouns[j]
                   : !strcmp(t, "VERB") ? verbs[j]
                   : !strcmp(t, "ADV")  ? advs[j]
                                        : ".";
    }
}

/* The sample as a CoNLL-U file (a comment and a multiword range included,
 * which the reader keeps aside), read back through cl_tagger_corpus. */
static const char *write_sample(char *path, size_t size)
{
    snprintf(path, size, "%s/sample.conllu", cl_test_tmpdir());
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    for (int i = 0; i < NSENT; i++) {
        const char *forms[6], *tags[6];
        sample_sentence(i, forms, tags);
        fprintf(f, "# sent_id = %d\n", i + 1);
        if (i == 0)
            fprintf(f, "1-2\t%s%s\t_\t_\t_\t_\t_\t_\t_\t_\n", forms[0], forms[1]);
        for (int k = 0; k < 6; k++)
            fprintf(f, "%d\t%s\t_\t%s\t_\t_\t_\t_\t_\t_\n", k + 1, forms[k], tags[k]);
        fprintf(f, "\n");
    }
    ck_assert_int_eq(fclose(f), 0);
    return path;
}

static cl_tagger_config small_config(void)
{
    cl_tagger_config c = cl_tagger_config_defaults();
    c.feat.buckets = 1 << 12;
    c.char_emb = 8, c.char_hidden = 16, c.feat_emb = 8, c.word_emb = 8;
    c.word_hidden = 24, c.dropout = 0.1f, c.word_dropout = 0.05f, c.char_dropout = 0;
    return c;
}

/* EWT-style raw-text structure to learn from: multiword tokens (don't,
 * I'm), SpaceAfter=No, "Mr." inside a sentence. */
static const char *write_raw_treebank(char *path, size_t size)
{
    snprintf(path, size, "%s/raw.conllu", cl_test_tmpdir());
    static const char text[] =
        "# text = I don't know Mr. Smith.\n"
        "1\tI\t_\tPRON\t_\t_\t_\t_\t_\t_\n"
        "2-3\tdon't\t_\t_\t_\t_\t_\t_\t_\t_\n"
        "2\tdo\t_\tAUX\t_\t_\t_\t_\t_\t_\n"
        "3\tn't\t_\tPART\t_\t_\t_\t_\t_\t_\n"
        "4\tknow\t_\tVERB\t_\t_\t_\t_\t_\t_\n"
        "5\tMr.\t_\tPROPN\t_\t_\t_\t_\t_\t_\n"
        "6\tSmith\t_\tPROPN\t_\t_\t_\t_\t_\tSpaceAfter=No\n"
        "7\t.\t_\tPUNCT\t_\t_\t_\t_\t_\t_\n\n"
        "# text = I'm here.\n"
        "1-2\tI'm\t_\t_\t_\t_\t_\t_\t_\t_\n"
        "1\tI\t_\tPRON\t_\t_\t_\t_\t_\t_\n"
        "2\t'm\t_\tAUX\t_\t_\t_\t_\t_\t_\n"
        "3\there\t_\tADV\t_\t_\t_\t_\t_\tSpaceAfter=No\n"
        "4\t.\t_\tPUNCT\t_\t_\t_\t_\t_\t_\n\n";
    cl_test_write(path, text, sizeof text - 1);
    return path;
}

/* A model without a language model holding a fresh tagger for the sample. */
static cl_model *sample_model(const cl_tagger_corpus *c, int use_lm, cl_rng *rng)
{
    cl_text_opts text = cl_text_defaults();
    cl_vocab v;
    cl_model *m;
    ck_assert_int_eq(cl_tagger_vocab_build(&v, c, &text, NULL), 0);
    cl_encoder_config ec = cl_tagger_tiny_encoder(cl_vocab_size(&v));
    if (use_lm) /* a real (small) language model to read states from */
        ec.emb = ec.rnn.input = 8, ec.rnn.hidden = 12;
    ck_assert_int_eq(cl_model_create(&m, &text, &v, &ec, rng), 0);
    if (use_lm)
        ck_assert_int_eq(cl_model_add_head(m, &cl_lm_head_ops, cl_lm_head_new(0.1f), rng), 0);
    cl_tagger_config cfg = small_config();
    cfg.use_lm = use_lm;
    ck_assert_int_eq(cl_tagger_config_build(&cfg, c, 1), 0);
    char raw[512];
    const char *paths[] = {write_raw_treebank(raw, sizeof raw)};
    ck_assert_int_eq(cl_seg_learn(&cfg.seg, paths, 1, NULL), 0);
    ck_assert_int_eq(cfg.seg.nmwt, 2);      /* don't, i'm */
    ck_assert_int_eq(cfg.seg.nabbrevs, 1);  /* mr. */
    ck_assert_int_eq(cl_model_add_head(m, &cl_tagger_head_ops, cl_tagger_config_dup(&cfg), rng), 0);
    cl_tagger_config_clear(&cfg);
    return m;
}

static void read_sample(cl_tagger_corpus *c)
{
    char path[512];
    cl_tagger_corpus_init(c);
    ck_assert_int_eq(cl_tagger_corpus_read_conllu(c, write_sample(path, sizeof path),
                                                  CL_CONLLU_UPOS, NULL), 0);
    ck_assert_int_eq(c->nsent, NSENT);
    ck_assert_int_eq(c->nwords, NSENT * 6);
}

/* The sample read into c and a fresh model for it (sample_model), rng
 * seeded with seed: how every test here begins. */
static cl_model *sample_setup(cl_tagger_corpus *c, cl_rng *rng, uint64_t seed, int use_lm)
{
    cl_rng_seed(rng, seed);
    read_sample(c);
    return sample_model(c, use_lm, rng);
}

/* Train the sample's tagger (epochs < 0: not at all); returns its accuracy on the sample. */
static double train_sample(cl_model *m, const cl_tagger_corpus *c, int epochs)
{
    cl_tagger *t;
    cl_tagger_data *x;
    cl_tagger_eval e;
    ck_assert_int_eq(cl_tagger_create(&t, m, NULL), 0);
    ck_assert_int_eq(cl_tagger_data_prepare(&x, t, c, NULL), 0);
    cl_train_config tc = cl_train_defaults();
    tc.max_epochs = epochs, tc.lr = 1e-2f;
    if (epochs > 0)
        ck_assert_int_eq(cl_tagger_train(t, x, NULL, 4, &tc, NULL), 0);
    ck_assert_int_eq(cl_tagger_evaluate(t, x, 8, &e, NULL), 0);
    double acc = cl_tagger_eval_accuracy(&e);
    ck_assert_int_eq(e.words, NSENT * 6);
    cl_tagger_eval_free(&e);
    cl_tagger_data_free(x);
    cl_tagger_free(t);
    return acc;
}

START_TEST(tiny_tagger_learns_the_sample)
{
    cl_tagger_corpus c;
    cl_rng rng;
    cl_model *m = sample_setup(&c, &rng, 7, 0);
    double before = train_sample(m, &c, -1); /* untrained */
    double after = train_sample(m, &c, 25);
    printf("tagger: sample accuracy %.3f untrained, %.3f after 25 epochs\n", before, after);
    ck_assert(before < 1.0);
    ck_assert(after == 1.0);
    cl_model_free(m);
    cl_tagger_corpus_free(&c);
}
END_TEST

/* Unseen words of the learnt patterns get their tags from the suffix. */
START_TEST(tagger_generalises_suffixes_and_scores_unseen_words)
{
    cl_tagger_corpus c, test;
    cl_rng rng;
    cl_model *m = sample_setup(&c, &rng, 11, 0);
    ck_assert(train_sample(m, &c, 30) == 1.0);
    const char *forms[6] = {"the", "dangerous", "creation", "painted", "warmly", "."};
    const char *tags[6] = {"DET", "ADJ", "NOUN", "VERB", "ADV", "PUNCT"};
    cl_tagger_corpus_init(&test);
    ck_assert_int_eq(cl_tagger_corpus_add(&test, forms, tags, 6), 0);
    cl_tagger *t;
    cl_tagger_data *x;
    cl_tagger_eval e;
    ck_assert_int_eq(cl_tagger_create(&t, m, NULL), 0);
    ck_assert_int_eq(cl_tagger_data_prepare(&x, t, &test, NULL), 0);
    ck_assert_int_eq(cl_tagger_evaluate(t, x, 1, &e, NULL), 0);
    ck_assert_int_eq(e.words, 6);
    ck_assert_int_eq(e.unseen, 4);
    printf("tagger: unseen-word accuracy %.2f\n", cl_tagger_eval_unseen_accuracy(&e));
    ck_assert(cl_tagger_eval_unseen_accuracy(&e) >= 0.75);
    cl_tagger_eval_free(&e);
    cl_tagger_data_free(x);
    cl_tagger_free(t);
    cl_model_free(m);
    cl_tagger_corpus_free(&c);
    cl_tagger_corpus_free(&test);
}
END_TEST

/* One step of a fresh sample model, all sentences in one batch; ema as given.
 * Returns the head's parameters after training (and before, in *init). */
static float *one_step(float ema, float **init, size_t *n)
{
    cl_tagger_corpus c;
    cl_rng rng;
    cl_model *m = sample_setup(&c, &rng, 13, 0);
    size_t pb, pe;
    cl_model_param_range(m, "head.tagger", &pb, &pe);
    *n = pe - pb;
    float *w = malloc(*n * sizeof *w);
    *init = malloc(*n * sizeof **init);
    memcpy(*init, m->params.w + pb, *n * sizeof *w);
    cl_tagger *t;
    cl_tagger_data *x;
    ck_assert_int_eq(cl_tagger_create(&t, m, NULL), 0);
    ck_assert_int_eq(cl_tagger_data_prepare(&x, t, &c, NULL), 0);
    cl_train_config tc = cl_train_defaults();
    tc.max_epochs = 1, tc.ema = ema;
    ck_assert_int_eq(cl_tagger_train(t, x, NULL, NSENT, &tc, NULL), 0);
    memcpy(w, m->params.w + pb, *n * sizeof *w);
    cl_tagger_data_free(x);
    cl_tagger_free(t);
    cl_model_free(m);
    cl_tagger_corpus_free(&c);
    return w;
}

/* After one step the average is, by the warm-up, 0.1 * initial + 0.9 * raw,
 * and that is what training leaves in the model. */
START_TEST(ema_keeps_the_warmed_up_average)
{
    size_t n;
    float *init0, *init1, *raw = one_step(0, &init0, &n), *avg = one_step(0.99f, &init1, &n);
    ck_assert_int_eq(memcmp(init0, init1, n * sizeof *init0), 0);
    size_t moved = 0;
    for (size_t i = 0; i < n; i++) {
        float want = 0.1f * init0[i] + 0.9f * raw[i];
        ck_assert_msg(fabsf(avg[i] - want) <= 1e-6f + 1e-5f * fabsf(want), "param %zu: %g, want %g",
                      i, avg[i], want);
        moved += raw[i] != init0[i];
    }
    ck_assert(moved > 0);
    free(init0), free(init1), free(raw), free(avg);
}
END_TEST

/* ==== model files ========================================================= */

static int *predict_sample(cl_model *m, const cl_tagger_corpus *c)
{
    cl_tagger *t;
    cl_tagger_data *x;
    ck_assert_int_eq(cl_tagger_create(&t, m, NULL), 0);
    ck_assert_int_eq(cl_tagger_data_prepare(&x, t, c, NULL), 0);
    int *tags = malloc(sizeof *tags * (size_t)c->nwords), sents[NSENT];
    for (int s = 0; s < NSENT; s++)
        sents[s] = s;
    ck_assert_int_eq(cl_tagger_predict(t, x, sents, NSENT, tags), 0);
    cl_tagger_data_free(x);
    cl_tagger_free(t);
    return tags;
}

/* Tag probabilities of every word of the sample with t's products in
 * precision p, in batches of `batch` sentences, with the distinct-word cache
 * of cap words when cap > 0 (an inference-only tagger, as cl_annotate
 * makes; *ntypes gets the sample's distinct words); NULL (and *err) when
 * the CPU refuses p.  Caller frees. */
static float *sample_probs(cl_model *m, const cl_tagger_corpus *c, cl_precision p, int batch,
                           int cap, int *ntypes, int *err)
{
    cl_tagger *t;
    cl_tagger_data *x;
    ck_assert_int_eq(cl_tagger_create(&t, m, NULL), 0);
    if ((*err = cl_tagger_set_precision(t, p))) {
        cl_tagger_free(t);
        return NULL;
    }
    if (cap)
        cl_tagger_set_inference(t);
    ck_assert_int_eq(cl_tagger_data_prepare(&x, t, c, NULL), 0);
    int ntags = cl_tagger_config_of(t)->ntags, sents[NSENT];
    int *tags = malloc(sizeof *tags * (size_t)c->nwords);
    float *probs = malloc(sizeof *probs * (size_t)c->nwords * ntags);
    for (int s = 0; s < NSENT; s++)
        sents[s] = s;
    if (cap)
        ck_assert_int_eq(cl_tagger_types_begin(t, x, cap), 0);
    for (int s = 0; s < NSENT; s += batch)
        ck_assert_int_eq(cl_tagger_predict_probs(t, x, sents + s, batch, tags, probs), 0);
    *ntypes = t->types.ntypes;
    if (cap) /* it served the batches */
        ck_assert_int_gt(t->types.used, 0);
    cl_tagger_types_end(t);
    free(tags);
    cl_tagger_data_free(x);
    cl_tagger_free(t);
    return probs;
}

/* Inference in bf16 (tag, eval, serve default to it where the CPU has it)
 * stays within 0.01 of fp32's tag probabilities, with the LM features'
 * encoder, the char and the word BiLSTMs all in bf16. */
#define BF16_PROB_TOL 0.01
START_TEST(bf16_tagging_stays_near_fp32)
{
    cl_tagger_corpus c;
    cl_rng rng;
    cl_model *m = sample_setup(&c, &rng, 11, 1);
    train_sample(m, &c, 10);
    int e32, e16, ntypes;
    float *p32 = sample_probs(m, &c, CL_PREC_FP32, NSENT, 0, &ntypes, &e32);
    float *p16 = sample_probs(m, &c, CL_PREC_BF16, NSENT, 0, &ntypes, &e16);
    ck_assert_int_eq(e32, 0);
    if (cl_precision_resolve(CL_PREC_AUTO) != CL_PREC_BF16) {
        printf("bf16 tagging: no AVX512-BF16/AMX here (%s); checked that bf16 is refused\n",
               cl_mm_isa());
        ck_assert_int_eq(e16, CL_EINVAL);
    } else {
        ck_assert_int_eq(e16, 0);
        size_t n = (size_t)c.nwords * ((const cl_tagger_config *)cl_model_head(m, "head.tagger"))->ntags;
        double worst = 0;
        for (size_t i = 0; i < n; i++)
            worst = fmax(worst, fabs((double)p16[i] - p32[i]));
        printf("bf16 tagging: largest tag probability difference to fp32 %.2e (bound %g)\n",
               worst, BF16_PROB_TOL);
        ck_assert_msg(worst < BF16_PROB_TOL, "bf16 moved a probability by %g", worst);
        ck_assert_msg(worst > 0, "bf16 gave fp32's probabilities bit for bit: did it run?");
    }
    free(p32), free(p16);
    cl_model_free(m);
    cl_tagger_corpus_free(&c);
}
END_TEST

/* Tagging computes each distinct word's char BiLSTM and input projection
 * once and keeps them in a bounded cache: the probabilities are those of
 * the plain batches, also when the cache overflows and starts again. */
START_TEST(distinct_word_cache_gives_the_batch_probabilities)
{
    cl_tagger_corpus c;
    cl_rng rng;
    cl_model *m = sample_setup(&c, &rng, 5, 0);
    train_sample(m, &c, 3);
    int ntags = ((const cl_tagger_config *)cl_model_head(m, "head.tagger"))->ntags, ntypes;
    for (int p = CL_PREC_FP32; p <= CL_PREC_BF16; p++) {
        int err, caps[] = {12, 1000}; /* batches of 2 sentences: 12 words */
        float *plain = sample_probs(m, &c, (cl_precision)p, 2, 0, &ntypes, &err);
        if (err)
            continue; /* no bf16 here */
        for (int k = 0; k < 2; k++) {
            float *cached = sample_probs(m, &c, (cl_precision)p, 2, caps[k], &ntypes, &err);
            ck_assert_int_gt(ntypes, 12);          /* the small cache overflows */
            ck_assert_int_lt(ntypes, c.nwords / 2); /* and words repeat */
            double worst = 0;
            for (size_t i = 0; i < (size_t)c.nwords * ntags; i++)
                worst = fmax(worst, fabs((double)cached[i] - plain[i]));
            ck_assert_msg(worst < 1e-6, "%s, cache of %d words: probabilities moved by %g",
                          cl_precision_name((cl_precision)p), caps[k], worst);
            free(cached);
        }
        free(plain);
    }
    cl_model_free(m);
    cl_tagger_corpus_free(&c);
}
END_TEST

START_TEST(model_with_lm_and_tagger_round_trips)
{
    cl_tagger_corpus c;
    cl_rng rng;
    cl_model *m = sample_setup(&c, &rng, 3, 1), *back;
    size_t lb, le;
    cl_model_param_range(m, "head.lm", &lb, &le);
    ck_assert(le > lb);
    float *lm = malloc((le - lb) * sizeof *lm);
    memcpy(lm, m->params.w + lb, (le - lb) * sizeof *lm);
    ck_assert(train_sample(m, &c, 3) > 0); /* trains the tagger only */
    ck_assert_int_eq(memcmp(lm, m->params.w + lb, (le - lb) * sizeof *lm), 0);
    char path[512];
    snprintf(path, sizeof path, "%s/lm-tagger.model", cl_test_tmpdir());
    cl_diag d = {{0}};
    ck_assert_int_eq(cl_model_save(m, path, NULL, NULL, &d), 0);
    ck_assert_msg(cl_model_load(&back, path, NULL, &d) == 0, "%s", d.msg);
    ck_assert_ptr_nonnull(cl_model_head(back, "head.lm"));
    const cl_tagger_config *a = cl_model_head(m, "head.tagger"), *b = cl_model_head(back, "head.tagger");
    ck_assert_ptr_nonnull(b);
    ck_assert_int_eq(b->use_lm, 1);
    ck_assert_int_eq(b->ntags, a->ntags);
    ck_assert_int_eq(b->nforms, a->nforms);
    ck_assert_str_eq(b->tags[2], a->tags[2]);
    ck_assert_int_eq(back->params.n, m->params.n);
    cl_model_param_range(back, "head.lm", &lb, &le);
    ck_assert_int_eq(memcmp(lm, back->params.w + lb, (le - lb) * sizeof *lm), 0);
    int *p1 = predict_sample(m, &c), *p2 = predict_sample(back, &c);
    ck_assert_int_eq(memcmp(p1, p2, sizeof *p1 * (size_t)c.nwords), 0);
    free(p1), free(p2), free(lm);
    cl_model_free(back);
    cl_model_free(m);
    cl_tagger_corpus_free(&c);
}
END_TEST

/* Training reads the frozen encoder's states from a cache filled once per
 * data set: it must hold exactly what a batch computes, in any batch order. */
START_TEST(cached_lm_states_match_the_batch)
{
    cl_tagger_corpus c;
    cl_rng rng;
    cl_model *m = sample_setup(&c, &rng, 11, 1);
    cl_tagger *t;
    cl_tagger_data *x;
    ck_assert_int_eq(cl_tagger_create(&t, m, NULL), 0);
    ck_assert_int_eq(cl_tagger_data_prepare(&x, t, &c, NULL), 0);
    int S = x->nsent, N, Tc, Tw, Tl, *all = malloc(sizeof *all * (size_t)S);
    for (int s = 0; s < S; s++)
        all[s] = S - 1 - s; /* reversed: rows differ from sentence order */
    cl_tagger_batch_shape(x, all, S, &N, &Tc, &Tw, &Tl);
    ck_assert_int_eq(cl_tagger_ws_reserve(t, N, S, Tc, Tw, Tl), 0);
    size_t D = (size_t)t->lm_dim, n = (size_t)x->nwords * D;
    ck_assert(D > 0);
    float *one = calloc(n, sizeof *one), *batch = calloc(n, sizeof *batch);
    for (int s = 0; s < S; s++) /* one sentence at a time */
        ck_assert_int_eq(cl_tagger_lm_states(t, x, &s, 1, one), 0);
    ck_assert_int_eq(cl_tagger_lm_states(t, x, all, S, batch), 0);
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(fabsf(one[i] - batch[i]) < 1e-5f, "state %zu: %g vs %g", i, one[i], batch[i]);
    long k1, k2;
    double plain = cl_tagger_forward(t, x, all, S, 0, NULL, &k1);
    t->lmc[0] = batch, t->lmc_x[0] = x;
    double cached = cl_tagger_forward(t, x, all, S, 0, NULL, &k2);
    t->lmc[0] = NULL, t->lmc_x[0] = NULL;
    ck_assert_int_eq(k1, k2);
    ck_assert_msg(fabs(plain - cached) < 1e-6 * fabs(plain), "loss %g vs %g", plain, cached);
    free(one), free(batch), free(all);
    cl_tagger_data_free(x);
    cl_tagger_free(t);
    cl_model_free(m);
    cl_tagger_corpus_free(&c);
}
END_TEST

/* ==== the tool ============================================================ */

/* A trained sample tagger saved to a file (for the CLI tests). */
static const char *sample_model_file(char *path, size_t size)
{
    cl_tagger_corpus c;
    cl_rng rng;
    cl_model *m = sample_setup(&c, &rng, 5, 0);
    ck_assert(train_sample(m, &c, 25) == 1.0);
    snprintf(path, size, "%s/sample.model", cl_test_tmpdir());
    ck_assert_int_eq(cl_model_save(m, path, NULL, NULL, NULL), 0);
    cl_model_free(m);
    cl_tagger_corpus_free(&c);
    return path;
}

START_TEST(tag_reads_stdin)
{
    char model[512], cmd[2048], out[8192];
    sample_model_file(model, sizeof model);
    snprintf(cmd, sizeof cmd, "printf 'The famous nation walked quickly.\\n\\nA curious motion "
                              "opened slowly.\\n' | %s tag -m %s", CL_TOOL, model);
    ck_assert_int_eq(cl_test_shell(cmd, out, sizeof out), 0);
    ck_assert_str_eq(out, "The/DET famous/ADJ nation/NOUN walked/VERB quickly/ADV ./PUNCT\n\n"
                          "A/DET curious/ADJ motion/NOUN opened/VERB slowly/ADV ./PUNCT\n");
    snprintf(cmd, sizeof cmd, "echo 'The famous nation walked quickly.' | %s tag -m %s "
                              "--output conllu", CL_TOOL, model);
    ck_assert_int_eq(cl_test_shell(cmd, out, sizeof out), 0);
    ck_assert_str_eq(out, "# sent_id = 1\n# text = The famous nation walked quickly.\n"
                          "1\tThe\t_\tDET\t_\t_\t_\t_\t_\t_\n"
                          "2\tfamous\t_\tADJ\t_\t_\t_\t_\t_\t_\n"
                          "3\tnation\t_\tNOUN\t_\t_\t_\t_\t_\t_\n"
                          "4\twalked\t_\tVERB\t_\t_\t_\t_\t_\t_\n"
                          "5\tquickly\t_\tADV\t_\t_\t_\t_\t_\tSpaceAfter=No\n"
                          "6\t.\t_\tPUNCT\t_\t_\t_\t_\t_\t_\n\n");
}
END_TEST

START_TEST(tag_conllu_keeps_other_columns)
{
    char model[512], cmd[2048], out[8192];
    sample_model_file(model, sizeof model);
    snprintf(cmd, sizeof cmd, "printf '# c\\n1-2\\tA famous\\t_\\t_\\t_\\t_\\t_\\t_\\t_\\t_\\n"
                              "1\\tA\\ta\\tX\\tDT\\t_\\t2\\tdet\\t_\\tSpaceAfter=No\\n"
                              "2\\tfamous\\t_\\t_\\t_\\t_\\t_\\t_\\t_\\t_\\n\\n' | %s tag -m %s "
                              "--input conllu", CL_TOOL, model);
    ck_assert_int_eq(cl_test_shell(cmd, out, sizeof out), 0);
    ck_assert_str_eq(out, "# c\n1-2\tA famous\t_\t_\t_\t_\t_\t_\t_\t_\n"
                          "1\tA\ta\tDET\tDT\t_\t2\tdet\t_\tSpaceAfter=No\n"
                          "2\tfamous\t_\tADJ\t_\t_\t_\t_\t_\t_\n\n");
}
END_TEST

/* A program that writes a line and waits for its tags gets them while the
 * pipe stays open (the deadline is generous for a loaded machine; without
 * streaming the answer never comes before the input ends). */
/* `charlstm tag -m SAMPLE-MODEL args` as a co-process. */
static void start_tag(cl_test_coproc *c, const char *args)
{
    char model[512], cmd[2048];
    sample_model_file(model, sizeof model);
    snprintf(cmd, sizeof cmd, "'%s' tag -m '%s' %s", CL_TOOL, model, args);
    cl_test_coproc_start(c, cmd);
}

START_TEST(tag_answers_a_coprocess)
{
    char ans[4096];
    cl_test_coproc c;
    start_tag(&c, "");
    /* the first answer waits for the model to load too */
    double ms = cl_test_coproc_ask(&c, "The famous nation walked quickly.\n", ans, sizeof ans, 30000);
    ck_assert_msg(ms >= 0, "no answer within 30 s");
    ck_assert_str_eq(ans, "The/DET famous/ADJ nation/NOUN walked/VERB quickly/ADV ./PUNCT\n");
    ms = cl_test_coproc_ask(&c, "A curious motion opened slowly.\n", ans, sizeof ans, 5000);
    ck_assert_msg(ms >= 0, "no answer within 5 s");
    ck_assert_str_eq(ans, "A/DET curious/ADJ motion/NOUN opened/VERB slowly/ADV ./PUNCT\n");
    ck_assert_int_eq(cl_test_coproc_finish(&c), 0);
}
END_TEST

/* CoNLL-U through a pipe: a sentence is answered at its blank line, also
 * when the writer has already begun the next one and waits. */
START_TEST(tag_conllu_answers_a_coprocess)
{
    char ans[4096];
    cl_test_coproc c;
    start_tag(&c, "--input conllu");
    const char *one = "# sent_id = a\n1\tThe\t_\t_\t_\t_\t_\t_\t_\t_\n"
                      "2\tnation\t_\t_\t_\t_\t_\t_\t_\tSpaceAfter=No\n"
                      "3\t.\t_\t_\t_\t_\t_\t_\t_\t_\n\n";
    char text[1024];
    snprintf(text, sizeof text, "%s# sent_id = b\n1\tA\t_\t_\t_\t_\t_\t_\t_\t_\n", one);
    ck_assert_msg(cl_test_coproc_ask_until(&c, text, "\n\n", ans, sizeof ans, 30000) >= 0,
                  "no answer within 30 s (the model loads first)");
    ck_assert_str_eq(ans, "# sent_id = a\n1\tThe\t_\tDET\t_\t_\t_\t_\t_\t_\n"
                          "2\tnation\t_\tNOUN\t_\t_\t_\t_\t_\tSpaceAfter=No\n"
                          "3\t.\t_\tPUNCT\t_\t_\t_\t_\t_\t_\n\n");
    ck_assert_msg(cl_test_coproc_ask_until(&c, "2\tmotion\t_\t_\t_\t_\t_\t_\t_\t_\n\n",
                                           "\n\n", ans, sizeof ans, 5000) >= 0,
                  "no answer within 5 s");
    ck_assert_str_eq(ans, "# sent_id = b\n1\tA\t_\tDET\t_\t_\t_\t_\t_\t_\n"
                          "2\tmotion\t_\tNOUN\t_\t_\t_\t_\t_\t_\n\n");
    ck_assert_int_eq(cl_test_coproc_finish(&c), 0);
}
END_TEST

/* A paragraph is one input line: its sentences come back as one JSON line
 * before the next paragraph is written. */
START_TEST(tag_paragraphs_answer_a_coprocess)
{
    char ans[1 << 14];
    cl_test_coproc c;
    start_tag(&c, "--input paragraphs --output json");
    const char *para[] = {"Mr. Smith arrived. He sat.\n", "The nation walked quickly.\n"};
    for (int i = 0; i < 2; i++) {
        ck_assert_msg(cl_test_coproc_ask(&c, para[i], ans, sizeof ans, i ? 5000 : 30000) >= 0,
                      "no answer in time (the first waits for the model to load)");
        cJSON *j = cJSON_Parse(ans);
        ck_assert_msg(j != NULL, "not JSON: %s", ans);
        ck_assert_int_eq((int)cJSON_GetObjectItem(j, "line")->valuedouble, i + 1);
        ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(j, "sentences")), 2 - i);
        cJSON_Delete(j);
    }
    ck_assert_int_eq(cl_test_coproc_finish(&c), 0);
}
END_TEST

/* A bad byte on line 3: lines 1-2 are tagged on stdout, the message names
 * the source once with line and byte; --replace-invalid tags all three. */
START_TEST(tag_bad_byte_keeps_the_lines_before)
{
    char model[512], cmd[2048], out[8192];
    sample_model_file(model, sizeof model);
    const char *input = "printf 'The famous nation.\\nA curious motion.\\nThe \\377 nation.\\n"
                        "A nation.\\n'";
    snprintf(cmd, sizeof cmd, "%s | '%s' tag -m '%s' 2>&1", input, CL_TOOL, model);
    ck_assert_int_ne(cl_test_shell(cmd, out, sizeof out), 0);
    ck_assert_msg(!strncmp(out, "The/DET famous/ADJ nation/NOUN ./PUNCT\nA/DET curious/ADJ "
                  "motion/NOUN ./PUNCT\n", 66), "%s", out);
    ck_assert_msg(strstr(out, "<stdin>:3: invalid UTF-8 at byte 5") != NULL, "%s", out);
    ck_assert_msg(strstr(strstr(out, "<stdin>") + 1, "<stdin>") == NULL, "%s", out);
    snprintf(cmd, sizeof cmd, "%s | '%s' tag -m '%s' --replace-invalid 2>&1", input, CL_TOOL, model);
    ck_assert_int_eq(cl_test_shell(cmd, out, sizeof out), 0);
    ck_assert_msg(strstr(out, "The/DET \xEF\xBF\xBD/") != NULL, "%s", out);
}
END_TEST

/* `printf FORMAT | charlstm tag -m MODEL ARGS` into out; it must succeed. */
static void tag_piped(const char *model, const char *format, const char *args, char *out,
                      size_t size)
{
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "printf '%s' | '%s' tag -m '%s' %s", format, CL_TOOL, model, args);
    int rc = cl_test_shell(cmd, out, size);
    ck_assert_msg(rc == 0, "%s: exit %d: %s", cmd, rc, out);
}

/* Raw text to UD: multiword tokens and SpaceAfter as the treebank has
 * them, sent_id and text; the output reads back through --input conllu. */
START_TEST(tag_raw_text_to_ud_round_trips)
{
    char model[512], cmd[2048], out[8192], path[512], back[8192];
    sample_model_file(model, sizeof model);
    tag_piped(model, "I don\\047t think I\\047m late, Mr. Smith.\\n", "--output conllu", out,
              sizeof out);
    ck_assert_msg(!strncmp(out, "# sent_id = 1\n# text = I don't think I'm late, Mr. Smith.\n"
                  "1\tI\t", 59), "%s", out);
    const char *want[] = {"\n2-3\tdon't\t_\t_\t_\t_\t_\t_\t_\t_\n2\tdo\t",
                          "\n3\tn't\t", "\n5-6\tI'm\t", "\n6\t'm\t",
                          "\n7\tlate\t_\t", "\tSpaceAfter=No\n8\t,\t", "\n9\tMr.\t",
                          "\n10\tSmith\t_\t"};
    for (size_t i = 0; i < sizeof want / sizeof *want; i++)
        ck_assert_msg(strstr(out, want[i]) != NULL, "no %s in\n%s", want[i], out);
    snprintf(path, sizeof path, "%s/raw-out.conllu", cl_test_tmpdir());
    cl_test_write(path, out, strlen(out));
    snprintf(cmd, sizeof cmd, "'%s' tag -m '%s' --input conllu < '%s'", CL_TOOL, model, path);
    ck_assert_int_eq(cl_test_shell(cmd, back, sizeof back), 0);
    ck_assert_str_eq(back, out);
    /* --output tags shows a multiword token as its words */
    tag_piped(model, "I don\\047t.\\n", "", out, sizeof out);
    ck_assert_msg(!strncmp(out, "I/", 2) && strstr(out, " do/") && strstr(out, " n't/"), "%s", out);
}
END_TEST

/* A paragraph is split into sentences; the learned "Mr." does not end one. */
START_TEST(tag_paragraphs_split_sentences)
{
    char model[512], out[8192];
    sample_model_file(model, sizeof model);
    tag_piped(model, "Mr. Smith arrived. He sat.\\n\\nIt was late!\\n", "--input paragraphs", out,
              sizeof out);
    const char *l2 = strchr(out, '\n'), *l3 = l2 ? strchr(l2 + 1, '\n') : NULL;
    ck_assert_msg(!strncmp(out, "Mr./", 4) && strstr(out, " arrived/") < l2 && l2 && l3 &&
                  !strncmp(l2 + 1, "He/", 3), "%s", out);
    ck_assert_msg(strstr(l3, "\n\nIt/") == l3, "%s", out);
}
END_TEST

/* --output json: one object per input line, parsed with cJSON. */
/* --precision: fp32 and auto tag (bf16 where the CPU has it, else refused
 * by name), a word that is not a precision is a usage error. */
START_TEST(tag_precision_option)
{
    char model[512], cmd[2048], fp32[4096], out[4096];
    sample_model_file(model, sizeof model);
    const char *text = "The famous nation walked quickly.\\n";
    tag_piped(model, text, "--precision fp32", fp32, sizeof fp32);
    ck_assert_msg(!strncmp(fp32, "The/", 4), "%s", fp32);
    tag_piped(model, text, "--precision auto", out, sizeof out);
    int words_fp32 = 0, words = 0; /* one tag a word, in either */
    for (const char *c = fp32; *c; c++)
        words_fp32 += *c == '/';
    for (const char *c = out; *c; c++)
        words += *c == '/';
    ck_assert_msg(words == words_fp32 && words == 6, "%s\n%s", fp32, out);
    snprintf(cmd, sizeof cmd, "echo x | '%s' tag -m '%s' --precision bf16 2>&1", CL_TOOL, model);
    int rc = cl_test_shell(cmd, out, sizeof out);
    if (cl_precision_resolve(CL_PREC_AUTO) == CL_PREC_BF16)
        ck_assert_msg(rc == 0, "%s", out);
    else
        ck_assert_msg(rc == 1 && strstr(out, "neither AMX nor AVX512-BF16"), "%d: %s", rc, out);
    snprintf(cmd, sizeof cmd, "echo x | '%s' tag -m '%s' --precision fp16 2>&1", CL_TOOL, model);
    ck_assert_int_eq(cl_test_shell(cmd, out, sizeof out), 2);
}
END_TEST

START_TEST(tag_json_parses)
{
    char model[512], out[16384];
    sample_model_file(model, sizeof model);
    tag_piped(model, "The nation don\\047t.\\n\\n", "--output json --top 2", out, sizeof out);
    char *nl = strchr(out, '\n');
    ck_assert_ptr_nonnull(nl);
    *nl = 0;
    cJSON *j = cJSON_Parse(out), *s, *w, *t;
    ck_assert_msg(j != NULL, "not JSON: %s", out);
    ck_assert_int_eq(cJSON_GetObjectItem(j, "line")->valueint, 1);
    s = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "sentences"), 0);
    ck_assert_str_eq(cJSON_GetObjectItem(s, "text")->valuestring, "The nation don't.");
    w = cJSON_GetObjectItem(s, "words");
    ck_assert_int_eq(cJSON_GetArraySize(w), 5);
    ck_assert_str_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(w, 1), "tag")->valuestring, "NOUN");
    ck_assert_int_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(w, 3), "start")->valueint, 13);
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(cJSON_GetArrayItem(w, 1), "top")), 2);
    double p = cJSON_GetObjectItem(cJSON_GetArrayItem(w, 1), "prob")->valuedouble;
    ck_assert(p > 0.5 && p <= 1);
    t = cJSON_GetArrayItem(cJSON_GetObjectItem(s, "tokens"), 2); /* don't */
    ck_assert_str_eq(cJSON_GetObjectItem(t, "text")->valuestring, "don't");
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(t, "words")), 2);
    ck_assert(cJSON_IsFalse(cJSON_GetObjectItem(t, "space_after")));
    cJSON_Delete(j);
    j = cJSON_Parse(nl + 1); /* the empty line: no sentence */
    ck_assert_ptr_nonnull(j);
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(j, "sentences")), 0);
    cJSON_Delete(j);
}
END_TEST

/* JSON from a command, parsed (fails the test when it is not JSON). */
static cJSON *run_json(const char *cmd)
{
    static char out[65536];
    ck_assert_msg(cl_test_shell(cmd, out, sizeof out) == 0, "%s: %s", cmd, out);
    cJSON *j = cJSON_Parse(out);
    ck_assert_msg(j != NULL, "not JSON: %s", out);
    return j;
}

static double field(cJSON *j, const char *obj, const char *key)
{
    cJSON *o = obj ? cJSON_GetObjectItem(j, obj) : j;
    ck_assert_msg(cJSON_IsNumber(cJSON_GetObjectItem(o, key)), "no %s.%s", obj, key);
    return cJSON_GetObjectItem(o, key)->valuedouble;
}

/* eval --raw on the raw-text treebank the model learned from: the paragraph
 * "I don't know Mr. Smith. I'm here." is split in two sentences and every
 * token and multiword token is found; the text report has every row. */
START_TEST(eval_raw_scores_end_to_end)
{
    char model[512], cmd[2048], raw[512], out[8192];
    sample_model_file(model, sizeof model);
    write_raw_treebank(raw, sizeof raw);
    snprintf(cmd, sizeof cmd, "'%s' eval --raw -m '%s' '%s' --output json", CL_TOOL, model, raw);
    cJSON *j = run_json(cmd);
    ck_assert_str_eq(cJSON_GetObjectItem(j, "task")->valuestring, "tagger-raw");
    ck_assert(field(j, "sentences", "gold") == 2 && field(j, "sentences", "f1") == 1);
    ck_assert(field(j, "tokens", "gold") == 9 && field(j, "tokens", "f1") == 1);
    ck_assert(field(j, "multiword", "correct") == 2 && field(j, "words", "f1") == 1);
    double upos = field(j, "UPOS", "f1");
    ck_assert(upos >= 0 && upos <= 1);
    cJSON_Delete(j);
    snprintf(cmd, sizeof cmd, "'%s' eval --raw -m '%s' '%s'", CL_TOOL, model, raw);
    ck_assert_int_eq(cl_test_shell(cmd, out, sizeof out), 0);
    const char *rows[] = {"\nsentences ", "\ntokens ", "\nmultiword ", "\nwords ", "\nUPOS "};
    for (int i = 0; i < 5; i++)
        ck_assert_msg(strstr(out, rows[i]) != NULL, "no %s in %s", rows[i], out);
    /* the gold-token report as JSON, and info */
    snprintf(cmd, sizeof cmd, "'%s' eval -m '%s' '%s' --output json", CL_TOOL, model, raw);
    j = run_json(cmd);
    ck_assert(field(j, NULL, "words") == 11 && field(j, NULL, "accuracy") <= 1);
    ck_assert_ptr_nonnull(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "tags"), "PUNCT"));
    cJSON_Delete(j);
    snprintf(cmd, sizeof cmd, "'%s' info --output json '%s'", CL_TOOL, model);
    j = run_json(cmd);
    ck_assert_str_eq(cJSON_GetArrayItem(cJSON_GetObjectItem(j, "heads"), 0)->valuestring, "tagger");
    ck_assert(field(j, NULL, "parameters") > 0);
    cJSON_Delete(j);
    /* a model cannot come from stdin */
    snprintf(cmd, sizeof cmd, "echo x | '%s' tag -m - 2>&1", CL_TOOL);
    ck_assert_int_eq(cl_test_shell(cmd, out, sizeof out), 2);
    ck_assert_msg(strstr(out, "-m -: a model is a file") != NULL, "%s", out);
}
END_TEST

START_TEST(malformed_conllu_fails_with_file_and_line)
{
    char model[512], cmd[2048], out[8192], path[512];
    sample_model_file(model, sizeof model);
    snprintf(path, sizeof path, "%s/bad.conllu", cl_test_tmpdir());
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs("# ok\n1\tA\t_\t_\t_\t_\t_\t_\t_\t_\n2\tbroken line\n\n", f);
    ck_assert_int_eq(fclose(f), 0);
    snprintf(cmd, sizeof cmd, "%s tag -m %s --input conllu %s 2>&1 >/dev/null", CL_TOOL, model,
             path);
    ck_assert_int_ne(cl_test_shell(cmd, out, sizeof out), 0);
    char where[600];
    snprintf(where, sizeof where, "%s:3:", path);
    ck_assert_msg(strstr(out, where) != NULL, "message: %s", out);
    snprintf(cmd, sizeof cmd, "%s eval -m %s %s 2>&1 >/dev/null", CL_TOOL, model, path);
    ck_assert_int_ne(cl_test_shell(cmd, out, sizeof out), 0);
    ck_assert_msg(strstr(out, where) != NULL, "message: %s", out);
}
END_TEST

Suite *suite_tagger(void)
{
    Suite *s = suite_create("tagger");
    TCase *learn = tcase_create("learn");
    tcase_add_test(learn, tiny_tagger_learns_the_sample);
    tcase_add_test(learn, tagger_generalises_suffixes_and_scores_unseen_words);
    tcase_add_test(learn, ema_keeps_the_warmed_up_average);
    suite_add_tcase(s, learn);
    TCase *file = tcase_create("file");
    tcase_add_test(file, model_with_lm_and_tagger_round_trips);
    tcase_add_test(file, cached_lm_states_match_the_batch);
    tcase_add_test(file, bf16_tagging_stays_near_fp32);
    tcase_add_test(file, distinct_word_cache_gives_the_batch_probabilities);
    suite_add_tcase(s, file);
    TCase *cli = tcase_create("cli");
    tcase_add_test(cli, tag_reads_stdin);
    tcase_add_test(cli, tag_conllu_keeps_other_columns);
    tcase_add_test(cli, malformed_conllu_fails_with_file_and_line);
    tcase_add_test(cli, tag_answers_a_coprocess);
    tcase_add_test(cli, tag_conllu_answers_a_coprocess);
    tcase_add_test(cli, tag_paragraphs_answer_a_coprocess);
    tcase_add_test(cli, tag_raw_text_to_ud_round_trips);
    tcase_add_test(cli, tag_paragraphs_split_sentences);
    tcase_add_test(cli, tag_json_parses);
    tcase_add_test(cli, tag_precision_option);
    tcase_add_test(cli, eval_raw_scores_end_to_end);
    tcase_add_test(cli, tag_bad_byte_keeps_the_lines_before);
    suite_add_tcase(s, cli);
    return s;
}
