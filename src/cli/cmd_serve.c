/* cmd_serve.c - `pagoda serve`: options from a config file (--config FILE)
 * and the command line (which wins) into a pg_server_config; signals:
 * SIGTERM/SIGINT start a graceful drain, a second one exits at once (status
 * 1); SIGHUP reloads the API key file.
 *
 * Config file: one "name = value" per line, names are the long option names
 * without "--" (e.g. "max-seqs = 4", "api-key-file = /etc/pagoda/keys"),
 * '#' starts a comment line, blank lines are ignored, a value may be quoted
 * with "..." and boolean options take true/false. Repeated "api-key" lines
 * add keys; any --api-key on the command line replaces the file's keys. */
#include "cli/commands.h"
#include "cli/usage.h"

#include "base/log.h"
#include "model/model.h"
#include "server/server.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_KEYS 1024

static volatile sig_atomic_t g_stop = 0;
static volatile sig_atomic_t g_reload = 0;

static void on_signal(int sig) {
    (void)sig;
    if (g_stop) {
        static const char m[] = "pagoda: second signal, exiting now\n";
        ssize_t w = write(2, m, sizeof m - 1);
        (void)w;
        _exit(1);
    }
    g_stop = 1;
}
static void on_hup(int sig) {
    (void)sig;
    g_reload = 1;
}

static const pg_cli_opt serve_flags[] = {
    {"--config", "FILE", PG_ARG_STR, 0, NULL, "'name = value' lines with these long option names; flags override it"},
    {"-m, --model", "FILE", PG_ARG_STR, 0, "demo model", "GGUF model (without it: a built-in demo model with random weights)"},
    {"--host", "HOST", PG_ARG_STR, 0, "127.0.0.1", "listen address (IPv4 or IPv6)"},
    {"--port", "N", PG_ARG_UINT, 0, "8080", "port; 0 = pick a free port (printed)"},
    {"--model-alias", "NAME", PG_ARG_STR, 0, "the file name without .gguf", "the model id clients send"},
    {"--chat-template", "FILE", PG_ARG_STR, 0, "the model's tokenizer.chat_template", "Jinja chat template override"},
    {"-t, --threads", "N", PG_ARG_UINT, 0, "2", "compute threads"},
    {"-c, --ctx-size", "N", PG_ARG_UINT, 0, "the model's training context", "max positions per sequence"},
    {"--kv-cache-mem", "SIZE", PG_ARG_SIZE, 0, "automatic",
     "KV cache bytes (K/M/G suffix); automatic = min(25% of available memory, max-seqs x ctx)"},
    {"--kv-type", "TYPE", PG_ARG_STR, 0, "f16",
     "KV cache storage: f16, q8_0 (8-bit blocks: 1.88x the tokens of f16 in the same bytes), q4_0 (4-bit: 3.56x, "
     "less accurate) or f32"},
    {"--kv-f32", NULL, PG_ARG_NONE, 0, "f16", "store the KV cache in f32 (= --kv-type f32)"},
    {"--block-size", "N", PG_ARG_UINT, 0, "16", "KV block tokens"},
    {"--prefix-cache-dir", "DIR", PG_ARG_STR, 0, "off",
     "keep prefix-cache blocks evicted from memory (and all cached blocks at shutdown) as files in DIR, and load "
     "them for later requests with the same prefix, also after a restart (one server and one model per DIR)"},
    {"--prefix-cache-disk", "SIZE", PG_ARG_SIZE, 0, "4G", "bytes of block files kept in --prefix-cache-dir (K/M/G suffix; least recently used removed first)"},
    {"--max-seqs", "N", PG_ARG_UINT, 0, "16", "running sequences per step"},
    {"--max-batched-tokens", "N", PG_ARG_UINT, 0, "1024", "tokens per step (decodes first, the rest to prefill chunks)"},
    {"--prefill-chunk-decoding", "N", PG_ARG_INT, 0, "-1 (auto)",
     "prefill tokens per step while other streams decode; auto keeps the step within ~2x a decode-only step "
     "(from measured step times), 0 = no cap"},
    {"--batch-wait-us", "N", PG_ARG_UINT, 0, "5000",
     "before a step that starts with nothing running, wait for the rest of a burst (until N us pass with no new "
     "arrival, at most 4N in all), so requests sent together are prefilled in one step (0 = off)"},
    {"--spec", "MODE", PG_ARG_STR, 0, "off (draft with --draft-model)",
     "speculative decoding: off, ngram (drafts from the request's own prompt and output) or draft (--draft-model); "
     "outputs are identical to off; drafting backs off when several streams run"},
    {"--spec-tokens", "K", PG_ARG_UINT, 0, "auto (8, adaptive)", "most drafted tokens per sequence and step (1..16)"},
    {"--draft-model", "FILE", PG_ARG_STR, 0, "none", "small GGUF model with the same vocabulary that drafts for --spec draft"},
    {"--seed", "N", PG_ARG_UINT, 0, "time-based", "seed of requests that send none"},
    {"--demo-seed", "N", PG_ARG_UINT, 0, "1234", "weights seed of the demo model"},
    {"--max-queued-requests", "N", PG_ARG_UINT, 0, "256", "waiting requests before 429"},
    {"--max-queued-tokens", "N", PG_ARG_UINT, 0, "1048576", "waiting prompt tokens before 429"},
    {"--request-timeout", "SECONDS", PG_ARG_NUM, 0, "600",
     "deadline of a request, queue + generation (0 = none); a body field \"timeout\" may lower it"},
    {"--max-tokens-limit", "N", PG_ARG_UINT, 0, "0", "max_tokens above N gets 400 (0: only the context bounds it)"},
    {"--max-messages", "N", PG_ARG_UINT, 0, "1024", "chat messages per request"},
    {"--max-body-bytes", "SIZE", PG_ARG_SIZE, 0, "16M", "larger bodies get 413"},
    {"--max-header-bytes", "SIZE", PG_ARG_SIZE, 0, "64K", "per-connection header memory; larger headers get 431"},
    {"--max-json-values", "N", PG_ARG_UINT, 0, "262144",
     "JSON values (keys included) in a request body; more gets 413 before the body is parsed"},
    {"--max-response-entries", "N", PG_ARG_UINT, 0, "2097152",
     "non-streaming requests: choices x max_tokens x (1 + top logprobs), or the floats of an embeddings "
     "response, above N gets 400"},
    {"--max-unsent-bytes", "SIZE", PG_ARG_SIZE, 0, "4M",
     "a stream's output not yet taken by its client; beyond it the request's sequences pause until the client reads"},
    {"--responses-store-max", "N", PG_ARG_UINT, 0, "1024",
     "Responses API (/v1/responses): responses kept for GET and previous_response_id, least recently used dropped "
     "first (0 = store off)"},
    {"--responses-bytes", "SIZE", PG_ARG_SIZE, 0, "64M", "... and at most SIZE bytes of them (ids, bodies and histories)"},
    {"--responses-ttl", "SECONDS", PG_ARG_NUM, 0, "3600", "... each for this long (0 = until dropped)"},
    {"--max-connections", "N", PG_ARG_UINT, 0, "512", "concurrent connections; beyond it new ones are closed at once"},
    {"--max-connections-per-ip", "N", PG_ARG_UINT, 0, "64", "per client address, closed at once beyond it (0 = unlimited)"},
    {"--timeout", "SECONDS", PG_ARG_UINT, 0, "120",
     "idle connection timeout; also the deadline for complete headers, the slack of a body (then >= 16 KiB/s) and "
     "how long a stream's client may read nothing before it is cancelled"},
    {"--http-threads", "N", PG_ARG_UINT, 0, "2", "HTTP worker threads"},
    {"--no-webui", NULL, PG_ARG_NONE, 0, "web UI on", "no chat page at / and no metrics dashboard at /dashboard"},
    {"--pooling", "P", PG_ARG_STR, 0, "the model's pooling_type",
     "none, mean, cls or last: serve /v1/embeddings with this pooling (a chat model needs it for embeddings)"},
    {"--matryoshka", NULL, PG_ARG_NONE, 0, "the model's is_matryoshka", "allow 'dimensions' below the model's size"},
    {"--embed-workers", "N", PG_ARG_UINT, 0, "16",
     "threads running /v1/embeddings and /v1/rerank requests (concurrent requests share encoder passes)"},
    {"--embed-batch-inputs", "N", PG_ARG_UINT, 0, "64",
     "inputs per encoder pass (with --max-batched-tokens tokens); 1 = no batching"},
    {"--embed-batch-wait-us", "N", PG_ARG_UINT, 0, "500",
     "before an encoder pass that is not full, wait until N us pass with no new input (at most 4N) so that "
     "concurrent requests share it (0 = never)"},
    {"--api-key", "KEY", PG_ARG_STR, 1, "none", "require this Bearer key (prefer --api-key-file)"},
    {"--api-key-file", "FILE", PG_ARG_STR, 0, "none", "lines 'KEY [NAME [RPM [TPM]]]'; reloaded on SIGHUP"},
    {"--metrics-key", "KEY", PG_ARG_STR, 0, "open", "protect /metrics with its own Bearer key"},
    {"--cors-origin", "ORIGIN", PG_ARG_STR, 1, "none (same origin only)",
     "allow browser pages of ORIGIN (e.g. https://app.example.com; * = any) to call the API: preflight OPTIONS "
     "answers and Access-Control-Allow-Origin on responses"},
    {"--chat-special-in-content", NULL, PG_ARG_NONE, 0, "off",
     "let special-token text in chat messages (e.g. <|end|>) become control tokens, as before; RISK: users can "
     "close their turn and forge system or assistant turns"},
    {"--rate-limit-rpm", "N", PG_ARG_NUM, 0, "0 = unlimited", "default requests per minute per key"},
    {"--rate-limit-tpm", "N", PG_ARG_NUM, 0, "0 = unlimited", "default tokens per minute per key"},
    {"--shutdown-grace", "SECONDS", PG_ARG_NUM, 0, "30", "on SIGTERM/SIGINT let running requests finish this long"},
    {"--replica-name", "NAME", PG_ARG_STR, 0, "HOST:PORT",
     "this replica's name, sent as x-pagoda-replica on every response (behind a load balancer)"},
    {"--otlp-endpoint", "URL", PG_ARG_STR, 0, "off",
     "export request spans (queue, prefill, decode) over OTLP/HTTP JSON to http://HOST[:PORT][/PATH] "
     "(default path /v1/traces; http:// only)"},
    {"--admin-key", "KEY", PG_ARG_STR, 0, "none (GET /v1/usage refused)", "Bearer key of GET /v1/usage"},
    {"--cost-per-hour", "AMOUNT", PG_ARG_NUM, 0, "0 = no cost figures",
     "the machine's cost per hour: estimated cost per key and per 1k tokens from compute seconds"},
    {"--log-level", "LEVEL", PG_ARG_STR, 0, "info", "debug, info, warn, error or off"},
    {"--log-format", "FORMAT", PG_ARG_STR, 0, "text", "text (key=value lines) or json (one object per line)"},
};
const pg_cli_cmd pg_cli_serve = {
    "serve", "[-m MODEL] [--host HOST] [--port N] [OPTIONS]",
    "the OpenAI-compatible HTTP server; its flags can also come from a --config file",
    NULL, serve_flags, PG_CLI_N(serve_flags), 0, 0, NULL};

static void usage(FILE *f) { pg_cli_print_help(f, &pg_cli_serve); }

static int parse_size(const char *s, uint64_t *out) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || v < 0) return -1;
    double m = 1;
    if (*end == 'k' || *end == 'K') m = 1024.0, end++;
    else if (*end == 'm' || *end == 'M') m = 1024.0 * 1024, end++;
    else if (*end == 'g' || *end == 'G') m = 1024.0 * 1024 * 1024, end++;
    if (*end == 'i' || *end == 'I') end++;
    if (*end == 'b' || *end == 'B') end++;
    if (*end || v * m > 1.8e19) return -1;
    *out = (uint64_t)(v * m);
    return 0;
}

typedef struct {
    pg_server_config c;
    const char *keys_file[MAX_KEYS], *keys_cli[MAX_KEYS];
    int n_file, n_cli;
    const char *cors_file[MAX_KEYS], *cors_cli[MAX_KEYS];
    int n_cors_file, n_cors_cli;
    const char *spec;    /* --spec as given (resolved with --draft-model after parsing) */
} serve_opts;

/* Options that take no value. */
static int is_flag(const char *name) {
    return !strcmp(name, "kv-f32") || !strcmp(name, "no-webui") || !strcmp(name, "chat-special-in-content") ||
           !strcmp(name, "matryoshka");
}

/* The options whose value is a size (K/M/G/T suffixes): 0, 2 after a
 * message, or 1 when name is not one of them. */
static int apply_size(pg_server_config *c, const char *name, const char *v, const char *where) {
    static const struct {
        const char *name;
        uint64_t lo, hi;
        const char *range;
    } opts[] = {
        {"kv-cache-mem", 0, UINT64_MAX, "a size (e.g. 512M)"},
        {"prefix-cache-disk", 65536, (uint64_t)1 << 50, "a size in [64K, 1P] (e.g. 4G)"},
        {"max-unsent-bytes", 4096, (uint64_t)1 << 40, "a size in [4K, 1T] (e.g. 4M)"},
        {"responses-bytes", 4096, (uint64_t)1 << 40, "a size in [4K, 1T] (e.g. 64M)"},
        {"max-body-bytes", 1, (uint64_t)1 << 40, "a size in [1, 1T] (e.g. 16M)"},
        {"max-header-bytes", 1, (uint64_t)1 << 40, "a size in [1, 1T] (e.g. 64K)"},
    };
    size_t i = 0;
    while (i < sizeof opts / sizeof opts[0] && strcmp(name, opts[i].name)) i++;
    if (i == sizeof opts / sizeof opts[0]) return 1;
    uint64_t sz;
    if (parse_size(v, &sz) < 0 || sz < opts[i].lo || sz > opts[i].hi) {
        fprintf(stderr, "pagoda serve: %s%s: '%s' is not %s\n", where, name, v, opts[i].range);
        return 2;
    }
    switch (i) {
    case 0: c->engine.kv_cache_mem = sz; break;
    case 1: c->engine.prefix_cache_disk = sz; break;
    case 2: c->max_unsent_bytes = (size_t)sz; break;
    case 3: c->responses_store_bytes = (size_t)sz; break;
    case 4: c->max_body_bytes = (size_t)sz; break;
    default: c->connection_memory = (size_t)(sz < 4096 ? 4096 : sz); break;
    }
    return 0;
}

/* Applies one option (name without dashes). from_file: api-key goes to the
 * file list. Returns 0, or 2 after printing a message. */
static int apply(serve_opts *so, const char *name, const char *v, int from_file, const char *where) {
    pg_server_config *c = &so->c;
    long n;
    double d;
#define BAD(what)                                                                  \
    do {                                                                           \
        fprintf(stderr, "pagoda serve: %s%s: '%s' is %s\n", where, name, v, what); \
        return 2;                                                                  \
    } while (0)
#define INT(lo, hi, dst)                                                                          \
    do {                                                                                          \
        int e_ = pg_cli_parse_long(v, lo, hi, &n);                                                \
        if (e_ == -1) BAD("not an integer");                                                      \
        if (e_) {                                                                                 \
            fprintf(stderr, "pagoda serve: %s%s needs an integer in [%ld, %ld], got '%s'\n", where, name, \
                    (long)(lo), (long)(hi), v);                                                   \
            return 2;                                                                             \
        }                                                                                         \
        dst = n;                                                                                  \
    } while (0)
#define NUM(lo, hi, dst)                                                   \
    do {                                                                   \
        int e_ = pg_cli_parse_double(v, lo, hi, &d);                       \
        if (e_ == -1) BAD("not a number");                                 \
        if (e_) BAD("out of range");                                       \
        dst = d;                                                           \
    } while (0)
    if (is_flag(name)) { /* no value = true */
        int b = !v || !strcmp(v, "true") || !strcmp(v, "1") ? 1 : !strcmp(v, "false") || !strcmp(v, "0") ? 0 : -1;
        if (b < 0) BAD("not true or false");
        if (!strcmp(name, "kv-f32")) { if (b) c->engine.kv_type = 0; } /* false: the default KV type stays */
        else if (!strcmp(name, "chat-special-in-content")) c->chat_special_in_content = b;
        else if (!strcmp(name, "no-webui")) c->no_webui = b;
        else c->matryoshka = b ? 1 : -1; /* matryoshka */
        return 0;
    }
    int rs = apply_size(c, name, v, where);
    if (rs != 1) return rs;
    if (!strcmp(name, "pooling")) {
        int p = pg_pooling_parse(v);
        if (p < 0 || p == PG_POOL_RANK) BAD("not one of none|mean|cls|last");
        c->pooling = p;
        return 0;
    }
    if (!strcmp(name, "m") || !strcmp(name, "model")) c->model_path = v;
    else if (!strcmp(name, "draft-model")) c->draft_model_path = v;
    else if (!strcmp(name, "spec")) {
        int mode;
        if (pg_spec_mode_parse(v, 0, &mode) < 0 && strcmp(v, "draft")) BAD("not one of off|ngram|draft");
        so->spec = v;
    }
    else if (!strcmp(name, "spec-tokens")) INT(1, PG_SPEC_MAX_K, c->engine.spec_tokens);
    else if (!strcmp(name, "host")) c->host = v;
    else if (!strcmp(name, "port")) INT(0, 65535, c->port);
    else if (!strcmp(name, "model-alias")) c->model_alias = v;
    else if (!strcmp(name, "chat-template")) c->chat_template_path = v;
    else if (!strcmp(name, "t") || !strcmp(name, "threads")) INT(1, 1024, c->engine.threads);
    else if (!strcmp(name, "c") || !strcmp(name, "ctx-size")) INT(1, 1 << 24, c->engine.n_ctx);
    else if (!strcmp(name, "block-size")) INT(1, 1 << 16, c->engine.block_size);
    else if (!strcmp(name, "max-seqs")) INT(1, 1 << 16, c->engine.max_seqs);
    else if (!strcmp(name, "max-batched-tokens")) INT(1, 1 << 24, c->engine.max_batched_tokens);
    else if (!strcmp(name, "prefill-chunk-decoding")) INT(-1, 1 << 24, c->engine.prefill_chunk_decoding);
    else if (!strcmp(name, "batch-wait-us")) INT(0, 1000000, c->engine.batch_wait_us);
    else if (!strcmp(name, "max-queued-requests")) INT(1, 1 << 24, c->engine.max_queued_requests);
    else if (!strcmp(name, "max-queued-tokens")) INT(1, 1L << 40, c->engine.max_queued_tokens);
    else if (!strcmp(name, "max-connections")) INT(1, 1 << 20, c->max_connections);
    else if (!strcmp(name, "max-connections-per-ip")) INT(0, 1 << 20, c->max_connections_per_ip);
    else if (!strcmp(name, "timeout")) INT(0, 1 << 24, c->connection_timeout_s);
    else if (!strcmp(name, "max-json-values")) INT(16, 1L << 32, c->max_json_values);
    else if (!strcmp(name, "max-response-entries")) INT(1, 1L << 40, c->max_response_entries);
    else if (!strcmp(name, "http-threads")) INT(1, 256, c->http_threads);
    else if (!strcmp(name, "responses-store-max")) INT(0, 1L << 32, c->responses_store_max);
    else if (!strcmp(name, "responses-ttl")) NUM(0, 1e9, c->responses_ttl_s);
    else if (!strcmp(name, "embed-workers")) INT(1, 1024, c->embed_workers);
    else if (!strcmp(name, "embed-batch-inputs")) INT(1, 4096, c->embed_batch_inputs);
    else if (!strcmp(name, "embed-batch-wait-us")) {
        INT(0, 1000000, c->embed_batch_wait_us);
        if (c->embed_batch_wait_us == 0) c->embed_batch_wait_us = -1;
    }
    else if (!strcmp(name, "max-messages")) INT(1, 1 << 20, c->max_messages);
    else if (!strcmp(name, "max-tokens-limit")) INT(0, 1 << 30, c->max_tokens_limit);
    else if (!strcmp(name, "request-timeout")) NUM(0, 1e9, c->request_timeout_s);
    else if (!strcmp(name, "shutdown-grace")) NUM(0, 1e6, c->shutdown_grace_s);
    else if (!strcmp(name, "rate-limit-rpm")) NUM(0, 1e12, c->default_rpm);
    else if (!strcmp(name, "rate-limit-tpm")) NUM(0, 1e12, c->default_tpm);
    else if (!strcmp(name, "api-key-file")) c->api_key_file = v;
    else if (!strcmp(name, "prefix-cache-dir")) {
        if (!*v) BAD("empty (a directory is needed)");
        c->engine.prefix_cache_dir = v;
    }
    else if (!strcmp(name, "metrics-key")) c->metrics_key = v;
    else if (!strcmp(name, "replica-name")) {
        if (!*v || strlen(v) > 200) BAD("not a name of 1 to 200 characters");
        for (const char *p = v; *p; p++)
            if ((unsigned char)*p < 0x21 || (unsigned char)*p > 0x7e) BAD("not printable ASCII without spaces");
        c->replica_name = v;
    }
    else if (!strcmp(name, "otlp-endpoint")) c->otlp_endpoint = v;
    else if (!strcmp(name, "admin-key")) {
        if (!*v) BAD("empty (a key is needed)");
        c->admin_key = v;
    }
    else if (!strcmp(name, "cost-per-hour")) NUM(0, 1e9, c->cost_per_hour);
    else if (!strcmp(name, "cors-origin")) {
        if (!*v || strchr(v, ' ') || strchr(v, ',')) BAD("one origin such as https://app.example.com, or *");
        if ((from_file ? so->n_cors_file : so->n_cors_cli) == MAX_KEYS) BAD("too many origins");
        if (from_file) so->cors_file[so->n_cors_file++] = v;
        else so->cors_cli[so->n_cors_cli++] = v;
    }
    else if (!strcmp(name, "api-key")) {
        if (!*v) BAD("empty (a key is needed)");
        if (from_file) {
            if (so->n_file == MAX_KEYS) BAD("one key too many (use --api-key-file)");
            so->keys_file[so->n_file++] = v;
        } else {
            if (so->n_cli == MAX_KEYS) BAD("one key too many (use --api-key-file)");
            so->keys_cli[so->n_cli++] = v;
        }
    } else if (!strcmp(name, "seed") || !strcmp(name, "demo-seed")) {
        char *end;
        errno = 0;
        unsigned long long s = strtoull(v, &end, 10);
        if (errno || !*v || *end || *v == '-') BAD("not a non-negative integer");
        if (!strcmp(name, "seed")) c->engine.default_seed = s;
        else c->demo_seed = s;
    } else if (!strcmp(name, "kv-type")) {
        int t = pg_kv_type_parse(v);
        if (t < 0) BAD("not one of f16|q8_0|q4_0|f32");
        c->engine.kv_type = t;
    } else if (!strcmp(name, "log-level")) {
        int l = pg_log_level_parse(v);
        if (l < 0) BAD("not one of debug|info|warn|error|off");
        pg_log_set_level(l);
    } else if (!strcmp(name, "log-format")) {
        if (!strcmp(v, "json")) pg_log_set_format(PG_LOG_JSON);
        else if (!strcmp(v, "text")) pg_log_set_format(PG_LOG_TEXT);
        else BAD("not text or json");
    } else if (!strcmp(name, "config")) {
        if (from_file) BAD("a config file (not allowed inside a config file)");
    } else {
        fprintf(stderr, "pagoda serve: %sunknown option '%s'\n", where, name);
        return 2;
    }
#undef BAD
#undef INT
#undef NUM
    return 0;
}

static char *trim(char *s) {
    while (*s == ' ' || *s == '\t') s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n')) s[--n] = 0;
    return s;
}

/* Reads the config file; its strings stay alive (owned by *hold) for the
 * server's lifetime. */
static int load_config(serve_opts *so, const char *path, char **hold) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "pagoda serve: cannot open config file '%s': %s\n", path, strerror(errno));
        return 2;
    }
    char *buf = NULL;
    size_t cap = 0, len = 0;
    char tmp[4096];
    size_t k;
    while ((k = fread(tmp, 1, sizeof tmp, f)) > 0) {
        if (len + k + 1 > cap) {
            size_t nc = cap ? cap * 2 : 8192;
            while (nc < len + k + 1) nc *= 2;
            if (nc > ((size_t)4 << 20)) {
                fclose(f);
                free(buf);
                fprintf(stderr, "pagoda serve: config file '%s' is larger than 4 MiB\n", path);
                return 2;
            }
            char *b = realloc(buf, nc);
            if (!b) {
                fclose(f);
                free(buf);
                return 2;
            }
            buf = b;
            cap = nc;
        }
        memcpy(buf + len, tmp, k);
        len += k;
    }
    fclose(f);
    if (!buf) return 0; /* empty file */
    buf[len] = 0;
    *hold = buf;
    int lineno = 0;
    const char *seen[256];
    int n_seen = 0;
    for (char *save = NULL, *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        lineno++;
        char *l = trim(line);
        if (!*l || *l == '#') continue;
        char where[600];
        snprintf(where, sizeof where, "%.500s:%d: ", path, lineno);
        char *eq = strchr(l, '=');
        char *name = l, *val = NULL;
        if (eq) {
            *eq = 0;
            name = trim(l);
            val = trim(eq + 1);
            size_t vl = strlen(val);
            if (vl >= 2 && val[0] == '"' && val[vl - 1] == '"') {
                val[vl - 1] = 0;
                val++;
            }
        }
        /* a name given twice in the file is an error, except repeatable api-key */
        if (strcmp(name, "api-key")) {
            for (int q = 0; q < n_seen; q++)
                if (!strcmp(seen[q], name)) {
                    fprintf(stderr, "pagoda serve: %s'%s' is given more than once in the file\n", where, name);
                    return 2;
                }
            if (n_seen < (int)(sizeof seen / sizeof seen[0])) seen[n_seen++] = name;
        }
        if (!eq && !is_flag(name)) {
            fprintf(stderr, "pagoda serve: %sexpected 'name = value'\n", where);
            return 2;
        }
        int rc = apply(so, name, val, 1, where);
        if (rc) return rc;
    }
    return 0;
}

int cmd_serve(int argc, char **argv) {
    static serve_opts so; /* static: the key arrays live as long as the server */
    memset(&so, 0, sizeof so);
    pg_server_config_default(&so.c);
    char *hold = NULL;
    /* pass 1: --config (and --help) */
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            usage(stdout);
            return 0;
        }
        if (!strcmp(argv[i], "--config")) {
            if (i + 1 >= argc) {
                fprintf(stderr, "pagoda serve: --config needs a file\n");
                return 2;
            }
            if (hold) {
                fprintf(stderr, "pagoda serve: --config given twice\n");
                return 2;
            }
            int rc = load_config(&so, argv[i + 1], &hold);
            if (rc) {
                free(hold);
                return rc;
            }
            if (!hold) hold = strdup("");
            i++;
        }
    }
    /* pass 2: the command line overrides */
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i];
        const char *name = o[0] == '-' && o[1] == '-' ? o + 2 : o[0] == '-' ? o + 1 : NULL;
        if (!name || !*name) {
            fprintf(stderr, "pagoda serve: unexpected argument '%s'\n", o);
            usage(stderr);
            free(hold);
            return 2;
        }
        if (is_flag(name)) {
            apply(&so, name, NULL, 0, "");
            continue;
        }
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) {
            fprintf(stderr, "pagoda serve: unknown option or missing value: '%s'\n", o);
            usage(stderr);
            free(hold);
            return 2;
        }
        i++;
        int rc = apply(&so, name, v, 0, "");
        if (rc) {
            usage(stderr);
            free(hold);
            return rc;
        }
    }
    {
        int mode = so.c.draft_model_path ? PG_SPEC_DRAFT : PG_SPEC_OFF;
        if (so.spec && pg_spec_mode_parse(so.spec, so.c.draft_model_path != NULL, &mode) < 0) {
            fprintf(stderr, "pagoda serve: --spec %s %s\n", so.spec,
                    so.c.draft_model_path ? "cannot be used with --draft-model (use --spec draft or leave --spec out)"
                                          : "needs --draft-model FILE");
            free(hold);
            return 2;
        }
        so.c.engine.spec_mode = mode;
    }
    /* default id: the file's name without .gguf (the server falls back to
     * general.name only for the demo model) */
    static char model_id[256];
    if (so.c.model_path && (!so.c.model_alias || !*so.c.model_alias)) {
        pg_model_id_from_path(so.c.model_path, model_id, sizeof model_id);
        so.c.model_alias = model_id;
    }
    so.c.engine.model_path = so.c.model_path; /* the disk prefix cache's model identity */
    so.c.cors_origins = so.n_cors_cli ? so.cors_cli : so.cors_file;
    so.c.n_cors_origins = so.n_cors_cli ? so.n_cors_cli : so.n_cors_file;
    if (so.n_cli) {
        so.c.api_keys = so.keys_cli;
        so.c.n_api_keys = so.n_cli;
    } else {
        so.c.api_keys = so.keys_file;
        so.c.n_api_keys = so.n_file;
    }
    so.c.reload = &g_reload;
    so.c.version = pg_cli_version();
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sa.sa_handler = on_hup;
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    pg_error err = {0};
    int rc = pg_server_run(&so.c, &g_stop, &err);
    free(hold);
    if (rc < 0) {
        fprintf(stderr, "pagoda serve: %s\n", err.msg[0] ? err.msg : pg_error_code_name(rc));
        return 1;
    }
    return 0;
}
