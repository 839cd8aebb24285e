/* cli_stream: lines read with read(2), poll() to know whether the next one
 * is already here, UTF-8 checked or repaired line by line. */
#include "cli_stream.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <utf8proc.h>

#include "cli_util.h"

#define CHUNK 65536

/* Keep the message for cli_stream_fail: the caller first writes the
 * answers of the lines before it. */
__attribute__((format(printf, 2, 3))) static int fail(cli_stream *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->err, sizeof s->err, fmt, ap);
    va_end(ap);
    return -1;
}

int cli_stream_fail(const cli_stream *s)
{
    return cli_error(s->cmd, "%s", s->err[0] ? s->err : "read error");
}

int cli_stream_open(cli_stream *s, const char *cmd, const char *path, int replace_invalid)
{
    *s = (cli_stream){.cmd = cmd, .path = path, .name = cli_in_name(path),
                      .replace_invalid = replace_invalid, .fd = -1};
    if (!strcmp(path, "-")) {
        if (isatty(STDIN_FILENO))
            fprintf(stderr, "charlstm %s: reading from the terminal (end with Ctrl-D)\n", cmd);
        s->fd = STDIN_FILENO;
        return 0;
    }
    struct stat st;
    if ((s->fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
        return cli_error(cmd, "cannot open %s: %s", path, strerror(errno));
    if (fstat(s->fd, &st) == 0 && S_ISDIR(st.st_mode)) {
        close(s->fd), s->fd = -1;
        return cli_error(cmd, "cannot open %s: is a directory", path);
    }
    return 0;
}

void cli_stream_close(cli_stream *s)
{
    if (s->fd > STDIN_FILENO)
        close(s->fd);
    free(s->buf), free(s->line);
    s->buf = s->line = NULL, s->fd = -1;
}

/* ---- the byte buffer */

static const char *find_lf(const cli_stream *s)
{
    return s->end > s->beg ? memchr(s->buf + s->beg, '\n', s->end - s->beg) : NULL;
}

/* One read(2) of what is there (blocking when nothing is).  0 or CLI_EXIT_FAIL. */
static int fill(cli_stream *s)
{
    if (s->beg > 0) { /* slide the unread bytes to the front */
        memmove(s->buf, s->buf + s->beg, s->end - s->beg);
        s->end -= s->beg, s->beg = 0;
    }
    if (s->cap - s->end < CHUNK) {
        char *b = realloc(s->buf, s->cap + 2 * CHUNK);
        if (!b)
            return fail(s, "out of memory reading %s", s->name);
        s->buf = b, s->cap += 2 * CHUNK;
    }
    ssize_t got;
    do
        got = read(s->fd, s->buf + s->end, s->cap - s->end);
    while (got < 0 && errno == EINTR);
    if (got < 0)
        return fail(s, "%s: read error: %s", s->name, strerror(errno));
    s->eof = got == 0;
    s->end += (size_t)got;
    return 0;
}

int cli_stream_ready(cli_stream *s)
{
    while (!s->eof && !find_lf(s)) {
        struct pollfd p = {.fd = s->fd, .events = POLLIN};
        if (poll(&p, 1, 0) <= 0 || !(p.revents & (POLLIN | POLLHUP | POLLERR)))
            return 0;
        if (fill(s))
            return 1; /* the error shows at the next cli_stream_next */
    }
    return 1;
}

/* ---- UTF-8 */

/* Check the line; with replace_invalid rewrite each invalid byte as U+FFFD. */
static int check_utf8(cli_stream *s)
{
    const utf8proc_uint8_t *p = (const utf8proc_uint8_t *)s->line;
    utf8proc_int32_t cp;
    size_t i = 0;
    while (i < s->len) {
        utf8proc_ssize_t k = utf8proc_iterate(p + i, (utf8proc_ssize_t)(s->len - i), &cp);
        if (k > 0) {
            i += (size_t)k;
            continue;
        }
        if (!s->replace_invalid)
            return fail(s, "%s:%ld: invalid UTF-8 at byte %zu (byte %llu of the input); "
                             "--replace-invalid reads it as U+FFFD", s->name, s->lineno, i + 1,
                             s->consumed + i + 1);
        char *l = realloc(s->line, s->len + 3);
        if (!l)
            return fail(s, "out of memory reading %s", s->name);
        s->line = l, s->line_cap = s->len + 3;
        memmove(l + i + 3, l + i + 1, s->len - i); /* the NUL moves too */
        memcpy(l + i, "\xEF\xBF\xBD", 3);
        s->len += 2, i += 3;
        p = (const utf8proc_uint8_t *)s->line;
    }
    return 0;
}

/* ---- lines */

static int take_line(cli_stream *s, size_t n, size_t skip)
{
    if (n + 1 > s->line_cap) {
        char *l = realloc(s->line, n + 1);
        if (!l)
            return fail(s, "out of memory reading %s", s->name);
        s->line = l, s->line_cap = n + 1;
    }
    memcpy(s->line, s->buf + s->beg, n);
    s->line[n] = 0;
    s->len = n;
    if (n > 0 && s->line[n - 1] == '\r')
        s->line[--s->len] = 0;
    s->beg += n + skip;
    s->lineno++;
    size_t bom = s->lineno == 1 && s->len >= 3 && !memcmp(s->line, "\xEF\xBB\xBF", 3) ? 3 : 0;
    if (bom)
        memmove(s->line, s->line + 3, (s->len -= 3) + 1);
    int rc = check_utf8(s);
    s->consumed += n + skip;
    return rc ? -1 : 1;
}

int cli_stream_next(cli_stream *s)
{
    const char *lf;
    while (!(lf = find_lf(s)) && !s->eof)
        if (fill(s))
            return -1;
    if (lf)
        return take_line(s, (size_t)(lf - (s->buf + s->beg)), 1);
    return s->end > s->beg ? take_line(s, s->end - s->beg, 0) : 0;
}
