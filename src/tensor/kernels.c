/* kernels.c - the float helper entry points (kernels.h): each forwards to
 * the float table of the current level's kernel set (dispatch.h). The
 * scalar reference is in ref/float_ref.c, the SIMD levels in
 * x86/legacy_x86.h. */
#include "tensor/kernels.h"

#include "tensor/dispatch.h"

const pg_float_kernels *pg_float_kernels_get(pg_cpu_level level) { return pg_kernels_at(level)->flt; }

void pg_fp32_to_fp16_row(const float *src, uint16_t *dst, int64_t n) { pg_kernels_cur()->flt->fp32_to_fp16(src, dst, n); }

float pg_dot_f32(const float *a, const float *b, int n) { return pg_kernels_cur()->flt->dot(a, b, n); }
