/* cl_isa: which kernel variant runs (see cl_isa.h). */
#include "cl_isa.h"

#include <stdlib.h>
#include <string.h>

#include "cl_error.h"

static const char *const isa_names[CL_ISA_COUNT] = {"baseline", "avx2", "avx512",
                                                   "avx512bf16"};

const char *cl_isa_name(cl_isa isa)
{
    return (unsigned)isa < CL_ISA_COUNT ? isa_names[isa] : "unknown";
}

int cl_isa_parse(const char *name, cl_isa *out)
{
    for (int i = 0; i < CL_ISA_COUNT; i++)
        if (strcmp(name, isa_names[i]) == 0) {
            *out = (cl_isa)i;
            return CL_OK;
        }
    return CL_EINVAL;
}

/* Each variant needs what its compiler flags (Makefile, KERN_FLAGS_*) let the
 * compiler emit.  libgcc's feature bits already include the OS check
 * (XGETBV: the kernel saves the YMM/ZMM registers), so a CPU whose OS does
 * not enable AVX-512 gets avx2. */
unsigned cl_isa_cpu(void)
{
    unsigned mask = 1u << CL_ISA_BASELINE;
#if defined(__x86_64__)
    __builtin_cpu_init();
    int avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    int avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                 __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
    if (avx2)
        mask |= 1u << CL_ISA_AVX2;
    if (avx2 && avx512)
        mask |= 1u << CL_ISA_AVX512;
    if (avx2 && avx512 && __builtin_cpu_supports("avx512bf16"))
        mask |= 1u << CL_ISA_AVX512BF16;
#endif
    return mask;
}

int cl_isa_choose(const char *forced, unsigned mask, cl_isa *out)
{
    if (forced && *forced) {
        cl_isa isa;
        if (cl_isa_parse(forced, &isa) || !(mask & (1u << isa)))
            return CL_EISA;
        *out = isa;
        return CL_OK;
    }
    *out = CL_ISA_BASELINE;
    for (int i = CL_ISA_COUNT - 1; i > 0; i--)
        if (mask & (1u << i)) {
            *out = (cl_isa)i;
            break;
        }
    return CL_OK;
}

int cl_isa_active(cl_isa *out) { return cl_isa_choose(getenv("CHARLSTM_ISA"), cl_isa_cpu(), out); }

/* This file is compiled with the library's flags, so what the compiler may
 * assume here it may assume everywhere outside the kernel variants. */
int cl_isa_build_portable(void)
{
#if defined(__AVX__)
    return 0;
#else
    return 1;
#endif
}
