/* cl_error: error codes shared by every charlstm module.
 *
 * Library functions never print or exit: they return 0 (CL_OK) or a negative
 * cl_err code, and where a message needs context (file name, line, byte offset)
 * they fill a caller-owned cl_diag.  Tools turn both into one line on stderr. */
#ifndef CL_ERROR_H
#define CL_ERROR_H

#include <stddef.h>

#include "cl_api.h"

CL_API_BEGIN

typedef enum {
    CL_OK = 0,
    CL_ENOMEM = -1,    /* allocation failed */
    CL_EIO = -2,       /* read/write/open/fsync/rename failed (errno kept in diag) */
    CL_EINVAL = -3,    /* argument or configuration out of range */
    CL_EFORMAT = -4,   /* not a charlstm file, or a field that makes no sense */
    CL_ETRUNC = -5,    /* file ends before its declared contents */
    CL_ECHECKSUM = -6, /* stored checksum does not match the data */
    CL_EVERSION = -7,  /* format version this build does not read */
    CL_EUTF8 = -8,     /* invalid UTF-8 */
    CL_EEMPTY = -9,    /* input holds nothing to work on */
    CL_EPARSE = -10,   /* malformed text input (CoNLL-U, TSV, option value) */
    CL_ENOTFOUND = -11,/* named section, tensor, key or label is absent */
    CL_EINTR = -12,    /* stopped on request (Ctrl-C) */
    CL_EMISMATCH = -13,/* shapes or vocabularies of two parts disagree */
    CL_ENONFINITE = -14,/* a loss, gradient or weight is NaN or infinite */
    CL_EISA = -15      /* CHARLSTM_ISA names no kernel variant this CPU runs (cl_isa.h) */
} cl_err;

/* Static English text for a cl_err; never NULL. */
const char *cl_strerror(int err);

/* Context for the last error of a call: filled by the library, owned by the
 * caller.  msg is empty when there is nothing to add to cl_strerror(). */
typedef struct {
    char msg[512];
} cl_diag;

/* printf into diag->msg if diag is not NULL; returns err so callers can
 * write `return cl_diag_set(d, CL_EPARSE, "%s:%d: ...", ...)`. */
int cl_diag_set(cl_diag *diag, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

CL_API_END
#endif
