/* test_model.c - the forward pass against the reference engine's outputs:
 * stories260K greedy tokens exactly, every syn-a type's last-position
 * logits by cosine >= 0.999 with a top-1 check, batch-of-many equals
 * one-by-one, chunked prefill equals whole prefill, batches laid out as runs
 * of consecutive tokens equal token-by-token feeding, and load errors. */
#include "test.h"
#include "fwd_util.h"
#include "golden.h"

#include "base/cpu.h"
#include "base/pool.h"
#include "model/model.h"
#include "tokenizer/tokenizer.h"

#include <dirent.h>

#define BS 16

typedef fwd_ctx ctx;

static int ctx_open(ctx *c, const char *path, int32_t n_blocks, int32_t max_tokens, int32_t max_out, int kv_type) {
    return fwd_open(c, path, n_blocks, BS, kv_type, max_tokens, max_out);
}


/* Run tokens [0, n) of one sequence at positions start.. in chunks of `chunk`;
 * writes the last token's logits. */


static void test_stories(const char *td) {
    char path[1024], gdir[1024];
    snprintf(path, sizeof path, "%s/models/stories260K.gguf", td);
    snprintf(gdir, sizeof gdir, "%s/golden/stories260K", td);
    golden_case *gc;
    int n = golden_load(gdir, &gc);
    REQUIRE(n > 0);
    ctx c;
    REQUIRE(ctx_open(&c, path, 64, 128, 1, PG_KV_F16) == 0);
    pg_vocab *v;
    pg_error err = {0};
    REQUIRE(pg_vocab_load(pg_model_gguf(c.m), &v, &err) == 0);
    int32_t table[64];
    for (int i = 0; i < 64; i++) table[i] = i;
    float *logits = malloc((size_t)c.n_vocab * 4);
    for (int k = 0; k < n; k++) {
        golden_case *g = &gc[k];
        int32_t ids[512];
        int64_t nt = pg_tokenize(v, g->prompt, strlen(g->prompt), 1, 0, ids, 512, &err);
        CHECKF(nt == g->n_prompt && !memcmp(ids, g->prompt_tokens, (size_t)nt * 4), "prompt tokens of case %d", k);
        fwd_run_seq(&c, table, 64, g->prompt_tokens, g->n_prompt, 0, 128, logits);
        if (g->logits) {
            double cs = golden_cosine(logits, g->logits, (size_t)c.n_vocab);
            CHECKF(cs >= 0.9999, "stories case %d cosine %.6f", k, cs);
        }
        int32_t toks[128];
        int ng = 0, pos = g->n_prompt;
        for (int i = 0; i < g->n_greedy; i++) {
            int32_t t = fwd_argmax(logits, c.n_vocab);
            toks[ng++] = t;
            if (pg_vocab_is_eog(v, t)) break;
            fwd_run_seq(&c, table, 64, &t, 1, pos++, 1, logits);
        }
        int same = ng == g->n_greedy && !memcmp(toks, g->greedy, (size_t)ng * 4);
        CHECKF(same, "stories greedy tokens of case %d ('%s')", k, g->prompt);
        if (!same) {
            for (int i = 0; i < ng && i < g->n_greedy; i++)
                if (toks[i] != g->greedy[i]) {
                    fprintf(stderr, "  first difference at %d: %d vs golden %d\n", i, toks[i], g->greedy[i]);
                    break;
                }
        }
    }
    free(logits);
    pg_vocab_free(v);
    fwd_close(&c);
    golden_free(gc, n);
}

/* only: NULL = every syn-a file; else a list of type suffixes */
static void test_syn(const char *td, const char *const *only) {
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/models", td);
    DIR *d = opendir(dir);
    REQUIRE(d);
    struct dirent *e;
    int files = 0;
    while ((e = readdir(d))) {
        if (strncmp(e->d_name, "syn-a-", 6) || !strstr(e->d_name, ".gguf")) continue;
        char path[1400], gdir[1400], name[256];
        snprintf(name, sizeof name, "%.*s", (int)(strlen(e->d_name) - 5), e->d_name);
        if (only) {
            int keep = 0;
            for (int i = 0; only[i]; i++) keep |= !strcmp(name + 6, only[i]);
            if (!keep) continue;
        }
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        snprintf(gdir, sizeof gdir, "%s/golden/%s", td, name);
        golden_case *gc;
        int n = golden_load(gdir, &gc);
        if (n <= 0) continue;
        files++;
        ctx c;
        CHECKF(ctx_open(&c, path, 8, 64, 1, PG_KV_F16) == 0, "open %s", name);
        if (!c.m) continue;
        int32_t table[8] = {0, 1, 2, 3, 4, 5, 6, 7};
        float *logits = malloc((size_t)c.n_vocab * 4);
        double worst = 1;
        for (int k = 0; k < n; k++) {
            golden_case *g = &gc[k];
            if (!g->logits || g->n_logits != (size_t)c.n_vocab) continue;
            fwd_run_seq(&c, table, 8, g->prompt_tokens, g->n_prompt, 0, 64, logits);
            double cs = golden_cosine(logits, g->logits, (size_t)c.n_vocab);
            if (cs < worst) worst = cs;
            CHECKF(cs >= 0.999, "%s case %d cosine %.6f", name, k, cs);
            int top = fwd_argmax(logits, c.n_vocab), gtop = fwd_argmax(g->logits, c.n_vocab);
            CHECKF(g->logits[gtop] - g->logits[top] <= 0.05f, "%s case %d top-1 %d (golden logit %.4f, max %.4f)",
                   name, k, top, g->logits[top], g->logits[gtop]);
        }
        fprintf(stderr, "%s: worst cosine %.6f over %d prompts\n", name, worst, n);
        free(logits);
        fwd_close(&c);
        golden_free(gc, n);
    }
    closedir(d);
    CHECKF(only ? files > 0 : files >= 14, "found %d syn-a models", files);
}

/* Several sequences in one batch (different lengths, interleaved tokens,
 * scattered blocks) give bit-identical logits to each run alone, and a
 * prefill in chunks of 3 equals the whole prefill. */
static void test_batch_invariance(const char *td) {
    char path[1024], gdir[1024];
    snprintf(path, sizeof path, "%s/models/syn-a-q4_k_m.gguf", td);
    snprintf(gdir, sizeof gdir, "%s/golden/syn-a-q4_k_m", td);
    golden_case *gc;
    int n = golden_load(gdir, &gc);
    REQUIRE(n >= 4);
    ctx c;
    REQUIRE(ctx_open(&c, path, 64, 256, 8, PG_KV_F16) == 0);
    const int NS = 4;
    float *alone = malloc((size_t)NS * c.n_vocab * 4), *batched = malloc((size_t)NS * c.n_vocab * 4);
    int32_t tables[4][4];
    for (int s = 0; s < NS; s++)
        for (int b = 0; b < 4; b++) tables[s][b] = 63 - (b * NS + s); /* scattered */
    for (int s = 0; s < NS; s++) fwd_run_seq(&c, tables[s], 4, gc[s].prompt_tokens, gc[s].n_prompt, 0, 256, alone + (size_t)s * c.n_vocab);
    /* interleave all prompts' tokens in one batch */
    int32_t toks[256], pos[256], seq[256], out[4];
    pg_batch_seq seqs[4];
    int T = 0, maxn = 0;
    for (int s = 0; s < NS; s++) {
        seqs[s] = (pg_batch_seq){tables[s], 4};
        if (gc[s].n_prompt > maxn) maxn = gc[s].n_prompt;
    }
    for (int i = 0; i < maxn; i++)
        for (int s = NS - 1; s >= 0; s--)
            if (i < gc[s].n_prompt) {
                toks[T] = gc[s].prompt_tokens[i];
                pos[T] = i;
                seq[T] = s;
                if (i == gc[s].n_prompt - 1) out[s] = T;
                T++;
            }
    pg_batch b = {T, toks, pos, seq, NS, seqs, NS, out};
    pg_error err = {0};
    REQUIRE(pg_forward_run(c.f, c.kv, &b, batched, &err) == 0);
    CHECKF(!memcmp(alone, batched, (size_t)NS * c.n_vocab * 4), "batched logits differ from alone");
    /* chunked prefill */
    float *chunked = malloc((size_t)c.n_vocab * 4);
    fwd_run_seq(&c, tables[0], 4, gc[0].prompt_tokens, gc[0].n_prompt, 0, 3, chunked);
    CHECKF(!memcmp(alone, chunked, (size_t)c.n_vocab * 4), "chunked prefill differs from whole prefill");
    free(alone);
    free(batched);
    free(chunked);
    fwd_close(&c);
    golden_free(gc, n);
}

/* Attention items cover runs of consecutive tokens of one sequence (up to
 * 16 / group tokens share the query tile, forward.c). A batch whose runs
 * start mid-block, cross KV block boundaries (BS = 16), abut the other
 * sequence's tokens and resume a sequence later in the batch (not always
 * in position order) gives every
 * probed token the bits it gets when its sequence is fed one token at a
 * time. file: group < 16 (stories260K 2, syn-a 4, gemma2 2 with a sliding
 * window of 8 and a soft-cap). */
static void test_runs(const char *td, const char *file, int kv_type) {
    char path[1024];
    snprintf(path, sizeof path, "%s/models/%s", td, file);
    ctx c;
    CHECKF(ctx_open(&c, path, 64, 256, 8, kv_type) == 0, "open %s", file);
    if (!c.m) return;
    enum { NB = 8, NP = 7, NSEG = 6 };
    const int lens[2] = {37, 29};
    int32_t toks[2][40], tables[2][NB];
    uint32_t r = 12345;
    for (int s = 0; s < 2; s++) {
        for (int i = 0; i < 40; i++) {
            r = r * 1664525u + 1013904223u;
            toks[s][i] = (int32_t)((r >> 8) % (uint32_t)c.n_vocab);
        }
        for (int b = 0; b < NB; b++) tables[s][b] = 63 - (b * 2 + s); /* scattered */
    }
    /* (seq, first pos, count). Where one sequence's tokens meet the other's
     * at the next position (1:4 | 0:5, 0:20 | 1:21) a run must still end. */
    static const int segs[NSEG][3] = {{0, 0, 5}, {1, 0, 5}, {0, 5, 16}, {1, 21, 8}, {1, 5, 16}, {0, 21, 16}};
    static const int probes[NP][2] = {{0, 36}, {1, 28}, {1, 4}, {0, 20}, {1, 17}, {0, 5}, {1, 21}};
    size_t V = (size_t)c.n_vocab;
    float *alone = malloc(NP * V * 4), *batched = malloc(NP * V * 4);
    for (int k = 0; k < NP; k++)
        fwd_run_seq(&c, tables[probes[k][0]], NB, toks[probes[k][0]], probes[k][1] + 1, 0, 1, alone + k * V);
    int32_t tk[128], ps[128], sq[128], out[NP];
    int T = 0;
    for (int g = 0; g < NSEG; g++)
        for (int i = 0; i < segs[g][2]; i++) {
            sq[T] = segs[g][0];
            ps[T] = segs[g][1] + i;
            tk[T] = toks[sq[T]][ps[T]];
            for (int k = 0; k < NP; k++)
                if (probes[k][0] == sq[T] && probes[k][1] == ps[T]) out[k] = T;
            T++;
        }
    REQUIRE(T == lens[0] + lens[1]);
    pg_batch_seq seqs[2] = {{tables[0], NB}, {tables[1], NB}};
    pg_batch b = {T, tk, ps, sq, 2, seqs, NP, out};
    pg_error err = {0};
    REQUIRE(pg_forward_run(c.f, c.kv, &b, batched, &err) == 0);
    for (int k = 0; k < NP; k++)
        CHECKF(!memcmp(alone + k * V, batched + k * V, V * 4), "%s: runs batch, seq %d pos %d differs from token by token",
               file, probes[k][0], probes[k][1]);
    free(alone);
    free(batched);
    fwd_close(&c);
}

static void test_bad_batches(const char *td) {
    char path[1024];
    snprintf(path, sizeof path, "%s/models/stories260K.gguf", td);
    ctx c;
    REQUIRE(ctx_open(&c, path, 2, 8, 1, PG_KV_F32) == 0);
    int32_t table[2] = {0, 1}, bad_table[2] = {0, 7};
    pg_batch_seq s = {table, 2}, sb = {bad_table, 2};
    int32_t tok = 1, badtok = 100000, pos0 = 0, pos_far = 40, seq0 = 0, out0 = 0;
    float *logits = malloc((size_t)c.n_vocab * 4);
    pg_error err = {0};
    pg_batch b1 = {1, &badtok, &pos0, &seq0, 1, &s, 1, &out0};
    CHECK(pg_forward_run(c.f, c.kv, &b1, logits, &err) == PG_EINVAL && strstr(err.msg, "vocabulary"));
    pg_batch b2 = {1, &tok, &pos_far, &seq0, 1, &s, 1, &out0};
    CHECK(pg_forward_run(c.f, c.kv, &b2, logits, &err) == PG_EINVAL);
    int32_t pos17 = 17;
    pg_batch b3 = {1, &tok, &pos17, &seq0, 1, &sb, 1, &out0};
    CHECK(pg_forward_run(c.f, c.kv, &b3, logits, &err) == PG_EINVAL && strstr(err.msg, "block"));
    pg_batch b4 = {9, &tok, &pos0, &seq0, 1, &s, 1, &out0};
    CHECK(pg_forward_run(c.f, c.kv, &b4, logits, &err) == PG_EINVAL);
    free(logits);
    fwd_close(&c);
    /* a file that is not a model */
    pg_model *m;
    CHECK(pg_model_load("/nonexistent.gguf", &m, &err) < 0 && strlen(err.msg) > 0);
    char vpath[1024];
    snprintf(vpath, sizeof vpath, "%s/tokenizer/ggml-vocab-llama-spm.gguf", td);
    int rc = pg_model_load(vpath, &m, &err);
    CHECKF(rc < 0, "vocab-only file loads as a model");
    fprintf(stderr, "vocab-only load error: %s\n", err.msg);
}

int main(void) {
    const char *td = t_testdata();
    if (!td) SKIP("test data not found (set PAGODA_TESTDATA)");
    test_stories(td);
    test_syn(td, NULL);
    test_batch_invariance(td);
    test_runs(td, "stories260K.gguf", PG_KV_F16);
    test_runs(td, "syn-a-q4_k_m.gguf", PG_KV_F32);
    test_runs(td, "arch-gemma2-q8_0.gguf", PG_KV_F16);
    /* quantized KV: runs and block boundaries still give token-by-token bits */
    test_runs(td, "stories260K.gguf", PG_KV_Q8_0);
    test_runs(td, "syn-a-q4_k_m.gguf", PG_KV_Q4_0);
    test_runs(td, "arch-gemma2-q8_0.gguf", PG_KV_Q8_0);
    test_bad_batches(td);
    /* the lower dispatch levels (what a CPU without AVX-512 runs) */
    static const char *const some[] = {"q4_0", "q8_0", "q4_k_m", "q6_k", "iq4_xs", "f16", "q2_k", NULL};
    for (int lv = (int)pg_cpu_level_max() - 1; lv >= 0; lv--) {
        pg_cpu_level_set((pg_cpu_level)lv);
        fprintf(stderr, "-- dispatch level %s\n", pg_cpu_level_name((pg_cpu_level)lv));
        test_stories(td);
        test_syn(td, some);
        test_batch_invariance(td);
        test_runs(td, "stories260K.gguf", PG_KV_F16);
        test_runs(td, "arch-gemma2-q8_0.gguf", PG_KV_F32);
    }
    return t_done("test_model");
}
