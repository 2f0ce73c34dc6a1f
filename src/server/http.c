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
 * resumes the connection so that MHD sees the failure and cleans up. */
#include "server/srv_internal.h"

#include "base/log.h"

#include <errno.h>
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
    ROUTE_METRICS,
    ROUTE_MODELS,
    ROUTE_COMPLETIONS,
    ROUTE_CHAT,
    ROUTE_TOKENIZE,
    ROUTE_DETOKENIZE,
};

static const struct {
    const char *path;
    const char *method;
    int route;
} routes[] = {
    {"/health", "GET", ROUTE_HEALTH},
    {"/metrics", "GET", ROUTE_METRICS},
    {"/v1/models", "GET", ROUTE_MODELS},
    {"/v1/completions", "POST", ROUTE_COMPLETIONS},
    {"/v1/chat/completions", "POST", ROUTE_CHAT},
    {"/tokenize", "POST", ROUTE_TOKENIZE},
    {"/detokenize", "POST", ROUTE_DETOKENIZE},
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
    MHD_add_response_header(resp, "x-request-id", r->x_request_id);
    if (retry_after) MHD_add_response_header(resp, "Retry-After", retry_after);
    if (allow) MHD_add_response_header(resp, "Allow", allow);
    enum MHD_Result rc = MHD_queue_response(r->conn, (unsigned)status, resp);
    MHD_destroy_response(resp);
    r->stage = 2;
    atomic_fetch_add(&s->n_http, 1);
    if (status < 400) atomic_fetch_add(&s->n_ok, 1);
    else if (status == 429) atomic_fetch_add(&s->n_429, 1);
    else if (status < 500) atomic_fetch_add(&s->n_4xx, 1);
    else atomic_fetch_add(&s->n_5xx, 1);
    if (status >= 500) PG_ERROR("http %d for request %s", status, r->x_request_id);
    else PG_DEBUG("http %d for request %s", status, r->x_request_id);
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

/* ---------- /metrics ---------- */

static char *metrics_text(pg_srv *s, size_t *len) {
    pg_engine_stats st;
    memset(&st, 0, sizeof st);
    pthread_rwlock_rdlock(&s->engine_lock);
    if (s->engine_alive) pg_engine_stats_get(s->engine, &st);
    pthread_rwlock_unlock(&s->engine_lock);
    char *buf = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&buf, &n);
    if (!f) return NULL;
    const char *m = s->alias;
#define G(name, help, type, fmt, val)                                                                              \
    fprintf(f, "# HELP pagoda:" name " " help "\n# TYPE pagoda:" name " " type "\npagoda:" name "{model_name=\"%s\"} " fmt "\n", \
            m, val)
    G("num_requests_running", "Requests in the running batch.", "gauge", "%d", st.running);
    G("num_requests_waiting", "Requests waiting to be scheduled.", "gauge", "%d", st.waiting);
    G("kv_cache_usage_perc", "Fraction of KV-cache blocks in use (0..1).", "gauge", "%.6f", st.kv_usage);
    G("kv_blocks_total", "KV-cache blocks in the pool.", "gauge", "%d", st.kv_blocks_total);
    G("kv_blocks_used", "KV-cache blocks held by requests.", "gauge", "%d", st.kv_blocks_used);
    G("kv_blocks_free", "KV-cache blocks allocatable (free or cached).", "gauge", "%d", st.kv_blocks_total - st.kv_blocks_used);
    G("kv_blocks_cached", "Unused KV-cache blocks kept for prefix reuse.", "gauge", "%d", st.kv_blocks_cached);
    G("prefix_cache_queries_total", "Prompt tokens looked up in the prefix cache.", "counter", "%llu",
      (unsigned long long)st.prefix_queries);
    G("prefix_cache_hits_total", "Prompt tokens served from the prefix cache.", "counter", "%llu",
      (unsigned long long)st.prefix_hits);
    G("num_preemptions_total", "Requests preempted (recomputed later).", "counter", "%llu", (unsigned long long)st.preemptions);
    G("engine_steps_total", "Engine steps run.", "counter", "%llu", (unsigned long long)st.steps);
    G("prompt_tokens_total", "Prompt tokens processed.", "counter", "%llu", (unsigned long long)st.prompt_tokens);
    G("generation_tokens_total", "Tokens generated.", "counter", "%llu", (unsigned long long)st.generated_tokens);
    G("http_requests_total", "HTTP responses sent.", "counter", "%llu", (unsigned long long)atomic_load(&s->n_http));
    G("http_requests_4xx_total", "HTTP responses with a 4xx status other than 429.", "counter", "%llu",
      (unsigned long long)atomic_load(&s->n_4xx));
    G("http_requests_429_total", "Requests refused because the engine queue was full.", "counter", "%llu",
      (unsigned long long)atomic_load(&s->n_429));
    G("http_requests_5xx_total", "HTTP responses with a 5xx status.", "counter", "%llu", (unsigned long long)atomic_load(&s->n_5xx));
    G("client_disconnects_total", "Requests cancelled because their client went away.", "counter", "%llu",
      (unsigned long long)atomic_load(&s->n_cancel_disconnect));
#undef G
    fprintf(f, "# HELP pagoda:request_success_total Finished choices by finish reason.\n# TYPE pagoda:request_success_total counter\n");
    fprintf(f, "pagoda:request_success_total{model_name=\"%s\",finished_reason=\"stop\"} %llu\n", m,
            (unsigned long long)atomic_load(&s->fin_stop));
    fprintf(f, "pagoda:request_success_total{model_name=\"%s\",finished_reason=\"length\"} %llu\n", m,
            (unsigned long long)atomic_load(&s->fin_length));
    fprintf(f, "pagoda:request_success_total{model_name=\"%s\",finished_reason=\"abort\"} %llu\n", m,
            (unsigned long long)atomic_load(&s->fin_cancel));
    fprintf(f, "pagoda:request_success_total{model_name=\"%s\",finished_reason=\"error\"} %llu\n", m,
            (unsigned long long)atomic_load(&s->fin_error));
    fclose(f);
    *len = n;
    return buf;
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

static enum MHD_Result start_generation(srv_req *r) {
    pg_srv *s = r->srv;
    r->kind = r->route == ROUTE_CHAT ? RK_CHAT : RK_COMPLETION;
    srv_make_id(s, r->kind == RK_CHAT ? "chatcmpl-" : "cmpl-", r->id, sizeof r->id);
    json_t *ej = NULL;
    const char *retry = NULL;
    int st = srv_generate_start(r, &ej, &retry);
    if (st) return respond_json(r, st, srv_dump(ej, NULL), retry);
    registry_add(s, r);
    if (r->stream) {
        struct MHD_Response *resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024, stream_reader, r, NULL);
        if (!resp) return MHD_NO;
        MHD_add_response_header(resp, "Content-Type", "text/event-stream; charset=utf-8");
        MHD_add_response_header(resp, "Cache-Control", "no-cache");
        MHD_add_response_header(resp, "x-request-id", r->x_request_id);
        enum MHD_Result rc = MHD_queue_response(r->conn, MHD_HTTP_OK, resp);
        MHD_destroy_response(resp);
        r->stage = 2;
        atomic_fetch_add(&s->n_http, 1);
        atomic_fetch_add(&s->n_ok, 1);
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

static enum MHD_Result handle(srv_req *r) {
    pg_srv *s = r->srv;
    if (r->route == ROUTE_NONE) return respond_error(r, 404, "not found", "invalid_request_error", "not_found", NULL);
    if (r->bad_method) {
        const char *allow = "GET";
        for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++)
            if (routes[i].route == r->route) allow = routes[i].method;
        return respond_error(r, 405, "method not allowed", "invalid_request_error", "method_not_allowed", allow);
    }
    if (r->too_large) {
        char m[128];
        snprintf(m, sizeof m, "the request body is larger than %zu bytes", s->cfg.max_body_bytes);
        return respond_error(r, 413, m, "invalid_request_error", "request_too_large", NULL);
    }
    int state = atomic_load(&s->state);
    if (r->route == ROUTE_HEALTH) {
        if (state == SRV_READY && !atomic_load(&s->stopping)) return respond_json(r, 200, strdup("{\"status\":\"ok\"}"), NULL);
        return respond_json(r, 503, strdup(state == SRV_LOADING ? "{\"status\":\"loading\"}" : "{\"status\":\"unavailable\"}"),
                            "1");
    }
    if (state != SRV_READY || atomic_load(&s->stopping))
        return respond_error(r, 503, state == SRV_LOADING ? "the model is loading" : "the server is shutting down",
                             "server_error", "unavailable", NULL);
    char *out = NULL;
    size_t len = 0;
    int st;
    switch (r->route) {
    case ROUTE_METRICS:
        out = metrics_text(s, &len);
        if (!out) return respond_error(r, 500, "out of memory", "server_error", NULL, NULL);
        return respond(r, 200, "text/plain; version=0.0.4; charset=utf-8", out, len, NULL, NULL);
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

static enum MHD_Result ahc(void *cls, struct MHD_Connection *c, const char *url, const char *method, const char *version,
                           const char *upload, size_t *upload_size, void **con_cls) {
    pg_srv *s = cls;
    srv_req *r = *con_cls;
    (void)version;
    if (!r) {
        r = req_new(s, c);
        if (!r) return MHD_NO;
        *con_cls = r;
        for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++)
            if (!strcmp(url, routes[i].path)) {
                r->route = routes[i].route;
                r->bad_method = strcmp(method, routes[i].method) != 0;
            }
        const char *xid = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "x-request-id");
        if (xid && sane_request_id(xid)) snprintf(r->x_request_id, sizeof r->x_request_id, "%s", xid);
        else srv_make_id(s, "req-", r->x_request_id, sizeof r->x_request_id);
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
    pthread_mutex_unlock(&r->mu);
    if (nid) {
        PG_INFO("request %s: client gone (termination %d), cancelling", r->x_request_id, (int)toe);
        atomic_fetch_add(&s->n_cancel_disconnect, 1);
    }
    for (int i = 0; i < nid; i++) srv_engine_cancel(s, ids[i]);
    srv_req_unref(r);
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
                atomic_fetch_add(&s->n_cancel_disconnect, 1);
                PG_INFO("client disconnected; cancelling %d engine request(s)", nid);
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
