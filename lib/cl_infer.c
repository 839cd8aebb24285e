/* cl_infer: batch-1 LSTM inference with bfloat16 weights (see cl_infer.h). */
#include "cl_infer.h"

#include <stdlib.h>
#include <string.h>

#include "cl_real.h"

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

/* A weight matrix [n, k] in bfloat16, rows padded to k16 (a multiple of 16)
 * with zeros so the kernel needs no tail loop. */
typedef struct {
    int n, k, k16;
    uint16_t *w;
    float *b; /* [n] bias, or NULL */
} bf16_mat;

struct cl_infer {
    int V, E, H, L;
    float *table;    /* [V, 4H] layer 0's input projection of every character, biases included */
    bf16_mat *w;     /* [L]: layer 0: W_hh; layer l > 0: [W_ih | W_hh]; biases summed */
    bf16_mat out;    /* [V, H] and bias */
    float *x;        /* [L][k16]: the input of each layer's product */
    float *c;        /* [L, H] cell states */
    float *g;        /* [4H] gates */
    float *hout;     /* [16-padded H] top output */
    float *logits;   /* [V] */
};

/* ==== bfloat16 ============================================================= */

uint16_t cl_bf16_from_float(float x)
{
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    if ((u & 0x7fffffffu) > 0x7f800000u) /* NaN stays NaN */
        return (uint16_t)((u >> 16) | 0x40);
    u += 0x7fffu + ((u >> 16) & 1u); /* round to nearest, ties to even */
    return (uint16_t)(u >> 16);
}

float cl_bf16_to_float(uint16_t b)
{
    uint32_t u = (uint32_t)b << 16;
    float x;
    memcpy(&x, &u, sizeof x);
    return x;
}

static int mat_alloc(bf16_mat *m, int n, int k, int with_bias)
{
    m->n = n, m->k = k, m->k16 = (k + 15) / 16 * 16;
    m->w = cl_alloc((size_t)n * m->k16 * sizeof(uint16_t));
    m->b = with_bias ? cl_alloc((size_t)n * sizeof(float)) : NULL;
    return m->w && (m->b || !with_bias) ? CL_OK : CL_ENOMEM;
}

/* Columns [col, col + k) of m take the float matrix src [n, k]. */
static void mat_put(bf16_mat *m, int col, const float *src, int k)
{
    for (int r = 0; r < m->n; r++)
        for (int j = 0; j < k; j++)
            m->w[(size_t)r * m->k16 + col + j] = cl_bf16_from_float(src[(size_t)r * k + j]);
}

/* ==== the kernel: y = W x + b ============================================== */

#if defined(__AVX512F__)
static inline __m512 bf16x16(const uint16_t *p)
{
    __m256i v = _mm256_loadu_si256((const __m256i *)p);
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(v), 16));
}

/* Four rows at a time so every load of x serves four products. */
static void gemv_bf16(const bf16_mat *m, const float *x, float *y)
{
    int r = 0, k16 = m->k16;
    for (; r + 4 <= m->n; r += 4) {
        const uint16_t *w = m->w + (size_t)r * k16;
        __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        for (int k = 0; k < k16; k += 16) {
            __m512 xv = _mm512_loadu_ps(x + k);
            a0 = _mm512_fmadd_ps(bf16x16(w + k), xv, a0);
            a1 = _mm512_fmadd_ps(bf16x16(w + k16 + k), xv, a1);
            a2 = _mm512_fmadd_ps(bf16x16(w + 2 * (size_t)k16 + k), xv, a2);
            a3 = _mm512_fmadd_ps(bf16x16(w + 3 * (size_t)k16 + k), xv, a3);
        }
        y[r] = _mm512_reduce_add_ps(a0), y[r + 1] = _mm512_reduce_add_ps(a1);
        y[r + 2] = _mm512_reduce_add_ps(a2), y[r + 3] = _mm512_reduce_add_ps(a3);
    }
    for (; r < m->n; r++) {
        __m512 a = _mm512_setzero_ps();
        for (int k = 0; k < k16; k += 16)
            a = _mm512_fmadd_ps(bf16x16(m->w + (size_t)r * k16 + k), _mm512_loadu_ps(x + k), a);
        y[r] = _mm512_reduce_add_ps(a);
    }
}
#else
/* Portable version: the compiler vectorises the inner loop. */
static void gemv_bf16(const bf16_mat *m, const float *x, float *y)
{
    for (int r = 0; r < m->n; r++) {
        const uint16_t *w = m->w + (size_t)r * m->k16;
        float s = 0;
#pragma omp simd reduction(+ : s)
        for (int k = 0; k < m->k16; k++)
            s += cl_bf16_to_float(w[k]) * x[k];
        y[r] = s;
    }
}
#endif

static void add_bias(float *y, const float *b, int n)
{
    if (b)
        for (int i = 0; i < n; i++)
            y[i] += b[i];
}

/* ==== building ============================================================= */

void cl_infer_free(cl_infer *e)
{
    if (!e)
        return;
    for (int l = 0; e->w && l < e->L; l++)
        free(e->w[l].w), free(e->w[l].b);
    free(e->w), free(e->out.w), free(e->out.b);
    free(e->table), free(e->x), free(e->c), free(e->g), free(e->hout), free(e->logits);
    free(e);
}

static const float *tensor(const cl_model *m, const char *name)
{
    int i = cl_params_find(&m->params, name);
    return i < 0 ? NULL : cl_params_w(&m->params, i);
}

/* table[v] = E[v] W_ih0^T + b_ih0 + b_hh0, in float32 once. */
static void build_table(cl_infer *e, const cl_model *m, const float *rnn)
{
    const cl_rnn_config *c = &m->enc.rnn;
    int G = 4 * e->H;
    const float *wih = rnn + cl_rnn_param_offset(c, 0, 0, CL_RNN_W_IH, NULL, NULL);
    const float *bih = rnn + cl_rnn_param_offset(c, 0, 0, CL_RNN_B_IH, NULL, NULL);
    const float *bhh = rnn + cl_rnn_param_offset(c, 0, 0, CL_RNN_B_HH, NULL, NULL);
    cl_gemm('N', 'T', e->V, G, e->E, 1, tensor(m, "encoder.embed"), wih, 0, e->table);
    for (int v = 0; v < e->V; v++)
        for (int j = 0; j < G; j++)
            e->table[(size_t)v * G + j] += bih[j] + bhh[j];
}

static int build_layer(cl_infer *e, const cl_model *m, const float *rnn, int l)
{
    const cl_rnn_config *c = &m->enc.rnn;
    int H = e->H, G = 4 * H, in = l ? H : 0;
    bf16_mat *w = &e->w[l];
    int err = mat_alloc(w, G, in + H, 1);
    if (err)
        return err;
    if (l)
        mat_put(w, 0, rnn + cl_rnn_param_offset(c, l, 0, CL_RNN_W_IH, NULL, NULL), H);
    mat_put(w, in, rnn + cl_rnn_param_offset(c, l, 0, CL_RNN_W_HH, NULL, NULL), H);
    const float *bih = rnn + cl_rnn_param_offset(c, l, 0, CL_RNN_B_IH, NULL, NULL);
    const float *bhh = rnn + cl_rnn_param_offset(c, l, 0, CL_RNN_B_HH, NULL, NULL);
    for (int j = 0; j < G; j++)
        w->b[j] = l ? bih[j] + bhh[j] : 0; /* layer 0's biases are in the table */
    return CL_OK;
}

static int alloc_state(cl_infer *e)
{
    int k16 = (2 * e->H + 15) / 16 * 16;
    e->table = cl_alloc((size_t)e->V * 4 * e->H * sizeof(float));
    e->w = calloc((size_t)e->L, sizeof *e->w);
    e->x = cl_alloc((size_t)e->L * k16 * sizeof(float));
    e->c = cl_alloc((size_t)e->L * e->H * sizeof(float));
    e->g = cl_alloc((size_t)4 * e->H * sizeof(float));
    e->hout = cl_alloc((size_t)k16 * sizeof(float));
    e->logits = cl_alloc((size_t)e->V * sizeof(float));
    return e->table && e->w && e->x && e->c && e->g && e->hout && e->logits ? CL_OK : CL_ENOMEM;
}

int cl_infer_create(cl_infer **out, const cl_model *m)
{
    const cl_rnn_config *c = &m->enc.rnn;
    const float *rnn = tensor(m, "encoder.rnn.weight_ih_l0"), *ow = tensor(m, "head.lm.weight");
    *out = NULL;
    if (c->cell != CL_CELL_LSTM || c->bidir || !rnn || !ow)
        return CL_EINVAL;
    cl_infer *e = calloc(1, sizeof *e);
    if (!e)
        return CL_ENOMEM;
    e->V = m->enc.vocab, e->E = m->enc.emb, e->H = c->hidden, e->L = c->layers;
    int err = alloc_state(e);
    for (int l = 0; l < e->L && !err; l++)
        err = build_layer(e, m, rnn, l);
    err = err ? err : mat_alloc(&e->out, e->V, e->H, 1);
    if (err) {
        cl_infer_free(e);
        return err;
    }
    build_table(e, m, rnn);
    mat_put(&e->out, 0, ow, e->H);
    memcpy(e->out.b, tensor(m, "head.lm.bias"), (size_t)e->V * sizeof(float));
    *out = e;
    return CL_OK;
}

/* ==== one step ============================================================= */

void cl_infer_reset(cl_infer *e)
{
    int k16 = (2 * e->H + 15) / 16 * 16;
    memset(e->x, 0, (size_t)e->L * k16 * sizeof(float));
    memset(e->c, 0, (size_t)e->L * e->H * sizeof(float));
}

/* Gates g [4H] (pre-activation) -> c, h of one layer. */
static void lstm_step(float *g, float *c, float *h, int H)
{
    cl_vsigmoid(g, 2 * (size_t)H);
    cl_vtanh(g + 2 * H, (size_t)H);
    cl_vsigmoid(g + 3 * H, (size_t)H);
#pragma omp simd
    for (int j = 0; j < H; j++) {
        c[j] = g[H + j] * c[j] + g[j] * g[2 * H + j];
        h[j] = g[3 * H + j] * tanhf(c[j]);
    }
}

/* Layer l's product input x_l = [h_{l-1} ; h_l] (layer 0: [h_0]); its own new
 * h goes to x_l's recurrent part and to the next layer's input part. */
const float *cl_infer_step(cl_infer *e, int id)
{
    int H = e->H, G = 4 * H, k16 = (2 * H + 15) / 16 * 16;
    for (int l = 0; l < e->L; l++) {
        float *x = e->x + (size_t)l * k16, *hl = l ? x + H : x;
        gemv_bf16(&e->w[l], x, e->g);
        if (l == 0) {
            const float *row = e->table + (size_t)id * G;
            for (int j = 0; j < G; j++)
                e->g[j] += row[j];
        } else {
            add_bias(e->g, e->w[l].b, G);
        }
        lstm_step(e->g, e->c + (size_t)l * H, hl, H);
        float *next = l + 1 < e->L ? e->x + (size_t)(l + 1) * k16 : e->hout;
        memcpy(next, hl, (size_t)H * sizeof(float));
    }
    gemv_bf16(&e->out, e->hout, e->logits);
    add_bias(e->logits, e->out.b, e->V);
    return e->logits;
}
