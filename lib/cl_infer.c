/* cl_infer: LSTM inference for generation, several columns, rows split
 * between threads (see cl_infer.h). */
#include "cl_infer.h"

#include <stdlib.h>
#include <string.h>

#include <omp.h>

#include "cl_kern.h"
#include "cl_real.h"
#include "cl_wmat.h"

/* Units per block: a block's rows are the four gates of UB units
 * ([i f g o] x UB), so whoever computes them can update those cells. */
enum { UB = 16 };

struct cl_infer {
    int V, E, H, L, nb;   /* nb: blocks of UB units per layer */
    cl_infer_config cfg;
    const cl_kern *kern;  /* the CPU's variant of the cell kernel (cl_kern.h), chosen at creation */
    float *table;         /* [V, 4H] layer 0's input projection (biases included), block order */
    cl_wmat *w;           /* [L]: layer 0: W_hh; layer l > 0: [W_ih | W_hh], block order */
    float *bias;          /* [L, 4H] b_ih + b_hh in block order (layer 0's in the table) */
    cl_wmat out;          /* [V, H] */
    float *out_b;         /* [V] */
    unsigned char **x;    /* [2 * L]: x[p * L + l] = inputs of layer l at parity p [columns][xbytes] */
    unsigned char *top;   /* [columns][xbytes]: the last layer's h, the output's input */
    float *c;             /* [columns, L, H] cell states */
    float *g;             /* [threads][columns, 4 * UB] gates of the block a thread computes */
    float *logits;        /* [columns, V] */
    int p;                /* parity: layer l reads x[p * L + l] this step */
};

/* ==== options ============================================================== */

static const char *const weight_names[] = {"int8", "bf16", "fp32"};

const char *cl_weights_name(cl_weights w) { return weight_names[w]; }

int cl_weights_parse(const char *s, cl_weights *w)
{
    for (int i = 0; i < 3; i++)
        if (strcmp(s, weight_names[i]) == 0) {
            *w = (cl_weights)i;
            return CL_OK;
        }
    return CL_EINVAL;
}

cl_infer_config cl_infer_defaults(void) { return (cl_infer_config){CL_WEIGHTS_INT8, 1, 1}; }

const char *cl_infer_isa(void)
{
    cl_isa isa;
    return cl_isa_active(&isa) ? "unavailable" : cl_isa_name(isa);
}

/* ==== building ============================================================= */

void cl_infer_free(cl_infer *e)
{
    if (!e)
        return;
    for (int l = 0; e->w && l < e->L; l++)
        cl_wmat_free(&e->w[l]);
    for (int i = 0; e->x && i < 2 * e->L; i++)
        free(e->x[i]);
    cl_wmat_free(&e->out);
    free(e->w), free(e->x), free(e->bias), free(e->out_b), free(e->top);
    free(e->table), free(e->c), free(e->g), free(e->logits);
    free(e);
}

static const float *tensor(const cl_model *m, const char *name)
{
    int i = cl_params_find(&m->params, name);
    return i < 0 ? NULL : cl_params_w(&m->params, i);
}

/* Where PyTorch's row q * H + j (gate q of unit j) goes in block order. */
static int block_row(int H, int q, int j)
{
    int u0 = j / UB * UB, ub = H - u0 < UB ? H - u0 : UB;
    return 4 * u0 + q * ub + (j - u0);
}

/* dst [4H, ld] at column col takes src [4H, k] with its rows in block order. */
static void put_rows(float *dst, int ld, int col, const float *src, int k, int H)
{
    for (int q = 0; q < 4; q++)
        for (int j = 0; j < H; j++)
            memcpy(dst + (size_t)block_row(H, q, j) * ld + col, src + ((size_t)q * H + j) * k,
                   (size_t)k * sizeof(float));
}

static const float *rnn_part(const cl_model *m, int l, int part)
{
    return tensor(m, "encoder.rnn.weight_ih_l0") +
           cl_rnn_param_offset(&m->enc.rnn, l, 0, part, NULL, NULL);
}

/* table[v] = E[v] W_ih0^T + b_ih0 + b_hh0, in float32 once, columns in block order. */
static int build_table(cl_infer *e, const cl_model *m)
{
    int G = 4 * e->H;
    float *t = cl_alloc((size_t)e->V * G * sizeof(float));
    if (!t)
        return CL_ENOMEM;
    cl_gemm('N', 'T', e->V, G, e->E, 1, tensor(m, "encoder.embed"), rnn_part(m, 0, CL_RNN_W_IH),
            0, t);
    const float *bih = rnn_part(m, 0, CL_RNN_B_IH), *bhh = rnn_part(m, 0, CL_RNN_B_HH);
    for (int v = 0; v < e->V; v++)
        for (int q = 0; q < 4; q++)
            for (int j = 0; j < e->H; j++)
                e->table[(size_t)v * G + block_row(e->H, q, j)] =
                    t[(size_t)v * G + q * e->H + j] + bih[q * e->H + j] + bhh[q * e->H + j];
    free(t);
    return CL_OK;
}

static int build_layer(cl_infer *e, const cl_model *m, int l)
{
    int H = e->H, in = l ? H : 0, k = in + H;
    float *w = cl_alloc((size_t)4 * H * k * sizeof(float));
    if (!w)
        return CL_ENOMEM;
    if (l)
        put_rows(w, k, 0, rnn_part(m, l, CL_RNN_W_IH), H, H);
    put_rows(w, k, in, rnn_part(m, l, CL_RNN_W_HH), H, H);
    int err = cl_wmat_init(&e->w[l], e->cfg.weights, w, 4 * H, k);
    free(w);
    const float *bih = rnn_part(m, l, CL_RNN_B_IH), *bhh = rnn_part(m, l, CL_RNN_B_HH);
    for (int q = 0; q < 4; q++)
        for (int j = 0; j < H; j++)
            e->bias[(size_t)l * 4 * H + block_row(H, q, j)] = bih[q * H + j] + bhh[q * H + j];
    return err;
}

/* Inputs and states, sized by the matrices (build them first). */
static int alloc_state(cl_infer *e)
{
    size_t n = (size_t)e->cfg.columns;
    e->x = calloc(2 * (size_t)e->L, sizeof *e->x);
    for (int i = 0; e->x && i < 2 * e->L; i++)
        if (!(e->x[i] = cl_alloc(n * cl_wmat_xbytes(&e->w[i % e->L]))))
            return CL_ENOMEM;
    e->top = cl_alloc(n * cl_wmat_xbytes(&e->out));
    e->c = cl_alloc(n * e->L * e->H * sizeof(float));
    e->g = cl_alloc((size_t)e->cfg.threads * n * 4 * UB * sizeof(float));
    e->logits = cl_alloc(n * e->V * sizeof(float));
    return e->x && e->top && e->c && e->g && e->logits ? CL_OK : CL_ENOMEM;
}

static int build(cl_infer *e, const cl_model *m)
{
    e->table = cl_alloc((size_t)e->V * 4 * e->H * sizeof(float));
    e->w = calloc((size_t)e->L, sizeof *e->w);
    e->bias = cl_alloc((size_t)e->L * 4 * e->H * sizeof(float));
    e->out_b = cl_alloc((size_t)e->V * sizeof(float));
    if (!e->table || !e->w || !e->bias || !e->out_b)
        return CL_ENOMEM;
    int err = build_table(e, m);
    for (int l = 0; l < e->L && !err; l++)
        err = build_layer(e, m, l);
    err = err ? err : cl_wmat_init(&e->out, e->cfg.weights, tensor(m, "head.lm.weight"), e->V, e->H);
    if (!err)
        memcpy(e->out_b, tensor(m, "head.lm.bias"), (size_t)e->V * sizeof(float));
    return err ? err : alloc_state(e);
}

int cl_infer_create(cl_infer **out, const cl_model *m, const cl_infer_config *c)
{
    const cl_rnn_config *rc = &m->enc.rnn;
    cl_infer_config cfg = c ? *c : cl_infer_defaults();
    *out = NULL;
    if (rc->cell != CL_CELL_LSTM || rc->bidir || !tensor(m, "encoder.rnn.weight_ih_l0") ||
        !tensor(m, "head.lm.weight") || cfg.threads < 1 || cfg.columns < 1 ||
        (unsigned)cfg.weights > CL_WEIGHTS_FP32)
        return CL_EINVAL;
    cl_infer *e = calloc(1, sizeof *e);
    if (!e)
        return CL_ENOMEM;
    e->V = m->enc.vocab, e->E = m->enc.emb, e->H = rc->hidden, e->L = rc->layers;
    e->nb = (e->H + UB - 1) / UB, e->cfg = cfg;
    int err = cl_kern_select(&e->kern);
    err = err ? err : build(e, m);
    if (err) {
        cl_infer_free(e);
        return err;
    }
    cl_infer_reset(e);
    *out = e;
    return CL_OK;
}

size_t cl_infer_bytes(const cl_infer *e)
{
    size_t n = cl_wmat_bytes(&e->out) + (size_t)e->V * sizeof(float);
    for (int l = 0; l < e->L; l++)
        n += cl_wmat_bytes(&e->w[l]) + (size_t)4 * e->H * sizeof(float); /* bias or table row */
    return n;
}

/* ==== state ================================================================ */

void cl_infer_reset(cl_infer *e)
{
    size_t n = (size_t)e->cfg.columns;
    for (int i = 0; i < 2 * e->L; i++)
        memset(e->x[i], 0, n * cl_wmat_xbytes(&e->w[i % e->L]));
    memset(e->c, 0, n * e->L * e->H * sizeof(float));
    e->p = 0;
}

void cl_infer_copy(cl_infer *e, int from, int to)
{
    if (from == to)
        return;
    for (int i = 0; i < 2 * e->L; i++) {
        size_t xb = cl_wmat_xbytes(&e->w[i % e->L]);
        memcpy(e->x[i] + to * xb, e->x[i] + from * xb, xb);
    }
    size_t cs = (size_t)e->L * e->H;
    memcpy(e->c + to * cs, e->c + from * cs, cs * sizeof(float));
}

/* ==== one step ============================================================= */

/* Block b of layer l for columns c < n: its rows of the product, then its
 * units' cells; the new h goes where the next reads find it: this layer's
 * recurrent input at the other parity, the next layer's (or the output's)
 * input at this one. */
static void layer_block(cl_infer *e, int l, int b, const int *ids, int n, float *g)
{
    int H = e->H, u0 = b * UB, ub = H - u0 < UB ? H - u0 : UB, r0 = 4 * u0, G = 4 * H;
    const cl_wmat *w = &e->w[l];
    e->kern->wmat_rows(w, r0, r0 + 4 * ub, e->x[e->p * e->L + l], n, g, 4 * ub);
    int last = l + 1 == e->L;
    const cl_wmat *nw = last ? &e->out : &e->w[l + 1];
    unsigned char *self = e->x[(1 - e->p) * e->L + l], *next = last ? e->top : e->x[e->p * e->L + l + 1];
    size_t xb = cl_wmat_xbytes(w), nxb = cl_wmat_xbytes(nw);
    for (int c = 0; c < n; c++) {
        float *gc = g + (size_t)c * 4 * ub, h[UB];
        const float *add = l ? e->bias + (size_t)l * G + r0 : e->table + (size_t)ids[c] * G + r0;
        for (int i = 0; i < 4 * ub; i++)
            gc[i] += add[i];
        e->kern->lstm_step(gc, e->c + ((size_t)c * e->L + l) * H + u0, h, ub);
        cl_wmat_put(w, self + c * xb, (l ? H : 0) + u0, h, ub);
        cl_wmat_put(nw, next + c * nxb, u0, h, ub);
    }
}

/* Rows [r0, r1) of the logits of columns c < n. */
static void output_rows(cl_infer *e, int r0, int r1, int n)
{
    e->kern->wmat_rows(&e->out, r0, r1, e->top, n, e->logits + r0, e->V);
    for (int c = 0; c < n; c++)
        for (int r = r0; r < r1; r++)
            e->logits[(size_t)c * e->V + r] += e->out_b[r];
}

/* The part of [0, total) that thread t of nt takes. */
static int share(int total, int t, int nt) { return (int)((long)total * t / nt); }

/* What thread t of nt does in a step: its blocks of every layer, a barrier
 * after each layer (the next one reads every unit), then its rows of the
 * output (in groups of 4, the kernel's tile). */
static void step_part(cl_infer *e, const int *ids, int n, int t, int nt)
{
    float *g = e->g + (size_t)t * e->cfg.columns * 4 * UB;
    for (int l = 0; l < e->L; l++) {
        for (int b = share(e->nb, t, nt); b < share(e->nb, t + 1, nt); b++)
            layer_block(e, l, b, ids, n, g);
#pragma omp barrier
    }
    int groups = (e->V + 3) / 4, a = 4 * share(groups, t, nt), z = 4 * share(groups, t + 1, nt);
    output_rows(e, a, z < e->V ? z : e->V, n);
}

const float *cl_infer_step_n(cl_infer *e, const int *ids, int n)
{
    if (e->cfg.threads == 1) {
        step_part(e, ids, n, 0, 1);
    } else {
#pragma omp parallel num_threads(e->cfg.threads)
        step_part(e, ids, n, omp_get_thread_num(), omp_get_num_threads());
    }
    e->p = 1 - e->p;
    return e->logits;
}

const float *cl_infer_step(cl_infer *e, int id) { return cl_infer_step_n(e, &id, 1); }
