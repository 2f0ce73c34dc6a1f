/* engine.c - the engine's public API (engine.h): configuration and
 * create/destroy, submit in three parts (validate the request, build its
 * sequences, enqueue under the mutex), cancel, stats, and the engine thread
 * that runs the steps of engine_sched.c. Objects and lifecycle:
 * engine_impl.h. */
#include "engine/engine_impl.h"

#include "base/hash.h"
#include "base/log.h"
#include "base/pool.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

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
    c->default_seed = pg_mix64((uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec) ^ (uint64_t)getpid();
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
    if (!pg_kv_type_name(c.kv_type))
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
    e->mask_words = ((size_t)hp->n_vocab + 31) / 32;
    e->n_ctx = n_ctx;
    e->bs = c.block_size;
    e->kv_window = pg_model_kv_window(m);
    e->n_blocks = (int32_t)nb;
    e->next_id = 1;
    pthread_mutex_init(&e->mu, NULL);
    pthread_cond_init(&e->cv, NULL);
    pthread_mutex_init(&e->tv_mu, NULL);
    if (getrandom(&e->salt_key, sizeof e->salt_key, 0) != (ssize_t)sizeof e->salt_key)
        e->salt_key = pg_mix64(c.default_seed ^ (uint64_t)(uintptr_t)e);
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
    if ((rc = eng_spec_create(e, err)) < 0) goto fail; /* sets n_rows */
    if (c.prefix_cache_dir && (rc = eng_disk_open(e, err)) < 0) goto fail;
    if ((rc = pg_forward_create(m, e->pool, c.max_batched_tokens, e->n_rows, n_ctx, &e->fwd, err)) < 0) goto fail;
    size_t T = (size_t)c.max_batched_tokens, S = (size_t)c.max_seqs, R = (size_t)e->n_rows;
    e->logits = malloc(R * (size_t)e->n_vocab * sizeof(float));
    e->b_tok = malloc(T * sizeof(int32_t));
    e->b_pos = malloc(T * sizeof(int32_t));
    e->b_seq = malloc(T * sizeof(int32_t));
    e->b_out = malloc(R * sizeof(int32_t));
    e->b_seqs = malloc(S * sizeof(pg_batch_seq));
    e->sched = malloc(S * sizeof(eng_seq *));
    e->gsched = malloc(S * sizeof(eng_seq *));
    e->running = malloc(S * sizeof(eng_seq *));
    if (!e->logits || !e->b_tok || !e->b_pos || !e->b_seq || !e->b_out || !e->b_seqs || !e->sched || !e->gsched || !e->running) {
        rc = pg_error_set(err, PG_ENOMEM, "engine: out of memory for the step buffers");
        goto fail;
    }

    {
        uint64_t tokens = (uint64_t)e->n_blocks * (uint64_t)e->bs;
        PG_INFO("engine: KV cache %d blocks x %d tokens = %llu tokens (%.1f MiB, %s, %zu bytes/token)", e->n_blocks,
                e->bs, (unsigned long long)tokens, (double)(tokens * bpt) / (1024.0 * 1024.0),
                pg_kv_type_name(c.kv_type), bpt);
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
    e->snap.kv_type = c.kv_type;

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

/* Validate: every check that needs no allocation (bad input -> 4xx-style
 * errors, a full queue -> PG_EBUSY early). *total = prompt + max_tokens
 * (a sequence's token capacity). */
static int submit_validate(pg_engine *e, const pg_request *r, int64_t *total, pg_error *err) {
    if (!e || !r) return pg_error_set(err, PG_EINVAL, "no request");
    if (!r->prompt || r->n_prompt < 1) return pg_error_set(err, PG_EINVAL, "the prompt is empty");
    if (r->max_tokens < 1) return pg_error_set(err, PG_EINVAL, "max_tokens must be at least 1 (got %d)", r->max_tokens);
    int32_t n = r->n == 0 ? 1 : r->n;
    if (n < 1 || n > PG_ENGINE_MAX_CHOICES)
        return pg_error_set(err, PG_EINVAL, "n must be between 1 and %d (got %d)", PG_ENGINE_MAX_CHOICES, r->n);
    if (r->n_stop < 0 || (r->n_stop > 0 && !r->stop))
        return pg_error_set(err, PG_EINVAL, "bad stop list");
    if (r->n_stop_ids < 0 || r->n_stop_ids > PG_ENGINE_MAX_STOP_IDS || (r->n_stop_ids > 0 && !r->stop_ids))
        return pg_error_set(err, PG_EINVAL, "bad stop token list (at most %d ids)", PG_ENGINE_MAX_STOP_IDS);
    if (r->min_tokens < 0 || r->min_tokens > r->max_tokens)
        return pg_error_set(err, PG_EINVAL, "min_tokens must be between 0 and max_tokens (%d), got %d", r->max_tokens,
                            r->min_tokens);
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
    *total = (int64_t)r->n_prompt + (int64_t)r->max_tokens;
    if (*total > e->n_ctx)
        return pg_error_set(err, PG_ERANGE,
                            "this request needs %lld tokens (%d in the prompt + %d max_tokens) but the context length "
                            "is %d; shorten the prompt or lower max_tokens",
                            (long long)*total, r->n_prompt, r->max_tokens, e->n_ctx);
    int64_t pool_tokens = (int64_t)e->n_blocks * e->bs;
    if ((*total + e->bs - 1) / e->bs > e->n_blocks)
        return pg_error_set(err, PG_ERANGE,
                            "this request needs %lld tokens (%d in the prompt + %d max_tokens) but the KV cache holds "
                            "only %lld tokens; lower max_tokens",
                            (long long)*total, r->n_prompt, r->max_tokens, (long long)pool_tokens);
    int rc = pg_sampling_params_check(&r->sampling, e->n_vocab, err);
    if (rc < 0) return rc;
    if ((rc = eng_gram_validate(r, err)) < 0) return rc;
    /* fail fast when busy (checked again when queueing) */
    pthread_mutex_lock(&e->mu);
    int busy = e->q_requests >= e->cfg.max_queued_requests || e->q_tokens + r->n_prompt > e->cfg.max_queued_tokens;
    pthread_mutex_unlock(&e->mu);
    if (busy)
        return pg_error_set(err, PG_EBUSY, "server busy: the waiting queue is full (%d requests / %lld tokens); retry later",
                            e->cfg.max_queued_requests, (long long)e->cfg.max_queued_tokens);
    return PG_OK;
}

/* Sequence i of g: its buffers (sized for the whole life), stop matcher,
 * detokenizer primed with the last prompt token, sampler (choice 0 from the
 * request, the others forked from it). On error the caller frees g. */
static int seq_build(pg_engine *e, const pg_request *r, eng_group *g, int32_t i, uint64_t dseed, pg_error *err) {
    eng_seq *s = &g->seqs[i];
    s->g = g;
    s->index = i;
    s->sched_row = -1;
    s->spec_j = -1;
    s->cap_tokens = (int32_t)((int64_t)r->n_prompt + r->max_tokens);
    s->cap_blocks = (s->cap_tokens + e->bs - 1) / e->bs;
    s->tokens = malloc((size_t)s->cap_tokens * sizeof(int32_t));
    s->blocks = malloc((size_t)s->cap_blocks * sizeof(int32_t));
    s->hashes = malloc((size_t)s->cap_blocks * sizeof(uint64_t));
    s->piece = malloc(TEXT_CAP);
    if (!s->tokens || !s->blocks || !s->hashes || !s->piece) return PG_ENOMEM;
    memcpy(s->tokens, r->prompt, (size_t)r->n_prompt * sizeof(int32_t));
    s->n_tokens = r->n_prompt;
    int rc = pg_stop_create(r->stop, r->n_stop, &s->stop, err);
    if (rc < 0) return rc;
    s->text_cap = TEXT_CAP + pg_stop_max_len(s->stop) + 64;
    s->text = malloc(s->text_cap);
    s->dt = pg_detok_create(e->v, r->detok_special);
    if (!s->text || !s->dt) return PG_ENOMEM;
    /* Prime the detokenizer with the last prompt token (output dropped) so
     * the first generated token keeps its leading space, as when the
     * output is decoded in the context of the prompt. */
    if (pg_detok_push(s->dt, r->prompt[r->n_prompt - 1], s->piece, TEXT_CAP) < 0) return PG_ENOMEM;
    if (i > 0) {
        s->smp = pg_sampler_fork(g->seqs[0].smp, (uint32_t)i);
        return s->smp ? PG_OK : PG_ENOMEM;
    }
    s->smp = pg_sampler_create(&r->sampling, e->n_vocab, dseed);
    if (!s->smp) return PG_ENOMEM;
    if (r->sampling.ignore_eos && e->n_eog > 0 && (rc = pg_sampler_set_eog_mask(s->smp, e->eog, e->n_eog, err)) < 0)
        return rc;
    return pg_sampler_accept_prompt(s->smp, r->prompt, r->n_prompt, err);
}

/* Build: the request group and its n sequences, outside the lock. */
static int submit_build(pg_engine *e, const pg_request *r, eng_group **out, pg_error *err) {
    const int32_t n = r->n == 0 ? 1 : r->n;
    eng_group *g = calloc(1, sizeof *g);
    if (!g) return pg_error_set(err, PG_ENOMEM, "out of memory");
    g->n = n;
    g->n_prompt = r->n_prompt;
    g->max_tokens = r->max_tokens;
    g->priority = r->priority;
    g->ignore_eos = r->sampling.ignore_eos;
    g->cb = r->cb;
    g->user = r->user;
    g->t_submit = eng_now();
    g->deadline = r->timeout_s > 0 ? g->t_submit + r->timeout_s : 0;
    g->salt = pg_mix64(e->salt_key ^ pg_mix64(r->cache_salt));
    int rc = PG_ENOMEM;
    g->seqs = calloc((size_t)n, sizeof *g->seqs);
    if (!g->seqs) goto fail;
    if (r->n_stop_ids) {
        g->stop_ids = malloc((size_t)r->n_stop_ids * sizeof(int32_t));
        if (!g->stop_ids) goto fail;
        memcpy(g->stop_ids, r->stop_ids, (size_t)r->n_stop_ids * sizeof(int32_t));
        g->n_stop_ids = r->n_stop_ids;
    }
    g->include_stop_str = r->include_stop_str;
    g->min_tokens = r->min_tokens;
    g->no_spec = r->no_spec;
    if (r->min_tokens > 0) {
        int32_t ne = r->sampling.ignore_eos ? 0 : e->n_eog;
        g->ban = malloc(((size_t)ne + (size_t)r->n_stop_ids + 1) * sizeof(int32_t));
        if (!g->ban) goto fail;
        for (int32_t i = 0; i < ne; i++) g->ban[g->n_ban++] = e->eog[i];
        for (int32_t i = 0; i < r->n_stop_ids; i++) g->ban[g->n_ban++] = r->stop_ids[i];
    }
    /* Unseeded requests: default_seed mixed with a per-engine counter, so two
     * unseeded requests differ (not reproducible, as intended). */
    uint64_t dseed = e->cfg.default_seed;
    if (!r->sampling.has_seed)
        dseed = pg_mix64(e->cfg.default_seed ^ pg_mix64(__atomic_add_fetch(&e->seed_ctr, 1, __ATOMIC_RELAXED)));
    if ((rc = eng_gram_group(e, r, g, err)) < 0) goto fail;
    for (int32_t i = 0; i < n; i++) {
        if ((rc = seq_build(e, r, g, i, dseed, err)) < 0) goto fail;
        if ((rc = eng_gram_seq(e, &g->seqs[i])) < 0) goto fail;
        if ((rc = eng_spec_seq(e, &g->seqs[i])) < 0) goto fail;
    }
    *out = g;
    return PG_OK;
fail:
    eng_group_free(g);
    if (rc == PG_ENOMEM) return pg_error_set(err, PG_ENOMEM, "out of memory for the request");
    return rc;
}

/* Enqueue: the final busy checks and the hand-over to the engine thread,
 * under the mutex. Frees g when refused. Returns the request id. */
static int64_t submit_enqueue(pg_engine *e, eng_group *g, pg_error *err) {
    pthread_mutex_lock(&e->mu);
    int rc = PG_OK;
    if (e->stop) {
        rc = pg_error_set(err, PG_EBUSY, "the engine is shutting down");
    } else if (e->q_requests >= e->cfg.max_queued_requests) {
        rc = pg_error_set(err, PG_EBUSY, "server busy: %d requests are already waiting (limit %d); retry later",
                          e->q_requests, e->cfg.max_queued_requests);
    } else if (e->q_tokens + g->n_prompt > e->cfg.max_queued_tokens) {
        rc = pg_error_set(err, PG_EBUSY,
                          "server busy: %lld prompt tokens are already waiting (limit %lld); retry later",
                          (long long)e->q_tokens, (long long)e->cfg.max_queued_tokens);
    }
    if (rc < 0) {
        pthread_mutex_unlock(&e->mu);
        eng_group_free(g);
        return rc;
    }
    g->id = e->next_id++;
    g->queued = 1;
    e->q_requests++;
    e->q_tokens += g->n_prompt;
    g->lnext = e->live_head;
    if (e->live_head) e->live_head->lprev = g;
    e->live_head = g;
    if (e->in_tail) e->in_tail->inext = g;
    else e->in_head = g;
    e->in_tail = g;
    e->n_incoming += g->n;
    uint64_t id = g->id;
    pthread_cond_signal(&e->cv);
    pthread_mutex_unlock(&e->mu);
    return (int64_t)id;
}

int64_t pg_engine_submit(pg_engine *e, const pg_request *r, pg_error *err) {
    int64_t total = 0;
    int rc = submit_validate(e, r, &total, err);
    if (rc < 0) return rc;
    eng_group *g = NULL;
    if ((rc = submit_build(e, r, &g, err)) < 0) return rc;
    return submit_enqueue(e, g, err);
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

int pg_engine_pause(pg_engine *e, uint64_t id, int paused) {
    if (!e) return PG_EINVAL;
    int rc = PG_ENOTFOUND;
    pthread_mutex_lock(&e->mu);
    for (eng_group *g = e->live_head; g; g = g->lnext) {
        if (g->id != id) continue;
        if (g->pause_req != !!paused) {
            g->pause_req = !!paused;
            e->n_pause_req++;
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

int pg_engine_step(pg_engine *e) {
    PG_ASSERT(e->cfg.manual);
    return eng_step(e);
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
    eng_enqueue_incoming(e, in);
    eng_reap(e, eng_now());
    PG_ASSERT(e->n_running == 0 && e->n_waiting == 0 && e->n_paused == 0);
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
        while (!e->stop && !e->in_head && !e->n_cancel_req && !e->n_pause_req && e->n_running + e->n_waiting == 0) {
            if (!e->n_paused) {
                pthread_cond_wait(&e->cv, &e->mu);
                continue;
            }
            /* only paused sequences: wake every 250 ms to apply their
             * deadlines (nothing else would run a step) */
            struct timespec now;
            clock_gettime(CLOCK_REALTIME, &now);
            struct timespec dl = ts_add(now, 250L * 1000000L);
            if (pthread_cond_timedwait(&e->cv, &e->mu, &dl) == ETIMEDOUT) {
                pthread_mutex_unlock(&e->mu);
                eng_reap(e, eng_now());
                eng_publish(e);
                pthread_mutex_lock(&e->mu);
            }
        }
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
        eng_step(e);
        pthread_mutex_lock(&e->mu);
    }
    pthread_mutex_unlock(&e->mu);
    cancel_all(e);
    eng_publish(e);
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
    eng_disk_close(e); /* every cached block to disk, before the KV goes */
    pg_forward_destroy(e->fwd);
    eng_spec_free(e);
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
    free(e->gsched);
    free(e->running);
    eng_gram_free(e);
    pthread_mutex_destroy(&e->tv_mu);
    pthread_mutex_destroy(&e->mu);
    pthread_cond_destroy(&e->cv);
    free(e);
}

/* ------------------------------------------------------------- checks */

int pg_engine_kv_idle(pg_engine *e) { return pg_kvb_n_active(e->kvb) == 0; }
