/* gemm.h - tile microkernels behind pg_matmul_q (tensor/matmul.h) for the
 * weight types with a fast path (q4_0, q8_0, q4_K, q6_K at AVX-512 VNNI and
 * AVX2). Internal to src/tensor and its tests.
 *
 * A tile kernel computes Y[c][r] = dot(W[r], X[c]) for r < nw <= rw weight
 * rows and c < nx <= cx activation rows. Each weight block is loaded (and
 * unpacked) once per call and reused across the nx activation rows.
 *
 * Activation layout: by default X rows are in the weight type's
 * vec_dot_type (tensor/types.h). A kernel with act_size/act_pack instead
 * takes rows in its own packed layout (built once per matmul by
 * pg_qact_make through act_pack; rows of act_size(K) bytes, a multiple of
 * 64; any alignment, 64 is fastest).
 *
 * Batch invariance: every output element goes through exactly the same
 * sequence of float operations (exact integer dots, then one float
 * accumulator updated in a fixed order that depends only on K, then a
 * fixed reduction tree) whatever nw, nx, the tile's position and the
 * thread. So Y[m][n] does not depend on M, the tiling or the thread count.
 * The results differ from the per-type vec_dot only by float rounding. */
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
    /* M <= m1 is streaming-bound: matmul gives each thread a few large
     * work items (one long sequential weight stream; measured 10-15% faster
     * GEMV than 64-row items) and, for kernels without panels, one weight
     * row per call */
    int m1;
    pg_gemm_tile_fn fn;
    /* Packed activations (both NULL: rows in vec_dot_type). act_size: bytes
     * of one packed row of K (a multiple of 64); act_pack: K floats -> one
     * packed row at dst. */
    size_t (*act_size)(int64_t K);
    void (*act_pack)(const float *x, int64_t K, void *dst);
    /* Repacked weights (NULL for kernels that read rows as stored). A
     * kernel with wpack reads its weight rows in its own layout, built once
     * at model load (pg_weight_repack, tensor/matmul.h): wpack(src, K, dst)
     * converts one stored row of K elements into exactly the same number
     * of bytes (so row strides and expert offsets stay those of the file).
     * wpack_ok(K): whether rows of K can be repacked. */
    int (*wpack_ok)(int64_t K);
    void (*wpack)(const void *src, int64_t K, void *dst);
    /* Panel-repacked weights (wpanel > 1, instead of wpack): rows are
     * interleaved in panels of wpanel rows, counted from the first row of
     * each matrix (the last panel of a matrix may hold fewer).
     * wpackp(src, ld, K, n, dst) converts n <= wpanel stored rows (stride
     * ld) into one panel of the same n * ld bytes at dst. Such a kernel has
     * rw == wpanel and is always called on one whole panel. */
    int wpanel;
    void (*wpackp)(const void *src, size_t ld, int64_t K, int n, void *dst);
} pg_gemm_kernel;

/* The tile kernel of weight type wtype at `level` (capped at the CPU's
 * level, no fallback to a lower level), or NULL (then matmul uses one
 * vec_dot call per element). */
const pg_gemm_kernel *pg_gemm_get(int wtype, pg_cpu_level level);

/* The kernel that reads weights of type wtype repacked for `level`, or
 * NULL (then weights stay as stored). */
const pg_gemm_kernel *pg_gemm_get_packed(int wtype, pg_cpu_level level);

#endif
