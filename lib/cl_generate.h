/* cl_generate: text generation from a language model, one character at a
 * time with the recurrent state carried (batch 1). */
#ifndef CL_GENERATE_H
#define CL_GENERATE_H

#include "cl_model.h"
#include "cl_sample.h"
#include "cl_api.h"

CL_API_BEGIN

typedef struct cl_gen cl_gen;

/* A generator over model m (which must have an lm head and outlive it);
 * free with cl_gen_free. */
int cl_gen_create(cl_gen **g, const cl_model *m, const cl_sample_config *sc, uint64_t seed,
                  cl_diag *d);
void cl_gen_free(cl_gen *g);
/* Run the prompt through the model to set the state, as if it followed a
 * newline (the start of a line; if the vocabulary has no newline, its first
 * character); n may be 0. */
int cl_gen_prime(cl_gen *g, const int *ids, size_t n);
/* Draw the next character id (never the unknown symbol) and feed it back. */
int cl_gen_next(cl_gen *g, int *id);

CL_API_END
#endif
