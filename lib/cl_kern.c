/* cl_kern: the choice among the kernel tables (see cl_kern.h). */
#include "cl_kern.h"

#include "cl_error.h"

/* Defined by the compilations of cl_kern_isa.c (Makefile: KERN_ISAS). */
extern const cl_kern cl_kern_baseline;
#if defined(__x86_64__)
extern const cl_kern cl_kern_avx2, cl_kern_avx512, cl_kern_avx512bf16;
#endif

static const cl_kern *const tables[CL_ISA_COUNT] = {
    &cl_kern_baseline,
#if defined(__x86_64__)
    &cl_kern_avx2,
    &cl_kern_avx512,
    &cl_kern_avx512bf16,
#endif
};

int cl_kern_for(cl_isa isa, const cl_kern **out)
{
    *out = NULL;
    if ((unsigned)isa >= CL_ISA_COUNT || !tables[isa] || !(cl_isa_cpu() & (1u << isa)))
        return CL_EISA;
    *out = tables[isa];
    return CL_OK;
}

int cl_kern_select(const cl_kern **out)
{
    cl_isa isa;
    int err = cl_isa_active(&isa);
    if (err) {
        *out = NULL;
        return err;
    }
    return cl_kern_for(isa, out);
}
