/* serve_bench.c - `pagoda bench serve`: a load generator for an
 * OpenAI-compatible server (like `vllm bench serve`), with a plain-socket
 * HTTP/1.1 client (keep-alive, chunked transfer decoding, SSE parsing).
 *
 * C worker threads share a counter of N requests. Each request is a
 * streaming POST /v1/completions with a token-id prompt of I tokens (the
 * first P shared by all requests when --shared-prefix P, the rest random
 * ids), max_tokens O, ignore_eos and stream_options.include_usage. Per
 * request it records the time of every content chunk: TTFT (send -> first
 * chunk), ITL (gaps between chunks), TPOT ((e2e - TTFT) / (tokens - 1)) and
 * end-to-end latency; the report gives request and token throughput and
 * mean / p50 / p90 / p99 of each. The vocabulary size and context come from
 * GET /v1/models (pagoda's vocab_size / max_model_len fields; otherwise ids
 * stay below 256). */
#include "bench.h"

#include "base/hash.h"

#include <errno.h>
#include <jansson.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

typedef struct {
    char host[256], port[16];
    int concurrency, requests, input_len, output_len, shared_prefix;
    uint64_t seed;
    char model[256];
    int32_t vocab, max_len;
    double timeout_s;
} sb_cfg;

typedef struct {
    int ok;
    double ttft, e2e;
    int32_t out_tokens;
    double *itl; /* gaps, out_tokens - 1 at most */
    int32_t n_itl;
    char err[160];
} sb_result;

typedef struct {
    const sb_cfg *c;
    char **bodies;
    atomic_int next;
    sb_result *res;
} sb_shared;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ---------- connection with a read buffer ---------- */

typedef struct {
    int fd;
    char buf[65536];
    size_t off, len;
} conn;

static int conn_open(conn *k, const sb_cfg *c) {
    struct addrinfo hints, *ai = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(c->host, c->port, &hints, &ai) != 0 || !ai) return -1;
    int fd = -1;
    for (struct addrinfo *p = ai; p; p = p->ai_next) {
        fd = socket(p->ai_family, p->ai_socktype | SOCK_CLOEXEC, p->ai_protocol);
        if (fd < 0) continue;
        if (connect(fd, p->ai_addr, p->ai_addrlen) == 0) break;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(ai);
    if (fd < 0) return -1;
    struct timeval tv = {(time_t)c->timeout_s, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    /* No Nagle: with it, a request whose body goes out after its headers
     * waits for the server's delayed ACK (40 ms on Linux) on a reused
     * connection, which both inflates TTFT and staggers a wave of requests
     * that would otherwise arrive together. */
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    k->fd = fd;
    k->off = k->len = 0;
    return 0;
}

static void conn_close(conn *k) {
    if (k->fd >= 0) close(k->fd);
    k->fd = -1;
}

static int conn_fill(conn *k) {
    if (k->off == k->len) k->off = k->len = 0;
    if (k->len == sizeof k->buf) {
        memmove(k->buf, k->buf + k->off, k->len - k->off);
        k->len -= k->off;
        k->off = 0;
    }
    ssize_t n;
    do n = recv(k->fd, k->buf + k->len, sizeof k->buf - k->len, 0);
    while (n < 0 && errno == EINTR);
    if (n <= 0) return -1;
    k->len += (size_t)n;
    return 0;
}

/* One line without CRLF into out (truncated at cap). */
static int conn_line(conn *k, char *out, size_t cap) {
    size_t o = 0;
    for (;;) {
        while (k->off < k->len) {
            char ch = k->buf[k->off++];
            if (ch == '\n') {
                if (o && out[o - 1] == '\r') o--;
                out[o] = 0;
                return 0;
            }
            if (o + 1 < cap) out[o++] = ch;
        }
        if (conn_fill(k) < 0) return -1;
    }
}

/* flags: MSG_MORE when more of the same message follows at once. */
static int send_all(int fd, const char *p, size_t n, int flags) {
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL | flags);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* ---------- one request ---------- */

typedef struct {
    char *ev;   /* SSE line accumulator */
    size_t n, cap;
} sse;

static void sse_put(sse *s, const char *p, size_t n) {
    if (s->n + n + 1 > s->cap) {
        size_t nc = s->cap ? s->cap : 4096;
        while (nc < s->n + n + 1) nc *= 2;
        char *q = realloc(s->ev, nc);
        if (!q) return;
        s->ev = q;
        s->cap = nc;
    }
    memcpy(s->ev + s->n, p, n);
    s->n += n;
    s->ev[s->n] = 0;
}

/* Handles complete lines in s; returns 1 on [DONE]. */
static int sse_lines(sse *s, sb_result *r, double t0, double *last, int32_t *usage_tokens) {
    int done = 0;
    char *p = s->ev, *end = s->ev + s->n;
    for (;;) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl) break;
        *nl = 0;
        if (!strncmp(p, "data: ", 6)) {
            const char *d = p + 6;
            if (!strcmp(d, "[DONE]")) done = 1;
            else {
                json_t *j = json_loads(d, 0, NULL);
                json_t *ch = j ? json_object_get(j, "choices") : NULL;
                json_t *u = j ? json_object_get(j, "usage") : NULL;
                json_t *e = j ? json_object_get(j, "error") : NULL;
                if (e) snprintf(r->err, sizeof r->err, "stream error: %.120s", json_string_value(json_object_get(e, "message")));
                if (json_is_object(u)) *usage_tokens = (int32_t)json_integer_value(json_object_get(u, "completion_tokens"));
                if (json_array_size(ch) > 0) {
                    json_t *c0 = json_array_get(ch, 0);
                    const char *t = json_string_value(json_object_get(c0, "text"));
                    if ((t && *t) || json_is_null(json_object_get(c0, "finish_reason"))) {
                        double tn = now_s();
                        if (r->out_tokens == 0) r->ttft = tn - t0;
                        else if (r->itl) r->itl[r->n_itl++] = tn - *last;
                        *last = tn;
                        r->out_tokens++;
                    }
                }
                json_decref(j);
            }
        }
        p = nl + 1;
    }
    size_t rest = (size_t)(end - p);
    memmove(s->ev, p, rest);
    s->n = rest;
    if (s->ev) s->ev[rest] = 0;
    return done;
}

static int run_one(conn *k, const sb_cfg *c, const char *body, sb_result *r) {
    char head[512];
    size_t bl = strlen(body);
    int hl = snprintf(head, sizeof head,
                      "POST /v1/completions HTTP/1.1\r\nHost: %s:%s\r\nContent-Type: application/json\r\n"
                      "Accept: text/event-stream\r\nContent-Length: %zu\r\n\r\n",
                      c->host, c->port, bl);
    double t0 = now_s(), last = t0;
    /* headers and body leave as one segment where they fit (MSG_MORE) */
    if (send_all(k->fd, head, (size_t)hl, MSG_MORE) < 0 || send_all(k->fd, body, bl, 0) < 0) return -1;
    char line[4096];
    if (conn_line(k, line, sizeof line) < 0) return -1;
    int status = 0;
    sscanf(line, "HTTP/%*s %d", &status);
    int chunked = 0, close_after = 0;
    long long clen = -1;
    for (;;) {
        if (conn_line(k, line, sizeof line) < 0) return -1;
        if (!line[0]) break;
        if (!strncasecmp(line, "transfer-encoding:", 18) && strstr(line, "chunked")) chunked = 1;
        if (!strncasecmp(line, "content-length:", 15)) clen = atoll(line + 15);
        if (!strncasecmp(line, "connection:", 11) && strstr(line, "close")) close_after = 1;
    }
    sse s = {0};
    int32_t usage_tokens = -1;
    int done = 0;
    r->itl = malloc(sizeof(double) * (size_t)(c->output_len + 8));
    r->n_itl = 0;
    if (chunked) {
        for (;;) {
            if (conn_line(k, line, sizeof line) < 0) goto fail;
            long long n = strtoll(line, NULL, 16);
            if (n < 0) goto fail;
            if (n == 0) {
                if (conn_line(k, line, sizeof line) < 0) goto fail;
                break;
            }
            while (n > 0) {
                if (k->off == k->len && conn_fill(k) < 0) goto fail;
                size_t take = k->len - k->off;
                if ((long long)take > n) take = (size_t)n;
                sse_put(&s, k->buf + k->off, take);
                k->off += take;
                n -= (long long)take;
            }
            if (conn_line(k, line, sizeof line) < 0) goto fail;
            if (sse_lines(&s, r, t0, &last, &usage_tokens)) done = 1;
        }
    } else if (clen >= 0) {
        while (clen > 0) {
            if (k->off == k->len && conn_fill(k) < 0) goto fail;
            size_t take = k->len - k->off;
            if ((long long)take > clen) take = (size_t)clen;
            sse_put(&s, k->buf + k->off, take);
            k->off += take;
            clen -= (long long)take;
        }
    }
    r->e2e = now_s() - t0;
    if (status != 200) {
        snprintf(r->err, sizeof r->err, "HTTP %d: %.120s", status, s.ev ? s.ev : "");
        r->ok = 0;
    } else if (!done) {
        if (!r->err[0]) snprintf(r->err, sizeof r->err, "stream ended without [DONE]");
        r->ok = 0;
    } else {
        if (usage_tokens > 0) r->out_tokens = usage_tokens;
        r->ok = !r->err[0];
    }
    free(s.ev);
    return close_after ? 1 : 0;
fail:
    free(s.ev);
    snprintf(r->err, sizeof r->err, "connection failed mid-response");
    r->ok = 0;
    return -1;
}

static void *worker(void *arg) {
    sb_shared *sh = arg;
    conn k;
    k.fd = -1;
    for (;;) {
        int i = atomic_fetch_add(&sh->next, 1);
        if (i >= sh->c->requests) break;
        sb_result *r = &sh->res[i];
        for (int attempt = 0; attempt < 2; attempt++) {
            if (k.fd < 0 && conn_open(&k, sh->c) < 0) {
                snprintf(r->err, sizeof r->err, "cannot connect");
                break;
            }
            memset(r, 0, sizeof *r);
            int rc = run_one(&k, sh->c, sh->bodies[i], r);
            if (rc != 0) conn_close(&k);
            if (rc >= 0 || r->out_tokens > 0) break; /* retry only a stale keep-alive connection */
            free(r->itl);
            r->itl = NULL;
        }
    }
    conn_close(&k);
    return NULL;
}

/* ---------- report ---------- */

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void stats_line(const char *name, double *v, size_t n) {
    if (!n) {
        printf("%-22s n/a\n", name);
        return;
    }
    qsort(v, n, sizeof *v, cmp_d);
    double sum = 0;
    for (size_t i = 0; i < n; i++) sum += v[i];
#define PCT(p) v[(size_t)((double)(n - 1) * (p) + 0.5)]
    printf("%-22s mean %9.2f  p50 %9.2f  p90 %9.2f  p99 %9.2f  (ms)\n", name, 1e3 * sum / (double)n, 1e3 * PCT(0.5),
           1e3 * PCT(0.9), 1e3 * PCT(0.99));
#undef PCT
}

static int fetch_model(sb_cfg *c) {
    conn k;
    if (conn_open(&k, c) < 0) return -1;
    char req[512];
    int n = snprintf(req, sizeof req, "GET /v1/models HTTP/1.1\r\nHost: %s:%s\r\nConnection: close\r\n\r\n", c->host, c->port);
    if (send_all(k.fd, req, (size_t)n, 0) < 0) {
        conn_close(&k);
        return -1;
    }
    char *all = NULL;
    size_t len = 0;
    while (conn_fill(&k) == 0) {}
    all = k.buf;
    len = k.len;
    char *b = memmem(all, len, "\r\n\r\n", 4);
    int rc = -1;
    if (b) {
        json_t *j = json_loadb(b + 4, len - (size_t)(b + 4 - all), 0, NULL);
        json_t *m = json_array_get(json_object_get(j, "data"), 0);
        if (m) {
            if (!c->model[0]) snprintf(c->model, sizeof c->model, "%s", json_string_value(json_object_get(m, "id")));
            json_t *v = json_object_get(m, "vocab_size"), *ml = json_object_get(m, "max_model_len");
            c->vocab = json_is_integer(v) ? (int32_t)json_integer_value(v) : 256;
            c->max_len = json_is_integer(ml) ? (int32_t)json_integer_value(ml) : 0;
            rc = 0;
        }
        json_decref(j);
    }
    conn_close(&k);
    return rc;
}

static uint64_t rng_next(uint64_t *s) {
    return pg_splitmix64(s);
}

static int usage(void) {
    fprintf(stderr, "usage: pagoda bench serve --url http://HOST:PORT [--concurrency C] [--requests N]\n"
                    "                          [--input-len I] [--output-len O] [--shared-prefix P]\n"
                    "                          [--model NAME] [--seed S] [--timeout SECONDS]\n");
    return 2;
}

int pg_bench_serve(int argc, char **argv) {
    sb_cfg c;
    memset(&c, 0, sizeof c);
    c.concurrency = 8;
    c.requests = 64;
    c.input_len = 128;
    c.output_len = 128;
    c.seed = 1;
    c.timeout_s = 600;
    const char *url = NULL;
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(o, "-h") || !strcmp(o, "--help")) return usage(), 0;
        if (!v) return usage();
        i++;
        long x = strtol(v, NULL, 10);
        if (!strcmp(o, "--url")) url = v;
        else if (!strcmp(o, "--model")) snprintf(c.model, sizeof c.model, "%s", v);
        else if (!strcmp(o, "--concurrency")) c.concurrency = (int)x;
        else if (!strcmp(o, "--requests")) c.requests = (int)x;
        else if (!strcmp(o, "--input-len")) c.input_len = (int)x;
        else if (!strcmp(o, "--output-len")) c.output_len = (int)x;
        else if (!strcmp(o, "--shared-prefix")) c.shared_prefix = (int)x;
        else if (!strcmp(o, "--seed")) c.seed = strtoull(v, NULL, 10);
        else if (!strcmp(o, "--timeout")) c.timeout_s = (double)x;
        else {
            fprintf(stderr, "pagoda bench serve: unknown option '%s'\n", o);
            return usage();
        }
    }
    if (!url || strncmp(url, "http://", 7)) {
        fprintf(stderr, "pagoda bench serve: --url http://HOST:PORT is required (no TLS)\n");
        return 2;
    }
    if (c.concurrency < 1 || c.concurrency > 4096 || c.requests < 1 || c.requests > 1000000 || c.input_len < 1 ||
        c.input_len > (1 << 20) || c.output_len < 1 || c.output_len > (1 << 20) || c.shared_prefix < 0 ||
        c.shared_prefix > c.input_len || c.timeout_s < 1) {
        fprintf(stderr, "pagoda bench serve: a value is out of range (shared prefix must be <= input length)\n");
        return 2;
    }
    /* http://host[:port][/...] ; [v6] accepted */
    const char *h = url + 7, *e = h + strcspn(h, "/");
    const char *colon = NULL;
    if (*h == '[') {
        const char *rb = memchr(h, ']', (size_t)(e - h));
        if (!rb) return usage();
        snprintf(c.host, sizeof c.host, "%.*s", (int)(rb - h - 1), h + 1);
        colon = rb[1] == ':' ? rb + 1 : NULL;
    } else {
        colon = memchr(h, ':', (size_t)(e - h));
        snprintf(c.host, sizeof c.host, "%.*s", (int)((colon ? colon : e) - h), h);
    }
    snprintf(c.port, sizeof c.port, "%.*s", colon ? (int)(e - colon - 1) : 2, colon ? colon + 1 : "80");
    if (fetch_model(&c) < 0) {
        fprintf(stderr, "pagoda bench serve: GET %s/v1/models failed\n", url);
        return 1;
    }
    if (c.max_len && c.input_len + c.output_len > c.max_len) {
        fprintf(stderr, "pagoda bench serve: input + output (%d) exceeds the server's context (%d)\n",
                c.input_len + c.output_len, c.max_len);
        return 2;
    }
    int32_t lo = c.vocab > 64 ? 16 : 0, span = c.vocab - lo; /* skip the low ids (specials) */
    if (span < 1) span = 1, lo = 0;
    uint64_t rs = c.seed;
    int32_t *prefix = malloc(sizeof(int32_t) * (size_t)(c.shared_prefix + 1));
    for (int i = 0; i < c.shared_prefix; i++) prefix[i] = lo + (int32_t)(rng_next(&rs) % (uint64_t)span);
    sb_shared sh;
    memset(&sh, 0, sizeof sh);
    sh.c = &c;
    sh.bodies = calloc((size_t)c.requests, sizeof *sh.bodies);
    sh.res = calloc((size_t)c.requests, sizeof *sh.res);
    if (!prefix || !sh.bodies || !sh.res) return 1;
    for (int r = 0; r < c.requests; r++) {
        json_t *ids = json_array();
        for (int i = 0; i < c.input_len; i++)
            json_array_append_new(ids, json_integer(i < c.shared_prefix ? prefix[i] : lo + (int32_t)(rng_next(&rs) % (uint64_t)span)));
        json_t *o = json_object();
        json_object_set_new(o, "model", json_string(c.model));
        json_object_set_new(o, "prompt", ids);
        json_object_set_new(o, "max_tokens", json_integer(c.output_len));
        json_object_set_new(o, "ignore_eos", json_true());
        json_object_set_new(o, "stream", json_true());
        json_t *so = json_object();
        json_object_set_new(so, "include_usage", json_true());
        json_object_set_new(o, "stream_options", so);
        sh.bodies[r] = json_dumps(o, JSON_COMPACT);
        json_decref(o);
    }
    printf("pagoda bench serve: %s model '%s', %d requests, concurrency %d, input %d (shared prefix %d), output %d\n",
           url, c.model, c.requests, c.concurrency, c.input_len, c.shared_prefix, c.output_len);
    fflush(stdout);
    int nt = c.concurrency < c.requests ? c.concurrency : c.requests;
    pthread_t *th = calloc((size_t)nt, sizeof *th);
    double t0 = now_s();
    for (int i = 0; i < nt; i++) pthread_create(&th[i], NULL, worker, &sh);
    for (int i = 0; i < nt; i++) pthread_join(th[i], NULL);
    double dur = now_s() - t0;
    size_t ok = 0, n_itl = 0;
    int64_t out_tok = 0;
    for (int r = 0; r < c.requests; r++)
        if (sh.res[r].ok) {
            ok++;
            out_tok += sh.res[r].out_tokens;
            n_itl += (size_t)sh.res[r].n_itl;
        }
    double *ttft = malloc(sizeof(double) * (ok + 1)), *tpot = malloc(sizeof(double) * (ok + 1)),
           *e2e = malloc(sizeof(double) * (ok + 1)), *itl = malloc(sizeof(double) * (n_itl + 1));
    size_t k = 0, kt = 0, ki = 0;
    const char *first_err = NULL;
    for (int r = 0; r < c.requests; r++) {
        sb_result *x = &sh.res[r];
        if (!x->ok) {
            if (!first_err) first_err = x->err;
            continue;
        }
        ttft[k] = x->ttft;
        e2e[k] = x->e2e;
        k++;
        if (x->out_tokens > 1) tpot[kt++] = (x->e2e - x->ttft) / (double)(x->out_tokens - 1);
        for (int32_t i = 0; i < x->n_itl; i++) itl[ki++] = x->itl[i];
    }
    printf("successful requests    %zu / %d%s%s\n", ok, c.requests, first_err ? "   first error: " : "",
           first_err ? first_err : "");
    printf("duration               %.2f s\n", dur);
    printf("request throughput     %.2f req/s\n", (double)ok / dur);
    printf("output token throughput %.1f tok/s\n", (double)out_tok / dur);
    printf("total token throughput %.1f tok/s\n", (double)(out_tok + (int64_t)ok * c.input_len) / dur);
    stats_line("TTFT", ttft, k);
    stats_line("TPOT", tpot, kt);
    stats_line("ITL", itl, ki);
    stats_line("E2E latency", e2e, k);
    for (int r = 0; r < c.requests; r++) {
        free(sh.bodies[r]);
        free(sh.res[r].itl);
    }
    free(sh.bodies);
    free(sh.res);
    free(prefix);
    free(th);
    free(ttft);
    free(tpot);
    free(e2e);
    free(itl);
    return ok == (size_t)c.requests ? 0 : 1;
}
