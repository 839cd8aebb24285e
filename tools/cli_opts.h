/* cli_opts: one option table per command drives both parsing and --help.
 *
 * A command describes its options once, as an array of cli_opt whose dest
 * fields point into that command's own options struct (so the table is built
 * at run time, in a function, and there is no global state).  cli_parse()
 * fills the struct through getopt_long; cli_help() prints the same table, with
 * the default of every option read from *dest before parsing.  The help text
 * therefore cannot drift from the parser, and a default changes in one place.
 *
 * Values are validated strictly: numbers must be complete (no trailing
 * characters, no overflow), in range, and finite; choices must be one of the
 * listed words.  Errors are printed on stderr as
 *     charlstm train: --hidden: expected an integer, got 'abc'
 *     try 'charlstm train --help'
 * Tools only: this module prints (the library never does). */
#ifndef CLI_OPTS_H
#define CLI_OPTS_H

#include <stdio.h>

/* Name printed before every message, as in "charlstm train: ...". */
#define CLI_PROG "charlstm"

/* Exit status of a command-line (usage) error. */
#define CLI_EXIT_USAGE 2

typedef enum {
    CLI_FLAG,    /* dest int*: set to 1 when given; takes no argument */
    CLI_INT,     /* dest int* */
    CLI_LONG,    /* dest long* */
    CLI_FLOAT,   /* dest double* */
    CLI_STR,     /* dest const char**: points into argv (not copied) */
    CLI_STRS,    /* dest cli_strs*: every occurrence is appended */
    CLI_CHOICE,  /* dest int*: index of the word in choices ("lstm|gru": 0 or 1);
                    a negative default is shown as default_text (or "auto") */
    CLI_SECTION  /* not an option: a heading in --help; only help is used */
} cli_type;

/* A growable list of strings (pointers into argv, not copies).
 * Start from {0}; free with cli_strs_free(). */
typedef struct {
    const char **v;
    int n, cap;
} cli_strs;

typedef struct {
    const char *name;         /* long name without "--" (NULL for CLI_SECTION) */
    char short_name;          /* 0 if none */
    cli_type type;
    void *dest;               /* see cli_type for the pointed-to type */
    const char *metavar;      /* "N", "FILE"; NULL: "N"/"F"/"STR" by type, choices for CLI_CHOICE */
    const char *help;         /* one line, no default (appended automatically) */
    const char *choices;      /* CLI_CHOICE: words separated by '|', e.g. "lstm|gru" */
    double min, max;          /* numbers: accepted range, inclusive; checked when min < max
                                 (leave both 0 for no check) */
    int above_min;            /* min itself is refused (a rate must be > 0) */
    int zero_ok;              /* 0 is accepted besides [min, max] (0 = off, all) */
    const char *default_text; /* shown instead of *dest when the default is computed
                                 later, e.g. "0.05, or 0 with --dev" */
    int required;             /* the option must be given */
} cli_opt;

typedef struct {
    const char *name;         /* "train" */
    const char *summary;      /* one line for "charlstm --help" */
    const char *usage;        /* after "charlstm train ", e.g. "[options] [FILE...]" */
    const char *description;  /* paragraphs after the summary (may be NULL) */
    const cli_opt *opts;
    int nopts;
    int min_args, max_args;   /* positional arguments accepted; max_args < 0: unlimited */
} cli_command;

/* Parse argv[0..argc) (argv[0] is the command name, skipped).  Options and
 * positional arguments may be mixed; "--" ends the options.  On return 0,
 * argv[*first_positional .. argc) are the positional arguments (getopt_long
 * moves them to the end of argv).  Returns
 *   0  success;
 *   1  --help or -h was given: the help was printed on stdout (exit 0);
 *   2  usage error: a message and the "try ... --help" line were printed on
 *      stderr (exit CLI_EXIT_USAGE).
 * Options given before an error keep their parsed values; CLI_STRS lists may
 * have grown, so the caller frees them in every case. */
int cli_parse(const cli_command *cmd, int argc, char **argv, int *first_positional);

/* As cli_parse, and given[i] = 1 for each option opts[i] that argv sets
 * (given has cmd->nopts bytes). */
int cli_parse_given(const cli_command *cmd, int argc, char **argv, int *first_positional,
                    unsigned char *given);

/* Print the full help of cmd on out, with defaults taken from the current
 * values of *dest (call it before parsing, or use --help). */
void cli_help(const cli_command *cmd, FILE *out);

/* Print "charlstm CMD: <message>" and the "try 'charlstm CMD --help'" line on
 * stderr; returns CLI_EXIT_USAGE.  For checks across options after cli_parse. */
int cli_usage_error(const cli_command *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Append s to l; returns 0, or -1 when out of memory (l unchanged). */
int cli_strs_push(cli_strs *l, const char *s);
/* Frees the array (not the strings, which belong to argv); l becomes {0}. */
void cli_strs_free(cli_strs *l);

/* Append the n strings args to l, or if_none (e.g. "-" for stdin) when n is 0
 * and if_none is not NULL.  Returns 0, or CLI_EXIT_USAGE after printing
 * "out of memory".  For the positional arguments after cli_parse(). */
int cli_strs_collect(const cli_command *cmd, cli_strs *l, int n, char **args, const char *if_none);

/* The value of o (not CLI_STRS or CLI_SECTION) as a string that cli_opt_set
 * reads back exactly ("%.17g" for numbers, "0"/"1" for flags, the word of a
 * choice, "" for an unset string). */
void cli_opt_value(const cli_opt *o, char *buf, size_t size);
/* Set o from arg as the parser would (flags take "0" or "1"); on a bad
 * value prints the usage error and returns CLI_EXIT_USAGE. */
int cli_opt_set(const cli_command *cmd, const cli_opt *o, const char *arg);
/* The option called name in cmd, or NULL. */
const cli_opt *cli_opt_find(const cli_command *cmd, const char *name);

/* Index of word in a '|'-separated choices list, or -1. */
int cli_choice_index(const char *choices, const char *word);

#endif
