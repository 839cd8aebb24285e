/* Statistics where randomness is the point: inverted dropout keeps the
 * expected activation and is off in evaluation (both stack implementations,
 * cl_rnn and cl_seqrnn); the initialisation is what cl_nn.h promises
 * (orthogonal recurrent blocks, Glorot input blocks, forget-gate bias 1);
 * sampling with temperature, top-k and top-p draws from the distribution it
 * should (chi-square on 100,000 seeded draws). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cl_lm.h"
#include "cl_nn.h"
#include "cl_sample.h"
#include "cl_seqrnn.h"
#include "cl_test.h"

/* ==== dropout ============================================================== */

enum { DR_T = 3, DR_B = 4, DR_I = 5, DR_H = 16, DR_DRAWS = 4000 };

/* A 2-layer LSTM whose layer 1 is (nearly) linear in its input: input gate
 * and output gate saturated open, forget gate shut, no recurrence, small
 * input weights, so h = tanh(tanh(W x)) ~ W x.  The mean of its output over
 * many dropout masks then shows the mean of the dropped-out input itself. */
static void linear_top_layer(const cl_rnn_config *c, float *p, cl_rng *rng)
{
    int rows, cols, H = c->hidden;
    ck_assert_int_eq(cl_rnn_init(c, p, rng), 0);
    float *wih = p + cl_rnn_param_offset(c, 1, 0, CL_RNN_W_IH, &rows, &cols);
    float *whh = p + cl_rnn_param_offset(c, 1, 0, CL_RNN_W_HH, NULL, NULL);
    float *bih = p + cl_rnn_param_offset(c, 1, 0, CL_RNN_B_IH, NULL, NULL);
    float *bhh = p + cl_rnn_param_offset(c, 1, 0, CL_RNN_B_HH, NULL, NULL);
    memset(whh, 0, sizeof(float) * (size_t)rows * H);
    memset(bhh, 0, sizeof(float) * (size_t)rows);
    for (int j = 0; j < rows * cols; j++)
        wih[j] = 0.02f * (2 * cl_rng_float(rng) - 1);
    for (int j = 0; j < H; j++) /* gates i, f, g, o */
        bih[j] = 30, bih[H + j] = -30, bih[2 * H + j] = 0, bih[3 * H + j] = 30;
}

typedef int (*dr_forward)(void *r, const float *p, const float *x, float *y, int train,
                          cl_rng *rng);

static int rnn_fwd(void *r, const float *p, const float *x, float *y, int train, cl_rng *rng)
{
    return cl_rnn_forward(r, p, DR_T, DR_B, x, NULL, NULL, y, NULL, NULL, train, rng);
}

static int seqrnn_fwd(void *r, const float *p, const float *x, float *y, int train, cl_rng *rng)
{
    static const int len[DR_B] = {DR_T, DR_T, DR_T, DR_T};
    return cl_seqrnn_forward(r, p, DR_T, DR_B, x, len, y, NULL, train, rng);
}

/* E[train output] over masks against the evaluation output: their ratio
 * (least squares) is 1 when dropout is scaled by 1/(1-p), 1-p when not. */
static void check_dropout(void *r, dr_forward fwd, const cl_rnn_config *c, const char *what)
{
    size_t np = cl_rnn_param_count(c), ny = (size_t)DR_T * DR_B * DR_H;
    float *p = malloc(np * sizeof *p), x[DR_T * DR_B * DR_I], y[DR_T * DR_B * DR_H];
    float ev[DR_T * DR_B * DR_H], ev2[DR_T * DR_B * DR_H];
    double mean[DR_T * DR_B * DR_H] = {0};
    cl_rng rng, r1, r2;
    cl_rng_seed(&rng, 5);
    linear_top_layer(c, p, &rng);
    for (size_t i = 0; i < sizeof x / sizeof *x; i++)
        x[i] = 2 * cl_rng_float(&rng) - 1;
    /* off in evaluation: the same output whatever the generator's state */
    cl_rng_seed(&r1, 1), cl_rng_seed(&r2, 2);
    ck_assert_int_eq(fwd(r, p, x, ev, 0, &r1), 0);
    ck_assert_int_eq(fwd(r, p, x, ev2, 0, &r2), 0);
    ck_assert_mem_eq(ev, ev2, sizeof ev);
    int differs = 0;
    for (int k = 0; k < DR_DRAWS; k++) {
        ck_assert_int_eq(fwd(r, p, x, y, 1, &rng), 0);
        for (size_t i = 0; i < ny; i++) {
            mean[i] += y[i] / (double)DR_DRAWS;
            differs |= y[i] != ev[i];
        }
    }
    ck_assert_msg(differs, "%s: dropout did nothing in training", what);
    double num = 0, den = 0;
    for (size_t i = 0; i < ny; i++)
        num += mean[i] * ev[i], den += (double)ev[i] * ev[i];
    /* 4000 masks of 16 units: the ratio's sampling error is ~0.5 % */
    ck_assert_msg(fabs(num / den - 1) < 0.03, "%s: E[output with dropout] / output without = %.4f",
                  what, num / den);
    free(p);
}

/* _i = 0: cl_rnn, 1: cl_seqrnn (the two stack implementations) */
START_TEST(dropout_keeps_the_expectation)
{
    cl_rnn_config c = {CL_CELL_LSTM, DR_I, DR_H, 2, 0, 0.5f};
    cl_rnn *r = NULL;
    cl_seqrnn *sr = NULL;
    if (_i == 0)
        ck_assert_int_eq(cl_rnn_create(&r, &c, DR_T, DR_B), 0);
    else
        ck_assert_int_eq(cl_seqrnn_create(&sr, &c, DR_T, DR_B), 0);
    check_dropout(_i ? (void *)sr : (void *)r, _i ? seqrnn_fwd : rnn_fwd, &c,
                  _i ? "cl_seqrnn" : "cl_rnn");
    cl_rnn_free(r);
    cl_seqrnn_free(sr);
}
END_TEST

/* The LM head's dropout on the encoder output: E[Y with dropout] = Y. */
START_TEST(lm_head_dropout_keeps_the_expectation)
{
    enum { V = 5, T = 3, B = 2, H = 8, DRAWS = 4000 };
    cl_encoder_config ec = {V, 3, {CL_CELL_LSTM, 3, H, 1, 0, 0}};
    cl_params p;
    cl_lm lm;
    cl_rng rng;
    int ids[T * B], tg[T * B];
    float y0[T * B * H];
    double mean[T * B * H] = {0};
    cl_rng_seed(&rng, 11);
    cl_params_init(&p);
    ck_assert_int_eq(cl_encoder_add_params(&ec, &p), 0);
    ck_assert_int_eq(cl_lm_add_params(&ec, &p), 0);
    ck_assert_int_eq(cl_params_alloc(&p), 0);
    ck_assert_int_eq(cl_params_alloc_grads(&p), 0);
    for (size_t i = 0; i < p.n_train; i++)
        p.w[i] = 2 * cl_rng_float(&rng) - 1;
    ck_assert_int_eq(cl_lm_create(&lm, &ec, &p, 0.5f, T, B), 0);
    for (int i = 0; i < T * B; i++)
        ids[i] = i % V, tg[i] = (i + 1) % V;
    cl_lm_forward(&lm, &p, ids, tg, T, B, NULL, NULL, 0, NULL);
    memcpy(y0, lm.Y, sizeof y0);
    for (int k = 0; k < DRAWS; k++) {
        cl_lm_forward(&lm, &p, ids, tg, T, B, NULL, NULL, 1, &rng);
        for (int i = 0; i < T * B * H; i++)
            mean[i] += lm.Y[i] / (double)DRAWS;
    }
    double num = 0, den = 0;
    for (int i = 0; i < T * B * H; i++)
        num += mean[i] * y0[i], den += (double)y0[i] * y0[i];
    ck_assert_msg(fabs(num / den - 1) < 0.03, "E[Y with dropout] / Y = %.4f", num / den);
    cl_lm_free(&lm);
    cl_params_free(&p);
}
END_TEST

/* ==== initialisation ======================================================= */

static void check_init(cl_cell cell)
{
    cl_rnn_config c = {cell, 7, 9, 2, 1, 0};
    size_t np = cl_rnn_param_count(&c);
    float *p = malloc(np * sizeof *p);
    cl_rng rng;
    cl_rng_seed(&rng, 3);
    ck_assert_int_eq(cl_rnn_init(&c, p, &rng), 0);
    int H = c.hidden, G = cl_rnn_gates(cell);
    for (int l = 0; l < c.layers; l++)
        for (int d = 0; d < 2; d++) {
            int rows, in;
            const float *wih = p + cl_rnn_param_offset(&c, l, d, CL_RNN_W_IH, &rows, &in);
            const float *whh = p + cl_rnn_param_offset(&c, l, d, CL_RNN_W_HH, NULL, NULL);
            const float *bih = p + cl_rnn_param_offset(&c, l, d, CL_RNN_B_IH, NULL, NULL);
            const float *bhh = p + cl_rnn_param_offset(&c, l, d, CL_RNN_B_HH, NULL, NULL);
            for (int g = 0; g < G; g++) {
                const float *q = whh + (size_t)g * H * H;
                for (int i = 0; i < H; i++) /* Q^T Q = I */
                    for (int j = 0; j < H; j++) {
                        double s = 0;
                        for (int k = 0; k < H; k++)
                            s += (double)q[k * H + i] * q[k * H + j];
                        ck_assert_msg(fabs(s - (i == j)) < 1e-5, "l%d d%d gate %d: (Q^T Q)[%d][%d] "
                                      "= %g", l, d, g, i, j, s);
                    }
                /* Glorot-uniform per gate block: inside the bound, and filling it */
                double a = sqrt(6.0 / (H + in)), mx = 0;
                for (int k = 0; k < H * in; k++)
                    mx = fmax(mx, fabs(wih[(size_t)g * H * in + k]));
                ck_assert_msg(mx <= a && mx > 0.8 * a, "gate %d: max |w_ih| %g, bound %g", g, mx,
                              a);
            }
            for (int k = 0; k < rows; k++) { /* biases zero, the LSTM forget gate's 1 */
                int forget = cell == CL_CELL_LSTM && k >= H && k < 2 * H;
                ck_assert_msg(bih[k] == (forget ? 1.0f : 0.0f) && bhh[k] == 0, "bias %d", k);
            }
        }
    /* The blocks are different draws, not one matrix repeated. */
    const float *w0 = p + cl_rnn_param_offset(&c, 0, 0, CL_RNN_W_HH, NULL, NULL);
    ck_assert(memcmp(w0, w0 + H * H, sizeof(float) * H * H) != 0);
    free(p);
}

START_TEST(init_lstm) { check_init(CL_CELL_LSTM); }
END_TEST
START_TEST(init_gru) { check_init(CL_CELL_GRU); }
END_TEST

/* ==== sampling ============================================================= */

enum { SV = 7, SDRAWS = 100000 };
static const float slogits[SV] = {1.0f, 0.5f, -0.3f, 2.0f, -1.0f, 0.2f, 1.4f};

/* What cl_sample.h promises: softmax(logits / T); the k most likely; of
 * those, the smallest most-likely set whose probability reaches top_p. */
static void expected(const cl_sample_config *c, double *q)
{
    double p[SV], sum = 0;
    int order[SV];
    for (int i = 0; i < SV; i++)
        sum += p[i] = exp(slogits[i] / c->temperature), order[i] = i;
    for (int i = 0; i < SV; i++)
        p[i] /= sum;
    for (int i = 0; i < SV; i++) /* insertion sort, most likely first */
        for (int j = i; j > 0 && p[order[j]] > p[order[j - 1]]; j--) {
            int t = order[j];
            order[j] = order[j - 1], order[j - 1] = t;
        }
    int k = c->top_k > 0 && c->top_k < SV ? c->top_k : SV, n = 0;
    double mass = 0;
    while (n < k && (n == 0 || mass < c->top_p))
        mass += p[order[n++]];
    memset(q, 0, SV * sizeof *q);
    for (int i = 0; i < n; i++)
        q[order[i]] = p[order[i]] / mass;
}

static void check_sampling(float temperature, int top_k, float top_p)
{
    cl_sample_config c = {temperature, top_k, top_p};
    double q[SV];
    long n[SV] = {0};
    float work[SV];
    int order[SV];
    cl_rng rng;
    cl_rng_seed(&rng, 2024);
    expected(&c, q);
    for (int k = 0; k < SDRAWS; k++) {
        int i = cl_sample(slogits, SV, &c, &rng, work, order);
        ck_assert(i >= 0 && i < SV);
        n[i]++;
    }
    double chi2 = 0;
    int df = -1;
    for (int i = 0; i < SV; i++) {
        ck_assert_msg(q[i] > 0 || n[i] == 0, "T %g k %d p %g: %ld draws of excluded %d",
                      temperature, top_k, top_p, n[i], i);
        if (q[i] > 0)
            chi2 += (n[i] - SDRAWS * q[i]) * (n[i] - SDRAWS * q[i]) / (SDRAWS * q[i]), df++;
    }
    /* 35 is beyond the 1e-5 quantile for up to 6 degrees of freedom (a
     * seeded generator: the result is fixed, this bounds luck of the seed) */
    ck_assert_msg(chi2 < 35, "T %g k %d p %g: chi-square %.1f with %d degrees of freedom",
                  temperature, top_k, top_p, chi2, df);
}

START_TEST(sampling_draws_from_the_distribution)
{
    check_sampling(1.0f, 0, 1.0f);
    check_sampling(0.5f, 0, 1.0f);
    check_sampling(2.5f, 0, 1.0f);
    check_sampling(1.0f, 3, 1.0f);
    check_sampling(0.8f, 0, 0.75f);
    check_sampling(1.5f, 4, 0.9f);
    check_sampling(1.0f, 1, 1.0f); /* top-1: always the argmax */
    check_sampling(1.2f, 100, 1.0f); /* k beyond V: all of them */
}
END_TEST

Suite *suite_stats(void)
{
    Suite *s = suite_create("stats");
    TCase *tc = tcase_create("stats");
    tcase_add_loop_test(tc, dropout_keeps_the_expectation, 0, 2);
    tcase_add_test(tc, lm_head_dropout_keeps_the_expectation);
    tcase_add_test(tc, init_lstm);
    tcase_add_test(tc, init_gru);
    tcase_add_test(tc, sampling_draws_from_the_distribution);
    suite_add_tcase(s, tc);
    return s;
}
