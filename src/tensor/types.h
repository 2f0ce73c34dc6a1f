/* types.h - the table of tensor types (ids are GGUF/ggml type ids).
 *
 * Each type has a block size (elements per block) and a type size (bytes per
 * block). Kernels are given per dispatch level (base/cpu.h): a scalar
 * reference is required; AVX2 / AVX-512 variants share its signature and are
 * optional. pg_type_get() returns the traits with the kernels of the current
 * level (falling back to the best lower level that has one); the kernels
 * come from the per-level tables of tensor/dispatch.h.
 *
 * Dot products follow ggml's scheme: the activation row is first converted to
 * the weight type's `vec_dot_type` (F32 for float weights, Q8_0 / Q8_1 for
 * 32-element quants, Q8_K for 256-element K-quants and IQ4_XS), then
 * vec_dot(n, &s, w_row, x_row) computes s = sum_i w[i] * x[i].
 * Contract for batch invariance: vec_dot's result depends only on its inputs
 * (never on which thread or batch row calls it). */
#ifndef PG_TENSOR_TYPES_H
#define PG_TENSOR_TYPES_H

#include "base/cpu.h"

#include <stddef.h>
#include <stdint.h>

typedef enum {
    PG_TYPE_F32 = 0,
    PG_TYPE_F16 = 1,
    PG_TYPE_Q4_0 = 2,
    PG_TYPE_Q4_1 = 3,
    PG_TYPE_Q5_0 = 6,
    PG_TYPE_Q5_1 = 7,
    PG_TYPE_Q8_0 = 8,
    PG_TYPE_Q8_1 = 9,
    PG_TYPE_Q2_K = 10,
    PG_TYPE_Q3_K = 11,
    PG_TYPE_Q4_K = 12,
    PG_TYPE_Q5_K = 13,
    PG_TYPE_Q6_K = 14,
    PG_TYPE_Q8_K = 15,
    PG_TYPE_IQ2_XXS = 16,
    PG_TYPE_IQ2_XS = 17,
    PG_TYPE_IQ3_XXS = 18,
    PG_TYPE_IQ1_S = 19,
    PG_TYPE_IQ4_NL = 20,
    PG_TYPE_IQ3_S = 21,
    PG_TYPE_IQ2_S = 22,
    PG_TYPE_IQ4_XS = 23,
    PG_TYPE_I8 = 24,
    PG_TYPE_I16 = 25,
    PG_TYPE_I32 = 26,
    PG_TYPE_I64 = 27,
    PG_TYPE_F64 = 28,
    PG_TYPE_IQ1_M = 29,
    PG_TYPE_BF16 = 30,
    PG_TYPE_COUNT = 40, /* table size; ids >= this are unknown */
} pg_type;

/* Convert n elements (n % blck_size == 0) of a row to float. */
typedef void (*pg_to_float_fn)(const void *src, float *dst, int64_t n);
/* Quantize n floats (n % blck_size == 0) into the type's blocks. */
typedef void (*pg_from_float_fn)(const float *src, void *dst, int64_t n);
/* *s = dot(w, x) over n elements; w in the weight type, x in vec_dot_type. */
typedef void (*pg_vec_dot_fn)(int n, float *s, const void *w, const void *x);

typedef struct pg_type_traits {
    const char *name;     /* "q4_0", as ggml names it */
    int known;            /* id is a ggml type id */
    int weight_ok;        /* pagoda can use it as a weight type */
    int blck_size;        /* elements per block */
    size_t type_size;     /* bytes per block */
    pg_type vec_dot_type; /* activation format for vec_dot */
    /* Kernels of the current level (best available at or below it). */
    pg_to_float_fn to_float;
    pg_from_float_fn from_float;
    pg_vec_dot_fn vec_dot;
} pg_type_traits;

/* NULL for an id outside the table or unknown to ggml. */
const pg_type_traits *pg_type_get(int type);
/* Traits with the kernels of a specific level (tests compare levels). */
const pg_type_traits *pg_type_get_level(int type, pg_cpu_level level);
const char *pg_type_name(int type); /* "unknown" if not known */
/* Bytes of a row of n elements; 0 if n is not a multiple of the block size
 * or the type is unknown; SIZE_MAX on overflow. */
size_t pg_row_size(int type, int64_t n);


#endif
