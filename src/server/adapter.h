/* adapter.h - the interface of a protocol adapter (OpenAI completions and
 * chat today; Anthropic Messages, Responses, Ollama beside them later).
 *
 * An adapter knows JSON and its protocol, never sockets or libmicrohttpd:
 *   parse   request body -> the request core's generation spec (srv_gen)
 *           and the adapter's own state (both in the request's arena);
 *           a bad body -> an HTTP status and a protocol-shaped error body;
 *   body    once the request is done: the whole response (non-streaming);
 *   stream  the pending events -> bytes (SSE frames) appended to a buffer
 *           the connection reuses; returns 1 once the stream is complete;
 *   error   an error body in the protocol's shape, for the errors that
 *           http.c raises itself on the adapter's routes (401, 413, 429,
 *           503, ...).
 * body and stream run under srv_req_lock. http.c lists adapters in its
 * routing table: a new protocol is a new adapter (a parse and a format
 * file) plus rows in that table. */
#ifndef PG_SERVER_ADAPTER_H
#define PG_SERVER_ADAPTER_H

#include "model/model.h"
#include "sample/gram_cache.h"
#include "server/request.h"
#include "server/resp_store.h"
#include "server/toolcall.h"
#include "server/util.h"
#include "template/chat.h"
#include "tokenizer/tokenizer.h"

#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

/* What an adapter may know of the server: the model's facts and limits.
 * Read-only after start-up. */
typedef struct srv_ctx {
    const pg_vocab *vocab;
    const pg_tpl *tpl;           /* chat template */
    const char *bos_text, *eos_text; /* may be NULL */
    const char *alias;           /* the model id clients send */
    int32_t n_ctx, n_vocab;
    int32_t max_messages;        /* chat messages per request (0: no limit) */
    int32_t max_tokens_limit;    /* 0: only the context bounds max_tokens */
    double request_timeout_s;    /* cap of every deadline (0: none) */
    uint64_t max_response_entries; /* non-streaming: choices x max_tokens x (1 + top logprobs) (0: none) */
    time_t created;              /* server start (models list) */
    int demo;                    /* the built-in demo model */
    const char *demo_notice;     /* its description in the models list */
    srv_idgen *ids;              /* response ids */
    int chat_special_in_content; /* --chat-special-in-content: message text may become control tokens */
    const atomic_int *render_cancel; /* set when the shutdown grace is over: template renders stop */
    atomic_uint_fast64_t *special_text_messages; /* counter: messages whose special-token text was kept as text */
    pg_tc_style tc;              /* tool-call and reasoning format, detected from the chat template's text */
    int caps;                    /* what the server does with the model: PG_CAP_* (model.h); no
                                    PG_CAP_GENERATE -> completions answer 400 */
    const char *pooling;         /* the embedder's pooling name, or NULL without one */
    int32_t embed_dim;           /* floats per embedding (0 without an embedder) */
    int embed_matryoshka;        /* 'dimensions' below embed_dim allowed */
    pg_gram_cache *grammars;     /* compiled structured-output grammars (thread-safe); NULL: compiled per request */
    /* the model's facts for Ollama's /api/tags, /api/show, /api/ps (ollama_ep.c) */
    const pg_model *model;       /* NULL: none known (unit tests) */
    const char *model_path;      /* NULL: the built-in demo model */
    const char *version;         /* pagoda's version (/api/version); NULL: unknown */
    const char *tpl_text;        /* the chat template's source, NUL-terminated; NULL: none */
    srv_rstore *responses;       /* the Responses API's store (thread-safe); NULL: nothing stored */
} srv_ctx;

/* Who is asking (after authentication). */
typedef struct srv_caller {
    int authed;
    uint64_t key_id;             /* srv_keys_lookup digest; the prefix-cache tenant */
} srv_caller;

/* A parse failure: HTTP status, error body (malloc'd), Retry-After. */
typedef struct srv_fail {
    int status;
    char *body;
    size_t len;
    const char *retry_after;     /* static or NULL */
} srv_fail;

typedef struct srv_adapter {
    const char *name;            /* logs */
    /* 0, or an HTTP status with *fail filled. The spec and the state live
     * in srv_req_arena(r); *state is handed back to body/stream. */
    int (*parse)(const srv_ctx *c, const srv_caller *who, const char *body, size_t len, srv_req *r, void **state,
                 srv_fail *fail);
    /* The response id, for the request log. */
    const char *(*id)(const void *state);
    /* HTTP status and the whole body (malloc'd). Under srv_req_lock, done. */
    int (*body)(const srv_ctx *c, void *state, srv_req *r, char **out, size_t *len);
    /* Optional: the same 200 body (done, no error) in parts: appends to
     * out until out->len >= want or the end; 1 at the end, 0 more to
     * come, -1 out of memory. http.c drains each part to the socket before
     * the next, so a large answer is never whole in memory. Under
     * srv_req_lock. */
    int (*body_part)(const srv_ctx *c, void *state, srv_req *r, srv_buf *out, size_t want);
    /* Appends the frames of the pending events (and the end, once done) to
     * out; the caller then calls srv_req_consume. 1 when the stream is
     * complete. Under srv_req_lock. */
    int (*stream)(const srv_ctx *c, void *state, srv_req *r, srv_buf *out);
    const char *stream_content_type;
    /* Error body (malloc'd) in the protocol's shape; code may be NULL. */
    char *(*error)(int status, const char *msg, const char *type, const char *code, size_t *len);
    /* On an embedding route (RT_EMBED): the job kind (embed_api.h SRV_EJ_*)
     * whose parse and body are the protocol's; 0 = OpenAI's. */
    int ejob_kind;
} srv_adapter;

#endif
