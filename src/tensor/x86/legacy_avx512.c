/* legacy_avx512.c - AVX-512 (F/BW/VL/DQ + VNNI) kernels for F32/F16/BF16 and
 * the 32-element quants, plus the AVX-512 float helper table.
 *
 * Quant dots take two blocks per 512-bit register: bytes 0..31 are block a's
 * elements 0..31 and bytes 32..63 block b's (nibbles are expanded low half /
 * high half, matching element order; the 5th bits of Q5 come straight from
 * qh as a 64-bit byte mask). vpdpbusd multiplies unsigned weights (0..31, or
 * |w| with the sign moved onto the activation) by the signed Q8 bytes into 16
 * exact int32 lanes; lanes 0..7 belong to block a and 8..15 to block b, so
 * one fmadd with a per-half scale vector accumulates both blocks. Offsets
 * (Q4_0's -8, Q5_0's -16) are removed in int32 via a second vpdpbusd of the
 * offset with the activations. Two accumulators take alternate pairs; an odd
 * last block is paired with itself at scale 0. Final reduction: fixed tree.
 * The sign trick needs activations != -128 (true for our Q8 quantizers).
 *
 * The Q8 quantizers are bit-exact with the scalar reference for finite
 * input (same amax, scale, reciprocal, round half away from zero). */
#include "tensor/blocks.h"
#include "tensor/fp16.h"
#include "tensor/kernels.h"
#include "tensor/types.h"
#include "tensor/x86/legacy_simd.h"
#include "tensor/x86/register.h"

#include <immintrin.h>
#include <string.h>

static inline float hsum16(__m512 v) {
    __m256 t = _mm256_add_ps(_mm512_castps512_ps256(v), _mm512_extractf32x8_ps(v, 1));
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(t), _mm256_extractf128_ps(t, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

static inline __mmask16 tail16(int rem) { return (__mmask16)((1u << rem) - 1u); } /* rem in 1..15 */

static inline float h2f(uint16_t h) { return _cvtsh_ss(h); }

/* ---- float helpers ---- */

static float dot_f32(const float *a, const float *b, int n) {
    __m512 acc0 = _mm512_setzero_ps(), acc1 = acc0, acc2 = acc0, acc3 = acc0;
    int i = 0;
    for (; i + 64 <= n; i += 64) {
        acc0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), acc0);
        acc1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16), acc1);
        acc2 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 32), _mm512_loadu_ps(b + i + 32), acc2);
        acc3 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 48), _mm512_loadu_ps(b + i + 48), acc3);
    }
    for (; i + 16 <= n; i += 16) acc0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), acc0);
    if (i < n) {
        __mmask16 m = tail16(n - i);
        acc1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, a + i), _mm512_maskz_loadu_ps(m, b + i), acc1);
    }
    return hsum16(_mm512_add_ps(_mm512_add_ps(acc0, acc1), _mm512_add_ps(acc2, acc3)));
}

static void axpy_f32(float *y, float a, const float *x, int n) {
    __m512 va = _mm512_set1_ps(a);
    int i = 0;
    for (; i + 16 <= n; i += 16)
        _mm512_storeu_ps(y + i, _mm512_fmadd_ps(va, _mm512_loadu_ps(x + i), _mm512_loadu_ps(y + i)));
    if (i < n) {
        __mmask16 m = tail16(n - i);
        __m512 r = _mm512_fmadd_ps(va, _mm512_maskz_loadu_ps(m, x + i), _mm512_maskz_loadu_ps(m, y + i));
        _mm512_mask_storeu_ps(y + i, m, r);
    }
}

static void fp16_to_fp32_row(const uint16_t *src, float *dst, int64_t n) {
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) _mm512_storeu_ps(dst + i, _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(src + i))));
    if (i < n) {
        __mmask16 m = tail16((int)(n - i));
        _mm512_mask_storeu_ps(dst + i, m, _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, src + i)));
    }
}

static void fp32_to_fp16_row(const float *src, uint16_t *dst, int64_t n) {
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        _mm256_storeu_si256((__m256i *)(dst + i), _mm512_cvtps_ph(_mm512_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT));
    if (i < n) {
        __mmask16 m = tail16((int)(n - i));
        __m256i h = _mm512_cvtps_ph(_mm512_maskz_loadu_ps(m, src + i), _MM_FROUND_TO_NEAREST_INT);
        _mm256_mask_storeu_epi16(dst + i, m, h);
    }
}

const pg_float_kernels pg_float_kernels_avx512 = {dot_f32, axpy_f32, fp16_to_fp32_row, fp32_to_fp16_row};

/* ---- F32 / F16 / BF16 weights ---- */

static void f32_vec_dot(int n, float *s, const void *w, const void *x) { *s = dot_f32(w, x, n); }
static void f16_to_float(const void *src, float *dst, int64_t n) { fp16_to_fp32_row(src, dst, n); }
static void f16_from_float(const float *src, void *dst, int64_t n) { fp32_to_fp16_row(src, dst, n); }

static inline __m512 load_f16(const uint16_t *p) { return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)p)); }
static inline __m512 load_f16_m(__mmask16 m, const uint16_t *p) { return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, p)); }
static inline __m512 load_bf16(const uint16_t *p) {
    __m512i v = _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)p));
    return _mm512_castsi512_ps(_mm512_slli_epi32(v, 16));
}
static inline __m512 load_bf16_m(__mmask16 m, const uint16_t *p) {
    __m512i v = _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, p));
    return _mm512_castsi512_ps(_mm512_slli_epi32(v, 16));
}

#define DOT16(name, LOAD, LOADM)                                                            \
    static void name(int n, float *s, const void *wv, const void *xv) {                     \
        const uint16_t *w = wv;                                                             \
        const float *x = xv;                                                                \
        __m512 acc0 = _mm512_setzero_ps(), acc1 = acc0, acc2 = acc0, acc3 = acc0;           \
        int i = 0;                                                                          \
        for (; i + 64 <= n; i += 64) {                                                      \
            acc0 = _mm512_fmadd_ps(LOAD(w + i), _mm512_loadu_ps(x + i), acc0);              \
            acc1 = _mm512_fmadd_ps(LOAD(w + i + 16), _mm512_loadu_ps(x + i + 16), acc1);    \
            acc2 = _mm512_fmadd_ps(LOAD(w + i + 32), _mm512_loadu_ps(x + i + 32), acc2);    \
            acc3 = _mm512_fmadd_ps(LOAD(w + i + 48), _mm512_loadu_ps(x + i + 48), acc3);    \
        }                                                                                   \
        for (; i + 16 <= n; i += 16) acc0 = _mm512_fmadd_ps(LOAD(w + i), _mm512_loadu_ps(x + i), acc0); \
        if (i < n) {                                                                        \
            __mmask16 m = tail16(n - i);                                                    \
            acc1 = _mm512_fmadd_ps(LOADM(m, w + i), _mm512_maskz_loadu_ps(m, x + i), acc1); \
        }                                                                                   \
        *s = hsum16(_mm512_add_ps(_mm512_add_ps(acc0, acc1), _mm512_add_ps(acc2, acc3)));   \
    }
DOT16(f16_vec_dot, load_f16, load_f16_m)
DOT16(bf16_vec_dot, load_bf16, load_bf16_m)

static void bf16_to_float(const void *src, float *dst, int64_t n) {
    const uint16_t *h = src;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) _mm512_storeu_ps(dst + i, load_bf16(h + i));
    if (i < n) {
        __mmask16 m = tail16((int)(n - i));
        _mm512_mask_storeu_ps(dst + i, m, load_bf16_m(m, h + i));
    }
}

/* ---- 32-element quants, two blocks per register ---- */

/* Nibbles of blocks a, b -> bytes [a 0..31 | b 0..31]. */
static inline __m512i unpack_nibbles2(const uint8_t *qa, const uint8_t *qb) {
    __m256i q = _mm256_set_m128i(_mm_loadu_si128((const __m128i *)qb), _mm_loadu_si128((const __m128i *)qa));
    __m512i v = _mm512_inserti64x4(_mm512_castsi256_si512(q), _mm256_srli_epi16(q, 4), 1); /* a, b, a>>4, b>>4 */
    v = _mm512_shuffle_i64x2(v, v, _MM_SHUFFLE(3, 1, 2, 0));                              /* a, a>>4, b, b>>4 */
    return _mm512_and_si512(v, _mm512_set1_epi8(0x0f));
}

static inline __m512i load_q8x2(const int8_t *a, const int8_t *b) {
    return _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)a)),
                              _mm256_loadu_si256((const __m256i *)b), 1);
}

static inline uint64_t qh64(const uint8_t *a, const uint8_t *b) {
    uint32_t x, y;
    memcpy(&x, a, 4);
    memcpy(&y, b, 4);
    return (uint64_t)x | (uint64_t)y << 32;
}

static inline __m512 scale2(float a, float b) {
    return _mm512_insertf32x8(_mm512_set1_ps(a), _mm256_set1_ps(b), 1);
}

/* Signed w (any value) times signed x (!= -128), int32 lanes. */
static inline __m512i dot_ss(__m512i w, __m512i x) {
    __mmask64 neg = _mm512_movepi8_mask(w);
    __m512i sx = _mm512_mask_sub_epi8(x, neg, _mm512_setzero_si512(), x);
    return _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_abs_epi8(w), sx);
}

/* Unsigned w in 0..31 minus offset `off`, times signed x. */
static inline __m512i dot_us_off(__m512i w, __m512i x, int off) {
    __m512i p = _mm512_dpbusd_epi32(_mm512_setzero_si512(), w, x);
    __m512i o = _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_set1_epi8((char)off), x);
    return _mm512_sub_epi32(p, o);
}

static inline __m512i q4_0_pair(const block_q4_0 *a, const block_q4_0 *b, const block_q8_0 *xa, const block_q8_0 *xb) {
    return dot_us_off(unpack_nibbles2(a->qs, b->qs), load_q8x2(xa->qs, xb->qs), 8);
}
static inline __m512i q5_0_pair(const block_q5_0 *a, const block_q5_0 *b, const block_q8_0 *xa, const block_q8_0 *xb) {
    __m512i q = unpack_nibbles2(a->qs, b->qs);
    q = _mm512_mask_add_epi8(q, (__mmask64)qh64(a->qh, b->qh), q, _mm512_set1_epi8(16));
    return dot_us_off(q, load_q8x2(xa->qs, xb->qs), 16);
}
static inline __m512i q8_0_pair(const block_q8_0 *a, const block_q8_0 *b, const block_q8_0 *xa, const block_q8_0 *xb) {
    return dot_ss(load_q8x2(a->qs, b->qs), load_q8x2(xa->qs, xb->qs));
}
static inline __m512i iq4_nl_pair(const block_iq4_nl *a, const block_iq4_nl *b, const block_q8_0 *xa, const block_q8_0 *xb) {
    const __m512i tab = _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)pg_iq4nl_values));
    return dot_ss(_mm512_shuffle_epi8(tab, unpack_nibbles2(a->qs, b->qs)), load_q8x2(xa->qs, xb->qs));
}
static inline __m512i q4_1_pair(const block_q4_1 *a, const block_q4_1 *b, const block_q8_1 *xa, const block_q8_1 *xb) {
    return _mm512_dpbusd_epi32(_mm512_setzero_si512(), unpack_nibbles2(a->qs, b->qs), load_q8x2(xa->qs, xb->qs));
}
static inline __m512i q5_1_pair(const block_q5_1 *a, const block_q5_1 *b, const block_q8_1 *xa, const block_q8_1 *xb) {
    __m512i q = unpack_nibbles2(a->qs, b->qs);
    q = _mm512_mask_add_epi8(q, (__mmask64)qh64(a->qh, b->qh), q, _mm512_set1_epi8(16));
    return _mm512_dpbusd_epi32(_mm512_setzero_si512(), q, load_q8x2(xa->qs, xb->qs));
}

#define DSC(i) (h2f(w[i].d) * h2f(x[i].d))
/* fp16 field f of blocks i..i+3 as 4 floats */
#define H4(p, f, i) \
    _mm_cvtph_ps(_mm_setr_epi16((short)p[i].f, (short)p[i + 1].f, (short)p[i + 2].f, (short)p[i + 3].f, 0, 0, 0, 0))
#define PAIR(acc, PAIRFN, i, j, sa, sb) \
    acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(PAIRFN(w + (i), w + (j), x + (i), x + (j))), scale2(sa, sb), acc)
/* The scales of blocks i..i+3 (same products as DSC) spread as [s_i x8 | s_i+1 x8]
 * and [s_i+2 x8 | s_i+3 x8]. */
#define SCALES4(i, lo, hi)                                                                           \
    do {                                                                                             \
        __m128 s4_ = _mm_mul_ps(H4(w, d, i), H4(x, d, i));                                              \
        __m512 z_ = _mm512_castps128_ps512(s4_);                                                      \
        lo = _mm512_permutexvar_ps(_mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1), z_); \
        hi = _mm512_permutexvar_ps(_mm512_setr_epi32(2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3), z_); \
    } while (0)
#define PAIRV(acc, PAIRFN, i, j, sc) \
    acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(PAIRFN(w + (i), w + (j), x + (i), x + (j))), sc, acc)

/* Pairs (4k, 4k+1) -> acc0, (4k+2, 4k+3) -> acc1; a last pair -> acc0; an
 * odd last block (paired with itself at scale 0) -> acc1. */
#define VEC_DOT_0(name, WT, XT, PAIRFN)                                                    \
    static void name(int n, float *s, const void *wv, const void *xv) {                    \
        const WT *w = wv;                                                                  \
        const XT *x = xv;                                                                  \
        const int nb = n / 32;                                                             \
        __m512 acc0 = _mm512_setzero_ps(), acc1 = acc0;                                    \
        int i = 0;                                                                         \
        for (; i + 4 <= nb; i += 4) {                                                      \
            __m512 slo, shi;                                                               \
            SCALES4(i, slo, shi);                                                          \
            PAIRV(acc0, PAIRFN, i, i + 1, slo);                                            \
            PAIRV(acc1, PAIRFN, i + 2, i + 3, shi);                                        \
        }                                                                                  \
        if (i + 2 <= nb) {                                                                 \
            PAIR(acc0, PAIRFN, i, i + 1, DSC(i), DSC(i + 1));                              \
            i += 2;                                                                        \
        }                                                                                  \
        if (i < nb) PAIR(acc1, PAIRFN, i, i, DSC(i), 0.0f);                                \
        *s = hsum16(_mm512_add_ps(acc0, acc1));                                            \
    }

/* As above plus the min term m*s: 4 lanes over the main loop, the tail
 * blocks in order in a scalar. */
#define MS(i) (h2f(w[i].m) * h2f(x[i].s))

#define VEC_DOT_1(name, WT, PAIRFN)                                                        \
    static void name(int n, float *s, const void *wv, const void *xv) {                    \
        const WT *w = wv;                                                                  \
        const block_q8_1 *x = xv;                                                          \
        const int nb = n / 32;                                                             \
        __m512 acc0 = _mm512_setzero_ps(), acc1 = acc0;                                    \
        float summ = 0.0f;                                                                 \
        __m128 summ4 = _mm_setzero_ps(); /* lane k: blocks 4j+k of the main loop */        \
        int i = 0;                                                                         \
        for (; i + 4 <= nb; i += 4) {                                                      \
            __m512 slo, shi;                                                               \
            SCALES4(i, slo, shi);                                                          \
            PAIRV(acc0, PAIRFN, i, i + 1, slo);                                            \
            PAIRV(acc1, PAIRFN, i + 2, i + 3, shi);                                        \
            summ4 = _mm_add_ps(summ4, _mm_mul_ps(H4(w, m, i), H4(x, s, i)));               \
        }                                                                                  \
        if (i + 2 <= nb) {                                                                 \
            PAIR(acc0, PAIRFN, i, i + 1, DSC(i), DSC(i + 1));                              \
            summ += MS(i);                                                                 \
            summ += MS(i + 1);                                                             \
            i += 2;                                                                        \
        }                                                                                  \
        if (i < nb) {                                                                      \
            PAIR(acc1, PAIRFN, i, i, DSC(i), 0.0f);                                        \
            summ += MS(i);                                                                 \
        }                                                                                  \
        __m128 t4 = _mm_add_ps(summ4, _mm_movehl_ps(summ4, summ4));                        \
        t4 = _mm_add_ss(t4, _mm_movehdup_ps(t4));                                          \
        *s = hsum16(_mm512_add_ps(acc0, acc1)) + (_mm_cvtss_f32(t4) + summ);               \
    }

VEC_DOT_0(q4_0_vec_dot, block_q4_0, block_q8_0, q4_0_pair)
VEC_DOT_0(q5_0_vec_dot, block_q5_0, block_q8_0, q5_0_pair)
VEC_DOT_0(q8_0_vec_dot, block_q8_0, block_q8_0, q8_0_pair)
VEC_DOT_0(iq4_nl_vec_dot, block_iq4_nl, block_q8_0, iq4_nl_pair)
VEC_DOT_1(q4_1_vec_dot, block_q4_1, q4_1_pair)
VEC_DOT_1(q5_1_vec_dot, block_q5_1, q5_1_pair)

/* ---- Q8 activation quantizers ---- */

/* roundf semantics (half away from zero), clamped to [-127, 127]. */
static inline __m512 round_away_clamp(__m512 v) {
    __m512 t = _mm512_roundscale_ps(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
    __m512 frac = _mm512_abs_ps(_mm512_sub_ps(v, t)); /* exact */
    __mmask16 up = _mm512_cmp_ps_mask(frac, _mm512_set1_ps(0.5f), _CMP_GE_OQ);
    __m512 one = _mm512_or_ps(_mm512_set1_ps(1.0f), _mm512_and_ps(v, _mm512_set1_ps(-0.0f)));
    __m512 r = _mm512_mask_add_ps(t, up, t, one);
    return _mm512_min_ps(_mm512_max_ps(r, _mm512_set1_ps(-127.0f)), _mm512_set1_ps(127.0f));
}

static inline float q8_block(const float *x, int8_t *qs, int *sum) {
    __m512 v0 = _mm512_loadu_ps(x), v1 = _mm512_loadu_ps(x + 16);
    float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(v0), _mm512_abs_ps(v1)));
    float d = amax / 127.0f;
    float id = d != 0.0f ? 1.0f / d : 0.0f;
    __m512 vid = _mm512_set1_ps(id);
    __m512i i0 = _mm512_cvtps_epi32(round_away_clamp(_mm512_mul_ps(v0, vid)));
    __m512i i1 = _mm512_cvtps_epi32(round_away_clamp(_mm512_mul_ps(v1, vid)));
    *sum = _mm512_reduce_add_epi32(_mm512_add_epi32(i0, i1));
    _mm_storeu_si128((__m128i *)qs, _mm512_cvtsepi32_epi8(i0));
    _mm_storeu_si128((__m128i *)(qs + 16), _mm512_cvtsepi32_epi8(i1));
    return d;
}

static void q8_0_from_float(const float *x, void *dst, int64_t n) {
    block_q8_0 *b = dst;
    for (int64_t i = 0; i < n / QK8_0; i++) {
        int sum;
        float d = q8_block(x + i * QK8_0, b[i].qs, &sum);
        b[i].d = _cvtss_sh(d, _MM_FROUND_TO_NEAREST_INT);
    }
}

static void q8_1_from_float(const float *x, void *dst, int64_t n) {
    block_q8_1 *b = dst;
    for (int64_t i = 0; i < n / QK8_1; i++) {
        int sum;
        float d = q8_block(x + i * QK8_1, b[i].qs, &sum);
        b[i].d = _cvtss_sh(d, _MM_FROUND_TO_NEAREST_INT);
        b[i].s = _cvtss_sh((float)sum * d, _MM_FROUND_TO_NEAREST_INT);
    }
}

void pg_kernels_register_legacy_avx512(void) {
    const pg_cpu_level L = PG_CPU_AVX512;
    pg_type_register(PG_TYPE_F32, L, NULL, NULL, f32_vec_dot);
    pg_type_register(PG_TYPE_F16, L, f16_to_float, f16_from_float, f16_vec_dot);
    pg_type_register(PG_TYPE_BF16, L, bf16_to_float, NULL, bf16_vec_dot);
    pg_type_register(PG_TYPE_Q4_0, L, NULL, NULL, q4_0_vec_dot);
    pg_type_register(PG_TYPE_Q4_1, L, NULL, NULL, q4_1_vec_dot);
    pg_type_register(PG_TYPE_Q5_0, L, NULL, NULL, q5_0_vec_dot);
    pg_type_register(PG_TYPE_Q5_1, L, NULL, NULL, q5_1_vec_dot);
    pg_type_register(PG_TYPE_Q8_0, L, NULL, q8_0_from_float, q8_0_vec_dot);
    pg_type_register(PG_TYPE_Q8_1, L, NULL, q8_1_from_float, NULL);
    pg_type_register(PG_TYPE_IQ4_NL, L, NULL, NULL, iq4_nl_vec_dot);
}
