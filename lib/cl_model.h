/* cl_model: one model file = text options + character vocabulary + the
 * character encoder + zero or more heads (lm, tagger, classifier), all
 * parameters in one cl_params buffer (DESIGN.md, "Model file").
 *
 * Heads plug in through cl_head_ops: each owns a section of the file
 * ("head.lm", ...) holding its configuration as key/values and its tensors,
 * whose names in the parameter buffer start with "<section>.".  Adding a head
 * to a loaded model re-lays the buffer and keeps every other value. */
#ifndef CL_MODEL_H
#define CL_MODEL_H

#include "cl_ckpt.h"
#include "cl_encoder.h"
#include "cl_text.h"
#include "cl_api.h"

CL_API_BEGIN

#define CL_MODEL_MAX_HEADS 4

typedef struct cl_model cl_model;

typedef struct {
    const char *section; /* file section and tensor-name prefix, e.g. "head.lm" */
    /* Register the head's tensors "<section>.<name>" for model m. */
    int (*add_params)(const cl_model *m, const void *cfg, cl_params *p);
    /* Fresh random values for those tensors. */
    int (*init_params)(const cl_model *m, const void *cfg, cl_params *p, cl_rng *rng);
    /* The head's key/value entries (inside its section, before tensors). */
    int (*save_meta)(const void *cfg, cl_ckpt_writer *w);
    /* Read them back into a new *cfg, freed with free_cfg. */
    int (*load_meta)(const cl_model *m, const cl_ckpt_section *s, void **cfg, cl_diag *d);
    void (*free_cfg)(void *cfg);
} cl_head_ops;

/* Fields are shared with the lib modules that train and run heads; programs
 * use the functions below (cl_model_text, cl_model_vocab, ...). */
struct cl_model {
    cl_text_opts text;
    cl_vocab vocab;
    cl_encoder_config enc;
    cl_params params;
    int nheads;
    struct {
        const cl_head_ops *ops;
        void *cfg;
    } heads[CL_MODEL_MAX_HEADS];
};

/* A new model with the encoder only, parameters allocated and randomly
 * initialised from rng.  Takes ownership of *vocab (left zeroed).  The caller
 * frees *m with cl_model_free. */
int cl_model_create(cl_model **m, const cl_text_opts *text, cl_vocab *vocab,
                    const cl_encoder_config *ec, cl_rng *rng);
/* Add (or replace, same section) a head; takes ownership of cfg (freed with
 * ops->free_cfg, also on error).  Existing parameters keep their values; the
 * new head's are initialised from rng. */
int cl_model_add_head(cl_model *m, const cl_head_ops *ops, void *cfg, cl_rng *rng);
/* The head's configuration, or NULL when the model has no such head. */
void *cl_model_head(const cl_model *m, const char *section);
/* [begin, end) of the trainable parameters whose names start with prefix
 * ("encoder", "head.lm"): each component's trainable tensors are contiguous
 * (constants live apart, see cl_params), so freezing is a range. */
void cl_model_param_range(const cl_model *m, const char *prefix, size_t *begin, size_t *end);

/* Extra sections written after the model's own (optimizer, training state). */
typedef int (*cl_model_extra_fn)(cl_ckpt_writer *w, void *ctx);
/* Atomic save (see cl_ckpt); extra may be NULL. */
int cl_model_save(const cl_model *m, const char *path, cl_model_extra_fn extra, void *ctx,
                  cl_diag *d);
/* Load and validate.  With keep != NULL the loaded file is handed to the
 * caller (free with cl_ckpt_free) to read extra sections; else it is freed. */
int cl_model_load(cl_model **m, const char *path, cl_ckpt **keep, cl_diag *d);
/* The same from a file already read (cl_ckpt_load or cl_ckpt_load_mem); ck
 * stays the caller's.  name is used in messages only. */
int cl_model_from_ckpt(cl_model **m, const cl_ckpt *ck, const char *name, cl_diag *d);
void cl_model_free(cl_model *m);

/* The model's parts, for programs (tools reach the model only through these). */
const cl_text_opts *cl_model_text(const cl_model *m);
const cl_vocab *cl_model_vocab(const cl_model *m);
const cl_encoder_config *cl_model_encoder(const cl_model *m);
/* Floats in the parameter buffer (trainable and constant). */
size_t cl_model_nparams(const cl_model *m);
/* Heads, in file order: count and the file section of head i ("head.lm"). */
int cl_model_nheads(const cl_model *m);
const char *cl_model_head_name(const cl_model *m, int i);

/* Character ids of cps[0..n) into ids; *unknown (if not NULL) counts the
 * characters outside the vocabulary (mapped to id 0). */
void cl_model_encode(const cl_model *m, const int32_t *cps, size_t n, int *ids, size_t *unknown);

CL_API_END
#endif
