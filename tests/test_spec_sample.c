/* test_spec_sample.c - speculative sampling's accept / resample rule
 * (sample/spec_sample.h) keeps the target distribution exactly.
 *
 * For several (p, q) pairs on a 6-token vocabulary, 200,000 rounds of
 * "d ~ q, then pg_spec_accept" are counted and compared with p by a
 * chi-square test (5 degrees of freedom, limit 25.7 = p-value 1e-4; the
 * seeds are fixed, so the outcome is deterministic). The acceptance rate
 * must be sum_i min(p_i, q_i) (Leviathan et al., Theorem 3.5). A wrong
 * residual (resampling from p, or from q) is run through the same test
 * and must fail it by far, so the test can tell. One-hot q (the engine's
 * deterministic drafts) is the "sample p, accept when equal" rule. */
#include "test.h"

#include "sample/spec_sample.h"

#include <stdint.h>

#define V 6
#define N 200000
#define CHI_LIMIT 25.7 /* chi-square, 5 dof, p = 1e-4 */

static uint64_t st = 0x9E3779B97F4A7C15ULL;
static double unif(void) { /* xorshift64*, 53 bits */
    st ^= st >> 12;
    st ^= st << 25;
    st ^= st >> 27;
    return (double)((st * 2685821657736338717ULL) >> 11) * (1.0 / 9007199254740992.0);
}

static int32_t draw(const float *w) {
    double u = unif(), acc = 0;
    for (int32_t i = 0; i < V; i++) {
        acc += w[i];
        if (u < acc) return i;
    }
    return V - 1;
}

/* mode 0: the real rule; 1: wrong residual = p; 2: wrong residual = q */
static double chi2_of(const float *p, const float *q, int mode, double *acc_rate) {
    long cnt[V] = {0}, acc = 0;
    for (long r = 0; r < N; r++) {
        int32_t d = draw(q);
        int a = 0;
        int32_t t = pg_spec_accept(p, q, V, d, unif(), unif(), &a);
        if (!a && mode == 1) t = draw(p);
        if (!a && mode == 2) t = draw(q);
        acc += a;
        cnt[t]++;
    }
    double chi = 0;
    for (int i = 0; i < V; i++) {
        double ex = (double)N * p[i];
        if (ex > 0) chi += ((double)cnt[i] - ex) * ((double)cnt[i] - ex) / ex;
        else if (cnt[i]) chi += 1e9; /* a token p never gives */
    }
    *acc_rate = (double)acc / N;
    return chi;
}

int main(void) {
    static const float P[][V] = {
        {0.30f, 0.25f, 0.20f, 0.15f, 0.07f, 0.03f},
        {0.05f, 0.05f, 0.10f, 0.10f, 0.30f, 0.40f},
        {0.00f, 0.50f, 0.00f, 0.25f, 0.25f, 0.00f},
    };
    static const float Q[][V] = {
        {0.05f, 0.05f, 0.10f, 0.10f, 0.30f, 0.40f},
        {0.30f, 0.25f, 0.20f, 0.15f, 0.07f, 0.03f},
        {0.20f, 0.20f, 0.20f, 0.20f, 0.10f, 0.10f},
    };
    for (int c = 0; c < 3; c++) {
        double ar, ar1, ar2;
        double chi = chi2_of(P[c], Q[c], 0, &ar);
        double want = 0;
        for (int i = 0; i < V; i++) want += P[c][i] < Q[c][i] ? P[c][i] : Q[c][i];
        CHECKF(chi < CHI_LIMIT, "case %d: chi-square %.2f >= %.1f: the output is not distributed as p", c, chi, CHI_LIMIT);
        CHECKF(fabs(ar - want) < 0.005, "case %d: acceptance %.4f, theory %.4f", c, ar, want);
        /* the same test rejects wrong residuals */
        double chi_p = chi2_of(P[c], Q[c], 1, &ar1), chi_q = chi2_of(P[c], Q[c], 2, &ar2);
        CHECKF(chi_p > 10 * CHI_LIMIT, "case %d: residual = p not detected (chi-square %.1f)", c, chi_p);
        CHECKF(chi_q > 10 * CHI_LIMIT, "case %d: residual = q not detected (chi-square %.1f)", c, chi_q);
    }
    /* one-hot q at d: accepted with probability p(d); the residual is p
     * without d; overall p again */
    for (int32_t d = 0; d < V; d++) {
        float q[V] = {0};
        q[d] = 1;
        double ar;
        double chi = chi2_of(P[0], q, 0, &ar);
        CHECKF(chi < CHI_LIMIT, "one-hot at %d: chi-square %.2f", d, chi);
        CHECKF(fabs(ar - P[0][d]) < 0.005, "one-hot at %d: acceptance %.4f vs p(d) %.4f", d, ar, (double)P[0][d]);
        /* a rejection never returns d */
        int a = 1;
        int32_t t = pg_spec_accept(P[0], q, V, d, 0.999999, 0.5, &a);
        CHECK(a == 0 && t != d);
    }
    /* q == p: always accepted */
    {
        double ar;
        double chi = chi2_of(P[1], P[1], 0, &ar);
        CHECK(chi < CHI_LIMIT);
        CHECKF(ar > 0.999, "q == p: acceptance %.4f", ar);
    }
    return t_done("test_spec_sample");
}
