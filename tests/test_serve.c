/* charlstm serve as a client sees it: the built tool is started on a free
 * loopback port with a model holding all three heads, and every endpoint
 * is asked over HTTP with curl (Debian's; see scripts/deps.sh).  Checked:
 * the answers equal the command line's (generate with a seed, tag,
 * classify), streamed generation equals the plain one, 20+ kinds of bad
 * request get a 4xx with a JSON error and leave the server healthy,
 * concurrent clients get the answers a lone one gets, and SIGTERM lets a
 * request in flight finish. */
#include <cjson/cJSON.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cl_classifier.h"
#include "cl_lm.h"
#include "cl_tagger.h"
#include "cl_test.h"
#include "lm_test.h"
#include "serve.h"

static char model[600], url[128], out[1 << 20];
static pid_t server = -1;

/* ==== a model with an lm, a tagger and a classifier (random weights) ======= */

static const char corpus[] = "The cat sat on the mat. A dog ran quickly, \"naïve café\" 日本.\n";

static void add_tagger(cl_model *m, cl_rng *rng)
{
    const char *forms[] = {"The", "cat", "sat", "quickly", "."};
    const char *tags[] = {"DET", "NOUN", "VERB", "ADV", "PUNCT"};
    cl_tagger_corpus tc;
    cl_tagger_corpus_init(&tc);
    ck_assert_int_eq(cl_tagger_corpus_add(&tc, forms, tags, 5), 0);
    cl_tagger_config cfg = cl_tagger_config_defaults();
    cfg.feat.buckets = 1 << 10;
    cfg.char_emb = 4, cfg.char_hidden = 4, cfg.feat_emb = 4, cfg.word_emb = 4;
    cfg.word_hidden = 4, cfg.use_lm = 1;
    ck_assert_int_eq(cl_tagger_config_build(&cfg, &tc, 1), 0);
    ck_assert_int_eq(cl_model_add_head(m, &cl_tagger_head_ops, cl_tagger_config_dup(&cfg), rng), 0);
    cl_tagger_config_clear(&cfg);
    cl_tagger_corpus_free(&tc);
}

static void write_model(const char *path)
{
    int32_t *cps;
    size_t n;
    ck_assert_int_eq(cl_text_decode(corpus, strlen(corpus), NULL, "corpus", &cps, &n, NULL), 0);
    cl_vocab v = lm_test_vocab(cps, n);
    cl_encoder_config ec = {cl_vocab_size(&v), 8, {CL_CELL_LSTM, 8, 16, 1, 0, 0}};
    cl_text_opts to = cl_text_defaults();
    cl_rng rng;
    cl_rng_seed(&rng, 7);
    cl_model *m;
    ck_assert_int_eq(cl_model_create(&m, &to, &v, &ec, &rng), 0);
    ck_assert_int_eq(cl_model_add_head(m, &cl_lm_head_ops, cl_lm_head_new(0), &rng), 0);
    add_tagger(m, &rng);
    const char *labels[] = {"neg", "pos"};
    cl_classifier_config *c;
    ck_assert_int_eq(cl_classifier_config_new(&c, labels, 2, NULL), 0);
    c->hidden = 8;
    ck_assert_int_eq(cl_model_add_head(m, &cl_classifier_head_ops, c, &rng), 0);
    ck_assert_int_eq(cl_model_save(m, path, NULL, NULL, NULL), 0);
    cl_model_free(m);
}

/* ==== the server ============================================================== */

static int have(const char *prog)
{
    char cmd[256], buf[256];
    snprintf(cmd, sizeof cmd, "command -v %s >/dev/null", prog);
    return cl_test_shell(cmd, buf, sizeof buf) == 0;
}

/* Start `charlstm serve` on port 0 (the kernel picks a free one) and read
 * its address from the line it prints; wait for /health. */
static void start_server(const char *extra)
{
    char log[700], cmd[2048], buf[4096];
    snprintf(model, sizeof model, "%s/all.model", cl_test_tmpdir());
    snprintf(log, sizeof log, "%s/serve.out", cl_test_tmpdir());
    write_model(model);
    server = fork();
    ck_assert_int_ge(server, 0);
    if (server == 0) {
        ck_assert_ptr_nonnull(freopen(log, "w", stdout));
        ck_assert_ptr_nonnull(freopen("/dev/null", "w", stderr));
        execl(CL_TOOL, CL_TOOL, "serve", "-m", model, "--port", "0", "--bind", "127.0.0.1",
              "--max-request-bytes", "65536", "--max-length", "2000", "--threads", "1",
              "--http-threads", "2",
              extra ? extra : (char *)NULL, (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 200 && !url[0]; i++) { /* up to 10 s */
        struct timespec t = {0, 50 * 1000 * 1000};
        nanosleep(&t, NULL);
        FILE *f = fopen(log, "r");
        if (f && fgets(buf, sizeof buf, f)) {
            char *u = strstr(buf, "http://");
            if (u) /* "http://127.0.0.1:PORT/": keep all before the path */
                snprintf(url, sizeof url, "%.*s", (int)(7 + strcspn(u + 7, "/\n")), u);
        }
        if (f)
            fclose(f);
    }
    ck_assert_msg(url[0], "the server printed no address");
    snprintf(cmd, sizeof cmd, "curl -sf %s/health", url);
    ck_assert_int_eq(cl_test_shell(cmd, buf, sizeof buf), 0);
}

static void stop_server(void)
{
    if (server > 0) {
        kill(server, SIGTERM);
        waitpid(server, NULL, 0);
    }
    server = -1, url[0] = 0;
}

static int skip_without_tools(const char *test)
{
    if (access(CL_TOOL, X_OK) != 0) {
        cl_test_skip(test, "%s not built", CL_TOOL);
        return 1;
    }
    if (!have("curl")) {
        cl_test_skip(test, "curl is not installed (make deps installs it)");
        return 1;
    }
    start_server(NULL);
    return 0;
}

/* ==== requests ================================================================= */

/* METHOD path with body (len bytes; NULL: none) into out; returns the HTTP
 * status (0 if curl failed). */
static int http_raw(const char *method, const char *path, const char *body, size_t len)
{
    char file[700], cmd[2048];
    snprintf(file, sizeof file, "%s/body", cl_test_tmpdir());
    if (body)
        cl_test_write(file, body, len);
    snprintf(cmd, sizeof cmd, "curl -s -X %s %s%s%s -w '\\n%%{http_code}' '%s%s'", method,
             body ? "--data-binary @" : "", body ? file : "",
             body ? " -H 'Content-Type: application/json'" : "", url, path);
    cl_test_shell(cmd, out, sizeof out);
    char *nl = strrchr(out, '\n');
    if (!nl)
        return 0;
    *nl = 0;
    return atoi(nl + 1);
}

static int http(const char *method, const char *path, const char *body)
{
    return http_raw(method, path, body, body ? strlen(body) : 0);
}

/* POST body to path, expect 200, parse the answer. */
static cJSON *post_ok(const char *path, const char *body)
{
    int st = http("POST", path, body);
    ck_assert_msg(st == 200, "POST %s %s: %d %s", path, body, st, out);
    cJSON *j = cJSON_Parse(out);
    ck_assert_msg(j != NULL, "not JSON: %s", out);
    return j;
}

static const char *str(const cJSON *o, const char *key)
{
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(o, key);
    ck_assert_msg(cJSON_IsString(f), "no string '%s'", key);
    return f->valuestring;
}

static double num(const cJSON *o, const char *key)
{
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(o, key);
    ck_assert_msg(cJSON_IsNumber(f), "no number '%s'", key);
    return f->valuedouble;
}

/* ==== every endpoint ============================================================ */

START_TEST(every_endpoint_answers)
{
    if (skip_without_tools("every_endpoint_answers"))
        return;
    ck_assert_int_eq(http("GET", "/", NULL), 200);
    ck_assert_ptr_nonnull(strstr(out, "<title>charlstm</title>"));
    ck_assert_ptr_null(strstr(out, "http://")); /* the page fetches nothing from elsewhere */
    ck_assert_ptr_null(strstr(out, "https://"));
    ck_assert_int_eq(http("GET", "/info", NULL), 200);
    ck_assert_ptr_nonnull(strstr(out, "\"heads\":[\"lm\",\"tagger\",\"classifier\"]"));
    ck_assert_ptr_nonnull(strstr(out, "\"labels\":[\"neg\",\"pos\"]"));
    ck_assert_int_eq(http("GET", "/health", NULL), 200);
    ck_assert_ptr_nonnull(strstr(out, "\"status\":\"ok\""));

    cJSON *j = post_ok("/score", "{\"text\": \"The \\\"cat\\\"\\nsat\", \"top_k\": 3, "
                                 "\"cells\": [0, 15], \"correlate\": true}");
    const cJSON *chars = cJSON_GetObjectItemCaseSensitive(j, "chars");
    ck_assert_int_eq(cJSON_GetArraySize(chars), 13);
    double total = 0;
    for (const cJSON *c = chars->child; c; c = c->next) {
        ck_assert(num(c, "surprisal") > 0);
        total += num(c, "surprisal");
        ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(c, "top")), 3);
        const cJSON *act = cJSON_GetObjectItem(c, "act");
        ck_assert_int_eq(cJSON_GetArraySize(act), 2);
        ck_assert(fabs(act->child->valuedouble) <= 1); /* an LSTM's h is tanh-bounded */
    }
    ck_assert(fabs(total - num(j, "total_nats")) < 1e-2);
    ck_assert_str_eq(str(chars->child, "char"), "T");
    const cJSON *corr = cJSON_GetObjectItem(j, "correlated");
    ck_assert_int_gt(cJSON_GetArraySize(cJSON_GetObjectItem(corr, "in_quotes")), 0);
    ck_assert_int_gt(cJSON_GetArraySize(cJSON_GetObjectItem(corr, "line_start")), 0);
    cJSON_Delete(j);
    stop_server();
}
END_TEST

/* ==== the same answers as the command line ======================================= */

/* The CLI prints each sample and a newline: the server's samples, joined so. */
static void same_generation(const char *cli_opts, const char *json)
{
    char cli[65536];
    ck_assert_int_eq(cl_test_run(cli, sizeof cli, "generate -m '%s' %s 2>/dev/null", model,
                                 cli_opts), 0);
    cJSON *j = post_ok("/generate", json);
    char joined[65536] = "";
    for (const cJSON *s = cJSON_GetObjectItem(j, "samples")->child; s; s = s->next)
        strcat(strcat(joined, str(s, "text")), "\n");
    ck_assert_msg(strcmp(cli, joined) == 0, "%s\nCLI:    [%s]\nserver: [%s]", cli_opts, cli, joined);
    cJSON_Delete(j);
}

START_TEST(generate_equals_the_command_line)
{
    if (skip_without_tools("generate_equals_the_command_line"))
        return;
    same_generation("--prompt 'The cat' -n 80 --seed 3", "{\"prompt\": \"The cat\", \"length\": 80, "
                    "\"seed\": 3}");
    same_generation("--prompt 'A dog' -n 60 --seed 5 --temperature 0.7 --top-k 5 --stop ' ' "
                    "--stop 't' --num-samples 3 --no-echo",
                    "{\"prompt\": \"A dog\", \"length\": 60, \"seed\": 5, \"temperature\": 0.7, "
                    "\"top_k\": 5, \"stop\": [\" \", \"t\"], \"num_samples\": 3, \"echo\": false}");
    same_generation("--prompt 'naïve' -n 50 --seed 9 --top-p 0.8 --temperature 0",
                    "{\"prompt\": \"naïve\", \"length\": 50, \"seed\": 9, \"top_p\": 0.8, "
                    "\"temperature\": 0}");
    char pf[700];
    snprintf(pf, sizeof pf, "%s/prompt.txt", cl_test_tmpdir());
    cl_test_write(pf, "The\ncat", 7);
    char opts[1024];
    snprintf(opts, sizeof opts, "--prompt-file '%s' -n 40 --seed 2 --stop '\\n'", pf);
    same_generation(opts, "{\"prompt\": \"The\\ncat\", \"length\": 40, \"seed\": 2, \"stop\": \"\\n\"}");
    stop_server();
}
END_TEST

START_TEST(streamed_generation_equals_the_plain_one)
{
    if (skip_without_tools("streamed_generation_equals_the_plain_one"))
        return;
    const char *req = "{\"prompt\": \"The \", \"length\": 120, \"seed\": 4, \"num_samples\": 2%s}";
    char body[256];
    snprintf(body, sizeof body, req, "");
    cJSON *j = post_ok("/generate", body);
    char want[8192] = "", got[8192] = "";
    for (const cJSON *s = cJSON_GetObjectItem(j, "samples")->child; s; s = s->next)
        strcat(want, str(s, "text"));
    cJSON_Delete(j);
    snprintf(body, sizeof body, req, ", \"stream\": true");
    ck_assert_int_eq(http("POST", "/generate", body), 200);
    int events = 0, done = 0;
    for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
        done |= strcmp(line, "event: done") == 0;
        if (strncmp(line, "data: ", 6) != 0)
            continue;
        cJSON *e = cJSON_Parse(line + 6);
        ck_assert_ptr_nonnull(e);
        const cJSON *t = cJSON_GetObjectItem(e, "text");
        if (t)
            strcat(got, t->valuestring), events++;
        cJSON_Delete(e);
    }
    ck_assert(done);
    ck_assert_int_ge(events, 100); /* character by character, not all at once */
    ck_assert_str_eq(got, want);
    stop_server();
}
END_TEST

/* Code points [a, b) of the UTF-8 string s, into buf. */
static const char *cp_slice(const char *s, long a, long b, char *buf)
{
    long k = 0;
    char *w = buf;
    for (; *s; s++) {
        k += ((unsigned char)*s & 0xC0) != 0x80;
        if (k - 1 >= a && k - 1 < b)
            *w++ = *s;
    }
    *w = 0;
    return buf;
}

/* The sentences of a /tag answer as `charlstm tag` prints them: form/TAG
 * separated by spaces, a line per sentence (between: what separates them). */
static void tag_lines(const cJSON *answer, const char *between, char *line, size_t cap)
{
    line[0] = 0;
    for (const cJSON *s = cJSON_GetObjectItem(answer, "sentences")->child; s; s = s->next) {
        const cJSON *words = cJSON_GetObjectItem(s, "words");
        for (const cJSON *t = words->child; t; t = t->next)
            snprintf(line + strlen(line), cap - strlen(line), "%s%s/%s", t == words->child ? "" : " ",
                     str(t, "form"), str(t, "tag"));
        snprintf(line + strlen(line), cap - strlen(line), "%s", s->next ? between : "\n");
    }
}

START_TEST(tag_equals_the_command_line)
{
    if (skip_without_tools("tag_equals_the_command_line"))
        return;
    const char *text = "The cat sat quickly.\n\nA naïve café, 日本 didn't sit.";
    char cli[8192], input[700], line[8192] = "", w[512];
    snprintf(input, sizeof input, "%s/tag.txt", cl_test_tmpdir());
    cl_test_write(input, text, strlen(text));
    ck_assert_int_eq(cl_test_run(cli, sizeof cli, "tag -m '%s' '%s'", model, input), 0);
    cJSON *req = cJSON_CreateObject();
    cJSON_AddStringToObject(req, "text", text);
    char *body = cJSON_PrintUnformatted(req);
    cJSON *j = post_ok("/tag", body);
    free(body), cJSON_Delete(req);
    const cJSON *sents = cJSON_GetObjectItem(j, "sentences");
    ck_assert_int_eq(cJSON_GetArraySize(sents), 2); /* the blank line has no words */
    for (const cJSON *s = sents->child; s; s = s->next) {
        for (const cJSON *t = cJSON_GetObjectItem(s, "words")->child; t; t = t->next) {
            /* offsets in code points of the input text */
            ck_assert_str_eq(cp_slice(text, (long)num(t, "start"), (long)num(t, "end"), w),
                             str(t, "form"));
            ck_assert(num(t, "prob") > 0 && num(t, "prob") <= 1);
            ck_assert_str_eq(str(cJSON_GetObjectItem(t, "top")->child, "tag"), str(t, "tag"));
        }
    }
    tag_lines(j, "\n\n", line, sizeof line); /* the blank input line: a blank output line */
    ck_assert_str_eq(line, cli);
    cJSON_Delete(j);
    /* pre-tokenized: the same words give the same tags */
    j = post_ok("/tag", "{\"sentences\": [[\"The\", \"cat\", \"sat\", \"quickly\", \".\"]]}");
    tag_lines(j, "\n", line, sizeof line);
    ck_assert(strncmp(line, cli, strlen(line) - 1) == 0); /* the first sentence's line */
    cJSON_Delete(j);
    stop_server();
}
END_TEST

/* The same JSON but for numbers within 1e-5: a sentence tagged in a batch
 * with others is padded differently, and the products round differently in
 * the last bits. */
static int near_same(const cJSON *a, const cJSON *b)
{
    if (cJSON_IsNumber(a) && cJSON_IsNumber(b))
        return fabs(a->valuedouble - b->valuedouble) < 1e-5;
    if ((a->type & 0xFF) != (b->type & 0xFF) || cJSON_GetArraySize(a) != cJSON_GetArraySize(b))
        return 0;
    if (cJSON_IsString(a))
        return strcmp(a->valuestring, b->valuestring) == 0;
    for (a = a->child, b = b->child; a && b; a = a->next, b = b->next)
        if ((a->string && strcmp(a->string, b->string)) || !near_same(a, b))
            return 0;
    return 1;
}

START_TEST(classify_equals_the_command_line)
{
    if (skip_without_tools("classify_equals_the_command_line"))
        return;
    const char *texts[] = {"a good film", "", "naïve café 日本 and a very long line of text "
                           "that goes on and on"};
    char cli[8192], input[700];
    snprintf(input, sizeof input, "%s/clf.txt", cl_test_tmpdir());
    FILE *f = fopen(input, "w");
    for (int i = 0; i < 3; i++)
        fprintf(f, "%s\n", texts[i]);
    fclose(f);
    ck_assert_int_eq(cl_test_run(cli, sizeof cli, "classify -m '%s' --all '%s'", model, input), 0);
    cJSON *req = cJSON_CreateObject();
    cJSON_AddItemToObject(req, "texts", cJSON_CreateStringArray(texts, 3));
    char *body = cJSON_PrintUnformatted(req);
    cJSON *j = post_ok("/classify", body);
    free(body), cJSON_Delete(req);
    char *save = NULL, *ln = strtok_r(cli, "\n", &save);
    for (const cJSON *r = cJSON_GetObjectItem(j, "results")->child; r; r = r->next) {
        ck_assert_ptr_nonnull(ln);
        char best[32], other[32];
        double pb, po;
        ck_assert_int_eq(sscanf(ln, "%31s %lf %31s %lf", best, &pb, other, &po), 4);
        ck_assert_str_eq(str(r, "label"), best);
        const cJSON *probs = cJSON_GetObjectItem(r, "probabilities");
        ck_assert(fabs(num(probs, best) - pb) < 6e-5 && fabs(num(probs, other) - po) < 6e-5);
        ck_assert(fabs(num(r, "probability") - pb) < 6e-5);
        ln = strtok_r(NULL, "\n", &save);
    }
    ck_assert_ptr_null(ln);
    /* and the JSON of each line is the result */
    ck_assert_int_eq(cl_test_run(cli, sizeof cli, "classify -m '%s' --all --output json '%s'",
                                 model, input), 0);
    save = NULL, ln = strtok_r(cli, "\n", &save);
    for (const cJSON *r = cJSON_GetObjectItem(j, "results")->child; r; r = r->next) {
        cJSON *line = ln ? cJSON_Parse(ln) : NULL;
        ck_assert_msg(line && near_same(line, r), "%s", ln);
        cJSON_Delete(line);
        ln = strtok_r(NULL, "\n", &save);
    }
    ck_assert_ptr_null(ln);
    cJSON_Delete(j);
    stop_server();
}
END_TEST

/* ==== bad requests ================================================================ */

START_TEST(bad_requests_get_4xx_and_the_server_lives)
{
    if (skip_without_tools("bad_requests_get_4xx_and_the_server_lives"))
        return;
    static const struct {
        const char *method, *path, *body;
        int status;
        const char *says;
    } bad[] = {
        {"POST", "/generate", "{\"prompt\": ", 400, "malformed JSON"},
        {"POST", "/generate", "[1, 2]", 400, "JSON object"},
        {"POST", "/generate", "", 400, "empty body"},
        {"POST", "/generate", "{\"prompt\": \"a\xff\"}", 400, "invalid UTF-8 at byte 13"},
        {"POST", "/score", "{}", 400, "missing field 'text'"},
        {"POST", "/generate", "{\"length\": \"10\"}", 400, "'length' must be a number"},
        {"POST", "/generate", "{\"temperature\": -1}", 400, "'temperature' must be between"},
        {"POST", "/generate", "{\"length\": 1.5}", 400, "'length' must be an integer"},
        {"POST", "/generate", "{\"promt\": \"x\"}", 400, "unknown field 'promt'"},
        {"GET", "/nope", NULL, 404, "no endpoint GET /nope"},
        {"GET", "/generate", NULL, 405, "/generate takes POST"},
        {"POST", "/health", "{}", 405, "/health takes GET"},
        {"POST", "/tag", "{\"text\": \"a\", \"sentences\": [[\"a\"]]}", 400, "either"},
        {"POST", "/tag", "{\"sentences\": [[\"a\", \"\"]]}", 400, "'sentences'[0][1]"},
        {"POST", "/classify", "{\"texts\": []}", 400, "'texts' is empty"},
        {"POST", "/classify", "{\"texts\": [1]}", 400, "'texts'[0] must be a string"},
        {"POST", "/score", "{\"text\": \"a\", \"cells\": [9999]}", 400, "'cells'[0]"},
        {"POST", "/generate", "{\"stop\": [\"\"]}", 400, "'stop'[0]"},
        {"POST", "/generate", "{\"length\": 2001}", 400, "between 0 and 2000"},
        {"POST", "/generate", "{\"num_samples\": 0}", 400, "'num_samples'"},
        {"POST", "/generate", "{\"echo\": 1}", 400, "'echo' must be true or false"},
        {"POST", "/score", "{\"text\": true}", 400, "'text' must be a string"},
    };
    int n = (int)(sizeof bad / sizeof bad[0]);
    for (int i = 0; i < n; i++) {
        int st = http(bad[i].method, bad[i].path, bad[i].body);
        ck_assert_msg(st == bad[i].status, "%s %s %s: %d %s", bad[i].method, bad[i].path,
                      bad[i].body, st, out);
        cJSON *j = cJSON_Parse(out);
        ck_assert_msg(j && strstr(str(j, "error"), bad[i].says), "%s: %s", bad[i].body, out);
        cJSON_Delete(j);
    }
    /* a NUL byte, nesting past cJSON's limit, a body past --max-request-bytes */
    ck_assert_int_eq(http_raw("POST", "/generate", "{\"prompt\": \"a\0\"}", 16), 400);
    ck_assert_ptr_nonnull(strstr(out, "NUL byte at byte 13"));
    static char deep[20001], big[70000];
    memset(deep, '[', 20000);
    ck_assert_int_eq(http("POST", "/classify", deep), 400);
    memset(big, ' ', sizeof big - 1);
    ck_assert_int_eq(http("POST", "/classify", big), 413);
    ck_assert_ptr_nonnull(strstr(out, "--max-request-bytes"));
    ck_assert_int_eq(http("GET", "/health", NULL), 200);
    ck_assert_int_eq(http("POST", "/classify", "{\"text\": \"still here\"}"), 200);
    stop_server();
}
END_TEST

/* ==== many clients, and SIGTERM ===================================================== */

/* Every file PREFIX1.out .. PREFIX64.out holds the answer want. */
static void all_answers_are(const char *prefix, const char *want)
{
    cJSON *w = cJSON_Parse(want);
    ck_assert_ptr_nonnull(w);
    for (int i = 1; i <= 64; i++) {
        char path[700], buf[65536];
        snprintf(path, sizeof path, "%s/%s%d.out", cl_test_tmpdir(), prefix, i);
        FILE *f = fopen(path, "r");
        ck_assert_ptr_nonnull(f);
        buf[fread(buf, 1, sizeof buf - 1, f)] = 0;
        fclose(f);
        cJSON *got = cJSON_Parse(buf);
        ck_assert_msg(got && near_same(w, got), "%s: %s\nwant %s", path, buf, want);
        cJSON_Delete(got);
    }
    cJSON_Delete(w);
}

START_TEST(concurrent_clients_get_the_lone_answer)
{
    if (skip_without_tools("concurrent_clients_get_the_lone_answer"))
        return;
    char want_c[16384], want_t[16384], cmd[4096], buf[4096];
    const char *c = "{\"texts\": [\"a good film\", \"the cat\"]}";
    const char *t = "{\"text\": \"The cat sat quickly.\\nA dog ran.\"}";
    ck_assert_int_eq(http("POST", "/classify", c), 200);
    snprintf(want_c, sizeof want_c, "%.16000s", out);
    ck_assert_int_eq(http("POST", "/tag", t), 200);
    snprintf(want_t, sizeof want_t, "%.16000s", out);
    /* 64 requests to each, 16 at a time (one curl process: spawning 128
     * would measure the machine, not the server) */
    char cf[700], tf[700];
    snprintf(cf, sizeof cf, "%s/c.json", cl_test_tmpdir());
    snprintf(tf, sizeof tf, "%s/t.json", cl_test_tmpdir());
    cl_test_write(cf, c, strlen(c));
    cl_test_write(tf, t, strlen(t));
    snprintf(cmd, sizeof cmd, "cd '%s' && curl -s --no-progress-meter -Z --parallel-max 16 "
             "-d @c.json '%s/classify?[1-64]' -o 'c#1.out' && curl -s --no-progress-meter -Z "
             "--parallel-max 16 -d @t.json '%s/tag?[1-64]' -o 't#1.out'",
             cl_test_tmpdir(), url, url);
    ck_assert_int_eq(cl_test_shell(cmd, buf, sizeof buf), 0);
    all_answers_are("c", want_c);
    all_answers_are("t", want_t);
    stop_server();
}
END_TEST

/* The batcher itself, white box: while one batch runs, the jobs posted
 * queue, and the next batch takes all of them at once; nobody waits for it
 * but the jobs' wake calls. */
typedef struct {
    serve_batcher b;
    int sizes[8], nbatches;  /* written by the worker */
    atomic_int started, release, woken;
    serve_job jobs[8];
    int in[8], res[8];
} fake_head;

static void wait_until(atomic_int *v, int at_least)
{
    for (int i = 0; i < 2000 && atomic_load(v) < at_least; i++) { /* 10 s at most */
        struct timespec t = {0, 5 * 1000 * 1000};
        nanosleep(&t, NULL);
    }
    ck_assert_int_ge(atomic_load(v), at_least);
}

static void fake_run(void *state, serve_job **jobs, int n)
{
    fake_head *f = state;
    f->sizes[f->nbatches++] = n;
    atomic_store(&f->started, 1);
    if (f->nbatches == 1)
        wait_until(&f->release, 1);
    for (int i = 0; i < n; i++)
        *(int *)jobs[i]->out = 2 * *(int *)jobs[i]->in, jobs[i]->err = i;
}

static void fake_wake(void *arg)
{
    atomic_fetch_add((atomic_int *)arg, 1);
}

/* Posts job i (its wake counts into f->woken). */
static int fake_post(fake_head *f, int i)
{
    f->in[i] = i + 1, f->res[i] = -1;
    f->jobs[i] = (serve_job){.in = &f->in[i], .out = &f->res[i], .wake = fake_wake,
                             .wake_arg = &f->woken};
    return serve_batch_post(&f->b, &f->jobs[i]);
}

/* Start f's head (max_pending), post job 0, and once its batch runs (held
 * there until f->release), jobs 1..n-1. */
static void fake_start(fake_head *f, int max_pending, int n)
{
    ck_assert_int_eq(serve_batcher_start(&f->b, fake_run, f, SERVE_BATCH_JOBS, max_pending, 1), 0);
    ck_assert_int_eq(fake_post(f, 0), 0);
    wait_until(&f->started, 1); /* the first batch runs before the others come */
    for (int i = 1; i < n; i++)
        ck_assert_int_eq(fake_post(f, i), 0);
}

START_TEST(batcher_takes_every_waiting_client)
{
    static fake_head f;
    fake_start(&f, 16, 8);
    atomic_store(&f.release, 1);
    wait_until(&f.woken, 8);
    serve_batcher_destroy(&f.b);
    ck_assert_int_eq(f.nbatches, 2);
    ck_assert_int_eq(f.sizes[0], 1);
    ck_assert_int_eq(f.sizes[1], 7);
    ck_assert_int_eq(f.b.batches, 2);
    ck_assert_int_eq(f.b.jobs, 8);
    for (int i = 0; i < 8; i++) /* each client its own answer */
        ck_assert_int_eq(f.res[i], 2 * (i + 1));
    ck_assert_int_eq(f.jobs[7].err, 6);
}
END_TEST

/* Bounded memory: a full queue refuses (the endpoint answers 503), and so
 * does a stopped head; what was posted is still run. */
START_TEST(batcher_refuses_when_full)
{
    static fake_head f;
    fake_start(&f, 4, 4);
    ck_assert_int_eq(fake_post(&f, 4), SERVE_EBUSY); /* 1 running + 3 queued */
    atomic_store(&f.release, 1);
    serve_batcher_stop(&f.b); /* finishes the four */
    ck_assert_int_eq(atomic_load(&f.woken), 4);
    ck_assert_int_eq(f.res[3], 8);
    ck_assert_int_eq(f.res[4], -1);
    ck_assert_int_eq(fake_post(&f, 5), SERVE_EBUSY);
    serve_batcher_destroy(&f.b);
}
END_TEST

/* Concurrent clients share batches: while a large /tag request runs, 15
 * small ones arrive; they wait for the head with their connections
 * suspended, so the next batch takes all that arrived.  (When each HTTP
 * thread waited for its own request, a batch held at most --http-threads
 * requests: 16 took at least 8 batches.)  Each answer is the command
 * line's. */
START_TEST(concurrent_requests_share_batches)
{
    if (skip_without_tools("concurrent_requests_share_batches"))
        return;
    const char *small = "The cat sat quickly.\nA dog ran.";
    char cli[4096], path[700], cmd[4096], buf[4096], line[4096];
    snprintf(path, sizeof path, "%s/small.txt", cl_test_tmpdir());
    cl_test_write(path, small, strlen(small));
    ck_assert_int_eq(cl_test_run(cli, sizeof cli, "tag -m '%s' '%s'", model, path), 0);
    snprintf(path, sizeof path, "%s/small.json", cl_test_tmpdir());
    snprintf(buf, sizeof buf, "{\"text\": \"The cat sat quickly.\\nA dog ran.\"}");
    cl_test_write(path, buf, strlen(buf));
    static char big[65536];
    size_t n = (size_t)sprintf(big, "{\"text\": \"");
    for (int i = 0; i < 4000; i++) /* 4,000 sentences: one long batch, within 64 KB */
        n += (size_t)sprintf(big + n, "The cat sat.\\n");
    sprintf(big + n, "\"}");
    snprintf(path, sizeof path, "%s/big.json", cl_test_tmpdir());
    cl_test_write(path, big, strlen(big));
    snprintf(cmd, sizeof cmd, "cd '%s' && (curl -s -d @big.json '%s/tag' -o big.out &) && "
             "for i in $(seq 500); do curl -s '%s/health' | grep -q '\"active\":2' && break; "
             "sleep 0.02; done; curl -s --no-progress-meter -Z --parallel-immediate --parallel-max 15 "
             "-d @small.json "
             "'%s/tag?[1-15]' -o 's#1.out'; for i in $(seq 500); do curl -s '%s/health' | "
             "grep -q '\"active\":1,' && break; sleep 0.02; done",
             cl_test_tmpdir(), url, url, url, url);
    ck_assert_int_eq(cl_test_shell(cmd, buf, sizeof buf), 0);
    ck_assert_int_eq(http("GET", "/health", NULL), 200);
    cJSON *h = cJSON_Parse(out), *tag = cJSON_GetObjectItem(h, "tag");
    ck_assert_int_eq((int)num(tag, "requests"), 16);
    ck_assert_msg(num(tag, "batches") <= 3, "16 requests in %g batches", num(tag, "batches"));
    cJSON_Delete(h);
    for (int i = 1; i <= 15; i++) {
        snprintf(cmd, sizeof cmd, "cat '%s/s%d.out'", cl_test_tmpdir(), i);
        cl_test_shell(cmd, out, sizeof out);
        cJSON *j = cJSON_Parse(out);
        ck_assert_msg(j != NULL, "answer %d: %s", i, out);
        tag_lines(j, "\n", line, sizeof line);
        ck_assert_str_eq(line, cli);
        cJSON_Delete(j);
    }
    stop_server();
}
END_TEST

START_TEST(sigterm_finishes_requests_in_flight)
{
    if (skip_without_tools("sigterm_finishes_requests_in_flight"))
        return;
    char cmd[2048], buf[1 << 16];
    /* a slow request (16 samples of 2000 characters), then SIGTERM while it
     * runs: /health counts it (and itself) as active once it has arrived,
     * however slow the machine is */
    snprintf(cmd, sizeof cmd, "curl -s %s/generate -d '{\"length\": 2000, \"num_samples\": 16}' "
             "-o '%s/long.json' -w '%%{http_code}' & for i in $(seq 300); do "
             "curl -s %s/health | grep -Eq '\"active\": *([2-9]|[1-9][0-9])' && break; "
             "sleep 0.05; done; kill -TERM %d; wait $!",
             url, cl_test_tmpdir(), url, (int)server);
    ck_assert_int_eq(cl_test_shell(cmd, buf, sizeof buf), 0);
    ck_assert_str_eq(buf, "200");
    int status;
    ck_assert_int_eq(waitpid(server, &status, 0), server);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    server = -1;
    snprintf(cmd, sizeof cmd, "cat '%s/long.json'", cl_test_tmpdir());
    cl_test_shell(cmd, buf, sizeof buf);
    cJSON *j = cJSON_Parse(buf);
    ck_assert_msg(j && cJSON_GetArraySize(cJSON_GetObjectItem(j, "samples")) == 16, "%.200s", buf);
    cJSON_Delete(j);
}
END_TEST

/* ==== the page in a browser ========================================================= */

START_TEST(page_streams_and_shows_surprisal_in_chromium)
{
    if (!have("chromium")) { /* make deps installs it: CI runs this */
        cl_test_skip("page_streams_and_shows_surprisal_in_chromium", "chromium is not installed");
        return;
    }
    if (skip_without_tools("page_streams_and_shows_surprisal_in_chromium"))
        return;
    static char dom[1 << 18];
    char cmd[2048], png[700];
    /* the prompt typed in through the address; generation streams into gen-out */
    snprintf(cmd, sizeof cmd, "'%s/scripts/serve_page.sh' dom '%s/?prompt=The%%20cat&text=The%%20cat"
             "%%20sat.&run=generate,score,tag,classify'", CL_SRCDIR, url);
    ck_assert_int_eq(cl_test_shell(cmd, dom, sizeof dom), 0);
    char *gen = strstr(dom, "id=\"gen-out\" class=\"out\" data-done=\"1\">The cat");
    ck_assert_msg(gen != NULL, "no streamed text: %.2000s", dom);
    ck_assert_int_gt((int)strcspn(gen + 45, "<"), 100); /* prompt and 300 characters */
    ck_assert_ptr_nonnull(strstr(dom, "id=\"score-out\" class=\"out\" data-done=\"1\"><span class=\"c\""));
    ck_assert_ptr_nonnull(strstr(dom, "<span class=\"w\" title=\"")); /* tags over the words */
    ck_assert_ptr_nonnull(strstr(dom, "class=\"bar\""));   /* the labels */
    /* the surprisal view, as docs/serve.md shows it */
    snprintf(png, sizeof png, "%s/surprisal.png", cl_test_tmpdir());
    snprintf(cmd, sizeof cmd, "'%s/scripts/serve_page.sh' shot '%s/?text=The%%20cat%%20sat.&run=score' "
             "'%s' && head -c 8 '%s' | od -An -c", CL_SRCDIR, url, png, png);
    ck_assert_int_eq(cl_test_shell(cmd, dom, sizeof dom), 0);
    ck_assert_msg(strstr(dom, "P   N   G") != NULL, "not a PNG: %s", dom);
    stop_server();
}
END_TEST

Suite *suite_serve(void)
{
    Suite *s = suite_create("serve");
    TCase *tc = tcase_create("http");
    tcase_set_timeout(tc, 600); /* the sanitizer build on a busy machine */
    tcase_add_test(tc, every_endpoint_answers);
    tcase_add_test(tc, generate_equals_the_command_line);
    tcase_add_test(tc, streamed_generation_equals_the_plain_one);
    tcase_add_test(tc, tag_equals_the_command_line);
    tcase_add_test(tc, classify_equals_the_command_line);
    tcase_add_test(tc, bad_requests_get_4xx_and_the_server_lives);
    tcase_add_test(tc, concurrent_clients_get_the_lone_answer);
    tcase_add_test(tc, batcher_takes_every_waiting_client);
    tcase_add_test(tc, batcher_refuses_when_full);
    tcase_add_test(tc, concurrent_requests_share_batches);
    tcase_add_test(tc, sigterm_finishes_requests_in_flight);
    tcase_add_test(tc, page_streams_and_shows_surprisal_in_chromium);
    suite_add_tcase(s, tc);
    return s;
}
