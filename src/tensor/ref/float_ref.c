/* float_ref.c - scalar reference kernels for the float weight types F32, F16
 * and BF16 (vec_dot_type F32: float weights dot f32 activations).
 *
 * vec_dot keeps 8 partial sums like pg_dot_f32's scalar version (lane k takes
 * i % 8 == k over the multiple-of-8 prefix), combines them in a fixed tree and
 * adds the tail in order, so the result depends on n and the data only. */
#include "tensor/dispatch.h"

#include "tensor/fp16.h"

#include <string.h>

/* ---- the scalar float helpers (tensor/kernels.h) ----
 * Plain C, no FMA (the build runs in ISO C mode, so the compiler does not
 * contract a*b+c). dot keeps 8 partial sums (lane k takes elements i with
 * i % 8 == k over the multiple-of-8 prefix), adds them in a fixed tree, then
 * adds the tail in order: the order is a function of n only. */

static float dot_scalar(const float *a, const float *b, int n) {
    float acc[8] = {0};
    int i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++) acc[k] += a[i + k] * b[i + k];
    float s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
    for (; i < n; i++) s += a[i] * b[i];
    return s;
}

static void axpy_scalar(float *y, float a, const float *x, int n) {
    for (int i = 0; i < n; i++) y[i] += a * x[i];
}

static void fp16_to_fp32_scalar(const uint16_t *src, float *dst, int64_t n) {
    for (int64_t i = 0; i < n; i++) dst[i] = pg_fp16_to_fp32(src[i]);
}

static void fp32_to_fp16_scalar(const float *src, uint16_t *dst, int64_t n) {
    for (int64_t i = 0; i < n; i++) dst[i] = pg_fp32_to_fp16(src[i]);
}

const pg_float_kernels pg_float_kernels_ref = {dot_scalar, axpy_scalar, fp16_to_fp32_scalar, fp32_to_fp16_scalar};

/* ---- F32 / F16 / BF16 weights ---- */

static void f32_to_float(const void *src, float *dst, int64_t n) { memcpy(dst, src, (size_t)n * sizeof(float)); }
static void f32_from_float(const float *src, void *dst, int64_t n) { memcpy(dst, src, (size_t)n * sizeof(float)); }
static void f32_vec_dot(int n, float *s, const void *w, const void *x) {
    *s = dot_scalar(w, x, n);
}

static void f16_to_float(const void *src, float *dst, int64_t n) {
    fp16_to_fp32_scalar(src, dst, n);
}
static void f16_from_float(const float *src, void *dst, int64_t n) {
    fp32_to_fp16_scalar(src, dst, n);
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

const pg_type_kernels pg_types_float_ref[PG_TYPE_COUNT] = {
    [PG_TYPE_F32] = {f32_to_float, f32_from_float, f32_vec_dot},
    [PG_TYPE_F16] = {f16_to_float, f16_from_float, f16_vec_dot},
    [PG_TYPE_BF16] = {bf16_to_float, bf16_from_float, bf16_vec_dot},
};
