/* cl_dist over MPI (see cl_dist.h): compiled only by make MPI=1, in place of
 * cl_dist_nompi.c.  The world communicator; errors are returned (not
 * MPI's default of aborting inside the library) so the trainer can say
 * where it failed, and the tool then ends the job with MPI_Abort. */
#include "cl_dist.h"

#include <limits.h>
#include <mpi.h>

#define CHUNK ((size_t)1 << 30) /* MPI counts are ints */

static int mpi_fail(int rc, const char *what, cl_diag *d)
{
    char msg[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(rc, msg, &len) != MPI_SUCCESS)
        msg[0] = '\0';
    return cl_diag_set(d, CL_EIO, "MPI %s failed: %s", what, msg);
}

static int mpi_sum(void *buf, size_t n, MPI_Datatype type, size_t size, cl_diag *d)
{
    char *p = buf;
    for (size_t i = 0; i < n; i += CHUNK) {
        int k = (int)(n - i < CHUNK ? n - i : CHUNK);
        int rc = MPI_Allreduce(MPI_IN_PLACE, p + i * size, k, type, MPI_SUM, MPI_COMM_WORLD);
        if (rc != MPI_SUCCESS)
            return mpi_fail(rc, "all-reduce", d);
    }
    return CL_OK;
}

static int mpi_sum_f32(const cl_dist *c, float *buf, size_t n, cl_diag *d)
{
    (void)c;
    return mpi_sum(buf, n, MPI_FLOAT, sizeof *buf, d);
}

static int mpi_sum_f64(const cl_dist *c, double *buf, size_t n, cl_diag *d)
{
    (void)c;
    return mpi_sum(buf, n, MPI_DOUBLE, sizeof *buf, d);
}

static int mpi_bcast(const cl_dist *c, void *buf, size_t bytes, cl_diag *d)
{
    (void)c;
    for (size_t i = 0; i < bytes; i += CHUNK) {
        int k = (int)(bytes - i < CHUNK ? bytes - i : CHUNK);
        int rc = MPI_Bcast((char *)buf + i, k, MPI_BYTE, 0, MPI_COMM_WORLD);
        if (rc != MPI_SUCCESS)
            return mpi_fail(rc, "broadcast", d);
    }
    return CL_OK;
}

/* Small buffers (random states, the LM's carried state): one call. */
static int mpi_gather(const cl_dist *c, const void *send, size_t bytes, void *recv, cl_diag *d)
{
    (void)c;
    if (bytes > INT_MAX)
        return cl_diag_set(d, CL_EINVAL, "MPI gather of %zu bytes: too large", bytes);
    int rc = MPI_Gather(send, (int)bytes, MPI_BYTE, recv, (int)bytes, MPI_BYTE, 0,
                        MPI_COMM_WORLD);
    return rc == MPI_SUCCESS ? CL_OK : mpi_fail(rc, "gather", d);
}

int cl_dist_mpi_open(cl_dist *c, cl_diag *d)
{
    *c = cl_dist_serial();
    if (!cl_dist_launched())
        return CL_OK;
    int rc = MPI_Init(NULL, NULL);
    if (rc != MPI_SUCCESS)
        return mpi_fail(rc, "initialisation", d);
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_rank(MPI_COMM_WORLD, &c->rank);
    MPI_Comm_size(MPI_COMM_WORLD, &c->size);
    c->sum_f32 = mpi_sum_f32, c->sum_f64 = mpi_sum_f64;
    c->bcast = mpi_bcast, c->gather = mpi_gather;
    return CL_OK;
}

void cl_dist_mpi_close(cl_dist *c, int failed)
{
    if (c->bcast != mpi_bcast)
        return;
    if (failed && c->size > 1)
        MPI_Abort(MPI_COMM_WORLD, failed);
    MPI_Finalize();
    *c = cl_dist_serial();
}
