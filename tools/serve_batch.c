/* serve_batch: concurrent requests to one head run as one batch.
 *
 * No thread of its own: the first request that finds the head idle runs the
 * batch — every job queued by then (up to max_jobs), its own among them —
 * while the others wait on the condition variable; when it is done, it wakes
 * them and, if more queued meanwhile, the next one to wake runs those. */
#include "serve.h"

void serve_batcher_init(serve_batcher *b, serve_batch_fn run, void *state, int max_jobs)
{
    max_jobs = max_jobs < SERVE_BATCH_JOBS ? max_jobs : SERVE_BATCH_JOBS;
    *b = (serve_batcher){.run = run, .state = state, .max_jobs = max_jobs > 0 ? max_jobs : 1};
    pthread_mutex_init(&b->mu, NULL);
    pthread_cond_init(&b->cv, NULL);
}

void serve_batcher_destroy(serve_batcher *b)
{
    pthread_mutex_destroy(&b->mu);
    pthread_cond_destroy(&b->cv);
}

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

int serve_batch_submit(serve_batcher *b, serve_job *j)
{
    serve_job *jobs[SERVE_BATCH_JOBS];
    j->next = NULL, j->done = 0;
    pthread_mutex_lock(&b->mu);
    if (b->tail)
        b->tail->next = j;
    else
        b->head = j;
    b->tail = j;
    while (!j->done) {
        if (b->busy) {
            pthread_cond_wait(&b->cv, &b->mu);
            continue;
        }
        int n = take(b, jobs);
        b->busy = 1, b->batches++, b->jobs += n;
        pthread_mutex_unlock(&b->mu);
        b->run(b->state, jobs, n);
        pthread_mutex_lock(&b->mu);
        for (int i = 0; i < n; i++)
            jobs[i]->done = 1;
        b->busy = 0;
        pthread_cond_broadcast(&b->cv);
    }
    pthread_mutex_unlock(&b->mu);
    return j->err;
}
