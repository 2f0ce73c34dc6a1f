/* kernels_avx512.c - AVX-512 (F/BW/VL/DQ + VNNI) registration: forwards to
 * the kernel families (see register.h). Only handed out at level AVX512. */
#include "tensor/types.h"
#include "tensor/x86/register.h"

void pg_kernels_register_avx512(void);

void pg_kernels_register_avx512(void) {
    pg_kernels_register_legacy_avx512();
    pg_kernels_register_kquants_avx512();
}
