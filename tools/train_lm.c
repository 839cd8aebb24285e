/* train_lm: "charlstm train --task lm": a character language model on any
 * number of plain-text files of any size.
 *
 * Files written: -o MODEL gets the best model on the validation text (the
 * latest one when there is none), MODEL.last the latest one together with
 * the optimizer and training state that --resume needs.  Both are saved
 * atomically, so a crash or Ctrl-C never leaves a broken model behind.
 *
 * --direction backward trains the backward language model (the text read
 * right to left, section head.lm_backward); both trains the two side by
 * side in one run (one budget, one resume file).  A file with a backward
 * model only keeps a placeholder encoder in the forward one's place. */
#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cl_lmtrain.h"
#include "cl_tagger.h" /* cl_tagger_tiny_encoder: the placeholder encoder */
#include "cli_util.h"
#include "train_job.h"

#define CMD "train"

typedef struct {
    const train_opts *o;
    cl_model *m;
    cl_lmtrain *t;
    cl_text_opts text;
} lm_run;

/* ==== data ================================================================= */

/* what: "training" or "validation", for the message. */
static int open_corpus(const lm_run *r, const char *const *paths, int n, const char *what,
                       cl_corpus **c)
{
    cl_diag d = {{0}};
    int err = cl_corpus_open(c, paths, n, &r->text, &d);
    return err ? cli_fail(CMD, err, &d, "cannot read the %s text", what) : 0;
}

static int build_vocab(const lm_run *r, cl_corpus *c, cl_vocab *v)
{
    cl_vocab_builder b;
    cl_diag d = {{0}};
    int err = cl_vocab_builder_init(&b);
    err = err ? err : cl_vocab_builder_add_corpus(&b, c, &d);
    err = err ? err : cl_vocab_build(v, &b, r->o->max_vocab, r->o->min_count);
    cl_vocab_builder_free(&b);
    return err ? cli_fail(CMD, err, &d, "cannot build the character vocabulary") : 0;
}

/* Training ids of the whole corpus (on disk), and the dev ids: --dev, a
 * held-out tail of the training text, or none. */
static int load_ids(lm_run *r, cl_corpus *c, cl_ids *train, cl_ids *dev)
{
    cl_diag d = {{0}};
    int64_t unk = 0;
    cl_ids all;
    int err = cl_corpus_rewind(c);
    err = err ? err : cl_ids_from_corpus(&all, c, cl_model_vocab(r->m), NULL, &unk, &d);
    if (err)
        return cli_fail(CMD, err, &d, "cannot prepare the training text");
    int64_t ndev = r->o->dev ? 0 : (int64_t)((double)all.n * r->o->dev_fraction);
    cl_ids_view(train, &all, 0, all.n - ndev);
    cl_ids_view(dev, &all, all.n - ndev, ndev);
    cl_ids_release(&all);
    if (unk && !r->o->quiet)
        fprintf(stderr, "charlstm train: %lld training characters are not in the vocabulary "
                        "(mapped to the unknown symbol)\n", (long long)unk);
    if (!r->o->dev)
        return 0;
    cl_corpus *dc;
    cl_ids_release(dev);
    if (open_corpus(r, &r->o->dev, 1, "validation", &dc))
        return 1;
    err = cl_ids_from_corpus(dev, dc, cl_model_vocab(r->m), NULL, &unk, &d);
    cl_corpus_close(dc);
    return err ? cli_fail(CMD, err, &d, "cannot prepare %s", r->o->dev) : 0;
}

/* ==== model ================================================================ */

static int wants(const train_opts *o, cl_lm_dir dir)
{
    return o->direction == DIRECTION_BOTH ||
           o->direction == (dir == CL_LM_BACKWARD ? DIRECTION_BACKWARD : DIRECTION_FORWARD);
}

/* The encoder the options describe, over vocabulary size V. */
static cl_encoder_config options_encoder(const train_opts *o, int V)
{
    cl_encoder_config ec = {V, o->emb, {o->cell == CELL_GRU ? CL_CELL_GRU : CL_CELL_LSTM, o->emb,
                                        o->hidden, o->layers, 0, (float)o->dropout}};
    return ec;
}

/* head.lm_backward with encoder ec, initialised from rng. */
static int add_backward(lm_run *r, const cl_encoder_config *ec, cl_rng *rng)
{
    return cl_model_add_head(r->m, &cl_lm_backward_head_ops,
                             cl_lm_backward_new(ec, (float)r->o->dropout), rng);
}

static int new_model(lm_run *r, cl_corpus *c)
{
    const train_opts *o = r->o;
    cl_vocab v;
    if (o->bidir > 0) /* before the vocabulary, which would leak */
        return cli_error(CMD, "a language model predicts the next character: --bidir does not "
                              "apply to --task lm (--direction backward or both trains a "
                              "backward one)");
    if (build_vocab(r, c, &v))
        return 1;
    cl_encoder_config ec = options_encoder(o, cl_vocab_size(&v));
    /* A file always has an encoder: without a forward LM, the smallest. */
    cl_encoder_config main = wants(o, CL_LM_FORWARD) ? ec : cl_tagger_tiny_encoder(ec.vocab);
    cl_rng rng;
    cl_rng_seed(&rng, (uint64_t)o->seed);
    int err = cl_model_create(&r->m, &r->text, &v, &main, &rng);
    if (!err && wants(o, CL_LM_FORWARD))
        err = cl_model_add_head(r->m, &cl_lm_head_ops, cl_lm_head_new((float)o->dropout), &rng);
    if (!err && wants(o, CL_LM_BACKWARD))
        err = add_backward(r, &ec, &rng);
    cl_vocab_free(&v);
    return err ? cli_fail(CMD, err, NULL, "cannot create the model") : 0;
}

/* --init: the language models the run trains that path lacks.  A new
 * backward one mirrors the file's forward one (size and cell), so that the
 * two read the text alike; without one, the options say. */
static int add_missing(lm_run *r, const char *path)
{
    int err = CL_OK;
    cl_rng rng;
    cl_rng_seed(&rng, (uint64_t)r->o->seed);
    int fwd = cl_lm_encoder_of(r->m, CL_LM_FORWARD) != NULL;
    if (wants(r->o, CL_LM_FORWARD) && !fwd) {
        if (cl_lm_encoder_of(r->m, CL_LM_BACKWARD))
            return cli_error(CMD, "%s holds a backward language model only (its encoder is a "
                             "placeholder): train the forward one first and add the backward "
                             "one with --direction backward --init FORWARD.model", path);
        err = cl_model_add_head(r->m, &cl_lm_head_ops, cl_lm_head_new((float)r->o->dropout), &rng);
    }
    if (!err && wants(r->o, CL_LM_BACKWARD) && !cl_lm_encoder_of(r->m, CL_LM_BACKWARD)) {
        cl_encoder_config ec = fwd ? *cl_model_encoder(r->m)
                                   : options_encoder(r->o, cl_model_encoder(r->m)->vocab);
        err = add_backward(r, &ec, &rng);
    }
    return err ? cli_fail(CMD, err, NULL, "cannot add a language-model head") : 0;
}

/* --init or --resume: the model (and its text settings) come from a file. */
static int load_model(lm_run *r, const char *path, cl_ckpt **ck)
{
    cl_diag d = {{0}};
    int err = cl_model_load(&r->m, path, ck, &d);
    if (err)
        return cli_fail(CMD, err, &d, "cannot load %s", path);
    r->text = *cl_model_text(r->m);
    r->text.replace_invalid = r->o->replace_invalid;
    return add_missing(r, path);
}

/* ==== the run ============================================================== */

static int run_task(lm_run *r, const cl_ids *train, const cl_ids *dev, const cl_ckpt *ck)
{
    const train_opts *o = r->o;
    cl_lmtrain_config c = cl_lmtrain_defaults();
    c.batch = o->batch, c.seq = o->seq, c.threads = o->threads;
    c.shares = train_job_shares(o);
    c.reg = (cl_encoder_reg){{o->locked_dropout, (float)o->weight_drop}, (float)o->embed_dropout};
    c.state_reset = (float)o->state_reset;
    c.dirs = (wants(o, CL_LM_FORWARD) ? CL_LMTRAIN_FORWARD : 0) |
             (wants(o, CL_LM_BACKWARD) ? CL_LMTRAIN_BACKWARD : 0);
    cl_diag d = {{0}};
    int err = cl_lmtrain_create(&r->t, r->m, &c, train, dev, &d);
    if (err)
        return cli_fail(CMD, err, &d, "cannot start training");
    train_job j = {.o = o, .m = r->m, .task = cl_lmtrain_task(r->t), .unit = "chars",
                   .metric = "valid", .resume = ck};
    j.ngroups = cl_lmtrain_groups(r->t, (float)o->lr, j.groups);
    return train_job_run(&j);
}

static void describe(const lm_run *r, const cl_ids *train, const cl_ids *dev)
{
    cl_lm_dir dir = wants(r->o, CL_LM_FORWARD) ? CL_LM_FORWARD : CL_LM_BACKWARD;
    const cl_encoder_config *e = cl_lm_encoder_of(r->m, dir);
    train_job_describe(r->o, "%s%d x %d %s, embedding %d, vocabulary %d, %zu parameters; %lld "
                       "training and %lld validation characters",
                       r->o->direction == DIRECTION_BOTH ? "forward and backward LMs, each "
                       : dir == CL_LM_BACKWARD ? "backward LM, " : "", e->rnn.layers,
                       e->rnn.hidden, e->rnn.cell == CL_CELL_GRU ? "GRU" : "LSTM", e->emb,
                       e->vocab, cl_model_nparams(r->m), (long long)train->n,
                       (long long)dev->n);
}

static int train_with(lm_run *r)
{
    const train_opts *o = r->o;
    cl_corpus *c = NULL;
    cl_ckpt *ck = NULL;
    cl_ids train = {0}, dev = {0};
    const char *from = o->resume ? o->resume : o->init;
    int rc = from ? load_model(r, from, o->resume ? &ck : NULL) : 0;
    rc = rc ? rc : open_corpus(r, o->train.v, o->train.n, "training", &c);
    rc = rc || from ? rc : new_model(r, c);
    rc = rc ? rc : load_ids(r, c, &train, &dev);
    cl_corpus_close(c);
    if (!rc)
        describe(r, &train, &dev);
    rc = rc ? rc : run_task(r, &train, &dev, ck);
    cl_ids_release(&train);
    cl_ids_release(&dev);
    cl_ckpt_free(ck);
    return rc;
}

int train_lm(const train_opts *o)
{
    lm_run r = {.o = o};
    r.text = train_job_text(o);
    int rc = train_with(&r);
    cl_lmtrain_free(r.t);
    cl_model_free(r.m);
    return rc;
}
