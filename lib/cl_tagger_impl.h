/* cl_tagger_impl: internals shared by the files of the tagger module
 * (cl_tagger.c: corpus, configuration, head ops, data; cl_tagger_net.c: the
 * network; cl_tagger_train.c: training and scoring).  Not installed, not API. */
#ifndef CL_TAGGER_IMPL_H
#define CL_TAGGER_IMPL_H

#include "cl_seqrnn.h"
#include "cl_tagger.h"

struct cl_tagger_data {
    int nsent, nwords;
    int *start;            /* [nsent + 1] first word of each sentence */
    int *cstart;           /* [nwords + 1] each word's characters in chars */
    int *chars;            /* char ids, at most max_word_chars per word */
    int32_t *feats;        /* [nwords * CL_FEAT_SLOTS] bucket ids, -1 = off */
    int *wid;              /* [nwords] frequent-word id, 0 = unknown */
    int *gold;             /* [nwords] tag id; -1 none, -2 outside the tag set */
    unsigned char *unseen; /* [nwords] form absent from training */
    int *tstart;           /* [nsent + 1] each sentence's text in text (use_lm) */
    int *text;             /* char ids of "\n" + words joined by ' ' */
    int *tend;             /* [nwords] position of the word's last char in its text */
};

/* String -> index, open addressing; keys point into the configuration. */
typedef struct {
    const char **key;
    int *val;
    size_t mask;
} cl_tagger_map;

/* The char BiLSTM runs over the batch's words sorted by length, in this many
 * groups each padded only to its own longest word (one padded run over all
 * words would spend most of its time on padding). */
#define CL_TAGGER_CHAR_GROUPS 4

/* Buffers of one batch; sized by cl_tagger_ws_reserve, never inside a step. */
typedef struct {
    int N, S, Tc, Tw, Tl;   /* capacity: words, sentences, chars/word, words/sentence, text */
    cl_seqrnn *crnn[CL_TAGGER_CHAR_GROUPS], *wrnn;
    int *cord;              /* [N] batch word at each length-sorted position */
    int gstart[CL_TAGGER_CHAR_GROUPS + 1], gT[CL_TAGGER_CHAR_GROUPS]; /* groups of the last forward */
    float *slast, *dslast;  /* [N, 2 * char_hidden] final states in sorted order */
    cl_encoder enc;         /* the LM features' encoders: the model's (forward) and */
    cl_encoder benc;        /* head.lm_backward's (backward) */
    int have_enc, have_benc;
    int *cids, *clen;       /* per group [T_g, B_g] char ids time major; [N] sorted lengths */
    float *cx, *dcx;        /* [Tc, N, char_emb] */
    float *cy;              /* [Tc, N, 2 * char_hidden] (outputs, unused) */
    float *clast, *dclast;  /* [N, 2 * char_hidden] */
    int32_t *fids;          /* [N * SLOTS] */
    float *fx, *dfx;        /* [N, SLOTS * feat_emb] */
    int *wids;              /* [N] */
    float *wex, *dwex;      /* [N, word_emb] */
    int *tids;              /* [Tl * S] text ids time major */
    float *ly;              /* [Tl, S, lm_fdim] forward states, then the backward ones */
    float *lyb;             /* inside ly: [Tl, S, lm_dim - lm_fdim] of the last lm_forward */
    float *wx, *dwx, *xmask;/* [Tw, S, din] word BiLSTM input, its gradient, dropout mask */
    int *slen, *row;        /* [S] sentence lengths; [N] row (t * S + s) of each word */
    float *wy, *dwy, *ymask;/* [Tw, S, 2 * word_hidden] */
    float *logits;          /* [Tw * S, ntags] */
    cl_linear_mm *out;      /* the output layer's products on oneDNN (t->mm), or NULL: OpenBLAS */
    int *targets;           /* [Tw * S] */
} cl_tagger_ws;

/* Distinct words of a data set, for inference without LM features: a word's
 * input to the word BiLSTM ([char states | features | word]) and that
 * input's projection by W_ih then depend on the word alone, not on its place
 * (cl_tagger_types.c).  Between cl_tagger_types_begin and cl_tagger_types_end
 * predictions over that data compute each distinct word's projections once
 * and keep them in proj, at most `cap` words (all dropped when it is full),
 * so the word BiLSTM runs only its recurrences per word of text. */
typedef struct {
    const cl_tagger_data *x; /* the data it serves; NULL: off */
    int ntypes, cap, used;   /* distinct words; rows of proj, rows in use */
    size_t row, dstride;     /* floats of a row of one direction; between directions */
    int *type;               /* [nwords] each word's distinct-word id */
    int *rep;                /* [ntypes] one word of each */
    int *slot;               /* [ntypes] its row of proj, -1: none */
    int *held;               /* [cap] the distinct word in each row */
    int *miss, *reps;        /* [cap] distinct words to compute, one word of each */
    float *proj;             /* [dirs][cap + CL_TAGGER_TYPES_ROUND][G * word_hidden] x W_ih^T */
    const void *converted;   /* the word BiLSTM whose W_ih copy is made (NULL: none) */
} cl_tagger_types;

/* Products over distinct words are rounded up to a multiple of this many
 * rows: each new number of rows is a new oneDNN primitive, and compiling one
 * cost more than the product. */
#define CL_TAGGER_TYPES_ROUND 32

struct cl_tagger {
    cl_model *m;
    const cl_tagger_config *cfg;
    cl_tagger_map words, forms, tags;
    int i_cemb, i_crnn, i_femb, i_wemb, i_wrnn, i_ow, i_ob; /* tensor indices */
    cl_rnn_config crnn, wrnn;
    int din, lm_dim;        /* word BiLSTM input width; LM features' width (0 without LM) */
    int lm_fdim;            /* the forward LM's part of them (use_lm) */
    int mm;                 /* products through oneDNN in precision prec; 0: OpenBLAS */
    int infer;              /* workspaces for prediction only (cl_tagger_set_inference) */
    cl_precision prec;
    cl_tagger_ws ws;
    /* The encoder is frozen, so its state at each word's last character never
     * changes: training computes it once per data set (cl_tagger_lm_cache)
     * instead of re-reading every sentence's text every epoch.  lmc[i] is
     * [lmc_x[i]->nwords, lm_dim], owned by the trainer; NULL = no cache. */
    const cl_tagger_data *lmc_x[2];
    float *lmc[2];
    cl_tagger_types types;
};

/* Turn the distinct-word cache on for predictions over x (without LM
 * features; otherwise nothing happens) with room for cap words (0: a
 * default of about 16 MB), until cl_tagger_types_end, which must come
 * before x is freed.  0 or CL_ENOMEM. */
int cl_tagger_types_begin(cl_tagger *t, const cl_tagger_data *x, int cap);
void cl_tagger_types_end(cl_tagger *t);
void cl_tagger_types_free(cl_tagger_types *c);
/* Make sure the distinct words of words[0..n) have their rows in the cache:
 * the types missing are in miss[0..*nmiss) (each once, slot -2), after
 * dropping every row when they would not fit; the caller computes them
 * and gives them rows with cl_tagger_types_hold.  Needs n <= cap. */
void cl_tagger_types_missing(cl_tagger_types *c, const int *words, int n, int *nmiss);
/* Rows used + i for miss[i], i < n. */
void cl_tagger_types_hold(cl_tagger_types *c, const int *miss, int n);

/* From now on t only predicts: its workspaces leave out what training needs
 * (gradients, dropout masks, the stacks' backward buffers), about half the
 * memory, every byte of which was zeroed at each (re)allocation;
 * cl_tagger_forward with train then fails. */
void cl_tagger_set_inference(cl_tagger *t);

/* Room reserved in advance for batches of up to N words, S sentences, Tc
 * chars per word, Tw words per sentence and Tl text chars; (re)allocates
 * when the current one is smaller.  Word and text positions (Tw x S, Tl x S)
 * are clipped to a fixed budget: a larger batch gets room of its own shape
 * in cl_tagger_forward, so memory is linear in the batch's words. */
int cl_tagger_ws_reserve(cl_tagger *t, int N, int S, int Tc, int Tw, int Tl);
void cl_tagger_ws_free(cl_tagger_ws *ws);
/* Shape of a batch of sentences. */
void cl_tagger_batch_shape(const cl_tagger_data *data, const int *sents, int ns, int *N, int *Tc,
                           int *Tw, int *Tl);
/* Forward over a batch; train != 0 applies dropout (rng) and keeps what
 * backward needs.  Returns the summed loss over words with a gold tag and
 * their count in *count (0 when the data has no gold tags). */
double cl_tagger_forward(cl_tagger *t, const cl_tagger_data *data, const int *sents, int ns,
                         int train, cl_rng *rng, long *count);
/* Gradients of the mean loss of the last training forward, added to the
 * head's gradients. */
int cl_tagger_backward(cl_tagger *t, const cl_tagger_data *data, const int *sents, int ns);
/* LM features of every word of sentences sents[0..ns) into out[w * lm_dim]
 * (word w of data): the forward encoder's state at its last character, then
 * the backward one's at its first; the workspace must fit the batch.  Needs
 * lm_dim > 0. */
int cl_tagger_lm_states(cl_tagger *t, const cl_tagger_data *data, const int *sents, int ns,
                        float *out);
/* Arg-max tags of the last forward into tags[w]. */
void cl_tagger_argmax(const cl_tagger *t, const cl_tagger_data *data, const int *sents, int ns,
                      int *tags);

/* Batches of at most `batch` sentences and max_words words (the char
 * BiLSTM's workspace, which keeps what training needs, grows with the words
 * of a batch: ~0.3 MB per word).  Training takes larger batches than tagging,
 * where 256 words already keep the matrix products efficient. */
#define TRAIN_BATCH_WORDS 1024
#define TAG_BATCH_WORDS 256

/* qsort has no context argument: sort (length, id) pairs instead. */
typedef struct {
    int len, id;
} len_id;

/* Sort ids[0..n) by sentence length (stable by id); tmp holds n pairs. */
void cl_tagger_sort_by_length(const cl_tagger_data *x, int *ids, int n, len_id *tmp);
/* End of the batch that starts at order[b]: at most `batch` sentences and
 * max_words words (a single longer sentence is a batch of its own). */
int cl_tagger_next_batch(const cl_tagger_data *x, const int *order, int b, int S, int batch,
                         int max_words);
/* Reserve the workspace for the largest of those batches of order[0..S). */
int cl_tagger_reserve_batches(cl_tagger *t, const cl_tagger_data *x, const int *order, int S,
                              int batch, int max_words);

#endif
