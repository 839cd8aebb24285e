/* cmd_generate: "charlstm generate": continue a prompt with a language model.
 *
 * Options first (struct, defaults, table), then the work, generate_run(). */
#include <math.h>
#include <inttypes.h>
#include <stdio.h>

#include "cli_opts.h"
#include "cli_stream.h"
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
    const char *prompt_file;
    cli_strs stops;      /* --stop, repeatable */
    long length, samples;
    int no_echo;
    double temperature, top_p;
    int top_k, threads;
    int weights;         /* cl_weights: int8, bf16, fp32 */
    long seed;           /* 0: seed from the system's entropy */
    int lines;           /* every stdin line is a prompt, answered on one line */
    int replace_invalid;
} generate_opts;

/* ---------------------------------------------------------------- options */

static void generate_defaults(generate_opts *o)
{
    /* A fixed seed: the same command prints the same text, which makes
     * examples, bug reports and tests reproducible.  --seed 0 varies it. */
    *o = (generate_opts){.length = 500, .samples = 1, .temperature = 1.0, .top_p = 1.0, .threads = 1,
                         .seed = 1, .weights = CL_WEIGHTS_INT8};
}

static const char generate_description[] =
    "Feeds the prompt to the model, then samples --length characters one at a\n"
    "time and writes the prompt and its continuation to stdout.  Lower\n"
    "temperatures give safer, more repetitive text; --top-k and --top-p cut the\n"
    "unlikely tail of each distribution before sampling.  A sample ends early\n"
    "right after a --stop string (printed with it).  With --num-samples N the\n"
    "samples are printed one after another, each ending with a newline; sample\n"
    "k is the text --seed SEED+k gives alone (charlstm serve's /generate gives\n"
    "the same text for the same options), and up to 64 of them are generated\n"
    "together, one read of the weights per step serving every sample.\n"
    "\n"
    "Examples:\n"
    "  charlstm generate -m shakespeare.model --prompt 'ROMEO:' -n 1000\n"
    "  echo 'To be, or not' | charlstm generate -m shakespeare.model --temperature 0.7\n"
    "  printf 'ROMEO:\\nJULIET:\\n' | charlstm generate -m shakespeare.model --lines -n 80\n";

/* Returns 0 (options in o), 1 (--help printed) or 2 (usage error printed). */
static int generate_parse(generate_opts *o, int argc, char **argv)
{
    const cli_opt opts[] = {
        {"model", 'm', CLI_STR, &o->model, "MODEL", .help = "language model to sample from", .required = 1},
        {"prompt", 'p', CLI_STR, &o->prompt, "TEXT", .help = "text to continue",
         .default_text = "stdin if it is not a terminal, else empty"},
        {"prompt-file", 0, CLI_STR, &o->prompt_file, "FILE", .help = "read the prompt from FILE (- = stdin)"},
        {"stop", 0, CLI_STRS, &o->stops, "STRING",
         .help = "end a sample right after STRING (repeatable; \\n, \\t and \\\\ are escapes)"},
        {"num-samples", 0, CLI_LONG, &o->samples, "N",
         .help = "samples to draw (sample k as with --seed SEED+k), up to 64 at once",
         .min = 1, .max = 1000000},
        {"no-echo", 0, CLI_FLAG, &o->no_echo, NULL, .help = "print only the continuation, not the prompt"},
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
        {"threads", 0, CLI_INT, &o->threads, "N",
         .help = "threads splitting the rows of each matrix product", .min = 1, .max = 1024},
        {"weights", 0, CLI_CHOICE, &o->weights, NULL,
         .help = "LSTM weights as int8 with a scale per row (fastest; within 0.001 nats/char of "
                 "fp32 measured), bf16, or fp32 as trained",
         .choices = "int8|bf16|fp32"},
        {"lines", 'l', CLI_FLAG, &o->lines, NULL,
         .help = "every line of stdin is a prompt; its continuation ends at a newline or after "
                 "--length characters, one output line per input line, each written at once"},
        {"replace-invalid", 0, CLI_FLAG, &o->replace_invalid, NULL,
         .help = "read invalid UTF-8 bytes as U+FFFD instead of stopping with an error"},
    };
    const cli_command cmd = {"generate", cmd_generate_summary, "-m MODEL [options]",
                             generate_description, opts, (int)(sizeof opts / sizeof opts[0]), 0, 0};
    int first, rc = cli_parse(&cmd, argc, argv, &first);
    if (rc == 0 && o->prompt && o->prompt_file)
        rc = cli_usage_error(&cmd, "--prompt and --prompt-file exclude each other");
    if (rc == 0 && o->lines && o->prompt)
        rc = cli_usage_error(&cmd, "--lines reads the prompts from stdin: no --prompt with it");
    if (rc == 0 && o->lines && (o->prompt_file || o->stops.n || o->samples != 1))
        rc = cli_usage_error(&cmd, "--lines answers each stdin line once: no --prompt-file, "
                                   "--stop or --num-samples with it");
    return rc;
}

/* ---------------------------------------------------------------- work */

#define CMD "generate"

/* All of f's bytes (NULL when out of memory or on a read error). */
static char *read_all(FILE *f, size_t *n)
{
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    for (size_t got; buf && (got = fread(buf + len, 1, cap - len, f)) > 0;) {
        len += got;
        char *bigger = len == cap ? realloc(buf, cap *= 2) : buf;
        if (!bigger)
            free(buf);
        buf = bigger;
    }
    if (buf && ferror(f))
        free(buf), buf = NULL;
    *n = len;
    return buf;
}

/* The prompt's bytes: --prompt, --prompt-file, else stdin unless it is a
 * terminal.  NULL after printing why. */
static char *read_prompt(const generate_opts *o, size_t *n)
{
    if (o->prompt || (!o->prompt_file && isatty(STDIN_FILENO))) {
        const char *p = o->prompt ? o->prompt : "";
        *n = strlen(p);
        return strdup(p);
    }
    const char *path = o->prompt_file ? o->prompt_file : "-";
    FILE *f = cli_open_in(CMD, path);
    if (!f)
        return NULL;
    char *buf = read_all(f, n);
    if (cli_close_in(CMD, f, path) && buf)
        free(buf), buf = NULL;
    if (!buf)
        cli_error(CMD, "cannot read the prompt from %s", cli_in_name(path));
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
        return CLI_EXIT_FAIL;
    const char *name = o->prompt        ? "--prompt"
                       : o->prompt_file ? cli_in_name(o->prompt_file)
                                        : "<stdin>";
    cl_text_opts text = *cl_model_text(m);
    text.replace_invalid = o->replace_invalid;
    int err = cl_text_decode(bytes, nbytes, &text, name, &cps, n, &d);
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

/* Writes one character; flushed at once on a terminal so the text
 * appears as it comes. */
static int emit_stdout(int32_t cp, void *ctx)
{
    char enc[4];
    fwrite(enc, 1, (size_t)cl_text_encode_cp(cp, enc), stdout);
    if (*(const int *)ctx || cp == '\n')
        fflush(stdout);
    return 0;
}

/* --stop STRING with \n, \t and \\ read as escapes, as code points of the
 * model's text (so NFC and case folding apply as to the prompt). */
static int decode_stop(const cl_model *m, const char *arg, int32_t **cps, size_t *n)
{
    char *s = strdup(arg), *w = s;
    if (!s)
        return cli_error(CMD, "out of memory");
    for (const char *r = arg; *r; r++) {
        if (*r == '\\' && (r[1] == 'n' || r[1] == 't' || r[1] == '\\'))
            r++, *w++ = *r == 'n' ? '\n' : *r == 't' ? '\t' : '\\';
        else
            *w++ = *r;
    }
    cl_diag d = {{0}};
    int err = cl_text_decode(s, (size_t)(w - s), &m->text, "--stop", cps, n, &d);
    free(s);
    if (err)
        return cli_fail(CMD, err, &d, "bad --stop");
    return *n ? 0 : cli_error(CMD, "--stop: the string is empty");
}

typedef struct {
    int32_t **v;
    size_t *len;
    int n;
} stop_list;

static void stops_free(stop_list *l)
{
    for (int i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v), free(l->len);
}

static int stops_decode(const generate_opts *o, const cl_model *m, stop_list *l)
{
    int k = o->stops.n;
    l->v = calloc((size_t)k + 1, sizeof *l->v), l->len = calloc((size_t)k + 1, sizeof *l->len);
    if (!l->v || !l->len)
        return cli_error(CMD, "out of memory");
    int rc = 0;
    for (; l->n < k && !rc; l->n++)
        rc = decode_stop(m, o->stops.v[l->n], &l->v[l->n], &l->len[l->n]);
    return rc;
}

/* Samples stepped together by cl_gen_batch (the engine's columns). */
#define BATCH 64

/* The continuations of a batch, as UTF-8, until the batch is printed. */
typedef struct {
    char *text[BATCH];
    size_t len[BATCH], cap[BATCH];
} batch_text;

static int emit_batch(int s, int32_t cp, void *ctx)
{
    batch_text *b = ctx;
    if (b->len[s] + 4 > b->cap[s]) {
        size_t cap = b->cap[s] ? 2 * b->cap[s] : 256;
        char *t = realloc(b->text[s], cap);
        if (!t)
            return CL_ENOMEM;
        b->text[s] = t, b->cap[s] = cap;
    }
    b->len[s] += (size_t)cl_text_encode_cp(cp, b->text[s] + b->len[s]);
    return 0;
}

static void echo_prompt(const generate_opts *o, const cl_model *m, const int *ids, size_t n,
                        int *tty)
{
    for (size_t i = 0; i < n && !o->no_echo; i++)
        emit_stdout(cl_vocab_cp(&m->vocab, ids[i]), tty);
}

/* --num-samples above 1: BATCH samples at a time, each printed (prompt,
 * continuation, newline) when its batch is done. */
static int sample_batches(const generate_opts *o, const cl_model *m, cl_gen *g, const int *ids,
                          size_t n, const cl_gen_request *r, int *tty)
{
    batch_text b;
    int err = 0;
    memset(&b, 0, sizeof b);
    for (long s = 0; s < o->samples && !err; s += BATCH) {
        int k = o->samples - s < BATCH ? (int)(o->samples - s) : BATCH;
        memset(b.len, 0, sizeof b.len);
        err = cl_gen_batch(g, ids, n, r, k, emit_batch, &b, NULL);
        for (int i = 0; i < k && !err; i++) {
            echo_prompt(o, m, ids, n, tty);
            fwrite(b.text[i], 1, b.len[i], stdout);
            putchar('\n');
        }
    }
    for (int i = 0; i < BATCH; i++)
        free(b.text[i]);
    return err ? cli_error(CMD, "out of memory") : 0;
}

/* Each sample: the prompt as the model read it (unless --no-echo), then the
 * sampled continuation and a newline. */
static int sample_text(const generate_opts *o, const cl_model *m, cl_gen *g, const int *ids,
                       size_t n, const stop_list *stops)
{
    int tty = isatty(STDOUT_FILENO), rc = 0;
    cl_gen_request r = {o->length, (const int32_t *const *)stops->v, stops->len, stops->n};
    if (o->samples > 1) {
        rc = sample_batches(o, m, g, ids, n, &r, &tty);
    } else {
        echo_prompt(o, m, ids, n, &tty);
        cl_gen_sample(g, ids, n, &r, emit_stdout, &tty, NULL);
        if (o->length > 0)
            putchar('\n');
    }
    if (!rc && (ferror(stdout) || fflush(stdout)))
        rc = cli_error(CMD, "cannot write to stdout");
    return rc;
}

/* The engine as the options say; the generator is built first. */
static int set_engine(const generate_opts *o, cl_gen *g)
{
    long cols = o->lines || o->samples < BATCH ? (o->lines ? 1 : o->samples) : BATCH;
    cl_infer_config c = {(cl_weights)o->weights, o->threads, (int)cols};
    int err = cl_gen_set_engine(g, &c);
    return err ? cli_fail(CMD, err, NULL, "cannot build the generation engine") : 0;
}

/* --lines: the continuation of one prompt, up to a newline, on one line. */
static int answer_line(const generate_opts *o, const cl_model *m, cl_gen *g, const char *line,
                       size_t len)
{
    int32_t *cps;
    size_t n;
    cl_diag d = {{0}};
    int err = cl_text_decode(line, len, &m->text, "<stdin>", &cps, &n, &d);
    int *ids = err ? NULL : malloc(sizeof *ids * (n ? n : 1));
    if (!err && !ids)
        err = CL_ENOMEM;
    if (!err) {
        cl_model_encode(m, cps, n, ids, NULL);
        cl_gen_prime(g, ids, n);
    }
    free(cps), free(ids);
    if (err)
        return cli_fail(CMD, err, &d, NULL);
    if (!o->no_echo)
        fwrite(line, 1, len, stdout);
    char enc[4];
    for (long i = 0; i < o->length; i++) {
        int id;
        cl_gen_next(g, &id);
        int32_t cp = cl_vocab_cp(&m->vocab, id);
        if (cp == '\n')
            break;
        fwrite(enc, 1, (size_t)cl_text_encode_cp(cp, enc), stdout);
    }
    putchar('\n');
    return fflush(stdout) ? cli_error(CMD, "cannot write to stdout") : 0;
}

/* Every line a prompt, each answered as soon as it is read. */
static int generate_lines(const generate_opts *o, const cl_model *m, cl_gen *g)
{
    cli_stream in;
    int rc = cli_stream_open(&in, CMD, "-", o->replace_invalid), got = 0;
    while (!rc && (got = cli_stream_next(&in)) == 1)
        rc = answer_line(o, m, g, in.line, in.len);
    if (!rc && got < 0)
        rc = cli_stream_fail(&in);
    cli_stream_close(&in);
    return rc;
}

static int generate_run(const generate_opts *o)
{
    cl_model *m;
    cl_gen *g = NULL;
    int *ids = NULL;
    size_t n = 0;
    stop_list stops = {0};
    cl_diag d = {{0}};
    if (cli_no_dash(CMD, "-m", o->model, CLI_MODEL_NOT_A_STREAM))
        return CLI_EXIT_USAGE;
    int err = cl_model_load(&m, o->model, NULL, &d);
    if (err)
        return cli_fail(CMD, err, &d, "cannot load the model");
    cli_threads(o->threads);
    cl_sample_config sc = {(float)o->temperature, o->top_k, (float)o->top_p};
    uint64_t seed = o->seed ? (uint64_t)o->seed : cli_entropy_seed();
    if (!o->seed) /* shown, so a good sample can be made again */
        fprintf(stderr, "charlstm generate: --seed %" PRIu64 "\n", seed);
    if (o->lines) {
        int rc = (err = cl_gen_create(&g, m, &sc, seed, &d)) ? cli_fail(CMD, err, &d, "%s", o->model)
                                                            : set_engine(o, g);
        rc = rc ? rc : generate_lines(o, m, g);
        cl_gen_free(g);
        cl_model_free(m);
        return rc;
    }
    int rc = stops_decode(o, m, &stops);
    rc = rc ? rc : encode_prompt(o, m, &ids, &n);
    if (!rc && (err = cl_gen_create(&g, m, &sc, seed, &d)))
        rc = cli_fail(CMD, err, &d, "%s", o->model);
    rc = rc ? rc : set_engine(o, g);
    if (!rc)
        rc = sample_text(o, m, g, ids, n, &stops);
    cl_gen_free(g);
    free(ids);
    stops_free(&stops);
    cl_model_free(m);
    return rc;
}

int cmd_generate(int argc, char **argv)
{
    generate_opts o;
    generate_defaults(&o);
    int rc = generate_parse(&o, argc, argv);
    if (rc == 0)
        rc = generate_run(&o);
    else if (rc == 1)
        rc = 0;
    cli_strs_free(&o.stops);
    return rc;
}
