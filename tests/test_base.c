/* test_base.c - errors, arena, thread pool and CPU dispatch forcing. */
#include "test.h"

#include "base/arena.h"
#include "base/cpu.h"
#include "base/error.h"
#include "base/pool.h"

#include <stdint.h>

static void test_error(void) {
    pg_error e;
    CHECK(pg_error_set(&e, PG_EFORMAT, "tensor '%s' bad", "x") == PG_EFORMAT);
    CHECK(e.code == PG_EFORMAT && !strcmp(e.msg, "tensor 'x' bad"));
    CHECK(pg_error_set(NULL, PG_EINVAL, "ignored") == PG_EINVAL);
    char big[2000];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = 0;
    pg_error_set(&e, PG_EINVAL, "%s", big);
    CHECK(strlen(e.msg) == sizeof e.msg - 1);
    size_t r;
    CHECK(pg_mul_size(SIZE_MAX / 2, 3, &r) < 0);
    CHECK(pg_add_size(SIZE_MAX, 1, &r) < 0);
    CHECK(pg_mul_size(1000, 1000, &r) == 0 && r == 1000000);
}

static void test_arena(void) {
    pg_arena *a = pg_arena_create(256);
    REQUIRE(a);
    char *p = pg_arena_alloc(a, 10);
    CHECK(p && ((uintptr_t)p % 16) == 0);
    void *q = pg_arena_alloc_aligned(a, 100, 64);
    CHECK(q && ((uintptr_t)q % 64) == 0);
    char *big = pg_arena_alloc(a, 100000); /* larger than a chunk */
    CHECK(big != NULL);
    memset(big, 1, 100000);
    CHECK(pg_arena_alloc(a, SIZE_MAX) == NULL);
    CHECK(pg_arena_calloc(a, SIZE_MAX / 2, 4) == NULL);
    char *s = pg_arena_strndup(a, "hello world", 5);
    CHECK(s && !strcmp(s, "hello"));
    pg_arena_reset(a);
    CHECK(pg_arena_used(a) == 0);
    for (int i = 0; i < 1000; i++) CHECK(pg_arena_alloc(a, (size_t)i) != NULL);
    pg_arena_destroy(a);
}

typedef struct {
    long n;
    int *hits;
    int nth_seen;
} pj;

static void pool_fn(void *arg, int ith, int nth) {
    pj *j = arg;
    long lo, hi;
    pg_split_range(j->n, ith, nth, &lo, &hi);
    for (long i = lo; i < hi; i++) j->hits[i]++;
    __atomic_store_n(&j->nth_seen, nth, __ATOMIC_RELAXED);
}

static void test_pool(void) {
    for (int nt = 1; nt <= 4; nt++) {
        pg_pool *p = pg_pool_create(nt);
        REQUIRE(p);
        CHECK(pg_pool_size(p) == nt);
        int hits[1000] = {0};
        pj j = {1000, hits, 0};
        for (int rep = 0; rep < 200; rep++) pg_pool_run(p, pool_fn, &j);
        int ok = 1;
        for (int i = 0; i < 1000; i++) ok &= hits[i] == 200;
        CHECKF(ok, "every index visited exactly once per run with %d threads", nt);
        CHECK(j.nth_seen == nt);
        pg_pool_destroy(p);
    }
    /* split covers [0,n) contiguously for awkward sizes */
    for (long n = 0; n < 50; n++)
        for (int nth = 1; nth < 7; nth++) {
            long prev = 0;
            for (int i = 0; i < nth; i++) {
                long lo, hi;
                pg_split_range(n, i, nth, &lo, &hi);
                CHECK(lo == prev && hi >= lo && hi - lo <= n / nth + 1);
                prev = hi;
            }
            CHECK(prev == n);
        }
    int hits[10] = {0};
    pj j = {10, hits, 0};
    pg_pool_run(NULL, pool_fn, &j); /* NULL pool runs inline */
    CHECK(hits[9] == 1);
}

static void test_cpu(void) {
    pg_cpu_level mx = pg_cpu_level_max();
    CHECK(pg_cpu_level_set(PG_CPU_SCALAR) == PG_CPU_SCALAR);
    CHECK(pg_cpu_level_get() == PG_CPU_SCALAR);
    CHECK(pg_cpu_level_set(PG_CPU_AVX512) == mx); /* capped at what the CPU has */
    fprintf(stderr, "cpu level max: %s\n", pg_cpu_level_name(mx));
}

int main(void) {
    test_error();
    test_arena();
    test_pool();
    test_cpu();
    return t_done("test_base");
}
