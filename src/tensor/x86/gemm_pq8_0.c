/* gemm_pq8_0.c - packing for the Q8_0 repacked-panel kernel (layouts in
 * x86/gemm_pq8_0.h). Runs once per weight row at load and once per
 * activation row per matmul, so plain C; the quantizer is the current
 * level's from_float. The weight bytes are moved, never changed. */
#include "tensor/x86/gemm_pq8_0.h"

#include "tensor/blocks.h"
#include "tensor/fp16.h"
#include "tensor/types.h"

#include <string.h>

size_t pg_pq8_0_act_size(int64_t K) { return ((size_t)(K / 32) * 36 + 63) / 64 * 64; }

void pg_pq8_0_act_pack(const float *x, int64_t K, void *dst) {
    const pg_type_traits *t = pg_type_get(PG_TYPE_Q8_0);
    const int nb = (int)(K / 32);
    uint8_t *o = dst;
    for (int b0 = 0; b0 < nb; b0 += 16) {
        block_q8_0 q[16];
        const int n = nb - b0 < 16 ? nb - b0 : 16;
        t->from_float(x + (size_t)b0 * 32, q, (int64_t)n * 32);
        for (int i = 0; i < n; i++) {
            const int b = b0 + i;
            const float d = pg_fp16_to_fp32(q[i].d);
            memcpy(o + (size_t)32 * b, q[i].qs, 32);
            memcpy(o + (size_t)nb * 32 + (size_t)4 * b, &d, 4);
        }
    }
    const size_t used = (size_t)nb * 36;
    memset(o + used, 0, pg_pq8_0_act_size(K) - used);
}

int pg_pq8_0_wpack_ok(int64_t K) { return K > 0 && K % 32 == 0 && K / 32 <= (1 << 24); }

void pg_pq8_0_wpack(const void *src, size_t ld, int64_t K, int n, void *dst) {
    const int nb = (int)(K / 32);
    uint8_t *o = dst;
    for (int r = 0; r < n; r++) {
        const block_q8_0 *row = (const block_q8_0 *)((const uint8_t *)src + (size_t)r * ld);
        for (int b = 0; b < nb; b++) {
            for (int k = 0; k < 8; k++)
                memcpy(o + pg_pq8_0_q(n, b) + (size_t)4 * n * k + 4 * r, row[b].qs + 4 * k, 4);
            memcpy(o + pg_pq8_0_d(n, nb, b) + 2 * r, &row[b].d, 2);
        }
    }
}
