/* train_classifier: the pieces of "charlstm train --task classifier" that
 * its cross-validation (train_cv.c) runs once per fold: one run's model,
 * data and task, and how each is made. */
#ifndef TRAIN_CLASSIFIER_H
#define TRAIN_CLASSIFIER_H

#include "cl_clftrain.h"
#include "train_opts.h"

typedef struct {
    const train_opts *o;
    cl_model *m;
    cl_text_opts text;
    cl_clfdata train, dev;
    cl_clftrain *t;
    cl_ckpt *ck; /* --resume: the MODEL.last file */
} clf_run;

/* The model of a run on r->train (read, not encoded): r->m when loaded
 * already, else --init's encoder or a fresh one from r->train's characters, a new classifier head with
 * r->train's labels, and r->train and r->dev encoded for it.  Prints and
 * returns an exit status. */
int clf_build(clf_run *r, cl_rng *rng);
/* The task over r->train and r->dev (r->t; freed by the caller). */
int clf_start(clf_run *r);

/* --cv: r->train holds every training sentence (read, not encoded), and
 * r->text how they were read.  Returns the exit status. */
int train_classifier_cv(clf_run *r);

#endif
