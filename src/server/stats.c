/* stats.c - the JSON of GET /v1/stats (see stats.h).
 *
 * Shape (all times in seconds, counters since start):
 *   {"object":"pagoda.stats", "model", "status" (loading|ready|draining|
 *    failed), "uptime_s", "time" (unix seconds),
 *    "engine": {running, waiting, kv_usage, kv_blocks_{total,used,cached},
 *               kv_block_size (tokens per block), kv_type (f16|q8_0|q4_0|f32),
 *               prefix_cache_{queries,hits} (tokens), prefix_cache_hit_rate,
 *               preemptions, steps, prompt_tokens, generated_tokens,
 *               batch_seqs, batch_tokens, n_ctx, speculative: {drafted_tokens,
 *               accepted_tokens, verify_passes, acceptance_rate (null before any
 *               draft), acceptance_histogram: counts of finished choices that
 *               drafted, by acceptance rate in ten buckets [i/10, (i+1)/10)}},
 *    "counters": {requests (generation requests that reached the endpoint),
 *                 http_responses, rejected_429, rejected_503, rejected
 *                 {by reason}, errors_4xx (but 429), errors_5xx (but 503),
 *                 generation_errors, cancelled, timeouts, disconnects,
 *                 finished {by reason}, embedding_requests, rerank_requests
 *                 (accepted), embedding_inputs, rerank_documents,
 *                 embedding_tokens, rerank_tokens (of the successful ones)},
 *    "histograms": {ttft, itl, e2e, queue: {bounds, counts (non-cumulative,
 *                   last = above the last bound), count, sum, p50, p90,
 *                   p99}, embedding, rerank (request latency, same shape)},
 *    "protocols": {"openai"|"anthropic"|"responses"|"ollama" (openai
 *                  always, the others once used): {requests,
 *                  http_responses, errors_4xx, errors_5xx, rejected_429,
 *                  rejected_503, generation_errors, cancelled, timeouts,
 *                  disconnects, finished {by reason}, histograms {ttft,
 *                  itl, e2e, queue}}},
 *    "running": [{id, model, protocol, age_s, prompt_tokens,
 *                 generated_tokens, state, stream}] (the newest
 *                 SRV_STATS_MAX_ROWS, oldest first)}
 * The counters and histograms outside "protocols" are the sums over them.
 * srv_stats_json knows only its srv_stats_in; http.c fills that from its
 * registry of live requests, the engine snapshot and the metrics.
 * The dashboard derives rates (tokens/s) and windowed percentiles from the
 * differences between two polls; the p50/p90/p99 here cover the whole
 * uptime. */
#include "server/stats.h"

#include "server/util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

double srv_hist_quantile(const uint64_t *counts, const double *bounds, double q) {
    uint64_t total = 0;
    for (int i = 0; i <= SRV_HIST_NB; i++) total += counts[i];
    if (!total) return -1;
    double rank = q * (double)total;
    uint64_t cum = 0;
    for (int i = 0; i < SRV_HIST_NB; i++) {
        if (counts[i] && (double)(cum + counts[i]) >= rank) {
            double lo = i ? bounds[i - 1] : 0.0, hi = bounds[i];
            double f = (rank - (double)cum) / (double)counts[i];
            if (f < 0) f = 0;
            return lo + (hi - lo) * f;
        }
        cum += counts[i];
    }
    return bounds[SRV_HIST_NB - 1];
}

static json_t *counts_json(const uint64_t *b, uint64_t count, double sum);

static json_t *hist_json(srv_hist *h) {
    uint64_t b[SRV_HIST_NB + 1], count;
    double sum;
    pthread_mutex_lock(&h->mu);
    memcpy(b, h->b, sizeof b);
    count = h->count;
    sum = h->sum;
    pthread_mutex_unlock(&h->mu);
    return counts_json(b, count, sum);
}

/* A generation histogram summed over the protocols. */
static json_t *total_json(srv_metrics *m, int which) {
    uint64_t b[SRV_HIST_NB + 1], count;
    double sum;
    srv_hist_total(m, which, b, &count, &sum);
    return counts_json(b, count, sum);
}

static json_t *counts_json(const uint64_t *b, uint64_t count, double sum) {
    const double *bounds = srv_hist_bounds();
    json_t *o = json_object(), *jb = json_array(), *jc = json_array();
    for (int i = 0; i < SRV_HIST_NB; i++) json_array_append_new(jb, json_real(bounds[i]));
    for (int i = 0; i <= SRV_HIST_NB; i++) json_array_append_new(jc, json_integer((json_int_t)b[i]));
    json_object_set_new(o, "bounds", jb);
    json_object_set_new(o, "counts", jc);
    json_object_set_new(o, "count", json_integer((json_int_t)count));
    json_object_set_new(o, "sum", json_real(sum));
    static const struct { const char *k; double q; } qs[] = {{"p50", 0.5}, {"p90", 0.9}, {"p99", 0.99}};
    for (size_t i = 0; i < sizeof qs / sizeof qs[0]; i++) {
        double v = srv_hist_quantile(b, bounds, qs[i].q);
        json_object_set_new(o, qs[i].k, v < 0 ? json_null() : json_real(v));
    }
    return o;
}

#define U(x) json_integer((json_int_t)(x))

static json_t *rows_json(const srv_stats_in *in) {
    json_t *a = json_array();
    for (int i = 0; i < in->n_rows; i++) {
        const srv_stats_row *r = &in->rows[i];
        json_t *o = json_object();
        json_object_set_new(o, "id", json_string(r->id));
        json_object_set_new(o, "model", json_string(in->model));
        json_object_set_new(o, "protocol", json_string(r->protocol ? r->protocol : "openai"));
        json_object_set_new(o, "age_s", json_real(r->age_s));
        json_object_set_new(o, "prompt_tokens", U(r->prompt_tokens));
        json_object_set_new(o, "generated_tokens", U(r->generated_tokens));
        json_object_set_new(o, "state", json_string(r->state));
        json_object_set_new(o, "stream", json_boolean(r->stream));
        json_object_set_new(o, "choices", U(r->choices));
        json_array_append_new(a, o);
    }
    return a;
}

/* The request counters of protocol p (-1: summed over all) into c. */
static void set_counters(json_t *c, srv_metrics *m, int p) {
    int lo = p < 0 ? 0 : p, hi = p < 0 ? SRV_PROTO_COUNT : p + 1;
    uint64_t http = 0, e4 = 0, e5 = 0, req = 0, dis = 0, rej[REJ_COUNT] = {0}, fin[FIN_COUNT] = {0};
    for (int q = lo; q < hi; q++) {
        srv_pmetrics *pm = &m->p[q];
        for (int s = 100; s < 600; s++) {
            uint64_t v = atomic_load(&pm->status[s]);
            http += v;
            if (s >= 400 && s < 500 && s != 429) e4 += v;
            if (s >= 500 && s != 503) e5 += v;
        }
        req += atomic_load(&pm->requests);
        dis += atomic_load(&pm->disconnects);
        for (int i = 0; i < REJ_COUNT; i++) rej[i] += atomic_load(&pm->rejected[i]);
        for (int i = 0; i < FIN_COUNT; i++) fin[i] += atomic_load(&pm->finished[i]);
    }
    json_object_set_new(c, "requests", U(req));
    json_object_set_new(c, "http_responses", U(http));
    /* rejections by reason (a /ready probe's 503 is not one) */
    json_object_set_new(c, "rejected_429", U(rej[REJ_QUEUE_FULL] + rej[REJ_RATE_LIMIT]));
    json_object_set_new(c, "rejected_503", U(rej[REJ_DRAINING] + rej[REJ_LOADING] + rej[REJ_UNAVAILABLE]));
    static const char *rn[REJ_COUNT] = {"queue_full", "rate_limit", "draining", "loading", "unavailable"};
    json_t *jr = json_object();
    for (int i = 0; i < REJ_COUNT; i++) json_object_set_new(jr, rn[i], U(rej[i]));
    json_object_set_new(c, "rejected", jr);
    json_object_set_new(c, "errors_4xx", U(e4));
    json_object_set_new(c, "errors_5xx", U(e5));
    json_object_set_new(c, "generation_errors", U(fin[FIN_ERROR]));
    json_object_set_new(c, "cancelled", U(fin[FIN_ABORT]));
    json_object_set_new(c, "timeouts", U(fin[FIN_TIMEOUT]));
    json_object_set_new(c, "disconnects", U(dis));
    static const char *fn[FIN_COUNT] = {"stop", "length", "abort", "timeout", "error"};
    json_t *jf = json_object();
    for (int i = 0; i < FIN_COUNT; i++) json_object_set_new(jf, fn[i], U(fin[i]));
    json_object_set_new(c, "finished", jf);
}

char *srv_stats_json(const srv_stats_in *in) {
    const pg_engine_stats st = in->engine;
    srv_metrics *m = in->metrics;

    json_t *o = json_object();
    json_object_set_new(o, "object", json_string("pagoda.stats"));
    json_object_set_new(o, "model", json_string(in->model));
    json_object_set_new(o, "status", json_string(in->status));
    json_object_set_new(o, "uptime_s", U(in->uptime_s));
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    json_object_set_new(o, "time", json_real((double)ts.tv_sec + ts.tv_nsec * 1e-9));

    json_t *e = json_object();
    json_object_set_new(e, "running", U(st.running));
    json_object_set_new(e, "waiting", U(st.waiting));
    json_object_set_new(e, "kv_usage", json_real(st.kv_usage));
    json_object_set_new(e, "kv_blocks_total", U(st.kv_blocks_total));
    json_object_set_new(e, "kv_blocks_used", U(st.kv_blocks_used));
    json_object_set_new(e, "kv_blocks_cached", U(st.kv_blocks_cached));
    json_object_set_new(e, "kv_block_size", U(st.block_size));
    json_object_set_new(e, "kv_type", json_string(pg_kv_type_name(st.kv_type) ? pg_kv_type_name(st.kv_type) : "?"));
    json_object_set_new(e, "prefix_cache_queries", U(st.prefix_queries));
    json_object_set_new(e, "prefix_cache_hits", U(st.prefix_hits));
    json_object_set_new(e, "prefix_cache_hit_rate",
                        st.prefix_queries ? json_real((double)st.prefix_hits / (double)st.prefix_queries) : json_null());
    if (st.disk_enabled) {
        json_object_set_new(e, "prefix_cache_disk_hits", U(st.disk_hits));
        json_object_set_new(e, "prefix_cache_disk_misses", U(st.disk_misses));
        json_object_set_new(e, "prefix_cache_disk_hit_tokens", U(st.disk_hit_tokens));
        json_object_set_new(e, "prefix_cache_disk_files", U(st.disk_files));
        json_object_set_new(e, "prefix_cache_disk_bytes", U(st.disk_bytes));
    }
    json_object_set_new(e, "preemptions", U(st.preemptions));
    json_object_set_new(e, "steps", U(st.steps));
    json_object_set_new(e, "prompt_tokens", U(st.prompt_tokens));
    json_object_set_new(e, "generated_tokens", U(st.generated_tokens));
    json_object_set_new(e, "batch_seqs", U(st.last_batch_seqs));
    json_object_set_new(e, "batch_tokens", U(st.last_batch_tokens));
    json_object_set_new(e, "n_ctx", U(in->n_ctx));
    json_t *sp = json_object(), *sh = json_array();
    json_object_set_new(sp, "drafted_tokens", U(st.spec_drafted));
    json_object_set_new(sp, "accepted_tokens", U(st.spec_accepted));
    json_object_set_new(sp, "verify_passes", U(st.spec_verifies));
    json_object_set_new(sp, "acceptance_rate",
                        st.spec_drafted ? json_real((double)st.spec_accepted / (double)st.spec_drafted) : json_null());
    for (int i = 0; i < PG_SPEC_HIST; i++) json_array_append_new(sh, U(st.spec_hist[i]));
    json_object_set_new(sp, "acceptance_histogram", sh);
    json_object_set_new(e, "speculative", sp);
    json_object_set_new(o, "engine", e);

    json_t *c = json_object();
    set_counters(c, m, -1);
    json_object_set_new(c, "embedding_requests", U(atomic_load(&m->emb_requests[EMB_EMBED])));
    json_object_set_new(c, "rerank_requests", U(atomic_load(&m->emb_requests[EMB_RERANK])));
    json_object_set_new(c, "embedding_inputs", U(atomic_load(&m->emb_inputs[EMB_EMBED])));
    json_object_set_new(c, "rerank_documents", U(atomic_load(&m->emb_inputs[EMB_RERANK])));
    json_object_set_new(c, "embedding_tokens", U(atomic_load(&m->emb_tokens[EMB_EMBED])));
    json_object_set_new(c, "rerank_tokens", U(atomic_load(&m->emb_tokens[EMB_RERANK])));
    json_object_set_new(o, "counters", c);

    json_t *h = json_object();
    json_object_set_new(h, "ttft", total_json(m, H_TTFT));
    json_object_set_new(h, "itl", total_json(m, H_ITL));
    json_object_set_new(h, "e2e", total_json(m, H_E2E));
    json_object_set_new(h, "queue", total_json(m, H_QUEUE));
    json_object_set_new(h, "embedding", hist_json(&m->emb_h[EMB_EMBED]));
    json_object_set_new(h, "rerank", hist_json(&m->emb_h[EMB_RERANK]));
    json_object_set_new(o, "histograms", h);

    json_t *ps = json_object();
    for (int p = 0; p < SRV_PROTO_COUNT; p++) {
        if (!srv_metrics_proto_used(m, p)) continue;
        json_t *po = json_object(), *ph = json_object();
        set_counters(po, m, p);
        static const struct { const char *k; int h; } hs[] = {{"ttft", H_TTFT}, {"itl", H_ITL}, {"e2e", H_E2E}, {"queue", H_QUEUE}};
        for (size_t i = 0; i < sizeof hs / sizeof hs[0]; i++) json_object_set_new(ph, hs[i].k, hist_json(&m->p[p].h[hs[i].h]));
        json_object_set_new(po, "histograms", ph);
        json_object_set_new(ps, srv_proto_name(p), po);
    }
    json_object_set_new(o, "protocols", ps);

    json_object_set_new(o, "running", rows_json(in));
    return srv_dump(o, NULL);
}
