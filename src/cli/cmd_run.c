/* cmd_run.c - `pagoda run` (generate a continuation) and `pagoda logits`
 * (dump the last prompt position's logits).
 *
 * Both run one sequence through the batched forward pass: a batch of the
 * prompt (in chunks of up to CHUNK tokens), then one token per step. The KV
 * store holds exactly the blocks of this sequence, with an identity block
 * table. */
#include "cli/commands.h"

#include "base/error.h"
#include "base/pool.h"
#include "model/model.h"
#include "sample/sampler.h"
#include "tokenizer/tokenizer.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CHUNK 256
#define BLOCK 16

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static const pg_cli_opt run_opts[] = {
    {"-m, --model", "FILE", PG_ARG_STR | PG_ARG_REQ, 0, NULL, "GGUF model (required)"},
    {"-p, --prompt", "TEXT", PG_ARG_STR | PG_ARG_REQ, 0, NULL, "the prompt (required; BOS added as the model's metadata says)"},
    {"-n, --n-predict", "N", PG_ARG_UINT, 0, "64", "tokens to generate at most"},
    {"--temp", "T", PG_ARG_NUM, 0, "0 (greedy)", "sampling temperature in [0, 2]"},
    {"--seed", "S", PG_ARG_UINT, 0, "time-based", "sampling seed"},
    {"-t, --threads", "N", PG_ARG_UINT, 0, "2", "compute threads"},
    {"-c, --ctx-size", "N", PG_ARG_UINT, 0, "the model's training context", "max positions (prompt + generation)"},
    {"--kv-type", "TYPE", PG_ARG_STR, 0, "f16", "KV cache storage: f16, q8_0, q4_0 or f32"},
    {"--json", NULL, PG_ARG_NONE, 0, NULL, "print {\"prompt_tokens\":[...],\"tokens\":[...],\"text\":\"...\"}"},
    {"--spec", "MODE", PG_ARG_STR, 0, "off (draft with --draft-model)",
     "speculative decoding through the engine: off, ngram or draft (--draft-model); the same tokens as off"},
    {"--spec-tokens", "K", PG_ARG_UINT, 0, "auto (8, adaptive)", "most drafted tokens per step (1..16)"},
    {"--draft-model", "FILE", PG_ARG_STR, 0, NULL, "draft model for --spec draft (same vocabulary)"},
};
const pg_cli_cmd pg_cli_run = {
    "run", "-m MODEL -p TEXT [-n N] [--temp T] [--seed S] [-t N] [-c N] [--kv-type TYPE] [--json] [--spec MODE]",
    "prints the continuation of TEXT (greedy by default; --temp samples with the seed)",
    NULL, run_opts, PG_CLI_N(run_opts), 0, 0, NULL};

static const pg_cli_opt logits_opts[] = {
    {"-m, --model", "FILE", PG_ARG_STR | PG_ARG_REQ, 0, NULL, "GGUF model (required)"},
    {"-p, --prompt", "TEXT", PG_ARG_STR | PG_ARG_REQ, 0, NULL, "the prompt (required; BOS added as the model's metadata says)"},
    {"-o, --output", "FILE", PG_ARG_STR | PG_ARG_REQ, 0, NULL, "where the logits go (required)"},
    {"-t, --threads", "N", PG_ARG_UINT, 0, "2", "compute threads"},
    {"-c, --ctx-size", "N", PG_ARG_UINT, 0, "the model's training context", "max positions"},
    {"--kv-type", "TYPE", PG_ARG_STR, 0, "f16", "KV cache storage: f16, q8_0, q4_0 or f32"},
};
const pg_cli_cmd pg_cli_logits = {
    "logits", "-m MODEL -p TEXT -o FILE [-t N] [-c N] [--kv-type TYPE]",
    "writes the last prompt position's logits (n_vocab little-endian float32)",
    NULL, logits_opts, PG_CLI_N(logits_opts), 0, 0, NULL};

#include "cli/run_spec.h"

static int parse_args(int argc, char **argv, run_args *a, int logits_mode, const char *cmd) {
    memset(a, 0, sizeof *a);
    a->n_predict = 64;
    a->threads = 2;
    a->kv_type = PG_KV_F16;
    a->temp = 0.0f;
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define NEEDV()                                                                  \
    do {                                                                         \
        if (!v) {                                                                \
            fprintf(stderr, "pagoda %s: option %s needs a value\n", cmd, o);     \
            return 2;                                                            \
        }                                                                        \
        i++;                                                                     \
    } while (0)
        if (!strcmp(o, "-m") || !strcmp(o, "--model")) { NEEDV(); a->model = v; }
        else if (!strcmp(o, "-p") || !strcmp(o, "--prompt")) { NEEDV(); a->prompt = v; }
        else if (logits_mode && (!strcmp(o, "-o") || !strcmp(o, "--output"))) { NEEDV(); a->out = v; }
        else if (!logits_mode && (!strcmp(o, "-n") || !strcmp(o, "--n-predict"))) {
            NEEDV();
            long n;
            if (pg_cli_parse_long(v, 0, 1000000, &n)) { fprintf(stderr, "pagoda %s: -n must be in [0, 1000000], got '%s'\n", cmd, v); return 2; }
            a->n_predict = (int)n;
        } else if (!logits_mode && !strcmp(o, "--temp")) {
            NEEDV();
            double t;
            int e = pg_cli_parse_double(v, 0, 2, &t);
            if (e) { fprintf(stderr, "pagoda %s: --temp: '%s' is %s\n", cmd, v, e == -1 ? "not a number" : "outside [0, 2]"); return 2; }
            a->temp = (float)t;
        } else if (!logits_mode && !strcmp(o, "--seed")) {
            NEEDV();
            char *end;
            unsigned long long s = strtoull(v, &end, 10);
            if (*end || !*v || *v == '-') { fprintf(stderr, "pagoda %s: --seed: '%s' is not a non-negative integer\n", cmd, v); return 2; }
            a->seed = s;
            a->has_seed = 1;
        } else if (!strcmp(o, "--threads") || !strcmp(o, "-t")) {
            NEEDV();
            long n;
            if (pg_cli_parse_long(v, 1, 256, &n)) { fprintf(stderr, "pagoda %s: --threads must be in [1, 256], got '%s'\n", cmd, v); return 2; }
            a->threads = (int)n;
        } else if (!strcmp(o, "--ctx-size") || !strcmp(o, "-c")) {
            NEEDV();
            long n;
            if (pg_cli_parse_long(v, 1, 1 << 22, &n)) { fprintf(stderr, "pagoda %s: --ctx-size must be in [1, 4194304], got '%s'\n", cmd, v); return 2; }
            a->n_ctx = (int)n;
        } else if (!strcmp(o, "--kv-type")) {
            NEEDV();
            a->kv_type = pg_kv_type_parse(v);
            if (a->kv_type < 0) { fprintf(stderr, "pagoda %s: --kv-type: '%s' is not one of f16|q8_0|q4_0|f32\n", cmd, v); return 2; }
        } else if (!logits_mode && !strcmp(o, "--json")) {
            a->json = 1;
        } else if (!logits_mode && !strcmp(o, "--spec")) {
            NEEDV();
            a->spec = v;
        } else if (!logits_mode && !strcmp(o, "--draft-model")) {
            NEEDV();
            a->draft = v;
        } else if (!logits_mode && !strcmp(o, "--spec-tokens")) {
            NEEDV();
            long n;
            if (pg_cli_parse_long(v, 1, PG_SPEC_MAX_K, &n)) { fprintf(stderr, "pagoda %s: --spec-tokens must be in [1, %d], got '%s'\n", cmd, PG_SPEC_MAX_K, v); return 2; }
            a->spec_tokens = (int)n;
        } else {
            fprintf(stderr, "pagoda %s: unknown option '%s'\n", cmd, o);
            return 2;
        }
#undef NEEDV
    }
    if (!a->model) { fprintf(stderr, "pagoda %s: -m MODEL is required\n", cmd); return 2; }
    if (!a->prompt) { fprintf(stderr, "pagoda %s: -p TEXT is required\n", cmd); return 2; }
    if (logits_mode && !a->out) { fprintf(stderr, "pagoda %s: -o FILE is required\n", cmd); return 2; }
    a->spec_mode = a->draft ? PG_SPEC_DRAFT : PG_SPEC_OFF;
    if (a->spec && pg_spec_mode_parse(a->spec, a->draft != NULL, &a->spec_mode) < 0) {
        fprintf(stderr, "pagoda %s: --spec %s %s\n", cmd, a->spec,
                a->draft ? "cannot be used with --draft-model (use --spec draft)" : "must be off, ngram, or draft with --draft-model");
        return 2;
    }
    return 0;
}

typedef struct {
    pg_model *model;
    pg_vocab *vocab;
    pg_pool *pool;
    pg_forward *fwd;
    pg_kv_store *kv;
    int32_t *table;
    int32_t n_ctx;
    float *logits;
} session;

static void session_free(session *s) {
    pg_forward_destroy(s->fwd);
    pg_kv_store_destroy(s->kv);
    pg_vocab_free(s->vocab);
    pg_model_free(s->model);
    pg_pool_destroy(s->pool);
    free(s->table);
    free(s->logits);
}

static int session_open(session *s, const run_args *a, int32_t need_ctx, pg_error *err) {
    memset(s, 0, sizeof *s);
    int rc = pg_model_load(a->model, &s->model, err);
    if (rc < 0) return rc;
    if ((rc = pg_vocab_load(pg_model_gguf(s->model), &s->vocab, err)) < 0) return rc;
    const pg_hparams *hp = pg_model_hparams(s->model);
    if (pg_vocab_n_tokens(s->vocab) != hp->n_vocab)
        return pg_error_set(err, PG_EFORMAT, "vocabulary has %d tokens but the model has %d rows",
                            pg_vocab_n_tokens(s->vocab), hp->n_vocab);
    s->n_ctx = a->n_ctx ? a->n_ctx : hp->n_ctx_train;
    if (need_ctx > s->n_ctx)
        return pg_error_set(err, PG_ERANGE, "prompt plus generation needs %d positions but the context is %d", need_ctx,
                            s->n_ctx);
    int32_t ctx = need_ctx > 0 ? need_ctx : 1;
    int32_t n_blocks = (ctx + BLOCK - 1) / BLOCK;
    s->pool = pg_pool_create(a->threads);
    if (!s->pool) return pg_error_set(err, PG_ENOMEM, "cannot create the thread pool");
    if ((rc = pg_kv_store_create(s->model, n_blocks, BLOCK, a->kv_type, &s->kv, err)) < 0) return rc;
    if ((rc = pg_forward_create(s->model, s->pool, CHUNK, 1, n_blocks * BLOCK, &s->fwd, err)) < 0) return rc;
    s->table = malloc((size_t)n_blocks * sizeof(int32_t));
    s->logits = malloc((size_t)hp->n_vocab * sizeof(float));
    if (!s->table || !s->logits) return pg_error_set(err, PG_ENOMEM, "out of memory");
    for (int32_t i = 0; i < n_blocks; i++) s->table[i] = i;
    return 0;
}

/* Feed tokens[0..n) at positions start.. ; logits of the last one into s->logits. */
static int feed(session *s, const int32_t *tokens, int32_t n, int32_t start, pg_error *err) {
    int32_t pos[CHUNK], seq[CHUNK];
    pg_batch_seq bs = {s->table, pg_kv_store_n_blocks(s->kv)};
    for (int32_t off = 0; off < n; off += CHUNK) {
        int32_t c = n - off < CHUNK ? n - off : CHUNK;
        for (int32_t i = 0; i < c; i++) {
            pos[i] = start + off + i;
            seq[i] = 0;
        }
        int32_t last = c - 1;
        int is_last = off + c == n;
        pg_batch b = {c, tokens + off, pos, seq, 1, &bs, is_last ? 1 : 0, &last};
        int rc = pg_forward_run(s->fwd, s->kv, &b, s->logits, err);
        if (rc < 0) return rc;
    }
    return 0;
}

static int tokenize_prompt(const pg_vocab *v, const char *text, int32_t **out, int32_t *n, pg_error *err) {
    size_t len = strlen(text);
    size_t cap = len + 8;
    int32_t *ids = malloc(cap * sizeof(int32_t));
    if (!ids) return pg_error_set(err, PG_ENOMEM, "out of memory");
    int64_t k = pg_tokenize(v, text, len, 1, 0, ids, cap, err);
    if (k > (int64_t)cap) {
        int32_t *n2 = realloc(ids, (size_t)k * sizeof(int32_t));
        if (!n2) { free(ids); return pg_error_set(err, PG_ENOMEM, "out of memory"); }
        ids = n2;
        k = pg_tokenize(v, text, len, 1, 0, ids, (size_t)k, err);
    }
    if (k < 0) { free(ids); return (int)k; }
    if (k == 0) { free(ids); return pg_error_set(err, PG_EINVAL, "the prompt has no tokens"); }
    *out = ids;
    *n = (int32_t)k;
    return 0;
}

int cmd_run(int argc, char **argv) {
    run_args a;
    int rc = parse_args(argc, argv, &a, 0, "run");
    if (rc) return rc;
    pg_error err = {0};
    session s;
    int32_t *prompt = NULL, n_prompt = 0, *gen = NULL, n_gen = 0;
    pg_sampler *smp = NULL;
    pg_detok *dt = NULL;
    char *text = NULL;
    size_t text_len = 0, text_cap = 0;
    int exit_code = 1;
    /* tokenizing needs the vocab; load model first with a provisional ctx */
    pg_gguf *g;
    pg_vocab *v0;
    if ((rc = pg_gguf_open(a.model, &g, &err)) < 0) goto fail_early;
    rc = pg_vocab_load(g, &v0, &err);
    pg_gguf_close(g);
    if (rc < 0) goto fail_early;
    rc = tokenize_prompt(v0, a.prompt, &prompt, &n_prompt, &err);
    pg_vocab_free(v0);
    if (rc < 0) goto fail_early;
    if (a.spec_mode != PG_SPEC_OFF) { /* speculative decoding runs in the engine */
        rc = pg_run_spec(&a, prompt, n_prompt);
        free(prompt);
        return rc;
    }
    if ((rc = session_open(&s, &a, n_prompt + a.n_predict, &err)) < 0) goto fail;
    pg_sampling_params sp = pg_sampling_params_default();
    sp.temperature = a.temp;
    sp.seed = a.seed;
    sp.has_seed = a.has_seed;
    const pg_hparams *hp = pg_model_hparams(s.model);
    if ((rc = pg_sampling_params_check(&sp, hp->n_vocab, &err)) < 0) goto fail;
    smp = pg_sampler_create(&sp, hp->n_vocab, (uint64_t)time(NULL));
    dt = pg_detok_create(s.vocab, 0);
    gen = malloc(((size_t)a.n_predict + 1) * sizeof(int32_t));
    if (!smp || !dt || !gen) { rc = pg_error_set(&err, PG_ENOMEM, "out of memory"); goto fail; }
    if ((rc = pg_sampler_accept_prompt(smp, prompt, n_prompt, &err)) < 0) goto fail;
    double t0 = now_s();
    if ((rc = feed(&s, prompt, n_prompt, 0, &err)) < 0) goto fail;
    double t1 = now_s();
    char piece[1024];
    for (int i = 0; i < a.n_predict; i++) {
        pg_sample_out so;
        int32_t tok = pg_sampler_sample(smp, s.logits, &so);
        if (pg_vocab_is_eog(s.vocab, tok)) break;
        gen[n_gen++] = tok;
        pg_sampler_accept(smp, tok);
        int64_t k = pg_detok_push(dt, tok, piece, sizeof piece);
        if (k < 0) { rc = pg_error_set(&err, (int)k, "out of memory in the detokenizer"); goto fail; }
        if (k > (int64_t)sizeof piece) k = sizeof piece; /* pieces are short; clipped defensively */
        if (a.json) {
            if (text_len + (size_t)k + 1 > text_cap) {
                text_cap = (text_len + (size_t)k + 1) * 2;
                char *t2 = realloc(text, text_cap);
                if (!t2) { rc = pg_error_set(&err, PG_ENOMEM, "out of memory"); goto fail; }
                text = t2;
            }
            memcpy(text + text_len, piece, (size_t)k);
            text_len += (size_t)k;
        } else {
            fwrite(piece, 1, (size_t)k, stdout);
            fflush(stdout);
        }
        if (i + 1 < a.n_predict && (rc = feed(&s, &tok, 1, n_prompt + i, &err)) < 0) goto fail;
    }
    {
        int64_t k = pg_detok_flush(dt, piece, sizeof piece);
        if (k < 0) { rc = pg_error_set(&err, (int)k, "out of memory in the detokenizer"); goto fail; }
        if (k > (int64_t)sizeof piece) k = sizeof piece;
        if (a.json) {
            json_t *o = json_object(), *pt = json_array(), *gt = json_array();
            for (int32_t i = 0; i < n_prompt; i++) json_array_append_new(pt, json_integer(prompt[i]));
            for (int32_t i = 0; i < n_gen; i++) json_array_append_new(gt, json_integer(gen[i]));
            char *full = malloc(text_len + (size_t)k + 1);
            if (text_len) memcpy(full, text, text_len);
            memcpy(full + text_len, piece, (size_t)k);
            json_object_set_new(o, "prompt_tokens", pt);
            json_object_set_new(o, "tokens", gt);
            json_object_set_new(o, "text", json_stringn_nocheck(full, text_len + (size_t)k));
            free(full);
            char *out = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII);
            printf("%s\n", out);
            free(out);
            json_decref(o);
        } else {
            fwrite(piece, 1, (size_t)k, stdout);
            putchar('\n');
        }
    }
    {
        double t2 = now_s();
        int decoded = n_gen > 0 ? n_gen - 1 : 0; /* forward passes after the prompt */
        fprintf(stderr, "pagoda run: prompt %d tokens in %.1f ms (%.2f tokens/s); %d generated, decode %.2f tokens/s\n",
                n_prompt, (t1 - t0) * 1e3, n_prompt / (t1 - t0), n_gen,
                decoded > 0 ? decoded / (t2 - t1) : 0.0);
    }
    exit_code = 0;
fail:
    session_free(&s);
fail_early:
    if (exit_code) fprintf(stderr, "pagoda run: %s\n", err.msg[0] ? err.msg : "failed");
    pg_sampler_destroy(smp);
    pg_detok_destroy(dt);
    free(prompt);
    free(gen);
    free(text);
    return exit_code;
}

int cmd_logits(int argc, char **argv) {
    run_args a;
    int rc = parse_args(argc, argv, &a, 1, "logits");
    if (rc) return rc;
    pg_error err = {0};
    session s;
    memset(&s, 0, sizeof s);
    int32_t *prompt = NULL, n_prompt = 0;
    int exit_code = 1;
    pg_gguf *g;
    pg_vocab *v0;
    if ((rc = pg_gguf_open(a.model, &g, &err)) < 0) goto out;
    rc = pg_vocab_load(g, &v0, &err);
    pg_gguf_close(g);
    if (rc < 0) goto out;
    rc = tokenize_prompt(v0, a.prompt, &prompt, &n_prompt, &err);
    pg_vocab_free(v0);
    if (rc < 0) goto out;
    if ((rc = session_open(&s, &a, n_prompt, &err)) < 0) goto out;
    if ((rc = feed(&s, prompt, n_prompt, 0, &err)) < 0) goto out;
    FILE *f = fopen(a.out, "wb");
    if (!f) { pg_error_set(&err, PG_EIO, "cannot open '%s' for writing", a.out); goto out; }
    size_t nv = (size_t)pg_model_hparams(s.model)->n_vocab;
    if (fwrite(s.logits, sizeof(float), nv, f) != nv || fclose(f) != 0) {
        pg_error_set(&err, PG_EIO, "cannot write '%s'", a.out);
        goto out;
    }
    exit_code = 0;
out:
    if (exit_code) fprintf(stderr, "pagoda logits: %s\n", err.msg[0] ? err.msg : "failed");
    session_free(&s);
    free(prompt);
    return exit_code;
}
