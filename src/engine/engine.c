/* engine.c - the serving engine: one scheduler thread driving a batched
 * forward pass over a paged KV cache (vLLM's design, on CPU).
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
 * A sequence needs KV for positions [0, n_tokens - 1] to sample its next
 * token; n_computed counts positions already in its blocks. A step
 * computes positions [n_computed, n_computed + k) of each scheduled
 * sequence and samples a token where that reaches n_tokens. "Prefill" and
 * "decode" are the same operation with k > 1 or k = 1, so a preempted
 * sequence resumes by prefilling prompt + generated tokens.
 *
 * Scheduler (one step, budget = max_batched_tokens, at most max_seqs
 * running):
 *   1. running decodes (need 1 token), in priority then arrival order;
 *   2. running prefills, chunked to the remaining budget, which is capped
 *      while step 1 scheduled any decode (prefill_cap: the step stays
 *      within ~2x a decode-only step, so prompts arriving mid-stream do
 *      not stall the streams' inter-token latency);
 *   3. unless something was preempted this step, waiting sequences in
 *      priority then arrival order: look up the longest cached chain of full
 *      blocks of tokens[0, n_tokens - 1) (so the last token is always
 *      recomputed and gives logits), ref them, allocate blocks for the first
 *      chunk, move to RUNNING. The first that does not fit stops admission.
 *   Out of blocks in 1/2: preempt the last running sequence (lowest
 *   priority, newest; its scheduled tokens are refunded); if that is the
 *   sequence being served, it preempts itself. The front sequence is never a
 *   victim of another: alone it always fits, since submit rejects requests
 *   whose prompt + max_tokens exceed the pool, so progress is guaranteed.
 *   Preempted sequences go back to WAITING at their (priority, arrival)
 *   place, which is ahead of everything that arrived later.
 * The engine thread, before a step that starts with nothing running, waits
 * for the rest of a burst (until batch_wait_us pass without an arrival, at
 * most 4 x batch_wait_us), so requests sent together start in one step.
 *
 * Prefix cache: when a position range fills a block, the block is
 * committed under H(parent hash, tokens, salt) (prompt and generated blocks
 * alike); salt = hash(per-process random key, request cache_salt), so
 * tenants never share blocks and hashes cannot be crafted. Blocks are
 * released last to first.
 *
 * n > 1: choice 0 (the leader) is admitted like any request; choices
 * 1..n-1 wait until the leader has finished its prompt (sampled once),
 * then are admitted and hit its committed full prompt blocks in the cache
 * (sharing them by refcount); each recomputes only the partial last block
 * (< block_size tokens, at least 1). Choice i samples from RNG stream
 * seed + i (pg_sampler_fork), so outputs are deterministic.
 *
 * Batch invariance: the forward's rows do not depend on the batch; each
 * sequence samples from its own logits row with its own sampler; nothing
 * else feeds a token choice. So tokens and logprobs are the same alone or
 * batched, at any chunk size, with or without cache hits or preemption.
 *
 * Threads: submit/cancel/stats take the mutex briefly; they hand requests
 * over through an incoming list and cancel flags. The engine thread takes
 * the mutex only to collect those and to publish a stats snapshot; the
 * scheduler state (lists, kvb, sequences) is owned by the engine thread and
 * the forward runs without the mutex. Cancels and deadlines are applied at
 * the start of the next step, before scheduling (blocks freed then).
 * Callbacks run on the engine thread without the mutex held. */
#include "engine/engine.h"

#include "base/log.h"
#include "base/pool.h"
#include "engine/kvblocks.h"
#include "sample/stop.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

enum { SEQ_WAITING = 1, SEQ_RUNNING = 2, SEQ_FINISHED = 3 };

#define TEXT_CAP 1024  /* detokenizer output per push */
#define MAX_N 128      /* choices per request */

typedef struct eng_group eng_group;
typedef struct eng_seq eng_seq;

struct eng_seq {
    eng_group *g;
    int32_t index;
    int state;
    eng_seq *wprev, *wnext; /* waiting list */
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
    int32_t sched_n;        /* tokens scheduled in the current step */
    int32_t sched_row;      /* logits row in the current step, -1 none */
};

struct eng_group {
    uint64_t id;
    eng_group *lprev, *lnext; /* live list (mu) */
    eng_group *inext;         /* incoming list (mu) */
    int cancel_req;           /* (mu) */
    int kill;                 /* engine thread: cancel observed */
    int32_t n, n_done;
    int prompt_done;          /* some choice finished the prompt: siblings may start */
    int queued;               /* counted in the queue limits */
    int32_t n_prompt, max_tokens;
    int32_t *stop_ids, n_stop_ids;
    uint64_t salt;
    int32_t priority;
    uint64_t arrival;
    double t_submit, deadline; /* deadline 0 = none */
    int ignore_eos;
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
    int32_t eog[PG_SAMPLER_MAX_EOG];
    int32_t n_eog;

    /* per-step arrays (engine thread) */
    float *logits;          /* [max_seqs][n_vocab] */
    int32_t *b_tok, *b_pos, *b_seq; /* [max_batched_tokens] */
    int32_t *b_out;         /* [max_seqs] */
    pg_batch_seq *b_seqs;   /* [max_seqs] */
    eng_seq **sched;        /* [max_seqs] */

    /* scheduler state (engine thread) */
    eng_seq **running;      /* [max_seqs], sorted by (priority, arrival, index) */
    int32_t n_running;
    eng_seq *wait_head, *wait_tail;
    int32_t n_waiting;
    uint64_t arrival_next;
    uint64_t st_preempt, st_steps, st_prompt, st_gen, st_pq, st_ph;
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
    int32_t n_incoming;     /* sequences in the incoming list */
    uint64_t next_id;
    uint64_t seed_ctr;      /* atomic */
    int32_t q_requests;
    int64_t q_tokens;
    pg_engine_stats snap;
};

/* ---------------------------------------------------------------- utils */

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static uint64_t mix64(uint64_t x) {
    x += 0x9E3779B97F4A7C15ULL;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
    return x ^ (x >> 31);
}

void pg_engine_config_default(pg_engine_config *c) {
    memset(c, 0, sizeof *c);
    c->threads = 2;
    c->block_size = 16;
    c->kv_cache_mem = 0;
    c->kv_type = PG_KV_F16;
    c->n_ctx = 0;
    c->max_seqs = 16;
    c->max_batched_tokens = 1024;
    c->prefill_chunk_decoding = -1;
    c->batch_wait_us = 5000;
    c->max_queued_requests = 256;
    c->max_queued_tokens = (int64_t)1 << 20;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    c->default_seed = mix64((uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec) ^ (uint64_t)getpid();
}

/* MemAvailable from /proc/meminfo in bytes, 0 if unknown. */
static uint64_t mem_available(void) {
    FILE *f = fopen("/proc/meminfo", "r");
    if (!f) return 0;
    char line[256];
    uint64_t kb = 0;
    while (fgets(line, sizeof line, f)) {
        unsigned long long v;
        if (sscanf(line, "MemAvailable: %llu kB", &v) == 1) {
            kb = v;
            break;
        }
    }
    fclose(f);
    return kb * 1024ULL;
}

/* (priority, arrival, index) order: a before b */
static int seq_before(const eng_seq *a, const eng_seq *b) {
    if (a->g->priority != b->g->priority) return a->g->priority < b->g->priority;
    if (a->g->arrival != b->g->arrival) return a->g->arrival < b->g->arrival;
    return a->index < b->index;
}

/* ------------------------------------------------------- lists (engine) */

static void wait_insert(pg_engine *e, eng_seq *s) {
    eng_seq *p = e->wait_tail;
    while (p && seq_before(s, p)) p = p->wprev;
    /* insert after p (p == NULL: at head) */
    s->wprev = p;
    s->wnext = p ? p->wnext : e->wait_head;
    if (s->wnext) s->wnext->wprev = s;
    else e->wait_tail = s;
    if (p) p->wnext = s;
    else e->wait_head = s;
    s->state = SEQ_WAITING;
    e->n_waiting++;
}

static void wait_remove(pg_engine *e, eng_seq *s) {
    if (s->wprev) s->wprev->wnext = s->wnext;
    else e->wait_head = s->wnext;
    if (s->wnext) s->wnext->wprev = s->wprev;
    else e->wait_tail = s->wprev;
    s->wprev = s->wnext = NULL;
    e->n_waiting--;
}

static void run_insert(pg_engine *e, eng_seq *s) {
    PG_ASSERT(e->n_running < e->cfg.max_seqs);
    int32_t i = e->n_running;
    while (i > 0 && seq_before(s, e->running[i - 1])) {
        e->running[i] = e->running[i - 1];
        i--;
    }
    e->running[i] = s;
    e->n_running++;
    s->state = SEQ_RUNNING;
}

static void run_remove(pg_engine *e, eng_seq *s) {
    int32_t i = 0;
    while (i < e->n_running && e->running[i] != s) i++;
    PG_ASSERT(i < e->n_running);
    memmove(e->running + i, e->running + i + 1, (size_t)(e->n_running - i - 1) * sizeof *e->running);
    e->n_running--;
}

/* ------------------------------------------------------------- blocks */

static void release_blocks(pg_engine *e, eng_seq *s) {
    for (int32_t i = s->n_blocks - 1; i >= s->n_dropped; i--) pg_kvb_unref(e->kvb, s->blocks[i]);
    s->n_blocks = 0;
    s->n_dropped = 0;
    s->n_committed = 0;
    s->n_computed = 0;
    s->no_commit = 0;
}

/* Blocks for positions [0, upto). 0, or -1 when the pool is exhausted
 * (blocks obtained so far stay in the table). */
static int ensure_blocks(pg_engine *e, eng_seq *s, int32_t upto) {
    int32_t need = (upto + e->bs - 1) / e->bs;
    PG_ASSERT(need <= s->cap_blocks);
    while (s->n_blocks < need) {
        int32_t id = pg_kvb_alloc(e->kvb);
        if (id < 0) return -1;
        s->blocks[s->n_blocks++] = id;
    }
    return 0;
}

/* Sliding-window models (every layer windowed, window W): a query at
 * position p >= n_computed reads positions >= p - W + 1, so a block whose
 * last position is below n_computed - W + 1 is never read again by this
 * sequence. Release it (it stays in the prefix cache when it was committed:
 * refcounts, not this sequence, decide when it is reused or evicted). Runs
 * after commit_full, so every dropped block is already committed. Results
 * are unchanged: the forward pass never reads below the window. */
static void drop_window_blocks(pg_engine *e, eng_seq *s) {
    if (e->kv_window <= 0) return;
    int32_t first_needed = s->n_computed - e->kv_window + 1;
    if (first_needed <= 0) return;
    int32_t limit = first_needed / e->bs; /* blocks [0, limit) end before first_needed */
    if (limit > s->n_committed) limit = s->n_committed;
    while (s->n_dropped < limit) {
        pg_kvb_unref(e->kvb, s->blocks[s->n_dropped]);
        s->blocks[s->n_dropped++] = -1;
    }
}

/* Register the blocks that became full (their K/V are final). */
static void commit_full(pg_engine *e, eng_seq *s) {
    int32_t full = s->n_computed / e->bs;
    while (!s->no_commit && s->n_committed < full) {
        int32_t i = s->n_committed;
        const int32_t *t = s->tokens + (size_t)i * (size_t)e->bs;
        uint64_t parent = i ? s->hashes[i - 1] : PG_KVB_ROOT;
        uint64_t h = pg_kvb_hash(parent, t, e->bs, s->g->salt);
        s->hashes[i] = h;
        if (pg_kvb_commit(e->kvb, s->blocks[i], h, parent, s->g->salt, t) == PG_KVB_COMMIT_COLLISION)
            s->no_commit = 1;
        s->n_committed++;
    }
}

/* ------------------------------------------------------------- groups */

static void seq_free(eng_seq *s) {
    free(s->tokens);
    free(s->blocks);
    free(s->hashes);
    pg_sampler_destroy(s->smp);
    pg_detok_destroy(s->dt);
    pg_stop_destroy(s->stop);
    free(s->piece);
    free(s->text);
}

static void group_free(eng_group *g) {
    if (!g) return;
    if (g->seqs)
        for (int32_t i = 0; i < g->n; i++) seq_free(&g->seqs[i]);
    free(g->seqs);
    free(g->stop_ids);
    free(g);
}

/* Release the queue-limit share of g (engine thread; applied under mu later). */
static void group_dequeue(pg_engine *e, eng_group *g) {
    if (!g->queued) return;
    g->queued = 0;
    e->dq_req++;
    e->dq_tok += g->n_prompt;
}

static void group_retire(pg_engine *e, eng_group *g) {
    group_dequeue(e, g);
    pthread_mutex_lock(&e->mu);
    if (g->lprev) g->lprev->lnext = g->lnext;
    else e->live_head = g->lnext;
    if (g->lnext) g->lnext->lprev = g->lprev;
    if (g->cancel_req == 1) e->n_cancel_req--; /* requested but never observed */
    e->q_requests -= e->dq_req;
    e->q_tokens -= e->dq_tok;
    e->dq_req = 0;
    e->dq_tok = 0;
    pthread_mutex_unlock(&e->mu);
    group_free(g);
}

/* ------------------------------------------------------------- events */

static int is_stop_token(const pg_engine *e, const eng_group *g, int32_t tok) {
    for (int32_t i = 0; i < g->n_stop_ids; i++)
        if (g->stop_ids[i] == tok) return 1;
    return !g->ignore_eos && pg_vocab_is_eog(e->v, tok);
}

/* Make room for `more` bytes after `used` in s->text (finish path only). */
static int text_reserve(eng_seq *s, size_t used, size_t more) {
    size_t need = used + more;
    if (need <= s->text_cap) return 0;
    size_t c = s->text_cap * 2;
    while (c < need) c *= 2;
    char *t = realloc(s->text, c);
    if (!t) return -1;
    s->text = t;
    s->text_cap = c;
    return 0;
}

/* Ends sequence s: final text, usage, the final event, blocks freed, list
 * membership dropped; retires the group after its last sequence.
 * flush: deliver held text (not after a stop string). */
static void finish_seq(pg_engine *e, eng_seq *s, int reason, int err_code, const char *err_msg, int flush) {
    eng_group *g = s->g;
    double t = now_s();
    size_t tl = 0;
    if (flush && err_code == 0) {
        size_t ml = pg_stop_max_len(s->stop);
        for (;;) {
            int64_t k = pg_detok_flush(s->dt, s->piece, TEXT_CAP);
            if (k <= 0) break;
            if (text_reserve(s, tl, (size_t)k + ml) < 0) break;
            pg_stop_result r;
            if (pg_stop_feed(s->stop, s->piece, (size_t)k, s->text + tl, s->text_cap - tl, &r) == 0) tl += r.n_emit;
        }
        if (text_reserve(s, tl, ml + 1) == 0) tl += pg_stop_flush(s->stop, s->text + tl, s->text_cap - tl);
    }
    pg_engine_usage u = {0};
    u.prompt_tokens = g->n_prompt;
    u.completion_tokens = s->n_gen;
    u.cached_tokens = s->cached_tokens;
    u.preemptions = s->preemptions;
    u.total_s = t - g->t_submit;
    if (s->admitted) {
        u.queue_s = s->t_sched - g->t_submit;
        if (s->n_gen > 0) {
            u.ttft_s = s->t_first - g->t_submit;
            u.prefill_s = s->t_first - s->t_sched;
            u.decode_s = t - s->t_first;
        } else {
            u.prefill_s = t - s->t_sched;
        }
    } else {
        u.queue_s = u.total_s;
    }

    if (s->state == SEQ_WAITING) wait_remove(e, s);
    else if (s->state == SEQ_RUNNING) run_remove(e, s);
    release_blocks(e, s);
    s->state = SEQ_FINISHED;
    s->sched_n = 0;
    s->sched_row = -1;
    g->prompt_done = 1; /* never leave siblings gated behind a finished leader */
    g->n_done++;

    pg_engine_event ev;
    memset(&ev, 0, sizeof ev);
    ev.request_id = g->id;
    ev.index = s->index;
    ev.last = g->n_done == g->n;
    if (err_code) {
        ev.type = PG_EV_ERROR;
        ev.error_code = err_code;
        ev.error_msg = err_msg;
    } else {
        ev.type = PG_EV_DONE;
        ev.finish_reason = reason;
        ev.usage = &u;
        ev.text = s->text;
        ev.text_len = tl;
        ev.token = -1;
    }
    if (g->cb) g->cb(&ev, g->user);
    if (g->n_done == g->n) group_retire(e, g);
}

static void emit_token(eng_seq *s, const char *text, size_t len) {
    eng_group *g = s->g;
    if (!g->cb) return;
    pg_engine_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = PG_EV_TOKEN;
    ev.request_id = g->id;
    ev.index = s->index;
    ev.token = s->so.token;
    ev.text = text;
    ev.text_len = len;
    ev.sample = &s->so;
    g->cb(&ev, g->user);
}

/* ------------------------------------------------------------- create */

static void *engine_thread_main(void *arg);

int pg_engine_create(pg_model *m, const pg_vocab *v, const pg_engine_config *cfg_in, pg_engine **out,
                     pg_error *err) {
    *out = NULL;
    if (!m || !v) return pg_error_set(err, PG_EINVAL, "engine: no model or vocabulary");
    pg_engine_config c;
    if (cfg_in) c = *cfg_in;
    else pg_engine_config_default(&c);
    pg_engine_config d;
    pg_engine_config_default(&d);
    if (c.threads <= 0) c.threads = d.threads;
    if (c.block_size <= 0) c.block_size = d.block_size;
    if (c.max_seqs <= 0) c.max_seqs = d.max_seqs;
    if (c.max_batched_tokens <= 0) c.max_batched_tokens = d.max_batched_tokens;
    if (c.max_queued_requests <= 0) c.max_queued_requests = d.max_queued_requests;
    if (c.max_queued_tokens <= 0) c.max_queued_tokens = d.max_queued_tokens;
    if (c.kv_type != PG_KV_F16 && c.kv_type != PG_KV_F32)
        return pg_error_set(err, PG_EINVAL, "engine: unknown KV cache type %d", c.kv_type);
    if (c.threads > 1024 || c.block_size > 4096 || c.max_seqs > 4096 || c.max_batched_tokens > (1 << 20))
        return pg_error_set(err, PG_ERANGE,
                            "engine: threads (%d), block_size (%d), max_seqs (%d) or max_batched_tokens (%d) too large",
                            c.threads, c.block_size, c.max_seqs, c.max_batched_tokens);
    const pg_hparams *hp = pg_model_hparams(m);
    if (pg_vocab_n_tokens(v) > hp->n_vocab)
        return pg_error_set(err, PG_EINVAL, "engine: vocabulary has %d tokens but the model only %d",
                            pg_vocab_n_tokens(v), hp->n_vocab);
    int32_t n_ctx = c.n_ctx > 0 ? c.n_ctx : hp->n_ctx_train;
    if (n_ctx <= 0) n_ctx = 2048;
    if (n_ctx > (1 << 24)) return pg_error_set(err, PG_ERANGE, "engine: n_ctx %d too large", n_ctx);
    if (hp->n_ctx_train > 0 && n_ctx > hp->n_ctx_train)
        PG_WARN("engine: n_ctx %d exceeds the model's training context %d", n_ctx, hp->n_ctx_train);
    c.n_ctx = n_ctx;

    size_t bpt = pg_kv_bytes_per_token(m, c.kv_type);
    if (bpt == 0) return pg_error_set(err, PG_EINVAL, "engine: model has no KV cache size");
    uint64_t one_ctx = (uint64_t)bpt * (uint64_t)n_ctx;
    uint64_t mem = c.kv_cache_mem;
    if (mem == 0) {
        uint64_t all = one_ctx * (uint64_t)c.max_seqs;
        uint64_t avail = mem_available();
        mem = avail ? avail / 4 : all;
        if (mem > all) mem = all;
        if (mem < one_ctx) mem = one_ctx;
    }
    uint64_t block_bytes = (uint64_t)bpt * (uint64_t)c.block_size;
    uint64_t nb = mem / block_bytes;
    if (nb < 1) return pg_error_set(err, PG_ERANGE, "engine: kv_cache_mem %llu bytes holds no %d-token block (%llu bytes)",
                                    (unsigned long long)mem, c.block_size, (unsigned long long)block_bytes);
    if (nb > (1u << 28)) nb = 1u << 28;

    pg_engine *e = calloc(1, sizeof *e);
    if (!e) return pg_error_set(err, PG_ENOMEM, "engine: out of memory");
    e->m = m;
    e->v = v;
    e->cfg = c;
    e->n_vocab = hp->n_vocab;
    e->n_ctx = n_ctx;
    e->bs = c.block_size;
    e->kv_window = pg_model_kv_window(m);
    e->n_blocks = (int32_t)nb;
    e->next_id = 1;
    pthread_mutex_init(&e->mu, NULL);
    pthread_cond_init(&e->cv, NULL);
    if (getrandom(&e->salt_key, sizeof e->salt_key, 0) != (ssize_t)sizeof e->salt_key)
        e->salt_key = mix64(c.default_seed ^ (uint64_t)(uintptr_t)e);
    for (int32_t id = 0; id < pg_vocab_n_tokens(v) && e->n_eog < PG_SAMPLER_MAX_EOG; id++)
        if (pg_vocab_is_eog(v, id)) e->eog[e->n_eog++] = id;

    int rc;
    e->pool = pg_pool_create(c.threads);
    if (!e->pool) {
        rc = pg_error_set(err, PG_ENOMEM, "engine: cannot create %d threads", c.threads);
        goto fail;
    }
    if ((rc = pg_kv_store_create(m, e->n_blocks, e->bs, c.kv_type, &e->kv, err)) < 0) goto fail;
    e->kvb = pg_kvb_create(e->n_blocks, e->bs);
    if (!e->kvb) {
        rc = pg_error_set(err, PG_ENOMEM, "engine: cannot create the block table of %d blocks", e->n_blocks);
        goto fail;
    }
    if ((rc = pg_forward_create(m, e->pool, c.max_batched_tokens, c.max_seqs, n_ctx, &e->fwd, err)) < 0) goto fail;
    size_t T = (size_t)c.max_batched_tokens, S = (size_t)c.max_seqs;
    e->logits = malloc(S * (size_t)e->n_vocab * sizeof(float));
    e->b_tok = malloc(T * sizeof(int32_t));
    e->b_pos = malloc(T * sizeof(int32_t));
    e->b_seq = malloc(T * sizeof(int32_t));
    e->b_out = malloc(S * sizeof(int32_t));
    e->b_seqs = malloc(S * sizeof(pg_batch_seq));
    e->sched = malloc(S * sizeof(eng_seq *));
    e->running = malloc(S * sizeof(eng_seq *));
    if (!e->logits || !e->b_tok || !e->b_pos || !e->b_seq || !e->b_out || !e->b_seqs || !e->sched || !e->running) {
        rc = pg_error_set(err, PG_ENOMEM, "engine: out of memory for the step buffers");
        goto fail;
    }

    {
        uint64_t tokens = (uint64_t)e->n_blocks * (uint64_t)e->bs;
        PG_INFO("engine: KV cache %d blocks x %d tokens = %llu tokens (%.1f MiB, %s, %zu bytes/token)", e->n_blocks,
                e->bs, (unsigned long long)tokens, (double)(tokens * bpt) / (1024.0 * 1024.0),
                c.kv_type == PG_KV_F16 ? "f16" : "f32", bpt);
        PG_INFO("engine: maximum concurrency for %d tokens per request: %.2fx; max_seqs %d, max_batched_tokens %d, "
                "%d threads",
                n_ctx, (double)tokens / (double)n_ctx, c.max_seqs, c.max_batched_tokens, c.threads);
        if (tokens < (uint64_t)n_ctx)
            PG_WARN("engine: the KV cache (%llu tokens) cannot hold one full context of %d tokens",
                    (unsigned long long)tokens, n_ctx);
    }
    e->snap.kv_blocks_total = e->n_blocks;
    e->snap.n_ctx = n_ctx;
    e->snap.block_size = e->bs;

    if (!c.manual) {
        if (pthread_create(&e->th, NULL, engine_thread_main, e) != 0) {
            rc = pg_error_set(err, PG_ENOMEM, "engine: cannot start the engine thread");
            goto fail;
        }
        e->has_thread = 1;
    }
    *out = e;
    return PG_OK;
fail:
    pg_engine_destroy(e);
    return rc;
}

/* ------------------------------------------------------------- submit */

int64_t pg_engine_submit(pg_engine *e, const pg_request *r, pg_error *err) {
    if (!e || !r) return pg_error_set(err, PG_EINVAL, "no request");
    if (!r->prompt || r->n_prompt < 1) return pg_error_set(err, PG_EINVAL, "the prompt is empty");
    if (r->max_tokens < 1) return pg_error_set(err, PG_EINVAL, "max_tokens must be at least 1 (got %d)", r->max_tokens);
    int32_t n = r->n == 0 ? 1 : r->n;
    if (n < 1 || n > MAX_N) return pg_error_set(err, PG_EINVAL, "n must be between 1 and %d (got %d)", MAX_N, r->n);
    if (r->n_stop < 0 || (r->n_stop > 0 && !r->stop))
        return pg_error_set(err, PG_EINVAL, "bad stop list");
    if (r->n_stop_ids < 0 || r->n_stop_ids > 1024 || (r->n_stop_ids > 0 && !r->stop_ids))
        return pg_error_set(err, PG_EINVAL, "bad stop token list (at most 1024 ids)");
    if (!(r->timeout_s >= 0) || r->timeout_s > 1e9)
        return pg_error_set(err, PG_EINVAL, "timeout must be a non-negative number of seconds");
    for (int32_t i = 0; i < r->n_prompt; i++)
        if (r->prompt[i] < 0 || r->prompt[i] >= e->n_vocab)
            return pg_error_set(err, PG_ERANGE, "prompt token %d at position %d is outside the vocabulary (0..%d)",
                                r->prompt[i], i, e->n_vocab - 1);
    for (int32_t i = 0; i < r->n_stop_ids; i++)
        if (r->stop_ids[i] < 0 || r->stop_ids[i] >= e->n_vocab)
            return pg_error_set(err, PG_ERANGE, "stop token %d is outside the vocabulary (0..%d)", r->stop_ids[i],
                                e->n_vocab - 1);
    int64_t total = (int64_t)r->n_prompt + (int64_t)r->max_tokens;
    if (total > e->n_ctx)
        return pg_error_set(err, PG_ERANGE,
                            "this request needs %lld tokens (%d in the prompt + %d max_tokens) but the context length "
                            "is %d; shorten the prompt or lower max_tokens",
                            (long long)total, r->n_prompt, r->max_tokens, e->n_ctx);
    int64_t pool_tokens = (int64_t)e->n_blocks * e->bs;
    int64_t need_blocks = (total + e->bs - 1) / e->bs;
    if (need_blocks > e->n_blocks)
        return pg_error_set(err, PG_ERANGE,
                            "this request needs %lld tokens (%d in the prompt + %d max_tokens) but the KV cache holds "
                            "only %lld tokens; lower max_tokens",
                            (long long)total, r->n_prompt, r->max_tokens, (long long)pool_tokens);
    int rc = pg_sampling_params_check(&r->sampling, e->n_vocab, err);
    if (rc < 0) return rc;
    /* fail fast when busy (checked again when queueing) */
    pthread_mutex_lock(&e->mu);
    int busy = e->q_requests >= e->cfg.max_queued_requests || e->q_tokens + r->n_prompt > e->cfg.max_queued_tokens;
    pthread_mutex_unlock(&e->mu);
    if (busy)
        return pg_error_set(err, PG_EBUSY, "server busy: the waiting queue is full (%d requests / %lld tokens); retry later",
                            e->cfg.max_queued_requests, (long long)e->cfg.max_queued_tokens);

    eng_group *g = calloc(1, sizeof *g);
    if (!g) return pg_error_set(err, PG_ENOMEM, "out of memory");
    g->n = n;
    g->n_prompt = r->n_prompt;
    g->max_tokens = r->max_tokens;
    g->priority = r->priority;
    g->ignore_eos = r->sampling.ignore_eos;
    g->cb = r->cb;
    g->user = r->user;
    g->t_submit = now_s();
    g->deadline = r->timeout_s > 0 ? g->t_submit + r->timeout_s : 0;
    g->seqs = calloc((size_t)n, sizeof *g->seqs);
    if (!g->seqs) goto oom;
    if (r->n_stop_ids) {
        g->stop_ids = malloc((size_t)r->n_stop_ids * sizeof(int32_t));
        if (!g->stop_ids) goto oom;
        memcpy(g->stop_ids, r->stop_ids, (size_t)r->n_stop_ids * sizeof(int32_t));
        g->n_stop_ids = r->n_stop_ids;
    }
    /* Unseeded requests: default_seed mixed with a per-engine counter, so two
     * unseeded requests differ (not reproducible, as intended). */
    uint64_t dseed = e->cfg.default_seed;
    if (!r->sampling.has_seed)
        dseed = mix64(e->cfg.default_seed ^ mix64(__atomic_add_fetch(&e->seed_ctr, 1, __ATOMIC_RELAXED)));
    int32_t cap_tokens = (int32_t)total;
    int32_t cap_blocks = (int32_t)need_blocks;
    for (int32_t i = 0; i < n; i++) {
        eng_seq *s = &g->seqs[i];
        s->g = g;
        s->index = i;
        s->sched_row = -1;
        s->cap_tokens = cap_tokens;
        s->cap_blocks = cap_blocks;
        s->tokens = malloc((size_t)cap_tokens * sizeof(int32_t));
        s->blocks = malloc((size_t)cap_blocks * sizeof(int32_t));
        s->hashes = malloc((size_t)cap_blocks * sizeof(uint64_t));
        s->piece = malloc(TEXT_CAP);
        if (!s->tokens || !s->blocks || !s->hashes || !s->piece) goto oom;
        memcpy(s->tokens, r->prompt, (size_t)r->n_prompt * sizeof(int32_t));
        s->n_tokens = r->n_prompt;
        if ((rc = pg_stop_create(r->stop, r->n_stop, &s->stop, err)) < 0) {
            group_free(g);
            return rc;
        }
        s->text_cap = TEXT_CAP + pg_stop_max_len(s->stop) + 64;
        s->text = malloc(s->text_cap);
        s->dt = pg_detok_create(e->v, r->detok_special);
        if (!s->text || !s->dt) goto oom;
        /* Prime the detokenizer with the last prompt token (output dropped) so
         * the first generated token keeps its leading space, as when the
         * output is decoded in the context of the prompt. */
        pg_detok_push(s->dt, r->prompt[r->n_prompt - 1], s->piece, TEXT_CAP);
        if (i == 0) {
            s->smp = pg_sampler_create(&r->sampling, e->n_vocab, dseed);
            if (!s->smp) goto oom;
            if (r->sampling.ignore_eos && e->n_eog > 0 &&
                (rc = pg_sampler_set_eog_mask(s->smp, e->eog, e->n_eog, err)) < 0) {
                group_free(g);
                return rc;
            }
            if ((rc = pg_sampler_accept_prompt(s->smp, r->prompt, r->n_prompt, err)) < 0) {
                group_free(g);
                return rc;
            }
        } else {
            s->smp = pg_sampler_fork(g->seqs[0].smp, (uint32_t)i);
            if (!s->smp) goto oom;
        }
    }

    pthread_mutex_lock(&e->mu);
    if (e->stop) {
        pthread_mutex_unlock(&e->mu);
        group_free(g);
        return pg_error_set(err, PG_EBUSY, "the engine is shutting down");
    }
    if (e->q_requests >= e->cfg.max_queued_requests) {
        int32_t q = e->q_requests;
        pthread_mutex_unlock(&e->mu);
        group_free(g);
        return pg_error_set(err, PG_EBUSY, "server busy: %d requests are already waiting (limit %d); retry later", q,
                            e->cfg.max_queued_requests);
    }
    if (e->q_tokens + r->n_prompt > e->cfg.max_queued_tokens) {
        int64_t q = e->q_tokens;
        pthread_mutex_unlock(&e->mu);
        group_free(g);
        return pg_error_set(err, PG_EBUSY,
                            "server busy: %lld prompt tokens are already waiting (limit %lld); retry later",
                            (long long)q, (long long)e->cfg.max_queued_tokens);
    }
    g->id = e->next_id++;
    g->salt = mix64(e->salt_key ^ mix64(r->cache_salt));
    g->queued = 1;
    e->q_requests++;
    e->q_tokens += r->n_prompt;
    g->lnext = e->live_head;
    if (e->live_head) e->live_head->lprev = g;
    e->live_head = g;
    if (e->in_tail) e->in_tail->inext = g;
    else e->in_head = g;
    e->in_tail = g;
    e->n_incoming += n;
    uint64_t id = g->id;
    pthread_cond_signal(&e->cv);
    pthread_mutex_unlock(&e->mu);
    return (int64_t)id;
oom:
    group_free(g);
    return pg_error_set(err, PG_ENOMEM, "out of memory for the request");
}

int pg_engine_cancel(pg_engine *e, uint64_t id) {
    if (!e) return PG_EINVAL;
    int rc = PG_ENOTFOUND;
    pthread_mutex_lock(&e->mu);
    for (eng_group *g = e->live_head; g; g = g->lnext) {
        if (g->id != id) continue;
        if (!g->cancel_req) {
            g->cancel_req = 1;
            e->n_cancel_req++;
            pthread_cond_signal(&e->cv);
        }
        rc = PG_OK;
        break;
    }
    pthread_mutex_unlock(&e->mu);
    return rc;
}

void pg_engine_stats_get(pg_engine *e, pg_engine_stats *s) {
    pthread_mutex_lock(&e->mu);
    *s = e->snap;
    s->waiting += e->n_incoming;
    pthread_mutex_unlock(&e->mu);
}

/* ------------------------------------------------------------- step */

static void preempt(pg_engine *e, eng_seq *s, int32_t *budget) {
    if (s->sched_n) {
        *budget += s->sched_n;
        s->sched_n = 0;
    }
    run_remove(e, s);
    release_blocks(e, s);
    s->preemptions++;
    e->st_preempt++;
    wait_insert(e, s);
    PG_DEBUG("engine: preempted request %llu choice %d (%d tokens kept)", (unsigned long long)s->g->id, s->index,
             s->n_tokens);
}

/* Step-time model behind the prefill cap (cfg.prefill_chunk_decoding =
 * -1): dec_s = recent decode-only step time, tok_s = recent cost of one
 * prefill token (steps with at least 32 of them, the decode share taken
 * out). The cap adds about 0.8 x dec_s of prefill to a decode step, so a
 * decoding sequence sees at most ~1.8x its usual inter-token time while
 * prompts still progress. Only the chunking changes, never the results
 * (batch invariance). */
static void note_step_time(pg_engine *e, int32_t n_prefill, int32_t n_dec, double dt) {
    if (n_prefill == 0 && n_dec > 0) {
        e->dec_s = e->dec_s > 0 ? 0.7 * e->dec_s + 0.3 * dt : dt;
    } else if (n_prefill >= 32) {
        double p = (dt - (n_dec > 0 ? e->dec_s : 0)) / n_prefill;
        if (p > 0) e->tok_s = e->tok_s > 0 ? 0.7 * e->tok_s + 0.3 * p : p;
    }
}

static int32_t prefill_cap(const pg_engine *e) {
    const int32_t c = e->cfg.prefill_chunk_decoding, mbt = e->cfg.max_batched_tokens;
    if (c == 0) return mbt;
    if (c > 0) return c < mbt ? c : mbt;
    if (e->dec_s <= 0 || e->tok_s <= 0) return mbt < 64 ? mbt : 64; /* nothing measured yet */
    double k = 0.8 * e->dec_s / e->tok_s;
    int32_t cap = k < 8 ? 8 : k > mbt ? mbt : (int32_t)k;
    return cap;
}

/* Schedule running sequences whose need (tokens to compute) satisfies
 * decode (need == 1) or not. Returns the number of preemptions. */
static int schedule_running(pg_engine *e, int decode, int32_t *budget) {
    int preempted = 0;
    for (int32_t i = 0; i < e->n_running && *budget > 0; i++) {
        eng_seq *s = e->running[i];
        int32_t need = s->n_tokens - s->n_computed;
        PG_ASSERT(need >= 1);
        if ((need == 1) != decode || s->sched_n) continue;
        int32_t k = need < *budget ? need : *budget;
        int self = 0;
        while (ensure_blocks(e, s, s->n_computed + k) < 0) {
            eng_seq *victim = e->running[e->n_running - 1];
            PG_ASSERT(!(victim == s && i == 0)); /* the front sequence alone always fits */
            preempt(e, victim, budget);
            preempted++;
            if (victim == s) {
                self = 1;
                break;
            }
        }
        if (self) break; /* s was the last running sequence */
        s->sched_n = k;
        *budget -= k;
    }
    return preempted;
}

static void admit_waiting(pg_engine *e, int32_t *budget, double t) {
    eng_seq *s = e->wait_head;
    while (s && *budget > 0 && e->n_running < e->cfg.max_seqs) {
        eng_seq *next = s->wnext;
        eng_group *g = s->g;
        if (s->index > 0 && !g->prompt_done) { /* sibling: wait for the leader's prompt */
            s = next;
            continue;
        }
        PG_ASSERT(s->n_blocks == 0 && s->n_computed == 0);
        int32_t k = pg_kvb_match_prefix(e->kvb, s->tokens, s->n_tokens - 1, g->salt, s->blocks, s->hashes,
                                        s->cap_blocks);
        for (int32_t j = 0; j < k; j++) pg_kvb_ref(e->kvb, s->blocks[j]);
        s->n_blocks = k;
        s->n_committed = k;
        s->n_computed = k * e->bs;
        int32_t need = s->n_tokens - s->n_computed;
        int32_t take = need < *budget ? need : *budget;
        if (ensure_blocks(e, s, s->n_computed + take) < 0) {
            release_blocks(e, s);
            break; /* first come first served: do not skip ahead */
        }
        wait_remove(e, s);
        run_insert(e, s);
        s->sched_n = take;
        *budget -= take;
        e->st_pq += (uint64_t)s->n_tokens;
        e->st_ph += (uint64_t)k * (uint64_t)e->bs;
        if (!s->admitted) {
            s->admitted = 1;
            s->t_sched = t;
            s->cached_tokens = k * e->bs;
            e->st_prompt += (uint64_t)g->n_prompt;
            group_dequeue(e, g);
        }
        s = next;
    }
}

/* Sample, detokenize, match stops and deliver events for s after its
 * logits row is ready. */
static void after_sample(pg_engine *e, eng_seq *s, const float *row, double t) {
    eng_group *g = s->g;
    int32_t tok = pg_sampler_sample(s->smp, row, &s->so);
    if (tok < 0) {
        finish_seq(e, s, PG_FINISH_NONE, PG_EINVAL,
                   "every token is excluded by the sampling parameters (logit_bias / ignore_eos)", 0);
        return;
    }
    pg_sampler_accept(s->smp, tok);
    PG_ASSERT(s->n_tokens < s->cap_tokens);
    s->tokens[s->n_tokens++] = tok;
    s->n_gen++;
    e->st_gen++;
    if (s->n_gen == 1) s->t_first = t;
    g->prompt_done = 1;
    int reason = PG_FINISH_NONE, flush = 1;
    if (is_stop_token(e, g, tok)) {
        reason = PG_FINISH_STOP; /* the stop token itself adds no text */
        emit_token(s, "", 0);
    } else {
        int64_t k = pg_detok_push(s->dt, tok, s->piece, TEXT_CAP);
        pg_stop_result r = {0};
        if (k < 0) k = 0;
        if (pg_stop_feed(s->stop, s->piece, (size_t)k, s->text, s->text_cap, &r) < 0) r.n_emit = 0;
        emit_token(s, s->text, r.n_emit);
        if (r.stopped) {
            reason = PG_FINISH_STOP;
            flush = 0;
        }
    }
    if (reason == PG_FINISH_NONE && (s->n_gen >= g->max_tokens || s->n_tokens >= e->n_ctx)) reason = PG_FINISH_LENGTH;
    if (reason != PG_FINISH_NONE) finish_seq(e, s, reason, 0, NULL, flush);
}

static void publish(pg_engine *e) {
    pg_engine_stats st;
    memset(&st, 0, sizeof st);
    st.running = e->n_running;
    st.waiting = e->n_waiting;
    st.kv_blocks_total = e->n_blocks;
    st.kv_blocks_used = pg_kvb_n_active(e->kvb);
    st.kv_blocks_cached = pg_kvb_n_cached(e->kvb);
    st.kv_usage = (double)st.kv_blocks_used / (double)e->n_blocks;
    st.prefix_queries = e->st_pq;
    st.prefix_hits = e->st_ph;
    st.preemptions = e->st_preempt;
    st.steps = e->st_steps;
    st.prompt_tokens = e->st_prompt;
    st.generated_tokens = e->st_gen;
    st.last_batch_tokens = e->last_bt;
    st.last_batch_seqs = e->last_bs;
    st.n_ctx = e->n_ctx;
    st.block_size = e->bs;
    pthread_mutex_lock(&e->mu);
    e->snap = st;
    e->q_requests -= e->dq_req;
    e->q_tokens -= e->dq_tok;
    e->dq_req = 0;
    e->dq_tok = 0;
    pthread_mutex_unlock(&e->mu);
}

/* Apply cancels / deadlines to every live sequence (engine thread).
 * finish_seq removes only its own sequence and frees the group only with
 * its last live sequence, so the saved next pointers stay valid. */
static int dead(const eng_seq *s, double t, int *reason) {
    if (s->g->kill) *reason = PG_FINISH_CANCELLED;
    else if (s->g->deadline > 0 && t >= s->g->deadline) *reason = PG_FINISH_TIMEOUT;
    else return 0;
    return 1;
}

static void reap(pg_engine *e, double t) {
    int reason;
    for (int32_t i = e->n_running - 1; i >= 0; i--)
        if (dead(e->running[i], t, &reason)) finish_seq(e, e->running[i], reason, 0, NULL, 1);
    for (eng_seq *s = e->wait_head, *next; s; s = next) {
        next = s->wnext;
        if (dead(s, t, &reason)) finish_seq(e, s, reason, 0, NULL, 1);
    }
}

/* Moves a list of submitted groups (taken from the incoming list under the
 * mutex) into the waiting queue, in submission order. Engine thread only. */
static void enqueue_incoming(pg_engine *e, eng_group *in) {
    while (in) {
        eng_group *next = in->inext;
        in->inext = NULL;
        in->arrival = e->arrival_next++;
        for (int32_t i = 0; i < in->n; i++) wait_insert(e, &in->seqs[i]);
        in = next;
    }
}

static int step_impl(pg_engine *e) {
    /* 1. intake */
    pthread_mutex_lock(&e->mu);
    eng_group *in = e->in_head;
    e->in_head = e->in_tail = NULL;
    e->n_incoming = 0;
    if (e->n_cancel_req) {
        for (eng_group *g = e->live_head; g; g = g->lnext)
            if (g->cancel_req == 1) {
                g->cancel_req = 2;
                g->kill = 1;
            }
        e->n_cancel_req = 0;
    }
    pthread_mutex_unlock(&e->mu);
    enqueue_incoming(e, in);

    /* 2. cancels and deadlines */
    double t = now_s();
    reap(e, t);

    /* 3. schedule */
    int32_t budget = e->cfg.max_batched_tokens;
    for (int32_t i = 0; i < e->n_running; i++) {
        e->running[i]->sched_n = 0;
        e->running[i]->sched_row = -1;
    }
    int pre = schedule_running(e, 1, &budget);
    /* While sequences decode, prefill chunks are capped so that the step
     * (and so their inter-token latency) stays near a decode-only step;
     * with nothing decoding prefill gets the whole budget. */
    const int32_t n_dec = e->cfg.max_batched_tokens - budget;
    if (n_dec > 0) {
        const int32_t cap = prefill_cap(e);
        if (budget > cap) budget = cap;
    }
    pre += schedule_running(e, 0, &budget);
    if (!pre) admit_waiting(e, &budget, t);

    /* 4. batch */
    int32_t nt = 0, ns = 0, no = 0;
    for (int32_t i = 0; i < e->n_running; i++) {
        eng_seq *s = e->running[i];
        if (!s->sched_n) continue;
        e->sched[ns] = s;
        e->b_seqs[ns].block_table = s->blocks;
        e->b_seqs[ns].n_blocks = s->n_blocks;
        for (int32_t j = 0; j < s->sched_n; j++) {
            e->b_tok[nt] = s->tokens[s->n_computed + j];
            e->b_pos[nt] = s->n_computed + j;
            e->b_seq[nt] = ns;
            nt++;
        }
        if (s->n_computed + s->sched_n == s->n_tokens) {
            s->sched_row = no;
            e->b_out[no++] = nt - 1;
        }
        ns++;
    }
    PG_ASSERT(nt <= e->cfg.max_batched_tokens);
    e->last_bt = nt;
    e->last_bs = ns;
    if (nt > 0) {
        pg_batch b = {nt, e->b_tok, e->b_pos, e->b_seq, ns, e->b_seqs, no, e->b_out};
        pg_error ferr = {0};
        const double t1 = now_s();
        int rc = pg_forward_run(e->fwd, e->kv, &b, e->logits, &ferr);
        e->st_steps++;
        double t2 = now_s();
        if (rc >= 0) note_step_time(e, nt - n_dec, n_dec, t2 - t1);
        if (rc < 0) {
            PG_ERROR("engine: forward pass failed: %s", ferr.msg);
            for (int32_t i = 0; i < ns; i++) finish_seq(e, e->sched[i], PG_FINISH_NONE, rc, ferr.msg, 0);
        } else {
            /* 5. outputs. A callback may not free anything of another sequence
             * (cancels are only flags), so sched[] stays valid. */
            for (int32_t i = 0; i < ns; i++) {
                eng_seq *s = e->sched[i];
                s->n_computed += s->sched_n;
                s->sched_n = 0;
                commit_full(e, s);
                drop_window_blocks(e, s);
            }
            for (int32_t i = 0; i < ns; i++) {
                eng_seq *s = e->sched[i];
                if (s->sched_row < 0) continue;
                int32_t row = s->sched_row;
                s->sched_row = -1;
                after_sample(e, s, e->logits + (size_t)row * (size_t)e->n_vocab, t2);
            }
        }
    }
    publish(e);
    if (e->cfg.check_steps) {
        char msg[512];
        if (pg_engine_check(e, msg, sizeof msg) < 0) PG_PANIC("engine invariant broken: %s", msg);
    }
    pthread_mutex_lock(&e->mu);
    int live = e->n_running + e->n_waiting + e->n_incoming + (e->n_cancel_req ? 1 : 0);
    pthread_mutex_unlock(&e->mu);
    return live;
}

int pg_engine_step(pg_engine *e) {
    PG_ASSERT(e->cfg.manual);
    return step_impl(e);
}

/* Ends everything in flight with CANCELLED (destroy). */
static void cancel_all(pg_engine *e) {
    pthread_mutex_lock(&e->mu);
    eng_group *in = e->in_head;
    e->in_head = e->in_tail = NULL;
    e->n_incoming = 0;
    for (eng_group *g = e->live_head; g; g = g->lnext) {
        g->cancel_req = 2;
        g->kill = 1;
    }
    e->n_cancel_req = 0;
    pthread_mutex_unlock(&e->mu);
    enqueue_incoming(e, in);
    reap(e, now_s());
    PG_ASSERT(e->n_running == 0 && e->n_waiting == 0);
}

/* CLOCK_REALTIME deadlines of the burst gather (pthread_cond_timedwait). */
static struct timespec ts_add(struct timespec t, long ns) {
    long v = t.tv_nsec + ns;
    t.tv_sec += v / 1000000000L;
    t.tv_nsec = v % 1000000000L;
    return t;
}

static int ts_before(struct timespec a, struct timespec b) {
    return a.tv_sec < b.tv_sec || (a.tv_sec == b.tv_sec && a.tv_nsec < b.tv_nsec);
}

static void *engine_thread_main(void *arg) {
    pg_engine *e = arg;
    pthread_mutex_lock(&e->mu);
    for (;;) {
        while (!e->stop && !e->in_head && !e->n_cancel_req && e->n_running + e->n_waiting == 0)
            pthread_cond_wait(&e->cv, &e->mu);
        if (e->stop) break;
        if (e->n_running == 0 && e->cfg.batch_wait_us > 0) {
            /* Starting from nothing running (idle, or the last streams
             * just ended): requests sent together (a client's parallel
             * calls, a benchmark's wave, clients that send their next
             * request as the previous one ends) land within a few ms;
             * gathering them makes one prefill step, instead of the first
             * ones prefilling while a straggler waits the whole step and
             * then gets prefill chunks capped behind their decode. The
             * wait ends once batch_wait_us pass with no new arrival (a
             * burst spread wider than one window is still gathered), and
             * at most 4 x batch_wait_us after it began. Once per start. */
            const long w = (long)e->cfg.batch_wait_us * 1000L;
            struct timespec t0, dl, cap;
            clock_gettime(CLOCK_REALTIME, &t0);
            dl = ts_add(t0, w);
            cap = ts_add(t0, 4 * w);
            uint64_t seen = e->next_id;
            while (!e->stop) {
                int rc = pthread_cond_timedwait(&e->cv, &e->mu, &dl);
                if (e->next_id != seen) { /* an arrival: the window restarts */
                    struct timespec t;
                    seen = e->next_id;
                    clock_gettime(CLOCK_REALTIME, &t);
                    dl = ts_add(t, w);
                    if (ts_before(cap, dl)) dl = cap;
                } else if (rc == ETIMEDOUT) {
                    break;
                }
            }
            if (e->stop) break;
        }
        pthread_mutex_unlock(&e->mu);
        step_impl(e);
        pthread_mutex_lock(&e->mu);
    }
    pthread_mutex_unlock(&e->mu);
    cancel_all(e);
    publish(e);
    return NULL;
}

void pg_engine_destroy(pg_engine *e) {
    if (!e) return;
    if (e->has_thread) {
        pthread_mutex_lock(&e->mu);
        e->stop = 1;
        pthread_cond_signal(&e->cv);
        pthread_mutex_unlock(&e->mu);
        pthread_join(e->th, NULL);
    } else if (e->kvb) {
        pthread_mutex_lock(&e->mu);
        e->stop = 1;
        pthread_mutex_unlock(&e->mu);
        cancel_all(e);
    }
    pg_forward_destroy(e->fwd);
    pg_kvb_destroy(e->kvb);
    pg_kv_store_destroy(e->kv);
    pg_pool_destroy(e->pool);
    free(e->logits);
    free(e->b_tok);
    free(e->b_pos);
    free(e->b_seq);
    free(e->b_out);
    free(e->b_seqs);
    free(e->sched);
    free(e->running);
    pthread_mutex_destroy(&e->mu);
    pthread_cond_destroy(&e->cv);
    free(e);
}

/* ------------------------------------------------------------- checks */

int pg_engine_kv_idle(pg_engine *e) { return pg_kvb_n_active(e->kvb) == 0; }

#define CHECK_FAIL(...)                                                                                                \
    do {                                                                                                               \
        snprintf(msg, cap, __VA_ARGS__);                                                                               \
        free(refs);                                                                                                    \
        return -1;                                                                                                     \
    } while (0)

static int check_seq(const pg_engine *e, const eng_seq *s, int32_t *refs, char *msg, size_t cap) {
    (void)msg;
    (void)cap;
    if (s->n_tokens < s->g->n_prompt || s->n_tokens > s->cap_tokens) return -1;
    if (s->n_gen != s->n_tokens - s->g->n_prompt) return -2;
    if (s->n_computed < 0 || s->n_computed > s->n_tokens - 1) return -3;
    if (s->n_blocks < 0 || s->n_blocks > s->cap_blocks) return -4;
    if (s->n_committed > s->n_blocks || s->n_committed > s->n_computed / e->bs + 0) return -5;
    if (s->sched_n != 0) return -6;
    if (s->n_dropped < 0 || s->n_dropped > s->n_committed) return -9;
    for (int32_t i = 0; i < s->n_blocks; i++) {
        int32_t id = s->blocks[i];
        if (i < s->n_dropped) {
            if (id != -1) return -10;
            continue;
        }
        if (id < 0 || id >= e->n_blocks) return -7;
        for (int32_t j = 0; j < i; j++)
            if (s->blocks[j] == id) return -8;
        refs[id]++;
    }
    return 0;
}

int pg_engine_check(pg_engine *e, char *msg, size_t cap) {
    int32_t *refs = calloc((size_t)e->n_blocks, sizeof(int32_t));
    if (!refs) {
        snprintf(msg, cap, "out of memory");
        return -1;
    }
    if (pg_kvb_check(e->kvb, msg, cap) < 0) {
        free(refs);
        return -1;
    }
    if (e->n_running < 0 || e->n_running > e->cfg.max_seqs) CHECK_FAIL("running count %d", e->n_running);
    for (int32_t i = 0; i < e->n_running; i++) {
        const eng_seq *s = e->running[i];
        if (s->state != SEQ_RUNNING) CHECK_FAIL("running[%d] in state %d", i, s->state);
        if (i > 0 && !seq_before(e->running[i - 1], s)) CHECK_FAIL("running list out of order at %d", i);
        int r = check_seq(e, s, refs, msg, cap);
        if (r < 0) CHECK_FAIL("running request %llu choice %d: check %d failed", (unsigned long long)s->g->id, s->index, r);
        int32_t want = (s->n_computed + e->bs - 1) / e->bs;
        if (s->n_blocks != want)
            CHECK_FAIL("running request %llu: %d blocks for %d computed positions", (unsigned long long)s->g->id,
                       s->n_blocks, s->n_computed);
    }
    int32_t nw = 0;
    for (const eng_seq *s = e->wait_head; s; s = s->wnext) {
        if (s->state != SEQ_WAITING) CHECK_FAIL("waiting sequence in state %d", s->state);
        if (s->wnext && !seq_before(s, s->wnext)) CHECK_FAIL("waiting list out of order");
        if (s->wnext && s->wnext->wprev != s) CHECK_FAIL("waiting list links broken");
        if (s->n_blocks || s->n_computed) CHECK_FAIL("waiting sequence holds %d blocks", s->n_blocks);
        int r = check_seq(e, s, refs, msg, cap);
        if (r < 0) CHECK_FAIL("waiting request %llu choice %d: check %d failed", (unsigned long long)s->g->id, s->index, r);
        nw++;
    }
    if (nw != e->n_waiting) CHECK_FAIL("waiting count %d but %d listed", e->n_waiting, nw);
    int32_t active = 0;
    for (int32_t id = 0; id < e->n_blocks; id++) {
        int st = pg_kvb_state(e->kvb, id);
        int32_t rc = pg_kvb_refcount(e->kvb, id);
        if (rc != refs[id]) CHECK_FAIL("block %d: refcount %d but %d table references", id, rc, refs[id]);
        if ((refs[id] > 0) != (st == PG_KVB_ACTIVE)) CHECK_FAIL("block %d: state %d with %d references", id, st, refs[id]);
        active += refs[id] > 0;
    }
    if (active != pg_kvb_n_active(e->kvb)) CHECK_FAIL("active blocks %d vs %d", active, pg_kvb_n_active(e->kvb));
    free(refs);
    return 0;
}
