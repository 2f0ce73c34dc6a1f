/* test_responses.c - the Responses API adapter without a socket or an
 * engine: bodies -> the request core's spec (the prompt the chat template
 * renders from input items, instructions and a stored history; sampling and
 * max_output_tokens), bad bodies -> status and the Responses field in
 * "param", and scripted engine events (fake engine, real request core) ->
 * the SSE events (order, sequence numbers, item ids) and the whole body,
 * which must agree; a forced call through the generic tool-call format;
 * the store (what GET returns, the history a later request prepends,
 * owners). The vocabulary is the built-in demo model's, the template the
 * ChatML fallback. */
#include "test.h"

#include "model/demo.h"
#include "server/responses.h"

#include <jansson.h>

/* ---------- a fake engine ---------- */

#define FAKE_MAXQ 4
#include "fake_engine.h"
static srv_ctx C;
static srv_idgen IDS;

static void ev_text(int32_t tok, const char *text) {
    pg_engine_event e = {.type = PG_EV_TOKEN, .index = 0, .token = tok, .text = text, .text_len = strlen(text)};
    F.q[0].cb(&e, F.q[0].user);
}
static void ev_end(int finish) {
    pg_engine_usage u = {.completion_tokens = 3, .cached_tokens = 1};
    pg_engine_event e = {.type = PG_EV_DONE, .index = 0, .finish_reason = finish, .text = "", .usage = &u, .last = 1};
    F.q[0].cb(&e, F.q[0].user);
}

typedef struct parsed {
    srv_req *r;
    resp_req *q;
    srv_gen *g;
    int status;
    json_t *errdoc;
} parsed;

static parsed parse_as(const char *body, uint64_t key) {
    parsed p = {0};
    F.n_sub = 0;
    p.r = srv_req_create(&CORE);
    REQUIRE(p.r != NULL);
    srv_caller who = {key != 0, key};
    srv_fail f;
    p.status = rsp_parse(&C, &who, body, strlen(body), p.r, &p.q, &f);
    p.g = srv_req_gen(p.r);
    if (p.status) {
        p.errdoc = json_loads(f.body, 0, NULL);
        REQUIRE(p.errdoc != NULL);
        free(f.body);
    }
    return p;
}
static parsed parse(const char *body) { return parse_as(body, 0); }

static void done(parsed *p) {
    json_decref(p->errdoc);
    srv_req_unref(p->r);
}

static const char *err_param(const parsed *p) {
    json_t *x = json_object_get(json_object_get(p->errdoc, "error"), "param");
    return json_is_string(x) ? json_string_value(x) : "(null)";
}

/* the prompt ids equal the template's render of text */
static int prompt_is(const parsed *p, const char *text) {
    int32_t ids[512];
    pg_error e = {0};
    int64_t n = pg_tokenize(C.vocab, text, strlen(text), 1, 1, ids, 512, &e);
    REQUIRE(n > 0);
    return p->g->n_prompts == 1 && p->g->prompts[0].n == n && !memcmp(p->g->prompts[0].ids, ids, (size_t)n * sizeof *ids);
}

static void test_parse(void) {
    parsed p = parse("{\"model\":\"demo\",\"input\":\"hi\",\"instructions\":\"Be brief.\",\"max_output_tokens\":7,"
                     "\"temperature\":0.5,\"top_p\":0.75,\"seed\":9,\"metadata\":{\"k\":\"v\"}}");
    REQUIRE(p.status == 0);
    CHECK(prompt_is(&p, "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"));
    CHECK(p.g->prompts[0].max_tokens == 7 && p.g->base.n == 1 && !p.g->stream);
    CHECK(p.g->base.sampling.temperature == 0.5f && p.g->base.sampling.top_p == 0.75f);
    CHECK(p.g->base.sampling.has_seed && p.g->base.sampling.seed == 9);
    CHECK(!strncmp(p.q->id, "resp_", 5) && strlen(p.q->id) == 29 && p.q->store && !p.q->stream);
    CHECK(!strcmp(json_string_value(json_object_get(json_object_get(p.q->echo, "metadata"), "k")), "v"));
    CHECK(json_real_value(json_object_get(p.q->echo, "temperature")) == 0.5);
    done(&p);
    /* items: parts joined, an assistant turn, a call and its output */
    p = parse("{\"input\":[{\"role\":\"user\",\"content\":[{\"type\":\"input_text\",\"text\":\"a\"},"
              "{\"type\":\"input_text\",\"text\":\"b\"}]},{\"type\":\"message\",\"role\":\"assistant\",\"content\":"
              "[{\"type\":\"output_text\",\"text\":\"c\"}]},{\"role\":\"developer\",\"content\":\"d\"}],\"stream\":true,"
              "\"store\":false}");
    REQUIRE(p.status == 0);
    CHECK(prompt_is(&p, "<|im_start|>user\na\nb<|im_end|>\n<|im_start|>assistant\nc<|im_end|>\n<|im_start|>developer\nd"
                        "<|im_end|>\n<|im_start|>assistant\n"));
    CHECK(p.g->stream && p.q->stream && !p.q->store);
    CHECK(p.g->prompts[0].max_tokens == C.n_ctx - p.g->prompts[0].n); /* default: the rest of the context */
    done(&p);
    p = parse("{\"input\":[{\"role\":\"user\",\"content\":\"w?\"},{\"type\":\"function_call\",\"call_id\":\"c1\","
              "\"name\":\"f\",\"arguments\":\"{\\\"x\\\":1}\"},{\"type\":\"function_call_output\",\"call_id\":\"c1\","
              "\"output\":\"sunny\"},{\"type\":\"reasoning\",\"summary\":[]}],\"tools\":[{\"type\":\"function\","
              "\"name\":\"f\",\"parameters\":{\"type\":\"object\"}}]}");
    CHECK(p.status == 0);
    CHECK(p.q->oai && p.q->oai->n_tools == 1 && p.q->oai->tool_mode == OAI_TOOLS_AUTO);
    done(&p);
    p = parse("{\"input\":\"x\",\"text\":{\"format\":{\"type\":\"json_schema\",\"name\":\"n\",\"schema\":"
              "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\"}}}}}}");
    CHECK(p.status == 0 && p.g->base.grammar != NULL);
    done(&p);
    p = parse("{\"input\":\"x\",\"text\":{\"format\":{\"type\":\"text\"}},\"include\":[],\"truncation\":\"disabled\","
              "\"reasoning\":{\"effort\":\"low\"},\"background\":false,\"top_logprobs\":0}");
    CHECK(p.status == 0 && p.g->base.grammar == NULL);
    done(&p);
    p = parse("{\"input\":\"x\",\"tool_choice\":\"auto\",\"tools\":[]}"); /* the default, without tools */
    CHECK(p.status == 0 && p.q->oai->tool_mode == OAI_TOOLS_OFF && !p.q->oai->parse_out);
    done(&p);
}

static void test_errors(void) {
    static const struct {
        const char *body;
        int status;
        const char *param;
    } cases[] = {
        {"{bad", 400, "(null)"},
        {"[]", 400, "(null)"},
        {"{}", 400, "input"},
        {"{\"input\":[]}", 400, "input"},
        {"{\"input\":3}", 400, "input"},
        {"{\"input\":\"x\",\"model\":\"other\"}", 404, "model"},
        {"{\"input\":\"x\",\"bogus\":1}", 400, "bogus"},
        {"{\"input\":\"x\",\"background\":true}", 400, "background"},
        {"{\"input\":\"x\",\"conversation\":\"c\"}", 400, "conversation"},
        {"{\"input\":\"x\",\"top_logprobs\":2}", 400, "top_logprobs"},
        {"{\"input\":\"x\",\"truncation\":\"x\"}", 400, "truncation"},
        {"{\"input\":\"x\",\"max_output_tokens\":0}", 400, "max_output_tokens"},
        {"{\"input\":\"x\",\"max_output_tokens\":100000}", 400, "input"},
        {"{\"input\":\"x\",\"temperature\":3}", 400, "temperature"},
        {"{\"input\":\"x\",\"store\":1}", 400, "store"},
        {"{\"input\":\"x\",\"stream\":\"y\"}", 400, "stream"},
        {"{\"input\":\"x\",\"instructions\":1}", 400, "instructions"},
        {"{\"input\":\"x\",\"user\":1}", 400, "user"},
        {"{\"input\":\"x\",\"metadata\":{\"a\":1}}", 400, "metadata"},
        {"{\"input\":\"x\",\"previous_response_id\":3}", 400, "previous_response_id"},
        {"{\"input\":\"x\",\"previous_response_id\":\"resp_none\"}", 404, "previous_response_id"},
        {"{\"input\":[1]}", 400, "input[0]"},
        {"{\"input\":[{\"role\":\"king\",\"content\":\"x\"}]}", 400, "input[0]"},
        {"{\"input\":[{\"role\":\"user\"}]}", 400, "input[0].content"},
        {"{\"input\":[{\"role\":\"user\",\"content\":[{\"type\":\"input_image\",\"image_url\":\"u\"}]}]}", 400, "input[0].content"},
        {"{\"input\":[{\"type\":\"item_reference\",\"id\":\"x\"}]}", 400, "input[0]"},
        {"{\"input\":[{\"type\":\"function_call\",\"name\":\"f\",\"arguments\":\"{}\"}]}", 400, "input[0].call_id"},
        {"{\"input\":[{\"type\":\"function_call\",\"call_id\":\"c\",\"name\":\"f\",\"arguments\":\"{x\"}]}", 400, "input[0].arguments"},
        {"{\"input\":[{\"type\":\"function_call_output\",\"call_id\":\"c\",\"output\":\"o\"}]}", 400, "input[0].call_id"},
        {"{\"input\":\"x\",\"tools\":{}}", 400, "tools"},
        {"{\"input\":\"x\",\"tools\":[{\"type\":\"web_search\"}]}", 400, "tools[0].type"},
        {"{\"input\":\"x\",\"tools\":[{\"type\":\"function\",\"name\":\"f\",\"function\":{}}]}", 400, "tools[0].function"},
        {"{\"input\":\"x\",\"tools\":[{\"type\":\"function\",\"name\":\"f g\"}]}", 400, "tools[0]"},
        {"{\"input\":\"x\",\"tools\":[{\"type\":\"function\",\"name\":\"f\",\"parameters\":{\"type\":\"nope\"}}]}", 400,
         "tools[0].parameters"},
        {"{\"input\":\"x\",\"tool_choice\":\"required\"}", 400, "tool_choice"},
        {"{\"input\":\"x\",\"tool_choice\":{\"type\":\"file_search\"}}", 400, "tool_choice"},
        {"{\"input\":\"x\",\"tools\":[{\"type\":\"function\",\"name\":\"f\"}],\"tool_choice\":{\"type\":\"function\","
         "\"name\":\"g\"}}", 400, "tool_choice"},
        {"{\"input\":\"x\",\"text\":1}", 400, "text"},
        {"{\"input\":\"x\",\"text\":{\"format\":{\"type\":\"xml\"}}}", 400, "text.format.type"},
        {"{\"input\":\"x\",\"text\":{\"format\":{\"type\":\"json_schema\",\"name\":\"n\"}}}", 400, "text.format.schema"},
        {"{\"input\":\"x\",\"text\":{\"format\":{\"type\":\"json_schema\",\"name\":\"n\",\"schema\":{\"type\":\"nope\"}}}}",
         400, "text.format.schema"},
        {"{\"input\":\"x\",\"text\":{\"format\":{\"type\":\"json_schema\",\"schema\":{},\"x\":1}}}", 400, "text.format"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        parsed p = parse(cases[i].body);
        CHECKF(p.status == cases[i].status, "%s: status %d", cases[i].body, p.status);
        CHECKF(p.status == 0 || !strcmp(err_param(&p), cases[i].param), "%s: param %s (want %s)", cases[i].body,
               err_param(&p), cases[i].param);
        json_t *e = json_object_get(p.errdoc, "error");
        CHECKF(p.status == 0 || (json_is_string(json_object_get(e, "message")) && json_is_string(json_object_get(e, "type"))),
               "%s: error shape", cases[i].body);
        done(&p);
    }
}

/* ---------- the response side ---------- */

/* SSE text -> a JSON array of the events' data; checks the event: lines
 * and that sequence numbers run 0, 1, 2, ... */
static json_t *sse_events(const char *s, size_t n) {
    json_t *a = json_array();
    const char *p = s, *end = s + n;
    long long want = 0;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        REQUIRE(nl && !strncmp(p, "event: ", 7));
        char type[96];
        snprintf(type, sizeof type, "%.*s", (int)(nl - p - 7), p + 7);
        p = nl + 1;
        REQUIRE(!strncmp(p, "data: ", 6));
        const char *de = strstr(p, "\n\n");
        REQUIRE(de);
        json_t *d = json_loadb(p + 6, (size_t)(de - p - 6), 0, NULL);
        REQUIRE(d);
        CHECKF(!strcmp(json_string_value(json_object_get(d, "type")), type), "event %s has type %s", type,
               json_string_value(json_object_get(d, "type")));
        CHECKF(json_integer_value(json_object_get(d, "sequence_number")) == want, "%s: sequence_number", type);
        want++;
        json_array_append_new(a, d);
        p = de + 2;
    }
    return a;
}

static const char *ev_type(json_t *a, size_t i) { return json_string_value(json_object_get(json_array_get(a, i), "type")); }

static void inv(const parsed *p) {
    char m[200];
    int rc = rsp_check(p->q, m, sizeof m);
    CHECKF(rc == 0, "%s", m);
}

static char *stream_part(parsed *p, srv_buf *b, int want_end) {
    srv_req_lock(p->r);
    int end = srv_resp_adapter.stream(&C, p->q, p->r, b);
    srv_req_consume(p->r);
    srv_req_unlock(p->r);
    CHECK(end == want_end);
    inv(p);
    return b->p;
}

static void test_stream_and_body(void) {
    const char *body = "{\"input\":\"q\",\"max_output_tokens\":3,\"seed\":1%s}";
    char bs[128];
    snprintf(bs, sizeof bs, body, ",\"stream\":true");
    parsed p = parse(bs);
    REQUIRE(p.status == 0);
    pg_error e = {0};
    REQUIRE(srv_req_submit(p.r, &e) == 0);
    srv_buf b = {0};
    stream_part(&p, &b, 0);
    ev_text(5, "He");
    ev_text(6, "llo \"x\"");
    stream_part(&p, &b, 0);
    ev_text(7, "!");
    ev_end(PG_FINISH_LENGTH);
    stream_part(&p, &b, 1);
    json_t *a = sse_events(b.p, b.len);
    static const char *want[] = {"response.created", "response.in_progress", "response.output_item.added",
                                 "response.content_part.added", "response.output_text.delta",
                                 "response.output_text.delta", "response.output_text.delta", "response.output_text.done",
                                 "response.content_part.done", "response.output_item.done", "response.incomplete"};
    CHECKF(json_array_size(a) == sizeof want / sizeof want[0], "%zu events", json_array_size(a));
    for (size_t i = 0; i < sizeof want / sizeof want[0] && i < json_array_size(a); i++)
        CHECKF(!strcmp(ev_type(a, i), want[i]), "event %zu: %s, want %s", i, ev_type(a, i), want[i]);
    json_t *last = json_object_get(json_array_get(a, json_array_size(a) - 1), "response");
    CHECK(!strcmp(json_string_value(json_object_get(last, "status")), "incomplete"));
    CHECK(!strcmp(json_string_value(json_object_get(json_object_get(last, "incomplete_details"), "reason")),
                  "max_output_tokens"));
    json_t *item = json_array_get(json_object_get(last, "output"), 0);
    const char *text = json_string_value(json_object_get(json_array_get(json_object_get(item, "content"), 0), "text"));
    CHECK(text && !strcmp(text, "Hello \"x\"!"));
    CHECK(!strcmp(json_string_value(json_object_get(json_array_get(a, 4), "item_id")),
                  json_string_value(json_object_get(item, "id"))));
    CHECK(json_integer_value(json_object_get(json_object_get(last, "usage"), "output_tokens")) == 3);
    CHECK(!strcmp(json_string_value(json_object_get(json_array_get(a, 7), "text")), "Hello \"x\"!"));
    /* stored: GET gives the final object */
    char *got;
    size_t gl;
    REQUIRE(srv_rstore_get(C.responses, p.q->id, 0, SRV_RSTORE_RESPONSE, &got, &gl, srv_now()) == 0);
    json_t *g = json_loadb(got, gl, 0, NULL);
    CHECK(json_equal(g, last));
    json_decref(g);
    free(got);
    char *out = NULL;
    CHECK(rsp_endpoint(&C, 0, 0, p.q->id, &out) == 200);
    free(out);
    CHECK(rsp_endpoint(&C, 0, 77, p.q->id, &out) == 404); /* another key */
    free(out);
    /* the history: the user turn and the answer */
    REQUIRE(srv_rstore_get(C.responses, p.q->id, 0, SRV_RSTORE_HISTORY, &got, &gl, srv_now()) == 0);
    CHECK(!strcmp(got, "[{\"role\":\"user\",\"content\":\"q\"},{\"role\":\"assistant\",\"content\":\"Hello \\\"x\\\"!\"}]"));
    free(got);
    char prev[256];
    snprintf(prev, sizeof prev, "{\"input\":\"more\",\"previous_response_id\":\"%s\"}", p.q->id);
    /* the whole body of the same events */
    snprintf(bs, sizeof bs, body, "");
    parsed w = parse(bs);
    REQUIRE(w.status == 0);
    REQUIRE(srv_req_submit(w.r, &e) == 0);
    ev_text(5, "He");
    ev_text(6, "llo \"x\"");
    ev_text(7, "!");
    ev_end(PG_FINISH_LENGTH);
    srv_req_lock(w.r);
    char *wb;
    size_t wl;
    CHECK(srv_resp_adapter.body(&C, w.q, w.r, &wb, &wl) == 200);
    srv_req_unlock(w.r);
    inv(&w);
    json_t *wj = json_loadb(wb, wl, 0, NULL);
    REQUIRE(wj);
    json_t *wo = json_object_get(wj, "output"), *so = json_object_get(last, "output");
    CHECK(json_array_size(wo) == 1);
    CHECK(!strcmp(json_string_value(json_object_get(json_array_get(json_object_get(json_array_get(wo, 0), "content"), 0), "text")),
                  text));
    CHECK(json_equal(json_object_get(wj, "usage"), json_object_get(last, "usage")));
    CHECK(json_array_size(so) == 1);
    json_decref(wj);
    free(wb);
    done(&w);
    json_decref(a);
    srv_buf_free(&b);
    done(&p);
    /* previous_response_id: history + new input; another key cannot */
    parsed n = parse(prev);
    REQUIRE(n.status == 0);
    CHECK(prompt_is(&n, "<|im_start|>user\nq<|im_end|>\n<|im_start|>assistant\nHello \"x\"!<|im_end|>\n"
                        "<|im_start|>user\nmore<|im_end|>\n<|im_start|>assistant\n"));
    done(&n);
    n = parse_as(prev, 77);
    CHECK(n.status == 404 && !strcmp(err_param(&n), "previous_response_id"));
    done(&n);
}

static void test_call(void) {
    /* generic format (ChatML fallback): a named call is {"tool_calls":[...]} */
    parsed p = parse("{\"input\":\"w\",\"stream\":true,\"tools\":[{\"type\":\"function\",\"name\":\"f\",\"parameters\":"
                     "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\"}}}}],\"tool_choice\":{\"type\":"
                     "\"function\",\"name\":\"f\"}}");
    REQUIRE(p.status == 0);
    CHECK(p.g->base.grammar != NULL && p.q->oai->parse_out);
    pg_error e = {0};
    REQUIRE(srv_req_submit(p.r, &e) == 0);
    srv_buf b = {0};
    ev_text(5, "{\"tool_calls\": [{\"name\": \"f\", ");
    ev_text(6, "\"arguments\": {\"a\": 1}}]}");
    ev_end(PG_FINISH_STOP);
    stream_part(&p, &b, 1);
    json_t *a = sse_events(b.p, b.len);
    json_t *last = json_object_get(json_array_get(a, json_array_size(a) - 1), "response");
    CHECK(!strcmp(ev_type(a, json_array_size(a) - 1), "response.completed"));
    json_t *out = json_object_get(last, "output");
    REQUIRE(json_array_size(out) == 1);
    json_t *fc = json_array_get(out, 0);
    CHECK(!strcmp(json_string_value(json_object_get(fc, "type")), "function_call"));
    CHECK(!strcmp(json_string_value(json_object_get(fc, "name")), "f"));
    CHECK(!strcmp(json_string_value(json_object_get(fc, "arguments")), "{\"a\":1}"));
    CHECK(!strncmp(json_string_value(json_object_get(fc, "call_id")), "call_", 5));
    CHECK(!strncmp(json_string_value(json_object_get(fc, "id")), "fc_", 3));
    int n_added = 0, n_delta = 0, n_done = 0;
    for (size_t i = 0; i < json_array_size(a); i++) {
        n_added += !strcmp(ev_type(a, i), "response.output_item.added");
        n_delta += !strcmp(ev_type(a, i), "response.function_call_arguments.delta");
        if (!strcmp(ev_type(a, i), "response.function_call_arguments.done")) {
            n_done++;
            CHECK(!strcmp(json_string_value(json_object_get(json_array_get(a, i), "arguments")), "{\"a\":1}"));
        }
    }
    CHECK(n_added == 1 && n_delta >= 1 && n_done == 1);
    /* the history carries the call, so its output can follow */
    char *h;
    size_t hl;
    REQUIRE(srv_rstore_get(C.responses, p.q->id, 0, SRV_RSTORE_HISTORY, &h, &hl, srv_now()) == 0);
    CHECK(strstr(h, "\"tool_calls\":[{\"id\":\"call_") != NULL);
    free(h);
    char next[512];
    snprintf(next, sizeof next, "{\"input\":[{\"type\":\"function_call_output\",\"call_id\":\"%s\",\"output\":\"3\"}],"
                                "\"previous_response_id\":\"%s\"}",
             json_string_value(json_object_get(fc, "call_id")), p.q->id);
    json_decref(a);
    srv_buf_free(&b);
    done(&p);
    parsed n = parse(next);
    CHECK(n.status == 0);
    done(&n);
    /* DELETE, then it is gone for GET and previous_response_id */
    const char *id = strstr(next, "resp_");
    char rid[64];
    snprintf(rid, sizeof rid, "%.29s", id);
    char *o = NULL;
    CHECK(rsp_endpoint(&C, 1, 0, rid, &o) == 200 && strstr(o, "\"deleted\":true"));
    free(o);
    CHECK(rsp_endpoint(&C, 1, 0, rid, &o) == 404 && strstr(o, "response_not_found"));
    free(o);
    n = parse(next);
    CHECK(n.status == 404);
    done(&n);
}

static void test_failed(void) {
    parsed p = parse("{\"input\":\"q\",\"stream\":true}");
    REQUIRE(p.status == 0);
    pg_error e = {0};
    REQUIRE(srv_req_submit(p.r, &e) == 0);
    pg_engine_usage none = {.total_s = 1.5};
    pg_engine_event ev = {.type = PG_EV_DONE, .index = 0, .finish_reason = PG_FINISH_TIMEOUT, .text = "", .usage = &none, .last = 1};
    F.q[0].cb(&ev, F.q[0].user);
    srv_buf b = {0};
    stream_part(&p, &b, 1);
    json_t *a = sse_events(b.p, b.len);
    CHECK(!strcmp(ev_type(a, json_array_size(a) - 1), "response.failed"));
    json_t *r = json_object_get(json_array_get(a, json_array_size(a) - 1), "response");
    CHECK(!strcmp(json_string_value(json_object_get(json_object_get(r, "error"), "code")), "timeout"));
    char *o = NULL;
    CHECK(rsp_endpoint(&C, 0, 0, p.q->id, &o) == 404); /* a failed response is not stored */
    free(o);
    json_decref(a);
    srv_buf_free(&b);
    done(&p);
}

/* a template that marks reasoning: a reasoning item, then the message */
static void test_reasoning(void) {
    pg_tc_style keep = C.tc;
    pg_tc_style_of(PG_TC_DEEPSEEK_R1, &C.tc);
    for (int stream = 0; stream < 2; stream++) {
        parsed p = parse(stream ? "{\"input\":\"q\",\"stream\":true}" : "{\"input\":\"q\"}");
        REQUIRE(p.status == 0 && p.q->oai->parse_out);
        pg_error e = {0};
        REQUIRE(srv_req_submit(p.r, &e) == 0);
        ev_text(5, "Hmm, ");
        ev_text(6, "four.</think>\n\n");
        ev_text(7, "Four.");
        ev_end(PG_FINISH_STOP);
        srv_buf b = {0};
        json_t *r = NULL, *a = NULL;
        if (stream) {
            stream_part(&p, &b, 1);
            a = sse_events(b.p, b.len);
            r = json_incref(json_object_get(json_array_get(a, json_array_size(a) - 1), "response"));
            int rd = 0;
            for (size_t i = 0; i < json_array_size(a); i++) rd += !strcmp(ev_type(a, i), "response.reasoning_text.delta");
            CHECK(rd >= 1);
        } else {
            char *wb;
            size_t wl;
            srv_req_lock(p.r);
            CHECK(srv_resp_adapter.body(&C, p.q, p.r, &wb, &wl) == 200);
            srv_req_unlock(p.r);
            inv(&p);
            r = json_loadb(wb, wl, 0, NULL);
            free(wb);
        }
        /* "Hmm, " and "four.</think>" gave reasoning; "Four." did not */
        CHECK(json_integer_value(json_object_get(json_object_get(json_object_get(r, "usage"), "output_tokens_details"),
                                                 "reasoning_tokens")) == 2);
        json_t *out = json_object_get(r, "output");
        CHECKF(json_array_size(out) == 2, "stream %d: %zu items", stream, json_array_size(out));
        json_t *rs = json_array_get(out, 0), *msg = json_array_get(out, 1);
        CHECK(!strcmp(json_string_value(json_object_get(rs, "type")), "reasoning"));
        CHECK(!strcmp(json_string_value(json_object_get(json_array_get(json_object_get(rs, "content"), 0), "text")),
                      "Hmm, four."));
        CHECK(!strcmp(json_string_value(json_object_get(msg, "type")), "message"));
        CHECK(!strcmp(json_string_value(json_object_get(json_array_get(json_object_get(msg, "content"), 0), "text")),
                      "Four."));
        json_decref(r);
        json_decref(a);
        srv_buf_free(&b);
        done(&p);
    }
    C.tc = keep;
}

/* The items as (type, text) pairs: ids differ between runs. */
static char *items_key(json_t *out) {
    srv_buf k = {0};
    size_t i;
    json_t *it;
    json_array_foreach(out, i, it) {
        const char *t = json_string_value(json_object_get(it, "type"));
        srv_buf_puts(&k, t);
        srv_buf_putc(&k, '=');
        json_t *c = json_array_get(json_object_get(it, "content"), 0);
        const char *x = !strcmp(t, "function_call") ? json_string_value(json_object_get(it, "arguments"))
                                                     : json_string_value(json_object_get(c, "text"));
        srv_buf_puts(&k, x ? x : "(none)");
        srv_buf_putc(&k, '|');
    }
    srv_buf_putc(&k, 0);
    return k.p;
}

/* one answer split in two tokens at every byte: the stream (invariants
 * after each part) and the whole body give the same items */
static void test_splits(void) {
    pg_tc_style keep = C.tc;
    pg_tc_style_of(PG_TC_DEEPSEEK_R1, &C.tc);
    const char *text = "Let me see.</think>\n\nThe answer is 4.";
    size_t n = strlen(text);
    char *want = NULL;
    for (size_t k = 0; k <= n; k++) {
        char a[64], b2[64];
        snprintf(a, sizeof a, "%.*s", (int)k, text);
        snprintf(b2, sizeof b2, "%s", text + k);
        for (int stream = 0; stream < 2; stream++) {
            parsed p = parse(stream ? "{\"input\":\"q\",\"stream\":true}" : "{\"input\":\"q\"}");
            REQUIRE(p.status == 0);
            pg_error e = {0};
            REQUIRE(srv_req_submit(p.r, &e) == 0);
            srv_buf b = {0};
            json_t *r = NULL, *ev = NULL;
            ev_text(5, a);
            if (stream) stream_part(&p, &b, 0);
            ev_text(6, b2);
            if (stream) stream_part(&p, &b, 0);
            ev_end(PG_FINISH_STOP);
            if (stream) {
                stream_part(&p, &b, 1);
                ev = sse_events(b.p, b.len);
                r = json_incref(json_object_get(json_array_get(ev, json_array_size(ev) - 1), "response"));
            } else {
                char *wb;
                size_t wl;
                srv_req_lock(p.r);
                CHECK(srv_resp_adapter.body(&C, p.q, p.r, &wb, &wl) == 200);
                srv_req_unlock(p.r);
                inv(&p);
                r = json_loadb(wb, wl, 0, NULL);
                free(wb);
            }
            char *key = items_key(json_object_get(r, "output"));
            if (!want) want = strdup(key);
            CHECKF(!strcmp(key, want), "split %zu stream %d: %s, want %s", k, stream, key, want);
            free(key);
            json_decref(r);
            json_decref(ev);
            srv_buf_free(&b);
            done(&p);
        }
    }
    CHECK(want && !strcmp(want, "reasoning=Let me see.|message=The answer is 4.|"));
    free(want);
    C.tc = keep;
}

/* Every top-level field of a full body replaced by values of every type:
 * accepted, or a 400/404 naming that field (or input, for the prompt);
 * then random byte edits of bodies: never a crash, never another status. */
static void test_hostile(void) {
    const char *full =
        "{\"model\":\"demo\",\"input\":[{\"role\":\"user\",\"content\":\"w\"},{\"type\":\"function_call\",\"call_id\":\"c\","
        "\"name\":\"f\",\"arguments\":\"{}\"},{\"type\":\"function_call_output\",\"call_id\":\"c\",\"output\":\"o\"}],"
        "\"instructions\":\"i\",\"max_output_tokens\":4,\"temperature\":1,\"top_p\":1,\"tools\":[{\"type\":\"function\","
        "\"name\":\"f\",\"parameters\":{\"type\":\"object\"}}],\"tool_choice\":\"auto\",\"parallel_tool_calls\":true,"
        "\"text\":{\"format\":{\"type\":\"text\"}},\"stream\":false,\"store\":true,\"metadata\":{},\"user\":\"u\","
        "\"seed\":1,\"include\":[],\"truncation\":\"disabled\"}";
    parsed p = parse(full);
    CHECKF(p.status == 0, "full body: %d %s", p.status, err_param(&p));
    done(&p);
    json_t *o = json_loads(full, 0, NULL);
    REQUIRE(o);
    static const char *vals[] = {"null", "1", "-1", "1e308", "\"s\"", "\"\"", "[]", "{}", "true", "[1]", "{\"a\":1}"};
    const char *k;
    json_t *v;
    json_object_foreach(o, k, v) {
        for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
            json_t *c = json_deep_copy(o);
            json_object_set_new(c, k, json_loads(vals[i], JSON_DECODE_ANY, NULL));
            char *b = json_dumps(c, JSON_COMPACT);
            parsed q = parse(b);
            int named = !strncmp(err_param(&q), k, strlen(k)) || !strncmp(err_param(&q), "input", 5) ||
                        (!strcmp(k, "tools") && !strcmp(err_param(&q), "tool_choice"));
            CHECKF(q.status == 0 || ((q.status == 400 || q.status == 404) && named), "%s=%s: %d param %s", k, vals[i],
                   q.status, err_param(&q));
            done(&q);
            free(b);
            json_decref(c);
        }
    }
    json_decref(o);
    uint64_t x = 88172645463325252ull;
    size_t n = strlen(full);
    char *b = malloc(n + 64);
    REQUIRE(b);
    static const char alpha[] = "{}[]\",:0a\\ -.e\x80\xff";
    for (int it = 0; it < 3000; it++) {
        memcpy(b, full, n + 1);
        size_t len = n;
        for (int e = 0; e < 1 + it % 4; e++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            size_t at = (size_t)(x % len);
            int op = (int)((x >> 32) % 3);
            char ch = alpha[(x >> 40) % (sizeof alpha - 1)];
            if (op == 0) b[at] = ch;
            else if (op == 1 && len > 1) memmove(b + at, b + at + 1, len-- - at);
            else if (len < n + 60) memmove(b + at + 1, b + at, len++ - at + 1), b[at] = ch;
        }
        b[len] = 0;
        parsed q = parse(b);
        CHECKF(q.status == 0 || q.status == 400 || q.status == 404, "mutation %d: status %d (%s)", it, q.status, b);
        done(&q);
    }
    free(b);
}

int main(void) {
    pg_error err = {0};
    pg_model *m;
    void *img;
    size_t sz;
    REQUIRE(pg_demo_model_create(7, &m, &img, &sz, &err) == 0);
    pg_vocab *v;
    REQUIRE(pg_vocab_load(pg_model_gguf(m), &v, &err) == 0);
    pg_tpl *tpl;
    const char *fb = pg_chat_fallback_template();
    REQUIRE(pg_tpl_compile(fb, strlen(fb), &tpl, &err) == 0);
    srv_idgen_init(&IDS);
    C = (srv_ctx){.vocab = v, .tpl = tpl, .alias = "demo", .n_ctx = 256, .n_vocab = pg_vocab_n_tokens(v),
                  .max_messages = 16, .request_timeout_s = 600, .ids = &IDS,
                  .responses = srv_rstore_create(16, 1 << 20, 0)};
    pg_tc_style_of(PG_TC_GENERIC, &C.tc);
    REQUIRE(C.responses);
    test_parse();
    test_errors();
    test_stream_and_body();
    test_call();
    test_failed();
    test_reasoning();
    test_hostile();
    test_splits();
    char msg[200];
    CHECKF(srv_rstore_check(C.responses, msg, sizeof msg) == 0, "%s", msg);
    srv_rstore_destroy(C.responses);
    pg_tpl_free(tpl);
    pg_vocab_free(v);
    pg_model_free(m);
    free(img);
    return t_done("test_responses");
}
