/* toolcall_gbnf.c - GBNF for constrained tool calls (see toolcall.h).
 *
 * Each tool's parameters schema goes through the JSON Schema front-end
 * (sample/jsonschema.h); its rules are renamed with a per-tool prefix
 * (identifiers outside literals, classes, {m,n} counts and comments) so
 * the tools' grammars can live in one text. Then one `call` rule per
 * format writes the format's call syntax around `tK-root`, and `root`
 * chains calls (parallel) or takes one. Lazy (auto) grammars start with
 * the trigger text itself: the engine feeds the matcher from the trigger's
 * start. */
#include "server/toolcall.h"
#include "server/toolcall_impl.h"

#include "base/error.h"
#include "sample/grammar.h"
#include "sample/jsonschema.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* GBNF text under construction: toolcall's growable buffer */
typedef tbuf gb;

static void put(gb *b, const char *s, size_t n) { pg_tc_tb_put(b, s, n); }
static void puts_(gb *b, const char *s) { put(b, s, strlen(s)); }

/* A GBNF literal "..." of s. */
static void lit(gb *b, const char *s) {
    size_t n = strlen(s);
    size_t cap = n * 10 + 8;
    char *e = malloc(cap);
    if (!e) {
        b->err = 1;
        return;
    }
    size_t k = pg_gbnf_escape(s, n, e, cap);
    put(b, " \"", 2);
    put(b, e, k);
    put(b, "\"", 1);
    free(e);
}

static int ident_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
static int ident_char(char c) { return ident_start(c) || (c >= '0' && c <= '9') || c == '-'; }

/* Copies GBNF text g with every rule name prefixed by pre. */
static void renamed(gb *b, const char *g, const char *pre) {
    size_t n = strlen(g), i = 0;
    while (i < n) {
        char c = g[i];
        size_t s = i;
        if (c == '"' || c == '[') {
            char close = c == '"' ? '"' : ']';
            for (i++; i < n && g[i] != close; i++)
                if (g[i] == '\\') i++;
            i = i < n ? i + 1 : n;
            put(b, g + s, i - s);
        } else if (c == '{') {
            while (i < n && g[i] != '}') i++;
            i = i < n ? i + 1 : n;
            put(b, g + s, i - s);
        } else if (c == '#') {
            while (i < n && g[i] != '\n') i++;
            put(b, g + s, i - s);
        } else if (ident_start(c)) {
            while (i < n && ident_char(g[i])) i++;
            puts_(b, pre);
            put(b, g + s, i - s);
        } else {
            put(b, &c, 1);
            i++;
        }
    }
    put(b, "\n", 1);
}

#define DS_CALLS_BEGIN "<\xef\xbd\x9ctool\xe2\x96\x81" "calls\xe2\x96\x81" "begin\xef\xbd\x9c>"
#define DS_CALLS_END "<\xef\xbd\x9ctool\xe2\x96\x81" "calls\xe2\x96\x81" "end\xef\xbd\x9c>"
#define DS_CALL_BEGIN "<\xef\xbd\x9ctool\xe2\x96\x81" "call\xe2\x96\x81" "begin\xef\xbd\x9c>"
#define DS_CALL_END "<\xef\xbd\x9ctool\xe2\x96\x81" "call\xe2\x96\x81" "end\xef\xbd\x9c>"
#define DS_SEP "<\xef\xbd\x9ctool\xe2\x96\x81sep\xef\xbd\x9c>"

/* One call of tool k (name nm) in format f: text before and after its
 * arguments rule tK-root. */
static void call_alt(gb *b, pg_tc_format f, const char *nm, int k, int first) {
    char args[32], pre[600], post[64];
    snprintf(args, sizeof args, " t%d-root", k);
    pre[0] = post[0] = 0;
    switch (f) {
    case PG_TC_HERMES:
        snprintf(pre, sizeof pre, "<tool_call>\n{\"name\": \"%s\", \"arguments\": ", nm);
        snprintf(post, sizeof post, "}\n</tool_call>");
        break;
    case PG_TC_LLAMA3:
        snprintf(pre, sizeof pre, "{\"name\": \"%s\", \"parameters\": ", nm);
        snprintf(post, sizeof post, "}");
        break;
    case PG_TC_FUNCTIONARY31:
        snprintf(pre, sizeof pre, "<function=%s>", nm);
        snprintf(post, sizeof post, "</function>");
        break;
    case PG_TC_FUNCTIONARY32:
        snprintf(pre, sizeof pre, "%s%s\n", first ? "" : ">>>", nm);
        break;
    case PG_TC_COMMAND_R7B: /* the id: the call's number, as the template writes it */
        lit(b, "{\"tool_call_id\": \"");
        puts_(b, first ? "" : " [0-9]{1,3}");
        if (first) lit(b, "0");
        snprintf(pre, sizeof pre, "\", \"tool_name\": \"%s\", \"parameters\": ", nm);
        snprintf(post, sizeof post, "}");
        break;
    case PG_TC_DEEPSEEK_R1:
        snprintf(pre, sizeof pre, DS_CALL_BEGIN "function" DS_SEP "%s\n```json\n", nm);
        snprintf(post, sizeof post, "\n```" DS_CALL_END);
        break;
    default: /* MISTRAL, FIREFUNCTION2, GENERIC: list items */
        snprintf(pre, sizeof pre, "{\"name\": \"%s\", \"arguments\": ", nm);
        snprintf(post, sizeof post, "}");
        break;
    }
    lit(b, pre);
    puts_(b, args);
    if (post[0]) lit(b, post);
}

/* call-first ::= ... | ... ; call-next ::= ... (the alternatives of every tool) */
static void call_rules(gb *b, pg_tc_format f, const pg_tc_tool *t, size_t n) {
    for (int first = 1; first >= 0; first--) {
        puts_(b, first ? "call-first ::=" : "call-next ::=");
        for (size_t k = 0; k < n; k++) {
            if (k) puts_(b, " |");
            call_alt(b, f, t[k].name, (int)k, first);
        }
        puts_(b, "\n");
    }
}

/* root for the format: the list of calls and its wrapping. */
static void root_rule(gb *b, pg_tc_format f, int required, int parallel, int think_forced) {
    const char *many = parallel ? "*" : "";
    char sep[32] = "";
    const char *open = "", *close = "";
    switch (f) {
    case PG_TC_HERMES: snprintf(sep, sizeof sep, "\n"); break;
    case PG_TC_LLAMA3: snprintf(sep, sizeof sep, "; "); break;
    case PG_TC_FUNCTIONARY31: break;
    case PG_TC_FUNCTIONARY32: break;
    case PG_TC_MISTRAL: open = "[TOOL_CALLS]["; close = "]"; snprintf(sep, sizeof sep, ", "); break;
    case PG_TC_FIREFUNCTION2: open = "functools["; close = "]"; snprintf(sep, sizeof sep, ", "); break;
    case PG_TC_COMMAND_R7B: open = "<|START_ACTION|>["; close = "]<|END_ACTION|>"; snprintf(sep, sizeof sep, ", "); break;
    case PG_TC_DEEPSEEK_R1: open = DS_CALLS_BEGIN; close = DS_CALLS_END; snprintf(sep, sizeof sep, "\n"); break;
    default: open = "{\"tool_calls\": ["; close = "]}"; snprintf(sep, sizeof sep, ", "); break;
    }
    puts_(b, "calls ::=");
    if (*open) lit(b, open);
    puts_(b, " call-first");
    if (parallel) {
        puts_(b, " (");
        if (*sep) lit(b, sep);
        puts_(b, " call-next)");
        puts_(b, many);
    }
    if (*close) lit(b, close);
    puts_(b, "\n");
    if (f == PG_TC_GENERIC && !required) {
        /* auto without markers: calls, or a text answer as {"response": "..."} */
        puts_(b, "root ::= calls | \"{\\\"response\\\": \\\"\" ([^\"\\\\\\x00-\\x1F] | \"\\\\\" [\"\\\\/bfnrt] | "
                 "\"\\\\u\" [0-9a-fA-F]{4})* \"\\\"}\"\n");
    } else if (think_forced && required) {
        /* the prompt opened <think>: the reasoning comes first */
        puts_(b, "root ::= ([^<] | \"<\" [^/])* \"</think>\" [\\n]* calls\n");
    } else {
        puts_(b, "root ::= calls\n");
    }
}

static void add_trigger(pg_tc_grammar *g, const char *t, int *oom) {
    if (g->n_triggers >= PG_TC_MAX_TRIGGERS) return;
    char *s = strdup(t);
    if (!s) *oom = 1;
    else g->triggers[g->n_triggers++] = s;
}

int pg_tc_grammar_build(const pg_tc_style *st, const pg_tc_tool *tools, size_t n, int required, int parallel,
                        pg_tc_grammar *out, char *err, size_t errlen) {
    memset(out, 0, sizeof *out);
    pg_tc_format f = st->format;
    if (f == PG_TC_NONE || n == 0) return 0;
    gb b = {0};
    /* the tools' argument grammars */
    for (size_t k = 0; k < n; k++) {
        char *g = NULL, msg[256] = "";
        if (pg_jsonschema_to_gbnf(tools[k].schema, strlen(tools[k].schema), 0, &g, msg, sizeof msg) < 0) {
            snprintf(err, errlen, "tool '%s': %s", tools[k].name, msg);
            free(b.p);
            return PG_EINVAL;
        }
        char pre[32];
        snprintf(pre, sizeof pre, "t%zu-", k);
        renamed(&b, g, pre);
        free(g);
    }
    call_rules(&b, f, tools, n);
    root_rule(&b, f, required, parallel, st->think == PG_TC_THINK_FORCED);
    int oom = b.err;
    if (!required && f != PG_TC_GENERIC) {
        switch (f) {
        case PG_TC_HERMES: add_trigger(out, "<tool_call>", &oom); break;
        case PG_TC_LLAMA3: add_trigger(out, "{\"name\": \"", &oom); break;
        case PG_TC_MISTRAL: add_trigger(out, "[TOOL_CALLS]", &oom); break;
        case PG_TC_FUNCTIONARY31: add_trigger(out, "<function=", &oom); break;
        case PG_TC_FIREFUNCTION2: add_trigger(out, "functools[", &oom); break;
        case PG_TC_COMMAND_R7B: add_trigger(out, "<|START_ACTION|>", &oom); break;
        case PG_TC_DEEPSEEK_R1: add_trigger(out, DS_CALLS_BEGIN, &oom); break;
        case PG_TC_FUNCTIONARY32:
            for (size_t k = 0; k < n && k < PG_TC_MAX_TRIGGERS; k++) {
                char t[300];
                snprintf(t, sizeof t, "%s\n", tools[k].name);
                add_trigger(out, t, &oom);
            }
            break;
        default: break;
        }
    }
    if (oom) {
        free(b.p);
        pg_tc_grammar_free(out);
        snprintf(err, errlen, "out of memory");
        return PG_ENOMEM;
    }
    out->gbnf = b.p;
    return 0;
}

void pg_tc_grammar_free(pg_tc_grammar *g) {
    if (!g) return;
    free(g->gbnf);
    for (int i = 0; i < g->n_triggers; i++) free(g->triggers[i]);
    memset(g, 0, sizeof *g);
}
