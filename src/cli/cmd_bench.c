/* cmd_bench.c - `pagoda bench SUBCOMMAND ...`: a table of benchmark
 * subcommands whose entry points live in bench/ (declared in bench/bench.h,
 * linked into build/pagoda). To add one (e.g. `kernels`, `serve`), declare
 * `int pg_bench_NAME(int argc, char **argv)` in bench/bench.h, implement it
 * in bench/NAME_bench.c and add a row below. Each entry receives argv
 * starting at its own name and returns the process exit code. */
#include "cli/commands.h"

#include "bench/bench.h"

#include <stdio.h>
#include <string.h>

static const struct {
    const char *name;
    int (*fn)(int, char **);
    const char *help;
} subs[] = {
    {"throughput", pg_bench_throughput,
     "throughput -m MODEL [--requests N] [--input-len I] [--output-len O] [--concurrency C]\n"
     "             [--shared-prefix P] [--threads T] [--max-batched-tokens B] [--max-seqs S]\n"
     "             [--kv-cache-mem BYTES]"},
    {"tokenize", pg_bench_tokenize, "tokenize [--runs N] [--size BYTES] [--file PATH] VOCAB.gguf..."},
    {"serve", pg_bench_serve,
     "serve --url http://HOST:PORT [--concurrency C] [--requests N] [--input-len I] [--output-len O]\n"
     "             [--shared-prefix P] [--model NAME] [--seed S] [--timeout SECONDS]"},
    {"kernels", pg_bench_kernels, "kernels [--threads N] [--types q4_0,q8_0,q4_K,q6_K] [--k K] [--n N] [--runs R]"},
    {"embed", pg_bench_embed,
     "embed -m MODEL [--texts N] [--words W] [--concurrency C] [--threads T] [--runs R]\n"
     "             [--max-batched-tokens B] [--max-batch-inputs I] [--mode both|batched|single]"},
};

static void bench_usage(FILE *f) {
    fprintf(f, "usage: pagoda bench SUBCOMMAND [ARGS]\nsubcommands:\n");
    for (size_t i = 0; i < sizeof subs / sizeof subs[0]; i++) fprintf(f, "  %s\n", subs[i].help);
}

int cmd_bench(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        bench_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    for (size_t i = 0; i < sizeof subs / sizeof subs[0]; i++)
        if (!strcmp(argv[1], subs[i].name)) return subs[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "pagoda bench: unknown subcommand '%s'\n", argv[1]);
    bench_usage(stderr);
    return 2;
}
