/* gemm_avx512.c - AVX-512 VNNI tile kernels (see tensor/gemm.h) for Q4_0
 * and Q8_0 (against Q8_0 activations) and Q4_K and Q6_K (against Q8_K).
 *
 * Every kernel is one always-inline template instantiated for each tile
 * shape; loops over the tile are fully unrolled so the accumulators live in
 * registers. The per-element arithmetic does not depend on the shape: for
 * each output element the same exact integer dots feed the same float
 * accumulator in the same order, and the final reduction is one fixed tree
 * (hsum16, or hsum16x4 for four elements at once with the same adds of the
 * same pairs). That is the batch-invariance guarantee of matmul.
 *
 * 32-element quants (Q4_0, Q8_0): the activation row is packed once per
 * matmul (q32_pack) so that one int32 lane holds one block: 8 vpdpbusd per
 * 16 blocks give 16 exact block dots, and the float epilogue (convert,
 * scale product, fma) runs once per 16 blocks instead of once per block.
 * Weights (Q4_0 nibble - 8, Q8_0 as stored) are the signed operand,
 * activations x + 128 the unsigned one; the weight row's -128 * sum(w) per
 * block is the integer start value. Weight rows are unpacked into that
 * layout once per call (a panel of up to 4 rows x 16 groups on the stack)
 * and reused by up to NXMAX activation rows in tiles of 4 x 4; the rows of
 * the next call are prefetched meanwhile. See the section below.
 *
 * K-quants: per 256-element super-block and element, an exact int32 vector
 * of scale-weighted sub-block dots (vpmaddubsw then vpdpwssd with the
 * 6-bit scales; Q6_K's -32 offset via the activation's bsums), converted
 * and multiplied into the float accumulator with d*yd; Q4_K's min term is
 * a second vector (mins x bsums) times dmin*yd. Weights of a tile are
 * unpacked once per super-block and reused across its activation rows. */
#include "tensor/blocks.h"
#include "tensor/gemm.h"
#include "tensor/types.h"
#include "tensor/x86/gemm_x86.h"

#include <immintrin.h>
#include <string.h>

#define AI static inline __attribute__((always_inline))

AI float hsum16(__m512 v) {
    __m256 t = _mm256_add_ps(_mm512_castps512_ps256(v), _mm512_extractf32x8_ps(v, 1));
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(t), _mm256_extractf128_ps(t, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* hsum16 of a, b, c, d at once (lanes 0..3 of the result): the same adds
 * of the same pairs as hsum16, so each result is bit-identical to it. */
AI __m128 hsum16x4(__m512 a, __m512 b, __m512 c, __m512 d) {
    const __m512 ab = _mm512_add_ps(_mm512_shuffle_f32x4(a, b, _MM_SHUFFLE(1, 0, 1, 0)),
                                    _mm512_shuffle_f32x4(a, b, _MM_SHUFFLE(3, 2, 3, 2))); /* [t_a | t_b] */
    const __m512 cd = _mm512_add_ps(_mm512_shuffle_f32x4(c, d, _MM_SHUFFLE(1, 0, 1, 0)),
                                    _mm512_shuffle_f32x4(c, d, _MM_SHUFFLE(3, 2, 3, 2)));
    __m512 s = _mm512_add_ps(_mm512_shuffle_f32x4(ab, cd, _MM_SHUFFLE(2, 0, 2, 0)),
                             _mm512_shuffle_f32x4(ab, cd, _MM_SHUFFLE(3, 1, 3, 1))); /* s of a, b, c, d per 128 bits */
    s = _mm512_add_ps(s, _mm512_permute_ps(s, _MM_SHUFFLE(3, 2, 3, 2)));              /* s0 + s2, s1 + s3 */
    s = _mm512_add_ps(s, _mm512_permute_ps(s, _MM_SHUFFLE(1, 1, 1, 1)));              /* + (s1 + s3) */
    return _mm512_castps512_ps128(_mm512_permutexvar_ps(_mm512_setr_epi32(0, 4, 8, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0), s));
}

/* ------------------------------------------------ Q4_0 / Q8_0 x Q8_0 */

/* Groups of 16 blocks (512 elements). Lane p of a 16-lane vector stands for
 * block perm(p) = 4 * (p % 4) + p / 4 of the group: the order a 4x4 dword
 * transpose inside each 128-bit lane produces. Operand j = 2k + h (k < 4,
 * h < 2) holds in lane p the 4 elements 16h + 4k .. 16h + 4k + 3 of block
 * perm(p), so vpdpbusd of the 8 activation operands with the 8 weight
 * operands gives in lane p the exact dot of block perm(p).
 *
 * Activations are the unsigned side: u = x + 128 (x ^ 0x80); weights the
 * signed one (Q4_0: nibble - 8; Q8_0 as stored). The excess 128 * sum(w)
 * per block belongs to the weight row, so it is computed once when the row
 * is unpacked and is the integer start value. A packed activation row is
 * ng = ceil(nb / 16) groups of 8 operands (512 bytes each, missing blocks
 * zero), then the ng x 16 scales (fp16, lane order), padded to 64 bytes
 * (aligned operand loads): at most 32 bytes over a Q8_0 row when nb is a
 * multiple of 16 (callers size their scratch from Q8_0 / Q8_K sizes).
 *
 * Unpacked weight group (wgrp, 640 bytes): the 8 signed operands, the 16
 * scales as floats and the 16 start values, built once per call for each
 * weight row and reused by every activation row. Per element and group:
 * isum = -128 * sum(w) + 8 vpdpbusd (exact), then
 * acc = fma(cvt(isum), dw * dx, acc); at the end hsum16.
 * The panel holds KS groups per row (20 KiB of stack at 4 rows); longer
 * rows go in slices with the float accumulators kept in ab (32 KiB of
 * stack) between them, which leaves the per-element sequence unchanged. */
#define ACT_Q 512 /* operand bytes per activation group */
#define KS 8      /* groups per panel slice (4096 elements; 7% faster than 16 at K = 5632) */
#define NXMAX 128 /* activation rows per call */
#define Q32_RW 4  /* tile: weight rows (matmul's NCHUNK is a multiple) */
#define Q32_CX 4  /* tile: activation rows (4 x 4 measured best of 4x2, 4x3, 2x4) */

typedef struct {
    __m512i q[8];
    __m512 d;
    __m512i off;
} wgrp;

AI int perm16(int p) { return 4 * (p % 4) + p / 4; }

/* One group of raw weight blocks (16 of bs bytes at src) -> g. */
AI void prep_group(const uint8_t *src, const int Q8W, wgrp *g) {
    const int bs = Q8W ? (int)sizeof(block_q8_0) : (int)sizeof(block_q4_0);
    /* scales: word permutes of 128-byte windows, each holding the d of
     * 8 (Q4_0) or 4 (Q8_0) consecutive blocks; lane p takes block perm(p) */
    const int per = Q8W ? 4 : 8, wpb = bs / 2; /* blocks per window, words per block */
    __m512i dv = _mm512_setzero_si512();
#pragma GCC unroll 4
    for (int wi = 0; wi < 16 / per; wi++) {
        const uint8_t *b = src + (size_t)wi * per * bs;
        short ix[32];
        __mmask32 m = 0;
        for (int p = 0; p < 32; p++) {
            const int blk = p < 16 ? perm16(p) : 0;
            ix[p] = (short)(p < 16 && blk / per == wi ? (blk % per) * wpb : 0);
            if (p < 16 && blk / per == wi) m |= (__mmask32)1 << p;
        }
        const __m512i w2 = _mm512_permutex2var_epi16(_mm512_loadu_si512((const void *)b), _mm512_loadu_si512((const void *)ix),
                                                     _mm512_loadu_si512((const void *)(b + 64)));
        dv = _mm512_mask_mov_epi16(dv, m, w2);
    }
    g->d = _mm512_cvtph_ps(_mm512_castsi512_si256(dv));
    const __m512i m4 = _mm512_set1_epi8(15), eight = _mm512_set1_epi8(8);
    __m512i zz[2][4]; /* [h][q]: 128-bit lane l = bytes 16h .. 16h + 15 of block 4q + l's qs */
#pragma GCC unroll 4
    for (int q = 0; q < 4; q++) {
        const uint8_t *b = src + (size_t)(4 * q) * bs + 2;
        if (Q8W) { /* whole 32-byte qs per block: two 256-bit halves, then lane shuffles */
            const __m512i A = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)b)),
                                                 _mm256_loadu_si256((const __m256i *)(b + bs)), 1);
            const __m512i B = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)(b + 2 * bs))),
                                                 _mm256_loadu_si256((const __m256i *)(b + 3 * bs)), 1);
            zz[0][q] = _mm512_shuffle_i64x2(A, B, _MM_SHUFFLE(2, 0, 2, 0));
            zz[1][q] = _mm512_shuffle_i64x2(A, B, _MM_SHUFFLE(3, 1, 3, 1));
        } else {
            __m512i v = _mm512_castsi128_si512(_mm_loadu_si128((const __m128i *)b));
            v = _mm512_inserti32x4(v, _mm_loadu_si128((const __m128i *)(b + bs)), 1);
            v = _mm512_inserti32x4(v, _mm_loadu_si128((const __m128i *)(b + 2 * bs)), 2);
            zz[0][q] = _mm512_inserti32x4(v, _mm_loadu_si128((const __m128i *)(b + 3 * bs)), 3);
        }
    }
    for (int h = 0; h < (Q8W ? 2 : 1); h++) {
        const __m512i *z = zz[h];
        /* 4x4 dword transpose per 128-bit lane: t[k] lane l dword q = dword k of block 4q + l */
        const __m512i t0 = _mm512_unpacklo_epi32(z[0], z[1]), t1 = _mm512_unpackhi_epi32(z[0], z[1]);
        const __m512i t2 = _mm512_unpacklo_epi32(z[2], z[3]), t3 = _mm512_unpackhi_epi32(z[2], z[3]);
        __m512i t[4];
        t[0] = _mm512_unpacklo_epi64(t0, t2), t[1] = _mm512_unpackhi_epi64(t0, t2);
        t[2] = _mm512_unpacklo_epi64(t1, t3), t[3] = _mm512_unpackhi_epi64(t1, t3);
#pragma GCC unroll 4
        for (int k = 0; k < 4; k++) {
            if (Q8W) {
                g->q[2 * k + h] = t[k];
            } else {
                g->q[2 * k] = _mm512_sub_epi8(_mm512_and_si512(t[k], m4), eight);
                g->q[2 * k + 1] = _mm512_sub_epi8(_mm512_and_si512(_mm512_srli_epi16(t[k], 4), m4), eight);
            }
        }
    }
    /* -128 * sum(w) per block: the activation side's +128, exact */
    const __m512i c128 = _mm512_set1_epi8((char)0x80);
    __m512i sw = _mm512_setzero_si512();
#pragma GCC unroll 8
    for (int j = 0; j < 8; j++) sw = _mm512_dpbusd_epi32(sw, c128, g->q[j]);
    g->off = _mm512_sub_epi32(_mm512_setzero_si512(), sw);
}

/* Group gi of weight row w (nb blocks): the last, partial group goes
 * through a zero-padded copy (never reads past the row). */
AI void prep_row_group(const uint8_t *w, int nb, int gi, const int Q8W, wgrp *g) {
    const int bs = Q8W ? (int)sizeof(block_q8_0) : (int)sizeof(block_q4_0);
    const int n = nb - 16 * gi < 16 ? nb - 16 * gi : 16;
    if (n == 16) {
        prep_group(w + (size_t)gi * 16 * bs, Q8W, g);
    } else {
        uint8_t tmp[16 * sizeof(block_q8_0)];
        memset(tmp, 0, sizeof tmp);
        memcpy(tmp, w + (size_t)gi * 16 * bs, (size_t)n * bs);
        prep_group(tmp, Q8W, g);
    }
}

/* y[c][r] = hsum16(ab[c * Q32_RW + r]); out of line so that it does not
 * take registers from the tile's main loop. */
static __attribute__((noinline)) void q32_store(const __m512 *ab, float *y, int64_t ldy, int RW, int CX) {
    for (int c = 0; c < CX; c++) {
        const __m512 *a = ab + c * Q32_RW;
        if (RW == 4)
            _mm_storeu_ps(y + (int64_t)c * ldy, hsum16x4(a[0], a[1], a[2], a[3]));
        else
            for (int r = 0; r < RW; r++) y[(int64_t)c * ldy + r] = hsum16(a[r]);
    }
}

/* Groups [g0, g0 + ng) for RW panel rows x CX activation rows (rows of
 * ngr groups). The float accumulators live in ab (ab[c * Q32_RW + r], L1):
 * zeroed on the first slice, reduced into y on the last. Keeping them out
 * of registers leaves room for the 4 x CX int32 sums and the operands. */
AI void q32_tile(const wgrp *P, int ng, int g0, int ngr, const uint8_t *x, size_t ldx, __m512 *ab, int first, int last,
                 float *y, int64_t ldy, const int RW, const int CX) {
    if (first)
#pragma GCC unroll 4
        for (int r = 0; r < RW; r++)
#pragma GCC unroll 4
            for (int c = 0; c < CX; c++) ab[c * Q32_RW + r] = _mm512_setzero_ps();
    for (int g = 0; g < ng; g++) {
        __m512i is[Q32_RW][Q32_CX];
        const uint8_t *xg[Q32_CX];
#pragma GCC unroll 4
        for (int r = 0; r < RW; r++) {
            const __m512i off = _mm512_load_si512((const void *)&P[r * KS + g].off);
#pragma GCC unroll 4
            for (int c = 0; c < CX; c++) is[r][c] = off;
        }
#pragma GCC unroll 4
        for (int c = 0; c < CX; c++) xg[c] = x + (size_t)c * ldx + (size_t)(g0 + g) * ACT_Q;
#pragma GCC unroll 8
        for (int j = 0; j < 8; j++) {
            __m512i wv[Q32_RW];
#pragma GCC unroll 4
            for (int r = 0; r < RW; r++) wv[r] = _mm512_load_si512((const void *)&P[r * KS + g].q[j]);
#pragma GCC unroll 4
            for (int c = 0; c < CX; c++) {
                const __m512i xv = _mm512_loadu_si512((const void *)(xg[c] + 64 * j));
#pragma GCC unroll 4
                for (int r = 0; r < RW; r++) is[r][c] = _mm512_dpbusd_epi32(is[r][c], xv, wv[r]);
            }
        }
#pragma GCC unroll 4
        for (int c = 0; c < CX; c++) {
            const uint8_t *dp = x + (size_t)c * ldx + (size_t)ngr * ACT_Q + (size_t)(g0 + g) * 32;
            const __m512 dx = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)dp));
#pragma GCC unroll 4
            for (int r = 0; r < RW; r++)
                ab[c * Q32_RW + r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(is[r][c]), _mm512_mul_ps(P[r * KS + g].d, dx),
                                                     ab[c * Q32_RW + r]);
        }
    }
    if (last) q32_store(ab, y, ldy, RW, CX);
}

AI void q32_rows(int64_t K, const uint8_t *w, size_t ldw, const uint8_t *x, size_t ldx, int nx, float *y, int64_t ldy,
                 const int RW, const int Q8W) {
    const int nb = (int)(K / 32), ngr = (nb + 15) / 16;
    wgrp P[Q32_RW * KS] __attribute__((aligned(64)));
    __m512 ab[NXMAX * Q32_RW] __attribute__((aligned(64)));
    for (int s0 = 0; s0 < ngr; s0 += KS) {
        const int ng = ngr - s0 < KS ? ngr - s0 : KS;
        const int first = s0 == 0, last = s0 + ng == ngr;
#pragma GCC unroll 4
        for (int r = 0; r < RW; r++)
            for (int g = 0; g < ng; g++) prep_row_group(w + (size_t)r * ldw, nb, s0 + g, Q8W, &P[r * KS + g]);
        /* The weight rows of the next call (matmul walks rows in order)
         * are prefetched while this one computes: the panel fill above is
         * a burst of loads that would otherwise wait on DRAM each call. */
        const int ntile = (nx + Q32_CX - 1) / Q32_CX;
        const size_t pfb = last && nx > 2 ? (size_t)RW * ldw : 0, pft = (pfb / 64 + ntile - 1) / ntile * 64;
        const uint8_t *pf = w + (size_t)RW * ldw;
        size_t pfo = 0;
        int c = 0;
        for (; c + Q32_CX <= nx; c += Q32_CX) {
            for (size_t e = pfo + pft; pfo < e && pfo < pfb; pfo += 64) _mm_prefetch((const char *)(pf + pfo), _MM_HINT_T0);
            q32_tile(P, ng, s0, ngr, x + (size_t)c * ldx, ldx, ab + c * Q32_RW, first, last, y + (int64_t)c * ldy, ldy, RW,
                     Q32_CX);
        }
        for (; pfo < pfb; pfo += 64) _mm_prefetch((const char *)(pf + pfo), _MM_HINT_T0);
#define TAIL(n) q32_tile(P, ng, s0, ngr, x + (size_t)c * ldx, ldx, ab + c * Q32_RW, first, last, y + (int64_t)c * ldy, ldy, RW, n)
        switch (nx - c) {
        case 0: break;
        case 1: TAIL(1); break;
        case 2: TAIL(2); break;
        case 3: TAIL(3); break;
        default: __builtin_trap();
        }
#undef TAIL
    }
}

/* One weight row x CX (1 or 2) activation rows, the decode case: each
 * group is unpacked into registers and used at once (no panel, no
 * accumulators in memory). The same operations as q32_tile's per element:
 * same start value, same exact integer dot, same fma sequence and hsum16. */
AI void q32_row_direct(int64_t K, const uint8_t *w, const uint8_t *x, size_t ldx, float *y, int64_t ldy, const int CX,
                       const int Q8W) {
    const int nb = (int)(K / 32), ngr = (nb + 15) / 16;
    __m512 acc[2] = {_mm512_setzero_ps(), _mm512_setzero_ps()};
    for (int g = 0; g < ngr; g++) {
        wgrp G;
        prep_row_group(w, nb, g, Q8W, &G);
#pragma GCC unroll 2
        for (int c = 0; c < CX; c++) {
            const uint8_t *xg = x + (size_t)c * ldx + (size_t)g * ACT_Q;
            __m512i is = G.off;
#pragma GCC unroll 8
            for (int j = 0; j < 8; j++) is = _mm512_dpbusd_epi32(is, _mm512_loadu_si512((const void *)(xg + 64 * j)), G.q[j]);
            const uint8_t *dp = x + (size_t)c * ldx + (size_t)ngr * ACT_Q + (size_t)g * 32;
            const __m512 dx = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)dp));
            acc[c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(is), _mm512_mul_ps(G.d, dx), acc[c]);
        }
    }
#pragma GCC unroll 2
    for (int c = 0; c < CX; c++) y[(int64_t)c * ldy] = hsum16(acc[c]);
}

AI void q32_kernel(int64_t K, const void *w, size_t ldw, int nw, const void *x, size_t ldx, int nx, float *y,
                   int64_t ldy, const int Q8W) {
    if (nx < 1 || nx > NXMAX) __builtin_trap();
    if (nw == 1 && nx <= 2) {
        if (nx == 1) q32_row_direct(K, w, x, ldx, y, ldy, 1, Q8W);
        else q32_row_direct(K, w, x, ldx, y, ldy, 2, Q8W);
        return;
    }
    switch (nw) {
    case 1: q32_rows(K, w, ldw, x, ldx, nx, y, ldy, 1, Q8W); break;
    case 2: q32_rows(K, w, ldw, x, ldx, nx, y, ldy, 2, Q8W); break;
    case 3: q32_rows(K, w, ldw, x, ldx, nx, y, ldy, 3, Q8W); break;
    case 4: q32_rows(K, w, ldw, x, ldx, nx, y, ldy, 4, Q8W); break;
    default: __builtin_trap();
    }
}

static size_t q32_act_size(int64_t K) {
    const size_t ng = (size_t)((K / 32 + 15) / 16);
    return (ng * (ACT_Q + 32) + 63) / 64 * 64;
}

/* One activation row: Q8_0 quantization (the level's from_float, so the
 * values match the vec_dot path's), then the group layout above. */
static void q32_pack(const float *x, int64_t K, void *dst) {
    const pg_type_traits *t = pg_type_get(PG_TYPE_Q8_0);
    const int nb = (int)(K / 32), ng = (nb + 15) / 16;
    uint8_t *o = dst;
    uint16_t *dd = (uint16_t *)(o + (size_t)ng * ACT_Q);
    for (int gi = 0; gi < ng; gi++, o += ACT_Q) {
        block_q8_0 b[16];
        const int n = nb - 16 * gi < 16 ? nb - 16 * gi : 16;
        memset(b, 0, sizeof b);
        t->from_float(x + (size_t)gi * 512, b, (int64_t)n * 32);
        for (int p = 0; p < 16; p++) {
            const block_q8_0 *bb = &b[perm16(p)];
            dd[16 * gi + p] = bb->d;
            for (int j = 0; j < 8; j++)
                for (int e = 0; e < 4; e++) o[64 * j + 4 * p + e] = (uint8_t)(bb->qs[16 * (j & 1) + 4 * (j >> 1) + e] ^ 0x80);
        }
    }
    memset(dd + 16 * ng, 0, q32_act_size(K) - (size_t)ng * (ACT_Q + 32));
}


/* ------------------------------------------------------ K-quants x Q8_K */

AI float f16f(uint16_t h) { return _cvtsh_ss(h); }

/* Each dword = its 16-bit scale in both halves (vpdpwssd operand). */
AI __m512i dup32(__m512i s32) {
    __m512i lo = _mm512_and_si512(s32, _mm512_set1_epi32(0xffff));
    return _mm512_or_si512(lo, _mm512_slli_epi32(lo, 16));
}
AI __m512i idx2(int a, int b) {
    return _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_set1_epi32(a)), _mm256_set1_epi32(b), 1);
}

AI void tile_q4_K(int64_t K, const uint8_t *w, size_t ldw, const uint8_t *x, size_t ldx, float *y, int64_t ldy,
                  const int RW, const int CX) {
    const int nb = (int)(K / QK_K);
    const __m512i m4 = _mm512_set1_epi8(15);
    const __m512i shift = _mm512_inserti64x4(_mm512_setzero_si512(), _mm256_set1_epi16(4), 1);
    __m512 acc[4][4];
#pragma GCC unroll 4
    for (int r = 0; r < RW; r++)
#pragma GCC unroll 4
        for (int c = 0; c < CX; c++) acc[r][c] = _mm512_setzero_ps();
    for (int i = 0; i < nb; i++) {
#pragma GCC unroll 4
        for (int r = 0; r < RW; r++) {
            const block_q4_K *b = (const block_q4_K *)(w + (size_t)r * ldw) + i;
            uint64_t sc, mn;
            pg_gemm_q4k_scales(b->scales, &sc, &mn);
            const __m512i sd = dup32(_mm512_cvtepu8_epi32(_mm_cvtsi64_si128((long long)sc)));
            const __m128i mv = _mm_cvtsi64_si128((long long)mn);
            const __m256i m16 = _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(mv, mv)); /* m0 m0 m1 m1 .. m7 m7 */
            __m512i wq[4], ws[4];
#pragma GCC unroll 4
            for (int k = 0; k < 4; k++) {
                __m512i q = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(b->qs + 32 * k)));
                wq[k] = _mm512_and_si512(_mm512_srlv_epi16(q, shift), m4);
                ws[k] = _mm512_permutexvar_epi32(idx2(2 * k, 2 * k + 1), sd);
            }
            const float d = f16f(b->d), dmin = f16f(b->dmin);
#pragma GCC unroll 4
            for (int c = 0; c < CX; c++) {
                const block_q8_K *xb = (const block_q8_K *)(x + (size_t)c * ldx) + i;
                __m512i s = _mm512_setzero_si512();
#pragma GCC unroll 4
                for (int k = 0; k < 4; k++)
                    s = _mm512_dpwssd_epi32(s, _mm512_maddubs_epi16(wq[k], _mm512_loadu_si512((const void *)(xb->qs + 64 * k))),
                                            ws[k]);
                __m256i ms = _mm256_madd_epi16(m16, _mm256_loadu_si256((const __m256i *)xb->bsums));
                acc[r][c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), _mm512_set1_ps(d * xb->d), acc[r][c]);
                acc[r][c] = _mm512_fnmadd_ps(_mm512_cvtepi32_ps(_mm512_zextsi256_si512(ms)), _mm512_set1_ps(dmin * xb->d),
                                             acc[r][c]);
            }
        }
    }
#pragma GCC unroll 4
    for (int r = 0; r < RW; r++)
#pragma GCC unroll 4
        for (int c = 0; c < CX; c++) y[(int64_t)c * ldy + r] = hsum16(acc[r][c]);
}

AI void tile_q6_K(int64_t K, const uint8_t *w, size_t ldw, const uint8_t *x, size_t ldx, float *y, int64_t ldy,
                  const int RW, const int CX) {
    const int nb = (int)(K / QK_K);
    const __m512i m4 = _mm512_set1_epi8(15), m30 = _mm512_set1_epi8(0x30);
    const __m512i sh01 = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_set1_epi16(4)), _mm256_set1_epi16(2), 1);
    const __m512i sh23 = _mm512_inserti64x4(_mm512_setzero_si512(), _mm256_set1_epi16(2), 1);
    const __m512i iq = _mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3);
    __m512 acc[4][4];
#pragma GCC unroll 4
    for (int r = 0; r < RW; r++)
#pragma GCC unroll 4
        for (int c = 0; c < CX; c++) acc[r][c] = _mm512_setzero_ps();
    for (int i = 0; i < nb; i++) {
#pragma GCC unroll 4
        for (int r = 0; r < RW; r++) {
            const block_q6_K *b = (const block_q6_K *)(w + (size_t)r * ldw) + i;
            const __m128i sc = _mm_loadu_si128((const __m128i *)b->scales);
            const __m512i sd = dup32(_mm512_cvtepi8_epi32(sc));
            const __m256i sc16 = _mm256_cvtepi8_epi16(sc);
            __m512i wq[4], ws[4]; /* (h=0: u01, u23), (h=1: u01, u23) */
#pragma GCC unroll 2
            for (int h = 0; h < 2; h++) {
                __m512i ql = _mm512_loadu_si512((const void *)(b->ql + 64 * h));
                __m512i qh = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(b->qh + 32 * h)));
                wq[2 * h] = _mm512_or_si512(_mm512_and_si512(ql, m4), _mm512_and_si512(_mm512_sllv_epi16(qh, sh01), m30));
                wq[2 * h + 1] = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(ql, 4), m4),
                                                _mm512_and_si512(_mm512_srlv_epi16(qh, sh23), m30));
                ws[2 * h] = _mm512_permutexvar_epi32(_mm512_add_epi32(iq, _mm512_set1_epi32(8 * h)), sd);
                ws[2 * h + 1] = _mm512_permutexvar_epi32(_mm512_add_epi32(iq, _mm512_set1_epi32(8 * h + 4)), sd);
            }
            const float d = f16f(b->d);
#pragma GCC unroll 4
            for (int c = 0; c < CX; c++) {
                const block_q8_K *xb = (const block_q8_K *)(x + (size_t)c * ldx) + i;
                /* start at -32 * sum(sc * bsums) (8 lanes), exact */
                __m256i o = _mm256_madd_epi16(sc16, _mm256_loadu_si256((const __m256i *)xb->bsums));
                __m512i s = _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_zextsi256_si512(_mm256_slli_epi32(o, 5)));
#pragma GCC unroll 4
                for (int k = 0; k < 4; k++)
                    s = _mm512_dpwssd_epi32(s, _mm512_maddubs_epi16(wq[k], _mm512_loadu_si512((const void *)(xb->qs + 64 * k))),
                                            ws[k]);
                acc[r][c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), _mm512_set1_ps(d * xb->d), acc[r][c]);
            }
        }
    }
#pragma GCC unroll 4
    for (int r = 0; r < RW; r++)
#pragma GCC unroll 4
        for (int c = 0; c < CX; c++) y[(int64_t)c * ldy + r] = hsum16(acc[r][c]);
}

/* ------------------------------------------------------------ dispatch */

#define SHAPES(CALL)                                                   \
    switch ((nw - 1) * 4 + (nx - 1)) {                                 \
    case 0: CALL(1, 1); break;                                         \
    case 1: CALL(1, 2); break;                                         \
    case 2: CALL(1, 3); break;                                         \
    case 3: CALL(1, 4); break;                                         \
    case 4: CALL(2, 1); break;                                         \
    case 5: CALL(2, 2); break;                                         \
    case 6: CALL(2, 3); break;                                         \
    case 7: CALL(2, 4); break;                                         \
    case 8: CALL(3, 1); break;                                         \
    case 9: CALL(3, 2); break;                                         \
    case 10: CALL(3, 3); break;                                        \
    case 11: CALL(3, 4); break;                                        \
    case 12: CALL(4, 1); break;                                        \
    case 13: CALL(4, 2); break;                                        \
    case 14: CALL(4, 3); break;                                        \
    case 15: CALL(4, 4); break;                                        \
    default: __builtin_trap();                                         \
    }

static void gemm_q4_0(int64_t K, const void *w, size_t ldw, int nw, const void *x, size_t ldx, int nx, float *y,
                      int64_t ldy) {
    q32_kernel(K, w, ldw, nw, x, ldx, nx, y, ldy, 0);
}
static void gemm_q8_0(int64_t K, const void *w, size_t ldw, int nw, const void *x, size_t ldx, int nx, float *y,
                      int64_t ldy) {
    q32_kernel(K, w, ldw, nw, x, ldx, nx, y, ldy, 1);
}
static void gemm_q4_K(int64_t K, const void *w, size_t ldw, int nw, const void *x, size_t ldx, int nx, float *y,
                      int64_t ldy) {
#define C(a, b) tile_q4_K(K, w, ldw, x, ldx, y, ldy, a, b)
    SHAPES(C)
#undef C
}
static void gemm_q6_K(int64_t K, const void *w, size_t ldw, int nw, const void *x, size_t ldx, int nx, float *y,
                      int64_t ldy) {
#define C(a, b) tile_q6_K(K, w, ldw, x, ldx, y, ldy, a, b)
    SHAPES(C)
#undef C
}

static const pg_gemm_kernel k_q4_0 = {Q32_RW, NXMAX, 2, gemm_q4_0, q32_act_size, q32_pack};
static const pg_gemm_kernel k_q8_0 = {Q32_RW, NXMAX, 2, gemm_q8_0, q32_act_size, q32_pack};
static const pg_gemm_kernel k_q4_K = {4, 4, 4, gemm_q4_K, NULL, NULL};
static const pg_gemm_kernel k_q6_K = {4, 4, 4, gemm_q6_K, NULL, NULL};

const pg_gemm_kernel *pg_gemm_avx512_get(int wtype) {
    switch (wtype) {
    case PG_TYPE_Q4_0: return &k_q4_0;
    case PG_TYPE_Q8_0: return &k_q8_0;
    case PG_TYPE_Q4_K: return &k_q4_K;
    case PG_TYPE_Q6_K: return &k_q6_K;
    default: return NULL;
    }
}
