/* cli_stream: input lines for the commands that answer line by line (tag,
 * classify, generate --lines), read so that a program talking to charlstm
 * through a pipe gets each answer as soon as its line is in.
 *
 * The commands batch lines for speed.  A batch is cut when it is full or
 * when the next line has not arrived yet (cli_stream_ready: a poll() with
 * no timeout on the descriptor), so a large file still runs in full batches
 * while a writer that waits for an answer gets it at once.  Lines are read
 * with read(2) into our own buffer: stdio's buffer could hold a line that
 * poll() cannot see.
 *
 * Each line is checked as UTF-8.  An invalid byte is an error naming the
 * source, line and byte once ("<stdin>:3: invalid UTF-8 at byte 5 (byte 42
 * of the input)"), or, with replace_invalid, becomes U+FFFD.  A UTF-8 byte
 * order mark at the start of the input is skipped.  Line ends are LF or
 * CRLF.
 *
 * Memory: the stream owns its buffers; cli_stream_close frees them and
 * closes the file unless it is stdin. */
#ifndef CLI_STREAM_H
#define CLI_STREAM_H

#include <stddef.h>

#include "cl_error.h"

typedef struct {
    const char *cmd;     /* for messages */
    const char *path;    /* as given ("-" = stdin) */
    const char *name;    /* as shown in messages ("<stdin>") */
    int fd, replace_invalid;
    char *buf;           /* bytes read, not yet returned: [beg, end) */
    size_t cap, beg, end;
    int eof;
    unsigned long long consumed; /* input bytes before buf[beg] */
    char *line;          /* the current line, NUL-terminated, without its end */
    size_t len, line_cap;
    long lineno;         /* 1-based number of the current line */
    char err[512];       /* why cli_stream_next returned -1 */
} cli_stream;

/* Open path ("-" = stdin).  On failure prints "charlstm CMD: cannot open ..."
 * and returns CLI_EXIT_FAIL; else 0. */
int cli_stream_open(cli_stream *s, const char *cmd, const char *path, int replace_invalid);

/* Next line into s->line / s->len, waiting for it if needed.  Returns 1,
 * 0 at end of input, or -1 (read error, invalid UTF-8, out of memory; the
 * lines before it were returned): the caller writes what it has, then
 * reports with cli_stream_fail. */
int cli_stream_next(cli_stream *s);

/* Print why cli_stream_next failed; returns CLI_EXIT_FAIL. */
int cli_stream_fail(const cli_stream *s);

/* 1 when cli_stream_next would return without waiting (a whole line, or the
 * end of input, is already here), 0 when it would block. */
int cli_stream_ready(cli_stream *s);

/* Free the buffers, close the file (not stdin). */
void cli_stream_close(cli_stream *s);

#endif
