/* log.c - see log.h. Level and format are process-wide atomics; each line is
 * formatted into a stack buffer and written with one call under a mutex so
 * lines from different threads never interleave. */
#include "base/log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static int g_level = PG_LOG_INFO;
static int g_format = PG_LOG_TEXT;
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;

void pg_log_set_level(int level) { __atomic_store_n(&g_level, level, __ATOMIC_RELAXED); }
int pg_log_get_level(void) { return __atomic_load_n(&g_level, __ATOMIC_RELAXED); }
void pg_log_set_format(int f) { __atomic_store_n(&g_format, f, __ATOMIC_RELAXED); }
int pg_log_get_format(void) { return __atomic_load_n(&g_format, __ATOMIC_RELAXED); }

int pg_log_level_parse(const char *s) {
    static const char *names[] = {"debug", "info", "warn", "error", "off"};
    for (int i = 0; i < 5; i++)
        if (strcmp(s, names[i]) == 0) return i;
    return -1;
}

static const char *level_name(int l) {
    switch (l) {
    case PG_LOG_DEBUG: return "debug";
    case PG_LOG_INFO: return "info";
    case PG_LOG_WARN: return "warn";
    default: return "error";
    }
}

static void timestamp(char *buf, size_t n) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    size_t k = strftime(buf, n, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + k, n - k, ".%03ldZ", ts.tv_nsec / 1000000);
}

/* JSON-escape src into dst (always NUL-terminated). */
static void json_escape(char *dst, size_t n, const char *src) {
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *)src; *p && o + 7 < n; p++) {
        unsigned char c = *p;
        if (c == '"' || c == '\\') {
            dst[o++] = '\\';
            dst[o++] = (char)c;
        } else if (c < 0x20) {
            o += (size_t)snprintf(dst + o, n - o, "\\u%04x", c);
        } else {
            dst[o++] = (char)c;
        }
    }
    dst[o] = 0;
}

static void emit(int level, const char *text, int is_fields) {
    char ts[40];
    timestamp(ts, sizeof ts);
    char line[8192];
    if (pg_log_get_format() == PG_LOG_JSON) {
        if (is_fields) {
            snprintf(line, sizeof line, "{\"ts\":\"%s\",\"level\":\"%s\",%s}\n", ts, level_name(level), text);
        } else {
            char esc[6144];
            json_escape(esc, sizeof esc, text);
            snprintf(line, sizeof line, "{\"ts\":\"%s\",\"level\":\"%s\",\"msg\":\"%s\"}\n", ts, level_name(level), esc);
        }
    } else {
        snprintf(line, sizeof line, "%s %-5s %s\n", ts, level_name(level), text);
    }
    pthread_mutex_lock(&g_mu);
    fputs(line, stderr);
    fflush(stderr);
    pthread_mutex_unlock(&g_mu);
}

void pg_log(int level, const char *fmt, ...) {
    if (level < pg_log_get_level()) return;
    char msg[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    emit(level, msg, 0);
}

void pg_log_json_fields(int level, const char *fields) {
    if (level < pg_log_get_level()) return;
    emit(level, fields, 1);
}
