/* forward.c - the batched forward pass shared by every architecture.
 *
 * Buffers (allocated once in pg_forward_create for max_tokens rows T):
 *   x    [T][n_embd]      residual stream
 *   xb   [T][n_embd]      normed input of a sub-layer
 *   qkv  [T][Dq + 2 Dkv]  q | k | v of each token (Dq = n_head*hd, Dkv = n_head_kv*hd)
 *   att  [T][Dq]          attention output
 *   tmp  [T][n_embd]      sub-layer output before the residual add
 *   hb   [T][2 n_ff']     gate | up (n_ff' = max of dense / expert / shared FFN widths)
 *   qact                  activations converted for the matmul kernels
 *   per thread: scores [R][max_ctx], R = the query rows of one attention
 *   item (att_rows: up to 16 / group tokens x group heads; the kernels keep their
 *   key block and packed queries on the stack).
 *
 * Order per layer: norm -> QKV matmul (fused or separate, +bias) -> per-head
 * q/k norm -> RoPE (the layer's base/scale; per-context frequency factors)
 * -> K/V written into the block store -> attention (the layer's sliding
 * window, optional logit soft-cap) -> output matmul -> (post-norm) ->
 * residual; then the same shape for the FFN: dense gated (SiLU or GELU,
 * fused gate|up or separate) or routed experts (+ shared expert), then
 * (post-norm) -> residual. Final norm, output matmul, (final soft-cap).
 *
 * Batch invariance: every step computes each token's row from that row's
 * inputs with a fixed reduction order; attention for a query at position p
 * walks positions start..p of its own sequence in increasing order with a
 * two-pass softmax whose sums run in that same order. Nothing depends on the
 * batch composition, the chunking or the thread count. */
#include "model/kv_impl.h"
#include "model/model_impl.h"

#include "base/pool.h"
#include "tensor/attn.h"
#include "tensor/fp16.h"
#include "tensor/kernels.h"
#include "tensor/ops.h"
#include "tensor/types.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct pg_forward {
    const pg_model *m;
    pg_pool *pool;
    int32_t max_tokens, max_out, max_ctx;
    int nth;
    int trace_router; /* PAGODA_TRACE_ROUTER=1: every routing decision to stderr */
    int32_t Dq, Dkv, Dqkv, n_ff_max;
    float *x, *xb, *qkv, *att, *tmp, *hb, *outx, *router;
    void *qbuf;
    size_t qbuf_size;
    const float *rope_ff; /* RoPE frequency factors for this context (Llama 3 / LongRoPE) or NULL */
    float rope_af;        /* RoPE cos/sin magnitude (LongRoPE), 1 otherwise */
    int32_t kv_window;    /* pg_model_kv_window: blocks below it need not exist */
    float *scores; /* [nth][att_rows][max_ctx] (attention()) */
    float *rope_cs; /* [nth][n_rot] cos/sin of the token a thread is rotating (rope_store) */
    /* MoE grouping scratch */
    int32_t *exp_rows, *tok_exp;               /* exp_rows: [T] rows of one expert; tok_exp [T][K] */
    float *tok_w, *exp_w;                      /* tok_w [T][K] routing weights; exp_w [T] of one expert */
    float *ebuf; /* [T][n_embd] gathered rows for one expert */
    float *eout; /* [T][n_embd] */
};

static size_t att_rows(const pg_hparams *hp);

static void *xalloc(size_t n, size_t sz, int *fail) {
    size_t tot;
    if (pg_mul_size(n ? n : 1, sz, &tot) < 0) {
        *fail = 1;
        return NULL;
    }
    void *p = NULL;
    if (posix_memalign(&p, 64, tot) != 0) {
        *fail = 1;
        return NULL;
    }
    memset(p, 0, tot);
    return p;
}

/* Bytes of activation scratch for `rows` rows: the largest pg_qact_size
 * over every weight type and every matmul input width of this model (the
 * fast kernels may pack rows larger than the plain q8 layouts). */
static size_t max_qact(const pg_forward *f, int32_t rows) {
    const pg_hparams *hp = &f->m->hp;
    const int64_t Ks[] = {hp->n_embd, f->Dq, hp->n_ff, hp->n_ff_exp, hp->n_ff_shexp};
    size_t mx = 0;
    for (int t = 0; t < PG_TYPE_COUNT; t++) {
        const pg_type_traits *tr = pg_type_get(t);
        if (!tr || !tr->weight_ok || tr->vec_dot_type == PG_TYPE_F32) continue;
        const pg_type_traits *vt = pg_type_get(tr->vec_dot_type);
        for (size_t i = 0; i < sizeof Ks / sizeof Ks[0]; i++) {
            if (Ks[i] <= 0 || Ks[i] % tr->blck_size || Ks[i] % vt->blck_size) continue;
            size_t sz = pg_qact_size(t, Ks[i], rows);
            if (sz > mx) mx = sz;
        }
    }
    return mx;
}

int pg_forward_create(const pg_model *m, pg_pool *pool, int32_t max_tokens, int32_t max_out, int32_t max_ctx,
                      pg_forward **out, pg_error *err) {
    *out = NULL;
    const pg_hparams *hp = &m->hp;
    if (max_tokens <= 0 || max_out <= 0 || max_ctx <= 0 || max_tokens > (1 << 20) || max_ctx > (1 << 24))
        return pg_error_set(err, PG_EINVAL, "invalid forward limits");
    if (hp->encoder) /* encoders run model/encode.c (pg_encoder) */
        return pg_error_set(err, PG_EUNSUPPORTED, "model does not support generation (%s is an encoder; it serves "
                            "embeddings or reranking)", hp->arch);
    pg_forward *f = calloc(1, sizeof *f);
    if (!f) return pg_error_set(err, PG_ENOMEM, "out of memory");
    f->m = m;
    f->pool = pool;
    f->max_tokens = max_tokens;
    f->max_out = max_out;
    f->max_ctx = max_ctx;
    {
        const char *tr = getenv("PAGODA_TRACE_ROUTER");
        f->trace_router = tr && *tr && strcmp(tr, "0") != 0;
    }
    f->nth = pg_pool_size(pool);
    f->rope_ff = m->rope_freqs;
    f->rope_af = 1.0f;
    if (hp->longrope) { /* chosen once per context size, like the reference engine */
        f->rope_ff = max_ctx > hp->n_orig_ctx ? m->rope_long : m->rope_short;
        f->rope_af = hp->longrope_attn;
    }
    f->kv_window = pg_model_kv_window(m);
    f->Dq = hp->n_head * hp->head_dim;
    f->Dkv = hp->n_head_kv * hp->head_dim;
    f->Dqkv = f->Dq + 2 * f->Dkv;
    int32_t ff = hp->n_ff;
    if (hp->n_ff_exp > ff) ff = hp->n_ff_exp;
    if (hp->n_ff_shexp > ff) ff = hp->n_ff_shexp;
    f->n_ff_max = ff;
    size_t T = (size_t)max_tokens, E = (size_t)hp->n_embd;
    int fail = 0;
    f->x = xalloc(T * E, 4, &fail);
    f->xb = xalloc(T * E, 4, &fail);
    f->qkv = xalloc(T * (size_t)f->Dqkv, 4, &fail);
    f->att = xalloc(T * (size_t)f->Dq, 4, &fail);
    f->tmp = xalloc(T * E, 4, &fail);
    f->hb = xalloc(T * 2 * (size_t)ff, 4, &fail);
    f->outx = xalloc((size_t)max_out * E, 4, &fail);
    f->qbuf_size = max_qact(f, max_tokens > max_out ? max_tokens : max_out);
    f->qbuf = xalloc(f->qbuf_size ? f->qbuf_size : 64, 1, &fail);
    f->scores = xalloc((size_t)f->nth * att_rows(hp) * (size_t)max_ctx, 4, &fail);
    f->rope_cs = xalloc((size_t)f->nth * (size_t)hp->n_rot, 4, &fail);
    if (hp->n_expert > 0) {
        f->router = xalloc(T * (size_t)hp->n_expert, 4, &fail);
        f->exp_rows = xalloc(T, 4, &fail);
        f->tok_exp = xalloc(T * (size_t)hp->n_expert_used, 4, &fail);
        f->tok_w = xalloc(T * (size_t)hp->n_expert_used, 4, &fail);
        f->exp_w = xalloc(T, 4, &fail);
        f->ebuf = xalloc(T * E, 4, &fail);
        f->eout = xalloc(T * E, 4, &fail);
    }
    if (fail) {
        pg_forward_destroy(f);
        return pg_error_set(err, PG_ENOMEM, "cannot allocate forward buffers for %d tokens", max_tokens);
    }
    *out = f;
    return 0;
}

void pg_forward_destroy(pg_forward *f) {
    if (!f) return;
    free(f->x);
    free(f->xb);
    free(f->qkv);
    free(f->att);
    free(f->tmp);
    free(f->hb);
    free(f->outx);
    free(f->qbuf);
    free(f->scores);
    free(f->rope_cs);
    free(f->router);
    free(f->exp_rows);
    free(f->tok_exp);
    free(f->tok_w);
    free(f->exp_w);
    free(f->ebuf);
    free(f->eout);
    free(f);
}

/* ---------------- row-parallel helpers ---------------- */

typedef struct {
    float *y;
    const float *x;
    const float *w;
    int64_t n, ld_y, ld_x;
    int32_t rows;
    float eps;
} norm_job;

static void norm_rows(void *arg, int ith, int nth) {
    norm_job *j = arg;
    const pg_ops *ops = pg_ops_get();
    long lo, hi;
    pg_split_range(j->rows, ith, nth, &lo, &hi);
    for (long r = lo; r < hi; r++) ops->rmsnorm(j->y + r * j->ld_y, j->x + r * j->ld_x, j->w, (int)j->n, j->eps);
}

static void rmsnorm_rows(pg_forward *f, float *y, int64_t ldy, const float *x, int64_t ldx, const float *w,
                         int64_t n, int32_t rows) {
    norm_job j = {y, x, w, n, ldy, ldx, rows, f->m->hp.rms_eps};
    if ((int64_t)rows * n < 16384) norm_rows(&j, 0, 1);
    else pg_pool_run(f->pool, norm_rows, &j);
}

/* y (rows x N, stride ldy) = X(rows x K, stride ldx) W^T */
static void matmul_into(pg_forward *f, const pg_weight *w, const float *x, int64_t ldx, int32_t rows, float *y,
                        int64_t ldy) {
    PG_ASSERT(pg_qact_size(w->type, w->ne0, rows) <= f->qbuf_size || pg_type_get(w->type)->vec_dot_type == PG_TYPE_F32);
    if (pg_type_get(w->type)->vec_dot_type == PG_TYPE_F32 && ldx != w->ne0) {
        /* float kernels read X in place and need dense rows */
        PG_PANIC("float-activation matmul needs dense rows");
    }
    pg_qact q = pg_qact_make(f->pool, w, x, ldx, w->ne0, rows, f->qbuf);
    pg_matmul_q(f->pool, w, &q, y, ldy);
}

/* Several projections of the same rows (Q/K/V, gate/up): one activation
 * quantization and one pool run when the weights share a kernel, else one
 * matmul each. Results are those of separate matmuls (batch invariance is
 * per element). */
static void matmul_into_multi(pg_forward *f, const pg_weight *const *w, int n, const float *x, int64_t ldx,
                              int32_t rows, float *const *y, int64_t ldy) {
    if (!pg_matmul_multi_ok(w, n)) {
        for (int i = 0; i < n; i++) matmul_into(f, w[i], x, ldx, rows, y[i], ldy);
        return;
    }
    PG_ASSERT(pg_qact_size(w[0]->type, w[0]->ne0, rows) <= f->qbuf_size);
    pg_qact q = pg_qact_make(f->pool, w[0], x, ldx, w[0]->ne0, rows, f->qbuf);
    const int64_t ld[4] = {ldy, ldy, ldy, ldy};
    pg_matmul_q_multi(f->pool, w, n, &q, y, ld);
}

/* ---------------- attention ---------------- */

typedef struct {
    pg_forward *f;
    pg_kv_store *kv;
    const pg_batch *b;
    const pg_layer_w *L;
    int il;
} att_job;

/* q/k norm, RoPE, and the K/V store. Items run token-major: per token its
 * H query heads, then one item for all its KV heads, which ropes every K
 * head and then writes the token's whole K and V rows (n_head_kv * head_dim
 * values) into its KV slot in the store's type: a quantized block may span
 * heads (head_dim < 32), and a row is quantized from its own values only,
 * whatever the batch. */
static void rope_store(void *arg, int ith, int nth) {
    att_job *j = arg;
    pg_forward *f = j->f;
    const pg_model *m = f->m;
    const pg_hparams *hp = &m->hp;
    const int hd = hp->head_dim, H = hp->n_head, Hkv = hp->n_head_kv;
    const pg_ops *ops = pg_ops_get();
    long items = (long)j->b->n_tokens * (H + 1), lo, hi;
    pg_split_range(items, ith, nth, &lo, &hi);
    const float *ff = f->rope_ff;
    const pg_layer_w *L = j->L;
    /* cos/sin depend only on the position (and the layer's base): computed
     * once per token for all its heads (items run token-major) */
    float *cs = f->rope_cs + (size_t)ith * hp->n_rot;
    int cs_t = -1;
    for (long it = lo; it < hi; it++) {
        int t = (int)(it / (H + 1)), h = (int)(it % (H + 1));
        int32_t pos = j->b->pos[t];
        if (t != cs_t) {
            pg_rope_table(cs, hp->n_rot, pos, L->rope_base, L->rope_scale, ff, f->rope_af);
            cs_t = t;
        }
        float *row = f->qkv + (size_t)t * f->Dqkv;
        if (h < H) {
            float *q = row + (size_t)h * hd;
            if (L->q_norm) ops->rmsnorm(q, q, L->q_norm, hd, hp->rms_eps);
            pg_rope_apply(q, hp->n_rot, cs, hp->rope_mode);
        } else {
            for (int kh = 0; kh < Hkv; kh++) {
                float *k = row + f->Dq + (size_t)kh * hd;
                if (L->k_norm) ops->rmsnorm(k, k, L->k_norm, hd, hp->rms_eps);
                pg_rope_apply(k, hp->n_rot, cs, hp->rope_mode);
            }
            const pg_batch_seq *s = &j->b->seqs[j->b->seq[t]];
            int32_t blk = s->block_table[pos / j->kv->block_size], off = pos % j->kv->block_size;
            pg_attn_store_row(j->kv->type, row + f->Dq, (size_t)f->Dkv, pg_kv_slot(j->kv, j->il, 0, blk, off));
            pg_attn_store_row(j->kv->type, row + f->Dq + f->Dkv, (size_t)f->Dkv, pg_kv_slot(j->kv, j->il, 1, blk, off));
        }
    }
}

/* Attention of one item = (run of tokens, KV head). A run is up to
 * att_run_max(group) consecutive tokens of the batch from one sequence at
 * consecutive positions p0, p0+1, ...; its nt * group query rows (token-
 * major, then the group's heads) share the SIMD lanes of the packed tile,
 * so a GQA group of 8 or an MHA head fills the 16 lanes instead of 8 or 1.
 * Keys are walked by runs of consecutive KV positions (one run per KV
 * block: a block holds block_size consecutive positions, K/V rows at a
 * fixed byte stride kv->row_bytes, head kh = the row's values kh * hd ..),
 * each K row read (and converted from f16 or dequantized) once per tile for
 * all rows. qk covers the union
 * window lo..p_last (lo = the first token's window start); every score is
 * its own fixed fma chain over d (tensor/attn.h), so a token's scores over
 * its own keys are the bits it would get alone, and the scores of keys a
 * token does not see (beyond its position, or before its own window start)
 * are computed and never read. Then per token, exactly as for a lone
 * token: soft-cap, two-pass ops->softmax over its own positions
 * start..pos, and pv as a fixed fma chain per output element over those
 * positions ascending. Nothing depends on the other tokens of the batch,
 * how the batch splits into runs, the thread count or the block
 * boundaries: batch invariant. Groups wider than PG_ATTN_RT take one token
 * per item and loop over row tiles.
 * Scratch per thread: scores [att_rows][max_ctx] (row r = token r / group,
 * head r % group; column c = position lo + c); the packed query tile
 * (hd * PG_ATTN_RT floats) lives on the stack (hd <= PG_MODEL_HEAD_DIM_MAX,
 * checked at load). */

/* Tokens per attention item: as many whole groups as fill the tile, >= 1. */
static int att_run_max(int group) {
    return group >= PG_ATTN_RT ? 1 : PG_ATTN_RT / group;
}

/* Score rows per thread: every query row of one item. */
static size_t att_rows(const pg_hparams *hp) {
    const int group = hp->n_head / hp->n_head_kv;
    return (size_t)att_run_max(group) * (size_t)group;
}

/* Length of the run starting at token t0: the following tokens of the same
 * sequence at the following positions, at most maxlen. Runs depend only on
 * the batch, so every thread finds the same ones. */
static int32_t att_run_len(const pg_batch *b, int32_t t0, int32_t maxlen) {
    int32_t n = 1;
    while (n < maxlen && t0 + n < b->n_tokens && b->seq[t0 + n] == b->seq[t0] && b->pos[t0 + n] == b->pos[t0] + n)
        n++;
    return n;
}

/* First position a query at pos attends to (sliding window or 0). */
static int32_t att_start(int32_t window, int32_t pos) {
    return window > 0 && pos - window + 1 > 0 ? pos - window + 1 : 0;
}

static void attention(void *arg, int ith, int nth) {
    att_job *j = arg;
    pg_forward *f = j->f;
    const pg_hparams *hp = &f->m->hp;
    const pg_kv_store *kv = j->kv;
    const pg_batch *b = j->b;
    const int hd = hp->head_dim, Hkv = hp->n_head_kv, group = hp->n_head / hp->n_head_kv;
    PG_ASSERT(hd <= PG_MODEL_HEAD_DIM_MAX);
    const pg_ops *ops = pg_ops_get();
    const pg_attn_kernels *ak = pg_attn_kernels_cur();
    const size_t ld = (size_t)f->max_ctx;
    float *scores = f->scores + (size_t)ith * att_rows(hp) * ld; /* [att_rows][max_ctx] */
    float qt[PG_MODEL_HEAD_DIM_MAX * PG_ATTN_RT];                          /* [hd][PG_ATTN_RT] */
    const float cap = hp->attn_softcap;
    const int fmt = kv->type; /* PG_KV_* = PG_ATTN_* (kv.c) */
    const size_t stride = kv->row_bytes;
    const int32_t bs = kv->block_size, window = j->L->window, run_max = att_run_max(group);
    /* Items (run, kv head) are dealt round-robin: a prompt's later tokens
     * attend to more positions, so contiguous ranges would leave the first
     * thread idle. */
    long it = 0;
    for (int32_t t0 = 0; t0 < b->n_tokens;) {
        const int32_t nt = att_run_len(b, t0, run_max);
        const pg_batch_seq *s = &b->seqs[b->seq[t0]];
        const int32_t p0 = b->pos[t0], plast = p0 + nt - 1, lo = att_start(window, p0);
        const int rows = nt * group;
        for (int kh = 0; kh < Hkv; kh++, it++) {
            if (it % nth != ith) continue;
            const int e0 = kh * hd; /* the head's first value in a position row */
            for (int r0 = 0; r0 < rows; r0 += PG_ATTN_RT) {
                const int R = rows - r0 < PG_ATTN_RT ? rows - r0 : PG_ATTN_RT;
                /* the layout of pg_attn_pack_q (lanes >= R zero), rows gathered across tokens */
                for (int r = 0; r < R; r++) {
                    const int row = r0 + r;
                    const float *q = f->qkv + (size_t)(t0 + row / group) * f->Dqkv +
                                     ((size_t)kh * group + (size_t)(row % group)) * hd;
                    for (int d = 0; d < hd; d++) qt[(size_t)d * PG_ATTN_RT + r] = q[d];
                }
                if (R < PG_ATTN_RT)
                    for (int d = 0; d < hd; d++)
                        memset(qt + (size_t)d * PG_ATTN_RT + R, 0, (size_t)(PG_ATTN_RT - R) * sizeof(float));
                for (int32_t p = lo; p <= plast;) {
                    int32_t off = p % bs, cnt = bs - off < plast - p + 1 ? bs - off : plast - p + 1;
                    const char *k = pg_kv_slot(kv, j->il, 0, s->block_table[p / bs], off);
                    if (p + cnt <= plast) /* the next run's block, while this one computes */
                        pg_attn_prefetch(pg_kv_slot(kv, j->il, 0, s->block_table[(p + cnt) / bs], 0), stride, fmt, e0, hd,
                                         plast - (p + cnt) + 1 < bs ? plast - (p + cnt) + 1 : bs);
                    ak->qk(qt, R, hd, k, stride, fmt, e0, cnt, hp->attn_scale, scores + (size_t)r0 * ld + (p - lo),
                           ld);
                    p += cnt;
                }
            }
            for (int32_t i = 0; i < nt; i++) {
                const int32_t pos = p0 + i, start = att_start(window, pos), n = pos - start + 1;
                float *si = scores + (size_t)i * group * ld + (start - lo); /* token i's rows from its start */
                for (int g = 0; g < group; g++) {
                    float *sg = si + (size_t)g * ld;
                    if (cap > 0)
                        for (int32_t c = 0; c < n; c++) sg[c] = cap * tanhf(sg[c] / cap);
                    ops->softmax(sg, n);
                }
                float *o0 = f->att + (size_t)(t0 + i) * f->Dq + (size_t)kh * group * hd;
                memset(o0, 0, (size_t)group * hd * sizeof(float));
                for (int32_t p = start; p <= pos;) {
                    int32_t off = p % bs, cnt = bs - off < pos - p + 1 ? bs - off : pos - p + 1;
                    const char *v = pg_kv_slot(kv, j->il, 1, s->block_table[p / bs], off);
                    if (p + cnt <= pos)
                        pg_attn_prefetch(pg_kv_slot(kv, j->il, 1, s->block_table[(p + cnt) / bs], 0), stride, fmt, e0, hd,
                                         pos - (p + cnt) + 1 < bs ? pos - (p + cnt) + 1 : bs);
                    ak->pv(si + (p - start), ld, group, v, stride, fmt, e0, cnt, hd, o0, (size_t)hd);
                    p += cnt;
                }
            }
        }
        t0 += nt;
    }
}

/* ---------------- feed-forward ---------------- */

typedef struct {
    float *g;
    int64_t ld, n;
    int32_t rows;
    int act;
} act_job;

static void act_rows(void *arg, int ith, int nth) {
    act_job *j = arg;
    const pg_ops *ops = pg_ops_get();
    long lo, hi;
    pg_split_range(j->rows, ith, nth, &lo, &hi);
    for (long r = lo; r < hi; r++) {
        float *g = j->g + r * j->ld;
        if (j->act == PG_ACT_GELU) ops->geglu(g, g + j->n, (int)j->n);
        else ops->swiglu(g, g + j->n, (int)j->n);
    }
}

/* Dense gated FFN of rows x[rows][E] (stride E) -> y[rows][E]. */
static void ffn_dense(pg_forward *f, const pg_weight *gate, const pg_weight *up, const pg_weight *down, int fused,
                      const float *x, int32_t rows, float *y) {
    const pg_hparams *hp = &f->m->hp;
    int64_t nff = fused ? up->ne1 / 2 : up->ne1;
    int64_t ld = 2 * nff;
    if (fused) {
        matmul_into(f, up, x, hp->n_embd, rows, f->hb, ld);
    } else {
        const pg_weight *w2[2] = {gate, up};
        float *const y2[2] = {f->hb, f->hb + nff};
        matmul_into_multi(f, w2, 2, x, hp->n_embd, rows, y2, ld);
    }
    act_job aj = {f->hb, ld, nff, rows, hp->act};
    if ((int64_t)rows * nff < 8192) act_rows(&aj, 0, 1);
    else pg_pool_run(f->pool, act_rows, &aj);
    /* down projection reads gate slots (the activated values) with stride ld */
    if (pg_type_get(down->type)->vec_dot_type == PG_TYPE_F32) {
        /* float kernels need dense rows: compact in place (row r moves to r*nff <= r*ld) */
        for (int32_t r = 1; r < rows; r++) memmove(f->hb + (size_t)r * nff, f->hb + (size_t)r * ld, (size_t)nff * 4);
        matmul_into(f, down, f->hb, nff, rows, y, hp->n_embd);
    } else {
        matmul_into(f, down, f->hb, ld, rows, y, hp->n_embd);
    }
}

static pg_weight expert_view(const pg_weight *w, size_t bytes, int e) {
    pg_weight v = *w;
    v.data = (const char *)w->data + (size_t)e * bytes;
    if (w->pdata) v.pdata = (const char *)w->pdata + (size_t)e * bytes; /* packed rows keep the stored offsets */
    return v;
}

/* Mixture of experts. Routing per row: softmax over all router logits,
 * the n_expert_used largest (ties: lower expert id), weights optionally
 * renormalised over those. Then one pass over the experts: the rows that
 * chose expert e (at any rank) are gathered and run through e's FFN in one
 * matmul, so each expert's weights are read once per step; the weighted
 * output is added into each of those rows. A row's additions therefore run
 * in increasing expert id over its own chosen experts -- a fixed order that
 * depends only on that row, which keeps the result batch invariant. A
 * shared expert (qwen2moe) is added last, scaled by sigmoid(gate_inp_shexp . x). */
/* PAGODA_TRACE_ROUTER=1: one stderr line per layer and token with the
 * router's softmax over all experts, the chosen experts with their final
 * weights, and the margin at the cut (k-th chosen minus the best unchosen
 * probability: a near-tie there is where two engines can disagree). */
static void trace_route(const pg_forward *f, int il, const pg_batch *b, int32_t r, const float *p, const int32_t *sel,
                        const float *w) {
    const int NE = f->m->hp.n_expert, K = f->m->hp.n_expert_used;
    char line[4096];
    size_t o = 0;
#define PUT(...)                                                                               \
    do {                                                                                       \
        if (o < sizeof line) o += (size_t)snprintf(line + o, sizeof line - o, __VA_ARGS__);   \
    } while (0)
    PUT("router layer=%d seq=%d pos=%d probs=", il, b->seq[r], b->pos[r]);
    for (int e = 0; e < NE; e++) PUT("%s%.7f", e ? "," : "", p[e]);
    PUT(" chosen=");
    float best_out = -1;
    for (int e = 0; e < NE; e++) {
        int used = 0;
        for (int k = 0; k < K; k++) used |= sel[k] == e;
        if (!used && p[e] > best_out) best_out = p[e];
    }
    for (int k = 0; k < K; k++) PUT("%s%d:%.7f", k ? "," : "", sel[k], w[k]);
    PUT(" margin=%.7f\n", best_out >= 0 ? p[sel[K - 1]] - best_out : 1.0);
#undef PUT
    fputs(line, stderr);
}

static void ffn_moe(pg_forward *f, const pg_layer_w *L, int il, const pg_batch *b, const float *x, int32_t rows,
                    float *y) {
    const pg_hparams *hp = &f->m->hp;
    const int NE = hp->n_expert, K = hp->n_expert_used;
    const int64_t E = hp->n_embd;
    matmul_into(f, &L->gate_inp, x, E, rows, f->router, NE);
    for (int32_t r = 0; r < rows; r++) {
        float *lg = f->router + (size_t)r * NE;
        pg_softmax_ref(lg, NE);
        int32_t *sel = f->tok_exp + (size_t)r * K;
        float *w = f->tok_w + (size_t)r * K;
        float wsum = 0;
        for (int k = 0; k < K; k++) {
            int best = -1;
            for (int e = 0; e < NE; e++) {
                int used = 0;
                for (int q = 0; q < k; q++) used |= sel[q] == e;
                if (!used && (best < 0 || lg[e] > lg[best])) best = e;
            }
            sel[k] = best;
            w[k] = lg[best];
            wsum += w[k];
        }
        if (hp->moe_norm_topk)
            for (int k = 0; k < K; k++) w[k] /= wsum;
        if (f->trace_router) trace_route(f, il, b, r, lg, sel, w);
    }
    memset(y, 0, (size_t)rows * E * sizeof(float));
    for (int e = 0; e < NE; e++) {
        int32_t cnt = 0;
        for (int32_t r = 0; r < rows; r++)
            for (int k = 0; k < K; k++)
                if (f->tok_exp[(size_t)r * K + k] == e) {
                    f->exp_rows[cnt] = r;
                    f->exp_w[cnt] = f->tok_w[(size_t)r * K + k];
                    cnt++;
                }
        if (!cnt) continue;
        for (int32_t i = 0; i < cnt; i++)
            memcpy(f->ebuf + (size_t)i * E, x + (size_t)f->exp_rows[i] * E, (size_t)E * 4);
        pg_weight g = expert_view(&L->gate_exps, L->gate_exp_bytes, e);
        pg_weight u = expert_view(&L->up_exps, L->up_exp_bytes, e);
        pg_weight d = expert_view(&L->down_exps, L->down_exp_bytes, e);
        ffn_dense(f, &g, &u, &d, 0, f->ebuf, cnt, f->eout);
        for (int32_t i = 0; i < cnt; i++)
            pg_axpy_ref(y + (size_t)f->exp_rows[i] * E, f->exp_w[i], f->eout + (size_t)i * E, (int)E);
    }
    if (hp->n_ff_shexp > 0) {
        ffn_dense(f, &L->gate_shexp, &L->up_shexp, &L->down_shexp, 0, x, rows, f->eout);
        float *gl = f->router; /* reuse: one gate logit per row */
        matmul_into(f, &L->gate_inp_shexp, x, E, rows, gl, 1);
        for (int32_t r = 0; r < rows; r++) {
            float s = 1.0f / (1.0f + expf(-gl[r]));
            pg_axpy_ref(y + (size_t)r * E, s, f->eout + (size_t)r * E, (int)E);
        }
    }
}

/* ---------------- the pass ---------------- */

static int check_batch(pg_forward *f, pg_kv_store *kv, const pg_batch *b, pg_error *err) {
    const pg_hparams *hp = &f->m->hp;
    if (b->n_tokens <= 0 || b->n_tokens > f->max_tokens)
        return pg_error_set(err, PG_EINVAL, "batch of %d tokens (limit %d)", b->n_tokens, f->max_tokens);
    if (b->n_out < 0 || b->n_out > f->max_out)
        return pg_error_set(err, PG_EINVAL, "batch asks for %d logit rows (limit %d)", b->n_out, f->max_out);
    if (b->n_seqs <= 0) return pg_error_set(err, PG_EINVAL, "batch has no sequences");
    for (int32_t i = 0; i < b->n_out; i++)
        if (b->out[i] < 0 || b->out[i] >= b->n_tokens) return pg_error_set(err, PG_EINVAL, "bad output row %d", b->out[i]);
    for (int32_t t = 0; t < b->n_tokens; t++) {
        if (b->tokens[t] < 0 || b->tokens[t] >= hp->n_vocab)
            return pg_error_set(err, PG_EINVAL, "token id %d is outside the vocabulary (0..%d)", b->tokens[t],
                                hp->n_vocab - 1);
        if (b->seq[t] < 0 || b->seq[t] >= b->n_seqs) return pg_error_set(err, PG_EINVAL, "bad sequence index");
        const pg_batch_seq *s = &b->seqs[b->seq[t]];
        int32_t p = b->pos[t];
        if (p < 0 || p >= f->max_ctx || p / kv->block_size >= s->n_blocks)
            return pg_error_set(err, PG_EINVAL, "position %d is outside the sequence's KV blocks", p);
        /* every block the token attends to must exist (with sliding windows
         * on all layers, blocks wholly before the window may have been freed) */
        int32_t first = 0;
        if (f->kv_window > 0 && p - f->kv_window + 1 > 0) first = p - f->kv_window + 1;
        for (int32_t bi = first / kv->block_size; bi <= p / kv->block_size; bi++)
            if (s->block_table[bi] < 0 || s->block_table[bi] >= kv->n_blocks)
                return pg_error_set(err, PG_EINVAL, "block id %d out of range", s->block_table[bi]);
    }
    return 0;
}

typedef struct {
    pg_forward *f;
    const pg_batch *b;
} embd_job;

static void embed_rows(void *arg, int ith, int nth) {
    embd_job *j = arg;
    const pg_model *m = j->f->m;
    const pg_type_traits *tr = pg_type_get(m->tok_embd.type);
    long lo, hi;
    pg_split_range(j->b->n_tokens, ith, nth, &lo, &hi);
    const int64_t E = m->hp.n_embd;
    for (long t = lo; t < hi; t++) {
        float *x = j->f->x + t * E;
        tr->to_float((const char *)m->tok_embd.data + (size_t)j->b->tokens[t] * m->tok_embd.row_bytes, x, E);
        if (m->hp.embd_scale != 1.0f)
            for (int64_t i = 0; i < E; i++) x[i] *= m->hp.embd_scale;
    }
}

static void add_rows(float *x, const float *y, size_t n) {
    for (size_t i = 0; i < n; i++) x[i] += y[i];
}

static void add_bias(float *qkv, int32_t T, int64_t ld, int64_t off, const float *b, int64_t n) {
    if (!b) return;
    for (int32_t t = 0; t < T; t++) add_rows(qkv + (size_t)t * ld + off, b, (size_t)n);
}

/* Embeddings, the layers and the residual stream f->x; the callers below
 * add the head. */
static int run_layers(pg_forward *f, pg_kv_store *kv, const pg_batch *b, pg_error *err) {
    int rc = check_batch(f, kv, b, err);
    if (rc < 0) return rc;
    const pg_model *m = f->m;
    const pg_hparams *hp = &m->hp;
    const int32_t T = b->n_tokens;
    const int64_t E = hp->n_embd;

    embd_job ej = {f, b};
    pg_pool_run(f->pool, embed_rows, &ej);

    for (int il = 0; il < hp->n_layer; il++) {
        const pg_layer_w *L = &m->layers[il];
        rmsnorm_rows(f, f->xb, E, f->x, E, L->attn_norm, E, T);
        if (L->wqkv.data) {
            matmul_into(f, &L->wqkv, f->xb, E, T, f->qkv, f->Dqkv);
        } else {
            const pg_weight *w3[3] = {&L->wq, &L->wk, &L->wv};
            float *const y3[3] = {f->qkv, f->qkv + f->Dq, f->qkv + f->Dq + f->Dkv};
            matmul_into_multi(f, w3, 3, f->xb, E, T, y3, f->Dqkv);
        }
        add_bias(f->qkv, T, f->Dqkv, 0, L->bq, f->Dq);
        add_bias(f->qkv, T, f->Dqkv, f->Dq, L->bk, f->Dkv);
        add_bias(f->qkv, T, f->Dqkv, f->Dq + f->Dkv, L->bv, f->Dkv);
        att_job aj = {f, kv, b, L, il};
        pg_pool_run(f->pool, rope_store, &aj);
        pg_pool_run(f->pool, attention, &aj);
        matmul_into(f, &L->wo, f->att, f->Dq, T, f->tmp, E);
        if (L->post_attn_norm) rmsnorm_rows(f, f->tmp, E, f->tmp, E, L->post_attn_norm, E, T);
        add_rows(f->x, f->tmp, (size_t)T * E);

        rmsnorm_rows(f, f->xb, E, f->x, E, L->ffn_norm, E, T);
        if (hp->n_expert > 0) ffn_moe(f, L, il, b, f->xb, T, f->tmp);
        else ffn_dense(f, &L->w_gate, &L->w_up, &L->w_down, L->fused_gate_up, f->xb, T, f->tmp);
        if (L->post_ffw_norm) rmsnorm_rows(f, f->tmp, E, f->tmp, E, L->post_ffw_norm, E, T);
        add_rows(f->x, f->tmp, (size_t)T * E);
    }
    return 0;
}

int pg_forward_run_hidden(pg_forward *f, pg_kv_store *kv, const pg_batch *b, float *hidden, pg_error *err) {
    int rc = run_layers(f, kv, b, err);
    if (rc < 0) return rc;
    const int64_t E = f->m->hp.n_embd;
    for (int32_t i = 0; i < b->n_out; i++)
        pg_ops_get()->rmsnorm(hidden + (size_t)i * E, f->x + (size_t)b->out[i] * E, f->m->output_norm, (int)E,
                              f->m->hp.rms_eps);
    return 0;
}

int pg_forward_run(pg_forward *f, pg_kv_store *kv, const pg_batch *b, float *logits, pg_error *err) {
    int rc = run_layers(f, kv, b, err);
    if (rc < 0) return rc;
    const pg_model *m = f->m;
    const pg_hparams *hp = &m->hp;
    const int64_t E = hp->n_embd;
    if (b->n_out == 0) return 0;
    for (int32_t i = 0; i < b->n_out; i++)
        pg_ops_get()->rmsnorm(f->outx + (size_t)i * E, f->x + (size_t)b->out[i] * E, m->output_norm, (int)E,
                              hp->rms_eps);
    matmul_into(f, &m->output, f->outx, E, b->n_out, logits, hp->n_vocab);
    if (hp->final_softcap > 0) {
        const float c = hp->final_softcap;
        for (size_t i = 0; i < (size_t)b->n_out * hp->n_vocab; i++) logits[i] = c * tanhf(logits[i] / c);
    }
    return 0;
}
