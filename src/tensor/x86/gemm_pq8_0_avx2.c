/* gemm_pq8_0_avx2.c - AVX2 tile kernel (tensor/gemm.h) over Q8_0 weights
 * repacked once at model load into panels of 16 rows whose rows run in
 * the int32 lanes of two ymm registers (rows 0..7, 8..15), against
 * activations packed once per matmul (layouts in x86/gemm_pq8_0.h, L = 16;
 * a partial last panel is read with masked loads). The structure of
 * x86/gemm_pq4_0_avx2.c: each 4-byte activation broadcast feeds both
 * halves of the panel, the weight vectors are prepared once per block and
 * register tile, the float epilogue runs once per block and row for 8
 * weight rows.
 *
 * The int8 x int8 product without VNNI is the sign trick: vpmaddubsw of
 * u = |w| (unsigned; w = -128 gives 0x80 = 128) and sign(x, w) (x negated
 * where w < 0, zeroed where w = 0; exact because the Q8_0 quantizer gives
 * x in -127..127). A pair sum is at most 2 * 128 * 127 = 32512 in
 * magnitude: it fits int16, but two of them may not, so every vpmaddubsw
 * result goes at once through vpmaddwd with ones to int32 (4 products per
 * lane, |.| <= 65024) and the 8 steps of a block are summed in int32
 * (|S| <= 520192 < 2^24, so cvt is exact too). Per step, row and 8
 * lanes: vpsignb, vpmaddubsw, vpmaddwd, vpaddd, plus half a broadcast and
 * 1/CT of a vpabsb. The alternative, splitting each weight into two
 * nibbles (w + 128 = 16h + l) and running two q4_0-style int16 chains,
 * needs the same number of multiplier ops (2 vpmaddubsw instead of
 * vpmaddubsw + vpmaddwd), more unpacking and a -128 * sum(x) term per
 * block and row (a larger activation row): ~15% more ops in all. Plain
 * int16 operands (vpmaddwd of sign-extended weights, widened once per
 * chunk of the panel as in x86/gemm_pq4_0_avx2.c, against an int16 copy
 * of the activation row; same exact S) drop the sign fix-up but keep 4
 * vector ops per 4 elements, row and 8 lanes (2 vpmaddwd + 2 vpaddd), and
 * on Zen 3 these loops issue ~3.2 vector ops a cycle whichever the mix (8
 * vpmaddwd + 8 vpaddd: 4.9-5.3 cycles from L1). Measured, bench kernels
 * --types q8_0 --threads 1, 2 interleaved runs: M = 16 106 against 122-123
 * GOP/s, M = 32 118-120 against 123-125, M = 128 121-124 against 121-124;
 * so not kept.
 *
 * Registers: the full-panel tiles keep only |w| of the current raw vector
 * in registers and give vpsignb the weight vector as a memory operand (an
 * L1 hit), which frees 2 ymm for the CT row sums; llvm-mca (Zen 3, the CT
 * = 4 full-panel block loop, scripts/kernel_mca.py) 1.49 -> 1.42 cycles per
 * vpmaddubsw, stack references 23 -> 19 per block. The loop is then bound
 * by the 4 FP pipes (~5.2 vector ops per vpmaddubsw: sign, vpmaddubsw,
 * vpmaddwd, vpaddd, half a broadcast, a quarter vpabsb and the float
 * epilogue), so about 1.3 cycles per 32 products is this algorithm's floor.
 *
 * Per output element (lane r, activation row c), blocks b ascending:
 *   S    = dot(w, q)   (exact integers),
 *   acc  = fma(cvt(S) * dx[c][b], dw[r][b], acc)   (acc from 0)
 * The output is acc: it depends only on K, never on M, the tile, the
 * panel's fullness, the position or the thread (batch invariance,
 * tensor/gemm.h). */
#include "base/error.h"
#include "tensor/dispatch.h"
#include "tensor/x86/gemm_pq8_0.h"
#include "tensor/x86/gemm_avx2_util.h"

#include <immintrin.h>
#include <string.h>

#define PL 16     /* rows per panel: two ymm halves of 8 lanes */
/* activation rows per register tile: 4 weight operands (w and |w| of both
 * halves) + 2 CT int32 sums + ones + broadcast + temporaries <= 16 ymm
 * (the float accumulators live in L1) */
#define CT 4
#define NXMAX 128 /* activation rows per call */
/* software prefetch distance (bytes) on the first pass over a panel */
#define PFD 1536

/* x with the signs of the 32 bytes at p (vpsignb with a memory operand:
 * keeps the weight vector out of the register file). */
AI __m256i sign_m(__m256i x, const uint8_t *p) {
    __m256i r;
    __asm__("vpsignb %2, %1, %0" : "=x"(r) : "x"(x), "m"(*(const __m256i_u *)p));
    return r;
}

/* One panel of L lanes (FULL: L == 16) x NC <= CT activation rows, all
 * of K; y[c * ldy + r] for r < L. */
AI void tile(int pf, int nb, int L, const uint8_t *w, const uint8_t *x, size_t ldx, float *y, int64_t ldy, const int NC,
             const int FULL) {
    const __m256i ones = _mm256_set1_epi16(1);
    __m256i lanes0, lanes1;
    lanes16(L, &lanes0, &lanes1);
    const size_t doff = (size_t)nb * 32;
    __m256 acc[2][CT];
#pragma GCC unroll 8
    for (int c = 0; c < NC; c++) acc[0][c] = acc[1][c] = _mm256_setzero_ps();
    for (int b = 0; b < nb; b++) {
        const uint8_t *pq = w + pg_pq8_0_q(L, b);
        if (pf) { /* 544 bytes a block: 9 lines cover it whatever its alignment */
#pragma GCC unroll 9
            for (int l = 0; l < 9; l++) _mm_prefetch((const char *)pq + PFD + 64 * l, _MM_HINT_T0);
        }
        __m256 dw0, dw1;
        if (FULL) {
            const uint8_t *pd = w + pg_pq8_0_d(PL, nb, b);
            dw0 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)pd));
            dw1 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(pd + 16)));
        } else {
            uint16_t h[PL] = {0};
            memcpy(h, w + pg_pq8_0_d(L, nb, b), (size_t)2 * L);
            dw0 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)h));
            dw1 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(h + 8)));
        }
        /* raw vector by raw vector: w and |w| of both halves go to every
         * row of the tile */
        __m256i s0[CT], s1[CT];
#pragma GCC unroll 8
        for (int k = 0; k < 8; k++) {
            const uint8_t *pv = pq + (size_t)4 * L * k;
            const __m256i v0 = ld(pv, lanes0, FULL);
            const __m256i v1 = ld(pv + 32, lanes1, FULL);
            const __m256i u0 = _mm256_abs_epi8(v0), u1 = _mm256_abs_epi8(v1);
#pragma GCC unroll 8
            for (int c = 0; c < NC; c++) {
                const __m256i xb = bcast4(x + (size_t)c * ldx + (size_t)32 * b + 4 * k);
                /* full panel: the sign operand is read again from L1 (a
                 * memory operand), so only |w| stays in registers */
                const __m256i g0 = FULL ? sign_m(xb, pv) : _mm256_sign_epi8(xb, v0);
                const __m256i g1 = FULL ? sign_m(xb, pv + 32) : _mm256_sign_epi8(xb, v1);
                const __m256i p0 = _mm256_madd_epi16(_mm256_maddubs_epi16(u0, g0), ones);
                const __m256i p1 = _mm256_madd_epi16(_mm256_maddubs_epi16(u1, g1), ones);
                s0[c] = k ? _mm256_add_epi32(s0[c], p0) : p0;
                s1[c] = k ? _mm256_add_epi32(s1[c], p1) : p1;
                /* keep the sums in order in registers (GCC otherwise
                 * reassociates them into trees of live products and
                 * spills) */
                __asm__("" : "+x"(s0[c]), "+x"(s1[c]));
            }
        }
#pragma GCC unroll 8
        for (int c = 0; c < NC; c++) {
            const __m256 dx = _mm256_set1_ps(ldf(x + (size_t)c * ldx + doff + (size_t)4 * b));
            acc[0][c] = _mm256_fmadd_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(s0[c]), dx), dw0, acc[0][c]);
            acc[1][c] = _mm256_fmadd_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(s1[c]), dx), dw1, acc[1][c]);
        }
    }
#pragma GCC unroll 8
    for (int c = 0; c < NC; c++) st16(y + (int64_t)c * ldy, acc[0][c], acc[1][c], lanes0, lanes1, FULL);
}

AI void panel(int nb, int L, const uint8_t *w, const uint8_t *x, size_t ldx, int nx, float *y, int64_t ldy,
              const int FULL) {
    for (int c0 = 0; c0 < nx; c0 += CT) {
        const uint8_t *xc = x + (size_t)c0 * ldx;
        float *yc = y + (int64_t)c0 * ldy;
        switch (nx - c0 < CT ? nx - c0 : CT) {
        case 1: tile(c0 == 0, nb, L, w, xc, ldx, yc, ldy, 1, FULL); break;
        case 2: tile(c0 == 0, nb, L, w, xc, ldx, yc, ldy, 2, FULL); break;
        case 3: tile(c0 == 0, nb, L, w, xc, ldx, yc, ldy, 3, FULL); break;
        case 4: tile(c0 == 0, nb, L, w, xc, ldx, yc, ldy, 4, FULL); break;
        default: PG_TRAP();
        }
    }
}

/* w: one panel of nw <= 16 rows (matmul hands out whole panels: its row
 * groups are 16 rows from the start of each matrix). Any alignment; in the
 * model's page-aligned packed copy every vector load is 32-byte aligned. */
static void gemm_pq8_0(int64_t K, const void *w, size_t ldw, int nw, const void *x, size_t ldx, int nx, float *y,
                       int64_t ldy) {
    const int nb = (int)(K / 32);
    (void)ldw;
    if (nx < 1 || nx > NXMAX || nw < 1 || nw > PL || K % 32) PG_TRAP();
    if (nw == PL) panel(nb, PL, w, x, ldx, nx, y, ldy, 1);
    else panel(nb, nw, w, x, ldx, nx, y, ldy, 0);
}

const pg_gemm_kernel pg_gemm_pq8_0_avx2 = {
    .rw = PL, .cx = NXMAX, .m1 = 8, .fn = gemm_pq8_0, .act_size = pg_pq8_0_act_size,
    .act_pack = pg_pq8_0_act_pack, .wpack_ok = pg_pq8_0_wpack_ok, .wpanel = PL, .wpackp = pg_pq8_0_wpack,
};

