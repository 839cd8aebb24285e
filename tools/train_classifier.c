/* train_classifier: "charlstm train --task classifier": a sentence
 * classifier on `label<TAB>text` lines, on top of a language model's encoder
 * (--init, fine-tuned at --encoder-lr or --freeze'd) or from scratch.
 *
 * The label set is whatever the training file holds, sorted.  The training
 * loop, the files and --resume are the training core's (train_job.c,
 * lib/cl_train.c). */
#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_util.h"
#include "train_classifier.h"
#include "train_job.h"

#define CMD "train"

/* ==== data ================================================================= */

static int read_tsv(const clf_run *r, const char *path, cl_clfdata *ds)
{
    cl_diag d = {{0}};
    int err = cl_clfdata_read_file(ds, path, &r->text, &d);
    return err ? cli_fail(CMD, err, &d, "cannot read %s", cli_in_name(path)) : 0;
}

/* Every training file, one after the other, into r->train. */
static int read_train(clf_run *r)
{
    const train_opts *o = r->o;
    if (read_tsv(r, o->train.v[0], &r->train))
        return 1;
    for (int i = 1; i < o->train.n; i++) {
        cl_clfdata more, both;
        if (read_tsv(r, o->train.v[i], &more))
            return 1;
        int err = cl_clfdata_concat(&r->train, &more, &both);
        cl_clfdata_free(&more);
        cl_clfdata_free(&r->train);
        r->train = both;
        if (err)
            return cli_fail(CMD, err, NULL, "cannot read %s", cli_in_name(o->train.v[i]));
    }
    return 0;
}

/* Training data, and dev data from --dev or held out of it (--dev-fraction;
 * with --cv each fold holds out its own). */
static int read_data(clf_run *r)
{
    const train_opts *o = r->o;
    if (read_train(r))
        return 1;
    if (o->dev)
        return read_tsv(r, o->dev, &r->dev);
    if (o->dev_fraction <= 0 || o->cv)
        return 0;
    cl_clfdata all = r->train;
    cl_rng rng;
    cl_rng_seed(&rng, (uint64_t)o->seed ^ 0xde5ULL);
    int err = cl_clfdata_split(&all, o->dev_fraction, &rng, &r->train, &r->dev);
    cl_clfdata_free(&all);
    return err ? cli_fail(CMD, err, NULL, "cannot hold out dev data") : 0;
}

/* ==== model ================================================================ */

static int build_vocab(const clf_run *r, cl_vocab *v)
{
    cl_vocab_builder b;
    int err = cl_vocab_builder_init(&b);
    if (!err)
        cl_vocab_builder_add(&b, r->train.cps, r->train.off[r->train.n]);
    err = err ? err : cl_vocab_build(v, &b, r->o->max_vocab, r->o->min_count);
    cl_vocab_builder_free(&b);
    return err ? cli_fail(CMD, err, NULL, "cannot build the character vocabulary") : 0;
}

/* Without --init: vocabulary from the training texts and a fresh encoder. */
static int new_model(clf_run *r, cl_rng *rng)
{
    const train_opts *o = r->o;
    cl_vocab v;
    if (build_vocab(r, &v))
        return 1;
    cl_encoder_config ec = {cl_vocab_size(&v), o->emb,
                            {o->cell == CELL_GRU ? CL_CELL_GRU : CL_CELL_LSTM, o->emb, o->hidden,
                             o->layers, o->bidir, (float)o->dropout}};
    if (o->no_encoder) /* a file always has an encoder: the smallest, never run */
        ec.emb = ec.rnn.input = ec.rnn.hidden = ec.rnn.layers = 1, ec.rnn.bidir = 0;
    int err = cl_model_create(&r->m, &r->text, &v, &ec, rng);
    cl_vocab_free(&v);
    return err ? cli_fail(CMD, err, NULL, "cannot create the model") : 0;
}

static int load_model(clf_run *r)
{
    cl_diag d = {{0}};
    const char *from = r->o->resume ? r->o->resume : r->o->init;
    int err = cl_model_load(&r->m, from, r->o->resume ? &r->ck : NULL, &d);
    if (err)
        return cli_fail(CMD, err, &d, "cannot load %s", from);
    if (r->o->init && r->o->bidir > 0 && !cl_model_encoder(r->m)->rnn.bidir)
        return cli_error(CMD, "--bidir: the encoder of %s is unidirectional (it is used as it is)",
                         r->o->init);
    return 0;
}

/* The classifier head with the training file's labels (replacing any). */
static int add_head(clf_run *r, cl_rng *rng)
{
    const char **labels;
    cl_classifier_config *c = NULL;
    cl_diag d = {{0}};
    int err = cl_clfdata_sorted_labels(&r->train, &labels);
    err = err ? err : cl_classifier_config_new(&c, labels, r->train.nlabels, &d);
    free(labels);
    if (err)
        return cli_fail(CMD, err, &d, "%s", cli_in_name(r->o->train.v[0]));
    c->dropout = (float)r->o->dropout, c->frozen = r->o->freeze;
    c->ngram = r->o->ngram, c->ngram_bits = r->o->ngram_bits;
    c->ngram_dropout = (float)r->o->ngram_dropout;
    c->ngram_chars = r->o->ngram ? r->o->ngram_chars : 0, c->nbsvm = r->o->nbsvm;
    if (r->o->no_encoder) /* the linear part alone: no pooled states, no tanh layer */
        c->pool = 0, c->hidden = 0, c->ngram_dropout = 0;
    /* Standardise a pretrained encoder's states (large common offsets,
     * small spread); a fresh encoder's are not worth it: fixed from its
     * random start, the scales blow up as it learns (measured: 64% vs 70%
     * dev after 8 epochs, bidirectional 1 x 128, no n-grams). */
    c->norm = r->o->init != NULL;
    err = cl_model_add_head(r->m, &cl_classifier_head_ops, c, rng);
    return err ? cli_fail(CMD, err, NULL, "cannot add the classifier head") : 0;
}

static int encode_data(clf_run *r)
{
    cl_diag d = {{0}};
    int err = cl_clfdata_encode(&r->train, r->m, &d);
    if (!err && r->dev.n)
        err = cl_clfdata_encode(&r->dev, r->m, &d);
    return err ? cli_fail(CMD, err, &d, "cannot prepare the data") : 0;
}

/* ==== the run ============================================================== */

static void describe(const clf_run *r)
{
    const cl_encoder_config *e = cl_model_encoder(r->m);
    const cl_classifier_config *c = cl_model_head(r->m, "head.classifier");
    train_job_describe(r->o, "%s%d x %d %s encoder (%s), %d labels; %d training and %d dev "
                       "sentences; %zu unknown characters", e->rnn.bidir ? "bidirectional " : "",
                       e->rnn.layers, e->rnn.hidden, e->rnn.cell == CL_CELL_GRU ? "GRU" : "LSTM",
                       r->o->freeze ? "frozen" : r->o->init ? "fine-tuned" : "from scratch",
                       c->nlabels, r->train.n, r->dev.n, r->train.unknown + r->dev.unknown);
}

int clf_start(clf_run *r)
{
    const train_opts *o = r->o;
    cl_clftrain_config c = cl_clftrain_defaults();
    c.batch = o->batch, c.freeze = o->freeze, c.class_weights = o->class_weights;
    c.shares = train_job_shares(o), c.nbsvm_lr = (float)o->nbsvm_lr;
    cl_diag d = {{0}};
    int err = cl_clftrain_create(&r->t, r->m, &c, &r->train, r->dev.n ? &r->dev : NULL, &d);
    return err ? cli_fail(CMD, err, &d, "cannot start training") : 0;
}

static int run_task(clf_run *r)
{
    const train_opts *o = r->o;
    if (clf_start(r))
        return CLI_EXIT_FAIL;
    train_job j = {.o = o, .m = r->m, .task = cl_clftrain_task(r->t), .unit = "sentences",
                   .metric = "dev accuracy", .metric_percent = 1, .resume = r->ck};
    j.ngroups = cl_clftrain_groups(r->t, (float)o->lr, (float)o->encoder_lr, j.groups);
    return train_job_run(&j);
}

int clf_build(clf_run *r, cl_rng *rng)
{
    int rc = r->m ? 0 : r->o->init ? load_model(r) : new_model(r, rng);
    rc = rc ? rc : add_head(r, rng);
    return rc ? rc : encode_data(r);
}

static int train_with(clf_run *r)
{
    const train_opts *o = r->o;
    cl_rng rng;
    cl_rng_seed(&rng, (uint64_t)o->seed);
    int loaded = o->init || o->resume;
    int rc = loaded ? load_model(r) : 0; /* its text options read the data */
    if (!rc && loaded)
        r->text = *cl_model_text(r->m), r->text.replace_invalid = o->replace_invalid;
    rc = rc ? rc : read_data(r);
    if (!rc && o->cv)
        return train_classifier_cv(r);
    if (!rc && o->resume)
        rc = encode_data(r);
    else if (!rc)
        rc = clf_build(r, &rng);
    if (!rc)
        describe(r);
    return rc ? rc : run_task(r);
}

int train_classifier(const train_opts *o)
{
    clf_run r = {.o = o};
    r.text = train_job_text(o);
    int rc = train_with(&r);
    cl_clftrain_free(r.t);
    cl_clfdata_free(&r.train);
    cl_clfdata_free(&r.dev);
    cl_model_free(r.m);
    cl_ckpt_free(r.ck);
    return rc;
}
