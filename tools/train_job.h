/* train_job: what "charlstm train" does for every task once the task's
 * model, data and training task exist: the core's configuration from the
 * options, the files (-o, MODEL.last with the options for --resume), the
 * progress line, the --log curve, Ctrl-C, and the messages at the end.
 * The task files (train_lm.c, train_tagger.c, train_classifier.c) keep
 * only what is their own: reading the data and building the model. */
#ifndef TRAIN_JOB_H
#define TRAIN_JOB_H

#include "cl_train.h"
#include "train_opts.h"

typedef struct {
    const train_opts *o;
    cl_model *m;
    cl_train_task task;
    cl_train_group groups[4];
    int ngroups;
    const char *unit;       /* "chars", "words", "sentences" */
    const char *metric;     /* "valid" (a loss), "dev accuracy" */
    int metric_percent;     /* the metric is an accuracy, shown in % */
    const cl_ckpt *resume;  /* the MODEL.last being resumed, or NULL */
} train_job;

/* Train; returns the exit status (0, CLI_EXIT_FAIL, CLI_EXIT_INTERRUPTED). */
int train_job_run(train_job *j);
/* The training core's configuration from the options (limits, schedule,
 * patience, seed, the processes). */
cl_train_config train_job_config(const train_opts *o);
/* The shares of every batch this process computes: one per process, or --deterministic N / processes of N. */
cl_train_shares train_job_shares(const train_opts *o);

/* The text options the command line asks for (--no-nfc, --casefold,
 * --replace-invalid) over the library's defaults: one reading for every task. */
cl_text_opts train_job_text(const train_opts *o);

/* "charlstm train: <what>" on stderr unless --quiet: how the run is set up. */
void train_job_describe(const train_opts *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
