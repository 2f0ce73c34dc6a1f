/* test_engine_spec.c - speculative decoding in the engine (engine_spec.c)
 * on stories260K, which also drafts for itself as the draft model.
 *
 * Every output under speculation must equal the output without it (tokens,
 * logprobs, top alternative, text, finish reason): greedy and sampled with a
 * seed (the coupled rule: each verified row is sampled with the sequence's
 * next RNG draw), alone and batched with other sequences, through tiny step
 * budgets, preemption (a small KV pool), pause/resume, cancellation, n > 1,
 * grammar-constrained and opted-out requests beside speculating ones.
 * The engines run by hand with the invariant checker after every step
 * (drafts never left between steps, blocks match the committed positions).
 * Speculation must also actually happen: drafted and accepted counters > 0,
 * and a model drafting for itself has every greedy draft accepted. The
 * prefix cache after a speculated request holds exactly what it would hold
 * without speculation (only committed tokens are ever hashed). */
#include "test.h"

#include "engine/engine.h"
#include "model/model.h"
#include "sample/gram_cache.h"
#include "tokenizer/tokenizer.h"

#define MAXC 2
#define MAXT 200

typedef struct {
    uint64_t id;
    int32_t toks[MAXC][MAXT];
    float lp[MAXC][MAXT];
    int32_t top0[MAXC][MAXT];
    int n_tok[MAXC];
    char text[MAXC][4096];
    size_t tlen[MAXC];
    int finish[MAXC], done[MAXC], err[MAXC];
    pg_engine_usage usage[MAXC];
} res;

static void on_event(const pg_engine_event *ev, void *user) {
    res *r = user;
    int i = ev->index;
    if (i < 0 || i >= MAXC) return;
    if (ev->type == PG_EV_TOKEN) {
        if (r->n_tok[i] < MAXT) {
            r->toks[i][r->n_tok[i]] = ev->token;
            r->lp[i][r->n_tok[i]] = ev->sample ? ev->sample->logprob : NAN;
            r->top0[i][r->n_tok[i]] = ev->sample && ev->sample->n_top > 0 ? ev->sample->top_id[0] : -1;
            r->n_tok[i]++;
        }
    } else {
        r->done[i] = 1;
        if (ev->type == PG_EV_DONE) {
            r->finish[i] = ev->finish_reason;
            r->usage[i] = *ev->usage;
        } else {
            r->err[i] = ev->error_code;
        }
    }
    if (ev->text_len && r->tlen[i] + ev->text_len < sizeof r->text[i]) {
        memcpy(r->text[i] + r->tlen[i], ev->text, ev->text_len);
        r->tlen[i] += ev->text_len;
        r->text[i][r->tlen[i]] = 0;
    }
}

static pg_model *g_model;
static pg_vocab *g_vocab;

static pg_engine *mk(int spec, int32_t max_seqs, int32_t mbt, uint64_t kv_mem, int32_t rows, int32_t k) {
    pg_engine_config c;
    pg_engine_config_default(&c);
    c.manual = 1;
    c.check_steps = 1;
    c.max_seqs = max_seqs;
    c.max_batched_tokens = mbt;
    c.threads = 1;
    c.default_seed = 77;
    c.kv_cache_mem = kv_mem;
    c.spec_mode = spec;
    c.spec_max_rows = rows;
    c.spec_tokens = k;
    if (spec == PG_SPEC_DRAFT) c.draft_model = g_model;
    pg_engine *e = NULL;
    pg_error err = {0};
    int rc = pg_engine_create(g_model, g_vocab, &c, &e, &err);
    if (rc < 0) fprintf(stderr, "engine create: %s\n", err.msg);
    REQUIRE(rc == 0 && e);
    return e;
}

static uint64_t blocks_mem(int32_t n) { return (uint64_t)n * 16 * pg_kv_bytes_per_token(g_model, PG_KV_F16); }

static int64_t submit(pg_engine *e, pg_request *q) {
    pg_error err = {0};
    int64_t id = pg_engine_submit(e, q, &err);
    if (id < 0) fprintf(stderr, "submit: %s\n", err.msg);
    REQUIRE(id > 0);
    ((res *)q->user)->id = (uint64_t)id;
    return id;
}

static void drain(pg_engine *e) {
    int guard = 0;
    while (pg_engine_step(e) > 0) REQUIRE(++guard < 100000);
    char msg[512];
    CHECKF(pg_engine_check(e, msg, sizeof msg) == 0, "%s", msg);
    CHECK(pg_engine_kv_idle(e));
}

static int same(const res *a, const res *b, int i) {
    if (a->n_tok[i] != b->n_tok[i] || a->finish[i] != b->finish[i] || a->err[i] != b->err[i]) return 0;
    for (int j = 0; j < a->n_tok[i]; j++)
        if (a->toks[i][j] != b->toks[i][j] || memcmp(&a->lp[i][j], &b->lp[i][j], sizeof(float)) ||
            a->top0[i][j] != b->top0[i][j])
            return 0;
    return a->tlen[i] == b->tlen[i] && !memcmp(a->text[i], b->text[i], a->tlen[i]);
}

static uint64_t rs = 88172645463325252ULL;
static uint32_t rnd(uint32_t n) {
    rs ^= rs << 13;
    rs ^= rs >> 7;
    rs ^= rs << 17;
    return (uint32_t)(rs % n);
}

/* ------------------------------------------------------------ requests */

#define NR 14
static int32_t prompts[NR][40];
static int32_t plen[NR];
static pg_gram_ref *g_gram;

static void make_prompts(void) {
    for (int r = 0; r < NR; r++) {
        plen[r] = 3 + (int32_t)rnd(30);
        prompts[r][0] = 1;
        for (int i = 1; i < plen[r]; i++) prompts[r][i] = 3 + (int32_t)rnd(400);
        if (r % 4 == 3) /* a repetitive prompt: n-gram drafts from the prompt itself */
            for (int i = 9; i < plen[r]; i++) prompts[r][i] = prompts[r][1 + (i - 1) % 8];
    }
}

/* kind: 0 greedy, 1 sampled (seeded, top_p, penalties, logprobs), 2 sampled
 * n = 2, 3 greedy with stop string + min_tokens, 4 opted out, 5 grammar */
static void req(pg_request *q, int r, int kind, res *out) {
    memset(q, 0, sizeof *q);
    q->prompt = prompts[r];
    q->n_prompt = plen[r];
    q->sampling = pg_sampling_params_default();
    q->max_tokens = 40 + r * 9 % 100;
    q->n = 1;
    q->cb = on_event;
    q->user = out;
    q->sampling.n_logprobs = 2;
    q->sampling.temperature = 0;
    static const char *stops[] = {"ly."};
    switch (kind) {
    case 1:
    case 2:
        q->sampling.temperature = 0.9f;
        q->sampling.top_p = r % 2 ? 0.9f : 1.0f;
        q->sampling.repetition_penalty = r % 3 == 0 ? 1.1f : 1.0f;
        q->sampling.frequency_penalty = r % 3 == 1 ? 0.3f : 0.0f;
        q->sampling.has_seed = 1;
        q->sampling.seed = 500 + (uint64_t)r;
        q->sampling.ignore_eos = r % 2;
        if (kind == 2) q->n = 2;
        break;
    case 3:
        q->stop = stops;
        q->n_stop = 1;
        q->min_tokens = 5;
        break;
    case 4:
        q->no_spec = 1;
        break;
    case 5:
        q->grammar = g_gram;
        break;
    }
}

static int kind_of(int r) { return r % 6; }

/* References: each request alone on an engine without speculation. */
static res *g_ref;
static void make_refs(void) {
    g_ref = calloc(NR, sizeof *g_ref);
    pg_engine *e = mk(PG_SPEC_OFF, 4, 64, 0, 0, 0);
    for (int r = 0; r < NR; r++) {
        pg_request q;
        req(&q, r, kind_of(r), &g_ref[r]);
        submit(e, &q);
        drain(e);
        REQUIRE(g_ref[r].done[0]);
    }
    pg_engine_destroy(e);
}

static void check_all(const res *got, const char *what) {
    for (int r = 0; r < NR; r++)
        for (int i = 0; i < (kind_of(r) == 2 ? 2 : 1); i++)
            CHECKF(same(&got[r], &g_ref[r], i), "%s: request %d (kind %d) choice %d differs from speculation off (%d vs %d tokens)",
                   what, r, kind_of(r), i, got[r].n_tok[i], g_ref[r].n_tok[i]);
}

/* each request alone with speculation */
static void test_alone(int mode) {
    pg_engine *e = mk(mode, 4, 64, 0, 0, 0);
    res *got = calloc(NR, sizeof *got);
    for (int r = 0; r < NR; r++) {
        pg_request q;
        req(&q, r, kind_of(r), &got[r]);
        submit(e, &q);
        drain(e);
    }
    check_all(got, mode == PG_SPEC_NGRAM ? "ngram alone" : "draft alone");
    pg_engine_stats st;
    pg_engine_stats_get(e, &st);
    CHECKF(st.spec_drafted > 0 && st.spec_accepted > 0 && st.spec_accepted <= st.spec_drafted,
           "mode %d: drafted %llu accepted %llu", mode, (unsigned long long)st.spec_drafted,
           (unsigned long long)st.spec_accepted);
    uint64_t h = 0;
    for (int i = 0; i < PG_SPEC_HIST; i++) h += st.spec_hist[i];
    CHECK(h > 0);
    free(got);
    pg_engine_destroy(e);
}

/* all at once: tiny step budget, a small pool (preemption), drafting with
 * many streams (spec_max_rows raised), a fixed K */
static void test_batched(int mode, int32_t mbt, int32_t kv_blocks, int32_t k) {
    pg_engine *e = mk(mode, 8, mbt, kv_blocks ? blocks_mem(kv_blocks) : 0, 64, k);
    res *got = calloc(NR, sizeof *got);
    for (int r = 0; r < NR; r++) {
        pg_request q;
        req(&q, r, kind_of(r), &got[r]);
        submit(e, &q);
    }
    drain(e);
    char what[64];
    snprintf(what, sizeof what, "mode %d batched mbt %d blocks %d k %d", mode, mbt, kv_blocks, k);
    check_all(got, what);
    pg_engine_stats st;
    pg_engine_stats_get(e, &st);
    CHECKF(st.spec_drafted > 0 && st.spec_accepted > 0, "%s: drafted %llu accepted %llu", what,
           (unsigned long long)st.spec_drafted, (unsigned long long)st.spec_accepted);
    if (kv_blocks) CHECKF(st.preemptions > 0, "%s: no preemption", what);
    free(got);
    pg_engine_destroy(e);
}

/* A model drafting for itself: every greedy draft is accepted. */
static void test_self_draft(void) {
    pg_engine *e = mk(PG_SPEC_DRAFT, 4, 64, 0, 0, 0);
    res *got = calloc(NR, sizeof *got);
    for (int r = 0; r < NR; r++) {
        if (kind_of(r) != 0) continue;
        pg_request q;
        req(&q, r, 0, &got[r]);
        submit(e, &q);
    }
    drain(e);
    for (int r = 0; r < NR; r++)
        if (kind_of(r) == 0) CHECKF(same(&got[r], &g_ref[r], 0), "self draft: request %d differs", r);
    pg_engine_stats st;
    pg_engine_stats_get(e, &st);
    CHECKF(st.spec_drafted > 0 && st.spec_accepted == st.spec_drafted, "self draft: drafted %llu accepted %llu",
           (unsigned long long)st.spec_drafted, (unsigned long long)st.spec_accepted);
    CHECK(st.spec_hist[PG_SPEC_HIST - 1] > 0);
    free(got);
    pg_engine_destroy(e);
}

/* KV rollback and the prefix cache: a request whose prompt is an earlier
 * speculated request's prompt + output reuses exactly the blocks it would
 * reuse without speculation, and its output is unchanged. */
static void test_prefix_after_spec(int mode) {
    int32_t p2[MAXT + 40];
    res a_off = {0}, b_off = {0}, a_on = {0}, b_on = {0};
    for (int pass = 0; pass < 2; pass++) {
        pg_engine *e = mk(pass ? mode : PG_SPEC_OFF, 4, 64, 0, 0, 0);
        res *a = pass ? &a_on : &a_off, *b = pass ? &b_on : &b_off;
        pg_request q;
        req(&q, 3, 0, a);
        q.max_tokens = 90;
        q.sampling.ignore_eos = 1;
        submit(e, &q);
        drain(e);
        REQUIRE(a->n_tok[0] == 90);
        int32_t n2 = plen[3] + 70;
        memcpy(p2, prompts[3], (size_t)plen[3] * sizeof(int32_t));
        memcpy(p2 + plen[3], a->toks[0], 70 * sizeof(int32_t));
        req(&q, 3, 0, b);
        q.prompt = p2;
        q.n_prompt = n2;
        q.max_tokens = 30;
        submit(e, &q);
        drain(e);
        pg_engine_destroy(e);
    }
    CHECK(same(&a_on, &a_off, 0));
    CHECK(same(&b_on, &b_off, 0));
    CHECKF(b_on.usage[0].cached_tokens == b_off.usage[0].cached_tokens && b_on.usage[0].cached_tokens > plen[3],
           "cached %d with speculation, %d without", b_on.usage[0].cached_tokens, b_off.usage[0].cached_tokens);
}

/* pause / resume and cancel in the middle of speculated decoding */
static void test_pause_cancel(int mode) {
    pg_engine *e = mk(mode, 4, 64, 0, 0, 0);
    res a = {0}, b = {0};
    pg_request q;
    req(&q, 3, 1, &a);
    int64_t ia = submit(e, &q);
    req(&q, 7, 0, &b);
    q.max_tokens = 150;
    q.sampling.ignore_eos = 1;
    int64_t ib = submit(e, &q);
    for (int i = 0; i < 6; i++) pg_engine_step(e);
    CHECK(pg_engine_pause(e, (uint64_t)ia, 1) == 0);
    for (int i = 0; i < 4; i++) pg_engine_step(e);
    CHECK(pg_engine_pause(e, (uint64_t)ia, 0) == 0);
    CHECK(pg_engine_cancel(e, (uint64_t)ib) == 0);
    drain(e);
    CHECK(b.done[0] && b.finish[0] == PG_FINISH_CANCELLED && b.n_tok[0] < 150);
    /* a's reference: the same request alone, speculation off */
    pg_engine *e0 = mk(PG_SPEC_OFF, 4, 64, 0, 0, 0);
    res a0 = {0};
    req(&q, 3, 1, &a0);
    submit(e0, &q);
    drain(e0);
    CHECK(same(&a, &a0, 0));
    pg_engine_destroy(e0);
    pg_engine_destroy(e);
}

/* bad configurations are refused with a message */
static void test_config(void) {
    pg_engine_config c;
    pg_engine_config_default(&c);
    c.manual = 1;
    pg_engine *e = NULL;
    pg_error err = {0};
    c.spec_mode = PG_SPEC_DRAFT;
    CHECK(pg_engine_create(g_model, g_vocab, &c, &e, &err) < 0 && !e && strstr(err.msg, "draft model"));
    c.spec_mode = PG_SPEC_NGRAM;
    c.spec_tokens = PG_SPEC_MAX_K + 1;
    CHECK(pg_engine_create(g_model, g_vocab, &c, &e, &err) < 0 && !e);
    c.spec_mode = 9;
    c.spec_tokens = 0;
    CHECK(pg_engine_create(g_model, g_vocab, &c, &e, &err) < 0 && !e);
    /* an encoder cannot draft */
    const char *td = t_testdata();
    char path[1024];
    snprintf(path, sizeof path, "%s/embeddings/emb-bert.gguf", td);
    pg_model *other = NULL;
    if (pg_model_load(path, &other, &err) == 0) {
        c.spec_mode = PG_SPEC_DRAFT;
        c.draft_model = other;
        memset(&err, 0, sizeof err);
        int rc = pg_engine_create(g_model, g_vocab, &c, &e, &err);
        CHECKF(rc < 0 && !e && strstr(err.msg, "draft model"), "rc %d: %s", rc, err.msg);
        if (e) pg_engine_destroy(e);
        e = NULL;
        c.draft_model = NULL;
        pg_model_free(other);
    }
    int m = -1;
    CHECK(pg_spec_mode_parse("ngram", 0, &m) == 0 && m == PG_SPEC_NGRAM);
    CHECK(pg_spec_mode_parse("off", 0, &m) == 0 && m == PG_SPEC_OFF);
    CHECK(pg_spec_mode_parse("draft", 1, &m) == 0 && m == PG_SPEC_DRAFT);
    CHECK(pg_spec_mode_parse("draft", 0, &m) < 0);
    CHECK(pg_spec_mode_parse("ngram", 1, &m) < 0);
    CHECK(pg_spec_mode_parse("bogus", 0, &m) < 0);
}

int main(void) {
    const char *td = t_testdata();
    if (!td) SKIP("no test data (../shared or PAGODA_TESTDATA)");
    char path[1024];
    snprintf(path, sizeof path, "%s/models/stories260K.gguf", td);
    pg_error err = {0};
    if (pg_model_load(path, &g_model, &err) < 0) SKIP("cannot load %s: %s", path, err.msg);
    REQUIRE(pg_vocab_load(pg_model_gguf(g_model), &g_vocab, &err) == 0);
    const char *rx = "[a-z ]{1,60}\\.";
    REQUIRE(pg_gram_build(PG_GRAM_REGEX, rx, strlen(rx), 0, &g_gram, &err) == 0);
    make_prompts();
    make_refs();
    test_config();
    test_alone(PG_SPEC_NGRAM);
    test_alone(PG_SPEC_DRAFT);
    test_self_draft();
    test_batched(PG_SPEC_NGRAM, 64, 0, 0);
    test_batched(PG_SPEC_NGRAM, 9, 0, 3);
    test_batched(PG_SPEC_NGRAM, 40, 12, 0);
    test_batched(PG_SPEC_DRAFT, 64, 0, 0);
    test_batched(PG_SPEC_DRAFT, 20, 12, 5);
    test_prefix_after_spec(PG_SPEC_NGRAM);
    test_prefix_after_spec(PG_SPEC_DRAFT);
    test_pause_cancel(PG_SPEC_NGRAM);
    test_pause_cancel(PG_SPEC_DRAFT);
    free(g_ref);
    pg_gram_ref_drop(g_gram);
    pg_vocab_free(g_vocab);
    pg_model_free(g_model);
    return t_done("test_engine_spec");
}
