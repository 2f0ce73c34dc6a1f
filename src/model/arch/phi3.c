/* phi3.c - architecture `phi3` (Phi-3 / Phi-3.5 / Phi-4 mini) as GGUF writes it.
 *
 * Tensors per layer: attn_norm, attn_qkv [n_embd, Dq + 2 Dkv] (rows: Q, then
 * K, then V; separate attn_{q,k,v} also accepted), attn_output, ffn_norm,
 * ffn_up [n_embd, 2 n_ff] (rows: gate, then up), ffn_down. NeoX RoPE.
 * LongRoPE models carry rope_factors_{long,short}.weight, read in model.c.
 * `phi3.attention.sliding_window`, when set, applies to every layer: the
 * golden logits of prompts longer than the window agree only with it.
 * (Recent llama.cpp versions ignore Phi's window; the reference that made
 * our golden data applies it, as Hugging Face's Phi-3 does.) */
#include "model/model_impl.h"

#include "tensor/ops.h"

#include <stdio.h>

static int phi3_hparams(pg_model *m, pg_error *err) {
    pg_hparams *hp = &m->hp;
    hp->rope_mode = PG_ROPE_NEOX;
    hp->fused_gate_up = 1;
    hp->swa_pattern = 0; /* every layer */
    int rc = pg_model_key_u32(m, "attention.sliding_window", &hp->sliding_window, 0, err);
    return rc < 0 ? rc : 0;
}

static int phi3_layer(pg_model *m, int il, pg_layer_w *L, pg_error *err) {
    pg_hparams *hp = &m->hp;
    const int64_t E = hp->n_embd, Dq = (int64_t)hp->n_head * hp->head_dim, Dkv = (int64_t)hp->n_head_kv * hp->head_dim;
    char nm[96];
    int rc;
#define NAME(s) (snprintf(nm, sizeof nm, "blk.%d." s, il), nm)
    if ((rc = pg_model_weight(m, NAME("attn_qkv.weight"), E, Dq + 2 * Dkv, 0, &L->wqkv, err)) < 0) return rc;
    if (rc == 0) {
        if ((rc = pg_arch_attn_std(m, il, L, 0, 0, err)) < 0) return rc;
    } else {
        hp->fused_qkv = 1;
        if ((rc = pg_model_vec(m, NAME("attn_norm.weight"), E, 1, &L->attn_norm, err)) < 0) return rc;
        if ((rc = pg_model_weight(m, NAME("attn_output.weight"), Dq, E, 1, &L->wo, err)) < 0) return rc;
    }
    if ((rc = pg_model_vec(m, NAME("ffn_norm.weight"), E, 1, &L->ffn_norm, err)) < 0) return rc;
    if ((rc = pg_model_weight(m, NAME("ffn_up.weight"), E, 2 * (int64_t)hp->n_ff, 1, &L->w_up, err)) < 0) return rc;
    if ((rc = pg_model_weight(m, NAME("ffn_down.weight"), hp->n_ff, E, 1, &L->w_down, err)) < 0) return rc;
    L->fused_gate_up = 1;
#undef NAME
    return 0;
}

const pg_arch pg_arch_phi3 = {"phi3", phi3_hparams, phi3_layer};
