/* test_kernels_kquants.c - K-quant kernels (Q2_K..Q6_K, IQ4_XS, Q8_K) at
 * every dispatch level the CPU supports:
 *   1. quantize -> dequantize round trip (relative RMS error per type);
 *   2. vec_dot vs a double dot of dequantized weights and activations;
 *   3. SIMD levels vs scalar; 4. determinism (repeat, other alignment);
 *   5. known answers from hand-built blocks (scale packing, bit positions);
 *   6. random-byte blocks: every level's vec_dot vs dequantize-then-dot;
 *   plus Q8_K quantization checked byte for byte against an independent
 *   implementation of ggml's reference rule. */
#include "test.h"

#include "gguf/gguf.h"
#include "tensor/blocks.h"
#include "tensor/fp16.h"
#include "tensor/types.h"

#include <stdint.h>

/* ------------------------------------------------------------ utilities */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t rng_next(void) {
    uint64_t x = rng_state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    rng_state = x;
    return x * 0x2545f4914f6cdd1dull;
}
static float rng_unif(void) { return (float)((rng_next() >> 40) * (1.0 / 16777216.0)); } /* [0,1) */
static float rng_gauss(void) { /* sum of 4 uniforms, unit variance */
    float s = 0;
    for (int i = 0; i < 4; i++) s += rng_unif();
    return (s - 2.0f) * 1.7320508f;
}

static void fill_data(float *x, int n, float scale) {
    for (int i = 0; i < n; i++) {
        float v = rng_gauss() * scale;
        if (rng_next() % 97 == 0) v *= 4; /* a few outliers */
        x[i] = v;
    }
}

static const int ROWS[] = {256, 4096, 11008}; /* 11008 = 43 * 256 */
#define NROWS 3
#define NMAX 11008

typedef struct {
    pg_type type;
    double rms_tol; /* quantize/dequantize RMS error / data RMS */
} tcase;

/* Tolerances sized for the simple quantizers (measured errors are ~70% of these). */
static const tcase CASES[] = {
    {PG_TYPE_Q2_K, 0.42}, {PG_TYPE_Q3_K, 0.24}, {PG_TYPE_Q4_K, 0.11},
    {PG_TYPE_Q5_K, 0.055}, {PG_TYPE_Q6_K, 0.028}, {PG_TYPE_IQ4_XS, 0.12},
};
#define NCASES (int)(sizeof(CASES) / sizeof(CASES[0]))
static const double Q8K_RMS_TOL = 0.02; /* outliers (x4) widen the block scale */
static const double DOT_TOL = 2e-5;  /* vec_dot vs double dot, relative to sum|w*x| */
static const double SIMD_TOL = 2e-6; /* SIMD vs scalar, relative to sum|w*x| */

static int max_level;

static double dot_ref(const float *w, const float *x, int n, double *absum) {
    double s = 0, a = 0;
    for (int i = 0; i < n; i++) {
        s += (double)w[i] * x[i];
        a += fabs((double)w[i] * x[i]);
    }
    *absum = a;
    return s;
}

static int same_bits(float a, float b) { return memcmp(&a, &b, sizeof a) == 0; }

/* -------------------------------------------- Q8_K vs ggml's reference rule */

/* Independent statement of ggml's rule: amax and the first signed max,
 * iscale = -127/max, q = min(127, round-half-even(iscale*x)), d = 1/iscale. */
static void q8k_expected(const float *x, block_q8_K *y) {
    float amax = 0, max = 0;
    for (int l = 0; l < QK_K; l++)
        if (fabsf(x[l]) > amax) {
            amax = fabsf(x[l]);
            max = x[l];
        }
    memset(y, 0, sizeof *y);
    if (amax == 0) return;
    float iscale = -127.f / max;
    for (int l = 0; l < QK_K; l++) {
        float p = iscale * x[l];
        long v = lrintf(p); /* default rounding mode: nearest even */
        y->qs[l] = (int8_t)(v > 127 ? 127 : v);
    }
    for (int j = 0; j < 16; j++) {
        int s = 0;
        for (int l = 0; l < 16; l++) s += y->qs[16 * j + l];
        y->bsums[j] = (int16_t)s;
    }
    y->d = 1 / iscale;
}

static void test_q8k(void) {
    static float x[NMAX];
    static block_q8_K want[NMAX / QK_K], got[NMAX / QK_K];
    for (int r = 0; r < NROWS; r++) {
        int n = ROWS[r], nb = n / QK_K;
        fill_data(x, n, 0.7f);
        /* edge blocks: all zero, ties between +a and -a, exact .5 products */
        if (nb >= 4) {
            memset(x, 0, QK_K * sizeof(float));
            x[QK_K + 3] = -50.0f; /* first of two equal magnitudes wins */
            x[QK_K + 9] = 50.0f;
            x[2 * QK_K + 17] = 127.0f;
            for (int l = 0; l < QK_K; l++) x[2 * QK_K + l] = (l == 17) ? 127.0f : (float)(l % 64) - 31.5f;
            x[3 * QK_K + 200] = 1e-30f; /* tiny scale */
        }
        for (int b = 0; b < nb; b++) q8k_expected(x + b * QK_K, &want[b]);
        for (int lv = 0; lv <= max_level; lv++) {
            const pg_type_traits *t = pg_type_get_level(PG_TYPE_Q8_K, lv);
            REQUIRE(t && t->from_float && t->to_float);
            memset(got, 0x5a, sizeof got);
            t->from_float(x, got, n);
            CHECKF(memcmp(got, want, (size_t)nb * sizeof(block_q8_K)) == 0, "q8_K n=%d level %s differs from reference", n,
                   pg_cpu_level_name(lv));
            /* round trip */
            static float y[NMAX];
            t->to_float(got, y, n);
            double e = 0, s = 0;
            for (int i = QK_K * 4 < n ? 4 * QK_K : 0; i < n; i++) {
                e += (double)(y[i] - x[i]) * (y[i] - x[i]);
                s += (double)x[i] * x[i];
            }
            CHECKF(sqrt(e / s) < Q8K_RMS_TOL, "q8_K rms %g", sqrt(e / s));
        }
    }
    /* non-finite input: garbage out, but the same garbage at every level */
    {
        static float xn[3 * QK_K];
        static block_q8_K r0[3], rl[3];
        fill_data(xn, 3 * QK_K, 1.0f);
        xn[7] = NAN;
        xn[QK_K + 100] = INFINITY;
        xn[2 * QK_K + 5] = -NAN;
        xn[2 * QK_K + 6] = 1e30f;
        pg_type_get_level(PG_TYPE_Q8_K, PG_CPU_SCALAR)->from_float(xn, r0, 3 * QK_K);
        for (int lv = 1; lv <= max_level; lv++) {
            pg_type_get_level(PG_TYPE_Q8_K, lv)->from_float(xn, rl, 3 * QK_K);
            for (int b = 0; b < 3; b++) {
                CHECKF(memcmp(r0[b].qs, rl[b].qs, QK_K) == 0 && memcmp(r0[b].bsums, rl[b].bsums, 32) == 0,
                       "q8_K non-finite block %d differs at %s", b, pg_cpu_level_name(lv));
                CHECK(same_bits(r0[b].d, rl[b].d) || (isnan(r0[b].d) && isnan(rl[b].d)));
            }
        }
    }
    /* unaligned source and destination give the same bytes */
    static _Alignas(64) float xs[QK_K * 2 + 1];
    static _Alignas(64) unsigned char buf[sizeof(block_q8_K) * 2 + 4];
    fill_data(xs + 1, 2 * QK_K, 3.0f);
    block_q8_K w2[2];
    q8k_expected(xs + 1, &w2[0]);
    q8k_expected(xs + 1 + QK_K, &w2[1]);
    for (int lv = 0; lv <= max_level; lv++) {
        pg_type_get_level(PG_TYPE_Q8_K, lv)->from_float(xs + 1, buf + 4, 2 * QK_K);
        CHECK(memcmp(buf + 4, w2, sizeof w2) == 0);
    }
}

/* --------------------------------------- round trip, vec_dot, SIMD, determinism */

static void test_type(const tcase *c) {
    static float x[NMAX], a[NMAX], wd[NMAX], ad[NMAX];
    static _Alignas(64) unsigned char wq[NMAX * 2], aq[sizeof(block_q8_K) * (NMAX / QK_K)];
    static _Alignas(64) unsigned char wq2[NMAX * 2 + 64], aq2[sizeof(block_q8_K) * (NMAX / QK_K) + 64];
    const pg_type_traits *s0 = pg_type_get_level(c->type, PG_CPU_SCALAR);
    const pg_type_traits *q8 = pg_type_get_level(PG_TYPE_Q8_K, PG_CPU_SCALAR);
    REQUIRE(s0 && s0->to_float && s0->from_float && s0->vec_dot && s0->vec_dot_type == PG_TYPE_Q8_K);
    for (int r = 0; r < NROWS; r++) {
        int n = ROWS[r];
        size_t wsz = pg_row_size(c->type, n), asz = pg_row_size(PG_TYPE_Q8_K, n);
        REQUIRE(wsz <= sizeof wq && asz <= sizeof aq);
        fill_data(x, n, 0.05f);
        fill_data(a, n, 1.0f);
        q8->from_float(a, aq, n);
        q8->to_float(aq, ad, n);
        float scalar_dot = 0;
        for (int lv = 0; lv <= max_level; lv++) {
            const pg_type_traits *t = pg_type_get_level(c->type, lv);
            const char *ln = pg_cpu_level_name(lv);
            /* (1) round trip with this level's quantizer and dequantizer */
            t->from_float(x, wq, n);
            t->to_float(wq, wd, n);
            double e = 0, ss = 0;
            for (int i = 0; i < n; i++) {
                e += (double)(wd[i] - x[i]) * (wd[i] - x[i]);
                ss += (double)x[i] * x[i];
            }
            double rel = sqrt(e / ss);
            CHECKF(rel < c->rms_tol, "%s %s n=%d rms %g > %g", s0->name, ln, n, rel, c->rms_tol);
            if (n == 4096 && lv == 0) fprintf(stderr, "  %-7s rms rel error %.4f (tol %.3f)\n", s0->name, rel, c->rms_tol);
            /* dequantization must agree with scalar's bit for bit */
            static float wd0[NMAX];
            s0->to_float(wq, wd0, n);
            CHECKF(memcmp(wd0, wd, (size_t)n * sizeof(float)) == 0, "%s %s to_float differs from scalar", s0->name, ln);
            /* (2) vec_dot vs double dot of the dequantized rows; use the
             * scalar quantizer's blocks so that levels see the same input */
            s0->from_float(x, wq, n);
            s0->to_float(wq, wd, n);
            double absum, want = dot_ref(wd, ad, n, &absum);
            float got;
            t->vec_dot(n, &got, wq, aq);
            CHECKF(fabs(got - want) <= DOT_TOL * absum, "%s %s n=%d dot %.9g want %.9g (sum|wx| %g)", s0->name, ln, n,
                   got, want, absum);
            /* (3) SIMD vs scalar */
            if (lv == 0)
                scalar_dot = got;
            else
                CHECKF(fabs(got - scalar_dot) <= SIMD_TOL * absum, "%s %s n=%d simd %.9g scalar %.9g", s0->name, ln, n,
                       got, scalar_dot);
            /* (4) determinism: repeat, and the same bytes at other addresses */
            float again;
            t->vec_dot(n, &again, wq, aq);
            CHECK(same_bits(got, again));
            memcpy(wq2 + 2, wq, wsz); /* other (still naturally aligned) addresses */
            memcpy(aq2 + 4, aq, asz);
            t->vec_dot(n, &again, wq2 + 2, aq2 + 4);
            CHECKF(same_bits(got, again), "%s %s unaligned result differs", s0->name, ln);
        }
    }
}

/* ------------------------------------------------------- (6) random bytes */

static void random_q8k(block_q8_K *y, int nb) {
    for (int b = 0; b < nb; b++) {
        y[b].d = 0.001f + rng_unif() * 0.02f;
        for (int l = 0; l < QK_K; l++) y[b].qs[l] = (int8_t)(rng_next() & 0xff); /* full int8 range */
        for (int j = 0; j < 16; j++) {
            int s = 0;
            for (int l = 0; l < 16; l++) s += y[b].qs[16 * j + l];
            y[b].bsums[j] = (int16_t)s;
        }
    }
}

static uint16_t random_fp16(void) { return pg_fp32_to_fp16((rng_unif() * 2 - 1) * 0.1f); }

static void test_random_bytes(const tcase *c) {
    enum { NB = 16 };
    static _Alignas(64) unsigned char w[NB * 256];
    static block_q8_K y[NB];
    static float wd[NB * QK_K], yd[NB * QK_K];
    const pg_type_traits *s0 = pg_type_get_level(c->type, PG_CPU_SCALAR);
    size_t bs = s0->type_size;
    for (int iter = 0; iter < 20; iter++) {
        for (size_t i = 0; i < NB * bs; i++) w[i] = (unsigned char)rng_next();
        for (int b = 0; b < NB; b++) { /* finite fp16 scales */
            unsigned char *blk = w + b * bs;
            uint16_t d = random_fp16(), dm = random_fp16();
            switch (c->type) {
            case PG_TYPE_Q2_K: memcpy(blk + 80, &d, 2); memcpy(blk + 82, &dm, 2); break;
            case PG_TYPE_Q3_K: memcpy(blk + 108, &d, 2); break;
            case PG_TYPE_Q4_K:
            case PG_TYPE_Q5_K: memcpy(blk + 0, &d, 2); memcpy(blk + 2, &dm, 2); break;
            case PG_TYPE_Q6_K: memcpy(blk + 208, &d, 2); break;
            case PG_TYPE_IQ4_XS: memcpy(blk + 0, &d, 2); break;
            default: REQUIRE(0);
            }
        }
        random_q8k(y, NB);
        int n = NB * QK_K;
        s0->to_float(w, wd, n);
        pg_type_get_level(PG_TYPE_Q8_K, PG_CPU_SCALAR)->to_float(y, yd, n);
        double absum, want = dot_ref(wd, yd, n, &absum);
        for (int lv = 0; lv <= max_level; lv++) {
            float got;
            pg_type_get_level(c->type, lv)->vec_dot(n, &got, w, y);
            CHECKF(fabs(got - want) <= DOT_TOL * absum, "%s random bytes %s: dot %.9g want %.9g (sum|wx| %g)", s0->name,
                   pg_cpu_level_name(lv), got, want, absum);
            float wl[NB * QK_K];
            pg_type_get_level(c->type, lv)->to_float(w, wl, n);
            CHECKF(memcmp(wl, wd, sizeof wl) == 0, "%s random bytes %s: to_float differs", s0->name, pg_cpu_level_name(lv));
        }
    }
}

/* --------------------------------------------------------- (5) known answers */

/* Dequantize one block at every level; all must equal want[] exactly. Then
 * dot it with a small-integer activation block (exact in float). */
static void check_block(pg_type type, const void *blk, const float *want, const char *what) {
    block_q8_K y;
    y.d = 1.0f;
    for (int l = 0; l < QK_K; l++) y.qs[l] = (int8_t)((l * 7) % 11 - 5);
    for (int j = 0; j < 16; j++) {
        int s = 0;
        for (int l = 0; l < 16; l++) s += y.qs[16 * j + l];
        y.bsums[j] = (int16_t)s;
    }
    double exact = 0;
    for (int l = 0; l < QK_K; l++) exact += (double)want[l] * y.qs[l];
    for (int lv = 0; lv <= max_level; lv++) {
        const pg_type_traits *t = pg_type_get_level(type, lv);
        float got[QK_K];
        t->to_float(blk, got, QK_K);
        int bad = -1;
        for (int l = 0; l < QK_K; l++)
            if (got[l] != want[l]) {
                bad = l;
                break;
            }
        CHECKF(bad < 0, "%s %s %s: element %d = %g, want %g", t->name, pg_cpu_level_name(lv), what, bad,
               bad >= 0 ? got[bad] : 0.0, bad >= 0 ? want[bad] : 0.0);
        float s;
        t->vec_dot(QK_K, &s, blk, &y);
        CHECKF(s == (float)exact, "%s %s %s: dot %g want %g", t->name, pg_cpu_level_name(lv), what, s, exact);
    }
}

#define H_ONE 0x3c00  /* 1.0 */
#define H_HALF 0x3800 /* 0.5 */

static void test_known_q4k(void) {
    block_q4_K b;
    b.d = H_ONE;
    b.dmin = H_HALF;
    const uint8_t sb[12] = {0x41, 0x82, 0xC3, 0x04, 0x85, 0xC6, 0x07, 0x48, 0x9A, 0xBC, 0xDE, 0xF1};
    /* decoded by hand from the 6-bit packing */
    const int sc[8] = {1, 2, 3, 4, 26, 44, 62, 1};
    const int mn[8] = {5, 6, 7, 8, 41, 59, 13, 31};
    memcpy(b.scales, sb, 12);
    for (int i = 0; i < 128; i++) b.qs[i] = (uint8_t)((i & 15) | ((15 - (i % 13)) << 4));
    float want[QK_K];
    for (int e = 0; e < QK_K; e++) {
        int c = e / 64, r = e % 64, l = r % 32;
        int q = r < 32 ? ((32 * c + l) & 15) : 15 - ((32 * c + l) % 13);
        int j = 2 * c + (r >= 32);
        want[e] = (float)(sc[j] * q) - 0.5f * (float)mn[j];
    }
    check_block(PG_TYPE_Q4_K, &b, want, "packed scales");

    /* Q5_K: same scales; the fifth bit of element 32j + l is bit j of qh[l] */
    block_q5_K b5;
    b5.d = H_ONE;
    b5.dmin = H_HALF;
    memcpy(b5.scales, sb, 12);
    memcpy(b5.qs, b.qs, 128);
    for (int l = 0; l < 32; l++) b5.qh[l] = (uint8_t)(0xA5 ^ (l * 3));
    for (int e = 0; e < QK_K; e++) {
        int j = e / 32, l = e % 32;
        int hb = ((0xA5 ^ (l * 3)) >> j) & 1;
        int c = e / 64, r = e % 64;
        int q = r < 32 ? ((32 * c + l) & 15) : 15 - ((32 * c + l) % 13);
        want[e] = (float)(sc[j] * (q + 16 * hb)) - 0.5f * (float)mn[j];
    }
    check_block(PG_TYPE_Q5_K, &b5, want, "qh bits");
}

static void test_known_q3k(void) {
    block_q3_K b;
    const uint8_t sb[12] = {0x10, 0x32, 0x54, 0x76, 0x98, 0xBA, 0xDC, 0xFE, 0xE4, 0x1B, 0x00, 0xFF};
    const int sc[16] = {-32, 18, -28, 22, -8, 10, -20, 30, 1, -13, -27, 23, 25, -21, -19, 31};
    memcpy(b.scales, sb, 12);
    b.d = H_ONE;
    memset(b.hmask, 0xff, 32); /* high bit set: no -4 */
    memset(b.qs, 0x55, 64);    /* every 2-bit field = 1 */
    float want[QK_K];
    for (int e = 0; e < QK_K; e++) want[e] = (float)sc[e / 16];
    check_block(PG_TYPE_Q3_K, &b, want, "6-bit scales");
    /* bit probes: low bits of element 128h + 32k + l at byte 32h + l, bit 2k;
     * its high bit at hmask[l] bit 4h + k (cleared -> -4) */
    memset(b.qs, 0, 64);
    b.qs[32 + 5] = 3 << 4;        /* h=1, l=5, k=2 -> element 197 = 3 */
    b.hmask[7] &= (uint8_t)~(1 << 5); /* h=1, k=1, l=7 -> element 167 -> -4 */
    for (int e = 0; e < QK_K; e++) want[e] = 0;
    want[197] = 3.0f * (float)sc[197 / 16];
    want[167] = -4.0f * (float)sc[167 / 16];
    check_block(PG_TYPE_Q3_K, &b, want, "bit probes");
}

static void test_known_q2k(void) {
    block_q2_K b;
    b.d = H_ONE;
    b.dmin = H_HALF;
    for (int j = 0; j < 16; j++) b.scales[j] = (uint8_t)((15 - j) | (j << 4)); /* sc = 15 - j, m = j */
    memset(b.qs, 0, 64);
    b.qs[3] = 2 << 6;       /* h=0, k=3, l=3 -> element 99 = 2 */
    b.qs[32 + 20] = 3 << 2; /* h=1, k=1, l=20 -> element 180 = 3 */
    float want[QK_K];
    for (int e = 0; e < QK_K; e++) want[e] = -0.5f * (float)(e / 16);
    want[99] += 2.0f * (float)(15 - 99 / 16);
    want[180] += 3.0f * (float)(15 - 180 / 16);
    check_block(PG_TYPE_Q2_K, &b, want, "scale/min nibbles + bit probes");
}

static void test_known_q6k(void) {
    block_q6_K b;
    b.d = H_HALF;
    for (int j = 0; j < 16; j++) b.scales[j] = (int8_t)(j * 9 - 70);
    memset(b.ql, 0, sizeof b.ql);
    memset(b.qh, 0, sizeof b.qh);
    /* probes: (element, u) */
    b.ql[0] = 0x0f;           /* element 0 low 4 bits = 15 */
    b.qh[0] = 0x03;           /* element 0 bits 4-5 = 3 -> u = 63 */
    b.ql[10] = 0x70;          /* element 64+10 low 4 = 7 */
    b.qh[10] = 0x80;          /* element 96+10 bits = 2 -> 32 */
    b.ql[64 + 40] = 0x09;     /* h=1, ql[l+32] with l=8: element 128+32+8 = 168 low = 9 */
    b.qh[32 + 8] = 0x04;      /* h=1, l=8 bits 2-3 = 1 -> element 168 += 16 */
    b.ql[64 + 63] = 0xa0;     /* h=1, l=31 high of ql[l+32]: element 128+96+31 = 255 = 10 */
    float want[QK_K];
    int u[QK_K];
    for (int e = 0; e < QK_K; e++) u[e] = 0;
    u[0] = 63;
    u[74] = 7;
    u[106] = 32;
    u[168] = 25;
    u[255] = 10;
    for (int e = 0; e < QK_K; e++) want[e] = 0.5f * (float)((e / 16) * 9 - 70) * (float)(u[e] - 32);
    check_block(PG_TYPE_Q6_K, &b, want, "ql/qh probes");
}

static void test_known_iq4xs(void) {
    static const int kv[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};
    block_iq4_xs b;
    b.d = H_HALF;
    /* scales (6 bits, +32): low nibbles in scales_l (two per byte, even
     * sub-block low), top 2 bits in scales_h (2 per sub-block) */
    b.scales_l[0] = 0x21; /* ib0 lo 1, ib1 lo 2 */
    b.scales_l[1] = 0x43;
    b.scales_l[2] = 0x65;
    b.scales_l[3] = 0xf7;
    b.scales_h = 0x1b | (0x3u << 14) | (0x2u << 8); /* ib0 hi 3, ib1 2, ib2 1, ib3 0, ib4 2, ib7 3 */
    const int ls[8] = {1 | 48, 2 | 32, 3 | 16, 4, 5 | 32, 6, 7, 15 | 48};
    for (int i = 0; i < 128; i++) b.qs[i] = (uint8_t)((i * 5) & 0xff);
    float want[QK_K];
    for (int e = 0; e < QK_K; e++) {
        int ib = e / 32, r = e % 32;
        int byte = (16 * ib + r % 16) * 5 & 0xff;
        int nib = r < 16 ? (byte & 15) : (byte >> 4);
        want[e] = 0.5f * (float)(ls[ib] - 32) * (float)kv[nib];
    }
    check_block(PG_TYPE_IQ4_XS, &b, want, "scales_h/scales_l + nibbles");
}

/* ------------------------------------------- (7) real tensors from ggml */

/* The syn-a models hold the same weights in f16 and in K-quant files made by
 * ggml's quantizer: dequantizing a K-quant tensor must land near the f16
 * tensor (a misread layout gives noise), and every level's vec_dot on the
 * real blocks must match dequantize-then-dot. Skipped without test data. */
static int f16_row(const pg_gguf_tensor *t, int64_t row, float *out) {
    int64_t n = t->ne[0];
    if (t->type == PG_TYPE_F16) {
        const uint16_t *h = (const uint16_t *)t->data + row * n;
        for (int64_t i = 0; i < n; i++) out[i] = pg_fp16_to_fp32(h[i]);
        return 1;
    }
    if (t->type == PG_TYPE_F32) {
        memcpy(out, (const float *)t->data + row * n, (size_t)n * sizeof(float));
        return 1;
    }
    return 0;
}

static void test_golden(void) {
    const char *dir = t_testdata();
    char path[1024];
    pg_gguf *ref = NULL;
    if (dir) {
        snprintf(path, sizeof path, "%s/models/syn-a-f16.gguf", dir);
        if (pg_gguf_open(path, &ref, NULL) != 0) ref = NULL;
    }
    if (!ref) {
        fprintf(stderr, "  note: syn-a models not found (PAGODA_TESTDATA); real-tensor check skipped\n");
        return;
    }
    static const char *files[] = {"q2_k", "q3_k_m", "q4_k_m", "q5_k_m", "q6_k", "iq4_xs"};
    int seen[PG_TYPE_COUNT] = {0};
    static float wq[NMAX], wf[NMAX], xa[NMAX], xd[NMAX];
    static block_q8_K xq[NMAX / QK_K];
    for (size_t f = 0; f < sizeof files / sizeof files[0]; f++) {
        pg_gguf *g = NULL;
        snprintf(path, sizeof path, "%s/models/syn-a-%s.gguf", dir, files[f]);
        CHECKF(pg_gguf_open(path, &g, NULL) == 0, "open %s", path);
        if (!g) continue;
        for (int64_t ti = 0; ti < pg_gguf_n_tensors(g); ti++) {
            const pg_gguf_tensor *t = pg_gguf_tensor_at(g, ti);
            const tcase *c = NULL;
            for (int k = 0; k < NCASES; k++)
                if ((int)CASES[k].type == t->type) c = &CASES[k];
            const pg_gguf_tensor *r = pg_gguf_find_tensor(ref, t->name);
            int64_t n = t->ne[0];
            if (!c || !r || r->ne[0] != n || n > NMAX || n % QK_K) continue;
            const pg_type_traits *s0 = pg_type_get_level(t->type, PG_CPU_SCALAR);
            size_t rs = pg_row_size(t->type, n);
            int64_t nrows = (int64_t)(t->nbytes / rs);
            double e = 0, ss = 0;
            for (int64_t row = 0; row < nrows && row < 64; row++) {
                const void *src = (const char *)t->data + row * rs;
                if (!f16_row(r, row, wf)) break;
                s0->to_float(src, wq, n);
                for (int64_t i = 0; i < n; i++) {
                    e += (double)(wq[i] - wf[i]) * (wq[i] - wf[i]);
                    ss += (double)wf[i] * wf[i];
                }
                fill_data(xa, (int)n, 1.0f);
                pg_type_get_level(PG_TYPE_Q8_K, PG_CPU_SCALAR)->from_float(xa, xq, n);
                pg_type_get_level(PG_TYPE_Q8_K, PG_CPU_SCALAR)->to_float(xq, xd, n);
                double absum, want = dot_ref(wq, xd, (int)n, &absum);
                for (int lv = 0; lv <= max_level; lv++) {
                    float got;
                    pg_type_get_level(t->type, lv)->vec_dot((int)n, &got, src, xq);
                    CHECKF(fabs(got - want) <= DOT_TOL * absum, "%s %s %s row %lld: %.9g want %.9g", files[f], t->name,
                           pg_cpu_level_name(lv), (long long)row, got, want);
                }
            }
            if (ss > 0) {
                double rel = sqrt(e / ss);
                CHECKF(rel < c->rms_tol, "%s %s (%s): rms vs f16 %g", files[f], t->name, s0->name, rel);
                if (!seen[t->type]++) fprintf(stderr, "  ggml %-7s %s: rms vs f16 %.4f\n", s0->name, t->name, rel);
            }
        }
        pg_gguf_close(g);
    }
    for (int k = 0; k < NCASES; k++)
        CHECKF(seen[CASES[k].type] > 0, "no real %s tensor checked", pg_type_name(CASES[k].type));
    pg_gguf_close(ref);
}

int main(void) {
    max_level = pg_cpu_level_max();
    fprintf(stderr, "levels: scalar..%s\n", pg_cpu_level_name(max_level));
    for (int lv = 0; lv <= max_level; lv++)
        for (int i = 0; i < NCASES; i++) REQUIRE(pg_type_get_level(CASES[i].type, lv)->vec_dot != NULL);
    test_q8k();
    test_known_q4k();
    test_known_q3k();
    test_known_q2k();
    test_known_q6k();
    test_known_iq4xs();
    for (int i = 0; i < NCASES; i++) {
        test_type(&CASES[i]);
        test_random_bytes(&CASES[i]);
    }
    test_golden();
    return t_done("test_kernels_kquants");
}
