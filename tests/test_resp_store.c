/* test_resp_store.c - the Responses API's store (resp_store.h): put / get /
 * delete, owners, the count, byte and age bounds, LRU order, replacement,
 * and the invariant checker after every step; a threaded round at the end. */
#include "server/resp_store.h"

#include "test.h"

#include <pthread.h>

static srv_rstore *g_s;

static void ok(srv_rstore *s) {
    char m[256];
    int rc = srv_rstore_check(s, m, sizeof m);
    CHECKF(rc == 0, "%s", m);
}

static int has(srv_rstore *s, const char *id, uint64_t owner, double now) {
    char *t = NULL;
    size_t n = 0;
    int rc = srv_rstore_get(s, id, owner, SRV_RSTORE_RESPONSE, &t, &n, now);
    free(t);
    return rc == 0;
}

static void put(srv_rstore *s, const char *id, uint64_t owner, double now) {
    char body[64];
    snprintf(body, sizeof body, "{\"id\":\"%s\"}", id);
    CHECK(srv_rstore_put(s, id, owner, body, strlen(body), "[]", 2, now) == 0);
    ok(s);
}

static void test_basic(void) {
    srv_rstore *s = srv_rstore_create(8, 1 << 20, 100);
    REQUIRE(s);
    CHECK(srv_rstore_enabled(s));
    CHECK(srv_rstore_put(s, "resp_a", 7, "{\"x\":1}", 7, "[{\"role\":\"user\"}]", 17, 0) == 0);
    ok(s);
    char *t;
    size_t n;
    CHECK(srv_rstore_get(s, "resp_a", 7, SRV_RSTORE_RESPONSE, &t, &n, 1) == 0);
    CHECK(n == 7 && !strcmp(t, "{\"x\":1}"));
    free(t);
    CHECK(srv_rstore_get(s, "resp_a", 7, SRV_RSTORE_HISTORY, &t, &n, 1) == 0);
    CHECK(n == 17 && !strcmp(t, "[{\"role\":\"user\"}]"));
    free(t);
    /* another owner: missing, as an unknown id */
    CHECK(srv_rstore_get(s, "resp_a", 8, SRV_RSTORE_RESPONSE, &t, &n, 1) == -1 && !t && n == 0);
    CHECK(srv_rstore_delete(s, "resp_a", 8, 1) == -1);
    CHECK(srv_rstore_get(s, "resp_b", 7, SRV_RSTORE_RESPONSE, &t, &n, 1) == -1);
    /* replace keeps one entry */
    CHECK(srv_rstore_put(s, "resp_a", 7, "{}", 2, "", 0, 2) == 0);
    ok(s);
    srv_rstore_stats st;
    srv_rstore_stats_get(s, &st);
    CHECK(st.entries == 1);
    CHECK(srv_rstore_get(s, "resp_a", 7, SRV_RSTORE_RESPONSE, &t, &n, 3) == 0 && !strcmp(t, "{}"));
    free(t);
    CHECK(srv_rstore_delete(s, "resp_a", 7, 3) == 0);
    ok(s);
    CHECK(srv_rstore_delete(s, "resp_a", 7, 3) == -1);
    CHECK(!has(s, "resp_a", 7, 3));
    srv_rstore_stats_get(s, &st);
    CHECK(st.entries == 0 && st.bytes == 0);
    srv_rstore_destroy(s);
}

static void test_lru(void) {
    srv_rstore *s = srv_rstore_create(3, 1 << 20, 0);
    REQUIRE(s);
    put(s, "a", 0, 0);
    put(s, "b", 0, 1);
    put(s, "c", 0, 2);
    CHECK(has(s, "a", 0, 3)); /* a is now the most recent: b is the LRU */
    put(s, "d", 0, 4);
    CHECK(!has(s, "b", 0, 5));
    CHECK(has(s, "a", 0, 5) && has(s, "c", 0, 5) && has(s, "d", 0, 5));
    srv_rstore_stats st;
    srv_rstore_stats_get(s, &st);
    CHECK(st.entries == 3 && st.evicted_lru == 1);
    /* no TTL: an old entry stays */
    CHECK(has(s, "a", 0, 1e9));
    for (int i = 0; i < 100; i++) {
        char id[16];
        snprintf(id, sizeof id, "x%d", i);
        put(s, id, 0, 10 + i);
    }
    srv_rstore_stats_get(s, &st);
    CHECK(st.entries == 3);
    CHECK(has(s, "x99", 0, 200) && has(s, "x98", 0, 200) && has(s, "x97", 0, 200) && !has(s, "x96", 0, 200));
    ok(s);
    srv_rstore_destroy(s);
}

static void test_ttl(void) {
    srv_rstore *s = srv_rstore_create(100, 1 << 20, 10);
    REQUIRE(s);
    put(s, "a", 0, 0);
    put(s, "b", 0, 5);
    CHECK(has(s, "a", 0, 9.5)); /* a use refreshes recency, not the age */
    CHECK(!has(s, "a", 0, 10.0));
    CHECK(has(s, "b", 0, 10.0));
    srv_rstore_stats st;
    srv_rstore_stats_get(s, &st);
    CHECK(st.entries == 1 && st.expired == 1);
    /* expired entries go at the next call, looked up or not */
    put(s, "c", 0, 16);
    srv_rstore_stats_get(s, &st);
    CHECK(st.entries == 1 && st.expired == 2);
    CHECK(srv_rstore_delete(s, "b", 0, 16) == -1);
    /* a replaced entry gets a new age */
    put(s, "c", 0, 20);
    CHECK(has(s, "c", 0, 29));
    CHECK(!has(s, "c", 0, 30));
    ok(s);
    srv_rstore_destroy(s);
}

static void test_bytes(void) {
    size_t bound = 4096;
    srv_rstore *s = srv_rstore_create(1000, bound, 0);
    REQUIRE(s);
    char big[1500];
    memset(big, 'x', sizeof big);
    for (int i = 0; i < 20; i++) {
        char id[16];
        snprintf(id, sizeof id, "r%d", i);
        CHECK(srv_rstore_put(s, id, 0, big, sizeof big, big, 100, i) == 0);
        ok(s);
        srv_rstore_stats st;
        srv_rstore_stats_get(s, &st);
        CHECK(st.bytes <= bound && st.entries >= 1 && st.entries <= 2);
    }
    CHECK(has(s, "r19", 0, 30) && !has(s, "r0", 0, 30));
    /* an entry over the bound alone is refused; what was there stays */
    char *huge = calloc(1, 8192);
    REQUIRE(huge);
    CHECK(srv_rstore_put(s, "h", 0, huge, 8192, "", 0, 31) == -1);
    CHECK(!has(s, "h", 0, 31) && has(s, "r19", 0, 31));
    free(huge);
    ok(s);
    srv_rstore_destroy(s);
    /* store off */
    s = srv_rstore_create(0, bound, 0);
    REQUIRE(s);
    CHECK(srv_rstore_put(s, "a", 0, "{}", 2, "", 0, 0) == -1);
    CHECK(!has(s, "a", 0, 0));
    CHECK(!srv_rstore_enabled(s) && !srv_rstore_enabled(NULL));
    ok(s);
    srv_rstore_destroy(s);
    /* NULL store: every call misses */
    CHECK(srv_rstore_put(NULL, "a", 0, "{}", 2, "", 0, 0) == -1);
    CHECK(!has(NULL, "a", 0, 0));
}

static void *worker(void *arg) {
    long k = (long)arg;
    for (int i = 0; i < 2000; i++) {
        char id[32];
        snprintf(id, sizeof id, "t%ld-%d", k, i % 50);
        srv_rstore_put(g_s, id, (uint64_t)k, "{}", 2, "[]", 2, i * 0.01);
        char *t;
        size_t n;
        if (srv_rstore_get(g_s, id, (uint64_t)k, SRV_RSTORE_HISTORY, &t, &n, i * 0.01) == 0) free(t);
        if (i % 7 == 0) srv_rstore_delete(g_s, id, (uint64_t)k, i * 0.01);
    }
    return NULL;
}

static void test_threads(void) {
    g_s = srv_rstore_create(64, 64 * 1024, 5);
    REQUIRE(g_s);
    pthread_t th[4];
    for (long i = 0; i < 4; i++) REQUIRE(pthread_create(&th[i], NULL, worker, (void *)i) == 0);
    for (int i = 0; i < 4; i++) pthread_join(th[i], NULL);
    ok(g_s);
    srv_rstore_stats st;
    srv_rstore_stats_get(g_s, &st);
    CHECK(st.entries <= 64);
    srv_rstore_destroy(g_s);
}

int main(void) {
    test_basic();
    test_lru();
    test_ttl();
    test_bytes();
    test_threads();
    return t_done("test_resp_store");
}
