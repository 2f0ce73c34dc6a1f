/* model.h - a loaded GGUF model, its KV storage, and the batched forward pass.
 *
 * Ownership: pg_model owns its pg_gguf (and so the mmap of the weights) plus
 * small float copies of norm/bias vectors stored in other types. Weights are
 * read in place from the mapping.
 *
 * The forward pass always runs a *batch*: n_tokens tokens that belong to
 * n_seqs sequences, each token at its own position, each sequence with its
 * own block table into the paged KV store. A single sequence is a batch of
 * one. Token t of sequence s at position p attends to positions
 * [max(0, p - window + 1), p] of s (window = the layer's sliding window, or
 * unlimited); the K/V of every batch token are written before attention
 * reads, so a prefill chunk sees itself causally.
 *
 * Batch invariance: the logits of a token depend only on its sequence's
 * tokens and positions — not on the other sequences in the batch, the chunk
 * size, or whether the prefix K/V came from the prefix cache. */
#ifndef PG_MODEL_MODEL_H
#define PG_MODEL_MODEL_H

#include "base/error.h"
#include "base/pool.h"
#include "gguf/gguf.h"

#include <stddef.h>
#include <stdint.h>

typedef struct pg_model pg_model;

enum { PG_ACT_SILU = 0, PG_ACT_GELU = 1 };

/* Largest head dimension a model may have: the attention path keeps one
 * packed query tile of head_dim * PG_ATTN_RT floats on the stack and RoPE
 * one cos/sin table of head_dim floats (forward.c, tensor/ops.h). The
 * loader refuses larger ones (model.c). */
enum { PG_MODEL_HEAD_DIM_MAX = 512 };

typedef struct pg_hparams {
    char arch[32];
    char name[128];          /* general.name or "" */
    int32_t n_vocab;
    int32_t n_ctx_train;
    int32_t n_embd;
    int32_t n_layer;
    int32_t n_head, n_head_kv;
    int32_t head_dim;        /* key_length (== value_length) */
    int32_t n_ff;
    int32_t n_rot;           /* rope dims */
    int rope_mode;           /* PG_ROPE_NORM / PG_ROPE_NEOX */
    float rope_base;
    float rope_freq_scale;   /* 1/linear factor */
    float rms_eps;
    float attn_scale;        /* multiplies q·k (default 1/sqrt(head_dim)) */
    float embd_scale;        /* multiplies token embeddings (1 or sqrt(n_embd)) */
    int act;                 /* PG_ACT_* of the gated FFN */
    /* features of other architectures (0 when absent) */
    int32_t n_expert, n_expert_used, n_ff_exp, n_ff_shexp;
    int32_t sliding_window;  /* 0 = none */
    int32_t swa_pattern;     /* with a window: 0 = every layer; N > 1 = layer il is windowed iff
                                il % N < N - 1 (gemma2: 2 -> even layers; gemma3: 6 -> 5 local : 1 global) */
    float rope_base_swa;     /* rope base of windowed layers (gemma3: 10000), 0 = rope_base */
    float rope_freq_scale_swa; /* freq scale of windowed layers, 0 = rope_freq_scale */
    float attn_softcap, final_softcap;
    int post_norms;          /* post-attention / post-FFN RMSNorm (gemma2/3) */
    int qk_norm;             /* per-head RMSNorm of q and k before RoPE (qwen3, gemma3) */
    int has_qkv_bias;
    int tied_output;         /* output = token_embd^T */
    int fused_qkv, fused_gate_up; /* phi3's fused projections */
    int moe_norm_topk;       /* renormalise the chosen experts' weights to sum 1 (mixtral, qwen3moe) */
    int longrope;            /* rope_factors_long/short present (phi3 LongRoPE) */
    int32_t n_orig_ctx;      /* LongRoPE original context; long factors when max_ctx exceeds it */
    float longrope_attn;     /* LongRoPE magnitude factor on cos/sin */
    /* embeddings and encoders (issue 23; see the "embeddings" section below) */
    int encoder;             /* bidirectional encoder (bert family): LayerNorm blocks, no LM head, no generation */
    int causal;              /* {arch}.attention.causal (default 1; encoders 0); a decoder with 0 generates causally and cannot embed */
    int pooling;             /* {arch}.pooling_type (PG_POOL_*), PG_POOL_UNSPEC when absent */
    float norm_eps;          /* LayerNorm epsilon ({arch}.attention.layer_norm_epsilon) */
    int32_t n_cls_out;       /* rank head outputs (cls.output rows), 0 = no head */
    int alibi;               /* ALiBi position biases instead of position embeddings / RoPE (jina-bert-v2) */
    int matryoshka;          /* {arch}.is_matryoshka: embeddings may be truncated to a prefix and renormalised */
} pg_hparams;

/* Load a model from a GGUF file (checks every required tensor's presence,
 * type and shape). Errors name the tensor or key. */
int pg_model_load(const char *path, pg_model **out, pg_error *err);
/* pg_model_load with progress: fn (may be NULL) is called on the loading
 * thread with the bytes done so far of mapping the file and repacking
 * weights, and their total (fixed for the whole load: done only grows and
 * ends equal to total), at least every 64 MiB. Models over 1 GB also log a
 * progress line through the logger at most once a second. For the server's
 * /health: keep done/total in an atomic from fn. */
typedef void (*pg_load_progress_fn)(void *ud, uint64_t done, uint64_t total);
int pg_model_load_progress(const char *path, pg_load_progress_fn fn, void *ud, pg_model **out, pg_error *err);
/* Same from an open gguf; takes ownership of g on success and on failure. */
int pg_model_load_gguf(pg_gguf *g, pg_model **out, pg_error *err);
void pg_model_free(pg_model *m);
/* The default model id of a file: its base name without a ".gguf" suffix
 * (any letter case): "/models/llama-3.2-1b-q8_0.gguf" -> "llama-3.2-1b-q8_0".
 * Not general.name, which users would not guess (stories260K says "llama").
 * Writes at most n - 1 bytes and a NUL; n > 0. */
void pg_model_id_from_path(const char *path, char *out, size_t n);
const pg_hparams *pg_model_hparams(const pg_model *m);
const pg_gguf *pg_model_gguf(const pg_model *m);
/* Sliding-window size of layer il (0 = full attention). */
int32_t pg_model_layer_window(const pg_model *m, int il);
/* KV positions any layer can still read: the largest window over layers, or
 * 0 when some layer attends to the full context. With W > 0, a sequence at
 * next position p only needs K/V of positions >= p - W + 1 (in every layer),
 * so the engine may free blocks wholly below that; with 0 it must keep all.
 * The forward pass only validates and reads blocks inside that range. */
int32_t pg_model_kv_window(const pg_model *m);

/* What a model can serve. GENERATE: decoders (pg_forward); EMBED: a pooling
 * type other than rank is set in the file ({arch}.pooling_type), or the
 * model is an encoder with pooling none/mean/cls/last; RERANK: an encoder
 * with pooling rank and a classifier head (cls.*; decoder rerankers are not
 * supported). A decoder served with a --pooling override
 * also embeds: callers add PG_CAP_EMBED themselves in that case (see
 * engine/embed.h, pg_embedder_caps). */
enum { PG_CAP_GENERATE = 1, PG_CAP_EMBED = 2, PG_CAP_RERANK = 4 };
int pg_model_caps(const pg_model *m);

/* ---- paged KV storage ----
 * KV types (the values of tensor/attn.h's row formats): f16 (default), f32
 * (tests, encoders), q8_0 (34 bytes per 32 values: 1.88x the tokens of f16
 * in the same bytes) and q4_0 (18 bytes per 32 values). A position's K (or
 * V) row of one layer holds all KV heads, n_head_kv * head_dim values; the
 * quantized types cut it into blocks of 32 along the row (the last one
 * zero-padded), so a head narrower than 32 shares its blocks with the next
 * heads. Rows are quantized when written, from their own values only. */
typedef struct pg_kv_store pg_kv_store;
enum { PG_KV_F32 = 0, PG_KV_F16 = 1, PG_KV_Q8_0 = 2, PG_KV_Q4_0 = 3, PG_KV_NTYPES = 4 };
/* "f32", "f16", "q8_0", "q4_0" (NULL for an unknown type). */
const char *pg_kv_type_name(int kv_type);
/* The type named s, or -1. */
int pg_kv_type_parse(const char *s);
/* Bytes of one position's K and V rows over all layers (0: unknown type). */
size_t pg_kv_bytes_per_token(const pg_model *m, int kv_type);
int pg_kv_store_create(const pg_model *m, int32_t n_blocks, int32_t block_size, int kv_type, pg_kv_store **out,
                       pg_error *err);
void pg_kv_store_destroy(pg_kv_store *kv);
int32_t pg_kv_store_n_blocks(const pg_kv_store *kv);
/* One block's K/V for every layer as one flat byte image (the disk prefix
 * cache): for each layer l, K then V, the block's block_size positions in
 * the store's own row format (whatever the KV type), concatenated. The
 * image is valid only for a store of the same model, KV type and block
 * size. pg_kv_block_bytes = its size; export copies block b out, import
 * overwrites block b (0 <= b < n_blocks; a bad id is a bug). */
size_t pg_kv_block_bytes(const pg_kv_store *kv);
int pg_kv_store_type(const pg_kv_store *kv);
void pg_kv_block_export(const pg_kv_store *kv, int32_t b, void *dst);
void pg_kv_block_import(pg_kv_store *kv, int32_t b, const void *src);

/* ---- batched forward ---- */
typedef struct pg_batch_seq {
    const int32_t *block_table; /* block ids; position p lives in block_table[p / block_size] */
    int32_t n_blocks;
} pg_batch_seq;

typedef struct pg_batch {
    int32_t n_tokens;
    const int32_t *tokens; /* [n_tokens] */
    const int32_t *pos;    /* [n_tokens] position within its sequence */
    const int32_t *seq;    /* [n_tokens] index into seqs */
    int32_t n_seqs;
    const pg_batch_seq *seqs;
    int32_t n_out;         /* rows whose logits are wanted */
    const int32_t *out;    /* [n_out] token indices (any order) */
} pg_batch;

typedef struct pg_forward pg_forward;
/* Scratch for batches of up to max_tokens tokens, max_out logit rows and
 * contexts up to max_ctx positions; allocated once here. */
int pg_forward_create(const pg_model *m, pg_pool *pool, int32_t max_tokens, int32_t max_out, int32_t max_ctx,
                      pg_forward **out, pg_error *err);
void pg_forward_destroy(pg_forward *f);
/* Runs the batch; writes n_out rows of n_vocab logits into logits.
 * Bad batches (token id out of range, position beyond the block table,
 * sizes over the limits) return PG_EINVAL without touching the KV store. */
int pg_forward_run(pg_forward *f, pg_kv_store *kv, const pg_batch *b, float *logits, pg_error *err);


/* ---- embeddings: pooled hidden states, no KV kept (issue 23) ----
 * Pooling types, numbered as GGUF's {arch}.pooling_type writes them. */
enum { PG_POOL_UNSPEC = -1, PG_POOL_NONE = 0, PG_POOL_MEAN = 1, PG_POOL_CLS = 2, PG_POOL_LAST = 3, PG_POOL_RANK = 4 };
const char *pg_pooling_name(int pooling); /* "none", "mean", ... ; "unspecified" */
int pg_pooling_parse(const char *s);      /* name -> PG_POOL_*, PG_EINVAL when unknown */

/* An encoder runs batches of whole sequences at once (prefill only): the
 * sequences are packed one after the other, each attends to itself only
 * (bidirectionally for encoders, causally for decoders), nothing is kept
 * after the call. Encoders (bert, nomic-bert, jina-bert-v2) run their own
 * pass (model/encode.c); decoders run pg_forward over a private KV store
 * and read the final-normed hidden states (pg_forward_run_hidden).
 * Batch invariance: a sequence's outputs are bit-identical whatever other
 * sequences share the batch (every row op has a fixed order per row).
 * Not thread-safe: one caller at a time (engine/embed serialises). */
typedef struct pg_encoder pg_encoder;

typedef struct pg_enc_batch {
    int32_t n_seqs;
    const int32_t *seq_start; /* [n_seqs + 1]: sequence s is tokens [seq_start[s], seq_start[s+1]), non-empty */
    const int32_t *tokens;    /* [seq_start[n_seqs]] */
    const int32_t *types;     /* [same] token type ids (segment), or NULL for all 0 */
} pg_enc_batch;

/* max_tokens: tokens per batch (also the longest sequence: positions must
 * stay below the model's context length too, see pg_encoder_max_seq);
 * max_seqs: sequences per batch. */
int pg_encoder_create(const pg_model *m, pg_pool *pool, int32_t max_tokens, int32_t max_seqs, pg_encoder **out,
                      pg_error *err);
void pg_encoder_destroy(pg_encoder *e);
/* Longest sequence one batch may hold: min(max_tokens, context length). */
int32_t pg_encoder_max_seq(const pg_encoder *e);
/* Floats per output row for a pooling: n_embd, or n_cls_out for RANK. */
int32_t pg_encoder_out_dim(const pg_encoder *e, int pooling);
/* Runs the batch and pools. out receives, per pooling:
 *   NONE            [n_tokens][n_embd]  every token's final hidden state
 *   MEAN/CLS/LAST   [n_seqs][n_embd]    mean over the sequence / its first / its last token
 *   RANK            [n_seqs][n_cls_out] classifier head on the first token
 * Not normalised. Errors (PG_EINVAL / PG_EUNSUPPORTED) leave out unspecified:
 * token ids out of range, a sequence longer than pg_encoder_max_seq,
 * more tokens or sequences than the limits, RANK without a head. */
int pg_encoder_run(pg_encoder *e, const pg_enc_batch *b, int pooling, float *out, pg_error *err);

/* pg_forward_run without the LM head: writes the n_out rows' final hidden
 * states (after output_norm) [n_out][n_embd] into hidden. For embeddings
 * of decoder models (last-token pooling). */
int pg_forward_run_hidden(pg_forward *f, pg_kv_store *kv, const pg_batch *b, float *hidden, pg_error *err);

#endif
