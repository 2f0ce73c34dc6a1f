/* server.h - pagoda's OpenAI-compatible HTTP server (`pagoda serve`).
 *
 * pg_server_run binds the socket first (so /health answers 503 while the
 * model loads), loads the model (or builds the built-in demo model when
 * model_path is NULL), starts the engine, prints
 *   pagoda: listening on http://HOST:PORT
 * to stderr once requests can be served, and then serves until *stop
 * becomes non-zero (set it from a SIGINT/SIGTERM handler).
 *
 * Endpoints: POST /v1/completions, POST /v1/chat/completions, POST
 * /v1/responses (GET and DELETE /v1/responses/{id}), GET /v1/models,
 * POST /v1/embeddings, POST /v1/rerank (and /embeddings, /rerank),
 * GET /health (liveness), GET /ready (readiness), GET /metrics (Prometheus
 * text), GET /v1/stats (the same figures as JSON), GET /v1/usage (usage
 * and cost per key name / model, admin key; usage.h), POST /tokenize,
 * POST /detokenize, and the web UI (GET /, /dashboard, /webui/...; off with
 * no_webui). The server talks to the model
 * only through engine/engine.h.
 *
 * Production behaviour (README.md, "Production behaviour"): bounded admission (429 with
 * Retry-After when the queue is full, 503 while loading or draining),
 * per-request deadlines, API keys with per-key token-bucket rate limits and
 * prefix-cache isolation, one JSON log line per request, W3C traceparent,
 * graceful drain on the first *stop (up to shutdown_grace_s), key-file
 * reload when *reload becomes non-zero (SIGHUP). */
#ifndef PG_SERVER_SERVER_H
#define PG_SERVER_SERVER_H

#include "base/error.h"
#include "engine/engine.h"

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

typedef struct pg_server_config {
    const char *host;            /* default "127.0.0.1" */
    int port;                    /* default 8080; 0 = any free port (printed) */
    const char *model_path;      /* NULL = built-in demo model (random weights) */
    const char *draft_model_path; /* speculative decoding's draft model (engine.spec_mode DRAFT), or NULL */
    const char *model_alias;     /* id clients send; NULL = general.name or file name */
    const char *chat_template_path; /* NULL = the model's tokenizer.chat_template */
    size_t max_body_bytes;       /* request bodies beyond -> 413 (default 16 MiB) */
    unsigned max_connections;    /* default 512 */
    unsigned max_connections_per_ip; /* 0 = unlimited (default 64: room for other clients) */
    size_t connection_memory;    /* MHD per-connection memory (headers), default 64 KiB */
    unsigned connection_timeout_s; /* idle connections closed after (default 120 s); also the
                                    deadline for a request's complete headers, the body's slack
                                    (it must then arrive at >= SRV_MIN_BODY_RATE bytes/s) and how
                                    long a streaming client may read nothing */
    size_t max_json_values;      /* JSON values (and keys) per request body; more -> 413 before
                                    parsing (default 262144) */
    size_t max_unsent_bytes;     /* a stream's unsent output; beyond it its sequences pause until
                                    the client reads (default 4 MiB) */
    uint64_t max_response_entries; /* non-streaming: choices x max_tokens x (1 + top logprobs)
                                      above this -> 400 (default 2097152) */
    size_t responses_store_max;  /* Responses API: stored responses (LRU; default 1024; 0 = store off) */
    size_t responses_store_bytes; /* ... and their bytes (default 64 MiB) */
    double responses_ttl_s;      /* ... each kept this long (default 3600 s; 0 = until evicted) */
    unsigned http_threads;       /* MHD worker threads (default 2) */
    uint64_t demo_seed;          /* weights of the demo model (default 1234) */
    /* admission / limits */
    double request_timeout_s;    /* deadline of every request (queue + generation);
                                    0 = none; a body "timeout" is capped by it (default 600) */
    int32_t max_messages;        /* chat messages per request (default 1024) */
    int32_t max_tokens_limit;    /* max_tokens above -> 400; 0 = only the context bounds it */
    /* security */
    const char *const *api_keys; /* n_api_keys keys from --api-key (name "key-<i>") */
    int n_api_keys;
    const char *api_key_file;    /* lines "KEY [NAME [RPM [TPM]]]"; reloaded on *reload */
    const char *metrics_key;     /* NULL: /metrics is open */
    const char *const *cors_origins; /* n_cors_origins from --cors-origin; "*" = any; none: no CORS headers */
    int n_cors_origins;
    int chat_special_in_content; /* --chat-special-in-content: message text may become control tokens */
    double default_rpm, default_tpm; /* per-key limits when the file gives none; 0 = unlimited */
    /* lifecycle */
    double shutdown_grace_s;     /* drain time after the stop signal (default 30) */
    volatile sig_atomic_t *reload; /* set non-zero (SIGHUP) -> reload api_key_file; may be NULL */
    int no_webui;                /* 1: no web UI at / and /dashboard (webui.h) */
    /* scale-out and operations (issue 28) */
    const char *replica_name;    /* x-pagoda-replica on every response; NULL = HOST:PORT */
    const char *otlp_endpoint;   /* http://HOST[:PORT][/PATH]: OTLP/HTTP JSON span export; NULL = off */
    const char *admin_key;       /* Bearer key of GET /v1/usage; NULL = that route answers 403 */
    double cost_per_hour;        /* machine cost per hour: estimated cost figures; 0 = none */
    /* embeddings and reranking (embed_api.h): an encoder model, or a model
     * whose file sets a pooling type, or any model with pooling set here */
    int pooling;                 /* PG_POOL_* (model.h); PG_POOL_UNSPEC = the model's {arch}.pooling_type */
    int matryoshka;              /* 'dimensions' below the full size: -1 as the model says, 1 allowed */
    int embed_workers;           /* threads calling the embedder (0 = 16) */
    int embed_batch_inputs;      /* inputs per encoder pass (0 = 64; 1 = no batching) */
    int embed_batch_wait_us;     /* gather a burst before a pass that is not full (0 = 500; -1 = never) */
    pg_engine_config engine;
    const char *version;         /* pagoda's version, for Ollama's /api/version (the CLI sets it); NULL: unknown */
} pg_server_config;

void pg_server_config_default(pg_server_config *c);

/* Serves until *stop != 0, then drains: new requests get 503, running
 * ones may finish for up to shutdown_grace_s, the rest are cancelled.
 * Returns 0, or a negative PG_E* with err filled (bind failure, model load
 * failure, bad template, unreadable key file ...). */
int pg_server_run(const pg_server_config *c, volatile sig_atomic_t *stop, pg_error *err);

#endif
