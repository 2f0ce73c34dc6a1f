/* gemm_pq4_K.c - packing for the q4_K repacked-panel kernels (layouts in
 * x86/gemm_pq4_K.h). Runs once per weight row at load and once per
 * activation row per matmul, so plain C; the quantizer is the current
 * level's from_float. */
#include "tensor/x86/gemm_pq4_K.h"

#include "tensor/blocks.h"
#include "tensor/types.h"

#include <string.h>

size_t pg_pq4_K_act_size(int64_t K) { return ((size_t)(K / QK_K) * 276 + 63) / 64 * 64; }

void pg_pq4_K_act_pack(const float *x, int64_t K, void *dst) {
    const pg_type_traits *t = pg_type_get(PG_TYPE_Q8_K);
    const int nsb = (int)(K / QK_K);
    uint8_t *o = dst;
    for (int b = 0; b < nsb; b++) {
        block_q8_K q;
        t->from_float(x + (size_t)b * QK_K, &q, QK_K);
        memcpy(o + (size_t)256 * b, q.qs, 256);
        memcpy(o + (size_t)nsb * 256 + (size_t)4 * b, &q.d, 4);
        int16_t bs[8];
        for (int s = 0; s < 8; s++) {
            int v = 0;
            for (int e = 0; e < 32; e++) v += q.qs[32 * s + e];
            bs[s] = (int16_t)v;
        }
        memcpy(o + (size_t)nsb * 260 + (size_t)16 * b, bs, 16);
    }
    const size_t used = (size_t)nsb * 276;
    memset(o + used, 0, pg_pq4_K_act_size(K) - used);
}

int pg_pq4_K_wpack_ok(int64_t K) { return K > 0 && K % QK_K == 0 && K / QK_K <= (1 << 20); }

void pg_pq4_K_wpack(const void *src, size_t ld, int64_t K, int n, void *dst) {
    const int nsb = (int)(K / QK_K);
    const size_t vb = (size_t)4 * n;
    uint8_t *o = dst;
    for (int r = 0; r < n; r++) {
        const block_q4_K *row = (const block_q4_K *)((const uint8_t *)src + (size_t)r * ld);
        for (int t = 0; t < nsb; t++) {
            uint8_t *ws = o + (size_t)144 * n * t;
            for (int k = 0; k < 32; k++) memcpy(ws + k * vb + 4 * r, row[t].qs + 4 * k, 4);
            for (int k = 0; k < 3; k++) memcpy(ws + (32 + k) * vb + 4 * r, row[t].scales + 4 * k, 4);
            memcpy(ws + 35 * vb + 2 * r, &row[t].d, 2);
            memcpy(ws + 35 * vb + 2 * n + 2 * r, &row[t].dmin, 2);
        }
    }
}
