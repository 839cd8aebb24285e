/* serve_http: libmicrohttpd glue — bodies, limits, routing, replies.
 *
 * libmicrohttpd calls handle() several times per request: first with no
 * state (we allocate it), then with each piece of the body (we keep it,
 * up to --max-request-bytes), then once with no data (we answer).  An
 * endpoint that needs a head gives back a job instead of an answer: the
 * connection is suspended, the job posted to the head's worker, and when
 * the worker has run it, it resumes the connection and handle() is called
 * once more to answer.  So these threads never wait for a computation, and
 * a batch can hold any number of clients.  Every answer is JSON except the
 * page at "/" and the event stream of /generate with "stream": true. */
#include <arpa/inet.h>
#include <microhttpd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "serve.h"
#include "serve_page.h" /* serve_page_html[], serve_page_html_len: tools/serve_page.html */

typedef struct {
    char *body;
    size_t len, cap;
    int too_large;
    cJSON *json;       /* the parsed body; a job may borrow from it */
    serve_job *job;    /* posted: the connection is suspended until it is done */
} request;

/* ---- replies --------------------------------------------------------------- */

unsigned serve_error(serve_reply *r, unsigned status, const char *fmt, ...)
{
    char msg[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "error", msg);
    cJSON_AddNumberToObject(j, "status", status);
    r->body = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    return r->status = status;
}

unsigned serve_job_reply(serve_job *j, serve_reply *r)
{
    if (j->err == SERVE_EBUSY)
        serve_error(r, 503, "%s: too many requests wait for this head (--max-queue), or the "
                    "server is stopping; retry later", j->what);
    else
        r->status = j->reply.status, r->body = j->reply.body;
    j->reply.body = NULL;
    if (j->release)
        j->release(j);
    return r->status;
}

unsigned serve_ok(serve_reply *r, cJSON *j)
{
    r->body = j ? cJSON_PrintUnformatted(j) : NULL;
    cJSON_Delete(j);
    if (!r->body)
        return serve_error(r, 500, "out of memory");
    return r->status = 200;
}

static enum MHD_Result queue(struct MHD_Connection *c, unsigned status, const void *data,
                             size_t n, const char *type, enum MHD_ResponseMemoryMode mode)
{
    struct MHD_Response *res = MHD_create_response_from_buffer(n, (void *)data, mode);
    if (!res)
        return MHD_NO;
    MHD_add_response_header(res, "Content-Type", type);
    MHD_add_response_header(res, "Cache-Control", "no-store");
    enum MHD_Result ok = MHD_queue_response(c, status, res);
    MHD_destroy_response(res);
    return ok;
}

static enum MHD_Result send_reply(struct MHD_Connection *c, serve_reply *r)
{
    if (r->stream) {
        enum MHD_Result ok = MHD_queue_response(c, 200, r->stream);
        MHD_destroy_response(r->stream);
        return ok;
    }
    if (!r->body) /* out of memory even for the error */
        return queue(c, 500, "{\"error\":\"out of memory\"}", 25, "application/json",
                     MHD_RESPMEM_PERSISTENT);
    size_t n = strlen(r->body);
    return queue(c, r->status, r->body, n, "application/json", MHD_RESPMEM_MUST_FREE);
}

/* ---- routing --------------------------------------------------------------- */

typedef struct {
    const char *path;
    int post;   /* 1: POST with a JSON body; 0: GET */
    unsigned (*post_fn)(serve_ctx *, const cJSON *, serve_reply *);
    unsigned (*get_fn)(serve_ctx *, serve_reply *);
} route;

/* {"requests": N, "batches": N}: how many requests shared a batch. */
static cJSON *batch_stats(serve_batcher *b)
{
    cJSON *o = cJSON_CreateObject();
    pthread_mutex_lock(&b->mu);
    cJSON_AddNumberToObject(o, "requests", (double)b->jobs);
    cJSON_AddNumberToObject(o, "batches", (double)b->batches);
    pthread_mutex_unlock(&b->mu);
    return o;
}

static unsigned health(serve_ctx *s, serve_reply *r)
{
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "status", "ok");
    cJSON_AddNumberToObject(j, "active", atomic_load(&s->active));
    cJSON_AddNumberToObject(j, "served", (double)atomic_load(&s->served));
    cJSON_AddItemToObject(j, "tag", batch_stats(&s->tag_batch));
    cJSON_AddItemToObject(j, "classify", batch_stats(&s->clf_batch));
    cJSON_AddItemToObject(j, "lm", batch_stats(&s->lm_batch));
    return serve_ok(r, j);
}

static const route routes[] = {
    {"/generate", 1, serve_generate, NULL}, {"/tag", 1, serve_tag, NULL},
    {"/classify", 1, serve_classify, NULL}, {"/score", 1, serve_score, NULL},
    {"/info", 0, NULL, serve_info},         {"/health", 0, NULL, health},
};

/* The body as JSON: valid UTF-8 (the byte of the first bad one named), then
 * an object. */
static unsigned parse_body(const request *q, cJSON **out, serve_reply *r)
{
    int32_t *cps = NULL;
    size_t n;
    cl_diag d = {{0}};
    int err = cl_text_decode(q->body ? q->body : "", q->len, NULL, "request body", &cps, &n, &d);
    free(cps);
    if (err == CL_EUTF8)
        return serve_error(r, 400, "%s", d.msg);
    if (err)
        return serve_error(r, 500, "%s", cl_strerror(err));
    if (!q->len)
        return serve_error(r, 400, "empty body: send a JSON object");
    const char *nul = memchr(q->body, 0, q->len);
    if (nul)
        return serve_error(r, 400, "NUL byte at byte %ld of the body", (long)(nul - q->body));
    const char *end = NULL; /* keep_body ends the body with a NUL */
    *out = cJSON_ParseWithOpts(q->body, &end, 1);
    if (!*out)
        return serve_error(r, 400, "malformed JSON at byte %ld", (long)(end - q->body));
    if (!cJSON_IsObject(*out)) {
        cJSON_Delete(*out);
        *out = NULL;
        return serve_error(r, 400, "the body must be a JSON object");
    }
    return 0;
}

static unsigned dispatch(serve_ctx *s, const char *url, const char *method, request *q,
                         serve_reply *r)
{
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        const route *rt = &routes[i];
        if (strcmp(url, rt->path) != 0)
            continue;
        if (strcmp(method, rt->post ? "POST" : "GET") != 0)
            return serve_error(r, 405, "%s takes %s, not %s", url, rt->post ? "POST" : "GET",
                               method);
        if (!rt->post)
            return rt->get_fn(s, r);
        if (q->too_large)
            return serve_error(r, 413, "the body is larger than --max-request-bytes (%ld bytes)",
                               s->lim.max_request_bytes);
        if (parse_body(q, &q->json, r))
            return r->status;
        return rt->post_fn(s, q->json, r); /* q->json lives until the request ends */
    }
    return serve_error(r, 404, "no endpoint %s %s (see GET /info)", method, url);
}

/* ---- libmicrohttpd callbacks ------------------------------------------------ */

static int keep_body(request *q, const char *data, size_t n, long max)
{
    if (q->too_large || q->len + n > (size_t)max) {
        q->too_large = 1; /* keep reading, answer 413 at the end */
        return 0;
    }
    if (q->len + n + 1 > q->cap) {
        size_t cap = (q->len + n + 1) * 2;
        char *b = realloc(q->body, cap);
        if (!b)
            return -1;
        q->body = b, q->cap = cap;
    }
    memcpy(q->body + q->len, data, n);
    q->len += n;
    q->body[q->len] = 0;
    return 0;
}

static void resume(void *c)
{
    MHD_resume_connection(c);
}

/* Suspend first, then post: the worker resumes only a connection that is
 * suspended.  A refused job is answered (503) at once, by resuming. */
static enum MHD_Result wait_for(struct MHD_Connection *c, request *q, serve_job *j)
{
    q->job = j;
    j->wake = resume, j->wake_arg = c, j->err = 0;
    MHD_suspend_connection(c);
    if (serve_batch_post(j->queue, j)) {
        j->err = SERVE_EBUSY;
        MHD_resume_connection(c);
    }
    return MHD_YES;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *version, const char *upload,
                              size_t *upload_size, void **con_cls)
{
    (void)version;
    serve_ctx *s = cls;
    request *q = *con_cls;
    if (!q) {
        if (!(q = calloc(1, sizeof *q)))
            return MHD_NO;
        *con_cls = q;
        atomic_fetch_add(&s->active, 1);
        return MHD_YES;
    }
    if (*upload_size) {
        if (keep_body(q, upload, *upload_size, s->lim.max_request_bytes))
            return MHD_NO;
        *upload_size = 0;
        return MHD_YES;
    }
    if (strcmp(url, "/") == 0 && strcmp(method, "GET") == 0)
        return queue(c, 200, serve_page_html, serve_page_html_len, "text/html; charset=utf-8",
                     MHD_RESPMEM_PERSISTENT);
    serve_reply r = {.conn = c};
    if (q->job) /* resumed: the head is done with it */
        serve_job_reply(q->job, &r), q->job = NULL;
    else if (dispatch(s, url, method, q, &r), r.wait)
        return wait_for(c, q, r.wait);
    atomic_fetch_add(&s->served, 1);
    return send_reply(c, &r);
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls,
                      enum MHD_RequestTerminationCode toe)
{
    (void)c, (void)toe;
    serve_ctx *s = cls;
    request *q = *con_cls;
    if (!q)
        return;
    if (q->job) { /* done, but the client went before its answer */
        serve_reply r = {0};
        serve_job_reply(q->job, &r);
        free(r.body);
    }
    cJSON_Delete(q->json);
    free(q->body);
    free(q);
    *con_cls = NULL;
    atomic_fetch_sub(&s->active, 1);
}

struct MHD_Daemon *serve_http_start(serve_ctx *s, const char *bind, int port, int *bound,
                                    char *err, size_t errsz)
{
    struct sockaddr_storage ss = {0};
    struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME;
    if (inet_pton(AF_INET, bind, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET, a4->sin_port = htons((uint16_t)port);
    } else if (inet_pton(AF_INET6, bind, &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6, a6->sin6_port = htons((uint16_t)port);
        flags |= MHD_USE_IPv6;
    } else {
        snprintf(err, errsz, "--bind: '%s' is not an IPv4 or IPv6 address", bind);
        return NULL;
    }
    struct MHD_Daemon *d = MHD_start_daemon(
        flags, (uint16_t)port, NULL, NULL, handle, s, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
        MHD_OPTION_THREAD_POOL_SIZE, (unsigned)s->lim.http_threads, MHD_OPTION_NOTIFY_COMPLETED,
        completed, s, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)s->lim.timeout_s, MHD_OPTION_END);
    if (!d) {
        snprintf(err, errsz, "cannot listen on %s port %d (in use, or not an address of this "
                 "machine)", bind, port);
        return NULL;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    *bound = info ? info->port : port;
    return d;
}
