/* engine_impl.h - internal to src/engine: the engine's objects and the
 * functions its files share. The serving engine is one scheduler thread
 * driving a batched forward pass over a paged KV cache (vLLM's design, on
 * CPU), in four files:
 *   engine.c        public API: create/destroy, submit (validate / build /
 *                   enqueue), cancel, stats, the engine thread
 *   engine_sched.c  one step: intake, reap, schedule, batch, forward
 *   engine_seq.c    per-sequence output: sample, detokenize, stop strings,
 *                   events, finishing a sequence and retiring its request
 *   engine_check.c  the invariant checker (pg_engine_check)
 *   engine_gram.c   structured outputs: per-sequence grammar matchers, the
 *                   step's masks on the pool, lazy triggers
 *   engine_spec.c   speculative decoding: n-gram and draft-model drafts,
 *                   verification of K + 1 rows, KV rollback, adaptive K
 *   engine_disk.c   the prefix cache on disk (pcache_disk.h): evicted blocks
 *                   out, prefix blocks in at admission, all blocks at destroy
 *
 * Objects. A request (eng_group) owns n sequences (eng_seq), one per choice.
 * A sequence owns everything it needs for its whole life, allocated at
 * submit: its token array (prompt + max_tokens), block table and block
 * hashes (ceil((prompt + max_tokens) / block_size)), sampler, streaming
 * detokenizer, stop-string matcher and text buffers. The engine owns one
 * pg_kv_store (the KV tensors) and one pg_kvb (block ids, refcounts, prefix
 * cache, LRU), plus per-step arrays sized at create (batch tokens, logits of
 * max_seqs rows). Nothing is allocated per token or per step.
 *
 * Sequence lifecycle:
 *
 *   submit --> WAITING --admit (prefix hit + blocks for the first chunk)--> RUNNING
 *                ^  ^                                                     |  prefill chunks
 *                |  |                                                     |  (n_computed < n_tokens-1)
 *                |  +------------- PREEMPTED: blocks freed, --------------+  decode: 1 token/step
 *                |                 generated tokens kept                  |
 *                |                                                        v
 *   cancel / deadline (any state) -----------------------------------> FINISHED
 *                                  (EOS, stop id/string, max_tokens, error)
 *
 *   pg_engine_pause (a slow client, issue 29), applied at the next step:
 *     RUNNING / WAITING --pause--> PAUSED: out of the batch and the queue,
 *       a running sequence keeps its blocks (unless memory runs short:
 *       reclaim_paused frees them and it will recompute, like preemption)
 *     PAUSED --resume--> RUNNING when it kept its blocks and a slot is free,
 *       else WAITING (blocks released, resumes by recomputing)
 *     cancel / deadline of a PAUSED sequence --> FINISHED
 *
 * A sequence needs KV for positions [0, n_tokens - 1] to sample its next
 * token; n_computed counts positions already in its blocks. A step
 * computes positions [n_computed, n_computed + k) of each scheduled
 * sequence and samples a token where that reaches n_tokens. "Prefill" and
 * "decode" are the same operation with k > 1 or k = 1, so a preempted
 * sequence resumes by prefilling prompt + generated tokens.
 *
 *
 * Threads: submit/cancel/stats take the mutex briefly; they hand requests
 * over through an incoming list and cancel flags. The engine thread takes
 * the mutex only to collect those and to publish a stats snapshot; the
 * scheduler state (lists, kvb, sequences) is owned by the engine thread and
 * the forward runs without the mutex. Cancels and deadlines are applied at
 * the start of the next step, before scheduling (blocks freed then).
 * Callbacks run on the engine thread without the mutex held. */
#ifndef PG_ENGINE_ENGINE_IMPL_H
#define PG_ENGINE_ENGINE_IMPL_H

#include "engine/engine.h"

#include "base/error.h"
#include "engine/kvblocks.h"
#include "engine/pcache_disk.h"
#include "sample/grammar.h"
#include "sample/stop.h"

#include <pthread.h>
#include <stdint.h>
#include <time.h>

enum { SEQ_WAITING = 1, SEQ_RUNNING = 2, SEQ_FINISHED = 3, SEQ_PAUSED = 4 };

#define TEXT_CAP 1024  /* detokenizer output per push */

typedef struct eng_group eng_group;
typedef struct eng_seq eng_seq;

struct eng_seq {
    eng_group *g;
    int32_t index;
    int state;
    eng_seq *wprev, *wnext; /* waiting list, or the paused list while PAUSED */
    int32_t *tokens;        /* [cap_tokens] prompt then generated */
    int32_t n_tokens, cap_tokens;
    int32_t n_computed;     /* positions whose K/V are in blocks */
    int32_t *blocks;        /* [cap_blocks] */
    uint64_t *hashes;       /* [cap_blocks] chain hash of each full block */
    int32_t n_blocks, cap_blocks, n_committed;
    int32_t n_dropped;      /* leading blocks released because every layer's window passed them (-1 in blocks[]) */
    int no_commit;          /* a commit collided: stop committing descendants */
    int32_t n_gen, cached_tokens, preemptions;
    int admitted;           /* scheduled at least once */
    pg_sampler *smp;
    pg_detok *dt;
    pg_stop *stop;
    pg_sample_out so;
    char *piece;            /* [TEXT_CAP] detokenizer output */
    char *text;             /* [text_cap] stop matcher output */
    size_t text_cap;
    double t_sched, t_first;
    double compute_s;       /* share of step times (pg_engine_usage.compute_s) */
    int32_t sched_n;        /* tokens scheduled in the current step */
    int32_t sched_row;      /* logits row in the current step, -1 none */
    /* grammar (NULL / 0 when the request has none; engine_gram.c) */
    pg_gmatch *gm;          /* matcher over e->tv: has consumed every generated token
                               (lazy: every token since the trigger); NULL = unconstrained now */
    pg_gmatch *gm_first;    /* first step only: matcher over e->tv_strip (leading-space rule) */
    uint32_t *mask_first;   /* first step only: [e->mask_words] gm's own mask, ORed into mask */
    uint32_t *mask;         /* [e->mask_words] allowed tokens, refreshed before each sample */
    int lead_strip;         /* drop one leading ' ' from the next text the detokenizer emits */
    char *lz;               /* lazy: [trig_max - 1 + TEXT_CAP] tail of the generated bytes */
    size_t lz_len;
    /* speculative decoding (engine_spec.c). A decode step of a speculating
     * sequence schedules 1 + n_draft tokens: tokens[n_tokens - 1] and the
     * drafts, written to tokens[n_tokens, n_tokens + n_draft) (a copy in
     * draft[]); rows are sampled in order until one differs from its draft,
     * then n_computed is cut back to the accepted positions and blocks past
     * them are released (they were never committed). */
    int32_t *draft;         /* [PG_SPEC_MAX_K]; NULL = this sequence never speculates */
    int32_t n_draft;        /* drafts in the current step (0 between steps) */
    int32_t spec_j;         /* draft the next sampled token is checked against, -1 none */
    int32_t spec_k;         /* current K (adapts to acceptance) */
    int32_t spec_fail;      /* consecutive verifies that accepted nothing */
    int32_t spec_retry;     /* no drafting until n_gen reaches this (back-off) */
    int32_t spec_backoffs;  /* back-offs so far (each one twice as long) */
    int32_t d_computed;     /* draft model: positions whose draft K/V are in e->dkv */
    uint32_t spec_drafted, spec_accepted;
};

struct eng_group {
    uint64_t id;
    eng_group *lprev, *lnext; /* live list (mu) */
    eng_group *inext;         /* incoming list (mu) */
    int cancel_req;           /* (mu) */
    int pause_req;            /* (mu) wanted: 1 paused, 0 running (pg_engine_pause) */
    int paused;               /* engine thread: applied */
    int arrival_set;          /* engine thread: in the scheduler's lists */
    int kill;                 /* engine thread: cancel observed */
    int32_t n, n_done;
    int prompt_done;          /* some choice finished the prompt: siblings may start */
    int queued;               /* counted in the queue limits */
    int32_t n_prompt, max_tokens;
    int32_t *stop_ids, n_stop_ids;
    int32_t min_tokens;       /* ban[] applies while a seq's n_gen < min_tokens */
    int32_t *ban, n_ban;      /* end-of-generation ids (unless ignore_eos) + stop ids */
    int include_stop_str;
    uint64_t salt;
    int32_t priority;
    uint64_t arrival;
    double t_submit, deadline; /* deadline 0 = none */
    int ignore_eos;
    pg_gram_ref *gram;        /* held reference, or NULL */
    char **trig;              /* [n_trig] lazy triggers (copies) */
    size_t *trig_len;
    int32_t n_trig;
    size_t trig_max;          /* longest trigger */
    int no_spec;              /* pg_request.no_spec */
    pg_engine_cb cb;
    void *user;
    eng_seq *seqs; /* [n] */
};

struct pg_engine {
    pg_model *m;
    const pg_vocab *v;
    pg_engine_config cfg;
    int32_t n_vocab, n_ctx, bs, n_blocks;
    int32_t kv_window;      /* pg_model_kv_window: > 0 when every layer attends a sliding window */
    pg_pool *pool;
    pg_kv_store *kv;
    pg_kvb *kvb;
    pg_forward *fwd;
    uint64_t salt_key;
    pg_pcd *pcd;            /* prefix cache on disk, or NULL (engine_disk.c) */
    void *pcd_buf;          /* [pg_kv_block_bytes] one block's image (engine thread) */
    uint64_t st_dh, st_dm;  /* tokens served from disk; disk lookups that found no file */
    int32_t eog[PG_SAMPLER_MAX_EOG];
    int32_t n_eog;

    /* per-step arrays (engine thread) */
    float *logits;          /* [max_seqs][n_vocab] */
    int32_t *b_tok, *b_pos, *b_seq; /* [max_batched_tokens] */
    int32_t *b_out;         /* [max_seqs] */
    pg_batch_seq *b_seqs;   /* [max_seqs] */
    eng_seq **sched;        /* [max_seqs] */
    eng_seq **gsched;       /* [max_seqs] constrained sequences sampling this step */
    int32_t n_gsched;
    int gnext;              /* atomic: next gsched entry to mask (pool workers) */
    double mask_mean_s;     /* recent mean cost of one mask (inline or pool, engine_gram.c) */

    /* grammar vocabularies, built on the first request with a grammar
     * (under tv_mu), immutable afterwards */
    pthread_mutex_t tv_mu;
    pg_gram_vocab *tv;      /* token bytes as output */
    pg_gram_vocab *tv_strip; /* the same with one leading space removed */
    size_t mask_words;

    /* speculative decoding (engine_spec.c; engine thread) */
    int32_t spec_kmax;      /* most drafts per sequence and step */
    int32_t spec_rows;      /* decode rows per step within which drafting is allowed */
    int32_t spec_share;     /* this step: drafts each decoding sequence may add (0 = none) */
    int32_t n_rows;         /* logits rows per step: max_seqs x (1 + spec_kmax) */
    pg_kv_store *dkv;       /* draft model's K/V, same block ids and size as kv */
    pg_forward *dfwd;
    float *dlogits;         /* [max_seqs][n_vocab] */
    int32_t *d_tok, *d_pos, *d_seq, *d_out; /* [max_batched_tokens] draft batch */
    pg_batch_seq *d_seqs;   /* [max_seqs] */
    eng_seq **dsched;       /* [max_seqs] */
    int32_t d_ctx;          /* positions the draft model may use */
    uint64_t st_sdraft, st_sacc, st_sver, st_shist[PG_SPEC_HIST];

    /* scheduler state (engine thread) */
    eng_seq **running;      /* [max_seqs], sorted by (priority, arrival, index) */
    int32_t n_running;
    eng_seq *wait_head, *wait_tail;
    int32_t n_waiting;
    eng_seq *pause_head;    /* PAUSED sequences (unordered) */
    int32_t n_paused;
    uint64_t arrival_next;
    uint64_t st_preempt, st_steps, st_prompt, st_gen, st_pq, st_ph;
    uint64_t st_cgen;       /* tokens sampled under a grammar */
    double st_gram_s, st_step_s;
    int32_t last_bt, last_bs;
    double dec_s, tok_s; /* step-time model of prefill_cap (engine thread) */
    int32_t dq_req;         /* queue counters to release at the next lock */
    int64_t dq_tok;

    /* shared, under mu */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t th;
    int has_thread, stop;
    eng_group *in_head, *in_tail;
    eng_group *live_head;
    int32_t n_cancel_req;
    int32_t n_pause_req;    /* pause/resume changes not yet applied */
    int32_t n_incoming;     /* sequences in the incoming list */
    uint64_t next_id;
    uint64_t seed_ctr;      /* atomic */
    int32_t q_requests;
    int64_t q_tokens;
    pg_engine_stats snap;
};

static inline double eng_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* engine_sched.c (engine thread) */
int eng_seq_before(const eng_seq *a, const eng_seq *b); /* (priority, arrival, index) order */
void eng_wait_remove(pg_engine *e, eng_seq *s);
void eng_run_remove(pg_engine *e, eng_seq *s);
void eng_release_blocks(pg_engine *e, eng_seq *s);
void eng_enqueue_incoming(pg_engine *e, eng_group *in);
void eng_reap(pg_engine *e, double t);
void eng_pause_remove(pg_engine *e, eng_seq *s);
void eng_publish(pg_engine *e);
int eng_step(pg_engine *e); /* one scheduler step; returns the live count */

/* engine_seq.c */
void eng_group_free(eng_group *g);
void eng_group_dequeue(pg_engine *e, eng_group *g);
void eng_finish_seq(pg_engine *e, eng_seq *s, int reason, int err_code, const char *err_msg, int flush);
/* Returns 1 when s finished (s and its group may be freed), else 0. */
int eng_after_sample(pg_engine *e, eng_seq *s, const float *row, double t);

/* engine_spec.c */
int eng_spec_create(pg_engine *e, pg_error *err);  /* validate config, draft store, buffers */
void eng_spec_free(pg_engine *e);
int eng_spec_seq(pg_engine *e, eng_seq *s);        /* at submit: draft buffer if it may speculate */
void eng_spec_plan_step(pg_engine *e);              /* e->spec_share for this step (back-off) */
/* Drafts for decoding sequence s, at most lim: n-gram drafts are written
 * now, draft-model ones by eng_spec_run_draft. Returns the count. */
int32_t eng_spec_plan(pg_engine *e, eng_seq *s, int32_t lim);
void eng_spec_run_draft(pg_engine *e);              /* draft model over the scheduled sequences */
/* Samples rows[0..n_draft] in order, accepting while tokens equal the
 * drafts; rolls back n_computed and the blocks past it. 1 = s finished. */
int eng_spec_verify(pg_engine *e, eng_seq *s, const float *rows, double t);
void eng_spec_finish(pg_engine *e, eng_seq *s);     /* acceptance histogram */
void eng_trim_blocks(pg_engine *e, eng_seq *s);     /* blocks beyond ceil(n_computed / bs) released */
void eng_commit_full(pg_engine *e, eng_seq *s);
void eng_drop_window_blocks(pg_engine *e, eng_seq *s);

/* engine_gram.c */
int eng_gram_validate(const pg_request *r, pg_error *err);
int eng_gram_group(pg_engine *e, const pg_request *r, eng_group *g, pg_error *err); /* vocab + triggers */
int eng_gram_seq(pg_engine *e, eng_seq *s);      /* matcher / mask / lazy buffer at submit; PG_ENOMEM */
void eng_gram_seq_free(eng_seq *s);
void eng_gram_free(pg_engine *e);
/* Masks of the sequences of this step that sample under a grammar, on the
 * pool, then installed in their samplers. */
void eng_gram_masks(pg_engine *e, int32_t ns); /* over e->sched[0, ns) */
/* After sampling tok (not yet detokenized): advance the matcher / watch
 * the triggers. Returns 0 to go on, 1 when the grammar is done (finish
 * STOP), or a negative code with *msg set (finish with an error). */
int eng_gram_accept(pg_engine *e, eng_seq *s, int32_t tok, const char **msg);
/* Leading-space rule on the detokenizer's output buf[*k]. */
void eng_gram_strip(eng_seq *s, char *buf, int64_t *k);

/* engine_disk.c: the disk prefix cache (no-ops when e->pcd is NULL) */
int eng_disk_open(pg_engine *e, pg_error *err);
void eng_disk_close(pg_engine *e);
/* s has its first k blocks (memory hits, ref'd, hashes set): loads the
 * following full prompt blocks found on disk into new blocks, commits
 * them, and returns the new count. */
int32_t eng_disk_extend(pg_engine *e, eng_seq *s, int32_t k);
void eng_disk_stats(pg_engine *e, pg_engine_stats *st);

#endif
