/* train_classifier: "charlstm train --task classifier". */
#include "cli_util.h"
#include "train_opts.h"

int train_classifier(const train_opts *o)
{
    (void)o;
    return cli_error("train", "--task classifier is not implemented yet");
}
