/* openai_parse.h - the OpenAI adapter's request side: a /v1/completions or
 * /v1/chat/completions body -> the request core's generation spec plus the
 * options the response needs (oai_req). Strict about types and ranges (400
 * with an OpenAI error object naming the field in "param"), lenient about
 * unknown fields (ignored, as vLLM does). A prompt that does not fit the
 * context with its max_tokens is a 400 ("context_length_exceeded"), never
 * truncated. */
#ifndef PG_SERVER_OPENAI_PARSE_H
#define PG_SERVER_OPENAI_PARSE_H

#include "server/adapter.h"
#include "engine/engine.h"
#include "server/prompt.h"

#include <jansson.h>

#include <stddef.h>
#include <stdint.h>

#define OAI_MAX_PROMPTS 64  /* prompts in one /v1/completions list */
#define OAI_MAX_CHOICES 128 /* prompts x n */
#define OAI_MAX_N PG_ENGINE_MAX_CHOICES /* n per prompt: the engine's limit */
#define OAI_MAX_JSON_DEPTH 64 /* container levels of messages/tools handed to the template */

enum { OAI_COMPLETION = 1, OAI_CHAT = 2 };

#define OAI_MAX_TOOLS 128 /* tools per request (OpenAI's limit) */

/* tool_choice */
enum { OAI_TOOLS_OFF = 0, OAI_TOOLS_AUTO, OAI_TOOLS_REQUIRED, OAI_TOOLS_NAMED };

typedef struct oai_tool {
    const char *name;   /* [A-Za-z0-9_-]{1,64} */
    const char *schema; /* its parameters schema, compact JSON ({"type":"object"} when absent) */
    int strict;
} oai_tool;

/* The adapter's state of one request (in the request's arena). */
typedef struct oai_req {
    int kind;              /* OAI_* */
    int stream, include_usage, echo;
    int parse_special;     /* completions: special-token text in string prompts (opt-in) */
    int logprobs;          /* completions: k (>= 0) or -1; chat: top_logprobs or -1 */
    int32_t n;             /* choices per prompt */
    int32_t n_prompts, n_choices;
    const char **echo_text; /* per prompt (echo only) */
    size_t *echo_len;
    char id[64];           /* cmpl-... / chatcmpl-... */
    long long created;
    const char *model;     /* echoed "model" */
    /* chat: tools and the output parser (toolcall.h) */
    oai_tool *tools;
    int32_t n_tools;
    int tool_mode;         /* OAI_TOOLS_* (OFF with tool_choice "none": calls are not parsed) */
    int32_t tool_named;    /* NAMED: index in tools */
    int parallel_calls;    /* parallel_tool_calls (default 1): more than one call per answer */
    int parse_out;         /* run the parser: tools on, or the template marks reasoning */
    unsigned tc_flags;     /* PG_TC_REASONING_INLINE for reasoning_format "none" */
    pg_tc_style tc;
    pg_tc_stream **tc_streams; /* per choice, streaming with parse_out (freed with the request) */
    char *tool_gbnf;       /* the calls' grammar (arena; NULL: none) */
    const char **tool_triggers; /* lazy (auto) triggers (arena) */
    int32_t n_tool_triggers;
    /* streaming (openai_format.c) */
    int started, ended;
    size_t *choice_text_len; /* per choice: bytes emitted (text_offset) */
    char *head;            /* `data: {"id":...,"model":...,"choices":[{"index":` */
    size_t head_len;
    /* whole body written in parts (openai_format.c, oai_body_part) */
    int bp_phase;          /* BP_* */
    int32_t bp_ci;         /* current choice */
    int64_t bp_i;          /* next event of the choice (index into the queue), -1 none */
    int64_t *bp_first;     /* [n_choices] first event of each choice, -1 none (arena) */
    int64_t *bp_next;      /* [events] next event of the same choice, -1 none (arena) */
    size_t bp_off;         /* text offset within the choice (legacy text_offset) */
    int bp_k;              /* items written in the current list */
    int bp_finish;         /* the choice's finish reason */
    int bp_calls;          /* the choice's parsed answer has tool calls (finish_reason tool_calls) */
} oai_req;

/* Parses body for kind into srv_req_gen(r) and a new oai_req (both in
 * srv_req_arena(r)). 0, or an HTTP status with fail filled (body: an OpenAI
 * error object). Nothing is submitted. */
int oai_parse(const srv_ctx *c, const srv_caller *who, int kind, const char *body, size_t len, srv_req *r,
              oai_req **out, srv_fail *fail);

/* The same from a parsed body (not consumed): 0, or an HTTP status with
 * *err_json set to an OpenAI error object (NULL when out of memory). The
 * Responses adapter translates its body into a chat body and parses it
 * here. */
int oai_parse_json(const srv_ctx *c, const srv_caller *who, int kind, json_t *o, srv_req *r, oai_req **out,
                   json_t **err_json);

/* A chat request's prompt ids, the one path for every caller (the chat
 * endpoint, /tokenize with messages; later protocol adapters): the
 * template renders the messages and the message texts are tokenized
 * without special-token parsing (pg_prompt_chat_tokens) unless
 * --chat-special-in-content; counts the special-text messages; the render
 * stops at the request timeout or when the shutdown grace is over. 0 with
 * *out filled (pg_prompt_free), or an HTTP status with *err_json set. */
int srv_chat_prompt(const srv_ctx *c, const pg_jv *msgs, const pg_jv *tools, int agp, pg_prompt *out,
                    json_t **err_json);
/* The same from a JSON body's "messages", "tools" and
 * "add_generation_prompt" (validated as the chat endpoint does). */
int srv_chat_prompt_json(const srv_ctx *c, json_t *body, pg_prompt *out, json_t **err_json);

#endif
