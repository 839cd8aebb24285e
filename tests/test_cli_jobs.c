/* The README's "one file, three jobs" as a user runs it: a language model,
 * then a tagger (--init) and a frozen classifier (--init --freeze) added to
 * the same file; info, generate, tag and classify on that one file, and each
 * later head leaving what the earlier ones learned untouched.  Then every
 * option of `generate`, each with an observable effect. */
#include <stdlib.h>
#include <string.h>

#include "cl_test.h"

static char out[65536];
static char dir[512], model[600], text[600], conllu[600], tsv[600];

#define TINY "-q --threads 1 --layers 1 --hidden 16 --emb 8"

/* Sentences whose words carry their tag in their ending, and a sentiment
 * word; the same sentences as plain text for the language model. */
static void write_data(void)
{
    static const char *const adj[] = {"good", "bad"}, *const noun[] = {"film", "plot", "cast"};
    char buf[32768] = "", cbuf[65536] = "", tbuf[32768] = "";
    snprintf(dir, sizeof dir, "%s", cl_test_tmpdir());
    snprintf(model, sizeof model, "%s/en.model", dir);
    snprintf(text, sizeof text, "%s/text.txt", dir);
    snprintf(conllu, sizeof conllu, "%s/train.conllu", dir);
    snprintf(tsv, sizeof tsv, "%s/train.tsv", dir);
    for (int i = 0; i < 60; i++) {
        const char *a = adj[i % 2], *n = noun[i % 3];
        char line[128];
        snprintf(line, sizeof line, "the %s %s moved slowly .\n", a, n);
        strcat(buf, line);
        snprintf(line, sizeof line, "%s\tthe %s %s moved slowly .\n", i % 2 ? "neg" : "pos", a, n);
        strcat(tbuf, line);
        const char *forms[6] = {"the", a, n, "moved", "slowly", "."};
        const char *tags[6] = {"DET", "ADJ", "NOUN", "VERB", "ADV", "PUNCT"};
        for (int k = 0; k < 6; k++) {
            snprintf(line, sizeof line, "%d\t%s\t_\t%s\t_\t_\t_\t_\t_\t_\n", k + 1, forms[k],
                     tags[k]);
            strcat(cbuf, line);
        }
        strcat(cbuf, "\n");
    }
    cl_test_write(text, buf, strlen(buf));
    cl_test_write(conllu, cbuf, strlen(cbuf));
    cl_test_write(tsv, tbuf, strlen(tbuf));
}

static void run_ok(char *o, size_t size, const char *what, const char *args)
{
    int rc = cl_test_run(o, size, "%s", args);
    ck_assert_msg(rc == 0, "%s failed (%d): %s", what, rc, o);
}

/* `generate`, `tag` and `classify` on the file, into g, t and c. */
static void use_all(char *g, char *t, char *c, size_t size)
{
    char args[2048];
    snprintf(args, sizeof args, "generate -m '%s' --prompt 'the ' -n 40 --seed 5", model);
    run_ok(g, size, "generate", args);
    if (t) {
        snprintf(args, sizeof args, "tag -m '%s' < '%s'", model, text);
        run_ok(t, size, "tag", args);
    }
    if (c) {
        snprintf(args, sizeof args, "classify -m '%s' --all < '%s'", model, text);
        run_ok(c, size, "classify", args);
    }
}

START_TEST(one_file_three_jobs)
{
    static char g1[4096], g2[4096], g3[4096], t2[65536], t3[65536], c3[65536];
    char args[4096];
    write_data();
    snprintf(args, sizeof args, "train --task lm --train '%s' -o '%s' --steps 30 --batch 4 --seq 16 "
             TINY, text, model);
    run_ok(out, sizeof out, "train lm", args);
    snprintf(args, sizeof args, "info '%s'", model);
    run_ok(out, sizeof out, "info", args);
    ck_assert_msg(strstr(out, "heads: lm\n") != NULL, "%s", out);
    use_all(g1, NULL, NULL, sizeof g1);
    ck_assert(strncmp(g1, "the ", 4) == 0);

    snprintf(args, sizeof args, "train --task tagger --init '%s' -o '%s' --train '%s' --dev '%s' "
             "--epochs 2 -q --threads 1 --hidden 16", model, model, conllu, conllu);
    run_ok(out, sizeof out, "train tagger", args);
    snprintf(args, sizeof args, "info '%s'", model);
    run_ok(out, sizeof out, "info", args);
    ck_assert_msg(strstr(out, "heads: lm tagger\n") != NULL, "%s", out);
    use_all(g2, t2, NULL, sizeof g2);
    ck_assert_str_eq(g1, g2); /* the tagger never changes the encoder or head.lm */
    ck_assert_msg(strstr(t2, "slowly/") || strstr(t2, "slowly\t"), "%s", t2);

    snprintf(args, sizeof args, "train --task classifier --init '%s' --freeze -o '%s' --train "
             "'%s' --dev '%s' --epochs 2 -q --threads 1 --ngram 0", model, model, tsv, tsv);
    run_ok(out, sizeof out, "train classifier", args);
    snprintf(args, sizeof args, "info '%s'", model);
    run_ok(out, sizeof out, "info", args);
    ck_assert_msg(strstr(out, "heads: lm tagger classifier\n") != NULL, "%s", out);
    use_all(g3, t3, c3, sizeof g3);
    ck_assert_str_eq(g1, g3); /* frozen: the LM is unchanged bit for bit */
    ck_assert_str_eq(t2, t3); /* and so is the tagger */
    ck_assert_msg(strstr(c3, "pos\t") && strstr(c3, "neg\t"), "%s", c3);
}
END_TEST

/* ==== every option of generate ============================================ */

static void train_small(void)
{
    char args[2048];
    write_data();
    snprintf(args, sizeof args, "train --task lm --train '%s' -o '%s' --steps 40 --batch 4 "
             "--seq 16 --lr 0.01 " TINY, text, model);
    run_ok(out, sizeof out, "train", args);
}

/* generate ARGS into o (exit status 0 required). */
static void gen(char *o, size_t size, const char *args)
{
    char full[2048];
    snprintf(full, sizeof full, "generate -m '%s' %s", model, args);
    run_ok(o, size, full, full);
}

static long utf8_chars(const char *s)
{
    long n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

/* Pairs of generate options (after --prompt 'the ') that must give the same
 * text, or different texts. */
static const struct {
    const char *a, *b;
    int same;
} gen_pairs[] = {
    {"-n 50", "--length 50", 1},                          /* the default seed (1) is fixed */
    {"-n 80 --seed 7", "-n 80 -s 7", 1},                  /* a seed reproduces the text */
    {"-n 80 --seed 7", "-n 80 --seed 8", 0},              /* and another seed another one */
    {"-n 60 --temperature 0 --seed 1", "-n 60 -t 0 --seed 2", 1}, /* argmax, any seed */
    {"-n 60 -t 0", "-n 60 --top-k 1 --seed 3", 1},        /* top-1 is the argmax */
    {"-n 60 -t 0", "-n 60 --top-p 0.000001 --seed 4", 1}, /* and so is a tiny top-p */
    {"-n 60 -t 0", "-n 60 --temperature 0.01 --seed 5", 1}, /* nearly argmax */
    {"-n 60 -t 0", "-n 60 --temperature 5 --seed 5", 0},  /* far from it */
    /* the defaults written out (--top-k beyond V keeps the distribution but
     * draws in another order: test_stats checks that one) */
    {"-n 60 --seed 9", "-n 60 --seed 9 --top-k 0 --top-p 1 --temperature 1", 1},
    {"-n 60 --seed 9", "-n 60 --seed 9 --threads 2", 1},
};

START_TEST(generate_options)
{
    static char a[8192], b[8192];
    char args[1024];
    train_small();
    /* --prompt/-p, -n: the prompt, exactly n characters and a newline */
    gen(a, sizeof a, "--prompt 'the ' -n 50");
    ck_assert(strncmp(a, "the ", 4) == 0);
    ck_assert_int_eq(utf8_chars(a), 4 + 50 + 1);
    ck_assert(a[strlen(a) - 1] == '\n');
    gen(b, sizeof b, "-p 'the ' -n 0");
    ck_assert_str_eq(b, "the ");
    for (size_t i = 0; i < sizeof gen_pairs / sizeof *gen_pairs; i++) {
        snprintf(args, sizeof args, "--prompt 'the ' %s", gen_pairs[i].a);
        gen(a, sizeof a, args);
        snprintf(args, sizeof args, "--prompt 'the ' %s", gen_pairs[i].b);
        gen(b, sizeof b, args);
        ck_assert_msg((strcmp(a, b) == 0) == gen_pairs[i].same, "'%s' and '%s' should give %s "
                      "texts:\n%s\n%s", gen_pairs[i].a, gen_pairs[i].b,
                      gen_pairs[i].same ? "the same" : "different", a, b);
    }
    /* the prompt from stdin when there is no --prompt */
    snprintf(args, sizeof args, "-n 10 --seed 9 < '%s'", text);
    gen(b, sizeof b, args);
    ck_assert(strncmp(b, "the good film", 13) == 0);
    /* bad values: a message naming the command, a non-zero exit */
    static const char *const bad[] = {"--temperature -1", "--top-k -2", "--top-p 0",
                                      "--top-p 1.5", "-n -3"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        int rc = cl_test_run(out, sizeof out, "generate -m '%s' --prompt x %s", model, bad[i]);
        ck_assert_msg(rc != 0 && strstr(out, "charlstm generate"), "%s: %d %s", bad[i], rc, out);
    }
}
END_TEST

Suite *suite_cli_jobs(void)
{
    Suite *s = suite_create("cli_jobs");
    TCase *tc = tcase_create("readme");
    tcase_add_test(tc, one_file_three_jobs);
    tcase_add_test(tc, generate_options);
    suite_add_tcase(s, tc);
    return s;
}
