/* kquants_avx512.c - AVX-512 (F/BW/VL/DQ + VNNI) K-quant kernels. The same
 * sources as the AVX2 file (kquants_x86.h) compiled with AVX-512 flags:
 * Q4_K and Q6_K (the q4_K_M mix) have 512-bit kernels; the other vec_dots
 * stay 256-bit but fuse multiply-add into vpdpwssd; Q8_K quantization uses
 * 512-bit vectors with a saturating vpmovsdb. */
#include "tensor/x86/kquants_x86.h"
#include "tensor/x86/register.h"

void pg_kernels_register_kquants_avx512(void) {
    pg_type_register(PG_TYPE_Q2_K, PG_CPU_AVX512, NULL, NULL, kq_q2_K_vec_dot);
    pg_type_register(PG_TYPE_Q3_K, PG_CPU_AVX512, NULL, NULL, kq_q3_K_vec_dot);
    pg_type_register(PG_TYPE_Q4_K, PG_CPU_AVX512, NULL, NULL, kq_q4_K_vec_dot_512);
    pg_type_register(PG_TYPE_Q5_K, PG_CPU_AVX512, NULL, NULL, kq_q5_K_vec_dot);
    pg_type_register(PG_TYPE_Q6_K, PG_CPU_AVX512, NULL, NULL, kq_q6_K_vec_dot_512);
    pg_type_register(PG_TYPE_IQ4_XS, PG_CPU_AVX512, NULL, NULL, kq_iq4_xs_vec_dot);
    pg_type_register(PG_TYPE_Q8_K, PG_CPU_AVX512, NULL, kq_q8_K_from_float, NULL);
}
