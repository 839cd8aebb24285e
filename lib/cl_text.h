/* cl_text: text input — UTF-8 decoding and validation, normalisation, a
 * streaming corpus reader, and the character vocabulary.
 *
 * Every text that enters charlstm goes through here: bytes are validated and
 * decoded with utf8proc, normalised to NFC (optionally case-folded), and the
 * resulting code points are mapped to character ids by a cl_vocab.  Three
 * pieces:
 *
 *   cl_text_*    one buffer or one small file at a time (dev sets, prompts);
 *   cl_corpus_*  any number of files of any size, streamed: files are mapped
 *                read-only and normalised a window at a time, so memory stays
 *                bounded whatever the corpus size;
 *   cl_vocab_*   code point <-> id, id 0 being <unk>, built from counts.
 *
 * Errors: CL_EUTF8 with "NAME: invalid UTF-8 at byte OFFSET" (offset of the
 * first byte of the offending sequence, counted in that file), CL_EIO with
 * "NAME: <strerror>", CL_EEMPTY when every input is empty, CL_ENOMEM. */
#ifndef CL_TEXT_H
#define CL_TEXT_H

#include <stddef.h>
#include <stdint.h>

#include "cl_error.h"
#include "cl_api.h"

CL_API_BEGIN

/* ------------------------------------------------------------------------ */
/* Options and single-buffer decoding                                       */
/* ------------------------------------------------------------------------ */

typedef struct {
    int nfc;             /* 1 (default): NFC-normalise; 0: keep code points as written */
    int casefold;        /* 1: Unicode case folding (utf8proc, which folds each
                          * character before canonical reordering); default 0 */
    int replace_invalid; /* 0 (default): invalid UTF-8 is CL_EUTF8;
                          * 1: each invalid byte becomes U+FFFD */
} cl_text_opts;

/* nfc = 1, casefold = 0, replace_invalid = 0. */
cl_text_opts cl_text_defaults(void);

/* Decode and normalise bytes[0..n) into *cps (ncps code points).  name is
 * used in messages only.  o may be NULL (defaults).  Empty input gives
 * ncps = 0 and *cps = NULL.  On success the caller frees *cps with free();
 * on error *cps is NULL. */
int cl_text_decode(const char *bytes, size_t n, const cl_text_opts *o, const char *name,
                   int32_t **cps, size_t *ncps, cl_diag *d);

/* UTF-8 encoding of one code point into out; returns the byte count (1..4),
 * or 0 when cp is not a Unicode scalar value (surrogate, < 0, > 0x10FFFF). */
int cl_text_encode_cp(int32_t cp, char out[4]);

/* Read the whole file at path ("-" = stdin) and decode it as cl_text_decode
 * does; for small inputs only (use cl_corpus for corpora).  The caller frees
 * *cps with free(). */
int cl_text_read_file(const char *path, const cl_text_opts *o, int32_t **cps, size_t *n,
                      cl_diag *d);

/* ------------------------------------------------------------------------ */
/* Streaming corpus                                                         */
/* ------------------------------------------------------------------------ */

/* The files, read as if concatenated (normalisation composes across file
 * boundaries exactly as over the concatenation; each file must however be
 * valid UTF-8 by itself).  Opaque. */
typedef struct cl_corpus cl_corpus;

/* Bytes normalised at a time by default; memory use is a small multiple. */
#define CL_CORPUS_WINDOW ((size_t)1 << 20)

/* Open paths[0..npaths) ("-" = stdin, at most once; stdin and other
 * unmappable inputs such as pipes are read fully into memory).  Regular
 * files are mapped read-only, never copied.  CL_EEMPTY when every input is
 * empty.  On success the caller closes *c with cl_corpus_close(). */
int cl_corpus_open(cl_corpus **c, const char *const *paths, int npaths, const cl_text_opts *o,
                   cl_diag *d);

/* Next up to cap (> 0) normalised code points into buf; *got = 0 at the end.
 * After an error the corpus can only be rewound or closed. */
int cl_corpus_read(cl_corpus *c, int32_t *buf, size_t cap, size_t *got, cl_diag *d);

/* Back to the first code point of the first file. */
int cl_corpus_rewind(cl_corpus *c);

/* Bytes of input normalised at a time (>= 1; default CL_CORPUS_WINDOW).
 * The output does not depend on it; small values exist for tests.  Takes
 * effect at the next refill. */
void cl_corpus_set_window(cl_corpus *c, size_t bytes);

typedef struct {
    const char *name; /* file being read (display name; "<stdin>" for "-") */
    int file;         /* its index in paths */
    uint64_t offset;  /* byte offset in that file of the next byte not yet read */
    uint64_t done;    /* bytes read over all files, for progress */
    uint64_t total;   /* bytes in all files */
} cl_corpus_pos;

/* Where reading stands (granularity: one window). name stays valid until
 * cl_corpus_close. */
void cl_corpus_tell(const cl_corpus *c, cl_corpus_pos *pos);

/* Unmap/free everything; NULL is fine. */
void cl_corpus_close(cl_corpus *c);

/* ------------------------------------------------------------------------ */
/* Vocabulary                                                               */
/* ------------------------------------------------------------------------ */

#define CL_VOCAB_UNK 0              /* id of the unknown character */
#define CL_VOCAB_UNK_CP 0xFFFD      /* what <unk> prints as */
#define CL_VOCAB_FAST 0x3000        /* code points below this have a direct table */

/* Fields are read through the functions below; the struct is public only so
 * that callers can hold one by value. */
typedef struct {
    int n;            /* characters; ids 1..n, size n + 1 with <unk> */
    int32_t *cps;     /* [n] code point of id i + 1, strictly ascending */
    uint64_t *counts; /* [n + 1] counts at build time (counts[0]: characters
                       * that became <unk>), NULL for cl_vocab_from_cps */
    int32_t *fast;    /* [CL_VOCAB_FAST] id of each small code point */
} cl_vocab;

/* Character counts for building a vocabulary: a flat table over every code
 * point (8.9 MB), for the builder only. */
typedef struct {
    uint64_t *counts; /* [0x110000] */
    uint64_t total;
} cl_vocab_builder;

/* Allocates the table; free with cl_vocab_builder_free(). */
int cl_vocab_builder_init(cl_vocab_builder *b);
/* Count cps[0..n) (each a Unicode scalar value, as decoders return). */
void cl_vocab_builder_add(cl_vocab_builder *b, const int32_t *cps, size_t n);
/* Rewind c, count every code point in it, rewind it again. */
int cl_vocab_builder_add_corpus(cl_vocab_builder *b, cl_corpus *c, cl_diag *d);
void cl_vocab_builder_free(cl_vocab_builder *b);

/* Keep the characters seen at least min_count (>= 1 is implied) times, at
 * most max_vocab - 1 of them (max_vocab counts <unk>; 0 = no cap), the most
 * frequent first, ties to the smaller code point.  Ids follow code point
 * order.  CL_EEMPTY when no character qualifies; CL_EINVAL when max_vocab
 * is 1 or negative.  Free v with cl_vocab_free(). */
int cl_vocab_build(cl_vocab *v, const cl_vocab_builder *b, int max_vocab, int min_count);

/* Vocabulary whose ids 1..n are cps[0..n) (n >= 1), as stored in a model
 * file: CL_EFORMAT unless strictly ascending Unicode scalar values (no
 * surrogates, <= 0x10FFFF), CL_EINVAL when n < 1.  Free with cl_vocab_free(). */
int cl_vocab_from_cps(cl_vocab *v, const int32_t *cps, int n);

/* Id of cp, CL_VOCAB_UNK (0) when not in the vocabulary.  O(1) below
 * CL_VOCAB_FAST, O(log n) above. */
int cl_vocab_id(const cl_vocab *v, int32_t cp);
/* Code point of id; CL_VOCAB_UNK_CP for 0 and ids out of range. */
int32_t cl_vocab_cp(const cl_vocab *v, int id);
/* Number of ids, <unk> included (n + 1). */
int cl_vocab_size(const cl_vocab *v);
/* cps of ids 1..size-1 (for saving); owned by v. */
const int32_t *cl_vocab_cps(const cl_vocab *v);
/* Build-time counts indexed by id (see cl_vocab), or NULL; owned by v. */
const uint64_t *cl_vocab_counts(const cl_vocab *v);
void cl_vocab_free(cl_vocab *v);

CL_API_END
#endif
