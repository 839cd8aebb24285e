/* The kernel variants (cl_kern.h, cl_isa.h): every variant this CPU runs, on
 * the same inputs, against the baseline one; the choice of a variant
 * (CHARLSTM_ISA, the CPU's mask); and a recurrent stack, the generation
 * engine and the tool run with each variant forced. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cl_error.h"
#include "cl_infer.h"
#include "cl_isa.h"
#include "cl_kern.h"
#include "cl_model.h"
#include "cl_nn.h"
#include "cl_rng.h"
#include "cl_test.h"
#include "cl_wmat.h"

#define ALL_ISAS ((1u << CL_ISA_COUNT) - 1)

/* ---- the choice ------------------------------------------------------------ */

START_TEST(test_isa_choose)
{
    cl_isa isa;
    for (int i = 0; i < CL_ISA_COUNT; i++) {
        ck_assert_int_eq(cl_isa_parse(cl_isa_name((cl_isa)i), &isa), CL_OK);
        ck_assert_int_eq(isa, i);
    }
    ck_assert_int_eq(cl_isa_parse("sse9", &isa), CL_EINVAL);
    ck_assert_str_eq(cl_isa_name(CL_ISA_COUNT), "unknown");
    /* unforced: the widest the CPU runs */
    ck_assert_int_eq(cl_isa_choose(NULL, ALL_ISAS, &isa), CL_OK);
    ck_assert_int_eq(isa, CL_ISA_AVX512BF16);
    ck_assert_int_eq(cl_isa_choose(NULL, ALL_ISAS & ~(1u << CL_ISA_AVX512BF16), &isa), CL_OK);
    ck_assert_int_eq(isa, CL_ISA_AVX512);
    ck_assert_int_eq(cl_isa_choose("", 1u << CL_ISA_BASELINE | 1u << CL_ISA_AVX2, &isa), CL_OK);
    ck_assert_int_eq(isa, CL_ISA_AVX2);
    ck_assert_int_eq(cl_isa_choose(NULL, 1u << CL_ISA_BASELINE, &isa), CL_OK);
    ck_assert_int_eq(isa, CL_ISA_BASELINE);
    /* forced: what was asked, or an error, never a variant the CPU lacks */
    ck_assert_int_eq(cl_isa_choose("avx2", ALL_ISAS, &isa), CL_OK);
    ck_assert_int_eq(isa, CL_ISA_AVX2);
    ck_assert_int_eq(cl_isa_choose("avx512", 1u << CL_ISA_BASELINE | 1u << CL_ISA_AVX2, &isa),
                     CL_EISA);
    ck_assert_int_eq(cl_isa_choose("sse9", ALL_ISAS, &isa), CL_EISA);
    ck_assert_ptr_nonnull(strstr(cl_strerror(CL_EISA), "CHARLSTM_ISA"));
    /* the CPU: baseline always; a table for each variant it runs, none for others */
    unsigned cpu = cl_isa_cpu();
    ck_assert(cpu & 1u << CL_ISA_BASELINE);
    for (int i = 0; i < CL_ISA_COUNT; i++) {
        const cl_kern *k;
        int err = cl_kern_for((cl_isa)i, &k);
        if (cpu & 1u << i) {
            ck_assert_int_eq(err, CL_OK);
            ck_assert_int_eq(k->isa, i); /* each compilation filled its own table */
        } else {
            ck_assert_int_eq(err, CL_EISA);
            ck_assert_ptr_null(k);
        }
    }
}
END_TEST

START_TEST(test_isa_env)
{
    const cl_kern *k;
    cl_rnn *r;
    cl_rnn_config c = {CL_CELL_LSTM, 4, 8, 1, 0, 0};
    setenv("CHARLSTM_ISA", "baseline", 1);
    ck_assert_int_eq(cl_kern_select(&k), CL_OK);
    ck_assert_int_eq(k->isa, CL_ISA_BASELINE);
    setenv("CHARLSTM_ISA", "sse9", 1);
    ck_assert_int_eq(cl_kern_select(&k), CL_EISA);
    ck_assert_int_eq(cl_rnn_create(&r, &c, 2, 2), CL_EISA); /* objects refuse, not crash */
    ck_assert_ptr_null(r);
    unsetenv("CHARLSTM_ISA");
    ck_assert_int_eq(cl_rnn_create(&r, &c, 2, 2), CL_OK);
    cl_rnn_free(r);
}
END_TEST

/* ---- every kernel, every variant ------------------------------------------ */

/* The variants run the same C for the gates, vectorised to different widths
 * (no FMA contraction: -std=c11 turns it off), and call different libmvec
 * tanhf implementations, each within a few ulp (2^-24 relative) of tanh.
 * Every gate output is a short expression of at most a few such values of
 * magnitude <= 3 here, so variants may differ by some tens of ulp of the
 * result's scale: 1e-5 * (1 + |x|) is about 100 ulp, and far below the O(0.1)
 * that a wrong index, a missed tail or a wrong gate would give. */
#define GATE_TOL 1e-5

static void random_fill(cl_rng *rng, float *x, size_t n, float lo, float hi)
{
    for (size_t i = 0; i < n; i++)
        x[i] = lo + (hi - lo) * cl_rng_float(rng);
}

/* |a - ref| <= GATE_TOL (1 + |ref|) everywhere; returns the largest difference. */
static double check_close(const char *what, cl_isa isa, const float *a, const float *ref, size_t n)
{
    double worst = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - ref[i]);
        ck_assert_msg(isfinite(a[i]) && d <= GATE_TOL * (1 + fabs(ref[i])),
                      "%s, %s variant: [%zu] %.9g, baseline %.9g", what, cl_isa_name(isa), i,
                      a[i], ref[i]);
        worst = d > worst ? d : worst;
    }
    return worst;
}

/* B rows of H (odd: every vector width leaves a tail). */
enum { B = 3, H = 37 };

typedef struct {
    float g4[B * 4 * H], g3[B * 3 * H], gh[B * 3 * H], bih[4 * H], bhh[4 * H];
    float cp[B * H], dh[B * H], dc[B * H];
} gate_in;

/* What every kernel wrote; compared as one array of floats. */
typedef struct {
    float lstm_g[B * 4 * H], lstm_c[B * H], lstm_h[B * H], lstm_dg[B * 4 * H], lstm_dc[B * H];
    float gru_g[B * 3 * H], gru_hn[B * H], gru_h[B * H], gru_dgi[B * 3 * H], gru_dgh[B * 3 * H];
    float gru_dh[B * H], step_g[4 * H], step_c[H], step_h[H];
} gate_out;

static void gate_inputs(gate_in *in)
{
    cl_rng rng;
    cl_rng_seed(&rng, 11);
    random_fill(&rng, in->g4, B * 4 * H, -3, 3);
    random_fill(&rng, in->g3, B * 3 * H, -3, 3);
    random_fill(&rng, in->gh, B * 3 * H, -3, 3);
    random_fill(&rng, in->bih, 4 * H, -0.5f, 0.5f);
    random_fill(&rng, in->bhh, 4 * H, -0.5f, 0.5f);
    random_fill(&rng, in->cp, B * H, -2, 2);
    random_fill(&rng, in->dh, B * H, -1, 1);
    random_fill(&rng, in->dc, B * H, -1, 1);
}

/* Every gate kernel of k on the same inputs; the backward kernels read the
 * forward ones' activated gates and states, as in training. */
static void run_gates(const cl_kern *k, const gate_in *in, gate_out *o)
{
    memcpy(o->lstm_g, in->g4, sizeof o->lstm_g);
    k->lstm_fwd(o->lstm_g, in->bih, in->bhh, in->cp, o->lstm_c, o->lstm_h, B, H);
    memcpy(o->lstm_dc, in->dc, sizeof o->lstm_dc);
    k->lstm_bwd(o->lstm_dg, o->lstm_g, o->lstm_c, in->cp, in->dh, o->lstm_dc, B, H);
    memcpy(o->gru_g, in->g3, sizeof o->gru_g);
    k->gru_fwd(o->gru_g, in->gh, in->cp, o->gru_hn, o->gru_h, B, H);
    memcpy(o->gru_dh, in->dh, sizeof o->gru_dh);
    k->gru_bwd(o->gru_dgi, o->gru_dgh, o->gru_g, o->gru_hn, in->cp, o->gru_dh, B, H);
    memcpy(o->step_g, in->g4, sizeof o->step_g);
    memcpy(o->step_c, in->cp, sizeof o->step_c);
    k->lstm_step(o->step_g, o->step_c, o->step_h, H);
}

START_TEST(test_gates_agree)
{
    const cl_kern *base;
    gate_in in;
    gate_out *ref = malloc(sizeof *ref), *got = malloc(sizeof *got);
    ck_assert(ref && got);
    gate_inputs(&in);
    ck_assert_int_eq(cl_kern_for(CL_ISA_BASELINE, &base), CL_OK);
    run_gates(base, &in, ref);
    int ran = 0;
    for (int i = CL_ISA_BASELINE + 1; i < CL_ISA_COUNT; i++) {
        const cl_kern *k;
        if (cl_kern_for((cl_isa)i, &k) != CL_OK)
            continue;
        memset(got, 0xff, sizeof *got); /* NaN: anything left unwritten fails */
        run_gates(k, &in, got);
        double w = check_close("gates", (cl_isa)i, (const float *)got, (const float *)ref,
                               sizeof *ref / sizeof(float));
        printf("kernels: %s gates against baseline: largest difference %.2g\n",
               cl_isa_name((cl_isa)i), w);
        ran++;
    }
    free(ref), free(got);
    if (!ran)
        cl_test_skip("test_gates_agree", "this CPU runs only the baseline kernels");
}
END_TEST

/* ---- generation's weight products --------------------------------------- */

enum { WM_N = 37, WM_K = 70, WM_C = 5 }; /* odd sizes: tails of rows, columns, K */

/* Y of every format through kernel table k, for 1 and WM_C columns. */
static void run_wmat(const cl_kern *k, const cl_wmat *m, const void *X, float *y)
{
    k->wmat_rows(m, 0, WM_N, X, 1, y, WM_N);
    k->wmat_rows(m, 0, WM_N, X, WM_C, y + WM_N, WM_N);
}

/* Each variant's products equal the baseline's: int8 exactly (integer sums),
 * fp32 and bf16 to the rounding of K products of terms up to 1 in size. */
START_TEST(test_wmat_agree)
{
    static float w[WM_N * WM_K], x[WM_C][WM_K], ref[WM_N * (WM_C + 1)], got[WM_N * (WM_C + 1)];
    cl_rng rng;
    cl_rng_seed(&rng, 21);
    random_fill(&rng, w, WM_N * WM_K, -1, 1);
    random_fill(&rng, &x[0][0], WM_C * WM_K, -1, 1);
    const cl_kern *base;
    ck_assert_int_eq(cl_kern_for(CL_ISA_BASELINE, &base), CL_OK);
    cl_weights types[] = {CL_WEIGHTS_FP32, CL_WEIGHTS_BF16, CL_WEIGHTS_INT8};
    int ran = 0;
    for (int t = 0; t < 3; t++) {
        cl_wmat m;
        ck_assert_int_eq(cl_wmat_init(&m, types[t], w, WM_N, WM_K), 0);
        unsigned char *X = calloc(WM_C, cl_wmat_xbytes(&m));
        ck_assert_ptr_nonnull(X);
        for (int c = 0; c < WM_C; c++)
            cl_wmat_put(&m, X + c * cl_wmat_xbytes(&m), 0, x[c], WM_K);
        run_wmat(base, &m, X, ref);
        for (int i = CL_ISA_BASELINE + 1; i < CL_ISA_COUNT; i++) {
            const cl_kern *k;
            if (cl_kern_for((cl_isa)i, &k) != CL_OK)
                continue;
            memset(got, 0xff, sizeof got);
            run_wmat(k, &m, X, got);
            for (size_t j = 0; j < sizeof got / sizeof *got; j++) {
                double d = fabs((double)got[j] - ref[j]);
                double tol = types[t] == CL_WEIGHTS_INT8 ? 0 : 1e-5 * WM_K;
                ck_assert_msg(d <= tol, "%s, format %d, value %zu: %.9g vs baseline %.9g",
                              cl_isa_name((cl_isa)i), t, j, got[j], ref[j]);
            }
            ran++;
        }
        free(X);
        cl_wmat_free(&m);
    }
    if (!ran)
        cl_test_skip("test_wmat_agree", "this CPU runs only the baseline kernels");
}
END_TEST

/* ---- fp32 -> bfloat16 ------------------------------------------------------ */

static float from_bits(uint32_t u)
{
    float x;
    memcpy(&x, &u, sizeof x);
    return x;
}

/* Inputs at every rule of cl_kern_bf16_round, with the bits it must give. */
static const struct {
    uint32_t in;
    uint16_t out;
} bf16_cases[] = {
    {0x3f800000u, 0x3f80}, /* 1 */
    {0x80000000u, 0x8000}, /* -0 */
    {0x3f808000u, 0x3f80}, /* halfway, kept bit even: down */
    {0x3f818000u, 0x3f82}, /* halfway, kept bit odd: up to even */
    {0x3f807fffu, 0x3f80}, /* just below halfway */
    {0x3f808001u, 0x3f81}, /* just above */
    {0xbf818000u, 0xbf82}, /* the same for a negative value */
    {0x7f7fffffu, 0x7f80}, /* FLT_MAX rounds to infinity */
    {0x7f800000u, 0x7f80}, /* +inf */
    {0xff800000u, 0xff80}, /* -inf */
    {0x7fc00000u, 0x7fc0}, /* quiet NaN */
    {0x7f800001u, 0x7fc0}, /* signalling NaN: made quiet, not infinity */
    {0x7fffffffu, 0x7fff}, /* NaN whose rounding would carry into the sign */
    {0xffffffffu, 0xffff}, /* negative NaN */
    {0x00000001u, 0x0000}, /* the smallest subnormal */
    {0x00018000u, 0x0002}, /* a subnormal halfway, odd: up */
    {0x807fffffu, 0x8080}, /* the largest subnormal rounds to the smallest normal */
};

/* n values: random bit patterns (every exponent, NaNs and subnormals among
 * them) with the cases above scattered over the blocks of 16 and 32. */
static void bf16_inputs(float *x, size_t n)
{
    size_t nc = sizeof bf16_cases / sizeof *bf16_cases;
    cl_rng rng;
    cl_rng_seed(&rng, 31);
    for (size_t i = 0; i < n; i++)
        x[i] = from_bits((uint32_t)(cl_rng_u64(&rng) >> 32));
    for (size_t c = 0; c < nc; c++)
        x[(c * 37 + 3) % n] = from_bits(bf16_cases[c].in);
}

/* The baseline gives the cases' bits; every variant the CPU runs gives the
 * baseline's bits for every value, at every alignment and in the tails
 * (a block without subnormals, where the AVX512-BF16 instruction runs). */
START_TEST(test_bf16_agree)
{
    enum { N = 1000 + 37 };
    static float x[N];
    static uint16_t ref[N], got[N + 1];
    const cl_kern *base;
    ck_assert_int_eq(cl_kern_for(CL_ISA_BASELINE, &base), CL_OK);
    for (size_t c = 0; c < sizeof bf16_cases / sizeof *bf16_cases; c++) {
        float in = from_bits(bf16_cases[c].in);
        base->bf16_from_f32(ref, &in, 1);
        ck_assert_msg(ref[0] == bf16_cases[c].out, "baseline: %08x -> %04x, not %04x",
                      bf16_cases[c].in, ref[0], bf16_cases[c].out);
    }
    bf16_inputs(x, N);
    for (size_t i = 640; i < 704; i++) /* two blocks of 32 with no subnormal */
        x[i] = from_bits(0x3f808000u + (uint32_t)(i % 3) * 0x10000u - (uint32_t)(i & 1));
    base->bf16_from_f32(ref, x, N);
    uint16_t one;
    cl_bf16_from_f32(&one, &x[100], 1); /* the public scalar function, the same bits */
    ck_assert_uint_eq(one, ref[100]);
    int ran = 0;
    for (int i = CL_ISA_BASELINE + 1; i < CL_ISA_COUNT; i++) {
        const cl_kern *k;
        if (cl_kern_for((cl_isa)i, &k) != CL_OK)
            continue;
        for (size_t off = 0; off < 3; off++) {
            memset(got, 0xab, sizeof got);
            k->bf16_from_f32(got + off % 2, x + off, N - off);
            for (size_t j = 0; j < N - off; j++)
                ck_assert_msg(got[j + off % 2] == ref[j + off],
                              "%s, offset %zu: value %zu (%08x) -> %04x, baseline %04x",
                              cl_isa_name((cl_isa)i), off, j + off,
                              ((const uint32_t *)(const void *)x)[j + off], got[j + off % 2],
                              ref[j + off]);
            ck_assert_uint_eq(got[N - off + off % 2], 0xabab); /* nothing written past n */
        }
        ran++;
    }
    if (!ran)
        cl_test_skip("test_bf16_agree", "this CPU runs only the baseline kernels");
}
END_TEST

/* ---- the tool ------------------------------------------------------------ */

/* `charlstm ARGS` under CHARLSTM_ISA=isa, stderr with stdout; its exit status. */
static int run_isa(char *out, size_t size, const char *isa, const char *args)
{
    setenv("CHARLSTM_ISA", isa, 1);
    int rc = cl_test_run(out, size, "%s 2>&1", args);
    unsetenv("CHARLSTM_ISA");
    return rc;
}

/* The tool: --version names the variant; a bad CHARLSTM_ISA stops it with
 * a message and exit 2 before any work. */
START_TEST(test_tool_isa)
{
    char out[4096], want[64];
    ck_assert_int_eq(cl_test_run(out, sizeof out, "--version"), 0);
    ck_assert_ptr_nonnull(strstr(out, "kernels: "));
    ck_assert_ptr_nonnull(strstr(out, "build: "));
    for (int i = 0; i < CL_ISA_COUNT; i++) {
        const char *isa = cl_isa_name((cl_isa)i);
        int runs = (cl_isa_cpu() & 1u << i) != 0;
        snprintf(want, sizeof want, "kernels: %s (forced", isa);
        ck_assert_int_eq(run_isa(out, sizeof out, isa, "--version"), runs ? 0 : 2);
        ck_assert_msg(strstr(out, runs ? want : "this CPU cannot run") != NULL, "%s", out);
    }
    ck_assert_int_eq(run_isa(out, sizeof out, "sse9", "info /nonexistent.model"), 2);
    ck_assert_ptr_nonnull(strstr(out, "CHARLSTM_ISA=sse9: no such kernel variant"));
}
END_TEST

/* ---- whole paths with a variant forced ------------------------------------- */

/* A 2-layer LSTM stack, forward and backward, under CHARLSTM_ISA=isa. */
static int stack_run(const char *isa, float *Y, float *G, size_t nP)
{
    cl_rnn_config c = {CL_CELL_LSTM, 5, 19, 2, 0, 0};
    enum { T = 7, NB = 5 };
    float P[6000], X[T * NB * 5], dY[T * NB * 19];
    cl_rng rng;
    cl_rnn *r;
    ck_assert_uint_le(cl_rnn_param_count(&c), nP);
    cl_rng_seed(&rng, 3);
    ck_assert_int_eq(cl_rnn_init(&c, P, &rng), CL_OK);
    random_fill(&rng, X, sizeof X / sizeof(float), -1, 1);
    random_fill(&rng, dY, sizeof dY / sizeof(float), -1, 1);
    setenv("CHARLSTM_ISA", isa, 1);
    int err = cl_rnn_create(&r, &c, T, NB);
    unsetenv("CHARLSTM_ISA");
    if (err)
        return err;
    memset(G, 0, nP * sizeof *G);
    err = cl_rnn_forward(r, P, T, NB, X, NULL, NULL, Y, NULL, NULL, 1, &rng);
    err = err ? err : cl_rnn_backward(r, P, G, dY, NULL, NULL, NULL, NULL, NULL);
    cl_rnn_free(r);
    return err;
}

/* Logits of 40 steps of the generation engine on the LSTM fixture. */
static int engine_run(const char *isa, float *out, int steps, int *V)
{
    char path[512];
    cl_model *m;
    cl_infer *e;
    cl_diag d = {{0}};
    ck_assert_int_eq(cl_model_load(&m, cl_test_path(path, sizeof path, "tests/data/trainer_lstm.model"),
                                   NULL, &d), CL_OK);
    setenv("CHARLSTM_ISA", isa, 1);
    /* fp32 weights: int8 would round h to 15 bits, which a difference of
     * 1e-7 can flip by one step near a rounding boundary */
    cl_infer_config cfg = cl_infer_defaults();
    cfg.weights = CL_WEIGHTS_FP32;
    int err = cl_infer_create(&e, m, &cfg);
    unsetenv("CHARLSTM_ISA");
    *V = cl_vocab_size(cl_model_vocab(m));
    cl_model_free(m);
    if (err)
        return err;
    cl_infer_reset(e);
    for (int t = 0; t < steps; t++)
        memcpy(out + (size_t)t * *V, cl_infer_step(e, (t * 7) % *V), (size_t)*V * sizeof(float));
    cl_infer_free(e);
    return CL_OK;
}

START_TEST(test_paths_agree)
{
    enum { NP = 6000, NY = 7 * 5 * 19, STEPS = 40, VMAX = 64 };
    static float Y0[NY], G0[NP], Y[NY], G[NP], L0[STEPS * VMAX], L[STEPS * VMAX];
    int V;
    ck_assert_int_eq(stack_run("baseline", Y0, G0, NP), CL_OK);
    ck_assert_int_eq(engine_run("baseline", L0, STEPS, &V), CL_OK);
    ck_assert_int_le(V, VMAX);
    for (int i = CL_ISA_BASELINE + 1; i < CL_ISA_COUNT; i++) {
        const char *isa = cl_isa_name((cl_isa)i);
        if (!(cl_isa_cpu() & 1u << i)) {
            ck_assert_int_eq(stack_run(isa, Y, G, NP), CL_EISA);
            ck_assert_int_eq(engine_run(isa, L, STEPS, &V), CL_EISA);
            continue;
        }
        /* Differences grow through 7 steps and 2 layers (and 40 engine
         * steps), each step contracting them (|f|, |o| < 1): still within
         * the gate tolerance, scaled by the values. */
        ck_assert_int_eq(stack_run(isa, Y, G, NP), CL_OK);
        check_close("stack outputs", (cl_isa)i, Y, Y0, NY);
        check_close("stack gradients", (cl_isa)i, G, G0, NP);
        ck_assert_int_eq(engine_run(isa, L, STEPS, &V), CL_OK);
        check_close("engine logits", (cl_isa)i, L, L0, (size_t)STEPS * V);
    }
}
END_TEST

Suite *suite_kern(void)
{
    Suite *s = suite_create("kern");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_isa_choose);
    tcase_add_test(tc, test_isa_env);
    tcase_add_test(tc, test_gates_agree);
    tcase_add_test(tc, test_wmat_agree);
    tcase_add_test(tc, test_bf16_agree);
    tcase_add_test(tc, test_paths_agree);
    tcase_add_test(tc, test_tool_isa);
    suite_add_tcase(s, tc);
    return s;
}
