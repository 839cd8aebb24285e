/* cmd_eval: "charlstm eval": score a model on held-out data.
 *
 * Options first (struct, defaults, table), then the work, eval_run(). */
#include <math.h>
#include <stdio.h>

#include "cli_json.h"
#include "cli_opts.h"
#include "cli_util.h"
#include "cl_model.h"
#include "commands.h"
#include "eval_tasks.h"
#include <cblas.h>
#include <string.h>

const char cmd_eval_summary[] = "score a model on held-out data (loss, accuracy)";

typedef struct {
    const char *model;
    int task;          /* cmd_task, or -1: from the model's heads and the file names */
    int batch, threads;
    int precision;     /* cl_precision */
    int raw;           /* tagger: end to end from the raw text */
    int output;        /* 0 text, 1 json */
    eval_lm_windows win; /* lm: nanoGPT's random windows instead of the whole text */
    cli_strs files;    /* positional; "-" (stdin) when none */
} eval_opts;

/* ---------------------------------------------------------------- options */

static void eval_defaults(eval_opts *o)
{
    /* 64 streams: what torch_charlm.py evaluates with, so losses compare. */
    /* Windows of 256 from seed 1337: nanoGPT's block size and seed. */
    *o = (eval_opts){.task = -1, .batch = 64, .threads = 1, .precision = CLI_PRECISION_DEFAULT,
                     .win = {.window = 256, .seed = 1337}};
}

static const char eval_description[] =
    "lm: mean loss in nats and bits per character over every next-character\n"
    "prediction of plain text.  tagger: tag accuracy on CoNLL-U (.conllu) files,\n"
    "overall and for unknown words.  classifier: accuracy and per-label F1 on\n"
    "'label<TAB>text' (.tsv) lines.  Without FILE, reads stdin.\n"
    "tagger --raw: end to end, as the CoNLL 2018 shared task scores it: the raw\n"
    "text of the gold file (its '# text' lines, paragraphs at '# newpar') is\n"
    "split into sentences, tokenized and tagged by the model, and precision,\n"
    "recall and F1 of sentences, tokens, multiword tokens, words and tags are\n"
    "computed by character offsets.  --output json prints every figure as one\n"
    "JSON object (docs/json.md).\n"
    "lm --windows N: nanoGPT's estimate instead, the mean loss over N windows of\n"
    "--window characters at random starts (--seed), each read from a zero state\n"
    "(nanoGPT's own: --windows 12800, 200 batches of 64).\n"
    "\n"
    "Examples:\n"
    "  charlstm eval -m shakespeare.model tinyshakespeare/valid.txt\n"
    "  charlstm eval -m en-pos.model en_ewt-ud-test.conllu\n"
    "  charlstm eval --raw -m en-pos.model en_ewt-ud-test.conllu\n";

static int eval_parse(eval_opts *o, int argc, char **argv)
{
    const cli_opt opts[] = {
        {"model", 'm', CLI_STR, &o->model, "MODEL", .help = "model to evaluate", .required = 1},
        {"task", 0, CLI_CHOICE, &o->task, NULL, .help = "which head to evaluate", .choices = CMD_TASK_CHOICES,
         .default_text = "from the model's heads and the file extension"},
        {"batch", 0, CLI_INT, &o->batch, "N", .help = "parallel streams (lm) or sentences per batch",
         .min = 1, .max = 65536},
        {"threads", 0, CLI_INT, &o->threads, "N", .help = "threads for the recurrences and matrix products",
         .min = 1, .max = 1024},
        cli_precision_opt(&o->precision),
        {"raw", 0, CLI_FLAG, &o->raw, NULL,
         .help = "tagger: score end to end from the gold file's raw text (sentences, tokens, "
                 "words, tags)"},
        {"output", 0, CLI_CHOICE, &o->output, NULL, .help = "output format", .choices = "text|json"},
        {"windows", 0, CLI_LONG, &o->win.windows, "N",
         .help = "lm: score N random windows, each from a zero state (nanoGPT's protocol)",
         .min = 1, .max = 100000000},
        {"window", 0, CLI_INT, &o->win.window, "T", .help = "lm --windows: characters per window",
         .min = 1, .max = 1000000},
        {"seed", 0, CLI_LONG, &o->win.seed, "N", .help = "lm --windows: seed of the windows' starts",
         .min = 0, .max = INFINITY},
    };
    const cli_command cmd = {"eval", cmd_eval_summary, "-m MODEL [options] [FILE...]",
                             eval_description, opts, (int)(sizeof opts / sizeof opts[0]), 0, -1};
    int first, rc = cli_parse(&cmd, argc, argv, &first);
    if (rc == 0)
        rc = cli_strs_collect(&cmd, &o->files, argc - first, argv + first, "-");
    return rc;
}

/* ---------------------------------------------------------------- work */

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* --task, else the file name (.conllu, .tsv), else the only head there is. */
static int pick_task(const eval_opts *o, const cl_model *m)
{
    if (o->task >= 0)
        return o->task;
    const char *f = o->files.v[0];
    if (ends_with(f, ".conllu") || ends_with(f, ".conll"))
        return CMD_TASK_TAGGER;
    if (ends_with(f, ".tsv"))
        return CMD_TASK_CLASSIFIER;
    if (cl_model_head(m, "head.lm") || cl_model_head(m, "head.lm_backward"))
        return CMD_TASK_LM;
    return cl_model_head(m, "head.tagger") ? CMD_TASK_TAGGER : CMD_TASK_CLASSIFIER;
}

static const char *const task_heads[] = {"head.lm", "head.tagger", "head.classifier"};

static int eval_run(const eval_opts *o)
{
    cl_model *m;
    cl_diag d = {{0}};
    if (cli_no_dash("eval", "-m", o->model, CLI_MODEL_NOT_A_STREAM))
        return CLI_EXIT_USAGE;
    int err = cl_model_load(&m, o->model, NULL, &d);
    if (err)
        return cli_fail("eval", err, &d, "cannot load the model");
    cli_threads(o->threads);
    int task = o->raw ? CMD_TASK_TAGGER : pick_task(o, m), rc;
    cJSON *json = o->output ? cJSON_CreateObject() : NULL;
    const char *const *f = (const char *const *)o->files.v;
    if (o->output && !json)
        rc = cli_error("eval", "out of memory");
    else if (!cl_model_head(m, task_heads[task]) &&
             !(task == CMD_TASK_LM && cl_model_head(m, "head.lm_backward")))
        rc = cli_error("eval", "%s has no %s head (charlstm info %s lists what it holds)",
                       o->model, task_heads[task] + 5, o->model);
    else if (task == CMD_TASK_TAGGER && o->raw)
        rc = eval_tagger_raw(m, f, o->files.n, o->batch, o->precision, json);
    else if (task == CMD_TASK_TAGGER)
        rc = eval_tagger(m, f, o->files.n, o->batch, o->precision, json);
    else if (task == CMD_TASK_CLASSIFIER)
        rc = eval_classifier(m, f, o->files.n, o->batch, o->precision, json);
    else
        rc = eval_lm(m, f, o->files.n, o->batch, o->precision, &o->win, json);
    if (json && !rc) {
        static const char *const names[] = {"lm", "tagger", "classifier"};
        cJSON_AddItemToObjectCS(json, "task", cJSON_CreateString(o->raw ? "tagger-raw" : names[task]));
        cJSON_AddStringToObject(json, "model", o->model);
        rc = cli_json_print(stdout, json) ? cli_error("eval", "cannot write the JSON") : 0;
    } else {
        cJSON_Delete(json);
    }
    cl_model_free(m);
    /* A full disk or closed pipe shows at the flush: not exit 0. */
    int rc2 = cli_close_out("eval", stdout, "-");
    return rc ? rc : rc2;
}

int cmd_eval(int argc, char **argv)
{
    eval_opts o;
    eval_defaults(&o);
    int rc = eval_parse(&o, argc, argv);
    if (rc == 0)
        rc = eval_run(&o);
    else if (rc == 1)
        rc = 0;
    cli_strs_free(&o.files);
    return rc;
}
