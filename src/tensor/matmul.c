/* matmul.c - see matmul.h.
 *
 * Work split: N is cut into tiles of TILE_N rows; threads take contiguous
 * ranges of tiles; inside a tile every row of X streams through the tile's
 * weights while they are hot in cache. Each output element is exactly one
 * vec_dot call, so the result is independent of M, threads and tiling. */
#include "tensor/matmul.h"

#include "base/error.h"
#include "tensor/types.h"

#include <string.h>

#define TILE_N 16

size_t pg_qact_size(int wtype, int64_t K, int64_t M) {
    const pg_type_traits *t = pg_type_get(wtype);
    PG_ASSERT(t);
    if (t->vec_dot_type == PG_TYPE_F32) return 0;
    return pg_row_size(t->vec_dot_type, K) * (size_t)M;
}

typedef struct {
    const float *x;
    int64_t ldx, K, M;
    pg_from_float_fn quant;
    size_t row_bytes;
    char *dst;
} qjob;

static void quant_rows(void *arg, int ith, int nth) {
    qjob *j = arg;
    long lo, hi;
    pg_split_range((long)j->M, ith, nth, &lo, &hi);
    for (long m = lo; m < hi; m++) j->quant(j->x + m * j->ldx, j->dst + (size_t)m * j->row_bytes, j->K);
}

pg_qact pg_qact_make(pg_pool *pool, int wtype, const float *x, int64_t ldx, int64_t K, int64_t M, void *scratch) {
    const pg_type_traits *t = pg_type_get(wtype);
    PG_ASSERT(t);
    pg_qact q = {.type = t->vec_dot_type, .K = K, .M = M};
    if (t->vec_dot_type == PG_TYPE_F32) {
        PG_ASSERT(ldx == K); /* float activations are used in place */
        q.row_bytes = (size_t)K * sizeof(float);
        q.data = x;
        return q;
    }
    const pg_type_traits *vt = pg_type_get(t->vec_dot_type);
    PG_ASSERT(vt && vt->from_float);
    qjob j = {x, ldx, K, M, vt->from_float, pg_row_size(t->vec_dot_type, K), scratch};
    if (M == 1) quant_rows(&j, 0, 1);
    else pg_pool_run(pool, quant_rows, &j);
    q.row_bytes = j.row_bytes;
    q.data = scratch;
    return q;
}

typedef struct {
    const pg_weight *w;
    const pg_qact *xq;
    float *y;
    int64_t ldy;
    pg_vec_dot_fn dot;
} mjob;

static void mm_rows(void *arg, int ith, int nth) {
    mjob *j = arg;
    const int64_t N = j->w->ne1, M = j->xq->M;
    const int K = (int)j->w->ne0;
    long ntiles = (long)((N + TILE_N - 1) / TILE_N), lo, hi;
    pg_split_range(ntiles, ith, nth, &lo, &hi);
    const char *wbase = j->w->data;
    const char *xbase = j->xq->data;
    for (long tIdx = lo; tIdx < hi; tIdx++) {
        int64_t n0 = tIdx * TILE_N, n1 = n0 + TILE_N < N ? n0 + TILE_N : N;
        for (int64_t m = 0; m < M; m++) {
            const void *xr = xbase + (size_t)m * j->xq->row_bytes;
            float *yr = j->y + m * j->ldy;
            for (int64_t n = n0; n < n1; n++) j->dot(K, &yr[n], wbase + (size_t)n * j->w->row_bytes, xr);
        }
    }
}

void pg_matmul_q(pg_pool *pool, const pg_weight *w, const pg_qact *xq, float *y, int64_t ldy) {
    const pg_type_traits *t = pg_type_get(w->type);
    PG_ASSERT(t && t->vec_dot && xq->type == (int)t->vec_dot_type && xq->K == w->ne0);
    mjob j = {w, xq, y, ldy, t->vec_dot};
    pg_pool_run(pool, mm_rows, &j);
}

void pg_matmul(pg_pool *pool, const pg_weight *w, const float *x, int64_t M, float *y, void *scratch) {
    pg_qact q = pg_qact_make(pool, w->type, x, w->ne0, w->ne0, M, scratch);
    pg_matmul_q(pool, w, &q, y, w->ne1);
}

void pg_weight_row(const pg_weight *w, int64_t r, float *dst) {
    const pg_type_traits *t = pg_type_get(w->type);
    PG_ASSERT(t && t->to_float && r >= 0 && r < w->ne1);
    t->to_float((const char *)w->data + (size_t)r * w->row_bytes, dst, w->ne0);
}
