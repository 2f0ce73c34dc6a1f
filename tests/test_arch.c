/* test_arch.c - architectures beyond plain llama through the one batched
 * forward pass:
 *  - every ../shared/models/arch-*-q8_0.gguf (qwen2, phi3, gemma2, mixtral,
 *    qwen2moe) against the reference engine's last-position logits (cosine
 *    >= 0.999, pagoda's top-1 within 0.05 of the golden max);
 *  - batch invariance per architecture: prompts interleaved in one batch
 *    equal each alone bit for bit, chunked prefill (3) equals whole prefill;
 *  - qwen3 and gemma3 (no reference data): small random models written here
 *    as in-memory GGUF files, checked against a plain single-sequence
 *    reference forward written independently in this file (which is itself
 *    first checked against the golden logits of the real architectures);
 *  - sliding-window KV: with every layer windowed, blocks before the window
 *    can be dropped from the block table without changing the logits. */
#include "test.h"
#include "fwd_util.h"
#include "golden.h"

#include "base/cpu.h"
#include "base/pool.h"
#include "gguf/gguf.h"
#include "gguf/gguf_write.h"
#include "model/model.h"
#include "tensor/types.h"

#include <dirent.h>
#include <stdint.h>

#define BS 4

typedef fwd_ctx ctx;

static int ctx_open_model(ctx *c, pg_model *m, int32_t n_blocks, int32_t max_tokens, int32_t max_out) {
    fwd_open_model(c, m, n_blocks, BS, PG_KV_F32, max_tokens, max_out);
    return 0;
}

static int ctx_open(ctx *c, const char *path, int32_t n_blocks, int32_t max_tokens, int32_t max_out) {
    return fwd_open(c, path, n_blocks, BS, PG_KV_F32, max_tokens, max_out);
}




/* Interleaved batch of up to 4 sequences == each alone; chunks of 3 == whole. */
static void check_invariance(ctx *c, const char *name, int32_t *const *toks, const int *lens, int ns) {
    const int32_t NB = 64 / 4; /* blocks per sequence */
    int32_t tables[4][16];
    for (int s = 0; s < ns; s++)
        for (int b = 0; b < NB; b++) tables[s][b] = 63 - (b * ns + s); /* scattered */
    size_t V = (size_t)c->n_vocab;
    float *alone = malloc(4 * V * 4), *batched = malloc(4 * V * 4), *chunked = malloc(V * 4);
    for (int s = 0; s < ns; s++) fwd_run_seq(c, tables[s], NB, toks[s], lens[s], 0, 256, alone + s * V);
    int32_t tk[256], pos[256], seq[256], out[4];
    pg_batch_seq seqs[4];
    int T = 0, maxn = 0;
    for (int s = 0; s < ns; s++) {
        seqs[s] = (pg_batch_seq){tables[s], NB};
        if (lens[s] > maxn) maxn = lens[s];
    }
    for (int i = 0; i < maxn; i++)
        for (int s = ns - 1; s >= 0; s--)
            if (i < lens[s]) {
                tk[T] = toks[s][i];
                pos[T] = i;
                seq[T] = s;
                if (i == lens[s] - 1) out[s] = T;
                T++;
            }
    pg_batch b = {T, tk, pos, seq, ns, seqs, ns, out};
    pg_error err = {0};
    REQUIRE(pg_forward_run(c->f, c->kv, &b, batched, &err) == 0);
    CHECKF(!memcmp(alone, batched, ns * V * 4), "%s: batched logits differ from alone", name);
    fwd_run_seq(c, tables[0], NB, toks[0], lens[0], 0, 3, chunked);
    CHECKF(!memcmp(alone, chunked, V * 4), "%s: chunked prefill differs from whole prefill", name);
    free(alone);
    free(batched);
    free(chunked);
}

static void ref_forward(const pg_model *m, const int32_t *toks, int n, float *logits);

/* ---------------- golden architectures ---------------- */

/* Cosine a golden case must reach. 0.999 in general; the exceptions are the
 * ones ../shared/README.md documents for its goldens: the gemma3 goldens come
 * from a newer reference engine that differs from the older one by cosine
 * 0.998-0.9997 on 26-layer random gemma models (compare at >= 0.997), and on
 * the prompt "A" qwen3moe's near-tied router picks another expert under the
 * reference's 8-bit activation rounding (documented at ~0.995). */
static double golden_min_cosine(const char *name, const char *prompt) {
    if (!strcmp(name, "arch-gemma3-q8_0")) return 0.997;
    if (!strcmp(name, "arch-qwen3moe-q8_0") && prompt && !strcmp(prompt, "A")) return 0.99;
    return 0.999;
}

static void test_golden(const char *td) {
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/models", td);
    DIR *d = opendir(dir);
    REQUIRE(d);
    struct dirent *e;
    int files = 0;
    while ((e = readdir(d))) {
        size_t nl = strlen(e->d_name);
        if (strncmp(e->d_name, "arch-", 5) || nl < 11 || strcmp(e->d_name + nl - 10, "-q8_0.gguf")) continue;
        char path[1400], gdir[1400], name[256];
        snprintf(name, sizeof name, "%.*s", (int)(nl - 5), e->d_name);
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        snprintf(gdir, sizeof gdir, "%s/golden/%s", td, name);
        golden_case *gc;
        int n = golden_load(gdir, &gc);
        CHECKF(n > 0, "golden data of %s", name);
        if (n <= 0) continue;
        files++;
        ctx c;
        CHECKF(ctx_open(&c, path, 64, 256, 4) == 0, "open %s", name);
        if (!c.m) continue;
        int32_t table[64];
        for (int i = 0; i < 64; i++) table[i] = i;
        float *logits = malloc((size_t)c.n_vocab * 4);
        double worst = 1;
        for (int k = 0; k < n; k++) {
            golden_case *g = &gc[k];
            CHECKF(g->logits && g->n_logits == (size_t)c.n_vocab, "%s case %d logits", name, k);
            if (!g->logits || g->n_logits != (size_t)c.n_vocab) continue;
            fwd_run_seq(&c, table, 64, g->prompt_tokens, g->n_prompt, 0, 256, logits);
            double cs = golden_cosine(logits, g->logits, (size_t)c.n_vocab);
            if (cs < worst) worst = cs;
            CHECKF(cs >= golden_min_cosine(name, g->prompt), "%s case %d (%d tokens) cosine %.6f", name, k,
                   g->n_prompt, cs);
            int top = fwd_argmax(logits, c.n_vocab), gtop = fwd_argmax(g->logits, c.n_vocab);
            CHECKF(g->logits[gtop] - g->logits[top] <= 0.05f, "%s case %d top-1 %d (golden logit %.4f, max %.4f)",
                   name, k, top, g->logits[top], g->logits[gtop]);
        }
        fprintf(stderr, "%s: worst cosine %.6f over %d prompts\n", name, worst, n);
        /* the reference forward (used for qwen3/gemma3 below) against the
         * same golden logits: validates it on every feature these share */
        /* Skipped for MoE layouts: the reference forward keeps activations in
         * f32 while the golden engine rounds them to 8-bit blocks, so a
         * near-tied router can pick another expert (shared README, MoE note);
         * the engine's own forward is held to the golden above. */
        int moe = strstr(name, "moe") || strstr(name, "mixtral");
        for (int k = 0; k < n && k < 8 && !moe && pg_cpu_level_get() == pg_cpu_level_max(); k += 4) {
            golden_case *g = &gc[k];
            if (!g->logits || g->n_logits != (size_t)c.n_vocab) continue;
            ref_forward(c.m, g->prompt_tokens, g->n_prompt, logits);
            double cs = golden_cosine(logits, g->logits, (size_t)c.n_vocab);
            CHECKF(cs >= 0.999, "%s case %d: reference forward cosine %.6f", name, k, cs);
            fprintf(stderr, "%s: reference forward, case %d (%d tokens): cosine %.6f\n", name, k, g->n_prompt, cs);
        }
        /* the 4 longest prompts interleaved */
        int32_t *toks[4];
        int lens[4], used[64] = {0};
        for (int s = 0; s < 4 && s < n; s++) {
            int best = -1;
            for (int k = 0; k < n && k < 64; k++)
                if (!used[k] && (best < 0 || gc[k].n_prompt > gc[best].n_prompt)) best = k;
            used[best] = 1;
            toks[s] = gc[best].prompt_tokens;
            lens[s] = gc[best].n_prompt;
        }
        check_invariance(&c, name, toks, lens, n < 4 ? n : 4);
        free(logits);
        fwd_close(&c);
        golden_free(gc, n);
    }
    closedir(d);
    CHECKF(files >= 5, "found %d arch-* models", files);
}

/* ---------------- a plain reference forward ----------------
 * One sequence, every position, float math in the most direct form. It
 * reads the GGUF itself (tensors by name, dequantized with the type table)
 * and decides features from the architecture name and the tensors present,
 * not from pagoda's flags; only the basic sizes come from pg_hparams. */

typedef struct {
    const pg_gguf *g;
    const pg_hparams *hp;
    char arch[32];
} refm;

static float *ref_tensor(const refm *r, const char *name, int64_t *ne0, int64_t *ne1, int64_t *ne2) {
    const pg_gguf_tensor *t = pg_gguf_find_tensor(r->g, name);
    if (!t) return NULL;
    int64_t n = t->ne[0] * t->ne[1] * t->ne[2];
    float *v = malloc((size_t)n * 4);
    const pg_type_traits *tr = pg_type_get(t->type);
    size_t rb = pg_row_size(t->type, t->ne[0]);
    for (int64_t row = 0; row < n / t->ne[0]; row++)
        tr->to_float((const char *)t->data + (size_t)row * rb, v + row * t->ne[0], t->ne[0]);
    if (ne0) *ne0 = t->ne[0];
    if (ne1) *ne1 = t->ne[1];
    if (ne2) *ne2 = t->ne[2];
    return v;
}

static float *ref_blk(const refm *r, int il, const char *suffix) {
    char nm[128];
    snprintf(nm, sizeof nm, "blk.%d.%s", il, suffix);
    return ref_tensor(r, nm, NULL, NULL, NULL);
}

static float ref_key_f(const refm *r, const char *suffix, float dflt) {
    char k[128];
    float v;
    snprintf(k, sizeof k, "%s.%s", r->arch, suffix);
    return pg_gguf_get_f32(r->g, k, &v, NULL) == 0 ? v : dflt;
}

static void ref_rmsnorm(float *y, const float *x, const float *w, int n, float eps) {
    double ss = 0;
    for (int i = 0; i < n; i++) ss += (double)x[i] * x[i];
    float sc = (float)(1.0 / sqrt(ss / n + eps));
    for (int i = 0; i < n; i++) y[i] = x[i] * sc * (w ? w[i] : 1.0f);
}

/* y[N] = W[N][K] x[K] */
static void ref_mv(float *y, const float *W, const float *x, int64_t K, int64_t N) {
    for (int64_t o = 0; o < N; o++) {
        double a = 0;
        for (int64_t i = 0; i < K; i++) a += (double)W[o * K + i] * x[i];
        y[o] = (float)a;
    }
}

static void ref_rope(float *x, int n_rot, int pos, float base, int neox) {
    for (int i = 0; i < n_rot / 2; i++) {
        double th = pos * pow(base, -2.0 * i / n_rot);
        int a = neox ? i : 2 * i, b = neox ? i + n_rot / 2 : 2 * i + 1;
        double x0 = x[a], x1 = x[b];
        x[a] = (float)(x0 * cos(th) - x1 * sin(th));
        x[b] = (float)(x0 * sin(th) + x1 * cos(th));
    }
}

static float ref_act(float g, int gelu) {
    if (gelu) return 0.5f * g * (1.0f + tanhf(0.7978845608f * (g + 0.044715f * g * g * g)));
    return g / (1.0f + expf(-g));
}

/* gated FFN of one row: gate[F][E] (or fused up[2F][E] with gate rows first), down[E][F] */
static void ref_ffn(float *y, const float *x, const float *gate, const float *up, const float *down, int64_t E,
                    int64_t F, int gelu) {
    float *h = malloc((size_t)F * 2 * 4);
    if (gate) {
        ref_mv(h, gate, x, E, F);
        ref_mv(h + F, up, x, E, F);
    } else {
        ref_mv(h, up, x, E, 2 * F);
    }
    for (int64_t i = 0; i < F; i++) h[i] = ref_act(h[i], gelu) * h[F + i];
    ref_mv(y, down, h, F, E);
    free(h);
}

/* logits of the last of n tokens */
static void ref_forward(const pg_model *m, const int32_t *toks, int n, float *logits) {
    refm r = {pg_model_gguf(m), pg_model_hparams(m), {0}};
    const pg_hparams *hp = r.hp;
    snprintf(r.arch, sizeof r.arch, "%s", hp->arch);
    const int E = hp->n_embd, H = hp->n_head, Hkv = hp->n_head_kv, hd = hp->head_dim, L = hp->n_layer;
    const int Dq = H * hd, Dkv = Hkv * hd;
    const int gemma = !strncmp(r.arch, "gemma", 5), gemma2 = !strcmp(r.arch, "gemma2"),
              gemma3 = !strcmp(r.arch, "gemma3"), neox = strcmp(r.arch, "llama") != 0;
    const int qwen2moe = !strcmp(r.arch, "qwen2moe");
    uint32_t win = 0;
    char k[128];
    snprintf(k, sizeof k, "%s.attention.sliding_window", r.arch);
    pg_gguf_get_u32(r.g, k, &win, NULL);
    if (gemma2 && !win) win = 4096;
    float acap = gemma2 ? ref_key_f(&r, "attn_logit_softcapping", 50) : 0;
    float fcap = gemma2 ? ref_key_f(&r, "final_logit_softcapping", 30) : 0;
    float base = ref_key_f(&r, "rope.freq_base", 10000), eps = ref_key_f(&r, "attention.layer_norm_rms_epsilon", 1e-5f);
    int64_t V;
    float *emb = ref_tensor(&r, "token_embd.weight", NULL, &V, NULL);
    float *x = malloc((size_t)n * E * 4), *xb = malloc((size_t)E * 4), *t = malloc((size_t)E * 4);
    float *Q = malloc((size_t)n * Dq * 4), *K = malloc((size_t)n * Dkv * 4), *Vv = malloc((size_t)n * Dkv * 4);
    float *att = malloc((size_t)Dq * 4), *sc = malloc((size_t)n * 4), *qkv = malloc((size_t)(Dq + 2 * Dkv) * 4);
    for (int p = 0; p < n; p++)
        for (int i = 0; i < E; i++) x[p * E + i] = emb[(int64_t)toks[p] * E + i] * (gemma ? sqrtf((float)E) : 1.0f);
    for (int il = 0; il < L; il++) {
        int lw = 0;
        if (win) {
            if (gemma2) lw = il % 2 == 0 ? (int)win : 0;
            else if (gemma3) lw = il % 6 < 5 ? (int)win : 0;
            else lw = (int)win;
        }
        float lbase = gemma3 && lw ? 10000.0f : base;
        float *an = ref_blk(&r, il, "attn_norm.weight"), *wqkv = ref_blk(&r, il, "attn_qkv.weight");
        float *wq = ref_blk(&r, il, "attn_q.weight"), *wk = ref_blk(&r, il, "attn_k.weight"),
              *wv = ref_blk(&r, il, "attn_v.weight"), *wo = ref_blk(&r, il, "attn_output.weight");
        float *bq = ref_blk(&r, il, "attn_q.bias"), *bk = ref_blk(&r, il, "attn_k.bias"), *bv = ref_blk(&r, il, "attn_v.bias");
        float *qn = ref_blk(&r, il, "attn_q_norm.weight"), *kn = ref_blk(&r, il, "attn_k_norm.weight");
        float *pan = ref_blk(&r, il, "post_attention_norm.weight"), *pfn = ref_blk(&r, il, "post_ffw_norm.weight");
        for (int p = 0; p < n; p++) {
            ref_rmsnorm(xb, x + p * E, an, E, eps);
            if (wqkv) {
                ref_mv(qkv, wqkv, xb, E, Dq + 2 * Dkv);
            } else {
                ref_mv(qkv, wq, xb, E, Dq);
                ref_mv(qkv + Dq, wk, xb, E, Dkv);
                ref_mv(qkv + Dq + Dkv, wv, xb, E, Dkv);
            }
            for (int i = 0; i < Dq; i++) Q[p * Dq + i] = qkv[i] + (bq ? bq[i] : 0);
            for (int i = 0; i < Dkv; i++) {
                K[p * Dkv + i] = qkv[Dq + i] + (bk ? bk[i] : 0);
                Vv[p * Dkv + i] = qkv[Dq + Dkv + i] + (bv ? bv[i] : 0);
            }
            for (int h = 0; h < H; h++) {
                if (qn) ref_rmsnorm(Q + p * Dq + h * hd, Q + p * Dq + h * hd, qn, hd, eps);
                ref_rope(Q + p * Dq + h * hd, hp->n_rot, p, lbase, neox);
            }
            for (int h = 0; h < Hkv; h++) {
                if (kn) ref_rmsnorm(K + p * Dkv + h * hd, K + p * Dkv + h * hd, kn, hd, eps);
                ref_rope(K + p * Dkv + h * hd, hp->n_rot, p, lbase, neox);
            }
        }
        float *xo = malloc((size_t)n * E * 4);
        for (int p = 0; p < n; p++) {
            int s0 = lw && p - lw + 1 > 0 ? p - lw + 1 : 0;
            for (int h = 0; h < H; h++) {
                int kh = h / (H / Hkv);
                float mx = -INFINITY;
                for (int j = s0; j <= p; j++) {
                    double d = 0;
                    for (int i = 0; i < hd; i++) d += (double)Q[p * Dq + h * hd + i] * K[j * Dkv + kh * hd + i];
                    float v = (float)(d / sqrt((double)hd));
                    if (acap > 0) v = acap * tanhf(v / acap);
                    sc[j] = v;
                    if (v > mx) mx = v;
                }
                double sum = 0;
                for (int j = s0; j <= p; j++) sum += sc[j] = expf(sc[j] - mx);
                for (int i = 0; i < hd; i++) {
                    double a = 0;
                    for (int j = s0; j <= p; j++) a += sc[j] / sum * Vv[j * Dkv + kh * hd + i];
                    att[h * hd + i] = (float)a;
                }
            }
            ref_mv(t, wo, att, Dq, E);
            if (pan) ref_rmsnorm(t, t, pan, E, eps);
            for (int i = 0; i < E; i++) xo[p * E + i] = x[p * E + i] + t[i];
        }
        memcpy(x, xo, (size_t)n * E * 4);
        free(xo);
        float *fn = ref_blk(&r, il, "ffn_norm.weight"), *gate = ref_blk(&r, il, "ffn_gate.weight"),
              *up = ref_blk(&r, il, "ffn_up.weight"), *down = ref_blk(&r, il, "ffn_down.weight");
        int64_t NE = 0, F = hp->n_ff;
        float *router = ref_tensor(&r, (snprintf(k, sizeof k, "blk.%d.ffn_gate_inp.weight", il), k), NULL, &NE, NULL);
        float *ge = NULL, *ue = NULL, *de = NULL, *gs = NULL, *us = NULL, *ds = NULL, *gis = NULL;
        int64_t FE = 0, FS = 0;
        if (router) {
            ge = ref_tensor(&r, (snprintf(k, sizeof k, "blk.%d.ffn_gate_exps.weight", il), k), NULL, &FE, NULL);
            ue = ref_blk(&r, il, "ffn_up_exps.weight");
            de = ref_blk(&r, il, "ffn_down_exps.weight");
            gs = ref_tensor(&r, (snprintf(k, sizeof k, "blk.%d.ffn_gate_shexp.weight", il), k), NULL, &FS, NULL);
            us = ref_blk(&r, il, "ffn_up_shexp.weight");
            ds = ref_blk(&r, il, "ffn_down_shexp.weight");
            gis = ref_blk(&r, il, "ffn_gate_inp_shexp.weight");
        }
        if (!gate && up && !router) { /* fused gate/up: [2F][E] */
            int64_t ne1;
            free(up);
            up = ref_tensor(&r, (snprintf(k, sizeof k, "blk.%d.ffn_up.weight", il), k), NULL, &ne1, NULL);
            F = ne1 / 2;
        }
        for (int p = 0; p < n; p++) {
            ref_rmsnorm(xb, x + p * E, fn, E, eps);
            if (!router) {
                ref_ffn(t, xb, gate, up, down, E, F, gemma);
            } else {
                float lg[64], w[8];
                int sel[8], KU = hp->n_expert_used;
                ref_mv(lg, router, xb, E, NE);
                float mx = lg[0], sum = 0;
                for (int e = 1; e < NE; e++) mx = lg[e] > mx ? lg[e] : mx;
                for (int e = 0; e < NE; e++) sum += lg[e] = expf(lg[e] - mx);
                for (int e = 0; e < NE; e++) lg[e] /= sum;
                float ws = 0;
                for (int q = 0; q < KU; q++) {
                    int b = -1;
                    for (int e = 0; e < NE; e++) {
                        int used = 0;
                        for (int z = 0; z < q; z++) used |= sel[z] == e;
                        if (!used && (b < 0 || lg[e] > lg[b])) b = e;
                    }
                    sel[q] = b;
                    ws += w[q] = lg[b];
                }
                float *eo = malloc((size_t)E * 4);
                memset(t, 0, (size_t)E * 4);
                for (int q = 0; q < KU; q++) {
                    int e = sel[q];
                    ref_ffn(eo, xb, ge + (size_t)e * FE * E, ue + (size_t)e * FE * E, de + (size_t)e * FE * E, E, FE, 0);
                    float wq_ = qwen2moe ? w[q] : w[q] / ws;
                    for (int i = 0; i < E; i++) t[i] += wq_ * eo[i];
                }
                if (gs) {
                    ref_ffn(eo, xb, gs, us, ds, E, FS, 0);
                    double gl = 0;
                    for (int i = 0; i < E; i++) gl += (double)gis[i] * xb[i];
                    float sg = (float)(1.0 / (1.0 + exp(-gl)));
                    for (int i = 0; i < E; i++) t[i] += sg * eo[i];
                }
                free(eo);
            }
            if (pfn) ref_rmsnorm(t, t, pfn, E, eps);
            for (int i = 0; i < E; i++) x[p * E + i] += t[i];
        }
        float *fr[] = {an, wqkv, wq, wk, wv, wo, bq, bk, bv, qn, kn, pan, pfn, fn, gate, up, down, router, ge, ue, de, gs, us, ds, gis};
        for (size_t i = 0; i < sizeof fr / sizeof fr[0]; i++) free(fr[i]);
    }
    float *outw = ref_tensor(&r, "output.weight", NULL, NULL, NULL);
    float *onorm = ref_tensor(&r, "output_norm.weight", NULL, NULL, NULL);
    ref_rmsnorm(xb, x + (size_t)(n - 1) * E, onorm, E, eps);
    free(onorm);
    ref_mv(logits, outw ? outw : emb, xb, E, V);
    if (fcap > 0)
        for (int64_t i = 0; i < V; i++) logits[i] = fcap * tanhf(logits[i] / fcap);
    free(outw);
    free(emb);
    free(x); free(xb); free(t); free(Q); free(K); free(Vv); free(att); free(sc); free(qkv);
}

/* ---------------- synthetic models written here ---------------- */

typedef struct {
    const char *arch;
    int E, H, Hkv, hd, F, L, V, window;
    float rope_base, acap, fcap;
    int qk_norm, post_norms, tied;
} synth;

#define MAXT 512
typedef struct {
    char name[64];
    int64_t ne[3];
    int nd;
    float scale, center;
} tdesc;

static uint64_t rng_state;
static float rnd(void) { /* uniform in [-1, 1) */
    rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (float)((rng_state >> 40) & 0xFFFFFF) / 8388608.0f - 1.0f;
}

static int synth_fill(void *vt, int64_t idx, void *dst, size_t nbytes, pg_error *err) {
    const tdesc *t = (const tdesc *)vt + idx;
    float *y = dst;
    int64_t n = t->ne[0] * t->ne[1] * t->ne[2];
    if ((size_t)n * 4 != nbytes) return pg_error_set(err, PG_EINVAL, "size mismatch");
    for (int64_t j = 0; j < n; j++) y[j] = t->center + t->scale * rnd();
    return 0;
}

/* A GGUF (f32 tensors) in memory, written by the GGUF writer. */
static uint8_t *synth_gguf(const synth *sp, size_t *size) {
    static tdesc T[MAXT];
    int nt = 0;
#define ADD(nm_, scale_, center_, nd_, a_, b_, c_)                                            \
    do {                                                                                      \
        snprintf(T[nt].name, sizeof T[nt].name, "%s", nm_);                                   \
        T[nt].nd = nd_;                                                                       \
        T[nt].ne[0] = a_;                                                                     \
        T[nt].ne[1] = b_;                                                                     \
        T[nt].ne[2] = c_;                                                                     \
        T[nt].scale = scale_;                                                                 \
        T[nt].center = center_;                                                               \
        nt++;                                                                                 \
    } while (0)
    const int E = sp->E, Dq = sp->H * sp->hd, Dkv = sp->Hkv * sp->hd;
    ADD("token_embd.weight", 0.5f, 0, 2, E, sp->V, 1);
    ADD("output_norm.weight", 0.2f, 1, 1, E, 1, 1);
    if (!sp->tied) ADD("output.weight", 0.1f, 0, 2, E, sp->V, 1);
    char nm[64];
    for (int il = 0; il < sp->L; il++) {
#define BLK(s) (snprintf(nm, sizeof nm, "blk.%d.%s", il, s), nm)
        ADD(BLK("attn_norm.weight"), 0.2f, 1, 1, E, 1, 1);
        ADD(BLK("attn_q.weight"), 0.25f, 0, 2, E, Dq, 1);
        ADD(BLK("attn_k.weight"), 0.25f, 0, 2, E, Dkv, 1);
        ADD(BLK("attn_v.weight"), 0.1f, 0, 2, E, Dkv, 1);
        ADD(BLK("attn_output.weight"), 0.1f, 0, 2, Dq, E, 1);
        if (sp->qk_norm) {
            ADD(BLK("attn_q_norm.weight"), 0.2f, 1, 1, sp->hd, 1, 1);
            ADD(BLK("attn_k_norm.weight"), 0.2f, 1, 1, sp->hd, 1, 1);
        }
        if (sp->post_norms) ADD(BLK("post_attention_norm.weight"), 0.2f, 1, 1, E, 1, 1);
        ADD(BLK("ffn_norm.weight"), 0.2f, 1, 1, E, 1, 1);
        ADD(BLK("ffn_gate.weight"), 0.1f, 0, 2, E, sp->F, 1);
        ADD(BLK("ffn_up.weight"), 0.1f, 0, 2, E, sp->F, 1);
        ADD(BLK("ffn_down.weight"), 0.1f, 0, 2, sp->F, E, 1);
        if (sp->post_norms) ADD(BLK("post_ffw_norm.weight"), 0.2f, 1, 1, E, 1, 1);
#undef BLK
    }
#undef ADD
    pg_gguf_writer *w = pg_gguf_writer_create();
    pg_error err = {0};
    int rc = w ? 0 : PG_ENOMEM;
    char k[128];
#define KU32(key, v) (snprintf(k, sizeof k, "%s." key, sp->arch), rc = rc ? rc : pg_gguf_writer_add_u32(w, k, (uint32_t)(v), &err))
#define KF32(key, v) (snprintf(k, sizeof k, "%s." key, sp->arch), rc = rc ? rc : pg_gguf_writer_add_f32(w, k, (v), &err))
    if (!rc) rc = pg_gguf_writer_add_str(w, "general.architecture", sp->arch, strlen(sp->arch), &err);
    KU32("context_length", 256);
    KU32("embedding_length", E);
    KU32("block_count", sp->L);
    KU32("feed_forward_length", sp->F);
    KU32("attention.head_count", sp->H);
    KU32("attention.head_count_kv", sp->Hkv);
    KU32("attention.key_length", sp->hd);
    KU32("attention.value_length", sp->hd);
    KU32("rope.dimension_count", sp->hd);
    KF32("rope.freq_base", sp->rope_base);
    KF32("attention.layer_norm_rms_epsilon", 1e-6f);
    if (sp->window) KU32("attention.sliding_window", sp->window);
    if (sp->acap > 0) KF32("attn_logit_softcapping", sp->acap);
    if (sp->fcap > 0) KF32("final_logit_softcapping", sp->fcap);
#undef KU32
#undef KF32
    /* tensor data drawn in tensor order, as before (fill callback) */
    for (int i = 0; i < nt && !rc; i++) {
        int64_t r = pg_gguf_writer_add_tensor(w, T[i].name, (uint32_t)T[i].nd, T[i].ne, 0 /* f32 */, NULL, &err);
        if (r < 0) rc = (int)r;
    }
    void *img = NULL;
    if (!rc) rc = pg_gguf_writer_write_mem(w, synth_fill, T, &img, size, &err);
    pg_gguf_writer_destroy(w);
    if (rc) fprintf(stderr, "synthetic %s: %s\n", sp->arch, err.msg);
    return img;
}

static pg_model *synth_model(const synth *sp, uint8_t **buf) {
    size_t n;
    *buf = synth_gguf(sp, &n);
    pg_gguf *g;
    pg_model *m;
    pg_error err = {0};
    if (pg_gguf_open_mem(*buf, n, &g, &err) < 0 || pg_model_load_gguf(g, &m, &err) < 0) {
        fprintf(stderr, "synthetic %s: %s\n", sp->arch, err.msg);
        return NULL;
    }
    return m;
}

static void synth_tokens(int32_t *t, int n, int V, uint64_t seed) {
    rng_state = seed;
    for (int i = 0; i < n; i++) t[i] = (int32_t)((rnd() + 1.0f) * 0.5f * (float)(V - 1));
}

/* Engine vs the reference forward on a synthetic model, at several lengths
 * (crossing the window), plus batch invariance. */
static void test_synth(const synth *sp, const char *label, int32_t expect_kv_window) {
    rng_state = 12345;
    uint8_t *buf;
    pg_model *m = synth_model(sp, &buf);
    CHECKF(m != NULL, "%s loads", label);
    if (!m) {
        free(buf);
        return;
    }
    CHECKF(pg_model_kv_window(m) == expect_kv_window, "%s kv window %d, expected %d", label, pg_model_kv_window(m),
           expect_kv_window);
    ctx c;
    memset(&c, 0, sizeof c);
    ctx_open_model(&c, m, 64, 256, 4);
    int32_t toks[4][40];
    int lens[4] = {37, 21, 9, 30};
    for (int s = 0; s < 4; s++) synth_tokens(toks[s], 40, c.n_vocab, 99 + (uint64_t)s);
    int32_t table[64];
    for (int i = 0; i < 64; i++) table[i] = i;
    float *lg = malloc((size_t)c.n_vocab * 4), *rl = malloc((size_t)c.n_vocab * 4);
    double worst = 1;
    for (int s = 0; s < 4; s++) {
        fwd_run_seq(&c, table, 64, toks[s], lens[s], 0, 256, lg);
        ref_forward(m, toks[s], lens[s], rl);
        double cs = golden_cosine(lg, rl, (size_t)c.n_vocab);
        float md = 0;
        for (int i = 0; i < c.n_vocab; i++) md = fmaxf(md, fabsf(lg[i] - rl[i]));
        if (cs < worst) worst = cs;
        CHECKF(cs >= 0.99999 && md < 1e-3f, "%s: %d tokens: cosine %.7f, max diff %g vs the reference forward", label,
               lens[s], cs, md);
    }
    fprintf(stderr, "%s (synthetic): worst cosine vs reference forward %.7f\n", label, worst);
    int32_t *tp[4] = {toks[0], toks[1], toks[2], toks[3]};
    check_invariance(&c, label, tp, lens, 4);
    if (expect_kv_window > 0) {
        /* every layer windowed: the blocks wholly before the window are not
         * needed; mark them freed (-1) and decode one more token */
        int n = lens[0];
        fwd_run_seq(&c, table, 64, toks[0], n, 0, 256, lg);
        int32_t t2[64];
        memcpy(t2, table, sizeof t2);
        int first = (n - expect_kv_window + 1) / BS; /* first block the next token (pos n) reads */
        for (int b = 0; b < first; b++) t2[b] = -1;
        int32_t nt = toks[1][0];
        fwd_run_seq(&c, table, 64, &nt, 1, n, 1, rl);
        fwd_run_seq(&c, t2, 64, &nt, 1, n, 1, lg);
        CHECKF(first > 0 && !memcmp(lg, rl, (size_t)c.n_vocab * 4), "%s: freed blocks outside the window change logits",
               label);
    }
    free(lg);
    free(rl);
    fwd_close(&c);
    free(buf);
}

static void test_synthetic(void) {
    /* qwen3: head_dim 32 with n_embd 64 and 4 heads (Dq = 128 != n_embd), q/k norm */
    synth q3 = {"qwen3", 64, 4, 2, 32, 96, 3, 300, 0, 1e6f, 0, 0, 1, 0, 0};
    test_synth(&q3, "qwen3", 0);
    /* gemma3: 7 layers (local 0-4, global 5, local 6), window 5, local rope base 10000 */
    synth g3 = {"gemma3", 64, 4, 2, 16, 96, 7, 300, 5, 1e6f, 0, 0, 1, 1, 1};
    test_synth(&g3, "gemma3", 0);
    /* gemma2 with caps small enough to matter (the golden file's 50/30 never bind) */
    synth g2 = {"gemma2", 64, 4, 2, 16, 96, 4, 300, 6, 1e4f, 0.7f, 2.0f, 0, 1, 1};
    test_synth(&g2, "gemma2-capped", 0);
    /* one gemma2 layer: every layer windowed, so freed blocks are allowed */
    synth g2w = {"gemma2", 64, 4, 2, 16, 96, 1, 300, 6, 1e4f, 0.7f, 2.0f, 0, 1, 1};
    test_synth(&g2w, "gemma2-1layer", 6);
}

int main(void) {
    const char *td = t_testdata();
    if (!td) SKIP("test data not found (set PAGODA_TESTDATA)");
    test_golden(td);
    test_synthetic();
    /* the lower dispatch levels (what a CPU without AVX-512 runs) */
    for (int lv = (int)pg_cpu_level_max() - 1; lv >= 0; lv--) {
        pg_cpu_level_set((pg_cpu_level)lv);
        fprintf(stderr, "-- dispatch level %s\n", pg_cpu_level_name((pg_cpu_level)lv));
        test_golden(td);
    }
    return t_done("test_arch");
}
