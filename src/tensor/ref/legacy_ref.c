/* legacy_ref.c - scalar reference kernels for the 32-element quant types
 * Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q8_1 (activation format) and IQ4_NL.
 *
 * Layouts (tensor/blocks.h) are ggml's. In every 4/5-bit block byte j of qs
 * holds element j in its low nibble and element j+16 in its high nibble; the
 * 5th bit of element k is bit k of the little-endian 32-bit qh. Values:
 *   Q4_0: d*(q-8)   Q4_1: d*q + m   Q5_0: d*(q-16)   Q5_1: d*q + m
 *   Q8_0/Q8_1: d*q (Q8_1 also keeps s = fp16(d*sum q))  IQ4_NL: d*table[q]
 * The quantizers follow ggml's reference ones (round to nearest from the
 * unrounded scale; the scale is stored as fp16). Casts from float go through
 * clamps, so NaN/inf input gives garbage blocks, never undefined behaviour.
 *
 * vec_dot: per block an exact int32 sum of products, then one float scale
 * (dw*dx) and a float accumulator over blocks in order. Q4_1/Q5_1 add the
 * min term m*s with Q8_1's s field. The SIMD files must match the formats
 * exactly; they may differ in float summation order. */
#include "tensor/blocks.h"
#include "tensor/fp16.h"
#include "tensor/dispatch.h"

#include <float.h>
#include <math.h>
#include <string.h>


#define F16(h) pg_fp16_to_fp32(h)

/* (int)v for v expected in [0, hi] (ggml truncates v = x + 0.5 offsets);
 * clamped, NaN -> 0. */
static inline int trunc_clamp(float v, int hi) {
    if (!(v > 0.0f)) return 0;
    if (v >= (float)hi) return hi;
    return (int)v;
}

/* roundf(v) clamped to [-127, 127]; NaN -> 0. */
static inline int round_i8(float v) {
    if (!(v > -127.0f)) return v != v ? 0 : -127;
    if (v > 127.0f) return 127;
    return (int)roundf(v);
}

static inline uint32_t load_qh(const uint8_t qh[4]) {
    return (uint32_t)qh[0] | (uint32_t)qh[1] << 8 | (uint32_t)qh[2] << 16 | (uint32_t)qh[3] << 24;
}

static inline void store_qh(uint8_t qh[4], uint32_t v) {
    for (int k = 0; k < 4; k++) qh[k] = (uint8_t)(v >> (8 * k));
}

/* Abs-max element of a block with its sign (first one on ties). */
static inline float signed_absmax(const float *x, int n) {
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < n; j++) {
        float a = fabsf(x[j]);
        if (amax < a) { amax = a; max = x[j]; }
    }
    return max;
}

static inline void min_max(const float *x, int n, float *mn, float *mx) {
    float lo = FLT_MAX, hi = -FLT_MAX;
    for (int j = 0; j < n; j++) {
        if (x[j] < lo) lo = x[j];
        if (x[j] > hi) hi = x[j];
    }
    *mn = lo;
    *mx = hi;
}

/* ---- Q4_0 ---- */

static void q4_0_to_float(const void *src, float *y, int64_t n) {
    const block_q4_0 *b = src;
    for (int64_t i = 0; i < n / QK4_0; i++, y += QK4_0) {
        float d = F16(b[i].d);
        for (int j = 0; j < 16; j++) {
            y[j] = (float)((b[i].qs[j] & 0x0f) - 8) * d;
            y[j + 16] = (float)((b[i].qs[j] >> 4) - 8) * d;
        }
    }
}

static void q4_0_from_float(const float *x, void *dst, int64_t n) {
    block_q4_0 *b = dst;
    for (int64_t i = 0; i < n / QK4_0; i++, x += QK4_0) {
        float d = signed_absmax(x, QK4_0) / -8.0f;
        float id = d != 0.0f ? 1.0f / d : 0.0f;
        b[i].d = pg_fp32_to_fp16(d);
        for (int j = 0; j < 16; j++) {
            int lo = trunc_clamp(x[j] * id + 8.5f, 15), hi = trunc_clamp(x[j + 16] * id + 8.5f, 15);
            b[i].qs[j] = (uint8_t)(lo | hi << 4);
        }
    }
}

static void q4_0_vec_dot(int n, float *s, const void *wv, const void *xv) {
    const block_q4_0 *w = wv;
    const block_q8_0 *x = xv;
    float sum = 0.0f;
    for (int i = 0; i < n / QK4_0; i++) {
        int sumi = 0;
        for (int j = 0; j < 16; j++)
            sumi += ((w[i].qs[j] & 0x0f) - 8) * x[i].qs[j] + ((w[i].qs[j] >> 4) - 8) * x[i].qs[j + 16];
        sum += (float)sumi * (F16(w[i].d) * F16(x[i].d));
    }
    *s = sum;
}

/* ---- Q4_1 ---- */

static void q4_1_to_float(const void *src, float *y, int64_t n) {
    const block_q4_1 *b = src;
    for (int64_t i = 0; i < n / QK4_1; i++, y += QK4_1) {
        float d = F16(b[i].d), m = F16(b[i].m);
        for (int j = 0; j < 16; j++) {
            y[j] = (float)(b[i].qs[j] & 0x0f) * d + m;
            y[j + 16] = (float)(b[i].qs[j] >> 4) * d + m;
        }
    }
}

static void q4_1_from_float(const float *x, void *dst, int64_t n) {
    block_q4_1 *b = dst;
    for (int64_t i = 0; i < n / QK4_1; i++, x += QK4_1) {
        float mn, mx;
        min_max(x, QK4_1, &mn, &mx);
        float d = (mx - mn) / 15.0f;
        float id = d != 0.0f ? 1.0f / d : 0.0f;
        b[i].d = pg_fp32_to_fp16(d);
        b[i].m = pg_fp32_to_fp16(mn);
        for (int j = 0; j < 16; j++) {
            int lo = trunc_clamp((x[j] - mn) * id + 0.5f, 15), hi = trunc_clamp((x[j + 16] - mn) * id + 0.5f, 15);
            b[i].qs[j] = (uint8_t)(lo | hi << 4);
        }
    }
}

static void q4_1_vec_dot(int n, float *s, const void *wv, const void *xv) {
    const block_q4_1 *w = wv;
    const block_q8_1 *x = xv;
    float sum = 0.0f;
    for (int i = 0; i < n / QK4_1; i++) {
        int sumi = 0;
        for (int j = 0; j < 16; j++)
            sumi += (w[i].qs[j] & 0x0f) * x[i].qs[j] + (w[i].qs[j] >> 4) * x[i].qs[j + 16];
        sum += (float)sumi * (F16(w[i].d) * F16(x[i].d)) + F16(w[i].m) * F16(x[i].s);
    }
    *s = sum;
}

/* ---- Q5_0 ---- */

static void q5_0_to_float(const void *src, float *y, int64_t n) {
    const block_q5_0 *b = src;
    for (int64_t i = 0; i < n / QK5_0; i++, y += QK5_0) {
        float d = F16(b[i].d);
        uint32_t qh = load_qh(b[i].qh);
        for (int j = 0; j < 16; j++) {
            int lo = (b[i].qs[j] & 0x0f) | (int)((qh >> j) & 1) << 4;
            int hi = (b[i].qs[j] >> 4) | (int)((qh >> (j + 16)) & 1) << 4;
            y[j] = (float)(lo - 16) * d;
            y[j + 16] = (float)(hi - 16) * d;
        }
    }
}

static void q5_0_from_float(const float *x, void *dst, int64_t n) {
    block_q5_0 *b = dst;
    for (int64_t i = 0; i < n / QK5_0; i++, x += QK5_0) {
        float d = signed_absmax(x, QK5_0) / -16.0f;
        float id = d != 0.0f ? 1.0f / d : 0.0f;
        b[i].d = pg_fp32_to_fp16(d);
        uint32_t qh = 0;
        for (int j = 0; j < 16; j++) {
            int lo = trunc_clamp(x[j] * id + 16.5f, 31), hi = trunc_clamp(x[j + 16] * id + 16.5f, 31);
            b[i].qs[j] = (uint8_t)((lo & 0x0f) | (hi & 0x0f) << 4);
            qh |= (uint32_t)(lo >> 4) << j | (uint32_t)(hi >> 4) << (j + 16);
        }
        store_qh(b[i].qh, qh);
    }
}

static void q5_0_vec_dot(int n, float *s, const void *wv, const void *xv) {
    const block_q5_0 *w = wv;
    const block_q8_0 *x = xv;
    float sum = 0.0f;
    for (int i = 0; i < n / QK5_0; i++) {
        uint32_t qh = load_qh(w[i].qh);
        int sumi = 0;
        for (int j = 0; j < 16; j++) {
            int lo = (w[i].qs[j] & 0x0f) | (int)((qh >> j) & 1) << 4;
            int hi = (w[i].qs[j] >> 4) | (int)((qh >> (j + 16)) & 1) << 4;
            sumi += (lo - 16) * x[i].qs[j] + (hi - 16) * x[i].qs[j + 16];
        }
        sum += (float)sumi * (F16(w[i].d) * F16(x[i].d));
    }
    *s = sum;
}

/* ---- Q5_1 ---- */

static void q5_1_to_float(const void *src, float *y, int64_t n) {
    const block_q5_1 *b = src;
    for (int64_t i = 0; i < n / QK5_1; i++, y += QK5_1) {
        float d = F16(b[i].d), m = F16(b[i].m);
        uint32_t qh = load_qh(b[i].qh);
        for (int j = 0; j < 16; j++) {
            int lo = (b[i].qs[j] & 0x0f) | (int)((qh >> j) & 1) << 4;
            int hi = (b[i].qs[j] >> 4) | (int)((qh >> (j + 16)) & 1) << 4;
            y[j] = (float)lo * d + m;
            y[j + 16] = (float)hi * d + m;
        }
    }
}

static void q5_1_from_float(const float *x, void *dst, int64_t n) {
    block_q5_1 *b = dst;
    for (int64_t i = 0; i < n / QK5_1; i++, x += QK5_1) {
        float mn, mx;
        min_max(x, QK5_1, &mn, &mx);
        float d = (mx - mn) / 31.0f;
        float id = d != 0.0f ? 1.0f / d : 0.0f;
        b[i].d = pg_fp32_to_fp16(d);
        b[i].m = pg_fp32_to_fp16(mn);
        uint32_t qh = 0;
        for (int j = 0; j < 16; j++) {
            int lo = trunc_clamp((x[j] - mn) * id + 0.5f, 31), hi = trunc_clamp((x[j + 16] - mn) * id + 0.5f, 31);
            b[i].qs[j] = (uint8_t)((lo & 0x0f) | (hi & 0x0f) << 4);
            qh |= (uint32_t)(lo >> 4) << j | (uint32_t)(hi >> 4) << (j + 16);
        }
        store_qh(b[i].qh, qh);
    }
}

static void q5_1_vec_dot(int n, float *s, const void *wv, const void *xv) {
    const block_q5_1 *w = wv;
    const block_q8_1 *x = xv;
    float sum = 0.0f;
    for (int i = 0; i < n / QK5_1; i++) {
        uint32_t qh = load_qh(w[i].qh);
        int sumi = 0;
        for (int j = 0; j < 16; j++) {
            int lo = (w[i].qs[j] & 0x0f) | (int)((qh >> j) & 1) << 4;
            int hi = (w[i].qs[j] >> 4) | (int)((qh >> (j + 16)) & 1) << 4;
            sumi += lo * x[i].qs[j] + hi * x[i].qs[j + 16];
        }
        sum += (float)sumi * (F16(w[i].d) * F16(x[i].d)) + F16(w[i].m) * F16(x[i].s);
    }
    *s = sum;
}

/* ---- Q8_0 / Q8_1 ---- */

static void q8_0_to_float(const void *src, float *y, int64_t n) {
    const block_q8_0 *b = src;
    for (int64_t i = 0; i < n / QK8_0; i++, y += QK8_0) {
        float d = F16(b[i].d);
        for (int j = 0; j < QK8_0; j++) y[j] = (float)b[i].qs[j] * d;
    }
}

/* Shared by Q8_0 and Q8_1: fills qs, returns the unrounded scale d and the
 * sum of the quants. */
static inline float q8_block(const float *x, int8_t *qs, int *sum) {
    float amax = 0.0f;
    for (int j = 0; j < 32; j++) {
        float a = fabsf(x[j]);
        if (amax < a) amax = a;
    }
    float d = amax / 127.0f;
    float id = d != 0.0f ? 1.0f / d : 0.0f;
    int s = 0;
    for (int j = 0; j < 32; j++) {
        int q = round_i8(x[j] * id);
        qs[j] = (int8_t)q;
        s += q;
    }
    *sum = s;
    return d;
}

static void q8_0_from_float(const float *x, void *dst, int64_t n) {
    block_q8_0 *b = dst;
    for (int64_t i = 0; i < n / QK8_0; i++, x += QK8_0) {
        int sum;
        b[i].d = pg_fp32_to_fp16(q8_block(x, b[i].qs, &sum));
    }
}

static void q8_0_vec_dot(int n, float *s, const void *wv, const void *xv) {
    const block_q8_0 *w = wv;
    const block_q8_0 *x = xv;
    float sum = 0.0f;
    for (int i = 0; i < n / QK8_0; i++) {
        int sumi = 0;
        for (int j = 0; j < QK8_0; j++) sumi += w[i].qs[j] * x[i].qs[j];
        sum += (float)sumi * (F16(w[i].d) * F16(x[i].d));
    }
    *s = sum;
}

static void q8_1_to_float(const void *src, float *y, int64_t n) {
    const block_q8_1 *b = src;
    for (int64_t i = 0; i < n / QK8_1; i++, y += QK8_1) {
        float d = F16(b[i].d);
        for (int j = 0; j < QK8_1; j++) y[j] = (float)b[i].qs[j] * d;
    }
}

static void q8_1_from_float(const float *x, void *dst, int64_t n) {
    block_q8_1 *b = dst;
    for (int64_t i = 0; i < n / QK8_1; i++, x += QK8_1) {
        int sum;
        float d = q8_block(x, b[i].qs, &sum);
        b[i].d = pg_fp32_to_fp16(d);
        b[i].s = pg_fp32_to_fp16((float)sum * d);
    }
}

/* ---- IQ4_NL ---- */

static void iq4_nl_to_float(const void *src, float *y, int64_t n) {
    const block_iq4_nl *b = src;
    for (int64_t i = 0; i < n / QK4_NL; i++, y += QK4_NL) {
        float d = F16(b[i].d);
        for (int j = 0; j < 16; j++) {
            y[j] = (float)pg_iq4nl_values[b[i].qs[j] & 0x0f] * d;
            y[j + 16] = (float)pg_iq4nl_values[b[i].qs[j] >> 4] * d;
        }
    }
}

/* Index of the table level nearest v (the lower one on ties; NaN -> 0). */
static int iq4nl_nearest(float v) {
    int best = 0;
    float bd = fabsf(v - (float)pg_iq4nl_values[0]);
    for (int k = 1; k < 16; k++) {
        float dk = fabsf(v - (float)pg_iq4nl_values[k]);
        if (dk < bd) { bd = dk; best = k; }
    }
    return best;
}

/* Simple search: map the abs-max element near either end of the table
 * (denominators -127+t and 113+t, |t| <= 10), take the nearest levels, fit the
 * least-squares scale for those levels, keep the best fit. Then snap the
 * levels again to the stored (fp16) scale. Used for tests, not on hot paths. */
static void iq4_nl_block(const float *x, block_iq4_nl *b) {
    float max = signed_absmax(x, QK4_NL);
    float best_d = 0.0f, best_score = -1.0f;
    if (max != 0.0f) {
        for (int side = 0; side < 2; side++) {
            for (int t = -10; t <= 10; t++) {
                float den = (float)(side ? 113 + t : -127 + t);
                float id = den / max;
                double sxv = 0, svv = 0;
                for (int j = 0; j < QK4_NL; j++) {
                    double v = pg_iq4nl_values[iq4nl_nearest(x[j] * id)];
                    sxv += x[j] * v;
                    svv += v * v;
                }
                if (svv <= 0) continue;
                double score = sxv * sxv / svv; /* error = sum x^2 - score */
                if (score > best_score) {
                    best_score = (float)score;
                    best_d = (float)(sxv / svv);
                }
            }
        }
    }
    b->d = pg_fp32_to_fp16(best_d);
    float d = F16(b->d);
    float id = d != 0.0f ? 1.0f / d : 0.0f;
    for (int j = 0; j < 16; j++) {
        int lo = d != 0.0f ? iq4nl_nearest(x[j] * id) : 8, hi = d != 0.0f ? iq4nl_nearest(x[j + 16] * id) : 8;
        b->qs[j] = (uint8_t)(lo | hi << 4);
    }
}

static void iq4_nl_from_float(const float *x, void *dst, int64_t n) {
    block_iq4_nl *b = dst;
    for (int64_t i = 0; i < n / QK4_NL; i++) iq4_nl_block(x + i * QK4_NL, &b[i]);
}

static void iq4_nl_vec_dot(int n, float *s, const void *wv, const void *xv) {
    const block_iq4_nl *w = wv;
    const block_q8_0 *x = xv;
    float sum = 0.0f;
    for (int i = 0; i < n / QK4_NL; i++) {
        int sumi = 0;
        for (int j = 0; j < 16; j++)
            sumi += pg_iq4nl_values[w[i].qs[j] & 0x0f] * x[i].qs[j] + pg_iq4nl_values[w[i].qs[j] >> 4] * x[i].qs[j + 16];
        sum += (float)sumi * (F16(w[i].d) * F16(x[i].d));
    }
    *s = sum;
}

const pg_type_kernels pg_types_legacy_ref[PG_TYPE_COUNT] = {
    [PG_TYPE_Q4_0] = {q4_0_to_float, q4_0_from_float, q4_0_vec_dot},
    [PG_TYPE_Q4_1] = {q4_1_to_float, q4_1_from_float, q4_1_vec_dot},
    [PG_TYPE_Q5_0] = {q5_0_to_float, q5_0_from_float, q5_0_vec_dot},
    [PG_TYPE_Q5_1] = {q5_1_to_float, q5_1_from_float, q5_1_vec_dot},
    [PG_TYPE_Q8_0] = {q8_0_to_float, q8_0_from_float, q8_0_vec_dot},
    [PG_TYPE_Q8_1] = {q8_1_to_float, q8_1_from_float, NULL},
    [PG_TYPE_IQ4_NL] = {iq4_nl_to_float, iq4_nl_from_float, iq4_nl_vec_dot},
};
