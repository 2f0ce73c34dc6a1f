/* test_kvquant.c - the quantized KV cache (model.h PG_KV_Q8_0 / PG_KV_Q4_0)
 * end to end through the forward pass, against the f16 KV cache on the
 * shared golden prompts:
 *   - logits of every golden prompt: cosine to the f16-KV logits >= Q8_COS
 *     for q8_0 (the target) and >= Q4_COS for q4_0, and the q8_0
 *     logits >= Q8_COS to the golden (reference engine) ones;
 *   - then up to N_STEPS decode steps of the first N_DECODE_CASES prompts,
 *     fed the f16 run's greedy tokens until an end-of-generation token (each
 *     step reads a longer quantized K/V history): q8_0 cosine >=
 *     Q8_COS_DECODE at every step (a step whose logits are nearly flat but
 *     for one token makes the cosine fragile: stories260K has one at
 *     0.9958 where the top token and its logit agree) and the same top-1
 *     token as f16 in >= Q8_TOP1 of the steps;
 *   - stories260K (head_dim 8: a q8_0 block spans four KV heads), syn-a,
 *     two arch models (qwen2: GQA 4; gemma2: a sliding window, soft-caps);
 *   - each model's own noise floor: the same run with an f32 KV cache.
 *     Where f32 and f16 KV already differ by more than 1 - NOISE_COS (the
 *     random-weight gemma2 amplifies any perturbation: f32 vs f16 KV is
 *     0.99895 there), the bound is relative instead: 1 - cos(q8_0, f16) <=
 *     Q8_NOISE_X * (1 - cos(f32, f16));
 *   - the KV budget: bytes per token of q8_0 give >= 1.85x the tokens of
 *     f16 (3.5x for q4_0) when a position row is whole blocks;
 *   - q8_0 logits do not depend on the chunk size of the prefill (a row's
 *     quantization depends only on that row).
 * Named bounds: Q8_COS is issue 26's target; Q4_COS is q4_0's documented
 * looser bound (README, "Quantized KV cache"). */
#include "fwd_util.h"
#include "golden.h"
#include "test.h"

#include "model/model.h"
#include "tokenizer/tokenizer.h"

#define Q8_COS 0.999
#define Q4_COS 0.97
#define Q8_COS_DECODE 0.995
#define Q8_TOP1 0.97
#define NOISE_COS 0.9995
#define Q8_NOISE_X 3.0
#define BS 16
#define NB 8 /* 128 positions */
#define N_STEPS 16
#define N_DECODE_CASES 3

enum { T_F16, T_F32, T_Q8, T_Q4, NT };

static void test_model(const char *td, const char *name) {
    char path[1024], gdir[1024];
    snprintf(path, sizeof path, "%s/models/%s.gguf", td, name);
    snprintf(gdir, sizeof gdir, "%s/golden/%s", td, name);
    golden_case *gc;
    int n = golden_load(gdir, &gc);
    CHECKF(n > 0, "golden cases of %s", name);
    if (n <= 0) return;
    static const int types[NT] = {PG_KV_F16, PG_KV_F32, PG_KV_Q8_0, PG_KV_Q4_0};
    fwd_ctx c[NT];
    for (int t = 0; t < NT; t++) REQUIRE(fwd_open(&c[t], path, NB, BS, types[t], 128, 1) == 0);
    pg_vocab *voc;
    pg_error err = {0};
    REQUIRE(pg_vocab_load(pg_model_gguf(c[0].m), &voc, &err) == 0);
    const size_t V = (size_t)c[0].n_vocab;
    float *lg[NT];
    for (int t = 0; t < NT; t++) REQUIRE((lg[t] = malloc(V * sizeof(float))));
    int32_t table[NB];
    for (int i = 0; i < NB; i++) table[i] = NB - 1 - i; /* scattered: block b at NB-1-b */
    double worst[NT] = {1, 1, 1, 1}, wp[NT] = {1, 1, 1, 1}, worst_gold = 1, gold_f16 = 1;
    int steps = 0, top1_same = 0;
    for (int k = 0; k < n; k++) {
        const golden_case *g = &gc[k];
        if (g->n_prompt < 1 || g->n_prompt + N_STEPS > NB * BS) continue;
        for (int t = 0; t < NT; t++) fwd_run_seq(&c[t], table, NB, g->prompt_tokens, g->n_prompt, 0, 128, lg[t]);
        if (g->logits && g->n_logits == V) {
            const double cg = golden_cosine(lg[T_Q8], g->logits, V), cf = golden_cosine(lg[T_F16], g->logits, V);
            if (cf < gold_f16) gold_f16 = cf;
            if (cg < worst_gold) worst_gold = cg;
        }
        for (int t = T_F32; t < NT; t++) {
            const double cp = golden_cosine(lg[t], lg[T_F16], V);
            if (cp < wp[t]) wp[t] = cp;
        }
        int pos = g->n_prompt;
        for (int s = 0; s <= N_STEPS; s++) {
            for (int t = T_F32; t < NT; t++) {
                const double cs = golden_cosine(lg[t], lg[T_F16], V);
                if (cs < worst[t]) worst[t] = cs;
            }
            steps++;
            const int32_t tok = fwd_argmax(lg[T_F16], (int)V);
            top1_same += fwd_argmax(lg[T_Q8], (int)V) == tok;
            if (s == N_STEPS || k >= N_DECODE_CASES || pg_vocab_is_eog(voc, tok)) break;
            for (int t = 0; t < NT; t++) fwd_run_seq(&c[t], table, NB, &tok, 1, pos, 1, lg[t]);
            pos++;
        }
    }
    const int well = worst[T_F32] >= NOISE_COS;
    fprintf(stderr,
            "%s: worst cosine to f16 KV over %d prompts: f32 %.6f (noise floor), q8_0 %.6f, q4_0 %.6f; "
            "q8_0 to golden %.6f (f16 %.6f)\n",
            name, n, wp[T_F32], wp[T_Q8], wp[T_Q4], worst_gold, gold_f16);
    fprintf(stderr,
            "%s: with %d decode steps (%d logit vectors): f32 %.6f, q8_0 %.6f (same top-1 in %d), q4_0 %.6f\n",
            name, steps - n, steps, worst[T_F32], worst[T_Q8], top1_same, worst[T_Q4]);
    if (well) {
        CHECKF(wp[T_Q8] >= Q8_COS, "%s: q8_0 KV prompt cosine %.6f < %g", name, wp[T_Q8], Q8_COS);
        CHECKF(wp[T_Q4] >= Q4_COS, "%s: q4_0 KV prompt cosine %.6f < %g", name, wp[T_Q4], Q4_COS);
        CHECKF(worst_gold >= Q8_COS, "%s: q8_0 KV cosine to golden %.6f", name, worst_gold);
        CHECKF(worst[T_Q8] >= Q8_COS_DECODE, "%s: q8_0 KV decode cosine %.6f < %g", name, worst[T_Q8], Q8_COS_DECODE);
    } else {
        CHECKF(1 - worst[T_Q8] <= Q8_NOISE_X * (1 - worst[T_F32]),
               "%s: q8_0 KV cosine %.6f, more than %gx the f32-vs-f16 deficit (%.6f)", name, worst[T_Q8], Q8_NOISE_X,
               worst[T_F32]);
    }
    CHECKF(top1_same >= Q8_TOP1 * steps, "%s: q8_0 top-1 token as f16 in %d of %d", name, top1_same, steps);

    /* chunk-size independence with q8_0: the first prompt in chunks of 3 */
    {
        const golden_case *g = &gc[0];
        float *whole = malloc(V * sizeof(float));
        REQUIRE(whole);
        fwd_run_seq(&c[T_Q8], table, NB, g->prompt_tokens, g->n_prompt, 0, 128, whole);
        fwd_run_seq(&c[T_Q8], table, NB, g->prompt_tokens, g->n_prompt, 0, 3, lg[T_Q8]);
        CHECKF(!memcmp(whole, lg[T_Q8], V * sizeof(float)), "%s: q8_0 prefill in chunks of 3 differs", name);
        free(whole);
    }

    /* bytes per token */
    const size_t b16 = pg_kv_bytes_per_token(c[0].m, PG_KV_F16), b8 = pg_kv_bytes_per_token(c[0].m, PG_KV_Q8_0),
                 b4 = pg_kv_bytes_per_token(c[0].m, PG_KV_Q4_0);
    const pg_hparams *hp = pg_model_hparams(c[0].m);
    if ((hp->n_head_kv * hp->head_dim) % 32 == 0) {
        CHECKF((double)b16 / (double)b8 >= 1.85, "%s: q8_0 %zu vs f16 %zu bytes/token", name, b8, b16);
        CHECKF((double)b16 / (double)b4 >= 3.5, "%s: q4_0 %zu vs f16 %zu bytes/token", name, b4, b16);
    }
    fprintf(stderr, "%s: bytes/token f16 %zu, q8_0 %zu (%.3fx tokens), q4_0 %zu (%.3fx)\n", name, b16, b8,
            (double)b16 / (double)b8, b4, (double)b16 / (double)b4);
    for (int t = 0; t < NT; t++) {
        free(lg[t]);
        fwd_close(&c[t]);
    }
    pg_vocab_free(voc);
    golden_free(gc, n);
}

static void test_names(void) {
    CHECK(pg_kv_type_parse("f16") == PG_KV_F16 && pg_kv_type_parse("q8_0") == PG_KV_Q8_0);
    CHECK(pg_kv_type_parse("q4_0") == PG_KV_Q4_0 && pg_kv_type_parse("f32") == PG_KV_F32);
    CHECK(pg_kv_type_parse("q8") == -1 && pg_kv_type_parse("") == -1 && pg_kv_type_parse(NULL) == -1);
    CHECK(pg_kv_type_parse("Q8_0") == -1);
    for (int t = 0; t < PG_KV_NTYPES; t++) CHECK(pg_kv_type_parse(pg_kv_type_name(t)) == t);
    CHECK(pg_kv_type_name(-1) == NULL && pg_kv_type_name(PG_KV_NTYPES) == NULL);
}

int main(void) {
    test_names();
    const char *td = t_testdata();
    if (!td) SKIP("test data not found (set PAGODA_TESTDATA)");
    static const char *const models[] = {"stories260K", "syn-a-q8_0", "arch-qwen2-q8_0", "arch-gemma2-q8_0"};
    for (size_t i = 0; i < sizeof models / sizeof models[0]; i++) test_model(td, models[i]);
    /* a KV store of an unknown type is refused */
    char path[1024];
    snprintf(path, sizeof path, "%s/models/stories260K.gguf", td);
    pg_model *m;
    pg_error err = {0};
    REQUIRE(pg_model_load(path, &m, &err) == 0);
    pg_kv_store *kv = NULL;
    CHECK(pg_kv_store_create(m, 4, 16, 7, &kv, &err) == PG_EINVAL && kv == NULL && strstr(err.msg, "KV type"));
    CHECK(pg_kv_bytes_per_token(m, 7) == 0);
    pg_model_free(m);
    return t_done("test_kvquant");
}
