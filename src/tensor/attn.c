/* attn.c - dispatch of the attention kernels (attn.h) and the query packing
 * shared by every level. The packed layout qt[d][PG_ATTN_RT] puts the rows
 * of one dimension side by side, so a SIMD level loads the query values of
 * all rows for dimension d with one vector load and broadcasts the key
 * value: one lane per row, no horizontal sums. The level tables are picked
 * through the kernel sets of dispatch.h. */
#include "tensor/attn.h"

#include "tensor/dispatch.h"

#include <string.h>

void pg_attn_pack_q(const float *q, int R, size_t ldq, int hd, float *qt) {
    memset(qt, 0, (size_t)hd * PG_ATTN_RT * sizeof(float));
    for (int r = 0; r < R; r++)
        for (int d = 0; d < hd; d++) qt[(size_t)d * PG_ATTN_RT + r] = q[(size_t)r * ldq + d];
}

const pg_attn_kernels *pg_attn_kernels_get(pg_cpu_level level) { return pg_kernels_at(level)->attn; }

const pg_attn_kernels *pg_attn_kernels_cur(void) { return pg_kernels_cur()->attn; }
