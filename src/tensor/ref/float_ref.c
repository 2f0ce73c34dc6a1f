/* float_ref.c - scalar reference kernels for the float weight types F32, F16
 * and BF16 (vec_dot_type F32: float weights dot f32 activations).
 *
 * vec_dot keeps 8 partial sums like pg_dot_f32's scalar version (lane k takes
 * i % 8 == k over the multiple-of-8 prefix), combines them in a fixed tree and
 * adds the tail in order, so the result depends on n and the data only. */
#include "tensor/kernels.h"
#include "tensor/types.h"

#include "tensor/fp16.h"

#include <string.h>

void pg_kernels_register_float(void);

static void f32_to_float(const void *src, float *dst, int64_t n) { memcpy(dst, src, (size_t)n * sizeof(float)); }
static void f32_from_float(const float *src, void *dst, int64_t n) { memcpy(dst, src, (size_t)n * sizeof(float)); }
static void f32_vec_dot(int n, float *s, const void *w, const void *x) {
    *s = pg_float_kernels_get(PG_CPU_SCALAR)->dot(w, x, n);
}

static void f16_to_float(const void *src, float *dst, int64_t n) {
    pg_float_kernels_get(PG_CPU_SCALAR)->fp16_to_fp32(src, dst, n);
}
static void f16_from_float(const float *src, void *dst, int64_t n) {
    pg_float_kernels_get(PG_CPU_SCALAR)->fp32_to_fp16(src, dst, n);
}

/* One body for both 16-bit float types: CONV turns a uint16 into a float. */
#define DOT16(name, CONV)                                                                    \
    static void name(int n, float *s, const void *wv, const void *xv) {                      \
        const uint16_t *w = wv;                                                              \
        const float *x = xv;                                                                 \
        float acc[8] = {0};                                                                  \
        int i = 0;                                                                           \
        for (; i + 8 <= n; i += 8)                                                           \
            for (int k = 0; k < 8; k++) acc[k] += CONV(w[i + k]) * x[i + k];                 \
        float r = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7])); \
        for (; i < n; i++) r += CONV(w[i]) * x[i];                                           \
        *s = r;                                                                              \
    }
DOT16(f16_vec_dot, pg_fp16_to_fp32)
DOT16(bf16_vec_dot, pg_bf16_to_fp32)

static void bf16_to_float(const void *src, float *dst, int64_t n) {
    const uint16_t *h = src;
    for (int64_t i = 0; i < n; i++) dst[i] = pg_bf16_to_fp32(h[i]);
}
static void bf16_from_float(const float *src, void *dst, int64_t n) {
    uint16_t *h = dst;
    for (int64_t i = 0; i < n; i++) h[i] = pg_fp32_to_bf16(src[i]);
}

void pg_kernels_register_float(void) {
    pg_type_register(PG_TYPE_F32, PG_CPU_SCALAR, f32_to_float, f32_from_float, f32_vec_dot);
    pg_type_register(PG_TYPE_F16, PG_CPU_SCALAR, f16_to_float, f16_from_float, f16_vec_dot);
    pg_type_register(PG_TYPE_BF16, PG_CPU_SCALAR, bf16_to_float, bf16_from_float, bf16_vec_dot);
}
