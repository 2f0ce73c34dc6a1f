/* gemm_pq4_K_avx512.c - AVX-512 VNNI tile kernel (tensor/gemm.h) over
 * q4_K weights repacked once at model load into panels of 16 rows whose
 * rows run in the 16 int32 lanes (the design of x86/gemm_pq4_0_avx512.c,
 * which says why), against activations packed once per matmul.
 *
 * Panel (L = 16 lanes, or L = N % 16 rows for the last panel of a matrix;
 * exactly the stored bytes of its L rows, 144 * nsb per row, nsb = K / 256
 * super-blocks). Super-block t starts at 144 * L * t:
 *   32 raw vectors of 4L bytes: vector k, lane r = stored qs bytes 4k ..
 *     4k + 3 of row r's super-block. With j = k / 8, i = k % 8, their low
 *     nibbles are elements 64j + 4i .. + 3 (sub-block 2j), their high
 *     nibbles elements 64j + 32 + 4i .. + 3 (sub-block 2j + 1);
 *   3 vectors of 4L bytes: the stored 12 scale bytes of each lane (dword
 *     A = bytes 0..3, B = 4..7, C = 8..11);
 *   fp16 d of each lane (2L bytes), then fp16 dmin (2L bytes).
 * The 6-bit scales sc_s and mins m_s (s < 8) are unpacked per super-block
 * into int32 lane vectors with shifts and masks (the stored bit layout:
 * s < 4: sc = A byte s & 63, m = B byte s & 63; s >= 4: sc = C byte s-4 low
 * nibble | (A byte s-4 >> 6) << 4, m = C byte s-4 high nibble | (B byte
 * s-4 >> 6) << 4), once per super-block and register tile.
 *
 * Activations: Q8_K quantized by the level's from_float (exactly the
 * vec_dot path's values). Packed row: nsb x 256 int8 (super-block t at
 * 256t), nsb floats d, then nsb x 8 int16 sub-block sums (exact sums of
 * 32 values) in pairs (sum 2k, sum 2k + 1) per dword; act_size rounds up
 * to 64.
 *
 * Per output element (lane r, activation row c), super-blocks ascending:
 *   T  = sum_s sc_s * dot_s   (dot_s: 8 vpdpbusd of sub-block s; exact:
 *                              |T| < 8 * 63 * 32 * 15 * 128 < 2^31)
 *   Mi = sum_s m_s * bsum_s   (4 vpdpwssd over the pairs; exact)
 *   acc = fma(cvt(T) * dx, d, acc);  acc = fma(-(cvt(Mi) * dx), dmin, acc)
 * from acc = 0, and the output is acc: the same sequence whatever M, the
 * tile, the panel's fullness or the thread (batch invariance). */
#include "base/error.h"
#include "tensor/blocks.h"
#include "tensor/dispatch.h"
#include "tensor/types.h"
#include "tensor/x86/gemm_avx512_util.h"
#include "tensor/x86/gemm_pq4_K.h"

#include <immintrin.h>
#include <string.h>

#define PL 16     /* rows per panel (lanes) */
#define CT 6      /* activation rows per register tile */
#define NXMAX 128 /* activation rows per call */
#define PFD 4096 /* software prefetch distance in bytes on the first pass over a panel (4096 measured better than 8192 / 12288) */

AI __m512i lo4(__m512i v) { return _mm512_and_si512(v, _mm512_set1_epi8(15)); }
AI __m512i hi4(__m512i v) { return _mm512_and_si512(_mm512_srli_epi16(v, 4), _mm512_set1_epi8(15)); }

/* a + dpbusd(w, broadcast of the 4 bytes at p) ({1to16} memory operand) */
AI __m512i dpb(__m512i a, __m512i w, const uint8_t *p) {
    __asm__("vpdpbusd %2%{1to16%}, %1, %0" : "+v"(a) : "v"(w), "m"(*(const int32_t *)p));
    return a;
}
/* a + dpwssd(w, broadcast of the int16 pair at p) */
AI __m512i dpw(__m512i a, __m512i w, const uint8_t *p) {
    __asm__("vpdpwssd %2%{1to16%}, %1, %0" : "+v"(a) : "v"(w), "m"(*(const int32_t *)p));
    return a;
}

AI __m512i ld(const uint8_t *p, __mmask16 m, const int FULL) {
    return FULL ? _mm512_loadu_si512((const void *)p) : _mm512_maskz_loadu_epi32(m, p);
}

/* One panel of L lanes x NC <= CT activation rows, all of K. */
AI void tile(int pf, int nsb, int L, const uint8_t *w, const uint8_t *x, size_t ldx, float *y, int64_t ldy,
             const int NC, const int FULL) {
    const __mmask16 m = FULL ? 0xffff : (__mmask16)((1u << L) - 1);
    const size_t doff = (size_t)nsb * 256, boff = (size_t)nsb * 260, vb = (size_t)4 * L;
    const __m512i m6 = _mm512_set1_epi32(63), m4 = _mm512_set1_epi32(15), m2 = _mm512_set1_epi32(3 << 4);
    __m512 acc[CT];
#pragma GCC unroll 8
    for (int c = 0; c < NC; c++) acc[c] = _mm512_setzero_ps();
    for (int t = 0; t < nsb; t++) {
        const uint8_t *ws = w + (size_t)144 * L * t;
        /* scales and mins of the 8 sub-blocks, int32 per lane */
        const __m512i A = ld(ws + 32 * vb, m, FULL), B = ld(ws + 33 * vb, m, FULL), C = ld(ws + 34 * vb, m, FULL);
        __m512i sc[8], mp[4];
        {
            __m512i mn[8];
#pragma GCC unroll 4
            for (int s = 0; s < 4; s++) {
                sc[s] = _mm512_and_si512(_mm512_srli_epi32(A, 8 * s), m6);
                mn[s] = _mm512_and_si512(_mm512_srli_epi32(B, 8 * s), m6);
                sc[s + 4] = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi32(C, 8 * s), m4),
                                            _mm512_and_si512(_mm512_srli_epi32(A, 8 * s + 2), m2));
                mn[s + 4] = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi32(C, 8 * s + 4), m4),
                                            _mm512_and_si512(_mm512_srli_epi32(B, 8 * s + 2), m2));
            }
#pragma GCC unroll 4
            for (int k = 0; k < 4; k++) mp[k] = _mm512_or_si512(mn[2 * k], _mm512_slli_epi32(mn[2 * k + 1], 16));
        }
        __m512i T[CT];
#pragma GCC unroll 8
        for (int c = 0; c < NC; c++) T[c] = _mm512_setzero_si512();
        for (int s = 0; s < 8; s++) {
            /* the super-block's 36 lines (L = 16), PFD ahead, spread over
             * its sub-blocks */
            if (pf)
                for (int l = 36 * s / 8; l < 36 * (s + 1) / 8; l++)
                    _mm_prefetch((const char *)ws + PFD + 64 * l, _MM_HINT_T0);
            __m512i op[8];
            const uint8_t *pq = ws + (size_t)8 * (s / 2) * vb;
#pragma GCC unroll 8
            for (int i = 0; i < 8; i++) {
                const __m512i v = ld(pq + i * vb, m, FULL);
                op[i] = (s & 1) ? hi4(v) : lo4(v);
                __asm__("" : "+v"(op[i]));
            }
#pragma GCC unroll 8
            for (int c = 0; c < NC; c++) {
                const uint8_t *xq = x + (size_t)c * ldx + (size_t)256 * t + 32 * s;
                __m512i d0 = _mm512_setzero_si512(), d1 = _mm512_setzero_si512();
#pragma GCC unroll 4
                for (int i = 0; i < 4; i++) {
                    d0 = dpb(d0, op[2 * i], xq + 8 * i);
                    d1 = dpb(d1, op[2 * i + 1], xq + 8 * i + 4);
                }
                T[c] = _mm512_add_epi32(T[c], _mm512_mullo_epi32(_mm512_add_epi32(d0, d1), sc[s]));
            }
        }
        const __m512 dw = _mm512_cvtph_ps(FULL ? _mm256_loadu_si256((const __m256i *)(ws + 35 * vb))
                                               : _mm256_maskz_loadu_epi16(m, ws + 35 * vb));
        const __m512 dm = _mm512_cvtph_ps(FULL ? _mm256_loadu_si256((const __m256i *)(ws + 35 * vb + 2 * L))
                                               : _mm256_maskz_loadu_epi16(m, ws + 35 * vb + 2 * L));
#pragma GCC unroll 8
        for (int c = 0; c < NC; c++) {
            const uint8_t *xr = x + (size_t)c * ldx;
            float dx;
            memcpy(&dx, xr + doff + (size_t)4 * t, 4);
            __m512i mi = _mm512_setzero_si512();
#pragma GCC unroll 4
            for (int k = 0; k < 4; k++) mi = dpw(mi, mp[k], xr + boff + (size_t)16 * t + 4 * k);
            const __m512 vdx = _mm512_set1_ps(dx);
            acc[c] = _mm512_fmadd_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(T[c]), vdx), dw, acc[c]);
            acc[c] = _mm512_fnmadd_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(mi), vdx), dm, acc[c]);
        }
    }
#pragma GCC unroll 8
    for (int c = 0; c < NC; c++) _mm512_mask_storeu_ps(y + (int64_t)c * ldy, m, acc[c]);
}

AI void panel(int nsb, int L, const uint8_t *w, const uint8_t *x, size_t ldx, int nx, float *y, int64_t ldy,
              const int FULL) {
#define TILE(pf, xc, yc, n) tile(pf, nsb, L, w, xc, ldx, yc, ldy, n, FULL)
    PG_PANEL_SWEEP(CT, x, ldx, nx, y, ldy, TILE);
#undef TILE
}

/* w: one panel of nw <= 16 rows (see gemm_pq4_0_avx512.c). */
static void gemm_pq4_K(int64_t K, const void *w, size_t ldw, int nw, const void *x, size_t ldx, int nx, float *y,
                       int64_t ldy) {
    const int nsb = (int)(K / QK_K);
    (void)ldw;
    if (nx < 1 || nx > NXMAX || nw < 1 || nw > PL || K % QK_K) PG_TRAP();
    if (nw == PL) panel(nsb, PL, w, x, ldx, nx, y, ldy, 1);
    else panel(nsb, nw, w, x, ldx, nx, y, ldy, 0);
}

const pg_gemm_kernel pg_gemm_pq4_K_avx512 = {
    .rw = PL, .cx = NXMAX, .m1 = 8, .fn = gemm_pq4_K, .act_size = pg_pq4_K_act_size,
    .act_pack = pg_pq4_K_act_pack, .wpack_ok = pg_pq4_K_wpack_ok, .wpanel = PL, .wpackp = pg_pq4_K_wpack,
};

