/* cmd_embed.c - `pagoda embed` and `pagoda rerank`: engine/embed from the
 * command line, JSON on stdout for scripts and tests.
 *
 *   pagoda embed -m MODEL [--pooling none|mean|cls|last] [--normalize|--no-normalize]
 *                [--dimensions N] [--matryoshka] [--truncate] [--base64]
 *                [--threads N] [--max-batched-tokens N] TEXT...
 *     {"model", "pooling", "dim", "prompt_tokens",
 *      "data": [{"index", "tokens", "embedding": [floats] | "base64" | [[floats] per token]}]}
 *   pagoda rerank -m MODEL --query Q [--truncate] [--threads N] DOC...
 *     {"model", "results": [{"index", "relevance_score", "tokens"}] (highest score first),
 *      "usage": {"prompt_tokens"}}
 *
 * Floats are printed with 9 significant digits (they read back exactly as
 * float32). All TEXT / DOC arguments go in one request, so they share
 * forward passes. Exit codes: 0 ok, 1 runtime error (model cannot embed,
 * input too long, ...: one line on stderr), 2 usage error. */
#include "cli/commands.h"

#include "base/pool.h"
#include "engine/embed.h"
#include "model/model.h"
#include "tokenizer/tokenizer.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const pg_cli_opt embed_opts[] = {
    {"-m, --model", "FILE", PG_ARG_STR | PG_ARG_REQ, 0, NULL, "GGUF embedding model, or a chat model with --pooling (required)"},
    {"--pooling", "P", PG_ARG_STR, 0, "the model's pooling_type", "none, mean, cls or last: how token vectors become one"},
    {"--normalize", NULL, PG_ARG_NONE, 0, NULL, "L2-normalise the vectors (the default)"},
    {"--no-normalize", NULL, PG_ARG_NONE, 0, NULL, "print the pooled vectors as they are"},
    {"--dimensions", "N", PG_ARG_UINT, 0, "the model's size", "keep the first N values and renormalise (Matryoshka models only)"},
    {"--matryoshka", NULL, PG_ARG_NONE, 0, NULL, "allow --dimensions for a model that does not say it is Matryoshka"},
    {"--truncate", NULL, PG_ARG_NONE, 0, NULL, "cut a text longer than the limit instead of failing"},
    {"--base64", NULL, PG_ARG_NONE, 0, NULL, "print each vector as base64 of little-endian float32"},
    {"-t, --threads", "N", PG_ARG_UINT, 0, "2", "compute threads"},
    {"--max-batched-tokens", "N", PG_ARG_UINT, 0, "2048", "tokens per forward pass (also caps one text)"},
};
const pg_cli_cmd pg_cli_embed = {
    "embed", "-m MODEL [--pooling P] [--normalize|--no-normalize] [--dimensions N] [--truncate] [--base64] TEXT...",
    "embeddings of the TEXTs as JSON {\"model\",\"pooling\",\"dim\",\"prompt_tokens\",\"data\":[{\"index\",\"tokens\","
    "\"embedding\"}]}",
    "TEXT...  the texts, embedded in one request (put -- before a text that starts with '-')",
    embed_opts, PG_CLI_N(embed_opts), 1, -1, "no texts to embed"};

static const pg_cli_opt rerank_opts[] = {
    {"-m, --model", "FILE", PG_ARG_STR | PG_ARG_REQ, 0, NULL, "GGUF reranker (pooling rank, classifier head) (required)"},
    {"--query", "Q", PG_ARG_STR | PG_ARG_REQ, 0, NULL, "the query (required)"},
    {"--truncate", NULL, PG_ARG_NONE, 0, NULL, "cut a document whose pair is longer than the limit instead of failing"},
    {"-t, --threads", "N", PG_ARG_UINT, 0, "2", "compute threads"},
    {"--max-batched-tokens", "N", PG_ARG_UINT, 0, "2048", "tokens per forward pass (also caps one pair)"},
};
const pg_cli_cmd pg_cli_rerank = {
    "rerank", "-m MODEL --query Q [--truncate] DOC...",
    "relevance scores of the DOCs for the query as JSON {\"results\":[{\"index\",\"relevance_score\",\"tokens\"}],"
    "\"usage\"}, highest first",
    "DOC...  the documents (put -- before one that starts with '-')",
    rerank_opts, PG_CLI_N(rerank_opts), 1, -1, "no documents to rank"};

typedef struct {
    const char *model, *query;
    int pooling, normalize, base64, truncate, matryoshka, threads;
    int32_t dimensions, max_batched;
    int n_texts;
    char **texts;
} opts;

static int parse_int(const char *s, int lo, int hi, int *out) {
    char *end;
    long v = strtol(s, &end, 10);
    if (!*s || *end || v < lo || v > hi) return -1;
    *out = (int)v;
    return 0;
}

static int usage(const char *cmd, const char *msg) {
    if (!strcmp(cmd, "embed"))
        fprintf(stderr,
                "pagoda embed: %s (usage: pagoda embed -m MODEL [--pooling none|mean|cls|last] "
                "[--normalize|--no-normalize] [--dimensions N] [--matryoshka] [--truncate] [--base64] [--threads N] "
                "[--max-batched-tokens N] TEXT...)\n",
                msg);
    else
        fprintf(stderr,
                "pagoda rerank: %s (usage: pagoda rerank -m MODEL --query Q [--truncate] [--threads N] "
                "[--max-batched-tokens N] DOC...)\n",
                msg);
    return 2;
}

static int parse(const char *cmd, int argc, char **argv, opts *o) {
    *o = (opts){NULL, NULL, PG_POOL_UNSPEC, 1, 0, 0, -1, 2, 0, 2048, 0, NULL};
    o->texts = calloc((size_t)argc, sizeof *o->texts);
    if (!o->texts) return usage(cmd, "out of memory");
    int rerank = !strcmp(cmd, "rerank");
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int has_val = i + 1 < argc, v;
        if (!strcmp(a, "-m") || !strcmp(a, "--model")) {
            if (!has_val) return usage(cmd, "-m needs a value");
            o->model = argv[++i];
        } else if (!strcmp(a, "--threads") || !strcmp(a, "-t")) {
            if (!has_val || parse_int(argv[++i], 1, 256, &o->threads) < 0) return usage(cmd, "bad --threads");
        } else if (!strcmp(a, "--max-batched-tokens")) {
            if (!has_val || parse_int(argv[++i], 1, 1 << 20, &v) < 0) return usage(cmd, "bad --max-batched-tokens");
            o->max_batched = v;
        } else if (!strcmp(a, "--truncate")) {
            o->truncate = 1;
        } else if (rerank && !strcmp(a, "--query")) {
            if (!has_val) return usage(cmd, "--query needs a value");
            o->query = argv[++i];
        } else if (!rerank && !strcmp(a, "--pooling")) {
            if (!has_val) return usage(cmd, "--pooling needs a value");
            o->pooling = pg_pooling_parse(argv[++i]);
            if (o->pooling < 0 || o->pooling == PG_POOL_RANK)
                return usage(cmd, "--pooling must be none, mean, cls or last");
        } else if (!rerank && !strcmp(a, "--normalize")) {
            o->normalize = 1;
        } else if (!rerank && !strcmp(a, "--no-normalize")) {
            o->normalize = 0;
        } else if (!rerank && !strcmp(a, "--base64")) {
            o->base64 = 1;
        } else if (!rerank && !strcmp(a, "--matryoshka")) {
            o->matryoshka = 1;
        } else if (!rerank && !strcmp(a, "--dimensions")) {
            if (!has_val || parse_int(argv[++i], 1, 1 << 20, &v) < 0) return usage(cmd, "bad --dimensions");
            o->dimensions = v;
        } else if (!strcmp(a, "--")) {
            while (++i < argc) o->texts[o->n_texts++] = argv[i];
        } else if (a[0] == '-' && a[1]) {
            char m[160];
            snprintf(m, sizeof m, "unknown option '%.100s'", a);
            return usage(cmd, m);
        } else {
            o->texts[o->n_texts++] = argv[i];
        }
    }
    if (!o->model) return usage(cmd, "-m MODEL is required");
    if (rerank && !o->query) return usage(cmd, "--query is required");
    if (o->n_texts == 0) return usage(cmd, rerank ? "no documents" : "no texts");
    return 0;
}

typedef struct {
    pg_model *m;
    pg_vocab *v;
    pg_pool *pool;
    pg_embedder *e;
} loaded;

static void unload(loaded *l) {
    pg_embedder_destroy(l->e);
    pg_pool_destroy(l->pool);
    pg_vocab_free(l->v);
    pg_model_free(l->m);
}

static int load(const char *cmd, const opts *o, loaded *l) {
    pg_error err = {0};
    memset(l, 0, sizeof *l);
    int rc = pg_model_load(o->model, &l->m, &err);
    if (rc == 0) rc = pg_vocab_load(pg_model_gguf(l->m), &l->v, &err);
    if (rc == 0 && !(l->pool = pg_pool_create(o->threads))) rc = pg_error_set(&err, PG_ENOMEM, "cannot start threads");
    if (rc == 0) {
        pg_embed_config c = {o->max_batched, 0, o->pooling, o->matryoshka, -1};
        rc = pg_embedder_create(l->m, l->v, l->pool, &c, &l->e, &err);
    }
    if (rc < 0) {
        fprintf(stderr, "pagoda %s: %s\n", cmd, err.msg);
        unload(l);
        return -1;
    }
    return 0;
}

static int dump(json_t *root) {
    int rc = json_dumpf(root, stdout, JSON_REAL_PRECISION(9) | JSON_ENSURE_ASCII) == 0 ? 0 : 1;
    fputc('\n', stdout);
    json_decref(root);
    return rc;
}

static json_t *floats(const float *v, int32_t n) {
    json_t *a = json_array();
    for (int32_t i = 0; i < n; i++) json_array_append_new(a, json_real(v[i]));
    return a;
}

int cmd_embed(int argc, char **argv) {
    opts o;
    int rc = parse("embed", argc, argv, &o);
    if (rc) {
        free(o.texts);
        return rc;
    }
    loaded l;
    if (load("embed", &o, &l) < 0) {
        free(o.texts);
        return 1;
    }
    pg_embed_input *in = calloc((size_t)o.n_texts, sizeof *in);
    for (int i = 0; in && i < o.n_texts; i++) in[i] = (pg_embed_input){o.texts[i], strlen(o.texts[i]), NULL, 0};
    pg_embed_opts eo = {o.normalize, o.dimensions, o.truncate};
    pg_embed_result r;
    pg_error err = {0};
    if (!in) rc = pg_error_set(&err, PG_ENOMEM, "out of memory");
    else rc = pg_embed(l.e, in, o.n_texts, &eo, &r, &err);
    if (rc < 0) {
        fprintf(stderr, "pagoda embed: %s\n", err.msg);
        rc = 1;
    } else {
        json_t *root = json_object(), *data = json_array();
        json_object_set_new(root, "model", json_string(o.model));
        json_object_set_new(root, "pooling", json_string(pg_pooling_name(pg_embedder_pooling(l.e))));
        json_object_set_new(root, "dim", json_integer(r.dim));
        json_object_set_new(root, "prompt_tokens", json_integer(r.prompt_tokens));
        for (int32_t i = 0; i < r.n; i++) {
            json_t *d = json_object();
            json_object_set_new(d, "index", json_integer(i));
            json_object_set_new(d, "tokens", json_integer(r.n_tokens[i]));
            const int32_t r0 = r.first_row[i], r1 = r.first_row[i + 1];
            if (pg_embedder_pooling(l.e) == PG_POOL_NONE) {
                json_t *rows = json_array();
                for (int32_t k = r0; k < r1; k++) json_array_append_new(rows, floats(r.data + (size_t)k * r.dim, r.dim));
                json_object_set_new(d, "embedding", rows);
            } else if (o.base64) {
                size_t need = pg_embed_base64(r.data + (size_t)r0 * r.dim, r.dim, NULL, 0);
                char *b = malloc(need + 1);
                if (b) pg_embed_base64(r.data + (size_t)r0 * r.dim, r.dim, b, need + 1);
                json_object_set_new(d, "embedding", b ? json_string(b) : json_null());
                free(b);
            } else {
                json_object_set_new(d, "embedding", floats(r.data + (size_t)r0 * r.dim, r.dim));
            }
            json_array_append_new(data, d);
        }
        json_object_set_new(root, "data", data);
        rc = dump(root);
        pg_embed_result_free(&r);
    }
    free(in);
    free(o.texts);
    unload(&l);
    return rc;
}

static const float *g_scores;
static int by_score(const void *a, const void *b) {
    float x = g_scores[*(const int32_t *)a], y = g_scores[*(const int32_t *)b];
    if (x != y) return x > y ? -1 : 1;
    return *(const int32_t *)a - *(const int32_t *)b; /* ties: document order */
}

int cmd_rerank(int argc, char **argv) {
    opts o;
    int rc = parse("rerank", argc, argv, &o);
    if (rc) {
        free(o.texts);
        return rc;
    }
    loaded l;
    if (load("rerank", &o, &l) < 0) {
        free(o.texts);
        return 1;
    }
    pg_embed_input *in = calloc((size_t)o.n_texts, sizeof *in);
    int32_t *order = calloc((size_t)o.n_texts, sizeof *order);
    for (int i = 0; in && i < o.n_texts; i++) in[i] = (pg_embed_input){o.texts[i], strlen(o.texts[i]), NULL, 0};
    pg_rerank_result r;
    pg_error err = {0};
    if (!in || !order) rc = pg_error_set(&err, PG_ENOMEM, "out of memory");
    else rc = pg_rerank(l.e, o.query, strlen(o.query), in, o.n_texts, o.truncate, &r, &err);
    if (rc < 0) {
        fprintf(stderr, "pagoda rerank: %s\n", err.msg);
        rc = 1;
    } else {
        for (int32_t i = 0; i < r.n; i++) order[i] = i;
        g_scores = r.scores;
        qsort(order, (size_t)r.n, sizeof *order, by_score);
        json_t *root = json_object(), *res = json_array(), *usage_o = json_object();
        json_object_set_new(root, "model", json_string(o.model));
        for (int32_t k = 0; k < r.n; k++) {
            json_t *d = json_object();
            json_object_set_new(d, "index", json_integer(order[k]));
            json_object_set_new(d, "relevance_score", json_real(r.scores[order[k]]));
            json_object_set_new(d, "tokens", json_integer(r.n_tokens[order[k]]));
            json_array_append_new(res, d);
        }
        json_object_set_new(root, "results", res);
        json_object_set_new(usage_o, "prompt_tokens", json_integer(r.prompt_tokens));
        json_object_set_new(root, "usage", usage_o);
        rc = dump(root);
        pg_rerank_result_free(&r);
    }
    free(in);
    free(order);
    free(o.texts);
    unload(&l);
    return rc;
}
