/* cmd_classify: "charlstm classify": a label for each sentence.
 *
 * Options first (struct, defaults, table), then the work, classify_run(). */
#include <cblas.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>

#include "cl_classifier.h"
#include "cl_sample.h"
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
    int replace_invalid;
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
        {"threads", 0, CLI_INT, &o->threads, "N", .help = "threads for matrix products (OpenBLAS)",
         .min = 1, .max = 1024},
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

/* One batch of input lines, as character ids for the model. */
typedef struct {
    const cl_model *m;
    cl_classifier *clf;
    const cl_classifier_config *cfg;
    int B, n;          /* capacity and lines held */
    int **ids, *len;   /* [B] ids of each line (grown as needed), lengths */
    size_t *cap;       /* [B] capacity of ids[b] */
    float *probs;      /* [B, K] */
    int *rank;         /* [K] label order for --all */
} classify_batch;

static void batch_free(classify_batch *b)
{
    for (int i = 0; b->ids && i < b->B; i++)
        free(b->ids[i]);
    free(b->ids), free(b->len), free(b->cap), free(b->probs), free(b->rank);
    cl_classifier_free(b->clf);
}

static int batch_init(classify_batch *b, const cl_model *m, int B)
{
    *b = (classify_batch){.m = m, .B = B, .cfg = cl_model_head(m, "head.classifier")};
    b->ids = calloc((size_t)B, sizeof *b->ids), b->len = calloc((size_t)B, sizeof *b->len);
    b->cap = calloc((size_t)B, sizeof *b->cap);
    b->probs = malloc(sizeof *b->probs * (size_t)B * b->cfg->nlabels);
    b->rank = malloc(sizeof *b->rank * (size_t)b->cfg->nlabels);
    if (!b->ids || !b->len || !b->cap || !b->probs || !b->rank)
        return CL_ENOMEM;
    return CL_OK;
}

/* Padded characters (longest line x lines) of one batch at most
 * CL_CLASSIFIER_BATCH_CHARS: a batch of long lines is split, and a workspace
 * for long lines has fewer rows (one 300,000-character line in a batch of
 * 32 took 22.6 GB). */

static int longest(const classify_batch *b, int n)
{
    int T = 1;
    for (int i = 0; i < n; i++)
        T = b->len[i] > T ? b->len[i] : T;
    return T;
}

/* A workspace for the current batch: its length grown by doubling, so
 * memory follows the longest line seen, not the model's max_chars. */
static int batch_workspace(classify_batch *b)
{
    int T = longest(b, b->n);
    if (b->clf && T <= cl_classifier_max_len(b->clf) && b->n <= cl_classifier_max_batch(b->clf))
        return CL_OK;
    int want = b->clf ? cl_classifier_max_len(b->clf) : 128;
    while (want < T)
        want *= 2;
    want = want < b->cfg->max_chars ? want : b->cfg->max_chars;
    if (cl_classifier_rows_for(want, b->B) < b->n) /* the doubled length would cost rows */
        want = T;
    cl_classifier_free(b->clf);
    b->clf = NULL;
    return cl_classifier_create(&b->clf, b->m, want, cl_classifier_rows_for(want, b->B));
}

/* Decode one line into slot b->n.  An empty line reads as one unknown
 * character, so every input line gets an output line. */
static int batch_add(classify_batch *b, const char *line, size_t n, const char *where, cl_diag *d)
{
    int32_t *cps;
    size_t ncps;
    int err = cl_text_decode(line, n, cl_model_text(b->m), where, &cps, &ncps, d);
    if (err)
        return err;
    size_t keep = ncps > (size_t)b->cfg->max_chars ? (size_t)b->cfg->max_chars : ncps;
    int k = b->n;
    if (b->cap[k] < keep + 1) {
        int *p = realloc(b->ids[k], sizeof *p * (keep + 1));
        if (!p) {
            free(cps);
            return CL_ENOMEM;
        }
        b->ids[k] = p, b->cap[k] = keep + 1;
    }
    b->ids[k][0] = CL_VOCAB_UNK;
    cl_model_encode(b->m, cps, keep, b->ids[k], NULL);
    b->len[k] = keep ? (int)keep : 1;
    b->n++;
    free(cps);
    return CL_OK;
}

static void write_one(const classify_opts *o, classify_batch *b, const float *p, FILE *out)
{
    int K = b->cfg->nlabels, n = o->all ? K : 1;
    char *const *labels = b->cfg->labels;
    cl_top_k(p, K, K, b->rank); /* labels by decreasing probability */
    if (o->output == CLASSIFY_OUT_TSV) {
        for (int i = 0; i < n; i++)
            fprintf(out, "%s%s\t%.4f", i ? "\t" : "", labels[b->rank[i]], p[b->rank[i]]);
        fputc('\n', out);
        return;
    }
    cli_json_print(out, cli_json_label(labels, p, K, b->rank[0], o->all));
}

/* Classify and write the first n lines of the batch; the lines after them
 * move to the front. */
static int flush_first(const classify_opts *o, classify_batch *b, int n, FILE *out)
{
    if (!n)
        return CL_OK;
    int rest = b->n - n;
    b->n = n;
    int err = batch_workspace(b);
    err = err ? err : cl_classifier_predict(b->clf, (const int *const *)b->ids, b->len, n,
                                            b->probs);
    for (int i = 0; i < n && !err; i++)
        write_one(o, b, b->probs + (size_t)i * b->cfg->nlabels, out);
    fflush(out); /* a co-process is waiting for these */
    for (int i = 0; i < rest; i++) { /* swap, so every slot keeps its own buffer */
        int *ids = b->ids[i];
        size_t cap = b->cap[i];
        b->ids[i] = b->ids[n + i], b->cap[i] = b->cap[n + i], b->len[i] = b->len[n + i];
        b->ids[n + i] = ids, b->cap[n + i] = cap;
    }
    b->n = rest;
    return err;
}

static int flush_batch(const classify_opts *o, classify_batch *b, FILE *out)
{
    return flush_first(o, b, b->n, out);
}

/* After a line was added: a full batch goes out, and so do the lines
 * before a line that takes the batch past the budget. */
static int flush_if_needed(const classify_opts *o, classify_batch *b, FILE *out)
{
    if (b->n > 1 && (size_t)longest(b, b->n) * (size_t)b->n > CL_CLASSIFIER_BATCH_CHARS)
        return flush_first(o, b, b->n - 1, out);
    return b->n == b->B ? flush_batch(o, b, out) : CL_OK;
}

/* Lines are answered in batches: a batch ends when it is full or when the
 * next line has not arrived yet, so a writer waiting for its answer gets it
 * now (cli_stream).  Lines before a bad one are answered before the error. */
static int classify_file(const classify_opts *o, classify_batch *b, const char *path, FILE *out)
{
    cli_stream in;
    if (cli_stream_open(&in, "classify", path, o->replace_invalid))
        return CLI_EXIT_FAIL;
    char where[64];
    int err = CL_OK, got;
    cl_diag d = {{0}};
    while (!err && (got = cli_stream_next(&in)) == 1) {
        snprintf(where, sizeof where, "line %ld", in.lineno);
        err = batch_add(b, in.line, in.len, where, &d);
        err = err ? err : flush_if_needed(o, b, out);
        if (!err && b->n && !cli_stream_ready(&in))
            err = flush_batch(o, b, out);
    }
    err = err ? err : flush_batch(o, b, out);
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
