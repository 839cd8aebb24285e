/* cl_dist over MPI (see cl_dist.h): compiled only by make MPI=1, in place of
 * cl_dist_nompi.c.  The world communicator; errors are returned (not
 * MPI's default of aborting inside the library) so the trainer can say
 * where it failed, and the tool then ends the job with MPI_Abort. */
#include "cl_dist.h"

#include <limits.h>
#include <mpi.h>
#include <stdlib.h>

#define CHUNK ((size_t)1 << 30) /* MPI counts are ints */

/* What the collectives that outlive a call keep (the ctx of the cl_dist):
 * the requests of the started sums, and the room of the ordered sum. */
typedef struct {
    MPI_Request *req;
    int nreq, cap;
    float *recv;          /* [size * k * slice] the slices of every rank's parts */
    size_t nrecv;
    int *cnt, *off, *rcnt, *roff; /* [size] counts and displacements */
} mpi_state;

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

/* ==== sums started now, waited for later ================================== */

static int add_request(mpi_state *st, MPI_Request **r)
{
    if (st->nreq == st->cap) { /* grows in the first steps only */
        int cap = st->cap ? 2 * st->cap : 64;
        MPI_Request *q = realloc(st->req, sizeof *q * (size_t)cap);
        if (!q)
            return CL_ENOMEM;
        st->req = q, st->cap = cap;
    }
    *r = &st->req[st->nreq++];
    return CL_OK;
}

static int mpi_start_sum_f32(const cl_dist *c, float *buf, size_t n, cl_diag *d)
{
    mpi_state *st = c->ctx;
    for (size_t i = 0; i < n; i += CHUNK) {
        int k = (int)(n - i < CHUNK ? n - i : CHUNK);
        MPI_Request *r;
        if (add_request(st, &r) != CL_OK)
            return cl_diag_set(d, CL_ENOMEM, "MPI all-reduce: out of memory");
        int rc = MPI_Iallreduce(MPI_IN_PLACE, buf + i, k, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD, r);
        if (rc != MPI_SUCCESS)
            return mpi_fail(rc, "all-reduce", d);
    }
    return CL_OK;
}

static int mpi_progress(const cl_dist *c, cl_diag *d)
{
    mpi_state *st = c->ctx;
    int done = 0;
    int rc = st->nreq ? MPI_Testall(st->nreq, st->req, &done, MPI_STATUSES_IGNORE) : MPI_SUCCESS;
    return rc == MPI_SUCCESS ? CL_OK : mpi_fail(rc, "all-reduce", d);
}

static int mpi_wait_all(const cl_dist *c, cl_diag *d)
{
    mpi_state *st = c->ctx;
    int rc = st->nreq ? MPI_Waitall(st->nreq, st->req, MPI_STATUSES_IGNORE) : MPI_SUCCESS;
    st->nreq = 0;
    return rc == MPI_SUCCESS ? CL_OK : mpi_fail(rc, "all-reduce", d);
}

/* ==== the sum in a fixed order ============================================ */

/* Rank j owns the slice [off[j], off[j] + cnt[j]) of n. */
static void slices(const cl_dist *c, size_t n, int *cnt, int *off)
{
    for (int j = 0; j < c->size; j++) {
        size_t a = n * (size_t)j / (size_t)c->size, b = n * (size_t)(j + 1) / (size_t)c->size;
        off[j] = (int)a, cnt[j] = (int)(b - a);
    }
}

/* Every rank's part p, slice by slice, to the slices' owners: the owner
 * keeps the slice of global part (rank q, p) at recv[q * k + p]. */
static int send_part(const cl_dist *c, mpi_state *st, const float *part, int p, int k)
{
    int mine = st->cnt[c->rank];
    for (int q = 0; q < c->size; q++)
        st->rcnt[q] = mine, st->roff[q] = (q * k + p) * mine;
    return MPI_Alltoallv(part, st->cnt, st->off, MPI_FLOAT, st->recv, st->rcnt, st->roff,
                         MPI_FLOAT, MPI_COMM_WORLD);
}

static int mpi_sum_ordered_f32(const cl_dist *c, const float *parts, int k, size_t n, float *out,
                               cl_diag *d)
{
    mpi_state *st = c->ctx;
    if (n > INT_MAX || (size_t)k * (size_t)c->size * (n / (size_t)c->size + 1) > INT_MAX)
        return cl_diag_set(d, CL_EINVAL, "ordered sum of %d x %zu floats: too large", k, n);
    slices(c, n, st->cnt, st->off);
    size_t need = (size_t)c->size * (size_t)k * (size_t)st->cnt[c->rank];
    if (need > st->nrecv) {
        float *r = realloc(st->recv, (need ? need : 1) * sizeof *r);
        if (!r)
            return cl_diag_set(d, CL_ENOMEM, "ordered sum: out of memory");
        st->recv = r, st->nrecv = need;
    }
    int rc = MPI_SUCCESS;
    for (int p = 0; p < k && rc == MPI_SUCCESS; p++)
        rc = send_part(c, st, parts + (size_t)p * n, p, k);
    if (rc != MPI_SUCCESS)
        return mpi_fail(rc, "ordered sum (all-to-all)", d);
    int mine = st->cnt[c->rank];
    cl_dist_fold_f32(out + st->off[c->rank], st->recv, c->size * k, (size_t)mine, (size_t)mine);
    rc = MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_FLOAT, out, st->cnt, st->off, MPI_FLOAT,
                        MPI_COMM_WORLD);
    return rc == MPI_SUCCESS ? CL_OK : mpi_fail(rc, "ordered sum (all-gather)", d);
}

/* ==== the communicator ===================================================== */

static mpi_state *state_new(int size)
{
    mpi_state *st = calloc(1, sizeof *st);
    int *v = st ? malloc(sizeof *v * 4 * (size_t)size) : NULL;
    if (!v) {
        free(st);
        return NULL;
    }
    st->cnt = v, st->off = v + size, st->rcnt = v + 2 * size, st->roff = v + 3 * size;
    return st;
}

static void state_free(mpi_state *st)
{
    if (st)
        free(st->req), free(st->recv), free(st->cnt), free(st);
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
    if (!(c->ctx = state_new(c->size))) {
        MPI_Finalize();
        *c = cl_dist_serial();
        return cl_diag_set(d, CL_ENOMEM, "MPI: out of memory");
    }
    c->sum_f32 = mpi_sum_f32, c->sum_f64 = mpi_sum_f64;
    c->bcast = mpi_bcast, c->gather = mpi_gather;
    c->start_sum_f32 = mpi_start_sum_f32, c->progress = mpi_progress;
    c->wait_all = mpi_wait_all, c->sum_ordered_f32 = mpi_sum_ordered_f32;
    return CL_OK;
}

void cl_dist_mpi_close(cl_dist *c, int failed)
{
    if (c->bcast != mpi_bcast)
        return;
    if (failed && c->size > 1)
        MPI_Abort(MPI_COMM_WORLD, failed);
    state_free(c->ctx);
    MPI_Finalize();
    *c = cl_dist_serial();
}
