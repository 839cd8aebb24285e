/* cl_error: messages for cl_err codes and the diagnostic helper. */
#include "cl_error.h"

#include <stdarg.h>
#include <stdio.h>

const char *cl_strerror(int err)
{
    switch (err) {
    case CL_OK: return "success";
    case CL_ENOMEM: return "out of memory";
    case CL_EIO: return "input/output error";
    case CL_EINVAL: return "invalid argument";
    case CL_EFORMAT: return "not a valid charlstm file";
    case CL_ETRUNC: return "file is truncated";
    case CL_ECHECKSUM: return "checksum mismatch (file is corrupt)";
    case CL_EVERSION: return "unsupported format version";
    case CL_EUTF8: return "invalid UTF-8";
    case CL_EEMPTY: return "empty input";
    case CL_EPARSE: return "malformed input";
    case CL_ENOTFOUND: return "not found";
    case CL_EINTR: return "interrupted";
    case CL_EMISMATCH: return "shapes or vocabularies do not match";
    case CL_ENONFINITE: return "training diverged (a non-finite or exploding loss)";
    case CL_EISA:
        return "CHARLSTM_ISA asks for kernels this CPU cannot run (or names none of baseline, avx2, "
               "avx512)";
    default: return "unknown error";
    }
}

int cl_diag_set(cl_diag *diag, int err, const char *fmt, ...)
{
    if (diag) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(diag->msg, sizeof diag->msg, fmt, ap);
        va_end(ap);
    }
    return err;
}
