/* eval_classifier: "charlstm eval" on a model with a classifier head. */
#include "cli_util.h"
#include "eval_tasks.h"

int eval_classifier(const cl_model *m, const char *const *files, int nfiles, int batch)
{
    (void)m, (void)files, (void)nfiles, (void)batch;
    return cli_error("eval", "evaluating a classifier is not implemented yet");
}
