/* The language-model stack end to end in the library: model file round trip
 * and damage, exact resume of an interrupted training, sampling. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cl_generate.h"
#include "cl_infer.h"
#include "cl_lmtrain.h"
#include "lm_test.h"
#include "cl_test.h"

static const char sample_text[] =
    "To be, or not to be, that is the question:\n"
    "Whether 'tis nobler in the mind to suffer\n"
    "The slings and arrows of outrageous fortune,\n"
    "Or to take arms against a sea of troubles\n"
    "And by opposing end them. To die-to sleep,\n"
    "No more; and by a sleep to say we end\n"
    "The heart-ache and the thousand natural shocks\n"
    "That flesh is heir to: 'tis a consummation\n"
    "Devoutly to be wish'd. Příliš žluťoučký kůň úpěl ďábelské ódy. 日本語\n";

/* Code points of sample_text. */
static int32_t *sample_cps(size_t *n)
{
    int32_t *cps;
    ck_assert_int_eq(cl_text_decode(sample_text, strlen(sample_text), NULL, "sample", &cps, n,
                                    NULL),
                     0);
    return cps;
}

static cl_model *tiny_model(cl_cell cell, int layers, uint64_t seed)
{
    size_t n;
    int32_t *cps = sample_cps(&n);
    cl_vocab v = lm_test_vocab(cps, n);
    cl_encoder_config ec = {cl_vocab_size(&v), 8, {cell, 8, 16, layers, 0, 0.1f}};
    cl_text_opts to = cl_text_defaults();
    cl_rng rng;
    cl_rng_seed(&rng, seed);
    cl_model *m;
    ck_assert_int_eq(cl_model_create(&m, &to, &v, &ec, &rng), 0);
    ck_assert_int_eq(cl_model_add_head(m, &cl_lm_head_ops, cl_lm_head_new(0.1f), &rng), 0);
    return m;
}

/* The ids of sample_text in m's vocabulary; returns the code points (the
 * caller frees them after releasing ids). */
static int32_t *sample_ids(const cl_model *m, cl_ids *ids)
{
    size_t n;
    int32_t *cps = sample_cps(&n);
    ck_assert_int_eq(cl_ids_from_cps(ids, cps, (int64_t)n, &m->vocab, NULL), 0);
    return cps;
}

static void tmp_path(char *buf, size_t size, const char *name)
{
    snprintf(buf, size, "%s/%s", cl_test_tmpdir(), name);
}

/* ---- model file ----------------------------------------------------------- */

START_TEST(model_round_trip)
{
    cl_model *m = tiny_model(CL_CELL_LSTM, 2, 1), *back = lm_test_round_trip(m, "rt.model");
    ck_assert_int_eq(cl_vocab_size(&back->vocab), cl_vocab_size(&m->vocab));
    ck_assert_mem_eq(&back->enc, &m->enc, sizeof m->enc);
    ck_assert_ptr_nonnull(cl_model_head(back, "head.lm"));
    ck_assert_int_eq(back->text.nfc, 1);
    cl_model_free(m);
    cl_model_free(back);
}
END_TEST

static void write_bytes(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(p, 1, n, f), n);
    fclose(f);
}

static char *read_bytes(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    fseek(f, 0, SEEK_END);
    *n = (size_t)ftell(f);
    rewind(f);
    char *p = malloc(*n);
    ck_assert_uint_eq(fread(p, 1, *n, f), *n);
    fclose(f);
    return p;
}

/* Truncation at many places, flipped bytes, empty and foreign files: an
 * error with a message, never a crash, never a model. */
START_TEST(damaged_model_files_fail_cleanly)
{
    cl_model *m = tiny_model(CL_CELL_GRU, 1, 2), *back;
    char path[512], bad[512];
    tmp_path(path, sizeof path, "good.model");
    tmp_path(bad, sizeof bad, "bad.model");
    ck_assert_int_eq(cl_model_save(m, path, NULL, NULL, NULL), 0);
    size_t n;
    char *bytes = read_bytes(path, &n);
    for (size_t cut = 0; cut < n; cut += 1 + cut / 8) {
        cl_diag d = {{0}};
        write_bytes(bad, bytes, cut);
        ck_assert_int_lt(cl_model_load(&back, bad, NULL, &d), 0);
        ck_assert_ptr_null(back);
        ck_assert_msg(strstr(d.msg, "bad.model") != NULL, "message without file name: %s", d.msg);
    }
    for (size_t at = 0; at < n; at += 1 + at / 16) {
        bytes[at] ^= 0x5a;
        write_bytes(bad, bytes, n);
        ck_assert_int_lt(cl_model_load(&back, bad, NULL, NULL), 0);
        bytes[at] ^= 0x5a;
    }
    write_bytes(bad, "\x89PNG\r\n\x1a\n0000000000000000", 24);
    ck_assert_int_eq(cl_model_load(&back, bad, NULL, NULL), CL_EFORMAT);
    free(bytes);
    cl_model_free(m);
}
END_TEST

/* A valid container that is not a model (no meta section). */
START_TEST(container_without_model_is_rejected)
{
    char path[512];
    tmp_path(path, sizeof path, "other.ckpt");
    cl_ckpt_writer *w;
    ck_assert_int_eq(cl_ckpt_writer_open(&w, path, NULL), 0);
    ck_assert_int_eq(cl_ckpt_section_begin(w, "something"), 0);
    ck_assert_int_eq(cl_ckpt_section_end(w), 0);
    ck_assert_int_eq(cl_ckpt_writer_commit(w, NULL), 0);
    cl_model *m;
    cl_diag d = {{0}};
    ck_assert_int_eq(cl_model_load(&m, path, NULL, &d), CL_EFORMAT);
    ck_assert(strstr(d.msg, "not a charlstm model") != NULL);
}
END_TEST

/* ---- exact resume ------------------------------------------------------- */

static void train_steps(cl_model *m, const cl_ids *ids, long steps, const cl_ckpt *resume,
                        const char *save_path)
{
    lm_test_train(m, CL_LMTRAIN_FORWARD, ids, steps, resume, save_path);
}

START_TEST(interrupted_training_resumes_exactly)
{
    size_t n;
    int32_t *cps = sample_cps(&n);
    cl_model *full = tiny_model(CL_CELL_LSTM, 2, 3), *half = tiny_model(CL_CELL_LSTM, 2, 3);
    cl_ids ids;
    ck_assert_int_eq(cl_ids_from_cps(&ids, cps, (int64_t)n, &full->vocab, NULL), 0);
    char path[512];
    tmp_path(path, sizeof path, "resume.model");
    /* 40 steps cross an epoch boundary (the text gives 21 steps an epoch). */
    train_steps(full, &ids, 40, NULL, NULL);
    train_steps(half, &ids, 17, NULL, path);
    cl_model_free(half);
    cl_ckpt *ck;
    cl_diag d = {{0}};
    ck_assert_msg(cl_model_load(&half, path, &ck, &d) == 0, "%s", d.msg);
    train_steps(half, &ids, 40, ck, NULL);
    ck_assert_mem_eq(half->params.w, full->params.w, full->params.n * sizeof(float));
    cl_ckpt_free(ck);
    cl_ids_release(&ids);
    cl_model_free(full);
    cl_model_free(half);
    free(cps);
}
END_TEST

START_TEST(training_lowers_the_loss)
{
    cl_model *m = tiny_model(CL_CELL_LSTM, 1, 4);
    cl_ids ids;
    int32_t *cps = sample_ids(m, &ids);
    double before, after;
    ck_assert_int_eq(cl_lm_evaluate(m, &ids, 4, 16, &before, NULL, NULL), 0);
    train_steps(m, &ids, 300, NULL, NULL);
    ck_assert_int_eq(cl_lm_evaluate(m, &ids, 4, 16, &after, NULL, NULL), 0);
    ck_assert_msg(after < 0.6 * before, "loss %.3f -> %.3f", before, after);
    cl_ids_release(&ids);
    cl_model_free(m);
    free(cps);
}
END_TEST

/* nanoGPT's estimate: each window is a text of its own from a zero state, so
 * the windows' mean equals whole-text evaluations of the same slices. */
START_TEST(random_windows_are_slices_from_zero_state)
{
    size_t n;
    int32_t *cps = sample_cps(&n);
    cl_model *m = tiny_model(CL_CELL_LSTM, 2, 9);
    cl_ids ids, view;
    ck_assert_int_eq(cl_ids_from_cps(&ids, cps, (int64_t)n, &m->vocab, NULL), 0);
    enum { T = 12, W = 5 };
    double got, again, other, want = 0, one;
    long count;
    /* batch 2: windows cross batches, the last batch is short */
    ck_assert_int_eq(cl_lm_evaluate_windows(m, &ids, T, W, 2, 77, &got, &count, NULL), 0);
    ck_assert_int_eq(count, T * W);
    cl_rng rng;
    cl_rng_seed(&rng, 77);
    for (int w = 0; w < W; w++) {
        int64_t p0 = (int64_t)cl_rng_below(&rng, (uint64_t)(ids.n - T));
        ck_assert_int_eq(cl_ids_view(&view, &ids, p0, T + 1), 0);
        ck_assert_int_eq(cl_lm_evaluate(m, &view, 1, T, &one, NULL, NULL), 0);
        want += one / W;
        cl_ids_release(&view);
    }
    ck_assert_msg(fabs(got - want) < 1e-5, "windows %.6f, slices %.6f", got, want);
    ck_assert_int_eq(cl_lm_evaluate_windows(m, &ids, T, W, 4, 77, &again, NULL, NULL), 0);
    ck_assert_msg(fabs(again - got) < 1e-5, "batch changed the loss: %.6f %.6f", again, got);
    ck_assert_int_eq(cl_lm_evaluate_windows(m, &ids, T, W, 4, 78, &other, NULL, NULL), 0);
    ck_assert_msg(other != got, "another seed drew the same windows");
    ck_assert_int_eq(cl_ids_view(&view, &ids, 0, T), 0);
    ck_assert_int_eq(cl_lm_evaluate_windows(m, &view, T, 1, 1, 1, &one, NULL, NULL), CL_EEMPTY);
    cl_ids_release(&view);
    cl_ids_release(&ids);
    cl_model_free(m);
    free(cps);
}
END_TEST

/* ---- sampling ------------------------------------------------------------- */

START_TEST(temperature_zero_is_argmax)
{
    float logits[5] = {0.1f, 2.0f, -1.0f, 1.9f, 0.0f}, work[5];
    int order[5];
    cl_sample_config c = {0, 0, 1};
    cl_rng rng;
    cl_rng_seed(&rng, 1);
    for (int i = 0; i < 10; i++)
        ck_assert_int_eq(cl_sample(logits, 5, &c, &rng, work, order), 1);
    c = (cl_sample_config){1, 1, 1}; /* top-k 1 */
    ck_assert_int_eq(cl_sample(logits, 5, &c, &rng, work, order), 1);
    c = (cl_sample_config){1, 0, 0.01f}; /* a tiny nucleus */
    ck_assert_int_eq(cl_sample(logits, 5, &c, &rng, work, order), 1);
}
END_TEST

START_TEST(sampling_follows_the_distribution)
{
    float logits[3] = {logf(0.2f), logf(0.5f), logf(0.3f)}, work[3];
    int order[3], hits[3] = {0};
    cl_sample_config c = cl_sample_defaults();
    cl_rng rng;
    cl_rng_seed(&rng, 2);
    for (int i = 0; i < 20000; i++)
        hits[cl_sample(logits, 3, &c, &rng, work, order)]++;
    ck_assert_int_lt(abs(hits[0] - 4000), 300);
    ck_assert_int_lt(abs(hits[1] - 10000), 300);
    c.top_k = 2; /* drops the 0.2 entry */
    hits[0] = hits[1] = hits[2] = 0;
    for (int i = 0; i < 20000; i++)
        hits[cl_sample(logits, 3, &c, &rng, work, order)]++;
    ck_assert_int_eq(hits[0], 0);
}
END_TEST

static void generate(const cl_model *m, uint64_t seed, int *out, int n)
{
    cl_sample_config sc = cl_sample_defaults();
    cl_gen *g;
    ck_assert_int_eq(cl_gen_create(&g, m, &sc, seed, NULL), 0);
    int prompt[3] = {1, 2, 3};
    ck_assert_int_eq(cl_gen_prime(g, prompt, 3), 0);
    for (int i = 0; i < n; i++) {
        ck_assert_int_eq(cl_gen_next(g, &out[i]), 0);
        ck_assert_int_gt(out[i], 0); /* never <unk> */
    }
    cl_gen_free(g);
}

START_TEST(seed_makes_generation_reproducible)
{
    cl_model *m = tiny_model(CL_CELL_LSTM, 2, 5);
    int a[200], b[200], c[200];
    generate(m, 11, a, 200);
    generate(m, 11, b, 200);
    generate(m, 12, c, 200);
    ck_assert_mem_eq(a, b, sizeof a);
    ck_assert(memcmp(a, c, sizeof a) != 0);
    cl_model_free(m);
}
END_TEST

/* ---- the bfloat16 generation engine ----------------------------------------- */

START_TEST(bf16_rounding)
{
    ck_assert_uint_eq(cl_bf16_from_float(1.0f), 0x3f80);
    ck_assert_float_eq(cl_bf16_to_float(cl_bf16_from_float(-2.5f)), -2.5f);
    /* 1 + 2^-8 lies halfway between 1 and 1 + 2^-7: ties go to even (1). */
    ck_assert_uint_eq(cl_bf16_from_float(1.0f + 0x1p-8f), 0x3f80);
    ck_assert_uint_eq(cl_bf16_from_float(1.0f + 0x1p-8f + 0x1p-12f), 0x3f81);
    ck_assert(isnan(cl_bf16_to_float(cl_bf16_from_float(NAN))));
    ck_assert(isinf(cl_bf16_to_float(cl_bf16_from_float(INFINITY))));
}
END_TEST

/* The engine's logits follow the float32 model's to bfloat16 precision over
 * a long sequence (state carried), for 1 and 3 layers. */
static void check_engine(int layers)
{
    cl_model *m = tiny_model(CL_CELL_LSTM, layers, 7);
    cl_infer *e;
    cl_lm lm;
    cl_infer_config ec = {CL_WEIGHTS_BF16, 1, 1}; /* int8 and fp32: test_infer.c */
    ck_assert_int_eq(cl_infer_create(&e, m, &ec), 0);
    ck_assert_int_eq(cl_lm_create(&lm, &m->enc, &m->params, 0, 1, 1), 0);
    size_t sn = cl_encoder_state_size(&m->enc), n;
    float *h = calloc(sn, sizeof *h), *c = calloc(sn, sizeof *c);
    int32_t *cps = sample_cps(&n);
    double worst = 0;
    for (size_t i = 0; i < 200; i++) {
        int id = cl_vocab_id(&m->vocab, cps[i]);
        const float *fast = cl_infer_step(e, id);
        cl_lm_forward(&lm, &m->params, &id, NULL, 1, 1, h, c, 0, NULL);
        for (int v = 0; v < m->enc.vocab; v++)
            worst = fmax(worst, fabs(fast[v] - lm.logits[v]) / (1 + fabs(lm.logits[v])));
    }
    ck_assert_msg(worst < 2e-2, "bf16 engine differs by %g", worst);
    ck_assert_msg(worst > 0, "the engine should not be bit-identical to float32");
    free(h), free(c), free(cps);
    cl_lm_free(&lm);
    cl_infer_free(e);
    cl_model_free(m);
}

START_TEST(engine_follows_float32_1layer) { check_engine(1); }
END_TEST
START_TEST(engine_follows_float32_3layers) { check_engine(3); }
END_TEST

START_TEST(engine_declines_gru)
{
    cl_model *m = tiny_model(CL_CELL_GRU, 1, 8);
    cl_infer *e;
    ck_assert_int_eq(cl_infer_create(&e, m, NULL), CL_EINVAL);
    int out[20];
    generate(m, 1, out, 20); /* the general path still generates */
    cl_model_free(m);
}
END_TEST

/* ---- the gradient hook ---------------------------------------------------- */

/* What a backward pass told: how often each float of g, its value then. */
typedef struct {
    const cl_params *p;
    int *told;
    float *seen;
    int counts;
    double items;
} told_log;

static void log_count(void *ctx, double items)
{
    told_log *l = ctx;
    l->counts++, l->items = items;
}

static void log_final(void *ctx, const float *g, size_t n)
{
    told_log *l = ctx;
    size_t off = (size_t)(g - l->p->g);
    ck_assert(off + n <= l->p->n_train);
    for (size_t i = off; i < off + n; i++)
        l->told[i]++, l->seen[i] = l->p->g[i];
}

/* The LM's backward pass tells every trainable float once, and only when
 * nothing later in the pass changes it (what the overlapped sums over the
 * ranks rely on): for 1 and 2 layers, LSTM and GRU. */
static void check_told_once_reg(cl_cell cell, int layers, const cl_encoder_reg *reg)
{
    cl_model *m = tiny_model(cell, layers, 11);
    cl_params *p = &m->params;
    int T = 8, B = 2, ids[16], tg[16];
    for (int i = 0; i < T * B; i++)
        ids[i] = (i * 7) % m->enc.vocab, tg[i] = (i * 5 + 1) % m->enc.vocab;
    cl_lm lm;
    ck_assert_int_eq(cl_lm_create(&lm, &m->enc, p, 0, T, B), 0);
    if (reg)
        ck_assert_int_eq(cl_lm_set_regularization(&lm, reg), 0);
    told_log l = {p, calloc(p->n_train, sizeof(int)), calloc(p->n_train, sizeof(float)), 0, 0};
    cl_rng rng;
    cl_rng_seed(&rng, 3);
    cl_params_zero_grad(p);
    cl_lm_forward(&lm, p, ids, tg, T, B, NULL, NULL, 1, &rng);
    p->hook = (cl_grad_hook){log_count, log_final, &l};
    cl_params_grads_count(p, (double)lm.count); /* as cl_lmtrain does after forward */
    ck_assert_int_eq(cl_lm_backward(&lm, p), 0);
    p->hook = (cl_grad_hook){0};
    ck_assert_int_eq(l.counts, 1);
    for (int k = 0; k < p->nt; k++)
        for (size_t i = p->t[k].offset; !p->t[k].constant && i < p->t[k].offset + p->t[k].size; i++) {
            ck_assert_msg(l.told[i] == 1, "%s[%zu] told %d times", p->t[k].name,
                          i - p->t[k].offset, l.told[i]);
            ck_assert_msg(memcmp(&l.seen[i], &p->g[i], sizeof(float)) == 0,
                          "%s[%zu] changed after it was told final", p->t[k].name,
                          i - p->t[k].offset);
        }
    free(l.told), free(l.seen);
    cl_lm_free(&lm);
    cl_model_free(m);
}

static void check_told_once(cl_cell cell, int layers)
{
    check_told_once_reg(cell, layers, NULL);
}

START_TEST(backward_tells_each_gradient_once_when_final)
{
    check_told_once(CL_CELL_LSTM, 1);
    check_told_once(CL_CELL_LSTM, 2);
    check_told_once(CL_CELL_GRU, 2);
    cl_encoder_reg awd = {{1, 0.3f}, 0.2f}; /* DropConnect routes W_hh's gradient */
    check_told_once_reg(CL_CELL_LSTM, 2, &awd);
}
END_TEST

/* Locked output dropout: one mask per stream, the same at every step. */
START_TEST(locked_output_dropout_repeats_over_time)
{
    cl_model *m = tiny_model(CL_CELL_LSTM, 1, 5);
    int T = 6, B = 3, ids[18], tg[18];
    for (int i = 0; i < T * B; i++)
        ids[i] = i % m->enc.vocab, tg[i] = (i + 1) % m->enc.vocab;
    cl_lm lm;
    ck_assert_int_eq(cl_lm_create(&lm, &m->enc, &m->params, 0.5f, T, B), 0);
    cl_encoder_reg g = {{1, 0}, 0};
    ck_assert_int_eq(cl_lm_set_regularization(&lm, &g), 0);
    cl_rng rng;
    cl_rng_seed(&rng, 8);
    cl_lm_forward(&lm, &m->params, ids, tg, T, B, NULL, NULL, 1, &rng);
    size_t step = (size_t)B * lm.H;
    int zeros = 0;
    for (size_t i = 0; i < step; i++)
        zeros += lm.mask[i] == 0;
    ck_assert(zeros > 0 && zeros < (int)step);
    for (int t = 1; t < T; t++)
        ck_assert(memcmp(lm.mask, lm.mask + t * step, step * sizeof(float)) == 0);
    cl_encoder_reg bad = {{0, 0}, -0.1f};
    ck_assert_int_eq(cl_lm_set_regularization(&lm, &bad), CL_EINVAL);
    cl_lm_free(&lm);
    cl_model_free(m);
}
END_TEST

/* --state-reset: before a step (not the first, which starts every stream from
 * zero anyway) each stream's carried state is zeroed with probability p, all
 * its layers, h and c; the other streams keep theirs.  Checked against a task
 * without resets whose state the test zeroes by hand for the streams the
 * same random draws pick (they come first from the step's stream). */
static void lmtrain_of(cl_lmtrain **t, cl_model *m, const cl_ids *ids, float p)
{
    cl_lmtrain_config c = cl_lmtrain_defaults();
    c.batch = 3, c.seq = 7, c.state_reset = p;
    cl_diag d = {{0}};
    ck_assert_msg(cl_lmtrain_create(t, m, &c, ids, NULL, &d) == 0, "%s", d.msg);
}

START_TEST(state_reset_zeroes_whole_streams)
{
    cl_model *m = tiny_model(CL_CELL_LSTM, 2, 3);
    cl_ids ids;
    int32_t *cps = sample_ids(m, &ids);
    cl_lmtrain *a, *b;
    float p = 0.5f;
    lmtrain_of(&a, m, &ids, p);
    lmtrain_of(&b, m, &ids, 0);
    cl_train_task ta = cl_lmtrain_task(a), tb = cl_lmtrain_task(b);
    cl_rng ra, rb;
    cl_rng_seed(&ra, 11);
    double la, lb, ca, cb;
    cl_diag d = {{0}};
    int B = 3, H = 16, layers = 2, resets = 0, kept = 0;
    for (long i = 0; i < 6; i++) {
        rb = ra;
        int reset[3] = {0, 0, 0};
        for (int s = 0; s < B && i > 0; s++)
            reset[s] = cl_rng_float(&rb) < p;
        size_t na, nb;
        float *sa = ta.state(ta.ctx, &na), *sb = tb.state(tb.ctx, &nb);
        ck_assert_uint_eq(na, nb);
        ck_assert_uint_eq(na, 2 * (size_t)layers * B * H);
        for (int s = 0; s < B; s++) {
            resets += reset[s], kept += i > 0 && !reset[s];
            for (int l = 0; reset[s] && l < 2 * layers; l++) /* h then c, layer by layer */
                memset(sb + ((size_t)l * B + s) * H, 0, H * sizeof(float));
        }
        ck_assert_msg(ta.step(ta.ctx, i, &ra, &la, &ca, &d) == 0, "%s", d.msg);
        ck_assert_msg(tb.step(tb.ctx, i, &rb, &lb, &cb, &d) == 0, "%s", d.msg);
        ck_assert_msg(la == lb && ca == cb, "step %ld: loss %.9g vs %.9g", i, la, lb);
        ck_assert_mem_eq(sa, sb, na * sizeof(float));
    }
    ck_assert_msg(resets > 0 && kept > 0, "the draws must both reset and keep (%d, %d)", resets,
                  kept);
    cl_lmtrain_free(a), cl_lmtrain_free(b);
    cl_lmtrain_config c = cl_lmtrain_defaults();
    c.state_reset = 1;
    ck_assert_int_eq(cl_lmtrain_create(&a, m, &c, &ids, NULL, &d), CL_EINVAL);
    cl_ids_release(&ids);
    cl_model_free(m);
    free(cps);
}
END_TEST

Suite *suite_lm(void)
{
    Suite *s = suite_create("lm");
    TCase *file = tcase_create("model file");
    tcase_add_test(file, model_round_trip);
    tcase_add_test(file, damaged_model_files_fail_cleanly);
    tcase_add_test(file, container_without_model_is_rejected);
    suite_add_tcase(s, file);
    TCase *train = tcase_create("training");
    tcase_add_test(train, interrupted_training_resumes_exactly);
    tcase_add_test(train, training_lowers_the_loss);
    tcase_add_test(train, random_windows_are_slices_from_zero_state);
    tcase_add_test(train, backward_tells_each_gradient_once_when_final);
    tcase_add_test(train, locked_output_dropout_repeats_over_time);
    suite_add_tcase(s, train);
    TCase *sample = tcase_create("sampling");
    tcase_add_test(sample, temperature_zero_is_argmax);
    tcase_add_test(sample, sampling_follows_the_distribution);
    tcase_add_test(sample, seed_makes_generation_reproducible);
    tcase_add_test(sample, bf16_rounding);
    tcase_add_test(sample, engine_follows_float32_1layer);
    tcase_add_test(sample, engine_follows_float32_3layers);
    tcase_add_test(sample, engine_declines_gru);
    tcase_add_test(train, state_reset_zeroes_whole_streams);
    suite_add_tcase(s, sample);
    return s;
}
