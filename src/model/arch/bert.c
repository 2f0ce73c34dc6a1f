/* bert.c - architecture `bert` (BERT, BGE, MiniLM, E5 ... encoders) as GGUF
 * writes it, plus the pieces every encoder architecture shares.
 *
 * Model-wide: token_embd [n_embd, n_vocab], token_types [n_embd, n_types],
 * position_embd [n_embd, n_ctx] (absolute learned positions), and the
 * LayerNorm of their sum token_embd_norm.{weight,bias}. No output_norm and
 * no LM head; optionally a sequence-classification ("rank") head:
 * cls.{weight,bias} [n_embd -> C] with tanh, then cls.output.{weight,bias}
 * [C -> n_cls_out] (either part may be absent: cls alone gives tanh(cls x + b),
 * cls.output alone is a plain linear head), as the reference engine runs it.
 * Per layer (post-LayerNorm): attn_{q,k,v}.{weight,bias}, attn_output.{weight,
 * bias}, attn_output_norm.{weight,bias} (after the attention residual),
 * ffn_up.{weight,bias} -> GELU -> ffn_down.{weight,bias}, layer_output_norm.
 * {weight,bias} (after the FFN residual).
 * Keys: {arch}.attention.layer_norm_epsilon (LayerNorm eps), .attention.causal
 * (false), .pooling_type; token types from tokenizer.ggml.token_type_count. */
#include "model/model_impl.h"

#include <stdio.h>

int pg_arch_encoder_hparams(pg_model *m, pg_error *err) {
    pg_hparams *hp = &m->hp;
    hp->encoder = 1;
    hp->causal = 0;
    hp->norm_eps = 1e-12f;
    hp->act = PG_ACT_GELU;
    int rc = pg_model_key_f32(m, "attention.layer_norm_epsilon", &hp->norm_eps, 0, err);
    if (rc < 0) return rc;
    if (!(hp->norm_eps >= 0 && hp->norm_eps < 1)) return pg_error_set(err, PG_EFORMAT, "implausible layer_norm_epsilon");
    if (hp->n_head_kv != hp->n_head)
        return pg_error_set(err, PG_EUNSUPPORTED, "encoder with head_count_kv %d != head_count %d", hp->n_head_kv,
                            hp->n_head);
    return 0;
}

int pg_arch_encoder_globals(pg_model *m, pg_error *err) {
    pg_hparams *hp = &m->hp;
    const int64_t E = hp->n_embd;
    int rc;
    const pg_gguf_tensor *tt = pg_gguf_find_tensor(m->g, "token_types.weight");
    if (tt) {
        if (tt->ne[1] <= 0 || tt->ne[1] > 64)
            return pg_error_set(err, PG_EFORMAT, "tensor 'token_types.weight' has %lld token types", (long long)tt->ne[1]);
        if ((rc = pg_model_weight(m, "token_types.weight", E, tt->ne[1], 1, &m->type_embd, err)) < 0) return rc;
    }
    const pg_gguf_tensor *pe = pg_gguf_find_tensor(m->g, "position_embd.weight");
    if (pe) { /* learned positions: as many rows as the context, at least */
        if (pe->ne[1] < hp->n_ctx_train)
            return pg_error_set(err, PG_EFORMAT, "tensor 'position_embd.weight' has %lld rows, fewer than the context %d",
                                (long long)pe->ne[1], hp->n_ctx_train);
        if ((rc = pg_model_weight(m, "position_embd.weight", E, pe->ne[1], 1, &m->pos_embd, err)) < 0) return rc;
    } else if (!hp->alibi && hp->n_rot <= 0) {
        return pg_error_set(err, PG_EFORMAT, "encoder without positions (position_embd.weight)");
    }
    if ((rc = pg_model_vec(m, "token_embd_norm.weight", E, 1, &m->embd_norm, err)) < 0) return rc;
    if ((rc = pg_model_vec(m, "token_embd_norm.bias", E, 1, &m->embd_norm_b, err)) < 0) return rc;
    /* rank head: cls [E -> C1] + tanh, then cls.output [C1 -> C2]; either may be absent */
    const pg_gguf_tensor *ct = pg_gguf_find_tensor(m->g, "cls.weight");
    int64_t c1 = E;
    if (ct) {
        if (ct->ne[1] <= 0 || ct->ne[1] > 65536)
            return pg_error_set(err, PG_EFORMAT, "tensor 'cls.weight' has %lld outputs", (long long)ct->ne[1]);
        c1 = ct->ne[1];
        if ((rc = pg_model_weight(m, "cls.weight", E, c1, 1, &m->cls, err)) < 0) return rc;
        if ((rc = pg_model_vec(m, "cls.bias", c1, 0, &m->cls_b, err)) < 0) return rc;
        hp->n_cls_out = (int32_t)c1;
    }
    const pg_gguf_tensor *co = pg_gguf_find_tensor(m->g, "cls.output.weight");
    if (co) {
        if (co->ne[1] <= 0 || co->ne[1] > 4096)
            return pg_error_set(err, PG_EFORMAT, "tensor 'cls.output.weight' has %lld outputs", (long long)co->ne[1]);
        if ((rc = pg_model_weight(m, "cls.output.weight", c1, co->ne[1], 1, &m->cls_out, err)) < 0) return rc;
        if ((rc = pg_model_vec(m, "cls.output.bias", co->ne[1], 0, &m->cls_out_b, err)) < 0) return rc;
        hp->n_cls_out = (int32_t)co->ne[1];
    }
    if (hp->pooling == PG_POOL_RANK && !hp->n_cls_out)
        return pg_error_set(err, PG_EFORMAT, "pooling type rank without a classifier head (cls.output.weight)");
    return 0;
}

#define NAME(s) (snprintf(nm, sizeof nm, "blk.%d." s, il), nm)

static int bert_hparams(pg_model *m, pg_error *err) { return pg_arch_encoder_hparams(m, err); }

/* The post-norm encoder attention block bert and jina-bert-v2 share:
 * biased Q/K/V and output projections and the LayerNorm after the residual
 * (jina-bert-v2 adds optional Q/K LayerNorms of its own). */
int pg_arch_encoder_attn(pg_model *m, int il, pg_layer_w *L, pg_error *err) {
    const pg_hparams *hp = &m->hp;
    const int64_t E = hp->n_embd, D = (int64_t)hp->n_head * hp->head_dim;
    char nm[96];
    int rc;
    if ((rc = pg_model_weight(m, NAME("attn_q.weight"), E, D, 1, &L->wq, err)) < 0) return rc;
    if ((rc = pg_model_vec(m, NAME("attn_q.bias"), D, 1, &L->bq, err)) < 0) return rc;
    if ((rc = pg_model_weight(m, NAME("attn_k.weight"), E, D, 1, &L->wk, err)) < 0) return rc;
    if ((rc = pg_model_vec(m, NAME("attn_k.bias"), D, 1, &L->bk, err)) < 0) return rc;
    if ((rc = pg_model_weight(m, NAME("attn_v.weight"), E, D, 1, &L->wv, err)) < 0) return rc;
    if ((rc = pg_model_vec(m, NAME("attn_v.bias"), D, 1, &L->bv, err)) < 0) return rc;
    if ((rc = pg_model_weight(m, NAME("attn_output.weight"), D, E, 1, &L->wo, err)) < 0) return rc;
    if ((rc = pg_model_vec(m, NAME("attn_output.bias"), E, 1, &L->bo, err)) < 0) return rc;
    if ((rc = pg_model_vec(m, NAME("attn_output_norm.weight"), E, 1, &L->attn_out_norm, err)) < 0) return rc;
    if ((rc = pg_model_vec(m, NAME("attn_output_norm.bias"), E, 1, &L->attn_out_norm_b, err)) < 0) return rc;
    return 0;
}

static int bert_layer(pg_model *m, int il, pg_layer_w *L, pg_error *err) {
    const pg_hparams *hp = &m->hp;
    if (!m->pos_embd.data) return pg_error_set(err, PG_ENOTFOUND, "missing required tensor 'position_embd.weight'");
    const int64_t E = hp->n_embd, F = hp->n_ff;
    char nm[96];
    int rc;
    if ((rc = pg_arch_encoder_attn(m, il, L, err)) < 0) return rc;
    if ((rc = pg_model_weight(m, NAME("ffn_up.weight"), E, F, 1, &L->w_up, err)) < 0) return rc;
    if ((rc = pg_model_vec(m, NAME("ffn_up.bias"), F, 1, &L->b_up, err)) < 0) return rc;
    if ((rc = pg_model_weight(m, NAME("ffn_down.weight"), F, E, 1, &L->w_down, err)) < 0) return rc;
    if ((rc = pg_model_vec(m, NAME("ffn_down.bias"), E, 1, &L->b_down, err)) < 0) return rc;
    if ((rc = pg_model_vec(m, NAME("layer_output_norm.weight"), E, 1, &L->layer_out_norm, err)) < 0) return rc;
    if ((rc = pg_model_vec(m, NAME("layer_output_norm.bias"), E, 1, &L->layer_out_norm_b, err)) < 0) return rc;
    return 0;
}

const pg_arch pg_arch_bert = {"bert", bert_hparams, bert_layer};
