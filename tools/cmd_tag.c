/* cmd_tag: "charlstm tag": part-of-speech tags for sentences.
 *
 * Options first (struct, defaults, table), then the work, tag_run(). */
#include <stdio.h>

#include "cli_opts.h"
#include "cli_util.h"
#include "commands.h"

const char cmd_tag_summary[] = "tag the words of sentences with parts of speech";

typedef enum { TAG_IN_TEXT, TAG_IN_CONLLU } tag_input;
typedef enum { TAG_OUT_TAGS, TAG_OUT_CONLLU } tag_output;

typedef struct {
    const char *model;
    int input, output;  /* tag_input, tag_output */
    int batch, threads;
    cli_strs files;     /* positional; "-" (stdin) when none */
} tag_opts;

/* ---------------------------------------------------------------- options */

static void tag_defaults(tag_opts *o)
{
    *o = (tag_opts){.input = TAG_IN_TEXT, .output = TAG_OUT_TAGS, .batch = 32, .threads = 1};
}

static const char tag_description[] =
    "Reads one sentence per line (--input text, split into words as Universal\n"
    "Dependencies does) or CoNLL-U (--input conllu, words as given) and writes\n"
    "each sentence as word/TAG pairs on one line (--output tags) or as CoNLL-U\n"
    "with the tag column filled in (--output conllu).  Without FILE, reads stdin.\n"
    "\n"
    "Examples:\n"
    "  echo \"The cat didn't sleep.\" | charlstm tag -m en-pos.model\n"
    "  charlstm tag -m en-pos.model --input conllu --output conllu test.conllu\n";

static int tag_parse(tag_opts *o, int argc, char **argv)
{
    const cli_opt opts[] = {
        {"model", 'm', CLI_STR, &o->model, "MODEL", .help = "model with a tagger head", .required = 1},
        {"input", 0, CLI_CHOICE, &o->input, NULL, .help = "input format", .choices = "text|conllu"},
        {"output", 0, CLI_CHOICE, &o->output, NULL, .help = "output format (tags: word/TAG)", .choices = "tags|conllu"},
        {"batch", 0, CLI_INT, &o->batch, "N", .help = "sentences per batch", .min = 1, .max = 65536},
        {"threads", 0, CLI_INT, &o->threads, "N", .help = "threads for matrix products (OpenBLAS)",
         .min = 1, .max = 1024},
    };
    const cli_command cmd = {"tag", cmd_tag_summary, "-m MODEL [options] [FILE...]",
                             tag_description, opts, (int)(sizeof opts / sizeof opts[0]), 0, -1};
    int first, rc = cli_parse(&cmd, argc, argv, &first);
    if (rc == 0)
        rc = cli_strs_collect(&cmd, &o->files, argc - first, argv + first, "-");
    return rc;
}

/* ---------------------------------------------------------------- work */

static int tag_run(const tag_opts *o)
{
    (void)o;
    cli_error("tag", "not implemented yet");
    return CLI_EXIT_USAGE;
}

int cmd_tag(int argc, char **argv)
{
    tag_opts o;
    tag_defaults(&o);
    int rc = tag_parse(&o, argc, argv);
    if (rc == 0)
        rc = tag_run(&o);
    else if (rc == 1)
        rc = 0;
    cli_strs_free(&o.files);
    return rc;
}
