/* register.h - registration entry points of the x86 SIMD kernel files.
 *
 * kernels_avx2.c / kernels_avx512.c define pg_kernels_register_avx2/_avx512
 * (called from types.c) and forward to one function per kernel family so
 * that the legacy (32-element) and K-quant files stay independent:
 *   legacy_avx2.c / legacy_avx512.c   -> pg_kernels_register_legacy_*
 *   kquants_avx2.c / kquants_avx512.c -> pg_kernels_register_kquants_*
 * Each calls pg_type_register(type, PG_CPU_AVX2 or PG_CPU_AVX512, ...) for
 * its own types only. They are only called on x86-64. */
#ifndef PG_TENSOR_X86_REGISTER_H
#define PG_TENSOR_X86_REGISTER_H

void pg_kernels_register_legacy_avx2(void);
void pg_kernels_register_legacy_avx512(void);
void pg_kernels_register_kquants_avx2(void);
void pg_kernels_register_kquants_avx512(void);

#endif
