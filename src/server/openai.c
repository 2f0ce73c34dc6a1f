/* openai.c - OpenAI request bodies -> engine requests, and engine events ->
 * OpenAI response bodies (whole JSON or Server-Sent Events).
 *
 * Validation is strict about types and ranges (400 with an OpenAI error
 * object naming the field) and lenient about unknown fields (ignored, as
 * vLLM does). A prompt that does not fit the context with its max_tokens is
 * a 400 ("context_length_exceeded"), never truncated.
 *
 * Engine events arrive on the engine thread (on_event): they are appended to
 * the request's record log (srv_rec + text bytes + top alternatives) under
 * req->mu and the connection is resumed. The HTTP side formats the log:
 * srv_stream_format turns new records into SSE chunks as they come;
 * srv_generate_body builds the whole response once every submission ended.
 * A /v1/completions request with a list of prompts is one engine
 * submission per prompt (choice index = prompt * n + i). */
#include "server/srv_internal.h"

#include "base/arena.h"
#include "base/log.h"
#include "model/demo.h"
#include "tokenizer/tokenizer.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------- small helpers ---------- */

json_t *srv_error_json(const char *message, const char *type, const char *param, const char *code) {
    json_t *e = json_object();
    json_t *msg = json_string(message ? message : "");
    if (!msg) msg = json_string("(message is not valid UTF-8)");
    json_object_set_new(e, "message", msg);
    json_object_set_new(e, "type", json_string(type));
    json_object_set_new(e, "param", param ? json_string(param) : json_null());
    json_object_set_new(e, "code", code ? json_string(code) : json_null());
    json_t *o = json_object();
    json_object_set_new(o, "error", e);
    return o;
}

int srv_status_for(int c) {
    switch (c) {
    case PG_EINVAL: case PG_ERANGE: case PG_EFORMAT: case PG_ELIMIT: case PG_EUNSUPPORTED: return 400;
    case PG_ENOTFOUND: return 404;
    case PG_EBUSY: return 429;
    case PG_ENOMEM: case PG_ECANCELED: return 503;
    case SRV_ETIMEOUT: return 504;
    default: return 500;
    }
}

char *srv_dump(json_t *j, size_t *len) {
    char *s = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    if (!s) s = strdup("{\"error\":{\"message\":\"out of memory\",\"type\":\"server_error\",\"param\":null,\"code\":null}}");
    if (len) *len = s ? strlen(s) : 0;
    return s;
}

typedef struct {
    int status;
    json_t *err;
} verr;

#define FAIL400(param, ...)                                                                                      \
    do {                                                                                                         \
        char m_[600];                                                                                            \
        snprintf(m_, sizeof m_, __VA_ARGS__);                                                                    \
        *err_json = srv_error_json(m_, "invalid_request_error", param, NULL);                                    \
        return 400;                                                                                              \
    } while (0)

/* Field getters: absent or null -> return 0 (*v untouched); wrong type or
 * range -> 400. */
static int get_num(json_t *o, const char *k, double lo, double hi, double *v, json_t **err_json) {
    json_t *x = json_object_get(o, k);
    if (!x || json_is_null(x)) return 0;
    if (!json_is_number(x)) FAIL400(k, "'%s' must be a number", k);
    double d = json_number_value(x);
    if (!(d >= lo && d <= hi)) FAIL400(k, "'%s' must be in [%g, %g], got %g", k, lo, hi, d);
    *v = d;
    return 0;
}
static int get_int(json_t *o, const char *k, long long lo, long long hi, long long *v, json_t **err_json) {
    json_t *x = json_object_get(o, k);
    if (!x || json_is_null(x)) return 0;
    if (!json_is_integer(x)) FAIL400(k, "'%s' must be an integer", k);
    long long d = json_integer_value(x);
    if (d < lo || d > hi) FAIL400(k, "'%s' must be in [%lld, %lld], got %lld", k, lo, hi, d);
    *v = d;
    return 0;
}
static int get_bool(json_t *o, const char *k, int *v, json_t **err_json) {
    json_t *x = json_object_get(o, k);
    if (!x || json_is_null(x)) return 0;
    if (!json_is_boolean(x)) FAIL400(k, "'%s' must be a boolean", k);
    *v = json_is_true(x);
    return 0;
}

static int tokenize_alloc(const pg_vocab *v, const char *t, size_t n, int add_special, int parse_special, int32_t **out,
                          int32_t *n_out, pg_error *err) {
    size_t cap = n + 8;
    int32_t *ids = malloc(cap * sizeof *ids);
    if (!ids) return pg_error_set(err, PG_ENOMEM, "out of memory");
    int64_t k = pg_tokenize(v, t, n, add_special, parse_special, ids, cap, err);
    if (k > (int64_t)cap) {
        int32_t *b = realloc(ids, (size_t)k * sizeof *ids);
        if (!b) {
            free(ids);
            return pg_error_set(err, PG_ENOMEM, "out of memory");
        }
        ids = b;
        cap = (size_t)k;
        k = pg_tokenize(v, t, n, add_special, parse_special, ids, cap, err);
    }
    if (k < 0) {
        free(ids);
        return (int)k;
    }
    if (k > INT32_MAX / 2) {
        free(ids);
        return pg_error_set(err, PG_ERANGE, "the prompt is too long");
    }
    *out = ids;
    *n_out = (int32_t)k;
    return 0;
}

static char *detok_alloc(const pg_vocab *v, const int32_t *ids, size_t n, int special, size_t *len) {
    char small[256];
    int64_t k = pg_detokenize(v, ids, n, small, sizeof small, special);
    char *s = malloc((size_t)k + 1);
    if (!s) return NULL;
    if (k <= (int64_t)sizeof small) memcpy(s, small, (size_t)k);
    else pg_detokenize(v, ids, n, s, (size_t)k, special);
    s[k] = 0;
    *len = (size_t)k;
    return s;
}

/* A token's text for logprobs: its raw bytes when valid UTF-8, else
 * "bytes:\xNN..." (vLLM's convention); raw bytes into bytes[] (<= cap). */
static json_t *piece_json(const pg_vocab *v, int32_t id, unsigned char *raw, size_t *raw_len) {
    char buf[256];
    int64_t k = pg_token_to_piece(v, id, buf, sizeof buf, 1);
    if (k > (int64_t)sizeof buf) k = sizeof buf;
    if (raw) {
        memcpy(raw, buf, (size_t)k);
        *raw_len = (size_t)k;
    }
    json_t *s = json_stringn(buf, (size_t)k);
    if (s) return s;
    char hex[sizeof buf * 4 + 8];
    size_t o = (size_t)snprintf(hex, sizeof hex, "bytes:");
    for (int64_t i = 0; i < k; i++) o += (size_t)snprintf(hex + o, sizeof hex - o, "\\x%02x", (unsigned char)buf[i]);
    return json_string(hex);
}

static const char *finish_name(int f) {
    switch (f) {
    case PG_FINISH_STOP: return "stop";
    case PG_FINISH_LENGTH: return "length";
    case PG_FINISH_CANCELLED: return "abort";
    case PG_FINISH_TIMEOUT: return "length"; /* deadline: truncated output (docs/production.md) */
    default: return NULL;
    }
}

/* ---------- engine callback (engine thread) ---------- */

static int grow(void **p, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return 0;
    size_t nc = *cap ? *cap : 64;
    while (nc < need) nc *= 2;
    void *q = realloc(*p, nc * elem);
    if (!q) return -1;
    *p = q;
    *cap = nc;
    return 0;
}

static void wake(srv_req *r) {
    if (r->suspended && !r->conn_gone) {
        r->suspended = 0;
        MHD_resume_connection(r->conn);
    }
}

static int append_rec(srv_req *r, int32_t choice, int32_t token, const char *text, size_t tl, const pg_sample_out *so,
                      int want_top, int finish) {
    if (grow((void **)&r->recs, &r->cap_recs, r->n_recs + 1, sizeof *r->recs) < 0) return -1;
    if (tl && grow((void **)&r->text, &r->text_cap, r->text_len + tl, 1) < 0) return -1;
    int32_t nt = (so && want_top) ? so->n_top : 0;
    if (nt < 0) nt = 0;
    if (nt > PG_SAMPLER_MAX_LOGPROBS) nt = PG_SAMPLER_MAX_LOGPROBS;
    if (nt) {
        size_t c1 = r->cap_top, c2 = r->cap_top;
        if (grow((void **)&r->top_id, &c1, r->n_top + (size_t)nt, sizeof *r->top_id) < 0) return -1;
        if (grow((void **)&r->top_lp, &c2, r->n_top + (size_t)nt, sizeof *r->top_lp) < 0) return -1;
        r->cap_top = c1 < c2 ? c1 : c2;
    }
    srv_rec *x = &r->recs[r->n_recs++];
    x->choice = choice;
    x->token = token;
    x->text_off = (uint32_t)r->text_len;
    x->text_len = (uint32_t)tl;
    if (tl) memcpy(r->text + r->text_len, text, tl);
    r->text_len += tl;
    x->logprob = so ? so->logprob : 0.0f;
    x->top_off = (uint32_t)r->n_top;
    x->n_top = nt;
    for (int32_t i = 0; i < nt; i++) {
        r->top_id[r->n_top + (size_t)i] = so->top_id[i];
        r->top_lp[r->n_top + (size_t)i] = so->top_logprob[i];
    }
    r->n_top += (size_t)nt;
    x->finish = finish;
    return 0;
}

static void on_event(const pg_engine_event *ev, void *user) {
    srv_sub *sb = user;
    srv_req *r = sb->req;
    pg_srv *s = r->srv;
    srv_metrics *mt = &s->m;
    int64_t charge = 0;
    pthread_mutex_lock(&r->mu);
    int final = 0;
    int32_t idx = ev->index;
    if (idx < 0 || idx >= r->n) idx = 0;
    int32_t choice = sb->first_choice + idx;
    if (ev->type == PG_EV_TOKEN) {
        double t = srv_now();
        if (r->last_tok_t) {
            if (r->last_tok_t[choice] > 0) srv_hist_observe(&mt->h[H_ITL], t - r->last_tok_t[choice]);
            r->last_tok_t[choice] = t;
        }
        if (append_rec(r, choice, ev->token, ev->text, ev->text ? ev->text_len : 0, ev->sample, r->logprobs > 0, 0) < 0 &&
            !r->error_code) {
            r->error_code = PG_ENOMEM;
            snprintf(r->error_msg, sizeof r->error_msg, "out of memory");
            pg_engine_cancel(s->engine, (uint64_t)sb->engine_id); /* allowed from the callback */
        }
    } else if (ev->type == PG_EV_DONE) {
        int fin = ev->finish_reason ? ev->finish_reason : PG_FINISH_STOP;
        const pg_engine_usage *u = ev->usage;
        int produced = u ? u->completion_tokens > 0 : 1;
        if (fin == PG_FINISH_TIMEOUT) r->n_timeout++;
        if (fin == PG_FINISH_TIMEOUT && !produced) {
            /* deadline before any token: an error (504), not an empty answer */
            if (!r->error_code) {
                r->error_code = SRV_ETIMEOUT;
                snprintf(r->error_msg, sizeof r->error_msg,
                         "the request timed out after %.3g s before producing any token (queue + prefill); "
                         "retry later or raise 'timeout'",
                         u ? u->total_s : r->timeout_s);
            }
        } else if (append_rec(r, choice, -1, ev->text, ev->text ? ev->text_len : 0, NULL, 0, fin) < 0 && !r->error_code) {
            r->error_code = PG_ENOMEM;
            snprintf(r->error_msg, sizeof r->error_msg, "out of memory");
        }
        if (!r->first_finish) r->first_finish = fin;
        if (u) { /* per choice: completion tokens add up, the prompt is shared */
            sb->completion_tokens += u->completion_tokens;
            if (!sb->has_usage) {
                sb->usage = *u;
                sb->has_usage = 1;
            }
            if (u->cached_tokens > sb->usage.cached_tokens) sb->usage.cached_tokens = u->cached_tokens;
            srv_hist_observe(&mt->h[H_E2E], u->total_s);
            if (u->completion_tokens > 0) {
                srv_hist_observe(&mt->h[H_TTFT], u->ttft_s);
                srv_hist_observe(&mt->h[H_QUEUE], u->queue_s);
                srv_hist_observe(&mt->h[H_PREFILL], u->prefill_s);
                srv_hist_observe(&mt->h[H_DECODE], u->decode_s);
            }
            charge = u->completion_tokens;
        }
        switch (fin) {
        case PG_FINISH_LENGTH: atomic_fetch_add(&mt->finished[FIN_LENGTH], 1); break;
        case PG_FINISH_CANCELLED: atomic_fetch_add(&mt->finished[FIN_ABORT], 1); break;
        case PG_FINISH_TIMEOUT: atomic_fetch_add(&mt->finished[FIN_TIMEOUT], 1); break;
        default: atomic_fetch_add(&mt->finished[FIN_STOP], 1);
        }
        sb->n_done++;
        final = ev->last;
    } else {
        if (!r->error_code) {
            r->error_code = ev->error_code ? ev->error_code : PG_EINVAL;
            snprintf(r->error_msg, sizeof r->error_msg, "%s", ev->error_msg ? ev->error_msg : "generation failed");
        }
        atomic_fetch_add(&mt->finished[FIN_ERROR], 1);
        final = ev->last;
    }
    if (final && !sb->finished) {
        sb->finished = 1;
        r->n_finished_subs++;
    } else if (final) {
        final = 0; /* defensive: never drop the reference twice */
    }
    /* charge before the client can see the answer (lock order: req->mu,
     * then the key set's) so its next request meets the updated bucket */
    if (r->authed && charge > 0) srv_keys_charge(s->keys, r->key_id, charge);
    if (r->stream || r->n_finished_subs == r->n_subs) wake(r);
    pthread_mutex_unlock(&r->mu);
    if (final) srv_req_unref(r);
}

/* ---------- request parsing ---------- */

typedef struct {
    pg_sampling_params sp;
    pg_logit_bias *bias;
    const char *stop[PG_STOP_MAX_STRINGS];
    int32_t n_stop;
    int32_t *stop_ids;
    int32_t n_stop_ids;
    long long max_tokens; /* -1: default */
    int priority;
    uint64_t cache_salt;
} gen_params;

static int parse_common(pg_srv *s, srv_req *r, json_t *o, gen_params *g, json_t **err_json) {
    int rc;
    pg_sampling_params *sp = &g->sp;
    *sp = pg_sampling_params_default();
    double d;
    long long ll;
    int b;
    d = sp->temperature;
    if ((rc = get_num(o, "temperature", 0, 2, &d, err_json))) return rc;
    sp->temperature = (float)d;
    d = sp->top_p;
    if ((rc = get_num(o, "top_p", 0, 1, &d, err_json))) return rc;
    if (d <= 0) FAIL400("top_p", "'top_p' must be in (0, 1]");
    sp->top_p = (float)d;
    d = sp->min_p;
    if ((rc = get_num(o, "min_p", 0, 1, &d, err_json))) return rc;
    sp->min_p = (float)d;
    d = sp->presence_penalty;
    if ((rc = get_num(o, "presence_penalty", -2, 2, &d, err_json))) return rc;
    sp->presence_penalty = (float)d;
    d = sp->frequency_penalty;
    if ((rc = get_num(o, "frequency_penalty", -2, 2, &d, err_json))) return rc;
    sp->frequency_penalty = (float)d;
    d = sp->repetition_penalty;
    if ((rc = get_num(o, "repetition_penalty", 0, 2, &d, err_json))) return rc;
    if (d <= 0) FAIL400("repetition_penalty", "'repetition_penalty' must be in (0, 2]");
    sp->repetition_penalty = (float)d;
    ll = 0;
    if ((rc = get_int(o, "top_k", -1, INT32_MAX, &ll, err_json))) return rc;
    sp->top_k = ll < 0 ? 0 : (int32_t)ll;
    json_t *seed = json_object_get(o, "seed");
    if (seed && !json_is_null(seed)) {
        if (!json_is_integer(seed)) FAIL400("seed", "'seed' must be an integer");
        sp->seed = (uint64_t)json_integer_value(seed);
        sp->has_seed = 1;
    }
    b = 0;
    if ((rc = get_bool(o, "ignore_eos", &b, err_json))) return rc;
    sp->ignore_eos = b;
    ll = 0;
    if ((rc = get_int(o, "priority", INT32_MIN, INT32_MAX, &ll, err_json))) return rc;
    g->priority = (int)ll;

    /* per-request deadline, capped by --request-timeout */
    d = 0;
    if ((rc = get_num(o, "timeout", 0, 1e9, &d, err_json))) return rc;
    if (json_object_get(o, "timeout") && !json_is_null(json_object_get(o, "timeout")) && d <= 0)
        FAIL400("timeout", "'timeout' must be a positive number of seconds");
    double cap = s->cfg.request_timeout_s;
    r->timeout_s = d > 0 ? (cap > 0 && cap < d ? cap : d) : cap;

    /* prefix-cache tenant: the API key, combined with an optional cache_salt,
     * so two keys never share cached blocks whatever salt they send */
    json_t *cs = json_object_get(o, "cache_salt");
    uint64_t base = r->authed ? r->key_id : 0;
    g->cache_salt = base;
    if (cs && !json_is_null(cs)) {
        if (!json_is_string(cs) || json_string_length(cs) == 0 || json_string_length(cs) > 1024)
            FAIL400("cache_salt", "'cache_salt' must be a non-empty string of at most 1024 bytes");
        g->cache_salt = srv_hash64(json_string_value(cs), json_string_length(cs), base ^ 0x73616c74ULL);
    }

    json_t *lb = json_object_get(o, "logit_bias");
    if (lb && !json_is_null(lb)) {
        if (!json_is_object(lb)) FAIL400("logit_bias", "'logit_bias' must be an object mapping token ids to numbers");
        size_t nb = json_object_size(lb);
        if (nb > PG_SAMPLER_MAX_LOGIT_BIAS) FAIL400("logit_bias", "'logit_bias' has more than %d entries", PG_SAMPLER_MAX_LOGIT_BIAS);
        g->bias = calloc(nb ? nb : 1, sizeof *g->bias);
        if (!g->bias) return 500;
        const char *key;
        json_t *val;
        int32_t i = 0;
        json_object_foreach(lb, key, val) {
            char *end;
            errno = 0;
            long id = strtol(key, &end, 10);
            if (!*key || *end || errno || id < 0 || id >= s->n_vocab)
                FAIL400("logit_bias", "'logit_bias' key '%.64s' is not a token id in [0, %d)", key, s->n_vocab);
            if (!json_is_number(val)) FAIL400("logit_bias", "'logit_bias' values must be numbers");
            double bv = json_number_value(val);
            if (!(bv >= -100 && bv <= 100)) FAIL400("logit_bias", "'logit_bias' values must be in [-100, 100]");
            g->bias[i].id = (int32_t)id;
            g->bias[i].bias = (float)bv;
            i++;
        }
        sp->logit_bias = g->bias;
        sp->n_logit_bias = i;
    }

    json_t *stop = json_object_get(o, "stop");
    if (stop && !json_is_null(stop)) {
        if (json_is_string(stop)) {
            g->stop[g->n_stop++] = json_string_value(stop);
        } else if (json_is_array(stop)) {
            if (json_array_size(stop) > PG_STOP_MAX_STRINGS) FAIL400("stop", "'stop' has more than %d strings", PG_STOP_MAX_STRINGS);
            size_t i;
            json_t *x;
            json_array_foreach(stop, i, x) {
                if (!json_is_string(x)) FAIL400("stop", "'stop' must be a string or a list of strings");
                g->stop[g->n_stop++] = json_string_value(x);
            }
        } else {
            FAIL400("stop", "'stop' must be a string or a list of strings");
        }
        for (int32_t i = 0; i < g->n_stop; i++) {
            size_t l = strlen(g->stop[i]);
            if (l == 0) FAIL400("stop", "stop strings must not be empty");
            if (l > PG_STOP_MAX_LEN) FAIL400("stop", "stop strings are limited to %d bytes", PG_STOP_MAX_LEN);
        }
    }
    json_t *sti = json_object_get(o, "stop_token_ids");
    if (sti && !json_is_null(sti)) {
        if (!json_is_array(sti) || json_array_size(sti) > 256) FAIL400("stop_token_ids", "'stop_token_ids' must be a list of at most 256 token ids");
        g->stop_ids = malloc((json_array_size(sti) + 1) * sizeof *g->stop_ids);
        if (!g->stop_ids) return 500;
        size_t i;
        json_t *x;
        json_array_foreach(sti, i, x) {
            if (!json_is_integer(x) || json_integer_value(x) < 0 || json_integer_value(x) >= s->n_vocab)
                FAIL400("stop_token_ids", "'stop_token_ids' entries must be token ids in [0, %d)", s->n_vocab);
            g->stop_ids[g->n_stop_ids++] = (int32_t)json_integer_value(x);
        }
    }

    ll = 1;
    if ((rc = get_int(o, "n", 1, SRV_MAX_N, &ll, err_json))) return rc;
    r->n = (int32_t)ll;
    json_t *bo = json_object_get(o, "best_of");
    if (bo && !json_is_null(bo) && (!json_is_integer(bo) || json_integer_value(bo) != r->n))
        FAIL400("best_of", "'best_of' is not supported (only best_of == n)");

    b = 0;
    if ((rc = get_bool(o, "stream", &b, err_json))) return rc;
    r->stream = b;
    json_t *so = json_object_get(o, "stream_options");
    if (so && !json_is_null(so)) {
        if (!json_is_object(so)) FAIL400("stream_options", "'stream_options' must be an object");
        if (!r->stream) FAIL400("stream_options", "'stream_options' is only allowed when 'stream' is true");
        b = 0;
        if ((rc = get_bool(so, "include_usage", &b, err_json))) return rc;
        r->include_usage = b;
    }
    json_t *user = json_object_get(o, "user");
    if (user && !json_is_null(user) && !json_is_string(user)) FAIL400("user", "'user' must be a string");

    g->max_tokens = -1;
    if ((rc = get_int(o, "max_tokens", 1, INT32_MAX, &g->max_tokens, err_json))) return rc;
    if (r->kind == RK_CHAT && (rc = get_int(o, "max_completion_tokens", 1, INT32_MAX, &g->max_tokens, err_json)))
        return rc;
    if (s->cfg.max_tokens_limit > 0 && g->max_tokens > s->cfg.max_tokens_limit)
        FAIL400("max_tokens", "'max_tokens' is limited to %d on this server", s->cfg.max_tokens_limit);
    pg_error e = {0};
    if (pg_sampling_params_check(sp, s->n_vocab, &e) < 0) {
        *err_json = srv_error_json(e.msg, "invalid_request_error", NULL, NULL);
        return 400;
    }
    return 0;
}

/* json -> pg_jv (arena-owned), depth-limited. */
static int to_jv(pg_arena *a, json_t *j, pg_jv *out, int depth) {
    if (depth > 64) return PG_ELIMIT;
    switch (json_typeof(j)) {
    case JSON_NULL: *out = pg_jv_none(); return 0;
    case JSON_TRUE: *out = pg_jv_bool(1); return 0;
    case JSON_FALSE: *out = pg_jv_bool(0); return 0;
    case JSON_INTEGER: *out = pg_jv_int(json_integer_value(j)); return 0;
    case JSON_REAL: *out = pg_jv_float(json_real_value(j)); return 0;
    case JSON_STRING:
        *out = pg_jv_str(a, json_string_value(j), json_string_length(j));
        return out->type == PG_JV_UNDEFINED ? PG_ENOMEM : 0;
    case JSON_ARRAY: {
        pg_jv l = pg_jv_list_new(a, json_array_size(j));
        if (l.type == PG_JV_UNDEFINED) return PG_ENOMEM;
        size_t i;
        json_t *x;
        json_array_foreach(j, i, x) {
            pg_jv v;
            int rc = to_jv(a, x, &v, depth + 1);
            if (rc < 0) return rc;
            if (pg_jv_list_push(a, l, v) < 0) return PG_ENOMEM;
        }
        *out = l;
        return 0;
    }
    case JSON_OBJECT: {
        pg_jv d = pg_jv_dict_new(a);
        if (d.type == PG_JV_UNDEFINED) return PG_ENOMEM;
        const char *k;
        json_t *x;
        json_object_foreach(j, k, x) {
            pg_jv v;
            int rc = to_jv(a, x, &v, depth + 1);
            if (rc < 0) return rc;
            if (pg_jv_dict_set_str(a, d, k, v) < 0) return PG_ENOMEM;
        }
        *out = d;
        return 0;
    }
    }
    return PG_EINVAL;
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
        pg_jv d;
        if (to_jv(a, m, &d, 1) < 0) FAIL400(p, "%s is nested too deeply", p);
        json_t *c = json_object_get(m, "content");
        if (c && json_is_array(c)) {
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

static int context_error(pg_srv *s, int32_t n_prompt, long long max_tokens, const char *param, json_t **err_json) {
    char m[400];
    snprintf(m, sizeof m,
             "This model's maximum context length is %d tokens. However, you requested %lld tokens (%d in the "
             "prompt, %lld for the completion). Please reduce the length of the prompt or of max_tokens.",
             s->n_ctx, (long long)n_prompt + max_tokens, n_prompt, max_tokens);
    *err_json = srv_error_json(m, "invalid_request_error", param, "context_length_exceeded");
    return 400;
}

static int add_sub(srv_req *r, int32_t *ids, int32_t n, char *echo, size_t echo_len) {
    srv_sub *sb = &r->subs[r->n_subs++];
    memset(sb, 0, sizeof *sb);
    sb->req = r;
    sb->prompt = ids;
    sb->n_prompt = n;
    sb->echo_text = echo;
    sb->echo_len = echo_len;
    return 0;
}

static int token_list_ok(json_t *a) {
    if (!json_is_array(a) || json_array_size(a) == 0) return 0;
    size_t i;
    json_t *x;
    json_array_foreach(a, i, x) if (!json_is_integer(x)) return 0;
    return 1;
}

static int prompt_from_ids(srv_req *r, json_t *a, json_t **err_json) {
    pg_srv *s = r->srv;
    size_t n = json_array_size(a);
    if (n > (size_t)s->n_ctx) return context_error(s, (int32_t)n, 1, "prompt", err_json);
    int32_t *ids = malloc(n * sizeof *ids);
    if (!ids) return 500;
    size_t i;
    json_t *x;
    json_array_foreach(a, i, x) {
        long long v = json_integer_value(x);
        if (v < 0 || v >= s->n_vocab) {
            free(ids);
            FAIL400("prompt", "token id %lld is outside the vocabulary [0, %d)", v, s->n_vocab);
        }
        ids[i] = (int32_t)v;
    }
    char *echo = NULL;
    size_t el = 0;
    if (r->echo && !(echo = detok_alloc(s->vocab, ids, n, 0, &el))) {
        free(ids);
        return 500;
    }
    return add_sub(r, ids, (int32_t)n, echo, el);
}

static int prompt_from_text(srv_req *r, json_t *str, json_t **err_json) {
    pg_srv *s = r->srv;
    int32_t *ids;
    int32_t n;
    pg_error e = {0};
    int rc = tokenize_alloc(s->vocab, json_string_value(str), json_string_length(str), 1, r->parse_special, &ids, &n,
                            &e);
    if (rc < 0) {
        *err_json = srv_error_json(e.msg, "invalid_request_error", "prompt", NULL);
        return srv_status_for(rc);
    }
    if (n == 0) {
        free(ids);
        FAIL400("prompt", "the prompt is empty");
    }
    char *echo = NULL;
    size_t el = json_string_length(str);
    if (r->echo) {
        echo = malloc(el + 1);
        if (!echo) {
            free(ids);
            return 500;
        }
        memcpy(echo, json_string_value(str), el);
        echo[el] = 0;
    }
    return add_sub(r, ids, n, echo, el);
}

static int submit_all(srv_req *r, gen_params *g, json_t **err_json, const char **retry_after) {
    pg_srv *s = r->srv;
    for (int32_t i = 0; i < r->n_subs; i++) {
        srv_sub *sb = &r->subs[i];
        sb->first_choice = i * r->n;
        long long mt = g->max_tokens;
        if (mt < 0) mt = r->kind == RK_CHAT ? (long long)s->n_ctx - sb->n_prompt : 16;
        if (g->max_tokens < 0 && s->cfg.max_tokens_limit > 0 && mt > s->cfg.max_tokens_limit) mt = s->cfg.max_tokens_limit;
        if (mt < 1 || (long long)sb->n_prompt + mt > s->n_ctx)
            return context_error(s, sb->n_prompt, mt < 1 ? 1 : mt, r->kind == RK_CHAT ? "messages" : "prompt", err_json);
    }
    for (int32_t i = 0; i < r->n_subs; i++) {
        srv_sub *sb = &r->subs[i];
        long long mt = g->max_tokens;
        if (mt < 0) mt = r->kind == RK_CHAT ? (long long)s->n_ctx - sb->n_prompt : 16;
        if (g->max_tokens < 0 && s->cfg.max_tokens_limit > 0 && mt > s->cfg.max_tokens_limit) mt = s->cfg.max_tokens_limit;
        pg_request q;
        memset(&q, 0, sizeof q);
        q.prompt = sb->prompt;
        q.n_prompt = sb->n_prompt;
        q.sampling = g->sp;
        q.max_tokens = (int32_t)mt;
        q.n = r->n;
        q.stop = g->stop;
        q.n_stop = g->n_stop;
        q.stop_ids = g->stop_ids;
        q.n_stop_ids = g->n_stop_ids;
        q.priority = g->priority;
        q.cache_salt = g->cache_salt;
        q.timeout_s = r->timeout_s;
        q.cb = on_event;
        q.user = sb;
        pthread_mutex_lock(&r->mu);
        r->refs++;
        pthread_mutex_unlock(&r->mu);
        pg_error e = {0};
        int64_t id = srv_engine_submit(s, &q, &e);
        if (id <= 0) {
            pthread_mutex_lock(&r->mu);
            r->refs--;
            for (int32_t k = i; k < r->n_subs; k++) { /* never submitted: free them now */
                free(r->subs[k].prompt);
                free(r->subs[k].echo_text);
                r->subs[k].prompt = NULL;
                r->subs[k].echo_text = NULL;
            }
            r->n_subs = i; /* only the earlier ones can still call back */
            pthread_mutex_unlock(&r->mu);
            /* earlier submissions of this request: cancel (outside r->mu:
             * the engine may be inside our callback waiting for it); their
             * final events drop their references */
            for (int32_t k = 0; k < i; k++) srv_engine_cancel(s, r->subs[k].engine_id);
            int st = srv_status_for((int)id);
            if (id == PG_EBUSY || id == PG_ECANCELED) *retry_after = "1";
            if (st >= 500 && st != 503) PG_ERROR("engine rejected a request: %s", e.msg);
            *err_json = srv_error_json(e.msg[0] ? e.msg : "the request was rejected",
                                       st == 429 ? "rate_limit_error" : st >= 500 ? "server_error" : "invalid_request_error",
                                       NULL, st == 429 ? "server_busy" : st == 503 ? "draining" : NULL);
            return st;
        }
        pthread_mutex_lock(&r->mu);
        sb->engine_id = id;
        pthread_mutex_unlock(&r->mu);
        if (r->authed) srv_keys_charge(s->keys, r->key_id, sb->n_prompt);
    }
    return 0;
}

int srv_generate_start(srv_req *r, json_t **err_json, const char **retry_after) {
    pg_srv *s = r->srv;
    *err_json = NULL;
    json_error_t je;
    json_t *o = json_loadb(r->body ? r->body : "", r->body_len, JSON_REJECT_DUPLICATES, &je);
    if (!o) {
        char m[400];
        snprintf(m, sizeof m, "invalid JSON body: %s (line %d, column %d)", je.text, je.line, je.column);
        *err_json = srv_error_json(m, "invalid_request_error", NULL, "invalid_json");
        return 400;
    }
    int status = 0;
    gen_params g;
    memset(&g, 0, sizeof g);
    pg_arena *arena = NULL;
    char *rendered = NULL;
#define OUT(st)        \
    do {               \
        status = (st); \
        goto done;     \
    } while (0)
    if (!json_is_object(o)) {
        *err_json = srv_error_json("the request body must be a JSON object", "invalid_request_error", NULL, NULL);
        OUT(400);
    }
    json_t *model = json_object_get(o, "model");
    if (model && !json_is_null(model)) {
        if (!json_is_string(model)) {
            *err_json = srv_error_json("'model' must be a string", "invalid_request_error", "model", NULL);
            OUT(400);
        }
        if (strcmp(json_string_value(model), s->alias)) {
            char m[600];
            snprintf(m, sizeof m, "The model '%.200s' does not exist; this server serves '%.200s'.",
                     json_string_value(model), s->alias);
            *err_json = srv_error_json(m, "invalid_request_error", "model", "model_not_found");
            OUT(404);
        }
    }
    r->model_name = strdup(s->alias);
    r->created = time(NULL);
    if ((status = parse_common(s, r, o, &g, err_json))) goto done;
    int lp = -1;
    if (r->kind == RK_COMPLETION) {
        long long k = -1;
        json_t *lpj = json_object_get(o, "logprobs");
        if (lpj && json_is_boolean(lpj)) {
            *err_json = srv_error_json("'logprobs' must be an integer in [0, 20] for completions", "invalid_request_error",
                                       "logprobs", NULL);
            OUT(400);
        }
        if ((status = get_int(o, "logprobs", 0, PG_SAMPLER_MAX_LOGPROBS, &k, err_json))) goto done;
        lp = (int)k;
        int echo = 0;
        if ((status = get_bool(o, "echo", &echo, err_json))) goto done;
        r->echo = echo;
        /* Raw user text is not scanned for special-token text unless the
         * client asks ("parse_special": true, a pagoda extension); chat
         * templates always parse it. */
        int ps = 0;
        if ((status = get_bool(o, "parse_special", &ps, err_json))) goto done;
        r->parse_special = ps;
        if (echo && lp >= 0) {
            *err_json = srv_error_json("'echo' together with 'logprobs' (prompt logprobs) is not supported",
                                       "invalid_request_error", "echo", NULL);
            OUT(400);
        }
        json_t *sfx = json_object_get(o, "suffix");
        if (sfx && !json_is_null(sfx)) {
            *err_json = srv_error_json("'suffix' is not supported", "invalid_request_error", "suffix", NULL);
            OUT(400);
        }
        json_t *p = json_object_get(o, "prompt");
        if (!p || json_is_null(p)) {
            *err_json = srv_error_json("'prompt' is required", "invalid_request_error", "prompt", NULL);
            OUT(400);
        }
        size_t np = 1;
        int shape; /* 0 string, 1 ids, 2 list of strings, 3 list of id lists */
        if (json_is_string(p)) shape = 0;
        else if (token_list_ok(p)) shape = 1;
        else if (json_is_array(p) && json_array_size(p) > 0) {
            json_t *f = json_array_get(p, 0);
            shape = json_is_string(f) ? 2 : 3;
            np = json_array_size(p);
            size_t i;
            json_t *x;
            json_array_foreach(p, i, x) {
                if (shape == 2 ? !json_is_string(x) : !token_list_ok(x)) {
                    *err_json = srv_error_json("'prompt' must be a string, a list of strings, a list of token ids or "
                                               "a list of token-id lists",
                                               "invalid_request_error", "prompt", NULL);
                    OUT(400);
                }
            }
        } else {
            *err_json = srv_error_json("'prompt' must be a non-empty string, list of strings, list of token ids or "
                                       "list of token-id lists",
                                       "invalid_request_error", "prompt", NULL);
            OUT(400);
        }
        if (np > SRV_MAX_PROMPTS || np * (size_t)r->n > SRV_MAX_CHOICES) {
            char m[160];
            snprintf(m, sizeof m, "at most %d prompts and %d choices (prompts x n) per request", SRV_MAX_PROMPTS,
                     SRV_MAX_CHOICES);
            *err_json = srv_error_json(m, "invalid_request_error", "prompt", NULL);
            OUT(400);
        }
        r->subs = calloc(np, sizeof *r->subs);
        if (!r->subs) OUT(500);
        if (shape == 0) status = prompt_from_text(r, p, err_json);
        else if (shape == 1) status = prompt_from_ids(r, p, err_json);
        else
            for (size_t i = 0; i < np && !status; i++)
                status = shape == 2 ? prompt_from_text(r, json_array_get(p, i), err_json)
                                    : prompt_from_ids(r, json_array_get(p, i), err_json);
        if (status) goto done;
    } else {
        int want = 0;
        if ((status = get_bool(o, "logprobs", &want, err_json))) goto done;
        long long top = 0;
        if ((status = get_int(o, "top_logprobs", 0, PG_SAMPLER_MAX_LOGPROBS, &top, err_json))) goto done;
        json_t *tl = json_object_get(o, "top_logprobs");
        if (tl && !json_is_null(tl) && !want) {
            *err_json = srv_error_json("'top_logprobs' requires 'logprobs' to be true", "invalid_request_error",
                                       "top_logprobs", NULL);
            OUT(400);
        }
        lp = want ? (int)top : -1;
        int agp = 1;
        if ((status = get_bool(o, "add_generation_prompt", &agp, err_json))) goto done;
        arena = pg_arena_create(1 << 16);
        if (!arena) OUT(500);
        pg_jv msgs, tools;
        if ((status = chat_messages(arena, json_object_get(o, "messages"), s->cfg.max_messages, &msgs, err_json))) goto done;
        json_t *jt = json_object_get(o, "tools");
        int has_tools = jt && !json_is_null(jt);
        if (has_tools && (!json_is_array(jt) || to_jv(arena, jt, &tools, 0) < 0)) {
            *err_json = srv_error_json("'tools' must be a list", "invalid_request_error", "tools", NULL);
            OUT(400);
        }
        size_t rl = 0;
        pg_error e = {0};
        int rc = pg_chat_render(s->tpl, &msgs, has_tools ? &tools : NULL, agp, s->bos_text, s->eos_text, NULL, 0,
                                time(NULL), &rendered, &rl, &e);
        if (rc < 0) {
            char m[600];
            snprintf(m, sizeof m, "chat template: %s", e.msg);
            *err_json = srv_error_json(m, "invalid_request_error", "messages", NULL);
            OUT(400);
        }
        int add_special = !(s->bos_text && *s->bos_text && !strncmp(rendered, s->bos_text, strlen(s->bos_text)));
        int32_t *ids, n;
        if ((rc = tokenize_alloc(s->vocab, rendered, rl, add_special, 1, &ids, &n, &e)) < 0) {
            *err_json = srv_error_json(e.msg, "invalid_request_error", "messages", NULL);
            OUT(srv_status_for(rc));
        }
        if (n == 0) {
            free(ids);
            *err_json = srv_error_json("the rendered conversation has no tokens", "invalid_request_error", "messages", NULL);
            OUT(400);
        }
        r->subs = calloc(1, sizeof *r->subs);
        if (!r->subs) {
            free(ids);
            OUT(500);
        }
        add_sub(r, ids, n, NULL, 0);
    }
    r->logprobs = lp;
    g.sp.n_logprobs = lp;
    r->n_choices = r->n_subs * r->n;
    r->choice_text_len = calloc((size_t)r->n_choices, sizeof *r->choice_text_len);
    r->last_tok_t = calloc((size_t)r->n_choices, sizeof *r->last_tok_t);
    if (!r->choice_text_len || !r->last_tok_t) OUT(500);
    status = submit_all(r, &g, err_json, retry_after);
done:
#undef OUT
    if (status && !*err_json)
        *err_json = srv_error_json(status == 500 ? "internal error (out of memory?)" : "invalid request",
                                   status >= 500 ? "server_error" : "invalid_request_error", NULL, NULL);
    free(g.bias);
    free(g.stop_ids);
    free(rendered);
    if (arena) pg_arena_destroy(arena);
    json_decref(o); /* stop strings were copied by the engine at submit */
    return status;
}

/* ---------- response bodies ---------- */

static json_t *usage_json(srv_req *r) {
    int64_t pt = 0, ct = 0, cached = 0;
    for (int32_t i = 0; i < r->n_subs; i++) {
        pt += r->subs[i].n_prompt;
        ct += r->subs[i].completion_tokens;
        cached += r->subs[i].usage.cached_tokens;
    }
    json_t *u = json_object();
    json_object_set_new(u, "prompt_tokens", json_integer(pt));
    json_object_set_new(u, "completion_tokens", json_integer(ct));
    json_object_set_new(u, "total_tokens", json_integer(pt + ct));
    json_t *d = json_object();
    json_object_set_new(d, "cached_tokens", json_integer(cached));
    json_object_set_new(u, "prompt_tokens_details", d);
    return u;
}

/* Legacy (completions) logprobs of records [from, to) of one choice. */
typedef struct {
    json_t *tokens, *lps, *tops, *offs;
} legacy_lp;

static void legacy_init(legacy_lp *l) {
    l->tokens = json_array();
    l->lps = json_array();
    l->tops = json_array();
    l->offs = json_array();
}
static void legacy_add(srv_req *r, legacy_lp *l, const srv_rec *x, size_t text_offset) {
    const pg_vocab *v = r->srv->vocab;
    json_array_append_new(l->tokens, piece_json(v, x->token, NULL, NULL));
    json_array_append_new(l->lps, json_real(x->logprob));
    json_t *t = json_object();
    for (int32_t k = 0; k < x->n_top; k++) {
        json_t *ps = piece_json(v, r->top_id[x->top_off + (size_t)k], NULL, NULL);
        const char *key = json_string_value(ps);
        if (!json_object_get(t, key)) json_object_set_new(t, key, json_real(r->top_lp[x->top_off + (size_t)k]));
        json_decref(ps);
    }
    if (x->n_top == 0) { /* logprobs 0: the sampled token only */
        json_t *ps = piece_json(v, x->token, NULL, NULL);
        json_object_set_new(t, json_string_value(ps), json_real(x->logprob));
        json_decref(ps);
    }
    json_array_append_new(l->tops, t);
    json_array_append_new(l->offs, json_integer((json_int_t)text_offset));
}
static json_t *legacy_json(legacy_lp *l) {
    json_t *o = json_object();
    json_object_set_new(o, "tokens", l->tokens);
    json_object_set_new(o, "token_logprobs", l->lps);
    json_object_set_new(o, "top_logprobs", l->tops);
    json_object_set_new(o, "text_offset", l->offs);
    return o;
}

static json_t *chat_lp_entry(srv_req *r, const srv_rec *x) {
    const pg_vocab *v = r->srv->vocab;
    unsigned char raw[256];
    size_t rl;
    json_t *e = json_object();
    json_object_set_new(e, "token", piece_json(v, x->token, raw, &rl));
    json_object_set_new(e, "logprob", json_real(x->logprob));
    json_t *b = json_array();
    for (size_t i = 0; i < rl; i++) json_array_append_new(b, json_integer(raw[i]));
    json_object_set_new(e, "bytes", b);
    json_t *tops = json_array();
    for (int32_t k = 0; k < x->n_top; k++) {
        json_t *t = json_object();
        json_object_set_new(t, "token", piece_json(v, r->top_id[x->top_off + (size_t)k], raw, &rl));
        json_object_set_new(t, "logprob", json_real(r->top_lp[x->top_off + (size_t)k]));
        json_t *bb = json_array();
        for (size_t i = 0; i < rl; i++) json_array_append_new(bb, json_integer(raw[i]));
        json_object_set_new(t, "bytes", bb);
        json_array_append_new(tops, t);
    }
    json_object_set_new(e, "top_logprobs", tops);
    return e;
}

static json_t *error_body(srv_req *r, int *status) {
    *status = srv_status_for(r->error_code);
    if (*status == 504) return srv_error_json(r->error_msg, "timeout_error", NULL, "request_timeout");
    if (*status >= 500) PG_ERROR("request %s failed: %s", r->id, r->error_msg);
    return srv_error_json(r->error_msg, *status >= 500 ? "server_error" : "invalid_request_error", NULL, NULL);
}

int srv_generate_body(srv_req *r, char **body, size_t *len) {
    int status = 200;
    if (r->error_code) {
        *body = srv_dump(error_body(r, &status), len);
        return status;
    }
    json_t *o = json_object();
    json_object_set_new(o, "id", json_string(r->id));
    json_object_set_new(o, "object", json_string(r->kind == RK_CHAT ? "chat.completion" : "text_completion"));
    json_object_set_new(o, "created", json_integer(r->created));
    json_object_set_new(o, "model", json_string(r->model_name ? r->model_name : ""));
    json_t *choices = json_array();
    size_t tmp_cap = 0;
    char *tmp = NULL;
    for (int32_t c = 0; c < r->n_choices; c++) {
        srv_sub *sb = &r->subs[c / r->n];
        size_t tl = 0;
        int finish = PG_FINISH_NONE;
        legacy_lp ll;
        json_t *chat_lp = NULL;
        if (r->logprobs >= 0) {
            if (r->kind == RK_CHAT) chat_lp = json_array();
            else legacy_init(&ll);
        }
        if (r->echo && sb->echo_text) {
            if (grow((void **)&tmp, &tmp_cap, sb->echo_len + 1, 1) < 0) goto oom;
            memcpy(tmp, sb->echo_text, sb->echo_len);
            tl = sb->echo_len;
        }
        for (size_t i = 0; i < r->n_recs; i++) {
            const srv_rec *x = &r->recs[i];
            if (x->choice != c) continue;
            if (x->token >= 0 && r->logprobs >= 0) {
                if (chat_lp) json_array_append_new(chat_lp, chat_lp_entry(r, x));
                else legacy_add(r, &ll, x, tl);
            }
            if (x->text_len) {
                if (grow((void **)&tmp, &tmp_cap, tl + x->text_len + 1, 1) < 0) goto oom;
                memcpy(tmp + tl, r->text + x->text_off, x->text_len);
                tl += x->text_len;
            }
            if (x->token < 0) finish = x->finish;
        }
        json_t *ch = json_object();
        json_object_set_new(ch, "index", json_integer(c));
        json_t *txt = json_stringn(tmp ? tmp : "", tl);
        if (!txt) txt = json_string(""); /* engine text is valid UTF-8; defensive */
        if (r->kind == RK_CHAT) {
            json_t *m = json_object();
            json_object_set_new(m, "role", json_string("assistant"));
            json_object_set_new(m, "content", txt);
            json_object_set_new(ch, "message", m);
            if (chat_lp) {
                json_t *l = json_object();
                json_object_set_new(l, "content", chat_lp);
                json_object_set_new(ch, "logprobs", l);
            } else {
                json_object_set_new(ch, "logprobs", json_null());
            }
        } else {
            json_object_set_new(ch, "text", txt);
            json_object_set_new(ch, "logprobs", r->logprobs >= 0 ? legacy_json(&ll) : json_null());
        }
        const char *fn = finish_name(finish);
        json_object_set_new(ch, "finish_reason", fn ? json_string(fn) : json_null());
        json_array_append_new(choices, ch);
    }
    free(tmp);
    json_object_set_new(o, "choices", choices);
    json_object_set_new(o, "usage", usage_json(r));
    *body = srv_dump(o, len);
    return 200;
oom:
    free(tmp);
    json_decref(o);
    json_decref(choices);
    *body = srv_dump(srv_error_json("out of memory", "server_error", NULL, NULL), len);
    return 500;
}

/* ---------- SSE ---------- */

static int out_put(srv_req *r, const char *s, size_t n) {
    if (grow((void **)&r->out, &r->out_cap, r->out_len + n, 1) < 0) return -1;
    memcpy(r->out + r->out_len, s, n);
    r->out_len += n;
    return 0;
}
static int out_event(srv_req *r, json_t *j) {
    size_t n;
    char *s = srv_dump(j, &n);
    if (!s) return -1;
    int rc = out_put(r, "data: ", 6);
    if (!rc) rc = out_put(r, s, n);
    if (!rc) rc = out_put(r, "\n\n", 2);
    free(s);
    return rc;
}
static json_t *chunk_head(srv_req *r) {
    json_t *o = json_object();
    json_object_set_new(o, "id", json_string(r->id));
    json_object_set_new(o, "object", json_string(r->kind == RK_CHAT ? "chat.completion.chunk" : "text_completion"));
    json_object_set_new(o, "created", json_integer(r->created));
    json_object_set_new(o, "model", json_string(r->model_name ? r->model_name : ""));
    return o;
}
/* One chunk with one choice. text may be NULL (no content key in chat),
 * rec may be NULL (no logprobs), finish 0 = null. */
static int chunk(srv_req *r, int32_t c, const char *text, size_t tl, const srv_rec *rec, int finish, int role) {
    json_t *o = chunk_head(r);
    json_t *ch = json_object();
    json_object_set_new(ch, "index", json_integer(c));
    json_t *txt = text ? json_stringn(text, tl) : NULL;
    if (text && !txt) txt = json_string("");
    json_t *lp = json_null();
    if (rec && r->logprobs >= 0) {
        json_decref(lp);
        if (r->kind == RK_CHAT) {
            lp = json_object();
            json_t *a = json_array();
            json_array_append_new(a, chat_lp_entry(r, rec));
            json_object_set_new(lp, "content", a);
        } else {
            legacy_lp ll;
            legacy_init(&ll);
            legacy_add(r, &ll, rec, r->choice_text_len[c]);
            lp = legacy_json(&ll);
        }
    }
    if (r->kind == RK_CHAT) {
        json_t *d = json_object();
        if (role) json_object_set_new(d, "role", json_string("assistant"));
        if (txt) json_object_set_new(d, "content", txt);
        json_object_set_new(ch, "delta", d);
    } else {
        json_object_set_new(ch, "text", txt ? txt : json_string(""));
    }
    json_object_set_new(ch, "logprobs", lp);
    const char *fn = finish ? finish_name(finish) : NULL;
    json_object_set_new(ch, "finish_reason", fn ? json_string(fn) : json_null());
    json_t *arr = json_array();
    json_array_append_new(arr, ch);
    json_object_set_new(o, "choices", arr);
    if (r->include_usage) json_object_set_new(o, "usage", json_null());
    r->choice_text_len[c] += tl;
    return out_event(r, o);
}

int srv_stream_format(srv_req *r) {
    if (!r->stream_started) {
        r->stream_started = 1;
        for (int32_t c = 0; c < r->n_choices; c++) {
            srv_sub *sb = &r->subs[c / r->n];
            if (r->kind == RK_CHAT) chunk(r, c, "", 0, NULL, 0, 1);
            else if (r->echo && sb->echo_len) chunk(r, c, sb->echo_text, sb->echo_len, NULL, 0, 0);
        }
    }
    for (; r->cursor < r->n_recs; r->cursor++) {
        const srv_rec *x = &r->recs[r->cursor];
        const char *t = r->text + x->text_off;
        if (x->token >= 0) {
            if (x->text_len || r->logprobs >= 0) chunk(r, x->choice, t, x->text_len, x, 0, 0);
        } else if (r->kind == RK_CHAT) {
            if (x->text_len) chunk(r, x->choice, t, x->text_len, NULL, 0, 0);
            chunk(r, x->choice, NULL, 0, NULL, x->finish, 0);
        } else {
            chunk(r, x->choice, t, x->text_len, NULL, x->finish, 0);
        }
    }
    if (r->n_finished_subs < r->n_subs) return 0;
    if (r->error_code) {
        int st;
        out_event(r, error_body(r, &st));
    } else if (r->include_usage) {
        json_t *o = chunk_head(r);
        json_object_set_new(o, "choices", json_array());
        json_object_set_new(o, "usage", usage_json(r));
        out_event(r, o);
    }
    out_put(r, "data: [DONE]\n\n", 14);
    return 1;
}

/* ---------- small endpoints ---------- */

int srv_tokenize(pg_srv *s, const char *body, size_t len, char **out) {
    json_error_t je;
    json_t *o = json_loadb(body ? body : "", len, JSON_REJECT_DUPLICATES, &je);
    size_t n;
    if (!o || !json_is_object(o)) {
        json_decref(o);
        *out = srv_dump(srv_error_json("the body must be a JSON object", "invalid_request_error", NULL, "invalid_json"), &n);
        return 400;
    }
    json_t *p = json_object_get(o, "prompt"), *m = json_object_get(o, "model");
    int st = 0;
    if (m && !json_is_null(m) && (!json_is_string(m) || strcmp(json_string_value(m), s->alias))) {
        *out = srv_dump(srv_error_json("unknown model", "invalid_request_error", "model", "model_not_found"), &n);
        st = 404;
    } else if (!json_is_string(p)) {
        *out = srv_dump(srv_error_json("'prompt' must be a string", "invalid_request_error", "prompt", NULL), &n);
        st = 400;
    }
    int add = 1;
    json_t *ej = NULL;
    if (!st && get_bool(o, "add_special_tokens", &add, &ej)) {
        *out = srv_dump(ej, &n);
        st = 400;
    }
    if (st) {
        json_decref(o);
        return st;
    }
    int32_t *ids, k;
    pg_error e = {0};
    int rc = tokenize_alloc(s->vocab, json_string_value(p), json_string_length(p), add, 1, &ids, &k, &e);
    json_decref(o);
    if (rc < 0) {
        *out = srv_dump(srv_error_json(e.msg, "invalid_request_error", "prompt", NULL), &n);
        return srv_status_for(rc);
    }
    json_t *r = json_object(), *a = json_array();
    for (int32_t i = 0; i < k; i++) json_array_append_new(a, json_integer(ids[i]));
    free(ids);
    json_object_set_new(r, "tokens", a);
    json_object_set_new(r, "count", json_integer(k));
    json_object_set_new(r, "max_model_len", json_integer(s->n_ctx));
    *out = srv_dump(r, &n);
    return 200;
}

int srv_detokenize(pg_srv *s, const char *body, size_t len, char **out) {
    json_error_t je;
    json_t *o = json_loadb(body ? body : "", len, JSON_REJECT_DUPLICATES, &je);
    size_t n;
    json_t *t = o && json_is_object(o) ? json_object_get(o, "tokens") : NULL;
    if (!json_is_array(t)) {
        json_decref(o);
        *out = srv_dump(srv_error_json("the body must be an object with 'tokens': [ids]", "invalid_request_error",
                                       "tokens", NULL), &n);
        return 400;
    }
    size_t k = json_array_size(t);
    int32_t *ids = malloc((k + 1) * sizeof *ids);
    if (!ids) {
        json_decref(o);
        *out = srv_dump(srv_error_json("out of memory", "server_error", NULL, NULL), &n);
        return 500;
    }
    size_t i;
    json_t *x;
    json_array_foreach(t, i, x) {
        if (!json_is_integer(x) || json_integer_value(x) < 0 || json_integer_value(x) >= s->n_vocab) {
            free(ids);
            json_decref(o);
            char m[128];
            snprintf(m, sizeof m, "'tokens' must be token ids in [0, %d)", s->n_vocab);
            *out = srv_dump(srv_error_json(m, "invalid_request_error", "tokens", NULL), &n);
            return 400;
        }
        ids[i] = (int32_t)json_integer_value(x);
    }
    json_decref(o);
    size_t tl;
    char *text = detok_alloc(s->vocab, ids, k, 0, &tl);
    free(ids);
    if (!text) {
        *out = srv_dump(srv_error_json("out of memory", "server_error", NULL, NULL), &n);
        return 500;
    }
    json_t *r = json_object();
    json_t *js = json_stringn(text, tl);
    json_object_set_new(r, "prompt", js ? js : json_string(""));
    free(text);
    *out = srv_dump(r, &n);
    return 200;
}

char *srv_models_json(pg_srv *s) {
    json_t *m = json_object();
    json_object_set_new(m, "id", json_string(s->alias));
    json_object_set_new(m, "object", json_string("model"));
    json_object_set_new(m, "created", json_integer(s->created));
    json_object_set_new(m, "owned_by", json_string(s->demo ? "pagoda-demo" : "pagoda"));
    json_object_set_new(m, "root", json_string(s->alias));
    json_object_set_new(m, "max_model_len", json_integer(s->n_ctx));
    json_object_set_new(m, "vocab_size", json_integer(s->n_vocab));
    if (s->demo) json_object_set_new(m, "description", json_string(PG_DEMO_NOTICE));
    json_t *o = json_object();
    json_object_set_new(o, "object", json_string("list"));
    json_t *a = json_array();
    json_array_append_new(a, m);
    json_object_set_new(o, "data", a);
    return srv_dump(o, NULL);
}
