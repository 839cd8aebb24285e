/* cmd_serve: "charlstm serve": one loaded model answering over HTTP/JSON.
 *
 * Options first (struct, defaults, table), then the daemon's life:
 * SIGTERM and SIGINT are blocked in every thread and taken by sigwait() in
 * the main one (no handler, no global flag); the daemon then stops
 * accepting, the requests in flight finish (up to --timeout), and it exits. */
#include <math.h>
#include <microhttpd.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli_opts.h"
#include "cli_util.h"
#include "commands.h"
#include "serve.h"

#define CMD "serve"

const char cmd_serve_summary[] = "answer generate/tag/classify/score requests over HTTP (JSON)";

typedef struct {
    const char *model, *bind;
    int port, threads, http_threads, batch, max_queue;
    int precision; /* cl_precision */
    long max_request_bytes, max_length, timeout;
} serve_opts;

/* ---------------------------------------------------------------- options */

static void serve_defaults(serve_opts *o)
{
    /* Each head computes on one thread of its own with a team of --threads
     * (one per core here); the HTTP threads only read and answer, so two
     * keep up with any number of connections.  A batch of 16 sentences
     * keeps the tagger's workspace (with a 2 x 512 encoder) near 0.5 GB; 64
     * took 3.6 GB for no more speed.  256 requests waiting for one head
     * bound the memory that queued bodies hold (1 MB each at most). */
    *o = (serve_opts){.bind = "127.0.0.1", .port = 8080, .threads = 2, .http_threads = 2,
                      .batch = 16, .max_queue = 256, .max_request_bytes = 1 << 20,
                      .max_length = 10000, .timeout = 30, .precision = CLI_PRECISION_DEFAULT};
}

static const char serve_description[] =
    "Loads the model once and answers HTTP requests, JSON in and JSON out, one\n"
    "endpoint per head the model has: POST /generate, /score (language model),\n"
    "/tag (tagger), /classify (classifier); GET /info and /health.  GET / is a\n"
    "page that shows what the model sees (surprisal, cells, tags, labels).\n"
    "Answers equal the command line's for the same input (generate with the same\n"
    "seed, tag, classify).  Each head computes on a thread of its own: the\n"
    "requests to /tag or /classify that wait while a batch runs become the next\n"
    "batch, and generations take turns.  Listens on 127.0.0.1 only unless --bind\n"
    "says otherwise; docs/serve.md says how to put it behind a reverse proxy.\n"
    "SIGTERM or Ctrl-C finishes the requests in flight and exits.  --port 0 picks\n"
    "a free port; the address is printed on stdout either way.\n"
    "\n"
    "Examples:\n"
    "  charlstm serve -m en.model --port 8080\n"
    "  curl -s localhost:8080/generate -d '{\"prompt\": \"The \", \"length\": 100}'\n";

static int serve_parse(serve_opts *o, int argc, char **argv)
{
    const cli_opt opts[] = {
        {"model", 'm', CLI_STR, &o->model, "MODEL", .help = "model to serve", .required = 1},
        {"port", 'p', CLI_INT, &o->port, "N", .help = "TCP port (0 = any free port)", .min = 0,
         .max = 65535},
        {"bind", 0, CLI_STR, &o->bind, "ADDR", .help = "address to listen on (IPv4 or IPv6)"},
        {"threads", 0, CLI_INT, &o->threads, "N",
         .help = "threads computing each head's batches (OpenMP)", .min = 1, .max = 256},
        cli_precision_opt(&o->precision),
        {"http-threads", 0, CLI_INT, &o->http_threads, "N",
         .help = "threads reading and answering connections (they never compute)", .min = 1,
         .max = 256},
        {"max-queue", 0, CLI_INT, &o->max_queue, "N",
         .help = "requests waiting for one head at most (503 beyond)", .min = 1, .max = 1 << 20},
        {"batch", 0, CLI_INT, &o->batch, "N", .help = "texts or sentences per batch", .min = 1,
         .max = 65536},
        {"max-request-bytes", 0, CLI_LONG, &o->max_request_bytes, "N",
         .help = "largest request body accepted (413 beyond)", .min = 64, .max = 1e10},
        {"max-length", 0, CLI_LONG, &o->max_length, "N",
         .help = "most characters generated per sample, or scored per text", .min = 1, .max = 1e9},
        {"timeout", 0, CLI_LONG, &o->timeout, "SECONDS",
         .help = "time limit of one request (generation stops there)", .min = 1, .max = 86400},
    };
    const cli_command cmd = {"serve", cmd_serve_summary, "-m MODEL [options]", serve_description,
                             opts, (int)(sizeof opts / sizeof opts[0]), 0, 0};
    int first;
    return cli_parse(&cmd, argc, argv, &first);
}

/* ---------------------------------------------------------------- work */

/* Stop accepting, give the requests in flight up to timeout to finish;
 * then the heads finish every job still posted (each ends by its own time
 * limit) and resume its connection: libmicrohttpd may not stop while a
 * connection is suspended. */
static void drain(struct MHD_Daemon *d, serve_ctx *s, long timeout)
{
    MHD_quiesce_daemon(d);
    struct timespec tick = {0, 20 * 1000 * 1000};
    for (long i = 0; i < timeout * 50 && atomic_load(&s->active) > 0; i++)
        nanosleep(&tick, NULL);
    serve_ctx_stop(s);
    MHD_stop_daemon(d);
}

static int serve_run(const serve_opts *o)
{
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop, NULL); /* before any thread: they inherit it */
    signal(SIGPIPE, SIG_IGN);                /* a client gone is an error code, not a death */
    cl_model *m;
    cl_diag d = {{0}};
    int err = cl_model_load(&m, o->model, NULL, &d);
    if (err)
        return cli_fail(CMD, err, &d, "cannot load the model");
    cli_threads(1);
    serve_limits lim = {o->model, o->max_request_bytes, o->max_length, o->timeout, o->batch,
                        o->threads, o->http_threads, o->max_queue, o->precision};
    serve_ctx s;
    char msg[600];
    int rc = 0, port = 0, sig;
    struct MHD_Daemon *daemon = NULL;
    if (serve_ctx_init(&s, m, &lim, msg, sizeof msg))
        rc = cli_error(CMD, "%s: %s", o->model, msg);
    else if (!(daemon = serve_http_start(&s, o->bind, o->port, &port, msg, sizeof msg)))
        rc = cli_error(CMD, "%s", msg);
    if (!rc) {
        printf("charlstm serve: %s on http://%s%s%s:%d/\n", o->model, strchr(o->bind, ':') ? "[" : "",
               o->bind, strchr(o->bind, ':') ? "]" : "", port);
        fflush(stdout);
        sigwait(&stop, &sig);
        fprintf(stderr, "charlstm serve: %s: finishing %d request(s) in flight\n",
                sig == SIGTERM ? "SIGTERM" : "SIGINT", atomic_load(&s.active));
        drain(daemon, &s, o->timeout);
    }
    serve_ctx_free(&s);
    cl_model_free(m);
    return rc;
}

int cmd_serve(int argc, char **argv)
{
    serve_opts o;
    serve_defaults(&o);
    int rc = serve_parse(&o, argc, argv);
    if (rc == 0)
        return serve_run(&o);
    return rc == 1 ? 0 : rc;
}
