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
 * K-quants (Q4_K, Q6_K against Q8_K-quantized activations): the same
 * scheme with one int32 lane per sub-block (Q4_K: 32 elements, 16 per
 * group = 2 super-blocks; Q6_K: 16 elements, 16 per group = 1 super-block).
 * The weight values are unsigned (Q4_K nibbles, Q6_K's 6-bit 0..63), so
 * they are vpdpbusd's unsigned operand and the activations its signed one:
 * the lane dot is exact with no offset. The per-lane float factor
 * (d * scale_j) * dx is applied once per group; Q4_K's min term is a
 * second fma of the activation's d * bsum_j with -dmin * min_j, Q6_K's -32
 * offset the integer start value -32 * bsum_j from the packed activation.
 * Panel, tiles, prefetch and the M <= 2 direct path are the Q4_0 ones. */
#include "base/error.h"
#include "tensor/blocks.h"
#include "tensor/dispatch.h"
#include "tensor/types.h"
#include "tensor/x86/gemm_x86.h"
#include "tensor/x86/gemm_avx512_util.h"

#include <immintrin.h>
#include <string.h>

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
_Static_assert(Q32_CX == 4, "PG_TILE_SWEEP sweeps tiles of 4 activation rows");

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
            for (int r = 0; r < RW; r++) {
                wv[r] = _mm512_load_si512((const void *)&P[r * KS + g].q[j]);
                __asm__("" : "+v"(wv[r])); /* one load per operand, not one per activation row */
            }
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
        pg_pf_spread pfs;
        pg_pf_init(&pfs, w + (size_t)RW * ldw, last && nx > 2 ? (size_t)RW * ldw : 0, (nx + Q32_CX - 1) / Q32_CX);
#define TILE(c_, n) q32_tile(P, ng, s0, ngr, x + (size_t)c_ * ldx, ldx, ab + c_ * Q32_RW, first, last, y + (int64_t)c_ * ldy, ldy, RW, n)
        PG_TILE_SWEEP(nx, &pfs, TILE);
#undef TILE
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
    if (nx < 1 || nx > NXMAX) PG_TRAP();
    if (nw == 1 && nx <= 2) {
        if (nx == 1) q32_row_direct(K, w, x, ldx, y, ldy, 1, Q8W);
        else q32_row_direct(K, w, x, ldx, y, ldy, 2, Q8W);
        return;
    }
#define ROWS(n) q32_rows(K, w, ldw, x, ldx, nx, y, ldy, n, Q8W)
    PG_SWITCH_NW(nw, ROWS);
#undef ROWS
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

/* ------------------------------------- Q4_K: one int32 lane per sub-block */

/* The q4_0 scheme applied to Q4_K's 32-element sub-blocks: a group is 16
 * sub-blocks (2 super-blocks, 512 elements), lane p = sub-block perm(p),
 * operands as in the Q4_0 / Q8_0 groups. Weights are the nibbles 0..15
 * (vpdpbusd's unsigned operand), activations x as int8 (signed operand),
 * x the Q8_K quantization of the row (the vec_dot_type's, so the values
 * match the reference). Per element and group: isum = 8 vpdpbusd = exact
 * dot(q, x) per lane, then
 *   acc = fma(cvt(isum), (d * sc_j) * dx, acc)
 *   acc = fma(dx * bsum_j, -(dmin * mn_j), acc)
 * and hsum16 at the end; the same on the M <= 2 path and in the tiles.
 * Packed activation group (KQ_ACT = 640 bytes): 512 operand bytes, 16
 * floats dx (the super-block's d), 16 floats dx * bsum_j (bsum_j exact).
 * A missing second super-block (odd K / 256) is zero on both sides. */
#define KQ_ACT 640

typedef struct {
    __m512i q[8];
    __m512 ws, wm;
} kgrp;

/* Two super-blocks (b[1] may be an all-zero block) -> g. Operand source
 * k (sub-blocks 4k .. 4k + 3, super-block k / 2): A = sub-blocks 4k, 4k + 1
 * = low and high nibbles of 32-byte chunk 2 (k % 2), B the same of the
 * next chunk; then the 4x4 dword transpose of the Q8_0 groups. */
AI void kq_prep2(const block_q4_K *b0, const block_q4_K *b1, kgrp *g) {
    const __m512i m4 = _mm512_set1_epi8(15);
    const __m512i shift = _mm512_inserti64x4(_mm512_setzero_si512(), _mm256_set1_epi16(4), 1);
    __m512i zz[2][4];
#pragma GCC unroll 4
    for (int k = 0; k < 4; k++) {
        const uint8_t *qs = (k < 2 ? b0 : b1)->qs + 64 * (k % 2);
        const __m512i A = _mm512_and_si512(
            _mm512_srlv_epi16(_mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)qs)), shift), m4);
        const __m512i B = _mm512_and_si512(
            _mm512_srlv_epi16(_mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(qs + 32))), shift), m4);
        zz[0][k] = _mm512_shuffle_i64x2(A, B, _MM_SHUFFLE(2, 0, 2, 0));
        zz[1][k] = _mm512_shuffle_i64x2(A, B, _MM_SHUFFLE(3, 1, 3, 1));
    }
#pragma GCC unroll 2
    for (int h = 0; h < 2; h++) {
        const __m512i *z = zz[h];
        const __m512i t0 = _mm512_unpacklo_epi32(z[0], z[1]), t1 = _mm512_unpackhi_epi32(z[0], z[1]);
        const __m512i t2 = _mm512_unpacklo_epi32(z[2], z[3]), t3 = _mm512_unpackhi_epi32(z[2], z[3]);
        g->q[0 + h] = _mm512_unpacklo_epi64(t0, t2), g->q[2 + h] = _mm512_unpackhi_epi64(t0, t2);
        g->q[4 + h] = _mm512_unpacklo_epi64(t1, t3), g->q[6 + h] = _mm512_unpackhi_epi64(t1, t3);
    }
    /* scales and mins: bytes in sub-block order, then lane p <- perm(p);
     * lanes with p % 4 < 2 belong to super-block 0 */
    uint64_t sc0, mn0, sc1, mn1;
    pg_gemm_q4k_scales(b0->scales, &sc0, &mn0);
    pg_gemm_q4k_scales(b1->scales, &sc1, &mn1);
    const __m512i ip = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
    const __m512 sc = _mm512_cvtepi32_ps(_mm512_permutexvar_epi32(
        ip, _mm512_cvtepu8_epi32(_mm_set_epi64x((long long)sc1, (long long)sc0))));
    const __m512 mn = _mm512_cvtepi32_ps(_mm512_permutexvar_epi32(
        ip, _mm512_cvtepu8_epi32(_mm_set_epi64x((long long)mn1, (long long)mn0))));
    const __mmask16 m1 = 0xcccc; /* p % 4 >= 2: super-block 1 */
    const __m512 d = _mm512_mask_blend_ps(m1, _mm512_set1_ps(f16f(b0->d)), _mm512_set1_ps(f16f(b1->d)));
    const __m512 dmin = _mm512_mask_blend_ps(m1, _mm512_set1_ps(f16f(b0->dmin)), _mm512_set1_ps(f16f(b1->dmin)));
    g->ws = _mm512_mul_ps(d, sc);
    g->wm = _mm512_sub_ps(_mm512_setzero_ps(), _mm512_mul_ps(dmin, mn));
}

static const block_q4_K kq_zero; /* stands in for the missing last super-block */

/* Group gi of a Q4_K weight row of nb super-blocks -> g. */
AI void kq_prep(const uint8_t *w, int nb, int gi, kgrp *g) {
    const block_q4_K *b = (const block_q4_K *)w + 2 * gi;
    kq_prep2(b, 2 * gi + 1 < nb ? b + 1 : &kq_zero, g);
}

/* Q6_K group = one super-block, lane p = 16-element sub-block perm(p).
 * The 6-bit values 0..63 unpack (as the old per-super-block kernel did)
 * into 4 vectors of 64 elements in natural order, so 128-bit lane l of
 * vector R is sub-block 4R + l; the 4x4 dword transpose then gives
 * operand k = dwords k of each sub-block, lane p <-> sub-block perm(p).
 * Weights are the unsigned operand (0..63), activations the signed one;
 * the -32 offset is the activation's start value -32 * bsum (exact):
 *   acc = fma(cvt(isum), (d * sc_j) * dx, acc). */
#define Q6_ACT 384 /* 256 operand bytes, 16 floats dx, 16 int32 -32 * bsum */

AI void q6_prep(const block_q6_K *b, kgrp *g) {
    const __m512i m4 = _mm512_set1_epi8(15), m30 = _mm512_set1_epi8(0x30);
    const __m512i sh01 = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_set1_epi16(4)), _mm256_set1_epi16(2), 1);
    const __m512i sh23 = _mm512_inserti64x4(_mm512_setzero_si512(), _mm256_set1_epi16(2), 1);
    __m512i z[4];
#pragma GCC unroll 2
    for (int h = 0; h < 2; h++) {
        const __m512i ql = _mm512_loadu_si512((const void *)(b->ql + 64 * h));
        const __m512i qh = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(b->qh + 32 * h)));
        z[2 * h] = _mm512_or_si512(_mm512_and_si512(ql, m4), _mm512_and_si512(_mm512_sllv_epi16(qh, sh01), m30));
        z[2 * h + 1] = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(ql, 4), m4),
                                       _mm512_and_si512(_mm512_srlv_epi16(qh, sh23), m30));
    }
    const __m512i t0 = _mm512_unpacklo_epi32(z[0], z[1]), t1 = _mm512_unpackhi_epi32(z[0], z[1]);
    const __m512i t2 = _mm512_unpacklo_epi32(z[2], z[3]), t3 = _mm512_unpackhi_epi32(z[2], z[3]);
    g->q[0] = _mm512_unpacklo_epi64(t0, t2), g->q[1] = _mm512_unpackhi_epi64(t0, t2);
    g->q[2] = _mm512_unpacklo_epi64(t1, t3), g->q[3] = _mm512_unpackhi_epi64(t1, t3);
    const __m512i ip = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
    const __m512 sc = _mm512_cvtepi32_ps(
        _mm512_permutexvar_epi32(ip, _mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)b->scales))));
    g->ws = _mm512_mul_ps(_mm512_set1_ps(f16f(b->d)), sc);
}

/* Group gi of a weight row (nb super-blocks) of Q4_K (Q6 = 0) or Q6_K. */
AI void kq_prep_any(const uint8_t *w, int nb, int gi, kgrp *g, const int Q6) {
    if (Q6) q6_prep((const block_q6_K *)w + gi, g);
    else kq_prep(w, nb, gi, g);
}

/* the per-group float update (one place, so both paths share it) */
AI __m512 kq_fold(__m512 acc, __m512i is, const kgrp *g, const uint8_t *xg, const int Q6) {
    const int qb = Q6 ? 256 : ACT_Q;
    const __m512 dx = _mm512_loadu_ps((const float *)(xg + qb));
    acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(is), _mm512_mul_ps(g->ws, dx), acc);
    if (Q6) return acc;
    return _mm512_fmadd_ps(_mm512_loadu_ps((const float *)(xg + qb + 64)), g->wm, acc);
}

/* integer start value of an activation group: 0, or Q6_K's -32 * bsum */
AI __m512i kq_start(const uint8_t *xg, const int Q6) {
    return Q6 ? _mm512_loadu_si512((const void *)(xg + 256 + 64)) : _mm512_setzero_si512();
}

AI void kq_tile(const kgrp *P, int ng, int g0, const uint8_t *x, size_t ldx, __m512 *ab, int first, int last, float *y,
                int64_t ldy, const int RW, const int CX, const int Q6) {
    const size_t gb = Q6 ? Q6_ACT : KQ_ACT;
    const int nop = Q6 ? 4 : 8;
    if (first)
#pragma GCC unroll 4
        for (int r = 0; r < RW; r++)
#pragma GCC unroll 4
            for (int c = 0; c < CX; c++) ab[c * Q32_RW + r] = _mm512_setzero_ps();
    for (int g = 0; g < ng; g++) {
        __m512i is[Q32_RW][Q32_CX];
        const uint8_t *xg[Q32_CX];
#pragma GCC unroll 4
        for (int c = 0; c < CX; c++) xg[c] = x + (size_t)c * ldx + (size_t)(g0 + g) * gb;
#pragma GCC unroll 4
        for (int c = 0; c < CX; c++) {
            const __m512i s0 = kq_start(xg[c], Q6);
#pragma GCC unroll 4
            for (int r = 0; r < RW; r++) is[r][c] = s0;
        }
#pragma GCC unroll 8
        for (int j = 0; j < nop; j++) {
            __m512i wv[Q32_RW];
#pragma GCC unroll 4
            for (int r = 0; r < RW; r++) {
                wv[r] = _mm512_load_si512((const void *)&P[r * KS + g].q[j]);
                __asm__("" : "+v"(wv[r])); /* one load per operand, not one per activation row */
            }
#pragma GCC unroll 4
            for (int c = 0; c < CX; c++) {
                const __m512i xv = _mm512_loadu_si512((const void *)(xg[c] + 64 * j));
#pragma GCC unroll 4
                for (int r = 0; r < RW; r++) is[r][c] = _mm512_dpbusd_epi32(is[r][c], wv[r], xv);
            }
        }
#pragma GCC unroll 4
        for (int c = 0; c < CX; c++)
#pragma GCC unroll 4
            for (int r = 0; r < RW; r++)
                ab[c * Q32_RW + r] = kq_fold(ab[c * Q32_RW + r], is[r][c], &P[r * KS + g], xg[c], Q6);
    }
    if (last) q32_store(ab, y, ldy, RW, CX);
}

AI void kq_rows(int64_t K, const uint8_t *w, size_t ldw, const uint8_t *x, size_t ldx, int nx, float *y, int64_t ldy,
                const int RW, const int Q6) {
    const int nb = (int)(K / QK_K), ngr = Q6 ? nb : (nb + 1) / 2;
    kgrp P[Q32_RW * KS] __attribute__((aligned(64)));
    __m512 ab[NXMAX * Q32_RW] __attribute__((aligned(64)));
    for (int s0 = 0; s0 < ngr; s0 += KS) {
        const int ng = ngr - s0 < KS ? ngr - s0 : KS;
        const int first = s0 == 0, last = s0 + ng == ngr;
#pragma GCC unroll 4
        for (int r = 0; r < RW; r++)
            for (int g = 0; g < ng; g++) kq_prep_any(w + (size_t)r * ldw, nb, s0 + g, &P[r * KS + g], Q6);
        pg_pf_spread pfs;
        pg_pf_init(&pfs, w + (size_t)RW * ldw, last && nx > 2 ? (size_t)RW * ldw : 0, (nx + Q32_CX - 1) / Q32_CX);
#define TILE(c_, n) kq_tile(P, ng, s0, x + (size_t)c_ * ldx, ldx, ab + c_ * Q32_RW, first, last, y + (int64_t)c_ * ldy, ldy, RW, n, Q6)
        PG_TILE_SWEEP(nx, &pfs, TILE);
#undef TILE
    }
}

AI void kq_row_direct(int64_t K, const uint8_t *w, const uint8_t *x, size_t ldx, float *y, int64_t ldy, const int CX,
                      const int Q6) {
    const int nb = (int)(K / QK_K), ngr = Q6 ? nb : (nb + 1) / 2;
    const size_t gb = Q6 ? Q6_ACT : KQ_ACT;
    __m512 acc[2] = {_mm512_setzero_ps(), _mm512_setzero_ps()};
    for (int g = 0; g < ngr; g++) {
        kgrp G;
        kq_prep_any(w, nb, g, &G, Q6);
#pragma GCC unroll 2
        for (int c = 0; c < CX; c++) {
            const uint8_t *xg = x + (size_t)c * ldx + (size_t)g * gb;
            __m512i is = kq_start(xg, Q6);
            const int nop = Q6 ? 4 : 8;
#pragma GCC unroll 8
            for (int j = 0; j < nop; j++)
                is = _mm512_dpbusd_epi32(is, G.q[j], _mm512_loadu_si512((const void *)(xg + 64 * j)));
            acc[c] = kq_fold(acc[c], is, &G, xg, Q6);
        }
    }
#pragma GCC unroll 2
    for (int c = 0; c < CX; c++) y[(int64_t)c * ldy] = hsum16(acc[c]);
}

AI void kq_kernel(int64_t K, const void *w, size_t ldw, int nw, const void *x, size_t ldx, int nx, float *y,
                  int64_t ldy, const int Q6) {
    if (nx < 1 || nx > NXMAX) PG_TRAP();
    if (nw == 1 && nx <= 2) {
        if (nx == 1) kq_row_direct(K, w, x, ldx, y, ldy, 1, Q6);
        else kq_row_direct(K, w, x, ldx, y, ldy, 2, Q6);
        return;
    }
#define ROWS(n) kq_rows(K, w, ldw, x, ldx, nx, y, ldy, n, Q6)
    PG_SWITCH_NW(nw, ROWS);
#undef ROWS
}

static void gemm_q4_K(int64_t K, const void *w, size_t ldw, int nw, const void *x, size_t ldx, int nx, float *y,
                      int64_t ldy) {
    kq_kernel(K, w, ldw, nw, x, ldx, nx, y, ldy, 0);
}
static void gemm_q6_K(int64_t K, const void *w, size_t ldw, int nw, const void *x, size_t ldx, int nx, float *y,
                      int64_t ldy) {
    kq_kernel(K, w, ldw, nw, x, ldx, nx, y, ldy, 1);
}

static size_t q6_act_size(int64_t K) { return (size_t)(K / QK_K) * Q6_ACT; }

/* One activation row for Q6_K: Q8_K quantization, then per super-block
 * operand k lane p = elements 4k .. 4k + 3 of sub-block perm(p), the 16
 * d's and the 16 start values -32 * bsum. */
static void q6_pack(const float *x, int64_t K, void *dst) {
    const pg_type_traits *t = pg_type_get(PG_TYPE_Q8_K);
    const int nb = (int)(K / QK_K);
    uint8_t *o = dst;
    for (int i = 0; i < nb; i++, o += Q6_ACT) {
        block_q8_K b;
        t->from_float(x + (size_t)i * QK_K, &b, QK_K);
        float dx[16];
        int32_t st[16];
        for (int p = 0; p < 16; p++) {
            const int s = perm16(p);
            dx[p] = b.d;
            st[p] = -32 * (int32_t)b.bsums[s];
            for (int k = 0; k < 4; k++)
                for (int e = 0; e < 4; e++) o[64 * k + 4 * p + e] = (uint8_t)b.qs[16 * s + 4 * k + e];
        }
        memcpy(o + 256, dx, 64);
        memcpy(o + 320, st, 64);
    }
}

size_t pg_gemm_kq_act_size(int64_t K) { return (size_t)((K / QK_K + 1) / 2) * KQ_ACT; }

/* One activation row: Q8_K quantization (the level's from_float, as the
 * vec_dot path), then the group layout above (also read by the repacked
 * q4_K kernel, x86/gemm_pq4_K_avx512.c). */
void pg_gemm_kq_pack(const float *x, int64_t K, void *dst) {
    const pg_type_traits *t = pg_type_get(PG_TYPE_Q8_K);
    const int nb = (int)(K / QK_K), ng = (nb + 1) / 2;
    uint8_t *o = dst;
    for (int gi = 0; gi < ng; gi++, o += KQ_ACT) {
        block_q8_K b[2];
        const int n = nb - 2 * gi < 2 ? nb - 2 * gi : 2;
        memset(b, 0, sizeof b);
        t->from_float(x + (size_t)gi * 512, b, (int64_t)n * QK_K);
        float *dx = (float *)(o + ACT_Q), *bs = dx + 16;
        for (int p = 0; p < 16; p++) {
            const int s = perm16(p), sb = s / 8, j = s % 8;
            const block_q8_K *bb = &b[sb];
            float dd;
            memcpy(&dd, &bb->d, sizeof dd);
            dx[p] = dd;
            bs[p] = dd * (float)(bb->bsums[2 * j] + bb->bsums[2 * j + 1]);
            for (int jj = 0; jj < 8; jj++)
                for (int e = 0; e < 4; e++)
                    o[64 * jj + 4 * p + e] = (uint8_t)bb->qs[32 * j + 16 * (jj & 1) + 4 * (jj >> 1) + e];
        }
    }
}

/* ------------------------------------------------------------ dispatch */

static void gemm_q4_0(int64_t K, const void *w, size_t ldw, int nw, const void *x, size_t ldx, int nx, float *y,
                      int64_t ldy) {
    q32_kernel(K, w, ldw, nw, x, ldx, nx, y, ldy, 0);
}
static void gemm_q8_0(int64_t K, const void *w, size_t ldw, int nw, const void *x, size_t ldx, int nx, float *y,
                      int64_t ldy) {
    q32_kernel(K, w, ldw, nw, x, ldx, nx, y, ldy, 1);
}
static const pg_gemm_kernel k_q4_0 = {Q32_RW, NXMAX, 2, gemm_q4_0, q32_act_size, q32_pack, NULL, NULL, 0, NULL};
static const pg_gemm_kernel k_q8_0 = {Q32_RW, NXMAX, 2, gemm_q8_0, q32_act_size, q32_pack, NULL, NULL, 0, NULL};
static const pg_gemm_kernel k_q4_K = {Q32_RW, NXMAX, 2, gemm_q4_K, pg_gemm_kq_act_size, pg_gemm_kq_pack, NULL, NULL, 0, NULL};
static const pg_gemm_kernel k_q6_K = {Q32_RW, NXMAX, 2, gemm_q6_K, q6_act_size, q6_pack, NULL, NULL, 0, NULL};

/* Q8_0 keeps its stored layout, but is still copied at load
 * (wpack = copy) into the model's huge-page region: streaming the weights
 * from 2 MiB pages instead of the file's 4 KiB page-cache pages measurably
 * speeds up decode (fewer TLB misses and page walks). Same tile kernels,
 * so results are those of the stored rows. */
static int copy_ok(int64_t K) { return K > 0; }
static void copy_q8_0(const void *src, int64_t K, void *dst) { memcpy(dst, src, (size_t)(K / 32) * sizeof(block_q8_0)); }
const pg_gemm_kernel pg_gemm_q8_0_copy_avx512 = {Q32_RW, NXMAX, 2, gemm_q8_0, q32_act_size, q32_pack,
                                                  copy_ok, copy_q8_0, 0, NULL};

const pg_gemm_kernel *const pg_gemm_stored_avx512[PG_TYPE_COUNT] = {
    [PG_TYPE_Q4_0] = &k_q4_0,
    [PG_TYPE_Q8_0] = &k_q8_0,
    [PG_TYPE_Q4_K] = &k_q4_K,
    [PG_TYPE_Q6_K] = &k_q6_K,
};
