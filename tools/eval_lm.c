/* eval_lm: "charlstm eval" of a language model on text files. */
#include <math.h>
#include <omp.h>
#include <stdio.h>

#include "cl_lmtrain.h"
#include "cli_json.h"
#include "cli_util.h"
#include "eval_tasks.h"

/* The reference evaluates in windows of 256 steps; the loss does not depend
 * on the window, only speed and memory do. */
enum { EVAL_CHUNK = 256 };

/* The reference's evaluation (cl_lm_evaluate_with), or nanoGPT's random
 * windows, with the encoder's products in `precision` and the recurrence on
 * the threads the command set. */
static int evaluate(const cl_model *m, const cl_ids *ids, int streams, int precision,
                    const eval_lm_windows *win, double *loss, long *count, cl_diag *d)
{
    cl_lm lm;
    int windows = win->windows > 0;
    int T = windows ? win->window : EVAL_CHUNK;
    int B = windows && win->windows < streams ? (int)win->windows : streams;
    int err = cl_lm_create(&lm, cl_model_encoder(m), cl_model_params(m), 0, T, B);
    if (err)
        return err;
    cl_encoder_set_threads(&lm.enc, omp_get_max_threads());
    err = cl_encoder_set_precision(&lm.enc, (cl_precision)precision);
    if (!err && windows)
        err = cl_lm_evaluate_windows_with(&lm, cl_model_params(m), ids, win->windows,
                                          (uint64_t)win->seed, loss, count, d);
    else if (!err)
        err = cl_lm_evaluate_with(&lm, cl_model_params(m), ids, loss, count, d);
    cl_lm_free(&lm);
    return err;
}

int eval_lm(const cl_model *m, const char *const *files, int nfiles, int streams, int precision,
            const eval_lm_windows *win, cJSON *json)
{
    cl_corpus *c;
    cl_ids ids;
    cl_diag d = {{0}};
    int64_t unk = 0;
    double loss = NAN;
    long count = 0;
    int err = cl_precision_check((cl_precision)precision);
    if (err)
        return cli_precision_fail("eval", precision, err);
    err = cl_corpus_open(&c, files, nfiles, cl_model_text(m), &d);
    if (err)
        return cli_fail("eval", err, &d, "cannot read the text");
    err = cl_ids_from_corpus(&ids, c, cl_model_vocab(m), NULL, &unk, &d);
    cl_corpus_close(c);
    if (!err)
        err = evaluate(m, &ids, streams, precision, win, &loss, &count, &d);
    cl_ids_release(&ids);
    if (err)
        return cli_fail("eval", err, &d, "evaluation failed");
    if (json) {
        cli_json_add_number(json, "nats_per_char", loss);
        cli_json_add_number(json, "bits_per_char", loss / log(2.0));
        cli_json_add_number(json, "perplexity", exp(loss));
        cJSON_AddNumberToObject(json, "predictions", (double)count);
        cJSON_AddNumberToObject(json, "unknown_chars", (double)unk);
        if (win->windows > 0) {
            cJSON_AddNumberToObject(json, "windows", (double)win->windows);
            cJSON_AddNumberToObject(json, "window", win->window);
            cJSON_AddNumberToObject(json, "seed", (double)win->seed);
        }
        return 0;
    }
    printf("nats/char\t%.4f\nbits/char\t%.4f\nperplexity\t%.3f\npredictions\t%ld\n"
           "unknown_chars\t%lld\n",
           loss, loss / log(2.0), exp(loss), count, (long long)unk);
    if (win->windows > 0)
        printf("windows\t%ld of %d characters, seed %ld\n", win->windows, win->window, win->seed);
    return 0;
}
