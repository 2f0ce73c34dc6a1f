/* attn_ref.c - scalar reference of the attention kernels (tensor/attn.h).
 *
 * Written as the literal definition of the float order: one fmaf chain per
 * score over d ascending, one fmaf chain per output element over keys
 * ascending. The SIMD levels must reproduce these bits exactly; fmaf is the
 * single-rounded fused multiply-add of C99, so no contraction flag matters. */
#include "tensor/dispatch.h"

#include "tensor/fp16.h"

#include <math.h>
#include <stdint.h>

static float elem(const void *row, int f16, int d) {
    return f16 ? pg_fp16_to_fp32(((const uint16_t *)row)[d]) : ((const float *)row)[d];
}

static void qk_ref(const float *qt, int R, int hd, const void *k, size_t kstride, int f16, int n, float scale,
                   float *s, size_t lds) {
    for (int i = 0; i < n; i++) {
        const void *ki = (const char *)k + (size_t)i * kstride;
        for (int r = 0; r < R; r++) {
            float acc = 0.0f;
            for (int d = 0; d < hd; d++) acc = fmaf(qt[(size_t)d * PG_ATTN_RT + r], elem(ki, f16, d), acc);
            s[(size_t)r * lds + i] = acc * scale;
        }
    }
}

static void pv_ref(const float *p, size_t ldp, int R, const void *v, size_t vstride, int f16, int n, int hd,
                   float *out, size_t ldo) {
    for (int i = 0; i < n; i++) {
        const void *vi = (const char *)v + (size_t)i * vstride;
        for (int r = 0; r < R; r++) {
            const float pr = p[(size_t)r * ldp + i];
            float *o = out + (size_t)r * ldo;
            for (int d = 0; d < hd; d++) o[d] = fmaf(pr, elem(vi, f16, d), o[d]);
        }
    }
}

const pg_attn_kernels pg_attn_kernels_ref = {qk_ref, pv_ref};
