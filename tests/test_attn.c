/* test_attn.c - attention kernels (tensor/attn.h): every level against the
 * scalar reference bit for bit (the fma-chain order is part of the
 * contract) for every K/V row format (f32, f16, q8_0, q4_0) and heads at
 * any place in a position row (inside a quantized block too), the
 * reference against double precision, the invariance properties forward.c
 * relies on (a row's scores do not depend on the other rows of the tile; a
 * V sum split over several calls equals one call), the row writers'
 * quantization error, and the scores/sums over quantized K/V against the
 * f32 ones within bounds derived from that error.
 *
 * Levels above the CPU's (AVX-512 on an AVX2 host) are skipped with a
 * message: pg_attn_kernels_get caps the level, so they cannot run here. */
#include "tensor/attn.h"

#include "tensor/fp16.h"
#include "test.h"

#include <stdint.h>

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static float frand(void) { /* uniform in [-1, 1) */
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (float)((rng >> 40) & 0xffffff) / (float)(1 << 23) - 1.0f;
}

/* Named tolerances.
 * REF_QK_REL / REF_PV_REL: reference (single-precision fma chains) against
 *   double, relative to sum |q k| (|p v|).
 * Q8_ELEM: q8_0 round trip |x - deq(x)| <= Q8_ELEM * max|x| of the block
 *   + Q8_ABS (half a step of d = max/127, plus the half rounding of d:
 *   relative for a normal half d, Q8_ABS = 127 half-ulps of a subnormal
 *   half, 2^-25, when max|x| < 127 * 2^-14).
 * Q4_ELEM: q4_0 |x - deq(x)| <= Q4_ELEM * max|x| of the block + Q4_ABS (one
 *   step of d = max/8: the value opposite the extreme clamps from +8 to +7,
 *   and 8 steps of d's half rounding on top).
 * QUANT_SLACK: float rounding of the chains on top of the quantization
 *   bound, relative to sum |q k|. */
#define REF_QK_REL 1e-6
#define REF_PV_REL 1e-5
#define Q8_ELEM (0.5 / 127.0 * (1.0 + 1.0 / 1024.0) + 1e-7)
#define Q4_ELEM (1.0 / 8.0 * (1.0 + 1.0 / 128.0) + 1e-7)
#define Q8_ABS (127.0 / 33554432.0)
#define Q4_ABS (8.0 / 33554432.0)
#define QUANT_SLACK 1e-5

enum { NMAX = 40, HDMAX = 128, NHEAD = 3, RLMAX = NHEAD * HDMAX, ROWBMAX = 4 * RLMAX + 64 };

static const int fmts[] = {PG_ATTN_F32, PG_ATTN_F16, PG_ATTN_Q8_0, PG_ATTN_Q4_0};
static const char *const fmt_names[] = {"f32", "f16", "q8_0", "q4_0"};

/* n K/V position rows of RL = NHEAD * hd values, as the KV store holds them:
 * x the f32 source, b the rows in one format at a stride of row_bytes + 4
 * (other data may follow a row; f32 rows stay 4-byte aligned as in the KV
 * store, quantized rows may start at any even address). */
typedef struct {
    float x[NMAX][RLMAX];
    unsigned char b[NMAX * ROWBMAX];
    size_t stride;
} kvrows;

static void fill_rows(kvrows *kr, int fmt, int hd, float amp) {
    const size_t rl = (size_t)NHEAD * hd;
    kr->stride = pg_attn_row_bytes(fmt, rl) + 4;
    memset(kr->b, 0xA5, sizeof kr->b); /* the padding between rows is never read as values */
    for (int i = 0; i < NMAX; i++) {
        /* blocks of differing magnitude: scales vary along a row */
        for (size_t e = 0; e < rl; e++) kr->x[i][e] = amp * frand() * (1.0f + (float)((e / 32 + i) % 5));
        pg_attn_store_row(fmt, kr->x[i], rl, kr->b + (size_t)i * kr->stride);
    }
}

static float val(const kvrows *kr, int fmt, int i, size_t e) {
    return pg_attn_elem(fmt, kr->b + (size_t)i * kr->stride, e);
}

/* max |x| over the quantization block holding value e of row i */
static double block_amax(const kvrows *kr, int i, size_t e, size_t rl) {
    size_t b0 = e / PG_ATTN_QB * PG_ATTN_QB;
    double m = 0;
    for (size_t k = b0; k < b0 + PG_ATTN_QB && k < rl; k++) m = fmax(m, fabs(kr->x[i][k]));
    return m;
}

static int same_bits(const float *a, const float *b, size_t n) { return memcmp(a, b, n * sizeof(float)) == 0; }

/* The row writers: sizes, round trips, error bounds. */
static void test_rows(void) {
    CHECK(pg_attn_row_bytes(PG_ATTN_F32, 64) == 256 && pg_attn_row_bytes(PG_ATTN_F16, 64) == 128);
    CHECK(pg_attn_row_bytes(PG_ATTN_Q8_0, 64) == 68 && pg_attn_row_bytes(PG_ATTN_Q4_0, 64) == 36);
    CHECK(pg_attn_row_bytes(PG_ATTN_Q8_0, 8) == 34 && pg_attn_row_bytes(PG_ATTN_Q4_0, 33) == 36);
    CHECK(pg_attn_row_bytes(99, 64) == 0);
    enum { N = 200 };
    float x[N];
    unsigned char b[4 * N];
    int bad[4] = {0};
    for (int trial = 0; trial < 200; trial++) {
        const size_t n = 1 + (size_t)(trial * 37 % N);
        const float amp = trial % 7 == 0 ? 1e-3f : trial % 7 == 1 ? 300.0f : 1.0f;
        for (size_t e = 0; e < n; e++) x[e] = amp * frand();
        if (trial % 11 == 0) x[n / 2] = 0.0f;
        if (trial % 13 == 0)
            for (size_t e = 0; e < n && e < 32; e++) x[e] = 0.0f; /* an all-zero block */
        for (int f = 0; f < 4; f++) {
            memset(b, 0x5A, sizeof b);
            pg_attn_store_row(fmts[f], x, n, b);
            for (size_t e = 0; e < n; e++) {
                const double y = pg_attn_elem(fmts[f], b, e), err = fabs(y - x[e]);
                double am = 0;
                for (size_t k = e / 32 * 32; k < e / 32 * 32 + 32 && k < n; k++) am = fmax(am, fabs(x[k]));
                const double tol = fmts[f] == PG_ATTN_F32   ? 0
                                   : fmts[f] == PG_ATTN_F16 ? fabs(x[e]) / 2048.0 + 1e-7
                                   : fmts[f] == PG_ATTN_Q8_0 ? Q8_ELEM * am + Q8_ABS
                                                             : Q4_ELEM * am + Q4_ABS;
                if (!(err <= tol)) bad[f]++;
            }
            /* the padding of the last block dequantizes to 0 */
            if (fmts[f] >= PG_ATTN_Q8_0)
                for (size_t e = n; e % PG_ATTN_QB; e++)
                    if (pg_attn_elem(fmts[f], b, e) != 0.0f) bad[f]++;
        }
    }
    for (int f = 0; f < 4; f++) CHECKF(bad[f] == 0, "%s row round trip out of bound in %d values", fmt_names[f], bad[f]);
    /* the extreme of a q4_0 block is exact (-8 * d), of a q8_0 block 127 * d */
    for (int e = 0; e < 32; e++) x[e] = 0.01f * (float)e;
    x[5] = -2.0f;
    pg_attn_store_row(PG_ATTN_Q4_0, x, 32, b);
    CHECK(pg_attn_elem(PG_ATTN_Q4_0, b, 5) == -2.0f);
    pg_attn_store_row(PG_ATTN_Q8_0, x, 32, b);
    CHECKF(fabs(pg_attn_elem(PG_ATTN_Q8_0, b, 5) + 2.0) < 2.0 / 1024, "q8_0 extreme %g",
           pg_attn_elem(PG_ATTN_Q8_0, b, 5));
    /* the quantization of a row depends on nothing else: same bytes twice */
    unsigned char b2[4 * N];
    for (int f = 0; f < 4; f++) {
        for (int e = 0; e < 96; e++) x[e] = frand();
        pg_attn_store_row(fmts[f], x, 96, b);
        pg_attn_store_row(fmts[f], x, 96, b2);
        CHECK(memcmp(b, b2, pg_attn_row_bytes(fmts[f], 96)) == 0);
    }
}

static void test_level(pg_cpu_level lv, const pg_attn_kernels *ref, kvrows *K, kvrows *V, kvrows *K32,
                       kvrows *V32) {
    const pg_attn_kernels *ak = pg_attn_kernels_get(lv);
    static const int hds[] = {64, 128, 80, 68, 8, 4, 32, 96};
    static const int Rs[] = {1, 2, 8, 13, 16};
    static const int ns[] = {1, 7, 16, 37};
    static float q[PG_ATTN_RT * HDMAX], qt[HDMAX * PG_ATTN_RT], q1[HDMAX * PG_ATTN_RT];
    static float s_ref[PG_ATTN_RT * NMAX], s_lv[PG_ATTN_RT * NMAX], s_one[NMAX], s_f32[PG_ATTN_RT * NMAX];
    static float o_ref[PG_ATTN_RT * HDMAX], o_lv[PG_ATTN_RT * HDMAX], o_split[PG_ATTN_RT * HDMAX],
        o_f32[PG_ATTN_RT * HDMAX], o0[PG_ATTN_RT * HDMAX];
    for (int f = 0; f < 4; f++) {
        const int fmt = fmts[f];
        int bad_qk = 0, bad_pv = 0, bad_split = 0, bad_row = 0, bad_double = 0, bad_qerr = 0, cases = 0;
        double worst_qk = 0, worst_pv = 0; /* error / bound of the quantized kernels */
        for (size_t ih = 0; ih < sizeof(hds) / sizeof(hds[0]); ih++) {
            const int hd = hds[ih];
            const size_t rl = (size_t)NHEAD * hd;
            fill_rows(K, fmt, hd, 1.0f);
            fill_rows(V, fmt, hd, 2.0f);
            memcpy(K32->x, K->x, sizeof K->x);
            memcpy(V32->x, V->x, sizeof V->x);
            for (int i = 0; i < NMAX; i++) { /* the same values in f32 rows (for the quantization bounds) */
                pg_attn_store_row(PG_ATTN_F32, K->x[i], rl, K32->b + (size_t)i * 4 * rl);
                pg_attn_store_row(PG_ATTN_F32, V->x[i], rl, V32->b + (size_t)i * 4 * rl);
            }
            for (size_t ir = 0; ir < sizeof(Rs) / sizeof(Rs[0]); ir++)
                for (size_t in = 0; in < sizeof(ns) / sizeof(ns[0]); in++) {
                    const int R = Rs[ir], n = ns[in], kh = cases % NHEAD, e0 = kh * hd;
                    const size_t stride = K->stride;
                    const float scale = 0.125f;
                    cases++;
                    for (int i = 0; i < R * hd; i++) q[i] = frand();
                    pg_attn_pack_q(q, R, (size_t)hd, hd, qt);
                    /* scores; lds = NMAX leaves untouched columns we can check */
                    for (int i = 0; i < PG_ATTN_RT * NMAX; i++) s_ref[i] = s_lv[i] = -7.0f;
                    ref->qk(qt, R, hd, K->b, stride, fmt, e0, n, scale, s_ref, NMAX);
                    ak->qk(qt, R, hd, K->b, stride, fmt, e0, n, scale, s_lv, NMAX);
                    if (!same_bits(s_ref, s_lv, (size_t)PG_ATTN_RT * NMAX)) bad_qk++;
                    /* reference vs double over the stored values */
                    for (int r = 0; r < R; r++)
                        for (int i = 0; i < n; i++) {
                            double acc = 0, mag = 0;
                            for (int d = 0; d < hd; d++) {
                                double t = (double)q[r * hd + d] * val(K, fmt, i, (size_t)(e0 + d));
                                acc += t;
                                mag += fabs(t);
                            }
                            if (fabs(acc * scale - s_ref[r * NMAX + i]) > REF_QK_REL * (mag * scale) + 1e-30)
                                bad_double++;
                        }
                    /* a row alone gives the same bits as inside the tile */
                    {
                        const int r = R - 1;
                        pg_attn_pack_q(q + (size_t)r * hd, 1, (size_t)hd, hd, q1);
                        ak->qk(q1, 1, hd, K->b, stride, fmt, e0, n, scale, s_one, NMAX);
                        if (!same_bits(s_one, s_lv + (size_t)r * NMAX, (size_t)n)) bad_row++;
                    }
                    /* V sums: p from the scores (any values do), out pre-seeded */
                    for (int i = 0; i < R * hd; i++) o0[i] = o_ref[i] = o_lv[i] = o_split[i] = o_f32[i] = 0.01f * frand();
                    ref->pv(s_ref, NMAX, R, V->b, stride, fmt, e0, n, hd, o_ref, (size_t)hd);
                    ak->pv(s_ref, NMAX, R, V->b, stride, fmt, e0, n, hd, o_lv, (size_t)hd);
                    if (!same_bits(o_ref, o_lv, (size_t)R * hd)) bad_pv++;
                    {
                        const int n1 = n / 3;
                        ak->pv(s_ref, NMAX, R, V->b, stride, fmt, e0, n1, hd, o_split, (size_t)hd);
                        ak->pv(s_ref + n1, NMAX, R, V->b + (size_t)n1 * stride, stride, fmt, e0, n - n1, hd, o_split,
                               (size_t)hd);
                        if (!same_bits(o_ref, o_split, (size_t)R * hd)) bad_split++;
                    }
                    if (fmt < PG_ATTN_Q8_0) continue;
                    /* quantized K/V against the same values in f32: each value is off by at most
                     * ELEM * (its block's max |x|), so a score by scale * sum_d |q_d| * that */
                    const double el = fmt == PG_ATTN_Q8_0 ? Q8_ELEM : Q4_ELEM;
                    ref->qk(qt, R, hd, K32->b, 4 * rl, PG_ATTN_F32, e0, n, scale, s_f32, NMAX);
                    for (int r = 0; r < R; r++)
                        for (int i = 0; i < n; i++) {
                            double bound = 0, mag = 0;
                            for (int d = 0; d < hd; d++) {
                                bound += fabs(q[r * hd + d]) * el * block_amax(K, i, (size_t)(e0 + d), rl);
                                mag += fabs(q[r * hd + d] * K->x[i][e0 + d]);
                            }
                            const double err = fabs((double)s_lv[r * NMAX + i] - s_f32[r * NMAX + i]);
                            const double lim = scale * (bound + QUANT_SLACK * mag) + 1e-30;
                            if (err > lim) bad_qerr++;
                            if (err / lim > worst_qk) worst_qk = err / lim;
                        }
                    memcpy(o_f32, o0, (size_t)R * hd * sizeof(float));
                    ref->pv(s_ref, NMAX, R, V32->b, 4 * rl, PG_ATTN_F32, e0, n, hd, o_f32, (size_t)hd);
                    for (int r = 0; r < R; r++)
                        for (int d = 0; d < hd; d++) {
                            double bound = 0, mag = fabs(o0[r * hd + d]);
                            for (int i = 0; i < n; i++) {
                                const double p = fabs(s_ref[r * NMAX + i]);
                                bound += p * el * block_amax(V, i, (size_t)(e0 + d), rl);
                                mag += p * fabs(V->x[i][e0 + d]);
                            }
                            const double err = fabs((double)o_lv[r * hd + d] - o_f32[r * hd + d]);
                            const double lim = bound + QUANT_SLACK * mag + 1e-30;
                            if (err > lim) bad_qerr++;
                            if (err / lim > worst_pv) worst_pv = err / lim;
                        }
                }
        }
        const char *ln = pg_cpu_level_name(lv), *fn = fmt_names[f];
        CHECKF(bad_qk == 0, "%s %s: qk differs from reference in %d/%d cases", ln, fn, bad_qk, cases);
        CHECKF(bad_pv == 0, "%s %s: pv differs from reference in %d/%d cases", ln, fn, bad_pv, cases);
        CHECKF(bad_split == 0, "%s %s: pv split in two calls differs in %d/%d cases", ln, fn, bad_split, cases);
        CHECKF(bad_row == 0, "%s %s: a row's scores depend on the tile in %d/%d cases", ln, fn, bad_row, cases);
        CHECKF(bad_double == 0, "%s %s: reference scores off from double in %d values", ln, fn, bad_double);
        CHECKF(bad_qerr == 0, "%s %s: quantized scores/sums off from f32 beyond the bound in %d values", ln, fn,
               bad_qerr);
        fprintf(stderr, "attn %s %s: %d cases", ln, fn, cases);
        if (fmt >= PG_ATTN_Q8_0)
            fprintf(stderr, " (worst error / bound vs f32: qk %.3f, pv %.3f)", worst_qk, worst_pv);
        fputc('\n', stderr);
    }
}

/* The reference itself: pv against a double-precision weighted sum. */
static void test_ref_pv(const pg_attn_kernels *ref, kvrows *V) {
    enum { HD = 64, N = 37 };
    float p[N], out[HD];
    for (int i = 0; i < N; i++) p[i] = 0.5f * (frand() + 1.0f);
    for (int f = 0; f < 4; f++) {
        fill_rows(V, fmts[f], HD, 2.0f);
        memset(out, 0, sizeof(out));
        ref->pv(p, N, 1, V->b, V->stride, fmts[f], HD, N, HD, out, HD);
        int bad = 0;
        for (int d = 0; d < HD; d++) {
            double acc = 0, mag = 0;
            for (int i = 0; i < N; i++) {
                acc += (double)p[i] * val(V, fmts[f], i, (size_t)(HD + d));
                mag += fabs((double)p[i] * val(V, fmts[f], i, (size_t)(HD + d)));
            }
            if (fabs(acc - out[d]) > REF_PV_REL * mag) bad++;
        }
        CHECKF(bad == 0, "pv reference off from double in %d dims (%s)", bad, fmt_names[f]);
    }
}

int main(void) {
    static kvrows K, V, K32, V32;
    test_rows();
    const pg_attn_kernels *ref = pg_attn_kernels_get(PG_CPU_SCALAR);
    test_ref_pv(ref, &V);
    for (int lv = PG_CPU_SCALAR; lv <= (int)pg_cpu_level_max(); lv++)
        test_level((pg_cpu_level)lv, ref, &K, &V, &K32, &V32);
    for (int lv = (int)pg_cpu_level_max() + 1; lv <= (int)PG_CPU_AVX512; lv++)
        fprintf(stderr, "attn %s: skipped (this CPU lacks it)\n", pg_cpu_level_name((pg_cpu_level)lv));
    return t_done("attn");
}
