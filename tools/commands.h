/* commands: the subcommands of the charlstm tool.
 *
 * Each command lives in tools/cmd_<name>.c as cmd_<name>(argc, argv), where
 * argv[0] is the command name ("train") and the rest its arguments; it returns
 * the process exit status (0 ok, 1 runtime error, 2 usage error).  Its
 * one-line summary is exported as cmd_<name>_summary so that the list in
 * "charlstm --help" and the command's own --help share one string. */
#ifndef COMMANDS_H
#define COMMANDS_H

#define CL_COMMAND(name) \
    int cmd_##name(int argc, char **argv); \
    extern const char cmd_##name##_summary[];

CL_COMMAND(train)
CL_COMMAND(generate)
CL_COMMAND(eval)
CL_COMMAND(tag)
CL_COMMAND(classify)
CL_COMMAND(info)
CL_COMMAND(serve)

#undef CL_COMMAND

/* What a model is trained or evaluated for (train --task, eval --task);
 * the order matches CMD_TASK_CHOICES. */
typedef enum { CMD_TASK_LM, CMD_TASK_TAGGER, CMD_TASK_CLASSIFIER } cmd_task;
#define CMD_TASK_CHOICES "lm|tagger|classifier"

#endif
