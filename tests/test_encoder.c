/* test_encoder.c - model/encode.c on the encoder variants the shared test
 * data has no files for: nomic-bert (fused QKV, rotary positions, SwiGLU)
 * and jina-bert-v2 (ALiBi, q/k LayerNorms, GEGLU), written here as small
 * random-weight GGUF files, checked against a plain double-precision
 * implementation of the same equations in this file (cosine >= 0.99999
 * for every pooling), plus batch invariance across a packed batch and the
 * refusals of pg_encoder_run (sequence too long, bad token id / type, rank
 * without a head) and of generation on an encoder. Needs no test data. */
#include "test.h"

#include "base/pool.h"
#include "gguf/gguf_write.h"
#include "model/model.h"
#include "tensor/types.h"

#include <unistd.h>

enum { E = 32, H = 2, HD = 16, F = 64, L = 2, V = 50, CTX = 64, NT = 2 };

static uint64_t rng = 0x1234567;
static float frand(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (float)((double)(rng >> 11) / (double)(1ull << 53) * 2.0 - 1.0);
}

typedef struct {
    const char *name;
    float *data;
    int64_t ne0, ne1;
} tensor;

typedef struct {
    int jina; /* 0: nomic-bert, 1: jina-bert-v2 */
    int head1; /* rank head: cls [E -> 1] alone (tanh(cls x + b)) instead of cls [E -> E] + cls.output */
    tensor t[64];
    int n;
} model_src;

static float *add(model_src *s, const char *name, int64_t ne0, int64_t ne1, float scale, float bias) {
    float *d = malloc((size_t)(ne0 * ne1) * sizeof(float));
    for (int64_t i = 0; i < ne0 * ne1; i++) d[i] = bias + scale * frand();
    s->t[s->n++] = (tensor){strdup(name), d, ne0, ne1};
    return d;
}

static const float *get(const model_src *s, const char *name) {
    for (int i = 0; i < s->n; i++)
        if (!strcmp(s->t[i].name, name)) return s->t[i].data;
    return NULL;
}

static void build(model_src *s, int jina, int head1) {
    memset(s, 0, sizeof *s);
    s->jina = jina;
    s->head1 = head1;
    char nm[64];
    add(s, "token_embd.weight", E, V, 0.5f, 0);
    add(s, "token_types.weight", E, NT, 0.1f, 0);
    add(s, "token_embd_norm.weight", E, 1, 0.1f, 1);
    add(s, "token_embd_norm.bias", E, 1, 0.1f, 0);
    for (int il = 0; il < L; il++) {
#define N(x) (snprintf(nm, sizeof nm, "blk.%d." x, il), nm)
        if (!jina) {
            add(s, N("attn_qkv.weight"), E, 3 * E, 0.3f, 0);
        } else {
            add(s, N("attn_q.weight"), E, E, 0.3f, 0);
            add(s, N("attn_q.bias"), E, 1, 0.1f, 0);
            add(s, N("attn_k.weight"), E, E, 0.3f, 0);
            add(s, N("attn_k.bias"), E, 1, 0.1f, 0);
            add(s, N("attn_v.weight"), E, E, 0.3f, 0);
            add(s, N("attn_v.bias"), E, 1, 0.1f, 0);
            add(s, N("attn_q_norm.weight"), E, 1, 0.1f, 1);
            add(s, N("attn_q_norm.bias"), E, 1, 0.1f, 0);
            add(s, N("attn_k_norm.weight"), E, 1, 0.1f, 1);
            add(s, N("attn_k_norm.bias"), E, 1, 0.1f, 0);
            add(s, N("attn_output.bias"), E, 1, 0.1f, 0);
            add(s, N("ffn_down.bias"), E, 1, 0.1f, 0);
        }
        add(s, N("attn_output.weight"), E, E, 0.3f, 0);
        add(s, N("attn_output_norm.weight"), E, 1, 0.1f, 1);
        add(s, N("attn_output_norm.bias"), E, 1, 0.1f, 0);
        add(s, N("ffn_gate.weight"), E, F, 0.3f, 0);
        add(s, N("ffn_up.weight"), E, F, 0.3f, 0);
        add(s, N("ffn_down.weight"), F, E, 0.3f, 0);
        add(s, N("layer_output_norm.weight"), E, 1, 0.1f, 1);
        add(s, N("layer_output_norm.bias"), E, 1, 0.1f, 0);
#undef N
    }
    if (head1) {
        add(s, "cls.weight", E, 1, 0.3f, 0);
        add(s, "cls.bias", 1, 1, 0.1f, 0);
        return;
    }
    add(s, "cls.weight", E, E, 0.3f, 0);
    add(s, "cls.bias", E, 1, 0.1f, 0);
    add(s, "cls.output.weight", E, 1, 0.3f, 0);
    add(s, "cls.output.bias", 1, 1, 0.1f, 0);
}

static int write_model(const model_src *s, const char *path) {
    pg_gguf_writer *w = pg_gguf_writer_create();
    pg_error err = {0};
    const char *a = s->jina ? "jina-bert-v2" : "nomic-bert";
    char k[96];
    int rc = pg_gguf_writer_add_str(w, "general.architecture", a, strlen(a), &err);
#define U(key, v) (snprintf(k, sizeof k, "%s." key, a), rc |= pg_gguf_writer_add_u32(w, k, v, &err))
    U("context_length", CTX);
    U("embedding_length", E);
    U("block_count", L);
    U("feed_forward_length", F);
    U("attention.head_count", H);
    U("pooling_type", PG_POOL_MEAN);
#undef U
    snprintf(k, sizeof k, "%s.attention.layer_norm_epsilon", a);
    rc |= pg_gguf_writer_add_f32(w, k, 1e-12f, &err);
    snprintf(k, sizeof k, "%s.rope.freq_base", a);
    rc |= pg_gguf_writer_add_f32(w, k, 1000.0f, &err);
    for (int i = 0; i < s->n; i++) {
        const tensor *t = &s->t[i];
        int64_t ne[2] = {t->ne0, t->ne1};
        const int is_vec = t->ne1 == 1 && (strstr(t->name, ".bias") || strstr(t->name, "norm"));
        if (pg_gguf_writer_add_tensor(w, t->name, is_vec ? 1 : 2, ne, PG_TYPE_F32, t->data, &err) < 0) rc = -1;
    }
    if (rc == 0) rc = pg_gguf_writer_write(w, path, NULL, NULL, &err);
    if (rc < 0) fprintf(stderr, "write %s: %s\n", path, err.msg);
    pg_gguf_writer_destroy(w);
    return rc;
}

/* ---- the plain reference (double) ---- */

static void ln(double *x, const float *w, const float *b, int n) {
    double m = 0, v = 0;
    for (int i = 0; i < n; i++) m += x[i];
    m /= n;
    for (int i = 0; i < n; i++) v += (x[i] - m) * (x[i] - m);
    v /= n;
    for (int i = 0; i < n; i++) x[i] = (x[i] - m) / sqrt(v + 1e-12) * w[i] + b[i];
}

static void mv(double *y, const float *W, const float *b, const double *x, int K, int N) {
    for (int n = 0; n < N; n++) {
        double s = b ? b[n] : 0;
        for (int k = 0; k < K; k++) s += (double)W[(size_t)n * K + k] * x[k];
        y[n] = s;
    }
}

static double gelu(double v) { return 0.5 * v * (1 + tanh(0.7978845608028654 * (v + 0.044715 * v * v * v))); }

/* hidden states of one sequence (types 0) -> out[n][E] */
static void reference(const model_src *s, const int32_t *tok, int n, double *out) {
    double *x = out, *q = calloc((size_t)n * E, 8), *k = calloc((size_t)n * E, 8), *v = calloc((size_t)n * E, 8),
           *att = calloc((size_t)n * E, 8), tmp[3 * E], g[F], u[F];
    char nm[64];
    for (int i = 0; i < n; i++) {
        for (int d = 0; d < E; d++) x[i * E + d] = (double)get(s, "token_embd.weight")[tok[i] * E + d] + get(s, "token_types.weight")[d];
        ln(x + i * E, get(s, "token_embd_norm.weight"), get(s, "token_embd_norm.bias"), E);
    }
#define G(x) (snprintf(nm, sizeof nm, "blk.%d." x, il), get(s, nm))
    for (int il = 0; il < L; il++) {
        for (int i = 0; i < n; i++) {
            if (!s->jina) {
                mv(tmp, G("attn_qkv.weight"), NULL, x + i * E, E, 3 * E);
                memcpy(q + i * E, tmp, E * 8);
                memcpy(k + i * E, tmp + E, E * 8);
                memcpy(v + i * E, tmp + 2 * E, E * 8);
                for (int h = 0; h < H; h++) /* NeoX rotation of dims (j, j + HD/2) */
                    for (int j = 0; j < HD / 2; j++) {
                        double th = i * pow(1000.0, -2.0 * j / HD), c = cos(th), sn = sin(th);
                        double *vs[2] = {q + i * E + h * HD, k + i * E + h * HD};
                        for (int z = 0; z < 2; z++) {
                            double a = vs[z][j], b = vs[z][j + HD / 2];
                            vs[z][j] = a * c - b * sn;
                            vs[z][j + HD / 2] = a * sn + b * c;
                        }
                    }
            } else {
                mv(q + i * E, G("attn_q.weight"), G("attn_q.bias"), x + i * E, E, E);
                mv(k + i * E, G("attn_k.weight"), G("attn_k.bias"), x + i * E, E, E);
                mv(v + i * E, G("attn_v.weight"), G("attn_v.bias"), x + i * E, E, E);
                ln(q + i * E, G("attn_q_norm.weight"), G("attn_q_norm.bias"), E);
                ln(k + i * E, G("attn_k_norm.weight"), G("attn_k_norm.bias"), E);
            }
        }
        for (int h = 0; h < H; h++) {
            const double slope = pow(2.0, -8.0 / H * (h + 1)); /* ALiBi, H a power of two */
            for (int i = 0; i < n; i++) {
                double sc[64], mx = -1e300, sum = 0;
                for (int j = 0; j < n; j++) {
                    double d = 0;
                    for (int z = 0; z < HD; z++) d += q[i * E + h * HD + z] * k[j * E + h * HD + z];
                    sc[j] = d / sqrt((double)HD) - (s->jina ? slope * abs(i - j) : 0);
                    if (sc[j] > mx) mx = sc[j];
                }
                for (int j = 0; j < n; j++) sum += (sc[j] = exp(sc[j] - mx));
                for (int z = 0; z < HD; z++) {
                    double o = 0;
                    for (int j = 0; j < n; j++) o += sc[j] / sum * v[j * E + h * HD + z];
                    att[i * E + h * HD + z] = o;
                }
            }
        }
        for (int i = 0; i < n; i++) {
            mv(tmp, G("attn_output.weight"), s->jina ? G("attn_output.bias") : NULL, att + i * E, E, E);
            for (int d = 0; d < E; d++) x[i * E + d] += tmp[d];
            ln(x + i * E, G("attn_output_norm.weight"), G("attn_output_norm.bias"), E);
            mv(g, G("ffn_gate.weight"), NULL, x + i * E, E, F);
            mv(u, G("ffn_up.weight"), NULL, x + i * E, E, F);
            for (int d = 0; d < F; d++) g[d] = (s->jina ? gelu(g[d]) : g[d] / (1 + exp(-g[d]))) * u[d];
            mv(tmp, G("ffn_down.weight"), s->jina ? G("ffn_down.bias") : NULL, g, F, E);
            for (int d = 0; d < E; d++) x[i * E + d] += tmp[d];
            ln(x + i * E, G("layer_output_norm.weight"), G("layer_output_norm.bias"), E);
        }
    }
#undef G
    free(q);
    free(k);
    free(v);
    free(att);
}

static double cosine(const float *a, const double *b, int n) {
    double d = 0, na = 0, nb = 0;
    for (int i = 0; i < n; i++) {
        d += a[i] * b[i];
        na += (double)a[i] * a[i];
        nb += b[i] * b[i];
    }
    return d / sqrt(na * nb);
}

static void check_variant(int jina, int head1, pg_pool *pool) {
    const char *what = jina ? "jina-bert-v2" : head1 ? "nomic-bert (one-layer head)" : "nomic-bert";
    model_src s;
    build(&s, jina, head1);
    char path[] = "/tmp/pagoda-test-encoder-XXXXXX";
    int fd = mkstemp(path);
    REQUIRE(fd >= 0);
    close(fd);
    REQUIRE(write_model(&s, path) == 0);
    pg_model *m;
    pg_error err = {0};
    int rc = pg_model_load(path, &m, &err);
    CHECKF(rc == 0, "%s: %s", what, err.msg);
    unlink(path);
    if (rc < 0) return;
    CHECK(pg_model_caps(m) == PG_CAP_EMBED);
    pg_forward *fw = NULL;
    CHECK(pg_forward_create(m, pool, 8, 1, 8, &fw, &err) == PG_EUNSUPPORTED);
    pg_encoder *e;
    REQUIRE(pg_encoder_create(m, pool, 64, 4, &e, &err) == 0);
    /* three sequences packed in one batch, then each alone */
    const int32_t toks[] = {1, 7, 9, 3, 2, 4, 40, 11, 12, 13, 14, 15, 16, 17, 18, 5, 6, 8, 10, 20, 30, 49};
    const int32_t ss[] = {0, 5, 15, 22};
    float all[3 * E], none[22 * E], cls[3 * E], last[3 * E], one[E], score[3];
    pg_enc_batch b = {3, ss, toks, NULL};
    REQUIRE(pg_encoder_run(e, &b, PG_POOL_MEAN, all, &err) == 0);
    REQUIRE(pg_encoder_run(e, &b, PG_POOL_NONE, none, &err) == 0);
    REQUIRE(pg_encoder_run(e, &b, PG_POOL_CLS, cls, &err) == 0);
    REQUIRE(pg_encoder_run(e, &b, PG_POOL_LAST, last, &err) == 0);
    REQUIRE(pg_encoder_run(e, &b, PG_POOL_RANK, score, &err) == 0);
    CHECK(pg_encoder_out_dim(e, PG_POOL_RANK) == 1 && pg_encoder_out_dim(e, PG_POOL_MEAN) == E);
    for (int sq = 0; sq < 3; sq++) {
        const int n = ss[sq + 1] - ss[sq];
        double *ref = calloc((size_t)n * E, 8), mean[E] = {0};
        reference(&s, toks + ss[sq], n, ref);
        double worst = 1;
        for (int i = 0; i < n; i++) {
            double c = cosine(none + (size_t)(ss[sq] + i) * E, ref + i * E, E);
            if (c < worst) worst = c;
            for (int d = 0; d < E; d++) mean[d] += ref[i * E + d] / n;
        }
        double cm = cosine(all + sq * E, mean, E);
        fprintf(stderr, "%s seq %d (%d tokens): worst token cosine %.8f, mean %.8f\n", what, sq, n, worst, cm);
        CHECKF(worst >= 0.99999 && cm >= 0.99999, "%s seq %d: cosine %.8f / %.8f", what, sq, worst, cm);
        CHECK(!memcmp(cls + sq * E, none + (size_t)ss[sq] * E, E * 4));
        CHECK(!memcmp(last + sq * E, none + (size_t)(ss[sq + 1] - 1) * E, E * 4));
        /* the rank head: tanh(cls x + b) then cls.output */
        double h[E], sc;
        if (head1) {
            mv(h, get(&s, "cls.weight"), get(&s, "cls.bias"), ref, E, 1);
            sc = tanh(h[0]);
        } else {
            sc = get(&s, "cls.output.bias")[0];
            mv(h, get(&s, "cls.weight"), get(&s, "cls.bias"), ref, E, E);
            for (int d = 0; d < E; d++) sc += tanh(h[d]) * get(&s, "cls.output.weight")[d];
        }
        CHECKF(fabs(score[sq] - sc) < 1e-4, "%s seq %d: score %.6f, want %.6f", what, sq, score[sq], sc);
        /* alone = in the batch, bit for bit */
        int32_t s1[2] = {0, n};
        pg_enc_batch b1 = {1, s1, toks + ss[sq], NULL};
        REQUIRE(pg_encoder_run(e, &b1, PG_POOL_MEAN, one, &err) == 0);
        CHECKF(!memcmp(one, all + sq * E, E * 4), "%s seq %d: alone differs from the batch", what, sq);
        free(ref);
    }
    /* refusals */
    int32_t bad_tok[2] = {1, V}, typ[2] = {0, NT}, s2[2] = {0, 2}, s0[2] = {0, 0};
    pg_enc_batch bb = {1, s2, bad_tok, NULL};
    CHECK(pg_encoder_run(e, &bb, PG_POOL_MEAN, one, &err) == PG_EINVAL && strstr(err.msg, "outside the vocabulary"));
    bb = (pg_enc_batch){1, s2, toks, typ};
    CHECK(pg_encoder_run(e, &bb, PG_POOL_MEAN, one, &err) == PG_EINVAL && strstr(err.msg, "token type"));
    bb = (pg_enc_batch){1, s0, toks, NULL};
    CHECK(pg_encoder_run(e, &bb, PG_POOL_MEAN, one, &err) == PG_EINVAL && strstr(err.msg, "empty"));
    int32_t *many = calloc(CTX + 1, 4), sl[2] = {0, CTX + 1};
    bb = (pg_enc_batch){1, sl, many, NULL};
    CHECK(pg_encoder_run(e, &bb, PG_POOL_MEAN, one, &err) == PG_EINVAL && strstr(err.msg, "more than the limit of 64"));
    free(many);
    pg_encoder_destroy(e);
    pg_model_free(m);
    for (int i = 0; i < s.n; i++) {
        free((void *)s.t[i].name);
        free(s.t[i].data);
    }
}

int main(void) {
    pg_pool *pool = pg_pool_create(2);
    check_variant(0, 0, pool);
    check_variant(1, 0, pool);
    check_variant(0, 1, pool);
    pg_pool_destroy(pool);
    return t_done("test_encoder");
}
