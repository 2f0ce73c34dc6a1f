/* legacy_avx2.c - the legacy (float and 32-element quant) kernels of
 * legacy_x86.h compiled with AVX2 (+FMA+F16C) flags: 256-bit float helpers,
 * one block per register in the quant dots. */
#include "tensor/x86/legacy_x86.h"

const pg_float_kernels pg_float_kernels_avx2 = LX_FLOAT_KERNELS;
const pg_type_kernels pg_types_legacy_avx2[PG_TYPE_COUNT] = LX_TYPE_KERNELS;
