/* cmd_bench.c - `pagoda bench SUBCOMMAND ...`: a table of benchmark
 * subcommands whose entry points live in bench/ (declared in bench/bench.h,
 * linked into build/pagoda). To add one, declare `int pg_bench_NAME(int
 * argc, char **argv)` in bench/bench.h, implement it in bench/NAME_bench.c,
 * write its usage table below (pg_cli_bench_NAME, listed in usage.c) and
 * add a row to subs[]. Each entry receives argv starting at its own name,
 * after pg_cli_precheck() has checked it against the table, and returns
 * the process exit code. */
#include "cli/commands.h"

#include "bench/bench.h"

#include <stdio.h>
#include <string.h>

static const pg_cli_opt throughput_opts[] = {
    {"-m, --model", "FILE", PG_ARG_STR | PG_ARG_REQ, 0, NULL, "GGUF model (required)"},
    {"--requests", "N", PG_ARG_UINT, 0, "64", "requests to run"},
    {"--input-len", "I", PG_ARG_UINT, 0, "128", "prompt tokens per request (random ordinary tokens)"},
    {"--output-len", "O", PG_ARG_UINT, 0, "128", "generated tokens per request (EOS ignored)"},
    {"--concurrency", "C", PG_ARG_UINT, 0, "all requests", "requests in flight at once"},
    {"--shared-prefix", "P", PG_ARG_UINT, 0, "0", "leading prompt tokens shared by all requests"},
    {"--threads", "T", PG_ARG_UINT, 0, "the CPU count", "compute threads"},
    {"--max-batched-tokens", "B", PG_ARG_UINT, 0, "the engine's", "tokens per engine step"},
    {"--max-seqs", "S", PG_ARG_UINT, 0, "the engine's", "running sequences per step"},
    {"--kv-cache-mem", "BYTES", PG_ARG_UINT, 0, "automatic", "KV cache bytes"},
    {"--kv-type", "TYPE", PG_ARG_STR, 0, "f16", "KV cache storage: f16, q8_0, q4_0 or f32"},
    {"--n-ctx", "N", PG_ARG_UINT, 0, "input + output length", "context per sequence"},
    {"--seed", "X", PG_ARG_UINT, 0, "1", "seed of the random prompts"},
    {"--json-schema", "FILE", PG_ARG_STR, 0, NULL,
     "constrain every request by this JSON Schema (structured outputs; a MaskBench file's \"schema\" is used)"},
    {"--whitespace", "MODE", PG_ARG_STR, 0, "compact", "JSON whitespace of --json-schema: compact or flexible"},
    {"--spec", "MODE", PG_ARG_STR, 0, "off (draft with --draft-model)",
     "speculative decoding: off, ngram (prompt lookup) or draft (needs --draft-model)"},
    {"--spec-tokens", "K", PG_ARG_UINT, 0, "auto (8, adaptive)", "most drafted tokens per sequence and step (1..16)"},
    {"--draft-model", "FILE", PG_ARG_STR, 0, NULL, "draft model for --spec draft (same vocabulary)"},
};
const pg_cli_cmd pg_cli_bench_throughput = {
    "bench throughput",
    "-m MODEL [--requests N] [--input-len I] [--output-len O] [--concurrency C] [--shared-prefix P] [--threads T]",
    "offline engine throughput (requests/s, tokens/s) and TTFT/TPOT mean and percentiles",
    NULL, throughput_opts, PG_CLI_N(throughput_opts), 0, 0, NULL};

static const pg_cli_opt bserve_opts[] = {
    {"--url", "http://HOST:PORT", PG_ARG_STR | PG_ARG_REQ, 0, NULL, "the server to load (required; no TLS)"},
    {"--concurrency", "C", PG_ARG_UINT, 0, "8", "requests in flight at once"},
    {"--requests", "N", PG_ARG_UINT, 0, "64", "requests to send"},
    {"--input-len", "I", PG_ARG_UINT, 0, "128", "prompt tokens per request (token-id prompts)"},
    {"--output-len", "O", PG_ARG_UINT, 0, "128", "generated tokens per request (ignore_eos)"},
    {"--shared-prefix", "P", PG_ARG_UINT, 0, "0", "leading prompt tokens shared by all requests"},
    {"--model", "NAME", PG_ARG_STR, 0, "the server's first model", "model id to send"},
    {"--seed", "S", PG_ARG_UINT, 0, "1", "seed of the random prompts"},
    {"--timeout", "SECONDS", PG_ARG_UINT, 0, "600", "per-request timeout"},
};
const pg_cli_cmd pg_cli_bench_serve = {
    "bench serve",
    "--url http://HOST:PORT [--concurrency C] [--requests N] [--input-len I] [--output-len O] [--shared-prefix P]",
    "load generator against a running server: streaming /v1/completions; TTFT, TPOT, ITL and end-to-end latency",
    NULL, bserve_opts, PG_CLI_N(bserve_opts), 0, 0, NULL};

static const pg_cli_opt btok_opts[] = {
    {"--runs", "N", PG_ARG_UINT, 0, "5", "runs per text, the median is reported (at most 64)"},
    {"--size", "BYTES", PG_ARG_UINT, 0, "1048576", "bytes of each generated text"},
    {"--file", "PATH", PG_ARG_STR, 0, "generated English and mixed-script texts", "tokenize this file's text instead"},
};
const pg_cli_cmd pg_cli_bench_tokenize = {
    "bench tokenize",
    "[--runs N] [--size BYTES] [--file PATH] VOCAB.gguf...",
    "tokenization speed (tokens/s, MB/s) of each vocabulary on 1 MB texts",
    "VOCAB.gguf...  one or more GGUF files whose tokenizer is measured: any model file, or a vocabulary-only\n"
    "               file such as ../shared/tokenizer/ggml-vocab-llama-spm.gguf from the test data",
    btok_opts, PG_CLI_N(btok_opts), 1, -1,
    "needs at least one GGUF file to take the tokenizer from (a model, or a vocabulary-only file such as "
    "../shared/tokenizer/ggml-vocab-llama-spm.gguf); --file only replaces the text"};

static const pg_cli_opt kernels_opts[] = {
    {"--threads", "N", PG_ARG_UINT, 0, "2", "compute threads"},
    {"--types", "LIST", PG_ARG_STR, 0, "q4_0,q8_0,q4_K,q6_K", "weight types, comma separated"},
    {"--k", "K", PG_ARG_UINT, 0, "2048", "row length (inner dimension)"},
    {"--n", "N", PG_ARG_UINT, 0, "5632", "rows (65536 streams the weights from DRAM instead of the L3)"},
    {"--runs", "R", PG_ARG_UINT, 0, "7", "runs per measurement, the median is reported"},
};
const pg_cli_cmd pg_cli_bench_kernels = {
    "bench kernels",
    "[--threads N] [--types q4_0,q8_0,q4_K,q6_K] [--k K] [--n N] [--runs R]",
    "GEMV/GEMM GB/s and GOP/s per weight type beside this machine's bandwidth and int8 roofs",
    NULL, kernels_opts, PG_CLI_N(kernels_opts), 0, 0, NULL};

static const pg_cli_opt bembed_opts[] = {
    {"-m, --model", "FILE", PG_ARG_STR, 0, NULL, "embedding GGUF model (this or --url)"},
    {"--url", "URL", PG_ARG_STR, 0, NULL,
     "http://HOST:PORT of a running pagoda serve: each text one POST /v1/embeddings (batching is the server's)"},
    {"--texts", "N", PG_ARG_UINT, 0, "1000", "texts to embed, one per call"},
    {"--words", "W", PG_ARG_UINT, 0, "48", "words per generated text (about 50 tokens with [CLS]/[SEP])"},
    {"--concurrency", "C", PG_ARG_UINT, 0, "8", "client threads calling at once"},
    {"--threads", "T", PG_ARG_UINT, 0, "2", "compute threads"},
    {"--runs", "R", PG_ARG_UINT, 0, "3", "runs of each mode, the median is reported (at most 15)"},
    {"--max-batched-tokens", "B", PG_ARG_UINT, 0, "2048", "tokens per batched pass"},
    {"--max-batch-inputs", "I", PG_ARG_UINT, 0, "64", "inputs per batched pass"},
    {"--batch-wait-us", "U", PG_ARG_UINT, 0, "500", "gather a burst this long before a batched pass that is not full"},
    {"--mode", "M", PG_ARG_STR, 0, "both", "batched, single (one input per pass) or both, interleaved run by run"},
};
const pg_cli_cmd pg_cli_bench_embed = {
    "bench embed",
    "-m MODEL|--url URL [--texts N] [--words W] [--concurrency C] [--threads T] [--runs R] [--mode both|batched|single]",
    "embedding throughput (inputs/s, tokens/s, CPU ms per input), batched passes against one input per pass",
    NULL, bembed_opts, PG_CLI_N(bembed_opts), 0, 0, NULL};

static const pg_cli_opt battn_opts[] = {
    {"--kv-types", "LIST", PG_ARG_STR, 0, "f16,q8_0", "KV cache types, comma separated (f16, q8_0, q4_0, f32), measured interleaved"},
    {"--seqs", "S", PG_ARG_UINT, 0, "16", "sequences in the step"},
    {"--ctx", "C", PG_ARG_UINT, 0, "1000", "positions of each sequence"},
    {"--layers", "L", PG_ARG_UINT, 0, "22", "layers"},
    {"--kv-heads", "H", PG_ARG_UINT, 0, "4", "KV heads"},
    {"--group", "G", PG_ARG_UINT, 0, "8", "query heads per KV head"},
    {"--head-dim", "D", PG_ARG_UINT, 0, "64", "head dimension"},
    {"--threads", "T", PG_ARG_UINT, 0, "2", "compute threads"},
    {"--runs", "R", PG_ARG_UINT, 0, "7", "runs per type, the median is reported"},
};
const pg_cli_cmd pg_cli_bench_attn = {
    "bench attn",
    "[--kv-types f16,q8_0] [--seqs S] [--ctx C] [--layers L] [--kv-heads H] [--group G] [--head-dim D] [--runs R]",
    "the attention of one batched decode step per KV cache type (TinyLlama shape by default): ms, KV GB/s",
    NULL, battn_opts, PG_CLI_N(battn_opts), 0, 0, NULL};

static const struct {
    const char *name;
    int (*fn)(int, char **);
    const pg_cli_cmd *usage;
} subs[] = {
    {"throughput", pg_bench_throughput, &pg_cli_bench_throughput},
    {"serve", pg_bench_serve, &pg_cli_bench_serve},
    {"tokenize", pg_bench_tokenize, &pg_cli_bench_tokenize},
    {"kernels", pg_bench_kernels, &pg_cli_bench_kernels},
    {"embed", pg_bench_embed, &pg_cli_bench_embed},
    {"attn", pg_bench_attn, &pg_cli_bench_attn},
};

static void bench_usage(FILE *f) {
    fprintf(f, "usage: pagoda bench SUBCOMMAND [ARGS]   (pagoda bench SUBCOMMAND --help for its flags)\nsubcommands:\n");
    for (size_t i = 0; i < sizeof subs / sizeof subs[0]; i++)
        fprintf(f, "  %s %s\n      %s\n", subs[i].name, subs[i].usage->synopsis, subs[i].usage->summary);
}

int cmd_bench(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        bench_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : (fflush(stdout) == 0 ? 0 : 1);
    }
    for (size_t i = 0; i < sizeof subs / sizeof subs[0]; i++)
        if (!strcmp(argv[1], subs[i].name)) {
            int rc = pg_cli_precheck(subs[i].usage, argc - 1, argv + 1);
            return rc >= 0 ? rc : subs[i].fn(argc - 1, argv + 1);
        }
    fprintf(stderr, "pagoda bench: unknown subcommand '%s'\n", argv[1]);
    bench_usage(stderr);
    return 2;
}
