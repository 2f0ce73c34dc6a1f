/* llama.c - architecture `llama` as GGUF writes it (Llama 1/2/3.x, Mistral,
 * TinyLlama, SmolLM; Mixtral's experts use the same name).
 *
 * Tensors per layer: attn_norm, attn_{q,k,v,output}, ffn_norm and either a
 * dense SwiGLU FFN (ffn_{gate,up,down}) or experts (ffn_gate_inp,
 * ffn_{gate,up,down}_exps). RoPE is the adjacent-pair ("normal") kind since
 * the GGUF converter permutes Q/K rows for it. */
#include "model/model_impl.h"

#include <stdio.h>

static int llama_hparams(pg_model *m, pg_error *err) {
    pg_hparams *hp = &m->hp;
    hp->rope_mode = 0; /* PG_ROPE_NORM */
    int rc;
    if ((rc = pg_model_key_u32(m, "expert_count", &hp->n_expert, 0, err)) < 0) return rc;
    if ((rc = pg_model_key_u32(m, "expert_used_count", &hp->n_expert_used, 0, err)) < 0) return rc;
    if (hp->n_expert > 0) {
        if (hp->n_expert_used <= 0 || hp->n_expert_used > hp->n_expert)
            return pg_error_set(err, PG_EFORMAT, "key '%s.expert_used_count' must be in [1, expert_count]", hp->arch);
        hp->n_ff_exp = hp->n_ff;
    }
    return 0;
}

static int llama_layer(pg_model *m, int il, pg_layer_w *L, pg_error *err) {
    const pg_hparams *hp = &m->hp;
    const int64_t E = hp->n_embd, Dq = (int64_t)hp->n_head * hp->head_dim, Dkv = (int64_t)hp->n_head_kv * hp->head_dim;
    char nm[96];
    int rc;
#define NAME(s) (snprintf(nm, sizeof nm, "blk.%d." s, il), nm)
    if ((rc = pg_model_vec(m, NAME("attn_norm.weight"), E, 1, &L->attn_norm, err)) < 0) return rc;
    if ((rc = pg_model_weight(m, NAME("attn_q.weight"), E, Dq, 1, &L->wq, err)) < 0) return rc;
    if ((rc = pg_model_weight(m, NAME("attn_k.weight"), E, Dkv, 1, &L->wk, err)) < 0) return rc;
    if ((rc = pg_model_weight(m, NAME("attn_v.weight"), E, Dkv, 1, &L->wv, err)) < 0) return rc;
    if ((rc = pg_model_weight(m, NAME("attn_output.weight"), Dq, E, 1, &L->wo, err)) < 0) return rc;
    if ((rc = pg_model_vec(m, NAME("ffn_norm.weight"), E, 1, &L->ffn_norm, err)) < 0) return rc;
    if (hp->n_expert > 0) {
        if ((rc = pg_model_weight(m, NAME("ffn_gate_inp.weight"), E, hp->n_expert, 1, &L->gate_inp, err)) < 0) return rc;
        if ((rc = pg_model_weight3(m, NAME("ffn_gate_exps.weight"), E, hp->n_ff_exp, hp->n_expert, &L->gate_exps,
                                   &L->gate_exp_bytes, err)) < 0) return rc;
        if ((rc = pg_model_weight3(m, NAME("ffn_up_exps.weight"), E, hp->n_ff_exp, hp->n_expert, &L->up_exps,
                                   &L->up_exp_bytes, err)) < 0) return rc;
        if ((rc = pg_model_weight3(m, NAME("ffn_down_exps.weight"), hp->n_ff_exp, E, hp->n_expert, &L->down_exps,
                                   &L->down_exp_bytes, err)) < 0) return rc;
    } else {
        if ((rc = pg_model_weight(m, NAME("ffn_gate.weight"), E, hp->n_ff, 1, &L->w_gate, err)) < 0) return rc;
        if ((rc = pg_model_weight(m, NAME("ffn_up.weight"), E, hp->n_ff, 1, &L->w_up, err)) < 0) return rc;
        if ((rc = pg_model_weight(m, NAME("ffn_down.weight"), hp->n_ff, E, 1, &L->w_down, err)) < 0) return rc;
    }
#undef NAME
    return 0;
}

const pg_arch pg_arch_llama = {"llama", llama_hparams, llama_layer};
