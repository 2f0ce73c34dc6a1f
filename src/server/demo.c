/* demo.c - the built-in demo model (see demo.h).
 *
 * The GGUF image is built in two passes over the same writer: the first
 * pass (buf == NULL) only counts bytes, the second writes them, so the
 * layout code exists once. Layout (GGUF v3, little-endian): header, the
 * metadata key/values, tensor infos, padding to general.alignment (32),
 * then the F32 tensors, each at an aligned offset. Weights are drawn from a
 * splitmix64 stream seeded by `seed`: uniform in [-a, a] with a chosen so
 * activations stay O(1) (a = sqrt(3 / fan_in)); norm weights are 1. */
#include "server/demo.h"

#include "gguf/gguf.h"
#include "tensor/types.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { D_EMBD = 64, D_LAYERS = 2, D_HEADS = 4, D_FF = 128, D_CTX = 2048, D_ALIGN = 32 };
enum { T_UNK = 0, T_BOS = 1, T_EOS = 2, T_BYTE0 = 3, T_SPACE = 259, T_IM_START = 260, T_IM_END = 261, D_VOCAB = 262 };

static const char chatml[] =
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + "
    "'<|im_end|>' + '\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

typedef struct {
    unsigned char *buf; /* NULL: counting pass */
    size_t n;
} wr;

static void put(wr *w, const void *p, size_t n) {
    if (w->buf) memcpy(w->buf + w->n, p, n);
    w->n += n;
}
static void put_u32(wr *w, uint32_t x) { put(w, &x, 4); }
static void put_u64(wr *w, uint64_t x) { put(w, &x, 8); }
static void put_f32(wr *w, float x) { put(w, &x, 4); }
static void put_str(wr *w, const char *s, size_t n) {
    put_u64(w, n);
    put(w, s, n);
}
static void kv_head(wr *w, const char *key, uint32_t type) {
    put_str(w, key, strlen(key));
    put_u32(w, type);
}
static void kv_u32(wr *w, const char *key, uint32_t v) { kv_head(w, key, PG_GGUF_U32); put_u32(w, v); }
static void kv_f32(wr *w, const char *key, float v) { kv_head(w, key, PG_GGUF_F32); put_f32(w, v); }
static void kv_bool(wr *w, const char *key, int v) {
    kv_head(w, key, PG_GGUF_BOOL);
    unsigned char b = v ? 1 : 0;
    put(w, &b, 1);
}
static void kv_str(wr *w, const char *key, const char *v) { kv_head(w, key, PG_GGUF_STRING); put_str(w, v, strlen(v)); }

static void token_text(int32_t id, char *out, size_t cap) {
    if (id == T_UNK) snprintf(out, cap, "<unk>");
    else if (id == T_BOS) snprintf(out, cap, "<s>");
    else if (id == T_EOS) snprintf(out, cap, "</s>");
    else if (id == T_SPACE) snprintf(out, cap, "\xe2\x96\x81");
    else if (id == T_IM_START) snprintf(out, cap, "<|im_start|>");
    else if (id == T_IM_END) snprintf(out, cap, "<|im_end|>");
    else snprintf(out, cap, "<0x%02X>", (unsigned)(id - T_BYTE0));
}
static int32_t token_type(int32_t id) {
    if (id == T_UNK) return 2;                       /* UNKNOWN */
    if (id == T_BOS || id == T_EOS || id == T_IM_START || id == T_IM_END) return 3; /* CONTROL */
    if (id == T_SPACE) return 1;                     /* NORMAL */
    return 6;                                        /* BYTE */
}

typedef struct {
    char name[48];
    int n_dims;
    int64_t ne[2];
    float init; /* 0: random with a = sqrt(3/ne[0]); else constant */
} tinfo;

static int tensor_list(tinfo *t) {
    int n = 0;
#define T1(nm, a, c) (snprintf(t[n].name, sizeof t[n].name, "%s", nm), t[n].n_dims = 1, t[n].ne[0] = a, t[n].ne[1] = 1, t[n].init = c, n++)
#define T2(nm, a, b) (snprintf(t[n].name, sizeof t[n].name, "%s", nm), t[n].n_dims = 2, t[n].ne[0] = a, t[n].ne[1] = b, t[n].init = 0, n++)
    T2("token_embd.weight", D_EMBD, D_VOCAB);
    T1("output_norm.weight", D_EMBD, 1.0f);
    T2("output.weight", D_EMBD, D_VOCAB);
    for (int l = 0; l < D_LAYERS; l++) {
        char nm[48];
#define L1(s, a, c) (snprintf(nm, sizeof nm, "blk.%d." s, l), T1(nm, a, c))
#define L2(s, a, b) (snprintf(nm, sizeof nm, "blk.%d." s, l), T2(nm, a, b))
        L1("attn_norm.weight", D_EMBD, 1.0f);
        L2("attn_q.weight", D_EMBD, D_EMBD);
        L2("attn_k.weight", D_EMBD, D_EMBD);
        L2("attn_v.weight", D_EMBD, D_EMBD);
        L2("attn_output.weight", D_EMBD, D_EMBD);
        L1("ffn_norm.weight", D_EMBD, 1.0f);
        L2("ffn_gate.weight", D_EMBD, D_FF);
        L2("ffn_up.weight", D_EMBD, D_FF);
        L2("ffn_down.weight", D_FF, D_EMBD);
#undef L1
#undef L2
    }
#undef T1
#undef T2
    return n;
}

static uint64_t splitmix(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static void write_image(wr *w, uint64_t seed) {
    tinfo ts[3 + 9 * D_LAYERS];
    int nt = tensor_list(ts);
    put(w, "GGUF", 4);
    put_u32(w, 3);
    put_u64(w, (uint64_t)nt);
    put_u64(w, 24); /* metadata count, kept in sync with the list below */
    kv_str(w, "general.architecture", "llama");
    kv_str(w, "general.name", PG_DEMO_NAME);
    kv_str(w, "general.description", PG_DEMO_NOTICE);
    kv_u32(w, "general.alignment", D_ALIGN);
    kv_u32(w, "llama.context_length", D_CTX);
    kv_u32(w, "llama.embedding_length", D_EMBD);
    kv_u32(w, "llama.block_count", D_LAYERS);
    kv_u32(w, "llama.feed_forward_length", D_FF);
    kv_u32(w, "llama.attention.head_count", D_HEADS);
    kv_u32(w, "llama.attention.head_count_kv", D_HEADS);
    kv_f32(w, "llama.attention.layer_norm_rms_epsilon", 1e-5f);
    kv_f32(w, "llama.rope.freq_base", 10000.0f);
    kv_u32(w, "llama.rope.dimension_count", D_EMBD / D_HEADS);
    kv_str(w, "tokenizer.ggml.model", "llama");
    kv_head(w, "tokenizer.ggml.tokens", PG_GGUF_ARRAY);
    put_u32(w, PG_GGUF_STRING);
    put_u64(w, D_VOCAB);
    for (int32_t i = 0; i < D_VOCAB; i++) {
        char t[32];
        token_text(i, t, sizeof t);
        put_str(w, t, strlen(t));
    }
    kv_head(w, "tokenizer.ggml.scores", PG_GGUF_ARRAY);
    put_u32(w, PG_GGUF_F32);
    put_u64(w, D_VOCAB);
    for (int32_t i = 0; i < D_VOCAB; i++) put_f32(w, i == T_SPACE ? -1.0f : 0.0f);
    kv_head(w, "tokenizer.ggml.token_type", PG_GGUF_ARRAY);
    put_u32(w, PG_GGUF_I32);
    put_u64(w, D_VOCAB);
    for (int32_t i = 0; i < D_VOCAB; i++) put_u32(w, (uint32_t)token_type(i));
    kv_u32(w, "tokenizer.ggml.bos_token_id", T_BOS);
    kv_u32(w, "tokenizer.ggml.eos_token_id", T_EOS);
    kv_u32(w, "tokenizer.ggml.unknown_token_id", T_UNK);
    kv_u32(w, "tokenizer.ggml.eot_token_id", T_IM_END);
    kv_bool(w, "tokenizer.ggml.add_bos_token", 1);
    kv_bool(w, "tokenizer.ggml.add_space_prefix", 0);
    kv_str(w, "tokenizer.chat_template", chatml);
    /* tensor infos */
    uint64_t off = 0;
    for (int i = 0; i < nt; i++) {
        put_str(w, ts[i].name, strlen(ts[i].name));
        put_u32(w, (uint32_t)ts[i].n_dims);
        for (int d = 0; d < ts[i].n_dims; d++) put_u64(w, (uint64_t)ts[i].ne[d]);
        put_u32(w, PG_TYPE_F32);
        put_u64(w, off);
        off += (uint64_t)ts[i].ne[0] * (uint64_t)ts[i].ne[1] * 4;
        off = (off + D_ALIGN - 1) / D_ALIGN * D_ALIGN;
    }
    while (w->n % D_ALIGN) put(w, "", 1);
    uint64_t rng = seed ^ 0x5DEECE66DULL;
    for (int i = 0; i < nt; i++) {
        size_t cnt = (size_t)ts[i].ne[0] * (size_t)ts[i].ne[1];
        float a = sqrtf(3.0f / (float)ts[i].ne[0]);
        if (!strcmp(ts[i].name, "token_embd.weight")) a = 1.0f; /* rows are inputs, not a projection */
        for (size_t k = 0; k < cnt; k++) {
            float x = ts[i].init;
            if (x == 0.0f) x = a * (2.0f * (float)((double)(splitmix(&rng) >> 11) * 0x1.0p-53) - 1.0f);
            put_f32(w, x);
        }
        while (w->n % D_ALIGN) put(w, "", 1);
    }
}

int pg_demo_model_create(uint64_t seed, pg_model **out, void **image, size_t *size, pg_error *err) {
    *out = NULL;
    *image = NULL;
    *size = 0;
    wr w = {NULL, 0};
    write_image(&w, seed);
    size_t n = w.n;
    w.buf = malloc(n);
    if (!w.buf) return pg_error_set(err, PG_ENOMEM, "out of memory building the demo model");
    w.n = 0;
    write_image(&w, seed);
    PG_ASSERT(w.n == n);
    pg_gguf *g;
    int rc = pg_gguf_open_mem(w.buf, n, &g, err);
    if (rc == 0) rc = pg_model_load_gguf(g, out, err);
    if (rc < 0) {
        free(w.buf);
        return rc;
    }
    *image = w.buf;
    *size = n;
    return 0;
}
