/* blocks.h - bit-exact GGUF/ggml block layouts. All little-endian; fp16
 * fields are IEEE half (uint16_t storage). Sizes are checked statically. */
#ifndef PG_TENSOR_BLOCKS_H
#define PG_TENSOR_BLOCKS_H

#include <stdint.h>

typedef uint16_t pg_fp16;
typedef uint16_t pg_bf16;

#define QK4_0 32
#define QK4_1 32
#define QK5_0 32
#define QK5_1 32
#define QK8_0 32
#define QK8_1 32
#define QK4_NL 32
#define QK_K 256
#define K_SCALE_SIZE 12

/* The 16 levels of IQ4_NL and IQ4_XS (a fact of the format), ascending.
 * static const in the header: every kernel file (scalar, AVX2, AVX-512)
 * reads its own copy, so none depends on another for it. */
static const int8_t pg_iq4nl_values[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};

typedef struct { pg_fp16 d; uint8_t qs[QK4_0 / 2]; } block_q4_0;            /* 18 */
typedef struct { pg_fp16 d, m; uint8_t qs[QK4_1 / 2]; } block_q4_1;         /* 20 */
typedef struct { pg_fp16 d; uint8_t qh[4]; uint8_t qs[QK5_0 / 2]; } block_q5_0;  /* 22 */
typedef struct { pg_fp16 d, m; uint8_t qh[4]; uint8_t qs[QK5_1 / 2]; } block_q5_1; /* 24 */
typedef struct { pg_fp16 d; int8_t qs[QK8_0]; } block_q8_0;                 /* 34 */
/* s = d * sum(qs) */
typedef struct { pg_fp16 d, s; int8_t qs[QK8_1]; } block_q8_1;              /* 36 */
typedef struct { pg_fp16 d; uint8_t qs[QK4_NL / 2]; } block_iq4_nl;         /* 18 */

typedef struct { uint8_t scales[QK_K / 16]; uint8_t qs[QK_K / 4]; pg_fp16 d, dmin; } block_q2_K; /* 84 */
typedef struct { uint8_t hmask[QK_K / 8]; uint8_t qs[QK_K / 4]; uint8_t scales[12]; pg_fp16 d; } block_q3_K; /* 110 */
typedef struct { pg_fp16 d, dmin; uint8_t scales[K_SCALE_SIZE]; uint8_t qs[QK_K / 2]; } block_q4_K; /* 144 */
typedef struct { pg_fp16 d, dmin; uint8_t scales[K_SCALE_SIZE]; uint8_t qh[QK_K / 8]; uint8_t qs[QK_K / 2]; } block_q5_K; /* 176 */
typedef struct { uint8_t ql[QK_K / 2]; uint8_t qh[QK_K / 4]; int8_t scales[QK_K / 16]; pg_fp16 d; } block_q6_K; /* 210 */
/* activation format for K-quants: bsums[j] = sum of qs[16j .. 16j+15] */
typedef struct { float d; int8_t qs[QK_K]; int16_t bsums[QK_K / 16]; } block_q8_K; /* 292 */
typedef struct { pg_fp16 d; uint16_t scales_h; uint8_t scales_l[QK_K / 64]; uint8_t qs[QK_K / 2]; } block_iq4_xs; /* 136 */

_Static_assert(sizeof(block_q4_0) == 18, "q4_0");
_Static_assert(sizeof(block_q4_1) == 20, "q4_1");
_Static_assert(sizeof(block_q5_0) == 22, "q5_0");
_Static_assert(sizeof(block_q5_1) == 24, "q5_1");
_Static_assert(sizeof(block_q8_0) == 34, "q8_0");
_Static_assert(sizeof(block_q8_1) == 36, "q8_1");
_Static_assert(sizeof(block_iq4_nl) == 18, "iq4_nl");
_Static_assert(sizeof(block_q2_K) == 84, "q2_K");
_Static_assert(sizeof(block_q3_K) == 110, "q3_K");
_Static_assert(sizeof(block_q4_K) == 144, "q4_K");
_Static_assert(sizeof(block_q5_K) == 176, "q5_K");
_Static_assert(sizeof(block_q6_K) == 210, "q6_K");
_Static_assert(sizeof(block_q8_K) == 292, "q8_K");
_Static_assert(sizeof(block_iq4_xs) == 136, "iq4_xs");

#endif
