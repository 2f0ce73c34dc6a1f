/* cmd_parse_output.c - `pagoda parse-output`: one model output -> content,
 * reasoning and tool calls, with the server's parser (server/toolcall.h).
 *
 *   pagoda parse-output (--template FILE | -m MODEL | --format NAME) --text-file F
 *
 * The format is detected from the chat template's text (the template file,
 * or the model's tokenizer.chat_template) unless --format names it. Prints
 * one JSON line: {"content", "reasoning_content" (null when the output has
 * no reasoning block), "tool_calls": [{"name", "arguments" (a JSON text)}]}
 * and, on stderr with --verbose, the detected format. */
#include "cli/commands.h"

#include "base/error.h"
#include "gguf/gguf.h"
#include "server/toolcall.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const pg_cli_opt po_opts[] = {
    {"--template", "FILE", PG_ARG_STR, 0, NULL, "the model's Jinja chat template (the call format is detected from it)"},
    {"-m, --model", "FILE", PG_ARG_STR, 0, NULL, "detect the format from this GGUF model's tokenizer.chat_template"},
    {"--format", "NAME", PG_ARG_STR, 0, NULL,
     "the format by name instead: generic, hermes, llama3, mistral, functionary-v3.1, functionary-v3.2, "
     "firefunction-v2, command-r7b, deepseek-r1"},
    {"--text-file", "F", PG_ARG_STR | PG_ARG_REQ, 0, NULL, "the generated text to parse (required)"},
    {"--reasoning-inline", NULL, PG_ARG_NONE, 0, NULL, "keep thinking text in content (the API's reasoning_format none)"},
    {"-v, --verbose", NULL, PG_ARG_NONE, 0, NULL, "print the detected format on stderr"},
};
const pg_cli_cmd pg_cli_parse_output = {
    "parse-output", "(--template FILE | -m MODEL | --format NAME) --text-file F",
    "parses one model output into content, reasoning_content and tool_calls (JSON), as the server does",
    NULL, po_opts, PG_CLI_N(po_opts), 0, 0, NULL};

static int usage(void) {
    fprintf(stderr, "usage: pagoda parse-output (--template FILE | -m MODEL | --format NAME) --text-file F\n");
    return 2;
}

/* Whole file, malloc'd; NULL if unreadable or over 64 MiB. */
static char *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 1 << 16, n = 0;
    char *b = malloc(cap);
    while (b) {
        n += fread(b + n, 1, cap - n, f);
        if (n < cap) break;
        char *nb = cap <= (64u << 20) ? realloc(b, cap * 2) : NULL;
        if (!nb) free(b);
        b = nb;
        cap *= 2;
    }
    int bad = ferror(f);
    fclose(f);
    if (!b || bad) {
        free(b);
        return NULL;
    }
    *len = n;
    return b;
}

int cmd_parse_output(int argc, char **argv) {
    const char *tpl_path = NULL, *model = NULL, *fmt = NULL, *text_path = NULL;
    int inl = 0, verbose = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--template") && i + 1 < argc) tpl_path = argv[++i];
        else if ((!strcmp(argv[i], "-m") || !strcmp(argv[i], "--model")) && i + 1 < argc) model = argv[++i];
        else if (!strcmp(argv[i], "--format") && i + 1 < argc) fmt = argv[++i];
        else if (!strcmp(argv[i], "--text-file") && i + 1 < argc) text_path = argv[++i];
        else if (!strcmp(argv[i], "--reasoning-inline")) inl = 1;
        else if (!strcmp(argv[i], "-v") || !strcmp(argv[i], "--verbose")) verbose = 1;
        else return usage();
    }
    if (!text_path || (!!tpl_path + !!model + !!fmt) != 1) return usage();
    pg_tc_style st;
    if (fmt) {
        int f = pg_tc_format_from_name(fmt);
        if (f < 0) {
            fprintf(stderr, "pagoda parse-output: unknown format '%s' (see --help)\n", fmt);
            return 2;
        }
        pg_tc_style_of((pg_tc_format)f, &st);
    } else if (tpl_path) {
        size_t n;
        char *t = slurp(tpl_path, &n);
        if (!t) {
            fprintf(stderr, "pagoda parse-output: cannot read %s\n", tpl_path);
            return 1;
        }
        pg_tc_detect(t, n, &st);
        free(t);
    } else {
        pg_gguf *g = NULL;
        pg_error err;
        pg_error_clear(&err);
        const char *t = NULL;
        size_t n = 0;
        if (pg_gguf_open(model, &g, &err)) {
            fprintf(stderr, "pagoda parse-output: %s\n", err.msg);
            return 1;
        }
        if (pg_gguf_get_str(g, "tokenizer.chat_template", &t, &n, &err)) t = NULL, n = 0;
        pg_tc_detect(t, n, &st);
        pg_gguf_close(g);
    }
    if (verbose) fprintf(stderr, "pagoda parse-output: format %s\n", pg_tc_format_name(st.format));
    size_t len;
    char *text = slurp(text_path, &len);
    if (!text) {
        fprintf(stderr, "pagoda parse-output: cannot read %s\n", text_path);
        return 1;
    }
    pg_tc_result r;
    int rc = pg_tc_parse(&st, text, len, inl ? PG_TC_REASONING_INLINE : 0, &r);
    free(text);
    if (rc) {
        fprintf(stderr, "pagoda parse-output: out of memory\n");
        return 1;
    }
    json_t *o = json_object();
    json_t *c = json_stringn(r.content, r.content_len);
    json_object_set_new(o, "content", c ? c : json_string(""));
    json_t *rs = r.has_reasoning ? json_stringn(r.reasoning, r.reasoning_len) : NULL;
    json_object_set_new(o, "reasoning_content", rs ? rs : json_null());
    json_t *calls = json_array();
    for (size_t i = 0; i < r.n_calls; i++) {
        json_t *x = json_object();
        json_object_set_new(x, "name", json_string(r.calls[i].name));
        json_object_set_new(x, "arguments", json_string(r.calls[i].arguments));
        json_array_append_new(calls, x);
    }
    json_object_set_new(o, "tool_calls", calls);
    pg_tc_result_free(&r);
    if (!c) fprintf(stderr, "pagoda parse-output: warning: the content is not valid UTF-8; printed as \"\"\n");
    char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    if (!s) return 1;
    puts(s);
    free(s);
    return 0;
}
