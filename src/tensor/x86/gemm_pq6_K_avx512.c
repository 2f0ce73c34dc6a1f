/* gemm_pq6_K_avx512.c - AVX-512 VNNI tile kernel (tensor/gemm.h) over
 * q6_K weights repacked once at model load into panels of 16 rows whose
 * rows run in the 16 int32 lanes (the design of x86/gemm_pq4_0_avx512.c,
 * which says why), against activations packed once per matmul.
 *
 * Panel (L = 16 lanes, or L = N % 16 rows for the last panel of a matrix;
 * exactly the stored bytes of its L rows, 210 * nsb per row, nsb = K / 256
 * super-blocks). Super-blocks go in pairs; pair p (super-blocks 2p, 2p + 1)
 * starts at 420 * L * p and holds, for each of its two super-blocks, 52
 * vectors of 4L bytes, then the two super-blocks' fp16 d (2L bytes each,
 * lane order); an odd last super-block is alone (52 vectors, then its d).
 * For L = 16 every vector is 64-byte aligned (when the panel is). The 52
 * vectors of a super-block, lane r holding the stored bytes of row r:
 *   0..31  ql: vector k = ql bytes 4k .. 4k + 3. With h = k / 16 and
 *          i = k % 16, their low nibbles are the low 4 bits of elements
 *          128h + 4i .. + 3, their high nibbles those of 128h + 64 + 4i ..;
 *   32..47 qh: vector 32 + k = qh bytes 4k .. 4k + 3. With h = k / 8 and
 *          l = 4 (k % 8), bits 2q, 2q + 1 of each byte (q < 4) are the high
 *          2 bits of elements 128h + 32q + l .. + 3;
 *   48..51 scales: vector 48 + v = int8 scales 4v .. 4v + 3.
 * (The mapping of the stored block, see decode_q6_K in ref/kquants_ref.c.)
 * So the operand of the 4 elements 16j + 4e .. + 3 (sub-block j = 8h + 2q
 * + s, e < 4, l = 4s + e) is (ql vector 16h + 8(q & 1) + l, low nibble for
 * q < 2, high for q >= 2) | (qh vector 32 + 8h + l shifted so that bits 2q,
 * 2q + 1 land at 4, 5) & 0x30: 2 to 4 ops, one vpternlogd among them.
 *
 * Activations: Q8_K quantized by the level's from_float (exactly the
 * vec_dot path's values). Packed row: nsb x 256 int8 (super-block t at
 * 256t), nsb floats d, then per super-block 16 int16 negated sub-block sums
 * (-bsum_j, exact sums of 16 values) as 8 pairs: for v < 4, pair 2v =
 * (-bsum_4v, -bsum_4v+2), pair 2v + 1 = (-bsum_4v+1, -bsum_4v+3), the pairs
 * the scale bytes of a dword give with 16-bit shifts; act_size rounds up
 * to 64.
 *
 * Per output element (lane r, activation row c), super-blocks ascending:
 *   T = sum_v dpwssd(32 sc pairs of v, -bsum pairs)   (= -32 sum_j sc_j bsum_j)
 *     + sum_j sc_j * dot_j     (dot_j: 4 vpdpbusd of the unsigned 6-bit
 *                               values 0..63 of sub-block j)
 *   exact: |dot_j| <= 16 * 63 * 128, |sc_j| <= 128, |bsum_j| <= 16 * 128,
 *   so |T| <= 16 * 128 * (16 * 63 * 128 + 32 * 16 * 128) < 2^29;
 *   acc = fma(cvt(T) * dx, d, acc)
 * from acc = 0, and the output is acc: the same sequence whatever M, the
 * tile, the panel's fullness or the thread (batch invariance). */
#include "base/error.h"
#include "tensor/blocks.h"
#include "tensor/dispatch.h"
#include "tensor/types.h"
#include "tensor/x86/gemm_avx512_util.h"

#include <immintrin.h>
#include <string.h>

#define PL 16     /* rows per panel (lanes) */
#define CT 8      /* activation rows per register tile (4, 6: no faster in cache, noisy host) */
#define NXMAX 128 /* activation rows per call */
/* Software prefetch on the first pass over a panel (when it still comes
 * from DRAM): PFD bytes ahead, spread evenly over the 16 sub-blocks of a
 * super-block (54 lines per super-block). Measured (2 threads, K = 2048):
 * without it M = 1 is ~2x slower; 54 lines in one burst per super-block
 * at 4096 (the q4 kernels' choice) ~2x slower at M = 8 and ~15% at M = 1
 * than spread at 8192; 4096 and 16384 spread are in between. */
#define PFD 8192
#define PFL 54
#define NV 52     /* vectors of 4L bytes per super-block (then d, 2L bytes) */

/* Offsets in a panel of L lanes and nsb super-blocks. */
AI size_t sb_q(int L, int t) { return (size_t)420 * L * (t / 2) + (size_t)4 * NV * L * (t % 2); }
AI size_t sb_d(int L, int nsb, int t) {
    return (size_t)420 * L * (t / 2) +
           ((t == nsb - 1 && nsb % 2) ? (size_t)4 * NV * L : (size_t)8 * NV * L + (size_t)2 * L * (t % 2));
}

/* a + dpbusd(w, broadcast of the 4 bytes at p) ({1to16} memory operand) */
AI __m512i dpb(__m512i a, __m512i w, const uint8_t *p) {
    __asm__("vpdpbusd %2%{1to16%}, %1, %0" : "+v"(a) : "v"(w), "m"(*(const int32_t *)p));
    return a;
}
/* a + dpwssd(w, broadcast of the int16 pair at p) */
AI __m512i dpw(__m512i a, __m512i w, const uint8_t *p) {
    __asm__("vpdpwssd %2%{1to16%}, %1, %0" : "+v"(a) : "v"(w), "m"(*(const int32_t *)p));
    return a;
}

AI __m512i ld(const uint8_t *p, __mmask16 m, const int FULL) {
    return FULL ? _mm512_loadu_si512((const void *)p) : _mm512_maskz_loadu_epi32(m, p);
}

/* The operand of elements 16j + 4e .. + 3 of the super-block at ws (see the
 * header): 6-bit values in bytes. */
AI __m512i operand(const uint8_t *ws, size_t vb, __mmask16 m, int j, int e, const int FULL) {
    const int h = j / 8, q = (j / 2) % 4, l = 4 * (j % 2) + e;
    const __m512i P = ld(ws + (size_t)(16 * h + 8 * (q & 1) + l) * vb, m, FULL);
    const __m512i Q = ld(ws + (size_t)(32 + 8 * h + l) * vb, m, FULL);
    const __m512i nib = _mm512_and_si512(q < 2 ? P : _mm512_srli_epi16(P, 4), _mm512_set1_epi8(15));
    const __m512i Qs = q == 0 ? _mm512_slli_epi32(Q, 4)
                       : q == 1 ? _mm512_slli_epi32(Q, 2)
                       : q == 2 ? Q
                                : _mm512_srli_epi32(Q, 2);
    /* nib | (Qs & 0x30) */
    return _mm512_ternarylogic_epi32(nib, Qs, _mm512_set1_epi8(0x30), 0xF8);
}

/* One panel of L lanes x NC <= CT activation rows, all of K. */
AI void tile(int pf, int nsb, int L, const uint8_t *w, const uint8_t *x, size_t ldx, float *y, int64_t ldy,
             const int NC, const int FULL) {
    const __mmask16 m = FULL ? 0xffff : (__mmask16)((1u << L) - 1);
    const size_t doff = (size_t)nsb * 256, boff = (size_t)nsb * 260, vb = (size_t)4 * L;
    __m512 acc[CT];
#pragma GCC unroll 8
    for (int c = 0; c < NC; c++) acc[c] = _mm512_setzero_ps();
    for (int t = 0; t < nsb; t++) {
        const uint8_t *ws = w + sb_q(L, t);
        const char *pfp = (const char *)((uintptr_t)(ws + PFD) & ~(uintptr_t)63);
        __m512i T[CT];
#pragma GCC unroll 8
        for (int c = 0; c < NC; c++) T[c] = _mm512_setzero_si512();
#pragma GCC unroll 4
        for (int v = 0; v < 4; v++) {
            const __m512i S = ld(ws + (size_t)(48 + v) * vb, m, FULL);
            {
                /* 32 * (sc_4v, sc_4v+2) and 32 * (sc_4v+1, sc_4v+3) as int16 pairs */
                const __m512i E = _mm512_srai_epi16(_mm512_slli_epi16(S, 8), 3);
                const __m512i O = _mm512_srai_epi16(_mm512_and_si512(S, _mm512_set1_epi16((short)0xff00)), 3);
#pragma GCC unroll 8
                for (int c = 0; c < NC; c++) {
                    const uint8_t *xb = x + (size_t)c * ldx + boff + (size_t)32 * t + 8 * v;
                    T[c] = dpw(dpw(T[c], E, xb), O, xb + 4);
                }
            }
#pragma GCC unroll 4
            for (int b = 0; b < 4; b++) {
                const int j = 4 * v + b;
                if (pf) {
#pragma GCC unroll 4
                    for (int l = (j * PFL + 15) / 16; l < ((j + 1) * PFL + 15) / 16; l++)
                        _mm_prefetch(pfp + 64 * l, _MM_HINT_T0);
                }
                const __m512i sc = _mm512_srai_epi32(b == 3 ? S : _mm512_slli_epi32(S, 24 - 8 * b), 24);
                __m512i op[4];
#pragma GCC unroll 4
                for (int e = 0; e < 4; e++) {
                    op[e] = operand(ws, vb, m, j, e, FULL);
                    /* keep the operands in registers for all rows of the tile */
                    __asm__("" : "+v"(op[e]));
                }
#pragma GCC unroll 8
                for (int c = 0; c < NC; c++) {
                    const uint8_t *xq = x + (size_t)c * ldx + (size_t)256 * t + 16 * j;
                    __m512i d = dpb(_mm512_setzero_si512(), op[0], xq);
                    d = dpb(d, op[1], xq + 4);
                    d = dpb(d, op[2], xq + 8);
                    d = dpb(d, op[3], xq + 12);
                    T[c] = _mm512_add_epi32(T[c], _mm512_mullo_epi32(d, sc));
                }
            }
        }
        const __m512 dw = _mm512_cvtph_ps(FULL ? _mm256_loadu_si256((const __m256i *)(w + sb_d(16, nsb, t)))
                                               : _mm256_maskz_loadu_epi16(m, w + sb_d(L, nsb, t)));
#pragma GCC unroll 8
        for (int c = 0; c < NC; c++) {
            float dx;
            memcpy(&dx, x + (size_t)c * ldx + doff + (size_t)4 * t, 4);
            acc[c] = _mm512_fmadd_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(T[c]), _mm512_set1_ps(dx)), dw, acc[c]);
        }
    }
#pragma GCC unroll 8
    for (int c = 0; c < NC; c++) _mm512_mask_storeu_ps(y + (int64_t)c * ldy, m, acc[c]);
}

AI void panel(int nsb, int L, const uint8_t *w, const uint8_t *x, size_t ldx, int nx, float *y, int64_t ldy,
              const int FULL) {
#define TILE(pf, xc, yc, n) tile(pf, nsb, L, w, xc, ldx, yc, ldy, n, FULL)
    PG_PANEL_SWEEP(CT, x, ldx, nx, y, ldy, TILE);
#undef TILE
}

/* w: one panel of nw <= 16 rows (see gemm_pq4_0_avx512.c). */
static void gemm_pq6_K(int64_t K, const void *w, size_t ldw, int nw, const void *x, size_t ldx, int nx, float *y,
                       int64_t ldy) {
    const int nsb = (int)(K / QK_K);
    (void)ldw;
    if (nx < 1 || nx > NXMAX || nw < 1 || nw > PL || K % QK_K) PG_TRAP();
    if (nw == PL) panel(nsb, PL, w, x, ldx, nx, y, ldy, 1);
    else panel(nsb, nw, w, x, ldx, nx, y, ldy, 0);
}

/* ----------------------------------------------------------- packing */

static size_t pq6k_act_size(int64_t K) { return ((size_t)(K / QK_K) * 292 + 63) / 64 * 64; }

static void pq6k_act_pack(const float *x, int64_t K, void *dst) {
    const pg_type_traits *t = pg_type_get(PG_TYPE_Q8_K);
    const int nsb = (int)(K / QK_K);
    uint8_t *o = dst;
    for (int b = 0; b < nsb; b++) {
        block_q8_K q;
        t->from_float(x + (size_t)b * QK_K, &q, QK_K);
        memcpy(o + (size_t)256 * b, q.qs, 256);
        memcpy(o + (size_t)nsb * 256 + (size_t)4 * b, &q.d, 4);
        int nbs[16];
        for (int j = 0; j < 16; j++) {
            int v = 0;
            for (int e = 0; e < 16; e++) v += q.qs[16 * j + e];
            nbs[j] = -v;
        }
        int16_t bs[16];
        for (int v = 0; v < 4; v++) {
            bs[4 * v + 0] = (int16_t)nbs[4 * v + 0];
            bs[4 * v + 1] = (int16_t)nbs[4 * v + 2];
            bs[4 * v + 2] = (int16_t)nbs[4 * v + 1];
            bs[4 * v + 3] = (int16_t)nbs[4 * v + 3];
        }
        memcpy(o + (size_t)nsb * 260 + (size_t)32 * b, bs, 32);
    }
    const size_t used = (size_t)nsb * 292;
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
            uint8_t *ws = o + sb_q(n, t);
            for (int k = 0; k < 32; k++) memcpy(ws + k * vb + 4 * r, row[t].ql + 4 * k, 4);
            for (int k = 0; k < 16; k++) memcpy(ws + (32 + k) * vb + 4 * r, row[t].qh + 4 * k, 4);
            for (int k = 0; k < 4; k++) memcpy(ws + (48 + k) * vb + 4 * r, row[t].scales + 4 * k, 4);
            memcpy(o + sb_d(n, nsb, t) + 2 * r, &row[t].d, 2);
        }
    }
}

const pg_gemm_kernel pg_gemm_pq6_K_avx512 = {
    .rw = PL, .cx = NXMAX, .m1 = 8, .fn = gemm_pq6_K, .act_size = pq6k_act_size, .act_pack = pq6k_act_pack,
    .wpack_ok = pq6k_ok, .wpanel = PL, .wpackp = pq6k_wpack,
};

