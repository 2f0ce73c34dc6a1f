/* metrics.c - the server's counters and latency histograms, and the
 * Prometheus text exposition of GET /metrics.
 *
 * Names follow vLLM's metric set under the "pagoda:" prefix, every series
 * labelled model_name="<alias>". Histograms are fixed arrays of
 * non-cumulative bucket counts (cumulated when printed) with a count and a
 * sum, under one small mutex each: they are observed once per token (inter-
 * token latency, engine thread) or once per finished choice, never on a
 * path that allocates. Counters are relaxed atomics. Engine gauges come from
 * one pg_engine_stats snapshot per scrape.
 *
 * Histogram semantics (seconds, per finished choice unless noted):
 *   time_to_first_token   submit -> first token (choices with a token only)
 *   inter_token_latency   between consecutive tokens of a choice (per token);
 *                         also exported as time_per_output_token (vLLM's
 *                         older name) with the same data
 *   e2e_request_latency   submit -> done
 *   request_queue_time    submit -> first scheduled
 *   request_prefill_time  first scheduled -> first token
 *   request_decode_time   first token -> done
 *   embedding_request_latency, rerank_request_latency
 *                         per successful /v1/embeddings or /v1/rerank
 *                         request: accepted -> body ready (queue included)
 *
 * Request series (HTTP statuses, rejections, finished choices, disconnects,
 * the generation histograms) are kept per protocol (srv_pmetrics) and
 * carry protocol="openai|anthropic|responses|ollama" after model_name; a
 * protocol other than openai is printed once it has counted something, so
 * a server that only speaks OpenAI keeps its short page. */
#include "server/metrics.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const double hist_bounds[SRV_HIST_NB] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075,
                                                0.1,    0.25,  0.5,    0.75,  1.0,  2.5,   5.0,  10.0,
                                                20.0,   40.0,  80.0,   160.0, 320.0, 640.0};

const double *srv_hist_bounds(void) { return hist_bounds; }

static const char *const proto_names[SRV_PROTO_COUNT] = {"openai", "anthropic", "responses", "ollama"};

const char *srv_proto_name(int proto) {
    return proto >= 0 && proto < SRV_PROTO_COUNT ? proto_names[proto] : "openai";
}

void srv_metrics_init(srv_metrics *m) {
    memset(m, 0, sizeof *m);
    for (int p = 0; p < SRV_PROTO_COUNT; p++)
        for (int i = 0; i < H_COUNT; i++) pthread_mutex_init(&m->p[p].h[i].mu, NULL);
    for (int i = 0; i < EMB_KINDS; i++) pthread_mutex_init(&m->emb_h[i].mu, NULL);
}

void srv_metrics_free(srv_metrics *m) {
    for (int p = 0; p < SRV_PROTO_COUNT; p++)
        for (int i = 0; i < H_COUNT; i++) pthread_mutex_destroy(&m->p[p].h[i].mu);
    for (int i = 0; i < EMB_KINDS; i++) pthread_mutex_destroy(&m->emb_h[i].mu);
}

int srv_metrics_proto_used(srv_metrics *m, int proto) {
    if (proto == SRV_PROTO_OPENAI) return 1;
    srv_pmetrics *pm = &m->p[proto];
    if (atomic_load(&pm->requests) || atomic_load(&pm->disconnects)) return 1;
    for (int c = 100; c < 600; c++)
        if (atomic_load(&pm->status[c])) return 1;
    return 0;
}

static void hist_copy(srv_hist *h, uint64_t b[SRV_HIST_NB + 1], uint64_t *count, double *sum) {
    pthread_mutex_lock(&h->mu);
    memcpy(b, h->b, sizeof h->b);
    *count = h->count;
    *sum = h->sum;
    pthread_mutex_unlock(&h->mu);
}

void srv_hist_total(srv_metrics *m, int which, uint64_t b[SRV_HIST_NB + 1], uint64_t *count, double *sum) {
    memset(b, 0, sizeof(uint64_t) * (SRV_HIST_NB + 1));
    *count = 0;
    *sum = 0;
    for (int p = 0; p < SRV_PROTO_COUNT; p++) {
        uint64_t pb[SRV_HIST_NB + 1], pc;
        double ps;
        hist_copy(&m->p[p].h[which], pb, &pc, &ps);
        for (int i = 0; i <= SRV_HIST_NB; i++) b[i] += pb[i];
        *count += pc;
        *sum += ps;
    }
}

void srv_hist_observe(srv_hist *h, double v) {
    if (!(v >= 0)) v = 0; /* NaN or a clock step: count it in the first bucket */
    int b = 0;
    while (b < SRV_HIST_NB && v > hist_bounds[b]) b++;
    pthread_mutex_lock(&h->mu);
    h->b[b]++;
    h->count++;
    h->sum += v;
    pthread_mutex_unlock(&h->mu);
}

/* A per-protocol counter family with one more label:
 * name{model_name, protocol, label=names[i]} p[proto].v[i], the array at
 * byte offset off of srv_pmetrics. */
static void print_counters(FILE *f, srv_metrics *mt, const char *model, const char *name, const char *help,
                           const char *label, const char *const *names, size_t off, int n) {
    fprintf(f, "# HELP pagoda:%s %s\n# TYPE pagoda:%s counter\n", name, help, name);
    for (int p = 0; p < SRV_PROTO_COUNT; p++) {
        if (!srv_metrics_proto_used(mt, p)) continue;
        atomic_uint_fast64_t *v = (atomic_uint_fast64_t *)((char *)&mt->p[p] + off);
        for (int i = 0; i < n; i++)
            fprintf(f, "pagoda:%s{model_name=\"%s\",protocol=\"%s\",%s=\"%s\"} %llu\n", name, model, proto_names[p],
                    label, names[i], (unsigned long long)atomic_load(&v[i]));
    }
}

/* One histogram's series; lab is "" or ",protocol=\"x\"". */
static void print_hist_series(FILE *f, const char *model, const char *name, const char *lab, srv_hist *h) {
    uint64_t b[SRV_HIST_NB + 1], count;
    double sum;
    hist_copy(h, b, &count, &sum);
    uint64_t cum = 0;
    for (int i = 0; i < SRV_HIST_NB; i++) {
        cum += b[i];
        fprintf(f, "pagoda:%s_bucket{model_name=\"%s\"%s,le=\"%g\"} %llu\n", name, model, lab, hist_bounds[i],
                (unsigned long long)cum);
    }
    cum += b[SRV_HIST_NB];
    fprintf(f, "pagoda:%s_bucket{model_name=\"%s\"%s,le=\"+Inf\"} %llu\n", name, model, lab, (unsigned long long)cum);
    fprintf(f, "pagoda:%s_sum{model_name=\"%s\"%s} %.9g\n", name, model, lab, sum);
    fprintf(f, "pagoda:%s_count{model_name=\"%s\"%s} %llu\n", name, model, lab, (unsigned long long)count);
}

static void print_hist(FILE *f, const char *model, const char *name, const char *help, srv_hist *h) {
    fprintf(f, "# HELP pagoda:%s %s\n# TYPE pagoda:%s histogram\n", name, help, name);
    print_hist_series(f, model, name, "", h);
}

/* A generation histogram, one series set per protocol in use. */
static void print_phist(FILE *f, srv_metrics *mt, const char *model, const char *name, const char *help, int which) {
    fprintf(f, "# HELP pagoda:%s %s\n# TYPE pagoda:%s histogram\n", name, help, name);
    for (int p = 0; p < SRV_PROTO_COUNT; p++) {
        if (!srv_metrics_proto_used(mt, p)) continue;
        char lab[40];
        snprintf(lab, sizeof lab, ",protocol=\"%s\"", proto_names[p]);
        print_hist_series(f, model, name, lab, &mt->p[p].h[which]);
    }
}

char *srv_metrics_text(srv_metrics *mt, const char *m, const pg_engine_stats *stp, int draining, size_t *len) {
    pg_engine_stats st = *stp;
    char *buf = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&buf, &n);
    if (!f) return NULL;
#define G(name, help, type, fmt, val)                                                                              \
    fprintf(f, "# HELP pagoda:" name " " help "\n# TYPE pagoda:" name " " type "\npagoda:" name "{model_name=\"%s\"} " fmt "\n", \
            m, val)
    G("num_requests_running", "Requests in the running batch.", "gauge", "%d", st.running);
    G("num_requests_waiting", "Requests waiting to be scheduled.", "gauge", "%d", st.waiting);
    G("num_requests_paused", "Sequences paused until their slow client reads (--max-unsent-bytes).", "gauge", "%d",
      st.paused);
    G("kv_cache_usage_perc", "Fraction of KV-cache blocks in use (0..1).", "gauge", "%.6f", st.kv_usage);
    G("kv_blocks_total", "KV-cache blocks in the pool.", "gauge", "%d", st.kv_blocks_total);
    G("kv_blocks_used", "KV-cache blocks held by requests.", "gauge", "%d", st.kv_blocks_used);
    G("kv_blocks_free", "KV-cache blocks allocatable (free or cached).", "gauge", "%d", st.kv_blocks_total - st.kv_blocks_used);
    G("kv_blocks_cached", "Unused KV-cache blocks kept for prefix reuse.", "gauge", "%d", st.kv_blocks_cached);
    G("batch_size", "Sequences in the last engine step.", "gauge", "%d", st.last_batch_seqs);
    G("batch_tokens", "Tokens in the last engine step.", "gauge", "%d", st.last_batch_tokens);
    G("draining", "1 while the server drains after a stop signal.", "gauge", "%d", draining);
    G("prefix_cache_queries_total", "Prompt tokens looked up in the prefix cache.", "counter", "%llu",
      (unsigned long long)st.prefix_queries);
    G("prefix_cache_hits_total", "Prompt tokens served from the prefix cache.", "counter", "%llu",
      (unsigned long long)st.prefix_hits);
    if (st.disk_enabled) { /* --prefix-cache-dir */
        G("prefix_cache_disk_hits_total", "KV blocks loaded from the disk prefix cache.", "counter", "%llu",
          (unsigned long long)st.disk_hits);
        G("prefix_cache_disk_misses_total", "Disk prefix-cache lookups that found no usable file.", "counter", "%llu",
          (unsigned long long)st.disk_misses);
        G("prefix_cache_disk_hit_tokens_total", "Prompt tokens served from the disk prefix cache.", "counter", "%llu",
          (unsigned long long)st.disk_hit_tokens);
        G("prefix_cache_disk_read_bytes_total", "Bytes of block files read.", "counter", "%llu",
          (unsigned long long)st.disk_bytes_read);
        G("prefix_cache_disk_written_bytes_total", "Bytes of block files written.", "counter", "%llu",
          (unsigned long long)st.disk_bytes_written);
        G("prefix_cache_disk_files_written_total", "Block files written.", "counter", "%llu",
          (unsigned long long)st.disk_files_written);
        G("prefix_cache_disk_invalid_files_total",
          "Block files removed as invalid (truncated, corrupt, another model or KV type, bad magic or version).",
          "counter", "%llu", (unsigned long long)st.disk_files_invalid);
        G("prefix_cache_disk_evicted_files_total", "Block files removed by the size bound (LRU).", "counter", "%llu",
          (unsigned long long)st.disk_files_evicted);
        G("prefix_cache_disk_dropped_total", "Evicted blocks not written because the write queue was full.",
          "counter", "%llu", (unsigned long long)st.disk_dropped);
        G("prefix_cache_disk_write_errors_total", "Block files that could not be written.", "counter", "%llu",
          (unsigned long long)st.disk_write_errors);
        G("prefix_cache_disk_files", "Block files in the disk prefix cache.", "gauge", "%llu",
          (unsigned long long)st.disk_files);
        G("prefix_cache_disk_bytes", "Bytes of block files in the disk prefix cache.", "gauge", "%llu",
          (unsigned long long)st.disk_bytes);
    }
    G("num_preemptions_total", "Sequences preempted (recomputed later).", "counter", "%llu", (unsigned long long)st.preemptions);
    G("engine_steps_total", "Engine steps run.", "counter", "%llu", (unsigned long long)st.steps);
    G("prompt_tokens_total", "Prompt tokens processed.", "counter", "%llu", (unsigned long long)st.prompt_tokens);
    G("generation_tokens_total", "Tokens generated.", "counter", "%llu", (unsigned long long)st.generated_tokens);
    G("chat_special_text_messages_total",
      "Chat messages holding special-token text (e.g. <|end|>) that was tokenized as plain text (injection attempts).",
      "counter", "%llu", (unsigned long long)atomic_load(&mt->special_text_messages));
    G("connections_refused_total", "Connections closed at accept: --max-connections or --max-connections-per-ip.",
      "counter", "%llu", (unsigned long long)atomic_load(&mt->conn_refused));
    G("connections_timed_out_total", "Connections closed for headers or a body not received in time (--timeout).",
      "counter", "%llu", (unsigned long long)atomic_load(&mt->conn_late));
    G("spec_draft_tokens_total", "Speculative decoding: tokens drafted (n-gram or draft model).", "counter", "%llu",
      (unsigned long long)st.spec_drafted);
    G("spec_accepted_tokens_total", "Speculative decoding: drafted tokens the model accepted.", "counter", "%llu",
      (unsigned long long)st.spec_accepted);
    G("spec_verify_passes_total", "Speculative decoding: decode steps that verified drafts.", "counter", "%llu",
      (unsigned long long)st.spec_verifies);
#undef G
    { /* per finished choice that drafted: accepted / drafted, cumulative buckets of 0.1 */
        fprintf(f, "# HELP pagoda:spec_acceptance_rate Speculative decoding: acceptance rate of each finished choice that "
                   "drafted tokens.\n# TYPE pagoda:spec_acceptance_rate histogram\n");
        uint64_t cum = 0;
        double sum = 0;
        for (int i = 0; i < PG_SPEC_HIST; i++) {
            cum += st.spec_hist[i];
            sum += (double)st.spec_hist[i] * (i + 0.5) / PG_SPEC_HIST; /* bucket midpoints */
            if (i < PG_SPEC_HIST - 1)
                fprintf(f, "pagoda:spec_acceptance_rate_bucket{model_name=\"%s\",le=\"%.1f\"} %llu\n", m,
                        (double)(i + 1) / PG_SPEC_HIST, (unsigned long long)cum);
        }
        fprintf(f, "pagoda:spec_acceptance_rate_bucket{model_name=\"%s\",le=\"+Inf\"} %llu\n", m, (unsigned long long)cum);
        fprintf(f, "pagoda:spec_acceptance_rate_sum{model_name=\"%s\"} %.3f\n", m, sum);
        fprintf(f, "pagoda:spec_acceptance_rate_count{model_name=\"%s\"} %llu\n", m, (unsigned long long)cum);
    }
    fprintf(f, "# HELP pagoda:client_disconnects_total Requests cancelled because their client went away.\n"
               "# TYPE pagoda:client_disconnects_total counter\n");
    for (int p = 0; p < SRV_PROTO_COUNT; p++)
        if (srv_metrics_proto_used(mt, p))
            fprintf(f, "pagoda:client_disconnects_total{model_name=\"%s\",protocol=\"%s\"} %llu\n", m, proto_names[p],
                    (unsigned long long)atomic_load(&mt->p[p].disconnects));
    fprintf(f, "# HELP pagoda:http_requests_total HTTP responses by status code.\n"
               "# TYPE pagoda:http_requests_total counter\n");
    for (int p = 0; p < SRV_PROTO_COUNT; p++)
        for (int c = 100; c < 600; c++) {
            uint64_t v = atomic_load(&mt->p[p].status[c]);
            if (v)
                fprintf(f, "pagoda:http_requests_total{model_name=\"%s\",protocol=\"%s\",status=\"%d\"} %llu\n", m,
                        proto_names[p], c, (unsigned long long)v);
        }
    static const char *rej[REJ_COUNT] = {"queue_full", "rate_limit", "draining", "loading", "unavailable"};
    print_counters(f, mt, m, "request_rejected_total", "Requests refused with 429 or 503, by reason.", "reason", rej,
                   offsetof(srv_pmetrics, rejected), REJ_COUNT);
    static const char *fin[FIN_COUNT] = {"stop", "length", "abort", "timeout", "error"};
    print_counters(f, mt, m, "request_success_total", "Finished choices by finish reason.", "finished_reason", fin,
                   offsetof(srv_pmetrics, finished), FIN_COUNT);
    print_phist(f, mt, m, "time_to_first_token_seconds", "Time to first token.", H_TTFT);
    print_phist(f, mt, m, "inter_token_latency_seconds", "Time between consecutive tokens of a choice.", H_ITL);
    print_phist(f, mt, m, "time_per_output_token_seconds", "Same data as inter_token_latency_seconds (vLLM's older name).",
                H_ITL);
    print_phist(f, mt, m, "e2e_request_latency_seconds", "Submit to finish, per choice.", H_E2E);
    print_phist(f, mt, m, "request_queue_time_seconds", "Submit to first scheduled.", H_QUEUE);
    print_phist(f, mt, m, "request_prefill_time_seconds", "First scheduled to first token.", H_PREFILL);
    print_phist(f, mt, m, "request_decode_time_seconds", "First token to finish.", H_DECODE);
    static const char *ek[EMB_KINDS] = {"embedding", "rerank"};
    static const char *eu[EMB_KINDS] = {"texts", "documents"};
    for (int k = 0; k < EMB_KINDS; k++) {
        char name[64], help[160];
#define EC(suffix, what, v)                                                                                         \
    snprintf(name, sizeof name, "%s_%s", ek[k], suffix);                                                           \
    snprintf(help, sizeof help, what, k == EMB_EMBED ? "/v1/embeddings" : "/v1/rerank", eu[k]);                   \
    fprintf(f, "# HELP pagoda:%s %s\n# TYPE pagoda:%s counter\npagoda:%s{model_name=\"%s\"} %llu\n", name, help, name, \
            name, m, (unsigned long long)atomic_load(&(v)))
        EC("requests_total", "%s requests accepted (past admission and validation)%.0s.", mt->emb_requests[k]);
        EC("requests_success_total", "%s requests answered 200%.0s.", mt->emb_ok[k]);
        EC("inputs_total", "Inputs of successful %s requests (%s).", mt->emb_inputs[k]);
        EC("prompt_tokens_total", "Input tokens of successful %s requests%.0s.", mt->emb_tokens[k]);
#undef EC
        snprintf(name, sizeof name, "%s_request_latency_seconds", ek[k]);
        snprintf(help, sizeof help, "Accepted to answered, per successful %s request (queue included).",
                 k == EMB_EMBED ? "/v1/embeddings" : "/v1/rerank");
        print_hist(f, m, name, help, &mt->emb_h[k]);
    }
    fprintf(f, "# HELP pagoda:embedding_passes_total Encoder forward passes run for embeddings and reranking.\n"
               "# TYPE pagoda:embedding_passes_total counter\npagoda:embedding_passes_total{model_name=\"%s\"} %llu\n",
            m, (unsigned long long)atomic_load(&mt->emb_passes));
    fclose(f);
    *len = n;
    return buf;
}
