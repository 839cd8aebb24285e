/* cl_seqrnn: finite-difference gradient checks (double) of every parameter
 * and input with ragged lengths, equivalence with cl_rnn when nothing is
 * padded, independence of each sequence from the rest of the batch and from
 * its padding, and zeros at padded steps. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cl_error.h"
#include "cl_seqrnn.h"
#include "cl_test.h"
#include "gradcheck.h"

/* ---- gradient checks (double) --------------------------------------------- */

enum { GT = 5, GB = 4 };

typedef struct {
    cl_rnn_config c;
    int len[GB];
    size_t np, nx, ny, nl;
    double *p, *x, *y, *last, *ry, *rl;
    cl_seqrnn_d *r;
    uint64_t dropout_seed;
} seq_case;

/* L = sum(Y * RY) + sum(last * RL).  RY is non-zero at padded steps too,
 * where Y must be zero, so a padded output that leaked would show. */
static double seq_loss(void *ctx)
{
    seq_case *k = ctx;
    cl_rng rng;
    cl_rng_seed(&rng, k->dropout_seed); /* the same dropout masks every call */
    ck_assert_int_eq(
        cl_seqrnn_forward_d(k->r, k->p, GT, GB, k->x, k->len, k->y, k->last, 1, &rng), 0);
    return dot(k->y, k->ry, k->ny) + dot(k->last, k->rl, k->nl);
}

static double *dalloc(size_t n) { return calloc(n ? n : 1, sizeof(double)); }

static void seq_case_init(seq_case *k, cl_cell cell, int layers, int bidir, float dropout)
{
    static const int lens[GB] = {5, 2, 4, 1};
    cl_rng rng;
    cl_rng_seed(&rng, 11 + layers * 2 + bidir + cell * 7);
    memset(k, 0, sizeof *k);
    k->c = (cl_rnn_config){cell, 3, 3, layers, bidir, dropout};
    memcpy(k->len, lens, sizeof lens);
    k->dropout_seed = 5;
    k->np = cl_rnn_param_count(&k->c);
    k->nx = (size_t)GT * GB * k->c.input;
    k->ny = (size_t)GT * GB * cl_rnn_out_dim(&k->c);
    k->nl = (size_t)GB * cl_rnn_out_dim(&k->c);
    double **bufs[] = {&k->p, &k->x, &k->y, &k->last, &k->ry, &k->rl};
    size_t sizes[] = {k->np, k->nx, k->ny, k->nl, k->ny, k->nl};
    for (int i = 0; i < 6; i++)
        ck_assert_ptr_nonnull(*bufs[i] = dalloc(sizes[i]));
    fill_uniform(k->p, k->np, &rng, 0.6);
    fill_uniform(k->x, k->nx, &rng, 1.0);
    fill_uniform(k->ry, k->ny, &rng, 1.0);
    fill_uniform(k->rl, k->nl, &rng, 1.0);
    ck_assert_int_eq(cl_seqrnn_create_d(&k->r, &k->c, GT, GB), 0);
}

static void seq_case_free(seq_case *k)
{
    double *bufs[] = {k->p, k->x, k->y, k->last, k->ry, k->rl};
    for (int i = 0; i < 6; i++)
        free(bufs[i]);
    cl_seqrnn_free_d(k->r);
}

/* Rows t >= len[b] of a [GT,GB,w] buffer are exactly zero. */
static void expect_padding_zero(const double *m, const int *len, int w, const char *what)
{
    for (int t = 0; t < GT; t++)
        for (int b = 0; b < GB; b++)
            for (int j = 0; t >= len[b] && j < w; j++)
                ck_assert_msg(m[((size_t)t * GB + b) * w + j] == 0, "%s: t=%d b=%d not zero",
                              what, t, b);
}

static void check_seq(cl_cell cell, int layers, int bidir, float dropout)
{
    seq_case k;
    seq_case_init(&k, cell, layers, bidir, dropout);
    double *gp = dalloc(k.np), *gx = dalloc(k.nx);
    seq_loss(&k);
    expect_padding_zero(k.y, k.len, cl_rnn_out_dim(&k.c), "Y");
    ck_assert_int_eq(cl_seqrnn_backward_d(k.r, k.p, gp, k.ry, k.rl, gx), 0);
    expect_padding_zero(gx, k.len, k.c.input, "dX");
    gc_expect(seq_loss, &k, k.p, gp, k.np, "params");
    gc_expect(seq_loss, &k, k.x, gx, k.nx, "input X");
    free(gp), free(gx);
    seq_case_free(&k);
}

START_TEST(grad_lstm_1layer_bidir) { check_seq(CL_CELL_LSTM, 1, 1, 0); }
END_TEST
START_TEST(grad_lstm_2layer_bidir) { check_seq(CL_CELL_LSTM, 2, 1, 0); }
END_TEST
START_TEST(grad_gru_2layer_bidir) { check_seq(CL_CELL_GRU, 2, 1, 0); }
END_TEST
START_TEST(grad_lstm_2layer_uni_dropout) { check_seq(CL_CELL_LSTM, 2, 0, 0.3f); }
END_TEST
START_TEST(grad_gru_3layer_bidir_dropout) { check_seq(CL_CELL_GRU, 3, 1, 0.3f); }
END_TEST

/* dY and dlast are optional, and their contributions add up. */
START_TEST(grad_parts_add_up)
{
    seq_case k;
    seq_case_init(&k, CL_CELL_LSTM, 2, 1, 0);
    double *g1 = dalloc(k.np), *g2 = dalloc(k.np), *x1 = dalloc(k.nx), *x2 = dalloc(k.nx);
    seq_loss(&k);
    ck_assert_int_eq(cl_seqrnn_backward_d(k.r, k.p, g1, k.ry, k.rl, x1), 0);
    ck_assert_int_eq(cl_seqrnn_backward_d(k.r, k.p, g2, k.ry, NULL, x2), 0);
    ck_assert_int_eq(cl_seqrnn_backward_d(k.r, k.p, g2, NULL, k.rl, NULL), 0); /* g2 += */
    for (size_t i = 0; i < k.np; i++)
        ck_assert_double_eq_tol(g1[i], g2[i], 1e-12);
    free(g1), free(g2), free(x1), free(x2);
    seq_case_free(&k);
}
END_TEST

/* ---- float helpers -------------------------------------------------------- */

static float *falloc(size_t n)
{
    float *p = calloc(n ? n : 1, sizeof(float));
    ck_assert_ptr_nonnull(p);
    return p;
}

static void ffill(float *x, size_t n, cl_rng *rng, float scale)
{
    for (size_t i = 0; i < n; i++)
        x[i] = scale * (2 * cl_rng_float(rng) - 1);
}

/* Relative difference with a floor of 1: outputs are tanh-bounded, of order
 * 1, and the reverse direction runs its GEMMs over permuted rows, which moves
 * float rounding by ~1e-8 absolute (in double the two agree to 1e-17). */
static void expect_close(float a, float b, double tol, const char *what, size_t i)
{
    double e = fabs((double)a - b) / fmax(fabs((double)a) + fabs((double)b), 1);
    ck_assert_msg(e <= tol, "%s[%zu]: %.9g vs %.9g (rel %.3g)", what, i, a, b, e);
}

static float *init_params(const cl_rnn_config *c, uint64_t seed)
{
    cl_rng rng;
    cl_rng_seed(&rng, seed);
    float *p = falloc(cl_rnn_param_count(c));
    ck_assert_int_eq(cl_rnn_init(c, p, &rng), 0);
    /* init zeroes most biases: perturb everything so biases matter too */
    for (size_t i = 0; i < cl_rnn_param_count(c); i++)
        p[i] += 0.2f * (2 * cl_rng_float(&rng) - 1);
    return p;
}

/* ---- equivalence with cl_rnn when nothing is padded ----------------------- */

static void check_equivalent(cl_cell cell, int bidir, float dropout, int train)
{
    enum { T = 7, B = 3 };
    cl_rnn_config c = {cell, 5, 6, 2, bidir, dropout};
    int D = cl_rnn_dirs(&c), DH = cl_rnn_out_dim(&c), H = c.hidden, len[B] = {T, T, T};
    float *p = init_params(&c, 21 + bidir), *x = falloc((size_t)T * B * c.input);
    float *y1 = falloc((size_t)T * B * DH), *y2 = falloc((size_t)T * B * DH);
    float *hT = falloc((size_t)c.layers * D * B * H), *last = falloc((size_t)B * DH);
    cl_rng rng;
    cl_rng_seed(&rng, 3);
    ffill(x, (size_t)T * B * c.input, &rng, 1);
    cl_rnn *rnn;
    cl_seqrnn *seq;
    ck_assert_int_eq(cl_rnn_create(&rnn, &c, T, B), 0);
    ck_assert_int_eq(cl_seqrnn_create(&seq, &c, T, B), 0);
    cl_rng_seed(&rng, 9);
    ck_assert_int_eq(cl_rnn_forward(rnn, p, T, B, x, NULL, NULL, y1, hT, NULL, train, &rng), 0);
    cl_rng_seed(&rng, 9);
    ck_assert_int_eq(cl_seqrnn_forward(seq, p, T, B, x, len, y2, last, train, &rng), 0);
    for (size_t i = 0; i < (size_t)T * B * DH; i++)
        expect_close(y2[i], y1[i], 1e-6, "Y", i);
    const float *top = hT + (size_t)(c.layers - 1) * D * B * H; /* [D, B, H] */
    for (int d = 0; d < D; d++)
        for (int b = 0; b < B; b++)
            for (int j = 0; j < H; j++)
                expect_close(last[(size_t)b * DH + d * H + j], top[((size_t)d * B + b) * H + j],
                             1e-6, "last", (size_t)b * DH + d * H + j);
    cl_rnn_free(rnn), cl_seqrnn_free(seq);
    free(p), free(x), free(y1), free(y2), free(hT), free(last);
}

START_TEST(equals_rnn_lstm_uni) { check_equivalent(CL_CELL_LSTM, 0, 0, 0); }
END_TEST
START_TEST(equals_rnn_lstm_bidir) { check_equivalent(CL_CELL_LSTM, 1, 0, 0); }
END_TEST
START_TEST(equals_rnn_gru_bidir) { check_equivalent(CL_CELL_GRU, 1, 0, 0); }
END_TEST
/* Same rng, same masks: dropout is drawn exactly as cl_rnn draws it. */
START_TEST(equals_rnn_bidir_dropout_train) { check_equivalent(CL_CELL_LSTM, 1, 0.4f, 1); }
END_TEST

/* ---- padding independence ------------------------------------------------- */

enum { PT = 6, PB = 4, PI = 3 };

typedef struct {
    cl_rnn_config c;
    int DH;
    float *p, *x, *y, *last;
    cl_seqrnn *seq;
} pad_case;

static void pad_case_init(pad_case *k)
{
    k->c = (cl_rnn_config){CL_CELL_LSTM, PI, 4, 2, 1, 0};
    k->DH = cl_rnn_out_dim(&k->c);
    k->p = init_params(&k->c, 33);
    k->x = falloc((size_t)PT * PB * PI);
    k->y = falloc((size_t)PT * PB * k->DH);
    k->last = falloc((size_t)PB * k->DH);
    ck_assert_int_eq(cl_seqrnn_create(&k->seq, &k->c, PT, PB), 0);
}

static void pad_case_free(pad_case *k)
{
    cl_seqrnn_free(k->seq);
    free(k->p), free(k->x), free(k->y), free(k->last);
}

/* Fills x [PT,PB,PI] from rng, then the padding with NaN or huge values. */
static void fill_padded(float *x, const int *len, cl_rng *rng)
{
    ffill(x, (size_t)PT * PB * PI, rng, 1);
    for (int t = 0; t < PT; t++)
        for (int b = 0; b < PB; b++)
            for (int j = 0; t >= len[b] && j < PI; j++)
                x[((size_t)t * PB + b) * PI + j] = (b & 1) ? NAN : 1e30f;
}

/* Sequence b's outputs and final states in two runs agree. */
static void expect_same_seq(const pad_case *k, const float *y, const float *last, int b, int n,
                            int B2, int b2, const float *y2, const float *last2)
{
    for (int t = 0; t < n; t++)
        for (int j = 0; j < k->DH; j++)
            expect_close(y2[((size_t)t * B2 + b2) * k->DH + j], y[((size_t)t * PB + b) * k->DH + j],
                         1e-6, "Y", (size_t)t * 100 + j);
    for (int j = 0; j < k->DH; j++)
        expect_close(last2[(size_t)b2 * k->DH + j], last[(size_t)b * k->DH + j], 1e-6, "last", j);
}

START_TEST(padding_and_neighbours_do_not_matter)
{
    pad_case k;
    pad_case_init(&k);
    int len1[PB] = {6, 3, 1, 4}, len2[PB] = {2, 3, 6, 4};
    float *y2 = falloc((size_t)PT * PB * k.DH), *last2 = falloc((size_t)PB * k.DH);
    cl_rng rng;
    cl_rng_seed(&rng, 1);
    fill_padded(k.x, len1, &rng);
    ck_assert_int_eq(cl_seqrnn_forward(k.seq, k.p, PT, PB, k.x, len1, k.y, k.last, 0, NULL), 0);
    /* Sequence 1 keeps its steps; everything else (other sequences, their
     * lengths, sequence 1's padding) changes. */
    float keep[3 * PI];
    for (int t = 0; t < 3; t++)
        memcpy(keep + t * PI, k.x + ((size_t)t * PB + 1) * PI, PI * sizeof(float));
    fill_padded(k.x, len2, &rng);
    for (int t = 0; t < 3; t++)
        memcpy(k.x + ((size_t)t * PB + 1) * PI, keep + t * PI, PI * sizeof(float));
    for (int t = 3; t < PT; t++)
        k.x[((size_t)t * PB + 1) * PI] = -7;
    ck_assert_int_eq(cl_seqrnn_forward(k.seq, k.p, PT, PB, k.x, len2, y2, last2, 0, NULL), 0);
    expect_same_seq(&k, k.y, k.last, 1, 3, PB, 1, y2, last2);
    free(y2), free(last2);
    pad_case_free(&k);
}
END_TEST

/* Each sequence of a ragged batch gives what it gives alone (B = 1, T = len). */
START_TEST(batch_equals_each_sequence_alone)
{
    pad_case k;
    pad_case_init(&k);
    int len[PB] = {6, 3, 1, 4};
    float xs[PT * PI], ys[PT * 8], lasts[8];
    ck_assert_int_le(k.DH, 8);
    cl_rng rng;
    cl_rng_seed(&rng, 2);
    fill_padded(k.x, len, &rng);
    ck_assert_int_eq(cl_seqrnn_forward(k.seq, k.p, PT, PB, k.x, len, k.y, k.last, 0, NULL), 0);
    for (int b = 0; b < PB; b++) {
        for (int t = 0; t < len[b]; t++)
            memcpy(xs + t * PI, k.x + ((size_t)t * PB + b) * PI, PI * sizeof(float));
        ck_assert_int_eq(cl_seqrnn_forward(k.seq, k.p, len[b], 1, xs, &len[b], ys, lasts, 0, NULL),
                         0);
        expect_same_seq(&k, k.y, k.last, b, len[b], 1, 0, ys, lasts);
    }
    pad_case_free(&k);
}
END_TEST

/* NaN or huge padding, and garbage in dY at padded steps, never reach an
 * output, a parameter gradient or dX; padded Y and dX are exactly zero. */
START_TEST(padded_outputs_and_input_grads_are_zero)
{
    pad_case k;
    pad_case_init(&k);
    int len[PB] = {6, 3, 1, 4};
    size_t np = cl_rnn_param_count(&k.c), ny = (size_t)PT * PB * k.DH;
    float *g = falloc(np), *dx = falloc((size_t)PT * PB * PI), *dy = falloc(ny);
    cl_rng rng;
    cl_rng_seed(&rng, 4);
    fill_padded(k.x, len, &rng);
    ffill(dy, ny, &rng, 1);
    for (int t = 0; t < PT; t++)
        for (int b = 0; b < PB; b++)
            for (int j = 0; t >= len[b] && j < k.DH; j++)
                dy[((size_t)t * PB + b) * k.DH + j] = NAN;
    ck_assert_int_eq(cl_seqrnn_forward(k.seq, k.p, PT, PB, k.x, len, k.y, k.last, 1, NULL), 0);
    ck_assert_int_eq(cl_seqrnn_backward(k.seq, k.p, g, dy, k.last, dx), 0);
    for (int t = 0; t < PT; t++)
        for (int b = 0; b < PB; b++) {
            for (int j = 0; j < k.DH; j++)
                ck_assert(t < len[b] ? isfinite(k.y[((size_t)t * PB + b) * k.DH + j])
                                     : k.y[((size_t)t * PB + b) * k.DH + j] == 0);
            for (int j = 0; j < PI; j++)
                ck_assert(t < len[b] ? isfinite(dx[((size_t)t * PB + b) * PI + j])
                                     : dx[((size_t)t * PB + b) * PI + j] == 0);
        }
    for (size_t i = 0; i < np; i++)
        ck_assert_msg(isfinite(g[i]), "grad %zu not finite", i);
    free(g), free(dx), free(dy);
    pad_case_free(&k);
}
END_TEST

START_TEST(bad_arguments_are_rejected)
{
    pad_case k;
    pad_case_init(&k);
    int zero[PB] = {6, 0, 1, 4}, longer[PB] = {6, 7, 1, 4}, ok[PB] = {6, 3, 1, 4};
    cl_seqrnn *r;
    cl_rnn_config bad = k.c;
    bad.hidden = 0;
    ck_assert_int_eq(cl_seqrnn_create(&r, &bad, PT, PB), CL_EINVAL);
    ck_assert_ptr_null(r);
    cl_seqrnn *q = k.seq;
    ck_assert_int_eq(cl_seqrnn_forward(q, k.p, PT, PB, k.x, zero, k.y, NULL, 0, NULL), CL_EINVAL);
    ck_assert_int_eq(cl_seqrnn_forward(q, k.p, PT, PB, k.x, longer, k.y, NULL, 0, NULL), CL_EINVAL);
    ck_assert_int_eq(cl_seqrnn_forward(q, k.p, PT + 1, PB, k.x, ok, k.y, NULL, 0, NULL), CL_EINVAL);
    ck_assert_int_eq(cl_seqrnn_forward(q, k.p, PT, PB + 1, k.x, ok, k.y, NULL, 0, NULL), CL_EINVAL);
    /* training with dropout needs an rng */
    cl_rnn_config drop = k.c;
    drop.dropout = 0.5f;
    ck_assert_int_eq(cl_seqrnn_create(&r, &drop, PT, PB), 0);
    ck_assert_int_eq(cl_seqrnn_forward(r, k.p, PT, PB, k.x, ok, k.y, NULL, 1, NULL), CL_EINVAL);
    ck_assert_int_eq(cl_seqrnn_forward(r, k.p, PT, PB, k.x, ok, k.y, NULL, 0, NULL), 0);
    cl_seqrnn_free(r);
    /* backward needs a training forward */
    ck_assert_int_eq(cl_seqrnn_forward(k.seq, k.p, PT, PB, k.x, ok, k.y, NULL, 0, NULL), 0);
    ck_assert_int_eq(cl_seqrnn_backward(k.seq, k.p, k.p, k.y, NULL, NULL), CL_EINVAL);
    pad_case_free(&k);
}
END_TEST

Suite *suite_seqrnn(void)
{
    Suite *s = suite_create("seqrnn");
    TCase *grad = tcase_create("gradcheck");
    tcase_add_test(grad, grad_lstm_1layer_bidir);
    tcase_add_test(grad, grad_lstm_2layer_bidir);
    tcase_add_test(grad, grad_gru_2layer_bidir);
    tcase_add_test(grad, grad_lstm_2layer_uni_dropout);
    tcase_add_test(grad, grad_gru_3layer_bidir_dropout);
    tcase_add_test(grad, grad_parts_add_up);
    suite_add_tcase(s, grad);
    TCase *eq = tcase_create("equivalence");
    tcase_add_test(eq, equals_rnn_lstm_uni);
    tcase_add_test(eq, equals_rnn_lstm_bidir);
    tcase_add_test(eq, equals_rnn_gru_bidir);
    tcase_add_test(eq, equals_rnn_bidir_dropout_train);
    suite_add_tcase(s, eq);
    TCase *pad = tcase_create("padding");
    tcase_add_test(pad, padding_and_neighbours_do_not_matter);
    tcase_add_test(pad, batch_equals_each_sequence_alone);
    tcase_add_test(pad, padded_outputs_and_input_grads_are_zero);
    tcase_add_test(pad, bad_arguments_are_rejected);
    suite_add_tcase(s, pad);
    return s;
}
