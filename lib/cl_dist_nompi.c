/* cl_dist without MPI: the build has only the serial communicator (see
 * cl_dist.h; make MPI=1 compiles cl_dist_mpi.c in place of this file). */
#include "cl_dist.h"

int cl_dist_mpi_open(cl_dist *c, cl_diag *d)
{
    *c = cl_dist_serial();
    if (cl_dist_launched())
        return cl_diag_set(d, CL_EINVAL, "started by an MPI launcher, but this charlstm was "
                           "built without MPI (each copy would train alone): rebuild with "
                           "make MPI=1");
    return CL_OK;
}

void cl_dist_mpi_close(cl_dist *c, int failed)
{
    (void)c, (void)failed;
}
