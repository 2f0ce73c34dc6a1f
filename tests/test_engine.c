/* test_engine.c - the serving engine on stories260K (batch invariance also on
 * syn-a-q4_0 and every arch-* model):
 * golden greedy tokens through the engine, batch invariance (32 seeded
 * requests, tiny chunks, shared prefixes, cache hits) against runs alone,
 * prefix-cache hits and salts, preemption that does not change outputs,
 * block accounting under random submit/cancel, admission errors, queue
 * limits, cancellation, deadlines, stop strings / stop ids, n > 1, the
 * threaded mode and destroy with requests in flight. Most tests drive the
 * engine by hand (cfg.manual) with the invariant checker after each step. */
#include "test.h"
#include "fwd_util.h"
#include "golden.h"

#include "engine/engine.h"
#include "model/model.h"
#include "tokenizer/tokenizer.h"

#include <pthread.h>
#include <unistd.h>

#define MAXC 4
#define MAXT 160

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
    int n_last, after_final;
} res;

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_cv = PTHREAD_COND_INITIALIZER;
static int g_done_requests = 0;

static void on_event(const pg_engine_event *ev, void *user) {
    res *r = user;
    int i = ev->index;
    if (i < 0 || i >= MAXC) {
        r->after_final++;
        return;
    }
    if (r->done[i]) r->after_final++;
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
    if (ev->last) {
        r->n_last++;
        pthread_mutex_lock(&g_mu);
        g_done_requests++;
        pthread_cond_broadcast(&g_cv);
        pthread_mutex_unlock(&g_mu);
    }
}

/* Completed requests of threaded engines (callbacks on the engine thread). */
static void done_reset(void) {
    pthread_mutex_lock(&g_mu);
    g_done_requests = 0;
    pthread_mutex_unlock(&g_mu);
}

static void done_wait(int n) {
    pthread_mutex_lock(&g_mu);
    while (g_done_requests < n) pthread_cond_wait(&g_cv, &g_mu);
    pthread_mutex_unlock(&g_mu);
}

static pg_model *g_model;
static pg_vocab *g_vocab;
static int g_kv_type = PG_KV_F16; /* the KV cache type of every engine the tests create */

/* The tests' engine settings: manual mode steps in the test's thread and
 * checks invariants every step. */
static void cfg_base(pg_engine_config *c, int manual, int32_t max_seqs, int32_t mbt) {
    pg_engine_config_default(c);
    c->manual = manual;
    c->check_steps = manual;
    c->max_seqs = max_seqs;
    c->max_batched_tokens = mbt;
    c->threads = manual ? 1 : 2; /* thread count never changes results; 1 is kind to loaded CI */
    c->default_seed = 1234;
    c->kv_type = g_kv_type;
}

static pg_engine *create(const pg_engine_config *c) {
    pg_engine *e = NULL;
    pg_error err = {0};
    int rc = pg_engine_create(g_model, g_vocab, c, &e, &err);
    if (rc < 0) fprintf(stderr, "engine create: %s\n", err.msg);
    REQUIRE(rc == 0 && e);
    return e;
}

static pg_engine *mk_engine(int manual, int32_t max_seqs, int32_t mbt, uint64_t kv_mem) {
    pg_engine_config c;
    cfg_base(&c, manual, max_seqs, mbt);
    c.kv_cache_mem = kv_mem;
    return create(&c);
}

static uint64_t blocks_mem(int32_t n_blocks) { return (uint64_t)n_blocks * 16 * pg_kv_bytes_per_token(g_model, g_kv_type); }

static void base_req(pg_request *q, const int32_t *prompt, int32_t n, int32_t max_tokens, res *r) {
    memset(q, 0, sizeof *q);
    q->prompt = prompt;
    q->n_prompt = n;
    q->sampling = pg_sampling_params_default();
    q->max_tokens = max_tokens;
    q->n = 1;
    q->cb = on_event;
    q->user = r;
}

static int64_t submit(pg_engine *e, const pg_request *q) {
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

static int same_output(const res *a, int ia, const res *b, int ib) {
    if (a->n_tok[ia] != b->n_tok[ib]) return 0;
    for (int i = 0; i < a->n_tok[ia]; i++) {
        if (a->toks[ia][i] != b->toks[ib][i]) return 0;
        if (memcmp(&a->lp[ia][i], &b->lp[ib][i], sizeof(float)) != 0) return 0;
        if (a->top0[ia][i] != b->top0[ib][i]) return 0;
    }
    return a->tlen[ia] == b->tlen[ib] && memcmp(a->text[ia], b->text[ib], a->tlen[ia]) == 0 &&
           a->finish[ia] == b->finish[ib];
}

/* deterministic pseudo-random */
static uint64_t rng_state = 88172645463325252ULL;
static uint32_t rnd(uint32_t n) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state % n);
}

/* ---------------------------------------------------------------- golden */

static void test_golden(const char *td) {
    char gdir[1024];
    snprintf(gdir, sizeof gdir, "%s/golden/stories260K", td);
    golden_case *gc;
    int n = golden_load(gdir, &gc);
    REQUIRE(n > 0);
    pg_engine *e = mk_engine(1, 8, 7, 0);
    res *rs = calloc((size_t)n, sizeof *rs);
    for (int i = 0; i < n; i++) {
        pg_request q;
        base_req(&q, gc[i].prompt_tokens, gc[i].n_prompt, 64, &rs[i]);
        q.sampling.temperature = 0;
        submit(e, &q);
    }
    drain(e);
    for (int i = 0; i < n; i++) {
        int m = rs[i].n_tok[0];
        /* a trailing end-of-generation token is ours, not the reference's */
        if (m > 0 && m < 64 && pg_vocab_is_eog(g_vocab, rs[i].toks[0][m - 1])) m--;
        CHECKF(m == gc[i].n_greedy, "case %d: %d tokens vs %d", i, m, gc[i].n_greedy);
        int same = m == gc[i].n_greedy;
        for (int j = 0; same && j < m; j++) same = rs[i].toks[0][j] == gc[i].greedy[j];
        CHECKF(same, "golden case %d: greedy tokens differ", i);
        CHECK(rs[i].n_last == 1 && rs[i].after_final == 0);
        CHECK(rs[i].usage[0].prompt_tokens == gc[i].n_prompt);
        CHECK(rs[i].usage[0].completion_tokens == rs[i].n_tok[0]);
        /* text == detokenization in the context of the prompt's last token */
        int32_t ids[MAXT + 1];
        ids[0] = gc[i].prompt_tokens[gc[i].n_prompt - 1];
        memcpy(ids + 1, rs[i].toks[0], (size_t)m * sizeof(int32_t));
        char a[4096], b[4096];
        int64_t la = pg_detokenize(g_vocab, ids, 1, a, sizeof a, 0);
        int64_t lb = pg_detokenize(g_vocab, ids, (size_t)m + 1, b, sizeof b, 0);
        CHECKF(lb >= la && (size_t)(lb - la) == rs[i].tlen[0] && memcmp(b + la, rs[i].text[0], rs[i].tlen[0]) == 0,
               "case %d text '%s' vs '%.*s'", i, rs[i].text[0], (int)(lb - la), b + la);
    }
    free(rs);
    pg_engine_destroy(e);
    golden_free(gc, n);
}

/* ------------------------------------------------------ batch invariance */

#define NB 32
static int32_t inv_prompt[NB][48];
static int32_t inv_len[NB];

static void make_prompts(void) {
    int32_t shared[40];
    shared[0] = 1;
    for (int i = 1; i < 40; i++) shared[i] = 3 + (int32_t)rnd(500);
    for (int r = 0; r < NB; r++) {
        int32_t len = 5 + (int32_t)rnd(40);
        int32_t sh = r % 3 == 0 ? (len < 36 ? len - 2 : 34) : 1; /* a third share a long prefix */
        for (int i = 0; i < len; i++) inv_prompt[r][i] = i < sh ? shared[i] : 3 + (int32_t)rnd(500);
        inv_len[r] = len;
    }
}

static void inv_req(pg_request *q, int r, res *out, uint64_t salt) {
    base_req(q, inv_prompt[r], inv_len[r], 20 + r % 7, out);
    q->sampling.temperature = 0.8f;
    q->sampling.top_p = r % 2 ? 0.9f : 1.0f;
    q->sampling.has_seed = 1;
    q->sampling.seed = 1000 + (uint64_t)r;
    q->sampling.n_logprobs = 1;
    q->sampling.ignore_eos = r % 4 == 1;
    q->cache_salt = salt;
}

static void test_invariance(void) {
    make_prompts();
    res *alone = calloc(NB, sizeof *alone), *batch = calloc(NB, sizeof *batch), *again = calloc(NB, sizeof *again);
    pg_engine *e1 = mk_engine(1, 4, 256, 0);
    for (int r = 0; r < NB; r++) {
        pg_request q;
        inv_req(&q, r, &alone[r], 5000 + (uint64_t)r); /* private salt: never a cache hit */
        submit(e1, &q);
        drain(e1);
        CHECK(alone[r].usage[0].cached_tokens == 0);
    }
    pg_engine_destroy(e1);

    pg_engine *e = mk_engine(1, NB, 7, 0);
    for (int r = 0; r < NB; r++) {
        pg_request q;
        inv_req(&q, r, &batch[r], 0);
        submit(e, &q);
    }
    drain(e);
    pg_engine_stats st;
    pg_engine_stats_get(e, &st);
    CHECK(st.last_batch_tokens == 0 || st.last_batch_tokens <= 7);
    /* the same again: prompts now come from the prefix cache */
    for (int r = 0; r < NB; r++) {
        pg_request q;
        inv_req(&q, r, &again[r], 0);
        submit(e, &q);
    }
    drain(e);
    int hits = 0;
    for (int r = 0; r < NB; r++) {
        CHECKF(same_output(&alone[r], 0, &batch[r], 0), "request %d: batched output differs from alone", r);
        CHECKF(same_output(&alone[r], 0, &again[r], 0), "request %d: cached-prefix output differs from alone", r);
        CHECK(alone[r].n_tok[0] > 0);
        hits += again[r].usage[0].cached_tokens > 0;
    }
    CHECK(hits >= NB / 2);
    pg_engine_stats_get(e, &st);
    CHECK(st.prefix_hits > 0 && st.prefix_queries >= st.prefix_hits);
    CHECK(st.running == 0 && st.waiting == 0 && st.kv_blocks_used == 0);
    pg_engine_destroy(e);
    free(alone);
    free(batch);
    free(again);
}

/* --------------------------------------------------------- prefix cache */

static void test_prefix(void) {
    int32_t p[40];
    p[0] = 1;
    for (int i = 1; i < 40; i++) p[i] = 3 + (int32_t)rnd(500);
    pg_engine *e = mk_engine(1, 8, 64, 0);
    res a = {0}, b = {0}, c = {0}, d = {0};
    pg_request q;
    base_req(&q, p, 40, 10, &a);
    q.sampling.temperature = 0;
    submit(e, &q);
    drain(e);
    CHECK(a.usage[0].cached_tokens == 0);
    q.user = &b;
    submit(e, &q);
    drain(e);
    CHECKF(b.usage[0].cached_tokens == 32, "cached %d", b.usage[0].cached_tokens);
    CHECK(same_output(&a, 0, &b, 0));
    q.user = &c;
    q.cache_salt = 77;
    submit(e, &q);
    drain(e);
    CHECK(c.usage[0].cached_tokens == 0);
    CHECK(same_output(&a, 0, &c, 0));

    /* live sharing: d runs while c2 (same salt 77) decodes */
    res c2 = {0};
    q.user = &c2;
    q.max_tokens = 40;
    q.cache_salt = 99;
    submit(e, &q);
    for (int i = 0; i < 3; i++) pg_engine_step(e);
    pg_engine_stats s1, s2;
    pg_engine_stats_get(e, &s1);
    CHECK(s1.running == 1 && c2.n_tok[0] > 0);
    q.user = &d;
    submit(e, &q);
    pg_engine_step(e);
    pg_engine_stats_get(e, &s2);
    /* d refs c2's two full prompt blocks and adds one of its own */
    CHECKF(s2.kv_blocks_used == s1.kv_blocks_used + 1, "blocks %d -> %d", s1.kv_blocks_used, s2.kv_blocks_used);
    drain(e);
    CHECK(d.usage[0].cached_tokens == 32);
    CHECK(same_output(&c2, 0, &d, 0));
    pg_engine_destroy(e);
}

/* ----------------------------------------------------------- preemption */

static void test_preemption(void) {
    /* 10 blocks = 160 tokens; 5 requests of 20 + 60 tokens (5 blocks each) */
    int32_t p[5][20];
    for (int r = 0; r < 5; r++) {
        p[r][0] = 1;
        for (int i = 1; i < 20; i++) p[r][i] = 3 + (int32_t)rnd(500);
    }
    res alone[5], many[5];
    memset(alone, 0, sizeof alone);
    memset(many, 0, sizeof many);
    pg_engine *e = mk_engine(1, 8, 32, blocks_mem(10));
    for (int pass = 0; pass < 2; pass++) {
        for (int r = 0; r < 5; r++) {
            pg_request q;
            base_req(&q, p[r], 20, 60, pass ? &many[r] : &alone[r]);
            q.sampling.temperature = 0.8f;
            q.sampling.has_seed = 1;
            q.sampling.seed = 7 + (uint64_t)r;
            q.sampling.ignore_eos = 1;
            q.sampling.n_logprobs = 2;
            q.cache_salt = (uint64_t)pass * 100 + (uint64_t)r;
            submit(e, &q);
            if (!pass) drain(e);
        }
        drain(e);
    }
    pg_engine_stats st;
    pg_engine_stats_get(e, &st);
    CHECKF(st.preemptions > 0, "no preemption happened");
    int pre = 0;
    for (int r = 0; r < 5; r++) {
        CHECK(alone[r].usage[0].preemptions == 0);
        pre += many[r].usage[0].preemptions;
        CHECK(many[r].n_tok[0] == 60);
        CHECKF(same_output(&alone[r], 0, &many[r], 0), "request %d: preempted output differs", r);
    }
    CHECK(pre > 0);
    pg_engine_destroy(e);
}

/* ------------------------------------------------------- pause */

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* pg_engine_pause (a slow client, issue 29): a paused request leaves the
 * batch (its token counts stand still while the other request goes on),
 * its KV blocks are kept when memory allows (no recompute on resume) and
 * taken back under pressure (then it recomputes, like a preempted one);
 * either way its output equals its run alone, and the checker passes
 * after every step (cfg.check_steps). */
static void test_pause(void) {
    int32_t pa[20], pb[20];
    pa[0] = pb[0] = 1;
    for (int i = 1; i < 20; i++) {
        pa[i] = 3 + (int32_t)rnd(500);
        pb[i] = 3 + (int32_t)rnd(500);
    }
    for (int tight = 0; tight < 2; tight++) {
        /* roomy: 64 blocks; tight: 10 blocks = A's two choices (5 each),
         * so B can only be admitted with A's blocks */
        pg_engine *e = mk_engine(1, 8, 32, blocks_mem(tight ? 10 : 64));
        res alone_a, alone_b, a, b;
        memset(&alone_a, 0, sizeof alone_a);
        memset(&alone_b, 0, sizeof alone_b);
        memset(&a, 0, sizeof a);
        memset(&b, 0, sizeof b);
        pg_request qa, qb;
        base_req(&qa, pa, 20, 60, &alone_a);
        qa.n = 2;
        qa.sampling.temperature = 0.8f;
        qa.sampling.has_seed = 1;
        qa.sampling.seed = 11;
        qa.sampling.ignore_eos = 1;
        qa.sampling.n_logprobs = 2;
        base_req(&qb, pb, 20, 40, &alone_b);
        qb.sampling = qa.sampling;
        qb.sampling.seed = 12;
        submit(e, &qa);
        drain(e);
        submit(e, &qb);
        drain(e);
        qa.user = &a;
        qb.user = &b;
        qa.cache_salt = qb.cache_salt = 99; /* no prefix hits from the runs alone */
        int64_t ida = submit(e, &qa);
        CHECK(pg_engine_pause(e, (uint64_t)ida + 1000, 1) == PG_ENOTFOUND);
        /* 45 tokens: 65 positions, 5 blocks per choice (one shared) */
        for (int guard = 0; a.n_tok[0] < 45 && guard < 1000; guard++) pg_engine_step(e);
        CHECK(a.n_tok[0] >= 45);
        CHECK(pg_engine_pause(e, (uint64_t)ida, 1) == 0);
        pg_engine_step(e); /* applied at the start of this step */
        int n0 = a.n_tok[0], n1 = a.n_tok[1];
        submit(e, &qb);
        for (int i = 0; i < 30; i++) pg_engine_step(e);
        pg_engine_stats st;
        pg_engine_stats_get(e, &st);
        CHECKF(st.paused == 2, "paused %d", st.paused);
        CHECKF(a.n_tok[0] == n0 && a.n_tok[1] == n1, "a paused request made progress (%d -> %d)", n0, a.n_tok[0]);
        CHECK(b.n_tok[0] > 0);
        CHECK(pg_engine_pause(e, (uint64_t)ida, 0) == 0);
        drain(e);
        CHECK(a.n_last == 1 && b.n_last == 1);
        for (int c = 0; c < 2; c++) CHECKF(same_output(&alone_a, c, &a, c), "tight %d: paused choice %d differs", tight, c);
        CHECKF(same_output(&alone_b, 0, &b, 0), "tight %d: the other request's output differs", tight);
        if (tight) CHECKF(a.usage[0].preemptions + a.usage[1].preemptions > 0, "tight pool: the paused blocks were not reclaimed");
        else CHECKF(a.usage[0].preemptions + a.usage[1].preemptions == 0, "roomy pool: a paused request recomputed");
        /* a paused request is still cancelled */
        memset(&a, 0, sizeof a);
        ida = submit(e, &qa);
        for (int i = 0; i < 4; i++) pg_engine_step(e);
        pg_engine_pause(e, (uint64_t)ida, 1);
        pg_engine_step(e);
        pg_engine_cancel(e, (uint64_t)ida);
        drain(e);
        CHECK(a.n_last == 1 && a.finish[0] == PG_FINISH_CANCELLED && a.finish[1] == PG_FINISH_CANCELLED);
        pg_engine_destroy(e);
    }
    /* engine thread: a request paused for good still meets its deadline
     * (nothing else runs, so only the idle wake-up can apply it) */
    pg_engine *e = mk_engine(0, 8, 32, blocks_mem(64));
    res a;
    memset(&a, 0, sizeof a);
    pg_request q;
    base_req(&q, pa, 20, 60, &a);
    q.timeout_s = 0.5;
    done_reset();
    int64_t id = submit(e, &q);
    pg_engine_pause(e, (uint64_t)id, 1);
    double t0 = now_s();
    int last = 0;
    while (!last && now_s() - t0 < 20) {
        usleep(20000);
        pthread_mutex_lock(&g_mu);
        last = g_done_requests;
        pthread_mutex_unlock(&g_mu);
    }
    CHECKF(last == 1 && a.finish[0] == PG_FINISH_TIMEOUT, "paused request: last %d finish %d", last, a.finish[0]);
    CHECKF(now_s() - t0 < 10, "paused request's deadline applied after %.1f s", now_s() - t0);
    pg_engine_destroy(e);
}

/* ------------------------------------------------------- prefill cap */

/* While a stream decodes, a new prompt is prefilled in chunks of at most
 * prefill_chunk_decoding tokens per step (so the stream keeps its pace);
 * with the cap off it takes the whole budget in one step. Outputs are the
 * same either way (only the chunking differs). */
static void test_prefill_cap(void) {
    int32_t pa[8], pb[40];
    pa[0] = pb[0] = 1;
    for (int i = 1; i < 8; i++) pa[i] = 3 + (int32_t)rnd(400);
    for (int i = 1; i < 40; i++) pb[i] = 3 + (int32_t)rnd(400);
    res ra[2], rb[2];
    memset(ra, 0, sizeof ra);
    memset(rb, 0, sizeof rb);
    for (int capped = 0; capped < 2; capped++) {
        pg_engine_config c;
        cfg_base(&c, 1, 4, 64);
        c.prefill_chunk_decoding = capped ? 5 : 0;
        pg_engine *e = create(&c);
        pg_request q;
        base_req(&q, pa, 8, 40, &ra[capped]);
        q.sampling.ignore_eos = 1;
        submit(e, &q);
        pg_engine_step(e); /* A's prompt and first token */
        pg_engine_step(e); /* A decodes */
        REQUIRE(ra[capped].n_tok[0] == 2);
        base_req(&q, pb, 40, 4, &rb[capped]);
        q.sampling.ignore_eos = 1;
        submit(e, &q);
        int steps = 0, over = 0;
        while (rb[capped].n_tok[0] == 0) {
            pg_engine_step(e);
            pg_engine_stats st;
            pg_engine_stats_get(e, &st);
            if (st.last_batch_tokens > (capped ? 1 + 5 : 1 + 40)) over++;
            REQUIRE(++steps < 100);
        }
        CHECKF(over == 0, "cap %d: %d steps over the prefill cap", capped, over);
        CHECKF(steps == (capped ? 8 : 1), "cap %d: B's prompt took %d steps", capped, steps);
        CHECKF(ra[capped].n_tok[0] == 2 + steps, "cap %d: A made %d tokens in %d steps", capped, ra[capped].n_tok[0], steps);
        drain(e);
        pg_engine_destroy(e);
    }
    CHECK(same_output(&ra[0], 0, &ra[1], 0) && same_output(&rb[0], 0, &rb[1], 0));
}

/* ---------------------------------------------------- random accounting */

static void test_random_accounting(void) {
    enum { NR = 60 };
    res *rs = calloc(NR, sizeof *rs);
    int32_t prefixes[3][32];
    for (int k = 0; k < 3; k++) {
        prefixes[k][0] = 1;
        for (int i = 1; i < 32; i++) prefixes[k][i] = 3 + (int32_t)rnd(500);
    }
    int32_t prompts[NR][64];
    pg_engine *e = mk_engine(1, 6, 24, blocks_mem(24));
    int submitted = 0, steps = 0;
    int cancelled_waiting = 0, cancelled_prefill = 0, cancelled_decode = 0;
    while (submitted < NR || pg_engine_step(e) > 0) {
        if (submitted < NR && rnd(3) == 0) {
            int r = submitted++;
            int32_t len = 2 + (int32_t)rnd(60);
            const int32_t *pre = prefixes[rnd(3)];
            for (int i = 0; i < len; i++) prompts[r][i] = i < 32 && rnd(8) ? pre[i] : 3 + (int32_t)rnd(500);
            pg_request q;
            base_req(&q, prompts[r], len, 1 + (int32_t)rnd(40), &rs[r]);
            q.n = 1 + (int32_t)rnd(3);
            q.sampling.temperature = rnd(2) ? 0.0f : 1.0f;
            q.sampling.has_seed = 1;
            q.sampling.seed = (uint64_t)r;
            q.cache_salt = rnd(2);
            q.priority = (int32_t)rnd(2);
            submit(e, &q);
        }
        if (rnd(6) == 0 && submitted > 0) {
            int r = (int)rnd((uint32_t)submitted);
            if (rs[r].n_last == 0) {
                CHECK(pg_engine_cancel(e, rs[r].id) == 0);
            } else {
                CHECK(pg_engine_cancel(e, rs[r].id) == PG_ENOTFOUND);
            }
        }
        pg_engine_step(e);
        char msg[512];
        CHECKF(pg_engine_check(e, msg, sizeof msg) == 0, "step %d: %s", steps, msg);
        REQUIRE(++steps < 20000);
    }
    drain(e);
    for (int r = 0; r < NR; r++) {
        CHECK(rs[r].n_last == 1 && rs[r].after_final == 0);
        for (int i = 0; i < MAXC; i++) {
            if (!rs[r].done[i]) continue;
            if (rs[r].finish[i] == PG_FINISH_CANCELLED) {
                const pg_engine_usage *u = &rs[r].usage[i];
                if (u->completion_tokens > 0) cancelled_decode++;
                else if (u->prefill_s > 0) cancelled_prefill++;
                else cancelled_waiting++;
            }
        }
    }
    fprintf(stderr, "random: %d steps; cancelled while waiting %d, prefilling %d, decoding %d\n", steps,
            cancelled_waiting, cancelled_prefill, cancelled_decode);
    CHECK(cancelled_waiting > 0 && cancelled_decode > 0);
    pg_engine_stats st;
    pg_engine_stats_get(e, &st);
    CHECK(st.running == 0 && st.waiting == 0 && st.kv_blocks_used == 0);
    CHECK(st.kv_blocks_cached > 0);
    pg_engine_destroy(e);
    free(rs);
}

/* ------------------------------------------- errors, cancel, deadlines */

static void test_errors(void) {
    int32_t p[600];
    for (int i = 0; i < 600; i++) p[i] = i ? 3 + i % 500 : 1;
    pg_engine *e = mk_engine(1, 4, 32, blocks_mem(8)); /* 128-token pool */
    pg_engine_stats st;
    pg_engine_stats_get(e, &st);
    res r = {0};
    pg_request q;
    pg_error err = {0};
    base_req(&q, p, 100, st.n_ctx, &r);
    CHECK(pg_engine_submit(e, &q, &err) == PG_ERANGE && strstr(err.msg, "context"));
    base_req(&q, p, 100, 100, &r);
    CHECK(pg_engine_submit(e, &q, &err) == PG_ERANGE && strstr(err.msg, "KV cache"));
    fprintf(stderr, "pool error: %s\n", err.msg);
    base_req(&q, p, 10, 0, &r);
    CHECK(pg_engine_submit(e, &q, &err) == PG_EINVAL && strstr(err.msg, "max_tokens"));
    base_req(&q, p, 0, 5, &r);
    CHECK(pg_engine_submit(e, &q, &err) == PG_EINVAL);
    int32_t bad[2] = {1, 100000};
    base_req(&q, bad, 2, 5, &r);
    CHECK(pg_engine_submit(e, &q, &err) == PG_ERANGE && strstr(err.msg, "vocabulary"));
    base_req(&q, p, 10, 5, &r);
    q.sampling.temperature = -1;
    CHECK(pg_engine_submit(e, &q, &err) == PG_EINVAL);
    const char *empty_stop[1] = {""};
    base_req(&q, p, 10, 5, &r);
    q.stop = empty_stop;
    q.n_stop = 1;
    CHECK(pg_engine_submit(e, &q, &err) == PG_EINVAL);
    /* the shared request limits (engine.h): one past each is refused */
    base_req(&q, p, 10, 5, &r);
    q.n = PG_ENGINE_MAX_CHOICES + 1;
    CHECK(pg_engine_submit(e, &q, &err) == PG_EINVAL && strstr(err.msg, "n must be"));
    static int32_t many_ids[PG_ENGINE_MAX_STOP_IDS + 1];
    for (int i = 0; i <= PG_ENGINE_MAX_STOP_IDS; i++) many_ids[i] = 3 + i;
    base_req(&q, p, 10, 5, &r);
    q.stop_ids = many_ids;
    q.n_stop_ids = PG_ENGINE_MAX_STOP_IDS + 1;
    CHECK(pg_engine_submit(e, &q, &err) == PG_EINVAL && strstr(err.msg, "stop token"));
    CHECK(r.n_last == 0 && r.done[0] == 0); /* no callback for rejected requests */
    CHECK(pg_engine_cancel(e, 12345) == PG_ENOTFOUND);

    /* cancel while waiting */
    res w = {0};
    base_req(&q, p, 10, 20, &w);
    int64_t id = submit(e, &q);
    CHECK(pg_engine_cancel(e, (uint64_t)id) == 0);
    pg_engine_step(e);
    CHECK(w.done[0] && w.finish[0] == PG_FINISH_CANCELLED && w.n_tok[0] == 0 && w.n_last == 1);
    CHECK(pg_engine_cancel(e, (uint64_t)id) == PG_ENOTFOUND);

    /* cancel while decoding: blocks freed by the next step */
    res d = {0};
    base_req(&q, p, 40, 60, &d);
    id = submit(e, &q);
    for (int i = 0; i < 4; i++) pg_engine_step(e);
    CHECK(d.n_tok[0] > 0 && !d.done[0]);
    pg_engine_stats_get(e, &st);
    CHECK(st.kv_blocks_used > 0);
    CHECK(pg_engine_cancel(e, (uint64_t)id) == 0);
    CHECK(pg_engine_step(e) == 0);
    pg_engine_stats_get(e, &st);
    CHECK(d.finish[0] == PG_FINISH_CANCELLED && st.kv_blocks_used == 0 && st.running == 0);
    CHECK(d.usage[0].completion_tokens == d.n_tok[0]);

    /* cancel while prefilling (100-token prompt, 32-token chunks) */
    res pf = {0};
    base_req(&q, p, 100, 20, &pf);
    q.cache_salt = 555; /* no hit on the blocks of the request above */
    id = submit(e, &q);
    pg_engine_step(e);
    pg_engine_stats_get(e, &st);
    CHECK(st.running == 1 && st.kv_blocks_used == 2 && pf.n_tok[0] == 0);
    CHECK(pg_engine_cancel(e, (uint64_t)id) == 0);
    CHECK(pg_engine_step(e) == 0);
    pg_engine_stats_get(e, &st);
    CHECK(pf.finish[0] == PG_FINISH_CANCELLED && pf.n_tok[0] == 0 && st.kv_blocks_used == 0);
    CHECK(pf.usage[0].cached_tokens == 0 && pf.usage[0].prompt_tokens == 100);

    /* deadline: partial output kept */
    res t = {0};
    base_req(&q, p, 10, 60, &t);
    q.timeout_s = 1.0; /* generous: the steps before the sleep must not reach it on a loaded machine */
    submit(e, &q);
    for (int i = 0; i < 3; i++) pg_engine_step(e);
    CHECK(t.n_tok[0] > 0 && !t.done[0]);
    usleep(1050000);
    pg_engine_step(e);
    CHECK(t.done[0] && t.finish[0] == PG_FINISH_TIMEOUT && t.n_tok[0] > 0 && t.n_tok[0] < 60);
    CHECK(pg_engine_kv_idle(e));
    pg_engine_destroy(e);

    /* priority: with one running slot, the lower priority value goes first */
    pg_engine *ep = mk_engine(1, 1, 64, 0);
    res lo = {0}, hi = {0};
    base_req(&q, p, 10, 3, &lo);
    q.priority = 5;
    submit(ep, &q);
    base_req(&q, p + 20, 10, 3, &hi);
    q.priority = -1;
    submit(ep, &q);
    pg_engine_step(ep);
    CHECK(hi.n_tok[0] == 1 && lo.n_tok[0] == 0);
    drain(ep);
    CHECK(hi.done[0] && lo.done[0] && lo.usage[0].queue_s >= hi.usage[0].queue_s);
    pg_engine_destroy(ep);

    /* queue limits */
    pg_engine_config c;
    pg_engine_config_default(&c);
    c.manual = 1;
    c.max_queued_requests = 2;
    c.max_queued_tokens = 50;
    pg_engine *e2;
    REQUIRE(pg_engine_create(g_model, g_vocab, &c, &e2, &err) == 0);
    res qa = {0}, qb = {0}, qc = {0}, qd = {0};
    base_req(&q, p, 10, 5, &qa);
    submit(e2, &q);
    q.user = &qb;
    submit(e2, &q);
    q.user = &qc;
    CHECK(pg_engine_submit(e2, &q, &err) == PG_EBUSY);
    pg_engine_step(e2); /* both admitted: the queue empties */
    CHECK(submit(e2, &q) > 0);
    base_req(&q, p, 45, 5, &qd);
    CHECK(pg_engine_submit(e2, &q, &err) == PG_EBUSY && strstr(err.msg, "busy")); /* 10 + 45 > 50 tokens */
    /* destroy with requests in flight: they end CANCELLED */
    pg_engine_destroy(e2);
    CHECK(qa.n_last == 1 && qb.n_last == 1 && qc.n_last == 1 && qd.n_last == 0);
    CHECK(qc.finish[0] == PG_FINISH_CANCELLED || qc.finish[0] == PG_FINISH_LENGTH);
}

/* ------------------------------------------------- stop strings, n > 1 */

static void test_stop_and_n(const char *td) {
    char gdir[1024];
    snprintf(gdir, sizeof gdir, "%s/golden/stories260K", td);
    golden_case *gc;
    int ng = golden_load(gdir, &gc);
    REQUIRE(ng > 0);
    pg_engine *e = mk_engine(1, 8, 16, 0);
    res full = {0}, cut = {0}, ids = {0};
    pg_request q;
    base_req(&q, gc[0].prompt_tokens, gc[0].n_prompt, 64, &full);
    q.sampling.temperature = 0;
    submit(e, &q);
    drain(e);
    REQUIRE(full.tlen[0] > 40);
    /* a stop string taken from the middle of the text */
    char stop[16];
    memcpy(stop, full.text[0] + 30, 6);
    stop[6] = 0;
    const char *where = strstr(full.text[0], stop);
    size_t keep = (size_t)(where - full.text[0]);
    const char *stops[2] = {"zzzz-never", stop};
    q.user = &cut;
    q.stop = stops;
    q.n_stop = 2;
    submit(e, &q);
    drain(e);
    CHECKF(cut.finish[0] == PG_FINISH_STOP && cut.tlen[0] == keep && memcmp(cut.text[0], full.text[0], keep) == 0,
           "stop '%s': got '%s'", stop, cut.text[0]);
    CHECK(cut.n_tok[0] < full.n_tok[0]);
    for (int i = 0; i < cut.n_tok[0]; i++) CHECK(cut.toks[0][i] == full.toks[0][i]);
    /* stop token id: the 6th generated token */
    int32_t sid = full.toks[0][5];
    int first = 0;
    while (full.toks[0][first] != sid) first++;
    q.user = &ids;
    q.stop = NULL;
    q.n_stop = 0;
    q.stop_ids = &sid;
    q.n_stop_ids = 1;
    submit(e, &q);
    drain(e);
    CHECK(ids.finish[0] == PG_FINISH_STOP && ids.n_tok[0] == first + 1);

    /* min_tokens: the stop id is banned until min_tokens tokens exist, so
     * the greedy output differs at `first` and runs at least that long */
    res mt = {0}, inc = {0}, mts = {0};
    q.user = &mt;
    q.min_tokens = first + 3;
    submit(e, &q);
    drain(e);
    CHECKF(mt.n_tok[0] >= first + 3, "min_tokens %d: %d tokens", first + 3, mt.n_tok[0]);
    for (int i = 0; i < first; i++) CHECK(mt.toks[0][i] == full.toks[0][i]);
    CHECK(mt.toks[0][first] != sid);
    for (int i = 0; i < first + 2 && i < mt.n_tok[0]; i++) CHECK(mt.toks[0][i] != sid);
    /* min_tokens above max_tokens can never be honoured: refused */
    q.min_tokens = 65;
    pg_error err2 = {0};
    CHECK(pg_engine_submit(e, &q, &err2) == PG_EINVAL && strstr(err2.msg, "min_tokens"));
    q.min_tokens = 0;
    q.stop_ids = NULL;
    q.n_stop_ids = 0;
    /* include_stop_str: the text runs through the stop string, same tokens */
    q.user = &inc;
    q.stop = stops;
    q.n_stop = 2;
    q.include_stop_str = 1;
    submit(e, &q);
    drain(e);
    CHECKF(inc.finish[0] == PG_FINISH_STOP && inc.tlen[0] == keep + 6 && memcmp(inc.text[0], full.text[0], keep + 6) == 0,
           "include_stop_str: got '%s'", inc.text[0]);
    CHECK(inc.n_tok[0] == cut.n_tok[0]);
    q.include_stop_str = 0;
    /* stop strings are not looked for before min_tokens: the stop string
     * found at token cut.n_tok is skipped when min_tokens lies beyond it */
    q.user = &mts;
    q.min_tokens = cut.n_tok[0] + 1;
    submit(e, &q);
    drain(e);
    CHECKF(mts.n_tok[0] > cut.n_tok[0] && mts.tlen[0] > keep, "min_tokens past a stop string: %d tokens", mts.n_tok[0]);
    q.min_tokens = 0;
    q.stop = NULL;
    q.n_stop = 0;

    /* n = 3 sharing a 37-token prompt */
    int32_t p[37];
    p[0] = 1;
    for (int i = 1; i < 37; i++) p[i] = 3 + (int32_t)rnd(500);
    res n3 = {0}, n3b = {0}, one = {0};
    base_req(&q, p, 37, 12, &n3);
    q.n = 3;
    q.sampling.temperature = 1.0f;
    q.sampling.has_seed = 1;
    q.sampling.seed = 42;
    q.sampling.n_logprobs = 0;
    q.sampling.ignore_eos = 1;
    submit(e, &q);
    for (int i = 0; i < 3; i++) pg_engine_step(e);
    pg_engine_stats st;
    pg_engine_stats_get(e, &st);
    int32_t used3 = st.kv_blocks_used;
    drain(e);
    CHECK(n3.n_last == 1 && n3.after_final == 0);
    for (int i = 0; i < 3; i++) CHECK(n3.done[i] && n3.n_tok[i] == 12 && n3.finish[i] == PG_FINISH_LENGTH);
    CHECK(n3.usage[0].cached_tokens == 0 && n3.usage[1].cached_tokens == 32 && n3.usage[2].cached_tokens == 32);
    /* 3 choices at >= 37 tokens: 3 private blocks + 2 shared, not 9 */
    CHECKF(used3 <= 5, "n=3 used %d blocks", used3);
    CHECK(!same_output(&n3, 0, &n3, 1) || !same_output(&n3, 1, &n3, 2));
    q.user = &n3b;
    q.cache_salt = 9;
    submit(e, &q);
    drain(e);
    for (int i = 0; i < 3; i++) CHECKF(same_output(&n3, i, &n3b, i), "choice %d not reproducible", i);
    q.user = &one;
    q.n = 1;
    submit(e, &q);
    drain(e);
    CHECK(same_output(&n3, 0, &one, 0));
    pg_engine_destroy(e);
    golden_free(gc, ng);
}

/* ------------------------------------------------------- threaded mode */

static void test_threaded(void) {
    make_prompts();
    res *alone = calloc(8, sizeof *alone), *thr = calloc(8, sizeof *thr);
    pg_engine *e1 = mk_engine(1, 4, 64, 0);
    for (int r = 0; r < 8; r++) {
        pg_request q;
        inv_req(&q, r, &alone[r], 0);
        submit(e1, &q);
        drain(e1);
    }
    pg_engine_destroy(e1);
    pg_engine *e = mk_engine(0, 8, 16, 0);
    done_reset();
    for (int r = 0; r < 8; r++) {
        pg_request q;
        inv_req(&q, r, &thr[r], 0);
        submit(e, &q);
    }
    done_wait(8);
    for (int r = 0; r < 8; r++) CHECKF(same_output(&alone[r], 0, &thr[r], 0), "threaded request %d differs", r);
    pg_engine_stats st;
    pg_engine_stats_get(e, &st);
    CHECK(st.steps > 0 && st.generated_tokens > 0);
    /* destroy with a request in flight */
    res inflight = {0};
    int32_t p[8] = {1, 5, 6, 7, 8, 9, 10, 11};
    pg_request q;
    base_req(&q, p, 8, 400, &inflight);
    submit(e, &q);
    usleep(2000);
    pg_engine_destroy(e);
    CHECK(inflight.n_last == 1 && inflight.done[0]);
    CHECK(inflight.finish[0] == PG_FINISH_CANCELLED || inflight.finish[0] == PG_FINISH_LENGTH ||
          inflight.finish[0] == PG_FINISH_STOP);
    free(alone);
    free(thr);
}

/* The engine's published stats once they include gen generated tokens
 * (the snapshot is published after the step's callbacks ran). */
static void stats_after(pg_engine *e, uint64_t gen, pg_engine_stats *st) {
    for (int i = 0; i < 10000; i++) {
        pg_engine_stats_get(e, st);
        if (st->generated_tokens >= gen) return;
        usleep(1000);
    }
    CHECKF(0, "stats never showed %llu generated tokens", (unsigned long long)gen);
}

/* The burst gather of a threaded engine: requests spread over more than
 * one batch_wait_us window, but each within a window of the previous one,
 * are all admitted to the first step (max_tokens 1: one step in all); a
 * stream of arrivals cannot hold the first step back past 4 windows. */
static void test_burst_gather(void) {
    pg_engine_config c;
    cfg_base(&c, 0, 8, 256);
    c.threads = 1;
    c.batch_wait_us = 200000; /* gaps of 80 ms: 120 ms of slack each for a loaded machine */
    pg_engine *e = create(&c);
    static int32_t p[4][6] = {{1, 5, 6, 7, 8, 9}, {1, 9, 8, 7, 6, 5}, {1, 4, 4, 4, 4, 4}, {1, 3, 30, 300, 3, 33}};
    res *r = calloc(12, sizeof *r);
    done_reset();
    for (int i = 0; i < 4; i++) { /* 240 ms from the first to the last: more than one window */
        pg_request q;
        base_req(&q, p[i], 6, 1, &r[i]);
        submit(e, &q);
        if (i < 3) usleep(80000);
    }
    done_wait(4);
    pg_engine_stats st;
    stats_after(e, 4, &st);
    CHECKF(st.steps == 1, "a burst spread over 240 ms took %llu steps, not 1", (unsigned long long)st.steps);
    for (int i = 0; i < 4; i++) CHECK(r[i].done[0] && r[i].n_tok[0] == 1);
    /* arrivals every 150 ms for 1.2 s: the first step still starts within
     * 4 windows (800 ms) of the first arrival */
    for (int i = 4; i < 12; i++) {
        pg_request q;
        base_req(&q, p[i % 4], 6, 1, &r[i]);
        submit(e, &q);
        usleep(150000);
    }
    done_wait(12);
    CHECKF(r[4].usage[0].queue_s < 1.1, "the first of a stream of arrivals waited %.3f s", r[4].usage[0].queue_s);
    stats_after(e, 12, &st);
    CHECK(st.steps >= 2);
    pg_engine_destroy(e);
    free(r);
}

/* -------------------------------------------------- quantized model */

/* Batch invariance through the engine on another model file: the
 * quantized syn-a and every architecture of the arch-* models. */
static void test_other_model(const char *td, const char *file) {
    char path[1024];
    snprintf(path, sizeof path, "%s/models/%s", td, file);
    pg_model *m;
    pg_vocab *v;
    pg_error err = {0};
    if (pg_model_load(path, &m, &err) < 0) {
        fprintf(stderr, "skip %s: %s\n", file, err.msg);
        return;
    }
    REQUIRE(pg_vocab_load(pg_model_gguf(m), &v, &err) == 0);
    pg_model *sm = g_model;
    pg_vocab *sv = g_vocab;
    g_model = m;
    g_vocab = v;
    make_prompts();
    enum { NQ = NB }; /* the 32 requests of test_invariance */
    res *alone = calloc(NQ, sizeof *alone), *batch = calloc(NQ, sizeof *batch);
    pg_engine *e = mk_engine(1, 8, 5, 0);
    for (int r = 0; r < NQ; r++) {
        pg_request q;
        inv_req(&q, r, &alone[r], 100 + (uint64_t)r);
        q.max_tokens = 8;
        submit(e, &q);
        drain(e);
    }
    for (int r = 0; r < NQ; r++) {
        pg_request q;
        inv_req(&q, r, &batch[r], 0);
        q.max_tokens = 8;
        submit(e, &q);
    }
    drain(e);
    for (int r = 0; r < NQ; r++) CHECKF(same_output(&alone[r], 0, &batch[r], 0), "%s: request %d differs", file, r);
    if (pg_model_kv_window(m) > 0) {
        /* every layer windowed: blocks behind the window return to the pool
         * while the request runs, and its output does not change */
        int32_t W = pg_model_kv_window(m), bs = 16, need_all = (44 + 20 + bs - 1) / bs;
        int32_t bound = (W + bs - 1) / bs + 2; /* window span + the block being written */
        int32_t prompt[44];
        for (int i = 0; i < 44; i++) prompt[i] = 3 + (i * 7) % 200;
        res one;
        memset(&one, 0, sizeof one);
        int32_t max_used = 0;
        pg_request q;
        base_req(&q, prompt, 44, 20, &one);
        q.sampling.temperature = 0;
        q.sampling.ignore_eos = 1;
        q.cache_salt = 77; /* no prefix hit: everything is computed */
        submit(e, &q);
        while (pg_engine_step(e) > 0) {
            pg_engine_stats st;
            pg_engine_stats_get(e, &st);
            if (st.kv_blocks_used > max_used) max_used = st.kv_blocks_used;
        }
        CHECKF(max_used <= bound && bound < need_all, "%s: window %d: %d blocks in use at most (bound %d, all %d)",
               file, W, max_used, bound, need_all);
        /* reference: greedy through the forward pass with every block kept */
        fwd_ctx c;
        REQUIRE(fwd_open(&c, path, need_all + 1, bs, g_kv_type, 64, 1) == 0);
        int32_t table[8] = {0, 1, 2, 3, 4, 5, 6, 7}, toks[64];
        float *lg = malloc((size_t)c.n_vocab * sizeof(float));
        memcpy(toks, prompt, sizeof prompt);
        fwd_run_seq(&c, table, need_all + 1, toks, 44, 0, 64, lg);
        int same = one.n_tok[0] == 20;
        for (int i = 0; i < 20 && same; i++) {
            toks[44 + i] = fwd_argmax(lg, c.n_vocab);
            same = one.toks[0][i] == toks[44 + i];
            if (i + 1 < 20) fwd_run_seq(&c, table, need_all + 1, &toks[44 + i], 1, 44 + i, 1, lg);
        }
        CHECKF(same, "%s: windowed engine output differs from the full-KV forward pass", file);
        free(lg);
        fwd_close(&c);
        char msg[512];
        CHECKF(pg_engine_check(e, msg, sizeof msg) == 0, "%s", msg);
    }
    pg_engine_destroy(e);
    free(alone);
    free(batch);
    g_model = sm;
    g_vocab = sv;
    pg_vocab_free(v);
    pg_model_free(m);
}

int main(void) {
    const char *td = t_testdata();
    if (!td) SKIP("test data not found (set PAGODA_TESTDATA)");
    char path[1024];
    snprintf(path, sizeof path, "%s/models/stories260K.gguf", td);
    pg_error err = {0};
    if (pg_model_load(path, &g_model, &err) < 0) SKIP("cannot load %s: %s", path, err.msg);
    REQUIRE(pg_vocab_load(pg_model_gguf(g_model), &g_vocab, &err) == 0);

    test_golden(td);
    test_invariance();
    test_prefix();
    test_preemption();
    test_pause();
    test_prefill_cap();
    test_random_accounting();
    test_errors();
    test_stop_and_n(td);
    test_threaded();
    test_burst_gather();
    static const char *const others[] = {"syn-a-q4_0.gguf", "arch-qwen2-q8_0.gguf", "arch-phi3-q8_0.gguf",
                                         "arch-gemma2-q8_0.gguf", "arch-mixtral-q8_0.gguf",
                                         "arch-qwen2moe-q8_0.gguf"};
    for (size_t i = 0; i < sizeof others / sizeof others[0]; i++) test_other_model(td, others[i]);
    /* a q8_0 KV cache: batch invariance, prefix cache and preemption unchanged */
    g_kv_type = PG_KV_Q8_0;
    fprintf(stderr, "-- KV cache q8_0\n");
    test_invariance();
    test_prefix();
    test_preemption();
    test_other_model(td, "arch-gemma2-q8_0.gguf");
    g_kv_type = PG_KV_F16;

    pg_vocab_free(g_vocab);
    pg_model_free(g_model);
    return t_done("test_engine");
}
