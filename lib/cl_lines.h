/* cl_lines: numbered lines from a FILE*, for the line-oriented readers
 * (CoNLL-U, TSV) so that every message can say "FILE:LINE: ...". */
#ifndef CL_LINES_H
#define CL_LINES_H

#include <stdio.h>

#include "cl_error.h"

typedef struct {
    FILE *fp;    /* not owned */
    char *name;  /* owned copy, for messages */
    char *buf;   /* the current line, without LF or CRLF */
    size_t cap;
    size_t len;  /* bytes in buf */
    long lineno; /* 1-based number of the current line */
} cl_lines;

/* CL_ENOMEM or CL_OK; release with cl_lines_free. name NULL means "-". */
int cl_lines_init(cl_lines *l, FILE *fp, const char *name);
void cl_lines_free(cl_lines *l);
/* The same on the heap (NULL when out of memory); cl_lines_delete frees. */
cl_lines *cl_lines_new(FILE *fp, const char *name);
void cl_lines_delete(cl_lines *l);
/* Next line into l->buf (without its \n or \r\n, and without a UTF-8
 * byte-order mark at the start of the file): 1, 0 at end of file, or CL_EIO /
 * CL_ENOMEM. */
int cl_lines_next(cl_lines *l, cl_diag *diag);
/* "NAME:LINE: message" into diag for the current line; returns err. */
int cl_lines_error(const cl_lines *l, cl_diag *diag, int err, const char *msg);
/* 0 when the current line is valid UTF-8, else CL_EUTF8 with "NAME:LINE:
 * invalid UTF-8 at byte N of the line" (never the bad bytes themselves,
 * which would garble a terminal). */
int cl_lines_check_utf8(const cl_lines *l, cl_diag *diag);

#endif
