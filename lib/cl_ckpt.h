/* cl_ckpt: the charlstm model file, a generic self-describing container.
 *
 * A file holds named sections; each section holds typed key/value entries
 * (i64, f64, UTF-8 string, list of strings) followed by named tensors (f32 or
 * i32, 1 to 4 dimensions).  This module knows nothing about LSTMs: the model
 * code decides which sections exist ("meta", "vocab", "encoder", "head.lm",
 * ...) and what they contain.  The byte layout is specified in
 * docs/model-format.md; everything is explicit little-endian and every part
 * is covered by a CRC-32.
 *
 * Writing is atomic: a cl_ckpt_writer writes PATH.tmp.<pid> next to PATH and
 * only cl_ckpt_writer_commit renames it over PATH, so a crash or a full disk
 * never destroys the previous model.  Errors while writing are sticky: after
 * the first failure every call returns the same code, and commit reports it
 * (with the message) and removes the temporary file, so callers may check
 * only the result of commit.  Opening a writer for PATH removes the
 * PATH.tmp.<pid> files of earlier saves whose process no longer runs
 * (killed in the middle of a save).
 *
 * Loading validates the whole file (structure, lengths, checksums, UTF-8,
 * duplicate names) before returning anything; a truncated, corrupt or
 * foreign file gives an error code and a message, never a crash. */
#ifndef CL_CKPT_H
#define CL_CKPT_H

#include <stddef.h>
#include <stdint.h>

#include "cl_error.h"
#include "cl_api.h"

CL_API_BEGIN

#define CL_CKPT_VERSION 1
#define CL_CKPT_NAME_MAX 63 /* bytes of a section, key or tensor name */
#define CL_CKPT_MAX_DIMS 4
#define CL_CKPT_ALIGN 64    /* tensor data offsets in the file are multiples */

/* Value types of key/value entries (the codes stored in the file). */
enum { CL_CKPT_I64 = 1, CL_CKPT_F64 = 2, CL_CKPT_STR = 3, CL_CKPT_STRS = 4 };
/* Tensor element types (the codes stored in the file). */
enum { CL_CKPT_F32 = 1, CL_CKPT_I32 = 2 };

/* ---- writing ------------------------------------------------------------ */

typedef struct cl_ckpt_writer cl_ckpt_writer;
typedef struct cl_ckpt_section cl_ckpt_section;

/* Create the temporary file for PATH.  On success *w must be passed to
 * exactly one of cl_ckpt_writer_commit or cl_ckpt_writer_abort, which free
 * it.  On failure (CL_EIO, CL_ENOMEM) *w is NULL and nothing is left on disk.
 * A PATH that exists and is not a regular file (FIFO, device, directory) is
 * refused with CL_EIO. */
int cl_ckpt_writer_open(cl_ckpt_writer **w, const char *path, cl_diag *d);

/* Start a section.  Names: 1..63 bytes of UTF-8, unique within the file.
 * Inside a section, all key/value entries must come before the first tensor. */
int cl_ckpt_section_begin(cl_ckpt_writer *w, const char *name);
int cl_ckpt_put_i64(cl_ckpt_writer *w, const char *key, int64_t v);
int cl_ckpt_put_f64(cl_ckpt_writer *w, const char *key, double v);
/* s must be valid UTF-8 (CL_EUTF8 otherwise). */
int cl_ckpt_put_str(cl_ckpt_writer *w, const char *key, const char *s);
/* n >= 0 strings; s may be NULL when n == 0. */
int cl_ckpt_put_strs(cl_ckpt_writer *w, const char *key, const char *const *s, int n);
/* Tensors: 1 <= ndim <= 4, every shape[i] >= 0; data holds the product of
 * shape elements in row-major order (may be NULL if that product is 0). */
int cl_ckpt_put_f32(cl_ckpt_writer *w, const char *name, int ndim, const int64_t *shape,
                    const float *data);
int cl_ckpt_put_i32(cl_ckpt_writer *w, const char *name, int ndim, const int64_t *shape,
                    const int32_t *data);
int cl_ckpt_section_end(cl_ckpt_writer *w);

/* Copy a section of a loaded file byte for byte (it must not be open in w
 * and its name must not be used yet).  Lets a tool replace one head while
 * every other section stays byte-identical. */
int cl_ckpt_copy_section(cl_ckpt_writer *w, const cl_ckpt_section *s);

/* Finish the file, fsync it, rename it over PATH and fsync the directory.
 * Always frees w.  On failure before the rename the temporary file is
 * removed and PATH is untouched; errors are CL_EIO with the file name and
 * strerror(errno) in d, or the first error of an earlier call. */
int cl_ckpt_writer_commit(cl_ckpt_writer *w, cl_diag *d);
/* Give up: remove the temporary file and free w (NULL is allowed). */
void cl_ckpt_writer_abort(cl_ckpt_writer *w);

/* ---- reading ------------------------------------------------------------ */

typedef struct cl_ckpt cl_ckpt;

/* Read and validate a whole file.  On success *ck is owned by the caller
 * (free with cl_ckpt_free); on failure *ck is NULL and the code is one of
 * CL_EIO, CL_ENOMEM, CL_EFORMAT, CL_EVERSION, CL_ETRUNC, CL_ECHECKSUM,
 * CL_EUTF8, with d naming the file and byte offset. */
int cl_ckpt_load(cl_ckpt **ck, const char *path, cl_diag *d);
/* The same from memory (copied; buf need not outlive the call).  name is
 * used in messages only. */
int cl_ckpt_load_mem(cl_ckpt **ck, const void *buf, size_t len, const char *name, cl_diag *d);
void cl_ckpt_free(cl_ckpt *ck);

/* Sections stay valid until cl_ckpt_free; so do all strings and pointers
 * returned by the functions below. */
int cl_ckpt_nsections(const cl_ckpt *ck);
const cl_ckpt_section *cl_ckpt_section_at(const cl_ckpt *ck, int i);
const cl_ckpt_section *cl_ckpt_find(const cl_ckpt *ck, const char *name); /* NULL if absent */
const char *cl_ckpt_section_name(const cl_ckpt_section *s);
uint64_t cl_ckpt_section_size(const cl_ckpt_section *s); /* payload bytes */

/* Typed lookups: CL_ENOTFOUND if the key is absent, CL_EFORMAT if it has
 * another type; d (optional) gets a message naming file, section and key. */
int cl_ckpt_get_i64(const cl_ckpt_section *s, const char *key, int64_t *v, cl_diag *d);
int cl_ckpt_get_f64(const cl_ckpt_section *s, const char *key, double *v, cl_diag *d);
int cl_ckpt_get_str(const cl_ckpt_section *s, const char *key, const char **v, cl_diag *d);
int cl_ckpt_get_strs(const cl_ckpt_section *s, const char *key, const char *const **v, int *n,
                     cl_diag *d);

/* Copy a tensor into dst (caller-owned, room for the product of shape)
 * after checking that it exists (CL_ENOTFOUND), has this element type and
 * exactly this shape (CL_EMISMATCH, the message gives both shapes).  With
 * dst NULL only the checks are made: a loader compares every shape it
 * expects with the file before it allocates anything. */
int cl_ckpt_get_f32(const cl_ckpt_section *s, const char *name, int ndim, const int64_t *shape,
                    float *dst, cl_diag *d);
int cl_ckpt_get_i32(const cl_ckpt_section *s, const char *name, int ndim, const int64_t *shape,
                    int32_t *dst, cl_diag *d);

/* ---- introspection (for `charlstm info`) -------------------------------- */

int cl_ckpt_nkeys(const cl_ckpt_section *s);
/* Key i (0 <= i < nkeys) and its type code CL_CKPT_I64..CL_CKPT_STRS. */
const char *cl_ckpt_key_at(const cl_ckpt_section *s, int i, int *type);
/* Printable value of key i into buf (always NUL-terminated, shortened with
 * "..." if it does not fit): numbers as text, strings quoted with control
 * characters escaped, lists as ["a", "b"] (n items).  Returns buf. */
const char *cl_ckpt_key_format(const cl_ckpt_section *s, int i, char *buf, size_t size);

typedef struct {
    const char *name;
    int dtype; /* CL_CKPT_F32 or CL_CKPT_I32 */
    int ndim;
    int64_t shape[CL_CKPT_MAX_DIMS];
    uint64_t nbytes;  /* elements * 4 */
    const void *data; /* raw little-endian bytes, 64-byte aligned */
} cl_ckpt_tensor_info;

int cl_ckpt_ntensors(const cl_ckpt_section *s);
void cl_ckpt_tensor_at(const cl_ckpt_section *s, int i, cl_ckpt_tensor_info *info);
/* CL_ENOTFOUND if the section holds no tensor of that name. */
int cl_ckpt_tensor_find(const cl_ckpt_section *s, const char *name, cl_ckpt_tensor_info *info);

CL_API_END
#endif
