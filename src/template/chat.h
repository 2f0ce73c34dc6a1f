/* chat.h - chat templates: compile a Jinja2 template once, render many times.
 *
 * The template language is the Jinja2 subset that Hugging Face chat
 * templates use, rendered the way transformers' apply_chat_template does
 * (sandboxed, trim_blocks, lstrip_blocks, loopcontrols, raise_exception,
 * tojson = json.dumps(ensure_ascii=False), strftime_now). Templates are
 * untrusted: every render is bounded by pg_tpl_limits (work, output,
 * memory, nesting); a limit hit fails with PG_ELIMIT. Parse errors fail
 * with PG_EFORMAT ("line N: ..."), runtime errors with PG_EINVAL, and
 * raise_exception(msg) with PG_EINVAL and exactly msg as the message.
 *
 * A compiled pg_tpl is immutable: concurrent renders from several threads
 * are safe. Each render uses its own arena, freed before it returns; the
 * output is malloc'd and owned by the caller (free()). */
#ifndef PG_TEMPLATE_CHAT_H
#define PG_TEMPLATE_CHAT_H

#include "base/error.h"
#include "template/value.h"

#include <stddef.h>
#include <stdint.h>
#include <time.h>

typedef struct pg_tpl pg_tpl;

typedef struct pg_tpl_limits {
    uint64_t max_steps;      /* evaluated nodes + loop iterations, whole render */
    uint64_t max_iterations; /* loop iterations, whole render */
    size_t max_output;       /* bytes of output (and of any captured block) */
    size_t max_string;       /* bytes of any one string value */
    size_t max_items;        /* elements of any one list / dict */
    size_t max_memory;       /* bytes allocated by the render's arena */
    int max_depth;           /* evaluator recursion (nested calls, blocks, exprs) */
    int max_calls;           /* nested macro calls */
} pg_tpl_limits;

/* Defaults: 20M steps, 1M iterations, 8 MiB output and strings, 1M items,
 * 64 MiB memory, depth 2000, 100 nested macro calls. */
void pg_tpl_limits_default(pg_tpl_limits *l);

/* Compile src (len bytes, at most 4 MiB). */
int pg_tpl_compile(const char *src, size_t len, pg_tpl **out, pg_error *err);
void pg_tpl_free(pg_tpl *t);

/* A named variable of the render context. */
typedef struct pg_tpl_var {
    const char *name;
    pg_jv value;
} pg_tpl_var;

/* Render with the given variables (deep-copied first; the caller's values
 * are never modified). Builtins range, dict, namespace, raise_exception
 * and strftime_now are always defined; strftime_now formats `now` as UTC.
 * lim NULL = defaults. On success *out is malloc'd, NUL-terminated, and
 * *out_len excludes the NUL. */
int pg_tpl_render(const pg_tpl *t, const pg_tpl_var *vars, size_t n_vars, time_t now,
                  const pg_tpl_limits *lim, char **out, size_t *out_len, pg_error *err);

/* The chat context transformers builds: messages, add_generation_prompt,
 * bos_token, eos_token (NULL = undefined), tools only when tools != NULL
 * (a template sees `tools` undefined otherwise), plus extra variables
 * (e.g. additional_special_tokens, date_string, enable_thinking). An
 * extra variable with the same name as a standard one overrides it. */
int pg_chat_render(const pg_tpl *t, const pg_jv *messages, const pg_jv *tools,
                   int add_generation_prompt, const char *bos, const char *eos,
                   const pg_tpl_var *extra, size_t n_extra, time_t now, char **out,
                   size_t *out_len, pg_error *err);

/* The fallback for a model without a (parsable) chat template: ChatML.
 * Each message renders as "<|im_start|>ROLE\nCONTENT<|im_end|>\n"; with
 * add_generation_prompt the output ends with "<|im_start|>assistant\n".
 * No BOS is added. Returns static Jinja source. */
const char *pg_chat_fallback_template(void);

#endif
