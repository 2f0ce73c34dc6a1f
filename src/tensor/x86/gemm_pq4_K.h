/* gemm_pq4_K.h - the q4_K repacked-panel and packed-activation layouts
 * shared by the rows-in-lanes kernels of every x86 level
 * (x86/gemm_pq4_K_avx512.c and x86/gemm_pq4_K_avx2.c, both with panels of
 * L = 16 rows; their header comments draw the layouts). Plain C
 * (x86/gemm_pq4_K.c is built without ISA flags).
 *
 * Panel of L lanes: super-block t at 144 * L * t holds 32 raw vectors of
 * 4L bytes (vector k, lane r: stored qs bytes 4k .. 4k + 3 of row r), 3
 * vectors of the stored scale bytes (4 per lane), then the L fp16 d and
 * the L fp16 dmin. Packed activation row: Q8_K by the level's from_float,
 * nsb x 256 int8, nsb floats d, nsb x 8 int16 sub-block sums; act_size
 * rounds up to 64. */
#ifndef PG_TENSOR_X86_GEMM_PQ4_K_H
#define PG_TENSOR_X86_GEMM_PQ4_K_H

#include <stddef.h>
#include <stdint.h>

size_t pg_pq4_K_act_size(int64_t K);
void pg_pq4_K_act_pack(const float *x, int64_t K, void *dst);
int pg_pq4_K_wpack_ok(int64_t K);
/* n stored rows of K elements (row stride ld) -> one panel of n lanes at
 * dst (n * 144 * K / 256 bytes). */
void pg_pq4_K_wpack(const void *src, size_t ld, int64_t K, int n, void *dst);

#endif
