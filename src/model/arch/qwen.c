/* qwen.c - the Qwen family as GGUF writes it. All use NeoX RoPE (rotating
 * dims i and i + n_rot/2; the converter does not permute Q/K rows).
 *   qwen2     Q/K/V biases, dense SwiGLU; output tied when output.weight is absent
 *   qwen2moe  qwen2 attention + routed experts (softmax, top-k, weights NOT
 *             renormalised) + a shared expert gated by sigmoid(gate_inp_shexp . x)
 *   qwen3     no biases; per-head RMSNorm of Q and K (attn_{q,k}_norm, [head_dim])
 *             before RoPE; head_dim from attention.key_length (may differ from n_embd/n_head)
 *   qwen3moe  qwen3 attention + routed experts, weights renormalised over top-k */
#include "model/model_impl.h"

#include "tensor/ops.h"

static int qwen2_hparams(pg_model *m, pg_error *err) {
    m->hp.rope_mode = PG_ROPE_NEOX;
    m->hp.has_qkv_bias = 1;
    return 0;
}

static int qwen2moe_hparams(pg_model *m, pg_error *err) {
    pg_hparams *hp = &m->hp;
    hp->rope_mode = PG_ROPE_NEOX;
    hp->has_qkv_bias = 1;
    int rc = pg_arch_moe_hparams(m, err);
    if (rc < 0) return rc;
    if (hp->n_expert == 0) return pg_error_set(err, PG_EFORMAT, "qwen2moe model without '%s.expert_count'", hp->arch);
    /* defaults as the reference engine fills them */
    if (hp->n_ff_exp == 0) hp->n_ff_exp = hp->n_ff / hp->n_expert_used;
    if (hp->n_ff_shexp == 0) hp->n_ff_shexp = hp->n_ff;
    if (hp->n_ff_exp <= 0) return pg_error_set(err, PG_EFORMAT, "qwen2moe expert width is 0");
    hp->moe_norm_topk = 0;
    return 0;
}

static int qwen3_hparams(pg_model *m, pg_error *err) {
    m->hp.rope_mode = PG_ROPE_NEOX;
    m->hp.qk_norm = 1;
    return 0;
}

static int qwen3moe_hparams(pg_model *m, pg_error *err) {
    pg_hparams *hp = &m->hp;
    hp->rope_mode = PG_ROPE_NEOX;
    hp->qk_norm = 1;
    int rc = pg_arch_moe_hparams(m, err);
    if (rc < 0) return rc;
    if (hp->n_expert == 0) return pg_error_set(err, PG_EFORMAT, "qwen3moe model without '%s.expert_count'", hp->arch);
    if (hp->n_ff_exp == 0) hp->n_ff_exp = hp->n_ff / hp->n_expert_used;
    if (hp->n_ff_exp <= 0) return pg_error_set(err, PG_EFORMAT, "qwen3moe expert width is 0");
    hp->n_ff_shexp = 0;
    hp->moe_norm_topk = 1;
    return 0;
}

static int qwen_layer(pg_model *m, int il, pg_layer_w *L, pg_error *err) {
    int rc = pg_arch_attn_std(m, il, L, m->hp.has_qkv_bias, m->hp.qk_norm, err);
    return rc < 0 ? rc : pg_arch_ffn_std(m, il, L, err);
}

const pg_arch pg_arch_qwen2 = {"qwen2", qwen2_hparams, qwen_layer};
const pg_arch pg_arch_qwen2moe = {"qwen2moe", qwen2moe_hparams, qwen_layer};
const pg_arch pg_arch_qwen3 = {"qwen3", qwen3_hparams, qwen_layer};
const pg_arch pg_arch_qwen3moe = {"qwen3moe", qwen3moe_hparams, qwen_layer};
