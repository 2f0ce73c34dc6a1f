/* metrics.h - the server's counters and latency histograms, and their
 * Prometheus text (GET /metrics). Written by the request core (per token
 * and per finished choice) and by http.c (statuses, rejections); read by a
 * scrape. No allocation when observing. */
#ifndef PG_SERVER_METRICS_H
#define PG_SERVER_METRICS_H

#include "engine/engine.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define SRV_HIST_NB 22 /* finite bucket bounds, +Inf implied */
typedef struct srv_hist {
    pthread_mutex_t mu;
    uint64_t b[SRV_HIST_NB + 1]; /* non-cumulative; [SRV_HIST_NB] = above the last bound */
    uint64_t count;
    double sum;
} srv_hist;
/* The protocol of a route (a column of srv_routes[] in http_routes.c): every request
 * series is kept per protocol and labelled protocol="<name>" in /metrics,
 * /v1/stats and the request log. A new protocol's routes only set their
 * column; the names are srv_proto_name's. */
enum { SRV_PROTO_OPENAI, SRV_PROTO_ANTHROPIC, SRV_PROTO_RESPONSES, SRV_PROTO_OLLAMA, SRV_PROTO_COUNT };
const char *srv_proto_name(int proto); /* "openai", "anthropic", "responses", "ollama" */

/* generation histograms, per protocol */
enum { H_TTFT, H_ITL, H_E2E, H_QUEUE, H_PREFILL, H_DECODE, H_COUNT };
/* embeddings (/v1/embeddings) and reranking (/v1/rerank), embed_api.c */
enum { EMB_EMBED, EMB_RERANK, EMB_KINDS };
enum { REJ_QUEUE_FULL, REJ_RATE_LIMIT, REJ_DRAINING, REJ_LOADING, REJ_UNAVAILABLE, REJ_COUNT };
enum { FIN_STOP, FIN_LENGTH, FIN_ABORT, FIN_TIMEOUT, FIN_ERROR, FIN_COUNT };
/* The request series of one protocol. */
typedef struct srv_pmetrics {
    srv_hist h[H_COUNT];
    atomic_uint_fast64_t status[600];   /* HTTP responses by status code */
    atomic_uint_fast64_t rejected[REJ_COUNT];
    atomic_uint_fast64_t finished[FIN_COUNT]; /* finished choices by reason */
    atomic_uint_fast64_t disconnects;   /* requests cancelled because the client left */
    atomic_uint_fast64_t requests;      /* generation requests that reached the endpoint (/v1/stats) */
} srv_pmetrics;
typedef struct srv_metrics {
    srv_pmetrics p[SRV_PROTO_COUNT];    /* indexed by SRV_PROTO_* */
    srv_hist emb_h[EMB_KINDS];          /* request latency per EMB_* kind */
    atomic_uint_fast64_t conn_refused;  /* connections closed at accept (--max-connections[-per-ip]) */
    atomic_uint_fast64_t conn_late;     /* connections cut for slow headers or a slow body (--timeout) */
    atomic_uint_fast64_t special_text_messages; /* chat messages whose special-token text was kept as text */
    /* per EMB_* kind: requests accepted into the embedding queue, those that
     * succeeded, the inputs (texts / documents) and tokens they ran */
    atomic_uint_fast64_t emb_requests[EMB_KINDS], emb_ok[EMB_KINDS], emb_inputs[EMB_KINDS], emb_tokens[EMB_KINDS];
    atomic_uint_fast64_t emb_passes;    /* encoder passes run (the embedder's counter, copied after each job) */
} srv_metrics;

void srv_metrics_init(srv_metrics *m);
void srv_metrics_free(srv_metrics *m);
void srv_hist_observe(srv_hist *h, double v);
const double *srv_hist_bounds(void); /* SRV_HIST_NB ascending upper bounds (s) */
/* The Prometheus text (malloc'd, *len bytes) of m plus the engine gauges
 * of one stats snapshot; every series is labelled model_name="model", the
 * request series protocol="<name>" too (openai always, the others once
 * they have counted something). */
/* A protocol's series are shown once anything was counted (openai always). */
int srv_metrics_proto_used(srv_metrics *m, int proto);
/* Sum of a histogram over the protocols (non-cumulative counts, count, sum). */
void srv_hist_total(srv_metrics *m, int which, uint64_t b[SRV_HIST_NB + 1], uint64_t *count, double *sum);
char *srv_metrics_text(srv_metrics *m, const char *model, const pg_engine_stats *st, int draining, size_t *len);

#endif
