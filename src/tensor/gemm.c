/* gemm.c - dispatch of the tile kernels (see gemm.h). The kernels live in
 * x86/gemm_avx512.c and x86/gemm_avx2.c; other architectures and the scalar
 * level have none, and matmul falls back to per-element vec_dot. */
#include "tensor/gemm.h"

#include "tensor/types.h"

const pg_gemm_kernel *pg_gemm_get(int wtype, pg_cpu_level level) {
#if defined(__x86_64__)
    if (level >= PG_CPU_AVX512) return pg_gemm_avx512_get(wtype);
    if (level == PG_CPU_AVX2) return pg_gemm_avx2_get(wtype);
#endif
    (void)wtype;
    (void)level;
    return 0;
}

const pg_gemm_kernel *pg_gemm_get_packed(int wtype, pg_cpu_level level) {
#if defined(__x86_64__)
    if (level >= PG_CPU_AVX512) {
        if (wtype == PG_TYPE_Q4_0) return pg_gemm_pq4_0_avx512();
        if (wtype == PG_TYPE_Q4_K) return pg_gemm_pq4_K_avx512();
        if (wtype == PG_TYPE_Q6_K) return pg_gemm_pq6_K_avx512();
        return pg_gemm_avx512_copy_get(wtype);
    }
    if (level == PG_CPU_AVX2) {
        if (wtype == PG_TYPE_Q4_0) return pg_gemm_pq4_0_avx2();
        if (wtype == PG_TYPE_Q4_K) return pg_gemm_pq4_K_avx2();
        if (wtype == PG_TYPE_Q6_K) return pg_gemm_pq6_K_avx2();
        if (wtype == PG_TYPE_Q8_0) return pg_gemm_pq8_0_avx2();
    }
#endif
    (void)wtype;
    (void)level;
    return 0;
}
