/* train_memory: the up-front memory check of `charlstm train`. */
#include "train_memory.h"

#include <unistd.h>

#include "commands.h"

/* The smallest vocabulary a real corpus has (letters, digits, punctuation). */
#define MIN_VOCAB 64

double train_memory_lm_bytes(const train_opts *o)
{
    double H = o->hidden, dirs = o->bidir ? 2 : 1, gates = o->cell == CELL_GRU ? 3 : 4;
    /* per position and layer: gate pre-activations and their gradients,
     * states (h, c) kept for backward and their gradients, the dropout mask */
    double layer = dirs * (2 * gates * H + 5 * H);
    double per_pos = 2.0 * o->emb + o->layers * layer + 2.0 * MIN_VOCAB;
    double lms = o->direction == DIRECTION_BOTH ? 2 : 1; /* each keeps its own */
    return 4.0 * lms * per_pos * (double)o->batch * (double)o->seq;
}

static double machine_bytes(void)
{
    long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGESIZE);
    return pages > 0 && size > 0 ? (double)pages * (double)size : 0;
}

int train_memory_check(const cli_command *cmd, const train_opts *o)
{
    double need = train_memory_lm_bytes(o), have = machine_bytes();
    if (o->task != CMD_TASK_LM || have <= 0 || need <= have)
        return 0;
    return cli_usage_error(cmd, "--batch %d --seq %d needs at least %.1f GB for the activations "
                           "of a %d x %d %s; this machine has %.1f GB (lower --batch or --seq)",
                           o->batch, o->seq, need / 1e9, o->layers, o->hidden,
                           o->cell == CELL_GRU ? "GRU" : "LSTM", have / 1e9);
}
