/* gemm_pq4_0_avx2.c - AVX2 tile kernel (tensor/gemm.h) over Q4_0 weights
 * repacked once at model load into panels of 16 rows whose rows run in
 * the int32 lanes of two ymm registers (rows 0..7, 8..15), against
 * activations packed once per matmul. The design of
 * x86/gemm_pq4_0_avx512.c (which says why rows in lanes) for machines
 * without AVX-512 VNNI, over the same layouts (x86/gemm_pq4_0.h, L = 16; a
 * partial last panel is read with masked loads).
 *
 * Without vpdpbusd the int8 product is vpmaddubsw (unsigned nibble x
 * signed activation byte, int16 pair sums), and that instruction is the
 * bottleneck with the issue slots around it: per block, register tile row
 * and 8 weight rows, 8 vpmaddubsw against the 4-byte activation broadcasts
 * are summed in int16 (exact: a pair is at most 2 * 15 * 127 = 3810 in
 * magnitude, 8 of them 30480 < 2^15), then one vpmaddwd with ones makes
 * the int32 block dot of each lane. Each broadcast feeds both halves of
 * the panel (16 rows: +17% over 8-row panels in cache, 1 thread); the
 * nibbles are unpacked once per block and tile, the float epilogue runs
 * once per block and row for 8 weight rows. Calls with more than
 * CHUNK_MIN rows unpack each chunk of the panel once for all their tiles
 * (panel_chunked, below). On 2 Zen 3 cores: ~390 GOP/s from M = 8 up (the
 * stored-layout kernel of x86/gemm_avx2.c: ~100).
 *
 * Per output element (lane r, activation row c), blocks b ascending:
 *   S    = dot(n, q)   (exact integers, nibbles n = 0..15),
 *   acc  = fma(fma(cvt(S), dx[c][b], ds[c][b]), dw[r][b], acc)   (acc from 0)
 * with ds = dx * start the scaled -8 * sum(q) offset of the packed row (one
 * op less per block and row than adding start in int32: +8% in cache; the
 * AVX-512 kernel rounds differently). The output is acc: it depends only
 * on K, never on M, the tile, the panel's fullness, the position or the
 * thread (batch invariance, tensor/gemm.h). */
#include "base/error.h"
#include "tensor/dispatch.h"
#include "tensor/x86/gemm_pq4_0.h"
#include "tensor/x86/gemm_avx2_util.h"

#include <immintrin.h>
#include <string.h>

#define PL 16     /* rows per panel: two ymm halves of 8 lanes */
/* activation rows per register tile: 4 weight operands + 2 CT int16 sums
 * + temporaries <= 16 ymm (the float accumulators live in L1); 3 measured
 * the same */
#define CT 4
#define NXMAX 128 /* activation rows per call */
/* software prefetch distance (bytes) on the first pass over a panel:
 * decode 27-30 tok/s without, 33-37 at 1024..4096 */
#define PFD 4096

/* The float epilogue of block b for NC <= CT activation rows (both
 * paths: their per-element sequences must agree):
 * acc = fma(fma(cvt(S), dx, ds), dw, acc) per row and half. */
AI void epilogue(int nb, int b, const uint8_t *x, size_t ldx, const __m256i *s0, const __m256i *s1, __m256 dw0,
                 __m256 dw1, __m256 acc[2][CT], const int NC) {
    const __m256i ones = _mm256_set1_epi16(1);
    const size_t doff = (size_t)nb * 32, foff = (size_t)nb * 40;
#pragma GCC unroll 8
    for (int c = 0; c < NC; c++) {
        const uint8_t *xr = x + (size_t)c * ldx;
        const __m256 dx = _mm256_set1_ps(ldf(xr + doff + (size_t)4 * b));
        const __m256 ds = _mm256_set1_ps(ldf(xr + foff + (size_t)4 * b));
        const __m256 f0 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_madd_epi16(s0[c], ones)), dx, ds);
        const __m256 f1 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_madd_epi16(s1[c], ones)), dx, ds);
        acc[0][c] = _mm256_fmadd_ps(f0, dw0, acc[0][c]);
        acc[1][c] = _mm256_fmadd_ps(f1, dw1, acc[1][c]);
    }
}

/* The fp16 scales of block b as floats: rows 0..7 in *dw0, 8..15 in *dw1
 * (a partial panel's missing rows read as 0). */
AI void scales(const uint8_t *w, int nb, int L, int b, __m256 *dw0, __m256 *dw1, const int FULL) {
    if (FULL) {
        const uint8_t *pd = w + pg_pq4_0_d(PL, nb, b);
        *dw0 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)pd));
        *dw1 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(pd + 16)));
    } else {
        uint16_t h[PL] = {0};
        memcpy(h, w + pg_pq4_0_d(L, nb, b), (size_t)2 * L);
        *dw0 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)h));
        *dw1 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(h + 8)));
    }
}

/* One panel of L lanes (FULL: L == 16) x NC <= CT activation rows, all
 * of K; y[c * ldy + r] for r < L. Rows 0..7 are the low ymm half of each
 * 16-lane vector, rows 8..15 the high one: each activation broadcast
 * feeds both (the broadcasts cost issue slots that vpmaddubsw needs). */
AI void tile(int pf, int nb, int L, const uint8_t *w, const uint8_t *x, size_t ldx, float *y, int64_t ldy, const int NC,
             const int FULL) {
    const __m256i m4 = _mm256_set1_epi8(15);
    __m256i lanes0, lanes1;
    lanes16(L, &lanes0, &lanes1);
    __m256 acc[2][CT];
#pragma GCC unroll 8
    for (int c = 0; c < NC; c++) acc[0][c] = acc[1][c] = _mm256_setzero_ps();
    for (int b = 0; b < nb; b++) {
        const uint8_t *pq = w + pg_pq4_0_q(L, b);
        if (pf) { /* 288 bytes a block: 5 lines cover it whatever its alignment */
#pragma GCC unroll 5
            for (int l = 0; l < 5; l++) _mm_prefetch((const char *)pq + PFD + 64 * l, _MM_HINT_T0);
        }
        __m256 dw0, dw1;
        scales(w, nb, L, b, &dw0, &dw1, FULL);
        /* raw vector by raw vector: its operands (low and high nibbles of
         * both halves) go to every row of the tile, so only 4 weight
         * registers live */
        __m256i s0[CT], s1[CT];
#pragma GCC unroll 4
        for (int k = 0; k < 4; k++) {
            const __m256i v0 = ld(pq + (size_t)4 * L * k, lanes0, FULL), v1 = ld(pq + (size_t)4 * L * k + 32, lanes1, FULL);
            const __m256i lo0 = _mm256_and_si256(v0, m4), hi0 = _mm256_and_si256(_mm256_srli_epi16(v0, 4), m4);
            const __m256i lo1 = _mm256_and_si256(v1, m4), hi1 = _mm256_and_si256(_mm256_srli_epi16(v1, 4), m4);
#pragma GCC unroll 8
            for (int c = 0; c < NC; c++) {
                const uint8_t *xq = x + (size_t)c * ldx + (size_t)32 * b + 4 * k;
                const __m256i xl = bcast4(xq), xh = bcast4(xq + 16);
                const __m256i p0 = _mm256_add_epi16(_mm256_maddubs_epi16(lo0, xl), _mm256_maddubs_epi16(hi0, xh));
                const __m256i p1 = _mm256_add_epi16(_mm256_maddubs_epi16(lo1, xl), _mm256_maddubs_epi16(hi1, xh));
                s0[c] = k ? _mm256_add_epi16(s0[c], p0) : p0;
                s1[c] = k ? _mm256_add_epi16(s1[c], p1) : p1;
                /* keep the sums in order in registers (GCC otherwise
                 * reassociates them into trees of live products and
                 * spills) */
                __asm__("" : "+x"(s0[c]), "+x"(s1[c]));
            }
        }
        epilogue(nb, b, x, ldx, s0, s1, dw0, dw1, acc, NC);
    }
#pragma GCC unroll 8
    for (int c = 0; c < NC; c++) st16(y + (int64_t)c * ldy, acc[0][c], acc[1][c], lanes0, lanes1, FULL);
}

AI void panel(int nb, int L, const uint8_t *w, const uint8_t *x, size_t ldx, int nx, float *y, int64_t ldy,
              const int FULL) {
    for (int c0 = 0; c0 < nx; c0 += CT) {
        const uint8_t *xc = x + (size_t)c0 * ldx;
        float *yc = y + (int64_t)c0 * ldy;
        switch (nx - c0 < CT ? nx - c0 : CT) {
        case 1: tile(c0 == 0, nb, L, w, xc, ldx, yc, ldy, 1, FULL); break;
        case 2: tile(c0 == 0, nb, L, w, xc, ldx, yc, ldy, 2, FULL); break;
        case 3: tile(c0 == 0, nb, L, w, xc, ldx, yc, ldy, 3, FULL); break;
        case 4: tile(c0 == 0, nb, L, w, xc, ldx, yc, ldy, 4, FULL); break;
        default: PG_TRAP();
        }
    }
}

/* ---- Chunked path (nx > CHUNK_MIN rows: several register tiles) ----
 * Without VNNI the kernel is bound by the 4 FP/vector pipes of a Zen 3
 * core, not by vpmaddubsw alone: per block and tile (64 vpmaddubsw) the
 * direct path above issues ~56 int16 adds, 32 activation broadcasts, 24
 * nibble-unpack ops and ~34 epilogue ops beside them (~0.85 cycles per
 * vpmaddubsw where the instruction alone takes 0.5; llvm-mca -mcpu=znver3
 * agrees). The unpack is the only part that depends on the weights alone,
 * so here it runs once per chunk of KC blocks for all tiles: the chunk is
 * unpacked (nibbles to bytes, fp16 scales to float) into a stack buffer
 * that stays in L1, then every tile runs over it, carrying its float
 * accumulators between chunks in a second stack buffer (float stores and
 * loads: exact). Per element the operations and their order are those of
 * the direct path, so the output is bit-identical to it (batch invariance
 * between M = 1 and M > CHUNK_MIN). Prefill of 128 / 512 tokens on the
 * 1.1B q4_0 model: +6% / +9% (medians of 5 interleaved runs). */
/* calls of more rows than this take the chunked path. Up to it the direct
 * path is faster, the unpack's 16 stores a block costing more than they
 * save (bench kernels --types q4_0 --threads 1, 3 interleaved runs):
 * M = 8 chunked no faster; M = 16 (4 tiles) direct 194-199 GOP/s against
 * chunked 177-187; M = 32 chunked 202-207 against direct 193-195 */
#ifndef CHUNK_MIN
#define CHUNK_MIN 16
#endif
/* blocks per chunk: 16 * 576 B = 9 KiB of unpacked weights */
#ifndef KC
#define KC 16
#endif
/* prefetch distance (bytes of packed panel) while unpacking: a chunk and a
 * half ahead, so the next chunk's lines arrive while the tiles compute */
#ifndef PFDC
#define PFDC 6912
#endif

typedef struct {
    __m256i q[4][4]; /* vector k: low nibbles rows 0..7, high 0..7, low 8..15, high 8..15 */
    __m256 dw[2];    /* scales of rows 0..7, 8..15 */
} ublk;

AI void unpack(int nb, int b0, int kc, int L, const uint8_t *w, ublk *u, const int FULL) {
    const __m256i m4 = _mm256_set1_epi8(15);
    __m256i lanes0, lanes1;
    lanes16(L, &lanes0, &lanes1);
    for (int j = 0; j < kc; j++) {
        const int b = b0 + j;
        const uint8_t *pq = w + pg_pq4_0_q(L, b);
#pragma GCC unroll 5
        for (int l = 0; l < 5; l++) _mm_prefetch((const char *)pq + PFDC + 64 * l, _MM_HINT_T0);
        scales(w, nb, L, b, &u[j].dw[0], &u[j].dw[1], FULL);
#pragma GCC unroll 4
        for (int k = 0; k < 4; k++) {
            const __m256i v0 = ld(pq + (size_t)4 * L * k, lanes0, FULL), v1 = ld(pq + (size_t)4 * L * k + 32, lanes1, FULL);
            u[j].q[k][0] = _mm256_and_si256(v0, m4);
            u[j].q[k][1] = _mm256_and_si256(_mm256_srli_epi16(v0, 4), m4);
            u[j].q[k][2] = _mm256_and_si256(v1, m4);
            u[j].q[k][3] = _mm256_and_si256(_mm256_srli_epi16(v1, 4), m4);
        }
    }
}

/* NC <= CT activation rows over the chunk's kc blocks from block b0;
 * a: their 2 * NC accumulator vectors between chunks (first: start from
 * 0; last: store the outputs instead). The k-loop repeats tile()'s on
 * purpose and must stay in step with it (test_gemm's M = 1 vs M = 37
 * bit-identity checks catch a drift): as a shared always-inline helper
 * GCC spilled more in the direct loop (M = 8: -7%); the epilogue and the
 * scale load are shared (scripts/kernel_mca.py: the same loops). */
AI void tile_chunk(int b0, int kc, int nb, const ublk *u, const uint8_t *x, size_t ldx, __m256 *a, int first, int last,
                   float *y, int64_t ldy, __m256i lanes0, __m256i lanes1, const int NC, const int FULL) {
    __m256 acc[2][CT];
#pragma GCC unroll 8
    for (int c = 0; c < NC; c++) {
        acc[0][c] = first ? _mm256_setzero_ps() : a[2 * c];
        acc[1][c] = first ? _mm256_setzero_ps() : a[2 * c + 1];
    }
    for (int j = 0; j < kc; j++) {
        const int b = b0 + j;
        __m256i s0[CT], s1[CT];
#pragma GCC unroll 4
        for (int k = 0; k < 4; k++) {
            const __m256i lo0 = u[j].q[k][0], hi0 = u[j].q[k][1], lo1 = u[j].q[k][2], hi1 = u[j].q[k][3];
#pragma GCC unroll 8
            for (int c = 0; c < NC; c++) {
                const uint8_t *xq = x + (size_t)c * ldx + (size_t)32 * b + 4 * k;
                const __m256i xl = bcast4(xq), xh = bcast4(xq + 16);
                const __m256i p0 = _mm256_add_epi16(_mm256_maddubs_epi16(lo0, xl), _mm256_maddubs_epi16(hi0, xh));
                const __m256i p1 = _mm256_add_epi16(_mm256_maddubs_epi16(lo1, xl), _mm256_maddubs_epi16(hi1, xh));
                s0[c] = k ? _mm256_add_epi16(s0[c], p0) : p0;
                s1[c] = k ? _mm256_add_epi16(s1[c], p1) : p1;
                __asm__("" : "+x"(s0[c]), "+x"(s1[c]));
            }
        }
        epilogue(nb, b, x, ldx, s0, s1, u[j].dw[0], u[j].dw[1], acc, NC);
    }
#pragma GCC unroll 8
    for (int c = 0; c < NC; c++) {
        if (last) st16(y + (int64_t)c * ldy, acc[0][c], acc[1][c], lanes0, lanes1, FULL);
        else a[2 * c] = acc[0][c], a[2 * c + 1] = acc[1][c];
    }
}

AI void panel_chunked(int nb, int L, const uint8_t *w, const uint8_t *x, size_t ldx, int nx, float *y, int64_t ldy,
                      const int FULL) {
    ublk u[KC];
    __m256 a[2 * NXMAX];
    __m256i lanes0, lanes1;
    lanes16(L, &lanes0, &lanes1);
    for (int b0 = 0; b0 < nb; b0 += KC) {
        const int kc = nb - b0 < KC ? nb - b0 : KC, first = b0 == 0, last = b0 + kc == nb;
        unpack(nb, b0, kc, L, w, u, FULL);
        for (int c0 = 0; c0 < nx; c0 += CT) {
            const uint8_t *xc = x + (size_t)c0 * ldx;
            float *yc = y + (int64_t)c0 * ldy;
            __m256 *ac = a + 2 * c0;
            switch (nx - c0 < CT ? nx - c0 : CT) {
            case 1: tile_chunk(b0, kc, nb, u, xc, ldx, ac, first, last, yc, ldy, lanes0, lanes1, 1, FULL); break;
            case 2: tile_chunk(b0, kc, nb, u, xc, ldx, ac, first, last, yc, ldy, lanes0, lanes1, 2, FULL); break;
            case 3: tile_chunk(b0, kc, nb, u, xc, ldx, ac, first, last, yc, ldy, lanes0, lanes1, 3, FULL); break;
            case 4: tile_chunk(b0, kc, nb, u, xc, ldx, ac, first, last, yc, ldy, lanes0, lanes1, 4, FULL); break;
            default: PG_TRAP();
            }
        }
    }
}

/* w: one panel of nw <= 16 rows (matmul hands out whole panels: its row
 * groups are 16 rows from the start of each matrix). Any alignment; in the
 * model's page-aligned packed copy with nb even every load is aligned. */
static void gemm_pq4_0(int64_t K, const void *w, size_t ldw, int nw, const void *x, size_t ldx, int nx, float *y,
                       int64_t ldy) {
    const int nb = (int)(K / 32);
    (void)ldw;
    if (nx < 1 || nx > NXMAX || nw < 1 || nw > PL || K % 32) PG_TRAP();
    if (nx <= CHUNK_MIN) {
        if (nw == PL) panel(nb, PL, w, x, ldx, nx, y, ldy, 1);
        else panel(nb, nw, w, x, ldx, nx, y, ldy, 0);
    } else if (nw == PL) panel_chunked(nb, PL, w, x, ldx, nx, y, ldy, 1);
    else panel_chunked(nb, nw, w, x, ldx, nx, y, ldy, 0);
}

const pg_gemm_kernel pg_gemm_pq4_0_avx2 = {
    .rw = PL, .cx = NXMAX, .m1 = 8, .fn = gemm_pq4_0, .act_size = pg_pq4_0_act_size,
    .act_pack = pg_pq4_0_act_pack, .wpack_ok = pg_pq4_0_wpack_ok, .wpanel = PL, .wpackp = pg_pq4_0_wpack,
};

