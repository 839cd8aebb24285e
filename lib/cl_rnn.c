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
#include "cl_nn.h"
#include "cl_params.h"
#include "cl_real.h"

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
    const real *x0;    /* layer-0 input of the last forward (caller keeps it); NULL when
                          the caller wrote layer 0's input projection (cl_rnn_forward_gates) */
    CL_R(rnn_cache) * cache; /* [layers * dirs] */
    real **ys;         /* [layers] layer outputs [T, B, D*H] */
    real **xin;        /* [layers] layer inputs after dropout [T, B, D*H] (l >= 1) */
    real **mask;       /* [layers] dropout masks, 0 or 1/(1-p) (l >= 1) */
    real *dG, *dGh;    /* [T, B, G*H] gate gradients (dGh: GRU recurrent side) */
    real *gh;          /* [B, G*H] GRU recurrent pre-activations of one step */
    real *dh, *dc;     /* [B, H] state gradients carried through time */
    real *dx[2];       /* [T, B, max(I, D*H)] input gradients, ping-pong between layers */
};

static real *ws_alloc(size_t n) { return cl_alloc(n * sizeof(real)); }

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

static int alloc_scratch(RNN *r)
{
    size_t TB = (size_t)r->max_T * r->max_B, H = r->c.hidden, GH = (size_t)r->G * H;
    size_t wide = (size_t)(r->c.input > r->D * (int)H ? r->c.input : r->D * (int)H);
    r->dG = ws_alloc(TB * GH);
    r->dGh = r->c.cell == CL_CELL_GRU ? ws_alloc(TB * GH) : NULL; /* LSTM reuses dG */
    r->gh = ws_alloc((size_t)r->max_B * GH);
    r->dh = ws_alloc((size_t)r->max_B * H);
    r->dc = ws_alloc((size_t)r->max_B * H);
    r->dx[0] = ws_alloc(TB * wide);
    r->dx[1] = ws_alloc(TB * wide);
    return r->dG && r->gh && r->dh && r->dc && r->dx[0] && r->dx[1] &&
                   (r->c.cell == CL_CELL_LSTM || r->dGh)
               ? CL_OK
               : CL_ENOMEM;
}

int CL_R(cl_rnn_create)(RNN **out, const cl_rnn_config *c, int max_T, int max_B)
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
    r->threads = 1;
    int err = alloc_layers(r);
    if (!err)
        err = alloc_scratch(r);
    if (err) {
        CL_R(cl_rnn_free)(r);
        return err;
    }
    *out = r;
    return CL_OK;
}

void CL_R(cl_rnn_set_threads)(RNN *r, int threads) { r->threads = threads > 0 ? threads : 1; }

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

/* LSTM gates of one step: g [B,4H] holds x W_ih^T + h W_hh^T on entry and the
 * activated gates on exit; writes c and h.  Each loop runs over contiguous
 * rows so that it vectorises (tanh from libmvec, see cl_real.h). */
static void lstm_cell_fwd(real *g, const real *bih, const real *bhh, const real *cp, real *c,
                          real *h, int B, int H)
{
    for (int b = 0; b < B; b++) {
        real *restrict gi = g + (size_t)b * 4 * H, *restrict gf = gi + H, *restrict gg = gf + H,
                       *restrict go = gg + H;
        const real *restrict cprev = cp + (size_t)b * H;
        real *restrict cb = c + (size_t)b * H, *restrict hb = h + (size_t)b * H;
#pragma omp simd
        for (int k = 0; k < 4 * H; k++)
            gi[k] += bih[k] + bhh[k];
        cl_vsigmoid(gi, 2 * (size_t)H); /* i and f are adjacent */
        cl_vtanh(gg, (size_t)H);
        cl_vsigmoid(go, (size_t)H);
#pragma omp simd
        for (int j = 0; j < H; j++) {
            cb[j] = gf[j] * cprev[j] + gi[j] * gg[j];
            hb[j] = go[j] * R_TANH(cb[j]);
        }
    }
}

/* GRU step (PyTorch's equations): gi [B,3H] holds x W_ih^T + b_ih on entry and
 * r z n on exit; gh [B,3H] holds h W_hh^T + b_hh. */
static void gru_cell_fwd(real *gi, const real *gh, const real *hp, real *hn, real *h, int B,
                         int H)
{
    for (int b = 0; b < B; b++) {
        real *restrict xr = gi + (size_t)b * 3 * H, *restrict xn = xr + 2 * H;
        const real *restrict hr = gh + (size_t)b * 3 * H, *restrict hnn = hr + 2 * H;
        const real *restrict hpb = hp + (size_t)b * H;
        real *restrict hnb = hn + (size_t)b * H, *restrict hb = h + (size_t)b * H;
#pragma omp simd
        for (int k = 0; k < 2 * H; k++)
            xr[k] += hr[k];
        cl_vsigmoid(xr, 2 * (size_t)H); /* r and z are adjacent */
        const real *restrict z = xr + H;
#pragma omp simd
        for (int j = 0; j < H; j++) {
            hnb[j] = hnn[j];
            xn[j] = R_TANH(xn[j] + xr[j] * hnn[j]);
            hb[j] = (1 - z[j]) * xn[j] + z[j] * hpb[j];
        }
    }
}

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
} CL_R(rnn_job);

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
        const real *hp = k->hs + prev_slot(t, rev) * BH + h0;
        real *h = k->hs + out_slot(t, rev) * BH + h0;
        if (r->c.cell == CL_CELL_LSTM) {
            cl_gemm('N', 'T', nb, GH, H, 1, hp, j->w.whh, 1, g);
            lstm_cell_fwd(g, j->w.bih, j->w.bhh, k->cs + prev_slot(t, rev) * BH + h0,
                          k->cs + out_slot(t, rev) * BH + h0, h, nb, H);
        } else {
            real *gh = r->gh + g0;
            for (int b = 0; b < nb; b++)
                memcpy(gh + (size_t)b * GH, j->w.bhh, GH * sizeof(real));
            cl_gemm('N', 'T', nb, GH, H, 1, hp, j->w.whh, 1, gh);
            gru_cell_fwd(g, gh, hp, k->hn + (size_t)t * BH + h0, h, nb, H);
        }
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

static void dir_forward(RNN *r, CL_R(rnn_cache) * k, CL_R(rnn_block) w, const real *x,
                        int reverse)
{
    int T = r->T, B = r->B, GH = r->G * r->c.hidden;
    /* Input projection of every step at once, with all of OpenBLAS's threads
     * (x == NULL: the caller already wrote it into the gates). */
    if (x)
        cl_gemm_mt(r->threads, 'N', 'T', T * B, GH, w.in, 1, x, w.wih, 0, k->gates);
    if (r->c.cell == CL_CELL_GRU)
        add_rows(k->gates, w.bih, T * B, GH);
    CL_R(rnn_job) j = {r, k, w, NULL, reverse};
    run_rows(&j, steps_forward);
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
    for (size_t i = 0; i < n; i++) {
        m[i] = cl_rng_float(rng) < r->c.dropout ? 0 : keep;
        xi[i] = y[i] * m[i];
    }
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

/* Forward with layer 0's input projection given (X == NULL) or computed. */
static int forward(RNN *r, const real *params, int T, int B, const real *X, const real *h0,
                   const real *c0, real *Y, real *hT, real *cT, int train, cl_rng *rng)
{
    if (T < 1 || B < 1 || T > r->max_T || B > r->max_B ||
        (train && r->c.dropout > 0 && r->c.layers > 1 && !rng))
        return CL_EINVAL;
    int H = r->c.hidden, D = r->D;
    size_t BH = (size_t)B * H;
    r->T = T, r->B = B, r->x0 = X, r->trained = train;
    for (int l = 0; l < r->c.layers; l++) {
        const real *x = layer_input_fwd(r, l, X, train, rng);
        for (int d = 0; d < D; d++) {
            CL_R(rnn_cache) *k = &r->cache[l * D + d];
            size_t idx = (size_t)(l * D + d);
            int first = d ? T : 0;
            set_state(k->hs + first * BH, h0 ? h0 + idx * BH : NULL, BH);
            if (r->c.cell == CL_CELL_LSTM)
                set_state(k->cs + first * BH, c0 ? c0 + idx * BH : NULL, BH);
            dir_forward(r, k, block_at(&r->c, params, l, d), x, d);
            scatter_dir(r->ys[l], k->hs + (d ? 0 : BH), T, B, H, D, d);
            save_final_states(r, l, d, hT, cT);
        }
    }
    memcpy(Y, r->ys[r->c.layers - 1], (size_t)T * B * D * H * sizeof(real));
    return CL_OK;
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

/* ==== one layer, one direction: backward =================================== */

/* LSTM step backward: from dh (dL/dh_t, all paths) and dc (dL/dc_t from step
 * t+1) to the pre-activation gate gradients dg; dc becomes dL/dc_{t-1}. */
static void lstm_cell_bwd(real *dg, const real *g, const real *c, const real *cp, const real *dh,
                          real *dc, int B, int H)
{
    for (int b = 0; b < B; b++) {
        const real *restrict gi = g + (size_t)b * 4 * H, *restrict gf = gi + H,
                             *restrict gg = gf + H, *restrict go = gg + H;
        real *restrict di = dg + (size_t)b * 4 * H, *restrict df = di + H, *restrict dz = df + H,
                       *restrict dout = dz + H;
        const real *restrict cb = c + (size_t)b * H, *restrict cpb = cp + (size_t)b * H,
                             *restrict dhb = dh + (size_t)b * H;
        real *restrict dcb = dc + (size_t)b * H;
#pragma omp simd
        for (int j = 0; j < H; j++) {
            real tc = R_TANH(cb[j]), i = gi[j], f = gf[j], z = gg[j], o = go[j];
            real dct = dcb[j] + dhb[j] * o * (1 - tc * tc);
            dout[j] = dhb[j] * tc * o * (1 - o);
            di[j] = dct * z * i * (1 - i);
            df[j] = dct * cpb[j] * f * (1 - f);
            dz[j] = dct * i * (1 - z * z);
            dcb[j] = dct * f;
        }
    }
}

/* GRU step backward: dgi feeds W_ih, b_ih and the input; dgh feeds W_hh, b_hh
 * and h_{t-1}.  dh becomes the direct part of dL/dh_{t-1} (z * dh). */
static void gru_cell_bwd(real *dgi, real *dgh, const real *g, const real *hn, const real *hp,
                         real *dh, int B, int H)
{
    for (int b = 0; b < B; b++) {
        const real *gr = g + (size_t)b * 3 * H, *gz = gr + H, *gn = gz + H;
        real *ir = dgi + (size_t)b * 3 * H, *iz = ir + H, *in = iz + H;
        real *hr = dgh + (size_t)b * 3 * H, *hz = hr + H, *hnn = hz + H;
        for (int j = 0; j < H; j++) {
            size_t k = (size_t)b * H + j;
            real r = gr[j], z = gz[j], n = gn[j], d = dh[k];
            real dn = d * (1 - z) * (1 - n * n);
            real dz = d * (hp[k] - n) * z * (1 - z);
            real dr = dn * hn[k] * r * (1 - r);
            ir[j] = hr[j] = dr;
            iz[j] = hz[j] = dz;
            in[j] = dn;
            hnn[j] = dn * r;
            dh[k] = d * z;
        }
    }
}

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

static void col_sums(real *acc, const real *m, int rows, int cols)
{
    for (int i = 0; i < rows; i++)
        for (int j = 0; j < cols; j++)
            acc[j] += m[(size_t)i * cols + j];
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
        size_t off = (size_t)t * B * GH + g0;
        add_output_grad(dh, j->dY, t, b0, nb, B, H, r->D, d);
        if (r->c.cell == CL_CELL_LSTM) {
            lstm_cell_bwd(dG + off, k->gates + off, k->cs + out_slot(t, d) * BH + h0,
                          k->cs + prev_slot(t, d) * BH + h0, dh, dc, nb, H);
            cl_gemm('N', 'N', nb, H, GH, 1, dG + off, j->w.whh, 0, dh);
        } else {
            gru_cell_bwd(dG + off, dGh + off, k->gates + off, k->hn + (size_t)t * BH + h0,
                         k->hs + prev_slot(t, d) * BH + h0, dh, nb, H);
            cl_gemm('N', 'N', nb, H, GH, 1, dGh + off, j->w.whh, 1, dh);
        }
    }
}

/* Leaves dL/d(pre-activations) in r->dG (and r->dGh for GRU), dL/dh0 in r->dh
 * and dL/dc0 in r->dc. */
static void dir_backward_time(RNN *r, CL_R(rnn_cache) * k, CL_R(rnn_block) w, const real *dY,
                              int d)
{
    CL_R(rnn_job) j = {r, k, w, dY, d};
    run_rows(&j, steps_backward);
}

/* Weight, bias and input gradients of all steps at once. dx gets the input
 * gradient (accumulated when `accumulate`, e.g. the second direction). */
static void dir_backward_weights(RNN *r, CL_R(rnn_cache) * k, CL_R(rnn_block) w,
                                 CL_R(rnn_block) gw, const real *x, real *dx, int accumulate,
                                 int d)
{
    int TB = r->T * r->B, H = r->c.hidden, GH = r->G * H;
    const real *dGh = r->c.cell == CL_CELL_GRU ? r->dGh : r->dG;
    const real *hprev = k->hs + (d ? (size_t)r->B * H : 0);
    if (x) /* else layer 0 of cl_rnn_forward_gates: the caller owns W_ih's gradient */
        cl_gemm_mt(r->threads, 'T', 'N', GH, w.in, TB, 1, r->dG, x, 1, gw.wih);
    cl_gemm_mt(r->threads, 'T', 'N', GH, H, TB, 1, dGh, hprev, 1, gw.whh);
    col_sums(gw.bih, r->dG, TB, GH);
    col_sums(gw.bhh, dGh, TB, GH);
    if (dx && x)
        cl_gemm_mt(r->threads, 'N', 'N', TB, w.in, GH, 1, r->dG, w.wih, accumulate ? 1 : 0, dx);
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

/* Undo layer l's input dropout on its input gradient, in place. */
static void dropout_backward(const RNN *r, int l, real *dx)
{
    if (l == 0 || !r->trained || r->c.dropout <= 0)
        return;
    size_t n = (size_t)r->T * r->B * r->D * r->c.hidden;
    for (size_t i = 0; i < n; i++)
        dx[i] *= r->mask[l][i];
}

int CL_R(cl_rnn_backward)(RNN *r, const real *params, real *grads, const real *dY,
                          const real *dhT, const real *dcT, real *dX, real *dh0, real *dc0)
{
    if (!r->trained)
        return CL_EINVAL;
    const real *dy = dY;
    for (int l = r->c.layers - 1; l >= 0; l--) {
        /* The last layer's input gradient goes straight to the caller's dX. */
        real *dx = l > 0 ? r->dx[l & 1] : dX;
        for (int d = 0; d < r->D; d++) {
            size_t idx = (size_t)(l * r->D + d);
            CL_R(rnn_cache) *k = &r->cache[idx];
            CL_R(rnn_block) w = block_at(&r->c, params, l, d), gw = block_at(&r->c, grads, l, d);
            load_state_grad(r, r->dh, dhT, idx);
            if (r->c.cell == CL_CELL_LSTM)
                load_state_grad(r, r->dc, dcT, idx);
            dir_backward_time(r, k, w, dy, d);
            store_state_grad(r, dh0, r->dh, idx);
            if (r->c.cell == CL_CELL_LSTM)
                store_state_grad(r, dc0, r->dc, idx);
            dir_backward_weights(r, k, w, gw, layer_x(r, l), dx, d > 0, d);
        }
        if (l > 0)
            dropout_backward(r, l, dx);
        dy = dx;
    }
    return CL_OK;
}
