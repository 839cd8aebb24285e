/* Finite-difference gradient checks, in double precision, of every layer:
 * every parameter and every input of LSTM and GRU stacks (1 and 2 layers,
 * uni- and bidirectional, non-zero initial states, with and without dropout),
 * embedding, linear, and softmax cross-entropy with a mask. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cl_error.h"
#include "cl_nn.h"
#include "cl_test.h"
#include "gradcheck.h"

/* ---- recurrent stacks ----------------------------------------------------- */

typedef struct {
    cl_rnn_config c;
    int T, B;
    size_t np, nx, ns, ny;
    double *p, *x, *h0, *c0, *y, *hT, *cT, *ry, *rh, *rc;
    cl_rnn_d *rnn;
    uint64_t dropout_seed;
} rnn_case;

/* L = sum(Y * RY) + sum(hT * Rh) + sum(cT * Rc): every output and final state
 * gets its own gradient. */
static double rnn_loss(void *ctx)
{
    rnn_case *k = ctx;
    cl_rng rng;
    cl_rng_seed(&rng, k->dropout_seed); /* the same dropout mask every call */
    ck_assert_int_eq(cl_rnn_forward_d(k->rnn, k->p, k->T, k->B, k->x, k->h0, k->c0, k->y, k->hT,
                                      k->cT, 1, &rng),
                     0);
    double l = dot(k->y, k->ry, k->ny) + dot(k->hT, k->rh, k->ns);
    if (k->c.cell == CL_CELL_LSTM)
        l += dot(k->cT, k->rc, k->ns);
    return l;
}

static double *dalloc(size_t n) { return calloc(n ? n : 1, sizeof(double)); }

static void rnn_case_init_b(rnn_case *k, cl_cell cell, int layers, int bidir, float dropout, int B)
{
    cl_rng rng;
    cl_rng_seed(&rng, 42 + layers * 2 + bidir + cell * 7);
    memset(k, 0, sizeof *k);
    k->c = (cl_rnn_config){cell, 3, 4, layers, bidir, dropout};
    k->T = 4, k->B = B, k->dropout_seed = 7;
    k->np = cl_rnn_param_count(&k->c);
    k->nx = (size_t)k->T * k->B * k->c.input;
    k->ns = (size_t)layers * cl_rnn_dirs(&k->c) * k->B * k->c.hidden;
    k->ny = (size_t)k->T * k->B * cl_rnn_out_dim(&k->c);
    double **bufs[] = {&k->p, &k->x, &k->h0, &k->c0, &k->y, &k->hT, &k->cT, &k->ry, &k->rh, &k->rc};
    size_t sizes[] = {k->np, k->nx, k->ns, k->ns, k->ny, k->ns, k->ns, k->ny, k->ns, k->ns};
    for (int i = 0; i < 10; i++)
        ck_assert_ptr_nonnull(*bufs[i] = dalloc(sizes[i]));
    fill_uniform(k->p, k->np, &rng, 0.6);
    fill_uniform(k->x, k->nx, &rng, 1.0);
    fill_uniform(k->h0, k->ns, &rng, 0.8);
    fill_uniform(k->c0, k->ns, &rng, 0.8);
    fill_uniform(k->ry, k->ny, &rng, 1.0);
    fill_uniform(k->rh, k->ns, &rng, 1.0);
    fill_uniform(k->rc, k->ns, &rng, 1.0);
    ck_assert_int_eq(cl_rnn_create_d(&k->rnn, &k->c, k->T, k->B), 0);
}

static void rnn_case_init(rnn_case *k, cl_cell cell, int layers, int bidir, float dropout)
{
    rnn_case_init_b(k, cell, layers, bidir, dropout, 2);
}

static void rnn_case_free(rnn_case *k)
{
    double *bufs[] = {k->p, k->x, k->h0, k->c0, k->y, k->hT, k->cT, k->ry, k->rh, k->rc};
    for (int i = 0; i < 10; i++)
        free(bufs[i]);
    cl_rnn_free_d(k->rnn);
}

static void check_rnn_reg(cl_cell cell, int layers, int bidir, float dropout, const cl_rnn_reg *g)
{
    rnn_case k;
    rnn_case_init(&k, cell, layers, bidir, dropout);
    if (g)
        ck_assert_int_eq(cl_rnn_set_regularization_d(k.rnn, g), 0);
    double *gp = dalloc(k.np), *gx = dalloc(k.nx), *gh = dalloc(k.ns), *gc = dalloc(k.ns);
    rnn_loss(&k);
    ck_assert_int_eq(cl_rnn_backward_d(k.rnn, k.p, gp, k.ry, k.rh,
                                       cell == CL_CELL_LSTM ? k.rc : NULL, gx, gh, gc),
                     0);
    gc_expect(rnn_loss, &k, k.p, gp, k.np, "params");
    gc_expect(rnn_loss, &k, k.x, gx, k.nx, "input X");
    gc_expect(rnn_loss, &k, k.h0, gh, k.ns, "initial h0");
    if (cell == CL_CELL_LSTM)
        gc_expect(rnn_loss, &k, k.c0, gc, k.ns, "initial c0");
    free(gp), free(gx), free(gh), free(gc);
    rnn_case_free(&k);
}

static void check_rnn(cl_cell cell, int layers, int bidir, float dropout)
{
    check_rnn_reg(cell, layers, bidir, dropout, NULL);
}

START_TEST(lstm_1layer_uni) { check_rnn(CL_CELL_LSTM, 1, 0, 0); }
END_TEST
START_TEST(lstm_1layer_bidir) { check_rnn(CL_CELL_LSTM, 1, 1, 0); }
END_TEST
START_TEST(lstm_2layer_uni) { check_rnn(CL_CELL_LSTM, 2, 0, 0); }
END_TEST
START_TEST(lstm_2layer_bidir) { check_rnn(CL_CELL_LSTM, 2, 1, 0); }
END_TEST
START_TEST(lstm_3layer_bidir_dropout) { check_rnn(CL_CELL_LSTM, 3, 1, 0.3f); }
END_TEST
START_TEST(gru_1layer_uni) { check_rnn(CL_CELL_GRU, 1, 0, 0); }
END_TEST
START_TEST(gru_2layer_bidir) { check_rnn(CL_CELL_GRU, 2, 1, 0); }
END_TEST
START_TEST(gru_2layer_uni_dropout) { check_rnn(CL_CELL_GRU, 2, 0, 0.3f); }
END_TEST
/* Locked dropout and DropConnect on W_hh (rates high enough to drop some of
 * these few weights). */
START_TEST(lstm_3layer_bidir_locked_weight_drop)
{
    cl_rnn_reg g = {1, 0.4f};
    check_rnn_reg(CL_CELL_LSTM, 3, 1, 0.3f, &g);
}
END_TEST
START_TEST(gru_2layer_uni_weight_drop)
{
    cl_rnn_reg g = {0, 0.4f};
    check_rnn_reg(CL_CELL_GRU, 2, 0, 0.3f, &g);
}
END_TEST
START_TEST(lstm_1layer_weight_drop_only)
{
    cl_rnn_reg g = {0, 0.5f};
    check_rnn_reg(CL_CELL_LSTM, 1, 0, 0, &g);
}
END_TEST

/* Whether every step's mask equals the first step's. */
static int mask_repeats(const double *m, int T, size_t step)
{
    for (int t = 1; t < T; t++)
        if (memcmp(m, m + t * step, step * sizeof *m))
            return 0;
    return 1;
}

/* Locked: one mask per stream, repeated over time; plain: a new one per step. */
START_TEST(locked_dropout_repeats_over_time)
{
    rnn_case k;
    rnn_case_init_b(&k, CL_CELL_LSTM, 2, 1, 0.5f, 3);
    size_t step = (size_t)k.B * cl_rnn_out_dim(&k.c);
    rnn_loss(&k);
    const double *m = cl_rnn_dropout_mask_d(k.rnn, 1);
    ck_assert_ptr_nonnull(m);
    ck_assert(!mask_repeats(m, k.T, step));
    cl_rnn_reg g = {1, 0};
    ck_assert_int_eq(cl_rnn_set_regularization_d(k.rnn, &g), 0);
    rnn_loss(&k);
    m = cl_rnn_dropout_mask_d(k.rnn, 1);
    ck_assert(mask_repeats(m, k.T, step));
    int zeros = 0;
    for (size_t i = 0; i < step; i++)
        zeros += m[i] == 0;
    ck_assert(zeros > 0 && zeros < (int)step); /* a real mask, not all or nothing */
    ck_assert_ptr_null(cl_rnn_dropout_mask_d(k.rnn, 0)); /* layer 0 reads X as it is */
    cl_rnn_reg bad = {0, 1.0f};
    ck_assert_int_eq(cl_rnn_set_regularization_d(k.rnn, &bad), CL_EINVAL);
    rnn_case_free(&k);
}
END_TEST

/* DropConnect changes the output of a training pass but not of inference. */
START_TEST(weight_drop_only_in_training)
{
    rnn_case k;
    rnn_case_init(&k, CL_CELL_LSTM, 1, 0, 0);
    double *y0 = dalloc(k.ny), *y1 = dalloc(k.ny);
    rnn_loss(&k);
    memcpy(y0, k.y, k.ny * sizeof *y0);
    cl_rnn_reg g = {0, 0.5f};
    ck_assert_int_eq(cl_rnn_set_regularization_d(k.rnn, &g), 0);
    rnn_loss(&k);
    ck_assert(memcmp(y0, k.y, k.ny * sizeof *y0) != 0);
    ck_assert_int_eq(cl_rnn_forward_d(k.rnn, k.p, k.T, k.B, k.x, k.h0, k.c0, y1, NULL, NULL, 0,
                                      NULL),
                     0);
    ck_assert(memcmp(y0, y1, k.ny * sizeof *y0) == 0);
    free(y0), free(y1);
    rnn_case_free(&k);
}
END_TEST

/* The checker itself must be able to fail: a gradient off by a little is caught. */
START_TEST(perturbed_gradient_is_caught)
{
    rnn_case k;
    rnn_case_init(&k, CL_CELL_LSTM, 2, 1, 0);
    double *gp = dalloc(k.np), *num = dalloc(k.np);
    rnn_loss(&k);
    ck_assert_int_eq(cl_rnn_backward_d(k.rnn, k.p, gp, k.ry, k.rh, k.rc, NULL, NULL, NULL), 0);
    gc_numeric(rnn_loss, &k, k.p, k.np, num);
    ck_assert(gc_compare(gp, num, k.np, NULL) < GC_TOL);
    for (size_t i = 0; i < k.np; i += 37) {
        double keep = gp[i];
        gp[i] += 1e-4 * fmax(fabs(keep), 1e-2);
        ck_assert_msg(gc_compare(gp, num, k.np, NULL) > GC_TOL, "perturbation at %zu missed", i);
        gp[i] = keep;
    }
    free(gp), free(num);
    rnn_case_free(&k);
}
END_TEST

/* The final state of a sequence run in two chunks (state carried) equals the
 * final state of one run over the whole sequence: what truncated BPTT relies on. */
START_TEST(state_carry_matches_full_sequence)
{
    rnn_case k;
    rnn_case_init(&k, CL_CELL_LSTM, 2, 0, 0);
    size_t half = k.nx / 2, yhalf = k.ny / 2;
    double *h1 = dalloc(k.ns), *c1 = dalloc(k.ns), *y2 = dalloc(k.ny);
    rnn_loss(&k); /* full run: y, hT, cT */
    ck_assert_int_eq(cl_rnn_forward_d(k.rnn, k.p, k.T / 2, k.B, k.x, k.h0, k.c0, y2, h1, c1, 0, NULL), 0);
    ck_assert_int_eq(cl_rnn_forward_d(k.rnn, k.p, k.T / 2, k.B, k.x + half, h1, c1, y2 + yhalf, h1, c1, 0, NULL), 0);
    for (size_t i = 0; i < k.ns; i++) {
        ck_assert_double_eq_tol(h1[i], k.hT[i], 1e-12);
        ck_assert_double_eq_tol(c1[i], k.cT[i], 1e-12);
    }
    for (size_t i = 0; i < k.ny; i++)
        ck_assert_double_eq_tol(y2[i], k.y[i], 1e-12);
    free(h1), free(c1), free(y2);
    rnn_case_free(&k);
}
END_TEST

/* Splitting the batch rows over threads gives the same outputs and gradients. */
static void check_threads_agree(cl_cell cell, int bidir)
{
    rnn_case k;
    rnn_case_init_b(&k, cell, 2, bidir, 0, 8); /* 8 rows: two threads of 4 */
    double *y1 = dalloc(k.ny), *gp1 = dalloc(k.np), *gx1 = dalloc(k.nx);
    double *gp2 = dalloc(k.np), *gx2 = dalloc(k.nx);
    rnn_loss(&k);
    memcpy(y1, k.y, k.ny * sizeof *y1);
    ck_assert_int_eq(cl_rnn_backward_d(k.rnn, k.p, gp1, k.ry, k.rh, k.rc, gx1, NULL, NULL), 0);
    cl_rnn_free_d(k.rnn);
    ck_assert_int_eq(cl_rnn_create_d(&k.rnn, &k.c, k.T, 8), 0);
    cl_rnn_set_threads_d(k.rnn, 2);
    rnn_loss(&k);
    ck_assert_int_eq(cl_rnn_backward_d(k.rnn, k.p, gp2, k.ry, k.rh, k.rc, gx2, NULL, NULL), 0);
    for (size_t i = 0; i < k.ny; i++)
        ck_assert_double_eq_tol(k.y[i], y1[i], 1e-12);
    for (size_t i = 0; i < k.np; i++)
        ck_assert_double_eq_tol(gp2[i], gp1[i], 1e-12);
    for (size_t i = 0; i < k.nx; i++)
        ck_assert_double_eq_tol(gx2[i], gx1[i], 1e-12);
    free(y1), free(gp1), free(gx1), free(gp2), free(gx2);
    rnn_case_free(&k);
}

START_TEST(threads_agree_lstm) { check_threads_agree(CL_CELL_LSTM, 1); }
END_TEST
START_TEST(threads_agree_gru) { check_threads_agree(CL_CELL_GRU, 0); }
END_TEST

/* ---- embedding, linear, cross-entropy ------------------------------------- */

typedef struct {
    int n, dim, V, nin, nout;
    int ids[6], targets[6];
    double table[5 * 3], out[6 * 3], r[6 * 4];
    double W[4 * 3], b[4], X[6 * 3], Y[6 * 4];
    double logits[6 * 5];
} small_case;

static void small_init(small_case *s)
{
    cl_rng rng;
    cl_rng_seed(&rng, 3);
    memset(s, 0, sizeof *s);
    s->n = 6, s->dim = 3, s->V = 5, s->nin = 3, s->nout = 4;
    int ids[6] = {1, 4, -1, 1, 0, 2}, targets[6] = {2, -1, 0, 4, -1, 1};
    memcpy(s->ids, ids, sizeof ids);
    memcpy(s->targets, targets, sizeof targets);
    fill_uniform(s->table, 15, &rng, 1);
    fill_uniform(s->r, 24, &rng, 1);
    fill_uniform(s->W, 12, &rng, 1);
    fill_uniform(s->b, 4, &rng, 1);
    fill_uniform(s->X, 18, &rng, 1);
    fill_uniform(s->logits, 30, &rng, 3);
}

static double embed_loss(void *ctx)
{
    small_case *s = ctx;
    cl_embed_forward_d(s->out, s->ids, s->n, s->table, s->dim);
    return dot(s->out, s->r, (size_t)s->n * s->dim);
}

START_TEST(embedding)
{
    small_case s;
    small_init(&s);
    double g[15] = {0};
    embed_loss(&s);
    cl_embed_backward_d(g, s.ids, s.n, s.r, s.dim);
    gc_expect(embed_loss, &s, s.table, g, 15, "embedding table");
    for (int j = 0; j < 3; j++) /* row 3 is never used: untouched */
        ck_assert_double_eq(g[3 * 3 + j], 0);
}
END_TEST

static double linear_loss(void *ctx)
{
    small_case *s = ctx;
    cl_linear_forward_d(s->Y, s->X, s->W, s->b, s->n, s->nin, s->nout);
    return dot(s->Y, s->r, (size_t)s->n * s->nout);
}

START_TEST(linear)
{
    small_case s;
    small_init(&s);
    double gW[12] = {0}, gb[4] = {0}, gX[18];
    linear_loss(&s);
    cl_linear_backward_d(gX, gW, gb, s.r, s.X, s.W, s.n, s.nin, s.nout);
    gc_expect(linear_loss, &s, s.W, gW, 12, "linear W");
    gc_expect(linear_loss, &s, s.b, gb, 4, "linear b");
    gc_expect(linear_loss, &s, s.X, gX, 18, "linear X");
}
END_TEST

static double xent_loss(void *ctx)
{
    small_case *s = ctx;
    long count;
    return cl_xent_d(s->logits, s->targets, s->n, s->V, NULL, 0, &count) / 4.0;
}

START_TEST(softmax_xent_masked_mean)
{
    small_case s;
    small_init(&s);
    double g[30];
    long count;
    double total = cl_xent_d(s.logits, s.targets, s.n, s.V, g, 1.0 / 4, &count);
    ck_assert_int_eq(count, 4); /* two of six positions are masked */
    ck_assert(total > 0);
    gc_expect(xent_loss, &s, s.logits, g, 30, "logits");
    for (int v = 0; v < 5; v++) /* masked rows get no gradient */
        ck_assert_double_eq(g[1 * 5 + v], 0);
    s.targets[4] = s.V; /* out of the vocabulary: masked like a negative target */
    ck_assert_double_eq(cl_xent_d(s.logits, s.targets, s.n, s.V, NULL, 0, &count), total);
    ck_assert_int_eq(count, 4);
}
END_TEST

Suite *suite_gradcheck(void)
{
    Suite *s = suite_create("gradcheck");
    TCase *rnn = tcase_create("rnn");
    tcase_add_test(rnn, lstm_1layer_uni);
    tcase_add_test(rnn, lstm_1layer_bidir);
    tcase_add_test(rnn, lstm_2layer_uni);
    tcase_add_test(rnn, lstm_2layer_bidir);
    tcase_add_test(rnn, lstm_3layer_bidir_dropout);
    tcase_add_test(rnn, gru_1layer_uni);
    tcase_add_test(rnn, gru_2layer_bidir);
    tcase_add_test(rnn, gru_2layer_uni_dropout);
    tcase_add_test(rnn, lstm_3layer_bidir_locked_weight_drop);
    tcase_add_test(rnn, gru_2layer_uni_weight_drop);
    tcase_add_test(rnn, lstm_1layer_weight_drop_only);
    tcase_add_test(rnn, locked_dropout_repeats_over_time);
    tcase_add_test(rnn, weight_drop_only_in_training);
    tcase_add_test(rnn, perturbed_gradient_is_caught);
    tcase_add_test(rnn, state_carry_matches_full_sequence);
    tcase_add_test(rnn, threads_agree_lstm);
    tcase_add_test(rnn, threads_agree_gru);
    suite_add_tcase(s, rnn);
    TCase *layers = tcase_create("layers");
    tcase_add_test(layers, embedding);
    tcase_add_test(layers, linear);
    tcase_add_test(layers, softmax_xent_masked_mean);
    suite_add_tcase(s, layers);
    return s;
}
