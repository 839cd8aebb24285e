/* gen_bench: characters per second of batch-1 generation (one character at a
 * time, state carried, sampling at temperature 1) with a randomly initialised
 * model of the given size, as torch_charlm.py --gen-bench does.
 *   gen_bench LAYERS HIDDEN [CHARS=5000] [EMB=64] [VOCAB=65]
 * and the quality of the generation engine: nats/char of TEXT read one
 * character at a time through the bfloat16 engine, next to the float32 model.
 *   gen_bench --eval MODEL TEXT
 * and training throughput of the language model (forward, backward and a
 * plain SGD update; batches of random ids: speed does not depend on the
 * text) with the encoder's products in PRECISION: blas (OpenBLAS fp32, what
 * a stack uses without cl_encoder_set_precision), fp32, bf16 or auto (oneDNN).
 *   gen_bench --train LAYERS HIDDEN PRECISION THREADS [STEPS=10] [BATCH=32] [SEQ=100]
 * and one product C[M,N] = op(A) op(B) (LAYOUT: NT, TN or NN) in GFLOP/s,
 * one thread, through OpenBLAS, oneDNN fp32 and oneDNN bf16 (if the CPU has it).
 *   gen_bench --mm M N K LAYOUT [SECONDS=0.5] */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <string.h>

#include "cl_generate.h"
#include "cl_infer.h"
#include "cl_lmtrain.h"
#include "cl_lm.h"

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static cl_model *random_model(int layers, int hidden, int emb, int vocab)
{
    int32_t *cps = malloc(sizeof(int32_t) * (size_t)vocab);
    cl_vocab v;
    for (int i = 0; i < vocab - 1; i++)
        cps[i] = 32 + i;
    if (cl_vocab_from_cps(&v, cps, vocab - 1))
        return NULL;
    free(cps);
    cl_encoder_config ec = {vocab, emb, {CL_CELL_LSTM, emb, hidden, layers, 0, 0}};
    cl_text_opts to = cl_text_defaults();
    cl_rng rng;
    cl_rng_seed(&rng, 1);
    cl_model *m;
    if (cl_model_create(&m, &to, &v, &ec, &rng) ||
        cl_model_add_head(m, &cl_lm_head_ops, cl_lm_head_new(0), &rng))
        return NULL;
    return m;
}

/* Mean next-character cross-entropy over ids, one character at a time. */
static double engine_loss(cl_infer *e, const int *ids, size_t n, int V)
{
    double total = 0;
    cl_infer_reset(e);
    for (size_t i = 0; i + 1 < n; i++) {
        const float *z = cl_infer_step(e, ids[i]);
        double m = z[0], s = 0;
        for (int v = 1; v < V; v++)
            m = z[v] > m ? z[v] : m;
        for (int v = 0; v < V; v++)
            s += exp(z[v] - m);
        total += log(s) + m - z[ids[i + 1]];
    }
    return total / (double)(n - 1);
}

static int eval_engine(const char *model, const char *text)
{
    cl_model *m;
    cl_infer *e;
    int32_t *cps;
    size_t n;
    cl_diag d = {{0}};
    if (cl_model_load(&m, model, NULL, &d) || cl_text_read_file(text, &m->text, &cps, &n, &d) ||
        cl_infer_create(&e, m)) {
        fprintf(stderr, "gen_bench: %s\n", d.msg);
        return 1;
    }
    int *ids = malloc(sizeof(int) * n);
    cl_ids all;
    cl_model_encode(m, cps, n, ids, NULL);
    double fast = engine_loss(e, ids, n, m->enc.vocab), exact;
    cl_ids_from_cps(&all, cps, (int64_t)n, &m->vocab, NULL);
    cl_lm_evaluate(m, &all, 1, 256, &exact, NULL, NULL); /* one stream, like the engine */
    printf("%s on %s, one stream: float32 %.4f nats/char, bfloat16 engine %.4f\n", model, text,
           exact, fast);
    return 0;
}

/* One training step: gradients of the mean loss, then w -= lr g. */
static double train_step(cl_lm *lm, cl_params *p, const int *ids, const int *tgt, int T, int B,
                         float *h, float *c)
{
    cl_params_zero_grad(p);
    double loss = cl_lm_forward(lm, p, ids, tgt, T, B, h, c, 1, NULL);
    cl_lm_backward(lm, p);
#pragma omp simd
    for (size_t i = 0; i < p->n; i++)
        p->w[i] -= 1e-3f * p->g[i];
    return loss / (double)lm->count;
}

static int train_bench(int argc, char **argv)
{
    int layers = atoi(argv[2]), hidden = atoi(argv[3]), threads = atoi(argv[5]);
    int steps = argc > 6 ? atoi(argv[6]) : 10, B = argc > 7 ? atoi(argv[7]) : 32;
    int T = argc > 8 ? atoi(argv[8]) : 100, V = 65, blas = strcmp(argv[4], "blas") == 0;
    cl_precision prec = CL_PREC_FP32;
    cl_model *m = random_model(layers, hidden, 64, V);
    cl_lm lm;
    if (!m || (!blas && cl_precision_parse(argv[4], &prec)) ||
        cl_lm_create(&lm, &m->enc, &m->params, 0, T, B) ||
        (!blas && cl_encoder_set_precision(&lm.enc, prec))) {
        fprintf(stderr, "gen_bench --train: cannot set up %s\n", argv[4]);
        return 1;
    }
    openblas_set_num_threads(1); /* one thread pool, as the tool runs */
    omp_set_num_threads(threads);
    cl_rnn_set_threads(lm.enc.rnn, threads);
    size_t n = (size_t)T * B, ns = cl_encoder_state_size(&m->enc) * B;
    int *ids = malloc(n * sizeof(int)), *tgt = malloc(n * sizeof(int));
    float *h = calloc(ns, sizeof(float)), *c = calloc(ns, sizeof(float));
    cl_rng rng;
    cl_rng_seed(&rng, 3);
    for (size_t i = 0; i < n; i++)
        ids[i] = (int)(cl_rng_float(&rng) * V), tgt[i] = (int)(cl_rng_float(&rng) * V);
    double loss = train_step(&lm, &m->params, ids, tgt, T, B, h, c), t = now(); /* warm-up */
    for (int s = 0; s < steps; s++)
        loss = train_step(&lm, &m->params, ids, tgt, T, B, h, c);
    t = now() - t;
    printf("training: %d x %d, %s (%s), %d thread(s), %.0f chars/s, loss %.3f\n", layers,
           hidden, blas ? "openblas" : cl_precision_name(cl_rnn_precision(lm.enc.rnn)),
           cl_mm_isa(), threads, (double)n * steps / t, loss);
    free(ids), free(tgt), free(h), free(c);
    cl_lm_free(&lm);
    cl_model_free(m);
    return 0;
}

/* GFLOP/s of fn(ctx) repeated for `seconds` (after one warm-up call). */
typedef struct {
    cl_mm *mm; /* NULL: OpenBLAS */
    char ta, tb;
    int M, N, K;
    const void *A, *B;
    float *C;
} mm_job;

static void mm_once(const mm_job *j)
{
    int lda = j->ta == 'T' ? j->M : j->K, ldb = j->tb == 'T' ? j->K : j->N;
    if (j->mm)
        cl_mm_gemm(j->mm, 1, j->ta, j->tb, j->M, j->N, j->K, j->A, lda, j->B, ldb, 0, j->C, j->N);
    else
        cblas_sgemm(CblasRowMajor, j->ta == 'T' ? CblasTrans : CblasNoTrans,
                    j->tb == 'T' ? CblasTrans : CblasNoTrans, j->M, j->N, j->K, 1, j->A, lda,
                    j->B, ldb, 0, j->C, j->N);
}

static double mm_rate(const mm_job *j, double seconds)
{
    long reps = 0;
    mm_once(j);
    double t0 = now(), t;
    do
        mm_once(j), reps++;
    while ((t = now() - t0) < seconds);
    return 2.0 * j->M * j->N * j->K * reps / t * 1e-9;
}

static int mm_bench(int argc, char **argv)
{
    int M = atoi(argv[2]), N = atoi(argv[3]), K = atoi(argv[4]);
    double seconds = argc > 6 ? atof(argv[6]) : 0.5;
    size_t na = (size_t)M * K, nb = (size_t)K * N;
    float *A = malloc(na * sizeof(float)), *B = malloc(nb * sizeof(float));
    float *C = malloc((size_t)M * N * sizeof(float));
    uint16_t *A16 = malloc(na * 2), *B16 = malloc(nb * 2);
    cl_rng rng;
    cl_rng_seed(&rng, 5);
    for (size_t i = 0; i < na; i++)
        A[i] = cl_rng_float(&rng) - 0.5f;
    for (size_t i = 0; i < nb; i++)
        B[i] = cl_rng_float(&rng) - 0.5f;
    cl_bf16_from_f32(A16, A, na), cl_bf16_from_f32(B16, B, nb);
    openblas_set_num_threads(1);
    mm_job j = {NULL, argv[5][0], argv[5][1], M, N, K, A, B, C};
    printf("%s %d %d %d: openblas %.1f", argv[5], M, N, K, mm_rate(&j, seconds));
    for (int p = CL_PREC_FP32; p <= CL_PREC_BF16; p++) {
        if (cl_mm_create(&j.mm, (cl_precision)p)) {
            printf(" %s -", cl_precision_name((cl_precision)p));
            continue;
        }
        j.A = p == CL_PREC_BF16 ? (const void *)A16 : A;
        j.B = p == CL_PREC_BF16 ? (const void *)B16 : B;
        printf(" %s %.1f", cl_precision_name((cl_precision)p), mm_rate(&j, seconds));
        cl_mm_free(j.mm);
    }
    printf(" GFLOP/s (1 thread, %s)\n", cl_mm_isa());
    free(A), free(B), free(C), free(A16), free(B16);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 6 && strcmp(argv[1], "--mm") == 0)
        return mm_bench(argc, argv);
    if (argc == 4 && strcmp(argv[1], "--eval") == 0)
        return eval_engine(argv[2], argv[3]);
    if (argc >= 6 && strcmp(argv[1], "--train") == 0)
        return train_bench(argc, argv);
    if (argc < 3) {
        fprintf(stderr, "usage: %s LAYERS HIDDEN [CHARS] [EMB] [VOCAB]\n", argv[0]);
        return 2;
    }
    int layers = atoi(argv[1]), hidden = atoi(argv[2]);
    long n = argc > 3 ? atol(argv[3]) : 5000;
    int emb = argc > 4 ? atoi(argv[4]) : 64, vocab = argc > 5 ? atoi(argv[5]) : 65;
    cl_model *m = random_model(layers, hidden, emb, vocab);
    cl_sample_config sc = cl_sample_defaults();
    cl_gen *g;
    if (!m || cl_gen_create(&g, m, &sc, 1, NULL))
        return 1;
    int id = 1;
    cl_gen_prime(g, &id, 1);
    for (long i = 0; i < n / 10; i++) /* warm caches */
        cl_gen_next(g, &id);
    double t = now();
    for (long i = 0; i < n; i++)
        cl_gen_next(g, &id);
    t = now() - t;
    printf("generation: %ld chars in %.2f s = %.0f chars/s (batch 1, %d x %d)\n", n, t, n / t,
           layers, hidden);
    cl_gen_free(g);
    cl_model_free(m);
    return 0;
}
