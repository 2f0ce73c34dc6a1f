/* engine_seq.c - per-sequence output (engine thread): sample a logits row,
 * detokenize, match stop ids and strings, deliver the events, finish a
 * sequence (final text, usage, blocks released) and retire its request
 * after its last choice. Every buffer used here was allocated at submit;
 * only the finish path may grow the text buffer. */
#include "engine/engine_impl.h"

#include <stdlib.h>
#include <string.h>

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
    free(s->draft);
    eng_gram_seq_free(s);
}

void eng_group_free(eng_group *g) {
    if (!g) return;
    if (g->seqs)
        for (int32_t i = 0; i < g->n; i++) seq_free(&g->seqs[i]);
    free(g->seqs);
    free(g->stop_ids);
    free(g->ban);
    for (int32_t i = 0; i < g->n_trig; i++) free(g->trig[i]);
    free(g->trig);
    free(g->trig_len);
    pg_gram_ref_drop(g->gram); /* after the matchers that borrow it */
    free(g);
}

/* Release the queue-limit share of g (engine thread; applied under mu later). */
void eng_group_dequeue(pg_engine *e, eng_group *g) {
    if (!g->queued) return;
    g->queued = 0;
    e->dq_req++;
    e->dq_tok += g->n_prompt;
}

static void group_retire(pg_engine *e, eng_group *g) {
    eng_group_dequeue(e, g);
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
    eng_group_free(g);
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

/* The text held by the detokenizer and the stop matcher, into s->text;
 * *tl = its length. PG_ENOMEM when a buffer cannot grow. */
static int flush_text(eng_seq *s, size_t *tl) {
    const size_t ml = pg_stop_max_len(s->stop);
    for (;;) {
        int64_t k = pg_detok_flush(s->dt, s->piece, TEXT_CAP);
        if (k < 0) return PG_ENOMEM;
        if (k == 0) break;
        eng_gram_strip(s, s->piece, &k);
        if (text_reserve(s, *tl, (size_t)k + ml) < 0) return PG_ENOMEM;
        pg_stop_result r;
        int rc = pg_stop_feed(s->stop, s->piece, (size_t)k, s->text + *tl, s->text_cap - *tl, &r);
        PG_ASSERT(rc == PG_OK); /* text_reserve left k + max_len bytes */
        *tl += r.n_emit;
    }
    if (text_reserve(s, *tl, ml + 1) < 0) return PG_ENOMEM;
    *tl += pg_stop_flush(s->stop, s->text + *tl, s->text_cap - *tl);
    return PG_OK;
}

/* Ends sequence s: final text, usage, the final event, blocks freed, list
 * membership dropped; retires the group after its last sequence.
 * flush: deliver held text (not after a stop string). A flush that runs
 * out of memory turns the end into an error event (no text is lost
 * silently). */
void eng_finish_seq(pg_engine *e, eng_seq *s, int reason, int err_code, const char *err_msg, int flush) {
    eng_group *g = s->g;
    double t = eng_now();
    size_t tl = 0;
    if (flush && err_code == 0 && flush_text(s, &tl) < 0) {
        err_code = PG_ENOMEM;
        err_msg = "out of memory while finishing the output text";
    }
    pg_engine_usage u = {0};
    u.prompt_tokens = g->n_prompt;
    u.completion_tokens = s->n_gen;
    u.cached_tokens = s->cached_tokens;
    u.preemptions = s->preemptions;
    u.compute_s = s->compute_s;
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

    eng_spec_finish(e, s);
    if (s->state == SEQ_WAITING) eng_wait_remove(e, s);
    else if (s->state == SEQ_RUNNING) eng_run_remove(e, s);
    else if (s->state == SEQ_PAUSED) eng_pause_remove(e, s);
    eng_release_blocks(e, s);
    s->state = SEQ_FINISHED;
    s->sched_n = 0;
    s->sched_row = -1;
    s->n_draft = 0;
    s->spec_j = -1;
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

/* Sample, detokenize, match stops and deliver events for s after its
 * logits row is ready. Returns 1 when s finished (then s and its group
 * may already be freed), else 0. */
int eng_after_sample(pg_engine *e, eng_seq *s, const float *row, double t) {
    eng_group *g = s->g;
    /* min_tokens: end-of-generation and stop ids banned until reached */
    pg_sampler_set_banned(s->smp, g->ban, s->n_gen < g->min_tokens ? g->n_ban : 0);
    int32_t tok = pg_sampler_sample(s->smp, row, &s->so);
    if (tok < 0) {
        eng_finish_seq(e, s, PG_FINISH_NONE, PG_EINVAL,
                       s->gm ? "every token the grammar allows here is excluded by the sampling parameters "
                               "(logit_bias / ignore_eos)"
                             : "every token is excluded by the sampling parameters (logit_bias / ignore_eos)",
                       0);
        return 1;
    }
    pg_sampler_accept(s->smp, tok);
    PG_ASSERT(s->n_tokens < s->cap_tokens);
    s->tokens[s->n_tokens++] = tok;
    if (s->spec_j >= 0 && tok == s->draft[s->spec_j]) { /* a verified draft (engine_spec.c) */
        s->spec_accepted++;
        e->st_sacc++;
    }
    s->n_gen++;
    e->st_gen++;
    if (s->n_gen == 1) s->t_first = t;
    g->prompt_done = 1;
    int reason = PG_FINISH_NONE, flush = 1, gdone = 0;
    if (g->gram) {
        const char *gmsg = NULL;
        const double tg = eng_now();
        gdone = eng_gram_accept(e, s, tok, &gmsg);
        e->st_gram_s += eng_now() - tg;
        if (gdone < 0) {
            eng_finish_seq(e, s, PG_FINISH_NONE, gdone, gmsg, 0);
            return 1;
        }
    }
    if (is_stop_token(e, g, tok)) {
        reason = PG_FINISH_STOP; /* the stop token itself adds no text */
        emit_token(s, "", 0);
    } else {
        int64_t k = pg_detok_push(s->dt, tok, s->piece, TEXT_CAP);
        if (k < 0) {
            eng_finish_seq(e, s, PG_FINISH_NONE, PG_ENOMEM, "out of memory while detokenizing", 0);
            return 1;
        }
        eng_gram_strip(s, s->piece, &k);
        pg_stop_result r = {0};
        if (s->n_gen < g->min_tokens) {
            /* before min_tokens stop strings are not looked for (vLLM's rule);
             * the matcher first sees the text of token min_tokens */
            memcpy(s->text, s->piece, (size_t)k);
            r.n_emit = (size_t)k;
        } else {
            /* text_cap = TEXT_CAP + max_len + 64 (set at submit): a piece of
             * at most TEXT_CAP bytes always fits, so a failure is a bug */
            int rc = pg_stop_feed(s->stop, s->piece, (size_t)k, s->text, s->text_cap, &r);
            PG_ASSERT(rc == PG_OK);
        }
        size_t sl = 0;
        const char *ss = r.stopped && g->include_stop_str ? pg_stop_string(s->stop, r.stop_index, &sl) : NULL;
        if (ss) { /* the stop string ends the text (finish path: may grow the buffer) */
            if (text_reserve(s, r.n_emit, sl) < 0) {
                eng_finish_seq(e, s, PG_FINISH_NONE, PG_ENOMEM, "out of memory", 0);
                return 1;
            }
            memcpy(s->text + r.n_emit, ss, sl);
            r.n_emit += sl;
        }
        emit_token(s, s->text, r.n_emit);
        if (r.stopped) {
            reason = PG_FINISH_STOP;
            flush = 0;
        }
    }
    if (reason == PG_FINISH_NONE && gdone) reason = PG_FINISH_STOP; /* the grammar is complete */
    if (reason == PG_FINISH_NONE && (s->n_gen >= g->max_tokens || s->n_tokens >= e->n_ctx)) reason = PG_FINISH_LENGTH;
    if (reason == PG_FINISH_NONE) return 0;
    eng_finish_seq(e, s, reason, 0, NULL, flush);
    return 1;
}