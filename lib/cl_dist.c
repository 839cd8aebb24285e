/* cl_dist: the serial communicator, and what every build shares (see cl_dist.h). */
#include "cl_dist.h"

#include <stdlib.h>
#include <string.h>

static int serial_sum_f32(const cl_dist *c, float *buf, size_t n, cl_diag *d)
{
    (void)c, (void)buf, (void)n, (void)d;
    return CL_OK;
}

static int serial_sum_f64(const cl_dist *c, double *buf, size_t n, cl_diag *d)
{
    (void)c, (void)buf, (void)n, (void)d;
    return CL_OK;
}

static int serial_bcast(const cl_dist *c, void *buf, size_t bytes, cl_diag *d)
{
    (void)c, (void)buf, (void)bytes, (void)d;
    return CL_OK;
}

static int serial_gather(const cl_dist *c, const void *send, size_t bytes, void *recv, cl_diag *d)
{
    (void)c, (void)d;
    if (bytes)
        memmove(recv, send, bytes);
    return CL_OK;
}

static int serial_start_sum_f32(const cl_dist *c, float *buf, size_t n, cl_diag *d)
{
    (void)c, (void)buf, (void)n, (void)d;
    return CL_OK;
}

static int serial_wait(const cl_dist *c, cl_diag *d)
{
    (void)c, (void)d;
    return CL_OK;
}

void cl_dist_fold_f32(float *out, const float *parts, int m, size_t stride, size_t n)
{
    memmove(out, parts, n * sizeof *out);
    for (int j = 1; j < m; j++) {
        const float *v = parts + (size_t)j * stride;
        for (size_t i = 0; i < n; i++)
            out[i] += v[i];
    }
}

static int serial_sum_ordered_f32(const cl_dist *c, const float *parts, int k, size_t n,
                                  float *out, cl_diag *d)
{
    (void)c, (void)d;
    cl_dist_fold_f32(out, parts, k, n, n);
    return CL_OK;
}

cl_dist cl_dist_serial(void)
{
    cl_dist c = {0, 1, NULL, serial_sum_f32, serial_sum_f64, serial_bcast, serial_gather,
                 serial_start_sum_f32, serial_wait, serial_wait, serial_sum_ordered_f32};
    return c;
}

/* Open MPI's mpirun, Slurm's srun (PMI/PMIx) and MPICH's hydra set these. */
int cl_dist_launched(void)
{
    static const char *const vars[] = {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK",
                                       "PMI_SIZE", NULL};
    for (int i = 0; vars[i]; i++)
        if (getenv(vars[i]))
            return 1;
    return 0;
}
