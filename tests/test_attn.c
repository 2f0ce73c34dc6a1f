/* test_attn.c - attention kernels (tensor/attn.h): every level against the
 * scalar reference bit for bit (the fma-chain order is part of the
 * contract), the reference against double precision, and the invariance
 * properties forward.c relies on (a row's scores do not depend on the other
 * rows of the tile; a V sum split over several calls equals one call). */
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

enum { NMAX = 40, HDMAX = 128, KSTRIDE_EXTRA = 3 };

/* n K/V rows of hd elements at a row stride of hd + KSTRIDE_EXTRA elements
 * (as in the KV store, where other heads sit between a head's rows). */
typedef struct {
    float f32[NMAX * (HDMAX + KSTRIDE_EXTRA)];
    uint16_t f16[NMAX * (HDMAX + KSTRIDE_EXTRA)];
} kvrows;

static void fill_rows(kvrows *kr, float amp) {
    for (int i = 0; i < NMAX * (HDMAX + KSTRIDE_EXTRA); i++) {
        kr->f16[i] = pg_fp32_to_fp16(amp * frand());
        kr->f32[i] = amp * frand();
    }
}

static float elem(const kvrows *kr, int f16, size_t idx) {
    return f16 ? pg_fp16_to_fp32(kr->f16[idx]) : kr->f32[idx];
}

static int same_bits(const float *a, const float *b, size_t n) {
    return memcmp(a, b, n * sizeof(float)) == 0;
}

static void test_level(pg_cpu_level lv, const pg_attn_kernels *ref, kvrows *K, kvrows *V) {
    const pg_attn_kernels *ak = pg_attn_kernels_get(lv);
    static const int hds[] = {64, 128, 80, 68, 8, 4};
    static const int Rs[] = {1, 2, 8, 13, 16};
    static const int ns[] = {1, 7, 16, 37};
    static float q[PG_ATTN_RT * HDMAX], qt[HDMAX * PG_ATTN_RT], q1[HDMAX * PG_ATTN_RT];
    static float s_ref[PG_ATTN_RT * NMAX], s_lv[PG_ATTN_RT * NMAX], s_one[NMAX];
    static float o_ref[PG_ATTN_RT * HDMAX], o_lv[PG_ATTN_RT * HDMAX], o_split[PG_ATTN_RT * HDMAX];
    int bad_qk = 0, bad_pv = 0, bad_split = 0, bad_row = 0, bad_double = 0, cases = 0;
    for (int f16 = 0; f16 < 2; f16++)
        for (size_t ih = 0; ih < sizeof(hds) / sizeof(hds[0]); ih++)
            for (size_t ir = 0; ir < sizeof(Rs) / sizeof(Rs[0]); ir++)
                for (size_t in = 0; in < sizeof(ns) / sizeof(ns[0]); in++) {
                    const int hd = hds[ih], R = Rs[ir], n = ns[in];
                    const size_t ld = (size_t)hd + KSTRIDE_EXTRA;
                    const size_t stride = ld * (f16 ? 2 : 4);
                    const void *kb = f16 ? (const void *)K->f16 : (const void *)K->f32;
                    const void *vb = f16 ? (const void *)V->f16 : (const void *)V->f32;
                    const float scale = 0.125f;
                    cases++;
                    for (int i = 0; i < R * hd; i++) q[i] = frand();
                    pg_attn_pack_q(q, R, (size_t)hd, hd, qt);
                    /* scores; lds = NMAX leaves untouched columns we can check */
                    for (int i = 0; i < PG_ATTN_RT * NMAX; i++) s_ref[i] = s_lv[i] = -7.0f;
                    ref->qk(qt, R, hd, kb, stride, f16, n, scale, s_ref, NMAX);
                    ak->qk(qt, R, hd, kb, stride, f16, n, scale, s_lv, NMAX);
                    if (!same_bits(s_ref, s_lv, (size_t)PG_ATTN_RT * NMAX)) bad_qk++;
                    /* reference vs double */
                    for (int r = 0; r < R; r++)
                        for (int i = 0; i < n; i++) {
                            double acc = 0, mag = 0;
                            for (int d = 0; d < hd; d++) {
                                double t = (double)q[r * hd + d] * elem(K, f16, i * ld + d);
                                acc += t;
                                mag += fabs(t);
                            }
                            if (fabs(acc * scale - s_ref[r * NMAX + i]) > 1e-6 * (mag * scale) + 1e-30) bad_double++;
                        }
                    /* a row alone gives the same bits as inside the tile */
                    {
                        const int r = R - 1;
                        pg_attn_pack_q(q + (size_t)r * hd, 1, (size_t)hd, hd, q1);
                        ak->qk(q1, 1, hd, kb, stride, f16, n, scale, s_one, NMAX);
                        if (!same_bits(s_one, s_lv + (size_t)r * NMAX, (size_t)n)) bad_row++;
                    }
                    /* V sums: p from the scores (any values do), out pre-seeded */
                    for (int i = 0; i < R * hd; i++) o_ref[i] = o_lv[i] = o_split[i] = 0.01f * frand();
                    ref->pv(s_ref, NMAX, R, vb, stride, f16, n, hd, o_ref, (size_t)hd);
                    ak->pv(s_ref, NMAX, R, vb, stride, f16, n, hd, o_lv, (size_t)hd);
                    if (!same_bits(o_ref, o_lv, (size_t)R * hd)) bad_pv++;
                    {
                        const int n1 = n / 3;
                        ak->pv(s_ref, NMAX, R, vb, stride, f16, n1, hd, o_split, (size_t)hd);
                        ak->pv(s_ref + n1, NMAX, R, (const char *)vb + (size_t)n1 * stride, stride, f16, n - n1, hd,
                               o_split, (size_t)hd);
                        if (!same_bits(o_ref, o_split, (size_t)R * hd)) bad_split++;
                    }
                }
    CHECKF(bad_qk == 0, "%s: qk differs from reference in %d/%d cases", pg_cpu_level_name(lv), bad_qk, cases);
    CHECKF(bad_pv == 0, "%s: pv differs from reference in %d/%d cases", pg_cpu_level_name(lv), bad_pv, cases);
    CHECKF(bad_split == 0, "%s: pv split in two calls differs in %d/%d cases", pg_cpu_level_name(lv), bad_split,
           cases);
    CHECKF(bad_row == 0, "%s: a row's scores depend on the tile in %d/%d cases", pg_cpu_level_name(lv), bad_row,
           cases);
    CHECKF(bad_double == 0, "%s: reference scores off from double in %d values", pg_cpu_level_name(lv),
           bad_double);
    fprintf(stderr, "attn %s: %d cases\n", pg_cpu_level_name(lv), cases);
}

/* The reference itself: pv against a double-precision weighted sum. */
static void test_ref_pv(const pg_attn_kernels *ref, kvrows *V) {
    enum { HD = 64, N = 37 };
    float p[N], out[HD];
    for (int i = 0; i < N; i++) p[i] = 0.5f * (frand() + 1.0f);
    for (int f16 = 0; f16 < 2; f16++) {
        const size_t ld = HD + KSTRIDE_EXTRA, stride = ld * (f16 ? 2 : 4);
        memset(out, 0, sizeof(out));
        ref->pv(p, N, 1, f16 ? (const void *)V->f16 : (const void *)V->f32, stride, f16, N, HD, out, HD);
        int bad = 0;
        for (int d = 0; d < HD; d++) {
            double acc = 0, mag = 0;
            for (int i = 0; i < N; i++) {
                acc += (double)p[i] * elem(V, f16, i * ld + d);
                mag += fabs((double)p[i] * elem(V, f16, i * ld + d));
            }
            if (fabs(acc - out[d]) > 1e-5 * mag) bad++;
        }
        CHECKF(bad == 0, "pv reference off from double in %d dims (f16=%d)", bad, f16);
    }
}

int main(void) {
    static kvrows K, V;
    fill_rows(&K, 1.0f);
    fill_rows(&V, 2.0f);
    const pg_attn_kernels *ref = pg_attn_kernels_get(PG_CPU_SCALAR);
    test_ref_pv(ref, &V);
    for (int lv = PG_CPU_SCALAR; lv <= (int)pg_cpu_level_max(); lv++) test_level((pg_cpu_level)lv, ref, &K, &V);
    return t_done("attn");
}
