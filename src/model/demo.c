/* demo.c - the built-in demo model (see demo.h).
 *
 * The GGUF image is written by the one GGUF writer (gguf/gguf_write.h) into
 * memory: metadata, then the F32 tensors, whose data a fill callback draws
 * when the writer reaches them. Weights are drawn from a
 * splitmix64 stream seeded by `seed`: uniform in [-a, a] with a chosen so
 * activations stay O(1) (a = sqrt(3 / fan_in)); norm weights are 1. */
#include "model/demo.h"

#include "base/hash.h"
#include "gguf/gguf.h"
#include "gguf/gguf_write.h"
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

/* Fill callback: tensors come in list order, so the weights are drawn from
 * one splitmix64 stream in that order (the model depends on the seed
 * only). */
typedef struct {
    const tinfo *ts;
    uint64_t rng;
} fill_ctx;

static int fill_tensor(void *vctx, int64_t idx, void *dst, size_t nbytes, pg_error *err) {
    fill_ctx *c = vctx;
    const tinfo *t = &c->ts[idx];
    size_t cnt = (size_t)t->ne[0] * (size_t)t->ne[1];
    PG_ASSERT(nbytes == cnt * sizeof(float));
    float *y = dst;
    float a = sqrtf(3.0f / (float)t->ne[0]);
    if (!strcmp(t->name, "token_embd.weight")) a = 1.0f; /* rows are inputs, not a projection */
    for (size_t k = 0; k < cnt; k++) {
        float x = t->init;
        if (x == 0.0f) x = a * (2.0f * (float)((double)(pg_splitmix64(&c->rng) >> 11) * 0x1.0p-53) - 1.0f);
        y[k] = x;
    }
    return 0;
}

static int add_metadata(pg_gguf_writer *w, pg_error *err) {
    static char texts[D_VOCAB][16];
    const char *toks[D_VOCAB];
    size_t lens[D_VOCAB];
    float scores[D_VOCAB];
    int32_t types[D_VOCAB];
    for (int32_t i = 0; i < D_VOCAB; i++) {
        token_text(i, texts[i], sizeof texts[i]);
        toks[i] = texts[i];
        lens[i] = strlen(texts[i]);
        scores[i] = i == T_SPACE ? -1.0f : 0.0f;
        types[i] = token_type(i);
    }
    const uint8_t yes = 1, no = 0;
    int rc = 0;
#define S(k, v) (rc = rc ? rc : pg_gguf_writer_add_str(w, k, v, strlen(v), err))
#define U(k, v) (rc = rc ? rc : pg_gguf_writer_add_u32(w, k, v, err))
#define F(k, v) (rc = rc ? rc : pg_gguf_writer_add_f32(w, k, v, err))
#define B(k, v) (rc = rc ? rc : pg_gguf_writer_add_scalar(w, k, PG_GGUF_BOOL, &(v), err))
    S("general.architecture", "llama");
    S("general.name", PG_DEMO_NAME);
    S("general.description", PG_DEMO_NOTICE);
    U("general.alignment", D_ALIGN);
    U("llama.context_length", D_CTX);
    U("llama.embedding_length", D_EMBD);
    U("llama.block_count", D_LAYERS);
    U("llama.feed_forward_length", D_FF);
    U("llama.attention.head_count", D_HEADS);
    U("llama.attention.head_count_kv", D_HEADS);
    F("llama.attention.layer_norm_rms_epsilon", 1e-5f);
    F("llama.rope.freq_base", 10000.0f);
    U("llama.rope.dimension_count", D_EMBD / D_HEADS);
    S("tokenizer.ggml.model", "llama");
    if (!rc) rc = pg_gguf_writer_add_arr_str(w, "tokenizer.ggml.tokens", toks, lens, D_VOCAB, err);
    if (!rc) rc = pg_gguf_writer_add_arr(w, "tokenizer.ggml.scores", PG_GGUF_F32, scores, D_VOCAB, err);
    if (!rc) rc = pg_gguf_writer_add_arr(w, "tokenizer.ggml.token_type", PG_GGUF_I32, types, D_VOCAB, err);
    U("tokenizer.ggml.bos_token_id", T_BOS);
    U("tokenizer.ggml.eos_token_id", T_EOS);
    U("tokenizer.ggml.unknown_token_id", T_UNK);
    U("tokenizer.ggml.eot_token_id", T_IM_END);
    B("tokenizer.ggml.add_bos_token", yes);
    B("tokenizer.ggml.add_space_prefix", no);
    S("tokenizer.chat_template", chatml);
#undef S
#undef U
#undef F
#undef B
    return rc;
}

int pg_demo_model_create(uint64_t seed, pg_model **out, void **image, size_t *size, pg_error *err) {
    *out = NULL;
    *image = NULL;
    *size = 0;
    tinfo ts[3 + 9 * D_LAYERS];
    int nt = tensor_list(ts);
    pg_gguf_writer *w = pg_gguf_writer_create();
    if (!w) return pg_error_set(err, PG_ENOMEM, "out of memory building the demo model");
    int rc = add_metadata(w, err);
    for (int i = 0; i < nt && rc >= 0; i++) {
        int64_t r = pg_gguf_writer_add_tensor(w, ts[i].name, (uint32_t)ts[i].n_dims, ts[i].ne, PG_TYPE_F32, NULL, err);
        if (r < 0) rc = (int)r;
    }
    fill_ctx fc = {ts, seed ^ 0x5DEECE66DULL};
    void *img = NULL;
    size_t n = 0;
    if (rc >= 0) rc = pg_gguf_writer_write_mem(w, fill_tensor, &fc, &img, &n, err);
    pg_gguf_writer_destroy(w);
    if (rc < 0) return rc;
    pg_gguf *g;
    rc = pg_gguf_open_mem(img, n, &g, err);
    if (rc == 0) rc = pg_model_load_gguf(g, out, err);
    if (rc < 0) {
        free(img);
        return rc;
    }
    *image = img;
    *size = n;
    return 0;
}
