/* cmd_tag: "charlstm tag": part-of-speech tags for sentences.
 *
 * Options first (struct, defaults, table), then the work: raw text lines
 * (tag_text) or CoNLL-U sentences (tag_conllu) go into a cl_ann_doc that
 * cl_annotate tags in batches; the writers turn it into word/TAG lines,
 * CoNLL-U or JSON. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cl_annotate.h"
#include "cl_conllu.h"

#include "cli_json.h"
#include "cli_opts.h"
#include "cli_stream.h"
#include "cli_util.h"
#include "commands.h"

#define CMD "tag"

const char cmd_tag_summary[] = "tag the words of sentences with parts of speech";

typedef enum { TAG_IN_TEXT, TAG_IN_PARAGRAPHS, TAG_IN_CONLLU } tag_input;
typedef enum { TAG_OUT_TAGS, TAG_OUT_CONLLU, TAG_OUT_JSON } tag_output;

typedef struct {
    const char *model;
    int input, output;  /* tag_input, tag_output */
    int batch, threads, top;
    int precision;      /* cl_precision */
    int replace_invalid;
    cli_strs files;     /* positional; "-" (stdin) when none */
} tag_opts;

/* ---------------------------------------------------------------- options */

static void tag_defaults(tag_opts *o)
{
    *o = (tag_opts){.input = TAG_IN_TEXT, .output = -1, .batch = 32, .threads = 1,
                     .precision = CLI_PRECISION_DEFAULT};
}

static const char tag_description[] =
    "Reads raw text, one sentence per line (--input text) or one paragraph per\n"
    "line, split into sentences (--input paragraphs), splits it into words as\n"
    "Universal Dependencies does, with the multiword tokens (didn't = did n't)\n"
    "the model's treebank has; or reads CoNLL-U (--input conllu, words as given).\n"
    "Writes each sentence as word/TAG pairs on one line (--output tags), as\n"
    "CoNLL-U with sent_id, text, multiword-token ranges, SpaceAfter=No and the\n"
    "tag column filled in (--output conllu), or one JSON object per input line\n"
    "with character offsets, tags and their probabilities (--output json,\n"
    "--top K for the K most likely tags; docs/json.md).  Without FILE, reads\n"
    "stdin.  Lines are tagged in batches of what has arrived and each answer is\n"
    "written at once, so a program can write a line and wait for its tags.\n"
    "\n"
    "Examples:\n"
    "  echo \"The cat didn't sleep.\" | charlstm tag -m en-pos.model\n"
    "  charlstm tag -m en-pos.model --input paragraphs --output conllu story.txt\n"
    "  charlstm tag -m en-pos.model --input conllu --output conllu test.conllu\n";

static int tag_parse(tag_opts *o, int argc, char **argv)
{
    const cli_opt opts[] = {
        {"model", 'm', CLI_STR, &o->model, "MODEL", .help = "model with a tagger head", .required = 1},
        {"input", 0, CLI_CHOICE, &o->input, NULL, .help = "input format",
         .choices = "text|paragraphs|conllu"},
        {"output", 0, CLI_CHOICE, &o->output, NULL, .help = "output format (tags: word/TAG)",
         .choices = "tags|conllu|json", .default_text = "conllu with --input conllu, else tags"},
        {"top", 0, CLI_INT, &o->top, "K", .help = "--output json: the K most likely tags of each "
         "word with their probabilities (0 = only the chosen tag's)", .min = 0, .max = 1000},
        {"batch", 0, CLI_INT, &o->batch, "N", .help = "most sentences per batch", .min = 1, .max = 65536},
        {"threads", 0, CLI_INT, &o->threads, "N", .help = "threads for the recurrences and matrix products",
         .min = 1, .max = 1024},
        cli_precision_opt(&o->precision),
        {"replace-invalid", 0, CLI_FLAG, &o->replace_invalid, NULL,
         .help = "read invalid UTF-8 bytes as U+FFFD instead of stopping with an error"},
    };
    const cli_command cmd = {"tag", cmd_tag_summary, "-m MODEL [options] [FILE...]",
                             tag_description, opts, (int)(sizeof opts / sizeof opts[0]), 0, -1};
    int first, rc = cli_parse(&cmd, argc, argv, &first);
    if (rc == 0)
        rc = cli_strs_collect(&cmd, &o->files, argc - first, argv + first, "-");
    return rc;
}

/* ---------------------------------------------------------------- work */

/* Input lines (or CoNLL-U sentences) waiting for their tags. */
typedef struct {
    char *text;   /* the line (NULL for CoNLL-U input) */
    long lineno;
    int first, n; /* its sentences in the doc */
} pending;

typedef struct {
    const tag_opts *o;
    cl_model *m;
    cl_annotator *a;
    const cl_tagger *t;
    int col;                 /* CoNLL-U column the tags go to */
    int chunk;               /* sentences tagged together at most */
    cl_ann_doc doc;
    pending *lines;          /* [nlines] in input order */
    int nlines, cap_lines;
    cl_conllu_sent **sents;  /* --input conllu: [chunk + 1], the pending ones, then the next */
    long sent_id;            /* sentences written so far (# sent_id) */
} tagger_io;

static int push_line(tagger_io *io, const char *text, long lineno, int first)
{
    if (io->nlines == io->cap_lines) {
        int cap = io->cap_lines ? 2 * io->cap_lines : 64;
        pending *p = realloc(io->lines, sizeof *p * (size_t)cap);
        if (!p)
            return CL_ENOMEM;
        io->lines = p, io->cap_lines = cap;
    }
    char *copy = text ? strdup(text) : NULL;
    if (text && !copy)
        return CL_ENOMEM;
    io->lines[io->nlines++] = (pending){copy, lineno, first, io->doc.n - first};
    return CL_OK;
}

/* ---- writers */

static const char *tag_of(const tagger_io *io, const cl_ann_word *w)
{
    return cl_tagger_tag_name(io->t, w->tag);
}

static void write_tags(const tagger_io *io, const cl_ann_sent *s, FILE *out)
{
    for (int i = 0; i < s->nword; i++)
        fprintf(out, "%s%s/%s", i ? " " : "", s->word[i].form, tag_of(io, &s->word[i]));
    fputc('\n', out);
}

/* "# text" as the tokens and their spacing give it (what UD's validator checks). */
static void write_text_comment(const cl_ann_sent *s, FILE *out)
{
    fputs("# text = ", out);
    for (int k = 0; k < s->ntok; k++) {
        fwrite(s->text + s->tok[k].off, 1, s->tok[k].len, out);
        if (s->tok[k].space_after && k + 1 < s->ntok)
            fputc(' ', out);
    }
    fputc('\n', out);
}

static void write_conllu(tagger_io *io, const cl_ann_sent *s, int newpar, FILE *out)
{
    if (newpar)
        fputs("# newpar\n", out);
    fprintf(out, "# sent_id = %ld\n", ++io->sent_id);
    write_text_comment(s, out);
    int x = io->col == CL_CONLLU_XPOS;
    for (int k = 0; k < s->ntok; k++) {
        const cl_ann_token *t = &s->tok[k];
        const char *misc = t->space_after ? "_" : "SpaceAfter=No";
        if (t->nwords > 1)
            fprintf(out, "%d-%d\t%.*s\t_\t_\t_\t_\t_\t_\t_\t%s\n", t->word + 1,
                    t->word + t->nwords, (int)t->len, s->text + t->off, misc);
        for (int i = t->word; i < t->word + t->nwords; i++) {
            const char *tag = tag_of(io, &s->word[i]);
            fprintf(out, "%d\t%s\t_\t%s\t%s\t_\t_\t_\t_\t%s\n", i + 1, s->word[i].form,
                    x ? "_" : tag, x ? tag : "_", t->nwords > 1 ? "_" : misc);
        }
    }
    fputc('\n', out);
}

/* The answer to one input line. */
static int write_line(tagger_io *io, const pending *p, FILE *out)
{
    const tag_opts *o = io->o;
    if (o->output == TAG_OUT_JSON) {
        long id = io->sent_id + 1;
        io->sent_id += p->n;
        return cli_json_print(out, cli_json_tagged_line(&io->doc, p->first, p->n, io->t, p->text,
                                                        p->lineno, id, o->top));
    }
    for (int k = p->first; k < p->first + p->n; k++)
        if (o->output == TAG_OUT_CONLLU)
            write_conllu(io, &io->doc.sent[k], o->input == TAG_IN_PARAGRAPHS && k == p->first, out);
        else
            write_tags(io, &io->doc.sent[k], out);
    if (p->n == 0 && o->output == TAG_OUT_TAGS)
        fputc('\n', out); /* a blank line stays a blank line */
    return CL_OK;
}

/* Tag what is pending and write it in input order. */
static int flush_text(tagger_io *io, FILE *out)
{
    cl_diag d = {{0}};
    int err = cl_annotate_tag(io->a, &io->doc, 0, io->o->batch, io->o->output == TAG_OUT_JSON, &d);
    for (int i = 0; i < io->nlines; i++) {
        if (!err)
            err = write_line(io, &io->lines[i], out);
        free(io->lines[i].text);
    }
    io->nlines = 0;
    cl_ann_doc_clear(&io->doc);
    fflush(out);
    return err ? cli_fail(CMD, err, &d, "tagging failed") : 0;
}

/* ---- text in */

static int add_text_line(tagger_io *io, const cli_stream *in)
{
    cl_diag d = {{0}};
    int first = io->doc.n;
    int mode = io->o->input == TAG_IN_PARAGRAPHS ? CL_ANN_SPLIT : CL_ANN_LINE;
    int err = cl_annotate_text(io->a, in->line, in->len, mode, &io->doc, &d);
    err = err ? err : push_line(io, io->o->output == TAG_OUT_JSON ? in->line : NULL, in->lineno, first);
    return err ? cli_fail(CMD, err, &d, "%s:%ld", in->name, in->lineno) : 0;
}

/* A chunk ends when full or when the next line has not arrived yet, so a
 * writer waiting for its answer gets it now (cli_stream). */
static int tag_text(tagger_io *io, cli_stream *in, FILE *out)
{
    int rc = 0, got;
    while (!rc && (got = cli_stream_next(in)) == 1) {
        rc = add_text_line(io, in);
        if (!rc && (io->doc.n >= io->chunk || !cli_stream_ready(in)))
            rc = flush_text(io, out);
    }
    int rc2 = flush_text(io, out); /* the lines before an error are answered */
    return rc ? rc : got < 0 ? cli_stream_fail(in) : rc2;
}

/* ---- CoNLL-U in */

/* The sentence after the pending ones (sents[doc.n], which may have begun:
 * its first lines were pushed) goes to the front, where the next pushes
 * go once the pending ones are written. */
static void keep_begun_sentence(tagger_io *io)
{
    cl_conllu_sent *begun = io->sents[io->doc.n];
    io->sents[io->doc.n] = io->sents[0];
    io->sents[0] = begun;
}

static int flush_conllu(tagger_io *io, FILE *out)
{
    if (io->o->output != TAG_OUT_CONLLU) {
        keep_begun_sentence(io);
        return flush_text(io, out);
    }
    cl_diag d = {{0}};
    int err = cl_annotate_tag(io->a, &io->doc, 0, io->o->batch, 0, &d);
    for (int s = 0; s < io->doc.n && !err; s++) {
        const cl_ann_sent *a = &io->doc.sent[s];
        for (int i = 0; i < a->nword && !err; i++)
            err = cl_conllu_set_col(io->sents[s], (size_t)i, io->col, tag_of(io, &a->word[i]));
        err = err ? err : cl_conllu_write(out, io->sents[s], "<stdout>", &d);
    }
    keep_begun_sentence(io);
    io->nlines = 0;
    cl_ann_doc_clear(&io->doc);
    fflush(out);
    return err ? cli_fail(CMD, err, &d, "writing the output") : 0;
}

static int add_conllu(tagger_io *io, const cl_conllu_sent *s, long lineno)
{
    int n = (int)cl_conllu_nwords(s), first = io->doc.n;
    const char **forms = malloc(sizeof *forms * (size_t)n);
    int *space = malloc(sizeof *space * (size_t)n);
    for (int i = 0; forms && space && i < n; i++) {
        forms[i] = cl_conllu_form(s, (size_t)i);
        space[i] = !cl_conllu_no_space_after(cl_conllu_col(s, (size_t)i, CL_CONLLU_MISC));
    }
    int err = forms && space ? cl_annotate_words(&io->doc, forms, space, n) : CL_ENOMEM;
    free(forms), free(space);
    return err ? err : push_line(io, NULL, lineno, first);
}

/* One line of CoNLL-U (end: the end of input instead): a sentence it
 * completes joins the pending ones.  0 or a cl_err (d says where). */
static int conllu_line(tagger_io *io, cl_conllu_reader *r, const cli_stream *in, int end,
                       cl_diag *d)
{
    cl_conllu_sent *s = io->sents[io->doc.n];
    int got = end ? cl_conllu_push_end(r, s, d) : cl_conllu_push(r, s, in->line, in->len, d);
    return got <= 0 ? got : add_conllu(io, s, cl_conllu_line(s));
}

/* Sentences are read line by line as the text path reads lines: the
 * pending ones are tagged when a chunk is full or when the next line has
 * not arrived yet, so a writer that sends one sentence (with its blank
 * line) and waits gets it back (cli_stream).  The sentences before a bad
 * line are written before the error is reported. */
static int tag_conllu(tagger_io *io, cli_stream *in, FILE *out)
{
    cl_diag d = {{0}};
    cl_conllu_reader *r = cl_conllu_reader_new(NULL, in->name);
    int err = r ? CL_OK : CL_ENOMEM, rc = 0, got = 0;
    while (!err && !rc && (got = cli_stream_next(in)) == 1) {
        err = conllu_line(io, r, in, 0, &d);
        if (io->doc.n && (err || io->doc.n == io->chunk || !cli_stream_ready(in)))
            rc = flush_conllu(io, out);
    }
    if (!err && !rc && got == 0)
        err = conllu_line(io, r, in, 1, &d); /* a last sentence without its blank line */
    rc = rc ? rc : flush_conllu(io, out);
    cl_conllu_reader_free(r);
    if (err)
        return cli_fail(CMD, err, &d, d.msg[0] ? NULL : "reading CoNLL-U");
    return rc ? rc : got < 0 ? cli_stream_fail(in) : 0;
}

/* ---- the run */

static int io_setup(tagger_io *io)
{
    cl_diag d = {{0}};
    int err = cl_model_load(&io->m, io->o->model, NULL, &d);
    if (err)
        return cli_fail(CMD, err, &d, "cannot load the model");
    if ((err = cl_annotator_create(&io->a, io->m, &d)))
        return cli_fail(CMD, err, &d, "%s", io->o->model);
    io->t = cl_annotator_tagger(io->a);
    if ((err = cl_tagger_set_precision(cl_annotator_tagger(io->a), io->o->precision)))
        return cli_precision_fail(CMD, io->o->precision, err);
    io->col = cl_tagger_config_of(io->t)->column;
    if (io->o->input != TAG_IN_CONLLU)
        return 0;
    io->sents = calloc((size_t)io->chunk + 1, sizeof *io->sents); /* + 1: the one being read */
    for (int i = 0; io->sents && i <= io->chunk; i++)
        if (!(io->sents[i] = cl_conllu_sent_new()))
            return cli_fail(CMD, CL_ENOMEM, NULL, NULL);
    return io->sents ? 0 : cli_fail(CMD, CL_ENOMEM, NULL, NULL);
}

static void io_free(tagger_io *io)
{
    for (int i = 0; io->sents && i <= io->chunk; i++)
        cl_conllu_sent_free(io->sents[i]);
    free(io->sents), free(io->lines);
    cl_ann_doc_free(&io->doc);
    cl_annotator_free(io->a);
    cl_model_free(io->m);
}

static int tag_file(tagger_io *io, const char *path, FILE *out)
{
    cli_stream in;
    if (cli_stream_open(&in, CMD, path, io->o->replace_invalid))
        return CLI_EXIT_FAIL;
    int rc = io->o->input == TAG_IN_CONLLU ? tag_conllu(io, &in, out) : tag_text(io, &in, out);
    cli_stream_close(&in);
    return rc;
}

static int tag_run(const tag_opts *o)
{
    if (cli_no_dash(CMD, "-m", o->model, CLI_MODEL_NOT_A_STREAM))
        return CLI_EXIT_USAGE;
    tag_opts resolved = *o;
    if (resolved.output < 0)
        resolved.output = o->input == TAG_IN_CONLLU ? TAG_OUT_CONLLU : TAG_OUT_TAGS;
    o = &resolved;
    tagger_io io = {.o = o, .chunk = o->batch * 8};
    cl_ann_doc_init(&io.doc);
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
