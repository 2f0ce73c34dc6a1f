/* test_tokenizer.c - tokenizers against the reference vectors in
 * $PAGODA_TESTDATA/tokenizer, detokenization round trips, the streaming
 * detokenizer property, malformed input and special-token parsing. */
#include "test.h"

#include "gguf/gguf.h"
#include "tokenizer/tokenizer.h"

#include <jansson.h>
#include <stdint.h>

static const char *const k_vocabs[] = {"llama-spm", "phi-3", "gpt-2", "deepseek-coder",
                                       "falcon", "starcoder", "mpt", "bert-bge"};
#define N_VOCABS (sizeof k_vocabs / sizeof k_vocabs[0])

static const char *g_dir;

static pg_vocab *load_vocab(const char *name) {
    char path[1024];
    snprintf(path, sizeof path, "%s/tokenizer/ggml-vocab-%s.gguf", g_dir, name);
    pg_gguf *g = NULL;
    pg_error err = {0};
    if (pg_gguf_open(path, &g, &err) != PG_OK) {
        fprintf(stderr, "open %s: %s\n", path, err.msg);
        return NULL;
    }
    pg_vocab *v = NULL;
    if (pg_vocab_load(g, &v, &err) != PG_OK) fprintf(stderr, "vocab %s: %s\n", path, err.msg);
    pg_gguf_close(g); /* the vocab must not depend on the file */
    return v;
}

/* test strings of a vocab: split on "\n__ggml_vocab_test__\n" */
typedef struct {
    char *buf;
    const char *s[256];
    size_t len[256];
    int n;
} strings;

static int load_strings(const char *name, strings *st) {
    char path[1024];
    snprintf(path, sizeof path, "%s/tokenizer/ggml-vocab-%s.gguf.inp", g_dir, name);
    size_t n;
    st->buf = t_read_file(path, &n);
    st->n = 0;
    if (!st->buf) return -1;
    const char *sep = "\n__ggml_vocab_test__\n";
    size_t sl = strlen(sep);
    const char *p = st->buf, *end = st->buf + n;
    while (p < end && st->n < 256) {
        const char *q = memmem(p, (size_t)(end - p), sep, sl);
        if (!q) break;
        st->s[st->n] = p;
        st->len[st->n] = (size_t)(q - p);
        st->n++;
        p = q + sl;
    }
    return 0;
}

static int64_t tok(const pg_vocab *v, const char *s, size_t n, int add, int parse, int32_t **ids) {
    pg_error err = {0};
    int64_t k = pg_tokenize(v, s, n, add, parse, NULL, 0, &err);
    if (k < 0) {
        fprintf(stderr, "tokenize failed: %s\n", err.msg);
        *ids = NULL;
        return k;
    }
    *ids = malloc(((size_t)k + 1) * sizeof **ids);
    int64_t k2 = pg_tokenize(v, s, n, add, parse, *ids, (size_t)k, &err);
    if (k2 != k) fprintf(stderr, "tokenize: count changed %lld -> %lld\n", (long long)k, (long long)k2);
    return k;
}

static void print_escaped(const char *s, size_t n) {
    fputc('"', stderr);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\n') fputs("\\n", stderr);
        else if (c == '\t') fputs("\\t", stderr);
        else if (c < 0x20 || c == 0x7f) fprintf(stderr, "\\x%02x", c);
        else fputc(c, stderr);
    }
    fputc('"', stderr);
}

/* ---- (1) reference vectors ---- */
static int test_vectors(const pg_vocab *v, const char *name, const strings *st, int *total) {
    char path[1024];
    snprintf(path, sizeof path, "%s/tokenizer/ggml-vocab-%s.gguf.out", g_dir, name);
    char *out = t_read_file(path, NULL);
    REQUIRE(out);
    char *line = out;
    int pass = 0;
    for (int i = 0; i < st->n; i++) {
        char *nl = strchr(line, '\n');
        if (nl) *nl = 0;
        int32_t exp[4096];
        int ne = 0;
        for (char *p = line; *p && ne < 4096;) {
            char *e;
            long x = strtol(p, &e, 10);
            if (e == p) break;
            exp[ne++] = (int32_t)x;
            p = e;
        }
        int32_t *ids;
        int64_t k = tok(v, st->s[i], st->len[i], 0, 0, &ids);
        int ok = k == ne && (ne == 0 || memcmp(ids, exp, (size_t)ne * sizeof *exp) == 0);
        if (ok) pass++;
        else {
            fprintf(stderr, "MISMATCH %s #%d ", name, i);
            print_escaped(st->s[i], st->len[i]);
            fprintf(stderr, "\n  got:     ");
            for (int64_t j = 0; j < k; j++) fprintf(stderr, " %d", ids[j]);
            fprintf(stderr, "\n  expected:");
            for (int j = 0; j < ne; j++) fprintf(stderr, " %d", exp[j]);
            fputc('\n', stderr);
        }
        CHECK(ok);
        free(ids);
        line = nl ? nl + 1 : line + strlen(line);
    }
    free(out);
    fprintf(stderr, "%-15s vectors: %d/%d pass\n", name, pass, st->n);
    *total = st->n;
    return pass;
}

/* strict UTF-8 check: every character complete and well-formed */
static int utf8_ok(const char *s, size_t n) {
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        unsigned c = p[i];
        size_t need;
        unsigned lo = 0x80, hi = 0xBF;
        if (c < 0x80) { i++; continue; }
        if (c >= 0xC2 && c <= 0xDF) need = 1;
        else if (c == 0xE0) need = 2, lo = 0xA0;
        else if (c == 0xED) need = 2, hi = 0x9F;
        else if (c >= 0xE1 && c <= 0xEF) need = 2;
        else if (c == 0xF0) need = 3, lo = 0x90;
        else if (c == 0xF4) need = 3, hi = 0x8F;
        else if (c >= 0xF1 && c <= 0xF3) need = 3;
        else return 0;
        if (i + need >= n) return 0;
        for (size_t j = 1; j <= need; j++) {
            unsigned d = p[i + j];
            if (j == 1 ? (d < lo || d > hi) : (d < 0x80 || d > 0xBF)) return 0;
        }
        i += need + 1;
    }
    return 1;
}

/* raw concatenation of pieces, with the leading-space rule applied */
static char *raw_concat(const pg_vocab *v, const int32_t *ids, size_t n, size_t *len, int strip) {
    size_t cap = 64, pos = 0;
    char *b = malloc(cap);
    for (size_t i = 0; i < n; i++) {
        int64_t l = pg_token_to_piece(v, ids[i], NULL, 0, 0);
        while (pos + (size_t)l + 1 > cap) cap *= 2, b = realloc(b, cap);
        pg_token_to_piece(v, ids[i], b + pos, (size_t)l, 0);
        if (strip && !(i == 0 && ids[i] == pg_vocab_bos(v))) {
            if (l > 0 && b[pos] == ' ') memmove(b + pos, b + pos + 1, (size_t)--l);
            strip = 0;
        }
        pos += (size_t)l;
    }
    *len = pos;
    return b;
}

static int is_spm(const pg_vocab *v) { return !strcmp(pg_vocab_kind(v), "llama"); }
static int is_bpe(const pg_vocab *v) { return !strcmp(pg_vocab_kind(v), "gpt2"); }

/* ---- (2) round trip ---- */
static void test_roundtrip(const pg_vocab *v, const char *name, const strings *st) {
    if (!is_spm(v) && !is_bpe(v)) return;
    int ok_all = 1;
    for (int i = 0; i < st->n; i++) {
        for (int add = 0; add <= 1; add++) {
            int32_t *ids;
            int64_t k = tok(v, st->s[i], st->len[i], add, 0, &ids);
            char buf[8192];
            int64_t l = pg_detokenize(v, ids, (size_t)k, buf, sizeof buf, 0);
            int ok = l == (int64_t)st->len[i] && memcmp(buf, st->s[i], st->len[i]) == 0;
            if (!ok) {
                ok_all = 0;
                fprintf(stderr, "ROUNDTRIP %s #%d add=%d: ", name, i, add);
                print_escaped(st->s[i], st->len[i]);
                fprintf(stderr, " -> ");
                print_escaped(buf, l > 0 && l < (int64_t)sizeof buf ? (size_t)l : 0);
                fputc('\n', stderr);
            }
            CHECK(ok);
            free(ids);
        }
    }
    fprintf(stderr, "%-15s round trip: %s\n", name, ok_all ? "ok" : "FAILED");
}

/* ---- (3) streaming property ---- */
static uint64_t rng_state = 0x1234567887654321ull;
static uint32_t rnd(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 11);
}

static const char *const k_multi[] = {
    "Hello world", "нещо на Български", "កាន់តែពិសេសអាចខលចេញ", "🚀 😶‍🌫️ ✅ 🦙",
    "我想在apple工作1314151天～", "Cửa Việt", "مرحبا بالعالم", " \t\n  ", "ÿþ€ 𝔘𝔫𝔦𝔠𝔬𝔡𝔢",
};

static void test_stream(const pg_vocab *v, const char *name) {
    /* pool of ids from tokenizing multi-script text: contains tokens that
     * split characters (byte tokens / byte-level pieces) */
    int32_t pool[4096];
    int np = 0;
    for (size_t i = 0; i < sizeof k_multi / sizeof k_multi[0]; i++) {
        int32_t *ids;
        int64_t k = tok(v, k_multi[i], strlen(k_multi[i]), 0, 0, &ids);
        for (int64_t j = 0; j < k && np < 4000; j++) pool[np++] = ids[j];
        free(ids);
    }
    if (is_spm(v)) /* raw byte tokens, including lone lead/continuation bytes */
        for (int b = 0x80; b < 0x100 && np < 4096; b += 3) {
            char t[8];
            snprintf(t, sizeof t, "<0x%02X>", b);
            int32_t id = pg_vocab_find(v, t, strlen(t));
            if (id >= 0) pool[np++] = id;
        }
    REQUIRE(np > 0);
    int32_t n_tok = pg_vocab_n_tokens(v);
    int bad = 0;
    for (int it = 0; it < 320; it++) {
        int32_t ids[64];
        size_t n = 1 + rnd() % 48;
        for (size_t j = 0; j < n; j++) {
            uint32_t r = rnd() % 10;
            if (r < 6) ids[j] = pool[rnd() % (uint32_t)np];
            else if (r < 9) ids[j] = (int32_t)(rnd() % (uint32_t)n_tok);
            else ids[j] = pg_vocab_bos(v) >= 0 ? pg_vocab_bos(v) : 0;
        }
        if (rnd() % 4 == 0 && pg_vocab_bos(v) >= 0) ids[0] = pg_vocab_bos(v);
        int special = (int)(rnd() % 2);
        size_t cap = rnd() % 3 == 0 ? 4 + rnd() % 6 : 512;
        char whole[65536];
        int64_t wl = pg_detokenize(v, ids, n, whole, sizeof whole, special);
        REQUIRE(wl >= 0 && wl < (int64_t)sizeof whole);
        CHECK(utf8_ok(whole, (size_t)wl));
        pg_detok *d = pg_detok_create(v, special);
        REQUIRE(d);
        char cat[65536];
        size_t cl = 0;
        int chunk_ok = 1;
        for (size_t j = 0; j < n; j++) {
            int64_t k = pg_detok_push(d, ids[j], cat + cl, cap);
            if (k < 0 || (size_t)k > cap || !utf8_ok(cat + cl, (size_t)k)) chunk_ok = 0;
            cl += (size_t)(k > 0 ? k : 0);
        }
        for (int guard = 0; guard < 100000; guard++) { /* small caps may need several flushes */
            int64_t k = pg_detok_flush(d, cat + cl, cap);
            if (k < 0 || !utf8_ok(cat + cl, (size_t)k)) chunk_ok = 0;
            if (k <= 0) break;
            cl += (size_t)k;
        }
        int eq = (int64_t)cl == wl && memcmp(cat, whole, cl) == 0;
        if ((!eq || !chunk_ok) && bad++ < 3) {
            fprintf(stderr, "STREAM %s seq %d (special=%d cap=%zu) eq=%d chunks_ok=%d ids:", name, it, special, cap,
                    eq, chunk_ok);
            for (size_t j = 0; j < n; j++) fprintf(stderr, " %d", ids[j]);
            fputc('\n', stderr);
        }
        CHECK(eq);
        CHECK(chunk_ok);
        /* a reset detokenizer starts over */
        pg_detok_reset(d);
        int64_t k0 = pg_detok_push(d, ids[0], cat, sizeof cat);
        int64_t kf = pg_detok_flush(d, cat + (k0 > 0 ? k0 : 0), sizeof cat - (size_t)(k0 > 0 ? k0 : 0));
        char one[4096];
        int64_t ol = pg_detokenize(v, ids, 1, one, sizeof one, special);
        CHECK(k0 + kf == ol && memcmp(cat, one, (size_t)ol) == 0);
        pg_detok_destroy(d);
    }
    fprintf(stderr, "%-15s streaming: %s\n", name, bad ? "FAILED" : "ok");
}

/* Can the vocab spell byte b as a normal/byte token? (byte-level BPE
 * vocabularies often lack the bytes that never occur in UTF-8, or hold them
 * as added text tokens.) */
static int byte_representable(const pg_vocab *v, unsigned b) {
    char t[8];
    size_t l;
    if (is_spm(v)) {
        snprintf(t, sizeof t, "<0x%02X>", b);
        l = strlen(t);
    } else {
        /* GPT-2 byte -> code point stand-in */
        unsigned cp = b, k = 0;
        int printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
        if (!printable) {
            for (unsigned x = 0; x < b; x++)
                k += !((x >= 0x21 && x <= 0x7E) || (x >= 0xA1 && x <= 0xAC) || x >= 0xAE);
            cp = 256 + k;
        }
        if (cp < 0x80) t[0] = (char)cp, l = 1;
        else t[0] = (char)(0xC0 | (cp >> 6)), t[1] = (char)(0x80 | (cp & 0x3F)), l = 2;
    }
    int32_t id = pg_vocab_find(v, t, l);
    int ty = pg_vocab_token_type(v, id);
    return id >= 0 && (ty == PG_TOKTYPE_NORMAL || ty == PG_TOKTYPE_BYTE);
}

static int all_representable(const pg_vocab *v, const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!byte_representable(v, (unsigned char)s[i])) return 0;
    return 1;
}

/* ---- (4) malformed and large input ---- */
static void test_malformed(const pg_vocab *v, const char *name) {
    static const char *const bad[] = {
        "\x80",          "abc\x80\x80" "def", "\xC3",           "x\xE2\x82",      "\xE2\x82 y",
        "\xF0\x9F\x98",  "\xC0\xAF",       "\xE0\x80\xAF",   "\xF0\x80\x80\xAF", "\xFF\xFE hello \xFF",
        "\xED\xA0\x80",  "\xF4\x90\x80\x80", "  \xC3(  \xA9", "\xF8\x88\x80\x80\x80", "a\0b",
    };
    static const size_t badlen[] = {1, 8, 1, 3, 4, 3, 2, 3, 4, 10, 3, 4, 6, 5, 3};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        for (int parse = 0; parse <= 1; parse++) {
            int32_t *ids;
            int64_t k = tok(v, bad[i], badlen[i], 1, parse, &ids);
            CHECK(k >= 0);
            if (k < 0) continue;
            for (int64_t j = 0; j < k; j++) CHECK(ids[j] >= 0 && ids[j] < pg_vocab_n_tokens(v));
            if ((is_spm(v) || is_bpe(v)) && all_representable(v, bad[i], badlen[i])) { /* bytes survive exactly */
                size_t rl;
                char *raw = raw_concat(v, ids, (size_t)k, &rl, is_spm(v));
                CHECKF(rl == badlen[i] && memcmp(raw, bad[i], rl) == 0, "%s: malformed #%zu lost bytes", name, i);
                free(raw);
            }
            char out[256];
            int64_t l = pg_detokenize(v, ids, (size_t)k, out, sizeof out, 1);
            CHECK(l >= 0 && utf8_ok(out, (size_t)(l < 256 ? l : 0)));
            free(ids);
        }
    }
    /* empty text */
    int32_t one[4];
    CHECK(pg_tokenize(v, "", 0, 0, 0, one, 4, NULL) == 0);
    CHECK(pg_tokenize(v, NULL, 0, 0, 1, NULL, 0, NULL) == 0);
    int64_t ke = pg_tokenize(v, "", 0, 1, 0, one, 4, NULL);
    CHECK(ke == pg_vocab_add_bos(v) + pg_vocab_add_eos(v));
    /* 1 MB of mixed text including invalid bytes */
    size_t big = 1 << 20, pos = 0;
    char *t = malloc(big);
    while (pos < big) {
        const char *s = k_multi[rnd() % (sizeof k_multi / sizeof k_multi[0])];
        size_t l = strlen(s);
        if (rnd() % 16 == 0) s = "\xF0\x9F", l = 2;
        if (pos + l + 1 > big) l = big - pos - 1 < l ? big - pos - 1 : l;
        memcpy(t + pos, s, l);
        pos += l;
        t[pos++] = (char)(rnd() % 3 ? ' ' : '\n');
    }
    int32_t *ids;
    int64_t k = tok(v, t, big, 0, 1, &ids);
    CHECK(k > 1000);
    if (k > 0 && (is_spm(v) || is_bpe(v)) && all_representable(v, t, big)) {
        size_t rl;
        char *raw = raw_concat(v, ids, (size_t)k, &rl, is_spm(v));
        CHECKF(rl == big && memcmp(raw, t, big) == 0, "%s: 1 MB round trip", name);
        free(raw);
    }
    /* one huge "word" (no spaces) and one huge whitespace run */
    memset(t, 'a', big);
    int64_t k2 = pg_tokenize(v, t, big, 0, 0, NULL, 0, NULL);
    CHECK(k2 > 0);
    memset(t, ' ', big);
    int64_t k3 = pg_tokenize(v, t, big, 0, 0, NULL, 0, NULL);
    CHECK(k3 >= 0);
    free(ids);
    free(t);
    fprintf(stderr, "%-15s malformed/large: done (%lld tokens for 1 MB)\n", name, (long long)k);
}

/* ---- (5) special tokens and API details ---- */
static int contains(const int32_t *ids, int64_t n, int32_t id) {
    for (int64_t i = 0; i < n; i++)
        if (ids[i] == id) return 1;
    return 0;
}

static void test_special(pg_vocab **vs) {
    int32_t *ids, *ids2;
    int64_t k, k2;
    for (size_t i = 0; i < N_VOCABS; i++) {
        pg_vocab *v = vs[i];
        if (!v) continue;
        const char *name = k_vocabs[i];
        if (!strcmp(name, "gpt-2")) {
            k = tok(v, "a<|endoftext|>b", 15, 0, 1, &ids);
            CHECK(k == 3 && ids[1] == 50256);
            free(ids);
            k = tok(v, "a<|endoftext|>b", 15, 0, 0, &ids);
            CHECK(k > 3 && !contains(ids, k, 50256));
            free(ids);
            CHECK(pg_vocab_is_eog(v, 50256));
            CHECK(!pg_vocab_add_bos(v));
            k = tok(v, "Hello", 5, 1, 0, &ids);
            CHECK(k == 1 && ids[0] == 15496);
            free(ids);
            char p[32];
            int32_t w = pg_vocab_find(v, "\xc4\xa0world", 7);
            CHECK(w == 995);
            CHECK(pg_token_to_piece(v, w, p, sizeof p, 0) == 6 && !memcmp(p, " world", 6));
            CHECK(pg_token_to_piece(v, 50256, p, sizeof p, 0) == 0);
            CHECK(pg_token_to_piece(v, 50256, p, sizeof p, 1) == 13 && !memcmp(p, "<|endoftext|>", 13));
            /* cap smaller than the result: the total is returned */
            int32_t two[2];
            CHECK(pg_tokenize(v, "Hello world, how are you", 24, 0, 0, two, 2, NULL) > 2 && two[0] == 15496);
        }
        if (!strcmp(name, "phi-3")) {
            const char *s = "<|user|>\nHello<|end|>";
            k = tok(v, s, strlen(s), 1, 1, &ids);
            CHECK(k >= 4 && ids[0] == 1 && ids[1] == 32010 && ids[k - 1] == 32007);
            /* text after a special token gets the SPM space prefix */
            k2 = tok(v, "\nHello", 6, 0, 0, &ids2);
            CHECK(k == k2 + 3 && !memcmp(ids + 2, ids2, (size_t)k2 * sizeof *ids));
            free(ids);
            free(ids2);
            k = tok(v, s, strlen(s), 1, 0, &ids);
            CHECK(k > 4 && !contains(ids, k, 32010) && !contains(ids, k, 32007));
            free(ids);
            CHECK(pg_vocab_is_eog(v, 32007) && pg_vocab_is_eog(v, 32000) && !pg_vocab_is_eog(v, 32010));
            CHECK(pg_vocab_is_control(v, 32010));
            CHECK(pg_vocab_eos(v) == 32000 && pg_vocab_eot(v) == 32007);
        }
        if (!strcmp(name, "llama-spm")) {
            CHECK(pg_vocab_bos(v) == 1 && pg_vocab_eos(v) == 2 && pg_vocab_add_bos(v) && !pg_vocab_add_eos(v));
            k = tok(v, "Hello world", 11, 1, 0, &ids);
            CHECK(k == 3 && ids[0] == 1 && ids[1] == 15043 && ids[2] == 3186);
            char buf[64];
            CHECK(pg_detokenize(v, ids, 3, buf, sizeof buf, 0) == 11 && !memcmp(buf, "Hello world", 11));
            CHECK(pg_detokenize(v, ids, 3, buf, sizeof buf, 1) == 14 && !memcmp(buf, "<s>Hello world", 14));
            free(ids);
            CHECK(pg_token_to_piece(v, 15043, buf, sizeof buf, 0) == 6 && !memcmp(buf, " Hello", 6));
            int32_t b41 = pg_vocab_find(v, "<0x41>", 6);
            CHECK(b41 >= 0 && pg_token_to_piece(v, b41, buf, sizeof buf, 0) == 1 && buf[0] == 'A');
            CHECK(!strcmp(pg_vocab_kind(v), "llama") && pg_vocab_n_tokens(v) == 32000);
            CHECK(pg_vocab_find(v, "no such token here", 18) == -1);
            /* "<s>" is CONTROL: text unless parse_special */
            k = tok(v, "<s>", 3, 0, 1, &ids);
            CHECK(k == 1 && ids[0] == 1);
            free(ids);
            k = tok(v, "<s>", 3, 0, 0, &ids);
            CHECK(k > 1 && !contains(ids, k, 1));
            free(ids);
        }
        if (!strcmp(name, "deepseek-coder")) {
            /* USER_DEFINED tokens are matched even without parse_special */
            k = tok(v, "a<|EOT|>", 8, 0, 0, &ids);
            CHECK(k == 2 && ids[1] == 32021);
            free(ids);
            CHECK(pg_vocab_is_eog(v, 32021) && pg_vocab_is_eog(v, 32014));
        }
        if (!strcmp(name, "bert-bge")) {
            k = tok(v, "Hello world", 11, 1, 0, &ids);
            CHECK(k == 4 && ids[0] == 101 && ids[1] == 7592 && ids[2] == 2088 && ids[3] == 102);
            char buf[64];
            CHECK(pg_detokenize(v, ids, (size_t)k, buf, sizeof buf, 0) == 11 && !memcmp(buf, "hello world", 11));
            free(ids);
            k = tok(v, "[CLS]", 5, 0, 1, &ids);
            CHECK(k == 1 && ids[0] == 101);
            free(ids);
            CHECK(!strcmp(pg_vocab_kind(v), "bert"));
        }
    }
}

/* ---- (6) golden prompts of real models: prompt_tokens (BOS added) ---- */
static void test_golden(const char *model) {
    char path[1024];
    snprintf(path, sizeof path, "%s/golden/%s/golden.jsonl", g_dir, model);
    char *js = t_read_file(path, NULL);
    snprintf(path, sizeof path, "%s/models/%s.gguf", g_dir, model);
    pg_gguf *g = NULL;
    if (!js || pg_gguf_open(path, &g, NULL) != PG_OK) {
        fprintf(stderr, "golden %s: not present, skipped\n", model);
        free(js);
        return;
    }
    pg_vocab *v = NULL;
    pg_error err = {0};
    CHECKF(pg_vocab_load(g, &v, &err) == PG_OK, "%s: %s", model, err.msg);
    pg_gguf_close(g);
    if (!v) {
        free(js);
        return;
    }
    int n = 0, pass = 0;
    for (char *line = strtok(js, "\n"); line; line = strtok(NULL, "\n")) {
        json_t *o = json_loads(line, 0, NULL);
        json_t *pr = json_object_get(o, "prompt"), *pt = json_object_get(o, "prompt_tokens");
        if (!json_is_string(pr) || !json_is_array(pt)) {
            json_decref(o);
            continue;
        }
        int32_t *ids;
        int64_t k = tok(v, json_string_value(pr), json_string_length(pr), 1, 0, &ids);
        int ok = k == (int64_t)json_array_size(pt);
        for (int64_t i = 0; ok && i < k; i++) ok = ids[i] == json_integer_value(json_array_get(pt, (size_t)i));
        if (!ok) fprintf(stderr, "golden %s: prompt \"%s\" tokenized differently\n", model, json_string_value(pr));
        CHECK(ok);
        n++;
        pass += ok;
        free(ids);
        json_decref(o);
    }
    fprintf(stderr, "golden %-12s prompt tokens: %d/%d pass\n", model, pass, n);
    pg_vocab_free(v);
    free(js);
}

int main(void) {
    g_dir = t_testdata();
    if (!g_dir) SKIP("no test data (set PAGODA_TESTDATA)");
    char probe[1024];
    snprintf(probe, sizeof probe, "%s/tokenizer/ggml-vocab-gpt-2.gguf", g_dir);
    struct stat sb;
    if (stat(probe, &sb) != 0) SKIP("no tokenizer vectors in %s", g_dir);
    pg_vocab *vs[N_VOCABS];
    int pass_all = 0, total_all = 0;
    for (size_t i = 0; i < N_VOCABS; i++) {
        vs[i] = load_vocab(k_vocabs[i]);
        CHECKF(vs[i] != NULL, "load %s", k_vocabs[i]);
        if (!vs[i]) continue;
        strings st;
        REQUIRE(load_strings(k_vocabs[i], &st) == 0 && st.n > 0);
        int total = 0;
        pass_all += test_vectors(vs[i], k_vocabs[i], &st, &total);
        total_all += total;
        test_roundtrip(vs[i], k_vocabs[i], &st);
        test_stream(vs[i], k_vocabs[i]);
        test_malformed(vs[i], k_vocabs[i]);
        free(st.buf);
    }
    fprintf(stderr, "vectors: %d/%d pass\n", pass_all, total_all);
    test_special(vs);
    test_golden("stories260K");
    test_golden("arch-phi3-q8_0");
    for (size_t i = 0; i < N_VOCABS; i++) pg_vocab_free(vs[i]);
    return t_done("test_tokenizer");
}
