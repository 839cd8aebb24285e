/* cl_mm: oneDNN matmul primitives cached per shape (see cl_mm.h). */
#include "cl_mm.h"

#include <dnnl.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cl_error.h"
#include "cl_kern.h" /* cl_kern_bf16_round */
#include "cl_params.h" /* cl_alloc */

/* ==== precision ============================================================ */

static const char *const prec_names[] = {"auto", "fp32", "bf16"};

int cl_precision_parse(const char *s, cl_precision *out)
{
    for (int i = 0; i < 3; i++)
        if (s && strcmp(s, prec_names[i]) == 0) {
            *out = (cl_precision)i;
            return CL_OK;
        }
    return CL_EPARSE;
}

const char *cl_precision_name(cl_precision p)
{
    return p >= CL_PREC_AUTO && p <= CL_PREC_BF16 ? prec_names[p] : "?";
}

/* AMX's bit pattern contains AVX512-BF16's: one test covers both. */
static int cpu_has_bf16(void)
{
    unsigned isa = (unsigned)dnnl_get_effective_cpu_isa();
    return (isa & dnnl_cpu_isa_avx512_core_bf16) == dnnl_cpu_isa_avx512_core_bf16;
}

cl_precision cl_precision_resolve(cl_precision p)
{
    if (p == CL_PREC_AUTO)
        return cpu_has_bf16() ? CL_PREC_BF16 : CL_PREC_FP32;
    return p;
}

const char *cl_mm_isa(void)
{
    static const struct {
        dnnl_cpu_isa_t isa;
        const char *name;
    } names[] = {
        {dnnl_cpu_isa_avx512_core_amx, "avx512_core_amx"},
        {dnnl_cpu_isa_avx512_core_bf16, "avx512_core_bf16"},
        {dnnl_cpu_isa_avx512_core_vnni, "avx512_core_vnni"},
        {dnnl_cpu_isa_avx512_core, "avx512_core"},
        {dnnl_cpu_isa_avx2_vnni, "avx2_vnni"},
        {dnnl_cpu_isa_avx2, "avx2"},
        {dnnl_cpu_isa_avx, "avx"},
        {dnnl_cpu_isa_sse41, "sse41"},
    };
    unsigned isa = (unsigned)dnnl_get_effective_cpu_isa();
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if ((isa & (unsigned)names[i].isa) == (unsigned)names[i].isa)
            return names[i].name;
    return "generic";
}

void cl_bf16_from_f32(uint16_t *restrict dst, const float *restrict src, size_t n)
{
#pragma omp simd
    for (size_t i = 0; i < n; i++)
        dst[i] = cl_kern_bf16_round(src[i]);
}

/* ==== the cache ============================================================= */

typedef struct {
    char ta, tb;
    int M, N, K, lda, ldb, ldc, beta, tid;
    const cl_mm_packed *pk; /* B in pk's layout, or NULL */
} mm_key;

struct cl_mm_packed_s {
    dnnl_memory_desc_t md;         /* the layout oneDNN chose for B */
    dnnl_memory_t src, dst;        /* B as given; B packed (owned buffer) */
    dnnl_primitive_t reorder;
    dnnl_stream_t stream;
    char tb;
    int N, K, ldb;
};

typedef struct {
    mm_key key;
    dnnl_primitive_t prim;
    dnnl_stream_t stream;
    dnnl_memory_t a, b, c, s; /* s: its scratchpad (NULL: needs none) */
    size_t scratch;           /* bytes of it */
    unsigned long used;       /* the cache's clock at its last use */
} mm_entry;

/* Scratchpads are the caller's (oneDNN's "user" mode): one buffer per
 * calling thread, as large as the largest product it ran needs.  Left to
 * oneDNN, every cached primitive kept its own: a tagger's stacks (a new
 * shape for nearly every batch) peaked at 1,165 MB in one short epoch in
 * bf16 against 634 MB on OpenBLAS; with these, 795 MB. */
typedef struct {
    void *p;
    size_t n;
} mm_scratch;

struct cl_mm_s {
    cl_precision prec; /* resolved: FP32 or BF16 */
    dnnl_engine_t engine;
    mm_entry **e; /* pointers stay valid while the array grows */
    int n, cap;
    unsigned long clock; /* products looked up so far */
    mm_scratch *scr; /* [nscr] by OpenMP thread number (0 outside parallel regions) */
    int nscr;
};

int cl_precision_check(cl_precision p)
{
    return cl_precision_resolve(p) == CL_PREC_BF16 && !cpu_has_bf16() ? CL_EINVAL : CL_OK;
}

int cl_mm_create(cl_mm **out, cl_precision p)
{
    *out = NULL;
    p = cl_precision_resolve(p);
    if (cl_precision_check(p))
        return CL_EINVAL;
    cl_mm *m = calloc(1, sizeof *m);
    if (!m)
        return CL_ENOMEM;
    m->prec = p;
    if (dnnl_engine_create(&m->engine, dnnl_cpu, 0) != dnnl_success) {
        free(m);
        return CL_ENOMEM;
    }
    *out = m;
    return CL_OK;
}

static void entry_free(mm_entry *x)
{
    if (!x)
        return;
    dnnl_memory_destroy(x->a), dnnl_memory_destroy(x->b), dnnl_memory_destroy(x->c);
    dnnl_memory_destroy(x->s);
    dnnl_primitive_destroy(x->prim), dnnl_stream_destroy(x->stream);
    free(x);
}

void cl_mm_free(cl_mm *m)
{
    if (!m)
        return;
    for (int i = 0; i < m->n; i++)
        entry_free(m->e[i]);
    free(m->e);
    for (int i = 0; i < m->nscr; i++)
        free(m->scr[i].p);
    free(m->scr);
    dnnl_engine_destroy(m->engine);
    free(m);
}

cl_precision cl_mm_precision(const cl_mm *m) { return m->prec; }

/* Row-major [rows, cols] with leading dimension ld, stored transposed if t. */
static dnnl_status_t md_init(dnnl_memory_desc_t *md, int rows, int cols, int ld, char t,
                             dnnl_data_type_t dt)
{
    dnnl_dims_t dims = {rows, cols};
    dnnl_dims_t strides = {t == 'T' ? 1 : ld, t == 'T' ? ld : 1};
    return dnnl_memory_desc_init_by_strides(md, 2, dims, dt, strides);
}

/* weights: k->pk's layout, or "any" (oneDNN's choice) with any_b, else plain. */
static dnnl_status_t make_prim(cl_mm *m, const mm_key *k, int any_b, dnnl_primitive_t *prim,
                               dnnl_primitive_desc_t *pd)
{
    dnnl_data_type_t in = m->prec == CL_PREC_BF16 ? dnnl_bf16 : dnnl_f32;
    dnnl_memory_desc_t a, b, c;
    dnnl_matmul_desc_t desc;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_post_ops_t po = NULL;
    dnnl_dims_t bdims = {k->K, k->N};
    dnnl_status_t s = md_init(&a, k->M, k->K, k->lda, k->ta, in);
    if (s == dnnl_success && k->pk)
        b = k->pk->md;
    else if (s == dnnl_success && any_b)
        s = dnnl_memory_desc_init_by_tag(&b, 2, bdims, in, dnnl_format_tag_any);
    else if (s == dnnl_success)
        s = md_init(&b, k->K, k->N, k->ldb, k->tb, in);
    if (s == dnnl_success)
        s = md_init(&c, k->M, k->N, k->ldc, 'N', dnnl_f32);
    if (s == dnnl_success)
        s = dnnl_matmul_desc_init(&desc, &a, &b, NULL, &c);
    if (s == dnnl_success)
        s = dnnl_primitive_attr_create(&attr);
    if (s == dnnl_success)
        s = dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user);
    if (s == dnnl_success && k->beta) { /* C += A B: a "sum" post-op */
        s = dnnl_post_ops_create(&po);
        if (s == dnnl_success)
            s = dnnl_post_ops_append_sum(po, 1.0f);
        if (s == dnnl_success)
            s = dnnl_primitive_attr_set_post_ops(attr, po);
    }
    if (s == dnnl_success)
        s = dnnl_primitive_desc_create(pd, &desc, attr, m->engine, NULL);
    if (s == dnnl_success)
        s = dnnl_primitive_create(prim, *pd);
    dnnl_post_ops_destroy(po);
    dnnl_primitive_attr_destroy(attr);
    return s;
}

/* Memory objects point at NULL until each product sets its buffers. */
static dnnl_status_t make_mems(cl_mm *m, mm_entry *x, const_dnnl_primitive_desc_t pd)
{
    dnnl_status_t s = dnnl_memory_create(
        &x->a, dnnl_primitive_desc_query_md(pd, dnnl_query_src_md, 0), m->engine, NULL);
    if (s == dnnl_success)
        s = dnnl_memory_create(&x->b, dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0),
                               m->engine, NULL);
    if (s == dnnl_success)
        s = dnnl_memory_create(&x->c, dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0),
                               m->engine, NULL);
    const dnnl_memory_desc_t *sd = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
    x->scratch = sd ? dnnl_memory_desc_get_size(sd) : 0;
    if (s == dnnl_success && x->scratch)
        s = dnnl_memory_create(&x->s, sd, m->engine, NULL);
    return s;
}

static mm_entry *entry_new(cl_mm *m, const mm_key *k)
{
    mm_entry *x = calloc(1, sizeof *x);
    dnnl_primitive_desc_t pd = NULL;
    if (!x)
        return NULL;
    x->key = *k;
    dnnl_status_t s = make_prim(m, k, 0, &x->prim, &pd);
    if (s == dnnl_success)
        s = make_mems(m, x, pd);
    if (s == dnnl_success)
        s = dnnl_stream_create(&x->stream, m->engine, dnnl_stream_default_flags);
    dnnl_primitive_desc_destroy(pd);
    if (s != dnnl_success) {
        entry_free(x);
        return NULL;
    }
    return x;
}

/* Shapes kept before the least recently used one of the calling thread
 * makes room: a tagger meets a new shape with nearly every batch (sentence
 * and word counts vary), and one short epoch made 376 in one stack.  oneDNN
 * keeps the compiled kernels in its own bounded cache, so a shape seen again
 * after eviction costs a primitive creation, not a compilation. */
#define MM_CACHE_MAX 128

/* Frees the slot of the least recently used entry of thread `tid` (only the
 * caller's own entries: another thread may be running one of its own) and
 * returns its index, or -1 when the cache has room or holds none of tid's. */
static int evict(cl_mm *m, int tid)
{
    int lru = -1;
    if (m->n < MM_CACHE_MAX)
        return -1;
    for (int i = 0; i < m->n; i++)
        if (m->e[i]->key.tid == tid && (lru < 0 || m->e[i]->used < m->e[lru]->used))
            lru = i;
    if (lru >= 0)
        entry_free(m->e[lru]), m->e[lru] = NULL;
    return lru;
}

static int grow(cl_mm *m)
{
    if (m->n < m->cap)
        return CL_OK;
    int cap = m->cap ? 2 * m->cap : 16;
    mm_entry **e = realloc(m->e, (size_t)cap * sizeof *e);
    if (!e)
        return CL_ENOMEM;
    m->e = e, m->cap = cap;
    return CL_OK;
}

/* The scratchpad of thread slot i, at least n bytes (grown, never shrunk:
 * allocation happens only when a product needs more than any before). */
static void *scratch_for(cl_mm *m, int i, size_t n)
{
    if (i >= m->nscr) {
        mm_scratch *v = realloc(m->scr, (size_t)(i + 1) * sizeof *v);
        if (!v)
            return NULL;
        memset(v + m->nscr, 0, (size_t)(i + 1 - m->nscr) * sizeof *v);
        m->scr = v, m->nscr = i + 1;
    }
    mm_scratch *s = &m->scr[i];
    if (s->n < n) {
        void *p = cl_alloc(n);
        if (!p)
            return NULL;
        free(s->p);
        s->p = p, s->n = n;
    }
    return s->p;
}

/* The entry of key k, created on first use, and in *scr the calling
 * thread's scratchpad for it; NULL if oneDNN or memory failed.  One lock for
 * the table: threads of the row-split step loops share it. */
static mm_entry *lookup(cl_mm *m, const mm_key *k, void **scr)
{
    mm_entry *x = NULL;
#pragma omp critical(cl_mm_cache)
    {
        for (int i = 0; i < m->n && !x; i++)
            if (memcmp(&m->e[i]->key, k, sizeof *k) == 0)
                x = m->e[i];
        if (!x) {
            int slot = evict(m, k->tid);
            if (slot < 0 && grow(m) == CL_OK)
                slot = m->n++;
            x = slot >= 0 ? entry_new(m, k) : NULL;
            if (slot >= 0 && !(m->e[slot] = x)) /* the slot goes: move the last one in */
                m->e[slot] = m->e[--m->n];
        }
        if (x)
            x->used = ++m->clock;
        *scr = x && x->scratch ? scratch_for(m, k->tid > 0 ? k->tid : 0, x->scratch) : NULL;
        if (x && x->scratch && !*scr)
            x = NULL;
    }
    return x;
}

static int execute(mm_entry *x, const void *A, const void *B, float *C, void *scr)
{
    dnnl_exec_arg_t args[4] = {{DNNL_ARG_SRC, x->a},
                               {DNNL_ARG_WEIGHTS, x->b},
                               {DNNL_ARG_DST, x->c},
                               {DNNL_ARG_SCRATCHPAD, x->s}};
    if (dnnl_memory_set_data_handle(x->a, (void *)A) || dnnl_memory_set_data_handle(x->b, (void *)B) ||
        dnnl_memory_set_data_handle(x->c, C) ||
        (x->s && dnnl_memory_set_data_handle(x->s, scr)) ||
        dnnl_primitive_execute(x->prim, x->stream, x->s ? 4 : 3, args) ||
        dnnl_stream_wait(x->stream))
        return CL_EINVAL;
    return CL_OK;
}

static int gemm(cl_mm *m, int threads, mm_key k, const void *A, const void *B, float *C)
{
    /* oneDNN (OpenMP build) sizes a product's work for omp_get_max_threads()
     * when it creates the primitive and threads it the same way: this thread's
     * ICV is set around both and put back.  Inside a parallel region the
     * product runs on the calling thread, with a primitive of its own. */
    int inside = omp_in_parallel(), saved = omp_get_max_threads();
    k.tid = inside ? omp_get_thread_num() : -threads;
    if (!inside)
        omp_set_num_threads(threads > 0 ? threads : 1);
    void *scr = NULL;
    mm_entry *x = lookup(m, &k, &scr);
    int err = x ? execute(x, A, B, C, scr) : CL_ENOMEM;
    if (!inside)
        omp_set_num_threads(saved);
    return err;
}

int cl_mm_gemm(cl_mm *m, int threads, char ta, char tb, int M, int N, int K, const void *A,
               int lda, const void *B, int ldb, float beta, float *C, int ldc)
{
    mm_key k;
    memset(&k, 0, sizeof k); /* padding takes part in memcmp */
    k.ta = ta, k.tb = tb, k.M = M, k.N = N, k.K = K;
    k.lda = lda, k.ldb = ldb, k.ldc = ldc, k.beta = beta != 0;
    return gemm(m, threads, k, A, B, C);
}

/* ==== packed weights ======================================================== */

void cl_mm_packed_free(cl_mm_packed *p)
{
    if (!p)
        return;
    void *buf = NULL;
    if (p->dst)
        dnnl_memory_get_data_handle(p->dst, &buf);
    dnnl_memory_destroy(p->src), dnnl_memory_destroy(p->dst);
    dnnl_primitive_destroy(p->reorder), dnnl_stream_destroy(p->stream);
    free(buf);
    free(p);
}

/* The layout oneDNN picks for B in a product of M rows. */
static dnnl_status_t chosen_layout(cl_mm *m, const mm_key *k, dnnl_memory_desc_t *md)
{
    dnnl_primitive_t prim = NULL;
    dnnl_primitive_desc_t pd = NULL;
    dnnl_status_t s = make_prim(m, k, 1, &prim, &pd);
    if (s == dnnl_success)
        *md = *dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
    dnnl_primitive_destroy(prim), dnnl_primitive_desc_destroy(pd);
    return s;
}

static dnnl_status_t make_reorder(cl_mm *m, cl_mm_packed *p)
{
    dnnl_memory_desc_t src;
    dnnl_primitive_desc_t pd = NULL;
    void *buf = NULL;
    size_t size = dnnl_memory_desc_get_size(&p->md);
    dnnl_data_type_t dt = m->prec == CL_PREC_BF16 ? dnnl_bf16 : dnnl_f32;
    dnnl_status_t s = md_init(&src, p->K, p->N, p->ldb, p->tb, dt);
    if (s == dnnl_success)
        s = dnnl_memory_create(&p->src, &src, m->engine, NULL);
    if (s == dnnl_success)
        s = (buf = cl_alloc(size ? size : 64)) ? dnnl_success : dnnl_out_of_memory;
    if (s == dnnl_success)
        s = dnnl_memory_create(&p->dst, &p->md, m->engine, buf);
    else
        free(buf);
    if (s == dnnl_success)
        s = dnnl_reorder_primitive_desc_create(&pd, &src, m->engine, &p->md, m->engine, NULL);
    if (s == dnnl_success)
        s = dnnl_primitive_create(&p->reorder, pd);
    if (s == dnnl_success)
        s = dnnl_stream_create(&p->stream, m->engine, dnnl_stream_default_flags);
    dnnl_primitive_desc_destroy(pd);
    return s;
}

int cl_mm_packed_create(cl_mm *m, cl_mm_packed **out, char tb, int M, int N, int K, int ldb)
{
    cl_mm_packed *p = calloc(1, sizeof *p);
    mm_key k;
    memset(&k, 0, sizeof k);
    *out = NULL;
    if (!p)
        return CL_ENOMEM;
    p->tb = tb, p->N = N, p->K = K, p->ldb = ldb;
    k.ta = 'N', k.tb = tb, k.M = M, k.N = N, k.K = K, k.lda = K, k.ldb = ldb, k.ldc = N;
    dnnl_status_t s = chosen_layout(m, &k, &p->md);
    if (s == dnnl_success)
        s = make_reorder(m, p);
    if (s != dnnl_success) {
        cl_mm_packed_free(p);
        return s == dnnl_out_of_memory ? CL_ENOMEM : CL_EINVAL;
    }
    *out = p;
    return CL_OK;
}

int cl_mm_pack(cl_mm_packed *p, const void *B)
{
    dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, p->src}, {DNNL_ARG_TO, p->dst}};
    if (dnnl_memory_set_data_handle(p->src, (void *)B) ||
        dnnl_primitive_execute(p->reorder, p->stream, 2, args) || dnnl_stream_wait(p->stream))
        return CL_EINVAL;
    return CL_OK;
}

int cl_mm_gemm_packed(cl_mm *m, int threads, int M, const void *A, int lda,
                      const cl_mm_packed *p, float beta, float *C, int ldc)
{
    mm_key k;
    void *B = NULL;
    memset(&k, 0, sizeof k);
    k.ta = 'N', k.tb = p->tb, k.M = M, k.N = p->N, k.K = p->K;
    k.lda = lda, k.ldb = p->ldb, k.ldc = ldc, k.beta = beta != 0, k.pk = p;
    dnnl_memory_get_data_handle(p->dst, &B);
    return gemm(m, threads, k, A, B, C);
}

/* ==== which implementation ================================================== */

int cl_mm_impl(cl_precision p, char *buf, size_t size)
{
    cl_mm *m = NULL;
    mm_key k;
    dnnl_primitive_t prim = NULL;
    dnnl_primitive_desc_t pd = NULL;
    const char *name = NULL;
    memset(&k, 0, sizeof k);
    k.ta = 'N', k.tb = 'T', k.M = 32, k.N = 2048, k.K = 512, k.lda = 512, k.ldb = 512, k.ldc = 2048;
    int err = cl_mm_create(&m, p);
    if (!err && make_prim(m, &k, 0, &prim, &pd) == dnnl_success)
        dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &name);
    else if (!err)
        err = CL_ENOMEM;
    snprintf(buf, size, "%s", name ? name : "-");
    dnnl_primitive_destroy(prim), dnnl_primitive_desc_destroy(pd);
    cl_mm_free(m);
    return err;
}
