/* cmd_tag: "charlstm tag": part-of-speech tags for sentences.
 *
 * Options first (struct, defaults, table), then the work, tag_run(). */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cl_conllu.h"
#include "cl_tagger.h"
#include "cl_tok.h"

#include "cli_opts.h"
#include "cli_util.h"
#include "commands.h"

#define CMD "tag"

const char cmd_tag_summary[] = "tag the words of sentences with parts of speech";

typedef enum { TAG_IN_TEXT, TAG_IN_CONLLU } tag_input;
typedef enum { TAG_OUT_TAGS, TAG_OUT_CONLLU } tag_output;

typedef struct {
    const char *model;
    int input, output;  /* tag_input, tag_output */
    int batch, threads;
    cli_strs files;     /* positional; "-" (stdin) when none */
} tag_opts;

/* ---------------------------------------------------------------- options */

static void tag_defaults(tag_opts *o)
{
    *o = (tag_opts){.input = TAG_IN_TEXT, .output = -1, .batch = 32, .threads = 1};
}

static const char tag_description[] =
    "Reads one sentence per line (--input text, split into words as Universal\n"
    "Dependencies does) or CoNLL-U (--input conllu, words as given) and writes\n"
    "each sentence as word/TAG pairs on one line (--output tags) or as CoNLL-U\n"
    "with the tag column filled in (--output conllu).  Without FILE, reads stdin.\n"
    "\n"
    "Examples:\n"
    "  echo \"The cat didn't sleep.\" | charlstm tag -m en-pos.model\n"
    "  charlstm tag -m en-pos.model --input conllu --output conllu test.conllu\n";

static int tag_parse(tag_opts *o, int argc, char **argv)
{
    const cli_opt opts[] = {
        {"model", 'm', CLI_STR, &o->model, "MODEL", .help = "model with a tagger head", .required = 1},
        {"input", 0, CLI_CHOICE, &o->input, NULL, .help = "input format", .choices = "text|conllu"},
        {"output", 0, CLI_CHOICE, &o->output, NULL, .help = "output format (tags: word/TAG)", .choices = "tags|conllu",
         .default_text = "conllu with --input conllu, else tags"},
        {"batch", 0, CLI_INT, &o->batch, "N", .help = "sentences per batch", .min = 1, .max = 65536},
        {"threads", 0, CLI_INT, &o->threads, "N", .help = "threads for matrix products (OpenBLAS)",
         .min = 1, .max = 1024},
    };
    const cli_command cmd = {"tag", cmd_tag_summary, "-m MODEL [options] [FILE...]",
                             tag_description, opts, (int)(sizeof opts / sizeof opts[0]), 0, -1};
    int first, rc = cli_parse(&cmd, argc, argv, &first);
    if (rc == 0)
        rc = cli_strs_collect(&cmd, &o->files, argc - first, argv + first, "-");
    return rc;
}

/* ---------------------------------------------------------------- work */

/* One chunk of sentences: read, tag, written in input order. */
typedef struct {
    const tag_opts *o;
    cl_model *m;
    cl_tagger *t;
    cl_tok *tok;
    int col;                 /* CoNLL-U column the tags go to */
    int chunk;               /* sentences tagged together */
    cl_tagger_corpus c;
    char **lines;            /* --input text: [chunk] lines, NULL for blank ones */
    cl_conllu_sent **sents;  /* --input conllu: [chunk] */
    int n;                   /* sentences (text: lines) in the chunk */
    int *tags, ntags_cap;
} tagger_io;

/* Tag every sentence of the chunk, batches of similar length. */
static int tag_corpus(tagger_io *io, const char *name)
{
    cl_diag d = {{0}};
    cl_tagger_data *x;
    int err = cl_tagger_data_prepare(&x, io->t, &io->c, &d);
    if (err)
        return cli_fail(CMD, err, &d, "%s", name);
    if (io->c.nwords > io->ntags_cap) {
        free(io->tags);
        io->ntags_cap = io->c.nwords * 2;
        if (!(io->tags = malloc(sizeof *io->tags * (size_t)io->ntags_cap)))
            err = CL_ENOMEM;
    }
    if (!err)
        err = cl_tagger_tag(io->t, x, io->o->batch, io->tags, NULL);
    cl_tagger_data_free(x);
    return err ? cli_fail(CMD, err, NULL, "tagging failed") : 0;
}

/* First word of sentence s and its length. */
static int sent_words(const cl_tagger_corpus *c, int s, int *len)
{
    *len = c->start[s + 1] - c->start[s];
    return c->start[s];
}

/* ---- text in */

static int tokenize(tagger_io *io, char *line, long lineno, const char *name)
{
    cl_diag d = {{0}};
    int32_t *cps;
    size_t ncps, n;
    int err = cl_text_decode(line, strlen(line), NULL, name, &cps, &ncps, &d);
    free(cps);
    if (err)
        return cli_fail(CMD, err, &d, "%s:%ld", name, lineno);
    cl_tok_span *sp;
    err = cl_tagger_corpus_add_line(&io->c, io->tok, line, strlen(line), &sp, &n, &d);
    free(sp);
    if (err)
        return cli_fail(CMD, err, NULL, "%s:%ld", name, lineno);
    io->lines[io->n++] = n ? strdup(line) : NULL;
    return 0;
}

static void write_tags_line(const tagger_io *io, int s, FILE *out)
{
    int len, b = sent_words(&io->c, s, &len);
    for (int i = 0; i < len; i++)
        fprintf(out, "%s%s/%s", i ? " " : "", io->c.form[b + i],
                cl_tagger_tag_name(io->t, io->tags[b + i]));
    fputc('\n', out);
}

static void write_conllu_sent(const tagger_io *io, int s, const char *text, FILE *out)
{
    int len, b = sent_words(&io->c, s, &len);
    fprintf(out, "# text = %s\n", text);
    for (int i = 0; i < len; i++) {
        const char *tag = cl_tagger_tag_name(io->t, io->tags[b + i]);
        int x = io->col == CL_CONLLU_XPOS;
        fprintf(out, "%d\t%s\t_\t%s\t%s\t_\t_\t_\t_\t_\n", i + 1, io->c.form[b + i],
                x ? "_" : tag, x ? tag : "_");
    }
    fputc('\n', out);
}

static int flush_text(tagger_io *io, const char *name, FILE *out)
{
    int rc = io->c.nsent ? tag_corpus(io, name) : 0;
    for (int i = 0, s = 0; i < io->n; i++) {
        if (!rc && io->lines[i] && io->o->output == TAG_OUT_CONLLU)
            write_conllu_sent(io, s, io->lines[i], out);
        else if (!rc && io->lines[i])
            write_tags_line(io, s, out);
        else if (!rc && io->o->output == TAG_OUT_TAGS)
            fputc('\n', out); /* a blank line stays a blank line */
        s += io->lines[i] != NULL;
        free(io->lines[i]);
    }
    io->n = 0;
    cl_tagger_corpus_clear(&io->c);
    fflush(out);
    return rc;
}

static int tag_text(tagger_io *io, FILE *in, const char *name, FILE *out)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    long lineno = 0;
    int rc = 0;
    while (!rc && (len = getline(&line, &cap, in)) >= 0) {
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = 0;
        rc = tokenize(io, line, ++lineno, name);
        if (!rc && io->n == io->chunk)
            rc = flush_text(io, name, out);
    }
    free(line);
    return rc ? rc : flush_text(io, name, out);
}

/* ---- CoNLL-U in */

static int flush_conllu(tagger_io *io, const char *name, FILE *out)
{
    cl_diag d = {{0}};
    int rc = io->n ? tag_corpus(io, name) : 0;
    for (int s = 0; s < io->n && !rc; s++) {
        int len, b = sent_words(&io->c, s, &len), err = 0;
        for (int i = 0; i < len && !err; i++)
            err = cl_conllu_set_col(io->sents[s], (size_t)i, io->col,
                                    cl_tagger_tag_name(io->t, io->tags[b + i]));
        if (io->o->output == TAG_OUT_TAGS)
            write_tags_line(io, s, out);
        else if (!err)
            err = cl_conllu_write(out, io->sents[s], "<stdout>", &d);
        if (err)
            rc = cli_fail(CMD, err, &d, "writing the output");
    }
    io->n = 0;
    cl_tagger_corpus_clear(&io->c);
    fflush(out);
    return rc;
}

static int add_conllu(tagger_io *io, const cl_conllu_sent *s)
{
    size_t n = cl_conllu_nwords(s);
    const char **forms = malloc(sizeof *forms * n);
    for (size_t i = 0; forms && i < n; i++)
        forms[i] = cl_conllu_form(s, i);
    int err = forms ? cl_tagger_corpus_add(&io->c, forms, NULL, (int)n) : CL_ENOMEM;
    free(forms);
    return err ? cli_fail(CMD, err, NULL, "reading CoNLL-U") : 0;
}

static int tag_conllu(tagger_io *io, FILE *in, const char *name, FILE *out)
{
    cl_diag d = {{0}};
    cl_conllu_reader *r = cl_conllu_reader_new(in, name);
    int rc = r ? 0 : cli_fail(CMD, CL_ENOMEM, NULL, NULL), got = 0;
    while (!rc && (got = cl_conllu_read(r, io->sents[io->n], &d)) == 1) {
        rc = add_conllu(io, io->sents[io->n++]);
        if (!rc && io->n == io->chunk)
            rc = flush_conllu(io, name, out);
    }
    if (!rc && got < 0)
        rc = cli_fail(CMD, got, &d, NULL);
    if (!rc)
        rc = flush_conllu(io, name, out);
    cl_conllu_reader_free(r);
    return rc;
}

/* ---- the run */

static int io_setup(tagger_io *io)
{
    cl_diag d = {{0}};
    int err = cl_model_load(&io->m, io->o->model, NULL, &d);
    if (err)
        return cli_fail(CMD, err, &d, "cannot load the model");
    if ((err = cl_tagger_create(&io->t, io->m, &d)))
        return cli_fail(CMD, err, &d, "%s", io->o->model);
    io->col = cl_tagger_config_of(io->t)->column;
    if (io->o->input == TAG_IN_TEXT && (err = cl_tok_create(&io->tok, &d)))
        return cli_fail(CMD, err, &d, "cannot build the tokenizer");
    io->lines = calloc((size_t)io->chunk, sizeof *io->lines);
    io->sents = calloc((size_t)io->chunk, sizeof *io->sents);
    for (int i = 0; io->sents && i < io->chunk && io->o->input == TAG_IN_CONLLU; i++)
        if (!(io->sents[i] = cl_conllu_sent_new()))
            return cli_fail(CMD, CL_ENOMEM, NULL, NULL);
    return io->lines && io->sents ? 0 : cli_fail(CMD, CL_ENOMEM, NULL, NULL);
}

static void io_free(tagger_io *io)
{
    for (int i = 0; io->sents && i < io->chunk; i++)
        cl_conllu_sent_free(io->sents[i]);
    free(io->sents), free(io->lines), free(io->tags);
    cl_tagger_corpus_free(&io->c);
    cl_tok_free(io->tok);
    cl_tagger_free(io->t);
    cl_model_free(io->m);
}

static int tag_file(tagger_io *io, const char *path, FILE *out)
{
    FILE *in = cli_open_in(CMD, path);
    if (!in)
        return CLI_EXIT_FAIL;
    /* Interactive input: answer each line before reading the next. */
    io->chunk = isatty(fileno(in)) ? 1 : io->o->batch * 8;
    const char *name = cli_in_name(path);
    int rc = io->o->input == TAG_IN_CONLLU ? tag_conllu(io, in, name, out)
                                           : tag_text(io, in, name, out);
    int rc2 = cli_close_in(CMD, in, path);
    return rc ? rc : rc2;
}

static int tag_run(const tag_opts *o)
{
    tag_opts resolved = *o;
    if (resolved.output < 0)
        resolved.output = o->input == TAG_IN_CONLLU ? TAG_OUT_CONLLU : TAG_OUT_TAGS;
    o = &resolved;
    tagger_io io = {.o = o, .chunk = o->batch * 8};
    cl_tagger_corpus_init(&io.c);
    cli_threads(o->threads);
    int rc = io_setup(&io);
    for (int i = 0; i < o->files.n && !rc; i++)
        rc = tag_file(&io, o->files.v[i], stdout);
    io_free(&io);
    int rc2 = cli_close_out(CMD, stdout, "-");
    return rc ? rc : rc2;
}

int cmd_tag(int argc, char **argv)
{
    tag_opts o;
    tag_defaults(&o);
    int rc = tag_parse(&o, argc, argv);
    if (rc == 0)
        rc = tag_run(&o);
    else if (rc == 1)
        rc = 0;
    cli_strs_free(&o.files);
    return rc;
}
