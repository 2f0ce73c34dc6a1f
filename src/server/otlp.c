/* otlp.c - OTLP/HTTP JSON span exporter (see otlp.h for the contract).
 *
 * Queue: a ring of SRV_OTLP_QUEUE spans allocated at create; head/count
 * under mu. Producers (HTTP threads) copy spans in and signal cv; the one
 * exporter thread waits until a batch is full, a second passed since the
 * oldest queued span, or shutdown; it copies up to SRV_OTLP_BATCH spans out
 * (into its own array, allocated at create), unlocks, writes the JSON body
 * and POSTs it with a blocking-with-timeouts socket client (HTTP/1.1,
 * Connection: close, one request per connection). Only the status line of
 * the answer is read. Counters are atomics read by /metrics. */
#include "server/otlp.h"

#include "base/log.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define CONNECT_MS 2000
#define EXCHANGE_MS 5000
#define LINGER_S 1.0  /* a queued span waits at most this long for its batch */
#define FLUSH_S 2.0   /* destroy: time allowed to send what is queued */

struct srv_otlp {
    char host[256], port[8], path[512], hostport[300];
    char service[128], instance[128];
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t th;
    int started, stop;
    srv_span *q;       /* [SRV_OTLP_QUEUE] ring */
    int head, count;   /* under mu */
    double t_oldest;   /* monotonic time the oldest queued span arrived */
    srv_span *batch;   /* [SRV_OTLP_BATCH], exporter thread only */
    atomic_uint_fast64_t exported, dropped_full, dropped_failed, batches_failed;
};

static double mono(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ---------- attributes ---------- */

static srv_span_attr *attr_new(srv_span *s, const char *key) {
    if (s->n_attr >= SRV_SPAN_MAX_ATTRS) return NULL;
    srv_span_attr *a = &s->attr[s->n_attr++];
    memset(a, 0, sizeof *a);
    a->key = key;
    return a;
}

void srv_span_str(srv_span *s, const char *key, const char *v) {
    srv_span_attr *a = attr_new(s, key);
    if (!a) return;
    size_t n = strlen(v ? v : "");
    if (n >= sizeof a->s) {
        n = sizeof a->s - 1;
        while (n > 0 && ((unsigned char)v[n] & 0xC0) == 0x80) n--; /* cut at a character boundary */
    }
    memcpy(a->s, v ? v : "", n);
    a->s[n] = 0;
    a->is_str = 1;
}

void srv_span_int(srv_span *s, const char *key, int64_t v) {
    srv_span_attr *a = attr_new(s, key);
    if (a) a->i = v;
}

void srv_span_double(srv_span *s, const char *key, double v) {
    srv_span_attr *a = attr_new(s, key);
    if (!a) return;
    a->d = v;
    a->is_double = 1;
}

/* ---------- URL ---------- */

static int parse_url(srv_otlp *o, const char *url, pg_error *err) {
    if (!strncmp(url, "https://", 8))
        return pg_error_set(err, PG_EINVAL,
                            "--otlp-endpoint '%s': only http:// is supported (no TLS); send to a local "
                            "OpenTelemetry collector that forwards over TLS",
                            url);
    if (strncmp(url, "http://", 7))
        return pg_error_set(err, PG_EINVAL, "--otlp-endpoint '%s': want http://HOST[:PORT][/PATH]", url);
    const char *h = url + 7, *slash = strchr(h, '/');
    size_t hl = slash ? (size_t)(slash - h) : strlen(h);
    const char *path = slash ? slash : "/v1/traces";
    if (!strcmp(path, "/")) path = "/v1/traces";
    if (hl == 0 || hl >= sizeof o->hostport || strlen(path) >= sizeof o->path)
        return pg_error_set(err, PG_EINVAL, "--otlp-endpoint '%s': want http://HOST[:PORT][/PATH]", url);
    memcpy(o->hostport, h, hl);
    o->hostport[hl] = 0;
    for (const char *p = path; *p; p++)
        if ((unsigned char)*p <= 0x20 || *p == 0x7f)
            return pg_error_set(err, PG_EINVAL, "--otlp-endpoint '%s': the path has spaces or control bytes", url);
    snprintf(o->path, sizeof o->path, "%s", path);
    const char *hs = o->hostport, *he, *colon;
    if (*hs == '[') { /* [v6]:port */
        he = strchr(hs, ']');
        if (!he) return pg_error_set(err, PG_EINVAL, "--otlp-endpoint '%s': unclosed '['", url);
        colon = he[1] == ':' ? he + 1 : NULL;
        if (he[1] && !colon) return pg_error_set(err, PG_EINVAL, "--otlp-endpoint '%s': bad host", url);
        hs++;
    } else {
        colon = strrchr(hs, ':');
        he = colon ? colon : hs + strlen(hs);
    }
    if ((size_t)(he - hs) == 0 || (size_t)(he - hs) >= sizeof o->host)
        return pg_error_set(err, PG_EINVAL, "--otlp-endpoint '%s': bad host", url);
    memcpy(o->host, hs, (size_t)(he - hs));
    o->host[he - hs] = 0;
    const char *port = colon ? colon + 1 : "80";
    char *end;
    long pn = strtol(port, &end, 10);
    if (!*port || *end || pn < 1 || pn > 65535)
        return pg_error_set(err, PG_EINVAL, "--otlp-endpoint '%s': bad port", url);
    snprintf(o->port, sizeof o->port, "%ld", pn);
    return 0;
}

/* ---------- the body ---------- */

static void jstr(FILE *f, const char *s) {
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') fprintf(f, "\\%c", *p);
        else if (*p < 0x20 || *p == 0x7f) fprintf(f, "\\u%04x", *p);
        else fputc(*p, f);
    }
    fputc('"', f);
}

static void kv_str(FILE *f, const char *k, const char *v) {
    fputs("{\"key\":", f);
    jstr(f, k);
    fputs(",\"value\":{\"stringValue\":", f);
    jstr(f, v);
    fputs("}}", f);
}

static void span_json(FILE *f, const srv_span *s) {
    fputs("{\"traceId\":", f);
    jstr(f, s->trace_id);
    fputs(",\"spanId\":", f);
    jstr(f, s->span_id);
    if (s->parent_id[0]) {
        fputs(",\"parentSpanId\":", f);
        jstr(f, s->parent_id);
    }
    fputs(",\"name\":", f);
    jstr(f, s->name);
    fprintf(f, ",\"kind\":%d,\"startTimeUnixNano\":\"%llu\",\"endTimeUnixNano\":\"%llu\",\"attributes\":[", s->kind,
            (unsigned long long)s->start_ns, (unsigned long long)s->end_ns);
    for (int i = 0; i < s->n_attr; i++) {
        const srv_span_attr *a = &s->attr[i];
        if (i) fputc(',', f);
        if (a->is_str) kv_str(f, a->key, a->s);
        else {
            fputs("{\"key\":", f);
            jstr(f, a->key);
            if (a->is_double) fprintf(f, ",\"value\":{\"doubleValue\":%.9g}}", a->d);
            else fprintf(f, ",\"value\":{\"intValue\":\"%lld\"}}", (long long)a->i);
        }
    }
    fprintf(f, "],\"status\":{\"code\":%d}}", s->error ? 2 : 1);
}

void srv_otlp_set_instance(srv_otlp *o, const char *instance) {
    pthread_mutex_lock(&o->mu);
    snprintf(o->instance, sizeof o->instance, "%s", instance ? instance : "");
    pthread_mutex_unlock(&o->mu);
}

static char *batch_json(srv_otlp *o, const srv_span *b, int n, size_t *len) {
    char inst[128];
    pthread_mutex_lock(&o->mu);
    memcpy(inst, o->instance, sizeof inst);
    pthread_mutex_unlock(&o->mu);
    char *s = NULL;
    size_t sl = 0;
    FILE *f = open_memstream(&s, &sl);
    if (!f) return NULL;
    fputs("{\"resourceSpans\":[{\"resource\":{\"attributes\":[", f);
    kv_str(f, "service.name", o->service);
    fputc(',', f);
    kv_str(f, "service.instance.id", inst);
    fputs("]},\"scopeSpans\":[{\"scope\":{\"name\":\"pagoda\"},\"spans\":[", f);
    for (int i = 0; i < n; i++) {
        if (i) fputc(',', f);
        span_json(f, &b[i]);
    }
    fputs("]}]}]}", f);
    if (fclose(f) != 0) {
        free(s);
        return NULL;
    }
    *len = sl;
    return s;
}

/* ---------- the client ---------- */

static int wait_fd(int fd, short ev, double deadline) {
    for (;;) {
        int ms = (int)((deadline - mono()) * 1000);
        if (ms <= 0) return -1;
        struct pollfd p = {fd, ev, 0};
        int k = poll(&p, 1, ms);
        if (k > 0) return 0;
        if (k < 0 && errno != EINTR) return -1;
    }
}

/* POSTs body; returns the HTTP status or -1 with why filled. */
static int post(srv_otlp *o, const char *body, size_t len, char *why, size_t wcap) {
    struct addrinfo hints, *ai = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    int g = getaddrinfo(o->host, o->port, &hints, &ai);
    if (g || !ai) {
        snprintf(why, wcap, "cannot resolve %s: %s", o->host, gai_strerror(g));
        return -1;
    }
    double t0 = mono();
    int fd = -1, st = -1;
    for (struct addrinfo *p = ai; p && fd < 0; p = p->ai_next) {
        fd = socket(p->ai_family, p->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, p->ai_protocol);
        if (fd < 0) continue;
        if (connect(fd, p->ai_addr, p->ai_addrlen) < 0) {
            int e = errno, soe = 0;
            socklen_t sl = sizeof soe;
            if (e != EINPROGRESS || wait_fd(fd, POLLOUT, t0 + CONNECT_MS / 1000.0) < 0 ||
                getsockopt(fd, SOL_SOCKET, SO_ERROR, &soe, &sl) < 0 || soe) {
                snprintf(why, wcap, "cannot connect to %s: %s", o->hostport,
                         e != EINPROGRESS ? strerror(e) : soe ? strerror(soe) : "timed out");
                close(fd);
                fd = -1;
            }
        }
    }
    freeaddrinfo(ai);
    if (fd < 0) return -1;
    char head[1024];
    int hn = snprintf(head, sizeof head,
                      "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
                      "User-Agent: pagoda\r\nConnection: close\r\n\r\n",
                      o->path, o->hostport, len);
    double dl = t0 + EXCHANGE_MS / 1000.0;
    const char *parts[2] = {head, body};
    size_t plen[2] = {(size_t)hn, len};
    for (int k = 0; k < 2; k++) {
        size_t off = 0;
        while (off < plen[k]) {
            ssize_t w = send(fd, parts[k] + off, plen[k] - off, MSG_NOSIGNAL);
            if (w > 0) {
                off += (size_t)w;
                continue;
            }
            if (w < 0 && (errno == EAGAIN || errno == EINTR) && wait_fd(fd, POLLOUT, dl) == 0) continue;
            snprintf(why, wcap, "sending to %s failed: %s", o->hostport, w < 0 ? strerror(errno) : "closed");
            close(fd);
            return -1;
        }
    }
    char resp[256];
    size_t rn = 0;
    while (rn < sizeof resp - 1 && !memchr(resp, '\n', rn)) {
        ssize_t k = recv(fd, resp + rn, sizeof resp - 1 - rn, 0);
        if (k > 0) {
            rn += (size_t)k;
            continue;
        }
        if (k < 0 && (errno == EAGAIN || errno == EINTR) && wait_fd(fd, POLLIN, dl) == 0) continue;
        break;
    }
    resp[rn] = 0;
    close(fd);
    int maj, min;
    if (sscanf(resp, "HTTP/%d.%d %d", &maj, &min, &st) != 3) {
        snprintf(why, wcap, "no HTTP answer from %s%s", o->hostport, rn ? "" : " (timed out or closed)");
        return -1;
    }
    return st;
}

/* ---------- the thread ---------- */

static void *exporter(void *arg) {
    srv_otlp *o = arg;
    double stop_deadline = 0;
    pthread_mutex_lock(&o->mu);
    for (;;) {
        while (!o->stop && o->count < SRV_OTLP_BATCH && (o->count == 0 || mono() - o->t_oldest < LINGER_S)) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += 200 * 1000000L; /* re-check the linger time 5 times a second */
            if (ts.tv_nsec >= 1000000000L) ts.tv_sec++, ts.tv_nsec -= 1000000000L;
            pthread_cond_timedwait(&o->cv, &o->mu, &ts);
        }
        if (o->stop && !stop_deadline) stop_deadline = mono() + FLUSH_S;
        if (o->count == 0 || (stop_deadline && mono() > stop_deadline)) {
            if (o->stop) break;
            continue;
        }
        int n = o->count < SRV_OTLP_BATCH ? o->count : SRV_OTLP_BATCH;
        for (int i = 0; i < n; i++) o->batch[i] = o->q[(o->head + i) % SRV_OTLP_QUEUE];
        o->head = (o->head + n) % SRV_OTLP_QUEUE;
        o->count -= n;
        o->t_oldest = mono();
        pthread_mutex_unlock(&o->mu);
        size_t len = 0;
        char *body = batch_json(o, o->batch, n, &len);
        char why[384] = "out of memory";
        int st = body ? post(o, body, len, why, sizeof why) : -1;
        free(body);
        if (st >= 200 && st < 300) atomic_fetch_add(&o->exported, (uint_fast64_t)n);
        else {
            if (st > 0) snprintf(why, sizeof why, "%s answered HTTP %d", o->hostport, st);
            /* one warning per 100 failed batches: a collector that is down must not flood the log */
            if (atomic_fetch_add(&o->batches_failed, 1) % 100 == 0)
                PG_WARN("OTLP export of %d span(s) failed (dropped): %s", n, why);
            atomic_fetch_add(&o->dropped_failed, (uint_fast64_t)n);
        }
        pthread_mutex_lock(&o->mu);
    }
    /* spans left after the flush time: dropped */
    if (o->count) atomic_fetch_add(&o->dropped_failed, (uint_fast64_t)o->count);
    o->count = 0;
    pthread_mutex_unlock(&o->mu);
    return NULL;
}

int srv_otlp_create(const char *url, const char *service, const char *instance, srv_otlp **out, pg_error *err) {
    *out = NULL;
    srv_otlp *o = calloc(1, sizeof *o);
    if (!o) return pg_error_set(err, PG_ENOMEM, "out of memory");
    int rc = parse_url(o, url, err);
    if (rc < 0) {
        free(o);
        return rc;
    }
    snprintf(o->service, sizeof o->service, "%s", service ? service : "pagoda");
    snprintf(o->instance, sizeof o->instance, "%s", instance ? instance : "");
    o->q = malloc(SRV_OTLP_QUEUE * sizeof *o->q);
    o->batch = malloc(SRV_OTLP_BATCH * sizeof *o->batch);
    if (!o->q || !o->batch) {
        free(o->q);
        free(o->batch);
        free(o);
        return pg_error_set(err, PG_ENOMEM, "out of memory");
    }
    pthread_mutex_init(&o->mu, NULL);
    pthread_cond_init(&o->cv, NULL);
    if (pthread_create(&o->th, NULL, exporter, o) != 0) {
        srv_otlp_destroy(o);
        return pg_error_set(err, PG_ENOMEM, "cannot start the OTLP exporter thread");
    }
    o->started = 1;
    *out = o;
    return 0;
}

void srv_otlp_destroy(srv_otlp *o) {
    if (!o) return;
    if (o->started) {
        pthread_mutex_lock(&o->mu);
        o->stop = 1;
        pthread_cond_signal(&o->cv);
        pthread_mutex_unlock(&o->mu);
        pthread_join(o->th, NULL);
    }
    pthread_cond_destroy(&o->cv);
    pthread_mutex_destroy(&o->mu);
    free(o->q);
    free(o->batch);
    free(o);
}

void srv_otlp_push(srv_otlp *o, const srv_span *spans, int n) {
    if (!o || n <= 0) return;
    pthread_mutex_lock(&o->mu);
    if (o->stop || o->count + n > SRV_OTLP_QUEUE) {
        pthread_mutex_unlock(&o->mu);
        atomic_fetch_add(&o->dropped_full, (uint_fast64_t)n);
        return;
    }
    if (o->count == 0) o->t_oldest = mono();
    for (int i = 0; i < n; i++) o->q[(o->head + o->count + i) % SRV_OTLP_QUEUE] = spans[i];
    o->count += n;
    if (o->count >= SRV_OTLP_BATCH) pthread_cond_signal(&o->cv);
    pthread_mutex_unlock(&o->mu);
}

void srv_otlp_counts(srv_otlp *o, uint64_t *exported, uint64_t *dropped_full, uint64_t *dropped_failed) {
    *exported = atomic_load(&o->exported);
    *dropped_full = atomic_load(&o->dropped_full);
    *dropped_failed = atomic_load(&o->dropped_failed);
}

int srv_otlp_metrics(srv_otlp *o, const char *model, char **buf, size_t *len) {
    uint64_t ex, df, dx;
    srv_otlp_counts(o, &ex, &df, &dx);
    pthread_mutex_lock(&o->mu);
    int queued = o->count;
    pthread_mutex_unlock(&o->mu);
    char t[1536];
    int n = snprintf(t, sizeof t,
                     "# HELP pagoda:otlp_spans_exported_total spans accepted by the OTLP endpoint\n"
                     "# TYPE pagoda:otlp_spans_exported_total counter\n"
                     "pagoda:otlp_spans_exported_total{model_name=\"%s\"} %llu\n"
                     "# HELP pagoda:otlp_spans_dropped_total spans not exported: queue_full (the bounded queue "
                     "was full) or export_failed (their batch could not be sent)\n"
                     "# TYPE pagoda:otlp_spans_dropped_total counter\n"
                     "pagoda:otlp_spans_dropped_total{model_name=\"%s\",reason=\"queue_full\"} %llu\n"
                     "pagoda:otlp_spans_dropped_total{model_name=\"%s\",reason=\"export_failed\"} %llu\n"
                     "# HELP pagoda:otlp_spans_queued spans waiting for the exporter\n"
                     "# TYPE pagoda:otlp_spans_queued gauge\n"
                     "pagoda:otlp_spans_queued{model_name=\"%s\"} %d\n",
                     model, (unsigned long long)ex, model, (unsigned long long)df, model, (unsigned long long)dx,
                     model, queued);
    if (n < 0 || (size_t)n >= sizeof t) return -1;
    char *nb = realloc(*buf, *len + (size_t)n + 1);
    if (!nb) return -1;
    memcpy(nb + *len, t, (size_t)n + 1);
    *buf = nb;
    *len += (size_t)n;
    return 0;
}
