/* cl_lines: getline with a name and line numbers. */
#include "cl_lines.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <utf8proc.h>

int cl_lines_init(cl_lines *l, FILE *fp, const char *name)
{
    memset(l, 0, sizeof *l);
    l->fp = fp;
    l->name = strdup(name ? name : "-");
    return l->name ? CL_OK : CL_ENOMEM;
}

void cl_lines_free(cl_lines *l)
{
    free(l->name);
    free(l->buf);
    memset(l, 0, sizeof *l);
}

cl_lines *cl_lines_new(FILE *fp, const char *name)
{
    cl_lines *l = malloc(sizeof *l);
    if (l && cl_lines_init(l, fp, name)) {
        free(l->name);
        free(l);
        return NULL;
    }
    return l;
}

void cl_lines_delete(cl_lines *l)
{
    if (l) {
        cl_lines_free(l);
        free(l);
    }
}

int cl_lines_next(cl_lines *l, cl_diag *diag)
{
    errno = 0;
    ssize_t n = getline(&l->buf, &l->cap, l->fp);
    if (n < 0) {
        if (errno == ENOMEM)
            return cl_diag_set(diag, CL_ENOMEM, "%s: out of memory", l->name);
        if (ferror(l->fp))
            return cl_diag_set(diag, CL_EIO, "%s:%ld: read error", l->name, l->lineno + 1);
        return 0;
    }
    /* A UTF-8 byte-order mark (Windows editors) is not part of the first
     * label, word or text. */
    if (l->lineno++ == 0 && n >= 3 && memcmp(l->buf, "\xEF\xBB\xBF", 3) == 0)
        memmove(l->buf, l->buf + 3, (size_t)(n -= 3) + 1);
    if (n > 0 && l->buf[n - 1] == '\n')
        l->buf[--n] = '\0';
    if (n > 0 && l->buf[n - 1] == '\r')
        l->buf[--n] = '\0';
    l->len = (size_t)n;
    return 1;
}

int cl_lines_error(const cl_lines *l, cl_diag *diag, int err, const char *msg)
{
    return cl_diag_set(diag, err, "%s:%ld: %s", l->name, l->lineno, msg);
}

int cl_lines_check_utf8(const cl_lines *l, cl_diag *diag)
{
    const utf8proc_uint8_t *p = (const utf8proc_uint8_t *)l->buf;
    size_t off = 0;
    utf8proc_int32_t cp;
    while (off < l->len) {
        utf8proc_ssize_t k = utf8proc_iterate(p + off, (utf8proc_ssize_t)(l->len - off), &cp);
        if (k < 0)
            return cl_diag_set(diag, CL_EUTF8, "%s:%ld: invalid UTF-8 at byte %zu of the line",
                               l->name, l->lineno, off + 1);
        off += (size_t)k;
    }
    return 0;
}
