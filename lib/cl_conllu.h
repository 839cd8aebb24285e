/* cl_conllu: streaming CoNLL-U reader and writer (Universal Dependencies).
 *
 * A reader pulls one sentence at a time from a FILE*, so files of any size
 * stream in constant memory; or the caller pushes the lines it read itself
 * (cl_conllu_push), so that a sentence is complete at its blank line
 * without a read past it.  A sentence keeps every line in order:
 * comments, multiword-token ranges ("3-4 don't") and empty nodes ("5.1") are
 * kept verbatim; ordinary word lines are split into their 10 columns.  The
 * ordinary words (IDs 1, 2, ...) are what taggers see: FORM, UPOS, XPOS by
 * index, and UPOS/XPOS can be replaced.  Writing an unchanged sentence gives
 * back its input lines byte for byte (CRLF line ends are read as LF and
 * written as LF; runs of blank lines between sentences become one).
 *
 * Checked on input, each failing with CL_EPARSE and a diag "NAME:LINE: msg":
 * a word line without exactly 10 tab-separated columns, an ID that is not a
 * positive integer, word IDs that are not 1, 2, 3, ... in order, a malformed
 * range or empty-node ID, an empty FORM, a sentence with no words.  A missing
 * blank line at end of file is accepted. */
#ifndef CL_CONLLU_H
#define CL_CONLLU_H

#include <stddef.h>
#include <stdio.h>

#include "cl_error.h"
#include "cl_api.h"

CL_API_BEGIN

typedef struct cl_conllu_reader cl_conllu_reader;
typedef struct cl_conllu_sent cl_conllu_sent;

/* Columns of a word line. */
enum {
    CL_CONLLU_ID, CL_CONLLU_FORM, CL_CONLLU_LEMMA, CL_CONLLU_UPOS, CL_CONLLU_XPOS,
    CL_CONLLU_FEATS, CL_CONLLU_HEAD, CL_CONLLU_DEPREL, CL_CONLLU_DEPS, CL_CONLLU_MISC,
    CL_CONLLU_NCOLS
};

/* A reader on fp (not closed by the reader; NULL for cl_conllu_push);
 * name is used in diagnostics and copied.  Returns NULL when out of memory.  Free with
 * cl_conllu_reader_free. */
cl_conllu_reader *cl_conllu_reader_new(FILE *fp, const char *name);
void cl_conllu_reader_free(cl_conllu_reader *r);

/* An empty sentence to read into; reuse it for every sentence of a file.
 * NULL when out of memory.  Free with cl_conllu_sent_free. */
cl_conllu_sent *cl_conllu_sent_new(void);
void cl_conllu_sent_free(cl_conllu_sent *s);

/* Read the next sentence into s (its previous contents are dropped).
 * Returns 1 when a sentence was read, 0 at end of input, or CL_EUTF8 (a line
 * that is not UTF-8: file, line and byte in diag), CL_EPARSE,
 * CL_EIO, CL_ENOMEM (diag filled). */
int cl_conllu_read(cl_conllu_reader *r, cl_conllu_sent *s, cl_diag *diag);

/* Push parsing, for lines read by the caller: a co-process writes a
 * sentence and waits for the answer, and a FILE* would block filling its
 * buffer past the blank line.  On a reader made with fp NULL, give every
 * line (without its line end; numbered from 1 in messages) to
 * cl_conllu_push with the sentence it goes into.  Returns 1 when the line
 * was the blank one that ends the sentence (s holds it; the next push
 * begins a new sentence, into the s it is given, which it clears), 0 when
 * the sentence goes on or has not begun, or CL_EUTF8, CL_EPARSE, CL_ENOMEM
 * (diag "NAME:LINE: ..."; the next push begins a new sentence).  At end of
 * input, cl_conllu_push_end returns 1 when s holds a last sentence that no
 * blank line ended, else 0 (or CL_EPARSE for a sentence without words). */
int cl_conllu_push(cl_conllu_reader *r, cl_conllu_sent *s, const char *line, size_t len,
                   cl_diag *diag);
int cl_conllu_push_end(cl_conllu_reader *r, cl_conllu_sent *s, cl_diag *diag);

/* Write s followed by one blank line.  name is for diagnostics.  Returns 0
 * or CL_EIO. */
int cl_conllu_write(FILE *fp, const cl_conllu_sent *s, const char *name, cl_diag *diag);

/* Number of ordinary words (ranges and empty nodes not counted). */
size_t cl_conllu_nwords(const cl_conllu_sent *s);
/* Column col (CL_CONLLU_*) of word i (0-based); valid until s is read into
 * again, freed, or that column is set. */
const char *cl_conllu_col(const cl_conllu_sent *s, size_t i, int col);
const char *cl_conllu_form(const cl_conllu_sent *s, size_t i);
const char *cl_conllu_upos(const cl_conllu_sent *s, size_t i);
const char *cl_conllu_xpos(const cl_conllu_sent *s, size_t i);

/* Replace column col of word i with a copy of value (must be non-empty and
 * hold no tab or newline: CL_EINVAL).  Returns 0, CL_EINVAL or CL_ENOMEM. */
int cl_conllu_set_col(cl_conllu_sent *s, size_t i, int col, const char *value);
int cl_conllu_set_upos(cl_conllu_sent *s, size_t i, const char *upos);
int cl_conllu_set_xpos(cl_conllu_sent *s, size_t i, const char *xpos);

/* Multiword tokens: the number of range lines ("3-4 don't"), and range k's
 * FORM with its first and last word (0-based, into the ordinary words).
 * The FORM is valid as long as cl_conllu_col's values. */
size_t cl_conllu_nranges(const cl_conllu_sent *s);
const char *cl_conllu_range(const cl_conllu_sent *s, size_t k, size_t *first, size_t *last);
/* The MISC column of range line k. */
const char *cl_conllu_range_misc(const cl_conllu_sent *s, size_t k);
/* 1 when the MISC column "a|b|c" (of a word or range line) holds
 * "SpaceAfter=No". */
int cl_conllu_no_space_after(const char *misc);
/* 1 when a comment line starts with "# " key (e.g. "newpar", "newdoc"). */
int cl_conllu_has_comment(const cl_conllu_sent *s, const char *key);

/* The value of the "# text = ..." comment, or NULL when there is none. */
const char *cl_conllu_text(const cl_conllu_sent *s);
/* Line number (1-based) of the sentence's first line in its file. */
long cl_conllu_line(const cl_conllu_sent *s);

CL_API_END
#endif
