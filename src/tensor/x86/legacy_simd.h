/* legacy_simd.h - internal: the float helper tables of the x86 SIMD files,
 * read by tensor/kernels.c for dispatch. Not for use outside src/tensor. */
#ifndef PG_TENSOR_X86_LEGACY_SIMD_H
#define PG_TENSOR_X86_LEGACY_SIMD_H

#include "tensor/kernels.h"

extern const pg_float_kernels pg_float_kernels_avx2;
extern const pg_float_kernels pg_float_kernels_avx512;

#endif
