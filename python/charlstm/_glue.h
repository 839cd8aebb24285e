/* clpy: the C side of the Python package (python/charlstm), over libcharlstm.
 *
 * Plain C functions with simple types, so that the cffi declaration in
 * _build.py is this header and nothing else.  cffi releases the GIL around
 * every call into them: a whole batch of texts is one call.
 *
 * Errors: functions return 0 or a negative cl_err, and write the library's
 * message ("FILE:LINE: ..." or "NAME: invalid UTF-8 at byte N", then the
 * cl_strerror text in brackets) into msg[CLPY_MSG], which Python raises as
 * charlstm.Error.  Text arguments are UTF-8 bytes with their length; the
 * library validates them.
 *
 * Ownership: clpy_load's model is freed with clpy_free; every result struct
 * with pointers is freed with its own *_free function; the rest is the
 * caller's.  One clpy_model must not be used by two threads at once (the
 * Python class holds a lock). */
#ifndef CLPY_GLUE_H
#define CLPY_GLUE_H

#include <stddef.h>
#include <stdint.h>

#define CLPY_MSG 640

typedef struct clpy_model clpy_model;

/* ---- the model ----------------------------------------------------------- */

typedef struct {
    int vocab, emb, hidden, layers, bidir, gru; /* encoder */
    int dim;            /* encoder output width (hidden * (1 + bidir)) */
    int nfc, casefold;  /* text options */
    int nheads;
    int ntags;          /* 0 without a tagger head */
    int nlabels;        /* 0 without a classifier head */
} clpy_info;

int clpy_load(const char *path, clpy_model **out, char *msg);
void clpy_free(clpy_model *m);
/* OpenMP threads for this model's calls (OpenBLAS stays single-threaded). */
void clpy_set_threads(clpy_model *m, int threads);
/* Precision of tagging's and classification's products, as charlstm tag
 * --precision: "auto" (the default), "fp32" or "bf16".  0, CL_EPARSE, or
 * CL_EINVAL for bf16 on a CPU without it (msg says so). */
int clpy_set_precision(clpy_model *m, const char *precision, char *msg);
void clpy_get_info(const clpy_model *m, clpy_info *info);
/* Section name of head i ("head.lm", ...); NULL past the last. */
const char *clpy_head(const clpy_model *m, int i);
/* Code point of every character id (id 0, unknown: U+FFFD) into cps[vocab]. */
void clpy_vocab(const clpy_model *m, int32_t *cps);
const char *clpy_tag_name(const clpy_model *m, int id);
const char *clpy_label(const clpy_model *m, int k);

/* ---- tensors (PyTorch import and export) --------------------------------- */

/* Name, shape and values of tensor i (NULL name past the last).  The values
 * belong to the model: Python copies them, or writes into them before
 * clpy_save. */
const char *clpy_tensor(const clpy_model *m, int i, int *ndim, int *shape, float **values,
                        int *constant);
/* A new model with vocabulary cps[0..n) (ids 1..n, ascending), an encoder and
 * an lm head, random weights (seed): the Python importer fills them. */
int clpy_new_lm(const int32_t *cps, int n, int emb, int hidden, int layers, int gru, int nfc,
                int casefold, float dropout, uint64_t seed, clpy_model **out, char *msg);
int clpy_save(const clpy_model *m, const char *path, char *msg);

/* ---- generation ---------------------------------------------------------- */

typedef struct clpy_gen clpy_gen;

/* A generator primed with the prompt (as charlstm generate does); the model
 * must outlive it.  *prompt_len gets the prompt's length in code points as
 * the model read it (clpy_gen_prompt). */
int clpy_gen_new(clpy_model *m, const char *prompt, size_t n, float temperature, int top_k,
                 float top_p, uint64_t seed, clpy_gen **out, size_t *prompt_len, char *msg);
/* The prompt as the model read it (normalised; unknown characters as
 * U+FFFD) into cps[prompt_len]. */
void clpy_gen_prompt(const clpy_gen *g, int32_t *cps);
/* The next n characters' code points into cps[n]. */
int clpy_gen_next(clpy_gen *g, int32_t *cps, int n);
void clpy_gen_free(clpy_gen *g);

/* ---- language-model scores and encoder states ------------------------------ */

/* The lm head's logits over text: with after_newline, row t predicts
 * character t from a start of line and the characters before it (row 0 is
 * what the model expects first); without, row t follows character t from a
 * zero state.  *logits [T, vocab] and *ids [T] are malloc'd (free with
 * clpy_release); *T = characters as the model reads them. */
int clpy_logits(clpy_model *m, const char *text, size_t n, int after_newline, float **logits,
                int **ids, size_t *T, char *msg);

typedef struct {
    int n, dim;
    size_t *char_off;    /* [n + 1]: text i's characters are rows char_off[i].. of chars */
    int32_t *cps;        /* [char_off[n]] each character as the model read it */
    float *chars;        /* [char_off[n], dim] encoder output at each character */
    size_t *word_off;    /* [n + 1]: text i's words are rows word_off[i].. of words */
    int64_t *word_start; /* [word_off[n]] first character of each word (in its text) */
    int64_t *word_end;   /* [word_off[n]] one past its last */
    float *words;        /* [word_off[n], dim] encoder output at each word's last character */
} clpy_states;

/* Encoder states of n texts (texts[i], lens[i] bytes), each read after a
 * newline from a zero state, the words found by the tokenizer of charlstm
 * tag.  Free *s with clpy_states_free, also after an error. */
int clpy_states_of(clpy_model *m, const char *const *texts, const size_t *lens, int n,
                   clpy_states *s, char *msg);
void clpy_states_free(clpy_states *s);

/* ---- tagging ------------------------------------------------------------- */

/* Tagged sentences as flat arrays: what `charlstm tag --output json` writes
 * (docs/json.md), made by cl_annotate.  Sentence s has the tokens
 * [sent_tok[s], sent_tok[s + 1]) and the words [sent_word[s],
 * sent_word[s + 1]); a token's words and a word's token are indices within
 * its sentence, as in the JSON.  Offsets are code points: into the text
 * given to clpy_tag_text, or for given words into the sentence's text. */
typedef struct {
    int nsent, ntok, nword, ntags;
    int *sent_tok, *sent_word;       /* [nsent + 1] */
    const char **sent_text;          /* [nsent] the sentence as in the input */
    int64_t *sent_start, *sent_end;  /* [nsent] */
    int64_t *tok_start, *tok_end;    /* [ntok] */
    int *tok_word, *tok_nwords;      /* [ntok] its words: tok_nwords > 1 is a multiword token */
    int *tok_space_after;            /* [ntok] 0: no whitespace follows (SpaceAfter=No) */
    const char **form;               /* [nword] */
    int64_t *word_start, *word_end;  /* [nword] */
    int *word_token;                 /* [nword] */
    int *tag;                        /* [nword] tag id (clpy_tag_name) */
    float *prob;                     /* [nword] its probability; NaN in a sentence over 512
                                        words (tagged in windows, without probabilities) */
    float *probs;                    /* [nword, ntags] every tag's probability (NaN likewise) */
    void *doc;                       /* the cl_ann_doc the strings belong to */
} clpy_tagged;

/* Raw text, each line a paragraph split into sentences (split = 1, as
 * charlstm tag --input paragraphs) or one sentence (split = 0, --input
 * text); tokens, multiword tokens and words as charlstm tag makes them.
 * Lines without a word hold no sentence. */
int clpy_tag_text(clpy_model *m, const char *text, size_t n, int split, clpy_tagged *out,
                  char *msg);
/* Words given: sentence s is forms[sent_start[s] .. sent_start[s + 1]), one
 * token per word, its text the words joined by single spaces (as charlstm
 * tag --input conllu); empty sentences are skipped. */
int clpy_tag_words(clpy_model *m, const char *const *forms, const int *sent_start, int nsent,
                   clpy_tagged *out, char *msg);
/* Free what a clpy_tag_* call put in *t (also after an error). */
void clpy_tagged_free(clpy_tagged *t);

/* ---- classification ------------------------------------------------------ */

/* Probabilities [n, nlabels] of n texts into probs (caller-owned), as
 * charlstm classify computes them (cut to max_chars, an empty text reads as
 * one unknown character). */
int clpy_classify(clpy_model *m, const char *const *texts, const size_t *lens, int n,
                  float *probs, char *msg);

/* ---- the command ---------------------------------------------------------- */

/* The charlstm command that belongs with the library this module was built
 * against (charlstm.train runs it): its path when built, which may be gone. */
const char *clpy_tool(void);

void clpy_release(void *p); /* free() for what the functions above malloc */

#endif
