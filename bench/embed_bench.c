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
 * least 1.5x the one-at-a-time inputs/s at concurrency 8 on emb-bert.
 *
 * Server mode (--url http://HOST:PORT instead of -m): the same texts and
 * client threads, each text one POST /v1/embeddings (encoding_format
 * base64, as the official SDKs send it; a new loopback connection per
 * request) to a running `pagoda serve`; tokens come from usage.prompt_tokens.
 * Batching is then the server's choice: compare a server started with the
 * defaults against one started with --embed-batch-inputs 1. */
#include "bench.h"

#include "base/pool.h"
#include "engine/embed.h"
#include "model/model.h"
#include "tokenizer/tokenizer.h"

#include <jansson.h>
#include <netdb.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>
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
    const char *host, *port; /* server mode */
    pg_embedder *e;
    char **texts;
    int n;
    int next;
    int64_t tokens;
    int errors;
    pthread_mutex_t mu;
} eb_state;

/* One POST /v1/embeddings of text over a fresh connection: the prompt
 * tokens of a 200, or -1 with msg filled. */
static int64_t http_embed(const char *host, const char *port, const char *text, char *msg, size_t cap) {
    struct addrinfo hints = {0}, *ai = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(host, port, &hints, &ai) || !ai) {
        snprintf(msg, cap, "cannot resolve %s", host);
        return -1;
    }
    int fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
    if (fd < 0 || connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
        freeaddrinfo(ai);
        if (fd >= 0) close(fd);
        snprintf(msg, cap, "cannot connect to %s:%s", host, port);
        return -1;
    }
    freeaddrinfo(ai);
    size_t tl = strlen(text), bl = tl + 64;
    char *req = malloc(bl + 256);
    if (!req) {
        close(fd);
        return -1;
    }
    char *body = req + 256;
    int bn = snprintf(body, bl, "{\"input\":\"%s\",\"encoding_format\":\"base64\"}", text);
    int hl = snprintf(req, 256,
                      "POST /v1/embeddings HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"
                      "Connection: close\r\nContent-Length: %d\r\n\r\n",
                      host, bn);
    memmove(req + hl, body, (size_t)bn);
    size_t n = (size_t)hl + (size_t)bn;
    for (size_t off = 0; off < n;) {
        ssize_t w = write(fd, req + off, n - off);
        if (w <= 0) break;
        off += (size_t)w;
    }
    free(req);
    size_t cap2 = 1 << 16, len = 0;
    char *resp = malloc(cap2);
    ssize_t k;
    while (resp && (k = read(fd, resp + len, cap2 - len - 1)) > 0) {
        len += (size_t)k;
        if (len + 1 == cap2) {
            char *r2 = realloc(resp, cap2 * 2);
            if (!r2) break;
            resp = r2;
            cap2 *= 2;
        }
    }
    close(fd);
    if (!resp) return -1;
    resp[len] = 0;
    int status = 0;
    sscanf(resp, "HTTP/1.%*d %d", &status);
    char *rb = strstr(resp, "\r\n\r\n");
    int64_t tokens = -1;
    json_t *o = rb ? json_loads(rb + 4, 0, NULL) : NULL;
    if (status == 200 && o) tokens = json_integer_value(json_object_get(json_object_get(o, "usage"), "prompt_tokens"));
    if (tokens <= 0) snprintf(msg, cap, "HTTP %d: %.200s", status, rb ? rb + 4 : resp);
    json_decref(o);
    free(resp);
    return tokens > 0 ? tokens : -1;
}

static void *client(void *arg) {
    eb_state *s = arg;
    if (s->host) {
        for (;;) {
            pthread_mutex_lock(&s->mu);
            int i = s->next < s->n ? s->next++ : -1;
            pthread_mutex_unlock(&s->mu);
            if (i < 0) return NULL;
            char msg[300] = "";
            int64_t t = http_embed(s->host, s->port, s->texts[i], msg, sizeof msg);
            pthread_mutex_lock(&s->mu);
            if (t < 0 && !s->errors++) fprintf(stderr, "bench embed: %s\n", msg);
            if (t > 0) s->tokens += t;
            pthread_mutex_unlock(&s->mu);
        }
    }
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

/* One run of all texts through e (or the server at host:port) by conc
 * client threads. */
static int run_once(const char *host, const char *port, pg_embedder *e, int conc, char **texts, int n, int r,
                    eb_result *res) {
    eb_state s = {host, port, e, texts, n, 0, 0, 0, PTHREAD_MUTEX_INITIALIZER};
    pg_embed_stats s0 = {0}, s1 = {0};
    if (e) pg_embedder_stats(e, &s0);
    pthread_t th[256];
    double t0 = now_s(), c0 = cpu_s();
    for (int c = 0; c < conc; c++) pthread_create(&th[c], NULL, client, &s);
    for (int c = 0; c < conc; c++) pthread_join(th[c], NULL);
    double dt = now_s() - t0, dc = cpu_s() - c0;
    if (e) pg_embedder_stats(e, &s1);
    if (s.errors) return -1;
    res->ips[r] = n / dt;
    res->tps[r] = (double)s.tokens / dt;
    res->pp[r] = e ? (double)(s1.inputs - s0.inputs) / (double)(s1.passes - s0.passes) : 0;
    res->cpu[r] = dc * 1e3 / n;
    res->tokens = s.tokens;
    if (e)
        printf("    run %d: %.2f s, %.1f inputs/s, %.0f tokens/s, %.2f inputs per pass, %.2f CPU ms per input\n", r + 1,
               dt, res->ips[r], res->tps[r], res->pp[r], res->cpu[r]);
    else
        printf("    run %d: %.2f s, %.1f inputs/s, %.0f tokens/s (client CPU %.2f ms per input)\n", r + 1, dt,
               res->ips[r], res->tps[r], res->cpu[r]);
    fflush(stdout);
    return 0;
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof(double), cmp_d);
    return v[n / 2];
}

static int usage(const char *msg) {
    fprintf(stderr,
            "pagoda bench embed: %s (usage: pagoda bench embed -m MODEL|--url http://HOST:PORT [--texts N] [--words W] [--concurrency C] "
            "[--threads T] [--runs R] [--max-batched-tokens B] [--max-batch-inputs I] [--batch-wait-us U] "
            "[--mode both|batched|single])\n",
            msg);
    return 2;
}

int pg_bench_embed(int argc, char **argv) {
    const char *model = NULL, *mode = "both", *url = NULL;
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
        else if (!strcmp(a, "--url")) url = val;
        else if (!dst) return usage("unknown option");
        else {
            char *end;
            long v = strtol(val, &end, 10);
            if (*end || v < 1 || v > (1 << 20)) return usage("bad number");
            *dst = (int)v;
        }
    }
    if (!model == !url) return usage("give -m MODEL, or --url http://HOST:PORT of a running server");
    char host[256] = "", port[16] = "80";
    if (url) {
        const char *h = !strncmp(url, "http://", 7) ? url + 7 : NULL;
        if (!h) return usage("--url must start with http://");
        size_t hl = strcspn(h, ":/");
        if (!hl || hl >= sizeof host) return usage("--url has no host");
        memcpy(host, h, hl);
        host[hl] = 0;
        if (h[hl] == ':') {
            size_t pl = strcspn(h + hl + 1, "/");
            if (!pl || pl >= sizeof port) return usage("--url has a bad port");
            memcpy(port, h + hl + 1, pl);
            port[pl] = 0;
        }
    }
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
    if (url) {
        printf("pagoda bench embed: server %s (POST /v1/embeddings, one text per request), %d texts of %d words, "
               "concurrency %d, median of %d runs\n",
               url, n, words, conc, runs);
        eb_result rv = {0};
        int rc = 0;
        for (int r = 0; r < runs && rc == 0; r++) rc = run_once(host, port, NULL, conc, texts, n, r, &rv);
        if (rc == 0)
            printf("server: %.1f inputs/s, %.0f tokens/s (%.1f tokens per input); batching is the server's "
                   "(--embed-batch-inputs)\n",
                   median(rv.ips, runs), median(rv.tps, runs), (double)rv.tokens / n);
        for (int i = 0; i < n; i++) free(texts[i]);
        free(texts);
        return rc ? 1 : 0;
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
            rc |= run_once(NULL, NULL, eb, conc, texts, n, r, &rb);
        }
        if (do_s && rc == 0) {
            printf("  one at a time (batching off):\n");
            rc |= run_once(NULL, NULL, es, conc, texts, n, r, &rs);
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
