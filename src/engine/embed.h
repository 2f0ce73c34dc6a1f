/* embed.h - embeddings and reranking requests over a pg_encoder.
 *
 * A pg_embedder serves one model with one pooling type. Any number of
 * threads may call pg_embed / pg_rerank at once: their inputs join one FIFO
 * queue, and whichever caller finds no pass running becomes the runner: it
 * takes queued inputs (anyone's) in order, up to max_batch_inputs inputs and
 * max_batched_tokens tokens, runs them as one forward pass (each input
 * attends to itself only, nothing is cached), hands each input its output,
 * and repeats until its own inputs are done. So concurrent requests share
 * passes without a scheduler thread. Before a pass that is not full the
 * runner gathers the rest of a burst (batch_wait_us, as the generation
 * engine does); max_batch_inputs = 1 turns batching off
 * (one input per pass, as llama.cpp-style servers run embeddings).
 * Batch invariance (model/model.h): an input's vector is bit-identical
 * whatever it was batched with.
 *
 * Inputs: text (tokenized with the model's special tokens: [CLS] text [SEP]
 * for BERT vocabularies, BOS (+ EOS when the vocabulary adds one) for
 * decoders; special-token text inside it is not parsed) or token ids used
 * as given. An input longer than pg_embedder_max_input is an error naming
 * its index, its token count and the limit, unless truncate is set: then
 * it keeps its first tokens (and its final EOS / [SEP] when the tokenizer
 * added one). Reranking builds BOS query EOS SEP document EOS (the layout
 * of BERT / XLM-RoBERTa cross-encoders; token type 0 throughout) and
 * truncates the document, never the query.
 *
 * Errors (negative PG_E*, message fit for an HTTP 400 body): PG_EINVAL for
 * bad requests (empty input, too long, bad dimensions, token id outside the
 * vocabulary), PG_EUNSUPPORTED when the model cannot do what is asked
 * (pg_embed on a reranker, pg_rerank on an embedding model), PG_ENOMEM.
 *
 * Ownership: the embedder borrows the model, the vocabulary and the pool
 * (all must outlive it); the pool must not be run by anyone else while the
 * embedder exists (pg_pool_run is single-owner). Results are malloc'd and
 * freed with pg_embed_result_free / pg_rerank_result_free. */
#ifndef PG_ENGINE_EMBED_H
#define PG_ENGINE_EMBED_H

#include "base/error.h"
#include "base/pool.h"
#include "model/model.h"
#include "tokenizer/tokenizer.h"

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

typedef struct pg_embedder pg_embedder;

typedef struct pg_embed_config {
    int32_t max_batched_tokens; /* tokens per pass, also the longest input (capped by the context); 0 = 2048 */
    int32_t max_batch_inputs;   /* inputs per pass; 0 = 64; 1 = no batching */
    int pooling;                /* PG_POOL_*; PG_POOL_UNSPEC = the model's {arch}.pooling_type */
    int matryoshka;             /* dimensions < full: -1 = as the model says ({arch}.is_matryoshka), 0 = refuse, 1 = allow */
    int32_t batch_wait_us;      /* before a pass that is not full, wait until this long passes with no new
                                   input (at most 4x in all) so inputs sent together share it; 0 = 500,
                                   -1 = never wait. Unused without batching. */
} pg_embed_config;

/* Fails with PG_EUNSUPPORTED when the model has no usable pooling: a
 * decoder without {arch}.pooling_type and no pooling given ("model does not
 * support embeddings ..."), rank pooling without a classifier head. */
int pg_embedder_create(const pg_model *m, const pg_vocab *v, pg_pool *pool, const pg_embed_config *cfg,
                       pg_embedder **out, pg_error *err);
/* Only once no pg_embed / pg_rerank call is in progress (aborts otherwise). */
void pg_embedder_destroy(pg_embedder *e);

int pg_embedder_pooling(const pg_embedder *e);
/* PG_CAP_EMBED (pooling none/mean/cls/last) or PG_CAP_RERANK (pooling rank). */
int pg_embedder_caps(const pg_embedder *e);
int32_t pg_embedder_dim(const pg_embedder *e);       /* floats per embedding (n_embd) */
int32_t pg_embedder_max_input(const pg_embedder *e); /* tokens per input (per query+document pair) */
int pg_embedder_matryoshka(const pg_embedder *e);    /* 1 when dimensions < dim are allowed */

typedef struct pg_embed_input {
    const char *text;      /* UTF-8, len bytes (used when tokens is NULL) */
    size_t len;
    const int32_t *tokens; /* token ids, used as given (no special tokens added) */
    int32_t n_tokens;
} pg_embed_input;

typedef struct pg_embed_opts {
    int normalize;      /* L2-normalise each vector (after truncation to dimensions) */
    int32_t dimensions; /* 0 = full; else 1..dim, only with pg_embedder_matryoshka (else PG_EINVAL) */
    int truncate;       /* cut inputs longer than the limit instead of failing */
} pg_embed_opts;

typedef struct pg_embed_result {
    int32_t n;             /* inputs */
    int32_t dim;           /* floats per vector (dimensions or the model's) */
    int32_t n_rows;        /* vectors: n, or with pooling none the total token count */
    float *data;           /* [n_rows][dim] */
    int32_t *first_row;    /* [n + 1]: input i owns rows first_row[i] .. first_row[i+1]-1 */
    int32_t *n_tokens;     /* [n] tokens each input ran with (after truncation) */
    int64_t prompt_tokens; /* sum of n_tokens (usage.prompt_tokens) */
} pg_embed_result;

int pg_embed(pg_embedder *e, const pg_embed_input *in, int32_t n, const pg_embed_opts *o, pg_embed_result *r,
             pg_error *err);
void pg_embed_result_free(pg_embed_result *r);

typedef struct pg_rerank_result {
    int32_t n;             /* documents */
    float *scores;         /* [n] the classifier's first output for (query, document i): a raw logit */
    int32_t *n_tokens;     /* [n] tokens of each pair */
    int64_t prompt_tokens; /* sum */
} pg_rerank_result;

/* Scores every document against the query, in the documents' order (the
 * caller sorts / applies top_n). The query is text; documents may be text
 * or token ids (then inserted as given). */
int pg_rerank(pg_embedder *e, const char *query, size_t query_len, const pg_embed_input *docs, int32_t n,
              int truncate, pg_rerank_result *r, pg_error *err);
void pg_rerank_result_free(pg_rerank_result *r);

/* Stopping a call early (the server: client gone, deadline, drain). A
 * call whose cancel flag becomes non-zero, or whose deadline passes, takes
 * its inputs that no pass has started out of the queue, waits for those a
 * pass is running (a pass is never interrupted: it holds other callers'
 * inputs), and returns PG_ECANCELED ("cancelled" / "deadline passed").
 * Flags are looked at between passes and at least every 20 ms while a call
 * waits; pg_embedder_wake makes waiting calls look at once. */
typedef struct pg_embed_ctl {
    const atomic_int *cancel; /* NULL: never */
    int64_t deadline_ns;      /* CLOCK_MONOTONIC nanoseconds; 0: none */
} pg_embed_ctl;
int pg_embed_ex(pg_embedder *e, const pg_embed_input *in, int32_t n, const pg_embed_opts *o, const pg_embed_ctl *ctl,
                pg_embed_result *r, pg_error *err);
int pg_rerank_ex(pg_embedder *e, const char *query, size_t query_len, const pg_embed_input *docs, int32_t n,
                 int truncate, const pg_embed_ctl *ctl, pg_rerank_result *r, pg_error *err);
void pg_embedder_wake(pg_embedder *e);

/* Counters since creation (for metrics and the benchmark). */
typedef struct pg_embed_stats {
    uint64_t passes, inputs, tokens; /* forward passes run, inputs and tokens they held */
} pg_embed_stats;
void pg_embedder_stats(pg_embedder *e, pg_embed_stats *s);

/* In-place L2 normalisation (a zero vector stays zero). */
void pg_embed_normalize(float *v, int32_t n);
/* Base64 (RFC 4648, padded) of n floats as little-endian float32 bytes, the
 * OpenAI encoding_format "base64". Writes up to cap bytes plus a NUL when
 * it fits; returns the encoded length (4 * ceil(4n / 3)). */
size_t pg_embed_base64(const float *v, int32_t n, char *out, size_t cap);

#endif
