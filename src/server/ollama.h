/* ollama.h - Ollama's API over the request core (issue 24):
 *
 *   POST /api/chat, /api/generate   adapters (ollama_parse.c: body -> srv_gen
 *                                   and oll_req; ollama_format.c: events ->
 *                                   NDJSON lines or one JSON object)
 *   GET /api/tags, /api/ps, /api/version, POST /api/show
 *                                   small JSON endpoints (ollama_ep.c)
 *
 * Errors are Ollama's {"error": "message"} with the HTTP status, also for
 * the errors http.c raises itself on these routes (adapter->error); an
 * error after a stream started is one more NDJSON line {"error": ...}.
 * Model names come as Ollama clients send them: "ALIAS" and "ALIAS:latest"
 * are the served model (oll_model_match); anything else is a 404. README
 * "Ollama API" has the table of what is supported, refused and ignored. */
#ifndef PG_SERVER_OLLAMA_H
#define PG_SERVER_OLLAMA_H

#include "server/adapter.h"

#include <jansson.h>

#include <stddef.h>
#include <stdint.h>

enum { OLL_CHAT = 1, OLL_GENERATE = 2 };

/* The adapter's state of one request (in the request's arena). */
typedef struct oll_req {
    int kind;            /* OLL_* */
    int stream;          /* NDJSON lines (Ollama's default) or one object */
    char id[64];         /* for the request log */
    const char *model;   /* echoed "model": the name the client sent */
    double t0;           /* srv_now() when the parse began (total_duration) */
    double keep_alive_s; /* parsed, not acted on (-1: forever); NAN when absent */
    int32_t n_ctx;       /* effective context: min(options.num_ctx, the server's) */
    /* output parsing: tool calls (chat with tools) and thinking (toolcall.h) */
    int parse_out;
    pg_tc_style tc;
    unsigned tc_flags;
    pg_tc_stream *tcs;   /* streaming with parse_out (freed with the request) */
    int n_calls;         /* tool calls written so far */
    char *call_name;     /* the call being announced (stream), malloc'd */
    srv_buf call_args;   /* its arguments so far (stream) */
    /* stream state (ollama_format.c) */
    int ended;
    int hooked;          /* free_state installed (srv_req_on_free) */
    int finish;          /* PG_FINISH_* of the end event */
} oll_req;

/* Parses an /api/chat (OLL_CHAT) or /api/generate body into srv_req_gen(r)
 * and a new oll_req (both in srv_req_arena(r)). 0; or an HTTP status with
 * fail filled (an Ollama error body); or 200 with fail->body the whole
 * answer of a request that generates nothing (an empty prompt / message
 * list: Ollama's "load" answer). Nothing is submitted. */
int oll_parse(const srv_ctx *c, const srv_caller *who, int kind, const char *body, size_t len, srv_req *r,
              oll_req **out, srv_fail *fail);

/* keep_alive: a Go duration string ("5m", "1h30m", "300s", "-1m"), a
 * string of a number of seconds ("-1", "0"), or a JSON number of seconds.
 * 0 with *seconds set (negative: keep forever), -1 when invalid. */
int oll_keep_alive(const json_t *v, double *seconds);

/* 1 when name (as an Ollama client sends it) is the served model: the
 * alias itself, or alias + ":latest". */
int oll_model_match(const srv_ctx *c, const char *name);

/* {"error": msg} (malloc'd). */
char *oll_error_body(const char *msg, size_t *len);
/* adapter->error: the same, whatever the status / type / code. */
char *oll_error(int status, const char *msg, const char *type, const char *code, size_t *len);

/* RFC 3339 UTC with nanoseconds ("2026-12-08T01:02:03.123456789Z") of the
 * wall clock now; out needs 40 bytes. */
void oll_now_rfc3339(char *out, size_t cap);

/* Under srv_req_lock (see adapter.h): the NDJSON lines of the pending
 * events / the whole body once done. */
int oll_stream(const srv_ctx *c, oll_req *o, srv_req *r, srv_buf *out);
int oll_body(const srv_ctx *c, oll_req *o, srv_req *r, char **out, size_t *len);

extern const srv_adapter srv_oll_chat, srv_oll_generate;
/* Only its error function is used: the shape of http.c's own errors on the
 * small /api/ routes. */
extern const srv_adapter srv_oll_api;
/* POST /api/embed, /api/embeddings: the embedding queue's Ollama kinds. */
extern const srv_adapter srv_oll_embed, srv_oll_embeddings;

/* The small endpoints (http.c RT_SIMPLE rows): HTTP status and a malloc'd
 * JSON body. The model list goes through one function (oll_model_entry)
 * so that serving several models only changes that one. */
int srv_oll_tags(const srv_ctx *c, const char *body, size_t len, char **out);
int srv_oll_ps(const srv_ctx *c, const char *body, size_t len, char **out);
int srv_oll_version(const srv_ctx *c, const char *body, size_t len, char **out);
int srv_oll_show(const srv_ctx *c, const char *body, size_t len, char **out);

#endif
