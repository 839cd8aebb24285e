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

cl_dist cl_dist_serial(void)
{
    cl_dist c = {0, 1, NULL, serial_sum_f32, serial_sum_f64, serial_bcast, serial_gather};
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
