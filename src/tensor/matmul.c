/* matmul.c - see matmul.h.
 *
 * Two paths, chosen per weight type and dispatch level:
 * - tile kernels (tensor/gemm.h: q4_0, q8_0, q4_K, q6_K on AVX-512 / AVX2):
 *   N is cut into groups of rw rows (1 row when M <= the kernel's m1:
 *   decode streams weights and a single sequential stream per thread reads
 *   DRAM fastest), handed out as work items from an atomic counter (so both
 *   cores finish together even when one is slowed by other load). An item
 *   is a cache block of NCHUNK rows (small M: ~8 items per thread); for each
 *   block the M activation rows pass in near-equal pieces of at most cx rows
 *   through rw x piece kernel calls, so the block's weights stay in L2 while
 *   X streams. Kernels with their own activation layout (AVX-512 q4_0 and
 *   q8_0) get X packed by pg_qact_make (act_pack) instead of as Q8_0 rows.
 * - other types: N in tiles of TILE_N rows, one vec_dot call per element.
 * In both, each output element is computed by one fixed sequence of
 * operations that depends only on its weight row and activation row (the
 * tile kernels guarantee it for every tile shape), so Y is independent of M,
 * the row's position in the batch, the tiling and the thread count. */
#include "tensor/matmul.h"

#include "base/cpu.h"
#include "base/error.h"
#include "tensor/gemm.h"
#include "tensor/types.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define TILE_N 16
#define NCHUNK 64 /* weight rows per cache block; a multiple of every kernel's rw */

/* An A/B switch read once: 0 when the environment sets NAME=off. */
static int env_on(const char *name, int *cache) {
    int e = __atomic_load_n(cache, __ATOMIC_RELAXED);
    if (e < 0) {
        const char *s = getenv(name);
        e = !(s && !strcmp(s, "off"));
        __atomic_store_n(cache, e, __ATOMIC_RELAXED);
    }
    return e;
}

/* PAGODA_GEMM=off selects the per-element vec_dot path for every type. */
static int gemm_enabled(void) {
    static int v = -1;
    return env_on("PAGODA_GEMM", &v);
}

/* The kernel for w at the current level and the rows it reads: the packed
 * copy when w was packed for exactly that kernel, else the stored rows. */
static const pg_gemm_kernel *kernel_for(const pg_weight *w, const char **wdata) {
    *wdata = w->data;
    if (!gemm_enabled()) return NULL;
    const pg_cpu_level l = pg_cpu_level_get();
    if (w->pdata) {
        const pg_gemm_kernel *pk = pg_gemm_get_packed(w->type, l);
        if (pk && (const void *)pk == w->pk) {
            *wdata = w->pdata;
            return pk;
        }
    }
    return pg_gemm_get(w->type, l);
}

/* PAGODA_REPACK=off keeps every weight in its stored layout. */
static int repack_enabled(void) {
    static int v = -1;
    return env_on("PAGODA_REPACK", &v);
}

size_t pg_weight_pack_size(const pg_weight *w, int64_t nrows) {
    if (!repack_enabled() || !gemm_enabled() || nrows <= 0) return 0;
    const pg_gemm_kernel *pk = pg_gemm_get_packed(w->type, pg_cpu_level_get());
    if (!pk || !(pk->wpanel > 1 ? pk->wpackp != NULL : pk->wpack != NULL) || !pk->wpack_ok || !pk->wpack_ok(w->ne0))
        return 0;
    if ((uint64_t)nrows > SIZE_MAX / w->row_bytes) return 0;
    /* panels restart at each matrix (w->ne1 rows; several for experts) */
    if (pk->wpanel > 1 && (w->ne1 < 1 || nrows % w->ne1)) return 0;
    return (size_t)nrows * w->row_bytes;
}

void pg_weight_pack(pg_weight *w, int64_t nrows, void *dst) {
    const pg_gemm_kernel *pk = pg_gemm_get_packed(w->type, pg_cpu_level_get());
    PG_ASSERT(pk && pg_weight_pack_size(w, nrows) > 0);
    if (pk->wpanel > 1) {
        for (int64_t r0 = 0; r0 < nrows; r0 += w->ne1)
            for (int64_t r = r0; r < r0 + w->ne1; r += pk->wpanel) {
                const int n = (int)(r0 + w->ne1 - r < pk->wpanel ? r0 + w->ne1 - r : pk->wpanel);
                const size_t off = (size_t)r * w->row_bytes;
                pk->wpackp((const char *)w->data + off, w->row_bytes, w->ne0, n, (char *)dst + off);
            }
    } else {
        for (int64_t r = 0; r < nrows; r++)
            pk->wpack((const char *)w->data + (size_t)r * w->row_bytes, w->ne0, (char *)dst + (size_t)r * w->row_bytes);
    }
    w->pdata = dst;
    w->pk = pk;
}

size_t pg_qact_size(int wtype, int64_t K, int64_t M) {
    const pg_type_traits *t = pg_type_get(wtype);
    PG_ASSERT(t);
    if (t->vec_dot_type == PG_TYPE_F32) return 0;
    size_t rb = pg_row_size(t->vec_dot_type, K);
    /* the largest layout of any level, so the size does not depend on the
     * level chosen later */
    for (int l = PG_CPU_SCALAR; l <= PG_CPU_AVX512; l++)
        for (int p = 0; p < 2; p++) {
            const pg_gemm_kernel *k = p ? pg_gemm_get_packed(wtype, (pg_cpu_level)l) : pg_gemm_get(wtype, (pg_cpu_level)l);
            if (k && k->act_size && k->act_size(K) > rb) rb = k->act_size(K);
        }
    return rb * (size_t)M;
}

typedef struct {
    const float *x;
    int64_t ldx, K, M;
    pg_from_float_fn quant;
    void (*pack)(const float *x, int64_t K, void *dst); /* instead of quant when set */
    size_t row_bytes;
    char *dst;
} qjob;

static void quant_rows(void *arg, int ith, int nth) {
    qjob *j = arg;
    long lo, hi;
    pg_split_range((long)j->M, ith, nth, &lo, &hi);
    for (long m = lo; m < hi; m++) {
        if (j->pack) j->pack(j->x + m * j->ldx, j->K, j->dst + (size_t)m * j->row_bytes);
        else j->quant(j->x + m * j->ldx, j->dst + (size_t)m * j->row_bytes, j->K);
    }
}

pg_qact pg_qact_make(pg_pool *pool, const pg_weight *w, const float *x, int64_t ldx, int64_t K, int64_t M,
                     void *scratch) {
    const pg_type_traits *t = pg_type_get(w->type);
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
    const char *wdata;
    const pg_gemm_kernel *k = kernel_for(w, &wdata);
    qjob j = {x, ldx, K, M, vt->from_float, NULL, pg_row_size(t->vec_dot_type, K), scratch};
    if (k && k->act_pack) {
        j.pack = k->act_pack;
        j.row_bytes = k->act_size(K);
        q.packed = 1;
        q.pk = k;
    }
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

/* One matmul of a multi-matmul run: its weights, output and work items. */
typedef struct {
    const pg_weight *w;
    const char *wdata; /* w's stored or packed rows, as k reads them */
    float *y;
    int64_t ldy;
    int64_t chunk;     /* weight rows per work item, a multiple of the row group */
    long items, first; /* its items are [first, first + items) of the run */
} gpart;

#define MULTI_MAX 4

typedef struct {
    const pg_gemm_kernel *k;
    const pg_qact *xq;
    gpart p[MULTI_MAX];
    int np;
    long nitems;
    long next; /* next work item, atomic */
} gjob;

static void gemm_rows(void *arg, int ith, int nth) {
    gjob *j = arg;
    const int64_t M = j->xq->M;
    /* Small M: one weight row per call (a single sequential stream per
     * thread; interleaving rw rows measurably slows streaming from DRAM),
     * all M activation rows at once. */
    const int rw = M <= j->k->m1 && j->k->wpanel <= 1 ? 1 : j->k->rw, cx = j->k->cx;
    const size_t xrb = j->xq->row_bytes;
    const char *xbase = j->xq->data;
    /* M in near-equal pieces of at most cx rows (129 = 65 + 64, not 128 + 1:
     * each call unpacks its weight rows once for all its activation rows) */
    const int64_t mstep = (M + (M + cx - 1) / cx - 1) / ((M + cx - 1) / cx);
    (void)ith, (void)nth;
    for (;;) {
        const long it = __atomic_fetch_add(&j->next, 1, __ATOMIC_RELAXED);
        if (it >= j->nitems) break;
        int pi = 0;
        while (it >= j->p[pi].first + j->p[pi].items) pi++;
        const gpart *P = &j->p[pi];
        const int64_t N = P->w->ne1, K = P->w->ne0;
        const size_t wrb = P->w->row_bytes;
        const int64_t nc = (int64_t)(it - P->first) * P->chunk, nce = nc + P->chunk < N ? nc + P->chunk : N;
        for (int64_t m0 = 0; m0 < M; m0 += mstep) {
            const int nx = (int)(M - m0 < mstep ? M - m0 : mstep);
            const char *xr = xbase + (size_t)m0 * xrb;
            float *yr = P->y + m0 * P->ldy;
            for (int64_t n = nc; n < nce; n += rw) {
                const int nw = (int)(nce - n < rw ? nce - n : rw);
                j->k->fn(K, P->wdata + (size_t)n * wrb, wrb, nw, xr, xrb, nx, yr + n, P->ldy);
            }
        }
    }
}

/* Whether pg_matmul_q_multi can run w[0..n) in one pass: one kernel (so one
 * activation layout) for all. */
int pg_matmul_multi_ok(const pg_weight *const *w, int n) {
    if (n < 1 || n > MULTI_MAX) return 0;
    const char *d;
    const pg_gemm_kernel *k = kernel_for(w[0], &d);
    if (!k) return 0;
    for (int i = 1; i < n; i++)
        if (w[i]->type != w[0]->type || w[i]->ne0 != w[0]->ne0 || kernel_for(w[i], &d) != k) return 0;
    return 1;
}

void pg_matmul_q_multi(pg_pool *pool, const pg_weight *const *w, int n, const pg_qact *xq, float *const *y,
                       const int64_t *ldy) {
    PG_ASSERT(n >= 1 && n <= MULTI_MAX);
    const pg_type_traits *t = pg_type_get(w[0]->type);
    PG_ASSERT(t && t->vec_dot && xq->type == (int)t->vec_dot_type && xq->K == w[0]->ne0);
    gjob g;
    memset(&g, 0, sizeof g);
    g.xq = xq;
    for (int i = 0; i < n; i++) {
        const char *wdata;
        const pg_gemm_kernel *k = kernel_for(w[i], &wdata);
        if (!k) { /* per-element path: one run each */
            PG_ASSERT(!xq->packed);
            mjob j = {w[i], xq, y[i], ldy[i], pg_type_get(w[i]->type)->vec_dot};
            pg_pool_run(pool, mm_rows, &j);
            continue;
        }
        PG_ASSERT(!g.k || g.k == k);
        PG_ASSERT(w[i]->ne0 == xq->K && NCHUNK % k->rw == 0 && k->rw >= 1 && k->cx >= 1);
        /* packed activations only come with the kernel that packed them */
        PG_ASSERT(xq->packed == (k->act_pack != NULL) && (!xq->packed || xq->pk == (const void *)k));
        g.k = k;
        /* Work items are taken from a shared counter, so a thread slowed by
         * other load on the machine takes fewer of them; results do not
         * depend on who computes what. Items: NCHUNK rows (cache blocking
         * for GEMM); for small M about 8 items per thread and matrix (fewer
         * atomics on the shared line), at least 16 rows, a multiple of 4. */
        int64_t chunk = NCHUNK;
        if (xq->M <= k->m1) {
            chunk = (w[i]->ne1 + 8 * pg_pool_size(pool) - 1) / (8 * pg_pool_size(pool));
            chunk = chunk < 16 ? 16 : (chunk + 3) / 4 * 4;
        }
        chunk = (chunk + k->rw - 1) / k->rw * k->rw; /* whole row groups (panels) from the matrix's first row */
        gpart *P = &g.p[g.np++];
        P->w = w[i];
        P->wdata = wdata;
        P->y = y[i];
        P->ldy = ldy[i];
        P->chunk = chunk;
        P->items = (long)((w[i]->ne1 + chunk - 1) / chunk);
        P->first = g.nitems;
        g.nitems += P->items;
    }
    if (g.np) pg_pool_run(pool, gemm_rows, &g);
}

void pg_matmul_q(pg_pool *pool, const pg_weight *w, const pg_qact *xq, float *y, int64_t ldy) {
    pg_matmul_q_multi(pool, &w, 1, xq, &y, &ldy);
}

void pg_matmul(pg_pool *pool, const pg_weight *w, const float *x, int64_t M, float *y, void *scratch) {
    pg_qact q = pg_qact_make(pool, w, x, w->ne0, w->ne0, M, scratch);
    pg_matmul_q(pool, w, &q, y, w->ne1);
}

void pg_weight_row(const pg_weight *w, int64_t r, float *dst) {
    const pg_type_traits *t = pg_type_get(w->type);
    PG_ASSERT(t && t->to_float && r >= 0 && r < w->ne1);
    t->to_float((const char *)w->data + (size_t)r * w->row_bytes, dst, w->ne0);
}
