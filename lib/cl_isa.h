/* cl_isa: which variant of charlstm's own kernels this CPU runs.
 *
 * The hot loops that charlstm writes itself (the LSTM and GRU gate kernels of
 * training and inference, the bfloat16 matrix-vector product of generation:
 * cl_kern.h) are compiled once per instruction set and chosen at run time, so
 * that a `make PORTABLE=1` build (x86-64 baseline everywhere else) runs on any
 * x86-64 CPU and still uses AVX2 or AVX-512 (and AVX512-BF16) where the CPU has them:
 *   baseline  x86-64 (SSE2)
 *   avx2      AVX2 + FMA
 *   avx512    AVX-512 F, BW, DQ, VL (with AVX2 + FMA)
 *   avx512bf16  the same with AVX512-BF16 (its fp32 -> bfloat16 conversion
 *             instruction; AMD Zen 4, Intel Cooper Lake, Sapphire Rapids)
 * Off x86-64 only "baseline" exists.  The environment variable CHARLSTM_ISA
 * forces a variant (tests, comparisons); naming one the CPU cannot run is an
 * error (CL_EISA), never an illegal instruction.
 *
 * Nothing here keeps state: every call reads the CPU (CPUID, through the
 * compiler's __builtin_cpu_supports) and the environment afresh.  Objects
 * that run kernels (cl_rnn, cl_infer) choose once, when they are created. */
#ifndef CL_ISA_H
#define CL_ISA_H

#include "cl_api.h"

CL_API_BEGIN

typedef enum {
    CL_ISA_BASELINE = 0,
    CL_ISA_AVX2 = 1,
    CL_ISA_AVX512 = 2,
    CL_ISA_AVX512BF16 = 3,
    CL_ISA_COUNT = 4
} cl_isa;

/* "baseline", "avx2", "avx512", "avx512bf16" (static text; "unknown" out of range). */
const char *cl_isa_name(cl_isa isa);
/* The inverse of cl_isa_name: CL_OK, or CL_EINVAL for any other text. */
int cl_isa_parse(const char *name, cl_isa *out);
/* Bit (1u << isa) set for every variant this CPU and its OS can run
 * (baseline always). */
unsigned cl_isa_cpu(void);
/* The variant to run given `forced` (CHARLSTM_ISA's value; NULL or "" for
 * none) and the CPU's mask: the forced one, else the widest in mask.
 * CL_EISA when forced is not a variant's name or not in mask. */
int cl_isa_choose(const char *forced, unsigned mask, cl_isa *out);
/* cl_isa_choose(getenv("CHARLSTM_ISA"), cl_isa_cpu(), out). */
int cl_isa_active(cl_isa *out);
/* 1 when the rest of the library was compiled for the x86-64 baseline (make
 * PORTABLE=1: the binary runs on any x86-64 CPU), 0 when for the build
 * machine's instruction set (-march=native, the default). */
int cl_isa_build_portable(void);

CL_API_END
#endif
