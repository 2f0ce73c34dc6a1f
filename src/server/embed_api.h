/* embed_api.h - POST /v1/embeddings and /v1/rerank (and their /embeddings,
 * /rerank aliases): the adapter (JSON body -> a job, a job's result -> the
 * OpenAI embeddings / Jina-Cohere rerank body) and the embedding queue that
 * runs the jobs off the HTTP threads.
 *
 * Why a queue of its own: pg_embed / pg_rerank (engine/embed.h) block their
 * caller until the pass holding its inputs is done, and concurrent callers
 * share passes. So the HTTP thread only queues the raw body as a job and
 * suspends the connection; a small pool of worker threads (several, so
 * that concurrent requests' inputs batch together in one pass) takes jobs
 * in FIFO order, parses the body (JSON: never on an HTTP thread), calls
 * the embedder, formats the response body and wakes the connection. Generation never waits on it: the generation engine has its
 * own thread and pool; the embedder has its own pool.
 *
 * Admission (beside http.c's own 401/413/429-rate/503): a job that finds
 * max_queued jobs waiting for a worker gets 429 (server_busy, Retry-After
 * 1). Each job has a deadline (--request-timeout, lowered by a body
 * "timeout"): past it, queued or waiting on a pass, it ends with 504. The
 * consumer leaving (client gone, drain) cancels it (engine/embed.h:
 * pg_embed_ctl): queued inputs are withdrawn; a pass is never interrupted.
 *
 * Job lifecycle (refs: the consumer's, and the queue's until DONE):
 *
 *   srv_ejob_start --ok--> QUEUED --a worker takes it--> RUNNING --> DONE
 *        | 4xx/429 (no job)    \__ cancelled / deadline: DONE at once
 *   srv_ejob_detach: no more wake-ups, cancel flag set; the last ref frees.
 *
 * Threads and locks: the worker writes the result and calls wake(arg)
 * under the job's mutex (as the request core does: a consumer that checks
 * "not done" and suspends under the same mutex cannot miss it); wake must
 * not call back into this module. Lock order: the queue's, then a job's.
 *
 * A model without an embedder (a chat model served without --pooling, or
 * an embedder that failed to build) still gets a queue: every request is a
 * 400 naming the reason. */
#ifndef PG_SERVER_EMBED_API_H
#define PG_SERVER_EMBED_API_H

#include "engine/embed.h"
#include "server/adapter.h"
#include "server/auth.h"
#include "server/metrics.h"

#include <stddef.h>
#include <stdint.h>

/* Job kinds: OpenAI's /v1/embeddings, /v1/rerank, and Ollama's /api/embed
 * ({model, input, truncate, dimensions} -> {model, embeddings, durations,
 * prompt_eval_count}) and older /api/embeddings ({model, prompt} ->
 * {embedding}); the Ollama kinds answer errors as {"error": "..."}. */
enum { SRV_EJ_EMBED = 1, SRV_EJ_RERANK = 2, SRV_EJ_OLL_EMBED = 3, SRV_EJ_OLL_EMBEDDINGS = 4 };

typedef struct srv_embq srv_embq;
typedef struct srv_ejob srv_ejob;

typedef struct srv_embq_config {
    pg_embedder *emb;     /* borrowed; NULL: every request is a 400 with `refusal` */
    const char *refusal;  /* why there is no embedder (copied); NULL: a generic text */
    const srv_ctx *ctx;   /* alias, request_timeout_s, ids */
    srv_metrics *metrics; /* may be NULL */
    srv_keyset *keys;     /* tokens charged to authenticated callers; may be NULL */
    int workers;          /* threads calling the embedder (0 = 16) */
    int max_queued;       /* jobs waiting for a worker before 429 (0 = 256) */
    int max_inputs;       /* texts / documents per request (0 = 2048) */
} srv_embq_config;

int srv_embq_create(const srv_embq_config *cfg, srv_embq **out, pg_error *err);
/* Cancels what is queued or running, joins the workers (each waits for the
 * pass it is in), then frees. Jobs stay valid until their consumers detach. */
void srv_embq_destroy(srv_embq *q);
/* Jobs accepted and not DONE (the drain waits for them). */
int srv_embq_pending(srv_embq *q);
/* Cancels every job (the drain's grace is over). */
void srv_embq_cancel_all(srv_embq *q);
/* What the served model can do through this queue: PG_CAP_EMBED, PG_CAP_RERANK or 0. */
int srv_embq_caps(const srv_embq *q);
/* Tests: while paused, workers take no new job (admission and the 429 are
 * then deterministic). */
void srv_embq_pause(srv_embq *q, int paused);
/* Invariants (queue length and links, pending >= waiting, queued jobs not
 * DONE, the job each worker holds): 0, or -1 with msg filled. */
int srv_embq_check(srv_embq *q, char *msg, size_t cap);

/* Queues a job of kind SRV_EJ_* for *body (malloc'd, len bytes; taken and
 * *body set to NULL when the job is made). 0 with *out (the consumer's
 * reference), or an HTTP status with *fail filled (400 unsupported by this
 * model, 429 queue full, 503 shutting down). The body is parsed by the
 * worker, never on the caller's (HTTP) thread: a bad body (400), an
 * unknown model (404) are the job's result. wake(arg) is called once,
 * under the job's mutex, when the job is DONE (unless detached before). */
int srv_ejob_start(srv_embq *q, int kind, const srv_caller *who, char **body, size_t len,
                   void (*wake)(void *arg), void *arg, srv_ejob **out, srv_fail *fail);
void srv_ejob_lock(srv_ejob *j);
void srv_ejob_unlock(srv_ejob *j);
/* ---- under srv_ejob_lock ---- */
int srv_ejob_done(const srv_ejob *j);
/* Once done: the HTTP status and the body (malloc'd, handed over; a second
 * call returns 500 with an empty body). */
int srv_ejob_take_body(srv_ejob *j, char **body, size_t *len);
/* For the request log: the id, inputs, prompt tokens (0 until done) and the error text (or NULL). */
const char *srv_ejob_id(const srv_ejob *j);
void srv_ejob_info(const srv_ejob *j, int32_t *n_inputs, int64_t *prompt_tokens, const char **error);
/* ---- without the lock ---- */
void srv_ejob_cancel(srv_ejob *j);
/* The consumer leaves: no more wake-ups, the job is cancelled if not DONE,
 * the consumer's reference is dropped. Returns 1 if it was not DONE. */
int srv_ejob_detach(srv_ejob *j);

#endif
