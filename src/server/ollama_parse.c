/* ollama_parse.c - /api/chat and /api/generate bodies -> the request
 * core's generation spec (see ollama.h).
 *
 * Order: JSON object -> model (404 unless the served one) -> refused
 * fields (images, template, suffix, context, logprobs) -> keep_alive ->
 * options (sampling, stop, num_ctx, num_predict) -> think -> the prompt
 * (chat: messages and tools through the chat template; generate: the
 * prompt as the user message with `system`, or as is with raw) ->
 * max_tokens against the effective context -> format / the tools' lazy
 * grammar. An empty prompt or message list generates nothing: the answer
 * is Ollama's "load" object, returned as a 200 srv_fail body.
 *
 * Like Ollama (Go's JSON decoding), unknown top-level fields and unknown
 * options are ignored; a known field of the wrong type is a 400. Every
 * string kept past the parse is copied into the request's arena. */
#include "server/ollama.h"

#include "base/arena.h"
#include "sample/gram_cache.h"
#include "server/auth.h"
#include "server/prompt.h"
#include "template/tpl_json.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OLL_MAX_TOOLS 128
#define OLL_MAX_DEPTH 64

typedef struct parse_st {
    const srv_ctx *c;
    srv_req *r;
    pg_arena *a;
    srv_gen *g;
    oll_req *o;
    srv_fail *fail;
    long long num_predict; /* <= 0: until the context ends */
    int think;             /* -1 absent, 0 false, 1 true */
    int raw;
    pg_tc_tool *tools;
    int32_t n_tools;
    json_t *tools_json;    /* the body's "tools" (for the template) */
} parse_st;

char *oll_error_body(const char *msg, size_t *len) {
    json_t *o = json_object();
    json_t *m = json_string(msg ? msg : "");
    json_object_set_new(o, "error", m ? m : json_string("(message not valid UTF-8)"));
    return srv_dump(o, len);
}

char *oll_error(int status, const char *msg, const char *type, const char *code, size_t *len) {
    (void)status;
    (void)type;
    (void)code;
    return oll_error_body(msg, len);
}

static int failf(parse_st *p, int status, const char *fmt, ...) {
    char m[700];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(m, sizeof m, fmt, ap);
    va_end(ap);
    p->fail->status = status;
    p->fail->body = oll_error_body(m, &p->fail->len);
    return status;
}

int oll_model_match(const srv_ctx *c, const char *name) {
    if (!name || !c->alias) return 0;
    size_t n = strlen(c->alias);
    if (strncmp(name, c->alias, n)) return 0;
    return !name[n] || !strcmp(name + n, ":latest");
}

/* ---------- keep_alive ---------- */

static int go_duration(const char *s, double *out) {
    double sign = 1, total = 0;
    if (*s == '-' || *s == '+') sign = *s++ == '-' ? -1 : 1;
    if (!strcmp(s, "0")) {
        *out = 0;
        return 0;
    }
    if (!*s) return -1;
    while (*s) {
        char *end;
        if (!((*s >= '0' && *s <= '9') || *s == '.')) return -1;
        double v = strtod(s, &end);
        if (end == s || !isfinite(v)) return -1;
        s = end;
        static const struct { const char *u; double k; } units[] = {
            {"ns", 1e-9}, {"us", 1e-6}, {"\xc2\xb5s", 1e-6}, {"ms", 1e-3}, {"s", 1}, {"m", 60}, {"h", 3600}};
        int hit = -1;
        for (int i = 0; i < 7 && hit < 0; i++) {
            size_t ul = strlen(units[i].u);
            /* "m" must not eat the "m" of "ms" */
            if (!strncmp(s, units[i].u, ul) && !(ul == 1 && s[0] == 'm' && s[1] == 's')) hit = i;
        }
        if (hit < 0) return -1;
        total += v * units[hit].k;
        s += strlen(units[hit].u);
    }
    *out = sign * total;
    return 0;
}

int oll_keep_alive(const json_t *v, double *seconds) {
    if (json_is_number(v)) {
        double d = json_number_value(v);
        if (!isfinite(d)) return -1;
        *seconds = d < 0 ? -1 : d;
        return 0;
    }
    if (!json_is_string(v)) return -1;
    const char *s = json_string_value(v);
    char *end;
    double d = strtod(s, &end);
    if (*s && end != s && !*end && isfinite(d) && strspn(s, "+-0123456789.") == strlen(s)) {
        *seconds = d < 0 ? -1 : d; /* a plain number: seconds */
        return 0;
    }
    if (go_duration(s, &d) < 0) return -1;
    *seconds = d < 0 ? -1 : d;
    return 0;
}

/* ---------- options ---------- */

/* A numeric option: absent/null -> 0 (untouched); wrong type or outside
 * [lo, hi] -> 400 naming it. */
static int opt_num(parse_st *p, json_t *opts, const char *k, double lo, double hi, double *v) {
    json_t *x = json_object_get(opts, k);
    if (!x || json_is_null(x)) return 0;
    if (!json_is_number(x)) return failf(p, 400, "option \"%s\" must be a number", k);
    double d = json_number_value(x);
    if (!(d >= lo && d <= hi)) return failf(p, 400, "option \"%s\" must be in [%g, %g] (got %g)", k, lo, hi, d);
    *v = d;
    return 0;
}

static int opt_stop(parse_st *p, json_t *stop) {
    if (!stop || json_is_null(stop)) return 0;
    size_t n = json_is_string(stop) ? 1 : json_is_array(stop) ? json_array_size(stop) : 0;
    if (!json_is_string(stop) && !json_is_array(stop))
        return failf(p, 400, "option \"stop\" must be a list of strings");
    if (n > PG_STOP_MAX_STRINGS) return failf(p, 400, "option \"stop\" has more than %d strings", PG_STOP_MAX_STRINGS);
    const char **strs = pg_arena_calloc(p->a, n ? n : 1, sizeof *strs);
    if (!strs) return failf(p, 500, "out of memory");
    for (size_t i = 0; i < n; i++) {
        json_t *s = json_is_string(stop) ? stop : json_array_get(stop, i);
        if (!json_is_string(s)) return failf(p, 400, "option \"stop\" must be a list of strings");
        size_t l = json_string_length(s);
        if (l == 0 || l > PG_STOP_MAX_LEN)
            return failf(p, 400, "stop strings must be 1 to %d bytes", PG_STOP_MAX_LEN);
        if (!(strs[i] = pg_arena_strndup(p->a, json_string_value(s), l))) return failf(p, 500, "out of memory");
    }
    p->g->base.stop = strs;
    p->g->base.n_stop = (int32_t)n;
    return 0;
}

/* options: sampling (Ollama's defaults: temperature 0.8, top_k 40,
 * top_p 0.9), stop, num_ctx, num_predict. Others are ignored. */
static int parse_options(parse_st *p, json_t *opts) {
    pg_sampling_params *sp = &p->g->base.sampling;
    *sp = pg_sampling_params_default();
    sp->temperature = 0.8f;
    sp->top_k = 40;
    sp->top_p = 0.9f;
    p->o->n_ctx = p->c->n_ctx;
    p->num_predict = -1;
    if (!opts || json_is_null(opts)) return 0;
    if (!json_is_object(opts)) return failf(p, 400, "\"options\" must be an object");
    double d;
    int rc;
#define OPT(name, lo, hi, field, cast)                                                                            \
    do {                                                                                                           \
        d = (double)(field);                                                                                       \
        if ((rc = opt_num(p, opts, name, lo, hi, &d))) return rc;                                                  \
        field = (cast)d;                                                                                           \
    } while (0)
    OPT("temperature", 0, 2, sp->temperature, float);
    OPT("top_p", 0, 1, sp->top_p, float);
    OPT("min_p", 0, 1, sp->min_p, float);
    OPT("repeat_penalty", 0, 2, sp->repetition_penalty, float);
    OPT("presence_penalty", -2, 2, sp->presence_penalty, float);
    OPT("frequency_penalty", -2, 2, sp->frequency_penalty, float);
    OPT("top_k", 0, 2147483647.0, sp->top_k, int32_t);
#undef OPT
    if (sp->top_p <= 0) return failf(p, 400, "option \"top_p\" must be in (0, 1]");
    if (sp->repetition_penalty <= 0) return failf(p, 400, "option \"repeat_penalty\" must be in (0, 2]");
    json_t *seed = json_object_get(opts, "seed");
    if (seed && !json_is_null(seed)) {
        if (!json_is_integer(seed)) return failf(p, 400, "option \"seed\" must be an integer");
        if (json_integer_value(seed) >= 0) { /* Ollama: -1 = random */
            sp->seed = (uint64_t)json_integer_value(seed);
            sp->has_seed = 1;
        }
    }
    d = 0;
    if ((rc = opt_num(p, opts, "num_ctx", 1, 2147483647.0, &d))) return rc;
    if (d > 0 && d < p->c->n_ctx) p->o->n_ctx = (int32_t)d; /* larger: the server's context (clamped) */
    d = -1;
    if ((rc = opt_num(p, opts, "num_predict", -2, 2147483647.0, &d))) return rc;
    if (d != floor(d) || d == 0) return failf(p, 400, "option \"num_predict\" must be -1, -2 or a positive integer");
    p->num_predict = (long long)d;
    return opt_stop(p, json_object_get(opts, "stop"));
}

/* ---------- fields refused or only validated ---------- */

static int nonempty(json_t *v) {
    return v && !json_is_null(v) && !(json_is_string(v) && !json_string_length(v)) &&
           !(json_is_array(v) && !json_array_size(v)) && !json_is_false(v);
}

static int parse_refused(parse_st *p, json_t *o) {
    if (nonempty(json_object_get(o, "images")))
        return failf(p, 400, "images are not supported: this server serves a text-only model");
    if (p->o->kind == OLL_GENERATE) {
        if (nonempty(json_object_get(o, "template")))
            return failf(p, 400, "\"template\" is not supported: pagoda renders the model's Jinja chat template "
                                 "(override it for the server with --chat-template), or send raw: true");
        if (nonempty(json_object_get(o, "suffix")))
            return failf(p, 400, "\"suffix\" (fill-in-the-middle) is not supported");
        if (nonempty(json_object_get(o, "context")))
            return failf(p, 400, "\"context\" (the token context of an earlier answer) is not supported; send the "
                                 "conversation to /api/chat instead");
    }
    if (nonempty(json_object_get(o, "logprobs"))) return failf(p, 400, "\"logprobs\" is not supported on /api/");
    json_t *ka = json_object_get(o, "keep_alive");
    p->o->keep_alive_s = NAN;
    if (ka && !json_is_null(ka) && oll_keep_alive(ka, &p->o->keep_alive_s) < 0)
        return failf(p, 400, "invalid \"keep_alive\": a duration such as \"5m\", \"300s\", \"-1\" or a number of "
                             "seconds is expected");
    json_t *th = json_object_get(o, "think");
    p->think = -1;
    if (th && !json_is_null(th)) {
        if (json_is_boolean(th)) p->think = json_is_true(th);
        else if (json_is_string(th) && (!strcmp(json_string_value(th), "high") ||
                                        !strcmp(json_string_value(th), "medium") || !strcmp(json_string_value(th), "low")))
            p->think = 1;
        else return failf(p, 400, "\"think\" must be true, false, \"high\", \"medium\" or \"low\"");
    }
    json_t *st = json_object_get(o, "stream");
    p->o->stream = 1; /* Ollama streams unless told not to */
    if (st && !json_is_null(st)) {
        if (!json_is_boolean(st)) return failf(p, 400, "\"stream\" must be a boolean");
        p->o->stream = json_is_true(st);
    }
    return 0;
}

/* ---------- tools ---------- */

static int name_ok(const char *s, size_t n) {
    if (n == 0 || n > 64) return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9') ||
              s[i] == '_' || s[i] == '-'))
            return 0;
    return 1;
}

static int parse_tools(parse_st *p, json_t *jt) {
    if (!jt || json_is_null(jt)) return 0;
    if (!json_is_array(jt)) return failf(p, 400, "\"tools\" must be a list of tools");
    size_t n = json_array_size(jt);
    if (n == 0) return 0;
    if (n > OLL_MAX_TOOLS) return failf(p, 400, "\"tools\" has more than %d entries", OLL_MAX_TOOLS);
    p->tools = pg_arena_calloc(p->a, n, sizeof *p->tools);
    if (!p->tools) return failf(p, 500, "out of memory");
    for (size_t i = 0; i < n; i++) {
        json_t *t = json_array_get(jt, i), *fn = json_object_get(t, "function");
        json_t *ty = json_object_get(t, "type"), *nm = json_object_get(fn, "name"), *pa = json_object_get(fn, "parameters");
        if (!json_is_object(t) || (ty && !json_is_null(ty) && (!json_is_string(ty) || strcmp(json_string_value(ty), "function"))))
            return failf(p, 400, "tools[%zu] must be {\"type\": \"function\", \"function\": {...}}", i);
        if (!json_is_object(fn) || !json_is_string(nm) || !name_ok(json_string_value(nm), json_string_length(nm)))
            return failf(p, 400, "tools[%zu].function.name must be 1 to 64 letters, digits, '_' or '-'", i);
        if (pa && !json_is_null(pa) && !json_is_object(pa))
            return failf(p, 400, "tools[%zu].function.parameters must be a JSON Schema object", i);
        for (size_t k = 0; k < i; k++)
            if (!strcmp(p->tools[k].name, json_string_value(nm)))
                return failf(p, 400, "tools[%zu]: the function name '%s' is given twice", i, json_string_value(nm));
        char *sc = pa && !json_is_null(pa) ? json_dumps(pa, JSON_COMPACT | JSON_PRESERVE_ORDER) : strdup("{\"type\":\"object\"}");
        if (!sc) return failf(p, 500, "out of memory");
        p->tools[i].schema = pg_arena_strndup(p->a, sc, strlen(sc));
        free(sc);
        p->tools[i].name = pg_arena_strndup(p->a, json_string_value(nm), json_string_length(nm));
        if (!p->tools[i].schema || !p->tools[i].name) return failf(p, 500, "out of memory");
    }
    p->n_tools = (int32_t)n;
    p->tools_json = jt;
    return 0;
}

/* The calls' lazy grammar (Ollama has no tool_choice: "auto"): the answer
 * is free until a call marker, then a call of an offered tool. */
static int tools_grammar(parse_st *p) {
    pg_tc_grammar tg;
    char msg[300];
    int rc = pg_tc_grammar_build(&p->o->tc, p->tools, (size_t)p->n_tools, 0, 1, &tg, msg, sizeof msg);
    if (rc == PG_ENOMEM) return failf(p, 500, "out of memory");
    if (rc < 0) return failf(p, 400, "the tools cannot be used: %s", msg);
    int st = 0;
    if (tg.gbnf) {
        pg_error e = {0};
        size_t n = strlen(tg.gbnf);
        rc = p->c->grammars ? pg_gram_cache_get(p->c->grammars, PG_GRAM_GBNF, tg.gbnf, n, 0, &p->g->base.grammar, &e)
                            : pg_gram_build(PG_GRAM_GBNF, tg.gbnf, n, 0, &p->g->base.grammar, &e);
        if (rc == PG_ENOMEM) st = failf(p, 500, "out of memory");
        else if (rc < 0) st = failf(p, 400, "the tools' grammar does not compile: %.300s", e.msg);
    }
    if (!st && tg.n_triggers) {
        const char **tr = pg_arena_calloc(p->a, (size_t)tg.n_triggers, sizeof *tr);
        for (int i = 0; tr && i < tg.n_triggers; i++)
            if (!(tr[i] = pg_arena_strndup(p->a, tg.triggers[i], strlen(tg.triggers[i])))) tr = NULL;
        if (!tr) st = failf(p, 500, "out of memory");
        p->g->base.grammar_triggers = tr;
        p->g->base.n_grammar_triggers = tg.n_triggers;
    }
    pg_tc_grammar_free(&tg);
    return st;
}

/* format: "json" (any JSON object) or a JSON Schema object. */
static int parse_format(parse_st *p, json_t *f) {
    if (!f || json_is_null(f) || (json_is_string(f) && !json_string_length(f))) return 0;
    char *text;
    if (json_is_string(f)) {
        if (strcmp(json_string_value(f), "json")) return failf(p, 400, "\"format\" must be \"json\" or a JSON Schema object");
        text = strdup("{\"type\":\"object\"}");
    } else if (json_is_object(f)) {
        text = json_dumps(f, JSON_COMPACT | JSON_PRESERVE_ORDER);
    } else {
        return failf(p, 400, "\"format\" must be \"json\" or a JSON Schema object");
    }
    if (!text) return failf(p, 500, "out of memory");
    if (p->n_tools) {
        free(text);
        return failf(p, 400, "\"format\" cannot be combined with \"tools\" on this server");
    }
    pg_error e = {0};
    size_t n = strlen(text);
    int rc = p->c->grammars ? pg_gram_cache_get(p->c->grammars, PG_GRAM_JSON_SCHEMA, text, n, 0, &p->g->base.grammar, &e)
                            : pg_gram_build(PG_GRAM_JSON_SCHEMA, text, n, 0, &p->g->base.grammar, &e);
    free(text);
    if (rc == PG_ENOMEM) return failf(p, 500, "out of memory");
    if (rc < 0) return failf(p, 400, "invalid JSON schema in \"format\": %.400s", e.msg);
    return 0;
}

/* ---------- prompts ---------- */

static int set_prompt(parse_st *p, const int32_t *ids, size_t n) {
    if (n == 0) return failf(p, 400, "the prompt has no tokens");
    if (n >= (size_t)p->o->n_ctx)
        return failf(p, 400, "the prompt is %zu tokens; the context is %d tokens (the server's --ctx-size%s)", n,
                     p->o->n_ctx, p->o->n_ctx < p->c->n_ctx ? ", lowered by options.num_ctx" : "");
    p->g->prompts = pg_arena_calloc(p->a, 1, sizeof *p->g->prompts);
    int32_t *copy = pg_arena_alloc(p->a, n * sizeof *copy);
    if (!p->g->prompts || !copy) return failf(p, 500, "out of memory");
    memcpy(copy, ids, n * sizeof *copy);
    p->g->prompts[0].ids = copy;
    p->g->prompts[0].n = (int32_t)n;
    p->g->n_prompts = 1;
    return 0;
}

/* The chat template over msgs (and tools), with enable_thinking when the
 * request says think true/false; the ids as the OpenAI chat endpoint makes
 * them (prompt.h: message text is never read as control tokens). */
static int render(parse_st *p, const pg_jv *msgs, const pg_jv *tools) {
    const srv_ctx *c = p->c;
    pg_prompt_opts po;
    pg_prompt_opts_default(&po);
    po.bos = c->bos_text;
    po.eos = c->eos_text;
    po.special_in_content = c->chat_special_in_content;
    pg_tpl_render_opts ro;
    pg_tpl_render_opts_default(&ro);
    if (c->request_timeout_s > 0) ro.deadline_ns = pg_tpl_now_ns() + (int64_t)(c->request_timeout_s * 1e9);
    ro.cancel = c->render_cancel;
    po.render = &ro;
    pg_tpl_var var = {"enable_thinking", pg_jv_bool(p->think > 0)};
    if (p->think >= 0) {
        po.extra = &var;
        po.n_extra = 1;
    }
    pg_prompt pr;
    pg_error e = {0};
    int rc = pg_prompt_chat_tokens(c->vocab, c->tpl, msgs, tools, &po, &pr, &e);
    if (rc == PG_ENOMEM) return failf(p, 500, "out of memory");
    if (rc == PG_ECANCELED) return failf(p, 503, "the server is shutting down; retry on another instance");
    if (rc < 0) return failf(p, 400, "chat template: %s", e.msg);
    if (!c->chat_special_in_content && pr.n_special_found && c->special_text_messages)
        atomic_fetch_add(c->special_text_messages, pr.n_special_found);
    rc = set_prompt(p, pr.ids, pr.n);
    pg_prompt_free(&pr);
    return rc;
}

/* One Ollama message -> the template's dict: role, content, the calls
 * with "type": "function" (arguments stay objects), tool_name also as
 * "name", thinking also as "reasoning_content". */
static int chat_message(parse_st *p, json_t *m, size_t i, pg_jv *out) {
    static const char *roles[] = {"system", "user", "assistant", "tool"};
    if (!json_is_object(m)) return failf(p, 400, "messages[%zu] must be an object", i);
    json_t *role = json_object_get(m, "role"), *ct = json_object_get(m, "content");
    int ok = 0;
    for (size_t k = 0; json_is_string(role) && k < 4; k++) ok |= !strcmp(json_string_value(role), roles[k]);
    if (!ok) return failf(p, 400, "messages[%zu].role must be one of system, user, assistant, tool", i);
    if (ct && !json_is_null(ct) && !json_is_string(ct)) return failf(p, 400, "messages[%zu].content must be a string", i);
    if (nonempty(json_object_get(m, "images")))
        return failf(p, 400, "messages[%zu].images: images are not supported (a text-only model)", i);
    json_t *d = json_object();
    json_object_set(d, "role", role);
    json_object_set_new(d, "content", ct && json_is_string(ct) ? json_copy(ct) : json_string(""));
    json_t *tn = json_object_get(m, "tool_name"), *th = json_object_get(m, "thinking");
    if (json_is_string(tn)) {
        json_object_set(d, "tool_name", tn);
        json_object_set(d, "name", tn);
    }
    if (json_is_string(th) && json_string_length(th)) json_object_set(d, "reasoning_content", th);
    json_t *tc = json_object_get(m, "tool_calls");
    int st = 0;
    if (tc && !json_is_null(tc)) {
        json_t *calls = json_array();
        json_object_set_new(d, "tool_calls", calls);
        size_t k;
        json_t *call;
        if (!json_is_array(tc)) {
            json_decref(d);
            return failf(p, 400, "messages[%zu].tool_calls must be a list", i);
        }
        json_array_foreach(tc, k, call) {
            json_t *fn = json_object_get(call, "function"), *args = json_object_get(fn, "arguments");
            if (st) break;
            if (!json_is_object(fn) || !json_is_string(json_object_get(fn, "name")) || (args && !json_is_object(args))) {
                st = failf(p, 400, "messages[%zu].tool_calls[%zu] must be {\"function\": {\"name\": ..., \"arguments\": "
                                   "{...}}}", i, k);
                break;
            }
            json_t *x = json_object(), *f = json_object();
            json_object_set_new(x, "type", json_string("function"));
            json_object_set(f, "name", json_object_get(fn, "name"));
            json_object_set_new(f, "arguments", args ? json_deep_copy(args) : json_object());
            json_object_set_new(x, "function", f);
            json_array_append_new(calls, x);
        }
    }
    if (!st && pg_tpl_value_from_json(p->a, d, OLL_MAX_DEPTH - 1, out) < 0)
        st = failf(p, 400, "messages[%zu] is nested too deeply", i);
    json_decref(d);
    return st;
}

static int chat_prompt(parse_st *p, json_t *msgs) {
    size_t n = json_array_size(msgs);
    if (p->c->max_messages > 0 && n > (size_t)p->c->max_messages)
        return failf(p, 400, "\"messages\" has %zu entries; this server accepts at most %d", n, p->c->max_messages);
    pg_jv list = pg_jv_list_new(p->a, n);
    if (list.type == PG_JV_UNDEFINED) return failf(p, 500, "out of memory");
    for (size_t i = 0; i < n; i++) {
        pg_jv d;
        int rc = chat_message(p, json_array_get(msgs, i), i, &d);
        if (rc) return rc;
        if (pg_jv_list_push(p->a, list, d) < 0) return failf(p, 500, "out of memory");
    }
    pg_jv tools;
    if (p->n_tools && pg_tpl_value_from_json(p->a, p->tools_json, OLL_MAX_DEPTH, &tools) < 0)
        return failf(p, 400, "\"tools\" is nested too deeply");
    return render(p, &list, p->n_tools ? &tools : NULL);
}

/* generate: the prompt as the user's message (after `system`), or as is
 * (raw: special-token text in it is read as control tokens, as a client
 * that formats its own prompt means). */
static int generate_prompt(parse_st *p, json_t *o, json_t *prompt) {
    json_t *sys = json_object_get(o, "system");
    if (sys && !json_is_null(sys) && !json_is_string(sys)) return failf(p, 400, "\"system\" must be a string");
    if (p->raw) {
        int32_t *ids;
        int32_t n;
        pg_error e = {0};
        int rc = srv_tokenize_alloc(p->c->vocab, json_string_value(prompt), json_string_length(prompt), 1, 1, &ids, &n, &e);
        if (rc < 0) return failf(p, srv_status_for(rc), "%s", e.msg);
        rc = set_prompt(p, ids, (size_t)n);
        free(ids);
        return rc;
    }
    json_t *msgs = json_array();
    if (json_is_string(sys) && json_string_length(sys)) {
        json_t *m = json_object();
        json_object_set_new(m, "role", json_string("system"));
        json_object_set(m, "content", sys);
        json_array_append_new(msgs, m);
    }
    json_t *u = json_object();
    json_object_set_new(u, "role", json_string("user"));
    json_object_set(u, "content", prompt);
    json_array_append_new(msgs, u);
    int rc = chat_prompt(p, msgs);
    json_decref(msgs);
    return rc;
}

/* ---------- max_tokens and the whole parse ---------- */

static int plan_max_tokens(parse_st *p) {
    const srv_ctx *c = p->c;
    srv_prompt *pr = &p->g->prompts[0];
    long long room = (long long)p->o->n_ctx - pr->n, mt = room;
    if (p->num_predict > 0 && p->num_predict < mt) mt = p->num_predict; /* more than fits: until the context ends */
    if (c->max_tokens_limit > 0 && mt > c->max_tokens_limit) mt = c->max_tokens_limit;
    uint64_t cap = p->o->stream ? 0 : c->max_response_entries; /* a whole answer is kept until written */
    if (cap && (uint64_t)mt > cap) mt = (long long)cap;
    if (mt < 1) return failf(p, 400, "the prompt leaves no room in the context");
    pr->max_tokens = (int32_t)mt;
    return 0;
}

/* Ollama's answer to a request with nothing to generate (it loads the
 * model): done at once with done_reason "load". */
static int load_answer(parse_st *p) {
    char ts[48];
    oll_now_rfc3339(ts, sizeof ts);
    json_t *o = json_object();
    json_object_set_new(o, "model", json_string(p->o->model));
    json_object_set_new(o, "created_at", json_string(ts));
    if (p->o->kind == OLL_CHAT) {
        json_t *m = json_object();
        json_object_set_new(m, "role", json_string("assistant"));
        json_object_set_new(m, "content", json_string(""));
        json_object_set_new(o, "message", m);
    } else {
        json_object_set_new(o, "response", json_string(""));
    }
    json_object_set_new(o, "done", json_true());
    json_object_set_new(o, "done_reason", json_string("load"));
    size_t n;
    char *s = srv_dump(o, &n);
    char *b = s ? realloc(s, n + 2) : NULL;
    if (!b) {
        free(s);
        return failf(p, 500, "out of memory");
    }
    b[n] = '\n'; /* one NDJSON line (a JSON reader ignores it) */
    b[n + 1] = 0;
    p->fail->status = 200;
    p->fail->body = b;
    p->fail->len = n + 1;
    return 200;
}

static int parse_tree(parse_st *p, json_t *o, const srv_caller *who) {
    oll_req *q = p->o;
    int rc;
    if (!json_is_object(o)) return failf(p, 400, "the request body must be a JSON object");
    json_t *model = json_object_get(o, "model");
    if (!json_is_string(model) || !json_string_length(model)) return failf(p, 400, "model is required");
    if (!oll_model_match(p->c, json_string_value(model)))
        return failf(p, 404, "model \"%.200s\" not found, try pulling it first", json_string_value(model));
    if (!(q->model = pg_arena_strndup(p->a, json_string_value(model), json_string_length(model))))
        return failf(p, 500, "out of memory");
    if ((rc = parse_refused(p, o)) || (rc = parse_options(p, json_object_get(o, "options")))) return rc;
    pg_error e = {0};
    if (pg_sampling_params_check(&p->g->base.sampling, p->c->n_vocab, &e) < 0) return failf(p, 400, "%s", e.msg);
    p->g->base.timeout_s = p->c->request_timeout_s;
    p->g->base.cache_salt = who && who->authed ? who->key_id : 0;
    p->g->base.n = 1;
    q->tc = p->c->tc;
    if (q->kind == OLL_CHAT) {
        json_t *msgs = json_object_get(o, "messages");
        if (msgs && !json_is_null(msgs) && !json_is_array(msgs)) return failf(p, 400, "\"messages\" must be a list");
        if ((rc = parse_tools(p, json_object_get(o, "tools")))) return rc;
        if (!json_array_size(msgs)) return load_answer(p);
        if ((rc = chat_prompt(p, msgs))) return rc;
    } else {
        json_t *pr = json_object_get(o, "prompt");
        if (pr && !json_is_null(pr) && !json_is_string(pr)) return failf(p, 400, "\"prompt\" must be a string");
        json_t *raw = json_object_get(o, "raw");
        if (raw && !json_is_null(raw) && !json_is_boolean(raw)) return failf(p, 400, "\"raw\" must be a boolean");
        p->raw = json_is_true(raw);
        if (!pr || json_is_null(pr) || !json_string_length(pr)) return load_answer(p);
        if ((rc = generate_prompt(p, o, pr))) return rc;
    }
    if ((rc = plan_max_tokens(p))) return rc;
    /* output parsing: tool calls (chat with tools), thinking (a template
     * that marks it, unless think is false: then it stays in the text) */
    if (p->think == 0) q->tc_flags |= PG_TC_REASONING_INLINE;
    if (!p->n_tools) q->tc.format = PG_TC_NONE;
    q->parse_out = p->n_tools > 0 || (q->tc.think && p->think != 0);
    if ((rc = parse_format(p, json_object_get(o, "format")))) return rc;
    if (p->n_tools) {
        if ((rc = tools_grammar(p))) return rc;
        p->g->base.detok_special = 1; /* call markers may be control tokens */
    }
    p->g->stream = q->stream;
    return 0;
}

int oll_parse(const srv_ctx *c, const srv_caller *who, int kind, const char *body, size_t len, srv_req *r,
              oll_req **out, srv_fail *fail) {
    memset(fail, 0, sizeof *fail);
    parse_st p = {.c = c, .r = r, .a = srv_req_arena(r), .g = srv_req_gen(r), .fail = fail};
    p.o = pg_arena_calloc(p.a, 1, sizeof *p.o);
    *out = p.o;
    if (!p.o) return failf(&p, 500, "out of memory");
    p.o->kind = kind;
    p.o->t0 = srv_now();
    p.o->model = c->alias;
    srv_make_id(c->ids, "ollama-", p.o->id, sizeof p.o->id);
    json_error_t je;
    json_t *o = json_loadb(body ? body : "", len, JSON_REJECT_DUPLICATES, &je);
    int st = o ? parse_tree(&p, o, who) : failf(&p, 400, "invalid JSON body: %s (line %d, column %d)", je.text, je.line, je.column);
    json_decref(o);
    if (st && !fail->body) failf(&p, st, st >= 500 ? "internal error" : "invalid request");
    return st;
}
