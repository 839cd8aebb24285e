/* Golden parity of the recurrent stack (cl_nn.h) with torch.nn.LSTM / nn.GRU.
 *
 * tests/data/torch_rnn_fixture.txt holds, per case, weights, inputs and
 * non-zero initial states together with PyTorch's outputs, final states, loss
 * and every gradient of loss = sum(Y*RY) + sum(hT*Rh) + sum(cT*Rc); the format
 * is documented in tests/make_torch_fixture.py, which made it (CI only reads
 * the committed file).  Because our parameter buffer uses torch's order and
 * layout, the same flat vector feeds both, and cl_rnn_param_name/offset must
 * reproduce torch's state_dict() keys and offsets: that mapping is all that
 * importing or exporting torch weights takes. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cl_nn.h"
#include "cl_test.h"

#define FIXTURE "tests/data/torch_rnn_fixture.txt"
#define FX_MAX_CASES 16
#define FX_MAX_PARAMS 32
#define FX_MAX_TENSORS 24
#define FX_MAX_VALUES 1000000 /* sanity bound before allocating a tensor */
#define FX_MAX_DIM 256

/* The float kernels must match the float64 torch reference (rounded to float32
 * in the file) to this relative tolerance; the double kernels, whose only
 * error is that rounding, to the tighter one. */
#define TOL_FLOAT 1e-5
#define TOL_DOUBLE 1e-6

/* ---- fixture parsing ---------------------------------------------------- */

typedef struct {
    char name[16];
    float *v;
    size_t n;
} fx_tensor;

typedef struct {
    char key[64];
    size_t off;
    int rows, cols;
} fx_param;

typedef struct {
    char name[64];
    cl_rnn_config cfg;
    int T, B;
    int nparams, ntensors;
    fx_param params[FX_MAX_PARAMS];
    fx_tensor tensors[FX_MAX_TENSORS];
} fx_case;

typedef struct {
    int ncases;
    fx_case cases[FX_MAX_CASES];
} fx_file;

static void fx_free(fx_file *f)
{
    if (!f)
        return;
    for (int i = 0; i < f->ncases; i++)
        for (int j = 0; j < f->cases[i].ntensors; j++)
            free(f->cases[i].tensors[j].v);
    free(f);
}

static int dim_ok(int v, int lo) { return v >= lo && v <= FX_MAX_DIM; }

static int parse_case(const char *line, fx_case *c, char *err, size_t esz)
{
    char cell[8];
    int end = 0;
    cl_rnn_config *g = &c->cfg;
    int n = sscanf(line, "case %63s cell=%7s layers=%d bidir=%d T=%d B=%d I=%d H=%d %n", c->name,
                   cell, &g->layers, &g->bidir, &c->T, &c->B, &g->input, &g->hidden, &end);
    if (n != 8 || line[end] != '\0')
        return snprintf(err, esz, "malformed case line"), -1;
    if (strcmp(cell, "lstm") && strcmp(cell, "gru"))
        return snprintf(err, esz, "unknown cell '%s'", cell), -1;
    g->cell = strcmp(cell, "lstm") ? CL_CELL_GRU : CL_CELL_LSTM;
    g->dropout = 0;
    if (!dim_ok(g->layers, 1) || !dim_ok(g->bidir, 0) || g->bidir > 1 || !dim_ok(c->T, 1) ||
        !dim_ok(c->B, 1) || !dim_ok(g->input, 1) || !dim_ok(g->hidden, 1))
        return snprintf(err, esz, "case dimensions out of range"), -1;
    return 0;
}

static int parse_param(const char *line, fx_case *c, char *err, size_t esz)
{
    int end = 0;
    if (c->nparams == FX_MAX_PARAMS)
        return snprintf(err, esz, "too many param lines"), -1;
    fx_param *p = &c->params[c->nparams];
    if (sscanf(line, "param %63s %zu %d %d %n", p->key, &p->off, &p->rows, &p->cols, &end) != 4 ||
        line[end] != '\0' || p->rows < 1 || p->cols < 1)
        return snprintf(err, esz, "malformed param line"), -1;
    c->nparams++;
    return 0;
}

/* Values were printed with %.9g, so strtof gives back the exact float32. */
static int parse_values(const char *s, float *v, size_t n)
{
    char *end;
    for (size_t i = 0; i < n; i++) {
        v[i] = strtof(s, &end);
        if (end == s)
            return -1;
        s = end;
    }
    while (*s == ' ' || *s == '\n' || *s == '\r')
        s++;
    return *s == '\0' ? 0 : -1;
}

static int parse_tensor(const char *line, fx_case *c, char *err, size_t esz)
{
    int end = 0;
    if (c->ntensors == FX_MAX_TENSORS)
        return snprintf(err, esz, "too many tensors"), -1;
    fx_tensor *t = &c->tensors[c->ntensors];
    if (sscanf(line, "tensor %15s %zu%n", t->name, &t->n, &end) != 2)
        return snprintf(err, esz, "malformed tensor line"), -1;
    if (t->n < 1 || t->n > FX_MAX_VALUES)
        return snprintf(err, esz, "tensor %s: bad size %zu", t->name, t->n), -1;
    t->v = malloc(t->n * sizeof *t->v);
    if (!t->v)
        return snprintf(err, esz, "out of memory"), -1;
    c->ntensors++; /* owned by the case from here on, freed by fx_free */
    if (parse_values(line + end, t->v, t->n) != 0)
        return snprintf(err, esz, "tensor %s: expected exactly %zu numbers", t->name, t->n), -1;
    return 0;
}

/* One line; *open says whether a case is being read. */
static int parse_line(char *line, fx_file *f, int *open, char *err, size_t esz)
{
    line[strcspn(line, "\r\n")] = '\0';
    if (line[0] == '#' || line[0] == '\0')
        return 0;
    if (!strncmp(line, "case ", 5)) {
        if (*open || f->ncases == FX_MAX_CASES)
            return snprintf(err, esz, "unexpected case line"), -1;
        *open = 1;
        return parse_case(line, &f->cases[f->ncases++], err, esz);
    }
    if (!*open)
        return snprintf(err, esz, "line outside a case"), -1;
    if (!strcmp(line, "end"))
        return *open = 0, 0;
    fx_case *c = &f->cases[f->ncases - 1];
    if (!strncmp(line, "param ", 6))
        return parse_param(line, c, err, esz);
    if (!strncmp(line, "tensor ", 7))
        return parse_tensor(line, c, err, esz);
    return snprintf(err, esz, "unknown record"), -1;
}

/* Reads the whole fixture; NULL with a "path:line: why" message in err. */
static fx_file *fx_load(const char *path, char *err, size_t esz)
{
    char msg[200] = "";
    FILE *fp = fopen(path, "r");
    if (!fp)
        return snprintf(err, esz, "%s: cannot open (regenerate with tests/make_torch_fixture.py)",
                        path), NULL;
    fx_file *f = calloc(1, sizeof *f);
    char *line = NULL;
    size_t cap = 0;
    int open = 0, lineno = 0, rc = f ? 0 : -1;
    while (rc == 0 && getline(&line, &cap, fp) >= 0) {
        lineno++;
        rc = parse_line(line, f, &open, msg, sizeof msg);
    }
    if (rc == 0 && (ferror(fp) || open || f->ncases == 0)) {
        snprintf(msg, sizeof msg, "%s", ferror(fp) ? "read error" : "truncated or empty");
        rc = -1;
    }
    free(line);
    fclose(fp);
    if (rc != 0) {
        snprintf(err, esz, "%s:%d: %s", path, lineno, f ? msg : "out of memory");
        fx_free(f);
        return NULL;
    }
    return f;
}

static fx_file *fx_load_default(char *err, size_t esz)
{
    char path[1024];
    return fx_load(cl_test_path(path, sizeof path, FIXTURE), err, esz);
}

static const fx_case *fx_find(const fx_file *f, const char *name)
{
    for (int i = 0; i < f->ncases; i++)
        if (!strcmp(f->cases[i].name, name))
            return &f->cases[i];
    return NULL;
}

/* Tensor `name` of exactly n values, or NULL with a message. */
static const float *fx_get(const fx_case *c, const char *name, size_t n, char *err, size_t esz)
{
    for (int i = 0; i < c->ntensors; i++) {
        if (strcmp(c->tensors[i].name, name))
            continue;
        if (c->tensors[i].n == n)
            return c->tensors[i].v;
        snprintf(err, esz, "%s: tensor %s has %zu values, expected %zu", c->name, name,
                 c->tensors[i].n, n);
        return NULL;
    }
    snprintf(err, esz, "%s: tensor %s missing", c->name, name);
    return NULL;
}

/* ---- comparison --------------------------------------------------------- */

/* Per tensor, max|ours - torch| <= tol * max(max|torch|, 1e-3).  Relative to
 * the tensor's largest magnitude rather than elementwise: entries near zero
 * (cancelling sums in gradients) carry absolute, not relative, float error,
 * so an elementwise relative test would flag correct code.  The 1e-3 floor
 * keeps an all-tiny tensor from demanding precision below float rounding.
 * Returns 1 if within tolerance, else 0 and appends a line to msg. */
static int compare(const char *what, const double *ours, const float *ref, size_t n, double tol,
                   char *msg, size_t msz)
{
    double scale = 0, worst = -1;
    size_t at = 0;
    for (size_t i = 0; i < n; i++)
        scale = fmax(scale, fabs((double)ref[i]));
    for (size_t i = 0; i < n; i++) {
        double e = fabs(ours[i] - (double)ref[i]);
        if (e > worst || isnan(e)) {
            worst = isnan(e) ? INFINITY : e;
            at = i;
        }
    }
    scale = fmax(scale, 1e-3);
    if (worst <= tol * scale)
        return 1;
    size_t len = strlen(msg);
    snprintf(msg + len, msz - len,
             "%s: max|ours-torch| = %.3g at [%zu] (ours %.9g, torch %.9g), max|torch| = %.3g, "
             "relative %.3g > %.0e\n",
             what, worst, at, ours[at], (double)ref[at], scale, worst / scale, tol);
    return 0;
}

/* ---- running our stack -------------------------------------------------- */

/* Everything the stack produced, widened to double for comparison. */
typedef struct {
    double *Y, *hT, *cT, *dX, *dh0, *dc0, *dparams; /* carved from one block */
    double loss;
    size_t nX, nY, nS, nP;
} rnn_out;

typedef struct {
    const float *params, *X, *h0, *c0, *RY, *Rh, *Rc;
} rnn_in;

static void sizes(const fx_case *c, rnn_out *o)
{
    int D = cl_rnn_dirs(&c->cfg), H = c->cfg.hidden;
    o->nX = (size_t)c->T * c->B * c->cfg.input;
    o->nY = (size_t)c->T * c->B * H * D;
    o->nS = (size_t)c->cfg.layers * D * c->B * H;
    o->nP = cl_rnn_param_count(&c->cfg);
}

static int is_lstm(const fx_case *c) { return c->cfg.cell == CL_CELL_LSTM; }

/* The fixture's inputs, checked for the sizes the configuration implies. */
static int get_inputs(const fx_case *c, const rnn_out *o, rnn_in *in, char *err, size_t esz)
{
    int lstm = is_lstm(c);
    memset(in, 0, sizeof *in);
    if (!(in->params = fx_get(c, "params", o->nP, err, esz)) ||
        !(in->X = fx_get(c, "X", o->nX, err, esz)) || !(in->h0 = fx_get(c, "h0", o->nS, err, esz)) ||
        !(in->RY = fx_get(c, "RY", o->nY, err, esz)) ||
        !(in->Rh = fx_get(c, "Rh", o->nS, err, esz)))
        return -1;
    if (lstm && (!(in->c0 = fx_get(c, "c0", o->nS, err, esz)) ||
                 !(in->Rc = fx_get(c, "Rc", o->nS, err, esz))))
        return -1;
    return 0;
}

static int out_alloc(rnn_out *o)
{
    size_t total = o->nY + 4 * o->nS + o->nX + o->nP;
    double *p = calloc(total, sizeof *p);
    if (!p)
        return -1;
    o->Y = p, p += o->nY;
    o->hT = p, p += o->nS;
    o->cT = p, p += o->nS;
    o->dh0 = p, p += o->nS;
    o->dc0 = p, p += o->nS;
    o->dX = p, p += o->nX;
    o->dparams = p;
    return 0;
}

static double dot(const double *a, const float *b, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += a[i] * (double)b[i];
    return s;
}

/* One forward (train=1, no dropout) and backward of the fixture loss, in the
 * float (S empty) or double (S = _d) kernels.  Scratch buffers of `real` are
 * carved from one block; results are widened into o. */
#define DEFINE_RUN(real, S)                                                                     \
    static void widen##S(double *dst, const real *src, size_t n)                                \
    {                                                                                           \
        for (size_t i = 0; i < n; i++)                                                          \
            dst[i] = (double)src[i];                                                            \
    }                                                                                           \
    static void narrow##S(real *dst, const float *src, size_t n)                                \
    {                                                                                           \
        for (size_t i = 0; i < n; i++)                                                          \
            dst[i] = src ? (real)src[i] : 0;                                                    \
    }                                                                                           \
    static int run##S(const fx_case *c, const rnn_in *in, rnn_out *o, int onednn)               \
    {                                                                                           \
        size_t nX = o->nX, nY = o->nY, nS = o->nS, nP = o->nP;                                  \
        real *b = calloc(2 * nP + 2 * nX + 2 * nY + 8 * nS, sizeof *b);                         \
        cl_rnn##S *r = NULL;                                                                    \
        cl_rng rng;                                                                             \
        if (!b)                                                                                 \
            return -1;                                                                          \
        cl_rng_seed(&rng, 1);                                                                   \
        int lstm = is_lstm(c), rc = cl_rnn_create##S(&r, &c->cfg, c->T, c->B);                  \
        if (rc == 0 && onednn)                                                                  \
            rc = force_fp32##S(r);                                                              \
        real *P = b, *G = P + nP, *X = G + nP, *dX = X + nX, *Y = dX + nX, *RY = Y + nY;        \
        real *h0 = RY + nY, *c0 = h0 + nS, *hT = c0 + nS, *cT = hT + nS, *Rh = cT + nS;         \
        real *Rc = Rh + nS, *dh0 = Rc + nS, *dc0 = dh0 + nS;                                    \
        if (rc == 0) {                                                                          \
            narrow##S(P, in->params, nP), narrow##S(X, in->X, nX), narrow##S(RY, in->RY, nY);   \
            narrow##S(h0, in->h0, nS), narrow##S(c0, in->c0, nS);                               \
            narrow##S(Rh, in->Rh, nS), narrow##S(Rc, in->Rc, nS);                               \
            rc = cl_rnn_forward##S(r, P, c->T, c->B, X, h0, lstm ? c0 : NULL, Y, hT,            \
                                   lstm ? cT : NULL, 1, &rng);                                  \
        }                                                                                       \
        if (rc == 0)                                                                            \
            rc = cl_rnn_backward##S(r, P, G, RY, Rh, lstm ? Rc : NULL, dX, dh0,                 \
                                    lstm ? dc0 : NULL);                                         \
        if (rc == 0) {                                                                          \
            widen##S(o->Y, Y, nY), widen##S(o->hT, hT, nS), widen##S(o->cT, cT, nS);            \
            widen##S(o->dX, dX, nX), widen##S(o->dh0, dh0, nS), widen##S(o->dc0, dc0, nS);      \
            widen##S(o->dparams, G, nP);                                                        \
            o->loss = dot(o->Y, in->RY, nY) + dot(o->hT, in->Rh, nS) +                          \
                      (lstm ? dot(o->cT, in->Rc, nS) : 0);                                      \
        }                                                                                       \
        cl_rnn_free##S(r);                                                                      \
        free(b);                                                                                \
        return rc;                                                                              \
    }

/* Products through oneDNN, forced to fp32 (parity is an fp32 property; the
 * double build has no oneDNN path). */
static int force_fp32(cl_rnn *r) { return cl_rnn_set_precision(r, CL_PREC_FP32); }
static int force_fp32_d(cl_rnn_d *r)
{
    (void)r;
    return -1;
}

DEFINE_RUN(float, )
DEFINE_RUN(double, _d)

/* ---- checks ------------------------------------------------------------- */

/* Each parameter gradient separately, reported by torch's name. */
static int compare_dparams(const fx_case *c, const double *ours, const float *ref, double tol,
                           char *msg, size_t msz)
{
    int ok = 1, D = cl_rnn_dirs(&c->cfg);
    for (int l = 0; l < c->cfg.layers; l++)
        for (int d = 0; d < D; d++)
            for (int w = CL_RNN_W_IH; w <= CL_RNN_B_HH; w++) {
                char name[64], what[192];
                int rows, cols;
                size_t off = cl_rnn_param_offset(&c->cfg, l, d, w, &rows, &cols);
                cl_rnn_param_name(l, d, w, name, sizeof name);
                snprintf(what, sizeof what, "%s: grad %s [%dx%d]", c->name, name, rows, cols);
                ok &= compare(what, ours + off, ref + off, (size_t)rows * cols, tol, msg, msz);
            }
    return ok;
}

/* Every output, final state, the loss and every gradient; 1 if all agree. */
static int compare_all(const fx_case *c, const rnn_out *o, double tol, char *msg, size_t msz)
{
    struct {
        const char *name;
        const double *ours;
        size_t n;
    } t[] = {{"Y", o->Y, o->nY},       {"hT", o->hT, o->nS},   {"cT", o->cT, o->nS},
             {"loss", &o->loss, 1},    {"dX", o->dX, o->nX},   {"dh0", o->dh0, o->nS},
             {"dc0", o->dc0, o->nS},   {"dparams", NULL, o->nP}};
    int ok = 1;
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        char what[128];
        if (!is_lstm(c) && (!strcmp(t[i].name, "cT") || !strcmp(t[i].name, "dc0")))
            continue;
        const float *ref = fx_get(c, t[i].name, t[i].n, msg + strlen(msg), msz - strlen(msg));
        if (!ref)
            return 0;
        snprintf(what, sizeof what, "%s: %s", c->name, t[i].name);
        ok &= t[i].ours ? compare(what, t[i].ours, ref, t[i].n, tol, msg, msz)
                        : compare_dparams(c, o->dparams, ref, tol, msg, msz);
    }
    return ok;
}

/* Loads the fixture, runs case `name` with float (dbl = 0) or double kernels,
 * float products through OpenBLAS or (onednn) oneDNN in fp32, compares;
 * everything is freed before asserting. */
static void check_case_with(const char *name, int dbl, int onednn)
{
    char msg[4096] = "";
    rnn_out o = {0};
    rnn_in in;
    int ran = 0, ok = 0, rc = -1;
    fx_file *f = fx_load_default(msg, sizeof msg);
    const fx_case *c = f ? fx_find(f, name) : NULL;
    if (f && !c)
        snprintf(msg, sizeof msg, "%s: case %s missing", FIXTURE, name);
    else if (c && cl_rnn_validate(&c->cfg) != 0)
        snprintf(msg, sizeof msg, "%s: cl_rnn_validate rejects the configuration", name);
    else if (c && (sizes(c, &o), get_inputs(c, &o, &in, msg, sizeof msg) == 0)) {
        ran = out_alloc(&o) == 0;
        rc = ran ? (dbl ? run_d(c, &in, &o, 0) : run(c, &in, &o, onednn)) : -1;
        ok = rc == 0 && compare_all(c, &o, dbl ? TOL_DOUBLE : TOL_FLOAT, msg, sizeof msg);
    }
    free(o.Y);
    fx_free(f);
    ck_assert_msg(ran, "%s", msg[0] ? msg : "out of memory");
    ck_assert_msg(rc == 0, "%s: forward/backward returned %d", name, rc);
    ck_assert_msg(ok, "%s kernels disagree with torch:\n%s", dbl ? "double" : "float", msg);
}

static void check_case(const char *name, int dbl) { check_case_with(name, dbl, 0); }

START_TEST(test_lstm_1layer_uni) { check_case("lstm_1layer_uni", 0); }
END_TEST
START_TEST(test_lstm_2layer_uni) { check_case("lstm_2layer_uni", 0); }
END_TEST
START_TEST(test_lstm_2layer_bidir) { check_case("lstm_2layer_bidir", 0); }
END_TEST
START_TEST(test_gru_1layer_uni) { check_case("gru_1layer_uni", 0); }
END_TEST
START_TEST(test_gru_2layer_bidir) { check_case("gru_2layer_bidir", 0); }
END_TEST

/* The double build (used by the finite-difference checks) against the same
 * reference, to the tighter tolerance. */
START_TEST(test_double_kernels)
{
    const char *names[] = {"lstm_1layer_uni", "lstm_2layer_uni", "lstm_2layer_bidir",
                           "gru_1layer_uni", "gru_2layer_bidir"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        check_case(names[i], 1);
}
END_TEST

/* The float kernels with every product through oneDNN (cl_rnn_set_precision
 * fp32), to the same tolerance as OpenBLAS. */
START_TEST(test_onednn_fp32)
{
    const char *names[] = {"lstm_1layer_uni", "lstm_2layer_uni", "lstm_2layer_bidir",
                           "gru_1layer_uni", "gru_2layer_bidir"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        check_case_with(names[i], 0, 1);
}
END_TEST

/* cl_rnn_param_name/offset/count give torch's state_dict() keys, offsets in
 * parameters() order and shapes: a torch checkpoint maps onto ours by name. */
static int check_names(const fx_case *c, char *msg, size_t msz)
{
    int D = cl_rnn_dirs(&c->cfg), k = 0;
    if (c->nparams != c->cfg.layers * D * 4)
        return snprintf(msg, msz, "%s: %d param lines", c->name, c->nparams), 0;
    for (int l = 0; l < c->cfg.layers; l++)
        for (int d = 0; d < D; d++)
            for (int w = CL_RNN_W_IH; w <= CL_RNN_B_HH; w++, k++) {
                const fx_param *p = &c->params[k];
                char name[64];
                int rows = 0, cols = 0;
                size_t off = cl_rnn_param_offset(&c->cfg, l, d, w, &rows, &cols);
                cl_rnn_param_name(l, d, w, name, sizeof name);
                if (strcmp(name, p->key) || off != p->off || rows != p->rows || cols != p->cols)
                    return snprintf(msg, msz, "%s: ours %s @%zu [%dx%d], torch %s @%zu [%dx%d]",
                                    c->name, name, off, rows, cols, p->key, p->off, p->rows,
                                    p->cols), 0;
            }
    const fx_param *last = &c->params[k - 1];
    size_t torch_count = last->off + (size_t)last->rows * last->cols;
    if (cl_rnn_param_count(&c->cfg) != torch_count)
        return snprintf(msg, msz, "%s: %zu parameters, torch has %zu", c->name,
                        cl_rnn_param_count(&c->cfg), torch_count), 0;
    return 1;
}

START_TEST(test_param_names)
{
    char msg[512] = "";
    int ok = 1;
    fx_file *f = fx_load_default(msg, sizeof msg);
    for (int i = 0; f && ok && i < f->ncases; i++)
        ok = check_names(&f->cases[i], msg, sizeof msg);
    int loaded = f != NULL;
    fx_free(f);
    ck_assert_msg(loaded && ok, "%s", msg);
}
END_TEST

/* The fixture is self-consistent: its loss is sum(Y*RY) + sum(hT*Rh) +
 * sum(cT*Rc) of its own tensors.  Catches a parser or generator slip without
 * involving our kernels. */
START_TEST(test_fixture_consistent)
{
    char msg[1024] = "";
    int ok = 1;
    fx_file *f = fx_load_default(msg, sizeof msg);
    for (int i = 0; f && ok && i < f->ncases; i++) {
        const fx_case *c = &f->cases[i];
        rnn_out o = {0};
        rnn_in in;
        sizes(c, &o);
        ok = get_inputs(c, &o, &in, msg, sizeof msg) == 0 && out_alloc(&o) == 0;
        const float *Y = ok ? fx_get(c, "Y", o.nY, msg, sizeof msg) : NULL;
        const float *hT = Y ? fx_get(c, "hT", o.nS, msg, sizeof msg) : NULL;
        const float *cT = hT && is_lstm(c) ? fx_get(c, "cT", o.nS, msg, sizeof msg) : NULL;
        ok = hT && (cT || !is_lstm(c));
        if (ok) {
            widen(o.Y, Y, o.nY), widen(o.hT, hT, o.nS);
            o.loss = dot(o.Y, in.RY, o.nY) + dot(o.hT, in.Rh, o.nS);
            if (cT)
                widen(o.cT, cT, o.nS), o.loss += dot(o.cT, in.Rc, o.nS);
            const float *loss = fx_get(c, "loss", 1, msg, sizeof msg);
            ok = loss && compare(c->name, &o.loss, loss, 1, TOL_FLOAT, msg, sizeof msg);
        }
        free(o.Y);
    }
    int loaded = f != NULL;
    fx_free(f);
    ck_assert_msg(loaded && ok, "%s", msg);
}
END_TEST

/* The comparison can fail: the torch gradient compared with itself passes,
 * but with one value moved by 2 tolerances it must report a mismatch that
 * names the parameter tensor; a move of half a tolerance must still pass. */
START_TEST(test_compare_detects_mismatch)
{
    char err[512] = "", msg[2048] = "";
    fx_file *f = fx_load_default(err, sizeof err);
    ck_assert_msg(f != NULL, "%s", err);
    const fx_case *c = fx_find(f, "lstm_2layer_bidir");
    ck_assert_ptr_nonnull(c);
    size_t n = cl_rnn_param_count(&c->cfg);
    const float *ref = fx_get(c, "dparams", n, err, sizeof err);
    double *copy = ref ? malloc(n * sizeof *copy) : NULL;
    int rows, cols, same = 0, near = 0, far = 0;
    if (copy) {
        /* The tolerance scales with the largest entry of the perturbed tensor. */
        double scale = 1e-3;
        size_t base = cl_rnn_param_offset(&c->cfg, 1, 1, CL_RNN_W_HH, &rows, &cols), off = base + 7;
        for (size_t i = 0; i < n; i++)
            copy[i] = ref[i];
        for (size_t i = base; i < base + (size_t)rows * cols; i++)
            scale = fmax(scale, fabs(copy[i]));
        same = compare_dparams(c, copy, ref, TOL_FLOAT, msg, sizeof msg);
        copy[off] += 0.5 * TOL_FLOAT * scale;
        near = compare_dparams(c, copy, ref, TOL_FLOAT, msg, sizeof msg);
        copy[off] = ref[off] + 2 * TOL_FLOAT * scale;
        far = compare_dparams(c, copy, ref, TOL_FLOAT, msg, sizeof msg);
    }
    free(copy);
    fx_free(f);
    ck_assert_msg(ref != NULL, "%s", err);
    ck_assert_msg(same && near, "identical or near-identical gradients rejected:\n%s", msg);
    ck_assert_msg(!far, "a gradient moved by 2 tolerances was accepted");
    ck_assert_msg(strstr(msg, "grad weight_hh_l1_reverse [24x6]") != NULL, "report: %s", msg);
}
END_TEST

/* A fixture that is missing, or whose tensor holds fewer numbers than it
 * declares, is a clear load error, not a crash or a silent pass. */
START_TEST(test_fixture_errors)
{
    char path[1024], err[512] = "";
    snprintf(path, sizeof path, "%s/absent.txt", cl_test_tmpdir());
    ck_assert_ptr_null(fx_load(path, err, sizeof err));
    ck_assert_msg(strstr(err, "absent.txt: cannot open") != NULL, "%s", err);

    snprintf(path, sizeof path, "%s/short.txt", cl_test_tmpdir());
    FILE *fp = fopen(path, "w");
    ck_assert_ptr_nonnull(fp);
    fputs("# x\ncase a cell=gru layers=1 bidir=0 T=1 B=1 I=1 H=1\ntensor X 3 1 2\nend\n", fp);
    ck_assert_int_eq(fclose(fp), 0);
    ck_assert_ptr_null(fx_load(path, err, sizeof err));
    ck_assert_msg(strstr(err, "short.txt:3: tensor X: expected exactly 3 numbers") != NULL, "%s",
                  err);

    fp = fopen(path, "w");
    ck_assert_ptr_nonnull(fp);
    fputs("case a cell=gru layers=1 bidir=0 T=1 B=1 I=1 H=1\ntensor X 1 1\n", fp);
    ck_assert_int_eq(fclose(fp), 0);
    ck_assert_ptr_null(fx_load(path, err, sizeof err));
    ck_assert_msg(strstr(err, "truncated") != NULL, "%s", err);
}
END_TEST

Suite *suite_torch_parity(void)
{
    Suite *s = suite_create("torch_parity");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_fixture_errors);
    tcase_add_test(tc, test_fixture_consistent);
    tcase_add_test(tc, test_compare_detects_mismatch);
    tcase_add_test(tc, test_param_names);
    tcase_add_test(tc, test_lstm_1layer_uni);
    tcase_add_test(tc, test_lstm_2layer_uni);
    tcase_add_test(tc, test_lstm_2layer_bidir);
    tcase_add_test(tc, test_gru_1layer_uni);
    tcase_add_test(tc, test_gru_2layer_bidir);
    tcase_add_test(tc, test_double_kernels);
    tcase_add_test(tc, test_onednn_fp32);
    suite_add_tcase(s, tc);
    return s;
}
