/* gemm_pq4_0.h - the Q4_0 repacked-panel layout and activation layout
 * shared by the rows-in-lanes kernels of every x86 level
 * (x86/gemm_pq4_0_avx512.c: panels of 16 rows, x86/gemm_pq4_0_avx2.c:
 * panels of 8). Plain C (x86/gemm_pq4_0.c is built without ISA flags).
 *
 * Panel of L lanes (L rows; exactly the stored bytes of its rows, 18 * nb
 * per row, nb = K / 32): blocks go in pairs; pair p (blocks 2p, 2p + 1)
 * starts at 36 * L * p and holds, for each of its two blocks, 4 raw
 * vectors of 4L bytes (vector k, lane r: the stored qs bytes 4k .. 4k + 3
 * of row r's block; their low nibbles are elements 4k .. 4k + 3, their
 * high nibbles 16 + 4k .. 16 + 4k + 3), then the two blocks' fp16 scales
 * (2L bytes each, lane order). An odd last block is alone: 4 vectors, then
 * its scales. For L = 16 a pair is 9 cache lines and every vector is
 * 64-byte aligned (when the panel is); for L = 8 every vector is 32-byte
 * aligned, so no load splits a cache line.
 *
 * Packed activation row (act_pack): the Q8_0 packed row of
 * x86/gemm_pq8_0.h (the level's from_float quantization, exactly the
 * vec_dot path's values: nb x 32 quant bytes, block b at 32b, then nb
 * floats d), followed by nb int32 starts -8 * sum(q) (the Q4_0 offset:
 * dot(n - 8, q) = dot(n, q) - 8 * sum(q)) and nb floats d * start (the
 * offset already scaled, for kernels that add it in float: one op less
 * per block and row); act_size rounds up to 64. */
#ifndef PG_TENSOR_X86_GEMM_PQ4_0_H
#define PG_TENSOR_X86_GEMM_PQ4_0_H

#include <stddef.h>
#include <stdint.h>

/* Byte offsets in a panel of L lanes and nb blocks: the raw vectors of
 * block b, and its L fp16 scales. */
static inline size_t pg_pq4_0_q(int L, int b) { return (size_t)36 * L * (b / 2) + (size_t)16 * L * (b % 2); }
static inline size_t pg_pq4_0_d(int L, int nb, int b) {
    return (size_t)36 * L * (b / 2) +
           ((b == nb - 1 && nb % 2) ? (size_t)16 * L : (size_t)32 * L + (size_t)2 * L * (b % 2));
}

size_t pg_pq4_0_act_size(int64_t K);
void pg_pq4_0_act_pack(const float *x, int64_t K, void *dst);
int pg_pq4_0_wpack_ok(int64_t K);
/* n stored rows of K elements (row stride ld) -> one panel of n lanes
 * (n * 18 * nb bytes) at dst. */
void pg_pq4_0_wpack(const void *src, size_t ld, int64_t K, int n, void *dst);

#endif
