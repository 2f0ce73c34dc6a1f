/* request.c - the request core (see request.h for the contract).
 *
 * Engine callback (engine thread, on_event): under the request's mutex it
 * appends the event to the queue (srv_event + its text bytes + its top
 * alternatives, three arrays allocated at submit and reused after each
 * consume), observes the latency histograms, counts finish reasons, charges
 * generated tokens to the caller's key and wakes the consumer (every event
 * when streaming, else once every submission is over). The final event of
 * a submission drops the submission's reference after unlocking. */
#include "server/request.h"

#include "base/log.h"
#include "server/util.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EVQ_INIT_EVENTS 64   /* events preallocated per request */
#define EVQ_INIT_TEXT 4096   /* text bytes preallocated per request */
#define CANCEL_BATCH 64      /* engine ids collected per lock hold */

typedef struct sub { /* one engine submission (one prompt) */
    srv_req *req;
    int64_t engine_id; /* > 0 once accepted */
    int32_t first_choice;
    int finished;      /* final event seen: no more callbacks */
    int paused;        /* pg_engine_pause'd (backpressure) */
    int32_t n_prompt;
    pg_engine_usage usage; /* of the first finished choice; cached_tokens = max */
    int has_usage;
    int32_t completion_tokens; /* from the engine's usage of finished choices */
    double compute_s;          /* summed over its finished choices */
    double t_submit;           /* srv_now() at submit */
    double t_first;            /* srv_now() of its first token event (0: none yet) */
} sub;

struct srv_req {
    const srv_core *core;
    pthread_mutex_t mu;
    int refs;          /* under mu */
    pg_arena *arena;   /* spec + adapter state (consumer thread only) */
    srv_gen gen;
    int authed;
    uint64_t key_id;
    int proto;         /* SRV_PROTO_*: which series of the metrics it counts in */
    void (*wake)(void *);
    void *wake_arg;
    int detached;
    void (*on_free)(void *); /* the adapter's cleanup (srv_req_on_free) */
    void *on_free_arg;

    sub *subs;         /* n_subs accepted submissions (arena) */
    int32_t n_subs;
    int32_t n_choices;
    double *last_tok_t; /* per choice: time of its last token (ITL), arena */
    int32_t *tok_seen;  /* per choice: token events so far (under mu), arena */
    uint8_t *choice_done; /* per choice: its end event arrived (under mu), arena */

    /* under mu */
    int32_t n_finished;
    int64_t n_tokens;  /* TOKEN events so far (GET /v1/stats) */
    int error_code;
    char error_msg[512];
    int first_finish;
    srv_event *ev;
    size_t n_ev, cap_ev;
    char *text;
    size_t text_len, text_cap;
    int32_t *top_id;
    float *top_lp;
    size_t n_top, cap_top;
    size_t unsent;     /* estimated formatted bytes of the pending events */
    size_t max_unsent; /* 0: no bound */
    int paused;
};

srv_req *srv_req_create(const srv_core *core) {
    srv_req *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    r->arena = pg_arena_create(1 << 14);
    if (!r->arena) {
        free(r);
        return NULL;
    }
    r->core = core;
    r->refs = 1;
    pthread_mutex_init(&r->mu, NULL);
    return r;
}

static void req_free(srv_req *r) {
    if (r->on_free) r->on_free(r->on_free_arg);
    pg_gram_ref_drop(r->gen.base.grammar); /* the request's reference (the engine held its own) */
    free(r->ev);
    free(r->text);
    free(r->top_id);
    free(r->top_lp);
    pg_arena_destroy(r->arena);
    pthread_mutex_destroy(&r->mu);
    free(r);
}

void srv_req_ref(srv_req *r) {
    pthread_mutex_lock(&r->mu);
    r->refs++;
    pthread_mutex_unlock(&r->mu);
}

void srv_req_unref(srv_req *r) {
    pthread_mutex_lock(&r->mu);
    int zero = --r->refs == 0;
    pthread_mutex_unlock(&r->mu);
    if (zero) req_free(r);
}

pg_arena *srv_req_arena(srv_req *r) { return r->arena; }
void srv_req_on_free(srv_req *r, void (*fn)(void *), void *arg) {
    r->on_free = fn;
    r->on_free_arg = arg;
}
srv_gen *srv_req_gen(srv_req *r) { return &r->gen; }

void srv_req_set_protocol(srv_req *r, int proto) {
    r->proto = proto >= 0 && proto < SRV_PROTO_COUNT ? proto : SRV_PROTO_OPENAI;
}

void srv_req_set_caller(srv_req *r, uint64_t key_id) {
    r->authed = 1;
    r->key_id = key_id;
}

void srv_req_set_wake(srv_req *r, void (*wake)(void *), void *arg) {
    pthread_mutex_lock(&r->mu);
    r->wake = wake;
    r->wake_arg = arg;
    pthread_mutex_unlock(&r->mu);
}

void srv_req_lock(srv_req *r) { pthread_mutex_lock(&r->mu); }
void srv_req_unlock(srv_req *r) { pthread_mutex_unlock(&r->mu); }

/* ---------- the event queue (engine thread, under mu) ---------- */

static int grow(void **p, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return 0;
    size_t nc = *cap ? *cap : 64;
    while (nc < need) nc *= 2;
    void *q = realloc(*p, nc * elem);
    if (!q) return -1;
    *p = q;
    *cap = nc;
    return 0;
}

static int evq_push(srv_req *r, int32_t choice, int32_t token, const char *text, size_t tl, const pg_sample_out *so,
                    int finish) {
    if (tl > UINT32_MAX - r->text_len) return -1;
    if (grow((void **)&r->ev, &r->cap_ev, r->n_ev + 1, sizeof *r->ev) < 0) return -1;
    if (tl && grow((void **)&r->text, &r->text_cap, r->text_len + tl, 1) < 0) return -1;
    int32_t nt = (so && r->gen.keep_top) ? so->n_top : 0;
    if (nt < 0) nt = 0;
    if (nt > PG_SAMPLER_MAX_LOGPROBS) nt = PG_SAMPLER_MAX_LOGPROBS;
    if (nt) {
        size_t c1 = r->cap_top, c2 = r->cap_top;
        if (grow((void **)&r->top_id, &c1, r->n_top + (size_t)nt, sizeof *r->top_id) < 0) return -1;
        if (grow((void **)&r->top_lp, &c2, r->n_top + (size_t)nt, sizeof *r->top_lp) < 0) return -1;
        r->cap_top = c1 < c2 ? c1 : c2;
    }
    srv_event *x = &r->ev[r->n_ev++];
    x->choice = choice;
    x->token = token;
    x->text_off = (uint32_t)r->text_len;
    x->text_len = (uint32_t)tl;
    if (tl) memcpy(r->text + r->text_len, text, tl);
    r->text_len += tl;
    x->logprob = so ? so->logprob : 0.0f;
    x->top_off = (uint32_t)r->n_top;
    x->n_top = nt;
    for (int32_t i = 0; i < nt; i++) {
        r->top_id[r->n_top + (size_t)i] = so->top_id[i];
        r->top_lp[r->n_top + (size_t)i] = so->top_logprob[i];
    }
    r->n_top += (size_t)nt;
    x->finish = finish;
    /* what the adapter will write for it: a frame head, the text escaped
     * (up to 6x), a logprob entry per alternative */
    r->unsent += 256 + 6 * tl + 96 * (size_t)nt;
    return 0;
}

/* Under mu: every running submission paused (1) or resumed (0). */
static void pause_all(srv_req *r, int on) {
    const srv_engine_ops *o = &r->core->eng;
    if (!o->pause) return;
    r->paused = on;
    for (int32_t i = 0; i < r->n_subs; i++) {
        sub *s = &r->subs[i];
        if (s->engine_id <= 0 || s->finished || s->paused == on) continue;
        s->paused = on;
        o->pause(o->ctx, s->engine_id, on);
    }
}

static void set_error(srv_req *r, int code, const char *msg) {
    if (r->error_code) return;
    r->error_code = code;
    snprintf(r->error_msg, sizeof r->error_msg, "%s", msg);
}

static void observe(srv_req *r, srv_hist *h, double v) {
    if (r->core->metrics) srv_hist_observe(h, v);
}

/* A choice's end: its tail text, usage, finish counters. Returns the
 * tokens to charge. */
static int64_t on_done(srv_req *r, sub *sb, int32_t choice, const pg_engine_event *ev) {
    srv_pmetrics *mt = r->core->metrics ? &r->core->metrics->p[r->proto] : NULL;
    int fin = ev->finish_reason ? ev->finish_reason : PG_FINISH_STOP;
    const pg_engine_usage *u = ev->usage;
    int produced = u ? u->completion_tokens > 0 : 1;
    if (fin == PG_FINISH_TIMEOUT && !produced) {
        /* deadline before any token: an error (504), not an empty answer */
        char m[300];
        snprintf(m, sizeof m,
                 "the request timed out after %.3g s before producing any token (queue + prefill); "
                 "retry later or raise 'timeout'",
                 u ? u->total_s : r->gen.base.timeout_s);
        set_error(r, SRV_ETIMEOUT, m);
    } else if (evq_push(r, choice, -1, ev->text, ev->text ? ev->text_len : 0, NULL, fin) < 0) {
        set_error(r, PG_ENOMEM, "out of memory");
    }
    if (!r->first_finish) r->first_finish = fin;
    int64_t charge = 0;
    if (u) { /* per choice: completion tokens add up, the prompt is shared */
        sb->completion_tokens += u->completion_tokens;
        sb->compute_s += u->compute_s;
        if (!sb->has_usage) {
            sb->usage = *u;
            sb->has_usage = 1;
        }
        if (u->cached_tokens > sb->usage.cached_tokens) sb->usage.cached_tokens = u->cached_tokens;
        if (mt) {
            srv_hist_observe(&mt->h[H_E2E], u->total_s);
            if (u->completion_tokens > 0) {
                srv_hist_observe(&mt->h[H_TTFT], u->ttft_s);
                srv_hist_observe(&mt->h[H_QUEUE], u->queue_s);
                srv_hist_observe(&mt->h[H_PREFILL], u->prefill_s);
                srv_hist_observe(&mt->h[H_DECODE], u->decode_s);
            }
        }
        charge = u->completion_tokens;
    }
    if (mt) {
        int k = fin == PG_FINISH_LENGTH      ? FIN_LENGTH
                : fin == PG_FINISH_CANCELLED ? FIN_ABORT
                : fin == PG_FINISH_TIMEOUT   ? FIN_TIMEOUT
                                             : FIN_STOP;
        atomic_fetch_add(&mt->finished[k], 1);
    }
    return charge;
}

static void on_event(const pg_engine_event *ev, void *user) {
    sub *sb = user;
    srv_req *r = sb->req;
    int64_t charge = 0;
    pthread_mutex_lock(&r->mu);
    int final = 0;
    int32_t idx = ev->index;
    if (idx < 0 || idx >= r->gen.base.n) idx = 0;
    int32_t choice = sb->first_choice + idx;
    if (ev->type == PG_EV_TOKEN) {
        double t = srv_now();
        if (r->last_tok_t[choice] > 0 && r->core->metrics)
            observe(r, &r->core->metrics->p[r->proto].h[H_ITL], t - r->last_tok_t[choice]);
        r->last_tok_t[choice] = t;
        r->tok_seen[choice]++;
        if (sb->t_first == 0) sb->t_first = t;
        r->n_tokens++;
        if (evq_push(r, choice, ev->token, ev->text, ev->text ? ev->text_len : 0, ev->sample, 0) < 0 && !r->error_code) {
            set_error(r, PG_ENOMEM, "out of memory");
            r->core->eng.cancel(r->core->eng.ctx, sb->engine_id); /* allowed from the callback */
        }
        if (!sb->engine_id) sb->engine_id = (int64_t)ev->request_id; /* an event before submit returned */
        if (r->max_unsent && r->unsent > r->max_unsent && !r->detached) pause_all(r, 1); /* the client is behind */
    } else if (ev->type == PG_EV_DONE) {
        charge = on_done(r, sb, choice, ev);
        r->choice_done[choice] = 1;
        final = ev->last;
    } else {
        set_error(r, ev->error_code ? ev->error_code : PG_EINVAL, ev->error_msg ? ev->error_msg : "generation failed");
        if (r->core->metrics) atomic_fetch_add(&r->core->metrics->p[r->proto].finished[FIN_ERROR], 1);
        final = ev->last;
    }
    if (final && !sb->finished) {
        sb->finished = 1;
        r->n_finished++;
    } else if (final) {
        final = 0; /* defensive: never drop the reference twice */
    }
    /* charge before the client can see the answer (lock order: req->mu,
     * then the key set's) so its next request meets the updated bucket */
    if (r->authed && charge > 0 && r->core->keys) srv_keys_charge(r->core->keys, r->key_id, charge);
    if (r->wake && (r->gen.stream || r->n_finished == r->n_subs)) r->wake(r->wake_arg);
    pthread_mutex_unlock(&r->mu);
    if (final) srv_req_unref(r);
}

/* ---------- submit / cancel (consumer thread) ---------- */

static int prepare(srv_req *r, pg_error *err) {
    const srv_gen *g = &r->gen;
    int32_t n = g->base.n > 0 ? g->base.n : 1;
    r->gen.base.n = n;
    if (g->n_prompts <= 0 || g->n_prompts > INT32_MAX / n) return pg_error_set(err, PG_EINVAL, "no prompt to submit");
    r->n_choices = g->n_prompts * n;
    r->subs = pg_arena_calloc(r->arena, (size_t)g->n_prompts, sizeof *r->subs);
    r->last_tok_t = pg_arena_calloc(r->arena, (size_t)r->n_choices, sizeof *r->last_tok_t);
    r->tok_seen = pg_arena_calloc(r->arena, (size_t)r->n_choices, sizeof *r->tok_seen);
    r->choice_done = pg_arena_calloc(r->arena, (size_t)r->n_choices, 1);
    r->cap_ev = EVQ_INIT_EVENTS;
    r->text_cap = EVQ_INIT_TEXT;
    r->cap_top = g->keep_top ? EVQ_INIT_EVENTS * PG_SAMPLER_MAX_LOGPROBS : 0;
    r->ev = malloc(r->cap_ev * sizeof *r->ev);
    r->text = malloc(r->text_cap);
    if (r->cap_top) {
        r->top_id = malloc(r->cap_top * sizeof *r->top_id);
        r->top_lp = malloc(r->cap_top * sizeof *r->top_lp);
    }
    if (!r->subs || !r->last_tok_t || !r->tok_seen || !r->choice_done || !r->ev || !r->text || (r->cap_top && (!r->top_id || !r->top_lp)))
        return pg_error_set(err, PG_ENOMEM, "out of memory");
    for (int32_t i = 0; i < g->n_prompts; i++) {
        r->subs[i].req = r;
        r->subs[i].first_choice = i * n;
        r->subs[i].n_prompt = g->prompts[i].n;
    }
    /* all counted before the first submit, so that "every submission is
     * over" cannot hold while later ones are still to be submitted */
    pthread_mutex_lock(&r->mu);
    r->n_subs = g->n_prompts;
    pthread_mutex_unlock(&r->mu);
    return 0;
}

int srv_req_submit(srv_req *r, pg_error *err) {
    int rc = prepare(r, err);
    if (rc < 0) return rc;
    const srv_core *c = r->core;
    for (int32_t i = 0; i < r->gen.n_prompts; i++) {
        const srv_prompt *p = &r->gen.prompts[i];
        sub *sb = &r->subs[i];
        pg_request q = r->gen.base;
        q.prompt = p->ids;
        q.n_prompt = p->n;
        q.max_tokens = p->max_tokens;
        q.cb = on_event;
        q.user = sb;
        pthread_mutex_lock(&r->mu);
        r->refs++;
        sb->t_submit = srv_now();
        pthread_mutex_unlock(&r->mu);
        int64_t id = c->eng.submit(c->eng.ctx, &q, err);
        if (id <= 0) {
            pthread_mutex_lock(&r->mu);
            r->refs--;
            r->n_subs = i; /* only the earlier ones can still call back */
            pthread_mutex_unlock(&r->mu);
            /* earlier submissions: cancel; their final events drop their
             * references */
            srv_req_cancel(r);
            return id < 0 ? (int)id : pg_error_set(err, PG_EINVAL, "the engine refused the request");
        }
        pthread_mutex_lock(&r->mu);
        sb->engine_id = id;
        pthread_mutex_unlock(&r->mu);
        if (r->authed && c->keys) srv_keys_charge(c->keys, r->key_id, p->n);
    }
    return 0;
}

void srv_req_set_max_unsent(srv_req *r, size_t bytes) {
    pthread_mutex_lock(&r->mu);
    r->max_unsent = bytes;
    pthread_mutex_unlock(&r->mu);
}

int srv_req_resume(srv_req *r) {
    int was = r->paused;
    if (was) pause_all(r, 0);
    return was;
}

size_t srv_req_unsent(const srv_req *r) { return r->unsent; }
int srv_req_paused(const srv_req *r) { return r->paused; }

void srv_req_cancel(srv_req *r) {
    int64_t ids[CANCEL_BATCH];
    int32_t from = 0;
    for (;;) {
        int nid = 0;
        pthread_mutex_lock(&r->mu);
        for (; from < r->n_subs && nid < CANCEL_BATCH; from++)
            if (r->subs[from].engine_id > 0 && !r->subs[from].finished) ids[nid++] = r->subs[from].engine_id;
        int more = from < r->n_subs;
        pthread_mutex_unlock(&r->mu);
        for (int i = 0; i < nid; i++) r->core->eng.cancel(r->core->eng.ctx, ids[i]);
        if (!more) break;
    }
}

int srv_req_detach(srv_req *r) {
    pthread_mutex_lock(&r->mu);
    r->wake = NULL;
    r->wake_arg = NULL;
    r->detached = 1;
    int running = srv_req_running(r);
    pthread_mutex_unlock(&r->mu);
    if (running) srv_req_cancel(r);
    return running;
}

/* ---------- the consumer's view (under mu) ---------- */

int srv_req_done(const srv_req *r) { return r->n_finished == r->n_subs; }

int srv_req_running(const srv_req *r) {
    int n = 0;
    for (int32_t i = 0; i < r->n_subs; i++) n += r->subs[i].engine_id > 0 && !r->subs[i].finished;
    return n;
}

void srv_req_events(const srv_req *r, srv_events *v) {
    v->ev = r->ev;
    v->n = r->n_ev;
    v->text = r->text;
    v->top_id = r->top_id;
    v->top_lp = r->top_lp;
}

void srv_req_consume(srv_req *r) {
    r->unsent = 0;
    r->n_ev = 0;
    r->text_len = 0;
    r->n_top = 0;
}

int srv_req_error(const srv_req *r, const char **msg) {
    if (msg) *msg = r->error_msg;
    return r->error_code;
}

void srv_req_usage(const srv_req *r, srv_usage *u) {
    memset(u, 0, sizeof *u);
    for (int32_t i = 0; i < r->n_subs; i++) {
        u->prompt_tokens += r->subs[i].n_prompt;
        u->completion_tokens += r->subs[i].completion_tokens;
        u->cached_tokens += r->subs[i].usage.cached_tokens;
        u->compute_s += r->subs[i].compute_s;
        /* choices still running (a client that left is logged before
         * their cancelled end events arrive): the tokens produced so far */
        for (int32_t k = 0; k < r->gen.base.n; k++) {
            int32_t c = r->subs[i].first_choice + k;
            if (c < r->n_choices && !r->choice_done[c]) u->completion_tokens += r->tok_seen[c];
        }
    }
    if (r->n_subs > 0 && r->subs[0].has_usage) {
        u->has_first = 1;
        u->has_ttft = 1;
        u->queue_s = r->subs[0].usage.queue_s;
        u->ttft_s = r->subs[0].usage.ttft_s;
        u->prefill_s = r->subs[0].usage.prefill_s;
        u->decode_s = r->subs[0].usage.decode_s;
    } else if (r->n_subs > 0 && r->subs[0].t_first > 0) {
        u->has_ttft = 1; /* measured here: submit to the first token event */
        u->ttft_s = r->subs[0].t_first - r->subs[0].t_submit;
    }
    if (r->n_subs > 0) u->t_submit = r->subs[0].t_submit;
    u->first_finish = r->first_finish;
    u->generated_tokens = r->n_tokens;
    u->n_prompts = r->n_subs;
    u->n_finished = r->n_finished;
}

int srv_req_check(const srv_req *r, char *msg, size_t cap) {
#define BAD(...)                              \
    do {                                      \
        snprintf(msg, cap, __VA_ARGS__);      \
        return -1;                            \
    } while (0)
    if (r->refs < 1) BAD("refs %d < 1", r->refs);
    int running = 0, finished = 0;
    for (int32_t i = 0; i < r->n_subs; i++) {
        running += r->subs[i].engine_id > 0 && !r->subs[i].finished;
        finished += r->subs[i].finished;
    }
    if (finished != r->n_finished) BAD("n_finished %d but %d submissions finished", r->n_finished, finished);
    /* one reference per submission that can still call back, besides the owner's */
    if (r->refs < 1 + running) BAD("refs %d < 1 + %d running submissions", r->refs, running);
    if (r->n_ev > r->cap_ev || r->text_len > r->text_cap || r->n_top > r->cap_top) BAD("event queue over its capacity");
    for (size_t i = 0; i < r->n_ev; i++) {
        const srv_event *e = &r->ev[i];
        if (e->choice < 0 || e->choice >= r->n_choices) BAD("event %zu: choice %d out of range", i, e->choice);
        if ((size_t)e->text_off + e->text_len > r->text_len) BAD("event %zu: text out of range", i);
        if ((size_t)e->top_off + (size_t)e->n_top > r->n_top) BAD("event %zu: top alternatives out of range", i);
        if ((e->token < 0) != (e->finish != 0)) BAD("event %zu: end marker and finish reason disagree", i);
    }
    if (r->detached && r->wake) BAD("a detached request still has a wake-up");
    return 0;
#undef BAD
}
