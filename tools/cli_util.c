/* cli_util: error reporting and file opening for the charlstm tools. */
#include "cli_util.h"

#include "cl_mm.h"

#include <cblas.h>
#include <omp.h>

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli_opts.h"

static int is_dash(const char *path)
{
    return strcmp(path, "-") == 0;
}

const char *cli_in_name(const char *path)
{
    return is_dash(path) ? "<stdin>" : path;
}

const char *cli_out_name(const char *path)
{
    return is_dash(path) ? "<stdout>" : path;
}

/* ---------------------------------------------------------------- messages */

static void vreport(const char *cmd, const char *fmt, va_list ap)
{
    fprintf(stderr, CLI_PROG " %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

int cli_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vreport(cmd, fmt, ap);
    va_end(ap);
    return CLI_EXIT_FAIL;
}

_Noreturn void cli_die(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vreport(cmd, fmt, ap);
    va_end(ap);
    exit(CLI_EXIT_FAIL);
}

int cli_fail(const char *cmd, int err, const cl_diag *diag, const char *context, ...)
{
    fprintf(stderr, CLI_PROG " %s: ", cmd);
    if (context) {
        va_list ap;
        va_start(ap, context);
        vfprintf(stderr, context, ap);
        va_end(ap);
        fputs(": ", stderr);
    }
    if (diag && diag->msg[0])
        fprintf(stderr, "%s (%s)\n", diag->msg, cl_strerror(err));
    else
        fprintf(stderr, "%s\n", cl_strerror(err));
    return CLI_EXIT_FAIL;
}

/* ---------------------------------------------------------------- files */

FILE *cli_open_in(const char *cmd, const char *path)
{
    if (is_dash(path)) {
        if (isatty(STDIN_FILENO))
            fprintf(stderr, CLI_PROG " %s: reading from the terminal (end with Ctrl-D)\n", cmd);
        return stdin;
    }
    FILE *f = fopen(path, "rb");
    if (!f) {
        cli_error(cmd, "cannot open %s: %s", path, strerror(errno));
        return NULL;
    }
    /* fopen succeeds on a directory and the first read fails with a vaguer error. */
    struct stat st;
    if (fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode)) {
        fclose(f);
        cli_error(cmd, "cannot open %s: is a directory", path);
        return NULL;
    }
    return f;
}

FILE *cli_open_out(const char *cmd, const char *path)
{
    if (is_dash(path))
        return stdout;
    FILE *f = fopen(path, "wb");
    if (!f)
        cli_error(cmd, "cannot create %s: %s", path, strerror(errno));
    return f;
}

/* What a non-regular file is, for the message. */
static const char *file_kind(mode_t mode)
{
    if (S_ISDIR(mode))
        return "a directory";
    if (S_ISFIFO(mode))
        return "a FIFO";
    if (S_ISCHR(mode))
        return "a character device";
    if (S_ISBLK(mode))
        return "a block device";
    if (S_ISSOCK(mode))
        return "a socket";
    return "not a regular file";
}

/* Create and remove a file in the directory of path: the one way to know
 * that a rename into it will work (permissions, read-only mount, ACLs). */
static int check_dir_writable(const char *cmd, const char *path)
{
    const char *slash = strrchr(path, '/');
    int dlen = slash ? (int)(slash - path) + 1 : 1;
    const char *dir = slash ? path : ".";
    char probe[4096];
    if (snprintf(probe, sizeof probe, "%.*s.charlstm-probe.%ld", slash ? dlen : 0, path,
                 (long)getpid()) >= (int)sizeof probe)
        return cli_error(cmd, "output path too long: %s", path);
    int fd = open(probe, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return cli_error(cmd, "cannot write %s: directory %.*s is not writable: %s", path, dlen,
                         dir, strerror(errno));
    close(fd);
    unlink(probe);
    return 0;
}

int cli_check_output(const char *cmd, const char *path)
{
    struct stat st;
    if (is_dash(path))
        return 0;
    if (stat(path, &st) == 0 && !S_ISREG(st.st_mode))
        return cli_error(cmd, "refusing to write %s: it is %s (give the path of a regular file "
                         "or of a new one)", path, file_kind(st.st_mode));
    return check_dir_writable(cmd, path);
}

int cli_close_in(const char *cmd, FILE *f, const char *path)
{
    int bad = ferror(f);
    int saved = errno;
    if (f != stdin)
        fclose(f);
    if (bad)
        return cli_error(cmd, "%s: read error: %s", cli_in_name(path), strerror(saved));
    return 0;
}

int cli_close_out(const char *cmd, FILE *f, const char *path)
{
    int bad = fflush(f) != 0 || ferror(f);
    int saved = errno;
    if (f != stdout && fclose(f) != 0 && !bad) {
        bad = 1;
        saved = errno;
    }
    if (bad)
        return cli_error(cmd, "%s: write error: %s", cli_out_name(path), strerror(saved));
    return 0;
}

uint64_t cli_entropy_seed(void)
{
    uint64_t v = 0;
    /* getrandom never fails for 8 bytes once the pool is initialised; the
     * clock and PID are a fallback for a kernel without it. */
    if (getrandom(&v, sizeof v, 0) != (ssize_t)sizeof v)
        v = (uint64_t)time(NULL) * 6364136223846793005u ^ (uint64_t)getpid();
    v &= INT64_MAX; /* a value --seed accepts */
    return v ? v : 1;
}

void cli_threads(int n)
{
    openblas_set_num_threads(1);
    omp_set_num_threads(n > 0 ? n : 1);
}

cli_opt cli_precision_opt(int *dest)
{
    return (cli_opt){"precision", 0, CLI_CHOICE, dest, NULL,
                     .help = "matrix products of the recurrent stacks through oneDNN in bf16 "
                     "(fp32 accumulation) or in fp32; auto: bf16 where the CPU has AMX or "
                     "AVX512-BF16, fp32 elsewhere (bf16 changes a few answers: docs/performance.md)",
                     .choices = "auto|fp32|bf16"};
}

int cli_precision_fail(const char *cmd, int p, int err)
{
    if (err == CL_EINVAL && p == CL_PREC_BF16)
        return cli_error(cmd, "--precision bf16: this CPU has neither AMX nor AVX512-BF16 "
                         "(use auto or fp32)");
    return cli_fail(cmd, err, NULL, "--precision %s", cl_precision_name((cl_precision)p));
}

int cli_no_dash(const char *cmd, const char *opt, const char *path, const char *why)
{
    if (!path || strcmp(path, "-") != 0)
        return 0;
    cli_error(cmd, "%s -: %s", opt, why);
    return CLI_EXIT_USAGE;
}
