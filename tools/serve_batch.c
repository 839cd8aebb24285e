/* serve_batch: one worker thread per head; queued requests run as one batch.
 *
 * HTTP threads post jobs and return at once (their connections are
 * suspended); the worker sleeps until something is queued, then takes every
 * queued job as one batch.  Jobs that arrive while a batch runs wait for the
 * next one, so under load a batch holds about half the clients, and only
 * this thread enters the head's OpenMP regions: one team per head, of the
 * size --threads asks for (omp_set_num_threads is per calling thread).
 *
 * A job that runs in slices (a generation) sets `more`; it goes back to the
 * end of the queue, so long generations take turns with the others. */
#include <omp.h>

#include "serve.h"

/* Up to max_jobs from the head of the queue (called with mu held). */
static int take(serve_batcher *b, serve_job **jobs)
{
    int n = 0;
    while (b->head && n < b->max_jobs) {
        jobs[n++] = b->head;
        b->head = b->head->next;
    }
    if (!b->head)
        b->tail = NULL;
    return n;
}

static void append(serve_batcher *b, serve_job *j)
{
    j->next = NULL;
    if (b->tail)
        b->tail->next = j;
    else
        b->head = j;
    b->tail = j;
}

/* After a batch (mu held): unfinished jobs queue again; finished ones are
 * woken with mu released, and not touched after their wake. */
static void settle(serve_batcher *b, serve_job **jobs, int n)
{
    int done = 0;
    for (int i = 0; i < n; i++) {
        if (jobs[i]->more)
            append(b, jobs[i]);
        else
            jobs[done++] = jobs[i];
    }
    b->pending -= done;
    pthread_mutex_unlock(&b->mu);
    for (int i = 0; i < done; i++)
        if (jobs[i]->wake)
            jobs[i]->wake(jobs[i]->wake_arg);
    pthread_mutex_lock(&b->mu);
}

static void *worker(void *arg)
{
    serve_batcher *b = arg;
    serve_job *jobs[SERVE_BATCH_JOBS];
    omp_set_num_threads(b->threads); /* this thread's team: the head's one pool */
    pthread_mutex_lock(&b->mu);
    for (;;) {
        while (!b->head && !b->stopping)
            pthread_cond_wait(&b->cv, &b->mu);
        if (!b->head)
            break; /* stopping, and nothing left */
        int n = take(b, jobs);
        b->batches++;
        pthread_mutex_unlock(&b->mu);
        for (int i = 0; i < n; i++)
            jobs[i]->more = 0;
        b->run(b->state, jobs, n);
        pthread_mutex_lock(&b->mu);
        settle(b, jobs, n);
    }
    pthread_mutex_unlock(&b->mu);
    return NULL;
}

int serve_batcher_start(serve_batcher *b, serve_batch_fn run, void *state, int max_jobs,
                        int max_pending, int threads)
{
    max_jobs = max_jobs < SERVE_BATCH_JOBS ? max_jobs : SERVE_BATCH_JOBS;
    *b = (serve_batcher){.run = run, .state = state, .max_jobs = max_jobs > 0 ? max_jobs : 1,
                         .max_pending = max_pending > 0 ? max_pending : 1,
                         .threads = threads > 0 ? threads : 1};
    pthread_mutex_init(&b->mu, NULL);
    pthread_cond_init(&b->cv, NULL);
    if (pthread_create(&b->thread, NULL, worker, b) != 0)
        return CL_ENOMEM;
    b->running = 1;
    return CL_OK;
}

void serve_batcher_stop(serve_batcher *b)
{
    if (!b->running)
        return;
    pthread_mutex_lock(&b->mu);
    b->stopping = 1;
    pthread_cond_signal(&b->cv);
    pthread_mutex_unlock(&b->mu);
    pthread_join(b->thread, NULL);
    b->running = 0;
}

void serve_batcher_destroy(serve_batcher *b)
{
    if (!b->run)
        return; /* never started */
    serve_batcher_stop(b);
    pthread_mutex_destroy(&b->mu);
    pthread_cond_destroy(&b->cv);
    b->run = NULL;
}

int serve_batch_post(serve_batcher *b, serve_job *j)
{
    pthread_mutex_lock(&b->mu);
    int busy = b->stopping || !b->running || b->pending >= b->max_pending;
    if (!busy) {
        append(b, j);
        b->pending++, b->jobs++;
        pthread_cond_signal(&b->cv);
    }
    pthread_mutex_unlock(&b->mu);
    return busy ? SERVE_EBUSY : 0;
}
