/* cli_opts: table-driven option parsing (getopt_long) and --help text. */
#include "cli_opts.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* getopt_long reports options without a short name by val = CLI_LONGVAL + index. */
#define CLI_LONGVAL 256
#define CLI_HELP_COL 29  /* column where option descriptions start */
#define CLI_NBSP '\x1f'  /* a space help text must not break at ("default: 5") */
#define CLI_WIDTH 79     /* wrap help lines before this column */
#define CLI_DEFLEN 96    /* room for one formatted default */

/* ---------------------------------------------------------------- lists */

int cli_strs_push(cli_strs *l, const char *s)
{
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 4;
        const char **v = realloc(l->v, (size_t)cap * sizeof *v);
        if (!v)
            return -1;
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = s;
    return 0;
}

void cli_strs_free(cli_strs *l)
{
    free(l->v);
    memset(l, 0, sizeof *l);
}

int cli_strs_collect(const cli_command *cmd, cli_strs *l, int n, char **args, const char *if_none)
{
    for (int i = 0; i < n; i++)
        if (cli_strs_push(l, args[i]) != 0)
            return cli_usage_error(cmd, "out of memory");
    if (n == 0 && if_none && cli_strs_push(l, if_none) != 0)
        return cli_usage_error(cmd, "out of memory");
    return 0;
}

int cli_choice_index(const char *choices, const char *word)
{
    size_t len = strlen(word);
    int i = 0;
    for (const char *p = choices; p; i++) {
        const char *bar = strchr(p, '|');
        size_t n = bar ? (size_t)(bar - p) : strlen(p);
        if (n == len && len > 0 && strncmp(p, word, n) == 0)
            return i;
        p = bar ? bar + 1 : NULL;
    }
    return -1;
}

/* Copy the i-th word of choices into buf (empty if there is none). */
static void choice_word(const char *choices, int i, char *buf, size_t size)
{
    const char *p = choices;
    buf[0] = '\0';
    for (; i > 0 && p; i--) {
        p = strchr(p, '|');
        p = p ? p + 1 : NULL;
    }
    if (p && i == 0) {
        const char *bar = strchr(p, '|');
        int n = bar ? (int)(bar - p) : (int)strlen(p);
        snprintf(buf, size, "%.*s", n, p);
    }
}

/* ---------------------------------------------------------------- messages */

static void vusage_error(const cli_command *cmd, const char *fmt, va_list ap)
{
    fprintf(stderr, CLI_PROG " %s: ", cmd->name);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\ntry '" CLI_PROG " %s --help'\n", cmd->name);
}

int cli_usage_error(const cli_command *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vusage_error(cmd, fmt, ap);
    va_end(ap);
    return CLI_EXIT_USAGE;
}

/* ---------------------------------------------------------------- values */

/* Whole-string base-10 integer: no blanks, no trailing characters, no overflow. */
static int parse_long(const char *s, long *out)
{
    char *end;
    if (!*s || isspace((unsigned char)*s))
        return -1;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end)
        return -1;
    *out = v;
    return 0;
}

/* Whole-string finite real number (nan and inf would poison training silently). */
static int parse_double(const char *s, double *out)
{
    char *end;
    if (!*s || isspace((unsigned char)*s))
        return -1;
    errno = 0;
    double v = strtod(s, &end);
    if (errno == ERANGE || *end || !isfinite(v))
        return -1;
    *out = v;
    return 0;
}

static int in_range(const cli_opt *o, double v)
{
    if (!(o->min < o->max) || (o->zero_ok && v == 0))
        return 1;
    return (o->above_min ? v > o->min : v >= o->min) && v <= o->max;
}

static int check_range(const cli_command *cmd, const cli_opt *o, double v, const char *arg)
{
    if (in_range(o, v))
        return 0;
    char low[64] = "", zero[16] = "";
    snprintf(low, sizeof low, o->above_min ? "greater than %.10g" : "at least %.10g", o->min);
    if (o->zero_ok)
        snprintf(zero, sizeof zero, " (or 0)");
    if (isinf(o->max))
        return cli_usage_error(cmd, "--%s: must be %s%s, got '%s'", o->name, low, zero, arg);
    if (isinf(o->min))
        return cli_usage_error(cmd, "--%s: must be at most %.10g%s, got '%s'", o->name, o->max, zero,
                               arg);
    if (o->above_min)
        return cli_usage_error(cmd, "--%s: must be %s and at most %.10g%s, got '%s'", o->name, low,
                               o->max, zero, arg);
    return cli_usage_error(cmd, "--%s: must be between %.10g and %.10g%s, got '%s'",
                           o->name, o->min, o->max, zero, arg);
}

static int set_integer(const cli_command *cmd, const cli_opt *o, const char *arg)
{
    long v;
    int is_int = o->type == CLI_INT;
    if (parse_long(arg, &v) != 0 && errno != ERANGE)
        return cli_usage_error(cmd, "--%s: expected an integer, got '%s'", o->name, arg);
    if (errno == ERANGE || (is_int && (v < INT_MIN || v > INT_MAX)))
        return cli_usage_error(cmd, "--%s: integer out of range: '%s'", o->name, arg);
    if (check_range(cmd, o, (double)v, arg))
        return CLI_EXIT_USAGE;
    if (is_int)
        *(int *)o->dest = (int)v;
    else
        *(long *)o->dest = v;
    return 0;
}

static int set_float(const cli_command *cmd, const cli_opt *o, const char *arg)
{
    double v;
    if (parse_double(arg, &v) != 0)
        return cli_usage_error(cmd, "--%s: expected a number, got '%s'", o->name, arg);
    if (check_range(cmd, o, v, arg))
        return CLI_EXIT_USAGE;
    *(double *)o->dest = v;
    return 0;
}

static int set_choice(const cli_command *cmd, const cli_opt *o, const char *arg)
{
    int i = cli_choice_index(o->choices, arg);
    if (i < 0)
        return cli_usage_error(cmd, "--%s: expected one of %s, got '%s'", o->name, o->choices, arg);
    *(int *)o->dest = i;
    return 0;
}

static int set_value(const cli_command *cmd, const cli_opt *o, const char *arg)
{
    switch (o->type) {
    case CLI_FLAG: *(int *)o->dest = 1; return 0;
    case CLI_INT:
    case CLI_LONG: return set_integer(cmd, o, arg);
    case CLI_FLOAT: return set_float(cmd, o, arg);
    case CLI_STR: *(const char **)o->dest = arg; return 0;
    case CLI_CHOICE: return set_choice(cmd, o, arg);
    case CLI_STRS:
        if (cli_strs_push(o->dest, arg) == 0)
            return 0;
        return cli_usage_error(cmd, "--%s: out of memory", o->name);
    case CLI_SECTION: break;
    }
    return CLI_EXIT_USAGE;
}

int cli_opt_set(const cli_command *cmd, const cli_opt *o, const char *arg)
{
    if (o->type != CLI_FLAG)
        return set_value(cmd, o, arg);
    if (strcmp(arg, "0") != 0 && strcmp(arg, "1") != 0)
        return cli_usage_error(cmd, "--%s: expected 0 or 1, got '%s'", o->name, arg);
    *(int *)o->dest = arg[0] == '1';
    return 0;
}

void cli_opt_value(const cli_opt *o, char *buf, size_t size)
{
    buf[0] = '\0';
    switch (o->type) {
    case CLI_FLAG: snprintf(buf, size, "%d", *(int *)o->dest != 0); break;
    case CLI_INT: snprintf(buf, size, "%d", *(int *)o->dest); break;
    case CLI_LONG: snprintf(buf, size, "%ld", *(long *)o->dest); break;
    case CLI_FLOAT: snprintf(buf, size, "%.17g", *(double *)o->dest); break;
    case CLI_STR:
        if (*(const char **)o->dest)
            snprintf(buf, size, "%s", *(const char **)o->dest);
        break;
    case CLI_CHOICE: choice_word(o->choices, *(int *)o->dest, buf, size); break;
    case CLI_STRS:
    case CLI_SECTION: break;
    }
}

const cli_opt *cli_opt_find(const cli_command *cmd, const char *name)
{
    for (int i = 0; i < cmd->nopts; i++)
        if (cmd->opts[i].name && strcmp(cmd->opts[i].name, name) == 0)
            return &cmd->opts[i];
    return NULL;
}

/* ---------------------------------------------------------------- help */

/* The current value of *dest as help shows it; "" when there is none to show
 * (help rounds numbers, which cli_opt_value keeps exact). */
static void format_default(const cli_opt *o, char *buf, size_t size)
{
    buf[0] = '\0';
    if (o->default_text)
        snprintf(buf, size, "%s", o->default_text);
    else if (o->type == CLI_FLOAT)
        snprintf(buf, size, "%g", *(double *)o->dest);
    else if (o->type == CLI_STRS && ((const cli_strs *)o->dest)->n > 0)
        snprintf(buf, size, "%s", ((const cli_strs *)o->dest)->v[0]);
    else if (o->type != CLI_FLAG) {
        cli_opt_value(o, buf, size);
        if (o->type == CLI_CHOICE && !buf[0])
            snprintf(buf, size, "auto");
    }
}

static const char *metavar(const cli_opt *o)
{
    if (o->metavar)
        return o->metavar;
    switch (o->type) {
    case CLI_INT:
    case CLI_LONG: return "N";
    case CLI_FLOAT: return "F";
    case CLI_CHOICE: return o->choices;
    case CLI_FLAG: return "";
    default: return "STR";
    }
}

/* Print text word by word from column col, wrapping to column indent. */
static void print_wrapped(FILE *out, const char *text, int col, int indent)
{
    const char *p = text;
    while (*p) {
        while (*p == ' ')
            p++;
        int n = (int)strcspn(p, " ");
        if (n == 0)
            break;
        if (col > indent && col + 1 + n > CLI_WIDTH) {
            fprintf(out, "\n%*s", indent, "");
            col = indent;
        } else if (col > indent) {
            fputc(' ', out);
            col++;
        }
        for (int k = 0; k < n; k++)
            fputc(p[k] == CLI_NBSP ? ' ' : p[k], out);
        col += n;
        p += n;
    }
    fputc('\n', out);
}

/* "(0 = none)" reads badly when broken around the '=': glue it. */
static void glue_equals(char *text)
{
    for (char *p = strstr(text, " = "); p; p = strstr(p + 3, " = "))
        p[0] = p[2] = CLI_NBSP;
}

static void print_option(FILE *out, const cli_opt *o, const char *def)
{
    char left[160], text[512];
    const char *mv = o->type == CLI_FLAG ? "" : metavar(o);
    if (o->short_name)
        snprintf(left, sizeof left, "  -%c, --%s%s%s", o->short_name, o->name, *mv ? " " : "", mv);
    else
        snprintf(left, sizeof left, "      --%s%s%s", o->name, *mv ? " " : "", mv);
    int col = fprintf(out, "%s", left);
    if (col + 2 > CLI_HELP_COL) {
        fputc('\n', out);
        col = 0;
    }
    fprintf(out, "%*s", CLI_HELP_COL - col, "");
    if (o->required)
        snprintf(text, sizeof text, "%s (required)", o->help);
    else if (def[0] && strlen(def) < 16 && !strchr(def, ' '))
        snprintf(text, sizeof text, "%s (default:%c%s)", o->help, CLI_NBSP, def);
    else if (def[0])
        snprintf(text, sizeof text, "%s (default: %s)", o->help, def);
    else
        snprintf(text, sizeof text, "%s", o->help);
    glue_equals(text);
    print_wrapped(out, text, CLI_HELP_COL, CLI_HELP_COL);
}

/* defs[i] is the formatted default of opts[i] (a snapshot taken before parsing,
 * so "--hidden 7 --help" still shows the real default). */
static void print_help(const cli_command *cmd, FILE *out, char (*defs)[CLI_DEFLEN])
{
    fprintf(out, "usage: " CLI_PROG " %s %s\n\n%c%s\n", cmd->name, cmd->usage,
            toupper((unsigned char)cmd->summary[0]), cmd->summary + 1);
    if (cmd->description)
        fprintf(out, "\n%s%s", cmd->description,
                cmd->description[strlen(cmd->description) - 1] == '\n' ? "" : "\n");
    if (cmd->nopts == 0 || cmd->opts[0].type != CLI_SECTION)
        fprintf(out, "\nOptions:\n");
    for (int i = 0; i < cmd->nopts; i++) {
        if (cmd->opts[i].type == CLI_SECTION)
            fprintf(out, "\n%s\n", cmd->opts[i].help);
        else
            print_option(out, &cmd->opts[i], defs[i]);
    }
    if (cmd->nopts > 0)
        fprintf(out, "\n");
    static const cli_opt help = {.name = "help", .short_name = 'h', .type = CLI_FLAG,
                                 .help = "show this help and exit"};
    print_option(out, &help, "");
}

static char (*snapshot_defaults(const cli_command *cmd))[CLI_DEFLEN]
{
    char (*defs)[CLI_DEFLEN] = calloc((size_t)cmd->nopts + 1, sizeof *defs);
    for (int i = 0; defs && i < cmd->nopts; i++)
        if (cmd->opts[i].type != CLI_SECTION)
            format_default(&cmd->opts[i], defs[i], CLI_DEFLEN);
    return defs;
}

void cli_help(const cli_command *cmd, FILE *out)
{
    char (*defs)[CLI_DEFLEN] = snapshot_defaults(cmd);
    if (!defs) {
        fprintf(stderr, CLI_PROG " %s: out of memory\n", cmd->name);
        return;
    }
    print_help(cmd, out, defs);
    free(defs);
}

/* ---------------------------------------------------------------- getopt tables */

typedef struct {
    struct option *longs;  /* nopts + help + terminator */
    char *shorts;          /* ":" then "x" or "x:" per short option, then "h" */
    char (*defs)[CLI_DEFLEN];
    char *given;           /* given[i]: opts[i] appeared (for required) */
} parse_tables;

static void free_tables(parse_tables *t)
{
    free(t->longs);
    free(t->shorts);
    free(t->defs);
    free(t->given);
}

static int build_tables(const cli_command *cmd, parse_tables *t)
{
    size_t n = (size_t)cmd->nopts;
    t->longs = calloc(n + 2, sizeof *t->longs);
    t->shorts = calloc(2 * n + 4, 1);
    t->given = calloc(n + 1, 1);
    t->defs = snapshot_defaults(cmd);
    if (!t->longs || !t->shorts || !t->given || !t->defs)
        return -1;
    int nl = 0;
    char *s = t->shorts;
    *s++ = ':';  /* report a missing argument as ':' rather than '?' */
    for (int i = 0; i < cmd->nopts; i++) {
        const cli_opt *o = &cmd->opts[i];
        if (o->type == CLI_SECTION)
            continue;
        /* Table mistakes are programmer errors: catch them in the first test run. */
        assert(o->name && o->dest && o->help && o->short_name != 'h' && o->short_name != ':');
        assert(o->type != CLI_CHOICE || o->choices);
        int arg = o->type == CLI_FLAG ? no_argument : required_argument;
        t->longs[nl++] = (struct option){o->name, arg, NULL,
                                         o->short_name ? o->short_name : CLI_LONGVAL + i};
        if (o->short_name) {
            *s++ = o->short_name;
            if (arg == required_argument)
                *s++ = ':';
        }
    }
    t->longs[nl] = (struct option){"help", no_argument, NULL, 'h'};
    *s = 'h';
    return 0;
}

/* Index in cmd->opts of what getopt_long returned. */
static int option_index(const cli_command *cmd, int c)
{
    if (c >= CLI_LONGVAL)
        return c - CLI_LONGVAL;
    for (int i = 0; i < cmd->nopts; i++)
        if (cmd->opts[i].short_name == c && cmd->opts[i].type != CLI_SECTION)
            return i;
    return -1;
}

/* ---------------------------------------------------------------- errors getopt reports */

/* Say why getopt_long rejected text ("--foo", "--fl", "--bidir=1", "-x").
 * optopt is the rejected short option, or the val of a known option that was
 * given a value it does not take, or 0 for an unknown long option. */
static int bad_option(const cli_command *cmd, const char *text, int opt)
{
    int i = opt ? option_index(cmd, opt) : -1;
    if (opt == 'h')
        return cli_usage_error(cmd, "--help takes no value");
    if (i >= 0)
        return cli_usage_error(cmd, "--%s takes no value", cmd->opts[i].name);
    if (opt)
        return cli_usage_error(cmd, "unknown option '-%c'", opt);
    if (strncmp(text, "--", 2) == 0) {
        const char *name = text + 2;
        size_t len = strcspn(name, "="), used = 0;
        char list[256] = "";
        int matches = 0;
        for (int k = 0; k < cmd->nopts; k++)
            if (cmd->opts[k].name && strncmp(cmd->opts[k].name, name, len) == 0 && used < sizeof list)
                used += (size_t)snprintf(list + used, sizeof list - used, "%s--%s",
                                         matches++ ? ", " : "", cmd->opts[k].name);
        if (matches > 1)
            return cli_usage_error(cmd, "ambiguous option '--%.*s': %s?", (int)len, name, list);
    }
    return cli_usage_error(cmd, "unknown option '%s'", text);
}

static int missing_argument(const cli_command *cmd, int c)
{
    int i = option_index(cmd, c);
    if (i < 0)
        return cli_usage_error(cmd, "option '-%c' needs a value", c);
    return cli_usage_error(cmd, "--%s needs a value (%s)", cmd->opts[i].name,
                           metavar(&cmd->opts[i]));
}

/* Required options present and positional count in [min_args, max_args]. */
static int check_after(const cli_command *cmd, const parse_tables *t, int npos, char **pos)
{
    for (int i = 0; i < cmd->nopts; i++)
        if (cmd->opts[i].required && !t->given[i])
            return cli_usage_error(cmd, "--%s is required", cmd->opts[i].name);
    if (npos < cmd->min_args)
        return cli_usage_error(cmd, "missing argument (usage: " CLI_PROG " %s %s)",
                               cmd->name, cmd->usage);
    if (cmd->max_args >= 0 && npos > cmd->max_args)
        return cli_usage_error(cmd, "unexpected argument '%s'", pos[cmd->max_args]);
    return 0;
}

/* ---------------------------------------------------------------- parse */

static int parse_loop(const cli_command *cmd, parse_tables *t, int argc, char **argv)
{
    int c;
    optind = 0;  /* 0, not 1: makes glibc reinitialise fully between calls */
    opterr = 0;  /* we print our own messages */
    while ((c = getopt_long(argc, argv, t->shorts, t->longs, NULL)) != -1) {
        if (c == 'h') {
            print_help(cmd, stdout, t->defs);
            return 1;
        }
        if (c == '?')
            return bad_option(cmd, argv[optind - 1], optopt);
        if (c == ':')
            return missing_argument(cmd, optopt);
        int i = option_index(cmd, c);
        if (i < 0 || set_value(cmd, &cmd->opts[i], optarg) != 0)
            return CLI_EXIT_USAGE;
        t->given[i] = 1;
    }
    return 0;
}

int cli_parse(const cli_command *cmd, int argc, char **argv, int *first_positional)
{
    return cli_parse_given(cmd, argc, argv, first_positional, NULL);
}

int cli_parse_given(const cli_command *cmd, int argc, char **argv, int *first_positional,
                    unsigned char *given)
{
    parse_tables t = {0};
    int rc;
    if (build_tables(cmd, &t) != 0)
        rc = cli_usage_error(cmd, "out of memory");
    else
        rc = parse_loop(cmd, &t, argc, argv);
    if (rc == 0) {
        *first_positional = optind;
        rc = check_after(cmd, &t, argc - optind, argv + optind);
    }
    if (given && t.given)
        memcpy(given, t.given, (size_t)cmd->nopts);
    free_tables(&t);
    return rc;
}
