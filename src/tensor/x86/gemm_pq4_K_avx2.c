/* gemm_pq4_K_avx2.c - AVX2 tile kernel (tensor/gemm.h) over q4_K weights
 * repacked once at model load into panels of 8 rows whose rows run in the
 * 8 int32 lanes of a ymm register, against activations packed once per
 * matmul. The design of x86/gemm_pq4_K_avx512.c (rows in lanes: no
 * horizontal sums, each weight sub-block unpacked once per register tile
 * and used by all its activation rows; see x86/gemm_pq4_0_avx512.c for
 * why) for machines without AVX-512 VNNI.
 *
 * Panel (L = 8 lanes, or L = N % 8 rows for the last panel of a matrix;
 * exactly the stored bytes of its L rows, 144 * nsb per row, nsb = K / 256
 * super-blocks). Super-block t starts at 144 * L * t:
 *   32 raw vectors of 4L bytes: vector k, lane r = stored qs bytes 4k ..
 *     4k + 3 of row r's super-block. With j = k / 8, i = k % 8, their low
 *     nibbles are elements 64j + 4i .. + 3 (sub-block 2j), their high
 *     nibbles elements 64j + 32 + 4i .. + 3 (sub-block 2j + 1);
 *   3 vectors of 4L bytes: the stored 12 scale bytes of each lane (dword
 *     A = bytes 0..3, B = 4..7, C = 8..11);
 *   fp16 d of each lane (2L bytes), then fp16 dmin (2L bytes).
 * For L = 8 a super-block is 18 cache lines and every vector is 32-byte
 * aligned when the panel is (the model's copy is page-aligned); a partial
 * panel is read with masked loads.
 *
 * Activations: Q8_K quantized by the level's from_float (exactly the
 * vec_dot path's values). Packed row (the AVX-512 kernel's layout):
 * nsb x 256 int8 (super-block t at 256t), nsb floats d, then nsb x 8 int16
 * sub-block sums (exact sums of 32 values) in pairs (sum 2k, sum 2k + 1)
 * per dword; act_size rounds up to 64.
 *
 * Without vpdpbusd the int8 product is vpmaddubsw (unsigned nibble x
 * signed activation byte broadcast from 4 bytes; int16 pair sums). Per
 * sub-block, activation row and 8 weight rows: 8 vpmaddubsw summed with
 * vpaddw in int16 (exact: a pair is at most 2 * 15 * 128 = 3840 in
 * magnitude, 8 of them 30720 < 2^15), then ONE vpmaddwd with the
 * sub-block's 6-bit scale (in both int16 halves of each lane) gives the
 * int32 sc_s * dot_s. Measured on Zen 3: vpmaddubsw and vpmaddwd issue 2
 * per cycle, the broadcasts from memory cost no vector pipe, and this mix
 * of multiplies and dependent adds runs at about 3 vector ops per cycle,
 * so those 17 ops (~6 cycles per 256 int8 multiply-adds per row) are the
 * bound; everything else is kept out of the per-row path: the scales (as
 * those int16 pairs), the min pairs and the float d / dmin of a
 * super-block are unpacked once into a small stack table read as memory
 * operands, and the registers hold the 8 unpacked weight operands of a
 * sub-block, the tile's int32 sums and the int16 partial sum.
 *
 * Two paths per call (one panel, nx activation rows): nx <= NXDIRECT
 * (decode, small batches): register tiles of CT rows that unpack the
 * nibbles themselves, the first one prefetching the panel stream (M = 1
 * streams at the memory roof). Larger nx: slices of SL super-blocks are
 * unpacked once per call into an L1 buffer and every tile reads the
 * operands from there (the unpack then costs nothing per tile; in cache
 * ~200 GOP/s per core against ~185 unpacking per tile); the float
 * accumulators wait in a small buffer between slices, which keeps their
 * sequence of values exactly that of the direct path.
 *
 * Per output element (lane r, activation row c), super-blocks ascending:
 *   T  = sum_s sc_s * dot_s   (exact: |T| < 8 * 63 * 32 * 15 * 128 < 2^31)
 *   Mi = sum_s m_s * bsum_s   (4 vpmaddwd over the pairs; exact)
 *   acc = fma(cvt(T) * dx, d, acc);  acc = fma(-(cvt(Mi) * dx), dmin, acc)
 * from acc = 0, and the output is acc: the formula of the AVX-512 kernel,
 * so both levels give bit-identical results, and the same sequence
 * whatever M, the tile, the panel's fullness or the thread (batch
 * invariance, tensor/gemm.h). */
#include "tensor/blocks.h"
#include "tensor/gemm.h"
#include "tensor/types.h"
#include "tensor/x86/gemm_pq4_K.h"
#include "tensor/x86/gemm_avx2_util.h"

#include <immintrin.h>
#include <string.h>

#define PL 8      /* rows per panel (lanes) */
#define CT 4      /* activation rows per register tile: 8 weight operands + CT int32 sums + 2 temporaries <= 16 */
#define NXMAX 128 /* activation rows per call */
#define PFD 4096  /* software prefetch distance in bytes on the first pass over a panel */
#define NXDIRECT 8 /* at most this many activation rows per call: tiles unpack the weights themselves */
#define SL 8       /* super-blocks per unpacked slice (the buffered path's 20 KB L1 buffer) */

/* The int16 pair sums of one sub-block of 8 lanes (unpacked nibbles
 * op[0..7]) against the 32 activation bytes at xq: 8 vpmaddubsw, each
 * against a 4-byte broadcast, summed with vpaddw. In asm so
 * that the compiler keeps the 8 operands in registers and issues each
 * broadcast just before its multiply (its own scheduling hoists all 8
 * broadcasts and then spills the operands). One chain of adds: the
 * register tile's other rows cover its latency. */
AI __m256i sbdot(const __m256i op[8], const uint8_t *xq) {
    __m256i s, t;
    __asm__("vpbroadcastd (%[x]), %[s]\n\t"
            "vpmaddubsw %[s], %[o0], %[s]\n\t"
            "vpbroadcastd 4(%[x]), %[t]\n\t"
            "vpmaddubsw %[t], %[o1], %[t]\n\t"
            "vpaddw %[t], %[s], %[s]\n\t"
            "vpbroadcastd 8(%[x]), %[t]\n\t"
            "vpmaddubsw %[t], %[o2], %[t]\n\t"
            "vpaddw %[t], %[s], %[s]\n\t"
            "vpbroadcastd 12(%[x]), %[t]\n\t"
            "vpmaddubsw %[t], %[o3], %[t]\n\t"
            "vpaddw %[t], %[s], %[s]\n\t"
            "vpbroadcastd 16(%[x]), %[t]\n\t"
            "vpmaddubsw %[t], %[o4], %[t]\n\t"
            "vpaddw %[t], %[s], %[s]\n\t"
            "vpbroadcastd 20(%[x]), %[t]\n\t"
            "vpmaddubsw %[t], %[o5], %[t]\n\t"
            "vpaddw %[t], %[s], %[s]\n\t"
            "vpbroadcastd 24(%[x]), %[t]\n\t"
            "vpmaddubsw %[t], %[o6], %[t]\n\t"
            "vpaddw %[t], %[s], %[s]\n\t"
            "vpbroadcastd 28(%[x]), %[t]\n\t"
            "vpmaddubsw %[t], %[o7], %[t]\n\t"
            "vpaddw %[t], %[s], %[s]"
            : [s] "=&x"(s), [t] "=&x"(t)
            : [x] "r"(xq), "m"(*(const uint8_t(*)[32])xq), [o0] "x"(op[0]), [o1] "x"(op[1]), [o2] "x"(op[2]),
              [o3] "x"(op[3]), [o4] "x"(op[4]), [o5] "x"(op[5]), [o6] "x"(op[6]), [o7] "x"(op[7]));
    return s;
}

/* vpshufb control: in every dword, byte a then byte b of that dword, each
 * zero-extended to an int16 half. */
AI __m256i ctl(int a, int b) {
    const __m256i base = _mm256_setr_epi32(0, 0x04040404, 0x08080808, 0x0c0c0c0c, 0, 0x04040404, 0x08080808, 0x0c0c0c0c);
    return _mm256_add_epi8(_mm256_set1_epi32((int)(0x80008000u | (unsigned)a | (unsigned)b << 16)), base);
}

/* A super-block's scales and mins unpacked per lane (once per register tile). */
typedef struct {
    __m256i sc[8]; /* int16 pairs (sc_s, sc_s) */
    __m256i mp[4]; /* int16 pairs (m_2k, m_2k+1) */
    __m256 dw, dm;
} sbtab;

AI void unpack_scales(const uint8_t *ws, int L, __m256i lanes, sbtab *tb, const int FULL) {
    const size_t vb = (size_t)4 * L;
    const __m256i A = ld(ws + 32 * vb, lanes, FULL), B = ld(ws + 33 * vb, lanes, FULL), C = ld(ws + 34 * vb, lanes, FULL);
    const __m256i m6 = _mm256_set1_epi16(63), m4 = _mm256_set1_epi16(15), m2 = _mm256_set1_epi16(3 << 4);
#pragma GCC unroll 4
    for (int s = 0; s < 4; s++) {
        const __m256i cs = ctl(s, s);
        tb->sc[s] = _mm256_and_si256(_mm256_shuffle_epi8(A, cs), m6);
        tb->sc[s + 4] = _mm256_or_si256(_mm256_and_si256(_mm256_shuffle_epi8(C, cs), m4),
                                        _mm256_and_si256(_mm256_srli_epi16(_mm256_shuffle_epi8(A, cs), 2), m2));
    }
#pragma GCC unroll 2
    for (int k = 0; k < 2; k++) {
        const __m256i cp = ctl(2 * k, 2 * k + 1);
        tb->mp[k] = _mm256_and_si256(_mm256_shuffle_epi8(B, cp), m6);
        tb->mp[k + 2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(_mm256_shuffle_epi8(C, cp), 4), m4),
                                        _mm256_and_si256(_mm256_srli_epi16(_mm256_shuffle_epi8(B, cp), 2), m2));
    }
    if (FULL) {
        tb->dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(ws + 35 * vb)));
        tb->dm = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(ws + 35 * vb + 2 * L)));
    } else {
        uint16_t h[2][PL] = {{0}};
        memcpy(h[0], ws + 35 * vb, (size_t)2 * L);
        memcpy(h[1], ws + 35 * vb + 2 * L, (size_t)2 * L);
        tb->dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)h[0]));
        tb->dm = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)h[1]));
    }
}

/* T[c] += sc_s * dot_s for the NC rows at x (stride ldx; xq offset of
 * sub-block s) against the unpacked operands op. */
AI void sub_rows(const __m256i op[8], const uint8_t *x, size_t ldx, size_t xo, const __m256i *sc, __m256i *T,
                 const int NC) {
#pragma GCC unroll 4
    for (int c = 0; c < NC; c++) T[c] = _mm256_add_epi32(T[c], _mm256_madd_epi16(sbdot(op, x + (size_t)c * ldx + xo), *sc));
}

/* The per-super-block float update of the NC rows at x (super-block t). */
AI void sb_update(const sbtab *tb, const uint8_t *x, size_t ldx, int nsb, int t, const __m256i *T, __m256 *acc,
                  const int NC) {
    const size_t doff = (size_t)nsb * 256, boff = (size_t)nsb * 260;
#pragma GCC unroll 4
    for (int c = 0; c < NC; c++) {
        const uint8_t *xr = x + (size_t)c * ldx;
        const uint8_t *bs = xr + boff + (size_t)16 * t;
        __m256i mi = _mm256_madd_epi16(tb->mp[0], bcast4(bs));
#pragma GCC unroll 4
        for (int k = 1; k < 4; k++) mi = _mm256_add_epi32(mi, _mm256_madd_epi16(tb->mp[k], bcast4(bs + 4 * k)));
        const __m256 vdx = _mm256_set1_ps(ldf(xr + doff + (size_t)4 * t));
        acc[c] = _mm256_fmadd_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(T[c]), vdx), tb->dw, acc[c]);
        acc[c] = _mm256_fnmadd_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(mi), vdx), tb->dm, acc[c]);
    }
}

/* The 8 unpacked operands of sub-block s from the raw vectors at ws. */
AI void unpack_sub(const uint8_t *ws, int L, __m256i lanes, int s, __m256i op[8], const int FULL) {
    const size_t vb = (size_t)4 * L;
    /* the high nibbles reload the raw vectors from L1 (hidden pointer: the
     * compiler would keep them and spill) */
    const uint8_t *pq = ws + (size_t)8 * (s / 2) * vb;
    __asm__("" : "+r"(pq));
#pragma GCC unroll 8
    for (int i = 0; i < 8; i++) {
        const __m256i v = ld(pq + i * vb, lanes, FULL);
        op[i] = (s & 1) ? _mm256_and_si256(_mm256_srli_epi16(v, 4), _mm256_set1_epi8(15))
                        : _mm256_and_si256(v, _mm256_set1_epi8(15));
    }
}

/* Prefetch of the panel stream, PFD ahead of super-block ws: its 18 lines
 * (L = 8) spread over its 8 sub-blocks. */
AI void pf_sub(const uint8_t *ws, int s) {
    for (int l = 18 * s / 8; l < 18 * (s + 1) / 8; l++) _mm_prefetch((const char *)ws + PFD + 64 * l, _MM_HINT_T0);
}

/* Direct path (few activation rows): one panel of L lanes (FULL: L == 8) x
 * NC <= CT rows, all of K, unpacking the weights in the tile; y[c * ldy +
 * r] for r < L. pf: prefetch the panel stream ahead. */
AI void tile(int pf, int nsb, int L, const uint8_t *w, const uint8_t *x, size_t ldx, float *y, int64_t ldy,
             const int NC, const int FULL) {
    const __m256i lanes = _mm256_cmpgt_epi32(_mm256_set1_epi32(L), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    sbtab tb;
    __m256 acc[CT];
#pragma GCC unroll 4
    for (int c = 0; c < NC; c++) acc[c] = _mm256_setzero_ps();
    for (int t = 0; t < nsb; t++) {
        const uint8_t *ws = w + (size_t)144 * L * t;
        unpack_scales(ws, L, lanes, &tb, FULL);
        __m256i T[CT];
#pragma GCC unroll 4
        for (int c = 0; c < NC; c++) T[c] = _mm256_setzero_si256();
        for (int j = 0; j < 4; j++) {
#pragma GCC unroll 2
            for (int h = 0; h < 2; h++) {
                const int s = 2 * j + h;
                if (pf) pf_sub(ws, s);
                __m256i op[8];
                unpack_sub(ws, L, lanes, s, op, FULL);
                sub_rows(op, x, ldx, (size_t)256 * t + 32 * s, &tb.sc[s], T, NC);
            }
        }
        sb_update(&tb, x, ldx, nsb, t, T, acc, NC);
    }
#pragma GCC unroll 4
    for (int c = 0; c < NC; c++) {
        if (FULL) _mm256_storeu_ps(y + (int64_t)c * ldy, acc[c]);
        else _mm256_maskstore_ps(y + (int64_t)c * ldy, lanes, acc[c]);
    }
}

/* A slice of super-blocks unpacked once per call (buffered path). */
typedef struct {
    __m256i op[8][8]; /* [sub-block][i] */
    sbtab tb;
} sbunp;

/* Buffered path, one register tile: NC rows at x over the n unpacked
 * super-blocks u (super-blocks t0 ..), float accumulators carried in ab
 * (8 floats per row; from 0 when t0 == 0); the last slice (t0 + n == nsb)
 * stores the outputs y[c * ldy + r], r < L, instead. */
AI void tile_buf(const sbunp *u, int n, int nsb, int t0, const uint8_t *x, size_t ldx, float *ab, float *y,
                 int64_t ldy, __m256i lanes, const int NC, const int FULL) {
    __m256 acc[CT];
#pragma GCC unroll 4
    for (int c = 0; c < NC; c++) acc[c] = t0 ? _mm256_load_ps(ab + 8 * c) : _mm256_setzero_ps();
    for (int t = 0; t < n; t++) {
        __m256i T[CT];
#pragma GCC unroll 4
        for (int c = 0; c < NC; c++) T[c] = _mm256_setzero_si256();
        for (int s = 0; s < 8; s++) {
            __m256i op[8];
#pragma GCC unroll 8
            for (int i = 0; i < 8; i++) op[i] = _mm256_load_si256(&u[t].op[s][i]);
            sub_rows(op, x, ldx, (size_t)256 * (t0 + t) + 32 * s, &u[t].tb.sc[s], T, NC);
        }
        sb_update(&u[t].tb, x, ldx, nsb, t0 + t, T, acc, NC);
    }
    if (t0 + n < nsb) {
#pragma GCC unroll 4
        for (int c = 0; c < NC; c++) _mm256_store_ps(ab + 8 * c, acc[c]);
        return;
    }
#pragma GCC unroll 4
    for (int c = 0; c < NC; c++) {
        if (FULL) _mm256_storeu_ps(y + (int64_t)c * ldy, acc[c]);
        else _mm256_maskstore_ps(y + (int64_t)c * ldy, lanes, acc[c]);
    }
}

/* All nx activation rows of one panel. Few rows: register tiles of CT
 * rows unpacking the weights themselves (the first prefetches the panel).
 * More: slices of SL super-blocks unpacked once into an L1 buffer, then
 * every tile over the slice (the accumulators wait in a buffer between
 * slices: the same float sequence as the direct path). */
AI void panel(int nsb, int L, const uint8_t *w, const uint8_t *x, size_t ldx, int nx, float *y, int64_t ldy,
              const int FULL) {
    if (nx <= NXDIRECT) {
        for (int c0 = 0; c0 < nx; c0 += CT) {
            const uint8_t *xc = x + (size_t)c0 * ldx;
            float *yc = y + (int64_t)c0 * ldy;
            const int pf = c0 == 0;
            switch (nx - c0 < CT ? nx - c0 : CT) {
            case 1: tile(pf, nsb, L, w, xc, ldx, yc, ldy, 1, FULL); break;
            case 2: tile(pf, nsb, L, w, xc, ldx, yc, ldy, 2, FULL); break;
            case 3: tile(pf, nsb, L, w, xc, ldx, yc, ldy, 3, FULL); break;
            case 4: tile(pf, nsb, L, w, xc, ldx, yc, ldy, 4, FULL); break;
            default: __builtin_trap();
            }
        }
        return;
    }
    const __m256i lanes = _mm256_cmpgt_epi32(_mm256_set1_epi32(L), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    _Alignas(32) float ab[NXMAX * 8];
    _Alignas(32) sbunp u[SL];
    for (int t0 = 0; t0 < nsb; t0 += SL) {
        const int n = nsb - t0 < SL ? nsb - t0 : SL;
        for (int t = 0; t < n; t++) {
            const uint8_t *ws = w + (size_t)144 * L * (t0 + t);
            unpack_scales(ws, L, lanes, &u[t].tb, FULL);
            for (int s = 0; s < 8; s++) {
                pf_sub(ws, s);
                unpack_sub(ws, L, lanes, s, u[t].op[s], FULL);
            }
        }
        for (int c0 = 0; c0 < nx; c0 += CT) {
            const uint8_t *xc = x + (size_t)c0 * ldx;
            float *abc = ab + 8 * c0, *yc = y + (int64_t)c0 * ldy;
#define TB(nc) tile_buf(u, n, nsb, t0, xc, ldx, abc, yc, ldy, lanes, nc, FULL)
            switch (nx - c0 < CT ? nx - c0 : CT) {
            case 1: TB(1); break;
            case 2: TB(2); break;
            case 3: TB(3); break;
            case 4: TB(4); break;
            default: __builtin_trap();
            }
#undef TB
        }
    }
}

/* w: one panel of nw <= 8 rows (matmul hands out whole panels: its row
 * groups are 8 rows from the start of each matrix). */
static void gemm_pq4_K(int64_t K, const void *w, size_t ldw, int nw, const void *x, size_t ldx, int nx, float *y,
                       int64_t ldy) {
    const int nsb = (int)(K / QK_K);
    (void)ldw;
    if (nx < 1 || nx > NXMAX || nw < 1 || nw > PL || K % QK_K) __builtin_trap();
    if (nw == PL) panel(nsb, PL, w, x, ldx, nx, y, ldy, 1);
    else panel(nsb, nw, w, x, ldx, nx, y, ldy, 0);
}

static const pg_gemm_kernel k_pq4_K = {
    .rw = PL, .cx = NXMAX, .m1 = 8, .fn = gemm_pq4_K, .act_size = pg_pq4_K_act_size,
    .act_pack = pg_pq4_K_act_pack, .wpack_ok = pg_pq4_K_wpack_ok, .wpanel = PL, .wpackp = pg_pq4_K_wpack,
};

const pg_gemm_kernel *pg_gemm_pq4_K_avx2(void) { return &k_pq4_K; }
