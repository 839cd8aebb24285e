/* cmd_generate: "charlstm generate": continue a prompt with a language model.
 *
 * Options first (struct, defaults, table), then the work, generate_run(). */
#include <math.h>
#include <stdio.h>

#include "cli_opts.h"
#include "cli_util.h"
#include "commands.h"

const char cmd_generate_summary[] = "continue a text with a language model";

typedef struct {
    const char *model;
    const char *prompt;  /* NULL: read stdin when it is not a terminal, else "" */
    long length;
    double temperature, top_p;
    int top_k, threads;
    long seed;           /* 0: seed from the clock */
} generate_opts;

/* ---------------------------------------------------------------- options */

static void generate_defaults(generate_opts *o)
{
    /* A fixed seed: the same command prints the same text, which makes
     * examples, bug reports and tests reproducible.  --seed 0 varies it. */
    *o = (generate_opts){.length = 500, .temperature = 1.0, .top_p = 1.0, .threads = 1, .seed = 1};
}

static const char generate_description[] =
    "Feeds the prompt to the model, then samples --length characters one at a\n"
    "time and writes the prompt and its continuation to stdout.  Lower\n"
    "temperatures give safer, more repetitive text; --top-k and --top-p cut the\n"
    "unlikely tail of each distribution before sampling.\n"
    "\n"
    "Examples:\n"
    "  charlstm generate -m shakespeare.model --prompt 'ROMEO:' -n 1000\n"
    "  echo 'To be, or not' | charlstm generate -m shakespeare.model --temperature 0.7\n";

/* Returns 0 (options in o), 1 (--help printed) or 2 (usage error printed). */
static int generate_parse(generate_opts *o, int argc, char **argv)
{
    const cli_opt opts[] = {
        {"model", 'm', CLI_STR, &o->model, "MODEL", .help = "language model to sample from", .required = 1},
        {"prompt", 'p', CLI_STR, &o->prompt, "TEXT", .help = "text to continue",
         .default_text = "stdin if it is not a terminal, else empty"},
        {"length", 'n', CLI_LONG, &o->length, "N", .help = "characters to generate", .min = 0, .max = INFINITY},
        {"temperature", 't', CLI_FLOAT, &o->temperature, "F",
         .help = "divide the logits by F (0 = always the most likely character)", .min = 0, .max = 100},
        {"top-k", 0, CLI_INT, &o->top_k, "N", .help = "sample among the N most likely characters (0 = all)",
         .min = 0, .max = INFINITY},
        {"top-p", 0, CLI_FLOAT, &o->top_p, "F",
         .help = "sample among the most likely characters whose probabilities sum to F (1 = all)",
         .min = 0, .max = 1},
        {"seed", 's', CLI_LONG, &o->seed, "N", .help = "random seed (0 = from the clock)",
         .min = 0, .max = INFINITY},
        {"threads", 0, CLI_INT, &o->threads, "N", .help = "threads for matrix products (OpenBLAS)",
         .min = 1, .max = 1024},
    };
    const cli_command cmd = {"generate", cmd_generate_summary, "-m MODEL [options]",
                             generate_description, opts, (int)(sizeof opts / sizeof opts[0]), 0, 0};
    int first;
    return cli_parse(&cmd, argc, argv, &first);
}

/* ---------------------------------------------------------------- work */

static int generate_run(const generate_opts *o)
{
    (void)o;
    cli_error("generate", "not implemented yet");
    return CLI_EXIT_USAGE;
}

int cmd_generate(int argc, char **argv)
{
    generate_opts o;
    generate_defaults(&o);
    int rc = generate_parse(&o, argc, argv);
    if (rc == 0)
        return generate_run(&o);
    return rc == 1 ? 0 : rc;
}
