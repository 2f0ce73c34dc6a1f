/* test_ops.c - the row kernels of tensor/ops.h at every dispatch level
 * against the scalar reference, with named tolerances, plus RoPE and the
 * matmul's independence from batch size and thread count. */
#include "test.h"

#include "base/cpu.h"
#include "base/pool.h"
#include "tensor/kernels.h"
#include "tensor/matmul.h"
#include "tensor/ops.h"
#include "tensor/types.h"

/* Tolerances (relative to the magnitude of the result). */
#define TOL_RMSNORM 1e-5  /* float vs double accumulation of the mean square */
#define TOL_SOFTMAX 2e-6  /* polynomial exp: ~2e-7 relative per element, renormalised */
#define TOL_GLU 2e-6      /* exp / tanh approximations */
#define TOL_DOT 1e-5      /* lane-wise partial sums vs sequential */

static uint64_t rng = 88172645463325252ull;
static float frand(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (float)((rng >> 11) * (1.0 / 9007199254740992.0)) * 2.0f - 1.0f;
}

static double maxrel(const float *a, const float *b, int n) {
    double mx = 0, scale = 1e-30;
    for (int i = 0; i < n; i++) scale = fmax(scale, fabs(b[i]));
    for (int i = 0; i < n; i++) mx = fmax(mx, fabs((double)a[i] - b[i]) / scale);
    return mx;
}

static void test_levels(void) {
    const pg_ops *ref = pg_ops_get_level(PG_CPU_SCALAR);
    static const int lens[] = {1, 7, 8, 15, 64, 100, 256, 2048, 5632};
    for (int lv = 0; lv <= (int)pg_cpu_level_max(); lv++) {
        const pg_ops *o = pg_ops_get_level((pg_cpu_level)lv);
        for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++) {
            int n = lens[li];
            float *x = malloc(n * 4), *w = malloc(n * 4), *u = malloc(n * 4), *a = malloc(n * 4), *b = malloc(n * 4);
            for (int i = 0; i < n; i++) {
                x[i] = frand() * 4;
                w[i] = 1 + frand() * 0.1f;
                u[i] = frand();
            }
            o->rmsnorm(a, x, w, n, 1e-5f);
            ref->rmsnorm(b, x, w, n, 1e-5f);
            CHECKF(maxrel(a, b, n) <= TOL_RMSNORM, "rmsnorm level %d n %d: %g", lv, n, maxrel(a, b, n));
            memcpy(a, x, n * 4);
            memcpy(b, x, n * 4);
            for (int i = 0; i < n; i++) a[i] = b[i] = x[i] * 10; /* wide range */
            o->softmax(a, n);
            ref->softmax(b, n);
            CHECKF(maxrel(a, b, n) <= TOL_SOFTMAX, "softmax level %d n %d: %g", lv, n, maxrel(a, b, n));
            double s = 0;
            for (int i = 0; i < n; i++) s += a[i];
            CHECKF(fabs(s - 1) < 1e-5, "softmax sums to %g", s);
            memcpy(a, x, n * 4);
            memcpy(b, x, n * 4);
            o->swiglu(a, u, n);
            ref->swiglu(b, u, n);
            CHECKF(maxrel(a, b, n) <= TOL_GLU, "swiglu level %d n %d: %g", lv, n, maxrel(a, b, n));
            memcpy(a, x, n * 4);
            memcpy(b, x, n * 4);
            o->geglu(a, u, n);
            ref->geglu(b, u, n);
            CHECKF(maxrel(a, b, n) <= TOL_GLU, "geglu level %d n %d: %g", lv, n, maxrel(a, b, n));
            /* dot / axpy are the float helpers of the level (kernels.h) */
            const pg_float_kernels *fk = pg_float_kernels_get((pg_cpu_level)lv);
            double d1 = fk->dot(x, u, n), d2 = pg_dot_ref(x, u, n), mag = 0;
            for (int i = 0; i < n; i++) mag += fabs((double)x[i] * u[i]);
            CHECKF(fabs(d1 - d2) <= TOL_DOT * mag + 1e-30, "dot level %d n %d", lv, n);
            /* The reduction order is a function of n only, never of the
             * operands' alignment: the same values one float further into
             * a buffer give the same bits. */
            float *xs = malloc((size_t)(n + 1) * 4), *us = malloc((size_t)(n + 1) * 4);
            memcpy(xs + 1, x, n * 4);
            memcpy(us + 1, u, n * 4);
            float d3 = fk->dot(xs + 1, us + 1, n);
            CHECKF(memcmp(&d3, &(float){(float)d1}, 4) == 0, "dot level %d n %d depends on alignment", lv, n);
            free(xs), free(us);
            memcpy(a, u, n * 4);
            memcpy(b, u, n * 4);
            fk->axpy(a, 0.37f, x, n);
            pg_axpy_ref(b, 0.37f, x, n);
            CHECKF(maxrel(a, b, n) <= 1e-6, "axpy level %d n %d", lv, n);
            free(x), free(w), free(u), free(a), free(b);
        }
    }
}

static void test_rope(void) {
    /* position 0 is the identity; rotation preserves pair norms; NORM vs
     * NEOX rotate different pairs; known value at pos 1, pair 0. */
    float x[64], y[64];
    for (int i = 0; i < 64; i++) x[i] = frand();
    memcpy(y, x, sizeof x);
    pg_rope(y, 64, 64, 0, 10000.0f, 1.0f, NULL, 1.0f, PG_ROPE_NORM);
    CHECK(!memcmp(x, y, sizeof x));
    memcpy(y, x, sizeof x);
    pg_rope(y, 64, 64, 1, 10000.0f, 1.0f, NULL, 1.0f, PG_ROPE_NORM);
    CHECK(fabsf(y[0] - (x[0] * cosf(1) - x[1] * sinf(1))) < 1e-6f);
    CHECK(fabsf(y[1] - (x[0] * sinf(1) + x[1] * cosf(1))) < 1e-6f);
    for (int i = 0; i < 32; i++)
        CHECK(fabsf(hypotf(y[2 * i], y[2 * i + 1]) - hypotf(x[2 * i], x[2 * i + 1])) < 1e-5f);
    memcpy(y, x, sizeof x);
    pg_rope(y, 64, 64, 1, 10000.0f, 1.0f, NULL, 1.0f, PG_ROPE_NEOX);
    CHECK(fabsf(y[0] - (x[0] * cosf(1) - x[32] * sinf(1))) < 1e-6f);
    CHECK(fabsf(y[32] - (x[0] * sinf(1) + x[32] * cosf(1))) < 1e-6f);
    /* freq factors divide theta: factor 2 at pos 2 == no factor at pos 1 for pair 0 */
    float ff[32];
    for (int i = 0; i < 32; i++) ff[i] = 2.0f;
    float z[64];
    memcpy(y, x, sizeof x);
    memcpy(z, x, sizeof x);
    pg_rope(y, 64, 64, 2, 10000.0f, 1.0f, ff, 1.0f, PG_ROPE_NORM);
    pg_rope(z, 64, 64, 1, 10000.0f, 1.0f, NULL, 1.0f, PG_ROPE_NORM);
    CHECK(fabsf(y[0] - z[0]) < 1e-6f && fabsf(y[1] - z[1]) < 1e-6f);
    /* partial rotation leaves the tail alone */
    memcpy(y, x, sizeof x);
    pg_rope(y, 64, 32, 5, 10000.0f, 1.0f, NULL, 1.0f, PG_ROPE_NEOX);
    CHECK(!memcmp(y + 32, x + 32, 32 * 4));
}

/* Y rows must not depend on M or the number of threads. */
static void test_matmul_invariance(void) {
    const int K = 512, N = 96, M = 9;
    int types[] = {PG_TYPE_F32, PG_TYPE_F16, PG_TYPE_Q4_0, PG_TYPE_Q8_0, PG_TYPE_Q4_K, PG_TYPE_Q6_K};
    float *wf = malloc((size_t)K * N * 4), *x = malloc((size_t)K * M * 4);
    for (int i = 0; i < K * N; i++) wf[i] = frand();
    for (int i = 0; i < K * M; i++) x[i] = frand();
    pg_pool *p1 = pg_pool_create(1), *p2 = pg_pool_create(2), *p3 = pg_pool_create(3);
    for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++) {
        const pg_type_traits *tr = pg_type_get(types[ti]);
        size_t rb = pg_row_size(types[ti], K);
        char *wd = malloc(rb * N);
        for (int n = 0; n < N; n++) tr->from_float(wf + (size_t)n * K, wd + rb * n, K);
        pg_weight w = {types[ti], K, N, rb, wd, NULL, NULL};
        void *scr = malloc(pg_qact_size(types[ti], K, M) + 64);
        float *yall = malloc((size_t)M * N * 4), *yone = malloc((size_t)N * 4), *y3 = malloc((size_t)M * N * 4);
        pg_matmul(p2, &w, x, M, yall, scr);
        pg_matmul(p3, &w, x, M, y3, scr);
        CHECKF(!memcmp(yall, y3, (size_t)M * N * 4), "type %s: 2 vs 3 threads", tr->name);
        for (int m = 0; m < M; m++) {
            pg_matmul(p1, &w, x + (size_t)m * K, 1, yone, scr);
            CHECKF(!memcmp(yone, yall + (size_t)m * N, (size_t)N * 4), "type %s row %d alone vs in batch", tr->name, m);
        }
        /* against a float reference of the dequantized weights */
        float *row = malloc((size_t)K * 4);
        double worst = 0;
        for (int n = 0; n < N; n++) {
            pg_weight_row(&w, n, row);
            double d = 0, mag = 0;
            for (int k = 0; k < K; k++) {
                d += (double)row[k] * x[k];
                mag += fabs((double)row[k] * x[k]);
            }
            worst = fmax(worst, fabs(d - yall[n]) / mag);
        }
        /* activation quantization to 8 bits costs up to ~1% of sum|w x| */
        CHECKF(worst < (types[ti] == PG_TYPE_F32 || types[ti] == PG_TYPE_F16 ? 1e-5 : 2e-2), "type %s worst rel %g",
               tr->name, worst);
        free(row), free(wd), free(scr), free(yall), free(yone), free(y3);
    }
    pg_pool_destroy(p1), pg_pool_destroy(p2), pg_pool_destroy(p3);
    free(wf), free(x);
}

int main(void) {
    test_levels();
    test_rope();
    test_matmul_invariance();
    return t_done("test_ops");
}
