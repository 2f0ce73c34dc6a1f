/* usage.h - usage and cost accounting of `pagoda serve` (issue 28).
 *
 * Every finished generation request is recorded once (http_acct.c, when
 * its connection completes) under its API key's NAME (never the key;
 * "anonymous" when the server has no keys) and its model: requests,
 * prompt, cached and generated tokens, and compute seconds (the engine's
 * per-choice share of the forward passes, pg_engine_usage.compute_s).
 *
 * Two views, both bounded:
 *   - running totals per (key, model) for /metrics; at most
 *     SRV_USAGE_MAX_KEYS key names and SRV_USAGE_MAX_MODELS models get their
 *     own label, later ones are counted under "_other" (so a scrape's
 *     series count stays bounded whatever the key file holds);
 *   - a ring of SRV_USAGE_MINUTES per-minute buckets (24 h) for
 *     GET /v1/usage?since=&until=&group_by=key|model; a bucket is reused
 *     when its minute is older than the ring.
 * With a cost per hour (--cost-per-hour) compute seconds become an
 * estimated cost (compute_s / 3600 x cost_per_hour): idle time is not
 * charged to anyone, so the per-key figures add up to the cost of the
 * busy time only.
 *
 * Thread-safe (one mutex). Recording allocates only when a minute bucket
 * meets a new (key, model) pair (its row array grows, bounded). */
#ifndef PG_SERVER_USAGE_H
#define PG_SERVER_USAGE_H

#include <stddef.h>
#include <stdint.h>

#define SRV_USAGE_MAX_KEYS 64
#define SRV_USAGE_MAX_MODELS 8
#define SRV_USAGE_MINUTES 1440
#define SRV_USAGE_OTHER "_other"
#define SRV_USAGE_ANON "anonymous"

typedef struct srv_usage_acct srv_usage_acct;

/* cost_per_hour <= 0: no cost figures. NULL when out of memory. */
srv_usage_acct *srv_usage_create(double cost_per_hour);
void srv_usage_destroy(srv_usage_acct *a);

/* One finished request at unix time now_s. key: the key's name (NULL or
 * "" = anonymous). */
void srv_usage_record(srv_usage_acct *a, int64_t now_s, const char *key, const char *model, int64_t prompt_tokens,
                      int64_t cached_tokens, int64_t generated_tokens, double compute_s);

/* GET /v1/usage: since / until (unix seconds, decimal digits; NULL =
 * now - 24 h / now), group_by ("key" default, or "model"). Buckets whose
 * minute overlaps [since, until) are summed. Returns the HTTP status (200,
 * or 400 with an OpenAI-style error body) and a malloc'd JSON body in *out
 * (NULL when out of memory). */
int srv_usage_query(srv_usage_acct *a, int64_t now_s, const char *since, const char *until, const char *group_by,
                    char **out);

/* Appends the Prometheus text of the running totals to *buf (malloc'd,
 * *len bytes; grown with realloc). Returns 0 or -1 (out of memory: *buf is
 * left as it was). */
int srv_usage_metrics(srv_usage_acct *a, char **buf, size_t *len);

#endif
