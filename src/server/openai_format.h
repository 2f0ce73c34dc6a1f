/* openai_format.h - the OpenAI adapter's response side: the request core's
 * events -> a whole chat.completion / text_completion body, or SSE frames
 * (chat.completion.chunk / text_completion chunks, then the usage chunk
 * when asked, then "data: [DONE]"). Also the two adapters (routes
 * /v1/completions and /v1/chat/completions) that http.c lists. */
#ifndef PG_SERVER_OPENAI_FORMAT_H
#define PG_SERVER_OPENAI_FORMAT_H

#include "server/adapter.h"
#include "server/openai_parse.h"

extern const srv_adapter srv_oai_completions, srv_oai_chat;

/* Under srv_req_lock, once srv_req_done(r): the HTTP status (200 or the
 * request's error) and the body (malloc'd). */
int oai_body(const srv_ctx *c, oai_req *o, srv_req *r, char **out, size_t *len);
/* Under srv_req_lock: appends the frames of r's pending events (the
 * stream's first frames on the first call; the usage chunk or the error
 * and "data: [DONE]" once the request is done) to out. Does not consume
 * the events. Returns 1 once the stream is complete. */
int oai_stream(const srv_ctx *c, oai_req *o, srv_req *r, srv_buf *out);
/* Under srv_req_lock, done and without error: appends the next part of
 * the whole 200 body (the bytes oai_body gives) to out, stopping once
 * out->len >= want or at the end; returns 1 when the body is complete,
 * -1 out of memory. The body is never built whole: a part is at most
 * want plus one token's entries. */
int oai_body_part(const srv_ctx *c, oai_req *o, srv_req *r, srv_buf *out, size_t want);
/* An OpenAI error object (malloc'd). */
char *oai_error(int status, const char *msg, const char *type, const char *code, size_t *len);

#endif
