/* ops_ref.c - scalar reference kernels of ops.h (the scalar level's table;
 * the levels are picked in ops.c through dispatch.h).
 * References use plain left-to-right float loops with double accumulation
 * where a long reduction would otherwise lose precision (rmsnorm). */
#include "tensor/ops.h"

#include "base/error.h"
#include "tensor/dispatch.h"

#include <math.h>

static void rmsnorm_ref(float *y, const float *x, const float *w, int n, float eps) {
    double ss = 0;
    for (int i = 0; i < n; i++) ss += (double)x[i] * x[i];
    float scale = (float)(1.0 / sqrt(ss / n + eps));
    if (w)
        for (int i = 0; i < n; i++) y[i] = x[i] * scale * w[i];
    else
        for (int i = 0; i < n; i++) y[i] = x[i] * scale;
}

void pg_softmax_ref(float *x, int n) {
    float mx = -INFINITY;
    for (int i = 0; i < n; i++)
        if (x[i] > mx) mx = x[i];
    double sum = 0;
    for (int i = 0; i < n; i++) {
        x[i] = expf(x[i] - mx);
        sum += x[i];
    }
    float inv = (float)(1.0 / sum);
    for (int i = 0; i < n; i++) x[i] *= inv;
}

float pg_dot_ref(const float *a, const float *b, int n) {
    float s = 0;
    for (int i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

void pg_axpy_ref(float *y, float a, const float *x, int n) {
    for (int i = 0; i < n; i++) y[i] += a * x[i];
}

static void swiglu_ref(float *g, const float *u, int n) {
    for (int i = 0; i < n; i++) {
        float v = g[i];
        g[i] = v / (1.0f + expf(-v)) * u[i];
    }
}

static void geglu_ref(float *g, const float *u, int n) {
    const float c = 0.7978845608028654f; /* sqrt(2/pi) */
    for (int i = 0; i < n; i++) {
        float v = g[i];
        g[i] = 0.5f * v * (1.0f + tanhf(c * (v + 0.044715f * v * v * v))) * u[i];
    }
}

void pg_rope_table(float *cs, int n_rot, int32_t pos, float base, float freq_scale, const float *freq_factors,
                   float attn_factor) {
    const float theta_scale = powf(base, -2.0f / (float)n_rot);
    float theta = (float)pos;
    for (int i = 0; i < n_rot / 2; i++) {
        float ff = freq_factors ? freq_factors[i] : 1.0f;
        float t = theta / ff * freq_scale;
        cs[2 * i] = cosf(t) * attn_factor;
        cs[2 * i + 1] = sinf(t) * attn_factor;
        theta *= theta_scale;
    }
}

void pg_rope_apply(float *x, int n_rot, const float *cs, int mode) {
    const int half = n_rot / 2;
    for (int i = 0; i < half; i++) {
        const float c = cs[2 * i], s = cs[2 * i + 1];
        const int a = mode == PG_ROPE_NEOX ? i : 2 * i, b = mode == PG_ROPE_NEOX ? i + half : 2 * i + 1;
        float x0 = x[a], x1 = x[b];
        x[a] = x0 * c - x1 * s;
        x[b] = x0 * s + x1 * c;
    }
}

void pg_rope(float *x, int head_dim, int n_rot, int32_t pos, float base, float freq_scale,
             const float *freq_factors, float attn_factor, int mode) {
    (void)head_dim;
    float cs[2 * 512];
    PG_ASSERT(n_rot <= 1024);
    pg_rope_table(cs, n_rot, pos, base, freq_scale, freq_factors, attn_factor);
    pg_rope_apply(x, n_rot, cs, mode);
}

const pg_ops pg_ops_ref = {rmsnorm_ref, pg_softmax_ref, swiglu_ref, geglu_ref};
