/* tokenize_bench.c - tokenization throughput per vocabulary.
 *
 * Texts are generated deterministically (xorshift seeded with a constant)
 * so runs are comparable: "english" is sentences drawn from a list of
 * common words with punctuation and paragraph breaks; "mixed" interleaves
 * Latin, Cyrillic, CJK, Arabic, emoji, digits and code snippets. --file
 * replaces both with the file's bytes. Each text is tokenized --runs times
 * (add_special=1, parse_special=0) and the median wall time is reported. */
#include "bench.h" /* same folder: the build has no -I for bench/ */

#include "gguf/gguf.h"
#include "tokenizer/tokenizer.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static uint64_t rs = 0x2545F4914F6CDD1Dull;
static uint32_t rnd(void) {
    rs ^= rs << 13;
    rs ^= rs >> 7;
    rs ^= rs << 17;
    return (uint32_t)(rs >> 16);
}

static const char *const k_words[] = {
    "the", "of", "and", "to", "in", "is", "was", "that", "for", "it", "with", "as", "his", "on", "be", "at",
    "by", "had", "this", "not", "but", "from", "have", "they", "which", "one", "you", "were", "her", "all",
    "she", "there", "would", "their", "we", "him", "been", "has", "when", "who", "will", "more", "if", "no",
    "out", "so", "said", "what", "up", "its", "about", "into", "than", "them", "can", "only", "other", "new",
    "some", "could", "time", "these", "two", "may", "then", "do", "first", "any", "my", "now", "such", "like",
    "our", "over", "man", "me", "even", "most", "made", "after", "also", "did", "many", "before", "must",
    "through", "years", "where", "much", "your", "way", "well", "down", "should", "because", "each", "just",
    "those", "people", "how", "too", "little", "state", "good", "very", "make", "world", "still", "own",
    "see", "men", "work", "long", "get", "here", "between", "both", "life", "being", "under", "never", "day",
    "same", "another", "know", "while", "last", "might", "us", "great", "old", "year", "off", "come", "since",
    "against", "go", "came", "right", "used", "take", "three", "government", "university", "information",
    "development", "understanding", "tokenization", "international", "responsibility", "Wednesday",
    "London", "Paris", "Einstein", "don't", "it's", "we're", "they've", "I'll", "1984", "42", "3.14",
};

static const char *const k_mixed[] = {
    "The quick brown fox jumps over the lazy dog.", "Привет, как дела? Всё хорошо, спасибо.",
    "Съешь же ещё этих мягких французских булок", "我想在苹果公司工作，今天天气很好。", "東京都渋谷区で会いましょう",
    "안녕하세요, 만나서 반갑습니다", "مرحبا بالعالم، كيف حالك اليوم؟", "שלום עולם", "Γειά σου Κόσμε",
    "🚀🔥👍 😶‍🌫️ 🦙🦙 ✅", "1234567890 3.14159 2024-07-26 12:00:00", "int main(void) { return 0; }",
    "for (size_t i = 0; i < n; i++) x[i] += y[i] * 2;", "def f(x):\n    return [v ** 2 for v in x]\n",
    "Cửa Việt — Führer · naïve café résumé", "नमस्ते दुनिया", "ካን ብርሃን", "กรุงเทพมหานคร",
    "{\"key\": [1, 2, 3], \"ok\": true}", "    \t\n\n",
};

static char *gen_english(size_t size) {
    char *t = malloc(size + 64);
    if (!t) return NULL;
    size_t n = 0;
    int start = 1, in_sentence = 0;
    while (n < size) {
        const char *w = k_words[rnd() % (sizeof k_words / sizeof k_words[0])];
        size_t l = strlen(w);
        if (n + l + 3 > size) break;
        if (in_sentence) t[n++] = ' ';
        memcpy(t + n, w, l);
        if (start && w[0] >= 'a' && w[0] <= 'z') t[n] = (char)(w[0] - 32);
        n += l;
        start = 0;
        in_sentence++;
        uint32_t r = rnd() % 100;
        if (in_sentence > 4 && r < 12) {
            t[n++] = r < 9 ? '.' : r < 11 ? '?' : '!';
            t[n++] = rnd() % 8 == 0 ? '\n' : ' ';
            start = 1;
            in_sentence = 0;
        } else if (r > 93) {
            t[n++] = ',';
        }
    }
    while (n < size) t[n++] = ' ';
    t[n] = 0;
    return t;
}

static char *gen_mixed(size_t size) {
    char *t = malloc(size + 1);
    if (!t) return NULL;
    size_t n = 0;
    while (n < size) {
        const char *s = k_mixed[rnd() % (sizeof k_mixed / sizeof k_mixed[0])];
        size_t l = strlen(s);
        if (n + l + 1 > size) break;
        memcpy(t + n, s, l);
        n += l;
        t[n++] = rnd() % 5 ? ' ' : '\n';
    }
    while (n < size) t[n++] = ' ';
    t[n] = 0;
    return t;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int dcmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int bench_one(const pg_vocab *v, const char *vname, const char *tname, const char *text, size_t len,
                     int runs, int32_t *ids, size_t cap) {
    double t[64];
    int64_t n = 0;
    for (int r = 0; r < runs; r++) {
        pg_error err = {0};
        double t0 = now_s();
        n = pg_tokenize(v, text, len, 1, 0, ids, cap, &err);
        t[r] = now_s() - t0;
        if (n < 0) {
            fprintf(stderr, "bench tokenize: %s: %s\n", vname, err.msg);
            return 1;
        }
    }
    qsort(t, (size_t)runs, sizeof t[0], dcmp);
    double med = t[runs / 2];
    printf("%-28s %-8s %9lld tokens %8.2f ms %10.0f tok/s %7.2f MB/s %5.2f bytes/tok\n", vname, tname,
           (long long)n, med * 1e3, (double)n / med, (double)len / med / 1e6, (double)len / (double)(n ? n : 1));
    return 0;
}

int pg_bench_tokenize(int argc, char **argv) {
    int runs = 5;
    size_t size = 1 << 20;
    const char *file = NULL;
    const char *vocabs[64];
    int nv = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--runs") && i + 1 < argc) runs = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--size") && i + 1 < argc) size = (size_t)strtoull(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--file") && i + 1 < argc) file = argv[++i];
        else if (argv[i][0] == '-') {
            fprintf(stderr, "bench tokenize: unknown option '%s'\n", argv[i]);
            return 2;
        } else if (nv < 64) vocabs[nv++] = argv[i];
    }
    if (nv == 0 || runs < 1 || runs > 64 || size == 0 || size > ((size_t)1 << 28)) {
        fprintf(stderr, "usage: bench tokenize [--runs N<=64] [--size BYTES] [--file PATH] VOCAB.gguf...\n");
        return 2;
    }
    const char *names[2] = {"english", "mixed"};
    char *texts[2] = {NULL, NULL};
    size_t lens[2] = {size, size};
    int ntexts = 2;
    if (file) {
        FILE *f = fopen(file, "rb");
        if (!f) {
            fprintf(stderr, "bench tokenize: cannot open %s\n", file);
            return 1;
        }
        fseek(f, 0, SEEK_END);
        long l = ftell(f);
        fseek(f, 0, SEEK_SET);
        texts[0] = l > 0 ? malloc((size_t)l) : NULL;
        lens[0] = texts[0] ? fread(texts[0], 1, (size_t)l, f) : 0;
        fclose(f);
        if (!texts[0]) {
            fprintf(stderr, "bench tokenize: cannot read %s\n", file);
            return 1;
        }
        names[0] = "file";
        ntexts = 1;
    } else {
        texts[0] = gen_english(size);
        texts[1] = gen_mixed(size);
        if (!texts[0] || !texts[1]) {
            free(texts[0]);
            free(texts[1]);
            fprintf(stderr, "bench tokenize: out of memory\n");
            return 1;
        }
    }
    size_t cap = lens[0] > lens[1] || ntexts == 1 ? lens[0] + 16 : lens[1] + 16;
    int32_t *ids = malloc(cap * sizeof *ids); /* at most one token per byte (+BOS/EOS) */
    int rc = ids ? 0 : 1;
    printf("tokenize: median of %d runs, %zu-byte texts\n", runs, lens[0]);
    for (int i = 0; i < nv && rc == 0; i++) {
        pg_gguf *g = NULL;
        pg_vocab *v = NULL;
        pg_error err = {0};
        double t0 = now_s();
        if (pg_gguf_open(vocabs[i], &g, &err) != PG_OK || pg_vocab_load(g, &v, &err) != PG_OK) {
            fprintf(stderr, "bench tokenize: %s\n", err.msg);
            if (g) pg_gguf_close(g);
            rc = 1;
            break;
        }
        double tl = now_s() - t0;
        pg_gguf_close(g);
        const char *base = strrchr(vocabs[i], '/');
        base = base ? base + 1 : vocabs[i];
        char vname[64];
        snprintf(vname, sizeof vname, "%s", base);
        printf("%-28s load %.1f ms (%d tokens, %s/%s)\n", vname, tl * 1e3, pg_vocab_n_tokens(v), pg_vocab_kind(v),
               pg_vocab_pre(v));
        for (int k = 0; k < ntexts && rc == 0; k++)
            rc = bench_one(v, vname, names[k], texts[k], lens[k], runs, ids, cap);
        pg_vocab_free(v);
    }
    free(ids);
    free(texts[0]);
    free(texts[1]);
    return rc;
}
