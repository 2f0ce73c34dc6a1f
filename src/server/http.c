/* http.c - the HTTP front: the only file that knows libmicrohttpd.
 *
 * Request path (one generation request):
 *
 *   socket -> MHD -> ahc(): route row, body collected, admission
 *       |                 (probes, /metrics key, API key 401, body 413,
 *       |                  loading/draining 503, per-key rate 429)
 *       v
 *   adapter->parse (openai_parse.c ...): JSON -> srv_gen + adapter state
 *       v
 *   request core (request.c): srv_req_submit -> engine (pg_engine_submit)
 *       v
 *   engine thread: events -> the core's per-request queue -> wake(conn)
 *       v                     (srv_http_conn_wake below resumes the connection)
 *   adapter->body / adapter->stream (openai_format.c): events -> a JSON
 *       body, or SSE frames into this connection's reused buffer
 *       v
 *   MHD -> socket (whole response, or chunked via stream_reader)
 *
 * A new protocol (Anthropic Messages, Responses, Ollama) is an adapter
 * (src/server/<proto>_parse.c + <proto>_format.c implementing
 * adapter.h) plus rows in srv_routes[] (http_routes.c); nothing else here changes. A
 * route row is a path, a method and what serves it: a probe, /metrics, a
 * simple JSON endpoint (endpoints.h), an adapter, or the embedding queue
 * (embed_api.h: /v1/embeddings, /v1/rerank). /v1/stats (stats.h) is
 * answered beside /metrics under the same key; a path in no row may be a
 * file of the embedded web UI (webui.h: /, /dashboard, /webui/...), served
 * without a key right after the probes (off with --no-webui).
 *
 * The daemon runs MHD_USE_EPOLL_INTERNAL_THREAD with a small worker pool
 * and MHD_ALLOW_SUSPEND_RESUME. After submit:
 *   - non-streaming: the connection is suspended; the core's wake-up
 *     (every submission over) resumes it; ahc runs again and queues the
 *     adapter's body;
 *   - streaming: a chunked response whose reader (stream_reader) asks the
 *     adapter for frames of the pending events; with none, it suspends the
 *     connection until the core's next wake-up, so tokens leave one by one.
 * Suspend and resume both happen under the request's mutex, and resume
 * only when `suspended` is set (cleared by whoever resumes), so every
 * MHD_resume_connection follows its suspend.
 *
 * Embeddings and reranking: the body goes to the embedding queue
 * (embed_api.h), whose worker threads run the embedder and format the
 * body; the connection is suspended meanwhile and resumed by the job's
 * wake-up, exactly like a non-streaming generation (the job's mutex plays
 * the request's part). Such connections are in the registry too, so the
 * watcher cancels the job of a client that hangs up and the drain waits
 * for them.
 *
 * Disconnects: MHD reports a failed connection through NOTIFY_COMPLETED
 * (-> srv_req_detach cancels); suspended connections are watched by the
 * watcher thread (http_core.c). Everything here that does not call the
 * library (registry, parse workers, connection tracking and limits,
 * receive deadlines, the watcher, drain support, the listening socket,
 * trace context) is in http_core.c.
 *
 * Every response carries x-request-id, traceparent (W3C: incoming trace id
 * kept, our span id) and, for keys with limits, the x-ratelimit-* headers.
 * NOTIFY_COMPLETED writes one structured log line per request (README:
 * production). Lock order: the registry (h->mu), a request's mutex, the
 * key set's. */
#include "server/http.h"

#include "base/log.h"
#include "server/anthropic_format.h"
#include "server/endpoints.h"
#include "server/ollama.h"
#include "server/openai_format.h"
#include "server/responses.h"
#include "server/otlp.h"
#include "server/usage.h"
#include "server/stats.h"
#include "server/webui.h"
#include "server/http_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <math.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <microhttpd.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* ---------- the routing table ---------- */


/* a request that held this much (body, output buffer, answer) trims the heap after it */
#define TRIM_BYTES ((size_t)1 << 20)

/* ---------- objects ---------- */

static hconn *conn_new(srv_http *h, struct MHD_Connection *c) {
    hconn *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    r->h = h;
    r->conn = c;
    r->fd = -1;
    r->serial = srv_next_serial(h->env.ids);
    return r;
}

/* The core's wake-up (under the request's mutex). */
void srv_http_conn_wake(void *arg) {
    hconn *r = arg;
    if (r->suspended && !r->gone) {
        r->suspended = 0;
        MHD_resume_connection(r->conn);
    }
}

static int conn_fd(struct MHD_Connection *c) {
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    return ci ? ci->connect_fd : -1;
}

/* Under the request's mutex. */
static void conn_suspend(hconn *r) {
    r->suspended = 1;
    MHD_suspend_connection(r->conn);
}

/* ---------- responses ---------- */

/* One x-ratelimit-{limit,remaining,reset}-WHAT triple, for a set limit. */
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
    srv_http_fmt_dur(b, sizeof b, reset_s);
    MHD_add_response_header(resp, name, b);
}

static void common_headers(hconn *r, struct MHD_Response *resp) {
    MHD_add_response_header(resp, "x-request-id", r->x_request_id);
    MHD_add_response_header(resp, "x-pagoda-replica", r->h->replica);
    if (r->cors) {
        MHD_add_response_header(resp, "Access-Control-Allow-Origin", r->cors);
        MHD_add_response_header(resp, "Access-Control-Expose-Headers",
                                "x-request-id, traceparent, x-pagoda-replica, x-ratelimit-limit-requests, "
                                "x-ratelimit-remaining-requests, x-ratelimit-reset-requests, x-ratelimit-limit-tokens, "
                                "x-ratelimit-remaining-tokens, x-ratelimit-reset-tokens, Retry-After");
        if (strcmp(r->cors, "*")) MHD_add_response_header(resp, "Vary", "Origin");
    }
    if (r->traceparent[0]) MHD_add_response_header(resp, "traceparent", r->traceparent);
    if (!r->has_rl) return;
    const srv_rl *l = &r->rl;
    rl_headers(resp, "requests", l->lim_req, l->rem_req, l->reset_req_s);
    rl_headers(resp, "tokens", l->lim_tok, l->rem_tok, l->reset_tok_s);
}

/* Queues body (malloc'd, taken) with the common headers. */
static enum MHD_Result respond(hconn *r, int status, const char *ctype, char *body, size_t len, const char *retry_after,
                               const char *allow) {
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
    if (r->close_after || (status == 503 && atomic_load(r->h->env.draining)))
        MHD_add_response_header(resp, "Connection", "close");
    enum MHD_Result rc = MHD_queue_response(r->conn, (unsigned)status, resp);
    MHD_destroy_response(resp);
    srv_http_count_status(r, status);
    if (status >= 500 && status != 501 && status != 503 && status != 504) PG_ERROR("http %d for request %s", status, r->x_request_id);
    return rc;
}

static enum MHD_Result respond_json(hconn *r, int status, char *body, const char *retry_after) {
    return respond(r, status, "application/json", body, body ? strlen(body) : 0, retry_after, NULL);
}

/* An error in the route's protocol shape (OpenAI's where there is none). */
static enum MHD_Result respond_error(hconn *r, int status, const char *msg, const char *type, const char *code,
                                     const char *retry, const char *allow) {
    size_t len = 0;
    const srv_adapter *ad = r->rt ? r->rt->ad : r->miss_ad;
    char *b = ad ? ad->error(status, msg, type, code, &len) : srv_dump(srv_error_json(msg, type, NULL, code), &len);
    return respond(r, status, "application/json", b, b ? len : 0, retry, allow);
}

/* ---------- generation ---------- */

/* Streaming body: frames of the pending events, or a suspend until the
 * next wake-up. */
static ssize_t stream_reader(void *cls, uint64_t pos, char *buf, size_t max) {
    hconn *r = cls;
    const srv_adapter *ad = r->rt->ad;
    (void)pos;
    srv_req_lock(r->req);
    if (r->out_off == r->out.len && !r->stream_ended) {
        /* all taken so far is with MHD now: a request paused for this
         * client (backpressure) goes on */
        srv_req_resume(r->req);
        r->out_off = r->out.len = 0;
        if (ad->stream(r->h->env.ctx, r->ast, r->req, &r->out)) r->stream_ended = 1;
        srv_req_consume(r->req);
    }
    if (r->out.err) {
        srv_req_unlock(r->req);
        PG_ERROR("request %s: out of memory while streaming", r->x_request_id);
        return MHD_CONTENT_READER_END_WITH_ERROR;
    }
    if (r->out_off < r->out.len) {
        size_t n = r->out.len - r->out_off;
        if (n > max) n = max;
        memcpy(buf, r->out.p + r->out_off, n);
        r->out_off += n;
        srv_req_unlock(r->req);
        return (ssize_t)n;
    }
    if (r->stream_ended || r->disconnected) {
        int ended = r->stream_ended;
        srv_req_unlock(r->req);
        return ended ? MHD_CONTENT_READER_END_OF_STREAM : MHD_CONTENT_READER_END_WITH_ERROR;
    }
    conn_suspend(r);
    srv_req_unlock(r->req);
    return 0;
}

/* An embedding / rerank job: its body once done, else suspend (or close
 * when the client left). */
static enum MHD_Result ejob_body_or_wait(hconn *r) {
    srv_ejob_lock(r->ejob);
    if (!srv_ejob_done(r->ejob)) {
        if (r->disconnected) {
            srv_ejob_unlock(r->ejob);
            return MHD_NO;
        }
        conn_suspend(r);
        srv_ejob_unlock(r->ejob);
        return MHD_YES;
    }
    char *body;
    size_t len;
    int status = srv_ejob_take_body(r->ejob, &body, &len);
    srv_ejob_unlock(r->ejob);
    return respond(r, status, "application/json", body, len, status == 503 ? "1" : NULL, NULL);
}

/* Non-streaming 200 body in parts (adapter->body_part): each part is
 * formatted into the connection's reused buffer only once MHD has taken
 * the previous one, so the body is never whole in memory (chunked
 * transfer; HTTP/1.0 clients get it until the close). A body that fits in
 * the first part is sent whole with a Content-Length, as before. */
#define BODY_PART (64 * 1024)
static ssize_t body_reader(void *cls, uint64_t pos, char *buf, size_t max) {
    hconn *r = cls;
    (void)pos;
    srv_req_lock(r->req);
    if (r->out_off == r->out.len && !r->stream_ended) {
        r->out_off = r->out.len = 0;
        int rc = r->rt->ad->body_part(r->h->env.ctx, r->ast, r->req, &r->out, BODY_PART);
        if (rc < 0) {
            srv_req_unlock(r->req);
            PG_ERROR("request %s: out of memory while writing the body", r->x_request_id);
            return MHD_CONTENT_READER_END_WITH_ERROR;
        }
        r->stream_ended = rc == 1;
    }
    size_t n = r->out.len - r->out_off;
    if (n == 0) {
        srv_req_unlock(r->req);
        return MHD_CONTENT_READER_END_OF_STREAM;
    }
    if (n > max) n = max;
    memcpy(buf, r->out.p + r->out_off, n);
    r->out_off += n;
    r->sent_bytes += n;
    if (r->sent_bytes >= TRIM_BYTES) r->big = 1;
    srv_req_unlock(r->req);
    return (ssize_t)n;
}

/* Non-streaming: the whole body once done, else suspend (or close when
 * the client left). */
static enum MHD_Result body_or_wait(hconn *r) {
    if (r->ejob) return ejob_body_or_wait(r);
    srv_req_lock(r->req);
    if (!srv_req_done(r->req)) {
        if (r->disconnected) {
            srv_req_unlock(r->req);
            return MHD_NO; /* close now; the cancel is on its way */
        }
        conn_suspend(r);
        srv_req_unlock(r->req);
        return MHD_YES;
    }
    if (r->rt->ad->body_part && !srv_req_error(r->req, NULL)) {
        /* the first part; a body that fits in it keeps a Content-Length */
        srv_buf_free(&r->out);
        r->out_off = 0;
        int rc = r->rt->ad->body_part(r->h->env.ctx, r->ast, r->req, &r->out, BODY_PART);
        srv_req_unlock(r->req);
        if (rc < 0) return respond_error(r, 500, "out of memory", "server_error", NULL, NULL, NULL);
        if (rc == 1) {
            char *b = r->out.p;
            size_t n = r->out.len;
            memset(&r->out, 0, sizeof r->out);
            return respond(r, 200, "application/json", b, n, NULL, NULL);
        }
        struct MHD_Response *resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024, body_reader, r, NULL);
        if (!resp) return MHD_NO;
        MHD_add_response_header(resp, "Content-Type", "application/json");
        common_headers(r, resp);
        enum MHD_Result mrc = MHD_queue_response(r->conn, MHD_HTTP_OK, resp);
        MHD_destroy_response(resp);
        srv_http_count_status(r, 200);
        return mrc;
    }
    char *body;
    size_t len;
    int status = r->rt->ad->body(r->h->env.ctx, r->ast, r->req, &body, &len);
    srv_req_unlock(r->req);
    return respond(r, status, "application/json", body, len, NULL, NULL);
}

static enum MHD_Result submit_failed(hconn *r, int rc, const pg_error *e) {
    srv_pmetrics *m = srv_http_pm(r);
    int st = srv_status_for(rc);
    if (st == 429) atomic_fetch_add(&m->rejected[REJ_QUEUE_FULL], 1);
    else if (st == 503) atomic_fetch_add(&m->rejected[REJ_DRAINING], 1);
    if (st >= 500 && st != 503) PG_ERROR("engine rejected a request: %s", e->msg);
    return respond_error(r, st, e->msg[0] ? e->msg : "the request was rejected",
                         st == 429 ? "rate_limit_error" : st >= 500 ? "server_error" : "invalid_request_error",
                         st == 429 ? "server_busy" : st == 503 ? "draining" : NULL,
                         rc == PG_EBUSY || rc == PG_ECANCELED ? "1" : NULL, NULL);
}

/* ---------- parse workers ---------- */

static enum MHD_Result after_parse(hconn *r);

static enum MHD_Result start_generation(hconn *r) {
    srv_http *h = r->h;
    r->req = srv_req_create(h->env.core);
    if (!r->req) return respond_error(r, 500, "out of memory", "server_error", NULL, NULL, NULL);
    if (r->authed) srv_req_set_caller(r->req, r->key_id);
    srv_req_set_protocol(r->req, r->rt->proto);
    pthread_mutex_lock(&h->pmu);
    int here = !h->n_pw || h->pq_stop; /* no workers, or stopping: parse here */
    if (!here) h->n_parsing++;         /* holds the workers until it is queued */
    pthread_mutex_unlock(&h->pmu);
    if (here) {
        srv_caller who = {r->authed, r->key_id};
        r->parse_st = r->rt->ad->parse(h->env.ctx, &who, r->body, r->body_len, r->req, &r->ast, &r->fail);
        return after_parse(r);
    }
    r->stage = 3;
    srv_req_lock(r->req);
    conn_suspend(r); /* before the worker can resume it */
    srv_req_unlock(r->req);
    pthread_mutex_lock(&h->pmu);
    r->pq_next = NULL;
    if (h->pq_tail) h->pq_tail->pq_next = r;
    else h->pq_head = r;
    h->pq_tail = r;
    pthread_cond_signal(&h->pcv);
    pthread_mutex_unlock(&h->pmu);
    return MHD_YES;
}

/* The parse is over (MHD thread): its error, or submit and respond. */
static enum MHD_Result after_parse(hconn *r) {
    srv_http *h = r->h;
    const srv_adapter *ad = r->rt->ad;
    int st = r->parse_st;
    if (st) {
        if (st == 429) atomic_fetch_add(&srv_http_pm(r)->rejected[REJ_QUEUE_FULL], 1);
        else if (st == 503) atomic_fetch_add(&srv_http_pm(r)->rejected[REJ_DRAINING], 1);
        srv_fail f = r->fail;
        memset(&r->fail, 0, sizeof r->fail);
        return respond(r, st, "application/json", f.body, f.len, f.retry_after, NULL);
    }
    atomic_fetch_add(&srv_http_pm(r)->requests, 1);
    r->stream = srv_req_gen(r->req)->stream;
    srv_req_set_wake(r->req, srv_http_conn_wake, r);
    if (r->stream) srv_req_set_max_unsent(r->req, h->env.cfg->max_unsent_bytes);
    pg_error e = {0};
    int rc = srv_req_submit(r->req, &e);
    if (rc < 0) return submit_failed(r, rc, &e);
    srv_http_registry_add(h, r, conn_fd(r->conn));
    if (r->stream) {
        struct MHD_Response *resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024, stream_reader, r, NULL);
        if (!resp) return MHD_NO;
        MHD_add_response_header(resp, "Content-Type", ad->stream_content_type);
        MHD_add_response_header(resp, "Cache-Control", "no-cache");
        common_headers(r, resp);
        enum MHD_Result mrc = MHD_queue_response(r->conn, MHD_HTTP_OK, resp);
        MHD_destroy_response(resp);
        srv_http_count_status(r, 200);
        return mrc;
    }
    r->stage = 1;
    return body_or_wait(r);
}

/* /v1/embeddings, /v1/rerank: parse and queue (embed_api.h), then wait
 * suspended for the job's wake-up. */
static enum MHD_Result start_embed(hconn *r) {
    srv_http *h = r->h;
    srv_caller who = {r->authed, r->key_id};
    srv_fail f;
    /* the body goes to the job (parsed on its worker) */
    int kind = r->rt->ad && r->rt->ad->ejob_kind ? r->rt->ad->ejob_kind
               : r->rt->kind == RT_EMBED          ? SRV_EJ_EMBED : SRV_EJ_RERANK;
    int st = srv_ejob_start(*h->env.embq, kind, &who, &r->body,
                            r->body_len, srv_http_conn_wake, r, &r->ejob, &f);
    if (!r->body) r->body_len = r->body_cap = 0;
    if (st) {
        if (st == 429) atomic_fetch_add(&srv_http_pm(r)->rejected[REJ_QUEUE_FULL], 1);
        else if (st == 503) atomic_fetch_add(&srv_http_pm(r)->rejected[REJ_DRAINING], 1);
        return respond(r, st, "application/json", f.body, f.len, f.retry_after, NULL);
    }
    srv_http_registry_add(h, r, conn_fd(r->conn));
    r->stage = 1;
    return ejob_body_or_wait(r);
}

/* ---------- admission ---------- */

/* The request's key (http_core.c: "Authorization: Bearer", else x-api-key). */
static const char *bearer(struct MHD_Connection *c, size_t *len) {
    return srv_http_request_key(MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION),
                                MHD_lookup_connection_value(c, MHD_HEADER_KIND, "x-api-key"), len);
}

/* /health (liveness) and /ready (readiness): no key needed. */
static enum MHD_Result probe(hconn *r, int state, int draining) {
    const srv_http_env *env = &r->h->env;
    if (r->rt->kind == RT_HEALTH) /* liveness: the process serves HTTP */
        return respond_json(r, 200,
                            draining               ? strdup("{\"status\":\"draining\"}")
                            : state == SRV_LOADING ? srv_http_loading_body(env)
                            : state == SRV_READY   ? strdup("{\"status\":\"ok\"}")
                                                   : strdup("{\"status\":\"failed\"}"),
                            NULL);
    if (state == SRV_READY && !draining) return respond_json(r, 200, strdup("{\"status\":\"ready\"}"), NULL);
    return respond_json(r, 503,
                        draining               ? strdup("{\"status\":\"draining\"}")
                        : state == SRV_LOADING ? srv_http_loading_body(env)
                                               : strdup("{\"status\":\"unavailable\"}"),
                        "1");
}

/* An embedded web UI file (webui.h): static bytes, its headers (CSP,
 * ETag, Cache-Control), 304 without a body when If-None-Match matches. */
static enum MHD_Result respond_asset(hconn *r) {
    const pg_asset *a = r->asset;
    const char *inm = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_IF_NONE_MATCH);
    int fresh = pg_webui_etag_match(inm, a->etag);
    struct MHD_Response *resp = MHD_create_response_from_buffer(fresh ? 0 : a->len, (void *)a->data, MHD_RESPMEM_PERSISTENT);
    if (!resp) return MHD_NO;
    const char *hd[16][2];
    int nh = pg_webui_headers(a, hd, 16);
    for (int i = 0; i < nh; i++) MHD_add_response_header(resp, hd[i][0], hd[i][1]);
    common_headers(r, resp);
    int status = fresh ? MHD_HTTP_NOT_MODIFIED : MHD_HTTP_OK;
    enum MHD_Result rc = MHD_queue_response(r->conn, (unsigned)status, resp);
    MHD_destroy_response(resp);
    srv_http_count_status(r, status);
    return rc;
}

/* /metrics (Prometheus text) and /v1/stats (JSON): the metrics key when
 * one is set. */
static enum MHD_Result metrics(hconn *r, const char *key, size_t kl) {
    const srv_http_env *env = &r->h->env;
    const char *mk = env->cfg->metrics_key;
    if (mk && *mk && !(key && srv_ct_equal(key, kl, mk, strlen(mk))))
        return respond_error(r, 401, "a valid metrics key is required (Authorization: Bearer <metrics key>)",
                             "invalid_request_error", "invalid_api_key", NULL, NULL);
    pg_engine_stats st;
    memset(&st, 0, sizeof st);
    if (env->stats) env->stats(env->stats_arg, &st);
    if (r->rt->kind == RT_STATS) {
        char *js = srv_http_stats_body(r->h, &st);
        return js ? respond_json(r, 200, js, NULL) : respond_error(r, 500, "out of memory", "server_error", NULL, NULL, NULL);
    }
    int draining = atomic_load(env->draining);
    size_t len = 0;
    char *out = srv_metrics_text(env->metrics, env->ctx->alias, &st, draining, &len);
    if (out && env->usage) srv_usage_metrics(env->usage, &out, &len); /* out of memory: left out */
    if (out && env->otlp) srv_otlp_metrics(env->otlp, env->ctx->alias ? env->ctx->alias : "", &out, &len);
    if (!out) return respond_error(r, 500, "out of memory", "server_error", NULL, NULL, NULL);
    return respond(r, 200, "text/plain; version=0.0.4; charset=utf-8", out, len, NULL, NULL);
}

/* GET /v1/usage?since=&until=&group_by=key|model (usage.h): only with the
 * admin key (--admin-key); without one configured the route is refused. */
static enum MHD_Result usage_report(hconn *r, const char *key, size_t kl) {
    const srv_http_env *env = &r->h->env;
    const char *ak = env->cfg->admin_key;
    if (!ak || !*ak)
        return respond_error(r, 403, "GET /v1/usage needs an admin key: start the server with --admin-key KEY",
                             "invalid_request_error", "admin_key_not_configured", NULL, NULL);
    if (!key || !srv_ct_equal(key, kl, ak, strlen(ak)))
        return respond_error(r, 401, "GET /v1/usage needs the admin key (Authorization: Bearer <admin key>)",
                             "invalid_request_error", "invalid_api_key", NULL, NULL);
    if (!env->usage) return respond_error(r, 503, "usage accounting is not available", "server_error", NULL, NULL, NULL);
    char *out = NULL;
    struct MHD_Connection *c = r->conn;
    int st = srv_usage_query(env->usage, (int64_t)time(NULL), MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "since"),
                             MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "until"),
                             MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "group_by"), &out);
    if (!out) return respond_error(r, 500, "out of memory", "server_error", NULL, NULL, NULL);
    return respond_json(r, st, out, NULL);
}

/* Per-key rate limit: generation takes a request from the bucket, other
 * routes only read it for the headers. MHD_YES/NO when answered (429),
 * -1 to go on. */
static int rate_limit(hconn *r, enum MHD_Result *res) {
    srv_http *h = r->h;
    int gen = r->rt->kind == RT_GENERATE || r->rt->kind == RT_EMBED || r->rt->kind == RT_RERANK;
    int which = 0;
    int wait = gen ? srv_keys_admit(h->env.keys, r->key_id, &r->rl, &which) : 0;
    if (!gen) srv_keys_peek(h->env.keys, r->key_id, &r->rl);
    r->has_rl = 1;
    if (wait <= 0) return -1;
    atomic_fetch_add(&srv_http_pm(r)->rejected[REJ_RATE_LIMIT], 1);
    char m[256], ra[16];
    snprintf(m, sizeof m, "Rate limit reached for key '%s' on %s per minute: limit %.0f. Retry in %d s.", r->key_name,
             which == 't' ? "tokens" : "requests", which == 't' ? r->rl.lim_tok : r->rl.lim_req, wait);
    snprintf(ra, sizeof ra, "%d", wait);
    *res = respond_error(r, 429, m, "rate_limit_error", which == 't' ? "rate_limit_exceeded_tokens" : "rate_limit_exceeded",
                         ra, NULL);
    return 0;
}

/* OPTIONS: the preflight answer, before authentication (browsers send no
 * credentials in a preflight). 204 with Allow always; the
 * Access-Control-Allow-* headers only for an allowed origin. */
static enum MHD_Result preflight(hconn *r) {
    char allow[32];
    const char *more = r->rt->kind == RT_RESPONSE ? ", HEAD, DELETE" : strcmp(r->rt->method, "GET") ? "" : ", HEAD";
    snprintf(allow, sizeof allow, "%s%s, OPTIONS", r->rt->method, more); /* RT_RESPONSE: the GET row matched */
    struct MHD_Response *resp = MHD_create_response_from_buffer(0, (char *)"", MHD_RESPMEM_PERSISTENT);
    if (!resp) return MHD_NO;
    common_headers(r, resp);
    MHD_add_response_header(resp, "Allow", allow);
    if (r->cors) {
        MHD_add_response_header(resp, "Access-Control-Allow-Methods", allow);
        MHD_add_response_header(resp, "Access-Control-Allow-Headers",
                                "Authorization, Content-Type, x-request-id, traceparent, OpenAI-Organization, "
                                "OpenAI-Project, x-stainless-arch, x-stainless-lang, x-stainless-os, "
                                "x-stainless-package-version, x-stainless-retry-count, x-stainless-runtime, "
                                "x-stainless-runtime-version, x-stainless-timeout, x-api-key, anthropic-version, anthropic-beta, "
                                "anthropic-dangerous-direct-browser-access");
        MHD_add_response_header(resp, "Access-Control-Max-Age", "600");
    }
    enum MHD_Result rc = MHD_queue_response(r->conn, 204, resp);
    MHD_destroy_response(resp);
    srv_http_count_status(r, 204);
    return rc;
}

/* A body's parse cost, bounded before any JSON tree is built: at most
 * --max-json-values values (413) and SRV_MAX_JSON_DEPTH levels (400).
 * MHD_YES/NO when answered, -1 to go on. */
static int json_bounds(hconn *r, enum MHD_Result *res) {
    size_t nv = 0;
    int depth = 0;
    size_t maxv = r->h->env.cfg->max_json_values;
    int rc = srv_json_prescan(r->body ? r->body : "", r->body_len, maxv, SRV_MAX_JSON_DEPTH, &nv, &depth);
    if (rc == 0) return -1;
    char m[200];
    if (rc == -1) {
        snprintf(m, sizeof m, "the request body has more than %zu JSON values (the server's --max-json-values)", maxv);
        *res = respond_error(r, 413, m, "invalid_request_error", "too_many_json_values", NULL, NULL);
    } else {
        snprintf(m, sizeof m, "the request body nests JSON deeper than %d levels", SRV_MAX_JSON_DEPTH);
        *res = respond_error(r, 400, m, "invalid_request_error", "json_too_deep", NULL, NULL);
    }
    return 0;
}

/* Admission in this order: route/method -> probes -> /metrics (its own
 * key) -> API key (401) -> body size (413) -> loading/draining/failed
 * (503) -> per-key rate limit (429) -> the endpoint (400s; the engine's
 * full queue -> 429). */
static enum MHD_Result handle(hconn *r) {
    srv_http *h = r->h;
    const srv_http_env *env = &h->env;
    if (!r->rt) return respond_error(r, 404, "not found", "invalid_request_error", "not_found", NULL, NULL);
    if (r->preflight) return preflight(r);
    if (r->bad_method)
        return respond_error(r, 405, "method not allowed", "invalid_request_error", "method_not_allowed", NULL,
                             strcmp(r->rt->method, "GET") ? r->rt->method : "GET, HEAD");
    int state = atomic_load(env->state);
    int draining = atomic_load(env->draining) || atomic_load(env->stopping);
    if (r->rt->kind == RT_HEALTH || r->rt->kind == RT_READY) return probe(r, state, draining);
    if (r->rt->kind == RT_WEBUI) return respond_asset(r);
    size_t kl = 0;
    const char *key = bearer(r->conn, &kl);
    if (r->rt->kind == RT_METRICS || r->rt->kind == RT_STATS) return metrics(r, key, kl);
    if (r->rt->kind == RT_USAGE) return usage_report(r, key, kl);
    if (srv_keys_enabled(env->keys)) {
        if (!key)
            return respond_error(r, 401,
                                 "You didn't provide an API key. Send it in the Authorization header: "
                                 "'Authorization: Bearer YOUR_KEY' (or as 'x-api-key: YOUR_KEY').",
                                 "invalid_request_error", "invalid_api_key", NULL, NULL);
        if (!srv_keys_lookup(env->keys, key, kl, &r->key_id, r->key_name, sizeof r->key_name))
            return respond_error(r, 401, "Incorrect API key provided.", "invalid_request_error", "invalid_api_key", NULL,
                                 NULL);
        r->authed = 1;
    }
    if (r->too_large) {
        char m[128];
        snprintf(m, sizeof m, "the request body is larger than %zu bytes", env->cfg->max_body_bytes);
        return respond_error(r, 413, m, "invalid_request_error", "request_too_large", NULL, NULL);
    }
    if (state != SRV_READY || draining) {
        int why = draining ? REJ_DRAINING : state == SRV_LOADING ? REJ_LOADING : REJ_UNAVAILABLE;
        atomic_fetch_add(&srv_http_pm(r)->rejected[why], 1);
        return respond_error(r, 503,
                             why == REJ_DRAINING   ? "the server is shutting down; retry on another instance"
                             : why == REJ_LOADING ? "the model is loading; retry shortly"
                                                  : "the server is unavailable",
                             "server_error", why == REJ_DRAINING ? "draining" : "unavailable", "1", NULL);
    }
    enum MHD_Result res;
    if (r->authed && rate_limit(r, &res) >= 0) return res;
    if ((r->rt->kind == RT_SIMPLE || r->rt->kind == RT_GENERATE || r->rt->kind == RT_EMBED ||
         r->rt->kind == RT_RERANK) &&
        json_bounds(r, &res) >= 0)
        return res;
    if (r->rt->kind == RT_MODEL || r->rt->kind == RT_RESPONSE) { /* responses: the caller's own only */
        char *out = NULL;
        int st = r->rt->kind == RT_MODEL ? srv_ep_model(env->ctx, r->rest, &out)
                                         : rsp_endpoint(env->ctx, !strcmp(r->rt->method, "DELETE"),
                                                        r->authed ? r->key_id : 0, r->rest, &out);
        return respond_json(r, st, out, NULL);
    }
    if (r->rt->kind == RT_SIMPLE) {
        char *out = NULL;
        int st = r->rt->simple(env->ctx, r->body, r->body_len, &out);
        return respond_json(r, st, out, NULL);
    }
    if (r->rt->kind == RT_EMBED || r->rt->kind == RT_RERANK) return start_embed(r);
    if (!(env->ctx->caps & PG_CAP_GENERATE))
        return respond_error(r, 400,
                             srv_embq_caps(*env->embq) & PG_CAP_RERANK
                                 ? "model does not support generation: it is a reranker (use /v1/rerank)"
                                 : "model does not support generation: it is an embedding model (use /v1/embeddings)",
                             "invalid_request_error", "model_not_supported", NULL, NULL);
    return start_generation(r);
}

/* ---------- connections: admission limits and receive deadlines (http_core.c) ---------- */

static enum MHD_Result accept_policy(void *cls, const struct sockaddr *addr, socklen_t len) {
    return srv_http_admit(cls, addr, len) ? MHD_YES : MHD_NO;
}

/* MHD's connection notifications: track every socket from accept to
 * close. STARTED sets the headers' deadline; CLOSED unlinks and clears the
 * socket context (so a later lookup in the same connection sees none). */
static void notify_conn(void *cls, struct MHD_Connection *c, void **socket_context, enum MHD_ConnectionNotificationCode code) {
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
        *socket_context = srv_http_track_open(cls, conn_fd(c), ci ? ci->client_addr : NULL);
    } else if (code == MHD_CONNECTION_NOTIFY_CLOSED && *socket_context) {
        srv_http_track_close(cls, *socket_context);
        *socket_context = NULL;
    }
}

/* ---------- the MHD callbacks ---------- */

/* Request framing (RFC 9112 6.1-6.3): one Content-Length that is a plain
 * number, or Transfer-Encoding: chunked alone. Two Content-Length headers,
 * both headers together, or a malformed length -> 400; another transfer
 * coding -> 501. Answered before the body, with Connection: close, so the
 * bytes after the headers never run as a second request (behind a proxy
 * that frames them differently, that would be request smuggling). */
typedef struct framing {
    int n_cl, n_te;
    const char *cl, *te;
} framing;

static enum MHD_Result count_framing(void *cls, enum MHD_ValueKind kind, const char *key, const char *value) {
    framing *f = cls;
    (void)kind;
    if (!strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH)) {
        f->n_cl++;
        f->cl = value;
    } else if (!strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING)) {
        f->n_te++;
        f->te = value;
    }
    return MHD_YES;
}

/* 0, or the status (400/501) with msg filled. */
static int check_framing(struct MHD_Connection *c, char *msg, size_t cap) {
    framing f = {0};
    MHD_get_connection_values(c, MHD_HEADER_KIND, count_framing, &f);
    if (f.n_cl > 1) return snprintf(msg, cap, "more than one Content-Length header"), 400;
    if (f.n_cl && f.n_te) return snprintf(msg, cap, "Content-Length together with Transfer-Encoding"), 400;
    if (f.n_cl && !srv_http_plain_number(f.cl)) return snprintf(msg, cap, "Content-Length is not a number"), 400;
    if (f.n_te > 1 || (f.n_te && !srv_http_is_token(f.te, "chunked")))
        return snprintf(msg, cap, "unsupported Transfer-Encoding (only chunked is implemented)"), 501;
    return 0;
}

/* First call of a request: route, ids, framing (400/501), early 413 on
 * Content-Length. */
static enum MHD_Result first_call(srv_http *h, struct MHD_Connection *c, const char *url, const char *method,
                                  void **con_cls) {
    hconn *r = conn_new(h, c);
    if (!r) return MHD_NO;
    *con_cls = r;
    r->t_start = srv_now();
    int head = !strcmp(method, "HEAD"), options = !strcmp(method, "OPTIONS");
    for (size_t i = 0; i < srv_n_routes && !(r->rt && !r->bad_method); i++) {
        const route *q = &srv_routes[i];
        size_t pl = strlen(q->path);
        if (q->prefix ? strncmp(url, q->path, pl) || !url[pl] || strchr(url + pl, '/') : strcmp(url, q->path)) continue;
        r->rt = q;
        r->bad_method = strcmp(method, q->method) && !(head && !strcmp(q->method, "GET")) && !options;
        r->preflight = options;
        free(r->rest);
        r->rest = q->prefix ? strdup(url + pl) : NULL;
        if (q->prefix && !r->rest) return MHD_NO;
    }
    if (!r->rt && !strncmp(url, "/v1/messages/", 13)) r->miss_ad = &srv_anth_messages; /* 404 in its shape */
    if (!r->rt && !h->env.cfg->no_webui && (r->asset = pg_webui_find(url))) {
        r->rt = &srv_webui_route;
        r->bad_method = strcmp(method, "GET") && strcmp(method, "HEAD") && !options;
        r->preflight = options;
    }
    r->cors = srv_http_cors_allow(h, MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Origin"));
    const char *xid = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "x-request-id");
    if (xid && srv_http_sane_request_id(xid)) snprintf(r->x_request_id, sizeof r->x_request_id, "%s", xid);
    else srv_make_id(h->env.ids, "req-", r->x_request_id, sizeof r->x_request_id);
    srv_http_trace_init(h, r, MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "traceparent"));
    const union MHD_ConnectionInfo *sci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    r->tc = sci ? sci->socket_context : NULL;
    srv_http_set_deadline(h, r->tc, srv_http_body_deadline(r)); /* the headers are in: now the body's pace */
    char fm[128];
    int fst = check_framing(c, fm, sizeof fm);
    if (fst) {
        r->close_after = 1;
        return respond_error(r, fst, fm, "invalid_request_error", fst == 501 ? "not_implemented" : "bad_framing",
                             NULL, NULL);
    }
    const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (cl) {
        char *end;
        errno = 0;
        unsigned long long v = strtoull(cl, &end, 10);
        if (errno || *end || v > h->env.cfg->max_body_bytes) {
            r->too_large = 1;
            return handle(r); /* answer before reading the body; MHD closes afterwards */
        }
    }
    return MHD_YES;
}

static enum MHD_Result body_chunk(hconn *r, const char *upload, size_t n) {
    size_t max = r->h->env.cfg->max_body_bytes;
    if (r->stage != 0 || r->too_large) return MHD_YES;
    size_t need;
    if (pg_add_size(r->body_len, n, &need) < 0 || need > max) {
        r->too_large = 1;
        free(r->body);
        r->body = NULL;
        r->body_len = r->body_cap = 0;
        return MHD_YES;
    }
    if (need + 1 > r->body_cap) {
        size_t nc = r->body_cap ? r->body_cap : 4096;
        while (nc < need + 1) nc *= 2;
        char *b = realloc(r->body, nc);
        if (!b) return MHD_NO;
        r->body = b;
        r->body_cap = nc;
    }
    memcpy(r->body + r->body_len, upload, n);
    r->body_len = need;
    r->body[need] = 0;
    srv_http_set_deadline(r->h, r->tc, srv_http_body_deadline(r));
    return MHD_YES;
}

static enum MHD_Result ahc(void *cls, struct MHD_Connection *c, const char *url, const char *method, const char *version,
                           const char *upload, size_t *upload_size, void **con_cls) {
    srv_http *h = cls;
    hconn *r = *con_cls;
    (void)version;
    if (!r) return first_call(h, c, url, method, con_cls);
    if (*upload_size) {
        enum MHD_Result rc = body_chunk(r, upload, *upload_size);
        *upload_size = 0;
        return rc;
    }
    if (r->stage == 0) {
        srv_http_set_deadline(h, r->tc, 0); /* the request is in: no receive deadline while it is served */
        return handle(r);
    }
    if (r->stage == 1) return body_or_wait(r); /* resumed: the engine finished (or the client left) */
    if (r->stage == 3) return after_parse(r);  /* resumed by the parse worker */
    return MHD_YES;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe) {
    srv_http *h = cls;
    hconn *r = *con_cls;
    if (!r) return;
    *con_cls = NULL;
    srv_http_registry_remove(h, r);
    if (r->ejob) {
        srv_ejob_lock(r->ejob);
        r->gone = 1; /* srv_http_conn_wake does nothing from now on; srv_http_conn_free detaches after the log line */
        r->suspended = 0;
        int counted = r->disconnected, running = !srv_ejob_done(r->ejob);
        srv_ejob_unlock(r->ejob);
        if (running) srv_ejob_cancel(r->ejob);
        if (running && !counted) atomic_fetch_add(&srv_http_pm(r)->disconnects, 1);
    }
    if (r->req) {
        srv_req_lock(r->req);
        r->gone = 1;
        r->suspended = 0;
        int counted = r->disconnected;
        srv_req_unlock(r->req);
        int running = srv_req_detach(r->req); /* no more wake-ups; cancels */
        if (running && !counted) atomic_fetch_add(&srv_http_pm(r)->disconnects, 1);
    }
    /* nothing was sent: the client closed first (nginx's 499, README) */
    if (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK && r->status == 0 && r->rt) srv_http_count_status(r, SRV_STATUS_CLIENT_CLOSED);
    srv_http_account(h, r, toe != MHD_REQUEST_TERMINATED_COMPLETED_OK);
    srv_http_log_request(h, r, toe != MHD_REQUEST_TERMINATED_COMPLETED_OK);
    /* keep-alive: the next request's headers are due within --timeout */
    const union MHD_ConnectionInfo *sci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    tconn *tc = sci ? sci->socket_context : NULL;
    double to = h->env.cfg->connection_timeout_s;
    srv_http_set_deadline(h, tc, to > 0 ? srv_now() + to : 0);
    int trim = r->body_cap >= TRIM_BYTES || r->out.cap >= TRIM_BYTES || r->big;
    srv_http_conn_free(r);
    /* a large request's memory goes back to the system (glibc keeps freed
     * heap otherwise; RSS would stay at the high-water mark) */
    if (trim) malloc_trim(0);
}

/* ---------- daemon ---------- */

/* libmicrohttpd's own messages go through pagoda's logger (level, format);
 * they report connection-level trouble, so warn. */
static void mhd_log(void *cls, const char *fmt, va_list ap) {
    (void)cls;
    pg_log_vmsg(PG_LOG_WARN, "httpd", fmt, ap);
}

int srv_http_start(const srv_http_env *env, srv_http **out, pg_error *err) {
    *out = NULL;
    srv_http *h = calloc(1, sizeof *h);
    if (!h) return pg_error_set(err, PG_ENOMEM, "out of memory");
    h->env = *env;
    h->wake[0] = h->wake[1] = -1;
    pthread_mutex_init(&h->mu, NULL);
    pthread_mutex_init(&h->cmu, NULL);
    pthread_mutex_init(&h->pmu, NULL);
    pthread_cond_init(&h->pcv, NULL);
    *out = h; /* srv_http_stop frees it, also after a failed start */
    const pg_server_config *cfg = env->cfg;
    if (pipe2(h->wake, O_NONBLOCK | O_CLOEXEC) < 0) return pg_error_set(err, PG_EIO, "pipe: %s", strerror(errno));
    struct addrinfo hints, *ai = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    char port[16];
    snprintf(port, sizeof port, "%d", cfg->port);
    int gai = getaddrinfo(cfg->host, port, &hints, &ai);
    if (gai || !ai) return pg_error_set(err, PG_EINVAL, "cannot resolve host '%s': %s", cfg->host, gai_strerror(gai));
    unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
    if (ai->ai_family == AF_INET6) flags |= MHD_USE_IPv6;
    unsigned threads = cfg->http_threads ? cfg->http_threads : 1;
    int lfd = srv_http_listen_socket(cfg, ai, err);
    freeaddrinfo(ai);
    if (lfd < 0) return lfd;
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    h->port = cfg->port;
    if (getsockname(lfd, (struct sockaddr *)&ss, &sl) == 0)
        h->port = ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
                                           : ntohs(((struct sockaddr_in *)&ss)->sin_port);
    srv_http_set_replica(h); /* before the first request can be answered */
    h->daemon = MHD_start_daemon(
        flags, 0, accept_policy, h, ahc, h, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL, MHD_OPTION_LISTEN_SOCKET, lfd,
        MHD_OPTION_THREAD_POOL_SIZE, threads,
        /* ours are enforced by accept_policy (srv_http_admit); MHD's, above them, would stop accepting */
        MHD_OPTION_CONNECTION_LIMIT, cfg->max_connections + 64 + threads * 8, MHD_OPTION_PER_IP_CONNECTION_LIMIT, 0,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, cfg->connection_memory, MHD_OPTION_NOTIFY_CONNECTION, notify_conn, h,
        MHD_OPTION_CONNECTION_TIMEOUT, cfg->connection_timeout_s, MHD_OPTION_NOTIFY_COMPLETED, on_completed, h,
        MHD_OPTION_END);
    if (!h->daemon) {
        close(lfd);
        return pg_error_set(err, PG_EIO, "cannot start the HTTP daemon on %s:%d", cfg->host, cfg->port);
    }
    if (pthread_create(&h->watcher, NULL, srv_http_watcher_main, h) != 0) return pg_error_set(err, PG_ENOMEM, "cannot start a thread");
    h->watcher_started = 1;
    h->pw = calloc(threads, sizeof *h->pw);
    if (!h->pw) return pg_error_set(err, PG_ENOMEM, "out of memory");
    for (unsigned i = 0; i < threads; i++) {
        if (pthread_create(&h->pw[i], NULL, srv_http_parse_main, h) != 0) return pg_error_set(err, PG_ENOMEM, "cannot start a thread");
        h->n_pw++;
    }
    return 0;
}

int srv_http_port(const srv_http *h) { return h->port; }

const char *srv_http_replica(const srv_http *h) { return h->replica; }

void srv_http_stop(srv_http *h) {
    if (!h) return;
    atomic_store(h->env.stopping, 1);
    if (h->watcher_started) {
        char b = 1;
        ssize_t w = write(h->wake[1], &b, 1);
        (void)w;
        pthread_join(h->watcher, NULL);
        h->watcher_started = 0;
    }
    /* the parse workers finish what is queued (renders stop at the grace's
     * cancel flag), so every suspended connection is resumed before MHD stops */
    pthread_mutex_lock(&h->pmu);
    h->pq_stop = 1;
    pthread_cond_broadcast(&h->pcv);
    pthread_mutex_unlock(&h->pmu);
    for (int i = 0; i < h->n_pw; i++) pthread_join(h->pw[i], NULL);
    free(h->pw);
    h->pw = NULL;
    h->n_pw = 0;
    if (h->daemon) MHD_stop_daemon(h->daemon);
    h->daemon = NULL;
    if (h->wake[0] >= 0) close(h->wake[0]);
    if (h->wake[1] >= 0) close(h->wake[1]);
    pthread_mutex_destroy(&h->mu);
    pthread_mutex_destroy(&h->cmu);
    pthread_mutex_destroy(&h->pmu);
    pthread_cond_destroy(&h->pcv);
    free(h);
}
