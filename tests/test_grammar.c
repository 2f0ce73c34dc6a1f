/* test_grammar.c - the grammar engine: GBNF parsing (and its errors), the
 * lexer DFAs, the Earley matcher (languages of hand-written grammars), exact
 * masks against brute force ("try every token by simulating its bytes") on
 * random grammars and random small vocabularies, forced bytes/tokens, the
 * regex and choice front-ends, and real vocabularies from ../shared. */
#include "sample/gram_internal.h"
#include "sample/grammar.h"
#include "gguf/gguf.h"
#include "sample/jsonschema.h"
#include "sample/sampler.h"
#include "test.h"

#include <stdint.h>

static pg_grammar *compile(const char *src) {
    pg_grammar *g = NULL;
    pg_error err;
    pg_error_clear(&err);
    int rc = pg_grammar_compile(src, strlen(src), NULL, &g, &err);
    if (rc) fprintf(stderr, "compile failed: %s\n  grammar: %s\n", err.msg, src);
    return g;
}

/* 1 if the whole string is a sentence, 0 if only a viable prefix, -1 if dead */
static int run_str(pg_grammar *g, const pg_gram_vocab *tv, const char *s, size_t n) {
    pg_gmatch *m = pg_gmatch_create(g, tv);
    int rc = pg_gmatch_accept_bytes(m, s, n);
    int r = rc ? -1 : pg_gmatch_is_accepting(m);
    pg_gmatch_destroy(m);
    return r;
}

static pg_gram_vocab *byte_vocab(void) {
    /* 256 single-byte tokens + EOS = 256 */
    static char bytes[256];
    const char *toks[257];
    size_t lens[257];
    for (int i = 0; i < 256; i++) { bytes[i] = (char)i; toks[i] = &bytes[i]; lens[i] = 1; }
    toks[256] = NULL;
    lens[256] = 0;
    int32_t eos = 256;
    return pg_gram_vocab_create_raw(toks, lens, 257, &eos, 1, NULL);
}

static void expect_lang(pg_grammar *g, const pg_gram_vocab *tv, const char *s, int want) {
    int r = run_str(g, tv, s, strlen(s));
    CHECKF(r == want, "'%s': got %d want %d", s, r, want);
}

static void test_parse_errors(void) {
    const char *bad[][2] = {
        {"", "empty grammar"},
        {"# only a comment\n", "empty grammar"},
        {"root ::= foo", "undefined rule 'foo'"},
        {"root ::= \"abc", "unterminated string"},
        {"root ::= [a-", "unterminated character class"},
        {"root ::= [z-a]", "out of order"},
        {"root ::= (\"a\"", "expected ')'"},
        {"root ::= \"a\" )", "unbalanced"},
        {"root ::= \"\\q\"", "unknown escape"},
        {"root ::= \"a\"{3,1}", "n < m"},
        {"root ::= \"a\"\nroot ::= \"b\"", "defined twice"},
        {"foo ::= \"a\"", "no 'root' rule"},
        {"root ::= x\nx ::= x \"a\"", "matches no string"},
        {"root ::= [^\\x00-\\U0010FFFF]", "matches no string"},
        {"root ::= \"a\" @", "unexpected character"},
        {"root ::= \"a\"{1000000}", "repetition count"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        pg_grammar *g = NULL;
        pg_error err;
        pg_error_clear(&err);
        int rc = pg_grammar_compile(bad[i][0], strlen(bad[i][0]), NULL, &g, &err);
        CHECKF(rc < 0 && !g, "grammar %zu should fail", i);
        CHECKF(strstr(err.msg, bad[i][1]) != NULL, "grammar %zu: message '%s' lacks '%s'", i, err.msg, bad[i][1]);
        pg_grammar_free(g);
    }
    /* line/column */
    pg_grammar *g = NULL;
    pg_error err;
    const char *src = "root ::= a\na ::= \"x\"\n  b ::= [abc\n";
    int rc = pg_grammar_compile(src, strlen(src), NULL, &g, &err);
    CHECK(rc < 0);
    CHECKF(strstr(err.msg, "line 3") != NULL, "%s", err.msg);
}

static void test_languages(void) {
    pg_gram_vocab *tv = byte_vocab();
    REQUIRE(tv);
    pg_grammar *g;
    /* literals, classes, repetition counts */
    g = compile("root ::= \"ab\" [0-9]{2,3} \"c\"?");
    REQUIRE(g);
    expect_lang(g, tv, "ab12", 1);
    expect_lang(g, tv, "ab123", 1);
    expect_lang(g, tv, "ab123c", 1);
    expect_lang(g, tv, "ab12c", 1);
    expect_lang(g, tv, "ab1", 0);
    expect_lang(g, tv, "ab1234", -1);
    expect_lang(g, tv, "ab1c", -1);
    expect_lang(g, tv, "", 0);
    pg_grammar_free(g);
    /* recursion (balanced parentheses), left recursion, nullable rules */
    g = compile("root ::= p\np ::= \"(\" p \")\" p | \"\"");
    REQUIRE(g);
    expect_lang(g, tv, "", 1);
    expect_lang(g, tv, "()", 1);
    expect_lang(g, tv, "(()())()", 1);
    expect_lang(g, tv, "(()", 0);
    expect_lang(g, tv, "())", -1);
    pg_grammar_free(g);
    g = compile("root ::= e\ne ::= e \"+\" t | t\nt ::= t \"*\" f | f\nf ::= [0-9]+ | \"(\" e \")\"");
    REQUIRE(g);
    expect_lang(g, tv, "1+2*3", 1);
    expect_lang(g, tv, "(1+2)*34", 1);
    expect_lang(g, tv, "1+", 0);
    expect_lang(g, tv, "1++", -1);
    expect_lang(g, tv, "(1", 0);
    pg_grammar_free(g);
    /* right-recursive whitespace, groups with references, comments, newlines inside rules */
    g = compile("# comment\nroot ::= \"[\" ws ( item ( \",\" ws item )* )? \"]\"\n"
                "item ::= \"x\" ws | \"[\" ws \"]\" ws   # trailing comment\n"
                "ws ::= ([ \\t\\n] ws)?\n");
    REQUIRE(g);
    expect_lang(g, tv, "[]", 1);
    expect_lang(g, tv, "[ x , x ]", 1);
    expect_lang(g, tv, "[x,[ ],x\n]", 1);
    expect_lang(g, tv, "[x x]", -1);
    expect_lang(g, tv, "[x,", 0);
    pg_grammar_free(g);
    /* UTF-8 classes and escapes; negated classes never match surrogates or invalid bytes */
    g = compile("root ::= [à-ÿ] [^a] \"\\u00e9\\x41\"");
    REQUIRE(g);
    expect_lang(g, tv, "àbéA", 1);
    expect_lang(g, tv, "ÿ€éA", 1);
    expect_lang(g, tv, "ÿ\xf0\x9f\x98\x80\xc3\xa9\x41", 1);
    expect_lang(g, tv, "àa", -1);
    expect_lang(g, tv, "z", -1);
    expect_lang(g, tv, "\xc3", 0);     /* half of à..ÿ */
    expect_lang(g, tv, "\xc3\x9f", -1); /* ß is below à */
    expect_lang(g, tv, "à\xed\xa0\x80", -1); /* a surrogate */
    expect_lang(g, tv, "à\xff", -1);
    pg_grammar_free(g);
    /* ambiguity between lexemes: no greedy lexing ([0-9]+ followed by [0-9]) */
    g = compile("root ::= num [0-9] \"!\"\nnum ::= [0-9]+");
    REQUIRE(g);
    expect_lang(g, tv, "12!", 1);
    expect_lang(g, tv, "1!", -1);
    expect_lang(g, tv, "1234!", 1);
    pg_grammar_free(g);
    /* bounded repetitions too large for one DFA (chunked into lexemes of
     * K = 4000 kids here): lengths around every chunk edge */
    {
        static char buf[25100];
        const struct { const char *src; int lo, hi; } reps[] = {
            {"root ::= \"<\" [a-c]{3000,17000} \">\"", 3000, 17000},
            {"root ::= \"<\" [a-c]{9000} \">\"", 9000, 9000},
            {"root ::= \"<\" [a-c]{5000,12000} \">\"", 5000, 12000},
            {"root ::= \"<\" [a-c]{0,25000} \">\"", 0, 25000},
        };
        for (int r = 0; r < 4; r++) {
            g = compile(reps[r].src);
            REQUIRE(g);
            int lens[] = {0, 1, 999, 1000, 1001, 2999, 3000, 3001, 3999, 4000, 4001, 4999, 5000, 5001, 7999, 8000, 8001,
                          8999, 9000, 9001, 11999, 12000, 12001, 16000, 17000, 17001, 24999, 25000, 25001};
            for (size_t k = 0; k < sizeof lens / sizeof lens[0]; k++) {
                int n = lens[k];
                buf[0] = '<';
                for (int j = 0; j < n; j++) buf[1 + j] = "abc"[j % 3];
                buf[1 + n] = '>';
                int want = (n >= reps[r].lo && n <= reps[r].hi) ? 1 : -1;
                int got = run_str(g, tv, buf, (size_t)n + 2);
                CHECKF(got == want, "%s, %d chars: got %d want %d", reps[r].src, n, got, want);
            }
            pg_grammar_free(g);
        }
    }
    /* the llama.cpp JSON grammar */
    g = compile("root   ::= object\n"
                "value  ::= object | array | string | number | (\"true\" | \"false\" | \"null\") ws\n"
                "object ::=\n  \"{\" ws (\n            string \":\" ws value\n    (\",\" ws string \":\" ws value)*\n  )? \"}\" ws\n"
                "array  ::=\n  \"[\" ws (\n            value\n    (\",\" ws value)*\n  )? \"]\" ws\n"
                "string ::=\n  \"\\\"\" (\n    [^\"\\\\\\x7F\\x00-\\x1F] |\n    \"\\\\\" ([\"\\\\bfnrt] | \"u\" [0-9a-fA-F]{4}) # escapes\n  )* \"\\\"\" ws\n"
                "number ::= (\"-\"? ([0-9] | [1-9] [0-9]{0,15})) (\".\" [0-9]+)? ([eE] [-+]? [0-9] [1-9]{0,15})? ws\n"
                "ws ::= | \" \" | \"\\n\" [ \\t]{0,20}\n");
    REQUIRE(g);
    expect_lang(g, tv, "{\"a\": [1, 2.5, {\"b\": null}], \"c\": \"x\\u00e9\\n\"}", 1);
    expect_lang(g, tv, "{\"a\": tru", 0);
    expect_lang(g, tv, "{\"a\": 01}", -1);
    expect_lang(g, tv, "{\"a\" 1}", -1);
    pg_grammar_stats st;
    pg_grammar_stats_get(g, &st);
    CHECK(st.n_lexemes > 3 && st.n_lexemes < 40);
    pg_grammar_free(g);
    pg_gram_vocab_free(tv);
}

/* Direct DFA checks through the internal API. */
static void test_dfa(void) {
    pg_grammar *g = compile("root ::= [a-c]+ \"x\"");
    REQUIRE(g);
    REQUIRE(g->n_lex == 1);
    int32_t s = gram_dfa_start(g, 0);
    REQUIRE(s >= 0);
    CHECK(!g->dfa[s].acc);
    CHECK(gram_dfa_step(g, s, 'x') == DFA_DEAD);
    int32_t a = gram_dfa_step(g, s, 'a');
    REQUIRE(a >= 0);
    CHECK(gram_dfa_step(g, a, 'b') == a); /* same subset: one DFA state for the loop */
    int32_t x = gram_dfa_step(g, a, 'x');
    REQUIRE(x >= 0);
    CHECK(g->dfa[x].acc);
    CHECK(gram_dfa_step(g, x, 'x') == DFA_DEAD);
    pg_grammar_free(g);
}

/* ---------------- masks vs brute force ---------------- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint32_t rnd(uint32_t n) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state % n);
}

static const char *ALPHA[] = {"a", "b", "c", "\"", "\xc3\xa9", " ", "1"};
#define NALPHA 7

static void rand_expr(char *out, size_t cap, int depth, int nrules) {
    size_t n = strlen(out);
    int k = (int)rnd(depth > 2 ? 3 : 8);
    char t[64];
    switch (k) {
    case 0: {
        const char *a = ALPHA[rnd(NALPHA)];
        snprintf(t, sizeof t, "\"%s%s\"", a[0] == '"' ? "\\\"" : a, rnd(2) ? "" : "b");
        break;
    }
    case 1: snprintf(t, sizeof t, "[%s]", rnd(2) ? "a-c" : "^b\""); break;
    case 2: snprintf(t, sizeof t, "r%u", rnd((uint32_t)nrules)); break;
    case 3: case 4: {
        snprintf(out + n, cap - n, "(");
        int parts = 1 + (int)rnd(3);
        for (int i = 0; i < parts; i++) {
            if (i) { n = strlen(out); snprintf(out + n, cap - n, k == 3 ? " | " : " "); }
            rand_expr(out, cap, depth + 1, nrules);
        }
        n = strlen(out);
        snprintf(out + n, cap - n, ")");
        return;
    }
    case 5: case 6: case 7: {
        rand_expr(out, cap, depth + 1, nrules);
        static const char *ops[] = {"*", "+", "?", "{2}", "{1,3}", "{0,2}", "{2,}", "{0,12}", "{3,20}", "{9,9}"};
        n = strlen(out);
        snprintf(out + n, cap - n, "%s", ops[rnd(10)]);
        return;
    }
    }
    n = strlen(out);
    snprintf(out + n, cap - n, "%s", t);
}

static void brute_mask(pg_gmatch *m, const pg_gram_vocab *tv, char **toks, size_t *lens, int32_t n, int32_t eos,
                       uint32_t *mask) {
    memset(mask, 0, pg_gram_vocab_mask_words(tv) * 4);
    for (int32_t i = 0; i < n; i++) {
        if (i == eos) {
            if (pg_gmatch_is_accepting(m)) mask[i >> 5] |= 1u << (i & 31);
            continue;
        }
        if (!toks[i]) continue;
        pg_gmatch *c = pg_gmatch_clone(m);
        if (pg_gmatch_accept_bytes(c, toks[i], lens[i]) == PG_OK) mask[i >> 5] |= 1u << (i & 31);
        pg_gmatch_destroy(c);
    }
}

static void test_random_masks(void) {
    int ngram = 0, nmasks = 0, nsteps = 0;
    int iters = getenv("PAGODA_SANITIZED") ? 100 : 300;
    for (int iter = 0; iter < iters; iter++) {
        int nrules = 1 + (int)rnd(3);
        char src[4096] = "";
        for (int r = 0; r < nrules; r++) {
            size_t n = strlen(src);
            snprintf(src + n, sizeof src - n, "%s ::= ", r ? "" : "root");
            if (r) { n = strlen(src); snprintf(src + n - 5, sizeof src - n + 5, "r%d ::= ", r); }
            rand_expr(src, sizeof src, 0, nrules);
            n = strlen(src);
            if (rnd(2)) { snprintf(src + n, sizeof src - n, " | "); rand_expr(src, sizeof src, 1, nrules); }
            n = strlen(src);
            snprintf(src + n, sizeof src - n, "\n");
        }
        /* r0 is root: rename references r0 -> root */
        char src2[8192] = "";
        for (const char *p = src; *p;) {
            if (p[0] == 'r' && p[1] == '0' && (p == src || p[-1] != 'o')) { strcat(src2, "root"); p += 2; }
            else { size_t n = strlen(src2); src2[n] = *p++; src2[n + 1] = 0; }
        }
        pg_grammar *g = NULL;
        pg_error err;
        if (pg_grammar_compile(src2, strlen(src2), NULL, &g, &err)) {
            CHECKF(strstr(err.msg, "matches no string"), "random grammar failed: %s\n%s", err.msg, src2);
            continue;
        }
        ngram++;
        /* random vocabulary: strings of 1..4 alphabet items, plus lone UTF-8 halves */
        int32_t nv = 40 + (int32_t)rnd(40);
        char **toks = calloc((size_t)nv, sizeof *toks);
        size_t *lens = calloc((size_t)nv, sizeof *lens);
        int32_t eos = (int32_t)rnd((uint32_t)nv);
        for (int32_t i = 0; i < nv; i++) {
            if (i == eos) continue;
            if (rnd(20) == 0) continue; /* a special token */
            toks[i] = calloc(32, 1);
            if (rnd(15) == 0) strcpy(toks[i], rnd(2) ? "\xc3" : "\xa9");
            else {
                int len = 1 + (int)rnd(4);
                for (int k = 0; k < len; k++) strcat(toks[i], ALPHA[rnd(NALPHA)]);
            }
            lens[i] = strlen(toks[i]);
        }
        pg_gram_vocab *tv = pg_gram_vocab_create_raw((const char *const *)toks, lens, nv, &eos, 1, NULL);
        REQUIRE(tv);
        size_t words = pg_gram_vocab_mask_words(tv);
        uint32_t *m1 = calloc(words, 4), *m2 = calloc(words, 4);
        pg_gmatch *m = pg_gmatch_create(g, tv);
        for (int step = 0; step < 24; step++) {
            pg_gmatch_mask(m, m1);
            brute_mask(m, tv, toks, lens, nv, eos, m2);
            nmasks++;
            int same = !memcmp(m1, m2, words * 4);
            CHECKF(same, "mask differs from brute force at step %d\n%s", step, src2);
            if (!same) {
                for (int32_t i = 0; i < nv; i++) {
                    int a = (m1[i >> 5] >> (i & 31)) & 1, b = (m2[i >> 5] >> (i & 31)) & 1;
                    if (a != b) fprintf(stderr, "  token %d '%s': fast %d brute %d\n", i, toks[i] ? toks[i] : "<s>", a, b);
                }
                break;
            }
            /* pick a random allowed non-EOS token */
            int32_t cand[256], nc = 0;
            for (int32_t i = 0; i < nv && nc < 256; i++)
                if (i != eos && ((m1[i >> 5] >> (i & 31)) & 1)) cand[nc++] = i;
            if (!nc) break;
            int32_t t = cand[rnd((uint32_t)nc)];
            CHECK(pg_gmatch_accept_token(m, t) == PG_OK);
            nsteps++;
        }
        /* a disallowed token leaves the state unchanged */
        pg_gmatch_mask(m, m1);
        for (int32_t i = 0; i < nv; i++)
            if (!((m1[i >> 5] >> (i & 31)) & 1) && i != eos) {
                CHECK(pg_gmatch_accept_token(m, i) == PG_EINVAL);
                pg_gmatch_mask(m, m2);
                CHECK(!memcmp(m1, m2, words * 4));
                break;
            }
        pg_gmatch_destroy(m);
        free(m1);
        free(m2);
        for (int32_t i = 0; i < nv; i++) free(toks[i]);
        free(toks);
        free(lens);
        pg_gram_vocab_free(tv);
        pg_grammar_free(g);
    }
    /* long bounded strings: positions deep inside share cache entries
     * (copy regions); masks must still see the end of the budget */
    {
        const char *vt[] = {"a", "ab", "abc", "\"", "c\"", "bca\"", "abcabcab", "\"\"", NULL, "cc"};
        size_t vl[10];
        for (int i = 0; i < 10; i++) vl[i] = vt[i] ? strlen(vt[i]) : 0;
        int32_t eos = 8;
        pg_gram_vocab *tv = pg_gram_vocab_create_raw(vt, vl, 10, &eos, 1, NULL);
        pg_grammar *g = compile("root ::= \"\\\"\" [a-c]{0,60} \"\\\"\" [a-c]{20,40}");
        REQUIRE(tv && g);
        for (int run = 0; run < 20; run++) {
            pg_gmatch *m = pg_gmatch_create(g, tv);
            uint32_t m1[1], m2[1];
            for (int step = 0; step < 80; step++) {
                pg_gmatch_mask(m, m1);
                brute_mask(m, tv, (char **)vt, vl, 10, eos, m2);
                CHECKF(m1[0] == m2[0], "bounded string run %d step %d: fast %x brute %x", run, step, m1[0], m2[0]);
                int32_t cand[10], nc = 0;
                for (int32_t i = 0; i < 10; i++)
                    if (i != eos && ((m1[0] >> i) & 1)) cand[nc++] = i;
                if (!nc) break;
                /* prefer long tokens to reach the budget's end */
                int32_t t = cand[rnd((uint32_t)nc)];
                if (rnd(3) && ((m1[0] >> 6) & 1)) t = 6;
                CHECK(pg_gmatch_accept_token(m, t) == PG_OK);
            }
            pg_gmatch_destroy(m);
        }
        pg_grammar_free(g);
        pg_gram_vocab_free(tv);
    }
    fprintf(stderr, "random masks: %d grammars, %d masks, %d steps\n", ngram, nmasks, nsteps);
    CHECK(ngram > iters / 3);
}

/* EOS, special tokens, clone, done, forced bytes */
static void test_matcher_api(void) {
    const char *toks[] = {"{", "\"a\"", ":", "1", "}", NULL, "{\"a\":", "2}", "x"};
    size_t lens[9];
    for (int i = 0; i < 9; i++) lens[i] = toks[i] ? strlen(toks[i]) : 0;
    int32_t eos = 5;
    pg_gram_vocab *tv = pg_gram_vocab_create_raw(toks, lens, 9, &eos, 1, NULL);
    REQUIRE(tv);
    pg_grammar *g = compile("root ::= \"{\\\"a\\\":\" [0-9] \"}\"");
    REQUIRE(g);
    pg_gmatch *m = pg_gmatch_create(g, tv);
    uint32_t mask[1];
    pg_gmatch_mask(m, mask);
    CHECK(mask[0] == ((1u << 0) | (1u << 6)));
    char fb[16];
    size_t nf = pg_gmatch_forced_bytes(m, fb, sizeof fb);
    CHECK(nf == 5 && !memcmp(fb, "{\"a\":", 5));
    CHECK(pg_gmatch_accept_token(m, 5) == PG_EINVAL);
    CHECK(pg_gmatch_accept_token(m, 6) == PG_OK);
    pg_gmatch *c = pg_gmatch_clone(m);
    pg_gmatch_mask(m, mask);
    CHECK(mask[0] == ((1u << 3) | (1u << 7)));
    CHECK(pg_gmatch_accept_token(m, 7) == PG_OK);
    CHECK(pg_gmatch_is_accepting(m));
    CHECK(pg_gmatch_is_done(m));
    pg_gmatch_mask(m, mask);
    CHECK(mask[0] == (1u << 5));
    CHECK(pg_gmatch_accept_token(m, 5) == PG_OK);
    pg_gmatch_mask(m, mask);
    CHECK(mask[0] == 0);
    /* the clone is independent */
    CHECK(!pg_gmatch_is_accepting(c));
    CHECK(pg_gmatch_accept_token(c, 3) == PG_OK);
    CHECK(pg_gmatch_accept_token(c, 4) == PG_OK);
    CHECK(pg_gmatch_is_accepting(c));
    pg_gmatch_destroy(c);
    pg_gmatch_destroy(m);
    pg_grammar_free(g);
    pg_gram_vocab_free(tv);
}

static pg_grammar *compile_text(char *gbnf) {
    pg_grammar *g = gbnf ? compile(gbnf) : NULL;
    free(gbnf);
    return g;
}

static void test_regex_choice(void) {
    pg_gram_vocab *tv = byte_vocab();
    REQUIRE(tv);
    pg_error err;
    char *t;
    const struct { const char *re; const char *s; int want; } cases[] = {
        {"^\\d{3}-[A-Z]{2}$", "123-AB", 1}, {"^\\d{3}-[A-Z]{2}$", "12-AB", -1}, {"^\\d{3}-[A-Z]{2}$", "123-A", 0},
        {"(a|bc)*d?", "abcbcd", 1}, {"(a|bc)*d?", "", 1}, {"(a|bc)*d?", "ac", -1},
        {"[^\\D]+", "123", 1}, {"[^\\D]+", "1a", -1},
        {"\\w+@\\w+\\.com", "me@x.com", 1}, {"\\w+@\\w+\\.com", "me@x,com", -1},
        {"a.c", "abc", 1}, {"a.c", "a\nc", -1}, {"a.c", "a\xc3\xa9" "c", 1},
        {"(?:ab){2,}", "abab", 1}, {"(?:ab){2,}", "ab", 0}, {"x{0,2}?y", "xxy", 1}, {"x{0,2}?y", "xxxy", -1},
        {"[\\s\\d]", " ", 1}, {"[\\s\\d]", "\xc2\xa0", 1}, {"\\u00e9|\\x41", "\xc3\xa9", 1}, {"\\u00e9|\\x41", "A", 1},
        {"a\\.b\\/c", "a.b/c", 1}, {"[a-c-]", "-", 1}, {"\"q\"", "\"q\"", 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int rc = pg_regex_to_gbnf(cases[i].re, strlen(cases[i].re), &t, &err);
        CHECKF(rc == 0, "regex %s: %s", cases[i].re, err.msg);
        if (rc) continue;
        pg_grammar *g = compile_text(t);
        CHECK(g != NULL);
        if (g) {
            int r = run_str(g, tv, cases[i].s, strlen(cases[i].s));
            CHECKF(r == cases[i].want, "regex %s on '%s': got %d want %d", cases[i].re, cases[i].s, r, cases[i].want);
        }
        pg_grammar_free(g);
    }
    const char *bad[][2] = {{"(?=a)b", "lookahead"}, {"(a)\\1", "backreference"}, {"a^b", "'^'"}, {"a$b", "'$'"},
                            {"(ab", "missing ')'"}, {"ab)", "unbalanced"}, {"*a", "nothing to repeat"},
                            {"[z-a]", "out of order"}, {"\\bx", "word boundary"}, {"(?<=a)b", "lookbehind"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        pg_error_clear(&err);
        int rc = pg_regex_to_gbnf(bad[i][0], strlen(bad[i][0]), &t, &err);
        CHECKF(rc < 0 && strstr(err.msg, bad[i][1]), "regex %s: rc %d msg '%s'", bad[i][0], rc, err.msg);
        if (!rc) free(t);
    }
    const char *ch[] = {"yes", "no", "say \"hi\"\n", "caf\xc3\xa9"};
    size_t chl[4];
    for (int i = 0; i < 4; i++) chl[i] = strlen(ch[i]);
    REQUIRE(pg_choice_to_gbnf(ch, chl, 4, &t, &err) == 0);
    pg_grammar *g = compile_text(t);
    REQUIRE(g);
    expect_lang(g, tv, "yes", 1);
    expect_lang(g, tv, "no", 1);
    expect_lang(g, tv, "say \"hi\"\n", 1);
    expect_lang(g, tv, "caf\xc3\xa9", 1);
    expect_lang(g, tv, "ye", 0);
    expect_lang(g, tv, "yess", -1);
    pg_grammar_free(g);
    CHECK(pg_choice_to_gbnf(ch, chl, 0, &t, &err) < 0);
    const char *badu[] = {"\xff"};
    size_t bl = 1;
    CHECK(pg_choice_to_gbnf(badu, &bl, 1, &t, &err) < 0);
    pg_gram_vocab_free(tv);
}

/* Real vocabularies: masks of a JSON grammar match brute force over every
 * token, and forced tokens come out of the tokenizer. */
static void test_real_vocab(void) {
    const char *dir = t_testdata();
    if (!dir) { fprintf(stderr, "no test data: real-vocabulary checks skipped\n"); return; }
    const char *names[] = {"ggml-vocab-gpt-2.gguf", "ggml-vocab-llama-spm.gguf"};
    for (int f = 0; f < 2; f++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/tokenizer/%s", dir, names[f]);
        pg_gguf *gg = NULL;
        pg_error err;
        if (pg_gguf_open(path, &gg, &err)) { fprintf(stderr, "skip %s: %s\n", path, err.msg); continue; }
        pg_vocab *v = NULL;
        REQUIRE(pg_vocab_load(gg, &v, &err) == 0);
        pg_gguf_close(gg);
        pg_gram_vocab *tv = pg_gram_vocab_create(v, &err);
        REQUIRE(tv);
        int32_t n = pg_gram_vocab_n(tv);
        char **toks = calloc((size_t)n, sizeof *toks);
        size_t *lens = calloc((size_t)n, sizeof *lens);
        for (int32_t i = 0; i < n; i++) {
            int ty = pg_vocab_token_type(v, i);
            if (pg_vocab_is_eog(v, i) || ty == PG_TOKTYPE_CONTROL || ty == PG_TOKTYPE_UNKNOWN || ty == PG_TOKTYPE_UNUSED) continue;
            char buf[512];
            int64_t len = pg_token_to_piece(v, i, buf, sizeof buf, 0);
            if (len <= 0 || len > 512) continue;
            toks[i] = malloc((size_t)len);
            memcpy(toks[i], buf, (size_t)len);
            lens[i] = (size_t)len;
        }
        pg_grammar *g = compile("root ::= \"{\\\"name\\\": \" str \", \\\"n\\\": \" num \"}\"\n"
                                "str ::= \"\\\"\" ([^\"\\\\\\x00-\\x1f] | \"\\\\\" [\"\\\\/nrt])* \"\\\"\"\n"
                                "num ::= \"-\"? ([0-9] | [1-9] [0-9]+) (\".\" [0-9]+)?\n");
        REQUIRE(g);
        const char *text = "{\"name\": \"caf\xc3\xa9 \\\"x\\\"\", \"n\": -12.5}";
        int32_t ids[256];
        int64_t nt = pg_tokenize(v, text, strlen(text), 0, 0, ids, 256, &err);
        REQUIRE(nt > 0 && nt < 256);
        size_t words = pg_gram_vocab_mask_words(tv);
        uint32_t *m1 = calloc(words, 4), *m2 = calloc(words, 4);
        pg_gmatch *m = pg_gmatch_create(g, tv);
        int32_t eos = pg_vocab_eos(v);
        int start = 0;
        if (!strcmp(pg_vocab_kind(v), "llama")) {
            /* SPM prefixes a space to the first token: feed the text through the bytes API instead */
            start = (int)nt;
            CHECK(pg_gmatch_accept_bytes(m, text, strlen(text)) == PG_OK);
        } else {
            int32_t forced[8];
            int32_t nf = pg_gmatch_forced_tokens(m, v, forced, 8);
            CHECK(nf >= 1 && forced[0] == ids[0]);
        }
        for (int i = start; i <= nt; i++) {
            pg_gmatch_mask(m, m1);
            if (i == start || i == nt || i % 3 == 0) {
                brute_mask(m, tv, toks, lens, n, eos, m2);
                CHECKF(!memcmp(m1, m2, words * 4), "%s: mask %d differs from brute force", names[f], i);
            }
            if (i == nt) {
                CHECK((m1[eos >> 5] >> (eos & 31)) & 1);
                break;
            }
            CHECKF((m1[ids[i] >> 5] >> (ids[i] & 31)) & 1, "%s: token %d (%d) masked out", names[f], i, ids[i]);
            CHECK(pg_gmatch_accept_token(m, ids[i]) == PG_OK);
        }
        CHECK(pg_gmatch_is_accepting(m));
        pg_gmatch_destroy(m);
        free(m1);
        free(m2);
        for (int32_t i = 0; i < n; i++) free(toks[i]);
        free(toks);
        free(lens);
        pg_grammar_free(g);
        pg_gram_vocab_free(tv);
        pg_vocab_free(v);
    }
}

/* The mask fast paths on a real vocabulary (GPT-2, 50k tokens): cache
 * builds that take whole trie subtrees (states looping on every byte below
 * a node, big-subtree token bitsets), merged completion walks across many
 * boundary nodes (array items, keys after values), Unicode pattern classes,
 * a `not enum` string, bounded strings and repeated objects - each mask
 * against brute force, token by token along valid instances, with the
 * grammar from the JSON Schema front-end. */
static void test_real_vocab_paths(void) {
    const char *dir = t_testdata();
    if (!dir) { fprintf(stderr, "no test data: real-vocabulary fast-path checks skipped\n"); return; }
    char path[1024];
    snprintf(path, sizeof path, "%s/tokenizer/ggml-vocab-gpt-2.gguf", dir);
    pg_gguf *gg = NULL;
    pg_error err;
    if (pg_gguf_open(path, &gg, &err)) { fprintf(stderr, "skip %s: %s\n", path, err.msg); return; }
    pg_vocab *v = NULL;
    REQUIRE(pg_vocab_load(gg, &v, &err) == 0);
    pg_gguf_close(gg);
    pg_gram_vocab *tv = pg_gram_vocab_create(v, &err);
    REQUIRE(tv);
    int32_t n = pg_gram_vocab_n(tv);
    char **toks = calloc((size_t)n, sizeof *toks);
    size_t *lens = calloc((size_t)n, sizeof *lens);
    for (int32_t i = 0; i < n; i++) {
        int ty = pg_vocab_token_type(v, i);
        if (pg_vocab_is_eog(v, i) || ty == PG_TOKTYPE_CONTROL || ty == PG_TOKTYPE_UNKNOWN || ty == PG_TOKTYPE_UNUSED) continue;
        char buf[512];
        int64_t len = pg_token_to_piece(v, i, buf, sizeof buf, 0);
        if (len <= 0 || len > 512) continue;
        toks[i] = malloc((size_t)len);
        memcpy(toks[i], buf, (size_t)len);
        lens[i] = (size_t)len;
    }
    const char *schema =
        "{\"type\":\"object\",\"properties\":{"
        "\"id\":{\"type\":\"string\",\"pattern\":\"^[\\\\w-]{1,20}$\"},"
        "\"kind\":{\"type\":\"string\",\"not\":{\"enum\":[\"select\",\"update\"]}},"
        "\"note\":{\"type\":\"string\",\"maxLength\":12},"
        "\"tags\":{\"type\":\"array\",\"items\":{\"type\":\"string\",\"maxLength\":6},\"maxItems\":4},"
        "\"rows\":{\"type\":\"array\",\"items\":{\"type\":\"object\",\"properties\":{"
        "\"k\":{\"type\":\"integer\"},\"v\":{\"type\":\"string\"}},\"required\":[\"k\",\"v\"],"
        "\"additionalProperties\":false}},"
        "\"score\":{\"type\":\"number\"}},"
        "\"required\":[\"id\",\"kind\"],\"additionalProperties\":false}";
    const char *inst[] = {
        "{\"id\":\"ab_c-9\xc3\xa9\",\"kind\":\"sel\",\"note\":\"caf\xc3\xa9 ok\",\"tags\":[\"x\",\"yz\",\"\"],"
        "\"rows\":[{\"k\":1,\"v\":\"a\\\"b\"},{\"k\":-20,\"v\":\"\"},{\"k\":3,\"v\":\"hello world\"},{\"k\":4,\"v\":\"x\"}],"
        "\"score\":-1.5e3}",
        "{\"id\":\"x\",\"kind\":\"updates\",\"note\":\"123456789012\"}",
    };
    char jerr[256];
    char *gbnf = NULL;
    REQUIRE(pg_jsonschema_to_gbnf(schema, strlen(schema), 0, &gbnf, jerr, sizeof jerr) == 0);
    pg_grammar *g = compile(gbnf);
    free(gbnf);
    REQUIRE(g);
    size_t words = pg_gram_vocab_mask_words(tv);
    uint32_t *m1 = calloc(words, 4), *m2 = calloc(words, 4);
    int32_t eos = pg_vocab_eos(v);
    int every = getenv("PAGODA_SANITIZED") ? 4 : 1, nbrute = 0;
    for (int k = 0; k < 2; k++) {
        int32_t ids[512];
        int64_t nt = pg_tokenize(v, inst[k], strlen(inst[k]), 0, 0, ids, 512, &err);
        REQUIRE(nt > 0 && nt < 512);
        pg_gmatch *m = pg_gmatch_create(g, tv);
        for (int64_t i = 0; i <= nt; i++) {
            pg_gmatch_mask(m, m1);
            if (i % every == 0 || i == nt) {
                brute_mask(m, tv, toks, lens, n, eos, m2);
                nbrute++;
                int same = !memcmp(m1, m2, words * 4);
                CHECKF(same, "instance %d: mask %d differs from brute force", k, (int)i);
                if (!same)
                    for (int32_t t = 0, shown = 0; t < n && shown < 8; t++)
                        if (((m1[t >> 5] ^ m2[t >> 5]) >> (t & 31)) & 1) {
                            fprintf(stderr, "  token %d '%.*s': fast %d\n", t, toks[t] ? (int)lens[t] : 0,
                                    toks[t] ? toks[t] : "", (int)((m1[t >> 5] >> (t & 31)) & 1));
                            shown++;
                        }
            }
            if (i == nt) {
                CHECKF((m1[eos >> 5] >> (eos & 31)) & 1, "instance %d: EOS not allowed at the end", k);
                break;
            }
            CHECKF((m1[ids[i] >> 5] >> (ids[i] & 31)) & 1, "instance %d: token %d (%d) masked out", k, (int)i, ids[i]);
            CHECK(pg_gmatch_accept_token(m, ids[i]) == PG_OK);
        }
        pg_gmatch_destroy(m);
    }
    fprintf(stderr, "real-vocabulary fast paths: %d masks checked against brute force\n", nbrute);
    free(m1);
    free(m2);
    for (int32_t i = 0; i < n; i++) free(toks[i]);
    free(toks);
    free(lens);
    pg_grammar_free(g);
    pg_gram_vocab_free(tv);
    pg_vocab_free(v);
}

/* The sampler hook: masked tokens are never sampled; NULL restores the
 * unconstrained distribution bit for bit. */
static void test_sampler_hook(void) {
    enum { V = 70 };
    float logits[V];
    for (int i = 0; i < V; i++) logits[i] = (float)((i * 37) % 11) - (i == 5 ? -20.0f : 0.0f);
    pg_sampling_params p = pg_sampling_params_default();
    p.temperature = 0;
    pg_sampler *s = pg_sampler_create(&p, V, 1);
    REQUIRE(s);
    CHECK(pg_sampler_sample(s, logits, NULL) == 5);
    uint32_t mask[3] = {0, 0, 0};
    mask[64 >> 5] |= 1u << (64 & 31);
    mask[3 >> 5] |= 1u << 3;
    pg_sampler_set_allowed(s, mask);
    int32_t t = pg_sampler_sample(s, logits, NULL);
    CHECK(t == 3 || t == 64);
    CHECK(t == (logits[3] >= logits[64] ? 3 : 64));
    pg_sampler_destroy(s);
    p.temperature = 1.0f;
    p.seed = 7;
    p.has_seed = 1;
    s = pg_sampler_create(&p, V, 1);
    pg_sampler *u = pg_sampler_create(&p, V, 1);
    pg_sampler_set_allowed(s, mask);
    for (int k = 0; k < 200; k++) {
        int32_t a = pg_sampler_sample(s, logits, NULL);
        CHECK(a == 3 || a == 64);
    }
    pg_sampler_set_allowed(s, NULL);
    pg_sampler_reset(s);
    for (int k = 0; k < 50; k++) CHECK(pg_sampler_sample(s, logits, NULL) == pg_sampler_sample(u, logits, NULL));
    memset(mask, 0, sizeof mask);
    pg_sampler_set_allowed(s, mask);
    CHECK(pg_sampler_sample(s, logits, NULL) == PG_EINVAL);
    pg_sampler_destroy(s);
    pg_sampler_destroy(u);
}

/* Hostile text: mutated grammars and regexes never crash; a grammar that
 * compiles gives a working matcher. */
static void test_mutations(void) {
    const char *seeds[] = {
        "root ::= \"{\" ws (pair (\",\" ws pair)*)? \"}\"\npair ::= str \":\" ws [0-9]+ ws\nstr ::= \"\\\"\" [^\"\\\\]* \"\\\"\"\nws ::= [ \\t\\n]*\n",
        "root ::= e\ne ::= e \"+\" t | t\nt ::= \"(\" e \")\" | [a-z\\u00e0-\\u00ff]{1,3}\n",
        "root ::= (\"a\" | \"b\"){2,5} \"c\"? x\nx ::= [^\\x00-\\x1f]{0,40} | \"\"\n",
    };
    const char *rseeds[] = {"^[a-z]+(\\d{2,4}|x)*$", "(?:ab|c)+\\s[^\\W\\d]{1,3}", "\\u00e9.{0,3}\\.json"};
    const char junk[] = "()[]{}|*+?^$\\\"#:=-,.0123456789az\n \xc3\xa9\xff";
    pg_gram_vocab *tv = byte_vocab();
    int ok = 0, total = 0;
    int iters = getenv("PAGODA_SANITIZED") ? 400 : 1500; /* ASan/UBSan build: fewer */
    for (int it = 0; it < iters; it++) {
        int isre = it % 3 == 2;
        const char *seed = isre ? rseeds[rnd(3)] : seeds[rnd(3)];
        char buf[1024];
        size_t n = strlen(seed);
        memcpy(buf, seed, n);
        int nm = 1 + (int)rnd(4);
        for (int k = 0; k < nm && n > 1; k++) {
            size_t at = rnd((uint32_t)n);
            switch (rnd(3)) {
            case 0: buf[at] = junk[rnd(sizeof junk - 1)]; break;                 /* replace */
            case 1: memmove(buf + at, buf + at + 1, n - at - 1); n--; break;   /* delete */
            default:
                if (n + 1 < sizeof buf) { memmove(buf + at + 1, buf + at, n - at); buf[at] = junk[rnd(sizeof junk - 1)]; n++; }
            }
        }
        buf[n] = 0;
        pg_error err;
        pg_error_clear(&err);
        char *gbnf = NULL;
        const char *src = buf;
        size_t len = n;
        if (isre) {
            if (pg_regex_to_gbnf(buf, n, &gbnf, &err)) { CHECK(err.msg[0] != 0); continue; }
            src = gbnf;
            len = strlen(gbnf);
        }
        pg_grammar *g = NULL;
        total++;
        int rc = pg_grammar_compile(src, len, NULL, &g, &err);
        CHECK(rc == 0 ? g != NULL : (g == NULL && err.msg[0] != 0));
        if (!rc) {
            ok++;
            pg_gmatch *m = pg_gmatch_create(g, tv);
            uint32_t mask[9];
            for (int s2 = 0; s2 < 6; s2++) {
                pg_gmatch_mask(m, mask);
                int cand[257], nc = 0;
                for (int i = 0; i < 256; i++) if ((mask[i >> 5] >> (i & 31)) & 1) cand[nc++] = i;
                if (!nc) break;
                CHECK(pg_gmatch_accept_token(m, cand[rnd((uint32_t)nc)]) == PG_OK);
            }
            pg_gmatch_destroy(m);
        }
        pg_grammar_free(g);
        free(gbnf);
    }
    fprintf(stderr, "mutations: %d of %d compiled\n", ok, total);
    CHECK(ok > iters / 30);
    pg_gram_vocab_free(tv);
}

int main(void) {
    test_mutations();
    test_sampler_hook();
    test_regex_choice();
    test_real_vocab();
    test_real_vocab_paths();
    test_parse_errors();
    test_languages();
    test_dfa();
    test_matcher_api();
    test_random_masks();
    return t_done("test_grammar");
}
