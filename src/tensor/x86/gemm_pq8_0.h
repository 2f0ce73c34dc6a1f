/* gemm_pq8_0.h - the Q8_0 repacked-panel layout and activation layout of
 * the AVX2 rows-in-lanes kernel (x86/gemm_pq8_0_avx2.c). Plain C
 * (x86/gemm_pq8_0.c is built without ISA flags).
 *
 * Panel of L lanes (L rows; exactly the stored bytes of its rows, 34 * nb
 * per row, nb = K / 32): blocks go in pairs; pair p (blocks 2p, 2p + 1)
 * starts at 68 * L * p and holds, for each of its two blocks, 8 raw
 * vectors of 4L bytes (vector k, lane r: the stored int8 qs bytes
 * 4k .. 4k + 3 of row r's block, elements 4k .. 4k + 3), then the two
 * blocks' fp16 scales (2L bytes each, lane order). An odd last block is
 * alone: 8 vectors, then its scales. For L = 16 a pair is 17 cache lines
 * and every vector is 64-byte aligned when the panel is, so no 32-byte
 * half of it splits a cache line.
 *
 * Packed activation row (act_pack): Q8_0 quantization by the level's
 * from_float (exactly the vec_dot path's values, all in -127..127), then
 * nb x 32 quant bytes (block b at 32b) and nb floats d; act_size rounds
 * 36 * nb up to 64 (within 9/8 of a Q8_0 row, + 64). */
#ifndef PG_TENSOR_X86_GEMM_PQ8_0_H
#define PG_TENSOR_X86_GEMM_PQ8_0_H

#include <stddef.h>
#include <stdint.h>

/* Byte offsets in a panel of L lanes and nb blocks: the raw vectors of
 * block b, and its L fp16 scales. */
static inline size_t pg_pq8_0_q(int L, int b) { return (size_t)68 * L * (b / 2) + (size_t)32 * L * (b % 2); }
static inline size_t pg_pq8_0_d(int L, int nb, int b) {
    return (size_t)68 * L * (b / 2) +
           ((b == nb - 1 && nb % 2) ? (size_t)32 * L : (size_t)64 * L + (size_t)2 * L * (b % 2));
}

size_t pg_pq8_0_act_size(int64_t K);
void pg_pq8_0_act_pack(const float *x, int64_t K, void *dst);
int pg_pq8_0_wpack_ok(int64_t K);
/* n stored rows of K elements (row stride ld) -> one panel of n lanes
 * (n * 34 * nb bytes) at dst. */
void pg_pq8_0_wpack(const void *src, size_t ld, int64_t K, int n, void *dst);

#endif
