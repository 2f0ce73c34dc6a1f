/* attn_avx2.c - AVX2/FMA attention kernels (tensor/attn.h).
 *
 * Same scheme as attn_avx512.c with 8-lane vectors. qk: lanes = query rows
 * (rows 8..15 of a tile in a second pass), one accumulator per key for a
 * block of QK_KB keys; each lane runs the reference chain
 * acc = fma(q[r][d], k_i[d], acc) over d ascending, so the bits equal the
 * scalar reference. pv: lanes = dims, slices of PV_NC vectors (32 dims),
 * PV_RB rows per converted V vector; dims past the last multiple of 8 run
 * the same chain with scalar fmaf (a single-rounded fma as well). Padding
 * (missing keys, rows or chunks) repeats valid data and is never stored.
 *
 * Quantized K/V (q8_0, q4_0): a key block's rows are dequantized into the
 * same f32 stack tile the f16 keys are converted into (d * q is exact, so
 * the tile holds the reference's values); V rows are dequantized a tile of
 * PV_TILE floats at a time and summed by the f32 path, whose chains
 * continue in out across tiles (the split-call property of attn.h). So the
 * quantized cache is read once per call, at 34 or 18 bytes per 32 values,
 * and never copied as a whole. */
#include "tensor/dispatch.h"

#include "tensor/fp16.h"

#include <immintrin.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

/* Full unrolling keeps the accumulator arrays in registers. */
#define PV_UNROLL _Pragma("GCC unroll 16")

enum { QK_KB = 8, QK_HDMAX = 512, PV_NC = 4, PV_RB = 2, PV_TILE = 4096 };

static inline void qk_block8(const float *qt, int hd, const float *const kp[QK_KB], __m256 vs,
                             float out[QK_KB][8]) {
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
    const float *k0 = kp[0], *k1 = kp[1], *k2 = kp[2], *k3 = kp[3], *k4 = kp[4], *k5 = kp[5], *k6 = kp[6],
                *k7 = kp[7];
    for (int d = 0; d < hd; d++) {
        const __m256 q = _mm256_loadu_ps(qt + (size_t)d * PG_ATTN_RT);
        a0 = _mm256_fmadd_ps(q, _mm256_broadcast_ss(k0 + d), a0);
        a1 = _mm256_fmadd_ps(q, _mm256_broadcast_ss(k1 + d), a1);
        a2 = _mm256_fmadd_ps(q, _mm256_broadcast_ss(k2 + d), a2);
        a3 = _mm256_fmadd_ps(q, _mm256_broadcast_ss(k3 + d), a3);
        a4 = _mm256_fmadd_ps(q, _mm256_broadcast_ss(k4 + d), a4);
        a5 = _mm256_fmadd_ps(q, _mm256_broadcast_ss(k5 + d), a5);
        a6 = _mm256_fmadd_ps(q, _mm256_broadcast_ss(k6 + d), a6);
        a7 = _mm256_fmadd_ps(q, _mm256_broadcast_ss(k7 + d), a7);
    }
    _mm256_storeu_ps(out[0], _mm256_mul_ps(a0, vs));
    _mm256_storeu_ps(out[1], _mm256_mul_ps(a1, vs));
    _mm256_storeu_ps(out[2], _mm256_mul_ps(a2, vs));
    _mm256_storeu_ps(out[3], _mm256_mul_ps(a3, vs));
    _mm256_storeu_ps(out[4], _mm256_mul_ps(a4, vs));
    _mm256_storeu_ps(out[5], _mm256_mul_ps(a5, vs));
    _mm256_storeu_ps(out[6], _mm256_mul_ps(a6, vs));
    _mm256_storeu_ps(out[7], _mm256_mul_ps(a7, vs));
}

/* f16 row -> f32 (exact at every level), hd elements. */
static void cvt_row(const uint16_t *src, float *dst, int hd) {
    int d = 0;
    for (; d + 8 <= hd; d += 8) _mm256_storeu_ps(dst + d, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(src + d))));
    for (; d < hd; d++) dst[d] = pg_fp16_to_fp32(src[d]);
}

static inline __m256 half_scale(const unsigned char *blk) {
    uint16_t h;
    memcpy(&h, blk, 2);
    return _mm256_set1_ps(_mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(h))));
}

/* One q8_0 block (34 bytes) -> 32 floats d * q (exact products). */
static inline void deq_q8_0(const unsigned char *blk, float *dst) {
    const __m256 d = half_scale(blk);
    /* one load per block, then register shuffles (as deq_q4_0): four 8-byte
     * loads interleaved with the tile's stores ran ~1.7x slower */
    const __m128i lo = _mm_loadu_si128((const __m128i *)(blk + 2)), hi = _mm_loadu_si128((const __m128i *)(blk + 18));
    const __m128i part[4] = {lo, _mm_srli_si128(lo, 8), hi, _mm_srli_si128(hi, 8)};
    for (int c = 0; c < 4; c++)
        _mm256_storeu_ps(dst + 8 * c, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(part[c])), d));
}

/* One q4_0 block (18 bytes) -> 32 floats d * (nibble - 8). */
static inline void deq_q4_0(const unsigned char *blk, float *dst) {
    const __m256 d = half_scale(blk);
    const __m128i qs = _mm_loadu_si128((const __m128i *)(blk + 2)), m4 = _mm_set1_epi8(15), k8 = _mm_set1_epi8(8);
    const __m128i lo = _mm_sub_epi8(_mm_and_si128(qs, m4), k8);                    /* values 0..15 */
    const __m128i hi = _mm_sub_epi8(_mm_and_si128(_mm_srli_epi16(qs, 4), m4), k8); /* values 16..31 */
    const __m128i part[4] = {lo, _mm_srli_si128(lo, 8), hi, _mm_srli_si128(hi, 8)};
    for (int c = 0; c < 4; c++)
        _mm256_storeu_ps(dst + 8 * c, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(part[c])), d));
}

/* Elements e0 .. e0 + hd - 1 of a row in fmt -> f32 (exact). Whole blocks
 * take the vector path when the head starts a block; anything else (a head
 * inside a block, a partial last block) reads element by element. */
static void deq_row(int fmt, const char *row, int e0, int hd, float *dst) {
    if (fmt == PG_ATTN_F32) {
        memcpy(dst, (const float *)row + e0, (size_t)hd * sizeof(float));
        return;
    }
    if (fmt == PG_ATTN_F16) {
        cvt_row((const uint16_t *)row + e0, dst, hd);
        return;
    }
    int d = 0;
    if (e0 % PG_ATTN_QB == 0) {
        const size_t bsz = fmt == PG_ATTN_Q8_0 ? 34 : 18; /* block_q8_0 / block_q4_0 */
        const unsigned char *blk = (const unsigned char *)row + (size_t)(e0 / PG_ATTN_QB) * bsz;
        for (; d + PG_ATTN_QB <= hd; d += PG_ATTN_QB, blk += bsz) {
            if (fmt == PG_ATTN_Q8_0) deq_q8_0(blk, dst + d);
            else deq_q4_0(blk, dst + d);
        }
    }
    for (; d < hd; d++) dst[d] = pg_attn_elem(fmt, row, (size_t)e0 + (size_t)d);
}

static void qk_avx2(const float *qt, int R, int hd, const void *k, size_t kstride, int fmt, int e0, int n,
                    float scale, float *s, size_t lds) {
    if (hd > QK_HDMAX) {
        pg_attn_kernels_ref.qk(qt, R, hd, k, kstride, fmt, e0, n, scale, s, lds);
        return;
    }
    float kbuf[QK_KB][QK_HDMAX];
    float out[QK_KB][8];
    const float *kp[QK_KB];
    const __m256 vs = _mm256_set1_ps(scale);
    for (int i0 = 0; i0 < n; i0 += QK_KB) {
        const int nk = n - i0 < QK_KB ? n - i0 : QK_KB;
        for (int j = 0; j < QK_KB; j++) {
            if (j >= nk) {
                kp[j] = kp[0];
                continue;
            }
            const char *row = (const char *)k + (size_t)(i0 + j) * kstride;
            if (fmt == PG_ATTN_F32) {
                kp[j] = (const float *)row + e0;
            } else {
                deq_row(fmt, row, e0, hd, kbuf[j]);
                kp[j] = kbuf[j];
            }
        }
        for (int h = 0; h < R; h += 8) {
            qk_block8(qt + h, hd, kp, vs, out);
            const int nr = R - h < 8 ? R - h : 8;
            for (int r = 0; r < nr; r++)
                for (int j = 0; j < nk; j++) s[(size_t)(h + r) * lds + i0 + j] = out[j][r];
        }
    }
}

static inline __m256 load8(const char *row, int f16, int d) {
    if (f16) return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const uint16_t *)row + d)));
    return _mm256_loadu_ps((const float *)row + d);
}

/* Rows pr[0..PV_RB), dims d0 + off[c] for the PV_NC chunks (only the first
 * nc are live; the rest repeat chunk 0 and are not stored); o[r] is the
 * output row (a sink for missing rows). */
static void pv_group(const float *const pr[PV_RB], float *const o[PV_RB], const void *v, size_t vstride, int f16,
                     int n, int d0, const int off[PV_NC], int nc) {
    __m256 acc[PV_RB][PV_NC];
    PV_UNROLL
    for (int r = 0; r < PV_RB; r++)
        PV_UNROLL
        for (int c = 0; c < PV_NC; c++) acc[r][c] = _mm256_loadu_ps(o[r] + d0 + off[c]);
    for (int i = 0; i < n; i++) {
        const char *row = (const char *)v + (size_t)i * vstride;
        __m256 x[PV_NC];
        PV_UNROLL
        for (int c = 0; c < PV_NC; c++) x[c] = load8(row, f16, d0 + off[c]);
        PV_UNROLL
        for (int r = 0; r < PV_RB; r++) {
            const __m256 p = _mm256_broadcast_ss(pr[r] + i);
            PV_UNROLL
            for (int c = 0; c < PV_NC; c++) acc[r][c] = _mm256_fmadd_ps(p, x[c], acc[r][c]);
        }
    }
    PV_UNROLL
    for (int r = 0; r < PV_RB; r++)
        PV_UNROLL
        for (int c = 0; c < PV_NC; c++)
            if (c < nc) _mm256_storeu_ps(o[r] + d0 + off[c], acc[r][c]);
}

/* f32 / f16 rows (v at the head's first element). */
static void pv_float(const float *p, size_t ldp, int R, const void *v, size_t vstride, int f16, int n, int hd,
                     float *out, size_t ldo) {
    const int hd8 = hd & ~7;
    float sink[QK_HDMAX];
    if (hd8 > 0 && hd8 <= QK_HDMAX) {
        memset(sink, 0, sizeof(sink));
        for (int d0 = 0; d0 < hd8; d0 += 8 * PV_NC) {
            int off[PV_NC], nc = 0;
            for (int c = 0; c < PV_NC; c++) {
                const int live = d0 + 8 * c < hd8;
                off[c] = live ? 8 * c : 0;
                nc += live;
            }
            for (int r0 = 0; r0 < R; r0 += PV_RB) {
                const float *pr[PV_RB];
                float *o[PV_RB];
                for (int r = 0; r < PV_RB; r++) {
                    const int live = r0 + r < R;
                    pr[r] = p + (size_t)(live ? r0 + r : r0) * ldp;
                    o[r] = live ? out + (size_t)(r0 + r) * ldo : sink;
                }
                pv_group(pr, o, v, vstride, f16, n, d0, off, nc);
            }
        }
    } else {
        pg_attn_kernels_ref.pv(p, ldp, R, v, vstride, f16 ? PG_ATTN_F16 : PG_ATTN_F32, 0, n, hd, out, ldo);
        return;
    }
    /* tail dims: the same per-element chain, scalar */
    for (int i = 0; i < n && hd8 < hd; i++) {
        const char *row = (const char *)v + (size_t)i * vstride;
        for (int r = 0; r < R; r++) {
            const float pri = p[(size_t)r * ldp + i];
            float *o = out + (size_t)r * ldo;
            for (int d = hd8; d < hd; d++) {
                float x; /* rows need not be aligned to their element: memcpy loads */
                if (f16) {
                    uint16_t h;
                    memcpy(&h, row + (size_t)d * 2, 2);
                    x = pg_fp16_to_fp32(h);
                } else {
                    memcpy(&x, row + (size_t)d * 4, 4);
                }
                o[d] = fmaf(pri, x, o[d]);
            }
        }
    }
}

static void pv_avx2(const float *p, size_t ldp, int R, const void *v, size_t vstride, int fmt, int e0, int n, int hd,
                    float *out, size_t ldo) {
    if (fmt == PG_ATTN_F32 || fmt == PG_ATTN_F16) {
        const size_t el = fmt == PG_ATTN_F16 ? 2 : 4;
        pv_float(p, ldp, R, (const char *)v + (size_t)e0 * el, vstride, fmt == PG_ATTN_F16, n, hd, out, ldo);
        return;
    }
    if (hd > QK_HDMAX) {
        pg_attn_kernels_ref.pv(p, ldp, R, v, vstride, fmt, e0, n, hd, out, ldo);
        return;
    }
    /* quantized rows: a tile of keys dequantized, then the f32 sums; the
     * chains continue in out from tile to tile */
    float vbuf[PV_TILE];
    const int kt = PV_TILE / hd;
    for (int i0 = 0; i0 < n; i0 += kt) {
        const int nk = n - i0 < kt ? n - i0 : kt;
        for (int j = 0; j < nk; j++)
        {
            const char *row = (const char *)v + (size_t)(i0 + j) * vstride;
            deq_row(fmt, row, e0, hd, vbuf + (size_t)j * hd);
        }
        pv_float(p + i0, ldp, R, vbuf, (size_t)hd * sizeof(float), 0, nk, hd, out, ldo);
    }
}

const pg_attn_kernels pg_attn_kernels_avx2 = {qk_avx2, pv_avx2};
