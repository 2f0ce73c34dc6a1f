/* responses_format.c - the Responses API's response object, its SSE events
 * and the store endpoints (see responses.h).
 *
 * One item builder: the choice's text goes through the tool-call /
 * reasoning parser (or straight to a message when the request parses
 * nothing) and each parser event opens, extends or closes an output item.
 * With a buffer it also writes the stream's events, each
 *   event: TYPE\ndata: {"type":TYPE,"sequence_number":N,...}\n\n
 * (deltas by hand with util.h's JSON writer, the rarer item events with
 * jansson); without one it only builds the items, which is how a whole
 * body is made from the finished events. So both modes produce the same
 * items from the same text.
 *
 * Item lifecycle (rsp_check verifies it):
 *
 *   OPEN (q->open = k; output_item.added [+ content_part.added])
 *     --text of its kind--> OPEN (deltas appended)
 *     --another kind of output, or the choice's end--> DONE (.done events,
 *       output_item.done; q->open = -1 until the next item opens)
 *
 * At most one item is open, always the last; every earlier one is DONE;
 * after the choice's end (fed_end) none is open and there is at least
 * one item. The finished response object is stored (resp_store.h) when
 * the request asked for it. */
#include "server/responses.h"

#include "base/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------- event framing ---------- */

static void ev_head(srv_buf *b, resp_req *q, const char *type) {
    srv_buf_puts(b, "event: ");
    srv_buf_puts(b, type);
    srv_buf_puts(b, "\ndata: {\"type\":\"");
    srv_buf_puts(b, type);
    srv_buf_puts(b, "\",\"sequence_number\":");
    srv_buf_int(b, q->seq++);
}

/* An event whose other members are the object f (consumed). */
static void ev_json(srv_buf *b, resp_req *q, const char *type, json_t *f) {
    size_t n = 0;
    char *s = f ? srv_dump(f, &n) : NULL;
    if (!s || n < 2) {
        free(s);
        b->err = -1;
        return;
    }
    ev_head(b, q, type);
    if (n > 2) {
        srv_buf_putc(b, ',');
        srv_buf_put(b, s + 1, n - 1); /* the members and the closing brace */
    } else {
        srv_buf_putc(b, '}');
    }
    srv_buf_puts(b, "\n\n");
    free(s);
}

/* ---------- items ---------- */

static json_t *text_part(const resp_item *it) {
    json_t *t = json_stringn(it->text.p ? it->text.p : "", it->text.len);
    return json_pack("{s:s,s:o,s:[],s:[]}", "type", "output_text", "text", t ? t : json_string(""), "annotations",
                     "logprobs");
}

static const char *item_status(const resp_req *q, const resp_item *it) {
    if (!it->done) return "in_progress";
    return it->type == RI_MESSAGE && q->finish != PG_FINISH_STOP ? "incomplete" : "completed";
}

/* The item as the API shows it (added: no content yet). */
static json_t *item_json(const resp_req *q, const resp_item *it, int added) {
    const char *st = item_status(q, it);
    if (it->type == RI_MESSAGE)
        return json_pack("{s:s,s:s,s:s,s:s,s:o}", "id", it->id, "type", "message", "status", st, "role", "assistant",
                         "content", added ? json_array() : json_pack("[o]", text_part(it)));
    if (it->type == RI_CALL) {
        json_t *a = json_stringn(added || !it->text.p ? "" : it->text.p, added ? 0 : it->text.len);
        return json_pack("{s:s,s:s,s:s,s:o,s:s,s:s}", "id", it->id, "type", "function_call", "status", st, "arguments",
                         a ? a : json_string("{}"), "call_id", it->call_id, "name", it->name ? it->name : "");
    }
    json_t *content = json_array();
    if (!added) {
        json_t *t = json_stringn(it->text.p ? it->text.p : "", it->text.len);
        json_array_append_new(content, json_pack("{s:s,s:o}", "type", "reasoning_text", "text", t ? t : json_string("")));
    }
    return json_pack("{s:s,s:s,s:[],s:o}", "id", it->id, "type", "reasoning", "summary", "content", content);
}

static long add_item(const srv_ctx *c, resp_req *q, int type) {
    if (q->n_items == q->cap_items) {
        size_t cap = q->cap_items ? q->cap_items * 2 : 4;
        resp_item *n = realloc(q->items, cap * sizeof *n);
        if (!n) return -1;
        q->items = n;
        q->cap_items = cap;
    }
    resp_item *it = &q->items[q->n_items];
    memset(it, 0, sizeof *it);
    it->type = type;
    srv_make_id(c->ids, type == RI_MESSAGE ? "msg_" : type == RI_CALL ? "fc_" : "rs_", it->id, sizeof it->id);
    if (type == RI_CALL) srv_make_id(c->ids, "call_", it->call_id, sizeof it->call_id);
    return (long)q->n_items++;
}

static void close_item(resp_req *q, srv_buf *b) {
    if (q->open < 0) return;
    long k = q->open;
    resp_item *it = &q->items[k];
    it->done = 1;
    q->open = -1;
    if (!b) return;
    const char *t = it->text.p ? it->text.p : "";
    json_t *s = json_stringn(t, it->text.len);
    if (!s) s = json_string("");
    if (it->type == RI_MESSAGE) {
        ev_json(b, q, "response.output_text.done",
                json_pack("{s:s,s:i,s:i,s:O,s:[]}", "item_id", it->id, "output_index", (int)k, "content_index", 0,
                          "text", s, "logprobs"));
        ev_json(b, q, "response.content_part.done",
                json_pack("{s:s,s:i,s:i,s:o}", "item_id", it->id, "output_index", (int)k, "content_index", 0, "part",
                          text_part(it)));
    } else if (it->type == RI_CALL) {
        ev_json(b, q, "response.function_call_arguments.done",
                json_pack("{s:s,s:i,s:O,s:s}", "item_id", it->id, "output_index", (int)k, "arguments", s, "name",
                          it->name ? it->name : ""));
    } else {
        ev_json(b, q, "response.reasoning_text.done",
                json_pack("{s:s,s:i,s:i,s:O}", "item_id", it->id, "output_index", (int)k, "content_index", 0, "text", s));
    }
    json_decref(s);
    ev_json(b, q, "response.output_item.done",
            json_pack("{s:i,s:o}", "output_index", (int)k, "item", item_json(q, it, 0)));
}

/* Opens an item of type (closing the open one); -1 out of memory. */
static long open_item(const srv_ctx *c, resp_req *q, srv_buf *b, int type, const char *name, size_t nl) {
    close_item(q, b);
    long k = add_item(c, q, type);
    if (k < 0) return -1;
    resp_item *it = &q->items[k];
    if (name && !(it->name = strndup(name, nl))) return -1;
    q->open = k;
    if (!b) return k;
    ev_json(b, q, "response.output_item.added", json_pack("{s:i,s:o}", "output_index", (int)k, "item", item_json(q, it, 1)));
    if (type == RI_MESSAGE)
        ev_json(b, q, "response.content_part.added",
                json_pack("{s:s,s:i,s:i,s:o}", "item_id", it->id, "output_index", (int)k, "content_index", 0, "part",
                          text_part(it)));
    return k;
}

/* A text delta of the open item (its kind decides the event). */
static void delta(resp_req *q, srv_buf *b, const char *t, size_t n) {
    resp_item *it = &q->items[q->open];
    srv_buf_put(&it->text, t, n);
    if (it->text.err) b ? (void)(b->err = -1) : (void)0;
    if (!b) return;
    const char *type = it->type == RI_MESSAGE ? "response.output_text.delta"
                       : it->type == RI_CALL  ? "response.function_call_arguments.delta"
                                              : "response.reasoning_text.delta";
    ev_head(b, q, type);
    srv_buf_puts(b, ",\"item_id\":\"");
    srv_buf_puts(b, it->id);
    srv_buf_puts(b, "\",\"output_index\":");
    srv_buf_int(b, q->open);
    if (it->type != RI_CALL) srv_buf_puts(b, ",\"content_index\":0");
    srv_buf_puts(b, ",\"delta\":");
    srv_buf_jstr(b, t, n);
    if (it->type == RI_MESSAGE) srv_buf_puts(b, ",\"logprobs\":[]");
    srv_buf_puts(b, "}\n\n");
}

static int text_of(const srv_ctx *c, resp_req *q, srv_buf *b, int type, const char *t, size_t n) {
    if (!n) return 0;
    if ((q->open < 0 || q->items[q->open].type != type) && open_item(c, q, b, type, NULL, 0) < 0) return -1;
    delta(q, b, t, n);
    return 0;
}

/* The choice's next text (last: its end). -1 out of memory. */
static int feed(const srv_ctx *c, resp_req *q, srv_req *r, srv_buf *b, const char *t, size_t n, int last) {
    if (q->fed_end) return 0;
    if (!q->oai->parse_out) {
        if (text_of(c, q, b, RI_MESSAGE, t, n) < 0) return -1;
    } else {
        if (!q->tc && !(q->tc = pg_tc_stream_create(&q->oai->tc, q->oai->tc_flags))) return -1;
        const pg_tc_event *ev;
        size_t nev = 0;
        if (pg_tc_stream_feed(q->tc, t, n, last, &ev, &nev) < 0) return -1;
        for (size_t i = 0; i < nev; i++) {
            const pg_tc_event *e = &ev[i];
            if (e->kind >= PG_TC_EV_CALL_START && !q->oai->parallel_calls && e->index > 0) continue;
            int rc = 0;
            switch (e->kind) {
            case PG_TC_EV_REASONING:
                rc = text_of(c, q, b, RI_REASONING, e->text, e->len);
                q->saw_reasoning |= e->len > 0;
                break;
            case PG_TC_EV_CONTENT: rc = text_of(c, q, b, RI_MESSAGE, e->text, e->len); break;
            case PG_TC_EV_CALL_START: rc = open_item(c, q, b, RI_CALL, e->text, e->len) < 0 ? -1 : 0; break;
            case PG_TC_EV_CALL_ARGS:
                if (q->open >= 0 && q->items[q->open].type == RI_CALL) delta(q, b, e->text, e->len);
                break;
            }
            if (rc < 0) return -1;
        }
    }
    if (last) {
        /* an answer with no output at all still has its (empty) message */
        if (!q->n_items && open_item(c, q, b, RI_MESSAGE, NULL, 0) < 0) return -1;
        close_item(q, b);
        q->fed_end = 1;
    }
    (void)r;
    return 0;
}

/* Feeds the pending events of choice 0. */
static int feed_events(const srv_ctx *c, resp_req *q, srv_req *r, srv_buf *b) {
    srv_events v;
    srv_req_events(r, &v);
    for (size_t i = 0; i < v.n; i++) {
        const srv_event *x = &v.ev[i];
        if (x->choice != 0) continue;
        if (x->token < 0) q->finish = x->finish;
        q->saw_reasoning = 0;
        if (feed(c, q, r, b, v.text + x->text_off, x->text_len, x->token < 0) < 0) return -1;
        if (x->token >= 0 && q->saw_reasoning) q->reasoning_tokens++;
    }
    return 0;
}

int rsp_check(const resp_req *q, char *msg, size_t cap) {
    if (q->n_items > q->cap_items) return snprintf(msg, cap, "%zu items, capacity %zu", q->n_items, q->cap_items), -1;
    if (q->open >= 0 && q->open != (long)q->n_items - 1)
        return snprintf(msg, cap, "open item %ld is not the last of %zu", q->open, q->n_items), -1;
    for (size_t i = 0; i < q->n_items; i++) {
        const resp_item *it = &q->items[i];
        if ((long)i == q->open ? it->done : !it->done)
            return snprintf(msg, cap, "item %zu: done %d, open %ld", i, it->done, q->open), -1;
        if (it->type < RI_MESSAGE || it->type > RI_REASONING) return snprintf(msg, cap, "item %zu: type %d", i, it->type), -1;
        if (it->type == RI_CALL && (!it->name || strncmp(it->call_id, "call_", 5)))
            return snprintf(msg, cap, "call item %zu without a name or call id", i), -1;
    }
    if (q->fed_end && (q->open != -1 || !q->n_items))
        return snprintf(msg, cap, "ended with item %ld open, %zu items", q->open, q->n_items), -1;
    if (q->ended && !q->started) return snprintf(msg, cap, "stream ended before it started"), -1;
    return 0;
}

/* ---------- the response object ---------- */

static const char *final_status(const resp_req *q, srv_req *r, const char **reason) {
    *reason = NULL;
    if (srv_req_error(r, NULL)) return "failed";
    switch (q->finish) {
    case PG_FINISH_STOP: return "completed";
    case PG_FINISH_LENGTH: *reason = "max_output_tokens"; return "incomplete";
    case PG_FINISH_TIMEOUT: *reason = "timeout"; return "incomplete";
    case PG_FINISH_CANCELLED: *reason = "cancelled"; return "incomplete";
    default: return "completed";
    }
}

/* reasoning_tokens: the tokens whose text the output parser gave as
 * reasoning (a marker held back until the next token counts there) */
static json_t *usage_json(const resp_req *q, srv_req *r) {
    srv_usage u;
    srv_req_usage(r, &u);
    int64_t rt = q->reasoning_tokens < u.completion_tokens ? q->reasoning_tokens : u.completion_tokens;
    return json_pack("{s:I,s:{s:I},s:I,s:{s:I},s:I}", "input_tokens", (json_int_t)u.prompt_tokens,
                     "input_tokens_details", "cached_tokens", (json_int_t)u.cached_tokens, "output_tokens",
                     (json_int_t)u.completion_tokens, "output_tokens_details", "reasoning_tokens", (json_int_t)rt,
                     "total_tokens",
                     (json_int_t)(u.prompt_tokens + u.completion_tokens));
}

/* status NULL: the final one. */
static json_t *response_json(const resp_req *q, srv_req *r, const char *status) {
    const char *reason = NULL;
    int final = !status;
    if (final) status = final_status(q, r, &reason);
    json_t *o = json_pack("{s:s,s:s,s:I,s:s,s:b}", "id", q->id, "object", "response", "created_at",
                          (json_int_t)q->created, "status", status, "background", 0);
    if (!o) return NULL;
    json_t *err = json_null();
    if (final && !strcmp(status, "failed")) {
        const char *msg = "";
        int code = srv_req_error(r, &msg);
        err = json_pack("{s:s,s:s}", "code", srv_status_for(code) == 504 ? "timeout" : "server_error", "message",
                        msg ? msg : "");
    }
    json_object_set_new(o, "error", err ? err : json_null());
    json_object_set_new(o, "incomplete_details", reason ? json_pack("{s:s}", "reason", reason) : json_null());
    json_object_update(o, q->echo);
    json_t *out = json_array();
    for (size_t i = 0; final && i < q->n_items; i++) json_array_append_new(out, item_json(q, &q->items[i], 0));
    json_object_set_new(o, "output", out);
    json_object_set_new(o, "usage", final ? usage_json(q, r) : json_null());
    return o;
}

/* The conversation with this response's output, for previous_response_id. */
static char *history_text(const resp_req *q, size_t *len) {
    json_t *h = json_copy(q->hist); /* shallow: the messages are shared, the list is new */
    if (!h) return NULL;
    json_t *m = json_pack("{s:s}", "role", "assistant");
    json_t *calls = json_array();
    srv_buf txt = {0};
    for (size_t i = 0; i < q->n_items; i++) {
        const resp_item *it = &q->items[i];
        if (it->type == RI_MESSAGE) srv_buf_put(&txt, it->text.p ? it->text.p : "", it->text.len);
        else if (it->type == RI_CALL)
            json_array_append_new(calls, json_pack("{s:s,s:s,s:{s:s,s:s%}}", "id", it->call_id, "type", "function",
                                                   "function", "name", it->name ? it->name : "", "arguments",
                                                   it->text.p ? it->text.p : "", it->text.len));
    }
    json_t *ct = json_array_size(calls) && !txt.len ? json_null() : json_stringn(txt.p ? txt.p : "", txt.len);
    json_object_set_new(m, "content", ct ? ct : json_string(""));
    if (json_array_size(calls)) json_object_set_new(m, "tool_calls", calls);
    else json_decref(calls);
    srv_buf_free(&txt);
    json_array_append_new(h, m);
    return srv_dump(h, len);
}

static void store(const srv_ctx *c, const resp_req *q, const char *resp, size_t len) {
    if (!q->store || !c->responses) return;
    size_t hl = 0;
    char *h = history_text(q, &hl);
    if (!h || srv_rstore_put(c->responses, q->id, q->owner, resp, len, h, hl, srv_now()) < 0)
        PG_WARN("response %s not stored (over the store's byte bound, or out of memory)", q->id);
    free(h);
}

/* ---------- the adapter ---------- */

static int body_fn(const srv_ctx *c, void *state, srv_req *r, char **out, size_t *len) {
    resp_req *q = state;
    if (srv_req_error(r, NULL)) {
        const char *msg;
        int st = srv_status_for(srv_req_error(r, &msg));
        *out = srv_dump(srv_error_json(msg, st == 504 ? "timeout_error" : st >= 500 ? "server_error"
                                                                                     : "invalid_request_error",
                                       NULL, st == 504 ? "request_timeout" : NULL),
                        len);
        return st;
    }
    json_t *o = NULL;
    if (feed_events(c, q, r, NULL) == 0) o = response_json(q, r, NULL);
    *out = o ? srv_dump(o, len) : NULL;
    if (!*out) {
        *out = srv_dump(srv_error_json("out of memory", "server_error", NULL, NULL), len);
        return 500;
    }
    store(c, q, *out, *len);
    return 200;
}

static int stream_fn(const srv_ctx *c, void *state, srv_req *r, srv_buf *b) {
    resp_req *q = state;
    if (q->ended) return 1;
    if (!q->started) {
        q->started = 1;
        ev_json(b, q, "response.created", json_pack("{s:o}", "response", response_json(q, r, "in_progress")));
        ev_json(b, q, "response.in_progress", json_pack("{s:o}", "response", response_json(q, r, "in_progress")));
    }
    if (feed_events(c, q, r, b) < 0) b->err = -1;
    if (!srv_req_done(r)) return 0;
    if (!q->fed_end && !srv_req_error(r, NULL) && feed(c, q, r, b, "", 0, 1) < 0) b->err = -1;
    json_t *o = response_json(q, r, NULL);
    const char *st = o ? json_string_value(json_object_get(o, "status")) : "failed";
    const char *type = !strcmp(st, "completed") ? "response.completed"
                       : !strcmp(st, "failed")  ? "response.failed"
                                                : "response.incomplete";
    if (o && strcmp(st, "failed")) {
        size_t n;
        char *s = srv_dump(json_incref(o), &n);
        if (s) store(c, q, s, n);
        free(s);
    }
    ev_json(b, q, type, json_pack("{s:o}", "response", o));
    q->ended = 1;
    return 1;
}

static int parse_fn(const srv_ctx *c, const srv_caller *who, const char *body, size_t len, srv_req *r, void **state,
                    srv_fail *fail) {
    resp_req *q = NULL;
    int st = rsp_parse(c, who, body, len, r, &q, fail);
    *state = q;
    return st;
}

static const char *state_id(const void *state) { return state ? ((const resp_req *)state)->id : NULL; }

static char *error_fn(int status, const char *msg, const char *type, const char *code, size_t *len) {
    (void)status;
    return srv_dump(srv_error_json(msg, type, NULL, code), len);
}

const srv_adapter srv_resp_adapter = {
    .name = "openai.responses",
    .parse = parse_fn,
    .id = state_id,
    .body = body_fn,
    .stream = stream_fn,
    .stream_content_type = "text/event-stream; charset=utf-8",
    .error = error_fn,
};

int rsp_endpoint(const srv_ctx *c, int del, uint64_t owner, const char *id, char **out) {
    size_t n = 0;
    char *s = NULL;
    int rc = -1;
    if (id && *id && strlen(id) < 200) {
        if (del) rc = srv_rstore_delete(c->responses, id, owner, srv_now());
        else rc = srv_rstore_get(c->responses, id, owner, SRV_RSTORE_RESPONSE, &s, &n, srv_now());
    }
    if (rc == 0) {
        *out = del ? srv_dump(json_pack("{s:s,s:s,s:b}", "id", id, "object", "response", "deleted", 1), &n) : s;
        return *out ? 200 : 500;
    }
    if (rc == -2) {
        *out = srv_dump(srv_error_json("out of memory", "server_error", NULL, NULL), &n);
        return 500;
    }
    char m[300];
    snprintf(m, sizeof m, "Response with id '%.200s' not found.", id ? id : "");
    *out = srv_dump(srv_error_json(m, "invalid_request_error", NULL, "response_not_found"), &n);
    return 404;
}
