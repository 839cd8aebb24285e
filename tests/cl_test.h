/* Shared helpers for the Check suites. */
#ifndef CL_TEST_H
#define CL_TEST_H

#include <check.h>
#include <stdio.h>

/* Path of a file under the source tree, e.g. cl_test_path("tests/data/x"). */
static inline const char *cl_test_path(char *buf, size_t size, const char *rel)
{
    snprintf(buf, size, "%s/%s", CL_SRCDIR, rel);
    return buf;
}

/* ../shared/data next to the checkout (CHARLSTM_SHARED_DATA overrides), or
 * NULL (tests that need it skip). */
const char *cl_test_shared_data(void);

/* Open REL under ../shared/data for reading.  When it is missing: with
 * CHARLSTM_REQUIRE_DATA=1 (CI) the test fails; otherwise it is skipped
 * (cl_test_skip) and NULL is returned, and the test returns. */
FILE *cl_test_open_shared(const char *rel, const char *test);

/* Record that TEST is skipped and why: printed now as "TEST: skipped, WHY",
 * and counted in the summary at the end of the run (the test then returns). */
void cl_test_skip(const char *test, const char *why_fmt, ...) __attribute__((format(printf, 2, 3)));

/* A fresh temporary directory for this test process (removed at exit). */
const char *cl_test_tmpdir(void);

/* Run a shell command line; its stdout (append 2>&1 for stderr too) into out
 * (NUL-terminated, truncated to size).  Returns the exit status, or -1. */
int cl_test_shell(const char *cmd, char *out, size_t size);

/* Run the built charlstm (CL_TOOL) through the shell as `charlstm ARGS`
 * (ARGS may hold redirections and pipes after the tool's arguments), with
 * stdout and stderr captured into out (NUL-terminated, truncated to size).
 * Returns the exit status, or -1 if it could not run or was killed. */
int cl_test_run(char *out, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Write len bytes to path (fails the test on error). */
void cl_test_write(const char *path, const void *data, size_t len);

/* A command run by /bin/sh with its stdin and stdout on pipes (a co-process). */
typedef struct {
    int pid, to, from;
} cl_test_coproc;

void cl_test_coproc_start(cl_test_coproc *c, const char *cmd);
/* Write line (ending in "\n"), then read one answer line into answer
 * (NUL-terminated).  Returns the milliseconds the answer took, or -1 when it
 * did not come within timeout_ms. */
double cl_test_coproc_ask(cl_test_coproc *c, const char *line, char *answer, size_t size,
                          int timeout_ms);
/* The same for answers of several lines: write text, then read until the
 * answer ends with end (e.g. "\n\n" after a CoNLL-U sentence). */
double cl_test_coproc_ask_until(cl_test_coproc *c, const char *text, const char *end,
                                char *answer, size_t size, int timeout_ms);
/* Close its stdin, read what is left, wait: its exit status (-1: killed). */
int cl_test_coproc_finish(cl_test_coproc *c);

#endif
