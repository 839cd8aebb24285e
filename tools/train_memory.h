/* train_memory: refuse, before anything is allocated, training options
 * whose activations cannot fit in this machine's memory (issue 12:
 * `--batch 4096 --seq 4096` was accepted and killed by the kernel at 23.5 GB
 * with no message). */
#ifndef TRAIN_MEMORY_H
#define TRAIN_MEMORY_H

#include <stddef.h>

#include "cli_opts.h"
#include "train_opts.h"

/* Bytes a language model's training step needs at least for batch x seq
 * positions (activations and their gradients, logits over a small
 * vocabulary): a lower bound, so a refusal is never wrong. */
double train_memory_lm_bytes(const train_opts *o);

/* 0, or a usage error naming the options, the memory they would need and
 * the machine's (CLI_EXIT_USAGE).  Only the language model trains on
 * batch x seq positions; the other tasks pass. */
int train_memory_check(const cli_command *cmd, const train_opts *o);

#endif
