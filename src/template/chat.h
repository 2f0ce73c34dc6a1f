/* chat.h - chat templates: compile a Jinja2 template once, render many times.
 *
 * The template language is the Jinja2 subset that Hugging Face chat
 * templates use, rendered the way transformers' apply_chat_template does
 * (sandboxed, trim_blocks, lstrip_blocks, loopcontrols, raise_exception,
 * tojson = json.dumps(ensure_ascii=False), strftime_now). Templates are
 * untrusted: every render is bounded by pg_tpl_limits (steps, a cost
 * budget in bytes, a wall-clock deadline, output, memory, nesting); a
 * limit hit fails with PG_ELIMIT, a cancelled render with PG_ECANCELED. Parse errors fail
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

#include <stdatomic.h>
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
    /* Cost budget: every string, list and dict operation charges the bytes
     * it scans, copies or allocates (s.find over 1 MB costs 1 MB; a list
     * item 16 bytes; code-point walks x4, case mapping x16), summed over
     * the whole render. */
    uint64_t max_work;
    uint32_t max_millis;     /* wall clock of one render; 0 = no deadline */
} pg_tpl_limits;

/* Defaults: 20M steps, 1M iterations, 8 MiB output and strings, 1M items,
 * 64 MiB memory, depth 2000, 100 nested macro calls, a cost budget of
 * 256 MiB (32 memmem passes over the largest string; real chat templates
 * make a few passes over their input) and 5000 ms of wall clock. */
void pg_tpl_limits_default(pg_tpl_limits *l);

/* Everything that bounds one render. */
typedef struct pg_tpl_render_opts {
    pg_tpl_limits lim;
    /* Absolute CLOCK_MONOTONIC deadline (pg_tpl_now_ns() + budget) or 0 =
     * start of the render + lim.max_millis. The earlier of the two wins. */
    int64_t deadline_ns;
    /* When not NULL, the render fails with PG_ECANCELED soon after *cancel
     * becomes non-zero (polled with the clock: every 1024 steps and every
     * 1 MiB of charged work), e.g. set by a shutdown or a disconnect. */
    const atomic_int *cancel;
} pg_tpl_render_opts;

/* lim = pg_tpl_limits_default, no explicit deadline, no cancel flag. */
void pg_tpl_render_opts_default(pg_tpl_render_opts *o);
/* CLOCK_MONOTONIC in nanoseconds (the clock deadline_ns is on). */
int64_t pg_tpl_now_ns(void);

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
/* The same with a deadline and a cancel flag (o NULL = defaults). */
int pg_tpl_render_opt(const pg_tpl *t, const pg_tpl_var *vars, size_t n_vars, time_t now,
                      const pg_tpl_render_opts *o, char **out, size_t *out_len, pg_error *err);

/* The chat context transformers builds: messages, add_generation_prompt,
 * bos_token, eos_token (NULL = undefined), tools only when tools != NULL
 * (a template sees `tools` undefined otherwise), plus extra variables
 * (e.g. additional_special_tokens, date_string, enable_thinking). An
 * extra variable with the same name as a standard one overrides it. */
int pg_chat_render(const pg_tpl *t, const pg_jv *messages, const pg_jv *tools,
                   int add_generation_prompt, const char *bos, const char *eos,
                   const pg_tpl_var *extra, size_t n_extra, time_t now, char **out,
                   size_t *out_len, pg_error *err);

/* The chat context of pg_chat_render as one struct. */
typedef struct pg_chat_args {
    const pg_jv *messages;  /* NULL = undefined */
    const pg_jv *tools;     /* NULL = `tools` undefined */
    int add_generation_prompt;
    const char *bos, *eos;  /* NULL = undefined */
    const pg_tpl_var *extra;
    size_t n_extra;
    time_t now;
} pg_chat_args;
/* pg_chat_render with render options (o NULL = defaults). */
int pg_chat_render_opt(const pg_tpl *t, const pg_chat_args *a, const pg_tpl_render_opts *o, char **out,
                       size_t *out_len, pg_error *err);

/* The fallback for a model without a (parsable) chat template: ChatML.
 * Each message renders as "<|im_start|>ROLE\nCONTENT<|im_end|>\n"; with
 * add_generation_prompt the output ends with "<|im_start|>assistant\n".
 * No BOS is added. Returns static Jinja source. */
const char *pg_chat_fallback_template(void);

#endif
