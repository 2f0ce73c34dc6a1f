/* stats.h - GET /v1/stats: the server's live figures as one JSON object, for
 * the dashboard (webui/dashboard.html) and scripts. Same sources as
 * /metrics (srv_metrics counters and histograms, one pg_engine_stats
 * snapshot) plus the table of running requests (ids, model, age, token
 * counts, state; never their text). */
#ifndef PG_SERVER_STATS_H
#define PG_SERVER_STATS_H

#include "server/srv_internal.h"

/* The body of GET /v1/stats (malloc'd, compact JSON), or NULL when out of
 * memory. Takes s->mu then each request's mu (the registry lock order). */
char *srv_stats_json(pg_srv *s);

/* Estimated q-quantile (0 < q < 1) of a histogram given as non-cumulative
 * counts over SRV_HIST_NB finite bounds plus the overflow bucket: linear
 * interpolation inside the bucket that holds the rank (0 as the lower edge
 * of the first one); the overflow bucket answers its lower bound. Returns
 * -1 for an empty histogram. */
double srv_hist_quantile(const uint64_t *counts, const double *bounds, double q);

#endif
