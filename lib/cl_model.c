/* cl_model: the model file's components and their (de)serialisation. */
#include "cl_model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cl_registry.h" /* the heads a file may hold, found by section name */

#define MODEL_FORMAT "charlstm-model"

static const char *const cell_names[] = {"lstm", "gru"};

/* ==== building ============================================================= */

/* Register encoder and head tensors in a fresh table (nothing allocated
 * for values yet: a loader checks the shapes against the file first). */
static int register_params(const cl_model *m, cl_params *p)
{
    cl_params_init(p);
    int err = cl_encoder_add_params(&m->enc, p);
    for (int i = 0; i < m->nheads && !err; i++)
        err = m->heads[i].ops->add_params(m, m->heads[i].cfg, p);
    if (err)
        cl_params_free(p);
    return err;
}

/* Register encoder and head tensors in a fresh table and allocate it, with
 * gradients: a model built here is about to be trained (a loaded one gets
 * them from the training core, and inference never). */
static int layout_params(const cl_model *m, cl_params *p)
{
    int err = register_params(m, p);
    if (!err && (err = cl_params_alloc(p)) == CL_OK)
        err = cl_params_alloc_grads(p);
    if (err)
        cl_params_free(p);
    return err;
}

int cl_model_create(cl_model **out, const cl_text_opts *text, cl_vocab *vocab,
                    const cl_encoder_config *ec, cl_rng *rng)
{
    *out = NULL;
    cl_model *m = calloc(1, sizeof *m);
    if (!m)
        return CL_ENOMEM;
    m->text = *text;
    m->vocab = *vocab;
    memset(vocab, 0, sizeof *vocab);
    m->enc = *ec;
    int err = layout_params(m, &m->params);
    if (!err)
        err = cl_encoder_init_params(&m->enc, &m->params, rng);
    if (err) {
        cl_model_free(m);
        return err;
    }
    *out = m;
    return CL_OK;
}

static int head_index(const cl_model *m, const char *section)
{
    for (int i = 0; i < m->nheads; i++)
        if (strcmp(m->heads[i].ops->section, section) == 0)
            return i;
    return -1;
}

void *cl_model_head(const cl_model *m, const char *section)
{
    int i = head_index(m, section);
    return i < 0 ? NULL : m->heads[i].cfg;
}

static void drop_head(cl_model *m, int i)
{
    m->heads[i].ops->free_cfg(m->heads[i].cfg);
    memmove(&m->heads[i], &m->heads[i + 1], sizeof m->heads[0] * (size_t)(m->nheads - i - 1));
    m->nheads--;
}

int cl_model_add_head(cl_model *m, const cl_head_ops *ops, void *cfg, cl_rng *rng)
{
    int old = head_index(m, ops->section);
    if (old >= 0)
        drop_head(m, old);
    if (m->nheads == CL_MODEL_MAX_HEADS) {
        ops->free_cfg(cfg);
        return CL_EINVAL;
    }
    m->heads[m->nheads].ops = ops;
    m->heads[m->nheads++].cfg = cfg;
    cl_params fresh;
    int err = layout_params(m, &fresh);
    if (!err)
        err = ops->init_params(m, cfg, &fresh, rng);
    if (err) {
        cl_params_free(&fresh); /* empty after a failed layout, allocated after a failed init */
        drop_head(m, m->nheads - 1);
        return err;
    }
    cl_params_copy_matching(&fresh, &m->params);
    cl_params_free(&m->params);
    m->params = fresh;
    return CL_OK;
}

static int has_prefix(const char *name, const char *prefix)
{
    size_t n = strlen(prefix);
    return strncmp(name, prefix, n) == 0 && name[n] == '.';
}

void cl_model_param_range(const cl_model *m, const char *prefix, size_t *begin, size_t *end)
{
    const cl_params *p = &m->params;
    *begin = *end = 0;
    for (int i = 0, seen = 0; i < p->nt; i++)
        if (!p->t[i].constant && has_prefix(p->t[i].name, prefix)) {
            if (!seen++)
                *begin = p->t[i].offset;
            *end = p->t[i].offset + p->t[i].size;
        }
}

void cl_model_free(cl_model *m)
{
    if (!m)
        return;
    while (m->nheads)
        drop_head(m, m->nheads - 1);
    cl_vocab_free(&m->vocab);
    cl_params_free(&m->params);
    free(m);
}

void cl_model_encode(const cl_model *m, const int32_t *cps, size_t n, int *ids, size_t *unknown)
{
    size_t unk = 0;
    for (size_t i = 0; i < n; i++) {
        ids[i] = cl_vocab_id(&m->vocab, cps[i]);
        unk += ids[i] == CL_VOCAB_UNK;
    }
    if (unknown)
        *unknown = unk;
}

/* ==== saving =============================================================== */

static int put_tensors(const cl_model *m, cl_ckpt_writer *w, const char *section)
{
    const cl_params *p = &m->params;
    size_t skip = strlen(section) + 1;
    int err = CL_OK;
    for (int i = 0; i < p->nt && !err; i++) {
        const cl_tensor *t = &p->t[i];
        if (!has_prefix(t->name, section))
            continue;
        int64_t shape[CL_MAX_DIMS];
        for (int k = 0; k < t->ndim; k++)
            shape[k] = t->shape[k];
        err = cl_ckpt_put_f32(w, t->name + skip, t->ndim, shape, p->w + t->offset);
    }
    return err;
}

static int save_meta(const cl_model *m, cl_ckpt_writer *w)
{
    const char *heads[CL_MODEL_MAX_HEADS];
    for (int i = 0; i < m->nheads; i++)
        heads[i] = m->heads[i].ops->section;
    int err = cl_ckpt_section_begin(w, "meta");
    err = err ? err : cl_ckpt_put_str(w, "format", MODEL_FORMAT);
    err = err ? err : cl_ckpt_put_i64(w, "text.nfc", m->text.nfc);
    err = err ? err : cl_ckpt_put_i64(w, "text.casefold", m->text.casefold);
    err = err ? err : cl_ckpt_put_strs(w, "heads", heads, m->nheads);
    return err ? err : cl_ckpt_section_end(w);
}

static int save_vocab(const cl_model *m, cl_ckpt_writer *w)
{
    int64_t n = cl_vocab_size(&m->vocab) - 1;
    int err = cl_ckpt_section_begin(w, "vocab");
    err = err ? err : cl_ckpt_put_i64(w, "size", n + 1);
    err = err ? err : cl_ckpt_put_i32(w, "codepoints", 1, &n, cl_vocab_cps(&m->vocab));
    return err ? err : cl_ckpt_section_end(w);
}

static int save_encoder(const cl_model *m, cl_ckpt_writer *w)
{
    const cl_encoder_config *c = &m->enc;
    int err = cl_ckpt_section_begin(w, "encoder");
    err = err ? err : cl_ckpt_put_i64(w, "vocab", c->vocab);
    err = err ? err : cl_ckpt_put_i64(w, "emb", c->emb);
    err = err ? err : cl_ckpt_put_str(w, "cell", cell_names[c->rnn.cell]);
    err = err ? err : cl_ckpt_put_i64(w, "hidden", c->rnn.hidden);
    err = err ? err : cl_ckpt_put_i64(w, "layers", c->rnn.layers);
    err = err ? err : cl_ckpt_put_i64(w, "bidir", c->rnn.bidir);
    err = err ? err : cl_ckpt_put_f64(w, "dropout", c->rnn.dropout);
    err = err ? err : put_tensors(m, w, "encoder");
    return err ? err : cl_ckpt_section_end(w);
}

static int save_head(const cl_model *m, int i, cl_ckpt_writer *w)
{
    const char *section = m->heads[i].ops->section;
    int err = cl_ckpt_section_begin(w, section);
    err = err ? err : m->heads[i].ops->save_meta(m->heads[i].cfg, w);
    err = err ? err : put_tensors(m, w, section);
    return err ? err : cl_ckpt_section_end(w);
}

/* Index of the first tensor holding a NaN or infinity, or -1; *at gets
 * the element.  A diverged model must never replace a good file, and a
 * file holding one must never be used. */
static int nonfinite_tensor(const cl_params *p, size_t *at)
{
    for (int i = 0; i < p->nt; i++) {
        const float *v = p->w + p->t[i].offset;
        for (size_t k = 0; k < p->t[i].size; k++)
            if (!isfinite(v[k])) {
                *at = k;
                return i;
            }
    }
    return -1;
}

int cl_model_save(const cl_model *m, const char *path, cl_model_extra_fn extra, void *ctx,
                  cl_diag *d)
{
    size_t at;
    int bad = nonfinite_tensor(&m->params, &at);
    if (bad >= 0)
        return cl_diag_set(d, CL_EINVAL, "%s: not saved: tensor %s holds a non-finite value "
                           "(NaN or infinity) at element %zu", path, m->params.t[bad].name, at);
    cl_ckpt_writer *w;
    int err = cl_ckpt_writer_open(&w, path, d);
    if (err)
        return err;
    err = save_meta(m, w);
    err = err ? err : save_vocab(m, w);
    err = err ? err : save_encoder(m, w);
    for (int i = 0; i < m->nheads && !err; i++)
        err = save_head(m, i, w);
    if (!err && extra)
        err = extra(w, ctx);
    if (err && err != CL_EIO) { /* a programming or data error: no file */
        cl_ckpt_writer_abort(w);
        return cl_diag_set(d, err, "%s: could not write the model (%s)", path, cl_strerror(err));
    }
    return cl_ckpt_writer_commit(w, d); /* reports sticky I/O errors itself */
}

/* ==== loading ============================================================== */

static int get_int(const cl_ckpt_section *s, const char *key, int lo, int hi, int *v, cl_diag *d)
{
    int64_t x;
    int err = cl_ckpt_get_i64(s, key, &x, d);
    if (err)
        return err;
    if (x < lo || x > hi)
        return cl_diag_set(d, CL_EFORMAT, "section %s: %s = %lld is out of range [%d, %d]",
                           cl_ckpt_section_name(s), key, (long long)x, lo, hi);
    *v = (int)x;
    return CL_OK;
}

static int load_meta(cl_model *m, const cl_ckpt *ck, cl_diag *d)
{
    const cl_ckpt_section *s = cl_ckpt_find(ck, "meta");
    const char *format;
    if (!s || cl_ckpt_get_str(s, "format", &format, NULL) || strcmp(format, MODEL_FORMAT) != 0)
        return cl_diag_set(d, CL_EFORMAT, "not a charlstm model (no meta section with format "
                                          "\"" MODEL_FORMAT "\")");
    int err = get_int(s, "text.nfc", 0, 1, &m->text.nfc, d);
    return err ? err : get_int(s, "text.casefold", 0, 1, &m->text.casefold, d);
}

static int load_vocab(cl_model *m, const cl_ckpt *ck, cl_diag *d)
{
    const cl_ckpt_section *s = cl_ckpt_find(ck, "vocab");
    int size;
    if (!s)
        return cl_diag_set(d, CL_EFORMAT, "missing section \"vocab\"");
    int err = get_int(s, "size", 2, 1 << 22, &size, d);
    if (err)
        return err;
    int64_t n = size - 1;
    int32_t *cps = malloc(sizeof *cps * (size_t)n);
    if (!cps)
        return CL_ENOMEM;
    err = cl_ckpt_get_i32(s, "codepoints", 1, &n, cps, d);
    if (!err && (err = cl_vocab_from_cps(&m->vocab, cps, (int)n)))
        cl_diag_set(d, err, "section vocab: code points are not a valid vocabulary");
    free(cps);
    return err;
}

static int load_encoder_config(cl_model *m, const cl_ckpt *ck, cl_diag *d)
{
    const cl_ckpt_section *s = cl_ckpt_find(ck, "encoder");
    cl_encoder_config *c = &m->enc;
    const char *cell;
    double dropout;
    if (!s)
        return cl_diag_set(d, CL_EFORMAT, "missing section \"encoder\"");
    int err = get_int(s, "vocab", 1, 1 << 22, &c->vocab, d);
    err = err ? err : get_int(s, "emb", 1, 1 << 16, &c->emb, d);
    err = err ? err : get_int(s, "hidden", 1, 1 << 16, &c->rnn.hidden, d);
    err = err ? err : get_int(s, "layers", 1, 16, &c->rnn.layers, d);
    err = err ? err : get_int(s, "bidir", 0, 1, &c->rnn.bidir, d);
    err = err ? err : cl_ckpt_get_str(s, "cell", &cell, d);
    err = err ? err : cl_ckpt_get_f64(s, "dropout", &dropout, d);
    if (err)
        return err;
    c->rnn.cell = strcmp(cell, "gru") == 0 ? CL_CELL_GRU : CL_CELL_LSTM;
    c->rnn.input = c->emb;
    c->rnn.dropout = (float)dropout;
    if ((strcmp(cell, "lstm") != 0 && strcmp(cell, "gru") != 0) || cl_encoder_validate(c) ||
        c->vocab != cl_vocab_size(&m->vocab))
        return cl_diag_set(d, CL_EFORMAT, "section encoder: inconsistent configuration");
    return CL_OK;
}

static int load_heads(cl_model *m, const cl_ckpt *ck, cl_diag *d)
{
    const char *const *names;
    int n, err = cl_ckpt_get_strs(cl_ckpt_find(ck, "meta"), "heads", &names, &n, d);
    if (!err && n > CL_MODEL_MAX_HEADS)
        return cl_diag_set(d, CL_EFORMAT, "meta: %d heads listed (at most %d)", n,
                           CL_MODEL_MAX_HEADS);
    for (int i = 0; i < n && !err; i++) {
        const cl_head_ops *ops = cl_registry_find(names[i]);
        const cl_ckpt_section *s = cl_ckpt_find(ck, names[i]);
        if (!ops || !s || head_index(m, names[i]) >= 0)
            return cl_diag_set(d, CL_EFORMAT, "head \"%s\" is unknown, missing or repeated",
                               names[i]);
        err = ops->load_meta(m, s, &m->heads[m->nheads].cfg, d);
        if (!err)
            m->heads[m->nheads++].ops = ops;
    }
    return err;
}

/* Every registered tensor, checked for its exact shape in the file, and
 * copied into the buffer when it is allocated (p->w != NULL). */
static int load_tensors(cl_params *p, const cl_ckpt *ck, cl_diag *d)
{
    for (int i = 0; i < p->nt; i++) {
        const cl_tensor *t = &p->t[i];
        char section[CL_NAME_MAX];
        const char *dot = strchr(t->name, '.');
        if (strncmp(t->name, "head.", 5) == 0)
            dot = strchr(t->name + 5, '.');
        snprintf(section, sizeof section, "%.*s", (int)(dot - t->name), t->name);
        const cl_ckpt_section *s = cl_ckpt_find(ck, section);
        int64_t shape[CL_MAX_DIMS];
        for (int k = 0; k < t->ndim; k++)
            shape[k] = t->shape[k];
        float *dst = p->w ? p->w + t->offset : NULL;
        int err = s ? cl_ckpt_get_f32(s, dot + 1, t->ndim, shape, dst, d)
                    : cl_diag_set(d, CL_EFORMAT, "missing section \"%s\"", section);
        if (err)
            return err;
    }
    return CL_OK;
}

/* The configuration keys size the buffer; a file that declares a huge model
 * but holds small tensors is refused by the shape check before the buffer
 * is allocated, so a stranger's file costs at most its own size. */
static int load_params(cl_model *m, const cl_ckpt *ck, cl_diag *d)
{
    size_t at;
    int err = register_params(m, &m->params);
    err = err ? err : load_tensors(&m->params, ck, d);
    err = err ? err : cl_params_alloc(&m->params);
    err = err ? err : load_tensors(&m->params, ck, d);
    int bad = err ? -1 : nonfinite_tensor(&m->params, &at);
    if (bad >= 0)
        err = cl_diag_set(d, CL_EFORMAT, "tensor %s holds a non-finite value (NaN or infinity) "
                          "at element %zu", m->params.t[bad].name, at);
    return err;
}

static int load_all(cl_model *m, const cl_ckpt *ck, cl_diag *d)
{
    int err = load_meta(m, ck, d);
    err = err ? err : load_vocab(m, ck, d);
    err = err ? err : load_encoder_config(m, ck, d);
    err = err ? err : load_heads(m, ck, d);
    return err ? err : load_params(m, ck, d);
}

int cl_model_from_ckpt(cl_model **out, const cl_ckpt *ck, const char *name, cl_diag *d)
{
    *out = NULL;
    cl_model *m = calloc(1, sizeof *m);
    cl_diag inner = {{0}};
    int err = m ? load_all(m, ck, &inner) : CL_ENOMEM;
    if (err) {
        cl_diag_set(d, err, "%s: %s", name, inner.msg[0] ? inner.msg : cl_strerror(err));
        cl_model_free(m);
        return err;
    }
    *out = m;
    return CL_OK;
}

int cl_model_load(cl_model **out, const char *path, cl_ckpt **keep, cl_diag *d)
{
    cl_ckpt *ck;
    cl_model *m;
    *out = NULL;
    if (keep)
        *keep = NULL;
    int err = cl_ckpt_load(&ck, path, d);
    if (err)
        return err;
    if ((err = cl_model_from_ckpt(&m, ck, path, d))) {
        cl_ckpt_free(ck);
        return err;
    }
    if (keep)
        *keep = ck;
    else
        cl_ckpt_free(ck);
    *out = m;
    return CL_OK;
}

const cl_text_opts *cl_model_text(const cl_model *m) { return &m->text; }
const cl_vocab *cl_model_vocab(const cl_model *m) { return &m->vocab; }
const cl_encoder_config *cl_model_encoder(const cl_model *m) { return &m->enc; }
size_t cl_model_nparams(const cl_model *m) { return m->params.n; }
int cl_model_nheads(const cl_model *m) { return m->nheads; }
const cl_params *cl_model_params(const cl_model *m) { return &m->params; }

const char *cl_model_head_name(const cl_model *m, int i)
{
    return i >= 0 && i < m->nheads ? m->heads[i].ops->section : NULL;
}
