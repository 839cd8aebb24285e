/* cmd_train: "charlstm train": train a language model, a tagger or a classifier.
 *
 * The file has two halves: the options (struct, defaults, table, checks
 * across options) and the work, train_run(), which gets a complete and
 * consistent train_opts. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli_opts.h"
#include "cli_util.h"
#include "commands.h"
#include "train_opts.h"

const char cmd_train_summary[] = "train a language model, a tagger or a classifier";

/* ---------------------------------------------------------------- options */

static void train_defaults(train_opts *o)
{
    *o = (train_opts){
        .task = CMD_TASK_LM, .dev_fraction = -1, .min_count = 1,
        .layers = -1, .hidden = -1, .emb = -1, .cell = CELL_LSTM, .dropout = -1,
        .batch = 32, .seq = 100, .lr = 2e-3, .lr_decay = 1, .clip = 5,
        .epochs = -1, .eval_every = 200, .seed = 1, .patience = 5, .threads = 1,
        .column = COLUMN_UPOS, .encoder_lr = -1, .ngram = 2, .ngram_bits = 20,
        .ngram_dropout = 0.5,
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

/* Checks across options, once all are known; fills the computed defaults. */
static int train_resolve(const cli_command *cmd, train_opts *o, int npos, char **pos)
{
    if (cli_strs_collect(cmd, &o->train, npos, pos, NULL) != 0)
        return CLI_EXIT_USAGE;
    if (o->train.n == 0)
        return cli_usage_error(cmd, "no training data: give FILE arguments or --train FILE");
    if (cli_no_dash("train", "-o", o->output, CLI_MODEL_NOT_A_STREAM) ||
        cli_no_dash("train", "--init", o->init, CLI_MODEL_NOT_A_STREAM) ||
        cli_no_dash("train", "--resume", o->resume, CLI_MODEL_NOT_A_STREAM) ||
        cli_no_dash("train", "--log", o->log, "stdout is not a log file here; give a file name"))
        return CLI_EXIT_USAGE;
    if (o->init && o->resume)
        return cli_usage_error(cmd, "--init and --resume exclude each other");
    if (o->dev && o->dev_fraction > 0)
        return cli_usage_error(cmd, "--dev and --dev-fraction exclude each other");
    if (o->dev_fraction < 0)
        o->dev_fraction = o->dev ? 0 : 0.05;
    if (o->freeze && o->encoder_lr >= 0)
        return cli_usage_error(cmd, "--freeze and --encoder-lr exclude each other");
    if (o->encoder_lr < 0)
        o->encoder_lr = o->freeze ? 0 : o->init ? o->lr / 10 : o->lr;
    if (o->epochs < 0)
        o->epochs = o->steps > 0 || o->minutes > 0 ? 0 : o->task == CMD_TASK_TAGGER ? 30 : 10;
    /* The tagger's word BiLSTM is much smaller than a language model. */
    int tagger = o->task == CMD_TASK_TAGGER;
    if (o->layers < 0)
        o->layers = tagger ? 1 : 2;
    if (o->hidden < 0)
        o->hidden = tagger ? 128 : 512;
    if (o->emb < 0)
        o->emb = tagger ? 32 : 64;
    if (o->dropout < 0)
        o->dropout = tagger ? 0.33 : 0.1;
    return 0;
}

/* Returns 0 (options in o), 1 (--help printed) or 2 (usage error printed). */
static int train_parse(train_opts *o, int argc, char **argv)
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
         .min = 0, .max = 0x110000},
        {"min-count", 0, CLI_INT, &o->min_count, "N",
         .help = "map characters seen fewer than N times to unknown", .min = 1, .max = ANY},
        {"casefold", 0, CLI_FLAG, &o->casefold, NULL, .help = "fold case (Unicode case folding) before training"},
        {"no-nfc", 0, CLI_FLAG, &o->no_nfc, NULL, .help = "do not normalise the text to NFC"},
        {"replace-invalid", 0, CLI_FLAG, &o->replace_invalid, NULL,
         .help = "replace invalid UTF-8 with U+FFFD instead of stopping with an error"},

        {.type = CLI_SECTION, .help = "Model:"},
        {"output", 'o', CLI_STR, &o->output, "MODEL", .help = "write the model to MODEL", .required = 1},
        {"init", 0, CLI_STR, &o->init, "MODEL", .help = "start from the encoder of MODEL (a language model)"},
        {"resume", 0, CLI_STR, &o->resume, "MODEL",
         .help = "continue an interrupted training exactly where MODEL stopped"},
        {"layers", 0, CLI_INT, &o->layers, "N", .help = "recurrent layers (tagger: word BiLSTM layers)",
         .min = 1, .max = 64, .default_text = "2, tagger 1"},
        {"hidden", 0, CLI_INT, &o->hidden, "N",
         .help = "units per recurrent layer (tagger: word BiLSTM, per direction)", .min = 1,
         .max = 65536, .default_text = "512, tagger 128"},
        {"emb", 0, CLI_INT, &o->emb, "N", .help = "character embedding size", .min = 1, .max = 65536,
         .default_text = "64, tagger 32"},
        {"cell", 0, CLI_CHOICE, &o->cell, NULL, .help = "recurrent cell", .choices = "lstm|gru"},
        {"bidir", 0, CLI_FLAG, &o->bidir, NULL, .help = "bidirectional encoder (tagger, classifier)"},
        {"dropout", 0, CLI_FLOAT, &o->dropout, "F",
         .help = "dropout between layers and before the output (0 = none)", .min = 0, .max = 0.95,
         .default_text = "0.1, tagger 0.33"},

        {.type = CLI_SECTION, .help = "Optimisation:"},
        {"batch", 0, CLI_INT, &o->batch, "N", .help = "parallel streams (lm) or sentences per step",
         .min = 1, .max = 65536},
        {"seq", 0, CLI_INT, &o->seq, "N", .help = "characters per step (truncated BPTT length)",
         .min = 1, .max = 1000000},
        {"lr", 0, CLI_FLOAT, &o->lr, "F", .help = "learning rate (Adam)", .min = 0, .max = 10},
        {"lr-decay", 0, CLI_FLOAT, &o->lr_decay, "F",
         .help = "multiply the learning rate by F every --decay-every steps (1 = none)", .min = 1e-6, .max = 1},
        {"decay-every", 0, CLI_LONG, &o->decay_every, "N",
         .help = "steps between learning-rate decays (0 = every epoch)", .min = 0, .max = ANY},
        {"clip", 0, CLI_FLOAT, &o->clip, "F", .help = "clip the gradient norm to F (0 = no clipping)",
         .min = 0, .max = ANY},
        {"epochs", 0, CLI_INT, &o->epochs, "N", .help = "passes over the training data (0 = no limit)",
         .min = 0, .max = ANY, .default_text = "10, or no limit with --steps or --minutes"},
        {"minutes", 0, CLI_FLOAT, &o->minutes, "F",
         .help = "wall-time budget, evaluation included (0 = no limit)", .min = 0, .max = ANY},
        {"steps", 0, CLI_LONG, &o->steps, "N", .help = "maximum optimiser steps (0 = no limit)",
         .min = 0, .max = ANY},
        {"eval-every", 0, CLI_LONG, &o->eval_every, "N",
         .help = "evaluate on the validation data every N steps (0 = only at the end)", .min = 0, .max = ANY},
        {"save-every", 0, CLI_LONG, &o->save_every, "N",
         .help = "also save the model every N steps (0 = only at the end)", .min = 0, .max = ANY},
        {"patience", 0, CLI_INT, &o->patience, "N",
         .help = "stop after N evaluations without a better validation score (tagger, classifier; "
         "0 = never)", .min = 0, .max = ANY},
        {"seed", 0, CLI_LONG, &o->seed, "N", .help = "random seed (initialisation, dropout, data order)",
         .min = 0, .max = ANY},
        {"threads", 0, CLI_INT, &o->threads, "N", .help = "threads for matrix products (OpenBLAS)",
         .min = 1, .max = 1024},

        {.type = CLI_SECTION, .help = "Tagger and classifier:"},
        {"column", 0, CLI_CHOICE, &o->column, NULL, .help = "CoNLL-U column to learn (tagger)", .choices = "upos|xpos"},
        {"no-affixes", 0, CLI_FLAG, &o->no_affixes, NULL,
         .help = "no prefix/suffix/shape features (tagger)"},
        {"ema", 0, CLI_FLOAT, &o->ema, "F",
         .help = "evaluate and keep an exponential moving average of the tagger's parameters, "
         "decay F per step (e.g. 0.999; 0 = off)", .min = 0, .max = 0.999999},
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
        {"ngram-dropout", 0, CLI_FLOAT, &o->ngram_dropout, "F",
         .help = "train this fraction of sentences without their n-gram evidence, so the "
         "encoder learns to classify on its own too (classifier)", .min = 0, .max = 0.99},

        {.type = CLI_SECTION, .help = "Output:"},
        {"log", 0, CLI_STR, &o->log, "FILE",
         .help = "write the learning curve as TSV (step, time, train and validation loss)"},
        {"quiet", 'q', CLI_FLAG, &o->quiet, NULL, .help = "no progress line"},
    };
    const cli_command cmd = {"train", cmd_train_summary, "[options] [FILE...]", train_description,
                             opts, (int)(sizeof opts / sizeof opts[0]), 0, -1};
    int first, rc = cli_parse(&cmd, argc, argv, &first);
    if (rc == 0)
        rc = train_resolve(&cmd, o, argc - first, argv + first);
    return rc;
}

/* ---------------------------------------------------------------- work */

static int train_run(const train_opts *o)
{
    switch (o->task) {
    case CMD_TASK_TAGGER: return train_tagger(o);
    case CMD_TASK_CLASSIFIER: return train_classifier(o);
    default: return train_lm(o);
    }
}

int cmd_train(int argc, char **argv)
{
    train_opts o;
    train_defaults(&o);
    int rc = train_parse(&o, argc, argv);
    if (rc == 0)
        rc = train_run(&o);
    else if (rc == 1)
        rc = 0;
    cli_strs_free(&o.train);
    return rc;
}
