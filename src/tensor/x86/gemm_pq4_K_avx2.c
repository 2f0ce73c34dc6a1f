/* gemm_pq4_K_avx2.c - AVX2 tile kernel (tensor/gemm.h) over q4_K weights
 * repacked once at model load into panels of 16 rows whose rows run in the
 * int32 lanes of two ymm registers (rows 0..7: the low half, 8..15: the
 * high half of each 16-lane vector), against activations packed once per
 * matmul. The design of x86/gemm_pq4_K_avx512.c (rows in lanes: no
 * horizontal sums, each weight sub-block unpacked once per register tile
 * and used by all its activation rows; see x86/gemm_pq4_0_avx512.c for
 * why) for machines without AVX-512 VNNI, over the same panels
 * (x86/gemm_pq4_K.h with L = 16).
 *
 * Panel (L = 16 lanes, or L = N % 16 rows for the last panel of a matrix;
 * exactly the stored bytes of its L rows, 144 * nsb per row, nsb = K / 256
 * super-blocks). Super-block t starts at 144 * L * t:
 *   32 raw vectors of 4L bytes: vector k, lane r = stored qs bytes 4k ..
 *     4k + 3 of row r's super-block. With j = k / 8, i = k % 8, their low
 *     nibbles are elements 64j + 4i .. + 3 (sub-block 2j), their high
 *     nibbles elements 64j + 32 + 4i .. + 3 (sub-block 2j + 1);
 *   3 vectors of 4L bytes: the stored 12 scale bytes of each lane (dword
 *     A = bytes 0..3, B = 4..7, C = 8..11);
 *   fp16 d of each lane (2L bytes), then fp16 dmin (2L bytes).
 * A vector's half h is its 32 bytes at 32h (lanes 8h .. 8h + 7). For
 * L = 16 a super-block is 36 cache lines and every half is 32-byte
 * aligned when the panel is (the model's copy is page-aligned); a partial
 * panel is read with masked loads (half 1 empty when L <= 8).
 *
 * Activations: Q8_K quantized by the level's from_float (exactly the
 * vec_dot path's values). Packed row (the AVX-512 kernel's layout):
 * nsb x 256 int8 (super-block t at 256t), nsb floats d, then nsb x 8 int16
 * sub-block sums (exact sums of 32 values) in pairs (sum 2k, sum 2k + 1)
 * per dword; act_size rounds up to 64.
 *
 * Without vpdpbusd the int8 product is vpmaddubsw (unsigned nibble x
 * signed activation byte broadcast from 4 bytes; int16 pair sums). Per
 * sub-block and activation row, raw vector by raw vector: one broadcast
 * feeds a vpmaddubsw on each half (the broadcasts take issue slots that
 * vpmaddubsw needs: half as many as with 8-row panels), summed with vpaddw
 * in int16 per half (exact: a pair is at most 2 * 15 * 128 = 3840 in
 * magnitude, the 8 of a sub-block 30720 < 2^15; asm barriers keep GCC
 * from re-associating the sums into trees of live products that spill),
 * then ONE vpmaddwd per half with the sub-block's 6-bit scale (in both
 * int16 halves of each lane) gives the int32 sc_s * dot_s, added to the
 * super-block sums T (2 CT vectors, kept in L1 by the compiler: touched
 * once per sub-block). Registers (16 ymm): the 2 operands of the current
 * raw vector, 2 CT int16 sums, the broadcast and a product; CT = 4
 * measured best (3: -5%, 5: the same or worse). The scales (as those
 * int16 pairs), the min pairs and the float d / dmin of a super-block are
 * unpacked once per tile into a stack table read as memory operands.
 *
 * Two paths per call (one panel, nx activation rows): nx <= NXDIRECT
 * (decode, small batches): register tiles of CT rows that unpack the
 * nibbles themselves (2 to 4 ops per raw vector and tile), the first one
 * prefetching the panel stream (M = 1 streams at the memory roof). Larger
 * nx: slices of SL super-blocks (4 KB of operands each; SL = 4 measured
 * the same as 6 and better than 2) are unpacked once per call into an L1
 * buffer and every tile loads its operands from there; the float
 * accumulators wait in a small buffer between slices, which keeps their
 * sequence of values exactly that of the direct path.
 *
 * Measured (pagoda bench kernels --types q4_K --threads 2, K=2048
 * N=5632, Zen 3, medians of interleaved runs; 8-row panels before):
 * M=8 / 32 / 128: 346 / 436 / 464 GOP/s (331 / 368 / 398); gemv at the
 * bandwidth roof as before; tinyllama q4_K_M 554-token prompt 188 tok/s
 * (162; with the 16-row q6_K kernel), decode the same within noise.
 *
 * Per output element (lane r, activation row c), super-blocks ascending:
 *   T  = sum_s sc_s * dot_s   (exact: |T| < 8 * 63 * 32 * 15 * 128 < 2^31)
 *   Mi = sum_s m_s * bsum_s   (4 vpmaddwd over the pairs; exact)
 *   acc = fma(cvt(T) * dx, d, acc);  acc = fma(-(cvt(Mi) * dx), dmin, acc)
 * from acc = 0, and the output is acc: the formula of the AVX-512 kernel,
 * so both levels give bit-identical results, and the same sequence
 * whatever M, the tile, the panel's fullness or the thread (batch
 * invariance, tensor/gemm.h). */
#include "base/error.h"
#include "tensor/blocks.h"
#include "tensor/dispatch.h"
#include "tensor/types.h"
#include "tensor/x86/gemm_pq4_K.h"
#include "tensor/x86/gemm_avx2_util.h"

#include <immintrin.h>
#include <string.h>

#define PL 16      /* rows per panel: two ymm halves of 8 lanes */
#define CT 4       /* activation rows per register tile */
#define NXMAX 128  /* activation rows per call */
#define PFD 4096   /* software prefetch distance in bytes on the first pass over a panel */
#define NXDIRECT 8 /* at most this many activation rows per call: tiles unpack the weights themselves */
#define SL 4       /* super-blocks per unpacked slice (the buffered path's ~20 KB L1 buffer) */

/* vpshufb control: in every dword, byte a then byte b of that dword, each
 * zero-extended to an int16 half. */
AI __m256i ctl(int a, int b) {
    const __m256i base =
        _mm256_setr_epi32(0, 0x04040404, 0x08080808, 0x0c0c0c0c, 0, 0x04040404, 0x08080808, 0x0c0c0c0c);
    return _mm256_add_epi8(_mm256_set1_epi32((int)(0x80008000u | (unsigned)a | (unsigned)b << 16)), base);
}

/* A super-block's scales and mins unpacked per lane, for both halves. */
typedef struct {
    __m256i sc[8][2]; /* [sub-block][half]: int16 pairs (sc_s, sc_s) */
    __m256i mp[4][2]; /* [pair][half]: int16 pairs (m_2k, m_2k+1) */
    __m256 dw[2], dm[2];
} sbtab;

/* The scale dwords at p (3 vectors of stride vb) of one half. */
AI void unpack_half(const uint8_t *p, size_t vb, __m256i lanes, sbtab *tb, int h, const int FULL) {
    const __m256i A = ld(p, lanes, FULL), B = ld(p + vb, lanes, FULL), C = ld(p + 2 * vb, lanes, FULL);
    const __m256i m6 = _mm256_set1_epi16(63), m4 = _mm256_set1_epi16(15), m2 = _mm256_set1_epi16(3 << 4);
#pragma GCC unroll 4
    for (int s = 0; s < 4; s++) {
        const __m256i cs = ctl(s, s);
        tb->sc[s][h] = _mm256_and_si256(_mm256_shuffle_epi8(A, cs), m6);
        tb->sc[s + 4][h] = _mm256_or_si256(_mm256_and_si256(_mm256_shuffle_epi8(C, cs), m4),
                                           _mm256_and_si256(_mm256_srli_epi16(_mm256_shuffle_epi8(A, cs), 2), m2));
    }
#pragma GCC unroll 2
    for (int k = 0; k < 2; k++) {
        const __m256i cp = ctl(2 * k, 2 * k + 1);
        tb->mp[k][h] = _mm256_and_si256(_mm256_shuffle_epi8(B, cp), m6);
        tb->mp[k + 2][h] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(_mm256_shuffle_epi8(C, cp), 4), m4),
                                           _mm256_and_si256(_mm256_srli_epi16(_mm256_shuffle_epi8(B, cp), 2), m2));
    }
}

AI void unpack_scales(const uint8_t *ws, int L, __m256i lanes0, __m256i lanes1, sbtab *tb, const int FULL) {
    const size_t vb = (size_t)4 * L;
    unpack_half(ws + 32 * vb, vb, lanes0, tb, 0, FULL);
    unpack_half(ws + 32 * vb + 32, vb, lanes1, tb, 1, FULL);
    if (FULL) {
        const uint8_t *pd = ws + 35 * vb;
        tb->dw[0] = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)pd));
        tb->dw[1] = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(pd + 16)));
        tb->dm[0] = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(pd + 32)));
        tb->dm[1] = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(pd + 48)));
    } else {
        uint16_t h[2][PL] = {{0}};
        memcpy(h[0], ws + 35 * vb, (size_t)2 * L);
        memcpy(h[1], ws + 35 * vb + 2 * L, (size_t)2 * L);
        tb->dw[0] = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)h[0]));
        tb->dw[1] = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(h[0] + 8)));
        tb->dm[0] = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)h[1]));
        tb->dm[1] = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(h[1] + 8)));
    }
}

/* The int16 pair sums of one raw vector's operands (op0: rows 0..7, op1:
 * rows 8..15) against the 4 activation bytes at x + c * ldx + xo for the
 * NC rows, added to s0[c], s1[c] (i == 0: set). */
AI void vec_rows(__m256i op0, __m256i op1, const uint8_t *x, size_t ldx, size_t xo, int i, __m256i *s0, __m256i *s1,
                 const int NC) {
#pragma GCC unroll 8
    for (int c = 0; c < NC; c++) {
        const __m256i b = bcast4(x + (size_t)c * ldx + xo);
        const __m256i p0 = _mm256_maddubs_epi16(op0, b), p1 = _mm256_maddubs_epi16(op1, b);
        s0[c] = i ? _mm256_add_epi16(s0[c], p0) : p0;
        s1[c] = i ? _mm256_add_epi16(s1[c], p1) : p1;
        /* keep the sums in order in registers (GCC otherwise reassociates
         * them into trees of live products and spills) */
        __asm__("" : "+x"(s0[c]), "+x"(s1[c]));
    }
}

/* T[h][c] += sc_s * dot_s (int32 lanes) from the int16 sums. */
AI void sub_fold(const sbtab *tb, int s, const __m256i *s0, const __m256i *s1, __m256i (*T)[CT], const int NC) {
#pragma GCC unroll 8
    for (int c = 0; c < NC; c++) {
        T[0][c] = _mm256_add_epi32(T[0][c], _mm256_madd_epi16(s0[c], tb->sc[s][0]));
        T[1][c] = _mm256_add_epi32(T[1][c], _mm256_madd_epi16(s1[c], tb->sc[s][1]));
    }
}

/* The per-super-block float update of the NC rows at x (super-block t). */
AI void sb_update(const sbtab *tb, const uint8_t *x, size_t ldx, int nsb, int t, __m256i (*T)[CT], __m256 (*acc)[CT],
                  const int NC) {
    const size_t doff = (size_t)nsb * 256, boff = (size_t)nsb * 260;
#pragma GCC unroll 8
    for (int c = 0; c < NC; c++) {
        const uint8_t *xr = x + (size_t)c * ldx;
        const uint8_t *bs = xr + boff + (size_t)16 * t;
        __m256i b = bcast4(bs);
        __m256i mi0 = _mm256_madd_epi16(tb->mp[0][0], b), mi1 = _mm256_madd_epi16(tb->mp[0][1], b);
#pragma GCC unroll 4
        for (int k = 1; k < 4; k++) {
            b = bcast4(bs + 4 * k);
            mi0 = _mm256_add_epi32(mi0, _mm256_madd_epi16(tb->mp[k][0], b));
            mi1 = _mm256_add_epi32(mi1, _mm256_madd_epi16(tb->mp[k][1], b));
        }
        const __m256 vdx = _mm256_set1_ps(ldf(xr + doff + (size_t)4 * t));
        acc[0][c] = _mm256_fmadd_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(T[0][c]), vdx), tb->dw[0], acc[0][c]);
        acc[0][c] = _mm256_fnmadd_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(mi0), vdx), tb->dm[0], acc[0][c]);
        acc[1][c] = _mm256_fmadd_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(T[1][c]), vdx), tb->dw[1], acc[1][c]);
        acc[1][c] = _mm256_fnmadd_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(mi1), vdx), tb->dm[1], acc[1][c]);
    }
}

/* The operands of raw vector i of sub-block s (both halves). */
AI void unpack_vec(const uint8_t *pq, size_t vb, __m256i lanes0, __m256i lanes1, int s, int i, __m256i *op0,
                   __m256i *op1, const int FULL) {
    const __m256i m4 = _mm256_set1_epi8(15);
    const __m256i v0 = ld(pq + i * vb, lanes0, FULL), v1 = ld(pq + i * vb + 32, lanes1, FULL);
    *op0 = (s & 1) ? _mm256_and_si256(_mm256_srli_epi16(v0, 4), m4) : _mm256_and_si256(v0, m4);
    *op1 = (s & 1) ? _mm256_and_si256(_mm256_srli_epi16(v1, 4), m4) : _mm256_and_si256(v1, m4);
}

/* Prefetch of the panel stream, PFD ahead of super-block ws: its 36 lines
 * (L = 16) spread over its 8 sub-blocks. */
AI void pf_sub(const uint8_t *ws, int s) {
#pragma GCC unroll 8
    for (int l = 36 * s / 8; l < 36 * (s + 1) / 8; l++) _mm_prefetch((const char *)ws + PFD + 64 * l, _MM_HINT_T0);
}

AI void store_out(float *y, int64_t ldy, __m256 (*acc)[CT], __m256i lanes0, __m256i lanes1, const int NC,
                  const int FULL) {
#pragma GCC unroll 8
    for (int c = 0; c < NC; c++) st16(y + (int64_t)c * ldy, acc[0][c], acc[1][c], lanes0, lanes1, FULL);
}

/* Direct path (few activation rows): one panel of L lanes (FULL: L == 16)
 * x NC <= CT rows, all of K, unpacking the weights in the tile; y[c * ldy
 * + r] for r < L. pf: prefetch the panel stream ahead. */
AI void tile(int pf, int nsb, int L, const uint8_t *w, const uint8_t *x, size_t ldx, float *y, int64_t ldy,
             __m256i lanes0, __m256i lanes1, const int NC, const int FULL) {
    const size_t vb = (size_t)4 * L;
    sbtab tb;
    __m256 acc[2][CT];
#pragma GCC unroll 8
    for (int c = 0; c < NC; c++) acc[0][c] = acc[1][c] = _mm256_setzero_ps();
    for (int t = 0; t < nsb; t++) {
        const uint8_t *ws = w + (size_t)144 * L * t;
        unpack_scales(ws, L, lanes0, lanes1, &tb, FULL);
        __m256i T[2][CT];
#pragma GCC unroll 8
        for (int c = 0; c < NC; c++) T[0][c] = T[1][c] = _mm256_setzero_si256();
        for (int j = 0; j < 4; j++) {
#pragma GCC unroll 2
            for (int h = 0; h < 2; h++) { /* h constant: low or high nibbles */
                const int s = 2 * j + h;
                if (pf) pf_sub(ws, s);
                const uint8_t *pq = ws + (size_t)8 * j * vb;
                const size_t xo = (size_t)256 * t + 32 * s;
                __m256i s0[CT], s1[CT];
#pragma GCC unroll 8
                for (int i = 0; i < 8; i++) {
                    __m256i op0, op1;
                    unpack_vec(pq, vb, lanes0, lanes1, s, i, &op0, &op1, FULL);
                    vec_rows(op0, op1, x, ldx, xo + 4 * i, i, s0, s1, NC);
                }
                sub_fold(&tb, s, s0, s1, T, NC);
            }
        }
        sb_update(&tb, x, ldx, nsb, t, T, acc, NC);
    }
    store_out(y, ldy, acc, lanes0, lanes1, NC, FULL);
}

/* A slice of super-blocks unpacked once per call (buffered path). */
typedef struct {
    __m256i op[8][8][2]; /* [sub-block][raw vector][half] */
    sbtab tb;
} sbunp;

/* Buffered path, one register tile: NC rows at x over the n unpacked
 * super-blocks u (super-blocks t0 ..), float accumulators carried in ab
 * (16 floats per row; from 0 when t0 == 0); the last slice (t0 + n ==
 * nsb) stores the outputs y[c * ldy + r], r < L, instead. */
AI void tile_buf(const sbunp *u, int n, int nsb, int t0, const uint8_t *x, size_t ldx, float *ab, float *y,
                 int64_t ldy, __m256i lanes0, __m256i lanes1, const int NC, const int FULL) {
    __m256 acc[2][CT];
#pragma GCC unroll 8
    for (int c = 0; c < NC; c++) {
        acc[0][c] = t0 ? _mm256_load_ps(ab + 16 * c) : _mm256_setzero_ps();
        acc[1][c] = t0 ? _mm256_load_ps(ab + 16 * c + 8) : _mm256_setzero_ps();
    }
    for (int t = 0; t < n; t++) {
        __m256i T[2][CT];
#pragma GCC unroll 8
        for (int c = 0; c < NC; c++) T[0][c] = T[1][c] = _mm256_setzero_si256();
        for (int s = 0; s < 8; s++) {
            const size_t xo = (size_t)256 * (t0 + t) + 32 * s;
            __m256i s0[CT], s1[CT];
#pragma GCC unroll 8
            for (int i = 0; i < 8; i++)
                vec_rows(_mm256_load_si256(&u[t].op[s][i][0]), _mm256_load_si256(&u[t].op[s][i][1]), x, ldx, xo + 4 * i,
                         i, s0, s1, NC);
            sub_fold(&u[t].tb, s, s0, s1, T, NC);
        }
        sb_update(&u[t].tb, x, ldx, nsb, t0 + t, T, acc, NC);
    }
    if (t0 + n < nsb) {
#pragma GCC unroll 8
        for (int c = 0; c < NC; c++) {
            _mm256_store_ps(ab + 16 * c, acc[0][c]);
            _mm256_store_ps(ab + 16 * c + 8, acc[1][c]);
        }
        return;
    }
    store_out(y, ldy, acc, lanes0, lanes1, NC, FULL);
}

/* The register tiles of CT rows over the nx rows (the last may hold fewer). */
#define SWEEP(TILE)                                                                                                    \
    for (int c0 = 0; c0 < nx; c0 += CT) {                                                                              \
        switch (nx - c0 < CT ? nx - c0 : CT) {                                                                         \
        case 1: TILE(1); break;                                                                                        \
        case 2: TILE(2); break;                                                                                        \
        case 3: TILE(3); break;                                                                                        \
        case 4: TILE(4); break;                                                                                        \
        default: PG_TRAP();                                                                                     \
        }                                                                                                              \
    }

/* All nx activation rows of one panel. Few rows: register tiles of CT
 * rows unpacking the weights themselves (the first prefetches the panel).
 * More: slices of SL super-blocks unpacked once into an L1 buffer, then
 * every tile over the slice (the accumulators wait in a buffer between
 * slices: the same float sequence as the direct path). */
AI void panel(int nsb, int L, const uint8_t *w, const uint8_t *x, size_t ldx, int nx, float *y, int64_t ldy,
              const int FULL) {
    __m256i lanes0, lanes1;
    lanes16(L, &lanes0, &lanes1);
    if (nx <= NXDIRECT) {
#define TD(nc)                                                                                                         \
    tile(c0 == 0, nsb, L, w, x + (size_t)c0 * ldx, ldx, y + (int64_t)c0 * ldy, ldy, lanes0, lanes1, nc, FULL)
        SWEEP(TD)
#undef TD
        return;
    }
    _Alignas(32) float ab[NXMAX * 16];
    _Alignas(32) sbunp u[SL];
    const size_t vb = (size_t)4 * L;
    for (int t0 = 0; t0 < nsb; t0 += SL) {
        const int n = nsb - t0 < SL ? nsb - t0 : SL;
        for (int t = 0; t < n; t++) {
            const uint8_t *ws = w + (size_t)144 * L * (t0 + t);
            unpack_scales(ws, L, lanes0, lanes1, &u[t].tb, FULL);
            for (int s = 0; s < 8; s++) {
                pf_sub(ws, s);
                const uint8_t *pq = ws + (size_t)8 * (s / 2) * vb;
#pragma GCC unroll 8
                for (int i = 0; i < 8; i++)
                    unpack_vec(pq, vb, lanes0, lanes1, s, i, &u[t].op[s][i][0], &u[t].op[s][i][1], FULL);
            }
        }
#define TB(nc)                                                                                                         \
    tile_buf(u, n, nsb, t0, x + (size_t)c0 * ldx, ldx, ab + 16 * c0, y + (int64_t)c0 * ldy, ldy, lanes0, lanes1, \
             nc, FULL)
        SWEEP(TB)
#undef TB
    }
}

/* w: one panel of nw <= 16 rows (matmul hands out whole panels: its row
 * groups are 16 rows from the start of each matrix). */
static void gemm_pq4_K(int64_t K, const void *w, size_t ldw, int nw, const void *x, size_t ldx, int nx, float *y,
                       int64_t ldy) {
    const int nsb = (int)(K / QK_K);
    (void)ldw;
    if (nx < 1 || nx > NXMAX || nw < 1 || nw > PL || K % QK_K) PG_TRAP();
    if (nw == PL) panel(nsb, PL, w, x, ldx, nx, y, ldy, 1);
    else panel(nsb, nw, w, x, ldx, nx, y, ldy, 0);
}

const pg_gemm_kernel pg_gemm_pq4_K_avx2 = {
    .rw = PL, .cx = NXMAX, .m1 = 8, .fn = gemm_pq4_K, .act_size = pg_pq4_K_act_size,
    .act_pack = pg_pq4_K_act_pack, .wpack_ok = pg_pq4_K_wpack_ok, .wpanel = PL, .wpackp = pg_pq4_K_wpack,
};

