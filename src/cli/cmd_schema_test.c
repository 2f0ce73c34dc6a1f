/* cmd_schema_test.c - `pagoda schema-test --vocab VOCAB.gguf [--json]
 * [--whitespace compact|flexible] [--summary] FILE.json...`: the MaskBench
 * check of the grammar engine.
 *
 * Per file (MaskBench format: "schema" plus "tests" [{"valid","data"}]; a
 * file may give "grammar" (GBNF text) or "regex" instead of "schema"):
 * compile (timed: JSON Schema -> GBNF -> compiled grammar), then for each
 * test serialise `data` compactly (jansson, keys in the file's order, UTF-8
 * kept), tokenize it without BOS and walk the tokens: compute the mask
 * before each token (timed), check the token is allowed, accept it; at the
 * end compute the mask once more (timed) and check EOS is allowed. A valid
 * instance must be accepted; an invalid one is rejected if some token is
 * masked out or EOS is not allowed at the end.
 *
 * Status per file: pass, compile_error, validation_error (a valid instance
 * rejected), invalidation_error (an invalid instance accepted; it wins over
 * validation_error), timeout (compile over 10 s). Output, one line per file:
 *   --json: {"file","status","compile_us","mask_us":[...]} (+ "error" for
 *           compile errors); else "STATUS FILE compile_us=... masks=...".
 * --summary: a last line with the status counts and p50/p99 of the mask and
 * compile times (JSON under --json). Times are wall-clock (CLOCK_MONOTONIC);
 * --cpu-time measures the thread's CPU time instead (fairer on a loaded
 * machine). --dump-gbnf prints each schema's GBNF, grammar statistics and,
 * for an instance judged wrongly, where the byte-level check stops.
 * Exit: 0 when every file was processed (whatever the statuses), 1 on a
 * runtime error (vocab unreadable), 2 on usage errors. */
#include "cli/commands.h"

#include "gguf/gguf.h"
#include "sample/grammar.h"
#include "sample/jsonschema.h"
#include "tokenizer/tokenizer.h"

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define COMPILE_TIMEOUT_US 10e6

static const pg_cli_opt st_opts[] = {
    {"--vocab", "VOCAB.gguf", PG_ARG_STR | PG_ARG_REQ, 0, NULL, "vocabulary (GGUF model or vocabulary-only file) (required)"},
    {"--json", NULL, PG_ARG_NONE, 0, NULL, "one JSON line per file: {\"file\",\"status\",\"compile_us\",\"mask_us\":[...]}"},
    {"--whitespace", "MODE", PG_ARG_STR, 0, "compact", "JSON whitespace allowed by the schema grammar: compact or flexible"},
    {"--summary", NULL, PG_ARG_NONE, 0, NULL, "a last line with status counts and mask/compile p50/p99"},
    {"--cpu-time", NULL, PG_ARG_NONE, 0, NULL, "time with the thread's CPU clock instead of the wall clock"},
    {"--dump-gbnf", NULL, PG_ARG_NONE, 0, NULL, "print each schema's GBNF and misjudged instances on stderr"},
};
const pg_cli_cmd pg_cli_schema_test = {
    "schema-test", "--vocab VOCAB.gguf [--json] [--whitespace compact|flexible] [--summary] FILE.json...",
    "MaskBench check of structured outputs: compile each schema, walk its test instances token by token through the "
    "grammar masks",
    "FILE.json  MaskBench files (\"schema\" or \"grammar\"/\"regex\", plus \"tests\")",
    st_opts, PG_CLI_N(st_opts), 1, -1, "no FILE.json given"};

static clockid_t g_clock = CLOCK_MONOTONIC; /* --cpu-time: CLOCK_THREAD_CPUTIME_ID */

static double now_us(void) {
    struct timespec ts;
    clock_gettime(g_clock, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int usage_error(const char *msg) {
    fprintf(stderr,
            "pagoda schema-test: %s (usage: pagoda schema-test --vocab VOCAB.gguf [--json] "
            "[--whitespace compact|flexible] [--summary] FILE.json...)\n",
            msg);
    return 2;
}

typedef struct dvec {
    double *v;
    size_t n, cap;
} dvec;

static void dpush(dvec *d, double x) {
    if (d->n == d->cap) {
        d->cap = d->cap ? d->cap * 2 : 1024;
        double *q = realloc(d->v, d->cap * sizeof *q);
        if (!q) return;
        d->v = q;
    }
    d->v[d->n++] = x;
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double pct(dvec *d, double p) {
    if (!d->n) return 0;
    size_t k = (size_t)(p * (double)(d->n - 1) + 0.5);
    return d->v[k];
}

enum { ST_PASS, ST_COMPILE, ST_VALID, ST_INVALID, ST_TIMEOUT, ST_N };
static const char *st_name[ST_N] = {"pass", "compile_error", "validation_error", "invalidation_error", "timeout"};

/* Walks one instance: 1 accepted, 0 rejected. Appends mask times. */
static int walk_instance(pg_grammar *g, const pg_gram_vocab *tv, const pg_vocab *v, const char *text, size_t len,
                         uint32_t *mask, dvec *times, int32_t eos) {
    int64_t n = pg_tokenize(v, text, len, 0, 0, NULL, 0, NULL);
    if (n < 0) return 0;
    int32_t *ids = malloc(((size_t)n + 1) * sizeof *ids);
    if (!ids) return 0;
    pg_tokenize(v, text, len, 0, 0, ids, (size_t)n + 1, NULL);
    pg_gmatch *m = pg_gmatch_create(g, tv);
    int ok = m != NULL;
    for (int64_t i = 0; ok && i <= n; i++) {
        double t0 = now_us();
        pg_gmatch_mask(m, mask);
        dpush(times, now_us() - t0);
        int32_t id = i < n ? ids[i] : eos;
        if (id < 0 || !((mask[id >> 5] >> (id & 31)) & 1)) { ok = 0; break; }
        if (i < n && pg_gmatch_accept_token(m, id) != PG_OK) ok = 0; /* would be an engine bug: mask said yes */
    }
    pg_gmatch_destroy(m);
    free(ids);
    return ok;
}

typedef struct ctx {
    const pg_vocab *v;
    const pg_gram_vocab *tv;
    uint32_t *mask;
    int32_t eos;
    unsigned ws_flags;
    int json;
    int dump; /* --dump-gbnf: the GBNF of each schema to stderr (debugging) */
    int counts[ST_N];
    dvec all_mask, all_compile;
} ctx;

static void print_line(ctx *c, const char *file, int st, double compile_us, const dvec *times, const char *err) {
    if (c->json) {
        json_t *o = json_object();
        json_object_set_new(o, "file", json_string(file));
        json_object_set_new(o, "status", json_string(st_name[st]));
        json_object_set_new(o, "compile_us", json_real(compile_us));
        json_t *a = json_array();
        for (size_t i = 0; i < times->n; i++) json_array_append_new(a, json_real((double)(int64_t)(times->v[i] * 100) / 100));
        json_object_set_new(o, "mask_us", a);
        if (err) json_object_set_new(o, "error", json_string(err));
        char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(8));
        if (s) puts(s);
        free(s);
        json_decref(o);
    } else {
        double mx = 0, sum = 0;
        for (size_t i = 0; i < times->n; i++) { sum += times->v[i]; if (times->v[i] > mx) mx = times->v[i]; }
        printf("%-18s %s compile_us=%.0f masks=%zu mask_mean_us=%.1f mask_max_us=%.1f%s%s\n", st_name[st], file,
               compile_us, times->n, times->n ? sum / (double)times->n : 0, mx, err ? " error=" : "", err ? err : "");
    }
    fflush(stdout);
}

static void one_file(ctx *c, const char *path) {
    dvec times = {0};
    json_error_t je;
    json_t *root = json_load_file(path, JSON_DECODE_ANY, &je);
    char errbuf[600];
    if (!root || !json_is_object(root)) {
        snprintf(errbuf, sizeof errbuf, "cannot read MaskBench file: %s", root ? "not an object" : je.text);
        json_decref(root);
        c->counts[ST_COMPILE]++;
        print_line(c, path, ST_COMPILE, 0, &times, errbuf);
        return;
    }
    json_t *schema = json_object_get(root, "schema");
    json_t *gram = json_object_get(root, "grammar");
    json_t *regex = json_object_get(root, "regex");
    json_t *tests = json_object_get(root, "tests");
    char *gbnf = NULL;
    pg_grammar *g = NULL;
    pg_error err;
    pg_error_clear(&err);
    errbuf[0] = 0;
    double t0 = now_us();
    int rc;
    if (json_is_string(gram)) {
        rc = pg_grammar_compile(json_string_value(gram), json_string_length(gram), NULL, &g, &err);
        if (rc) snprintf(errbuf, sizeof errbuf, "%s", err.msg);
    } else if (json_is_string(regex)) {
        rc = pg_regex_to_gbnf(json_string_value(regex), json_string_length(regex), &gbnf, &err);
        if (!rc) rc = pg_grammar_compile(gbnf, strlen(gbnf), NULL, &g, &err);
        if (rc) snprintf(errbuf, sizeof errbuf, "%s", err.msg);
    } else if (schema) {
        char *stext = json_dumps(schema, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
        char jerr[512] = "";
        rc = stext ? pg_jsonschema_to_gbnf(stext, strlen(stext), c->ws_flags, &gbnf, jerr, sizeof jerr) : PG_ENOMEM;
        free(stext);
        if (rc) snprintf(errbuf, sizeof errbuf, "%s", jerr[0] ? jerr : "JSON Schema compile failed");
        else {
            if (c->dump) fprintf(stderr, "# %s\n%s\n", path, gbnf);
            rc = pg_grammar_compile(gbnf, strlen(gbnf), NULL, &g, &err);
            if (rc) snprintf(errbuf, sizeof errbuf, "%s", err.msg);
        }
    } else {
        rc = PG_EINVAL;
        snprintf(errbuf, sizeof errbuf, "no \"schema\", \"grammar\" or \"regex\" in the file");
    }
    double compile_us = now_us() - t0;
    free(gbnf);
    if (c->dump && g) {
        pg_grammar_stats gs;
        pg_grammar_stats_get(g, &gs);
        fprintf(stderr, "# rules %d prods %d lexemes %d nfa %d dfa %d\n", gs.n_rules, gs.n_prods, gs.n_lexemes, gs.n_nfa,
                gs.n_dfa);
    }
    int st = ST_PASS;
    if (rc) st = ST_COMPILE;
    else if (compile_us > COMPILE_TIMEOUT_US) st = ST_TIMEOUT;
    if (st == ST_PASS) {
        dpush(&c->all_compile, compile_us);
        int bad_valid = 0, bad_invalid = 0;
        size_t i;
        json_t *t;
        json_array_foreach(tests, i, t) {
            json_t *data = json_object_get(t, "data");
            int valid = json_is_true(json_object_get(t, "valid"));
            if (!data) continue;
            char *text = json_dumps(data, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
            if (!text) continue;
            size_t before = times.n;
            int acc = walk_instance(g, c->tv, c->v, text, strlen(text), c->mask, &times, c->eos);
            (void)before;
            if (c->dump && valid != acc) {
                /* where does the byte-level language check stop? */
                pg_gmatch *bm = pg_gmatch_create(g, c->tv);
                size_t k = 0, tl = strlen(text);
                while (k < tl && pg_gmatch_accept_bytes(bm, text + k, 1) == PG_OK) k++;
                fprintf(stderr, "# %s instance %zu (valid %d) %s; bytes accepted %zu of %zu, accepting %d: %.*s<HERE>%s\n",
                        path, i, valid, acc ? "accepted" : "rejected", k, tl, pg_gmatch_is_accepting(bm), (int)k, text,
                        text + k);
                pg_gmatch_destroy(bm);
            }
            free(text);
            if (valid && !acc) bad_valid++;
            if (!valid && acc) bad_invalid++;
        }
        if (bad_invalid) st = ST_INVALID;
        else if (bad_valid) st = ST_VALID;
        for (size_t k = 0; k < times.n; k++) dpush(&c->all_mask, times.v[k]);
    }
    c->counts[st]++;
    print_line(c, path, st, compile_us, &times, st == ST_COMPILE ? errbuf : NULL);
    pg_grammar_free(g);
    free(times.v);
    json_decref(root);
}

int cmd_schema_test(int argc, char **argv) {
    const char *vocab_path = NULL;
    ctx c;
    memset(&c, 0, sizeof c);
    int summary = 0, nfiles = 0;
    char **files = calloc((size_t)argc + 1, sizeof *files);
    if (!files) return 1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--vocab") && i + 1 < argc) vocab_path = argv[++i];
        else if (!strcmp(argv[i], "--json")) c.json = 1;
        else if (!strcmp(argv[i], "--summary")) summary = 1;
        else if (!strcmp(argv[i], "--dump-gbnf")) c.dump = 1;
        else if (!strcmp(argv[i], "--cpu-time")) g_clock = CLOCK_THREAD_CPUTIME_ID;
        else if (!strcmp(argv[i], "--whitespace") && i + 1 < argc) {
            const char *w = argv[++i];
            if (!strcmp(w, "flexible")) c.ws_flags = PG_JS_FLEXIBLE_WS;
            else if (!strcmp(w, "compact")) c.ws_flags = 0;
            else { free(files); return usage_error("--whitespace takes compact or flexible"); }
        } else if (argv[i][0] == '-' && argv[i][1]) {
            char m[300];
            snprintf(m, sizeof m, "unknown or incomplete option '%s'", argv[i]);
            free(files);
            return usage_error(m);
        } else files[nfiles++] = argv[i];
    }
    if (!vocab_path) { free(files); return usage_error("--vocab is required"); }
    if (!nfiles) { free(files); return usage_error("no FILE.json given"); }
    pg_gguf *gg = NULL;
    pg_error err;
    pg_error_clear(&err);
    pg_vocab *v = NULL;
    if (pg_gguf_open(vocab_path, &gg, &err) || pg_vocab_load(gg, &v, &err)) {
        fprintf(stderr, "pagoda schema-test: %s: %s\n", vocab_path, err.msg);
        pg_gguf_close(gg);
        free(files);
        return 1;
    }
    pg_gguf_close(gg);
    pg_gram_vocab *tv = pg_gram_vocab_create(v, &err);
    if (!tv) {
        fprintf(stderr, "pagoda schema-test: %s\n", err.msg);
        pg_vocab_free(v);
        free(files);
        return 1;
    }
    c.v = v;
    c.tv = tv;
    c.eos = pg_vocab_eos(v) >= 0 ? pg_vocab_eos(v) : pg_vocab_eot(v);
    c.mask = calloc(pg_gram_vocab_mask_words(tv), sizeof *c.mask);
    for (int i = 0; i < nfiles; i++) one_file(&c, files[i]);
    if (summary) {
        qsort(c.all_mask.v, c.all_mask.n, sizeof *c.all_mask.v, cmp_d);
        qsort(c.all_compile.v, c.all_compile.n, sizeof *c.all_compile.v, cmp_d);
        if (c.json) {
            printf("{\"summary\":{\"files\":%d", nfiles);
            for (int s = 0; s < ST_N; s++) printf(",\"%s\":%d", st_name[s], c.counts[s]);
            printf(",\"masks\":%zu,\"mask_p50_us\":%.1f,\"mask_p99_us\":%.1f,\"mask_max_us\":%.1f"
                   ",\"compile_p50_us\":%.1f,\"compile_p99_us\":%.1f}}\n",
                   c.all_mask.n, pct(&c.all_mask, 0.5), pct(&c.all_mask, 0.99), pct(&c.all_mask, 1.0),
                   pct(&c.all_compile, 0.5), pct(&c.all_compile, 0.99));
        } else {
            printf("files %d:", nfiles);
            for (int s = 0; s < ST_N; s++) printf(" %s %d", st_name[s], c.counts[s]);
            printf(" (pass %.1f%%)\nmasks %zu: p50 %.1f us, p99 %.1f us, max %.1f us\ncompile: p50 %.1f us, p99 %.1f us\n",
                   nfiles ? 100.0 * c.counts[ST_PASS] / nfiles : 0.0, c.all_mask.n, pct(&c.all_mask, 0.5),
                   pct(&c.all_mask, 0.99), pct(&c.all_mask, 1.0), pct(&c.all_compile, 0.5), pct(&c.all_compile, 0.99));
        }
    }
    free(c.mask);
    free(c.all_mask.v);
    free(c.all_compile.v);
    pg_gram_vocab_free(tv);
    pg_vocab_free(v);
    free(files);
    return 0;
}
