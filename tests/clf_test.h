/* A classifier model for the tests (test_classifier.c, test_head_gradcheck.c):
 * one way to build it, so the suites do not each grow their own. */
#ifndef CL_CLF_TEST_H
#define CL_CLF_TEST_H

#include <stdlib.h>

#include "cl_classifier.h"
#include "cl_clfdata.h"
#include "cl_test.h"

/* A model over the characters of ds with encoder ec (its vocab is set here),
 * initialised from rng, and in *c a classifier config for ds's labels, not
 * yet added: set its fields, then cl_model_add_head (which takes it). */
static inline cl_model *clf_test_model(const cl_clfdata *ds, cl_encoder_config ec, cl_rng *rng,
                                       cl_classifier_config **c)
{
    cl_vocab_builder b;
    cl_vocab v;
    ck_assert_int_eq(cl_vocab_builder_init(&b), 0);
    cl_vocab_builder_add(&b, ds->cps, ds->off[ds->n]);
    ck_assert_int_eq(cl_vocab_build(&v, &b, 0, 1), 0);
    cl_vocab_builder_free(&b);
    ec.vocab = cl_vocab_size(&v);
    cl_text_opts to = cl_text_defaults();
    cl_model *m;
    ck_assert_int_eq(cl_model_create(&m, &to, &v, &ec, rng), 0);
    const char **labels;
    ck_assert_int_eq(cl_clfdata_sorted_labels(ds, &labels), 0);
    ck_assert_int_eq(cl_classifier_config_new(c, labels, ds->nlabels, NULL), 0);
    free(labels);
    return m;
}

#endif
