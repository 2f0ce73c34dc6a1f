/* attn_ref.c - scalar reference of the attention kernels (tensor/attn.h).
 *
 * Written as the literal definition of the float order: one fmaf chain per
 * score over d ascending, one fmaf chain per output element over keys
 * ascending, each K/V value read through pg_attn_elem (f32, f16, or the
 * exact dequantization d * q of a q8_0 / q4_0 block). The SIMD levels must
 * reproduce these bits exactly; fmaf is the single-rounded fused
 * multiply-add of C99, so no contraction flag matters. */
#include "tensor/dispatch.h"

#include <math.h>
#include <stdint.h>

static void qk_ref(const float *qt, int R, int hd, const void *k, size_t kstride, int fmt, int e0, int n, float scale,
                   float *s, size_t lds) {
    for (int i = 0; i < n; i++) {
        const void *ki = (const char *)k + (size_t)i * kstride;
        for (int r = 0; r < R; r++) {
            float acc = 0.0f;
            for (int d = 0; d < hd; d++)
                acc = fmaf(qt[(size_t)d * PG_ATTN_RT + r], pg_attn_elem(fmt, ki, (size_t)e0 + (size_t)d), acc);
            s[(size_t)r * lds + i] = acc * scale;
        }
    }
}

static void pv_ref(const float *p, size_t ldp, int R, const void *v, size_t vstride, int fmt, int e0, int n, int hd,
                   float *out, size_t ldo) {
    for (int i = 0; i < n; i++) {
        const void *vi = (const char *)v + (size_t)i * vstride;
        for (int r = 0; r < R; r++) {
            const float pr = p[(size_t)r * ldp + i];
            float *o = out + (size_t)r * ldo;
            for (int d = 0; d < hd; d++) o[d] = fmaf(pr, pg_attn_elem(fmt, vi, (size_t)e0 + (size_t)d), o[d]);
        }
    }
}

const pg_attn_kernels pg_attn_kernels_ref = {qk_ref, pv_ref};
