/* responses_parse.c - a Responses API body -> the request core's spec (see
 * responses.h for the design).
 *
 * Order: JSON object -> field check (known / ignored / refused) ->
 * previous_response_id (the store; 404 when missing) -> input items ->
 * chat messages -> tools, tool_choice, text.format -> the chat body ->
 * oai_parse_json (model, sampling, template render, context, grammars) ->
 * the echo of the parameters. Every failure is an OpenAI error object
 * naming the Responses field in "param". The JSON trees made here are
 * owned by the state (freed by the request's free hook). */
#include "server/responses.h"

#include "base/arena.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define FAIL400(param, ...)                                                                                      \
    do {                                                                                                         \
        char m_[600];                                                                                            \
        snprintf(m_, sizeof m_, __VA_ARGS__);                                                                    \
        *err = srv_error_json(m_, "invalid_request_error", param, NULL);                                        \
        return 400;                                                                                              \
    } while (0)

/* Fields honoured here, passed through to the chat parser under the same
 * name (pagoda extensions on this endpoint, validated there), accepted and
 * ignored, and refused when set. Anything else is a 400. */
static const char *const known_fields[] = {"model", "input", "instructions", "max_output_tokens", "temperature",
                                           "top_p", "tools", "tool_choice", "parallel_tool_calls", "text", "stream",
                                           "store", "previous_response_id", "metadata", "user", NULL};
static const char *const pass_fields[] = {"seed", "top_k", "min_p", "repetition_penalty", "presence_penalty",
                                          "frequency_penalty", "stop", "priority", "timeout", "cache_salt", "ignore_eos", NULL};
static const char *const ignored_fields[] = {"include", "truncation", "service_tier", "reasoning", "safety_identifier",
                                             "prompt_cache_key", "stream_options", "max_tool_calls", NULL};
static const char *const refused_fields[] = {"background", "conversation", "prompt", "top_logprobs", NULL};

static int in_list(const char *const *l, const char *k) {
    for (; *l; l++)
        if (!strcmp(*l, k)) return 1;
    return 0;
}

static int is_set(json_t *v) { return v && !json_is_null(v) && !json_is_false(v) && !(json_is_integer(v) && !json_integer_value(v)); }

static int check_fields(json_t *o, json_t **err) {
    const char *k;
    json_t *v;
    json_object_foreach(o, k, v) {
        if (in_list(known_fields, k) || in_list(pass_fields, k) || in_list(ignored_fields, k)) continue;
        if (in_list(refused_fields, k)) {
            if (!is_set(v)) continue;
            FAIL400(k, "'%s' is not supported by this server (see the README's Responses table)", k);
        }
        FAIL400(k, "unknown field '%.100s' (pagoda does not implement it; see the README's Responses table)", k);
    }
    json_t *tr = json_object_get(o, "truncation");
    if (tr && !json_is_null(tr) && (!json_is_string(tr) || (strcmp(json_string_value(tr), "disabled") &&
                                                            strcmp(json_string_value(tr), "auto"))))
        FAIL400("truncation", "'truncation' must be 'disabled' or 'auto'");
    return 0;
}

/* ---------- input items -> chat messages ---------- */

/* Text of a content list: input_text / output_text / text parts (and a
 * refusal's text) joined with '\n'. */
static int content_text(json_t *c, const char *p, json_t **out, json_t **err) {
    if (json_is_string(c)) {
        *out = json_incref(c);
        return 0;
    }
    if (!json_is_array(c)) FAIL400(p, "%s must be a string or a list of content parts", p);
    size_t cap = 64, len = 0, j;
    char *buf = malloc(cap);
    if (!buf) return 500;
    json_t *part;
    json_array_foreach(c, j, part) {
        json_t *ty = json_object_get(part, "type");
        const char *t = json_is_string(ty) ? json_string_value(ty) : "";
        json_t *tx = !strcmp(t, "refusal") ? json_object_get(part, "refusal") : json_object_get(part, "text");
        if (!json_is_object(part) || (strcmp(t, "input_text") && strcmp(t, "output_text") && strcmp(t, "text") &&
                                      strcmp(t, "refusal")) ||
            !json_is_string(tx)) {
            free(buf);
            if (json_is_object(part) && (!strncmp(t, "input_", 6)))
                FAIL400(p, "%s[%zu]: '%.40s' parts are not supported (this server reads text only)", p, j, t);
            FAIL400(p, "%s[%zu] must be an input_text or output_text part with a string 'text'", p, j);
        }
        size_t n = json_string_length(tx), need = len + n + 2;
        if (need > cap) {
            while (cap < need) cap *= 2;
            char *nb = realloc(buf, cap);
            if (!nb) {
                free(buf);
                return 500;
            }
            buf = nb;
        }
        if (j) buf[len++] = '\n';
        memcpy(buf + len, json_string_value(tx), n);
        len += n;
    }
    *out = json_stringn(buf, len);
    free(buf);
    if (!*out) FAIL400(p, "%s is not valid UTF-8", p);
    return 0;
}

typedef struct conv {
    json_t *msgs;      /* chat messages (history + input) */
    json_t *call_ids;  /* object: call ids seen so far */
} conv;

static int add_message(conv *cv, json_t *it, const char *p, json_t **err) {
    json_t *role = json_object_get(it, "role");
    static const char *roles[] = {"user", "system", "developer", "assistant"};
    int ok = 0;
    for (size_t k = 0; json_is_string(role) && k < 4; k++) ok |= !strcmp(json_string_value(role), roles[k]);
    if (!ok) FAIL400(p, "%s.role must be one of user, system, developer, assistant", p);
    char q[96];
    snprintf(q, sizeof q, "%s.content", p);
    json_t *c = json_object_get(it, "content"), *text = NULL;
    if (!c) FAIL400(q, "%s is required", q);
    int rc = content_text(c, q, &text, err);
    if (rc) return rc;
    json_t *m = json_pack("{s:O,s:o}", "role", role, "content", text);
    if (!m || json_array_append_new(cv->msgs, m)) return 500;
    return 0;
}

static int add_call(conv *cv, json_t *it, const char *p, json_t **err) {
    json_t *cid = json_object_get(it, "call_id"), *name = json_object_get(it, "name");
    json_t *args = json_object_get(it, "arguments");
    char q[96];
    if (!json_is_string(cid) || !json_string_length(cid)) {
        snprintf(q, sizeof q, "%s.call_id", p);
        FAIL400(q, "%s must be a non-empty string", q);
    }
    if (!json_is_string(name)) {
        snprintf(q, sizeof q, "%s.name", p);
        FAIL400(q, "%s must be a string", q);
    }
    snprintf(q, sizeof q, "%s.arguments", p);
    if (!json_is_string(args)) FAIL400(q, "%s must be a string of JSON", q);
    json_error_t je;
    json_t *v = json_loadb(json_string_value(args), json_string_length(args), JSON_DECODE_ANY, &je);
    if (!json_is_object(v)) {
        json_decref(v);
        FAIL400(q, "%s is not a JSON object", q);
    }
    json_decref(v);
    /* calls join the assistant message before them, or start one */
    size_t n = json_array_size(cv->msgs);
    json_t *last = n ? json_array_get(cv->msgs, n - 1) : NULL;
    json_t *lr = last ? json_object_get(last, "role") : NULL;
    if (!json_is_string(lr) || strcmp(json_string_value(lr), "assistant")) {
        last = json_pack("{s:s,s:n}", "role", "assistant", "content");
        if (!last || json_array_append_new(cv->msgs, last)) return 500;
    }
    json_t *tc = json_object_get(last, "tool_calls");
    if (!tc) {
        tc = json_array();
        if (!tc || json_object_set_new(last, "tool_calls", tc)) return 500;
    }
    json_t *call = json_pack("{s:O,s:s,s:{s:O,s:O}}", "id", cid, "type", "function", "function", "name", name,
                             "arguments", args);
    if (!call || json_array_append_new(tc, call)) return 500;
    json_object_set(cv->call_ids, json_string_value(cid), json_true());
    return 0;
}

static int add_call_output(conv *cv, json_t *it, const char *p, json_t **err) {
    json_t *cid = json_object_get(it, "call_id"), *out = json_object_get(it, "output");
    char q[96];
    snprintf(q, sizeof q, "%s.call_id", p);
    if (!json_is_string(cid)) FAIL400(q, "%s must be a string (the call_id of the call this output answers)", q);
    if (!json_object_get(cv->call_ids, json_string_value(cid)))
        FAIL400(q, "%s '%.64s' matches no function_call earlier in the conversation", q, json_string_value(cid));
    snprintf(q, sizeof q, "%s.output", p);
    json_t *text = NULL;
    if (!out) FAIL400(q, "%s is required", q);
    int rc = content_text(out, q, &text, err);
    if (rc) return rc;
    json_t *m = json_pack("{s:s,s:O,s:o}", "role", "tool", "tool_call_id", cid, "content", text);
    if (!m || json_array_append_new(cv->msgs, m)) return 500;
    return 0;
}

static int add_input(conv *cv, json_t *in, json_t **err) {
    if (json_is_string(in)) {
        json_t *m = json_pack("{s:s,s:O}", "role", "user", "content", in);
        return !m || json_array_append_new(cv->msgs, m) ? 500 : 0;
    }
    if (!json_is_array(in)) FAIL400("input", "'input' must be a string or a list of input items");
    size_t i;
    json_t *it;
    json_array_foreach(in, i, it) {
        char p[48];
        snprintf(p, sizeof p, "input[%zu]", i);
        if (!json_is_object(it)) FAIL400(p, "%s must be an object", p);
        json_t *ty = json_object_get(it, "type");
        if (ty && !json_is_string(ty)) FAIL400(p, "%s.type must be a string", p);
        const char *t = ty ? json_string_value(ty) : "message";
        int rc;
        if (!strcmp(t, "message")) rc = add_message(cv, it, p, err);
        else if (!strcmp(t, "function_call")) rc = add_call(cv, it, p, err);
        else if (!strcmp(t, "function_call_output")) rc = add_call_output(cv, it, p, err);
        else if (!strcmp(t, "reasoning")) rc = 0; /* earlier reasoning is not sent back to the model */
        else FAIL400(p, "%s.type '%.40s' is not supported (message, function_call, function_call_output, reasoning)", p, t);
        if (rc) return rc;
    }
    return 0;
}

/* The stored history of previous_response_id, or 404. */
static int load_history(const srv_ctx *c, uint64_t owner, json_t *prev, conv *cv, json_t **err) {
    if (!json_is_string(prev)) FAIL400("previous_response_id", "'previous_response_id' must be a string");
    char *h = NULL;
    size_t n = 0;
    int rc = srv_rstore_get(c->responses, json_string_value(prev), owner, SRV_RSTORE_HISTORY, &h, &n, srv_now());
    if (rc == -2) return 500;
    if (rc) {
        char m[300];
        snprintf(m, sizeof m, "Previous response with id '%.100s' not found.", json_string_value(prev));
        *err = srv_error_json(m, "invalid_request_error", "previous_response_id", "previous_response_not_found");
        return 404;
    }
    json_t *a = json_loadb(h, n, 0, NULL);
    free(h);
    if (!json_is_array(a)) {
        json_decref(a);
        return 500;
    }
    size_t i;
    json_t *m;
    json_array_foreach(a, i, m) {
        json_array_append(cv->msgs, m);
        json_t *tc = json_object_get(m, "tool_calls");
        size_t j;
        json_t *call;
        json_array_foreach(tc, j, call) {
            json_t *id = json_object_get(call, "id");
            if (json_is_string(id)) json_object_set(cv->call_ids, json_string_value(id), json_true());
        }
    }
    json_decref(a);
    return 0;
}

/* ---------- tools, tool_choice, text.format ---------- */

static int conv_tools(json_t *tools, json_t *chat, json_t **err) {
    if (!tools || json_is_null(tools)) return 0;
    if (!json_is_array(tools)) FAIL400("tools", "'tools' must be a list of tool objects");
    if (!json_array_size(tools)) return 0; /* the SDK may send []: no tools */
    json_t *out = json_array();
    if (!out || json_object_set_new(chat, "tools", out)) return 500;
    size_t i;
    json_t *t;
    json_array_foreach(tools, i, t) {
        char p[48];
        snprintf(p, sizeof p, "tools[%zu]", i);
        json_t *ty = json_object_get(t, "type");
        if (!json_is_object(t) || !json_is_string(ty)) FAIL400(p, "%s must be an object with a string 'type'", p);
        if (strcmp(json_string_value(ty), "function")) {
            char q[64];
            snprintf(q, sizeof q, "%s.type", p);
            FAIL400(q, "%s '%.40s' is not supported: this server runs function tools only", q, json_string_value(ty));
        }
        json_t *fn = json_object();
        const char *k;
        json_t *v;
        json_object_foreach(t, k, v) {
            if (!strcmp(k, "type")) continue;
            if (strcmp(k, "name") && strcmp(k, "description") && strcmp(k, "parameters") && strcmp(k, "strict")) {
                json_decref(fn);
                char q[96];
                snprintf(q, sizeof q, "%s.%.40s", p, k);
                FAIL400(q, "%s: unknown tool field", q);
            }
            json_object_set(fn, k, v);
        }
        json_t *w = json_pack("{s:s,s:o}", "type", "function", "function", fn);
        if (!w || json_array_append_new(out, w)) return 500;
    }
    return 0;
}

static int conv_tool_choice(json_t *tc, json_t *chat, json_t **err) {
    if (!tc || json_is_null(tc)) return 0;
    /* "auto" without tools is the default (OpenAI accepts it; clients send it) */
    if (json_is_string(tc) && !strcmp(json_string_value(tc), "auto") && !json_object_get(chat, "tools")) return 0;
    if (json_is_string(tc)) return json_object_set(chat, "tool_choice", tc) ? 500 : 0;
    json_t *ty = json_object_get(tc, "type"), *name = json_object_get(tc, "name");
    if (!json_is_object(tc) || !json_is_string(ty))
        FAIL400("tool_choice", "'tool_choice' must be 'none', 'auto', 'required' or {\"type\": \"function\", \"name\": ...}");
    if (strcmp(json_string_value(ty), "function"))
        FAIL400("tool_choice", "'tool_choice' of type '%.40s' is not supported (function tools only)",
                json_string_value(ty));
    if (!json_is_string(name)) FAIL400("tool_choice", "'tool_choice' {\"type\": \"function\"} needs a string 'name'");
    json_t *w = json_pack("{s:s,s:{s:O}}", "type", "function", "function", "name", name);
    return !w || json_object_set_new(chat, "tool_choice", w) ? 500 : 0;
}

static int conv_text(json_t *text, json_t *chat, json_t **err) {
    if (!text || json_is_null(text)) return 0;
    if (!json_is_object(text)) FAIL400("text", "'text' must be an object");
    json_t *f = json_object_get(text, "format");
    const char *k;
    json_t *v;
    json_object_foreach(text, k, v) if (strcmp(k, "format") && strcmp(k, "verbosity"))
        FAIL400("text", "unknown field 'text.%.60s'", k);
    if (!f || json_is_null(f)) return 0;
    json_t *ty = json_object_get(f, "type");
    if (!json_is_object(f) || !json_is_string(ty))
        FAIL400("text.format", "'text.format' must be an object with a string 'type'");
    const char *t = json_string_value(ty);
    if (!strcmp(t, "text")) return 0;
    if (!strcmp(t, "json_object")) {
        json_t *w = json_pack("{s:s}", "type", "json_object");
        return !w || json_object_set_new(chat, "response_format", w) ? 500 : 0;
    }
    if (strcmp(t, "json_schema"))
        FAIL400("text.format.type", "'text.format.type' must be 'text', 'json_object' or 'json_schema'");
    json_t *js = json_object();
    if (!js) return 500;
    json_object_foreach(f, k, v) {
        if (!strcmp(k, "type")) continue;
        if (strcmp(k, "name") && strcmp(k, "schema") && strcmp(k, "strict") && strcmp(k, "description")) {
            json_decref(js);
            FAIL400("text.format", "unknown field 'text.format.%.60s'", k);
        }
        json_object_set(js, k, v);
    }
    if (!json_object_get(js, "name")) json_object_set_new(js, "name", json_string("response"));
    json_t *w = json_pack("{s:s,s:o}", "type", "json_schema", "json_schema", js);
    return !w || json_object_set_new(chat, "response_format", w) ? 500 : 0;
}

static int check_metadata(json_t *md, json_t **err) {
    if (!md || json_is_null(md)) return 0;
    if (!json_is_object(md)) FAIL400("metadata", "'metadata' must be an object of strings");
    if (json_object_size(md) > 16) FAIL400("metadata", "'metadata' has more than 16 keys");
    const char *k;
    json_t *v;
    json_object_foreach(md, k, v) {
        if (strlen(k) > 64) FAIL400("metadata", "'metadata' keys are at most 64 characters");
        if (!json_is_string(v) || json_string_length(v) > 512)
            FAIL400("metadata", "'metadata' values must be strings of at most 512 characters");
    }
    return 0;
}

/* ---------- the chat parser's errors, in Responses terms ---------- */

static void rename_in(char *s, size_t cap, const char *from, const char *to) {
    char *hit = strstr(s, from);
    if (!hit) return;
    size_t fl = strlen(from), tl = strlen(to), sl = strlen(s);
    if (sl - fl + tl + 1 > cap) return;
    memmove(hit + tl, hit + fl, sl - (size_t)(hit - s) - fl + 1);
    memcpy(hit, to, tl);
}

static void rename_error(json_t *e) {
    json_t *in = json_object_get(e, "error");
    json_t *pm = json_object_get(in, "param"), *msg = json_object_get(in, "message");
    static const char *const map[][2] = {
        {"response_format.json_schema.schema", "text.format.schema"},
        {"response_format.json_schema.", "text.format."},
        {"response_format.json_schema", "text.format"},
        {"response_format", "text.format"},
        {".function.parameters", ".parameters"},
        {".function.", "."},
        {"max_tokens", "max_output_tokens"},
        {"'messages'", "'input'"},
    };
    char m[1024], p[256];
    snprintf(m, sizeof m, "%s", json_is_string(msg) ? json_string_value(msg) : "");
    snprintf(p, sizeof p, "%s", json_is_string(pm) ? json_string_value(pm) : "");
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++) {
        rename_in(m, sizeof m, map[i][0], map[i][1]);
        rename_in(p, sizeof p, map[i][0], map[i][1]);
    }
    if (!strncmp(p, "messages", 8)) snprintf(p, sizeof p, "input");
    if (json_is_string(msg)) json_object_set_new(in, "message", json_string(m));
    if (json_is_string(pm)) json_object_set_new(in, "param", json_string(p));
}

/* ---------- the whole body ---------- */

static void free_state(void *arg) {
    resp_req *q = arg;
    json_decref(q->echo);
    json_decref(q->hist);
    pg_tc_stream_destroy(q->tc);
    for (size_t i = 0; i < q->n_items; i++) {
        free(q->items[i].name);
        srv_buf_free(&q->items[i].text);
    }
    free(q->items);
    srv_buf_free(&q->frame);
}

static void echo_num(json_t *e, json_t *o, const char *from, const char *to, double dflt) {
    json_t *v = json_object_get(o, from);
    json_object_set_new(e, to, v && json_is_number(v) ? json_real(json_number_value(v)) : json_real(dflt));
}

static json_t *or_null(json_t *v) { return v && !json_is_null(v) ? json_incref(v) : json_null(); }

static int make_echo(const srv_ctx *c, resp_req *q, json_t *o) {
    json_t *e = json_object();
    if (!e) return 500;
    q->echo = e;
    json_object_set_new(e, "instructions", or_null(json_object_get(o, "instructions")));
    json_object_set_new(e, "max_output_tokens", or_null(json_object_get(o, "max_output_tokens")));
    json_object_set_new(e, "model", json_string(c->alias));
    int ptc = 1;
    json_t *pv = json_object_get(o, "parallel_tool_calls");
    if (json_is_boolean(pv)) ptc = json_is_true(pv);
    json_object_set_new(e, "parallel_tool_calls", json_boolean(ptc));
    json_object_set_new(e, "previous_response_id", or_null(json_object_get(o, "previous_response_id")));
    json_object_set_new(e, "reasoning", json_pack("{s:n,s:n}", "effort", "summary"));
    json_object_set_new(e, "store", json_boolean(q->store));
    echo_num(e, o, "temperature", "temperature", 1.0);
    json_t *t = json_object_get(o, "text");
    json_t *f = json_is_object(t) ? json_object_get(t, "format") : NULL;
    json_object_set_new(e, "text", f && !json_is_null(f) ? json_pack("{s:O}", "format", f)
                                                         : json_pack("{s:{s:s}}", "format", "type", "text"));
    json_t *tc = json_object_get(o, "tool_choice");
    json_object_set_new(e, "tool_choice", tc && !json_is_null(tc) ? json_incref(tc) : json_string("auto"));
    json_t *tools = json_object_get(o, "tools");
    json_object_set_new(e, "tools", json_is_array(tools) ? json_incref(tools) : json_array());
    echo_num(e, o, "top_p", "top_p", 1.0);
    json_t *tr = json_object_get(o, "truncation");
    json_object_set_new(e, "truncation", json_is_string(tr) ? json_incref(tr) : json_string("disabled"));
    json_object_set_new(e, "user", or_null(json_object_get(o, "user")));
    json_t *md = json_object_get(o, "metadata");
    json_object_set_new(e, "metadata", json_is_object(md) ? json_incref(md) : json_object());
    return 0;
}

static int parse_tree(const srv_ctx *c, const srv_caller *who, json_t *o, srv_req *r, resp_req *q, json_t **err) {
    int rc;
    if (!json_is_object(o)) FAIL400(NULL, "the request body must be a JSON object");
    if ((rc = check_fields(o, err))) return rc;
    q->owner = who && who->authed ? who->key_id : 0;
    q->store = 1;
    if ((rc = srv_get_bool(o, "store", &q->store, err))) return rc;
    if (!srv_rstore_enabled(c->responses)) q->store = 0; /* --responses-store-max 0: echoed as not stored */
    if ((rc = srv_get_bool(o, "stream", &q->stream, err))) return rc;
    json_t *ins = json_object_get(o, "instructions");
    if (ins && !json_is_null(ins) && !json_is_string(ins)) FAIL400("instructions", "'instructions' must be a string");
    if ((rc = check_metadata(json_object_get(o, "metadata"), err))) return rc;
    json_t *user = json_object_get(o, "user");
    if (user && !json_is_null(user) && !json_is_string(user)) FAIL400("user", "'user' must be a string");
    long long mot = 0;
    if ((rc = srv_get_int(o, "max_output_tokens", 1, INT32_MAX, &mot, err))) return rc;
    conv cv = {json_array(), json_object()};
    json_t *chat = json_object();
    if (!cv.msgs || !cv.call_ids || !chat) rc = 500;
    json_t *prev = json_object_get(o, "previous_response_id");
    if (!rc && prev && !json_is_null(prev)) rc = load_history(c, q->owner, prev, &cv, err);
    json_t *in = json_object_get(o, "input");
    if (!rc && in && !json_is_null(in)) rc = add_input(&cv, in, err);
    if (!rc && !json_array_size(cv.msgs)) {
        *err = srv_error_json("'input' is required (a string or a non-empty list of items)", "invalid_request_error",
                              "input", NULL);
        rc = 400;
    }
    if (!rc) rc = conv_tools(json_object_get(o, "tools"), chat, err);
    if (!rc) rc = conv_tool_choice(json_object_get(o, "tool_choice"), chat, err);
    if (!rc) rc = conv_text(json_object_get(o, "text"), chat, err);
    if (!rc) {
        /* the chat body: instructions first, then the conversation */
        json_t *msgs = json_array();
        if (ins && json_is_string(ins)) json_array_append_new(msgs, json_pack("{s:s,s:O}", "role", "system", "content", ins));
        json_array_extend(msgs, cv.msgs);
        json_object_set_new(chat, "messages", msgs);
        static const char *const same[] = {"model", "temperature", "top_p", "parallel_tool_calls", "user", "stream", NULL};
        for (const char *const *k = same; *k; k++)
            if (json_object_get(o, *k)) json_object_set(chat, *k, json_object_get(o, *k));
        for (const char *const *k = pass_fields; *k; k++)
            if (json_object_get(o, *k)) json_object_set(chat, *k, json_object_get(o, *k));
        if (mot > 0) json_object_set_new(chat, "max_tokens", json_integer(mot));
        rc = oai_parse_json(c, who, OAI_CHAT, chat, r, &q->oai, err);
        if (rc && *err) rename_error(*err);
    }
    json_decref(chat);
    json_decref(cv.call_ids);
    if (!rc) {
        q->hist = cv.msgs;
        rc = make_echo(c, q, o);
    } else {
        json_decref(cv.msgs);
    }
    return rc;
}

int rsp_parse(const srv_ctx *c, const srv_caller *who, const char *body, size_t len, srv_req *r, resp_req **out,
              srv_fail *fail) {
    memset(fail, 0, sizeof *fail);
    json_t *err = NULL;
    int status;
    resp_req *q = pg_arena_calloc(srv_req_arena(r), 1, sizeof *q);
    *out = q;
    if (!q) {
        status = 500;
    } else {
        q->open = -1;
        q->created = (long long)time(NULL);
        srv_make_id(c->ids, "resp_", q->id, sizeof q->id);
        srv_req_on_free(r, free_state, q);
        json_error_t je;
        json_t *o = json_loadb(body ? body : "", len, JSON_REJECT_DUPLICATES, &je);
        if (!o) {
            char m[400];
            snprintf(m, sizeof m, "invalid JSON body: %s (line %d, column %d)", je.text, je.line, je.column);
            err = srv_error_json(m, "invalid_request_error", NULL, "invalid_json");
            status = 400;
        } else {
            status = parse_tree(c, who, o, r, q, &err);
        }
        json_decref(o);
    }
    if (!status) return 0;
    if (!err)
        err = srv_error_json(status == 500 ? "internal error (out of memory?)" : "invalid request",
                             status >= 500 ? "server_error" : "invalid_request_error", NULL, NULL);
    fail->status = status;
    fail->body = srv_dump(err, &fail->len);
    return status;
}
