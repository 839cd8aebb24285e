/* gen_bench: characters per second of generation (one character at a time,
 * state carried, sampling at temperature 1) with a randomly initialised
 * model of the given size, as torch_charlm.py --gen-bench does, with the
 * engine's weights in W (int8, bf16, fp32; default int8), its products split
 * over T threads and N samples stepped together (one pass over the weights
 * per step serves N characters); prints the bytes of weights read per step
 * and per character, and the GB/s that makes.
 *   gen_bench [--weights W] [--threads T] [--samples N] LAYERS HIDDEN [CHARS=5000] [EMB=64] [VOCAB=65]
 * and the machine's read bandwidth with T threads: a streaming read of a
 * buffer larger than L2 (8 x L2) and of one larger than L3 (2 x L3), cache
 * sizes from sysconf (else sysfs).
 *   gen_bench --bandwidth [T=1]
 * and the quality of the generation engine: nats/char of TEXT read one
 * character at a time through the engine with each weight format, next to
 * the float32 model.
 *   gen_bench --eval MODEL TEXT
 * and training throughput of the language model (forward, backward and a
 * plain SGD update; batches of random ids: speed does not depend on the
 * text) with the products (the encoder's and the output layer's) in
 * PRECISION: blas (OpenBLAS fp32, what they use without cl_lm_set_precision),
 * fp32, bf16 or auto (oneDNN).
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
#include <unistd.h>

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
    int32_t *cps;
    size_t n;
    cl_diag d = {{0}};
    if (cl_model_load(&m, model, NULL, &d) || cl_text_read_file(text, &m->text, &cps, &n, &d)) {
        fprintf(stderr, "gen_bench: %s\n", d.msg);
        return 1;
    }
    int *ids = malloc(sizeof(int) * n);
    cl_ids all;
    double exact, loss[3];
    cl_model_encode(m, cps, n, ids, NULL);
    cl_ids_from_cps(&all, cps, (int64_t)n, &m->vocab, NULL);
    cl_lm_evaluate(m, &all, 1, 256, &exact, NULL, NULL); /* one stream, like the engine */
    printf("%s on %s (%zu chars), one stream: float32 model %.4f nats/char; engine", model, text,
           n, exact);
    for (int w = CL_WEIGHTS_FP32; w >= CL_WEIGHTS_INT8; w--) {
        cl_infer_config c = cl_infer_defaults();
        cl_infer *e;
        c.weights = (cl_weights)w;
        if (cl_infer_create(&e, m, &c)) {
            fprintf(stderr, "\ngen_bench: not an LSTM language model: %s\n", model);
            return 1;
        }
        loss[w] = engine_loss(e, ids, n, m->enc.vocab);
        printf(" %s %.4f", cl_weights_name((cl_weights)w), loss[w]);
        fflush(stdout);
        cl_infer_free(e);
    }
    printf(" (int8 - fp32 %+.4f, bf16 - fp32 %+.4f)\n", loss[CL_WEIGHTS_INT8] - loss[CL_WEIGHTS_FP32],
           loss[CL_WEIGHTS_BF16] - loss[CL_WEIGHTS_FP32]);
    return 0;
}

/* ---- read bandwidth ---- */

/* A cache's size in bytes: sysconf, else sysfs (index2 = L2, index3 = L3
 * on x86), else 0. */
static long cache_size(int level)
{
    long n = sysconf(level == 2 ? _SC_LEVEL2_CACHE_SIZE : _SC_LEVEL3_CACHE_SIZE);
    if (n > 0)
        return n;
    char path[96];
    snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/size", level);
    FILE *f = fopen(path, "r");
    char unit = 0;
    if (f && fscanf(f, "%ld%c", &n, &unit) >= 1)
        n *= unit == 'K' ? 1024 : unit == 'M' ? 1048576 : 1;
    else
        n = 0;
    if (f)
        fclose(f);
    return n;
}

/* Bytes per second of the best of repeated streaming reads of buf [n]
 * (each thread reads its share; at least 3 passes and 0.3 s). */
static double read_rate(const uint64_t *buf, size_t n, int threads)
{
    double best = 0, t0 = now();
    uint64_t sink = 0;
    for (int pass = 0; pass < 3 || now() - t0 < 0.3; pass++) {
        double t = now();
#pragma omp parallel num_threads(threads) reduction(^ : sink)
        {
            size_t nt = (size_t)omp_get_num_threads(), id = (size_t)omp_get_thread_num();
            size_t a = n * id / nt, q = (n * (id + 1) / nt - a) / 4;
            const uint64_t *p0 = buf + a, *p1 = p0 + q, *p2 = p1 + q, *p3 = p2 + q;
            uint64_t s = 0;
#pragma omp simd reduction(+ : s)
            for (size_t i = 0; i < q; i++)
                s += p0[i] + p1[i] + p2[i] + p3[i];
            sink ^= s;
        }
        t = now() - t;
        best = best > n * 8 / t ? best : n * 8 / t;
    }
    if (sink == 42) /* keeps the reads */
        fputc(' ', stderr);
    return best;
}

static int bandwidth(int threads)
{
    long l2 = cache_size(2), l3 = cache_size(3), pages = sysconf(_SC_PHYS_PAGES);
    size_t sizes[2] = {8 * (size_t)(l2 > 0 ? l2 : 1 << 20), 2 * (size_t)(l3 > 0 ? l3 : 32 << 20)};
    size_t cap = (size_t)(pages > 0 ? pages : 1 << 20) * (size_t)sysconf(_SC_PAGESIZE) / 8;
    sizes[1] = sizes[1] < cap ? sizes[1] : cap; /* a bogus L3 size must not take the machine */
    printf("bandwidth: L2 %ld KB, L3 %ld KB (sysconf/sysfs), %d thread(s):", l2 >> 10, l3 >> 10,
           threads);
    for (int i = 0; i < 2; i++) {
        size_t n = sizes[i] / 8;
        uint64_t *buf = malloc(n * 8);
        if (!buf) {
            fprintf(stderr, "\ngen_bench: cannot allocate %zu MB\n", sizes[i] >> 20);
            return 1;
        }
#pragma omp parallel for num_threads(threads) schedule(static)
        for (size_t j = 0; j < n; j++) /* first touch by the thread that reads it */
            buf[j] = j;
        printf(" %s %.1f GB/s (%zu MB)", i ? "beyond-L3" : "beyond-L2",
               read_rate(buf, n, threads) * 1e-9, sizes[i] >> 20);
        free(buf);
    }
    printf("\n");
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
        (!blas && cl_lm_set_precision(&lm, prec))) {
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

/* ---- generation speed ---- */

typedef struct {
    cl_infer_config c;
    int layers, hidden, emb, vocab;
    long chars;
} gen_job;

static int no_emit(int s, int32_t cp, void *ctx)
{
    (void)s, (void)cp, (void)ctx;
    return 0;
}

static int gen_speed(const gen_job *j)
{
    cl_model *m = random_model(j->layers, j->hidden, j->emb, j->vocab);
    cl_sample_config sc = cl_sample_defaults();
    cl_gen *g;
    cl_infer *e;
    if (!m || cl_gen_create(&g, m, &sc, 1, NULL) || cl_gen_set_engine(g, &j->c) ||
        cl_infer_create(&e, m, &j->c))
        return 1;
    int n = j->c.columns, id = 1;
    cl_gen_request warm = {j->chars / 10 / n + 1, NULL, NULL, 0}, r = {j->chars / n, NULL, NULL, 0};
    cl_gen_batch(g, &id, 1, &warm, n, no_emit, NULL, NULL); /* warm caches */
    double t = now();
    cl_gen_batch(g, &id, 1, &r, n, no_emit, NULL, NULL);
    t = now() - t;
    long chars = r.length * n;
    double bytes = (double)cl_infer_bytes(e);
    printf("generation: %ld chars in %.2f s = %.0f chars/s (batch 1, %d x %d), %s weights, "
           "%d thread(s), %d sample(s) per step: %.2f MB per step, %.0f bytes per char, "
           "%.1f GB/s (%s kernels)\n",
           chars, t, chars / t, j->layers, j->hidden, cl_weights_name(j->c.weights),
           j->c.threads, n, bytes * 1e-6, bytes / n, bytes * chars / n / t * 1e-9, cl_infer_isa());
    cl_infer_free(e);
    cl_gen_free(g);
    cl_model_free(m);
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
    if (argc >= 2 && strcmp(argv[1], "--bandwidth") == 0)
        return bandwidth(argc > 2 ? atoi(argv[2]) : 1);
    gen_job j = {cl_infer_defaults(), 0, 0, 64, 65, 5000};
    int a = 1;
    for (; a + 1 < argc && strncmp(argv[a], "--", 2) == 0; a += 2) {
        if (strcmp(argv[a], "--weights") == 0 && cl_weights_parse(argv[a + 1], &j.c.weights) == 0)
            continue;
        if (strcmp(argv[a], "--threads") == 0 && (j.c.threads = atoi(argv[a + 1])) > 0)
            continue;
        if (strcmp(argv[a], "--samples") == 0 && (j.c.columns = atoi(argv[a + 1])) > 0)
            continue;
        break;
    }
    if (argc - a < 2 || strncmp(argv[a], "--", 2) == 0) {
        fprintf(stderr, "usage: %s [--weights int8|bf16|fp32] [--threads T] [--samples N] "
                        "LAYERS HIDDEN [CHARS] [EMB] [VOCAB]\n", argv[0]);
        return 2;
    }
    j.layers = atoi(argv[a]), j.hidden = atoi(argv[a + 1]);
    j.chars = argc > a + 2 ? atol(argv[a + 2]) : 5000;
    j.emb = argc > a + 3 ? atoi(argv[a + 3]) : 64, j.vocab = argc > a + 4 ? atoi(argv[a + 4]) : 65;
    return gen_speed(&j);
}
