/* cl_ids: a corpus as a sequence of character ids, kept on disk.
 *
 * A corpus of any size is decoded once (streamed through cl_corpus) into a
 * temporary file of 32-bit ids (4 bytes a character); training reads windows with
 * pread.  Memory therefore does not grow with the corpus, and every position
 * is a plain integer, which makes exact resume trivial.  Small id sequences
 * (a dev set, tests) can also live in memory; views share the storage. */
#ifndef CL_IDS_H
#define CL_IDS_H

#include <stdint.h>

#include "cl_text.h"
#include "cl_api.h"

CL_API_BEGIN

typedef struct cl_ids_store cl_ids_store;

typedef struct {
    cl_ids_store *store; /* shared, reference counted */
    int64_t off, n;      /* this view: ids [off, off + n) of the store */
} cl_ids;

/* Decode corpus c (from its current position) into ids of vocabulary v, in
 * an unlinked temporary file under tmpdir (NULL: $TMPDIR or /tmp).
 * *unknown (may be NULL) counts characters outside the vocabulary.  Release
 * with cl_ids_release. */
int cl_ids_from_corpus(cl_ids *ids, cl_corpus *c, const cl_vocab *v, const char *tmpdir,
                       int64_t *unknown, cl_diag *d);
/* Ids of cps[0..n) in memory. */
int cl_ids_from_cps(cl_ids *ids, const int32_t *cps, int64_t n, const cl_vocab *v,
                    int64_t *unknown);
/* A view of ids [off, off + n) of src (sharing its storage; release both). */
int cl_ids_view(cl_ids *view, const cl_ids *src, int64_t off, int64_t n);
/* out[0..n) = ids [pos, pos + n) of the view; positions past the end give -1. */
int cl_ids_read(const cl_ids *ids, int64_t pos, int64_t n, int *out, cl_diag *d);
void cl_ids_release(cl_ids *ids);

CL_API_END
#endif
