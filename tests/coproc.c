/* The co-process helper of cl_test.h: a command on two pipes, asked one
 * line at a time with a deadline, so a tool that holds its answers back
 * fails the test instead of hanging the suite. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cl_test.h"

void cl_test_coproc_start(cl_test_coproc *c, const char *cmd)
{
    int in[2], out[2];
    ck_assert_int_eq(pipe(in), 0);
    ck_assert_int_eq(pipe(out), 0);
    c->pid = fork();
    ck_assert_int_ge(c->pid, 0);
    if (c->pid == 0) {
        dup2(in[0], STDIN_FILENO), dup2(out[1], STDOUT_FILENO);
        close(in[0]), close(in[1]), close(out[0]), close(out[1]);
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    close(in[0]), close(out[1]);
    c->to = in[1], c->from = out[0];
    signal(SIGPIPE, SIG_IGN);
}

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

/* 1 when the got bytes of answer end with end. */
static int ends_with(const char *answer, size_t got, const char *end)
{
    size_t n = strlen(end);
    return got >= n && memcmp(answer + got - n, end, n) == 0;
}

double cl_test_coproc_ask_until(cl_test_coproc *c, const char *text, const char *end,
                                char *answer, size_t size, int timeout_ms)
{
    size_t n = strlen(text), got = 0;
    ck_assert_int_eq(write(c->to, text, n), (ssize_t)n);
    double t0 = now_ms();
    while (got + 1 < size && !ends_with(answer, got, end)) {
        int left = timeout_ms - (int)(now_ms() - t0);
        struct pollfd p = {.fd = c->from, .events = POLLIN};
        if (left <= 0 || poll(&p, 1, left) <= 0)
            return -1;
        ssize_t k = read(c->from, answer + got, 1); /* one byte: never past this answer */
        if (k <= 0)
            return -1;
        got += (size_t)k;
    }
    answer[got] = 0;
    return now_ms() - t0;
}

double cl_test_coproc_ask(cl_test_coproc *c, const char *line, char *answer, size_t size,
                          int timeout_ms)
{
    return cl_test_coproc_ask_until(c, line, "\n", answer, size, timeout_ms);
}

int cl_test_coproc_finish(cl_test_coproc *c)
{
    int st;
    close(c->to);
    struct pollfd p = {.fd = c->from, .events = POLLIN};
    char buf[256];
    while (poll(&p, 1, 10000) > 0 && read(c->from, buf, sizeof buf) > 0) /* drain */
        ;
    close(c->from);
    kill(c->pid, SIGTERM); /* harmless when it has exited */
    while (waitpid(c->pid, &st, 0) < 0 && errno == EINTR)
        ;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}
