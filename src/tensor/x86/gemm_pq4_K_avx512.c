/* gemm_pq4_K_avx512.c - AVX-512 VNNI tile kernel (tensor/gemm.h) for q4_K
 * weights repacked once at model load (wpack), against the Q8_K activation
 * layout of the stored-layout kernel (pg_gemm_kq_pack, gemm_avx512_util.h).
 *
 * Why: the stored layout keeps each 32-byte chunk's nibbles as two
 * sub-blocks side by side and the 6-bit scales bit-packed, so the stored
 * kernel spends a transpose and a scalar scale unpack on every weight group
 * of every call; decode (one call per weight row) cannot amortize it. Here
 * that work is done once, so a group is 4 loads and 12 and/shift ops away
 * from vpdpbusd operands.
 *
 * Packed row of K elements (nb = K / 256 super-blocks, exactly nb * 144
 * bytes like the stored row): nb / 2 groups of 288 bytes, then for odd nb
 * one 144-byte half group. A group is 2 super-blocks = 16 sub-blocks of 32;
 * lane p (of 16 int32 lanes) stands for sub-block s = perm(p) = 4 (p % 4)
 * + p / 4, the lane order of the activation layout. Group bytes:
 *   0..255   V[k] (k < 4), 64 bytes each: lane p byte e has element 4k + e
 *            of sub-block s in its low nibble and element 16 + 4k + e in its
 *            high nibble, so V[k] & 15 and (V[k] >> 4) & 15 are exactly
 *            operands 2k and 2k + 1 of the activation layout.
 *   256..263 fp16 d0, dmin0, d1, dmin1 (lanes with p % 4 >= 2 belong to the
 *            second super-block).
 *   264..279 byte p: low 4 bits of scale_s | low 4 bits of min_s << 4.
 *   280..287 one 64-bit word; lane p's top bits (scale_s >> 4 | (min_s >> 4)
 *            << 2) at bit 32 (p % 2) + 4 (p / 2): a qword broadcast and one
 *            variable dword shift put every lane's field at bit 0.
 * Half group (the odd last super-block): only lanes with p % 4 < 2 exist
 * (its sub-blocks 0..7); they are stored compactly in lane order (rank
 * r = 2 (p / 4) + p % 4) and expanded by masked expand loads:
 *   0..127   4 x 32 bytes, the V[k] dwords of the 8 lanes;
 *   128..131 fp16 d, dmin;  132..139 the 8 low-nibble bytes;
 *   140..143 a 32-bit word with lane rank r's top bits at bit 4 r.
 * Missing lanes are zero weights with d = dmin = 0 (and zero activations).
 *
 * Arithmetic per output element and group (the stored kernel's): isum =
 * exact int32 dot per lane (8 vpdpbusd, weights unsigned, activations
 * signed), then
 *   acc = fma(cvt(isum), (d * sc) * dx, acc);  acc = fma(dx * bsum, -(dmin * mn), acc)
 * in group order, and hsum16 at the end. d * sc and dmin * mn are exact in
 * float, so however a path builds them they are the same values. Both
 * paths below (direct: one weight row, few activation rows, everything in
 * registers; panel: up to 4 rows unpacked once per call to the stack and
 * 4 x 4 tiles with float accumulators in L1) run exactly this sequence, so
 * Y does not depend on M, tiling, position or threads (batch invariance). */
#include "tensor/blocks.h"
#include "tensor/gemm.h"
#include "tensor/x86/gemm_avx512_util.h"
#include "tensor/x86/gemm_x86.h"

#include <immintrin.h>
#include <string.h>

#define GB 288      /* packed bytes per group (2 super-blocks) */
#define ACT 640     /* activation bytes per group (pg_gemm_kq_pack) */
#define KS 8        /* groups per panel slice */
#define NXMAX 128   /* activation rows per call */
#define RWMAX 4     /* tile: weight rows */
#define CXT 4       /* tile: activation rows */
_Static_assert(CXT == 4, "PG_TILE_SWEEP sweeps tiles of 4 activation rows");
#define HALF 0x3333 /* lanes of the first super-block (p % 4 < 2) */
/* Direct path (one weight row x at most DMAX activation rows, all in
 * registers); also matmul's m1. Measured at M = 8: 4 x 4 tiles over a
 * panel beat 8 rows direct by 1.4x (the tile shares each operand load). */
#define DMAX 2
#define M1 4 /* batches up to M1 rows: direct path in passes of DMAX */
/* direct path: software prefetch distance in bytes (best of 1..24 KiB) */
#define PFD 8192

static int perm16(int p) { return 4 * (p % 4) + p / 4; }

/* ------------------------------------------------------------- repacking */

/* element i (< 32) of sub-block j (< 8) of a stored super-block */
static int q4k_elem(const block_q4_K *b, int j, int i) { return (b->qs[32 * (j / 2) + i] >> (4 * (j % 2))) & 15; }

static void pack_group(const block_q4_K *b0, const block_q4_K *b1, uint8_t *o) {
    const block_q4_K *bb[2] = {b0, b1};
    uint64_t sc[2], mn[2], hw = 0;
    pg_gemm_q4k_scales(b0->scales, &sc[0], &mn[0]);
    pg_gemm_q4k_scales(b1->scales, &sc[1], &mn[1]);
    for (int p = 0; p < 16; p++) {
        const int s = perm16(p), h = s / 8, j = s % 8;
        for (int k = 0; k < 4; k++)
            for (int e = 0; e < 4; e++)
                o[64 * k + 4 * p + e] = (uint8_t)(q4k_elem(bb[h], j, 4 * k + e) | q4k_elem(bb[h], j, 16 + 4 * k + e) << 4);
        const unsigned a = (unsigned)(sc[h] >> 8 * j) & 63, m = (unsigned)(mn[h] >> 8 * j) & 63;
        o[264 + p] = (uint8_t)((a & 15) | (m & 15) << 4);
        hw |= (uint64_t)((a >> 4) | (m >> 4) << 2) << (32 * (p % 2) + 4 * (p / 2));
    }
    memcpy(o + 256, &b0->d, 2);
    memcpy(o + 258, &b0->dmin, 2);
    memcpy(o + 260, &b1->d, 2);
    memcpy(o + 262, &b1->dmin, 2);
    memcpy(o + 280, &hw, 8);
}

static void pack_half(const block_q4_K *b, uint8_t *o) {
    uint64_t sc, mn;
    uint32_t hw = 0;
    pg_gemm_q4k_scales(b->scales, &sc, &mn);
    for (int p = 0; p < 16; p++) {
        if (p % 4 >= 2) continue;
        const int j = perm16(p), r = 2 * (p / 4) + p % 4;
        for (int k = 0; k < 4; k++)
            for (int e = 0; e < 4; e++)
                o[32 * k + 4 * r + e] = (uint8_t)(q4k_elem(b, j, 4 * k + e) | q4k_elem(b, j, 16 + 4 * k + e) << 4);
        const unsigned a = (unsigned)(sc >> 8 * j) & 63, m = (unsigned)(mn >> 8 * j) & 63;
        o[132 + r] = (uint8_t)((a & 15) | (m & 15) << 4);
        hw |= (uint32_t)((a >> 4) | (m >> 4) << 2) << 4 * r;
    }
    memcpy(o + 128, &b->d, 2);
    memcpy(o + 130, &b->dmin, 2);
    memcpy(o + 140, &hw, 4);
}

static int pq4k_ok(int64_t K) { return K > 0 && K % QK_K == 0 && K / QK_K <= (1 << 24); }

static void pq4k_wpack(const void *src, int64_t K, void *dst) {
    const block_q4_K *b = src;
    const int nb = (int)(K / QK_K);
    uint8_t *o = dst;
    for (int g = 0; g < nb / 2; g++) pack_group(&b[2 * g], &b[2 * g + 1], o + (size_t)g * GB);
    if (nb % 2) pack_half(&b[nb - 1], o + (size_t)(nb / 2) * GB);
}

/* ---------------------------------------------------------------- groups */

typedef struct {
    __m512i q[8];
    __m512 ws, wm; /* d * sc and -(dmin * mn) per lane, exact */
} pgrp;

/* Group gi of a packed row of nb super-blocks -> g (the half group when
 * it is the odd last one). */
AI void grp_load(const uint8_t *w, int nb, int gi, pgrp *g) {
    const uint8_t *b = w + (size_t)gi * GB;
    const __m512i m4 = _mm512_set1_epi8(15);
    const int half = 2 * gi + 1 == nb;
    __m512i lo, hi;
    __m128 dd;
    if (!half) {
#pragma GCC unroll 4
        for (int k = 0; k < 4; k++) {
            const __m512i v = _mm512_loadu_si512((const void *)(b + 64 * k));
            g->q[2 * k] = _mm512_and_si512(v, m4);
            g->q[2 * k + 1] = _mm512_and_si512(_mm512_srli_epi16(v, 4), m4);
        }
        dd = _mm_cvtph_ps(_mm_loadl_epi64((const __m128i *)(b + 256)));
        lo = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(b + 264)));
        long long hw;
        memcpy(&hw, b + 280, 8);
        hi = _mm512_srlv_epi32(_mm512_set1_epi64(hw),
                               _mm512_setr_epi32(0, 0, 4, 4, 8, 8, 12, 12, 16, 16, 20, 20, 24, 24, 28, 28));
    } else {
#pragma GCC unroll 4
        for (int k = 0; k < 4; k++) {
            const __m512i v = _mm512_maskz_expandloadu_epi32(HALF, (const void *)(b + 32 * k));
            g->q[2 * k] = _mm512_and_si512(v, m4);
            g->q[2 * k + 1] = _mm512_and_si512(_mm512_srli_epi16(v, 4), m4);
        }
        int32_t d2, hw;
        memcpy(&d2, b + 128, 4);
        memcpy(&hw, b + 140, 4);
        dd = _mm_cvtph_ps(_mm_cvtsi32_si128(d2)); /* d, dmin, 0, 0 */
        lo = _mm512_maskz_expand_epi32(HALF, _mm512_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(b + 132))));
        hi = _mm512_srlv_epi32(_mm512_set1_epi32(hw),
                               _mm512_setr_epi32(0, 4, 0, 0, 8, 12, 0, 0, 16, 20, 0, 0, 24, 28, 0, 0));
    }
    const __m512i m6 = _mm512_set1_epi32(0x30), l4 = _mm512_set1_epi32(15);
    const __m512i sc = _mm512_or_si512(_mm512_and_si512(lo, l4), _mm512_and_si512(_mm512_slli_epi32(hi, 4), m6));
    const __m512i mn = _mm512_or_si512(_mm512_srli_epi32(lo, 4), _mm512_and_si512(_mm512_slli_epi32(hi, 2), m6));
    /* lane p: d / dmin of its super-block (half group: 0 in the missing lanes) */
    const __m512 d4 = _mm512_castps128_ps512(dd);
    const __mmask16 live = half ? HALF : 0xffff;
    const __m512 d = _mm512_maskz_permutexvar_ps(live, _mm512_setr_epi32(0, 0, 2, 2, 0, 0, 2, 2, 0, 0, 2, 2, 0, 0, 2, 2), d4);
    const __m512 dm = _mm512_maskz_permutexvar_ps(live, _mm512_setr_epi32(1, 1, 3, 3, 1, 1, 3, 3, 1, 1, 3, 3, 1, 1, 3, 3), d4);
    g->ws = _mm512_mul_ps(d, _mm512_cvtepi32_ps(sc));
    g->wm = _mm512_sub_ps(_mm512_setzero_ps(), _mm512_mul_ps(dm, _mm512_cvtepi32_ps(mn)));
}

/* the per-group float update of one output element (the one sequence) */
AI __m512 fold(__m512 acc, __m512i is, __m512 ws, __m512 wm, __m512 dx, __m512 bsx) {
    acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(is), _mm512_mul_ps(ws, dx), acc);
    return _mm512_fmadd_ps(bsx, wm, acc);
}

/* dx (16 floats) and dx * bsum (16 floats) of activation group xg */
AI __m512 act_dx(const uint8_t *xg) { return _mm512_loadu_ps((const float *)(xg + 512)); }
AI __m512 act_bsx(const uint8_t *xg) { return _mm512_loadu_ps((const float *)(xg + 576)); }

/* exact int32 lane dots of a group's 8 weight operands with activation
 * group xg (two independent chains; integer sums are order-free) */
AI __m512i idot(const __m512i *q, const uint8_t *xg) {
    __m512i a = _mm512_setzero_si512(), b = _mm512_setzero_si512();
#pragma GCC unroll 4
    for (int k = 0; k < 4; k++) {
        a = _mm512_dpbusd_epi32(a, q[2 * k], _mm512_loadu_si512((const void *)(xg + 128 * k)));
        b = _mm512_dpbusd_epi32(b, q[2 * k + 1], _mm512_loadu_si512((const void *)(xg + 128 * k + 64)));
    }
    return _mm512_add_epi32(a, b);
}

/* ----------------------------------------------------------- direct path */

/* One weight row x CX (<= DMAX) activation rows, all in registers: each
 * group is loaded once and used by every activation row at once. */
AI void row_direct(int64_t K, const uint8_t *w, const uint8_t *x, size_t ldx, float *y, int64_t ldy, const int CX) {
    const int nb = (int)(K / QK_K), ngr = (nb + 1) / 2;
    __m512 acc[DMAX];
#pragma GCC unroll 2
    for (int c = 0; c < CX; c++) acc[c] = _mm512_setzero_ps();
    for (int g = 0; g < ngr; g++) {
        pgrp G;
        /* software prefetch PFD bytes ahead (past the row end: the next
         * rows, which matmul streams in order); the hardware prefetchers
         * alone leave each group's first load waiting on DRAM */
#pragma GCC unroll 5
        for (int l = 0; l < GB; l += 64) _mm_prefetch((const char *)w + (size_t)g * GB + PFD + l, _MM_HINT_T0);
        grp_load(w, nb, g, &G);
#pragma GCC unroll 2
        for (int c = 0; c < CX; c++) {
            const uint8_t *xg = x + (size_t)c * ldx + (size_t)g * ACT;
            acc[c] = fold(acc[c], idot(G.q, xg), G.ws, G.wm, act_dx(xg), act_bsx(xg));
        }
    }
#pragma GCC unroll 2
    for (int c = 0; c < CX; c++) y[(int64_t)c * ldy] = hsum16(acc[c]);
}

/* ------------------------------------------------------------ panel path */

/* y[c][r] = hsum16(ab[c * RWMAX + r]) */
static __attribute__((noinline)) void tile_store(const __m512 *ab, float *y, int64_t ldy, int RW, int CX) {
    for (int c = 0; c < CX; c++) {
        const __m512 *a = ab + c * RWMAX;
        if (RW == 4)
            _mm_storeu_ps(y + (int64_t)c * ldy, hsum16x4(a[0], a[1], a[2], a[3]));
        else
            for (int r = 0; r < RW; r++) y[(int64_t)c * ldy + r] = hsum16(a[r]);
    }
}

/* Groups [g0, g0 + ng) of RW panel rows x CX activation rows; float
 * accumulators in ab (zeroed on the first slice, stored on the last). */
AI void tile(const pgrp *P, int ng, int g0, const uint8_t *x, size_t ldx, __m512 *ab, int first, int last, float *y,
             int64_t ldy, const int RW, const int CX) {
    if (first)
#pragma GCC unroll 4
        for (int r = 0; r < RW; r++)
#pragma GCC unroll 4
            for (int c = 0; c < CX; c++) ab[c * RWMAX + r] = _mm512_setzero_ps();
    for (int g = 0; g < ng; g++) {
        __m512i is[RWMAX][CXT];
        const uint8_t *xg[CXT];
#pragma GCC unroll 4
        for (int c = 0; c < CX; c++) xg[c] = x + (size_t)c * ldx + (size_t)(g0 + g) * ACT;
#pragma GCC unroll 4
        for (int r = 0; r < RW; r++)
#pragma GCC unroll 4
            for (int c = 0; c < CX; c++) is[r][c] = _mm512_setzero_si512();
#pragma GCC unroll 8
        for (int j = 0; j < 8; j++) {
            __m512i wv[RWMAX];
#pragma GCC unroll 4
            for (int r = 0; r < RW; r++) {
                wv[r] = _mm512_load_si512((const void *)&P[r * KS + g].q[j]);
                __asm__("" : "+v"(wv[r])); /* kept in registers: see x86/gemm_pq4_0_avx512.c */
            }
#pragma GCC unroll 4
            for (int c = 0; c < CX; c++) {
                const __m512i xv = _mm512_loadu_si512((const void *)(xg[c] + 64 * j));
#pragma GCC unroll 4
                for (int r = 0; r < RW; r++) is[r][c] = _mm512_dpbusd_epi32(is[r][c], wv[r], xv);
            }
        }
        /* factors in registers first: the compiler must assume every store
         * to ab may alias P and x (-fno-strict-aliasing) and would reload
         * them for each element */
        __m512 ws[RWMAX], wm[RWMAX];
#pragma GCC unroll 4
        for (int r = 0; r < RW; r++) ws[r] = P[r * KS + g].ws, wm[r] = P[r * KS + g].wm;
#pragma GCC unroll 4
        for (int c = 0; c < CX; c++) {
            const __m512 dx = act_dx(xg[c]), bsx = act_bsx(xg[c]);
#pragma GCC unroll 4
            for (int r = 0; r < RW; r++)
                ab[c * RWMAX + r] = fold(ab[c * RWMAX + r], is[r][c], ws[r], wm[r], dx, bsx);
        }
    }
    if (last) tile_store(ab, y, ldy, RW, CX);
}

AI void rows_panel(int64_t K, const uint8_t *w, size_t ldw, const uint8_t *x, size_t ldx, int nx, float *y, int64_t ldy,
                   const int RW) {
    const int nb = (int)(K / QK_K), ngr = (nb + 1) / 2;
    pgrp P[RWMAX * KS] __attribute__((aligned(64)));
    __m512 ab[NXMAX * RWMAX] __attribute__((aligned(64)));
    for (int s0 = 0; s0 < ngr; s0 += KS) {
        const int ng = ngr - s0 < KS ? ngr - s0 : KS;
        const int first = s0 == 0, last = s0 + ng == ngr;
#pragma GCC unroll 4
        for (int r = 0; r < RW; r++)
            for (int g = 0; g < ng; g++) grp_load(w + (size_t)r * ldw, nb, s0 + g, &P[r * KS + g]);
        /* the next call's weight rows are prefetched while this one computes */
        pg_pf_spread pfs;
        pg_pf_init(&pfs, w + (size_t)RW * ldw, last ? (size_t)RW * ldw : 0, (nx + CXT - 1) / CXT);
#define TILE(c_, n) tile(P, ng, s0, x + (size_t)c_ * ldx, ldx, ab + c_ * RWMAX, first, last, y + (int64_t)c_ * ldy, ldy, RW, n)
        PG_TILE_SWEEP(nx, &pfs, TILE);
#undef TILE
    }
}

static void gemm_pq4_K(int64_t K, const void *w, size_t ldw, int nw, const void *x, size_t ldx, int nx, float *y,
                       int64_t ldy) {
    if (nx < 1 || nx > NXMAX) __builtin_trap();
    if (nw == 1 && nx <= M1) { /* passes of DMAX rows over the weight row (L1 after the first) */
        for (int c = 0; c < nx; c += DMAX) {
            if (nx - c == 1) row_direct(K, w, x + (size_t)c * ldx, ldx, y + (int64_t)c * ldy, ldy, 1);
            else row_direct(K, w, x + (size_t)c * ldx, ldx, y + (int64_t)c * ldy, ldy, 2);
        }
        return;
    }
#define ROWS(n) rows_panel(K, w, ldw, x, ldx, nx, y, ldy, n)
    PG_SWITCH_NW(nw, ROWS);
#undef ROWS
}

/* m1 = M1: small batches stream one weight row per call (direct path) */
static const pg_gemm_kernel k_pq4_K = {RWMAX, NXMAX, M1, gemm_pq4_K, pg_gemm_kq_act_size, pg_gemm_kq_pack,
                                       pq4k_ok, pq4k_wpack};

const pg_gemm_kernel *pg_gemm_pq4_K_avx512(void) { return &k_pq4_K; }
