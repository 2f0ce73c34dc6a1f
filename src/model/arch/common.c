/* common.c - tensor mapping shared by the architecture files: the attention
 * block with separate Q/K/V projections (optional biases, optional per-head
 * Q/K RMSNorm) and the feed-forward block (dense SwiGLU/GeGLU, or routed
 * experts with an optional sigmoid-gated shared expert), under the names the
 * GGUF converters write (blk.N.attn_q.weight, blk.N.ffn_gate_exps.weight, ...).
 * Every tensor's shape is checked against the hyper-parameters here. */
#include "model/model_impl.h"

#include <stdio.h>

#define NAME(s) (snprintf(nm, sizeof nm, "blk.%d." s, il), nm)

int pg_arch_attn_std(pg_model *m, int il, pg_layer_w *L, int biases, int qk_norm, pg_error *err) {
    const pg_hparams *hp = &m->hp;
    const int64_t E = hp->n_embd, Dq = (int64_t)hp->n_head * hp->head_dim, Dkv = (int64_t)hp->n_head_kv * hp->head_dim;
    char nm[96];
    int rc;
    if ((rc = pg_model_vec(m, NAME("attn_norm.weight"), E, 1, &L->attn_norm, err)) < 0) return rc;
    if ((rc = pg_model_weight(m, NAME("attn_q.weight"), E, Dq, 1, &L->wq, err)) < 0) return rc;
    if ((rc = pg_model_weight(m, NAME("attn_k.weight"), E, Dkv, 1, &L->wk, err)) < 0) return rc;
    if ((rc = pg_model_weight(m, NAME("attn_v.weight"), E, Dkv, 1, &L->wv, err)) < 0) return rc;
    if ((rc = pg_model_weight(m, NAME("attn_output.weight"), Dq, E, 1, &L->wo, err)) < 0) return rc;
    if (biases) {
        if ((rc = pg_model_vec(m, NAME("attn_q.bias"), Dq, 1, &L->bq, err)) < 0) return rc;
        if ((rc = pg_model_vec(m, NAME("attn_k.bias"), Dkv, 1, &L->bk, err)) < 0) return rc;
        if ((rc = pg_model_vec(m, NAME("attn_v.bias"), Dkv, 1, &L->bv, err)) < 0) return rc;
    }
    if (qk_norm) {
        if ((rc = pg_model_vec(m, NAME("attn_q_norm.weight"), hp->head_dim, 1, &L->q_norm, err)) < 0) return rc;
        if ((rc = pg_model_vec(m, NAME("attn_k_norm.weight"), hp->head_dim, 1, &L->k_norm, err)) < 0) return rc;
    }
    return 0;
}

int pg_arch_ffn_std(pg_model *m, int il, pg_layer_w *L, pg_error *err) {
    const pg_hparams *hp = &m->hp;
    const int64_t E = hp->n_embd;
    char nm[96];
    int rc;
    if ((rc = pg_model_vec(m, NAME("ffn_norm.weight"), E, 1, &L->ffn_norm, err)) < 0) return rc;
    if (hp->n_expert == 0) {
        if ((rc = pg_model_weight(m, NAME("ffn_gate.weight"), E, hp->n_ff, 1, &L->w_gate, err)) < 0) return rc;
        if ((rc = pg_model_weight(m, NAME("ffn_up.weight"), E, hp->n_ff, 1, &L->w_up, err)) < 0) return rc;
        if ((rc = pg_model_weight(m, NAME("ffn_down.weight"), hp->n_ff, E, 1, &L->w_down, err)) < 0) return rc;
        return 0;
    }
    const int64_t F = hp->n_ff_exp, NE = hp->n_expert;
    if ((rc = pg_model_weight(m, NAME("ffn_gate_inp.weight"), E, NE, 1, &L->gate_inp, err)) < 0) return rc;
    if ((rc = pg_model_weight3(m, NAME("ffn_gate_exps.weight"), E, F, NE, &L->gate_exps, &L->gate_exp_bytes, err)) < 0)
        return rc;
    if ((rc = pg_model_weight3(m, NAME("ffn_up_exps.weight"), E, F, NE, &L->up_exps, &L->up_exp_bytes, err)) < 0)
        return rc;
    if ((rc = pg_model_weight3(m, NAME("ffn_down_exps.weight"), F, E, NE, &L->down_exps, &L->down_exp_bytes, err)) < 0)
        return rc;
    if (hp->n_ff_shexp > 0) {
        const int64_t S = hp->n_ff_shexp;
        if ((rc = pg_model_weight(m, NAME("ffn_gate_inp_shexp.weight"), E, 1, 1, &L->gate_inp_shexp, err)) < 0)
            return rc;
        if ((rc = pg_model_weight(m, NAME("ffn_gate_shexp.weight"), E, S, 1, &L->gate_shexp, err)) < 0) return rc;
        if ((rc = pg_model_weight(m, NAME("ffn_up_shexp.weight"), E, S, 1, &L->up_shexp, err)) < 0) return rc;
        if ((rc = pg_model_weight(m, NAME("ffn_down_shexp.weight"), S, E, 1, &L->down_shexp, err)) < 0) return rc;
    }
    return 0;
}

int pg_arch_moe_hparams(pg_model *m, pg_error *err) {
    pg_hparams *hp = &m->hp;
    int rc;
    if ((rc = pg_model_key_u32(m, "expert_count", &hp->n_expert, 0, err)) < 0) return rc;
    if ((rc = pg_model_key_u32(m, "expert_used_count", &hp->n_expert_used, 0, err)) < 0) return rc;
    if (hp->n_expert == 0) return 0;
    if (hp->n_expert < 0 || hp->n_expert > 1024 || hp->n_expert_used <= 0 || hp->n_expert_used > hp->n_expert)
        return pg_error_set(err, PG_EFORMAT, "expert_count %d / expert_used_count %d are invalid", hp->n_expert,
                            hp->n_expert_used);
    if ((rc = pg_model_key_u32(m, "expert_feed_forward_length", &hp->n_ff_exp, 0, err)) < 0) return rc;
    if ((rc = pg_model_key_u32(m, "expert_shared_feed_forward_length", &hp->n_ff_shexp, 0, err)) < 0) return rc;
    if (hp->n_ff_exp < 0 || hp->n_ff_exp > (1 << 20) || hp->n_ff_shexp < 0 || hp->n_ff_shexp > (1 << 20))
        return pg_error_set(err, PG_EFORMAT, "implausible expert feed-forward length");
    return 0;
}
