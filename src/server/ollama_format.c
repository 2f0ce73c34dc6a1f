/* ollama_format.c - Ollama response objects (see ollama.h).
 *
 * Streaming: one JSON object per line (NDJSON, application/x-ndjson),
 * written straight into the connection's reused buffer with util.h's JSON
 * writer: {"model","created_at","message":{"role":"assistant","content"}
 * (chat) or "response" (generate),"done":false} per piece of text, then
 * the final object with done:true, done_reason and the durations in
 * nanoseconds. With output parsing (tools, thinking) the pieces go through
 * toolcall.h's stream parser: content and thinking pieces become lines as
 * they come, a tool call becomes one line once it is complete
 * (message.tool_calls [{function:{name, arguments: OBJECT}}]). An error
 * after the stream started is a line {"error": ...}.
 * Non-streaming: the same final object with the whole text. */
#include "server/ollama.h"

#include "base/arena.h"
#include "base/log.h"
#include "server/embed_api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void oll_now_rfc3339(char *out, size_t cap) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    snprintf(out, cap, "%04d-%02d-%02dT%02d:%02d:%02d.%09ldZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
             tm.tm_hour, tm.tm_min, tm.tm_sec, (long)ts.tv_nsec);
}

static const char *done_reason(int f) {
    switch (f) {
    case PG_FINISH_LENGTH:
    case PG_FINISH_TIMEOUT: return "length";
    case PG_FINISH_CANCELLED: return "abort";
    default: return "stop";
    }
}

/* `{"model":M,"created_at":"T",` */
static void head(srv_buf *b, const oll_req *o) {
    char ts[48];
    oll_now_rfc3339(ts, sizeof ts);
    srv_buf_puts(b, "{\"model\":");
    srv_buf_jstr(b, o->model, strlen(o->model));
    srv_buf_puts(b, ",\"created_at\":\"");
    srv_buf_puts(b, ts);
    srv_buf_puts(b, "\",");
}

/* The message / response members of a line or body: content, thinking
 * (when given), calls_json (a JSON array text, or NULL). */
static void members(srv_buf *b, const oll_req *o, const char *t, size_t tl, const char *th, size_t thl,
                    const char *calls_json, size_t cl) {
    if (o->kind == OLL_CHAT) {
        srv_buf_puts(b, "\"message\":{\"role\":\"assistant\",\"content\":");
        srv_buf_jstr(b, t, tl);
        if (th) {
            srv_buf_puts(b, ",\"thinking\":");
            srv_buf_jstr(b, th, thl);
        }
        if (calls_json) {
            srv_buf_puts(b, ",\"tool_calls\":");
            srv_buf_put(b, calls_json, cl);
        }
        srv_buf_putc(b, '}');
    } else {
        srv_buf_puts(b, "\"response\":");
        srv_buf_jstr(b, t, tl);
        if (th) {
            srv_buf_puts(b, ",\"thinking\":");
            srv_buf_jstr(b, th, thl);
        }
    }
}

static void line(srv_buf *b, const oll_req *o, const char *t, size_t tl, const char *th, size_t thl,
                 const char *calls_json, size_t cl) {
    head(b, o);
    members(b, o, t, tl, th, thl, calls_json, cl);
    srv_buf_puts(b, ",\"done\":false}\n");
}

/* `,"done":true,"done_reason":..,"total_duration":..,...}` */
static void final_fields(srv_buf *b, const oll_req *o, srv_req *r) {
    srv_usage u;
    srv_req_usage(r, &u);
    const char *dr = done_reason(o->finish);
    srv_buf_puts(b, ",\"done\":true,\"done_reason\":");
    srv_buf_jstr(b, dr, strlen(dr));
    srv_buf_puts(b, ",\"total_duration\":");
    srv_buf_int(b, (long long)((srv_now() - o->t0) * 1e9));
    srv_buf_puts(b, ",\"load_duration\":0,\"prompt_eval_count\":");
    srv_buf_int(b, u.prompt_tokens);
    srv_buf_puts(b, ",\"prompt_eval_duration\":");
    srv_buf_int(b, u.has_first ? (long long)(u.prefill_s * 1e9) : 0);
    srv_buf_puts(b, ",\"eval_count\":");
    srv_buf_int(b, u.completion_tokens);
    srv_buf_puts(b, ",\"eval_duration\":");
    srv_buf_int(b, u.has_first ? (long long)(u.decode_s * 1e9) : 0);
    srv_buf_puts(b, "}\n");
}

static const char *req_error(srv_req *r, int *status) {
    const char *msg = NULL;
    int code = srv_req_error(r, &msg);
    *status = code ? srv_status_for(code) : 200;
    return msg ? msg : "the request failed";
}

/* [{"function":{"name":N,"arguments":ARGS}}] with ARGS a JSON object text */
static void call_json(srv_buf *b, const char *name, size_t nl, const char *args, size_t al) {
    srv_buf_puts(b, "{\"function\":{\"name\":");
    srv_buf_jstr(b, name, nl);
    srv_buf_puts(b, ",\"arguments\":");
    if (al) srv_buf_put(b, args, al);
    else srv_buf_puts(b, "{}");
    srv_buf_puts(b, "}}");
}

/* ---------- streaming ---------- */

static void free_state(void *arg) {
    oll_req *o = arg;
    pg_tc_stream_destroy(o->tcs);
    free(o->call_name);
    srv_buf_free(&o->call_args);
}

/* The announced call, complete: one line. */
static void flush_call(srv_buf *b, oll_req *o) {
    if (!o->call_name) return;
    srv_buf c = {0};
    srv_buf_putc(&c, '[');
    call_json(&c, o->call_name, strlen(o->call_name), o->call_args.p, o->call_args.len);
    srv_buf_putc(&c, ']');
    line(b, o, "", 0, NULL, 0, c.p, c.len);
    if (c.err) b->err = -1;
    srv_buf_free(&c);
    free(o->call_name);
    o->call_name = NULL;
    o->call_args.len = 0;
    o->n_calls++;
}

static void parsed_lines(srv_buf *b, oll_req *o, srv_req *r, const char *t, size_t tl, int last) {
    if (!o->tcs) {
        if (!(o->tcs = pg_tc_stream_create(&o->tc, o->tc_flags))) {
            b->err = -1;
            return;
        }
    }
    const pg_tc_event *ev;
    size_t nev = 0;
    if (pg_tc_stream_feed(o->tcs, t, tl, last, &ev, &nev) < 0) {
        b->err = -1;
        return;
    }
    (void)r;
    for (size_t i = 0; i < nev; i++) {
        const pg_tc_event *e = &ev[i];
        if (e->kind != PG_TC_EV_CALL_ARGS) flush_call(b, o);
        switch (e->kind) {
        case PG_TC_EV_CONTENT: line(b, o, e->text, e->len, NULL, 0, NULL, 0); break;
        case PG_TC_EV_REASONING: line(b, o, "", 0, e->text, e->len, NULL, 0); break;
        case PG_TC_EV_CALL_START:
            free(o->call_name);
            if (!(o->call_name = strndup(e->text, e->len))) b->err = -1;
            o->call_args.len = 0;
            break;
        case PG_TC_EV_CALL_ARGS: srv_buf_put(&o->call_args, e->text, e->len); break;
        }
    }
    flush_call(b, o); /* a call's arguments come whole after its start */
}

int oll_stream(const srv_ctx *c, oll_req *o, srv_req *r, srv_buf *b) {
    (void)c;
    if (o->ended) return 1;
    srv_events v;
    srv_req_events(r, &v);
    if (o->parse_out && !o->hooked) {
        srv_req_on_free(r, free_state, o);
        o->hooked = 1;
    }
    for (size_t i = 0; i < v.n; i++) {
        const srv_event *x = &v.ev[i];
        const char *t = v.text + x->text_off;
        if (x->token < 0) o->finish = x->finish;
        if (o->parse_out) parsed_lines(b, o, r, t, x->text_len, x->token < 0);
        else if (x->text_len) line(b, o, t, x->text_len, NULL, 0, NULL, 0);
    }
    if (!srv_req_done(r)) return 0;
    int st;
    if (srv_req_error(r, NULL)) {
        const char *m = req_error(r, &st);
        srv_buf_puts(b, "{\"error\":");
        srv_buf_jstr(b, m, strlen(m));
        srv_buf_puts(b, "}\n");
    } else {
        head(b, o);
        members(b, o, "", 0, NULL, 0, NULL, 0);
        final_fields(b, o, r);
    }
    o->ended = 1;
    return 1;
}

/* ---------- whole body ---------- */

int oll_body(const srv_ctx *c, oll_req *o, srv_req *r, char **out, size_t *len) {
    (void)c;
    int status;
    if (srv_req_error(r, NULL)) {
        const char *m = req_error(r, &status);
        if (status >= 500 && status != 503 && status != 504) PG_ERROR("request %s failed: %s", o->id, m);
        *out = oll_error_body(m, len);
        return status;
    }
    srv_events v;
    srv_req_events(r, &v);
    srv_buf t = {0}, b = {0};
    for (size_t i = 0; i < v.n; i++) {
        srv_buf_put(&t, v.text + v.ev[i].text_off, v.ev[i].text_len);
        if (v.ev[i].token < 0) o->finish = v.ev[i].finish;
    }
    head(&b, o);
    pg_tc_result pr;
    if (o->parse_out && !t.err && pg_tc_parse(&o->tc, t.p ? t.p : "", t.len, o->tc_flags, &pr) == 0) {
        srv_buf calls = {0};
        srv_buf_putc(&calls, '[');
        for (size_t i = 0; i < pr.n_calls; i++) {
            if (i) srv_buf_putc(&calls, ',');
            call_json(&calls, pr.calls[i].name, strlen(pr.calls[i].name), pr.calls[i].arguments,
                      strlen(pr.calls[i].arguments));
        }
        srv_buf_putc(&calls, ']');
        members(&b, o, pr.content, pr.content_len, pr.has_reasoning ? pr.reasoning : NULL, pr.reasoning_len,
                pr.n_calls ? calls.p : NULL, calls.len);
        if (calls.err) b.err = -1;
        srv_buf_free(&calls);
        pg_tc_result_free(&pr);
    } else {
        members(&b, o, t.p ? t.p : "", t.len, NULL, 0, NULL, 0);
    }
    final_fields(&b, o, r);
    int err = t.err || b.err;
    srv_buf_free(&t);
    if (err) {
        srv_buf_free(&b);
        *out = oll_error_body("out of memory", len);
        return 500;
    }
    if (b.len) b.len--; /* no newline after a single object */
    *out = b.p;
    *len = b.len;
    return 200;
}

/* ---------- the adapters ---------- */

static int parse_chat(const srv_ctx *c, const srv_caller *who, const char *body, size_t len, srv_req *r, void **state,
                      srv_fail *fail) {
    oll_req *o = NULL;
    int st = oll_parse(c, who, OLL_CHAT, body, len, r, &o, fail);
    *state = o;
    return st;
}

static int parse_generate(const srv_ctx *c, const srv_caller *who, const char *body, size_t len, srv_req *r,
                          void **state, srv_fail *fail) {
    oll_req *o = NULL;
    int st = oll_parse(c, who, OLL_GENERATE, body, len, r, &o, fail);
    *state = o;
    return st;
}

static const char *state_id(const void *state) { return state ? ((const oll_req *)state)->id : NULL; }

static int body_fn(const srv_ctx *c, void *state, srv_req *r, char **out, size_t *len) {
    return oll_body(c, state, r, out, len);
}

static int stream_fn(const srv_ctx *c, void *state, srv_req *r, srv_buf *out) { return oll_stream(c, state, r, out); }

const srv_adapter srv_oll_chat = {
    .name = "ollama.chat",
    .parse = parse_chat,
    .id = state_id,
    .body = body_fn,
    .stream = stream_fn,
    .stream_content_type = "application/x-ndjson",
    .error = oll_error,
};

const srv_adapter srv_oll_generate = {
    .name = "ollama.generate",
    .parse = parse_generate,
    .id = state_id,
    .body = body_fn,
    .stream = stream_fn,
    .stream_content_type = "application/x-ndjson",
    .error = oll_error,
};

static const char *no_id(const void *state) {
    (void)state;
    return NULL;
}

const srv_adapter srv_oll_api = {
    .name = "ollama.api",
    .id = no_id, /* the request log asks every route's adapter */
    .error = oll_error,
};

/* /api/embed and /api/embeddings: the embedding queue's Ollama kinds
 * (embed_api.h); only the error shape and the kind are used. */
const srv_adapter srv_oll_embed = {.name = "ollama.embed", .id = no_id, .error = oll_error, .ejob_kind = SRV_EJ_OLL_EMBED};
const srv_adapter srv_oll_embeddings = {
    .name = "ollama.embeddings", .id = no_id, .error = oll_error, .ejob_kind = SRV_EJ_OLL_EMBEDDINGS};
