/* cl_rng: seedable random numbers (xoshiro256**), passed explicitly.
 *
 * There is no global generator: every function that needs randomness takes a
 * cl_rng *.  The state is four words so a checkpoint can store it and resume
 * the exact same stream. */
#ifndef CL_RNG_H
#define CL_RNG_H

#include <stdint.h>

#include "cl_api.h"

CL_API_BEGIN

typedef struct {
    uint64_t s[4];
} cl_rng;

/* Seed via splitmix64 so that nearby seeds give unrelated streams. */
void cl_rng_seed(cl_rng *r, uint64_t seed);
uint64_t cl_rng_u64(cl_rng *r);
/* Uniform in [0, 1) with 24 (float) or 53 (double) random bits. */
float cl_rng_float(cl_rng *r);
double cl_rng_double(cl_rng *r);
/* Uniform integer in [0, n), n > 0, without modulo bias. */
uint64_t cl_rng_below(cl_rng *r, uint64_t n);
/* Standard normal (Box-Muller). */
double cl_rng_normal(cl_rng *r);
/* Shuffle a[0..n) uniformly (Fisher-Yates). */
void cl_rng_shuffle(cl_rng *r, int *a, int n);
/* An independent generator for a sub-task (e.g. one per data stream). */
void cl_rng_split(cl_rng *r, cl_rng *child);

CL_API_END
#endif
