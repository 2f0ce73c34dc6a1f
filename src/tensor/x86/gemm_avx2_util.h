/* gemm_avx2_util.h - small loads shared by the AVX2 repacked-panel kernels
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

#endif
