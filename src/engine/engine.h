/* engine.h - the serving engine: paged KV cache, continuous batching,
 * chunked prefill, prefix caching, recompute preemption, per-request
 * sampling, streaming detokenization with stop strings.
 *
 * Threading: the engine runs its own thread. Every function here is
 * thread-safe. Events of a request are delivered by calling its callback
 * ON THE ENGINE THREAD, in order, ending with exactly one final event
 * (PG_EV_DONE or PG_EV_ERROR); the callback must be quick and must not call
 * back into the engine except pg_engine_cancel. Pointers inside an event are
 * valid only during the callback.
 *
 * Batch invariance: the tokens, text and logprobs of a request do not depend
 * on what else runs, on the chunk size, or on prefix-cache hits. */
#ifndef PG_ENGINE_ENGINE_H
#define PG_ENGINE_ENGINE_H

#include "base/error.h"
#include "model/model.h"
#include "sample/gram_cache.h"
#include "sample/sampler.h"
#include "sample/stop.h" /* PG_STOP_MAX_STRINGS / PG_STOP_MAX_LEN bound pg_request.stop */
#include "tokenizer/tokenizer.h"

#include <stddef.h>
#include <stdint.h>

typedef struct pg_engine pg_engine;

typedef struct pg_engine_config {
    int threads;                 /* compute threads (default 2) */
    int32_t block_size;          /* KV block tokens (default 16) */
    uint64_t kv_cache_mem;       /* bytes for the KV pool; 0 = default from free memory */
    int kv_type;                 /* PG_KV_F16 (default), PG_KV_Q8_0, PG_KV_Q4_0 or PG_KV_F32 */
    int32_t n_ctx;               /* max positions per sequence; 0 = model's training context */
    int32_t max_seqs;            /* running sequences per step (default 16) */
    int32_t max_batched_tokens;  /* tokens per step (default 1024) */
    int32_t prefill_chunk_decoding; /* prefill tokens per step while sequences decode:
                                    -1 auto (default: the step stays within about 2x a
                                    decode-only step, from measured step times),
                                    0 no limit (max_batched_tokens), N fixed */
    int32_t batch_wait_us;       /* engine thread: before a step that starts from nothing
                                    running, wait until this long passes with no new
                                    arrival (at most 4x this in all) so requests sent
                                    together are prefilled in one step (default 5000;
                                    0 off) */
    int32_t max_queued_requests; /* waiting requests; beyond -> PG_EBUSY (default 256) */
    int64_t max_queued_tokens;   /* prompt tokens waiting; beyond -> PG_EBUSY (default 1<<20) */
    uint64_t default_seed;       /* seed of requests without one (default: time-based);
                                    an unseeded request draws from default_seed mixed
                                    with its request id */
    /* additions (0 = off) */
    int manual;                  /* no engine thread: the caller drives pg_engine_step
                                    (tests, deterministic tools); callbacks then run on
                                    the caller's thread */
    int check_steps;             /* run pg_engine_check after every step; abort on failure */
    int32_t grammar_pool_us;     /* structured outputs: a step's token masks run on the thread
                                    pool when their expected cost exceeds this many µs, else
                                    on the engine thread (0 = default 200; -1 = always the pool) */
    /* Speculative decoding (engine_spec.c; README "Speculative decoding").
     * A decoding sequence drafts up to K tokens, and the target verifies
     * them in one forward pass of K + 1 rows: rows of several sequences go
     * in the same step. Outputs are identical to spec_mode OFF (greedy and
     * sampled with a seed): the drafts are deterministic and each verified
     * row is sampled with the sequence's next RNG draw, accepted while it
     * equals the draft. */
    int spec_mode;               /* PG_SPEC_OFF (default), PG_SPEC_NGRAM, PG_SPEC_DRAFT */
    int32_t spec_tokens;         /* most drafted tokens per sequence and step (1..PG_SPEC_MAX_K);
                                    0 = auto: 8, and K adapts per sequence to its acceptance */
    int32_t spec_max_rows;       /* back-off: drafting only while the step's decode rows (one per
                                    decoding sequence plus drafts) stay within this many
                                    (0 = default 1 + K: one stream may draft K; a step of more
                                    rows is compute-bound on CPUs, where verifying drafts no
                                    longer comes for free) */
    pg_model *draft_model;       /* PG_SPEC_DRAFT: a model with the same vocabulary (borrowed; it
                                    runs on the engine's threads with its own KV store indexed by
                                    the sequence's block table) */
    /* prefix cache on disk (engine/pcache_disk.h; NULL = off): blocks evicted
     * from memory, and every cached block at destroy, are kept in this
     * directory and loaded at admission when a prompt's prefix matches. */
    const char *prefix_cache_dir;
    uint64_t prefix_cache_disk;  /* bytes of block files kept (LRU); 0 = 4 GiB */
    const char *model_path;      /* the model's file, for its identity (NULL: the in-memory image) */
} pg_engine_config;

enum { PG_SPEC_OFF = 0, PG_SPEC_NGRAM = 1, PG_SPEC_DRAFT = 2 };
enum { PG_SPEC_MAX_K = 16, PG_SPEC_HIST = 10 };
/* "off" / "ngram" / "draft" -> PG_SPEC_*; "draft" only when has_draft; a
 * draft model given with no --spec means "draft". PG_EINVAL otherwise. */
int pg_spec_mode_parse(const char *s, int has_draft, int *mode);

void pg_engine_config_default(pg_engine_config *c);

enum { PG_EV_TOKEN = 1, PG_EV_DONE = 2, PG_EV_ERROR = 3 };
enum {
    PG_FINISH_NONE = 0,
    PG_FINISH_STOP = 1,      /* EOS / stop token / stop string */
    PG_FINISH_LENGTH = 2,    /* max_tokens or context end */
    PG_FINISH_CANCELLED = 3, /* pg_engine_cancel */
    PG_FINISH_TIMEOUT = 4,   /* deadline passed (partial output kept) */
};

typedef struct pg_engine_usage {
    int32_t prompt_tokens, completion_tokens, cached_tokens;
    double queue_s;        /* submit -> first scheduled */
    double ttft_s;         /* submit -> first token */
    double total_s;        /* submit -> done */
    double prefill_s, decode_s;
    int32_t preemptions;
    double compute_s;      /* this choice's share of the forward passes it was in:
                              each step's time split among its sequences by their
                              tokens in the step (usage and cost accounting) */
} pg_engine_usage;

typedef struct pg_engine_event {
    int type;              /* PG_EV_* */
    uint64_t request_id;
    int32_t index;         /* choice index (0..n-1) */
    /* PG_EV_TOKEN: one generated token and the text it completes (possibly
     * empty: held back for UTF-8 completion or a possible stop string). */
    int32_t token;
    const char *text;
    size_t text_len;
    const pg_sample_out *sample; /* token, logprob, top alternatives */
    /* PG_EV_DONE: final text not yet delivered (flushed tail), reason, usage */
    int finish_reason;
    const pg_engine_usage *usage;
    /* PG_EV_ERROR */
    int error_code;
    const char *error_msg;
    /* addition: 1 on the very last event of the request. Each choice ends
     * with its own final event (DONE or ERROR, with its index); with n > 1
     * the request is over at the event with last == 1.
     * Semantics (engine.c): every sampled token gets one PG_EV_TOKEN, also
     * the one that ends generation (EOS / stop id: empty text; a token that
     * completes a stop string: only the text before the stop string). The
     * TOKEN texts plus the DONE text are the choice's whole output, decoded
     * in the context of the prompt (a leading space is kept). Usage is per
     * choice (completion_tokens counts every sampled token). */
    int last;
} pg_engine_event;

typedef void (*pg_engine_cb)(const pg_engine_event *ev, void *user);

/* Request limits pg_engine_submit enforces. Protocol adapters validate
 * against the same constants, so a request they accept is never refused
 * by the engine for one of these. */
enum {
    PG_ENGINE_MAX_CHOICES = 64,   /* pg_request.n */
    PG_ENGINE_MAX_STOP_IDS = 256, /* pg_request.n_stop_ids */
    PG_ENGINE_MAX_TRIGGERS = 16,  /* pg_request.n_grammar_triggers */
    PG_ENGINE_MAX_TRIGGER_LEN = 256, /* bytes of one trigger */
};

/* Grammar (structured outputs). A request may carry a compiled grammar
 * (gram_cache.h); each of its choices gets its own matcher (grammar.h),
 * and every token it samples is one the grammar allows: before sampling,
 * the matcher's token mask goes to the sampler (banned tokens -> -inf, the
 * logprobs stay those of the raw logits), after sampling the token
 * advances the matcher. The choice ends with PG_FINISH_STOP once the
 * grammar is done (accepting, nothing more can follow) or the model picks
 * an end-of-generation token where the grammar accepts (EOG is allowed
 * only there); max_tokens / stop strings / stop ids end it as usual (the
 * text is then a prefix of a sentence). If the mask and the sampling
 * parameters (logit_bias bans, ignore_eos) leave no token, the choice ends
 * with an error event.
 *   Leading space: the first generated token may be a word-start token
 * (" {" / "▁{" in SPM and BPE vocabularies, which models prefer right
 * after a prompt); its one leading space is not part of the constrained
 * output: the matcher sees the token without it and the text drops it
 * (a first token that the grammar allows only with its space, because the
 * grammar starts with one, keeps it).
 *   Lazy mode (n_grammar_triggers > 0): the choice is unconstrained until
 * the bytes of its generated tokens contain one of the trigger strings;
 * then its matcher is created and fed the bytes from the trigger's start
 * to the end of that token (so the grammar describes text that starts
 * with the trigger), and it is constrained from the next token on. If the
 * grammar rejects those bytes the choice ends with an error event. No
 * leading-space rule in lazy mode.
 *   Cost: masks are computed after the forward pass on the engine's
 * thread pool, one sequence per worker at a time (matchers of one grammar
 * serialise on its mutex); unconstrained sequences do no grammar work. */

typedef struct pg_request {
    const int32_t *prompt;  /* copied at submit */
    int32_t n_prompt;
    pg_sampling_params sampling; /* logit_bias copied */
    int32_t max_tokens;     /* >= 1 */
    int32_t n;              /* choices from one prompt (default 1); they share its prefix blocks */
    const char *const *stop; /* stop strings, copied */
    int32_t n_stop;
    const int32_t *stop_ids; /* extra stop token ids, copied */
    int32_t n_stop_ids;
    uint64_t cache_salt;    /* tenant salt of the prefix cache */
    int32_t priority;       /* lower is served first (default 0) */
    double timeout_s;       /* 0 = none; covers queueing and generation */
    int detok_special;      /* render control tokens in text */
    int32_t min_tokens;     /* [0, max_tokens]: end-of-generation and stop ids are banned, and stop
                             * strings not matched, until this many tokens were generated (vLLM's) */
    int include_stop_str;   /* a matched stop string ends the output text instead of being cut */
    /* Structured outputs (NULL = unconstrained; see "Grammar" below). */
    pg_gram_ref *grammar;   /* held (pg_gram_ref_hold) by submit until the request is freed */
    int no_spec;            /* 1: never speculate for this request (per-request opt-out); grammar-
                             * constrained requests never speculate either */
    const char *const *grammar_triggers; /* lazy mode: copied; n == 0 = constrained from the start */
    int32_t n_grammar_triggers;
    pg_engine_cb cb;
    void *user;
} pg_request;

int pg_engine_create(pg_model *m, const pg_vocab *v, const pg_engine_config *cfg, pg_engine **out, pg_error *err);
/* Stops the thread; requests still in flight end with PG_FINISH_CANCELLED. */
void pg_engine_destroy(pg_engine *e);

/* Returns a request id (> 0) or a negative code: PG_EINVAL / PG_ERANGE for a
 * request that can never run (message says why: prompt + max_tokens beyond
 * the context or the pool, bad parameters), PG_EBUSY when the waiting queue
 * is full. No callback is made for a rejected request. */
int64_t pg_engine_submit(pg_engine *e, const pg_request *r, pg_error *err);
/* Cancel at any point; its blocks are freed at once (before the next step).
 * Returns 0, or PG_ENOTFOUND if the id is unknown or already done. */
int pg_engine_cancel(pg_engine *e, uint64_t id);
/* Pause (paused = 1) or resume (0) a request (a client that stopped
 * reading): from the next step its sequences leave the batch and the
 * queue, keeping their KV blocks (released under memory pressure and then
 * recomputed, as after preemption), until resumed; cancel and the deadline
 * still apply. Outputs are unchanged (batch invariance). May be called from
 * a callback. Returns 0, or PG_ENOTFOUND. */
int pg_engine_pause(pg_engine *e, uint64_t id, int paused);

typedef struct pg_engine_stats {
    int32_t running, waiting;
    int32_t kv_blocks_total, kv_blocks_used, kv_blocks_cached;
    double kv_usage;        /* used / total */
    uint64_t prefix_queries, prefix_hits; /* in tokens */
    uint64_t preemptions, steps, prompt_tokens, generated_tokens;
    /* structured outputs: tokens sampled under a grammar; wall seconds the
     * engine thread spent on grammar work (masks after the forward pass,
     * advancing matchers) and on steps with a forward pass (forward +
     * sampling + events), so gram_s / step_s is the grammar's share */
    uint64_t constrained_tokens;
    double gram_s, step_s;
    int32_t last_batch_tokens, last_batch_seqs;
    int32_t n_ctx, block_size;
    int32_t kv_type;        /* PG_KV_* of the KV pool (pg_kv_type_name) */
    int32_t paused;         /* sequences paused by pg_engine_pause */
    /* speculative decoding: tokens drafted and accepted (accepted <= drafted;
     * each verify also yields one token of the target's own), verify passes,
     * and per finished choice that drafted anything its acceptance rate
     * accepted / drafted in buckets [i/10, (i+1)/10) (1.0 in the last) */
    uint64_t spec_drafted, spec_accepted, spec_verifies;
    uint64_t spec_hist[PG_SPEC_HIST];
    /* prefix cache on disk (all 0 when off): blocks loaded / looked up and
     * not found, tokens served from disk (part of prefix_hits), bytes and
     * files as in pg_pcd_stats */
    int disk_enabled;
    uint64_t disk_hits, disk_misses, disk_hit_tokens, disk_bytes_read, disk_bytes_written;
    uint64_t disk_files_written, disk_files_invalid, disk_files_evicted, disk_dropped, disk_write_errors;
    uint64_t disk_files, disk_bytes;
} pg_engine_stats;
void pg_engine_stats_get(pg_engine *e, pg_engine_stats *s);

/* ---- additions ---- */

/* Manual mode only (cfg.manual): run one scheduler step (take new requests,
 * apply cancels and deadlines, schedule, forward, sample, deliver events).
 * Returns the number of sequences still in flight afterwards (0 = idle). */
int pg_engine_step(pg_engine *e);

/* Engine invariants (block tables vs refcounts, queue order, per-sequence
 * counters, kvblocks' own check). 0 if consistent, else -1 with a
 * description in msg. Call between steps from the thread that drives the
 * engine (manual mode), or set cfg.check_steps. Allocates scratch. */
int pg_engine_check(pg_engine *e, char *msg, size_t cap);

/* For tests: 1 when every KV block is FREE or CACHED (nothing referenced). */
int pg_engine_kv_idle(pg_engine *e);

#endif
