/* sampler.h - per-sequence token sampler (one pg_sampler per sequence).
 *
 * Batch invariance: a sampler reads one row of logits and its own state
 * (parameters, RNG, token history) and nothing else, and every reduction runs
 * in a fixed order, so a request's tokens and logprobs are bit-identical
 * whether the engine batches it with others or not.
 *
 * Hot path: pg_sampler_sample and pg_sampler_accept never allocate; all
 * scratch (two n_vocab arrays, plus an n_vocab count table when a penalty is
 * on, about 8-12 bytes per vocabulary entry) is allocated by
 * pg_sampler_create.
 *
 * Pipeline of pg_sampler_sample (on a private copy of the logits):
 *   1. NaN logits become -inf, +inf becomes FLT_MAX.
 *   2. logit_bias: bias is added; a bias of exactly -100 bans the token
 *      (-inf) and a bias of exactly +100 selects exclusively: if any token
 *      has +100, every token without +100 is banned (OpenAI's documented
 *      intent "-100 ban, +100 exclusive selection"). Duplicate ids add up;
 *      a ban wins over a force.
 *   3. penalties: repetition_penalty over every token seen in the prompt OR
 *      the output (HF/vLLM/llama.cpp: positive logits divided, negative
 *      multiplied); presence/frequency over generated tokens only (OpenAI,
 *      vLLM): logit -= frequency_penalty*count + presence_penalty*(count>0).
 *   4. ignore_eos: tokens set by pg_sampler_set_eog_mask are banned.
 *   4b. grammar mask (structured outputs): with pg_sampler_set_allowed, every
 *      token whose bit is clear is banned (-inf); NULL (the default) costs
 *      one pointer test.
 *   5. temperature 0: greedy argmax, lowest id wins ties; no RNG is used.
 *      Otherwise logits /= temperature, then top_k (k best), top_p (smallest
 *      best-first prefix of the top_k-renormalised distribution whose mass
 *      reaches top_p; a token is kept if the mass before it is < top_p), then
 *      min_p (keep p >= min_p * p_max), then one draw from the sequence's
 *      RNG. top_k ranks by logit, top_p and min_p by the float probability
 *      exp(logit/T - max); equal values rank by lower id, so the kept sets
 *      are exact. Every non-greedy call consumes exactly one 64-bit RNG
 *      output, whatever the parameters.
 *   Cost: O(n_vocab) plus O(n_vocab log k) partial selection for top_k/top_p
 *   (only as much of the order as needed is sorted).
 *
 * Logprobs are the log-softmax of the model's RAW logits (before bias,
 * penalties, temperature and truncation), like OpenAI and vLLM's default.
 *
 * RNG: xoshiro256** seeded by splitmix64 from the stream seed; stream seed =
 * (has_seed ? seed : default_seed) + stream index (index 0 for the sampler
 * made by pg_sampler_create; pg_sampler_fork(s, i) gives stream i, used for
 * the i-th of n choices of one prompt).
 *
 * Preemption by recompute: the engine keeps the tokens already generated, so
 * the sampler is simply kept (never reset) across preemption; its RNG state
 * and counts are exactly where they were. pg_sampler_copy / pg_sampler_clone
 * snapshot and restore the whole state should the engine ever roll back.
 */
#ifndef PG_SAMPLE_SAMPLER_H
#define PG_SAMPLE_SAMPLER_H

#include <stdint.h>

#include "base/error.h"

#define PG_SAMPLER_MAX_LOGPROBS 20    /* top alternatives returned at most */
#define PG_SAMPLER_MAX_LOGIT_BIAS 4096 /* logit_bias entries accepted */
#define PG_SAMPLER_MAX_EOG 64         /* ids in the ignore_eos mask */

typedef struct pg_logit_bias {
    int32_t id;
    float bias; /* [-100, 100] */
} pg_logit_bias;

typedef struct pg_sampling_params {
    float temperature;        /* [0, 2]; 0 = greedy. default 1 */
    int32_t top_k;            /* <= 0 off. default 0 (values > n_vocab = off) */
    float top_p;              /* (0, 1]; 1 off. default 1 */
    float min_p;              /* [0, 1]; 0 off. default 0 */
    float repetition_penalty; /* (0, 2]; 1 off. default 1; prompt+output */
    float presence_penalty;   /* [-2, 2]; default 0; output only */
    float frequency_penalty;  /* [-2, 2]; default 0; output only */
    const pg_logit_bias *logit_bias; /* borrowed; copied by create. default NULL */
    int32_t n_logit_bias;     /* [0, PG_SAMPLER_MAX_LOGIT_BIAS]. default 0 */
    uint64_t seed;            /* used when has_seed. default 0 */
    int has_seed;             /* default 0: the caller's default_seed is used */
    int ignore_eos;           /* default 0; bans the pg_sampler_set_eog_mask ids */
    int32_t n_logprobs;       /* -1 none (default); 0 = only the token's; 1..20 top-n too */
} pg_sampling_params;

typedef struct pg_sample_out {
    int32_t token;
    float logprob;  /* raw log-softmax of token; 0 when n_logprobs < 0 */
    int32_t n_top;  /* number of valid top entries (n_logprobs, or 0) */
    int32_t top_id[PG_SAMPLER_MAX_LOGPROBS];       /* best first, ties by lower id */
    float top_logprob[PG_SAMPLER_MAX_LOGPROBS];
} pg_sample_out;

typedef struct pg_sampler pg_sampler;

pg_sampling_params pg_sampling_params_default(void);
/* PG_OK, or PG_EINVAL with a message fit for a 400 body. */
int pg_sampling_params_check(const pg_sampling_params *p, int32_t n_vocab, pg_error *err);

/* Copies p (and its logit_bias list). NULL if p is invalid (call
 * pg_sampling_params_check first for the message) or allocation fails. */
pg_sampler *pg_sampler_create(const pg_sampling_params *p, int32_t n_vocab, uint64_t default_seed);
void pg_sampler_destroy(pg_sampler *s);

/* Ids banned when ignore_eos is set (copied). PG_EINVAL if n exceeds
 * PG_SAMPLER_MAX_EOG or an id is outside the vocabulary. */
int pg_sampler_set_eog_mask(pg_sampler *s, const int32_t *ids, int32_t n, pg_error *err);

/* Allowed-token bitset for structured outputs (grammar.h's pg_gmatch_mask
 * output): bit i of word i/32 set = token i may be sampled; NULL removes the
 * constraint. Borrowed, not copied: the caller refreshes the bitset (one
 * mask per step, computed before this sampler's pg_sampler_sample) and keeps
 * it alive until then. Logprobs stay those of the raw logits. If the mask
 * and the other bans leave nothing, sample returns PG_EINVAL as usual.
 * Not copied by pg_sampler_copy / clone / fork (each sequence has its own
 * matcher and mask). */
void pg_sampler_set_allowed(pg_sampler *s, const uint32_t *allowed);

/* Extra banned ids (-inf after ignore_eos, before the grammar mask), e.g.
 * end-of-generation and stop ids while a request's min_tokens is not yet
 * reached. Borrowed like the allowed mask (NULL or n == 0 removes it); not
 * copied by copy / clone / fork. */
void pg_sampler_set_banned(pg_sampler *s, const int32_t *ids, int32_t n);

/* History. Prompt tokens feed the repetition penalty only; accepted
 * (generated) tokens feed all three penalties. accept_prompt returns
 * PG_ERANGE for an id outside the vocabulary (user-supplied token prompts);
 * accept asserts (sampled tokens are always in range). */
int pg_sampler_accept_prompt(pg_sampler *s, const int32_t *toks, int32_t n, pg_error *err);
void pg_sampler_accept(pg_sampler *s, int32_t token);

/* Samples one token from logits[n_vocab]; fills *out (may be NULL). Returns
 * the token, or PG_EINVAL when every token is banned (out->token = -1). Does
 * NOT record the token: call pg_sampler_accept once the engine keeps it. */
int32_t pg_sampler_sample(pg_sampler *s, const float *logits, pg_sample_out *out);

/* Steps 1-4 only (sanitize, logit_bias, penalties, ignore_eos mask), into
 * out[n_vocab]; for tests and debugging. */
void pg_sampler_process_logits(const pg_sampler *s, const float *logits, float *out);

/* The tokens sample() would choose from now (after truncation; greedy: the
 * argmax), in unspecified order, into ids[n_vocab]; returns their count.
 * Uses no randomness and changes no state. For tests and debugging. */
int32_t pg_sampler_candidates(pg_sampler *s, const float *logits, int32_t *ids);

/* Full deep copy (allocates). */
pg_sampler *pg_sampler_clone(const pg_sampler *s);
/* Copy src's whole state into dst without allocating (snapshot/restore);
 * both must come from the same create arguments (same vocab and params). */
void pg_sampler_copy(pg_sampler *dst, const pg_sampler *src);
/* Clone that draws from RNG stream `index` (seed + index) instead; history
 * (prompt) is kept. Used for n > 1 choices: choice i = fork(s, i). */
pg_sampler *pg_sampler_fork(const pg_sampler *s, uint32_t index);
/* Forget all history and restart the RNG stream from its beginning. */
void pg_sampler_reset(pg_sampler *s);

/* RNG state access (tests, snapshots). */
void pg_sampler_rng_get(const pg_sampler *s, uint64_t st[4]);
const pg_sampling_params *pg_sampler_params(const pg_sampler *s);

#endif
