/* http.c - libmicrohttpd glue: daemon options, routing, body collection,
 * responses, suspend/resume for generation, and the disconnect watcher.
 *
 * The daemon runs MHD_USE_EPOLL_INTERNAL_THREAD with a small worker pool
 * and MHD_ALLOW_SUSPEND_RESUME. A generation request is submitted to the
 * engine from the access handler; then:
 *   - non-streaming: the connection is suspended; the engine callback
 *     resumes it once every submission finished; the access handler runs
 *     again and queues the whole JSON response;
 *   - streaming: a chunked response with a content-reader callback is
 *     queued at once; the reader drains formatted SSE bytes and, when there
 *     are none yet, suspends the connection (the engine callback resumes it
 *     on the next event), so tokens are flushed one by one.
 * Client disconnects: MHD reports a failed connection through
 * NOTIFY_COMPLETED (-> cancel). A *suspended* connection is invisible to
 * MHD, so the watcher thread poll()s the sockets of all in-flight requests
 * for POLLRDHUP/POLLHUP; on hang-up it cancels the engine request and
 * resumes the connection so that MHD sees the failure and cleans up.
 *
 * Admission (handle(), in this order; docs/production.md has the contract):
 * route/method -> probes (/health liveness, /ready readiness: no key) ->
 * /metrics (its own key if configured) -> API key (401) -> body size (413)
 * -> loading/draining/failed (503) -> per-key rate limit (429) -> the
 * endpoint (400s; the engine's full queue -> 429). Every response carries
 * x-request-id, traceparent (W3C: incoming trace id kept, our span id) and,
 * for keys with limits, the x-ratelimit-* headers. NOTIFY_COMPLETED writes
 * one structured log line per request. */
#include "server/srv_internal.h"

#include "base/log.h"
#include "server/stats.h"
#include "server/webui.h"

#include <errno.h>
#include <math.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

enum {
    ROUTE_NONE = 0,
    ROUTE_HEALTH,
    ROUTE_READY,
    ROUTE_METRICS,
    ROUTE_MODELS,
    ROUTE_COMPLETIONS,
    ROUTE_CHAT,
    ROUTE_TOKENIZE,
    ROUTE_DETOKENIZE,
    ROUTE_STATS,  /* GET /v1/stats (stats.c), the metrics key like /metrics */
    ROUTE_WEBUI,  /* GET /, /dashboard, /webui/... (webui.c), no key */
};

static const struct {
    const char *path;
    const char *method;
    int route;
} routes[] = {
    {"/health", "GET", ROUTE_HEALTH},
    {"/ready", "GET", ROUTE_READY},
    {"/metrics", "GET", ROUTE_METRICS},
    {"/v1/models", "GET", ROUTE_MODELS},
    {"/v1/completions", "POST", ROUTE_COMPLETIONS},
    {"/v1/chat/completions", "POST", ROUTE_CHAT},
    {"/tokenize", "POST", ROUTE_TOKENIZE},
    {"/detokenize", "POST", ROUTE_DETOKENIZE},
    {"/v1/stats", "GET", ROUTE_STATS},
};

/* ---------- engine access guarded against shutdown ---------- */

void srv_engine_cancel(pg_srv *s, int64_t id) {
    if (id <= 0) return;
    pthread_rwlock_rdlock(&s->engine_lock);
    if (s->engine_alive) pg_engine_cancel(s->engine, (uint64_t)id);
    pthread_rwlock_unlock(&s->engine_lock);
}

int64_t srv_engine_submit(pg_srv *s, const pg_request *q, pg_error *err) {
    pthread_rwlock_rdlock(&s->engine_lock);
    int64_t id = s->engine_alive ? pg_engine_submit(s->engine, q, err)
                                 : pg_error_set(err, PG_ECANCELED, "the server is shutting down");
    pthread_rwlock_unlock(&s->engine_lock);
    return id;
}

/* ---------- ids ---------- */

void srv_make_id(pg_srv *s, const char *prefix, char *out, size_t cap) {
    /* splitmix64 of (per-process random key + counter): unique, unguessable enough */
    uint64_t z = s->id_key + 0x9E3779B97F4A7C15ULL * (atomic_fetch_add(&s->id_seq, 1) + 1);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    z ^= z >> 31;
    uint64_t w = z * 0xD6E8FEB86659FD93ULL + s->id_key;
    snprintf(out, cap, "%s%016llx%08llx", prefix, (unsigned long long)z, (unsigned long long)(w >> 32));
}

/* ---------- request objects ---------- */

static srv_req *req_new(pg_srv *s, struct MHD_Connection *c) {
    srv_req *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    r->srv = s;
    r->conn = c;
    r->refs = 1;
    r->fd = -1;
    r->logprobs = -1;
    r->n = 1;
    pthread_mutex_init(&r->mu, NULL);
    r->serial = atomic_fetch_add(&s->id_seq, 1) + 1;
    return r;
}

static void req_free(srv_req *r) {
    for (int32_t i = 0; i < r->n_subs; i++) {
        free(r->subs[i].prompt);
        free(r->subs[i].echo_text);
    }
    free(r->subs);
    free(r->body);
    free(r->recs);
    free(r->text);
    free(r->top_id);
    free(r->top_lp);
    free(r->out);
    free(r->choice_text_len);
    free(r->last_tok_t);
    free(r->model_name);
    pthread_mutex_destroy(&r->mu);
    free(r);
}

void srv_req_unref(srv_req *r) {
    pthread_mutex_lock(&r->mu);
    int zero = --r->refs == 0;
    pthread_mutex_unlock(&r->mu);
    if (zero) req_free(r);
}

static void registry_add(pg_srv *s, srv_req *r) {
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    r->fd = ci ? ci->connect_fd : -1;
    pthread_mutex_lock(&s->mu);
    r->next = s->live;
    r->prev = NULL;
    if (s->live) s->live->prev = r;
    s->live = r;
    r->in_registry = 1;
    pthread_mutex_unlock(&s->mu);
    if (s->wake[1] >= 0) {
        char b = 1;
        ssize_t w = write(s->wake[1], &b, 1);
        (void)w;
    }
}

static void registry_remove(pg_srv *s, srv_req *r) {
    pthread_mutex_lock(&s->mu);
    if (r->in_registry) {
        if (r->prev) r->prev->next = r->next;
        else s->live = r->next;
        if (r->next) r->next->prev = r->prev;
        r->in_registry = 0;
    }
    pthread_mutex_unlock(&s->mu);
}

/* ---------- responses ---------- */

/* OpenAI-style durations: "20ms", "7s", "6m0s". */
static void fmt_dur(char *b, size_t cap, double s) {
    if (!(s > 0)) snprintf(b, cap, "0s");
    else if (s < 1) snprintf(b, cap, "%dms", (int)ceil(s * 1000));
    else {
        long t = (long)ceil(s);
        if (t >= 60) snprintf(b, cap, "%ldm%lds", t / 60, t % 60);
        else snprintf(b, cap, "%lds", t);
    }
}

/* One x-ratelimit-{limit,remaining,reset}-WHAT triple (WHAT: requests or
 * tokens), for a configured limit. */
static void rl_headers(struct MHD_Response *resp, const char *what, double lim, double rem, double reset_s) {
    if (lim <= 0) return;
    char name[48], b[64];
    snprintf(name, sizeof name, "x-ratelimit-limit-%s", what);
    snprintf(b, sizeof b, "%.0f", lim);
    MHD_add_response_header(resp, name, b);
    snprintf(name, sizeof name, "x-ratelimit-remaining-%s", what);
    snprintf(b, sizeof b, "%.0f", rem > 0 ? floor(rem) : 0.0);
    MHD_add_response_header(resp, name, b);
    snprintf(name, sizeof name, "x-ratelimit-reset-%s", what);
    fmt_dur(b, sizeof b, reset_s);
    MHD_add_response_header(resp, name, b);
}

/* Headers every response of an admitted HTTP request carries: the request
 * id, the W3C traceparent and, for an authenticated key with limits, the
 * x-ratelimit-* family. */
static void common_headers(srv_req *r, struct MHD_Response *resp) {
    MHD_add_response_header(resp, "x-request-id", r->x_request_id);
    if (r->traceparent[0]) MHD_add_response_header(resp, "traceparent", r->traceparent);
    if (!r->has_rl) return;
    const srv_rl *l = &r->rl;
    rl_headers(resp, "requests", l->lim_req, l->rem_req, l->reset_req_s);
    rl_headers(resp, "tokens", l->lim_tok, l->rem_tok, l->reset_tok_s);
}

static void count_status(pg_srv *s, srv_req *r, int status) {
    r->status = status;
    r->stage = 2;
    if (status >= 100 && status < 600) atomic_fetch_add(&s->m.status[status], 1);
}

static enum MHD_Result respond(srv_req *r, int status, const char *ctype, char *body, size_t len,
                               const char *retry_after, const char *allow) {
    pg_srv *s = r->srv;
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(len, body ? body : (char *)"", body ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
    if (!resp) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", ctype);
    common_headers(r, resp);
    if (retry_after) MHD_add_response_header(resp, "Retry-After", retry_after);
    if (allow) MHD_add_response_header(resp, "Allow", allow);
    if (status == 401) MHD_add_response_header(resp, "WWW-Authenticate", "Bearer");
    if (status == 503 && atomic_load(&s->draining)) MHD_add_response_header(resp, "Connection", "close");
    enum MHD_Result rc = MHD_queue_response(r->conn, (unsigned)status, resp);
    MHD_destroy_response(resp);
    count_status(s, r, status);
    if (status >= 500 && status != 503 && status != 504) PG_ERROR("http %d for request %s", status, r->x_request_id);
    return rc;
}

static enum MHD_Result respond_json(srv_req *r, int status, char *body, const char *retry_after) {
    return respond(r, status, "application/json", body, body ? strlen(body) : 0, retry_after, NULL);
}

static enum MHD_Result respond_error(srv_req *r, int status, const char *msg, const char *type, const char *code,
                                     const char *allow) {
    char *b = srv_dump(srv_error_json(msg, type, NULL, code), NULL);
    return respond(r, status, "application/json", b, b ? strlen(b) : 0, NULL, allow);
}

static enum MHD_Result respond_error_retry(srv_req *r, int status, const char *msg, const char *type, const char *code,
                                           const char *retry) {
    char *b = srv_dump(srv_error_json(msg, type, NULL, code), NULL);
    return respond(r, status, "application/json", b, b ? strlen(b) : 0, retry, NULL);
}

/* ---------- streaming reader ---------- */

static ssize_t stream_reader(void *cls, uint64_t pos, char *buf, size_t max) {
    srv_req *r = cls;
    (void)pos;
    pthread_mutex_lock(&r->mu);
    if (r->out_off == r->out_len && !r->stream_ended) {
        r->out_off = r->out_len = 0;
        if (srv_stream_format(r)) r->stream_ended = 1;
    }
    if (r->out_off < r->out_len) {
        size_t n = r->out_len - r->out_off;
        if (n > max) n = max;
        memcpy(buf, r->out + r->out_off, n);
        r->out_off += n;
        pthread_mutex_unlock(&r->mu);
        return (ssize_t)n;
    }
    if (r->stream_ended || r->disconnected) {
        int ended = r->stream_ended;
        pthread_mutex_unlock(&r->mu);
        return ended ? MHD_CONTENT_READER_END_OF_STREAM : MHD_CONTENT_READER_END_WITH_ERROR;
    }
    r->suspended = 1;
    MHD_suspend_connection(r->conn);
    pthread_mutex_unlock(&r->mu);
    return 0;
}

/* ---------- handlers ---------- */

/* An embedded web UI file (webui.h): static bytes, its headers (CSP,
 * ETag, Cache-Control), 304 without a body when If-None-Match matches. */
static enum MHD_Result respond_asset(srv_req *r) {
    const pg_asset *a = r->asset;
    const char *inm = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_IF_NONE_MATCH);
    int fresh = pg_webui_etag_match(inm, a->etag);
    struct MHD_Response *resp = MHD_create_response_from_buffer(fresh ? 0 : a->len, (void *)a->data, MHD_RESPMEM_PERSISTENT);
    if (!resp) return MHD_NO;
    const char *h[16][2];
    int nh = pg_webui_headers(a, h, 16);
    for (int i = 0; i < nh; i++) MHD_add_response_header(resp, h[i][0], h[i][1]);
    common_headers(r, resp);
    int status = fresh ? MHD_HTTP_NOT_MODIFIED : MHD_HTTP_OK;
    enum MHD_Result rc = MHD_queue_response(r->conn, (unsigned)status, resp);
    MHD_destroy_response(resp);
    count_status(r->srv, r, status);
    return rc;
}

static enum MHD_Result start_generation(srv_req *r) {
    pg_srv *s = r->srv;
    r->kind = r->route == ROUTE_CHAT ? RK_CHAT : RK_COMPLETION;
    srv_make_id(s, r->kind == RK_CHAT ? "chatcmpl-" : "cmpl-", r->id, sizeof r->id);
    atomic_fetch_add(&s->m.requests, 1);
    json_t *ej = NULL;
    const char *retry = NULL;
    int st = srv_generate_start(r, &ej, &retry);
    if (st) {
        if (st == 429) atomic_fetch_add(&s->m.rejected[REJ_QUEUE_FULL], 1);
        else if (st == 503) atomic_fetch_add(&s->m.rejected[REJ_DRAINING], 1);
        return respond_json(r, st, srv_dump(ej, NULL), retry);
    }
    registry_add(s, r);
    if (r->stream) {
        struct MHD_Response *resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024, stream_reader, r, NULL);
        if (!resp) return MHD_NO;
        MHD_add_response_header(resp, "Content-Type", "text/event-stream; charset=utf-8");
        MHD_add_response_header(resp, "Cache-Control", "no-cache");
        common_headers(r, resp);
        enum MHD_Result rc = MHD_queue_response(r->conn, MHD_HTTP_OK, resp);
        MHD_destroy_response(resp);
        count_status(s, r, 200);
        return rc;
    }
    r->stage = 1;
    pthread_mutex_lock(&r->mu);
    int done = r->n_finished_subs == r->n_subs;
    if (!done) {
        r->suspended = 1;
        MHD_suspend_connection(r->conn);
    }
    pthread_mutex_unlock(&r->mu);
    if (!done) return MHD_YES;
    char *body;
    size_t len;
    pthread_mutex_lock(&r->mu);
    int status = srv_generate_body(r, &body, &len);
    pthread_mutex_unlock(&r->mu);
    return respond(r, status, "application/json", body, len, NULL, NULL);
}

/* "Bearer <token>" -> token (trimmed), or NULL. */
static const char *bearer(struct MHD_Connection *c, size_t *len) {
    const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    if (!h) return NULL;
    while (*h == ' ' || *h == '\t') h++;
    if (strncasecmp(h, "bearer", 6) || (h[6] != ' ' && h[6] != '\t')) return NULL;
    h += 6;
    while (*h == ' ' || *h == '\t') h++;
    size_t n = strlen(h);
    while (n && (h[n - 1] == ' ' || h[n - 1] == '\t')) n--;
    if (!n) return NULL;
    *len = n;
    return h;
}

static enum MHD_Result handle(srv_req *r) {
    pg_srv *s = r->srv;
    if (r->route == ROUTE_NONE) return respond_error(r, 404, "not found", "invalid_request_error", "not_found", NULL);
    if (r->bad_method) {
        const char *allow = "GET";
        for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++)
            if (routes[i].route == r->route) allow = routes[i].method;
        return respond_error(r, 405, "method not allowed", "invalid_request_error", "method_not_allowed", allow);
    }
    int state = atomic_load(&s->state);
    int draining = atomic_load(&s->draining) || atomic_load(&s->stopping);
    if (r->route == ROUTE_HEALTH) /* liveness: the process serves HTTP */
        return respond_json(r, 200,
                            strdup(draining               ? "{\"status\":\"draining\"}"
                                   : state == SRV_LOADING ? "{\"status\":\"loading\"}"
                                   : state == SRV_READY   ? "{\"status\":\"ok\"}"
                                                          : "{\"status\":\"failed\"}"),
                            NULL);
    if (r->route == ROUTE_READY) { /* readiness: new work is accepted */
        if (state == SRV_READY && !draining) return respond_json(r, 200, strdup("{\"status\":\"ready\"}"), NULL);
        return respond_json(r, 503,
                            strdup(draining ? "{\"status\":\"draining\"}"
                                   : state == SRV_LOADING ? "{\"status\":\"loading\"}"
                                                          : "{\"status\":\"unavailable\"}"),
                            "1");
    }
    if (r->route == ROUTE_WEBUI) return respond_asset(r);
    size_t kl = 0;
    const char *key = bearer(r->conn, &kl);
    if (r->route == ROUTE_METRICS || r->route == ROUTE_STATS) {
        const char *mk = s->cfg.metrics_key;
        if (mk && *mk && !(key && srv_ct_equal(key, kl, mk, strlen(mk))))
            return respond_error(r, 401, "a valid metrics key is required (Authorization: Bearer <metrics key>)",
                                 "invalid_request_error", "invalid_api_key", NULL);
        if (r->route == ROUTE_STATS) {
            char *js = srv_stats_of_server(s);
            return js ? respond_json(r, 200, js, NULL) : respond_error(r, 500, "out of memory", "server_error", NULL, NULL);
        }
        size_t len = 0;
        char *out = srv_metrics_text(s, &len);
        if (!out) return respond_error(r, 500, "out of memory", "server_error", NULL, NULL);
        return respond(r, 200, "text/plain; version=0.0.4; charset=utf-8", out, len, NULL, NULL);
    }
    if (srv_keys_enabled(s->keys)) {
        if (!key)
            return respond_error(r, 401,
                                 "You didn't provide an API key. Send it in the Authorization header: "
                                 "'Authorization: Bearer YOUR_KEY'.",
                                 "invalid_request_error", "invalid_api_key", NULL);
        if (!srv_keys_lookup(s->keys, key, kl, &r->key_id, r->key_name, sizeof r->key_name))
            return respond_error(r, 401, "Incorrect API key provided.", "invalid_request_error", "invalid_api_key", NULL);
        r->authed = 1;
    }
    if (r->too_large) {
        char m[128];
        snprintf(m, sizeof m, "the request body is larger than %zu bytes", s->cfg.max_body_bytes);
        return respond_error(r, 413, m, "invalid_request_error", "request_too_large", NULL);
    }
    if (state != SRV_READY || draining) {
        int why = draining ? REJ_DRAINING : state == SRV_LOADING ? REJ_LOADING : REJ_UNAVAILABLE;
        atomic_fetch_add(&s->m.rejected[why], 1);
        return respond_error_retry(r, 503,
                                   why == REJ_DRAINING   ? "the server is shutting down; retry on another instance"
                                   : why == REJ_LOADING ? "the model is loading; retry shortly"
                                                        : "the server is unavailable",
                                   "server_error", why == REJ_DRAINING ? "draining" : "unavailable", "1");
    }
    int gen = r->route == ROUTE_COMPLETIONS || r->route == ROUTE_CHAT;
    if (r->authed) {
        int which = 0;
        int wait = gen ? srv_keys_admit(s->keys, r->key_id, &r->rl, &which) : 0;
        if (!gen) { /* headers only: peek without taking a request */
            srv_keys_peek(s->keys, r->key_id, &r->rl);
        }
        r->has_rl = 1;
        if (wait > 0) {
            atomic_fetch_add(&s->m.rejected[REJ_RATE_LIMIT], 1);
            char m[256], ra[16];
            snprintf(m, sizeof m, "Rate limit reached for key '%s' on %s per minute: limit %.0f. Retry in %d s.",
                     r->key_name, which == 't' ? "tokens" : "requests", which == 't' ? r->rl.lim_tok : r->rl.lim_req,
                     wait);
            snprintf(ra, sizeof ra, "%d", wait);
            return respond_error_retry(r, 429, m, "rate_limit_error",
                                       which == 't' ? "rate_limit_exceeded_tokens" : "rate_limit_exceeded", ra);
        }
    }
    char *out = NULL;
    int st;
    switch (r->route) {
    case ROUTE_MODELS: return respond_json(r, 200, srv_models_json(s), NULL);
    case ROUTE_TOKENIZE:
        st = srv_tokenize(s, r->body, r->body_len, &out);
        return respond_json(r, st, out, NULL);
    case ROUTE_DETOKENIZE:
        st = srv_detokenize(s, r->body, r->body_len, &out);
        return respond_json(r, st, out, NULL);
    default: return start_generation(r);
    }
}

static int sane_request_id(const char *v) {
    size_t n = strlen(v);
    if (n == 0 || n > 120) return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)v[i] < 0x21 || (unsigned char)v[i] > 0x7e) return 0;
    return 1;
}

static int hexn(const char *p, size_t n) {
    int nonzero = 0;
    for (size_t i = 0; i < n; i++) {
        char c = p[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return -1;
        nonzero |= c != '0';
    }
    return nonzero;
}

/* W3C trace context: keep a valid incoming trace id (version 00 layout
 * "00-<32 hex>-<16 hex>-<2 hex>"; other versions are read by that prefix),
 * else start a new trace; our span gets a fresh id. */
static void trace_init(pg_srv *s, srv_req *r) {
    const char *tp = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "traceparent");
    char flags[3] = "01";
    int ok = 0;
    if (tp && strlen(tp) >= 55 && tp[2] == '-' && tp[35] == '-' && tp[52] == '-' && hexn(tp, 2) >= 0 &&
        strncmp(tp, "ff", 2) && hexn(tp + 3, 32) == 1 && hexn(tp + 36, 16) == 1 && hexn(tp + 53, 2) >= 0 &&
        (tp[55] == 0 || (strncmp(tp, "00", 2) && tp[55] == '-'))) {
        memcpy(r->trace_id, tp + 3, 32);
        r->trace_id[32] = 0;
        flags[0] = tp[53];
        flags[1] = tp[54];
        ok = 1;
    }
    char a[64], b[64];
    if (!ok) {
        srv_make_id(s, "", a, sizeof a);
        srv_make_id(s, "", b, sizeof b);
        snprintf(r->trace_id, sizeof r->trace_id, "%.16s%.16s", a, b);
    }
    srv_make_id(s, "", a, sizeof a);
    snprintf(r->traceparent, sizeof r->traceparent, "00-%s-%.16s-%s", r->trace_id, a, flags);
}

static enum MHD_Result ahc(void *cls, struct MHD_Connection *c, const char *url, const char *method, const char *version,
                           const char *upload, size_t *upload_size, void **con_cls) {
    pg_srv *s = cls;
    srv_req *r = *con_cls;
    (void)version;
    if (!r) {
        r = req_new(s, c);
        if (!r) return MHD_NO;
        *con_cls = r;
        r->t_start = srv_now();
        for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++)
            if (!strcmp(url, routes[i].path)) {
                r->route = routes[i].route;
                r->bad_method = strcmp(method, routes[i].method) != 0;
            }
        if (!r->route && !s->cfg.no_webui && (r->asset = pg_webui_find(url))) {
            r->route = ROUTE_WEBUI;
            r->bad_method = strcmp(method, "GET") && strcmp(method, "HEAD");
        }
        const char *xid = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "x-request-id");
        if (xid && sane_request_id(xid)) snprintf(r->x_request_id, sizeof r->x_request_id, "%s", xid);
        else srv_make_id(s, "req-", r->x_request_id, sizeof r->x_request_id);
        trace_init(s, r);
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl) {
            char *end;
            errno = 0;
            unsigned long long v = strtoull(cl, &end, 10);
            if (errno || *end || v > s->cfg.max_body_bytes) {
                r->too_large = 1;
                return handle(r); /* answer before reading the body; MHD closes afterwards */
            }
        }
        return MHD_YES;
    }
    if (*upload_size) {
        if (r->stage == 0 && !r->too_large) {
            size_t need;
            if (pg_add_size(r->body_len, *upload_size, &need) < 0 || need > s->cfg.max_body_bytes) {
                r->too_large = 1;
                free(r->body);
                r->body = NULL;
                r->body_len = r->body_cap = 0;
            } else {
                if (need + 1 > r->body_cap) {
                    size_t nc = r->body_cap ? r->body_cap : 4096;
                    while (nc < need + 1) nc *= 2;
                    char *b = realloc(r->body, nc);
                    if (!b) return MHD_NO;
                    r->body = b;
                    r->body_cap = nc;
                }
                memcpy(r->body + r->body_len, upload, *upload_size);
                r->body_len = need;
                r->body[need] = 0;
            }
        }
        *upload_size = 0;
        return MHD_YES;
    }
    if (r->stage == 0) return handle(r);
    if (r->stage == 1) { /* resumed: the engine finished (or the client left) */
        pthread_mutex_lock(&r->mu);
        int done = r->n_finished_subs == r->n_subs;
        if (!done) {
            if (r->disconnected) {
                pthread_mutex_unlock(&r->mu);
                return MHD_NO; /* close now; the cancel is on its way */
            }
            r->suspended = 1;
            MHD_suspend_connection(c);
            pthread_mutex_unlock(&r->mu);
            return MHD_YES;
        }
        char *body;
        size_t len;
        int status = srv_generate_body(r, &body, &len);
        pthread_mutex_unlock(&r->mu);
        return respond(r, status, "application/json", body, len, NULL, NULL);
    }
    return MHD_YES;
}

static const char *route_path(int route) {
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++)
        if (routes[i].route == route) return routes[i].path;
    return "other";
}

static const char *finish_label(int f) {
    switch (f) {
    case PG_FINISH_STOP: return "stop";
    case PG_FINISH_LENGTH: return "length";
    case PG_FINISH_CANCELLED: return "abort";
    case PG_FINISH_TIMEOUT: return "timeout";
    default: return NULL;
    }
}

/* One structured line per finished HTTP request (probes and scrapes only
 * at debug level). Never logs the key itself, only its name. */
static void log_request(pg_srv *s, srv_req *r, int gone) {
    int quiet = r->route == ROUTE_HEALTH || r->route == ROUTE_READY || r->route == ROUTE_METRICS ||
                r->route == ROUTE_STATS || r->route == ROUTE_WEBUI;
    /* 503 (draining/loading) and 504 (a client's deadline) are expected: warn */
    int level = quiet                                        ? PG_LOG_DEBUG
                : r->status == 503 || r->status == 504       ? PG_LOG_WARN
                : r->status >= 500                           ? PG_LOG_ERROR
                                                             : PG_LOG_INFO;
    if (level < pg_log_get_level()) return;
    json_t *o = json_object();
    json_object_set_new(o, "msg", json_string("request"));
    json_object_set_new(o, "request_id", json_string(r->x_request_id));
    if (r->id[0]) json_object_set_new(o, "id", json_string(r->id));
    json_object_set_new(o, "trace_id", json_string(r->trace_id));
    json_object_set_new(o, "route", json_string(route_path(r->route)));
    json_object_set_new(o, "status", json_integer(r->status));
    if (r->authed) json_object_set_new(o, "key", json_string(r->key_name));
    pthread_mutex_lock(&r->mu);
    if (r->n_subs > 0) {
        int64_t pt = 0, ct = 0, cached = 0;
        for (int32_t i = 0; i < r->n_subs; i++) {
            pt += r->subs[i].n_prompt;
            ct += r->subs[i].completion_tokens;
            cached += r->subs[i].usage.cached_tokens;
        }
        json_object_set_new(o, "model", json_string(s->alias));
        json_object_set_new(o, "stream", json_boolean(r->stream));
        json_object_set_new(o, "prompt_tokens", json_integer(pt));
        json_object_set_new(o, "completion_tokens", json_integer(ct));
        json_object_set_new(o, "cached_tokens", json_integer(cached));
        if (r->subs[0].has_usage) {
            json_object_set_new(o, "queue_s", json_real(r->subs[0].usage.queue_s));
            json_object_set_new(o, "ttft_s", json_real(r->subs[0].usage.ttft_s));
        }
        const char *fr = r->n_finished_subs < r->n_subs ? "disconnect" : finish_label(r->first_finish);
        if (r->error_code) fr = "error";
        if (fr) json_object_set_new(o, "finish_reason", json_string(fr));
        if (r->error_code) json_object_set_new(o, "error", json_string(r->error_msg));
    }
    pthread_mutex_unlock(&r->mu);
    if (gone) json_object_set_new(o, "client_gone", json_true());
    json_object_set_new(o, "total_s", json_real(srv_now() - r->t_start));
    char *f = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (f && f[0] == '{') {
        size_t n = strlen(f);
        f[n - 1] = 0; /* members only: pg_log_json_fields adds the braces */
        pg_log_json_fields(level, f + 1);
    }
    free(f);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe) {
    pg_srv *s = cls;
    srv_req *r = *con_cls;
    (void)c;
    if (!r) return;
    *con_cls = NULL;
    registry_remove(s, r);
    int64_t ids[SRV_MAX_PROMPTS];
    int nid = 0;
    pthread_mutex_lock(&r->mu);
    r->conn_gone = 1;
    r->suspended = 0;
    for (int32_t i = 0; i < r->n_subs; i++)
        if (r->subs[i].engine_id > 0 && !r->subs[i].finished) ids[nid++] = r->subs[i].engine_id;
    int counted = r->disconnected;
    pthread_mutex_unlock(&r->mu);
    if (nid && !counted) atomic_fetch_add(&s->m.disconnects, 1);
    for (int i = 0; i < nid; i++) srv_engine_cancel(s, ids[i]);
    log_request(s, r, toe != MHD_REQUEST_TERMINATED_COMPLETED_OK);
    srv_req_unref(r);
}

/* ---------- drain support ---------- */

int srv_cancel_all(pg_srv *s) {
    /* ids collected under the locks, cancelled outside them */
    int n = 0;
    size_t nid = 0, cap = 0;
    int64_t *ids = NULL;
    pthread_mutex_lock(&s->mu);
    for (srv_req *r = s->live; r; r = r->next) {
        pthread_mutex_lock(&r->mu);
        for (int32_t j = 0; j < r->n_subs; j++) {
            if (r->subs[j].engine_id <= 0 || r->subs[j].finished) continue;
            if (nid == cap) {
                size_t nc = cap ? cap * 2 : 64;
                int64_t *b = realloc(ids, nc * sizeof *ids);
                if (!b) break;
                ids = b;
                cap = nc;
            }
            ids[nid++] = r->subs[j].engine_id;
        }
        pthread_mutex_unlock(&r->mu);
        n++;
    }
    pthread_mutex_unlock(&s->mu);
    for (size_t i = 0; i < nid; i++) srv_engine_cancel(s, ids[i]);
    free(ids);
    return n;
}

int srv_live_count(pg_srv *s) {
    int n = 0;
    pthread_mutex_lock(&s->mu);
    for (srv_req *r = s->live; r; r = r->next) n++;
    pthread_mutex_unlock(&s->mu);
    return n;
}

/* ---------- disconnect watcher ---------- */

static void *watcher_main(void *arg) {
    pg_srv *s = arg;
    struct pollfd *pf = NULL;
    uint64_t *serial = NULL;
    size_t cap = 0;
    while (!atomic_load(&s->stopping)) {
        pthread_mutex_lock(&s->mu);
        size_t n = 1;
        for (srv_req *r = s->live; r; r = r->next) n++;
        if (n > cap) {
            struct pollfd *p2 = realloc(pf, n * 2 * sizeof *pf);
            uint64_t *s2 = realloc(serial, n * 2 * sizeof *serial);
            if (p2) pf = p2;
            if (s2) serial = s2;
            if (!p2 || !s2) {
                pthread_mutex_unlock(&s->mu);
                usleep(100000);
                continue;
            }
            cap = n * 2;
        }
        pf[0].fd = s->wake[0];
        pf[0].events = POLLIN;
        n = 1;
        for (srv_req *r = s->live; r; r = r->next) {
            if (r->fd < 0 || r->disconnected) continue;
            pf[n].fd = r->fd;
            pf[n].events = POLLRDHUP;
            pf[n].revents = 0;
            serial[n] = r->serial;
            n++;
        }
        pthread_mutex_unlock(&s->mu);
        pf[0].revents = 0;
        int k = poll(pf, n, 500);
        if (k <= 0) continue;
        if (pf[0].revents) {
            char b[64];
            while (read(s->wake[0], b, sizeof b) > 0) {}
        }
        for (size_t i = 1; i < n; i++) {
            if (!(pf[i].revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL))) continue;
            int64_t ids[SRV_MAX_PROMPTS];
            int nid = 0;
            pthread_mutex_lock(&s->mu);
            for (srv_req *r = s->live; r; r = r->next) {
                if (r->serial != serial[i]) continue;
                pthread_mutex_lock(&r->mu);
                if (!r->disconnected) {
                    r->disconnected = 1;
                    for (int32_t j = 0; j < r->n_subs; j++)
                        if (r->subs[j].engine_id > 0 && !r->subs[j].finished) ids[nid++] = r->subs[j].engine_id;
                    if (r->suspended && !r->conn_gone) {
                        r->suspended = 0;
                        MHD_resume_connection(r->conn);
                    }
                }
                pthread_mutex_unlock(&r->mu);
                break;
            }
            pthread_mutex_unlock(&s->mu);
            if (nid) {
                atomic_fetch_add(&s->m.disconnects, 1);
                PG_DEBUG("client disconnected; cancelling %d engine request(s)", nid);
            }
            for (int j = 0; j < nid; j++) srv_engine_cancel(s, ids[j]);
        }
    }
    free(pf);
    free(serial);
    return NULL;
}

/* ---------- daemon ---------- */

int srv_http_start(pg_srv *s, pg_error *err) {
    if (getrandom(&s->id_key, sizeof s->id_key, 0) != (ssize_t)sizeof s->id_key) s->id_key = (uint64_t)time(NULL) ^ (uint64_t)getpid() << 32;
    if (pipe2(s->wake, O_NONBLOCK | O_CLOEXEC) < 0) return pg_error_set(err, PG_EIO, "pipe: %s", strerror(errno));
    struct addrinfo hints, *ai = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    char port[16];
    snprintf(port, sizeof port, "%d", s->cfg.port);
    int gai = getaddrinfo(s->cfg.host, port, &hints, &ai);
    if (gai || !ai) return pg_error_set(err, PG_EINVAL, "cannot resolve host '%s': %s", s->cfg.host, gai_strerror(gai));
    unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
    if (ai->ai_family == AF_INET6) flags |= MHD_USE_IPv6;
    unsigned threads = s->cfg.http_threads ? s->cfg.http_threads : 1;
    s->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, ahc, s, MHD_OPTION_SOCK_ADDR, ai->ai_addr, MHD_OPTION_THREAD_POOL_SIZE, threads,
        MHD_OPTION_CONNECTION_LIMIT, s->cfg.max_connections, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
        s->cfg.max_connections_per_ip, MHD_OPTION_CONNECTION_MEMORY_LIMIT, s->cfg.connection_memory,
        MHD_OPTION_CONNECTION_TIMEOUT, s->cfg.connection_timeout_s, MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
        MHD_OPTION_LISTENING_ADDRESS_REUSE, 1, MHD_OPTION_END);
    freeaddrinfo(ai);
    if (!s->daemon) return pg_error_set(err, PG_EIO, "cannot listen on %s:%d (address in use or not allowed?)", s->cfg.host, s->cfg.port);
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
    s->port = di ? di->port : s->cfg.port;
    snprintf(s->host, sizeof s->host, "%s", s->cfg.host);
    if (pthread_create(&s->watcher, NULL, watcher_main, s) != 0) return pg_error_set(err, PG_ENOMEM, "cannot start a thread");
    s->watcher_started = 1;
    return 0;
}

void srv_http_stop(pg_srv *s) {
    atomic_store(&s->stopping, 1);
    if (s->watcher_started) {
        char b = 1;
        ssize_t w = write(s->wake[1], &b, 1);
        (void)w;
        pthread_join(s->watcher, NULL);
        s->watcher_started = 0;
    }
    if (s->daemon) MHD_stop_daemon(s->daemon);
    s->daemon = NULL;
    if (s->wake[0] >= 0) close(s->wake[0]);
    if (s->wake[1] >= 0) close(s->wake[1]);
    s->wake[0] = s->wake[1] = -1;
}
