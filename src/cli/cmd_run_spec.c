/* cmd_run_spec.c - `pagoda run --spec ...`: one request through the
 * serving engine in manual mode, so speculative decoding (n-gram or a draft
 * model) can be run and timed in-process. Output as cmd_run prints it: the
 * generated tokens up to (not including) an end-of-generation token,
 * detokenized on their own, streamed or as --json. */
#include "cli/run_spec.h"

#include "base/error.h"
#include "model/model.h"
#include "tokenizer/tokenizer.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct {
    const run_args *a;
    const pg_vocab *v;
    pg_detok *dt;
    int32_t *gen, n_gen;
    char *text;
    size_t len, cap;
    int done, err, eog;
    char msg[256];
    double t_first;
} run_st;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void put(run_st *r, const char *p, int64_t k) {
    if (k <= 0) return;
    if (!r->a->json) {
        fwrite(p, 1, (size_t)k, stdout);
        fflush(stdout);
        return;
    }
    if (r->len + (size_t)k + 1 > r->cap) {
        size_t c = (r->len + (size_t)k + 1) * 2;
        char *t = realloc(r->text, c);
        if (!t) {
            r->err = 1;
            return;
        }
        r->text = t;
        r->cap = c;
    }
    memcpy(r->text + r->len, p, (size_t)k);
    r->len += (size_t)k;
}

static void on_event(const pg_engine_event *ev, void *user) {
    run_st *r = user;
    if (ev->type == PG_EV_TOKEN) {
        if (r->n_gen == 0) r->t_first = now_s();
        if (r->eog || pg_vocab_is_eog(r->v, ev->token)) { /* run stops before an end-of-generation token */
            r->eog = 1;
            return;
        }
        r->gen[r->n_gen++] = ev->token;
        char piece[1024];
        int64_t k = pg_detok_push(r->dt, ev->token, piece, sizeof piece);
        if (k < 0) r->err = 1;
        else put(r, piece, k > (int64_t)sizeof piece ? (int64_t)sizeof piece : k);
    } else {
        if (ev->type == PG_EV_ERROR) {
            r->err = 1;
            snprintf(r->msg, sizeof r->msg, "%s", ev->error_msg ? ev->error_msg : "generation failed");
        }
        if (ev->last) r->done = 1;
    }
}

int pg_run_spec(const run_args *a, const int32_t *prompt, int32_t n_prompt) {
    pg_error err = {0};
    pg_model *m = NULL, *dm = NULL;
    pg_vocab *v = NULL;
    pg_engine *e = NULL;
    run_st r;
    memset(&r, 0, sizeof r);
    int code = 1;
    if (a->n_predict == 0) { /* nothing to generate */
        if (!a->json) putchar('\n');
        return 0;
    }
    if (pg_model_load(a->model, &m, &err) < 0 || pg_vocab_load(pg_model_gguf(m), &v, &err) < 0) goto out;
    if (a->draft && pg_model_load(a->draft, &dm, &err) < 0) goto out;
    pg_engine_config c;
    pg_engine_config_default(&c);
    c.manual = 1;
    c.threads = a->threads;
    c.kv_type = a->kv_type;
    c.max_seqs = 1;
    c.n_ctx = a->n_ctx ? a->n_ctx : 0;
    c.spec_mode = a->spec_mode;
    c.spec_tokens = a->spec_tokens;
    c.draft_model = dm;
    if (pg_engine_create(m, v, &c, &e, &err) < 0) goto out;
    r.a = a;
    r.v = v;
    r.dt = pg_detok_create(v, 0);
    r.gen = malloc((size_t)a->n_predict * sizeof(int32_t));
    if (!r.dt || !r.gen) {
        pg_error_set(&err, PG_ENOMEM, "out of memory");
        goto out;
    }
    pg_request q;
    memset(&q, 0, sizeof q);
    q.prompt = prompt;
    q.n_prompt = n_prompt;
    q.sampling = pg_sampling_params_default();
    q.sampling.temperature = a->temp;
    q.sampling.seed = a->seed;
    q.sampling.has_seed = 1;
    if (!a->has_seed) q.sampling.seed = (uint64_t)time(NULL); /* as cmd_run: a time-based seed */
    q.max_tokens = a->n_predict;
    q.n = 1;
    q.cb = on_event;
    q.user = &r;
    const double t0 = now_s();
    if (pg_engine_submit(e, &q, &err) < 0) goto out;
    while (!r.done) pg_engine_step(e);
    const double t2 = now_s();
    if (r.err) {
        pg_error_set(&err, PG_EINVAL, "%s", r.msg[0] ? r.msg : "out of memory");
        goto out;
    }
    char piece[1024];
    int64_t k = pg_detok_flush(r.dt, piece, sizeof piece);
    if (k < 0) {
        pg_error_set(&err, PG_ENOMEM, "out of memory in the detokenizer");
        goto out;
    }
    if (k > (int64_t)sizeof piece) k = sizeof piece;
    if (a->json) {
        put(&r, piece, k);
        json_t *o = json_object(), *pt = json_array(), *gt = json_array();
        for (int32_t i = 0; i < n_prompt; i++) json_array_append_new(pt, json_integer(prompt[i]));
        for (int32_t i = 0; i < r.n_gen; i++) json_array_append_new(gt, json_integer(r.gen[i]));
        json_object_set_new(o, "prompt_tokens", pt);
        json_object_set_new(o, "tokens", gt);
        json_object_set_new(o, "text", json_stringn_nocheck(r.text ? r.text : "", r.len));
        char *s = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII);
        printf("%s\n", s);
        free(s);
        json_decref(o);
    } else {
        fwrite(piece, 1, (size_t)k, stdout);
        putchar('\n');
    }
    pg_engine_stats st;
    pg_engine_stats_get(e, &st);
    const double t1 = r.t_first > 0 ? r.t_first : t2;
    int decoded = r.n_gen > 0 ? r.n_gen - 1 : 0;
    fprintf(stderr,
            "pagoda run: prompt %d tokens in %.1f ms; %d generated, decode %.2f tokens/s; speculative: %llu drafted, "
            "%llu accepted, %llu verify passes\n",
            n_prompt, (t1 - t0) * 1e3, r.n_gen, decoded > 0 && t2 > t1 ? decoded / (t2 - t1) : 0.0,
            (unsigned long long)st.spec_drafted, (unsigned long long)st.spec_accepted,
            (unsigned long long)st.spec_verifies);
    code = 0;
out:
    if (code) fprintf(stderr, "pagoda run: %s\n", err.msg[0] ? err.msg : "failed");
    pg_engine_destroy(e);
    pg_detok_destroy(r.dt);
    free(r.gen);
    free(r.text);
    pg_vocab_free(v);
    pg_model_free(dm);
    pg_model_free(m);
    return code;
}
