/* serve: the pieces of `charlstm serve` (tools only).
 *
 *   cmd_serve.c   options, loading, the daemon's life (SIGTERM drains it)
 *   serve_http.c  libmicrohttpd glue: request bodies, limits, routing, replies
 *   serve_api.c   the endpoints: JSON in, JSON out, one library call per head
 *   serve_batch.c requests of concurrent clients run as one batch
 *   serve_page.html  the page at /, compiled into the binary
 *
 * One serve_ctx per server, created before the daemon starts; the model is
 * read-only while it runs, and each head's workspace is reached only through
 * its batcher (one batch at a time). */
#ifndef SERVE_H
#define SERVE_H

#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>

#include "cl_labeler.h"
#include "cl_annotate.h"
#include "cl_tagger.h"

/* ---- batches across clients (serve_batch.c) ----------------------------- */

/* One client's share of a batch: in and out belong to the endpoint. */
typedef struct serve_job {
    struct serve_job *next;
    void *in, *out;
    int err, done;
} serve_job;

/* Runs jobs[0..n) together; sets each job's err. */
typedef void (*serve_batch_fn)(void *state, serve_job **jobs, int n);

#define SERVE_BATCH_JOBS 64 /* jobs in one batch at most */

typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    serve_job *head, *tail;
    int busy, max_jobs;
    long batches, jobs;         /* run so far (for /health) */
    serve_batch_fn run;
    void *state;
} serve_batcher;

void serve_batcher_init(serve_batcher *b, serve_batch_fn run, void *state, int max_jobs);
void serve_batcher_destroy(serve_batcher *b);
/* Queue j and return when it is done (j->err).  The thread that finds no
 * batch running runs everything queued so far, its own job included. */
int serve_batch_submit(serve_batcher *b, serve_job *j);

/* ---- the server ----------------------------------------------------------- */

typedef struct {
    const char *model_path;
    long max_request_bytes, max_length, timeout_s;
    int max_batch, threads;
} serve_limits;

typedef struct {
    cl_model *m;
    serve_limits lim;
    cl_annotator *ann;         /* raw text to tagged sentences; NULL without a tagger head */
    cl_tagger *tagger;         /* the annotator's tagger (NULL without one) */
    cl_labeler *labeler;       /* NULL without a classifier head */
    serve_batcher tag_batch, clf_batch;
    int has_lm;
    atomic_int active;         /* requests in flight (SIGTERM waits for 0) */
    atomic_long served;
} serve_ctx;

/* An answer: a status and a JSON body, or a streamed response. */
struct MHD_Response;
typedef struct {
    unsigned status;
    char *body;                 /* malloc'd JSON text */
    struct MHD_Response *stream;/* set instead of body for server-sent events */
} serve_reply;

/* {"error": "..."} with status (4xx/5xx); returns status. */
unsigned serve_error(serve_reply *r, unsigned status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* r->body = the JSON of j (j is freed), status 200. */
unsigned serve_ok(serve_reply *r, cJSON *j);

/* serve_api.c: one function per endpoint; req is the parsed body (NULL for GET). */
unsigned serve_generate(serve_ctx *s, const cJSON *req, serve_reply *r);
unsigned serve_tag(serve_ctx *s, const cJSON *req, serve_reply *r);
unsigned serve_classify(serve_ctx *s, const cJSON *req, serve_reply *r);
unsigned serve_score(serve_ctx *s, const cJSON *req, serve_reply *r);
unsigned serve_info(serve_ctx *s, serve_reply *r);
int serve_ctx_init(serve_ctx *s, cl_model *m, const serve_limits *lim, char *err, size_t errsz);
void serve_ctx_free(serve_ctx *s);

/* serve_http.c: start the daemon on bind:port (port 0: any free one, see
 * *bound); NULL with a message in err on failure. */
struct MHD_Daemon;
struct MHD_Daemon *serve_http_start(serve_ctx *s, const char *bind, int port, int *bound,
                                    char *err, size_t errsz);

#endif
