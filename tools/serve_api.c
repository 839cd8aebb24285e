/* serve_api: the endpoints of `charlstm serve`, JSON in and JSON out.
 *
 * Each endpoint checks its fields (type, range, unknown names) and answers
 * 400 naming the field; then it hands a job to its head's worker
 * (serve_batch.c), which makes the same library calls as the command line:
 * cl_gen_begin/cl_gen_step (generate, in turns of a few characters),
 * cl_annotate_tag (tag, every queued request in one call), cl_labeler_run
 * (classify, likewise), cl_score_text (score), and writes the reply there
 * too, so an HTTP thread only sends it (a reply for thousands of sentences
 * takes a while to write). */
#include <math.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cl_generate.h"
#include "cl_sample.h"
#include "cl_score.h"
#include "serve.h"
#include "cli_json.h"

/* ==== request fields ========================================================= */

/* 400 for a field not in allowed (NULL-terminated). */
static unsigned only_fields(const cJSON *req, const char *const *allowed, serve_reply *r)
{
    for (const cJSON *f = req->child; f; f = f->next) {
        int ok = 0;
        for (int i = 0; allowed[i] && !ok; i++)
            ok = strcmp(f->string, allowed[i]) == 0;
        if (!ok)
            return serve_error(r, 400, "unknown field '%s'", f->string);
    }
    return 0;
}

/* A number in [lo, hi] (an integer when integral): absent leaves *v. */
static unsigned get_number(const cJSON *req, const char *key, double lo, double hi, int integral,
                           double *v, serve_reply *r)
{
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(req, key);
    if (!f)
        return 0;
    if (!cJSON_IsNumber(f))
        return serve_error(r, 400, "'%s' must be a number", key);
    double x = f->valuedouble;
    if (integral && x != floor(x))
        return serve_error(r, 400, "'%s' must be an integer", key);
    if (!(x >= lo && x <= hi))
        return serve_error(r, 400, "'%s' must be between %g and %g", key, lo, hi);
    *v = x;
    return 0;
}

static unsigned get_bool(const cJSON *req, const char *key, int *v, serve_reply *r)
{
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(req, key);
    if (f && !cJSON_IsBool(f))
        return serve_error(r, 400, "'%s' must be true or false", key);
    if (f)
        *v = cJSON_IsTrue(f);
    return 0;
}

/* A string (required or not: absent leaves *v). */
static unsigned get_string(const cJSON *req, const char *key, int required, const char **v,
                           serve_reply *r)
{
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(req, key);
    if (!f && required)
        return serve_error(r, 400, "missing field '%s'", key);
    if (f && !cJSON_IsString(f))
        return serve_error(r, 400, "'%s' must be a string", key);
    if (f)
        *v = f->valuestring;
    return 0;
}

/* Text as the model reads it; 400 with the position on a decoding error. */
static unsigned decode(const serve_ctx *s, const char *text, const char *what, int32_t **cps,
                       size_t *n, serve_reply *r)
{
    cl_diag d = {{0}};
    int err = cl_text_decode(text, strlen(text), &s->m->text, what, cps, n, &d);
    if (err)
        return serve_error(r, err == CL_ENOMEM ? 500 : 400, "%s", d.msg[0] ? d.msg : cl_strerror(err));
    return 0;
}

static void add_utf8(char **buf, size_t *len, size_t *cap, int32_t cp)
{
    if (*len + 5 > *cap) {
        size_t c = (*cap ? *cap * 2 : 256);
        char *b = realloc(*buf, c);
        if (!b)
            return; /* the text comes back short; the caller sees buf */
        *buf = b, *cap = c;
    }
    *len += (size_t)cl_text_encode_cp(cp, *buf + *len);
    (*buf)[*len] = 0;
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + t.tv_nsec * 1e-9;
}

/* ==== /generate ================================================================ */

/* The language model's worker runs /generate and /score jobs; each job's
 * state starts with the function that runs its next turn. */
typedef void (*lm_turn_fn)(serve_ctx *s, serve_job *j);

static void lm_batch(void *state, serve_job **jobs, int n)
{
    for (int i = 0; i < n; i++)
        (*(lm_turn_fn *)jobs[i]->in)(state, jobs[i]);
}

/* Characters a generation samples in one turn before the next request's:
 * long generations take turns, and a stream gets its events in small runs. */
#define GEN_TURN_CHARS 32

typedef struct {
    lm_turn_fn turn;       /* first: see lm_batch */
    serve_job job;
    cl_gen *g;
    int *ids;
    size_t n;
    int32_t **stops;
    size_t *stop_len;
    int nstops;
    cl_gen_request req;
    long samples, sample;
    int echo, started, stream;
    double deadline;
    char *text;            /* the sample so far (non-streamed) */
    size_t len, cap;
    cJSON *out;            /* the answer so far (non-streamed) */
    /* streamed: events the worker has written and the reader not yet sent */
    pthread_mutex_t mu;
    char *ev;
    size_t ev_len, ev_cap, ev_off;
    int finished;          /* the worker has written the last event */
    int waiting;           /* the reader found nothing: the connection is suspended */
    int gone;              /* the response was freed (client gone, or done) */
    int refs;              /* the response and the worker */
    struct MHD_Connection *conn;
} gen_state;

static void gen_free(gen_state *g)
{
    if (!g)
        return;
    cl_gen_free(g->g);
    for (int i = 0; i < g->nstops; i++)
        free(g->stops[i]);
    free(g->stops), free(g->stop_len), free(g->ids), free(g->text), free(g->ev);
    cJSON_Delete(g->out);
    free(g->job.reply.body);
    pthread_mutex_destroy(&g->mu);
    free(g);
}

static unsigned gen_stops(serve_ctx *s, const cJSON *req, gen_state *g, serve_reply *r)
{
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(req, "stop");
    if (!f)
        return 0;
    if (!cJSON_IsString(f) && !cJSON_IsArray(f))
        return serve_error(r, 400, "'stop' must be a string or an array of strings");
    int n = cJSON_IsString(f) ? 1 : cJSON_GetArraySize(f);
    if (n > 16)
        return serve_error(r, 400, "'stop': at most 16 strings");
    g->stops = calloc((size_t)n + 1, sizeof *g->stops);
    g->stop_len = calloc((size_t)n + 1, sizeof *g->stop_len);
    if (!g->stops || !g->stop_len)
        return serve_error(r, 500, "out of memory");
    for (int i = 0; i < n; i++, g->nstops++) {
        const cJSON *e = cJSON_IsString(f) ? f : cJSON_GetArrayItem(f, i);
        if (!cJSON_IsString(e) || !e->valuestring[0])
            return serve_error(r, 400, "'stop'[%d] must be a non-empty string", i);
        if (decode(s, e->valuestring, "stop", &g->stops[i], &g->stop_len[i], r))
            return r->status;
    }
    return 0;
}

static const char *const gen_fields[] = {"prompt", "length", "temperature", "top_k", "top_p",
                                         "seed", "stop", "num_samples", "echo", "stream", NULL};

/* Everything a sample needs, checked; 0 or the error status (r set). */
static unsigned gen_setup(serve_ctx *s, const cJSON *req, gen_state *g, int *stream,
                          serve_reply *r)
{
    const char *prompt = "";
    double len = 200, temp = 1, top_k = 0, top_p = 1, seed = 1, samples = 1;
    int echo = 1;
    if (only_fields(req, gen_fields, r) || get_string(req, "prompt", 0, &prompt, r) ||
        get_number(req, "length", 0, (double)s->lim.max_length, 1, &len, r) ||
        get_number(req, "temperature", 0, 100, 0, &temp, r) ||
        get_number(req, "top_k", 0, 1e6, 1, &top_k, r) ||
        get_number(req, "top_p", 0, 1, 0, &top_p, r) ||
        get_number(req, "seed", 0, 9007199254740991.0, 1, &seed, r) ||
        get_number(req, "num_samples", 1, 16, 1, &samples, r) || get_bool(req, "echo", &echo, r) ||
        get_bool(req, "stream", stream, r) || gen_stops(s, req, g, r))
        return r->status;
    int32_t *cps;
    if (decode(s, prompt, "prompt", &cps, &g->n, r))
        return r->status;
    g->ids = malloc(sizeof *g->ids * (g->n + 1));
    if (g->ids)
        cl_model_encode(s->m, cps, g->n, g->ids, NULL);
    free(cps);
    cl_sample_config sc = {(float)temp, (int)top_k, (float)top_p};
    uint64_t sd = seed ? (uint64_t)seed : (uint64_t)time(NULL); /* as charlstm generate */
    cl_diag d = {{0}};
    int err = g->ids ? cl_gen_create(&g->g, s->m, &sc, sd, &d) : CL_ENOMEM;
    if (err)
        return serve_error(r, err == CL_ENOMEM ? 500 : 400, "%s", d.msg[0] ? d.msg : cl_strerror(err));
    g->req = (cl_gen_request){(long)len, (const int32_t *const *)g->stops, g->stop_len, g->nstops};
    g->samples = (long)samples, g->echo = echo;
    g->deadline = now_s() + (double)s->lim.timeout_s;
    return 0;
}

/* A new sample's text: the prompt when echoed, else "". */
static void echo_prompt(serve_ctx *s, gen_state *g)
{
    g->len = 0;
    add_utf8(&g->text, &g->len, &g->cap, 0); /* a NUL: the buffer now holds "" */
    g->len = 0;
    for (size_t i = 0; i < g->n && g->echo; i++)
        add_utf8(&g->text, &g->len, &g->cap, cl_vocab_cp(&s->m->vocab, g->ids[i]));
}

/* ---- streamed: the worker writes server-sent events, the reader sends them ---- */

static cJSON *piece(long sample, const char *key, const char *text)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "sample", (double)sample);
    cJSON_AddStringToObject(o, key, text);
    return o;
}

static int ev_reserve(gen_state *g, size_t need)
{
    if (g->ev_len + need <= g->ev_cap)
        return 0;
    size_t cap = g->ev_cap * 2 > g->ev_len + need ? g->ev_cap * 2 : g->ev_len + need + 4096;
    char *b = realloc(g->ev, cap);
    if (!b)
        return CL_ENOMEM;
    g->ev = b, g->ev_cap = cap;
    return 0;
}

/* Append one event (data is freed; NULL: none) and wake a waiting reader;
 * last: the stream ends after it (err: with an error).  Worker thread. */
static void stream_put(gen_state *g, const char *event, cJSON *data, int last, int err)
{
    int has = data != NULL;
    char *j = has ? cJSON_PrintUnformatted(data) : NULL;
    cJSON_Delete(data);
    pthread_mutex_lock(&g->mu);
    if (has && (!j || ev_reserve(g, strlen(j) + 32)))
        last = 1, err = CL_ENOMEM;
    else if (j)
        g->ev_len += (size_t)sprintf(g->ev + g->ev_len, "%s%s%sdata: %s\n\n", event ? "event: " : "",
                                     event ? event : "", event ? "\n" : "", j);
    if (last)
        g->finished = err ? -1 : 1;
    if (g->waiting && !g->gone) {
        g->waiting = 0;
        MHD_resume_connection(g->conn);
    }
    pthread_mutex_unlock(&g->mu);
    free(j);
}

/* libmicrohttpd's content reader: what the worker wrote, or (nothing yet)
 * suspend the connection until it writes more. */
static ssize_t stream_next(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    gen_state *g = cls;
    ssize_t n = 0;
    pthread_mutex_lock(&g->mu);
    if (g->ev_off < g->ev_len) {
        n = (ssize_t)(g->ev_len - g->ev_off < max ? g->ev_len - g->ev_off : max);
        memcpy(buf, g->ev + g->ev_off, (size_t)n);
        g->ev_off += (size_t)n;
        if (g->ev_off == g->ev_len)
            g->ev_off = g->ev_len = 0;
    } else if (g->finished) {
        n = g->finished < 0 ? MHD_CONTENT_READER_END_WITH_ERROR : MHD_CONTENT_READER_END_OF_STREAM;
    } else {
        g->waiting = 1;
        MHD_suspend_connection(g->conn);
    }
    pthread_mutex_unlock(&g->mu);
    return n;
}

/* The response and the worker each hold g; the last to let go frees it. */
static void gen_release(gen_state *g, int response)
{
    pthread_mutex_lock(&g->mu);
    g->gone |= response;
    int left = --g->refs;
    pthread_mutex_unlock(&g->mu);
    if (!left)
        gen_free(g);
}

static void stream_free(void *cls)
{
    gen_release(cls, 1);
}

static void gen_worker_done(void *g)
{
    gen_release(g, 0);
}

static int stream_gone(gen_state *g)
{
    pthread_mutex_lock(&g->mu);
    int gone = g->gone;
    pthread_mutex_unlock(&g->mu);
    return gone;
}

/* ---- a generation's turns on the worker ---- */

static void sample_done(gen_state *g, int stopped)
{
    if (g->stream) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "sample", (double)g->sample);
        cJSON_AddBoolToObject(o, "end", 1);
        cJSON_AddBoolToObject(o, "stopped", stopped);
        stream_put(g, NULL, o, 0, 0);
        return;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "text", g->text ? g->text : "");
    cJSON_AddBoolToObject(o, "stopped", stopped);
    cJSON_AddItemToArray(cJSON_GetObjectItem(g->out, "samples"), o);
}

/* One step: a sample begins (its echoed prompt), one character, or the
 * sample ends.  0 or CL_ENOMEM. */
static int gen_step(serve_ctx *s, gen_state *g)
{
    if (!g->started) {
        g->started = 1;
        echo_prompt(s, g);
        int err = cl_gen_begin(g->g, g->ids, g->n, &g->req);
        if (!err && g->stream)
            stream_put(g, NULL, piece(g->sample, "text", g->text ? g->text : ""), 0, 0);
        return err;
    }
    int32_t cp;
    int stopped;
    if (!cl_gen_step(g->g, &cp, &stopped)) {
        sample_done(g, stopped);
        g->started = 0, g->sample++;
    } else if (g->stream) {
        char enc[5] = {0};
        enc[cl_text_encode_cp(cp, enc)] = 0;
        stream_put(g, NULL, piece(g->sample, "text", enc), 0, 0);
    } else {
        add_utf8(&g->text, &g->len, &g->cap, cp);
    }
    return CL_OK;
}

/* The end: all samples, the time limit, the client gone, or an error. */
static void gen_finish(gen_state *g, int err)
{
    int truncated = g->sample < g->samples;
    if (g->stream) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddBoolToObject(o, "truncated", truncated);
        stream_put(g, "done", err ? NULL : o, 1, err);
        if (err)
            cJSON_Delete(o);
        return;
    }
    if (err) {
        serve_error(&g->job.reply, 500, "generation failed: %s", cl_strerror(err));
        return;
    }
    if (truncated && g->started)
        sample_done(g, 0); /* the text so far */
    if (truncated)
        cJSON_AddStringToObject(g->out, "truncated", "the time limit (--timeout) ended generation");
    serve_ok(&g->job.reply, g->out);
    g->out = NULL;
}

static void gen_turn(serve_ctx *s, serve_job *j)
{
    gen_state *g = j->in;
    for (int i = 0; i < GEN_TURN_CHARS; i++) {
        int over = g->sample == g->samples || now_s() > g->deadline ||
                   (g->stream && stream_gone(g));
        int err = over ? CL_OK : gen_step(s, g);
        if (over || err) {
            gen_finish(g, err);
            return;
        }
    }
    j->more = 1;
}

/* ---- the endpoint ---- */

static void gen_job_free(serve_job *j)
{
    gen_free(j->in);
}

static unsigned gen_stream_reply(serve_ctx *s, gen_state *g, serve_reply *r)
{
    g->conn = r->conn, g->refs = 1;
    g->job.wake = gen_worker_done, g->job.wake_arg = g;
    r->stream = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, stream_next, g,
                                                  stream_free);
    if (!r->stream) {
        gen_free(g);
        return serve_error(r, 500, "out of memory");
    }
    MHD_add_response_header(r->stream, "Content-Type", "text/event-stream");
    MHD_add_response_header(r->stream, "Cache-Control", "no-store");
    g->refs = 2;
    if (serve_batch_post(&s->lm_batch, &g->job)) {
        g->refs = 1;
        MHD_destroy_response(r->stream); /* frees g */
        r->stream = NULL;
        serve_job refused = {.err = SERVE_EBUSY, .what = "/generate"};
        return serve_job_reply(&refused, r);
    }
    return r->status = 200;
}

unsigned serve_generate(serve_ctx *s, const cJSON *req, serve_reply *r)
{
    if (!s->has_lm)
        return serve_error(r, 404, "the model has no language-model head: no /generate");
    gen_state *g = calloc(1, sizeof *g);
    if (!g)
        return serve_error(r, 500, "out of memory");
    g->turn = gen_turn;
    pthread_mutex_init(&g->mu, NULL);
    g->job = (serve_job){.in = g, .queue = &s->lm_batch, .what = "/generate", .release = gen_job_free};
    if (gen_setup(s, req, g, &g->stream, r)) {
        gen_free(g);
        return r->status;
    }
    if (g->stream)
        return gen_stream_reply(s, g, r); /* g is the stream's now */
    g->out = cJSON_CreateObject();
    if (!g->out || !cJSON_AddArrayToObject(g->out, "samples")) {
        gen_free(g);
        return serve_error(r, 500, "out of memory");
    }
    r->wait = &g->job;
    return r->status = 0;
}

/* ==== /tag ===================================================================== */

/* One request's sentences and answers. */
typedef struct {
    serve_job job;
    const char *text;      /* borrowed from the request's JSON; NULL: pre-tokenized */
    cl_diag d;             /* what was wrong with text (the worker's tokenizer says) */
    cl_ann_doc doc;
    long *base;            /* [doc.n] each sentence's offset in code points in the input */
    int cap;               /* of base */
    int top_k;
} tag_job;

static void tag_job_free(serve_job *j)
{
    tag_job *t = j->in;
    cl_ann_doc_free(&t->doc);
    free(t->base), free(j->reply.body);
    free(t);
}

/* Offsets for the sentences appended since first: base code points plus
 * those of line before each sentence. */
static int tag_job_bases(tag_job *t, int first, const char *line, long base)
{
    if (t->doc.n > t->cap) {
        int cap = t->doc.n * 2;
        long *b = realloc(t->base, sizeof *b * (size_t)cap);
        if (!b)
            return CL_ENOMEM;
        t->base = b, t->cap = cap;
    }
    for (int k = first; k < t->doc.n; k++)
        t->base[k] = base + (line ? cli_json_chars(line, t->doc.sent[k].off) : 0);
    return CL_OK;
}

/* Each line of text is a sentence, tokenized by cl_annotate as charlstm tag
 * --input text does; lines without words are skipped. */
static int tag_add_text(serve_ctx *s, tag_job *t, const char *text, cl_diag *d)
{
    long base = 0;
    for (const char *line = text; *line;) {
        size_t n = strcspn(line, "\n"), len = n, ncps;
        while (len && line[len - 1] == '\r')
            len--;
        int32_t *cps = NULL;
        int first = t->doc.n;
        int err = cl_text_decode(line, len, NULL, "text", &cps, &ncps, d); /* valid UTF-8? */
        free(cps);
        err = err ? err : cl_annotate_text(s->ann, line, len, CL_ANN_LINE, &t->doc, d);
        err = err ? err : tag_job_bases(t, first, line, base);
        if (err)
            return err;
        base += cli_json_chars(line, n) + (line[n] == '\n');
        line += n + (line[n] == '\n');
    }
    return CL_OK;
}

/* Pre-tokenized: the words as given; the text is the words joined by spaces. */
static unsigned tag_add_words(tag_job *t, const cJSON *sents, serve_reply *r)
{
    int i = 0;
    for (const cJSON *sn = sents->child; sn; sn = sn->next, i++) {
        int n = cJSON_GetArraySize(sn), k = 0;
        if (!cJSON_IsArray(sn) || n < 1)
            return serve_error(r, 400, "'sentences'[%d] must be a non-empty array of words", i);
        const char **forms = malloc(sizeof *forms * (size_t)n);
        for (const cJSON *w = sn->child; forms && w; w = w->next, k++) {
            if (!cJSON_IsString(w) || !w->valuestring[0] || strpbrk(w->valuestring, " \t\n")) {
                free(forms);
                return serve_error(r, 400, "'sentences'[%d][%d] must be a word: a non-empty "
                                   "string without spaces", i, k);
            }
            forms[k] = w->valuestring;
        }
        int first = t->doc.n;
        int err = forms ? cl_annotate_words(&t->doc, forms, NULL, n) : CL_ENOMEM;
        err = err ? err : tag_job_bases(t, first, NULL, 0);
        free(forms);
        if (err)
            return serve_error(r, 500, "%s", cl_strerror(err));
    }
    return 0;
}

static void tag_reply(serve_ctx *s, serve_job *j);

/* The batch: each text tokenized (here, not in an HTTP thread: a long text
 * takes a while), then every job's sentences in one document (borrowed,
 * not copied), tagged by one cl_annotate_tag call. */
static void tag_batch(void *state, serve_job **jobs, int n)
{
    serve_ctx *s = state;
    cl_ann_doc all;
    cl_ann_doc_init(&all);
    int total = 0;
    for (int j = 0; j < n; j++) {
        tag_job *t = jobs[j]->in;
        jobs[j]->err = t->text ? tag_add_text(s, t, t->text, &t->d) : CL_OK;
        total += jobs[j]->err ? 0 : t->doc.n;
    }
    all.sent = malloc(sizeof *all.sent * (size_t)(total ? total : 1));
    int err = all.sent ? CL_OK : CL_ENOMEM;
    for (int j = 0; j < n && !err; j++) {
        const cl_ann_doc *doc = &((tag_job *)jobs[j]->in)->doc;
        if (!jobs[j]->err)
            memcpy(all.sent + all.n, doc->sent, sizeof *doc->sent * (size_t)doc->n), all.n += doc->n;
    }
    all.cap = total;
    err = err || !total ? err : cl_annotate_tag(s->ann, &all, 0, s->lim.max_batch, 1, NULL);
    for (int j = 0, k = 0; j < n; j++) {
        cl_ann_doc *doc = &((tag_job *)jobs[j]->in)->doc;
        if (jobs[j]->err)
            continue;
        if (all.sent) /* the probabilities were stored in the copies */
            memcpy(doc->sent, all.sent + k, sizeof *doc->sent * (size_t)doc->n);
        k += doc->n;
        jobs[j]->err = err;
    }
    free(all.sent); /* the sentences belong to the jobs */
    for (int j = 0; j < n; j++)
        tag_reply(s, jobs[j]);
}

/* The sentences as `charlstm tag --output json` writes them (docs/json.md),
 * ids from 1 within the request. */
static cJSON *tag_answer(const serve_ctx *s, const tag_job *t, int top_k)
{
    cJSON *o = cJSON_CreateObject(), *arr = o ? cJSON_AddArrayToObject(o, "sentences") : NULL;
    if (!arr) {
        cJSON_Delete(o);
        return NULL;
    }
    for (int i = 0; i < t->doc.n; i++) {
        cJSON *j = cli_json_sentence(&t->doc.sent[i], s->tagger, i + 1, t->base[i], top_k);
        if (!j) {
            cJSON_Delete(o);
            return NULL;
        }
        cJSON_AddItemToArray(arr, j);
    }
    return o;
}

static void tag_reply(serve_ctx *s, serve_job *j)
{
    tag_job *t = j->in;
    if (j->err && t->d.msg[0]) /* the text's fault */
        serve_error(&j->reply, j->err == CL_ENOMEM ? 500 : 400, "%s", t->d.msg);
    else if (j->err)
        serve_error(&j->reply, 500, "tagging failed: %s", cl_strerror(j->err));
    else
        serve_ok(&j->reply, tag_answer(s, t, t->top_k));
}

unsigned serve_tag(serve_ctx *s, const cJSON *req, serve_reply *r)
{
    static const char *const fields[] = {"text", "sentences", "top_k", NULL};
    if (!s->tagger)
        return serve_error(r, 404, "the model has no tagger head: no /tag");
    const char *text = NULL;
    double top_k = 3;
    const cJSON *sents = cJSON_GetObjectItemCaseSensitive(req, "sentences");
    if (only_fields(req, fields, r) || get_string(req, "text", 0, &text, r) ||
        get_number(req, "top_k", 0, 64, 1, &top_k, r))
        return r->status;
    if (!text == !sents)
        return serve_error(r, 400, "give either 'text' (a string) or 'sentences' (arrays of words)");
    if (sents && !cJSON_IsArray(sents))
        return serve_error(r, 400, "'sentences' must be an array of arrays of words");
    tag_job *t = calloc(1, sizeof *t);
    if (!t)
        return serve_error(r, 500, "out of memory");
    cl_ann_doc_init(&t->doc);
    t->top_k = (int)top_k, t->text = text;
    t->job = (serve_job){.in = t, .queue = &s->tag_batch, .what = "/tag", .release = tag_job_free};
    if (sents && tag_add_words(t, sents, r)) {
        tag_job_free(&t->job);
        return r->status;
    }
    r->wait = &t->job;
    return r->status = 0;
}

/* ==== /classify ================================================================= */

typedef struct {
    serve_job job;
    const char **texts;    /* borrowed from the request's JSON */
    int n;
    float *probs;          /* [n, K] */
} clf_job;

static void clf_job_free(serve_job *j)
{
    clf_job *c = j->in;
    free(c->texts), free(c->probs), free(j->reply.body);
    free(c);
}

static void clf_reply(serve_ctx *s, serve_job *j);

/* Texts of every job through the labeler, a full labeler at a time. */
static void clf_batch(void *state, serve_job **jobs, int n)
{
    serve_ctx *s = state;
    cl_labeler *l = s->labeler;
    int K = cl_labeler_config(l)->nlabels, cap = cl_labeler_capacity(l);
    float *probs = malloc(sizeof *probs * (size_t)cap * K);
    float **dest = malloc(sizeof *dest * (size_t)cap); /* where each held text's answer goes */
    int err = probs && dest ? CL_OK : CL_ENOMEM;
    for (int j = 0; j < n; j++) {
        clf_job *c = jobs[j]->in;
        for (int i = 0; i < c->n && !err; i++) {
            dest[cl_labeler_count(l)] = c->probs + (size_t)i * K;
            err = cl_labeler_add(l, c->texts[i], strlen(c->texts[i]), "text", NULL);
            int full = cl_labeler_count(l) == cap, last = j == n - 1 && i == c->n - 1;
            int held = cl_labeler_count(l);
            if (!err && (full || last) && !(err = cl_labeler_run(l, probs)))
                for (int k = 0; k < held; k++)
                    memcpy(dest[k], probs + (size_t)k * K, sizeof *probs * K);
        }
    }
    cl_labeler_clear(l); /* after an error, texts may be left */
    for (int j = 0; j < n; j++)
        jobs[j]->err = err, clf_reply(s, jobs[j]);
    free(probs), free(dest);
}

/* Each text's object as classify --output json --all writes its line. */
static void clf_reply(serve_ctx *s, serve_job *j)
{
    clf_job *c = j->in;
    serve_reply *r = &j->reply;
    const cl_classifier_config *cfg = cl_labeler_config(s->labeler);
    int *rank = malloc(sizeof *rank * (size_t)cfg->nlabels);
    cJSON *o = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(o, "results");
    if (j->err)
        serve_error(r, 500, "classification failed: %s", cl_strerror(j->err));
    else if (!rank || !arr)
        serve_error(r, 500, "out of memory");
    for (int i = 0; i < c->n && !r->status; i++) {
        const float *p = c->probs + (size_t)i * cfg->nlabels;
        cl_labeler_rank(p, cfg->nlabels, rank);
        cJSON_AddItemToArray(arr, cli_json_label(cfg->labels, p, cfg->nlabels, rank[0], 1));
    }
    if (!r->status)
        serve_ok(r, o);
    else
        cJSON_Delete(o);
    free(rank);
}

unsigned serve_classify(serve_ctx *s, const cJSON *req, serve_reply *r)
{
    static const char *const fields[] = {"texts", "text", NULL};
    if (!s->labeler)
        return serve_error(r, 404, "the model has no classifier head: no /classify");
    if (only_fields(req, fields, r))
        return r->status;
    const cJSON *one = cJSON_GetObjectItemCaseSensitive(req, "text");
    const cJSON *many = cJSON_GetObjectItemCaseSensitive(req, "texts");
    if (!one == !many)
        return serve_error(r, 400, "give either 'texts' (an array of strings) or 'text' (a string)");
    if ((one && !cJSON_IsString(one)) || (many && !cJSON_IsArray(many)))
        return serve_error(r, 400, one ? "'text' must be a string" : "'texts' must be an array of strings");
    int n = one ? 1 : cJSON_GetArraySize(many), i = 0;
    if (n < 1)
        return serve_error(r, 400, "'texts' is empty");
    int K = cl_labeler_config(s->labeler)->nlabels;
    clf_job *c = calloc(1, sizeof *c);
    if (!c)
        return serve_error(r, 500, "out of memory");
    c->job = (serve_job){.in = c, .queue = &s->clf_batch, .what = "/classify", .release = clf_job_free};
    c->texts = malloc(sizeof *c->texts * (size_t)n), c->probs = malloc(sizeof *c->probs * (size_t)n * K);
    if (!c->texts || !c->probs) {
        clf_job_free(&c->job);
        return serve_error(r, 500, "out of memory");
    }
    for (const cJSON *t = one ? one : many->child; t && i < n; t = t->next, i++) {
        if (!cJSON_IsString(t)) {
            clf_job_free(&c->job);
            return serve_error(r, 400, "'texts'[%d] must be a string", i);
        }
        c->texts[i] = t->valuestring;
    }
    c->n = n;
    r->wait = &c->job;
    return r->status = 0;
}

/* ==== /score ===================================================================== */

static unsigned score_cells(const serve_ctx *s, const cJSON *req, int **cells, int *n,
                            serve_reply *r)
{
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(req, "cells");
    if (!f)
        return 0;
    int H = cl_encoder_out_dim(&s->m->enc), k = cJSON_GetArraySize(f), i = 0;
    if (!cJSON_IsArray(f) || k > 64)
        return serve_error(r, 400, "'cells' must be an array of at most 64 cell numbers");
    *cells = malloc(sizeof **cells * (size_t)(k + 1));
    if (!*cells)
        return serve_error(r, 500, "out of memory");
    for (const cJSON *c = f->child; c; c = c->next, i++) {
        if (!cJSON_IsNumber(c) || c->valuedouble != floor(c->valuedouble) || c->valuedouble < 0 ||
            c->valuedouble >= H)
            return serve_error(r, 400, "'cells'[%d] must be a cell number from 0 to %d", i, H - 1);
        (*cells)[i] = (int)c->valuedouble;
    }
    *n = k;
    return 0;
}

static cJSON *char_string(cJSON *o, const char *key, int32_t cp)
{
    char enc[5] = {0};
    enc[cl_text_encode_cp(cp, enc)] = 0;
    return cJSON_AddStringToObject(o, key, cp ? enc : "");
}

static cJSON *score_position(const cl_score *sc, const int32_t *cps, size_t i)
{
    cJSON *o = cJSON_CreateObject();
    char_string(o, "char", cps[i]);
    cJSON_AddNumberToObject(o, "surprisal", round(sc->surprisal[i] * 1e4) / 1e4);
    cJSON *top = cJSON_AddArrayToObject(o, "top");
    for (int q = 0; q < sc->k; q++) {
        cJSON *t = cJSON_CreateObject();
        char_string(t, "char", sc->top_cp[i * sc->k + q]);
        cJSON_AddNumberToObject(t, "prob", round(sc->top_p[i * sc->k + q] * 1e4) / 1e4);
        cJSON_AddItemToArray(top, t);
    }
    if (sc->ncells) {
        cJSON *a = cJSON_AddArrayToObject(o, "act");
        for (int q = 0; q < sc->ncells; q++)
            cJSON_AddItemToArray(a, cJSON_CreateNumber(round(sc->act[i * sc->ncells + q] * 1e4) / 1e4));
    }
    return o;
}

/* For each feature, the cells whose activation follows it most closely. */
static void score_correlated(cJSON *out, const cl_score *sc, const int32_t *cps)
{
    unsigned char *flags = malloc(sc->n + 1);
    cJSON *o = cJSON_AddObjectToObject(out, "correlated");
    for (int f = 0; flags && f < CL_SCORE_NFEATURES; f++) {
        int cells[5];
        float corr[5];
        cl_score_feature_flags(cps, sc->n, (cl_score_feature)f, flags);
        int k = cl_score_best_cells(sc, flags, 5, cells, corr);
        cJSON *arr = cJSON_AddArrayToObject(o, cl_score_feature_name((cl_score_feature)f));
        for (int i = 0; i < k; i++) {
            cJSON *c = cJSON_CreateObject();
            cJSON_AddNumberToObject(c, "cell", cells[i]);
            cJSON_AddNumberToObject(c, "r", round(corr[i] * 1e3) / 1e3);
            cJSON_AddItemToArray(arr, c);
        }
    }
    free(flags);
}

/* A /score request on the language model's worker. */
typedef struct {
    lm_turn_fn turn;       /* first: see lm_batch */
    serve_job job;
    int32_t *cps;
    size_t n;
    int *cells;
    cl_score_config c;
} score_job;

static void score_job_free(serve_job *job)
{
    score_job *j = job->in;
    free(j->cps), free(j->cells), free(job->reply.body);
    free(j);
}

static void score_turn(serve_ctx *s, serve_job *job)
{
    score_job *j = job->in;
    cl_score sc;
    cl_diag d = {{0}};
    int err = cl_score_text(s->m, j->cps, j->n, &j->c, &sc, &d);
    if (err) {
        serve_error(&job->reply, err == CL_ENOMEM ? 500 : 400, "%s", d.msg[0] ? d.msg : cl_strerror(err));
        return;
    }
    cJSON *o = cJSON_CreateObject(), *chars = cJSON_AddArrayToObject(o, "chars");
    for (size_t i = 0; i < j->n; i++)
        cJSON_AddItemToArray(chars, score_position(&sc, j->cps, i));
    cJSON_AddNumberToObject(o, "total_nats", sc.total);
    cJSON_AddNumberToObject(o, "nats_per_char", j->n ? sc.total / (double)j->n : 0);
    if (j->c.ncells) {
        cJSON *a = cJSON_AddArrayToObject(o, "cells");
        for (int i = 0; i < j->c.ncells; i++)
            cJSON_AddItemToArray(a, cJSON_CreateNumber(j->cells[i]));
    }
    if (j->c.all_states) /* "correlate" asked for every state */
        score_correlated(o, &sc, j->cps);
    cl_score_free(&sc);
    serve_ok(&job->reply, o);
}

unsigned serve_score(serve_ctx *s, const cJSON *req, serve_reply *r)
{
    static const char *const fields[] = {"text", "top_k", "cells", "correlate", NULL};
    if (!s->has_lm)
        return serve_error(r, 404, "the model has no language-model head: no /score");
    const char *text = NULL;
    double top_k = 5;
    int correlate = 0;
    score_job *j = calloc(1, sizeof *j);
    if (!j)
        return serve_error(r, 500, "out of memory");
    j->turn = score_turn;
    j->job = (serve_job){.in = j, .queue = &s->lm_batch, .what = "/score", .release = score_job_free};
    if (only_fields(req, fields, r) || get_string(req, "text", 1, &text, r) ||
        get_number(req, "top_k", 0, s->m->enc.vocab < 20 ? s->m->enc.vocab : 20, 1, &top_k, r) ||
        get_bool(req, "correlate", &correlate, r) || score_cells(s, req, &j->cells, &j->c.ncells, r) ||
        decode(s, text, "text", &j->cps, &j->n, r)) {
        score_job_free(&j->job);
        return r->status;
    }
    if (j->n > (size_t)s->lim.max_length) {
        serve_error(r, 400, "'text' has %zu characters; --max-length is %ld", j->n,
                    s->lim.max_length);
        score_job_free(&j->job);
        return r->status;
    }
    j->c = (cl_score_config){(int)top_k, j->cells, j->c.ncells, correlate,
                             (cl_precision)s->lim.precision};
    r->wait = &j->job;
    return r->status = 0;
}

/* ==== /info and the context ======================================================= */

static cJSON *string_array(char *const *v, int n)
{
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; i < n; i++)
        cJSON_AddItemToArray(a, cJSON_CreateString(v[i]));
    return a;
}

unsigned serve_info(serve_ctx *s, serve_reply *r)
{
    const cl_encoder_config *e = &s->m->enc;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "model", s->lim.model_path);
    cJSON *heads = cJSON_AddArrayToObject(o, "heads");
    cJSON *eps = cJSON_AddArrayToObject(o, "endpoints"), *lim = cJSON_CreateObject();
    for (int i = 0; i < s->m->nheads; i++)
        cJSON_AddItemToArray(heads, cJSON_CreateString(s->m->heads[i].ops->section + 5));
    const char *names[] = {"GET /info", "GET /health", s->has_lm ? "POST /generate" : NULL,
                           s->has_lm ? "POST /score" : NULL, s->tagger ? "POST /tag" : NULL,
                           s->labeler ? "POST /classify" : NULL};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (names[i])
            cJSON_AddItemToArray(eps, cJSON_CreateString(names[i]));
    cJSON_AddStringToObject(o, "cell", e->rnn.cell == CL_CELL_LSTM ? "lstm" : "gru");
    cJSON_AddNumberToObject(o, "layers", e->rnn.layers);
    cJSON_AddNumberToObject(o, "hidden", e->rnn.hidden);
    cJSON_AddNumberToObject(o, "cells", cl_encoder_out_dim(e));
    cJSON_AddNumberToObject(o, "vocab", e->vocab);
    if (s->tagger) {
        const cl_tagger_config *t = cl_tagger_config_of(s->tagger);
        cJSON_AddItemToObject(o, "tags", string_array(t->tags, t->ntags));
    }
    if (s->labeler) {
        const cl_classifier_config *c = cl_labeler_config(s->labeler);
        cJSON_AddItemToObject(o, "labels", string_array(c->labels, c->nlabels));
    }
    cJSON_AddNumberToObject(lim, "max_request_bytes", (double)s->lim.max_request_bytes);
    cJSON_AddNumberToObject(lim, "max_length", (double)s->lim.max_length);
    cJSON_AddNumberToObject(lim, "timeout_s", (double)s->lim.timeout_s);
    cJSON_AddItemToObject(o, "limits", lim);
    return serve_ok(r, o);
}

static int precision_error(int p, int e, char *err, size_t errsz)
{
    snprintf(err, errsz, "--precision %s: %s", cl_precision_name((cl_precision)p),
             e == CL_EINVAL ? "this CPU has neither AMX nor AVX512-BF16" : cl_strerror(e));
    return e;
}

int serve_ctx_init(serve_ctx *s, cl_model *m, const serve_limits *lim, char *err, size_t errsz)
{
    memset(s, 0, sizeof *s);
    s->m = m, s->lim = *lim;
    s->has_lm = cl_model_head(m, "head.lm") != NULL;
    cl_diag d = {{0}};
    /* A /tag or /classify batch takes at most --batch requests: the head
     * runs forward passes of --batch sentences or texts anyway, and a
     * smaller batch answers its first requests sooner. */
    int e = CL_OK, q = lim->max_queue, t = lim->threads, jobs = lim->max_batch;
    if ((e = serve_batcher_start(&s->tag_batch, tag_batch, s, jobs, q, t)) ||
        (e = serve_batcher_start(&s->clf_batch, clf_batch, s, jobs, q, t)) ||
        (e = serve_batcher_start(&s->lm_batch, lm_batch, s, SERVE_BATCH_JOBS, q, t)))
        return snprintf(err, errsz, "cannot start the heads' threads"), e;
    if (cl_model_head(m, "head.tagger") &&
        (e = cl_annotator_create(&s->ann, m, &d)))
        return snprintf(err, errsz, "tagger: %s", d.msg[0] ? d.msg : cl_strerror(e)), e;
    s->tagger = s->ann ? cl_annotator_tagger(s->ann) : NULL;
    if (s->tagger && (e = cl_tagger_set_precision(s->tagger, (cl_precision)lim->precision)))
        return precision_error(lim->precision, e, err, errsz);
    if (cl_model_head(m, "head.classifier") &&
        (e = cl_labeler_create(&s->labeler, m, lim->max_batch, &d)))
        return snprintf(err, errsz, "classifier: %s", d.msg[0] ? d.msg : cl_strerror(e)), e;
    if (s->labeler && (e = cl_labeler_set_precision(s->labeler, (cl_precision)lim->precision)))
        return precision_error(lim->precision, e, err, errsz);
    return CL_OK;
}

void serve_ctx_stop(serve_ctx *s)
{
    serve_batcher_stop(&s->tag_batch);
    serve_batcher_stop(&s->clf_batch);
    serve_batcher_stop(&s->lm_batch);
}

void serve_ctx_free(serve_ctx *s)
{
    serve_batcher_destroy(&s->tag_batch);
    serve_batcher_destroy(&s->clf_batch);
    serve_batcher_destroy(&s->lm_batch);
    cl_labeler_free(s->labeler);
    cl_annotator_free(s->ann);
}
