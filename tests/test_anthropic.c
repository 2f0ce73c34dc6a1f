/* test_anthropic.c - the Anthropic Messages adapter without a socket or an
 * engine: Messages bodies -> the OpenAI chat body they mean (blocks,
 * tools, tool_choice, stop_sequences), bad bodies -> 400 with Anthropic's
 * error shape naming the field, the parse through the chat parser into
 * the request core's spec, count_tokens equal to the parsed prompt, and
 * scripted engine events (fake engine, real request core) -> the exact
 * SSE events and whole bodies: text, stop sequences cut and reported,
 * tool_use blocks with input_json_delta, thinking, errors. The vocabulary
 * is the built-in demo model's (byte-level), the template the ChatML
 * fallback. */
#include "test.h"

#include "model/demo.h"
#include "server/anthropic_format.h"
#include "server/anthropic_parse.h"

#include <jansson.h>

/* ---------- a fake engine ---------- */

#define FAKE_MAXQ 4
#include "fake_engine.h"
static srv_ctx C;
static srv_idgen IDS;

static void ev_token(const char *text) {
    pg_engine_event e = {.type = PG_EV_TOKEN, .token = 65, .text = text, .text_len = strlen(text)};
    F.q[0].cb(&e, F.q[0].user);
}
static void ev_done(int finish, const pg_engine_usage *u) {
    pg_engine_event e = {.type = PG_EV_DONE, .finish_reason = finish, .text = "", .usage = u, .last = 1};
    F.q[0].cb(&e, F.q[0].user);
}

/* ---------- translation ---------- */

static json_t *to_chat(const char *body, int count, int *status, char *msg, size_t cap) {
    json_t *in = json_loads(body, 0, NULL);
    REQUIRE(in != NULL);
    json_t *out = NULL;
    *status = anth_to_chat(in, count, &out, msg, cap);
    json_decref(in);
    return out;
}

static void check_json(const char *what, json_t *got, const char *want) {
    json_t *w = json_loads(want, 0, NULL);
    REQUIRE(w != NULL);
    char *g = json_dumps(got, JSON_COMPACT | JSON_SORT_KEYS), *ws = json_dumps(w, JSON_COMPACT | JSON_SORT_KEYS);
    CHECKF(json_equal(got, w), "%s:\n got: %s\nwant: %s", what, g, ws);
    free(g);
    free(ws);
    json_decref(w);
}

static void test_translate(void) {
    int st;
    char m[600];
    json_t *o = to_chat("{\"model\":\"demo\",\"max_tokens\":9,\"system\":[{\"type\":\"text\",\"text\":\"S1\","
                        "\"cache_control\":{\"type\":\"ephemeral\"}},{\"type\":\"text\",\"text\":\"S2\"}],"
                        "\"messages\":[{\"role\":\"user\",\"content\":\"q\"},"
                        "{\"role\":\"assistant\",\"content\":[{\"type\":\"thinking\",\"thinking\":\"hm\",\"signature\":\"x\"},"
                        "{\"type\":\"text\",\"text\":\"let me\"},{\"type\":\"tool_use\",\"id\":\"tu1\",\"name\":\"get\","
                        "\"input\":{\"city\":\"Paris\"}}]},"
                        "{\"role\":\"user\",\"content\":[{\"type\":\"tool_result\",\"tool_use_id\":\"tu1\",\"content\":"
                        "[{\"type\":\"text\",\"text\":\"sun\"}]},{\"type\":\"tool_result\",\"tool_use_id\":\"tu1\","
                        "\"content\":\"boom\",\"is_error\":true},{\"type\":\"text\",\"text\":\"and?\"},"
                        "{\"type\":\"text\",\"text\":\"now\"}]}],"
                        "\"tools\":[{\"name\":\"get\",\"description\":\"d\",\"input_schema\":{\"type\":\"object\"}}],"
                        "\"tool_choice\":{\"type\":\"any\",\"disable_parallel_tool_use\":true},"
                        "\"temperature\":0.5,\"top_p\":0.9,\"top_k\":4,\"seed\":7,\"stream\":true,"
                        "\"stop_sequences\":[\"END\"],\"metadata\":{\"user_id\":\"u\"},\"thinking\":{\"type\":\"disabled\"}}",
                        0, &st, m, sizeof m);
    CHECKF(st == 0, "%s", m);
    check_json("full body", o,
               "{\"model\":\"demo\",\"max_tokens\":9,\"messages\":[{\"role\":\"system\",\"content\":\"S1\\nS2\"},"
               "{\"role\":\"user\",\"content\":\"q\"},{\"role\":\"assistant\",\"content\":\"let me\",\"tool_calls\":"
               "[{\"id\":\"tu1\",\"type\":\"function\",\"function\":{\"name\":\"get\",\"arguments\":\"{\\\"city\\\":\\\"Paris\\\"}\"}}]},"
               "{\"role\":\"tool\",\"tool_call_id\":\"tu1\",\"content\":\"sun\"},"
               "{\"role\":\"tool\",\"tool_call_id\":\"tu1\",\"content\":\"Error: boom\"},"
               "{\"role\":\"user\",\"content\":\"and?\\nnow\"}],"
               "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"get\",\"description\":\"d\",\"parameters\":{\"type\":\"object\"}}}],"
               "\"tool_choice\":\"required\",\"parallel_tool_calls\":false,\"temperature\":0.5,\"top_p\":0.9,\"top_k\":4,"
               "\"seed\":7,\"stream\":true,\"stop\":[\"END\"],\"include_stop_str_in_output\":true,\"user\":\"u\"}");
    json_decref(o);
    /* tool_choice tool / auto / none; count_tokens shape: no max_tokens, no sampling */
    o = to_chat("{\"messages\":[{\"role\":\"user\",\"content\":\"q\"}],\"tools\":[{\"name\":\"a\",\"input_schema\":{}},"
                "{\"name\":\"b\",\"type\":\"custom\",\"input_schema\":{}}],\"tool_choice\":{\"type\":\"tool\",\"name\":\"b\"}}",
                1, &st, m, sizeof m);
    CHECKF(st == 0, "%s", m);
    check_json("named", json_object_get(o, "tool_choice"), "{\"type\":\"function\",\"function\":{\"name\":\"b\"}}");
    CHECK(!json_object_get(o, "max_tokens") && json_array_size(json_object_get(o, "tools")) == 2);
    json_decref(o);
    o = to_chat("{\"messages\":[{\"role\":\"user\",\"content\":\"q\"}],\"tool_choice\":{\"type\":\"none\"}}", 1, &st, m,
                sizeof m);
    CHECK(st == 0 && !strcmp(json_string_value(json_object_get(o, "tool_choice")), "none"));
    json_decref(o);

    static const struct {
        const char *body, *msg;
    } bad[] = {
        {"[]", "must be a JSON object"},
        {"{\"messages\":[{\"role\":\"user\",\"content\":\"q\"}]}", "'max_tokens' is required"},
        {"{\"max_tokens\":0,\"messages\":[{\"role\":\"user\",\"content\":\"q\"}]}", "'max_tokens' must be an integer >= 1"},
        {"{\"max_tokens\":1.5,\"messages\":[{\"role\":\"user\",\"content\":\"q\"}]}", "'max_tokens' must be an integer"},
        {"{\"max_tokens\":1}", "'messages' is required"},
        {"{\"max_tokens\":1,\"messages\":[]}", "'messages' must not be empty"},
        {"{\"max_tokens\":1,\"messages\":[{\"role\":\"system\",\"content\":\"q\"}]}", "messages[0].role must be"},
        {"{\"max_tokens\":1,\"messages\":[{\"role\":\"user\",\"content\":5}]}", "messages[0].content must be"},
        {"{\"max_tokens\":1,\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image\",\"source\":{}}]}]}",
         "messages[0].content[0]: image blocks are not supported"},
        {"{\"max_tokens\":1,\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"document\",\"source\":{}}]}]}",
         "document blocks are not supported"},
        {"{\"max_tokens\":1,\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\"}]}]}",
         "messages[0].content[0].text must be a string"},
        {"{\"max_tokens\":1,\"messages\":[{\"role\":\"user\",\"content\":[{\"text\":\"x\"}]}]}", "with a 'type'"},
        {"{\"max_tokens\":1,\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"tool_use\",\"id\":\"a\"}]}]}",
         "block type 'tool_use' is not supported in a user message"},
        {"{\"max_tokens\":1,\"messages\":[{\"role\":\"user\",\"content\":\"q\"},{\"role\":\"assistant\",\"content\":"
         "[{\"type\":\"tool_result\"}]},{\"role\":\"user\",\"content\":\"q\"}]}",
         "messages[1].content[0]: block type 'tool_result' is not supported in an assistant message"},
        {"{\"max_tokens\":1,\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"tool_result\",\"tool_use_id\":\"x\"}]}]}",
         "messages[0].content[0].tool_use_id 'x' matches no tool_use"},
        {"{\"max_tokens\":1,\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"tool_result\"}]}]}",
         "tool_use_id must be a string"},
        {"{\"max_tokens\":1,\"messages\":[{\"role\":\"user\",\"content\":\"q\"},{\"role\":\"assistant\",\"content\":"
         "[{\"type\":\"tool_use\",\"id\":\"t\",\"name\":\"f\",\"input\":\"{}\"}]},{\"role\":\"user\",\"content\":\"q\"}]}",
         "messages[1].content[0] must have a string 'id', a string 'name' and an object 'input'"},
        {"{\"max_tokens\":1,\"messages\":[{\"role\":\"user\",\"content\":\"q\"},{\"role\":\"assistant\",\"content\":\"a\"}]}",
         "prefill"},
        {"{\"max_tokens\":1,\"system\":5,\"messages\":[{\"role\":\"user\",\"content\":\"q\"}]}", "system must be a string"},
        {"{\"max_tokens\":1,\"system\":[{\"type\":\"image\"}],\"messages\":[{\"role\":\"user\",\"content\":\"q\"}]}",
         "system[0]: image blocks"},
        {"{\"max_tokens\":1,\"messages\":[{\"role\":\"user\",\"content\":\"q\"}],\"tools\":{}}", "'tools' must be a list"},
        {"{\"max_tokens\":1,\"messages\":[{\"role\":\"user\",\"content\":\"q\"}],\"tools\":[{\"name\":\"f\"}]}",
         "tools[0] .input_schema must be a JSON Schema object"},
        {"{\"max_tokens\":1,\"messages\":[{\"role\":\"user\",\"content\":\"q\"}],\"tools\":[{\"type\":\"bash_20250124\","
         "\"name\":\"bash\"}]}",
         "server tool"},
        {"{\"max_tokens\":1,\"messages\":[{\"role\":\"user\",\"content\":\"q\"}],\"tool_choice\":{\"type\":\"any\"}}",
         "needs 'tools'"},
        {"{\"max_tokens\":1,\"messages\":[{\"role\":\"user\",\"content\":\"q\"}],\"tool_choice\":\"auto\"}",
         "'tool_choice' must be an object"},
        {"{\"max_tokens\":1,\"messages\":[{\"role\":\"user\",\"content\":\"q\"}],\"tools\":[{\"name\":\"f\",\"input_schema\":{}}],"
         "\"tool_choice\":{\"type\":\"tool\"}}",
         "'tool_choice.name' is required"},
        {"{\"max_tokens\":1,\"messages\":[{\"role\":\"user\",\"content\":\"q\"}],\"tools\":[{\"name\":\"f\",\"input_schema\":{}}],"
         "\"tool_choice\":{\"type\":\"tool\",\"name\":\"g\"}}",
         "'tool_choice.name' 'g' is not in 'tools'"},
        {"{\"max_tokens\":1,\"messages\":[{\"role\":\"user\",\"content\":\"q\"}],\"tools\":[{\"name\":\"f\",\"input_schema\":{}}],"
         "\"tool_choice\":{\"type\":\"maybe\"}}",
         "'tool_choice.type' must be"},
        {"{\"max_tokens\":1,\"messages\":[{\"role\":\"user\",\"content\":\"q\"}],\"temperature\":\"x\"}",
         "'temperature' must be a number"},
        {"{\"max_tokens\":1,\"messages\":[{\"role\":\"user\",\"content\":\"q\"}],\"top_k\":1.5}", "'top_k' must be an integer"},
        {"{\"max_tokens\":1,\"messages\":[{\"role\":\"user\",\"content\":\"q\"}],\"stream\":1}", "'stream' must be a boolean"},
        {"{\"max_tokens\":1,\"messages\":[{\"role\":\"user\",\"content\":\"q\"}],\"stop_sequences\":\"x\"}",
         "'stop_sequences' must be a list"},
        {"{\"max_tokens\":1,\"messages\":[{\"role\":\"user\",\"content\":\"q\"}],\"stop_sequences\":[\"a\",\"\"]}",
         "stop_sequences[1] must be a non-empty string"},
        {"{\"max_tokens\":1,\"messages\":[{\"role\":\"user\",\"content\":\"q\"}],\"stop_sequences\":[\"1\",\"2\",\"3\",\"4\","
         "\"5\",\"6\",\"7\",\"8\",\"9\",\"10\",\"11\",\"12\",\"13\",\"14\",\"15\",\"16\",\"17\"]}",
         "'stop_sequences' has more than 16 entries"},
        {"{\"max_tokens\":1,\"messages\":[{\"role\":\"user\",\"content\":\"q\"}],\"metadata\":{\"user_id\":3}}",
         "'metadata.user_id' must be a string"},
        {"{\"max_tokens\":1,\"messages\":[{\"role\":\"user\",\"content\":\"q\"}],\"thinking\":true}", "'thinking' must be an object"},
        {"{\"max_tokens\":1,\"messages\":[{\"role\":\"user\",\"content\":\"q\"}],\"n\":2}", "unknown field 'n'"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        o = to_chat(bad[i].body, 0, &st, m, sizeof m);
        CHECKF(st == 400 && !o && strstr(m, bad[i].msg), "bad[%zu] %s: status %d, message '%s'", i, bad[i].body, st, m);
        json_decref(o);
    }
}

/* ---------- parse ---------- */

typedef struct parsed {
    srv_req *r;
    anth_req *q;
    srv_gen *g;
    int status;
    json_t *err; /* the whole error body */
} parsed;

static parsed parse(const char *body) {
    parsed p = {0};
    p.r = srv_req_create(&CORE);
    REQUIRE(p.r != NULL);
    srv_caller who = {0, 0};
    srv_fail f;
    p.status = anth_parse(&C, &who, body, strlen(body), p.r, &p.q, &f);
    p.g = srv_req_gen(p.r);
    if (p.status) {
        p.err = json_loads(f.body, 0, NULL);
        REQUIRE(p.err != NULL);
        free(f.body);
    }
    return p;
}

static void done(parsed *p) {
    json_decref(p->err);
    srv_req_unref(p->r);
}

static const char *err_type(const parsed *p) {
    json_t *t = json_object_get(json_object_get(p->err, "error"), "type");
    return json_is_string(t) ? json_string_value(t) : "(none)";
}
static const char *err_msg(const parsed *p) {
    json_t *t = json_object_get(json_object_get(p->err, "error"), "message");
    return json_is_string(t) ? json_string_value(t) : "(none)";
}

static void test_parse(void) {
    parsed p = parse("{\"model\":\"demo\",\"max_tokens\":9,\"system\":\"be brief\",\"messages\":[{\"role\":\"user\","
                     "\"content\":\"hi\"}],\"temperature\":0.5,\"top_k\":3,\"seed\":11,\"stop_sequences\":[\"END\"],"
                     "\"stream\":true}");
    REQUIRE(p.status == 0);
    CHECK(!strncmp(p.q->id, "msg_", 4) && strlen(p.q->id) == 28 && !strcmp(p.q->model, "demo"));
    CHECK(p.q->stream && p.g->stream && p.g->n_prompts == 1 && p.g->prompts[0].max_tokens == 9);
    CHECK(p.q->n_prompt == p.g->prompts[0].n && p.q->n_prompt > 5);
    CHECK(p.g->base.sampling.temperature == 0.5f && p.g->base.sampling.top_k == 3 && p.g->base.sampling.has_seed &&
          p.g->base.sampling.seed == 11);
    CHECK(p.q->n_stop == 1 && !strcmp(p.q->stop[0], "END") && p.g->base.include_stop_str == 1);
    int32_t n_prompt = p.q->n_prompt;
    done(&p);
    /* count_tokens renders the same prompt */
    char *out = NULL;
    int st = anth_count_tokens(&C, "{\"model\":\"demo\",\"system\":\"be brief\",\"messages\":[{\"role\":\"user\","
                                   "\"content\":\"hi\"}]}",
                               strlen("{\"model\":\"demo\",\"system\":\"be brief\",\"messages\":[{\"role\":\"user\","
                                      "\"content\":\"hi\"}]}"),
                               &out);
    json_t *o = json_loads(out, 0, NULL);
    CHECKF(st == 200 && json_integer_value(json_object_get(o, "input_tokens")) == n_prompt, "%d %s", st, out);
    json_decref(o);
    free(out);
    st = anth_count_tokens(&C, "{\"messages\":[]}", 15, &out);
    CHECK(st == 400 && strstr(out, "\"type\":\"error\"") && strstr(out, "invalid_request_error"));
    free(out);
    const char *wrong = "{\"model\":\"x\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
    st = anth_count_tokens(&C, wrong, strlen(wrong), &out);
    CHECK(st == 404 && strstr(out, "not_found_error"));
    free(out);

    /* errors: ours, and the chat parser's re-shaped */
    static const struct {
        const char *body;
        int status;
        const char *type, *msg;
    } bad[] = {
        {"{bad", 400, "invalid_request_error", "invalid JSON body"},
        {"{\"max_tokens\":1,\"messages\":[{\"role\":\"user\",\"content\":\"q\"}],\"model\":\"other\"}", 404, "not_found_error",
         "does not exist"},
        {"{\"max_tokens\":100000,\"messages\":[{\"role\":\"user\",\"content\":\"q\"}]}", 400, "invalid_request_error",
         "maximum context length"},
        {"{\"max_tokens\":1,\"messages\":[{\"role\":\"user\",\"content\":\"q\"}],\"temperature\":9}", 400,
         "invalid_request_error", "temperature"},
        {"{\"max_tokens\":1,\"messages\":[{\"role\":\"user\",\"content\":\"q\"}],\"tools\":[{\"name\":\"bad name\","
         "\"input_schema\":{}}]}",
         400, "invalid_request_error", "name"},
        {"{\"messages\":[{\"role\":\"user\",\"content\":\"q\"}]}", 400, "invalid_request_error", "'max_tokens' is required"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        p = parse(bad[i].body);
        CHECKF(p.status == bad[i].status && !strcmp(err_type(&p), bad[i].type) && strstr(err_msg(&p), bad[i].msg) &&
                   !strcmp(json_string_value(json_object_get(p.err, "type")), "error"),
               "bad[%zu]: %d %s '%s'", i, p.status, err_type(&p), err_msg(&p));
        done(&p);
    }
}

static void test_errors(void) {
    static const struct {
        int status;
        const char *type;
    } m[] = {{400, "invalid_request_error"}, {401, "authentication_error"}, {403, "permission_error"},
             {404, "not_found_error"},       {405, "invalid_request_error"}, {413, "request_too_large"},
             {429, "rate_limit_error"},      {500, "api_error"},             {501, "api_error"},
             {503, "overloaded_error"},      {504, "timeout_error"}};
    for (size_t i = 0; i < sizeof m / sizeof m[0]; i++) {
        size_t n = 0;
        char *b = anth_error(m[i].status, "why \"quoted\"", "server_error", "code", &n);
        char want[200];
        snprintf(want, sizeof want, "{\"type\":\"error\",\"error\":{\"type\":\"%s\",\"message\":\"why \\\"quoted\\\"\"}}",
                 m[i].type);
        CHECKF(b && n == strlen(want) && !strcmp(b, want), "%d: %s", m[i].status, b);
        free(b);
    }
}

/* ---------- answers ---------- */

static void check_bytes(const char *what, const char *got, size_t n, const char *want) {
    int ok = n == strlen(want) && !memcmp(got, want, n);
    CHECKF(ok, "%s:\n got: %.*s\nwant: %s", what, (int)n, got, want);
}

/* parse + submit through the real core with the fake engine; fixed id */
static parsed start(const char *body) {
    F.n_sub = 0;
    parsed p = parse(body);
    REQUIRE(p.status == 0);
    pg_error e = {0};
    REQUIRE(srv_req_submit(p.r, &e) == 0);
    snprintf(p.q->id, sizeof p.q->id, "msg_1");
    return p;
}

static void stream_all(parsed *p, srv_buf *b, int want_end) {
    srv_req_lock(p->r);
    int end = anth_stream(&C, p->q, p->r, b);
    srv_req_consume(p->r);
    srv_req_unlock(p->r);
    CHECK(end == want_end);
}

/* toolu_<24 hex> -> toolu_X */
static size_t mask_ids(const char *s, size_t n, char *out) {
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        if (i + 30 <= n && !memcmp(s + i, "toolu_", 6)) {
            memcpy(out + o, "toolu_X", 7);
            o += 7;
            i += 30;
        } else {
            out[o++] = s[i++];
        }
    }
    out[o] = 0;
    return o;
}

#define START(in)                                                                                                      \
    "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\","      \
    "\"role\":\"assistant\",\"content\":[],\"model\":\"demo\",\"stop_reason\":null,\"stop_sequence\":null,\"usage\":"  \
    "{\"input_tokens\":" #in ",\"cache_creation_input_tokens\":0,\"cache_read_input_tokens\":0,\"output_tokens\":0}}}\n\n" \
    "event: ping\ndata: {\"type\":\"ping\"}\n\n"
#define TEXT_DELTA(i, t)                                                                                               \
    "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":" #i                                \
    ",\"delta\":{\"type\":\"text_delta\",\"text\":\"" t "\"}}\n\n"
#define BLOCK_STOP(i) "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":" #i "}\n\n"
#define END(reason, seq, in, cached, out)                                                                             \
    "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"" reason                     \
    "\",\"stop_sequence\":" seq "},\"usage\":{\"input_tokens\":" #in ",\"cache_creation_input_tokens\":0,"             \
    "\"cache_read_input_tokens\":" #cached ",\"output_tokens\":" #out "}}\n\n"                                         \
    "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"

static void test_stream_text(void) {
    parsed p = start("{\"max_tokens\":8,\"stream\":true,\"stop_sequences\":[\"zz\",\"lo\"],\"messages\":[{\"role\":\"user\","
                     "\"content\":\"hi\"}]}");
    srv_buf b = {0};
    stream_all(&p, &b, 0);
    CHECK(p.q->n_prompt == 22); /* the ChatML render of "hi" in the byte-level vocabulary */
    check_bytes("start", b.p, b.len, START(22));
    b.len = 0;
    ev_token("He");
    ev_token("\"\n");
    stream_all(&p, &b, 0);
    check_bytes("first deltas", b.p, b.len,
                "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":"
                "{\"type\":\"text\",\"text\":\"\"}}\n\n" TEXT_DELTA(0, "He") TEXT_DELTA(0, "\\\"\\n"));
    b.len = 0;
    ev_token("llo"); /* the engine kept the stop string: it ends the text */
    pg_engine_usage u = {.prompt_tokens = 20, .completion_tokens = 3, .cached_tokens = 16};
    ev_done(PG_FINISH_STOP, &u);
    stream_all(&p, &b, 1);
    check_bytes("stop sequence", b.p, b.len, TEXT_DELTA(0, "l") BLOCK_STOP(0) END("stop_sequence", "\"lo\"", 6, 16, 3));
    srv_buf_free(&b);
    done(&p);

    /* the same events as a whole body */
    char *body;
    size_t n;
    int st;
    p = start("{\"max_tokens\":8,\"stop_sequences\":[\"lo\"],\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");
    ev_token("He");
    ev_token("llo");
    ev_done(PG_FINISH_STOP, &u);
    srv_req_lock(p.r);
    st = anth_body(&C, p.q, p.r, &body, &n);
    srv_req_unlock(p.r);
    check_bytes("body", body, n,
                "{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"content\":[{\"type\":\"text\",\"text\":"
                "\"Hel\"}],\"model\":\"demo\",\"stop_reason\":\"stop_sequence\",\"stop_sequence\":\"lo\",\"usage\":"
                "{\"input_tokens\":6,\"cache_creation_input_tokens\":0,\"cache_read_input_tokens\":16,\"output_tokens\":3}}");
    free(body);
    done(&p);

    /* max_tokens, an empty answer (no block), invalid UTF-8 replaced in the body */
    p = start("{\"max_tokens\":2,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");
    ev_token("a\xC3");
    ev_token("");
    pg_engine_usage u2 = {.prompt_tokens = 20, .completion_tokens = 2};
    ev_done(PG_FINISH_LENGTH, &u2);
    srv_req_lock(p.r);
    st = anth_body(&C, p.q, p.r, &body, &n);
    srv_req_unlock(p.r);
    CHECK(st == 200 && strstr(body, "\"text\":\"a\xEF\xBF\xBD\"") && strstr(body, "\"stop_reason\":\"max_tokens\""));
    free(body);
    done(&p);
    p = start("{\"max_tokens\":2,\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");
    ev_done(PG_FINISH_STOP, &u2);
    srv_buf b2 = {0};
    stream_all(&p, &b2, 1);
    check_bytes("empty", b2.p, b2.len, START(22) END("end_turn", "null", 22, 0, 2));
    srv_buf_free(&b2);
    done(&p);

    /* an engine error after the stream started: an error event */
    p = start("{\"max_tokens\":2,\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");
    srv_buf b3 = {0};
    stream_all(&p, &b3, 0);
    b3.len = 0;
    ev_token("x");
    pg_engine_event e = {.type = PG_EV_ERROR, .error_code = PG_ENOMEM, .error_msg = "no memory", .last = 1};
    F.q[0].cb(&e, F.q[0].user);
    stream_all(&p, &b3, 1);
    check_bytes("error event", b3.p, b3.len,
                "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":"
                "{\"type\":\"text\",\"text\":\"\"}}\n\n" TEXT_DELTA(0, "x") BLOCK_STOP(0)
                "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"no memory\"}}\n\n");
    srv_buf_free(&b3);
    srv_req_lock(p.r);
    st = anth_body(&C, p.q, p.r, &body, &n);
    srv_req_unlock(p.r);
    CHECK(st == 503 && strstr(body, "\"overloaded_error\"")); /* out of memory: 503, the production contract */
    free(body);
    done(&p);
}

#define TOOLS_JSON "\"tools\":[{\"name\":\"get\",\"input_schema\":{\"type\":\"object\"}}]"
#define CALL "<tool_call>\n{\"name\": \"get\", \"arguments\": {\"a\": 1}}\n</tool_call>"

static void test_tools_thinking(void) {
    pg_tc_style saved = C.tc;
    pg_tc_style_of(PG_TC_HERMES, &C.tc);
    C.tc.think = PG_TC_THINK_OPTIONAL;
    C.tc.think_open = "<think>";
    C.tc.think_close = "</think>";
    const char *body = "{\"max_tokens\":64,\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"q\"}]," TOOLS_JSON
                       ",\"tool_choice\":{\"type\":\"any\"}}";
    parsed p = start(body);
    CHECK(p.q->o->parse_out && p.g->base.grammar != NULL);
    srv_buf b = {0};
    stream_all(&p, &b, 0);
    b.len = 0;
    ev_token("<think>mm</think>ok ");
    ev_token(CALL);
    pg_engine_usage u = {.prompt_tokens = 20, .completion_tokens = 2};
    ev_done(PG_FINISH_STOP, &u);
    stream_all(&p, &b, 1);
    char got[4096];
    size_t gl = mask_ids(b.p, b.len, got);
    check_bytes("tool stream", got, gl,
                "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":"
                "{\"type\":\"thinking\",\"thinking\":\"\",\"signature\":\"\"}}\n\n"
                "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":"
                "{\"type\":\"thinking_delta\",\"thinking\":\"mm\"}}\n\n" BLOCK_STOP(0)
                "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":1,\"content_block\":"
                "{\"type\":\"text\",\"text\":\"\"}}\n\n" TEXT_DELTA(1, "ok") BLOCK_STOP(1)
                "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":2,\"content_block\":"
                "{\"type\":\"tool_use\",\"id\":\"toolu_X\",\"name\":\"get\",\"input\":{}}}\n\n"
                "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":2,\"delta\":"
                "{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"a\\\":1}\"}}\n\n" BLOCK_STOP(2)
                    END("tool_use", "null", 21, 0, 2));
    srv_buf_free(&b);
    done(&p);

    p = start("{\"max_tokens\":64,\"messages\":[{\"role\":\"user\",\"content\":\"q\"}]," TOOLS_JSON "}");
    ev_token("<think>mm</think>ok ");
    ev_token(CALL);
    ev_done(PG_FINISH_STOP, &u);
    char *out;
    size_t n;
    srv_req_lock(p.r);
    int st = anth_body(&C, p.q, p.r, &out, &n);
    srv_req_unlock(p.r);
    gl = mask_ids(out, n, got);
    CHECK(st == 200);
    check_bytes("tool body", got, gl,
                "{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"content\":[{\"type\":\"thinking\","
                "\"thinking\":\"mm\",\"signature\":\"\"},{\"type\":\"text\",\"text\":\"ok\"},{\"type\":\"tool_use\","
                "\"id\":\"toolu_X\",\"name\":\"get\",\"input\":{\"a\":1}}],\"model\":\"demo\",\"stop_reason\":\"tool_use\","
                "\"stop_sequence\":null,\"usage\":{\"input_tokens\":21,\"cache_creation_input_tokens\":0,"
                "\"cache_read_input_tokens\":0,\"output_tokens\":2}}");
    free(out);
    done(&p);
    C.tc = saved;
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
                  .max_messages = 16, .request_timeout_s = 600, .ids = &IDS};
    test_translate();
    test_errors();
    test_parse();
    test_stream_text();
    test_tools_thinking();
    pg_tpl_free(tpl);
    pg_vocab_free(v);
    pg_model_free(m);
    free(img);
    return t_done("test_anthropic");
}
