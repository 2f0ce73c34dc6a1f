/* gemm_pq4_0_avx512.c - AVX-512 VNNI tile kernel (tensor/gemm.h) over
 * Q4_0 weights repacked once at model load into panels of 16 rows whose
 * rows run in the 16 int32 lanes, against activations packed once per
 * matmul (act_pack).
 *
 * Why rows in lanes: a lane then accumulates one output element from the
 * first block to the last, so there is no horizontal reduction at the end,
 * the float accumulators of a whole tile (16 weight rows x up to 8
 * activation rows) stay in registers for all of K, and each weight block
 * is unpacked once into 8 registers and used by every activation row of
 * the tile. The activation bytes come as vpdpbusd's embedded 32-bit
 * broadcast memory operand. In cache this runs at ~600 GOP/s per core from
 * M = 8 up (the earlier blocks-in-lanes layout needed M = 128 for that),
 * which is what makes batched decode pay; M = 1 streams as fast.
 *
 * Panel and packed-activation layouts: x86/gemm_pq4_0.h (L = 16; a
 * partial last panel is read with masked loads).
 *
 * Weights are vpdpbusd's unsigned operand (nibbles 0..15), activations the
 * signed one; the per-block -8 * sum(q) of the packed activation row is
 * the integer start.
 *
 * Per output element (lane r, activation row c), blocks b ascending:
 *   isum = start[c][b] + 8 dpbusd (exact integers; any association),
 *   acc  = fma(cvt(isum) * dx[c][b], dw[r][b], acc)       (acc from 0)
 * and the output is acc. This depends only on K, never on M, the tile
 * shape, the panel's fullness, the position or the thread: batch
 * invariance (tensor/gemm.h). */
#include "base/error.h"
#include "tensor/blocks.h"
#include "tensor/fp16.h"
#include "tensor/dispatch.h"
#include "tensor/types.h"
#include "tensor/x86/gemm_avx512_util.h"
#include "tensor/x86/gemm_pq4_0.h"

#include <immintrin.h>
#include <string.h>

#define PL 16     /* rows per panel (lanes) */
#define CT 8      /* activation rows per register tile */
#define NXMAX 128 /* activation rows per call */
#define PFD 4096 /* software prefetch distance in bytes on the first pass over a panel (4096 measured best of 2048..16384) */

#define blk_q pg_pq4_0_q
#define blk_d pg_pq4_0_d

AI __m512i lo4(__m512i v) { return _mm512_and_si512(v, _mm512_set1_epi8(15)); }
AI __m512i hi4(__m512i v) { return _mm512_and_si512(_mm512_srli_epi16(v, 4), _mm512_set1_epi8(15)); }

/* a + dpbusd(w, broadcast of the 4 bytes at p): the broadcast is the
 * instruction's {1to16} memory operand (GCC emits a separate vpbroadcastd
 * for the intrinsic form). */
AI __m512i dpb(__m512i a, __m512i w, const uint8_t *p) {
    __asm__("vpdpbusd %2%{1to16%}, %1, %0" : "+v"(a) : "v"(w), "m"(*(const int32_t *)p));
    return a;
}

/* One panel of L lanes (FULL: L == 16) x NC <= CT activation rows, all of
 * K; y[c * ldy + r] for r < L. pf: prefetch the panel stream ahead (first
 * pass over the panel, when it still comes from DRAM). */
AI void tile(int pf, int nb, int L, const uint8_t *w, const uint8_t *x, size_t ldx, float *y, int64_t ldy,
             const int NC, const int FULL) {
    /* integer chains per activation row: few rows need split chains to
     * cover vpdpbusd's latency */
    const int NCH = NC == 1 ? 4 : NC == 2 ? 2 : 1;
    const __mmask16 m = FULL ? 0xffff : (__mmask16)((1u << L) - 1);
    const size_t doff = (size_t)nb * 32, soff = (size_t)nb * 36;
    __m512 acc[CT];
#pragma GCC unroll 8
    for (int c = 0; c < NC; c++) acc[c] = _mm512_setzero_ps();
    for (int b = 0; b < nb; b++) {
        const uint8_t *pq = w + blk_q(L, b);
        if (pf && !(b & 1)) {
            const char *p = (const char *)w + (size_t)36 * L * (b / 2) + PFD;
#pragma GCC unroll 9
            for (int l = 0; l < 9; l++) _mm_prefetch(p + 64 * l, _MM_HINT_T0);
        }
        __m512i op[8];
        __m512 dw;
#pragma GCC unroll 4
        for (int k = 0; k < 4; k++) {
            const __m512i v = FULL ? _mm512_loadu_si512((const void *)(pq + 64 * k))
                                   : _mm512_maskz_loadu_epi32(m, pq + (size_t)4 * L * k);
            op[2 * k] = lo4(v), op[2 * k + 1] = hi4(v);
            /* keep the operands in registers for all rows of the tile
             * (GCC would rematerialize them from memory per row) */
            __asm__("" : "+v"(op[2 * k]), "+v"(op[2 * k + 1]));
        }
        if (FULL) dw = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(w + blk_d(16, nb, b))));
        else dw = _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, w + blk_d(L, nb, b)));
#pragma GCC unroll 8
        for (int c = 0; c < NC; c++) {
            const uint8_t *xr = x + (size_t)c * ldx, *xq = xr + (size_t)32 * b;
            int32_t st;
            float dx;
            memcpy(&st, xr + soff + (size_t)4 * b, 4);
            memcpy(&dx, xr + doff + (size_t)4 * b, 4);
            __m512i s[4];
            s[0] = _mm512_set1_epi32(st);
#pragma GCC unroll 4
            for (int h = 1; h < NCH; h++) s[h] = _mm512_setzero_si512();
#pragma GCC unroll 4
            for (int k = 0; k < 4; k++) {
                s[(2 * k) % NCH] = dpb(s[(2 * k) % NCH], op[2 * k], xq + 4 * k);
                s[(2 * k + 1) % NCH] = dpb(s[(2 * k + 1) % NCH], op[2 * k + 1], xq + 16 + 4 * k);
            }
#pragma GCC unroll 4
            for (int h = 1; h < NCH; h++) s[0] = _mm512_add_epi32(s[0], s[h]);
            const __m512 f = _mm512_mul_ps(_mm512_cvtepi32_ps(s[0]), _mm512_set1_ps(dx));
            acc[c] = _mm512_fmadd_ps(f, dw, acc[c]);
        }
    }
#pragma GCC unroll 8
    for (int c = 0; c < NC; c++) _mm512_mask_storeu_ps(y + (int64_t)c * ldy, m, acc[c]);
}

AI void panel(int nb, int L, const uint8_t *w, const uint8_t *x, size_t ldx, int nx, float *y, int64_t ldy,
              const int FULL) {
#define TILE(pf, xc, yc, n) tile(pf, nb, L, w, xc, ldx, yc, ldy, n, FULL)
    PG_PANEL_SWEEP(CT, x, ldx, nx, y, ldy, TILE);
#undef TILE
}

/* w: one panel of nw <= 16 rows (matmul hands out whole panels: its row
 * groups are 16 rows from the start of each matrix). */
static void gemm_pq4_0(int64_t K, const void *w, size_t ldw, int nw, const void *x, size_t ldx, int nx, float *y,
                       int64_t ldy) {
    const int nb = (int)(K / 32);
    (void)ldw;
    if (nx < 1 || nx > NXMAX || nw < 1 || nw > PL || K % 32) PG_TRAP();
    if (nw == PL) panel(nb, PL, w, x, ldx, nx, y, ldy, 1);
    else panel(nb, nw, w, x, ldx, nx, y, ldy, 0);
}

const pg_gemm_kernel pg_gemm_pq4_0_avx512 = {
    .rw = PL, .cx = NXMAX, .m1 = 8, .fn = gemm_pq4_0, .act_size = pg_pq4_0_act_size,
    .act_pack = pg_pq4_0_act_pack, .wpack_ok = pg_pq4_0_wpack_ok, .wpanel = PL, .wpackp = pg_pq4_0_wpack,
};

