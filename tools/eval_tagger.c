/* eval_tagger: "charlstm eval" on a model with a tagger head: accuracy over
 * words (gold tokenization), accuracy on words unseen in training, per-tag
 * precision/recall/F1 and the most frequent confusions.  Multiword-token
 * ranges and empty nodes are not scored (cl_conllu keeps them aside). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "cl_conllu.h"
#include "cl_tagger.h"
#include "cl_udscore.h"
#include "cli_json.h"
#include "cli_util.h"
#include "eval_tasks.h"

#define CMD "eval"
#define TOP_CONFUSIONS 10

static void print_tags(const cl_tagger *t, const cl_tagger_eval *e)
{
    int V = e->ntags;
    printf("\n%-8s %8s %8s %8s %8s\n", "tag", "gold", "prec", "recall", "f1");
    for (int i = 0; i < V; i++) {
        long gold = 0, pred = 0, ok = e->confusion[(size_t)i * V + i];
        for (int j = 0; j < V; j++)
            gold += e->confusion[(size_t)i * V + j], pred += e->confusion[(size_t)j * V + i];
        double p = pred ? (double)ok / pred : NAN, r = gold ? (double)ok / gold : NAN;
        double f = p + r > 0 ? 2 * p * r / (p + r) : NAN;
        printf("%-8s %8ld %7.2f%% %7.2f%% %7.2f%%\n", cl_tagger_tag_name(t, i), gold, 100 * p,
               100 * r, 100 * f);
    }
}

/* The largest off-diagonal cells, by repeated selection (V is small). */
static void print_confusions(const cl_tagger *t, const cl_tagger_eval *e)
{
    int V = e->ntags;
    long *c = malloc(sizeof *c * (size_t)V * V);
    if (!c)
        return;
    for (int i = 0; i < V * V; i++)
        c[i] = i / V == i % V ? 0 : e->confusion[i];
    printf("\nmost frequent confusions (gold -> predicted):\n");
    for (int k = 0; k < TOP_CONFUSIONS; k++) {
        int best = 0;
        for (int i = 1; i < V * V; i++)
            if (c[i] > c[best])
                best = i;
        if (c[best] == 0)
            break;
        printf("  %6ld  %s -> %s\n", c[best], cl_tagger_tag_name(t, best / V),
               cl_tagger_tag_name(t, best % V));
        c[best] = 0;
    }
    free(c);
}

static void report(const cl_tagger *t, const cl_tagger_eval *e, int nsent)
{
    const char *col = cl_tagger_config_of(t)->column == CL_CONLLU_XPOS ? "XPOS" : "UPOS";
    printf("sentences     %d\nwords         %ld\n", nsent, e->words);
    printf("%s accuracy %.2f%%\n", col, 100 * cl_tagger_eval_accuracy(e));
    printf("unseen words  %ld (%.2f%%), accuracy %.2f%%\n", e->unseen,
           e->words ? 100.0 * e->unseen / e->words : 0.0, 100 * cl_tagger_eval_unseen_accuracy(e));
    if (e->unknown_gold)
        printf("gold tags outside the model's tag set: %ld (counted as errors)\n", e->unknown_gold);
    print_tags(t, e);
    print_confusions(t, e);
}

static void json_report(cJSON *j, const cl_tagger *t, const cl_tagger_eval *e, int nsent)
{
    int V = e->ntags;
    cJSON_AddStringToObject(j, "column", cl_tagger_config_of(t)->column == CL_CONLLU_XPOS ? "XPOS" : "UPOS");
    cJSON_AddNumberToObject(j, "sentences", nsent);
    cJSON_AddNumberToObject(j, "words", (double)e->words);
    cli_json_add_number(j, "accuracy", cl_tagger_eval_accuracy(e));
    cJSON_AddNumberToObject(j, "unseen_words", (double)e->unseen);
    cli_json_add_number(j, "unseen_accuracy", cl_tagger_eval_unseen_accuracy(e));
    cJSON_AddNumberToObject(j, "unknown_gold", (double)e->unknown_gold);
    cJSON *tags = cJSON_AddObjectToObject(j, "tags"), *conf = cJSON_AddArrayToObject(j, "confusions");
    for (int i = 0; i < V; i++) {
        long gold = 0, pred = 0, ok = e->confusion[(size_t)i * V + i];
        for (int k = 0; k < V; k++) {
            gold += e->confusion[(size_t)i * V + k], pred += e->confusion[(size_t)k * V + i];
            long n = e->confusion[(size_t)i * V + k];
            if (k != i && n) {
                cJSON *c = cJSON_CreateObject();
                cJSON_AddStringToObject(c, "gold", cl_tagger_tag_name(t, i));
                cJSON_AddStringToObject(c, "predicted", cl_tagger_tag_name(t, k));
                cJSON_AddNumberToObject(c, "count", (double)n);
                cJSON_AddItemToArray(conf, c);
            }
        }
        cl_ud_count cnt = {gold, pred, ok};
        cJSON *o = cJSON_AddObjectToObject(tags, cl_tagger_tag_name(t, i));
        cJSON_AddNumberToObject(o, "gold", (double)gold);
        cli_json_add_number(o, "precision", cl_ud_precision(&cnt));
        cli_json_add_number(o, "recall", cl_ud_recall(&cnt));
        cli_json_add_number(o, "f1", cl_ud_f1(&cnt));
    }
}

static int read_all(const cl_tagger *t, const char *const *files, int nfiles,
                    cl_tagger_corpus *c)
{
    cl_diag d = {{0}};
    for (int i = 0; i < nfiles; i++) {
        int err = cl_tagger_corpus_read_conllu(c, files[i], cl_tagger_config_of(t)->column, &d);
        if (err)
            return cli_fail(CMD, err, &d, "cannot read %s", cli_in_name(files[i]));
    }
    return c->nsent ? 0 : cli_error(CMD, "no sentences to score");
}

int eval_tagger(const cl_model *m, const char *const *files, int nfiles, int batch, int precision,
                cJSON *json)
{
    cl_tagger *t;
    cl_tagger_corpus c;
    cl_tagger_data *x = NULL;
    cl_tagger_eval e;
    cl_diag d = {{0}};
    cl_tagger_corpus_init(&c);
    /* The tagger only reads the model's parameters when it predicts. */
    int err = cl_tagger_create(&t, (cl_model *)m, &d);
    if (err)
        return cli_fail(CMD, err, &d, "cannot use the tagger");
    if ((err = cl_tagger_set_precision(t, precision))) {
        cl_tagger_free(t);
        return cli_precision_fail(CMD, precision, err);
    }
    int rc = read_all(t, files, nfiles, &c);
    if (!rc && (err = cl_tagger_data_prepare(&x, t, &c, &d)))
        rc = cli_fail(CMD, err, &d, "cannot prepare the sentences");
    if (!rc && (err = cl_tagger_evaluate(t, x, batch, &e, NULL)))
        rc = cli_fail(CMD, err, NULL, "tagging failed");
    if (!rc) {
        if (json)
            json_report(json, t, &e, c.nsent);
        else
            report(t, &e, c.nsent);
        cl_tagger_eval_free(&e);
    }
    cl_tagger_data_free(x);
    cl_tagger_corpus_free(&c);
    cl_tagger_free(t);
    return rc;
}
