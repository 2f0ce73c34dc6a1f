/* attn_bench.c - `pagoda bench attn`: the attention of one batched decode
 * step, per KV cache type, with the kernels and call pattern of forward.c.
 *
 * Shape (defaults: TinyLlama 1.1B at 16 streams with ~1000-token contexts):
 * S sequences of C positions each, L layers, Hkv KV heads of head_dim hd,
 * G query heads per KV head. One step = for every (sequence, layer, KV
 * head): the G query rows packed into one tile, qk over the C keys in runs
 * of one KV block (16 positions), softmax per row, pv over the C values
 * per block run: exactly the kernel calls forward.c makes for a decode
 * token. Items (sequence, KV head) are dealt round-robin over the threads,
 * as in forward.c. Each type has its own K/V pool of S * L * C rows of K
 * and of V (f16 for TinyLlama: 16 * 22 * 1000 * 512 B * 2 = 360 MB, q8_0
 * 191 MB), far beyond the caches, so every step streams its KV from DRAM
 * as a real batch does (no sharing between sequences).
 *
 * Types are measured interleaved run by run (type A, type B, type A, ...),
 * each figure the median over runs: wall ms per step, the KV GB/s it
 * reads, the time relative to the first type, and the process CPU ms of
 * the step (on a loaded host with --threads 1 the CPU time leaves out the
 * time the thread waited for a core; with more threads it includes the
 * pool's spinning). */
#include "bench.h"

#include "base/bigmem.h"
#include "base/pool.h"
#include "model/model.h"
#include "tensor/attn.h"
#include "tensor/ops.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { AB_BS = 16, AB_MAXT = 4 };

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static double cpu_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int dcmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

typedef struct {
    int S, C, L, Hkv, G, hd, fmt;
    size_t row_bytes; /* one position's K (or V) row: Hkv * hd values */
    char *k, *v;      /* [S][L][C] rows each */
    const float *q;   /* [S][Hkv * G * hd]: the step's query rows (the same every layer) */
    float *scores;    /* per thread [G][C] */
    float *out;       /* per thread [G][hd] */
    float sink;
} ab_job;

static void ab_step(void *arg, int ith, int nth) {
    ab_job *j = arg;
    const pg_attn_kernels *ak = pg_attn_kernels_cur();
    const pg_ops *ops = pg_ops_get();
    float qt[512 * PG_ATTN_RT];
    float *sc = j->scores + (size_t)ith * j->G * j->C, *o = j->out + (size_t)ith * j->G * j->hd;
    const int R = j->G < PG_ATTN_RT ? j->G : PG_ATTN_RT;
    float acc = 0;
    long it = 0;
    for (int l = 0; l < j->L; l++)
        for (int s = 0; s < j->S; s++)
            for (int kh = 0; kh < j->Hkv; kh++, it++) {
                if (it % nth != ith) continue;
                const size_t base = ((size_t)s * j->L + l) * j->C * j->row_bytes;
                const float *q = j->q + ((size_t)s * j->Hkv + kh) * j->G * j->hd;
                pg_attn_pack_q(q, R, (size_t)j->hd, j->hd, qt);
                for (int p = 0; p < j->C; p += AB_BS) {
                    const int cnt = j->C - p < AB_BS ? j->C - p : AB_BS;
                    if (p + cnt < j->C) /* as forward.c: the next block while this one computes */
                        pg_attn_prefetch(j->k + base + (size_t)(p + cnt) * j->row_bytes, j->row_bytes, j->fmt, kh * j->hd,
                                         j->hd, j->C - p - cnt < AB_BS ? j->C - p - cnt : AB_BS);
                    ak->qk(qt, R, j->hd, j->k + base + (size_t)p * j->row_bytes, j->row_bytes, j->fmt, kh * j->hd, cnt,
                           0.125f, sc + p, (size_t)j->C);
                }
                for (int r = 0; r < R; r++) ops->softmax(sc + (size_t)r * j->C, j->C);
                memset(o, 0, (size_t)R * j->hd * sizeof(float));
                for (int p = 0; p < j->C; p += AB_BS) {
                    const int cnt = j->C - p < AB_BS ? j->C - p : AB_BS;
                    if (p + cnt < j->C)
                        pg_attn_prefetch(j->v + base + (size_t)(p + cnt) * j->row_bytes, j->row_bytes, j->fmt, kh * j->hd,
                                         j->hd, j->C - p - cnt < AB_BS ? j->C - p - cnt : AB_BS);
                    ak->pv(sc + p, (size_t)j->C, R, j->v + base + (size_t)p * j->row_bytes, j->row_bytes, j->fmt,
                           kh * j->hd, cnt, j->hd, o, (size_t)j->hd);
                }
                acc += o[0];
            }
    if (ith == 0) j->sink = acc;
}

static int parse_long(const char *v, long lo, long hi, long *out) {
    char *end;
    long x = strtol(v, &end, 10);
    if (!*v || *end || x < lo || x > hi) return -1;
    *out = x;
    return 0;
}

int pg_bench_attn(int argc, char **argv) {
    long S = 16, C = 1000, L = 22, Hkv = 4, G = 8, hd = 64, runs = 7, threads = 2;
    const char *types = "f16,q8_0";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        long *dst = !strcmp(a, "--seqs")       ? &S
                    : !strcmp(a, "--ctx")      ? &C
                    : !strcmp(a, "--layers")   ? &L
                    : !strcmp(a, "--kv-heads") ? &Hkv
                    : !strcmp(a, "--group")    ? &G
                    : !strcmp(a, "--head-dim") ? &hd
                    : !strcmp(a, "--runs")     ? &runs
                    : !strcmp(a, "--threads")  ? &threads
                                               : NULL;
        if (!v) {
            fprintf(stderr, "bench attn: %s needs a value\n", a);
            return 2;
        }
        if (!strcmp(a, "--kv-types")) {
            types = v;
        } else if (!dst || parse_long(v, 1, dst == &C ? 1 << 20 : 1 << 12, dst) < 0) {
            fprintf(stderr, "bench attn: bad option or value '%s %s'\n", a, v);
            return 2;
        }
        i++;
    }
    if (hd > 512 || G > PG_ATTN_RT || runs > 101) {
        fprintf(stderr, "bench attn: head-dim <= 512, group <= %d, runs <= 101\n", PG_ATTN_RT);
        return 2;
    }
    int fmts[AB_MAXT], nt = 0;
    char buf[128];
    snprintf(buf, sizeof buf, "%s", types);
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        int f = pg_kv_type_parse(t);
        if (f < 0 || nt == AB_MAXT) {
            fprintf(stderr, "bench attn: --kv-types: '%s' is not one of f16|q8_0|q4_0|f32 (at most %d)\n", t, AB_MAXT);
            return 2;
        }
        fmts[nt++] = f;
    }
    pg_pool *pool = pg_pool_create((int)threads);
    ab_job jobs[AB_MAXT];
    memset(jobs, 0, sizeof jobs);
    const size_t n_el = (size_t)Hkv * hd, rows = (size_t)S * L * C;
    float *q = malloc((size_t)S * Hkv * G * hd * sizeof(float)), *x = malloc(n_el * sizeof(float));
    float *scores = malloc((size_t)threads * G * C * sizeof(float)), *out = malloc((size_t)threads * G * hd * sizeof(float));
    int rc = 1;
    if (!pool || !q || !x || !scores || !out) goto done;
    uint64_t r = 0x9e3779b97f4a7c15ull;
#define RND() (r ^= r << 13, r ^= r >> 7, r ^= r << 17, (float)((r >> 40) & 0xffffff) / (float)(1 << 23) - 1.0f)
    for (size_t i = 0; i < (size_t)S * Hkv * G * hd; i++) q[i] = RND();
    for (int t = 0; t < nt; t++) {
        ab_job *j = &jobs[t];
        *j = (ab_job){(int)S, (int)C, (int)L, (int)Hkv, (int)G, (int)hd, fmts[t], pg_attn_row_bytes(fmts[t], n_el),
                      NULL, NULL, q, scores, out, 0};
        j->k = pg_bigmem_alloc(rows * j->row_bytes);
        j->v = pg_bigmem_alloc(rows * j->row_bytes);
        if (!j->k || !j->v) {
            fprintf(stderr, "bench attn: cannot allocate %zu bytes of KV\n", 2 * rows * j->row_bytes);
            goto done;
        }
        for (size_t i = 0; i < rows; i++) {
            for (size_t e = 0; e < n_el; e++) x[e] = RND();
            pg_attn_store_row(fmts[t], x, n_el, j->k + i * j->row_bytes);
            for (size_t e = 0; e < n_el; e++) x[e] = RND();
            pg_attn_store_row(fmts[t], x, n_el, j->v + i * j->row_bytes);
        }
    }
#undef RND
    printf("attention of one decode step: %ld sequences x %ld positions, %ld layers, %ld KV heads x %ld query heads, "
           "head_dim %ld, %ld threads, %s\n",
           S, C, L, Hkv, G, hd, threads, pg_cpu_level_name(pg_cpu_level_get()));
    double t_ms[AB_MAXT][101], c_ms[AB_MAXT][101];
    for (int t = 0; t < nt; t++) pg_pool_run(pool, ab_step, &jobs[t]); /* warm-up */
    for (long k = 0; k < runs; k++)
        for (int t = 0; t < nt; t++) {
            double t0 = now_s(), c0 = cpu_s();
            pg_pool_run(pool, ab_step, &jobs[t]);
            t_ms[t][k] = (now_s() - t0) * 1e3;
            c_ms[t][k] = (cpu_s() - c0) * 1e3;
        }
    double med0 = 0, cmed0 = 0;
    for (int t = 0; t < nt; t++) {
        qsort(t_ms[t], (size_t)runs, sizeof(double), dcmp);
        qsort(c_ms[t], (size_t)runs, sizeof(double), dcmp);
        const double med = t_ms[t][runs / 2], bytes = 2.0 * (double)rows * (double)jobs[t].row_bytes;
        if (t == 0) med0 = med;
        if (t == 0) cmed0 = c_ms[t][runs / 2];
        printf("  %-5s %4zu bytes/row  KV %7.1f MB  step %8.2f ms (min %.2f, max %.2f)  %6.2f GB/s  %.3fx the %s "
               "time; CPU %8.2f ms (%.3fx)\n",
               pg_kv_type_name(fmts[t]), jobs[t].row_bytes, bytes / 1e6, med, t_ms[t][0], t_ms[t][runs - 1],
               bytes / (med * 1e6), med / med0, pg_kv_type_name(fmts[0]), c_ms[t][runs / 2],
               c_ms[t][runs / 2] / cmed0);
    }
    rc = 0;
done:
    for (int t = 0; t < nt; t++) {
        pg_bigmem_free(jobs[t].k, rows * jobs[t].row_bytes);
        pg_bigmem_free(jobs[t].v, rows * jobs[t].row_bytes);
    }
    pg_pool_destroy(pool);
    free(q);
    free(x);
    free(scores);
    free(out);
    return rc;
}
