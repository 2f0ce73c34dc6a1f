/* test_usage.c - usage accounting (src/server/usage.c) and the OTLP
 * exporter's parts that need no collector (src/server/otlp.c): bounded key
 * labels, the per-minute ring and its query window, the cost figures, the
 * Prometheus text, request errors; endpoint URL checks, the bounded queue
 * (drops counted), failed exports counted. */
#include "server/otlp.h"
#include "server/usage.h"
#include "test.h"

#include <jansson.h>
#include <time.h>
#include <unistd.h>

static json_t *query(srv_usage_acct *a, int64_t now, const char *since, const char *until, const char *by, int *st) {
    char *out = NULL;
    *st = srv_usage_query(a, now, since, until, by, &out);
    json_t *j = out ? json_loads(out, 0, NULL) : NULL;
    free(out);
    return j;
}

static const json_t *row(const json_t *j, const char *field, const char *name) {
    size_t i;
    const json_t *r;
    json_array_foreach(json_object_get(j, "data"), i, r) {
        const char *s = json_string_value(json_object_get(r, field));
        if (s && !strcmp(s, name)) return r;
    }
    return NULL;
}

static long long geti(const json_t *o, const char *k) { return (long long)json_integer_value(json_object_get(o, k)); }
static double getd(const json_t *o, const char *k) { return json_number_value(json_object_get(o, k)); }

static char *metrics(srv_usage_acct *a) {
    char *b = malloc(1);
    size_t n = 0;
    b[0] = 0;
    REQUIRE(srv_usage_metrics(a, &b, &n) == 0);
    CHECK(strlen(b) == n);
    return b;
}

static void test_keys_bounded(void) {
    srv_usage_acct *a = srv_usage_create(0);
    REQUIRE(a);
    const int64_t now = 1700000000;
    char name[32];
    for (int i = 0; i < SRV_USAGE_MAX_KEYS + 6; i++) {
        snprintf(name, sizeof name, "k%02d", i);
        srv_usage_record(a, now, name, "m", 10, 2, 5, 0.5);
    }
    srv_usage_record(a, now, NULL, "m", 1, 0, 1, 0); /* anonymous: no room left either */
    srv_usage_record(a, now, "k00", "m", 10, 2, 5, 0.5);
    char *t = metrics(a);
    int series = 0;
    for (const char *p = t; (p = strstr(p, "pagoda:usage_requests_total{")); p++) series++;
    CHECKF(series == SRV_USAGE_MAX_KEYS + 1, "%d request series", series);
    CHECK(strstr(t, "pagoda:usage_requests_total{model_name=\"m\",key=\"k00\"} 2\n"));
    CHECK(strstr(t, "pagoda:usage_requests_total{model_name=\"m\",key=\"_other\"} 7\n"));
    CHECK(strstr(t, "pagoda:usage_generated_tokens_total{model_name=\"m\",key=\"_other\"} 31\n"));
    CHECK(!strstr(t, "estimated_cost")); /* no --cost-per-hour */
    free(t);
    int st;
    json_t *j = query(a, now + 30, NULL, NULL, "key", &st);
    REQUIRE(j);
    CHECK(st == 200);
    CHECK(json_array_size(json_object_get(j, "data")) == SRV_USAGE_MAX_KEYS + 1);
    CHECK(geti(row(j, "key", "_other"), "requests") == 7);
    CHECK(geti(row(j, "key", "k00"), "prompt_tokens") == 20);
    CHECK(geti(json_object_get(j, "total"), "requests") == SRV_USAGE_MAX_KEYS + 8);
    CHECK(json_is_null(json_object_get(j, "cost_per_hour")));
    CHECK(!json_object_get(json_object_get(j, "total"), "estimated_cost"));
    json_decref(j);
    srv_usage_destroy(a);
}

static void test_ring_window(void) {
    srv_usage_acct *a = srv_usage_create(3.6);
    REQUIRE(a);
    const int64_t m0 = 28333333; /* a minute */
    srv_usage_record(a, m0 * 60 + 5, "alice", "m1", 100, 40, 10, 2.0);
    srv_usage_record(a, m0 * 60 + 59, "bob", "m1", 50, 0, 5, 1.0);
    srv_usage_record(a, (m0 + 5) * 60, "alice", "m2", 7, 0, 3, 3.0);
    int st;
    char s[32], u[32];
    /* everything */
    json_t *j = query(a, (m0 + 6) * 60, NULL, NULL, NULL, &st);
    CHECK(st == 200 && j);
    const json_t *r = row(j, "key", "alice");
    CHECK(geti(r, "requests") == 2 && geti(r, "prompt_tokens") == 107 && geti(r, "cached_tokens") == 40 &&
          geti(r, "generated_tokens") == 13 && geti(r, "total_tokens") == 120);
    CHECK(fabs(getd(r, "compute_seconds") - 5.0) < 1e-12);
    CHECK(fabs(getd(r, "estimated_cost") - 5.0 * 3.6 / 3600) < 1e-15);
    CHECK(fabs(getd(r, "cost_per_1k_tokens") - 5.0 * 3.6 / 3600 * 1000 / 120) < 1e-15);
    CHECK(!strcmp(json_string_value(json_object_get(j, "group_by")), "key"));
    json_decref(j);
    /* by model */
    j = query(a, (m0 + 6) * 60, NULL, NULL, "model", &st);
    CHECK(st == 200 && geti(row(j, "model", "m1"), "requests") == 2 && geti(row(j, "model", "m2"), "generated_tokens") == 3);
    json_decref(j);
    /* only the later minute: [m0+1, m0+6) */
    snprintf(s, sizeof s, "%lld", (long long)((m0 + 1) * 60));
    snprintf(u, sizeof u, "%lld", (long long)((m0 + 6) * 60));
    j = query(a, (m0 + 6) * 60, s, u, "key", &st);
    CHECK(st == 200 && json_array_size(json_object_get(j, "data")) == 1 && geti(row(j, "key", "alice"), "requests") == 1);
    CHECK(geti(j, "since") == (m0 + 1) * 60 && geti(j, "until") == (m0 + 6) * 60);
    json_decref(j);
    /* a window inside the first minute still counts that minute (overlap) */
    snprintf(s, sizeof s, "%lld", (long long)(m0 * 60 + 30));
    snprintf(u, sizeof u, "%lld", (long long)(m0 * 60 + 31));
    j = query(a, (m0 + 6) * 60, s, u, "key", &st);
    CHECK(st == 200 && geti(json_object_get(j, "total"), "requests") == 2);
    json_decref(j);
    /* the ring wraps: a record 1440 minutes later replaces that minute's bucket */
    srv_usage_record(a, (m0 + SRV_USAGE_MINUTES) * 60 + 1, "carol", "m1", 1, 0, 1, 0.25);
    snprintf(s, sizeof s, "%lld", (long long)(m0 * 60));
    snprintf(u, sizeof u, "%lld", (long long)((m0 + 1) * 60));
    j = query(a, (m0 + SRV_USAGE_MINUTES) * 60 + 2, s, u, "key", &st);
    CHECK(st == 200 && json_array_size(json_object_get(j, "data")) == 0);
    json_decref(j);
    /* a clock that went back beyond the ring: the totals count it, no bucket */
    srv_usage_record(a, m0 * 60, "dave", "m1", 1, 0, 1, 0);
    j = query(a, (m0 + SRV_USAGE_MINUTES) * 60 + 2, s, u, "key", &st);
    CHECK(st == 200 && json_array_size(json_object_get(j, "data")) == 0);
    json_decref(j);
    char *t = metrics(a);
    CHECK(strstr(t, "pagoda:usage_requests_total{model_name=\"m1\",key=\"dave\"} 1\n"));
    CHECK(strstr(t, "pagoda:usage_prompt_tokens_total{model_name=\"m1\",key=\"alice\"} 100\n"));
    CHECK(strstr(t, "pagoda:usage_cached_tokens_total{model_name=\"m1\",key=\"alice\"} 40\n"));
    CHECK(strstr(t, "pagoda:usage_compute_seconds_total{model_name=\"m2\",key=\"alice\"} 3\n"));
    CHECK(strstr(t, "pagoda:usage_estimated_cost_total{model_name=\"m2\",key=\"alice\"} 0.003\n"));
    CHECK(strstr(t, "# TYPE pagoda:usage_cost_per_1k_tokens gauge\n"));
    free(t);
    srv_usage_destroy(a);
}

static void test_errors_and_labels(void) {
    srv_usage_acct *a = srv_usage_create(0);
    REQUIRE(a);
    int st;
    const char *bad[][3] = {{"abc", NULL, NULL}, {"-1", NULL, NULL},  {NULL, "1e9", NULL},
                            {"100", "100", NULL}, {"200", "100", NULL}, {NULL, NULL, "user"},
                            {"", NULL, NULL},    {"1234567890123456", NULL, NULL}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_t *j = query(a, 1700000000, bad[i][0], bad[i][1], bad[i][2], &st);
        CHECKF(st == 400, "case %zu: %d", i, st);
        const json_t *e = json_object_get(j, "error");
        CHECK(e && json_string_value(json_object_get(e, "message")) && json_string_value(json_object_get(e, "param")));
        json_decref(j);
    }
    srv_usage_record(a, 1700000000, "we\"ird\\", "m\n", 1, 0, 1, 0);
    char *t = metrics(a);
    CHECK(strstr(t, "{model_name=\"m\\n\",key=\"we\\\"ird\\\\\"} 1\n"));
    free(t);
    /* a name longer than a label slot: counted under _other */
    char longname[100];
    memset(longname, 'x', sizeof longname - 1);
    longname[sizeof longname - 1] = 0;
    srv_usage_record(a, 1700000000, longname, "m\n", 1, 0, 1, 0);
    t = metrics(a);
    CHECK(strstr(t, "key=\"_other\"} 1\n"));
    free(t);
    srv_usage_destroy(a);
}

static void test_otlp(void) {
    static const char *bad[] = {"https://collector:4318", "ftp://x", "http://", "http://:4318", "http://h:0",
                                "http://h:70000", "http://h:12x", "http://[::1", "http://h/a b", "collector:4318"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        srv_otlp *o = NULL;
        pg_error e = {0};
        CHECKF(srv_otlp_create(bad[i], "pagoda", "r", &o, &e) == PG_EINVAL && !o && e.msg[0], "%s", bad[i]);
    }
    pg_error e = {0};
    srv_otlp *o = NULL;
    REQUIRE(srv_otlp_create("http://[::1]:4318", "pagoda", "r", &o, &e) == 0);
    srv_otlp_destroy(o);
    /* nothing listens on port 1: the queue's bound and the failed exports */
    REQUIRE(srv_otlp_create("http://127.0.0.1:1", "pagoda", "r", &o, &e) == 0);
    srv_span *sp = calloc(SRV_OTLP_QUEUE + 1, sizeof *sp);
    REQUIRE(sp);
    for (int i = 0; i < 10; i++) {
        snprintf(sp[i].trace_id, sizeof sp[i].trace_id, "%032x", i + 1);
        snprintf(sp[i].span_id, sizeof sp[i].span_id, "%016x", i + 1);
        snprintf(sp[i].name, sizeof sp[i].name, "s%d", i);
        srv_span_str(&sp[i], "k", "v\"\n");
        srv_span_int(&sp[i], "n", -5);
        srv_span_double(&sp[i], "d", 0.5);
    }
    for (int i = 0; i < SRV_SPAN_MAX_ATTRS + 3; i++) srv_span_int(&sp[0], "many", i);
    CHECK(sp[0].n_attr == SRV_SPAN_MAX_ATTRS);
    uint64_t ex, full, failed;
    srv_otlp_push(o, sp, SRV_OTLP_QUEUE + 1); /* never fits: all dropped */
    srv_otlp_counts(o, &ex, &full, &failed);
    CHECK(full == SRV_OTLP_QUEUE + 1);
    srv_otlp_push(o, sp, 10);
    for (int i = 0; i < 200; i++) { /* the linger time (1 s), then a refused connection */
        srv_otlp_counts(o, &ex, &full, &failed);
        if (failed >= 10) break;
        usleep(50000);
    }
    CHECKF(failed == 10 && ex == 0, "failed %llu exported %llu", (unsigned long long)failed, (unsigned long long)ex);
    char *b = malloc(1);
    size_t n = 0;
    b[0] = 0;
    CHECK(srv_otlp_metrics(o, "m", &b, &n) == 0);
    CHECK(strstr(b, "pagoda:otlp_spans_dropped_total{model_name=\"m\",reason=\"queue_full\"} 4097\n"));
    CHECK(strstr(b, "pagoda:otlp_spans_dropped_total{model_name=\"m\",reason=\"export_failed\"} 10\n"));
    free(b);
    srv_otlp_push(o, sp, 3);
    srv_otlp_destroy(o); /* flushes (fails at once), joins */
    free(sp);
}

int main(void) {
    test_keys_bounded();
    test_ring_window();
    test_errors_and_labels();
    test_otlp();
    return t_done("test_usage");
}
