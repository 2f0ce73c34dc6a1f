/* model.c - loading: common hyper-parameters, the architecture table, and
 * the checked tensor accessors the architecture files use.
 *
 * Every tensor is checked for presence, a supported weight type and its
 * exact shape before the model is usable; errors name the tensor or key.
 * Norm and bias vectors stored as f16/bf16 are converted once into owned
 * float buffers (freed with the model); f32 ones are used in place. */
#include "model/model_impl.h"

#include "base/bigmem.h"
#include "base/log.h"
#include "tensor/ops.h"
#include "tensor/types.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

typedef struct load_prog load_prog;
static void repack_all(pg_model *m, load_prog *p);
static int load_gguf(pg_gguf *g, load_prog *p, pg_model **out, pg_error *err);

static const pg_arch *const arch_table[] = {
    &pg_arch_llama, &pg_arch_qwen2, &pg_arch_qwen2moe, &pg_arch_qwen3, &pg_arch_qwen3moe,
    &pg_arch_phi3,  &pg_arch_gemma2, &pg_arch_gemma3, &pg_arch_bert, &pg_arch_nomic_bert, &pg_arch_jina_bert_v2,
};

static int own(pg_model *m, void *p) {
    if (m->n_owned == m->cap_owned) {
        int nc = m->cap_owned ? m->cap_owned * 2 : 64;
        void **n = realloc(m->owned, (size_t)nc * sizeof *n);
        if (!n) return -1;
        m->owned = n;
        m->cap_owned = nc;
    }
    m->owned[m->n_owned++] = p;
    return 0;
}

static const char *shape_str(const pg_gguf_tensor *t, char *buf, size_t n) {
    size_t o = 0;
    o += (size_t)snprintf(buf + o, n - o, "[");
    for (uint32_t i = 0; i < t->n_dims && o < n; i++)
        o += (size_t)snprintf(buf + o, n - o, i ? ", %lld" : "%lld", (long long)t->ne[i]);
    if (o < n) snprintf(buf + o, n - o, "]");
    return buf;
}

static int check_type(const pg_gguf_tensor *t, pg_error *err) {
    const pg_type_traits *tr = pg_type_get(t->type);
    if (!tr || !tr->weight_ok || !tr->vec_dot || !tr->to_float)
        return pg_error_set(err, PG_EUNSUPPORTED, "tensor '%s' has type %s (id %d), which pagoda does not support",
                            t->name, pg_type_name(t->type), t->type);
    return 0;
}

int pg_model_weight(pg_model *m, const char *name, int64_t ne0, int64_t ne1, int required, pg_weight *w,
                    pg_error *err) {
    const pg_gguf_tensor *t = pg_gguf_find_tensor(m->g, name);
    memset(w, 0, sizeof *w);
    if (!t) return required ? pg_error_set(err, PG_ENOTFOUND, "missing required tensor '%s'", name) : 0;
    int rc = check_type(t, err);
    if (rc < 0) return rc;
    if (t->ne[0] != ne0 || t->ne[1] != ne1 || t->ne[2] != 1 || t->ne[3] != 1) {
        char b[96];
        return pg_error_set(err, PG_EFORMAT, "tensor '%s' has shape %s, expected [%lld, %lld]", name,
                            shape_str(t, b, sizeof b), (long long)ne0, (long long)ne1);
    }
    w->type = t->type;
    w->ne0 = ne0;
    w->ne1 = ne1;
    w->row_bytes = pg_row_size(t->type, ne0);
    w->data = t->data;
    m->weight_bytes += t->nbytes;
    return 1;
}

int pg_model_weight3(pg_model *m, const char *name, int64_t ne0, int64_t ne1, int64_t ne2, pg_weight *w,
                     size_t *expert_bytes, pg_error *err) {
    const pg_gguf_tensor *t = pg_gguf_find_tensor(m->g, name);
    memset(w, 0, sizeof *w);
    if (!t) return pg_error_set(err, PG_ENOTFOUND, "missing required tensor '%s'", name);
    int rc = check_type(t, err);
    if (rc < 0) return rc;
    if (t->ne[0] != ne0 || t->ne[1] != ne1 || t->ne[2] != ne2 || t->ne[3] != 1) {
        char b[96];
        return pg_error_set(err, PG_EFORMAT, "tensor '%s' has shape %s, expected [%lld, %lld, %lld]", name,
                            shape_str(t, b, sizeof b), (long long)ne0, (long long)ne1, (long long)ne2);
    }
    w->type = t->type;
    w->ne0 = ne0;
    w->ne1 = ne1;
    w->row_bytes = pg_row_size(t->type, ne0);
    w->data = t->data;
    *expert_bytes = w->row_bytes * (size_t)ne1;
    /* per token only n_expert_used experts are read; counted by the caller */
    return 1;
}

int pg_model_vec(pg_model *m, const char *name, int64_t n, int required, const float **out, pg_error *err) {
    const pg_gguf_tensor *t = pg_gguf_find_tensor(m->g, name);
    *out = NULL;
    if (!t) return required ? pg_error_set(err, PG_ENOTFOUND, "missing required tensor '%s'", name) : 0;
    if (t->ne[0] != n || t->ne[1] != 1 || t->ne[2] != 1 || t->ne[3] != 1) {
        char b[96];
        return pg_error_set(err, PG_EFORMAT, "tensor '%s' has shape %s, expected [%lld]", name,
                            shape_str(t, b, sizeof b), (long long)n);
    }
    m->weight_bytes += t->nbytes;
    if (t->type == PG_TYPE_F32 && ((uintptr_t)t->data % sizeof(float)) == 0) {
        *out = t->data;
        return 1;
    }
    const pg_type_traits *tr = pg_type_get(t->type);
    if (!tr || !tr->to_float)
        return pg_error_set(err, PG_EUNSUPPORTED, "tensor '%s' has type %s, which pagoda cannot read", name,
                            pg_type_name(t->type));
    float *buf = malloc((size_t)n * sizeof(float));
    if (!buf || own(m, buf) < 0) {
        free(buf);
        return pg_error_set(err, PG_ENOMEM, "out of memory converting tensor '%s'", name);
    }
    tr->to_float(t->data, buf, n);
    *out = buf;
    return 1;
}

static int key_name(pg_model *m, const char *suffix, char *buf, size_t n) {
    return snprintf(buf, n, "%s.%s", m->hp.arch, suffix) < (int)n ? 0 : -1;
}

int pg_model_key_u32(pg_model *m, const char *suffix, int32_t *out, int required, pg_error *err) {
    char k[160];
    if (key_name(m, suffix, k, sizeof k) < 0) return pg_error_set(err, PG_EINVAL, "key name too long");
    uint32_t v;
    int rc = pg_gguf_get_u32(m->g, k, &v, err);
    if (rc == PG_ENOTFOUND && !required) return 0;
    if (rc < 0) return rc;
    if (v > INT32_MAX) return pg_error_set(err, PG_EFORMAT, "key '%s' is out of range (%u)", k, v);
    *out = (int32_t)v;
    return 1;
}

int pg_model_key_f32(pg_model *m, const char *suffix, float *out, int required, pg_error *err) {
    char k[160];
    if (key_name(m, suffix, k, sizeof k) < 0) return pg_error_set(err, PG_EINVAL, "key name too long");
    float v;
    int rc = pg_gguf_get_f32(m->g, k, &v, err);
    if (rc == PG_ENOTFOUND && !required) return 0;
    if (rc < 0) return rc;
    if (!isfinite(v)) return pg_error_set(err, PG_EFORMAT, "key '%s' is not finite", k);
    *out = v;
    return 1;
}

static int common_hparams(pg_model *m, pg_error *err) {
    pg_hparams *hp = &m->hp;
    int rc;
    if ((rc = pg_model_key_u32(m, "context_length", &hp->n_ctx_train, 1, err)) < 0) return rc;
    if ((rc = pg_model_key_u32(m, "embedding_length", &hp->n_embd, 1, err)) < 0) return rc;
    if ((rc = pg_model_key_u32(m, "block_count", &hp->n_layer, 1, err)) < 0) return rc;
    if ((rc = pg_model_key_u32(m, "feed_forward_length", &hp->n_ff, 1, err)) < 0) return rc;
    if ((rc = pg_model_key_u32(m, "attention.head_count", &hp->n_head, 1, err)) < 0) return rc;
    hp->n_head_kv = hp->n_head;
    if ((rc = pg_model_key_u32(m, "attention.head_count_kv", &hp->n_head_kv, 0, err)) < 0) return rc;
    hp->rms_eps = 1e-5f;
    if ((rc = pg_model_key_f32(m, "attention.layer_norm_rms_epsilon", &hp->rms_eps, 0, err)) < 0) return rc;
    if (hp->n_embd <= 0 || hp->n_embd > (1 << 16) || hp->n_layer <= 0 || hp->n_layer > 1024 || hp->n_head <= 0 ||
        hp->n_head > 1024 || hp->n_head_kv <= 0 || hp->n_head % hp->n_head_kv != 0 || hp->n_ff <= 0 ||
        hp->n_ff > (1 << 20) || hp->n_ctx_train <= 0)
        return pg_error_set(err, PG_EFORMAT,
                            "implausible hyper-parameters (n_embd %d, n_layer %d, n_head %d, n_head_kv %d, n_ff %d, "
                            "context %d)",
                            hp->n_embd, hp->n_layer, hp->n_head, hp->n_head_kv, hp->n_ff, hp->n_ctx_train);
    hp->head_dim = hp->n_embd / hp->n_head;
    if ((rc = pg_model_key_u32(m, "attention.key_length", &hp->head_dim, 0, err)) < 0) return rc;
    int32_t vlen = hp->head_dim;
    if ((rc = pg_model_key_u32(m, "attention.value_length", &vlen, 0, err)) < 0) return rc;
    if (vlen != hp->head_dim)
        return pg_error_set(err, PG_EUNSUPPORTED, "key_length %d != value_length %d is not supported", hp->head_dim,
                            vlen);
    if (hp->head_dim <= 0 || hp->head_dim > PG_MODEL_HEAD_DIM_MAX || hp->head_dim % 2)
        return pg_error_set(err, PG_EFORMAT, "implausible head dimension %d", hp->head_dim);
    hp->n_rot = hp->head_dim;
    if ((rc = pg_model_key_u32(m, "rope.dimension_count", &hp->n_rot, 0, err)) < 0) return rc;
    if (hp->n_rot <= 0 || hp->n_rot > hp->head_dim || hp->n_rot % 2)
        return pg_error_set(err, PG_EFORMAT, "rope.dimension_count %d does not fit head dimension %d", hp->n_rot,
                            hp->head_dim);
    hp->rope_base = 10000.0f;
    if ((rc = pg_model_key_f32(m, "rope.freq_base", &hp->rope_base, 0, err)) < 0) return rc;
    hp->rope_freq_scale = 1.0f;
    char k[160];
    snprintf(k, sizeof k, "%s.rope.scaling.type", hp->arch);
    const char *st;
    size_t stl;
    if (pg_gguf_get_str(m->g, k, &st, &stl, NULL) == 0 && stl == 6 && memcmp(st, "linear", 6) == 0) {
        float f = 1.0f;
        if ((rc = pg_model_key_f32(m, "rope.scaling.factor", &f, 0, err)) < 0) return rc;
        if (f > 0) hp->rope_freq_scale = 1.0f / f;
    }
    float fs = 0;
    if ((rc = pg_model_key_f32(m, "rope.scale_linear", &fs, 0, err)) < 0) return rc;
    if (fs > 0) hp->rope_freq_scale = 1.0f / fs;
    hp->attn_scale = 1.0f / sqrtf((float)hp->head_dim);
    hp->embd_scale = 1.0f;
    hp->act = PG_ACT_SILU;
    return 0;
}

/* Embedding keys, read after the arch's own defaults: {arch}.pooling_type
 * (0..4, absent = unspecified), {arch}.attention.causal (bool) and
 * {arch}.is_matryoshka (bool: the embeddings were trained so that any
 * prefix, renormalised, is itself an embedding; pagoda's own key, mirroring
 * sentence-transformers' is_matryoshka, since GGUF has none). */
static int embd_hparams(pg_model *m, pg_error *err) {
    pg_hparams *hp = &m->hp;
    char k[160];
    int32_t pt = -1;
    int rc, b;
    if ((rc = pg_model_key_u32(m, "pooling_type", &pt, 0, err)) < 0) return rc;
    if (rc > 0) {
        if (pt > PG_POOL_RANK) return pg_error_set(err, PG_EFORMAT, "key '%s.pooling_type' is %d (0..4 known)", hp->arch, pt);
        hp->pooling = pt;
    }
    snprintf(k, sizeof k, "%s.attention.causal", hp->arch);
    if (pg_gguf_find_key(m->g, k) >= 0) {
        if ((rc = pg_gguf_get_bool(m->g, k, &b, err)) < 0) return rc;
        hp->causal = b != 0;
    }
    snprintf(k, sizeof k, "%s.is_matryoshka", hp->arch);
    if (pg_gguf_find_key(m->g, k) >= 0) {
        if ((rc = pg_gguf_get_bool(m->g, k, &b, err)) < 0) return rc;
        hp->matryoshka = b != 0;
    }
    return 0;
}

/* LongRoPE (phi3): per-pair frequency divisors rope_factors_{long,short}
 * ([n_rot/2] each). Which set applies is decided per forward context, as the
 * reference engine does: long when the context exceeds
 * rope.scaling.original_context_length (default: the training context).
 * cos/sin are scaled by rope.scaling.attn_factor, or when absent by
 * sqrt(1 + ln(s) / ln(orig)) with s = context_length / orig (1 if s <= 1). */
static int longrope(pg_model *m, pg_error *err) {
    pg_hparams *hp = &m->hp;
    int rc, nl, ns;
    if ((nl = pg_model_vec(m, "rope_factors_long.weight", hp->n_rot / 2, 0, &m->rope_long, err)) < 0) return nl;
    if ((ns = pg_model_vec(m, "rope_factors_short.weight", hp->n_rot / 2, 0, &m->rope_short, err)) < 0) return ns;
    hp->longrope_attn = 1.0f;
    hp->n_orig_ctx = hp->n_ctx_train;
    if (!nl && !ns) return 0;
    if (!nl || !ns)
        return pg_error_set(err, PG_EFORMAT, "only one of rope_factors_long / rope_factors_short is present");
    if (m->rope_freqs) return pg_error_set(err, PG_EFORMAT, "both rope_freqs and LongRoPE factors are present");
    hp->longrope = 1;
    if ((rc = pg_model_key_u32(m, "rope.scaling.original_context_length", &hp->n_orig_ctx, 0, err)) < 0) return rc;
    if (hp->n_orig_ctx <= 0) return pg_error_set(err, PG_EFORMAT, "rope.scaling.original_context_length is 0");
    float af = 0;
    if ((rc = pg_model_key_f32(m, "rope.scaling.attn_factor", &af, 0, err)) < 0) return rc;
    if (rc > 0 && af > 0) {
        hp->longrope_attn = af;
    } else if (hp->n_ctx_train > hp->n_orig_ctx && hp->n_orig_ctx > 1) {
        double s = (double)hp->n_ctx_train / hp->n_orig_ctx;
        hp->longrope_attn = (float)sqrt(1.0 + log(s) / log((double)hp->n_orig_ctx));
    }
    return 0;
}

int pg_model_load_gguf(pg_gguf *g, pg_model **out, pg_error *err) { return load_gguf(g, NULL, out, err); }

/* Load progress (pg_model_load_progress): bytes of the file mapped plus
 * bytes repacked, against their sum, known once the tensors are listed
 * (before either starts). */
struct load_prog {
    pg_load_progress_fn fn;
    void *ud;
    uint64_t done, total;
    double last_log;
    int log; /* total over 1 GB */
};

static double mono_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void prog_add(load_prog *p, uint64_t n) {
    if (!p) return;
    p->done += n;
    if (p->done > p->total) p->done = p->total;
    if (p->fn) p->fn(p->ud, p->done, p->total);
    if (!p->log) return;
    double t = mono_s();
    if (t - p->last_log >= 1.0 || p->done == p->total) {
        p->last_log = t;
        PG_INFO("loading model: %.0f%% (%.2f of %.2f GB mapped/repacked)", 100.0 * (double)p->done / (double)p->total,
                (double)p->done / 1e9, (double)p->total / 1e9);
    }
}

/* Maps the whole file in steps of PREFAULT_STEP with progress. */
#define PREFAULT_STEP ((size_t)64 << 20)
static void prefault_progress(const pg_gguf *g, load_prog *p) {
    size_t size;
    pg_gguf_base(g, &size);
    for (size_t off = 0; off < size; off += PREFAULT_STEP) {
        size_t n = size - off < PREFAULT_STEP ? size - off : PREFAULT_STEP;
        pg_gguf_prefault_range(g, off, n);
        prog_add(p, n);
    }
}

static int load_gguf(pg_gguf *g, load_prog *prog, pg_model **out, pg_error *err) {
    *out = NULL;
    pg_model *m = calloc(1, sizeof *m);
    if (!m) {
        pg_gguf_close(g);
        return pg_error_set(err, PG_ENOMEM, "out of memory");
    }
    m->g = g;
    pg_hparams *hp = &m->hp;
    int rc;
    const char *s;
    size_t sl;
    if ((rc = pg_gguf_get_str(g, "general.architecture", &s, &sl, err)) < 0) goto fail;
    if (sl == 0 || sl >= sizeof hp->arch) {
        rc = pg_error_set(err, PG_EFORMAT, "key 'general.architecture' has an invalid value");
        goto fail;
    }
    memcpy(hp->arch, s, sl);
    if (pg_gguf_get_str(g, "general.name", &s, &sl, NULL) == 0) {
        if (sl >= sizeof hp->name) sl = sizeof hp->name - 1;
        memcpy(hp->name, s, sl);
    }
    for (size_t i = 0; i < sizeof arch_table / sizeof arch_table[0]; i++)
        if (!strcmp(arch_table[i]->name, hp->arch)) m->arch = arch_table[i];
    if (!m->arch) {
        rc = pg_error_set(err, PG_EUNSUPPORTED, "architecture '%s' is not supported", hp->arch);
        goto fail;
    }
    hp->causal = 1;
    hp->pooling = PG_POOL_UNSPEC;
    if ((rc = common_hparams(m, err)) < 0) goto fail;
    if ((rc = m->arch->hparams(m, err)) < 0) goto fail;
    if ((rc = embd_hparams(m, err)) < 0) goto fail;

    const pg_gguf_tensor *te = pg_gguf_find_tensor(g, "token_embd.weight");
    if (!te) {
        rc = pg_error_set(err, PG_ENOTFOUND, "missing required tensor 'token_embd.weight'");
        goto fail;
    }
    if (te->ne[1] <= 0 || te->ne[1] > (1 << 24)) {
        rc = pg_error_set(err, PG_EFORMAT, "tensor 'token_embd.weight' has an implausible vocabulary size");
        goto fail;
    }
    hp->n_vocab = (int32_t)te->ne[1];
    if ((rc = pg_model_weight(m, "token_embd.weight", hp->n_embd, hp->n_vocab, 1, &m->tok_embd, err)) < 0) goto fail;
    m->weight_bytes -= te->nbytes; /* only one row is read per token */
    m->weight_bytes += m->tok_embd.row_bytes;
    if (hp->encoder) { /* encoders: no final norm, no LM head */
        if ((rc = pg_arch_encoder_globals(m, err)) < 0) goto fail;
    } else if ((rc = pg_model_vec(m, "output_norm.weight", hp->n_embd, 1, &m->output_norm, err)) < 0) goto fail;
    if (!hp->encoder && (rc = pg_model_weight(m, "output.weight", hp->n_embd, hp->n_vocab, 0, &m->output, err)) < 0)
        goto fail;
    if (rc == 0 && !hp->encoder) {
        hp->tied_output = 1;
        m->output = m->tok_embd;
        m->weight_bytes += te->nbytes - m->tok_embd.row_bytes;
    }
    if ((rc = pg_model_vec(m, "rope_freqs.weight", hp->n_rot / 2, 0, &m->rope_freqs, err)) < 0) goto fail;
    if ((rc = longrope(m, err)) < 0) goto fail;

    m->layers = calloc((size_t)hp->n_layer, sizeof *m->layers);
    if (!m->layers) {
        rc = pg_error_set(err, PG_ENOMEM, "out of memory");
        goto fail;
    }
    for (int il = 0; il < hp->n_layer; il++) {
        if ((rc = m->arch->layer(m, il, &m->layers[il], err)) < 0) goto fail;
        pg_layer_w *L = &m->layers[il];
        if (hp->sliding_window > 0 && (hp->swa_pattern <= 1 || il % hp->swa_pattern < hp->swa_pattern - 1))
            L->window = hp->sliding_window;
        L->rope_base = L->window && hp->rope_base_swa > 0 ? hp->rope_base_swa : hp->rope_base;
        L->rope_scale = L->window && hp->rope_freq_scale_swa > 0 ? hp->rope_freq_scale_swa : hp->rope_freq_scale;
        if (hp->n_expert > 0) /* only the used experts are read per token */
            m->weight_bytes += (uint64_t)hp->n_expert_used * (L->gate_exp_bytes + L->up_exp_bytes + L->down_exp_bytes);
    }
    repack_all(m, prog);
    *out = m;
    return 0;
fail:
    pg_model_free(m);
    return rc < 0 ? rc : PG_EFORMAT;
}

/* Repacking at load: every weight whose type has a kernel with its own
 * layout at the dispatched level is copied, repacked, into one region
 * (m->pack, huge pages); the stored pages are then dropped from the process
 * (they stay in the page cache and fault back in for the other paths), so
 * resident memory stays about one copy of the weights. The weights are
 * listed with their offsets first, then packed in rounds of about
 * PACK_ROUND stored bytes, each by a few threads (each weight by one
 * thread; the order does not matter); a round's stored pages are dropped
 * once its packers have joined, so the peak is the (prefaulted) file plus
 * one round, not two copies of the weights (q8_0 1.1B: 2.22 GB peak with
 * one round, which is over the file + KV + 10% bound). Any failure leaves
 * the weights as stored. */
#define PACK_ROUND ((size_t)64 << 20)
typedef struct {
    pg_weight *w;
    int64_t nrows;
    size_t off, n;
} pack_item;

typedef struct {
    pg_model *m;
    pack_item *it;
    int i0, i1, nth, ith; /* items [i0, i1) of this round; every nth from i0 + ith */
} pack_job;

static void list_one(pack_item *it, int *n, pg_weight *w, int64_t nrows, size_t *off) {
    if (!w->data || w->pdata) return;
    const size_t sz = pg_weight_pack_size(w, nrows);
    if (!sz) return;
    it[*n] = (pack_item){w, nrows, *off, sz};
    (*n)++;
    *off += (sz + 63) / 64 * 64;
}

static void *pack_thread(void *arg) {
    pack_job *j = arg;
    for (int i = j->i0 + j->ith; i < j->i1; i += j->nth) {
        pack_item *p = &j->it[i];
        pg_weight_pack(p->w, p->nrows, (char *)j->m->pack + p->off);
    }
    return NULL;
}

static void repack_all(pg_model *m, load_prog *prog) {
    const int64_t ne = m->hp.n_expert > 0 ? m->hp.n_expert : 1;
    const int per_layer = 16, cap = m->hp.n_layer * per_layer + 1;
    pack_item *it = malloc((size_t)cap * sizeof *it);
    if (!it) {
        if (prog) { /* nothing repacked; the file is still mapped with progress */
            size_t fsize;
            pg_gguf_base(m->g, &fsize);
            prog->total = fsize;
            prefault_progress(m->g, prog);
        }
        return;
    }
    int n = 0;
    size_t off = 0;
    for (int il = 0; il < m->hp.n_layer; il++) {
        pg_layer_w *L = &m->layers[il];
        pg_weight *two_d[] = {&L->wq,     &L->wk,        &L->wv,        &L->wo,          &L->wqkv,
                              &L->w_gate, &L->w_up,      &L->w_down,    &L->gate_inp,    &L->gate_shexp,
                              &L->up_shexp, &L->down_shexp, &L->gate_inp_shexp};
        for (size_t i = 0; i < sizeof two_d / sizeof two_d[0]; i++) list_one(it, &n, two_d[i], two_d[i]->ne1, &off);
        pg_weight *exps[] = {&L->gate_exps, &L->up_exps, &L->down_exps};
        for (size_t i = 0; i < 3; i++) list_one(it, &n, exps[i], exps[i]->ne1 * ne, &off);
    }
    /* a tied output matrix keeps the embedding rows readable: release
     * only drops pages, the bytes stay the file's */
    list_one(it, &n, &m->output, m->output.ne1, &off);
    PG_ASSERT(n <= cap);
    if (prog) {
        /* the total is fixed before any work: the file's bytes, then the stored bytes repacked */
        size_t fsize, packed = 0;
        pg_gguf_base(m->g, &fsize);
        for (int i = 0; i < n; i++) packed += it[i].n;
        prog->total = (uint64_t)fsize + packed;
        prog->log = prog->total > 1000000000ull;
        if (prog->log) PG_INFO("loading model: %.2f GB to map and repack", (double)prog->total / 1e9);
        prefault_progress(m->g, prog);
    }
    if (n == 0 || !(m->pack = pg_bigmem_alloc(off))) {
        if (prog) prog_add(prog, prog->total - prog->done); /* nothing (more) to repack */
        free(it);
        return;
    }
    m->pack_size = off;
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    int nth = ncpu < 1 ? 1 : ncpu > 8 ? 8 : (int)ncpu;
    for (int i0 = 0; i0 < n;) {
        int i1 = i0;
        for (size_t src = 0; i1 < n && src < PACK_ROUND; i1++) src += it[i1].n;
        pack_job jobs[8];
        pthread_t th[8];
        int started[8] = {0};
        for (int t = 0; t < nth; t++) jobs[t] = (pack_job){m, it, i0, i1, nth, t};
        for (int t = 1; t < nth; t++) started[t] = pthread_create(&th[t], NULL, pack_thread, &jobs[t]) == 0;
        pack_thread(&jobs[0]);
        for (int t = 1; t < nth; t++) {
            if (started[t]) pthread_join(th[t], NULL);
            else pack_thread(&jobs[t]); /* no thread: do its share here */
        }
        /* dropping pages is done once the round's packers have stopped:
         * unmapping while other threads run costs a TLB shootdown each */
        size_t round = 0;
        for (int i = i0; i < i1; i++) {
            pg_gguf_release(m->g, it[i].w->data, it[i].n);
            round += it[i].n;
        }
        prog_add(prog, round);
        i0 = i1;
    }
    free(it);
}

int pg_model_load(const char *path, pg_model **out, pg_error *err) {
    return pg_model_load_progress(path, NULL, NULL, out, err);
}

int pg_model_load_progress(const char *path, pg_load_progress_fn fn, void *ud, pg_model **out, pg_error *err) {
    pg_gguf *g;
    *out = NULL;
    int rc = pg_gguf_open(path, &g, err);
    if (rc < 0) return rc;
    /* the file is mapped (prefaulted) in repack_all once the total is known */
    load_prog p = {fn, ud, 0, 0, 0, 0};
    p.last_log = mono_s();
    return load_gguf(g, &p, out, err);
}

void pg_model_id_from_path(const char *path, char *out, size_t n) {
    const char *b = strrchr(path, '/');
    b = b ? b + 1 : path;
    size_t l = strlen(b);
    if (l > 5 && !strcasecmp(b + l - 5, ".gguf")) l -= 5;
    if (l >= n) l = n - 1;
    memcpy(out, b, l);
    out[l] = 0;
}

void pg_model_free(pg_model *m) {
    if (!m) return;
    for (int i = 0; i < m->n_owned; i++) free(m->owned[i]);
    free(m->owned);
    free(m->layers);
    pg_bigmem_free(m->pack, m->pack_size);
    pg_gguf_close(m->g);
    free(m);
}

const pg_hparams *pg_model_hparams(const pg_model *m) { return &m->hp; }

int pg_model_caps(const pg_model *m) {
    const pg_hparams *hp = &m->hp;
    int c = hp->encoder ? 0 : PG_CAP_GENERATE;
    if (hp->pooling == PG_POOL_RANK) c |= hp->encoder && hp->n_cls_out > 0 ? PG_CAP_RERANK : 0; /* decoder rerankers: not yet */
    else if (hp->pooling != PG_POOL_UNSPEC || hp->encoder) c |= PG_CAP_EMBED;
    return c;
}

static const char *const pool_names[] = {"none", "mean", "cls", "last", "rank"};

const char *pg_pooling_name(int pooling) {
    return pooling >= 0 && pooling <= PG_POOL_RANK ? pool_names[pooling] : "unspecified";
}

int pg_pooling_parse(const char *s) {
    for (int i = 0; i <= PG_POOL_RANK; i++)
        if (!strcmp(s, pool_names[i])) return i;
    return PG_EINVAL;
}
const pg_gguf *pg_model_gguf(const pg_model *m) { return m->g; }

int32_t pg_model_layer_window(const pg_model *m, int il) {
    return il >= 0 && il < m->hp.n_layer ? m->layers[il].window : 0;
}

int32_t pg_model_kv_window(const pg_model *m) {
    int32_t w = 0;
    for (int il = 0; il < m->hp.n_layer; il++) {
        if (m->layers[il].window <= 0) return 0;
        if (m->layers[il].window > w) w = m->layers[il].window;
    }
    return w;
}
