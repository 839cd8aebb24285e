/* charlstm: the command-line tool; dispatches to tools/cmd_<name>.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cl_error.h"
#include "cl_isa.h"
#include "cli_opts.h"
#include "commands.h"

#ifndef CL_VERSION
#define CL_VERSION "unknown"
#endif

typedef struct {
    const char *name;
    const char *summary;
    int (*run)(int argc, char **argv);
} command;

static const command commands[] = {
    {"train", cmd_train_summary, cmd_train},
    {"generate", cmd_generate_summary, cmd_generate},
    {"eval", cmd_eval_summary, cmd_eval},
    {"tag", cmd_tag_summary, cmd_tag},
    {"classify", cmd_classify_summary, cmd_classify},
    {"info", cmd_info_summary, cmd_info},
    {"serve", cmd_serve_summary, cmd_serve},
};
#define NCOMMANDS (int)(sizeof commands / sizeof commands[0])

static const command *find_command(const char *name)
{
    for (int i = 0; i < NCOMMANDS; i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}

static void list_commands(FILE *out)
{
    fprintf(out, "Commands:\n");
    for (int i = 0; i < NCOMMANDS; i++)
        fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
}

static void usage(FILE *out)
{
    fprintf(out,
            "usage: " CLI_PROG " COMMAND [options] [arguments]\n"
            "       " CLI_PROG " help COMMAND | --help | --version\n\n"
            "Character-level LSTM/GRU models of text: language model and generation,\n"
            "part-of-speech tagging, sentence classification.\n\n");
    list_commands(out);
    fprintf(out, "\n'" CLI_PROG " COMMAND --help' describes a command and all its options.\n"
                 "Input \"-\" is stdin; errors exit with 1, usage errors with 2.\n");
}

static int unknown_command(const char *name)
{
    fprintf(stderr, CLI_PROG ": unknown command '%s'\n", name);
    list_commands(stderr);
    return CLI_EXIT_USAGE;
}

/* "charlstm help CMD" is "charlstm CMD --help": the same text by construction. */
static int help_command(int argc, char **argv)
{
    if (argc < 2) {
        usage(stdout);
        return 0;
    }
    const command *c = find_command(argv[1]);
    if (!c)
        return unknown_command(argv[1]);
    char help[] = "--help";
    char *args[] = {argv[1], help, NULL};
    return c->run(2, args);
}

/* The variants this CPU runs, as "baseline avx2 avx512". */
static void cpu_variants(char *buf, size_t size)
{
    unsigned mask = cl_isa_cpu();
    buf[0] = 0;
    for (int i = 0; i < CL_ISA_COUNT; i++)
        if (mask & (1u << i))
            snprintf(buf + strlen(buf), size - strlen(buf), "%s%s", buf[0] ? " " : "",
                     cl_isa_name((cl_isa)i));
}

/* CHARLSTM_ISA must name a kernel variant this CPU runs: said here, once,
 * before a command starts (the library would only return CL_EISA). */
static int check_isa(void)
{
    cl_isa isa;
    const char *forced = getenv("CHARLSTM_ISA");
    if (cl_isa_active(&isa) == CL_OK)
        return 0;
    char cpu[64];
    cpu_variants(cpu, sizeof cpu);
    if (cl_isa_parse(forced, &isa))
        fprintf(stderr,
                CLI_PROG ": CHARLSTM_ISA=%s: no such kernel variant (baseline, avx2, avx512, avx512bf16)\n",
                forced);
    else
        fprintf(stderr,
                CLI_PROG ": CHARLSTM_ISA=%s: this CPU cannot run the %s kernels (it runs: %s)\n",
                forced, forced, cpu);
    return CLI_EXIT_USAGE;
}

/* --version: the release, the kernel variant that runs and what the rest of
 * the binary was compiled for. */
static int version(void)
{
    cl_isa isa;
    char cpu[64];
    int err = check_isa();
    if (err)
        return err;
    cl_isa_active(&isa);
    cpu_variants(cpu, sizeof cpu);
    printf(CLI_PROG " %s\n", CL_VERSION);
    printf("kernels: %s (%s; this CPU runs: %s)\n", cl_isa_name(isa),
           getenv("CHARLSTM_ISA") && *getenv("CHARLSTM_ISA") ? "forced by CHARLSTM_ISA"
                                                              : "chosen for this CPU",
           cpu);
    printf("build: %s\n", cl_isa_build_portable()
                              ? "portable (x86-64 baseline: runs on any x86-64 CPU)"
                              : "native (-march=native: runs on CPUs like the build machine's; "
                                "make PORTABLE=1 for any x86-64)");
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return CLI_EXIT_USAGE;
    }
    const char *name = argv[1];
    if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(name, "--version") == 0 || strcmp(name, "-V") == 0)
        return version();
    if (strcmp(name, "help") == 0)
        return help_command(argc - 1, argv + 1);
    const command *c = find_command(name);
    if (!c) {
        if (name[0] == '-') {
            fprintf(stderr, CLI_PROG ": unknown option '%s' (options go after the command)\n", name);
            fprintf(stderr, "try '" CLI_PROG " --help'\n");
            return CLI_EXIT_USAGE;
        }
        return unknown_command(name);
    }
    int err = check_isa();
    return err ? err : c->run(argc - 1, argv + 1);
}
