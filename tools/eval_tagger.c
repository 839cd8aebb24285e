/* eval_tagger: "charlstm eval" on a model with a tagger head. */
#include "cli_util.h"
#include "eval_tasks.h"

int eval_tagger(const cl_model *m, const char *const *files, int nfiles, int batch)
{
    (void)m, (void)files, (void)nfiles, (void)batch;
    return cli_error("eval", "evaluating a tagger is not implemented yet");
}
