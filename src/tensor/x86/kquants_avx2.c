/* kquants_avx2.c - AVX2 (+FMA+F16C) K-quant kernels: vec_dot for Q2_K..Q6_K
 * and IQ4_XS, and Q8_K quantization. The kernels live in kquants_x86.h
 * (shared with the AVX-512 file); dequantization and the weight quantizers
 * fall back to the scalar reference through the dispatcher. */
#include "tensor/x86/kquants_x86.h"
#include "tensor/dispatch.h"

const pg_type_kernels pg_types_kquants_avx2[PG_TYPE_COUNT] = {
    [PG_TYPE_Q2_K] = {NULL, NULL, kq_q2_K_vec_dot},
    [PG_TYPE_Q3_K] = {NULL, NULL, kq_q3_K_vec_dot},
    [PG_TYPE_Q4_K] = {NULL, NULL, kq_q4_K_vec_dot},
    [PG_TYPE_Q5_K] = {NULL, NULL, kq_q5_K_vec_dot},
    [PG_TYPE_Q6_K] = {NULL, NULL, kq_q6_K_vec_dot},
    [PG_TYPE_IQ4_XS] = {NULL, NULL, kq_iq4_xs_vec_dot},
    [PG_TYPE_Q8_K] = {NULL, kq_q8_K_from_float, NULL},
};
