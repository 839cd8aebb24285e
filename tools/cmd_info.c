/* cmd_info: "charlstm info": what a model file holds.
 *
 * Options first (struct, table), then the work, info_run(). */
#include <stdio.h>

#include "cli_opts.h"
#include "cli_util.h"
#include "commands.h"

const char cmd_info_summary[] = "describe model files (hyperparameters, vocabulary, heads)";

typedef struct {
    cli_strs models;  /* positional, at least one */
} info_opts;

/* ---------------------------------------------------------------- options */

static const char info_description[] =
    "Prints, for each model file, its format version, hyperparameters, vocabulary\n"
    "size, the heads it holds (lm, tagger, classifier with their labels), the\n"
    "size of every section and whether the training state for --resume is\n"
    "included.  The file is fully validated (checksums) on the way.\n"
    "\n"
    "Example:\n"
    "  charlstm info en-pos.model\n";

static int info_parse(info_opts *o, int argc, char **argv)
{
    const cli_command cmd = {"info", cmd_info_summary, "MODEL...", info_description, NULL, 0, 1, -1};
    int first, rc = cli_parse(&cmd, argc, argv, &first);
    if (rc == 0)
        rc = cli_strs_collect(&cmd, &o->models, argc - first, argv + first, NULL);
    return rc;
}

/* ---------------------------------------------------------------- work */

static int info_run(const info_opts *o)
{
    (void)o;
    cli_error("info", "not implemented yet");
    return CLI_EXIT_USAGE;
}

int cmd_info(int argc, char **argv)
{
    info_opts o = {0};
    int rc = info_parse(&o, argc, argv);
    if (rc == 0)
        rc = info_run(&o);
    else if (rc == 1)
        rc = 0;
    cli_strs_free(&o.models);
    return rc;
}
