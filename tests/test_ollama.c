/* test_ollama.c - the Ollama adapter without a socket or an engine:
 * keep_alive durations, model names, request JSON -> the generation spec
 * (options, Ollama's sampling defaults, num_predict / num_ctx against the
 * context, stream default), bad bodies -> the status and an {"error": ...}
 * body with nothing else in it, the "load" answer, and scripted engine
 * events (fake engine, real request core) -> the NDJSON lines and the
 * whole body, tool calls and errors included. The vocabulary is the
 * built-in demo model's (byte-level). */
#include "test.h"

#include "model/demo.h"
#include "server/ollama.h"

#include <jansson.h>

#include "fake_engine.h"
static srv_ctx C;
static srv_idgen IDS;

static void ev_token(int32_t tok, const char *text) {
    pg_sample_out so = {.token = tok};
    pg_engine_event e = {.type = PG_EV_TOKEN, .token = tok, .text = text, .text_len = strlen(text), .sample = &so};
    F.q[0].cb(&e, F.q[0].user);
}
static void ev_done(int finish, const char *text, const pg_engine_usage *u) {
    pg_engine_event e = {.type = PG_EV_DONE, .finish_reason = finish, .text = text, .text_len = strlen(text), .usage = u,
                         .last = 1};
    F.q[0].cb(&e, F.q[0].user);
}
static void ev_error(const char *msg) {
    pg_engine_event e = {.type = PG_EV_ERROR, .error_code = PG_EINVAL, .error_msg = msg, .last = 1};
    F.q[0].cb(&e, F.q[0].user);
}

typedef struct parsed {
    srv_req *r;
    oll_req *o;
    srv_gen *g;
    int status;
    json_t *body; /* the fail body (error or load answer) */
} parsed;

static parsed parse(int kind, const char *body) {
    parsed p = {0};
    p.r = srv_req_create(&CORE);
    REQUIRE(p.r != NULL);
    srv_caller who = {0, 0};
    srv_fail f;
    p.status = oll_parse(&C, &who, kind, body, strlen(body), p.r, &p.o, &f);
    p.g = srv_req_gen(p.r);
    if (p.status) {
        REQUIRE(f.body != NULL);
        p.body = json_loadb(f.body, f.len, 0, NULL);
        REQUIRE(p.body != NULL);
        free(f.body);
    }
    return p;
}

static void done(parsed *p) {
    json_decref(p->body);
    srv_req_unref(p->r);
}

static void test_keep_alive(void) {
    static const struct { const char *json; double want; } ok[] = {
        {"\"5m\"", 300}, {"\"300s\"", 300}, {"\"1h30m\"", 5400}, {"\"1.5h\"", 5400}, {"\"-1\"", -1}, {"\"-1m\"", -1},
        {"\"0\"", 0}, {"0", 0}, {"3600", 3600}, {"-1", -1}, {"\"250ms\"", 0.25}, {"\"10\"", 10}, {"2.5", 2.5}};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        json_t *v = json_loads(ok[i].json, JSON_DECODE_ANY, NULL);
        double s = 1234;
        CHECKF(oll_keep_alive(v, &s) == 0 && fabs(s - ok[i].want) < 1e-9, "%s -> %g", ok[i].json, s);
        json_decref(v);
    }
    static const char *bad[] = {"\"5 minutes\"", "\"m\"", "\"5x\"", "\"\"", "\"5m3\"", "true", "[1]", "\"1e3\"", "\"-\""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_t *v = json_loads(bad[i], JSON_DECODE_ANY, NULL);
        double s;
        CHECKF(oll_keep_alive(v, &s) < 0, "%s accepted", bad[i]);
        json_decref(v);
    }
}

static void test_names(void) {
    CHECK(oll_model_match(&C, "demo"));
    CHECK(oll_model_match(&C, "demo:latest"));
    CHECK(!oll_model_match(&C, "demo:7b"));
    CHECK(!oll_model_match(&C, "dem"));
    CHECK(!oll_model_match(&C, "demox"));
    CHECK(!oll_model_match(&C, "llama3:latest"));
    CHECK(!oll_model_match(&C, NULL));
}

static void test_parse(void) {
    parsed p = parse(OLL_CHAT, "{\"model\":\"demo:latest\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");
    REQUIRE(p.status == 0);
    CHECK(p.o->stream == 1); /* Ollama streams by default */
    CHECK(p.g->stream == 1);
    CHECK(!strcmp(p.o->model, "demo:latest"));
    const pg_sampling_params *sp = &p.g->base.sampling;
    CHECK(fabsf(sp->temperature - 0.8f) < 1e-6f && sp->top_k == 40 && fabsf(sp->top_p - 0.9f) < 1e-6f);
    CHECK(!sp->has_seed);
    CHECK(p.g->n_prompts == 1);
    CHECK(p.g->prompts[0].n > 0 && p.g->prompts[0].n + p.g->prompts[0].max_tokens == C.n_ctx); /* -1: to the end */
    CHECK(!p.o->parse_out && p.g->base.grammar == NULL);
    CHECK(isnan(p.o->keep_alive_s));
    done(&p);

    p = parse(OLL_GENERATE, "{\"model\":\"demo\",\"prompt\":\"abc\",\"raw\":true,\"stream\":false,\"keep_alive\":\"10m\","
                            "\"options\":{\"temperature\":0.2,\"top_k\":5,\"top_p\":0.5,\"min_p\":0.1,\"seed\":42,"
                            "\"repeat_penalty\":1.3,\"presence_penalty\":0.5,\"frequency_penalty\":-0.5,"
                            "\"stop\":[\"x\",\"yz\"],\"num_predict\":7,\"num_ctx\":100,\"mirostat\":2,\"numa\":true}}");
    REQUIRE(p.status == 0);
    sp = &p.g->base.sampling;
    CHECK(p.o->stream == 0 && p.g->stream == 0);
    CHECK(fabsf(sp->temperature - 0.2f) < 1e-6f && sp->top_k == 5 && fabsf(sp->top_p - 0.5f) < 1e-6f);
    CHECK(fabsf(sp->min_p - 0.1f) < 1e-6f && fabsf(sp->repetition_penalty - 1.3f) < 1e-6f);
    CHECK(fabsf(sp->presence_penalty - 0.5f) < 1e-6f && fabsf(sp->frequency_penalty + 0.5f) < 1e-6f);
    CHECK(sp->has_seed && sp->seed == 42);
    CHECK(p.g->base.n_stop == 2 && !strcmp(p.g->base.stop[1], "yz"));
    CHECK(p.g->prompts[0].n == 4); /* BOS + 3 bytes, no template (raw) */
    CHECK(p.g->prompts[0].max_tokens == 7);
    CHECK(p.o->n_ctx == 100);
    CHECK(p.o->keep_alive_s == 600);
    done(&p);

    /* num_predict larger than the room left: until the context ends; num_ctx above the server's: clamped */
    p = parse(OLL_GENERATE, "{\"model\":\"demo\",\"prompt\":\"abc\",\"raw\":true,\"options\":{\"num_predict\":100000,"
                            "\"num_ctx\":100000,\"seed\":-1}}");
    REQUIRE(p.status == 0);
    CHECK(p.o->n_ctx == C.n_ctx);
    CHECK(p.g->prompts[0].max_tokens == C.n_ctx - 4);
    CHECK(!p.g->base.sampling.has_seed); /* -1: random */
    done(&p);

    /* generate with system: rendered by the template (ChatML fallback) */
    p = parse(OLL_GENERATE, "{\"model\":\"demo\",\"prompt\":\"abc\",\"system\":\"be brief\"}");
    REQUIRE(p.status == 0);
    CHECK(p.g->prompts[0].n > 20);
    done(&p);

    /* format: a grammar on the request */
    p = parse(OLL_CHAT, "{\"model\":\"demo\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"format\":\"json\"}");
    REQUIRE(p.status == 0);
    CHECK(p.g->base.grammar != NULL);
    done(&p);
    p = parse(OLL_CHAT, "{\"model\":\"demo\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"format\":"
                        "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\"}},\"required\":[\"a\"]}}");
    REQUIRE(p.status == 0);
    CHECK(p.g->base.grammar != NULL);
    done(&p);
}

/* Each bad body: its status, a body that is exactly {"error": "..."}, and
 * a piece of the message. */
static void test_errors(void) {
    static const struct { int kind; const char *body; int status; const char *msg; } cases[] = {
        {OLL_CHAT, "{", 400, "invalid JSON"},
        {OLL_CHAT, "[]", 400, "JSON object"},
        {OLL_CHAT, "{\"messages\":[]}", 400, "model is required"},
        {OLL_CHAT, "{\"model\":\"llama3\",\"messages\":[]}", 404, "model \"llama3\" not found, try pulling it first"},
        {OLL_CHAT, "{\"model\":\"demo:8b\"}", 404, "not found"},
        {OLL_CHAT, "{\"model\":\"demo\",\"messages\":{}}", 400, "\"messages\" must be a list"},
        {OLL_CHAT, "{\"model\":\"demo\",\"messages\":[{\"role\":\"robot\",\"content\":\"x\"}]}", 400, "role"},
        {OLL_CHAT, "{\"model\":\"demo\",\"messages\":[{\"role\":\"user\",\"content\":5}]}", 400, "content must be a string"},
        {OLL_CHAT, "{\"model\":\"demo\",\"messages\":[{\"role\":\"user\",\"content\":\"x\",\"images\":[\"AA==\"]}]}", 400, "images"},
        {OLL_CHAT, "{\"model\":\"demo\",\"messages\":[{\"role\":\"assistant\",\"content\":\"\",\"tool_calls\":{}}]}", 400, "tool_calls must be a list"},
        {OLL_CHAT, "{\"model\":\"demo\",\"messages\":[{\"role\":\"assistant\",\"tool_calls\":[{\"function\":{\"name\":\"f\",\"arguments\":\"{}\"}}]}]}", 400, "tool_calls[0]"},
        {OLL_CHAT, "{\"model\":\"demo\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"tools\":{}}", 400, "\"tools\" must be a list"},
        {OLL_CHAT, "{\"model\":\"demo\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"a b\"}}]}", 400, "function.name"},
        {OLL_CHAT, "{\"model\":\"demo\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"tools\":[{\"function\":{\"name\":\"a\"}},{\"function\":{\"name\":\"a\"}}]}", 400, "given twice"},
        {OLL_CHAT, "{\"model\":\"demo\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"tools\":[{\"function\":{\"name\":\"a\"}}],\"format\":\"json\"}", 400, "cannot be combined"},
        {OLL_CHAT, "{\"model\":\"demo\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"format\":\"xml\"}", 400, "\"format\" must be"},
        {OLL_CHAT, "{\"model\":\"demo\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"format\":{\"type\":\"bogus\"}}", 400, "invalid JSON schema"},
        {OLL_CHAT, "{\"model\":\"demo\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"think\":\"maybe\"}", 400, "\"think\""},
        {OLL_CHAT, "{\"model\":\"demo\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"stream\":\"yes\"}", 400, "\"stream\""},
        {OLL_CHAT, "{\"model\":\"demo\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"logprobs\":true}", 400, "logprobs"},
        {OLL_GENERATE, "{\"model\":\"demo\",\"prompt\":5}", 400, "\"prompt\" must be a string"},
        {OLL_GENERATE, "{\"model\":\"demo\",\"prompt\":\"x\",\"images\":[\"AA==\"]}", 400, "images are not supported"},
        {OLL_GENERATE, "{\"model\":\"demo\",\"prompt\":\"x\",\"template\":\"{{ .Prompt }}\"}", 400, "\"template\" is not supported"},
        {OLL_GENERATE, "{\"model\":\"demo\",\"prompt\":\"x\",\"suffix\":\"y\"}", 400, "\"suffix\""},
        {OLL_GENERATE, "{\"model\":\"demo\",\"prompt\":\"x\",\"context\":[1,2]}", 400, "\"context\""},
        {OLL_GENERATE, "{\"model\":\"demo\",\"prompt\":\"x\",\"raw\":1}", 400, "\"raw\""},
        {OLL_GENERATE, "{\"model\":\"demo\",\"prompt\":\"x\",\"system\":[]}", 400, "\"system\""},
        {OLL_GENERATE, "{\"model\":\"demo\",\"prompt\":\"x\",\"keep_alive\":\"forever\"}", 400, "keep_alive"},
        {OLL_GENERATE, "{\"model\":\"demo\",\"prompt\":\"x\",\"options\":[]}", 400, "\"options\" must be an object"},
        {OLL_GENERATE, "{\"model\":\"demo\",\"prompt\":\"x\",\"options\":{\"temperature\":\"hot\"}}", 400, "option \"temperature\" must be a number"},
        {OLL_GENERATE, "{\"model\":\"demo\",\"prompt\":\"x\",\"options\":{\"temperature\":3}}", 400, "option \"temperature\" must be in"},
        {OLL_GENERATE, "{\"model\":\"demo\",\"prompt\":\"x\",\"options\":{\"top_p\":0}}", 400, "top_p"},
        {OLL_GENERATE, "{\"model\":\"demo\",\"prompt\":\"x\",\"options\":{\"seed\":1.5}}", 400, "seed"},
        {OLL_GENERATE, "{\"model\":\"demo\",\"prompt\":\"x\",\"options\":{\"num_predict\":0}}", 400, "num_predict"},
        {OLL_GENERATE, "{\"model\":\"demo\",\"prompt\":\"x\",\"options\":{\"num_predict\":-3}}", 400, "num_predict"},
        {OLL_GENERATE, "{\"model\":\"demo\",\"prompt\":\"x\",\"options\":{\"num_predict\":2.5}}", 400, "num_predict"},
        {OLL_GENERATE, "{\"model\":\"demo\",\"prompt\":\"x\",\"options\":{\"stop\":[1]}}", 400, "\"stop\""},
        {OLL_GENERATE, "{\"model\":\"demo\",\"prompt\":\"x\",\"options\":{\"stop\":[\"\"]}}", 400, "stop strings"},
        {OLL_GENERATE, "{\"model\":\"demo\",\"prompt\":\"abcdefghijkl\",\"raw\":true,\"options\":{\"num_ctx\":8}}", 400, "context is 8 tokens"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        parsed p = parse(cases[i].kind, cases[i].body);
        CHECKF(p.status == cases[i].status, "case %zu (%s): status %d", i, cases[i].body, p.status);
        const char *m = p.body ? json_string_value(json_object_get(p.body, "error")) : NULL;
        CHECKF(m && json_object_size(p.body) == 1, "case %zu: body is not {\"error\": string}", i);
        CHECKF(m && strstr(m, cases[i].msg), "case %zu: message '%s' lacks '%s'", i, m ? m : "(none)", cases[i].msg);
        done(&p);
    }
    /* http.c's own errors on these routes */
    size_t n;
    char *b = srv_oll_chat.error(429, "busy", "rate_limit_error", "server_busy", &n);
    CHECK(b && !strcmp(b, "{\"error\":\"busy\"}") && n == strlen(b));
    free(b);
    b = srv_oll_api.error(401, "no key", NULL, NULL, &n);
    CHECK(b && !strcmp(b, "{\"error\":\"no key\"}"));
    free(b);
}

static void test_load(void) {
    parsed p = parse(OLL_CHAT, "{\"model\":\"demo\",\"messages\":[]}");
    CHECK(p.status == 200);
    CHECK(!strcmp(json_string_value(json_object_get(p.body, "done_reason")), "load"));
    CHECK(json_is_true(json_object_get(p.body, "done")));
    CHECK(!strcmp(json_string_value(json_object_get(json_object_get(p.body, "message"), "role")), "assistant"));
    done(&p);
    p = parse(OLL_GENERATE, "{\"model\":\"demo\"}");
    CHECK(p.status == 200);
    CHECK(!strcmp(json_string_value(json_object_get(p.body, "response")), ""));
    done(&p);
}

static parsed start(int kind, const char *body) {
    F.n_sub = 0;
    parsed p = parse(kind, body);
    REQUIRE(p.status == 0);
    pg_error e = {0};
    REQUIRE(srv_req_submit(p.r, &e) == 0);
    return p;
}

static int stream_all(parsed *p, srv_buf *b) {
    srv_req_lock(p->r);
    int end = oll_stream(&C, p->o, p->r, b);
    srv_req_consume(p->r);
    srv_req_unlock(p->r);
    return end;
}

/* The lines of b as JSON objects (at most cap); every line ends with \n. */
static size_t lines(const srv_buf *b, json_t **out, size_t cap) {
    size_t n = 0, s = 0;
    for (size_t i = 0; i < b->len && n < cap; i++)
        if (b->p[i] == '\n') {
            out[n] = json_loadb(b->p + s, i - s, 0, NULL);
            CHECKF(out[n] != NULL, "line %zu is not JSON: %.*s", n, (int)(i - s), b->p + s);
            n++;
            s = i + 1;
        }
    CHECK(s == b->len);
    return n;
}

static void test_stream(void) {
    parsed p = start(OLL_CHAT, "{\"model\":\"demo:latest\",\"messages\":[{\"role\":\"user\",\"content\":\"q\"}]}");
    srv_buf b = {0};
    CHECK(stream_all(&p, &b) == 0 && b.len == 0);
    ev_token('a', "a\"");
    ev_token('b', "b\n");
    CHECK(stream_all(&p, &b) == 0);
    pg_engine_usage u = {.prompt_tokens = 5, .completion_tokens = 3, .prefill_s = 0.25, .decode_s = 0.5};
    ev_done(PG_FINISH_LENGTH, "!", &u);
    CHECK(stream_all(&p, &b) == 1);
    json_t *l[8];
    size_t n = lines(&b, l, 8);
    REQUIRE(n == 4);
    const char *want[] = {"a\"", "b\n", "!", ""};
    for (size_t i = 0; i < 4; i++) {
        json_t *m = json_object_get(l[i], "message");
        CHECK(!strcmp(json_string_value(json_object_get(l[i], "model")), "demo:latest"));
        CHECK(!strcmp(json_string_value(json_object_get(m, "role")), "assistant"));
        CHECKF(!strcmp(json_string_value(json_object_get(m, "content")), want[i]), "line %zu", i);
        CHECK(json_is_boolean(json_object_get(l[i], "done")) && json_is_true(json_object_get(l[i], "done")) == (i == 3));
        const char *ts = json_string_value(json_object_get(l[i], "created_at"));
        CHECK(ts && strlen(ts) == 30 && ts[10] == 'T' && ts[19] == '.' && ts[29] == 'Z');
    }
    CHECK(!strcmp(json_string_value(json_object_get(l[3], "done_reason")), "length"));
    CHECK(json_integer_value(json_object_get(l[3], "prompt_eval_count")) == p.g->prompts[0].n); /* the prompt's ids */
    CHECK(json_integer_value(json_object_get(l[3], "eval_count")) == 3);
    CHECK(json_integer_value(json_object_get(l[3], "prompt_eval_duration")) == 250000000);
    CHECK(json_integer_value(json_object_get(l[3], "eval_duration")) == 500000000);
    CHECK(json_integer_value(json_object_get(l[3], "load_duration")) == 0);
    CHECK(json_integer_value(json_object_get(l[3], "total_duration")) > 0);
    for (size_t i = 0; i < n; i++) json_decref(l[i]);
    CHECK(stream_all(&p, &b) == 1); /* ended stays ended */
    srv_buf_free(&b);
    done(&p);

    /* generate: "response"; an engine error after output: one {"error"} line */
    p = start(OLL_GENERATE, "{\"model\":\"demo\",\"prompt\":\"x\"}");
    ev_token('a', "hello");
    ev_error("the grammar broke");
    CHECK(stream_all(&p, &b) == 1);
    n = lines(&b, l, 8);
    REQUIRE(n == 2);
    CHECK(!strcmp(json_string_value(json_object_get(l[0], "response")), "hello"));
    CHECK(json_object_size(l[1]) == 1 && strstr(json_string_value(json_object_get(l[1], "error")), "grammar broke"));
    for (size_t i = 0; i < n; i++) json_decref(l[i]);
    srv_buf_free(&b);
    done(&p);
}

static json_t *whole(parsed *p, int *status) {
    char *out;
    size_t len;
    srv_req_lock(p->r);
    *status = oll_body(&C, p->o, p->r, &out, &len);
    srv_req_unlock(p->r);
    CHECK(len && out[len - 1] == '}');
    json_t *j = json_loadb(out, len, 0, NULL);
    free(out);
    REQUIRE(j != NULL);
    return j;
}

static void test_body(void) {
    parsed p = start(OLL_GENERATE, "{\"model\":\"demo\",\"prompt\":\"x\",\"stream\":false}");
    ev_token('a', "Once ");
    ev_token('b', "upon");
    pg_engine_usage u = {.prompt_tokens = 9, .completion_tokens = 2, .prefill_s = 0.001, .decode_s = 0.002};
    ev_done(PG_FINISH_STOP, "", &u);
    int st;
    json_t *j = whole(&p, &st);
    CHECK(st == 200);
    CHECK(!strcmp(json_string_value(json_object_get(j, "response")), "Once upon"));
    CHECK(!strcmp(json_string_value(json_object_get(j, "done_reason")), "stop"));
    CHECK(json_is_true(json_object_get(j, "done")));
    CHECK(json_integer_value(json_object_get(j, "eval_count")) == 2);
    CHECK(json_integer_value(json_object_get(j, "prompt_eval_duration")) == 1000000);
    json_decref(j);
    done(&p);

    p = start(OLL_CHAT, "{\"model\":\"demo\",\"messages\":[{\"role\":\"user\",\"content\":\"q\"}],\"stream\":false}");
    ev_error("boom");
    j = whole(&p, &st);
    CHECK(st == 400);
    CHECK(json_object_size(j) == 1 && !strcmp(json_string_value(json_object_get(j, "error")), "boom"));
    json_decref(j);
    done(&p);
}

/* Hermes-style calls (the Qwen 2.5 format) parsed into message.tool_calls
 * with arguments as objects, whole and streamed. */
static void test_tools(void) {
    pg_tc_style saved = C.tc;
    pg_tc_style_of(PG_TC_HERMES, &C.tc);
    const char *req = "{\"model\":\"demo\",\"messages\":[{\"role\":\"user\",\"content\":\"weather?\"}],\"stream\":%s,"
                      "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"parameters\":"
                      "{\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\"}}}}}]}";
    const char *out[] = {"Let me check.", "<tool_call>\n{\"name\": \"get_weather\", ", "\"arguments\": {\"city\": \"Paris\"}}",
                         "\n</tool_call>"};
    for (int stream = 0; stream < 2; stream++) {
        char body[600];
        snprintf(body, sizeof body, req, stream ? "true" : "false");
        parsed p = start(OLL_CHAT, body);
        CHECK(p.o->parse_out);
        CHECK(p.g->base.grammar != NULL && p.g->base.n_grammar_triggers > 0); /* lazy: from <tool_call> on */
        CHECK(p.g->base.detok_special == 1);
        srv_buf b = {0};
        for (int i = 0; i < 4; i++) {
            ev_token(100 + i, out[i]);
            if (stream) stream_all(&p, &b);
        }
        pg_engine_usage u = {.prompt_tokens = 3, .completion_tokens = 4};
        ev_done(PG_FINISH_STOP, "", &u);
        json_t *calls = NULL, *l[16] = {0};
        size_t n = 0;
        json_t *j = NULL;
        if (stream) {
            CHECK(stream_all(&p, &b) == 1);
            n = lines(&b, l, 16);
            REQUIRE(n >= 3);
            CHECK(!strcmp(json_string_value(json_object_get(json_object_get(l[0], "message"), "content")), "Let me check."));
            for (size_t i = 0; i < n; i++)
                if (json_object_get(json_object_get(l[i], "message"), "tool_calls"))
                    calls = json_object_get(json_object_get(l[i], "message"), "tool_calls");
            CHECK(json_is_true(json_object_get(l[n - 1], "done")));
        } else {
            int st;
            j = whole(&p, &st);
            CHECK(st == 200);
            CHECK(!strcmp(json_string_value(json_object_get(json_object_get(j, "message"), "content")), "Let me check."));
            calls = json_object_get(json_object_get(j, "message"), "tool_calls");
        }
        REQUIRE(json_is_array(calls) && json_array_size(calls) == 1);
        json_t *fn = json_object_get(json_array_get(calls, 0), "function");
        CHECK(!strcmp(json_string_value(json_object_get(fn, "name")), "get_weather"));
        CHECK(!strcmp(json_string_value(json_object_get(json_object_get(fn, "arguments"), "city")), "Paris"));
        for (size_t i = 0; i < n; i++) json_decref(l[i]);
        json_decref(j);
        srv_buf_free(&b);
        done(&p);
    }
    C.tc = saved;
}

/* A template that marks reasoning (DeepSeek R1: the prompt opens it):
 * thinking parsed into "thinking" unless think is false (then it stays in
 * the text). */
static void test_think(void) {
    pg_tc_style saved = C.tc;
    pg_tc_style_of(PG_TC_DEEPSEEK_R1, &C.tc);
    for (int mode = 0; mode < 3; mode++) { /* whole, stream, think false */
        char body[300];
        snprintf(body, sizeof body, "{\"model\":\"demo\",\"messages\":[{\"role\":\"user\",\"content\":\"2+2?\"}],"
                                    "\"stream\":%s%s}", mode == 1 ? "true" : "false", mode == 2 ? ",\"think\":false" : "");
        parsed p = start(OLL_CHAT, body);
        CHECK(p.o->parse_out == (mode != 2));
        srv_buf b = {0};
        const char *out[] = {"Hmm, ", "four.", "</think>", "\n\nIt is 4."};
        for (int i = 0; i < 4; i++) {
            ev_token(100 + i, out[i]);
            if (mode == 1) stream_all(&p, &b);
        }
        pg_engine_usage u = {.prompt_tokens = 3, .completion_tokens = 4};
        ev_done(PG_FINISH_STOP, "", &u);
        if (mode == 1) {
            CHECK(stream_all(&p, &b) == 1);
            json_t *l[16];
            size_t n = lines(&b, l, 16);
            srv_buf th = {0}, ct = {0};
            for (size_t i = 0; i < n; i++) {
                json_t *m = json_object_get(l[i], "message");
                const char *t = json_string_value(json_object_get(m, "thinking"));
                if (t) srv_buf_puts(&th, t);
                srv_buf_puts(&ct, json_string_value(json_object_get(m, "content")));
                json_decref(l[i]);
            }
            srv_buf_putc(&th, 0);
            srv_buf_putc(&ct, 0);
            CHECKF(!strcmp(th.p, "Hmm, four."), "thinking '%s'", th.p);
            CHECKF(!strcmp(ct.p, "It is 4."), "content '%s'", ct.p);
            srv_buf_free(&th);
            srv_buf_free(&ct);
        } else {
            int st;
            json_t *j = whole(&p, &st);
            json_t *m = json_object_get(j, "message");
            if (mode == 0) {
                CHECK(!strcmp(json_string_value(json_object_get(m, "thinking")), "Hmm, four."));
                CHECK(!strcmp(json_string_value(json_object_get(m, "content")), "It is 4."));
            } else {
                CHECK(!json_object_get(m, "thinking"));
                CHECK(!strcmp(json_string_value(json_object_get(m, "content")), "Hmm, four.</think>\n\nIt is 4."));
            }
            json_decref(j);
        }
        srv_buf_free(&b);
        done(&p);
    }
    C.tc = saved;
}

/* /api/tags, /api/ps, /api/version, /api/show on the demo model */
static json_t *ep(int (*fn)(const srv_ctx *, const char *, size_t, char **), const char *body, int want) {
    char *out = NULL;
    int st = fn(&C, body, body ? strlen(body) : 0, &out);
    CHECKF(st == want, "status %d, want %d", st, want);
    json_t *j = out ? json_loads(out, 0, NULL) : NULL;
    free(out);
    REQUIRE(j != NULL);
    return j;
}

static void test_endpoints(void) {
    json_t *t = ep(srv_oll_tags, NULL, 200);
    json_t *m = json_array_get(json_object_get(t, "models"), 0);
    CHECK(json_array_size(json_object_get(t, "models")) == 1);
    CHECK(!strcmp(json_string_value(json_object_get(m, "name")), "demo:latest"));
    const char *dg = json_string_value(json_object_get(m, "digest"));
    CHECK(dg && strlen(dg) == 64 && strspn(dg, "0123456789abcdef") == 64);
    json_t *d = json_object_get(m, "details");
    CHECK(!strcmp(json_string_value(json_object_get(d, "format")), "gguf"));
    CHECK(!strcmp(json_string_value(json_object_get(d, "family")), pg_model_hparams(C.model)->arch));
    CHECK(json_integer_value(json_object_get(m, "size")) > 0);
    json_t *ps = ep(srv_oll_ps, NULL, 200);
    json_t *pm = json_array_get(json_object_get(ps, "models"), 0);
    CHECK(!strcmp(json_string_value(json_object_get(pm, "digest")), dg));
    CHECK(json_integer_value(json_object_get(pm, "size_vram")) == 0 && json_object_get(pm, "expires_at"));
    json_decref(t);
    json_decref(ps);
    json_t *v = ep(srv_oll_version, NULL, 200);
    CHECK(!strcmp(json_string_value(json_object_get(v, "version")), "9.8.7"));
    json_decref(v);
    json_t *s = ep(srv_oll_show, "{\"model\":\"demo:latest\"}", 200);
    CHECK(!strcmp(json_string_value(json_object_get(s, "template")), C.tpl_text));
    json_t *mi = json_object_get(s, "model_info");
    CHECK(json_integer_value(json_object_get(mi, "general.parameter_count")) > 0);
    CHECK(json_is_string(json_object_get(mi, "general.architecture")));
    json_t *caps = json_object_get(s, "capabilities");
    CHECK(json_array_size(caps) >= 1 && !strcmp(json_string_value(json_array_get(caps, 0)), "completion"));
    json_decref(s);
    s = ep(srv_oll_show, "{\"name\":\"demo\"}", 200); /* older clients send "name" */
    json_decref(s);
    s = ep(srv_oll_show, "{\"model\":\"other\"}", 404);
    CHECK(!strcmp(json_string_value(json_object_get(s, "error")), "model 'other' not found"));
    json_decref(s);
    s = ep(srv_oll_show, "{}", 400);
    CHECK(json_object_size(s) == 1);
    json_decref(s);
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
                  .max_messages = 16, .request_timeout_s = 600, .ids = &IDS, .model = m, .tpl_text = fb,
                  .caps = PG_CAP_GENERATE, .version = "9.8.7"};
    pg_tc_style_of(PG_TC_GENERIC, &C.tc);
    test_keep_alive();
    test_names();
    test_parse();
    test_errors();
    test_load();
    test_stream();
    test_body();
    test_tools();
    test_think();
    test_endpoints();
    pg_tpl_free(tpl);
    pg_vocab_free(v);
    pg_model_free(m);
    free(img);
    return t_done("test_ollama");
}
