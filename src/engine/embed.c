/* embed.c - embeddings / reranking requests: tokenization and limits, a
 * shared FIFO of inputs batched into encoder passes by whichever caller is
 * free (see embed.h), then normalisation / Matryoshka truncation.
 *
 * Input lifecycle (one `item` per input):
 *
 *     QUEUED --(a runner takes it into a pass)--> RUNNING --(outputs copied)--> DONE
 *
 * Items enter QUEUED at the tail of e->head..e->tail in their caller's
 * order; a runner takes a prefix of the queue (FIFO), so an item is never
 * overtaken by one queued after it. Invariants (check_locked): exactly one
 * runner while e->running, RUNNING items exist only then, every queued item
 * is QUEUED, and a call's `left` counts its items not yet DONE. A call
 * returns once its items are all DONE; the item memory belongs to the call.
 *
 * The runner owns the batch buffers (tok, types, seq_start, out) while
 * e->running is set; everything else is under e->mu. */
#include "engine/embed.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { IT_QUEUED = 0, IT_RUNNING = 1, IT_DONE = 2 };

typedef struct call call;

typedef struct item {
    struct item *next;
    call *owner;
    int state;
    const int32_t *tokens; /* owned by the call */
    int32_t n;
    float *dst;            /* pooled rows go here (owner's buffer) */
    int rc;
} item;

struct call {
    int32_t left; /* items not DONE */
    pg_error err; /* first failure of a pass that held one of its items */
    int rc;
};

struct pg_embedder {
    const pg_model *m;
    const pg_vocab *v;
    pg_encoder *enc;
    int pooling, matryoshka;
    int32_t max_tokens, max_inputs, max_input, dim, out_dim;
    /* runner's buffers */
    int32_t *tok, *seq_start;
    float *out;
    /* shared state */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    item *head, *tail;
    int32_t n_queued;
    int64_t queued_tokens;
    int64_t last_arrival_ns; /* CLOCK_MONOTONIC of the last enqueue */
    int64_t wait_ns;         /* batch_wait_us in ns, 0 = no gathering */
    int running;
    pg_embed_stats stats;
};

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int pg_embedder_create(const pg_model *m, const pg_vocab *v, pg_pool *pool, const pg_embed_config *cfg,
                       pg_embedder **out, pg_error *err) {
    *out = NULL;
    const pg_hparams *hp = pg_model_hparams(m);
    pg_embed_config c = cfg ? *cfg : (pg_embed_config){0, 0, PG_POOL_UNSPEC, -1, 0};
    if (c.batch_wait_us == 0) c.batch_wait_us = 500;
    if (c.batch_wait_us > 1000000) return pg_error_set(err, PG_EINVAL, "batch_wait_us is over one second");
    if (c.max_batched_tokens == 0) c.max_batched_tokens = 2048;
    if (c.max_batch_inputs == 0) c.max_batch_inputs = 64;
    if (c.max_batched_tokens < 1 || c.max_batched_tokens > (1 << 20) || c.max_batch_inputs < 1 ||
        c.max_batch_inputs > 4096)
        return pg_error_set(err, PG_EINVAL, "invalid embedding batch limits (%d tokens, %d inputs)",
                            c.max_batched_tokens, c.max_batch_inputs);
    if (c.max_batch_inputs > c.max_batched_tokens) c.max_batch_inputs = c.max_batched_tokens;
    int pooling = c.pooling == PG_POOL_UNSPEC ? hp->pooling : c.pooling;
    if (pooling == PG_POOL_UNSPEC) {
        if (hp->encoder) pooling = PG_POOL_CLS; /* an encoder without the key: BERT's own convention */
        else
            return pg_error_set(err, PG_EUNSUPPORTED,
                                "model does not support embeddings: %s has no pooling type (serve it with --pooling "
                                "last, mean or cls)",
                                hp->arch);
    }
    if (pooling < PG_POOL_NONE || pooling > PG_POOL_RANK)
        return pg_error_set(err, PG_EINVAL, "unknown pooling type %d", pooling);
    if (pooling == PG_POOL_RANK && (!hp->encoder || hp->n_cls_out <= 0))
        return pg_error_set(err, PG_EUNSUPPORTED, "model does not support reranking: it has no classifier head");
    if (v && pg_vocab_n_tokens(v) > hp->n_vocab)
        return pg_error_set(err, PG_EFORMAT, "vocabulary of %d tokens is larger than the model's %d",
                            pg_vocab_n_tokens(v), hp->n_vocab);
    pg_embedder *e = calloc(1, sizeof *e);
    if (!e) return pg_error_set(err, PG_ENOMEM, "out of memory");
    e->m = m;
    e->v = v;
    e->pooling = pooling;
    e->matryoshka = c.matryoshka < 0 ? hp->matryoshka : c.matryoshka != 0;
    e->max_tokens = c.max_batched_tokens;
    e->max_inputs = c.max_batch_inputs;
    e->wait_ns = c.batch_wait_us > 0 && e->max_inputs > 1 ? (int64_t)c.batch_wait_us * 1000 : 0;
    pthread_mutex_init(&e->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&e->cv, &ca);
    pthread_condattr_destroy(&ca);
    int rc = pg_encoder_create(m, pool, e->max_tokens, e->max_inputs, &e->enc, err);
    if (rc < 0) {
        pg_embedder_destroy(e);
        return rc;
    }
    e->max_input = pg_encoder_max_seq(e->enc);
    e->dim = hp->n_embd;
    e->out_dim = pg_encoder_out_dim(e->enc, pooling);
    size_t rows = pooling == PG_POOL_NONE ? (size_t)e->max_tokens : (size_t)e->max_inputs;
    e->tok = malloc((size_t)e->max_tokens * sizeof *e->tok);
    e->seq_start = malloc(((size_t)e->max_inputs + 1) * sizeof *e->seq_start);
    e->out = malloc(rows * (size_t)e->out_dim * sizeof *e->out);
    if (!e->tok || !e->seq_start || !e->out) {
        pg_embedder_destroy(e);
        return pg_error_set(err, PG_ENOMEM, "out of memory");
    }
    *out = e;
    return 0;
}

void pg_embedder_destroy(pg_embedder *e) {
    if (!e) return;
    PG_ASSERT(!e->running && !e->head);
    pg_encoder_destroy(e->enc);
    free(e->tok);
    free(e->seq_start);
    free(e->out);
    pthread_mutex_destroy(&e->mu);
    pthread_cond_destroy(&e->cv);
    free(e);
}

int pg_embedder_pooling(const pg_embedder *e) { return e->pooling; }
int pg_embedder_caps(const pg_embedder *e) { return e->pooling == PG_POOL_RANK ? PG_CAP_RERANK : PG_CAP_EMBED; }
int32_t pg_embedder_dim(const pg_embedder *e) { return e->dim; }
int32_t pg_embedder_max_input(const pg_embedder *e) { return e->max_input; }
int pg_embedder_matryoshka(const pg_embedder *e) { return e->matryoshka; }

void pg_embedder_stats(pg_embedder *e, pg_embed_stats *s) {
    pthread_mutex_lock(&e->mu);
    *s = e->stats;
    pthread_mutex_unlock(&e->mu);
}

/* ---------------- the queue ---------------- */

static void check_locked(const pg_embedder *e) {
    int32_t n = 0;
    int64_t t = 0;
    for (const item *it = e->head; it; it = it->next) {
        PG_ASSERT(it->state == IT_QUEUED);
        PG_ASSERT(it->owner->left > 0);
        if (!it->next) PG_ASSERT(it == e->tail);
        n++;
        t += it->n;
    }
    if (!e->head) PG_ASSERT(!e->tail);
    PG_ASSERT(n == e->n_queued && t == e->queued_tokens);
}

/* Runner, mu held: while the next pass is not full, wait until wait_ns
 * passes with no new input (at most 4 x wait_ns in all). */
static void gather(pg_embedder *e) {
    if (!e->wait_ns) return;
    const int64_t end = now_ns() + 4 * e->wait_ns;
    while (e->n_queued < e->max_inputs && e->queued_tokens < e->max_tokens) {
        int64_t until = e->last_arrival_ns + e->wait_ns, t = now_ns();
        if (until > end) until = end;
        if (t >= until) break;
        struct timespec ts = {(time_t)(until / 1000000000), (long)(until % 1000000000)};
        if (pthread_cond_timedwait(&e->cv, &e->mu, &ts) == ETIMEDOUT && now_ns() >= end) break;
    }
}

/* One pass over a prefix of the queue (called with mu held by the runner;
 * drops it while the pass runs). */
static void run_pass(pg_embedder *e) {
    item *batch[4096];
    int32_t nb = 0, nt = 0;
    e->seq_start[0] = 0;
    while (e->head && nb < e->max_inputs && (nb == 0 || nt + e->head->n <= e->max_tokens)) {
        item *it = e->head;
        e->head = it->next;
        if (!e->head) e->tail = NULL;
        e->n_queued--;
        e->queued_tokens -= it->n;
        it->state = IT_RUNNING;
        batch[nb++] = it;
        memcpy(e->tok + nt, it->tokens, (size_t)it->n * sizeof *e->tok);
        nt += it->n;
        e->seq_start[nb] = nt;
    }
    PG_ASSERT(nb > 0 && nt <= e->max_tokens);
    pthread_mutex_unlock(&e->mu);
    pg_enc_batch b = {nb, e->seq_start, e->tok, NULL};
    pg_error perr = {0};
    int rc = pg_encoder_run(e->enc, &b, e->pooling, e->out, &perr);
    if (rc == 0)
        for (int32_t i = 0; i < nb; i++) {
            size_t row0 = e->pooling == PG_POOL_NONE ? (size_t)e->seq_start[i] : (size_t)i;
            size_t nrow = e->pooling == PG_POOL_NONE ? (size_t)batch[i]->n : 1;
            memcpy(batch[i]->dst, e->out + row0 * e->out_dim, nrow * e->out_dim * sizeof(float));
        }
    pthread_mutex_lock(&e->mu);
    for (int32_t i = 0; i < nb; i++) {
        item *it = batch[i];
        it->state = IT_DONE;
        it->rc = rc;
        if (rc < 0 && it->owner->rc == 0) {
            it->owner->rc = rc;
            it->owner->err = perr;
        }
        it->owner->left--;
    }
    e->stats.passes++;
    e->stats.inputs += (uint64_t)nb;
    e->stats.tokens += (uint64_t)nt;
}

static int stop_requested(const pg_embed_ctl *ctl) {
    if (!ctl) return 0;
    if (ctl->cancel && atomic_load(ctl->cancel)) return 1;
    return ctl->deadline_ns > 0 && now_ns() >= ctl->deadline_ns;
}

/* mu held: take c's QUEUED items out of the queue (they count as done). */
static void withdraw(pg_embedder *e, call *c) {
    item *prev = NULL;
    for (item *it = e->head, *nx; it; it = nx) {
        nx = it->next;
        if (it->owner != c) {
            prev = it;
            continue;
        }
        if (prev) prev->next = nx;
        else e->head = nx;
        if (e->tail == it) e->tail = prev;
        e->n_queued--;
        e->queued_tokens -= it->n;
        it->state = IT_DONE;
        it->rc = PG_ECANCELED;
        c->left--;
    }
}

void pg_embedder_wake(pg_embedder *e) {
    pthread_mutex_lock(&e->mu);
    pthread_cond_broadcast(&e->cv);
    pthread_mutex_unlock(&e->mu);
}

/* Queue the items of one call and return when they are all DONE (or, with
 * ctl, once stopped: queued items withdrawn, running ones finished). */
static int submit(pg_embedder *e, item *items, int32_t n, const pg_embed_ctl *ctl, pg_error *err) {
    call c = {n, {0}, 0};
    int stopped = 0;
    pthread_mutex_lock(&e->mu);
    for (int32_t i = 0; i < n; i++) {
        items[i].owner = &c;
        items[i].state = IT_QUEUED;
        items[i].next = NULL;
        if (e->tail) e->tail->next = &items[i];
        else e->head = &items[i];
        e->tail = &items[i];
        e->n_queued++;
        e->queued_tokens += items[i].n;
    }
    e->last_arrival_ns = now_ns();
    pthread_cond_broadcast(&e->cv); /* a gathering runner counts the arrival */
    while (c.left > 0) {
        if (!stopped && stop_requested(ctl)) {
            stopped = 1;
            withdraw(e, &c);
            check_locked(e);
            /* what is left is RUNNING, so a runner exists and will broadcast */
            continue;
        }
        if (!e->running && !stopped) {
            e->running = 1;
            while (c.left > 0 && e->head && !stop_requested(ctl)) {
                gather(e);
                run_pass(e);
                pthread_cond_broadcast(&e->cv);
            }
            e->running = 0;
            check_locked(e);
            pthread_cond_broadcast(&e->cv); /* another caller with queued items takes over */
        } else if (ctl) {
            int64_t until = now_ns() + 20000000;
            if (ctl->deadline_ns > 0 && ctl->deadline_ns < until) until = ctl->deadline_ns;
            struct timespec ts = {(time_t)(until / 1000000000), (long)(until % 1000000000)};
            pthread_cond_timedwait(&e->cv, &e->mu, &ts);
        } else {
            pthread_cond_wait(&e->cv, &e->mu);
        }
    }
    pthread_mutex_unlock(&e->mu);
    if (c.rc < 0) {
        if (err) *err = c.err;
        return c.rc;
    }
    if (stopped)
        return pg_error_set(err, PG_ECANCELED,
                            ctl->cancel && atomic_load(ctl->cancel) ? "cancelled" : "deadline passed");
    return 0;
}

/* ---------------- inputs ---------------- */

/* Tokens of one input into a fresh array (*out, *n); applies the limit. */
static int input_tokens(pg_embedder *e, const pg_embed_input *in, int32_t idx, int truncate, int32_t **out,
                        int32_t *n, pg_error *err) {
    const int32_t lim = e->max_input, nv = pg_model_hparams(e->m)->n_vocab;
    int64_t cnt;
    int32_t *t = NULL;
    int added_eos = 0;
    if (in->tokens) {
        if (in->n_tokens < 0) return pg_error_set(err, PG_EINVAL, "input %d: negative token count", idx);
        cnt = in->n_tokens;
        t = malloc(((size_t)cnt + 1) * sizeof *t);
        if (!t) return pg_error_set(err, PG_ENOMEM, "out of memory");
        memcpy(t, in->tokens, (size_t)cnt * sizeof *t);
    } else {
        if (!e->v) return pg_error_set(err, PG_EINVAL, "input %d: text input needs a vocabulary", idx);
        if (!in->text && in->len) return pg_error_set(err, PG_EINVAL, "input %d: no text", idx);
        size_t cap = in->len + 8;
        t = malloc(cap * sizeof *t);
        if (!t) return pg_error_set(err, PG_ENOMEM, "out of memory");
        cnt = pg_tokenize(e->v, in->text ? in->text : "", in->len, 1, 0, t, cap, err);
        if (cnt > (int64_t)cap) { /* cannot happen for these tokenizers (<= 1 token per byte + specials) */
            int32_t *t2 = realloc(t, (size_t)cnt * sizeof *t);
            if (!t2) {
                free(t);
                return pg_error_set(err, PG_ENOMEM, "out of memory");
            }
            t = t2;
            cnt = pg_tokenize(e->v, in->text ? in->text : "", in->len, 1, 0, t, (size_t)cnt, err);
        }
        if (cnt < 0) {
            free(t);
            return (int)cnt;
        }
        added_eos = pg_vocab_add_eos(e->v) && cnt > 0 && t[cnt - 1] == pg_vocab_eos(e->v);
    }
    if (cnt == 0) {
        free(t);
        return pg_error_set(err, PG_EINVAL, "input %d is empty", idx);
    }
    for (int64_t i = 0; i < cnt; i++)
        if (t[i] < 0 || t[i] >= nv) {
            int32_t bad = t[i];
            free(t);
            return pg_error_set(err, PG_EINVAL, "input %d: token id %d is outside the vocabulary (0..%d)", idx, bad,
                                nv - 1);
        }
    if (cnt > lim) {
        if (!truncate) {
            free(t);
            return pg_error_set(err, PG_EINVAL,
                                "input %d has %lld tokens, more than the limit of %d tokens per input (set truncate "
                                "to cut it)",
                                idx, (long long)cnt, lim);
        }
        if (added_eos && lim > 1) t[lim - 1] = t[cnt - 1];
        cnt = lim;
    }
    *out = t;
    *n = (int32_t)cnt;
    return 0;
}

void pg_embed_normalize(float *v, int32_t n) {
    double ss = 0;
    for (int32_t i = 0; i < n; i++) ss += (double)v[i] * v[i];
    if (ss <= 0) return;
    const double inv = 1.0 / sqrt(ss);
    for (int32_t i = 0; i < n; i++) v[i] = (float)(v[i] * inv);
}

void pg_embed_result_free(pg_embed_result *r) {
    if (!r) return;
    free(r->data);
    free(r->first_row);
    free(r->n_tokens);
    memset(r, 0, sizeof *r);
}

void pg_rerank_result_free(pg_rerank_result *r) {
    if (!r) return;
    free(r->scores);
    free(r->n_tokens);
    memset(r, 0, sizeof *r);
}

static void free_toks(int32_t **toks, int32_t n) {
    if (!toks) return;
    for (int32_t i = 0; i < n; i++) free(toks[i]);
    free(toks);
}

int pg_embed(pg_embedder *e, const pg_embed_input *in, int32_t n, const pg_embed_opts *o, pg_embed_result *r,
             pg_error *err) {
    return pg_embed_ex(e, in, n, o, NULL, r, err);
}

int pg_embed_ex(pg_embedder *e, const pg_embed_input *in, int32_t n, const pg_embed_opts *o, const pg_embed_ctl *ctl,
                pg_embed_result *r, pg_error *err) {
    memset(r, 0, sizeof *r);
    const pg_embed_opts opts = o ? *o : (pg_embed_opts){1, 0, 0};
    if (e->pooling == PG_POOL_RANK)
        return pg_error_set(err, PG_EUNSUPPORTED, "model does not support embeddings: it is a reranker");
    if (n <= 0) return pg_error_set(err, PG_EINVAL, "no input");
    if (n > (1 << 20)) return pg_error_set(err, PG_EINVAL, "too many inputs (%d)", n);
    int32_t dim = e->dim;
    if (opts.dimensions != 0) {
        if (opts.dimensions < 1 || opts.dimensions > e->dim)
            return pg_error_set(err, PG_EINVAL, "dimensions must be between 1 and %d (got %d)", e->dim,
                                opts.dimensions);
        if (opts.dimensions != e->dim && !e->matryoshka)
            return pg_error_set(err, PG_EINVAL,
                                "this model does not support the dimensions parameter (it is not a Matryoshka model; "
                                "its embeddings have %d dimensions)",
                                e->dim);
        dim = opts.dimensions;
    }
    int32_t **toks = calloc((size_t)n, sizeof *toks);
    item *items = calloc((size_t)n, sizeof *items);
    r->first_row = calloc((size_t)n + 1, sizeof *r->first_row);
    r->n_tokens = calloc((size_t)n, sizeof *r->n_tokens);
    int rc = 0;
    if (!toks || !items || !r->first_row || !r->n_tokens) {
        rc = pg_error_set(err, PG_ENOMEM, "out of memory");
        goto done;
    }
    int64_t rows = 0;
    for (int32_t i = 0; i < n; i++) {
        if ((rc = input_tokens(e, &in[i], i, opts.truncate, &toks[i], &r->n_tokens[i], err)) < 0) goto done;
        r->prompt_tokens += r->n_tokens[i];
        r->first_row[i] = (int32_t)rows;
        rows += e->pooling == PG_POOL_NONE ? r->n_tokens[i] : 1;
        if (rows > INT32_MAX / 2) {
            rc = pg_error_set(err, PG_EINVAL, "request too large");
            goto done;
        }
    }
    r->first_row[n] = (int32_t)rows;
    r->data = malloc((size_t)rows * (size_t)e->dim * sizeof(float));
    if (!r->data) {
        rc = pg_error_set(err, PG_ENOMEM, "out of memory");
        goto done;
    }
    for (int32_t i = 0; i < n; i++)
        items[i] = (item){NULL, NULL, 0, toks[i], r->n_tokens[i], r->data + (size_t)r->first_row[i] * e->dim, 0};
    if ((rc = submit(e, items, n, ctl, err)) < 0) goto done;
    /* truncate (compacting rows of e->dim to dim) and normalise */
    for (int64_t row = 0; row < rows; row++) {
        float *dst = r->data + (size_t)row * dim;
        memmove(dst, r->data + (size_t)row * e->dim, (size_t)dim * sizeof(float));
        if (opts.normalize) pg_embed_normalize(dst, dim);
    }
    r->n = n;
    r->dim = dim;
    r->n_rows = (int32_t)rows;
done:
    free_toks(toks, n);
    free(items);
    if (rc < 0) pg_embed_result_free(r);
    return rc;
}

int pg_rerank(pg_embedder *e, const char *query, size_t query_len, const pg_embed_input *docs, int32_t n,
              int truncate, pg_rerank_result *r, pg_error *err) {
    return pg_rerank_ex(e, query, query_len, docs, n, truncate, NULL, r, err);
}

int pg_rerank_ex(pg_embedder *e, const char *query, size_t query_len, const pg_embed_input *docs, int32_t n,
                 int truncate, const pg_embed_ctl *ctl, pg_rerank_result *r, pg_error *err) {
    memset(r, 0, sizeof *r);
    if (e->pooling != PG_POOL_RANK)
        return pg_error_set(err, PG_EUNSUPPORTED, "model does not support reranking (pooling %s, no classifier head)",
                            pg_pooling_name(e->pooling));
    if (!e->v) return pg_error_set(err, PG_EINVAL, "reranking needs a vocabulary");
    if (n <= 0) return pg_error_set(err, PG_EINVAL, "no documents");
    if (n > (1 << 20)) return pg_error_set(err, PG_EINVAL, "too many documents (%d)", n);
    if (!query && query_len) return pg_error_set(err, PG_EINVAL, "no query");
    const int32_t bos = pg_vocab_bos(e->v), eos = pg_vocab_eos(e->v), sep = pg_vocab_sep(e->v);
    const int32_t lim = e->max_input;
    int32_t **toks = calloc((size_t)n, sizeof *toks);
    item *items = calloc((size_t)n, sizeof *items);
    int32_t *q = malloc((query_len + 8) * sizeof *q);
    r->scores = calloc((size_t)n, sizeof *r->scores);
    r->n_tokens = calloc((size_t)n, sizeof *r->n_tokens);
    float *out = malloc((size_t)n * e->out_dim * sizeof *out);
    int rc = 0;
    if (!toks || !items || !q || !r->scores || !r->n_tokens || !out) {
        rc = pg_error_set(err, PG_ENOMEM, "out of memory");
        goto done;
    }
    int64_t nq = pg_tokenize(e->v, query ? query : "", query_len, 0, 0, q, query_len + 8, err);
    if (nq < 0 || nq > (int64_t)query_len + 8) {
        rc = nq < 0 ? (int)nq : pg_error_set(err, PG_EINVAL, "query tokenizes to too many tokens");
        goto done;
    }
    const int32_t nspecial = (bos >= 0) + 2 * (eos >= 0) + (sep >= 0);
    for (int32_t i = 0; i < n; i++) {
        pg_embed_input d = docs[i];
        int32_t *dt = NULL, nd = 0;
        if (d.tokens) {
            if (d.n_tokens < 0) {
                rc = pg_error_set(err, PG_EINVAL, "document %d: negative token count", i);
                goto done;
            }
            nd = d.n_tokens;
        } else {
            if (!d.text && d.len) {
                rc = pg_error_set(err, PG_EINVAL, "document %d: no text", i);
                goto done;
            }
            dt = malloc((d.len + 8) * sizeof *dt);
            if (!dt) {
                rc = pg_error_set(err, PG_ENOMEM, "out of memory");
                goto done;
            }
            int64_t k = pg_tokenize(e->v, d.text ? d.text : "", d.len, 0, 0, dt, d.len + 8, err);
            if (k < 0 || k > (int64_t)d.len + 8) {
                free(dt);
                rc = k < 0 ? (int)k : pg_error_set(err, PG_EINVAL, "document %d tokenizes to too many tokens", i);
                goto done;
            }
            nd = (int32_t)k;
        }
        const int64_t total = nq + nd + nspecial;
        if (total > lim) {
            if (!truncate || nq + nspecial >= lim) {
                free(dt);
                rc = pg_error_set(err, PG_EINVAL,
                                  "document %d: the query and document have %lld tokens, more than the limit of %d "
                                  "tokens per pair%s",
                                  i, (long long)total, lim, truncate ? " (the query alone fills it)" : " (set truncate to cut the document)");
                goto done;
            }
            nd = lim - (int32_t)nq - nspecial;
        }
        int32_t *t = malloc((size_t)(nq + nd + nspecial) * sizeof *t), k = 0;
        if (!t) {
            free(dt);
            rc = pg_error_set(err, PG_ENOMEM, "out of memory");
            goto done;
        }
        if (bos >= 0) t[k++] = bos;
        memcpy(t + k, q, (size_t)nq * sizeof *t);
        k += (int32_t)nq;
        if (eos >= 0) t[k++] = eos;
        if (sep >= 0) t[k++] = sep;
        memcpy(t + k, d.tokens ? d.tokens : dt, (size_t)nd * sizeof *t);
        k += nd;
        if (eos >= 0) t[k++] = eos;
        free(dt);
        toks[i] = t;
        const int32_t nv = pg_model_hparams(e->m)->n_vocab;
        for (int32_t j = 0; j < k; j++)
            if (t[j] < 0 || t[j] >= nv) {
                rc = pg_error_set(err, PG_EINVAL, "document %d: token id %d is outside the vocabulary (0..%d)", i,
                                  t[j], nv - 1);
                goto done;
            }
        r->n_tokens[i] = k;
        r->prompt_tokens += k;
        items[i] = (item){NULL, NULL, 0, t, k, out + (size_t)i * e->out_dim, 0};
    }
    if ((rc = submit(e, items, n, ctl, err)) < 0) goto done;
    for (int32_t i = 0; i < n; i++) r->scores[i] = out[(size_t)i * e->out_dim];
    r->n = n;
done:
    free_toks(toks, n);
    free(items);
    free(q);
    free(out);
    if (rc < 0) pg_rerank_result_free(r);
    return rc;
}

size_t pg_embed_base64(const float *v, int32_t n, char *out, size_t cap) {
    static const char tb[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const size_t nbytes = (size_t)(n > 0 ? n : 0) * 4, need = (nbytes + 2) / 3 * 4;
    if (!out || cap < need + 1) return need;
    size_t o = 0;
    uint32_t acc = 0;
    int nacc = 0;
    for (size_t i = 0; i < nbytes; i++) {
        uint32_t bits;
        memcpy(&bits, &v[i / 4], 4);
        acc = (acc << 8) | ((bits >> (8 * (i % 4))) & 0xFF); /* little-endian byte order whatever the host */
        if (++nacc == 3) {
            out[o++] = tb[(acc >> 18) & 63];
            out[o++] = tb[(acc >> 12) & 63];
            out[o++] = tb[(acc >> 6) & 63];
            out[o++] = tb[acc & 63];
            acc = 0;
            nacc = 0;
        }
    }
    if (nacc == 1) {
        out[o++] = tb[(acc >> 2) & 63];
        out[o++] = tb[(acc << 4) & 63];
        out[o++] = '=';
        out[o++] = '=';
    } else if (nacc == 2) {
        out[o++] = tb[(acc >> 10) & 63];
        out[o++] = tb[(acc >> 4) & 63];
        out[o++] = tb[(acc << 2) & 63];
        out[o++] = '=';
    }
    out[o] = 0;
    return o;
}
