/* embed_bench.c - `pagoda bench embed`: embedding throughput of
 * engine/embed, batched against one input per pass.
 *
 * N texts of W words each (default 1,000 texts of 48 words: with a BERT
 * vocabulary's [CLS] / [SEP] about 50 tokens) are made from a fixed list of
 * common English words by a fixed-seed xorshift, so every run embeds the
 * same texts. C client threads (default 8, like 8 concurrent HTTP clients)
 * each take the next text from a shared counter and call pg_embed with that
 * one text, until all are done. Mode "batched": the embedder joins the
 * concurrent callers' inputs into shared passes (up to
 * --max-batched-tokens tokens and --max-batch-inputs inputs); mode
 * "one-at-a-time": max_batch_inputs = 1, one input per pass, the way
 * llama.cpp-style servers process embeddings. Tokenization is part of the
 * measured time (it is part of a request). Wall time runs from the start of
 * the clients to the last result; figures are the medians of R runs (default
 * 3) of inputs/s and tokens/s, with the mean inputs per pass and the CPU
 * time per input (steadier than wall time on a shared machine). The model is
 * loaded once; the two modes alternate run by run (so a drifting machine load
 * hits both alike); T compute threads (default 2). Speed target: batched at
 * least 1.5x the one-at-a-time inputs/s at concurrency 8 on emb-bert. */
#include "bench.h"

#include "base/pool.h"
#include "engine/embed.h"
#include "model/model.h"
#include "tokenizer/tokenizer.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *const k_words[] = {
    "the",    "of",     "and",   "to",     "in",    "is",     "was",    "for",   "on",     "with",  "as",
    "by",     "at",     "from",  "this",   "that",  "city",   "river",  "house", "school", "music", "water",
    "people", "world",  "year",  "time",   "small", "large",  "green",  "old",   "new",    "early", "later",
    "north",  "south",  "game",  "team",   "book",  "light",  "street", "paper", "market", "field", "story",
    "family", "church", "road",  "energy", "power", "island", "summer", "winter"};

typedef struct {
    pg_embedder *e;
    char **texts;
    int n;
    int next;
    int64_t tokens;
    int errors;
    pthread_mutex_t mu;
} eb_state;

static void *client(void *arg) {
    eb_state *s = arg;
    for (;;) {
        pthread_mutex_lock(&s->mu);
        int i = s->next < s->n ? s->next++ : -1;
        pthread_mutex_unlock(&s->mu);
        if (i < 0) return NULL;
        pg_embed_input in = {s->texts[i], strlen(s->texts[i]), NULL, 0};
        pg_embed_result r;
        pg_error err = {0};
        int rc = pg_embed(s->e, &in, 1, NULL, &r, &err);
        pthread_mutex_lock(&s->mu);
        if (rc < 0) {
            if (!s->errors) fprintf(stderr, "bench embed: %s\n", err.msg);
            s->errors++;
        } else {
            s->tokens += r.prompt_tokens;
        }
        pthread_mutex_unlock(&s->mu);
        if (rc == 0) pg_embed_result_free(&r);
    }
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

typedef struct {
    double ips[16], tps[16], pp[16], cpu[16]; /* per run */
    int64_t tokens;
} eb_result;

static double cpu_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* One run of all texts through e by conc client threads. */
static int run_once(pg_embedder *e, int conc, char **texts, int n, int r, eb_result *res) {
    eb_state s = {e, texts, n, 0, 0, 0, PTHREAD_MUTEX_INITIALIZER};
    pg_embed_stats s0, s1;
    pg_embedder_stats(e, &s0);
    pthread_t th[256];
    double t0 = now_s(), c0 = cpu_s();
    for (int c = 0; c < conc; c++) pthread_create(&th[c], NULL, client, &s);
    for (int c = 0; c < conc; c++) pthread_join(th[c], NULL);
    double dt = now_s() - t0, dc = cpu_s() - c0;
    pg_embedder_stats(e, &s1);
    if (s.errors) return -1;
    res->ips[r] = n / dt;
    res->tps[r] = (double)s.tokens / dt;
    res->pp[r] = (double)(s1.inputs - s0.inputs) / (double)(s1.passes - s0.passes);
    res->cpu[r] = dc * 1e3 / n;
    res->tokens = s.tokens;
    printf("    run %d: %.2f s, %.1f inputs/s, %.0f tokens/s, %.2f inputs per pass, %.2f CPU ms per input\n", r + 1, dt,
           res->ips[r], res->tps[r], res->pp[r], res->cpu[r]);
    fflush(stdout);
    return 0;
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof(double), cmp_d);
    return v[n / 2];
}

static int usage(const char *msg) {
    fprintf(stderr,
            "pagoda bench embed: %s (usage: pagoda bench embed -m MODEL [--texts N] [--words W] [--concurrency C] "
            "[--threads T] [--runs R] [--max-batched-tokens B] [--max-batch-inputs I] [--batch-wait-us U] "
            "[--mode both|batched|single])\n",
            msg);
    return 2;
}

int pg_bench_embed(int argc, char **argv) {
    const char *model = NULL, *mode = "both";
    int n = 1000, words = 48, conc = 8, threads = 2, runs = 3, max_tokens = 2048, max_inputs = 64, wait_us = 500;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (i + 1 >= argc) return usage("every option needs a value");
        const char *val = argv[++i];
        int *dst = !strcmp(a, "--texts") ? &n
                   : !strcmp(a, "--words") ? &words
                   : !strcmp(a, "--concurrency") ? &conc
                   : !strcmp(a, "--threads") ? &threads
                   : !strcmp(a, "--runs") ? &runs
                   : !strcmp(a, "--max-batched-tokens") ? &max_tokens
                   : !strcmp(a, "--max-batch-inputs") ? &max_inputs
                   : !strcmp(a, "--batch-wait-us") ? &wait_us
                                                      : NULL;
        if (!strcmp(a, "-m") || !strcmp(a, "--model")) model = val;
        else if (!strcmp(a, "--mode")) mode = val;
        else if (!dst) return usage("unknown option");
        else {
            char *end;
            long v = strtol(val, &end, 10);
            if (*end || v < 1 || v > (1 << 20)) return usage("bad number");
            *dst = (int)v;
        }
    }
    if (!model) return usage("-m MODEL is required");
    if (conc > 256 || runs > 15) return usage("--concurrency <= 256, --runs <= 15");
    int do_b = strcmp(mode, "single") != 0, do_s = strcmp(mode, "batched") != 0;
    if (strcmp(mode, "both") && strcmp(mode, "batched") && strcmp(mode, "single")) return usage("bad --mode");
    char **texts = calloc((size_t)n, sizeof *texts);
    if (!texts) return 1;
    uint64_t x = 0x9E3779B97F4A7C15ull;
    const size_t nw = sizeof k_words / sizeof k_words[0];
    for (int i = 0; i < n; i++) {
        texts[i] = malloc((size_t)words * 8 + 1);
        if (!texts[i]) return 1;
        size_t o = 0;
        for (int w = 0; w < words; w++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            const char *s = k_words[x % nw];
            if (w) texts[i][o++] = ' ';
            memcpy(texts[i] + o, s, strlen(s));
            o += strlen(s);
        }
        texts[i][o] = 0;
    }
    printf("pagoda bench embed: %s, %d texts of %d words, concurrency %d, %d threads, median of %d runs "
           "(modes interleaved run by run)\n",
           model, n, words, conc, threads, runs);
    pg_model *m = NULL;
    pg_vocab *v = NULL;
    pg_pool *pool = NULL;
    pg_embedder *eb = NULL, *es = NULL;
    pg_error err = {0};
    int rc = pg_model_load(model, &m, &err);
    if (rc == 0) rc = pg_vocab_load(pg_model_gguf(m), &v, &err);
    if (rc == 0 && !(pool = pg_pool_create(threads))) rc = pg_error_set(&err, PG_ENOMEM, "no threads");
    /* both embedders share the pool: only one runs at a time */
    pg_embed_config cb = {max_tokens, max_inputs, PG_POOL_UNSPEC, -1, wait_us}, cs = {max_tokens, 1, PG_POOL_UNSPEC, -1, -1};
    if (rc == 0 && do_b) rc = pg_embedder_create(m, v, pool, &cb, &eb, &err);
    if (rc == 0 && do_s) rc = pg_embedder_create(m, v, pool, &cs, &es, &err);
    if (rc < 0) fprintf(stderr, "bench embed: %s\n", err.msg);
    eb_result rb = {0}, rs = {0};
    for (int r = 0; r < runs && rc == 0; r++) {
        if (do_b) {
            printf("  batched (up to %d tokens, %d inputs per pass, gather %d us):\n", max_tokens, max_inputs, wait_us);
            rc |= run_once(eb, conc, texts, n, r, &rb);
        }
        if (do_s && rc == 0) {
            printf("  one at a time (batching off):\n");
            rc |= run_once(es, conc, texts, n, r, &rs);
        }
    }
    double bi = 0, si = 0;
    if (rc == 0 && do_b) {
        bi = median(rb.ips, runs);
        printf("batched: %.1f inputs/s, %.0f tokens/s (%.1f tokens per input), %.2f inputs per pass, %.2f CPU ms per "
               "input\n",
               bi, median(rb.tps, runs), (double)rb.tokens / n, median(rb.pp, runs), median(rb.cpu, runs));
    }
    if (rc == 0 && do_s) {
        si = median(rs.ips, runs);
        printf("one at a time: %.1f inputs/s, %.0f tokens/s, %.2f CPU ms per input\n", si, median(rs.tps, runs),
               median(rs.cpu, runs));
    }
    if (rc == 0 && do_b && do_s)
        printf("batched / one at a time: %.2fx inputs/s (target >= 1.5x at concurrency 8: %s)\n", bi / si,
               bi / si >= 1.5 ? "met" : "NOT met");
    pg_embedder_destroy(eb);
    pg_embedder_destroy(es);
    pg_pool_destroy(pool);
    pg_vocab_free(v);
    pg_model_free(m);
    for (int i = 0; i < n; i++) free(texts[i]);
    free(texts);
    return rc ? 1 : 0;
}
