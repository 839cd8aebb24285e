/* train_tagger: "charlstm train --task tagger": a part-of-speech tagger on
 * CoNLL-U files.
 *
 * Without --init the model gets a character vocabulary from the training
 * words and a tiny unused encoder (head.tagger's use_lm = 0).  With --init
 * LM the language model's file is loaded and head.tagger is added next to
 * its encoder and head.lm, which stay as they are: the tagger reads the
 * frozen encoder's states.  -o MODEL is saved (atomically) each time the dev
 * accuracy improves, and once more at the end or on Ctrl-C. */
#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cl_conllu.h"
#include "cl_tagger.h"
#include "cli_progress.h"
#include "cli_signal.h"
#include "cli_util.h"
#include "train_opts.h"

#define CMD "train"

typedef struct {
    const train_opts *o;
    cl_model *m;
    cl_tagger *t;
    cl_tagger_corpus train, dev;
    cl_tagger_data *dtrain, *ddev;
    cli_progress progress;
    FILE *log;
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
        return err ? cli_fail(CMD, err, &d, "cannot read %s", o->dev) : 0;
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
    c.use_lm = o->init != NULL;
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
        if (r->m->enc.rnn.bidir || r->m->enc.rnn.cell != CL_CELL_LSTM)
            return cli_error(CMD, "%s: --init needs a forward LSTM language model", o->init);
        return 0;
    }
    cl_text_opts text = cl_text_defaults();
    text.nfc = !o->no_nfc, text.casefold = o->casefold;
    cl_vocab v;
    int err = cl_tagger_vocab_build(&v, &r->train, &text, &d);
    if (err)
        return cli_fail(CMD, err, &d, "cannot build the character vocabulary");
    cl_encoder_config ec = cl_tagger_tiny_encoder(cl_vocab_size(&v));
    err = cl_model_create(&r->m, &text, &v, &ec, rng);
    cl_vocab_free(&v);
    return err ? cli_fail(CMD, err, NULL, "cannot create the model") : 0;
}

static int build_model(tagger_run *r)
{
    cl_rng rng;
    cl_rng_seed(&rng, (uint64_t)r->o->seed);
    cl_tagger_config *cfg;
    if (base_model(r, &rng) || head_config(r, &cfg))
        return 1;
    cl_diag d = {{0}};
    int err = cl_model_add_head(r->m, &cl_tagger_head_ops, cfg, &rng);
    err = err ? err : cl_tagger_create(&r->t, r->m, &d);
    if (err)
        return cli_fail(CMD, err, &d, "cannot create the tagger");
    err = cl_tagger_data_prepare(&r->dtrain, r->t, &r->train, &d);
    if (err)
        return cli_fail(CMD, err, &d, "cannot prepare the training data");
    if (r->dev.nsent && (err = cl_tagger_data_prepare(&r->ddev, r->t, &r->dev, &d)))
        return cli_fail(CMD, err, &d, "cannot prepare the dev data");
    return 0;
}

/* ==== hooks ================================================================ */

static int save(tagger_run *r)
{
    cl_diag d = {{0}};
    int err = cl_model_save(r->m, r->o->output, NULL, NULL, &d);
    return err ? cli_fail(CMD, err, &d, "cannot save the model") : 0;
}

static int hook_save(int best, void *ctx)
{
    return best && save(ctx) ? CL_EIO : CL_OK;
}

static void hook_progress(const cl_tagger_train_stats *s, void *ctx)
{
    tagger_run *r = ctx;
    if (!r->o->quiet)
        cli_progress_update(&r->progress, s->step, s->words, s->train_loss);
}

static int hook_evaluated(const cl_tagger_train_stats *s, void *ctx)
{
    tagger_run *r = ctx;
    if (r->log) {
        fprintf(r->log, "%d\t%ld\t%.1f\t%.4f\t%.4f\n", s->epoch, s->step, s->elapsed,
                s->train_loss, s->dev_acc);
        fflush(r->log);
    }
    if (!r->o->quiet) {
        cli_progress_set_val(&r->progress, 1 - s->dev_acc);
        cli_progress_note(&r->progress, "epoch %d  step %ld  loss %.4f  dev accuracy %.2f%%%s",
                          s->epoch, s->step, s->train_loss, 100 * s->dev_acc,
                          s->improved ? "  (best, saved)" : "");
    }
    return 0;
}

static int hook_stop(void *ctx)
{
    (void)ctx;
    return cli_signal_stop_requested();
}

/* ==== the run ============================================================== */

static void describe(const tagger_run *r)
{
    const cl_tagger_config *c = cl_tagger_config_of(r->t);
    if (r->o->quiet)
        return;
    fprintf(stderr,
            "charlstm train: tagger with %d tags, %d frequent words, %d characters%s%s; "
            "%zu parameters; %d training and %d dev sentences\n",
            c->ntags, c->nwords, cl_vocab_size(&r->m->vocab), c->use_lm ? ", LM states" : "",
            c->feat.affixes ? "" : ", no affixes", r->m->params.n, r->train.nsent, r->dev.nsent);
}

static int open_log(tagger_run *r)
{
    if (!r->o->log)
        return 0;
    if (!(r->log = fopen(r->o->log, "w")))
        return cli_error(CMD, "%s: cannot open the log file", r->o->log);
    fprintf(r->log, "epoch\tstep\twall_seconds\ttrain_loss\tdev_accuracy\n");
    return 0;
}

static cl_tagger_train_config trainer_config(const train_opts *o)
{
    cl_tagger_train_config c = cl_tagger_train_defaults();
    c.batch = o->batch, c.lr = (float)o->lr, c.clip = (float)o->clip;
    c.lr_decay = (float)o->lr_decay, c.epochs = o->epochs, c.patience = o->patience;
    c.max_seconds = o->minutes * 60, c.seed = (uint64_t)o->seed;
    c.ema = (float)o->ema;
    return c;
}

static int run_trainer(tagger_run *r)
{
    cl_tagger_train_config c = trainer_config(r->o);
    long per_epoch = (r->train.nsent + c.batch - 1) / c.batch;
    cli_progress_init(&r->progress, stderr, c.epochs ? c.epochs * per_epoch : 0, "words");
    r->progress.time_limit = c.max_seconds;
    cl_tagger_train_hooks h = {r, hook_progress, hook_evaluated, hook_stop, hook_save};
    cl_tagger_train_stats st;
    cl_diag d = {{0}};
    cli_signal_install();
    int err = cl_tagger_train(r->t, r->dtrain, r->ddev, &c, &h, &st, &d);
    if (!r->o->quiet)
        cli_progress_finish(&r->progress);
    if (err && err != CL_EINTR)
        return cli_fail(CMD, err, &d, "training failed");
    if (save(r)) /* the best parameters (or the last without dev data) */
        return 1;
    if (!r->o->quiet && !isnan(st.best_acc))
        fprintf(stderr, "charlstm train: best dev accuracy %.2f%% (epoch %d), saved %s\n",
                100 * st.best_acc, st.best_epoch, r->o->output);
    return err == CL_EINTR ? CLI_EXIT_INTERRUPTED : 0;
}

int train_tagger(const train_opts *o)
{
    if (o->resume)
        return cli_error(CMD, "--resume is not supported for --task tagger (training is short: "
                              "start again)");
    tagger_run r = {.o = o};
    cl_tagger_corpus_init(&r.train);
    cl_tagger_corpus_init(&r.dev);
    cli_threads(o->threads);
    int rc = read_corpora(&r);
    rc = rc ? rc : build_model(&r);
    rc = rc ? rc : open_log(&r);
    if (!rc)
        describe(&r);
    rc = rc ? rc : run_trainer(&r);
    if (r.log && fclose(r.log) != 0 && !rc)
        rc = cli_error(CMD, "%s: cannot write the log file", o->log);
    cl_tagger_data_free(r.dtrain), cl_tagger_data_free(r.ddev);
    cl_tagger_corpus_free(&r.train), cl_tagger_corpus_free(&r.dev);
    cl_tagger_free(r.t);
    cl_model_free(r.m);
    return rc;
}
