/* http.h - the HTTP front of `pagoda serve`: listening, routing, the
 * connection lifecycle, admission (probes, keys, body size, state, rate
 * limits), responses and SSE streams, the disconnect watcher. Only http.c
 * includes libmicrohttpd; this header does not expose it. */
#ifndef PG_SERVER_HTTP_H
#define PG_SERVER_HTTP_H

#include "base/error.h"
#include "server/adapter.h"
#include "server/auth.h"
#include "server/metrics.h"
#include "server/request.h"
#include "server/server.h"

#include <stdatomic.h>

enum { SRV_LOADING = 0, SRV_READY = 1, SRV_FAILED = 2 };

/* What the HTTP front serves with; every pointer outlives the front. ctx's
 * model facts may be filled after start, before *state becomes SRV_READY
 * (only /health, /ready and /metrics are answered before). */
typedef struct srv_http_env {
    const pg_server_config *cfg;
    const srv_ctx *ctx;
    const srv_core *core;
    srv_metrics *metrics;
    srv_keyset *keys;
    srv_idgen *ids;
    atomic_int *state;    /* SRV_* */
    atomic_int *draining; /* stop signal seen: new work gets 503 */
    atomic_int *stopping; /* tearing down */
    /* model load progress in bytes (mapped + repacked), shown by /health and
     * /ready while loading; total 0 = not known yet */
    atomic_uint_least64_t *load_done, *load_total;
    /* the engine's gauges for /metrics (zeros when there is no engine) */
    void (*stats)(void *arg, pg_engine_stats *st);
    void *stats_arg;
    /* /v1/embeddings and /v1/rerank (embed_api.h): *embq is set with the
     * model facts, before SRV_READY */
    struct srv_embq *const *embq;
} srv_http_env;

typedef struct srv_http srv_http;

/* Binds cfg->host:cfg->port and starts serving. */
int srv_http_start(const srv_http_env *env, srv_http **out, pg_error *err);
int srv_http_port(const srv_http *h);   /* the bound port */
/* Stops the watcher and the daemon (connections closed). */
void srv_http_stop(srv_http *h);
/* Generation, embedding and rerank requests whose connection is still open. */
int srv_http_live_count(srv_http *h);
/* Cancels the engine work of every live generation request (end of the
 * drain; embedding jobs: srv_embq_cancel_all);
 * returns how many requests are live. */
int srv_http_cancel_all(srv_http *h);

#endif
