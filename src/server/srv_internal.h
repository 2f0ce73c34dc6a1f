/* srv_internal.h - shared state of the server's modules (http.c: the
 * libmicrohttpd glue, routing, admission, auth/rate-limit headers, trace
 * context, request log; openai.c: the OpenAI request parsing and response
 * bodies; metrics.c: counters, histograms and the Prometheus text; auth.c:
 * API keys and per-key token buckets; server.c: lifecycle and drain). Not a
 * public header.
 *
 * Request lifetime: one srv_req per HTTP request (MHD's con_cls). It is
 * reference-counted: one reference for the HTTP side (dropped in MHD's
 * NOTIFY_COMPLETED) and one per engine submission (dropped when that
 * submission's final event arrives), so engine callbacks never touch freed
 * memory after a client vanished. Everything mutable that the engine thread
 * writes is under req->mu. Lock order: srv->mu (registry) before req->mu.
 *
 * Suspend/resume: the HTTP side suspends the connection under req->mu and
 * sets req->suspended; whoever resumes (engine callback, disconnect
 * watcher) does so under req->mu only when req->suspended is set, and
 * clears it. So MHD_resume_connection always follows its suspend. */
#ifndef PG_SERVER_SRV_INTERNAL_H
#define PG_SERVER_SRV_INTERNAL_H

#include "engine/engine.h"
#include "server/server.h"
#include "template/chat.h"

#include <jansson.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

#define SRV_MAX_PROMPTS 64  /* prompts in one /v1/completions list */
#define SRV_MAX_CHOICES 128 /* prompts x n */
#define SRV_MAX_N 64

/* ---- metrics.c ---- */

#define SRV_HIST_NB 22 /* finite bucket bounds (srv_hist_bounds), +Inf implied */
typedef struct srv_hist {
    pthread_mutex_t mu;
    uint64_t b[SRV_HIST_NB + 1]; /* non-cumulative; [SRV_HIST_NB] = above the last bound */
    uint64_t count;
    double sum;
} srv_hist;
enum { H_TTFT, H_ITL, H_E2E, H_QUEUE, H_PREFILL, H_DECODE, H_COUNT };
enum { REJ_QUEUE_FULL, REJ_RATE_LIMIT, REJ_DRAINING, REJ_LOADING, REJ_UNAVAILABLE, REJ_COUNT };
enum { FIN_STOP, FIN_LENGTH, FIN_ABORT, FIN_TIMEOUT, FIN_ERROR, FIN_COUNT };
typedef struct srv_metrics {
    srv_hist h[H_COUNT];
    atomic_uint_fast64_t status[600];   /* HTTP responses by status code */
    atomic_uint_fast64_t rejected[REJ_COUNT];
    atomic_uint_fast64_t finished[FIN_COUNT]; /* finished choices by reason */
    atomic_uint_fast64_t disconnects;   /* requests cancelled because the client left */
    atomic_uint_fast64_t requests;      /* generation requests that reached the endpoint (/v1/stats) */
} srv_metrics;

void srv_metrics_init(srv_metrics *m);
void srv_metrics_free(srv_metrics *m);
void srv_hist_observe(srv_hist *h, double v);
const double *srv_hist_bounds(void); /* SRV_HIST_NB ascending upper bounds (s) */

/* ---- auth.c: API keys and rate limits ---- */

typedef struct srv_keyset srv_keyset;
/* Rate-limit snapshot of one key, for the x-ratelimit-* headers. A limit of
 * 0 means unlimited (its headers are left out). */
typedef struct srv_rl {
    double lim_req, lim_tok;
    double rem_req, rem_tok;        /* may be negative for tokens (debt) */
    double reset_req_s, reset_tok_s; /* until the bucket is full again */
} srv_rl;

/* Builds the key set from c->api_keys and c->api_key_file. Enabled (auth
 * required) when at least one key exists, from either source. */
int srv_keys_create(const pg_server_config *c, srv_keyset **out, pg_error *err);
void srv_keys_destroy(srv_keyset *k);
/* Re-reads the key file; on error keeps the old keys. Buckets of keys that
 * stay are kept. Returns the number of keys or a negative code. */
int srv_keys_reload(srv_keyset *k, pg_error *err);
int srv_keys_enabled(srv_keyset *k);
/* Constant-time (in the key bytes) lookup of a presented key. Returns 1
 * and fills *id (a 64-bit digest of the key, also its cache salt) and name,
 * or 0. */
int srv_keys_lookup(srv_keyset *k, const char *key, size_t len, uint64_t *id, char *name, size_t name_cap);
/* Refills the key's buckets; when neither is exhausted takes one request
 * and returns 0; else returns the seconds to wait (>= 1) and which limit
 * ('r' requests, 't' tokens). Fills *rl either way. A key removed by a
 * reload is never limited. */
int srv_keys_admit(srv_keyset *k, uint64_t id, srv_rl *rl, int *which);
/* The key's current buckets without taking anything (headers of
 * non-generation responses). */
void srv_keys_peek(srv_keyset *k, uint64_t id, srv_rl *rl);
/* Equality in time that depends only on the lengths. */
int srv_ct_equal(const char *a, size_t al, const char *b, size_t bl);
/* Charges tokens (prompt at submit, generated at completion). */
void srv_keys_charge(srv_keyset *k, uint64_t id, int64_t tokens);
/* 64-bit digest (splitmix of FNV-1a) of bytes, for salts. */
uint64_t srv_hash64(const void *p, size_t n, uint64_t seed);

typedef struct pg_srv pg_srv;
typedef struct srv_req srv_req;

enum { SRV_LOADING = 0, SRV_READY = 1, SRV_FAILED = 2 };

struct pg_srv {
    pg_server_config cfg;
    struct MHD_Daemon *daemon;
    char host[256];
    int port;
    atomic_int state;      /* SRV_* */
    atomic_int draining;   /* stop signal seen: new work gets 503 */
    atomic_int stopping;   /* tearing down: the watcher exits */

    pg_model *model;
    void *demo_image;      /* GGUF bytes of the demo model (NULL for a file) */
    pg_vocab *vocab;
    pg_engine *engine;
    pthread_rwlock_t engine_lock; /* read: any engine call; write: flipping engine_alive */
    int engine_alive;
    pg_tpl *tpl;
    int tpl_fallback;      /* 1: the ChatML fallback is in use */
    char *bos_text, *eos_text;
    char alias[256];
    int demo;
    int32_t n_ctx, n_vocab;
    time_t created;
    int32_t eog_ids[16];   /* EOG ids of the vocabulary (logged only) */

    /* registry of requests whose connection may be suspended (for the
     * disconnect watcher) */
    pthread_mutex_t mu;
    srv_req *live;
    pthread_t watcher;
    int watcher_started;
    int wake[2];           /* pipe: wakes the watcher when the set changes */

    atomic_uint_fast64_t id_seq;
    uint64_t id_key;

    srv_metrics m;         /* for /metrics */
    srv_keyset *keys;
};

/* One event of a request's log, appended by the engine callback. Text lives
 * in req->text at [text_off, text_off + text_len); top alternatives in
 * req->top_id/top_lp at [top_off, top_off + n_top). */
typedef struct srv_rec {
    int32_t choice;   /* global choice index (prompt * n + i) */
    int32_t token;    /* -1 for a DONE record */
    uint32_t text_off, text_len;
    float logprob;
    uint32_t top_off;
    int32_t n_top;
    int32_t finish;   /* DONE records: PG_FINISH_* */
} srv_rec;

enum { RK_COMPLETION = 1, RK_CHAT = 2 };

typedef struct srv_sub { /* one engine submission (one prompt) */
    srv_req *req;
    int64_t engine_id;   /* > 0 once submitted */
    int32_t first_choice;
    int32_t n_done;      /* DONE events seen (one per choice) */
    int finished;        /* final event seen: no more callbacks */
    int32_t n_prompt;
    int32_t *prompt;     /* token ids (owned) */
    char *echo_text;     /* prompt text for echo (owned; NULL without echo) */
    size_t echo_len;
    pg_engine_usage usage; /* of the first finished choice; cached_tokens = max */
    int has_usage;
    int32_t completion_tokens;
} srv_sub;

struct srv_req {
    pg_srv *srv;
    struct MHD_Connection *conn;
    int refs;              /* under mu */
    pthread_mutex_t mu;
    uint64_t serial;
    srv_req *next, *prev;  /* registry (under srv->mu) */
    int in_registry;
    int fd;                /* client socket, for the disconnect watcher */

    /* HTTP side */
    int route;             /* ROUTE_* of http.c */
    const struct pg_asset *asset; /* ROUTE_WEBUI: the embedded file (webui.h) */
    int bad_method;
    char *body;
    size_t body_len, body_cap;
    int too_large;
    int stage;             /* 0 receiving, 1 waiting on the engine, 2 responded */
    char x_request_id[128];
    char id[64];           /* cmpl-... / chatcmpl-... */
    double t_start;        /* monotonic seconds at the first header */
    int status;            /* HTTP status sent (0 none yet) */
    char trace_id[33];     /* W3C trace id (32 hex) */
    char traceparent[64];  /* ours: 00-<trace>-<new span>-<flags> */
    /* authentication / rate limits */
    int authed;            /* a valid key was presented */
    uint64_t key_id;       /* srv_keys_lookup digest (0 without auth) */
    char key_name[64];
    int has_rl;
    srv_rl rl;

    /* parsed request */
    int kind;              /* RK_* */
    int stream, include_usage, echo;
    int parse_special;     /* completions: recognise special-token text in string prompts (opt-in) */
    int logprobs;          /* completions: k (>=0) or -1; chat: top_logprobs or -1 */
    int32_t n;             /* choices per prompt */
    int32_t n_subs;
    srv_sub *subs;
    int32_t n_choices;     /* n_subs * n */
    time_t created;
    char *model_name;      /* echoed "model" */
    double timeout_s;      /* engine deadline (0 none) */

    /* engine side (under mu) */
    int suspended;
    int conn_gone;         /* NOTIFY_COMPLETED ran: conn is invalid */
    int disconnected;      /* the watcher saw the client go */
    int n_finished_subs;
    int error_code;        /* first PG_EV_ERROR (0 none) */
    char error_msg[512];
    int first_finish;      /* PG_FINISH_* of the first finished choice (log) */
    int n_timeout;         /* choices cut by the deadline */
    double *last_tok_t;    /* per choice: time of its last token (ITL) */
    srv_rec *recs;
    size_t n_recs, cap_recs;
    char *text;
    size_t text_len, text_cap;
    int32_t *top_id;
    float *top_lp;
    size_t n_top, cap_top;

    /* streaming output (MHD thread only) */
    size_t cursor;         /* next record to format */
    char *out;
    size_t out_len, out_off, out_cap;
    int stream_started, stream_ended;
    size_t *choice_text_len; /* per choice, emitted bytes (text_offset) */
};

/* ---- openai.c ---- */
/* Parses the body of /v1/completions (kind RK_COMPLETION) or
 * /v1/chat/completions (RK_CHAT), tokenizes, submits to the engine. Returns
 * 0 when submitted; else an HTTP status with *err_json set (an OpenAI error
 * object, owned by the caller) and nothing submitted. */
int srv_generate_start(srv_req *r, json_t **err_json, const char **retry_after);
/* Non-streaming: the whole response body once every submission finished.
 * Returns the HTTP status (200, or the error's) and the body (malloc'd). */
int srv_generate_body(srv_req *r, char **body, size_t *len);
/* Streaming: format the records after r->cursor (and the end, once
 * finished) as SSE into r->out. Call with r->mu held. Returns 1 when the
 * stream is complete (everything, [DONE] included, is in r->out). */
int srv_stream_format(srv_req *r);

/* /tokenize, /detokenize; return the status, *body malloc'd JSON. */
int srv_tokenize(pg_srv *s, const char *body, size_t len, char **out);
int srv_detokenize(pg_srv *s, const char *body, size_t len, char **out);
/* /v1/models */
char *srv_models_json(pg_srv *s);

/* PG_ETIMEOUT-like internal code: a choice hit its deadline before producing
 * a token (-> 504). Distinct from every PG_E*. */
#define SRV_ETIMEOUT (-1000)
double srv_now(void); /* monotonic seconds */

/* error object {"error":{...}}; code may be NULL */
json_t *srv_error_json(const char *message, const char *type, const char *param, const char *code);
/* HTTP status for a PG_E* code from the tokenizer/template/engine */
int srv_status_for(int pg_code);
char *srv_dump(json_t *j, size_t *len); /* compact; decrefs j */

void srv_req_unref(srv_req *r); /* http.c; frees at zero */
/* Engine calls guarded against shutdown (http.c): cancel is a no-op once the
 * engine is gone; submit returns PG_ECANCELED. */
void srv_engine_cancel(pg_srv *s, int64_t id);
int64_t srv_engine_submit(pg_srv *s, const pg_request *q, pg_error *err);
/* http.c */
int srv_http_start(pg_srv *s, pg_error *err);
void srv_http_stop(pg_srv *s);
void srv_make_id(pg_srv *s, const char *prefix, char *out, size_t cap);
/* metrics.c: the Prometheus text of /metrics (malloc'd) */
char *srv_metrics_text(pg_srv *s, size_t *len);
/* http.c: cancels every in-flight engine request (end of the drain) and
 * returns how many HTTP requests are still live */
int srv_cancel_all(pg_srv *s);
int srv_live_count(pg_srv *s);

#endif
