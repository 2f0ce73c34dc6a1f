/* cmd_serve.c - `pagoda serve`: parse flags into a pg_server_config and run
 * the OpenAI-compatible server until SIGINT/SIGTERM. */
#include "cli/commands.h"

#include "base/log.h"
#include "server/server.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static volatile sig_atomic_t g_stop = 0;
static void on_signal(int sig) {
    (void)sig;
    g_stop = 1;
}

static void usage(FILE *f) {
    fprintf(f,
            "usage: pagoda serve [-m MODEL.gguf] [options]\n"
            "  -m, --model FILE          GGUF model (without it: a built-in demo model with random weights)\n"
            "  --host HOST               address to listen on (default 127.0.0.1)\n"
            "  --port N                  port (default 8080; 0 = pick a free port, printed)\n"
            "  --model-alias NAME        model id clients send (default: general.name or the file name)\n"
            "  --chat-template FILE      Jinja chat template overriding the model's\n"
            "  -t, --threads N           compute threads (default 2)\n"
            "  -c, --ctx-size N          max positions per sequence (default: the model's)\n"
            "  --kv-cache-mem SIZE       bytes for the KV cache, suffix K/M/G (default: automatic)\n"
            "  --kv-f32                  store the KV cache in f32 (default f16)\n"
            "  --block-size N            KV block tokens (default 16)\n"
            "  --max-seqs N              running sequences per step (default 16)\n"
            "  --max-batched-tokens N    tokens per step (default 256)\n"
            "  --max-queued-requests N   waiting requests before 429 (default 256)\n"
            "  --seed N                  seed of requests that bring none (default: time-based)\n"
            "  --max-body-bytes SIZE     larger request bodies get 413 (default 16M)\n"
            "  --max-connections N       concurrent connections (default 512)\n"
            "  --max-connections-per-ip N  (default 256; 0 = unlimited)\n"
            "  --timeout SECONDS         idle connection timeout (default 120)\n"
            "  --http-threads N          HTTP worker threads (default 2)\n"
            "  --demo-seed N             weights seed of the demo model (default 1234)\n"
            "  --log-level LEVEL         debug|info|warn|error|off (default info)\n"
            "  --log-format text|json\n");
}

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

static int parse_int(const char *s, long lo, long hi, long *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

int cmd_serve(int argc, char **argv) {
    pg_server_config c;
    pg_server_config_default(&c);
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        long n;
        uint64_t sz;
        if (!strcmp(o, "-h") || !strcmp(o, "--help")) {
            usage(stdout);
            return 0;
        }
        if (!strcmp(o, "--kv-f32")) {
            c.engine.kv_type = 0;
            continue;
        }
        if (!v) {
            fprintf(stderr, "pagoda serve: unknown option or missing value: '%s'\n", o);
            usage(stderr);
            return 2;
        }
        i++;
#define INT(lo, hi, dst)                                                                   \
    do {                                                                                   \
        if (parse_int(v, lo, hi, &n) < 0) {                                                \
            fprintf(stderr, "pagoda serve: %s needs an integer in [%ld, %ld], got '%s'\n", o, (long)(lo), (long)(hi), v); \
            return 2;                                                                      \
        }                                                                                  \
        dst = n;                                                                           \
    } while (0)
        if (!strcmp(o, "-m") || !strcmp(o, "--model")) c.model_path = v;
        else if (!strcmp(o, "--host")) c.host = v;
        else if (!strcmp(o, "--port")) INT(0, 65535, c.port);
        else if (!strcmp(o, "--model-alias")) c.model_alias = v;
        else if (!strcmp(o, "--chat-template")) c.chat_template_path = v;
        else if (!strcmp(o, "-t") || !strcmp(o, "--threads")) INT(1, 1024, c.engine.threads);
        else if (!strcmp(o, "-c") || !strcmp(o, "--ctx-size")) INT(1, 1 << 24, c.engine.n_ctx);
        else if (!strcmp(o, "--block-size")) INT(1, 1 << 16, c.engine.block_size);
        else if (!strcmp(o, "--max-seqs")) INT(1, 1 << 16, c.engine.max_seqs);
        else if (!strcmp(o, "--max-batched-tokens")) INT(1, 1 << 24, c.engine.max_batched_tokens);
        else if (!strcmp(o, "--max-queued-requests")) INT(1, 1 << 24, c.engine.max_queued_requests);
        else if (!strcmp(o, "--max-connections")) INT(1, 1 << 20, c.max_connections);
        else if (!strcmp(o, "--max-connections-per-ip")) INT(0, 1 << 20, c.max_connections_per_ip);
        else if (!strcmp(o, "--timeout")) INT(0, 1 << 24, c.connection_timeout_s);
        else if (!strcmp(o, "--http-threads")) INT(1, 256, c.http_threads);
        else if (!strcmp(o, "--seed")) {
            char *end;
            errno = 0;
            unsigned long long s = strtoull(v, &end, 10);
            if (errno || !*v || *end) {
                fprintf(stderr, "pagoda serve: bad --seed '%s'\n", v);
                return 2;
            }
            c.engine.default_seed = s;
        } else if (!strcmp(o, "--demo-seed")) {
            char *end;
            errno = 0;
            unsigned long long s = strtoull(v, &end, 10);
            if (errno || !*v || *end) {
                fprintf(stderr, "pagoda serve: bad --demo-seed '%s'\n", v);
                return 2;
            }
            c.demo_seed = s;
        } else if (!strcmp(o, "--kv-cache-mem")) {
            if (parse_size(v, &sz) < 0) {
                fprintf(stderr, "pagoda serve: bad --kv-cache-mem '%s'\n", v);
                return 2;
            }
            c.engine.kv_cache_mem = sz;
        } else if (!strcmp(o, "--max-body-bytes")) {
            if (parse_size(v, &sz) < 0 || sz < 1) {
                fprintf(stderr, "pagoda serve: bad --max-body-bytes '%s'\n", v);
                return 2;
            }
            c.max_body_bytes = (size_t)sz;
        } else if (!strcmp(o, "--log-level")) {
            int l = pg_log_level_parse(v);
            if (l < 0) {
                fprintf(stderr, "pagoda serve: bad --log-level '%s' (debug|info|warn|error|off)\n", v);
                return 2;
            }
            pg_log_set_level(l);
        } else if (!strcmp(o, "--log-format")) {
            if (!strcmp(v, "json")) pg_log_set_format(PG_LOG_JSON);
            else if (!strcmp(v, "text")) pg_log_set_format(PG_LOG_TEXT);
            else {
                fprintf(stderr, "pagoda serve: bad --log-format '%s' (text|json)\n", v);
                return 2;
            }
        } else {
            fprintf(stderr, "pagoda serve: unknown option '%s'\n", o);
            usage(stderr);
            return 2;
        }
#undef INT
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    pg_error err = {0};
    int rc = pg_server_run(&c, &g_stop, &err);
    if (rc < 0) {
        fprintf(stderr, "pagoda serve: %s\n", err.msg[0] ? err.msg : pg_error_code_name(rc));
        return 1;
    }
    return 0;
}
