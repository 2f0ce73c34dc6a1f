/* encode.c - pg_encoder: prefill-only passes over packed whole sequences,
 * pooled into one vector (or score) per sequence. Nothing is cached.
 *
 * Encoders (bert, nomic-bert, jina-bert-v2; hp.encoder) run the pass here:
 *   x = LayerNorm(tok_embd[id] + token_types[type] + position_embd[pos])
 *   per layer (post-LayerNorm):
 *     q,k,v = x W^T + b (fused qkv or separate); optional LayerNorm of q / k
 *     rows (jina); RoPE (nomic-bert); attention of each token over every
 *     token of its own sequence (bidirectional; causal when the model says
 *     so), ALiBi biases for jina-bert-v2
 *     x = LayerNorm(x + (att Wo^T + bo))            attn_output_norm
 *     x = LayerNorm(x + down(act(up x + b_up) [* gate]) + b_down)   layer_output_norm
 * Decoders (any generation architecture with a pooling) run pg_forward over a
 * private F32 KV store, one fresh block run per sequence, and read the
 * final-normed hidden states (pg_forward_run_hidden).
 *
 * Buffers (encoder path, allocated once for T = max_tokens rows, S = max_seqs):
 *   x, tmp [T][E]; qkv [T][3D]; att [T][D]; up, gate [T][F]; scores
 *   [nth][max_seq]; qbuf: activations converted for the matmul kernels;
 *   head [S][E] x 2 for the rank head.
 *
 * Batch invariance: every row op (embedding sum, LayerNorm, bias, GELU,
 * matmul rows: tensor/matmul.h) depends only on that row; attention of a
 * query walks its own sequence's keys in increasing position with the f32 dot
 * (a fixed order per length), a two-pass softmax and the f32 axpy in the same
 * order; pooling sums a sequence's rows in increasing position. So a
 * sequence's output is bit-identical whatever else shares the batch, and
 * whatever the thread count. */
#include "model/kv_impl.h"
#include "model/model_impl.h"

#include "base/pool.h"
#include "tensor/kernels.h"
#include "tensor/ops.h"
#include "tensor/types.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { KV_BLOCK = 16 };

struct pg_encoder {
    const pg_model *m;
    pg_pool *pool;
    int32_t max_tokens, max_seqs, max_seq;
    int nth;
    int32_t D, F;
    /* encoder path */
    float *x, *tmp, *qkv, *att, *up, *gate, *scores, *head, *head2, *slopes;
    float *ones; /* [F] 1.0: plain GELU as ops->geglu(x, ones) (x * 1 is exact) */
    void *qbuf;
    size_t qbuf_size;
    /* decoder path */
    pg_forward *fwd;
    pg_kv_store *kv;
    int32_t *blocks, *pos, *seq, *out;
    pg_batch_seq *seqs;
    float *hidden;
};

static void *zalloc(size_t n, size_t sz, int *fail) {
    if (n == 0) n = 1;
    if (sz && n > SIZE_MAX / sz) {
        *fail = 1;
        return NULL;
    }
    void *p = NULL;
    if (posix_memalign(&p, 64, n * sz) != 0) {
        *fail = 1;
        return NULL;
    }
    memset(p, 0, n * sz);
    return p;
}

static void qsize(size_t *mx, const pg_weight *w, int32_t rows) {
    if (!w->data) return;
    size_t s = pg_qact_size(w->type, w->ne0, rows);
    if (s > *mx) *mx = s;
}

/* ALiBi slopes as ggml's soft_max with max_bias computes them. */
static void alibi_slopes(float *s, int n_head, float max_bias) {
    const int nl2 = 1 << (int)floor(log2((double)n_head));
    const float m0 = powf(2.0f, -max_bias / (float)nl2), m1 = powf(2.0f, -max_bias / 2.0f / (float)nl2);
    for (int h = 0; h < n_head; h++) s[h] = h < nl2 ? powf(m0, (float)(h + 1)) : powf(m1, (float)(2 * (h - nl2) + 1));
}

int pg_encoder_create(const pg_model *m, pg_pool *pool, int32_t max_tokens, int32_t max_seqs, pg_encoder **out,
                      pg_error *err) {
    *out = NULL;
    const pg_hparams *hp = &m->hp;
    if (max_tokens <= 0 || max_tokens > (1 << 20) || max_seqs <= 0 || max_seqs > max_tokens)
        return pg_error_set(err, PG_EINVAL, "invalid encoder limits (%d tokens, %d sequences)", max_tokens, max_seqs);
    if (!hp->encoder && !hp->causal) /* pg_forward attends causally only */
        return pg_error_set(err, PG_EUNSUPPORTED,
                            "%s.attention.causal is false: bidirectional attention is only supported for encoder "
                            "architectures",
                            hp->arch);
    pg_encoder *e = calloc(1, sizeof *e);
    if (!e) return pg_error_set(err, PG_ENOMEM, "out of memory");
    e->m = m;
    e->pool = pool;
    e->max_tokens = max_tokens;
    e->max_seqs = max_seqs;
    e->max_seq = max_tokens < hp->n_ctx_train ? max_tokens : hp->n_ctx_train;
    e->nth = pg_pool_size(pool);
    e->D = hp->n_head * hp->head_dim;
    e->F = hp->n_ff;
    const size_t T = (size_t)max_tokens, E = (size_t)hp->n_embd;
    int fail = 0, rc;
    if (!hp->encoder) {
        int32_t nb = max_tokens / KV_BLOCK + max_seqs + 1;
        if ((rc = pg_forward_create(m, pool, max_tokens, max_tokens, e->max_seq, &e->fwd, err)) < 0) goto fail;
        if ((rc = pg_kv_store_create(m, nb, KV_BLOCK, PG_KV_F32, &e->kv, err)) < 0) goto fail;
        e->blocks = zalloc((size_t)nb, 4, &fail);
        e->pos = zalloc(T, 4, &fail);
        e->seq = zalloc(T, 4, &fail);
        e->out = zalloc(T, 4, &fail);
        e->seqs = zalloc((size_t)max_seqs, sizeof *e->seqs, &fail);
        e->hidden = zalloc(T * E, 4, &fail);
    } else {
        size_t qb = 0;
        for (int il = 0; il < hp->n_layer; il++) {
            const pg_layer_w *L = &m->layers[il];
            const pg_weight *ws[] = {&L->wq, &L->wk, &L->wv, &L->wqkv, &L->wo, &L->w_gate, &L->w_up, &L->w_down};
            for (size_t i = 0; i < sizeof ws / sizeof ws[0]; i++) qsize(&qb, ws[i], max_tokens);
        }
        qsize(&qb, &m->cls, max_seqs);
        qsize(&qb, &m->cls_out, max_seqs);
        e->qbuf_size = qb;
        e->qbuf = zalloc(qb ? qb : 64, 1, &fail);
        e->x = zalloc(T * E, 4, &fail);
        e->tmp = zalloc(T * E, 4, &fail);
        e->qkv = zalloc(T * 3 * (size_t)e->D, 4, &fail);
        e->att = zalloc(T * (size_t)e->D, 4, &fail);
        e->up = zalloc(T * (size_t)e->F, 4, &fail);
        e->gate = zalloc(T * (size_t)e->F, 4, &fail);
        e->scores = zalloc((size_t)e->nth * (size_t)e->max_seq, 4, &fail);
        size_t hw = E;
        if ((size_t)hp->n_cls_out > hw) hw = (size_t)hp->n_cls_out;
        if (m->cls.data && (size_t)m->cls.ne1 > hw) hw = (size_t)m->cls.ne1;
        e->head = zalloc((size_t)max_seqs * hw, 4, &fail);
        e->head2 = zalloc((size_t)max_seqs * hw, 4, &fail);
        e->slopes = zalloc((size_t)hp->n_head, 4, &fail);
        e->ones = zalloc((size_t)e->F, 4, &fail);
        for (int32_t i = 0; e->ones && i < e->F; i++) e->ones[i] = 1.0f;
        if (!fail && hp->alibi) alibi_slopes(e->slopes, hp->n_head, 8.0f);
    }
    if (fail) {
        rc = pg_error_set(err, PG_ENOMEM, "cannot allocate encoder buffers for %d tokens", max_tokens);
        goto fail;
    }
    *out = e;
    return 0;
fail:
    pg_encoder_destroy(e);
    return rc;
}

void pg_encoder_destroy(pg_encoder *e) {
    if (!e) return;
    pg_forward_destroy(e->fwd);
    pg_kv_store_destroy(e->kv);
    free(e->blocks);
    free(e->pos);
    free(e->seq);
    free(e->out);
    free(e->seqs);
    free(e->hidden);
    free(e->qbuf);
    free(e->x);
    free(e->tmp);
    free(e->qkv);
    free(e->att);
    free(e->up);
    free(e->gate);
    free(e->scores);
    free(e->head);
    free(e->head2);
    free(e->slopes);
    free(e->ones);
    free(e);
}

int32_t pg_encoder_max_seq(const pg_encoder *e) { return e->max_seq; }

int32_t pg_encoder_out_dim(const pg_encoder *e, int pooling) {
    return pooling == PG_POOL_RANK ? e->m->hp.n_cls_out : e->m->hp.n_embd;
}

/* ---------------- row ops ---------------- */

/* y = (x - mean) / sqrt(var + eps) * w + b; sums in double, fixed order. */
static void layernorm(float *y, const float *x, const float *w, const float *b, int n, float eps) {
    double s = 0, ss = 0;
    for (int i = 0; i < n; i++) s += x[i];
    const double mean = s / n;
    for (int i = 0; i < n; i++) {
        double d = x[i] - mean;
        ss += d * d;
    }
    const float mu = (float)mean, inv = (float)(1.0 / sqrt(ss / n + eps));
    for (int i = 0; i < n; i++) {
        float v = (x[i] - mu) * inv;
        if (w) v *= w[i];
        if (b) v += b[i];
        y[i] = v;
    }
}

static void add_bias_rows(float *y, int64_t ld, int32_t rows, const float *b, int64_t n) {
    if (!b) return;
    for (int32_t r = 0; r < rows; r++)
        for (int64_t i = 0; i < n; i++) y[(size_t)r * ld + i] += b[i];
}

/* y[rows][w->ne1] (stride ldy) = x[rows][K] (dense) W^T */
static void matmul(pg_encoder *e, const pg_weight *w, const float *x, int32_t rows, float *y, int64_t ldy) {
    PG_ASSERT(pg_qact_size(w->type, w->ne0, rows) <= e->qbuf_size ||
              pg_type_get(w->type)->vec_dot_type == PG_TYPE_F32);
    pg_qact q = pg_qact_make(e->pool, w, x, w->ne0, w->ne0, rows, e->qbuf);
    pg_matmul_q(e->pool, w, &q, y, ldy);
}

typedef struct {
    pg_encoder *e;
    const pg_enc_batch *b;
    const pg_layer_w *L;
    int what; /* ROW_* */
} row_job;

enum { ROW_EMBED, ROW_QK, ROW_LN_ATT, ROW_FFN_ACT, ROW_LN_OUT };

static void rows_fn(void *arg, int ith, int nth) {
    row_job *j = arg;
    pg_encoder *e = j->e;
    const pg_model *m = e->m;
    const pg_hparams *hp = &m->hp;
    const pg_layer_w *L = j->L;
    const int E = hp->n_embd, D = e->D, F = e->F, hd = hp->head_dim;
    const int32_t n = j->b->seq_start[j->b->n_seqs];
    long lo, hi;
    pg_split_range(n, ith, nth, &lo, &hi);
    int32_t s = 0; /* sequence of row lo (positions for RoPE / position embeddings) */
    if (j->what == ROW_EMBED || j->what == ROW_QK)
        while (j->b->seq_start[s + 1] <= lo) s++;
    for (long t = lo; t < hi; t++) {
        float *x = e->x + (size_t)t * E;
        switch (j->what) {
        case ROW_EMBED: {
            while (j->b->seq_start[s + 1] <= t) s++;
            const int32_t pos = (int32_t)t - j->b->seq_start[s];
            float *r = e->tmp + (size_t)t * E;
            pg_weight_row(&m->tok_embd, j->b->tokens[t], x);
            if (m->type_embd.data) {
                pg_weight_row(&m->type_embd, j->b->types ? j->b->types[t] : 0, r);
                for (int i = 0; i < E; i++) x[i] += r[i];
            }
            if (m->pos_embd.data) {
                pg_weight_row(&m->pos_embd, pos, r);
                for (int i = 0; i < E; i++) x[i] += r[i];
            }
            layernorm(x, x, m->embd_norm, m->embd_norm_b, E, hp->norm_eps);
            break;
        }
        case ROW_QK: {
            while (j->b->seq_start[s + 1] <= t) s++;
            const int32_t pos = (int32_t)t - j->b->seq_start[s];
            float *q = e->qkv + (size_t)t * 3 * D, *k = q + D;
            if (L->q_ln) layernorm(q, q, L->q_ln, L->q_ln_b, D, hp->norm_eps);
            if (L->k_ln) layernorm(k, k, L->k_ln, L->k_ln_b, D, hp->norm_eps);
            if (!hp->alibi && !m->pos_embd.data) /* rotary positions (nomic-bert) */
                for (int h = 0; h < hp->n_head; h++) {
                    pg_rope(q + (size_t)h * hd, hd, hp->n_rot, pos, hp->rope_base, hp->rope_freq_scale, NULL, 1.0f,
                            hp->rope_mode);
                    pg_rope(k + (size_t)h * hd, hd, hp->n_rot, pos, hp->rope_base, hp->rope_freq_scale, NULL, 1.0f,
                            hp->rope_mode);
                }
            break;
        }
        case ROW_LN_ATT:
            for (int i = 0; i < E; i++) x[i] += e->tmp[(size_t)t * E + i];
            layernorm(x, x, L->attn_out_norm, L->attn_out_norm_b, E, hp->norm_eps);
            break;
        case ROW_FFN_ACT: {
            float *u = e->up + (size_t)t * F;
            if (L->b_up)
                for (int i = 0; i < F; i++) u[i] += L->b_up[i];
            if (L->w_gate.data) { /* act(gate) * up */
                float *g = e->gate + (size_t)t * F;
                if (L->b_gate)
                    for (int i = 0; i < F; i++) g[i] += L->b_gate[i];
                if (hp->act == PG_ACT_GELU) pg_ops_get()->geglu(g, u, F);
                else pg_ops_get()->swiglu(g, u, F);
                memcpy(u, g, (size_t)F * sizeof(float));
            } else {
                pg_ops_get()->geglu(u, e->ones, F); /* GELU (tanh form), the dispatched kernel */
            }
            break;
        }
        case ROW_LN_OUT:
            for (int i = 0; i < E; i++) x[i] += e->tmp[(size_t)t * E + i];
            layernorm(x, x, L->layer_out_norm, L->layer_out_norm_b, E, hp->norm_eps);
            break;
        }
    }
}

static void run_rows(pg_encoder *e, const pg_enc_batch *b, const pg_layer_w *L, int what) {
    row_job j = {e, b, L, what};
    pg_pool_run(e->pool, rows_fn, &j);
}

/* Attention: items are (sequence, head), dealt round-robin over threads.
 * For each query row i of the sequence: scores over the sequence's keys
 * 0..n-1 (0..i when causal) in increasing order, softmax, weighted sum of
 * the value rows in that same order. */
static void attention(void *arg, int ith, int nth) {
    row_job *j = arg;
    pg_encoder *e = j->e;
    const pg_hparams *hp = &e->m->hp;
    const pg_ops *ops = pg_ops_get();
    const pg_float_kernels *fk = pg_float_kernels_get(pg_cpu_level_get()); /* dot / axpy: fixed order per length */
    const int H = hp->n_head, hd = hp->head_dim, D = e->D;
    const size_t ld = 3 * (size_t)D;
    float *sc = e->scores + (size_t)ith * e->max_seq;
    long it = 0;
    for (int32_t s = 0; s < j->b->n_seqs; s++) {
        const int32_t t0 = j->b->seq_start[s], n = j->b->seq_start[s + 1] - t0;
        for (int h = 0; h < H; h++, it++) {
            if (it % nth != ith) continue;
            const float slope = hp->alibi ? e->slopes[h] : 0.0f;
            for (int32_t i = 0; i < n; i++) {
                const float *q = e->qkv + (size_t)(t0 + i) * ld + (size_t)h * hd;
                const int32_t nk = hp->causal ? i + 1 : n;
                for (int32_t k = 0; k < nk; k++) {
                    const float *kr = e->qkv + (size_t)(t0 + k) * ld + D + (size_t)h * hd;
                    float v = fk->dot(q, kr, hd) * hp->attn_scale;
                    if (hp->alibi) v -= slope * (float)abs(i - k);
                    sc[k] = v;
                }
                ops->softmax(sc, nk);
                float *o = e->att + (size_t)(t0 + i) * D + (size_t)h * hd;
                memset(o, 0, (size_t)hd * sizeof(float));
                for (int32_t k = 0; k < nk; k++)
                    fk->axpy(o, sc[k], e->qkv + (size_t)(t0 + k) * ld + 2 * (size_t)D + (size_t)h * hd, hd);
            }
        }
    }
}

static int check(const pg_encoder *e, const pg_enc_batch *b, int pooling, pg_error *err) {
    const pg_model *m = e->m;
    const pg_hparams *hp = &m->hp;
    if (pooling < PG_POOL_NONE || pooling > PG_POOL_RANK)
        return pg_error_set(err, PG_EINVAL, "unknown pooling type %d", pooling);
    if (pooling == PG_POOL_RANK && (!hp->n_cls_out || hp->encoder == 0))
        return pg_error_set(err, PG_EUNSUPPORTED, "model has no classification head: it cannot rerank");
    if (b->n_seqs <= 0 || b->n_seqs > e->max_seqs)
        return pg_error_set(err, PG_EINVAL, "batch of %d sequences (limit %d)", b->n_seqs, e->max_seqs);
    if (b->seq_start[0] != 0) return pg_error_set(err, PG_EINVAL, "batch does not start at token 0");
    for (int32_t s = 0; s < b->n_seqs; s++) {
        int64_t len = (int64_t)b->seq_start[s + 1] - b->seq_start[s];
        if (len <= 0) return pg_error_set(err, PG_EINVAL, "sequence %d is empty", s);
        if (len > e->max_seq)
            return pg_error_set(err, PG_EINVAL, "sequence %d has %lld tokens, more than the limit of %d", s,
                                (long long)len, e->max_seq);
        if (b->seq_start[s + 1] > e->max_tokens)
            return pg_error_set(err, PG_EINVAL, "batch of more than %d tokens", e->max_tokens);
    }
    const int32_t n = b->seq_start[b->n_seqs];
    const int64_t n_types = m->type_embd.data ? m->type_embd.ne1 : 1;
    for (int32_t t = 0; t < n; t++) {
        if (b->tokens[t] < 0 || b->tokens[t] >= hp->n_vocab)
            return pg_error_set(err, PG_EINVAL, "token id %d is outside the vocabulary (0..%d)", b->tokens[t],
                                hp->n_vocab - 1);
        if (b->types && (b->types[t] < 0 || b->types[t] >= n_types))
            return pg_error_set(err, PG_EINVAL, "token type %d is outside 0..%lld", b->types[t],
                                (long long)n_types - 1);
    }
    return 0;
}

/* Pools rows h[t] (t over the batch's tokens; row of token t at h + t*E). */
static void pool_rows(const pg_enc_batch *b, int pooling, const float *h, int E, float *out) {
    const int32_t n = b->seq_start[b->n_seqs];
    if (pooling == PG_POOL_NONE) {
        memcpy(out, h, (size_t)n * E * sizeof(float));
        return;
    }
    for (int32_t s = 0; s < b->n_seqs; s++) {
        const int32_t t0 = b->seq_start[s], t1 = b->seq_start[s + 1];
        float *o = out + (size_t)s * E;
        if (pooling == PG_POOL_CLS) memcpy(o, h + (size_t)t0 * E, (size_t)E * sizeof(float));
        else if (pooling == PG_POOL_LAST) memcpy(o, h + (size_t)(t1 - 1) * E, (size_t)E * sizeof(float));
        else {
            for (int i = 0; i < E; i++) {
                double acc = 0;
                for (int32_t t = t0; t < t1; t++) acc += h[(size_t)t * E + i];
                o[i] = (float)(acc / (t1 - t0));
            }
        }
    }
}

static int run_decoder(pg_encoder *e, const pg_enc_batch *b, int pooling, float *out, pg_error *err) {
    const int E = e->m->hp.n_embd;
    const int32_t n = b->seq_start[b->n_seqs];
    int32_t nb = 0, n_out = 0;
    for (int32_t s = 0; s < b->n_seqs; s++) {
        const int32_t t0 = b->seq_start[s], t1 = b->seq_start[s + 1], need = (t1 - t0 + KV_BLOCK - 1) / KV_BLOCK;
        e->seqs[s].block_table = e->blocks + nb;
        e->seqs[s].n_blocks = need;
        for (int32_t i = 0; i < need; i++) e->blocks[nb + i] = nb + i;
        nb += need;
        for (int32_t t = t0; t < t1; t++) {
            e->pos[t] = t - t0;
            e->seq[t] = s;
        }
        if (pooling == PG_POOL_LAST) e->out[n_out++] = t1 - 1;
        else if (pooling == PG_POOL_CLS) e->out[n_out++] = t0;
    }
    if (pooling == PG_POOL_NONE || pooling == PG_POOL_MEAN)
        for (int32_t t = 0; t < n; t++) e->out[n_out++] = t;
    PG_ASSERT(nb <= pg_kv_store_n_blocks(e->kv));
    pg_batch fb = {n, b->tokens, e->pos, e->seq, b->n_seqs, e->seqs, n_out, e->out};
    int rc = pg_forward_run_hidden(e->fwd, e->kv, &fb, e->hidden, err);
    if (rc < 0) return rc;
    if (pooling == PG_POOL_LAST || pooling == PG_POOL_CLS) memcpy(out, e->hidden, (size_t)n_out * E * sizeof(float));
    else pool_rows(b, pooling, e->hidden, E, out);
    return 0;
}

int pg_encoder_run(pg_encoder *e, const pg_enc_batch *b, int pooling, float *out, pg_error *err) {
    int rc = check(e, b, pooling, err);
    if (rc < 0) return rc;
    if (!e->m->hp.encoder) return run_decoder(e, b, pooling, out, err);
    const pg_model *m = e->m;
    const pg_hparams *hp = &m->hp;
    const int32_t T = b->seq_start[b->n_seqs];
    const int E = hp->n_embd, D = e->D, F = e->F;
    const size_t ldq = 3 * (size_t)D;

    run_rows(e, b, NULL, ROW_EMBED);
    for (int il = 0; il < hp->n_layer; il++) {
        const pg_layer_w *L = &m->layers[il];
        if (L->wqkv.data) {
            matmul(e, &L->wqkv, e->x, T, e->qkv, (int64_t)ldq);
        } else {
            matmul(e, &L->wq, e->x, T, e->qkv, (int64_t)ldq);
            matmul(e, &L->wk, e->x, T, e->qkv + D, (int64_t)ldq);
            matmul(e, &L->wv, e->x, T, e->qkv + 2 * D, (int64_t)ldq);
        }
        add_bias_rows(e->qkv, (int64_t)ldq, T, L->bq, D);
        add_bias_rows(e->qkv + D, (int64_t)ldq, T, L->bk, D);
        add_bias_rows(e->qkv + 2 * D, (int64_t)ldq, T, L->bv, D);
        run_rows(e, b, L, ROW_QK);
        row_job aj = {e, b, L, 0};
        pg_pool_run(e->pool, attention, &aj);
        matmul(e, &L->wo, e->att, T, e->tmp, E);
        add_bias_rows(e->tmp, E, T, L->bo, E);
        run_rows(e, b, L, ROW_LN_ATT);
        matmul(e, &L->w_up, e->x, T, e->up, F);
        if (L->w_gate.data) matmul(e, &L->w_gate, e->x, T, e->gate, F);
        run_rows(e, b, L, ROW_FFN_ACT);
        matmul(e, &L->w_down, e->up, T, e->tmp, E);
        add_bias_rows(e->tmp, E, T, L->b_down, E);
        run_rows(e, b, L, ROW_LN_OUT);
    }
    if (pooling != PG_POOL_RANK) {
        pool_rows(b, pooling, e->x, E, out);
        return 0;
    }
    /* rank head on each sequence's first token: tanh(cls x + b), then cls.output */
    const int32_t S = b->n_seqs;
    for (int32_t s = 0; s < S; s++)
        memcpy(e->head + (size_t)s * E, e->x + (size_t)b->seq_start[s] * E, (size_t)E * sizeof(float));
    const float *h = e->head;
    if (m->cls.data) {
        const int64_t c1 = m->cls.ne1;
        matmul(e, &m->cls, e->head, S, e->head2, c1);
        add_bias_rows(e->head2, c1, S, m->cls_b, c1);
        for (size_t i = 0; i < (size_t)S * c1; i++) e->head2[i] = tanhf(e->head2[i]);
        h = e->head2;
    }
    if (m->cls_out.data) {
        matmul(e, &m->cls_out, h, S, out, hp->n_cls_out);
        add_bias_rows(out, hp->n_cls_out, S, m->cls_out_b, hp->n_cls_out);
    } else {
        memcpy(out, h, (size_t)S * hp->n_cls_out * sizeof(float));
    }
    return 0;
}
