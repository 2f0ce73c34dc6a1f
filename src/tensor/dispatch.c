/* dispatch.c - the per-level kernel sets (see dispatch.h): three const
 * tables, one per level, built from the kernel files' own const tables. The
 * only place that knows which file provides what at which level. */
#include "tensor/dispatch.h"

#if defined(__x86_64__)
static const pg_gemm_kernel *const packed_avx2[PG_TYPE_COUNT] = {
    [PG_TYPE_Q4_0] = &pg_gemm_pq4_0_avx2,
    [PG_TYPE_Q4_K] = &pg_gemm_pq4_K_avx2,
    [PG_TYPE_Q6_K] = &pg_gemm_pq6_K_avx2,
    [PG_TYPE_Q8_0] = &pg_gemm_pq8_0_avx2,
};
static const pg_gemm_kernel *const packed_avx512[PG_TYPE_COUNT] = {
    [PG_TYPE_Q4_0] = &pg_gemm_pq4_0_avx512,
    [PG_TYPE_Q4_K] = &pg_gemm_pq4_K_avx512,
    [PG_TYPE_Q6_K] = &pg_gemm_pq6_K_avx512,
    [PG_TYPE_Q8_0] = &pg_gemm_q8_0_copy_avx512,
};
#endif

static const pg_kernel_set sets[] = {
    [PG_CPU_SCALAR] = {PG_CPU_SCALAR, &pg_float_kernels_ref, &pg_ops_ref, &pg_attn_kernels_ref,
                       {pg_types_float_ref, pg_types_legacy_ref, pg_types_kquants_ref}, NULL, NULL},
#if defined(__x86_64__)
    [PG_CPU_AVX2] = {PG_CPU_AVX2, &pg_float_kernels_avx2, &pg_ops_avx2, &pg_attn_kernels_avx2,
                     {pg_types_legacy_avx2, pg_types_kquants_avx2, NULL}, pg_gemm_stored_avx2, packed_avx2},
    [PG_CPU_AVX512] = {PG_CPU_AVX512, &pg_float_kernels_avx512, &pg_ops_avx2, &pg_attn_kernels_avx512,
                       {pg_types_legacy_avx512, pg_types_kquants_avx512, NULL}, pg_gemm_stored_avx512,
                       packed_avx512},
#endif
};
enum { N_SETS = (int)(sizeof sets / sizeof sets[0]) };

const pg_kernel_set *pg_kernels_at(pg_cpu_level level) {
    int l = (int)level;
    if (l > (int)pg_cpu_level_max()) l = (int)pg_cpu_level_max();
    if (l >= N_SETS) l = N_SETS - 1;
    if (l < 0) l = 0;
    return &sets[l];
}

/* pg_cpu_level_get() is already capped at the CPU's level. */
const pg_kernel_set *pg_kernels_cur(void) {
    int l = (int)pg_cpu_level_get();
    return &sets[l < N_SETS ? l : N_SETS - 1];
}
