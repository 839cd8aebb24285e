/* cl_tsv: `label<TAB>text` lines (see cl_tsv.h). */
#include "cl_tsv.h"
#include "cl_lines.h"

#include <stdlib.h>
#include <string.h>

struct cl_tsv_reader {
    cl_lines in;
};

/* A reader is its line source: the struct's only member. */
cl_tsv_reader *cl_tsv_reader_new(FILE *fp, const char *name)
{
    return (cl_tsv_reader *)cl_lines_new(fp, name);
}

void cl_tsv_reader_free(cl_tsv_reader *r)
{
    cl_lines_delete(r ? &r->in : NULL);
}

long cl_tsv_line(const cl_tsv_reader *r)
{
    return r->in.lineno;
}

int cl_tsv_read(cl_tsv_reader *r, const char **label, size_t *label_len,
                const char **text, size_t *text_len, cl_diag *diag)
{
    int got;
    do /* blank lines are skipped */
        got = cl_lines_next(&r->in, diag);
    while (got == 1 && r->in.len == 0);
    if (got <= 0)
        return got; /* end of file, or a read error */
    char *line = r->in.buf, *tab = memchr(line, '\t', r->in.len);
    if (!tab)
        return cl_lines_error(&r->in, diag, CL_EPARSE, "expected label<TAB>text, found no tab");
    if (tab == line)
        return cl_lines_error(&r->in, diag, CL_EPARSE, "empty label");
    if (tab + 1 == line + r->in.len)
        return cl_lines_error(&r->in, diag, CL_EPARSE, "empty text");
    *tab = '\0';
    *label = line;
    *text = tab + 1;
    if (label_len)
        *label_len = (size_t)(tab - line);
    if (text_len)
        *text_len = (size_t)(line + r->in.len - tab - 1);
    return 1;
}
