/* kernels.h - float helpers with CPU dispatch, shared by the type kernels and
 * the model (attention): fp16 row conversion, f32 dot and axpy.
 *
 * Every function exists at each dispatch level (base/cpu.h). The plain
 * entry points use the current level (pg_cpu_level_get()); tests compare
 * levels through pg_float_kernels_get(). Within one level, results depend
 * only on the inputs: the reduction order of pg_dot_f32 is a fixed function
 * of n (never of alignment, thread or caller). Levels may differ from each
 * other in float rounding (FMA, lane-wise partial sums); the fp16 row
 * conversions are bit-exact across levels for non-NaN values. */
#ifndef PG_TENSOR_KERNELS_H
#define PG_TENSOR_KERNELS_H

#include "base/cpu.h"

#include <stdint.h>

typedef float (*pg_dot_f32_fn)(const float *a, const float *b, int n);
typedef void (*pg_axpy_f32_fn)(float *y, float a, const float *x, int n);
typedef void (*pg_fp16_to_fp32_row_fn)(const uint16_t *src, float *dst, int64_t n);
typedef void (*pg_fp32_to_fp16_row_fn)(const float *src, uint16_t *dst, int64_t n);

typedef struct pg_float_kernels {
    pg_dot_f32_fn dot;                  /* sum_i a[i]*b[i] */
    pg_axpy_f32_fn axpy;                /* y[i] += a*x[i] */
    pg_fp16_to_fp32_row_fn fp16_to_fp32;
    pg_fp32_to_fp16_row_fn fp32_to_fp16; /* round to nearest even */
} pg_float_kernels;

/* The kernels of one level (capped at what this build has; never NULL). */
const pg_float_kernels *pg_float_kernels_get(pg_cpu_level level);

void pg_fp32_to_fp16_row(const float *src, uint16_t *dst, int64_t n);
float pg_dot_f32(const float *a, const float *b, int n);

#endif
