/* test_gemm.c - pg_matmul / pg_matmul_q at every dispatch level the CPU
 * supports, for the types with tile kernels (q4_0, q8_0, q4_K, q6_K) and a
 * few that keep the per-element vec_dot path:
 *   1. batch invariance: every row of a batched product (M = 37, thread
 *      counts 1, 2, 3; sub-batches at other offsets, other output strides)
 *      is bit-identical to the same row computed alone (M = 1, one thread);
 *   2. accuracy: each element within GEMM_REL_TOL of a double dot of the
 *      dequantized weight row and the dequantized activation row (the
 *      activation quantization itself is the kernel's input, so the only
 *      error left is float rounding in the kernel);
 *   3. the tile kernel is used where promised (pg_gemm_get non-NULL).
 * Shapes are chosen to hit the edges: K with an odd number of 32-blocks
 * (and not a multiple of 16 blocks), K over several panel slices, N not a
 * multiple of 4 nor of the 64-row cache block, M not a multiple of the tile
 * and over one kernel call's 128 activation rows. */
#include "test.h"

#include "base/cpu.h"
#include "base/pool.h"
#include "tensor/blocks.h"
#include "tensor/fp16.h"
#include "tensor/gemm.h"
#include "tensor/matmul.h"
#include "tensor/types.h"

#include <stdint.h>

/* |y - ref| <= GEMM_REL_TOL * sum_k |w_k x_k| (+ tiny absolute slack) */
#define GEMM_REL_TOL 2e-5
/* Q8_1 activations (q4_1, q5_1) carry s = fp16(d * sum(qs)), which the
 * kernels use for the min term: the fp16 rounding of s adds up to ~5e-4. */
#define GEMM_REL_TOL_Q8_1 2e-3

static uint64_t rng_state = 0x243f6a8885a308d3ull;
static uint64_t rng_next(void) {
    uint64_t x = rng_state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    rng_state = x;
    return x * 0x2545f4914f6cdd1dull;
}
static float rng_gauss(void) {
    float s = 0;
    for (int i = 0; i < 4; i++) s += (float)((rng_next() >> 40) * (1.0 / 16777216.0));
    return (s - 2.0f) * 1.7320508f;
}

/* Dequantize one activation row of the Q8 formats (the kernel's input). */
static void deq_act(int type, const void *src, float *dst, int64_t K) {
    if (type == PG_TYPE_Q8_0) {
        const block_q8_0 *b = src;
        for (int64_t i = 0; i < K / 32; i++)
            for (int l = 0; l < 32; l++) dst[i * 32 + l] = pg_fp16_to_fp32(b[i].d) * b[i].qs[l];
    } else if (type == PG_TYPE_Q8_1) {
        const block_q8_1 *b = src;
        for (int64_t i = 0; i < K / 32; i++)
            for (int l = 0; l < 32; l++) dst[i * 32 + l] = pg_fp16_to_fp32(b[i].d) * b[i].qs[l];
    } else if (type == PG_TYPE_Q8_K) {
        const block_q8_K *b = src;
        for (int64_t i = 0; i < K / 256; i++)
            for (int l = 0; l < 256; l++) dst[i * 256 + l] = b[i].d * b[i].qs[l];
    } else {
        memcpy(dst, src, (size_t)K * 4);
    }
}

typedef struct {
    int type;
    int64_t K;
    int64_t M; /* 0: 37 */
} tcase;

static void run_case(tcase tc, int64_t N, pg_cpu_level level, pg_pool *pools[4], int pack) {
    const int64_t K = tc.K, M = tc.M ? tc.M : 37;
    const pg_type_traits *t = pg_type_get_level(tc.type, level);
    REQUIRE(t && t->from_float && t->to_float && t->vec_dot);
    const size_t rb = pg_row_size(tc.type, K);
    float *wf = malloc((size_t)(N * K) * 4), *x = malloc((size_t)(M * K) * 4);
    uint8_t *wq = malloc(rb * (size_t)N);
    REQUIRE(wf && x && wq);
    for (int64_t i = 0; i < N * K; i++) wf[i] = rng_gauss() * 0.05f;
    for (int64_t m = 0; m < M; m++) {
        float sc = (m % 5 == 0) ? 30.0f : 1.0f; /* rows of different magnitude */
        for (int64_t k = 0; k < K; k++) x[m * K + k] = rng_gauss() * sc * ((rng_next() % 53 == 0) ? 6.0f : 1.0f);
    }
    if (tc.type == PG_TYPE_F32) memcpy(wq, wf, rb * (size_t)N);
    else for (int64_t n = 0; n < N; n++) t->from_float(wf + n * K, wq + (size_t)n * rb, K);
    if (tc.type == PG_TYPE_Q8_0) /* one -128 per block (valid, though this quantizer never makes it) */
        for (int64_t i = 0; i < N * (K / 32); i++) ((block_q8_0 *)wq)[i].qs[i * 5 % 32] = -128;
    pg_weight w = {tc.type, K, N, rb, wq, NULL, NULL};
    void *pw = NULL;
    if (pack) { /* the same checks over weights repacked as the model does at load */
        const size_t ps = pg_weight_pack_size(&w, N);
        REQUIRE(ps == rb * (size_t)N);
        pw = aligned_alloc(64, (ps + 63) / 64 * 64);
        REQUIRE(pw);
        pg_weight_pack(&w, N, pw);
        REQUIRE(w.pdata == pw && w.pk);
    }
    const char *tag = pack ? " packed" : "";

    const size_t qs = pg_qact_size(tc.type, K, M) + 64;
    void *scratch = malloc(qs);
    const int64_t ldy = N + 3;
    float *alone = calloc((size_t)(M * ldy), 4), *y = malloc((size_t)(M * ldy) * 4);
    REQUIRE(scratch && alone && y);

    /* each row alone: M = 1, one thread */
    for (int64_t m = 0; m < M; m++) {
        pg_qact q = pg_qact_make(NULL, &w, x + m * K, K, K, 1, scratch);
        pg_matmul_q(NULL, &w, &q, alone + m * ldy, ldy);
    }

    /* accuracy against the dequantized operands */
    float *wrow = malloc((size_t)K * 4), *xrow = malloc((size_t)K * 4);
    REQUIRE(wrow && xrow);
    int bad = 0;
    double worst = 0;
    const int vtype = t->vec_dot_type;
    const pg_type_traits *vt = pg_type_get_level(vtype, level);
    void *abuf = malloc(pg_row_size(vtype, K));
    REQUIRE(vt && abuf);
    for (int64_t m = 0; m < M; m++) {
        /* the activation in vec_dot_type (packed layouts quantize the same
         * way, see tensor/gemm.h) */
        if (vtype == PG_TYPE_F32) memcpy(abuf, x + m * K, (size_t)K * 4);
        else vt->from_float(x + m * K, abuf, K);
        deq_act(vtype, abuf, xrow, K);
        for (int64_t n = 0; n < N; n++) {
            pg_type_get_level(tc.type, PG_CPU_SCALAR)->to_float(wq + (size_t)n * rb, wrow, K);
            double ref = 0, mag = 0;
            for (int64_t k = 0; k < K; k++) {
                ref += (double)wrow[k] * xrow[k];
                mag += fabs((double)wrow[k] * xrow[k]);
            }
            double tol = vtype == PG_TYPE_Q8_1 ? GEMM_REL_TOL_Q8_1 : GEMM_REL_TOL;
            double err = fabs(alone[m * ldy + n] - ref), lim = tol * mag + 1e-30;
            if (err / (mag + 1e-30) > worst) worst = err / (mag + 1e-30);
            if (!(err <= lim)) bad++;
        }
    }
    CHECKF(bad == 0, "%s@%s%s K=%lld: %d elements off the reference (worst rel %.3g)", pg_type_name(tc.type),
           pg_cpu_level_name(level), tag, (long long)K, bad, worst);

    /* whole batch, 1..3 threads: bit-identical to alone */
    for (int th = 1; th <= 3; th++) {
        memset(y, 0xff, (size_t)(M * ldy) * 4);
        pg_qact q = pg_qact_make(pools[th], &w, x, K, K, M, scratch);
        pg_matmul_q(pools[th], &w, &q, y, ldy);
        int diff = 0;
        for (int64_t m = 0; m < M; m++) diff += memcmp(y + m * ldy, alone + m * ldy, (size_t)N * 4) != 0;
        CHECKF(diff == 0, "%s@%s%s K=%lld threads %d: %d rows differ from M=1", pg_type_name(tc.type),
               pg_cpu_level_name(level), tag, (long long)K, th, diff);
    }
    /* sub-batches at other offsets and sizes (the row's position changes) */
    const int64_t subs[][2] = {{3, 2}, {1, 5}, {7, 9}, {30, 7}, {0, 4}, {11, 3}};
    for (size_t s = 0; s < sizeof subs / sizeof subs[0]; s++) {
        int64_t off = subs[s][0], mm = subs[s][1];
        if (off + mm > M) continue;
        pg_qact q = pg_qact_make(pools[2], &w, x + off * K, K, K, mm, scratch);
        pg_matmul_q(pools[2], &w, &q, y, N); /* dense output stride this time */
        int diff = 0;
        for (int64_t m = 0; m < mm; m++) diff += memcmp(y + m * N, alone + (off + m) * ldy, (size_t)N * 4) != 0;
        CHECKF(diff == 0, "%s@%s%s sub-batch %lld+%lld: %d rows differ", pg_type_name(tc.type), pg_cpu_level_name(level),
               tag, (long long)off, (long long)mm, diff);
    }
    /* the convenience entry point agrees too */
    pg_matmul(pools[3], &w, x, M, y, scratch);
    int diff = 0;
    for (int64_t m = 0; m < M; m++) diff += memcmp(y + m * N, alone + m * ldy, (size_t)N * 4) != 0;
    CHECKF(diff == 0, "%s@%s%s pg_matmul: %d rows differ", pg_type_name(tc.type), pg_cpu_level_name(level), tag, diff);

    free(pw);
    free(wf), free(x), free(wq), free(scratch), free(alone), free(y), free(wrow), free(xrow), free(abuf);
}

int main(void) {
    pg_pool *pools[4] = {NULL, pg_pool_create(1), pg_pool_create(2), pg_pool_create(3)};
    REQUIRE(pools[1] && pools[2] && pools[3]);
    const tcase cases[] = {
        {PG_TYPE_Q4_0, 800, 0}, {PG_TYPE_Q8_0, 800, 0}, {PG_TYPE_Q4_0, 64, 0}, {PG_TYPE_Q8_0, 32, 0},
        {PG_TYPE_Q4_K, 768, 0}, {PG_TYPE_Q6_K, 768, 0}, {PG_TYPE_Q4_K, 256, 0}, {PG_TYPE_Q6_K, 256, 0},
        /* AVX-512 q4_0/q8_0: K over several 4096-element panel slices (19
         * groups of 16 blocks, the last partial); M over one 64-row call */
        {PG_TYPE_Q4_0, 9600, 5}, {PG_TYPE_Q8_0, 8224, 3}, {PG_TYPE_Q4_0, 96, 150}, {PG_TYPE_Q8_0, 544, 131},
        /* AVX-512 q4_K / q6_K (one lane per sub-block): K over several panel
         * slices (q4_K with an odd super-block count); M over one 128-row call */
        {PG_TYPE_Q4_K, 9472, 5}, {PG_TYPE_Q4_K, 512, 133},
        {PG_TYPE_Q6_K, 4864, 6}, {PG_TYPE_Q6_K, 256, 131},
        /* the shapes of the 1.1B benchmark model (repacked kernels: whole
         * groups only, tails of a partial group) */
        {PG_TYPE_Q4_0, 2048, 0}, {PG_TYPE_Q4_0, 5632, 9}, {PG_TYPE_Q4_K, 2048, 0}, {PG_TYPE_Q4_K, 5632, 130},
        {PG_TYPE_Q6_K, 2048, 0}, {PG_TYPE_Q6_K, 5632, 11},
        /* per-element vec_dot path */
        {PG_TYPE_Q4_1, 96, 0},  {PG_TYPE_Q5_K, 512, 0}, {PG_TYPE_IQ4_NL, 96, 0},
    };
    const pg_cpu_level max = pg_cpu_level_max();
    int n_packed = 0;
    for (int l = PG_CPU_SCALAR; l <= (int)max; l++) {
        pg_cpu_level got = pg_cpu_level_set((pg_cpu_level)l);
        REQUIRE(got == (pg_cpu_level)l);
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
            run_case(cases[i], 133, (pg_cpu_level)l, pools, 0);
            const pg_weight probe = {cases[i].type, cases[i].K, 1, pg_row_size(cases[i].type, cases[i].K), NULL, NULL, NULL};
            if (pg_weight_pack_size(&probe, 1)) {
                run_case(cases[i], 133, (pg_cpu_level)l, pools, 1);
                n_packed++;
            }
        }
        /* N = 141: a last 16-row panel of 13 rows, so its second 8-lane
         * half is the partial one (N = 133 above: 5 rows, all in the first
         * half) */
        const int t141[] = {PG_TYPE_Q4_0, PG_TYPE_Q8_0, PG_TYPE_Q4_K, PG_TYPE_Q6_K};
        for (int k = 0; k < 4; k++) {
            const pg_weight probe = {t141[k], 512, 1, pg_row_size(t141[k], 512), NULL, NULL, NULL};
            for (int pack = 0; pack <= (pg_weight_pack_size(&probe, 1) != 0); pack++)
                run_case((tcase){t141[k], 512, 11}, 141, (pg_cpu_level)l, pools, pack);
        }
        fprintf(stderr, "level %s done\n", pg_cpu_level_name((pg_cpu_level)l));
    }
    /* the fast kernels are there where promised */
    if (max >= PG_CPU_AVX512) {
        CHECK(pg_gemm_get(PG_TYPE_Q4_0, PG_CPU_AVX512) && pg_gemm_get(PG_TYPE_Q8_0, PG_CPU_AVX512));
        CHECK(pg_gemm_get(PG_TYPE_Q4_K, PG_CPU_AVX512) && pg_gemm_get(PG_TYPE_Q6_K, PG_CPU_AVX512));
    }
    if (max >= PG_CPU_AVX2) {
        CHECK(pg_gemm_get(PG_TYPE_Q4_0, PG_CPU_AVX2) && pg_gemm_get(PG_TYPE_Q8_0, PG_CPU_AVX2));
        CHECK(pg_gemm_get(PG_TYPE_Q4_K, PG_CPU_AVX2) && pg_gemm_get(PG_TYPE_Q6_K, PG_CPU_AVX2));
    }
    CHECK(pg_gemm_get(PG_TYPE_Q4_0, PG_CPU_SCALAR) == NULL);
    fprintf(stderr, "%d cases with repacked weights\n", n_packed);
    /* packed activation layouts stay close to the Q8_0 / Q8_K row size
     * (scales and per-block sums ride along) */
    for (int64_t K = 512; K <= 16384; K += 512) {
        CHECK(pg_qact_size(PG_TYPE_Q4_0, K, 3) <= (pg_row_size(PG_TYPE_Q8_0, K) * 4 / 3 + 64) * 3);
        CHECK(pg_qact_size(PG_TYPE_Q8_0, K, 3) <= (pg_row_size(PG_TYPE_Q8_0, K) * 9 / 8 + 64) * 3);
    }
    for (int i = 1; i < 4; i++) pg_pool_destroy(pools[i]);
    return t_done("test_gemm");
}
