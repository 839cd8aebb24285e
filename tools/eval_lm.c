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

/* One language model (direction dir) of m on ids, the reference's evaluation
 * (cl_lm_evaluate_with) or nanoGPT's random windows, with the products in
 * `precision` and the recurrence on the threads the command set. */
static int evaluate(const cl_model *m, cl_lm_dir dir, const cl_ids *ids, int streams,
                    int precision, const eval_lm_windows *win, double *loss, long *count,
                    cl_diag *d)
{
    cl_lm lm;
    int windows = win->windows > 0;
    int T = windows ? win->window : EVAL_CHUNK;
    int B = windows && win->windows < streams ? (int)win->windows : streams;
    int err = cl_lm_create_dir(&lm, dir, cl_lm_encoder_of(m, dir), cl_model_params(m), 0, T, B);
    if (err)
        return err;
    cl_encoder_set_threads(&lm.enc, omp_get_max_threads());
    err = cl_lm_set_precision(&lm, (cl_precision)precision);
    if (!err && windows)
        err = cl_lm_evaluate_windows_with(&lm, cl_model_params(m), ids, win->windows,
                                          (uint64_t)win->seed, loss, count, d);
    else if (!err)
        err = cl_lm_evaluate_with(&lm, cl_model_params(m), ids, loss, count, d);
    cl_lm_free(&lm);
    return err;
}

/* One direction's numbers: into json (an object per direction when the
 * file holds both, else the top level) or as text lines with a prefix. */
static void report(cJSON *json, const char *prefix, double loss, long count, int64_t unk,
                   const eval_lm_windows *win)
{
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
        return;
    }
    printf("%snats/char\t%.4f\n%sbits/char\t%.4f\n%sperplexity\t%.3f\n%spredictions\t%ld\n"
           "%sunknown_chars\t%lld\n", prefix, loss, prefix, loss / log(2.0), prefix, exp(loss),
           prefix, count, prefix, (long long)unk);
    if (win->windows > 0)
        printf("%swindows\t%ld of %d characters, seed %ld\n", prefix, win->windows, win->window,
               win->seed);
}

/* Every language model of m on ids: a file with a forward model only
 * reports as before; with a backward one each line (each JSON object)
 * names its direction. */
static int evaluate_all(const cl_model *m, const cl_ids *ids, int streams, int precision,
                        const eval_lm_windows *win, int64_t unk, cJSON *json, cl_diag *d)
{
    int both = cl_lm_encoder_of(m, CL_LM_BACKWARD) != NULL;
    for (int k = CL_LM_FORWARD; k <= CL_LM_BACKWARD; k++) {
        cl_lm_dir dir = (cl_lm_dir)k;
        double loss = NAN;
        long count = 0;
        char prefix[16] = "";
        if (!cl_lm_encoder_of(m, dir))
            continue;
        int err = evaluate(m, dir, ids, streams, precision, win, &loss, &count, d);
        if (err)
            return err;
        if (both)
            snprintf(prefix, sizeof prefix, "%s.", cl_lm_dir_name(dir));
        report(json && both ? cJSON_AddObjectToObject(json, cl_lm_dir_name(dir)) : json, prefix,
               loss, count, unk, win);
    }
    return CL_OK;
}

int eval_lm(const cl_model *m, const char *const *files, int nfiles, int streams, int precision,
            const eval_lm_windows *win, cJSON *json)
{
    cl_corpus *c;
    cl_ids ids;
    cl_diag d = {{0}};
    int64_t unk = 0;
    int err = cl_precision_check((cl_precision)precision);
    if (err)
        return cli_precision_fail("eval", precision, err);
    err = cl_corpus_open(&c, files, nfiles, cl_model_text(m), &d);
    if (err)
        return cli_fail("eval", err, &d, "cannot read the text");
    err = cl_ids_from_corpus(&ids, c, cl_model_vocab(m), NULL, &unk, &d);
    cl_corpus_close(c);
    if (!err)
        err = evaluate_all(m, &ids, streams, precision, win, unk, json, &d);
    cl_ids_release(&ids);
    return err ? cli_fail("eval", err, &d, "evaluation failed") : 0;
}
