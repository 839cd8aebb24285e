/* cl_dist: the communicator of data-parallel training.
 *
 * Training on N processes ("ranks") is the one-process training with each
 * batch cut in N shares: every rank holds the whole model, computes the
 * gradient of its share, and the ranks sum their gradients (all-reduce)
 * before the identical update on every rank.  The trainer (cl_train) needs
 * only the handful of collective operations below, so a cl_dist is a small
 * table of functions: the serial one (one rank, every operation a no-op)
 * always exists, and the MPI one exists in a build with MPI (make MPI=1),
 * where cl_dist_mpi_open starts it; in a build without MPI, cl_dist_mpi_open
 * says so and the caller stays serial.  Nothing here is global: the caller
 * owns its cl_dist and passes it to whatever needs it.
 *
 * Every operation is collective: all ranks call it, in the same order, with
 * the same sizes.  They return CL_OK or CL_EIO (the message in d) when the
 * communication failed; a rank that died makes the others fail or be ended
 * by the launcher, never wait forever (docs/scale-out.md). */
#ifndef CL_DIST_H
#define CL_DIST_H

#include <stddef.h>

#include "cl_api.h"
#include "cl_error.h"

CL_API_BEGIN

typedef struct cl_dist cl_dist;
struct cl_dist {
    int rank, size;   /* this process is rank `rank` of `size` (0 <= rank < size) */
    void *ctx;        /* the implementation's own */
    /* buf[0..n) = its sum over the ranks, in place, on every rank */
    int (*sum_f32)(const cl_dist *c, float *buf, size_t n, cl_diag *d);
    int (*sum_f64)(const cl_dist *c, double *buf, size_t n, cl_diag *d);
    /* buf[0..bytes) of rank 0 to every rank */
    int (*bcast)(const cl_dist *c, void *buf, size_t bytes, cl_diag *d);
    /* rank 0 gets every rank's send[0..bytes) in recv[r * bytes ...] (recv
     * is used on rank 0 only and may be NULL elsewhere) */
    int (*gather)(const cl_dist *c, const void *send, size_t bytes, void *recv, cl_diag *d);
    /* As sum_f32, started and not waited for (MPI_Iallreduce): buf[0..n)
     * belongs to the communicator until wait_all returns. */
    int (*start_sum_f32)(const cl_dist *c, float *buf, size_t n, cl_diag *d);
    /* Let the started sums move on (MPI moves them only inside its calls);
     * returns at once. */
    int (*progress)(const cl_dist *c, cl_diag *d);
    /* Wait until every started sum is done. */
    int (*wait_all)(const cl_dist *c, cl_diag *d);
    /* out[0..n) = the sum of the k vectors parts[0..k)[0..n) of every rank,
     * added one after the other in the order (rank 0's part 0, its part 1,
     * ..., rank 1's part 0, ...) as cl_dist_fold_f32 adds them: the same
     * bits on every rank, and for any number of ranks that hold the same
     * vectors in the same order (one process holding them all included).
     * Each rank sends its parts' slices to their owners and gets the sum
     * of its slice back: (k + 1) (size - 1) / size * n floats sent and as
     * many received, k n floats of room on each rank. */
    int (*sum_ordered_f32)(const cl_dist *c, const float *parts, int k, size_t n, float *out,
                           cl_diag *d);
};

/* out[0..n) = ((v[0] + v[1]) + v[2]) + ... + v[m - 1], v[j] = parts + j * stride,
 * element by element: the one order of the ordered sums. */
void cl_dist_fold_f32(float *out, const float *parts, int m, size_t stride, size_t n);

/* One rank, no communication: what a plain process is. */
cl_dist cl_dist_serial(void);

/* The MPI world communicator when the process was started by an MPI
 * launcher (mpirun, srun): MPI_Init, then *c describes this rank and
 * cl_dist_mpi_close must end it.  Not under a launcher (no launcher
 * variables in the environment): *c = serial and CL_OK.  CL_EINVAL with a
 * message: started by a launcher, but this build has no MPI (each copy
 * would train alone). */
int cl_dist_mpi_open(cl_dist *c, cl_diag *d);
/* MPI_Finalize after a successful run; with failed != 0 MPI_Abort instead,
 * so that ranks waiting on this one end at once.  No-op on a serial c. */
void cl_dist_mpi_close(cl_dist *c, int failed);

/* Whether the environment says an MPI launcher started this process. */
int cl_dist_launched(void);

CL_API_END
#endif
