/* legacy_avx2.c - AVX2 (+FMA+F16C) kernels for F32/F16/BF16 and the
 * 32-element quants (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, IQ4_NL dots; Q8_0 and
 * Q8_1 activation quantizers), plus the AVX2 float helper table.
 *
 * Quant dots: a block's 32 weights are expanded to 32 int8 lanes (byte k =
 * element k: low nibbles then high nibbles), multiplied with the Q8 bytes by
 * maddubs (signed x signed via |w| and sign(x, w)), reduced to 8 int32 lanes
 * (exact), converted to float and fmadd'ed with the block scale into one of
 * two 8-lane accumulators (even / odd blocks). The final reduction is a fixed
 * tree, so results depend only on the inputs. The sign trick needs x != -128,
 * which holds for activations from our Q8 quantizers (|q| <= 127).
 *
 * The Q8 quantizers are bit-exact with the scalar reference (same amax,
 * scale, reciprocal and round-half-away-from-zero) for finite input. */
#include "tensor/blocks.h"
#include "tensor/fp16.h"
#include "tensor/kernels.h"
#include "tensor/types.h"
#include "tensor/x86/legacy_simd.h"
#include "tensor/x86/register.h"

#include <immintrin.h>
#include <string.h>

static inline float hsum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

static inline __m256i tail_mask(int rem) { /* lanes < rem set, rem in 1..7 */
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(rem), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

static inline float h2f(uint16_t h) { return _cvtsh_ss(h); }

/* ---- float helpers ---- */

static float dot_f32(const float *a, const float *b, int n) {
    __m256 acc0 = _mm256_setzero_ps(), acc1 = acc0, acc2 = acc0, acc3 = acc0;
    int i = 0;
    for (; i + 32 <= n; i += 32) {
        acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc0);
        acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), acc1);
        acc2 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 16), _mm256_loadu_ps(b + i + 16), acc2);
        acc3 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 24), _mm256_loadu_ps(b + i + 24), acc3);
    }
    for (; i + 8 <= n; i += 8) acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc0);
    if (i < n) {
        __m256i m = tail_mask(n - i);
        acc1 = _mm256_fmadd_ps(_mm256_maskload_ps(a + i, m), _mm256_maskload_ps(b + i, m), acc1);
    }
    return hsum8(_mm256_add_ps(_mm256_add_ps(acc0, acc1), _mm256_add_ps(acc2, acc3)));
}

static void axpy_f32(float *y, float a, const float *x, int n) {
    __m256 va = _mm256_set1_ps(a);
    int i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
    if (i < n) {
        __m256i m = tail_mask(n - i);
        __m256 r = _mm256_fmadd_ps(va, _mm256_maskload_ps(x + i, m), _mm256_maskload_ps(y + i, m));
        _mm256_maskstore_ps(y + i, m, r);
    }
}

static void fp16_to_fp32_row(const uint16_t *src, float *dst, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(src + i))));
    for (; i < n; i++) dst[i] = _cvtsh_ss(src[i]);
}

static void fp32_to_fp16_row(const float *src, uint16_t *dst, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(dst + i), _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT));
    for (; i < n; i++) dst[i] = _cvtss_sh(src[i], _MM_FROUND_TO_NEAREST_INT);
}

const pg_float_kernels pg_float_kernels_avx2 = {dot_f32, axpy_f32, fp16_to_fp32_row, fp32_to_fp16_row};

/* ---- F32 / F16 / BF16 weights ---- */

static void f32_vec_dot(int n, float *s, const void *w, const void *x) { *s = dot_f32(w, x, n); }

static void f16_to_float(const void *src, float *dst, int64_t n) { fp16_to_fp32_row(src, dst, n); }
static void f16_from_float(const float *src, void *dst, int64_t n) { fp32_to_fp16_row(src, dst, n); }

static inline __m256 load_f16(const uint16_t *p) { return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p)); }
static inline __m256 load_bf16(const uint16_t *p) {
    __m256i v = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p));
    return _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
}

/* Same shape as dot_f32; the tail (< 8 elements) goes through zero-padded
 * copies so that no load runs past the row. */
#define DOT16(name, LOAD)                                                                   \
    static void name(int n, float *s, const void *wv, const void *xv) {                     \
        const uint16_t *w = wv;                                                             \
        const float *x = xv;                                                                \
        __m256 acc0 = _mm256_setzero_ps(), acc1 = acc0, acc2 = acc0, acc3 = acc0;           \
        int i = 0;                                                                          \
        for (; i + 32 <= n; i += 32) {                                                      \
            acc0 = _mm256_fmadd_ps(LOAD(w + i), _mm256_loadu_ps(x + i), acc0);              \
            acc1 = _mm256_fmadd_ps(LOAD(w + i + 8), _mm256_loadu_ps(x + i + 8), acc1);      \
            acc2 = _mm256_fmadd_ps(LOAD(w + i + 16), _mm256_loadu_ps(x + i + 16), acc2);    \
            acc3 = _mm256_fmadd_ps(LOAD(w + i + 24), _mm256_loadu_ps(x + i + 24), acc3);    \
        }                                                                                   \
        for (; i + 8 <= n; i += 8) acc0 = _mm256_fmadd_ps(LOAD(w + i), _mm256_loadu_ps(x + i), acc0); \
        if (i < n) {                                                                        \
            uint16_t tw[8] = {0};                                                           \
            float tx[8] = {0};                                                              \
            memcpy(tw, w + i, (size_t)(n - i) * sizeof *tw);                                \
            memcpy(tx, x + i, (size_t)(n - i) * sizeof *tx);                                \
            acc1 = _mm256_fmadd_ps(LOAD(tw), _mm256_loadu_ps(tx), acc1);                    \
        }                                                                                   \
        *s = hsum8(_mm256_add_ps(_mm256_add_ps(acc0, acc1), _mm256_add_ps(acc2, acc3)));     \
    }
DOT16(f16_vec_dot, load_f16)
DOT16(bf16_vec_dot, load_bf16)

static void bf16_to_float(const void *src, float *dst, int64_t n) {
    const uint16_t *h = src;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dst + i, load_bf16(h + i));
    for (; i < n; i++) dst[i] = pg_bf16_to_fp32(h[i]);
}

/* ---- 32-element quants ---- */

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
        *s = hsum8(_mm256_add_ps(acc0, acc1));                                             \
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
        *s = hsum8(_mm256_add_ps(acc0, acc1)) + summ;                                      \
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

void pg_kernels_register_legacy_avx2(void) {
    const pg_cpu_level L = PG_CPU_AVX2;
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
