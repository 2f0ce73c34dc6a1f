/* llama.c - architecture `llama` as GGUF writes it (Llama 1/2/3.x, Mistral,
 * TinyLlama, SmolLM; Mixtral's experts use the same name).
 *
 * Tensors per layer: attn_norm, attn_{q,k,v,output}, ffn_norm and either a
 * dense SwiGLU FFN (ffn_{gate,up,down}) or experts (ffn_gate_inp,
 * ffn_{gate,up,down}_exps: softmax over all router logits, top-k, weights
 * renormalised over the chosen k, as Mixtral defines it). RoPE is the
 * adjacent-pair ("normal") kind since the GGUF converter permutes Q/K rows. */
#include "model/model_impl.h"

#include "tensor/ops.h"

static int llama_hparams(pg_model *m, pg_error *err) {
    pg_hparams *hp = &m->hp;
    hp->rope_mode = PG_ROPE_NORM;
    int rc = pg_arch_moe_hparams(m, err);
    if (rc < 0) return rc;
    if (hp->n_expert > 0) {
        if (hp->n_ff_exp == 0) hp->n_ff_exp = hp->n_ff; /* mixtral stores its expert width as feed_forward_length */
        hp->n_ff_shexp = 0;
        hp->moe_norm_topk = 1;
    }
    return 0;
}

static int llama_layer(pg_model *m, int il, pg_layer_w *L, pg_error *err) {
    int rc = pg_arch_attn_std(m, il, L, 0, 0, err);
    return rc < 0 ? rc : pg_arch_ffn_std(m, il, L, err);
}

const pg_arch pg_arch_llama = {"llama", llama_hparams, llama_layer};
