/* kquants_ref.h - helpers shared by the scalar and the x86 K-quant kernels
 * (Q2_K..Q6_K, Q8_K, IQ4_XS; 256-element super-blocks, see tensor/blocks.h).
 *
 * Everything here is static inline so that each kernel file (compiled with
 * its own ISA flags) gets its own copy. The per-block float epilogues live
 * here too: every level reduces a block to exact integers and then applies
 * the very same float operations in the same order, so all levels return
 * bit-identical dot products (the files are compiled as ISO C, where gcc
 * does not contract a*b+c into an FMA). */
#ifndef PG_TENSOR_REF_KQUANTS_REF_H
#define PG_TENSOR_REF_KQUANTS_REF_H

#include "tensor/blocks.h"
#include "tensor/fp16.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

/* Round to nearest, ties to even, for |f| < 2^22 (ggml's nearest_int). */
static inline int pg_kq_nearest_int(float f) {
    float v = f + 12582912.f; /* 1.5 * 2^23: the mantissa then holds the integer */
    uint32_t u;
    memcpy(&u, &v, 4);
    return (int)(u & 0x007fffff) - 0x00400000;
}

/* Q4_K / Q5_K: 8 six-bit scales and 8 six-bit mins packed in 12 bytes.
 * Bytes 0..3 hold sc[0..3] (low 6 bits) and the top 2 bits of sc[4..7];
 * bytes 4..7 hold m[0..3] and the top 2 bits of m[4..7]; bytes 8..11 hold
 * the low nibbles of sc[4..7] (low) and m[4..7] (high). */
static inline void pg_kq_unpack_scale_min_k4(const uint8_t *q, uint8_t sc[8], uint8_t m[8]) {
    for (int j = 0; j < 4; j++) {
        sc[j] = q[j] & 63;
        m[j] = q[j + 4] & 63;
        sc[j + 4] = (uint8_t)((q[j + 8] & 0x0f) | ((q[j] >> 6) << 4));
        m[j + 4] = (uint8_t)((q[j + 8] >> 4) | ((q[j + 4] >> 6) << 4));
    }
}

/* Q3_K: 16 six-bit scales (stored +32) in 12 bytes. Low nibble of scale i
 * is byte i (i < 8) or the high nibble of byte i-8; its top 2 bits are bits
 * 2*(i/4) of byte 8 + i%4. Returns signed scales in [-32, 31]. */
static inline void pg_kq_unpack_scales_q3(const uint8_t *q, int8_t sc[16]) {
    for (int i = 0; i < 16; i++) {
        int lo = i < 8 ? (q[i] & 0x0f) : (q[i - 8] >> 4);
        int hi = (q[8 + (i & 3)] >> (2 * (i >> 2))) & 3;
        sc[i] = (int8_t)((lo | (hi << 4)) - 32);
    }
}

/* IQ4_XS: scale of sub-block ib (0..7), six bits stored +32. */
static inline int pg_kq_iq4xs_scale(const block_iq4_xs *b, int ib) {
    int lo = (b->scales_l[ib / 2] >> (4 * (ib % 2))) & 0x0f;
    int hi = (b->scales_h >> (2 * ib)) & 3;
    return (lo | (hi << 4)) - 32;
}

/* Q8_K, one block, exactly as ggml's reference: max = the signed element of
 * largest magnitude (the first on ties; NaNs never win), iscale = -127/max,
 * q = nearest_int(iscale*x) capped at 127, d = 1/iscale, bsums = sums of
 * 16-element groups. An all-zero block gets d = 0 and zero quants and sums
 * (ggml leaves its bsums unwritten). */
static inline void pg_kq_q8_K_block(const float *x, block_q8_K *y) {
    float amax = 0, max = 0;
    for (int l = 0; l < QK_K; l++) {
        float ax = fabsf(x[l]);
        if (ax > amax) {
            amax = ax;
            max = x[l];
        }
    }
    if (amax == 0) {
        memset(y, 0, sizeof(*y));
        return;
    }
    float iscale = -127.f / max;
    for (int l = 0; l < QK_K; l++) {
        int v = pg_kq_nearest_int(iscale * x[l]);
        y->qs[l] = (int8_t)(v < 127 ? v : 127);
    }
    for (int j = 0; j < QK_K / 16; j++) {
        int t = 0;
        for (int l = 0; l < 16; l++) t += y->qs[16 * j + l];
        y->bsums[j] = (int16_t)t;
    }
    y->d = 1 / iscale;
}

/* Block epilogues: acc += d*yd*sumi (- dmin*yd*summ), d and dmin already
 * widened from fp16 (exactly, by any means). Always called in block order
 * with a single float accumulator. */
static inline float pg_kq_acc1(float acc, float d, float yd, int32_t sumi) {
    float dd = d * yd;
    return acc + dd * (float)sumi;
}
static inline float pg_kq_acc2(float acc, float d, float dmin, float yd, int32_t sumi, int32_t summ) {
    float dd = d * yd;
    float dm = dmin * yd;
    float t = dd * (float)sumi - dm * (float)summ;
    return acc + t;
}

#endif
