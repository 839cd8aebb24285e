/* cmd_info: "charlstm info": what a model file holds.
 *
 * Options first (struct, table), then the work, info_run(). */
#include <stdio.h>

#include "cli_json.h"
#include "cli_opts.h"
#include "cli_util.h"
#include "commands.h"

#include "cl_lm.h"
#include "cl_model.h"

const char cmd_info_summary[] = "describe model files (hyperparameters, vocabulary, heads)";

typedef struct {
    int output;       /* 0 text, 1 json */
    cli_strs models;  /* positional, at least one */
} info_opts;

/* ---------------------------------------------------------------- options */

static const char info_description[] =
    "Prints, for each model file, its format version, hyperparameters, vocabulary\n"
    "size, the heads it holds (lm, tagger, classifier with their labels), the\n"
    "size of every section and whether the training state for --resume is\n"
    "included.  The file is fully validated (checksums) on the way.  --output\n"
    "json prints the same as one JSON object per model (docs/json.md).\n"
    "\n"
    "Example:\n"
    "  charlstm info en-pos.model\n";

static int info_parse(info_opts *o, int argc, char **argv)
{
    const cli_opt opts[] = {
        {"output", 0, CLI_CHOICE, &o->output, NULL, .help = "output format", .choices = "text|json"},
    };
    const cli_command cmd = {"info", cmd_info_summary, "[options] MODEL...", info_description, opts,
                             (int)(sizeof opts / sizeof opts[0]), 1, -1};
    int first, rc = cli_parse(&cmd, argc, argv, &first);
    if (rc == 0)
        rc = cli_strs_collect(&cmd, &o->models, argc - first, argv + first, NULL);
    return rc;
}

/* ---------------------------------------------------------------- work */

static void print_keys(const cl_ckpt_section *s)
{
    char buf[160];
    for (int k = 0; k < cl_ckpt_nkeys(s); k++)
        printf("    %-16s %s\n", cl_ckpt_key_at(s, k, NULL), cl_ckpt_key_format(s, k, buf, sizeof buf));
}

static void print_tensors(const cl_ckpt_section *s)
{
    uint64_t values = 0;
    int n = cl_ckpt_ntensors(s);
    for (int i = 0; i < n; i++) {
        cl_ckpt_tensor_info t;
        cl_ckpt_tensor_at(s, i, &t);
        values += t.nbytes / 4;
    }
    if (n)
        printf("    %d tensor%s, %llu values\n", n, n > 1 ? "s" : "", (unsigned long long)values);
}

/* The characters of the vocabulary, printable ones as they are. */
static void print_vocab(const cl_model *m)
{
    int n = cl_vocab_size(cl_model_vocab(m)) - 1, shown = n < 120 ? n : 120;
    printf("vocabulary: %d characters + unknown:  ", n);
    for (int i = 1; i <= shown; i++) {
        int32_t cp = cl_vocab_cp(cl_model_vocab(m), i);
        char enc[5];
        if (cp < 0x20 || cp == 0x7f) {
            printf(cp == '\n' ? "\\n" : cp == '\t' ? "\\t" : "\\x%02x", cp);
            continue;
        }
        enc[cl_text_encode_cp(cp, enc)] = 0;
        fputs(enc, stdout);
    }
    printf("%s\n", shown < n ? " ..." : "");
}

/* Which language models the file holds; generate uses the forward one. */
static void print_lms(const cl_model *m)
{
    const char *sep = "language models:";
    for (int k = CL_LM_FORWARD; k <= CL_LM_BACKWARD; k++) {
        const cl_encoder_config *e = cl_lm_encoder_of(m, (cl_lm_dir)k);
        if (!e)
            continue;
        printf("%s %s %d x %d %s, embedding %d", sep, cl_lm_dir_name((cl_lm_dir)k),
               e->rnn.layers, e->rnn.hidden, e->rnn.cell == CL_CELL_GRU ? "GRU" : "LSTM", e->emb);
        sep = ";";
    }
    if (cl_lm_encoder_of(m, CL_LM_BACKWARD))
        printf("%s\n", cl_lm_encoder_of(m, CL_LM_FORWARD) ? "" : " (no forward one: the "
               "encoder above is a placeholder)");
    else if (*sep == ';')
        putchar('\n');
}

static void json_lms(cJSON *j, const cl_model *m)
{
    cJSON *lms = cJSON_AddObjectToObject(j, "language_models");
    for (int k = CL_LM_FORWARD; k <= CL_LM_BACKWARD; k++) {
        const cl_encoder_config *e = cl_lm_encoder_of(m, (cl_lm_dir)k);
        if (!e)
            continue;
        cJSON *o = cJSON_AddObjectToObject(lms, cl_lm_dir_name((cl_lm_dir)k));
        cJSON_AddNumberToObject(o, "layers", e->rnn.layers);
        cJSON_AddNumberToObject(o, "hidden", e->rnn.hidden);
        cJSON_AddStringToObject(o, "cell", e->rnn.cell == CL_CELL_GRU ? "gru" : "lstm");
        cJSON_AddNumberToObject(o, "embedding", e->emb);
    }
}

/* The same facts as info_one prints, as one JSON object. */
static cJSON *info_json(const char *path, const cl_model *m, const cl_ckpt *ck)
{
    const cl_encoder_config *e = &m->enc;
    cJSON *j = cJSON_CreateObject(), *enc = cJSON_AddObjectToObject(j, "encoder");
    cJSON_AddStringToObject(j, "file", path);
    cJSON_AddNumberToObject(j, "format_version", CL_CKPT_VERSION);
    cJSON_AddNumberToObject(j, "parameters", (double)m->params.n);
    cJSON_AddNumberToObject(enc, "layers", e->rnn.layers);
    cJSON_AddNumberToObject(enc, "hidden", e->rnn.hidden);
    cJSON_AddStringToObject(enc, "cell", e->rnn.cell == CL_CELL_GRU ? "gru" : "lstm");
    cJSON_AddBoolToObject(enc, "bidirectional", e->rnn.bidir);
    cJSON_AddNumberToObject(enc, "embedding", e->emb);
    cli_json_add_number(enc, "dropout", e->rnn.dropout);
    cJSON *text = cJSON_AddObjectToObject(j, "text");
    cJSON_AddBoolToObject(text, "nfc", m->text.nfc);
    cJSON_AddBoolToObject(text, "casefold", m->text.casefold);
    cJSON_AddNumberToObject(j, "vocabulary", cl_vocab_size(&m->vocab) - 1);
    json_lms(j, m);
    cJSON *heads = cJSON_AddArrayToObject(j, "heads"), *secs = cJSON_AddArrayToObject(j, "sections");
    for (int i = 0; i < m->nheads; i++)
        cJSON_AddItemToArray(heads, cJSON_CreateString(m->heads[i].ops->section + 5));
    char buf[160];
    for (int i = 0; i < cl_ckpt_nsections(ck); i++) {
        const cl_ckpt_section *s = cl_ckpt_section_at(ck, i);
        cJSON *o = cJSON_CreateObject(), *keys = cJSON_AddObjectToObject(o, "keys");
        cJSON_AddStringToObject(o, "name", cl_ckpt_section_name(s));
        cJSON_AddNumberToObject(o, "bytes", (double)cl_ckpt_section_size(s));
        for (int k = 0; k < cl_ckpt_nkeys(s); k++)
            cJSON_AddStringToObject(keys, cl_ckpt_key_at(s, k, NULL),
                                    cl_ckpt_key_format(s, k, buf, sizeof buf));
        cJSON_AddNumberToObject(o, "tensors", cl_ckpt_ntensors(s));
        cJSON_AddItemToArray(secs, o);
    }
    cJSON_AddBoolToObject(j, "resumable", cl_ckpt_find(ck, "optim") != NULL);
    return j;
}

static int info_one(const char *path, int json)
{
    cl_model *m;
    cl_ckpt *ck;
    cl_diag d = {{0}};
    if (cli_no_dash("info", "MODEL", path, CLI_MODEL_NOT_A_STREAM))
        return CLI_EXIT_USAGE;
    int err = cl_model_load(&m, path, &ck, &d);
    if (err)
        return cli_fail("info", err, &d, "cannot load the model");
    if (json) {
        int bad = cli_json_print(stdout, info_json(path, m, ck));
        cl_ckpt_free(ck);
        cl_model_free(m);
        return bad ? cli_error("info", "cannot write the JSON") : 0;
    }
    const cl_encoder_config *e = cl_model_encoder(m);
    printf("%s: charlstm model, format version %d, %zu parameters (%.1f MB as float32)\n", path,
           CL_CKPT_VERSION, cl_model_nparams(m), (double)cl_model_nparams(m) * 4 / 1e6);
    printf("encoder: %d x %d %s%s, embedding %d, dropout %.2f; text: %s%s\n", e->rnn.layers,
           e->rnn.hidden, e->rnn.cell == CL_CELL_GRU ? "GRU" : "LSTM",
           e->rnn.bidir ? " (bidirectional)" : "", e->emb, e->rnn.dropout,
           cl_model_text(m)->nfc ? "NFC" : "as is", cl_model_text(m)->casefold ? ", case-folded" : "");
    print_vocab(m);
    print_lms(m);
    printf("heads:");
    for (int i = 0; i < cl_model_nheads(m); i++)
        printf(" %s", cl_model_head_name(m, i) + 5);
    printf("%s\nsections:\n", cl_model_nheads(m) ? "" : " none");
    for (int i = 0; i < cl_ckpt_nsections(ck); i++) {
        const cl_ckpt_section *s = cl_ckpt_section_at(ck, i);
        printf("  %s (%llu bytes)\n", cl_ckpt_section_name(s),
               (unsigned long long)cl_ckpt_section_size(s));
        print_keys(s);
        print_tensors(s);
    }
    if (!cl_ckpt_find(ck, "optim"))
        printf("no optimizer state: cannot be resumed (the MODEL.last file of a run can)\n");
    cl_ckpt_free(ck);
    cl_model_free(m);
    return 0;
}

static int info_run(const info_opts *o)
{
    int rc = 0;
    for (int i = 0; i < o->models.n; i++) {
        if (i && !o->output)
            putchar('\n');
        rc |= info_one(o->models.v[i], o->output);
    }
    /* A full disk or closed pipe shows at the flush: not exit 0. */
    int rc2 = cli_close_out("info", stdout, "-");
    return rc ? rc : rc2;
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
