/* The language-model commands as a user runs them: train on a small text the
 * test writes, generate, eval, info, resume after Ctrl-C, and bad input of
 * every kind giving a clear message and a non-zero exit. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cl_model.h"
#include "cl_test.h"

static char out[65536];
static char dir[512], text[600], model[600];

static const char corpus[] =
    "the cat sat on the mat. the dog sat on the log. a cat and a dog.\n"
    "the cat saw the dog; the dog saw the cat. Ça va? naïve café, 日本語.\n";

/* A fresh directory with the corpus, for each test (tests run in forks). */
static void setup(void)
{
    snprintf(dir, sizeof dir, "%s", cl_test_tmpdir());
    snprintf(text, sizeof text, "%s/corpus.txt", dir);
    snprintf(model, sizeof model, "%s/m.model", dir);
    char big[sizeof corpus * 8] = "";
    for (int i = 0; i < 8; i++)
        strcat(big, corpus);
    cl_test_write(text, big, strlen(big));
}

#define TINY "--layers 1 --hidden 16 --emb 8 --batch 2 --seq 8 -q --threads 1"

static void train_tiny(const char *extra)
{
    int rc = cl_test_run(out, sizeof out, "train --train '%s' -o '%s' " TINY " %s", text, model,
                         extra);
    ck_assert_msg(rc == 0, "train failed (%d): %s", rc, out);
}

static char *read_all(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    fseek(f, 0, SEEK_END);
    *n = (size_t)ftell(f);
    rewind(f);
    char *p = malloc(*n + 1);
    ck_assert_uint_eq(fread(p, 1, *n, f), *n);
    fclose(f);
    return p;
}

START_TEST(train_generate_eval_info)
{
    static char a[4096], b[4096];
    setup();
    train_tiny("--steps 40 --dev-fraction 0.1 --eval-every 20");
    ck_assert_int_eq(access(model, R_OK), 0);
    ck_assert_int_eq(cl_test_run(a, sizeof a, "generate -m '%s' --prompt 'the ' -n 60 --seed 3",
                                 model), 0);
    ck_assert_int_eq(cl_test_run(b, sizeof b, "generate -m '%s' --prompt 'the ' -n 60 --seed 3",
                                 model), 0);
    ck_assert_str_eq(a, b); /* a seed reproduces the text */
    ck_assert(strncmp(a, "the ", 4) == 0);
    ck_assert_int_eq(cl_test_run(out, sizeof out, "eval -m '%s' '%s'", model, text), 0);
    ck_assert_ptr_nonnull(strstr(out, "nats/char"));
    /* nanoGPT's protocol: random windows, told in the output */
    ck_assert_int_eq(cl_test_run(out, sizeof out, "eval -m '%s' --windows 7 --window 16 "
                                 "--output json '%s'", model, text), 0);
    ck_assert_msg(strstr(out, "\"windows\":7") && strstr(out, "\"predictions\":112"), "%s", out);
    ck_assert_int_eq(cl_test_run(out, sizeof out, "eval -m '%s' --windows 1 --window 999999 '%s'",
                                 model, text), 1);
    ck_assert_ptr_nonnull(strstr(out, "shorter than one window"));
    ck_assert_int_eq(cl_test_run(out, sizeof out, "info '%s'", model), 0);
    ck_assert_ptr_nonnull(strstr(out, "heads: lm"));
    /* the prompt from stdin */
    ck_assert_int_eq(cl_test_run(out, sizeof out, "generate -m '%s' -n 5 < '%s'", model, text), 0);
    /* --lines: a co-process gets one line per prompt while its pipe stays open */
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "'%s' generate -m '%s' --lines -n 20", CL_TOOL, model);
    cl_test_coproc c;
    cl_test_coproc_start(&c, cmd);
    ck_assert_msg(cl_test_coproc_ask(&c, "the \n", a, sizeof a, 5000) >= 0, "no answer in 5 s");
    ck_assert_msg(!strncmp(a, "the ", 4) && strlen(a) <= 4 + 20 * 4 + 1, "%s", a);
    ck_assert_msg(cl_test_coproc_ask(&c, "and \n", a, sizeof a, 5000) >= 0, "no answer in 5 s");
    ck_assert_msg(!strncmp(a, "and ", 4), "%s", a);
    ck_assert_int_eq(cl_test_coproc_finish(&c), 0);
}
END_TEST

START_TEST(unknown_prompt_characters_warn)
{
    setup();
    train_tiny("--steps 5 --dev-fraction 0");
    ck_assert_int_eq(cl_test_run(out, sizeof out, "generate -m '%s' --prompt 'the €' -n 10",
                                 model), 0);
    ck_assert_ptr_nonnull(strstr(out, "U+20AC"));
}
END_TEST

/* --num-samples N generates its samples together, and sample k is what
 * --seed SEED+k prints alone, whatever --threads and --weights (each format
 * with its own text). */
START_TEST(samples_are_the_seeds_alone)
{
    static char all[8192], want[8192], one[2048];
    setup();
    train_tiny("--steps 5 --dev-fraction 0");
    const char *weights[] = {"int8", "bf16", "fp32"};
    for (int w = 0; w < 3; w++) {
        ck_assert_int_eq(cl_test_run(all, sizeof all, "generate -m '%s' --prompt 'the ' -n 30 "
                                     "--stop 'a' --seed 4 --num-samples 5 --threads 2 --weights %s",
                                     model, weights[w]), 0);
        want[0] = 0;
        for (int k = 0; k < 5; k++) {
            ck_assert_int_eq(cl_test_run(one, sizeof one, "generate -m '%s' --prompt 'the ' -n 30 "
                                         "--stop 'a' --seed %d --weights %s", model, 4 + k,
                                         weights[w]), 0);
            strcat(want, one);
        }
        ck_assert_msg(strcmp(all, want) == 0, "%s: together [%s] alone [%s]", weights[w], all, want);
    }
    ck_assert_int_eq(cl_test_run(out, sizeof out, "generate -m '%s' --weights int4", model), 2);
    ck_assert_msg(strstr(out, "int8|bf16|fp32"), "%s", out);
}
END_TEST

/* --resume after an interrupted run ends with the same model, byte for byte
 * (extra: options of both runs). */
static void check_resume_exact(const char *extra)
{
    char ref[700], opts[300];
    setup();
    snprintf(ref, sizeof ref, "%s/ref.model", dir);
    ck_assert_int_eq(cl_test_run(out, sizeof out, "train --train '%s' -o '%s' " TINY
                                 " --steps 30 --dev-fraction 0 %s", text, ref, extra), 0);
    snprintf(opts, sizeof opts, "--steps 12 --dev-fraction 0 %s", extra);
    train_tiny(opts);
    ck_assert_int_eq(cl_test_run(out, sizeof out, "train --train '%s' -o '%s' --resume '%s.last' "
                                 TINY " --steps 30 --dev-fraction 0 %s", text, model, model, extra),
                     0);
    cl_model *a, *b;
    ck_assert_int_eq(cl_model_load(&a, ref, NULL, NULL), 0);
    ck_assert_int_eq(cl_model_load(&b, model, NULL, NULL), 0);
    ck_assert_uint_eq(a->params.n, b->params.n);
    ck_assert_msg(memcmp(a->params.w, b->params.w, a->params.n * sizeof(float)) == 0,
                  "resumed model differs from the uninterrupted one (%s)", extra);
    cl_model_free(a), cl_model_free(b);
}

START_TEST(resume_continues_exactly) { check_resume_exact(""); }
END_TEST

/* The regularisers' masks and the streams' restarts come from the resumed
 * random state too. */
START_TEST(resume_continues_exactly_regularised)
{
    check_resume_exact("--layers 2 --dropout 0.3 --locked-dropout --weight-drop 0.3 "
                       "--embed-dropout 0.2 --state-reset 0.3");
}
END_TEST

/* Ctrl-C: exit 130, both files saved, and the run can be resumed. */
START_TEST(interrupt_saves_and_resumes)
{
    char cmd[2048];
    setup();
    snprintf(cmd, sizeof cmd, "exec '%s' train --train '%s' -o '%s' " TINY
             " --steps 100000000 --dev-fraction 0 >/dev/null 2>&1", CL_TOOL, text, model);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    char last[700];
    snprintf(last, sizeof last, "%s.last", model);
    /* The handler is installed first thing; a Ctrl-C at any later moment,
     * even before the first step, must save and stop cleanly. */
    usleep(500000);
    kill(pid, SIGINT);
    int st;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    ck_assert(WIFEXITED(st));
    ck_assert_int_eq(WEXITSTATUS(st), 130);
    ck_assert_int_eq(access(model, R_OK), 0);
    ck_assert_int_eq(access(last, R_OK), 0);
    ck_assert_int_eq(cl_test_run(out, sizeof out, "info '%s'", last), 0);
    ck_assert_ptr_nonnull(strstr(out, "optim"));
}
END_TEST

START_TEST(bad_inputs_fail_clearly)
{
    char bad[700], broken[700];
    setup();
    snprintf(bad, sizeof bad, "%s/bad.txt", dir);
    cl_test_write(bad, "good text \xff\xfe more", 17);
    ck_assert_int_eq(cl_test_run(out, sizeof out, "train --train '%s' -o '%s' " TINY " --steps 2",
                                 bad, model), 1);
    ck_assert_msg(strstr(out, "bad.txt") && strstr(out, "byte 10"), "%s", out);
    ck_assert_int_ne(access(model, F_OK), 0); /* nothing written */

    cl_test_write(bad, "", 0);
    ck_assert_int_eq(cl_test_run(out, sizeof out, "train --train '%s' -o '%s' " TINY " --steps 2",
                                 bad, model), 1);
    ck_assert_msg(strstr(out, "empty"), "%s", out);

    ck_assert_int_eq(cl_test_run(out, sizeof out, "train --train /no/such/file -o '%s' " TINY,
                                 model), 1);
    ck_assert_msg(strstr(out, "/no/such/file"), "%s", out);

    train_tiny("--steps 3 --dev-fraction 0");
    size_t n;
    char *bytes = read_all(model, &n);
    snprintf(broken, sizeof broken, "%s/broken.model", dir);
    cl_test_write(broken, bytes, n / 2);
    free(bytes);
    ck_assert_int_eq(cl_test_run(out, sizeof out, "generate -m '%s' -n 5", broken), 1);
    ck_assert_msg(strstr(out, "broken.model") && strstr(out, "truncated"), "%s", out);
    ck_assert_int_eq(cl_test_run(out, sizeof out, "info '%s'", text), 1); /* not a model */
    ck_assert_msg(strstr(out, "corpus.txt"), "%s", out);
    /* a text shorter than one step */
    cl_test_write(bad, "abc", 3);
    ck_assert_int_eq(cl_test_run(out, sizeof out, "train --train '%s' -o '%s' " TINY " --steps 2"
                                 " --dev-fraction 0", bad, model), 1);
    ck_assert_msg(strstr(out, "shorter than one step"), "%s", out);
}
END_TEST

Suite *suite_cli_lm(void)
{
    Suite *s = suite_create("cli_lm");
    TCase *tc = tcase_create("commands");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, train_generate_eval_info);
    tcase_add_test(tc, unknown_prompt_characters_warn);
    tcase_add_test(tc, samples_are_the_seeds_alone);
    tcase_add_test(tc, resume_continues_exactly);
    tcase_add_test(tc, resume_continues_exactly_regularised);
    tcase_add_test(tc, interrupt_saves_and_resumes);
    tcase_add_test(tc, bad_inputs_fail_clearly);
    suite_add_tcase(s, tc);
    return s;
}
