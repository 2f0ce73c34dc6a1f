/* responses.h - the OpenAI Responses API adapter (issue 24):
 * POST /v1/responses (responses_parse.c: body -> request; responses_format.c:
 * events -> response object or SSE events), GET and DELETE
 * /v1/responses/{id} (the store, resp_store.h).
 *
 * The request side translates a Responses body into the equivalent chat
 * completions body (input items -> messages, flat function tools -> chat
 * tools, text.format -> response_format, max_output_tokens -> max_tokens)
 * and parses that with the chat adapter's parser (oai_parse_json), so
 * templates, tool calls and their grammars, structured outputs, limits and
 * sampling behave exactly as on /v1/chat/completions; errors it reports
 * are renamed to the Responses fields. Fields only Responses has (store,
 * previous_response_id, metadata, instructions) are handled here.
 *
 * The response side runs the one choice's text through the tool-call /
 * reasoning parser (toolcall.h) as it arrives and keeps the output items
 * (message, function_call, reasoning) it produces; the same item builder
 * writes the SSE events of a stream and, for a whole body, runs over the
 * finished events without writing, so streamed and whole outputs agree.
 *
 * History kept for previous_response_id: the chat messages of the
 * response's conversation (earlier history + its input; not its
 * instructions, as OpenAI does) followed by one assistant message of its
 * output, as a JSON array; prepended to the next request's messages. */
#ifndef PG_SERVER_RESPONSES_H
#define PG_SERVER_RESPONSES_H

#include "server/adapter.h"
#include "server/openai_parse.h"

#include <jansson.h>

enum { RI_MESSAGE = 1, RI_CALL, RI_REASONING };

typedef struct resp_item {
    int type;          /* RI_* */
    int done;
    char id[48];       /* msg_ / fc_ / rs_ */
    char call_id[48];  /* RI_CALL */
    char *name;        /* RI_CALL (malloc) */
    srv_buf text;      /* message text, call arguments or reasoning */
} resp_item;

/* The adapter's state of one request (in the request's arena; what it
 * points to outside the arena is freed by the request's free hook). */
typedef struct resp_req {
    oai_req *oai;      /* the chat parse: output parser style, tools */
    char id[64];       /* resp_... */
    long long created;
    int stream, store;
    uint64_t owner;    /* the API key's digest (0: keys off) */
    json_t *echo;      /* the parameter fields echoed in the response object (owned) */
    json_t *hist;      /* chat messages of the conversation so far, without instructions (owned) */
    /* output items, built as the text arrives */
    resp_item *items;  /* malloc'd */
    size_t n_items, cap_items;
    long open;         /* index of the item receiving text, -1 none */
    long long seq;     /* next sequence_number */
    pg_tc_stream *tc;  /* output parser (parse_out) */
    int started, ended, fed_end;
    int finish;        /* PG_FINISH_* of the choice */
    int saw_reasoning; /* the last piece fed gave reasoning text */
    int64_t reasoning_tokens; /* tokens whose text the parser gave as reasoning (usage) */
    srv_buf frame;     /* scratch for one event */
} resp_req;

/* Parses a Responses body (responses_parse.c). 0, or an HTTP status with
 * fail filled (an OpenAI error object). *out is set even on failure when
 * it could be allocated (its id is logged). */
int rsp_parse(const srv_ctx *c, const srv_caller *who, const char *body, size_t len, srv_req *r, resp_req **out,
              srv_fail *fail);

/* GET (del 0) or DELETE (del 1) /v1/responses/{id} of owner: status and a
 * JSON body (malloc'd) in *out. */
int rsp_endpoint(const srv_ctx *c, int del, uint64_t owner, const char *id, char **out);

/* Invariants of the output items (the lifecycle in responses_format.c);
 * 0, or -1 with msg filled. */
int rsp_check(const resp_req *q, char *msg, size_t cap);

extern const srv_adapter srv_resp_adapter;

#endif
