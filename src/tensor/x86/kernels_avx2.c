/* kernels_avx2.c - AVX2 (+FMA+F16C) registration: forwards to the kernel
 * families (see register.h). Registering is always safe: the dispatcher only
 * hands these kernels out when the CPU level is AVX2 or above. */
#include "tensor/types.h"
#include "tensor/x86/register.h"

void pg_kernels_register_avx2(void);

void pg_kernels_register_avx2(void) {
    pg_kernels_register_legacy_avx2();
    pg_kernels_register_kquants_avx2();
}
