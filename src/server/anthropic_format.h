/* anthropic_format.h - the Anthropic Messages adapter's response side: the
 * request core's events -> a whole "message" object, or Anthropic's named
 * SSE events (message_start, ping, content_block_start / _delta / _stop,
 * message_delta, message_stop; error). The adapter table http.c lists for
 * POST /v1/messages (and, for its error shape, count_tokens). */
#ifndef PG_SERVER_ANTHROPIC_FORMAT_H
#define PG_SERVER_ANTHROPIC_FORMAT_H

#include "server/adapter.h"
#include "server/anthropic_parse.h"

extern const srv_adapter srv_anth_messages;

/* Under srv_req_lock, once srv_req_done(r): the HTTP status (200 or the
 * request's error) and the body (malloc'd). */
int anth_body(const srv_ctx *c, anth_req *q, srv_req *r, char **out, size_t *len);
/* Under srv_req_lock: appends the events of r's pending engine events to
 * out (message_start and a ping on the first call; the end once the
 * request is done). Does not consume. 1 once the stream is complete. */
int anth_stream(const srv_ctx *c, anth_req *q, srv_req *r, srv_buf *out);

#endif
