/* cmd_classify: "charlstm classify": a label for each sentence.
 *
 * Options first (struct, defaults, table), then the work, classify_run(). */
#include <stdio.h>

#include "cli_opts.h"
#include "cli_util.h"
#include "commands.h"

const char cmd_classify_summary[] = "label sentences (e.g. sentiment) with a classifier";

typedef enum { CLASSIFY_OUT_TSV, CLASSIFY_OUT_JSON } classify_output;

typedef struct {
    const char *model;
    int all;            /* every label's probability, not only the best */
    int output;         /* classify_output */
    int batch, threads;
    cli_strs files;     /* positional; "-" (stdin) when none */
} classify_opts;

/* ---------------------------------------------------------------- options */

static void classify_defaults(classify_opts *o)
{
    *o = (classify_opts){.output = CLASSIFY_OUT_TSV, .batch = 32, .threads = 1};
}

static const char classify_description[] =
    "Reads one sentence per line and writes, per line, the most likely label, its\n"
    "probability and the sentence ('label<TAB>prob<TAB>text'), or with --all the\n"
    "probability of every label.  --output json writes one JSON object per line.\n"
    "Without FILE, reads stdin.\n"
    "\n"
    "Example:\n"
    "  echo 'A gorgeous, witty, seductive movie.' | charlstm classify -m sst2.model\n";

static int classify_parse(classify_opts *o, int argc, char **argv)
{
    const cli_opt opts[] = {
        {"model", 'm', CLI_STR, &o->model, "MODEL", .help = "model with a classifier head", .required = 1},
        {"all", 'a', CLI_FLAG, &o->all, NULL, .help = "print the probability of every label"},
        {"output", 0, CLI_CHOICE, &o->output, NULL, .help = "output format", .choices = "tsv|json"},
        {"batch", 0, CLI_INT, &o->batch, "N", .help = "sentences per batch", .min = 1, .max = 65536},
        {"threads", 0, CLI_INT, &o->threads, "N", .help = "threads for matrix products (OpenBLAS)",
         .min = 1, .max = 1024},
    };
    const cli_command cmd = {"classify", cmd_classify_summary, "-m MODEL [options] [FILE...]",
                             classify_description, opts, (int)(sizeof opts / sizeof opts[0]), 0, -1};
    int first, rc = cli_parse(&cmd, argc, argv, &first);
    if (rc == 0)
        rc = cli_strs_collect(&cmd, &o->files, argc - first, argv + first, "-");
    return rc;
}

/* ---------------------------------------------------------------- work */

static int classify_run(const classify_opts *o)
{
    (void)o;
    cli_error("classify", "not implemented yet");
    return CLI_EXIT_USAGE;
}

int cmd_classify(int argc, char **argv)
{
    classify_opts o;
    classify_defaults(&o);
    int rc = classify_parse(&o, argc, argv);
    if (rc == 0)
        rc = classify_run(&o);
    else if (rc == 1)
        rc = 0;
    cli_strs_free(&o.files);
    return rc;
}
