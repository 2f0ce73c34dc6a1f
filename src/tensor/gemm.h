/* gemm.h - tile microkernels behind pg_matmul_q (tensor/matmul.h) for the
 * weight types with a fast path (q4_0, q8_0, q4_K, q6_K at AVX-512 VNNI and
 * AVX2). Internal to src/tensor and its tests.
 *
 * A tile kernel computes Y[c][r] = dot(W[r], X[c]) for r < nw <= rw weight
 * rows and c < nx <= cx activation rows (X in the weight type's
 * vec_dot_type, see tensor/types.h). Each weight block is loaded once per
 * tile and reused across the nx activation rows, and vice versa.
 *
 * Batch invariance: every output element goes through exactly the same
 * sequence of operations (per-block exact integer dot, then one float
 * accumulator updated block by block in order, then a fixed reduction
 * tree) whatever nw, nx, the tile's position and the thread. So Y[m][n]
 * does not depend on M, the tiling or the thread count. The results differ
 * from the per-type vec_dot only by float rounding. */
#ifndef PG_TENSOR_GEMM_H
#define PG_TENSOR_GEMM_H

#include "base/cpu.h"

#include <stddef.h>
#include <stdint.h>

/* w: nw rows of ldw bytes; x: nx rows of ldx bytes; y: element (c, r) at
 * y[c * ldy + r]. K is a multiple of the weight type's block size. */
typedef void (*pg_gemm_tile_fn)(int64_t K, const void *w, size_t ldw, int nw, const void *x, size_t ldx, int nx,
                                float *y, int64_t ldy);

typedef struct pg_gemm_kernel {
    int rw, cx;           /* largest tile: rw weight rows x cx activation rows */
    pg_gemm_tile_fn fn;
} pg_gemm_kernel;

/* The tile kernel of weight type wtype at exactly `level`, or NULL (then
 * matmul uses one vec_dot call per element). */
const pg_gemm_kernel *pg_gemm_get(int wtype, pg_cpu_level level);

/* Per-file tables (x86 only), indexed by pg_type id; NULL entries. */
const pg_gemm_kernel *pg_gemm_avx512_get(int wtype);
const pg_gemm_kernel *pg_gemm_avx2_get(int wtype);

#endif
