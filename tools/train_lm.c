/* train_lm: "charlstm train --task lm": a character language model on any
 * number of plain-text files of any size.
 *
 * Files written: -o MODEL gets the best model on the validation text (the
 * latest one when there is none), MODEL.last the latest one together with
 * the optimizer and training state that --resume needs.  Both are saved
 * atomically, so a crash or Ctrl-C never leaves a broken model behind. */
#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "cl_lmtrain.h"
#include "cli_progress.h"
#include "cli_signal.h"
#include "cli_util.h"
#include "train_opts.h"

#define CMD "train"

typedef struct {
    const train_opts *o;
    cl_model *m;
    cl_lmtrain *t;
    cl_text_opts text;
    cli_progress progress;
    FILE *log;
    char last[4096];
    int saved_best;
} lm_run;

/* ==== data ================================================================= */

static int open_corpus(const lm_run *r, const char *const *paths, int n, cl_corpus **c)
{
    cl_diag d = {{0}};
    int err = cl_corpus_open(c, paths, n, &r->text, &d);
    return err ? cli_fail(CMD, err, &d, "cannot read the training text") : 0;
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
    err = err ? err : cl_ids_from_corpus(&all, c, &r->m->vocab, NULL, &unk, &d);
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
    if (open_corpus(r, &r->o->dev, 1, &dc))
        return 1;
    err = cl_ids_from_corpus(dev, dc, &r->m->vocab, NULL, &unk, &d);
    cl_corpus_close(dc);
    return err ? cli_fail(CMD, err, &d, "cannot prepare %s", r->o->dev) : 0;
}

/* ==== model ================================================================ */

static int new_model(lm_run *r, cl_corpus *c)
{
    const train_opts *o = r->o;
    cl_vocab v;
    if (build_vocab(r, c, &v))
        return 1;
    if (o->bidir)
        return cli_error(CMD, "a language model predicts the next character: --bidir does not "
                              "apply to --task lm");
    cl_encoder_config ec = {cl_vocab_size(&v), o->emb,
                            {o->cell == CELL_GRU ? CL_CELL_GRU : CL_CELL_LSTM, o->emb, o->hidden,
                             o->layers, 0, (float)o->dropout}};
    cl_rng rng;
    cl_rng_seed(&rng, (uint64_t)o->seed);
    int err = cl_model_create(&r->m, &r->text, &v, &ec, &rng);
    err = err ? err : cl_model_add_head(r->m, &cl_lm_head_ops, cl_lm_head_new((float)o->dropout),
                                        &rng);
    cl_vocab_free(&v);
    return err ? cli_fail(CMD, err, NULL, "cannot create the model") : 0;
}

/* --init or --resume: the model (and its text settings) come from a file. */
static int load_model(lm_run *r, const char *path, cl_ckpt **ck)
{
    cl_diag d = {{0}};
    int err = cl_model_load(&r->m, path, ck, &d);
    if (err)
        return cli_fail(CMD, err, &d, "cannot load %s", path);
    r->text = r->m->text;
    r->text.replace_invalid = r->o->replace_invalid;
    if (!cl_model_head(r->m, "head.lm")) {
        cl_rng rng;
        cl_rng_seed(&rng, (uint64_t)r->o->seed);
        err = cl_model_add_head(r->m, &cl_lm_head_ops, cl_lm_head_new((float)r->o->dropout), &rng);
    }
    return err ? cli_fail(CMD, err, NULL, "cannot add a language-model head") : 0;
}

/* ==== hooks ================================================================ */

static int save_to(lm_run *r, const char *path, int with_state)
{
    cl_diag d = {{0}};
    int err = cl_model_save(r->m, path, with_state ? cl_lmtrain_save_state : cl_lmtrain_save_history,
                            r->t, &d);
    return err ? cli_fail(CMD, err, &d, "cannot save the model") : 0;
}

static int hook_save(int best, void *ctx)
{
    lm_run *r = ctx;
    if (save_to(r, r->last, 1))
        return CL_EIO;
    if ((best || !r->saved_best) && save_to(r, r->o->output, 0))
        return CL_EIO;
    r->saved_best |= best;
    return CL_OK;
}

static void hook_progress(const cl_lmtrain_stats *s, void *ctx)
{
    lm_run *r = ctx;
    if (!r->o->quiet)
        cli_progress_update(&r->progress, s->step, (double)s->step * r->o->batch * r->o->seq,
                            s->train_loss);
}

static int hook_evaluated(const cl_lmtrain_stats *s, void *ctx)
{
    lm_run *r = ctx;
    if (r->log) {
        fprintf(r->log, "%ld\t%.1f\t%.1f\t%.4f\t%.4f\n", s->step, s->train_seconds, s->elapsed,
                s->train_loss, s->valid_loss);
        fflush(r->log);
    }
    if (!r->o->quiet) {
        cli_progress_set_val(&r->progress, s->valid_loss);
        cli_progress_note(&r->progress, "step %ld  epoch %.2f  train %.4f  valid %.4f%s", s->step,
                          s->epoch, s->train_loss, s->valid_loss,
                          s->improved && !isnan(s->valid_loss) ? "  (best, saved)" : "");
    }
    return 0;
}

static int hook_stop(void *ctx)
{
    (void)ctx;
    return cli_signal_stop_requested();
}

/* ==== the run ============================================================== */

static cl_lmtrain_config trainer_config(const train_opts *o)
{
    cl_lmtrain_config c = cl_lmtrain_defaults();
    c.batch = o->batch, c.seq = o->seq, c.lr = (float)o->lr, c.clip = (float)o->clip;
    c.lr_decay = (float)o->lr_decay, c.decay_every = o->decay_every;
    c.max_steps = o->steps, c.max_seconds = o->minutes * 60, c.max_epochs = o->epochs;
    c.eval_every = o->eval_every, c.seed = (uint64_t)o->seed, c.threads = o->threads;
    return c;
}

static int open_log(lm_run *r)
{
    if (!r->o->log)
        return 0;
    r->log = fopen(r->o->log, r->o->resume ? "a" : "w");
    if (!r->log)
        return cli_error(CMD, "%s: cannot open the log file", r->o->log);
    if (!r->o->resume)
        fprintf(r->log, "step\ttrain_seconds\twall_seconds\ttrain_loss\tvalid_loss\n");
    return 0;
}

static void describe(const lm_run *r, const cl_ids *train, const cl_ids *dev)
{
    const cl_encoder_config *e = &r->m->enc;
    if (r->o->quiet)
        return;
    fprintf(stderr, "charlstm train: %d x %d %s, embedding %d, vocabulary %d, %zu parameters; "
                    "%lld training and %lld validation characters\n",
            e->rnn.layers, e->rnn.hidden, e->rnn.cell == CL_CELL_GRU ? "GRU" : "LSTM", e->emb,
            e->vocab, r->m->params.n, (long long)train->n, (long long)dev->n);
}

static int run_trainer(lm_run *r, const cl_ids *train, const cl_ids *dev, const cl_ckpt *ck)
{
    cl_lmtrain_config c = trainer_config(r->o);
    cl_diag d = {{0}};
    long chunks = (long)((train->n - 1) / ((int64_t)c.batch * c.seq));
    if (c.lr_decay < 1 && c.decay_every == 0)
        c.decay_every = chunks > 0 ? chunks : 1; /* --decay-every 0: once an epoch */
    int err = cl_lmtrain_create(&r->t, r->m, &c, &d);
    if (!err && ck)
        err = cl_lmtrain_resume(r->t, ck, &d);
    if (err)
        return cli_fail(CMD, err, &d, "cannot start training");
    long total = c.max_steps ? c.max_steps : c.max_epochs > 0 ? (long)(c.max_epochs * chunks) : 0;
    cli_progress_init(&r->progress, stderr, total, "chars");
    r->progress.time_limit = c.max_seconds;
    cl_lmtrain_hooks h = {r, hook_progress, hook_evaluated, hook_stop, hook_save};
    err = cl_lmtrain_run(r->t, train, dev, &h, &d);
    if (!r->o->quiet)
        cli_progress_finish(&r->progress);
    const cl_lmtrain_stats *st = cl_lmtrain_stats_get(r->t);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    if (!r->o->quiet && err != CL_EINTR) /* one line for scripts and benchmarks */
        fprintf(stderr, "train chars/s: %.0f (%ld steps, %.1f s in training steps); "
                        "peak memory %.0f MB\n",
                st->chars_per_sec, st->run_steps, st->run_train_seconds, ru.ru_maxrss / 1024.0);
    if (err == CL_EINTR) {
        fprintf(stderr, "charlstm train: interrupted at step %ld; saved %s and %s\n"
                        "resume with: charlstm train --resume %s -o %s [same files]\n",
                cl_lmtrain_stats_get(r->t)->step, r->o->output, r->last, r->last, r->o->output);
        return CLI_EXIT_INTERRUPTED;
    }
    return err ? cli_fail(CMD, err, &d, "training failed") : 0;
}

static int train_with(lm_run *r)
{
    const train_opts *o = r->o;
    cl_corpus *c = NULL;
    cl_ckpt *ck = NULL;
    cl_ids train = {0}, dev = {0};
    const char *from = o->resume ? o->resume : o->init;
    int rc = from ? load_model(r, from, o->resume ? &ck : NULL) : 0;
    rc = rc ? rc : open_corpus(r, o->train.v, o->train.n, &c);
    rc = rc || from ? rc : new_model(r, c);
    rc = rc ? rc : load_ids(r, c, &train, &dev);
    cl_corpus_close(c);
    rc = rc ? rc : open_log(r);
    if (!rc)
        describe(r, &train, &dev);
    rc = rc ? rc : run_trainer(r, &train, &dev, ck);
    cl_ids_release(&train);
    cl_ids_release(&dev);
    cl_ckpt_free(ck);
    return rc;
}

int train_lm(const train_opts *o)
{
    lm_run r = {.o = o};
    r.text = cl_text_defaults();
    r.text.nfc = !o->no_nfc, r.text.casefold = o->casefold;
    r.text.replace_invalid = o->replace_invalid;
    snprintf(r.last, sizeof r.last, "%s.last", o->output);
    cli_threads(o->threads);
    cli_signal_install(); /* before the (long) data preparation: Ctrl-C stops cleanly there too */
    int rc = train_with(&r);
    if (r.log && fclose(r.log) != 0 && !rc)
        rc = cli_error(CMD, "%s: cannot write the log file", o->log);
    cl_lmtrain_free(r.t);
    cl_model_free(r.m);
    return rc;
}
