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

#endif
