/* gemm_avx2.c - AVX2 tile kernels (see tensor/gemm.h). */
#include "tensor/gemm.h"
#include "tensor/types.h"

#include <stddef.h>

const pg_gemm_kernel *pg_gemm_avx2_get(int wtype) {
    (void)wtype;
    return NULL;
}
