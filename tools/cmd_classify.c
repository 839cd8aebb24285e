/* cmd_classify: "charlstm classify": a label for each sentence.
 *
 * Options first (struct, defaults, table), then the work, classify_run():
 * input lines into a cl_labeler, the classifier's one batching path (the
 * server's /classify runs through it too). */
#include <stdio.h>
#include <stdlib.h>

#include "cl_labeler.h"
#include "cli_json.h"
#include "cli_opts.h"
#include "cli_stream.h"
#include "cli_util.h"
#include "commands.h"

const char cmd_classify_summary[] = "label sentences (e.g. sentiment) with a classifier";

typedef enum { CLASSIFY_OUT_TSV, CLASSIFY_OUT_JSON } classify_output;

typedef struct {
    const char *model;
    int all;            /* every label's probability, not only the best */
    int output;         /* classify_output */
    int batch, threads;
    int precision;      /* cl_precision */
    int replace_invalid;
    cli_strs files;     /* positional; "-" (stdin) when none */
} classify_opts;

/* ---------------------------------------------------------------- options */

static void classify_defaults(classify_opts *o)
{
    *o = (classify_opts){.output = CLASSIFY_OUT_TSV, .batch = 32, .threads = 1,
                          .precision = CLI_PRECISION_DEFAULT};
}

static const char classify_description[] =
    "Reads one sentence per line and writes, per line, the most likely label and\n"
    "its probability ('label<TAB>prob'); with --all every label and its\n"
    "probability, most likely first ('label<TAB>prob<TAB>label<TAB>prob...').\n"
    "--output json writes one JSON object per line instead:\n"
    "{\"label\": \"pos\", \"probability\": 0.93} (with --all also \"probabilities\").\n"
    "An empty line gets a label too.  Texts are cut to the model's max_chars.\n"
    "Without FILE, reads stdin.  Lines are classified in batches of what has\n"
    "arrived, each answer written as soon as it is known, so a program can\n"
    "write a line and wait for its answer.\n"
    "\n"
    "Example:\n"
    "  echo 'A gorgeous, witty, seductive movie.' | charlstm classify -m sst2.model\n";

static int classify_parse(classify_opts *o, int argc, char **argv)
{
    const cli_opt opts[] = {
        {"model", 'm', CLI_STR, &o->model, "MODEL", .help = "model with a classifier head", .required = 1},
        {"all", 'a', CLI_FLAG, &o->all, NULL, .help = "print the probability of every label"},
        {"output", 0, CLI_CHOICE, &o->output, NULL, .help = "output format", .choices = "tsv|json"},
        {"batch", 0, CLI_INT, &o->batch, "N", .help = "most sentences per batch", .min = 1, .max = 65536},
        {"threads", 0, CLI_INT, &o->threads, "N", .help = "threads for the recurrences and matrix products",
         .min = 1, .max = 1024},
        cli_precision_opt(&o->precision),
        {"replace-invalid", 0, CLI_FLAG, &o->replace_invalid, NULL,
         .help = "read invalid UTF-8 bytes as U+FFFD instead of stopping with an error"},
    };
    const cli_command cmd = {"classify", cmd_classify_summary, "-m MODEL [options] [FILE...]",
                             classify_description, opts, (int)(sizeof opts / sizeof opts[0]), 0, -1};
    int first, rc = cli_parse(&cmd, argc, argv, &first);
    if (rc == 0)
        rc = cli_strs_collect(&cmd, &o->files, argc - first, argv + first, "-");
    return rc;
}

/* ---------------------------------------------------------------- work */

/* The lines waiting for their labels (cl_labeler: the batching the server
 * shares) and what their answers need. */
typedef struct {
    const classify_opts *o;
    cl_labeler *l;
    const cl_classifier_config *cfg;
    float *probs;      /* [batch, K] */
    int *rank;         /* [K] labels by decreasing probability */
} classify_io;

static void write_one(const classify_io *io, const float *p, FILE *out)
{
    int K = io->cfg->nlabels, n = io->o->all ? K : 1;
    char *const *labels = io->cfg->labels;
    cl_labeler_rank(p, K, io->rank);
    if (io->o->output == CLASSIFY_OUT_TSV) {
        for (int i = 0; i < n; i++)
            fprintf(out, "%s%s\t%.4f", i ? "\t" : "", labels[io->rank[i]], p[io->rank[i]]);
        fputc('\n', out);
        return;
    }
    cli_json_print(out, cli_json_label(labels, p, K, io->rank[0], io->o->all));
}

/* Classify the lines held and write their answers in input order. */
static int flush(classify_io *io, FILE *out)
{
    int n = cl_labeler_count(io->l), err = cl_labeler_run(io->l, io->probs);
    for (int i = 0; i < n && !err; i++)
        write_one(io, io->probs + (size_t)i * io->cfg->nlabels, out);
    fflush(out); /* a co-process is waiting for these */
    return err;
}

/* Lines are answered in batches: a batch ends when it is full or when the
 * next line has not arrived yet, so a writer waiting for its answer gets it
 * now (cli_stream).  Lines before a bad one are answered before the error. */
static int classify_file(classify_io *io, const char *path, FILE *out)
{
    cli_stream in;
    if (cli_stream_open(&in, "classify", path, io->o->replace_invalid))
        return CLI_EXIT_FAIL;
    char where[64];
    int err = CL_OK, got;
    cl_diag d = {{0}};
    while (!err && (got = cli_stream_next(&in)) == 1) {
        snprintf(where, sizeof where, "line %ld", in.lineno);
        err = cl_labeler_add(io->l, in.line, in.len, where, &d);
        if (!err && (cl_labeler_count(io->l) == cl_labeler_capacity(io->l) ||
                     !cli_stream_ready(&in)))
            err = flush(io, out);
    }
    err = err ? err : flush(io, out);
    int rc = got < 0 ? cli_stream_fail(&in) : 0;
    cli_stream_close(&in);
    return err ? cli_fail("classify", err, &d, "%s", in.name) : rc;
}

static int classify_run(const classify_opts *o)
{
    cl_model *m;
    cl_diag d = {{0}};
    if (cli_no_dash("classify", "-m", o->model, CLI_MODEL_NOT_A_STREAM))
        return CLI_EXIT_USAGE;
    int err = cl_model_load(&m, o->model, NULL, &d);
    if (err)
        return cli_fail("classify", err, &d, "cannot load the model");
    cli_threads(o->threads);
    classify_io io = {.o = o};
    int rc = 0;
    if (!cl_model_head(m, "head.classifier"))
        rc = cli_error("classify", "%s has no classifier head (charlstm info %s lists what it "
                       "holds)", o->model, o->model);
    else if ((err = cl_labeler_create(&io.l, m, o->batch, &d)) != CL_OK)
        rc = cli_fail("classify", err, &d, "cannot set up");
    else if ((err = cl_labeler_set_precision(io.l, o->precision)) != CL_OK)
        rc = cli_precision_fail("classify", o->precision, err);
    if (io.l) {
        io.cfg = cl_labeler_config(io.l);
        io.probs = malloc(sizeof *io.probs * (size_t)o->batch * io.cfg->nlabels);
        io.rank = malloc(sizeof *io.rank * (size_t)io.cfg->nlabels);
        if (!io.probs || !io.rank)
            rc = cli_fail("classify", CL_ENOMEM, NULL, "cannot set up");
    }
    for (int i = 0; i < o->files.n && !rc; i++)
        rc = classify_file(&io, o->files.v[i], stdout);
    int rc2 = cli_close_out("classify", stdout, "-");
    free(io.probs), free(io.rank);
    cl_labeler_free(io.l);
    cl_model_free(m);
    return rc ? rc : rc2;
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
