/* eval_lm: "charlstm eval" of a language model on text files. */
#include <math.h>
#include <stdio.h>

#include "cl_lmtrain.h"
#include "cli_json.h"
#include "cli_util.h"
#include "eval_tasks.h"

/* The reference evaluates in windows of 256 steps; the loss does not depend
 * on the window, only speed and memory do. */
enum { EVAL_CHUNK = 256 };

int eval_lm(const cl_model *m, const char *const *files, int nfiles, int streams,
            const eval_lm_windows *win, cJSON *json)
{
    cl_corpus *c;
    cl_ids ids;
    cl_diag d = {{0}};
    int64_t unk = 0;
    double loss = NAN;
    long count = 0;
    int err = cl_corpus_open(&c, files, nfiles, cl_model_text(m), &d);
    if (err)
        return cli_fail("eval", err, &d, "cannot read the text");
    err = cl_ids_from_corpus(&ids, c, cl_model_vocab(m), NULL, &unk, &d);
    cl_corpus_close(c);
    if (!err && win->windows > 0)
        err = cl_lm_evaluate_windows(m, &ids, win->window, win->windows, streams,
                                     (uint64_t)win->seed, &loss, &count, &d);
    else if (!err)
        err = cl_lm_evaluate(m, &ids, streams, EVAL_CHUNK, &loss, &count, &d);
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
