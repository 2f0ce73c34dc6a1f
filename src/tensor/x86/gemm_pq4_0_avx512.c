/* gemm_pq4_0_avx512.c - AVX-512 VNNI tile kernel (tensor/gemm.h) over
 * Q4_0 weights repacked once at model load (wpack), against activations
 * packed once per matmul (act_pack).
 *
 * Why: the stored-layout kernel (x86/gemm_avx512.c) re-transposes the
 * nibbles of every weight block and recomputes its -128 * sum(w) offset on
 * every call; in decode that work sits on the DRAM stream. Here the row is
 * rearranged at load so that a plain 64-byte load gives 16 blocks' bytes in
 * lane order and `v & 15`, `(v >> 4) & 15` are directly vpdpbusd operands.
 *
 * Lanes: a group is 16 consecutive blocks (512 elements); int32 lane p of a
 * vector stands for block p of the group. Operand j = 2k + h (k < 4, h < 2)
 * holds in lane p the 4 elements 16h + 4k .. 16h + 4k + 3 of block p. So
 * 8 vpdpbusd of weight operands with activation operands give 16 exact
 * block dots at once.
 *
 * Repacked weight row (exactly the stored row_bytes = 18 * nb, nb = K / 32):
 *   qs region, 16 * nb bytes: group g (n = min(16, nb - 16g) blocks) at
 *     256 * g; its raw vector k (k < 4) at + 4n * k holds in lane p < n the
 *     qs bytes 4k .. 4k + 3 of block 16g + p (low nibbles: operand 2k, high
 *     nibbles: operand 2k + 1). Full groups: 4 contiguous 64-byte vectors.
 *   d region, 2 * nb bytes at 16 * nb: group g's fp16 scales at + 32 * g,
 *     lane order.
 * The last group of a row whose nb is not a multiple of 16 is partial
 * (n < 16); it is read with masked loads (zero lanes, faults suppressed),
 * so every K % 32 == 0 is accepted and no byte outside the row is used.
 *
 * Weights are vpdpbusd's unsigned operand (nibbles 0..15), activations the
 * signed one (Q8_0 quantized by the level's from_float, so exactly the
 * vec_dot path's values). dot(n - 8, q) = dpbusd(n, q) - 8 * sum(q): the
 * per-block -8 * sum(q) is computed once in act_pack and is the integer
 * start value. Packed activation row (ng = ceil(nb / 16) groups, missing
 * blocks zero): ng x 8 operands (512 bytes per group), then ng x 16 int32
 * starts, then ng x 16 fp16 scales; act_size rounds up to 64.
 *
 * Per output element and group: isum = start + 8 vpdpbusd (exact integer;
 * the association of the adds is free), then
 * acc = fma(cvt(isum), cvt(dw) * cvt(dx), acc), groups in order; at the end
 * hsum16(acc) (or hsum16x4, bit-identical). Padded lanes add exact zeros.
 * This sequence depends only on K, never on M, the tile shape, the path
 * (direct or panel), the position or the thread: batch invariance.
 *
 * Paths: nw == 1 and nx <= M1 (decode, small batches): the direct path
 * streams one weight row (software prefetch PFD bytes ahead) and unpacks
 * each group into registers, used at once by up to CXD activation rows.
 * Otherwise a panel of up to 4 unpacked rows x KS groups on the stack is
 * reused by 4 x 4 register tiles over all nx activation rows. */
#include "tensor/blocks.h"
#include "tensor/gemm.h"
#include "tensor/types.h"
#include "tensor/x86/gemm_avx512_util.h"

#include <immintrin.h>
#include <string.h>

#define ACT_Q 512 /* activation operand bytes per group */
#define KS 8      /* groups per panel slice */
#define NXMAX 128 /* activation rows per call */
#define RW 4      /* tile: weight rows (matmul's NCHUNK is a multiple) */
#define CXT 4     /* tile: activation rows */
_Static_assert(CXT == 4, "PG_TILE_SWEEP sweeps tiles of 4 activation rows");
#define M1 4      /* batches up to M1 rows take the direct path (in passes of CXD); larger ones the panel (measured end to end at M = 8) */
#define CXD 4     /* direct path: activation rows per pass over the weight row */
#define PFD 4096  /* direct path: software prefetch distance in bytes (about 3.5 us of DRAM streaming per core) */

/* Activation row views: operands, starts, scales of group g (ng groups). */
AI const uint8_t *act_q(const uint8_t *x, int g) { return x + (size_t)g * ACT_Q; }
AI const uint8_t *act_s(const uint8_t *x, int ng, int g) { return x + (size_t)ng * ACT_Q + (size_t)g * 64; }
AI const uint8_t *act_d(const uint8_t *x, int ng, int g) { return x + (size_t)ng * (ACT_Q + 64) + (size_t)g * 32; }

/* Raw weight vectors and float scales of group g of a row of nb blocks. */
typedef struct {
    __m512i v[4];
    __m512 d;
} wraw;

AI void load_group(const uint8_t *w, int nb, int g, wraw *r) {
    const int n = nb - 16 * g < 16 ? nb - 16 * g : 16;
    const uint8_t *q = w + (size_t)g * 256, *d = w + (size_t)nb * 16 + (size_t)g * 32;
    if (n == 16) {
#pragma GCC unroll 4
        for (int k = 0; k < 4; k++) r->v[k] = _mm512_loadu_si512((const void *)(q + 64 * k));
        r->d = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)d));
    } else {
        const __mmask16 m = (__mmask16)((1u << n) - 1);
#pragma GCC unroll 4
        for (int k = 0; k < 4; k++) r->v[k] = _mm512_maskz_loadu_epi32(m, q + 4 * n * k);
        r->d = _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, d));
    }
}

AI __m512i lo4(__m512i v) { return _mm512_and_si512(v, _mm512_set1_epi8(15)); }
AI __m512i hi4(__m512i v) { return _mm512_and_si512(_mm512_srli_epi16(v, 4), _mm512_set1_epi8(15)); }

/* ------------------------------------------------------------ direct path */

/* One weight row x CX activation rows (CX <= CXD), accumulators in
 * registers. Per element: the sequence of the header comment. */
AI void row_direct(int nb, const uint8_t *w, const uint8_t *x, size_t ldx, float *y, int64_t ldy, const int CX) {
    const int ng = (nb + 15) / 16;
    __m512 acc[CXD];
#pragma GCC unroll 8
    for (int c = 0; c < CX; c++) acc[c] = _mm512_setzero_ps();
    for (int g = 0; g < ng; g++) {
        wraw R;
        /* the group PFD bytes ahead (rows are contiguous and matmul walks
         * them in order): 288 bytes per group, read as 5 lines */
        const uint8_t *pf = w + (size_t)g * 288 + PFD;
#pragma GCC unroll 5
        for (int l = 0; l < 5; l++) _mm_prefetch((const char *)(pf + 64 * l), _MM_HINT_T0);
        load_group(w, nb, g, &R);
        __m512i op[8];
#pragma GCC unroll 4
        for (int k = 0; k < 4; k++) op[2 * k] = lo4(R.v[k]), op[2 * k + 1] = hi4(R.v[k]);
#pragma GCC unroll 8
        for (int c = 0; c < CX; c++) {
            const uint8_t *xr = x + (size_t)c * ldx;
            const uint8_t *xq = act_q(xr, g);
            /* two chains of 4 (exact integers: the split changes nothing) */
            __m512i a = _mm512_loadu_si512((const void *)act_s(xr, ng, g)), b = _mm512_setzero_si512();
#pragma GCC unroll 4
            for (int j = 0; j < 4; j++) {
                a = _mm512_dpbusd_epi32(a, op[j], _mm512_loadu_si512((const void *)(xq + 64 * j)));
                b = _mm512_dpbusd_epi32(b, op[j + 4], _mm512_loadu_si512((const void *)(xq + 64 * (j + 4))));
            }
            const __m512 dx = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)act_d(xr, ng, g)));
            acc[c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_add_epi32(a, b)), _mm512_mul_ps(R.d, dx), acc[c]);
        }
    }
    int c = 0;
    for (; c + 4 <= CX; c += 4) {
        float t[4];
        _mm_storeu_ps(t, hsum16x4(acc[c], acc[c + 1], acc[c + 2], acc[c + 3]));
        for (int e = 0; e < 4; e++) y[(int64_t)(c + e) * ldy] = t[e];
    }
    for (; c < CX; c++) y[(int64_t)c * ldy] = hsum16(acc[c]);
}

_Static_assert(CXD == 4, "direct(): one case per CX <= CXD");

static void direct(int nb, const uint8_t *w, const uint8_t *x, size_t ldx, int nx, float *y, int64_t ldy) {
    for (int c0 = 0; c0 < nx; c0 += CXD) {
        const uint8_t *xc = x + (size_t)c0 * ldx;
        float *yc = y + (int64_t)c0 * ldy;
        switch (nx - c0 < CXD ? nx - c0 : CXD) {
        case 1: row_direct(nb, w, xc, ldx, yc, ldy, 1); break;
        case 2: row_direct(nb, w, xc, ldx, yc, ldy, 2); break;
        case 3: row_direct(nb, w, xc, ldx, yc, ldy, 3); break;
        case 4: row_direct(nb, w, xc, ldx, yc, ldy, 4); break;
        default: __builtin_trap();
        }
    }
}

/* ------------------------------------------------------------- panel path */

/* One unpacked weight group: the 8 unsigned operands and the float scales. */
typedef struct {
    __m512i q[8];
    __m512 d;
} wgrp;

/* y[c][r] = hsum16(ab[c * RW + r]); out of line to keep the tile loop's
 * registers. */
static __attribute__((noinline)) void tile_store(const __m512 *ab, float *y, int64_t ldy, int nr, int nc) {
    for (int c = 0; c < nc; c++) {
        const __m512 *a = ab + c * RW;
        if (nr == 4)
            _mm_storeu_ps(y + (int64_t)c * ldy, hsum16x4(a[0], a[1], a[2], a[3]));
        else
            for (int r = 0; r < nr; r++) y[(int64_t)c * ldy + r] = hsum16(a[r]);
    }
}

/* Groups [g0, g0 + gn) of NR panel rows x NC activation rows (rows of ng
 * groups). Float accumulators in ab (L1): zeroed on the first slice,
 * reduced into y on the last. */
AI void tile(const wgrp *P, int gn, int g0, int ng, const uint8_t *x, size_t ldx, __m512 *ab, int first, int last,
             float *y, int64_t ldy, const int NR, const int NC) {
    if (first)
#pragma GCC unroll 4
        for (int r = 0; r < NR; r++)
#pragma GCC unroll 4
            for (int c = 0; c < NC; c++) ab[c * RW + r] = _mm512_setzero_ps();
    for (int g = 0; g < gn; g++) {
        __m512i is[RW][CXT];
#pragma GCC unroll 4
        for (int c = 0; c < NC; c++) {
            const __m512i s = _mm512_loadu_si512((const void *)act_s(x + (size_t)c * ldx, ng, g0 + g));
#pragma GCC unroll 4
            for (int r = 0; r < NR; r++) is[r][c] = s;
        }
#pragma GCC unroll 8
        for (int j = 0; j < 8; j++) {
            __m512i wv[RW];
#pragma GCC unroll 4
            for (int r = 0; r < NR; r++) {
                wv[r] = _mm512_load_si512((const void *)&P[r * KS + g].q[j]);
                /* keep the weight operands in registers: they are
                 * vpdpbusd's unsigned operand, which cannot come from
                 * memory, and without this GCC reloads them for every
                 * activation row (measured 7% slower at M = 128) */
                __asm__("" : "+v"(wv[r]));
            }
#pragma GCC unroll 4
            for (int c = 0; c < NC; c++) {
                const __m512i xv = _mm512_loadu_si512((const void *)(act_q(x + (size_t)c * ldx, g0 + g) + 64 * j));
#pragma GCC unroll 4
                for (int r = 0; r < NR; r++) is[r][c] = _mm512_dpbusd_epi32(is[r][c], wv[r], xv);
            }
        }
#pragma GCC unroll 4
        for (int c = 0; c < NC; c++) {
            const __m512 dx = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)act_d(x + (size_t)c * ldx, ng, g0 + g)));
#pragma GCC unroll 4
            for (int r = 0; r < NR; r++)
                ab[c * RW + r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(is[r][c]), _mm512_mul_ps(P[r * KS + g].d, dx), ab[c * RW + r]);
        }
    }
    if (last) tile_store(ab, y, ldy, NR, NC);
}

AI void rows_panel(int nb, const uint8_t *w, size_t ldw, const uint8_t *x, size_t ldx, int nx, float *y, int64_t ldy,
                   const int NR) {
    const int ng = (nb + 15) / 16;
    wgrp P[RW * KS] __attribute__((aligned(64)));
    __m512 ab[NXMAX * RW] __attribute__((aligned(64)));
    for (int s0 = 0; s0 < ng; s0 += KS) {
        const int gn = ng - s0 < KS ? ng - s0 : KS;
        const int first = s0 == 0, last = s0 + gn == ng;
#pragma GCC unroll 4
        for (int r = 0; r < NR; r++)
            for (int g = 0; g < gn; g++) {
                wraw R;
                wgrp *G = &P[r * KS + g];
                load_group(w + (size_t)r * ldw, nb, s0 + g, &R);
                for (int k = 0; k < 4; k++) G->q[2 * k] = lo4(R.v[k]), G->q[2 * k + 1] = hi4(R.v[k]);
                G->d = R.d;
            }
        /* the next call's weight rows (matmul walks rows in order) are
         * prefetched while this slice computes */
        pg_pf_spread pfs;
        pg_pf_init(&pfs, w + (size_t)NR * ldw, last ? (size_t)NR * ldw : 0, (nx + CXT - 1) / CXT);
#define TILE(c_, n) tile(P, gn, s0, ng, x + (size_t)c_ * ldx, ldx, ab + c_ * RW, first, last, y + (int64_t)c_ * ldy, ldy, NR, n)
        PG_TILE_SWEEP(nx, &pfs, TILE);
#undef TILE
    }
}

static void gemm_pq4_0(int64_t K, const void *w, size_t ldw, int nw, const void *x, size_t ldx, int nx, float *y,
                       int64_t ldy) {
    const int nb = (int)(K / 32);
    if (nx < 1 || nx > NXMAX || K % 32) __builtin_trap();
    if (nw == 1 && nx <= M1) {
        direct(nb, w, x, ldx, nx, y, ldy);
        return;
    }
#define ROWS(n) rows_panel(nb, w, ldw, x, ldx, nx, y, ldy, n)
    PG_SWITCH_NW(nw, ROWS);
#undef ROWS
}

/* ----------------------------------------------------------- packing */

static size_t pq_act_size(int64_t K) {
    const size_t ng = (size_t)((K / 32 + 15) / 16);
    return (ng * (ACT_Q + 64 + 32) + 63) / 64 * 64;
}

/* One activation row: Q8_0 quantization (the level's from_float, as the
 * vec_dot path), then the layout of the header comment. */
static void pq_act_pack(const float *x, int64_t K, void *dst) {
    const pg_type_traits *t = pg_type_get(PG_TYPE_Q8_0);
    const int nb = (int)(K / 32), ng = (nb + 15) / 16;
    uint8_t *o = dst;
    for (int g = 0; g < ng; g++) {
        block_q8_0 b[16];
        const int n = nb - 16 * g < 16 ? nb - 16 * g : 16;
        memset(b, 0, sizeof b);
        t->from_float(x + (size_t)g * 512, b, (int64_t)n * 32);
        uint8_t *q = (uint8_t *)act_q(o, g);
        int32_t st[16];
        uint16_t dd[16];
        for (int p = 0; p < 16; p++) {
            int s = 0;
            for (int e = 0; e < 32; e++) s += b[p].qs[e];
            st[p] = -8 * s;
            dd[p] = b[p].d;
            /* dword 4h + k of the block's qs -> operand 2k + h, lane p */
            for (int dw = 0; dw < 8; dw++) memcpy(q + 64 * (2 * (dw % 4) + dw / 4) + 4 * p, b[p].qs + 4 * dw, 4);
        }
        memcpy((uint8_t *)act_s(o, ng, g), st, sizeof st);
        memcpy((uint8_t *)act_d(o, ng, g), dd, sizeof dd);
    }
    const size_t used = (size_t)ng * (ACT_Q + 64 + 32);
    memset(o + used, 0, pq_act_size(K) - used);
}

static int pq_wpack_ok(int64_t K) { return K > 0 && K % 32 == 0 && K / 32 <= (1 << 24); }

/* One stored row of K elements -> the repacked row (same 18 * nb bytes). */
static void pq_wpack(const void *src, int64_t K, void *dst) {
    const block_q4_0 *b = src;
    const int nb = (int)(K / 32);
    uint8_t *q = dst, *d = (uint8_t *)dst + (size_t)nb * 16;
    for (int g = 0; g < (nb + 15) / 16; g++) {
        const int n = nb - 16 * g < 16 ? nb - 16 * g : 16;
        for (int p = 0; p < n; p++) {
            const block_q4_0 *bp = &b[16 * g + p];
            for (int k = 0; k < 4; k++) memcpy(q + (size_t)g * 256 + 4 * n * k + 4 * p, bp->qs + 4 * k, 4);
            memcpy(d + (size_t)g * 32 + 2 * p, &bp->d, 2);
        }
    }
}

static const pg_gemm_kernel k_pq4_0 = {RW, NXMAX, M1, gemm_pq4_0, pq_act_size, pq_act_pack, pq_wpack_ok, pq_wpack};

const pg_gemm_kernel *pg_gemm_pq4_0_avx512(void) { return &k_pq4_0; }
