/* ops.h - the non-matmul kernels of the forward pass, with a scalar
 * reference and run-time dispatched fast variants sharing the signatures.
 *
 * Batch invariance contract: every kernel computes each output row from
 * that row's inputs alone, with a reduction order that depends only on the
 * row length (never on how many rows are processed or by which thread). */
#ifndef PG_TENSOR_OPS_H
#define PG_TENSOR_OPS_H

#include "base/cpu.h"

#include <stdint.h>

enum { PG_ROPE_NORM = 0, PG_ROPE_NEOX = 2 };

typedef struct pg_ops {
    /* y = x / sqrt(mean(x^2) + eps) * w   (w may be NULL: no scale) */
    void (*rmsnorm)(float *y, const float *x, const float *w, int n, float eps);
    /* In-place softmax of x[0..n); returns nothing. */
    void (*softmax)(float *x, int n);
    /* g[i] = silu(g[i]) * u[i] */
    void (*swiglu)(float *g, const float *u, int n);
    /* g[i] = gelu_tanh(g[i]) * u[i] */
    void (*geglu)(float *g, const float *u, int n);
} pg_ops;

/* The row ops of the current level / of a level (capped at the CPU's).
 * Dot and axpy are the float helpers of tensor/kernels.h. */
const pg_ops *pg_ops_get(void);
const pg_ops *pg_ops_get_level(pg_cpu_level level);

/* Rotary embedding of one head vector x[0..head_dim) in place at position
 * pos. n_rot dims are rotated (<= head_dim). mode NORM rotates adjacent
 * pairs (2i, 2i+1); NEOX rotates (i, i + n_rot/2). freq_factors (NULL or
 * n_rot/2 values) divide theta per pair (Llama 3 / LongRoPE). theta for pair i
 * = pos * freq_scale * base^(-2i/n_rot), computed as ggml does (iterated
 * product in float) so results match the reference engine. attn_factor
 * scales cos/sin (LongRoPE's magnitude correction; 1 otherwise). */
void pg_rope(float *x, int head_dim, int n_rot, int32_t pos, float base, float freq_scale,
             const float *freq_factors, float attn_factor, int mode);
/* pg_rope in two halves, for callers that rotate many heads of one position:
 * pg_rope_table fills cs[2i] = cos, cs[2i + 1] = sin (n_rot floats) with
 * exactly the values pg_rope uses, and pg_rope_apply rotates x with them;
 * table + apply is bit-identical to pg_rope. */
void pg_rope_table(float *cs, int n_rot, int32_t pos, float base, float freq_scale, const float *freq_factors,
                   float attn_factor);
void pg_rope_apply(float *x, int n_rot, const float *cs, int mode);

/* Scalar references used outside the ops table (the others are reached
 * through pg_ops_get_level(PG_CPU_SCALAR)). */
void pg_softmax_ref(float *x, int n);
float pg_dot_ref(const float *a, const float *b, int n);
void pg_axpy_ref(float *y, float a, const float *x, int n);

#endif
