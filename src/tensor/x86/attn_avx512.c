/* attn_avx512.c - AVX-512 attention kernels (tensor/attn.h).
 *
 * qk: lanes = query rows (16 per zmm, or 8 per ymm when R <= 8), one
 * accumulator per key for a block of QK_KB keys. Per dimension d the packed
 * query column qt[d][0..16) is loaded once and multiplied with the broadcast
 * k_i[d] of each key: every lane is the reference chain
 * acc = fma(q[r][d], k_i[d], acc), d ascending, so results equal the scalar
 * reference bit for bit. f16 keys are converted once per block into a small
 * stack buffer [QK_KB][QK_HDMAX] (f32 keys copied: a fixed stride keeps the
 * 16 key streams on one base register). A short block pads its missing keys
 * with key 0 and drops those lanes (lanes never mix). The 16-lane variant
 * transposes its [key][row] accumulators in registers and stores each row's
 * scores with one masked vector store (the ymm variant stores element-wise).
 *
 * pv: lanes = dimensions d (PV_NC zmm = 64 dims per slice, masked at the
 * end of the row), PV_RB rows share each converted V vector. Per element the
 * chain runs over keys ascending, as in the reference. Missing rows of a
 * group repeat row 0 into a sink buffer.
 *
 * Quantized K/V (q8_0, q4_0), as in attn_avx2.c: a key block's rows are
 * dequantized (d * q, exact) into the f32 stack tile kbuf; V rows a tile of
 * PV_TILE floats at a time, summed by the f32 path whose chains continue in
 * out across tiles. */
#include "tensor/dispatch.h"

#include <immintrin.h>
#include <stdint.h>
#include <string.h>

/* Full unrolling keeps the accumulator arrays in registers. */
#define PV_UNROLL _Pragma("GCC unroll 16")

#define QK_UNROLL _Pragma("GCC unroll 16")

enum { QK_KB = 16, QK_HDMAX = 512, PV_NC = 4, PV_RB = 4, PV_TILE = 4096 };

/* Scores of one block of QK_KB keys (kb[j]: f32 row of key j) for the row
 * lanes [0,16) (zmm) or [0,8) (ymm, R <= 8): out[j][r]. QK_KB independent
 * chains keep both FMA pipes busy at the 4-cycle FMA latency. */
/* 16x16 transpose: on return t[r][j] = a[j][r] (register shuffles only). */
static inline void transpose16(__m512 a[16]) {
    __m512 b[16], c[16];
    for (int i = 0; i < 8; i++) { /* per 128-bit lane: pairs of rows interleaved */
        b[2 * i] = _mm512_unpacklo_ps(a[2 * i], a[2 * i + 1]);
        b[2 * i + 1] = _mm512_unpackhi_ps(a[2 * i], a[2 * i + 1]);
    }
    for (int i = 0; i < 4; i++) { /* c[4i+e], lane L: rows 4i..4i+3 at column 4L+e */
        const __m512d b0 = _mm512_castps_pd(b[4 * i]), b1 = _mm512_castps_pd(b[4 * i + 1]);
        const __m512d b2 = _mm512_castps_pd(b[4 * i + 2]), b3 = _mm512_castps_pd(b[4 * i + 3]);
        c[4 * i] = _mm512_castpd_ps(_mm512_unpacklo_pd(b0, b2));
        c[4 * i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(b0, b2));
        c[4 * i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(b1, b3));
        c[4 * i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(b1, b3));
    }
    for (int e = 0; e < 4; e++) { /* column 4L+e = lane L of c[e], c[4+e], c[8+e], c[12+e] */
        const __m512 d0 = _mm512_shuffle_f32x4(c[e], c[4 + e], 0x44), d1 = _mm512_shuffle_f32x4(c[e], c[4 + e], 0xEE);
        const __m512 d2 = _mm512_shuffle_f32x4(c[8 + e], c[12 + e], 0x44);
        const __m512 d3 = _mm512_shuffle_f32x4(c[8 + e], c[12 + e], 0xEE);
        a[e] = _mm512_shuffle_f32x4(d0, d2, 0x88);
        a[4 + e] = _mm512_shuffle_f32x4(d0, d2, 0xDD);
        a[8 + e] = _mm512_shuffle_f32x4(d1, d3, 0x88);
        a[12 + e] = _mm512_shuffle_f32x4(d1, d3, 0xDD);
    }
}

/* Scores of one block of QK_KB keys for the 16 row lanes, written straight
 * to s[r * lds + j] for rows r < R and keys j < nk: the key-major
 * accumulators are transposed in registers (pure data movement) so each
 * row's scores leave with one masked store. */
static inline void qk_block16(const float *qt, int hd, const float kb[QK_KB][QK_HDMAX], __m512 vs, int R, int nk,
                              float *s, size_t lds) {
    __m512 a[QK_KB];
    QK_UNROLL
    for (int j = 0; j < QK_KB; j++) a[j] = _mm512_setzero_ps();
    for (int d = 0; d < hd; d++) {
        const __m512 q = _mm512_loadu_ps(qt + (size_t)d * PG_ATTN_RT);
        QK_UNROLL
        for (int j = 0; j < QK_KB; j++) a[j] = _mm512_fmadd_ps(q, _mm512_set1_ps(kb[j][d]), a[j]);
    }
    QK_UNROLL
    for (int j = 0; j < QK_KB; j++) a[j] = _mm512_mul_ps(a[j], vs);
    transpose16(a);
    const __mmask16 m = (__mmask16)(nk >= 16 ? 0xffffu : (1u << nk) - 1);
    for (int r = 0; r < R; r++) _mm512_mask_storeu_ps(s + (size_t)r * lds, m, a[r]);
}

static inline void qk_block8(const float *qt, int hd, const float kb[QK_KB][QK_HDMAX], __m256 vs,
                             float out[QK_KB][16]) {
    __m256 a[QK_KB];
    QK_UNROLL
    for (int j = 0; j < QK_KB; j++) a[j] = _mm256_setzero_ps();
    for (int d = 0; d < hd; d++) {
        const __m256 q = _mm256_loadu_ps(qt + (size_t)d * PG_ATTN_RT);
        QK_UNROLL
        for (int j = 0; j < QK_KB; j++) a[j] = _mm256_fmadd_ps(q, _mm256_set1_ps(kb[j][d]), a[j]);
    }
    QK_UNROLL
    for (int j = 0; j < QK_KB; j++) _mm256_storeu_ps(out[j], _mm256_mul_ps(a[j], vs));
}

/* f16 row -> f32 (exact), hd elements. */
static void cvt_row(const uint16_t *src, float *dst, int hd) {
    int d = 0;
    for (; d + 16 <= hd; d += 16)
        _mm512_storeu_ps(dst + d, _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(src + d))));
    if (d < hd) {
        const __mmask16 m = (__mmask16)((1u << (hd - d)) - 1);
        _mm512_mask_storeu_ps(dst + d, m, _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, src + d)));
    }
}

static inline __m512 half_scale(const unsigned char *blk) {
    uint16_t h;
    memcpy(&h, blk, 2);
    return _mm512_set1_ps(_mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(h))));
}

/* One q8_0 block (34 bytes) -> 32 floats d * q (exact products). */
static inline void deq_q8_0(const unsigned char *blk, float *dst) {
    const __m512 d = half_scale(blk);
    for (int c = 0; c < 2; c++) {
        const __m512i q = _mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(blk + 2 + 16 * c)));
        _mm512_storeu_ps(dst + 16 * c, _mm512_mul_ps(_mm512_cvtepi32_ps(q), d));
    }
}

/* One q4_0 block (18 bytes) -> 32 floats d * (nibble - 8): values 0..15 are
 * the low nibbles of the 16 bytes, values 16..31 the high ones. */
static inline void deq_q4_0(const unsigned char *blk, float *dst) {
    const __m512 d = half_scale(blk);
    const __m128i qs = _mm_loadu_si128((const __m128i *)(blk + 2)), m4 = _mm_set1_epi8(15), k8 = _mm_set1_epi8(8);
    const __m128i lo = _mm_sub_epi8(_mm_and_si128(qs, m4), k8);
    const __m128i hi = _mm_sub_epi8(_mm_and_si128(_mm_srli_epi16(qs, 4), m4), k8);
    _mm512_storeu_ps(dst, _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(lo)), d));
    _mm512_storeu_ps(dst + 16, _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(hi)), d));
}

/* Elements e0 .. e0 + hd - 1 of a row in fmt -> f32 (exact): whole blocks
 * by vector when the head starts a block, anything else element-wise. */
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

static void qk_avx512(const float *qt, int R, int hd, const void *k, size_t kstride, int fmt, int e0, int n,
                      float scale, float *s, size_t lds) {
    if (hd > QK_HDMAX) {
        pg_attn_kernels_ref.qk(qt, R, hd, k, kstride, fmt, e0, n, scale, s, lds);
        return;
    }
    float kbuf[QK_KB][QK_HDMAX]; /* the block's keys as f32 rows (fixed stride: one base register) */
    float out[QK_KB][16];
    for (int i0 = 0; i0 < n; i0 += QK_KB) {
        const int nk = n - i0 < QK_KB ? n - i0 : QK_KB;
        for (int j = 0; j < nk; j++) {
        {
            const char *row = (const char *)k + (size_t)(i0 + j) * kstride;
            deq_row(fmt, row, e0, hd, kbuf[j]);
        }
        }
        for (int j = nk; j < QK_KB; j++) memcpy(kbuf[j], kbuf[0], (size_t)hd * sizeof(float));
        if (R > 8) {
            qk_block16(qt, hd, (const float(*)[QK_HDMAX])kbuf, _mm512_set1_ps(scale), R, nk, s + i0, lds);
            continue;
        }
        qk_block8(qt, hd, (const float(*)[QK_HDMAX])kbuf, _mm256_set1_ps(scale), out);
        for (int r = 0; r < R; r++)
            for (int j = 0; j < nk; j++) s[(size_t)r * lds + i0 + j] = out[j][r];
    }
}

/* Rows pr[0..PV_RB) of probabilities, dims [d0, d0 + 64) masked by m[c] per
 * chunk; o[r] points at dim d0 of its output row, whose chains continue. */
static void pv_group(const float *const pr[PV_RB], float *const o[PV_RB], const void *v, size_t vstride, int f16,
                     int n, int d0, const __mmask16 m[PV_NC]) {
    __m512 acc[PV_RB][PV_NC];
    PV_UNROLL
    for (int r = 0; r < PV_RB; r++)
        PV_UNROLL
        for (int c = 0; c < PV_NC; c++) acc[r][c] = _mm512_maskz_loadu_ps(m[c], o[r] + 16 * c);
    for (int i = 0; i < n; i++) {
        const char *row = (const char *)v + (size_t)i * vstride;
        __m512 x[PV_NC];
        if (f16) {
            const uint16_t *h = (const uint16_t *)row + d0;
            PV_UNROLL
            for (int c = 0; c < PV_NC; c++) x[c] = _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m[c], h + 16 * c));
        } else {
            const float *fr = (const float *)row + d0;
            PV_UNROLL
            for (int c = 0; c < PV_NC; c++) x[c] = _mm512_maskz_loadu_ps(m[c], fr + 16 * c);
        }
        PV_UNROLL
        for (int r = 0; r < PV_RB; r++) {
            const __m512 p = _mm512_set1_ps(pr[r][i]);
            PV_UNROLL
            for (int c = 0; c < PV_NC; c++) acc[r][c] = _mm512_fmadd_ps(p, x[c], acc[r][c]);
        }
    }
    PV_UNROLL
    for (int r = 0; r < PV_RB; r++)
        PV_UNROLL
        for (int c = 0; c < PV_NC; c++) _mm512_mask_storeu_ps(o[r] + 16 * c, m[c], acc[r][c]);
}

/* f32 / f16 rows (v at the head's first element). */
static void pv_float(const float *p, size_t ldp, int R, const void *v, size_t vstride, int f16, int n, int hd,
                     float *out, size_t ldo) {
    float sink[PV_NC * 16];
    memset(sink, 0, sizeof(sink));
    for (int d0 = 0; d0 < hd; d0 += 16 * PV_NC) {
        __mmask16 m[PV_NC];
        for (int c = 0; c < PV_NC; c++) {
            int left = hd - d0 - 16 * c;
            m[c] = left >= 16 ? (__mmask16)0xffff : left <= 0 ? (__mmask16)0 : (__mmask16)((1u << left) - 1);
        }
        for (int r0 = 0; r0 < R; r0 += PV_RB) {
            const float *pr[PV_RB];
            float *o[PV_RB];
            for (int r = 0; r < PV_RB; r++) {
                const int live = r0 + r < R;
                pr[r] = p + (size_t)(live ? r0 + r : r0) * ldp;
                o[r] = live ? out + (size_t)(r0 + r) * ldo + d0 : sink;
            }
            pv_group(pr, o, v, vstride, f16, n, d0, m);
        }
    }
}

static void pv_avx512(const float *p, size_t ldp, int R, const void *v, size_t vstride, int fmt, int e0, int n,
                      int hd, float *out, size_t ldo) {
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

const pg_attn_kernels pg_attn_kernels_avx512 = {qk_avx512, pv_avx512};
