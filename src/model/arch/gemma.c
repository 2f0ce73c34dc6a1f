/* gemma.c - architectures `gemma2` and `gemma3` as GGUF writes them.
 *
 * Both: token embeddings scaled by sqrt(n_embd); GELU(tanh)-gated FFN;
 * RMSNorm after attention (post_attention_norm) and after the FFN
 * (post_ffw_norm), each applied to the sub-layer output before the residual
 * add; NeoX RoPE; q scaled by 1/sqrt(head_dim), except the 27B sizes
 * (gemma2 46 layers, gemma3 62 layers) which use 1/sqrt(n_embd/n_head); the
 * output is usually tied to token_embd. Norm weights are used as stored:
 * the GGUF converter already folded Gemma's (1 + w) into them.
 *   gemma2  attention logits soft-capped (attn_logit_softcapping, default 50),
 *           final logits soft-capped (final_logit_softcapping, default 30);
 *           sliding window (default 4096) on even layers.
 *   gemma3  per-head RMSNorm of Q and K (attn_{q,k}_norm) before RoPE; no
 *           soft-capping; windowed ("local") layers are il % 6 < 5, they use
 *           rope base 10000 and no rope scaling, the global layers use
 *           rope.freq_base and rope.scaling. */
#include "model/model_impl.h"

#include "tensor/ops.h"

#include <math.h>
#include <stdio.h>

static int gemma_common(pg_model *m, int n_layer_27b) {
    pg_hparams *hp = &m->hp;
    hp->rope_mode = PG_ROPE_NEOX;
    hp->embd_scale = sqrtf((float)hp->n_embd);
    hp->act = PG_ACT_GELU;
    hp->post_norms = 1;
    hp->attn_scale = hp->n_layer == n_layer_27b ? 1.0f / sqrtf((float)(hp->n_embd / hp->n_head))
                                                : 1.0f / sqrtf((float)hp->head_dim);
    return 0;
}

static int gemma2_hparams(pg_model *m, pg_error *err) {
    pg_hparams *hp = &m->hp;
    gemma_common(m, 46);
    hp->sliding_window = 4096;
    hp->swa_pattern = 2;
    hp->attn_softcap = 50.0f;
    hp->final_softcap = 30.0f;
    int rc;
    if ((rc = pg_model_key_u32(m, "attention.sliding_window", &hp->sliding_window, 0, err)) < 0) return rc;
    if ((rc = pg_model_key_f32(m, "attn_logit_softcapping", &hp->attn_softcap, 0, err)) < 0) return rc;
    if ((rc = pg_model_key_f32(m, "final_logit_softcapping", &hp->final_softcap, 0, err)) < 0) return rc;
    if (hp->attn_softcap < 0 || hp->final_softcap < 0)
        return pg_error_set(err, PG_EFORMAT, "negative soft-capping value");
    return 0;
}

static int gemma3_hparams(pg_model *m, pg_error *err) {
    pg_hparams *hp = &m->hp;
    gemma_common(m, 62);
    hp->qk_norm = 1;
    hp->swa_pattern = 6;
    hp->rope_base_swa = 10000.0f;
    hp->rope_freq_scale_swa = 1.0f;
    int rc;
    if ((rc = pg_model_key_u32(m, "attention.sliding_window", &hp->sliding_window, 1, err)) < 0) return rc;
    return 0;
}

static int gemma_layer(pg_model *m, int il, pg_layer_w *L, pg_error *err) {
    const int64_t E = m->hp.n_embd;
    char nm[96];
    int rc = pg_arch_attn_std(m, il, L, 0, m->hp.qk_norm, err);
    if (rc < 0) return rc;
    snprintf(nm, sizeof nm, "blk.%d.post_attention_norm.weight", il);
    if ((rc = pg_model_vec(m, nm, E, 1, &L->post_attn_norm, err)) < 0) return rc;
    if ((rc = pg_arch_ffn_std(m, il, L, err)) < 0) return rc;
    snprintf(nm, sizeof nm, "blk.%d.post_ffw_norm.weight", il);
    if ((rc = pg_model_vec(m, nm, E, 1, &L->post_ffw_norm, err)) < 0) return rc;
    return 0;
}

const pg_arch pg_arch_gemma2 = {"gemma2", gemma2_hparams, gemma_layer};
const pg_arch pg_arch_gemma3 = {"gemma3", gemma3_hparams, gemma_layer};
