/* gemm_avx2.c - AVX2 (+FMA+F16C) tile kernels (see tensor/gemm.h) for
 * Q4_0 and Q8_0 (against Q8_0) and Q4_K and Q6_K (against Q8_K).
 *
 * Same scheme as gemm_avx512.c with 256-bit vectors and 16 registers, so
 * tiles are at most 4 weight rows x 2 activation rows; each shape is an
 * always-inline instantiation of one template and every output element
 * sees the same operation sequence whatever the shape (batch invariance).
 *
 * 32-element quants, one block per register: Q4_0 nibbles u (0..15) go
 * through vpmaddubsw with the activation; 8*sum(x) pairs (vpmaddubsw of 8
 * with x, once per activation block) are subtracted in int16 (|(u-8)*x*2|
 * <= 2048), then vpmaddwd with ones gives 8 exact int32 lanes. Q8_0 uses
 * |w| x sign(x, w) (exact for activations != -128, which the Q8_0
 * quantizer never produces). Lanes are converted and fused into one float
 * accumulator per element with dw*dx.
 *
 * K-quants: per super-block and element an exact int32 vector of
 * scale-weighted sub-block dots (vpmaddubsw, then vpmaddwd with the
 * 16-bit scales), the Q6_K -32 offset and the Q4_K mins through the
 * activation's bsums, then float accumulation with d*yd (and dmin*yd).
 * Weights are unpacked per (row, activation row): with 16 registers
 * keeping unpacked super-blocks is not possible, and the unpack is a few
 * ALU ops on L1-resident bytes. */
#include "base/error.h"
#include "tensor/blocks.h"
#include "tensor/dispatch.h"
#include "tensor/types.h"
#include "tensor/x86/gemm_x86.h"

#include <immintrin.h>
#include <string.h>

#define AI static inline __attribute__((always_inline))

AI float hsum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

AI float f16f(uint16_t h) { return _cvtsh_ss(h); }

/* ------------------------------------------------ Q4_0 / Q8_0 x Q8_0 */

/* software prefetch distance (bytes) of the one-row streaming path:
 * q8_0 decode 17.2 tok/s without, ~20.5 at 2048 and 4096 */
#define PFD32 4096

AI void tile_q32(int64_t K, const uint8_t *w, size_t ldw, const uint8_t *x, size_t ldx, float *y, int64_t ldy,
                 const int RW, const int CX, const int Q8W) {
    const int nb = (int)(K / 32);
    const size_t wbs = Q8W ? sizeof(block_q8_0) : sizeof(block_q4_0);
    const __m256i ones = _mm256_set1_epi16(1), m4 = _mm256_set1_epi8(15), eight = _mm256_set1_epi8(8);
    __m256 acc[4][2];
#pragma GCC unroll 4
    for (int r = 0; r < RW; r++)
#pragma GCC unroll 2
        for (int c = 0; c < CX; c++) acc[r][c] = _mm256_setzero_ps();
    for (int i = 0; i < nb; i++) {
        __m256i wv[4];
        float wd[4];
        /* one weight row streamed from DRAM (the M <= m1 path): software
         * prefetch PFD32 bytes ahead, one line per 64 bytes of blocks */
        if (RW == 1 && (i * wbs) % 64 < wbs) _mm_prefetch((const char *)w + (size_t)i * wbs + PFD32, _MM_HINT_T0);
#pragma GCC unroll 4
        for (int r = 0; r < RW; r++) {
            const uint8_t *wb = w + (size_t)r * ldw + (size_t)i * wbs;
            uint16_t d;
            memcpy(&d, wb, 2);
            wd[r] = f16f(d);
            if (Q8W) {
                wv[r] = _mm256_loadu_si256((const __m256i *)(wb + 2));
            } else {
                __m128i q = _mm_loadu_si128((const __m128i *)(wb + 2));
                __m256i v = _mm256_inserti128_si256(_mm256_castsi128_si256(q), _mm_srli_epi16(q, 4), 1);
                wv[r] = _mm256_and_si256(v, m4);
            }
        }
#pragma GCC unroll 2
        for (int c = 0; c < CX; c++) {
            const block_q8_0 *xb = (const block_q8_0 *)(x + (size_t)c * ldx) + i;
            const __m256i xv = _mm256_loadu_si256((const __m256i *)xb->qs);
            const float xd = f16f(xb->d);
            const __m256i xo = Q8W ? _mm256_setzero_si256() : _mm256_maddubs_epi16(eight, xv);
#pragma GCC unroll 4
            for (int r = 0; r < RW; r++) {
                __m256i p;
                if (Q8W) p = _mm256_maddubs_epi16(_mm256_abs_epi8(wv[r]), _mm256_sign_epi8(xv, wv[r]));
                else p = _mm256_sub_epi16(_mm256_maddubs_epi16(wv[r], xv), xo);
                __m256i s = _mm256_madd_epi16(p, ones);
                acc[r][c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), _mm256_set1_ps(wd[r] * xd), acc[r][c]);
            }
        }
    }
#pragma GCC unroll 4
    for (int r = 0; r < RW; r++)
#pragma GCC unroll 2
        for (int c = 0; c < CX; c++) y[(int64_t)c * ldy + r] = hsum8(acc[r][c]);
}

/* ------------------------------------------------------ K-quants x Q8_K */

/* int16 scale a in the low 128-bit lane, b in the high one */
AI __m256i sc_pair(int a, int b) { return _mm256_setr_m128i(_mm_set1_epi16((short)a), _mm_set1_epi16((short)b)); }

AI void tile_q4_K(int64_t K, const uint8_t *w, size_t ldw, const uint8_t *x, size_t ldx, float *y, int64_t ldy,
                  const int RW, const int CX) {
    const int nb = (int)(K / QK_K);
    const __m256i m4 = _mm256_set1_epi8(15);
    __m256 acc[4][2];
#pragma GCC unroll 4
    for (int r = 0; r < RW; r++)
#pragma GCC unroll 2
        for (int c = 0; c < CX; c++) acc[r][c] = _mm256_setzero_ps();
    for (int i = 0; i < nb; i++) {
#pragma GCC unroll 4
        for (int r = 0; r < RW; r++) {
            const block_q4_K *b = (const block_q4_K *)(w + (size_t)r * ldw) + i;
            uint64_t sc, mn;
            pg_gemm_q4k_scales(b->scales, &sc, &mn);
            const __m128i m8 = _mm_cvtsi64_si128((long long)mn);
            const __m256i m16 = _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(m8, m8)); /* m0 m0 m1 m1 .. m7 m7 */
            __m256i scv[8];
#pragma GCC unroll 8
            for (int k = 0; k < 8; k++) scv[k] = _mm256_set1_epi16((short)((sc >> (8 * k)) & 0xff));
            const float d = f16f(b->d), dmin = f16f(b->dmin);
#pragma GCC unroll 2
            for (int c = 0; c < CX; c++) {
                const block_q8_K *xb = (const block_q8_K *)(x + (size_t)c * ldx) + i;
                __m256i s = _mm256_setzero_si256();
#pragma GCC unroll 4
                for (int k = 0; k < 4; k++) {
                    __m256i q = _mm256_loadu_si256((const __m256i *)(b->qs + 32 * k));
                    __m256i lo = _mm256_and_si256(q, m4), hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
                    __m256i plo = _mm256_maddubs_epi16(lo, _mm256_loadu_si256((const __m256i *)(xb->qs + 64 * k)));
                    __m256i phi = _mm256_maddubs_epi16(hi, _mm256_loadu_si256((const __m256i *)(xb->qs + 64 * k + 32)));
                    s = _mm256_add_epi32(s, _mm256_madd_epi16(plo, scv[2 * k]));
                    s = _mm256_add_epi32(s, _mm256_madd_epi16(phi, scv[2 * k + 1]));
                }
                __m256i ms = _mm256_madd_epi16(m16, _mm256_loadu_si256((const __m256i *)xb->bsums));
                acc[r][c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), _mm256_set1_ps(d * xb->d), acc[r][c]);
                acc[r][c] = _mm256_fnmadd_ps(_mm256_cvtepi32_ps(ms), _mm256_set1_ps(dmin * xb->d), acc[r][c]);
            }
        }
    }
#pragma GCC unroll 4
    for (int r = 0; r < RW; r++)
#pragma GCC unroll 2
        for (int c = 0; c < CX; c++) y[(int64_t)c * ldy + r] = hsum8(acc[r][c]);
}

AI void tile_q6_K(int64_t K, const uint8_t *w, size_t ldw, const uint8_t *x, size_t ldx, float *y, int64_t ldy,
                  const int RW, const int CX) {
    const int nb = (int)(K / QK_K);
    const __m256i m4 = _mm256_set1_epi8(15), m3 = _mm256_set1_epi8(3);
    __m256 acc[4][2];
#pragma GCC unroll 4
    for (int r = 0; r < RW; r++)
#pragma GCC unroll 2
        for (int c = 0; c < CX; c++) acc[r][c] = _mm256_setzero_ps();
    for (int i = 0; i < nb; i++) {
#pragma GCC unroll 4
        for (int r = 0; r < RW; r++) {
            const block_q6_K *b = (const block_q6_K *)(w + (size_t)r * ldw) + i;
            const __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)b->scales));
            const float d = f16f(b->d);
#pragma GCC unroll 2
            for (int c = 0; c < CX; c++) {
                const block_q8_K *xb = (const block_q8_K *)(x + (size_t)c * ldx) + i;
                /* start at -32 * sum(sc * bsums), exact */
                __m256i o = _mm256_madd_epi16(sc16, _mm256_loadu_si256((const __m256i *)xb->bsums));
                __m256i s = _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32(o, 5));
#pragma GCC unroll 2
                for (int h = 0; h < 2; h++) {
                    const __m256i l0 = _mm256_loadu_si256((const __m256i *)(b->ql + 64 * h));
                    const __m256i l1 = _mm256_loadu_si256((const __m256i *)(b->ql + 64 * h + 32));
                    const __m256i qh = _mm256_loadu_si256((const __m256i *)(b->qh + 32 * h));
                    const int8_t *sc = b->scales + 8 * h;
                    const int8_t *xq = xb->qs + 128 * h;
                    __m256i u[4];
                    u[0] = _mm256_or_si256(_mm256_and_si256(l0, m4), _mm256_slli_epi16(_mm256_and_si256(qh, m3), 4));
                    u[1] = _mm256_or_si256(_mm256_and_si256(l1, m4),
                                           _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2), m3), 4));
                    u[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4),
                                           _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 4), m3), 4));
                    u[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4),
                                           _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 6), m3), 4));
#pragma GCC unroll 4
                    for (int k = 0; k < 4; k++) {
                        __m256i p = _mm256_maddubs_epi16(u[k], _mm256_loadu_si256((const __m256i *)(xq + 32 * k)));
                        s = _mm256_add_epi32(s, _mm256_madd_epi16(p, sc_pair(sc[2 * k], sc[2 * k + 1])));
                    }
                }
                acc[r][c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), _mm256_set1_ps(d * xb->d), acc[r][c]);
            }
        }
    }
#pragma GCC unroll 4
    for (int r = 0; r < RW; r++)
#pragma GCC unroll 2
        for (int c = 0; c < CX; c++) y[(int64_t)c * ldy + r] = hsum8(acc[r][c]);
}

/* ------------------------------------------------------------ dispatch */

#define SHAPES(CALL)                                                   \
    switch ((nw - 1) * 2 + (nx - 1)) {                                 \
    case 0: CALL(1, 1); break;                                         \
    case 1: CALL(1, 2); break;                                         \
    case 2: CALL(2, 1); break;                                         \
    case 3: CALL(2, 2); break;                                         \
    case 4: CALL(3, 1); break;                                         \
    case 5: CALL(3, 2); break;                                         \
    case 6: CALL(4, 1); break;                                         \
    case 7: CALL(4, 2); break;                                         \
    default: PG_TRAP();                                         \
    }

static void gemm_q4_0(int64_t K, const void *w, size_t ldw, int nw, const void *x, size_t ldx, int nx, float *y,
                      int64_t ldy) {
#define C(a, b) tile_q32(K, w, ldw, x, ldx, y, ldy, a, b, 0)
    SHAPES(C)
#undef C
}
static void gemm_q8_0(int64_t K, const void *w, size_t ldw, int nw, const void *x, size_t ldx, int nx, float *y,
                      int64_t ldy) {
#define C(a, b) tile_q32(K, w, ldw, x, ldx, y, ldy, a, b, 1)
    SHAPES(C)
#undef C
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

static const pg_gemm_kernel k_q4_0 = {4, 2, 2, gemm_q4_0, NULL, NULL, NULL, NULL, 0, NULL};
static const pg_gemm_kernel k_q8_0 = {4, 2, 2, gemm_q8_0, NULL, NULL, NULL, NULL, 0, NULL};
static const pg_gemm_kernel k_q4_K = {4, 2, 2, gemm_q4_K, NULL, NULL, NULL, NULL, 0, NULL};
static const pg_gemm_kernel k_q6_K = {4, 2, 2, gemm_q6_K, NULL, NULL, NULL, NULL, 0, NULL};

const pg_gemm_kernel *const pg_gemm_stored_avx2[PG_TYPE_COUNT] = {
    [PG_TYPE_Q4_0] = &k_q4_0,
    [PG_TYPE_Q8_0] = &k_q8_0,
    [PG_TYPE_Q4_K] = &k_q4_K,
    [PG_TYPE_Q6_K] = &k_q6_K,
};
