/* test_toolcall.c - tool-call / reasoning output parsing (src/server/toolcall.c):
 * format detection from the shared real templates, every format's one-shot
 * parse (plain content, one call, several, text before calls, thinking plus
 * calls, malformed left as content), and the stream: every sample split at
 * every byte boundary, and fed byte by byte, reassembles to the one-shot
 * parse with calls announced once, in order. */
#include "test.h"

#include "base/error.h"
#include "sample/grammar.h"
#include "server/toolcall.h"

#include <stdint.h>

typedef struct sample {
    pg_tc_format f;
    const char *text;
    const char *content;   /* expected */
    const char *reasoning; /* expected ("" none) */
    const char *calls;     /* "name args\nname args" ("" none) */
} sample;

#define DSB "<\xef\xbd\x9ctool\xe2\x96\x81" "calls\xe2\x96\x81" "begin\xef\xbd\x9c>"
#define DSE "<\xef\xbd\x9ctool\xe2\x96\x81" "calls\xe2\x96\x81" "end\xef\xbd\x9c>"
#define DCB "<\xef\xbd\x9ctool\xe2\x96\x81" "call\xe2\x96\x81" "begin\xef\xbd\x9c>"
#define DCE "<\xef\xbd\x9ctool\xe2\x96\x81" "call\xe2\x96\x81" "end\xef\xbd\x9c>"
#define DSEP "<\xef\xbd\x9ctool\xe2\x96\x81sep\xef\xbd\x9c>"

static const sample samples[] = {
    /* Hermes 2/3, Qwen 2.5 */
    {PG_TC_HERMES, "Hello there, how can I help?", "Hello there, how can I help?", "", ""},
    {PG_TC_HERMES, "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>", "", "",
     "get_weather {\"city\":\"Paris\"}"},
    {PG_TC_HERMES,
     "<tool_call>\n{\"name\": \"a\", \"arguments\": {\"x\": 1}}\n</tool_call>\n<tool_call>\n{\"name\": \"b\", "
     "\"arguments\": {\"y\": [1, {\"z\": \"}\"}]}}\n</tool_call>",
     "", "", "a {\"x\":1}\nb {\"y\":[1,{\"z\":\"}\"}]}"},
    {PG_TC_HERMES, "Let me check. \n<tool_call>{\"name\":\"f\",\"arguments\":{}}</tool_call>", "Let me check.", "", "f {}"},
    {PG_TC_HERMES, "<think>\nThe user wants weather.\n</think>\n\n<tool_call>\n{\"name\": \"w\", \"arguments\": {\"c\": \"x\"}}\n</tool_call>",
     "", "The user wants weather.", "w {\"c\":\"x\"}"},
    {PG_TC_HERMES, "<tool_call>\n{\"name\": \"w\", \"arguments\": {bad json}}\n</tool_call>",
     "<tool_call>\n{\"name\": \"w\", \"arguments\": {bad json}}\n</tool_call>", "", ""},
    {PG_TC_HERMES, "<tool_call>{\"arguments\": {}}</tool_call> ok", "<tool_call>{\"arguments\": {}}</tool_call> ok", "", ""},
    {PG_TC_HERMES, "x <tool_call>{\"name\":\"f\",\"arguments\":{\"a\":1}}", "x", "", "f {\"a\":1}"},
    {PG_TC_HERMES, "x <tool_call>{\"name\":\"f\",\"arguments\":{\"a\":", "x <tool_call>{\"name\":\"f\",\"arguments\":{\"a\":", "", ""},
    {PG_TC_HERMES, "a <tool_ b <tool_call>{\"name\":\"f\",\"arguments\":\"{\\\"q\\\": 2}\"}</tool_call>", "a <tool_ b", "",
     "f {\"q\":2}"},
    {PG_TC_HERMES, "<think>unfinished thought", "", "unfinished thought", ""},
    {PG_TC_HERMES,
     "<think> a  b\n c </think>  x y <tool_call>{\"name\":\"f\",\"arguments\":{}}</tool_call> z  w \n<tool_c"
     "all>{\"name\":\"g\",\"arguments\":{\"s\":\" <tool_call> \"}}</tool_call>  ",
     "x y z  w", "a  b\n c", "f {}\ng {\"s\":\" <tool_call> \"}"},
    {PG_TC_HERMES, "  plain words  with  spaces  ", "  plain words  with  spaces  ", "", ""},
    {PG_TC_GENERIC, " a  b  c ", " a  b  c ", "", ""},
    {PG_TC_HERMES, "<tool_call>{\"name\":\"f\",\"arguments\":{}}</tool_call> trailing words", "trailing words", "", "f {}"},
    /* Llama 3.x */
    {PG_TC_LLAMA3, "The capital of France is Paris.", "The capital of France is Paris.", "", ""},
    {PG_TC_LLAMA3, "{\"name\": \"get_weather\", \"parameters\": {\"location\": \"Paris\"}}", "", "",
     "get_weather {\"location\":\"Paris\"}"},
    {PG_TC_LLAMA3, "{\"name\": \"a\", \"parameters\": {}}; {\"name\": \"b\", \"parameters\": {\"k\": true}}", "", "",
     "a {}\nb {\"k\":true}"},
    {PG_TC_LLAMA3, "Sure.<|python_tag|>brave_search.call(query=\"weather in Paris\")", "Sure.", "",
     "brave_search {\"query\":\"weather in Paris\"}"},
    {PG_TC_LLAMA3, "<|python_tag|>print(1 + 1)", "", "", "python {\"code\":\"print(1 + 1)\"}"},
    {PG_TC_LLAMA3, "<|python_tag|>{\"name\": \"f\", \"parameters\": {\"a\": 1}}", "", "", "f {\"a\":1}"},
    {PG_TC_LLAMA3, "{\"name\": \"f\", \"parameters\": {\"a\": 1} oops", "{\"name\": \"f\", \"parameters\": {\"a\": 1} oops", "", ""},
    {PG_TC_LLAMA3, "{\"answer\": 42}", "{\"answer\": 42}", "", ""},
    /* Mistral Nemo / Large */
    {PG_TC_MISTRAL, "Bonjour!", "Bonjour!", "", ""},
    {PG_TC_MISTRAL, "[TOOL_CALLS][{\"name\": \"f\", \"arguments\": {\"a\": \"b\"}, \"id\": \"abcdefghi\"}]", "", "",
     "f {\"a\":\"b\"}"},
    {PG_TC_MISTRAL, "Checking.[TOOL_CALLS][{\"name\": \"f\", \"arguments\": {}}, {\"name\": \"g\", \"arguments\": {\"n\": 2}}]",
     "Checking.", "", "f {}\ng {\"n\":2}"},
    {PG_TC_MISTRAL, "[TOOL_CALLS][{\"name\": \"f\", \"arguments\": 3}]", "[TOOL_CALLS][{\"name\": \"f\", \"arguments\": 3}]", "", ""},
    /* Functionary v3.1 */
    {PG_TC_FUNCTIONARY31, "Hi!", "Hi!", "", ""},
    {PG_TC_FUNCTIONARY31, "<function=get_weather>{\"city\": \"Oslo\"}</function>", "", "", "get_weather {\"city\":\"Oslo\"}"},
    {PG_TC_FUNCTIONARY31, "Two calls: <function=a>{}</function><function=b>{\"x\": [1]}</function>", "Two calls:", "",
     "a {}\nb {\"x\":[1]}"},
    {PG_TC_FUNCTIONARY31, "<|python_tag|>import math\nprint(math.pi)", "", "", "python {\"code\":\"import math\\nprint(math.pi)\"}"},
    {PG_TC_FUNCTIONARY31, "<function=bad name>{}</function>", "<function=bad name>{}</function>", "", ""},
    /* Functionary v3.2 */
    {PG_TC_FUNCTIONARY32, "all\nJust text.", "Just text.", "", ""},
    {PG_TC_FUNCTIONARY32, "get_weather\n{\"city\": \"Rome\"}", "", "", "get_weather {\"city\":\"Rome\"}"},
    {PG_TC_FUNCTIONARY32, ">>>all\nLet me look.>>>a\n{\"x\": 1}>>>b\n{}", "Let me look.", "", "a {\"x\":1}\nb {}"},
    {PG_TC_FUNCTIONARY32, "Plain answer without a prefix.", "Plain answer without a prefix.", "", ""},
    {PG_TC_FUNCTIONARY32, "all\nok>>>f\n{not json}", "ok>>>f\n{not json}", "", ""},
    {PG_TC_FUNCTIONARY32, ">>>python\nprint(2)", "", "", "python {\"code\":\"print(2)\"}"},
    /* Firefunction v2 */
    {PG_TC_FIREFUNCTION2, "Hello.", "Hello.", "", ""},
    {PG_TC_FIREFUNCTION2, " functools[{\"name\": \"f\", \"arguments\": {\"q\": \"x\"}}]", "", "", "f {\"q\":\"x\"}"},
    {PG_TC_FIREFUNCTION2, "I will call two. functools[{\"name\": \"f\", \"arguments\": {}}, {\"name\": \"g\", \"arguments\": {}}]",
     "I will call two.", "", "f {}\ng {}"},
    {PG_TC_FIREFUNCTION2, " functools[{\"name\": 5}]", " functools[{\"name\": 5}]", "", ""},
    /* Command R7B */
    {PG_TC_COMMAND_R7B, "<|START_RESPONSE|>Hello!<|END_RESPONSE|>", "Hello!", "", ""},
    {PG_TC_COMMAND_R7B,
     "<|START_THINKING|>I should look it up.<|END_THINKING|><|START_ACTION|>[\n    {\"tool_call_id\": \"0\", "
     "\"tool_name\": \"search\", \"parameters\": {\"q\": \"x\"}}\n]<|END_ACTION|>",
     "", "I should look it up.", "search {\"q\":\"x\"}"},
    {PG_TC_COMMAND_R7B,
     "<|START_ACTION|>[{\"tool_call_id\": \"0\", \"tool_name\": \"a\", \"parameters\": {}}, {\"tool_call_id\": \"1\", "
     "\"tool_name\": \"b\", \"parameters\": {\"k\": 1}}]<|END_ACTION|>",
     "", "", "a {}\nb {\"k\":1}"},
    {PG_TC_COMMAND_R7B, "<|START_ACTION|>[{\"tool_name\": \"a\"]<|END_ACTION|>", "<|START_ACTION|>[{\"tool_name\": \"a\"]<|END_ACTION|>", "", ""},
    /* DeepSeek R1 */
    {PG_TC_DEEPSEEK_R1, "Thinking about it.\n</think>\n\nThe answer is 4.", "The answer is 4.", "Thinking about it.", ""},
    {PG_TC_DEEPSEEK_R1,
     "Need the weather.</think>" DSB DCB "function" DSEP "get_weather\n```json\n{\"city\": \"Lima\"}\n```" DCE DSE, "",
     "Need the weather.", "get_weather {\"city\":\"Lima\"}"},
    {PG_TC_DEEPSEEK_R1,
     "<think>two</think>Calling." DSB DCB "function" DSEP "a\n```json\n{}\n```" DCE "\n" DCB "function" DSEP
     "b\n```json\n{\"z\": null}\n```" DCE DSE,
     "Calling.", "two", "a {}\nb {\"z\":null}"},
    {PG_TC_DEEPSEEK_R1, "ok</think>" DCB "function" DSEP "f\n```json\n{oops}\n```" DCE,
     DCB "function" DSEP "f\n```json\n{oops}\n```" DCE, "ok", ""},
    /* generic */
    {PG_TC_GENERIC, "Just words.", "Just words.", "", ""},
    {PG_TC_GENERIC, "{\"tool_calls\": [{\"name\": \"f\", \"arguments\": {\"a\": 1}}]}", "", "", "f {\"a\":1}"},
    {PG_TC_GENERIC, "{\"tool_calls\":[{\"name\":\"f\",\"arguments\":{}},{\"name\":\"g\",\"arguments\":{\"b\":\"c\"}}]}", "", "",
     "f {}\ng {\"b\":\"c\"}"},
    {PG_TC_GENERIC, "{\"response\": \"Hello, world\"}", "Hello, world", "", ""},
    {PG_TC_GENERIC, "{\"tool_calls\": [{\"arguments\": {}}]}", "{\"tool_calls\": [{\"arguments\": {}}]}", "", ""},
};

static void calls_text(const pg_tc_call *c, size_t n, char *out, size_t cap) {
    size_t o = 0;
    out[0] = 0;
    for (size_t i = 0; i < n && o < cap; i++)
        o += (size_t)snprintf(out + o, cap - o, "%s%s %s", i ? "\n" : "", c[i].name, c[i].arguments);
}

typedef struct acc {
    char content[4096], reasoning[4096], calls[4096];
    size_t cl, rl, kl;
    int32_t next_index;
    int bad;
} acc;

static void acc_events(acc *a, const pg_tc_event *ev, size_t n) {
    for (size_t i = 0; i < n; i++) {
        const pg_tc_event *e = &ev[i];
        switch (e->kind) {
        case PG_TC_EV_CONTENT:
            memcpy(a->content + a->cl, e->text, e->len);
            a->cl += e->len;
            break;
        case PG_TC_EV_REASONING:
            memcpy(a->reasoning + a->rl, e->text, e->len);
            a->rl += e->len;
            break;
        case PG_TC_EV_CALL_START:
            if (e->index != a->next_index) a->bad = 1; /* in order, never repeated */
            a->next_index++;
            a->kl += (size_t)snprintf(a->calls + a->kl, sizeof a->calls - a->kl, "%s%.*s ", e->index ? "\n" : "",
                                      (int)e->len, e->text);
            break;
        case PG_TC_EV_CALL_ARGS:
            if (e->index != a->next_index - 1) a->bad = 1;
            a->kl += (size_t)snprintf(a->calls + a->kl, sizeof a->calls - a->kl, "%.*s", (int)e->len, e->text);
            break;
        }
    }
    a->content[a->cl] = a->reasoning[a->rl] = a->calls[a->kl] = 0;
}

/* Feeds text cut at the given points; compares with the one-shot parse. */
static int stream_matches(const pg_tc_style *st, unsigned fl, const char *t, size_t n, const size_t *cuts, size_t ncuts,
                          const pg_tc_result *want) {
    pg_tc_stream *s = pg_tc_stream_create(st, fl);
    acc a;
    memset(&a, 0, sizeof a);
    size_t prev = 0;
    for (size_t k = 0; k <= ncuts; k++) {
        size_t end = k < ncuts ? cuts[k] : n;
        const pg_tc_event *ev;
        size_t nev;
        if (pg_tc_stream_feed(s, t + prev, end - prev, k == ncuts, &ev, &nev)) a.bad = 1;
        acc_events(&a, ev, nev);
        prev = end;
    }
    char wc[4096];
    calls_text(want->calls, want->n_calls, wc, sizeof wc);
    int ok = !a.bad && !strcmp(a.content, want->content) && !strcmp(a.reasoning, want->reasoning) && !strcmp(a.calls, wc);
    if (!ok)
        fprintf(stderr, "stream mismatch: content '%s' vs '%s', reasoning '%s' vs '%s', calls '%s' vs '%s'\n", a.content,
                want->content, a.reasoning, want->reasoning, a.calls, wc);
    pg_tc_stream_destroy(s);
    return ok;
}

static void test_samples(void) {
    for (size_t i = 0; i < sizeof samples / sizeof samples[0]; i++) {
        const sample *x = &samples[i];
        pg_tc_style st;
        pg_tc_style_of(x->f, &st);
        if (x->f == PG_TC_HERMES) { /* Qwen 3 style: <think> optional */
            st.think = PG_TC_THINK_OPTIONAL;
            st.think_open = "<think>";
            st.think_close = "</think>";
        }
        pg_tc_result r;
        size_t n = strlen(x->text);
        REQUIRE(pg_tc_parse(&st, x->text, n, 0, &r) == 0);
        char calls[4096];
        calls_text(r.calls, r.n_calls, calls, sizeof calls);
        CHECKF(!strcmp(r.content, x->content), "sample %zu (%s): content '%s' want '%s'", i, pg_tc_format_name(x->f),
               r.content, x->content);
        CHECKF(!strcmp(r.reasoning, x->reasoning), "sample %zu: reasoning '%s' want '%s'", i, r.reasoning, x->reasoning);
        CHECKF(!strcmp(calls, x->calls), "sample %zu: calls '%s' want '%s'", i, calls, x->calls);
        /* every single split, and byte by byte */
        int bad = 0;
        for (size_t k = 0; k <= n && !bad; k++) bad = !stream_matches(&st, 0, x->text, n, &k, 1, &r);
        CHECKF(!bad, "sample %zu: a two-piece split differs", i);
        size_t *cuts = malloc((n + 1) * sizeof *cuts);
        for (size_t k = 0; k < n; k++) cuts[k] = k + 1;
        CHECKF(stream_matches(&st, 0, x->text, n, cuts, n ? n - 1 : 0, &r), "sample %zu: byte by byte differs", i);
        free(cuts);
        pg_tc_result_free(&r);
        /* reasoning kept inline: no reasoning, thinking text in content */
        REQUIRE(pg_tc_parse(&st, x->text, n, PG_TC_REASONING_INLINE, &r) == 0);
        CHECK(r.reasoning_len == 0);
        if (x->reasoning[0]) CHECKF(strstr(r.content, x->reasoning) != NULL, "sample %zu: inline reasoning", i);
        pg_tc_result_free(&r);
    }
}

/* Random texts built from marker fragments and JSON pieces, for every
 * format: random splits reassemble to the one-shot parse (and the stream's
 * own invariant checks, which abort, never fire). */
static void test_random(void) {
    static const char *const frag[] = {
        "<tool_call>", "</tool_call>", "<tool_", "{", "}", "[", "]", "\"name\"", "\"tool_name\"", ": ", ":", "\"f\"",
        ", ", "\"arguments\"", "\"parameters\"", "{}", " ", "\n", "  ", "<think>", "</think>", "</th", "[TOOL_CALLS]",
        ">>>", "all\n", "f\n", "functools", "<function=", "g>", "</function>", "<|python_tag|>", "<|START_ACTION|>",
        "<|END_ACTION|>", "<|START_THINKING|>", "<|END_THINKING|>", "<|START_RESPONSE|>", "<|END_RESPONSE|>",
        DSB, DCB, DCE, DSE, DSEP, "function", "```json\n", "\n```", "word", "\"x\\\"}\"", "1", ";", ".call(q=\"v\")",
        "\"tool_calls\"", "\"response\"", "\"hi\"", "{\"name\": \"f\", \"arguments\": {\"a\": [1]}}",
        "[{\"name\":\"f\",\"arguments\":{}}]", "{\"tool_name\": \"t\", \"parameters\": {}}",
        "{\"name\": \"f\", \"parameters\": {}}", "{\"k\": \"v\"}",
    };
    const size_t nf = sizeof frag / sizeof frag[0];
    uint64_t rng = 0x9E3779B97F4A7C15ULL;
#define RND() (rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17, rng)
    int bad = 0, with_calls = 0, with_reasoning = 0;
    for (int f = 0; f < PG_TC_N_FORMATS; f++) {
        for (int think = 0; think < 3; think++) {
            pg_tc_style st;
            pg_tc_style_of((pg_tc_format)f, &st);
            if (think && !st.think_open) {
                st.think = think;
                st.think_open = "<think>";
                st.think_close = "</think>";
            }
            for (int it = 0; it < 300; it++) {
                char text[1024];
                size_t n = 0;
                int parts = 1 + (int)(RND() % 24);
                for (int k = 0; k < parts; k++) {
                    const char *x = frag[RND() % nf];
                    size_t l = strlen(x);
                    if (n + l >= sizeof text) break;
                    memcpy(text + n, x, l);
                    n += l;
                }
                text[n] = 0;
                pg_tc_result r;
                REQUIRE(pg_tc_parse(&st, text, n, 0, &r) == 0);
                with_calls += r.n_calls > 0;
                with_reasoning += r.reasoning_len > 0;
                size_t cuts[16], nc = 0, prev = 0;
                int pieces = (int)(RND() % 12);
                for (int k = 0; k < pieces && n; k++) {
                    size_t c = prev + (size_t)(RND() % (n - prev + 1));
                    if (c > prev && c < n) cuts[nc++] = prev = c;
                }
                if (!stream_matches(&st, 0, text, n, cuts, nc, &r)) {
                    if (bad++ < 5) fprintf(stderr, "random %s think %d: text [%s]\n", pg_tc_format_name((pg_tc_format)f), think, text);
                }
                size_t *every = malloc((n + 1) * sizeof *every);
                for (size_t k = 0; k + 1 < n; k++) every[k] = k + 1;
                if (!stream_matches(&st, 0, text, n, every, n > 1 ? n - 1 : 0, &r) && bad++ < 5)
                    fprintf(stderr, "random byte by byte %s: [%s]\n", pg_tc_format_name((pg_tc_format)f), text);
                free(every);
                pg_tc_result_free(&r);
            }
        }
    }
#undef RND
    CHECKF(bad == 0, "%d random texts stream differently", bad);
    printf("test_toolcall: random texts: %d with calls, %d with reasoning\n", with_calls, with_reasoning);
    CHECK(with_calls >= 50 && with_reasoning >= 500); /* the texts reach the call and reasoning paths */
}

/* Detection over the shared templates. */
static void test_detect(const char *dir) {
    static const struct {
        const char *file;
        pg_tc_format f;
        int think;
    } want[] = {
        {"NousResearch-Hermes-2-Pro-Llama-3-8B-tool_use.jinja", PG_TC_HERMES, PG_TC_THINK_NONE},
        {"Qwen-Qwen2.5-7B-Instruct.jinja", PG_TC_HERMES, PG_TC_THINK_NONE},
        {"deepseek-ai-DeepSeek-R1-Distill-Llama-8B.jinja", PG_TC_DEEPSEEK_R1, PG_TC_THINK_FORCED},
        {"llama-cpp-deepseek-r1.jinja", PG_TC_DEEPSEEK_R1, PG_TC_THINK_FORCED},
        {"fireworks-ai-llama-3-firefunction-v2.jinja", PG_TC_FIREFUNCTION2, PG_TC_THINK_NONE},
        {"meetkai-functionary-medium-v3.1.jinja", PG_TC_FUNCTIONARY31, PG_TC_THINK_NONE},
        {"meta-llama-Llama-3.1-8B-Instruct.jinja", PG_TC_LLAMA3, PG_TC_THINK_NONE},
        {"meta-llama-Llama-3.2-3B-Instruct.jinja", PG_TC_LLAMA3, PG_TC_THINK_NONE},
        {"mistralai-Mistral-Nemo-Instruct-2407.jinja", PG_TC_MISTRAL, PG_TC_THINK_NONE},
        {"test-Mistral-Large-Instruct-2407-mistralai-v3-template-modified-t.jinja", PG_TC_MISTRAL, PG_TC_THINK_NONE},
        {"google-gemma-2-2b-it.jinja", PG_TC_GENERIC, PG_TC_THINK_NONE},
        {"microsoft-Phi-3.5-mini-instruct.jinja", PG_TC_GENERIC, PG_TC_THINK_NONE},
        {"CohereForAI-c4ai-command-r-plus-tool_use.jinja", PG_TC_GENERIC, PG_TC_THINK_NONE},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/templates/%s", dir, want[i].file);
        FILE *f = fopen(path, "rb");
        CHECKF(f != NULL, "%s", path);
        if (!f) continue;
        static char buf[1 << 20];
        size_t n = fread(buf, 1, sizeof buf, f);
        fclose(f);
        pg_tc_style st;
        pg_tc_detect(buf, n, &st);
        CHECKF(st.format == want[i].f && st.think == want[i].think, "%s: detected %s think %d", want[i].file,
               pg_tc_format_name(st.format), st.think);
    }
    /* markers of the formats without a shared template (as their templates write them) */
    static const struct {
        const char *text;
        pg_tc_format f;
        int think;
    } snip[] = {
        {"{{ '<|START_THINKING|>' }}{{ '<|START_ACTION|>' }}", PG_TC_COMMAND_R7B, PG_TC_THINK_OPTIONAL},
        {"{{ '>>>all\\n' + message['content'] }}", PG_TC_FUNCTIONARY32, PG_TC_THINK_NONE},
        {"{{ '<tool_call>' }}{{ '<think>' }}", PG_TC_HERMES, PG_TC_THINK_OPTIONAL},
        {"", PG_TC_GENERIC, PG_TC_THINK_NONE},
    };
    for (size_t i = 0; i < sizeof snip / sizeof snip[0]; i++) {
        pg_tc_style st;
        pg_tc_detect(snip[i].text, strlen(snip[i].text), &st);
        CHECKF(st.format == snip[i].f && st.think == snip[i].think, "snippet %zu: %s", i, pg_tc_format_name(st.format));
    }
    pg_tc_style st;
    pg_tc_detect(NULL, 0, &st);
    CHECK(st.format == PG_TC_GENERIC);
    for (int f = 0; f < PG_TC_N_FORMATS; f++) CHECK(pg_tc_format_from_name(pg_tc_format_name((pg_tc_format)f)) == f);
    CHECK(pg_tc_format_from_name("nope") == -1);
}

/* A stream keeps a half-written marker out of content and fails after the end. */
static void test_stream_misc(void) {
    pg_tc_style st;
    pg_tc_style_of(PG_TC_HERMES, &st);
    pg_tc_stream *s = pg_tc_stream_create(&st, 0);
    const pg_tc_event *ev;
    size_t n;
    REQUIRE(pg_tc_stream_feed(s, "Hi <tool", 8, 0, &ev, &n) == 0);
    CHECK(n == 1 && ev[0].kind == PG_TC_EV_CONTENT && ev[0].len == 2 && !memcmp(ev[0].text, "Hi", 2));
    REQUIRE(pg_tc_stream_feed(s, "_call>{\"name\":\"f\",\"arguments\":{\"k\":\"v\"}}</tool_call>", 52, 0, &ev, &n) == 0);
    CHECK(n == 2 && ev[0].kind == PG_TC_EV_CALL_START && ev[0].index == 0 && ev[0].len == 1);
    CHECK(n == 2 && ev[1].kind == PG_TC_EV_CALL_ARGS && !strncmp(ev[1].text, "{\"k\":\"v\"}", ev[1].len));
    CHECK(pg_tc_stream_n_calls(s) == 1);
    REQUIRE(pg_tc_stream_feed(s, "", 0, 1, &ev, &n) == 0);
    CHECK(n == 0);
    CHECK(pg_tc_stream_feed(s, "x", 1, 0, &ev, &n) == PG_EINVAL);
    pg_tc_stream_destroy(s);
    /* a long plain answer in small pieces stays cheap enough and exact */
    pg_tc_stream *s2 = pg_tc_stream_create(&st, 0);
    size_t total = 0;
    for (int i = 0; i < 2000; i++) {
        REQUIRE(pg_tc_stream_feed(s2, "word ", 5, 0, &ev, &n) == 0);
        for (size_t k = 0; k < n; k++) total += ev[k].len;
    }
    REQUIRE(pg_tc_stream_feed(s2, "", 0, 1, &ev, &n) == 0);
    for (size_t k = 0; k < n; k++) total += ev[k].len;
    CHECK(total == 2000 * 5);
    pg_tc_stream_destroy(s2);
}

/* Grammars: each format's grammar compiles, accepts its own call syntax
 * (which the parser reads back as the same calls) and rejects arguments
 * that break the schema or a tool that is not offered. */
static const char *W = "{\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\",\"maxLength\":12},"
                       "\"days\":{\"type\":\"integer\"}},\"required\":[\"city\"],\"additionalProperties\":false}";
static const char *T = "{\"type\":\"object\",\"properties\":{\"tz\":{\"enum\":[\"UTC\",\"CET\"]}},\"required\":[\"tz\"]}";

static int accepts(pg_grammar *g, const pg_gram_vocab *tv, const char *text) {
    pg_gmatch *m = pg_gmatch_create(g, tv);
    int ok = m && pg_gmatch_accept_bytes(m, text, strlen(text)) == 0 && pg_gmatch_is_accepting(m);
    pg_gmatch_destroy(m);
    return ok;
}

static void test_grammar(void) {
    static const struct {
        pg_tc_format f;
        const char *one, *two, *bad, *auto_text;
    } cases[] = {
        {PG_TC_HERMES, "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\":\"Paris\"}}\n</tool_call>",
         "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\":\"Paris\"}}\n</tool_call>\n<tool_call>\n{\"name\": "
         "\"get_time\", \"arguments\": {\"tz\":\"UTC\"}}\n</tool_call>",
         "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\":5}}\n</tool_call>", "<tool_call>"},
        {PG_TC_LLAMA3, "{\"name\": \"get_weather\", \"parameters\": {\"city\":\"Paris\"}}",
         "{\"name\": \"get_weather\", \"parameters\": {\"city\":\"Paris\"}}; {\"name\": \"get_time\", \"parameters\": {\"tz\":\"UTC\"}}",
         "{\"name\": \"get_weather\", \"parameters\": {\"town\":\"Paris\"}}", "{\"name\": \""},
        {PG_TC_MISTRAL, "[TOOL_CALLS][{\"name\": \"get_weather\", \"arguments\": {\"city\":\"Paris\"}}]",
         "[TOOL_CALLS][{\"name\": \"get_weather\", \"arguments\": {\"city\":\"Paris\"}}, {\"name\": \"get_time\", "
         "\"arguments\": {\"tz\":\"CET\"}}]",
         "[TOOL_CALLS][{\"name\": \"get_weather\", \"arguments\": {}}]", "[TOOL_CALLS]"},
        {PG_TC_FUNCTIONARY31, "<function=get_weather>{\"city\":\"Paris\"}</function>",
         "<function=get_weather>{\"city\":\"Paris\"}</function><function=get_time>{\"tz\":\"UTC\"}</function>",
         "<function=get_weather>{\"city\":\"Paris is too long a name\"}</function>", "<function="},
        {PG_TC_FUNCTIONARY32, "get_weather\n{\"city\":\"Paris\"}", "get_weather\n{\"city\":\"Paris\"}>>>get_time\n{\"tz\":\"UTC\"}",
         "get_weather\n{\"city\":\"Paris\",\"x\":1}", "get_weather\n"},
        {PG_TC_FIREFUNCTION2, "functools[{\"name\": \"get_weather\", \"arguments\": {\"city\":\"Paris\"}}]",
         "functools[{\"name\": \"get_weather\", \"arguments\": {\"city\":\"Paris\"}}, {\"name\": \"get_time\", \"arguments\": "
         "{\"tz\":\"UTC\"}}]",
         "functools[{\"name\": \"get_news\", \"arguments\": {}}]", "functools["},
        {PG_TC_COMMAND_R7B,
         "<|START_ACTION|>[{\"tool_call_id\": \"0\", \"tool_name\": \"get_weather\", \"parameters\": {\"city\":\"Paris\"}}]<|END_ACTION|>",
         "<|START_ACTION|>[{\"tool_call_id\": \"0\", \"tool_name\": \"get_weather\", \"parameters\": {\"city\":\"Paris\"}}, "
         "{\"tool_call_id\": \"12\", \"tool_name\": \"get_time\", \"parameters\": {\"tz\":\"UTC\"}}]<|END_ACTION|>",
         "<|START_ACTION|>[{\"tool_call_id\": \"0\", \"tool_name\": \"get_weather\", \"parameters\": {\"days\":1}}]<|END_ACTION|>",
         "<|START_ACTION|>"},
        {PG_TC_DEEPSEEK_R1,
         "I will call it.</think>\n" DSB DCB "function" DSEP "get_weather\n```json\n{\"city\":\"Paris\"}\n```" DCE DSE,
         "Two.</think>" DSB DCB "function" DSEP "get_weather\n```json\n{\"city\":\"Paris\"}\n```" DCE "\n" DCB "function" DSEP
         "get_time\n```json\n{\"tz\":\"UTC\"}\n```" DCE DSE,
         "x</think>" DSB DCB "function" DSEP "get_weather\n```json\n{\"city\":[]}\n```" DCE DSE, DSB},
        {PG_TC_GENERIC, "{\"tool_calls\": [{\"name\": \"get_weather\", \"arguments\": {\"city\":\"Paris\"}}]}",
         "{\"tool_calls\": [{\"name\": \"get_weather\", \"arguments\": {\"city\":\"Paris\"}}, {\"name\": \"get_time\", "
         "\"arguments\": {\"tz\":\"UTC\"}}]}",
         "{\"tool_calls\": []}", NULL},
    };
    const pg_tc_tool tools[] = {{"get_weather", W}, {"get_time", T}};
    /* a byte-level vocabulary: token i = byte i */
    char bytes[256][1];
    const char *toks[256];
    size_t lens[256];
    for (int i = 0; i < 256; i++) {
        bytes[i][0] = (char)i;
        toks[i] = bytes[i];
        lens[i] = 1;
    }
    pg_error e = {0};
    pg_gram_vocab *tv = pg_gram_vocab_create_raw(toks, lens, 256, NULL, 0, &e);
    REQUIRE(tv != NULL);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        pg_tc_style st;
        pg_tc_style_of(cases[i].f, &st);
        const char *fn = pg_tc_format_name(cases[i].f);
        for (int par = 0; par <= 1; par++) {
            pg_tc_grammar tg;
            char err[256];
            REQUIRE(pg_tc_grammar_build(&st, tools, 2, 1, par, &tg, err, sizeof err) == 0);
            CHECK(tg.n_triggers == 0 && tg.gbnf);
            pg_grammar *g = NULL;
            int rc = pg_grammar_compile(tg.gbnf, strlen(tg.gbnf), NULL, &g, &e);
            CHECKF(rc == 0, "%s: grammar does not compile: %s\n%s", fn, e.msg, tg.gbnf);
            if (rc == 0) {
                CHECKF(accepts(g, tv, cases[i].one), "%s par %d: one call rejected", fn, par);
                CHECKF(accepts(g, tv, cases[i].two) == par, "%s par %d: two calls", fn, par);
                CHECKF(!accepts(g, tv, cases[i].bad), "%s par %d: bad call accepted", fn, par);
                CHECKF(!accepts(g, tv, "Just text."), "%s par %d: text accepted", fn, par);
            }
            pg_grammar_free(g);
            pg_tc_grammar_free(&tg);
        }
        /* the parser reads the grammar's calls back */
        pg_tc_result r;
        REQUIRE(pg_tc_parse(&st, cases[i].two, strlen(cases[i].two), 0, &r) == 0);
        CHECKF(r.n_calls == 2 && !strcmp(r.calls[0].name, "get_weather") && !strcmp(r.calls[0].arguments, "{\"city\":\"Paris\"}") &&
                   !strcmp(r.calls[1].name, "get_time"),
               "%s: parse of the grammar's two calls: %zu calls", fn, r.n_calls);
        pg_tc_result_free(&r);
        /* named: only that tool */
        pg_tc_grammar tg;
        char err[256];
        REQUIRE(pg_tc_grammar_build(&st, tools + 1, 1, 1, 0, &tg, err, sizeof err) == 0);
        pg_grammar *g = NULL;
        if (pg_grammar_compile(tg.gbnf, strlen(tg.gbnf), NULL, &g, &e) == 0) {
            CHECKF(!accepts(g, tv, cases[i].one), "%s: named get_time accepts get_weather", fn);
            pg_grammar_free(g);
        } else {
            CHECKF(0, "%s: named grammar: %s", fn, e.msg);
        }
        pg_tc_grammar_free(&tg);
        /* auto: lazy with the call marker as trigger (generic: whole answer) */
        REQUIRE(pg_tc_grammar_build(&st, tools, 2, 0, 1, &tg, err, sizeof err) == 0);
        if (cases[i].auto_text) {
            CHECKF(tg.n_triggers >= 1 && !strcmp(tg.triggers[0], cases[i].auto_text), "%s: trigger", fn);
            g = NULL;
            REQUIRE(pg_grammar_compile(tg.gbnf, strlen(tg.gbnf), NULL, &g, &e) == 0);
            const char *from = strstr(cases[i].two, tg.triggers[0]);
            CHECKF(from && accepts(g, tv, from), "%s: lazy grammar rejects the calls from the trigger on", fn);
            pg_grammar_free(g);
        } else {
            CHECK(tg.n_triggers == 0);
            g = NULL;
            REQUIRE(pg_grammar_compile(tg.gbnf, strlen(tg.gbnf), NULL, &g, &e) == 0);
            CHECK(accepts(g, tv, "{\"response\": \"Hello \\\"you\\\"\"}"));
            CHECK(accepts(g, tv, cases[i].two));
            CHECK(!accepts(g, tv, "Hello"));
            pg_grammar_free(g);
        }
        pg_tc_grammar_free(&tg);
    }
    /* a schema the front-end refuses names the tool; NONE has no grammar */
    pg_tc_style st;
    pg_tc_style_of(PG_TC_HERMES, &st);
    const pg_tc_tool badt[] = {{"f", "{\"type\":\"object\",\"not\":{}}"}};
    pg_tc_grammar tg;
    char err[256] = "";
    CHECK(pg_tc_grammar_build(&st, badt, 1, 1, 0, &tg, err, sizeof err) < 0 && strstr(err, "tool 'f'"));
    pg_tc_style_of(PG_TC_NONE, &st);
    CHECK(pg_tc_grammar_build(&st, tools, 2, 1, 0, &tg, err, sizeof err) == 0 && tg.gbnf == NULL);
    pg_gram_vocab_free(tv);
}

int main(void) {
    test_grammar();
    test_samples();
    test_stream_misc();
    test_random();
    const char *dir = t_testdata();
    if (dir) test_detect(dir);
    else fprintf(stderr, "test_toolcall: ../shared absent, template detection skipped\n");
    if (t_failures) {
        fprintf(stderr, "test_toolcall: %d of %d checks failed\n", t_failures, t_checks);
        return 1;
    }
    printf("test_toolcall: %d checks ok\n", t_checks);
    return 0;
}
