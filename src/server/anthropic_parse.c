/* anthropic_parse.c - Anthropic Messages body -> the request core's spec.
 *
 * Design: the body is validated here against Anthropic's shapes (every 400
 * names the Anthropic field, e.g. messages[1].content[0].tool_use_id) and
 * rewritten as the OpenAI chat body that means the same (a jansson tree);
 * oai_parse then does what every chat request does (template render with
 * the tools, tool_choice through the grammar engine, sampling, max_tokens
 * against the context). Its rare 400s (a template that fails, a prompt too
 * long for the context) are re-shaped into Anthropic's error object. The
 * extra serialisation costs one compact dump of a body that already passed
 * the server's size and depth bounds.
 *
 * Mapping (README: Anthropic Messages):
 *   system (string | text blocks)      -> {"role":"system"} first
 *   user text blocks                   -> one user message (joined by "\n")
 *   user tool_result blocks            -> {"role":"tool","tool_call_id"} each, before the text
 *   assistant text / tool_use blocks   -> content + tool_calls (arguments = input as JSON text)
 *   assistant thinking blocks          -> dropped (the template renders no history thinking)
 *   image / document blocks            -> 400 (the model reads text only)
 *   stop_sequences                     -> stop + include_stop_str_in_output (the format side
 *                                         strips the matched sequence and reports it)
 *   tools[].input_schema, tool_choice  -> function tools, auto | required | named | none
 *   metadata.user_id                   -> user (logged at debug level)
 *   seed (pagoda extension)            -> seed */
#include "server/anthropic_parse.h"

#include "base/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------- errors ---------- */

const char *anth_error_type(int status) {
    switch (status) {
    case 401: return "authentication_error";
    case 403: return "permission_error";
    case 404: return "not_found_error";
    case 413: return "request_too_large";
    case 429: return "rate_limit_error";
    case 503:
    case 529: return "overloaded_error";
    case 504: return "timeout_error";
    default: return status >= 500 ? "api_error" : "invalid_request_error";
    }
}

char *anth_error(int status, const char *msg, const char *type, const char *code, size_t *len) {
    (void)type;
    (void)code;
    json_t *e = json_object(), *o = json_object();
    json_object_set_new(e, "type", json_string(anth_error_type(status)));
    json_object_set_new(e, "message", json_string(msg ? msg : ""));
    json_object_set_new(o, "type", json_string("error"));
    json_object_set_new(o, "error", e);
    return srv_dump(o, len);
}

/* An OpenAI error body (what oai_parse / srv_chat_prompt give) -> ours. */
static char *reshape(int status, const char *body, size_t blen, size_t *len) {
    json_t *o = body ? json_loadb(body, blen, 0, NULL) : NULL;
    json_t *m = json_object_get(json_object_get(o, "error"), "message");
    char *r = anth_error(status, json_is_string(m) ? json_string_value(m) : "invalid request", NULL, NULL, len);
    json_decref(o);
    return r;
}

#define BAD(...)                                                                                                    \
    do {                                                                                                            \
        snprintf(msg, cap, __VA_ARGS__);                                                                            \
        return 400;                                                                                                 \
    } while (0)

/* ---------- messages ---------- */

/* Text of a string or a list of text blocks (joined by "\n") into a new
 * string; other block types -> 400 naming path. */
static int text_of(json_t *v, const char *path, json_t **out, char *msg, size_t cap) {
    if (json_is_string(v)) {
        *out = json_incref(v);
        return 0;
    }
    if (!json_is_array(v)) BAD("%s must be a string or a list of text blocks", path);
    size_t n = 0, i;
    json_t *b;
    json_array_foreach(v, i, b) {
        json_t *t = json_object_get(b, "type");
        if (json_is_string(t) && (!strcmp(json_string_value(t), "image") || !strcmp(json_string_value(t), "document")))
            BAD("%s[%zu]: %s blocks are not supported (this server's model reads text only)", path, i,
                json_string_value(t));
        if (!json_is_object(b) || !json_is_string(t) || strcmp(json_string_value(t), "text") ||
            !json_is_string(json_object_get(b, "text")))
            BAD("%s[%zu] must be a text block {\"type\": \"text\", \"text\": ...}", path, i);
        n += json_string_length(json_object_get(b, "text")) + 1;
    }
    char *s = malloc(n + 1), *p = s;
    if (!s) return 500;
    json_array_foreach(v, i, b) {
        json_t *t = json_object_get(b, "text");
        if (i) *p++ = '\n';
        memcpy(p, json_string_value(t), json_string_length(t));
        p += json_string_length(t);
    }
    *out = json_stringn_nocheck(s, (size_t)(p - s));
    free(s);
    return *out ? 0 : 500;
}

typedef struct conv {
    json_t *msgs;         /* the OpenAI messages being built */
    json_t *ids;          /* tool_use ids so far (object used as a set) */
    char *msg;
    size_t cap;
} conv;

static int add_msg(conv *v, const char *role, json_t *content) {
    json_t *m = json_object();
    json_object_set_new(m, "role", json_string(role));
    json_object_set_new(m, "content", content ? content : json_null());
    json_array_append_new(v->msgs, m);
    return 0;
}

/* A content block's type, or NULL with the 400 message written. */
static const char *block_type(conv *v, json_t *b, const char *p) {
    json_t *t = json_object_get(b, "type");
    const char *ty = json_is_string(t) ? json_string_value(t) : NULL;
    if (!json_is_object(b) || !ty) snprintf(v->msg, v->cap, "%s must be a content block object with a 'type'", p);
    return json_is_object(b) ? ty : NULL;
}

/* A text block, appended to texts: 0, or 400 with the message written. */
static int text_block(conv *v, json_t *b, const char *p, json_t *texts) {
    if (!json_is_string(json_object_get(b, "text"))) {
        snprintf(v->msg, v->cap, "%s.text must be a string", p);
        return 400;
    }
    json_array_append(texts, b);
    return 0;
}

/* A user message's blocks: tool results first (tool messages), then the text. */
static int user_blocks(conv *v, json_t *blocks, const char *path) {
    char *msg = v->msg;
    size_t cap = v->cap;
    json_t *texts = json_array();
    size_t j;
    json_t *b;
    int rc = 0;
    json_array_foreach(blocks, j, b) {
        char p[160];
        snprintf(p, sizeof p, "%s[%zu]", path, j);
        const char *ty = block_type(v, b, p);
        if (!ty) {
            rc = 400;
            break;
        }
        if (!strcmp(ty, "text")) {
            if ((rc = text_block(v, b, p, texts))) break;
        } else if (!strcmp(ty, "tool_result")) {
            json_t *id = json_object_get(b, "tool_use_id"), *c = json_object_get(b, "content"), *txt = NULL;
            if (!json_is_string(id)) {
                snprintf(msg, cap, "%s.tool_use_id must be a string (the id of the tool_use it answers)", p);
                rc = 400;
                break;
            }
            if (!json_object_get(v->ids, json_string_value(id))) {
                snprintf(msg, cap, "%s.tool_use_id '%.64s' matches no tool_use block of an earlier assistant message",
                         p, json_string_value(id));
                rc = 400;
                break;
            }
            json_t *ie = json_object_get(b, "is_error");
            if (ie && !json_is_boolean(ie) && !json_is_null(ie)) {
                snprintf(msg, cap, "%s.is_error must be a boolean", p);
                rc = 400;
                break;
            }
            char q[192];
            snprintf(q, sizeof q, "%s.content", p);
            if (!c || json_is_null(c)) txt = json_string("");
            else if ((rc = text_of(c, q, &txt, msg, cap))) break;
            if (json_is_true(ie)) { /* the template has no error flag: say it in the text */
                char *s = NULL;
                if (asprintf(&s, "Error: %s", json_string_value(txt)) < 0) s = NULL;
                json_decref(txt);
                txt = s ? json_string(s) : NULL;
                free(s);
                if (!txt) {
                    rc = 500;
                    break;
                }
            }
            json_t *m = json_object();
            json_object_set_new(m, "role", json_string("tool"));
            json_object_set_new(m, "tool_call_id", json_incref(id));
            json_object_set_new(m, "content", txt);
            json_array_append_new(v->msgs, m);
        } else if (!strcmp(ty, "image") || !strcmp(ty, "document")) {
            snprintf(msg, cap, "%s: %s blocks are not supported (this server's model reads text only)", p, ty);
            rc = 400;
            break;
        } else {
            snprintf(msg, cap, "%s: block type '%.40s' is not supported in a user message (text, tool_result)", p, ty);
            rc = 400;
            break;
        }
    }
    if (!rc && json_array_size(texts)) {
        json_t *s = NULL;
        if (!(rc = text_of(texts, path, &s, msg, cap))) add_msg(v, "user", s);
    }
    json_decref(texts);
    return rc;
}

/* An assistant message's blocks: text -> content, tool_use -> tool_calls. */
static int assistant_blocks(conv *v, json_t *blocks, const char *path) {
    char *msg = v->msg;
    size_t cap = v->cap;
    json_t *texts = json_array(), *calls = json_array();
    size_t j;
    json_t *b;
    int rc = 0;
    json_array_foreach(blocks, j, b) {
        char p[160];
        snprintf(p, sizeof p, "%s[%zu]", path, j);
        const char *ty = block_type(v, b, p);
        if (!ty) {
            rc = 400;
            break;
        }
        if (!strcmp(ty, "text")) {
            if ((rc = text_block(v, b, p, texts))) break;
        } else if (!strcmp(ty, "tool_use")) {
            json_t *id = json_object_get(b, "id"), *nm = json_object_get(b, "name"), *in = json_object_get(b, "input");
            if (!json_is_string(id) || !json_is_string(nm) || !json_is_object(in)) {
                snprintf(msg, cap, "%s must have a string 'id', a string 'name' and an object 'input'", p);
                rc = 400;
                break;
            }
            char *args = json_dumps(in, JSON_COMPACT);
            if (!args) {
                rc = 500;
                break;
            }
            json_t *fn = json_object(), *call = json_object();
            json_object_set(fn, "name", nm);
            json_object_set_new(fn, "arguments", json_string(args));
            free(args);
            json_object_set(call, "id", id);
            json_object_set_new(call, "type", json_string("function"));
            json_object_set_new(call, "function", fn);
            json_array_append_new(calls, call);
            json_object_set_new(v->ids, json_string_value(id), json_true());
        } else if (!strcmp(ty, "thinking") || !strcmp(ty, "redacted_thinking")) {
            continue; /* earlier reasoning is not rendered again */
        } else {
            snprintf(msg, cap, "%s: block type '%.40s' is not supported in an assistant message (text, tool_use)", p,
                     ty);
            rc = 400;
            break;
        }
    }
    json_t *s = NULL;
    if (!rc && json_array_size(texts)) rc = text_of(texts, path, &s, msg, cap);
    if (!rc) {
        json_t *m = json_object();
        json_object_set_new(m, "role", json_string("assistant"));
        json_object_set_new(m, "content", s ? s : json_null());
        if (json_array_size(calls)) json_object_set(m, "tool_calls", calls);
        json_array_append_new(v->msgs, m);
    }
    json_decref(texts);
    json_decref(calls);
    return rc;
}

static int convert_messages(json_t *in, json_t *out, char *msg, size_t cap) {
    json_t *msgs = json_object_get(in, "messages");
    if (!json_is_array(msgs)) BAD("'messages' is required: a list of {\"role\", \"content\"} objects");
    if (!json_array_size(msgs)) BAD("'messages' must not be empty");
    conv v = {json_array(), json_object(), msg, cap};
    int rc = 0;
    json_t *sys = json_object_get(in, "system");
    if (sys && !json_is_null(sys)) {
        json_t *s = NULL;
        if (!(rc = text_of(sys, "system", &s, msg, cap))) add_msg(&v, "system", s);
    }
    size_t i;
    json_t *m;
    json_array_foreach(msgs, i, m) {
        if (rc) break;
        char p[64];
        snprintf(p, sizeof p, "messages[%zu]", i);
        json_t *role = json_object_get(m, "role"), *c = json_object_get(m, "content");
        const char *r = json_is_string(role) ? json_string_value(role) : "";
        if (!json_is_object(m)) {
            snprintf(msg, cap, "%s must be an object", p);
            rc = 400;
        } else if (strcmp(r, "user") && strcmp(r, "assistant")) {
            snprintf(msg, cap, "%s.role must be 'user' or 'assistant' (the system prompt goes in 'system')", p);
            rc = 400;
        } else if (!json_is_string(c) && !json_is_array(c)) {
            snprintf(msg, cap, "%s.content must be a string or a list of content blocks", p);
            rc = 400;
        } else if (!strcmp(r, "assistant") && i + 1 == json_array_size(msgs)) {
            snprintf(msg, cap, "%s: a final assistant message (prefill) is not supported; end with a user message", p);
            rc = 400;
        } else if (json_is_string(c)) {
            add_msg(&v, r, json_incref(c));
        } else {
            char q[80];
            snprintf(q, sizeof q, "%s.content", p);
            rc = !strcmp(r, "user") ? user_blocks(&v, c, q) : assistant_blocks(&v, c, q);
        }
    }
    if (!rc) json_object_set(out, "messages", v.msgs);
    json_decref(v.msgs);
    json_decref(v.ids);
    return rc;
}

/* ---------- tools ---------- */

static int convert_tools(json_t *in, json_t *out, char *msg, size_t cap) {
    json_t *tools = json_object_get(in, "tools"), *tc = json_object_get(in, "tool_choice");
    int has = tools && !json_is_null(tools);
    if (has) {
        if (!json_is_array(tools)) BAD("'tools' must be a list of tool objects");
        json_t *ft = json_array();
        size_t i;
        json_t *t;
        json_array_foreach(tools, i, t) {
            json_t *ty = json_object_get(t, "type"), *nm = json_object_get(t, "name"), *sc = json_object_get(t, "input_schema");
            json_t *d = json_object_get(t, "description");
            const char *why = NULL;
            if (!json_is_object(t)) why = "must be an object";
            else if (ty && !json_is_null(ty) && (!json_is_string(ty) || strcmp(json_string_value(ty), "custom")))
                why = "is a server tool (type other than 'custom'), which this server does not run";
            else if (!json_is_string(nm)) why = ".name must be a string";
            else if (!json_is_object(sc)) why = ".input_schema must be a JSON Schema object";
            else if (d && !json_is_null(d) && !json_is_string(d)) why = ".description must be a string";
            if (why) {
                json_decref(ft);
                BAD("tools[%zu] %s", i, why);
            }
            json_t *fn = json_object(), *o = json_object();
            json_object_set(fn, "name", nm);
            if (json_is_string(d)) json_object_set(fn, "description", d);
            json_object_set(fn, "parameters", sc);
            json_object_set_new(o, "type", json_string("function"));
            json_object_set_new(o, "function", fn);
            json_array_append_new(ft, o);
        }
        if (json_array_size(ft)) json_object_set(out, "tools", ft);
        has = json_array_size(ft) > 0;
        json_decref(ft);
    }
    if (!tc || json_is_null(tc)) return 0;
    json_t *ty = json_object_get(tc, "type");
    const char *t = json_is_string(ty) ? json_string_value(ty) : "";
    if (!json_is_object(tc)) BAD("'tool_choice' must be an object {\"type\": \"auto\" | \"any\" | \"tool\" | \"none\"}");
    json_t *dp = json_object_get(tc, "disable_parallel_tool_use");
    if (dp && !json_is_null(dp) && !json_is_boolean(dp)) BAD("'tool_choice.disable_parallel_tool_use' must be a boolean");
    if (!strcmp(t, "none")) {
        json_object_set_new(out, "tool_choice", json_string("none"));
        return 0;
    }
    if (!has) BAD("'tool_choice' of type '%.20s' needs 'tools'", t);
    if (json_is_true(dp)) json_object_set_new(out, "parallel_tool_calls", json_false());
    if (!strcmp(t, "auto")) json_object_set_new(out, "tool_choice", json_string("auto"));
    else if (!strcmp(t, "any")) json_object_set_new(out, "tool_choice", json_string("required"));
    else if (!strcmp(t, "tool")) {
        json_t *nm = json_object_get(tc, "name");
        if (!json_is_string(nm)) BAD("'tool_choice.name' is required with type 'tool'");
        size_t i;
        json_t *x;
        int found = 0;
        json_array_foreach(tools, i, x) found |= json_equal(json_object_get(x, "name"), nm);
        if (!found) BAD("'tool_choice.name' '%.64s' is not in 'tools'", json_string_value(nm));
        json_t *fn = json_object(), *o = json_object();
        json_object_set(fn, "name", nm);
        json_object_set_new(o, "type", json_string("function"));
        json_object_set_new(o, "function", fn);
        json_object_set_new(out, "tool_choice", o);
    } else {
        BAD("'tool_choice.type' must be 'auto', 'any', 'tool' or 'none'");
    }
    return 0;
}

/* ---------- the body ---------- */

static const char *const msg_fields[] = {"model",  "messages", "system", "max_tokens", "temperature", "top_p",
                                         "top_k",  "stop_sequences", "stream", "tools", "tool_choice", "metadata",
                                         "thinking", "seed", NULL};

static int known(const char *k) {
    for (const char *const *f = msg_fields; *f; f++)
        if (!strcmp(*f, k)) return 1;
    return 0;
}

/* sampling and output fields (not for count_tokens) */
static int convert_sampling(json_t *in, json_t *out, char *msg, size_t cap) {
    json_t *mt = json_object_get(in, "max_tokens");
    if (!mt || json_is_null(mt)) BAD("'max_tokens' is required");
    if (!json_is_integer(mt) || json_integer_value(mt) < 1) BAD("'max_tokens' must be an integer >= 1");
    json_object_set(out, "max_tokens", mt);
    static const char *const nums[] = {"temperature", "top_p", NULL};
    for (const char *const *k = nums; *k; k++) {
        json_t *v = json_object_get(in, *k);
        if (!v || json_is_null(v)) continue;
        if (!json_is_number(v)) BAD("'%s' must be a number", *k);
        json_object_set(out, *k, v);
    }
    static const char *const ints[] = {"top_k", "seed", NULL};
    for (const char *const *k = ints; *k; k++) {
        json_t *v = json_object_get(in, *k);
        if (!v || json_is_null(v)) continue;
        if (!json_is_integer(v)) BAD("'%s' must be an integer", *k);
        json_object_set(out, *k, v);
    }
    json_t *st = json_object_get(in, "stream");
    if (st && !json_is_null(st)) {
        if (!json_is_boolean(st)) BAD("'stream' must be a boolean");
        json_object_set(out, "stream", st);
    }
    json_t *ss = json_object_get(in, "stop_sequences");
    if (ss && !json_is_null(ss)) {
        size_t i;
        json_t *s;
        if (!json_is_array(ss)) BAD("'stop_sequences' must be a list of strings");
        if (json_array_size(ss) > PG_STOP_MAX_STRINGS) BAD("'stop_sequences' has more than %d entries", PG_STOP_MAX_STRINGS);
        json_array_foreach(ss, i, s) {
            if (!json_is_string(s) || !json_string_length(s)) BAD("stop_sequences[%zu] must be a non-empty string", i);
            if (json_string_length(s) > PG_STOP_MAX_LEN) BAD("stop_sequences[%zu] is longer than %d bytes", i, PG_STOP_MAX_LEN);
        }
        if (json_array_size(ss)) {
            json_object_set(out, "stop", ss);
            /* the matched sequence stays in the text: the format side cuts it and reports it */
            json_object_set_new(out, "include_stop_str_in_output", json_true());
        }
    }
    json_t *md = json_object_get(in, "metadata");
    if (md && !json_is_null(md)) {
        if (!json_is_object(md)) BAD("'metadata' must be an object");
        json_t *u = json_object_get(md, "user_id");
        if (u && !json_is_null(u) && !json_is_string(u)) BAD("'metadata.user_id' must be a string");
        if (json_is_string(u)) json_object_set(out, "user", u);
    }
    return 0;
}

int anth_to_chat(json_t *in, int count, json_t **out, char *msg, size_t cap) {
    *out = NULL;
    if (!json_is_object(in)) BAD("the request body must be a JSON object");
    const char *k;
    json_t *v;
    json_object_foreach(in, k, v) if (!known(k))
        BAD("unknown field '%.100s' (pagoda does not implement it; see the README's Anthropic table)", k);
    json_t *th = json_object_get(in, "thinking");
    if (th && !json_is_null(th) && !json_is_object(th)) BAD("'thinking' must be an object");
    json_t *o = json_object();
    json_t *model = json_object_get(in, "model");
    if (model) json_object_set(o, "model", model);
    int rc = convert_messages(in, o, msg, cap);
    if (!rc) rc = convert_tools(in, o, msg, cap);
    if (!rc && !count) rc = convert_sampling(in, o, msg, cap);
    if (rc) {
        json_decref(o);
        return rc;
    }
    *out = o;
    return 0;
}

static json_t *load(const char *body, size_t len, char *msg, size_t cap) {
    json_error_t je;
    json_t *o = json_loadb(body ? body : "", len, JSON_REJECT_DUPLICATES, &je);
    if (!o) snprintf(msg, cap, "invalid JSON body: %s (line %d, column %d)", je.text, je.line, je.column);
    return o;
}

static int fail_with(srv_fail *fail, int status, const char *m) {
    fail->status = status;
    fail->body = anth_error(status, m, NULL, NULL, &fail->len);
    return status;
}

int anth_parse(const srv_ctx *c, const srv_caller *who, const char *body, size_t len, srv_req *r, anth_req **out,
               srv_fail *fail) {
    memset(fail, 0, sizeof *fail);
    pg_arena *a = srv_req_arena(r);
    anth_req *q = pg_arena_calloc(a, 1, sizeof *q);
    *out = q;
    if (!q) return fail_with(fail, 500, "out of memory");
    srv_make_id(c->ids, "msg_", q->id, sizeof q->id);
    q->arena = a;
    q->ids = c->ids;
    q->model = c->alias;
    char m[600];
    json_t *in = load(body, len, m, sizeof m), *chat = NULL;
    if (!in) return fail_with(fail, 400, m);
    int rc = anth_to_chat(in, 0, &chat, m, sizeof m);
    json_t *md = json_object_get(in, "metadata");
    if (!rc && json_is_string(json_object_get(md, "user_id")))
        PG_DEBUG("anthropic request %s: metadata.user_id %.200s", q->id, json_string_value(json_object_get(md, "user_id")));
    json_decref(in);
    if (rc) return fail_with(fail, rc, rc == 500 ? "out of memory" : m);
    size_t n = 0;
    char *s = srv_dump(chat, &n);
    if (!s) return fail_with(fail, 500, "out of memory");
    srv_fail of;
    rc = oai_parse(c, who, OAI_CHAT, s, n, r, &q->o, &of);
    free(s);
    if (rc) {
        fail->status = rc;
        fail->body = reshape(rc, of.body, of.len, &fail->len);
        fail->retry_after = of.retry_after;
        free(of.body);
        return rc;
    }
    srv_gen *g = srv_req_gen(r);
    q->stream = q->o->stream;
    q->n_prompt = g->n_prompts ? g->prompts[0].n : 0;
    q->stop = g->base.stop;
    q->n_stop = g->base.n_stop;
    return 0;
}

int anth_count_tokens(const srv_ctx *c, const char *body, size_t len, char **out) {
    char m[600];
    size_t n;
    json_t *in = load(body, len, m, sizeof m), *chat = NULL;
    if (!in) {
        *out = anth_error(400, m, NULL, NULL, &n);
        return 400;
    }
    int rc = anth_to_chat(in, 1, &chat, m, sizeof m);
    json_decref(in);
    if (rc) {
        *out = anth_error(rc, rc == 500 ? "out of memory" : m, NULL, NULL, &n);
        return rc;
    }
    json_t *model = json_object_get(chat, "model");
    if (model && !json_is_null(model) && (!json_is_string(model) || strcmp(json_string_value(model), c->alias))) {
        snprintf(m, sizeof m, "The model '%.200s' does not exist; this server serves '%.200s'.",
                 json_is_string(model) ? json_string_value(model) : "?", c->alias);
        json_decref(chat);
        *out = anth_error(404, m, NULL, NULL, &n);
        return 404;
    }
    /* tool_choice none: the template renders no tools, as in /v1/messages */
    json_t *tc = json_object_get(chat, "tool_choice");
    if (json_is_string(tc) && !strcmp(json_string_value(tc), "none")) json_object_del(chat, "tools");
    pg_prompt pr;
    json_t *err = NULL;
    rc = srv_chat_prompt_json(c, chat, &pr, &err);
    json_decref(chat);
    if (rc) {
        size_t el = 0;
        char *eb = srv_dump(err, &el);
        *out = reshape(rc, eb, el, &n);
        free(eb);
        return rc;
    }
    json_t *o = json_object();
    json_object_set_new(o, "input_tokens", json_integer((json_int_t)pr.n));
    pg_prompt_free(&pr);
    *out = srv_dump(o, &n);
    return *out ? 200 : 500;
}
