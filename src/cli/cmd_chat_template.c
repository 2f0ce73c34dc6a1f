/* cmd_chat_template.c - `pagoda chat-template`: render one chat case.
 *
 *   pagoda chat-template (--template FILE | -m MODEL) --case CASE.json
 *
 * CASE.json is one object as in shared/templates/golden.json: messages,
 * add_generation_prompt, bos_token, eos_token, now ("YYYY-MM-DDTHH:MM:SS",
 * taken as UTC), optional tools; every other key except template,
 * conversation, expected and expected_error (e.g.
 * additional_special_tokens) becomes a template variable of that name.
 * The rendering goes to stdout byte for byte (no newline added); a
 * template error goes to stderr with exit status 1. With -m the model's
 * tokenizer.chat_template is used, falling back (with a warning) to
 * ChatML when the model has none or it does not compile. */
#include "cli/commands.h"

#include "base/arena.h"
#include "base/error.h"
#include "gguf/gguf.h"
#include "template/chat.h"
#include "template/tpl_json.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* JSON nesting accepted in a case file (messages, tools, extra variables) */
#define CASE_MAX_DEPTH 256

static char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 1 << 16, n = 0;
    char *b = malloc(cap + 1);
    while (b) {
        size_t r = fread(b + n, 1, cap - n, f);
        n += r;
        if (n < cap) break;
        if (cap > (64u << 20)) { /* no template or case is this big */
            free(b);
            b = NULL;
            break;
        }
        char *nb = realloc(b, cap * 2 + 1);
        if (!nb) {
            free(b);
            b = NULL;
            break;
        }
        b = nb;
        cap *= 2;
    }
    fclose(f);
    if (b) {
        b[n] = 0;
        *len = n;
    }
    return b;
}

static time_t parse_now(const char *s) {
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    int Y, M, D, h = 0, m = 0, sec = 0;
    if (!s || sscanf(s, "%d-%d-%dT%d:%d:%d", &Y, &M, &D, &h, &m, &sec) < 3) return time(NULL);
    tm.tm_year = Y - 1900;
    tm.tm_mon = M - 1;
    tm.tm_mday = D;
    tm.tm_hour = h;
    tm.tm_min = m;
    tm.tm_sec = sec;
    return timegm(&tm);
}

static const pg_cli_opt ct_opts[] = {
    {"--template", "FILE", PG_ARG_STR, 0, NULL, "a Jinja chat template"},
    {"-m, --model", "FILE", PG_ARG_STR, 0, NULL, "use this GGUF model's tokenizer.chat_template (ChatML when it has none)"},
    {"--case", "CASE.json", PG_ARG_STR | PG_ARG_REQ, 0, NULL,
     "the case to render (required): {\"messages\", \"add_generation_prompt\", \"bos_token\", \"eos_token\", "
     "\"now\", \"tools\", any other key becomes a template variable}"},
};
const pg_cli_cmd pg_cli_chat_tpl = {
    "chat-template", "(--template FILE | -m MODEL) --case CASE.json",
    "renders one chat-template case exactly (no added newline)",
    NULL, ct_opts, PG_CLI_N(ct_opts), 0, 0, NULL};

static int usage(void) {
    fprintf(stderr, "usage: pagoda chat-template (--template FILE | -m MODEL) --case CASE.json\n");
    return 2;
}

int cmd_chat_template(int argc, char **argv) {
    const char *tpl_path = NULL, *model_path = NULL, *case_path = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--template") && i + 1 < argc)
            tpl_path = argv[++i];
        else if ((!strcmp(argv[i], "-m") || !strcmp(argv[i], "--model")) && i + 1 < argc)
            model_path = argv[++i];
        else if (!strcmp(argv[i], "--case") && i + 1 < argc)
            case_path = argv[++i];
        else
            return usage();
    }
    if (!case_path || (!tpl_path == !model_path)) return usage();

    int ret = 1;
    char *src = NULL, *out = NULL;
    size_t src_len = 0, out_len = 0;
    const char *tsrc = NULL;
    size_t tlen = 0;
    pg_gguf *g = NULL;
    pg_tpl *tpl = NULL;
    json_t *cj = NULL;
    pg_arena *arena = NULL;
    pg_tpl_var *extra = NULL;
    pg_error err;
    pg_error_clear(&err);

    json_error_t jerr;
    cj = json_load_file(case_path, 0, &jerr);
    if (!cj || !json_is_object(cj)) {
        fprintf(stderr, "pagoda chat-template: %s: %s\n", case_path, cj ? "not a JSON object" : jerr.text);
        goto done;
    }
    if (tpl_path) {
        src = read_file(tpl_path, &src_len);
        if (!src) {
            fprintf(stderr, "pagoda chat-template: cannot read %s\n", tpl_path);
            goto done;
        }
        tsrc = src;
        tlen = src_len;
    } else {
        if (pg_gguf_open(model_path, &g, &err)) {
            fprintf(stderr, "pagoda chat-template: %s\n", err.msg);
            goto done;
        }
        if (pg_gguf_get_str(g, "tokenizer.chat_template", &tsrc, &tlen, &err)) {
            fprintf(stderr, "pagoda chat-template: warning: %s has no chat template (%s); using ChatML\n",
                    model_path, err.msg);
            tsrc = NULL;
        }
    }
    if (tsrc && pg_tpl_compile(tsrc, tlen, &tpl, &err)) {
        if (tpl_path) {
            fprintf(stderr, "pagoda chat-template: %s: %s\n", tpl_path, err.msg);
            goto done;
        }
        fprintf(stderr, "pagoda chat-template: warning: the model's chat template does not compile (%s); "
                        "using ChatML\n", err.msg);
    }
    if (!tpl) {
        const char *fb = pg_chat_fallback_template();
        if (pg_tpl_compile(fb, strlen(fb), &tpl, &err)) {
            fprintf(stderr, "pagoda chat-template: %s\n", err.msg);
            goto done;
        }
    }

    arena = pg_arena_create(64 * 1024);
    if (!arena) goto done;
    pg_jv messages = pg_jv_undefined(), tools = pg_jv_undefined();
    json_t *jm = json_object_get(cj, "messages");
    if (jm && pg_tpl_value_from_json(arena, jm, CASE_MAX_DEPTH, &messages)) {
        fprintf(stderr, "pagoda chat-template: bad messages\n");
        goto done;
    }
    json_t *jt = json_object_get(cj, "tools");
    int have_tools = jt && !json_is_null(jt);
    if (have_tools && pg_tpl_value_from_json(arena, jt, CASE_MAX_DEPTH, &tools)) {
        fprintf(stderr, "pagoda chat-template: bad tools\n");
        goto done;
    }
    int agp = json_is_true(json_object_get(cj, "add_generation_prompt"));
    const char *bos = json_string_value(json_object_get(cj, "bos_token"));
    const char *eos = json_string_value(json_object_get(cj, "eos_token"));
    time_t now = parse_now(json_string_value(json_object_get(cj, "now")));

    static const char *known[] = {"template", "conversation", "expected", "expected_error", "messages",
                                  "add_generation_prompt", "bos_token", "eos_token", "now", "tools", NULL};
    size_t n_extra = 0;
    extra = calloc(json_object_size(cj) + 1, sizeof *extra);
    if (!extra) goto done;
    const char *k;
    json_t *v;
    json_object_foreach(cj, k, v) {
        int skip = 0;
        for (const char **q = known; *q; q++) skip |= !strcmp(*q, k);
        if (skip) continue;
        pg_jv x;
        if (pg_tpl_value_from_json(arena, v, CASE_MAX_DEPTH, &x)) {
            fprintf(stderr, "pagoda chat-template: bad value for %s\n", k);
            goto done;
        }
        extra[n_extra].name = k;
        extra[n_extra++].value = x;
    }
    if (pg_chat_render(tpl, jm ? &messages : NULL, have_tools ? &tools : NULL, agp, bos, eos, extra, n_extra, now,
                       &out, &out_len, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        goto done;
    }
    if (fwrite(out, 1, out_len, stdout) != out_len || fflush(stdout)) goto done;
    ret = 0;
done:
    free(out);
    free(extra);
    pg_arena_destroy(arena);
    pg_tpl_free(tpl);
    if (g) pg_gguf_close(g);
    free(src);
    json_decref(cj);
    return ret;
}
