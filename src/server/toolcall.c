/* toolcall.c - tool calls and reasoning in generated text (see toolcall.h).
 *
 * Design: one parser, pg_tc_parse_core(), reads a whole text in one of two modes.
 * FINAL reads it as the complete answer. PARTIAL reads a prefix of an
 * answer and reports only what no continuation can change: a tail that
 * might be the start of a marker, trailing white space (it is stripped
 * when calls follow), a reasoning block still open and a call construct
 * still open are left out. Every decision PARTIAL makes depends only on
 * bytes it has seen, so its content and reasoning are prefixes of FINAL's
 * and its calls a prefix of FINAL's calls; the stream re-reads its text in
 * PARTIAL mode after every piece and emits the growth as events, and at
 * the end reads it in FINAL mode. Reads resume at the stream's last
 * checkpoint: a point in plain content (or in an open reasoning block)
 * after which nothing before can change and whose output so far ends in a
 * non-space byte, so a piece costs a read of the text since that point,
 * not of the whole answer (formats read as a whole - Llama JSON, generic
 * JSON, Functionary v3.2 - have no such point once they start).
 *
 * A construct (what a start marker opens) answers OK (consumed), MORE (it
 * runs past the end of the text: PARTIAL holds it; FINAL treats the
 * truncated construct as malformed unless only its close marker is
 * missing) or BAD (malformed: the marker is kept as content and scanning
 * resumes after it). Call JSON is located by bracket matching and checked
 * by jansson; arguments are re-serialised compactly. */
#include "server/toolcall_impl.h"

#include "base/error.h"

#include <jansson.h>

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------- small buffers ---------- */

void pg_tc_tb_put(tbuf *b, const char *s, size_t n) {
    if (b->err) return;
    if (b->len + n + 1 > b->cap) {
        size_t c = b->cap ? b->cap : 64;
        while (c < b->len + n + 1) c *= 2;
        char *q = realloc(b->p, c);
        if (!q) {
            b->err = 1;
            return;
        }
        b->p = q;
        b->cap = c;
    }
    if (n) memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = 0;
}

void pg_tc_pres_free(pres *r) {
    free(r->content.p);
    free(r->reasoning.p);
    for (size_t i = 0; i < r->n_calls; i++) {
        free(r->calls[i].name);
        free(r->calls[i].arguments);
    }
    free(r->calls);
    memset(r, 0, sizeof *r);
}

static void add_call(pres *r, const char *name, size_t nl, const char *args, size_t al) {
    if (r->n_calls == r->cap_calls) {
        size_t c = r->cap_calls ? r->cap_calls * 2 : 4;
        pg_tc_call *q = realloc(r->calls, c * sizeof *q);
        if (!q) {
            r->oom = 1;
            return;
        }
        r->calls = q;
        r->cap_calls = c;
    }
    char *n = malloc(nl + 1), *a = malloc(al + 1);
    if (!n || !a) {
        free(n);
        free(a);
        r->oom = 1;
        return;
    }
    memcpy(n, name, nl);
    n[nl] = 0;
    memcpy(a, args, al);
    a[al] = 0;
    r->calls[r->n_calls].name = n;
    r->calls[r->n_calls].arguments = a;
    r->n_calls++;
}

/* ---------- styles ---------- */

static const char *const fmt_names[PG_TC_N_FORMATS] = {
    [PG_TC_GENERIC] = "generic",         [PG_TC_HERMES] = "hermes",
    [PG_TC_LLAMA3] = "llama3",           [PG_TC_MISTRAL] = "mistral",
    [PG_TC_FUNCTIONARY31] = "functionary-v3.1", [PG_TC_FUNCTIONARY32] = "functionary-v3.2",
    [PG_TC_FIREFUNCTION2] = "firefunction-v2",  [PG_TC_COMMAND_R7B] = "command-r7b",
    [PG_TC_DEEPSEEK_R1] = "deepseek-r1",     [PG_TC_NONE] = "none",
};

const char *pg_tc_format_name(pg_tc_format f) {
    return (unsigned)f < PG_TC_N_FORMATS ? fmt_names[f] : "unknown";
}

int pg_tc_format_from_name(const char *name) {
    for (int i = 0; i < PG_TC_N_FORMATS; i++)
        if (name && !strcmp(name, fmt_names[i])) return i;
    return -1;
}

#define DS_CALLS_BEGIN "<\xef\xbd\x9ctool\xe2\x96\x81" "calls\xe2\x96\x81" "begin\xef\xbd\x9c>"
#define DS_CALLS_END "<\xef\xbd\x9ctool\xe2\x96\x81" "calls\xe2\x96\x81" "end\xef\xbd\x9c>"
#define DS_CALL_BEGIN "<\xef\xbd\x9ctool\xe2\x96\x81" "call\xe2\x96\x81" "begin\xef\xbd\x9c>"
#define DS_CALL_END "<\xef\xbd\x9ctool\xe2\x96\x81" "call\xe2\x96\x81" "end\xef\xbd\x9c>"
#define DS_SEP "<\xef\xbd\x9ctool\xe2\x96\x81sep\xef\xbd\x9c>"

void pg_tc_style_of(pg_tc_format f, pg_tc_style *out) {
    memset(out, 0, sizeof *out);
    out->format = (unsigned)f < PG_TC_N_FORMATS ? f : PG_TC_GENERIC;
    if (f == PG_TC_DEEPSEEK_R1) {
        out->think = PG_TC_THINK_FORCED;
        out->think_open = "<think>";
        out->think_close = "</think>";
    } else if (f == PG_TC_COMMAND_R7B) {
        out->think = PG_TC_THINK_OPTIONAL;
        out->think_open = "<|START_THINKING|>";
        out->think_close = "<|END_THINKING|>";
    }
}

static int has(const char *t, size_t n, const char *m) { return t && memmem(t, n, m, strlen(m)) != NULL; }

void pg_tc_detect(const char *t, size_t n, pg_tc_style *out) {
    pg_tc_format f = PG_TC_GENERIC;
    if (has(t, n, "<|START_ACTION|>")) f = PG_TC_COMMAND_R7B;
    else if (has(t, n, "tool\xe2\x96\x81" "calls\xe2\x96\x81" "begin")) f = PG_TC_DEEPSEEK_R1;
    else if (has(t, n, "[TOOL_CALLS]")) f = PG_TC_MISTRAL;
    else if (has(t, n, "functools[")) f = PG_TC_FIREFUNCTION2;
    else if (has(t, n, ">>>all")) f = PG_TC_FUNCTIONARY32;
    else if (has(t, n, "<function=")) f = PG_TC_FUNCTIONARY31;
    else if (has(t, n, "<tool_call>")) f = PG_TC_HERMES;
    else if (has(t, n, "<|python_tag|>") || (has(t, n, "<|start_header_id|>") && has(t, n, "ipython")))
        f = PG_TC_LLAMA3;
    pg_tc_style_of(f, out);
    if (out->think == PG_TC_THINK_NONE && has(t, n, "<think>")) {
        out->think = PG_TC_THINK_OPTIONAL;
        out->think_open = "<think>";
        out->think_close = "</think>";
    }
}

/* ---------- text helpers ---------- */

enum { OK = 0, MORE = 1, BAD = 2 };

static int is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

static size_t skip_ws(const char *t, size_t n, size_t i) {
    while (i < n && is_ws(t[i])) i++;
    return i;
}

static int starts(const char *t, size_t n, size_t i, const char *m) {
    size_t l = strlen(m);
    return i <= n && n - i >= l && !memcmp(t + i, m, l);
}

/* t[i..n) is a proper prefix of m (possibly empty). */
static int proper_prefix(const char *t, size_t n, size_t i, const char *m) {
    size_t l = strlen(m), k = n - i;
    return k < l && !memcmp(t + i, m, k);
}

/* Length of the longest tail of t[from..n) that is a proper prefix of one
 * of the markers (so it could still become that marker). */
static size_t hold_tail(const char *t, size_t from, size_t n, const char *const *m) {
    size_t best = 0;
    for (; *m; m++) {
        size_t l = strlen(*m);
        for (size_t k = l - 1; k > best; k--) {
            if (k > n - from) continue;
            if (!memcmp(t + n - k, *m, k)) {
                best = k;
                break;
            }
        }
    }
    return best;
}

/* Earliest occurrence at >= i of any marker; returns its index or -1. */
static int find_marker(const char *t, size_t n, size_t i, const char *const *m, size_t *at) {
    int which = -1;
    size_t best = n;
    for (int k = 0; m[k] && i < n; k++) {
        const char *p = memmem(t + i, n - i, m[k], strlen(m[k]));
        if (p && (size_t)(p - t) < best) {
            best = (size_t)(p - t);
            which = k;
        }
    }
    *at = best;
    return which;
}

/* End (exclusive) of the JSON object or array starting at t[i]; -1 if it
 * runs past n, -2 if t[i] starts no object/array. Brackets are matched
 * outside strings; jansson checks the rest. */
static long json_extent(const char *t, size_t n, size_t i) {
    if (i >= n) return -1;
    if (t[i] != '{' && t[i] != '[') return -2;
    int depth = 0, str = 0;
    for (size_t k = i; k < n; k++) {
        char c = t[k];
        if (str) {
            if (c == '\\') k++;
            else if (c == '"') str = 0;
            continue;
        }
        if (c == '"') str = 1;
        else if (c == '{' || c == '[') {
            if (++depth > 512) return -2;
        } else if (c == '}' || c == ']') {
            if (--depth == 0) return (long)(k + 1);
        }
    }
    return -1;
}

/* A JSON object/array at t[*i] (after white space): OK with *out (decref)
 * and *i past it, MORE, or BAD. */
static int take_json(const char *t, size_t n, size_t *i, json_t **out) {
    size_t j = skip_ws(t, n, *i);
    long e = json_extent(t, n, j);
    if (e == -1) return MORE;
    if (e == -2) return BAD;
    json_error_t je;
    json_t *v = json_loadb(t + j, (size_t)e - j, 0, &je);
    if (!v) return BAD;
    *out = v;
    *i = (size_t)e;
    return OK;
}

/* Optional white space then the close marker: OK (consumed), MORE (the
 * text ends inside it, or before it), BAD. */
static int take_close(const char *t, size_t n, size_t *i, const char *close) {
    size_t j = skip_ws(t, n, *i);
    if (starts(t, n, j, close)) {
        *i = j + strlen(close);
        return OK;
    }
    return proper_prefix(t, n, j, close) ? MORE : BAD;
}

/* ---------- call objects ---------- */

static char *dump_compact(json_t *v) { return json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER); }

static int valid_name(const char *s, size_t n) {
    if (n == 0 || n > 256) return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!(isalnum(c) || c == '_' || c == '-' || c == '.')) return 0;
    }
    return 1;
}

/* Arguments value -> compact object text (a string holding an object is
 * accepted, as some models quote it). NULL if not an object. */
static char *args_text(json_t *a) {
    if (!a) return strdup("{}");
    if (json_is_object(a)) return dump_compact(a);
    if (json_is_string(a)) {
        json_error_t je;
        json_t *v = json_loadb(json_string_value(a), json_string_length(a), 0, &je);
        char *s = v && json_is_object(v) ? dump_compact(v) : NULL;
        json_decref(v);
        return s;
    }
    return NULL;
}

/* {"name"|"tool_name": s, "arguments"|"parameters": {...}} -> call. */
static int call_from_obj(pres *r, json_t *o) {
    if (!json_is_object(o)) return BAD;
    json_t *nm = json_object_get(o, "name");
    if (!nm) nm = json_object_get(o, "tool_name");
    if (!json_is_string(nm) || !valid_name(json_string_value(nm), json_string_length(nm))) return BAD;
    json_t *a = json_object_get(o, "arguments");
    if (!a) a = json_object_get(o, "parameters");
    char *s = args_text(a);
    if (!s) return BAD;
    add_call(r, json_string_value(nm), json_string_length(nm), s, strlen(s));
    free(s);
    return OK;
}

/* An object (one call) or an array of call objects: all valid or BAD. */
static int calls_from_json(pres *r, json_t *v) {
    size_t before = r->n_calls;
    int rc = OK;
    if (json_is_array(v)) {
        if (json_array_size(v) == 0) return BAD;
        size_t k;
        json_t *x;
        json_array_foreach(v, k, x) if ((rc = call_from_obj(r, x)) != OK) break;
    } else {
        rc = call_from_obj(r, v);
    }
    if (rc != OK) { /* undo the calls this construct added */
        for (size_t k = before; k < r->n_calls; k++) {
            free(r->calls[k].name);
            free(r->calls[k].arguments);
        }
        r->n_calls = before;
    }
    return rc;
}

/* JSON (object or array of calls) then an optional close marker. close
 * NULL: none. `final`: the text is complete (a missing close is fine). */
static int construct_json(pres *r, const char *t, size_t n, size_t *i, const char *close, int final) {
    size_t j = *i;
    json_t *v = NULL;
    int rc = take_json(t, n, &j, &v);
    if (rc == MORE) return final ? BAD : MORE;
    if (rc == BAD) return BAD;
    if (close) {
        int c = take_close(t, n, &j, close);
        if (c == BAD || (c == MORE && !final)) {
            json_decref(v);
            return c;
        }
        if (c == MORE) j = n; /* the text ends before or inside the close marker */
    }
    rc = calls_from_json(r, v);
    json_decref(v);
    if (rc == OK) *i = j;
    return rc;
}

/* ---------- format bodies ---------- */

typedef struct ctx {
    const pg_tc_style *st;
    const char *t;
    size_t n;
    int final;
    pres *r;
    ckpt *co; /* PARTIAL: the furthest resume point found, or NULL */
} ctx;

/* PARTIAL: plain text t[a..b) was output in `mode`; its last non-space
 * byte ends a resume point. */
static void ckpt_after(ctx *c, size_t a, size_t b, int mode) {
    if (c->final || !c->co) return;
    while (b > a && is_ws(c->t[b - 1])) b--;
    if (b > a) *c->co = (ckpt){b, mode};
}

static void content(ctx *c, size_t a, size_t b) {
    if (b > a) pg_tc_tb_put(&c->r->content, c->t + a, b - a);
}

/* Llama 3 `tool.call(k="v", n=1)` -> call; BAD if not that shape. */
static int llama_builtin(pres *r, const char *t, size_t n) {
    size_t i = 0;
    while (i < n && (isalnum((unsigned char)t[i]) || t[i] == '_')) i++;
    if (i == 0 || !starts(t, n, i, ".call(") || n < 1 || t[n - 1] != ')') return BAD;
    size_t name_len = i;
    i += 6;
    json_t *o = json_object();
    size_t end = n - 1;
    while (1) {
        i = skip_ws(t, end, i);
        if (i >= end) break;
        size_t k0 = i;
        while (i < end && (isalnum((unsigned char)t[i]) || t[i] == '_')) i++;
        size_t k1 = i;
        i = skip_ws(t, end, i);
        if (k1 == k0 || i >= end || t[i] != '=') goto bad;
        i = skip_ws(t, end, i + 1);
        size_t v0 = i;
        if (i < end && t[i] == '"') {
            for (i++; i < end && t[i] != '"'; i++)
                if (t[i] == '\\') i++;
            if (i >= end) goto bad;
            i++;
        } else {
            while (i < end && t[i] != ',' && !is_ws(t[i])) i++;
        }
        json_error_t je;
        json_t *v = json_loadb(t + v0, i - v0, JSON_DECODE_ANY, &je);
        if (!v) goto bad;
        char key[128];
        if (k1 - k0 >= sizeof key) {
            json_decref(v);
            goto bad;
        }
        memcpy(key, t + k0, k1 - k0);
        key[k1 - k0] = 0;
        json_object_set_new(o, key, v);
        i = skip_ws(t, end, i);
        if (i < end) {
            if (t[i] != ',') goto bad;
            i++;
        }
    }
    char *s = dump_compact(o);
    json_decref(o);
    if (!s) {
        r->oom = 1;
        return BAD;
    }
    add_call(r, t, name_len, s, strlen(s));
    free(s);
    return OK;
bad:
    json_decref(o);
    return BAD;
}

/* One or more call objects separated by ';' or white space, to the end. */
static int llama_json_calls(pres *r, const char *t, size_t n) {
    size_t before = r->n_calls, i = skip_ws(t, n, 0);
    if (i >= n) return BAD;
    while (i < n) {
        json_t *v = NULL;
        int rc = take_json(t, n, &i, &v);
        if (rc == OK) {
            rc = json_is_object(v) ? calls_from_json(r, v) : BAD;
            json_decref(v);
        }
        if (rc != OK) {
            for (size_t k = before; k < r->n_calls; k++) {
                free(r->calls[k].name);
                free(r->calls[k].arguments);
            }
            r->n_calls = before;
            return BAD;
        }
        i = skip_ws(t, n, i);
        if (i < n && t[i] == ';') i = skip_ws(t, n, i + 1);
    }
    return OK;
}

/* <|python_tag|> to the end of the text: JSON calls, a built-in call, or code. */
static int python_tag_rest(ctx *c, size_t i) {
    if (!c->final) return MORE;
    size_t a = skip_ws(c->t, c->n, i), b = c->n;
    while (b > a && is_ws(c->t[b - 1])) b--;
    if (a == b) return BAD;
    if (c->st->format == PG_TC_LLAMA3) {
        if (c->t[a] == '{' && llama_json_calls(c->r, c->t + a, b - a) == OK) return OK;
        if (llama_builtin(c->r, c->t + a, b - a) == OK) return OK;
    }
    json_t *o = json_object();
    json_object_set_new(o, "code", json_stringn(c->t + a, b - a));
    char *s = json_object_get(o, "code") ? dump_compact(o) : NULL;
    json_decref(o);
    if (!s) return BAD; /* not UTF-8 */
    add_call(c->r, "python", 6, s, strlen(s));
    free(s);
    return OK;
}

static int functionary31_call(ctx *c, size_t *i) {
    size_t j = *i, k = j;
    while (k < c->n && c->t[k] != '>') {
        unsigned char ch = (unsigned char)c->t[k];
        if (!(isalnum(ch) || ch == '_' || ch == '-' || ch == '.')) return BAD;
        k++;
    }
    if (k >= c->n) return c->final ? BAD : MORE;
    if (k == j || k - j > 256) return BAD;
    size_t e = k + 1;
    json_t *v = NULL;
    int rc = take_json(c->t, c->n, &e, &v);
    if (rc == MORE) return c->final ? BAD : MORE;
    if (rc == BAD) return BAD;
    if (!json_is_object(v)) {
        json_decref(v);
        return BAD;
    }
    int cl = take_close(c->t, c->n, &e, "</function>");
    if (cl == BAD || (cl == MORE && !c->final)) {
        json_decref(v);
        return cl;
    }
    if (cl == MORE) e = c->n;
    char *s = dump_compact(v);
    json_decref(v);
    if (!s) {
        c->r->oom = 1;
        return BAD;
    }
    add_call(c->r, c->t + j, k - j, s, strlen(s));
    free(s);
    *i = e;
    return OK;
}

/* DeepSeek R1: after <｜tool▁call▁begin｜>: TYPE<｜tool▁sep｜>NAME\n[```json\n]{..}[\n```]<｜tool▁call▁end｜> */
static int deepseek_call(ctx *c, size_t *i) {
    const char *t = c->t;
    size_t n = c->n, j = *i;
    const char *sep = memmem(t + j, n - j, DS_SEP, strlen(DS_SEP));
    if (!sep) {
        for (size_t k = j; k < n; k++)
            if (!isalpha((unsigned char)t[k])) return proper_prefix(t, n, k, DS_SEP) && !c->final ? MORE : BAD;
        return c->final ? BAD : MORE;
    }
    for (size_t k = j; k < (size_t)(sep - t); k++)
        if (!isalpha((unsigned char)t[k])) return BAD;
    size_t a = (size_t)(sep - t) + strlen(DS_SEP), b = a;
    while (b < n && t[b] != '\n') {
        unsigned char ch = (unsigned char)t[b];
        if (!(isalnum(ch) || ch == '_' || ch == '-' || ch == '.')) return BAD;
        b++;
    }
    if (b >= n) return c->final ? BAD : MORE;
    if (b == a || b - a > 256) return BAD;
    size_t e = b + 1;
    int fenced = 0;
    if (starts(t, n, e, "```json")) {
        e += 7;
        fenced = 1;
    } else if (proper_prefix(t, n, e, "```json") && !c->final) {
        return MORE;
    } else if (starts(t, n, e, "```")) {
        e += 3;
        fenced = 1;
    }
    json_t *v = NULL;
    int rc = take_json(t, n, &e, &v);
    if (rc != OK) return rc == MORE && !c->final ? MORE : BAD;
    if (!json_is_object(v)) {
        json_decref(v);
        return BAD;
    }
    if (fenced) {
        int f = take_close(t, n, &e, "```");
        if (f == BAD || (f == MORE && !c->final)) {
            json_decref(v);
            return f;
        }
        if (f == MORE) e = n;
    }
    int cl = take_close(t, n, &e, DS_CALL_END);
    if (cl == BAD || (cl == MORE && !c->final)) {
        json_decref(v);
        return cl;
    }
    if (cl == MORE) e = n;
    char *s = dump_compact(v);
    json_decref(v);
    if (!s) {
        c->r->oom = 1;
        return BAD;
    }
    add_call(c->r, t + a, b - a, s, strlen(s));
    free(s);
    *i = e;
    return OK;
}

/* The markers of a marker-scanned format: starts[k] opens construct k. */
typedef struct mset {
    const char *m[8];
} mset;

static void markers_of(pg_tc_format f, mset *s) {
    memset(s, 0, sizeof *s);
    switch (f) {
    case PG_TC_HERMES: s->m[0] = "<tool_call>"; break;
    case PG_TC_LLAMA3: s->m[0] = "<|python_tag|>"; break;
    case PG_TC_MISTRAL: s->m[0] = "[TOOL_CALLS]"; break;
    case PG_TC_FUNCTIONARY31: s->m[0] = "<function="; s->m[1] = "<|python_tag|>"; break;
    case PG_TC_FIREFUNCTION2: s->m[0] = "functools"; break;
    case PG_TC_COMMAND_R7B:
        s->m[0] = "<|START_ACTION|>"; s->m[1] = "<|START_RESPONSE|>"; s->m[2] = "<|END_RESPONSE|>";
        break;
    case PG_TC_DEEPSEEK_R1: s->m[0] = DS_CALLS_BEGIN; s->m[1] = DS_CALL_BEGIN; s->m[2] = DS_CALLS_END; break;
    default: break;
    }
}

/* Construct opened by marker `m` whose text follows at *i. */
static int construct(ctx *c, const char *m, size_t *i) {
    if (!strcmp(m, "<tool_call>")) return construct_json(c->r, c->t, c->n, i, "</tool_call>", c->final);
    if (!strcmp(m, "[TOOL_CALLS]") || !strcmp(m, "functools")) return construct_json(c->r, c->t, c->n, i, NULL, c->final);
    if (!strcmp(m, "<|START_ACTION|>")) return construct_json(c->r, c->t, c->n, i, "<|END_ACTION|>", c->final);
    if (!strcmp(m, "<|python_tag|>")) {
        int rc = python_tag_rest(c, *i);
        if (rc == OK) *i = c->n;
        return rc;
    }
    if (!strcmp(m, "<function=")) return functionary31_call(c, i);
    if (!strcmp(m, DS_CALL_BEGIN)) return deepseek_call(c, i);
    return OK; /* markers that are only dropped: response and call-list brackets */
}

/* Scans t[i..n) for markers; text between goes to content. Returns 1 if
 * it stopped at a held construct (PARTIAL), else 0. */
static int scan_markers(ctx *c, size_t i) {
    mset ms;
    markers_of(c->st->format, &ms);
    for (;;) {
        size_t at;
        int k = find_marker(c->t, c->n, i, ms.m, &at);
        if (k < 0) {
            size_t hold = c->final ? 0 : hold_tail(c->t, i, c->n, ms.m);
            content(c, i, c->n - hold);
            ckpt_after(c, i, c->n - hold, CK_BODY);
            return 0;
        }
        content(c, i, at);
        size_t j = at + strlen(ms.m[k]);
        int rc = construct(c, ms.m[k], &j);
        if (rc == MORE) return 1;
        if (rc == BAD) {
            content(c, at, at + strlen(ms.m[k]));
            i = at + strlen(ms.m[k]);
        } else {
            i = skip_ws(c->t, c->n, j);
        }
    }
}

/* Functionary v3.2: [>>>]NAME\nBODY (>>>NAME\nBODY)* ; NAME all = text. */
static int scan_functionary32(ctx *c, size_t i) {
    const char *t = c->t;
    size_t n = c->n;
    int first = 1;
    while (i < n) {
        size_t s = i;
        if (starts(t, n, i, ">>>")) i += 3;
        else if (!first) return 0; /* cannot happen: segments end at ">>>" */
        else if (proper_prefix(t, n, i, ">>>") && !c->final) return 1;
        size_t a = i;
        while (i < n && (isalnum((unsigned char)t[i]) || t[i] == '_' || t[i] == '-' || t[i] == '.')) i++;
        if (i >= n && !c->final) return 1; /* the name may go on */
        if (i >= n || t[i] != '\n' || i == a) {
            if (first) { /* not the segment shape: all content */
                if (!c->final) {
                    const char *const m[] = {">>>", NULL};
                    content(c, s, n - hold_tail(t, s, n, m));
                } else {
                    content(c, s, n);
                }
                return 0;
            }
            content(c, s, n);
            return 0;
        }
        size_t b0 = i + 1;
        const char *nx = b0 < n ? memmem(t + b0, n - b0, ">>>", 3) : NULL;
        size_t b1 = nx ? (size_t)(nx - t) : n;
        if (i - a == 3 && !memcmp(t + a, "all", 3)) {
            size_t hold = 0;
            if (!nx && !c->final) {
                const char *const m[] = {">>>", NULL};
                hold = hold_tail(t, b0, n, m);
            }
            content(c, b0, b1 - hold);
        } else {
            if (!nx && !c->final) return 1;
            size_t e = b0;
            json_t *v = NULL;
            int rc = take_json(t, b1, &e, &v);
            if (rc == OK && (!json_is_object(v) || skip_ws(t, b1, e) != b1)) rc = BAD;
            if (rc == OK) {
                char *js = dump_compact(v);
                if (js) add_call(c->r, t + a, i - a, js, strlen(js));
                else c->r->oom = 1;
                free(js);
            } else if (i - a == 6 && !memcmp(t + a, "python", 6) && skip_ws(t, b1, b0) < b1) {
                json_t *o = json_object();
                size_t q = b1;
                while (q > b0 && is_ws(t[q - 1])) q--;
                json_object_set_new(o, "code", json_stringn(t + skip_ws(t, b1, b0), q - skip_ws(t, b1, b0)));
                char *js = json_object_get(o, "code") ? dump_compact(o) : NULL;
                json_decref(o);
                if (js) add_call(c->r, "python", 6, js, strlen(js));
                else content(c, s, b1);
                free(js);
            } else {
                content(c, s, b1);
            }
            json_decref(v);
        }
        first = 0;
        i = b1;
    }
    return 0;
}

/* Whole-answer JSON (Llama 3 calls, generic tool_calls/response):
 * PARTIAL holds an answer that starts with '{'. */
static int scan_whole_json(ctx *c, size_t i) {
    size_t j = skip_ws(c->t, c->n, i);
    if (j >= c->n) {
        if (!c->final) return 1; /* the answer may still start with '{' */
        content(c, i, c->n);
        return 0;
    }
    if (c->t[j] != '{') return -1; /* not this shape */
    if (!c->final) return 1;
    size_t b = c->n;
    while (b > j && is_ws(c->t[b - 1])) b--;
    if (c->st->format == PG_TC_LLAMA3) {
        if (llama_json_calls(c->r, c->t + j, b - j) == OK) return 0;
        content(c, i, c->n);
        return 0;
    }
    json_error_t je;
    json_t *v = json_loadb(c->t + j, b - j, 0, &je);
    int done = 0;
    if (json_is_object(v)) {
        json_t *tc = json_object_get(v, "tool_calls");
        json_t *one = json_object_get(v, "tool_call");
        json_t *resp = json_object_get(v, "response");
        if (json_is_array(tc) && json_object_size(v) == 1) {
            done = calls_from_json(c->r, tc) == OK;
        } else if (json_is_object(one) && json_object_size(v) == 1) {
            done = calls_from_json(c->r, one) == OK;
        } else if (json_is_string(resp) && json_object_size(v) == 1) {
            pg_tc_tb_put(&c->r->content, json_string_value(resp), json_string_length(resp));
            done = 1;
        }
    }
    json_decref(v);
    if (!done) content(c, i, c->n);
    return 0;
}

/* The body after any reasoning block. 1 if PARTIAL holds something. */
static int scan_body(ctx *c, size_t i) {
    switch (c->st->format) {
    case PG_TC_FUNCTIONARY32: return scan_functionary32(c, i);
    case PG_TC_GENERIC: {
        int rc = scan_whole_json(c, i);
        if (rc >= 0) return rc;
        content(c, i, c->n); /* not JSON: text to the end (resumable: no markers) */
        ckpt_after(c, i, c->n, CK_BODY);
        return 0;
    }
    case PG_TC_LLAMA3: {
        size_t j = skip_ws(c->t, c->n, i);
        if (j >= c->n && !c->final) return 1;
        if (j < c->n && c->t[j] == '{') return scan_whole_json(c, i);
        return scan_markers(c, i);
    }
    default: return scan_markers(c, i);
    }
}

static void rstrip(tbuf *b) {
    while (b->len && is_ws(b->p[b->len - 1])) b->p[--b->len] = 0;
}

/* The reasoning block from a (its text; no open marker there) on; sets
 * *body to where the answer's body starts. 1 if there is no body to read
 * (the block is not closed, or PARTIAL saw nothing after it yet). */
static int reasoning_from(ctx *c, size_t a, int lstrip, size_t *body) {
    const pg_tc_style *st = c->st;
    const char *t = c->t;
    size_t n = c->n;
    const char *e = a < n ? memmem(t + a, n - a, st->think_close, strlen(st->think_close)) : NULL;
    c->r->has_reasoning = 1;
    size_t b;
    if (e) b = (size_t)(e - t);
    else {
        const char *const m[] = {st->think_close, NULL};
        b = c->final ? n : n - hold_tail(t, a, n, m);
    }
    size_t ra = lstrip ? skip_ws(t, b, a) : a;
    pg_tc_tb_put(&c->r->reasoning, t + ra, b - ra);
    rstrip(&c->r->reasoning);
    if (!e) { /* still open (PARTIAL) or never closed (FINAL): all reasoning */
        ckpt_after(c, ra, b, CK_REASONING);
        return 1;
    }
    *body = skip_ws(t, n, b + strlen(st->think_close));
    return *body >= n && !c->final;
}

/* Reads t[0..n) (see the design note). from: resume there (a stream's
 * checkpoint; the output then holds only what follows it, and
 * calls_before calls came before it); co: PARTIAL's furthest resume point
 * (mode CK_NONE if none). */
void pg_tc_parse_core(const pg_tc_style *st, unsigned flags, const char *t, size_t n, int final, const ckpt *from,
                       size_t calls_before, pres *r, ckpt *co) {
    ctx c = {.st = st, .t = t, .n = n, .final = final, .r = r, .co = co};
    if (co) co->mode = CK_NONE;
    size_t i = 0;
    int think = (flags & PG_TC_REASONING_INLINE) ? PG_TC_THINK_NONE : st->think;
    if (from && from->mode == CK_BODY) {
        scan_markers(&c, from->off);
        goto out;
    }
    if (from && from->mode == CK_REASONING) {
        if (reasoning_from(&c, from->off, 0, &i)) goto out;
    } else if (think != PG_TC_THINK_NONE) {
        size_t j = skip_ws(t, n, 0);
        int opened = starts(t, n, j, st->think_open);
        if (!opened && !final && proper_prefix(t, n, j, st->think_open)) goto out;
        if ((opened || think == PG_TC_THINK_FORCED) &&
            reasoning_from(&c, opened ? j + strlen(st->think_open) : 0, 1, &i))
            goto out;
    }
    scan_body(&c, i);
out:
    if (!final || r->n_calls || calls_before) rstrip(&r->content); /* content that ends in calls */
    if (r->content.err || r->reasoning.err) r->oom = 1;
}

/* ---------- one-shot ---------- */

int pg_tc_parse(const pg_tc_style *st, const char *text, size_t len, unsigned flags, pg_tc_result *out) {
    memset(out, 0, sizeof *out);
    pres r = {0};
    pg_tc_parse_core(st, flags, text ? text : "", text ? len : 0, 1, NULL, 0, &r, NULL);
    pg_tc_tb_put(&r.content, "", 0);
    pg_tc_tb_put(&r.reasoning, "", 0);
    if (r.oom || r.content.err || r.reasoning.err) {
        pg_tc_pres_free(&r);
        return PG_ENOMEM;
    }
    out->content = r.content.p;
    out->content_len = r.content.len;
    out->reasoning = r.reasoning.p;
    out->reasoning_len = r.reasoning.len;
    out->has_reasoning = r.has_reasoning;
    out->calls = r.calls;
    out->n_calls = r.n_calls;
    return 0;
}

void pg_tc_result_free(pg_tc_result *r) {
    if (!r) return;
    free(r->content);
    free(r->reasoning);
    for (size_t i = 0; i < r->n_calls; i++) {
        free(r->calls[i].name);
        free(r->calls[i].arguments);
    }
    free(r->calls);
    memset(r, 0, sizeof *r);
}

