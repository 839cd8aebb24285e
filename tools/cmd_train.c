/* cmd_train: "charlstm train": train a language model, a tagger or a classifier.
 *
 * The file has two halves: the options (struct, defaults, table, checks
 * across options) and the work, train_run(), which gets a complete and
 * consistent train_opts. */
#include <math.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "cl_ckpt.h"
#include "cl_mm.h"
#include "cli_opts.h"
#include "cli_signal.h"
#include "cli_util.h"
#include "commands.h"
#include "train_memory.h"
#include "train_opts.h"

const char cmd_train_summary[] = "train a language model, a tagger or a classifier";

/* ---------------------------------------------------------------- options */

static void train_defaults(train_opts *o)
{
    *o = (train_opts){
        .task = CMD_TASK_LM, .dev_fraction = -1, .min_count = 1,
        .layers = -1, .hidden = -1, .emb = -1, .cell = CELL_LSTM, .dropout = -1,
        .batch = 32, .seq = 100, .lr = 2e-3, .lr_decay = -1, .clip = 5,
        .epochs = -1, .eval_every = -1, .seed = 1, .patience = -1, .threads = 1, .accumulate = 1,
        .casefold = -1, .bidir = -1, .ema = -1,
        .column = COLUMN_UPOS, .encoder_lr = -1, .ngram = 2, .ngram_bits = 20,
        .ngram_dropout = 0.5, .ngram_chars = 0, .nbsvm_lr = -1, .precision = CL_PREC_AUTO,
        .bucket_mb = 1, .cv_seed = 1,
    };
}

#define ANY INFINITY  /* no upper bound */

static const char train_description[] =
    "Trains the model of --task on the training files and writes it to --output\n"
    "(atomically, also on Ctrl-C: the first Ctrl-C saves and stops, a second one\n"
    "quits at once).  Training files are plain UTF-8 text for lm, CoNLL-U for\n"
    "tagger, and 'label<TAB>text' lines for classifier.  A tagger or classifier\n"
    "is best trained on top of a language model (--init) so it starts from what\n"
    "the encoder learned from plain text.  Training stops at the first of\n"
    "--epochs, --steps, --minutes, early stopping (--patience) or Ctrl-C.\n"
    "The options shared with bench/torch_charlm.py (--layers --hidden --emb\n"
    "--batch --seq --lr --dropout --threads --steps --minutes --eval-every --seed)\n"
    "mean the same there and here.\n"
    "\n"
    "Examples:\n"
    "  charlstm train -o shakespeare.model tinyshakespeare/train.txt\n"
    "  charlstm train --task tagger --init en.model -o en-pos.model \\\n"
    "      --train en_ewt-ud-train.conllu --dev en_ewt-ud-dev.conllu\n"
    "  charlstm train --task classifier --init en.model -o sst2.model --train sst2.tsv\n";

#define DEF(field, value) \
    do { \
        if (o->field < 0) \
            o->field = (value); \
    } while (0)

/* The defaults of each task are its best measured recipe (docs/tagger.md,
 * docs/classifier.md, docs/language-model.md), so that a user who leaves
 * the options alone gets the documented result. */
static void resolve_task_defaults(train_opts *o)
{
    int tagger = o->task == CMD_TASK_TAGGER, clf = o->task == CMD_TASK_CLASSIFIER;
    int fresh_clf = clf && !o->init && !o->resume;
    DEF(epochs, o->steps > 0 || o->minutes > 0 ? 0 : tagger ? 30 : clf ? 14 : 10);
    DEF(layers, tagger || clf ? 1 : 2);
    DEF(hidden, tagger ? 200 : clf ? 128 : 512);
    DEF(emb, tagger || clf ? 32 : 64);
    DEF(dropout, tagger ? 0.33 : clf ? 0.3 : 0.1);
    DEF(lr_decay, tagger ? 0.85 : 1);
    DEF(ema, tagger ? 0.998 : 0);
    DEF(eval_every, tagger || clf ? 0 : 200);
    DEF(patience, tagger ? 5 : clf ? 4 : 0);
    DEF(casefold, fresh_clf && !o->keep_case);
    DEF(bidir, fresh_clf && !o->unidir);
    if (o->keep_case)
        o->casefold = 0;
    if (o->unidir)
        o->bidir = 0;
}
#undef DEF

/* --cv: a classifier's evaluation, no model file; -o otherwise. */
static int check_cv(const cli_command *cmd, const train_opts *o)
{
    if (!o->cv)
        return o->output ? 0 : cli_usage_error(cmd, "-o/--output MODEL is required");
    if (o->cv == 1)
        return cli_usage_error(cmd, "--cv K needs at least 2 folds");
    if (o->task != CMD_TASK_CLASSIFIER)
        return cli_usage_error(cmd, "--cv is for --task classifier");
    if (o->output || o->resume || o->dev)
        return cli_usage_error(cmd, "--cv writes no model and scores every fold on itself: "
                               "give it neither -o, --resume nor --dev (all data with --train)");
    return o->dist->size > 1 ? cli_usage_error(cmd, "--cv runs in one process") : 0;
}

/* Checks across options, once all are known; fills the computed defaults. */
static int train_resolve(const cli_command *cmd, train_opts *o)
{
    if (o->train.n == 0)
        return cli_usage_error(cmd, "no training data: give FILE arguments or --train FILE");
    if (cli_no_dash("train", "-o", o->output, CLI_MODEL_NOT_A_STREAM) ||
        cli_no_dash("train", "--init", o->init, CLI_MODEL_NOT_A_STREAM) ||
        cli_no_dash("train", "--resume", o->resume, CLI_MODEL_NOT_A_STREAM))
        return CLI_EXIT_USAGE;
    if (o->init && o->resume)
        return cli_usage_error(cmd, "--init and --resume exclude each other");
    if (o->dev && o->dev_fraction > 0)
        return cli_usage_error(cmd, "--dev and --dev-fraction exclude each other");
    int rc = check_cv(cmd, o);
    if (rc)
        return rc;
    /* Without NBSVM weights the n-gram part is naive Bayes with one learned
     * scale per label: nothing to train that justifies a run, and such runs
     * were seen to trip the divergence guard. */
    if (o->no_encoder && (o->init || o->freeze || o->ngram == 0 || !o->nbsvm))
        return cli_usage_error(cmd, "--no-encoder is the NBSVM n-gram part alone: it needs "
                               "--nbsvm, and not --init, --freeze or --ngram 0");
    if (o->dev_fraction < 0)
        o->dev_fraction = o->dev ? 0 : o->cv ? 0.1 : 0.05;
    if (o->freeze && o->encoder_lr >= 0 && !o->resume)
        return cli_usage_error(cmd, "--freeze and --encoder-lr exclude each other");
    if (o->nbsvm_lr < 0)
        o->nbsvm_lr = o->lr / 10;
    if (o->encoder_lr < 0)
        o->encoder_lr = o->freeze ? 0 : o->init ? o->lr / 10 : o->lr;
    if (o->task != CMD_TASK_LM && o->direction != DIRECTION_FORWARD)
        return cli_usage_error(cmd, "--direction applies to --task lm only (a tagger trained "
                                    "with --init reads every language model of the file)");
    if (o->task != CMD_TASK_LM && (o->locked_dropout || o->weight_drop > 0 ||
                                   o->embed_dropout > 0 || o->state_reset > 0))
        return cli_usage_error(cmd, "--locked-dropout, --weight-drop, --embed-dropout and "
                                    "--state-reset apply to --task lm only");
    resolve_task_defaults(o);
    if (o->seed == 0 && getrandom(&o->seed, sizeof o->seed, 0) == (ssize_t)sizeof o->seed) {
        o->seed &= 0x7fffffffffffL; /* printable, and positive as the option requires */
        o->seed += !o->seed;
        if (!o->quiet)
            fprintf(stderr, "charlstm train: --seed %ld (from the system's entropy)\n", o->seed);
    }
    return train_memory_check(cmd, o);
}

/* ---------------------------------------------------------------- resume */

/* What a resumed run keeps: the data, the model and how they are batched.
 * Limits, optimisation, evaluation and threads may be given anew. */
static const char *const kept_opts[] = {
    "task", "dev", "dev-fraction", "max-vocab", "min-count", "casefold", "no-casefold", "no-nfc",
    "replace-invalid", "layers", "hidden", "emb", "cell", "bidir", "no-bidir", "dropout", "batch",
    "seq", "seed", "column", "no-affixes", "ema", "freeze", "class-weights", "ngram", "deterministic",
    "ngram-bits", "ngram-dropout", "locked-dropout", "weight-drop", "embed-dropout", "direction",
    "state-reset", NULL};
/* Not part of a run: where it is read from and written to. */
static const char *const unstored_opts[] = {"output", "init", "resume", "log", "quiet",
                                            "progress", "valid", "train", NULL};

static int in_list(const char *const *l, const char *s)
{
    for (; *l; l++)
        if (strcmp(*l, s) == 0)
            return 1;
    return 0;
}

/* "SIZE:HASH" of a file's bytes (FNV-1a 64), so a resume notices changed
 * data; "" for stdin. */
static int fingerprint(const char *path, char *out, size_t size)
{
    out[0] = '\0';
    if (strcmp(path, "-") == 0)
        return 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    static const uint64_t prime = 0x100000001b3ULL;
    uint64_t h = 0xcbf29ce484222325ULL, n = 0;
    unsigned char buf[1 << 16];
    size_t got;
    while ((got = fread(buf, 1, sizeof buf, f)) > 0)
        for (size_t i = 0; i < got; i++, n++)
            h = (h ^ buf[i]) * prime;
    int bad = ferror(f);
    fclose(f);
    snprintf(out, size, "%llu:%016llx", (unsigned long long)n, (unsigned long long)h);
    return bad ? -1 : 0;
}

static int check_fingerprint(const cli_command *cmd, const char *entry)
{
    const char *tab = strrchr(entry, '\t');
    char path[4096], now[64];
    if (!tab || (size_t)(tab - entry) >= sizeof path)
        return 0;
    memcpy(path, entry, (size_t)(tab - entry));
    path[tab - entry] = '\0';
    if (fingerprint(path, now, sizeof now) != 0)
        return cli_usage_error(cmd, "%s: cannot read it to check it against the run being "
                               "resumed", path);
    if (strcmp(now, tab + 1) != 0)
        return cli_usage_error(cmd, "%s changed since the run being resumed (size:hash %s, "
                               "then %s): a resumed run must read the same data", path, now,
                               tab + 1);
    return 0;
}

static int same_files(const cli_strs *a, const cli_strs *b)
{
    if (a->n != b->n)
        return 0;
    for (int i = 0; i < a->n; i++)
        if (strcmp(a->v[i], b->v[i]) != 0)
            return 0;
    return 1;
}

/* One stored "name=value" on top of argv's options. */
static int merge_one(const cli_command *cmd, const unsigned char *given, const char *name,
                     const char *value)
{
    const cli_opt *opt = cli_opt_find(cmd, name);
    if (!opt || opt->type == CLI_STRS)
        return 0; /* an option this version does not have */
    char now[4096];
    if (!given[opt - cmd->opts])
        return opt->type == CLI_STR && !value[0] ? 0 : cli_opt_set(cmd, opt, value);
    cli_opt_value(opt, now, sizeof now);
    if (strcmp(now, value) == 0)
        return 0;
    if (in_list(kept_opts, name))
        return cli_usage_error(cmd, "--%s %s differs from the run being resumed (--%s %s): the "
                               "data and the model of a run cannot change", name, now, name,
                               value);
    fprintf(stderr, "charlstm train: --%s %s replaces %s of the run being resumed\n", name, now,
            value);
    return 0;
}

/* The options of the run in MODEL.last under those given now. */
static int merge_resumed(const cli_command *cmd, const unsigned char *given, train_opts *o,
                         cl_ckpt **ck)
{
    cl_diag d = {{0}};
    const char *const *args;
    int n, rc = 0, err = cl_ckpt_load(ck, o->resume, &d);
    if (err)
        return cli_fail("train", err, &d, "cannot load %s", o->resume);
    const cl_ckpt_section *s = cl_ckpt_find(*ck, "options");
    if (!s || cl_ckpt_get_strs(s, "args", &args, &n, NULL) != CL_OK)
        return cli_error("train", "%s holds no options of a training run (resume from the "
                         "MODEL.last file of an interrupted run)", o->resume);
    cli_strs stored = {0};
    for (int i = 0; i < n && !rc; i++) {
        const char *eq = strchr(args[i], '=');
        char name[64];
        if (!eq || (size_t)(eq - args[i]) >= sizeof name)
            continue;
        memcpy(name, args[i], (size_t)(eq - args[i]));
        name[eq - args[i]] = '\0';
        if (strcmp(name, "train") == 0)
            rc = cli_strs_push(&stored, eq + 1) ? CLI_EXIT_USAGE : 0;
        else if (strcmp(name, "data") == 0)
            rc = check_fingerprint(cmd, eq + 1);
        else
            rc = merge_one(cmd, given, name, eq + 1);
    }
    if (!rc && o->train.n && !same_files(&o->train, &stored))
        rc = cli_usage_error(cmd, "the training files differ from those of the run being resumed");
    if (!rc && !o->train.n) {
        cli_strs_free(&o->train);
        o->train = stored;
        return 0;
    }
    cli_strs_free(&stored);
    return rc;
}

static int push_arg(train_opts *o, const char *name, const char *value, const char *extra)
{
    size_t len = strlen(name) + strlen(value) + (extra ? strlen(extra) + 1 : 0) + 2;
    char *a = malloc(len), **v = realloc(o->args, sizeof *v * (size_t)(o->nargs + 1));
    if (v)
        o->args = v;
    if (!a || !v) {
        free(a);
        return -1;
    }
    snprintf(a, len, extra ? "%s=%s\t%s" : "%s=%s", name, value, extra ? extra : "");
    o->args[o->nargs++] = a;
    return 0;
}

/* Every resolved option of the run, its files and their fingerprints. */
static int build_args(const cli_command *cmd, train_opts *o)
{
    char value[4096], fp[64];
    int bad = 0;
    for (int i = 0; i < cmd->nopts && !bad; i++) {
        const cli_opt *opt = &cmd->opts[i];
        if (!opt->name || opt->type == CLI_STRS || in_list(unstored_opts, opt->name))
            continue;
        cli_opt_value(opt, value, sizeof value);
        bad = push_arg(o, opt->name, value, NULL);
    }
    for (int i = 0; i <= o->train.n && !bad; i++) {
        const char *path = i < o->train.n ? o->train.v[i] : o->dev;
        if (i < o->train.n)
            bad = push_arg(o, "train", path, NULL);
        if (!bad && path && fingerprint(path, fp, sizeof fp) == 0 && fp[0])
            bad = push_arg(o, "data", path, fp);
    }
    return bad ? cli_usage_error(cmd, "out of memory") : 0;
}

static void free_args(train_opts *o)
{
    for (int i = 0; i < o->nargs; i++)
        free(o->args[i]);
    free(o->args);
}

/* ---------------------------------------------------------------- parse */

/* Returns 0 (options in o), 1 (--help printed) or 2 (usage error printed). */
static int train_parse(train_opts *o, int argc, char **argv, cl_ckpt **ck)
{
    const cli_opt opts[] = {
        {.type = CLI_SECTION, .help = "Data:"},
        {"task", 0, CLI_CHOICE, &o->task, NULL, .help = "what to train", .choices = CMD_TASK_CHOICES},
        {"train", 0, CLI_STRS, &o->train, "FILE", .help = "training file (repeatable; also FILE arguments)"},
        {"dev", 0, CLI_STR, &o->dev, "FILE", .help = "validation file, for evaluation and early stopping"},
        {"valid", 0, CLI_STR, &o->dev, "FILE", .help = "same as --dev (the name torch_charlm.py uses)"},
        {"dev-fraction", 0, CLI_FLOAT, &o->dev_fraction, "F",
         .help = "hold out this fraction of the training data for validation", .min = 0, .max = 0.5,
         .default_text = "0.05, or 0 with --dev"},
        {"max-vocab", 0, CLI_INT, &o->max_vocab, "N",
         .help = "keep the N most frequent characters, map the others to unknown (0 = all)",
         .min = 2, .max = 0x110000, .zero_ok = 1},
        {"min-count", 0, CLI_INT, &o->min_count, "N",
         .help = "map characters seen fewer than N times to unknown", .min = 1, .max = ANY},
        {"casefold", 0, CLI_FLAG, &o->casefold, NULL,
         .help = "fold case (Unicode case folding) before training (default for a classifier "
         "trained from scratch)"},
        {"no-casefold", 0, CLI_FLAG, &o->keep_case, NULL, .help = "keep case (classifier)"},
        {"no-nfc", 0, CLI_FLAG, &o->no_nfc, NULL, .help = "do not normalise the text to NFC"},
        {"replace-invalid", 0, CLI_FLAG, &o->replace_invalid, NULL,
         .help = "replace invalid UTF-8 with U+FFFD instead of stopping with an error"},

        {.type = CLI_SECTION, .help = "Model:"},
        {"output", 'o', CLI_STR, &o->output, "MODEL",
         .help = "write the model to MODEL (required); --cv writes none"},
        {"init", 0, CLI_STR, &o->init, "MODEL", .help = "start from the encoder of MODEL (a language model)"},
        {"resume", 0, CLI_STR, &o->resume, "MODEL",
         .help = "continue an interrupted training exactly where MODEL stopped"},
        {"layers", 0, CLI_INT, &o->layers, "N", .help = "recurrent layers (tagger: word BiLSTM layers)",
         .min = 1, .max = 64, .default_text = "2 lm, 1 tagger and classifier"},
        {"hidden", 0, CLI_INT, &o->hidden, "N",
         .help = "units per recurrent layer (tagger: word BiLSTM, per direction)", .min = 1,
         .max = 65536, .default_text = "512 lm, 200 tagger, 128 classifier"},
        {"emb", 0, CLI_INT, &o->emb, "N", .help = "character embedding size", .min = 1, .max = 65536,
         .default_text = "64 lm, 32 tagger and classifier"},
        {"cell", 0, CLI_CHOICE, &o->cell, NULL, .help = "recurrent cell", .choices = "lstm|gru"},
        {"bidir", 0, CLI_FLAG, &o->bidir, NULL,
         .help = "bidirectional encoder (default for a classifier trained from scratch)"},
        {"no-bidir", 0, CLI_FLAG, &o->unidir, NULL, .help = "unidirectional encoder (classifier)"},
        {"direction", 0, CLI_CHOICE, &o->direction, NULL,
         .help = "lm: the forward language model, the backward one (the text read right to "
         "left, in a section of its own), or both in one run", .choices = "forward|backward|both"},
        {"dropout", 0, CLI_FLOAT, &o->dropout, "F",
         .help = "dropout between layers and before the output (0 = none)", .min = 0, .max = 0.95,
         .default_text = "0.1 lm, 0.33 tagger, 0.3 classifier"},
        {"locked-dropout", 0, CLI_FLAG, &o->locked_dropout, NULL,
         .help = "one dropout mask per stream and step of training, shared by its characters "
         "(variational dropout; lm)"},
        {"weight-drop", 0, CLI_FLOAT, &o->weight_drop, "F",
         .help = "drop this fraction of the recurrent weights W_hh in each training step "
         "(DropConnect, as AWD-LSTM; lm)", .min = 0, .max = 0.95},
        {"embed-dropout", 0, CLI_FLOAT, &o->embed_dropout, "F",
         .help = "drop this fraction of the characters of the vocabulary from each training "
         "step, every occurrence at once (lm)", .min = 0, .max = 0.95},
        {"state-reset", 0, CLI_FLOAT, &o->state_reset, "F",
         .help = "lm: restart each stream from a zero state before a step with probability F, "
         "so the model learns to read from a zero state anywhere in the text, as evaluation, "
         "generation and --windows do", .min = 0, .max = 0.5},

        {.type = CLI_SECTION, .help = "Optimisation:"},
        {"batch", 0, CLI_INT, &o->batch, "N", .help = "parallel streams (lm) or sentences per step",
         .min = 1, .max = 65536},
        {"seq", 0, CLI_INT, &o->seq, "N", .help = "characters per step (truncated BPTT length)",
         .min = 1, .max = 1000000},
        {"lr", 0, CLI_FLOAT, &o->lr, "F", .help = "learning rate (Adam)", .min = 0, .max = 1e6,
         .above_min = 1},
        {"schedule", 0, CLI_CHOICE, &o->schedule, NULL,
         .help = "learning-rate schedule: step decay (--lr-decay) or cosine down to 0 at the "
         "step or epoch limit", .choices = "step|cosine"},
        {"lr-decay", 0, CLI_FLOAT, &o->lr_decay, "F",
         .help = "multiply the learning rate by F every --decay-every steps (1 = none)",
         .min = 1e-6, .max = 1, .default_text = "0.85 tagger, 1 otherwise"},
        {"decay-every", 0, CLI_LONG, &o->decay_every, "N",
         .help = "steps between learning-rate decays (0 = every epoch)", .min = 0, .max = ANY},
        {"warmup", 0, CLI_LONG, &o->warmup, "N",
         .help = "raise the learning rate linearly over the first N steps (0 = none)", .min = 0,
         .max = ANY},
        {"clip", 0, CLI_FLOAT, &o->clip, "F", .help = "clip the gradient norm to F (0 = no clipping)",
         .min = 0, .max = ANY},
        {"epochs", 0, CLI_INT, &o->epochs, "N", .help = "passes over the training data (0 = no limit)",
         .min = 0, .max = ANY, .default_text = "10 lm, 30 tagger, 14 classifier; no limit with --steps or --minutes"},
        {"minutes", 0, CLI_FLOAT, &o->minutes, "F",
         .help = "wall-time budget, evaluation included (0 = no limit)", .min = 0, .max = ANY},
        {"steps", 0, CLI_LONG, &o->steps, "N", .help = "maximum optimiser steps (0 = no limit)",
         .min = 0, .max = ANY},
        {"eval-every", 0, CLI_LONG, &o->eval_every, "N",
         .help = "evaluate on the validation data every N steps (0 = at the end of every epoch)",
         .min = 0, .max = ANY, .default_text = "200 lm, 0 tagger and classifier"},
        {"save-every", 0, CLI_LONG, &o->save_every, "N",
         .help = "also save the model every N steps (0 = only at the end)", .min = 0, .max = ANY},
        {"patience", 0, CLI_INT, &o->patience, "N",
         .help = "stop after N evaluations without a better validation score (0 = never)",
         .min = 0, .max = ANY, .default_text = "0 lm, 5 tagger, 4 classifier"},
        {"seed", 0, CLI_LONG, &o->seed, "N",
         .help = "random seed (initialisation, dropout, data order; 0 = from the system's "
         "entropy, printed)", .min = 0, .max = ANY},
        {"accumulate", 0, CLI_INT, &o->accumulate, "K",
         .help = "accumulate the gradients of K batches per optimiser step (a K times larger "
         "batch in the memory of one)", .min = 1, .max = 65536},
        {"deterministic", 0, CLI_INT, &o->deterministic, "N",
         .help = "compute every batch as N shares and sum their gradients in share order: "
         "mpirun -np P with P dividing N trains the same weights, bit for bit, as one process "
         "(0 = off: sums in MPI's order, overlapping backward)", .min = 0, .max = 4096},
        {"bucket-mb", 0, CLI_FLOAT, &o->bucket_mb, "MB",
         .help = "under mpirun: sum the gradients over the processes in buckets of MB, each "
         "started as soon as backward has finished it (0 = one sum after backward)",
         .min = 0, .max = 65536},
        {"threads", 0, CLI_INT, &o->threads, "N",
         .help = "threads (OpenMP) for the recurrence and the matrix products",
         .min = 1, .max = 1024},
        {"precision", 0, CLI_CHOICE, &o->precision, NULL,
         .help = "matrix products of the recurrent stacks (every task, training and "
         "evaluation) through oneDNN in bf16 with fp32 accumulation, or in fp32; auto: bf16 "
         "where the CPU has AMX or AVX512-BF16, fp32 elsewhere.  Weights, optimizer and gates "
         "stay fp32", .choices = "auto|fp32|bf16"},

        {.type = CLI_SECTION, .help = "Tagger and classifier:"},
        {"column", 0, CLI_CHOICE, &o->column, NULL, .help = "CoNLL-U column to learn (tagger)", .choices = "upos|xpos"},
        {"no-affixes", 0, CLI_FLAG, &o->no_affixes, NULL,
         .help = "no prefix/suffix/shape features (tagger)"},
        {"ema", 0, CLI_FLOAT, &o->ema, "F",
         .help = "evaluate and keep an exponential moving average of the tagger's parameters, "
         "decay F per step (e.g. 0.999; 0 = off)", .min = 0, .max = 0.999999,
         .default_text = "0.998 tagger, 0 otherwise"},
        {"freeze", 0, CLI_FLAG, &o->freeze, NULL, .help = "keep the encoder fixed, train only the head"},
        {"encoder-lr", 0, CLI_FLOAT, &o->encoder_lr, "F",
         .help = "learning rate of the encoder when fine-tuning", .min = 0, .max = 10,
         .default_text = "--lr / 10 with --init, --lr without, 0 with --freeze"},
        {"class-weights", 0, CLI_FLAG, &o->class_weights, NULL,
         .help = "weight classes by inverse frequency (classifier)"},
        {"ngram", 0, CLI_INT, &o->ngram, "N",
         .help = "also give the classifier the naive Bayes evidence of word 1..N-grams (0 = off)",
         .min = 0, .max = 4},
        {"ngram-bits", 0, CLI_INT, &o->ngram_bits, "B",
         .help = "hash word n-grams into 2^B buckets (classifier)", .min = 8, .max = 26},
        {"ngram-chars", 0, CLI_INT, &o->ngram_chars, "N",
         .help = "classifier: character n-grams of lengths 2..N next to the word n-grams "
         "(0 = off; e.g. 5 with --nbsvm)", .min = 0, .max = 8},
        {"nbsvm", 0, CLI_FLAG, &o->nbsvm, NULL,
         .help = "classifier: learn a weight per n-gram on its naive Bayes log-count ratio "
         "(NBSVM) next to the naive Bayes evidence"},
        {"nbsvm-lr", 0, CLI_FLOAT, &o->nbsvm_lr, "F",
         .help = "classifier: learning rate of the NBSVM weights", .min = 0, .max = 10,
         .above_min = 1, .default_text = "--lr / 10"},
        {"no-encoder", 0, CLI_FLAG, &o->no_encoder, NULL,
         .help = "classifier: the n-gram part alone, no character encoder (an ablation, and "
         "a fast baseline)"},
        {"ngram-dropout", 0, CLI_FLOAT, &o->ngram_dropout, "F",
         .help = "train this fraction of sentences without their n-gram evidence, so the "
         "encoder learns to classify on its own too (classifier)", .min = 0, .max = 0.99},

        {"cv", 0, CLI_INT, &o->cv, "K",
         .help = "classifier: K-fold cross-validation over the training files instead of a "
         "model: each fold trains on the other folds (stopping early on --dev-fraction of "
         "them, default 0.1) and is scored on its own; prints each fold and mean +- sd "
         "(0 = off)", .min = 0, .max = 1000},
        {"cv-seed", 0, CLI_LONG, &o->cv_seed, "S",
         .help = "seed of the folds (stratified by label)", .min = 0, .max = ANY},
        {"cv-output", 0, CLI_CHOICE, &o->cv_output, NULL, .choices = "text|json",
         .help = "form of the --cv report on stdout (json: one object, docs/classifier.md)"},

        {.type = CLI_SECTION, .help = "Output:"},
        {"log", 0, CLI_STR, &o->log, "FILE",
         .help = "write the learning curve as TSV at every evaluation ('-': stdout); a resumed "
         "run appends"},
        {"quiet", 'q', CLI_FLAG, &o->quiet, NULL, .help = "no progress line"},
        {"progress", 0, CLI_CHOICE, &o->progress, NULL, .choices = "line|json",
         .help = "json: instead of the line, one JSON object per report on stderr (about 4 a "
         "second and after each evaluation; docs/json.md), for a program that runs this one"},
    };
    unsigned char given[sizeof opts / sizeof opts[0]] = {0};
    const cli_command cmd = {"train", cmd_train_summary, "[options] [FILE...]", train_description,
                             opts, (int)(sizeof opts / sizeof opts[0]), 0, -1};
    int first, rc = cli_parse_given(&cmd, argc, argv, &first, given);
    if (rc == 0)
        rc = cli_strs_collect(&cmd, &o->train, argc - first, argv + first, NULL);
    if (rc == 0 && o->resume)
        rc = merge_resumed(&cmd, given, o, ck);
    rc = rc ? rc : train_resolve(&cmd, o);
    return rc ? rc : build_args(&cmd, o);
}

/* ---------------------------------------------------------------- work */

static int train_run(const train_opts *o)
{
    cli_threads(o->threads);
    cli_signal_install(); /* before the (long) data preparation: Ctrl-C stops cleanly there too */
    switch (o->task) {
    case CMD_TASK_TAGGER: return train_tagger(o);
    case CMD_TASK_CLASSIFIER: return train_classifier(o);
    default: return train_lm(o);
    }
}

/* Under mpirun (or srun) every process runs this command with the same
 * options; rank 0 alone shows progress and writes the files. */
static int open_dist(cl_dist *dist)
{
    cl_diag d = {{0}};
    int err = cl_dist_mpi_open(dist, &d);
    return err ? cli_fail("train", err, &d, "cannot start data-parallel training") : 0;
}

int cmd_train(int argc, char **argv)
{
    train_opts o;
    cl_ckpt *ck = NULL; /* --resume: the file whose options o points into */
    cl_dist dist;
    train_defaults(&o);
    int rc = open_dist(&dist);
    if (rc)
        return rc;
    o.dist = &dist;
    rc = train_parse(&o, argc, argv, &ck);
    if (rc == 0 && dist.rank > 0)
        o.quiet = 1;
    if (rc == 0) /* a bad -o is found now, not at the first save */
        rc = o.output && cli_check_output("train", o.output) ? CLI_EXIT_FAIL : train_run(&o);
    else if (rc == 1)
        rc = 0;
    cli_strs_free(&o.train);
    free_args(&o);
    cl_ckpt_free(ck);
    /* a failed rank ends the others at once (they may wait for it); an
     * interrupted run stopped on every rank together */
    cl_dist_mpi_close(&dist, rc != 0 && rc != CLI_EXIT_INTERRUPTED);
    return rc;
}
