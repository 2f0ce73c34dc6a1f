/* pool.c - see pool.h.
 *
 * Protocol: the owner publishes (fn, arg), bumps `gen` and sets `pending` to
 * nth-1. Each worker waits for gen to change (spinning ~SPIN_ITERS, then on
 * the condvar), runs its part, and decrements `pending`. The owner runs part
 * 0 and spins until pending == 0 (short: parts are balanced). Shutdown is a
 * job with fn == NULL. */
#include "base/pool.h"

#include "base/error.h"

#include <pthread.h>
#include <sched.h>
#include <stdlib.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define CPU_RELAX() _mm_pause()
#else
#define CPU_RELAX() ((void)0)
#endif

#define SPIN_ITERS 20000
#define OWNER_SPINS 4000

typedef struct {
    pg_pool *pool;
    int ith;
    pthread_t tid;
} worker;

struct pg_pool {
    int n;
    worker *workers;
    pg_pool_fn fn;
    void *arg;
    unsigned gen;      /* job generation, atomic */
    int pending;       /* workers still running the job, atomic */
    int stop;
    pthread_mutex_t mu;
    pthread_cond_t cv;
};

static void *worker_main(void *vp) {
    worker *w = vp;
    pg_pool *p = w->pool;
    unsigned seen = 0;
    for (;;) {
        unsigned g;
        int spins = 0;
        while ((g = __atomic_load_n(&p->gen, __ATOMIC_ACQUIRE)) == seen) {
            if (++spins < SPIN_ITERS) {
                CPU_RELAX();
                if ((spins & 1023) == 0) sched_yield(); /* let a descheduled owner run */
                continue;
            }
            pthread_mutex_lock(&p->mu);
            while (__atomic_load_n(&p->gen, __ATOMIC_ACQUIRE) == seen) pthread_cond_wait(&p->cv, &p->mu);
            pthread_mutex_unlock(&p->mu);
        }
        seen = g;
        if (__atomic_load_n(&p->stop, __ATOMIC_ACQUIRE)) break;
        p->fn(p->arg, w->ith, p->n);
        __atomic_fetch_sub(&p->pending, 1, __ATOMIC_ACQ_REL);
    }
    return NULL;
}

pg_pool *pg_pool_create(int n_threads) {
    if (n_threads < 1) n_threads = 1;
    pg_pool *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->n = n_threads;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    p->workers = calloc((size_t)n_threads, sizeof(worker));
    if (!p->workers) {
        free(p);
        return NULL;
    }
    for (int i = 1; i < n_threads; i++) {
        p->workers[i].pool = p;
        p->workers[i].ith = i;
        if (pthread_create(&p->workers[i].tid, NULL, worker_main, &p->workers[i]) != 0) {
            p->n = i; /* run with fewer threads */
            break;
        }
    }
    return p;
}

static void publish(pg_pool *p, pg_pool_fn fn, void *arg) {
    p->fn = fn;
    p->arg = arg;
    __atomic_store_n(&p->pending, p->n - 1, __ATOMIC_RELEASE);
    pthread_mutex_lock(&p->mu);
    __atomic_add_fetch(&p->gen, 1, __ATOMIC_ACQ_REL);
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

void pg_pool_run(pg_pool *p, pg_pool_fn fn, void *arg) {
    if (!p || p->n == 1) {
        fn(arg, 0, 1);
        return;
    }
    publish(p, fn, arg);
    fn(arg, 0, p->n);
    /* Parts are balanced, so the wait is normally short; on an oversubscribed
     * machine a worker may be descheduled, so yield the core after a while
     * instead of burning the time slice it needs. */
    for (unsigned spins = 0; __atomic_load_n(&p->pending, __ATOMIC_ACQUIRE) != 0; spins++) {
        if (spins < OWNER_SPINS) CPU_RELAX();
        else sched_yield();
    }
}

void pg_pool_destroy(pg_pool *p) {
    if (!p) return;
    if (p->n > 1) {
        __atomic_store_n(&p->stop, 1, __ATOMIC_RELEASE);
        publish(p, NULL, NULL);
        for (int i = 1; i < p->n; i++) pthread_join(p->workers[i].tid, NULL);
    }
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    free(p->workers);
    free(p);
}

int pg_pool_size(const pg_pool *p) { return p ? p->n : 1; }

void pg_split_range(long n, int ith, int nth, long *lo, long *hi) {
    PG_ASSERT(nth > 0 && ith >= 0 && ith < nth);
    long base = n / nth, rem = n % nth;
    *lo = ith * base + (ith < rem ? ith : rem);
    *hi = *lo + base + (ith < rem ? 1 : 0);
}
