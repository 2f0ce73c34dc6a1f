/* kernels_bench.c - `pagoda bench kernels`: matmul kernel speed per weight
 * type beside this machine's roofs.
 *
 * Roofs, measured here with the same thread count, best of 5 runs (a roof
 * is what the machine can do; other load only lowers a run): read
 * bandwidth (a streaming read of a 512 MiB buffer, far larger than any
 * cache) and int8 multiply-add peak (a loop of independent vpdpbusd when
 * the CPU has AVX-512 VNNI, reported as 2 ops per multiply-add).
 *
 * For each type, an N x K weight matrix is quantized from random floats and
 * copied until the copies hold >= 256 MiB, so every GEMV pass streams its
 * weights from memory rather than the caches. Kernels: GEMV (M = 1) and
 * GEMM at M = 8, 16, 32, 128 through pg_matmul_q (activations quantized once,
 * outside the timing). Each run multiplies a round-robin sequence of the
 * copies; the figure is the median over runs of the per-matmul time, shown
 * as GB/s (weight bytes / time) and GOP/s (2*M*N*K / time). */
#include "bench.h"

#include "base/cpu.h"
#include "base/pool.h"
#include "tensor/matmul.h"
#include "tensor/types.h"

#include <immintrin.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int dcmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* ---- roofs ---- */

typedef struct {
    const uint64_t *buf;
    size_t n;
    uint64_t sink[64];
} bwjob;

static void bw_part(void *arg, int ith, int nth) {
    bwjob *j = arg;
    long lo, hi;
    pg_split_range((long)(j->n / 8), ith, nth, &lo, &hi);
    uint64_t a0 = 0, a1 = 0, a2 = 0, a3 = 0, a4 = 0, a5 = 0, a6 = 0, a7 = 0;
    for (long i = lo * 8; i < hi * 8; i += 8) {
        a0 += j->buf[i], a1 += j->buf[i + 1], a2 += j->buf[i + 2], a3 += j->buf[i + 3];
        a4 += j->buf[i + 4], a5 += j->buf[i + 5], a6 += j->buf[i + 6], a7 += j->buf[i + 7];
    }
    j->sink[ith % 64] = a0 ^ a1 ^ a2 ^ a3 ^ a4 ^ a5 ^ a6 ^ a7;
}

static double measure_bw(pg_pool *pool, int runs) {
    const size_t bytes = (size_t)512 << 20;
    bwjob j = {0};
    j.n = bytes / 8;
    uint64_t *b = malloc(bytes);
    if (!b) return 0;
    for (size_t i = 0; i < j.n; i++) b[i] = i;
    j.buf = b;
    double best[32];
    if (runs > 32) runs = 32;
    for (int r = 0; r < runs; r++) {
        double t0 = now_s();
        pg_pool_run(pool, bw_part, &j);
        best[r] = bytes / (now_s() - t0) / 1e9;
    }
    free(b);
    qsort(best, (size_t)runs, sizeof(double), dcmp);
    return best[runs - 1];
}

#if defined(__x86_64__)
typedef struct {
    long iters;
    int sink[64];
} vnnijob;

__attribute__((target("avx512f,avx512bw,avx512vnni"))) static void vnni_part(void *arg, int ith, int nth) {
    vnnijob *j = arg;
    __m512i a = _mm512_set1_epi8(3), b = _mm512_set1_epi8(5);
    __m512i c0 = _mm512_setzero_si512(), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0, c6 = c0, c7 = c0;
    for (long i = 0; i < j->iters; i++) {
        c0 = _mm512_dpbusd_epi32(c0, a, b), c1 = _mm512_dpbusd_epi32(c1, a, b);
        c2 = _mm512_dpbusd_epi32(c2, a, b), c3 = _mm512_dpbusd_epi32(c3, a, b);
        c4 = _mm512_dpbusd_epi32(c4, a, b), c5 = _mm512_dpbusd_epi32(c5, a, b);
        c6 = _mm512_dpbusd_epi32(c6, a, b), c7 = _mm512_dpbusd_epi32(c7, a, b);
        __asm__ volatile("" : "+v"(c0), "+v"(c1), "+v"(c2), "+v"(c3), "+v"(c4), "+v"(c5), "+v"(c6), "+v"(c7));
    }
    __m512i s = _mm512_add_epi32(_mm512_add_epi32(_mm512_add_epi32(c0, c1), _mm512_add_epi32(c2, c3)),
                                 _mm512_add_epi32(_mm512_add_epi32(c4, c5), _mm512_add_epi32(c6, c7)));
    j->sink[ith % 64] = _mm512_reduce_add_epi32(s);
    (void)nth;
}

/* The AVX2 int8 product without VNNI, as the AVX2 kernels use it: vpmaddubsw
 * (32 multiply-adds into int16 pairs) then vpaddw into an int16 sum. */
__attribute__((target("avx2"))) static void madd_part(void *arg, int ith, int nth) {
    vnnijob *j = arg;
    /* 8 distinct products (a_i x b_k) so none is shared between the sums */
    __m256i a0 = _mm256_set1_epi8(3), a1 = _mm256_set1_epi8(4), a2 = _mm256_set1_epi8(5), a3 = _mm256_set1_epi8(6);
    __m256i b0 = _mm256_set1_epi8(5), b1 = _mm256_set1_epi8(-7);
    __m256i c0 = _mm256_setzero_si256(), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0, c6 = c0, c7 = c0;
    for (long i = 0; i < j->iters; i++) {
        c0 = _mm256_add_epi16(c0, _mm256_maddubs_epi16(a0, b0)), c1 = _mm256_add_epi16(c1, _mm256_maddubs_epi16(a1, b0));
        c2 = _mm256_add_epi16(c2, _mm256_maddubs_epi16(a2, b0)), c3 = _mm256_add_epi16(c3, _mm256_maddubs_epi16(a3, b0));
        c4 = _mm256_add_epi16(c4, _mm256_maddubs_epi16(a0, b1)), c5 = _mm256_add_epi16(c5, _mm256_maddubs_epi16(a1, b1));
        c6 = _mm256_add_epi16(c6, _mm256_maddubs_epi16(a2, b1)), c7 = _mm256_add_epi16(c7, _mm256_maddubs_epi16(a3, b1));
        /* operands opaque: the products are recomputed every iteration */
        __asm__ volatile("" : "+x"(c0), "+x"(c1), "+x"(c2), "+x"(c3), "+x"(c4), "+x"(c5), "+x"(c6), "+x"(c7));
        __asm__ volatile("" : "+x"(a0), "+x"(a1), "+x"(a2), "+x"(a3), "+x"(b0), "+x"(b1));
    }
    __m256i s = _mm256_add_epi16(_mm256_add_epi16(_mm256_add_epi16(c0, c1), _mm256_add_epi16(c2, c3)),
                                 _mm256_add_epi16(_mm256_add_epi16(c4, c5), _mm256_add_epi16(c6, c7)));
    j->sink[ith % 64] = _mm256_extract_epi16(s, 0);
    (void)nth;
}

/* int8 GOP/s (2 ops per multiply-add) of the pool's threads: the vpdpbusd
 * loop with AVX-512 VNNI, else the vpmaddubsw loop with AVX2 (*what says
 * which); 0 without either. */
static double measure_int8_peak(pg_pool *pool, int runs, const char **what) {
    const pg_cpu_features *f = pg_cpu_detect();
    const int vnni = f->avx512vnni && f->avx512bw;
    *what = vnni ? "vpdpbusd loop" : "vpmaddubsw loop, no AVX-512 VNNI";
    if (!vnni && !f->avx2) return 0;
    vnnijob j = {.iters = vnni ? 20000000 : 40000000};
    double v[32];
    if (runs > 32) runs = 32;
    for (int r = 0; r < runs; r++) {
        double t0 = now_s();
        pg_pool_run(pool, vnni ? vnni_part : madd_part, &j);
        double dt = now_s() - t0;
        v[r] = (double)pg_pool_size(pool) * j.iters * 8 * (vnni ? 64 : 32) * 2 / dt / 1e9;
    }
    qsort(v, (size_t)runs, sizeof(double), dcmp);
    return v[runs - 1];
}
#else
static double measure_int8_peak(pg_pool *pool, int runs, const char **what) {
    (void)pool, (void)runs;
    *what = "no x86 int8 loop";
    return 0;
}
#endif

/* ---- kernels ---- */

static uint64_t rng = 0x853c49e6748fea9bull;
static float frand(void) {
    rng ^= rng >> 12, rng ^= rng << 25, rng ^= rng >> 27;
    return (float)(((rng * 0x2545f4914f6cdd1dull) >> 40) * (1.0 / 16777216.0)) - 0.5f;
}

static int parse_type(const char *s, size_t len) {
    for (int t = 0; t < PG_TYPE_COUNT; t++) {
        const pg_type_traits *tr = pg_type_get(t);
        if (tr && tr->weight_ok && strlen(tr->name) == len && !strncmp(tr->name, s, len)) return t;
    }
    return -1;
}

static int bench_type(pg_pool *pool, int type, int64_t K, int64_t N, int runs, double bw, double peak) {
    const pg_type_traits *t = pg_type_get(type);
    if (!t || !t->from_float || !t->vec_dot || K % t->blck_size) {
        fprintf(stderr, "bench kernels: type %s: no quantizer or K %% block size != 0\n", pg_type_name(type));
        return 1;
    }
    const size_t rb = pg_row_size(type, K), mbytes = rb * (size_t)N;
    int copies = (int)(((size_t)256 << 20) / mbytes) + 1;
    char *w = malloc(mbytes * (size_t)copies);
    float *rowf = malloc((size_t)K * 4);
    const int64_t Mmax = 128;
    float *x = malloc((size_t)(Mmax * K) * 4), *y = malloc((size_t)(Mmax * N) * 4);
    void *scratch = malloc(pg_qact_size(type, K, Mmax) + 64);
    if (!w || !rowf || !x || !y || !scratch) {
        free(w), free(rowf), free(x), free(y), free(scratch);
        fprintf(stderr, "bench kernels: out of memory\n");
        return 1;
    }
    for (int64_t n = 0; n < N; n++) {
        for (int64_t k = 0; k < K; k++) rowf[k] = frand();
        if (type == PG_TYPE_F32) memcpy(w + (size_t)n * rb, rowf, rb);
        else t->from_float(rowf, w + (size_t)n * rb, K);
    }
    for (int c = 1; c < copies; c++) memcpy(w + (size_t)c * mbytes, w, mbytes);
    for (int64_t i = 0; i < Mmax * K; i++) x[i] = frand();
    /* weights repacked at load by the model are benchmarked repacked too */
    pg_weight w0 = {type, K, N, rb, w, NULL, NULL};
    char *pw = NULL;
    if (pg_weight_pack_size(&w0, N) && (pw = aligned_alloc(64, (mbytes * (size_t)copies + 63) / 64 * 64))) {
        pg_weight_pack(&w0, N, pw);
        for (int c = 1; c < copies; c++) memcpy(pw + (size_t)c * mbytes, pw, mbytes);
        printf("%-7s (weights repacked at load)\n", pg_type_name(type));
    }

    static const int64_t Ms[] = {1, 8, 16, 32, 128};
    for (size_t mi = 0; mi < sizeof Ms / sizeof Ms[0]; mi++) {
        const int64_t M = Ms[mi];
        const double ops = 2.0 * (double)M * (double)N * (double)K;
        pg_qact q = pg_qact_make(pool, &w0, x, K, K, M, scratch);
        /* matmuls per run: all copies for GEMV (memory-bound), else enough for ~0.2 s at 20 GOP/s */
        int per_run = M == 1 ? copies : (int)(0.2 * 20e9 / ops) + 1;
        if (per_run > copies) per_run = copies;
        double v[64];
        int nr = runs > 64 ? 64 : runs;
        int ci = 0;
        for (int r = 0; r < nr; r++) {
            double t0 = now_s();
            for (int k = 0; k < per_run; k++) {
                pg_weight wt = {type, K, N, rb, w + (size_t)ci * mbytes, pw ? pw + (size_t)ci * mbytes : NULL, w0.pk};
                ci = (ci + 1) % copies;
                pg_matmul_q(pool, &wt, &q, y, N);
            }
            v[r] = (now_s() - t0) / per_run;
        }
        qsort(v, (size_t)nr, sizeof(double), dcmp);
        double tm = v[nr / 2];
        double gbs = (double)mbytes / tm / 1e9, gops = ops / tm / 1e9;
        printf("%-7s %-10s M=%-4lld %9.3f ms %8.2f GB/s %8.1f GOP/s", pg_type_name(type), M == 1 ? "gemv" : "gemm",
               (long long)M, tm * 1e3, gbs, gops);
        if (M == 1 && bw > 0) printf("   %5.1f%% of bw roof", 100 * gbs / bw);
        if (M > 1 && peak > 0) printf("   %5.1f%% of int8 peak", 100 * gops / peak);
        printf("\n");
        fflush(stdout);
    }
    free(w), free(rowf), free(x), free(y), free(scratch), free(pw);
    return 0;
}

static int usage(void) {
    fprintf(stderr, "usage: pagoda bench kernels [--threads N] [--types q4_0,q8_0,q4_K,q6_K] [--k K] [--n N] [--runs R]\n");
    return 2;
}

int pg_bench_kernels(int argc, char **argv) {
    int threads = 2, runs = 7;
    int64_t K = 2048, N = 5632;
    const char *types = "q4_0,q8_0,q4_K,q6_K";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) return usage(), 0;
        if (!v) return usage();
        if (!strcmp(a, "--threads")) threads = atoi(v);
        else if (!strcmp(a, "--types")) types = v;
        else if (!strcmp(a, "--k")) K = atoll(v);
        else if (!strcmp(a, "--n")) N = atoll(v);
        else if (!strcmp(a, "--runs")) runs = atoi(v);
        else return usage();
        i++;
    }
    if (threads < 1 || threads > 256 || runs < 1 || K < 1 || K > (1 << 20) || N < 1 || N > (1 << 20)) return usage();
    pg_pool *pool = pg_pool_create(threads);
    if (!pool) {
        fprintf(stderr, "bench kernels: cannot create the thread pool\n");
        return 1;
    }
    const char *pwhat = "";
    double bw = measure_bw(pool, 5), peak = measure_int8_peak(pool, 5, &pwhat);
    printf("pagoda bench kernels: level %s, %d threads, K=%lld N=%lld, median of %d runs\n",
           pg_cpu_level_name(pg_cpu_level_get()), threads, (long long)K, (long long)N, runs);
    printf("roofs (best of 5): read bandwidth %.2f GB/s (512 MiB stream); int8 peak %.1f GOP/s (%s)\n", bw, peak, pwhat);
    int rc = 0;
    const char *p = types;
    while (*p && !rc) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        int t = parse_type(p, len);
        if (t < 0) {
            fprintf(stderr, "bench kernels: unknown weight type '%.*s'\n", (int)len, p);
            rc = 2;
            break;
        }
        rc = bench_type(pool, t, K, N, runs, bw, peak);
        p = e ? e + 1 : p + len;
    }
    pg_pool_destroy(pool);
    return rc;
}
