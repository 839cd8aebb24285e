/* cli_progress: a progress line for long work, on stderr, fastText style.
 *
 *   step 1200/5000  24.0%  52.3k chars/s  loss 1.4321  val 1.5012  0:05:12 ETA 0:16:30
 *
 * On a terminal the line is rewritten in place with '\r', at most every
 * 0.25 s however often it is updated.  When the stream is not a terminal (a
 * log file, a pipe) a plain line is written every `interval` seconds instead,
 * so logs stay readable.  The caller owns the struct; nothing is allocated.
 *
 *     cli_progress p;
 *     cli_progress_init(&p, stderr, total_steps, "chars");
 *     for (...) { ...; cli_progress_update(&p, step, chars_done, loss); }
 *     cli_progress_finish(&p);
 *
 * The *_at variants take the current time (seconds, any fixed origin)
 * explicitly, which the others read from CLOCK_MONOTONIC; tests use them. */
#ifndef CLI_PROGRESS_H
#define CLI_PROGRESS_H

#include <stdio.h>

typedef struct {
    FILE *out;
    int tty;              /* rewrite in place (set by init from isatty; may be overridden) */
    const char *unit;     /* rate label: "chars", "words", "sentences" */
    long total;           /* steps planned, 0 if unknown (no % and no step ETA) */
    double time_limit;    /* seconds allowed (--minutes), 0 if none; bounds the ETA */
    double interval;      /* seconds between lines when not a tty (default 30) */
    const char *val_label;/* what the validation figure is ("val" when NULL) */
    int val_percent;      /* show it as a percentage (an accuracy) */
    double tty_interval;  /* seconds between redraws on a tty (default 0.25) */
    /* state */
    double t0, t_first, last_draw; /* init, first update, last line drawn */
    long step0, step;     /* step0: first step seen (a resumed run starts late) */
    double units0, units; /* cumulative units (chars/words) at step0 and now */
    double loss, val_loss;
    int have_loss, have_val, started, drawn_len;
} cli_progress;

/* Start the clock.  unit must outlive p (a string literal). */
void cli_progress_init(cli_progress *p, FILE *out, long total_steps, const char *unit);
void cli_progress_init_at(cli_progress *p, FILE *out, long total_steps, const char *unit,
                          double now);

/* Record the state after `step` steps and `units` units processed in total
 * (since the start of training, not of this run) with the latest training
 * loss (NAN or negative: none); redraw if it is time. */
void cli_progress_update(cli_progress *p, long step, double units, double loss);
void cli_progress_update_at(cli_progress *p, long step, double units, double loss, double now);

/* Latest validation figure (a loss, or an accuracy with val_percent), shown
 * from the next redraw on. */
void cli_progress_set_val(cli_progress *p, double val_loss);

/* Print a message on its own line without garbling the progress line
 * (the line is redrawn at the next update). */
void cli_progress_note(cli_progress *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Draw the final state and end the line. */
void cli_progress_finish(cli_progress *p);
void cli_progress_finish_at(cli_progress *p, double now);

/* Format the line for time `now` into buf (no '\r' or newline); returns its length.
 * Exposed for tests and for callers that log the line elsewhere. */
int cli_progress_format(const cli_progress *p, double now, char *buf, size_t size);

/* Seconds as h:mm:ss (negative or non-finite: "-:--:--"). */
void cli_progress_hms(double seconds, char *buf, size_t size);

/* A rate with a k/M/G suffix: 523, 52.3k, 1.23M. */
void cli_progress_si(double value, char *buf, size_t size);

#endif
