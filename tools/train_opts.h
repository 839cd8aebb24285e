/* train_opts: the parsed options of "charlstm train", shared by the
 * command (tools/cmd_train.c: option table, defaults, checks) and the task
 * trainers (train_lm.c, train_tagger.c, train_classifier.c). */
#ifndef TRAIN_OPTS_H
#define TRAIN_OPTS_H

#include "cl_dist.h"
#include "cl_train.h"
#include "cli_opts.h"

typedef enum { CELL_LSTM, CELL_GRU } train_cell;
typedef enum { COLUMN_UPOS, COLUMN_XPOS } train_column;
typedef enum { SCHEDULE_STEP, SCHEDULE_COSINE } train_schedule;
typedef enum { PROGRESS_LINE, PROGRESS_JSON } train_progress;
typedef enum { CV_OUTPUT_TEXT, CV_OUTPUT_JSON } train_cv_output;
typedef enum { DIRECTION_FORWARD, DIRECTION_BACKWARD, DIRECTION_BOTH } train_direction;

typedef struct {
    /* data */
    int task;               /* cmd_task */
    cli_strs train;         /* --train files, then positional files */
    const char *dev;
    double dev_fraction;    /* resolved: 0 with --dev */
    int max_vocab, min_count, casefold, no_nfc, replace_invalid;
    int keep_case, unidir;  /* turn off the classifier's default --casefold, --bidir */
    /* model */
    const char *output, *init, *resume;
    int layers, hidden, emb, cell, bidir;
    int direction;          /* lm: train_direction, which language models a run trains */
    double dropout;
    /* lm regularisation (AWD-LSTM): locked dropout masks, DropConnect on W_hh,
     * whole characters dropped from a pass */
    int locked_dropout;
    double weight_drop, embed_dropout;
    double state_reset;     /* lm: chance a stream restarts from a zero state at a step */
    /* optimisation */
    int batch, seq;
    double lr, lr_decay, clip;
    long decay_every, warmup;
    int schedule;           /* train_schedule */
    int epochs;             /* resolved: 0 = no limit */
    double minutes;
    long steps, eval_every, save_every, seed;
    int patience, threads;
    int precision;          /* cl_precision (the choices are in its order): auto, fp32, bf16 */
    int accumulate;         /* batches per optimizer step */
    const cl_dist *dist;    /* the processes training together (mpirun), or this one */
    int deterministic;      /* every batch as N shares summed in a fixed order (0 = off) */
    double bucket_mb;       /* gradient all-reduce buckets during backward (0 = after it) */
    /* tagger and classifier */
    int column, no_affixes, freeze, class_weights;
    double encoder_lr;      /* resolved: 0 with --freeze */
    double ema;             /* tagger: parameter moving average (0 = off) */
    int ngram, ngram_bits;  /* classifier: word n-gram evidence (0 = off), 2^bits buckets */
    double ngram_dropout;   /* classifier: texts trained without their evidence */
    int ngram_chars;        /* classifier: character n-grams of lengths 2..N too (0 = off) */
    int nbsvm;              /* classifier: learned NBSVM weights on the n-grams' ratios */
    double nbsvm_lr;        /* classifier: learning rate of the NBSVM weights (resolved) */
    int no_encoder;         /* classifier: the n-gram part alone (ablation) */
    int cv;                 /* classifier: K-fold cross-validation instead of a model (0 = off) */
    long cv_seed;           /* the folds' seed */
    int cv_output;          /* train_cv_output: the report's form */
    /* output */
    const char *log;
    int quiet;
    int progress;           /* train_progress */
    /* the resolved options as "name=value", kept in MODEL.last for --resume */
    char **args;
    int nargs;
} train_opts;

/* Each returns the process exit status. */
int train_lm(const train_opts *o);
int train_tagger(const train_opts *o);
int train_classifier(const train_opts *o);

#endif
