/* Tests of the command-line framework in tools/: option parsing and help
 * (cli_opts), progress line, signal flag, file helpers, and the charlstm
 * binary itself (CL_TOOL). */
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cl_test.h"
#include "cli_opts.h"
#include "cli_progress.h"
#include "cli_signal.h"
#include "cli_util.h"
#include "commands.h"

/* ---------------------------------------------------------------- capturing stdout/stderr */

/* words and argv live here, not in run_captured(): CLI_STR options point
 * into argv after the call returns. */
typedef struct {
    char out[32768], err[8192];
    char words[1024], *argv[64];
} captured;

typedef int (*argv_fn)(int argc, char **argv, void *ctx);

static void slurp(const char *path, char *buf, size_t size)
{
    FILE *f = fopen(path, "rb");
    size_t n = f ? fread(buf, 1, size - 1, f) : 0;
    buf[n] = '\0';
    if (f)
        fclose(f);
}

/* Run fn on the words of line (split at spaces) with stdout and stderr going
 * to files, then read them into c.  Returns what fn returned. */
static int run_captured(argv_fn fn, void *ctx, const char *line, captured *c)
{
    char **argv = c->argv, out[300], err[300];
    int argc = 0;
    snprintf(c->words, sizeof c->words, "%s", line);
    for (char *w = strtok(c->words, " "); w && argc < 63; w = strtok(NULL, " "))
        argv[argc++] = w;
    argv[argc] = NULL;
    snprintf(out, sizeof out, "%s/cli_out", cl_test_tmpdir());
    snprintf(err, sizeof err, "%s/cli_err", cl_test_tmpdir());
    fflush(stdout);
    fflush(stderr);
    int save1 = dup(1), save2 = dup(2);
    ck_assert(freopen(out, "w", stdout) && freopen(err, "w", stderr));
    int rc = fn(argc, argv, ctx);
    fflush(stdout);
    fflush(stderr);
    dup2(save1, 1);
    dup2(save2, 2);
    close(save1);
    close(save2);
    slurp(out, c->out, sizeof c->out);
    slurp(err, c->err, sizeof c->err);
    return rc;
}

/* ---------------------------------------------------------------- a test command */

typedef struct {
    int flag, n, choice;
    long big;
    double x;
    const char *name, *req;
    cli_strs list;
    int first;
} topts;

static void topts_init(topts *o)
{
    memset(o, 0, sizeof *o);
    o->n = 42;
    o->big = 7;
    o->x = 0.5;
    o->name = "def.txt";
    o->choice = 1;
}

static int tparse(int argc, char **argv, void *ctx)
{
    topts *o = ctx;
    const cli_opt opts[] = {
        {.type = CLI_SECTION, .help = "First section:"},
        {"flag", 'f', CLI_FLAG, &o->flag, NULL, .help = "a flag"},
        {"num", 'n', CLI_INT, &o->n, "N", .help = "an int", .min = 1, .max = 100},
        {"big", 0, CLI_LONG, &o->big, "N", .help = "a long", .min = 0, .max = INFINITY},
        {"real", 0, CLI_FLOAT, &o->x, "F", .help = "a real", .min = 0, .max = 1},
        {"name", 0, CLI_STR, &o->name, "FILE", .help = "a string"},
        {"list", 'l', CLI_STRS, &o->list, "FILE", .help = "repeatable"},
        {"mode", 0, CLI_CHOICE, &o->choice, NULL, .help = "a choice", .choices = "red|green|blue"},
        {"req", 'r', CLI_STR, &o->req, "X", .help = "required one", .required = 1},
        {"computed", 0, CLI_INT, &o->n, "N", .help = "computed", .default_text = "twice --num"},
    };
    const cli_command cmd = {"test", "a test command", "[options] [ARG...]", "Some text.\n",
                             opts, (int)(sizeof opts / sizeof opts[0]), 0, 3};
    return cli_parse(&cmd, argc, argv, &o->first);
}

static int parse_line(topts *o, const char *line, captured *c)
{
    topts_init(o);
    return run_captured(tparse, o, line, c);
}

START_TEST(test_parse_values)
{
    topts o;
    captured c;
    int rc = parse_line(&o, "test -r R --num 17 --big -0 --real 0.25 --name a.txt -f --mode blue", &c);
    ck_assert_int_eq(rc, 0);
    ck_assert_int_eq(o.n, 17);
    ck_assert_int_eq(o.big, 0);
    ck_assert(o.x == 0.25);
    ck_assert_str_eq(o.name, "a.txt");
    ck_assert_str_eq(o.req, "R");
    ck_assert_int_eq(o.flag, 1);
    ck_assert_int_eq(o.choice, 2);
    ck_assert_str_eq(c.err, "");
    cli_strs_free(&o.list);
    /* untouched options keep their defaults; short options and --opt=value work */
    ck_assert_int_eq(parse_line(&o, "test -rR -n5 --real=1", &c), 0);
    ck_assert_int_eq(o.n, 5);
    ck_assert(o.x == 1.0);
    ck_assert_int_eq(o.big, 7);
    ck_assert_str_eq(o.name, "def.txt");
    ck_assert_int_eq(o.choice, 1);
    cli_strs_free(&o.list);
}
END_TEST

START_TEST(test_parse_repeat_and_positional)
{
    topts o;
    captured c;
    int rc = parse_line(&o, "test p1 --list a -r R -l b p2 --list=c -- --num", &c);
    ck_assert_int_eq(rc, 0);
    ck_assert_int_eq(o.list.n, 3);
    ck_assert_str_eq(o.list.v[0], "a");
    ck_assert_str_eq(o.list.v[1], "b");
    ck_assert_str_eq(o.list.v[2], "c");
    ck_assert_int_eq(o.n, 42); /* "--num" after "--" is an argument */
    ck_assert_int_eq(o.first, 12 - 3); /* p1 p2 --num moved to the end */
    cli_strs_free(&o.list);
}
END_TEST

/* The positional arguments themselves, checked inside the parse. */
static int tparse_pos(int argc, char **argv, void *ctx)
{
    topts *o = ctx;
    int rc = tparse(argc, argv, ctx);
    if (rc == 0) {
        ck_assert_int_eq(argc - o->first, 3);
        ck_assert_str_eq(argv[o->first], "p1");
        ck_assert_str_eq(argv[o->first + 1], "p2");
        ck_assert_str_eq(argv[o->first + 2], "--num");
    }
    return rc;
}

START_TEST(test_parse_positional_values)
{
    topts o;
    captured c;
    topts_init(&o);
    ck_assert_int_eq(run_captured(tparse_pos, &o, "test p1 -r R p2 -- --num", &c), 0);
    cli_strs_free(&o.list);
    /* max_args is 3 */
    ck_assert_int_eq(parse_line(&o, "test -r R a b c d", &c), 2);
    ck_assert_ptr_nonnull(strstr(c.err, "unexpected argument 'd'"));
    cli_strs_free(&o.list);
}
END_TEST

/* Every bad value exits with 2, names the option and the value, and
 * points to --help. */
START_TEST(test_parse_bad_values)
{
    static const char *const bad[][2] = {
        {"test -r R --num abc", "--num: expected an integer, got 'abc'"},
        {"test -r R --num 12x", "expected an integer, got '12x'"},
        {"test -r R --num=", "expected an integer, got ''"},
        {"test -r R --num 1.5", "expected an integer"},
        {"test -r R --num 0", "--num: must be between 1 and 100, got '0'"},
        {"test -r R --num 101", "must be between 1 and 100"},
        {"test -r R --num 99999999999", "out of range"},
        {"test -r R --big 99999999999999999999999", "out of range"},
        {"test -r R --big -1", "--big: must be at least 0"},
        {"test -r R --real nan", "--real: expected a number, got 'nan'"},
        {"test -r R --real inf", "expected a number"},
        {"test -r R --real 1e999", "expected a number"},
        {"test -r R --real 1.5", "must be between 0 and 1"},
        {"test -r R --mode purple", "--mode: expected one of red|green|blue, got 'purple'"},
        {"test -r R --mode re", "expected one of"},
        {"test -r R --nosuch", "unknown option '--nosuch'"},
        {"test -r R -z", "unknown option '-z'"},
        {"test -r R --flag=1", "--flag takes no value"},
        {"test -r R --num", "--num needs a value"},
        {"test", "--req is required"},
        {"test -r R --n 3", "ambiguous option '--n': --num, --name?"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        topts o;
        captured c;
        int rc = parse_line(&o, bad[i][0], &c);
        ck_assert_msg(rc == 2, "%s: rc %d", bad[i][0], rc);
        ck_assert_msg(strstr(c.err, bad[i][1]) != NULL, "%s: got '%s'", bad[i][0], c.err);
        ck_assert_msg(strncmp(c.err, "charlstm test: ", 15) == 0, "%s", c.err);
        ck_assert_ptr_nonnull(strstr(c.err, "try 'charlstm test --help'"));
        ck_assert_str_eq(c.out, "");
        cli_strs_free(&o.list);
    }
}
END_TEST

START_TEST(test_help_shows_defaults)
{
    topts o;
    captured c;
    /* --num 7 before --help: the help still shows the real default, 42 */
    ck_assert_int_eq(parse_line(&o, "test --num 7 --help", &c), 1);
    ck_assert_str_eq(c.err, "");
    static const char *const want[] = {
        "usage: charlstm test [options] [ARG...]", "A test command", "Some text.",
        "First section:", "-f, --flag", "-n, --num N", "an int (default: 42)",
        "--big N", "(default: 7)", "--real F", "(default: 0.5)", "--name FILE",
        "(default: def.txt)", "-l, --list FILE", "--mode red|green|blue",
        "a choice (default: green)", "required one (required)",
        "computed (default: twice --num)", "-h, --help",
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        ck_assert_msg(strstr(c.out, want[i]) != NULL, "'%s' missing from:\n%s", want[i], c.out);
    ck_assert_ptr_null(strstr(c.out, "an int (default: 7)"));
    ck_assert_int_eq(parse_line(&o, "test -h", &c), 1);
}
END_TEST

START_TEST(test_help_wraps)
{
    topts o;
    captured c;
    parse_line(&o, "test --help", &c);
    /* the help is there (a test of wrapping must not pass on an empty page) */
    static const char *const opts[] = {"--flag", "--num N", "--big N", "--real F", "--name FILE",
                                       "--list FILE", "--mode", "--req X", "--computed N"};
    for (size_t i = 0; i < sizeof opts / sizeof opts[0]; i++)
        ck_assert_msg(strstr(c.out, opts[i]) != NULL, "%s missing from --help: '%s'", opts[i],
                      c.out);
    int lines = 0;
    for (char *line = strtok(c.out, "\n"); line; line = strtok(NULL, "\n"), lines++)
        ck_assert_msg(strlen(line) < 80, "too long: '%s'", line);
    ck_assert_int_ge(lines, (int)(sizeof opts / sizeof opts[0]));
}
END_TEST

START_TEST(test_strs_and_choices)
{
    cli_strs l = {0};
    for (int i = 0; i < 100; i++)
        ck_assert_int_eq(cli_strs_push(&l, i % 2 ? "odd" : "even"), 0);
    ck_assert_int_eq(l.n, 100);
    ck_assert_str_eq(l.v[99], "odd");
    cli_strs_free(&l);
    ck_assert_int_eq(l.n, 0);
    ck_assert_ptr_null(l.v);
    ck_assert_int_eq(cli_choice_index("lm|tagger|classifier", "lm"), 0);
    ck_assert_int_eq(cli_choice_index("lm|tagger|classifier", "classifier"), 2);
    ck_assert_int_eq(cli_choice_index("lm|tagger|classifier", "tag"), -1);
    ck_assert_int_eq(cli_choice_index("lm|tagger|classifier", ""), -1);
    ck_assert_int_eq(cli_choice_index("lm|tagger|classifier", "lm|tagger"), -1);
}
END_TEST

/* ---------------------------------------------------------------- the real commands, in process */

typedef struct {
    int (*fn)(int argc, char **argv);
} cmd_ref;

static int call_cmd(int argc, char **argv, void *ctx)
{
    return ((cmd_ref *)ctx)->fn(argc, argv);
}

START_TEST(test_commands_help)
{
    static const char *const names[] = {"train", "generate", "eval", "tag", "classify", "info",
                                        "serve"};
    cmd_ref cmds[] = {{cmd_train}, {cmd_generate}, {cmd_eval}, {cmd_tag}, {cmd_classify}, {cmd_info},
                      {cmd_serve}};
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        captured c;
        char line[64];
        snprintf(line, sizeof line, "%s --help", names[i]);
        ck_assert_int_eq(run_captured(call_cmd, &cmds[i], line, &c), 0);
        ck_assert_msg(strstr(c.out, "usage: charlstm ") != NULL, "%s", c.out);
        snprintf(line, sizeof line, "%s --no-such-option", names[i]);
        ck_assert_int_eq(run_captured(call_cmd, &cmds[i], line, &c), 2);
    }
}
END_TEST

/* bench/torch_charlm.py's flags mean the same to charlstm train: all must be
 * accepted (--help at the end returns 0 only if everything before parsed). */
START_TEST(test_train_accepts_torch_flags)
{
    captured c;
    cmd_ref train = {cmd_train};
    const char *line = "train -o m.model a.txt --layers 1 --hidden 256 --emb 64 --batch 32 "
                       "--seq 64 --lr 2e-3 --dropout 0 --clip 5 --threads 2 --steps 500 "
                       "--minutes 10 --eval-every 200 --seed 1 --train b.txt --valid v.txt --help";
    ck_assert_int_eq(run_captured(call_cmd, &train, line, &c), 0);
    ck_assert_str_eq(c.err, "");
    static const char *const want[] = {"--layers N", "(default: 2 lm, 1 tagger and classifier)",
                                       "--hidden N", "(default: 512 lm,",
                                       "--cell lstm|gru", "--task lm|tagger|classifier",
                                       "-o, --output MODEL", "(required)", "--eval-every N"};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        ck_assert_msg(strstr(c.out, want[i]) != NULL, "'%s' missing", want[i]);
    ck_assert_int_eq(run_captured(call_cmd, &train, "train -o m --hidden abc a", &c), 2);
    ck_assert_ptr_nonnull(strstr(c.err, "charlstm train: --hidden: expected an integer, got 'abc'"));
    ck_assert_int_eq(run_captured(call_cmd, &train, "train -o m", &c), 2);
    ck_assert_ptr_nonnull(strstr(c.err, "no training data"));
}
END_TEST

/* ---------------------------------------------------------------- progress */

START_TEST(test_progress_format)
{
    char buf[64];
    cli_progress_hms(3725, buf, sizeof buf);
    ck_assert_str_eq(buf, "1:02:05");
    cli_progress_hms(59.6, buf, sizeof buf);
    ck_assert_str_eq(buf, "0:01:00");
    cli_progress_hms(NAN, buf, sizeof buf);
    ck_assert_str_eq(buf, "-:--:--");
    cli_progress_si(523, buf, sizeof buf);
    ck_assert_str_eq(buf, "523");
    cli_progress_si(52300, buf, sizeof buf);
    ck_assert_str_eq(buf, "52.3k");
    cli_progress_si(1.234e6, buf, sizeof buf);
    ck_assert_str_eq(buf, "1.23M");
    cli_progress_si(999.7, buf, sizeof buf);
    ck_assert_str_eq(buf, "1.00k");
}
END_TEST

START_TEST(test_progress_line)
{
    char *text = NULL, line[256];
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    cli_progress p;
    cli_progress_init_at(&p, f, 1000, "chars", 100.0);
    ck_assert_int_eq(p.tty, 0);
    cli_progress_update_at(&p, 10, 1000, 2.5, 101.0);
    cli_progress_update_at(&p, 110, 11000, 1.5, 111.0);  /* 10000 chars in 10 s */
    cli_progress_set_val(&p, 1.75);
    cli_progress_format(&p, 111.0, line, sizeof line);
    ck_assert_msg(strstr(line, "step 110/1000") != NULL, "%s", line);
    ck_assert_msg(strstr(line, " 11.0%") != NULL, "%s", line);
    ck_assert_msg(strstr(line, "1.00k chars/s") != NULL, "%s", line);
    ck_assert_msg(strstr(line, "loss 1.5000") != NULL, "%s", line);
    ck_assert_msg(strstr(line, "val 1.7500") != NULL, "%s", line);
    ck_assert_msg(strstr(line, "time 0:00:11") != NULL, "%s", line);
    ck_assert_msg(strstr(line, "ETA 0:01:29") != NULL, "%s", line); /* 890 steps at 10/s */
    p.time_limit = 60;  /* --minutes 1: 49 s left bound the ETA */
    cli_progress_format(&p, 111.0, line, sizeof line);
    ck_assert_msg(strstr(line, "ETA 0:00:49") != NULL, "%s", line);
    /* not a terminal: nothing was printed before interval (30 s) passed */
    fflush(f);
    ck_assert_int_eq(len, 0);
    cli_progress_update_at(&p, 400, 40000, 1.2, 131.0);
    cli_progress_update_at(&p, 401, 40100, 1.2, 131.5);
    cli_progress_finish_at(&p, 132.0);
    fclose(f);
    int lines = 0;
    for (char *s = text; (s = strchr(s, '\n')); s++)
        lines++;
    ck_assert_int_eq(lines, 2);
    ck_assert_ptr_null(strchr(text, '\r'));
    free(text);
}
END_TEST

START_TEST(test_progress_tty_rewrites)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    cli_progress p;
    cli_progress_init_at(&p, f, 0, "words", 0.0);
    p.tty = 1;
    for (int i = 1; i <= 100; i++)  /* 100 updates in 1 s: about 4 redraws */
        cli_progress_update_at(&p, i, 10.0 * i, 1.0, 0.01 * i);
    cli_progress_note(&p, "saved %s", "x.model");
    cli_progress_finish_at(&p, 1.5);
    fclose(f);
    int draws = 0;
    for (char *s = text; (s = strstr(s, "\rstep")); s++)
        draws++;
    ck_assert_msg(draws >= 4 && draws <= 6, "%d draws: %s", draws, text);
    ck_assert_ptr_nonnull(strstr(text, "saved x.model\n"));
    ck_assert_ptr_nonnull(strstr(text, "words/s"));
    ck_assert_ptr_null(strstr(text, "ETA")); /* no total, no time limit */
    ck_assert(text[len - 1] == '\n');
    free(text);
}
END_TEST

/* ---------------------------------------------------------------- signals */

static int raise_twice_check(int argc, char **argv, void *ctx)
{
    (void)argc, (void)argv, (void)ctx;
    cli_signal_install();
    ck_assert_int_eq(cli_signal_stop_requested(), 0);
    raise(SIGINT);
    ck_assert_int_eq(cli_signal_stop_requested(), 1);
    struct sigaction sa;
    sigaction(SIGINT, NULL, &sa);
    ck_assert_msg(sa.sa_handler == SIG_DFL, "second Ctrl-C must kill");
    cli_signal_install();  /* a new training run starts with a clear flag */
    ck_assert_int_eq(cli_signal_stop_requested(), 0);
    raise(SIGTERM);
    ck_assert_int_eq(cli_signal_stop_requested(), 1);
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    return 0;
}

START_TEST(test_signal_flag)
{
    captured c;
    run_captured(raise_twice_check, NULL, "", &c);
    ck_assert_ptr_nonnull(strstr(c.err, "Ctrl-C again"));
}
END_TEST

/* ---------------------------------------------------------------- files and errors */

static int util_calls(int argc, char **argv, void *ctx)
{
    (void)argc, (void)argv, (void)ctx;
    char path[300];
    ck_assert_ptr_null(cli_open_in("eval", "/nonexistent/x.txt"));
    ck_assert_ptr_null(cli_open_in("eval", cl_test_tmpdir()));
    ck_assert_ptr_eq(cli_open_in("eval", "-"), stdin);
    ck_assert_ptr_eq(cli_open_out("eval", "-"), stdout);
    snprintf(path, sizeof path, "%s/util.txt", cl_test_tmpdir());
    FILE *f = cli_open_out("eval", path);
    ck_assert_ptr_nonnull(f);
    fputs("hello\n", f);
    ck_assert_int_eq(cli_close_out("eval", f, path), 0);
    f = cli_open_in("eval", path);
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(fgetc(f), 'h');
    ck_assert_int_eq(cli_close_in("eval", f, path), 0);
    cl_diag d;
    cl_diag_set(&d, CL_EPARSE, "dev.conllu:17: expected 10 columns, got 7");
    ck_assert_int_eq(cli_fail("train", CL_EPARSE, &d, "reading %s", "dev.conllu"), CLI_EXIT_FAIL);
    ck_assert_int_eq(cli_fail("info", CL_ETRUNC, NULL, NULL), CLI_EXIT_FAIL);
    return 0;
}

START_TEST(test_util_files_and_messages)
{
    captured c;
    run_captured(util_calls, NULL, "", &c);
    static const char *const want[] = {
        "charlstm eval: cannot open /nonexistent/x.txt: No such file or directory\n",
        ": is a directory\n",
        "charlstm train: reading dev.conllu: dev.conllu:17: expected 10 columns, got 7 "
        "(malformed input)\n",
        "charlstm info: file is truncated\n",
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        ck_assert_msg(strstr(c.err, want[i]) != NULL, "'%s' missing from '%s'", want[i], c.err);
}
END_TEST

static int write_full(int argc, char **argv, void *ctx)
{
    (void)argc, (void)argv, (void)ctx;
    FILE *f = cli_open_out("tag", "/dev/full");
    if (!f)
        return -1;
    fputs("some output\n", f);
    return cli_close_out("tag", f, "/dev/full");
}

START_TEST(test_util_write_error)
{
    captured c;
    if (access("/dev/full", W_OK) != 0) {
        cl_test_skip("test_util_write_error", "no /dev/full");
        return;
    }
    ck_assert_int_eq(run_captured(write_full, NULL, "", &c), CLI_EXIT_FAIL);
    ck_assert_ptr_nonnull(strstr(c.err, "charlstm tag: /dev/full: write error: No space left"));
}
END_TEST

/* ---------------------------------------------------------------- the binary */

/* Run the built tool with args; output (stdout+stderr) into out; returns the exit status. */
static int run_tool(const char *args, char *out, size_t size)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "'%s' %s 2>&1 </dev/null", CL_TOOL, args);
    FILE *p = popen(cmd, "r");
    ck_assert_ptr_nonnull(p);
    size_t n = fread(out, 1, size - 1, p);
    out[n] = '\0';
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

START_TEST(test_tool_binary)
{
    static char out[32768], out2[32768];
    if (access(CL_TOOL, X_OK) != 0) {
        cl_test_skip("test_tool_binary", "%s not built", CL_TOOL);
        return;
    }
    ck_assert_int_eq(run_tool("--help", out, sizeof out), 0);
    static const char *const cmds[] = {"train", "generate", "eval", "tag", "classify", "info",
                                       "serve"};
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
        ck_assert_msg(strstr(out, cmds[i]) != NULL, "%s missing from --help", cmds[i]);
    ck_assert_int_eq(run_tool("train --help", out, sizeof out), 0);
    ck_assert_ptr_nonnull(strstr(out, "--hidden N"));
    ck_assert_ptr_nonnull(strstr(out, "(default: 512 lm,"));
    ck_assert_int_eq(run_tool("help train", out2, sizeof out2), 0);
    ck_assert_str_eq(out, out2);
    ck_assert_int_eq(run_tool("--version", out, sizeof out), 0);
    ck_assert_ptr_nonnull(strstr(out, "charlstm "));
    ck_assert_int_eq(run_tool("nosuchcmd", out, sizeof out), 2);
    ck_assert_ptr_nonnull(strstr(out, "unknown command 'nosuchcmd'"));
    ck_assert_ptr_nonnull(strstr(out, "generate"));
    ck_assert_int_eq(run_tool("", out, sizeof out), 2);
    ck_assert_int_eq(run_tool("generate -m x --temperature hot", out, sizeof out), 2);
    ck_assert_ptr_nonnull(strstr(out, "charlstm generate: --temperature: expected a number, got 'hot'"));
}
END_TEST

Suite *suite_cli(void)
{
    Suite *s = suite_create("cli");
    TCase *tc = tcase_create("opts");
    tcase_add_test(tc, test_parse_values);
    tcase_add_test(tc, test_parse_repeat_and_positional);
    tcase_add_test(tc, test_parse_positional_values);
    tcase_add_test(tc, test_parse_bad_values);
    tcase_add_test(tc, test_help_shows_defaults);
    tcase_add_test(tc, test_help_wraps);
    tcase_add_test(tc, test_strs_and_choices);
    tcase_add_test(tc, test_commands_help);
    tcase_add_test(tc, test_train_accepts_torch_flags);
    suite_add_tcase(s, tc);
    tc = tcase_create("runtime");
    tcase_add_test(tc, test_progress_format);
    tcase_add_test(tc, test_progress_line);
    tcase_add_test(tc, test_progress_tty_rewrites);
    tcase_add_test(tc, test_signal_flag);
    tcase_add_test(tc, test_util_files_and_messages);
    tcase_add_test(tc, test_util_write_error);
    tcase_add_test(tc, test_tool_binary);
    suite_add_tcase(s, tc);
    return s;
}
