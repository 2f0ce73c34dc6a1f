/* test_embed_api.c - the embedding queue and the /v1/embeddings, /v1/rerank
 * adapter (src/server/embed_api.c) without HTTP: jobs started with a
 * wake-up callback, their bodies parsed back (the golden emb-bert and
 * rr-bert outputs of ../shared/embeddings/golden.json, float and base64,
 * sorting and top_n), the refusals (no embedder, wrong kind, malformed
 * bodies, unknown model), deterministic admission with the queue paused
 * (429 once max_queued jobs wait), cancellation of a queued job (503) and
 * of a passed deadline (504), and srv_embq_check after every step. */
#include "test.h"

#include "base/pool.h"
#include "engine/embed.h"
#include "model/model.h"
#include "server/embed_api.h"
#include "tokenizer/tokenizer.h"

#include <jansson.h>
#include <pthread.h>
#include <unistd.h>

typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int woken;
} waiter;

/* Runs under the job's mutex: only records and signals. */
static void wake(void *arg) {
    waiter *w = arg;
    pthread_mutex_lock(&w->mu);
    w->woken++;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

static void wait_woken(waiter *w, int n) {
    pthread_mutex_lock(&w->mu);
    while (w->woken < n) pthread_cond_wait(&w->cv, &w->mu);
    pthread_mutex_unlock(&w->mu);
}

static void check_q(srv_embq *q) {
    char msg[256] = "";
    int rc = srv_embq_check(q, msg, sizeof msg);
    CHECKF(rc == 0, "%s", msg);
}

/* Starts a job and waits for its body: the status; *out the parsed body. */
static int run(srv_embq *q, int kind, const char *body, json_t **out) {
    waiter w = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};
    srv_ejob *j = NULL;
    srv_fail f;
    *out = NULL;
    char *copy = strdup(body);
    int st = srv_ejob_start(q, kind, NULL, &copy, strlen(body), wake, &w, &j, &f);
    CHECK(!copy == !st); /* taken only when a job is made */
    free(copy);
    if (st) {
        *out = json_loadb(f.body, f.len, 0, NULL);
        free(f.body);
        return st;
    }
    check_q(q);
    wait_woken(&w, 1);
    char *b;
    size_t len;
    srv_ejob_lock(j);
    CHECK(srv_ejob_done(j));
    st = srv_ejob_take_body(j, &b, &len);
    srv_ejob_unlock(j);
    CHECK(srv_ejob_detach(j) == 0);
    *out = json_loadb(b, len, 0, NULL);
    free(b);
    check_q(q);
    return st;
}

static double cosine(json_t *a, json_t *b) {
    double d = 0, na = 0, nb = 0;
    for (size_t i = 0; i < json_array_size(a); i++) {
        double x = json_number_value(json_array_get(a, i)), y = json_number_value(json_array_get(b, i));
        d += x * y;
        na += x * x;
        nb += y * y;
    }
    return d / sqrt(na * nb);
}

static const char *err_msg(json_t *o) {
    const char *m = json_string_value(json_object_get(json_object_get(o, "error"), "message"));
    return m ? m : "";
}

static srv_ctx g_ctx;
static srv_idgen g_ids;

static void embeddings(srv_embq *q, json_t *g) {
    json_t *texts = json_object_get(g, "texts"), *gold = json_object_get(g, "embeddings_mean");
    json_t *req = json_pack("{s:O,s:s}", "input", texts, "encoding_format", "float");
    char *body = json_dumps(req, JSON_COMPACT);
    json_t *o;
    REQUIRE(run(q, SRV_EJ_EMBED, body, &o) == 200 && o);
    json_t *data = json_object_get(o, "data");
    CHECK(json_array_size(data) == json_array_size(texts));
    for (size_t i = 0; i < json_array_size(data); i++) {
        json_t *d = json_array_get(data, i);
        CHECK(json_integer_value(json_object_get(d, "index")) == (json_int_t)i);
        double c = cosine(json_object_get(d, "embedding"), json_array_get(gold, i));
        CHECKF(c >= 0.9999, "text %zu: cosine %.7f", i, c);
    }
    CHECK(!strcmp(json_string_value(json_object_get(o, "model")), "emb-bert"));
    json_int_t pt = json_integer_value(json_object_get(json_object_get(o, "usage"), "prompt_tokens"));
    CHECK(pt > (json_int_t)json_array_size(texts) * 2);
    json_decref(o);
    free(body);
    /* base64 of the same floats */
    json_object_set_new(req, "encoding_format", json_string("base64"));
    body = json_dumps(req, JSON_COMPACT);
    REQUIRE(run(q, SRV_EJ_EMBED, body, &o) == 200 && o);
    const char *b64 = json_string_value(json_object_get(json_array_get(json_object_get(o, "data"), 0), "embedding"));
    CHECK(b64 && strlen(b64) == 4 * ((128 * 4 + 2) / 3));
    json_decref(o);
    free(body);
    json_decref(req);
    /* refusals */
    static const struct {
        const char *body;
        int status;
        const char *msg;
    } bad[] = {
        {"{\"input\": \"x\", \"dimensions\": 16}", 400, "does not support the dimensions parameter"},
        {"{\"input\": []}", 400, "must not be empty"},
        {"{\"input\": [\"a\", \"\"]}", 400, "input 1 is an empty string"},
        {"{\"input\": [[1, 2], \"a\"]}", 400, "mixes"},
        {"{\"input\": \"x\", \"model\": \"gpt\"}", 404, "does not exist"},
        {"{\"input\": \"x\", \"encoding_format\": \"hex\"}", 400, "encoding_format"},
        {"{\"input\": \"x\", \"extra\": 1}", 400, "unknown field 'extra'"},
        {"[1]", 400, "JSON object"},
        {"{\"input\": [5, 99999999]}", 400, "outside the vocabulary"},
        {"{\"input\": \"x\", \"timeout\": 1e-9}", 504, "timed out"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int st = run(q, SRV_EJ_EMBED, bad[i].body, &o);
        CHECKF(st == bad[i].status && strstr(err_msg(o), bad[i].msg), "%s -> %d %s", bad[i].body, st, err_msg(o));
        json_decref(o);
    }
    CHECK(run(q, SRV_EJ_RERANK, "{\"query\": \"q\", \"documents\": [\"d\"]}", &o) == 400 &&
          strstr(err_msg(o), "does not support reranking"));
    json_decref(o);
    /* bounded responses: inputs x 128 floats against --max-response-entries */
    g_ctx.max_response_entries = 1000;
    CHECK(run(q, SRV_EJ_EMBED, "{\"input\": [\"a\",\"b\",\"c\",\"d\",\"e\",\"f\",\"g\",\"h\"]}", &o) == 400 &&
          strstr(err_msg(o), "--max-response-entries"));
    json_decref(o);
    CHECK(run(q, SRV_EJ_EMBED, "{\"input\": [\"a\",\"b\",\"c\",\"d\",\"e\",\"f\",\"g\"]}", &o) == 200);
    json_decref(o);
    g_ctx.max_response_entries = 0;
}

/* Ollama's kinds: /api/embed = the normalised vectors of /v1/embeddings in
 * {model, embeddings, total_duration, load_duration, prompt_eval_count};
 * /api/embeddings = the vector before normalisation; errors are
 * {"error": "..."} with nothing else. */
static void ollama(srv_embq *q) {
    json_t *a, *o, *e;
    REQUIRE(run(q, SRV_EJ_EMBED, "{\"input\": [\"hello world\", \"good bye\"]}", &a) == 200 && a);
    REQUIRE(run(q, SRV_EJ_OLL_EMBED, "{\"model\": \"emb-bert:latest\", \"input\": [\"hello world\", \"good bye\"], "
                                     "\"keep_alive\": \"5m\", \"options\": {\"num_thread\": 2}}", &o) == 200 && o);
    CHECK(!strcmp(json_string_value(json_object_get(o, "model")), "emb-bert:latest"));
    CHECK(json_integer_value(json_object_get(o, "prompt_eval_count")) ==
          json_integer_value(json_object_get(json_object_get(a, "usage"), "prompt_tokens")));
    CHECK(json_integer_value(json_object_get(o, "total_duration")) > 0 && json_is_integer(json_object_get(o, "load_duration")));
    json_t *em = json_object_get(o, "embeddings");
    CHECK(json_array_size(em) == 2);
    for (size_t i = 0; i < 2; i++)
        CHECK(json_equal(json_array_get(em, i), json_object_get(json_array_get(json_object_get(a, "data"), i), "embedding")));
    REQUIRE(run(q, SRV_EJ_OLL_EMBEDDINGS, "{\"model\": \"emb-bert\", \"prompt\": \"hello world\"}", &e) == 200 && e);
    json_t *v = json_object_get(e, "embedding"), *n0 = json_array_get(em, 0);
    double nn = 0;
    for (size_t i = 0; i < json_array_size(v); i++) nn += pow(json_number_value(json_array_get(v, i)), 2);
    nn = sqrt(nn);
    CHECK(json_array_size(v) == 128 && fabs(nn - 1) > 1e-3);
    for (size_t i = 0; i < json_array_size(v); i++)
        CHECK(fabs(json_number_value(json_array_get(v, i)) / nn - json_number_value(json_array_get(n0, i))) < 1e-5);
    json_decref(a);
    json_decref(o);
    json_decref(e);
    static const struct { int kind; const char *body; int status; const char *msg; } bad[] = {
        {SRV_EJ_OLL_EMBED, "{\"input\": \"x\"}", 400, "model is required"},
        {SRV_EJ_OLL_EMBED, "{\"model\": \"nomic\", \"input\": \"x\"}", 404, "model \"nomic\" not found, try pulling it first"},
        {SRV_EJ_OLL_EMBED, "{\"model\": \"emb-bert\", \"input\": []}", 400, "must not be empty"},
        {SRV_EJ_OLL_EMBED, "{\"model\": \"emb-bert\", \"input\": [1, 2]}", 400, "not a string"},
        {SRV_EJ_OLL_EMBED, "{\"model\": \"emb-bert\", \"input\": \"x\", \"keep_alive\": \"later\"}", 400, "keep_alive"},
        {SRV_EJ_OLL_EMBED, "{\"model\": \"emb-bert\", \"input\": \"x\", \"dimensions\": 16}", 400, "dimensions"},
        {SRV_EJ_OLL_EMBED, "{\"model\": \"emb-bert\", \"input\": \"x\", \"truncate\": 3}", 400, "truncate"},
        {SRV_EJ_OLL_EMBEDDINGS, "{\"model\": \"emb-bert\", \"prompt\": [\"x\"]}", 400, "\"prompt\" must be a string"},
        {SRV_EJ_OLL_EMBED, "[1]", 400, "JSON object"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int st = run(q, bad[i].kind, bad[i].body, &o);
        const char *m = json_string_value(json_object_get(o, "error"));
        CHECKF(st == bad[i].status && json_object_size(o) == 1 && m && strstr(m, bad[i].msg), "%s -> %d %s", bad[i].body,
               st, m ? m : "(no error string)");
        json_decref(o);
    }
}

/* Paused workers: max_queued jobs wait, the next is 429; a detached queued
 * job ends cancelled (503), the other runs once resumed. */
static void admission(srv_embq *q) {
    /* a worker counts its last job as pending until just after that job's
     * wake-up: let the earlier tests' jobs settle first */
    for (int i = 0; i < 500 && srv_embq_pending(q); i++) usleep(10000);
    CHECK(srv_embq_pending(q) == 0);
    srv_embq_pause(q, 1);
    waiter w = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};
    srv_ejob *a = NULL, *b = NULL, *c = NULL;
    srv_fail f;
    const char *body = "{\"input\": \"hello world\"}";
    char *b1 = strdup(body), *b2 = strdup(body), *b3 = strdup(body);
    REQUIRE(srv_ejob_start(q, SRV_EJ_EMBED, NULL, &b1, strlen(body), wake, &w, &a, &f) == 0 && !b1);
    REQUIRE(srv_ejob_start(q, SRV_EJ_EMBED, NULL, &b2, strlen(body), wake, &w, &b, &f) == 0 && !b2);
    check_q(q);
    CHECK(srv_embq_pending(q) == 2);
    int st = srv_ejob_start(q, SRV_EJ_EMBED, NULL, &b3, strlen(body), wake, &w, &c, &f);
    CHECK(st == 429 && !c && f.retry_after && strstr(f.body, "server_busy") && b3);
    free(f.body);
    free(b3);
    CHECK(srv_ejob_detach(a) == 1); /* still queued: cancelled, no wake-up for us */
    check_q(q);
    srv_embq_pause(q, 0);
    wait_woken(&w, 1);
    char *out;
    size_t len;
    srv_ejob_lock(b);
    CHECK(srv_ejob_done(b));
    CHECK(srv_ejob_take_body(b, &out, &len) == 200 && strstr(out, "\"embedding\""));
    free(out);
    CHECK(srv_ejob_take_body(b, &out, &len) == 500 && !out); /* handed over once */
    srv_ejob_unlock(b);
    srv_ejob_detach(b);
    for (int k = 0; k < 1000 && srv_embq_pending(q); k++) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    CHECK(srv_embq_pending(q) == 0);
    CHECK(w.woken == 1);
    check_q(q);
}

static void rerank(srv_embq *q, json_t *g) {
    json_t *cases = json_object_get(g, "rerank"), *scores = json_object_get(g, "rerank_scores");
    for (size_t c = 0; c < json_array_size(cases); c++) {
        json_t *cs = json_array_get(cases, c), *want = json_array_get(scores, c);
        char *body = json_dumps(cs, JSON_COMPACT);
        json_t *o;
        REQUIRE(run(q, SRV_EJ_RERANK, body, &o) == 200 && o);
        json_t *res = json_object_get(o, "results");
        CHECK(json_array_size(res) == json_array_size(want));
        double prev = INFINITY;
        for (size_t k = 0; k < json_array_size(res); k++) {
            json_t *r = json_array_get(res, k);
            json_int_t idx = json_integer_value(json_object_get(r, "index"));
            double s = json_number_value(json_object_get(r, "relevance_score"));
            double wv = json_number_value(json_array_get(want, (size_t)idx));
            CHECKF(fabs(s - wv) <= 1e-4, "case %zu doc %lld: %.7f vs %.7f", c, (long long)idx, s, wv);
            CHECK(s <= prev);
            prev = s;
            const char *t = json_string_value(json_object_get(json_object_get(r, "document"), "text"));
            CHECK(t && !strcmp(t, json_string_value(json_array_get(json_object_get(cs, "documents"), (size_t)idx))));
        }
        CHECK(json_string_value(json_object_get(o, "id")) && !strncmp(json_string_value(json_object_get(o, "id")), "rerank-", 7));
        json_decref(o);
        free(body);
    }
    json_t *o;
    CHECK(run(q, SRV_EJ_RERANK, "{\"query\": \"q\", \"documents\": [{\"text\": \"a\"}, \"b\", \"c\"], \"top_n\": 2, "
                                "\"return_documents\": false}",
              &o) == 200);
    json_t *res = json_object_get(o, "results");
    CHECK(json_array_size(res) == 2 && !json_object_get(json_array_get(res, 0), "document"));
    json_decref(o);
    CHECK(run(q, SRV_EJ_EMBED, "{\"input\": \"x\"}", &o) == 400 && strstr(err_msg(o), "it is a reranker"));
    json_decref(o);
    CHECK(run(q, SRV_EJ_RERANK, "{\"query\": \"\", \"documents\": [\"d\"]}", &o) == 400);
    json_decref(o);
    CHECK(run(q, SRV_EJ_RERANK, "{\"query\": \"q\", \"documents\": {\"text\": \"d\"}}", &o) == 400);
    json_decref(o);
}

typedef struct {
    pg_model *m;
    pg_vocab *v;
    pg_pool *pool;
    pg_embedder *e;
    srv_embq *q;
} served;

static int serve(served *s, const char *path, int workers, int max_queued) {
    pg_error err = {0};
    memset(s, 0, sizeof *s);
    if (pg_model_load(path, &s->m, &err) < 0 || pg_vocab_load(pg_model_gguf(s->m), &s->v, &err) < 0) {
        fprintf(stderr, "load %s: %s\n", path, err.msg);
        return -1;
    }
    s->pool = pg_pool_create(2);
    pg_embed_config c = {1024, 0, PG_POOL_UNSPEC, -1, 0};
    if (pg_embedder_create(s->m, s->v, s->pool, &c, &s->e, &err) < 0) return -1;
    srv_embq_config qc = {.emb = s->e, .ctx = &g_ctx, .workers = workers, .max_queued = max_queued};
    return srv_embq_create(&qc, &s->q, &err);
}

static void unserve(served *s) {
    srv_embq_destroy(s->q);
    pg_embedder_destroy(s->e);
    pg_pool_destroy(s->pool);
    pg_vocab_free(s->v);
    pg_model_free(s->m);
}

int main(void) {
    srv_idgen_init(&g_ids);
    g_ctx = (srv_ctx){.alias = "emb-bert", .request_timeout_s = 60, .ids = &g_ids};
    /* no embedder: every request is the refusal */
    srv_embq *none = NULL;
    pg_error err = {0};
    srv_embq_config nc = {.refusal = "model does not support embeddings: llama has no pooling type", .ctx = &g_ctx};
    REQUIRE(srv_embq_create(&nc, &none, &err) == 0);
    json_t *o;
    CHECK(run(none, SRV_EJ_EMBED, "{\"input\": \"x\"}", &o) == 400 && strstr(err_msg(o), "llama has no pooling type"));
    json_decref(o);
    CHECK(srv_embq_caps(none) == 0);
    CHECK(run(none, SRV_EJ_OLL_EMBED, "{\"input\": \"x\"}", &o) == 400 && json_object_size(o) == 1 &&
          strstr(json_string_value(json_object_get(o, "error")), "llama has no pooling type"));
    json_decref(o);
    srv_embq_destroy(none);

    const char *td = t_testdata();
    if (!td) SKIP("no test data (PAGODA_TESTDATA or ../shared)");
    char path[1024], gpath[1024];
    snprintf(gpath, sizeof gpath, "%s/embeddings/golden.json", td);
    json_error_t je;
    json_t *g = json_load_file(gpath, 0, &je);
    if (!g) SKIP("no %s", gpath);
    served s;
    snprintf(path, sizeof path, "%s/embeddings/emb-bert.gguf", td);
    REQUIRE(serve(&s, path, 4, 2) == 0);
    CHECK(srv_embq_caps(s.q) == PG_CAP_EMBED);
    embeddings(s.q, g);
    ollama(s.q);
    admission(s.q);
    unserve(&s);
    g_ctx.alias = "rr-bert";
    snprintf(path, sizeof path, "%s/embeddings/rr-bert.gguf", td);
    REQUIRE(serve(&s, path, 2, 0) == 0);
    CHECK(srv_embq_caps(s.q) == PG_CAP_RERANK);
    rerank(s.q, g);
    unserve(&s);
    json_decref(g);
    printf("test_embed_api: %d checks %s\n", t_checks, t_failures ? "FAILED" : "ok");
    return t_failures ? 1 : 0;
}
