/* bfloat16 products (cl_mm, cl_rnn_set_precision, cl_seqrnn_set_precision,
 * cl_linear_mm, cl_lm_set_precision): the rounding itself, and a whole
 * stack's outputs, loss and every gradient in bf16 against fp32 (both
 * through oneDNN) within what bf16 inputs with fp32 accumulation allow: the
 * language model's cl_rnn, the tagger's and classifier's cl_seqrnn over
 * sentences of different lengths, the output layer, the whole LM.
 * On a CPU without AVX512-BF16 or AMX, bf16 must be refused (CL_EINVAL) and
 * `auto` must mean fp32. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cl_error.h"
#include "cl_lm.h"
#include "cl_mm.h"
#include "cl_nn.h"
#include "cl_seqrnn.h"
#include "cl_test.h"

static float from_bf16(uint16_t h)
{
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static uint16_t one(float f)
{
    uint16_t h;
    cl_bf16_from_f32(&h, &f, 1);
    return h;
}

/* Nearest, ties to even; infinities and NaN survive. */
START_TEST(test_rounding)
{
    ck_assert_float_eq(from_bf16(one(1.0f)), 1.0f);
    /* 1 + 2^-8 is halfway between 1 and 1 + 2^-7: even mantissa (1) wins */
    ck_assert_float_eq(from_bf16(one(1.0f + 0x1p-8f)), 1.0f);
    /* 1 + 3*2^-8 is halfway between 1 + 2^-7 and 1 + 2^-6: 1 + 2^-6 is even */
    ck_assert_float_eq(from_bf16(one(1.0f + 3 * 0x1p-8f)), 1.0f + 0x1p-6f);
    ck_assert_float_eq(from_bf16(one(1.0f + 0x1p-8f + 0x1p-20f)), 1.0f + 0x1p-7f);
    ck_assert_float_eq(from_bf16(one(-2.5f)), -2.5f);
    ck_assert(isinf(from_bf16(one(INFINITY))));
    ck_assert(isnan(from_bf16(one(NAN))));
    ck_assert(isnan(from_bf16(one(-NAN))));
}
END_TEST

START_TEST(test_precision_names)
{
    cl_precision p;
    ck_assert_int_eq(cl_precision_parse("bf16", &p), 0);
    ck_assert_int_eq(p, CL_PREC_BF16);
    ck_assert_int_eq(cl_precision_parse("fp32", &p), 0);
    ck_assert_int_eq(p, CL_PREC_FP32);
    ck_assert_int_eq(cl_precision_parse("auto", &p), 0);
    ck_assert_int_eq(p, CL_PREC_AUTO);
    ck_assert_int_eq(cl_precision_parse("fp16", &p), CL_EPARSE);
    ck_assert_str_eq(cl_precision_name(CL_PREC_BF16), "bf16");
    ck_assert_int_ne(cl_precision_resolve(CL_PREC_AUTO), CL_PREC_AUTO);
}
END_TEST

/* More shapes than the cache keeps (a tagger's batches): evicted shapes are
 * made again and every product stays right, in fp32 (exact enough to
 * compare with a plain loop) and with a scratchpad-hungry transposed A. */
START_TEST(test_mm_many_shapes)
{
    enum { N = 24, K = 40, MAXM = 300 };
    cl_mm *m = NULL;
    ck_assert_int_eq(cl_mm_create(&m, CL_PREC_FP32), 0);
    float *A = malloc(sizeof(float) * MAXM * K), *B = malloc(sizeof(float) * K * N);
    float *C = malloc(sizeof(float) * MAXM * N);
    for (int i = 0; i < MAXM * K; i++)
        A[i] = (float)((i * 37) % 19) / 19 - 0.5f;
    for (int i = 0; i < K * N; i++)
        B[i] = (float)((i * 11) % 23) / 23 - 0.5f;
    for (int pass = 0; pass < 2; pass++)
        for (int M = 1; M <= MAXM; M += 1 + pass * 29) {
            char ta = M % 2 ? 'N' : 'T'; /* A [M,K], or [K,M] read transposed */
            ck_assert_int_eq(cl_mm_gemm(m, 1, ta, 'N', M, N, K, A, ta == 'N' ? K : M, B, N, 0, C, N), 0);
            for (int i = 0; i < M; i += 7)
                for (int j = 0; j < N; j += 5) {
                    double want = 0;
                    for (int k = 0; k < K; k++)
                        want += (double)(ta == 'N' ? A[i * K + k] : A[k * M + i]) * B[k * N + j];
                    ck_assert_msg(fabs(C[i * N + j] - want) < 1e-4, "M %d (%d,%d): %g, not %g", M,
                                  i, j, C[i * N + j], want);
                }
        }
    cl_mm_free(m);
    free(A), free(B), free(C);
}
END_TEST

/* ---- a stack in both precisions ----------------------------------------- */

typedef struct {
    size_t nP, nX, nY, nS;
    float *P, *X, *RY, *G, *Y, *dX, *hT, *dh0;
    double loss, loss_abs; /* sum Y*RY, sum |Y*RY| (the scale of its rounding) */
} run_out;

static void out_free(run_out *o)
{
    free(o->P), free(o->X), free(o->RY), free(o->G), free(o->Y), free(o->dX), free(o->hT);
    free(o->dh0);
}

static int out_alloc(run_out *o, const cl_rnn_config *c, int T, int B)
{
    o->nP = cl_rnn_param_count(c);
    o->nX = (size_t)T * B * c->input;
    o->nY = (size_t)T * B * cl_rnn_out_dim(c);
    o->nS = (size_t)c->layers * cl_rnn_dirs(c) * B * c->hidden;
    o->P = malloc(o->nP * sizeof(float)), o->G = calloc(o->nP, sizeof(float));
    o->X = malloc(o->nX * sizeof(float)), o->dX = malloc(o->nX * sizeof(float));
    o->Y = malloc(o->nY * sizeof(float)), o->RY = malloc(o->nY * sizeof(float));
    o->hT = malloc(o->nS * sizeof(float)), o->dh0 = malloc(o->nS * sizeof(float));
    return o->P && o->G && o->X && o->dX && o->Y && o->RY && o->hT && o->dh0 ? 0 : CL_ENOMEM;
}

/* v[0..n) uniform in [-1, 1). */
static void uniform(float *v, size_t n, cl_rng *rng)
{
    for (size_t i = 0; i < n; i++)
        v[i] = 2 * cl_rng_float(rng) - 1;
}

/* Weights (cl_rnn_init), inputs X and loss weights RY from seed; rng goes
 * on to draw the dropout masks. */
static int random_inputs(const cl_rnn_config *c, run_out *o, uint64_t seed, cl_rng *rng)
{
    cl_rng_seed(rng, seed);
    int err = cl_rnn_init(c, o->P, rng);
    if (!err)
        uniform(o->X, o->nX, rng), uniform(o->RY, o->nY, rng);
    return err;
}

/* Random weights (cl_rnn_init), inputs and loss weights RY: loss = sum Y*RY,
 * so dL/dY = RY.  Same seed, same dropout masks in every precision. */
static int run(const cl_rnn_config *c, int T, int B, cl_precision p, int threads, run_out *o)
{
    cl_rng rng;
    cl_rnn *r = NULL;
    int err = out_alloc(o, c, T, B);
    err = err ? err : random_inputs(c, o, 7, &rng);
    err = err ? err : cl_rnn_create(&r, c, T, B);
    err = err ? err : cl_rnn_set_precision(r, p);
    if (!err)
        cl_rnn_set_threads(r, threads);
    err = err ? err : cl_rnn_forward(r, o->P, T, B, o->X, NULL, NULL, o->Y, o->hT, NULL, 1, &rng);
    err = err ? err : cl_rnn_backward(r, o->P, o->G, o->RY, NULL, NULL, o->dX, o->dh0, NULL);
    o->loss = o->loss_abs = 0;
    for (size_t i = 0; !err && i < o->nY; i++) {
        o->loss += (double)o->Y[i] * o->RY[i];
        o->loss_abs += fabs((double)o->Y[i] * o->RY[i]);
    }
    cl_rnn_free(r);
    return err;
}

/* ||a - b|| / ||b|| */
static double rel_diff(const float *a, const float *b, size_t n)
{
    double d = 0, s = 0;
    for (size_t i = 0; i < n; i++) {
        d += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
        s += (double)b[i] * b[i];
    }
    return sqrt(d / (s > 0 ? s : 1));
}

/* bf16 rounds each product input to 8 significant bits (relative error up to
 * 2^-9 = 0.002) and accumulates in fp32; through a bidirectional 2-layer
 * stack over 24 steps that measured about 0.35 % on outputs and gradients
 * (relative norms; the loss relative to sum |Y*RY|, which its random signs
 * cancel).  The bounds leave a factor of about 3 to 8 on this; the test
 * also requires some difference, so it cannot pass by running fp32. */
#define BF16_TOL_Y 0.01
#define BF16_TOL_GRAD 0.03

static void check_cell(cl_cell cell)
{
    cl_rnn_config c = {cell, 24, 48, 2, 1, 0.1f};
    int T = 24, B = 16;
    run_out f = {0}, h = {0}, h2 = {0};
    int ef = run(&c, T, B, CL_PREC_FP32, 1, &f);
    int eh = run(&c, T, B, CL_PREC_BF16, 1, &h);
    int eh2 = run(&c, T, B, CL_PREC_BF16, 2, &h2);
    ck_assert_int_eq(ef, 0);
    if (cl_precision_resolve(CL_PREC_AUTO) != CL_PREC_BF16) {
        printf("bf16: no AVX512-BF16/AMX here (%s); checked that bf16 is refused\n", cl_mm_isa());
        ck_assert_int_eq(eh, CL_EINVAL);
        out_free(&f), out_free(&h), out_free(&h2);
        return;
    }
    ck_assert_int_eq(eh, 0);
    ck_assert_int_eq(eh2, 0);
    double dy = rel_diff(h.Y, f.Y, f.nY), dg = rel_diff(h.G, f.G, f.nP);
    double dx = rel_diff(h.dX, f.dX, f.nX), dh = rel_diff(h.dh0, f.dh0, f.nS);
    double dl = fabs(h.loss - f.loss) / f.loss_abs;
    /* Rows split over two threads read the same bf16 values. */
    double dt = rel_diff(h2.G, h.G, h.nP) + rel_diff(h2.Y, h.Y, h.nY);
    printf("bf16 vs fp32 (%s): Y %.2e, loss %.2e, dparams %.2e, dX %.2e, dh0 %.2e; "
           "2 threads vs 1 %.1e\n",
           cell == CL_CELL_LSTM ? "LSTM" : "GRU", dy, dl, dg, dx, dh, dt);
    out_free(&f), out_free(&h), out_free(&h2);
    ck_assert_msg(dy < BF16_TOL_Y && dl < BF16_TOL_Y, "outputs: %g, loss %g", dy, dl);
    ck_assert_msg(dg < BF16_TOL_GRAD && dx < BF16_TOL_GRAD && dh < BF16_TOL_GRAD,
                  "gradients: params %g, dX %g, dh0 %g", dg, dx, dh);
    /* and bf16 really ran: rounding leaves a trace */
    ck_assert_msg(dy > 1e-5 && dg > 1e-5, "bf16 equals fp32 (%g, %g)", dy, dg);
    ck_assert_msg(dt < 1e-5, "threads change bf16 results by %g", dt);
}

/* ---- variable-length stacks (cl_seqrnn) --------------------------------- */

/* loss = sum Y*RY + sum last*RL, so dL/dY = RY and dL/dlast = RL; o->hT
 * holds `last` [B, D*H] (o->nS is resized for it). */
static int run_seq(const cl_rnn_config *c, int T, int B, const int *len, cl_precision p,
                   run_out *o)
{
    cl_rng rng;
    cl_seqrnn *r = NULL;
    int err = out_alloc(o, c, T, B);
    size_t nL = (size_t)B * cl_rnn_out_dim(c);
    float *RL = malloc(nL * sizeof *RL);
    free(o->hT);
    o->hT = malloc(nL * sizeof(float)), o->nS = 0; /* dh0: none here */
    err = err ? err : !RL || !o->hT ? CL_ENOMEM : 0;
    err = err ? err : random_inputs(c, o, 11, &rng);
    if (!err)
        uniform(RL, nL, &rng);
    err = err ? err : cl_seqrnn_create(&r, c, T, B);
    err = err ? err : cl_seqrnn_set_precision(r, p);
    err = err ? err : cl_seqrnn_forward(r, o->P, T, B, o->X, len, o->Y, o->hT, 1, &rng);
    err = err ? err : cl_seqrnn_backward(r, o->P, o->G, o->RY, RL, o->dX);
    o->loss = o->loss_abs = 0;
    for (size_t i = 0; !err && i < o->nY + nL; i++) {
        double v = i < o->nY ? (double)o->Y[i] * o->RY[i] : (double)o->hT[i - o->nY] * RL[i - o->nY];
        o->loss += v, o->loss_abs += fabs(v);
    }
    cl_seqrnn_free(r);
    free(RL);
    return err;
}

/* The tagger's word BiLSTM and the classifier's encoder: bidirectional, two
 * layers with dropout, sentences of 1 to T steps.  Same bounds as above. */
static void check_seq(cl_cell cell)
{
    cl_rnn_config c = {cell, 20, 40, 2, 1, 0.2f};
    int T = 19, B = 12, len[12];
    for (int b = 0; b < B; b++)
        len[b] = 1 + (b * 7) % T;
    run_out f = {0}, h = {0};
    int ef = run_seq(&c, T, B, len, CL_PREC_FP32, &f);
    int eh = run_seq(&c, T, B, len, CL_PREC_BF16, &h);
    ck_assert_int_eq(ef, 0);
    if (cl_precision_resolve(CL_PREC_AUTO) != CL_PREC_BF16) {
        printf("seqrnn bf16: no AVX512-BF16/AMX here (%s); checked that it is refused\n",
               cl_mm_isa());
        ck_assert_int_eq(eh, CL_EINVAL);
        out_free(&f), out_free(&h);
        return;
    }
    ck_assert_int_eq(eh, 0);
    double dy = rel_diff(h.Y, f.Y, f.nY), dg = rel_diff(h.G, f.G, f.nP);
    double dx = rel_diff(h.dX, f.dX, f.nX), dl = fabs(h.loss - f.loss) / f.loss_abs;
    printf("seqrnn bf16 vs fp32 (%s): Y %.2e, loss %.2e, dparams %.2e, dX %.2e\n",
           cell == CL_CELL_LSTM ? "LSTM" : "GRU", dy, dl, dg, dx);
    out_free(&f), out_free(&h);
    ck_assert_msg(dy < BF16_TOL_Y && dl < BF16_TOL_Y, "outputs: %g, loss %g", dy, dl);
    ck_assert_msg(dg < BF16_TOL_GRAD && dx < BF16_TOL_GRAD, "gradients: params %g, dX %g", dg,
                  dx);
    ck_assert_msg(dy > 1e-5 && dg > 1e-5, "bf16 equals fp32 (%g, %g)", dy, dg);
}

/* ---- a linear layer (cl_linear_mm): the language model's output layer --- */

typedef struct {
    float *Y, *dW, *db, *dX;
    double loss, loss_abs;
} lin_out;

/* Forward and backward of a linear layer with the products of precision p
 * (OpenBLAS for p < 0) on the same random X, W, b and loss weights RY (dL/dY
 * = RY); dW and db start from ones, so accumulation is checked too. */
static int run_linear(int p, int N, int I, int O, lin_out *o)
{
    cl_rng rng;
    cl_rng_seed(&rng, 13);
    size_t nx = (size_t)N * I, nw = (size_t)O * I, ny = (size_t)N * O;
    float *X = malloc(nx * sizeof *X), *W = malloc(nw * sizeof *W), *b = malloc(O * sizeof *b);
    float *RY = malloc(ny * sizeof *RY);
    o->Y = malloc(ny * sizeof(float)), o->dX = malloc(nx * sizeof(float));
    o->dW = malloc(nw * sizeof(float)), o->db = malloc(O * sizeof(float));
    uniform(X, nx, &rng), uniform(W, nw, &rng), uniform(b, O, &rng), uniform(RY, ny, &rng);
    for (size_t i = 0; i < nw; i++)
        o->dW[i] = 1;
    for (int i = 0; i < O; i++)
        o->db[i] = 1;
    cl_linear_mm *l = NULL;
    int err = p < 0 ? 0 : cl_linear_mm_create(&l, (cl_precision)p, N, I, O);
    err = err ? err : cl_linear_forward_mm(l, o->Y, X, W, b, N, I, O);
    err = err ? err : cl_linear_backward_mm(l, o->dX, o->dW, o->db, RY, X, W, N, I, O);
    o->loss = o->loss_abs = 0;
    for (size_t i = 0; !err && i < ny; i++)
        o->loss += (double)o->Y[i] * RY[i], o->loss_abs += fabs((double)o->Y[i] * RY[i]);
    if (!err && l) /* more rows than it was made for: refused, not overrun */
        err = cl_linear_forward_mm(l, o->Y, X, W, b, N + 1, I, O) == CL_EINVAL ? 0 : -1;
    cl_linear_mm_free(l);
    free(X), free(W), free(b), free(RY);
    return err;
}

static void lin_free(lin_out *o) { free(o->Y), free(o->dW), free(o->db), free(o->dX); }

/* oneDNN fp32 gives OpenBLAS's results up to the order of additions; bf16
 * is within the stacks' bounds (inputs rounded to 8 bits, sums over up to
 * N = 300 terms in fp32) and not equal to fp32. */
START_TEST(test_linear_bf16_vs_fp32)
{
    enum { N = 300, I = 96, O = 67 }; /* the LM head's shape: [T*B, H] x [V, H]^T */
    lin_out r = {0}, f = {0}, h = {0};
    ck_assert_int_eq(run_linear(-1, N, I, O, &r), 0);
    ck_assert_int_eq(run_linear(CL_PREC_FP32, N, I, O, &f), 0);
    double fy = rel_diff(f.Y, r.Y, (size_t)N * O), fw = rel_diff(f.dW, r.dW, (size_t)O * I);
    double fx = rel_diff(f.dX, r.dX, (size_t)N * I), fb = rel_diff(f.db, r.db, O);
    ck_assert_msg(fy < 1e-6 && fw < 1e-6 && fx < 1e-6 && fb == 0,
                  "oneDNN fp32 vs OpenBLAS: Y %g, dW %g, dX %g, db %g", fy, fw, fx, fb);
    int eh = run_linear(CL_PREC_BF16, N, I, O, &h);
    if (cl_precision_resolve(CL_PREC_AUTO) != CL_PREC_BF16) {
        ck_assert_int_eq(eh, CL_EINVAL);
        lin_free(&r), lin_free(&f), lin_free(&h);
        return;
    }
    ck_assert_int_eq(eh, 0);
    double dy = rel_diff(h.Y, f.Y, (size_t)N * O), dw = rel_diff(h.dW, f.dW, (size_t)O * I);
    double dx = rel_diff(h.dX, f.dX, (size_t)N * I), db = rel_diff(h.db, f.db, O);
    double dl = fabs(h.loss - f.loss) / f.loss_abs;
    printf("linear bf16 vs fp32: Y %.2e, loss %.2e, dW %.2e, dX %.2e, db %.1e\n", dy, dl, dw, dx,
           db);
    lin_free(&r), lin_free(&f), lin_free(&h);
    ck_assert_msg(dy < BF16_TOL_Y && dl < BF16_TOL_Y, "outputs: %g, loss %g", dy, dl);
    ck_assert_msg(dw < BF16_TOL_GRAD && dx < BF16_TOL_GRAD, "gradients: dW %g, dX %g", dw, dx);
    ck_assert_msg(db < 1e-6, "db is summed in fp32 from the same dY: %g", db); /* same bias */
    ck_assert_msg(dy > 1e-5 && dw > 1e-5 && dx > 1e-5, "bf16 equals fp32 (%g, %g, %g)", dy, dw,
                  dx);
}
END_TEST

/* ---- the whole language model: encoder and output layer ------------------ */

/* Loss and every gradient of one training step of a small LM (fold on, so
 * W_ih0 and the embedding get theirs from the fold's products) with its
 * products in precision p (OpenBLAS for p < 0). */
static int run_lm(int p, double *loss, float **grads, size_t *n)
{
    enum { T = 20, B = 6, V = 23 };
    cl_encoder_config ec = {V, 16, {CL_CELL_LSTM, 16, 40, 2, 0, 0}};
    cl_params P;
    cl_lm lm;
    cl_rng rng;
    int ids[T * B], tg[T * B];
    cl_params_init(&P);
    int err = cl_encoder_add_params(&ec, &P);
    err = err ? err : cl_lm_add_params(&ec, &P);
    err = err ? err : cl_params_alloc(&P);
    err = err ? err : cl_params_alloc_grads(&P);
    cl_rng_seed(&rng, 17);
    err = err ? err : cl_encoder_init_params(&ec, &P, &rng);
    err = err ? err : cl_lm_init_params(&P, &rng);
    err = err ? err : cl_lm_create(&lm, &ec, &P, 0, T, B);
    if (err)
        return err;
    err = p < 0 ? 0 : cl_lm_set_precision(&lm, (cl_precision)p);
    for (int i = 0; i < T * B; i++)
        ids[i] = (int)cl_rng_below(&rng, V), tg[i] = i % 11 ? (int)cl_rng_below(&rng, V) : -1;
    *loss = err ? NAN : cl_lm_forward(&lm, &P, ids, tg, T, B, NULL, NULL, 1, NULL) / lm.count;
    err = err ? err : isfinite(*loss) ? cl_lm_backward(&lm, &P) : CL_EINVAL;
    *n = P.n, *grads = malloc(P.n * sizeof(float));
    if (!err && *grads)
        memcpy(*grads, P.g, P.n * sizeof(float));
    cl_lm_free(&lm);
    cl_params_free(&P);
    return err;
}

START_TEST(test_lm_bf16_vs_fp32)
{
    double lr, lf, lh;
    float *gr = NULL, *gf = NULL, *gh = NULL;
    size_t n;
    ck_assert_int_eq(run_lm(-1, &lr, &gr, &n), 0);
    ck_assert_int_eq(run_lm(CL_PREC_FP32, &lf, &gf, &n), 0);
    ck_assert_msg(fabs(lf - lr) < 1e-6 && rel_diff(gf, gr, n) < 1e-5, "fp32: loss %g vs %g", lf,
                  lr);
    int eh = run_lm(CL_PREC_BF16, &lh, &gh, &n);
    if (cl_precision_resolve(CL_PREC_AUTO) != CL_PREC_BF16) {
        ck_assert_int_eq(eh, CL_EINVAL);
    } else {
        ck_assert_int_eq(eh, 0);
        double dg = rel_diff(gh, gf, n);
        printf("LM bf16 vs fp32: loss %.6f vs %.6f, gradients %.2e\n", lh, lf, dg);
        /* the loss is a mean of ~3.1 nats here: 0.01 relative is 0.03 nats */
        ck_assert_msg(fabs(lh - lf) < BF16_TOL_Y * lf, "loss %g vs %g", lh, lf);
        ck_assert_msg(dg < BF16_TOL_GRAD && dg > 1e-5, "gradients %g", dg);
    }
    free(gr), free(gf), free(gh);
}
END_TEST

START_TEST(test_seqrnn_lstm_bf16_vs_fp32) { check_seq(CL_CELL_LSTM); }
END_TEST
START_TEST(test_seqrnn_gru_bf16_vs_fp32) { check_seq(CL_CELL_GRU); }
END_TEST

START_TEST(test_lstm_bf16_vs_fp32) { check_cell(CL_CELL_LSTM); }
END_TEST
START_TEST(test_gru_bf16_vs_fp32) { check_cell(CL_CELL_GRU); }
END_TEST

Suite *suite_bf16(void)
{
    Suite *s = suite_create("bf16");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_rounding);
    tcase_add_test(tc, test_precision_names);
    tcase_add_test(tc, test_mm_many_shapes);
    tcase_add_test(tc, test_lstm_bf16_vs_fp32);
    tcase_add_test(tc, test_gru_bf16_vs_fp32);
    tcase_add_test(tc, test_seqrnn_lstm_bf16_vs_fp32);
    tcase_add_test(tc, test_seqrnn_gru_bf16_vs_fp32);
    tcase_add_test(tc, test_linear_bf16_vs_fp32);
    tcase_add_test(tc, test_lm_bf16_vs_fp32);
    suite_add_tcase(s, tc);
    return s;
}
