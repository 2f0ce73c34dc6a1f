/* endpoints.c - /v1/models, /tokenize, /detokenize (see endpoints.h). */
#include "server/endpoints.h"

#include "server/openai_parse.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* POST /tokenize (vLLM's): {"prompt": string, "add_special_tokens"} or
 * {"messages": [...], "add_generation_prompt", "tools"} (the chat
 * template applied, ids identical to the chat endpoint's), optional
 * "model" and "return_token_strs" (the vocabulary's piece of each id).
 * Any other field is a 400 naming it. */
int srv_ep_tokenize(const srv_ctx *s, const char *body, size_t len, char **out) {
    static const char *known[] = {"model", "prompt", "messages", "add_special_tokens", "add_generation_prompt",
                                  "tools", "return_token_strs"};
    json_error_t je;
    json_t *o = json_loadb(body ? body : "", len, JSON_REJECT_DUPLICATES, &je);
    json_t *ej = NULL;
    if (!o || !json_is_object(o)) {
        json_decref(o);
        *out = srv_dump(srv_error_json("the body must be a JSON object", "invalid_request_error", NULL, "invalid_json"), NULL);
        return 400;
    }
    const char *key;
    json_t *val;
    json_object_foreach(o, key, val) {
        int ok = 0;
        for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) ok |= !strcmp(key, known[i]);
        if (!ok) {
            char m[200];
            snprintf(m, sizeof m, "unknown field '%.100s' (/tokenize accepts prompt or messages)", key);
            /* key points into o: build the error before releasing it */
            *out = srv_dump(srv_error_json(m, "invalid_request_error", key, "unknown_field"), NULL);
            json_decref(o);
            return 400;
        }
    }
    json_t *p = json_object_get(o, "prompt"), *m = json_object_get(o, "model"), *msgs = json_object_get(o, "messages");
    int st = 0, add = 1, strs = 0;
    if (m && !json_is_null(m) && (!json_is_string(m) || strcmp(json_string_value(m), s->alias))) {
        ej = srv_error_json("unknown model", "invalid_request_error", "model", "model_not_found");
        st = 404;
    } else if (msgs && !s->tpl) {
        ej = srv_error_json("this model has no chat template (it does not generate): send 'prompt'",
                            "invalid_request_error", "messages", NULL);
        st = 400;
    } else if (p && msgs) {
        ej = srv_error_json("send either 'prompt' or 'messages', not both", "invalid_request_error", "messages", NULL);
        st = 400;
    } else if (!msgs && !json_is_string(p)) {
        ej = srv_error_json("'prompt' must be a string (or send 'messages')", "invalid_request_error", "prompt", NULL);
        st = 400;
    } else if (msgs && (json_object_get(o, "add_special_tokens"))) {
        ej = srv_error_json("'add_special_tokens' applies to 'prompt'; with 'messages' the chat endpoint's rule is used",
                            "invalid_request_error", "add_special_tokens", NULL);
        st = 400;
    } else if (!msgs && (json_object_get(o, "add_generation_prompt") || json_object_get(o, "tools"))) {
        ej = srv_error_json("'add_generation_prompt' and 'tools' apply to 'messages'", "invalid_request_error",
                            json_object_get(o, "tools") ? "tools" : "add_generation_prompt", NULL);
        st = 400;
    }
    if (!st && (srv_get_bool(o, "add_special_tokens", &add, &ej) || srv_get_bool(o, "return_token_strs", &strs, &ej)))
        st = 400;
    int32_t *ids = NULL, k = 0;
    pg_prompt pr = {0};
    if (!st && msgs) {
        st = srv_chat_prompt_json(s, o, &pr, &ej);
        if (!st) {
            ids = pr.ids;
            k = (int32_t)pr.n;
        }
    } else if (!st) {
        pg_error e = {0};
        int rc = srv_tokenize_alloc(s->vocab, json_string_value(p), json_string_length(p), add, 1, &ids, &k, &e);
        if (rc < 0) {
            ej = srv_error_json(e.msg, "invalid_request_error", "prompt", NULL);
            st = srv_status_for(rc);
        }
    }
    json_decref(o);
    if (st) {
        *out = srv_dump(ej, NULL);
        return st;
    }
    json_t *r = json_object(), *a = json_array(), *ts = strs ? json_array() : NULL;
    for (int32_t i = 0; i < k; i++) {
        json_array_append_new(a, json_integer(ids[i]));
        if (ts) {
            size_t tl = 0;
            const char *t = pg_vocab_token_text(s->vocab, ids[i], &tl);
            json_t *js = t ? json_stringn(t, tl) : NULL; /* a byte piece that is not UTF-8: its hex */
            if (!js) {
                char hx[16];
                snprintf(hx, sizeof hx, "<id:%d>", ids[i]);
                js = json_string(hx);
            }
            json_array_append_new(ts, js);
        }
    }
    if (msgs) pg_prompt_free(&pr);
    else free(ids);
    json_object_set_new(r, "tokens", a);
    json_object_set_new(r, "count", json_integer(k));
    json_object_set_new(r, "max_model_len", json_integer(s->n_ctx));
    if (ts) json_object_set_new(r, "token_strs", ts);
    *out = srv_dump(r, NULL);
    return 200;
}

int srv_ep_detokenize(const srv_ctx *s, const char *body, size_t len, char **out) {
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
    char *text = srv_detok_alloc(s->vocab, ids, k, 0, &tl);
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

/* One model object (GET /v1/models lists it; /v1/models/{id} returns it). */
static json_t *model_obj(const srv_ctx *s) {
    json_t *m = json_object();
    json_object_set_new(m, "id", json_string(s->alias));
    json_object_set_new(m, "object", json_string("model"));
    json_object_set_new(m, "created", json_integer(s->created));
    json_object_set_new(m, "owned_by", json_string(s->demo ? "pagoda-demo" : "pagoda"));
    json_object_set_new(m, "root", json_string(s->alias));
    json_object_set_new(m, "max_model_len", json_integer(s->n_ctx));
    json_object_set_new(m, "vocab_size", json_integer(s->n_vocab));
    if (s->demo && s->demo_notice) json_object_set_new(m, "description", json_string(s->demo_notice));
    /* what the model can be asked: completion and chat (generation),
     * embedding (/v1/embeddings), rerank (/v1/rerank) */
    json_t *ca = json_array();
    if (s->caps & PG_CAP_GENERATE) {
        json_array_append_new(ca, json_string("completion"));
        json_array_append_new(ca, json_string("chat"));
    }
    if (s->caps & PG_CAP_EMBED) json_array_append_new(ca, json_string("embedding"));
    if (s->caps & PG_CAP_RERANK) json_array_append_new(ca, json_string("rerank"));
    json_object_set_new(m, "capabilities", ca);
    if (s->pooling) {
        json_object_set_new(m, "pooling", json_string(s->pooling));
        if (s->caps & PG_CAP_EMBED) {
            json_object_set_new(m, "embedding_dimensions", json_integer(s->embed_dim));
            json_object_set_new(m, "matryoshka", json_boolean(s->embed_matryoshka));
        }
    }
    return m;
}

int srv_ep_models(const srv_ctx *s, const char *body, size_t len, char **out) {
    (void)body;
    (void)len;
    json_t *o = json_object();
    json_object_set_new(o, "object", json_string("list"));
    json_t *a = json_array();
    json_array_append_new(a, model_obj(s));
    json_object_set_new(o, "data", a);
    *out = srv_dump(o, NULL);
    return *out ? 200 : 500;
}

int srv_ep_model(const srv_ctx *s, const char *id, char **out) {
    if (!id || strcmp(id, s->alias)) {
        char m[400];
        snprintf(m, sizeof m, "The model '%.300s' does not exist", id ? id : "");
        *out = srv_dump(srv_error_json(m, "invalid_request_error", "model", "model_not_found"), NULL);
        return 404;
    }
    *out = srv_dump(model_obj(s), NULL);
    return *out ? 200 : 500;
}
