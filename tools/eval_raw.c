/* eval_raw: "charlstm eval --raw": the tagger end to end from raw text.
 *
 * The gold file's sentences are read paragraph by paragraph ("# newpar" or
 * "# newdoc" start one; a file without them is one paragraph), each
 * sentence's raw text is its
 * "# text" (or its forms and SpaceAfter), joined by spaces into the
 * paragraph's text; the model splits, tokenizes and tags that text
 * (cl_annotate) and cl_udscore compares both sides by character offsets. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cl_annotate.h"
#include "cl_conllu.h"
#include "cl_udscore.h"
#include "cli_json.h"
#include "cli_util.h"
#include "eval_tasks.h"

#define CMD "eval"

/* A paragraph: gold sentences [g0, g1), system sentences [s0, s1). */
typedef struct {
    int g0, g1, s0, s1;
} para;

typedef struct {
    cl_annotator *a;
    cl_ann_doc gold, sys;
    para *p;
    int np, cap;
} raw_eval;

/* Place the gold sentences [g0, gold.n) one after the other, a space
 * between them, and let the model annotate that text. */
static int close_paragraph(raw_eval *r, int g0, cl_diag *d)
{
    if (g0 == r->gold.n)
        return CL_OK;
    size_t len = 0;
    for (int i = g0; i < r->gold.n; i++)
        len += strlen(r->gold.sent[i].text) + 1;
    char *text = malloc(len + 1);
    if (!text)
        return CL_ENOMEM;
    size_t at = 0;
    for (int i = g0; i < r->gold.n; i++) {
        size_t k = strlen(r->gold.sent[i].text);
        r->gold.sent[i].off = at;
        memcpy(text + at, r->gold.sent[i].text, k);
        at += k;
        text[at++] = ' ';
    }
    text[--at] = 0;
    int s0 = r->sys.n;
    int err = cl_annotate_text(r->a, text, at, CL_ANN_SPLIT, &r->sys, d);
    free(text);
    if (!err && r->np == r->cap) {
        int cap = r->cap ? 2 * r->cap : 256;
        para *p = realloc(r->p, sizeof *p * (size_t)cap);
        if (!p)
            return CL_ENOMEM;
        r->p = p, r->cap = cap;
    }
    if (!err)
        r->p[r->np++] = (para){g0, r->gold.n, s0, r->sys.n};
    return err;
}

static int read_file(raw_eval *r, const char *path)
{
    cl_diag d = {{0}};
    FILE *fp = cli_open_in(CMD, path);
    if (!fp)
        return CLI_EXIT_FAIL;
    cl_conllu_reader *rd = cl_conllu_reader_new(fp, cli_in_name(path));
    cl_conllu_sent *s = cl_conllu_sent_new();
    int got = rd && s ? 0 : CL_ENOMEM, g0 = r->gold.n;
    while (!got && (got = cl_conllu_read(rd, s, &d)) == 1) {
        got = 0;
        if (cl_conllu_has_comment(s, "newpar") || cl_conllu_has_comment(s, "newdoc")) {
            got = close_paragraph(r, g0, &d);
            g0 = r->gold.n;
        }
        got = got ? got : cl_annotate_conllu(&r->gold, s, cl_annotator_tagger(r->a));
    }
    got = got ? got : close_paragraph(r, g0, &d);
    cl_conllu_sent_free(s);
    cl_conllu_reader_free(rd);
    int rc = cli_close_in(CMD, fp, path);
    return got ? cli_fail(CMD, got, &d, "%s", cli_in_name(path)) : rc;
}

/* ---- report */

static const char *const ROWS[] = {"sentences", "tokens", "multiword", "words", "UPOS"};

static const cl_ud_count *row(const cl_ud_score *sc, int i)
{
    const cl_ud_count *c[] = {&sc->sentences, &sc->tokens, &sc->mwt, &sc->words, &sc->upos};
    return c[i];
}

static void print_score(const cl_ud_score *sc, const cl_tagger *t, int nparas)
{
    int xpos = cl_tagger_config_of(t)->column == CL_CONLLU_XPOS;
    printf("raw text: %ld gold sentences in %d paragraphs, split, tokenized and tagged by the model\n",
           sc->sentences.gold, nparas);
    printf("%-10s %8s %8s %8s %9s %8s %8s\n", "", "gold", "system", "correct", "precision", "recall",
           "F1");
    for (int i = 0; i < 5; i++) {
        const cl_ud_count *c = row(sc, i);
        printf("%-10s %8ld %8ld %8ld %8.2f%% %7.2f%% %7.2f%%\n", i == 4 && xpos ? "XPOS" : ROWS[i],
               c->gold, c->system, c->correct, 100 * cl_ud_precision(c), 100 * cl_ud_recall(c),
               100 * cl_ud_f1(c));
    }
}

static void json_score(cJSON *j, const cl_ud_score *sc, const cl_tagger *t, int nparas)
{
    int xpos = cl_tagger_config_of(t)->column == CL_CONLLU_XPOS;
    cJSON_AddNumberToObject(j, "paragraphs", nparas);
    for (int i = 0; i < 5; i++) {
        const cl_ud_count *c = row(sc, i);
        cJSON *o = cJSON_AddObjectToObject(j, i == 4 && xpos ? "XPOS" : ROWS[i]);
        cJSON_AddNumberToObject(o, "gold", (double)c->gold);
        cJSON_AddNumberToObject(o, "system", (double)c->system);
        cJSON_AddNumberToObject(o, "correct", (double)c->correct);
        cli_json_add_number(o, "precision", cl_ud_precision(c));
        cli_json_add_number(o, "recall", cl_ud_recall(c));
        cli_json_add_number(o, "f1", cl_ud_f1(c));
    }
}

int eval_tagger_raw(const cl_model *m, const char *const *files, int nfiles, int batch,
                    int precision, cJSON *json)
{
    raw_eval r = {0};
    cl_diag d = {{0}};
    cl_ud_score sc;
    memset(&sc, 0, sizeof sc);
    cl_ann_doc_init(&r.gold), cl_ann_doc_init(&r.sys);
    /* The tagger only reads the model's parameters when it predicts. */
    int err = cl_annotator_create(&r.a, (cl_model *)m, &d), rc = 0;
    if (err)
        return cli_fail(CMD, err, &d, "cannot use the tagger");
    if ((err = cl_tagger_set_precision(cl_annotator_tagger(r.a), precision)))
        rc = cli_precision_fail(CMD, precision, err);
    for (int i = 0; i < nfiles && !rc; i++)
        rc = read_file(&r, files[i]);
    if (!rc && r.gold.n == 0)
        rc = cli_error(CMD, "no sentences to score");
    if (!rc && (err = cl_annotate_tag(r.a, &r.sys, 0, batch, 0, &d)))
        rc = cli_fail(CMD, err, &d, "tagging failed");
    for (int k = 0; k < r.np && !rc; k++)
        if (cl_ud_score_add(&sc, &r.gold, r.p[k].g0, r.p[k].g1, &r.sys, r.p[k].s0, r.p[k].s1))
            rc = cli_fail(CMD, CL_ENOMEM, NULL, "scoring");
    if (!rc && json)
        json_score(json, &sc, cl_annotator_tagger(r.a), r.np);
    else if (!rc)
        print_score(&sc, cl_annotator_tagger(r.a), r.np);
    free(r.p);
    cl_ann_doc_free(&r.gold), cl_ann_doc_free(&r.sys);
    cl_annotator_free(r.a);
    return rc;
}
