/* request.h - the request core: one srv_req per generation request, under
 * every protocol. It owns the engine submissions of the request (one per
 * prompt), the per-request event queue that the engine callback fills, the
 * usage and error of the request, and its references. It never touches a
 * connection: a consumer (http.c) installs a wake-up callback and reads the
 * queue; an adapter (openai_*.c) fills the generation spec before submit
 * and turns the queue into bytes after. The engine is reached only through
 * srv_engine_ops, so a test can drive the core with a scripted fake.
 *
 * Lifecycle of a request (state is derived, see srv_req_check):
 *
 *   srv_req_create -> BUILDING --srv_req_submit ok--> RUNNING --every
 *   submission's final event--> DONE          (submit error: nothing runs)
 *   any state --srv_req_detach--> the consumer is gone: no wake-ups; what
 *   runs is cancelled (its CANCELLED events still arrive and are counted).
 *
 * References: the owner gets one from srv_req_create; each accepted
 * submission holds one until its final event (last == 1), so the engine
 * never calls back into freed memory after the client left. srv_req_ref
 * lets a third party (the disconnect watcher) keep it alive briefly.
 *
 * Threads and locks: the engine thread writes under the request's mutex;
 * the consumer reads under srv_req_lock. wake(arg) runs with that mutex
 * held (a consumer that checks "nothing new" and goes to sleep under the
 * same mutex cannot miss it); it must not call the core. Engine calls
 * (submit, cancel) are made without the mutex: the engine may be inside our
 * callback, waiting for it. Lock order: the consumer's own locks (the
 * connection registry) before the request's mutex, then the key set's.
 *
 * Backpressure (issue 29): a streaming request may carry a bound on its
 * unsent output (srv_req_set_max_unsent). The queue keeps an estimate of
 * the bytes its pending events will take once formatted; past the bound
 * the engine callback pauses every submission (pg_engine_pause: out of the
 * batch, KV kept), so a client that stops reading holds at most about that
 * much. The consumer calls srv_req_resume once it has handed everything it
 * took to the socket layer; consume resets the estimate.
 *
 * Events: stored in arrays preallocated at submit and reused: a consumer
 * that streams takes the pending events and calls srv_req_consume, which
 * empties the queue without freeing; so from the engine to the socket
 * nothing is allocated per token once the arrays fit the backlog (they
 * double when a slow reader lets it grow). A non-streaming consumer leaves
 * the events in place and reads them all once the request is done. */
#ifndef PG_SERVER_REQUEST_H
#define PG_SERVER_REQUEST_H

#include "base/arena.h"
#include "base/error.h"
#include "engine/engine.h"
#include "server/auth.h"
#include "server/metrics.h"

#include <stddef.h>
#include <stdint.h>

typedef struct srv_engine_ops {
    int64_t (*submit)(void *ctx, const pg_request *q, pg_error *err); /* id > 0 or PG_E* */
    void (*cancel)(void *ctx, int64_t id);                             /* no-op for unknown ids */
    void *ctx;
    /* pg_engine_pause (paused 1) / resume (0); no-op for unknown ids; may
     * be NULL (no backpressure). Called from the engine callback too. */
    void (*pause)(void *ctx, int64_t id, int paused);
} srv_engine_ops;

/* What every request shares; outlives them all. */
typedef struct srv_core {
    srv_engine_ops eng;
    srv_metrics *metrics; /* NULL: nothing observed */
    srv_keyset *keys;     /* NULL: tokens are not charged */
} srv_core;

typedef struct srv_prompt {
    const int32_t *ids; /* in the request's arena */
    int32_t n;
    int32_t max_tokens; /* >= 1, n + max_tokens within the context (the adapter checked) */
} srv_prompt;

/* The generation spec an adapter fills before srv_req_submit. */
typedef struct srv_gen {
    pg_request base;     /* sampling, n, stop, stop_ids, priority, cache_salt, timeout_s;
                            prompt, max_tokens, cb and user are set per prompt by the core */
    srv_prompt *prompts; /* n_prompts entries; choice index = prompt * base.n + index */
    int32_t n_prompts;
    int stream;          /* wake the consumer on every event, not only at the end */
    int keep_top;        /* keep each token's top alternatives in the events */
} srv_gen;

/* One queued event. */
typedef struct srv_event {
    int32_t choice;   /* global choice index */
    int32_t token;    /* -1: the end of the choice (finish set; text is the flushed tail) */
    int32_t finish;   /* PG_FINISH_* on an end event, else 0 */
    float logprob;
    int32_t n_top;
    uint32_t text_off, text_len; /* bytes in srv_events.text */
    uint32_t top_off;            /* entries in srv_events.top_id / top_lp */
} srv_event;

/* A view of the pending events; valid under the lock until srv_req_consume. */
typedef struct srv_events {
    const srv_event *ev;
    size_t n;
    const char *text;
    const int32_t *top_id;
    const float *top_lp;
} srv_events;

typedef struct srv_usage {
    int64_t prompt_tokens, completion_tokens, cached_tokens; /* summed over prompts */
    int has_first;        /* the first prompt reported usage: queue_s, ttft_s */
    int has_ttft;         /* ttft_s known (from that usage, or measured by the core
                             from its first token event while it still runs) */
    double queue_s, ttft_s;
    int first_finish;     /* PG_FINISH_* of the first finished choice (0: none yet) */
    int64_t generated_tokens; /* tokens delivered so far, live (completion_tokens: at the end) */
    int32_t n_prompts, n_finished; /* submissions accepted, and those over */
    double compute_s;     /* engine compute time of the finished choices (their share of each step) */
    double t_submit;      /* srv_now() when the first prompt was submitted (0: none) */
    double prefill_s, decode_s; /* of the first prompt's first finished choice (has_first) */
} srv_usage;

typedef struct srv_req srv_req;

srv_req *srv_req_create(const srv_core *core); /* NULL when out of memory */
void srv_req_ref(srv_req *r);
void srv_req_unref(srv_req *r); /* frees at zero */
/* Storage for the spec and the adapter's state, freed with the request. */
pg_arena *srv_req_arena(srv_req *r);
/* fn(arg) runs once when the request is freed, before its arena: the
 * adapter's state that lives outside the arena (one hook per request). */
void srv_req_on_free(srv_req *r, void (*fn)(void *), void *arg);
srv_gen *srv_req_gen(srv_req *r);
/* The protocol (SRV_PROTO_*, metrics.h) whose series it counts in; default openai. */
void srv_req_set_protocol(srv_req *r, int proto);
/* An authenticated caller: its tokens are charged to key_id. */
void srv_req_set_caller(srv_req *r, uint64_t key_id);
/* Installed before submit; called under the request's mutex. */
void srv_req_set_wake(srv_req *r, void (*wake)(void *arg), void *arg);
/* Submits every prompt of the spec. 0, or a PG_E* code with err filled
 * (PG_EBUSY: the engine's queue is full; PG_ECANCELED: shutting down):
 * then prompts submitted before the failing one are cancelled. */
int srv_req_submit(srv_req *r, pg_error *err);
/* Before submit: pause the engine work once the pending events would
 * format to more than bytes (0: no bound; streaming consumers only). */
void srv_req_set_max_unsent(srv_req *r, size_t bytes);
/* Cancels the running submissions (outside the mutex). */
void srv_req_cancel(srv_req *r);
/* The consumer leaves: no more wake-ups, running work cancelled. Returns
 * how many submissions were still running. */
int srv_req_detach(srv_req *r);

void srv_req_lock(srv_req *r);
void srv_req_unlock(srv_req *r);
/* ---- under srv_req_lock ---- */
int srv_req_done(const srv_req *r);    /* every accepted submission is over */
int srv_req_running(const srv_req *r); /* submissions not over */
void srv_req_events(const srv_req *r, srv_events *v);
void srv_req_consume(srv_req *r);      /* empties the queue, keeps its storage */
/* The consumer drained what it took: paused submissions go on. 1 if they
 * were paused. */
int srv_req_resume(srv_req *r);
size_t srv_req_unsent(const srv_req *r); /* the pending events' estimated formatted bytes */
int srv_req_paused(const srv_req *r);    /* some submission is paused */
/* The first error (PG_E*, SRV_ETIMEOUT) and its message, or 0. */
int srv_req_error(const srv_req *r, const char **msg);
void srv_req_usage(const srv_req *r, srv_usage *u);
/* Invariants (refs, counts, queue bounds); 0 or -1 with msg filled. */
int srv_req_check(const srv_req *r, char *msg, size_t cap);

#endif
