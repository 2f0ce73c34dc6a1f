/* bench.h - benchmark entry points linked into build/pagoda (called by the
 * `pagoda bench` command). Each takes the arguments after its name and
 * returns a process exit code (0 ok, 1 runtime error, 2 usage error). */
#ifndef PG_BENCH_BENCH_H
#define PG_BENCH_BENCH_H

/* Tokenization speed: pg_bench_tokenize [--runs N] [--size BYTES]
 * [--file PATH] VOCAB.gguf...  For each vocabulary, tokenizes a generated
 * English text and a generated mixed-script text (or the --file text) and
 * prints tokens/s and MB/s (median of N runs, default 5). */
int pg_bench_tokenize(int argc, char **argv);

/* Offline serving throughput through the engine (like `vllm bench
 * throughput`): pg_bench_throughput -m MODEL [--requests N] [--input-len I]
 * [--output-len O] [--concurrency C] [--shared-prefix P] [--threads T]
 * [--max-batched-tokens B] [--max-seqs S] [--kv-cache-mem BYTES] [--seed X].
 * Random prompts of I tokens (the first P shared by all requests),
 * ignore_eos, O output tokens each, at most C in flight; prints request,
 * total-token and output-token throughput and TTFT / TPOT mean, p50, p90,
 * p99. argv[0] is the subcommand name. */
int pg_bench_throughput(int argc, char **argv);

#endif
