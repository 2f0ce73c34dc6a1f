/* gemm_pq4_0_avx2.c - AVX2 tile kernel (tensor/gemm.h) over Q4_0 weights
 * repacked once at model load into panels of 8 rows whose rows run in the
 * 8 int32 lanes of a ymm register, against activations packed once per
 * matmul. The design of x86/gemm_pq4_0_avx512.c (which says why rows in
 * lanes) for machines without AVX-512 VNNI; the layouts are those of
 * x86/gemm_pq4_0.h with L = 8 (a partial last panel, L < 8, is read with
 * masked loads).
 *
 * Without vpdpbusd the int8 product is vpmaddubsw (unsigned nibble x
 * signed activation byte, int16 pair sums), and that instruction is the
 * bottleneck (one per cycle on Zen 3, two on recent Intel cores): per
 * block, register tile row and 8 weight rows, 8 vpmaddubsw against the
 * 4-byte activation broadcasts are summed in int16 (exact: a pair is at
 * most 2 * 15 * 127 = 3810 in magnitude, 8 of them 30480 < 2^15), then
 * one vpmaddwd with ones makes the int32 block dot of each lane. All else
 * (unpacking the nibbles once per block and tile, the float epilogue once
 * per block and row for 8 weight rows) runs on the other ports.
 *
 * Per output element (lane r, activation row c), blocks b ascending:
 *   isum = start[c][b] + dot(n, q)   (exact integers),
 *   acc  = fma(cvt(isum) * dx[c][b], dw[r][b], acc)       (acc from 0)
 * and the output is acc: the formula of the AVX-512 kernel, so both levels
 * give bit-identical results, and it depends only on K, never on M, the
 * tile, the panel's fullness, the position or the thread (batch
 * invariance, tensor/gemm.h). */
#include "tensor/gemm.h"
#include "tensor/x86/gemm_pq4_0.h"

#include <immintrin.h>
#include <string.h>

#define AI static inline __attribute__((always_inline))

#define PL 8      /* rows per panel (lanes) */
#ifndef CT
#define CT 4
#endif
#define CT_ 4      /* activation rows per register tile (8 weight operands + CT accumulators + temporaries <= 16) */
#define NXMAX 128 /* activation rows per call */

AI __m256i bcast4(const uint8_t *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return _mm256_set1_epi32(v);
}

AI float ldf(const uint8_t *p) {
    float v;
    memcpy(&v, p, 4);
    return v;
}

/* One panel of L lanes (FULL: L == 8) x NC <= CT activation rows, all of
 * K; y[c * ldy + r] for r < L. */
AI void tile(int nb, int L, const uint8_t *w, const uint8_t *x, size_t ldx, float *y, int64_t ldy, const int NC,
             const int FULL) {
    const __m256i m4 = _mm256_set1_epi8(15), ones = _mm256_set1_epi16(1);
    const __m256i lanes = _mm256_cmpgt_epi32(_mm256_set1_epi32(L), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    const size_t doff = (size_t)nb * 32, soff = (size_t)nb * 36;
    __m256 acc[CT];
#pragma GCC unroll 4
    for (int c = 0; c < NC; c++) acc[c] = _mm256_setzero_ps();
    for (int b = 0; b < nb; b++) {
        const uint8_t *pq = w + pg_pq4_0_q(L, b);
        __m256 dw;
        if (FULL) {
            dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(w + pg_pq4_0_d(PL, nb, b))));
        } else {
            uint16_t h[PL] = {0};
            memcpy(h, w + pg_pq4_0_d(L, nb, b), (size_t)2 * L);
            dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)h));
        }
        /* raw vector by raw vector: its two operands (low, high nibbles)
         * go to every row of the tile, so only 2 weight registers live */
        __m256i s[CT];
#pragma GCC unroll 4
        for (int k = 0; k < 4; k++) {
            const __m256i v = FULL ? _mm256_loadu_si256((const __m256i *)(pq + 32 * k))
                                   : _mm256_maskload_epi32((const int *)(pq + (size_t)4 * L * k), lanes);
            const __m256i lo = _mm256_and_si256(v, m4), hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), m4);
#pragma GCC unroll 8
            for (int c = 0; c < NC; c++) {
                const uint8_t *xq = x + (size_t)c * ldx + (size_t)32 * b + 4 * k;
                const __m256i p = _mm256_add_epi16(_mm256_maddubs_epi16(lo, bcast4(xq)),
                                                   _mm256_maddubs_epi16(hi, bcast4(xq + 16)));
                s[c] = k ? _mm256_add_epi16(s[c], p) : p;
                /* keep the sums in order in registers (GCC otherwise
                 * reassociates them into trees of 16 live products and
                 * spills) */
                __asm__("" : "+x"(s[c]));
            }
        }
#pragma GCC unroll 8
        for (int c = 0; c < NC; c++) {
            const uint8_t *xr = x + (size_t)c * ldx;
            const __m256i isum = _mm256_add_epi32(_mm256_madd_epi16(s[c], ones), bcast4(xr + soff + (size_t)4 * b));
            const __m256 f = _mm256_mul_ps(_mm256_cvtepi32_ps(isum), _mm256_set1_ps(ldf(xr + doff + (size_t)4 * b)));
            acc[c] = _mm256_fmadd_ps(f, dw, acc[c]);
            __asm__("" : "+x"(acc[c]));
        }
    }
#pragma GCC unroll 4
    for (int c = 0; c < NC; c++) {
        if (FULL) _mm256_storeu_ps(y + (int64_t)c * ldy, acc[c]);
        else _mm256_maskstore_ps(y + (int64_t)c * ldy, lanes, acc[c]);
    }
}

AI void panel(int nb, int L, const uint8_t *w, const uint8_t *x, size_t ldx, int nx, float *y, int64_t ldy,
              const int FULL) {
    for (int c0 = 0; c0 < nx; c0 += CT) {
        const uint8_t *xc = x + (size_t)c0 * ldx;
        float *yc = y + (int64_t)c0 * ldy;
        switch (nx - c0 < CT ? nx - c0 : CT) {
        case 1: tile(nb, L, w, xc, ldx, yc, ldy, 1, FULL); break;
        case 2: tile(nb, L, w, xc, ldx, yc, ldy, 2, FULL); break;
        case 3: tile(nb, L, w, xc, ldx, yc, ldy, 3, FULL); break;
        case 4: tile(nb, L, w, xc, ldx, yc, ldy, 4, FULL); break;
#if CT > 4
        case 5: tile(nb, L, w, xc, ldx, yc, ldy, 5, FULL); break;
        case 6: tile(nb, L, w, xc, ldx, yc, ldy, 6, FULL); break;
#endif
        default: __builtin_trap();
        }
    }
}

/* w: one panel of nw <= 8 rows (matmul hands out whole panels: its row
 * groups are 8 rows from the start of each matrix). Any alignment; in the
 * model's page-aligned packed copy with nb even every load is aligned. */
static void gemm_pq4_0(int64_t K, const void *w, size_t ldw, int nw, const void *x, size_t ldx, int nx, float *y,
                       int64_t ldy) {
    const int nb = (int)(K / 32);
    (void)ldw;
    if (nx < 1 || nx > NXMAX || nw < 1 || nw > PL || K % 32) __builtin_trap();
    if (nw == PL) panel(nb, PL, w, x, ldx, nx, y, ldy, 1);
    else panel(nb, nw, w, x, ldx, nx, y, ldy, 0);
}

static const pg_gemm_kernel k_pq4_0 = {
    .rw = PL, .cx = NXMAX, .m1 = 8, .fn = gemm_pq4_0, .act_size = pg_pq4_0_act_size,
    .act_pack = pg_pq4_0_act_pack, .wpack_ok = pg_pq4_0_wpack_ok, .wpanel = PL, .wpackp = pg_pq4_0_wpack,
};

const pg_gemm_kernel *pg_gemm_pq4_0_avx2(void) { return &k_pq4_0; }
