/* cpu.c - CPUID/XGETBV based detection (x86-64); other CPUs get SCALAR. */
#include "base/cpu.h"

#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__)
#include <cpuid.h>
static unsigned long long xgetbv0(void) {
    unsigned eax, edx;
    __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
    return ((unsigned long long)edx << 32) | eax;
}
#endif

static pg_cpu_features g_feat;
static int g_detected;
static int g_level = -1;

const pg_cpu_features *pg_cpu_detect(void) {
    if (g_detected) return &g_feat;
    memset(&g_feat, 0, sizeof g_feat);
#if defined(__x86_64__)
    unsigned a, b, c, d;
    if (__get_cpuid(1, &a, &b, &c, &d)) {
        int osxsave = (c >> 27) & 1;
        int avx = (c >> 28) & 1;
        g_feat.fma = (c >> 12) & 1;
        g_feat.f16c = (c >> 29) & 1;
        unsigned long long xcr = osxsave ? xgetbv0() : 0;
        int ymm_ok = avx && ((xcr & 6) == 6);
        int zmm_ok = ymm_ok && ((xcr & 0xe0) == 0xe0);
        if (__get_cpuid_count(7, 0, &a, &b, &c, &d)) {
            g_feat.avx2 = ymm_ok && ((b >> 5) & 1);
            g_feat.avx512f = zmm_ok && ((b >> 16) & 1);
            g_feat.avx512dq = zmm_ok && ((b >> 17) & 1);
            g_feat.avx512bw = zmm_ok && ((b >> 30) & 1);
            g_feat.avx512vl = zmm_ok && ((b >> 31) & 1);
            g_feat.avx512vnni = zmm_ok && ((c >> 11) & 1);
        }
        if (__get_cpuid_count(7, 1, &a, &b, &c, &d)) {
            g_feat.avxvnni = ymm_ok && ((a >> 4) & 1);
            g_feat.avx512bf16 = zmm_ok && ((a >> 5) & 1);
        }
        if (!ymm_ok) g_feat.fma = g_feat.f16c = 0;
    }
#endif
    g_detected = 1;
    return &g_feat;
}

pg_cpu_level pg_cpu_level_max(void) {
    const pg_cpu_features *f = pg_cpu_detect();
    if (f->avx512f && f->avx512bw && f->avx512vl && f->avx512dq && f->avx512vnni && f->avx2 && f->fma && f->f16c)
        return PG_CPU_AVX512;
    if (f->avx2 && f->fma && f->f16c) return PG_CPU_AVX2;
    return PG_CPU_SCALAR;
}

pg_cpu_level pg_cpu_level_set(pg_cpu_level l) {
    pg_cpu_level m = pg_cpu_level_max();
    if ((int)l > (int)m) l = m;
    __atomic_store_n(&g_level, (int)l, __ATOMIC_RELEASE);
    return l;
}

pg_cpu_level pg_cpu_level_get(void) {
    int l = __atomic_load_n(&g_level, __ATOMIC_ACQUIRE);
    if (l >= 0) return (pg_cpu_level)l;
    pg_cpu_level want = pg_cpu_level_max();
    const char *env = getenv("PAGODA_CPU");
    if (env) {
        if (!strcmp(env, "scalar")) want = PG_CPU_SCALAR;
        else if (!strcmp(env, "avx2")) want = PG_CPU_AVX2;
        else if (!strcmp(env, "avx512")) want = PG_CPU_AVX512;
    }
    return pg_cpu_level_set(want);
}

const char *pg_cpu_level_name(pg_cpu_level l) {
    switch (l) {
    case PG_CPU_AVX512: return "avx512";
    case PG_CPU_AVX2: return "avx2";
    default: return "scalar";
    }
}
