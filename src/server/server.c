/* server.c - lifecycle of `pagoda serve`: load the API keys, listen first
 * (so /ready says 503 while loading), load the model (file or built-in
 * demo), vocabulary and chat template, start the engine (not for an
 * encoder, which only embeds or reranks), the embedder when the model has a
 * pooling type or --pooling is given (its own thread pool) and the
 * embedding queue (embed_api.h; always made, it answers 400 without an
 * embedder), announce readiness
 * with the single line "pagoda: listening on http://HOST:PORT", serve until
 * asked to stop (reloading the key file when *reload is set), then drain:
 *   1. draining = 1: new work gets 503, /ready 503; running work goes on;
 *   2. wait until nothing is in flight (engine idle and no live generation
 *      request) or shutdown_grace_s passed;
 *   3. cancel what is left (CANCELLED events end those responses with
 *      finish_reason "abort") and give the HTTP side a moment to flush;
 *   4. tear down in the order that keeps every callback target alive:
 *      destroy the engine, cancel the embedding jobs and wait for them,
 *      stop the HTTP daemon, destroy the embedding queue and the embedder.
 * "In flight" counts embedding jobs as well. */
#include "server/server.h"

#include "base/log.h"
#include "model/demo.h"
#include "server/adapter.h"
#include "server/auth.h"
#include "server/embed_api.h"
#include "server/http.h"
#include "server/metrics.h"
#include "server/otlp.h"
#include "server/request.h"
#include "server/usage.h"
#include "tokenizer/tokenizer.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Bounds of the structured-output grammar cache (gram_cache.h): entries,
 * and bytes of their keys (schema / grammar text plus the GBNF it compiled
 * to). A compiled grammar also grows its own lazily built DFA states and
 * mask caches (grammar.h caps those at 64 MiB per grammar), so the entry
 * count is what bounds that memory. */
#define SRV_GRAMMAR_CACHE_ENTRIES 32
#define SRV_GRAMMAR_CACHE_BYTES ((size_t)32 << 20)

/* The server: owned here, lent to the HTTP front (srv_http_env), the
 * adapters (ctx) and the request core (core). */
typedef struct pg_srv {
    pg_server_config cfg;
    atomic_int state;      /* SRV_* */
    atomic_int draining;   /* stop signal seen: new work gets 503 */
    atomic_int stopping;   /* tearing down */
    atomic_int grace_over; /* the drain's grace is over: template renders are cancelled */
    atomic_uint_least64_t load_done, load_total; /* model load progress (bytes) for /health */
    pg_model *model;
    pg_model *draft;         /* speculative decoding's draft model, or NULL */
    void *demo_image;      /* GGUF bytes of the demo model (NULL for a file) */
    pg_vocab *vocab;
    pg_engine *engine;
    pthread_rwlock_t engine_lock; /* read: any engine call; write: flipping engine_alive */
    int engine_alive;
    pg_tpl *tpl;
    char *bos_text, *eos_text;
    char *tpl_text;        /* the chat template's source (Ollama's /api/show) */
    char alias[256];
    srv_ctx ctx;
    srv_core core;
    srv_idgen ids;
    srv_metrics m;
    srv_keyset *keys;
    srv_http *http;
    srv_usage_acct *usage; /* usage.h */
    srv_otlp *otlp;        /* otlp.h, NULL without --otlp-endpoint */
    /* embeddings / reranking (NULL when the model does neither) */
    pg_pool *emb_pool;     /* the embedder's own threads (pg_pool_run is single-owner) */
    pg_embedder *emb;
    srv_embq *embq;        /* always made once the model is loaded */
    char emb_refusal[640]; /* why there is no embedder */
} pg_srv;

void pg_server_config_default(pg_server_config *c) {
    memset(c, 0, sizeof *c);
    c->host = "127.0.0.1";
    c->port = 8080;
    c->max_body_bytes = (size_t)16 << 20;
    c->max_connections = 512;
    c->max_connections_per_ip = 64;
    c->max_json_values = (size_t)1 << 18;
    c->max_unsent_bytes = (size_t)4 << 20;
    c->max_response_entries = (uint64_t)1 << 21;
    c->responses_store_max = 1024;
    c->responses_store_bytes = (size_t)64 << 20;
    c->responses_ttl_s = 3600;
    c->connection_memory = (size_t)64 << 10;
    c->connection_timeout_s = 120;
    c->http_threads = 2;
    c->demo_seed = 1234;
    c->request_timeout_s = 600;
    c->max_messages = 1024;
    c->shutdown_grace_s = 30;
    c->pooling = PG_POOL_UNSPEC;
    c->matryoshka = -1;
    pg_engine_config_default(&c->engine);
}

static char *token_text_dup(const pg_vocab *v, int32_t id) {
    if (id < 0) return NULL;
    size_t n;
    const char *t = pg_vocab_token_text(v, id, &n);
    if (!t) return NULL;
    char *s = malloc(n + 1);
    if (!s) return NULL;
    memcpy(s, t, n);
    s[n] = 0;
    return s;
}

/* ---------- engine access guarded against shutdown ---------- */

static int64_t engine_submit(void *ctx, const pg_request *q, pg_error *err) {
    pg_srv *s = ctx;
    pthread_rwlock_rdlock(&s->engine_lock);
    int64_t id = s->engine_alive ? pg_engine_submit(s->engine, q, err)
                                 : pg_error_set(err, PG_ECANCELED, "the server is shutting down");
    pthread_rwlock_unlock(&s->engine_lock);
    return id;
}

static void engine_cancel(void *ctx, int64_t id) {
    pg_srv *s = ctx;
    if (id <= 0) return;
    pthread_rwlock_rdlock(&s->engine_lock);
    if (s->engine_alive) pg_engine_cancel(s->engine, (uint64_t)id);
    pthread_rwlock_unlock(&s->engine_lock);
}

static void engine_pause(void *ctx, int64_t id, int paused) {
    pg_srv *s = ctx;
    if (id <= 0) return;
    pthread_rwlock_rdlock(&s->engine_lock);
    if (s->engine_alive) pg_engine_pause(s->engine, (uint64_t)id, paused);
    pthread_rwlock_unlock(&s->engine_lock);
}

static void engine_stats(void *arg, pg_engine_stats *st) {
    pg_srv *s = arg;
    memset(st, 0, sizeof *st);
    pthread_rwlock_rdlock(&s->engine_lock);
    if (s->engine_alive) pg_engine_stats_get(s->engine, st);
    pthread_rwlock_unlock(&s->engine_lock);
}

static int load_template(pg_srv *s, pg_error *err) {
    char *src = NULL;
    size_t len = 0;
    const char *origin = NULL;
    if (s->cfg.chat_template_path) {
        FILE *f = fopen(s->cfg.chat_template_path, "rb");
        if (!f) return pg_error_set(err, PG_EIO, "cannot open chat template '%s'", s->cfg.chat_template_path);
        fseek(f, 0, SEEK_END);
        long n = ftell(f);
        fseek(f, 0, SEEK_SET);
        if (n < 0 || n > (4L << 20)) {
            fclose(f);
            return pg_error_set(err, PG_ELIMIT, "chat template '%s' is larger than 4 MiB", s->cfg.chat_template_path);
        }
        src = malloc((size_t)n + 1);
        if (!src || fread(src, 1, (size_t)n, f) != (size_t)n) {
            fclose(f);
            free(src);
            return pg_error_set(err, PG_EIO, "cannot read chat template '%s'", s->cfg.chat_template_path);
        }
        fclose(f);
        len = (size_t)n;
        origin = s->cfg.chat_template_path;
        /* an explicit template must compile */
        src[len] = 0;
        int rc = pg_tpl_compile(src, len, &s->tpl, err);
        pg_tc_detect(src, len, &s->ctx.tc);
        s->tpl_text = src;
        if (rc < 0) return rc;
        PG_INFO("chat template: %s", origin);
        return 0;
    }
    const char *t;
    size_t tl;
    if (pg_gguf_get_str(pg_model_gguf(s->model), "tokenizer.chat_template", &t, &tl, NULL) == 0) {
        pg_error e = {0};
        if (pg_tpl_compile(t, tl, &s->tpl, &e) == 0) {
            pg_tc_detect(t, tl, &s->ctx.tc);
            s->tpl_text = strndup(t, tl);
            PG_INFO("chat template: the model's tokenizer.chat_template");
            return 0;
        }
        PG_WARN("the model's chat template does not compile (%s); using the ChatML fallback", e.msg);
    } else {
        PG_WARN("the model has no chat template; /v1/chat/completions uses the ChatML fallback "
                "(override with --chat-template FILE)");
    }
    const char *fb = pg_chat_fallback_template();
    pg_tc_style_of(PG_TC_GENERIC, &s->ctx.tc);
    s->tpl_text = strdup(fb);
    return pg_tpl_compile(fb, strlen(fb), &s->tpl, err);
}

/* The served model id: --model-alias, else the file's name without .gguf
 * (what a user sees in `ls`, and what --models-dir will use), else the
 * demo model's name. general.name is not used: stories260K says "llama". */
static void set_alias(pg_srv *s) {
    if (s->cfg.model_alias && *s->cfg.model_alias) {
        snprintf(s->alias, sizeof s->alias, "%s", s->cfg.model_alias);
        return;
    }
    if (s->cfg.model_path) {
        pg_model_id_from_path(s->cfg.model_path, s->alias, sizeof s->alias);
        if (s->alias[0]) return;
    }
    snprintf(s->alias, sizeof s->alias, "%s", PG_DEMO_NAME);
}

/* The embedder: for an encoder (always), a model whose file sets a pooling
 * type, or any model served with --pooling. A chat model whose embedder
 * cannot be built from its file's pooling type still serves generation
 * (its /v1/embeddings answers 400 with the reason); with --pooling given,
 * or for an encoder, that failure stops the server. */
static int load_embedder(pg_srv *s, int caps, pg_error *err) {
    const pg_hparams *hp = pg_model_hparams(s->model);
    const int gen = (caps & PG_CAP_GENERATE) != 0, flag = s->cfg.pooling != PG_POOL_UNSPEC;
    if (gen && !flag && hp->pooling == PG_POOL_UNSPEC) {
        snprintf(s->emb_refusal, sizeof s->emb_refusal,
                 "model does not support embeddings: %s has no pooling type (serve it with --pooling last, mean or cls)",
                 hp->arch);
        return 0;
    }
    int threads = s->cfg.engine.threads > 0 ? s->cfg.engine.threads : 2;
    if (!(s->emb_pool = pg_pool_create(threads))) return pg_error_set(err, PG_ENOMEM, "cannot start threads");
    pg_embed_config ec = {s->cfg.engine.max_batched_tokens, s->cfg.embed_batch_inputs, s->cfg.pooling,
                          s->cfg.matryoshka, s->cfg.embed_batch_wait_us};
    pg_error e = {0};
    int rc = pg_embedder_create(s->model, s->vocab, s->emb_pool, &ec, &s->emb, &e);
    if (rc == 0) return 0;
    pg_pool_destroy(s->emb_pool);
    s->emb_pool = NULL;
    if (!gen || flag) {
        *err = e;
        return rc;
    }
    snprintf(s->emb_refusal, sizeof s->emb_refusal, "%s", e.msg);
    PG_WARN("no embeddings for this model: %s", e.msg);
    return 0;
}

/* pg_load_progress_fn: called on the loading thread; /health reads it */
static void on_load_progress(void *ud, uint64_t done, uint64_t total) {
    pg_srv *s = ud;
    atomic_store(&s->load_total, total);
    atomic_store(&s->load_done, done);
}

static int load_all(pg_srv *s, pg_error *err) {
    int rc;
    if (s->cfg.model_path) {
        PG_INFO("loading %s", s->cfg.model_path);
        if ((rc = pg_model_load_progress(s->cfg.model_path, on_load_progress, s, &s->model, err)) < 0) return rc;
    } else {
        size_t sz;
        if ((rc = pg_demo_model_create(s->cfg.demo_seed, &s->model, &s->demo_image, &sz, err)) < 0) return rc;
        PG_WARN("*****************************************************************");
        PG_WARN("* no -m given: serving the built-in DEMO model with RANDOM weights *");
        PG_WARN("* (its output is gibberish). Serve a real model with:            *");
        PG_WARN("*     pagoda serve -m FILE.gguf                                  *");
        PG_WARN("*****************************************************************");
    }
    if ((rc = pg_vocab_load(pg_model_gguf(s->model), &s->vocab, err)) < 0) return rc;
    const pg_hparams *hp = pg_model_hparams(s->model);
    if (pg_vocab_n_tokens(s->vocab) != hp->n_vocab)
        return pg_error_set(err, PG_EFORMAT, "the vocabulary has %d tokens but the model has %d rows",
                            pg_vocab_n_tokens(s->vocab), hp->n_vocab);
    set_alias(s);
    s->bos_text = token_text_dup(s->vocab, pg_vocab_bos(s->vocab));
    s->eos_text = token_text_dup(s->vocab, pg_vocab_eos(s->vocab));
    const int caps = pg_model_caps(s->model);
    const int gen = (caps & PG_CAP_GENERATE) != 0;
    pg_engine_stats st;
    memset(&st, 0, sizeof st);
    if (gen) { /* an encoder has no chat template and no generation engine */
        if ((rc = load_template(s, err)) < 0) return rc;
        PG_INFO("tool calls: %s format%s", pg_tc_format_name(s->ctx.tc.format),
                s->ctx.tc.think ? ", reasoning in thinking markers" : "");
        if (s->cfg.draft_model_path) {
            PG_INFO("loading the draft model %s", s->cfg.draft_model_path);
            if ((rc = pg_model_load(s->cfg.draft_model_path, &s->draft, err)) < 0) return rc;
            s->cfg.engine.draft_model = s->draft;
        }
        if ((rc = pg_engine_create(s->model, s->vocab, &s->cfg.engine, &s->engine, err)) < 0) return rc;
        if (s->cfg.engine.spec_mode != PG_SPEC_OFF)
            PG_INFO("speculative decoding: %s, at most %d drafted tokens per step%s",
                    s->cfg.engine.spec_mode == PG_SPEC_NGRAM ? "n-gram prompt lookup" : "draft model",
                    s->cfg.engine.spec_tokens ? s->cfg.engine.spec_tokens : 8,
                    s->cfg.engine.spec_tokens ? "" : " (adaptive)");
        pg_engine_stats_get(s->engine, &st);
    }
    if ((rc = load_embedder(s, caps, err)) < 0) return rc;
    int32_t n_ctx = st.n_ctx > 0 ? st.n_ctx : (s->cfg.engine.n_ctx > 0 ? s->cfg.engine.n_ctx : hp->n_ctx_train);
    if (!gen && s->emb) n_ctx = pg_embedder_max_input(s->emb);
    srv_ctx *c = &s->ctx; /* what the adapters see; the rest was set at start */
    c->vocab = s->vocab;
    c->tpl = s->tpl;
    c->bos_text = s->bos_text;
    c->eos_text = s->eos_text;
    c->n_ctx = n_ctx;
    c->n_vocab = hp->n_vocab;
    c->demo = s->demo_image != NULL;
    c->demo_notice = PG_DEMO_NOTICE;
    c->caps = (gen ? PG_CAP_GENERATE : 0) | (s->emb ? pg_embedder_caps(s->emb) : 0);
    c->pooling = s->emb ? pg_pooling_name(pg_embedder_pooling(s->emb)) : NULL;
    c->embed_dim = s->emb ? pg_embedder_dim(s->emb) : 0;
    c->embed_matryoshka = s->emb ? pg_embedder_matryoshka(s->emb) : 0;
    c->model = s->model;
    c->model_path = s->cfg.model_path;
    c->version = s->cfg.version;
    c->tpl_text = s->tpl_text;
    srv_embq_config qc = {.emb = s->emb,
                          .refusal = s->emb_refusal,
                          .ctx = c,
                          .metrics = &s->m,
                          .keys = s->keys,
                          .workers = s->cfg.embed_workers,
                          .max_queued = s->cfg.engine.max_queued_requests};
    if ((rc = srv_embq_create(&qc, &s->embq, err)) < 0) return rc;
    if (gen) {
        pthread_rwlock_wrlock(&s->engine_lock);
        s->engine_alive = 1;
        pthread_rwlock_unlock(&s->engine_lock);
        PG_INFO("model '%s' (%s, %d layers, vocab %d), context %d, KV blocks %d x %d", s->alias, hp->arch, hp->n_layer,
                hp->n_vocab, n_ctx, st.kv_blocks_total, st.block_size);
    } else {
        PG_INFO("model '%s' (%s encoder, %d layers, vocab %d): %s only, no generation; %d tokens per input", s->alias,
                hp->arch, hp->n_layer, hp->n_vocab, c->caps & PG_CAP_RERANK ? "reranking" : "embeddings", n_ctx);
    }
    if (s->emb)
        PG_INFO("embeddings: pooling %s, %d dimensions%s, %d tokens per pass", c->pooling, c->embed_dim,
                c->embed_matryoshka ? " (Matryoshka)" : "", s->cfg.engine.max_batched_tokens);
    return 0;
}

static void free_all(pg_srv *s) {
    pthread_rwlock_wrlock(&s->engine_lock);
    int alive = s->engine_alive;
    s->engine_alive = 0;
    pthread_rwlock_unlock(&s->engine_lock);
    (void)alive;
    if (s->engine) pg_engine_destroy(s->engine);
    s->engine = NULL;
    /* embedding jobs end (cancelled) before the HTTP side goes, so no
     * worker wakes a connection being torn down; the queue outlives the
     * connections that still hold jobs */
    srv_embq_cancel_all(s->embq);
    for (int i = 0; i < 500 && srv_embq_pending(s->embq); i++) {
        struct timespec ts = {0, 10000000L};
        nanosleep(&ts, NULL);
    }
    srv_http_stop(s->http);
    s->http = NULL;
    srv_otlp_destroy(s->otlp); /* after the HTTP front: nothing pushes any more; flushes */
    s->otlp = NULL;
    srv_usage_destroy(s->usage);
    s->usage = NULL;
    srv_embq_destroy(s->embq);
    s->embq = NULL;
    pg_embedder_destroy(s->emb);
    s->emb = NULL;
    if (s->emb_pool) pg_pool_destroy(s->emb_pool);
    s->emb_pool = NULL;
    srv_keys_destroy(s->keys);
    s->keys = NULL;
    srv_metrics_free(&s->m);
    pg_gram_cache_destroy(s->ctx.grammars); /* grammars still held by requests live on */
    s->ctx.grammars = NULL;
    srv_rstore_destroy(s->ctx.responses);
    s->ctx.responses = NULL;
    if (s->tpl) pg_tpl_free(s->tpl);
    pg_vocab_free(s->vocab);
    pg_model_free(s->model);
    pg_model_free(s->draft);
    free(s->demo_image);
    free(s->bos_text);
    free(s->tpl_text);
    s->tpl_text = NULL;
    free(s->eos_text);
    pthread_rwlock_destroy(&s->engine_lock);
}

static void sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static int engine_busy(pg_srv *s) {
    pg_engine_stats st;
    engine_stats(s, &st);
    return st.running + st.waiting + st.paused + srv_embq_pending(s->embq);
}

static void drain(pg_srv *s) {
    atomic_store(&s->draining, 1);
    double grace = s->cfg.shutdown_grace_s > 0 ? s->cfg.shutdown_grace_s : 0;
    int live = srv_http_live_count(s->http), busy = engine_busy(s);
    PG_INFO("draining: %d request(s) in flight, up to %.1f s grace", live, grace);
    double t0 = srv_now();
    while ((live || busy) && srv_now() - t0 < grace) {
        sleep_ms(20);
        live = srv_http_live_count(s->http);
        busy = engine_busy(s);
    }
    atomic_store(&s->grace_over, 1); /* a render still running (hostile template) stops now */
    if (live || busy) {
        srv_embq_cancel_all(s->embq);
        int n = srv_http_cancel_all(s->http);
        PG_WARN("grace period over: cancelling %d request(s)", n);
        /* let the cancelled responses reach their clients */
        double t1 = srv_now();
        while (srv_http_live_count(s->http) && srv_now() - t1 < 2.0) sleep_ms(20);
    }
    PG_INFO("drained in %.2f s", srv_now() - t0);
}

int pg_server_run(const pg_server_config *c, volatile sig_atomic_t *stop, pg_error *err) {
    pg_srv *s = calloc(1, sizeof *s);
    if (!s) return pg_error_set(err, PG_ENOMEM, "out of memory");
    s->cfg = *c;
    pthread_rwlock_init(&s->engine_lock, NULL);
    srv_metrics_init(&s->m);
    srv_idgen_init(&s->ids);
    atomic_store(&s->state, SRV_LOADING);
    s->ctx = (srv_ctx){.alias = s->alias,
                       .max_messages = c->max_messages,
                       .max_tokens_limit = c->max_tokens_limit,
                       .max_response_entries = c->max_response_entries,
                       .request_timeout_s = c->request_timeout_s,
                       .created = time(NULL),
                       .ids = &s->ids,
                       .chat_special_in_content = c->chat_special_in_content,
                       .render_cancel = &s->grace_over,
                       .special_text_messages = &s->m.special_text_messages,
                       .grammars = pg_gram_cache_create(SRV_GRAMMAR_CACHE_ENTRIES, SRV_GRAMMAR_CACHE_BYTES),
                       .responses = srv_rstore_create(c->responses_store_max, c->responses_store_bytes,
                                                      c->responses_ttl_s)};
    int rc = srv_keys_create(c, &s->keys, err);
    if (rc == 0 && !(s->usage = srv_usage_create(c->cost_per_hour))) rc = pg_error_set(err, PG_ENOMEM, "out of memory");
    s->core = (srv_core){.eng = {engine_submit, engine_cancel, s, engine_pause}, .metrics = &s->m, .keys = s->keys};
    srv_http_env env = {.cfg = &s->cfg,
                        .ctx = &s->ctx,
                        .core = &s->core,
                        .metrics = &s->m,
                        .keys = s->keys,
                        .ids = &s->ids,
                        .state = &s->state,
                        .draining = &s->draining,
                        .stopping = &s->stopping,
                        .load_done = &s->load_done,
                        .load_total = &s->load_total,
                        .stats = engine_stats,
                        .stats_arg = s,
                        .usage = s->usage,
                        .embq = &s->embq};
    if (rc == 0 && srv_keys_enabled(s->keys)) PG_INFO("API keys required on every endpoint but /health, /ready%s",
                                                      c->metrics_key ? "" : " and /metrics");
    else if (rc == 0) PG_WARN("no API keys configured: the server is open to anyone who can reach it");
    if (rc == 0 && c->otlp_endpoint && *c->otlp_endpoint) {
        rc = srv_otlp_create(c->otlp_endpoint, "pagoda", c->replica_name, &s->otlp, err);
        if (rc == 0) PG_INFO("OTLP span export to %s", c->otlp_endpoint);
    }
    env.otlp = s->otlp;
    if (rc == 0) rc = srv_http_start(&env, &s->http, err);
    /* the resource's service.instance.id: the replica name, known once bound */
    if (rc == 0 && s->otlp) srv_otlp_set_instance(s->otlp, srv_http_replica(s->http));
    if (rc == 0) rc = load_all(s, err);
    if (rc < 0) {
        atomic_store(&s->state, SRV_FAILED);
        free_all(s);
        free(s);
        return rc;
    }
    atomic_store(&s->state, SRV_READY);
    const char *h = s->cfg.host;
    int port = srv_http_port(s->http);
    int v6 = strchr(h, ':') != NULL;
    {
        char f[512];
        snprintf(f, sizeof f,
                 "\"msg\":\"ready\",\"port\":%d,\"max_seqs\":%d,\"max_queued_requests\":%d,\"request_timeout_s\":%g,"
                 "\"shutdown_grace_s\":%g,\"auth\":%s",
                 port, s->cfg.engine.max_seqs, s->cfg.engine.max_queued_requests, s->cfg.request_timeout_s,
                 s->cfg.shutdown_grace_s, srv_keys_enabled(s->keys) ? "true" : "false");
        pg_log_json_fields(PG_LOG_INFO, f);
    }
    fprintf(stderr, "pagoda: listening on http://%s%s%s:%d\n", v6 ? "[" : "", h, v6 ? "]" : "", port);
    fflush(stderr);
    while (!*stop) {
        sleep_ms(50);
        if (c->reload && *c->reload) {
            *c->reload = 0;
            if (!c->api_key_file) {
                PG_INFO("reload requested, but no --api-key-file is configured");
                continue;
            }
            pg_error e = {0};
            int n = srv_keys_reload(s->keys, &e);
            if (n < 0) PG_ERROR("API key file reload failed (old keys kept): %s", e.msg);
            else PG_INFO("API key file reloaded: %d key(s)", n);
        }
    }
    drain(s);
    PG_INFO("shutting down");
    atomic_store(&s->stopping, 1);
    free_all(s);
    free(s);
    return 0;
}
