/* log.c - see log.h. Level and format are process-wide atomics; each line is
 * formatted into a stack buffer and written with one call under a mutex so
 * lines from different threads never interleave. The text form of JSON
 * members comes from a small scanner here (src/base uses libc only): it
 * walks "key":value pairs, copying each value's JSON text, so nothing is
 * decoded and nothing allocated. */
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

/* Output cursor into a fixed buffer; stops writing when full. */
typedef struct {
    char *p;
    size_t n, o;
} outbuf;

static void put(outbuf *b, const char *s, size_t k) {
    for (size_t i = 0; i < k && b->o + 1 < b->n; i++) b->p[b->o++] = s[i];
    b->p[b->o < b->n ? b->o : b->n - 1] = 0;
}

static const char *skip_ws(const char *s) {
    while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r') s++;
    return s;
}

/* End of the JSON string starting at s ('"'), just past its closing quote; NULL if unterminated. */
static const char *string_end(const char *s) {
    for (s++; *s; s++) {
        if (*s == '\\') {
            if (!*++s) return NULL;
        } else if (*s == '"') {
            return s + 1;
        }
    }
    return NULL;
}

/* End of the JSON value at s; NULL if it does not scan. */
static const char *value_end(const char *s) {
    if (*s == '"') return string_end(s);
    if (*s == '{' || *s == '[') {
        int depth = 0;
        while (*s) {
            if (*s == '"') {
                s = string_end(s);
                if (!s) return NULL;
                continue;
            }
            if (*s == '{' || *s == '[') depth++;
            else if ((*s == '}' || *s == ']') && --depth == 0) return s + 1;
            s++;
        }
        return NULL;
    }
    const char *b = s;
    while (*s && *s != ',' && *s != '}' && *s != ']' && *s != ' ') s++;
    return s > b ? s : NULL;
}

int pg_log_fields_text(const char *fields, char *out, size_t n) {
    outbuf b = {out, n, 0};
    if (n) out[0] = 0;
    const char *s = skip_ws(fields);
    int first = 1;
    while (*s) {
        if (*s != '"') return -1;
        const char *ke = string_end(s);
        if (!ke) return -1;
        const char *c = skip_ws(ke);
        if (*c != ':') return -1;
        const char *v = skip_ws(c + 1);
        const char *ve = value_end(v);
        if (!ve) return -1;
        if (!first) put(&b, " ", 1);
        first = 0;
        put(&b, s + 1, (size_t)(ke - s - 2)); /* key without quotes (keys are plain names) */
        put(&b, "=", 1);
        if (*v == '"') {
            int bare = ve - v > 2;
            for (const char *q = v + 1; q < ve - 1; q++)
                if (*q == ' ' || *q == '=' || *q == '\\' || *q == '"' || (unsigned char)*q < 0x20) bare = 0;
            if (bare) put(&b, v + 1, (size_t)(ve - v - 2));
            else put(&b, v, (size_t)(ve - v));
        } else {
            put(&b, v, (size_t)(ve - v));
        }
        s = skip_ws(ve);
        if (*s == ',') s = skip_ws(s + 1);
        else if (*s) return -1;
    }
    return 0;
}

static void emit_line(const char *line) {
    pthread_mutex_lock(&g_mu);
    fputs(line, stderr);
    fflush(stderr);
    pthread_mutex_unlock(&g_mu);
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
    } else if (is_fields) {
        char kv[6144];
        if (pg_log_fields_text(text, kv, sizeof kv) < 0) {
            char esc[6000];
            json_escape(esc, sizeof esc, text);
            snprintf(kv, sizeof kv, "fields=\"%s\"", esc);
        }
        snprintf(line, sizeof line, "%s %-5s %s\n", ts, level_name(level), kv);
    } else {
        snprintf(line, sizeof line, "%s %-5s %s\n", ts, level_name(level), text);
    }
    emit_line(line);
}

void pg_log_vmsg(int level, const char *component, const char *fmt, va_list ap) {
    if (level < pg_log_get_level()) return;
    char msg[4096];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t l = strlen(msg);
    while (l && (msg[l - 1] == '\n' || msg[l - 1] == '\r')) msg[--l] = 0;
    char esc[6144], comp[128], f[6400];
    json_escape(esc, sizeof esc, msg);
    json_escape(comp, sizeof comp, component ? component : "");
    snprintf(f, sizeof f, "\"component\":\"%s\",\"msg\":\"%s\"", comp, esc);
    emit(level, f, 1);
}

static void log_msgf(int level, const char *component, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void log_msgf(int level, const char *component, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    pg_log_vmsg(level, component, fmt, ap);
    va_end(ap);
}

void pg_log_msg(int level, const char *component, const char *text) { log_msgf(level, component, "%s", text); }

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
