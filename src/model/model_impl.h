/* model_impl.h - private to src/model: the model struct, per-layer weights
 * and the per-architecture table. Architecture files (in arch/) read their
 * hyper-parameters and map their tensors into this common shape; the
 * generic forward pass (forward.c) runs any of them from the flags. */
#ifndef PG_MODEL_IMPL_H
#define PG_MODEL_IMPL_H

#include "model/model.h"
#include "tensor/matmul.h"

typedef struct pg_layer_w {
    const float *attn_norm, *ffn_norm;           /* [n_embd] */
    const float *post_attn_norm, *post_ffw_norm; /* gemma2, or NULL */
    const float *q_norm, *k_norm;                /* [head_dim] qwen3, or NULL */
    pg_weight wq, wk, wv, wo;                    /* wq/wk/wv unused when wqkv.data */
    pg_weight wqkv;                              /* fused q,k,v rows (phi3) */
    const float *bq, *bk, *bv;                   /* biases or NULL */
    pg_weight w_gate, w_up, w_down;              /* dense FFN; w_gate unused when fused */
    int fused_gate_up;                           /* w_up holds gate rows then up rows */
    /* mixture of experts */
    pg_weight gate_inp;                          /* [n_embd] -> n_expert */
    pg_weight gate_exps, up_exps, down_exps;     /* ne1 = rows per expert; data of expert e at e * expert_bytes */
    size_t gate_exp_bytes, up_exp_bytes, down_exp_bytes;
    pg_weight gate_shexp, up_shexp, down_shexp, gate_inp_shexp;
    int window;                                  /* sliding window of this layer, 0 = full */
    float rope_base, rope_scale;                 /* this layer's RoPE base / freq scale (set by model.c) */
    /* encoders (bert family, model/encode.c): post-LayerNorm blocks with biases */
    const float *bo;                             /* attn_output.bias or NULL */
    const float *b_up, *b_down, *b_gate;         /* FFN biases or NULL */
    const float *attn_out_norm, *attn_out_norm_b;   /* LayerNorm after the attention residual */
    const float *layer_out_norm, *layer_out_norm_b; /* LayerNorm after the FFN residual */
    const float *q_ln, *q_ln_b, *k_ln, *k_ln_b;  /* LayerNorm of the whole q / k rows (jina-bert-v2 code), or NULL */
} pg_layer_w;

typedef struct pg_arch {
    const char *name;
    /* Reads architecture-specific keys into m->hp (after the common ones). */
    int (*hparams)(pg_model *m, pg_error *err);
    /* Maps the tensors of one layer. */
    int (*layer)(pg_model *m, int il, pg_layer_w *L, pg_error *err);
} pg_arch;

struct pg_model {
    pg_gguf *g;
    pg_hparams hp;
    const pg_arch *arch;
    pg_weight tok_embd, output;
    const float *output_norm;
    const float *rope_freqs;      /* [n_rot/2] or NULL */
    const float *rope_long, *rope_short; /* LongRoPE factors [n_rot/2] or NULL (phi3) */
    pg_layer_w *layers;
    void **owned;                 /* converted vectors, freed with the model */
    int n_owned, cap_owned;
    void *pack;                   /* repacked weights (pg_weight.pdata point here), base/bigmem */
    size_t pack_size;
    uint64_t weight_bytes;
    /* encoders (pg_arch_encoder_globals) */
    pg_weight type_embd, pos_embd;              /* token_types [n_types rows], position_embd [n_ctx rows] or data NULL */
    const float *embd_norm, *embd_norm_b;       /* LayerNorm of the summed embeddings */
    pg_weight cls, cls_out;                     /* rank head: dense + tanh, then output rows; data NULL when absent */
    const float *cls_b, *cls_out_b;
};

/* Helpers for arch files (model.c). name is printf-style with the layer. */
int pg_model_weight(pg_model *m, const char *name, int64_t ne0, int64_t ne1, int required, pg_weight *w,
                    pg_error *err);
/* 3-D expert tensor [ne0, ne1, n_expert]; *expert_bytes = bytes per expert. */
int pg_model_weight3(pg_model *m, const char *name, int64_t ne0, int64_t ne1, int64_t ne2, pg_weight *w,
                     size_t *expert_bytes, pg_error *err);
int pg_model_vec(pg_model *m, const char *name, int64_t n, int required, const float **out, pg_error *err);
/* Optional arch key helpers: absent keys leave *out unchanged. */
int pg_model_key_u32(pg_model *m, const char *suffix, int32_t *out, int required, pg_error *err);
int pg_model_key_f32(pg_model *m, const char *suffix, float *out, int required, pg_error *err);

extern const pg_arch pg_arch_llama, pg_arch_qwen2, pg_arch_qwen2moe, pg_arch_qwen3, pg_arch_qwen3moe, pg_arch_phi3,
    pg_arch_gemma2, pg_arch_gemma3;
extern const pg_arch pg_arch_bert, pg_arch_nomic_bert, pg_arch_jina_bert_v2;
/* Shared by the encoder arch files (arch/bert.c): LayerNorm epsilon,
 * pooling / causal defaults (sets hp.encoder), and the model-wide tensors
 * (embeddings, their norm, the optional position_embd and rank head),
 * which model.c maps for encoders in place of output_norm / output. */
int pg_arch_encoder_hparams(pg_model *m, pg_error *err);
int pg_arch_encoder_globals(pg_model *m, pg_error *err);
int pg_arch_encoder_attn(pg_model *m, int il, pg_layer_w *L, pg_error *err); /* bert.c: post-norm biased attention */

/* Shared by arch files: the attention block with separate q/k/v (and
 * optional biases / per-head q,k norms), and the FFN (dense or experts,
 * with optional shared expert) as most architectures name them. */
int pg_arch_attn_std(pg_model *m, int il, pg_layer_w *L, int biases, int qk_norm, pg_error *err);
int pg_arch_ffn_std(pg_model *m, int il, pg_layer_w *L, pg_error *err);
/* Reads expert_count / expert_used_count (and the expert FFN widths). */
int pg_arch_moe_hparams(pg_model *m, pg_error *err);

#endif
