/* eval_classifier: "charlstm eval" on a model with a classifier head:
 * accuracy, per-label precision/recall/F1, macro F1, mean loss and the
 * confusion matrix over `label<TAB>text` files (all files together). */
#include <stdio.h>
#include <stdlib.h>

#include "cl_clfeval.h"
#include "cli_json.h"
#include "cli_util.h"
#include "eval_tasks.h"

#define CMD "eval"

static void print_confusion(const cl_clfeval_metrics *mt, char *const *labels)
{
    printf("\nconfusion (rows: gold, columns: predicted)\n%-12s", "");
    for (int k = 0; k < mt->K; k++)
        printf("\t%s", labels[k]);
    putchar('\n');
    for (int g = 0; g < mt->K; g++) {
        printf("%-12s", labels[g]);
        for (int k = 0; k < mt->K; k++)
            printf("\t%ld", mt->confusion[(size_t)g * mt->K + k]);
        putchar('\n');
    }
}

static void print_metrics(const cl_clfeval_metrics *mt, const cl_classifier_config *c,
                          size_t unknown)
{
    printf("sentences\t%ld\naccuracy\t%.4f\nmacro_f1\t%.4f\nloss\t%.4f\nunknown_chars\t%zu\n",
           mt->total, cl_clfeval_accuracy(mt), cl_clfeval_macro_f1(mt), cl_clfeval_mean_loss(mt),
           unknown);
    printf("\nlabel\tprecision\trecall\tf1\tsupport\n");
    for (int k = 0; k < mt->K; k++) {
        double p, r, f;
        long support = 0;
        for (int j = 0; j < mt->K; j++)
            support += mt->confusion[(size_t)k * mt->K + j];
        cl_clfeval_prf(mt, k, &p, &r, &f);
        printf("%s\t%.4f\t%.4f\t%.4f\t%ld\n", c->labels[k], p, r, f, support);
    }
    print_confusion(mt, c->labels);
}

static void json_metrics(cJSON *j, const cl_clfeval_metrics *mt, const cl_classifier_config *c,
                         size_t unknown)
{
    cJSON_AddNumberToObject(j, "sentences", (double)mt->total);
    cli_json_add_number(j, "accuracy", cl_clfeval_accuracy(mt));
    cli_json_add_number(j, "macro_f1", cl_clfeval_macro_f1(mt));
    cli_json_add_number(j, "loss", cl_clfeval_mean_loss(mt));
    cJSON_AddNumberToObject(j, "unknown_chars", (double)unknown);
    cJSON *labels = cJSON_AddObjectToObject(j, "labels");
    cJSON *conf = cJSON_AddArrayToObject(j, "confusion");
    for (int k = 0; k < mt->K; k++) {
        double p, r, f;
        cJSON *l = cJSON_AddObjectToObject(labels, c->labels[k]), *row = cJSON_CreateArray();
        cl_clfeval_prf(mt, k, &p, &r, &f);
        cli_json_add_number(l, "precision", p);
        cli_json_add_number(l, "recall", r);
        cli_json_add_number(l, "f1", f);
        long support = 0;
        for (int g = 0; g < mt->K; g++) {
            support += mt->confusion[(size_t)k * mt->K + g];
            cJSON_AddItemToArray(row, cJSON_CreateNumber((double)mt->confusion[(size_t)k * mt->K + g]));
        }
        cJSON_AddNumberToObject(l, "support", (double)support);
        cJSON_AddItemToArray(conf, row);
    }
}

static int eval_file(const cl_model *m, const char *path, int batch, int precision,
                     cl_clfeval_metrics *mt,
                     size_t *unknown)
{
    cl_clfdata ds;
    cl_classifier *clf = NULL;
    cl_diag d = {{0}};
    int *order = NULL;
    int err = cl_clfdata_read_file(&ds, path, cl_model_text(m), &d);
    err = err ? err : cl_clfdata_encode(&ds, m, &d);
    /* fewer rows for long texts: memory follows the batch's characters */
    err = err ? err : cl_classifier_create(&clf, m, ds.max_len,
                                           cl_classifier_rows_for(ds.max_len, batch));
    if (!err && (err = cl_classifier_set_precision(clf, precision))) {
        cl_classifier_free(clf), cl_clfdata_free(&ds);
        return cli_precision_fail(CMD, precision, err);
    }
    if (!err && !(order = cl_clfeval_length_order(&ds)))
        err = CL_ENOMEM;
    err = err ? err : cl_clfeval_run(clf, &ds, order, mt, &d);
    *unknown += ds.unknown;
    free(order);
    cl_classifier_free(clf);
    cl_clfdata_free(&ds);
    return err ? cli_fail(CMD, err, &d, "cannot evaluate on %s", cli_in_name(path)) : 0;
}

int eval_classifier(const cl_model *m, const char *const *files, int nfiles, int batch,
                    int precision, cJSON *json)
{
    const cl_classifier_config *c = cl_model_head(m, "head.classifier");
    cl_clfeval_metrics mt;
    size_t unknown = 0;
    if (cl_clfeval_metrics_init(&mt, c->nlabels))
        return cli_error(CMD, "out of memory");
    int rc = 0;
    for (int i = 0; i < nfiles && !rc; i++)
        rc = eval_file(m, files[i], batch, precision, &mt, &unknown);
    if (!rc && json)
        json_metrics(json, &mt, c, unknown);
    else if (!rc)
        print_metrics(&mt, c, unknown);
    cl_clfeval_metrics_free(&mt);
    return rc;
}
