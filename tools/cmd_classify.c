/* cmd_classify: "charlstm classify": a label for each sentence.
 *
 * Options first (struct, defaults, table), then the work, classify_run(). */
#include <cblas.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>

#include "cl_labeler.h"
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
    "Reads one sentence per line and writes, per line, the most likely label and\n"
    "its probability ('label<TAB>prob'); with --all every label and its\n"
    "probability, most likely first ('label<TAB>prob<TAB>label<TAB>prob...').\n"
    "--output json writes one JSON object per line instead:\n"
    "{\"label\": \"pos\", \"probability\": 0.93} (with --all also \"probabilities\").\n"
    "An empty line gets a label too.  Texts are cut to the model's max_chars.\n"
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

/* One batch of input lines and room for their answers. */
typedef struct {
    cl_labeler *l;
    const cl_classifier_config *cfg;
    float *probs;      /* [B, K] */
    int *rank;         /* [K] label order for --all */
} classify_batch;

static void batch_free(classify_batch *b)
{
    free(b->probs), free(b->rank);
    cl_labeler_free(b->l);
}

static int batch_init(classify_batch *b, const cl_model *m, int B)
{
    int err = cl_labeler_create(&b->l, m, B, NULL);
    if (err)
        return err;
    b->cfg = cl_labeler_config(b->l);
    b->probs = malloc(sizeof *b->probs * (size_t)B * b->cfg->nlabels);
    b->rank = malloc(sizeof *b->rank * (size_t)b->cfg->nlabels);
    return b->probs && b->rank ? CL_OK : CL_ENOMEM;
}

/* JSON string literal of a UTF-8 string (labels). */
static void json_string(FILE *out, const char *s)
{
    fputc('"', out);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(out, "\\%c", c);
        else if (c < 0x20)
            fprintf(out, "\\u%04x", c);
        else
            fputc(c, out);
    }
    fputc('"', out);
}

static void write_one(const classify_opts *o, classify_batch *b, const float *p, FILE *out)
{
    int K = b->cfg->nlabels, n = o->all ? K : 1;
    char *const *labels = b->cfg->labels;
    cl_labeler_rank(p, K, b->rank);
    if (o->output == CLASSIFY_OUT_TSV) {
        for (int i = 0; i < n; i++)
            fprintf(out, "%s%s\t%.4f", i ? "\t" : "", labels[b->rank[i]], p[b->rank[i]]);
        fputc('\n', out);
        return;
    }
    fputs("{\"label\": ", out);
    json_string(out, labels[b->rank[0]]);
    fprintf(out, ", \"probability\": %.6f", p[b->rank[0]]);
    if (o->all) {
        fputs(", \"probabilities\": {", out);
        for (int k = 0; k < K; k++) {
            fputs(k ? ", " : "", out);
            json_string(out, labels[k]);
            fprintf(out, ": %.6f", p[k]);
        }
        fputc('}', out);
    }
    fputs("}\n", out);
}

static int flush_batch(const classify_opts *o, classify_batch *b, FILE *out)
{
    int n = cl_labeler_count(b->l), err = cl_labeler_run(b->l, b->probs);
    for (int i = 0; i < n && !err; i++)
        write_one(o, b, b->probs + (size_t)i * b->cfg->nlabels, out);
    return err;
}

static int classify_file(const classify_opts *o, classify_batch *b, const char *path, FILE *out)
{
    FILE *in = cli_open_in("classify", path);
    if (!in)
        return CLI_EXIT_FAIL;
    char *line = NULL, where[4200];
    size_t cap = 0;
    ssize_t n;
    long lineno = 0;
    int err = CL_OK;
    cl_diag d = {{0}};
    while (!err && (n = getline(&line, &cap, in)) >= 0) {
        lineno++;
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            n--;
        snprintf(where, sizeof where, "%s:%ld", cli_in_name(path), lineno);
        err = cl_labeler_add(b->l, line, (size_t)n, where, &d);
        if (!err && cl_labeler_count(b->l) == cl_labeler_capacity(b->l))
            err = flush_batch(o, b, out);
    }
    err = err ? err : flush_batch(o, b, out);
    free(line);
    int rc = cli_close_in("classify", in, path);
    return err ? cli_fail("classify", err, &d, NULL) : rc;
}

static int classify_run(const classify_opts *o)
{
    cl_model *m;
    cl_diag d = {{0}};
    int err = cl_model_load(&m, o->model, NULL, &d);
    if (err)
        return cli_fail("classify", err, &d, "cannot load the model");
    cli_threads(o->threads);
    classify_batch b = {0};
    int rc = 0;
    if (!cl_model_head(m, "head.classifier"))
        rc = cli_error("classify", "%s has no classifier head (charlstm info %s lists what it "
                       "holds)", o->model, o->model);
    else if ((err = batch_init(&b, m, o->batch)) != CL_OK)
        rc = cli_fail("classify", err, NULL, "cannot set up");
    for (int i = 0; i < o->files.n && !rc; i++)
        rc = classify_file(o, &b, o->files.v[i], stdout);
    int rc2 = cli_close_out("classify", stdout, "-");
    batch_free(&b);
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
