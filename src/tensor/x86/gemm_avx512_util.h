/* gemm_avx512_util.h - float reductions shared by the AVX-512 tile kernels
 * (x86/gemm_avx512.c; the repacked-panel kernels x86/gemm_pq*_avx512.c
 * use only AI). Only for files compiled with
 * the AVX-512 flags. The reduction trees are part of the batch-invariance
 * contract (tensor/gemm.h): every kernel that must match another reduces
 * with these same trees. */
#ifndef PG_TENSOR_X86_GEMM_AVX512_UTIL_H
#define PG_TENSOR_X86_GEMM_AVX512_UTIL_H

#include "base/error.h"
#include <immintrin.h>
#include <stddef.h>
#include <stdint.h>

/* The Q8_K activation layout of the q4_K kernels (x86/gemm_avx512.c): per
 * group of 2 super-blocks (512 elements) 640 bytes = 8 operands of 64 bytes
 * (operand j = 2k + h, lane p: the 4 int8 elements 16h + 4k .. 16h + 4k + 3
 * of sub-block perm(p) = 4 (p % 4) + p / 4 of the group), 16 floats dx
 * (the sub-block's super-block d), 16 floats dx * bsum (the sub-block's
 * exact element sum). A missing second super-block is all zero. */
size_t pg_gemm_kq_act_size(int64_t K);
void pg_gemm_kq_pack(const float *x, int64_t K, void *dst);

#define AI static inline __attribute__((always_inline))

/* The activation-row sweep of the repacked-panel kernels
 * (x86/gemm_pq*_avx512.c): rows x[0..nx) (stride ldx bytes) in register
 * tiles of up to CT_ <= 8 rows; TILE(pf, xc, yc, NC) computes one tile
 * from rows xc into outputs yc with the compile-time row count NC; pf is
 * set for the first tile (the pass that streams the panel from memory). */
#define PG_PANEL_SWEEP(CT_, x, ldx, nx, y, ldy, TILE)                                                            \
    for (int c0_ = 0; c0_ < (nx); c0_ += (CT_)) {                                                               \
        const uint8_t *xc_ = (x) + (size_t)c0_ * (ldx);                                                         \
        float *yc_ = (y) + (int64_t)c0_ * (ldy);                                                                \
        const int pf_ = c0_ == 0;                                                                               \
        switch ((nx) - c0_ < (CT_) ? (nx) - c0_ : (CT_)) {                                                      \
        case 1: TILE(pf_, xc_, yc_, 1); break;                                                                  \
        case 2: TILE(pf_, xc_, yc_, 2); break;                                                                  \
        case 3: TILE(pf_, xc_, yc_, 3); break;                                                                  \
        case 4: TILE(pf_, xc_, yc_, 4); break;                                                                  \
        case 5: if ((CT_) >= 5) { TILE(pf_, xc_, yc_, ((CT_) >= 5 ? 5 : 1)); break; } PG_TRAP();         \
        case 6: if ((CT_) >= 6) { TILE(pf_, xc_, yc_, ((CT_) >= 6 ? 6 : 1)); break; } PG_TRAP();         \
        case 7: if ((CT_) >= 7) { TILE(pf_, xc_, yc_, ((CT_) >= 7 ? 7 : 1)); break; } PG_TRAP();         \
        case 8: if ((CT_) >= 8) { TILE(pf_, xc_, yc_, ((CT_) >= 8 ? 8 : 1)); break; } PG_TRAP();         \
        default: PG_TRAP();                                                                              \
        }                                                                                                       \
    }

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

/* Prefetch of the next call's weight rows (n bytes at p; matmul walks rows
 * in order), spread over the ntile register tiles of this call so the
 * panel fill of the next call does not wait on DRAM: pf_step before each
 * tile, pf_rest after the last. n = 0: nothing. */
typedef struct {
    const char *p;
    size_t n, per, o;
} pg_pf_spread;

AI void pg_pf_init(pg_pf_spread *s, const void *p, size_t n, int ntile) {
    s->p = (const char *)p;
    s->n = n;
    s->per = (n / 64 + (size_t)ntile - 1) / (size_t)ntile * 64;
    s->o = 0;
}

AI void pg_pf_step(pg_pf_spread *s) {
    for (size_t e = s->o + s->per; s->o < e && s->o < s->n; s->o += 64) _mm_prefetch(s->p + s->o, _MM_HINT_T0);
}

AI void pg_pf_rest(pg_pf_spread *s) {
    for (; s->o < s->n; s->o += 64) _mm_prefetch(s->p + s->o, _MM_HINT_T0);
}

/* The activation-row sweep of every panel driver: TILE(c, n) for rows
 * c .. c + n - 1, in tiles of 4 then one tail of 1 to 3, each n a
 * compile-time constant so every tile shape is its own unrolled copy; the
 * spread prefetch pfs is stepped before each full tile and finished before
 * the tail. */
#define PG_TILE_SWEEP(nx, pfs, TILE)                                                  \
    do {                                                                              \
        int c_ = 0;                                                                   \
        for (; c_ + 4 <= (nx); c_ += 4) {                                             \
            pg_pf_step(pfs);                                                          \
            TILE(c_, 4);                                                              \
        }                                                                             \
        pg_pf_rest(pfs);                                                              \
        switch ((nx) - c_) {                                                          \
        case 0: break;                                                                \
        case 1: TILE(c_, 1); break;                                                   \
        case 2: TILE(c_, 2); break;                                                   \
        case 3: TILE(c_, 3); break;                                                   \
        default: PG_TRAP();                                                    \
        }                                                                             \
    } while (0)

/* CALL(n) with n = nw (1 to 4 weight rows per tile call) as a constant. */
#define PG_SWITCH_NW(nw, CALL)                                                        \
    do {                                                                              \
        switch (nw) {                                                                 \
        case 1: CALL(1); break;                                                       \
        case 2: CALL(2); break;                                                       \
        case 3: CALL(3); break;                                                       \
        case 4: CALL(4); break;                                                       \
        default: PG_TRAP();                                                    \
        }                                                                             \
    } while (0)

#endif
