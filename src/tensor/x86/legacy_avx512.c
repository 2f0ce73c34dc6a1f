/* legacy_avx512.c - the legacy (float and 32-element quant) kernels of
 * legacy_x86.h compiled with AVX-512 (F/BW/VL/DQ + VNNI) flags: 512-bit
 * float helpers, two blocks per register in the quant dots. */
#include "tensor/x86/legacy_x86.h"

const pg_float_kernels pg_float_kernels_avx512 = LX_FLOAT_KERNELS;
const pg_type_kernels pg_types_legacy_avx512[PG_TYPE_COUNT] = LX_TYPE_KERNELS;
