/* stats.h - GET /v1/stats: the server's live figures as one JSON object, for
 * the dashboard (webui/dashboard.html) and scripts. Same sources as
 * /metrics (the srv_metrics counters and histograms, one pg_engine_stats
 * snapshot) plus the table of running requests (ids, age, token counts,
 * state; never their text).
 *
 * srv_stats_json builds the body from a plain srv_stats_in (no server
 * internals: testable alone); http.c fills the input from its registry of
 * live requests, the engine snapshot and the metrics. */
#ifndef PG_SERVER_STATS_H
#define PG_SERVER_STATS_H

#include "engine/engine.h"
#include "server/metrics.h"

#include <stdint.h>

#define SRV_STATS_MAX_ROWS 256 /* running requests listed at most */

/* One running request of the table. */
typedef struct srv_stats_row {
    char id[64];               /* the completion id (chatcmpl-..., cmpl-...) */
    double age_s;              /* since its first header */
    int64_t prompt_tokens, generated_tokens;
    const char *state;         /* static: waiting|generating|finishing|cancelling, or embedding|reranking */
    int stream;
    const char *protocol;      /* static: srv_proto_name */
    int32_t choices;           /* embedding / rerank jobs: inputs */
} srv_stats_row;

typedef struct srv_stats_in {
    const char *model;
    const char *status;        /* loading|ready|draining|failed */
    int64_t uptime_s;
    pg_engine_stats engine;    /* zeros without an engine */
    int32_t n_ctx;
    srv_metrics *metrics;      /* read: atomics, and each histogram under its mutex */
    const srv_stats_row *rows; /* oldest first */
    int n_rows;
} srv_stats_in;

/* The body (malloc'd, compact JSON), or NULL when out of memory. */
char *srv_stats_json(const srv_stats_in *in);

/* Estimated q-quantile (0 < q < 1) of a histogram given as non-cumulative
 * counts over SRV_HIST_NB finite bounds plus the overflow bucket: linear
 * interpolation inside the bucket that holds the rank (0 as the lower edge
 * of the first one); the overflow bucket answers its lower bound. Returns
 * -1 for an empty histogram. */
double srv_hist_quantile(const uint64_t *counts, const double *bounds, double q);

#endif
