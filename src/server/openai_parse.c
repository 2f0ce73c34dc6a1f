/* openai_parse.c - OpenAI completions / chat request bodies -> the request
 * core's generation spec (see openai_parse.h).
 *
 * oai_parse reads the body in this order, the first failure answering:
 * JSON object -> model -> sampling fields -> deadline and cache salt ->
 * logit_bias -> stop / stop_token_ids -> n, stream, max_tokens -> the
 * kind's prompt (completions: string, ids or a list of either, each one
 * engine submission; chat: messages rendered by the chat template) ->
 * per-prompt max_tokens (computed once here) against the context ->
 * structured-output constraint (structured.c; compiled or from the
 * server's grammar cache). Every
 * string kept past the parse (stop strings, echo text, token ids) is copied
 * into the request's arena: the JSON tree is freed before submit. */
#include "server/openai_parse.h"

#include "engine/engine.h"
#include "sample/grammar.h"
#include "sample/jsonschema.h"
#include "template/tpl_json.h"

#include "base/arena.h"
#include "base/log.h"
#include "server/auth.h"
#include "server/structured.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FAIL400(param, ...)                                                                                      \
    do {                                                                                                         \
        char m_[600];                                                                                            \
        snprintf(m_, sizeof m_, __VA_ARGS__);                                                                    \
        *err_json = srv_error_json(m_, "invalid_request_error", param, NULL);                                    \
        return 400;                                                                                              \
    } while (0)

typedef struct parse_st { /* one parse */
    const srv_ctx *c;
    srv_req *r;
    pg_arena *a;
    srv_gen *g;
    oai_req *o;
    long long max_tokens; /* -1: default */
    long long min_tokens; /* vLLM's; 0 none */
} parse_st;

/* ---------- sampling and limits ---------- */

static int parse_sampling(json_t *o, pg_sampling_params *sp, int32_t *priority, json_t **err_json) {
    int rc;
    double d;
    long long ll;
    int b;
    *sp = pg_sampling_params_default();
    d = sp->temperature;
    if ((rc = srv_get_num(o, "temperature", 0, 2, &d, err_json))) return rc;
    sp->temperature = (float)d;
    d = sp->top_p;
    if ((rc = srv_get_num(o, "top_p", 0, 1, &d, err_json))) return rc;
    if (d <= 0) FAIL400("top_p", "'top_p' must be in (0, 1]");
    sp->top_p = (float)d;
    d = sp->min_p;
    if ((rc = srv_get_num(o, "min_p", 0, 1, &d, err_json))) return rc;
    sp->min_p = (float)d;
    d = sp->presence_penalty;
    if ((rc = srv_get_num(o, "presence_penalty", -2, 2, &d, err_json))) return rc;
    sp->presence_penalty = (float)d;
    d = sp->frequency_penalty;
    if ((rc = srv_get_num(o, "frequency_penalty", -2, 2, &d, err_json))) return rc;
    sp->frequency_penalty = (float)d;
    d = sp->repetition_penalty;
    if ((rc = srv_get_num(o, "repetition_penalty", 0, 2, &d, err_json))) return rc;
    if (d <= 0) FAIL400("repetition_penalty", "'repetition_penalty' must be in (0, 2]");
    sp->repetition_penalty = (float)d;
    ll = 0;
    if ((rc = srv_get_int(o, "top_k", -1, INT32_MAX, &ll, err_json))) return rc;
    sp->top_k = ll < 0 ? 0 : (int32_t)ll;
    json_t *seed = json_object_get(o, "seed");
    if (seed && !json_is_null(seed)) {
        if (!json_is_integer(seed)) FAIL400("seed", "'seed' must be an integer");
        sp->seed = (uint64_t)json_integer_value(seed);
        sp->has_seed = 1;
    }
    b = 0;
    if ((rc = srv_get_bool(o, "ignore_eos", &b, err_json))) return rc;
    sp->ignore_eos = b;
    ll = 0;
    if ((rc = srv_get_int(o, "priority", INT32_MIN, INT32_MAX, &ll, err_json))) return rc;
    *priority = (int32_t)ll;
    return 0;
}

/* Per-request deadline (capped by --request-timeout) and the prefix-cache
 * tenant: the API key, combined with an optional cache_salt, so two keys
 * never share cached blocks whatever salt they send. */
static int parse_deadline_salt(parse_st *p, json_t *o, const srv_caller *who, json_t **err_json) {
    int rc;
    double d = 0;
    if ((rc = srv_get_num(o, "timeout", 0, 1e9, &d, err_json))) return rc;
    if (json_object_get(o, "timeout") && !json_is_null(json_object_get(o, "timeout")) && d <= 0)
        FAIL400("timeout", "'timeout' must be a positive number of seconds");
    double cap = p->c->request_timeout_s;
    p->g->base.timeout_s = d > 0 ? (cap > 0 && cap < d ? cap : d) : cap;
    json_t *cs = json_object_get(o, "cache_salt");
    uint64_t base = who && who->authed ? who->key_id : 0;
    p->g->base.cache_salt = base;
    if (cs && !json_is_null(cs)) {
        if (!json_is_string(cs) || json_string_length(cs) == 0 || json_string_length(cs) > 1024)
            FAIL400("cache_salt", "'cache_salt' must be a non-empty string of at most 1024 bytes");
        p->g->base.cache_salt = srv_hash64(json_string_value(cs), json_string_length(cs), base ^ 0x73616c74ULL);
    }
    return 0;
}

static int parse_logit_bias(parse_st *p, json_t *o, json_t **err_json) {
    json_t *lb = json_object_get(o, "logit_bias");
    if (!lb || json_is_null(lb)) return 0;
    if (!json_is_object(lb)) FAIL400("logit_bias", "'logit_bias' must be an object mapping token ids to numbers");
    size_t nb = json_object_size(lb);
    if (nb > PG_SAMPLER_MAX_LOGIT_BIAS) FAIL400("logit_bias", "'logit_bias' has more than %d entries", PG_SAMPLER_MAX_LOGIT_BIAS);
    pg_logit_bias *bias = pg_arena_calloc(p->a, nb ? nb : 1, sizeof *bias);
    if (!bias) return 500;
    const char *key;
    json_t *val;
    int32_t i = 0;
    json_object_foreach(lb, key, val) {
        char *end;
        errno = 0;
        long id = strtol(key, &end, 10);
        if (!*key || *end || errno || id < 0 || id >= p->c->n_vocab)
            FAIL400("logit_bias", "'logit_bias' key '%.64s' is not a token id in [0, %d)", key, p->c->n_vocab);
        if (!json_is_number(val)) FAIL400("logit_bias", "'logit_bias' values must be numbers");
        double bv = json_number_value(val);
        if (!(bv >= -100 && bv <= 100)) FAIL400("logit_bias", "'logit_bias' values must be in [-100, 100]");
        bias[i].id = (int32_t)id;
        bias[i].bias = (float)bv;
        i++;
    }
    p->g->base.sampling.logit_bias = bias;
    p->g->base.sampling.n_logit_bias = i;
    return 0;
}

static int parse_stop(parse_st *p, json_t *o, json_t **err_json) {
    json_t *stop = json_object_get(o, "stop");
    json_t *one[1];
    json_t **list = one;
    size_t n = 0;
    if (stop && !json_is_null(stop)) {
        if (json_is_string(stop)) {
            one[0] = stop;
            n = 1;
        } else if (json_is_array(stop)) {
            n = json_array_size(stop);
            if (n > PG_STOP_MAX_STRINGS) FAIL400("stop", "'stop' has more than %d strings", PG_STOP_MAX_STRINGS);
            list = pg_arena_calloc(p->a, n ? n : 1, sizeof *list);
            if (!list) return 500;
            for (size_t i = 0; i < n; i++) {
                list[i] = json_array_get(stop, i);
                if (!json_is_string(list[i])) FAIL400("stop", "'stop' must be a string or a list of strings");
            }
        } else {
            FAIL400("stop", "'stop' must be a string or a list of strings");
        }
        const char **strs = pg_arena_calloc(p->a, n ? n : 1, sizeof *strs);
        if (!strs) return 500;
        for (size_t i = 0; i < n; i++) {
            size_t l = strlen(json_string_value(list[i]));
            if (l == 0) FAIL400("stop", "stop strings must not be empty");
            if (l > PG_STOP_MAX_LEN) FAIL400("stop", "stop strings are limited to %d bytes", PG_STOP_MAX_LEN);
            if (!(strs[i] = pg_arena_strndup(p->a, json_string_value(list[i]), l))) return 500;
        }
        p->g->base.stop = strs;
        p->g->base.n_stop = (int32_t)n;
    }
    json_t *sti = json_object_get(o, "stop_token_ids");
    if (sti && !json_is_null(sti)) {
        if (!json_is_array(sti) || json_array_size(sti) > PG_ENGINE_MAX_STOP_IDS)
            FAIL400("stop_token_ids", "'stop_token_ids' must be a list of at most %d token ids", PG_ENGINE_MAX_STOP_IDS);
        int32_t *ids = pg_arena_calloc(p->a, json_array_size(sti) + 1, sizeof *ids);
        if (!ids) return 500;
        size_t i;
        json_t *x;
        json_array_foreach(sti, i, x) {
            if (!json_is_integer(x) || json_integer_value(x) < 0 || json_integer_value(x) >= p->c->n_vocab)
                FAIL400("stop_token_ids", "'stop_token_ids' entries must be token ids in [0, %d)", p->c->n_vocab);
            ids[i] = (int32_t)json_integer_value(x);
        }
        p->g->base.stop_ids = ids;
        p->g->base.n_stop_ids = (int32_t)json_array_size(sti);
    }
    return 0;
}

/* n, best_of, stream, stream_options, user, max_tokens. */
static int parse_output(parse_st *p, json_t *o, json_t **err_json) {
    int rc, b;
    long long ll = 1;
    if ((rc = srv_get_int(o, "n", 1, OAI_MAX_N, &ll, err_json))) return rc;
    p->o->n = (int32_t)ll;
    json_t *bo = json_object_get(o, "best_of");
    if (bo && !json_is_null(bo) && (!json_is_integer(bo) || json_integer_value(bo) != p->o->n))
        FAIL400("best_of", "'best_of' is not supported (only best_of == n)");
    b = 0;
    if ((rc = srv_get_bool(o, "stream", &b, err_json))) return rc;
    p->o->stream = b;
    json_t *so = json_object_get(o, "stream_options");
    if (so && !json_is_null(so)) {
        if (!json_is_object(so)) FAIL400("stream_options", "'stream_options' must be an object");
        if (!p->o->stream) FAIL400("stream_options", "'stream_options' is only allowed when 'stream' is true");
        b = 0;
        if ((rc = srv_get_bool(so, "include_usage", &b, err_json))) return rc;
        p->o->include_usage = b;
    }
    json_t *user = json_object_get(o, "user");
    if (user && !json_is_null(user) && !json_is_string(user)) FAIL400("user", "'user' must be a string");
    p->max_tokens = -1;
    if ((rc = srv_get_int(o, "max_tokens", 1, INT32_MAX, &p->max_tokens, err_json))) return rc;
    if (p->o->kind == OAI_CHAT && (rc = srv_get_int(o, "max_completion_tokens", 1, INT32_MAX, &p->max_tokens, err_json)))
        return rc;
    if (p->c->max_tokens_limit > 0 && p->max_tokens > p->c->max_tokens_limit)
        FAIL400("max_tokens", "'max_tokens' is limited to %d on this server", p->c->max_tokens_limit);
    return 0;
}

static int parse_common(parse_st *p, json_t *o, const srv_caller *who, json_t **err_json) {
    int rc;
    pg_sampling_params *sp = &p->g->base.sampling;
    if ((rc = parse_sampling(o, sp, &p->g->base.priority, err_json))) return rc;
    if ((rc = parse_deadline_salt(p, o, who, err_json))) return rc;
    if ((rc = parse_logit_bias(p, o, err_json))) return rc;
    if ((rc = parse_stop(p, o, err_json))) return rc;
    if ((rc = parse_output(p, o, err_json))) return rc;
    pg_error e = {0};
    if (pg_sampling_params_check(sp, p->c->n_vocab, &e) < 0) {
        *err_json = srv_error_json(e.msg, "invalid_request_error", NULL, NULL);
        return 400;
    }
    return 0;
}

/* ---------- prompts ---------- */

static int add_prompt(parse_st *p, const int32_t *ids, int32_t n, const char *echo, size_t echo_len) {
    int32_t k = p->g->n_prompts++;
    int32_t *copy = pg_arena_alloc(p->a, (size_t)(n ? n : 1) * sizeof *copy);
    if (!copy) return 500;
    memcpy(copy, ids, (size_t)n * sizeof *copy);
    p->g->prompts[k].ids = copy;
    p->g->prompts[k].n = n;
    if (p->o->echo) {
        char *e = pg_arena_strndup(p->a, echo ? echo : "", echo_len);
        if (!e) return 500;
        p->o->echo_text[k] = e;
        p->o->echo_len[k] = echo_len;
    }
    return 0;
}

static int context_error(const srv_ctx *c, int32_t n_prompt, long long max_tokens, const char *param, json_t **err_json) {
    char m[400];
    snprintf(m, sizeof m,
             "This model's maximum context length is %d tokens. However, you requested %lld tokens (%d in the "
             "prompt, %lld for the completion). Please reduce the length of the prompt or of max_tokens.",
             c->n_ctx, (long long)n_prompt + max_tokens, n_prompt, max_tokens);
    *err_json = srv_error_json(m, "invalid_request_error", param, "context_length_exceeded");
    return 400;
}

static int token_list_ok(json_t *a) {
    if (!json_is_array(a) || json_array_size(a) == 0) return 0;
    size_t i;
    json_t *x;
    json_array_foreach(a, i, x) if (!json_is_integer(x)) return 0;
    return 1;
}

static int prompt_from_ids(parse_st *p, json_t *a, json_t **err_json) {
    const srv_ctx *c = p->c;
    size_t n = json_array_size(a);
    if (n > (size_t)c->n_ctx) return context_error(c, (int32_t)n, 1, "prompt", err_json);
    int32_t *ids = pg_arena_alloc(p->a, n * sizeof *ids);
    if (!ids) return 500;
    size_t i;
    json_t *x;
    json_array_foreach(a, i, x) {
        long long v = json_integer_value(x);
        if (v < 0 || v >= c->n_vocab) FAIL400("prompt", "token id %lld is outside the vocabulary [0, %d)", v, c->n_vocab);
        ids[i] = (int32_t)v;
    }
    char *echo = NULL;
    size_t el = 0;
    if (p->o->echo && !(echo = srv_detok_alloc(c->vocab, ids, n, 0, &el))) return 500;
    int rc = add_prompt(p, ids, (int32_t)n, echo, el);
    free(echo);
    return rc;
}

static int prompt_from_text(parse_st *p, json_t *str, json_t **err_json) {
    int32_t *ids;
    int32_t n;
    pg_error e = {0};
    int rc = srv_tokenize_alloc(p->c->vocab, json_string_value(str), json_string_length(str), 1, p->o->parse_special,
                                &ids, &n, &e);
    if (rc < 0) {
        *err_json = srv_error_json(e.msg, "invalid_request_error", "prompt", NULL);
        return srv_status_for(rc);
    }
    if (n == 0) {
        free(ids);
        FAIL400("prompt", "the prompt is empty");
    }
    rc = add_prompt(p, ids, n, json_string_value(str), json_string_length(str));
    free(ids);
    return rc;
}

/* completions: logprobs, echo, parse_special, suffix and the prompt shapes */
static int parse_completion(parse_st *p, json_t *o, json_t **err_json) {
    int rc;
    long long k = -1;
    json_t *lpj = json_object_get(o, "logprobs");
    if (lpj && json_is_boolean(lpj)) FAIL400("logprobs", "'logprobs' must be an integer in [0, 20] for completions");
    if ((rc = srv_get_int(o, "logprobs", 0, PG_SAMPLER_MAX_LOGPROBS, &k, err_json))) return rc;
    p->o->logprobs = (int)k;
    if ((rc = srv_get_bool(o, "echo", &p->o->echo, err_json))) return rc;
    /* Raw user text is not scanned for special-token text unless the client
     * asks ("parse_special": true, a pagoda extension); chat templates
     * always parse it. */
    if ((rc = srv_get_bool(o, "parse_special", &p->o->parse_special, err_json))) return rc;
    if (p->o->echo && p->o->logprobs >= 0)
        FAIL400("echo", "'echo' together with 'logprobs' (prompt logprobs) is not supported");
    json_t *sfx = json_object_get(o, "suffix");
    if (sfx && !json_is_null(sfx)) FAIL400("suffix", "'suffix' is not supported");
    json_t *pr = json_object_get(o, "prompt");
    if (!pr || json_is_null(pr)) FAIL400("prompt", "'prompt' is required");
    size_t np = 1;
    int shape; /* 0 string, 1 ids, 2 list of strings, 3 list of id lists */
    if (json_is_string(pr)) shape = 0;
    else if (token_list_ok(pr)) shape = 1;
    else if (json_is_array(pr) && json_array_size(pr) > 0) {
        shape = json_is_string(json_array_get(pr, 0)) ? 2 : 3;
        np = json_array_size(pr);
        size_t i;
        json_t *x;
        json_array_foreach(pr, i, x) {
            if (shape == 2 ? !json_is_string(x) : !token_list_ok(x))
                FAIL400("prompt", "'prompt' must be a string, a list of strings, a list of token ids or a list of "
                                  "token-id lists");
        }
    } else {
        FAIL400("prompt", "'prompt' must be a non-empty string, list of strings, list of token ids or list of "
                          "token-id lists");
    }
    if (np > OAI_MAX_PROMPTS || np * (size_t)p->o->n > OAI_MAX_CHOICES)
        FAIL400("prompt", "at most %d prompts and %d choices (prompts x n) per request", OAI_MAX_PROMPTS, OAI_MAX_CHOICES);
    p->g->prompts = pg_arena_calloc(p->a, np, sizeof *p->g->prompts);
    p->o->echo_text = pg_arena_calloc(p->a, np, sizeof *p->o->echo_text);
    p->o->echo_len = pg_arena_calloc(p->a, np, sizeof *p->o->echo_len);
    if (!p->g->prompts || !p->o->echo_text || !p->o->echo_len) return 500;
    if (shape == 0) return prompt_from_text(p, pr, err_json);
    if (shape == 1) return prompt_from_ids(p, pr, err_json);
    for (size_t i = 0; i < np; i++) {
        json_t *x = json_array_get(pr, i);
        if ((rc = shape == 2 ? prompt_from_text(p, x, err_json) : prompt_from_ids(p, x, err_json))) return rc;
    }
    return 0;
}


/* A message's content given as a list of text parts: joined with '\n'. */
static int join_text_parts(pg_arena *a, json_t *c, pg_jv d, const char *p, json_t **err_json) {
    pg_jv_buf b;
    pg_jv_buf_init(&b, a, (size_t)64 << 20);
    size_t k;
    json_t *part;
    int first = 1;
    json_array_foreach(c, k, part) {
        json_t *ty = json_object_get(part, "type");
        json_t *tx = json_object_get(part, "text");
        if (!json_is_object(part) || !json_is_string(ty) || strcmp(json_string_value(ty), "text") || !json_is_string(tx))
            FAIL400(p, "%s.content: only parts of type 'text' are supported", p);
        if (!first) pg_jv_buf_putc(&b, '\n');
        pg_jv_buf_put(&b, json_string_value(tx), json_string_length(tx));
        first = 0;
    }
    if (b.err) return 500;
    if (pg_jv_dict_set_str(a, d, "content", pg_jv_str_ref(b.p ? b.p : "", b.len)) < 0) return 500;
    return 0;
}

/* An assistant message's tool_calls, validated; a copy of the message
 * with each function.arguments JSON string parsed into its value (chat
 * templates expect objects, as transformers hands them), and the call ids
 * recorded in ids[*n_ids] (up to cap). *copy = NULL when m has no calls. */
static int assistant_calls(json_t *m, const char *p, const char **ids, size_t *n_ids, size_t cap, json_t **copy,
                           json_t **err_json) {
    *copy = NULL;
    json_t *tc = json_object_get(m, "tool_calls");
    if (!tc || json_is_null(tc)) return 0;
    if (!json_is_array(tc)) FAIL400(p, "%s.tool_calls must be a list", p);
    json_t *c = json_deep_copy(m);
    if (!c) return 500;
    json_t *ctc = json_object_get(c, "tool_calls");
    size_t j;
    json_t *call;
    json_array_foreach(ctc, j, call) {
        char q[128];
        snprintf(q, sizeof q, "%s.tool_calls[%zu]", p, j);
        json_t *fn = json_object_get(call, "function");
        json_t *id = json_object_get(call, "id");
        json_t *ty = json_object_get(call, "type");
        const char *why = NULL;
        if (!json_is_object(call)) why = "must be an object";
        else if (id && !json_is_string(id)) why = ".id must be a string";
        else if (ty && !json_is_null(ty) && (!json_is_string(ty) || strcmp(json_string_value(ty), "function")))
            why = ".type must be 'function'";
        else if (!json_is_object(fn) || !json_is_string(json_object_get(fn, "name")))
            why = ".function must be an object with a string 'name'";
        if (why) {
            json_decref(c);
            FAIL400(q, "%s %s", q, why);
        }
        json_t *args = json_object_get(fn, "arguments");
        if (json_is_string(args)) {
            json_error_t je;
            json_t *v = json_loadb(json_string_value(args), json_string_length(args), JSON_DECODE_ANY, &je);
            if (!v) {
                json_decref(c);
                FAIL400(q, "%s.function.arguments is not valid JSON: %s", q, je.text);
            }
            json_object_set_new(fn, "arguments", v);
        } else if (args && !json_is_object(args)) {
            json_decref(c);
            FAIL400(q, "%s.function.arguments must be a JSON string", q);
        }
        /* the id from the request's own tree (the copy dies after the conversion) */
        json_t *oid = json_object_get(json_array_get(tc, j), "id");
        if (json_is_string(oid) && *n_ids < cap) ids[(*n_ids)++] = json_string_value(oid);
    }
    *copy = c;
    return 0;
}

/* Validates messages and builds the pg_jv list (text parts joined). */
static int chat_messages(pg_arena *a, json_t *msgs, int32_t max_msgs, pg_jv *out, json_t **err_json) {
    if (!json_is_array(msgs)) FAIL400("messages", "'messages' must be a list of message objects");
    if (json_array_size(msgs) == 0) FAIL400("messages", "'messages' must not be empty");
    if (max_msgs > 0 && json_array_size(msgs) > (size_t)max_msgs)
        FAIL400("messages", "'messages' has %zu entries; this server accepts at most %d", json_array_size(msgs), max_msgs);
    static const char *roles[] = {"system", "developer", "user", "assistant", "tool", "function"};
    pg_jv list = pg_jv_list_new(a, json_array_size(msgs));
    if (list.type == PG_JV_UNDEFINED) return 500;
    /* ids of the assistant messages' tool calls so far (tool messages must answer one) */
    size_t n_ids = 0, ids_cap = 4096;
    const char **ids = pg_arena_calloc(a, ids_cap, sizeof *ids);
    if (!ids) return 500;
    size_t i;
    json_t *m;
    json_array_foreach(msgs, i, m) {
        char p[64];
        snprintf(p, sizeof p, "messages[%zu]", i);
        if (!json_is_object(m)) FAIL400(p, "%s must be an object", p);
        json_t *role = json_object_get(m, "role");
        if (!json_is_string(role)) FAIL400(p, "%s.role must be a string", p);
        int ok = 0;
        for (size_t k = 0; k < sizeof roles / sizeof roles[0]; k++) ok |= !strcmp(json_string_value(role), roles[k]);
        if (!ok) FAIL400(p, "%s.role '%.64s' is not one of system, developer, user, assistant, tool", p, json_string_value(role));
        json_t *copy = NULL;
        if (!strcmp(json_string_value(role), "assistant")) {
            int rc = assistant_calls(m, p, ids, &n_ids, ids_cap, &copy, err_json);
            if (rc) return rc;
        } else if (!strcmp(json_string_value(role), "tool")) {
            json_t *tid = json_object_get(m, "tool_call_id");
            char q[96];
            snprintf(q, sizeof q, "%s.tool_call_id", p);
            if (!json_is_string(tid)) FAIL400(q, "%s must be a string (the id of the call this message answers)", q);
            size_t k = 0;
            while (k < n_ids && strcmp(ids[k], json_string_value(tid))) k++;
            if (k == n_ids)
                FAIL400(q, "%s '%.64s' matches no tool call of an earlier assistant message", q, json_string_value(tid));
        }
        pg_jv d;
        int bad = pg_tpl_value_from_json(a, copy ? copy : m, OAI_MAX_JSON_DEPTH - 1, &d) < 0;
        json_decref(copy);
        if (bad) FAIL400(p, "%s is nested too deeply", p);
        json_t *c = json_object_get(m, "content");
        if (c && json_is_array(c)) {
            int rc = join_text_parts(a, c, d, p, err_json);
            if (rc) return rc;
        } else if (c && !json_is_string(c) && !json_is_null(c)) {
            FAIL400(p, "%s.content must be a string, a list of text parts or null", p);
        } else if (!c || json_is_null(c)) {
            if (strcmp(json_string_value(role), "assistant") && strcmp(json_string_value(role), "tool"))
                FAIL400(p, "%s.content is required", p);
        }
        if (pg_jv_list_push(a, list, d) < 0) return 500;
    }
    *out = list;
    return 0;
}

int srv_chat_prompt(const srv_ctx *c, const pg_jv *msgs, const pg_jv *tools, int agp, pg_prompt *out, json_t **err_json) {
    pg_prompt_opts po;
    pg_prompt_opts_default(&po);
    po.add_generation_prompt = agp;
    po.bos = c->bos_text;
    po.eos = c->eos_text;
    po.special_in_content = c->chat_special_in_content;
    pg_tpl_render_opts ro;
    pg_tpl_render_opts_default(&ro);
    if (c->request_timeout_s > 0) ro.deadline_ns = pg_tpl_now_ns() + (int64_t)(c->request_timeout_s * 1e9);
    ro.cancel = c->render_cancel;
    po.render = &ro;
    pg_error e = {0};
    int rc = pg_prompt_chat_tokens(c->vocab, c->tpl, msgs, tools, &po, out, &e);
    if (rc < 0) {
        int st = rc == PG_ENOMEM ? 500 : rc == PG_ECANCELED ? 503 : 400;
        char m[600];
        snprintf(m, sizeof m, "chat template: %s", e.msg);
        *err_json = srv_error_json(st == 503 ? "the server is shutting down; retry on another instance" : m,
                                   st == 400 ? "invalid_request_error" : "server_error", st == 400 ? "messages" : NULL,
                                   st == 503 ? "draining" : NULL);
        return st;
    }
    if (!c->chat_special_in_content && out->n_special_found && c->special_text_messages)
        atomic_fetch_add(c->special_text_messages, out->n_special_found);
    if (out->n == 0 || out->n > INT32_MAX / 2) {
        int empty = out->n == 0;
        pg_prompt_free(out);
        if (empty) FAIL400("messages", "the rendered conversation has no tokens");
        FAIL400("messages", "the rendered conversation is too long");
    }
    return 0;
}

int srv_chat_prompt_json(const srv_ctx *c, json_t *o, pg_prompt *out, json_t **err_json) {
    memset(out, 0, sizeof *out);
    pg_arena *a = pg_arena_create(64 * 1024);
    if (!a) {
        *err_json = srv_error_json("out of memory", "server_error", NULL, NULL);
        return 500;
    }
    int agp = 1, rc;
    pg_jv msgs, tools;
    json_t *jt = json_object_get(o, "tools");
    int has_tools = jt && !json_is_null(jt);
    if ((rc = srv_get_bool(o, "add_generation_prompt", &agp, err_json))) goto done;
    if ((rc = chat_messages(a, json_object_get(o, "messages"), c->max_messages, &msgs, err_json))) goto done;
    if (has_tools && (!json_is_array(jt) || pg_tpl_value_from_json(a, jt, OAI_MAX_JSON_DEPTH, &tools) < 0)) {
        *err_json = srv_error_json("'tools' must be a list", "invalid_request_error", "tools", NULL);
        rc = 400;
        goto done;
    }
    rc = srv_chat_prompt(c, &msgs, has_tools ? &tools : NULL, agp, out, err_json);
done:
    if (rc == 500 && !*err_json) *err_json = srv_error_json("out of memory", "server_error", NULL, NULL);
    pg_arena_destroy(a);
    return rc;
}

/* ---------- tools ---------- */

static int tool_name_ok(const char *s, size_t n) {
    if (n == 0 || n > 64) return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9') ||
              s[i] == '_' || s[i] == '-'))
            return 0;
    return 1;
}

/* A parameters schema must compile to a grammar (forced calls are
 * generated under it). 0 or 400 naming param. */
static int schema_compiles(const char *schema, const char *param, json_t **err_json) {
    char *gbnf = NULL, msg[300] = "";
    if (pg_jsonschema_to_gbnf(schema, strlen(schema), 0, &gbnf, msg, sizeof msg) < 0)
        FAIL400(param, "%s: the schema cannot be used: %s", param, msg);
    pg_grammar *g = NULL;
    pg_error e = {0};
    int rc = pg_grammar_compile(gbnf, strlen(gbnf), NULL, &g, &e);
    free(gbnf);
    pg_grammar_free(g);
    if (rc < 0) FAIL400(param, "%s: the schema's grammar does not compile: %.300s", param, e.msg);
    return 0;
}

static int parse_one_tool(parse_st *p, json_t *t, size_t i, oai_tool *out, json_t **err_json) {
    char q[80];
    snprintf(q, sizeof q, "tools[%zu]", i);
    if (!json_is_object(t)) FAIL400(q, "%s must be an object", q);
    json_t *ty = json_object_get(t, "type");
    if (!json_is_string(ty) || strcmp(json_string_value(ty), "function"))
        FAIL400(q, "%s.type must be 'function' (the only tool type)", q);
    json_t *fn = json_object_get(t, "function");
    if (!json_is_object(fn)) FAIL400(q, "%s.function must be an object", q);
    json_t *nm = json_object_get(fn, "name");
    if (!json_is_string(nm) || !tool_name_ok(json_string_value(nm), json_string_length(nm)))
        FAIL400(q, "%s.function.name must be 1 to 64 letters, digits, '_' or '-'", q);
    json_t *d = json_object_get(fn, "description");
    if (d && !json_is_null(d) && !json_is_string(d)) FAIL400(q, "%s.function.description must be a string", q);
    json_t *st = json_object_get(fn, "strict");
    if (st && !json_is_null(st) && !json_is_boolean(st)) FAIL400(q, "%s.function.strict must be a boolean", q);
    json_t *pa = json_object_get(fn, "parameters");
    char pq[128];
    snprintf(pq, sizeof pq, "%s.function.parameters", q);
    if (pa && !json_is_null(pa) && !json_is_object(pa)) FAIL400(pq, "%s must be a JSON Schema object", pq);
    char *sc = pa && !json_is_null(pa) ? json_dumps(pa, JSON_COMPACT | JSON_PRESERVE_ORDER) : strdup("{\"type\":\"object\"}");
    if (!sc) return 500;
    out->schema = pg_arena_strndup(p->a, sc, strlen(sc));
    free(sc);
    out->name = pg_arena_strndup(p->a, json_string_value(nm), json_string_length(nm));
    out->strict = json_is_true(st);
    if (!out->schema || !out->name) return 500;
    return schema_compiles(out->schema, pq, err_json);
}

/* The grammar of the calls tool_choice asks for (toolcall_gbnf.c), kept
 * in the arena with its lazy triggers: required and named constrain the
 * whole answer, auto from a call marker on. */
static int tool_grammar(parse_st *p, json_t **err_json) {
    oai_req *q = p->o;
    if (q->tool_mode == OAI_TOOLS_OFF) return 0;
    int32_t n = q->tool_mode == OAI_TOOLS_NAMED ? 1 : q->n_tools;
    pg_tc_tool *t = pg_arena_calloc(p->a, (size_t)n, sizeof *t);
    if (!t) return 500;
    for (int32_t i = 0; i < n; i++) {
        const oai_tool *x = &q->tools[q->tool_mode == OAI_TOOLS_NAMED ? q->tool_named : i];
        t[i] = (pg_tc_tool){x->name, x->schema};
    }
    pg_tc_grammar tg;
    char msg[300];
    int rc = pg_tc_grammar_build(&q->tc, t, (size_t)n, q->tool_mode != OAI_TOOLS_AUTO, q->parallel_calls, &tg, msg,
                                 sizeof msg);
    if (rc == PG_ENOMEM) return 500;
    if (rc < 0) FAIL400("tools", "the tools' grammar cannot be built: %s", msg);
    rc = 0;
    if (tg.gbnf && !(q->tool_gbnf = pg_arena_strndup(p->a, tg.gbnf, strlen(tg.gbnf)))) rc = 500;
    if (!rc && tg.n_triggers) {
        q->tool_triggers = pg_arena_calloc(p->a, (size_t)tg.n_triggers, sizeof *q->tool_triggers);
        if (!q->tool_triggers) rc = 500;
        for (int i = 0; !rc && i < tg.n_triggers; i++)
            if (!(q->tool_triggers[i] = pg_arena_strndup(p->a, tg.triggers[i], strlen(tg.triggers[i])))) rc = 500;
        q->n_tool_triggers = tg.n_triggers;
    }
    pg_tc_grammar_free(&tg);
    return rc;
}

/* The calls' grammar onto the request (after structured outputs, which
 * it cannot be combined with): compiled through the server's grammar
 * cache; the reference belongs to the request like a response_format's. */
static int tool_grammar_ref(parse_st *p, json_t **err_json) {
    oai_req *q = p->o;
    if (!q->tool_gbnf) return 0;
    if (p->g->base.grammar)
        FAIL400("tool_choice", "structured outputs (response_format, grammar, ...) cannot be combined with tool calls; "
                               "send tool_choice 'none' or leave out one of them");
    pg_error e = {0};
    size_t n = strlen(q->tool_gbnf);
    int rc = p->c->grammars ? pg_gram_cache_get(p->c->grammars, PG_GRAM_GBNF, q->tool_gbnf, n, 0, &p->g->base.grammar, &e)
                            : pg_gram_build(PG_GRAM_GBNF, q->tool_gbnf, n, 0, &p->g->base.grammar, &e);
    if (rc == PG_ENOMEM) return 500;
    if (rc < 0) FAIL400("tools", "the tools' grammar does not compile: %.300s", e.msg);
    p->g->base.grammar_triggers = (const char *const *)q->tool_triggers;
    p->g->base.n_grammar_triggers = q->n_tool_triggers;
    return 0;
}

/* tools, tool_choice, parallel_tool_calls, reasoning_format. */
static int parse_tools(parse_st *p, json_t *o, json_t **err_json) {
    int rc;
    oai_req *q = p->o;
    json_t *jt = json_object_get(o, "tools");
    if (jt && !json_is_null(jt)) {
        if (!json_is_array(jt)) FAIL400("tools", "'tools' must be a list of tool objects");
        size_t n = json_array_size(jt);
        if (n == 0) FAIL400("tools", "'tools' must not be empty (leave it out instead)");
        if (n > OAI_MAX_TOOLS) FAIL400("tools", "'tools' has more than %d entries", OAI_MAX_TOOLS);
        q->tools = pg_arena_calloc(p->a, n, sizeof *q->tools);
        if (!q->tools) return 500;
        for (size_t i = 0; i < n; i++) {
            if ((rc = parse_one_tool(p, json_array_get(jt, i), i, &q->tools[i], err_json))) return rc;
            for (size_t k = 0; k < i; k++)
                if (!strcmp(q->tools[k].name, q->tools[i].name))
                    FAIL400("tools", "tools[%zu].function.name '%s' is given twice", i, q->tools[i].name);
        }
        q->n_tools = (int32_t)n;
    }
    q->parallel_calls = 1;
    if ((rc = srv_get_bool(o, "parallel_tool_calls", &q->parallel_calls, err_json))) return rc;
    q->tool_mode = q->n_tools ? OAI_TOOLS_AUTO : OAI_TOOLS_OFF;
    json_t *tc = json_object_get(o, "tool_choice");
    if (tc && !json_is_null(tc)) {
        if (json_is_string(tc)) {
            const char *v = json_string_value(tc);
            if (!strcmp(v, "none")) q->tool_mode = OAI_TOOLS_OFF;
            else if (!strcmp(v, "auto")) q->tool_mode = OAI_TOOLS_AUTO;
            else if (!strcmp(v, "required")) q->tool_mode = OAI_TOOLS_REQUIRED;
            else FAIL400("tool_choice", "'tool_choice' must be 'none', 'auto', 'required' or {\"type\": \"function\", "
                                        "\"function\": {\"name\": ...}}");
        } else if (json_is_object(tc)) {
            json_t *fn = json_object_get(tc, "function");
            json_t *nm = json_is_object(fn) ? json_object_get(fn, "name") : NULL;
            json_t *ty = json_object_get(tc, "type");
            if (!json_is_string(ty) || strcmp(json_string_value(ty), "function") || !json_is_string(nm))
                FAIL400("tool_choice", "'tool_choice' must be {\"type\": \"function\", \"function\": {\"name\": ...}}");
            int32_t k = 0;
            while (k < q->n_tools && strcmp(q->tools[k].name, json_string_value(nm))) k++;
            if (k == q->n_tools)
                FAIL400("tool_choice", "'tool_choice' names the function '%.64s', which is not in 'tools'",
                        json_string_value(nm));
            q->tool_mode = OAI_TOOLS_NAMED;
            q->tool_named = k;
            q->parallel_calls = 0; /* "call this function": one call */
        } else {
            FAIL400("tool_choice", "'tool_choice' must be a string or an object");
        }
        if (q->tool_mode != OAI_TOOLS_OFF && !q->n_tools)
            FAIL400("tool_choice", "'tool_choice' other than 'none' needs 'tools'");
    }
    json_t *rf = json_object_get(o, "reasoning_format");
    if (rf && !json_is_null(rf)) {
        const char *v = json_is_string(rf) ? json_string_value(rf) : "";
        if (!strcmp(v, "none")) q->tc_flags |= PG_TC_REASONING_INLINE;
        else if (strcmp(v, "auto") && strcmp(v, "deepseek") && strcmp(v, "parsed"))
            FAIL400("reasoning_format", "'reasoning_format' must be 'none' (thinking stays in content), 'auto', "
                                        "'parsed' or 'deepseek' (thinking goes to reasoning_content)");
    }
    q->tc = p->c->tc;
    q->parse_out = q->tool_mode != OAI_TOOLS_OFF || (q->tc.think && !(q->tc_flags & PG_TC_REASONING_INLINE));
    if (q->tool_mode == OAI_TOOLS_OFF) q->tc.format = PG_TC_NONE; /* reasoning only: no call syntax */
    if ((rc = tool_grammar(p, err_json))) return rc;
    /* call markers may be control tokens of the vocabulary ([TOOL_CALLS],
     * <|python_tag|>, <|START_ACTION|>, DeepSeek's, Hermes 2 Pro's
     * <tool_call>): they must reach the text the parser reads. End tokens
     * add no text either way. */
    if (q->tool_mode != OAI_TOOLS_OFF) p->g->base.detok_special = 1;
    return 0;
}

/* chat: logprobs/top_logprobs, messages rendered by the template, one prompt */
static int parse_chat(parse_st *p, json_t *o, json_t **err_json) {
    int rc, want = 0;
    if ((rc = srv_get_bool(o, "logprobs", &want, err_json))) return rc;
    long long top = 0;
    if ((rc = srv_get_int(o, "top_logprobs", 0, PG_SAMPLER_MAX_LOGPROBS, &top, err_json))) return rc;
    json_t *tl = json_object_get(o, "top_logprobs");
    if (tl && !json_is_null(tl) && !want) FAIL400("top_logprobs", "'top_logprobs' requires 'logprobs' to be true");
    p->o->logprobs = want ? (int)top : -1;
    int agp = 1;
    if ((rc = srv_get_bool(o, "add_generation_prompt", &agp, err_json))) return rc;
    pg_jv msgs, tools;
    if ((rc = parse_tools(p, o, err_json))) return rc;
    if ((rc = chat_messages(p->a, json_object_get(o, "messages"), p->c->max_messages, &msgs, err_json))) return rc;
    /* tool_choice "none": the template renders no tools (no call is asked for) */
    json_t *jt = json_object_get(o, "tools");
    int has_tools = jt && !json_is_null(jt) && p->o->tool_mode != OAI_TOOLS_OFF;
    if (has_tools && (!json_is_array(jt) || pg_tpl_value_from_json(p->a, jt, OAI_MAX_JSON_DEPTH, &tools) < 0)) FAIL400("tools", "'tools' must be a list");
    pg_prompt pr;
    if ((rc = srv_chat_prompt(p->c, &msgs, has_tools ? &tools : NULL, agp, &pr, err_json))) return rc;
    p->g->prompts = pg_arena_calloc(p->a, 1, sizeof *p->g->prompts);
    rc = p->g->prompts ? add_prompt(p, pr.ids, (int32_t)pr.n, NULL, 0) : 500;
    pg_prompt_free(&pr);
    return rc;
}

/* max_tokens of each prompt, computed once: the request's, else the
 * default (chat: the rest of the context; completions: 16) capped by
 * --max-tokens-limit; the prompt plus it must fit the context. */
static int plan_max_tokens(parse_st *p, json_t **err_json) {
    const srv_ctx *c = p->c;
    /* a non-streaming answer is kept until it is written: choices x tokens
     * x (1 + top logprobs) entries are bounded (--max-response-entries); a
     * default max_tokens is lowered to fit, an explicit one is a 400 */
    uint64_t per_token = (uint64_t)p->o->n * (uint64_t)(1 + (p->o->logprobs > 0 ? p->o->logprobs : 0));
    uint64_t cap = p->o->stream ? 0 : c->max_response_entries, total = 0;
    for (int32_t i = 0; i < p->g->n_prompts; i++) {
        srv_prompt *pr = &p->g->prompts[i];
        long long mt = p->max_tokens;
        if (mt < 0) {
            mt = p->o->kind == OAI_CHAT ? (long long)c->n_ctx - pr->n : 16;
            if (c->max_tokens_limit > 0 && mt > c->max_tokens_limit) mt = c->max_tokens_limit;
            uint64_t fit = cap ? cap / (per_token * (uint64_t)p->g->n_prompts) : 0;
            if (cap && (uint64_t)mt > fit) mt = fit > 0 ? (long long)fit : 1;
        }
        if (mt < 1 || (long long)pr->n + mt > c->n_ctx)
            return context_error(c, pr->n, mt < 1 ? 1 : mt, p->o->kind == OAI_CHAT ? "messages" : "prompt", err_json);
        pr->max_tokens = (int32_t)mt;
        if (p->min_tokens > mt)
            FAIL400("min_tokens", "'min_tokens' (%lld) must not exceed max_tokens (%lld)", p->min_tokens, mt);
        total += per_token * (uint64_t)mt;
    }
    if (cap && total > cap) {
        char m[600];
        snprintf(m, sizeof m,
                 "this non-streaming request could produce %llu entries (choices x max_tokens x (1 + top logprobs)); "
                 "the server's limit is %llu (--max-response-entries): lower n, max_tokens or logprobs, or stream",
                 (unsigned long long)total, (unsigned long long)cap);
        *err_json = srv_error_json(m, "invalid_request_error", "max_tokens", "response_too_large");
        return 400;
    }
    return 0;
}

/* model must be absent, null or this server's alias */
static int check_model(const srv_ctx *c, json_t *o, json_t **err_json) {
    json_t *model = json_object_get(o, "model");
    if (!model || json_is_null(model)) return 0;
    if (!json_is_string(model)) FAIL400("model", "'model' must be a string");
    if (strcmp(json_string_value(model), c->alias)) {
        char m[600];
        snprintf(m, sizeof m, "The model '%.200s' does not exist; this server serves '%.200s'.", json_string_value(model),
                 c->alias);
        *err_json = srv_error_json(m, "invalid_request_error", "model", "model_not_found");
        return 404;
    }
    return 0;
}

/* Top-level fields each endpoint honours; anything else is a 400 naming
 * it (never silently ignored). Fields whose issues have not landed yet are
 * refused with "not supported yet". */
static const char *const common_fields[] = {
    "model", "max_tokens", "temperature", "top_p", "n", "stream", "stream_options", "logprobs", "stop",
    "presence_penalty", "frequency_penalty", "logit_bias", "seed", "user", "top_k", "min_p", "repetition_penalty",
    "ignore_eos", "stop_token_ids", "priority", "timeout", "cache_salt", "skip_special_tokens",
    "spaces_between_special_tokens", "include_stop_str_in_output", "min_tokens", "speculative", NULL};
static const char *const completion_fields[] = {"prompt", "echo", "suffix", "best_of", "parse_special", NULL};
static const char *const chat_fields[] = {"messages", "max_completion_tokens", "top_logprobs", "add_generation_prompt",
                                          "tools", "tool_choice", "parallel_tool_calls", "reasoning_format", NULL};
static const char *const later_fields[] = {"functions", "function_call", NULL};

static int in_list(const char *const *l, const char *k) {
    for (; *l; l++)
        if (!strcmp(*l, k)) return 1;
    return 0;
}

static int check_fields(parse_st *p, json_t *o, json_t **err_json) {
    const char *key;
    json_t *val;
    json_object_foreach(o, key, val) {
        if (in_list(common_fields, key) || in_list(p->o->kind == OAI_CHAT ? chat_fields : completion_fields, key) ||
            in_list(srv_structured_fields, key))
            continue;
        if (in_list(later_fields, key)) {
            if (json_is_null(val)) continue;
            FAIL400(key, "'%s' is not supported yet", key);
        }
        FAIL400(key, "unknown field '%.100s' (pagoda does not implement it; see the README's table of fields)", key);
    }
    return 0;
}

/* vLLM's output fields: honoured, or refused where the engine cannot yet. */
static int parse_vllm_output(parse_st *p, json_t *o, json_t **err_json) {
    int rc, skip = 1, spaces = 1, incl = 0, spec = 1;
    long long mt = 0;
    /* pagoda's: false = this request never speculates (a no-op when the
     * server runs without --spec; outputs are the same either way) */
    if ((rc = srv_get_bool(o, "speculative", &spec, err_json))) return rc;
    p->g->base.no_spec = !spec;
    if ((rc = srv_get_bool(o, "skip_special_tokens", &skip, err_json))) return rc;
    if ((rc = srv_get_bool(o, "spaces_between_special_tokens", &spaces, err_json))) return rc;
    if ((rc = srv_get_bool(o, "include_stop_str_in_output", &incl, err_json))) return rc;
    if ((rc = srv_get_int(o, "min_tokens", 0, INT32_MAX, &mt, err_json))) return rc;
    p->g->base.detok_special = !skip; /* false: control tokens appear in the text */
    json_t *sp = json_object_get(o, "spaces_between_special_tokens");
    if (!skip && spaces && sp && !json_is_null(sp))
        FAIL400("spaces_between_special_tokens",
                "'spaces_between_special_tokens': true is not supported with 'skip_special_tokens': false "
                "(special tokens are rendered without added spaces; send false)");
    p->g->base.include_stop_str = incl;
    p->g->base.min_tokens = (int32_t)mt;
    p->min_tokens = mt;
    return 0;
}

static int parse_tree(parse_st *p, json_t *o, const srv_caller *who, json_t **err_json) {
    int rc;
    if (!json_is_object(o)) {
        *err_json = srv_error_json("the request body must be a JSON object", "invalid_request_error", NULL, NULL);
        return 400;
    }
    if ((rc = check_fields(p, o, err_json))) return rc;
    if ((rc = check_model(p->c, o, err_json))) return rc;
    if ((rc = parse_vllm_output(p, o, err_json))) return rc;
    p->o->model = p->c->alias;
    p->o->created = (long long)time(NULL);
    if ((rc = parse_common(p, o, who, err_json))) return rc;
    if ((rc = p->o->kind == OAI_CHAT ? parse_chat(p, o, err_json) : parse_completion(p, o, err_json))) return rc;
    if ((rc = plan_max_tokens(p, err_json))) return rc;
    /* structured outputs last: a request refused for another reason
     * compiles nothing. The reference belongs to the request (request.c
     * drops it when the request is freed). */
    if ((rc = srv_structured_parse(p->c->grammars, o, &p->g->base.grammar, err_json))) return rc;
    if ((rc = tool_grammar_ref(p, err_json))) return rc;
    oai_req *q = p->o;
    q->n_prompts = p->g->n_prompts;
    q->n_choices = q->n_prompts * q->n;
    q->choice_text_len = pg_arena_calloc(p->a, (size_t)q->n_choices, sizeof *q->choice_text_len);
    if (!q->choice_text_len) return 500;
    p->g->base.n = q->n;
    p->g->base.sampling.n_logprobs = q->logprobs;
    p->g->stream = q->stream;
    p->g->keep_top = q->logprobs > 0;
    return 0;
}

int oai_parse_json(const srv_ctx *c, const srv_caller *who, int kind, json_t *o, srv_req *r, oai_req **out,
                   json_t **err_json) {
    *err_json = NULL;
    parse_st p = {.c = c, .r = r, .a = srv_req_arena(r), .g = srv_req_gen(r)};
    p.o = pg_arena_calloc(p.a, 1, sizeof *p.o);
    *out = p.o; /* also on failure: the id is logged */
    if (!p.o) return 500;
    p.o->kind = kind;
    p.o->logprobs = -1;
    p.o->n = 1;
    srv_make_id(c->ids, kind == OAI_CHAT ? "chatcmpl-" : "cmpl-", p.o->id, sizeof p.o->id);
    return parse_tree(&p, o, who, err_json);
}

int oai_parse(const srv_ctx *c, const srv_caller *who, int kind, const char *body, size_t len, srv_req *r,
              oai_req **out, srv_fail *fail) {
    memset(fail, 0, sizeof *fail);
    *out = NULL;
    json_t *err_json = NULL;
    int status;
    json_error_t je;
    json_t *o = json_loadb(body ? body : "", len, JSON_REJECT_DUPLICATES, &je);
    if (!o) {
        char m[400];
        snprintf(m, sizeof m, "invalid JSON body: %s (line %d, column %d)", je.text, je.line, je.column);
        err_json = srv_error_json(m, "invalid_request_error", NULL, "invalid_json");
        status = 400;
        /* the id is logged: a state for it */
        oai_req *q = pg_arena_calloc(srv_req_arena(r), 1, sizeof *q);
        if (q) srv_make_id(c->ids, kind == OAI_CHAT ? "chatcmpl-" : "cmpl-", q->id, sizeof q->id);
        *out = q;
    } else {
        status = oai_parse_json(c, who, kind, o, r, out, &err_json);
    }
    json_decref(o);
    if (!status) return 0;
    if (!err_json)
        err_json = srv_error_json(status == 500 ? "internal error (out of memory?)" : "invalid request",
                                  status >= 500 ? "server_error" : "invalid_request_error", NULL, NULL);
    fail->status = status;
    fail->body = srv_dump(err_json, &fail->len);
    return status;
}
