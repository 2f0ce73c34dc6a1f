/* gemm_pq6_K_avx2.c - AVX2 tile kernel (tensor/gemm.h) over q6_K weights
 * repacked once at model load into panels of 16 rows whose rows run in the
 * int32 lanes of two ymm registers (rows 0..7: the low half, 8..15: the
 * high half of each 16-lane vector), against activations packed once per
 * matmul. The design of x86/gemm_pq6_K_avx512.c (rows in lanes: no
 * horizontal sums, each weight sub-block is unpacked once per tile and
 * used by all its activation rows) for machines without AVX-512 VNNI.
 *
 * Cost model (Zen 3, measured): vpmaddubsw / vpmaddwd share 2 pipes (2 a
 * cycle together), shifts and shuffles 2 pipes, vpbroadcastd loads 2 a
 * cycle, and the FP/vector side takes ~4 instructions a cycle. So what
 * counts is instructions per sub-block (16 elements) and activation row:
 * 5 broadcasts, then per half 4 vpmaddubsw, 4 vpsubw, 1 vpmaddwd, 1 vpaddd
 * (25 for 16 weight rows; 30 with the 8-row panels this replaced, whose
 * broadcasts fed one register each), plus the unpack (2 x 11 ops and 2 x 2
 * for the scale, once per sub-block and register tile). Registers: the 8
 * operands of a sub-block, the 2 int16 chains, a broadcast and a product;
 * the tile's 2 CT int32 sums T live in L1 (touched once per sub-block and
 * row). Tiles: one of all rows for nx <= CT1 = 8 (one pass over the
 * weights), else CT = 6 rows (4: -10% at M = 128, 8: no faster there).
 * Measured on 2 Zen 3 cores (bench kernels --types q6_K --threads 2,
 * K = 2048, N = 5632, medians of interleaved runs): M = 8 / 32 / 128
 * 342 / 352 / 336 GOP/s (8-row panels: 298 / 317 / 311), GEMV at the
 * bandwidth roof as before.
 *
 * Integer part, per sub-block j of 16 elements (operand e = the 4 unsigned
 * 6-bit weights u of elements 4e .. 4e + 3 in each lane, against the
 * broadcast 4 activation bytes q):
 *   N_j = off_j - sum_e maddubs(u_e, q_e)   (int16 slot s of a lane: the 8
 *         elements 4e + 2s, 4e + 2s + 1, e < 4; off_j = 32 * their sum(q))
 *       = sum (32 - u) q over those 8 elements, in [-32768, 32512]: it fits
 *         int16, so the wrapping vpsubw chain ends exact (|a vpmaddubsw
 *         pair| <= 2 * 63 * 128 never saturates);
 *   T' += vpmaddwd(N_j, (sc_j, sc_j))       (T' = -T of the AVX-512 kernel:
 *         T = sum_j sc_j sum (u - 32) q, |T| < 2^28, exact)
 * Folding the -32 offset into N (instead of one vpmaddwd per scale pair
 * and super-block, as the VNNI kernel does) is what lets one vpmaddwd
 * serve 4 vpmaddubsw: 8 products u q alone (up to 8 * 63 * 128) would not
 * fit int16, so the slot sums would need two vpmaddwd per sub-block.
 *
 * Panel (L = 16 lanes, or L = N % 16 rows for the last panel of a matrix;
 * exactly the stored bytes of its L rows, 210 * nsb per row, nsb = K / 256
 * super-blocks). Super-blocks go in pairs as in the AVX-512 panel: pair p
 * (super-blocks 2p, 2p + 1) starts at 420 * L * p and holds, for each of
 * its two super-blocks, 52 vectors of 4L bytes, then the two super-blocks'
 * fp16 d (2L bytes each, lane order); an odd last super-block is alone (52
 * vectors, then its d). A vector's half h is its 32 bytes at 32h (lanes
 * 8h .. 8h + 7); for L = 16 every half is 32-byte aligned (when the panel
 * is). The 52 vectors of a super-block, lane r holding row r
 * (u_i: the 6-bit value 0..63 of element i of sub-block j, as
 * decode_q6_K in ref/kquants_ref.c gives it):
 *   3j      A: byte i = u_i | (u_{8+i} >> 4) << 6          (i < 4)
 *   3j + 1  B: byte i = u_{4+i} | (u_{12+i} >> 4) << 6
 *   3j + 2  C: byte i = (u_{8+i} & 15) | (u_{12+i} & 15) << 4
 *   48 + v  int8 scales 4v .. 4v + 3 (stored order)
 * so the operands are u_0..3 = A & 63, u_4..7 = B & 63, u_8..11 =
 * (C & 15) | (A >> 2 & 48), u_12..15 = (C >> 4 & 15) | (B >> 2 & 48): 11
 * ops per half (the stored ql/qh split would take 17). A partial panel is
 * read with masked loads (lanes r < L; half 1 empty when L <= 8).
 *
 * Activations: Q8_K quantized by the level's from_float (exactly the
 * vec_dot path's values). Packed row: per super-block t at 320t its 256
 * int8 quants, then 16 int16 pairs off_j (slot 0, slot 1; see above);
 * after the nsb super-blocks nsb floats -d (negated, for T'); act_size
 * rounds up to 64 (324 bytes per super-block, Q8_K has 292).
 *
 * Per output element (lane r, activation row c), super-blocks ascending:
 *   acc = fma(cvt(T') * (-dx), d, acc)          (from acc = 0)
 * and the output is acc. cvt(T') * (-dx) = cvt(T) * dx exactly, so this is
 * the AVX-512 kernel's formula; it depends only on K, never on M, the tile,
 * the panel's fullness or the thread (batch invariance, tensor/gemm.h). */
#include "base/error.h"
#include "tensor/blocks.h"
#include "tensor/dispatch.h"
#include "tensor/types.h"
#include "tensor/x86/gemm_avx2_util.h"

#include <immintrin.h>
#include <string.h>

#define PL 16     /* rows per panel: two ymm halves of 8 lanes */
#ifndef CT
#define CT 6      /* activation rows per register tile (more than 8 rows; 4: -10% at M = 128) */
#endif
#ifndef CT1
#define CT1 8     /* up to this many rows: one tile (one pass over the weights; M = 8: +6% over 6 + 2) */
#endif
#define CTM (CT > CT1 ? CT : CT1)
#define NXMAX 128 /* activation rows per call */
#define NV 52     /* vectors of 4L bytes per super-block (then d, 2L bytes) */
#define XSB 320   /* packed activation bytes per super-block (then the -d floats) */
/* Software prefetch on the first pass over a panel (when it still comes
 * from DRAM): PFD bytes ahead, 54 lines per 3360-byte super-block (enough
 * whatever the alignment) spread over its 16 sub-blocks. */
#ifndef PFD
#define PFD 4096
#endif

/* Offsets in a panel of L lanes and nsb super-blocks. */
AI size_t sb_q(int L, int t) { return (size_t)420 * L * (t / 2) + (size_t)4 * NV * L * (t % 2); }
AI size_t sb_d(int L, int nsb, int t) {
    return (size_t)420 * L * (t / 2) +
           ((t == nsb - 1 && nsb % 2) ? (size_t)4 * NV * L : (size_t)8 * NV * L + (size_t)2 * L * (t % 2));
}

/* (sc_j, sc_j) as int16 in each lane of one half: byte b of the lane's
 * scale dword S into both high bytes, then arithmetic >> 8. */
AI __m256i scale_pairs(__m256i S, int b) {
    return _mm256_srai_epi16(_mm256_shuffle_epi8(S, _mm256_setr_epi8(-128, b, -128, b, -128, 4 + b, -128, 4 + b, -128,
                                                                      8 + b, -128, 8 + b, -128, 12 + b, -128, 12 + b,
                                                                      -128, b, -128, b, -128, 4 + b, -128, 4 + b, -128,
                                                                      8 + b, -128, 8 + b, -128, 12 + b, -128, 12 + b)),
                             8);
}

/* The 4 operands of one half from its A, B, C vectors (see the top). */
AI void unpack_half(__m256i A, __m256i B, __m256i C, __m256i op[4]) {
    const __m256i m3f = _mm256_set1_epi8(0x3f), m0f = _mm256_set1_epi8(0x0f), m30 = _mm256_set1_epi8(0x30);
    op[0] = _mm256_and_si256(A, m3f);
    op[1] = _mm256_and_si256(B, m3f);
    op[2] = _mm256_or_si256(_mm256_and_si256(C, m0f), _mm256_and_si256(_mm256_srli_epi16(A, 2), m30));
    op[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(C, 4), m0f),
                            _mm256_and_si256(_mm256_srli_epi16(B, 2), m30));
}

/* One panel of L lanes (FULL: L == 16) x NC <= CT activation rows, all of
 * K; y[c * ldy + r] for r < L. Rows 0..7 are the low ymm half of each
 * 16-lane vector, rows 8..15 the high one: each activation broadcast
 * feeds both. pf: prefetch the panel stream ahead. */
AI void tile(int pf, int nsb, int L, const uint8_t *w, const uint8_t *x, size_t ldx, float *y, int64_t ldy,
             const int NC, const int FULL) {
    __m256i lanes0, lanes1;
    lanes16(L, &lanes0, &lanes1);
    const size_t vb = (size_t)4 * L, doff = (size_t)nsb * XSB;
    __m256 acc[2][CTM];
#pragma GCC unroll 8
    for (int c = 0; c < NC; c++) acc[0][c] = acc[1][c] = _mm256_setzero_ps();
    for (int t = 0; t < nsb; t++) {
        const uint8_t *ws = w + sb_q(L, t), *xt = x + (size_t)XSB * t;
        const char *pfp = (const char *)((uintptr_t)(ws + PFD) & ~(uintptr_t)63);
        /* the int32 sums (2 CT vectors: the compiler keeps them in L1,
         * touched once per sub-block and row) */
        __m256i T[2][CTM];
#pragma GCC unroll 8
        for (int c = 0; c < NC; c++) T[0][c] = T[1][c] = _mm256_setzero_si256();
        for (int v = 0; v < 4; v++) {
            const __m256i S0 = ld(ws + (size_t)(48 + v) * vb, lanes0, FULL);
            const __m256i S1 = ld(ws + (size_t)(48 + v) * vb + 32, lanes1, FULL);
#pragma GCC unroll 4
            for (int b = 0; b < 4; b++) {
                const int j = 4 * v + b;
                if (pf) /* 54 lines cover a 3360-byte super-block whatever its alignment */
                    for (int l = 54 * j / 16; l < 54 * (j + 1) / 16; l++) _mm_prefetch(pfp + 64 * l, _MM_HINT_T0);
                const __m256i sc0 = scale_pairs(S0, b), sc1 = scale_pairs(S1, b);
                const uint8_t *wj = ws + (size_t)3 * j * vb;
                __m256i op0[4], op1[4];
                unpack_half(ld(wj, lanes0, FULL), ld(wj + vb, lanes0, FULL), ld(wj + 2 * vb, lanes0, FULL), op0);
                const uint8_t *wj1 = wj + 32;
                unpack_half(ld(wj1, lanes1, FULL), ld(wj1 + vb, lanes1, FULL), ld(wj1 + 2 * vb, lanes1, FULL), op1);
                /* keep the operands in registers for all rows of the tile */
                __asm__("" : "+x"(op0[0]), "+x"(op0[1]), "+x"(op0[2]), "+x"(op0[3]));
                __asm__("" : "+x"(op1[0]), "+x"(op1[1]), "+x"(op1[2]), "+x"(op1[3]));
#pragma GCC unroll 8
                for (int c = 0; c < NC; c++) {
                    const uint8_t *xq = xt + (size_t)c * ldx + 16 * j;
                    __m256i n0 = bcast4(xt + (size_t)c * ldx + 256 + 4 * j), n1 = n0;
#pragma GCC unroll 4
                    for (int e = 0; e < 4; e++) {
                        const __m256i q = bcast4(xq + 4 * e);
                        n0 = _mm256_sub_epi16(n0, _mm256_maddubs_epi16(op0[e], q));
                        n1 = _mm256_sub_epi16(n1, _mm256_maddubs_epi16(op1[e], q));
                        /* in order (GCC would otherwise build a tree of live products) */
                        __asm__("" : "+x"(n0), "+x"(n1));
                    }
                    T[0][c] = _mm256_add_epi32(T[0][c], _mm256_madd_epi16(n0, sc0));
                    T[1][c] = _mm256_add_epi32(T[1][c], _mm256_madd_epi16(n1, sc1));
                }
            }
        }
        __m256 dw0, dw1;
        if (FULL) {
            const uint8_t *pd = w + sb_d(PL, nsb, t);
            dw0 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)pd));
            dw1 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(pd + 16)));
        } else {
            uint16_t h[PL] = {0};
            memcpy(h, w + sb_d(L, nsb, t), (size_t)2 * L);
            dw0 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)h));
            dw1 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(h + 8)));
        }
#pragma GCC unroll 8
        for (int c = 0; c < NC; c++) {
            const __m256 nd = _mm256_set1_ps(ldf(x + (size_t)c * ldx + doff + (size_t)4 * t));
            acc[0][c] = _mm256_fmadd_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(T[0][c]), nd), dw0, acc[0][c]);
            acc[1][c] = _mm256_fmadd_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(T[1][c]), nd), dw1, acc[1][c]);
        }
    }
#pragma GCC unroll 8
    for (int c = 0; c < NC; c++) st16(y + (int64_t)c * ldy, acc[0][c], acc[1][c], lanes0, lanes1, FULL);
}

/* All nx rows of one panel: one tile when nx <= CT1, else tiles of CT
 * rows (the first prefetches the panel stream). */
AI void panel(int nsb, int L, const uint8_t *w, const uint8_t *x, size_t ldx, int nx, float *y, int64_t ldy,
              const int FULL) {
    const int ct = nx <= CT1 ? CT1 : CT;
    for (int c0 = 0; c0 < nx; c0 += ct) {
        const uint8_t *xc = x + (size_t)c0 * ldx;
        float *yc = y + (int64_t)c0 * ldy;
        const int pf = c0 == 0;
        switch (nx - c0 < ct ? nx - c0 : ct) {
        case 1: tile(pf, nsb, L, w, xc, ldx, yc, ldy, 1, FULL); break;
        case 2: tile(pf, nsb, L, w, xc, ldx, yc, ldy, 2, FULL); break;
        case 3: tile(pf, nsb, L, w, xc, ldx, yc, ldy, 3, FULL); break;
        case 4: tile(pf, nsb, L, w, xc, ldx, yc, ldy, 4, FULL); break;
        case 5: tile(pf, nsb, L, w, xc, ldx, yc, ldy, 5, FULL); break;
        case 6: tile(pf, nsb, L, w, xc, ldx, yc, ldy, 6, FULL); break;
        case 7: tile(pf, nsb, L, w, xc, ldx, yc, ldy, 7, FULL); break;
        case 8: tile(pf, nsb, L, w, xc, ldx, yc, ldy, 8, FULL); break;
        default: PG_TRAP();
        }
    }
}

/* w: one panel of nw <= 16 rows (matmul hands out whole panels: its row
 * groups are 16 rows from the start of each matrix). */
static void gemm_pq6_K(int64_t K, const void *w, size_t ldw, int nw, const void *x, size_t ldx, int nx, float *y,
                       int64_t ldy) {
    const int nsb = (int)(K / QK_K);
    (void)ldw;
    if (nx < 1 || nx > NXMAX || nw < 1 || nw > PL || K % QK_K) PG_TRAP();
    if (nw == PL) panel(nsb, PL, w, x, ldx, nx, y, ldy, 1);
    else panel(nsb, nw, w, x, ldx, nx, y, ldy, 0);
}

/* ----------------------------------------------------------- packing */

static size_t pq6k_act_size(int64_t K) { return ((size_t)(K / QK_K) * (XSB + 4) + 63) / 64 * 64; }

static void pq6k_act_pack(const float *x, int64_t K, void *dst) {
    const pg_type_traits *tr = pg_type_get(PG_TYPE_Q8_K);
    const int nsb = (int)(K / QK_K);
    uint8_t *o = dst;
    for (int t = 0; t < nsb; t++) {
        block_q8_K q;
        tr->from_float(x + (size_t)t * QK_K, &q, QK_K);
        uint8_t *ot = o + (size_t)XSB * t;
        memcpy(ot, q.qs, 256);
        for (int j = 0; j < 16; j++) {
            int s[2] = {0, 0};
            for (int e = 0; e < 16; e++) s[(e / 2) % 2] += q.qs[16 * j + e];
            /* 32 * (sum of 8 values in [-128, 127]) is in [-32768, 32512] */
            const int16_t off[2] = {(int16_t)(32 * s[0]), (int16_t)(32 * s[1])};
            memcpy(ot + 256 + 4 * j, off, 4);
        }
        const float nd = -q.d;
        memcpy(o + (size_t)nsb * XSB + (size_t)4 * t, &nd, 4);
    }
    const size_t used = (size_t)nsb * (XSB + 4);
    memset(o + used, 0, pq6k_act_size(K) - used);
}

static int pq6k_ok(int64_t K) { return K > 0 && K % QK_K == 0 && K / QK_K <= (1 << 20); }

/* n <= 16 stored rows (stride ld) -> one panel of n lanes. */
static void pq6k_wpack(const void *src, size_t ld, int64_t K, int n, void *dst) {
    const int nsb = (int)(K / QK_K);
    const size_t vb = (size_t)4 * n;
    uint8_t *o = dst;
    for (int r = 0; r < n; r++) {
        const block_q6_K *row = (const block_q6_K *)((const uint8_t *)src + (size_t)r * ld);
        for (int t = 0; t < nsb; t++) {
            const block_q6_K *b = &row[t];
            uint8_t u[QK_K]; /* the 6-bit values, element order */
            for (int h = 0; h < 2; h++)
                for (int l = 0; l < 32; l++) {
                    const uint8_t l0 = b->ql[64 * h + l], l1 = b->ql[64 * h + 32 + l], qh = b->qh[32 * h + l];
                    u[128 * h + l] = (uint8_t)((l0 & 15) | (qh & 3) << 4);
                    u[128 * h + 32 + l] = (uint8_t)((l1 & 15) | (qh >> 2 & 3) << 4);
                    u[128 * h + 64 + l] = (uint8_t)((l0 >> 4) | (qh >> 4 & 3) << 4);
                    u[128 * h + 96 + l] = (uint8_t)((l1 >> 4) | (qh >> 6 & 3) << 4);
                }
            uint8_t *ws = o + sb_q(n, t);
            for (int j = 0; j < 16; j++) {
                const uint8_t *s = u + 16 * j;
                uint8_t abc[3][4];
                for (int i = 0; i < 4; i++) {
                    abc[0][i] = (uint8_t)(s[i] | (s[8 + i] >> 4) << 6);
                    abc[1][i] = (uint8_t)(s[4 + i] | (s[12 + i] >> 4) << 6);
                    abc[2][i] = (uint8_t)((s[8 + i] & 15) | (s[12 + i] & 15) << 4);
                }
                for (int k = 0; k < 3; k++) memcpy(ws + (size_t)(3 * j + k) * vb + 4 * r, abc[k], 4);
            }
            for (int k = 0; k < 4; k++) memcpy(ws + (size_t)(48 + k) * vb + 4 * r, b->scales + 4 * k, 4);
            memcpy(o + sb_d(n, nsb, t) + 2 * r, &b->d, 2);
        }
    }
}

const pg_gemm_kernel pg_gemm_pq6_K_avx2 = {
    .rw = PL, .cx = NXMAX, .m1 = 8, .fn = gemm_pq6_K, .act_size = pq6k_act_size, .act_pack = pq6k_act_pack,
    .wpack_ok = pq6k_ok, .wpanel = PL, .wpackp = pq6k_wpack,
};

