/* gemm_avx2_util.h - small loads and stores shared by the AVX2 repacked-panel kernels
 * (x86/gemm_pq*_avx2.c). Only for files compiled with the AVX2 flags.
 * Activation rows are byte arrays of any alignment, so every scalar read
 * goes through memcpy. */
#ifndef PG_TENSOR_X86_GEMM_AVX2_UTIL_H
#define PG_TENSOR_X86_GEMM_AVX2_UTIL_H

#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#define AI static inline __attribute__((always_inline))

/* The 4 bytes at p in every 32-bit lane (vpbroadcastd from memory). */
AI __m256i bcast4(const uint8_t *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return _mm256_set1_epi32(v);
}

/* The float at p. */
AI float ldf(const uint8_t *p) {
    float v;
    memcpy(&v, p, 4);
    return v;
}

/* 32 bytes at p: all 8 lanes (FULL), else only the lanes set in lanes
 * (a partial panel; the other lanes read as 0 and never fault). */
AI __m256i ld(const uint8_t *p, __m256i lanes, const int FULL) {
    return FULL ? _mm256_loadu_si256((const __m256i *)p) : _mm256_maskload_epi32((const int *)p, lanes);
}

/* Lane masks of a 16-row panel with L rows (1..16) read as two 8-lane
 * halves: rows 0..7 in *m0, rows 8..15 in *m1. */
AI void lanes16(int L, __m256i *m0, __m256i *m1) {
    const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    *m0 = _mm256_cmpgt_epi32(_mm256_set1_epi32(L), idx);
    *m1 = _mm256_cmpgt_epi32(_mm256_set1_epi32(L - 8), idx);
}

/* One output row of a 16-row panel: a0 to y[0..7], a1 to y[8..15]; a
 * partial panel (FULL = 0) writes only the lanes of its rows. */
AI void st16(float *y, __m256 a0, __m256 a1, __m256i m0, __m256i m1, const int FULL) {
    if (FULL) {
        _mm256_storeu_ps(y, a0);
        _mm256_storeu_ps(y + 8, a1);
    } else {
        _mm256_maskstore_ps(y, m0, a0);
        _mm256_maskstore_ps(y + 8, m1, a1);
    }
}

#endif
