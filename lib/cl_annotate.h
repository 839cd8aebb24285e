/* cl_annotate: raw text to tagged sentences, as plain structs — what
 * `charlstm tag`, `charlstm eval --raw`, the HTTP server and the Python
 * module all call, so they give the same answers.
 *
 * Steps: the text is split into words by the PCRE2 tokenizer (cl_tok); with
 * CL_ANN_SPLIT it is a paragraph whose sentences are found by the rules the
 * model's tagger learned from its treebank (cl_seg), each sentence then
 * tokenized on its own (so "the U.S." ending a sentence gives "U.S" "." as
 * UD English does); tokens that the treebank writes as multiword tokens are
 * joined ("didn't" = one token, words "did" "n't"); cl_annotate_tag then
 * tags the words in batches of sentences of similar length.
 *
 * Offsets are byte offsets: a sentence's into the text given to
 * cl_annotate_text, a token's and a word's into the sentence's own text.
 * A word of a multiword token has the bytes of the piece the tokenizer cut
 * ("n't" of "didn't").
 *
 * Memory: a cl_ann_doc owns everything in it; cl_ann_doc_clear empties it
 * for reuse, cl_ann_doc_free releases it.  A cl_annotator borrows the model
 * (which must outlive it) and is freed with cl_annotator_free.  One
 * annotator is used by one thread at a time (the tagger has a workspace). */
#ifndef CL_ANNOTATE_H
#define CL_ANNOTATE_H

#include <stddef.h>

#include "cl_conllu.h"
#include "cl_model.h"
#include "cl_tagger.h"
#include "cl_api.h"

CL_API_BEGIN

typedef struct {
    size_t off, len;   /* bytes of the token in the sentence text */
    int word, nwords;  /* its words [word, word + nwords); nwords > 1: a multiword token */
    int space_after;   /* 0: no whitespace follows it in the input (UD SpaceAfter=No) */
} cl_ann_token;

typedef struct {
    char *form;        /* the word (NUL-terminated copy) */
    size_t off, len;   /* its bytes in the sentence text */
    int token;         /* the token it belongs to */
    int tag;           /* tag id (cl_tagger_tag_name), -1 until tagged */
    float prob;        /* the probability of that tag */
} cl_ann_word;

typedef struct {
    char *text;        /* the sentence as in the input, NUL-terminated */
    size_t off;        /* byte offset of text in the text given to cl_annotate_text */
    int ntok, nword;
    cl_ann_token *tok; /* [ntok] */
    cl_ann_word *word; /* [nword] */
    float *probs;      /* [nword * ntags] probability of every tag, when asked for */
} cl_ann_sent;

typedef struct {
    int n, cap;
    cl_ann_sent *sent; /* [n] */
} cl_ann_doc;

void cl_ann_doc_init(cl_ann_doc *doc);
/* Drop every sentence (the array is kept for reuse). */
void cl_ann_doc_clear(cl_ann_doc *doc);
void cl_ann_doc_free(cl_ann_doc *doc);

typedef struct cl_annotator cl_annotator;

/* An annotator for model m, which needs a head.tagger (CL_ENOTFOUND). */
int cl_annotator_create(cl_annotator **out, cl_model *m, cl_diag *d);
void cl_annotator_free(cl_annotator *a);
/* The tagger inside (tag names, configuration); owned by a. */
cl_tagger *cl_annotator_tagger(const cl_annotator *a);

enum {
    CL_ANN_LINE = 0, /* the text is one sentence */
    CL_ANN_SPLIT = 1 /* the text is a paragraph: split it into sentences */
};

/* Tokenize text[0..len) (valid UTF-8; the caller checks) and append its
 * sentences to doc, untagged.  Text without a word appends nothing.
 * Returns 0, CL_ENOMEM or CL_EINVAL (a PCRE2 failure, d says which). */
int cl_annotate_text(cl_annotator *a, const char *text, size_t len, int mode, cl_ann_doc *doc,
                     cl_diag *d);

/* Append a sentence of n >= 1 given words (e.g. read from CoNLL-U): one
 * token per word, its text the words joined by a space, or by nothing after
 * the words whose space_after[i] is 0 (space_after may be NULL). */
int cl_annotate_words(cl_ann_doc *doc, const char *const *forms, const int *space_after, int n);

/* Append a sentence read from CoNLL-U as it is annotated there: its
 * multiword tokens (range lines), SpaceAfter, and as word tags the ids in
 * t's tag set of t's column (-1 for "_", -2 for a tag outside the set).
 * Its text is the "# text" comment when the tokens are found in it in
 * order, else the tokens joined as SpaceAfter says.  off is left 0. */
int cl_annotate_conllu(cl_ann_doc *doc, const cl_conllu_sent *s, const cl_tagger *t);

/* Tag sentences [first, doc->n) in batches of at most batch sentences of
 * similar length; with_probs also fills each sentence's probs.  Returns 0,
 * CL_ENOMEM, or CL_EUTF8 (a word that is not valid UTF-8; d says which). */
int cl_annotate_tag(cl_annotator *a, cl_ann_doc *doc, int first, int batch, int with_probs,
                    cl_diag *d);

CL_API_END

#endif
