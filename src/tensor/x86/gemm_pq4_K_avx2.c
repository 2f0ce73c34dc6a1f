/* gemm_pq4_K_avx2.c - placeholder: no repacked AVX2 q4_K kernel yet
 * (matmul then reads the stored rows with x86/gemm_avx2.c). */
#include "tensor/gemm.h"

const pg_gemm_kernel *pg_gemm_pq4_K_avx2(void) { return 0; }
