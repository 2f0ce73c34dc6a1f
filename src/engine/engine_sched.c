/* engine_sched.c - one engine step (engine thread): take new requests and
 * cancels, end dead sequences, schedule, build the batch, run the forward
 * pass, hand the logits rows to the sequences (engine_seq.c).
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
 * batched, at any chunk size, with or without cache hits or preemption. */
#include "engine/engine_impl.h"

#include "base/log.h"

#include <stdlib.h>
#include <string.h>

/* (priority, arrival, index) order: a before b */
int eng_seq_before(const eng_seq *a, const eng_seq *b) {
    if (a->g->priority != b->g->priority) return a->g->priority < b->g->priority;
    if (a->g->arrival != b->g->arrival) return a->g->arrival < b->g->arrival;
    return a->index < b->index;
}

/* ------------------------------------------------------- lists (engine) */

static void wait_insert(pg_engine *e, eng_seq *s) {
    eng_seq *p = e->wait_tail;
    while (p && eng_seq_before(s, p)) p = p->wprev;
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

void eng_wait_remove(pg_engine *e, eng_seq *s) {
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
    while (i > 0 && eng_seq_before(s, e->running[i - 1])) {
        e->running[i] = e->running[i - 1];
        i--;
    }
    e->running[i] = s;
    e->n_running++;
    s->state = SEQ_RUNNING;
}

void eng_run_remove(pg_engine *e, eng_seq *s) {
    int32_t i = 0;
    while (i < e->n_running && e->running[i] != s) i++;
    PG_ASSERT(i < e->n_running);
    memmove(e->running + i, e->running + i + 1, (size_t)(e->n_running - i - 1) * sizeof *e->running);
    e->n_running--;
}

/* Paused sequences (pg_engine_pause): an unordered list on the wait links. */
static void pause_insert(pg_engine *e, eng_seq *s) {
    s->wprev = NULL;
    s->wnext = e->pause_head;
    if (e->pause_head) e->pause_head->wprev = s;
    e->pause_head = s;
    s->state = SEQ_PAUSED;
    e->n_paused++;
}

void eng_pause_remove(pg_engine *e, eng_seq *s) {
    if (s->wprev) s->wprev->wnext = s->wnext;
    else e->pause_head = s->wnext;
    if (s->wnext) s->wnext->wprev = s->wprev;
    s->wprev = s->wnext = NULL;
    e->n_paused--;
}

/* ------------------------------------------------------------- blocks */

void eng_release_blocks(pg_engine *e, eng_seq *s) {
    for (int32_t i = s->n_blocks - 1; i >= s->n_dropped; i--) pg_kvb_unref(e->kvb, s->blocks[i]);
    s->n_blocks = 0;
    s->n_dropped = 0;
    s->n_committed = 0;
    s->n_computed = 0;
    s->no_commit = 0;
    s->d_computed = 0;
}

/* Blocks past ceil(n_computed / bs) go back to the pool: after a verify
 * that rejected drafts, the blocks taken for them (never committed: commit
 * covers full blocks of n_computed only). */
void eng_trim_blocks(pg_engine *e, eng_seq *s) {
    int32_t want = (s->n_computed + e->bs - 1) / e->bs;
    while (s->n_blocks > want && s->n_blocks > s->n_committed) pg_kvb_unref(e->kvb, s->blocks[--s->n_blocks]);
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
void eng_drop_window_blocks(pg_engine *e, eng_seq *s) {
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
void eng_commit_full(pg_engine *e, eng_seq *s) {
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

/* ------------------------------------------------------------- step */

/* Applies pause/resume requests (engine thread, under mu: the live list).
 * Pause: running and waiting sequences of the group move to the paused
 * list, running ones keeping their blocks (sched_n is 0 between steps).
 * Resume: back to RUNNING with their blocks while a slot is free, else
 * (or without blocks) to WAITING at their (priority, arrival) place. */
static int apply_pauses(pg_engine *e) {
    int pending = 0; /* groups still in the incoming list: the next step */
    for (eng_group *g = e->live_head; g; g = g->lnext) {
        if (g->pause_req == g->paused) continue;
        if (!g->arrival_set) {
            pending++;
            continue;
        }
        g->paused = g->pause_req;
        for (int32_t i = 0; i < g->n; i++) {
            eng_seq *s = &g->seqs[i];
            if (g->paused) {
                if (s->state == SEQ_RUNNING) eng_run_remove(e, s);
                else if (s->state == SEQ_WAITING) eng_wait_remove(e, s);
                else continue;
                pause_insert(e, s);
            } else if (s->state == SEQ_PAUSED) {
                eng_pause_remove(e, s);
                if (s->n_blocks > 0 && e->n_running < e->cfg.max_seqs) {
                    run_insert(e, s);
                } else {
                    eng_release_blocks(e, s);
                    wait_insert(e, s);
                }
            }
        }
    }
    return pending;
}

/* Memory pressure: a paused sequence's blocks are freed (it recomputes
 * once resumed, as after preemption). 1 if some were freed. */
static int reclaim_paused(pg_engine *e) {
    for (eng_seq *s = e->pause_head; s; s = s->wnext) {
        if (s->n_blocks == 0) continue;
        eng_release_blocks(e, s);
        s->preemptions++;
        e->st_preempt++;
        return 1;
    }
    return 0;
}

static void preempt(pg_engine *e, eng_seq *s, int32_t *budget) {
    if (s->sched_n) {
        *budget += s->sched_n;
        s->sched_n = 0;
    }
    s->n_draft = 0;
    eng_run_remove(e, s);
    eng_release_blocks(e, s);
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
        int32_t nd = 0; /* speculative drafts verified in the same pass */
        if (decode && e->spec_share > 0 && s->draft && *budget > 1)
            nd = eng_spec_plan(e, s, e->spec_share < *budget - 1 ? e->spec_share : *budget - 1);
        k += nd;
        int self = 0;
        while (ensure_blocks(e, s, s->n_computed + k) < 0) {
            if (reclaim_paused(e)) continue;
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
        s->n_draft = nd;
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
        if (e->pcd) k = eng_disk_extend(e, s, k);
        s->n_blocks = k;
        s->n_committed = k;
        s->n_computed = k * e->bs;
        int32_t need = s->n_tokens - s->n_computed;
        int32_t take = need < *budget ? need : *budget;
        if (ensure_blocks(e, s, s->n_computed + take) < 0) {
            eng_release_blocks(e, s);
            if (reclaim_paused(e)) continue; /* retry s */
            break; /* first come first served: do not skip ahead */
        }
        eng_wait_remove(e, s);
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
            eng_group_dequeue(e, g);
        }
        s = next;
    }
}

void eng_publish(pg_engine *e) {
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
    st.constrained_tokens = e->st_cgen;
    st.gram_s = e->st_gram_s;
    st.step_s = e->st_step_s;
    st.last_batch_tokens = e->last_bt;
    st.last_batch_seqs = e->last_bs;
    st.n_ctx = e->n_ctx;
    st.block_size = e->bs;
    st.kv_type = e->cfg.kv_type;
    st.paused = e->n_paused;
    st.spec_drafted = e->st_sdraft;
    st.spec_accepted = e->st_sacc;
    st.spec_verifies = e->st_sver;
    memcpy(st.spec_hist, e->st_shist, sizeof st.spec_hist);
    eng_disk_stats(e, &st);
    pthread_mutex_lock(&e->mu);
    e->snap = st;
    e->q_requests -= e->dq_req;
    e->q_tokens -= e->dq_tok;
    e->dq_req = 0;
    e->dq_tok = 0;
    pthread_mutex_unlock(&e->mu);
}

/* Apply cancels / deadlines to every live sequence (engine thread).
 * eng_finish_seq removes only its own sequence and frees the group only with
 * its last live sequence, so the saved next pointers stay valid. */
static int dead(const eng_seq *s, double t, int *reason) {
    if (s->g->kill) *reason = PG_FINISH_CANCELLED;
    else if (s->g->deadline > 0 && t >= s->g->deadline) *reason = PG_FINISH_TIMEOUT;
    else return 0;
    return 1;
}

void eng_reap(pg_engine *e, double t) {
    int reason;
    for (int32_t i = e->n_running - 1; i >= 0; i--)
        if (dead(e->running[i], t, &reason)) eng_finish_seq(e, e->running[i], reason, 0, NULL, 1);
    for (eng_seq *s = e->wait_head, *next; s; s = next) {
        next = s->wnext;
        if (dead(s, t, &reason)) eng_finish_seq(e, s, reason, 0, NULL, 1);
    }
    for (eng_seq *s = e->pause_head, *next; s; s = next) {
        next = s->wnext;
        if (dead(s, t, &reason)) eng_finish_seq(e, s, reason, 0, NULL, 1);
    }
}

/* Moves a list of submitted groups (taken from the incoming list under the
 * mutex) into the waiting queue, in submission order. Engine thread only. */
void eng_enqueue_incoming(pg_engine *e, eng_group *in) {
    while (in) {
        eng_group *next = in->inext;
        in->inext = NULL;
        in->arrival = e->arrival_next++;
        in->arrival_set = 1;
        for (int32_t i = 0; i < in->n; i++) wait_insert(e, &in->seqs[i]);
        in = next;
    }
}

int eng_step(pg_engine *e) {
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
    eng_enqueue_incoming(e, in);
    pthread_mutex_lock(&e->mu);
    if (e->n_pause_req) e->n_pause_req = apply_pauses(e);
    pthread_mutex_unlock(&e->mu);

    /* 2. cancels and deadlines */
    double t = eng_now();
    eng_reap(e, t);

    /* 3. schedule */
    int32_t budget = e->cfg.max_batched_tokens;
    for (int32_t i = 0; i < e->n_running; i++) {
        e->running[i]->sched_n = 0;
        e->running[i]->sched_row = -1;
        e->running[i]->n_draft = 0;
    }
    eng_spec_plan_step(e); /* drafting allowed this step? (back-off under load) */
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
    if (e->dfwd) eng_spec_run_draft(e); /* draft-model drafts of the scheduled sequences */

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
        if (s->n_computed + s->sched_n == s->n_tokens + s->n_draft) {
            s->sched_row = no; /* rows sched_row .. sched_row + n_draft: the last 1 + n_draft positions */
            for (int32_t j = s->n_draft; j >= 0; j--) e->b_out[no++] = nt - 1 - j;
        }
        ns++;
    }
    PG_ASSERT(nt <= e->cfg.max_batched_tokens);
    e->last_bt = nt;
    e->last_bs = ns;
    if (nt > 0) {
        pg_batch b = {nt, e->b_tok, e->b_pos, e->b_seq, ns, e->b_seqs, no, e->b_out};
        pg_error ferr = {0};
        const double t1 = eng_now();
        int rc = pg_forward_run(e->fwd, e->kv, &b, e->logits, &ferr);
        e->st_steps++;
        double t2 = eng_now();
        if (rc >= 0) note_step_time(e, nt - n_dec, n_dec, t2 - t1);
        if (rc < 0) {
            PG_ERROR("engine: forward pass failed: %s", ferr.msg);
            for (int32_t i = 0; i < ns; i++) eng_finish_seq(e, e->sched[i], PG_FINISH_NONE, rc, ferr.msg, 0);
        } else {
            /* 5. outputs. A callback may not free anything of another sequence
             * (cancels are only flags), so sched[] stays valid. */
            const double step_s = t2 - t1;
            for (int32_t i = 0; i < ns; i++) {
                eng_seq *s = e->sched[i];
                s->compute_s += step_s * (double)s->sched_n / (double)nt; /* the step's time by tokens */
                if (s->n_draft > 0) continue; /* eng_spec_verify sets n_computed from what it accepts */
                s->n_computed += s->sched_n;
                s->sched_n = 0;
                eng_trim_blocks(e, s); /* draft-model drafts withdrawn: their blocks */
                eng_commit_full(e, s);
                eng_drop_window_blocks(e, s);
            }
            eng_gram_masks(e, ns); /* constrained sequences' masks, in parallel on the pool */
            for (int32_t i = 0; i < ns; i++) {
                eng_seq *s = e->sched[i];
                if (s->sched_row < 0) continue;
                int32_t row = s->sched_row;
                s->sched_row = -1;
                const float *lr = e->logits + (size_t)row * (size_t)e->n_vocab;
                if (s->n_draft > 0) eng_spec_verify(e, s, lr, t2);
                else eng_after_sample(e, s, lr, t2);
            }
        }
        e->st_step_s += eng_now() - t1;
    }
    eng_publish(e);
    if (e->cfg.check_steps) {
        char msg[512];
        if (pg_engine_check(e, msg, sizeof msg) < 0) PG_PANIC("engine invariant broken: %s", msg);
    }
    pthread_mutex_lock(&e->mu);
    int live = e->n_running + e->n_waiting + e->n_paused + e->n_incoming + (e->n_cancel_req || e->n_pause_req ? 1 : 0);
    pthread_mutex_unlock(&e->mu);
    return live;
}