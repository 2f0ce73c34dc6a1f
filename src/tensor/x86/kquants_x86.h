/* kquants_x86.h - the x86 SIMD K-quant kernels, included by kquants_avx2.c
 * and kquants_avx512.c (each compiles it with its own ISA flags; every
 * function is static, so each file gets its own copy).
 *
 * vec_dot: 256-bit integer code (the AVX-512 build swaps in 512-bit Q4_K
 * and Q6_K kernels, KQ_HAVE_512). Weights are unpacked to unsigned bytes
 * (u in [0, 63]; Q3_K's -4 and Q6_K's -32 are applied afterwards through
 * Q8_K's bsums), multiplied with the int8 activations by vpmaddubsw (no
 * saturation: 2*63*128 < 32768) and scaled per 16/32 elements by vpmaddwd.
 * With AVX512-VNNI the vpmaddwd + vpaddd pair becomes one vpdpwssd. IQ4_XS
 * has signed weights: |x| * sign(w, x) keeps vpmaddubsw exact even for
 * x = -128. Each block is reduced to exact int32 sums and finished by the
 * shared float epilogue (ref/kquants_ref.h), so results are bit-identical
 * to the scalar reference at every level.
 *
 * Q8_K quantization reproduces the scalar reference byte for byte: the
 * products iscale*x are the same float operations and vcvtps2dq rounds to
 * nearest even like the reference's nearest_int. A block holding a NaN or
 * an infinity goes through the scalar rule (the vector conversion would
 * differ there). */
#ifndef PG_TENSOR_X86_KQUANTS_X86_H
#define PG_TENSOR_X86_KQUANTS_X86_H

#include "base/error.h"
#include "tensor/ref/kquants_ref.h"
#include "tensor/types.h"

#include <immintrin.h>
#include <math.h>

/* The AVX-512 file gets 512-bit Q4_K / Q6_K kernels instead of the 256-bit ones. */
#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VNNI__)
#define KQ_HAVE_512 1
#else
#define KQ_HAVE_512 0
#endif

static inline int32_t kq_hsum_i32(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
    return _mm_cvtsi128_si32(s);
}

/* acc += per-pair(u * x) * sc16, as int32 (u unsigned bytes, x signed). */
static inline __m256i kq_mac(__m256i acc, __m256i u, __m256i x, __m256i sc16) {
    __m256i p = _mm256_maddubs_epi16(u, x);
#if defined(__AVX512VNNI__) && defined(__AVX512VL__)
    return _mm256_dpwssd_epi32(acc, p, sc16);
#else
    return _mm256_add_epi32(acc, _mm256_madd_epi16(p, sc16));
#endif
}

/* From 16 int8 scales held in both 128-bit lanes: int16 scale k in the low
 * lane and k+1 in the high lane (the two 16-element sub-blocks of a
 * 32-byte vector). */
static inline __m256i kq_scale_pair(__m256i sc2, int k) {
    __m256i ctl = _mm256_setr_m128i(_mm_set1_epi8((char)k), _mm_set1_epi8((char)(k + 1)));
    return _mm256_srai_epi16(_mm256_shuffle_epi8(sc2, ctl), 8);
}

static inline __m256i kq_scale_pair16(int a, int b) {
    return _mm256_setr_m128i(_mm_set1_epi16((short)a), _mm_set1_epi16((short)b));
}

/* ----------------------------------------------------------------- Q2_K */

static void kq_q2_K_vec_dot(int n, float *s, const void *w, const void *x) {
    PG_ASSERT(n % QK_K == 0);
    const block_q2_K *b = w;
    const block_q8_K *y = x;
    const __m256i m3 = _mm256_set1_epi8(3);
    const __m128i m15 = _mm_set1_epi8(15);
    float acc = 0;
    for (int i = 0; i < n / QK_K; i++) {
        __m128i sb = _mm_loadu_si128((const __m128i *)b[i].scales);
        __m128i sc = _mm_and_si128(sb, m15);
        __m128i mn = _mm_and_si128(_mm_srli_epi16(sb, 4), m15);
        __m256i bs = _mm256_loadu_si256((const __m256i *)y[i].bsums);
        int32_t summ = kq_hsum_i32(_mm256_madd_epi16(_mm256_cvtepu8_epi16(mn), bs));
        __m256i sc2 = _mm256_broadcastsi128_si256(sc);
        __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0; /* independent chains */
        for (int h = 0; h < 2; h++) {
            __m256i qv = _mm256_loadu_si256((const __m256i *)(b[i].qs + 32 * h));
            const int8_t *xq = y[i].qs + 128 * h;
            a0 = kq_mac(a0, _mm256_and_si256(qv, m3), _mm256_loadu_si256((const __m256i *)xq), kq_scale_pair(sc2, 8 * h));
            a1 = kq_mac(a1, _mm256_and_si256(_mm256_srli_epi16(qv, 2), m3), _mm256_loadu_si256((const __m256i *)(xq + 32)),
                        kq_scale_pair(sc2, 8 * h + 2));
            a2 = kq_mac(a2, _mm256_and_si256(_mm256_srli_epi16(qv, 4), m3), _mm256_loadu_si256((const __m256i *)(xq + 64)),
                        kq_scale_pair(sc2, 8 * h + 4));
            a3 = kq_mac(a3, _mm256_and_si256(_mm256_srli_epi16(qv, 6), m3), _mm256_loadu_si256((const __m256i *)(xq + 96)),
                        kq_scale_pair(sc2, 8 * h + 6));
        }
        __m256i a = _mm256_add_epi32(_mm256_add_epi32(a0, a1), _mm256_add_epi32(a2, a3));
        acc = pg_kq_acc2(acc, _cvtsh_ss(b[i].d), _cvtsh_ss(b[i].dmin), y[i].d, kq_hsum_i32(a), summ);
    }
    *s = acc;
}

/* ----------------------------------------------------------------- Q3_K */

/* The 16 signed scales (see pg_kq_unpack_scales_q3), four at a time: word
 * w of the result takes low nibbles from byte group w%2 of bytes 0..7
 * (shifted by 4 for w >= 2) and 2-bit tops from bytes 8..11 at bit 2w. */
static inline __m128i kq_q3_scales(const uint8_t *q) {
    uint32_t a[3];
    memcpy(a, q, 12);
    const uint32_t m4 = 0x0f0f0f0f, m2 = 0x03030303;
    uint32_t v0 = (a[0] & m4) | ((a[2] & m2) << 4);
    uint32_t v1 = (a[1] & m4) | (((a[2] >> 2) & m2) << 4);
    uint32_t v2 = ((a[0] >> 4) & m4) | (((a[2] >> 4) & m2) << 4);
    uint32_t v3 = ((a[1] >> 4) & m4) | (((a[2] >> 6) & m2) << 4);
    return _mm_sub_epi8(_mm_setr_epi32((int)v0, (int)v1, (int)v2, (int)v3), _mm_set1_epi8(32));
}

static void kq_q3_K_vec_dot(int n, float *s, const void *w, const void *x) {
    PG_ASSERT(n % QK_K == 0);
    const block_q3_K *b = w;
    const block_q8_K *y = x;
    const __m256i m3 = _mm256_set1_epi8(3), m1 = _mm256_set1_epi8(1);
    float acc = 0;
    for (int i = 0; i < n / QK_K; i++) {
        __m128i sc = kq_q3_scales(b[i].scales);
        __m256i bs = _mm256_loadu_si256((const __m256i *)y[i].bsums);
        __m256i off = _mm256_madd_epi16(_mm256_cvtepi8_epi16(sc), bs); /* sum sc*bsums, times -4 below */
        __m256i sc2 = _mm256_broadcastsi128_si256(sc);
        __m256i hm = _mm256_loadu_si256((const __m256i *)b[i].hmask);
        __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0; /* independent chains */
        for (int h = 0; h < 2; h++) {
            __m256i qv = _mm256_loadu_si256((const __m256i *)(b[i].qs + 32 * h));
            __m256i hh = h ? _mm256_srli_epi16(hm, 4) : hm; /* hmask bit 4h + k -> bit k */
            const int8_t *xq = y[i].qs + 128 * h;
#define KQ_Q3_U(k)                                                                 \
    _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(qv, 2 * (k)), m3),          \
                    _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hh, k), m1), 2))
            a0 = kq_mac(a0, KQ_Q3_U(0), _mm256_loadu_si256((const __m256i *)xq), kq_scale_pair(sc2, 8 * h));
            a1 = kq_mac(a1, KQ_Q3_U(1), _mm256_loadu_si256((const __m256i *)(xq + 32)), kq_scale_pair(sc2, 8 * h + 2));
            a2 = kq_mac(a2, KQ_Q3_U(2), _mm256_loadu_si256((const __m256i *)(xq + 64)), kq_scale_pair(sc2, 8 * h + 4));
            a3 = kq_mac(a3, KQ_Q3_U(3), _mm256_loadu_si256((const __m256i *)(xq + 96)), kq_scale_pair(sc2, 8 * h + 6));
#undef KQ_Q3_U
        }
        __m256i a = _mm256_add_epi32(_mm256_add_epi32(a0, a1), _mm256_add_epi32(a2, a3));
        a = _mm256_sub_epi32(a, _mm256_slli_epi32(off, 2));
        acc = pg_kq_acc1(acc, _cvtsh_ss(b[i].d), y[i].d, kq_hsum_i32(a));
    }
    *s = acc;
}

/* ---------------------------------------------------------- Q4_K / Q5_K */

/* Q4_K / Q5_K: the 8 scales and 8 mins (see pg_kq_unpack_scale_min_k4) as
 * bytes, plus sum_j m[j] * (bsums[2j] + bsums[2j+1]). */
static inline int32_t kq_k4_scales(const uint8_t *q, const int16_t *bsums, uint8_t sc[8]) {
    uint32_t a[3];
    memcpy(a, q, 12);
    const uint32_t m6 = 0x3f3f3f3f, m4 = 0x0f0f0f0f, m2 = 0x03030303;
    uint32_t s01[2] = {a[0] & m6, (a[2] & m4) | (((a[0] >> 6) & m2) << 4)};
    uint32_t m0 = a[1] & m6, m1 = ((a[2] >> 4) & m4) | (((a[1] >> 6) & m2) << 4);
    memcpy(sc, s01, 8);
    __m128i mn = _mm_setr_epi32((int)m0, (int)m1, 0, 0);
    __m256i mdup = _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(mn, mn)); /* m0 m0 m1 m1 ... */
    return kq_hsum_i32(_mm256_madd_epi16(mdup, _mm256_loadu_si256((const __m256i *)bsums)));
}

#if !KQ_HAVE_512
static void kq_q4_K_vec_dot(int n, float *s, const void *w, const void *x) {
    PG_ASSERT(n % QK_K == 0);
    const block_q4_K *b = w;
    const block_q8_K *y = x;
    const __m256i m4 = _mm256_set1_epi8(15);
    float acc = 0;
    for (int i = 0; i < n / QK_K; i++) {
        uint8_t sc[8];
        int32_t summ = kq_k4_scales(b[i].scales, y[i].bsums, sc);
        __m256i a0 = _mm256_setzero_si256(), a1 = _mm256_setzero_si256();
        for (int c = 0; c < 4; c++) {
            __m256i qv = _mm256_loadu_si256((const __m256i *)(b[i].qs + 32 * c));
            const int8_t *xq = y[i].qs + 64 * c;
            a0 = kq_mac(a0, _mm256_and_si256(qv, m4), _mm256_loadu_si256((const __m256i *)xq), _mm256_set1_epi16(sc[2 * c]));
            a1 = kq_mac(a1, _mm256_and_si256(_mm256_srli_epi16(qv, 4), m4), _mm256_loadu_si256((const __m256i *)(xq + 32)),
                        _mm256_set1_epi16(sc[2 * c + 1]));
        }
        acc = pg_kq_acc2(acc, _cvtsh_ss(b[i].d), _cvtsh_ss(b[i].dmin), y[i].d, kq_hsum_i32(_mm256_add_epi32(a0, a1)), summ);
    }
    *s = acc;
}

#endif

static void kq_q5_K_vec_dot(int n, float *s, const void *w, const void *x) {
    PG_ASSERT(n % QK_K == 0);
    const block_q5_K *b = w;
    const block_q8_K *y = x;
    const __m256i m4 = _mm256_set1_epi8(15), m1 = _mm256_set1_epi8(1);
    float acc = 0;
    for (int i = 0; i < n / QK_K; i++) {
        uint8_t sc[8];
        int32_t summ = kq_k4_scales(b[i].scales, y[i].bsums, sc);
        __m256i qh = _mm256_loadu_si256((const __m256i *)b[i].qh);
        __m256i a0 = _mm256_setzero_si256(), a1 = _mm256_setzero_si256();
        for (int c = 0; c < 4; c++) {
            __m256i qv = _mm256_loadu_si256((const __m256i *)(b[i].qs + 32 * c));
            const int8_t *xq = y[i].qs + 64 * c;
            /* fifth bit: bit 2c (low nibbles) and 2c+1 (high) of qh, moved to bit 4 */
            __m256i h0 = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2 * c), m1), 4);
            __m256i h1 = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2 * c + 1), m1), 4);
            __m256i u0 = _mm256_or_si256(_mm256_and_si256(qv, m4), h0);
            __m256i u1 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(qv, 4), m4), h1);
            a0 = kq_mac(a0, u0, _mm256_loadu_si256((const __m256i *)xq), _mm256_set1_epi16(sc[2 * c]));
            a1 = kq_mac(a1, u1, _mm256_loadu_si256((const __m256i *)(xq + 32)), _mm256_set1_epi16(sc[2 * c + 1]));
        }
        acc = pg_kq_acc2(acc, _cvtsh_ss(b[i].d), _cvtsh_ss(b[i].dmin), y[i].d, kq_hsum_i32(_mm256_add_epi32(a0, a1)), summ);
    }
    *s = acc;
}

/* ----------------------------------------------------------------- Q6_K */

#if !KQ_HAVE_512
static void kq_q6_K_vec_dot(int n, float *s, const void *w, const void *x) {
    PG_ASSERT(n % QK_K == 0);
    const block_q6_K *b = w;
    const block_q8_K *y = x;
    const __m256i m4 = _mm256_set1_epi8(15), m3 = _mm256_set1_epi8(3), m30 = _mm256_set1_epi8(0x30);
    float acc = 0;
    for (int i = 0; i < n / QK_K; i++) {
        __m128i sc = _mm_loadu_si128((const __m128i *)b[i].scales);
        __m256i bs = _mm256_loadu_si256((const __m256i *)y[i].bsums);
        __m256i off = _mm256_madd_epi16(_mm256_cvtepi8_epi16(sc), bs); /* times -32 below */
        __m256i sc2 = _mm256_broadcastsi128_si256(sc);
        __m256i a0 = _mm256_setzero_si256(), a1 = _mm256_setzero_si256();
        for (int h = 0; h < 2; h++) {
            const uint8_t *ql = b[i].ql + 64 * h;
            __m256i l0 = _mm256_loadu_si256((const __m256i *)ql);
            __m256i l1 = _mm256_loadu_si256((const __m256i *)(ql + 32));
            __m256i qh = _mm256_loadu_si256((const __m256i *)(b[i].qh + 32 * h));
            /* 2-bit fields of qh moved to bits 4-5 of each byte */
            __m256i u0 = _mm256_or_si256(_mm256_and_si256(l0, m4), _mm256_slli_epi16(_mm256_and_si256(qh, m3), 4));
            __m256i u1 = _mm256_or_si256(_mm256_and_si256(l1, m4), _mm256_and_si256(_mm256_slli_epi16(qh, 2), m30));
            __m256i u2 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4), _mm256_and_si256(qh, m30));
            __m256i u3 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4),
                                         _mm256_and_si256(_mm256_srli_epi16(qh, 2), m30));
            const int8_t *xq = y[i].qs + 128 * h;
            a0 = kq_mac(a0, u0, _mm256_loadu_si256((const __m256i *)xq), kq_scale_pair(sc2, 8 * h));
            a1 = kq_mac(a1, u1, _mm256_loadu_si256((const __m256i *)(xq + 32)), kq_scale_pair(sc2, 8 * h + 2));
            a0 = kq_mac(a0, u2, _mm256_loadu_si256((const __m256i *)(xq + 64)), kq_scale_pair(sc2, 8 * h + 4));
            a1 = kq_mac(a1, u3, _mm256_loadu_si256((const __m256i *)(xq + 96)), kq_scale_pair(sc2, 8 * h + 6));
        }
        __m256i a = _mm256_sub_epi32(_mm256_add_epi32(a0, a1), _mm256_slli_epi32(off, 5));
        acc = pg_kq_acc1(acc, _cvtsh_ss(b[i].d), y[i].d, kq_hsum_i32(a));
    }
    *s = acc;
}

#endif

/* --------------------------------------------------------------- IQ4_XS */

static inline __m256i kq_load2x128(const int8_t *lo, const int8_t *hi) {
    return _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)lo)),
                                   _mm_loadu_si128((const __m128i *)hi), 1);
}

static void kq_iq4_xs_vec_dot(int n, float *s, const void *w, const void *x) {
    PG_ASSERT(n % QK_K == 0);
    const block_iq4_xs *b = w;
    const block_q8_K *y = x;
    const __m256i m4 = _mm256_set1_epi8(15);
    const __m256i tbl = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)pg_iq4nl_values));
    float acc = 0;
    for (int i = 0; i < n / QK_K; i++) {
        int sc[8];
        for (int ib = 0; ib < 8; ib++) sc[ib] = pg_kq_iq4xs_scale(&b[i], ib);
        __m256i a0 = _mm256_setzero_si256(), a1 = _mm256_setzero_si256();
        for (int ib = 0; ib < 8; ib += 2) {
            /* lanes: sub-block ib (low) and ib+1 (high), 16 bytes each */
            __m256i qv = _mm256_loadu_si256((const __m256i *)(b[i].qs + 16 * ib));
            __m256i w0 = _mm256_shuffle_epi8(tbl, _mm256_and_si256(qv, m4));
            __m256i w1 = _mm256_shuffle_epi8(tbl, _mm256_and_si256(_mm256_srli_epi16(qv, 4), m4));
            const int8_t *xq = y[i].qs + 32 * ib;
            __m256i x0 = kq_load2x128(xq, xq + 32), x1 = kq_load2x128(xq + 16, xq + 48);
            __m256i scv = kq_scale_pair16(sc[ib], sc[ib + 1]);
            a0 = kq_mac(a0, _mm256_abs_epi8(x0), _mm256_sign_epi8(w0, x0), scv);
            a1 = kq_mac(a1, _mm256_abs_epi8(x1), _mm256_sign_epi8(w1, x1), scv);
        }
        __m256i a = _mm256_add_epi32(a0, a1);
        acc = pg_kq_acc1(acc, _cvtsh_ss(b[i].d), y[i].d, kq_hsum_i32(a));
    }
    *s = acc;
}

/* ------------------------------------------------------ Q8_K quantization */

/* bsums of a block whose qs are written: per 16 bytes, sum(q + 128) - 2048
 * via psadbw. */
static inline void kq_q8_K_bsums(block_q8_K *y) {
    const __m128i bias = _mm_set1_epi8((char)0x80), z = _mm_setzero_si128();
    for (int j = 0; j < QK_K / 16; j++) {
        __m128i q = _mm_loadu_si128((const __m128i *)(y->qs + 16 * j));
        __m128i t = _mm_sad_epu8(_mm_xor_si128(q, bias), z);
        y->bsums[j] = (int16_t)(_mm_cvtsi128_si32(t) + _mm_extract_epi16(t, 4) - 2048);
    }
}

#if defined(__AVX512F__)
static void kq_q8_K_from_float(const float *x, void *dst, int64_t n) {
    block_q8_K *y = dst;
    const __m512 absmask = _mm512_castsi512_ps(_mm512_set1_epi32(0x7fffffff));
    for (int64_t i = 0; i < n / QK_K; i++, x += QK_K) {
        __m512 vmax = _mm512_setzero_ps();
        __mmask16 bad = 0;
        for (int k = 0; k < QK_K / 16; k++) {
            __m512 v = _mm512_loadu_ps(x + 16 * k);
            bad |= _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
            vmax = _mm512_max_ps(vmax, _mm512_and_ps(v, absmask));
        }
        float amax = _mm512_reduce_max_ps(vmax);
        if (bad || amax == 0 || !(amax <= 3.4028235e38f)) {
            pg_kq_q8_K_block(x, &y[i]);
            continue;
        }
        /* the first element of largest magnitude, with its sign */
        const __m512 va = _mm512_set1_ps(amax);
        float max = 0;
        for (int k = 0; k < QK_K / 16; k++) {
            __m512 v = _mm512_loadu_ps(x + 16 * k);
            __mmask16 e = _mm512_cmp_ps_mask(_mm512_and_ps(v, absmask), va, _CMP_EQ_OQ);
            if (e) {
                max = x[16 * k + __builtin_ctz(e)];
                break;
            }
        }
        float iscale = -127.f / max;
        const __m512 vs = _mm512_set1_ps(iscale);
        for (int k = 0; k < QK_K / 16; k++) {
            __m512i q = _mm512_cvtps_epi32(_mm512_mul_ps(vs, _mm512_loadu_ps(x + 16 * k)));
            _mm_storeu_si128((__m128i *)(y[i].qs + 16 * k), _mm512_cvtsepi32_epi8(q));
        }
        kq_q8_K_bsums(&y[i]);
        y[i].d = 1 / iscale;
    }
}
#else
static void kq_q8_K_from_float(const float *x, void *dst, int64_t n) {
    block_q8_K *y = dst;
    const __m256 absmask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    for (int64_t i = 0; i < n / QK_K; i++, x += QK_K) {
        __m256 vmax = _mm256_setzero_ps(), bad = _mm256_setzero_ps();
        for (int k = 0; k < QK_K / 8; k++) {
            __m256 v = _mm256_loadu_ps(x + 8 * k);
            bad = _mm256_or_ps(bad, _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
            vmax = _mm256_max_ps(vmax, _mm256_and_ps(v, absmask));
        }
        __m128 m = _mm_max_ps(_mm256_castps256_ps128(vmax), _mm256_extractf128_ps(vmax, 1));
        m = _mm_max_ps(m, _mm_movehl_ps(m, m));
        m = _mm_max_ss(m, _mm_movehdup_ps(m));
        float amax = _mm_cvtss_f32(m);
        if (_mm256_movemask_ps(bad) || amax == 0 || !(amax <= 3.4028235e38f)) {
            pg_kq_q8_K_block(x, &y[i]);
            continue;
        }
        const __m256 va = _mm256_set1_ps(amax);
        float max = 0;
        for (int k = 0; k < QK_K / 8; k++) {
            __m256 v = _mm256_loadu_ps(x + 8 * k);
            int e = _mm256_movemask_ps(_mm256_cmp_ps(_mm256_and_ps(v, absmask), va, _CMP_EQ_OQ));
            if (e) {
                max = x[8 * k + __builtin_ctz((unsigned)e)];
                break;
            }
        }
        float iscale = -127.f / max;
        const __m256 vs = _mm256_set1_ps(iscale);
        const __m256i perm = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
        for (int k = 0; k < QK_K / 32; k++) {
            const float *xp = x + 32 * k;
            __m256i q0 = _mm256_cvtps_epi32(_mm256_mul_ps(vs, _mm256_loadu_ps(xp)));
            __m256i q1 = _mm256_cvtps_epi32(_mm256_mul_ps(vs, _mm256_loadu_ps(xp + 8)));
            __m256i q2 = _mm256_cvtps_epi32(_mm256_mul_ps(vs, _mm256_loadu_ps(xp + 16)));
            __m256i q3 = _mm256_cvtps_epi32(_mm256_mul_ps(vs, _mm256_loadu_ps(xp + 24)));
            /* packs work per 128-bit lane: the dword order is then 0,2,4,6,1,3,5,7 groups of 4 */
            __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(q0, q1), _mm256_packs_epi32(q2, q3));
            _mm256_storeu_si256((__m256i *)(y[i].qs + 32 * k), _mm256_permutevar8x32_epi32(p, perm));
        }
        kq_q8_K_bsums(&y[i]);
        y[i].d = 1 / iscale;
    }
}
#endif

/* ------------------------------------------- 512-bit Q4_K / Q6_K (VNNI) */

#if KQ_HAVE_512
/* 16 scales (dwords) -> each dword holds its scale in both 16-bit halves,
 * the operand layout vpdpwssd wants for a pair of int16 products. */
static inline __m512i kq_dup32(__m512i s32) {
    __m512i lo = _mm512_and_si512(s32, _mm512_set1_epi32(0xffff));
    return _mm512_or_si512(lo, _mm512_slli_epi32(lo, 16));
}

/* Dword index vector: first 8 dwords = a, last 8 = b. */
static inline __m512i kq_idx2(int a, int b) {
    return _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_set1_epi32(a)), _mm256_set1_epi32(b), 1);
}

/* Q4_K: chunk c's 32 bytes are broadcast to both halves; the low half keeps
 * the low nibbles (elements 64c..64c+31), the high half the high nibbles
 * (64c+32..64c+63), so one contiguous 64-byte load of x matches. */
static void kq_q4_K_vec_dot_512(int n, float *s, const void *w, const void *x) {
    PG_ASSERT(n % QK_K == 0);
    const block_q4_K *b = w;
    const block_q8_K *y = x;
    const __m512i m4 = _mm512_set1_epi8(15);
    const __m512i shift = _mm512_inserti64x4(_mm512_setzero_si512(), _mm256_set1_epi16(4), 1);
    const __m512i i0 = kq_idx2(0, 1), i1 = kq_idx2(2, 3), i2 = kq_idx2(4, 5), i3 = kq_idx2(6, 7);
    float acc = 0;
    for (int i = 0; i < n / QK_K; i++) {
        uint8_t sc[8];
        int32_t summ = kq_k4_scales(b[i].scales, y[i].bsums, sc);
        __m512i sd = kq_dup32(_mm512_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)sc)));
        const uint8_t *q = b[i].qs;
        const int8_t *xq = y[i].qs;
#define KQ_Q4_CHUNK(c, idx)                                                                                   \
    _mm512_maddubs_epi16(                                                                                     \
        _mm512_and_si512(_mm512_srlv_epi16(_mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(q + 32 * (c)))), shift), m4), \
        _mm512_loadu_si512((const void *)(xq + 64 * (c)))),                                                   \
        _mm512_permutexvar_epi32(idx, sd)
        __m512i a0 = _mm512_dpwssd_epi32(_mm512_setzero_si512(), KQ_Q4_CHUNK(0, i0));
        __m512i a1 = _mm512_dpwssd_epi32(_mm512_setzero_si512(), KQ_Q4_CHUNK(1, i1));
        a0 = _mm512_dpwssd_epi32(a0, KQ_Q4_CHUNK(2, i2));
        a1 = _mm512_dpwssd_epi32(a1, KQ_Q4_CHUNK(3, i3));
#undef KQ_Q4_CHUNK
        int32_t sumi = _mm512_reduce_add_epi32(_mm512_add_epi32(a0, a1));
        acc = pg_kq_acc2(acc, _cvtsh_ss(b[i].d), _cvtsh_ss(b[i].dmin), y[i].d, sumi, summ);
    }
    *s = acc;
}

/* Q6_K: per half, [u0 u1] and [u2 u3] (64 elements each, contiguous in x)
 * from one 64-byte ql load and qh broadcast to both halves with per-half
 * shift counts; 16-element sub-blocks are 128-bit quarters. */
static void kq_q6_K_vec_dot_512(int n, float *s, const void *w, const void *x) {
    PG_ASSERT(n % QK_K == 0);
    const block_q6_K *b = w;
    const block_q8_K *y = x;
    const __m512i m4 = _mm512_set1_epi8(15), m30 = _mm512_set1_epi8(0x30);
    const __m512i sh01 = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_set1_epi16(4)), _mm256_set1_epi16(2), 1);
    const __m512i sh23 = _mm512_inserti64x4(_mm512_setzero_si512(), _mm256_set1_epi16(2), 1);
    const __m512i iq = _mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3);
    const __m512i i0 = iq, i1 = _mm512_add_epi32(iq, _mm512_set1_epi32(4)), i2 = _mm512_add_epi32(iq, _mm512_set1_epi32(8)),
                  i3 = _mm512_add_epi32(iq, _mm512_set1_epi32(12));
    float acc = 0;
    for (int i = 0; i < n / QK_K; i++) {
        __m128i sc = _mm_loadu_si128((const __m128i *)b[i].scales);
        __m512i sd = kq_dup32(_mm512_cvtepi8_epi32(sc));
        __m256i bs = _mm256_loadu_si256((const __m256i *)y[i].bsums);
        int32_t off = kq_hsum_i32(_mm256_madd_epi16(_mm256_cvtepi8_epi16(sc), bs));
        __m512i a0 = _mm512_setzero_si512(), a1 = _mm512_setzero_si512();
        for (int h = 0; h < 2; h++) {
            __m512i ql = _mm512_loadu_si512((const void *)(b[i].ql + 64 * h));
            __m512i qh = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(b[i].qh + 32 * h)));
            __m512i u01 = _mm512_or_si512(_mm512_and_si512(ql, m4), _mm512_and_si512(_mm512_sllv_epi16(qh, sh01), m30));
            __m512i u23 = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(ql, 4), m4),
                                          _mm512_and_si512(_mm512_srlv_epi16(qh, sh23), m30));
            const int8_t *xq = y[i].qs + 128 * h;
            __m512i p01 = _mm512_maddubs_epi16(u01, _mm512_loadu_si512((const void *)xq));
            __m512i p23 = _mm512_maddubs_epi16(u23, _mm512_loadu_si512((const void *)(xq + 64)));
            a0 = _mm512_dpwssd_epi32(a0, p01, _mm512_permutexvar_epi32(h ? i2 : i0, sd));
            a1 = _mm512_dpwssd_epi32(a1, p23, _mm512_permutexvar_epi32(h ? i3 : i1, sd));
        }
        int32_t sumi = _mm512_reduce_add_epi32(_mm512_add_epi32(a0, a1)) - 32 * off;
        acc = pg_kq_acc1(acc, _cvtsh_ss(b[i].d), y[i].d, sumi);
    }
    *s = acc;
}
#endif

#endif
