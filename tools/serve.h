/* serve: the pieces of `charlstm serve` (tools only).
 *
 *   cmd_serve.c   options, loading, the daemon's life (SIGTERM drains it)
 *   serve_http.c  libmicrohttpd glue: request bodies, limits, routing, replies
 *   serve_api.c   the endpoints: JSON in, JSON out, one library call per head
 *   serve_batch.c one worker thread per head: queued requests run as one batch
 *   serve_page.html  the page at /, compiled into the binary
 *
 * One serve_ctx per server, created before the daemon starts; the model is
 * read-only while it runs, and each head's workspace is reached only by its
 * worker thread (serve_batcher: one batch at a time).  libmicrohttpd's
 * threads never compute: a request that needs a head is posted to its worker
 * and its connection suspended until the worker is done. */
#ifndef SERVE_H
#define SERVE_H

#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>

#include "cl_labeler.h"
#include "cl_annotate.h"
#include "cl_tagger.h"

/* ---- the heads' workers (serve_batch.c) --------------------------------- */

typedef struct serve_batcher serve_batcher;
typedef struct serve_job serve_job;

/* An answer: a status and a JSON body, or a streamed response, or a job to
 * wait for. */
struct MHD_Response;
struct MHD_Connection;
typedef struct serve_reply {
    unsigned status;
    char *body;                 /* malloc'd JSON text */
    struct MHD_Response *stream;/* set instead of body for server-sent events */
    serve_job *wait;            /* set instead of body: post it, answer when it is done */
    struct MHD_Connection *conn;/* in: the request's connection (a stream resumes it) */
} serve_reply;

/* One request's work for a head.  The endpoint owns it and fills in, out,
 * queue, what and release; the batch writes the reply; the HTTP side sets
 * wake and posts it. */
struct serve_job {
    serve_job *next;
    void *in, *out;
    int err;                    /* set by the batch; SERVE_EBUSY when refused */
    int more;                   /* set by the batch: not finished, run it again later */
    serve_batcher *queue;       /* the worker it runs on */
    const char *what;           /* the endpoint, for the 503 of a refused job */
    serve_reply reply;          /* made by the batch (the body is the job's until taken) */
    void (*release)(serve_job *j); /* frees the endpoint's state, j with it */
    void (*wake)(void *arg);    /* the worker's last touch of a finished job */
    void *wake_arg;
};

#define SERVE_EBUSY 1 /* serve_job.err: the queue was full or the server stopping */

/* Runs jobs[0..n) together, in the worker's thread; sets each job's err
 * (and more, for a job that runs in slices). */
typedef void (*serve_batch_fn)(void *state, serve_job **jobs, int n);

#define SERVE_BATCH_JOBS 64 /* jobs in one batch at most */

/* One thread per head runs its batches: it sleeps until jobs are queued,
 * then takes every queued job (up to max_jobs) as one batch, so the jobs
 * that arrive while a batch runs make up the next one.  HTTP threads never
 * wait for it (their connections are suspended meanwhile). */
struct serve_batcher {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t thread;
    serve_job *head, *tail;
    int pending;                /* posted, not finished (queued or running) */
    int max_pending, max_jobs, threads, stopping, running;
    long batches, jobs;         /* batches run, jobs posted (for /health) */
    serve_batch_fn run;
    void *state;
};

/* Start b's thread; it runs its batches with `threads` OpenMP threads.
 * At most max_pending jobs wait at once.  0 or CL_ENOMEM/CL_EINVAL. */
int serve_batcher_start(serve_batcher *b, serve_batch_fn run, void *state, int max_jobs,
                        int max_pending, int threads);
/* Refuse new jobs, finish the posted ones, end the thread (idempotent). */
void serve_batcher_stop(serve_batcher *b);
/* Stop, then free what start made. */
void serve_batcher_destroy(serve_batcher *b);
/* Queue j without waiting: 0, or SERVE_EBUSY when max_pending jobs are
 * pending or b is stopping.  When j is finished the worker calls
 * j->wake(j->wake_arg) (if set) and touches j no more. */
int serve_batch_post(serve_batcher *b, serve_job *j);

/* ---- the server ----------------------------------------------------------- */

typedef struct {
    const char *model_path;
    long max_request_bytes, max_length, timeout_s;
    int max_batch;
    int threads;                /* OpenMP threads of each head's worker */
    int http_threads;           /* libmicrohttpd's pool: they read and answer, never compute */
    int max_queue;              /* requests waiting for one head at most (503 beyond) */
    int precision;              /* cl_precision of the heads' and /score's products */
} serve_limits;

typedef struct serve_ctx {
    cl_model *m;
    serve_limits lim;
    cl_annotator *ann;         /* raw text to tagged sentences; NULL without a tagger head */
    cl_tagger *tagger;         /* the annotator's tagger (NULL without one) */
    cl_labeler *labeler;       /* NULL without a classifier head */
    serve_batcher tag_batch, clf_batch;
    serve_batcher lm_batch;    /* /generate (in slices, turn by turn) and /score */
    int has_lm;
    atomic_int active;         /* requests in flight (SIGTERM waits for 0) */
    atomic_long served;
} serve_ctx;

/* {"error": "..."} with status (4xx/5xx); returns status. */
unsigned serve_error(serve_reply *r, unsigned status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* r->body = the JSON of j (j is freed), status 200. */
unsigned serve_ok(serve_reply *r, cJSON *j);
/* The reply of a job that ran (or 503 if its head refused it: queue full,
 * or the server stopping); releases the job. */
unsigned serve_job_reply(serve_job *j, serve_reply *r);

/* serve_api.c: one function per endpoint; req is the parsed body (NULL for
 * GET).  An endpoint that needs a head answers with r->wait: a job whose
 * batch writes its reply (serve_job_reply takes it). */
unsigned serve_generate(serve_ctx *s, const cJSON *req, serve_reply *r);
unsigned serve_tag(serve_ctx *s, const cJSON *req, serve_reply *r);
unsigned serve_classify(serve_ctx *s, const cJSON *req, serve_reply *r);
unsigned serve_score(serve_ctx *s, const cJSON *req, serve_reply *r);
unsigned serve_info(serve_ctx *s, serve_reply *r);
/* Load the heads and start their workers. */
int serve_ctx_init(serve_ctx *s, cl_model *m, const serve_limits *lim, char *err, size_t errsz);
/* Finish every posted job and end the workers (before MHD_stop_daemon: no
 * connection may stay suspended). */
void serve_ctx_stop(serve_ctx *s);
void serve_ctx_free(serve_ctx *s);

/* serve_http.c: start the daemon on bind:port (port 0: any free one, see
 * *bound); NULL with a message in err on failure. */
struct MHD_Daemon;
struct MHD_Daemon *serve_http_start(serve_ctx *s, const char *bind, int port, int *bound,
                                    char *err, size_t errsz);

#endif
