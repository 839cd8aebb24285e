/* Backward language models and Flair-style tagger features: the backward
 * LM is the forward machinery on the reversed text (bit for bit), a file
 * with both directions round-trips and older files still load, a backward
 * run resumes exactly, damaged backward sections are refused by name, and
 * the tagger reads the states Flair prescribes. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cl_conllu.h"
#include "cl_lmtrain.h"
#include "cl_tagger.h"
#include "cl_tagger_impl.h" /* white box: the states the tagger reads */
#include "cl_test.h"
#include "lm_test.h"

static const char lm_text[] =
    "It was the best of times, it was the worst of times, it was the age of wisdom,\n"
    "it was the age of foolishness, it was the epoch of belief, it was the epoch of\n"
    "incredulity, it was the season of Light, it was the season of Darkness.\n";

static int32_t *text_cps(size_t *n, int reversed)
{
    int32_t *cps;
    ck_assert_int_eq(cl_text_decode(lm_text, strlen(lm_text), NULL, "text", &cps, n, NULL), 0);
    for (size_t i = 0, j = *n - 1; reversed && i < j; i++, j--) {
        int32_t c = cps[i];
        cps[i] = cps[j], cps[j] = c;
    }
    return cps;
}

static cl_vocab text_vocab(void)
{
    size_t n;
    int32_t *cps = text_cps(&n, 0);
    return lm_test_vocab(cps, n);
}

static cl_encoder_config lm_encoder(int V)
{
    cl_encoder_config ec = {V, 8, {CL_CELL_LSTM, 8, 16, 2, 0, 0.1f}};
    return ec;
}

/* dirs: which LMs (CL_LMTRAIN_* bits); without the forward one the encoder
 * is the placeholder charlstm train writes. */
static cl_model *lm_model(unsigned dirs, uint64_t seed)
{
    cl_vocab v = text_vocab();
    cl_encoder_config ec = lm_encoder(cl_vocab_size(&v));
    cl_encoder_config main = dirs & CL_LMTRAIN_FORWARD ? ec : cl_tagger_tiny_encoder(ec.vocab);
    cl_text_opts to = cl_text_defaults();
    cl_rng rng;
    cl_rng_seed(&rng, seed);
    cl_model *m;
    ck_assert_int_eq(cl_model_create(&m, &to, &v, &main, &rng), 0);
    if (dirs & CL_LMTRAIN_FORWARD)
        ck_assert_int_eq(cl_model_add_head(m, &cl_lm_head_ops, cl_lm_head_new(0.1f), &rng), 0);
    if (dirs & CL_LMTRAIN_BACKWARD)
        ck_assert_int_eq(cl_model_add_head(m, &cl_lm_backward_head_ops,
                                           cl_lm_backward_new(&ec, 0.1f), &rng), 0);
    return m;
}

/* The tensor of b named like a's forward-LM tensor t, in head.lm_backward. */
static const cl_tensor *backward_twin(const cl_params *b, const char *name)
{
    char twin[CL_NAME_MAX];
    if (strncmp(name, "encoder.", 8) == 0)
        snprintf(twin, sizeof twin, CL_LM_BACKWARD_SECTION ".%s", name + 8);
    else
        snprintf(twin, sizeof twin, CL_LM_BACKWARD_SECTION ".%s", name + strlen("head.lm."));
    int i = cl_params_find(b, twin);
    ck_assert_msg(i >= 0, "no %s", twin);
    return &b->t[i];
}

/* Copy (to_back) or compare f's forward LM with b's backward one. */
static void twin_values(const cl_model *f, cl_model *b, int to_back)
{
    const cl_params *pf = &f->params;
    for (int i = 0; i < pf->nt; i++) {
        const cl_tensor *t = &pf->t[i], *u = backward_twin(&b->params, t->name);
        ck_assert_int_eq(t->size, u->size);
        if (to_back)
            memcpy(b->params.w + u->offset, pf->w + t->offset, t->size * sizeof(float));
        else
            ck_assert_msg(memcmp(b->params.w + u->offset, pf->w + t->offset,
                                 t->size * sizeof(float)) == 0, "%s differs", t->name);
    }
}


static void ids_of(const cl_model *m, int reversed, cl_ids *ids)
{
    size_t n;
    int32_t *cps = text_cps(&n, reversed);
    ck_assert_int_eq(cl_ids_from_cps(ids, cps, (int64_t)n, &m->vocab, NULL), 0);
    free(cps);
}

/* ---- the backward LM is the forward machinery on the reversed text ------- */

START_TEST(backward_is_forward_on_reversed_text)
{
    cl_model *f = lm_model(CL_LMTRAIN_FORWARD, 5), *b = lm_model(CL_LMTRAIN_BACKWARD, 6);
    twin_values(f, b, 1);
    cl_ids text_ids, reversed_ids;
    ids_of(b, 0, &text_ids);
    ids_of(f, 1, &reversed_ids);
    double lf, lb;
    long nf, nb;
    ck_assert_int_eq(cl_lm_evaluate_dir(f, CL_LM_FORWARD, &reversed_ids, 4, 16, &lf, &nf, NULL), 0);
    ck_assert_int_eq(cl_lm_evaluate_dir(b, CL_LM_BACKWARD, &text_ids, 4, 16, &lb, &nb, NULL), 0);
    ck_assert_int_eq(nf, nb);
    ck_assert_msg(lf == lb, "nats/char %.17g vs %.17g", lf, lb);
    /* 30 steps with dropout cross an epoch (the text gives 11 a epoch). */
    lm_test_train(f, CL_LMTRAIN_FORWARD, &reversed_ids, 30, NULL, NULL);
    lm_test_train(b, CL_LMTRAIN_BACKWARD, &text_ids, 30, NULL, NULL);
    twin_values(f, b, 0);
    ck_assert_int_eq(cl_lm_evaluate_dir(f, CL_LM_FORWARD, &reversed_ids, 4, 16, &lf, &nf, NULL), 0);
    ck_assert_int_eq(cl_lm_evaluate_dir(b, CL_LM_BACKWARD, &text_ids, 4, 16, &lb, &nb, NULL), 0);
    ck_assert_msg(lf == lb, "after training: %.17g vs %.17g", lf, lb);
    cl_ids_release(&text_ids);
    cl_ids_release(&reversed_ids);
    cl_model_free(f);
    cl_model_free(b);
}
END_TEST

START_TEST(reading_right_to_left)
{
    cl_model *m = lm_model(CL_LMTRAIN_FORWARD, 1);
    cl_ids ids, rev;
    ids_of(m, 0, &ids);
    ids_of(m, 1, &rev);
    int a[40], b[40];
    int64_t n = ids.n;
    /* from inside, across the end, and from past the end */
    int64_t at[] = {0, 5, n - 20, n + 3};
    for (size_t k = 0; k < sizeof at / sizeof at[0]; k++) {
        ck_assert_int_eq(cl_lm_read(&ids, CL_LM_BACKWARD, at[k], 40, a, NULL), 0);
        ck_assert_int_eq(cl_lm_read(&rev, CL_LM_FORWARD, at[k], 40, b, NULL), 0);
        ck_assert_mem_eq(a, b, sizeof a);
    }
    ck_assert_int_eq(a[0], -1);
    cl_ids_release(&ids);
    cl_ids_release(&rev);
    cl_model_free(m);
}
END_TEST

/* ---- files ---------------------------------------------------------------- */

static void tmp_path(char *buf, size_t size, const char *name)
{
    snprintf(buf, size, "%s/%s", cl_test_tmpdir(), name);
}

START_TEST(two_directions_round_trip)
{
    cl_model *m = lm_model(CL_LMTRAIN_FORWARD | CL_LMTRAIN_BACKWARD, 2);
    cl_model *back = lm_test_round_trip(m, "both.model");
    const cl_lm_backward_config *a = cl_model_head(m, CL_LM_BACKWARD_SECTION),
                                *b = cl_model_head(back, CL_LM_BACKWARD_SECTION);
    ck_assert_ptr_nonnull(b);
    ck_assert_mem_eq(&a->enc, &b->enc, sizeof a->enc);
    ck_assert_float_eq(a->dropout, b->dropout);
    ck_assert_ptr_nonnull(cl_lm_encoder_of(back, CL_LM_FORWARD));
    cl_model_free(m);
    cl_model_free(back);
}
END_TEST

/* A file written before backward LMs (committed) is a forward LM. */
START_TEST(old_files_are_forward)
{
    cl_model *m;
    cl_diag d = {{0}};
    ck_assert_msg(cl_model_load(&m, CL_SRCDIR "/tests/data/trainer_lstm.model", NULL, &d) == 0,
                  "%s", d.msg);
    ck_assert_ptr_eq(cl_lm_encoder_of(m, CL_LM_FORWARD), cl_model_encoder(m));
    ck_assert_ptr_null(cl_lm_encoder_of(m, CL_LM_BACKWARD));
    ck_assert_int_eq(cl_lm_evaluate_dir(m, CL_LM_BACKWARD, NULL, 1, 1, NULL, NULL, &d), CL_EINVAL);
    ck_assert_ptr_nonnull(strstr(d.msg, "no backward language model"));
    cl_model_free(m);
}
END_TEST

static void expect_load_error(const char *path, const char *what)
{
    cl_model *m;
    cl_diag d = {{0}};
    int err = cl_model_load(&m, path, NULL, &d);
    ck_assert_int_ne(err, 0);
    ck_assert_ptr_null(m);
    ck_assert_msg(strstr(d.msg, path) && strstr(d.msg, what), "message: %s", d.msg);
}

/* A backward section whose keys do not match its tensors, or whose values
 * are out of range, is refused with the section or tensor named. */
START_TEST(bad_backward_sections_are_refused)
{
    cl_model *m = lm_model(CL_LMTRAIN_FORWARD | CL_LMTRAIN_BACKWARD, 3);
    cl_lm_backward_config *c = cl_model_head(m, CL_LM_BACKWARD_SECTION);
    char path[512];
    tmp_path(path, sizeof path, "bad-back.model");
    c->enc.rnn.hidden = 32; /* the keys say 32, the tensors hold 16 */
    ck_assert_int_eq(cl_model_save(m, path, NULL, NULL, NULL), 0);
    expect_load_error(path, CL_LM_BACKWARD_SECTION);
    c->enc.rnn.hidden = 16, c->enc.rnn.layers = 99; /* out of range */
    ck_assert_int_eq(cl_model_save(m, path, NULL, NULL, NULL), 0);
    expect_load_error(path, "layers = 99");
    c->enc.rnn.layers = 2, c->enc.emb = 4; /* input width of layer 0 */
    ck_assert_int_eq(cl_model_save(m, path, NULL, NULL, NULL), 0);
    expect_load_error(path, CL_LM_BACKWARD_SECTION);
    c->enc.emb = 8;
    ck_assert_int_eq(cl_model_save(m, path, NULL, NULL, NULL), 0);
    cl_model *ok;
    ck_assert_int_eq(cl_model_load(&ok, path, NULL, NULL), 0);
    cl_model_free(ok);
    cl_model_free(m);
}
END_TEST

/* ---- training ------------------------------------------------------------- */

START_TEST(backward_and_both_resume_exactly)
{
    unsigned runs[] = {CL_LMTRAIN_BACKWARD, CL_LMTRAIN_FORWARD | CL_LMTRAIN_BACKWARD};
    for (int r = 0; r < 2; r++) {
        cl_model *full = lm_model(runs[r], 3), *half = lm_model(runs[r], 3);
        cl_ids ids;
        ids_of(full, 0, &ids);
        char path[512];
        tmp_path(path, sizeof path, "resume-back.model");
        lm_test_train(full, runs[r], &ids, 25, NULL, NULL);
        lm_test_train(half, runs[r], &ids, 8, NULL, path);
        cl_model_free(half);
        cl_ckpt *ck;
        cl_diag d = {{0}};
        ck_assert_msg(cl_model_load(&half, path, &ck, &d) == 0, "%s", d.msg);
        lm_test_train(half, runs[r], &ids, 25, ck, NULL);
        ck_assert_mem_eq(half->params.w, full->params.w, full->params.n * sizeof(float));
        cl_ckpt_free(ck);
        cl_ids_release(&ids);
        cl_model_free(full);
        cl_model_free(half);
    }
}
END_TEST

/* Training one direction leaves the other's weights as they were. */
START_TEST(one_direction_leaves_the_other)
{
    cl_model *m = lm_model(CL_LMTRAIN_FORWARD | CL_LMTRAIN_BACKWARD, 4);
    cl_model *before = lm_model(CL_LMTRAIN_FORWARD | CL_LMTRAIN_BACKWARD, 4);
    cl_ids ids;
    ids_of(m, 0, &ids);
    lm_test_train(m, CL_LMTRAIN_BACKWARD, &ids, 5, NULL, NULL);
    size_t b, e;
    cl_model_param_range(m, CL_LM_BACKWARD_SECTION, &b, &e);
    ck_assert_mem_eq(m->params.w, before->params.w, b * sizeof(float)); /* encoder, head.lm */
    ck_assert(memcmp(m->params.w + b, before->params.w + b, (e - b) * sizeof(float)) != 0);
    cl_ids_release(&ids);
    cl_model_free(m);
    cl_model_free(before);
}
END_TEST

/* ---- the tagger's features -------------------------------------------------- */

static const char *write_conllu(const char *name, const char *body)
{
    static char path[512];
    tmp_path(path, sizeof path, name);
    cl_test_write(path, body, strlen(body));
    return path;
}

/* A model with both LMs (vocabulary of the corpus) and a tagger reading
 * them (dirs: CL_LMTRAIN_* bits of use_lm and use_lm_backward). */
static cl_model *tagger_model(const cl_tagger_corpus *c, unsigned dirs)
{
    cl_text_opts text = cl_text_defaults();
    cl_vocab v;
    cl_model *m;
    cl_rng rng;
    cl_rng_seed(&rng, 7);
    ck_assert_int_eq(cl_tagger_vocab_build(&v, c, &text, NULL), 0);
    cl_encoder_config ec = lm_encoder(cl_vocab_size(&v)), back = ec;
    back.rnn.hidden = 12, back.rnn.layers = 1; /* another width: rows must not mix */
    ck_assert_int_eq(cl_model_create(&m, &text, &v, &ec, &rng), 0);
    ck_assert_int_eq(cl_model_add_head(m, &cl_lm_head_ops, cl_lm_head_new(0.1f), &rng), 0);
    ck_assert_int_eq(cl_model_add_head(m, &cl_lm_backward_head_ops,
                                       cl_lm_backward_new(&back, 0.1f), &rng), 0);
    cl_tagger_config cfg = cl_tagger_config_defaults();
    cfg.feat.buckets = 1 << 10, cfg.char_emb = 4, cfg.char_hidden = 4, cfg.feat_emb = 2;
    cfg.word_emb = 2, cfg.word_hidden = 4;
    cfg.use_lm = (dirs & CL_LMTRAIN_FORWARD) != 0;
    cfg.use_lm_backward = (dirs & CL_LMTRAIN_BACKWARD) != 0;
    ck_assert_int_eq(cl_tagger_config_build(&cfg, c, 1), 0);
    ck_assert_int_eq(cl_model_add_head(m, &cl_tagger_head_ops, cl_tagger_config_dup(&cfg), &rng), 0);
    cl_tagger_config_clear(&cfg);
    return m;
}

/* Encoder states Y [T, 1, H] of the LM of dir over ids[0..T). */
static float *states(const cl_model *m, cl_lm_dir dir, const int *ids, int T)
{
    const cl_encoder_config *ec = cl_lm_encoder_of(m, dir);
    cl_encoder e;
    ck_assert_int_eq(cl_encoder_create_at(&e, ec, &m->params, dir == CL_LM_FORWARD ?
                                          CL_ENCODER_PREFIX : CL_LM_BACKWARD_SECTION, T, 1), 0);
    float *Y = malloc(sizeof *Y * (size_t)T * cl_encoder_out_dim(ec));
    ck_assert_int_eq(cl_encoder_forward(&e, &m->params, ids, T, 1, NULL, NULL, Y, NULL, NULL, 0,
                                        NULL), 0);
    cl_encoder_free(&e);
    return Y;
}

/* "ab c": the forward LM reads "\nab c", the backward one "\nc ba".  Word
 * "ab" takes forward step 2 (after b) and backward step 4 (after a); "c"
 * forward step 4 and backward step 1. */
START_TEST(tagger_reads_flair_positions)
{
    cl_tagger_corpus c;
    cl_tagger_corpus_init(&c);
    const char *path = write_conllu("abc.conllu", "1\tab\t_\tX\t_\t_\t_\t_\t_\t_\n"
                                                  "2\tc\t_\tY\t_\t_\t_\t_\t_\t_\n\n");
    ck_assert_int_eq(cl_tagger_corpus_read_conllu(&c, path, CL_CONLLU_UPOS, NULL), 0);
    cl_model *m = tagger_model(&c, CL_LMTRAIN_FORWARD | CL_LMTRAIN_BACKWARD);
    cl_tagger *t;
    cl_tagger_data *x;
    ck_assert_int_eq(cl_tagger_create(&t, m, NULL), 0);
    ck_assert_int_eq(cl_tagger_data_prepare(&x, t, &c, NULL), 0);
    int F = 16, B = 12, s = 0;
    ck_assert_int_eq(t->lm_dim, F + B);
    ck_assert_int_eq(cl_tagger_ws_reserve(t, 2, 1, 4, 2, 5), 0);
    float out[2 * 28];
    ck_assert_int_eq(cl_tagger_lm_states(t, x, &s, 1, out), 0);
    int id[128];
    const char *chars = "\nab c";
    for (int i = 0; chars[i]; i++)
        id[(unsigned char)chars[i]] = cl_vocab_id(&m->vocab, chars[i]);
    int fwd[5] = {id['\n'], id['a'], id['b'], id[' '], id['c']};
    int bwd[5] = {id['\n'], id['c'], id[' '], id['b'], id['a']};
    float *Yf = states(m, CL_LM_FORWARD, fwd, 5), *Yb = states(m, CL_LM_BACKWARD, bwd, 5);
    ck_assert_mem_eq(out, Yf + 2 * F, F * sizeof(float));          /* "ab": after b */
    ck_assert_mem_eq(out + F, Yb + 4 * B, B * sizeof(float));      /* "ab": after a, from the right */
    ck_assert_mem_eq(out + 28, Yf + 4 * F, F * sizeof(float));     /* "c" */
    ck_assert_mem_eq(out + 28 + F, Yb + 1 * B, B * sizeof(float));
    free(Yf), free(Yb);
    cl_tagger_data_free(x);
    cl_tagger_free(t);
    cl_model_free(m);
    cl_tagger_corpus_free(&c);
}
END_TEST

/* Sentences of different lengths padded into one batch, in another order,
 * give each word the states it gets alone; the trainer's cache agrees. */
START_TEST(tagger_batch_states_match_one_by_one)
{
    cl_tagger_corpus c;
    cl_tagger_corpus_init(&c);
    const char *path = write_conllu(
        "three.conllu", "1\tIt\t_\tPRON\t_\t_\t_\t_\t_\t_\n2\twas\t_\tAUX\t_\t_\t_\t_\t_\t_\n"
                        "3\tthe\t_\tDET\t_\t_\t_\t_\t_\t_\n4\tage\t_\tNOUN\t_\t_\t_\t_\t_\t_\n\n"
                        "1\twisdom\t_\tNOUN\t_\t_\t_\t_\t_\t_\n\n"
                        "1\tthe\t_\tDET\t_\t_\t_\t_\t_\t_\n2\tseason\t_\tNOUN\t_\t_\t_\t_\t_\t_\n"
                        "3\tof\t_\tADP\t_\t_\t_\t_\t_\t_\n\n");
    ck_assert_int_eq(cl_tagger_corpus_read_conllu(&c, path, CL_CONLLU_UPOS, NULL), 0);
    unsigned kinds[] = {CL_LMTRAIN_BACKWARD, CL_LMTRAIN_FORWARD | CL_LMTRAIN_BACKWARD};
    for (int k = 0; k < 2; k++) {
        cl_model *m = tagger_model(&c, kinds[k]);
        cl_tagger *t;
        cl_tagger_data *x;
        ck_assert_int_eq(cl_tagger_create(&t, m, NULL), 0);
        ck_assert_int_eq(cl_tagger_data_prepare(&x, t, &c, NULL), 0);
        int S = x->nsent, all[3] = {2, 0, 1}, N, Tc, Tw, Tl;
        cl_tagger_batch_shape(x, all, S, &N, &Tc, &Tw, &Tl);
        ck_assert_int_eq(cl_tagger_ws_reserve(t, N, S, Tc, Tw, Tl), 0);
        size_t D = (size_t)t->lm_dim, n = (size_t)x->nwords * D;
        ck_assert_int_eq(D, kinds[k] & CL_LMTRAIN_FORWARD ? 28 : 12);
        float *one = calloc(n, sizeof *one), *batch = calloc(n, sizeof *batch);
        for (int s = 0; s < S; s++)
            ck_assert_int_eq(cl_tagger_lm_states(t, x, &s, 1, one), 0);
        ck_assert_int_eq(cl_tagger_lm_states(t, x, all, S, batch), 0);
        for (size_t i = 0; i < n; i++)
            ck_assert_msg(fabsf(one[i] - batch[i]) < 1e-5f, "state %zu: %g vs %g", i, one[i],
                          batch[i]);
        long k1, k2;
        double plain = cl_tagger_forward(t, x, all, S, 0, NULL, &k1);
        t->lmc[0] = batch, t->lmc_x[0] = x;
        double cached = cl_tagger_forward(t, x, all, S, 0, NULL, &k2);
        t->lmc[0] = NULL, t->lmc_x[0] = NULL;
        ck_assert_msg(fabs(plain - cached) < 1e-6 * fabs(plain), "loss %g vs %g", plain, cached);
        free(one), free(batch);
        cl_tagger_data_free(x);
        cl_tagger_free(t);
        cl_model_free(m);
    }
    cl_tagger_corpus_free(&c);
}
END_TEST

/* A tagger that reads a backward LM the file does not hold is refused. */
START_TEST(tagger_without_its_backward_lm_is_refused)
{
    cl_tagger_corpus c;
    cl_tagger_corpus_init(&c);
    const char *path = write_conllu("ab.conllu", "1\tab\t_\tX\t_\t_\t_\t_\t_\t_\n\n");
    ck_assert_int_eq(cl_tagger_corpus_read_conllu(&c, path, CL_CONLLU_UPOS, NULL), 0);
    cl_model *m = tagger_model(&c, CL_LMTRAIN_FORWARD | CL_LMTRAIN_BACKWARD);
    /* drop head.lm_backward from the list of heads the file names */
    int bi = -1;
    for (int i = 0; i < m->nheads; i++)
        if (strcmp(m->heads[i].ops->section, CL_LM_BACKWARD_SECTION) == 0)
            bi = i;
    ck_assert_int_ge(bi, 0);
    void *cfg = m->heads[bi].cfg;
    const cl_head_ops *ops = m->heads[bi].ops;
    memmove(&m->heads[bi], &m->heads[bi + 1], sizeof m->heads[0] * (size_t)(m->nheads - bi - 1));
    m->nheads--;
    char file[512];
    tmp_path(file, sizeof file, "no-back.model");
    ck_assert_int_eq(cl_model_save(m, file, NULL, NULL, NULL), 0);
    cl_model *bad;
    ck_assert_int_ne(cl_model_load(&bad, file, NULL, NULL), 0);
    m->heads[m->nheads].ops = ops, m->heads[m->nheads++].cfg = cfg; /* freed with m */
    cl_model_free(m);
    cl_tagger_corpus_free(&c);
}
END_TEST

/* ---- the commands --------------------------------------------------------- */

static char out[65536];

/* text.txt and tags.conllu in the test directory; paths into t and c. */
static void cli_files(char *t, char *c, size_t size)
{
    static const char conllu[] = "1\tthe\t_\tDET\t_\t_\t_\t_\t_\t_\n"
                                 "2\tcat\t_\tNOUN\t_\t_\t_\t_\t_\t_\n"
                                 "3\tsat\t_\tVERB\t_\t_\t_\t_\t_\t_\n\n"
                                 "1\ta\t_\tDET\t_\t_\t_\t_\t_\t_\n"
                                 "2\tdog\t_\tNOUN\t_\t_\t_\t_\t_\t_\n"
                                 "3\tran\t_\tVERB\t_\t_\t_\t_\t_\t_\n\n";
    tmp_path(t, size, "text.txt");
    tmp_path(c, size, "tags.conllu");
    char big[sizeof lm_text * 4] = "";
    for (int i = 0; i < 4; i++)
        strcat(big, lm_text);
    cl_test_write(t, big, strlen(big));
    cl_test_write(c, conllu, sizeof conllu - 1);
}

#define TINY_LM "--layers 1 --hidden 16 --emb 8 --batch 2 --seq 8 -q --threads 1 --steps 12"

/* train --direction both, eval and info report both, a tagger with --init
 * reads both and tags and evaluates; generate uses the forward model. */
START_TEST(commands_with_both_directions)
{
    char t[512], c[512], lm[512], tg[512];
    cli_files(t, c, sizeof t);
    tmp_path(lm, sizeof lm, "both.model");
    tmp_path(tg, sizeof tg, "tagger.model");
    int rc = cl_test_run(out, sizeof out, "train --task lm --direction both --train '%s' -o '%s' "
                         TINY_LM, t, lm);
    ck_assert_msg(rc == 0, "train: %s", out);
    ck_assert_int_eq(cl_test_run(out, sizeof out, "info '%s'", lm), 0);
    ck_assert_msg(strstr(out, "language models: forward 1 x 16 LSTM, embedding 8; backward 1 x 16"),
                  "%s", out);
    ck_assert_int_eq(cl_test_run(out, sizeof out, "eval -m '%s' '%s'", lm, t), 0);
    ck_assert_msg(strstr(out, "forward.nats/char\t") && strstr(out, "backward.nats/char\t"), "%s",
                  out);
    ck_assert_int_eq(cl_test_run(out, sizeof out, "generate -m '%s' --prompt 'it ' -n 10", lm), 0);
    rc = cl_test_run(out, sizeof out, "train --task tagger --init '%s' --train '%s' -o '%s' "
                     "--hidden 8 --emb 8 --epochs 1 -q --threads 1", lm, c, tg);
    ck_assert_msg(rc == 0, "tagger: %s", out);
    ck_assert_int_eq(cl_test_run(out, sizeof out, "info '%s'", tg), 0);
    ck_assert_msg(strstr(out, "use_lm_backward  1"), "%s", out);
    char in[512];
    tmp_path(in, sizeof in, "in.txt");
    cl_test_write(in, "the dog sat\n", 12);
    ck_assert_int_eq(cl_test_run(out, sizeof out, "tag -m '%s' < '%s'", tg, in), 0);
    ck_assert_msg(strstr(out, "the/") && strstr(out, "sat/"), "%s", out);
    ck_assert_int_eq(cl_test_run(out, sizeof out, "eval -m '%s' '%s'", tg, c), 0);
    ck_assert_msg(strstr(out, "accuracy"), "%s", out);
}
END_TEST

/* A backward model alone: eval reports it, generate says why it cannot. */
START_TEST(commands_with_a_backward_model_only)
{
    char t[512], c[512], lm[512];
    cli_files(t, c, sizeof t);
    tmp_path(lm, sizeof lm, "back.model");
    int rc = cl_test_run(out, sizeof out, "train --task lm --direction backward --train '%s' "
                         "-o '%s' " TINY_LM, t, lm);
    ck_assert_msg(rc == 0, "train: %s", out);
    ck_assert_int_eq(cl_test_run(out, sizeof out, "eval -m '%s' '%s'", lm, t), 0);
    ck_assert_msg(strstr(out, "backward.nats/char") && !strstr(out, "forward."), "%s", out);
    ck_assert_int_ne(cl_test_run(out, sizeof out, "generate -m '%s' -n 5 --prompt a", lm), 0);
    ck_assert_msg(strstr(out, "no forward language-model head"), "%s", out);
    ck_assert_int_ne(cl_test_run(out, sizeof out, "train --task lm --init '%s' --train '%s' "
                                 "-o '%s.f' " TINY_LM, lm, t, lm), 0);
    ck_assert_msg(strstr(out, "backward language model only"), "%s", out);
    ck_assert_int_ne(cl_test_run(out, sizeof out, "train --task tagger --direction both "
                                 "--train '%s' -o '%s.t'", c, lm), 0);
    ck_assert_msg(strstr(out, "--direction applies to --task lm only"), "%s", out);
}
END_TEST

Suite *suite_bidir(void)
{
    Suite *s = suite_create("bidir");
    TCase *lm = tcase_create("lm");
    tcase_add_test(lm, backward_is_forward_on_reversed_text);
    tcase_add_test(lm, reading_right_to_left);
    tcase_add_test(lm, backward_and_both_resume_exactly);
    tcase_add_test(lm, one_direction_leaves_the_other);
    suite_add_tcase(s, lm);
    TCase *file = tcase_create("file");
    tcase_add_test(file, two_directions_round_trip);
    tcase_add_test(file, old_files_are_forward);
    tcase_add_test(file, bad_backward_sections_are_refused);
    tcase_add_test(file, tagger_without_its_backward_lm_is_refused);
    suite_add_tcase(s, file);
    TCase *tag = tcase_create("tagger");
    tcase_add_test(tag, tagger_reads_flair_positions);
    tcase_add_test(tag, tagger_batch_states_match_one_by_one);
    suite_add_tcase(s, tag);
    TCase *cli = tcase_create("cli");
    tcase_add_test(cli, commands_with_both_directions);
    tcase_add_test(cli, commands_with_a_backward_model_only);
    suite_add_tcase(s, cli);
    return s;
}
