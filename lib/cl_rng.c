/* cl_rng: xoshiro256** by Blackman and Vigna, seeded with splitmix64. */
#include "cl_rng.h"

#include <math.h>

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

void cl_rng_seed(cl_rng *r, uint64_t seed)
{
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&seed);
}

uint64_t cl_rng_u64(cl_rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

float cl_rng_float(cl_rng *r) { return (float)(cl_rng_u64(r) >> 40) * 0x1.0p-24f; }

double cl_rng_double(cl_rng *r) { return (double)(cl_rng_u64(r) >> 11) * 0x1.0p-53; }

uint64_t cl_rng_below(cl_rng *r, uint64_t n)
{
    /* Rejection: drop the top partial range so every value is equally likely. */
    uint64_t limit = UINT64_MAX - UINT64_MAX % n, x;
    do
        x = cl_rng_u64(r);
    while (x >= limit);
    return x % n;
}

double cl_rng_normal(cl_rng *r)
{
    double u1 = 1.0 - cl_rng_double(r), u2 = cl_rng_double(r);
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

void cl_rng_split(cl_rng *r, cl_rng *child) { cl_rng_seed(child, cl_rng_u64(r)); }

void cl_rng_shuffle(cl_rng *r, int *a, int n)
{
    for (int i = n - 1; i > 0; i--) {
        int j = (int)cl_rng_below(r, (uint64_t)i + 1), v = a[i];
        a[i] = a[j], a[j] = v;
    }
}
