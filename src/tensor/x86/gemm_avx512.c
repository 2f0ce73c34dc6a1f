/* gemm_avx512.c - AVX-512 VNNI tile kernels (see tensor/gemm.h) for Q4_0
 * and Q8_0 (against Q8_0 activations) and Q4_K and Q6_K (against Q8_K).
 *
 * Every kernel is one always-inline template instantiated for each tile
 * shape (nw x nx up to 4 x 4); loops over the tile are fully unrolled so
 * the accumulators live in registers. The per-element arithmetic does not
 * depend on the shape: for each output element the same integer ops feed
 * the same float accumulator in the same block order, and the final
 * reduction is one fixed tree (hsum16). That is the batch-invariance
 * guarantee of matmul.
 *
 * 32-element quants: two blocks per 512-bit register (bytes 0..31 block i,
 * 32..63 block i+1). Weights become unsigned bytes u = w + o (Q4_0: the
 * nibble, o = 8; Q8_0: w ^ 0x80, o = 128), so one vpdpbusd gives
 * sum(u*x) per int32 lane; the offset o*sum(x) is a vpdpbusd of the
 * activation alone, computed once per activation block and used as the
 * accumulator's start value (all exact in int32). Lanes 0..7 and 8..15 are
 * then converted and multiplied by [dw_i*dx_i | dw_i+1*dx_i+1] into one
 * float accumulator per element. The main loop takes 4 blocks (2 pairs)
 * and fetches their 4 fp16 scales with one word permute; a last pair and
 * an odd last block (paired with itself at weight scale 0) follow, so the
 * sequence depends on K only. For M <= cx, matmul calls these with one
 * weight row at a time (DRAM streams best as one sequential stream).
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

/* [a x8 | b x8] from two fp16 values */
AI __m512 half2_f16(uint16_t a, uint16_t b) {
    __m256i h = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_set1_epi16((short)a)), _mm_set1_epi16((short)b), 1);
    return _mm512_cvtph_ps(h);
}

AI __m512i load2x32(const void *a, const void *b) {
    return _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)a)),
                              _mm256_loadu_si256((const __m256i *)b), 1);
}

/* ------------------------------------------------ Q4_0 / Q8_0 x Q8_0 */

/* Unsigned weight bytes of blocks a, b (element order) and their fp16 scales. */
AI __m512i wu2_q4_0(const block_q4_0 *a, const block_q4_0 *b) {
    __m256i q = _mm256_set_m128i(_mm_loadu_si128((const __m128i *)b->qs), _mm_loadu_si128((const __m128i *)a->qs));
    __m512i v = _mm512_inserti64x4(_mm512_castsi256_si512(q), _mm256_srli_epi16(q, 4), 1); /* a, b, a>>4, b>>4 */
    v = _mm512_shuffle_i64x2(v, v, _MM_SHUFFLE(3, 1, 2, 0));                              /* a, a>>4, b, b>>4 */
    return _mm512_and_si512(v, _mm512_set1_epi8(0x0f));
}
AI __m512i wu2_q8_0(const block_q8_0 *a, const block_q8_0 *b) {
    return _mm512_xor_si512(load2x32(a->qs, b->qs), _mm512_set1_epi8((char)0x80));
}

/* fp16 scales of 4 consecutive blocks of `bs` bytes (d first) as floats,
 * spread to [d0 x8 | d1 x8] and [d2 x8 | d3 x8]. One or two 64-byte loads
 * and a word permute instead of four scalar loads. */
AI void scales4(const uint8_t *p, const int bs, __m512 *lo, __m512 *hi) {
    __m128i h;
    if (bs == 18) {
        const __m512i idx = _mm512_set_epi16(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                                             0, 0, 0, 27, 18, 9, 0);
        h = _mm512_castsi512_si128(_mm512_permutexvar_epi16(idx, _mm512_loadu_si512((const void *)p)));
    } else { /* 34-byte blocks: words 0, 17, 34, 51 of 128 bytes */
        const __m512i idx = _mm512_set_epi16(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                                             0, 0, 0, 51, 34, 17, 0);
        h = _mm512_castsi512_si128(_mm512_permutex2var_epi16(_mm512_loadu_si512((const void *)p), idx,
                                                             _mm512_loadu_si512((const void *)(p + 64))));
    }
    const __m512 f = _mm512_castps128_ps512(_mm_cvtph_ps(h));
    *lo = _mm512_permutexvar_ps(_mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1), f);
    *hi = _mm512_permutexvar_ps(_mm512_setr_epi32(2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3), f);
}

AI __m512i wu2(const uint8_t *a, const int Q8W) {
    if (Q8W) return wu2_q8_0((const block_q8_0 *)a, (const block_q8_0 *)a + 1);
    return wu2_q4_0((const block_q4_0 *)a, (const block_q4_0 *)a + 1);
}

/* Per element: groups of 4 blocks (pairs (4g, 4g+1) then (4g+2, 4g+3) into
 * one accumulator), then a last pair, then a last single block paired with
 * itself at weight scale 0; the sequence depends only on K. */
AI void tile_q32(int64_t K, const uint8_t *w, size_t ldw, const uint8_t *x, size_t ldx, float *y, int64_t ldy,
                 const int RW, const int CX, const int Q8W) {
    const int nb = (int)(K / 32);
    const int wbs = Q8W ? (int)sizeof(block_q8_0) : (int)sizeof(block_q4_0);
    const int xbs = (int)sizeof(block_q8_0);
    const __m512i off = _mm512_set1_epi8(Q8W ? (char)0x80 : 8);
    const __m512i zero = _mm512_setzero_si512();
    __m512 acc[4][4];
    const uint8_t *wp[4], *xp[4];
#pragma GCC unroll 4
    for (int r = 0; r < RW; r++) {
        wp[r] = w + (size_t)r * ldw;
#pragma GCC unroll 4
        for (int c = 0; c < CX; c++) acc[r][c] = _mm512_setzero_ps();
    }
#pragma GCC unroll 4
    for (int c = 0; c < CX; c++) xp[c] = x + (size_t)c * ldx;
    int i = 0;
    for (; i + 4 <= nb; i += 4) {
        __m512i wa[4], wb[4];
        __m512 wlo[4], whi[4];
#pragma GCC unroll 4
        for (int r = 0; r < RW; r++) {
            wa[r] = wu2(wp[r], Q8W);
            wb[r] = wu2(wp[r] + 2 * wbs, Q8W);
            scales4(wp[r], wbs, &wlo[r], &whi[r]);
            wp[r] += 4 * wbs;
        }
#pragma GCC unroll 4
        for (int c = 0; c < CX; c++) {
            const uint8_t *q = xp[c];
            const __m512i xa = load2x32(q + 2, q + xbs + 2), xb = load2x32(q + 2 * xbs + 2, q + 3 * xbs + 2);
            const __m512i oa = _mm512_sub_epi32(zero, _mm512_dpbusd_epi32(zero, off, xa)); /* -o*sum(x) */
            const __m512i ob = _mm512_sub_epi32(zero, _mm512_dpbusd_epi32(zero, off, xb));
            __m512 xlo, xhi;
            scales4(q, xbs, &xlo, &xhi);
            xp[c] += 4 * xbs;
#pragma GCC unroll 4
            for (int r = 0; r < RW; r++) {
                __m512i sa = _mm512_dpbusd_epi32(oa, wa[r], xa), sb = _mm512_dpbusd_epi32(ob, wb[r], xb);
                acc[r][c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sa), _mm512_mul_ps(wlo[r], xlo), acc[r][c]);
                acc[r][c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sb), _mm512_mul_ps(whi[r], xhi), acc[r][c]);
            }
        }
    }
    for (; i < nb; i += 2) {
        const int odd = i + 1 == nb;
        __m512i wu[4];
        __m512 wd[4];
#pragma GCC unroll 4
        for (int r = 0; r < RW; r++) {
            const uint8_t *wbk = odd ? wp[r] : wp[r] + wbs;
            uint16_t da, db;
            memcpy(&da, wp[r], 2);
            memcpy(&db, wbk, 2);
            if (Q8W) wu[r] = wu2_q8_0((const block_q8_0 *)wp[r], (const block_q8_0 *)wbk);
            else wu[r] = wu2_q4_0((const block_q4_0 *)wp[r], (const block_q4_0 *)wbk);
            wd[r] = half2_f16(da, odd ? 0 : db);
            wp[r] += 2 * wbs;
        }
#pragma GCC unroll 4
        for (int c = 0; c < CX; c++) {
            const block_q8_0 *xa = (const block_q8_0 *)xp[c], *xb = odd ? xa : xa + 1;
            const __m512i xv = load2x32(xa->qs, xb->qs);
            const __m512i xo = _mm512_sub_epi32(zero, _mm512_dpbusd_epi32(zero, off, xv));
            const __m512 xd = half2_f16(xa->d, xb->d);
            xp[c] += 2 * xbs;
#pragma GCC unroll 4
            for (int r = 0; r < RW; r++) {
                __m512i sv = _mm512_dpbusd_epi32(xo, wu[r], xv);
                acc[r][c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sv), _mm512_mul_ps(wd[r], xd), acc[r][c]);
            }
        }
    }
#pragma GCC unroll 4
    for (int r = 0; r < RW; r++)
#pragma GCC unroll 4
        for (int c = 0; c < CX; c++) y[(int64_t)c * ldy + r] = hsum16(acc[r][c]);
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

static const pg_gemm_kernel k_q4_0 = {4, 4, gemm_q4_0};
static const pg_gemm_kernel k_q8_0 = {4, 4, gemm_q8_0};
static const pg_gemm_kernel k_q4_K = {4, 4, gemm_q4_K};
static const pg_gemm_kernel k_q6_K = {4, 4, gemm_q6_K};

const pg_gemm_kernel *pg_gemm_avx512_get(int wtype) {
    switch (wtype) {
    case PG_TYPE_Q4_0: return &k_q4_0;
    case PG_TYPE_Q8_0: return &k_q8_0;
    case PG_TYPE_Q4_K: return &k_q4_K;
    case PG_TYPE_Q6_K: return &k_q6_K;
    default: return NULL;
    }
}
