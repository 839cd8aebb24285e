/* cl_score: what a language model sees in a text, character by character —
 * the surprisal of each character, the characters it expected there, and
 * the activations of chosen cells (Karpathy et al., "Visualizing and
 * Understanding Recurrent Networks").
 *
 * The text is read as cl_gen_prime reads a prompt: after a newline (the
 * start of a line), in float32 through the general cl_lm path.  For
 * character i:
 *   surprisal[i]  = -ln p(cps[i] | newline, cps[0..i)), in nats;
 *   top[i]        = the k characters the model found most likely at i,
 *                   before it read cps[i] (most likely first);
 *   act[i]        = the chosen cells after reading cps[i].
 * A "cell" is a unit of the encoder's top layer output (the hidden state h
 * the lm head reads; tanh-bounded for an LSTM), numbered 0..H-1. */
#ifndef CL_SCORE_H
#define CL_SCORE_H

#include "cl_model.h"
#include "cl_api.h"

#include "cl_mm.h"

CL_API_BEGIN

typedef struct {
    int top_k;          /* expected characters listed per position (0..V) */
    const int *cells;   /* [ncells] cells whose activations are wanted */
    int ncells;
    int all_states;     /* 1: keep every cell of every position (for cl_score_best_cells) */
    cl_precision precision; /* of the products (cl_mm.h); 0 = CL_PREC_AUTO */
} cl_score_config;

typedef struct {
    size_t n;           /* characters */
    int k, ncells, H;
    float total;        /* sum of the surprisals (nats) */
    float *surprisal;   /* [n] */
    int32_t *top_cp;    /* [n, k] code points (the unknown symbol is 0) */
    float *top_p;       /* [n, k] their probabilities */
    float *act;         /* [n, ncells] or NULL */
    float *states;      /* [n, H] with all_states, else NULL */
} cl_score;

/* Score cps[0..n) (the text as the model reads it: cl_text_decode with
 * m->text) with model m's lm head.  CL_ENOTFOUND without an lm head,
 * CL_EINVAL (message in d) for a cell outside 0..H-1 or top_k outside
 * 0..V.  On success free *s with cl_score_free. */
int cl_score_text(const cl_model *m, const int32_t *cps, size_t n, const cl_score_config *c,
                  cl_score *s, cl_diag *d);
void cl_score_free(cl_score *s);

/* Properties of a text position that a cell may track. */
typedef enum {
    CL_SCORE_IN_QUOTES,  /* inside "..." (straight or curly double quotes) */
    CL_SCORE_LINE_START, /* the first character of a line */
    CL_SCORE_WORD_END,   /* a letter or digit followed by anything else */
    CL_SCORE_NFEATURES
} cl_score_feature;
/* Static name of a feature: "in_quotes", "line_start", "word_end". */
const char *cl_score_feature_name(cl_score_feature f);
/* flags[i] = 1 where position i of cps has feature f. */
void cl_score_feature_flags(const int32_t *cps, size_t n, cl_score_feature f, unsigned char *flags);
/* The k cells (of s->states, which needs all_states) whose activation
 * correlates most (Pearson, by absolute value) with flags: cells[k] and
 * their correlations corr[k], strongest first.  Returns how many were
 * written (fewer when H < k; 0 when flags is constant). */
int cl_score_best_cells(const cl_score *s, const unsigned char *flags, int k, int *cells,
                        float *corr);

CL_API_END
#endif
