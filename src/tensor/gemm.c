/* gemm.c - the tile kernels of a weight type at a level (see gemm.h): an
 * index into the level's kernel set (dispatch.h). The kernels live in
 * x86/gemm_*.c; other architectures and the scalar level have none, and
 * matmul falls back to per-element vec_dot. */
#include "tensor/gemm.h"

#include "tensor/dispatch.h"
#include "tensor/types.h"

static const pg_gemm_kernel *pick(const pg_gemm_kernel *const *table, int wtype) {
    if (!table || wtype < 0 || wtype >= PG_TYPE_COUNT) return NULL;
    return table[wtype];
}

const pg_gemm_kernel *pg_gemm_get(int wtype, pg_cpu_level level) { return pick(pg_kernels_at(level)->gemm, wtype); }

const pg_gemm_kernel *pg_gemm_get_packed(int wtype, pg_cpu_level level) {
    return pick(pg_kernels_at(level)->gemm_packed, wtype);
}
