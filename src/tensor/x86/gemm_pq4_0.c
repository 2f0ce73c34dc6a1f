/* gemm_pq4_0.c - packing for the Q4_0 repacked-panel kernels (layouts in
 * x86/gemm_pq4_0.h). Runs once per weight row at load and once per
 * activation row per matmul, so plain C. */
#include "tensor/x86/gemm_pq4_0.h"
#include "tensor/x86/gemm_pq8_0.h"

#include "tensor/blocks.h"

#include <string.h>

size_t pg_pq4_0_act_size(int64_t K) { return ((size_t)(K / 32) * 44 + 63) / 64 * 64; }

/* The Q8_0 packed row (quants at 32b, d at 32nb: x86/gemm_pq8_0.h) with
 * the offset fields after it. */
void pg_pq4_0_act_pack(const float *x, int64_t K, void *dst) {
    const int nb = (int)(K / 32);
    uint8_t *o = dst;
    pg_pq8_0_act_pack(x, K, dst);
    for (int b = 0; b < nb; b++) {
        const int8_t *q = (const int8_t *)(o + (size_t)32 * b);
        int32_t s = 0;
        for (int e = 0; e < 32; e++) s += q[e];
        s *= -8;
        float d;
        memcpy(&d, o + (size_t)nb * 32 + (size_t)4 * b, 4);
        memcpy(o + (size_t)nb * 36 + (size_t)4 * b, &s, 4);
        const float ds = d * (float)s;
        memcpy(o + (size_t)nb * 40 + (size_t)4 * b, &ds, 4);
    }
    const size_t used = (size_t)nb * 44;
    memset(o + used, 0, pg_pq4_0_act_size(K) - used);
}

int pg_pq4_0_wpack_ok(int64_t K) { return K > 0 && K % 32 == 0 && K / 32 <= (1 << 24); }

void pg_pq4_0_wpack(const void *src, size_t ld, int64_t K, int n, void *dst) {
    const int nb = (int)(K / 32);
    uint8_t *o = dst;
    for (int r = 0; r < n; r++) {
        const block_q4_0 *row = (const block_q4_0 *)((const uint8_t *)src + (size_t)r * ld);
        for (int b = 0; b < nb; b++) {
            for (int k = 0; k < 4; k++)
                memcpy(o + pg_pq4_0_q(n, b) + (size_t)4 * n * k + 4 * r, row[b].qs + 4 * k, 4);
            memcpy(o + pg_pq4_0_d(n, nb, b) + 2 * r, &row[b].d, 2);
        }
    }
}
