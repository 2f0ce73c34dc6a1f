/* chat.c - public API: compiled templates, rendering, the chat context.
 *
 * A pg_tpl owns one arena holding the normalised source, tokens and AST;
 * it is never written after pg_tpl_compile returns, so renders can share
 * it. Rendering itself lives in eval.c; calls go one way (chat.c ->
 * eval.c): the render limits are resolved here and passed down. */
#include "template/chat.h"

#include "template/eval.h"
#include "template/parser.h"

#include <stdlib.h>
#include <string.h>

#define MAX_TEMPLATE_BYTES (4u << 20)

struct pg_tpl {
    pg_arena *arena;
    pg_tpl_nodes root;
};

void pg_tpl_limits_default(pg_tpl_limits *l) {
    l->max_steps = 20000000;
    l->max_iterations = 1000000;
    l->max_output = 8u << 20;
    l->max_string = 8u << 20;
    l->max_items = 1000000;
    l->max_memory = 64u << 20;
    l->max_depth = 2000;
    l->max_calls = 100;
    l->max_work = (uint64_t)256 << 20;
    l->max_millis = 5000;
}

void pg_tpl_render_opts_default(pg_tpl_render_opts *o) {
    memset(o, 0, sizeof *o);
    pg_tpl_limits_default(&o->lim);
}


int pg_tpl_compile(const char *src, size_t len, pg_tpl **out, pg_error *err) {
    *out = NULL;
    if (!src && len) return pg_error_set(err, PG_EINVAL, "template source is NULL");
    if (len > MAX_TEMPLATE_BYTES)
        return pg_error_set(err, PG_ELIMIT, "template too large (%zu bytes, limit %u)", len, MAX_TEMPLATE_BYTES);
    pg_tpl *t = calloc(1, sizeof *t);
    if (!t) return pg_error_set(err, PG_ENOMEM, "out of memory");
    t->arena = pg_arena_create(64 * 1024);
    if (!t->arena) {
        free(t);
        return pg_error_set(err, PG_ENOMEM, "out of memory");
    }
    int rc = pg_tpl_parse(t->arena, src ? src : "", len, &t->root, err);
    if (rc) {
        pg_tpl_free(t);
        return rc;
    }
    *out = t;
    return PG_OK;
}

void pg_tpl_free(pg_tpl *t) {
    if (!t) return;
    pg_arena_destroy(t->arena);
    free(t);
}

int pg_tpl_render_opt(const pg_tpl *t, const pg_tpl_var *vars, size_t n_vars, time_t now,
                      const pg_tpl_render_opts *o, char **out, size_t *out_len, pg_error *err) {
    PG_ASSERT(t && out);
    pg_tpl_render_opts d;
    if (!o) {
        pg_tpl_render_opts_default(&d);
        o = &d;
    }
    return pg_tpl_eval(&t->root, vars, n_vars, now, o, out, out_len, err);
}

int pg_tpl_render(const pg_tpl *t, const pg_tpl_var *vars, size_t n_vars, time_t now,
                  const pg_tpl_limits *lim, char **out, size_t *out_len, pg_error *err) {
    pg_tpl_render_opts o;
    pg_tpl_render_opts_default(&o);
    if (lim) o.lim = *lim;
    return pg_tpl_render_opt(t, vars, n_vars, now, &o, out, out_len, err);
}

int pg_chat_render_opt(const pg_tpl *t, const pg_chat_args *a, const pg_tpl_render_opts *o, char **out,
                       size_t *out_len, pg_error *err) {
    size_t cap;
    if (pg_add_size(a->n_extra, 5, &cap)) return pg_error_set(err, PG_EINVAL, "too many variables");
    pg_tpl_var *vars = calloc(cap, sizeof *vars);
    if (!vars) return pg_error_set(err, PG_ENOMEM, "out of memory");
    size_t n = 0;
    vars[n].name = "messages";
    vars[n++].value = a->messages ? *a->messages : pg_jv_undefined();
    vars[n].name = "add_generation_prompt";
    vars[n++].value = pg_jv_bool(a->add_generation_prompt);
    if (a->bos) {
        vars[n].name = "bos_token";
        vars[n++].value = pg_jv_str_ref(a->bos, strlen(a->bos));
    }
    if (a->eos) {
        vars[n].name = "eos_token";
        vars[n++].value = pg_jv_str_ref(a->eos, strlen(a->eos));
    }
    if (a->tools) {
        vars[n].name = "tools";
        vars[n++].value = *a->tools;
    }
    /* extras are appended last: a later binding of a name replaces an
     * earlier one in the root scope */
    for (size_t i = 0; i < a->n_extra; i++) vars[n++] = a->extra[i];
    int rc = pg_tpl_render_opt(t, vars, n, a->now, o, out, out_len, err);
    free(vars);
    return rc;
}

int pg_chat_render(const pg_tpl *t, const pg_jv *messages, const pg_jv *tools,
                   int add_generation_prompt, const char *bos, const char *eos,
                   const pg_tpl_var *extra, size_t n_extra, time_t now, char **out,
                   size_t *out_len, pg_error *err) {
    pg_chat_args a = {messages, tools, add_generation_prompt, bos, eos, extra, n_extra, now};
    return pg_chat_render_opt(t, &a, NULL, out, out_len, err);
}

/* ChatML. Content: a string as is; a list of parts contributes the text of
 * its {"type": "text"} parts; anything else (None for tool calls) nothing. */
const char *pg_chat_fallback_template(void) {
    return "{%- for message in messages -%}\n"
           "{{- '<|im_start|>' ~ message['role'] ~ '\\n' -}}\n"
           "{%- if message['content'] is string -%}{{- message['content'] -}}\n"
           "{%- elif message['content'] is iterable and message['content'] is not mapping -%}\n"
           "{%- for part in message['content'] if part is mapping and part['type'] == 'text' -%}"
           "{{- part['text'] -}}{%- endfor -%}\n"
           "{%- endif -%}\n"
           "{{- '<|im_end|>\\n' -}}\n"
           "{%- endfor -%}\n"
           "{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\\n' -}}{%- endif -%}\n";
}
