/* attn.h - attention kernels: scores of a group of query rows against a run
 * of K rows, and the probability-weighted sum of a run of V rows, with a
 * scalar reference and run-time dispatched SIMD variants (base/cpu.h).
 *
 * Fixed float order (the batch-invariance and bit-exactness contract):
 *   score(r, i) = scale * acc,  acc = 0; for d = 0..hd-1 ascending:
 *                 acc = fmaf(q[r][d], k_i[d], acc)
 *   out[r][d]   : for i = 0..n-1 ascending: out = fmaf(p[r][i], v_i[d], out)
 * Every level computes exactly these single-rounded fma chains (SIMD lanes
 * run over rows r for the scores and over d for the sums; never a
 * horizontal reduction), so all levels agree bit for bit, and a value
 * depends only on its own row and keys, never on how many other rows or
 * keys share the call. out is read and written in place, so a sum over n
 * keys split into several calls (one per KV block) is the same chain.
 *
 * K/V rows: row i starts at (const char *)base + i * stride (bytes) and
 * the kernels read its elements e0 .. e0 + hd - 1 in the row format fmt
 * (pg_attn_fmt): f32, f16 (IEEE half), or a quantized format cut into
 * blocks of PG_ATTN_QB values (the row starts at a block; e0 may fall
 * anywhere inside one, so a head need not start a block):
 *   q8_0: per block a half scale d and 32 int8 q:        x = d * q        (34 bytes)
 *   q4_0: per block a half scale d and 16 bytes of nibbles, value j < 16 in
 *         the low nibble of byte j, value j + 16 in its high nibble:
 *                                                        x = d * (nib - 8) (18 bytes)
 * The dequantized value d * q is exact in f32 (an 11-bit significand times
 * an integer of at most 8 bits), so every level reads the same floats and
 * the fma chains above hold unchanged for the quantized formats; a SIMD
 * level may dequantize a few rows into a stack tile first (never the
 * whole cache). The quantization of a row (pg_attn_store_row) depends only
 * on that row: batch invariance carries over. */
#ifndef PG_TENSOR_ATTN_H
#define PG_TENSOR_ATTN_H

#include "base/cpu.h"
#include "tensor/fp16.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Query rows per packed tile; the packed tile is [hd][PG_ATTN_RT] floats. */
enum { PG_ATTN_RT = 16 };

/* Pack R <= PG_ATTN_RT query rows q[r*ldq + d] into qt[d*PG_ATTN_RT + r]
 * (lanes r >= R are zero). */
void pg_attn_pack_q(const float *q, int R, size_t ldq, int hd, float *qt);

/* K/V row formats (the fmt argument below). The values equal model.h's
 * PG_KV_* types. */
typedef enum { PG_ATTN_F32 = 0, PG_ATTN_F16 = 1, PG_ATTN_Q8_0 = 2, PG_ATTN_Q4_0 = 3 } pg_attn_fmt;
enum { PG_ATTN_NFMT = 4, PG_ATTN_QB = 32 /* values per quantized block */ };

/* Bytes of a row of n values in fmt (quantized rows: whole blocks, the last
 * one zero-padded); 0 for an unknown fmt. */
size_t pg_attn_row_bytes(int fmt, size_t n);
/* Writes the n values x[0..n) as one row in fmt (f16: round to nearest
 * even; q8_0: d = max|x| / 127 rounded to half, q = round(x / d) in
 * [-127, 127]; q4_0: d = m / -8 for the value m of largest magnitude,
 * nibble = round(x / d) + 8 in [0, 15]; padding values are 0). */
void pg_attn_store_row(int fmt, const float *x, size_t n, void *dst);
/* Value e of a row in fmt (exact dequantization; the reference's reader). */
static inline float pg_attn_elem(int fmt, const void *row, size_t e) {
    const unsigned char *b = (const unsigned char *)row;
    uint16_t h;
    switch (fmt) {
    case PG_ATTN_F16:
        memcpy(&h, b + 2 * e, 2);
        return pg_fp16_to_fp32(h);
    case PG_ATTN_Q8_0: {
        const unsigned char *blk = b + (e / PG_ATTN_QB) * 34;
        memcpy(&h, blk, 2);
        return pg_fp16_to_fp32(h) * (float)(int8_t)blk[2 + e % PG_ATTN_QB];
    }
    case PG_ATTN_Q4_0: {
        const unsigned char *blk = b + (e / PG_ATTN_QB) * 18;
        const size_t j = e % PG_ATTN_QB;
        memcpy(&h, blk, 2);
        const int nib = j < 16 ? blk[2 + j] & 15 : blk[2 + j - 16] >> 4;
        return pg_fp16_to_fp32(h) * (float)(nib - 8);
    }
    default: {
        float f;
        memcpy(&f, b + 4 * e, 4);
        return f;
    }
    }
}

/* Prefetch hint for the bytes that hold values e0 .. e0 + hd - 1 of n rows
 * (row i at rows + i * stride) in fmt: forward.c issues it for the next KV
 * block run before computing on the current one (blocks are scattered, so
 * no hardware prefetcher can follow from one to the next). No effect on
 * results. */
void pg_attn_prefetch(const void *rows, size_t stride, int fmt, int e0, int hd, int n);

typedef struct pg_attn_kernels {
    /* s[r*lds + i] = score(r, i) for r < R <= PG_ATTN_RT, i < n; qt packed by
     * pg_attn_pack_q; key i = elements e0.. of row i (see above). */
    void (*qk)(const float *qt, int R, int hd, const void *k, size_t kstride, int fmt, int e0, int n, float scale,
               float *s, size_t lds);
    /* out[r*ldo + d] continues its chain over p[r*ldp + i] * v_i[d], i < n,
     * for r < R (any R >= 1), d < hd. */
    void (*pv)(const float *p, size_t ldp, int R, const void *v, size_t vstride, int fmt, int e0, int n, int hd,
               float *out, size_t ldo);
} pg_attn_kernels;

/* The kernels of one level (capped at what this build has; never NULL). */
const pg_attn_kernels *pg_attn_kernels_get(pg_cpu_level level);
/* The kernels of the current level (pg_cpu_level_get()). */
const pg_attn_kernels *pg_attn_kernels_cur(void);

#endif
