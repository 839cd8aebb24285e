/* cl_clfdata: reading and encoding labelled sentences (see cl_clfdata.h). */
#include "cl_clfdata.h"

#include <stdlib.h>
#include <string.h>

#include "cl_tsv.h"

void cl_clfdata_free(cl_clfdata *ds)
{
    for (int i = 0; i < ds->nlabels; i++)
        free(ds->labels[i]);
    free(ds->labels), free(ds->name), free(ds->cps), free(ds->off), free(ds->line);
    free(ds->tag), free(ds->ids), free(ds->len), free(ds->y);
    memset(ds, 0, sizeof *ds);
}

/* Growable arrays of the reader: capacities in examples and code points. */
typedef struct {
    size_t cap_n, cap_cps;
} growth;

static int grow_examples(cl_clfdata *ds, growth *g)
{
    if ((size_t)ds->n + 2 <= g->cap_n)
        return CL_OK;
    size_t cap = g->cap_n ? g->cap_n * 2 : 1024;
    if (cap > (size_t)1 << 30)
        return CL_ENOMEM;
    size_t *off = realloc(ds->off, cap * sizeof *off);
    if (off)
        ds->off = off;
    long *line = realloc(ds->line, cap * sizeof *line);
    if (line)
        ds->line = line;
    int *tag = realloc(ds->tag, cap * sizeof *tag);
    if (tag)
        ds->tag = tag;
    if (!off || !line || !tag)
        return CL_ENOMEM;
    g->cap_n = cap;
    return CL_OK;
}

static int append_cps(cl_clfdata *ds, growth *g, const int32_t *cps, size_t n)
{
    size_t used = ds->off[ds->n];
    if (used + n > g->cap_cps) {
        size_t cap = g->cap_cps ? g->cap_cps : 65536;
        while (cap < used + n)
            cap *= 2;
        int32_t *p = realloc(ds->cps, cap * sizeof *p);
        if (!p)
            return CL_ENOMEM;
        ds->cps = p, g->cap_cps = cap;
    }
    memcpy(ds->cps + used, cps, n * sizeof *cps);
    return CL_OK;
}

static int intern_label(cl_clfdata *ds, const char *label)
{
    for (int i = 0; i < ds->nlabels; i++)
        if (strcmp(ds->labels[i], label) == 0)
            return i;
    if (ds->nlabels == CL_CLASSIFIER_MAX_LABELS)
        return CL_EINVAL;
    char **l = realloc(ds->labels, sizeof *l * (size_t)(ds->nlabels + 1));
    if (!l)
        return CL_ENOMEM;
    ds->labels = l;
    if (!(l[ds->nlabels] = strdup(label)))
        return CL_ENOMEM;
    return ds->nlabels++;
}

static int add_record(cl_clfdata *ds, growth *g, const char *label, const char *text, size_t n,
                      long line, const cl_text_opts *o, cl_diag *d)
{
    char where[300];
    snprintf(where, sizeof where, "%s:%ld", ds->name, line);
    int32_t *cps;
    size_t ncps;
    int err = grow_examples(ds, g);
    err = err ? err : cl_text_decode(text, n, o, where, &cps, &ncps, d);
    if (err)
        return err;
    if (ncps == 0) {
        free(cps);
        return cl_diag_set(d, CL_EPARSE, "%s: empty text", where);
    }
    int tag = intern_label(ds, label);
    err = tag < 0 ? tag : append_cps(ds, g, cps, ncps);
    free(cps);
    if (err)
        return err == CL_EINVAL ? cl_diag_set(d, err, "%s: more than %d labels", where,
                                              CL_CLASSIFIER_MAX_LABELS)
                                : err;
    ds->line[ds->n] = line, ds->tag[ds->n] = tag;
    ds->off[ds->n + 1] = ds->off[ds->n] + ncps;
    ds->n++;
    return CL_OK;
}

int cl_clfdata_read(cl_clfdata *ds, FILE *fp, const char *name, const cl_text_opts *o,
                    cl_diag *d)
{
    memset(ds, 0, sizeof *ds);
    growth g = {0};
    cl_tsv_reader *r = cl_tsv_reader_new(fp, name);
    ds->name = strdup(name ? name : "-");
    int err = r && ds->name ? grow_examples(ds, &g) : CL_ENOMEM;
    if (!err)
        ds->off[0] = 0;
    const char *label, *text;
    size_t tlen;
    while (!err && (err = cl_tsv_read(r, &label, NULL, &text, &tlen, d)) == 1)
        err = add_record(ds, &g, label, text, tlen, cl_tsv_line(r), o, d);
    cl_tsv_reader_free(r);
    if (!err && ds->n == 0)
        err = cl_diag_set(d, CL_EEMPTY, "%s: no labelled sentences", ds->name);
    return err;
}

int cl_clfdata_read_file(cl_clfdata *ds, const char *path, const cl_text_opts *o, cl_diag *d)
{
    int is_stdin = strcmp(path, "-") == 0;
    FILE *fp = is_stdin ? stdin : fopen(path, "rb");
    if (!fp) {
        memset(ds, 0, sizeof *ds);
        return cl_diag_set(d, CL_EIO, "%s: cannot open", path);
    }
    int err = cl_clfdata_read(ds, fp, is_stdin ? "<stdin>" : path, o, d);
    if (!is_stdin)
        fclose(fp);
    return err;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int cl_clfdata_sorted_labels(const cl_clfdata *ds, const char ***labels)
{
    *labels = malloc(sizeof **labels * (size_t)(ds->nlabels ? ds->nlabels : 1));
    if (!*labels)
        return CL_ENOMEM;
    for (int i = 0; i < ds->nlabels; i++)
        (*labels)[i] = ds->labels[i];
    qsort(*labels, (size_t)ds->nlabels, sizeof **labels, cmp_str);
    return CL_OK;
}

/* Label index in the classifier of each of ds->labels. */
static void map_labels(const cl_clfdata *ds, const cl_classifier_config *c, int *map)
{
    for (int i = 0; i < ds->nlabels; i++)
        map[i] = cl_classifier_label_index(c, ds->labels[i]);
}

static int alloc_encoded(cl_clfdata *ds)
{
    free(ds->ids), free(ds->len), free(ds->y);
    size_t n = ds->off[ds->n];
    ds->ids = malloc(sizeof(int) * (n ? n : 1));
    ds->len = malloc(sizeof(int) * (size_t)ds->n);
    ds->y = malloc(sizeof(int) * (size_t)ds->n);
    return ds->ids && ds->len && ds->y ? CL_OK : CL_ENOMEM;
}

int cl_clfdata_encode(cl_clfdata *ds, const cl_model *m, cl_diag *d)
{
    const cl_classifier_config *c = cl_model_head(m, "head.classifier");
    if (!c)
        return cl_diag_set(d, CL_ENOTFOUND, "the model has no classifier head");
    int *map = malloc(sizeof(int) * (size_t)(ds->nlabels ? ds->nlabels : 1));
    int err = map ? alloc_encoded(ds) : CL_ENOMEM;
    if (!err)
        map_labels(ds, c, map);
    ds->unknown = 0, ds->max_len = 1;
    for (int i = 0; i < ds->n && !err; i++) {
        size_t n = ds->off[i + 1] - ds->off[i], unk;
        cl_model_encode(m, ds->cps + ds->off[i], n, ds->ids + ds->off[i], &unk);
        ds->unknown += unk;
        if (n == 0) /* cl_clfdata_read never keeps one */
            err = cl_diag_set(d, CL_EINVAL, "%s:%ld: empty text", ds->name, ds->line[i]);
        ds->len[i] = n > (size_t)c->max_chars ? c->max_chars : (int)n;
        ds->max_len = ds->len[i] > ds->max_len ? ds->len[i] : ds->max_len;
        ds->y[i] = map[ds->tag[i]];
        if (ds->y[i] < 0)
            err = cl_diag_set(d, CL_ENOTFOUND, "%s:%ld: unknown label \"%s\" (the model knows "
                              "%d labels)", ds->name, ds->line[i], ds->labels[ds->tag[i]],
                              c->nlabels);
    }
    free(map);
    return err;
}

void cl_clfdata_label_counts(const cl_clfdata *ds, int K, long *counts)
{
    memset(counts, 0, sizeof *counts * (size_t)K);
    for (int i = 0; i < ds->n; i++)
        if (ds->y && ds->y[i] >= 0 && ds->y[i] < K)
            counts[ds->y[i]]++;
}

int cl_clfdata_class_weights(const cl_clfdata *ds, int K, float *w)
{
    long *counts = calloc((size_t)K, sizeof *counts);
    if (!counts)
        return CL_ENOMEM;
    cl_clfdata_label_counts(ds, K, counts);
    for (int k = 0; k < K; k++)
        w[k] = counts[k] ? (float)ds->n / ((float)K * (float)counts[k]) : 0;
    free(counts);
    return CL_OK;
}

int cl_clfdata_count_ngrams(const cl_clfdata *ds, cl_classifier *c, cl_params *p)
{
    const int **ids = malloc(sizeof *ids * (size_t)(ds->n ? ds->n : 1));
    if (!ids)
        return CL_ENOMEM;
    for (int i = 0; i < ds->n; i++)
        ids[i] = ds->ids + ds->off[i];
    int err = cl_classifier_count_ngrams(c, p, ids, ds->len, ds->y, (size_t)ds->n);
    free(ids);
    return err;
}

/* Copy example i of src to the end of dst (allocated for enough room),
 * its label as tag_map[src tag] (NULL: the same index). */
static void copy_example(cl_clfdata *dst, const cl_clfdata *src, int i, const int *tag_map)
{
    size_t n = src->off[i + 1] - src->off[i], at = dst->off[dst->n];
    memcpy(dst->cps + at, src->cps + src->off[i], n * sizeof *dst->cps);
    dst->line[dst->n] = src->line[i];
    dst->tag[dst->n] = tag_map ? tag_map[src->tag[i]] : src->tag[i];
    dst->off[++dst->n] = at + n;
}

/* Room in dst (zeroed first) for n examples of ncps code points, named name
 * + suffix, with the labels of src. */
static int alloc_room(cl_clfdata *dst, const cl_clfdata *src, size_t n, size_t ncps,
                      const char *suffix)
{
    memset(dst, 0, sizeof *dst);
    n++, ncps++;
    dst->name = malloc(strlen(src->name) + strlen(suffix) + 1);
    if (dst->name)
        strcat(strcpy(dst->name, src->name), suffix);
    dst->cps = malloc(ncps * sizeof *dst->cps), dst->off = malloc(n * sizeof *dst->off);
    dst->line = malloc(n * sizeof *dst->line), dst->tag = malloc(n * sizeof *dst->tag);
    dst->labels = calloc((size_t)src->nlabels + 1, sizeof *dst->labels);
    if (!dst->name || !dst->cps || !dst->off || !dst->line || !dst->tag || !dst->labels)
        return CL_ENOMEM;
    dst->off[0] = 0;
    for (; dst->nlabels < src->nlabels; dst->nlabels++)
        if (!(dst->labels[dst->nlabels] = strdup(src->labels[dst->nlabels])))
            return CL_ENOMEM;
    return CL_OK;
}

static int alloc_like(cl_clfdata *dst, const cl_clfdata *src, const char *suffix)
{
    return alloc_room(dst, src, (size_t)src->n, src->off[src->n], suffix);
}

int cl_clfdata_split(const cl_clfdata *all, double fraction, cl_rng *rng, cl_clfdata *train,
                     cl_clfdata *dev)
{
    int err = alloc_like(train, all, "");
    err = err ? err : alloc_like(dev, all, "");
    for (int i = 0; i < all->n && !err; i++)
        copy_example(cl_rng_double(rng) < fraction ? dev : train, all, i, NULL);
    return err;
}

/* ==== cross-validation ===================================================== */

int cl_clfdata_folds(const cl_clfdata *ds, int K, uint64_t seed, int *fold)
{
    if (K < 2 || K > ds->n)
        return CL_EINVAL;
    int *idx = malloc(sizeof *idx * (size_t)ds->n);
    if (!idx)
        return CL_ENOMEM;
    cl_rng rng;
    cl_rng_seed(&rng, seed);
    int next = 0; /* the fold the next example goes to, across labels */
    for (int t = 0; t < ds->nlabels; t++) {
        int n = 0;
        for (int i = 0; i < ds->n; i++)
            if (ds->tag[i] == t)
                idx[n++] = i;
        cl_rng_shuffle(&rng, idx, n);
        for (int j = 0; j < n; j++, next = (next + 1) % K)
            fold[idx[j]] = next;
    }
    free(idx);
    return CL_OK;
}

int cl_clfdata_select(const cl_clfdata *all, const int *fold, int f, cl_clfdata *in,
                      cl_clfdata *out)
{
    int err = alloc_like(in, all, "");
    err = err ? err : alloc_like(out, all, "");
    for (int i = 0; i < all->n && !err; i++)
        copy_example(fold[i] == f ? in : out, all, i, NULL);
    return err;
}

int cl_clfdata_concat(const cl_clfdata *a, const cl_clfdata *b, cl_clfdata *out)
{
    char suffix[4096];
    int map[CL_CLASSIFIER_MAX_LABELS];
    snprintf(suffix, sizeof suffix, "+%s", b->name);
    int err = alloc_room(out, a, (size_t)a->n + (size_t)b->n, a->off[a->n] + b->off[b->n],
                         suffix);
    for (int t = 0; t < b->nlabels && !err; t++)
        err = (map[t] = intern_label(out, b->labels[t])) < 0 ? map[t] : CL_OK;
    for (int i = 0; i < a->n && !err; i++)
        copy_example(out, a, i, NULL);
    for (int i = 0; i < b->n && !err; i++)
        copy_example(out, b, i, map);
    return err;
}
