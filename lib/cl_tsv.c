/* cl_tsv: `label<TAB>text` lines (see cl_tsv.h). */
#include "cl_tsv.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct cl_tsv_reader {
    FILE *fp;
    char *name;
    char *buf;
    size_t cap;
    long lineno;
};

cl_tsv_reader *cl_tsv_reader_new(FILE *fp, const char *name)
{
    cl_tsv_reader *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->fp = fp;
    r->name = strdup(name ? name : "-");
    if (!r->name) {
        free(r);
        return NULL;
    }
    return r;
}

void cl_tsv_reader_free(cl_tsv_reader *r)
{
    if (!r)
        return;
    free(r->name);
    free(r->buf);
    free(r);
}

long cl_tsv_line(const cl_tsv_reader *r)
{
    return r->lineno;
}

/* Next line without its LF or CRLF: its length, -1 at EOF, or a cl_err
 * below -1. */
static long next_line(cl_tsv_reader *r, cl_diag *diag)
{
    errno = 0;
    ssize_t n = getline(&r->buf, &r->cap, r->fp);
    if (n < 0) {
        if (errno == ENOMEM)
            return cl_diag_set(diag, CL_ENOMEM, "%s: out of memory", r->name);
        if (ferror(r->fp))
            return cl_diag_set(diag, CL_EIO, "%s:%ld: read error", r->name, r->lineno + 1);
        return -1;
    }
    r->lineno++;
    if (n > 0 && r->buf[n - 1] == '\n')
        r->buf[--n] = '\0';
    if (n > 0 && r->buf[n - 1] == '\r')
        r->buf[--n] = '\0';
    return (long)n;
}

int cl_tsv_read(cl_tsv_reader *r, const char **label, size_t *label_len,
                const char **text, size_t *text_len, cl_diag *diag)
{
    long n;
    do
        n = next_line(r, diag);
    while (n == 0);
    if (n == -1)
        return 0;
    if (n < 0)
        return (int)n;
    char *tab = memchr(r->buf, '\t', (size_t)n);
    if (!tab)
        return cl_diag_set(diag, CL_EPARSE, "%s:%ld: expected label<TAB>text, found no tab",
                           r->name, r->lineno);
    if (tab == r->buf)
        return cl_diag_set(diag, CL_EPARSE, "%s:%ld: empty label", r->name, r->lineno);
    if (tab + 1 == r->buf + n)
        return cl_diag_set(diag, CL_EPARSE, "%s:%ld: empty text", r->name, r->lineno);
    *tab = '\0';
    *label = r->buf;
    *text = tab + 1;
    if (label_len)
        *label_len = (size_t)(tab - r->buf);
    if (text_len)
        *text_len = (size_t)(r->buf + n - tab - 1);
    return 1;
}
