/* cl_rnn: multi-layer, uni- or bidirectional LSTM and GRU stacks.
 *
 * Compiled twice (see cl_real.h): float for work, double for gradient checks.
 *
 * Speed comes from the shape of the work, not from tricks (DESIGN.md, Speed):
 *  - the input projection of all T steps of a layer is one GEMM [T*B, I] x [I, G*H];
 *  - each step adds one recurrent GEMM [B, H] x [H, G*H] and one fused gate kernel;
 *  - in backward the weight gradients of all steps are again one GEMM each,
 *    which is why hidden states are kept as [T+1, B, H] with the initial state
 *    in the extra slot: "the previous state of every step" is then one
 *    contiguous matrix, for either direction.
 * Nothing is allocated after cl_rnn_create. */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cl_error.h"
#include "cl_mm.h"
#include "cl_nn.h"
#include "cl_params.h"
#include "cl_real.h"

/* The gate kernels: in float the variant for this CPU, chosen when the stack
 * is created (cl_kern.h); in the double builds (gradient checks) the one
 * generic body, called directly. */
#if defined(CL_DOUBLE) || defined(CL_WIDE)
#include "cl_gates.h"
#define GATES(r, fn) cl_gates_##fn
#else
#include "cl_kern.h"
#define GATES(r, fn) (r)->kern->fn
#endif

/* ==== configuration (precision independent, compiled once) =============== */
#ifndef CL_DOUBLE

int cl_rnn_gates(cl_cell cell) { return cell == CL_CELL_GRU ? 3 : 4; }

int cl_rnn_dirs(const cl_rnn_config *c) { return c->bidir ? 2 : 1; }

int cl_rnn_out_dim(const cl_rnn_config *c) { return c->hidden * cl_rnn_dirs(c); }

int cl_rnn_validate(const cl_rnn_config *c)
{
    if ((c->cell != CL_CELL_LSTM && c->cell != CL_CELL_GRU) || c->input < 1 || c->hidden < 1 ||
        c->layers < 1 || c->layers > 16 || (c->bidir != 0 && c->bidir != 1) ||
        !(c->dropout >= 0 && c->dropout < 1) || c->input > (1 << 20) || c->hidden > (1 << 16))
        return CL_EINVAL;
    return CL_OK;
}

static int layer_input(const cl_rnn_config *c, int l)
{
    return l == 0 ? c->input : cl_rnn_out_dim(c);
}

/* Parameters of one layer and direction: W_ih, W_hh, b_ih, b_hh. */
static size_t block_size(const cl_rnn_config *c, int l)
{
    size_t gh = (size_t)cl_rnn_gates(c->cell) * c->hidden;
    return gh * ((size_t)layer_input(c, l) + c->hidden + 2);
}

size_t cl_rnn_param_count(const cl_rnn_config *c)
{
    size_t n = 0;
    for (int l = 0; l < c->layers; l++)
        n += block_size(c, l) * cl_rnn_dirs(c);
    return n;
}

size_t cl_rnn_param_offset(const cl_rnn_config *c, int l, int d, int which, int *rows, int *cols)
{
    size_t off = 0, gh = (size_t)cl_rnn_gates(c->cell) * c->hidden;
    for (int k = 0; k < l; k++)
        off += block_size(c, k) * cl_rnn_dirs(c);
    off += block_size(c, l) * d;
    int in = layer_input(c, l), h = c->hidden;
    size_t sizes[4] = {gh * in, gh * h, gh, gh};
    for (int k = 0; k < which; k++)
        off += sizes[k];
    if (rows)
        *rows = (int)gh;
    if (cols)
        *cols = which == CL_RNN_W_IH ? in : which == CL_RNN_W_HH ? h : 1;
    return off;
}

void cl_rnn_param_name(int l, int d, int which, char *buf, size_t size)
{
    static const char *const kinds[4] = {"weight_ih", "weight_hh", "bias_ih", "bias_hh"};
    snprintf(buf, size, "%s_l%d%s", kinds[which], l, d ? "_reverse" : "");
}

int cl_rnn_add_params(const cl_rnn_config *c, cl_params *p, const char *prefix)
{
    int first = -1, err = cl_rnn_validate(c);
    for (int l = 0; l < c->layers && !err; l++)
        for (int d = 0; d < cl_rnn_dirs(c) && !err; d++)
            for (int k = 0; k < 4 && !err; k++) {
                char name[CL_NAME_MAX], local[32];
                int shape[2];
                cl_rnn_param_offset(c, l, d, k, &shape[0], &shape[1]);
                cl_rnn_param_name(l, d, k, local, sizeof local);
                if (snprintf(name, sizeof name, "%s.%s", prefix, local) >= (int)sizeof name)
                    return CL_EINVAL;
                int idx = cl_params_add_packed(p, name, k < 2 ? 2 : 1, shape);
                if (idx < 0)
                    err = idx;
                else if (first < 0)
                    first = idx;
            }
    return err ? err : first;
}

/* LAPACK (shipped inside OpenBLAS): QR factorisation for orthogonal init. */
void sgeqrf_(const int *m, const int *n, float *a, const int *lda, float *tau, float *work,
             const int *lwork, int *info);
void sorgqr_(const int *m, const int *n, const int *k, float *a, const int *lda,
             const float *tau, float *work, const int *lwork, int *info);

/* q [n,n] <- a random orthogonal matrix, uniformly distributed (Haar): the Q of
 * a Gaussian matrix's QR with column signs fixed by diag(R) (Mezzadri 2007). */
static int random_orthogonal(float *q, int n, cl_rng *rng)
{
    int lwork = 64 * n, info = 0;
    float *tau = malloc(sizeof(float) * n), *work = malloc(sizeof(float) * lwork);
    float *sign = malloc(sizeof(float) * n);
    if (!tau || !work || !sign) {
        free(tau), free(work), free(sign);
        return CL_ENOMEM;
    }
    for (long i = 0; i < (long)n * n; i++)
        q[i] = (float)cl_rng_normal(rng);
    sgeqrf_(&n, &n, q, &n, tau, work, &lwork, &info);
    for (int i = 0; i < n && info == 0; i++)
        sign[i] = q[(long)i * n + i] < 0 ? -1.0f : 1.0f;
    if (info == 0)
        sorgqr_(&n, &n, &n, q, &n, tau, work, &lwork, &info);
    for (int j = 0; j < n && info == 0; j++) /* column j (column-major) */
        for (int i = 0; i < n; i++)
            q[(long)j * n + i] *= sign[j];
    free(tau), free(work), free(sign);
    return info == 0 ? CL_OK : CL_EINVAL;
}

static void glorot_uniform(float *w, int rows, int cols, cl_rng *rng)
{
    float a = sqrtf(6.0f / (float)(rows + cols));
    for (long i = 0; i < (long)rows * cols; i++)
        w[i] = a * (2 * cl_rng_float(rng) - 1);
}

static int init_block(const cl_rnn_config *c, float *p, int l, int d, cl_rng *rng)
{
    int rows, in, h = c->hidden, G = cl_rnn_gates(c->cell);
    float *wih = p + cl_rnn_param_offset(c, l, d, CL_RNN_W_IH, &rows, &in);
    float *whh = p + cl_rnn_param_offset(c, l, d, CL_RNN_W_HH, NULL, NULL);
    float *bih = p + cl_rnn_param_offset(c, l, d, CL_RNN_B_IH, NULL, NULL);
    float *bhh = p + cl_rnn_param_offset(c, l, d, CL_RNN_B_HH, NULL, NULL);
    /* Glorot per gate block: each gate is its own [H, in] map. */
    for (int g = 0; g < G; g++)
        glorot_uniform(wih + (size_t)g * h * in, h, in, rng);
    for (int g = 0; g < G; g++) {
        int err = random_orthogonal(whh + (size_t)g * h * h, h, rng);
        if (err)
            return err;
    }
    memset(bih, 0, sizeof(float) * rows);
    memset(bhh, 0, sizeof(float) * rows);
    /* Forget-gate bias 1 (Jozefowicz et al. 2015): remember by default. */
    if (c->cell == CL_CELL_LSTM)
        for (int j = 0; j < h; j++)
            bih[h + j] = 1.0f;
    return CL_OK;
}

int cl_rnn_init(const cl_rnn_config *c, float *params, cl_rng *rng)
{
    int err = cl_rnn_validate(c);
    for (int l = 0; l < c->layers && !err; l++)
        for (int d = 0; d < cl_rnn_dirs(c) && !err; d++)
            err = init_block(c, params, l, d, rng);
    return err;
}

#endif /* !CL_DOUBLE */

/* ==== workspace ============================================================ */

#define RNN CL_R(cl_rnn)

/* Cached activations of one layer and direction, kept from forward to backward. */
typedef struct {
    real *gates; /* [T, B, G*H] activated gates: LSTM i f g o, GRU r z n */
    real *hs;    /* [T+1, B, H]: forward dir h0 at slot 0, reverse at slot T */
    real *cs;    /* [T+1, B, H] LSTM cell states, same slots */
    real *hn;    /* [T, B, H] GRU: W_hn h + b_hn, needed for dr */
} CL_R(rnn_cache);

struct RNN {
    cl_rnn_config c;
    int max_T, max_B, G, D;
    int threads;       /* for the step loops and OpenBLAS; see row_threads() */
    int T, B, trained; /* shape of the last forward; whether it kept caches */
    int infer;         /* created for inference: no backward buffers, no training forward */
    const real *x0;    /* layer-0 input of the last forward (caller keeps it); NULL when
                          the caller wrote layer 0's input projection (cl_rnn_forward_gates) */
    CL_R(rnn_cache) * cache; /* [layers * dirs] */
    real **ys;         /* [layers] layer outputs [T, B, D*H] */
    real **xin;        /* [layers] layer inputs after dropout [T, B, D*H] (l >= 1) */
    real **mask;       /* [layers] dropout masks, 0 or 1/(1-p) (l >= 1) */
    /* Regularisation (cl_rnn_set_regularization), training forwards only. */
    int locked;        /* one dropout mask per stream, shared by every step */
    real wdrop;        /* DropConnect rate of W_hh */
    real *pw;          /* the parameters with W_hh masked, read by the pass */
    real *wmask;       /* [layers*dirs, G*H*H] W_hh masks, 0 or 1/(1-wdrop) */
    real *gwhh;        /* [G*H*H] one block's gradient before its mask */
    int wd_on;         /* the last forward used pw */
    real *dG, *dGh;    /* [T, B, G*H] gate gradients (dGh: GRU recurrent side) */
    real *gh;          /* [B, G*H] GRU recurrent pre-activations of one step */
    real *dh, *dc;     /* [B, H] state gradients carried through time */
    real *dx[2];       /* [T, B, max(I, D*H)] input gradients, ping-pong between layers */
    int err;           /* first failed oneDNN product of the current pass */
#if !defined(CL_DOUBLE) && !defined(CL_WIDE)
    const cl_kern *kern; /* gate kernels of the CPU's variant (GATES) */
#endif
#ifndef CL_DOUBLE
    /* Products through oneDNN (cl_rnn_set_precision); NULL: OpenBLAS.  In bf16
     * the products read these bfloat16 copies, made once per pass: */
    cl_mm *mm;
    cl_mm_packed **pk_f, **pk_b; /* [layers*dirs] W_hh packed for the forward and backward steps */
    uint16_t **w16;    /* [layers*dirs] W_ih [GH, in] then W_hh [GH, H] of the last forward */
    uint16_t **x16;    /* [layers] layer input [T, B, in] */
    uint16_t **hs16;   /* [layers*dirs] hidden states [T+1, B, H], slots as hs */
    uint16_t *dG16, *dGh16; /* [T, B, GH] gate gradients (dGh16: GRU only) */
    const cl_params *report; /* told of each layer's final weight gradients (cl_rnn_report_to) */
#endif
};

static real *ws_alloc(size_t n) { return cl_alloc(n * sizeof(real)); }

#ifndef CL_DOUBLE
static void free_list(uint16_t **v, int n)
{
    for (int i = 0; v && i < n; i++)
        free(v[i]);
    free(v);
}

static void free_packed(RNN *r)
{
    for (int i = 0; i < r->c.layers * r->D; i++) {
        if (r->pk_f)
            cl_mm_packed_free(r->pk_f[i]);
        if (r->pk_b)
            cl_mm_packed_free(r->pk_b[i]);
    }
    free(r->pk_f), free(r->pk_b);
    r->pk_f = r->pk_b = NULL;
}

static void free_bf16(RNN *r)
{
    free_list(r->w16, r->c.layers * r->D), free_list(r->x16, r->c.layers);
    free_list(r->hs16, r->c.layers * r->D);
    free(r->dG16), free(r->dGh16);
    r->w16 = r->x16 = r->hs16 = NULL, r->dG16 = r->dGh16 = NULL;
}
#endif

void CL_R(cl_rnn_free)(RNN *r)
{
    if (!r)
        return;
    int n = r->c.layers * r->D;
    for (int i = 0; r->cache && i < n; i++) {
        free(r->cache[i].gates), free(r->cache[i].hs);
        free(r->cache[i].cs), free(r->cache[i].hn);
    }
    for (int l = 0; l < r->c.layers; l++) {
        if (r->ys)
            free(r->ys[l]);
        if (r->xin)
            free(r->xin[l]);
        if (r->mask)
            free(r->mask[l]);
    }
    free(r->cache), free(r->ys), free(r->xin), free(r->mask);
    free(r->dG), free(r->dGh), free(r->gh), free(r->dh), free(r->dc);
    free(r->dx[0]), free(r->dx[1]);
    free(r->pw), free(r->wmask), free(r->gwhh);
#ifndef CL_DOUBLE
    free_bf16(r);
    free_packed(r);
    cl_mm_free(r->mm);
#endif
    free(r);
}

static int alloc_cache(RNN *r, CL_R(rnn_cache) * k)
{
    size_t TB = (size_t)r->max_T * r->max_B, H = r->c.hidden, B = r->max_B;
    k->gates = ws_alloc(TB * r->G * H);
    k->hs = ws_alloc((TB + B) * H);
    if (r->c.cell == CL_CELL_LSTM)
        k->cs = ws_alloc((TB + B) * H);
    else
        k->hn = ws_alloc(TB * H);
    return k->gates && k->hs && (k->cs || k->hn) ? CL_OK : CL_ENOMEM;
}

static int alloc_layers(RNN *r)
{
    size_t TB = (size_t)r->max_T * r->max_B, DH = (size_t)r->D * r->c.hidden;
    int L = r->c.layers;
    r->cache = calloc((size_t)L * r->D, sizeof *r->cache);
    r->ys = calloc(L, sizeof *r->ys);
    r->xin = calloc(L, sizeof *r->xin);
    r->mask = calloc(L, sizeof *r->mask);
    if (!r->cache || !r->ys || !r->xin || !r->mask)
        return CL_ENOMEM;
    for (int i = 0; i < L * r->D; i++)
        if (alloc_cache(r, &r->cache[i]))
            return CL_ENOMEM;
    for (int l = 0; l < L; l++) {
        r->ys[l] = ws_alloc(TB * DH);
        if (!r->ys[l])
            return CL_ENOMEM;
        if (l > 0 && !(r->xin[l] = ws_alloc(TB * DH)))
            return CL_ENOMEM;
        if (l > 0 && r->c.dropout > 0 && !(r->mask[l] = ws_alloc(TB * DH)))
            return CL_ENOMEM;
    }
    return CL_OK;
}

/* What backward needs besides the forward's caches (not for inference). */
static int alloc_backward(RNN *r)
{
    size_t TB = (size_t)r->max_T * r->max_B, H = r->c.hidden, GH = (size_t)r->G * H;
    size_t wide = (size_t)(r->c.input > r->D * (int)H ? r->c.input : r->D * (int)H);
    r->dG = ws_alloc(TB * GH);
    r->dGh = r->c.cell == CL_CELL_GRU ? ws_alloc(TB * GH) : NULL; /* LSTM reuses dG */
    r->dx[0] = ws_alloc(TB * wide);
    r->dx[1] = ws_alloc(TB * wide);
    return r->dG && r->dx[0] && r->dx[1] && (r->c.cell == CL_CELL_LSTM || r->dGh) ? CL_OK
                                                                                   : CL_ENOMEM;
}

static int alloc_scratch(RNN *r)
{
    size_t H = r->c.hidden, GH = (size_t)r->G * H;
    r->gh = ws_alloc((size_t)r->max_B * GH);
    r->dh = ws_alloc((size_t)r->max_B * H);
    r->dc = ws_alloc((size_t)r->max_B * H);
    if (!r->gh || !r->dh || !r->dc)
        return CL_ENOMEM;
    return r->infer ? CL_OK : alloc_backward(r);
}

static int create(RNN **out, const cl_rnn_config *c, int max_T, int max_B, int infer)
{
    *out = NULL;
    if (cl_rnn_validate(c) || max_T < 1 || max_B < 1)
        return CL_EINVAL;
    RNN *r = calloc(1, sizeof *r);
    if (!r)
        return CL_ENOMEM;
    r->c = *c;
    r->max_T = max_T, r->max_B = max_B;
    r->G = cl_rnn_gates(c->cell), r->D = cl_rnn_dirs(c);
    r->threads = 1, r->infer = infer;
#if !defined(CL_DOUBLE) && !defined(CL_WIDE)
    int err = cl_kern_select(&r->kern);
#else
    int err = CL_OK;
#endif
    err = err ? err : alloc_layers(r);
    if (!err)
        err = alloc_scratch(r);
    if (err) {
        CL_R(cl_rnn_free)(r);
        return err;
    }
    *out = r;
    return CL_OK;
}

int CL_R(cl_rnn_create)(RNN **out, const cl_rnn_config *c, int max_T, int max_B)
{
    return create(out, c, max_T, max_B, 0);
}

int CL_R(cl_rnn_create_inference)(RNN **out, const cl_rnn_config *c, int max_T, int max_B)
{
    return create(out, c, max_T, max_B, 1);
}

void CL_R(cl_rnn_set_threads)(RNN *r, int threads) { r->threads = threads > 0 ? threads : 1; }

int CL_R(cl_rnn_set_regularization)(RNN *r, const cl_rnn_reg *g)
{
    if (!(g->weight_drop >= 0 && g->weight_drop < 1))
        return CL_EINVAL;
    r->locked = g->locked != 0, r->wdrop = (real)g->weight_drop, r->wd_on = 0;
    free(r->pw), free(r->wmask), free(r->gwhh);
    r->pw = r->wmask = r->gwhh = NULL;
    if (r->wdrop <= 0)
        return CL_OK;
    size_t block = (size_t)r->G * r->c.hidden * r->c.hidden;
    r->pw = ws_alloc(cl_rnn_param_count(&r->c));
    r->wmask = ws_alloc((size_t)r->c.layers * r->D * block);
    r->gwhh = ws_alloc(block);
    return r->pw && r->wmask && r->gwhh ? CL_OK : CL_ENOMEM;
}

/* ==== products: OpenBLAS, or oneDNN in fp32 or bf16 ======================= */

#ifndef CL_DOUBLE
static uint16_t *bf16_alloc(size_t n) { return cl_alloc(n * sizeof(uint16_t)); }

static uint16_t **bf16_list(int n, size_t (*size)(const RNN *, int), const RNN *r)
{
    uint16_t **v = calloc((size_t)n, sizeof *v);
    for (int i = 0; v && i < n; i++)
        if (!(v[i] = bf16_alloc(size(r, i)))) {
            free_list(v, i);
            return NULL;
        }
    return v;
}

static size_t w16_size(const RNN *r, int i)
{
    size_t GH = (size_t)r->G * r->c.hidden;
    return GH * ((size_t)layer_input(&r->c, i / r->D) + r->c.hidden);
}
static size_t x16_size(const RNN *r, int l)
{
    return (size_t)r->max_T * r->max_B * layer_input(&r->c, l);
}
static size_t hs16_size(const RNN *r, int unused)
{
    (void)unused;
    return ((size_t)r->max_T + 1) * r->max_B * r->c.hidden;
}

static int alloc_bf16(RNN *r)
{
    int LD = r->c.layers * r->D;
    size_t TBG = (size_t)r->max_T * r->max_B * r->G * r->c.hidden;
    r->w16 = bf16_list(LD, w16_size, r);
    r->x16 = bf16_list(r->c.layers, x16_size, r);
    r->hs16 = bf16_list(LD, hs16_size, r);
    if (!r->w16 || !r->x16 || !r->hs16)
        return CL_ENOMEM;
    if (r->infer)
        return CL_OK;
    r->dG16 = bf16_alloc(TBG);
    r->dGh16 = r->c.cell == CL_CELL_GRU ? bf16_alloc(TBG) : NULL;
    return r->dG16 && (r->c.cell == CL_CELL_LSTM || r->dGh16) ? CL_OK : CL_ENOMEM;
}

/* W_hh of every block in oneDNN's layout, for the step products: [nb, H] x
 * W_hh^T forward, [nb, GH] x W_hh backward. */
static int alloc_packed(RNN *r)
{
    int LD = r->c.layers * r->D, H = r->c.hidden, GH = r->G * H, err = CL_OK;
    r->pk_f = calloc((size_t)LD, sizeof *r->pk_f);
    r->pk_b = calloc((size_t)LD, sizeof *r->pk_b);
    if (!r->pk_f || !r->pk_b)
        return CL_ENOMEM;
    for (int i = 0; i < LD && !err; i++) {
        err = cl_mm_packed_create(r->mm, &r->pk_f[i], 'T', r->max_B, GH, H, H);
        err = err ? err : cl_mm_packed_create(r->mm, &r->pk_b[i], 'N', r->max_B, H, GH, H);
    }
    return err;
}

static void drop_mm(RNN *r)
{
    free_bf16(r);
    free_packed(r);
    cl_mm_free(r->mm);
    r->mm = NULL;
}

int cl_rnn_set_precision(RNN *r, cl_precision p)
{
    cl_mm *mm = NULL;
    int err = cl_mm_create(&mm, p);
    if (err)
        return err;
    drop_mm(r);
    r->mm = mm;
    err = alloc_packed(r);
    if (!err && cl_mm_precision(mm) == CL_PREC_BF16)
        err = alloc_bf16(r);
    if (err)
        drop_mm(r);
    return err;
}

cl_precision cl_rnn_precision(const RNN *r)
{
    return r->mm ? cl_mm_precision(r->mm) : CL_PREC_FP32;
}

static int use_bf16(const RNN *r) { return r->mm && r->w16; }

void cl_rnn_report_to(RNN *r, const cl_params *p) { r->report = p; }

/* Layer l's weight gradients (every direction, one contiguous block) are
 * final: tell whom cl_rnn_report_to named.  Layer 0 of cl_rnn_forward_gates
 * leaves W_ih0 to the caller, who tells about it. */
static void report_layer(const RNN *r, const real *grads, int l)
{
    if (!r->report)
        return;
    size_t begin = cl_rnn_param_offset(&r->c, l, 0, l == 0 && !r->x0 ? CL_RNN_W_HH : CL_RNN_W_IH,
                                       NULL, NULL);
    size_t end = l + 1 < r->c.layers ? cl_rnn_param_offset(&r->c, l + 1, 0, CL_RNN_W_IH, NULL, NULL)
                                     : cl_rnn_param_count(&r->c);
    cl_params_grads_final(r->report, grads + begin, end - begin);
}
#else
static void report_layer(const RNN *r, const real *grads, int l) { (void)r, (void)grads, (void)l; }
#endif

/* C[M,N] = op(A) op(B) + beta C with dense leading dimensions: OpenBLAS
 * (double build, or no precision set), or oneDNN reading A and B, or their
 * bfloat16 copies A16 and B16 in bf16 mode.  `threads` as in cl_gemm_mt;
 * inside the row-split step loops the product runs on the calling thread. */
static void prod(RNN *r, int threads, char ta, char tb, int M, int N, int K, const real *A,
                 const void *A16, const real *B, const void *B16, real beta, real *C)
{
#ifndef CL_DOUBLE
    if (r->mm) {
        int bf = use_bf16(r), lda = ta == 'T' ? M : K, ldb = tb == 'T' ? K : N;
        int err = cl_mm_gemm(r->mm, threads, ta, tb, M, N, K, bf ? A16 : A, lda, bf ? B16 : B,
                             ldb, beta, C, N);
        if (err) {
#pragma omp atomic write
            r->err = err;
        }
        return;
    }
#endif
    (void)r, (void)A16, (void)B16;
    cl_gemm_mt(threads, ta, tb, M, N, K, 1, A, B, beta, C);
}

/* A step's product with W_hh: C[nb, N] = A[nb, K] op(W_hh) + beta C, op 'T'
 * forward (pk_f) and 'N' backward (pk_b); W_hh packed when oneDNN runs it. */
static void step_prod(RNN *r, char tb, int nb, const real *A, const uint16_t *A16,
                      const real *whh, const void *pk, real beta, real *C)
{
    int H = r->c.hidden, GH = r->G * H, N = tb == 'T' ? GH : H, K = tb == 'T' ? H : GH;
#ifndef CL_DOUBLE
    if (r->mm) {
        int err = cl_mm_gemm_packed(r->mm, 1, nb, use_bf16(r) ? (const void *)A16 : A, K, pk,
                                    beta, C, N);
        if (err) {
#pragma omp atomic write
            r->err = err;
        }
        return;
    }
#endif
    (void)pk, (void)A16;
    cl_gemm('N', tb, nb, N, K, 1, A, whh, beta, C);
}

/* ==== one layer, one direction: forward ==================================== */

/* Views of one direction's parameters (or of their gradients). */
typedef struct {
    real *wih, *whh, *bih, *bhh;
    int in;
} CL_R(rnn_block);

static CL_R(rnn_block) block_at(const cl_rnn_config *c, const real *p, int l, int d)
{
    CL_R(rnn_block) b;
    b.wih = (real *)p + cl_rnn_param_offset(c, l, d, CL_RNN_W_IH, NULL, &b.in);
    b.whh = (real *)p + cl_rnn_param_offset(c, l, d, CL_RNN_W_HH, NULL, NULL);
    b.bih = (real *)p + cl_rnn_param_offset(c, l, d, CL_RNN_B_IH, NULL, NULL);
    b.bhh = (real *)p + cl_rnn_param_offset(c, l, d, CL_RNN_B_HH, NULL, NULL);
    return b;
}

/* Slot of step t's output and of its previous state in [T+1, B, H] buffers. */
static int out_slot(int t, int reverse) { return reverse ? t : t + 1; }
static int prev_slot(int t, int reverse) { return reverse ? t + 1 : t; }

static void add_rows(real *m, const real *v, int rows, int cols)
{
    for (int i = 0; i < rows; i++)
        for (int j = 0; j < cols; j++)
            m[(size_t)i * cols + j] += v[j];
}

static void set_state(real *dst, const real *src, size_t n)
{
    if (src)
        memcpy(dst, src, n * sizeof(real));
    else
        memset(dst, 0, n * sizeof(real));
}

/* What the step loops of one direction need. */
typedef struct {
    RNN *r;
    CL_R(rnn_cache) * k;
    CL_R(rnn_block) w;
    const real *dY; /* backward only */
    int reverse;
    /* bfloat16 copies the products read in bf16 mode, else NULL */
    const uint16_t *wih16, *x16;
    uint16_t *hs16, *dG16, *dGh16;
    const void *pk_f, *pk_b; /* W_hh packed (cl_mm_packed), or NULL */
} CL_R(rnn_job);

/* dst (a bf16 copy, or NULL when the products read fp32) <- src, with the
 * stack's kernel variant (the wide test build never gets here). */
static void copy16(const RNN *r, uint16_t *dst, const real *src, size_t n)
{
#if !defined(CL_DOUBLE) && !defined(CL_WIDE)
    if (dst)
        r->kern->bf16_from_f32(dst, src, n);
#elif !defined(CL_DOUBLE)
    if (dst)
        cl_bf16_from_f32(dst, src, n);
    (void)r;
#else
    (void)r, (void)dst, (void)src, (void)n;
#endif
}

/* The job of layer l, direction d, with its bf16 views in bf16 mode. */
static CL_R(rnn_job) job_at(RNN *r, const real *params, int l, int d, const real *dY)
{
    CL_R(rnn_job) j = {r, &r->cache[l * r->D + d], block_at(&r->c, params, l, d), dY, d,
                       NULL, NULL, NULL, NULL, NULL, NULL, NULL};
#ifndef CL_DOUBLE
    int idx = l * r->D + d;
    if (r->mm)
        j.pk_f = r->pk_f[idx], j.pk_b = r->pk_b[idx];
    if (use_bf16(r)) {
        j.wih16 = r->w16[idx];
        j.x16 = l > 0 || r->x0 ? r->x16[l] : NULL;
        j.hs16 = r->hs16[idx];
        j.dG16 = r->dG16;
        j.dGh16 = r->c.cell == CL_CELL_GRU ? r->dGh16 : r->dG16;
    }
#endif
    return j;
}

/* Forward through time for batch rows [b0, b0 + nb). */
static void steps_forward(const CL_R(rnn_job) * j, int b0, int nb)
{
    RNN *r = j->r;
    CL_R(rnn_cache) *k = j->k;
    int T = r->T, B = r->B, H = r->c.hidden, GH = r->G * H, rev = j->reverse;
    size_t BH = (size_t)B * H, h0 = (size_t)b0 * H, g0 = (size_t)b0 * GH;
    for (int s = 0; s < T; s++) {
        int t = rev ? T - 1 - s : s;
        real *g = k->gates + (size_t)t * B * GH + g0;
        size_t prev = prev_slot(t, rev) * BH + h0, out = out_slot(t, rev) * BH + h0;
        const real *hp = k->hs + prev;
        const uint16_t *hp16 = j->hs16 ? j->hs16 + prev : NULL;
        real *h = k->hs + out;
        if (r->c.cell == CL_CELL_LSTM) {
            step_prod(r, 'T', nb, hp, hp16, j->w.whh, j->pk_f, 1, g);
            GATES(r, lstm_fwd)(g, j->w.bih, j->w.bhh, k->cs + prev, k->cs + out, h, nb, H);
        } else {
            real *gh = r->gh + g0;
            for (int b = 0; b < nb; b++)
                memcpy(gh + (size_t)b * GH, j->w.bhh, GH * sizeof(real));
            step_prod(r, 'T', nb, hp, hp16, j->w.whh, j->pk_f, 1, gh);
            GATES(r, gru_fwd)(g, gh, hp, k->hn + (size_t)t * BH + h0, h, nb, H);
        }
        copy16(r, j->hs16 ? j->hs16 + out : NULL, h, (size_t)nb * H);
    }
}

/* Threads for the step loops: rows of the batch are independent through
 * time, so each thread takes a block of rows for all T steps and runs its
 * small GEMMs single-threaded, with no synchronisation per step.  (OpenBLAS
 * threading a [32 x H] product costs more than it gains: 1x256 training ran
 * slower with two OpenBLAS threads than with one.)  The large products are
 * split by rows the same way (cl_gemm_mt). */
static int row_threads(const RNN *r)
{
    int n = r->threads < r->B / 4 ? r->threads : r->B / 4;
    return n > 1 ? n : 1;
}

static void run_rows(const CL_R(rnn_job) * j, void (*fn)(const CL_R(rnn_job) *, int, int))
{
    int n = row_threads(j->r), B = j->r->B;
    if (n == 1) {
        fn(j, 0, B);
        return;
    }
    int blas = openblas_get_num_threads(); /* one pool at a time, see cl_gemm_mt */
    openblas_set_num_threads(1);
#pragma omp parallel for num_threads(n) schedule(static, 1)
    for (int p = 0; p < n; p++)
        fn(j, B * p / n, B * (p + 1) / n - B * p / n);
    openblas_set_num_threads(blas);
}

static void dir_forward(const CL_R(rnn_job) * j, const real *x)
{
    RNN *r = j->r;
    int T = r->T, B = r->B, GH = r->G * r->c.hidden, in = j->w.in;
    /* Input projection of every step at once, with all threads (x == NULL:
     * the caller already wrote it into the gates). */
    if (x)
        prod(r, r->threads, 'N', 'T', T * B, GH, in, x, j->x16, j->w.wih, j->wih16, 0, j->k->gates);
    if (r->c.cell == CL_CELL_GRU)
        add_rows(j->k->gates, j->w.bih, T * B, GH);
    run_rows(j, steps_forward);
}

/* W_hh of a block into the layout of the step products (`pk`: cl_mm_packed),
 * from its bf16 copy in bf16 mode (oneDNN's own fp32 -> bf16 reorder of a
 * transposed matrix took 15 ms for 2048 x 512 here). */
static void pack_whh(RNN *r, const CL_R(rnn_job) * j, const void *pk)
{
#ifndef CL_DOUBLE
    const void *src = j->wih16 ? (const void *)(j->wih16 + (size_t)r->G * r->c.hidden * j->w.in)
                               : (const void *)j->w.whh;
    int err = pk ? cl_mm_pack((cl_mm_packed *)pk, src) : 0;
    r->err = r->err ? r->err : err;
#else
    (void)r, (void)j, (void)pk;
#endif
}

/* Layer l's weights and input as the products will read them: W_hh packed
 * (oneDNN), bf16 copies of W_ih and the input (bf16). */
static void layer_to_bf16(RNN *r, const real *params, int l, const real *x)
{
    for (int d = 0; d < r->D; d++) {
        CL_R(rnn_job) j = job_at(r, params, l, d, NULL);
        size_t GH = (size_t)r->G * r->c.hidden, skip = x ? 0 : GH * (size_t)j.w.in;
        /* W_ih and W_hh are adjacent in the parameters, as in the copy; layer 0
         * of cl_rnn_forward_gates (x NULL) reads no W_ih, forward or backward */
        copy16(r, j.wih16 ? (uint16_t *)j.wih16 + skip : NULL, j.w.wih + skip,
               GH * ((size_t)j.w.in + r->c.hidden) - skip);
        pack_whh(r, &j, j.pk_f);
        if (x && d == 0)
            copy16(r, (uint16_t *)j.x16, x, (size_t)r->T * r->B * j.w.in);
    }
}

/* ==== stack: forward ======================================================= */

/* Layer l >= 1 reads the previous layer's output, with inverted dropout. */
static const real *layer_input_fwd(RNN *r, int l, const real *X, int train, cl_rng *rng)
{
    if (l == 0)
        return X;
    size_t n = (size_t)r->T * r->B * r->D * r->c.hidden;
    const real *y = r->ys[l - 1];
    if (!train || r->c.dropout <= 0)
        return y;
    real keep = (real)1 / (1 - (real)r->c.dropout), *m = r->mask[l], *xi = r->xin[l];
    /* Locked (variational) dropout draws the first step's mask and repeats
     * it, so a unit dropped for a stream stays dropped over the sequence. */
    size_t drawn = r->locked ? (size_t)r->B * r->D * r->c.hidden : n;
    for (size_t i = 0; i < drawn; i++)
        m[i] = cl_rng_float(rng) < r->c.dropout ? 0 : keep;
    for (size_t i = drawn; i < n; i++)
        m[i] = m[i - drawn];
    for (size_t i = 0; i < n; i++)
        xi[i] = y[i] * m[i];
    return xi;
}

/* Interleave one direction's outputs [T,B,H] into the layer output [T,B,D*H]. */
static void scatter_dir(real *y, const real *hs, int T, int B, int H, int D, int d)
{
    for (size_t tb = 0; tb < (size_t)T * B; tb++)
        memcpy(y + tb * D * H + (size_t)d * H, hs + tb * H, H * sizeof(real));
}

static void save_final_states(RNN *r, int l, int d, real *hT, real *cT)
{
    CL_R(rnn_cache) *k = &r->cache[l * r->D + d];
    size_t BH = (size_t)r->B * r->c.hidden, idx = (size_t)(l * r->D + d);
    int last = d ? 0 : r->T; /* the reverse direction ends at t = 0 */
    if (hT)
        memcpy(hT + idx * BH, k->hs + last * BH, BH * sizeof(real));
    if (cT && r->c.cell == CL_CELL_LSTM)
        memcpy(cT + idx * BH, k->cs + last * BH, BH * sizeof(real));
}

/* DropConnect (weight-dropped LSTM, Merity et al. 2017): a copy of the
 * parameters whose W_hh elements are dropped with one mask per pass, shared
 * by every step and stream; backward masks W_hh's gradient the same way. */
static const real *drop_weights(RNN *r, const real *params, cl_rng *rng)
{
    size_t block = (size_t)r->G * r->c.hidden * r->c.hidden;
    real keep = (real)1 / (1 - r->wdrop);
    memcpy(r->pw, params, cl_rnn_param_count(&r->c) * sizeof(real));
    for (int l = 0; l < r->c.layers; l++)
        for (int d = 0; d < r->D; d++) {
            real *w = block_at(&r->c, r->pw, l, d).whh, *m = r->wmask + (l * r->D + d) * block;
            for (size_t i = 0; i < block; i++) {
                m[i] = cl_rng_float(rng) < r->wdrop ? 0 : keep;
                w[i] *= m[i];
            }
        }
    return r->pw;
}

/* Forward with layer 0's input projection given (X == NULL) or computed. */
static int forward(RNN *r, const real *params, int T, int B, const real *X, const real *h0,
                   const real *c0, real *Y, real *hT, real *cT, int train, cl_rng *rng)
{
    r->wd_on = train && r->wdrop > 0;
    if (train && r->infer)
        return CL_EINVAL;
    if (T < 1 || B < 1 || (size_t)T * B > (size_t)r->max_T * r->max_B || B > r->max_B ||
        (((train && r->c.dropout > 0 && r->c.layers > 1) || r->wd_on) && !rng))
        return CL_EINVAL;
    int H = r->c.hidden, D = r->D;
    size_t BH = (size_t)B * H;
    r->T = T, r->B = B, r->x0 = X, r->trained = train, r->err = 0;
    if (r->wd_on)
        params = drop_weights(r, params, rng);
    for (int l = 0; l < r->c.layers; l++) {
        const real *x = layer_input_fwd(r, l, X, train, rng);
        layer_to_bf16(r, params, l, x);
        for (int d = 0; d < D; d++) {
            CL_R(rnn_job) j = job_at(r, params, l, d, NULL);
            CL_R(rnn_cache) *k = j.k;
            size_t idx = (size_t)(l * D + d);
            int first = d ? T : 0;
            set_state(k->hs + first * BH, h0 ? h0 + idx * BH : NULL, BH);
            copy16(r, j.hs16 ? j.hs16 + first * BH : NULL, k->hs + first * BH, BH);
            if (r->c.cell == CL_CELL_LSTM)
                set_state(k->cs + first * BH, c0 ? c0 + idx * BH : NULL, BH);
            dir_forward(&j, x);
            scatter_dir(r->ys[l], k->hs + (d ? 0 : BH), T, B, H, D, d);
            save_final_states(r, l, d, hT, cT);
        }
    }
    memcpy(Y, r->ys[r->c.layers - 1], (size_t)T * B * D * H * sizeof(real));
    return r->err;
}

int CL_R(cl_rnn_forward)(RNN *r, const real *params, int T, int B, const real *X, const real *h0,
                         const real *c0, real *Y, real *hT, real *cT, int train, cl_rng *rng)
{
    return X ? forward(r, params, T, B, X, h0, c0, Y, hT, cT, train, rng) : CL_EINVAL;
}

real *CL_R(cl_rnn_gates0)(RNN *r) { return r->D == 1 ? r->cache[0].gates : NULL; }

int CL_R(cl_rnn_forward_gates)(RNN *r, const real *params, int T, int B, const real *h0,
                               const real *c0, real *Y, real *hT, real *cT, int train,
                               cl_rng *rng)
{
    return r->D == 1 ? forward(r, params, T, B, NULL, h0, c0, Y, hT, cT, train, rng) : CL_EINVAL;
}

const real *CL_R(cl_rnn_gates0_grad)(const RNN *r) { return r->x0 ? NULL : r->dG; }

int CL_R(cl_rnn_project0)(RNN *r, const real *params, int n, const real *X, real *P,
                         int convert)
{
    if (n < 1 || (size_t)n > (size_t)r->max_T * r->max_B)
        return CL_EINVAL;
    CL_R(rnn_block) w = block_at(&r->c, params, 0, 0);
    int GH = r->G * r->c.hidden;
    uint16_t *w16 = NULL, *x16 = NULL;
#ifndef CL_DOUBLE
    if (use_bf16(r))
        w16 = r->w16[0], x16 = r->x16[0];
#endif
    if (convert)
        copy16(r, w16, w.wih, (size_t)GH * w.in);
    copy16(r, x16, X, (size_t)n * w.in);
    r->err = 0;
    prod(r, r->threads, 'N', 'T', n, GH, w.in, X, x16, w.wih, w16, 0, P);
    return r->err;
}

/* ==== one layer, one direction: backward =================================== */

/* dh[rows b0..b0+nb) += dY[t] for one direction: dY rows are [D*H] wide,
 * this direction's columns start at d*H; dh points at row b0. */
static void add_output_grad(real *dh, const real *dY, int t, int b0, int nb, int B, int H, int D,
                            int d)
{
    for (int b = 0; b < nb; b++) {
        const real *src = dY + ((size_t)t * B + b0 + b) * D * H + (size_t)d * H;
        real *dst = dh + (size_t)b * H;
#pragma omp simd
        for (int j = 0; j < H; j++)
            dst[j] += src[j];
    }
}

/* acc (a bias gradient) never overlaps m (the gate gradients): the simd
 * pragma says so, which the compiler cannot prove; each column still sums
 * its rows in order, so the result is the same bit for bit. */
static void col_sums(real *acc, const real *m, int rows, int cols)
{
    for (int i = 0; i < rows; i++) {
        const real *row = m + (size_t)i * cols;
#pragma omp simd
        for (int j = 0; j < cols; j++)
            acc[j] += row[j];
    }
}

/* Backward through time for one direction; leaves dL/d(pre-activations) in
 * r->dG (and r->dGh for GRU), dL/dh0 in r->dh and dL/dc0 in r->dc. */
/* Backward through time for batch rows [b0, b0 + nb). */
static void steps_backward(const CL_R(rnn_job) * j, int b0, int nb)
{
    RNN *r = j->r;
    CL_R(rnn_cache) *k = j->k;
    int T = r->T, B = r->B, H = r->c.hidden, GH = r->G * H, d = j->reverse;
    size_t BH = (size_t)B * H, h0 = (size_t)b0 * H, g0 = (size_t)b0 * GH;
    real *dG = r->dG, *dGh = r->c.cell == CL_CELL_GRU ? r->dGh : r->dG;
    real *dh = r->dh + h0, *dc = r->dc + h0;
    for (int s = 0; s < T; s++) {
        int t = d ? s : T - 1 - s;
        size_t off = (size_t)t * B * GH + g0, n = (size_t)nb * GH;
        add_output_grad(dh, j->dY, t, b0, nb, B, H, r->D, d);
        if (r->c.cell == CL_CELL_LSTM) {
            GATES(r, lstm_bwd)(dG + off, k->gates + off, k->cs + out_slot(t, d) * BH + h0,
                               k->cs + prev_slot(t, d) * BH + h0, dh, dc, nb, H);
            copy16(r, j->dG16 ? j->dG16 + off : NULL, dG + off, n);
            step_prod(r, 'N', nb, dG + off, j->dG16 ? j->dG16 + off : NULL, j->w.whh, j->pk_b, 0,
                      dh);
        } else {
            GATES(r, gru_bwd)(dG + off, dGh + off, k->gates + off, k->hn + (size_t)t * BH + h0,
                              k->hs + prev_slot(t, d) * BH + h0, dh, nb, H);
            copy16(r, j->dG16 ? j->dG16 + off : NULL, dG + off, n);
            copy16(r, j->dGh16 ? j->dGh16 + off : NULL, dGh + off, n);
            step_prod(r, 'N', nb, dGh + off, j->dGh16 ? j->dGh16 + off : NULL, j->w.whh,
                      j->pk_b, 1, dh);
        }
    }
}

/* Leaves dL/d(pre-activations) in r->dG (and r->dGh for GRU), dL/dh0 in r->dh
 * and dL/dc0 in r->dc. */
static void dir_backward_time(const CL_R(rnn_job) * j) { run_rows(j, steps_backward); }

/* Weight, bias and input gradients of all steps at once. dx gets the input
 * gradient (accumulated when `accumulate`, e.g. the second direction). */
static void dir_backward_weights(const CL_R(rnn_job) * j, CL_R(rnn_block) gw, const real *x,
                                 real *dx, int accumulate)
{
    RNN *r = j->r;
    int TB = r->T * r->B, H = r->c.hidden, GH = r->G * H, in = j->w.in, n = r->threads;
    const real *dGh = r->c.cell == CL_CELL_GRU ? r->dGh : r->dG;
    size_t first = j->reverse ? (size_t)r->B * H : 0; /* the previous state of step 0 */
    const real *hprev = j->k->hs + first;
    if (x) /* else layer 0 of cl_rnn_forward_gates: the caller owns W_ih's gradient */
        prod(r, n, 'T', 'N', GH, in, TB, r->dG, j->dG16, x, j->x16, 1, gw.wih);
    prod(r, n, 'T', 'N', GH, H, TB, dGh, j->dGh16, hprev, j->hs16 ? j->hs16 + first : NULL, 1,
         gw.whh);
    col_sums(gw.bih, r->dG, TB, GH);
    col_sums(gw.bhh, dGh, TB, GH);
    if (dx && x)
        prod(r, n, 'N', 'N', TB, in, GH, r->dG, j->dG16, j->w.wih, j->wih16, accumulate, dx);
}

/* ==== stack: backward ====================================================== */

/* The input layer l saw in the last forward. */
static const real *layer_x(const RNN *r, int l)
{
    if (l == 0)
        return r->x0;
    return r->trained && r->c.dropout > 0 ? r->xin[l] : r->ys[l - 1];
}

static void load_state_grad(RNN *r, real *dst, const real *src, size_t idx)
{
    size_t BH = (size_t)r->B * r->c.hidden;
    set_state(dst, src ? src + idx * BH : NULL, BH);
}

static void store_state_grad(const RNN *r, real *dst, const real *src, size_t idx)
{
    size_t BH = (size_t)r->B * r->c.hidden;
    if (dst)
        memcpy(dst + idx * BH, src, BH * sizeof(real));
}

const real *CL_R(cl_rnn_dropout_mask)(const RNN *r, int l)
{
    int used = l > 0 && l < r->c.layers && r->trained && r->c.dropout > 0;
    return used ? r->mask[l] : NULL;
}

/* Undo layer l's input dropout on its input gradient, in place. */
static void dropout_backward(const RNN *r, int l, real *dx)
{
    if (l == 0 || !r->trained || r->c.dropout <= 0)
        return;
    size_t n = (size_t)r->T * r->B * r->D * r->c.hidden;
    for (size_t i = 0; i < n; i++)
        dx[i] *= r->mask[l][i];
}

/* Weight gradients of layer l, direction d; under DropConnect W_hh's goes
 * through its mask (d(W * m)/dW = m). */
static void backward_weights(RNN *r, const CL_R(rnn_job) * j, real *grads, int l, int d, real *dx)
{
    CL_R(rnn_block) gw = block_at(&r->c, grads, l, d);
    real *whh = gw.whh;
    size_t block = (size_t)r->G * r->c.hidden * r->c.hidden;
    if (r->wd_on) {
        memset(r->gwhh, 0, block * sizeof(real));
        gw.whh = r->gwhh;
    }
    dir_backward_weights(j, gw, layer_x(r, l), dx, d > 0);
    if (!r->wd_on)
        return;
    const real *m = r->wmask + (l * r->D + d) * block;
    for (size_t i = 0; i < block; i++)
        whh[i] += r->gwhh[i] * m[i];
}

int CL_R(cl_rnn_backward)(RNN *r, const real *params, real *grads, const real *dY,
                          const real *dhT, const real *dcT, real *dX, real *dh0, real *dc0)
{
    if (!r->trained)
        return CL_EINVAL;
    r->err = 0;
    if (r->wd_on)
        params = r->pw; /* the weights the forward used */
    const real *dy = dY;
    for (int l = r->c.layers - 1; l >= 0; l--) {
        /* The last layer's input gradient goes straight to the caller's dX. */
        real *dx = l > 0 ? r->dx[l & 1] : dX;
        for (int d = 0; d < r->D; d++) {
            size_t idx = (size_t)(l * r->D + d);
            CL_R(rnn_job) j = job_at(r, params, l, d, dy);
            pack_whh(r, &j, j.pk_b);
            load_state_grad(r, r->dh, dhT, idx);
            if (r->c.cell == CL_CELL_LSTM)
                load_state_grad(r, r->dc, dcT, idx);
            dir_backward_time(&j);
            store_state_grad(r, dh0, r->dh, idx);
            if (r->c.cell == CL_CELL_LSTM)
                store_state_grad(r, dc0, r->dc, idx);
            backward_weights(r, &j, grads, l, d, dx);
        }
        report_layer(r, grads, l);
        if (l > 0)
            dropout_backward(r, l, dx);
        dy = dx;
    }
    return r->err;
}
