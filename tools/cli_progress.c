/* cli_progress: a rate-limited progress line with rate, loss and ETA. */
#include "cli_progress.h"

#include <math.h>
#include <stdarg.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ---------------------------------------------------------------- formatting */

void cli_progress_hms(double seconds, char *buf, size_t size)
{
    if (!isfinite(seconds) || seconds < 0 || seconds > 1e9) {
        snprintf(buf, size, "-:--:--");
        return;
    }
    long s = (long)(seconds + 0.5);
    snprintf(buf, size, "%ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60);
}

void cli_progress_si(double value, char *buf, size_t size)
{
    static const char suffix[] = " kMGT";
    int i = 0;
    while (fabs(value) >= 999.5 && i < 4) {
        value /= 1000;
        i++;
    }
    if (i == 0)
        snprintf(buf, size, "%.0f", value);
    else
        snprintf(buf, size, "%.*f%c", fabs(value) < 9.995 ? 2 : fabs(value) < 99.95 ? 1 : 0,
                 value, suffix[i]);
}

/* Seconds still needed: by step count and by the time budget, whichever ends first. */
static double eta(const cli_progress *p, double now)
{
    double e = INFINITY;
    if (p->total > 0 && p->step > p->step0 && now > p->t_first)
        e = (double)(p->total - p->step) * (now - p->t_first) / (double)(p->step - p->step0);
    if (p->time_limit > 0)
        e = fmin(e, p->time_limit - (now - p->t0));
    return e < 0 ? 0 : e;
}

int cli_progress_format(const cli_progress *p, double now, char *buf, size_t size)
{
    char rate[32], el[32], left[32];
    size_t n = 0;
#define PUT(...) n += (size_t)snprintf(buf + n, n < size ? size - n : 0, __VA_ARGS__)
    buf[0] = '\0';
    PUT("step %ld", p->step);
    if (p->total > 0)
        PUT("/%ld  %.1f%%", p->total, 100.0 * (double)p->step / (double)p->total);
    if (p->step > p->step0 && now > p->t_first) {
        cli_progress_si((p->units - p->units0) / (now - p->t_first), rate, sizeof rate);
        PUT("  %s %s/s", rate, p->unit);
    }
    if (p->have_loss)
        PUT("  loss %.4f", p->loss);
    if (p->have_val && p->val_percent)
        PUT("  %s %.2f%%", p->val_label ? p->val_label : "val", 100 * p->val_loss);
    else if (p->have_val)
        PUT("  %s %.4f", p->val_label ? p->val_label : "val", p->val_loss);
    cli_progress_hms(now - p->t0, el, sizeof el);
    PUT("  time %s", el);
    double e = eta(p, now);
    if (isfinite(e)) {
        cli_progress_hms(e, left, sizeof left);
        PUT("  ETA %s", left);
    }
#undef PUT
    return (int)(n < size ? n : size - 1);
}

/* ---------------------------------------------------------------- drawing */

static void draw(cli_progress *p, double now, int end_line)
{
    char line[256];
    int len = cli_progress_format(p, now, line, sizeof line);
    if (p->tty) {
        int pad = p->drawn_len > len ? p->drawn_len - len : 0;
        fprintf(p->out, "\r%s%*s", line, pad, "");
        p->drawn_len = end_line ? 0 : len;
        if (end_line)
            fputc('\n', p->out);
    } else {
        fprintf(p->out, "%s\n", line);
    }
    fflush(p->out);
    p->last_draw = now;
}

void cli_progress_init_at(cli_progress *p, FILE *out, long total_steps, const char *unit,
                          double now)
{
    memset(p, 0, sizeof *p);
    p->out = out;
    p->tty = isatty(fileno(out));
    p->unit = unit;
    p->total = total_steps;
    p->interval = 30;
    p->tty_interval = 0.25;
    p->t0 = p->last_draw = now;
}

void cli_progress_init(cli_progress *p, FILE *out, long total_steps, const char *unit)
{
    cli_progress_init_at(p, out, total_steps, unit, now_seconds());
}

void cli_progress_update_at(cli_progress *p, long step, double units, double loss, double now)
{
    if (!p->started) {
        /* The rate counts from here: a resumed run starts at a late step. */
        p->started = 1;
        p->t_first = now;
        p->step0 = step;
        p->units0 = units;
    }
    p->step = step;
    p->units = units;
    p->have_loss = isfinite(loss) && loss >= 0;
    p->loss = loss;
    if (now - p->last_draw >= (p->tty ? p->tty_interval : p->interval))
        draw(p, now, 0);
}

void cli_progress_update(cli_progress *p, long step, double units, double loss)
{
    cli_progress_update_at(p, step, units, loss, now_seconds());
}

void cli_progress_set_val(cli_progress *p, double val_loss)
{
    p->val_loss = val_loss;
    p->have_val = isfinite(val_loss);
}

void cli_progress_note(cli_progress *p, const char *fmt, ...)
{
    va_list ap;
    if (p->tty && p->drawn_len > 0) {
        fprintf(p->out, "\r%*s\r", p->drawn_len, "");
        p->drawn_len = 0;
        p->last_draw = -INFINITY;  /* redraw at the next update */
    }
    va_start(ap, fmt);
    vfprintf(p->out, fmt, ap);
    va_end(ap);
    fputc('\n', p->out);
    fflush(p->out);
}

void cli_progress_finish_at(cli_progress *p, double now)
{
    if (p->started)
        draw(p, now, 1);
}

void cli_progress_finish(cli_progress *p)
{
    cli_progress_finish_at(p, now_seconds());
}
