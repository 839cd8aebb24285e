/* cl_tsv: streaming reader for classifier data, one `label<TAB>text` per line.
 *
 * The label is everything before the first tab, the text everything after it
 * (later tabs belong to the text).  Line ends may be LF or CRLF.  Blank lines
 * (empty, or only a CR) are skipped, so a file may end with extra newlines.
 * A line with no tab, an empty label or an empty text fails with CL_EPARSE
 * and a diag "NAME:LINE: message".  Text is returned as read: the caller
 * validates UTF-8 and normalises. */
#ifndef CL_TSV_H
#define CL_TSV_H

#include <stddef.h>
#include <stdio.h>

#include "cl_error.h"
#include "cl_api.h"

CL_API_BEGIN

typedef struct cl_tsv_reader cl_tsv_reader;

/* A reader on fp (not closed by the reader); name is copied and used in
 * diagnostics.  NULL when out of memory.  Free with cl_tsv_reader_free. */
cl_tsv_reader *cl_tsv_reader_new(FILE *fp, const char *name);
void cl_tsv_reader_free(cl_tsv_reader *r);

/* Read the next record.  Returns 1 with *label and *text pointing at
 * NUL-terminated strings inside the reader (valid until the next call or
 * cl_tsv_reader_free; lengths in *label_len / *text_len when those are not
 * NULL), 0 at end of input, or CL_EPARSE, CL_EIO, CL_ENOMEM. */
int cl_tsv_read(cl_tsv_reader *r, const char **label, size_t *label_len,
                const char **text, size_t *text_len, cl_diag *diag);

/* Line number of the record last returned (1-based). */
long cl_tsv_line(const cl_tsv_reader *r);

CL_API_END
#endif
