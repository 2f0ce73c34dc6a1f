/* test_openai.c - the OpenAI adapter without a socket or an engine:
 * request JSON -> the request core's generation spec (every field, the
 * defaults, max_tokens computed per prompt, chat rendering), bad bodies ->
 * the status and the OpenAI error object with its "param", and scripted
 * engine events (through a fake engine and the real request core) -> the
 * exact SSE bytes and whole bodies, logprobs and UTF-8 edge cases
 * included. The vocabulary is the built-in demo model's (byte-level). */
#include "test.h"

#include "model/demo.h"
#include "server/openai_format.h"
#include "server/openai_parse.h"

#include <jansson.h>

/* ---------- a fake engine ---------- */

#include "fake_engine.h"
static srv_ctx C;
static srv_idgen IDS;

static void ev_token(int k, int32_t index, int32_t tok, const char *text, const pg_sample_out *so) {
    pg_engine_event e = {.type = PG_EV_TOKEN, .index = index, .token = tok, .text = text, .text_len = strlen(text),
                         .sample = so};
    F.q[k].cb(&e, F.q[k].user);
}
static void ev_done(int k, int32_t index, int finish, const char *text, const pg_engine_usage *u, int last) {
    pg_engine_event e = {.type = PG_EV_DONE, .index = index, .finish_reason = finish, .text = text,
                         .text_len = strlen(text), .usage = u, .last = last};
    F.q[k].cb(&e, F.q[k].user);
}

/* ---------- parsing ---------- */

typedef struct parsed {
    srv_req *r;
    oai_req *o;
    srv_gen *g;
    int status;
    json_t *err; /* the error object's "error" member (owned by errdoc) */
    json_t *errdoc;
} parsed;

static parsed parse(int kind, const char *body) {
    parsed p = {0};
    p.r = srv_req_create(&CORE);
    REQUIRE(p.r != NULL);
    srv_caller who = {0, 0};
    srv_fail f;
    p.status = oai_parse(&C, &who, kind, body, strlen(body), p.r, &p.o, &f);
    p.g = srv_req_gen(p.r);
    if (p.status) {
        p.errdoc = json_loads(f.body, 0, NULL);
        REQUIRE(p.errdoc != NULL);
        p.err = json_object_get(p.errdoc, "error");
        free(f.body);
    }
    return p;
}

static void done(parsed *p) {
    json_decref(p->errdoc);
    srv_req_unref(p->r);
}

static const char *err_param(const parsed *p) {
    json_t *x = json_object_get(p->err, "param");
    return json_is_string(x) ? json_string_value(x) : "(null)";
}

static void test_parse_completion(void) {
    parsed p = parse(OAI_COMPLETION,
                     "{\"model\":\"demo\",\"prompt\":\"xy\",\"temperature\":0.5,\"top_p\":0.9,\"top_k\":7,\"seed\":42,"
                     "\"stop\":[\"END\",\"\\n\"],\"stop_token_ids\":[3,4],\"logit_bias\":{\"65\":-100,\"66\":2.5},"
                     "\"n\":2,\"max_tokens\":9,\"stream\":true,\"stream_options\":{\"include_usage\":true},"
                     "\"logprobs\":3,\"priority\":-1,\"presence_penalty\":0.25}");
    REQUIRE(p.status == 0);
    const pg_request *q = &p.g->base;
    CHECK(q->sampling.temperature == 0.5f && q->sampling.top_p == 0.9f && q->sampling.top_k == 7);
    CHECK(q->sampling.has_seed && q->sampling.seed == 42 && q->sampling.presence_penalty == 0.25f);
    CHECK(q->sampling.n_logprobs == 3 && q->priority == -1 && q->n == 2);
    CHECK(q->n_stop == 2 && !strcmp(q->stop[0], "END") && !strcmp(q->stop[1], "\n"));
    CHECK(q->n_stop_ids == 2 && q->stop_ids[0] == 3 && q->stop_ids[1] == 4);
    CHECK(q->sampling.n_logit_bias == 2 && q->sampling.logit_bias[0].id == 65 && q->sampling.logit_bias[0].bias == -100 &&
          q->sampling.logit_bias[1].bias == 2.5f);
    CHECK(q->timeout_s == 600); /* the server's cap applies without "timeout" */
    CHECK(p.g->n_prompts == 1 && p.g->prompts[0].n == 3 && p.g->prompts[0].max_tokens == 9);
    CHECK(p.g->prompts[0].ids[0] == pg_vocab_bos(C.vocab));
    CHECK(p.g->stream && p.g->keep_top);
    CHECK(p.o->stream && p.o->include_usage && p.o->logprobs == 3 && p.o->n == 2 && p.o->n_choices == 2);
    CHECK(!strncmp(p.o->id, "cmpl-", 5) && strlen(p.o->id) == 29 && !strcmp(p.o->model, "demo"));
    done(&p);

    /* defaults: 16 tokens, one choice, no stream; token-id prompts, lists, echo */
    p = parse(OAI_COMPLETION, "{\"prompt\":[[5,6],[7,8,9]],\"echo\":true,\"timeout\":2}");
    REQUIRE(p.status == 0);
    CHECK(p.g->n_prompts == 2 && p.g->prompts[1].n == 3 && p.g->prompts[1].ids[2] == 9);
    CHECK(p.g->prompts[0].max_tokens == 16 && p.g->prompts[1].max_tokens == 16);
    CHECK(!p.g->stream && !p.g->keep_top && p.o->logprobs == -1 && p.g->base.timeout_s == 2);
    CHECK(p.o->echo && p.o->echo_text[1] != NULL && p.o->n_choices == 2);
    done(&p);
    p = parse(OAI_COMPLETION, "{\"prompt\":[\"ab\",\"c\"],\"n\":3}");
    REQUIRE(p.status == 0);
    CHECK(p.g->n_prompts == 2 && p.o->n_choices == 6 && p.g->prompts[1].n == 2);
    done(&p);
}

static void test_parse_chat(void) {
    parsed p = parse(OAI_CHAT, "{\"messages\":[{\"role\":\"system\",\"content\":\"S\"},{\"role\":\"user\",\"content\":"
                               "[{\"type\":\"text\",\"text\":\"a\"},{\"type\":\"text\",\"text\":\"b\"}]}],"
                               "\"logprobs\":true,\"top_logprobs\":2,\"max_completion_tokens\":5}");
    REQUIRE(p.status == 0);
    /* the ChatML fallback: parts joined with a newline */
    const char *want = "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\na\nb<|im_end|>\n<|im_start|>assistant\n";
    int32_t ids[256];
    pg_error e = {0};
    int64_t n = pg_tokenize(C.vocab, want, strlen(want), 1, 1, ids, 256, &e);
    REQUIRE(n > 0);
    CHECK(p.g->n_prompts == 1 && p.g->prompts[0].n == n && !memcmp(p.g->prompts[0].ids, ids, (size_t)n * sizeof *ids));
    CHECK(p.g->prompts[0].max_tokens == 5 && p.o->logprobs == 2 && p.g->keep_top);
    CHECK(!strncmp(p.o->id, "chatcmpl-", 9));
    done(&p);
    /* default max_tokens: the rest of the context, computed once per prompt */
    p = parse(OAI_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");
    REQUIRE(p.status == 0);
    CHECK(p.g->prompts[0].max_tokens == C.n_ctx - p.g->prompts[0].n);
    done(&p);
    C.max_tokens_limit = 10;
    p = parse(OAI_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");
    CHECK(p.status == 0 && p.g->prompts[0].max_tokens == 10);
    done(&p);
    p = parse(OAI_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"max_tokens\":11}");
    CHECK(p.status == 400 && !strcmp(err_param(&p), "max_tokens"));
    done(&p);
    C.max_tokens_limit = 0;
}

static void test_parse_errors(void) {
    static const struct {
        int kind;
        const char *body;
        int status;
        const char *param;
        const char *code;
    } cases[] = {
        {OAI_COMPLETION, "{bad", 400, "(null)", "invalid_json"},
        {OAI_COMPLETION, "[1]", 400, "(null)", NULL},
        {OAI_COMPLETION, "{\"prompt\":\"x\",\"model\":\"other\"}", 404, "model", "model_not_found"},
        {OAI_COMPLETION, "{\"prompt\":\"x\",\"model\":3}", 400, "model", NULL},
        {OAI_COMPLETION, "{\"prompt\":\"x\",\"temperature\":5}", 400, "temperature", NULL},
        {OAI_COMPLETION, "{\"prompt\":\"x\",\"temperature\":\"hot\"}", 400, "temperature", NULL},
        {OAI_COMPLETION, "{\"prompt\":\"x\",\"top_p\":0}", 400, "top_p", NULL},
        {OAI_COMPLETION, "{\"prompt\":\"x\",\"top_k\":1.5}", 400, "top_k", NULL},
        {OAI_COMPLETION, "{\"prompt\":\"x\",\"seed\":\"s\"}", 400, "seed", NULL},
        {OAI_COMPLETION, "{\"prompt\":\"x\",\"timeout\":0}", 400, "timeout", NULL},
        {OAI_COMPLETION, "{\"prompt\":\"x\",\"cache_salt\":\"\"}", 400, "cache_salt", NULL},
        {OAI_COMPLETION, "{\"prompt\":\"x\",\"logit_bias\":{\"abc\":1}}", 400, "logit_bias", NULL},
        {OAI_COMPLETION, "{\"prompt\":\"x\",\"logit_bias\":{\"99999\":1}}", 400, "logit_bias", NULL},
        {OAI_COMPLETION, "{\"prompt\":\"x\",\"logit_bias\":{\"5\":101}}", 400, "logit_bias", NULL},
        {OAI_COMPLETION, "{\"prompt\":\"x\",\"stop\":[\"\"]}", 400, "stop", NULL},
        {OAI_COMPLETION, "{\"prompt\":\"x\",\"stop\":[1]}", 400, "stop", NULL},
        {OAI_COMPLETION, "{\"prompt\":\"x\",\"stop_token_ids\":[-1]}", 400, "stop_token_ids", NULL},
        {OAI_COMPLETION, "{\"prompt\":\"x\",\"n\":65}", 400, "n", NULL},
        {OAI_COMPLETION, "{\"prompt\":\"x\",\"best_of\":2}", 400, "best_of", NULL},
        {OAI_COMPLETION, "{\"prompt\":\"x\",\"stream_options\":{}}", 400, "stream_options", NULL},
        {OAI_COMPLETION, "{\"prompt\":\"x\",\"user\":1}", 400, "user", NULL},
        {OAI_COMPLETION, "{\"prompt\":\"x\",\"max_tokens\":0}", 400, "max_tokens", NULL},
        {OAI_COMPLETION, "{\"prompt\":\"x\",\"logprobs\":true}", 400, "logprobs", NULL},
        {OAI_COMPLETION, "{\"prompt\":\"x\",\"logprobs\":21}", 400, "logprobs", NULL},
        {OAI_COMPLETION, "{\"prompt\":\"x\",\"echo\":true,\"logprobs\":1}", 400, "echo", NULL},
        {OAI_COMPLETION, "{\"prompt\":\"x\",\"suffix\":\"s\"}", 400, "suffix", NULL},
        {OAI_COMPLETION, "{}", 400, "prompt", NULL},
        {OAI_COMPLETION, "{\"prompt\":[]}", 400, "prompt", NULL},
        {OAI_COMPLETION, "{\"prompt\":[\"a\",1]}", 400, "prompt", NULL},
        {OAI_COMPLETION, "{\"prompt\":[1,99999]}", 400, "prompt", NULL},
        {OAI_COMPLETION, "{\"prompt\":\"x\",\"max_tokens\":100000}", 400, "prompt", "context_length_exceeded"},
        {OAI_CHAT, "{\"messages\":[]}", 400, "messages", NULL},
        {OAI_CHAT, "{\"messages\":{}}", 400, "messages", NULL},
        {OAI_CHAT, "{\"messages\":[1]}", 400, "messages[0]", NULL},
        {OAI_CHAT, "{\"messages\":[{\"role\":\"king\",\"content\":\"x\"}]}", 400, "messages[0]", NULL},
        {OAI_CHAT, "{\"messages\":[{\"role\":\"user\"}]}", 400, "messages[0]", NULL},
        {OAI_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image\"}]}]}", 400, "messages[0]", NULL},
        {OAI_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"top_logprobs\":2}", 400, "top_logprobs", NULL},
        {OAI_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"tools\":{}}", 400, "tools", NULL},
        {OAI_COMPLETION, "{\"prompt\":\"x\",\"unknown_field\":1}", 400, "unknown_field", NULL},
        {OAI_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"prompt\":\"x\"}", 400, "prompt", NULL},
        {OAI_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"response_format\":{}}", 400, "response_format.type", NULL},
        {OAI_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"response_format\":[]}", 400, "response_format", NULL},
        {OAI_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"a\",\"schema\":{\"type\":\"nope\"}}}}", 400, "response_format.json_schema.schema", NULL},
        {OAI_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"a\",\"strict\":1,\"schema\":{}}}}", 400, "response_format.json_schema.strict", NULL},
        {OAI_COMPLETION, "{\"prompt\":\"x\",\"grammar\":\"root ::= x\"}", 400, "grammar", NULL},
        {OAI_COMPLETION, "{\"prompt\":\"x\",\"grammar\":7}", 400, "grammar", NULL},
        {OAI_COMPLETION, "{\"prompt\":\"x\",\"json_schema\":{\"type\":\"string\"},\"guided_regex\":\"a\"}", 400, "json_schema", NULL},
        {OAI_COMPLETION, "{\"prompt\":\"x\",\"structured_outputs\":{\"choice\":[\"a\",1]}}", 400, "structured_outputs.choice", NULL},
        {OAI_COMPLETION, "{\"prompt\":\"x\",\"structured_outputs\":{\"whitespace\":\"wide\"}}", 400, "structured_outputs.whitespace", NULL},
        {OAI_COMPLETION, "{\"prompt\":\"x\",\"structured_outputs\":{\"regex\":\"[\"}}", 400, "structured_outputs.regex", NULL},
        {OAI_COMPLETION, "{\"prompt\":\"x\",\"structured_outputs\":{\"foo\":1}}", 400, "structured_outputs.foo", NULL},
        {OAI_COMPLETION, "{\"prompt\":\"x\",\"min_tokens\":20,\"max_tokens\":5}", 400, "min_tokens", NULL},
        {OAI_COMPLETION, "{\"prompt\":\"x\",\"min_tokens\":17}", 400, "min_tokens", NULL},
        {OAI_COMPLETION, "{\"prompt\":\"x\",\"min_tokens\":-1}", 400, "min_tokens", NULL},
        {OAI_COMPLETION, "{\"prompt\":\"x\",\"include_stop_str_in_output\":1}", 400, "include_stop_str_in_output", NULL},
        {OAI_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"max_tokens\":100000}", 400, "messages",
         "context_length_exceeded"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        parsed p = parse(cases[i].kind, cases[i].body);
        CHECKF(p.status == cases[i].status, "case %zu (%s): status %d", i, cases[i].body, p.status);
        if (p.status) {
            CHECKF(!strcmp(err_param(&p), cases[i].param), "case %zu (%s): param %s", i, cases[i].body, err_param(&p));
            json_t *code = json_object_get(p.err, "code");
            const char *cs = json_is_string(code) ? json_string_value(code) : NULL;
            CHECKF(cases[i].code ? cs && !strcmp(cs, cases[i].code) : cs == NULL, "case %zu: code %s", i, cs ? cs : "null");
            CHECKF(json_is_string(json_object_get(p.err, "message")) &&
                       !strcmp(json_string_value(json_object_get(p.err, "type")), "invalid_request_error"),
                   "case %zu", i);
        }
        done(&p);
    }
}

/* ---------- formatting ---------- */

static int32_t tok1(const char *s) { /* the single token of s */
    int32_t ids[8];
    pg_error e = {0};
    int64_t n = pg_tokenize(C.vocab, s, strlen(s), 0, 0, ids, 8, &e);
    REQUIRE(n == 1);
    return ids[0];
}

static void check_bytes(const char *what, const char *got, size_t n, const char *want) {
    int ok = n == strlen(want) && !memcmp(got, want, n);
    CHECKF(ok, "%s:\n got: %.*s\nwant: %s", what, (int)n, got, want);
}

/* parse + submit through the real core with the fake engine */
static parsed start(int kind, const char *body) {
    F.n_sub = 0;
    parsed p = parse(kind, body);
    REQUIRE(p.status == 0);
    pg_error e = {0};
    REQUIRE(srv_req_submit(p.r, &e) == 0);
    snprintf(p.o->id, sizeof p.o->id, "%s", kind == OAI_CHAT ? "chatcmpl-1" : "cmpl-1");
    p.o->created = 1700000000;
    return p;
}

static void stream_all(parsed *p, srv_buf *b, int want_end) {
    srv_req_lock(p->r);
    int end = oai_stream(&C, p->o, p->r, b);
    srv_req_consume(p->r);
    srv_req_unlock(p->r);
    CHECK(end == want_end);
}

static void test_stream_completion(void) {
    int32_t a = tok1("a"), bb = tok1("b"), c = tok1("c");
    int32_t hi[2];
    pg_error e = {0};
    REQUIRE(pg_tokenize(C.vocab, "\xc3\xa9", 2, 0, 0, hi, 2, &e) == 2); /* é: two byte tokens */
    parsed p = start(OAI_COMPLETION, "{\"prompt\":\"xy\",\"stream\":true,\"logprobs\":2,"
                                     "\"stream_options\":{\"include_usage\":true}}");
    srv_buf b = {0};
    stream_all(&p, &b, 0);
    CHECK(b.len == 0); /* nothing before the first event */
    pg_sample_out s1 = {.token = a, .logprob = -0.5f, .n_top = 2, .top_id = {a, bb}, .top_logprob = {-0.5f, -1.25f}};
    pg_sample_out s2 = {.token = hi[0], .logprob = -1.0f, .n_top = 2, .top_id = {hi[0], a}, .top_logprob = {-1.0f, -2.0f}};
    pg_sample_out s3 = {.token = hi[1], .logprob = -0.125f, .n_top = 2, .top_id = {hi[1], hi[1]},
                        .top_logprob = {-0.125f, -3.0f}};
    ev_token(0, 0, a, "a", &s1);
    stream_all(&p, &b, 0);
    const char *head = "data: {\"id\":\"cmpl-1\",\"object\":\"text_completion\",\"created\":1700000000,\"model\":\"demo\","
                       "\"choices\":[";
    char want[4096];
    snprintf(want, sizeof want,
             "%s{\"index\":0,\"text\":\"a\",\"logprobs\":{\"tokens\":[\"a\"],\"token_logprobs\":[-0.5],\"top_logprobs\":"
             "[{\"a\":-0.5,\"b\":-1.25}],\"text_offset\":[0]},\"finish_reason\":null}],\"usage\":null}\n\n",
             head);
    check_bytes("first token", b.p, b.len, want);
    b.len = 0; /* the buffer is reused */
    ev_token(0, 0, hi[0], "", &s2);
    ev_token(0, 0, hi[1], "\xc3\xa9", &s3);
    pg_engine_usage u = {.prompt_tokens = 3, .completion_tokens = 3};
    ev_done(0, 0, PG_FINISH_LENGTH, "", &u, 1);
    stream_all(&p, &b, 1);
    snprintf(want, sizeof want,
             "%s{\"index\":0,\"text\":\"\",\"logprobs\":{\"tokens\":[\"bytes:\\\\xc3\"],\"token_logprobs\":[-1.0],"
             "\"top_logprobs\":[{\"bytes:\\\\xc3\":-1.0,\"a\":-2.0}],\"text_offset\":[1]},\"finish_reason\":null}],"
             "\"usage\":null}\n\n"
             "%s{\"index\":0,\"text\":\"\xc3\xa9\",\"logprobs\":{\"tokens\":[\"bytes:\\\\xa9\"],\"token_logprobs\":"
             "[-0.125],\"top_logprobs\":[{\"bytes:\\\\xa9\":-0.125}],\"text_offset\":[1]},\"finish_reason\":null}],"
             "\"usage\":null}\n\n"
             "%s{\"index\":0,\"text\":\"\",\"logprobs\":null,\"finish_reason\":\"length\"}],\"usage\":null}\n\n"
             "%s],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":3,\"total_tokens\":6,"
             "\"prompt_tokens_details\":{\"cached_tokens\":0}}}\n\n"
             "data: [DONE]\n\n",
             head, head, head, head);
    check_bytes("rest", b.p, b.len, want);
    srv_buf_free(&b);
    done(&p);
    (void)c;
}

static void test_stream_chat(void) {
    int32_t a = tok1("a");
    parsed p = start(OAI_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"q\"}],\"stream\":true,\"n\":2,"
                               "\"logprobs\":true}");
    srv_buf b = {0};
    pg_sample_out s1 = {.token = a, .logprob = -0.5f};
    ev_token(0, 1, a, "a\"\n", &s1);
    ev_done(0, 1, PG_FINISH_STOP, "!", NULL, 0);
    stream_all(&p, &b, 0);
    const char *head = "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,"
                       "\"model\":\"demo\",\"choices\":[";
    char want[4096];
    snprintf(want, sizeof want,
             "%s{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"logprobs\":null,\"finish_reason\":null}]}\n\n"
             "%s{\"index\":1,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"logprobs\":null,\"finish_reason\":null}]}\n\n"
             "%s{\"index\":1,\"delta\":{\"content\":\"a\\\"\\n\"},\"logprobs\":{\"content\":[{\"token\":\"a\","
             "\"logprob\":-0.5,\"bytes\":[97],\"top_logprobs\":[]}]},\"finish_reason\":null}]}\n\n"
             "%s{\"index\":1,\"delta\":{\"content\":\"!\"},\"logprobs\":null,\"finish_reason\":null}]}\n\n"
             "%s{\"index\":1,\"delta\":{},\"logprobs\":null,\"finish_reason\":\"stop\"}]}\n\n",
             head, head, head, head, head);
    check_bytes("chat stream", b.p, b.len, want);
    b.len = 0;
    /* a deadline before choice 0's first token: the stream ends with the error */
    pg_engine_usage none = {.total_s = 2.5};
    ev_done(0, 0, PG_FINISH_TIMEOUT, "", &none, 1);
    stream_all(&p, &b, 1);
    check_bytes("timeout end", b.p, b.len,
                "data: {\"error\":{\"message\":\"the request timed out after 2.5 s before producing any token (queue + "
                "prefill); retry later or raise 'timeout'\",\"type\":\"timeout_error\",\"param\":null,\"code\":"
                "\"request_timeout\"}}\n\ndata: [DONE]\n\n");
    b.len = 0;
    srv_req_lock(p.r);
    CHECK(oai_stream(&C, p.o, p.r, &b) == 1 && b.len == 0); /* ended: nothing more */
    srv_req_unlock(p.r);
    srv_buf_free(&b);
    done(&p);
}

static void test_bodies(void) {
    int32_t a = tok1("a"), bb = tok1("b");
    parsed p = start(OAI_COMPLETION, "{\"prompt\":[\"xy\",\"z\"],\"echo\":true}");
    ev_token(1, 0, bb, "b", NULL);
    pg_engine_usage u = {.completion_tokens = 1, .cached_tokens = 1};
    ev_done(1, 0, PG_FINISH_STOP, "", &u, 1);
    ev_token(0, 0, a, "a", NULL);
    ev_done(0, 0, PG_FINISH_LENGTH, "\t", &u, 1);
    srv_req_lock(p.r);
    char *body;
    size_t len;
    CHECK(oai_body(&C, p.o, p.r, &body, &len) == 200);
    srv_req_unlock(p.r);
    check_bytes("completion body", body, len,
                "{\"id\":\"cmpl-1\",\"object\":\"text_completion\",\"created\":1700000000,\"model\":\"demo\",\"choices\":"
                "[{\"index\":0,\"text\":\"xya\\t\",\"logprobs\":null,\"finish_reason\":\"length\"},{\"index\":1,"
                "\"text\":\"zb\",\"logprobs\":null,\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":5,"
                "\"completion_tokens\":2,\"total_tokens\":7,\"prompt_tokens_details\":{\"cached_tokens\":2}}}");
    free(body);
    done(&p);

    p = start(OAI_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"q\"}],\"logprobs\":true,\"top_logprobs\":1}");
    pg_sample_out s = {.token = a, .logprob = -0.5f, .n_top = 1, .top_id = {a}, .top_logprob = {-0.5f}};
    ev_token(0, 0, a, "a", &s);
    ev_done(0, 0, PG_FINISH_CANCELLED, "", NULL, 1);
    srv_req_lock(p.r);
    CHECK(oai_body(&C, p.o, p.r, &body, &len) == 200);
    srv_req_unlock(p.r);
    int32_t n_prompt = p.g->prompts[0].n;
    char want[2048];
    snprintf(want, sizeof want,
             "{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion\",\"created\":1700000000,\"model\":\"demo\",\"choices\":"
             "[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"a\"},\"logprobs\":{\"content\":[{\"token\":"
             "\"a\",\"logprob\":-0.5,\"bytes\":[97],\"top_logprobs\":[{\"token\":\"a\",\"logprob\":-0.5,\"bytes\":[97]}]}]},"
             "\"finish_reason\":\"abort\"}],\"usage\":{\"prompt_tokens\":%d,\"completion_tokens\":0,\"total_tokens\":%d,"
             "\"prompt_tokens_details\":{\"cached_tokens\":0}}}",
             n_prompt, n_prompt);
    check_bytes("chat body", body, len, want);
    free(body);
    done(&p);

    /* an engine error becomes the response */
    p = start(OAI_COMPLETION, "{\"prompt\":\"x\"}");
    pg_engine_event e = {.type = PG_EV_ERROR, .error_code = PG_ERANGE, .error_msg = "too far", .last = 1};
    F.q[0].cb(&e, F.q[0].user);
    srv_req_lock(p.r);
    CHECK(oai_body(&C, p.o, p.r, &body, &len) == 400);
    srv_req_unlock(p.r);
    check_bytes("error body", body, len,
                "{\"error\":{\"message\":\"too far\",\"type\":\"invalid_request_error\",\"param\":null,\"code\":null}}");
    free(body);
    done(&p);
}

/* The hand-written JSON writer against jansson on awkward values. */
static void test_writer(void) {
    static const double reals[] = {-0.5, 1e-5, -0.00078398198820650578, 1e21, -3.0, 123456789012345678.0, -1e-300,
                                   (double)-0.1f, 0.0};
    for (size_t i = 0; i < sizeof reals / sizeof reals[0]; i++) {
        srv_buf b = {0};
        srv_buf_real(&b, reals[i]);
        json_t *x = json_real(reals[i]);
        char *j = json_dumps(x, JSON_ENCODE_ANY);
        check_bytes("real", b.p, b.len, j);
        free(j);
        json_decref(x);
        srv_buf_free(&b);
    }
    static const char *strs[] = {"plain", "q\"b\\s/", "\x01\x1f\x7f\b\f\n\r\t", "caf\xc3\xa9 \xf0\x9f\x90\x8d",
                                 "\xe2\x80\xa8"};
    for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++) {
        srv_buf b = {0};
        srv_buf_jstr(&b, strs[i], strlen(strs[i]));
        json_t *s = json_string(strs[i]);
        char *j = json_dumps(s, JSON_ENCODE_ANY);
        check_bytes("string", b.p, b.len, j);
        free(j);
        json_decref(s);
        srv_buf_free(&b);
    }
    /* invalid UTF-8 (what json_stringn refuses) becomes "" */
    static const char *bad[] = {"\xc3", "\xc0\x80", "\xed\xa0\x80", "\xf4\x90\x80\x80", "a\xff"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK(!srv_utf8_valid(bad[i], strlen(bad[i])));
        CHECK(json_stringn(bad[i], strlen(bad[i])) == NULL);
        srv_buf b = {0};
        srv_buf_jstr(&b, bad[i], strlen(bad[i]));
        check_bytes("invalid", b.p, b.len, "\"\"");
        srv_buf_free(&b);
    }
    srv_buf b = {0};
    srv_buf_jstr(&b, "a\0b", 3);
    check_bytes("nul", b.p, b.len, "\"a\\u0000b\"");
    srv_buf_free(&b);
}

/* ---------- tools (issue 22) ---------- */

/* Copies s with every "call_<hex>" id replaced by "call_X" (ids are random). */
static size_t mask_ids(const char *s, size_t n, char *out) {
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        if (n - i > 5 && !memcmp(s + i, "call_", 5)) {
            memcpy(out + o, "call_X", 6);
            o += 6;
            i += 5;
            while (i < n && ((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) i++;
        } else {
            out[o++] = s[i++];
        }
    }
    out[o] = 0;
    return o;
}

#define TOOLS_JSON                                                                                                   \
    "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"get\",\"parameters\":{\"type\":\"object\","            \
    "\"properties\":{\"a\":{\"type\":\"integer\"}}}}},{\"type\":\"function\",\"function\":{\"name\":\"put\"}}]"

static void test_tools(void) {
    pg_tc_style saved = C.tc;
    pg_tc_style_of(PG_TC_HERMES, &C.tc);
    C.tc.think = PG_TC_THINK_OPTIONAL;
    C.tc.think_open = "<think>";
    C.tc.think_close = "</think>";
    /* request fields */
    parsed p = parse(OAI_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"q\"}]," TOOLS_JSON "}");
    CHECK(p.status == 0 && p.o->tool_mode == OAI_TOOLS_AUTO && p.o->n_tools == 2 && p.o->parallel_calls == 1);
    CHECK(p.o->parse_out && p.o->tool_gbnf && p.o->n_tool_triggers == 1 && !strcmp(p.o->tool_triggers[0], "<tool_call>"));
    CHECK(!strcmp(p.o->tools[1].schema, "{\"type\":\"object\"}"));
    CHECK(p.g->base.grammar && p.g->base.n_grammar_triggers == 1 && !strcmp(p.g->base.grammar_triggers[0], "<tool_call>"));
    CHECK(p.g->base.detok_special == 1); /* markers may be control tokens */
    done(&p);
    p = parse(OAI_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"q\"}]," TOOLS_JSON
                        ",\"tool_choice\":{\"type\":\"function\",\"function\":{\"name\":\"put\"}}}");
    CHECK(p.status == 0 && p.o->tool_mode == OAI_TOOLS_NAMED && p.o->tool_named == 1 && !p.o->parallel_calls);
    CHECK(p.o->n_tool_triggers == 0 && strstr(p.o->tool_gbnf, "put") && !strstr(p.o->tool_gbnf, "\\\"get\\\""));
    CHECK(p.g->base.grammar && p.g->base.n_grammar_triggers == 0);
    done(&p);
    p = parse(OAI_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"q\"}]," TOOLS_JSON
                        ",\"tool_choice\":\"none\",\"reasoning_format\":\"none\"}");
    CHECK(p.status == 0 && p.o->tool_mode == OAI_TOOLS_OFF && !p.o->parse_out && !p.o->tool_gbnf);
    CHECK(!p.g->base.grammar && p.g->base.detok_special == 0);
    done(&p);
    static const struct {
        const char *body, *param;
    } bad[] = {
        {"{\"messages\":[{\"role\":\"user\",\"content\":\"q\"}]," TOOLS_JSON ",\"tool_choice\":\"always\"}", "tool_choice"},
        {"{\"messages\":[{\"role\":\"user\",\"content\":\"q\"}],\"tool_choice\":\"auto\"}", "tool_choice"},
        {"{\"messages\":[{\"role\":\"user\",\"content\":\"q\"}],\"tools\":[]}", "tools"},
        {"{\"messages\":[{\"role\":\"user\",\"content\":\"q\"}],\"tools\":[{\"type\":\"function\",\"function\":{\"name\":"
         "\"f\",\"parameters\":{\"type\":\"object\",\"properties\":{\"x\":{\"type\":\"strange\"}}}}}]}",
         "tools[0].function.parameters"},
        {"{\"messages\":[{\"role\":\"user\",\"content\":\"q\"},{\"role\":\"assistant\",\"tool_calls\":[{\"id\":\"c1\","
         "\"type\":\"function\",\"function\":{\"name\":\"get\",\"arguments\":\"{}\"}}]},{\"role\":\"tool\","
         "\"tool_call_id\":\"c2\",\"content\":\"r\"}]}",
         "messages[2].tool_call_id"},
        {"{\"messages\":[{\"role\":\"user\",\"content\":\"q\"},{\"role\":\"assistant\",\"tool_calls\":[{\"id\":\"c1\","
         "\"type\":\"function\",\"function\":{\"name\":\"get\",\"arguments\":\"[1,\"}}]}]}",
         "messages[1].tool_calls[0]"},
        {"{\"messages\":[{\"role\":\"user\",\"content\":\"q\"}],\"function_call\":\"auto\"}", "function_call"},
        {"{\"messages\":[{\"role\":\"user\",\"content\":\"q\"}]," TOOLS_JSON ",\"response_format\":{\"type\":"
         "\"json_object\"}}",
         "tool_choice"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        p = parse(OAI_CHAT, bad[i].body);
        CHECKF(p.status == 400 && !strcmp(err_param(&p), bad[i].param), "tools bad %zu: %d param %s", i, p.status,
               p.status ? err_param(&p) : "-");
        done(&p);
    }
    /* a tool result that answers an earlier call renders */
    p = parse(OAI_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"q\"},{\"role\":\"assistant\",\"tool_calls\":[{"
                        "\"id\":\"c1\",\"type\":\"function\",\"function\":{\"name\":\"get\",\"arguments\":\"{\\\"a\\\":1}\"}}]},"
                        "{\"role\":\"tool\",\"tool_call_id\":\"c1\",\"content\":\"r\"}]," TOOLS_JSON "}");
    CHECK(p.status == 0);
    done(&p);

    /* the stream: reasoning, content, a marker split across tokens, a call */
    int32_t a = tok1("a");
    p = start(OAI_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"q\"}],\"stream\":true," TOOLS_JSON "}");
    srv_buf b = {0};
    ev_token(0, 0, a, "<think>mull", NULL);
    ev_token(0, 0, a, "ing</think>\n", NULL);
    ev_token(0, 0, a, "Hi <tool", NULL);
    ev_token(0, 0, a, "_call>{\"name\":\"get\",\"arguments\":{\"a\": 1}}</tool_call>", NULL);
    ev_done(0, 0, PG_FINISH_STOP, "", NULL, 1);
    stream_all(&p, &b, 1);
    const char *head = "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,"
                       "\"model\":\"demo\",\"choices\":[";
    char want[4096];
    snprintf(want, sizeof want,
             "%s{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"logprobs\":null,\"finish_reason\":null}]}\n\n"
             "%s{\"index\":0,\"delta\":{\"reasoning_content\":\"mull\"},\"logprobs\":null,\"finish_reason\":null}]}\n\n"
             "%s{\"index\":0,\"delta\":{\"reasoning_content\":\"ing\"},\"logprobs\":null,\"finish_reason\":null}]}\n\n"
             "%s{\"index\":0,\"delta\":{\"content\":\"Hi\"},\"logprobs\":null,\"finish_reason\":null}]}\n\n"
             "%s{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"call_X\",\"type\":\"function\",\"function\":"
             "{\"name\":\"get\",\"arguments\":\"\"}}]},\"logprobs\":null,\"finish_reason\":null}]}\n\n"
             "%s{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"{\\\"a\\\":1}\"}}]},"
             "\"logprobs\":null,\"finish_reason\":null}]}\n\n"
             "%s{\"index\":0,\"delta\":{},\"logprobs\":null,\"finish_reason\":\"tool_calls\"}]}\n\n"
             "data: [DONE]\n\n",
             head, head, head, head, head, head, head);
    char *masked = malloc(b.len * 2 + 1);
    size_t n = mask_ids(b.p, b.len, masked);
    check_bytes("tool stream", masked, n, want);
    free(masked);
    srv_buf_free(&b);
    done(&p);

    /* the whole body */
    p = start(OAI_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"q\"}]," TOOLS_JSON "}");
    ev_token(0, 0, a, "<think>why</think>Sure. <tool_call>{\"name\":\"put\",\"arguments\":{}}</tool_call>", NULL);
    ev_token(0, 0, a, "<tool_call>{\"name\":\"get\",\"arguments\":{\"a\":2}}</tool_call>", NULL);
    ev_done(0, 0, PG_FINISH_STOP, "", NULL, 1);
    char *body;
    size_t bl;
    srv_req_lock(p.r);
    CHECK(oai_body(&C, p.o, p.r, &body, &bl) == 200);
    srv_req_unlock(p.r);
    json_t *j = json_loadb(body, bl, 0, NULL);
    json_t *ch = json_array_get(json_object_get(j, "choices"), 0), *m = json_object_get(ch, "message");
    CHECK(!strcmp(json_string_value(json_object_get(ch, "finish_reason")), "tool_calls"));
    CHECK(!strcmp(json_string_value(json_object_get(m, "content")), "Sure."));
    CHECK(!strcmp(json_string_value(json_object_get(m, "reasoning_content")), "why"));
    json_t *calls = json_object_get(m, "tool_calls");
    CHECK(json_array_size(calls) == 2);
    json_t *c0 = json_array_get(calls, 0), *c1 = json_array_get(calls, 1);
    CHECK(!strcmp(json_string_value(json_object_get(json_object_get(c1, "function"), "arguments")), "{\"a\":2}"));
    CHECK(!strcmp(json_string_value(json_object_get(json_object_get(c0, "function"), "name")), "put"));
    CHECK(!strcmp(json_string_value(json_object_get(c0, "type")), "function"));
    const char *id0 = json_string_value(json_object_get(c0, "id")), *id1 = json_string_value(json_object_get(c1, "id"));
    CHECK(id0 && id1 && !strncmp(id0, "call_", 5) && strlen(id0) > 20 && strcmp(id0, id1));
    json_decref(j);
    free(body);
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
    test_parse_completion();
    test_parse_chat();
    test_parse_errors();
    test_stream_completion();
    test_stream_chat();
    test_bodies();
    test_writer();
    test_tools();
    pg_tpl_free(tpl);
    pg_vocab_free(v);
    pg_model_free(m);
    free(img);
    return t_done("test_openai");
}
