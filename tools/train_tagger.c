/* train_tagger: "charlstm train --task tagger". */
#include "cli_util.h"
#include "train_opts.h"

int train_tagger(const train_opts *o)
{
    (void)o;
    return cli_error("train", "--task tagger is not implemented yet");
}
