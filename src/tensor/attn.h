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
 * K/V rows: row i starts at (const char *)base + i * stride (bytes), f16
 * (IEEE half) when f16 != 0, else f32; hd elements. */
#ifndef PG_TENSOR_ATTN_H
#define PG_TENSOR_ATTN_H

#include "base/cpu.h"

#include <stddef.h>

/* Query rows per packed tile; the packed tile is [hd][PG_ATTN_RT] floats. */
enum { PG_ATTN_RT = 16 };

/* Pack R <= PG_ATTN_RT query rows q[r*ldq + d] into qt[d*PG_ATTN_RT + r]
 * (lanes r >= R are zero). */
void pg_attn_pack_q(const float *q, int R, size_t ldq, int hd, float *qt);

typedef struct pg_attn_kernels {
    /* s[r*lds + i] = score(r, i) for r < R <= PG_ATTN_RT, i < n; qt packed by
     * pg_attn_pack_q. */
    void (*qk)(const float *qt, int R, int hd, const void *k, size_t kstride, int f16, int n, float scale,
               float *s, size_t lds);
    /* out[r*ldo + d] continues its chain over p[r*ldp + i] * v_i[d], i < n,
     * for r < R (any R >= 1), d < hd. */
    void (*pv)(const float *p, size_t ldp, int R, const void *v, size_t vstride, int f16, int n, int hd, float *out,
               size_t ldo);
} pg_attn_kernels;

/* The kernels of one level (capped at what this build has; never NULL). */
const pg_attn_kernels *pg_attn_kernels_get(pg_cpu_level level);
/* The kernels of the current level (pg_cpu_level_get()). */
const pg_attn_kernels *pg_attn_kernels_cur(void);

#endif
