/* cl_tagger: the part-of-speech tagger head ("head.tagger") — character
 * features, network, training, tagging and scoring.
 *
 * Word representation (one row per word):
 *     char BiLSTM final states over the word's characters   [2 * char_hidden]
 *   ⊕ charfeat embeddings, one per slot (cl_feat.h)         [CL_FEAT_SLOTS * feat_emb]
 *   ⊕ embedding of the lower-cased word (frequent words)    [word_emb]
 *   ⊕ (use_lm) the model encoder's forward state at the word's last character,
 *     reading "\n" + the words joined by single spaces (Flair's contextual
 *     string embeddings); the encoder is frozen: no gradient flows into it.
 *   ⊕ (use_lm_backward) the backward LM's state after it read the word's
 *     first character (head.lm_backward, reading "\n" and then the words
 *     right to left), also frozen; both: Flair's concatenation.
 * then a word-level BiLSTM (word_layers) and a softmax over the tag set.
 * Training uses word dropout (a word id becomes unknown), character dropout
 * (a character id becomes unknown) and dropout on the BiLSTM input and output.
 *
 * Tensors "head.tagger.char_embed" [V, char_emb] (V = the model's character
 * vocabulary), "head.tagger.char_rnn.*", "head.tagger.feat_embed" [buckets,
 * feat_emb], "head.tagger.word_embed" [nwords + 1, word_emb],
 * "head.tagger.word_rnn.*", "head.tagger.out_weight" [ntags, 2 * word_hidden],
 * "head.tagger.out_bias" [ntags].  The section also holds the tag set, the
 * frequent-word list, every training form (for the unseen-word metric), the
 * charfeat settings and all dimensions.
 *
 * Data flows in three stages: a cl_tagger_corpus holds sentences as strings
 * (from CoNLL-U or a tokenizer); cl_tagger_data_prepare turns it into ids for
 * one tagger; cl_tagger_predict / cl_tagger_train / cl_tagger_evaluate run on
 * the ids.
 *
 * Memory: a cl_tagger's workspace is sized for the largest batch seen so far
 * and grows (between calls, never inside a training step) when a batch needs
 * more; the trainer sizes it for its largest batch before the first step.
 * Words longer than max_word_chars characters are read by the char BiLSTM as
 * their first and last max_word_chars / 2 characters (affixes still see the
 * whole word). */
#ifndef CL_TAGGER_H
#define CL_TAGGER_H

#include <stdint.h>

#include "cl_feat.h"
#include "cl_model.h"
#include "cl_tok.h"
#include "cl_seg.h"
#include "cl_train.h"
#include "cl_api.h"

CL_API_BEGIN

/* ==== corpus: sentences as strings ====================================== */

typedef struct {
    int nsent, nwords;
    int *start;  /* [nsent + 1] index of each sentence's first word */
    char **form; /* [nwords] word forms (UTF-8) */
    char **tag;  /* [nwords] gold tags, NULL entries when unknown */
    int cap_s, cap_w;
} cl_tagger_corpus;

void cl_tagger_corpus_init(cl_tagger_corpus *c);
/* Append a sentence of n >= 1 words (copied); tags may be NULL. */
int cl_tagger_corpus_add(cl_tagger_corpus *c, const char *const *forms, const char *const *tags,
                         int n);
/* Forget every sentence, keeping the memory for reuse. */
void cl_tagger_corpus_clear(cl_tagger_corpus *c);
void cl_tagger_corpus_free(cl_tagger_corpus *c);
/* Append every sentence of a CoNLL-U file with the tags of column
 * CL_CONLLU_UPOS or CL_CONLLU_XPOS ("_" counts as unknown).  Errors name the
 * file and line (cl_conllu). */
int cl_tagger_corpus_read_conllu(cl_tagger_corpus *c, const char *path, int column, cl_diag *d);

/* ==== configuration: the head.tagger section ============================ */

typedef struct {
    int column;                   /* CL_CONLLU_UPOS or CL_CONLLU_XPOS: what the tags are */
    int ntags;  char **tags;      /* tag set, sorted (strcmp) */
    int nwords; char **words;     /* frequent lower-cased words: id i + 1 (0 = unknown) */
    int nforms; char **forms;     /* every training form, sorted, for "unseen" */
    cl_feat feat;                 /* charfeat settings (affixes on/off) */
    int char_emb, char_hidden;    /* char embedding, char BiLSTM units per direction */
    int max_word_chars;           /* characters the char BiLSTM reads per word */
    int feat_emb;                 /* embedding width of each charfeat slot */
    int word_emb;                 /* frequent-word embedding width */
    int word_hidden, word_layers; /* word BiLSTM */
    float dropout;                /* BiLSTM input/output and between layers */
    float word_dropout;           /* probability that a word id becomes unknown */
    float char_dropout;           /* probability that a char id becomes unknown */
    int use_lm;                   /* 1: the model encoder's states are an input */
    cl_seg_rules seg;             /* raw text: abbreviations and multiword tokens learned
                                   * from the training treebank (cl_seg_learn) */
    int use_lm_backward;          /* 1: the backward LM's states too (head.lm_backward;
                                   * key absent in older files = 0) */
} cl_tagger_config;

/* Whether the tagger reads language-model states (either direction). */
int cl_tagger_reads_lm(const cl_tagger_config *c);

/* Dimensions and dropouts of the default recipe; no tag or word lists. */
cl_tagger_config cl_tagger_config_defaults(void);
/* Fill tags, words (lower-cased forms seen >= min_word_count times) and
 * forms from a training corpus; CL_EEMPTY when it holds no tag. */
int cl_tagger_config_build(cl_tagger_config *cfg, const cl_tagger_corpus *train,
                           int min_word_count);
/* A deep copy (for cl_model_add_head, which takes ownership) or NULL. */
cl_tagger_config *cl_tagger_config_dup(const cl_tagger_config *cfg);
/* Free the lists (not cfg itself). */
void cl_tagger_config_clear(cl_tagger_config *cfg);
/* Free the lists and cfg (cl_head_ops.free_cfg). */
void cl_tagger_config_free(void *cfg);

extern const cl_head_ops cl_tagger_head_ops;

/* The character vocabulary of a tagger trained without a language model:
 * every character of the training forms, plus ' ' and '\n'.  Free with
 * cl_vocab_free. */
int cl_tagger_vocab_build(cl_vocab *v, const cl_tagger_corpus *train, const cl_text_opts *text,
                          cl_diag *d);
/* The encoder such a model carries (unused: use_lm = 0): the smallest valid one. */
cl_encoder_config cl_tagger_tiny_encoder(int vocab);

/* ==== runtime ============================================================ */

typedef struct cl_tagger cl_tagger;

/* The tagger of model m (which must have a head.tagger and must outlive t).
 * CL_ENOTFOUND when it has none.  Free with cl_tagger_free. */
int cl_tagger_create(cl_tagger **t, cl_model *m, cl_diag *d);
void cl_tagger_free(cl_tagger *t);
/* Run the products of t's recurrent stacks (char and word BiLSTMs, and the
 * encoder it reads) through oneDNN in precision p (cl_mm.h; auto resolved
 * here), now and in every workspace it makes later; without this call they
 * use OpenBLAS in fp32.  0, CL_EINVAL (bf16 on a CPU without it) or
 * CL_ENOMEM. */
int cl_tagger_set_precision(cl_tagger *t, cl_precision p);
const cl_tagger_config *cl_tagger_config_of(const cl_tagger *t);
/* Tag id of a tag string or -1; tag string of an id. */
int cl_tagger_tag_id(const cl_tagger *t, const char *tag);
const char *cl_tagger_tag_name(const cl_tagger *t, int id);

/* Sentences as ids for t: opaque, free with cl_tagger_data_free. */
typedef struct cl_tagger_data cl_tagger_data;
/* CL_EUTF8 (with the word's position in d) when a form is not valid UTF-8. */
int cl_tagger_data_prepare(cl_tagger_data **out, const cl_tagger *t, const cl_tagger_corpus *c,
                           cl_diag *d);
void cl_tagger_data_free(cl_tagger_data *data);
int cl_tagger_data_nsent(const cl_tagger_data *data);
int cl_tagger_data_nwords(const cl_tagger_data *data);
/* First word index of sentence s and its length. */
int cl_tagger_data_sent(const cl_tagger_data *data, int s, int *len);

/* Tag sentences sents[0..ns) of data in one batch: tags[w] gets the tag id
 * of every word w of those sentences (indexed as in the corpus).  Batches of
 * sentences of similar length waste least work. */
int cl_tagger_predict(cl_tagger *t, const cl_tagger_data *data, const int *sents, int ns,
                      int *tags);
/* The same, and probs [nwords, ntags] (indexed as tags; may be NULL) gets
 * every tag's probability for those words (NAN for the words of a
 * sentence too long to tag in one piece, which is tagged in windows). */
int cl_tagger_predict_probs(cl_tagger *t, const cl_tagger_data *data, const int *sents, int ns,
                            int *tags, float *probs);
/* Tag all of data as charlstm tag does (batches of at most `batch`
 * sentences of similar length, the workspace reserved once): tags[w] and,
 * when probs is not NULL, probs[w], the probability of the tag chosen for
 * word w (NAN for words of sentences tagged in windows). */
int cl_tagger_tag(cl_tagger *t, const cl_tagger_data *data, int batch, int *tags, float *probs);
/* Append line[0..len) (valid UTF-8) as one sentence of the words that tok
 * splits it into; nothing is added for a line without words.  *spans gets
 * the words' byte spans in line (malloc'd, caller frees; NULL when none),
 * *n their count. */
int cl_tagger_corpus_add_line(cl_tagger_corpus *c, const cl_tok *tok, const char *line,
                              size_t len, cl_tok_span **spans, size_t *n, cl_diag *d);

/* ==== scoring ============================================================= */

typedef struct {
    int ntags;
    long words, correct;          /* scored words (gold tag known) */
    long unseen, unseen_correct;  /* of those, forms absent from training */
    long unknown_gold;            /* gold tags outside the tag set (always wrong) */
    long *confusion;              /* [ntags * ntags]: gold row, predicted column */
} cl_tagger_eval;

/* Tag all of data (batches of `batch` sentences of similar length) and
 * score against its gold tags.  On success free e with cl_tagger_eval_free.
 * pred (may be NULL) gets every word's predicted tag id. */
int cl_tagger_evaluate(cl_tagger *t, const cl_tagger_data *data, int batch, cl_tagger_eval *e,
                       int *pred);
void cl_tagger_eval_free(cl_tagger_eval *e);
double cl_tagger_eval_accuracy(const cl_tagger_eval *e);
double cl_tagger_eval_unseen_accuracy(const cl_tagger_eval *e); /* NAN when none */

/* ==== training ============================================================ */

/* The tagger's task for the training core (cl_train): each epoch the
 * sentences are shuffled, sorted by length within windows of 20 batches (so
 * a batch holds sentences of similar length), cut into batches of at most
 * `batch` sentences and 1,024 words, and the batches shuffled.  The dev set
 * is scored by accuracy.  t, train and dev (may be NULL) stay the caller's
 * and must outlive the task; free with cl_tagger_task_free. */
typedef struct cl_tagger_task cl_tagger_task;
int cl_tagger_task_create(cl_tagger_task **k, cl_tagger *t, const cl_tagger_data *train,
                          const cl_tagger_data *dev, int batch, cl_diag *d);
void cl_tagger_task_free(cl_tagger_task *k);
/* Data-parallel: the shares of every batch's sentences this process
 * computes (cl_train_shares_check's rules). */
int cl_tagger_task_share(cl_tagger_task *k, cl_train_shares s, cl_diag *d);
cl_train_task cl_tagger_task_get(cl_tagger_task *k);
/* The group it trains, head.tagger at lr, into g[0]; returns 1.  The
 * encoder and the other heads stay as they are. */
int cl_tagger_task_groups(const cl_tagger_task *k, float lr, cl_train_group *g);

/* Train t's head with configuration c (no files, no hooks): for tests and
 * programs that want a tagger in memory.  On return the model holds the
 * best parameters seen on dev (the last without dev). */
int cl_tagger_train(cl_tagger *t, const cl_tagger_data *train, const cl_tagger_data *dev,
                    int batch, const cl_train_config *c, cl_diag *d);

CL_API_END
#endif
