/* jina_bert.c - architecture `jina-bert-v2` (jina-embeddings-v2, jina-reranker
 * v1 turbo/tiny) as GGUF writes it: the BERT encoder layout without
 * position_embd; positions enter as ALiBi biases on the attention scores
 * (head h adds -slope_h * |i - j|, slopes for max_bias 8 as ggml computes
 * them, see encode.c). Per layer: attn_{q,k,v}.{weight,bias} with optional
 * LayerNorms of the q and k rows (attn_q_norm / attn_k_norm, .weight and
 * .bias: the -code variants), attn_output.{weight,bias}, attn_output_norm,
 * a GEGLU FFN gelu(ffn_gate x) * (ffn_up x) when ffn_gate is present, else
 * GELU(ffn_up x + b), then ffn_down (+bias), layer_output_norm. Models with
 * attn_norm_2 (an extra LayerNorm some variants put after attention) are
 * refused rather than run wrongly. */
#include "model/model_impl.h"

#include <stdio.h>

#define NAME(s) (snprintf(nm, sizeof nm, "blk.%d." s, il), nm)

static int jina_hparams(pg_model *m, pg_error *err) {
    int rc = pg_arch_encoder_hparams(m, err);
    if (rc < 0) return rc;
    m->hp.alibi = 1;
    return 0;
}

static int jina_layer(pg_model *m, int il, pg_layer_w *L, pg_error *err) {
    pg_hparams *hp = &m->hp;
    const int64_t E = hp->n_embd, D = (int64_t)hp->n_head * hp->head_dim, F = hp->n_ff;
    char nm[96];
    int rc;
    if (pg_gguf_find_tensor(m->g, NAME("attn_norm_2.weight")))
        return pg_error_set(err, PG_EUNSUPPORTED, "tensor '%s' (jina-bert-v2 with attn_norm_2) is not supported", nm);
    if ((rc = pg_arch_encoder_attn(m, il, L, err)) < 0) return rc;
    if ((rc = pg_model_vec(m, NAME("attn_q_norm.weight"), D, 0, &L->q_ln, err)) < 0) return rc;
    if (L->q_ln && (rc = pg_model_vec(m, NAME("attn_q_norm.bias"), D, 1, &L->q_ln_b, err)) < 0) return rc;
    if ((rc = pg_model_vec(m, NAME("attn_k_norm.weight"), D, 0, &L->k_ln, err)) < 0) return rc;
    if (L->k_ln && (rc = pg_model_vec(m, NAME("attn_k_norm.bias"), D, 1, &L->k_ln_b, err)) < 0) return rc;
    if ((rc = pg_model_weight(m, NAME("ffn_gate.weight"), E, F, 0, &L->w_gate, err)) < 0) return rc;
    if ((rc = pg_model_weight(m, NAME("ffn_up.weight"), E, F, 1, &L->w_up, err)) < 0) return rc;
    if ((rc = pg_model_vec(m, NAME("ffn_up.bias"), F, 0, &L->b_up, err)) < 0) return rc;
    if ((rc = pg_model_weight(m, NAME("ffn_down.weight"), F, E, 1, &L->w_down, err)) < 0) return rc;
    if ((rc = pg_model_vec(m, NAME("ffn_down.bias"), E, 0, &L->b_down, err)) < 0) return rc;
    if ((rc = pg_model_vec(m, NAME("layer_output_norm.weight"), E, 1, &L->layer_out_norm, err)) < 0) return rc;
    if ((rc = pg_model_vec(m, NAME("layer_output_norm.bias"), E, 1, &L->layer_out_norm_b, err)) < 0) return rc;
    return 0;
}

const pg_arch pg_arch_jina_bert_v2 = {"jina-bert-v2", jina_hparams, jina_layer};
