/* pool.h - a fixed thread pool created once at start-up.
 *
 * pg_pool_run(p, fn, arg) runs fn(arg, ith, nth) on every thread of the pool
 * (the caller is thread 0) and returns when all have finished. Kernels split
 * their rows by (ith, nth). Workers spin briefly on the job counter before
 * sleeping on a condition variable, so back-to-back kernels cost little.
 * pg_pool_run must not be called concurrently on one pool (one owner thread).
 * A NULL pool runs fn(arg, 0, 1) inline. */
#ifndef PG_BASE_POOL_H
#define PG_BASE_POOL_H

typedef struct pg_pool pg_pool;
typedef void (*pg_pool_fn)(void *arg, int ith, int nth);

pg_pool *pg_pool_create(int n_threads);
void pg_pool_destroy(pg_pool *p);
int pg_pool_size(const pg_pool *p);
void pg_pool_run(pg_pool *p, pg_pool_fn fn, void *arg);
/* Split [0, n) into nth parts; part ith is [*lo, *hi). */
void pg_split_range(long n, int ith, int nth, long *lo, long *hi);

#endif
