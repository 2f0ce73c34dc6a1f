/* dispatch.h - the one kernel dispatch pattern of src/tensor, and every
 * kernel file's entry points in one place. Internal to src/tensor and its
 * tests.
 *
 * Each kernel family has, per dispatch level (base/cpu.h), one const table
 * defined in the file that implements it (a struct of function pointers, or
 * an array of them indexed by pg_type). dispatch.c gathers them into one
 * const pg_kernel_set per level, fixed at compile time; callers pick the set
 * of a level (pg_kernels_at) or of the current level (pg_kernels_cur) and
 * read the family they need:
 *
 *   level     float      ops         attn       types (families, low first)   gemm
 *   scalar    _ref       _ref        _ref       float/legacy/kquants _ref     -
 *   avx2      _avx2      _avx2       _avx2      legacy/kquants _avx2          stored + packed _avx2
 *   avx512    _avx512    _avx2 (*)   _avx512    legacy/kquants _avx512        stored + packed _avx512
 *   (*) the row ops are memory-light and gain nothing measurable from
 *       512-bit vectors.
 *
 * The type traits (tensor/types.h) are resolved once (pthread_once) from
 * the type tables: a slot takes the kernel of the highest level <= the
 * requested one that has it, so every level falls back to the scalar
 * reference. Nothing is registered at run time. */
#ifndef PG_TENSOR_DISPATCH_H
#define PG_TENSOR_DISPATCH_H

#include "base/cpu.h"
#include "tensor/attn.h"
#include "tensor/gemm.h"
#include "tensor/kernels.h"
#include "tensor/ops.h"
#include "tensor/types.h"

/* The kernels of one weight type in one family at one level; NULL slots
 * fall back to a lower level. */
typedef struct pg_type_kernels {
    pg_to_float_fn to_float;
    pg_from_float_fn from_float;
    pg_vec_dot_fn vec_dot;
} pg_type_kernels;

enum { PG_TYPE_FAMILIES = 3 };

typedef struct pg_kernel_set {
    pg_cpu_level level;
    const pg_float_kernels *flt;
    const pg_ops *ops;
    const pg_attn_kernels *attn;
    /* [PG_TYPE_COUNT] each, NULL entries; NULL table: none at this level */
    const pg_type_kernels *types[PG_TYPE_FAMILIES];
    const pg_gemm_kernel *const *gemm;        /* stored-layout tile kernels */
    const pg_gemm_kernel *const *gemm_packed; /* repacked-weight kernels */
} pg_kernel_set;

/* The set of `level`, capped at the best level this build and this CPU
 * have (never NULL). */
const pg_kernel_set *pg_kernels_at(pg_cpu_level level);
/* The set of the current level (pg_cpu_level_get()). */
const pg_kernel_set *pg_kernels_cur(void);

/* ---- the per-level tables of the kernel files ---- */

/* ref/: the scalar references. */
extern const pg_float_kernels pg_float_kernels_ref;      /* ref/float_ref.c */
extern const pg_ops pg_ops_ref;                          /* ref/ops_ref.c */
extern const pg_attn_kernels pg_attn_kernels_ref;        /* ref/attn_ref.c */
extern const pg_type_kernels pg_types_float_ref[PG_TYPE_COUNT];   /* ref/float_ref.c */
extern const pg_type_kernels pg_types_legacy_ref[PG_TYPE_COUNT];  /* ref/legacy_ref.c */
extern const pg_type_kernels pg_types_kquants_ref[PG_TYPE_COUNT]; /* ref/kquants_ref.c */

#if defined(__x86_64__)
/* x86/: legacy_x86.h and kquants_x86.h compiled once per level. */
extern const pg_float_kernels pg_float_kernels_avx2, pg_float_kernels_avx512;
extern const pg_type_kernels pg_types_legacy_avx2[PG_TYPE_COUNT], pg_types_legacy_avx512[PG_TYPE_COUNT];
extern const pg_type_kernels pg_types_kquants_avx2[PG_TYPE_COUNT], pg_types_kquants_avx512[PG_TYPE_COUNT];
extern const pg_ops pg_ops_avx2;                                   /* x86/ops_avx2.c */
extern const pg_attn_kernels pg_attn_kernels_avx2, pg_attn_kernels_avx512;
/* Stored-layout tile kernels (x86/gemm_avx2.c, x86/gemm_avx512.c). */
extern const pg_gemm_kernel *const pg_gemm_stored_avx2[PG_TYPE_COUNT];
extern const pg_gemm_kernel *const pg_gemm_stored_avx512[PG_TYPE_COUNT];
/* Repacked-weight kernels: q4_0, q4_K, q6_K in panels (x86/gemm_pq*_avx512.c,
 * x86/gemm_pq*_avx2.c: rows in the int32 lanes of ymm registers, panels of
 * 16 rows read as two 8-lane halves, q4_0 and q4_K in the AVX-512 layouts,
 * q6_K in its own; small loads shared in x86/gemm_avx2_util.h), Q8_0 in
 * 16-row panels at AVX2 (x86/gemm_pq8_0_avx2.c; layout x86/gemm_pq8_0.h),
 * and at AVX-512 the stored-layout Q8_0 kernel with wpack = copy (huge
 * pages). */
extern const pg_gemm_kernel pg_gemm_pq4_0_avx512, pg_gemm_pq4_K_avx512, pg_gemm_pq6_K_avx512;
extern const pg_gemm_kernel pg_gemm_q8_0_copy_avx512;
extern const pg_gemm_kernel pg_gemm_pq4_0_avx2, pg_gemm_pq4_K_avx2, pg_gemm_pq6_K_avx2, pg_gemm_pq8_0_avx2;
#endif

#endif
