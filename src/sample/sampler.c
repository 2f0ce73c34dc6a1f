/* sampler.c - see sampler.h for the pipeline and its guarantees.
 *
 * Memory (all from pg_sampler_create, none per token):
 *   work[n_vocab]  float  private copy of the logits; later reused in place
 *                         for the unnormalised probabilities of candidates
 *   cand[n_vocab]  int32  candidate ids; the truncation steps permute and
 *                         shrink this list, its best-first prefix is sorted
 *   counts[n_vocab] uint32 only when a penalty is on: low 31 bits = times
 *                         generated, bit 31 = seen in the prompt
 *   bias lists     copy of the caller's logit_bias (for pg_sampler_params)
 *                  and a merged, id-sorted form used when sampling
 *
 * Partial selection, never a full sort: top_k uses select_best (an in-place
 * binary min-heap over the candidates, O(n log k), leaves the k best sorted
 * best first). top_p without top_k uses a weighted quickselect
 * (top_p_select, expected O(n)): partition around a pivot, keep or drop the
 * better side by its probability mass, and only the last <= 32 candidates
 * get sorted. "Best" is a strict total order (value descending, id
 * ascending), so every kept set is exact and the whole computation is a
 * deterministic function of its inputs.
 *
 * Exponentials are exp_neg(logit - max) in float (own polynomial, same bits
 * on every machine), accumulated in double in a fixed order.
 */
#include "sample/sampler.h"

#include "base/hash.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { BIAS_ADD = 0, BIAS_BAN = 1, BIAS_FORCE = 2 };
#define PROMPT_BIT 0x80000000u
#define COUNT_MASK 0x7fffffffu

struct pg_sampler {
    pg_sampling_params p; /* p.logit_bias points at bias_copy */
    int32_t n_vocab;
    uint64_t base_seed;   /* has_seed ? seed : default_seed */
    uint64_t stream_seed; /* base_seed + stream index */
    uint64_t rng[4];

    float *work;
    int32_t *cand;
    uint32_t *counts; /* NULL when no penalty is active */

    pg_logit_bias *bias_copy; /* n_bias_copy entries, caller order */
    int32_t n_bias_copy;
    int32_t *mb_id; /* merged: sorted unique ids */
    float *mb_val;
    uint8_t *mb_kind;
    int32_t n_mb;
    int32_t n_force;

    int32_t eog[PG_SAMPLER_MAX_EOG];
    int32_t n_eog;

    const uint32_t *allowed; /* borrowed grammar mask (pg_sampler_set_allowed); NULL = unconstrained */
    const int32_t *banned;   /* borrowed ids (pg_sampler_set_banned), n_banned of them */
    int32_t n_banned;
};

/* ---- RNG: splitmix64 seeding, xoshiro256** generator ---- */

static uint64_t splitmix64(uint64_t *x) { return pg_splitmix64(x); }

static void rng_seed(uint64_t st[4], uint64_t seed) {
    uint64_t x = seed;
    for (int i = 0; i < 4; i++) st[i] = splitmix64(&x);
    if (!(st[0] | st[1] | st[2] | st[3])) st[0] = 1; /* all-zero is a fixed point */
}

static inline uint64_t rotl64(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t rng_next(uint64_t st[4]) {
    uint64_t r = rotl64(st[1] * 5, 7) * 9;
    uint64_t t = st[1] << 17;
    st[2] ^= st[0];
    st[3] ^= st[1];
    st[1] ^= st[2];
    st[0] ^= st[3];
    st[2] ^= t;
    st[3] = rotl64(st[3], 45);
    return r;
}

/* Uniform double in [0, 1) with 53 random bits. */
static double rng_u01(uint64_t st[4]) { return (double)(rng_next(st) >> 11) * 0x1.0p-53; }

/* ---- parameters ---- */

pg_sampling_params pg_sampling_params_default(void) {
    pg_sampling_params p;
    memset(&p, 0, sizeof p);
    p.temperature = 1.0f;
    p.top_k = 0;
    p.top_p = 1.0f;
    p.min_p = 0.0f;
    p.repetition_penalty = 1.0f;
    p.presence_penalty = 0.0f;
    p.frequency_penalty = 0.0f;
    p.logit_bias = NULL;
    p.n_logit_bias = 0;
    p.seed = 0;
    p.has_seed = 0;
    p.ignore_eos = 0;
    p.n_logprobs = -1;
    return p;
}

/* Range checks written so that NaN fails them. */
static int in_range(float v, float lo, float hi) { return v >= lo && v <= hi; }

int pg_sampling_params_check(const pg_sampling_params *p, int32_t n_vocab, pg_error *err) {
    if (!p) return pg_error_set(err, PG_EINVAL, "sampling parameters missing");
    if (n_vocab <= 0) return pg_error_set(err, PG_EINVAL, "vocabulary is empty");
    if (!in_range(p->temperature, 0.0f, 2.0f))
        return pg_error_set(err, PG_EINVAL, "temperature must be in [0, 2]");
    if (!(p->top_p > 0.0f && p->top_p <= 1.0f))
        return pg_error_set(err, PG_EINVAL, "top_p must be in (0, 1]");
    if (!in_range(p->min_p, 0.0f, 1.0f))
        return pg_error_set(err, PG_EINVAL, "min_p must be in [0, 1]");
    if (!(p->repetition_penalty > 0.0f && p->repetition_penalty <= 2.0f))
        return pg_error_set(err, PG_EINVAL, "repetition_penalty must be in (0, 2]");
    if (!in_range(p->presence_penalty, -2.0f, 2.0f))
        return pg_error_set(err, PG_EINVAL, "presence_penalty must be in [-2, 2]");
    if (!in_range(p->frequency_penalty, -2.0f, 2.0f))
        return pg_error_set(err, PG_EINVAL, "frequency_penalty must be in [-2, 2]");
    if (p->n_logprobs < -1 || p->n_logprobs > PG_SAMPLER_MAX_LOGPROBS)
        return pg_error_set(err, PG_EINVAL, "top_logprobs must be in [0, %d]",
                            PG_SAMPLER_MAX_LOGPROBS);
    if (p->n_logit_bias < 0 || p->n_logit_bias > PG_SAMPLER_MAX_LOGIT_BIAS)
        return pg_error_set(err, PG_EINVAL, "logit_bias may have at most %d entries",
                            PG_SAMPLER_MAX_LOGIT_BIAS);
    if (p->n_logit_bias > 0 && !p->logit_bias)
        return pg_error_set(err, PG_EINVAL, "logit_bias missing");
    for (int32_t i = 0; i < p->n_logit_bias; i++) {
        const pg_logit_bias *b = &p->logit_bias[i];
        if (b->id < 0 || b->id >= n_vocab)
            return pg_error_set(err, PG_EINVAL,
                                "logit_bias token id %d is outside the vocabulary [0, %d)",
                                (int)b->id, (int)n_vocab);
        if (!in_range(b->bias, -100.0f, 100.0f))
            return pg_error_set(err, PG_EINVAL, "logit_bias value for token %d must be in [-100, 100]",
                                (int)b->id);
    }
    return PG_OK;
}

/* ---- create / destroy ---- */

/* (id, bias) order: fixes the float summation order of duplicate ids. */
static int bias_cmp(const void *a, const void *b) {
    const pg_logit_bias *x = a, *y = b;
    if (x->id != y->id) return (x->id > y->id) - (x->id < y->id);
    return (x->bias > y->bias) - (x->bias < y->bias);
}

static int penalties_on(const pg_sampling_params *p) {
    return p->repetition_penalty != 1.0f || p->presence_penalty != 0.0f ||
           p->frequency_penalty != 0.0f;
}

pg_sampler *pg_sampler_create(const pg_sampling_params *p, int32_t n_vocab, uint64_t default_seed) {
    if (pg_sampling_params_check(p, n_vocab, NULL) != PG_OK) return NULL;
    pg_sampler *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->p = *p;
    s->n_vocab = n_vocab;
    size_t nv = (size_t)n_vocab;
    s->work = malloc(nv * sizeof *s->work);
    s->cand = malloc(nv * sizeof *s->cand);
    if (!s->work || !s->cand) goto fail;
    if (penalties_on(p)) {
        s->counts = calloc(nv, sizeof *s->counts);
        if (!s->counts) goto fail;
    }
    int32_t nb = p->n_logit_bias;
    s->n_bias_copy = nb;
    if (nb > 0) {
        s->bias_copy = malloc((size_t)nb * sizeof *s->bias_copy);
        pg_logit_bias *tmp = malloc((size_t)nb * sizeof *tmp);
        s->mb_id = malloc((size_t)nb * sizeof *s->mb_id);
        s->mb_val = malloc((size_t)nb * sizeof *s->mb_val);
        s->mb_kind = malloc((size_t)nb);
        if (!s->bias_copy || !tmp || !s->mb_id || !s->mb_val || !s->mb_kind) {
            free(tmp);
            goto fail;
        }
        memcpy(s->bias_copy, p->logit_bias, (size_t)nb * sizeof *tmp);
        memcpy(tmp, p->logit_bias, (size_t)nb * sizeof *tmp);
        qsort(tmp, (size_t)nb, sizeof *tmp, bias_cmp);
        int32_t n = 0;
        for (int32_t i = 0; i < nb; i++) {
            if (n == 0 || s->mb_id[n - 1] != tmp[i].id) {
                s->mb_id[n] = tmp[i].id;
                s->mb_val[n] = 0.0f;
                s->mb_kind[n] = BIAS_ADD;
                n++;
            }
            uint8_t *k = &s->mb_kind[n - 1];
            if (tmp[i].bias <= -100.0f) *k = BIAS_BAN;
            else if (tmp[i].bias >= 100.0f) { if (*k != BIAS_BAN) *k = BIAS_FORCE; }
            else s->mb_val[n - 1] += tmp[i].bias;
        }
        free(tmp);
        s->n_mb = n;
        for (int32_t i = 0; i < n; i++) s->n_force += s->mb_kind[i] == BIAS_FORCE;
    }
    s->p.logit_bias = s->bias_copy;
    s->base_seed = p->has_seed ? p->seed : default_seed;
    s->stream_seed = s->base_seed;
    rng_seed(s->rng, s->stream_seed);
    return s;
fail:
    pg_sampler_destroy(s);
    return NULL;
}

void pg_sampler_destroy(pg_sampler *s) {
    if (!s) return;
    free(s->work);
    free(s->cand);
    free(s->counts);
    free(s->bias_copy);
    free(s->mb_id);
    free(s->mb_val);
    free(s->mb_kind);
    free(s);
}

int pg_sampler_set_eog_mask(pg_sampler *s, const int32_t *ids, int32_t n, pg_error *err) {
    if (n < 0 || n > PG_SAMPLER_MAX_EOG)
        return pg_error_set(err, PG_EINVAL, "at most %d end-of-generation ids", PG_SAMPLER_MAX_EOG);
    for (int32_t i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= s->n_vocab)
            return pg_error_set(err, PG_EINVAL, "end-of-generation id %d outside the vocabulary",
                                (int)ids[i]);
    if (n > 0) memcpy(s->eog, ids, (size_t)n * sizeof *ids);
    s->n_eog = n;
    return PG_OK;
}

/* ---- history ---- */

int pg_sampler_accept_prompt(pg_sampler *s, const int32_t *toks, int32_t n, pg_error *err) {
    for (int32_t i = 0; i < n; i++)
        if (toks[i] < 0 || toks[i] >= s->n_vocab)
            return pg_error_set(err, PG_ERANGE, "prompt token id %d is outside the vocabulary [0, %d)",
                                (int)toks[i], (int)s->n_vocab);
    if (s->counts)
        for (int32_t i = 0; i < n; i++) s->counts[toks[i]] |= PROMPT_BIT;
    return PG_OK;
}

void pg_sampler_accept(pg_sampler *s, int32_t token) {
    PG_ASSERT(token >= 0 && token < s->n_vocab);
    if (s->counts) {
        uint32_t c = s->counts[token];
        if ((c & COUNT_MASK) != COUNT_MASK) s->counts[token] = c + 1; /* saturate */
    }
}

/* ---- selection helpers ---- */

/* a strictly better than b: higher value, then lower id. */
static inline int better(const float *w, int32_t a, int32_t b) {
    return w[a] > w[b] || (w[a] == w[b] && a < b);
}

/* Min-heap (worst at the root) over h[0..n). */
static void sift_down(int32_t *h, int32_t n, int32_t i, const float *w) {
    int32_t x = h[i];
    for (;;) {
        int32_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && better(w, h[c], h[c + 1])) c++; /* pick the worse child */
        if (!better(w, x, h[c])) break;
        h[i] = h[c];
        i = c;
    }
    h[i] = x;
}

/* Move the m best of c[lo, hi) to c[lo, lo+m), sorted best first. */
static void select_best(int32_t *c, int32_t lo, int32_t hi, int32_t m, const float *w) {
    if (m <= 0) return;
    if (m > hi - lo) m = hi - lo;
    int32_t *h = c + lo;
    for (int32_t i = m / 2 - 1; i >= 0; i--) sift_down(h, m, i, w);
    for (int32_t j = lo + m; j < hi; j++) {
        if (better(w, c[j], h[0])) {
            int32_t t = h[0];
            h[0] = c[j];
            c[j] = t;
            sift_down(h, m, 0, w);
        }
    }
    /* heap sort: repeatedly move the worst to the end -> best first */
    for (int32_t n = m - 1; n > 0; n--) {
        int32_t t = h[0];
        h[0] = h[n];
        h[n] = t;
        sift_down(h, n, 0, w);
    }
}

/* e^x for x <= 0 (x - max of a row): Cody-Waite reduction to
 * r in [-ln2/2, ln2/2], degree-6 Taylor polynomial, scale by 2^n through the
 * exponent bits. Relative error ~2e-7; exp_neg(0) == 1 exactly; arguments
 * below -87 are clamped (result ~1e-38, never 0, never denormal). Plain
 * IEEE arithmetic (no FMA contraction under -std=c11), so results are the
 * same bits whether or not the compiler vectorises the calling loop. */
static inline float exp_neg(float x) {
    x = x < -87.0f ? -87.0f : x;
    float n = (x * 1.44269504f + 12582912.0f) - 12582912.0f; /* round(x/ln2) */
    float r = x - n * 0.693145751953125f;
    r = r - n * 1.42860677e-06f;
    float q = 1.38888889e-3f;
    q = q * r + 8.33333333e-3f;
    q = q * r + 4.16666667e-2f;
    q = q * r + 1.66666667e-1f;
    q = q * r + 0.5f;
    q = q * r + 1.0f;
    q = q * r + 1.0f;
    union { uint32_t u; float f; } sc;
    sc.u = (uint32_t)((int32_t)n + 127) << 23;
    return q * sc.f;
}

/* Sum of e[c[i]] in double with four interleaved accumulators (breaks the
 * add latency chain; the grouping is fixed, so the result is too). */
static double sum_cand(const float *e, const int32_t *c, int32_t n) {
    double a0 = 0.0, a1 = 0.0, a2 = 0.0, a3 = 0.0;
    int32_t i = 0;
    for (; i + 4 <= n; i += 4) {
        a0 += (double)e[c[i]];
        a1 += (double)e[c[i + 1]];
        a2 += (double)e[c[i + 2]];
        a3 += (double)e[c[i + 3]];
    }
    for (; i < n; i++) a0 += (double)e[c[i]];
    return (a0 + a1) + (a2 + a3);
}

/* top_p on a best-first sorted list: keep i while the mass before it < target. */
static int32_t top_p_sorted(const int32_t *c, int32_t n, const float *e, double target) {
    double cum = 0.0;
    int32_t i = 0;
    for (; i < n; i++) {
        if (cum >= target) break;
        cum += (double)e[c[i]];
    }
    return i;
}

/* top_p on an unsorted list: weighted quickselect. Partition around a
 * median-of-three pivot into [better | pivot | worse]; if the better part
 * already reaches the target the cut lies inside it, else it and the pivot
 * are kept and the search continues in the worse part. Expected O(n); the
 * kept tokens end up in c[0, result). Small remainders, or any remainder
 * once the round budget is spent (bad pivots), are sorted: O(n log n) worst. */
static int32_t top_p_select(int32_t *c, int32_t n, const float *e, double target) {
    int32_t lo = 0, hi = n;
    double cum = 0.0;
    int budget = 8; /* introselect guard: after ~2 log2(n) rounds, sort the rest */
    for (int32_t x = n; x > 1; x >>= 1) budget += 2;
    while (hi - lo > 32 && budget-- > 0) {
        int32_t ia = lo, ib = lo + (hi - lo) / 2, ic = hi - 1, im;
        if (better(e, c[ia], c[ib])) {
            im = better(e, c[ib], c[ic]) ? ib : (better(e, c[ia], c[ic]) ? ic : ia);
        } else {
            im = better(e, c[ia], c[ic]) ? ia : (better(e, c[ib], c[ic]) ? ic : ib);
        }
        int32_t pv = c[im];
        c[im] = c[hi - 1];
        c[hi - 1] = pv;
        int32_t i = lo;
        double mass = 0.0;
        for (int32_t j = lo; j < hi - 1; j++) {
            int32_t x = c[j];
            if (better(e, x, pv)) {
                c[j] = c[i];
                c[i] = x;
                i++;
                mass += (double)e[x];
            }
        }
        c[hi - 1] = c[i];
        c[i] = pv;
        if (cum + mass >= target) {
            hi = i;
        } else {
            cum += mass + (double)e[pv];
            lo = i + 1;
        }
    }
    select_best(c, lo, hi, hi - lo, e);
    int32_t i = lo;
    for (; i < hi; i++) {
        if (cum >= target) break;
        cum += (double)e[c[i]];
    }
    return i;
}

static inline float sanitize(float x) {
    if (x != x) return -INFINITY;
    if (x > FLT_MAX) return FLT_MAX;
    return x;
}

/* Raw log-softmax: token's logprob and top-n. */
static void fill_logprobs(const pg_sampler *s, const float *logits, int32_t tok, pg_sample_out *out) {
    const int32_t V = s->n_vocab;
    float m = -INFINITY;
    for (int32_t i = 0; i < V; i++) {
        float x = sanitize(logits[i]);
        if (x > m) m = x;
    }
    double sum = 0.0;
    if (m == -INFINITY) { /* degenerate row: uniform */
        m = 0.0f;
        sum = (double)V;
    } else {
        for (int32_t i = 0; i < V; i++) sum += (double)exp_neg(sanitize(logits[i]) - m);
    }
    double lse = (double)m + log(sum);
    out->logprob = (float)((double)sanitize(logits[tok]) - lse);
    int32_t n = s->p.n_logprobs;
    out->n_top = n > 0 ? n : 0;
    if (n <= 0) return;
    if (n > V) n = V, out->n_top = V;
    /* insertion into a best-first list of at most n; ascending ids, so an
     * equal value never displaces an earlier (lower) id. */
    int32_t cnt = 0;
    float *tv = out->top_logprob; /* holds raw values until the end */
    int32_t *ti = out->top_id;
    for (int32_t i = 0; i < V; i++) {
        float x = sanitize(logits[i]);
        if (cnt == n && !(x > tv[n - 1])) continue;
        int32_t j = cnt < n ? cnt++ : n - 1;
        while (j > 0 && x > tv[j - 1]) {
            tv[j] = tv[j - 1];
            ti[j] = ti[j - 1];
            j--;
        }
        tv[j] = x;
        ti[j] = i;
    }
    for (int32_t j = 0; j < n; j++) tv[j] = (float)((double)tv[j] - lse);
}

/* Steps 1-4 of the pipeline: w = sanitized, biased, penalised, masked. */
static void preprocess(const pg_sampler *s, const float *logits, float *w) {
    const pg_sampling_params *p = &s->p;
    const int32_t V = s->n_vocab;
    for (int32_t i = 0; i < V; i++) w[i] = sanitize(logits[i]);

    /* 2. logit bias */
    for (int32_t i = 0; i < s->n_mb; i++) {
        int32_t id = s->mb_id[i];
        if (s->mb_kind[i] == BIAS_BAN) w[id] = -INFINITY;
        else if (s->mb_kind[i] == BIAS_ADD) w[id] += s->mb_val[i];
    }
    if (s->n_force > 0) {
        int32_t j = 0; /* walk the sorted merged list alongside the vocab */
        for (int32_t i = 0; i < V; i++) {
            while (j < s->n_mb && s->mb_id[j] < i) j++;
            if (!(j < s->n_mb && s->mb_id[j] == i && s->mb_kind[j] == BIAS_FORCE)) w[i] = -INFINITY;
        }
    }

    /* 3. penalties */
    if (s->counts) {
        const float rp = p->repetition_penalty, pp = p->presence_penalty, fp = p->frequency_penalty;
        const uint32_t *cnt = s->counts;
        for (int32_t i = 0; i < V; i++) {
            uint32_t c = cnt[i];
            if (!c) continue;
            float x = w[i];
            if (rp != 1.0f) x = x > 0.0f ? x / rp : x * rp;
            uint32_t k = c & COUNT_MASK;
            if (k) x -= fp * (float)k + pp;
            w[i] = x;
        }
    }

    /* 4. ignore_eos */
    if (p->ignore_eos)
        for (int32_t i = 0; i < s->n_eog; i++) w[s->eog[i]] = -INFINITY;

    /* 4b. banned ids (min_tokens): ids were range-checked by the caller */
    for (int32_t i = 0; i < s->n_banned; i++) w[s->banned[i]] = -INFINITY;

    /* 5. grammar mask: one pointer test when unconstrained */
    if (s->allowed) {
        const uint32_t *a = s->allowed;
        for (int32_t i = 0; i < V; i++)
            if (!((a[i >> 5] >> (i & 31)) & 1u)) w[i] = -INFINITY;
    }
}

void pg_sampler_set_allowed(pg_sampler *s, const uint32_t *allowed) { s->allowed = allowed; }

void pg_sampler_set_banned(pg_sampler *s, const int32_t *ids, int32_t n) {
    s->banned = n > 0 ? ids : NULL;
    s->n_banned = n > 0 && ids ? n : 0;
}

void pg_sampler_process_logits(const pg_sampler *s, const float *logits, float *out) {
    preprocess(s, logits, out);
}

/* ---- sampling ---- */

/* Steps 5b (temperature > 0): leaves the kept candidates in cand[0, n) and
 * their unnormalised probabilities in work[id]; returns n and their sum. */
static int32_t truncate_cands(pg_sampler *s, double *zsum) {
    const pg_sampling_params *p = &s->p;
    const int32_t V = s->n_vocab;
    float *w = s->work;
    int32_t *cand = s->cand;
    const float T = p->temperature;
    int32_t n = 0;
    float m = -INFINITY;
    for (int32_t i = 0; i < V; i++) {
        float x = w[i];
        if (x == -INFINITY) continue;
        if (T != 1.0f) {
            x = x / T;
            if (x > FLT_MAX) x = FLT_MAX;
            w[i] = x;
            if (x == -INFINITY) continue;
        }
        cand[n++] = i;
        if (x > m) m = x;
    }
    *zsum = 0.0;
    if (n == 0) return 0;
    int sorted = 0; /* cand[0, n) sorted best first? */
    if (p->top_k > 0 && p->top_k < n) {
        select_best(cand, 0, n, p->top_k, w);
        n = p->top_k;
        sorted = 1;
    }
    /* probabilities (unnormalised, max = exp_neg(0) = 1) in place */
    if (n == V) { /* cand is the identity: contiguous, vectorisable */
        for (int32_t i = 0; i < V; i++) w[i] = exp_neg(w[i] - m);
    } else {
        for (int32_t i = 0; i < n; i++) w[cand[i]] = exp_neg(w[cand[i]] - m);
    }
    double z = sum_cand(w, cand, n);
    int32_t n_before = n;
    if (p->top_p < 1.0f) {
        const double target = (double)p->top_p * z;
        n = sorted ? top_p_sorted(cand, n, w, target) : top_p_select(cand, n, w, target);
    }
    if (p->min_p > 0.0f) {
        const float thr = p->min_p; /* p_i / p_max = e_i */
        int32_t k = 0;
        for (int32_t i = 0; i < n; i++)
            if (w[cand[i]] >= thr) cand[k++] = cand[i];
        n = k;
    }
    if (n != n_before) z = sum_cand(w, cand, n);
    *zsum = z;
    return n;
}

int32_t pg_sampler_candidates(pg_sampler *s, const float *logits, int32_t *ids) {
    preprocess(s, logits, s->work);
    if (s->p.temperature == 0.0f) {
        float best = -INFINITY;
        int32_t tok = -1;
        for (int32_t i = 0; i < s->n_vocab; i++)
            if (s->work[i] > best) best = s->work[i], tok = i;
        if (tok < 0) return 0;
        ids[0] = tok;
        return 1;
    }
    double z;
    int32_t n = truncate_cands(s, &z);
    memcpy(ids, s->cand, (size_t)n * sizeof *ids);
    return n;
}

int32_t pg_sampler_sample(pg_sampler *s, const float *logits, pg_sample_out *out) {
    const pg_sampling_params *p = &s->p;
    const int32_t V = s->n_vocab;
    float *w = s->work;

    preprocess(s, logits, w);

    int32_t tok = -1;
    if (p->temperature == 0.0f) {
        /* 5a. greedy: strict > over ascending ids keeps the lowest id on ties */
        float best = -INFINITY;
        for (int32_t i = 0; i < V; i++)
            if (w[i] > best) best = w[i], tok = i;
    } else {
        /* one RNG output per non-greedy call, whatever the logits */
        double u = rng_u01(s->rng);
        double z;
        int32_t n = truncate_cands(s, &z);
        if (n > 0) {
            /* draw: inverse CDF over the kept candidates in list order */
            const int32_t *cand = s->cand;
            const double target = u * z;
            double cum = 0.0;
            tok = cand[n - 1];
            for (int32_t i = 0; i < n; i++) {
                cum += (double)w[cand[i]];
                if (target < cum) {
                    tok = cand[i];
                    break;
                }
            }
        }
    }

    if (tok < 0) {
        if (out) {
            out->token = -1;
            out->logprob = 0.0f;
            out->n_top = 0;
        }
        return PG_EINVAL;
    }
    if (out) {
        out->token = tok;
        out->logprob = 0.0f;
        out->n_top = 0;
        if (p->n_logprobs >= 0) fill_logprobs(s, logits, tok, out);
    }
    return tok;
}

/* ---- copies, streams ---- */

pg_sampler *pg_sampler_clone(const pg_sampler *s) {
    pg_sampling_params p = s->p;
    pg_sampler *c = pg_sampler_create(&p, s->n_vocab, 0);
    if (!c) return NULL;
    pg_sampler_copy(c, s);
    return c;
}

void pg_sampler_copy(pg_sampler *dst, const pg_sampler *src) {
    PG_ASSERT(dst->n_vocab == src->n_vocab && (dst->counts != NULL) == (src->counts != NULL));
    PG_ASSERT(dst->n_mb == src->n_mb);
    dst->base_seed = src->base_seed;
    dst->stream_seed = src->stream_seed;
    memcpy(dst->rng, src->rng, sizeof dst->rng);
    if (src->counts) memcpy(dst->counts, src->counts, (size_t)src->n_vocab * sizeof *src->counts);
    memcpy(dst->eog, src->eog, sizeof dst->eog);
    dst->n_eog = src->n_eog;
}

pg_sampler *pg_sampler_fork(const pg_sampler *s, uint32_t index) {
    pg_sampler *c = pg_sampler_clone(s);
    if (!c) return NULL;
    c->stream_seed = s->base_seed + index; /* stream 0 = the created sampler's */
    rng_seed(c->rng, c->stream_seed);
    return c;
}

void pg_sampler_reset(pg_sampler *s) {
    if (s->counts) memset(s->counts, 0, (size_t)s->n_vocab * sizeof *s->counts);
    rng_seed(s->rng, s->stream_seed);
}

void pg_sampler_rng_get(const pg_sampler *s, uint64_t st[4]) { memcpy(st, s->rng, sizeof s->rng); }
const pg_sampling_params *pg_sampler_params(const pg_sampler *s) { return &s->p; }
