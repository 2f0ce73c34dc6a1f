/* ops.c - the row ops of a level (ops.h): the ops table of the level's
 * kernel set (dispatch.h). References in ref/ops_ref.c, SIMD in
 * x86/ops_avx2.c. */
#include "tensor/ops.h"

#include "tensor/dispatch.h"

const pg_ops *pg_ops_get_level(pg_cpu_level level) { return pg_kernels_at(level)->ops; }

const pg_ops *pg_ops_get(void) { return pg_kernels_cur()->ops; }
