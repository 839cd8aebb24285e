/* train_tagger: "charlstm train --task tagger": a part-of-speech tagger on
 * CoNLL-U files.
 *
 * Without --init the model gets a character vocabulary from the training
 * words and a tiny unused encoder (head.tagger's use_lm = 0).  With --init
 * LM the language model's file is loaded and head.tagger is added next to
 * its encoder and head.lm, which stay as they are: the tagger reads the
 * frozen encoder's states (and those of head.lm_backward when the file has
 * a backward language model).  The training loop, the files and --resume are
 * the training core's (train_job.c, lib/cl_train.c). */
#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cl_conllu.h"
#include "cl_lm.h"
#include "cl_tagger.h"
#include "cli_util.h"
#include "train_job.h"

#define CMD "train"

typedef struct {
    const train_opts *o;
    cl_model *m;
    cl_tagger *t;
    cl_tagger_corpus train, dev;
    cl_tagger_data *dtrain, *ddev;
    cl_ckpt *ck; /* --resume: the MODEL.last file */
} tagger_run;

/* ==== data ================================================================= */

static int column(const train_opts *o)
{
    return o->column == COLUMN_XPOS ? CL_CONLLU_XPOS : CL_CONLLU_UPOS;
}

/* The last dev_fraction of the training sentences become the dev set. */
static int split_dev(tagger_run *r)
{
    cl_tagger_corpus *c = &r->train;
    int ndev = (int)(c->nsent * r->o->dev_fraction), first = c->nsent - ndev;
    for (int s = first; s < c->nsent; s++) {
        int b = c->start[s], n = c->start[s + 1] - b;
        if (cl_tagger_corpus_add(&r->dev, (const char *const *)c->form + b,
                                 (const char *const *)c->tag + b, n))
            return cli_error(CMD, "out of memory");
    }
    for (int w = c->start[first]; w < c->nwords; w++)
        free(c->form[w]), free(c->tag[w]);
    c->nwords = c->start[first], c->nsent = first;
    return 0;
}

static int read_corpora(tagger_run *r)
{
    const train_opts *o = r->o;
    cl_diag d = {{0}};
    for (int i = 0; i < o->train.n; i++) {
        int err = cl_tagger_corpus_read_conllu(&r->train, o->train.v[i], column(o), &d);
        if (err)
            return cli_fail(CMD, err, &d, "cannot read %s", o->train.v[i]);
    }
    if (r->train.nsent == 0)
        return cli_error(CMD, "the training files hold no sentence");
    if (o->dev) {
        int err = cl_tagger_corpus_read_conllu(&r->dev, o->dev, column(o), &d);
        if (err)
            return cli_fail(CMD, err, &d, "cannot read %s", o->dev);
        return r->dev.nsent ? 0 : cli_error(CMD, "%s: the dev file holds no sentence", o->dev);
    }
    return o->dev_fraction > 0 ? split_dev(r) : 0;
}

/* ==== model ================================================================ */

static int head_config(tagger_run *r, cl_tagger_config **out)
{
    const train_opts *o = r->o;
    cl_tagger_config c = cl_tagger_config_defaults();
    c.column = column(o);
    c.word_hidden = o->hidden, c.word_layers = o->layers, c.char_emb = o->emb;
    c.dropout = (float)o->dropout;
    c.feat.affixes = !o->no_affixes;
    /* --init: every language model of the file (Flair: forward state after
     * the word, backward state before it); a file with a backward one only
     * has a placeholder encoder, whose states are not read. */
    const cl_lm_backward_config *back = o->init ? cl_model_head(r->m, CL_LM_BACKWARD_SECTION) : NULL;
    c.use_lm_backward = back != NULL;
    c.use_lm = o->init && (!back || cl_model_head(r->m, CL_LM_SECTION));
    int err = cl_tagger_config_build(&c, &r->train, 2);
    err = err ? err : cl_seg_learn(&c.seg, (const char *const *)o->train.v, o->train.n, NULL);
    *out = err ? NULL : cl_tagger_config_dup(&c);
    cl_tagger_config_clear(&c);
    if (err == CL_EEMPTY)
        return cli_error(CMD, "the training files have no %s tags", o->column ? "XPOS" : "UPOS");
    return err || !*out ? cli_fail(CMD, err ? err : CL_ENOMEM, NULL, "building the tag set") : 0;
}

static int base_model(tagger_run *r, cl_rng *rng)
{
    const train_opts *o = r->o;
    cl_diag d = {{0}};
    if (o->init) {
        int err = cl_model_load(&r->m, o->init, NULL, &d);
        if (err)
            return cli_fail(CMD, err, &d, "cannot load %s", o->init);
        const cl_encoder_config *b = cl_lm_encoder_of(r->m, CL_LM_BACKWARD);
        if (cl_model_encoder(r->m)->rnn.bidir || cl_model_encoder(r->m)->rnn.cell != CL_CELL_LSTM ||
            (b && b->rnn.cell != CL_CELL_LSTM))
            return cli_error(CMD, "%s: --init needs LSTM language models (forward, backward or "
                             "both)", o->init);
        return 0;
    }
    cl_text_opts text = train_job_text(o);
    cl_vocab v;
    int err = cl_tagger_vocab_build(&v, &r->train, &text, &d);
    if (err)
        return cli_fail(CMD, err, &d, "cannot build the character vocabulary");
    cl_encoder_config ec = cl_tagger_tiny_encoder(cl_vocab_size(&v));
    err = cl_model_create(&r->m, &text, &v, &ec, rng);
    cl_vocab_free(&v);
    return err ? cli_fail(CMD, err, NULL, "cannot create the model") : 0;
}

/* A new tagger head on the base model, or the one of the run resumed. */
static int head_model(tagger_run *r, cl_rng *rng)
{
    cl_diag d = {{0}};
    if (r->o->resume) {
        int err = cl_model_load(&r->m, r->o->resume, &r->ck, &d);
        return err ? cli_fail(CMD, err, &d, "cannot load %s", r->o->resume) : 0;
    }
    cl_tagger_config *cfg;
    if (base_model(r, rng) || head_config(r, &cfg))
        return 1;
    int err = cl_model_add_head(r->m, &cl_tagger_head_ops, cfg, rng);
    return err ? cli_fail(CMD, err, NULL, "cannot add the tagger head") : 0;
}

static int build_model(tagger_run *r)
{
    cl_rng rng;
    cl_rng_seed(&rng, (uint64_t)r->o->seed);
    if (head_model(r, &rng))
        return 1;
    cl_diag d = {{0}};
    int err = cl_tagger_create(&r->t, r->m, &d);
    if (err)
        return cli_fail(CMD, err, &d, "cannot create the tagger");
    err = cl_tagger_data_prepare(&r->dtrain, r->t, &r->train, &d);
    if (err)
        return cli_fail(CMD, err, &d, "cannot prepare the training data");
    if (r->dev.nsent && (err = cl_tagger_data_prepare(&r->ddev, r->t, &r->dev, &d)))
        return cli_fail(CMD, err, &d, "cannot prepare the dev data");
    return 0;
}

/* ==== the run ============================================================== */

static void describe(const tagger_run *r)
{
    const cl_tagger_config *c = cl_tagger_config_of(r->t);
    train_job_describe(r->o, "tagger with %d tags, %d frequent words, %d characters%s%s; %zu "
                       "parameters; %d training and %d dev sentences", c->ntags, c->nwords,
                       cl_vocab_size(cl_model_vocab(r->m)), !c->use_lm_backward ? c->use_lm ? ", LM states" : ""
                       : c->use_lm ? ", forward and backward LM states" : ", backward LM states",
                       c->feat.affixes ? "" : ", no affixes", cl_model_nparams(r->m), r->train.nsent,
                       r->dev.nsent);
}

static int run_task(tagger_run *r)
{
    cl_tagger_task *k;
    cl_diag d = {{0}};
    int err = cl_tagger_task_create(&k, r->t, r->dtrain, r->ddev, r->o->batch, &d);
    if (!err && (err = cl_tagger_task_share(k, train_job_shares(r->o), &d)) != CL_OK)
        cl_tagger_task_free(k);
    if (err)
        return cli_fail(CMD, err, &d, "cannot start training");
    train_job j = {.o = r->o, .m = r->m, .task = cl_tagger_task_get(k), .unit = "words",
                   .metric = "dev accuracy", .metric_percent = 1, .resume = r->ck};
    j.ngroups = cl_tagger_task_groups(k, (float)r->o->lr, j.groups);
    int rc = train_job_run(&j);
    cl_tagger_task_free(k);
    return rc;
}

int train_tagger(const train_opts *o)
{
    tagger_run r = {.o = o};
    cl_tagger_corpus_init(&r.train);
    cl_tagger_corpus_init(&r.dev);
    int rc = read_corpora(&r);
    rc = rc ? rc : build_model(&r);
    if (!rc)
        describe(&r);
    rc = rc ? rc : run_task(&r);
    cl_tagger_data_free(r.dtrain), cl_tagger_data_free(r.ddev);
    cl_tagger_corpus_free(&r.train), cl_tagger_corpus_free(&r.dev);
    cl_tagger_free(r.t);
    cl_model_free(r.m);
    cl_ckpt_free(r.ck);
    return rc;
}
