/* kquants_ref.c - scalar reference kernels for the 256-element K-quants:
 * Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, IQ4_XS (weights) and Q8_K (activations).
 *
 * Design: each weight block is first decoded into plain integers, one
 * value per element (unsigned, with the format's constant offset kept
 * apart: Q3_K's -4 and Q6_K's -32 are applied through Q8_K's bsums) and one
 * integer scale (and min) per sub-block. to_float and vec_dot both work from
 * that decoding, so a layout fact lives in exactly one place. vec_dot sums
 * integer products exactly within a block and applies the float scales once
 * per block in block order (kquants_ref.h), which the SIMD files reproduce
 * bit for bit.
 *
 * Quantizers: Q8_K follows ggml's reference exactly (it quantizes every
 * activation row). The weight quantizers are simple and correct (per
 * sub-block min/max or signed abs-max, no search); they serve tests and the
 * optional quantize tool, not bit-compatibility with ggml's quantizer. */
#include "tensor/ref/kquants_ref.h"

#include "base/error.h"
#include "tensor/dispatch.h"

#include <math.h>

/* ---------------------------------------------------------------- decode */

/* Element e of a Q2_K / Q3_K block: e = 128*h + 32*k + l (h < 2, k < 4,
 * l < 32) sits in byte 32*h + l at bit 2*k; sub-block = e / 16. */
static void decode_q2_bits(const uint8_t *qs, uint8_t *u) {
    for (int h = 0; h < 2; h++)
        for (int k = 0; k < 4; k++)
            for (int l = 0; l < 32; l++) u[128 * h + 32 * k + l] = (qs[32 * h + l] >> (2 * k)) & 3;
}

static void decode_q2_K(const block_q2_K *b, uint8_t u[QK_K], int sc[16], int m[16]) {
    decode_q2_bits(b->qs, u);
    for (int j = 0; j < 16; j++) {
        sc[j] = b->scales[j] & 0x0f;
        m[j] = b->scales[j] >> 4;
    }
}

/* Q3_K value = u - 4 with u = low2 | hbit << 2 in [0, 7]; the hmask bit of
 * element 128*h + 32*k + l is bit 4*h + k of hmask[l]. */
static void decode_q3_K(const block_q3_K *b, uint8_t u[QK_K], int sc[16]) {
    decode_q2_bits(b->qs, u);
    for (int h = 0; h < 2; h++)
        for (int k = 0; k < 4; k++)
            for (int l = 0; l < 32; l++)
                u[128 * h + 32 * k + l] |= (uint8_t)(((b->hmask[l] >> (4 * h + k)) & 1) << 2);
    int8_t s8[16];
    pg_kq_unpack_scales_q3(b->scales, s8);
    for (int j = 0; j < 16; j++) sc[j] = s8[j];
}

/* Q4_K: chunk c (64 elements) uses qs[32c .. 32c+31]: low nibbles are
 * elements 64c + l, high nibbles 64c + 32 + l; sub-block = e / 32. */
static void decode_q4_K(const block_q4_K *b, uint8_t u[QK_K], int sc[8], int m[8]) {
    for (int c = 0; c < 4; c++)
        for (int l = 0; l < 32; l++) {
            u[64 * c + l] = b->qs[32 * c + l] & 0x0f;
            u[64 * c + 32 + l] = b->qs[32 * c + l] >> 4;
        }
    uint8_t s8[8], m8[8];
    pg_kq_unpack_scale_min_k4(b->scales, s8, m8);
    for (int j = 0; j < 8; j++) {
        sc[j] = s8[j];
        m[j] = m8[j];
    }
}

/* Q5_K: as Q4_K plus a fifth bit: element 32*j + l takes bit j of qh[l]. */
static void decode_q5_K(const block_q5_K *b, uint8_t u[QK_K], int sc[8], int m[8]) {
    for (int c = 0; c < 4; c++)
        for (int l = 0; l < 32; l++) {
            u[64 * c + l] = (uint8_t)((b->qs[32 * c + l] & 0x0f) | (((b->qh[l] >> (2 * c)) & 1) << 4));
            u[64 * c + 32 + l] =
                (uint8_t)((b->qs[32 * c + l] >> 4) | (((b->qh[l] >> (2 * c + 1)) & 1) << 4));
        }
    uint8_t s8[8], m8[8];
    pg_kq_unpack_scale_min_k4(b->scales, s8, m8);
    for (int j = 0; j < 8; j++) {
        sc[j] = s8[j];
        m[j] = m8[j];
    }
}

/* Q6_K value = u - 32, u in [0, 63]. Half h (128 elements) uses ql[64h..],
 * qh[32h..]; for l < 32: element l = ql[l] low | qh[l] bits 0-1, l+32 =
 * ql[l+32] low | bits 2-3, l+64 = ql[l] high | bits 4-5, l+96 = ql[l+32]
 * high | bits 6-7. Sub-block = e / 16, scale = int8. */
static void decode_q6_K(const block_q6_K *b, uint8_t u[QK_K], int sc[16]) {
    for (int h = 0; h < 2; h++) {
        const uint8_t *ql = b->ql + 64 * h, *qh = b->qh + 32 * h;
        uint8_t *o = u + 128 * h;
        for (int l = 0; l < 32; l++) {
            o[l] = (uint8_t)((ql[l] & 0x0f) | ((qh[l] & 3) << 4));
            o[l + 32] = (uint8_t)((ql[l + 32] & 0x0f) | (((qh[l] >> 2) & 3) << 4));
            o[l + 64] = (uint8_t)((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4));
            o[l + 96] = (uint8_t)((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4));
        }
    }
    for (int j = 0; j < 16; j++) sc[j] = b->scales[j];
}

/* IQ4_XS: sub-block ib (32 elements) uses qs[16ib .. 16ib+15]: low nibbles
 * are elements 32ib + l, high nibbles 32ib + 16 + l; values via the table. */
static void decode_iq4_xs(const block_iq4_xs *b, int8_t v[QK_K], int sc[8]) {
    for (int ib = 0; ib < 8; ib++) {
        for (int l = 0; l < 16; l++) {
            v[32 * ib + l] = pg_iq4nl_values[b->qs[16 * ib + l] & 0x0f];
            v[32 * ib + 16 + l] = pg_iq4nl_values[b->qs[16 * ib + l] >> 4];
        }
        sc[ib] = pg_kq_iq4xs_scale(b, ib);
    }
}

/* -------------------------------------------------------------- to_float */

static void q2_K_to_float(const void *src, float *dst, int64_t n) {
    const block_q2_K *b = src;
    uint8_t u[QK_K];
    int sc[16], m[16];
    for (int64_t i = 0; i < n / QK_K; i++, dst += QK_K) {
        decode_q2_K(&b[i], u, sc, m);
        float d = pg_fp16_to_fp32(b[i].d), dmin = pg_fp16_to_fp32(b[i].dmin);
        for (int j = 0; j < 16; j++) {
            float dl = d * (float)sc[j], ml = dmin * (float)m[j];
            for (int l = 0; l < 16; l++) dst[16 * j + l] = dl * (float)u[16 * j + l] - ml;
        }
    }
}

static void q3_K_to_float(const void *src, float *dst, int64_t n) {
    const block_q3_K *b = src;
    uint8_t u[QK_K];
    int sc[16];
    for (int64_t i = 0; i < n / QK_K; i++, dst += QK_K) {
        decode_q3_K(&b[i], u, sc);
        float d = pg_fp16_to_fp32(b[i].d);
        for (int j = 0; j < 16; j++) {
            float dl = d * (float)sc[j];
            for (int l = 0; l < 16; l++) dst[16 * j + l] = dl * (float)((int)u[16 * j + l] - 4);
        }
    }
}

static void q4_K_to_float(const void *src, float *dst, int64_t n) {
    const block_q4_K *b = src;
    uint8_t u[QK_K];
    int sc[8], m[8];
    for (int64_t i = 0; i < n / QK_K; i++, dst += QK_K) {
        decode_q4_K(&b[i], u, sc, m);
        float d = pg_fp16_to_fp32(b[i].d), dmin = pg_fp16_to_fp32(b[i].dmin);
        for (int j = 0; j < 8; j++) {
            float dl = d * (float)sc[j], ml = dmin * (float)m[j];
            for (int l = 0; l < 32; l++) dst[32 * j + l] = dl * (float)u[32 * j + l] - ml;
        }
    }
}

static void q5_K_to_float(const void *src, float *dst, int64_t n) {
    const block_q5_K *b = src;
    uint8_t u[QK_K];
    int sc[8], m[8];
    for (int64_t i = 0; i < n / QK_K; i++, dst += QK_K) {
        decode_q5_K(&b[i], u, sc, m);
        float d = pg_fp16_to_fp32(b[i].d), dmin = pg_fp16_to_fp32(b[i].dmin);
        for (int j = 0; j < 8; j++) {
            float dl = d * (float)sc[j], ml = dmin * (float)m[j];
            for (int l = 0; l < 32; l++) dst[32 * j + l] = dl * (float)u[32 * j + l] - ml;
        }
    }
}

static void q6_K_to_float(const void *src, float *dst, int64_t n) {
    const block_q6_K *b = src;
    uint8_t u[QK_K];
    int sc[16];
    for (int64_t i = 0; i < n / QK_K; i++, dst += QK_K) {
        decode_q6_K(&b[i], u, sc);
        float d = pg_fp16_to_fp32(b[i].d);
        for (int j = 0; j < 16; j++) {
            float dl = d * (float)sc[j];
            for (int l = 0; l < 16; l++) dst[16 * j + l] = dl * (float)((int)u[16 * j + l] - 32);
        }
    }
}

static void iq4_xs_to_float(const void *src, float *dst, int64_t n) {
    const block_iq4_xs *b = src;
    int8_t v[QK_K];
    int sc[8];
    for (int64_t i = 0; i < n / QK_K; i++, dst += QK_K) {
        decode_iq4_xs(&b[i], v, sc);
        float d = pg_fp16_to_fp32(b[i].d);
        for (int j = 0; j < 8; j++) {
            float dl = d * (float)sc[j];
            for (int l = 0; l < 32; l++) dst[32 * j + l] = dl * (float)v[32 * j + l];
        }
    }
}

static void q8_K_to_float(const void *src, float *dst, int64_t n) {
    const block_q8_K *b = src;
    for (int64_t i = 0; i < n / QK_K; i++, dst += QK_K)
        for (int l = 0; l < QK_K; l++) dst[l] = b[i].d * (float)b[i].qs[l];
}

/* ------------------------------------------------------------ from_float */

/* Q8_K: the reference rule of kquants_ref.h, block by block. */
static void q8_K_from_float(const float *x, void *dst, int64_t n) {
    block_q8_K *y = dst;
    for (int64_t i = 0; i < n / QK_K; i++) pg_kq_q8_K_block(x + i * QK_K, &y[i]);
}

static int clampi(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

/* Asymmetric sub-blocks (Q2_K, Q4_K, Q5_K): x ~ d*sc*u - dmin*m with
 * u in [0, qmax], sc and m in [0, smax]. Per sub-block the range
 * [min(0, lo), hi] is covered; the block scales d, dmin are the largest
 * sub-block scale / min over smax, rounded to fp16 before use. */
static void quantize_asym(const float *x, int nsub, int len, int qmax, int smax, uint16_t *d16,
                          uint16_t *dmin16, int *sc, int *m, uint8_t *u) {
    float scale[16], mins[16], maxs = 0, maxm = 0;
    for (int j = 0; j < nsub; j++) {
        float lo = 0, hi = x[j * len];
        for (int l = 0; l < len; l++) {
            float v = x[j * len + l];
            if (v < lo) lo = v;
            if (v > hi) hi = v;
        }
        if (hi < lo) hi = lo;
        scale[j] = (hi - lo) / (float)qmax;
        mins[j] = -lo;
        if (scale[j] > maxs) maxs = scale[j];
        if (mins[j] > maxm) maxm = mins[j];
    }
    *d16 = pg_fp32_to_fp16(maxs / (float)smax);
    *dmin16 = pg_fp32_to_fp16(maxm / (float)smax);
    float d = pg_fp16_to_fp32(*d16), dmin = pg_fp16_to_fp32(*dmin16);
    for (int j = 0; j < nsub; j++) {
        sc[j] = d > 0 ? clampi(pg_kq_nearest_int(scale[j] / d), 0, smax) : 0;
        m[j] = dmin > 0 ? clampi(pg_kq_nearest_int(mins[j] / dmin), 0, smax) : 0;
        float dl = d * (float)sc[j], ml = dmin * (float)m[j];
        for (int l = 0; l < len; l++) {
            int q = dl > 0 ? pg_kq_nearest_int((x[j * len + l] + ml) / dl) : 0;
            u[j * len + l] = (uint8_t)clampi(q, 0, qmax);
        }
    }
}

/* Symmetric sub-blocks (Q3_K, Q6_K, IQ4_XS): the signed element of largest
 * magnitude maps to -qneg; the sub-block scale of largest magnitude maps to
 * -sneg (scales in [-sneg, sneg-1]). Fills the fp16 d, the integer scales
 * and the per-element target x / (d*sc) (0 for a zero scale). */
static void quantize_sym(const float *x, int nsub, int len, float qneg, int sneg, uint16_t *d16,
                         int *sc, float *t) {
    float s[16], smax = 0, sabs = 0;
    for (int j = 0; j < nsub; j++) {
        float amax = 0, vmax = 0;
        for (int l = 0; l < len; l++) {
            float a = fabsf(x[j * len + l]);
            if (a > amax) {
                amax = a;
                vmax = x[j * len + l];
            }
        }
        s[j] = -vmax / qneg;
        if (fabsf(s[j]) > sabs) {
            sabs = fabsf(s[j]);
            smax = s[j];
        }
    }
    *d16 = pg_fp32_to_fp16(-smax / (float)sneg);
    float d = pg_fp16_to_fp32(*d16);
    for (int j = 0; j < nsub; j++) {
        sc[j] = d != 0 ? clampi(pg_kq_nearest_int(s[j] / d), -sneg, sneg - 1) : 0;
        float dl = d * (float)sc[j];
        for (int l = 0; l < len; l++) t[j * len + l] = dl != 0 ? x[j * len + l] / dl : 0;
    }
}

static void q2_bits_pack(const uint8_t *u, uint8_t *qs) {
    memset(qs, 0, QK_K / 4);
    for (int h = 0; h < 2; h++)
        for (int k = 0; k < 4; k++)
            for (int l = 0; l < 32; l++) qs[32 * h + l] |= (uint8_t)((u[128 * h + 32 * k + l] & 3) << (2 * k));
}

static void q2_K_from_float(const float *x, void *dst, int64_t n) {
    block_q2_K *y = dst;
    uint8_t u[QK_K];
    int sc[16], m[16];
    for (int64_t i = 0; i < n / QK_K; i++, x += QK_K) {
        quantize_asym(x, 16, 16, 3, 15, &y[i].d, &y[i].dmin, sc, m, u);
        for (int j = 0; j < 16; j++) y[i].scales[j] = (uint8_t)(sc[j] | (m[j] << 4));
        q2_bits_pack(u, y[i].qs);
    }
}

static void q3_K_from_float(const float *x, void *dst, int64_t n) {
    block_q3_K *y = dst;
    uint8_t u[QK_K];
    int sc[16];
    float t[QK_K];
    for (int64_t i = 0; i < n / QK_K; i++, x += QK_K) {
        quantize_sym(x, 16, 16, 4.f, 32, &y[i].d, sc, t);
        for (int e = 0; e < QK_K; e++) u[e] = (uint8_t)(clampi(pg_kq_nearest_int(t[e]), -4, 3) + 4);
        q2_bits_pack(u, y[i].qs);
        memset(y[i].hmask, 0, sizeof(y[i].hmask));
        for (int h = 0; h < 2; h++)
            for (int k = 0; k < 4; k++)
                for (int l = 0; l < 32; l++)
                    y[i].hmask[l] |= (uint8_t)((u[128 * h + 32 * k + l] >> 2) << (4 * h + k));
        memset(y[i].scales, 0, sizeof(y[i].scales));
        for (int j = 0; j < 16; j++) {
            int v = sc[j] + 32; /* 6 bits */
            if (j < 8)
                y[i].scales[j] |= (uint8_t)(v & 0x0f);
            else
                y[i].scales[j - 8] |= (uint8_t)((v & 0x0f) << 4);
            y[i].scales[8 + (j & 3)] |= (uint8_t)((v >> 4) << (2 * (j >> 2)));
        }
    }
}

static void pack_scale_min_k4(const int *sc, const int *m, uint8_t *q) {
    for (int j = 0; j < 4; j++) {
        q[j] = (uint8_t)(sc[j] | ((sc[j + 4] >> 4) << 6));
        q[j + 4] = (uint8_t)(m[j] | ((m[j + 4] >> 4) << 6));
        q[j + 8] = (uint8_t)((sc[j + 4] & 0x0f) | ((m[j + 4] & 0x0f) << 4));
    }
}

static void q4_K_from_float(const float *x, void *dst, int64_t n) {
    block_q4_K *y = dst;
    uint8_t u[QK_K];
    int sc[8], m[8];
    for (int64_t i = 0; i < n / QK_K; i++, x += QK_K) {
        quantize_asym(x, 8, 32, 15, 63, &y[i].d, &y[i].dmin, sc, m, u);
        pack_scale_min_k4(sc, m, y[i].scales);
        for (int c = 0; c < 4; c++)
            for (int l = 0; l < 32; l++)
                y[i].qs[32 * c + l] = (uint8_t)(u[64 * c + l] | (u[64 * c + 32 + l] << 4));
    }
}

static void q5_K_from_float(const float *x, void *dst, int64_t n) {
    block_q5_K *y = dst;
    uint8_t u[QK_K];
    int sc[8], m[8];
    for (int64_t i = 0; i < n / QK_K; i++, x += QK_K) {
        quantize_asym(x, 8, 32, 31, 63, &y[i].d, &y[i].dmin, sc, m, u);
        pack_scale_min_k4(sc, m, y[i].scales);
        memset(y[i].qh, 0, sizeof(y[i].qh));
        for (int c = 0; c < 4; c++)
            for (int l = 0; l < 32; l++) {
                uint8_t a = u[64 * c + l], b = u[64 * c + 32 + l];
                y[i].qs[32 * c + l] = (uint8_t)((a & 0x0f) | ((b & 0x0f) << 4));
                y[i].qh[l] |= (uint8_t)(((a >> 4) << (2 * c)) | ((b >> 4) << (2 * c + 1)));
            }
    }
}

static void q6_K_from_float(const float *x, void *dst, int64_t n) {
    block_q6_K *y = dst;
    uint8_t u[QK_K];
    int sc[16];
    float t[QK_K];
    for (int64_t i = 0; i < n / QK_K; i++, x += QK_K) {
        quantize_sym(x, 16, 16, 32.f, 128, &y[i].d, sc, t);
        for (int e = 0; e < QK_K; e++) u[e] = (uint8_t)(clampi(pg_kq_nearest_int(t[e]), -32, 31) + 32);
        for (int j = 0; j < 16; j++) y[i].scales[j] = (int8_t)sc[j];
        for (int h = 0; h < 2; h++) {
            uint8_t *ql = y[i].ql + 64 * h, *qh = y[i].qh + 32 * h;
            const uint8_t *o = u + 128 * h;
            for (int l = 0; l < 32; l++) {
                ql[l] = (uint8_t)((o[l] & 0x0f) | ((o[l + 64] & 0x0f) << 4));
                ql[l + 32] = (uint8_t)((o[l + 32] & 0x0f) | ((o[l + 96] & 0x0f) << 4));
                qh[l] = (uint8_t)((o[l] >> 4) | ((o[l + 32] >> 4) << 2) | ((o[l + 64] >> 4) << 4) |
                                  ((o[l + 96] >> 4) << 6));
            }
        }
    }
}

static int iq4_nearest(float t) {
    int best = 0;
    float bd = fabsf(t - pg_iq4nl_values[0]);
    for (int k = 1; k < 16; k++) {
        float dd = fabsf(t - pg_iq4nl_values[k]);
        if (dd < bd) {
            bd = dd;
            best = k;
        }
    }
    return best;
}

static void iq4_xs_from_float(const float *x, void *dst, int64_t n) {
    block_iq4_xs *y = dst;
    int sc[8];
    float t[QK_K];
    for (int64_t i = 0; i < n / QK_K; i++, x += QK_K) {
        quantize_sym(x, 8, 32, 127.f, 32, &y[i].d, sc, t);
        y[i].scales_h = 0;
        memset(y[i].scales_l, 0, sizeof(y[i].scales_l));
        for (int ib = 0; ib < 8; ib++) {
            int v = sc[ib] + 32;
            y[i].scales_l[ib / 2] |= (uint8_t)((v & 0x0f) << (4 * (ib % 2)));
            y[i].scales_h |= (uint16_t)((v >> 4) << (2 * ib));
            for (int l = 0; l < 16; l++) {
                int lo = sc[ib] ? iq4_nearest(t[32 * ib + l]) : 8;
                int hi = sc[ib] ? iq4_nearest(t[32 * ib + 16 + l]) : 8;
                y[i].qs[16 * ib + l] = (uint8_t)(lo | (hi << 4));
            }
        }
    }
}

/* --------------------------------------------------------------- vec_dot */

/* sum over 16-element group g of u[e] * q8[e] */
static int32_t dot16(const uint8_t *u, const int8_t *q8) {
    int32_t s = 0;
    for (int l = 0; l < 16; l++) s += (int32_t)u[l] * q8[l];
    return s;
}

static void q2_K_vec_dot(int n, float *s, const void *w, const void *x) {
    PG_ASSERT(n % QK_K == 0);
    const block_q2_K *b = w;
    const block_q8_K *y = x;
    uint8_t u[QK_K];
    int sc[16], m[16];
    float acc = 0;
    for (int i = 0; i < n / QK_K; i++) {
        decode_q2_K(&b[i], u, sc, m);
        int32_t sumi = 0, summ = 0;
        for (int j = 0; j < 16; j++) {
            sumi += sc[j] * dot16(u + 16 * j, y[i].qs + 16 * j);
            summ += m[j] * y[i].bsums[j];
        }
        acc = pg_kq_acc2(acc, pg_fp16_to_fp32(b[i].d), pg_fp16_to_fp32(b[i].dmin), y[i].d, sumi, summ);
    }
    *s = acc;
}

static void q3_K_vec_dot(int n, float *s, const void *w, const void *x) {
    PG_ASSERT(n % QK_K == 0);
    const block_q3_K *b = w;
    const block_q8_K *y = x;
    uint8_t u[QK_K];
    int sc[16];
    float acc = 0;
    for (int i = 0; i < n / QK_K; i++) {
        decode_q3_K(&b[i], u, sc);
        int32_t sumi = 0;
        for (int j = 0; j < 16; j++)
            sumi += sc[j] * (dot16(u + 16 * j, y[i].qs + 16 * j) - 4 * y[i].bsums[j]);
        acc = pg_kq_acc1(acc, pg_fp16_to_fp32(b[i].d), y[i].d, sumi);
    }
    *s = acc;
}

static void q4_K_vec_dot(int n, float *s, const void *w, const void *x) {
    PG_ASSERT(n % QK_K == 0);
    const block_q4_K *b = w;
    const block_q8_K *y = x;
    uint8_t u[QK_K];
    int sc[8], m[8];
    float acc = 0;
    for (int i = 0; i < n / QK_K; i++) {
        decode_q4_K(&b[i], u, sc, m);
        int32_t sumi = 0, summ = 0;
        for (int j = 0; j < 8; j++) {
            sumi += sc[j] * (dot16(u + 32 * j, y[i].qs + 32 * j) + dot16(u + 32 * j + 16, y[i].qs + 32 * j + 16));
            summ += m[j] * (y[i].bsums[2 * j] + y[i].bsums[2 * j + 1]);
        }
        acc = pg_kq_acc2(acc, pg_fp16_to_fp32(b[i].d), pg_fp16_to_fp32(b[i].dmin), y[i].d, sumi, summ);
    }
    *s = acc;
}

static void q5_K_vec_dot(int n, float *s, const void *w, const void *x) {
    PG_ASSERT(n % QK_K == 0);
    const block_q5_K *b = w;
    const block_q8_K *y = x;
    uint8_t u[QK_K];
    int sc[8], m[8];
    float acc = 0;
    for (int i = 0; i < n / QK_K; i++) {
        decode_q5_K(&b[i], u, sc, m);
        int32_t sumi = 0, summ = 0;
        for (int j = 0; j < 8; j++) {
            sumi += sc[j] * (dot16(u + 32 * j, y[i].qs + 32 * j) + dot16(u + 32 * j + 16, y[i].qs + 32 * j + 16));
            summ += m[j] * (y[i].bsums[2 * j] + y[i].bsums[2 * j + 1]);
        }
        acc = pg_kq_acc2(acc, pg_fp16_to_fp32(b[i].d), pg_fp16_to_fp32(b[i].dmin), y[i].d, sumi, summ);
    }
    *s = acc;
}

static void q6_K_vec_dot(int n, float *s, const void *w, const void *x) {
    PG_ASSERT(n % QK_K == 0);
    const block_q6_K *b = w;
    const block_q8_K *y = x;
    uint8_t u[QK_K];
    int sc[16];
    float acc = 0;
    for (int i = 0; i < n / QK_K; i++) {
        decode_q6_K(&b[i], u, sc);
        int32_t sumi = 0;
        for (int j = 0; j < 16; j++)
            sumi += sc[j] * (dot16(u + 16 * j, y[i].qs + 16 * j) - 32 * y[i].bsums[j]);
        acc = pg_kq_acc1(acc, pg_fp16_to_fp32(b[i].d), y[i].d, sumi);
    }
    *s = acc;
}

static void iq4_xs_vec_dot(int n, float *s, const void *w, const void *x) {
    PG_ASSERT(n % QK_K == 0);
    const block_iq4_xs *b = w;
    const block_q8_K *y = x;
    int8_t v[QK_K];
    int sc[8];
    float acc = 0;
    for (int i = 0; i < n / QK_K; i++) {
        decode_iq4_xs(&b[i], v, sc);
        int32_t sumi = 0;
        for (int j = 0; j < 8; j++) {
            int32_t t = 0;
            for (int l = 0; l < 32; l++) t += (int32_t)v[32 * j + l] * y[i].qs[32 * j + l];
            sumi += sc[j] * t;
        }
        acc = pg_kq_acc1(acc, pg_fp16_to_fp32(b[i].d), y[i].d, sumi);
    }
    *s = acc;
}

const pg_type_kernels pg_types_kquants_ref[PG_TYPE_COUNT] = {
    [PG_TYPE_Q2_K] = {q2_K_to_float, q2_K_from_float, q2_K_vec_dot},
    [PG_TYPE_Q3_K] = {q3_K_to_float, q3_K_from_float, q3_K_vec_dot},
    [PG_TYPE_Q4_K] = {q4_K_to_float, q4_K_from_float, q4_K_vec_dot},
    [PG_TYPE_Q5_K] = {q5_K_to_float, q5_K_from_float, q5_K_vec_dot},
    [PG_TYPE_Q6_K] = {q6_K_to_float, q6_K_from_float, q6_K_vec_dot},
    [PG_TYPE_Q8_K] = {q8_K_to_float, q8_K_from_float, NULL},
    [PG_TYPE_IQ4_XS] = {iq4_xs_to_float, iq4_xs_from_float, iq4_xs_vec_dot},
};
