/* http_log.c - the parts of the HTTP layer that read a connection's state
 * but never call libmicrohttpd: the request log line (one structured line
 * per finished request; probes and scrapes only at debug level; the key's
 * name, never the key) and the body of GET /v1/stats (the engine snapshot,
 * the metrics and one row per live generation request, taken under the
 * registry lock and then each request's lock, the same order as http.c). */
#include "server/http_impl.h"

#include "base/log.h"
#include "server/stats.h"

#include <jansson.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The body of GET /v1/stats: the engine snapshot, the metrics and one row
 * per live generation request (registry lock, then each request's). */
char *srv_http_stats_body(srv_http *h, const pg_engine_stats *st) {
    const srv_http_env *env = &h->env;
    srv_stats_in in;
    memset(&in, 0, sizeof in);
    in.engine = *st;
    int state = atomic_load(env->state);
    in.status = atomic_load(env->draining) ? "draining"
                : state == SRV_READY       ? "ready"
                : state == SRV_LOADING     ? "loading"
                                           : "failed";
    in.model = env->ctx->alias ? env->ctx->alias : "";
    in.uptime_s = (int64_t)(time(NULL) - env->ctx->created);
    in.n_ctx = env->ctx->n_ctx;
    in.metrics = env->metrics;
    srv_stats_row *rows = malloc(SRV_STATS_MAX_ROWS * sizeof *rows);
    if (!rows) return NULL;
    double now = srv_now();
    pthread_mutex_lock(&h->mu);
    int n = 0;
    for (hconn *r = h->live; r; r = r->next) n++;
    if (n > SRV_STATS_MAX_ROWS) n = SRV_STATS_MAX_ROWS;
    int i = n; /* the registry is newest first: fill from the end */
    for (hconn *r = h->live; r && i > 0; r = r->next) {
        srv_stats_row *w = &rows[--i];
        memset(w, 0, sizeof *w);
        if (r->ejob) { /* an embedding / rerank job */
            snprintf(w->id, sizeof w->id, "%.63s", srv_ejob_id(r->ejob));
            w->age_s = now - r->t_start;
            w->protocol = srv_proto_name(r->rt->proto);
            int32_t ni;
            int64_t pt;
            const char *em;
            srv_ejob_lock(r->ejob);
            srv_ejob_info(r->ejob, &ni, &pt, &em);
            int done = srv_ejob_done(r->ejob), gone = r->disconnected;
            srv_ejob_unlock(r->ejob);
            w->prompt_tokens = pt;
            w->choices = ni;
            w->state = gone ? "cancelling" : done ? "finishing" : r->rt->kind == RT_EMBED ? "embedding" : "reranking";
            continue;
        }
        const char *id = r->rt->ad->id(r->ast);
        snprintf(w->id, sizeof w->id, "%.63s", id ? id : r->x_request_id);
        w->age_s = now - r->t_start;
        w->stream = r->stream;
        w->protocol = srv_proto_name(r->rt->proto);
        srv_usage u;
        srv_req_lock(r->req);
        srv_req_usage(r->req, &u);
        int done = srv_req_done(r->req);
        int gone = r->disconnected;
        srv_req_unlock(r->req);
        w->prompt_tokens = u.prompt_tokens;
        w->generated_tokens = u.generated_tokens;
        w->choices = srv_req_gen(r->req)->n_prompts * srv_req_gen(r->req)->base.n;
        w->state = gone ? "cancelling" : done ? "finishing" : u.generated_tokens ? "generating" : "waiting";
    }
    pthread_mutex_unlock(&h->mu);
    in.rows = rows;
    in.n_rows = n;
    char *out = srv_stats_json(&in);
    free(rows);
    return out;
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

/* The generation fields of the request log line. */
static void log_generation(srv_http *h, hconn *r, json_t *o) {
    srv_usage u;
    srv_req_lock(r->req);
    srv_req_usage(r->req, &u);
    const char *emsg;
    int ecode = srv_req_error(r->req, &emsg);
    if (u.n_prompts > 0) {
        json_object_set_new(o, "model", json_string(h->env.ctx->alias));
        json_object_set_new(o, "stream", json_boolean(r->stream));
        json_object_set_new(o, "prompt_tokens", json_integer(u.prompt_tokens));
        json_object_set_new(o, "completion_tokens", json_integer(u.completion_tokens));
        json_object_set_new(o, "cached_tokens", json_integer(u.cached_tokens));
        if (u.has_first) json_object_set_new(o, "queue_s", json_real(u.queue_s));
        if (u.has_ttft) json_object_set_new(o, "ttft_s", json_real(u.ttft_s));
        const char *fr = u.n_finished < u.n_prompts ? "disconnect" : finish_label(u.first_finish);
        if (ecode) fr = "error";
        if (fr) json_object_set_new(o, "finish_reason", json_string(fr));
        if (ecode) json_object_set_new(o, "error", json_string(emsg));
    }
    srv_req_unlock(r->req);
}

/* One structured line per finished HTTP request (probes and scrapes only
 * at debug level). Never logs the key itself, only its name. */
void srv_http_log_request(srv_http *h, hconn *r, int gone) {
    int quiet = r->rt && (r->rt->kind == RT_HEALTH || r->rt->kind == RT_READY || r->rt->kind == RT_METRICS ||
                          r->rt->kind == RT_STATS || r->rt->kind == RT_WEBUI);
    /* 503 (draining/loading) and 504 (a client's deadline) are expected: warn */
    int level = quiet                                  ? PG_LOG_DEBUG
                : r->status == 503 || r->status == 504 ? PG_LOG_WARN
                : r->status >= 500                     ? PG_LOG_ERROR
                                                       : PG_LOG_INFO;
    if (level < pg_log_get_level()) return;
    json_t *o = json_object();
    json_object_set_new(o, "msg", json_string("request"));
    json_object_set_new(o, "request_id", json_string(r->x_request_id));
    const char *id = r->rt && r->rt->ad ? r->rt->ad->id(r->ast) : NULL;
    if (id && id[0]) json_object_set_new(o, "id", json_string(id));
    json_object_set_new(o, "trace_id", json_string(r->trace_id));
    json_object_set_new(o, "route", json_string(r->rt ? r->rt->path : "other"));
    json_object_set_new(o, "protocol", json_string(srv_proto_name(r->rt ? r->rt->proto : SRV_PROTO_OPENAI)));
    json_object_set_new(o, "status", json_integer(r->status));
    if (r->authed) json_object_set_new(o, "key", json_string(r->key_name));
    if (r->req) log_generation(h, r, o);
    if (r->ejob) {
        int32_t ni;
        int64_t pt;
        const char *em;
        srv_ejob_lock(r->ejob);
        srv_ejob_info(r->ejob, &ni, &pt, &em);
        json_object_set_new(o, "id", json_string(srv_ejob_id(r->ejob)));
        json_object_set_new(o, "model", json_string(h->env.ctx->alias));
        json_object_set_new(o, "inputs", json_integer(ni));
        json_object_set_new(o, "prompt_tokens", json_integer(pt));
        if (em) json_object_set_new(o, "error", json_string(em));
        srv_ejob_unlock(r->ejob);
    }
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

