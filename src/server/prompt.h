/* prompt.h - chat messages -> prompt token ids, with special-token
 * injection closed.
 *
 * The naive path renders the chat template and tokenizes the whole string
 * with special-token parsing, so "<|end|><|assistant|>" typed by a user
 * becomes real control tokens (a forged turn). pg_prompt_chat_tokens
 * renders the same text but tokenizes special-token text only where the
 * template itself wrote it: text that came from the request (every string
 * inside messages and tools, and dict keys there) is tokenized as plain
 * text, merged with its neighbours exactly as in the naive path. For a
 * conversation whose texts hold no special-token text the ids are
 * identical to the naive path (tested on every golden conversation).
 *
 * Part of the request core: the same call serves every protocol adapter
 * (OpenAI chat, later Anthropic, Responses, Ollama) and /tokenize with
 * messages. Depends on src/template and src/tokenizer only; no HTTP.
 *
 * The caller validates roles first: the library treats a `role` like any
 * other string (one holding special-token text is protected like message
 * text, and no longer compares equal to "user" in the template), and it
 * cannot protect template markers built from pieces that are each harmless,
 * e.g. '<|' + role + '|>' with role "end". */
#ifndef PG_SERVER_PROMPT_H
#define PG_SERVER_PROMPT_H

#include "base/error.h"
#include "template/chat.h"
#include "tokenizer/tokenizer.h"

#include <stddef.h>
#include <stdint.h>
#include <time.h>

typedef struct pg_prompt_opts {
    int add_generation_prompt;
    /* 1 = the old behaviour (--chat-special-in-content): the whole rendered
     * text is tokenized with special parsing, message text included. */
    int special_in_content;
    /* BOS/EOS as pg_tokenize's add_special: -1 = add unless the rendered
     * text already starts with bos (what the server does), 0, 1. */
    int add_special;
    const char *bos, *eos;          /* bos_token / eos_token for the template (NULL = undefined) */
    const pg_tpl_var *extra;        /* extra template variables (may be NULL) */
    size_t n_extra;
    time_t now;                     /* strftime_now */
    const pg_tpl_render_opts *render; /* limits, deadline, cancel flag; NULL = defaults */
} pg_prompt_opts;

/* Defaults: add_generation_prompt 1, special_in_content 0, add_special -1,
 * now = time(NULL), everything else NULL / 0. */
void pg_prompt_opts_default(pg_prompt_opts *o);

typedef struct pg_prompt {
    int32_t *ids;        /* malloc'd; n ids */
    size_t n;
    char *text;          /* the rendered prompt (what the ids decode to), malloc'd, NUL-terminated */
    size_t text_len;
    /* How many messages (entries of `messages`; the `tools` list counts as
     * one more) held special-token text. Unless special_in_content, all of
     * it was kept as text: the operators' counter of injection attempts. */
    size_t n_special_found;
} pg_prompt;

/* Render messages (a list of message dicts, required) and tools (NULL =
 * `tools` undefined) with t and tokenize with v. On success fills *out
 * (free with pg_prompt_free) and returns PG_OK; else a negative PG_E* code
 * with a message fit for a 400 body (template errors keep the template's
 * own message) and *out zeroed. */
int pg_prompt_chat_tokens(const pg_vocab *v, const pg_tpl *t, const pg_jv *messages, const pg_jv *tools,
                          const pg_prompt_opts *o, pg_prompt *out, pg_error *err);
void pg_prompt_free(pg_prompt *p);

#endif
