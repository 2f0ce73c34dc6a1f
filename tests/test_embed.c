/* test_embed.c - embeddings and reranking (model/encode.c, engine/embed.c)
 * against ../shared/embeddings/golden.json (an established engine's
 * server outputs): emb-bert mean pooling and arch-qwen2-q8_0 last-token
 * pooling by cosine >= 0.9999 and unit norm, rr-bert rerank scores within
 * 1e-4; batch invariance (a text's vector bit-identical alone, in one
 * request of 32, and under concurrent callers sharing passes); Matryoshka
 * truncation; refusals (too long, truncate, bad dimensions, wrong model
 * kind, bad token ids, empty input); base64 encoding; cancellation and
 * deadlines (pg_embed_ctl). */
#include "test.h"

#include "base/pool.h"
#include "engine/embed.h"
#include "model/model.h"
#include "tokenizer/tokenizer.h"

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>

typedef struct {
    pg_model *m;
    pg_vocab *v;
    pg_pool *pool;
    pg_embedder *e;
} emb;

static int emb_open(emb *x, const char *path, int pooling, int32_t max_tokens, int32_t max_inputs, int matryoshka) {
    pg_error err = {0};
    memset(x, 0, sizeof *x);
    if (pg_model_load(path, &x->m, &err) < 0 || pg_vocab_load(pg_model_gguf(x->m), &x->v, &err) < 0) {
        fprintf(stderr, "load %s: %s\n", path, err.msg);
        return -1;
    }
    x->pool = pg_pool_create(2);
    pg_embed_config c = {max_tokens, max_inputs, pooling, matryoshka, 0};
    if (pg_embedder_create(x->m, x->v, x->pool, &c, &x->e, &err) < 0) {
        fprintf(stderr, "embedder %s: %s\n", path, err.msg);
        return -1;
    }
    return 0;
}

static void emb_close(emb *x) {
    pg_embedder_destroy(x->e);
    pg_pool_destroy(x->pool);
    pg_vocab_free(x->v);
    pg_model_free(x->m);
}

static pg_embed_input text_in(const char *s) { return (pg_embed_input){s, strlen(s), NULL, 0}; }

static double cosine_json(const float *a, json_t *g, int n) {
    double d = 0, na = 0, ng = 0;
    for (int i = 0; i < n; i++) {
        double b = json_number_value(json_array_get(g, (size_t)i));
        d += a[i] * b;
        na += (double)a[i] * a[i];
        ng += b * b;
    }
    return d / sqrt(na * ng);
}

static double norm(const float *a, int n) {
    double s = 0;
    for (int i = 0; i < n; i++) s += (double)a[i] * a[i];
    return sqrt(s);
}

static void golden_embeddings(emb *x, json_t *texts, json_t *gold, const char *what) {
    size_t n = json_array_size(texts);
    pg_embed_input in[16];
    REQUIRE(n > 0 && n <= 16 && json_array_size(gold) == n);
    for (size_t i = 0; i < n; i++) in[i] = text_in(json_string_value(json_array_get(texts, i)));
    pg_embed_result r;
    pg_error err = {0};
    pg_embed_opts o = {1, 0, 0};
    REQUIRE(pg_embed(x->e, in, (int32_t)n, &o, &r, &err) == 0);
    CHECK(r.n == (int32_t)n && r.n_rows == (int32_t)n && r.dim == pg_embedder_dim(x->e));
    int64_t sum = 0;
    for (size_t i = 0; i < n; i++) {
        json_t *g = json_array_get(gold, i);
        CHECKF((int)json_array_size(g) == r.dim, "%s text %zu: golden has %zu dims, we %d", what, i,
               json_array_size(g), r.dim);
        double cs = cosine_json(r.data + i * r.dim, g, r.dim), nn = norm(r.data + i * r.dim, r.dim);
        CHECKF(cs >= 0.9999, "%s text %zu: cosine %.7f", what, i, cs);
        CHECKF(fabs(nn - 1) < 1e-5, "%s text %zu: norm %.7f", what, i, nn);
        fprintf(stderr, "%s text %zu (%d tokens): cosine %.7f\n", what, i, r.n_tokens[i], cs);
        sum += r.n_tokens[i];
    }
    CHECK(sum == r.prompt_tokens);
    pg_embed_result_free(&r);
}

/* The first n of 32 varied texts (different lengths, so batches mix shapes). */
static const char *vary_text(int i, char *buf, size_t cap) {
    static const char *words[] = {"alpha", "beta", "river", "stone", "quick", "cloud", "zebra", "lamp", "green"};
    size_t o = 0;
    for (int w = 0; w < 1 + (i * 7) % 23 && o + 16 < cap; w++)
        o += (size_t)snprintf(buf + o, cap - o, "%s%s", w ? " " : "", words[(i + w * 5) % 9]);
    return buf;
}

static void batch_invariance(emb *x, const char *what) {
    enum { N = 32 };
    char bufs[N][256];
    pg_embed_input in[N];
    for (int i = 0; i < N; i++) in[i] = text_in(vary_text(i, bufs[i], sizeof bufs[i]));
    pg_embed_result all, one;
    pg_error err = {0};
    pg_embed_stats s0, s1;
    pg_embedder_stats(x->e, &s0);
    REQUIRE(pg_embed(x->e, in, N, NULL, &all, &err) == 0);
    pg_embedder_stats(x->e, &s1);
    CHECKF(s1.passes - s0.passes < N / 2, "%s: %d inputs took %llu passes (not batched)", what, N,
           (unsigned long long)(s1.passes - s0.passes));
    int same = 0;
    for (int i = 0; i < N; i++) {
        REQUIRE(pg_embed(x->e, &in[i], 1, NULL, &one, &err) == 0);
        same += !memcmp(one.data, all.data + (size_t)i * all.dim, (size_t)all.dim * sizeof(float));
        pg_embed_result_free(&one);
    }
    CHECKF(same == N, "%s: %d of %d vectors bit-identical alone and in a batch of %d", what, same, N, N);
    pg_embed_result_free(&all);
}

typedef struct {
    emb *x;
    int t;
    float *out; /* [8][dim] */
    int rc;
} conc_job;

static void *conc_thread(void *arg) {
    conc_job *j = arg;
    char buf[256];
    for (int k = 0; k < 8; k++) {
        pg_embed_input in = text_in(vary_text(j->t * 8 + k, buf, sizeof buf));
        pg_embed_result r;
        pg_error err = {0};
        if ((j->rc = pg_embed(j->x->e, &in, 1, NULL, &r, &err)) < 0) return NULL;
        memcpy(j->out + (size_t)k * r.dim, r.data, (size_t)r.dim * sizeof(float));
        pg_embed_result_free(&r);
    }
    return NULL;
}

/* 4 threads x 8 single-text requests at once: results equal the batch of 32. */
static void concurrency(emb *x) {
    enum { T = 4 };
    const int32_t dim = pg_embedder_dim(x->e);
    char bufs[32][256];
    pg_embed_input in[32];
    for (int i = 0; i < 32; i++) in[i] = text_in(vary_text(i, bufs[i], sizeof bufs[i]));
    pg_embed_result all;
    pg_error err = {0};
    REQUIRE(pg_embed(x->e, in, 32, NULL, &all, &err) == 0);
    conc_job jobs[T];
    pthread_t th[T];
    for (int t = 0; t < T; t++) {
        jobs[t] = (conc_job){x, t, malloc((size_t)8 * dim * sizeof(float)), 0};
        REQUIRE(pthread_create(&th[t], NULL, conc_thread, &jobs[t]) == 0);
    }
    for (int t = 0; t < T; t++) pthread_join(th[t], NULL);
    int same = 0;
    for (int t = 0; t < T; t++) {
        CHECK(jobs[t].rc == 0);
        for (int k = 0; k < 8; k++)
            same += !memcmp(jobs[t].out + (size_t)k * dim, all.data + (size_t)(t * 8 + k) * dim, (size_t)dim * 4);
        free(jobs[t].out);
    }
    CHECKF(same == 32, "concurrent callers: %d of 32 vectors equal the batch's", same);
    pg_embed_result_free(&all);
}

/* pg_embed_ctl: a set cancel flag or a passed deadline returns
 * PG_ECANCELED without touching other callers; a flag raised while calls
 * run ends each of them with 0 or PG_ECANCELED (never a hang), and the
 * embedder serves normally afterwards. */
typedef struct {
    emb *x;
    int t;
    atomic_int cancel;
    int rc;
    float *out;
} cancel_job;

static void *cancel_thread(void *arg) {
    cancel_job *j = arg;
    pg_embed_input in[4];
    char bufs[4][256];
    for (int k = 0; k < 4; k++) in[k] = text_in(vary_text(j->t * 4 + k, bufs[k], sizeof bufs[k]));
    pg_embed_ctl ctl = {&j->cancel, 0};
    pg_embed_result r;
    pg_error err = {0};
    j->rc = pg_embed_ex(j->x->e, in, 4, NULL, &ctl, &r, &err);
    if (j->rc == 0) {
        memcpy(j->out, r.data, (size_t)4 * r.dim * sizeof(float));
        pg_embed_result_free(&r);
    }
    return NULL;
}

static void cancellation(emb *x) {
    const int32_t dim = pg_embedder_dim(x->e);
    pg_embed_input in = text_in("hello world");
    pg_embed_result r, ref;
    pg_error err = {0};
    REQUIRE(pg_embed(x->e, &in, 1, NULL, &ref, &err) == 0);
    atomic_int flag = 1;
    pg_embed_ctl ctl = {&flag, 0};
    CHECK(pg_embed_ex(x->e, &in, 1, NULL, &ctl, &r, &err) == PG_ECANCELED && strstr(err.msg, "cancelled"));
    pg_embed_ctl late = {NULL, 1}; /* 1 ns after the clock's origin: long past */
    CHECK(pg_embed_ex(x->e, &in, 1, NULL, &late, &r, &err) == PG_ECANCELED && strstr(err.msg, "deadline"));
    atomic_store(&flag, 0);
    REQUIRE(pg_embed_ex(x->e, &in, 1, NULL, &ctl, &r, &err) == 0);
    CHECK(!memcmp(r.data, ref.data, (size_t)dim * 4));
    pg_embed_result_free(&r);
    /* 4 callers at once: caller 0 cancelled from the start, caller 1 once
     * started; 2 and 3 must get exactly the batch's vectors */
    enum { T = 4 };
    char bufs[16][256];
    pg_embed_input all_in[16];
    for (int i = 0; i < 16; i++) all_in[i] = text_in(vary_text(i, bufs[i], sizeof bufs[i]));
    pg_embed_result all;
    REQUIRE(pg_embed(x->e, all_in, 16, NULL, &all, &err) == 0);
    cancel_job jobs[T];
    pthread_t th[T];
    for (int t = 0; t < T; t++) {
        jobs[t].x = x;
        jobs[t].t = t;
        atomic_init(&jobs[t].cancel, t == 0);
        jobs[t].rc = 1;
        jobs[t].out = malloc((size_t)4 * dim * sizeof(float));
        REQUIRE(pthread_create(&th[t], NULL, cancel_thread, &jobs[t]) == 0);
    }
    atomic_store(&jobs[1].cancel, 1);
    pg_embedder_wake(x->e);
    for (int t = 0; t < T; t++) pthread_join(th[t], NULL);
    CHECK(jobs[0].rc == PG_ECANCELED);
    CHECK(jobs[1].rc == 0 || jobs[1].rc == PG_ECANCELED);
    for (int t = 2; t < T; t++) {
        CHECK(jobs[t].rc == 0);
        CHECK(jobs[t].rc || !memcmp(jobs[t].out, all.data + (size_t)t * 4 * dim, (size_t)4 * dim * 4));
    }
    if (jobs[1].rc == 0) CHECK(!memcmp(jobs[1].out, all.data + (size_t)4 * dim, (size_t)4 * dim * 4));
    for (int t = 0; t < T; t++) free(jobs[t].out);
    pg_embed_result_free(&all);
    REQUIRE(pg_embed(x->e, &in, 1, NULL, &r, &err) == 0); /* still serves */
    CHECK(!memcmp(r.data, ref.data, (size_t)dim * 4));
    pg_embed_result_free(&r);
    pg_embed_result_free(&ref);
}

static void refusals_bert(emb *x, const char *td) {
    pg_error err = {0};
    pg_embed_result r;
    /* wrong kind: no generation, no reranking */
    CHECK(pg_model_caps(x->m) == PG_CAP_EMBED);
    CHECK(pg_embedder_caps(x->e) == PG_CAP_EMBED);
    pg_forward *f = NULL;
    CHECK(pg_forward_create(x->m, x->pool, 16, 1, 64, &f, &err) == PG_EUNSUPPORTED && !f);
    CHECKF(strstr(err.msg, "does not support generation") != NULL, "%s", err.msg);
    pg_rerank_result rr;
    pg_embed_input d = text_in("doc");
    CHECK(pg_rerank(x->e, "q", 1, &d, 1, 0, &rr, &err) == PG_EUNSUPPORTED);
    CHECKF(strstr(err.msg, "does not support reranking") != NULL, "%s", err.msg);
    /* too long: 600 words -> more than the 512-token context */
    size_t cap = 600 * 6 + 1;
    char *big = malloc(cap);
    big[0] = 0;
    for (int i = 0; i < 600; i++) strcat(big, i ? " word" : "word");
    pg_embed_input in[2] = {text_in("short"), text_in(big)};
    pg_embed_opts o = {1, 0, 0};
    CHECK(pg_embed(x->e, in, 2, &o, &r, &err) == PG_EINVAL);
    CHECKF(strstr(err.msg, "input 1 has 602 tokens") && strstr(err.msg, "limit of 512"), "%s", err.msg);
    o.truncate = 1;
    CHECK(pg_embed(x->e, in, 2, &o, &r, &err) == 0);
    CHECK(r.n_tokens[0] == 3 && r.n_tokens[1] == 512 && r.prompt_tokens == 515);
    CHECK(fabs(norm(r.data + r.dim, r.dim) - 1) < 1e-5);
    pg_embed_result_free(&r);
    free(big);
    /* dimensions: not a Matryoshka model */
    CHECK(!pg_embedder_matryoshka(x->e));
    o = (pg_embed_opts){1, 64, 0};
    CHECK(pg_embed(x->e, in, 1, &o, &r, &err) == PG_EINVAL);
    CHECKF(strstr(err.msg, "does not support the dimensions parameter") != NULL, "%s", err.msg);
    o.dimensions = 128; /* the full size is always fine */
    CHECK(pg_embed(x->e, in, 1, &o, &r, &err) == 0 && r.dim == 128);
    pg_embed_result_free(&r);
    o.dimensions = 129;
    CHECK(pg_embed(x->e, in, 1, &o, &r, &err) == PG_EINVAL);
    o.dimensions = -1;
    CHECK(pg_embed(x->e, in, 1, &o, &r, &err) == PG_EINVAL);
    /* token ids, empty inputs */
    int32_t ids[3] = {101, 7592, 102}, bad[2] = {101, 1 << 30};
    pg_embed_input ti[3] = {{NULL, 0, ids, 3}, {NULL, 0, bad, 2}, {NULL, 0, ids, 0}};
    CHECK(pg_embed(x->e, ti, 1, NULL, &r, &err) == 0 && r.n_tokens[0] == 3);
    pg_embed_result_free(&r);
    CHECK(pg_embed(x->e, ti + 1, 1, NULL, &r, &err) == PG_EINVAL && strstr(err.msg, "outside the vocabulary"));
    CHECK(pg_embed(x->e, ti + 2, 1, NULL, &r, &err) == PG_EINVAL && strstr(err.msg, "input 0 is empty"));
    CHECK(pg_embed(x->e, ti, 0, NULL, &r, &err) == PG_EINVAL);
    /* a text equals its own token ids */
    pg_embed_input tx = text_in("hello world");
    pg_embed_result a, b;
    int32_t hw[8];
    int64_t nhw = pg_tokenize(x->v, "hello world", 11, 1, 0, hw, 8, &err);
    pg_embed_input tk = {NULL, 0, hw, (int32_t)nhw};
    CHECK(pg_embed(x->e, &tx, 1, NULL, &a, &err) == 0 && pg_embed(x->e, &tk, 1, NULL, &b, &err) == 0);
    CHECK(!memcmp(a.data, b.data, (size_t)a.dim * 4));
    pg_embed_result_free(&a);
    pg_embed_result_free(&b);
    (void)td;
}

/* Matryoshka allowed by the operator: dimensions = the prefix, renormalised. */
static void matryoshka(const char *path) {
    emb x;
    REQUIRE(emb_open(&x, path, PG_POOL_UNSPEC, 512, 8, 1) == 0);
    pg_embed_input in = text_in("The quick brown fox jumps over the lazy dog.");
    pg_embed_result full, cut, raw;
    pg_error err = {0};
    pg_embed_opts o = {1, 0, 0};
    REQUIRE(pg_embed(x.e, &in, 1, &o, &full, &err) == 0);
    o.dimensions = 32;
    REQUIRE(pg_embed(x.e, &in, 1, &o, &cut, &err) == 0);
    o = (pg_embed_opts){0, 32, 0};
    REQUIRE(pg_embed(x.e, &in, 1, &o, &raw, &err) == 0);
    CHECK(cut.dim == 32 && raw.dim == 32);
    CHECK(fabs(norm(cut.data, 32) - 1) < 1e-5);
    double nf = norm(full.data, 32), nr = norm(raw.data, 32);
    int ok = 1;
    for (int i = 0; i < 32; i++) ok &= fabs(cut.data[i] - full.data[i] / nf) < 1e-5 && fabs(cut.data[i] - raw.data[i] / nr) < 1e-6;
    CHECK(ok);
    CHECK(fabs(norm(raw.data, 32) - 1) > 1e-3); /* normalize false: left as pooled */
    pg_embed_result_free(&full);
    pg_embed_result_free(&cut);
    pg_embed_result_free(&raw);
    emb_close(&x);
}

/* Pooling overrides on an encoder: none gives one row per token (first_row
 * bounds), and cls / mean are its first row / its mean, bit for bit. */
static void pooling_overrides(const char *path) {
    emb xn, xc, xm;
    REQUIRE(emb_open(&xn, path, PG_POOL_NONE, 512, 8, -1) == 0);
    REQUIRE(emb_open(&xc, path, PG_POOL_CLS, 512, 8, -1) == 0);
    REQUIRE(emb_open(&xm, path, PG_POOL_MEAN, 512, 8, -1) == 0);
    pg_embed_input in[2] = {text_in("hello world"), text_in("The quick brown fox jumps over the lazy dog.")};
    pg_embed_opts raw = {0, 0, 0};
    pg_embed_result rn, rc, rm;
    pg_error err = {0};
    REQUIRE(pg_embed(xn.e, in, 2, &raw, &rn, &err) == 0);
    REQUIRE(pg_embed(xc.e, in, 2, &raw, &rc, &err) == 0);
    REQUIRE(pg_embed(xm.e, in, 2, &raw, &rm, &err) == 0);
    CHECK(rn.n == 2 && rn.first_row[0] == 0 && rn.first_row[1] == rn.n_tokens[0] &&
          rn.first_row[2] == rn.n_tokens[0] + rn.n_tokens[1] && rn.n_rows == rn.first_row[2]);
    CHECK(rc.n_rows == 2 && rm.n_rows == 2);
    const int32_t d = rn.dim;
    for (int i = 0; i < 2; i++) {
        CHECK(!memcmp(rc.data + (size_t)i * d, rn.data + (size_t)rn.first_row[i] * d, (size_t)d * 4));
        int ok = 1;
        for (int32_t k = 0; k < d; k++) {
            double acc = 0;
            for (int32_t r = rn.first_row[i]; r < rn.first_row[i + 1]; r++) acc += rn.data[(size_t)r * d + k];
            ok &= rm.data[(size_t)i * d + k] == (float)(acc / rn.n_tokens[i]);
        }
        CHECKF(ok, "mean pooling of input %d is not the mean of its token rows", i);
    }
    pg_embed_result_free(&rn);
    pg_embed_result_free(&rc);
    pg_embed_result_free(&rm);
    emb_close(&xn);
    emb_close(&xc);
    emb_close(&xm);
}

static void rerank_golden(const char *path, json_t *rr, json_t *gold) {
    emb x;
    REQUIRE(emb_open(&x, path, PG_POOL_UNSPEC, 512, 16, -1) == 0);
    CHECK(pg_model_caps(x.m) == PG_CAP_RERANK && pg_embedder_caps(x.e) == PG_CAP_RERANK);
    pg_error err = {0};
    for (size_t i = 0; i < json_array_size(rr); i++) {
        json_t *c = json_array_get(rr, i), *docs = json_object_get(c, "documents");
        const char *q = json_string_value(json_object_get(c, "query"));
        pg_embed_input d[8];
        size_t nd = json_array_size(docs);
        REQUIRE(nd <= 8);
        for (size_t k = 0; k < nd; k++) d[k] = text_in(json_string_value(json_array_get(docs, k)));
        pg_rerank_result r;
        REQUIRE(pg_rerank(x.e, q, strlen(q), d, (int32_t)nd, 0, &r, &err) == 0);
        for (size_t k = 0; k < nd; k++) {
            double want = json_number_value(json_array_get(json_array_get(gold, i), k));
            CHECKF(fabs(r.scores[k] - want) <= 1e-4, "rerank %zu/%zu: %.7f, want %.7f", i, k, r.scores[k], want);
            fprintf(stderr, "rerank %zu/%zu: %.7f want %.7f\n", i, k, r.scores[k], want);
            /* alone = in the batch */
            pg_rerank_result one;
            REQUIRE(pg_rerank(x.e, q, strlen(q), &d[k], 1, 0, &one, &err) == 0);
            CHECK(!memcmp(&one.scores[0], &r.scores[k], sizeof(float)));
            pg_rerank_result_free(&one);
        }
        pg_rerank_result_free(&r);
    }
    /* layout: [CLS] q [SEP] [SEP] d [SEP] */
    pg_embed_input d1 = text_in("a cat");
    pg_rerank_result r;
    REQUIRE(pg_rerank(x.e, "cat", 3, &d1, 1, 0, &r, &err) == 0);
    CHECK(r.n_tokens[0] == 1 + 1 + 2 + 2 + 1 && r.prompt_tokens == 7);
    pg_rerank_result_free(&r);
    /* wrong kind, too long, truncate */
    pg_embed_result er;
    CHECK(pg_embed(x.e, &d1, 1, NULL, &er, &err) == PG_EUNSUPPORTED && strstr(err.msg, "reranker"));
    char *big = malloc(600 * 5 + 1);
    big[0] = 0;
    for (int i = 0; i < 600; i++) strcat(big, i ? " cat" : "cat");
    pg_embed_input db = text_in(big);
    CHECK(pg_rerank(x.e, "cat", 3, &db, 1, 0, &r, &err) == PG_EINVAL);
    CHECKF(strstr(err.msg, "605 tokens") && strstr(err.msg, "limit of 512"), "%s", err.msg);
    CHECK(pg_rerank(x.e, "cat", 3, &db, 1, 1, &r, &err) == 0 && r.n_tokens[0] == 512);
    pg_rerank_result_free(&r);
    CHECK(pg_rerank(x.e, big, strlen(big), &d1, 1, 1, &r, &err) == PG_EINVAL); /* the query alone is too long */
    free(big);
    emb_close(&x);
}

static void decoder_kind(const char *path) {
    pg_model *m;
    pg_vocab *v;
    pg_error err = {0};
    REQUIRE(pg_model_load(path, &m, &err) == 0 && pg_vocab_load(pg_model_gguf(m), &v, &err) == 0);
    CHECK(pg_model_caps(m) == PG_CAP_GENERATE);
    pg_embedder *e = NULL;
    CHECK(pg_embedder_create(m, v, NULL, NULL, &e, &err) == PG_EUNSUPPORTED && !e);
    CHECKF(strstr(err.msg, "does not support embeddings") != NULL, "%s", err.msg);
    pg_embed_config c = {512, 8, PG_POOL_RANK, -1, 0};
    CHECK(pg_embedder_create(m, v, NULL, &c, &e, &err) == PG_EUNSUPPORTED && !e);
    pg_vocab_free(v);
    pg_model_free(m);
}

static void base64(void) {
    const float v1[1] = {1.0f}, v2[2] = {1.0f, -2.0f};
    char buf[64];
    CHECK(pg_embed_base64(v1, 1, buf, sizeof buf) == 8 && !strcmp(buf, "AACAPw=="));
    CHECK(pg_embed_base64(v2, 2, buf, sizeof buf) == 12 && !strcmp(buf, "AACAPwAAAMA="));
    CHECK(pg_embed_base64(v2, 2, buf, 12) == 12); /* no room for the NUL: length only */
    const float v3[3] = {0.5f, 0.25f, 3.0f}; /* 12 bytes: no padding */
    CHECK(pg_embed_base64(v3, 3, buf, sizeof buf) == 16 && !strcmp(buf, "AAAAPwAAgD4AAEBA"));
    CHECK(pg_embed_base64(v1, 0, buf, sizeof buf) == 0 && buf[0] == 0);
}

int main(void) {
    base64();
    const char *td = t_testdata();
    if (!td) SKIP("no test data (PAGODA_TESTDATA or ../shared)");
    char path[1024], gpath[1024];
    snprintf(gpath, sizeof gpath, "%s/embeddings/golden.json", td);
    json_error_t je;
    json_t *g = json_load_file(gpath, 0, &je);
    if (!g) SKIP("no %s", gpath);
    json_t *texts = json_object_get(g, "texts");

    emb x;
    snprintf(path, sizeof path, "%s/embeddings/emb-bert.gguf", td);
    REQUIRE(emb_open(&x, path, PG_POOL_UNSPEC, 2048, 64, -1) == 0);
    CHECK(pg_embedder_pooling(x.e) == PG_POOL_MEAN && pg_embedder_max_input(x.e) == 512);
    golden_embeddings(&x, texts, json_object_get(g, "embeddings_mean"), "emb-bert mean");
    batch_invariance(&x, "emb-bert");
    concurrency(&x);
    cancellation(&x);
    refusals_bert(&x, td);
    emb_close(&x);
    matryoshka(path);
    pooling_overrides(path);

    /* batching off: same vectors */
    REQUIRE(emb_open(&x, path, PG_POOL_UNSPEC, 2048, 1, -1) == 0);
    golden_embeddings(&x, texts, json_object_get(g, "embeddings_mean"), "emb-bert mean, batching off");
    emb_close(&x);

    snprintf(path, sizeof path, "%s/models/arch-qwen2-q8_0.gguf", td);
    REQUIRE(emb_open(&x, path, PG_POOL_LAST, 1024, 32, -1) == 0);
    CHECK(pg_embedder_caps(x.e) == PG_CAP_EMBED);
    golden_embeddings(&x, texts, json_object_get(g, "embeddings_last"), "qwen2 last");
    batch_invariance(&x, "qwen2 last");
    emb_close(&x);
    decoder_kind(path);

    snprintf(path, sizeof path, "%s/embeddings/rr-bert.gguf", td);
    rerank_golden(path, json_object_get(g, "rerank"), json_object_get(g, "rerank_scores"));
    json_decref(g);
    return t_done("test_embed");
}
