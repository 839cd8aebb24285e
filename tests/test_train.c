/* End-to-end learning in float: embedding + LSTM/GRU + lm head + Adam with
 * clipping must learn a deterministic sequence that needs memory (counting),
 * and a seed must make the run reproducible bit for bit. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cl_lm.h"
#include "cl_optim.h"
#include "cl_test.h"

/* "ab" "aab" "aaab" "aaaab" "aaaaab" repeated: after an 'a' the next symbol
 * depends on how many a's came since the last b, so the model must count. */
static int counting_symbol(long i)
{
    static const char *const period = "abaabaaabaaaabaaaaab";
    return period[i % 20] == 'a' ? 1 : 2;
}

typedef struct {
    cl_encoder_config ec;
    cl_params p;
    cl_lm lm;
    cl_optim opt;
    cl_rng rng;
    float *h, *c;
} tiny_lm;

static void tiny_init(tiny_lm *m, cl_cell cell, int T, int B, uint64_t seed)
{
    memset(m, 0, sizeof *m);
    m->ec = (cl_encoder_config){3, 8, {cell, 8, 32, 1, 0, 0}};
    cl_params_init(&m->p);
    ck_assert_int_eq(cl_encoder_add_params(&m->ec, &m->p), 0);
    ck_assert_int_eq(cl_lm_add_params(&m->ec, &m->p), 0);
    ck_assert_int_eq(cl_params_alloc(&m->p), 0);
    ck_assert_int_eq(cl_params_alloc_grads(&m->p), 0);
    cl_rng_seed(&m->rng, seed);
    ck_assert_int_eq(cl_encoder_init_params(&m->ec, &m->p, &m->rng), 0);
    ck_assert_int_eq(cl_lm_init_params(&m->p, &m->rng), 0);
    ck_assert_int_eq(cl_lm_create(&m->lm, &m->ec, &m->p, 0.0f, T, B), 0);
    cl_optim_config oc = cl_optim_defaults();
    oc.lr = 1e-2f;
    ck_assert_int_eq(cl_optim_create(&m->opt, &oc, m->p.n), 0);
    m->h = calloc((size_t)B * 32, sizeof(float));
    m->c = calloc((size_t)B * 32, sizeof(float));
}

static void tiny_free(tiny_lm *m)
{
    cl_lm_free(&m->lm);
    cl_optim_free(&m->opt);
    cl_params_free(&m->p);
    free(m->h), free(m->c);
}

/* One truncated-BPTT step over B streams that start 37 symbols apart. */
static double tiny_step(tiny_lm *m, long step, int T, int B)
{
    int ids[64 * 8], tg[64 * 8];
    for (int t = 0; t < T; t++)
        for (int b = 0; b < B; b++) {
            long i = (long)b * 37 + step * T + t;
            ids[t * B + b] = counting_symbol(i);
            tg[t * B + b] = counting_symbol(i + 1);
        }
    cl_params_zero_grad(&m->p);
    double loss = cl_lm_forward(&m->lm, &m->p, ids, tg, T, B, m->h, m->c, 1, &m->rng);
    ck_assert_int_eq(cl_lm_backward(&m->lm, &m->p), 0);
    cl_grad_clip(m->p.g, m->p.n, 5.0);
    cl_optim_begin(&m->opt);
    cl_optim_update(&m->opt, m->p.w, m->p.g, 0, m->p.n, m->opt.cfg.lr);
    return loss / (double)m->lm.count;
}

static double train_counting(cl_cell cell, int steps)
{
    tiny_lm m;
    tiny_init(&m, cell, 20, 8, 1);
    double recent = 0;
    for (int s = 0; s < steps; s++) {
        double l = tiny_step(&m, s, 20, 8);
        recent = s < steps - 20 ? 0 : recent + l / 20;
    }
    tiny_free(&m);
    return recent;
}

START_TEST(lstm_learns_counting)
{
    double loss = train_counting(CL_CELL_LSTM, 400);
    ck_assert_msg(loss < 0.02, "mean loss of the last 20 steps %.4f (want < 0.02)", loss);
}
END_TEST

START_TEST(gru_learns_counting)
{
    double loss = train_counting(CL_CELL_GRU, 400);
    ck_assert_msg(loss < 0.02, "mean loss of the last 20 steps %.4f (want < 0.02)", loss);
}
END_TEST

START_TEST(seed_makes_training_reproducible)
{
    tiny_lm a, b;
    tiny_init(&a, CL_CELL_LSTM, 10, 4, 5);
    tiny_init(&b, CL_CELL_LSTM, 10, 4, 5);
    for (int s = 0; s < 30; s++)
        ck_assert_double_eq(tiny_step(&a, s, 10, 4), tiny_step(&b, s, 10, 4));
    ck_assert_mem_eq(a.p.w, b.p.w, a.p.n * sizeof(float));
    tiny_free(&a);
    tiny_free(&b);
}
END_TEST

/* Gradients exist only once asked for (a model loaded to tag or generate
 * has none), zeroed, and asking again keeps them; cl_alloc gives zeroed,
 * 64-byte aligned memory at every size (huge-page ones included) and NULL
 * for a size that cannot be rounded up. */
START_TEST(gradients_only_when_asked)
{
    cl_params p;
    cl_params_init(&p);
    int shape[2] = {300, 5000}; /* 6 MB: above cl_alloc's huge-page size */
    ck_assert_int_ge(cl_params_add(&p, "w", 2, shape), 0);
    ck_assert_int_eq(cl_params_alloc_grads(&p), CL_EINVAL); /* before the weights */
    ck_assert_int_eq(cl_params_alloc(&p), 0);
    ck_assert_ptr_null(p.g);
    cl_params_zero_grad(&p); /* nothing to zero: no crash */
    ck_assert_int_eq(cl_params_alloc_grads(&p), 0);
    float *g = p.g;
    ck_assert_ptr_nonnull(g);
    size_t nonzero = 0;
    for (size_t i = 0; i < p.n_train; i++)
        nonzero += g[i] != 0.0f || p.w[i] != 0.0f;
    ck_assert_uint_eq(nonzero, 0);
    g[7] = 1;
    ck_assert_int_eq(cl_params_alloc_grads(&p), 0);
    ck_assert_ptr_eq(p.g, g);
    ck_assert(p.g[7] == 1.0f);
    ck_assert_uint_eq((uintptr_t)p.w % 64, 0);
    cl_params_free(&p);
    for (size_t n = 0; n < ((size_t)9 << 20); n = n * 3 + 1) {
        unsigned char *b = cl_alloc(n);
        ck_assert_ptr_nonnull(b);
        ck_assert_uint_eq((uintptr_t)b % 64, 0);
        size_t set = 0;
        for (size_t i = 0; i < n; i++)
            set += b[i] != 0;
        ck_assert_uint_eq(set, 0);
        free(b);
    }
    ck_assert_ptr_null(cl_alloc(SIZE_MAX - 10));
}
END_TEST

/* Folding the embedding into layer 0's projection changes only the order of
 * float operations: outputs and every gradient match the plain path. */
static void run_encoder(cl_cell cell, int fold, float *Y, float *grads)
{
    cl_encoder_config ec = {7, 5, {cell, 5, 6, 2, 0, 0}};
    cl_params p;
    cl_encoder e;
    cl_rng rng;
    cl_params_init(&p);
    ck_assert_int_eq(cl_encoder_add_params(&ec, &p), 0);
    ck_assert_int_eq(cl_params_alloc(&p), 0);
    ck_assert_int_eq(cl_params_alloc_grads(&p), 0);
    cl_rng_seed(&rng, 3);
    ck_assert_int_eq(cl_encoder_init_params(&ec, &p, &rng), 0);
    ck_assert_int_eq(cl_encoder_create(&e, &ec, &p, 4, 3), 0);
    e.fold = fold;
    int ids[12] = {1, 2, 3, 6, 0, -1, 4, 4, 5, 2, 1, 6};
    float dY[4 * 3 * 6];
    for (int i = 0; i < 72; i++)
        dY[i] = (float)((i * 7) % 11) / 11.0f - 0.5f;
    ck_assert_int_eq(cl_encoder_forward(&e, &p, ids, 4, 3, NULL, NULL, Y, NULL, NULL, 1, &rng), 0);
    ck_assert_int_eq(cl_encoder_backward(&e, &p, dY, NULL, NULL, NULL, NULL), 0);
    ck_assert_uint_le(p.n, 4096);
    memcpy(grads, p.g, p.n * sizeof(float));
    cl_encoder_free(&e);
    cl_params_free(&p);
}

static void check_fold(cl_cell cell)
{
    float y1[72], y2[72], g1[4096] = {0}, g2[4096] = {0};
    run_encoder(cell, 1, y1, g1);
    run_encoder(cell, 0, y2, g2);
    for (int i = 0; i < 72; i++)
        ck_assert_float_eq_tol(y1[i], y2[i], 1e-5f);
    double worst = 0, scale = 0;
    for (int i = 0; i < 4096; i++) {
        worst = fmax(worst, fabs(g1[i] - g2[i]));
        scale = fmax(scale, fabs(g2[i]));
    }
    ck_assert(scale > 0);
    ck_assert_msg(worst <= 1e-5 * scale, "fold changes a gradient by %g (scale %g)", worst, scale);
}

START_TEST(fold_matches_plain_lstm) { check_fold(CL_CELL_LSTM); }
END_TEST
START_TEST(fold_matches_plain_gru) { check_fold(CL_CELL_GRU); }
END_TEST

Suite *suite_train(void)
{
    Suite *s = suite_create("train");
    TCase *tc = tcase_create("synthetic");
    tcase_add_test(tc, lstm_learns_counting);
    tcase_add_test(tc, gru_learns_counting);
    tcase_add_test(tc, seed_makes_training_reproducible);
    tcase_add_test(tc, gradients_only_when_asked);
    tcase_add_test(tc, fold_matches_plain_lstm);
    tcase_add_test(tc, fold_matches_plain_gru);
    suite_add_tcase(s, tc);
    return s;
}
