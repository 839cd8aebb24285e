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

/* One direction's numbers: into json (an object per direction when the
 * file holds both, else the top level) or as text lines with a prefix. */
static void report(cJSON *json, const char *prefix, double loss, long count, int64_t unk)
{
    if (json) {
        cli_json_add_number(json, "nats_per_char", loss);
        cli_json_add_number(json, "bits_per_char", loss / log(2.0));
        cli_json_add_number(json, "perplexity", exp(loss));
        cJSON_AddNumberToObject(json, "predictions", (double)count);
        cJSON_AddNumberToObject(json, "unknown_chars", (double)unk);
        return;
    }
    printf("%snats/char\t%.4f\n%sbits/char\t%.4f\n%sperplexity\t%.3f\n%spredictions\t%ld\n"
           "%sunknown_chars\t%lld\n", prefix, loss, prefix, loss / log(2.0), prefix, exp(loss),
           prefix, count, prefix, (long long)unk);
}

/* Every language model of m on ids: a file with a forward model only
 * reports as before; with a backward one each line (each JSON object)
 * names its direction. */
static int evaluate_all(const cl_model *m, const cl_ids *ids, int streams, int64_t unk,
                        cJSON *json, cl_diag *d)
{
    int both = cl_lm_encoder_of(m, CL_LM_BACKWARD) != NULL;
    for (int k = CL_LM_FORWARD; k <= CL_LM_BACKWARD; k++) {
        cl_lm_dir dir = (cl_lm_dir)k;
        double loss = NAN;
        long count = 0;
        char prefix[16] = "";
        if (!cl_lm_encoder_of(m, dir))
            continue;
        int err = cl_lm_evaluate_dir(m, dir, ids, streams, EVAL_CHUNK, &loss, &count, d);
        if (err)
            return err;
        if (both)
            snprintf(prefix, sizeof prefix, "%s.", cl_lm_dir_name(dir));
        report(json && both ? cJSON_AddObjectToObject(json, cl_lm_dir_name(dir)) : json, prefix,
               loss, count, unk);
    }
    return CL_OK;
}

int eval_lm(const cl_model *m, const char *const *files, int nfiles, int streams, cJSON *json)
{
    cl_corpus *c;
    cl_ids ids;
    cl_diag d = {{0}};
    int64_t unk = 0;
    int err = cl_corpus_open(&c, files, nfiles, cl_model_text(m), &d);
    if (err)
        return cli_fail("eval", err, &d, "cannot read the text");
    err = cl_ids_from_corpus(&ids, c, cl_model_vocab(m), NULL, &unk, &d);
    cl_corpus_close(c);
    if (!err)
        err = evaluate_all(m, &ids, streams, unk, json, &d);
    cl_ids_release(&ids);
    return err ? cli_fail("eval", err, &d, "evaluation failed") : 0;
}
