/* openai_format.c - OpenAI response bodies and SSE frames (see
 * openai_format.h).
 *
 * Whole bodies are written in parts as the socket takes them (see "whole
 * bodies, written in parts" below), never as one tree. Stream frames are
 * written straight into the connection's reused buffer with util.h's JSON
 * writer (the same bytes jansson would dump): the constant head of every
 * chunk (`data: {"id":...,"created":...,"model":...,"choices":[`) is
 * formatted once per request, so a token costs a few appends and no
 * allocation once the buffer has grown to a frame's size. */
#include "server/openai_format.h"

#include "base/arena.h"
#include "base/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *finish_name(int f) {
    switch (f) {
    case PG_FINISH_STOP: return "stop";
    case PG_FINISH_LENGTH: return "length";
    case PG_FINISH_CANCELLED: return "abort";
    case PG_FINISH_TIMEOUT: return "length"; /* deadline: truncated output (README: production) */
    default: return NULL;
    }
}

char *oai_error(int status, const char *msg, const char *type, const char *code, size_t *len) {
    (void)status;
    return srv_dump(srv_error_json(msg, type, NULL, code), len);
}

/* The request's error as an OpenAI error object, and its status. */
static json_t *error_json(const oai_req *o, srv_req *r, int *status) {
    const char *msg;
    int code = srv_req_error(r, &msg);
    *status = srv_status_for(code);
    if (*status == 504) return srv_error_json(msg, "timeout_error", NULL, "request_timeout");
    if (*status >= 500) PG_ERROR("request %s failed: %s", o->id, msg);
    return srv_error_json(msg, *status >= 500 ? "server_error" : "invalid_request_error", NULL, NULL);
}

static json_t *usage_json(srv_req *r) {
    srv_usage u;
    srv_req_usage(r, &u);
    json_t *j = json_object();
    json_object_set_new(j, "prompt_tokens", json_integer(u.prompt_tokens));
    json_object_set_new(j, "completion_tokens", json_integer(u.completion_tokens));
    json_object_set_new(j, "total_tokens", json_integer(u.prompt_tokens + u.completion_tokens));
    json_t *d = json_object();
    json_object_set_new(d, "cached_tokens", json_integer(u.cached_tokens));
    json_object_set_new(j, "prompt_tokens_details", d);
    return j;
}

/* ---------- token pieces ---------- */

/* A token's text for logprobs: its raw bytes when valid UTF-8, else
 * "bytes:\xNN..." (vLLM's convention). txt gets the string's bytes (cap
 * >= 4 * 256 + 8), raw the token's bytes (cap >= 256). */
static size_t piece(const pg_vocab *v, int32_t id, char *txt, unsigned char *raw, size_t *raw_len) {
    char buf[256];
    int64_t k = pg_token_to_piece(v, id, buf, sizeof buf, 1);
    if (k < 0) k = 0;
    if (k > (int64_t)sizeof buf) k = sizeof buf;
    if (raw) {
        memcpy(raw, buf, (size_t)k);
        *raw_len = (size_t)k;
    }
    if (srv_utf8_valid(buf, (size_t)k)) {
        memcpy(txt, buf, (size_t)k);
        return (size_t)k;
    }
    size_t o = (size_t)sprintf(txt, "bytes:");
    for (int64_t i = 0; i < k; i++) o += (size_t)sprintf(txt + o, "\\x%02x", (unsigned char)buf[i]);
    return o;
}
#define PIECE_CAP (256 * 4 + 16)

/* ---------- SSE frames (no jansson per frame) ---------- */

static int make_head(oai_req *o, srv_req *r, srv_buf *b) {
    srv_buf h = {0};
    srv_buf_puts(&h, "data: {\"id\":");
    srv_buf_jstr(&h, o->id, strlen(o->id));
    srv_buf_puts(&h, o->kind == OAI_CHAT ? ",\"object\":\"chat.completion.chunk\",\"created\":"
                                         : ",\"object\":\"text_completion\",\"created\":");
    srv_buf_int(&h, o->created);
    srv_buf_puts(&h, ",\"model\":");
    const char *m = o->model ? o->model : "";
    srv_buf_jstr(&h, m, strlen(m));
    srv_buf_puts(&h, ",\"choices\":[");
    o->head = h.err ? NULL : pg_arena_strndup(srv_req_arena(r), h.p, h.len);
    o->head_len = h.len;
    srv_buf_free(&h);
    if (!o->head) b->err = -1;
    return o->head ? 0 : -1;
}

static void w_piece(srv_buf *b, const srv_ctx *c, int32_t id, unsigned char *raw, size_t *rl) {
    char t[PIECE_CAP];
    size_t n = piece(c->vocab, id, t, raw, rl);
    srv_buf_jstr(b, t, n);
}

static void w_bytes(srv_buf *b, const unsigned char *raw, size_t n) {
    srv_buf_putc(b, '[');
    for (size_t i = 0; i < n; i++) {
        if (i) srv_buf_putc(b, ',');
        srv_buf_int(b, raw[i]);
    }
    srv_buf_putc(b, ']');
}

/* {"token","logprob","bytes","top_logprobs":[...]} */
static void w_chat_entry(srv_buf *b, const srv_ctx *c, const srv_events *v, const srv_event *x) {
    unsigned char raw[256];
    size_t rl;
    srv_buf_puts(b, "{\"token\":");
    w_piece(b, c, x->token, raw, &rl);
    srv_buf_puts(b, ",\"logprob\":");
    srv_buf_real(b, x->logprob);
    srv_buf_puts(b, ",\"bytes\":");
    w_bytes(b, raw, rl);
    srv_buf_puts(b, ",\"top_logprobs\":[");
    for (int32_t k = 0; k < x->n_top; k++) {
        srv_buf_puts(b, k ? ",{\"token\":" : "{\"token\":");
        w_piece(b, c, v->top_id[x->top_off + (size_t)k], raw, &rl);
        srv_buf_puts(b, ",\"logprob\":");
        srv_buf_real(b, v->top_lp[x->top_off + (size_t)k]);
        srv_buf_puts(b, ",\"bytes\":");
        w_bytes(b, raw, rl);
        srv_buf_putc(b, '}');
    }
    srv_buf_puts(b, "]}");
}

/* {"content":[entry]} */
static void w_chat_lp(srv_buf *b, const srv_ctx *c, const srv_events *v, const srv_event *x) {
    srv_buf_puts(b, "{\"content\":[");
    w_chat_entry(b, c, v, x);
    srv_buf_puts(b, "]}");
}

/* {piece:lp,..} of one token: its alternatives (or the token itself with
 * logprobs 0); the object keeps the first of equal keys (keys end at a NUL
 * byte, as jansson's do). */
static void w_legacy_top(srv_buf *b, const srv_ctx *c, const srv_events *v, const srv_event *x) {
    srv_buf_putc(b, '{');
    char keys[PG_SAMPLER_MAX_LOGPROBS][PIECE_CAP];
    size_t kl[PG_SAMPLER_MAX_LOGPROBS];
    int nk = 0;
    int32_t n = x->n_top ? x->n_top : 1;
    for (int32_t k = 0; k < n && k < PG_SAMPLER_MAX_LOGPROBS; k++) {
        int32_t id = x->n_top ? v->top_id[x->top_off + (size_t)k] : x->token;
        float lp = x->n_top ? v->top_lp[x->top_off + (size_t)k] : x->logprob;
        size_t len = piece(c->vocab, id, keys[nk], NULL, NULL);
        len = strnlen(keys[nk], len);
        int dup = 0;
        for (int i = 0; i < nk && !dup; i++) dup = kl[i] == len && !memcmp(keys[i], keys[nk], len);
        if (dup) continue;
        if (nk) srv_buf_putc(b, ',');
        srv_buf_jstr(b, keys[nk], len);
        srv_buf_putc(b, ':');
        srv_buf_real(b, lp);
        kl[nk++] = len;
    }
    srv_buf_putc(b, '}');
}

/* {"tokens":[..],"token_logprobs":[..],"top_logprobs":[{piece:lp,..}],"text_offset":[..]} */
static void w_legacy_lp(srv_buf *b, const srv_ctx *c, const srv_events *v, const srv_event *x, size_t off) {
    srv_buf_puts(b, "{\"tokens\":[");
    w_piece(b, c, x->token, NULL, NULL);
    srv_buf_puts(b, "],\"token_logprobs\":[");
    srv_buf_real(b, x->logprob);
    srv_buf_puts(b, "],\"top_logprobs\":[");
    w_legacy_top(b, c, v, x);
    srv_buf_puts(b, "],\"text_offset\":[");
    srv_buf_int(b, (long long)off);
    srv_buf_puts(b, "]}");
}

/* One chunk with one choice. text may be NULL (chat: no content key),
 * x NULL (no logprobs), finish 0 (null); role: chat's first delta. */
static void chunk(srv_buf *b, const srv_ctx *c, oai_req *o, const srv_events *v, int32_t ci, const char *text,
                  size_t tl, const srv_event *x, int finish, int role) {
    srv_buf_put(b, o->head, o->head_len);
    srv_buf_puts(b, "{\"index\":");
    srv_buf_int(b, ci);
    if (o->kind == OAI_CHAT) {
        srv_buf_puts(b, ",\"delta\":{");
        if (role) srv_buf_puts(b, "\"role\":\"assistant\"");
        if (text) {
            srv_buf_puts(b, role ? ",\"content\":" : "\"content\":");
            srv_buf_jstr(b, text, tl);
        }
        srv_buf_putc(b, '}');
    } else {
        srv_buf_puts(b, ",\"text\":");
        srv_buf_jstr(b, text ? text : "", text ? tl : 0);
    }
    srv_buf_puts(b, ",\"logprobs\":");
    if (x && o->logprobs >= 0) {
        if (o->kind == OAI_CHAT) w_chat_lp(b, c, v, x);
        else w_legacy_lp(b, c, v, x, o->choice_text_len[ci]);
    } else {
        srv_buf_puts(b, "null");
    }
    const char *fn = finish ? finish_name(finish) : NULL;
    srv_buf_puts(b, ",\"finish_reason\":");
    if (fn) srv_buf_jstr(b, fn, strlen(fn));
    else srv_buf_puts(b, "null");
    srv_buf_puts(b, o->include_usage ? "}],\"usage\":null}\n\n" : "}]}\n\n");
    o->choice_text_len[ci] += tl;
}

/* The parsed answer into message m: content (null when only calls),
 * reasoning_content, tool_calls with fresh ids. Returns the number of
 * calls. A parse that runs out of memory leaves the text as content. */
static size_t parsed_message(const srv_ctx *c, const oai_req *o, json_t *m, const char *text, size_t len) {
    pg_tc_result r;
    if (pg_tc_parse(&o->tc, text, len, o->tc_flags, &r) < 0) {
        json_t *t = json_stringn(text, len);
        json_object_set_new(m, "content", t ? t : json_string(""));
        return 0;
    }
    size_t n = r.n_calls;
    if (!o->parallel_calls && n > 1) n = 1;
    json_t *ct = n && !r.content_len ? json_null() : json_stringn(r.content, r.content_len);
    json_object_set_new(m, "content", ct ? ct : json_string(""));
    if (r.has_reasoning) {
        json_t *rs = json_stringn(r.reasoning, r.reasoning_len);
        json_object_set_new(m, "reasoning_content", rs ? rs : json_string(""));
    }
    if (n) {
        json_t *calls = json_array();
        for (size_t i = 0; i < n; i++) {
            char id[64];
            srv_make_id(c->ids, "call_", id, sizeof id);
            json_t *x = json_object(), *f = json_object();
            json_object_set_new(x, "id", json_string(id));
            json_object_set_new(x, "type", json_string("function"));
            json_object_set_new(f, "name", json_string(r.calls[i].name));
            json_t *a = json_string(r.calls[i].arguments);
            json_object_set_new(f, "arguments", a ? a : json_string("{}"));
            json_object_set_new(x, "function", f);
            json_array_append_new(calls, x);
        }
        json_object_set_new(m, "tool_calls", calls);
    }
    pg_tc_result_free(&r);
    return n;
}

/* A chat chunk whose delta members (`"k":v,...`, may be empty) are given
 * as JSON text; fn: the finish reason or NULL. */
static void chunk_raw(srv_buf *b, const srv_ctx *c, oai_req *o, const srv_events *v, int32_t ci, const char *delta,
                      size_t dl, const srv_event *x, const char *fn) {
    srv_buf_put(b, o->head, o->head_len);
    srv_buf_puts(b, "{\"index\":");
    srv_buf_int(b, ci);
    srv_buf_puts(b, ",\"delta\":{");
    srv_buf_put(b, delta, dl);
    srv_buf_puts(b, "},\"logprobs\":");
    if (x && o->logprobs >= 0) w_chat_lp(b, c, v, x);
    else srv_buf_puts(b, "null");
    srv_buf_puts(b, ",\"finish_reason\":");
    if (fn) srv_buf_jstr(b, fn, strlen(fn));
    else srv_buf_puts(b, "null");
    srv_buf_puts(b, o->include_usage ? "}],\"usage\":null}\n\n" : "}]}\n\n");
}

static void free_streams(void *arg) {
    oai_req *o = arg;
    for (int32_t i = 0; o->tc_streams && i < o->n_choices; i++) pg_tc_stream_destroy(o->tc_streams[i]);
}

/* Text of choice ci through its output parser: one chunk per parser
 * event (reasoning, content, call start with id/type/name, arguments);
 * the token's logprobs ride on the first, or on an empty delta. last: the
 * choice's end (then its finish chunk follows). */
static void parsed_chunks(srv_buf *b, const srv_ctx *c, oai_req *o, srv_req *r, const srv_events *v, int32_t ci,
                          const char *t, size_t tl, const srv_event *x, int last, int finish) {
    if (!o->tc_streams) {
        o->tc_streams = pg_arena_calloc(srv_req_arena(r), (size_t)o->n_choices, sizeof *o->tc_streams);
        if (!o->tc_streams) {
            b->err = -1;
            return;
        }
        srv_req_on_free(r, free_streams, o);
    }
    if (!o->tc_streams[ci] && !(o->tc_streams[ci] = pg_tc_stream_create(&o->tc, o->tc_flags))) {
        b->err = -1;
        return;
    }
    pg_tc_stream *s = o->tc_streams[ci];
    const pg_tc_event *ev;
    size_t nev = 0;
    if (pg_tc_stream_feed(s, t, tl, last, &ev, &nev) < 0) {
        b->err = -1;
        return;
    }
    srv_buf d = {0};
    int lp_sent = 0;
    for (size_t i = 0; i < nev; i++) {
        const pg_tc_event *e = &ev[i];
        if (e->kind >= PG_TC_EV_CALL_START && !o->parallel_calls && e->index > 0) continue;
        d.len = 0;
        switch (e->kind) {
        case PG_TC_EV_REASONING:
            srv_buf_puts(&d, "\"reasoning_content\":");
            srv_buf_jstr(&d, e->text, e->len);
            break;
        case PG_TC_EV_CONTENT:
            srv_buf_puts(&d, "\"content\":");
            srv_buf_jstr(&d, e->text, e->len);
            break;
        case PG_TC_EV_CALL_START: {
            char id[64];
            srv_make_id(c->ids, "call_", id, sizeof id);
            srv_buf_puts(&d, "\"tool_calls\":[{\"index\":");
            srv_buf_int(&d, e->index);
            srv_buf_puts(&d, ",\"id\":");
            srv_buf_jstr(&d, id, strlen(id));
            srv_buf_puts(&d, ",\"type\":\"function\",\"function\":{\"name\":");
            srv_buf_jstr(&d, e->text, e->len);
            srv_buf_puts(&d, ",\"arguments\":\"\"}}]");
            break;
        }
        case PG_TC_EV_CALL_ARGS:
            srv_buf_puts(&d, "\"tool_calls\":[{\"index\":");
            srv_buf_int(&d, e->index);
            srv_buf_puts(&d, ",\"function\":{\"arguments\":");
            srv_buf_jstr(&d, e->text, e->len);
            srv_buf_puts(&d, "}}]");
            break;
        }
        chunk_raw(b, c, o, v, ci, d.p ? d.p : "", d.len, lp_sent ? NULL : x, NULL);
        lp_sent = 1;
    }
    if (!lp_sent && x && o->logprobs >= 0) chunk_raw(b, c, o, v, ci, "", 0, x, NULL);
    if (d.err) b->err = -1;
    srv_buf_free(&d);
    if (last) {
        const char *fn = pg_tc_stream_n_calls(s) ? "tool_calls" : finish_name(finish);
        chunk_raw(b, c, o, v, ci, "", 0, NULL, fn);
    }
}

static void put_event(srv_buf *b, json_t *j) {
    size_t n;
    char *s = srv_dump(j, &n);
    if (!s) {
        b->err = -1;
        return;
    }
    srv_buf_puts(b, "data: ");
    srv_buf_put(b, s, n);
    srv_buf_puts(b, "\n\n");
    free(s);
}

/* The stream's end: the error, or the usage chunk when asked; [DONE]. */
static void stream_end(srv_buf *b, oai_req *o, srv_req *r) {
    if (srv_req_error(r, NULL)) {
        int st;
        put_event(b, error_json(o, r, &st));
    } else if (o->include_usage) {
        size_t n;
        char *u = srv_dump(usage_json(r), &n);
        if (!u) b->err = -1;
        srv_buf_put(b, o->head, o->head_len);
        srv_buf_puts(b, "],\"usage\":");
        srv_buf_put(b, u, u ? n : 0);
        srv_buf_puts(b, "}\n\n");
        free(u);
    }
    srv_buf_puts(b, "data: [DONE]\n\n");
}

int oai_stream(const srv_ctx *c, oai_req *o, srv_req *r, srv_buf *b) {
    if (o->ended) return 1;
    srv_events v;
    srv_req_events(r, &v);
    if (!o->started) {
        if (!o->head && make_head(o, r, b) < 0) return 0;
        o->started = 1;
        for (int32_t ci = 0; ci < o->n_choices; ci++) {
            int32_t p = ci / o->n;
            if (o->kind == OAI_CHAT) chunk(b, c, o, &v, ci, "", 0, NULL, 0, 1);
            else if (o->echo && o->echo_len[p]) chunk(b, c, o, &v, ci, o->echo_text[p], o->echo_len[p], NULL, 0, 0);
        }
    }
    for (size_t i = 0; i < v.n; i++) {
        const srv_event *x = &v.ev[i];
        const char *t = v.text + x->text_off;
        if (o->kind == OAI_CHAT && o->parse_out) {
            parsed_chunks(b, c, o, r, &v, x->choice, t, x->text_len, x->token >= 0 ? x : NULL, x->token < 0, x->finish);
            continue;
        }
        if (x->token >= 0) {
            if (x->text_len || o->logprobs >= 0) chunk(b, c, o, &v, x->choice, t, x->text_len, x, 0, 0);
        } else if (o->kind == OAI_CHAT) {
            if (x->text_len) chunk(b, c, o, &v, x->choice, t, x->text_len, NULL, 0, 0);
            chunk(b, c, o, &v, x->choice, NULL, 0, NULL, x->finish, 0);
        } else {
            chunk(b, c, o, &v, x->choice, t, x->text_len, NULL, x->finish, 0);
        }
    }
    if (!srv_req_done(r)) return 0;
    stream_end(b, o, r);
    o->ended = 1;
    return 1;
}

/* ---------- whole bodies, written in parts ---------- */

/* The body of a done request without error is written choice by choice,
 * and within a choice section by section (its text, then each logprobs
 * list), one event at a time, into the caller's buffer; the caller (http.c)
 * hands each part to the socket before asking for the next. So a body of
 * 128 choices x thousands of tokens x 20 logprobs never exists whole; the
 * cost is one pass over the choice's events per section, through
 * per-choice event chains built once (bp_first / bp_next, 8 bytes per
 * event, in the request's arena). The bytes are those jansson gave for the
 * same tree (key order, escapes, reals), which test_openai checks. */
enum { BP_HEAD = 0, BP_OPEN, BP_TEXT, BP_TOKENS, BP_LPS, BP_TOPS, BP_OFFS, BP_CHAT_LP, BP_CLOSE, BP_DONE, BP_PARSED };

static int bp_chains(oai_req *o, srv_req *r, const srv_events *v) {
    pg_arena *a = srv_req_arena(r);
    size_t nc = (size_t)(o->n_choices > 0 ? o->n_choices : 1);
    o->bp_first = pg_arena_alloc(a, nc * sizeof *o->bp_first);
    o->bp_next = pg_arena_alloc(a, (v->n ? v->n : 1) * sizeof *o->bp_next);
    int64_t *last = pg_arena_alloc(a, nc * sizeof *last);
    if (!o->bp_first || !o->bp_next || !last) return -1;
    for (int32_t i = 0; i < o->n_choices; i++) o->bp_first[i] = last[i] = -1;
    for (size_t i = 0; i < v->n; i++) {
        int32_t ci = v->ev[i].choice;
        o->bp_next[i] = -1;
        if (ci < 0 || ci >= o->n_choices) continue;
        if (last[ci] < 0) o->bp_first[ci] = (int64_t)i;
        else o->bp_next[last[ci]] = (int64_t)i;
        last[ci] = (int64_t)i;
    }
    return 0;
}

/* Moves bp_i to the next token event (token >= 0) of the choice, -1 none. */
static void bp_next_token(oai_req *o, const srv_events *v) {
    while (o->bp_i >= 0 && v->ev[o->bp_i].token < 0) o->bp_i = o->bp_next[o->bp_i];
}

static size_t bp_echo_len(const oai_req *o) {
    int32_t p = o->bp_ci / o->n;
    return o->echo && o->echo_text && o->echo_text[p] ? o->echo_len[p] : 0;
}

/* A chat choice whose answer is parsed (tools, reasoning): its whole text
 * (one choice's, gathered from its events) through toolcall's parser, the
 * message written at once; then the logprobs as usual. */
static int bp_parsed(const srv_ctx *c, oai_req *o, const srv_events *v, srv_buf *b) {
    srv_buf t = {0};
    for (int64_t i = o->bp_first[o->bp_ci]; i >= 0; i = o->bp_next[i]) {
        const srv_event *x = &v->ev[i];
        srv_buf_put(&t, v->text + x->text_off, x->text_len);
        if (x->token < 0) o->bp_finish = x->finish;
    }
    json_t *msg = json_object();
    json_object_set_new(msg, "role", json_string("assistant"));
    o->bp_calls = t.err ? 0 : parsed_message(c, o, msg, t.p ? t.p : "", t.len) > 0;
    int err = t.err;
    srv_buf_free(&t);
    size_t n;
    char *s = srv_dump(msg, &n);
    if (!s || err) {
        free(s);
        return -1;
    }
    srv_buf_put(b, s, n);
    free(s);
    srv_buf_puts(b, ",\"logprobs\":");
    o->bp_i = o->bp_first[o->bp_ci];
    o->bp_k = 0;
    if (o->logprobs < 0) {
        srv_buf_puts(b, "null");
        o->bp_phase = BP_CLOSE;
    } else {
        srv_buf_puts(b, "{\"content\":[");
        o->bp_phase = BP_CHAT_LP;
    }
    return 0;
}

/* A choice opens: its index and the start of its text (echo first). */
static void bp_open(oai_req *o, srv_buf *b) {
    int32_t ci = o->bp_ci, prompt = ci / o->n;
    srv_buf_puts(b, ci ? ",{\"index\":" : "{\"index\":");
    srv_buf_int(b, ci);
    o->bp_calls = 0;
    if (o->kind == OAI_CHAT && o->parse_out) { /* the message is written by bp_parsed */
        srv_buf_puts(b, ",\"message\":");
        o->bp_finish = PG_FINISH_NONE;
        o->bp_phase = BP_PARSED;
        return;
    }
    srv_buf_puts(b, o->kind == OAI_CHAT ? ",\"message\":{\"role\":\"assistant\",\"content\":\"" : ",\"text\":\"");
    o->bp_finish = PG_FINISH_NONE;
    size_t el = bp_echo_len(o);
    if (el && srv_utf8_valid(o->echo_text[prompt], el)) srv_buf_jesc(b, o->echo_text[prompt], el);
    o->bp_i = o->bp_first[ci];
    o->bp_phase = BP_TEXT;
}

/* After the text: the logprobs value opens (or is null). */
static void bp_after_text(oai_req *o, srv_buf *b) {
    srv_buf_puts(b, o->kind == OAI_CHAT ? "\"},\"logprobs\":" : "\",\"logprobs\":");
    o->bp_i = o->bp_first[o->bp_ci];
    o->bp_k = 0;
    if (o->logprobs < 0) {
        srv_buf_puts(b, "null");
        o->bp_phase = BP_CLOSE;
    } else if (o->kind == OAI_CHAT) {
        srv_buf_puts(b, "{\"content\":[");
        o->bp_phase = BP_CHAT_LP;
    } else {
        srv_buf_puts(b, "{\"tokens\":[");
        o->bp_phase = BP_TOKENS;
    }
}

/* The legacy logprobs lists: one item per token event, then the separator
 * to the next list. */
static void bp_legacy_list(const srv_ctx *c, oai_req *o, const srv_events *v, srv_buf *b) {
    bp_next_token(o, v);
    if (o->bp_i >= 0) {
        const srv_event *x = &v->ev[o->bp_i];
        if (o->bp_k++) srv_buf_putc(b, ',');
        if (o->bp_phase == BP_TOKENS) w_piece(b, c, x->token, NULL, NULL);
        else if (o->bp_phase == BP_LPS) srv_buf_real(b, x->logprob);
        else w_legacy_top(b, c, v, x);
        o->bp_i = o->bp_next[o->bp_i];
        return;
    }
    srv_buf_puts(b, o->bp_phase == BP_TOKENS ? "],\"token_logprobs\":["
                    : o->bp_phase == BP_LPS  ? "],\"top_logprobs\":["
                                             : "],\"text_offset\":[");
    o->bp_phase = o->bp_phase == BP_TOKENS ? BP_LPS : o->bp_phase == BP_LPS ? BP_TOPS : BP_OFFS;
    o->bp_i = o->bp_first[o->bp_ci];
    o->bp_k = 0;
    o->bp_off = bp_echo_len(o);
}

/* text_offset: each token's offset in the choice's text (echo included). */
static void bp_offsets(oai_req *o, const srv_events *v, srv_buf *b) {
    if (o->bp_i < 0) {
        srv_buf_puts(b, "]}");
        o->bp_phase = BP_CLOSE;
        return;
    }
    const srv_event *x = &v->ev[o->bp_i];
    if (x->token >= 0) {
        if (o->bp_k++) srv_buf_putc(b, ',');
        srv_buf_int(b, (long long)o->bp_off);
    }
    o->bp_off += x->text_len;
    o->bp_i = o->bp_next[o->bp_i];
}

/* A choice closes with its finish reason; after the last, the usage. */
static int bp_close(oai_req *o, srv_req *r, srv_buf *b) {
    if (o->n_choices > 0) {
        const char *fn = o->bp_calls ? "tool_calls" : finish_name(o->bp_finish);
        srv_buf_puts(b, ",\"finish_reason\":");
        if (fn) srv_buf_jstr(b, fn, strlen(fn));
        else srv_buf_puts(b, "null");
        srv_buf_putc(b, '}');
        if (++o->bp_ci < o->n_choices) {
            o->bp_phase = BP_OPEN;
            return 0;
        }
    }
    size_t n;
    char *u = srv_dump(usage_json(r), &n);
    if (!u) return -1;
    srv_buf_puts(b, "],\"usage\":");
    srv_buf_put(b, u, n);
    srv_buf_putc(b, '}');
    free(u);
    o->bp_phase = BP_DONE;
    return 0;
}

static void bp_head(oai_req *o, srv_buf *b) {
    const char *m = o->model ? o->model : "";
    srv_buf_puts(b, "{\"id\":");
    srv_buf_jstr(b, o->id, strlen(o->id));
    srv_buf_puts(b, o->kind == OAI_CHAT ? ",\"object\":\"chat.completion\",\"created\":"
                                        : ",\"object\":\"text_completion\",\"created\":");
    srv_buf_int(b, o->created);
    srv_buf_puts(b, ",\"model\":");
    srv_buf_jstr(b, m, strlen(m));
    srv_buf_puts(b, ",\"choices\":[");
    o->bp_ci = 0;
    o->bp_phase = o->n_choices > 0 ? BP_OPEN : BP_CLOSE;
}

int oai_body_part(const srv_ctx *c, oai_req *o, srv_req *r, srv_buf *b, size_t want) {
    srv_events v;
    srv_req_events(r, &v);
    while (o->bp_phase != BP_DONE && b->len < want && !b->err) {
        switch (o->bp_phase) {
        case BP_HEAD:
            if (bp_chains(o, r, &v) < 0) return -1;
            bp_head(o, b);
            break;
        case BP_OPEN: bp_open(o, b); break;
        case BP_PARSED:
            if (bp_parsed(c, o, &v, b) < 0) return -1;
            break;
        case BP_TEXT:
            if (o->bp_i < 0) {
                bp_after_text(o, b);
            } else {
                const srv_event *x = &v.ev[o->bp_i];
                const char *t = v.text + x->text_off;
                if (x->text_len && srv_utf8_valid(t, x->text_len)) srv_buf_jesc(b, t, x->text_len);
                if (x->token < 0) o->bp_finish = x->finish;
                o->bp_i = o->bp_next[o->bp_i];
            }
            break;
        case BP_TOKENS:
        case BP_LPS:
        case BP_TOPS: bp_legacy_list(c, o, &v, b); break;
        case BP_OFFS: bp_offsets(o, &v, b); break;
        case BP_CHAT_LP:
            bp_next_token(o, &v);
            if (o->bp_i < 0) {
                srv_buf_puts(b, "]}");
                o->bp_phase = BP_CLOSE;
                break;
            }
            if (o->bp_k++) srv_buf_putc(b, ',');
            w_chat_entry(b, c, &v, &v.ev[o->bp_i]);
            o->bp_i = o->bp_next[o->bp_i];
            break;
        case BP_CLOSE:
            if (bp_close(o, r, b) < 0) return -1;
            break;
        default: return -1;
        }
    }
    if (b->err) return -1;
    return o->bp_phase == BP_DONE;
}

int oai_body(const srv_ctx *c, oai_req *o, srv_req *r, char **out, size_t *len) {
    int status = 200;
    if (srv_req_error(r, NULL)) {
        *out = srv_dump(error_json(o, r, &status), len);
        return status;
    }
    srv_buf b = {0};
    int rc;
    while ((rc = oai_body_part(c, o, r, &b, b.len + (1 << 16))) == 0) {}
    if (rc < 0) {
        srv_buf_free(&b);
        *out = srv_dump(srv_error_json("out of memory", "server_error", NULL, NULL), len);
        return 500;
    }
    *out = b.p;
    *len = b.len;
    return 200;
}

/* ---------- the adapters ---------- */


static int parse_completions(const srv_ctx *c, const srv_caller *who, const char *body, size_t len, srv_req *r,
                             void **state, srv_fail *fail) {
    oai_req *o = NULL;
    int st = oai_parse(c, who, OAI_COMPLETION, body, len, r, &o, fail);
    *state = o;
    return st;
}

static int parse_chat(const srv_ctx *c, const srv_caller *who, const char *body, size_t len, srv_req *r, void **state,
                      srv_fail *fail) {
    oai_req *o = NULL;
    int st = oai_parse(c, who, OAI_CHAT, body, len, r, &o, fail);
    *state = o;
    return st;
}

static const char *state_id(const void *state) { return state ? ((const oai_req *)state)->id : NULL; }

static int body_fn(const srv_ctx *c, void *state, srv_req *r, char **out, size_t *len) {
    return oai_body(c, state, r, out, len);
}

static int stream_fn(const srv_ctx *c, void *state, srv_req *r, srv_buf *out) { return oai_stream(c, state, r, out); }

static int body_part_fn(const srv_ctx *c, void *state, srv_req *r, srv_buf *out, size_t want) {
    return oai_body_part(c, state, r, out, want);
}

const srv_adapter srv_oai_completions = {
    .name = "openai.completions",
    .parse = parse_completions,
    .id = state_id,
    .body = body_fn,
    .body_part = body_part_fn,
    .stream = stream_fn,
    .stream_content_type = "text/event-stream; charset=utf-8",
    .error = oai_error,
};

const srv_adapter srv_oai_chat = {
    .name = "openai.chat",
    .parse = parse_chat,
    .id = state_id,
    .body = body_fn,
    .body_part = body_part_fn,
    .stream = stream_fn,
    .stream_content_type = "text/event-stream; charset=utf-8",
    .error = oai_error,
};
