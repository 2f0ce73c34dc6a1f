/* attn.c - dispatch of the attention kernels (attn.h), the query packing
 * shared by every level, and the K/V row formats' writers.
 *
 * The packed layout qt[d][PG_ATTN_RT] puts the rows of one dimension side
 * by side, so a SIMD level loads the query values of all rows for
 * dimension d with one vector load and broadcasts the key value: one lane
 * per row, no horizontal sums. The level tables are picked through the
 * kernel sets of dispatch.h.
 *
 * Row writers: one scalar definition per format (a row is written once per
 * token and layer, so this is far off the hot path), deterministic and
 * depending only on the row's own values (batch invariance). The blocks
 * follow blocks.h's block_q8_0 / block_q4_0 layouts. */
#include "tensor/attn.h"

#include "tensor/blocks.h"
#include "tensor/dispatch.h"
#include "tensor/kernels.h"

#include <math.h>
#include <string.h>

void pg_attn_pack_q(const float *q, int R, size_t ldq, int hd, float *qt) {
    memset(qt, 0, (size_t)hd * PG_ATTN_RT * sizeof(float));
    for (int r = 0; r < R; r++)
        for (int d = 0; d < hd; d++) qt[(size_t)d * PG_ATTN_RT + r] = q[(size_t)r * ldq + d];
}

size_t pg_attn_row_bytes(int fmt, size_t n) {
    const size_t nb = (n + PG_ATTN_QB - 1) / PG_ATTN_QB;
    switch (fmt) {
    case PG_ATTN_F32: return 4 * n;
    case PG_ATTN_F16: return 2 * n;
    case PG_ATTN_Q8_0: return nb * sizeof(block_q8_0);
    case PG_ATTN_Q4_0: return nb * sizeof(block_q4_0);
    default: return 0;
    }
}

/* round(v) clamped to [lo, hi]; NaN gives 0 (a NaN row stays finite-sized) */
static int qround(float v, int lo, int hi) {
    if (!(v == v)) return 0;
    if (v <= (float)lo) return lo;
    if (v >= (float)hi) return hi;
    return (int)lrintf(v);
}

/* One block of m <= 32 values (the rest are zero). */
static void quant_q8_0(const float *x, int m, block_q8_0 *b) {
    float amax = 0.0f;
    for (int j = 0; j < m; j++) amax = fmaxf(amax, fabsf(x[j]));
    const uint16_t dh = pg_fp32_to_fp16(amax / 127.0f);
    const float d = pg_fp16_to_fp32(dh);
    b->d = dh;
    for (int j = 0; j < QK8_0; j++) b->qs[j] = (int8_t)(j < m && d != 0.0f ? qround(x[j] / d, -127, 127) : 0);
}

static void quant_q4_0(const float *x, int m, block_q4_0 *b) {
    float amax = 0.0f, vmax = 0.0f;
    for (int j = 0; j < m; j++)
        if (fabsf(x[j]) > amax) {
            amax = fabsf(x[j]);
            vmax = x[j];
        }
    const uint16_t dh = pg_fp32_to_fp16(vmax / -8.0f);
    const float d = pg_fp16_to_fp32(dh);
    b->d = dh;
    uint8_t nib[QK4_0];
    for (int j = 0; j < QK4_0; j++) nib[j] = (uint8_t)(j < m && d != 0.0f ? qround(x[j] / d, -8, 7) + 8 : 8);
    for (int j = 0; j < QK4_0 / 2; j++) b->qs[j] = (uint8_t)(nib[j] | nib[j + QK4_0 / 2] << 4);
}

void pg_attn_store_row(int fmt, const float *x, size_t n, void *dst) {
    switch (fmt) {
    case PG_ATTN_F16: pg_fp32_to_fp16_row(x, (uint16_t *)dst, (int64_t)n); return;
    case PG_ATTN_Q8_0:
    case PG_ATTN_Q4_0:
        for (size_t i = 0, k = 0; i < n; i += PG_ATTN_QB, k++) {
            const int m = n - i < PG_ATTN_QB ? (int)(n - i) : PG_ATTN_QB;
            if (fmt == PG_ATTN_Q8_0) {
                block_q8_0 b;
                quant_q8_0(x + i, m, &b);
                memcpy((char *)dst + k * sizeof b, &b, sizeof b);
            } else {
                block_q4_0 b;
                quant_q4_0(x + i, m, &b);
                memcpy((char *)dst + k * sizeof b, &b, sizeof b);
            }
        }
        return;
    default: memcpy(dst, x, n * sizeof(float)); return;
    }
}

void pg_attn_prefetch(const void *rows, size_t stride, int fmt, int e0, int hd, int n) {
    size_t a, b; /* byte range of the values in a row */
    if (fmt == PG_ATTN_Q8_0 || fmt == PG_ATTN_Q4_0) {
        const size_t bsz = pg_attn_row_bytes(fmt, PG_ATTN_QB);
        a = (size_t)(e0 / PG_ATTN_QB) * bsz;
        b = (size_t)((e0 + hd - 1) / PG_ATTN_QB + 1) * bsz;
    } else {
        const size_t el = fmt == PG_ATTN_F16 ? 2 : 4;
        a = (size_t)e0 * el;
        b = (size_t)(e0 + hd) * el;
    }
    for (int i = 0; i < n; i++) {
        const char *r = (const char *)rows + (size_t)i * stride;
        for (size_t o = a; o < b; o += 64) __builtin_prefetch(r + o, 0, 3);
        __builtin_prefetch(r + b - 1, 0, 3);
    }
}

const pg_attn_kernels *pg_attn_kernels_get(pg_cpu_level level) { return pg_kernels_at(level)->attn; }

const pg_attn_kernels *pg_attn_kernels_cur(void) { return pg_kernels_cur()->attn; }
