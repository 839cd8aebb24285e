/* cmd_generate: "charlstm generate": continue a prompt with a language model.
 *
 * Options first (struct, defaults, table), then the work, generate_run(). */
#include <math.h>
#include <inttypes.h>
#include <stdio.h>

#include "cli_opts.h"
#include "cli_util.h"
#include "commands.h"

#include <cblas.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cl_generate.h"

const char cmd_generate_summary[] = "continue a text with a language model";

typedef struct {
    const char *model;
    const char *prompt;  /* NULL: read stdin when it is not a terminal, else "" */
    long length;
    double temperature, top_p;
    int top_k, threads;
    long seed;           /* 0: seed from the system's entropy */
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
         .min = 0, .max = 1, .above_min = 1},
        {"seed", 's', CLI_LONG, &o->seed, "N", .help = "random seed (0 = from the system's entropy, printed on stderr)",
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

#define CMD "generate"

/* The prompt's bytes: --prompt, else stdin unless it is a terminal. */
static char *read_prompt(const generate_opts *o, size_t *n)
{
    if (o->prompt || isatty(STDIN_FILENO)) {
        const char *p = o->prompt ? o->prompt : "";
        *n = strlen(p);
        return strdup(p);
    }
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    for (size_t got; buf && (got = fread(buf + len, 1, cap - len, stdin)) > 0;) {
        len += got;
        char *bigger = len == cap ? realloc(buf, cap *= 2) : buf;
        if (!bigger)
            free(buf);
        buf = bigger;
    }
    *n = len;
    return buf;
}

/* Prompt characters the model has never seen: say which (each once, the
 * first WARN_LIST of them), then go on with the unknown symbol in their place. */
#define WARN_LIST 10

static void warn_unknown(const cl_model *m, const int32_t *cps, size_t n)
{
    char list[256] = "", enc[5];
    int32_t seen[WARN_LIST];
    size_t unknown = 0, used = 0;
    int nseen = 0, more = 0;
    for (size_t i = 0; i < n; i++) {
        if (cl_vocab_id(cl_model_vocab(m), cps[i]) != CL_VOCAB_UNK)
            continue;
        unknown++;
        int j = 0;
        while (j < nseen && seen[j] != cps[i])
            j++;
        if (j < nseen)
            continue;
        if (nseen == WARN_LIST) {
            more = 1;
            continue;
        }
        seen[nseen++] = cps[i];
        int k = cl_text_encode_cp(cps[i], enc);
        enc[k] = 0;
        used += (size_t)snprintf(list + used, sizeof list - used, " '%s' (U+%04X)", enc,
                                 (unsigned)cps[i]);
    }
    if (unknown)
        fprintf(stderr, "charlstm generate: warning: %zu prompt character%s not in the model's "
                        "vocabulary, read as unknown:%s%s\n",
                unknown, unknown > 1 ? "s are" : " is", list, more ? " ..." : "");
}

static int encode_prompt(const generate_opts *o, const cl_model *m, int **ids, size_t *n)
{
    size_t nbytes;
    int32_t *cps = NULL;
    char *bytes = read_prompt(o, &nbytes);
    cl_diag d = {{0}};
    if (!bytes)
        return cli_error(CMD, "out of memory reading the prompt");
    int err = cl_text_decode(bytes, nbytes, cl_model_text(m), o->prompt ? "--prompt" : "<stdin>", &cps, n,
                             &d);
    free(bytes);
    if (err)
        return cli_fail(CMD, err, &d, "cannot read the prompt");
    warn_unknown(m, cps, *n);
    *ids = malloc(sizeof(int) * (*n ? *n : 1));
    if (*ids)
        cl_model_encode(m, cps, *n, *ids, NULL);
    free(cps);
    return *ids ? 0 : cli_error(CMD, "out of memory");
}

/* The prompt as the model read it, then the sampled continuation, flushed
 * character by character on a terminal so the text appears as it comes. */
static int sample_text(const generate_opts *o, const cl_model *m, cl_gen *g, const int *ids,
                       size_t n)
{
    char enc[4];
    int tty = isatty(STDOUT_FILENO);
    for (size_t i = 0; i < n; i++)
        fwrite(enc, 1, (size_t)cl_text_encode_cp(cl_vocab_cp(cl_model_vocab(m), ids[i]), enc), stdout);
    for (long i = 0; i < o->length; i++) {
        int id;
        cl_gen_next(g, &id);
        int32_t cp = cl_vocab_cp(cl_model_vocab(m), id);
        fwrite(enc, 1, (size_t)cl_text_encode_cp(cp, enc), stdout);
        if (tty || cp == '\n')
            fflush(stdout);
    }
    if (o->length > 0)
        putchar('\n');
    return ferror(stdout) || fflush(stdout) ? cli_error(CMD, "cannot write to stdout") : 0;
}

static int generate_run(const generate_opts *o)
{
    cl_model *m;
    cl_gen *g = NULL;
    int *ids = NULL;
    size_t n = 0;
    cl_diag d = {{0}};
    int err = cl_model_load(&m, o->model, NULL, &d);
    if (err)
        return cli_fail(CMD, err, &d, "cannot load the model");
    cli_threads(o->threads);
    cl_sample_config sc = {(float)o->temperature, o->top_k, (float)o->top_p};
    uint64_t seed = o->seed ? (uint64_t)o->seed : cli_entropy_seed();
    if (!o->seed) /* shown, so a good sample can be made again */
        fprintf(stderr, "charlstm generate: --seed %" PRIu64 "\n", seed);
    int rc = encode_prompt(o, m, &ids, &n);
    if (!rc && (err = cl_gen_create(&g, m, &sc, seed, &d)))
        rc = cli_fail(CMD, err, &d, "%s", o->model);
    if (!rc) {
        cl_gen_prime(g, ids, n);
        rc = sample_text(o, m, g, ids, n);
    }
    cl_gen_free(g);
    free(ids);
    cl_model_free(m);
    return rc;
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
