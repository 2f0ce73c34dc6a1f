/* srv_internal.h - shared state of the server's modules (http.c: the
 * libmicrohttpd glue and routing; openai.c: the OpenAI request parsing and
 * response bodies; server.c: lifecycle). Not a public header.
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

typedef struct pg_srv pg_srv;
typedef struct srv_req srv_req;

enum { SRV_LOADING = 0, SRV_READY = 1, SRV_FAILED = 2 };

struct pg_srv {
    pg_server_config cfg;
    struct MHD_Daemon *daemon;
    char host[256];
    int port;
    atomic_int state;      /* SRV_* */
    atomic_int stopping;

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

    /* counters for /metrics */
    atomic_uint_fast64_t n_http, n_ok, n_4xx, n_5xx, n_429, n_cancel_disconnect;
    atomic_uint_fast64_t fin_stop, fin_length, fin_cancel, fin_error;
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
    pg_engine_usage usage;
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
    int bad_method;
    char *body;
    size_t body_len, body_cap;
    int too_large;
    int stage;             /* 0 receiving, 1 waiting on the engine, 2 responded */
    char x_request_id[128];
    char id[64];           /* cmpl-... / chatcmpl-... */

    /* parsed request */
    int kind;              /* RK_* */
    int stream, include_usage, echo;
    int logprobs;          /* completions: k (>=0) or -1; chat: top_logprobs or -1 */
    int32_t n;             /* choices per prompt */
    int32_t n_subs;
    srv_sub *subs;
    int32_t n_choices;     /* n_subs * n */
    time_t created;
    char *model_name;      /* echoed "model" */

    /* engine side (under mu) */
    int suspended;
    int conn_gone;         /* NOTIFY_COMPLETED ran: conn is invalid */
    int disconnected;      /* the watcher saw the client go */
    int n_finished_subs;
    int error_code;        /* first PG_EV_ERROR (0 none) */
    char error_msg[512];
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

#endif
