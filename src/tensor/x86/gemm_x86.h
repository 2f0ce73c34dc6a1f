/* gemm_x86.h - internal helpers shared by gemm_avx2.c and gemm_avx512.c
 * (static inline: each file compiles its own copy with its ISA flags). */
#ifndef PG_TENSOR_X86_GEMM_X86_H
#define PG_TENSOR_X86_GEMM_X86_H

#include <stdint.h>
#include <string.h>

/* Q4_K / Q5_K: the 8 six-bit scales and mins of a super-block, one byte
 * each in *sc and *mn (byte j = sub-block j). Packing (a fact of the
 * format, see pg_kq_unpack_scale_min_k4 in ref/kquants_ref.h): bytes 0..3
 * hold sc[0..3] and the top 2 bits of sc[4..7], bytes 4..7 the same for
 * the mins, bytes 8..11 the low nibbles of sc[4..7] (low) and mn[4..7]
 * (high). Done on 32-bit words, four sub-blocks at a time. */
static inline void pg_gemm_q4k_scales(const uint8_t *q, uint64_t *sc, uint64_t *mn) {
    uint32_t a[3];
    memcpy(a, q, 12);
    const uint32_t m6 = 0x3f3f3f3f, m4 = 0x0f0f0f0f, m2 = 0x03030303;
    uint32_t s0 = a[0] & m6, s1 = (a[2] & m4) | (((a[0] >> 6) & m2) << 4);
    uint32_t n0 = a[1] & m6, n1 = ((a[2] >> 4) & m4) | (((a[1] >> 6) & m2) << 4);
    *sc = (uint64_t)s0 | (uint64_t)s1 << 32;
    *mn = (uint64_t)n0 | (uint64_t)n1 << 32;
}

#endif
