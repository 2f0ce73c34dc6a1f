/* legacy_x86.h - the x86 SIMD kernels for F32/F16/BF16 and the 32-element
 * quants (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, IQ4_NL dots; Q8_0 and Q8_1
 * activation quantizers) and the float helper table (tensor/kernels.h).
 * Included by legacy_avx2.c and legacy_avx512.c: each compiles this one
 * source with its own ISA flags (every function is static, so each file
 * gets its own copy), like kquants_x86.h.
 *
 * Float helpers and float weights: one body over a few vector primitives
 * (vf_*: 8 lanes of __m256 at AVX2, 16 lanes of __m512 at AVX-512). Each
 * reduction keeps 4 accumulators over 4*LX_W-element steps, then LX_W steps
 * into acc0, a zero-filled tail into acc1, and a fixed tree, so the order
 * depends only on n (and the level).
 *
 * Quant dots differ in algorithm between the levels (#if LX_512):
 * - AVX2: a block's 32 weights are expanded to 32 int8 lanes (byte k =
 *   element k: low nibbles then high nibbles), multiplied with the Q8 bytes
 *   by maddubs (signed x signed via |w| and sign(x, w)), reduced to 8 int32
 *   lanes (exact), converted to float and fmadd'ed with the block scale into
 *   one of two 8-lane accumulators (even / odd blocks).
 * - AVX-512: two blocks per 512-bit register: bytes 0..31 are block a's
 *   elements 0..31 and bytes 32..63 block b's (nibbles are expanded low half
 *   / high half, matching element order; the 5th bits of Q5 come straight
 *   from qh as a 64-bit byte mask). vpdpbusd multiplies unsigned weights
 *   (0..31, or |w| with the sign moved onto the activation) by the signed
 *   Q8 bytes into 16 exact int32 lanes; lanes 0..7 belong to block a and
 *   8..15 to block b, so one fmadd with a per-half scale vector accumulates
 *   both blocks. Offsets (Q4_0's -8, Q5_0's -16) are removed in int32 via a
 *   second vpdpbusd of the offset with the activations. Two accumulators
 *   take alternate pairs; an odd last block is paired with itself at scale
 *   0.
 * Both end in a fixed reduction tree, so results depend only on the
 * inputs. The sign trick needs activations != -128, which holds for our Q8
 * quantizers (|q| <= 127).
 *
 * The Q8 quantizers are bit-exact with the scalar reference (same amax,
 * scale, reciprocal and round-half-away-from-zero) for finite input. */
#ifndef PG_TENSOR_X86_LEGACY_X86_H
#define PG_TENSOR_X86_LEGACY_X86_H

#include "tensor/blocks.h"
#include "tensor/dispatch.h"
#include "tensor/fp16.h"

#include <immintrin.h>
#include <string.h>

#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VNNI__) && defined(__AVX512DQ__)
#define LX_512 1
#else
#define LX_512 0
#endif

static inline float h2f(uint16_t h) { return _cvtsh_ss(h); }

/* ---- vector primitives ---- */

#if LX_512
#define LX_W 16
typedef __m512 vf;
static inline vf vf_zero(void) { return _mm512_setzero_ps(); }
static inline vf vf_set1(float a) { return _mm512_set1_ps(a); }
static inline vf vf_load(const float *p) { return _mm512_loadu_ps(p); }
static inline void vf_store(float *p, vf v) { _mm512_storeu_ps(p, v); }
static inline vf vf_add(vf a, vf b) { return _mm512_add_ps(a, b); }
static inline vf vf_fmadd(vf a, vf b, vf c) { return _mm512_fmadd_ps(a, b, c); }
static inline float vf_hsum(vf v) {
    __m256 t = _mm256_add_ps(_mm512_castps512_ps256(v), _mm512_extractf32x8_ps(v, 1));
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(t), _mm256_extractf128_ps(t, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}
static inline __mmask16 tail16(int rem) { return (__mmask16)((1u << rem) - 1u); } /* rem in 1..15 */
/* rem (1..LX_W-1) elements, the other lanes zero / untouched */
static inline vf vf_load_tail(const float *p, int rem) { return _mm512_maskz_loadu_ps(tail16(rem), p); }
static inline void vf_store_tail(float *p, int rem, vf v) { _mm512_mask_storeu_ps(p, tail16(rem), v); }
static inline vf vf_load_f16(const uint16_t *p) { return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)p)); }
static inline vf vf_load_f16_tail(const uint16_t *p, int rem) {
    return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(tail16(rem), p));
}
static inline vf bf16_widen(__m256i h) { return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16)); }
static inline vf vf_load_bf16(const uint16_t *p) { return bf16_widen(_mm256_loadu_si256((const __m256i *)p)); }
static inline vf vf_load_bf16_tail(const uint16_t *p, int rem) { return bf16_widen(_mm256_maskz_loadu_epi16(tail16(rem), p)); }
static inline void vf_store_f16(uint16_t *p, vf v) {
    _mm256_storeu_si256((__m256i *)p, _mm512_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT));
}
static inline void vf_store_f16_tail(uint16_t *p, int rem, vf v) {
    _mm256_mask_storeu_epi16(p, tail16(rem), _mm512_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT));
}
#else
#define LX_W 8
typedef __m256 vf;
static inline vf vf_zero(void) { return _mm256_setzero_ps(); }
static inline vf vf_set1(float a) { return _mm256_set1_ps(a); }
static inline vf vf_load(const float *p) { return _mm256_loadu_ps(p); }
static inline void vf_store(float *p, vf v) { _mm256_storeu_ps(p, v); }
static inline vf vf_add(vf a, vf b) { return _mm256_add_ps(a, b); }
static inline vf vf_fmadd(vf a, vf b, vf c) { return _mm256_fmadd_ps(a, b, c); }
static inline float vf_hsum(vf v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}
static inline __m256i tail_mask(int rem) { /* lanes < rem set, rem in 1..7 */
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(rem), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}
static inline vf vf_load_tail(const float *p, int rem) { return _mm256_maskload_ps(p, tail_mask(rem)); }
static inline void vf_store_tail(float *p, int rem, vf v) { _mm256_maskstore_ps(p, tail_mask(rem), v); }
static inline vf vf_load_f16(const uint16_t *p) { return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p)); }
static inline vf vf_load_bf16(const uint16_t *p) {
    __m256i v = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p));
    return _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
}
/* AVX2 has no 16-bit masked load / store: tails go through zero-padded
 * copies, so that no access runs past the row. */
static inline vf vf_load_f16_tail(const uint16_t *p, int rem) {
    uint16_t t[8] = {0};
    memcpy(t, p, (size_t)rem * sizeof *t);
    return vf_load_f16(t);
}
static inline vf vf_load_bf16_tail(const uint16_t *p, int rem) {
    uint16_t t[8] = {0};
    memcpy(t, p, (size_t)rem * sizeof *t);
    return vf_load_bf16(t);
}
static inline void vf_store_f16(uint16_t *p, vf v) {
    _mm_storeu_si128((__m128i *)p, _mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT));
}
static inline void vf_store_f16_tail(uint16_t *p, int rem, vf v) {
    uint16_t t[8];
    vf_store_f16(t, v);
    memcpy(p, t, (size_t)rem * sizeof *t);
}
#endif

/* ---- float helpers and float weights (one body for both levels) ---- */

/* acc0..3 over 4*LX_W steps, LX_W steps into acc0, the tail into acc1. */
#define LX_DOT(name, WT, LOAD, LOADT)                                                                \
    static float name(const WT *w, const float *x, int n) {                                          \
        vf acc0 = vf_zero(), acc1 = acc0, acc2 = acc0, acc3 = acc0;                                  \
        int i = 0;                                                                                   \
        for (; i + 4 * LX_W <= n; i += 4 * LX_W) {                                                   \
            acc0 = vf_fmadd(LOAD(w + i), vf_load(x + i), acc0);                                      \
            acc1 = vf_fmadd(LOAD(w + i + LX_W), vf_load(x + i + LX_W), acc1);                        \
            acc2 = vf_fmadd(LOAD(w + i + 2 * LX_W), vf_load(x + i + 2 * LX_W), acc2);                \
            acc3 = vf_fmadd(LOAD(w + i + 3 * LX_W), vf_load(x + i + 3 * LX_W), acc3);                \
        }                                                                                            \
        for (; i + LX_W <= n; i += LX_W) acc0 = vf_fmadd(LOAD(w + i), vf_load(x + i), acc0);         \
        if (i < n) acc1 = vf_fmadd(LOADT(w + i, n - i), vf_load_tail(x + i, n - i), acc1);           \
        return vf_hsum(vf_add(vf_add(acc0, acc1), vf_add(acc2, acc3)));                              \
    }
LX_DOT(dot_f32, float, vf_load, vf_load_tail)
LX_DOT(dot_f16, uint16_t, vf_load_f16, vf_load_f16_tail)
LX_DOT(dot_bf16, uint16_t, vf_load_bf16, vf_load_bf16_tail)
#undef LX_DOT

static void axpy_f32(float *y, float a, const float *x, int n) {
    const vf va = vf_set1(a);
    int i = 0;
    for (; i + LX_W <= n; i += LX_W) vf_store(y + i, vf_fmadd(va, vf_load(x + i), vf_load(y + i)));
    if (i < n) vf_store_tail(y + i, n - i, vf_fmadd(va, vf_load_tail(x + i, n - i), vf_load_tail(y + i, n - i)));
}

/* Widening and narrowing are exact per element (round to nearest even for
 * f32 -> f16), so the tail handling does not change any value. */
static void fp16_to_fp32_row(const uint16_t *src, float *dst, int64_t n) {
    int64_t i = 0;
    for (; i + LX_W <= n; i += LX_W) vf_store(dst + i, vf_load_f16(src + i));
    if (i < n) vf_store_tail(dst + i, (int)(n - i), vf_load_f16_tail(src + i, (int)(n - i)));
}

static void fp32_to_fp16_row(const float *src, uint16_t *dst, int64_t n) {
    int64_t i = 0;
    for (; i + LX_W <= n; i += LX_W) vf_store_f16(dst + i, vf_load(src + i));
    if (i < n) vf_store_f16_tail(dst + i, (int)(n - i), vf_load_tail(src + i, (int)(n - i)));
}

static void bf16_to_float(const void *src, float *dst, int64_t n) {
    const uint16_t *h = src;
    int64_t i = 0;
    for (; i + LX_W <= n; i += LX_W) vf_store(dst + i, vf_load_bf16(h + i));
    if (i < n) vf_store_tail(dst + i, (int)(n - i), vf_load_bf16_tail(h + i, (int)(n - i)));
}

static void f32_vec_dot(int n, float *s, const void *w, const void *x) { *s = dot_f32(w, x, n); }
static void f16_vec_dot(int n, float *s, const void *w, const void *x) { *s = dot_f16(w, x, n); }
static void bf16_vec_dot(int n, float *s, const void *w, const void *x) { *s = dot_bf16(w, x, n); }
static void f16_to_float(const void *src, float *dst, int64_t n) { fp16_to_fp32_row(src, dst, n); }
static void f16_from_float(const float *src, void *dst, int64_t n) { fp32_to_fp16_row(src, dst, n); }

/* ---- 32-element quants ---- */

#if LX_512

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
        *s = vf_hsum(_mm512_add_ps(acc0, acc1));                                            \
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
        *s = vf_hsum(_mm512_add_ps(acc0, acc1)) + (_mm_cvtss_f32(t4) + summ);               \
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
#else

/* 16 bytes of nibbles -> 32 bytes: elements 0..15 (low), 16..31 (high). */
static inline __m256i unpack_nibbles(const uint8_t *qs) {
    __m128i v = _mm_loadu_si128((const __m128i *)qs);
    return _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(v, 4), v), _mm256_set1_epi8(0x0f));
}

/* Byte k = 0xff where bit k of qh is set. */
static inline __m256i bits_to_bytes(uint32_t qh) {
    const __m256i shuf = _mm256_setr_epi64x(0, 0x0101010101010101LL, 0x0202020202020202LL, 0x0303030303030303LL);
    const __m256i bit = _mm256_set1_epi64x((long long)0x8040201008040201ULL);
    __m256i v = _mm256_shuffle_epi8(_mm256_set1_epi32((int)qh), shuf);
    return _mm256_cmpeq_epi8(_mm256_and_si256(v, bit), bit);
}

static inline uint32_t qh32(const uint8_t *qh) {
    uint32_t v;
    memcpy(&v, qh, 4); /* little-endian target */
    return v;
}

/* sum of w*x over 32 signed bytes (w may be -128; x must not be), as 8 floats
 * holding exact int32 partial sums. */
static inline __m256 dot_ss(__m256i w, __m256i x) {
    __m256i p = _mm256_maddubs_epi16(_mm256_sign_epi8(w, w), _mm256_sign_epi8(x, w));
    return _mm256_cvtepi32_ps(_mm256_madd_epi16(p, _mm256_set1_epi16(1)));
}

/* Same for unsigned w in 0..31. */
static inline __m256 dot_us(__m256i w, __m256i x) {
    __m256i p = _mm256_maddubs_epi16(w, x);
    return _mm256_cvtepi32_ps(_mm256_madd_epi16(p, _mm256_set1_epi16(1)));
}

static inline __m256i load_q8(const int8_t *qs) { return _mm256_loadu_si256((const __m256i *)qs); }

static inline __m256 q4_0_blk(const block_q4_0 *w, const block_q8_0 *x) {
    __m256i q = _mm256_sub_epi8(unpack_nibbles(w->qs), _mm256_set1_epi8(8));
    return dot_ss(q, load_q8(x->qs));
}
static inline __m256 q5_0_blk(const block_q5_0 *w, const block_q8_0 *x) {
    __m256i hi = _mm256_and_si256(bits_to_bytes(qh32(w->qh)), _mm256_set1_epi8(0x10));
    __m256i q = _mm256_sub_epi8(_mm256_or_si256(unpack_nibbles(w->qs), hi), _mm256_set1_epi8(16));
    return dot_ss(q, load_q8(x->qs));
}
static inline __m256 q8_0_blk(const block_q8_0 *w, const block_q8_0 *x) { return dot_ss(load_q8(w->qs), load_q8(x->qs)); }
static inline __m256 iq4_nl_blk(const block_iq4_nl *w, const block_q8_0 *x) {
    const __m256i tab = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)pg_iq4nl_values));
    return dot_ss(_mm256_shuffle_epi8(tab, unpack_nibbles(w->qs)), load_q8(x->qs));
}
static inline __m256 q4_1_blk(const block_q4_1 *w, const block_q8_1 *x) { return dot_us(unpack_nibbles(w->qs), load_q8(x->qs)); }
static inline __m256 q5_1_blk(const block_q5_1 *w, const block_q8_1 *x) {
    __m256i hi = _mm256_and_si256(bits_to_bytes(qh32(w->qh)), _mm256_set1_epi8(0x10));
    return dot_us(_mm256_or_si256(unpack_nibbles(w->qs), hi), load_q8(x->qs));
}

/* Blocks 2k go to acc0, 2k+1 to acc1; an odd last block to acc0. */
#define VEC_DOT_0(name, WT, XT, BLK)                                                       \
    static void name(int n, float *s, const void *wv, const void *xv) {                    \
        const WT *w = wv;                                                                  \
        const XT *x = xv;                                                                  \
        const int nb = n / 32;                                                             \
        __m256 acc0 = _mm256_setzero_ps(), acc1 = acc0;                                    \
        int i = 0;                                                                         \
        for (; i + 2 <= nb; i += 2) {                                                      \
            acc0 = _mm256_fmadd_ps(BLK(w + i, x + i), _mm256_set1_ps(h2f(w[i].d) * h2f(x[i].d)), acc0); \
            acc1 = _mm256_fmadd_ps(BLK(w + i + 1, x + i + 1), _mm256_set1_ps(h2f(w[i + 1].d) * h2f(x[i + 1].d)), acc1); \
        }                                                                                  \
        if (i < nb) acc0 = _mm256_fmadd_ps(BLK(w + i, x + i), _mm256_set1_ps(h2f(w[i].d) * h2f(x[i].d)), acc0); \
        *s = vf_hsum(_mm256_add_ps(acc0, acc1));                                             \
    }

/* As above plus the min term m*s summed in block order in a scalar. */
#define VEC_DOT_1(name, WT, BLK)                                                           \
    static void name(int n, float *s, const void *wv, const void *xv) {                    \
        const WT *w = wv;                                                                  \
        const block_q8_1 *x = xv;                                                          \
        const int nb = n / 32;                                                             \
        __m256 acc0 = _mm256_setzero_ps(), acc1 = acc0;                                    \
        float summ = 0.0f;                                                                 \
        int i = 0;                                                                         \
        for (; i + 2 <= nb; i += 2) {                                                      \
            acc0 = _mm256_fmadd_ps(BLK(w + i, x + i), _mm256_set1_ps(h2f(w[i].d) * h2f(x[i].d)), acc0); \
            acc1 = _mm256_fmadd_ps(BLK(w + i + 1, x + i + 1), _mm256_set1_ps(h2f(w[i + 1].d) * h2f(x[i + 1].d)), acc1); \
            summ += h2f(w[i].m) * h2f(x[i].s);                                             \
            summ += h2f(w[i + 1].m) * h2f(x[i + 1].s);                                     \
        }                                                                                  \
        if (i < nb) {                                                                      \
            acc0 = _mm256_fmadd_ps(BLK(w + i, x + i), _mm256_set1_ps(h2f(w[i].d) * h2f(x[i].d)), acc0); \
            summ += h2f(w[i].m) * h2f(x[i].s);                                             \
        }                                                                                  \
        *s = vf_hsum(_mm256_add_ps(acc0, acc1)) + summ;                                      \
    }

VEC_DOT_0(q4_0_vec_dot, block_q4_0, block_q8_0, q4_0_blk)
VEC_DOT_0(q5_0_vec_dot, block_q5_0, block_q8_0, q5_0_blk)
VEC_DOT_0(q8_0_vec_dot, block_q8_0, block_q8_0, q8_0_blk)
VEC_DOT_0(iq4_nl_vec_dot, block_iq4_nl, block_q8_0, iq4_nl_blk)
VEC_DOT_1(q4_1_vec_dot, block_q4_1, q4_1_blk)
VEC_DOT_1(q5_1_vec_dot, block_q5_1, q5_1_blk)

/* ---- Q8 activation quantizers ---- */

/* roundf semantics (half away from zero), clamped to [-127, 127]. */
static inline __m256 round_away_clamp(__m256 v) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    __m256 t = _mm256_round_ps(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
    __m256 frac = _mm256_andnot_ps(sign, _mm256_sub_ps(v, t)); /* exact */
    __m256 up = _mm256_cmp_ps(frac, _mm256_set1_ps(0.5f), _CMP_GE_OQ);
    __m256 one = _mm256_or_ps(_mm256_set1_ps(1.0f), _mm256_and_ps(v, sign));
    __m256 r = _mm256_add_ps(t, _mm256_and_ps(up, one));
    return _mm256_min_ps(_mm256_max_ps(r, _mm256_set1_ps(-127.0f)), _mm256_set1_ps(127.0f));
}

/* One block of 32 floats -> qs; returns the unrounded scale, *sum = sum q. */
static inline float q8_block(const float *x, int8_t *qs, int *sum) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    __m256 v0 = _mm256_loadu_ps(x), v1 = _mm256_loadu_ps(x + 8), v2 = _mm256_loadu_ps(x + 16), v3 = _mm256_loadu_ps(x + 24);
    __m256 m = _mm256_max_ps(_mm256_max_ps(_mm256_andnot_ps(sign, v0), _mm256_andnot_ps(sign, v1)),
                             _mm256_max_ps(_mm256_andnot_ps(sign, v2), _mm256_andnot_ps(sign, v3)));
    __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
    m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
    m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
    float amax = _mm_cvtss_f32(m4);
    float d = amax / 127.0f;
    float id = d != 0.0f ? 1.0f / d : 0.0f;
    __m256 vid = _mm256_set1_ps(id);
    __m256i i0 = _mm256_cvtps_epi32(round_away_clamp(_mm256_mul_ps(v0, vid)));
    __m256i i1 = _mm256_cvtps_epi32(round_away_clamp(_mm256_mul_ps(v1, vid)));
    __m256i i2 = _mm256_cvtps_epi32(round_away_clamp(_mm256_mul_ps(v2, vid)));
    __m256i i3 = _mm256_cvtps_epi32(round_away_clamp(_mm256_mul_ps(v3, vid)));
    __m256i s = _mm256_add_epi32(_mm256_add_epi32(i0, i1), _mm256_add_epi32(i2, i3));
    __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
    s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, _MM_SHUFFLE(1, 0, 3, 2)));
    s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, _MM_SHUFFLE(2, 3, 0, 1)));
    *sum = _mm_cvtsi128_si32(s4);
    /* packs interleave 128-bit lanes; the permute restores element order */
    __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(i0, i1), _mm256_packs_epi32(i2, i3));
    p = _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    _mm256_storeu_si256((__m256i *)qs, p);
    return d;
}
#endif

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

/* ---- the level's tables (initialisers for legacy_avx2.c / legacy_avx512.c) ---- */

#define LX_FLOAT_KERNELS {dot_f32, axpy_f32, fp16_to_fp32_row, fp32_to_fp16_row}
#define LX_TYPE_KERNELS                                                  \
    {                                                                    \
        [PG_TYPE_F32] = {NULL, NULL, f32_vec_dot},                       \
        [PG_TYPE_F16] = {f16_to_float, f16_from_float, f16_vec_dot},     \
        [PG_TYPE_BF16] = {bf16_to_float, NULL, bf16_vec_dot},            \
        [PG_TYPE_Q4_0] = {NULL, NULL, q4_0_vec_dot},                     \
        [PG_TYPE_Q4_1] = {NULL, NULL, q4_1_vec_dot},                     \
        [PG_TYPE_Q5_0] = {NULL, NULL, q5_0_vec_dot},                     \
        [PG_TYPE_Q5_1] = {NULL, NULL, q5_1_vec_dot},                     \
        [PG_TYPE_Q8_0] = {NULL, q8_0_from_float, q8_0_vec_dot},          \
        [PG_TYPE_Q8_1] = {NULL, q8_1_from_float, NULL},                  \
        [PG_TYPE_IQ4_NL] = {NULL, NULL, iq4_nl_vec_dot},                 \
    }

#endif
