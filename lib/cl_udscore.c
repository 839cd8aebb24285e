/* cl_udscore: span matching and word pairing for end-to-end scores. */
#include "cl_udscore.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* A token as absolute byte offsets, with where its words are. */
typedef struct {
    size_t start, end;
    const cl_ann_sent *s;
    const cl_ann_token *t;
} span_tok;

/* Every token of sentences [a, b) in text order. */
static span_tok *spans_of(const cl_ann_doc *doc, int a, int b, size_t *n)
{
    size_t k = 0;
    for (int i = a; i < b; i++)
        k += (size_t)doc->sent[i].ntok;
    span_tok *v = malloc(sizeof *v * (k ? k : 1));
    if (!v)
        return NULL;
    k = 0;
    for (int i = a; i < b; i++) {
        const cl_ann_sent *s = &doc->sent[i];
        for (int j = 0; j < s->ntok; j++)
            v[k++] = (span_tok){s->off + s->tok[j].off, s->off + s->tok[j].off + s->tok[j].len,
                                s, &s->tok[j]};
    }
    *n = k;
    return v;
}

static void count_sentences(cl_ud_count *c, const cl_ann_doc *g, int g0, int g1,
                            const cl_ann_doc *s, int s0, int s1)
{
    c->gold += g1 - g0, c->system += s1 - s0;
    for (int i = g0, j = s0; i < g1 && j < s1;) {
        const cl_ann_sent *a = &g->sent[i], *b = &s->sent[j];
        size_t as = a->off + a->tok[0].off, bs = b->off + b->tok[0].off;
        size_t ae = a->off + a->tok[a->ntok - 1].off + a->tok[a->ntok - 1].len;
        size_t be = b->off + b->tok[b->ntok - 1].off + b->tok[b->ntok - 1].len;
        c->correct += as == bs && ae == be;
        if (ae <= be)
            i++;
        if (be <= ae)
            j++;
    }
}

/* Pairs of words of two tokens with equal spans: the longest common
 * subsequence of their case-folded forms (ASCII folding is enough for the
 * clitics that differ in case); pairs go to upos when the tags agree. */
static void pair_words(cl_ud_score *sc, const span_tok *g, const span_tok *s)
{
    int n = g->t->nwords, m = s->t->nwords;
    if (n == 1 && m == 1) {
        const cl_ann_word *a = &g->s->word[g->t->word], *b = &s->s->word[s->t->word];
        sc->words.correct++, sc->upos.correct += a->tag == b->tag;
        return;
    }
    int L[4][4] = {{0}}; /* tokens of up to 3 words; longer ones are not paired */
    if (n > 3 || m > 3)
        return;
    for (int i = n - 1; i >= 0; i--)
        for (int j = m - 1; j >= 0; j--)
            L[i][j] = !strcasecmp(g->s->word[g->t->word + i].form, s->s->word[s->t->word + j].form)
                          ? 1 + L[i + 1][j + 1]
                          : (L[i + 1][j] > L[i][j + 1] ? L[i + 1][j] : L[i][j + 1]);
    for (int i = 0, j = 0; i < n && j < m;) {
        const cl_ann_word *a = &g->s->word[g->t->word + i], *b = &s->s->word[s->t->word + j];
        if (!strcasecmp(a->form, b->form)) {
            sc->words.correct++, sc->upos.correct += a->tag == b->tag;
            i++, j++;
        } else if (L[i + 1][j] >= L[i][j + 1]) {
            i++;
        } else {
            j++;
        }
    }
}

int cl_ud_score_add(cl_ud_score *sc, const cl_ann_doc *gold, int g0, int g1, const cl_ann_doc *sys,
                    int s0, int s1)
{
    size_t ng, ns;
    span_tok *g = spans_of(gold, g0, g1, &ng), *s = g ? spans_of(sys, s0, s1, &ns) : NULL;
    if (!s) {
        free(g);
        return CL_ENOMEM;
    }
    count_sentences(&sc->sentences, gold, g0, g1, sys, s0, s1);
    sc->tokens.gold += (long)ng, sc->tokens.system += (long)ns;
    for (size_t i = 0; i < ng; i++)
        sc->mwt.gold += g[i].t->nwords > 1, sc->words.gold += g[i].t->nwords;
    for (size_t j = 0; j < ns; j++)
        sc->mwt.system += s[j].t->nwords > 1, sc->words.system += s[j].t->nwords;
    for (size_t i = 0, j = 0; i < ng && j < ns;) {
        if (g[i].start == s[j].start && g[i].end == s[j].end) {
            sc->tokens.correct++;
            sc->mwt.correct += g[i].t->nwords > 1 && s[j].t->nwords > 1;
            pair_words(sc, &g[i], &s[j]);
        }
        size_t ge = g[i].end, se = s[j].end;
        if (ge <= se)
            i++;
        if (se <= ge)
            j++;
    }
    sc->upos.gold = sc->words.gold, sc->upos.system = sc->words.system;
    free(g), free(s);
    return CL_OK;
}

double cl_ud_precision(const cl_ud_count *c) { return c->system ? (double)c->correct / c->system : NAN; }
double cl_ud_recall(const cl_ud_count *c) { return c->gold ? (double)c->correct / c->gold : NAN; }

double cl_ud_f1(const cl_ud_count *c)
{
    double p = cl_ud_precision(c), r = cl_ud_recall(c);
    if (isnan(p) || isnan(r))
        return isnan(p) && isnan(r) ? NAN : 0;
    return p + r > 0 ? 2 * p * r / (p + r) : 0;
}
