/* matmul.h - Y = X · W^T for a weight matrix in any supported type.
 *
 * Shapes: W has N rows of K elements (GGUF ne0 = K, ne1 = N), row-major with
 * row_bytes per row. X is M rows of K floats. Y is M rows of N floats
 * (row stride ldy floats, >= N).
 *
 * X is first converted row by row to the weight type's vec_dot_type (the
 * "activation quantization"; for kernels with a packed layout, the same
 * quantization stored in that layout, pg_qact.packed), then Y[m][n] = dot(W[n], Xq[m]): for types
 * with tile kernels (tensor/gemm.h: q4_0, q8_0, q4_K, q6_K at AVX-512 and
 * AVX2) by a microkernel over a tile of weight rows x activation rows,
 * otherwise by one vec_dot call per element.
 * Batch invariance: Y[m][n] depends only on W[n] and X[m] — never on M, the
 * row's position in the batch, the thread count or the tiling — because
 * every element gets one fixed sequence of operations (tests/test_gemm.c
 * checks it bit for bit). Results may differ from vec_dot's by rounding.
 * PAGODA_GEMM=off forces the vec_dot path (A/B measurements).
 *
 * Threads take blocks of N rows from a shared counter; the scratch for
 * quantized X is provided by the caller (allocated once at start-up; no
 * malloc here). */
#ifndef PG_TENSOR_MATMUL_H
#define PG_TENSOR_MATMUL_H

#include "base/pool.h"

#include <stddef.h>
#include <stdint.h>

typedef struct pg_weight {
    int type;
    int64_t ne0, ne1; /* K (row length), N (rows) */
    size_t row_bytes;
    const void *data;
    /* The same rows repacked at load for one tile kernel (pg_weight_pack):
     * row_bytes per row like data, owned by whoever packed them (the
     * model). Used only while that kernel is the one dispatched; data stays
     * valid for every other path (other levels, vec_dot, row reads). */
    const void *pdata;
    const void *pk; /* the kernel pdata is packed for */
} pg_weight;

/* Quantized activations: a view of M rows in vec_dot_type. */
typedef struct pg_qact {
    int type;          /* vec_dot_type */
    int64_t K, M;
    int packed;        /* rows in the tile kernel's own layout (tensor/gemm.h), not vec_dot_type blocks */
    const void *pk;    /* that kernel (packed only) */
    size_t row_bytes;
    const void *data;  /* M * row_bytes (or the float rows themselves when type is F32) */
} pg_qact;

/* Bytes of scratch needed to quantize M rows of K for weights of type wtype
 * (at any dispatch level; for K a multiple of 512 at most 32 bytes per row
 * over the Q8_0 / Q8_K row size, else up to 544). 64-byte aligned scratch
 * is fastest. */
size_t pg_qact_size(int wtype, int64_t K, int64_t M);
/* Convert X (M rows of K floats, row stride ldx) for multiplying with w
 * (its type and, for repacked weights, its kernel decide the layout).
 * Runs on the pool; scratch must hold pg_qact_size bytes. */
pg_qact pg_qact_make(pg_pool *pool, const pg_weight *w, const float *x, int64_t ldx, int64_t K, int64_t M,
                     void *scratch);
/* Y[m][n] for all m < xq->M, n < w->ne1. */
void pg_matmul_q(pg_pool *pool, const pg_weight *w, const pg_qact *xq, float *y, int64_t ldy);
/* Several matmuls of the same X in one pool run (Q/K/V, gate/up): the
 * threads share one work counter over all of them, so small matrices do
 * not each pay a start and an uneven end. Needs pg_matmul_multi_ok (same
 * type, K and kernel; n <= 4); xq made for w[0]. Y as in pg_matmul_q. */
int pg_matmul_multi_ok(const pg_weight *const *w, int n);
void pg_matmul_q_multi(pg_pool *pool, const pg_weight *const *w, int n, const pg_qact *xq, float *const *y,
                       const int64_t *ldy);
/* Convenience: quantize + multiply. */
void pg_matmul(pg_pool *pool, const pg_weight *w, const float *x, int64_t M, float *y, void *scratch);

/* Repacking at load. pg_weight_pack_size: bytes of the packed copy of the
 * first nrows rows of w (nrows may exceed ne1 for expert tensors: rows are
 * contiguous) for the kernel dispatched now, or 0 when there is none for
 * w's type and K. pg_weight_pack fills dst (that many bytes, 64-byte
 * aligned, outliving w) and points w->pdata at it. PAGODA_REPACK=off turns
 * repacking off (A/B measurements). */
size_t pg_weight_pack_size(const pg_weight *w, int64_t nrows);
void pg_weight_pack(pg_weight *w, int64_t nrows, void *dst);

/* Dequantize row r of w into dst (K floats). */
void pg_weight_row(const pg_weight *w, int64_t r, float *dst);

#endif
