/* The Check test runner: runs every suite found in tests/ (see Makefile). */
#include <stdarg.h>
#include <stdio.h>
#include <sys/wait.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cl_test.h"

#define CL_SUITE(name) Suite *name(void);
#include "suites.h"
#undef CL_SUITE

static char tmpdir[256];

static void remove_tmpdir(void)
{
    char cmd[300];
    if (tmpdir[0]) {
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
        if (system(cmd) != 0)
            fprintf(stderr, "warning: could not remove %s\n", tmpdir);
    }
}

const char *cl_test_tmpdir(void)
{
    if (!tmpdir[0]) {
        snprintf(tmpdir, sizeof tmpdir, "/tmp/charlstm-test-XXXXXX");
        if (!mkdtemp(tmpdir))
            return "/tmp";
        atexit(remove_tmpdir);
    }
    return tmpdir;
}

const char *cl_test_shared_data(void)
{
    static char path[1024];
    const char *env = getenv("CHARLSTM_SHARED_DATA");
    snprintf(path, sizeof path, "%s", env ? env : CL_SRCDIR "/../shared/data");
    return access(path, R_OK) == 0 ? path : NULL;
}

FILE *cl_test_open_shared(const char *rel, const char *test)
{
    const char *data = cl_test_shared_data(), *req = getenv("CHARLSTM_REQUIRE_DATA");
    char path[1024];
    FILE *fp = NULL;
    if (data && snprintf(path, sizeof path, "%s/%s", data, rel) < (int)sizeof path)
        fp = fopen(path, "r");
    if (!fp && req && strcmp(req, "1") == 0)
        ck_abort_msg("%s: %s/%s not found, and CHARLSTM_REQUIRE_DATA=1 says it must be there",
                     test, data ? data : CL_SRCDIR "/../shared/data", rel);
    if (!fp)
        cl_test_skip(test, "%s not found", rel);
    return fp;
}

/* Skips are recorded in a file that the forked tests inherit (an unlinked
 * temporary file: writes from each child land at the shared offset). */
static int skip_fd = -1;

void cl_test_skip(const char *test, const char *why_fmt, ...)
{
    char why[512], line[700];
    va_list ap;
    va_start(ap, why_fmt);
    vsnprintf(why, sizeof why, why_fmt, ap);
    va_end(ap);
    int n = snprintf(line, sizeof line, "%s: skipped, %s\n", test, why);
    printf("%s", line);
    fflush(stdout);
    if (skip_fd >= 0 && write(skip_fd, line, (size_t)n) != n)
        fprintf(stderr, "warning: could not record the skip of %s\n", test);
}

/* The summary line of the skips, after Check's own. */
static void report_skips(void)
{
    char buf[8192];
    ssize_t n = skip_fd >= 0 && lseek(skip_fd, 0, SEEK_SET) == 0 ? read(skip_fd, buf, sizeof buf - 1)
                                                                   : -1;
    if (n < 0)
        return;
    buf[n] = 0;
    int count = 0;
    for (char *p = buf; *p; p++)
        count += *p == '\n';
    printf("%d test%s skipped%s\n%s", count, count == 1 ? "" : "s", count ? ":" : "", buf);
}

int cl_test_run(char *out, size_t size, const char *fmt, ...)
{
    char args[8192], cmd[9000];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    snprintf(cmd, sizeof cmd, "( '%s' %s ) 2>&1", CL_TOOL, args);
    return cl_test_shell(cmd, out, size);
}

int cl_test_shell(const char *cmd, char *out, size_t size)
{
    FILE *p = popen(cmd, "r");
    if (!p)
        return -1;
    size_t n = fread(out, 1, size - 1, p);
    out[n] = 0;
    while (fgetc(p) != EOF) /* drain what did not fit */
        ;
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

void cl_test_write(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    ck_assert_msg(f != NULL, "cannot create %s", path);
    ck_assert_uint_eq(fwrite(data, 1, len, f), len);
    ck_assert_int_eq(fclose(f), 0);
}

int main(int argc, char **argv)
{
    /* Optional argument: run only the suite with that name (CK_RUN_SUITE works too). */
    SRunner *sr = srunner_create(NULL);
#define CL_SUITE(name) srunner_add_suite(sr, name());
#include "suites.h"
#undef CL_SUITE
    if (argc > 1)
        setenv("CK_RUN_SUITE", argv[1], 1);
    FILE *skips = tmpfile();
    skip_fd = skips ? fileno(skips) : -1;
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    report_skips();
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
