/* cli_util: error reporting and file opening for the charlstm tools.
 *
 * Only tools/ print and exit; the library reports through return codes and a
 * cl_diag.  These helpers turn both into one line on stderr that starts with
 * the program and command name:
 *     charlstm train: loading base.model: tensor encoder.w0: checksum mismatch (file is corrupt)
 * Exit status convention of every command: 0 success, 1 runtime error (bad
 * file, I/O), 2 usage error (CLI_EXIT_USAGE in cli_opts.h). */
#ifndef CLI_UTIL_H
#define CLI_UTIL_H

#include <stdint.h>
#include <stdio.h>

#include "cl_error.h"
#include "cli_opts.h"

/* Exit status of a runtime error (unreadable file, corrupt model, ...). */
#define CLI_EXIT_FAIL 1

/* "charlstm CMD: <message>\n" on stderr; returns CLI_EXIT_FAIL so a command can
 * `return cli_error("train", "no training data");`. */
int cli_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Report a library error: "charlstm CMD: <context>: <diag> (<cl_strerror(err)>)",
 * or "...: <context>: <cl_strerror(err)>" when diag is NULL or empty.
 * context is printf-formatted (e.g. "loading %s", path) and may be NULL.
 * Returns CLI_EXIT_FAIL. */
int cli_fail(const char *cmd, int err, const cl_diag *diag, const char *context, ...)
    __attribute__((format(printf, 4, 5)));

/* cli_error() then exit(CLI_EXIT_FAIL); for failures with nothing to clean up
 * (e.g. out of memory while setting up). */
_Noreturn void cli_die(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* How a path is named in messages: "-" is "<stdin>" for input, "<stdout>" for output. */
const char *cli_in_name(const char *path);
const char *cli_out_name(const char *path);

/* Open path for reading ("-": stdin, with a hint on stderr when stdin is a
 * terminal).  Directories are refused.  On failure prints
 * "charlstm CMD: cannot open FILE: <strerror>" and returns NULL.
 * Close with cli_close_in(). */
FILE *cli_open_in(const char *cmd, const char *path);

/* Open path for writing, truncating it ("-": stdout).  Same error reporting.
 * Close with cli_close_out(), which reports write errors. */
FILE *cli_open_out(const char *cmd, const char *path);

/* Before long work that ends by writing path: refuse a path that exists
 * and is not a regular file (a FIFO, a device, a directory: the atomic save
 * would rename a model over it) and check, by creating and removing a
 * probe file, that its directory is writable.  "-" passes.  Returns 0, or
 * prints why and returns CLI_EXIT_FAIL. */
int cli_check_output(const char *cmd, const char *path);

/* Check for a read error on f, then close it (stdin is left open).
 * Returns 0, or prints "charlstm CMD: FILE: read error: ..." and returns CLI_EXIT_FAIL. */
int cli_close_in(const char *cmd, FILE *f, const char *path);

/* Flush and close f (stdout is only flushed): a full disk or closed pipe
 * shows up here, not at fprintf.  Returns 0 or CLI_EXIT_FAIL (message printed). */
int cli_close_out(const char *cmd, FILE *f, const char *path);

/* "-" (stdin/stdout) given for a file that cannot be a stream, such as a
 * model (mapped, checked, saved atomically by rename): prints
 * "charlstm CMD: OPT -: WHY" and returns CLI_EXIT_USAGE; 0 for any other
 * path (and NULL). */
int cli_no_dash(const char *cmd, const char *opt, const char *path, const char *why);
#define CLI_MODEL_NOT_A_STREAM "a model is a file; give its name (stdin and stdout cannot hold one)"
/* A random seed for --seed 0, from the system's entropy (getrandom): two
 * runs started in the same second differ.  In [1, INT64_MAX]. */
uint64_t cli_entropy_seed(void);

/* The program's threads: n OpenMP threads, OpenBLAS single-threaded.  The
 * library splits large products by rows over OpenMP's threads; two pools
 * (OpenBLAS's spinning next to OpenMP's) starved each other on two cores. */
void cli_threads(int n);

/* --precision of the commands that run a model (tag, classify, eval,
 * serve): dest int* holds a cl_precision, the choices in its order.  One
 * definition, so the four commands say and accept the same thing. */
#define CLI_PRECISION_DEFAULT 0 /* CL_PREC_AUTO: bf16 where the CPU has it (docs/performance.md) */
cli_opt cli_precision_opt(int *dest);
/* Report that --precision p could not be set (err: CL_EINVAL when bf16 is
 * asked on a CPU without AMX or AVX512-BF16).  Returns CLI_EXIT_FAIL. */
int cli_precision_fail(const char *cmd, int p, int err);

#endif
