/* cl_registry: the known heads (see cl_registry.h). */
#include "cl_registry.h"

#include <string.h>

#include "cl_classifier.h"
#include "cl_lm.h"
#include "cl_tagger.h"

static const cl_head_ops *const known_heads[] = {&cl_lm_head_ops, &cl_lm_backward_head_ops,
                                                  &cl_tagger_head_ops, &cl_classifier_head_ops};

const cl_head_ops *cl_registry_find(const char *section)
{
    for (size_t i = 0; i < sizeof known_heads / sizeof known_heads[0]; i++)
        if (strcmp(known_heads[i]->section, section) == 0)
            return known_heads[i];
    return NULL;
}
