/* test_sampler.c - pg_sampler: greedy, seeds and streams, distribution,
 * truncation sets, penalties, logit_bias, logprobs, ignore_eos, validation,
 * batch invariance (interleaving samplers), snapshots. */
#include <math.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "sample/sampler.h"
#include "test.h"

static uint64_t trng = 0x1234567;
static uint32_t trand(void) {
    trng ^= trng << 13;
    trng ^= trng >> 7;
    trng ^= trng << 17;
    return (uint32_t)(trng >> 16);
}
static float tfrand(void) { return (float)(trand() % 1000000) / 1000000.0f; }

static pg_sampler *mk(pg_sampling_params p, int32_t V, uint64_t dseed) {
    pg_sampler *s = pg_sampler_create(&p, V, dseed);
    REQUIRE(s != NULL);
    return s;
}

/* Reference: sorted best-first order by (logit desc, id asc). */
static const float *g_cmp_logits;
static int ref_cmp(const void *a, const void *b) {
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    float fx = g_cmp_logits[x], fy = g_cmp_logits[y];
    if (fx != fy) return fx > fy ? -1 : 1;
    return (x > y) - (x < y);
}

/* Reference kept set (temperature T, top_k, top_p, min_p) as a 0/1 mask. */
static int ref_ambiguous; /* last ref_kept had a boundary within rounding */
static void ref_kept(const float *logits, int32_t V, float T, int32_t top_k, float top_p, float min_p,
                     uint8_t *keep) {
    ref_ambiguous = 0;
    REQUIRE(V > 0);
    float *w = malloc((size_t)V * sizeof *w);
    int32_t *ord = malloc((size_t)V * sizeof *ord);
    for (int32_t i = 0; i < V; i++) w[i] = logits[i] / T, ord[i] = i;
    g_cmp_logits = w;
    qsort(ord, (size_t)V, sizeof *ord, ref_cmp);
    int32_t n = V;
    if (top_k > 0 && top_k < n) n = top_k;
    double m = w[ord[0]];
    if (top_p < 1.0f) {
        double z = 0;
        for (int32_t i = 0; i < n; i++) z += exp(w[ord[i]] - m);
        double cum = 0;
        int32_t i = 0;
        for (; i < n; i++) {
            if (fabs(cum - top_p * z) < 1e-5 * z) ref_ambiguous = 1;
            if (cum >= top_p * z) break;
            cum += exp(w[ord[i]] - m);
        }
        n = i;
    }
    memset(keep, 0, (size_t)V);
    for (int32_t i = 0; i < n; i++) {
        double e = exp(w[ord[i]] - m);
        if (min_p > 0 && fabs(e - min_p) < 1e-5) ref_ambiguous = 1;
        if (min_p <= 0 || e >= min_p) keep[ord[i]] = 1;
    }
    free(w);
    free(ord);
}

/* Sample `draws` times; every sampled token must be kept, every kept one seen. */
static void check_kept_set(const float *logits, int32_t V, pg_sampling_params p, int draws,
                           const char *what) {
    uint8_t *keep = malloc((size_t)V);
    int *seen = calloc((size_t)V, sizeof *seen);
    ref_kept(logits, V, p.temperature, p.top_k, p.top_p, p.min_p, keep);
    pg_sampler *s = mk(p, V, 99);
    int bad = 0;
    for (int d = 0; d < draws; d++) {
        int32_t t = pg_sampler_sample(s, logits, NULL);
        if (t < 0 || t >= V || !keep[t]) bad++;
        else seen[t]++;
    }
    int missing = 0, nkeep = 0;
    for (int32_t i = 0; i < V; i++) {
        nkeep += keep[i];
        if (keep[i] && !seen[i]) missing++;
    }
    CHECKF(bad == 0, "%s: %d draws outside the kept set", what, bad);
    CHECKF(missing == 0, "%s: %d of %d kept tokens never drawn", what, missing, nkeep);
    pg_sampler_destroy(s);
    free(keep);
    free(seen);
}

static void test_greedy(void) {
    float l[6] = {1.0f, 3.0f, -2.0f, 3.0f, 0.5f, 2.9f};
    pg_sampling_params p = pg_sampling_params_default();
    p.temperature = 0;
    pg_sampler *s = mk(p, 6, 1);
    uint64_t r0[4], r1[4];
    pg_sampler_rng_get(s, r0);
    pg_sample_out o;
    CHECK(pg_sampler_sample(s, l, &o) == 1); /* tie 1 vs 3: lowest id */
    CHECK(o.token == 1);
    pg_sampler_rng_get(s, r1);
    CHECK(memcmp(r0, r1, sizeof r0) == 0); /* greedy uses no randomness */
    float nanrow[3] = {NAN, 1.0f, NAN};
    pg_sampler_destroy(s);
    s = mk(p, 3, 1);
    CHECK(pg_sampler_sample(s, nanrow, NULL) == 1); /* NaN never wins */
    pg_sampler_destroy(s);
}

static void gen(pg_sampler *s, const float *logits, int32_t V, int n, int32_t *toks, float *lps) {
    (void)V;
    for (int i = 0; i < n; i++) {
        pg_sample_out o;
        toks[i] = pg_sampler_sample(s, logits, &o);
        if (lps) lps[i] = o.logprob;
        pg_sampler_accept(s, toks[i]);
    }
}

static void test_seeds(void) {
    enum { V = 1000, N = 200 };
    static float l[V];
    for (int i = 0; i < V; i++) l[i] = tfrand() * 4.0f;
    pg_sampling_params p = pg_sampling_params_default();
    p.seed = 42;
    p.has_seed = 1;
    p.repetition_penalty = 1.1f; /* history matters */
    p.n_logprobs = 3;
    int32_t a[N], b[N], c[N], d[N];
    pg_sampler *s1 = mk(p, V, 7), *s2 = mk(p, V, 8);
    gen(s1, l, V, N, a, NULL);
    gen(s2, l, V, N, b, NULL);
    CHECK(memcmp(a, b, sizeof a) == 0); /* has_seed overrides default_seed */
    pg_sampler_destroy(s1);
    pg_sampler_destroy(s2);
    p.seed = 43;
    s1 = mk(p, V, 7);
    gen(s1, l, V, N, c, NULL);
    CHECK(memcmp(a, c, sizeof a) != 0);
    pg_sampler_destroy(s1);
    /* without has_seed the caller's default_seed decides */
    p.has_seed = 0;
    s1 = mk(p, V, 42);
    gen(s1, l, V, N, d, NULL);
    CHECK(memcmp(a, d, sizeof a) == 0);
    pg_sampler_destroy(s1);
    s1 = mk(p, V, 5);
    gen(s1, l, V, N, d, NULL);
    CHECK(memcmp(a, d, sizeof a) != 0);
    pg_sampler_destroy(s1);
}

/* Batch invariance at the sampler level: A's output does not depend on
 * other sequences being sampled in between. Streams: fork(i) == seed+i. */
static void test_interleave_and_streams(void) {
    enum { V = 500, N = 100 };
    static float la[V], lb[V];
    for (int i = 0; i < V; i++) la[i] = tfrand() * 3.0f, lb[i] = tfrand() * 6.0f;
    pg_sampling_params p = pg_sampling_params_default();
    p.top_p = 0.9f;
    p.frequency_penalty = 0.3f;
    p.n_logprobs = 5;
    p.seed = 1000;
    p.has_seed = 1;
    int32_t alone[N], inter[N];
    float lp_alone[N], lp_inter[N];
    pg_sampler *a = mk(p, V, 0);
    gen(a, la, V, N, alone, lp_alone);
    pg_sampler_destroy(a);
    a = mk(p, V, 0);
    pg_sampling_params q = p;
    q.seed = 1001;
    q.top_k = 10;
    pg_sampler *b = mk(q, V, 0), *c = mk(q, V, 0);
    for (int i = 0; i < N; i++) {
        int32_t t;
        gen(b, lb, V, 1, &t, NULL);
        gen(a, la, V, 1, &inter[i], &lp_inter[i]);
        gen(c, lb, V, 2, (int32_t[2]){0}, NULL);
    }
    CHECK(memcmp(alone, inter, sizeof alone) == 0);
    CHECK(memcmp(lp_alone, lp_inter, sizeof lp_alone) == 0);
    pg_sampler_destroy(a);
    pg_sampler_destroy(b);
    pg_sampler_destroy(c);

    /* fork: stream 0 = original, stream i = seed + i */
    int32_t x[N], y[N];
    pg_sampler *base = mk(p, V, 0);
    pg_sampler *f0 = pg_sampler_fork(base, 0), *f3 = pg_sampler_fork(base, 3);
    REQUIRE(f0 && f3);
    gen(base, la, V, N, x, NULL);
    gen(f0, la, V, N, y, NULL);
    CHECK(memcmp(x, y, sizeof x) == 0);
    pg_sampling_params p3 = p;
    p3.seed = p.seed + 3;
    pg_sampler *s3 = mk(p3, V, 0);
    gen(f3, la, V, N, x, NULL);
    gen(s3, la, V, N, y, NULL);
    CHECK(memcmp(x, y, sizeof x) == 0);
    gen(f0, la, V, N, y, NULL);
    pg_sampler_destroy(base);
    pg_sampler_destroy(f0);
    pg_sampler_destroy(f3);
    pg_sampler_destroy(s3);

    /* snapshot / restore and reset */
    pg_sampler *s = mk(p, V, 0), *snap = mk(p, V, 0);
    int32_t pre[10], r1[N], r2[N], again[10];
    gen(s, la, V, 10, pre, NULL);
    pg_sampler_copy(snap, s);
    gen(s, la, V, N, r1, NULL);
    pg_sampler_copy(s, snap);
    gen(s, la, V, N, r2, NULL);
    CHECK(memcmp(r1, r2, sizeof r1) == 0);
    pg_sampler *cl = pg_sampler_clone(snap);
    REQUIRE(cl);
    gen(cl, la, V, N, r2, NULL);
    CHECK(memcmp(r1, r2, sizeof r1) == 0);
    pg_sampler_reset(s);
    gen(s, la, V, 10, again, NULL);
    CHECK(memcmp(pre, again, sizeof pre) == 0);
    pg_sampler_destroy(s);
    pg_sampler_destroy(snap);
    pg_sampler_destroy(cl);
}

static void test_distribution(void) {
    enum { V = 8, DRAWS = 20000 };
    float l[V] = {0.5f, -1.0f, 2.0f, 1.0f, 0.0f, -3.0f, 1.5f, 0.2f};
    const float temps[2] = {1.0f, 0.7f};
    for (int ti = 0; ti < 2; ti++) {
        pg_sampling_params p = pg_sampling_params_default();
        p.temperature = temps[ti];
        pg_sampler *s = mk(p, V, 12345);
        int cnt[V] = {0};
        for (int d = 0; d < DRAWS; d++) {
            int32_t t = pg_sampler_sample(s, l, NULL);
            REQUIRE(t >= 0 && t < V);
            cnt[t]++;
        }
        double z = 0, pr[V];
        for (int i = 0; i < V; i++) z += exp(l[i] / temps[ti]);
        for (int i = 0; i < V; i++) {
            pr[i] = exp(l[i] / temps[ti]) / z;
            double f = (double)cnt[i] / DRAWS, sd = sqrt(pr[i] * (1 - pr[i]) / DRAWS);
            CHECKF(fabs(f - pr[i]) <= 5 * sd + 1e-4, "T=%g token %d freq %.4f expected %.4f",
                   temps[ti], i, f, pr[i]);
        }
        pg_sampler_destroy(s);
    }
}

static void test_truncation(void) {
    /* small hand-made cases */
    float probs[4] = {0.4f, 0.3f, 0.2f, 0.1f};
    float l4[4];
    for (int i = 0; i < 4; i++) l4[i] = logf(probs[i]);
    pg_sampling_params p = pg_sampling_params_default();
    p.top_p = 0.65f; /* keeps {0,1} */
    check_kept_set(l4, 4, p, 3000, "top_p 0.65");
    uint8_t keep[4];
    ref_kept(l4, 4, 1, 0, 0.65f, 0, keep);
    CHECK(keep[0] && keep[1] && !keep[2] && !keep[3]);
    p.top_p = 0.75f;
    ref_kept(l4, 4, 1, 0, 0.75f, 0, keep);
    CHECK(keep[0] && keep[1] && keep[2] && !keep[3]);
    check_kept_set(l4, 4, p, 3000, "top_p 0.75");
    p.top_p = 0.01f; /* only the best */
    check_kept_set(l4, 4, p, 500, "top_p tiny");

    float l5[5] = {logf(0.5f), logf(0.3f), logf(0.1f), logf(0.06f), logf(0.04f)};
    p = pg_sampling_params_default();
    p.min_p = 0.15f; /* threshold 0.075: {0,1,2} */
    check_kept_set(l5, 5, p, 3000, "min_p");
    uint8_t keep5[5];
    ref_kept(l5, 5, 1, 0, 1, 0.15f, keep5);
    CHECK(keep5[0] && keep5[1] && keep5[2] && !keep5[3] && !keep5[4]);

    /* top_k with ties at the boundary: lower ids win */
    float lt[6] = {1.0f, 5.0f, 5.0f, 5.0f, 0.0f, 5.0f};
    p = pg_sampling_params_default();
    p.top_k = 2;
    check_kept_set(lt, 6, p, 2000, "top_k ties");
    uint8_t keep6[6];
    ref_kept(lt, 6, 1, 2, 1, 0, keep6);
    CHECK(keep6[1] && keep6[2] && !keep6[3] && !keep6[5] && !keep6[0]);

    /* large vocabulary: 300 strong tokens among 5000, chunked top_p */
    enum { V = 5000 };
    static float lv[V];
    for (int i = 0; i < V; i++) lv[i] = tfrand();
    for (int i = 0; i < 300; i++) lv[(i * 7919) % V] += 10.0f;
    p = pg_sampling_params_default();
    p.top_p = 0.5f;
    check_kept_set(lv, V, p, 8000, "large top_p 0.5");
    p.top_k = 100;
    p.top_p = 0.8f;
    check_kept_set(lv, V, p, 8000, "large top_k 100 + top_p 0.8");
    p = pg_sampling_params_default();
    p.top_k = 150;
    p.temperature = 0.5f;
    check_kept_set(lv, V, p, 8000, "large top_k 150, T 0.5");
    p = pg_sampling_params_default();
    p.top_p = 0.3f;
    p.min_p = 0.6f;
    check_kept_set(lv, V, p, 8000, "large top_p + min_p");
}


/* Exact kept sets against the sort-everything reference, many random
 * configurations, including heavy ties (quantised logits). */
static void test_exact_sets(void) {
    enum { VMAX = 6000 };
    static float l[VMAX];
    static int32_t ids[VMAX];
    static uint8_t keep[VMAX];
    int trials = 0, skipped = 0, wrong = 0;
    for (int it = 0; it < 300; it++) {
        int32_t V = it % 3 == 0 ? 40 : (it % 3 == 1 ? 1000 : VMAX);
        int kind = (int)(trand() % 3);
        for (int32_t i = 0; i < V; i++) {
            float x = tfrand() * (kind == 2 ? 12.0f : 4.0f);
            if (kind == 1) x = floorf(x * 2.0f) / 2.0f; /* ties */
            if (kind == 2 && trand() % 20 == 0) x += 8.0f;
            l[i] = x;
        }
        pg_sampling_params p = pg_sampling_params_default();
        const float temps[4] = {1.0f, 0.5f, 1.5f, 0.8f};
        p.temperature = temps[trand() % 4];
        if (trand() % 2) p.top_k = 1 + (int32_t)(trand() % (it % 3 == 0 ? 50 : 400));
        if (trand() % 3) p.top_p = 0.05f + 0.9f * tfrand();
        if (trand() % 3 == 0) p.min_p = 0.3f * tfrand();
        ref_kept(l, V, p.temperature, p.top_k, p.top_p, p.min_p, keep);
        if (ref_ambiguous) {
            skipped++;
            continue;
        }
        pg_sampler *s = mk(p, V, 0);
        int32_t n = pg_sampler_candidates(s, l, ids);
        int32_t nk = 0;
        for (int32_t i = 0; i < V; i++) nk += keep[i];
        int ok = n == nk;
        for (int32_t i = 0; i < n && ok; i++) ok = ids[i] >= 0 && ids[i] < V && keep[ids[i]];
        if (!ok && wrong++ < 5)
            fprintf(stderr, "set mismatch: V=%d T=%g k=%d p=%g min_p=%g: got %d want %d\n", (int)V,
                    p.temperature, (int)p.top_k, p.top_p, p.min_p, (int)n, (int)nk);
        trials++;
        pg_sampler_destroy(s);
    }
    CHECK(wrong == 0);
    CHECK(skipped < 30);
    fprintf(stderr, "exact sets: %d configurations, %d skipped as rounding-ambiguous\n", trials, skipped);
}

static void test_penalties(void) {
    enum { V = 8 };
    float l[V] = {1.0f, 2.0f, 3.0f, -1.0f, 1.0f, -2.0f, 0.5f, 4.0f};
    float o[V];
    pg_sampling_params p = pg_sampling_params_default();
    p.repetition_penalty = 1.5f;
    p.frequency_penalty = 0.5f;
    p.presence_penalty = 0.25f;
    pg_sampler *s = mk(p, V, 0);
    int32_t prompt[3] = {2, 3, 2};
    CHECK(pg_sampler_accept_prompt(s, prompt, 3, NULL) == PG_OK);
    pg_sampler_accept(s, 4);
    pg_sampler_accept(s, 4);
    pg_sampler_accept(s, 5);
    pg_sampler_process_logits(s, l, o);
    const float rp = 1.5f, fp = 0.5f, pp = 0.25f;
    CHECK(o[0] == l[0] && o[1] == l[1] && o[6] == l[6] && o[7] == l[7]);
    CHECK(o[2] == l[2] / rp);               /* prompt only: repetition only */
    CHECK(o[3] == l[3] * rp);               /* negative: multiplied */
    CHECK(o[4] == l[4] / rp - (fp * 2.0f + pp)); /* generated twice */
    CHECK(o[5] == l[5] * rp - (fp * 1.0f + pp));
    pg_sampler_destroy(s);

    /* presence/frequency ignore the prompt */
    p = pg_sampling_params_default();
    p.presence_penalty = 1.0f;
    s = mk(p, V, 0);
    CHECK(pg_sampler_accept_prompt(s, prompt, 3, NULL) == PG_OK);
    pg_sampler_process_logits(s, l, o);
    CHECK(memcmp(o, l, sizeof o) == 0);
    pg_sampler_accept(s, 7);
    pg_sampler_process_logits(s, l, o);
    CHECK(o[7] == l[7] - 1.0f);
    /* negative penalties encourage */
    pg_sampler_destroy(s);
    p.presence_penalty = -2.0f;
    s = mk(p, V, 0);
    pg_sampler_accept(s, 0);
    pg_sampler_process_logits(s, l, o);
    CHECK(o[0] == l[0] + 2.0f);
    int32_t badp[1] = {V};
    pg_error e;
    CHECK(pg_sampler_accept_prompt(s, badp, 1, &e) == PG_ERANGE);
    pg_sampler_destroy(s);

    /* greedy follows the penalised logits */
    p = pg_sampling_params_default();
    p.temperature = 0;
    p.frequency_penalty = 2.0f;
    s = mk(p, V, 0);
    CHECK(pg_sampler_sample(s, l, NULL) == 7);
    pg_sampler_accept(s, 7); /* 4 - 2 = 2 < 3 */
    CHECK(pg_sampler_sample(s, l, NULL) == 2);
    pg_sampler_destroy(s);
}

static void test_logit_bias(void) {
    enum { V = 6 };
    float l[V] = {0.0f, 1.0f, 5.0f, -50.0f, 2.0f, 1.0f};
    pg_logit_bias ban[1] = {{2, -100.0f}};
    pg_sampling_params p = pg_sampling_params_default();
    p.logit_bias = ban;
    p.n_logit_bias = 1;
    p.temperature = 0;
    pg_sampler *s = mk(p, V, 0);
    CHECK(pg_sampler_sample(s, l, NULL) == 4);
    pg_sampler_destroy(s);
    p.temperature = 1.0f;
    s = mk(p, V, 0);
    int hit = 0;
    for (int i = 0; i < 3000; i++) hit += pg_sampler_sample(s, l, NULL) == 2;
    CHECK(hit == 0);
    pg_sampler_destroy(s);

    pg_logit_bias force[2] = {{3, 100.0f}, {0, 3.0f}};
    p.logit_bias = force;
    p.n_logit_bias = 2;
    s = mk(p, V, 0);
    int other = 0;
    for (int i = 0; i < 3000; i++) other += pg_sampler_sample(s, l, NULL) != 3;
    CHECK(other == 0);
    float o[V];
    pg_sampler_process_logits(s, l, o);
    CHECK(o[3] == l[3] && isinf(o[0]) && isinf(o[2]));
    pg_sampler_destroy(s);

    pg_logit_bias two[3] = {{5, 100.0f}, {1, 100.0f}, {1, 100.0f}};
    p.logit_bias = two;
    p.n_logit_bias = 3;
    s = mk(p, V, 0);
    int c1 = 0, c5 = 0, cx = 0;
    for (int i = 0; i < 3000; i++) {
        int32_t t = pg_sampler_sample(s, l, NULL);
        if (t == 1) c1++;
        else if (t == 5) c5++;
        else cx++;
    }
    CHECK(cx == 0 && c1 > 1300 && c5 > 1300); /* equal logits: ~50/50 */
    pg_sampler_destroy(s);

    /* ordinary biases add (duplicates sum) */
    pg_logit_bias add[3] = {{0, 2.5f}, {4, -1.0f}, {0, 0.5f}};
    p.logit_bias = add;
    p.n_logit_bias = 3;
    s = mk(p, V, 0);
    pg_sampler_process_logits(s, l, o);
    CHECK(o[0] == 3.0f && o[4] == 1.0f && o[1] == 1.0f);
    CHECK(pg_sampler_params(s)->n_logit_bias == 3 && pg_sampler_params(s)->logit_bias[2].id == 0);
    pg_sampler_destroy(s);

    /* everything banned -> error */
    pg_logit_bias all[V];
    for (int i = 0; i < V; i++) all[i] = (pg_logit_bias){i, -100.0f};
    p.logit_bias = all;
    p.n_logit_bias = V;
    s = mk(p, V, 0);
    pg_sample_out out;
    CHECK(pg_sampler_sample(s, l, &out) == PG_EINVAL && out.token == -1);
    pg_sampler_destroy(s);
}

static void test_logprobs(void) {
    enum { V = 20 };
    float l[V];
    for (int i = 0; i < V; i++) l[i] = tfrand() * 8.0f - 4.0f;
    l[7] = l[3]; /* a tie */
    pg_sampling_params p = pg_sampling_params_default();
    p.n_logprobs = 20;
    p.temperature = 0.6f;
    pg_logit_bias b[1] = {{0, 7.0f}};
    p.logit_bias = b;
    p.n_logit_bias = 1;
    pg_sampler *s = mk(p, V, 3);
    for (int it = 0; it < 50; it++) {
        pg_sample_out o;
        int32_t t = pg_sampler_sample(s, l, &o);
        REQUIRE(t >= 0);
        CHECK(o.n_top == V);
        double sum = 0;
        int found = 0;
        for (int j = 0; j < o.n_top; j++) {
            sum += exp(o.top_logprob[j]);
            if (j > 0) {
                CHECK(o.top_logprob[j] <= o.top_logprob[j - 1]);
                if (o.top_logprob[j] == o.top_logprob[j - 1]) CHECK(o.top_id[j] > o.top_id[j - 1]);
            }
            if (o.top_id[j] == t) {
                found = 1;
                CHECK(o.top_logprob[j] == o.logprob);
            }
        }
        CHECK(found);
        CHECK(fabs(sum - 1.0) < 1e-5);
        /* raw: independent of temperature and bias */
        double z = 0;
        for (int i = 0; i < V; i++) z += exp((double)l[i]);
        CHECK(fabs(o.logprob - (l[t] - log(z))) < 1e-5);
    }
    pg_sampler_destroy(s);

    /* n_logprobs 0: only the token's; -1: none; n=3 top-3 of a bigger vocab */
    p = pg_sampling_params_default();
    p.n_logprobs = 0;
    p.temperature = 0;
    s = mk(p, V, 0);
    pg_sample_out o;
    int32_t t = pg_sampler_sample(s, l, &o);
    CHECK(o.n_top == 0 && o.logprob < 0 && o.logprob > -20);
    pg_sampler_destroy(s);
    p.n_logprobs = 3;
    s = mk(p, V, 0);
    t = pg_sampler_sample(s, l, &o);
    CHECK(o.n_top == 3 && o.top_id[0] == t && o.top_logprob[0] == o.logprob);
    pg_sampler_destroy(s);
}

static void test_ignore_eos(void) {
    enum { V = 5 };
    float l[V] = {1.0f, 0.0f, 9.0f, 2.0f, 8.5f};
    pg_sampling_params p = pg_sampling_params_default();
    p.temperature = 0;
    pg_sampler *s = mk(p, V, 0);
    int32_t eog[2] = {2, 4};
    CHECK(pg_sampler_set_eog_mask(s, eog, 2, NULL) == PG_OK);
    CHECK(pg_sampler_sample(s, l, NULL) == 2); /* mask unused without ignore_eos */
    pg_sampler_destroy(s);
    p.ignore_eos = 1;
    s = mk(p, V, 0);
    CHECK(pg_sampler_set_eog_mask(s, eog, 2, NULL) == PG_OK);
    CHECK(pg_sampler_sample(s, l, NULL) == 3);
    int32_t bad[1] = {V};
    pg_error e;
    CHECK(pg_sampler_set_eog_mask(s, bad, 1, &e) == PG_EINVAL);
    pg_sampler_destroy(s);
    p.temperature = 1.0f;
    s = mk(p, V, 0);
    CHECK(pg_sampler_set_eog_mask(s, eog, 2, NULL) == PG_OK);
    int n_eog = 0;
    for (int i = 0; i < 2000; i++) {
        int32_t t = pg_sampler_sample(s, l, NULL);
        n_eog += t == 2 || t == 4;
    }
    CHECK(n_eog == 0);
    pg_sampler_destroy(s);
}

static void expect_err(pg_sampling_params p, int32_t V, const char *needle) {
    pg_error e;
    pg_error_clear(&e);
    int rc = pg_sampling_params_check(&p, V, &e);
    CHECKF(rc == PG_EINVAL && strstr(e.msg, needle), "expected '%s', got rc=%d '%s'", needle, rc, e.msg);
    CHECK(pg_sampler_create(&p, V, 0) == NULL);
}

static void test_validation(void) {
    pg_sampling_params p = pg_sampling_params_default();
    CHECK(pg_sampling_params_check(&p, 100, NULL) == PG_OK);
    CHECK(p.temperature == 1.0f && p.top_p == 1.0f && p.top_k == 0 && p.n_logprobs == -1);
    pg_sampling_params q;
    q = p; q.temperature = 2.5f; expect_err(q, 100, "temperature must be in [0, 2]");
    q = p; q.temperature = -0.1f; expect_err(q, 100, "temperature");
    q = p; q.temperature = NAN; expect_err(q, 100, "temperature");
    q = p; q.top_p = 0.0f; expect_err(q, 100, "top_p must be in (0, 1]");
    q = p; q.top_p = 1.5f; expect_err(q, 100, "top_p");
    q = p; q.min_p = 1.5f; expect_err(q, 100, "min_p must be in [0, 1]");
    q = p; q.repetition_penalty = 0.0f; expect_err(q, 100, "repetition_penalty");
    q = p; q.repetition_penalty = 3.0f; expect_err(q, 100, "repetition_penalty");
    q = p; q.presence_penalty = 2.5f; expect_err(q, 100, "presence_penalty must be in [-2, 2]");
    q = p; q.frequency_penalty = -3.0f; expect_err(q, 100, "frequency_penalty");
    q = p; q.n_logprobs = 21; expect_err(q, 100, "top_logprobs must be in [0, 20]");
    q = p; q.n_logprobs = -2; expect_err(q, 100, "top_logprobs");
    pg_logit_bias b1[1] = {{100, 1.0f}};
    q = p; q.logit_bias = b1; q.n_logit_bias = 1; expect_err(q, 100, "outside the vocabulary");
    pg_logit_bias b2[1] = {{-1, 1.0f}};
    q = p; q.logit_bias = b2; q.n_logit_bias = 1; expect_err(q, 100, "outside the vocabulary");
    pg_logit_bias b3[1] = {{5, 100.5f}};
    q = p; q.logit_bias = b3; q.n_logit_bias = 1; expect_err(q, 100, "must be in [-100, 100]");
    q = p; q.logit_bias = NULL; q.n_logit_bias = PG_SAMPLER_MAX_LOGIT_BIAS + 1; expect_err(q, 100, "at most");
    expect_err(p, 0, "vocabulary");
    q = p; q.top_k = 1000000; /* larger than the vocab = off */
    CHECK(pg_sampling_params_check(&q, 100, NULL) == PG_OK);
}

/* Timing on a 150k vocabulary (printed, not asserted: machines differ). */
static void test_big_vocab(void) {
    enum { V = 150000, N = 50 };
    float *l = malloc(V * sizeof *l);
    for (int i = 0; i < V; i++) l[i] = tfrand() * 10.0f + ((i % 97) == 0 ? 8.0f : 0.0f);
    pg_sampling_params p = pg_sampling_params_default();
    p.top_k = 40;
    p.top_p = 0.95f;
    p.min_p = 0.05f;
    p.repetition_penalty = 1.1f;
    p.n_logprobs = 5;
    pg_sampler *s = mk(p, V, 1);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < N; i++) {
        pg_sample_out o;
        int32_t t = pg_sampler_sample(s, l, &o);
        REQUIRE(t >= 0 && t < V);
        pg_sampler_accept(s, t);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double ms = ((t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6) / N;
    fprintf(stderr, "150k vocab, top_k+top_p+min_p+penalty+logprobs: %.3f ms/token\n", ms);
    pg_sampler_destroy(s);
    p = pg_sampling_params_default();
    p.top_p = 0.9f;
    s = mk(p, V, 1);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < N; i++) CHECK(pg_sampler_sample(s, l, NULL) >= 0);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    ms = ((t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6) / N;
    fprintf(stderr, "150k vocab, top_p 0.9 alone (flat-ish): %.3f ms/token\n", ms);
    pg_sampler_destroy(s);
    free(l);
}

int main(void) {
    test_greedy();
    test_seeds();
    test_interleave_and_streams();
    test_distribution();
    test_truncation();
    test_exact_sets();
    test_penalties();
    test_logit_bias();
    test_logprobs();
    test_ignore_eos();
    test_validation();
    test_big_vocab();
    return t_done("test_sampler");
}
