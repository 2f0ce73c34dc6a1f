/* test_log.c - base/log: levels, the text and JSON line formats, escaping,
 * pg_log_json_fields, long messages, and whole lines under concurrent
 * writers. stderr is redirected to a temporary file for each case and the
 * lines are read back (JSON lines are parsed with jansson). */
#include "test.h"

#include "base/log.h"

#include <jansson.h>
#include <pthread.h>
#include <unistd.h>

static int saved_fd = -1;
static FILE *cap;

static void capture_begin(void) {
    fflush(stderr);
    cap = tmpfile();
    REQUIRE(cap != NULL);
    saved_fd = dup(2);
    REQUIRE(saved_fd >= 0);
    REQUIRE(dup2(fileno(cap), 2) >= 0);
}

/* Restores stderr; returns what was written (malloc'd, NUL-terminated). */
static char *capture_end(void) {
    fflush(stderr);
    REQUIRE(dup2(saved_fd, 2) >= 0);
    close(saved_fd);
    long n = ftell(cap);
    REQUIRE(n >= 0);
    char *b = malloc((size_t)n + 1);
    REQUIRE(b != NULL);
    rewind(cap);
    REQUIRE(fread(b, 1, (size_t)n, cap) == (size_t)n);
    b[n] = 0;
    fclose(cap);
    return b;
}

static int count_lines(const char *s) {
    int n = 0;
    for (; *s; s++) n += *s == '\n';
    return n;
}

/* Parses one JSON line; checks ts and level; returns the object. */
static json_t *json_line(const char *line, size_t len, const char *level) {
    json_error_t je;
    json_t *o = json_loadb(line, len, 0, &je);
    CHECKF(o != NULL, "not JSON: %.*s (%s)", (int)len, line, je.text);
    if (!o) return NULL;
    const char *ts = json_string_value(json_object_get(o, "ts"));
    CHECKF(ts && strlen(ts) == 24 && ts[10] == 'T' && ts[23] == 'Z', "ts %s", ts ? ts : "(none)");
    const char *lv = json_string_value(json_object_get(o, "level"));
    CHECKF(lv && !strcmp(lv, level), "level %s, want %s", lv ? lv : "(none)", level);
    return o;
}

static void test_levels(void) {
    CHECK(pg_log_level_parse("debug") == PG_LOG_DEBUG);
    CHECK(pg_log_level_parse("info") == PG_LOG_INFO);
    CHECK(pg_log_level_parse("warn") == PG_LOG_WARN);
    CHECK(pg_log_level_parse("error") == PG_LOG_ERROR);
    CHECK(pg_log_level_parse("off") == PG_LOG_OFF);
    CHECK(pg_log_level_parse("INFO") == -1);
    CHECK(pg_log_level_parse("") == -1);
    CHECK(pg_log_level_parse("warning") == -1);

    pg_log_set_format(PG_LOG_TEXT);
    CHECK(pg_log_get_format() == PG_LOG_TEXT);
    pg_log_set_level(PG_LOG_WARN);
    CHECK(pg_log_get_level() == PG_LOG_WARN);
    capture_begin();
    PG_DEBUG("hidden debug %d", 1);
    PG_INFO("hidden info %d", 2);
    PG_WARN("shown warn %d", 3);
    PG_ERROR("shown error %s", "x");
    pg_log_json_fields(PG_LOG_INFO, "\"hidden\":1");
    char *out = capture_end();
    CHECKF(count_lines(out) == 2, "%d lines at level warn:\n%s", count_lines(out), out);
    CHECK(!strstr(out, "hidden"));
    /* text line: "<ts> <level padded to 5> <message>" */
    const char *w = strstr(out, " warn  shown warn 3\n"), *e = strstr(out, " error shown error x\n");
    CHECKF(w && e && w < e, "text lines:\n%s", out);
    CHECK(out[4] == '-' && out[10] == 'T' && out[23] == 'Z' && out[24] == ' ');
    free(out);

    pg_log_set_level(PG_LOG_OFF);
    capture_begin();
    PG_ERROR("nothing at off");
    out = capture_end();
    CHECK(out[0] == 0);
    free(out);
    pg_log_set_level(PG_LOG_DEBUG);
    capture_begin();
    PG_DEBUG("debug shown");
    out = capture_end();
    CHECK(strstr(out, " debug debug shown\n") != NULL);
    free(out);
}

static void test_json(void) {
    pg_log_set_level(PG_LOG_INFO);
    pg_log_set_format(PG_LOG_JSON);
    CHECK(pg_log_get_format() == PG_LOG_JSON);
    capture_begin();
    PG_INFO("quote \" backslash \\ newline \n tab \t bell \a end");
    pg_log_json_fields(PG_LOG_WARN, "\"event\":\"x\",\"n\":42");
    char *out = capture_end();
    CHECKF(count_lines(out) == 2, "%d lines:\n%s", count_lines(out), out);
    char *nl = strchr(out, '\n');
    json_t *o = json_line(out, nl ? (size_t)(nl - out) : strlen(out), "info");
    if (o) {
        const char *msg = json_string_value(json_object_get(o, "msg"));
        CHECKF(msg && !strcmp(msg, "quote \" backslash \\ newline \n tab \t bell \a end"), "msg %s", msg);
        json_decref(o);
    }
    if (nl) {
        o = json_line(nl + 1, strlen(nl + 1) - 1, "warn");
        if (o) {
            CHECK(json_integer_value(json_object_get(o, "n")) == 42);
            CHECK(!strcmp(json_string_value(json_object_get(o, "event")), "x"));
            CHECK(json_object_get(o, "msg") == NULL);
            json_decref(o);
        }
    }
    free(out);

    /* fields in text mode: key=value pairs (test_log_text covers the forms) */
    pg_log_set_format(PG_LOG_TEXT);
    capture_begin();
    pg_log_json_fields(PG_LOG_ERROR, "\"a\":1");
    out = capture_end();
    CHECK(strstr(out, " a=1\n") != NULL);
    free(out);
}

/* A message longer than the line buffers, full of characters that expand
 * when escaped: truncated, but still one valid JSON line. */
static void test_long(void) {
    pg_log_set_format(PG_LOG_JSON);
    size_t n = 10000;
    char *m = malloc(n + 1);
    REQUIRE(m != NULL);
    for (size_t i = 0; i < n; i++) m[i] = i % 3 == 0 ? '"' : i % 3 == 1 ? '\x01' : 'a';
    m[n] = 0;
    capture_begin();
    PG_INFO("%s", m);
    char *out = capture_end();
    CHECK(count_lines(out) == 1);
    json_t *o = json_line(out, strlen(out) - 1, "info");
    if (o) {
        const char *msg = json_string_value(json_object_get(o, "msg"));
        CHECK(msg && strlen(msg) > 1000 && strlen(msg) < n && !strncmp(msg, m, strlen(msg)));
        json_decref(o);
    }
    free(out);
    free(m);
    pg_log_set_format(PG_LOG_TEXT);
}

enum { THREADS = 4, PER_THREAD = 300 };

static void *writer(void *arg) {
    int id = (int)(intptr_t)arg;
    for (int i = 0; i < PER_THREAD; i++) PG_INFO("thread %d line %d %s", id, i, "padding-padding-padding-padding");
    return NULL;
}

static void test_threads(void) {
    pg_log_set_format(PG_LOG_JSON);
    pg_log_set_level(PG_LOG_INFO);
    capture_begin();
    pthread_t th[THREADS];
    for (int t = 0; t < THREADS; t++) REQUIRE(pthread_create(&th[t], NULL, writer, (void *)(intptr_t)t) == 0);
    for (int t = 0; t < THREADS; t++) pthread_join(th[t], NULL);
    char *out = capture_end();
    int seen[THREADS][PER_THREAD] = {{0}}, lines = 0, bad = 0;
    for (char *p = out, *nl; (nl = strchr(p, '\n')); p = nl + 1) {
        lines++;
        json_t *o = json_loadb(p, (size_t)(nl - p), 0, NULL);
        int t, i;
        const char *msg = o ? json_string_value(json_object_get(o, "msg")) : NULL;
        if (msg && sscanf(msg, "thread %d line %d", &t, &i) == 2 && t >= 0 && t < THREADS && i >= 0 && i < PER_THREAD)
            seen[t][i]++;
        else
            bad++;
        json_decref(o);
    }
    CHECKF(lines == THREADS * PER_THREAD && bad == 0, "%d lines, %d malformed", lines, bad);
    int missing = 0;
    for (int t = 0; t < THREADS; t++)
        for (int i = 0; i < PER_THREAD; i++) missing += seen[t][i] != 1;
    CHECK(missing == 0);
    free(out);
    pg_log_set_format(PG_LOG_TEXT);
}

int main(void) {
    test_levels();
    test_json();
    test_long();
    test_threads();
    return t_done("test_log");
}
