/* nomic_bert.c - architecture `nomic-bert` (nomic-embed-text v1/v1.5) as
 * GGUF writes it: the BERT encoder layout (post-LayerNorm blocks, token and
 * token-type embeddings, token_embd_norm) with
 *   - rotary positions (NeoX pairing, {arch}.rope.freq_base) instead of
 *     position_embd,
 *   - fused attn_qkv [n_embd, 3 n_embd] (rows Q, then K, then V), no biases,
 *   - a SwiGLU FFN ffn_gate / ffn_up / ffn_down without biases,
 *   - attn_output without bias; attn_output_norm and layer_output_norm with
 *     weight and bias. */
#include "model/model_impl.h"

#include "tensor/ops.h"

#include <stdio.h>

#define NAME(s) (snprintf(nm, sizeof nm, "blk.%d." s, il), nm)

static int nomic_hparams(pg_model *m, pg_error *err) {
    int rc = pg_arch_encoder_hparams(m, err);
    if (rc < 0) return rc;
    m->hp.rope_mode = PG_ROPE_NEOX;
    m->hp.act = PG_ACT_SILU;
    return 0;
}

static int nomic_layer(pg_model *m, int il, pg_layer_w *L, pg_error *err) {
    pg_hparams *hp = &m->hp;
    const int64_t E = hp->n_embd, D = (int64_t)hp->n_head * hp->head_dim, F = hp->n_ff;
    char nm[96];
    int rc;
    hp->fused_qkv = 1;
    if ((rc = pg_model_weight(m, NAME("attn_qkv.weight"), E, 3 * D, 1, &L->wqkv, err)) < 0) return rc;
    if ((rc = pg_model_weight(m, NAME("attn_output.weight"), D, E, 1, &L->wo, err)) < 0) return rc;
    if ((rc = pg_model_vec(m, NAME("attn_output_norm.weight"), E, 1, &L->attn_out_norm, err)) < 0) return rc;
    if ((rc = pg_model_vec(m, NAME("attn_output_norm.bias"), E, 1, &L->attn_out_norm_b, err)) < 0) return rc;
    if ((rc = pg_model_weight(m, NAME("ffn_gate.weight"), E, F, 1, &L->w_gate, err)) < 0) return rc;
    if ((rc = pg_model_weight(m, NAME("ffn_up.weight"), E, F, 1, &L->w_up, err)) < 0) return rc;
    if ((rc = pg_model_weight(m, NAME("ffn_down.weight"), F, E, 1, &L->w_down, err)) < 0) return rc;
    if ((rc = pg_model_vec(m, NAME("layer_output_norm.weight"), E, 1, &L->layer_out_norm, err)) < 0) return rc;
    if ((rc = pg_model_vec(m, NAME("layer_output_norm.bias"), E, 1, &L->layer_out_norm_b, err)) < 0) return rc;
    return 0;
}

const pg_arch pg_arch_nomic_bert = {"nomic-bert", nomic_hparams, nomic_layer};
