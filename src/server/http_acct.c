/* http_acct.c - what happens to a finished HTTP request besides its log
 * line (issue 28), reading the connection's fields but never calling the
 * HTTP library:
 *   - usage accounting (usage.h): a generation request whose prompts were
 *     accepted is recorded under its key's name and the model, with the
 *     usage the response reported (prompt, cached, completion tokens) and
 *     the engine compute seconds of its choices;
 *   - spans (otlp.h) when --otlp-endpoint is set: one SERVER span per
 *     request (id = the span id of the traceparent we answered with, parent
 *     = the caller's span when it sent a traceparent) and, for generation,
 *     INTERNAL children "queue" (submit -> first scheduled), "prefill"
 *     (-> first token) and "decode" (-> last token) of the first choice.
 * Runs on the HTTP thread at NOTIFY_COMPLETED: recording is a few counters
 * under a mutex, exporting only copies into the exporter's queue.
 * Probes, scrapes, the web UI and /v1/usage are neither recorded nor traced. */
#include "server/http_impl.h"

#include "server/otlp.h"
#include "server/usage.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

static uint64_t to_unix_ns(double mono_t, double mono_now, double wall_now) {
    double t = wall_now - (mono_now - mono_t);
    return t > 0 ? (uint64_t)(t * 1e9) : 0;
}

static void child(srv_span *c, const srv_span *root, srv_http *h, const char *name, uint64_t t0, uint64_t t1) {
    memset(c, 0, sizeof *c);
    memcpy(c->trace_id, root->trace_id, sizeof c->trace_id);
    memcpy(c->parent_id, root->span_id, sizeof c->parent_id);
    char id[64];
    srv_make_id(h->env.ids, "", id, sizeof id);
    snprintf(c->span_id, sizeof c->span_id, "%.16s", id);
    snprintf(c->name, sizeof c->name, "%s", name);
    c->kind = SRV_SPAN_INTERNAL;
    c->start_ns = t0;
    c->end_ns = t1 > t0 ? t1 : t0;
}

void srv_http_account(srv_http *h, hconn *r, int gone) {
    const srv_http_env *env = &h->env;
    if (!r->rt || r->rt->kind == RT_HEALTH || r->rt->kind == RT_READY || r->rt->kind == RT_METRICS ||
        r->rt->kind == RT_STATS || r->rt->kind == RT_WEBUI || r->rt->kind == RT_USAGE)
        return;
    srv_usage u;
    memset(&u, 0, sizeof u);
    if (r->req) {
        srv_req_lock(r->req);
        srv_req_usage(r->req, &u);
        srv_req_unlock(r->req);
    }
    const char *model = env->ctx->alias ? env->ctx->alias : "";
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    double wall = (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9, now = srv_now();
    if (env->usage && u.n_prompts > 0)
        srv_usage_record(env->usage, (int64_t)ts.tv_sec, r->authed ? r->key_name : NULL, model, u.prompt_tokens,
                         u.cached_tokens, u.completion_tokens, u.compute_s);
    if (!env->otlp || strlen(r->traceparent) < 52) return;
    srv_span sp[4];
    int n = 0;
    srv_span *root = &sp[n++];
    memset(root, 0, sizeof *root);
    memcpy(root->trace_id, r->trace_id, sizeof root->trace_id);
    snprintf(root->span_id, sizeof root->span_id, "%.16s", r->traceparent + 36);
    memcpy(root->parent_id, r->parent_span, sizeof root->parent_id);
    snprintf(root->name, sizeof root->name, "%s %s", r->rt->method, r->rt->path);
    root->kind = SRV_SPAN_SERVER;
    root->start_ns = to_unix_ns(r->t_start, now, wall);
    root->end_ns = to_unix_ns(now, now, wall);
    root->error = r->status >= 500 || r->status == 0;
    srv_span_str(root, "http.request.method", r->rt->method);
    srv_span_str(root, "http.route", r->rt->path);
    srv_span_int(root, "http.response.status_code", r->status);
    srv_span_str(root, "pagoda.request_id", r->x_request_id);
    srv_span_str(root, "pagoda.replica", h->replica);
    if (r->authed) srv_span_str(root, "pagoda.key_name", r->key_name);
    if (gone) srv_span_int(root, "pagoda.client_gone", 1);
    if (u.n_prompts > 0) {
        srv_span_str(root, "gen_ai.request.model", model);
        srv_span_int(root, "gen_ai.usage.input_tokens", u.prompt_tokens);
        srv_span_int(root, "gen_ai.usage.output_tokens", u.completion_tokens);
        srv_span_int(root, "pagoda.cached_tokens", u.cached_tokens);
        srv_span_double(root, "pagoda.compute_s", u.compute_s);
    }
    if (u.n_prompts > 0 && u.has_first && u.t_submit > 0) {
        uint64_t t_sub = to_unix_ns(u.t_submit, now, wall);
        uint64_t t_sched = to_unix_ns(u.t_submit + u.queue_s, now, wall);
        uint64_t t_first = to_unix_ns(u.t_submit + u.ttft_s, now, wall);
        child(&sp[n++], root, h, "queue", t_sub, t_sched);
        child(&sp[n++], root, h, "prefill", t_sched, u.ttft_s > 0 ? t_first : to_unix_ns(u.t_submit + u.queue_s + u.prefill_s, now, wall));
        if (u.ttft_s > 0) {
            srv_span *d = &sp[n++];
            child(d, root, h, "decode", t_first, to_unix_ns(u.t_submit + u.ttft_s + u.decode_s, now, wall));
            srv_span_int(d, "gen_ai.usage.output_tokens", u.completion_tokens);
        }
    }
    srv_otlp_push(env->otlp, sp, n);
}
