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

/* Load generator for an OpenAI-compatible server (bench/serve_bench.c):
 * pg_bench_serve --url http://HOST:PORT [--concurrency C] [--requests N]
 * [--input-len I] [--output-len O] [--shared-prefix P] [--model NAME]
 * [--seed S] [--timeout SECONDS]. Streaming /v1/completions with ignore_eos
 * and token-id prompts; prints request/token throughput and TTFT, TPOT, ITL
 * and end-to-end latency (mean, p50, p90, p99). */
int pg_bench_serve(int argc, char **argv);

/* Matmul kernel speed: pg_bench_kernels [--threads N] [--types
 * q4_0,q8_0,q4_K,q6_K] [--k K] [--n N] [--runs R]. Measures the read
 * bandwidth and int8 peak roofs, then per type GEMV (M=1) and GEMM (M=8,
 * 32, 128): ms per matmul, GB/s of weights, GOP/s (median of R runs). */
int pg_bench_kernels(int argc, char **argv);

/* Attention of one batched decode step per KV cache type
 * (bench/attn_bench.c): pg_bench_attn [--kv-types f16,q8_0] [--seqs S]
 * [--ctx C] [--layers L] [--kv-heads H] [--group G] [--head-dim D]
 * [--threads T] [--runs R]; the kernel calls of forward.c over KV pools
 * far larger than the caches, types interleaved, medians. */
int pg_bench_attn(int argc, char **argv);

/* Embedding throughput (bench/embed_bench.c): pg_bench_embed -m MODEL
 * [--texts N] [--words W] [--concurrency C] [--threads T] [--runs R]
 * [--max-batched-tokens B] [--max-batch-inputs I] [--mode both|batched|single].
 * N generated texts of W words sent one per call by C client threads,
 * batched into shared passes and one input per pass; prints inputs/s and
 * tokens/s (medians of R runs) and the ratio. */
int pg_bench_embed(int argc, char **argv);

#endif
