/* gemm_pq4_0_avx512.c - AVX-512 VNNI kernels over q4_0 weights repacked at
 * load (see tensor/gemm.h, wpack). Not written yet: no kernel, so q4_0
 * weights stay as stored. */
#include "tensor/gemm.h"

const pg_gemm_kernel *pg_gemm_pq4_0_avx512(void) { return 0; }
