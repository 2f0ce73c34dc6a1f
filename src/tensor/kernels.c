/* kernels.c - scalar float helpers and their per-level dispatch table.
 *
 * The scalar versions are the reference: plain C, no FMA (the build runs in
 * ISO C mode, so the compiler does not contract a*b+c). pg_dot_f32 keeps 8
 * partial sums (lane k takes elements i with i % 8 == k over the multiple-of-8
 * prefix), adds them in a fixed tree, then adds the tail in order: the order
 * is a function of n only. SIMD tables come from x86/legacy_avx2.c and
 * x86/legacy_avx512.c. */
#include "tensor/kernels.h"

#include "tensor/fp16.h"

#if defined(__x86_64__)
#include "tensor/x86/legacy_simd.h"
#endif

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

static const pg_float_kernels k_scalar = {dot_scalar, axpy_scalar, fp16_to_fp32_scalar, fp32_to_fp16_scalar};

const pg_float_kernels *pg_float_kernels_get(pg_cpu_level level) {
#if defined(__x86_64__)
    if (level >= PG_CPU_AVX512) return &pg_float_kernels_avx512;
    if (level == PG_CPU_AVX2) return &pg_float_kernels_avx2;
#endif
    (void)level;
    return &k_scalar;
}

void pg_fp16_to_fp32_row(const uint16_t *src, float *dst, int64_t n) {
    pg_float_kernels_get(pg_cpu_level_get())->fp16_to_fp32(src, dst, n);
}

void pg_fp32_to_fp16_row(const float *src, uint16_t *dst, int64_t n) {
    pg_float_kernels_get(pg_cpu_level_get())->fp32_to_fp16(src, dst, n);
}

float pg_dot_f32(const float *a, const float *b, int n) {
    return pg_float_kernels_get(pg_cpu_level_get())->dot(a, b, n);
}

void pg_axpy_f32(float *y, float a, const float *x, int n) {
    pg_float_kernels_get(pg_cpu_level_get())->axpy(y, a, x, n);
}
