/* embed_api.c - /v1/embeddings and /v1/rerank: body parsing, the embedding
 * queue and its worker threads, and the response bodies (see embed_api.h).
 *
 * A job keeps its parsed JSON body (jansson) for its whole life: the
 * texts handed to the embedder point into it, and rerank's
 * return_documents echoes them from it. Token-id inputs are copied into
 * int32 arrays owned by the job. The body is formatted by the worker, so
 * the HTTP thread only queues bytes. Floats are written with %.9g (enough
 * digits to give back the exact float32). */
#include "server/embed_api.h"

#include "base/log.h"
#include "server/ollama.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct srv_ejob {
    srv_embq *q;
    int kind;              /* SRV_EJ_* */
    pthread_mutex_t mu;
    int refs;              /* (mu) consumer + queue */
    int done;              /* (mu) */
    void (*wake)(void *);  /* (mu) NULL once detached */
    void *warg;
    atomic_int cancel;
    int64_t deadline_ns;   /* CLOCK_MONOTONIC; 0 none */
    double timeout_s;      /* what the deadline came from (messages) */
    double t_accept;       /* srv_now() when queued */
    int64_t accept_ns;     /* the same, CLOCK_MONOTONIC ns */
    int authed;
    uint64_t key_id;
    char id[64];
    /* the request */
    char *raw;             /* the body until a worker parses it (owned) */
    size_t raw_len;
    json_t *root;
    pg_embed_input *in;    /* n inputs / documents */
    int32_t n;
    int32_t **ids;         /* [n] token-id arrays owned (NULL for texts) */
    pg_embed_opts opts;
    int base64;
    const char *query;
    size_t query_len;
    int32_t top_n;
    int return_documents;
    json_t *docs;          /* rerank: the documents array (in root) */
    const char *model;     /* Ollama kinds: the name the client sent (in root) */
    /* the result (mu, once done) */
    int status;
    char *body;
    size_t len;
    int64_t prompt_tokens;
    int32_t n_inputs;      /* (mu) once parsed */
    char err[640];
    srv_ejob *next;        /* (queue mu) */
};

struct srv_embq {
    srv_embq_config cfg;
    char refusal[256];
    int caps;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    srv_ejob *head, *tail; /* waiting for a worker */
    int n_waiting;
    int pending;           /* accepted, not DONE */
    srv_ejob **running;    /* [workers] the job each worker runs, or NULL */
    int stop;
    int paused;            /* tests: workers take nothing */
    pthread_t *th;
    int n_th;
};

static int64_t mono_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ---------------- jobs ---------------- */

static void job_free(srv_ejob *j) {
    if (j->ids)
        for (int32_t i = 0; i < j->n; i++) free(j->ids[i]);
    free(j->ids);
    free(j->in);
    free(j->raw);
    json_decref(j->root);
    free(j->body);
    pthread_mutex_destroy(&j->mu);
    free(j);
}

static void job_unref(srv_ejob *j) {
    pthread_mutex_lock(&j->mu);
    int last = --j->refs == 0;
    pthread_mutex_unlock(&j->mu);
    if (last) job_free(j);
}

void srv_ejob_lock(srv_ejob *j) { pthread_mutex_lock(&j->mu); }
void srv_ejob_unlock(srv_ejob *j) { pthread_mutex_unlock(&j->mu); }
int srv_ejob_done(const srv_ejob *j) { return j->done; }
const char *srv_ejob_id(const srv_ejob *j) { return j->id; }

void srv_ejob_info(const srv_ejob *j, int32_t *n_inputs, int64_t *prompt_tokens, const char **error) {
    *n_inputs = j->n_inputs;
    *prompt_tokens = j->prompt_tokens;
    *error = j->done && j->status != 200 && j->err[0] ? j->err : NULL;
}

int srv_ejob_take_body(srv_ejob *j, char **body, size_t *len) {
    *body = j->body;
    *len = j->len;
    j->body = NULL;
    j->len = 0;
    return *body ? j->status : 500;
}

void srv_ejob_cancel(srv_ejob *j) {
    atomic_store(&j->cancel, 1);
    if (j->q->cfg.emb) pg_embedder_wake(j->q->cfg.emb);
}

int srv_ejob_detach(srv_ejob *j) {
    pthread_mutex_lock(&j->mu);
    j->wake = NULL;
    int was_running = !j->done;
    pthread_mutex_unlock(&j->mu);
    if (was_running) srv_ejob_cancel(j);
    job_unref(j);
    return was_running;
}

/* ---------------- bodies ---------------- */

static int fail_with(srv_fail *f, int status, const char *msg, const char *type, const char *param, const char *code,
                     const char *retry) {
    f->status = status;
    f->body = srv_dump(srv_error_json(msg, type, param, code), &f->len);
    f->retry_after = retry;
    return status;
}

#define FAIL400(param, ...)                                                                                       \
    do {                                                                                                          \
        char m_[400];                                                                                             \
        snprintf(m_, sizeof m_, __VA_ARGS__);                                                                     \
        return fail_with(fail, 400, m_, "invalid_request_error", param, NULL, NULL);                             \
    } while (0)

/* One float as JSON: %.9g round-trips a float32. */
static void put_float(srv_buf *b, float v) {
    if (!isfinite(v)) {
        srv_buf_real(b, v);
        return;
    }
    char t[32];
    int n = snprintf(t, sizeof t, "%.9g", (double)v);
    srv_buf_put(b, t, (size_t)n);
}

static void put_vector(srv_buf *b, const float *v, int32_t dim, int base64) {
    if (base64) {
        size_t need = pg_embed_base64(v, dim, NULL, 0);
        srv_buf_putc(b, '"');
        if (srv_buf_reserve(b, need + 1) == 0) {
            pg_embed_base64(v, dim, b->p + b->len, need + 1);
            b->len += need;
        }
        srv_buf_putc(b, '"');
        return;
    }
    srv_buf_putc(b, '[');
    for (int32_t k = 0; k < dim; k++) {
        if (k) srv_buf_putc(b, ',');
        put_float(b, v[k]);
    }
    srv_buf_putc(b, ']');
}

static void put_usage(srv_buf *b, int64_t tokens) {
    srv_buf_puts(b, "\"usage\":{\"prompt_tokens\":");
    srv_buf_int(b, tokens);
    srv_buf_puts(b, ",\"total_tokens\":");
    srv_buf_int(b, tokens);
    srv_buf_putc(b, '}');
}

/* {"object":"list","data":[{"object":"embedding","index":i,"embedding":...}],
 *  "model":..., "usage":{...}}; pooling none: "embedding" is one vector
 * per token (a list). */
static int embed_body(srv_ejob *j, const pg_embed_result *r, srv_buf *b) {
    const srv_ctx *c = j->q->cfg.ctx;
    int per_token = pg_embedder_pooling(j->q->cfg.emb) == PG_POOL_NONE;
    srv_buf_puts(b, "{\"object\":\"list\",\"data\":[");
    for (int32_t i = 0; i < r->n; i++) {
        if (i) srv_buf_putc(b, ',');
        srv_buf_puts(b, "{\"object\":\"embedding\",\"index\":");
        srv_buf_int(b, i);
        srv_buf_puts(b, ",\"embedding\":");
        if (per_token) srv_buf_putc(b, '[');
        for (int32_t row = r->first_row[i]; row < r->first_row[i + 1]; row++) {
            if (row > r->first_row[i]) srv_buf_putc(b, ',');
            put_vector(b, r->data + (size_t)row * r->dim, r->dim, j->base64);
            if (!per_token) break;
        }
        if (per_token) srv_buf_putc(b, ']');
        srv_buf_putc(b, '}');
    }
    srv_buf_puts(b, "],\"model\":");
    srv_buf_jstr(b, c->alias, strlen(c->alias));
    srv_buf_putc(b, ',');
    put_usage(b, r->prompt_tokens);
    srv_buf_putc(b, '}');
    return b->err ? -1 : 0;
}

typedef struct ranked {
    int32_t index;
    float score;
} ranked;

static int by_score(const void *a, const void *b) {
    const ranked *x = a, *y = b;
    if (x->score != y->score) return x->score > y->score ? -1 : 1;
    return x->index < y->index ? -1 : x->index > y->index;
}

/* {"id","model","object":"list","results":[{"index","relevance_score",
 *  "document":{"text"}}],"usage"} sorted by score (ties: lower index). */
static int rerank_body(srv_ejob *j, const pg_rerank_result *r, srv_buf *b) {
    const srv_ctx *c = j->q->cfg.ctx;
    ranked *rk = malloc((size_t)r->n * sizeof *rk);
    if (!rk) return -1;
    for (int32_t i = 0; i < r->n; i++) rk[i] = (ranked){i, r->scores[i]};
    qsort(rk, (size_t)r->n, sizeof *rk, by_score);
    int32_t top = j->top_n > 0 && j->top_n < r->n ? j->top_n : r->n;
    srv_buf_puts(b, "{\"id\":");
    srv_buf_jstr(b, j->id, strlen(j->id));
    srv_buf_puts(b, ",\"object\":\"list\",\"model\":");
    srv_buf_jstr(b, c->alias, strlen(c->alias));
    srv_buf_puts(b, ",\"results\":[");
    for (int32_t k = 0; k < top; k++) {
        if (k) srv_buf_putc(b, ',');
        srv_buf_puts(b, "{\"index\":");
        srv_buf_int(b, rk[k].index);
        srv_buf_puts(b, ",\"relevance_score\":");
        put_float(b, rk[k].score);
        if (j->return_documents) {
            const pg_embed_input *d = &j->in[rk[k].index];
            srv_buf_puts(b, ",\"document\":{\"text\":");
            srv_buf_jstr(b, d->text ? d->text : "", d->text ? d->len : 0);
            srv_buf_putc(b, '}');
        }
        srv_buf_putc(b, '}');
    }
    srv_buf_puts(b, "],");
    put_usage(b, r->prompt_tokens);
    srv_buf_putc(b, '}');
    free(rk);
    return b->err ? -1 : 0;
}

/* Ollama's kinds: an OpenAI-shaped error body -> {"error": message}. */
static void oll_reshape(int kind, char **body, size_t *len) {
    if ((kind != SRV_EJ_OLL_EMBED && kind != SRV_EJ_OLL_EMBEDDINGS) || !*body) return;
    json_t *o = json_loadb(*body, *len, 0, NULL);
    const char *m = json_string_value(json_object_get(json_object_get(o, "error"), "message"));
    char *nb = oll_error_body(m ? m : "embedding failed", len);
    json_decref(o);
    free(*body);
    *body = nb;
}

/* /api/embed: {"model","embeddings":[[..]],"total_duration","load_duration",
 * "prompt_eval_count"}; /api/embeddings: {"embedding":[..]}. */
static int oll_embed_body(srv_ejob *j, const pg_embed_result *r, srv_buf *b) {
    if (j->kind == SRV_EJ_OLL_EMBEDDINGS) {
        srv_buf_puts(b, "{\"embedding\":");
        put_vector(b, r->data, r->dim, 0);
        srv_buf_putc(b, '}');
        return b->err ? -1 : 0;
    }
    srv_buf_puts(b, "{\"model\":");
    srv_buf_jstr(b, j->model, strlen(j->model));
    srv_buf_puts(b, ",\"embeddings\":[");
    for (int32_t i = 0; i < r->n; i++) {
        if (i) srv_buf_putc(b, ',');
        put_vector(b, r->data + (size_t)r->first_row[i] * r->dim, r->dim, 0);
    }
    srv_buf_puts(b, "],\"total_duration\":");
    srv_buf_int(b, (long long)((srv_now() - j->t_accept) * 1e9));
    srv_buf_puts(b, ",\"load_duration\":0,\"prompt_eval_count\":");
    srv_buf_int(b, r->prompt_tokens);
    srv_buf_putc(b, '}');
    return b->err ? -1 : 0;
}

/* ---------------- the worker ---------------- */

static int parse_job(srv_embq *q, srv_ejob *j, srv_fail *fail);

/* Runs one job on this worker: the body's parse, the embedder, then the
 * response body or the error. */
static void run_job(srv_embq *q, srv_ejob *j) {
    srv_metrics *mt = q->cfg.metrics;
    const int k = j->kind == SRV_EJ_RERANK ? EMB_RERANK : EMB_EMBED;
    srv_fail pf;
    memset(&pf, 0, sizeof pf);
    int pst = parse_job(q, j, &pf);
    free(j->raw);
    j->raw = NULL;
    if (pst) {
        pthread_mutex_lock(&j->mu);
        j->status = pst;
        j->body = pf.body;
        j->len = pf.len;
        oll_reshape(j->kind, &j->body, &j->len);
        json_t *eo = pf.body ? json_loadb(pf.body, pf.len, 0, NULL) : NULL;
        snprintf(j->err, sizeof j->err, "%s",
                 eo ? json_string_value(json_object_get(json_object_get(eo, "error"), "message")) ?: "" : "");
        json_decref(eo);
        j->done = 1;
        if (j->wake) j->wake(j->warg);
        pthread_mutex_unlock(&j->mu);
        return;
    }
    pthread_mutex_lock(&j->mu);
    j->n_inputs = j->n;
    pthread_mutex_unlock(&j->mu);
    if (mt) atomic_fetch_add(&mt->emb_requests[k], 1);
    pg_embed_ctl ctl = {&j->cancel, j->deadline_ns};
    pg_error e = {0};
    srv_buf b = {0};
    int rc, status = 200;
    int64_t tokens = 0;
    if (j->kind != SRV_EJ_RERANK) {
        pg_embed_result r;
        rc = pg_embed_ex(q->cfg.emb, j->in, j->n, &j->opts, &ctl, &r, &e);
        const uint64_t cap = q->cfg.ctx->max_response_entries; /* pooling none: one vector per token */
        if (rc == 0 && cap && (uint64_t)r.n_rows * (uint64_t)r.dim > cap) {
            rc = pg_error_set(&e, PG_ELIMIT,
                              "the response would hold %d vectors of %d floats (pooling none: one per token); the "
                              "server's limit is %llu floats (--max-response-entries): send fewer or shorter inputs",
                              r.n_rows, r.dim, (unsigned long long)cap);
            pg_embed_result_free(&r);
        }
        if (rc == 0) {
            tokens = r.prompt_tokens;
            if ((j->kind == SRV_EJ_EMBED ? embed_body(j, &r, &b) : oll_embed_body(j, &r, &b)) < 0)
                rc = pg_error_set(&e, PG_ENOMEM, "out of memory");
            pg_embed_result_free(&r);
        }
    } else {
        pg_rerank_result r;
        rc = pg_rerank_ex(q->cfg.emb, j->query, j->query_len, j->in, j->n, j->opts.truncate, &ctl, &r, &e);
        if (rc == 0) {
            tokens = r.prompt_tokens;
            if (rerank_body(j, &r, &b) < 0) rc = pg_error_set(&e, PG_ENOMEM, "out of memory");
            pg_rerank_result_free(&r);
        }
    }
    char *body;
    size_t len = 0;
    char msg[640];
    if (rc == 0) {
        body = b.p;
        len = b.len;
        b.p = NULL;
        if (mt) {
            atomic_fetch_add(&mt->emb_ok[k], 1);
            atomic_fetch_add(&mt->emb_inputs[k], (uint64_t)j->n);
            atomic_fetch_add(&mt->emb_tokens[k], (uint64_t)tokens);
            srv_hist_observe(&mt->emb_h[k], srv_now() - j->t_accept);
        }
        if (j->authed && q->cfg.keys && tokens > 0) srv_keys_charge(q->cfg.keys, j->key_id, tokens);
    } else {
        const char *type = "invalid_request_error", *code = NULL;
        if (rc == PG_ECANCELED && j->deadline_ns > 0 && mono_ns() >= j->deadline_ns && !atomic_load(&j->cancel)) {
            status = 504;
            snprintf(msg, sizeof msg, "the request timed out after %.3g s (queue + compute); its deadline comes from "
                     "--request-timeout or the body's 'timeout'", j->timeout_s);
            type = "timeout_error";
            code = "timeout";
        } else if (rc == PG_ECANCELED) {
            status = 503;
            snprintf(msg, sizeof msg, "the request was cancelled (client gone or server shutting down)");
            type = "server_error";
        } else {
            status = srv_status_for(rc);
            snprintf(msg, sizeof msg, "%s", e.msg[0] ? e.msg : pg_error_code_name(rc));
            if (rc == PG_ELIMIT) code = "response_too_large";
            if (status >= 500) type = "server_error";
        }
        /* the field the embedder's message is about */
        const char *param = status != 400                   ? NULL
                            : strstr(msg, "dimensions")     ? "dimensions"
                            : j->kind != SRV_EJ_RERANK      ? "input"
                            : !strncmp(msg, "document", 8)  ? "documents"
                                                            : NULL;
        body = srv_dump(srv_error_json(msg, type, param, code), &len);
        oll_reshape(j->kind, &body, &len);
        if (status >= 500 && status != 503 && status != 504) PG_ERROR("embedding request %s: %s", j->id, msg);
    }
    srv_buf_free(&b);
    if (mt) {
        pg_embed_stats st;
        pg_embedder_stats(q->cfg.emb, &st);
        atomic_store(&mt->emb_passes, st.passes);
    }
    pthread_mutex_lock(&j->mu);
    j->status = status;
    j->body = body;
    j->len = len;
    j->prompt_tokens = tokens;
    if (rc) snprintf(j->err, sizeof j->err, "%s", msg);
    j->done = 1;
    if (j->wake) j->wake(j->warg);
    pthread_mutex_unlock(&j->mu);
}

typedef struct worker_arg {
    srv_embq *q;
    int idx;
} worker_arg;

static void *worker_main(void *arg) {
    worker_arg *wa = arg;
    srv_embq *q = wa->q;
    const int me = wa->idx;
    free(wa);
    pthread_mutex_lock(&q->mu);
    for (;;) {
        while (!q->stop && (!q->head || q->paused)) pthread_cond_wait(&q->cv, &q->mu);
        if (!q->head) break; /* stopping and nothing queued */
        srv_ejob *j = q->head;
        q->head = j->next;
        if (!q->head) q->tail = NULL;
        q->n_waiting--;
        q->running[me] = j;
        if (q->stop) atomic_store(&j->cancel, 1);
        pthread_mutex_unlock(&q->mu);
        run_job(q, j); /* a cancelled or late job returns at once */
        pthread_mutex_lock(&q->mu);
        q->running[me] = NULL;
        q->pending--;
        pthread_mutex_unlock(&q->mu);
        job_unref(j); /* the queue's reference */
        pthread_mutex_lock(&q->mu);
    }
    pthread_mutex_unlock(&q->mu);
    return NULL;
}

/* ---------------- the queue ---------------- */

int srv_embq_create(const srv_embq_config *cfg, srv_embq **out, pg_error *err) {
    *out = NULL;
    srv_embq *q = calloc(1, sizeof *q);
    if (!q) return pg_error_set(err, PG_ENOMEM, "out of memory");
    q->cfg = *cfg;
    if (q->cfg.workers <= 0) q->cfg.workers = 16;
    if (q->cfg.max_queued <= 0) q->cfg.max_queued = 256;
    if (q->cfg.max_inputs <= 0) q->cfg.max_inputs = 2048;
    snprintf(q->refusal, sizeof q->refusal, "%s",
             cfg->refusal && *cfg->refusal ? cfg->refusal : "model does not support embeddings or reranking");
    q->cfg.refusal = q->refusal;
    q->caps = cfg->emb ? pg_embedder_caps(cfg->emb) : 0;
    pthread_mutex_init(&q->mu, NULL);
    pthread_cond_init(&q->cv, NULL);
    *out = q;
    if (!cfg->emb) return 0;
    q->th = calloc((size_t)q->cfg.workers, sizeof *q->th);
    q->running = calloc((size_t)q->cfg.workers, sizeof *q->running);
    if (!q->th || !q->running) return pg_error_set(err, PG_ENOMEM, "out of memory");
    for (int i = 0; i < q->cfg.workers; i++) {
        worker_arg *wa = malloc(sizeof *wa);
        if (!wa) return pg_error_set(err, PG_ENOMEM, "out of memory");
        *wa = (worker_arg){q, i};
        if (pthread_create(&q->th[i], NULL, worker_main, wa) != 0) {
            free(wa);
            return pg_error_set(err, PG_ENOMEM, "cannot start an embedding worker thread");
        }
        q->n_th++;
    }
    return 0;
}

void srv_embq_cancel_all(srv_embq *q) {
    if (!q) return;
    pthread_mutex_lock(&q->mu);
    for (srv_ejob *j = q->head; j; j = j->next) atomic_store(&j->cancel, 1);
    for (int i = 0; i < q->n_th; i++)
        if (q->running[i]) atomic_store(&q->running[i]->cancel, 1);
    pthread_mutex_unlock(&q->mu);
    if (q->cfg.emb) pg_embedder_wake(q->cfg.emb);
}

void srv_embq_destroy(srv_embq *q) {
    if (!q) return;
    pthread_mutex_lock(&q->mu);
    q->stop = 1;
    pthread_cond_broadcast(&q->cv);
    pthread_mutex_unlock(&q->mu);
    srv_embq_cancel_all(q);
    for (int i = 0; i < q->n_th; i++) pthread_join(q->th[i], NULL);
    PG_ASSERT(!q->head && q->pending == 0);
    free(q->th);
    free(q->running);
    pthread_mutex_destroy(&q->mu);
    pthread_cond_destroy(&q->cv);
    free(q);
}

int srv_embq_pending(srv_embq *q) {
    if (!q) return 0;
    pthread_mutex_lock(&q->mu);
    int n = q->pending;
    pthread_mutex_unlock(&q->mu);
    return n;
}

int srv_embq_caps(const srv_embq *q) { return q ? q->caps : 0; }

void srv_embq_pause(srv_embq *q, int paused) {
    pthread_mutex_lock(&q->mu);
    q->paused = paused;
    pthread_cond_broadcast(&q->cv);
    pthread_mutex_unlock(&q->mu);
}

int srv_embq_check(srv_embq *q, char *msg, size_t cap) {
    int bad = 0;
    pthread_mutex_lock(&q->mu);
    int n = 0, busy = 0;
    srv_ejob *last = NULL;
    for (srv_ejob *j = q->head; j && !bad; j = j->next) {
        n++;
        last = j;
        pthread_mutex_lock(&j->mu);
        if (j->done || j->refs < 1 || j->refs > 2) {
            snprintf(msg, cap, "queued job %d is done or has %d refs", n, j->refs);
            bad = 1;
        }
        pthread_mutex_unlock(&j->mu);
    }
    for (int i = 0; i < q->n_th; i++) busy += q->running[i] != NULL;
    if (!bad && n != q->n_waiting) bad = snprintf(msg, cap, "%d jobs queued, n_waiting %d", n, q->n_waiting) >= 0;
    if (!bad && last != q->tail) bad = snprintf(msg, cap, "the tail is not the last job") >= 0;
    if (!bad && q->pending != q->n_waiting + busy)
        bad = snprintf(msg, cap, "pending %d != waiting %d + running %d", q->pending, q->n_waiting, busy) >= 0;
    pthread_mutex_unlock(&q->mu);
    return bad ? -1 : 0;
}

/* ---------------- parsing ---------------- */

static int unknown_fields(json_t *o, const char *const *known, size_t nk, const char *path, srv_fail *fail) {
    const char *key;
    json_t *val;
    json_object_foreach(o, key, val) {
        int ok = 0;
        for (size_t i = 0; i < nk; i++) ok |= !strcmp(key, known[i]);
        if (!ok) {
            char m[300];
            snprintf(m, sizeof m, "unknown field '%.100s' (%s accepts %s; see the README)", key, path,
                     !strcmp(path, "/v1/embeddings")
                         ? "model, input, encoding_format, dimensions, normalize, truncate, timeout and user"
                         : "model, query, documents, top_n, return_documents, truncate, timeout and user");
            return fail_with(fail, 400, m, "invalid_request_error", key, "unknown_field", NULL);
        }
    }
    return 0;
}

/* A JSON array of integers -> a malloc'd int32 array (ids must be >= 0). */
static int id_list(json_t *a, const char *what, int32_t idx, int32_t **out, int32_t *n, srv_fail *fail) {
    size_t k = json_array_size(a);
    if (k > (1u << 24)) FAIL400("input", "%s %d has too many token ids", what, idx);
    int32_t *t = malloc((k ? k : 1) * sizeof *t);
    if (!t) return fail_with(fail, 500, "out of memory", "server_error", NULL, NULL, NULL);
    size_t i;
    json_t *x;
    json_array_foreach(a, i, x) {
        if (!json_is_integer(x) || json_integer_value(x) < 0 || json_integer_value(x) > INT32_MAX) {
            free(t);
            FAIL400("input", "%s %d: token ids must be non-negative integers", what, idx);
        }
        t[i] = (int32_t)json_integer_value(x);
    }
    *out = t;
    *n = (int32_t)k;
    return 0;
}

static int parse_common(srv_embq *q, srv_ejob *j, json_t *o, srv_fail *fail) {
    const srv_ctx *c = q->cfg.ctx;
    json_t *ej = NULL;
    json_t *model = json_object_get(o, "model");
    if (model && !json_is_null(model)) {
        if (!json_is_string(model)) FAIL400("model", "'model' must be a string");
        if (strcmp(json_string_value(model), c->alias)) {
            char m[600];
            snprintf(m, sizeof m, "The model '%.200s' does not exist; this server serves '%.200s'.",
                     json_string_value(model), c->alias);
            return fail_with(fail, 404, m, "invalid_request_error", "model", "model_not_found", NULL);
        }
    }
    json_t *user = json_object_get(o, "user");
    if (user && !json_is_null(user) && !json_is_string(user)) FAIL400("user", "'user' must be a string");
    int truncate = 0;
    double t = 0;
    if (srv_get_bool(o, "truncate", &truncate, &ej) || srv_get_num(o, "timeout", 0, 1e9, &t, &ej)) {
        fail->status = 400;
        fail->body = srv_dump(ej, &fail->len);
        fail->retry_after = NULL;
        return 400;
    }
    json_t *jt = json_object_get(o, "timeout");
    if (jt && !json_is_null(jt) && t <= 0) FAIL400("timeout", "'timeout' must be a positive number of seconds");
    j->opts.truncate = truncate;
    double cap = c->request_timeout_s;
    /* the deadline counts from the acceptance (queue included) */
    j->timeout_s = t > 0 ? (cap > 0 && cap < t ? cap : t) : cap;
    j->deadline_ns = j->timeout_s > 0 ? j->accept_ns + (int64_t)(j->timeout_s * 1e9) : 0;
    return 0;
}

/* input: "text" | ["text", ...] | [id, ...] | [[id, ...], ...] */
static int parse_embed(srv_embq *q, srv_ejob *j, json_t *o, srv_fail *fail) {
    static const char *const known[] = {"model", "input", "encoding_format", "dimensions", "normalize",
                                        "truncate", "timeout", "user"};
    int rc = unknown_fields(o, known, sizeof known / sizeof known[0], "/v1/embeddings", fail);
    if (rc || (rc = parse_common(q, j, o, fail))) return rc;
    json_t *ej = NULL;
    int normalize = 1;
    long long dims = 0;
    if (srv_get_bool(o, "normalize", &normalize, &ej) || srv_get_int(o, "dimensions", 1, 1 << 24, &dims, &ej)) {
        fail->status = 400;
        fail->body = srv_dump(ej, &fail->len);
        fail->retry_after = NULL;
        return 400;
    }
    j->opts.normalize = normalize;
    j->opts.dimensions = (int32_t)dims;
    json_t *fmt = json_object_get(o, "encoding_format");
    if (fmt && !json_is_null(fmt)) {
        if (!json_is_string(fmt) || (strcmp(json_string_value(fmt), "float") && strcmp(json_string_value(fmt), "base64")))
            FAIL400("encoding_format", "'encoding_format' must be \"float\" or \"base64\"");
        j->base64 = !strcmp(json_string_value(fmt), "base64");
    }
    json_t *in = json_object_get(o, "input");
    if (!in || json_is_null(in)) FAIL400("input", "'input' is required");
    size_t n;
    int ids_one = 0; /* input is one token-id list */
    if (json_is_string(in)) n = 1;
    else if (json_is_array(in)) {
        n = json_array_size(in);
        if (!n) FAIL400("input", "'input' must not be empty");
        json_t *first = json_array_get(in, 0);
        ids_one = json_is_integer(first);
        if (!ids_one && !json_is_string(first) && !json_is_array(first))
            FAIL400("input", "'input' must be a string, a list of strings, a list of token ids or a list of such lists");
        if (ids_one) n = 1;
    } else
        FAIL400("input", "'input' must be a string, a list of strings, a list of token ids or a list of such lists");
    if ((int)n > q->cfg.max_inputs)
        FAIL400("input", "'input' has %zu items, more than the limit of %d per request", n, q->cfg.max_inputs);
    /* bounded responses (--max-response-entries): inputs x floats per vector */
    const uint64_t cap = q->cfg.ctx->max_response_entries;
    const int32_t dim = j->opts.dimensions > 0 ? j->opts.dimensions : pg_embedder_dim(q->cfg.emb);
    if (cap && (uint64_t)n * (uint64_t)dim > cap) {
        char m[300];
        snprintf(m, sizeof m,
                 "the response would hold %zu x %d = %llu floats; the server's limit is %llu (--max-response-entries): "
                 "send fewer inputs per request",
                 n, dim, (unsigned long long)n * (unsigned long long)dim, (unsigned long long)cap);
        return fail_with(fail, 400, m, "invalid_request_error", "input", "response_too_large", NULL);
    }
    j->n = (int32_t)n;
    j->in = calloc(n, sizeof *j->in);
    j->ids = calloc(n, sizeof *j->ids);
    if (!j->in || !j->ids) return fail_with(fail, 500, "out of memory", "server_error", NULL, NULL, NULL);
    if (json_is_string(in)) {
        if (!json_string_length(in)) FAIL400("input", "'input' must not be an empty string (as OpenAI's API)");
        j->in[0] = (pg_embed_input){json_string_value(in), json_string_length(in), NULL, 0};
        return 0;
    }
    if (ids_one) {
        if ((rc = id_list(in, "input", 0, &j->ids[0], &j->in[0].n_tokens, fail))) return rc;
        j->in[0].tokens = j->ids[0];
        return 0;
    }
    int strings = json_is_string(json_array_get(in, 0));
    for (size_t i = 0; i < n; i++) {
        json_t *x = json_array_get(in, i);
        if (strings) {
            if (!json_is_string(x)) FAIL400("input", "'input' mixes strings and other values (item %zu)", i);
            if (!json_string_length(x)) FAIL400("input", "input %zu is an empty string (as OpenAI's API, refused)", i);
            j->in[i] = (pg_embed_input){json_string_value(x), json_string_length(x), NULL, 0};
        } else {
            if (!json_is_array(x)) FAIL400("input", "'input' mixes token-id lists and other values (item %zu)", i);
            if ((rc = id_list(x, "input", (int32_t)i, &j->ids[i], &j->in[i].n_tokens, fail))) return rc;
            j->in[i].tokens = j->ids[i];
        }
    }
    return 0;
}

/* {query, documents: [string | {text}], top_n, return_documents} */
static int parse_rerank(srv_embq *q, srv_ejob *j, json_t *o, srv_fail *fail) {
    static const char *const known[] = {"model", "query", "documents", "top_n", "return_documents",
                                        "truncate", "timeout", "user"};
    int rc = unknown_fields(o, known, sizeof known / sizeof known[0], "/v1/rerank", fail);
    if (rc || (rc = parse_common(q, j, o, fail))) return rc;
    json_t *ej = NULL;
    long long top = 0;
    int ret = 1;
    if (srv_get_int(o, "top_n", 1, 1 << 30, &top, &ej) || srv_get_bool(o, "return_documents", &ret, &ej)) {
        fail->status = 400;
        fail->body = srv_dump(ej, &fail->len);
        fail->retry_after = NULL;
        return 400;
    }
    j->top_n = (int32_t)top;
    j->return_documents = ret;
    json_t *qu = json_object_get(o, "query");
    if (!json_is_string(qu)) FAIL400("query", "'query' must be a string");
    if (!json_string_length(qu)) FAIL400("query", "'query' must not be empty");
    j->query = json_string_value(qu);
    j->query_len = json_string_length(qu);
    json_t *docs = json_object_get(o, "documents");
    if (!json_is_array(docs)) FAIL400("documents", "'documents' must be a list of strings or {\"text\": ...} objects");
    size_t n = json_array_size(docs);
    if (!n) FAIL400("documents", "'documents' must not be empty");
    if ((int)n > q->cfg.max_inputs || n > (size_t)q->cfg.max_inputs)
        FAIL400("documents", "'documents' has %zu items, more than the limit of %d per request", n, q->cfg.max_inputs);
    j->n = (int32_t)n;
    j->in = calloc(n, sizeof *j->in);
    if (!j->in) return fail_with(fail, 500, "out of memory", "server_error", NULL, NULL, NULL);
    for (size_t i = 0; i < n; i++) {
        json_t *d = json_array_get(docs, i);
        if (json_is_object(d)) d = json_object_get(d, "text");
        if (!json_is_string(d))
            FAIL400("documents", "document %zu must be a string or an object with a string 'text'", i);
        j->in[i] = (pg_embed_input){json_string_value(d), json_string_length(d), NULL, 0};
    }
    j->docs = docs;
    return 0;
}

/* Ollama's /api/embed {model, input: string | [string], truncate (default
 * true), dimensions, keep_alive, options} and the older /api/embeddings
 * {model, prompt} (not normalised, as Ollama's). Unknown fields and
 * options are ignored, as Ollama does. Errors are reshaped to Ollama's by
 * the caller. */
static int parse_ollama(srv_embq *q, srv_ejob *j, json_t *o, srv_fail *fail) {
    const srv_ctx *c = q->cfg.ctx;
    const int old = j->kind == SRV_EJ_OLL_EMBEDDINGS;
    json_t *m = json_object_get(o, "model"), *ej = NULL;
    if (!json_is_string(m) || !json_string_length(m)) FAIL400("model", "model is required");
    if (!oll_model_match(c, json_string_value(m))) {
        char msg[300];
        snprintf(msg, sizeof msg, "model \"%.200s\" not found, try pulling it first", json_string_value(m));
        return fail_with(fail, 404, msg, "invalid_request_error", "model", "model_not_found", NULL);
    }
    j->model = json_string_value(m);
    json_t *ka = json_object_get(o, "keep_alive");
    double ka_s;
    if (ka && !json_is_null(ka) && oll_keep_alive(ka, &ka_s) < 0)
        FAIL400("keep_alive", "invalid \"keep_alive\": a duration such as \"5m\", \"-1\" or a number of seconds is expected");
    if (pg_embedder_pooling(q->cfg.emb) == PG_POOL_NONE)
        FAIL400(NULL, "this server's pooling is none (one vector per token); Ollama's embedding endpoints need one "
                      "vector per input (serve with --pooling mean, cls or last)");
    int truncate = 1;
    long long dims = 0;
    if (srv_get_bool(o, "truncate", &truncate, &ej) || (!old && srv_get_int(o, "dimensions", 1, 1 << 24, &dims, &ej))) {
        fail->status = 400;
        fail->body = srv_dump(ej, &fail->len);
        return 400;
    }
    j->opts.truncate = truncate;
    j->opts.normalize = !old;
    j->opts.dimensions = (int32_t)dims;
    j->timeout_s = c->request_timeout_s;
    j->deadline_ns = j->timeout_s > 0 ? j->accept_ns + (int64_t)(j->timeout_s * 1e9) : 0;
    json_t *in = json_object_get(o, old ? "prompt" : "input");
    size_t n = json_is_string(in) ? 1 : json_array_size(in);
    if (!json_is_string(in) && !json_is_array(in))
        FAIL400("input", old ? "\"prompt\" must be a string" : "\"input\" must be a string or a list of strings");
    if (old && !json_is_string(in)) FAIL400("input", "\"prompt\" must be a string");
    if (n == 0) FAIL400("input", "\"input\" must not be empty");
    if ((int)n > q->cfg.max_inputs)
        FAIL400("input", "\"input\" has %zu items, more than the limit of %d per request", n, q->cfg.max_inputs);
    const uint64_t cap = c->max_response_entries;
    const int32_t dim = dims > 0 ? (int32_t)dims : pg_embedder_dim(q->cfg.emb);
    if (cap && (uint64_t)n * (uint64_t)dim > cap)
        FAIL400("input", "the response would hold %zu x %d floats; the server's limit is %llu (--max-response-entries)",
                n, dim, (unsigned long long)cap);
    j->n = (int32_t)n;
    if (!(j->in = calloc(n, sizeof *j->in))) return fail_with(fail, 500, "out of memory", "server_error", NULL, NULL, NULL);
    for (size_t i = 0; i < n; i++) {
        json_t *x = json_is_string(in) ? in : json_array_get(in, i);
        if (!json_is_string(x)) FAIL400("input", "input %zu is not a string", i);
        if (!json_string_length(x)) FAIL400("input", "input %zu is an empty string", i);
        j->in[i] = (pg_embed_input){json_string_value(x), json_string_length(x), NULL, 0};
    }
    return 0;
}

/* Parses the job's body (on the worker): 0, or an HTTP status with *fail. */
static int parse_job(srv_embq *q, srv_ejob *j, srv_fail *fail) {
    json_error_t je;
    json_t *o = json_loadb(j->raw ? j->raw : "", j->raw_len, JSON_REJECT_DUPLICATES, &je);
    if (!o || !json_is_object(o)) {
        json_decref(o);
        return fail_with(fail, 400, "the body must be a JSON object", "invalid_request_error", NULL, "invalid_json", NULL);
    }
    j->root = o;
    return j->kind == SRV_EJ_EMBED    ? parse_embed(q, j, o, fail)
           : j->kind == SRV_EJ_RERANK ? parse_rerank(q, j, o, fail)
                                      : parse_ollama(q, j, o, fail);
}

static int start_job(srv_embq *q, int kind, const srv_caller *who, char **body, size_t len,
                     void (*wake)(void *arg), void *arg, srv_ejob **out, srv_fail *fail) {
    *out = NULL;
    memset(fail, 0, sizeof *fail);
    const int want = kind == SRV_EJ_RERANK ? PG_CAP_RERANK : PG_CAP_EMBED;
    if (!q->cfg.emb)
        return fail_with(fail, 400, q->refusal, "invalid_request_error", "model", "model_not_supported", NULL);
    if (!(q->caps & want))
        return fail_with(fail, 400,
                         kind != SRV_EJ_RERANK ? "model does not support embeddings: it is a reranker (use /v1/rerank)"
                                              : "model does not support reranking: it has no rank head (pooling rank "
                                                "with a classifier); use /v1/embeddings",
                         "invalid_request_error", "model", "model_not_supported", NULL);
    srv_ejob *j = calloc(1, sizeof *j);
    if (!j) return fail_with(fail, 500, "out of memory", "server_error", NULL, NULL, NULL);
    pthread_mutex_init(&j->mu, NULL);
    j->q = q;
    j->kind = kind;
    j->refs = 1;
    if (who && who->authed) {
        j->authed = 1;
        j->key_id = who->key_id;
    }
    srv_make_id(q->cfg.ctx->ids, kind != SRV_EJ_RERANK ? "embd-" : "rerank-", j->id, sizeof j->id);
    j->wake = wake;
    j->warg = arg;
    j->t_accept = srv_now();
    pthread_mutex_lock(&q->mu);
    if (q->stop) {
        pthread_mutex_unlock(&q->mu);
        job_free(j);
        return fail_with(fail, 503, "the server is shutting down; retry on another instance", "server_error", NULL,
                         "draining", "1");
    }
    if (q->n_waiting >= q->cfg.max_queued) {
        int mq = q->cfg.max_queued;
        pthread_mutex_unlock(&q->mu);
        job_free(j);
        char m[200];
        snprintf(m, sizeof m, "the embedding queue is full (%d requests waiting); retry shortly", mq);
        return fail_with(fail, 429, m, "rate_limit_error", NULL, "server_busy", "1");
    }
    j->accept_ns = mono_ns(); /* the deadline counts from here (set by the parse, on the worker) */
    j->raw = *body;
    j->raw_len = len;
    *body = NULL;
    j->refs = 2; /* the consumer's and the queue's */
    if (q->tail) q->tail->next = j;
    else q->head = j;
    q->tail = j;
    q->n_waiting++;
    q->pending++;
    pthread_cond_signal(&q->cv);
    pthread_mutex_unlock(&q->mu);
    *out = j;
    return 0;
}

int srv_ejob_start(srv_embq *q, int kind, const srv_caller *who, char **body, size_t len,
                   void (*wake)(void *arg), void *arg, srv_ejob **out, srv_fail *fail) {
    int st = start_job(q, kind, who, body, len, wake, arg, out, fail);
    if (st) oll_reshape(kind, &fail->body, &fail->len);
    return st;
}
