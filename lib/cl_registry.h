/* cl_registry: the heads a model file may hold.
 *
 * The one place that knows every head.  It sits above cl_model and the
 * heads (cl_lm, cl_tagger, cl_classifier), which include cl_model.h, so
 * that the model never includes a head: cl_model finds a section's loader
 * here.  Internal, not installed. */
#ifndef CL_REGISTRY_H
#define CL_REGISTRY_H

#include "cl_model.h"

/* The head whose file section is `section`, or NULL. */
const cl_head_ops *cl_registry_find(const char *section);

#endif
