/* cl_generate: text generation from a language model, one character at a
 * time with the recurrent state carried (batch 1). */
#ifndef CL_GENERATE_H
#define CL_GENERATE_H

#include "cl_infer.h"
#include "cl_model.h"
#include "cl_sample.h"
#include "cl_api.h"

CL_API_BEGIN

typedef struct cl_gen cl_gen;

/* A generator over model m (which must have an lm head and outlive it);
 * free with cl_gen_free.  LSTM models run on the cl_infer engine with its
 * defaults (int8 weights, one thread, one column); others on cl_lm. */
int cl_gen_create(cl_gen **g, const cl_model *m, const cl_sample_config *sc, uint64_t seed,
                  cl_diag *d);
void cl_gen_free(cl_gen *g);
/* Rebuild the engine of an LSTM model with c (weights, threads, and the
 * most samples cl_gen_batch steps together); the state is reset.  Other
 * models ignore it.  CL_ENOMEM, or CL_EINVAL for c out of range. */
int cl_gen_set_engine(cl_gen *g, const cl_infer_config *c);
/* Run the prompt through the model to set the state, as if it followed a
 * newline (the start of a line; if the vocabulary has no newline, its first
 * character); n may be 0. */
int cl_gen_prime(cl_gen *g, const int *ids, size_t n);
/* Draw the next character id (never the unknown symbol) and feed it back. */
int cl_gen_next(cl_gen *g, int *id);

/* ---- one sample, as `charlstm generate` and the server make it ---------- */

/* What to sample after the prompt.  stops[i] is a stop string as nstops
 * code-point arrays: generation ends right after the continuation first ends
 * with one of them (the stop string is part of the output).  A stop string
 * may not be empty. */
typedef struct {
    long length;              /* characters to sample at most */
    const int32_t *const *stops;
    const size_t *stop_len;
    int nstops;
} cl_gen_request;

/* Step by step (for a caller that pulls characters, such as a streamed
 * HTTP response): begin primes with ids[0..n) and keeps r (which must stay
 * valid until the sample ends); each step draws one character into *cp and
 * returns 1, or returns 0 when the sample is over (length reached, or a stop
 * string ended it: then *stopped is 1).  CL_ENOMEM from begin. */
int cl_gen_begin(cl_gen *g, const int *ids, size_t n, const cl_gen_request *r);
int cl_gen_step(cl_gen *g, int32_t *cp, int *stopped);

/* Called with each sampled character; a non-zero return ends the sample
 * early (client gone, time limit) and is returned by cl_gen_sample. */
typedef int (*cl_gen_emit_fn)(int32_t cp, void *ctx);

/* begin, then step until the sample is over, handing each character to
 * emit.  *stopped (may be NULL) is 1 when a stop string ended the sample.
 * Returns 0, CL_ENOMEM or emit's non-zero value.
 *
 * Samples are counted from 0 for each generator: sample k (the k-th begin)
 * draws from its own random stream, seeded with seed + k, so a seed fixes
 * all of them, sample k is what a generator seeded with seed + k draws
 * first, and cl_gen_batch can draw several at once.  (cl_gen_prime and
 * cl_gen_next alone go on in the stream of the last sample, or seed's.) */
int cl_gen_sample(cl_gen *g, const int *ids, size_t n, const cl_gen_request *r,
                  cl_gen_emit_fn emit, void *ctx, int *stopped);

/* ---- several samples of one prompt at once ------------------------------ */

/* Called with character cp of sample s (0 <= s < nsamples); the samples'
 * characters come interleaved.  Non-zero ends the batch early. */
typedef int (*cl_gen_batch_emit_fn)(int s, int32_t cp, void *ctx);

/* The next nsamples samples of prompt ids[0..n): exactly the characters
 * nsamples calls of cl_gen_sample would give (same seeds, bit-identical
 * logits), but stepped together so that one pass over the weights per step
 * serves every sample still running (the engine's columns at a time;
 * without the engine, one after another).  stopped[s] (may be NULL) is 1
 * when a stop string ended sample s.  Returns 0, CL_ENOMEM or emit's
 * non-zero value. */
int cl_gen_batch(cl_gen *g, const int *ids, size_t n, const cl_gen_request *r, int nsamples,
                 cl_gen_batch_emit_fn emit, void *ctx, int *stopped);

CL_API_END
#endif
