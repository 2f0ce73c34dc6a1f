/* anthropic_parse.h - the Anthropic Messages adapter's request side
 * (POST /v1/messages, POST /v1/messages/count_tokens).
 *
 * A Messages body is checked field by field (400 in Anthropic's error
 * shape naming the field) and translated into the equivalent OpenAI chat
 * body (system -> a system message; text / tool_use / tool_result blocks
 * -> content, assistant tool_calls and tool messages; tools[].input_schema
 * -> function parameters; tool_choice auto|any|tool|none -> auto|required|
 * named|none; stop_sequences -> stop; metadata.user_id -> user), which the
 * OpenAI chat parser (openai_parse.h) then turns into the request core's
 * spec: one path for the template render, tools, forced calls through the
 * grammar engine, sampling and the context checks. The answer side
 * (anthropic_format.c) reads the request's events itself. */
#ifndef PG_SERVER_ANTHROPIC_PARSE_H
#define PG_SERVER_ANTHROPIC_PARSE_H

#include "server/adapter.h"
#include "server/openai_parse.h"

#include <jansson.h>

#include <stddef.h>
#include <stdint.h>

/* Open content block of a stream. */
enum { ANTH_BLOCK_NONE = 0, ANTH_BLOCK_TEXT, ANTH_BLOCK_THINKING, ANTH_BLOCK_TOOL };

/* The adapter's state of one request (in the request's arena). */
typedef struct anth_req {
    oai_req *o;            /* the translated chat request (tools, output parser style) */
    char id[64];           /* msg_... */
    const char *model;     /* echoed "model" */
    int stream;
    int32_t n_prompt;      /* prompt tokens */
    const char *const *stop; /* stop_sequences (the engine reports them in the text: see anthropic_format.c) */
    int32_t n_stop;
    /* streaming (anthropic_format.c) */
    int started, ended;
    int block;             /* ANTH_BLOCK_* open now */
    int32_t n_blocks;      /* blocks opened so far (the next one's index) */
    int32_t n_calls;       /* tool_use blocks so far */
    const char *stop_hit;  /* the stop sequence that ended the answer, or NULL */
    pg_tc_stream *tcs;     /* output parser of the stream (freed with the request) */
    int64_t out_tokens;    /* token events so far */
    pg_arena *arena;       /* the request's, for tool_use ids */
    srv_idgen *ids;
} anth_req;

/* Parses a Messages body into srv_req_gen(r) and a new anth_req (both in
 * srv_req_arena(r)). 0, or an HTTP status with fail filled (an Anthropic
 * error body). Nothing is submitted. */
int anth_parse(const srv_ctx *c, const srv_caller *who, const char *body, size_t len, srv_req *r, anth_req **out,
               srv_fail *fail);

/* The Messages body in -> the OpenAI chat body (*out, new reference).
 * count = 1: the count_tokens shape (max_tokens not required, no
 * sampling fields). 0, or 400 with msg filled. */
int anth_to_chat(json_t *in, int count, json_t **out, char *msg, size_t cap);

/* POST /v1/messages/count_tokens (an RT_SIMPLE endpoint): the prompt's
 * tokens exactly as /v1/messages renders them: {"input_tokens": N}. */
int anth_count_tokens(const srv_ctx *c, const char *body, size_t len, char **out);

/* {"type":"error","error":{"type","message"}} (malloc'd); the Anthropic
 * type comes from the status (400 invalid_request_error, 401
 * authentication_error, 403 permission_error, 404 not_found_error, 413
 * request_too_large, 429 rate_limit_error, 503 overloaded_error, 504
 * timeout_error, other 5xx api_error). type and code are ignored. */
char *anth_error(int status, const char *msg, const char *type, const char *code, size_t *len);
const char *anth_error_type(int status);

#endif
