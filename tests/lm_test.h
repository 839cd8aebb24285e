/* Language-model training for the tests (test_lm.c, test_bidir.c, test_serve.c): one way
 * to run a few steps of the training core, so the suites do not each grow
 * their own. */
#ifndef CL_LM_TEST_H
#define CL_LM_TEST_H

#include "cl_lmtrain.h"
#include "cl_test.h"

/* The vocabulary of cps[0..n) (every character, no cut); frees cps. */
static inline cl_vocab lm_test_vocab(int32_t *cps, size_t n)
{
    cl_vocab_builder b;
    cl_vocab v;
    ck_assert_int_eq(cl_vocab_builder_init(&b), 0);
    cl_vocab_builder_add(&b, cps, n);
    ck_assert_int_eq(cl_vocab_build(&v, &b, 0, 1), 0);
    cl_vocab_builder_free(&b);
    free(cps);
    return v;
}

/* Train m's language models of dirs (CL_LMTRAIN_* bits) on ids for `steps`
 * steps in total (a resumed run continues to it), batch 3 x 7, writing the
 * training state to save_path when given. */
static inline void lm_test_train(cl_model *m, unsigned dirs, const cl_ids *ids, long steps,
                                 const cl_ckpt *resume, const char *save_path)
{
    cl_lmtrain_config c = cl_lmtrain_defaults();
    c.batch = 3, c.seq = 7, c.dirs = dirs;
    cl_train_config tc = cl_train_defaults();
    tc.max_steps = steps, tc.eval_every = 0, tc.seed = 9, tc.lr = 1e-2f;
    cl_lmtrain *t;
    cl_trainer *tr;
    cl_train_group g[3];
    cl_diag d = {{0}};
    ck_assert_msg(cl_lmtrain_create(&t, m, &c, ids, NULL, &d) == 0, "%s", d.msg);
    cl_train_task task = cl_lmtrain_task(t);
    cl_train_files f = {NULL, save_path, NULL, NULL};
    ck_assert_msg(cl_trainer_create(&tr, m, &tc, g, cl_lmtrain_groups(t, tc.lr, g), &task, &f,
                                    &d) == 0, "%s", d.msg);
    if (resume)
        ck_assert_msg(cl_trainer_resume(tr, resume, &d) == 0, "%s", d.msg);
    ck_assert_msg(cl_trainer_run(tr, NULL, &d) == 0, "%s", d.msg);
    cl_trainer_free(tr);
    cl_lmtrain_free(t);
}

/* m saved to NAME in the test directory and loaded back, its weights equal
 * (test_lm.c, test_bidir.c); the caller frees the copy. */
static inline cl_model *lm_test_round_trip(const cl_model *m, const char *name)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", cl_test_tmpdir(), name);
    cl_model *back;
    cl_diag d = {{0}};
    ck_assert_int_eq(cl_model_save(m, path, NULL, NULL, &d), 0);
    ck_assert_msg(cl_model_load(&back, path, NULL, &d) == 0, "%s", d.msg);
    ck_assert_int_eq(back->params.n, m->params.n);
    ck_assert_mem_eq(back->params.w, m->params.w, m->params.n * sizeof(float));
    ck_assert_ptr_null(back->params.g); /* loaded: no gradients until a trainer asks */
    return back;
}

#endif
