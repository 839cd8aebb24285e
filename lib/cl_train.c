/* cl_train: the one training loop (see cl_train.h). */
#include "cl_train.h"

#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define STEP_LIMIT (1L << 48) /* resumable counters beyond this are corrupt */

struct cl_trainer {
    cl_model *m;
    cl_train_config c;
    cl_train_task task;
    cl_train_files files;
    cl_dist dist;          /* the ranks (a copy of the caller's, or the serial one) */
    cl_train_group *g;
    size_t *moff;          /* [ng] offset of each group's moments */
    int ng;
    size_t ntrained;       /* floats in the trained groups = moments */
    cl_optim opt;
    cl_rng *rng;           /* [nlocal] dropout and other per-step randomness, one per part */
    int nlocal;            /* parts of each batch this rank computes: shares / ranks, or 1 */
    cl_rng data_rng;       /* epoch orders */
    cl_rng epoch_rng;      /* data_rng as it was when the current epoch was planned */
    float *ema, *held;     /* [ntrained] moving average; raw weights while it stands in */
    float *best_w;         /* [ntrained] best weights of this run */
    float *acc;            /* [ntrained] weighted sum of the batches of one step (accumulate > 1),
                              or of every part (shares) */
    float *parts;          /* [nlocal * ntrained] each part's weighted gradient (shares) */
    double *part_sums;     /* [ranks * nlocal * 2] every part's loss and count (shares) */
    double *my_sums;       /* [nlocal * 2] this rank's, to send */
    /* The overlapped sum (several ranks, no shares, no accumulation): the
     * buckets [bbeg[i], bend[i]) of g, the floats of each that backward made
     * final, which ones were started, and the step's count once told. */
    size_t *bbeg, *bend, *bneed, *bdone; /* bneed: floats of tensors (not padding) */
    int nb, bnext, weighed, hook_err; /* bnext: the next bucket to start (they go down) */
    double weight;
    cl_diag *hook_d;
    int32_t *rngs;         /* [ranks * nlocal * 8] every part's rng, gathered for .last */
    int32_t *my_rngs;      /* [nlocal * 8] this rank's, to send */
    float *states;         /* [ranks * nstate] every rank's task state, gathered for .last */
    size_t nstate;
    int have_best_w;
    /* position and progress: what .last stores */
    long step, epoch, epoch_step, epoch_steps, last_eval_step;
    double items, loss_sum, loss_count;
    int has_best, stale, stopped_early;
    cl_train_score best;
    long best_step;
    /* this run */
    int prepared;
    double t0, run_train_s, run_comm_s, eval_seconds, last_report, items0;
    long run_start;
    cl_train_stats st;
    int spikes;            /* steps in a row passed over as loss spikes (skip_spike) */
};

cl_train_config cl_train_defaults(void)
{
    cl_train_config c = {0};
    c.lr = 2e-3f, c.clip = 5.0f, c.lr_decay = 1.0f, c.seed = 1;
    return c;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

const cl_train_stats *cl_trainer_stats(const cl_trainer *t) { return &t->st; }
const cl_train_config *cl_trainer_config(const cl_trainer *t) { return &t->c; }

/* ==== schedule ============================================================= */

double cl_train_lr_factor(const cl_train_config *c, long step, long epoch, long total_steps)
{
    double f = 1;
    if (c->warmup > 0 && step < c->warmup)
        f *= (double)(step + 1) / (double)c->warmup;
    if (c->schedule == CL_SCHED_COSINE && total_steps > c->warmup) {
        double p = (double)(step - c->warmup) / (double)(total_steps - c->warmup);
        p = p < 0 ? 0 : p > 1 ? 1 : p;
        return f * 0.5 * (1 + cos(M_PI * p));
    }
    if (c->lr_decay < 1 && c->decay_every > 0)
        f *= cl_lr_at(1.0f, step, c->decay_start, c->decay_every, c->lr_decay);
    else if (c->lr_decay < 1)
        f *= pow(c->lr_decay, (double)epoch);
    return f;
}

/* The step limit, or the one the epoch limit implies with this epoch's size. */
static long planned_steps(const cl_trainer *t)
{
    if (t->c.max_steps)
        return t->c.max_steps;
    long k = t->c.accumulate > 1 ? t->c.accumulate : 1, per_epoch = (t->epoch_steps + k - 1) / k;
    return t->c.max_epochs > 0 ? (long)ceil(t->c.max_epochs * (double)per_epoch) : 0;
}

cl_train_group cl_train_group_of(const cl_model *m, const char *prefix, float lr, int frozen)
{
    cl_train_group g = {0, 0, lr, frozen};
    cl_model_param_range(m, prefix, &g.begin, &g.end);
    return g;
}

/* ==== set-up =============================================================== */

void cl_train_share(int n, int part, int parts, int *begin, int *end)
{
    *begin = (int)((int64_t)n * part / parts);
    *end = (int)((int64_t)n * (part + 1) / parts);
}

cl_train_shares cl_train_shares_all(void) { return (cl_train_shares){0, 1, 1}; }

int cl_train_shares_check(const cl_train_shares *s, int batch, cl_diag *d)
{
    if (s->parts < 1 || s->part < 0 || s->local < 1 || s->part + s->local > s->parts ||
        batch % s->parts)
        return cl_diag_set(d, CL_EINVAL, "--batch %d does not divide into %d equal shares (one "
                           "per process): give a multiple of %d", batch, s->parts, s->parts);
    return CL_OK;
}

void cl_trainer_free(cl_trainer *t)
{
    if (!t)
        return;
    cl_optim_free(&t->opt);
    free(t->g), free(t->moff), free(t->ema), free(t->held), free(t->best_w), free(t->acc);
    free(t->rngs), free(t->my_rngs), free(t->states), free(t->rng), free(t->parts);
    free(t->part_sums), free(t->my_sums);
    free(t->bbeg), free(t->bend), free(t->bneed), free(t->bdone);
    free(t);
}

static int check_config(const cl_model *m, const cl_train_config *c, const cl_train_group *g,
                        int ng, const cl_train_task *task, cl_diag *d)
{
    if (!(c->lr > 0 && c->lr <= 1e6) || !(c->clip >= 0) || !(c->lr_decay > 0 && c->lr_decay <= 1) ||
        c->decay_every < 0 || c->decay_start < 0 || c->warmup < 0 || !(c->ema >= 0 && c->ema < 1) ||
        c->max_steps < 0 || !(c->max_epochs >= 0) || !(c->max_seconds >= 0) ||
        c->eval_every < 0 || c->patience < 0 || c->accumulate < 0 || c->shares < 0 ||
        c->precision < CL_PREC_AUTO || c->precision > CL_PREC_BF16 ||
        (c->dist && !(c->dist->size >= 1 && c->dist->rank >= 0 && c->dist->rank < c->dist->size)))
        return cl_diag_set(d, CL_EINVAL, "invalid training configuration");
    if (c->schedule == CL_SCHED_COSINE && !c->max_steps && !(c->max_epochs > 0))
        return cl_diag_set(d, CL_EINVAL, "a cosine schedule needs a step or epoch limit");
    if (!task->begin_epoch || !task->step || ng < 1)
        return cl_diag_set(d, CL_EINVAL, "a training task needs begin_epoch, step and a group");
    int ranks = c->dist ? c->dist->size : 1;
    if (c->shares && c->shares % ranks)
        return cl_diag_set(d, CL_EINVAL, "--deterministic %d: the %d processes do not divide "
                           "it (give a multiple of %d)", c->shares, ranks, ranks);
    if (c->shares / ranks > 1 && !task->select)
        return cl_diag_set(d, CL_EINVAL, "this task computes one part of a batch per process: "
                           "give as many processes as shares");
    for (int i = 0; i < ng; i++)
        if (g[i].begin > g[i].end || g[i].end > m->params.n_train ||
            (!g[i].frozen && !(g[i].lr > 0)))
            return cl_diag_set(d, CL_EINVAL, "parameter group %d is not a part of the trainable "
                               "buffer with a positive learning rate", i);
    for (int i = 0; i < ng; i++)
        for (int j = 0; j < i; j++)
            if (g[i].begin < g[j].end && g[j].begin < g[i].end)
                return cl_diag_set(d, CL_EINVAL, "parameter groups %d and %d overlap", j, i);
    return CL_OK;
}

/* Resolves the precision (kept in t->c: the configuration in force) and
 * gives it to the task. */
static int set_precision(cl_trainer *t, cl_diag *d)
{
    t->c.precision = cl_precision_resolve(t->c.precision);
    int err = t->task.set_precision ? t->task.set_precision(t->task.ctx, t->c.precision) : CL_OK;
    if (err == CL_EINVAL)
        return cl_diag_set(d, err, "precision bf16: this CPU has neither AMX nor AVX512-BF16 "
                           "(oneDNN's instruction set here: %s); use fp32", cl_mm_isa());
    return err ? cl_diag_set(d, err, "precision %s: %s", cl_precision_name(t->c.precision),
                             cl_strerror(err))
               : CL_OK;
}

static int alloc_groups(cl_trainer *t, const cl_train_group *g, int ng)
{
    t->g = malloc(sizeof *t->g * (size_t)ng);
    t->moff = malloc(sizeof *t->moff * (size_t)ng);
    if (!t->g || !t->moff)
        return CL_ENOMEM;
    memcpy(t->g, g, sizeof *g * (size_t)ng);
    t->ng = ng;
    for (int i = 0; i < ng; i++) {
        t->moff[i] = t->ntrained;
        if (!g[i].frozen)
            t->ntrained += g[i].end - g[i].begin;
    }
    cl_optim_config oc = cl_optim_defaults();
    oc.lr = t->c.lr;
    int err = cl_optim_create(&t->opt, &oc, t->ntrained);
    size_t bytes = (t->ntrained ? t->ntrained : 1) * sizeof(float);
    t->best_w = err ? NULL : cl_alloc(bytes);
    if (!err && t->c.ema > 0) {
        t->ema = cl_alloc(bytes), t->held = cl_alloc(bytes);
        if (!t->ema || !t->held)
            return CL_ENOMEM;
    }
    if (!err && (t->c.accumulate > 1 || t->c.shares) && !(t->acc = cl_alloc(bytes)))
        return CL_ENOMEM;
    if (!err && t->c.shares && !(t->parts = cl_alloc(bytes * (size_t)t->nlocal)))
        return CL_ENOMEM;
    return err ? err : t->best_w ? CL_OK : CL_ENOMEM;
}

/* Room to gather every part's random state and every rank's task state
 * for .last (and every part's loss, with shares). */
static int alloc_gather(cl_trainer *t)
{
    size_t ranks = (size_t)t->dist.size, units = ranks * (size_t)t->nlocal;
    if (t->task.state)
        t->task.state(t->task.ctx, &t->nstate);
    t->rngs = malloc(sizeof *t->rngs * 8 * units);
    t->my_rngs = malloc(sizeof *t->my_rngs * 8 * (size_t)t->nlocal);
    t->states = malloc(sizeof *t->states * (t->nstate ? t->nstate : 1) * ranks);
    if (t->c.shares) {
        t->part_sums = malloc(sizeof *t->part_sums * 2 * units);
        t->my_sums = malloc(sizeof *t->my_sums * 2 * (size_t)t->nlocal);
        if (!t->part_sums || !t->my_sums)
            return CL_ENOMEM;
    }
    return t->rngs && t->my_rngs && t->states ? CL_OK : CL_ENOMEM;
}

/* The floats of [a, b) that bucket i holds. */
static size_t overlap(const cl_trainer *t, int i, size_t a, size_t b)
{
    size_t lo = a > t->bbeg[i] ? a : t->bbeg[i], hi = b < t->bend[i] ? b : t->bend[i];
    return lo < hi ? hi - lo : 0;
}

/* What a backward pass can tell of each bucket: its tensors' floats, not
 * the padding that aligns them. */
static void count_tensor_floats(cl_trainer *t)
{
    const cl_params *p = &t->m->params;
    for (int k = 0; k < p->nt; k++)
        for (int i = 0; i < t->nb && !p->t[k].constant; i++)
            t->bneed[i] += overlap(t, i, p->t[k].offset, p->t[k].offset + p->t[k].size);
}

/* Buckets of at most `size` floats over the trained groups, for the sums
 * that overlap backward: only with several ranks, each step its own sum. */
static int alloc_buckets(cl_trainer *t)
{
    size_t size = (size_t)(t->c.bucket ? t->c.bucket : CL_TRAIN_BUCKET), nb = 0;
    if (t->dist.size == 1 || t->c.shares || t->c.accumulate > 1 || t->c.bucket < 0)
        return CL_OK;
    for (int i = 0; i < t->ng; i++)
        if (!t->g[i].frozen)
            nb += (t->g[i].end - t->g[i].begin + size - 1) / size;
    t->bbeg = malloc(sizeof *t->bbeg * (nb + 1)), t->bend = malloc(sizeof *t->bend * (nb + 1));
    t->bdone = malloc(sizeof *t->bdone * (nb + 1)), t->bneed = calloc(nb + 1, sizeof *t->bneed);
    if (!t->bbeg || !t->bend || !t->bdone || !t->bneed)
        return CL_ENOMEM;
    for (int i = 0; i < t->ng; i++)
        for (size_t b = t->g[i].begin; !t->g[i].frozen && b < t->g[i].end; b += size, t->nb++) {
            t->bbeg[t->nb] = b;
            t->bend[t->nb] = t->g[i].end - b > size ? b + size : t->g[i].end;
        }
    count_tensor_floats(t);
    return CL_OK;
}

/* One random state per part this rank computes: part u of all the ranks'
 * (rank * nlocal + i) has the same one whoever computes it; part 0 that of
 * a lone process. */
static int seed_parts(cl_trainer *t, uint64_t seed)
{
    int ranks = t->dist.size;
    t->nlocal = t->c.shares ? t->c.shares / ranks : 1;
    if (!(t->rng = malloc(sizeof *t->rng * (size_t)t->nlocal)))
        return CL_ENOMEM;
    for (int i = 0; i < t->nlocal; i++) {
        uint64_t u = (uint64_t)t->dist.rank * (uint64_t)t->nlocal + (uint64_t)i;
        cl_rng_seed(&t->rng[i], seed ^ 0x5eedULL ^ u * 0x9e3779b97f4a7c15ULL);
    }
    return CL_OK;
}

/* Copy the trained groups of full (a parameter-sized buffer) to buf, in
 * the moments' layout (out = 1), or back from it. */
static void copy_trained(const cl_trainer *t, float *full, float *buf, int out)
{
    for (int i = 0; i < t->ng; i++) {
        if (t->g[i].frozen)
            continue;
        size_t n = (t->g[i].end - t->g[i].begin) * sizeof(float);
        if (out)
            memcpy(buf + t->moff[i], full + t->g[i].begin, n);
        else
            memcpy(full + t->g[i].begin, buf + t->moff[i], n);
    }
}

/* Copy the trained groups' weights to buf (out = 1) or back from it. */
static void gather(cl_trainer *t, float *buf, int out)
{
    copy_trained(t, t->m->params.w, buf, out);
}

/* Back into full (the gradients) from buf in the moments' layout. */
static void gather_into(const cl_trainer *t, float *buf, float *full)
{
    copy_trained(t, full, buf, 0);
}

int cl_trainer_create(cl_trainer **out, cl_model *m, const cl_train_config *c,
                      const cl_train_group *groups, int ngroups, const cl_train_task *task,
                      const cl_train_files *files, cl_diag *d)
{
    *out = NULL;
    int err = check_config(m, c, groups, ngroups, task, d);
    if (err)
        return err;
    if ((err = cl_params_alloc_grads(&m->params)) != CL_OK) /* a loaded model has none */
        return cl_diag_set(d, err, "cannot set up training: %s", cl_strerror(err));
    cl_trainer *t = calloc(1, sizeof *t);
    if (!t)
        return CL_ENOMEM;
    t->m = m, t->c = *c, t->task = *task;
    t->dist = c->dist ? *c->dist : cl_dist_serial();
    t->c.dist = NULL; /* the copy above is the one in use */
    if (files)
        t->files = *files;
    cl_rng_seed(&t->data_rng, c->seed ^ 0xda7aULL);
    t->best.metric = t->best.loss = NAN;
    t->last_eval_step = -1;
    err = seed_parts(t, c->seed);
    err = err ? err : alloc_groups(t, groups, ngroups);
    err = err ? err : alloc_gather(t);
    err = err ? err : alloc_buckets(t);
    if (err != CL_OK) {
        cl_trainer_free(t);
        return cl_diag_set(d, err, "cannot set up training: %s", cl_strerror(err));
    }
    if ((err = set_precision(t, d)) != CL_OK) {
        cl_trainer_free(t);
        return err;
    }
    if (t->ema)
        gather(t, t->ema, 1);
    *out = t;
    return CL_OK;
}

/* ==== the files ============================================================ */

/* A random state as 8 int32 (the file has no unsigned 64-bit tensors). */
static void rng_pack(const cl_rng *r, int32_t *v)
{
    for (int i = 0; i < 4; i++)
        v[2 * i] = (int32_t)(uint32_t)r->s[i], v[2 * i + 1] = (int32_t)(uint32_t)(r->s[i] >> 32);
}

static int rng_unpack(const int32_t *v, const char *name, cl_rng *r, cl_diag *d)
{
    for (int i = 0; i < 4; i++)
        r->s[i] = (uint64_t)(uint32_t)v[2 * i] | (uint64_t)(uint32_t)v[2 * i + 1] << 32;
    if (!(r->s[0] | r->s[1] | r->s[2] | r->s[3]))
        return cl_diag_set(d, CL_EFORMAT, "train: random state %s is all zero", name);
    return CL_OK;
}

static int put_rng(cl_ckpt_writer *w, const char *name, const cl_rng *r)
{
    int32_t v[8];
    int64_t n = 8;
    rng_pack(r, v);
    return cl_ckpt_put_i32(w, name, 1, &n, v);
}

static int get_rng(const cl_ckpt_section *s, const char *name, cl_rng *r, cl_diag *d)
{
    int32_t v[8];
    int64_t n = 8;
    int err = cl_ckpt_get_i32(s, name, 1, &n, v, d);
    return err ? err : rng_unpack(v, name, r, d);
}

/* What every saved model says about how it was trained (no wall times: a
 * resumed run must write the same bytes). */
static int put_history(cl_ckpt_writer *w, void *ctx)
{
    const cl_trainer *t = ctx;
    int err = cl_ckpt_section_begin(w, "history");
    err = err ? err : cl_ckpt_put_str(w, "task", t->task.name ? t->task.name : "");
    err = err ? err : cl_ckpt_put_i64(w, "step", t->step);
    err = err ? err : cl_ckpt_put_f64(w, "epochs", t->st.epochs);
    err = err ? err : cl_ckpt_put_f64(w, "items", t->items);
    err = err ? err : cl_ckpt_put_f64(w, "valid_metric", t->st.last.metric);
    err = err ? err : cl_ckpt_put_f64(w, "valid_loss", t->st.last.loss);
    err = err ? err : cl_ckpt_put_str(w, "precision", cl_precision_name(t->c.precision));
    return err ? err : cl_ckpt_section_end(w);
}

static int put_optim(const cl_trainer *t, cl_ckpt_writer *w)
{
    int64_t n = (int64_t)t->ntrained;
    int err = cl_ckpt_section_begin(w, "optim");
    err = err ? err : cl_ckpt_put_str(w, "kind", "adam");
    err = err ? err : cl_ckpt_put_i64(w, "step", t->opt.step);
    err = err ? err : cl_ckpt_put_f32(w, "m", 1, &n, t->opt.m);
    err = err ? err : cl_ckpt_put_f32(w, "v", 1, &n, t->opt.v);
    return err ? err : cl_ckpt_section_end(w);
}

static int put_position(const cl_trainer *t, cl_ckpt_writer *w)
{
    int err = cl_ckpt_put_i64(w, "step", t->step);
    err = err ? err : cl_ckpt_put_i64(w, "epoch", t->epoch);
    err = err ? err : cl_ckpt_put_i64(w, "epoch_step", t->epoch_step);
    err = err ? err : cl_ckpt_put_i64(w, "epoch_steps", t->epoch_steps);
    err = err ? err : cl_ckpt_put_i64(w, "last_eval_step", t->last_eval_step);
    err = err ? err : cl_ckpt_put_f64(w, "items", t->items);
    err = err ? err : cl_ckpt_put_f64(w, "loss_sum", t->loss_sum);
    return err ? err : cl_ckpt_put_f64(w, "loss_count", t->loss_count);
}

static int put_best(const cl_trainer *t, cl_ckpt_writer *w)
{
    int err = cl_ckpt_put_i64(w, "has_best", t->has_best);
    err = err ? err : cl_ckpt_put_f64(w, "best_metric", t->best.metric);
    err = err ? err : cl_ckpt_put_f64(w, "best_loss", t->best.loss);
    err = err ? err : cl_ckpt_put_i64(w, "best_step", t->best_step);
    err = err ? err : cl_ckpt_put_i64(w, "stale", t->stale);
    return err ? err : cl_ckpt_put_i64(w, "stopped_early", t->stopped_early);
}

static int put_train(const cl_trainer *t, cl_ckpt_writer *w)
{
    int64_t n = (int64_t)t->ntrained, ng = t->ng;
    int err = cl_ckpt_section_begin(w, "train");
    err = err ? err : cl_ckpt_put_str(w, "task", t->task.name ? t->task.name : "");
    err = err ? err : cl_ckpt_put_i64(w, "groups", ng);
    err = err ? err : cl_ckpt_put_i64(w, "trained", n);
    err = err ? err : put_position(t, w);
    err = err ? err : put_best(t, w);
    err = err ? err : cl_ckpt_put_i64(w, "ranks", t->dist.size);
    if (!err && t->c.shares)
        err = cl_ckpt_put_i64(w, "shares", t->c.shares);
    int64_t nr = 8 * (int64_t)t->dist.size * t->nlocal;
    err = err ? err : cl_ckpt_put_i32(w, "rngs", 1, &nr, t->rngs); /* tensors after every key */
    err = err ? err : put_rng(w, "epoch_rng", &t->epoch_rng);
    if (!err && t->ema)
        err = cl_ckpt_put_f32(w, "ema", 1, &n, t->ema);
    return err ? err : cl_ckpt_section_end(w);
}

static int put_last(cl_ckpt_writer *w, void *ctx)
{
    cl_trainer *t = ctx;
    int err = put_history(w, t);
    err = err ? err : put_optim(t, w);
    err = err ? err : put_train(t, w);
    if (!err && t->task.state) {
        int64_t n = (int64_t)(t->nstate * (size_t)t->dist.size);
        err = cl_ckpt_section_begin(w, "task");
        err = err ? err : cl_ckpt_put_f32(w, "state", 1, &n, t->states);
        err = err ? err : cl_ckpt_section_end(w);
    }
    return err ? err : t->files.extra ? t->files.extra(w, t->files.extra_ctx) : CL_OK;
}

/* Rank 0's outcome of what only it did (evaluate, write), on every rank:
 * the others stop with it when it failed. */
static int rank0_outcome(cl_trainer *t, int err, const char *what, cl_diag *d)
{
    if (t->dist.size == 1)
        return err;
    double e = err;
    int cerr = t->dist.bcast(&t->dist, &e, sizeof e, d);
    if (cerr || t->dist.rank == 0)
        return cerr ? cerr : err;
    return e ? cl_diag_set(d, (int)e, "rank %d: stopping, rank 0 failed %s (its message "
                           "says why)", t->dist.rank, what) : CL_OK;
}

/* Every rank's random state and task state to rank 0, for .last. */
static int gather_states(cl_trainer *t, cl_diag *d)
{
    for (int i = 0; i < t->nlocal; i++)
        rng_pack(&t->rng[i], t->my_rngs + 8 * i);
    int err = t->dist.gather(&t->dist, t->my_rngs, sizeof *t->my_rngs * 8 * (size_t)t->nlocal,
                             t->rngs, d);
    if (!err && t->task.state) {
        size_t n;
        const float *s = t->task.state(t->task.ctx, &n);
        err = t->dist.gather(&t->dist, s, n * sizeof *s, t->states, d);
    }
    return err;
}

static int save_last(cl_trainer *t, cl_diag *d)
{
    if (!t->files.last)
        return CL_OK;
    int err = gather_states(t, d);
    if (err)
        return err;
    err = t->dist.rank == 0 ? cl_model_save(t->m, t->files.last, put_last, t, d) : CL_OK;
    return rank0_outcome(t, err, "to save the training state", d);
}

static int save_best(cl_trainer *t, cl_diag *d)
{
    if (!t->files.best)
        return CL_OK;
    int err = t->dist.rank == 0 ? cl_model_save(t->m, t->files.best, put_history, t, d) : CL_OK;
    return rank0_outcome(t, err, "to save the model", d);
}

/* ==== resume =============================================================== */

static int get_i64_in(const cl_ckpt_section *s, const char *key, long lo, long hi, long *v,
                      cl_diag *d)
{
    int64_t x;
    int err = cl_ckpt_get_i64(s, key, &x, d);
    if (!err && (x < lo || x > hi))
        return cl_diag_set(d, CL_EFORMAT, "train: %s = %lld is out of range", key, (long long)x);
    if (!err)
        *v = (long)x;
    return err;
}

static int get_f64_finite(const cl_ckpt_section *s, const char *key, double *v, cl_diag *d)
{
    int err = cl_ckpt_get_f64(s, key, v, d);
    if (!err && !(isfinite(*v) && *v >= 0))
        return cl_diag_set(d, CL_EFORMAT, "train: %s is not a finite count", key);
    return err;
}

static int get_position(cl_trainer *t, const cl_ckpt_section *s, cl_diag *d)
{
    int err = get_i64_in(s, "step", 0, STEP_LIMIT, &t->step, d);
    err = err ? err : get_i64_in(s, "epoch", 0, STEP_LIMIT, &t->epoch, d);
    err = err ? err : get_i64_in(s, "epoch_steps", 1, STEP_LIMIT, &t->epoch_steps, d);
    err = err ? err : get_i64_in(s, "epoch_step", 0, t->epoch_steps, &t->epoch_step, d);
    err = err ? err : get_i64_in(s, "last_eval_step", -1, t->step, &t->last_eval_step, d);
    err = err ? err : get_f64_finite(s, "items", &t->items, d);
    err = err ? err : get_f64_finite(s, "loss_sum", &t->loss_sum, d);
    err = err ? err : get_f64_finite(s, "loss_count", &t->loss_count, d);
    err = err ? err : get_rng(s, "epoch_rng", &t->epoch_rng, d);
    int64_t nr = 8 * (int64_t)t->dist.size * t->nlocal;
    err = err ? err : cl_ckpt_get_i32(s, "rngs", 1, &nr, t->rngs, d);
    for (int i = 0; i < t->nlocal && !err; i++)
        err = rng_unpack(t->rngs + 8 * (t->dist.rank * t->nlocal + i), "rngs", &t->rng[i], d);
    return err;
}

static int get_best(cl_trainer *t, const cl_ckpt_section *s, cl_diag *d)
{
    long has = 0, stale = 0, early = 0;
    int err = get_i64_in(s, "has_best", 0, 1, &has, d);
    err = err ? err : cl_ckpt_get_f64(s, "best_metric", &t->best.metric, d);
    err = err ? err : cl_ckpt_get_f64(s, "best_loss", &t->best.loss, d);
    err = err ? err : get_i64_in(s, "best_step", 0, t->step, &t->best_step, d);
    err = err ? err : get_i64_in(s, "stale", 0, STEP_LIMIT, &stale, d);
    err = err ? err : get_i64_in(s, "stopped_early", 0, 1, &early, d);
    if (!err && has && isinf(t->best.metric))
        return cl_diag_set(d, CL_EFORMAT, "train: best_metric is infinite");
    t->has_best = (int)has, t->stale = (int)stale, t->stopped_early = (int)early;
    return err;
}

static int check_layout(const cl_trainer *t, const cl_ckpt_section *s, cl_diag *d)
{
    const char *task = "";
    long ng = 0, n = 0, ranks = 0;
    int err = cl_ckpt_get_str(s, "task", &task, d);
    err = err ? err : get_i64_in(s, "groups", 0, 1 << 20, &ng, d);
    err = err ? err : get_i64_in(s, "trained", 0, STEP_LIMIT, &n, d);
    err = err ? err : get_i64_in(s, "ranks", 1, 1 << 24, &ranks, d);
    if (err)
        return err;
    if (ranks != t->dist.size)
        return cl_diag_set(d, CL_EMISMATCH, "the run being resumed ran as %ld processes, this "
                           "one as %d: resume it with %ld (mpirun -np %ld)", ranks, t->dist.size,
                           ranks, ranks);
    long shares = 0;
    if (t->c.shares && (err = get_i64_in(s, "shares", 1, 1 << 24, &shares, d)) != CL_OK)
        return cl_diag_set(d, CL_EMISMATCH, "the run being resumed was not deterministic "
                           "(--deterministic %d here)", t->c.shares);
    if (shares != t->c.shares)
        return cl_diag_set(d, CL_EMISMATCH, "the run being resumed computed its batches as %ld "
                           "shares, this one as %d", shares, t->c.shares);
    if (strcmp(task, t->task.name ? t->task.name : "") != 0)
        return cl_diag_set(d, CL_EMISMATCH, "the run being resumed trained a %s, not a %s", task,
                           t->task.name);
    if (ng != t->ng || (size_t)n != t->ntrained)
        return cl_diag_set(d, CL_EMISMATCH, "the parameters trained differ from the run being "
                           "resumed (%ld values in %ld groups there, %zu in %d here)", n, ng,
                           t->ntrained, t->ng);
    return CL_OK;
}

static int get_optim(cl_trainer *t, const cl_ckpt_section *s, cl_diag *d)
{
    int64_t n = (int64_t)t->ntrained;
    long step = 0;
    int err = get_i64_in(s, "step", 0, STEP_LIMIT, &step, d);
    err = err ? err : cl_ckpt_get_f32(s, "m", 1, &n, t->opt.m, d);
    err = err ? err : cl_ckpt_get_f32(s, "v", 1, &n, t->opt.v, d);
    for (size_t i = 0; i < t->ntrained && !err; i++)
        if (!isfinite(t->opt.m[i]) || !(t->opt.v[i] >= 0 && isfinite(t->opt.v[i])))
            return cl_diag_set(d, CL_EFORMAT, "optim: moment %zu is not finite", i);
    t->opt.step = step;
    return err;
}

/* This rank's part of every rank's task state. */
static int get_task_state(cl_trainer *t, const cl_ckpt_section *s, cl_diag *d)
{
    if (!s)
        return cl_diag_set(d, CL_ENOTFOUND, "the file holds no task state to resume");
    int64_t n = (int64_t)(t->nstate * (size_t)t->dist.size);
    int err = cl_ckpt_get_f32(s, "state", 1, &n, t->states, d);
    size_t mine;
    float *dst = t->task.state(t->task.ctx, &mine);
    if (!err)
        memcpy(dst, t->states + t->nstate * (size_t)t->dist.rank, mine * sizeof *dst);
    return err;
}

int cl_trainer_resume(cl_trainer *t, const cl_ckpt *ck, cl_diag *d)
{
    const cl_ckpt_section *so = cl_ckpt_find(ck, "optim"), *st = cl_ckpt_find(ck, "train");
    const cl_ckpt_section *sk = cl_ckpt_find(ck, "task");
    if (!so || !st)
        return cl_diag_set(d, CL_ENOTFOUND, "the file holds no training state to resume (a "
                           "MODEL.last file does)");
    int err = check_layout(t, st, d);
    err = err ? err : get_optim(t, so, d);
    err = err ? err : get_position(t, st, d);
    err = err ? err : get_best(t, st, d);
    if (!err && t->ema) {
        int64_t n = (int64_t)t->ntrained;
        err = cl_ckpt_get_f32(st, "ema", 1, &n, t->ema, d);
    }
    if (!err && t->task.state)
        err = get_task_state(t, sk, d);
    t->prepared = -1; /* resumed: prepare keeps the stored constants */
    return err;
}

/* ==== one step ============================================================= */

static void zero_grads(cl_trainer *t)
{
    float *g = t->m->params.g;
    for (int i = 0; i < t->ng; i++)
        if (!t->g[i].frozen)
            memset(g + t->g[i].begin, 0, (t->g[i].end - t->g[i].begin) * sizeof(float));
}

/* Global norm over the trained groups, then the clip. */
static double clip_grads(cl_trainer *t)
{
    float *g = t->m->params.g;
    double n2 = 0;
    for (int i = 0; i < t->ng; i++)
        if (!t->g[i].frozen) {
            double n = cl_grad_norm(g + t->g[i].begin, t->g[i].end - t->g[i].begin);
            n2 += n * n;
        }
    double norm = sqrt(n2);
    if (t->c.clip > 0 && norm > t->c.clip && isfinite(norm)) {
        float s = (float)(t->c.clip / (norm + 1e-6));
        for (int i = 0; i < t->ng; i++)
            for (size_t k = t->g[i].begin; !t->g[i].frozen && k < t->g[i].end; k++)
                g[k] *= s;
    }
    return norm;
}

static void update(cl_trainer *t, double factor)
{
    cl_params *p = &t->m->params;
    cl_optim_begin(&t->opt);
    for (int i = 0; i < t->ng; i++) {
        const cl_train_group *g = &t->g[i];
        if (!g->frozen)
            cl_optim_update(&t->opt, p->w + g->begin, p->g + g->begin, t->moff[i],
                            g->end - g->begin, (float)(g->lr * factor));
    }
    t->st.lr = (float)(t->c.lr * factor);
}

/* The moving average follows the weights after each step; the warm-up
 * keeps the random initialisation from lingering in it. */
static void ema_update(cl_trainer *t)
{
    if (!t->ema)
        return;
    float k = (float)t->step, a = (1 + k) / (10 + k);
    a = a < t->c.ema ? a : t->c.ema;
    const float *w = t->m->params.w;
    for (int i = 0; i < t->ng; i++) {
        float *e = t->ema + t->moff[i];
        for (size_t j = 0, n = t->g[i].end - t->g[i].begin; !t->g[i].frozen && j < n; j++)
            e[j] = a * e[j] + (1 - a) * w[t->g[i].begin + j];
    }
}

/* With ema, the average stands in for the weights (in = 1) while they are
 * evaluated and saved as the best, and the raw ones come back (in = 0). */
static void ema_swap(cl_trainer *t, int in)
{
    if (!t->ema)
        return;
    if (in)
        gather(t, t->held, 1), gather(t, t->ema, 0);
    else
        gather(t, t->held, 0);
}

static int non_finite(cl_trainer *t, const char *what, double v, cl_diag *d)
{
    return cl_diag_set(d, CL_ENONFINITE, "step %ld: the %s is %g; nothing was updated or saved "
                       "after step %ld", t->step + 1, what, v, t->step);
}

/* g = s * g over the trained groups. */
static void scale_grads(cl_trainer *t, float s)
{
    float *g = t->m->params.g;
    for (int i = 0; i < t->ng; i++)
        for (size_t k = t->g[i].begin; !t->g[i].frozen && k < t->g[i].end; k++)
            g[k] *= s;
}

/* dst (= first ? 0 : dst) + s * g over the trained groups, in the moments'
 * layout. */
static void accumulate(cl_trainer *t, float *dst, float s, int first)
{
    const float *g = t->m->params.g;
    for (int i = 0; i < t->ng; i++) {
        float *a = dst + t->moff[i];
        for (size_t j = 0, n = t->g[i].end - t->g[i].begin; !t->g[i].frozen && j < n; j++)
            a[j] = (first ? 0 : a[j]) + s * g[t->g[i].begin + j];
    }
}

/* Sum the trained groups' gradients over the ranks. */
static int sum_grads(cl_trainer *t, cl_diag *d)
{
    float *g = t->m->params.g;
    int err = CL_OK;
    for (int i = 0; i < t->ng && !err; i++)
        if (!t->g[i].frozen)
            err = t->dist.sum_f32(&t->dist, g + t->g[i].begin, t->g[i].end - t->g[i].begin, d);
    return err;
}

/* The batches of one optimizer step: accumulate of them, fewer at the end
 * of an epoch. */
static long step_batches(const cl_trainer *t)
{
    long k = t->c.accumulate > 1 ? t->c.accumulate : 1;
    return k < t->epoch_steps - t->epoch_step ? k : t->epoch_steps - t->epoch_step;
}

/* The batches of one optimizer step on this rank: with one batch and one
 * rank, g is the task's; otherwise each batch's mean gradient is weighed by
 * its count, so that after the sum over the ranks and the division by the
 * total count g is the mean gradient of all the items of the step.  sums:
 * loss and count. */
static int local_grads(cl_trainer *t, double sums[2], cl_diag *d)
{
    long k = step_batches(t);
    for (long j = 0; j < k; j++) {
        double loss = 0, count = 0;
        zero_grads(t);
        int err = t->task.step(t->task.ctx, t->epoch_step + j, &t->rng[0], &loss, &count, d);
        if (err)
            return err;
        if (t->acc)
            accumulate(t, t->acc, (float)count, j == 0);
        sums[0] += loss, sums[1] += count;
    }
    if (t->acc)
        gather_into(t, t->acc, t->m->params.g);
    else if (t->dist.size > 1)
        scale_grads(t, (float)sums[1]);
    t->epoch_step += k - 1; /* the last one is counted with the step */
    return CL_OK;
}

/* ---- the sum that overlaps backward --------------------------------------- */

/* Weigh the next bucket by the step's count and start its sum over the
 * ranks.  Collectives must come in the same order on every rank, whatever
 * each rank's backward pass told (a rank with an empty share tells
 * nothing): the buckets start from the last one down, the order in which
 * backward passes make the parameter buffer final (heads after the
 * encoder, top layers after the bottom ones). */
static void start_next(cl_trainer *t, float weight, cl_diag *d)
{
    float *g = t->m->params.g;
    int i = t->bnext--;
    for (size_t k = t->bbeg[i]; k < t->bend[i]; k++)
        g[k] *= weight;
    int err = t->dist.start_sum_f32(&t->dist, g + t->bbeg[i], t->bend[i] - t->bbeg[i], d);
    t->hook_err = t->hook_err ? t->hook_err : err;
}

static void hook_count(void *ctx, double items)
{
    cl_trainer *t = ctx;
    t->weight = items, t->weighed = 1;
}

/* g[0..n) is final: start the buckets that are complete, in turn (once
 * the step's count is known: a task that does not tell it is summed after
 * its pass), and let the sums already started move on. */
static void hook_final(void *ctx, const float *g, size_t n)
{
    cl_trainer *t = ctx;
    size_t a = (size_t)(g - t->m->params.g), b = a + n;
    for (int i = 0; i < t->nb; i++) {
        t->bdone[i] += overlap(t, i, a, b);
        assert(t->bdone[i] <= t->bneed[i]); /* each float told once */
    }
    while (t->weighed && t->bnext >= 0 && t->bdone[t->bnext] == t->bneed[t->bnext] &&
           !t->hook_err)
        start_next(t, (float)t->weight, t->hook_d);
    if (!t->hook_err)
        t->hook_err = t->dist.progress(&t->dist, t->hook_d);
}

/* One batch whose gradient is summed over the ranks bucket by bucket while
 * its backward pass runs; what it did not tell is started after it. */
static int overlapped_grads(cl_trainer *t, double sums[2], cl_diag *d)
{
    memset(t->bdone, 0, sizeof *t->bdone * (size_t)t->nb);
    t->bnext = t->nb - 1, t->weighed = 0, t->hook_err = 0, t->hook_d = d;
    zero_grads(t);
    t->m->params.hook = (cl_grad_hook){hook_count, hook_final, t};
    int err = t->task.step(t->task.ctx, t->epoch_step, &t->rng[0], &sums[0], &sums[1], d);
    t->m->params.hook = (cl_grad_hook){0};
    err = err ? err : t->hook_err;
    assert(err || !t->weighed || t->weight == sums[1]);
    double c0 = now();
    while (t->bnext >= 0 && !err)
        start_next(t, (float)sums[1], d), err = t->hook_err;
    err = err ? err : t->dist.wait_all(&t->dist, d);
    t->run_comm_s += now() - c0;
    return err;
}

/* ---- the sum in a fixed order (shares) ------------------------------------ */

/* This rank's parts of the step's batches, each part's weighted gradient
 * in t->parts, its loss and count in t->my_sums. */
static int part_grads(cl_trainer *t, cl_diag *d)
{
    long k = step_batches(t);
    double *sums = t->my_sums;
    for (long j = 0; j < k; j++)
        for (int i = 0; i < t->nlocal; i++) {
            double loss = 0, count = 0;
            zero_grads(t);
            int err = t->task.select ? t->task.select(t->task.ctx, i) : CL_OK;
            err = err ? err : t->task.step(t->task.ctx, t->epoch_step + j, &t->rng[i], &loss,
                                           &count, d);
            if (err)
                return err;
            accumulate(t, t->parts + (size_t)i * t->ntrained, (float)count, j == 0);
            sums[2 * i] = (j ? sums[2 * i] : 0) + loss;
            sums[2 * i + 1] = (j ? sums[2 * i + 1] : 0) + count;
        }
    t->epoch_step += k - 1;
    return CL_OK;
}

/* The loss and count of every part, added in part order by rank 0 and
 * sent to every rank. */
static int ordered_sums(cl_trainer *t, double sums[2], cl_diag *d)
{
    size_t units = (size_t)t->dist.size * (size_t)t->nlocal;
    int err = t->dist.gather(&t->dist, t->my_sums, 2 * (size_t)t->nlocal * sizeof *t->my_sums,
                             t->part_sums, d);
    sums[0] = sums[1] = 0;
    for (size_t u = 0; u < units && t->dist.rank == 0; u++)
        sums[0] += t->part_sums[2 * u], sums[1] += t->part_sums[2 * u + 1];
    return err ? err : t->dist.bcast(&t->dist, sums, 2 * sizeof *sums, d);
}

static int shared_grads(cl_trainer *t, double sums[2], cl_diag *d)
{
    int err = part_grads(t, d);
    if (err)
        return err;
    double c0 = now();
    err = t->dist.sum_ordered_f32(&t->dist, t->parts, t->nlocal, t->ntrained, t->acc, d);
    err = err ? err : ordered_sums(t, sums, d);
    t->run_comm_s += now() - c0;
    if (!err)
        gather_into(t, t->acc, t->m->params.g);
    return err;
}

/* The step's gradient (the mean over its items), loss and count, summed
 * over the ranks: in a fixed order (shares), bucket by bucket during
 * backward (several ranks), or after the batches. */
static int step_grads(cl_trainer *t, double *loss, double *count, cl_diag *d)
{
    double sums[2] = {0, 0};
    int err, summed = t->c.shares || t->nb;
    if (t->c.shares)
        err = shared_grads(t, sums, d);
    else if (t->nb)
        err = overlapped_grads(t, sums, d);
    else
        err = local_grads(t, sums, d);
    double c0 = now();
    if (!err && !summed && t->dist.size > 1)
        err = sum_grads(t, d);
    if (!err && !t->c.shares && t->dist.size > 1)
        err = t->dist.sum_f64(&t->dist, sums, 2, d);
    t->run_comm_s += now() - c0;
    if (!err && (t->acc || t->dist.size > 1))
        scale_grads(t, sums[1] > 0 ? (float)(1.0 / sums[1]) : 0.0f);
    *loss = sums[0], *count = sums[1];
    return err;
}

/* A step whose loss is beyond CL_TRAIN_DIVERGED times chance is not applied
 * (its batch is passed over, as large-model training passes over loss
 * spikes): one such batch is a transient (seen: a classifier's naive Bayes
 * evidence confidently wrong on one batch at step 24 of a fold), while
 * CL_TRAIN_SPIKES in a row mean the weights themselves went wrong, and
 * training stops before anything more is updated or saved. */
static int skip_spike(cl_trainer *t, double mean_loss, cl_diag *d)
{
    if (++t->spikes >= CL_TRAIN_SPIKES)
        return cl_diag_set(d, CL_ENONFINITE, "step %ld: the training loss %.4g is more than %g "
                           "times that of a uniform guess (%.4g), %d steps in a row; nothing was "
                           "updated or saved after step %ld", t->step + 1, mean_loss,
                           CL_TRAIN_DIVERGED, t->task.chance, t->spikes,
                           t->step - (t->spikes - 1));
    t->st.skipped++;
    t->step++, t->epoch_step++;
    return CL_OK;
}

static int take_step(cl_trainer *t, cl_diag *d)
{
    double loss = 0, count = 0;
    int err = step_grads(t, &loss, &count, d);
    if (err)
        return err;
    if (!isfinite(loss))
        return non_finite(t, "training loss", loss, d);
    if (t->task.chance > 0 && count > 0 && loss / count > CL_TRAIN_DIVERGED * t->task.chance)
        return skip_spike(t, loss / count, d);
    t->spikes = 0;
    double norm = clip_grads(t);
    if (!isfinite(norm))
        return non_finite(t, "gradient norm", norm, d);
    if (count > 0) {
        update(t, cl_train_lr_factor(&t->c, t->step, t->epoch, planned_steps(t)));
        t->loss_sum += loss, t->loss_count += count, t->items += count;
    }
    ema_update(t); /* with the index of this step: the warm-up starts at 0.1 */
    t->step++, t->epoch_step++;
    return CL_OK;
}

/* ==== evaluation and saving ================================================ */

static int better(const cl_train_score *a, const cl_train_score *b)
{
    if (a->metric != b->metric)
        return a->higher_better ? a->metric > b->metric : a->metric < b->metric;
    return a->loss < b->loss;
}

/* Rank 0 evaluates; every rank gets its score (and stops if it failed). */
static int score(cl_trainer *t, cl_train_score *s, cl_diag *d)
{
    *s = (cl_train_score){NAN, NAN, 0};
    if (!t->task.evaluate)
        return CL_OK;
    int err = t->dist.rank == 0 ? t->task.evaluate(t->task.ctx, s, d) : CL_OK;
    if (!err && t->dist.rank == 0 && !isfinite(s->metric))
        err = cl_diag_set(d, CL_ENONFINITE, "step %ld: the validation score is %g; the model "
                          "was not saved", t->step, s->metric);
    err = rank0_outcome(t, err, "to evaluate", d);
    double v[3] = {s->metric, s->loss, s->higher_better};
    if (!err && t->dist.size > 1 && !(err = t->dist.bcast(&t->dist, v, sizeof v, d)))
        *s = (cl_train_score){v[0], v[1], (int)v[2]};
    return err;
}

/* The best model first, then .last: a kill between the two leaves a .last
 * from before this evaluation, whose resumed run reaches it again. */
static int evaluate_and_save(cl_trainer *t, const cl_train_hooks *h, cl_diag *d)
{
    double e0 = now();
    cl_train_stats *st = &t->st;
    ema_swap(t, 1);
    int err = score(t, &st->last, d);
    st->improved = !err && (!t->has_best || !t->task.evaluate || better(&st->last, &t->best));
    if (st->improved) {
        t->best = st->last, t->best_step = t->step, t->has_best = 1;
        gather(t, t->best_w, 1);
        t->have_best_w = 1;
        err = save_best(t, d);
    }
    ema_swap(t, 0);
    t->stale = st->improved ? 0 : t->stale + 1;
    t->stopped_early = t->c.patience > 0 && t->stale >= t->c.patience;
    t->last_eval_step = t->step;
    st->saved = st->improved && t->files.best;
    st->train_loss = t->loss_count > 0 ? t->loss_sum / t->loss_count : NAN;
    t->loss_sum = 0, t->loss_count = 0;
    err = err ? err : save_last(t, d);
    st->best = t->best, st->best_step = t->best_step, st->stale = t->stale;
    st->stopped_early = t->stopped_early;
    t->eval_seconds = now() - e0;
    if (!err && h && h->evaluated && h->evaluated(st, h->ctx))
        return cl_diag_set(d, CL_EINTR, "stopped by the caller");
    return err;
}

/* ==== the loop ============================================================= */

static double epochs_done(const cl_trainer *t)
{
    return (double)t->epoch + (double)t->epoch_step / (double)t->epoch_steps;
}

static void fill_stats(cl_trainer *t)
{
    cl_train_stats *s = &t->st;
    double elapsed = now() - t->t0;
    long run_steps = t->step - t->run_start;
    double rate = elapsed > 0 ? run_steps / elapsed : 0;
    s->step = t->step, s->epoch = t->epoch, s->epoch_step = t->epoch_step;
    s->epoch_steps = t->epoch_steps, s->epochs = epochs_done(t);
    s->max_steps = planned_steps(t), s->items = t->items;
    if (t->loss_count > 0)
        s->train_loss = t->loss_sum / t->loss_count;
    s->elapsed = elapsed, s->run_train_seconds = t->run_train_s, s->run_steps = run_steps;
    s->run_comm_seconds = t->run_comm_s;
    s->items_per_sec = t->run_train_s > 0 ? (t->items - t->items0) / t->run_train_s : 0;
    double eta = INFINITY;
    if (s->max_steps && rate > 0)
        eta = fmin(eta, (double)(s->max_steps - t->step) / rate);
    if (t->c.max_seconds > 0)
        eta = fmin(eta, t->c.max_seconds - elapsed);
    s->eta = isinf(eta) ? NAN : fmax(eta, 0);
}

/* The time limit keeps room for the final evaluation (as long as the last). */
static int limit_reached(const cl_trainer *t)
{
    return (t->c.max_steps && t->step >= t->c.max_steps) ||
           (t->c.max_epochs > 0 && epochs_done(t) >= t->c.max_epochs) ||
           (t->c.max_seconds > 0 && now() - t->t0 + t->eval_seconds >= t->c.max_seconds) ||
           t->stopped_early;
}

/* Plan the current epoch from epoch_rng (a new epoch: the data generator as
 * it is now). */
static int plan_epoch(cl_trainer *t, int fresh, cl_diag *d)
{
    if (fresh)
        t->epoch_rng = t->data_rng;
    t->data_rng = t->epoch_rng;
    long n = t->task.begin_epoch(t->task.ctx, t->epoch, &t->data_rng, d);
    if (n < 0)
        return (int)n;
    if (n < 1)
        return cl_diag_set(d, CL_EEMPTY, "an epoch of the training data holds no step");
    if (!fresh && n != t->epoch_steps)
        return cl_diag_set(d, CL_EMISMATCH, "the training data differ from the run being "
                           "resumed (%ld steps in epoch %ld there, %ld here)", t->epoch_steps,
                           t->epoch + 1, n);
    t->epoch_steps = n;
    return CL_OK;
}

/* Every rank starts from rank 0's trained weights (they were made from
 * the same seed or file, but a rank on another machine type may round
 * differently); from here the identical updates keep them identical. */
static int same_weights(cl_trainer *t, cl_diag *d)
{
    int err = CL_OK;
    float *w = t->m->params.w;
    for (int i = 0; i < t->ng && !err && t->dist.size > 1; i++)
        if (!t->g[i].frozen)
            err = t->dist.bcast(&t->dist, w + t->g[i].begin,
                                (t->g[i].end - t->g[i].begin) * sizeof *w, d);
    return err;
}

static int start(cl_trainer *t, cl_diag *d)
{
    int resumed = t->prepared == -1;
    t->t0 = now(), t->run_train_s = 0, t->run_comm_s = 0, t->run_start = t->step;
    t->last_report = 0;
    t->items0 = t->items;
    t->st.train_loss = NAN;
    t->st.last = (cl_train_score){NAN, NAN, 0};
    t->st.best = t->best, t->st.best_step = t->best_step;
    int err = t->task.prepare ? t->task.prepare(t->task.ctx, resumed, d) : CL_OK;
    t->prepared = 1;
    err = err ? err : same_weights(t, d);
    return err ? err : plan_epoch(t, !resumed, d);
}

static void report(cl_trainer *t, const cl_train_hooks *h, int force)
{
    fill_stats(t);
    if (h && h->progress && (force || now() - t->last_report > 0.25)) {
        h->progress(&t->st, h->ctx);
        t->last_report = now();
    }
}

static int is_eval_step(const cl_trainer *t)
{
    return t->c.eval_every ? t->step % t->c.eval_every == 0 : t->epoch_step == t->epoch_steps;
}

/* Whether to stop now, the same answer on every rank: a time limit or a
 * stop request reached by any rank stops them all (together). */
static int agree_stop(cl_trainer *t, const cl_train_hooks *h, int *limit, int *stop, cl_diag *d)
{
    double v[2] = {limit_reached(t), h && h->stop && h->stop(h->ctx)};
    int err = t->dist.size > 1 ? t->dist.sum_f64(&t->dist, v, 2, d) : CL_OK;
    *limit = v[0] > 0, *stop = v[1] > 0;
    return err;
}

static int loop(cl_trainer *t, const cl_train_hooks *h, cl_diag *d)
{
    for (;;) {
        int limit, stop, err = agree_stop(t, h, &limit, &stop, d);
        if (err || limit)
            return err;
        if (stop) {
            /* -o exists from here on even if no evaluation made one yet */
            err = t->has_best ? CL_OK : save_best(t, d);
            err = err ? err : save_last(t, d);
            return err ? err : cl_diag_set(d, CL_EINTR, "stopped at step %ld", t->step);
        }
        if (t->epoch_step == t->epoch_steps) {
            t->epoch++, t->epoch_step = 0;
            if ((err = plan_epoch(t, 1, d)) != CL_OK)
                return err;
        }
        double s0 = now();
        err = take_step(t, d);
        t->run_train_s += now() - s0;
        if (err)
            return err;
        report(t, h, 0);
        if (is_eval_step(t) && (err = evaluate_and_save(t, h, d)) != CL_OK)
            return err;
    }
}

int cl_trainer_run(cl_trainer *t, const cl_train_hooks *h, cl_diag *d)
{
    int err = t->prepared == 1 ? CL_EINVAL : start(t, d);
    err = err ? err : loop(t, h, d);
    if (!err && t->last_eval_step != t->step)
        err = evaluate_and_save(t, h, d);
    report(t, h, 1);
    if (err == CL_OK && t->have_best_w) /* the model leaves with the best weights seen */
        gather(t, t->best_w, 0);
    return err;
}
