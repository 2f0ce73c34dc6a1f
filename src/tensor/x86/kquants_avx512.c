/* kquants_avx512.c - AVX-512 (F/BW/VL/DQ + VNNI) K-quant kernels. The same
 * sources as the AVX2 file (kquants_x86.h) compiled with AVX-512 flags:
 * Q4_K and Q6_K (the q4_K_M mix) have 512-bit kernels; the other vec_dots
 * stay 256-bit but fuse multiply-add into vpdpwssd; Q8_K quantization uses
 * 512-bit vectors with a saturating vpmovsdb. */
#include "tensor/x86/kquants_x86.h"
#include "tensor/dispatch.h"

const pg_type_kernels pg_types_kquants_avx512[PG_TYPE_COUNT] = {
    [PG_TYPE_Q2_K] = {NULL, NULL, kq_q2_K_vec_dot},
    [PG_TYPE_Q3_K] = {NULL, NULL, kq_q3_K_vec_dot},
    [PG_TYPE_Q4_K] = {NULL, NULL, kq_q4_K_vec_dot_512},
    [PG_TYPE_Q5_K] = {NULL, NULL, kq_q5_K_vec_dot},
    [PG_TYPE_Q6_K] = {NULL, NULL, kq_q6_K_vec_dot_512},
    [PG_TYPE_IQ4_XS] = {NULL, NULL, kq_iq4_xs_vec_dot},
    [PG_TYPE_Q8_K] = {NULL, kq_q8_K_from_float, NULL},
};
