/* train_classifier: "charlstm train --task classifier": a sentence
 * classifier on `label<TAB>text` lines, on top of a language model's encoder
 * (--init, fine-tuned at --encoder-lr or --freeze'd) or from scratch.
 *
 * The dev set is scored after every epoch (--eval-every does not apply);
 * -o MODEL always holds the best model on it (the latest without dev data),
 * saved atomically after each improvement and once more at the end.  The
 * label set is whatever the training file holds, sorted.  --resume is not
 * supported: a classifier trains in minutes. */
#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cl_clftrain.h"
#include "cli_progress.h"
#include "cli_signal.h"
#include "cli_util.h"
#include "train_opts.h"

#define CMD "train"

typedef struct {
    const train_opts *o;
    cl_model *m;
    cl_text_opts text;
    cl_clfdata train, dev;
    cl_clftrain *t;
    cli_progress progress;
    FILE *log;
} clf_run;

/* ==== data ================================================================= */

static int read_tsv(const clf_run *r, const char *path, cl_clfdata *ds)
{
    cl_diag d = {{0}};
    int err = cl_clfdata_read_file(ds, path, &r->text, &d);
    return err ? cli_fail(CMD, err, &d, "cannot read %s", cli_in_name(path)) : 0;
}

/* Training data, and dev data from --dev or held out of it (--dev-fraction). */
static int read_data(clf_run *r)
{
    const train_opts *o = r->o;
    if (o->train.n != 1)
        return cli_error(CMD, "--task classifier takes one training file (got %d)", o->train.n);
    if (read_tsv(r, o->train.v[0], &r->train))
        return 1;
    if (o->dev)
        return read_tsv(r, o->dev, &r->dev);
    if (o->dev_fraction <= 0)
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
    int err = cl_model_create(&r->m, &r->text, &v, &ec, rng);
    cl_vocab_free(&v);
    return err ? cli_fail(CMD, err, NULL, "cannot create the model") : 0;
}

static int load_model(clf_run *r)
{
    cl_diag d = {{0}};
    int err = cl_model_load(&r->m, r->o->init, NULL, &d);
    if (err)
        return cli_fail(CMD, err, &d, "cannot load %s", r->o->init);
    if (r->o->bidir && !r->m->enc.rnn.bidir)
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

/* ==== hooks ================================================================ */

static int save_model(clf_run *r)
{
    cl_diag d = {{0}};
    int err = cl_model_save(r->m, r->o->output, NULL, NULL, &d);
    return err ? cli_fail(CMD, err, &d, "cannot save the model") : 0;
}

static int hook_save(int best, void *ctx)
{
    return best && save_model(ctx) ? CL_EIO : CL_OK;
}

static void hook_progress(const cl_clftrain_stats *s, void *ctx)
{
    clf_run *r = ctx;
    if (!r->o->quiet)
        cli_progress_update(&r->progress, s->step, (double)s->step * r->o->batch, s->train_loss);
}

static int hook_evaluated(const cl_clftrain_stats *s, const cl_clfeval_metrics *dev, void *ctx)
{
    clf_run *r = ctx;
    (void)dev;
    if (r->log) {
        fprintf(r->log, "%.2f\t%ld\t%.1f\t%.4f\t%.4f\t%.4f\n", s->epoch, s->step, s->elapsed,
                s->train_loss, s->dev_loss, s->dev_acc);
        fflush(r->log);
    }
    if (!r->o->quiet) {
        cli_progress_set_val(&r->progress, s->dev_loss);
        cli_progress_note(&r->progress, "epoch %.2f  train loss %.4f  dev loss %.4f  dev acc "
                          "%.2f%%%s", s->epoch, s->train_loss, s->dev_loss, 100 * s->dev_acc,
                          s->improved && r->dev.n ? "  (best, saved)" : "");
    }
    return 0;
}

static int hook_stop(void *ctx)
{
    (void)ctx;
    return cli_signal_stop_requested();
}

/* ==== the run ============================================================== */

static cl_clftrain_config trainer_config(const train_opts *o)
{
    cl_clftrain_config c = cl_clftrain_defaults();
    c.batch = o->batch, c.lr = (float)o->lr, c.encoder_lr = (float)o->encoder_lr;
    c.freeze = o->freeze, c.clip = (float)o->clip, c.class_weights = o->class_weights;
    c.max_epochs = o->epochs, c.max_steps = o->steps, c.max_seconds = o->minutes * 60;
    c.patience = o->patience, c.seed = (uint64_t)o->seed;
    return c;
}

static void describe(const clf_run *r)
{
    const cl_encoder_config *e = &r->m->enc;
    const cl_classifier_config *c = cl_model_head(r->m, "head.classifier");
    if (r->o->quiet)
        return;
    fprintf(stderr, "charlstm train: %s%d x %d %s encoder (%s), %d labels; %d training and %d "
                    "dev sentences; %zu unknown characters\n",
            e->rnn.bidir ? "bidirectional " : "", e->rnn.layers, e->rnn.hidden,
            e->rnn.cell == CL_CELL_GRU ? "GRU" : "LSTM",
            r->o->freeze ? "frozen" : r->o->init ? "fine-tuned" : "from scratch", c->nlabels,
            r->train.n, r->dev.n, r->train.unknown + r->dev.unknown);
}

static void report(const clf_run *r)
{
    const cl_clftrain_stats *s = cl_clftrain_stats_get(r->t);
    if (r->o->quiet)
        return;
    if (r->dev.n)
        fprintf(stderr, "charlstm train: best dev accuracy %.2f%% (epoch %.2f)%s; %.0f "
                        "sentences/s in training; saved %s\n",
                100 * s->best_acc, s->best_epoch, s->stopped_early ? ", stopped early" : "",
                s->sents_per_sec, r->o->output);
    else
        fprintf(stderr, "charlstm train: %.0f sentences/s in training; saved %s\n",
                s->sents_per_sec, r->o->output);
}

static int run_trainer(clf_run *r)
{
    cl_clftrain_config c = trainer_config(r->o);
    cl_diag d = {{0}};
    int err = cl_clftrain_create(&r->t, r->m, &c, &r->train, r->dev.n ? &r->dev : NULL, &d);
    if (err)
        return cli_fail(CMD, err, &d, "cannot start training");
    long per_epoch = (r->train.n + c.batch - 1) / c.batch;
    cli_progress_init(&r->progress, stderr, c.max_steps ? c.max_steps : c.max_epochs * per_epoch,
                      "sentences");
    r->progress.time_limit = c.max_seconds;
    cl_clftrain_hooks h = {r, hook_progress, hook_evaluated, hook_stop, hook_save};
    cli_signal_install();
    err = cl_clftrain_run(r->t, &h, &d);
    if (!r->o->quiet) {
        hook_progress(cl_clftrain_stats_get(r->t), r);
        cli_progress_finish(&r->progress);
    }
    if (err && err != CL_EINTR)
        return cli_fail(CMD, err, &d, "training failed");
    if (save_model(r)) /* the best weights, which the trainer put back */
        return 1;
    if (err == CL_EINTR) {
        fprintf(stderr, "charlstm train: interrupted; saved the best model so far to %s\n",
                r->o->output);
        return CLI_EXIT_INTERRUPTED;
    }
    report(r);
    return 0;
}

static int open_log(clf_run *r)
{
    if (!r->o->log)
        return 0;
    if (!(r->log = fopen(r->o->log, "w")))
        return cli_error(CMD, "%s: cannot open the log file", r->o->log);
    fprintf(r->log, "epoch\tstep\twall_seconds\ttrain_loss\tdev_loss\tdev_accuracy\n");
    return 0;
}

static int train_with(clf_run *r)
{
    const train_opts *o = r->o;
    cl_rng rng;
    cl_rng_seed(&rng, (uint64_t)o->seed);
    if (o->resume)
        return cli_error(CMD, "--resume is not supported for --task classifier");
    int rc = o->init ? load_model(r) : 0;
    if (!rc && o->init)
        r->text = r->m->text, r->text.replace_invalid = o->replace_invalid;
    rc = rc ? rc : read_data(r);
    rc = rc || o->init ? rc : new_model(r, &rng);
    rc = rc ? rc : add_head(r, &rng);
    rc = rc ? rc : encode_data(r);
    rc = rc ? rc : open_log(r);
    if (!rc)
        describe(r);
    return rc ? rc : run_trainer(r);
}

int train_classifier(const train_opts *o)
{
    clf_run r = {.o = o};
    r.text = cl_text_defaults();
    r.text.nfc = !o->no_nfc, r.text.casefold = o->casefold;
    r.text.replace_invalid = o->replace_invalid;
    cli_threads(o->threads);
    int rc = train_with(&r);
    if (r.log && fclose(r.log) != 0 && !rc)
        rc = cli_error(CMD, "%s: cannot write the log file", o->log);
    cl_clftrain_free(r.t);
    cl_clfdata_free(&r.train);
    cl_clfdata_free(&r.dev);
    cl_model_free(r.m);
    return rc;
}
