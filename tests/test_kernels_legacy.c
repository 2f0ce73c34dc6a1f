/* test_kernels_legacy.c - kernels of F32/F16/BF16 and the 32-element quants
 * (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q8_1, IQ4_NL) at every dispatch level the
 * CPU supports, plus the float helpers of tensor/kernels.h.
 *
 * Checks: quantize/dequantize round trip (RMS error bound per type), vec_dot
 * against a double dot of the dequantized rows, SIMD against scalar,
 * determinism (same call twice, and with inputs at another address),
 * bit-exact quantizers across levels, known answers built by hand, and an
 * exhaustive fp16 check. Data comes from a fixed-seed generator. */
#include "test.h"

#include "base/cpu.h"
#include "tensor/blocks.h"
#include "tensor/fp16.h"
#include "tensor/kernels.h"
#include "tensor/types.h"

#include <stdint.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

/* RMS(dequant(quant(x)) - x) / RMS(x) bounds for the test data below
 * (Gaussian with per-block scales; a 4-bit grid gives ~0.08 on Gaussians). */
#define RT_TOL_F32 0.0
#define RT_TOL_F16 4e-4
#define RT_TOL_BF16 3e-3
#define RT_TOL_Q8 1e-2
#define RT_TOL_Q5 7.5e-2
#define RT_TOL_Q4 1.5e-1
#define RT_TOL_IQ4_NL 1.2e-1
/* |vec_dot - exact dot of the dequantized rows| <= DOT_TOL * sum|w_i x_i| */
#define DOT_TOL 2e-6
/* |vec_dot(level) - vec_dot(scalar)| <= LEVEL_TOL * sum|w_i x_i| */
#define LEVEL_TOL 1e-5

static uint64_t rng = 0x9e3779b97f4a7c15ULL;
static uint64_t rnd(void) {
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;
    return rng * 0x2545f4914f6cdd1dULL;
}
static double rndu(void) { return (double)(rnd() >> 11) / 9007199254740992.0; } /* [0,1) */
static float rndn(void) { /* approx N(0,1): sum of 4 uniforms, scaled */
    double s = rndu() + rndu() + rndu() + rndu() - 2.0;
    return (float)(s * 1.7320508);
}

/* n values: N(0,1) times a per-32-block scale in [0.01, 2], with rare
 * outliers, so blocks differ in range. */
static void fill(float *x, int n) {
    float sc = 1.0f;
    for (int i = 0; i < n; i++) {
        if (i % 32 == 0) sc = (float)(0.01 + 2.0 * rndu());
        x[i] = rndn() * sc;
        if (rnd() % 97 == 0) x[i] *= 4.0f;
    }
}

typedef struct {
    pg_type t;
    double rt_tol;
} tcase;

static const tcase cases[] = {
    {PG_TYPE_F32, RT_TOL_F32},  {PG_TYPE_F16, RT_TOL_F16},  {PG_TYPE_BF16, RT_TOL_BF16},
    {PG_TYPE_Q4_0, RT_TOL_Q4},  {PG_TYPE_Q4_1, RT_TOL_Q4},  {PG_TYPE_Q5_0, RT_TOL_Q5},
    {PG_TYPE_Q5_1, RT_TOL_Q5},  {PG_TYPE_Q8_0, RT_TOL_Q8},  {PG_TYPE_Q8_1, RT_TOL_Q8},
    {PG_TYPE_IQ4_NL, RT_TOL_IQ4_NL},
};

static const int lens_q[] = {32, 64, 96, 160, 256, 4096, 11008};
static const int lens_f[] = {1, 3, 7, 8, 15, 17, 33, 63, 100, 129, 256, 1000, 4096, 11008};

#define MAXN 11008
static float xs[MAXN + 16], ys[MAXN + 16], zs[MAXN + 16], acts[MAXN + 16], wdq[MAXN + 16], xdq[MAXN + 16];
/* byte buffers, with room to shift inputs by a few bytes */
static _Alignas(64) unsigned char wq[MAXN * 4 + 64], wq2[MAXN * 4 + 64], xq[MAXN * 4 + 64], xq2[MAXN * 4 + 64],
    tmp[MAXN * 4 + 64];

static int max_level;

static void test_roundtrip(const tcase *c) {
    const pg_type_traits *s0 = pg_type_get_level(c->t, PG_CPU_SCALAR);
    REQUIRE(s0 && s0->to_float && s0->from_float);
    const int *lens = s0->blck_size == 1 ? lens_f : lens_q;
    int nl = s0->blck_size == 1 ? (int)(sizeof lens_f / sizeof *lens_f) : (int)(sizeof lens_q / sizeof *lens_q);
    for (int li = 0; li < nl; li++) {
        int n = lens[li];
        fill(xs, n);
        size_t rs = pg_row_size(c->t, n);
        REQUIRE(rs > 0 && rs <= sizeof tmp);
        s0->from_float(xs, tmp, n);
        s0->to_float(tmp, zs, n);
        for (int l = 0; l <= max_level; l++) {
            const pg_type_traits *tr = pg_type_get_level(c->t, (pg_cpu_level)l);
            memset(wq, 0xA5, rs + 8);
            tr->from_float(xs, wq, n);
            /* quantizers are bit-exact across levels (finite input) */
            CHECKF(memcmp(wq, tmp, rs) == 0, "%s level %s n=%d: from_float differs from scalar", s0->name,
                   pg_cpu_level_name((pg_cpu_level)l), n);
            CHECKF(wq[rs] == 0xA5, "%s: from_float wrote past the row", s0->name);
            ys[n] = 12345.0f;
            tr->to_float(wq, ys, n);
            CHECKF(ys[n] == 12345.0f, "%s: to_float wrote past the row", s0->name);
            CHECKF(memcmp(ys, zs, (size_t)n * sizeof(float)) == 0, "%s level %s n=%d: to_float differs from scalar",
                   s0->name, pg_cpu_level_name((pg_cpu_level)l), n);
            double e2 = 0, x2 = 0;
            for (int i = 0; i < n; i++) {
                double e = (double)ys[i] - xs[i];
                e2 += e * e;
                x2 += (double)xs[i] * xs[i];
            }
            double rel = sqrt(e2 / x2);
            CHECKF(rel <= c->rt_tol, "%s level %s n=%d: round-trip rel rms %.3g > %.3g", s0->name,
                   pg_cpu_level_name((pg_cpu_level)l), n, rel, c->rt_tol);
            if (getenv("PG_TEST_VERBOSE") && l == 0)
                fprintf(stderr, "  %s n=%d roundtrip rel rms %.4g\n", s0->name, n, rel);
        }
    }
}

/* Q4_1/Q5_1 dots use Q8_1's stored s = fp16(d*sum q) for the min term; the
 * exact reference replaces d*sum q by s per block. Returns the correction
 * and adds |m*s| terms to *mag. */
static double min_term_correction(pg_type t, const void *w, const void *x, int n, double *mag) {
    if (t != PG_TYPE_Q4_1 && t != PG_TYPE_Q5_1) return 0.0;
    const pg_type_traits *tr = pg_type_get_level(t, PG_CPU_SCALAR);
    const block_q8_1 *xb = x;
    double corr = 0;
    for (int b = 0; b < n / 32; b++) {
        uint16_t mh;
        memcpy(&mh, (const unsigned char *)w + (size_t)b * tr->type_size + 2, 2); /* d, m lead both */
        double m = pg_fp16_to_fp32(mh), s = pg_fp16_to_fp32(xb[b].s), d = pg_fp16_to_fp32(xb[b].d);
        int sq = 0;
        for (int j = 0; j < 32; j++) sq += xb[b].qs[j];
        corr += m * (s - d * sq);
        *mag += fabs(m * s);
    }
    return corr;
}

static void test_vec_dot(const tcase *c) {
    const pg_type_traits *s0 = pg_type_get_level(c->t, PG_CPU_SCALAR);
    if (!s0->vec_dot) return; /* Q8_1 is an activation format only */
    const pg_type_traits *a0 = pg_type_get_level(s0->vec_dot_type, PG_CPU_SCALAR);
    REQUIRE(a0 && a0->from_float && a0->to_float);
    const int *lens = s0->blck_size == 1 ? lens_f : lens_q;
    int nl = s0->blck_size == 1 ? (int)(sizeof lens_f / sizeof *lens_f) : (int)(sizeof lens_q / sizeof *lens_q);
    for (int li = 0; li < nl; li++) {
        int n = lens[li];
        fill(xs, n);
        fill(acts, n);
        size_t wrs = pg_row_size(c->t, n), xrs = pg_row_size(s0->vec_dot_type, n);
        s0->from_float(xs, wq, n);
        a0->from_float(acts, xq, n);
        s0->to_float(wq, wdq, n);
        a0->to_float(xq, xdq, n);
        double ref = 0, mag = 0;
        for (int i = 0; i < n; i++) {
            ref += (double)wdq[i] * xdq[i];
            mag += fabs((double)wdq[i] * xdq[i]);
        }
        ref += min_term_correction(c->t, wq, xq, n, &mag);
        /* the same rows 4 bytes further on (other alignment) */
        memcpy(wq2 + 4, wq, wrs);
        memcpy(xq2 + 4, xq, xrs);
        float scal = 0;
        s0->vec_dot(n, &scal, wq, xq);
        for (int l = 0; l <= max_level; l++) {
            const pg_type_traits *tr = pg_type_get_level(c->t, (pg_cpu_level)l);
            const char *ln = pg_cpu_level_name((pg_cpu_level)l);
            float r1 = -1, r2 = -2, r3 = -3;
            tr->vec_dot(n, &r1, wq, xq);
            tr->vec_dot(n, &r2, wq, xq);
            tr->vec_dot(n, &r3, wq2 + 4, xq2 + 4);
            double err = fabs(r1 - ref);
            CHECKF(err <= DOT_TOL * mag, "%s level %s n=%d: dot %.9g ref %.9g err %.3g > %.3g", s0->name, ln, n, r1, ref,
                   err, DOT_TOL * mag);
            CHECKF(fabs((double)r1 - scal) <= LEVEL_TOL * mag, "%s level %s n=%d: %.9g vs scalar %.9g", s0->name, ln, n,
                   r1, scal);
            CHECKF(memcmp(&r1, &r2, sizeof r1) == 0, "%s level %s n=%d: not deterministic", s0->name, ln, n);
            CHECKF(memcmp(&r1, &r3, sizeof r1) == 0, "%s level %s n=%d: depends on address", s0->name, ln, n);
            if (getenv("PG_TEST_VERBOSE"))
                fprintf(stderr, "  %s %s n=%d dot rel err %.3g\n", s0->name, ln, n, err / mag);
        }
    }
}

/* Hand-built blocks with values fixed by the formats. */
static void test_known_answers(void) {
    for (int l = 0; l <= max_level; l++) {
        pg_cpu_level L = (pg_cpu_level)l;
        float y[64];
        /* Q4_0: d = 1, byte j = j | (15-j)<<4 -> element j = j-8, element j+16 = 7-j */
        block_q4_0 q40[2];
        q40[0].d = pg_fp32_to_fp16(1.0f);
        for (int j = 0; j < 16; j++) q40[0].qs[j] = (uint8_t)(j | (15 - j) << 4);
        q40[1] = q40[0];
        q40[1].d = pg_fp32_to_fp16(-0.5f);
        pg_type_get_level(PG_TYPE_Q4_0, L)->to_float(q40, y, 64);
        for (int j = 0; j < 16; j++) {
            CHECK(y[j] == (float)(j - 8) && y[j + 16] == (float)(7 - j));
            CHECK(y[32 + j] == -0.5f * (float)(j - 8) && y[48 + j] == -0.5f * (float)(7 - j));
        }
        /* Q4_0 quantizer: values -8..7 with abs-max -8 give d = 1 exactly */
        float x[64];
        for (int j = 0; j < 32; j++) x[j] = (float)((j % 16) - 8);
        block_q4_0 qq;
        pg_type_get_level(PG_TYPE_Q4_0, L)->from_float(x, &qq, 32);
        CHECK(qq.d == 0x3C00);
        for (int j = 0; j < 16; j++) CHECK(qq.qs[j] == (uint8_t)(j | j << 4));
        /* Q4_1: d = 0.5, m = -1 -> q*0.5 - 1 */
        block_q4_1 q41;
        q41.d = pg_fp32_to_fp16(0.5f);
        q41.m = pg_fp32_to_fp16(-1.0f);
        for (int j = 0; j < 16; j++) q41.qs[j] = (uint8_t)(j | (15 - j) << 4);
        pg_type_get_level(PG_TYPE_Q4_1, L)->to_float(&q41, y, 32);
        for (int j = 0; j < 16; j++) CHECK(y[j] == 0.5f * j - 1.0f && y[j + 16] == 0.5f * (15 - j) - 1.0f);
        /* Q5_0: d = 1; qh bit k = 5th bit of element k; value q - 16 */
        block_q5_0 q50;
        q50.d = pg_fp32_to_fp16(1.0f);
        uint32_t qh = 0xA5C3F00Fu;
        memcpy(q50.qh, &qh, 4);
        for (int j = 0; j < 16; j++) q50.qs[j] = (uint8_t)(j | (15 - j) << 4);
        pg_type_get_level(PG_TYPE_Q5_0, L)->to_float(&q50, y, 32);
        for (int k = 0; k < 32; k++) {
            int lo = k < 16 ? k : 15 - (k - 16);
            int q = lo | (int)((qh >> k) & 1) << 4;
            CHECKF(y[k] == (float)(q - 16), "q5_0 element %d: %g != %d", k, y[k], q - 16);
        }
        /* Q5_1: d = 2, m = 0.25 */
        block_q5_1 q51;
        q51.d = pg_fp32_to_fp16(2.0f);
        q51.m = pg_fp32_to_fp16(0.25f);
        memcpy(q51.qh, &qh, 4);
        memcpy(q51.qs, q50.qs, 16);
        pg_type_get_level(PG_TYPE_Q5_1, L)->to_float(&q51, y, 32);
        for (int k = 0; k < 32; k++) {
            int lo = k < 16 ? k : 15 - (k - 16);
            int q = lo | (int)((qh >> k) & 1) << 4;
            CHECK(y[k] == 2.0f * q + 0.25f);
        }
        /* Q8_0 / Q8_1: d*q; quantizer of -31..31 (amax 31 -> 127) */
        block_q8_0 q80;
        q80.d = pg_fp32_to_fp16(0.125f);
        for (int j = 0; j < 32; j++) q80.qs[j] = (int8_t)(j * 8 - 127);
        pg_type_get_level(PG_TYPE_Q8_0, L)->to_float(&q80, y, 32);
        for (int j = 0; j < 32; j++) CHECK(y[j] == 0.125f * (j * 8 - 127));
        for (int j = 0; j < 32; j++) x[j] = (float)(2 * j - 31);
        block_q8_1 q81;
        pg_type_get_level(PG_TYPE_Q8_1, L)->from_float(x, &q81, 32);
        CHECK(q81.d == pg_fp32_to_fp16(31.0f / 127.0f));
        int sum = 0;
        for (int j = 0; j < 32; j++) {
            int want = (int)roundf((float)(2 * j - 31) * (1.0f / (31.0f / 127.0f)));
            CHECKF(q81.qs[j] == want, "q8_1 q[%d] = %d, want %d", j, q81.qs[j], want);
            sum += q81.qs[j];
        }
        CHECK(q81.qs[0] == -127 && q81.qs[31] == 127 && sum == 0 && q81.s == pg_fp32_to_fp16(0.0f));
        /* Q8 rounds half away from zero: 0.5 steps land on ties */
        for (int j = 0; j < 32; j++) x[j] = j == 0 ? 127.0f : (float)(j % 8) - 3.5f;
        pg_type_get_level(PG_TYPE_Q8_0, L)->from_float(x, &q80, 32);
        CHECK(q80.d == pg_fp32_to_fp16(1.0f));
        for (int j = 1; j < 32; j++) CHECK(q80.qs[j] == (int)roundf((float)(j % 8) - 3.5f));
        /* IQ4_NL: d = 1 -> the table itself */
        block_iq4_nl nl;
        nl.d = pg_fp32_to_fp16(1.0f);
        for (int j = 0; j < 16; j++) nl.qs[j] = (uint8_t)(j | (15 - j) << 4);
        pg_type_get_level(PG_TYPE_IQ4_NL, L)->to_float(&nl, y, 32);
        static const int8_t tab[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};
        for (int j = 0; j < 16; j++) CHECK(y[j] == tab[j] && y[j + 16] == tab[15 - j]);
        /* vec_dot: Q4_0 block (d=1, nibbles as above) . Q8_0 all-ones, d=2 */
        block_q8_0 ones[2];
        for (int b = 0; b < 2; b++) {
            ones[b].d = pg_fp32_to_fp16(2.0f);
            for (int j = 0; j < 32; j++) ones[b].qs[j] = (int8_t)(j + 1);
        }
        int want = 0;
        for (int j = 0; j < 16; j++) want += (j - 8) * (j + 1) + (7 - j) * (j + 17);
        float s = 0;
        pg_type_get_level(PG_TYPE_Q4_0, L)->vec_dot(32, &s, q40, ones);
        CHECKF(s == 2.0f * want, "q4_0 dot %g want %d", s, 2 * want);
        pg_type_get_level(PG_TYPE_Q4_0, L)->vec_dot(64, &s, q40, ones);
        CHECKF(s == 2.0f * want - 1.0f * want, "q4_0 dot2 %g want %d", s, want);
        /* Q8_0 . Q8_0 with a -128 weight (allowed in weights) */
        block_q8_0 w8;
        w8.d = pg_fp32_to_fp16(1.0f);
        for (int j = 0; j < 32; j++) w8.qs[j] = (int8_t)(j == 5 ? -128 : (j % 2 ? 127 : -127));
        want = 0;
        for (int j = 0; j < 32; j++) want += w8.qs[j] * ones[0].qs[j];
        pg_type_get_level(PG_TYPE_Q8_0, L)->vec_dot(32, &s, &w8, ones);
        CHECKF(s == 2.0f * want, "q8_0 dot %g want %d", s, 2 * want);
        /* F16 / BF16 known halves */
        uint16_t h[6] = {0x3C00, 0xC000, 0x7BFF, 0x0001, 0x8000, 0x3555};
        float hf[6];
        pg_type_get_level(PG_TYPE_F16, L)->to_float(h, hf, 6);
        CHECK(hf[0] == 1.0f && hf[1] == -2.0f && hf[2] == 65504.0f && hf[3] == ldexpf(1.0f, -24));
        CHECK(hf[4] == 0.0f && signbit(hf[4]) && hf[5] == 0.333251953125f);
        uint16_t b16[2] = {0x3F80, 0xC0A0};
        pg_type_get_level(PG_TYPE_BF16, L)->to_float(b16, hf, 2);
        CHECK(hf[0] == 1.0f && hf[1] == -5.0f);
    }
}

#if defined(__x86_64__)
__attribute__((target("f16c"))) static uint16_t f16c_round(float f) {
    return (uint16_t)_cvtss_sh(f, _MM_FROUND_TO_NEAREST_INT);
}
#endif

static void test_fp16(void) {
    static uint16_t all[65536], back[65536];
    static float f[65536], g[65536];
    for (int i = 0; i < 65536; i++) all[i] = (uint16_t)i;
    for (int i = 0; i < 65536; i++) {
        float v = pg_fp16_to_fp32(all[i]);
        uint16_t r = pg_fp32_to_fp16(v);
        if (isnan(v)) CHECK((r & 0x7c00) == 0x7c00 && (r & 0x3ff));
        else CHECKF(r == all[i], "half %04x -> %g -> %04x", i, v, r);
    }
    pg_float_kernels_get(PG_CPU_SCALAR)->fp16_to_fp32(all, f, 65536);
    for (int l = 0; l <= max_level; l++) {
        const pg_float_kernels *k = pg_float_kernels_get((pg_cpu_level)l);
        k->fp16_to_fp32(all, g, 65536);
        int bad = 0;
        for (int i = 0; i < 65536; i++) {
            if (isnan(f[i])) bad += !isnan(g[i]);
            else bad += memcmp(&f[i], &g[i], 4) != 0;
        }
        CHECKF(bad == 0, "fp16_to_fp32 level %d: %d mismatches", l, bad);
        k->fp32_to_fp16(f, back, 65536);
        bad = 0;
        for (int i = 0; i < 65536; i++) bad += isnan(f[i]) ? (back[i] & 0x7fff) <= 0x7c00 : back[i] != all[i];
        CHECKF(bad == 0, "fp32_to_fp16 level %d: %d mismatches", l, bad);
    }
    /* random floats over the half range and beyond, incl. ties */
    static float rf[20000];
    static uint16_t h0[20000], h1[20000];
    for (int i = 0; i < 20000; i++) {
        uint32_t u = (uint32_t)rnd();
        int e = 127 - 27 + (int)(rnd() % 46); /* 2^-27 .. 2^18 */
        u = (u & 0x807fffffu) | (uint32_t)e << 23;
        if (i % 4 == 0) u &= ~0xfffu; /* many exact ties at the rounding bit */
        rf[i] = pg_bits_to_f32(u);
    }
    pg_float_kernels_get(PG_CPU_SCALAR)->fp32_to_fp16(rf, h0, 20000);
    for (int i = 0; i < 20000; i++) CHECK(h0[i] == pg_fp32_to_fp16(rf[i]));
#if defined(__x86_64__)
    if (pg_cpu_detect()->f16c) {
        int bad = 0;
        for (int i = 0; i < 20000; i++) bad += h0[i] != f16c_round(rf[i]);
        CHECKF(bad == 0, "pg_fp32_to_fp16 vs F16C: %d mismatches", bad);
    }
#endif
    for (int l = 1; l <= max_level; l++) {
        pg_float_kernels_get((pg_cpu_level)l)->fp32_to_fp16(rf, h1, 20000);
        CHECKF(memcmp(h0, h1, sizeof h0) == 0, "fp32_to_fp16 row level %d differs", l);
    }
}

static void test_float_helpers(void) {
    for (int li = 0; li < (int)(sizeof lens_f / sizeof *lens_f); li++) {
        int n = lens_f[li];
        fill(xs, n + 1);
        fill(acts, n + 1);
        double ref = 0, mag = 0;
        for (int i = 0; i < n; i++) {
            ref += (double)xs[i] * acts[i];
            mag += fabs((double)xs[i] * acts[i]);
        }
        /* copies one float further on (other alignment) */
        memcpy(ys + 1, xs, (size_t)n * 4);
        memcpy(zs + 1, acts, (size_t)n * 4);
        for (int l = 0; l <= max_level; l++) {
            const pg_float_kernels *k = pg_float_kernels_get((pg_cpu_level)l);
            float d1 = k->dot(xs, acts, n), d2 = k->dot(ys + 1, zs + 1, n);
            CHECKF(fabs(d1 - ref) <= DOT_TOL * mag, "dot_f32 level %d n=%d: %g vs %g", l, n, d1, ref);
            CHECKF(memcmp(&d1, &d2, 4) == 0, "dot_f32 level %d n=%d depends on address", l, n);
            /* axpy: y += a*x against double; untouched past n */
            float a = 0.75f;
            memcpy(wdq, acts, (size_t)(n + 1) * 4);
            k->axpy(wdq, a, xs, n);
            int bad = 0;
            for (int i = 0; i < n; i++) {
                double want = (double)acts[i] + (double)a * xs[i];
                if (fabs(wdq[i] - want) > 1.2e-7 * (fabs(acts[i]) + fabs(a * xs[i]))) bad++;
            }
            CHECKF(bad == 0 && wdq[n] == acts[n], "axpy level %d n=%d: %d bad", l, n, bad);
        }
    }
    /* public entry points follow the current level */
    pg_cpu_level saved = pg_cpu_level_get();
    for (int l = 0; l <= max_level; l++) {
        pg_cpu_level_set((pg_cpu_level)l);
        int n = 1000;
        CHECK(pg_dot_f32(xs, acts, n) == pg_float_kernels_get((pg_cpu_level)l)->dot(xs, acts, n));
        const pg_type_traits *t = pg_type_get(PG_TYPE_F32), *tl = pg_type_get_level(PG_TYPE_F32, (pg_cpu_level)l);
        CHECK(t->vec_dot == tl->vec_dot);
        float s = 0;
        t->vec_dot(n, &s, xs, acts);
        CHECK(s == pg_dot_f32(xs, acts, n));
    }
    pg_cpu_level_set(saved);
}

int main(void) {
    max_level = pg_cpu_level_max();
    fprintf(stderr, "levels: scalar..%s\n", pg_cpu_level_name((pg_cpu_level)max_level));
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const pg_type_traits *t = pg_type_get_level(cases[i].t, PG_CPU_SCALAR);
        REQUIRE(t != NULL);
        test_roundtrip(&cases[i]);
        test_vec_dot(&cases[i]);
    }
    test_known_answers();
    test_fp16();
    test_float_helpers();
    return t_done("test_kernels_legacy");
}
