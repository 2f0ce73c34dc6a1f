/* anthropic_format.c - events -> Anthropic "message" bodies and SSE events.
 *
 * One choice per request (Messages has no n). The answer's text goes
 * through the output parser (toolcall.h) when the chat parser asked for
 * it (tools on, or a template that marks reasoning): reasoning becomes a
 * "thinking" block, calls "tool_use" blocks (id toolu_..., input = the
 * parsed arguments object), the rest "text".
 *
 * Stop sequences: the request asks the engine to keep a matched stop
 * string in the text (include_stop_str_in_output). The engine's stop
 * matcher never hands out text that ends in a whole stop string unless
 * that string ended generation, so a token text that ends with one of the
 * request's stop sequences is the stopping one: the sequence is cut off
 * there and reported as stop_sequence (stop_reason "stop_sequence").
 *
 * Stream, in order (Anthropic's named events):
 *   message_start (usage.input_tokens = the prompt), ping,
 *   per block: content_block_start, content_block_delta* (text_delta |
 *   thinking_delta | input_json_delta), content_block_stop,
 *   message_delta (stop_reason, stop_sequence, usage: output_tokens and the
 *   final input_tokens / cache_read_input_tokens), message_stop.
 * A request error after the stream started is an "error" event. Blocks
 * are opened lazily, so an empty answer has none.
 *
 * usage: input_tokens = prompt tokens not read from the prefix cache,
 * cache_read_input_tokens = those read from it (Anthropic's split: the sum
 * is the prompt), cache_creation_input_tokens = 0, output_tokens = the
 * generated tokens. */
#include "server/anthropic_format.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------- shared ---------- */

/* s[0..*n) ends with one of the stop sequences: cut it, return it. */
static const char *cut_stop(const anth_req *q, const char *s, size_t *n) {
    for (int32_t i = 0; i < q->n_stop; i++) {
        size_t l = strlen(q->stop[i]);
        if (l && l <= *n && !memcmp(s + *n - l, q->stop[i], l)) {
            *n -= l;
            return q->stop[i];
        }
    }
    return NULL;
}

static const char *stop_reason(int finish, int calls, const char *stop_hit) {
    if (calls) return "tool_use";
    if (finish == PG_FINISH_LENGTH || finish == PG_FINISH_TIMEOUT) return "max_tokens";
    if (stop_hit) return "stop_sequence";
    return "end_turn";
}

/* A JSON string of s[0..n), invalid UTF-8 bytes replaced by U+FFFD. */
static json_t *jstr(const char *s, size_t n) {
    if (srv_utf8_valid(s, n)) return json_stringn(s, n);
    char *b = malloc(n * 3 + 1);
    if (!b) return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        size_t k = c < 0x80 ? 1 : c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
        if (i + k <= n && srv_utf8_valid(s + i, k)) {
            memcpy(b + o, s + i, k);
            o += k;
            i += k;
        } else {
            memcpy(b + o, "\xEF\xBF\xBD", 3);
            o += 3;
            i++;
        }
    }
    json_t *j = json_stringn(b, o);
    free(b);
    return j;
}

static void usage_of(const anth_req *q, srv_req *r, int64_t *in, int64_t *cached, int64_t *out) {
    srv_usage u;
    srv_req_usage(r, &u);
    int64_t prompt = u.n_prompts ? u.prompt_tokens : q->n_prompt;
    *cached = u.cached_tokens < prompt ? u.cached_tokens : prompt;
    *in = prompt - *cached;
    *out = u.completion_tokens > 0 ? u.completion_tokens : u.generated_tokens;
}

/* ---------- whole body ---------- */

static void add_block(json_t *content, const char *type, const char *key, json_t *val) {
    json_t *b = json_object();
    json_object_set_new(b, "type", json_string(type));
    if (key) json_object_set_new(b, key, val);
    json_array_append_new(content, b);
}

/* The content blocks of the answer text t[0..n); *calls = tool_use blocks. */
static int content_of(const srv_ctx *c, anth_req *q, const char *t, size_t n, json_t *content, int *calls) {
    *calls = 0;
    if (!q->o->parse_out) {
        if (n) add_block(content, "text", "text", jstr(t, n));
        return 0;
    }
    pg_tc_result res;
    if (pg_tc_parse(&q->o->tc, t, n, q->o->tc_flags, &res) < 0) return -1;
    if (res.has_reasoning && res.reasoning_len) {
        add_block(content, "thinking", "thinking", jstr(res.reasoning, res.reasoning_len));
        json_object_set_new(json_array_get(content, json_array_size(content) - 1), "signature", json_string(""));
    }
    if (res.content_len) add_block(content, "text", "text", jstr(res.content, res.content_len));
    for (size_t i = 0; i < res.n_calls && (i == 0 || q->o->parallel_calls); i++) {
        char id[64];
        srv_make_id(c->ids, "toolu_", id, sizeof id);
        json_t *in = json_loads(res.calls[i].arguments, 0, NULL);
        if (!json_is_object(in)) {
            json_decref(in);
            in = json_object();
        }
        json_t *b = json_object();
        json_object_set_new(b, "type", json_string("tool_use"));
        json_object_set_new(b, "id", json_string(id));
        json_object_set_new(b, "name", jstr(res.calls[i].name, strlen(res.calls[i].name)));
        json_object_set_new(b, "input", in);
        json_array_append_new(content, b);
        (*calls)++;
    }
    pg_tc_result_free(&res);
    return 0;
}

int anth_body(const srv_ctx *c, anth_req *q, srv_req *r, char **out, size_t *len) {
    const char *emsg = NULL;
    int code = srv_req_error(r, &emsg);
    if (code) {
        int st = srv_status_for(code);
        *out = anth_error(st, emsg, NULL, NULL, len);
        return st;
    }
    srv_events v;
    srv_req_events(r, &v);
    size_t tl = 0;
    for (size_t i = 0; i < v.n; i++)
        if (v.ev[i].choice == 0) tl += v.ev[i].text_len;
    char *t = malloc(tl + 1);
    if (!t) {
        *out = anth_error(500, "out of memory", NULL, NULL, len);
        return 500;
    }
    size_t n = 0;
    int finish = PG_FINISH_STOP;
    for (size_t i = 0; i < v.n; i++) {
        const srv_event *e = &v.ev[i];
        if (e->choice != 0) continue;
        memcpy(t + n, v.text + e->text_off, e->text_len);
        n += e->text_len;
        if (e->token < 0) finish = e->finish;
    }
    const char *hit = finish == PG_FINISH_STOP ? cut_stop(q, t, &n) : NULL;
    json_t *content = json_array();
    int calls = 0;
    int rc = content_of(c, q, t, n, content, &calls);
    free(t);
    if (rc < 0) {
        json_decref(content);
        *out = anth_error(500, "out of memory", NULL, NULL, len);
        return 500;
    }
    int64_t in, cached, ot;
    usage_of(q, r, &in, &cached, &ot);
    json_t *o = json_object(), *u = json_object();
    json_object_set_new(o, "id", json_string(q->id));
    json_object_set_new(o, "type", json_string("message"));
    json_object_set_new(o, "role", json_string("assistant"));
    json_object_set_new(o, "content", content);
    json_object_set_new(o, "model", json_string(q->model));
    json_object_set_new(o, "stop_reason", json_string(stop_reason(finish, calls, hit)));
    json_object_set_new(o, "stop_sequence", hit && !calls ? json_string(hit) : json_null());
    json_object_set_new(u, "input_tokens", json_integer(in));
    json_object_set_new(u, "cache_creation_input_tokens", json_integer(0));
    json_object_set_new(u, "cache_read_input_tokens", json_integer(cached));
    json_object_set_new(u, "output_tokens", json_integer(ot));
    json_object_set_new(o, "usage", u);
    *out = srv_dump(o, len);
    return *out ? 200 : 500;
}

/* ---------- stream ---------- */

static void ev_head(srv_buf *b, const char *name) {
    srv_buf_puts(b, "event: ");
    srv_buf_puts(b, name);
    srv_buf_puts(b, "\ndata: {\"type\":\"");
    srv_buf_puts(b, name);
    srv_buf_putc(b, '"');
}

static void close_block(anth_req *q, srv_buf *b) {
    if (q->block == ANTH_BLOCK_NONE) return;
    ev_head(b, "content_block_stop");
    srv_buf_puts(b, ",\"index\":");
    srv_buf_int(b, q->n_blocks - 1);
    srv_buf_puts(b, "}\n\n");
    q->block = ANTH_BLOCK_NONE;
}

/* Opens a block of kind k (closing the open one); name: the tool's. */
static void open_block(const srv_ctx *c, anth_req *q, srv_buf *b, int k, const char *name, size_t nl) {
    close_block(q, b);
    ev_head(b, "content_block_start");
    srv_buf_puts(b, ",\"index\":");
    srv_buf_int(b, q->n_blocks);
    if (k == ANTH_BLOCK_TEXT) srv_buf_puts(b, ",\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n");
    else if (k == ANTH_BLOCK_THINKING)
        srv_buf_puts(b, ",\"content_block\":{\"type\":\"thinking\",\"thinking\":\"\",\"signature\":\"\"}}\n\n");
    else {
        char id[64];
        srv_make_id(c->ids, "toolu_", id, sizeof id);
        srv_buf_puts(b, ",\"content_block\":{\"type\":\"tool_use\",\"id\":");
        srv_buf_jstr(b, id, strlen(id));
        srv_buf_puts(b, ",\"name\":");
        srv_buf_jstr(b, name, nl);
        srv_buf_puts(b, ",\"input\":{}}}\n\n");
        q->n_calls++;
    }
    q->block = k;
    q->n_blocks++;
}

/* A delta of kind k into the open block of that kind (opened if needed). */
static void delta(const srv_ctx *c, anth_req *q, srv_buf *b, int k, const char *s, size_t n) {
    if (!n) return;
    if (q->block != k) open_block(c, q, b, k, NULL, 0);
    ev_head(b, "content_block_delta");
    srv_buf_puts(b, ",\"index\":");
    srv_buf_int(b, q->n_blocks - 1);
    srv_buf_puts(b, k == ANTH_BLOCK_TEXT       ? ",\"delta\":{\"type\":\"text_delta\",\"text\":"
                    : k == ANTH_BLOCK_THINKING ? ",\"delta\":{\"type\":\"thinking_delta\",\"thinking\":"
                                               : ",\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":");
    srv_buf_jstr(b, s, n);
    srv_buf_puts(b, "}}\n\n");
}

static void free_stream(void *arg) {
    anth_req *q = arg;
    pg_tc_stream_destroy(q->tcs);
    q->tcs = NULL;
}

/* A piece of the answer's text (last: its end) -> deltas. */
static void feed(const srv_ctx *c, anth_req *q, srv_req *r, srv_buf *b, const char *t, size_t n, int last) {
    if (!q->o->parse_out) {
        delta(c, q, b, ANTH_BLOCK_TEXT, t, n);
        return;
    }
    if (!q->tcs) {
        if (!(q->tcs = pg_tc_stream_create(&q->o->tc, q->o->tc_flags))) {
            b->err = -1;
            return;
        }
        srv_req_on_free(r, free_stream, q);
    }
    const pg_tc_event *ev;
    size_t nev = 0;
    if (pg_tc_stream_feed(q->tcs, t, n, last, &ev, &nev) < 0) {
        b->err = -1;
        return;
    }
    for (size_t i = 0; i < nev; i++) {
        const pg_tc_event *e = &ev[i];
        if (e->kind >= PG_TC_EV_CALL_START && !q->o->parallel_calls && e->index > 0) continue;
        if (e->kind == PG_TC_EV_CONTENT) delta(c, q, b, ANTH_BLOCK_TEXT, e->text, e->len);
        else if (e->kind == PG_TC_EV_REASONING) delta(c, q, b, ANTH_BLOCK_THINKING, e->text, e->len);
        else if (e->kind == PG_TC_EV_CALL_START) open_block(c, q, b, ANTH_BLOCK_TOOL, e->text, e->len);
        else delta(c, q, b, ANTH_BLOCK_TOOL, e->text, e->len);
    }
}

static void w_usage(srv_buf *b, int64_t in, int64_t cached, int64_t out) {
    srv_buf_puts(b, "{\"input_tokens\":");
    srv_buf_int(b, in);
    srv_buf_puts(b, ",\"cache_creation_input_tokens\":0,\"cache_read_input_tokens\":");
    srv_buf_int(b, cached);
    srv_buf_puts(b, ",\"output_tokens\":");
    srv_buf_int(b, out);
    srv_buf_putc(b, '}');
}

static void start(anth_req *q, srv_buf *b) {
    ev_head(b, "message_start");
    srv_buf_puts(b, ",\"message\":{\"id\":");
    srv_buf_jstr(b, q->id, strlen(q->id));
    srv_buf_puts(b, ",\"type\":\"message\",\"role\":\"assistant\",\"content\":[],\"model\":");
    srv_buf_jstr(b, q->model, strlen(q->model));
    srv_buf_puts(b, ",\"stop_reason\":null,\"stop_sequence\":null,\"usage\":");
    w_usage(b, q->n_prompt, 0, 0);
    srv_buf_puts(b, "}}\n\n");
    ev_head(b, "ping");
    srv_buf_puts(b, "}\n\n");
    q->started = 1;
}

int anth_stream(const srv_ctx *c, anth_req *q, srv_req *r, srv_buf *out) {
    if (q->ended) return 1;
    if (!q->started) start(q, out);
    srv_events v;
    srv_req_events(r, &v);
    int finish = 0;
    for (size_t i = 0; i < v.n; i++) {
        const srv_event *e = &v.ev[i];
        if (e->choice != 0) continue;
        const char *t = v.text + e->text_off;
        size_t n = e->text_len;
        if (e->token >= 0) q->out_tokens++;
        if (!q->stop_hit && n) q->stop_hit = cut_stop(q, t, &n);
        feed(c, q, r, out, t, n, e->token < 0);
        if (e->token < 0) finish = e->finish ? e->finish : PG_FINISH_STOP;
    }
    if (!srv_req_done(r)) return 0;
    const char *emsg = NULL;
    int code = srv_req_error(r, &emsg);
    if (code) {
        close_block(q, out);
        int st = srv_status_for(code);
        ev_head(out, "error");
        srv_buf_puts(out, ",\"error\":{\"type\":");
        const char *ty = anth_error_type(st);
        srv_buf_jstr(out, ty, strlen(ty));
        srv_buf_puts(out, ",\"message\":");
        srv_buf_jstr(out, emsg ? emsg : "", emsg ? strlen(emsg) : 0);
        srv_buf_puts(out, "}}\n\n");
        q->ended = 1;
        return 1;
    }
    if (!finish) finish = PG_FINISH_STOP; /* done without an end event of ours: cannot happen, be safe */
    close_block(q, out);
    int64_t in, cached, ot;
    usage_of(q, r, &in, &cached, &ot);
    const char *sr = stop_reason(finish, q->n_calls > 0, q->stop_hit);
    ev_head(out, "message_delta");
    srv_buf_puts(out, ",\"delta\":{\"stop_reason\":");
    srv_buf_jstr(out, sr, strlen(sr));
    srv_buf_puts(out, ",\"stop_sequence\":");
    if (q->stop_hit && !q->n_calls) srv_buf_jstr(out, q->stop_hit, strlen(q->stop_hit));
    else srv_buf_puts(out, "null");
    srv_buf_puts(out, "},\"usage\":");
    w_usage(out, in, cached, ot);
    srv_buf_puts(out, "}\n\n");
    ev_head(out, "message_stop");
    srv_buf_puts(out, "}\n\n");
    q->ended = 1;
    return 1;
}

/* ---------- the adapter ---------- */

static int ad_parse(const srv_ctx *c, const srv_caller *who, const char *body, size_t len, srv_req *r, void **state,
                    srv_fail *fail) {
    anth_req *q = NULL;
    int rc = anth_parse(c, who, body, len, r, &q, fail);
    *state = q;
    return rc;
}

static const char *ad_id(const void *state) { return state ? ((const anth_req *)state)->id : NULL; }

static int ad_body(const srv_ctx *c, void *state, srv_req *r, char **out, size_t *len) {
    return anth_body(c, state, r, out, len);
}

static int ad_stream(const srv_ctx *c, void *state, srv_req *r, srv_buf *out) { return anth_stream(c, state, r, out); }

const srv_adapter srv_anth_messages = {
    .name = "anthropic",
    .parse = ad_parse,
    .id = ad_id,
    .body = ad_body,
    .body_part = NULL, /* one choice of at most the context: written whole */
    .stream = ad_stream,
    .stream_content_type = "text/event-stream",
    .error = anth_error,
};
