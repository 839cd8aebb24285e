/* cl_score: surprisal, expected characters and cell activations of a text. */
#include "cl_score.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cl_lm.h"
#include "cl_sample.h"

enum { SCORE_CHUNK = 128 };

void cl_score_free(cl_score *s)
{
    free(s->surprisal), free(s->top_cp), free(s->top_p), free(s->act), free(s->states);
    memset(s, 0, sizeof *s);
}

static int check_config(const cl_model *m, const cl_score_config *c, cl_diag *d)
{
    int H = cl_encoder_out_dim(&m->enc);
    if (!cl_model_head(m, "head.lm"))
        return cl_diag_set(d, CL_ENOTFOUND, "the model has no language-model head");
    if (c->top_k < 0 || c->top_k > m->enc.vocab)
        return cl_diag_set(d, CL_EINVAL, "top_k must be between 0 and %d", m->enc.vocab);
    for (int i = 0; i < c->ncells; i++)
        if (c->cells[i] < 0 || c->cells[i] >= H)
            return cl_diag_set(d, CL_EINVAL, "cell %d is not between 0 and %d", c->cells[i], H - 1);
    return CL_OK;
}

static int alloc_result(cl_score *s, const cl_score_config *c, size_t n, int H)
{
    size_t m = n ? n : 1;
    *s = (cl_score){.n = n, .k = c->top_k, .ncells = c->ncells, .H = H};
    s->surprisal = malloc(m * sizeof *s->surprisal);
    s->top_cp = malloc(m * ((size_t)c->top_k + 1) * sizeof *s->top_cp);
    s->top_p = malloc(m * ((size_t)c->top_k + 1) * sizeof *s->top_p);
    s->act = c->ncells ? malloc(m * (size_t)c->ncells * sizeof *s->act) : NULL;
    s->states = c->all_states ? malloc(m * (size_t)H * sizeof *s->states) : NULL;
    if (!s->surprisal || !s->top_cp || !s->top_p || (c->ncells && !s->act) ||
        (c->all_states && !s->states))
        return CL_ENOMEM;
    return CL_OK;
}

/* Position i: the distribution that predicted it (logits) and the state
 * after reading it (y [H]). */
static void record(cl_score *s, const cl_model *m, const cl_score_config *c, size_t i,
                   const float *logits, const float *y, int id, float *p, int *best)
{
    cl_softmax(logits, m->enc.vocab, p);
    cl_top_k(p, m->enc.vocab, s->k, best);
    s->surprisal[i] = -logf(p[id] > 1e-30f ? p[id] : 1e-30f);
    s->total += s->surprisal[i];
    for (int q = 0; q < s->k; q++) {
        s->top_cp[i * s->k + q] = cl_vocab_cp(&m->vocab, best[q]);
        s->top_p[i * s->k + q] = p[best[q]];
    }
    for (int q = 0; q < c->ncells; q++)
        s->act[i * (size_t)c->ncells + q] = y[c->cells[q]];
    if (s->states)
        memcpy(s->states + i * (size_t)s->H, y, (size_t)s->H * sizeof *y);
}

/* ids[0] is the start (newline), ids[1..n] the text. */
static int run(cl_score *s, const cl_model *m, const cl_score_config *c, const int *ids, size_t n)
{
    cl_lm lm;
    int V = m->enc.vocab, H = s->H, err = cl_lm_create(&lm, &m->enc, &m->params, 0, SCORE_CHUNK, 1);
    if (err)
        return err;
    if ((err = cl_lm_set_precision(&lm, c->precision)) != 0) {
        cl_lm_free(&lm);
        return err;
    }
    size_t sn = cl_encoder_state_size(&m->enc);
    float *h = calloc(sn, sizeof *h), *cc = calloc(sn, sizeof *cc), *p = malloc(V * sizeof *p);
    float *prev = malloc(V * sizeof *prev); /* logits after the previous chunk's last id */
    int *best = malloc(((size_t)c->top_k + 1) * sizeof *best);
    if (!h || !cc || !p || !prev || !best)
        err = CL_ENOMEM;
    for (size_t b = 0; b <= n && !err; b += SCORE_CHUNK) {
        int T = (int)(n + 1 - b < SCORE_CHUNK ? n + 1 - b : SCORE_CHUNK);
        cl_lm_forward(&lm, &m->params, ids + b, NULL, T, 1, h, cc, 0, NULL);
        for (int t = 0; t < T; t++) {
            size_t pos = b + (size_t)t; /* ids[pos] was read at step t */
            const float *lg = t ? lm.logits + (size_t)(t - 1) * V : prev;
            if (pos >= 1)
                record(s, m, c, pos - 1, lg, lm.Y + (size_t)t * H, ids[pos], p, best);
        }
        memcpy(prev, lm.logits + (size_t)(T - 1) * V, V * sizeof *prev);
    }
    free(h), free(cc), free(p), free(prev), free(best);
    cl_lm_free(&lm);
    return err;
}

int cl_score_text(const cl_model *m, const int32_t *cps, size_t n, const cl_score_config *c,
                  cl_score *s, cl_diag *d)
{
    memset(s, 0, sizeof *s);
    int err = check_config(m, c, d);
    if (err)
        return err;
    int *ids = malloc((n + 1) * sizeof *ids);
    err = ids ? alloc_result(s, c, n, cl_encoder_out_dim(&m->enc)) : CL_ENOMEM;
    if (!err) {
        ids[0] = cl_vocab_id(&m->vocab, '\n');
        ids[0] = ids[0] == CL_VOCAB_UNK ? 1 : ids[0]; /* as cl_gen_prime */
        cl_model_encode(m, cps, n, ids + 1, NULL);
        err = run(s, m, c, ids, n);
    }
    free(ids);
    if (err)
        cl_score_free(s);
    return err;
}

/* ---- what cells track ------------------------------------------------------ */

const char *cl_score_feature_name(cl_score_feature f)
{
    static const char *const names[] = {"in_quotes", "line_start", "word_end"};
    return f >= 0 && f < CL_SCORE_NFEATURES ? names[f] : "?";
}

static int alnum(int32_t c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c > 0xBF;
}

void cl_score_feature_flags(const int32_t *cps, size_t n, cl_score_feature f, unsigned char *flags)
{
    int inside = 0;
    for (size_t i = 0; i < n; i++) {
        int32_t c = cps[i];
        int quote = c == '"' || c == 0x201C || c == 0x201D;
        if (f == CL_SCORE_IN_QUOTES)
            flags[i] = (unsigned char)(inside && !quote), inside ^= quote;
        else if (f == CL_SCORE_LINE_START)
            flags[i] = i == 0 || cps[i - 1] == '\n';
        else
            flags[i] = alnum(c) && (i + 1 == n || !alnum(cps[i + 1]));
    }
}

static float correlation(const cl_score *s, const unsigned char *flags, int cell)
{
    double sx = 0, sy = 0, sxx = 0, syy = 0, sxy = 0, n = (double)s->n;
    for (size_t i = 0; i < s->n; i++) {
        double x = s->states[i * (size_t)s->H + cell], y = flags[i];
        sx += x, sy += y, sxx += x * x, syy += y * y, sxy += x * y;
    }
    double vx = sxx - sx * sx / n, vy = syy - sy * sy / n;
    return vx > 1e-12 && vy > 1e-12 ? (float)((sxy - sx * sy / n) / sqrt(vx * vy)) : 0.0f;
}

int cl_score_best_cells(const cl_score *s, const unsigned char *flags, int k, int *cells,
                        float *corr)
{
    int got = 0;
    if (!s->states || !s->n)
        return 0;
    for (int h = 0; h < s->H; h++) {
        float r = correlation(s, flags, h);
        if (r == 0.0f)
            continue;
        int j = got < k ? got++ : k; /* insertion into the kept top k */
        for (; j > 0 && fabsf(corr[j - 1]) < fabsf(r); j--)
            if (j < k)
                cells[j] = cells[j - 1], corr[j] = corr[j - 1];
        if (j < k)
            cells[j] = h, corr[j] = r;
    }
    return got;
}
