/* engine_gram.c - structured outputs in the engine (engine.h "Grammar"):
 * per-sequence grammar matchers, the step's token masks, the
 * leading-space rule and lazy triggers.
 *
 * Per request (submit): the engine holds one reference to the compiled
 * grammar (pg_gram_ref) and copies the triggers. Per sequence: a matcher
 * over the engine's grammar vocabulary (e->tv) and a mask of
 * ceil(n_vocab / 32) words, allocated at submit and handed to the
 * sequence's sampler once (pg_sampler_set_allowed borrows it); a lazy
 * sequence instead gets a small buffer holding the tail of its generated
 * bytes and no matcher until a trigger appears.
 *
 * Per step (engine thread): right after the forward pass, the sequences
 * that sample this step under a grammar compute their masks on the
 * engine's thread pool (the workers that just ran the forward pass, idle
 * now): each worker takes the next sequence from a shared counter, so
 * sequences with different grammars run in parallel and those of one
 * grammar serialise on its mutex. Then every sequence samples in its
 * usual order (batch invariance: a sequence's mask depends only on its
 * own matcher). The mask could also be computed during the forward pass,
 * but the forward already uses every core of the pool, so overlapping it
 * would only trade places; after the forward it costs wall time of
 * max(mask) / threads instead of the sum. Unconstrained sequences are
 * never looked at.
 *
 * Leading space: the first step of a (non-lazy) constrained sequence
 * masks with a second matcher over e->tv_strip, the vocabulary whose
 * pieces lose one leading space; the sampled token advances the main
 * matcher by its stripped bytes, and the detokenizer's first output loses
 * that space (lead_strip). Both vocabularies are built once, on the first
 * request with a grammar.
 *
 * Preemption / recompute: the matcher has consumed exactly the generated
 * tokens; recompute re-prefills them without sampling, so it is neither
 * reset nor fed again. Memory in steady state: the matcher's own (its
 * Earley sets grow with the output); nothing here allocates per step. */
#include "engine/engine_impl.h"

#include "base/log.h"
#include "base/pool.h"

#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------- submit */

int eng_gram_validate(const pg_request *r, pg_error *err) {
    if (r->n_grammar_triggers == 0) return PG_OK;
    if (!r->grammar) return pg_error_set(err, PG_EINVAL, "grammar triggers given without a grammar");
    if (r->n_grammar_triggers < 0 || r->n_grammar_triggers > PG_ENGINE_MAX_TRIGGERS || !r->grammar_triggers)
        return pg_error_set(err, PG_EINVAL, "at most %d grammar triggers", PG_ENGINE_MAX_TRIGGERS);
    for (int32_t i = 0; i < r->n_grammar_triggers; i++) {
        const char *t = r->grammar_triggers[i];
        if (!t || !t[0] || strlen(t) > PG_ENGINE_MAX_TRIGGER_LEN)
            return pg_error_set(err, PG_EINVAL, "grammar trigger %d must be a non-empty string of at most %d bytes", i,
                                PG_ENGINE_MAX_TRIGGER_LEN);
    }
    return PG_OK;
}

/* Piece of token i as the grammar sees it, or empty (never allowed) for
 * special tokens; into a malloc'd buffer grown as needed. */
static int64_t piece(const pg_vocab *v, int32_t id, char **buf, size_t *cap) {
    int ty = pg_vocab_token_type(v, id);
    if (ty == PG_TOKTYPE_CONTROL || ty == PG_TOKTYPE_UNKNOWN || ty == PG_TOKTYPE_UNUSED) return 0;
    int64_t n = pg_token_to_piece(v, id, *buf, *cap, 0);
    if (n > (int64_t)*cap) {
        char *nb = realloc(*buf, (size_t)n);
        if (!nb) return -1;
        *buf = nb;
        *cap = (size_t)n;
        n = pg_token_to_piece(v, id, *buf, *cap, 0);
    }
    return n;
}

/* e->tv_strip: every piece without one leading space (" x" -> "x";
 * " " alone -> empty, never allowed); end tokens as in e->tv. */
static pg_gram_vocab *strip_vocab(pg_engine *e, pg_error *err) {
    const int32_t n = pg_vocab_n_tokens(e->v);
    const char **toks = calloc((size_t)n + 1, sizeof *toks);
    size_t *lens = calloc((size_t)n + 1, sizeof *lens);
    size_t *offs = calloc((size_t)n + 1, sizeof *offs);
    int32_t *eog = malloc(((size_t)n + 1) * sizeof *eog);
    size_t bcap = 1 << 16, used = 0, pcap = 256;
    char *bytes = malloc(bcap), *pb = malloc(pcap);
    pg_gram_vocab *tv = NULL;
    int32_t n_eog = 0;
    if (!toks || !lens || !offs || !eog || !bytes || !pb) goto done;
    for (int32_t i = 0; i < n; i++) {
        if (pg_vocab_is_eog(e->v, i)) {
            eog[n_eog++] = i;
            continue;
        }
        int64_t k = piece(e->v, i, &pb, &pcap);
        if (k < 0) goto done;
        const char *p = pb;
        if (k > 0 && p[0] == ' ') p++, k--;
        if (k == 0) continue;
        if (used + (size_t)k > bcap) {
            while (used + (size_t)k > bcap) bcap *= 2;
            char *nb = realloc(bytes, bcap);
            if (!nb) goto done;
            bytes = nb;
        }
        memcpy(bytes + used, p, (size_t)k);
        offs[i] = used;
        lens[i] = (size_t)k;
        toks[i] = ""; /* non-NULL marker; pointers fixed below (bytes may move) */
        used += (size_t)k;
    }
    for (int32_t i = 0; i < n; i++)
        if (toks[i]) toks[i] = bytes + offs[i];
    tv = pg_gram_vocab_create_raw(toks, lens, n, eog, n_eog, err);
done:
    if (!tv && err && !err->code) pg_error_set(err, PG_ENOMEM, "out of memory for the grammar vocabulary");
    free(toks);
    free(lens);
    free(offs);
    free(eog);
    free(bytes);
    free(pb);
    return tv;
}

static int ensure_vocab(pg_engine *e, pg_error *err) {
    int rc = PG_OK;
    pthread_mutex_lock(&e->tv_mu);
    if (!e->tv) {
        pg_gram_vocab *tv = pg_gram_vocab_create(e->v, err);
        pg_gram_vocab *ts = tv ? strip_vocab(e, err) : NULL;
        if (!tv || !ts) {
            pg_gram_vocab_free(tv);
            pg_gram_vocab_free(ts);
            rc = err && err->code ? err->code : PG_ENOMEM;
        } else {
            e->tv_strip = ts;
            e->tv = tv;
            PG_INFO("engine: grammar vocabulary built (%d tokens)", pg_gram_vocab_n(tv));
        }
    }
    pthread_mutex_unlock(&e->tv_mu);
    return rc;
}

int eng_gram_group(pg_engine *e, const pg_request *r, eng_group *g, pg_error *err) {
    if (!r->grammar) return PG_OK;
    int rc = ensure_vocab(e, err);
    if (rc < 0) return rc;
    g->gram = r->grammar;
    pg_gram_ref_hold(g->gram);
    if (r->n_grammar_triggers > 0) {
        int32_t n = r->n_grammar_triggers;
        g->trig = calloc((size_t)n, sizeof *g->trig);
        g->trig_len = calloc((size_t)n, sizeof *g->trig_len);
        if (!g->trig || !g->trig_len) return pg_error_set(err, PG_ENOMEM, "out of memory");
        g->n_trig = n;
        for (int32_t i = 0; i < n; i++) {
            g->trig_len[i] = strlen(r->grammar_triggers[i]);
            if (!(g->trig[i] = strdup(r->grammar_triggers[i]))) return pg_error_set(err, PG_ENOMEM, "out of memory");
            if (g->trig_len[i] > g->trig_max) g->trig_max = g->trig_len[i];
        }
    }
    return PG_OK;
}

int eng_gram_seq(pg_engine *e, eng_seq *s) {
    eng_group *g = s->g;
    if (!g->gram) return PG_OK;
    e->mask_words = ((size_t)e->n_vocab + 31) / 32;
    /* the model's rows may outnumber the vocabulary's tokens: the words
     * past the grammar vocabulary's stay zero (never allowed) */
    if (!(s->mask = calloc(e->mask_words, sizeof *s->mask))) return PG_ENOMEM;
    pg_grammar *gr = pg_gram_ref_grammar(g->gram);
    if (g->n_trig > 0) {
        s->lz = malloc(g->trig_max + TEXT_CAP);
        return s->lz ? PG_OK : PG_ENOMEM;
    }
    s->gm = pg_gmatch_create(gr, e->tv);
    s->gm_first = pg_gmatch_create(gr, e->tv_strip);
    if (!s->gm || !s->gm_first) return PG_ENOMEM;
    pg_sampler_set_allowed(s->smp, s->mask);
    return PG_OK;
}

void eng_gram_seq_free(eng_seq *s) {
    pg_gmatch_destroy(s->gm);
    pg_gmatch_destroy(s->gm_first);
    free(s->mask);
    free(s->lz);
    s->gm = s->gm_first = NULL;
    s->mask = NULL;
    s->lz = NULL;
}

void eng_gram_free(pg_engine *e) {
    pg_gram_vocab_free(e->tv);
    pg_gram_vocab_free(e->tv_strip);
    e->tv = e->tv_strip = NULL;
}

/* ------------------------------------------------------------- step */

static void mask_worker(void *arg, int ith, int nth) {
    (void)ith;
    (void)nth;
    pg_engine *e = arg;
    for (;;) {
        int i = __atomic_fetch_add(&e->gnext, 1, __ATOMIC_RELAXED);
        if (i >= e->n_gsched) break;
        eng_seq *s = e->gsched[i];
        pg_gmatch_mask(s->gm_first ? s->gm_first : s->gm, s->mask);
    }
}

void eng_gram_masks(pg_engine *e, int32_t ns) {
    int32_t n = 0;
    for (int32_t i = 0; i < ns; i++) {
        eng_seq *s = e->sched[i];
        if (s->sched_row >= 0 && s->gm) e->gsched[n++] = s;
    }
    if (n == 0) return;
    e->n_gsched = n;
    e->gnext = 0;
    if (n == 1 || pg_pool_size(e->pool) <= 1) mask_worker(e, 0, 1);
    else pg_pool_run(e->pool, mask_worker, e);
    e->n_gsched = 0;
}

/* Lazy: append the token's bytes to the tail buffer and look for a
 * trigger that ends inside them. 1 done, 0 go on, < 0 error. */
static int lazy_feed(pg_engine *e, eng_seq *s, int32_t tok, const char **msg) {
    eng_group *g = s->g;
    char *tail = s->lz + s->lz_len;
    int64_t k = 0;
    int ty = pg_vocab_token_type(e->v, tok);
    if (!(ty == PG_TOKTYPE_CONTROL || ty == PG_TOKTYPE_UNKNOWN || ty == PG_TOKTYPE_UNUSED)) {
        k = pg_token_to_piece(e->v, tok, tail, TEXT_CAP, 0);
        if (k > TEXT_CAP) k = TEXT_CAP; /* a piece longer than TEXT_CAP is cut (none exists in practice) */
    }
    size_t total = s->lz_len + (size_t)k;
    size_t best = (size_t)-1;
    for (int32_t i = 0; i < g->n_trig; i++) {
        size_t tl = g->trig_len[i];
        if (tl > total) continue;
        size_t from = s->lz_len + 1 > tl ? s->lz_len + 1 - tl : 0; /* matches ending in the new bytes */
        for (size_t p = from; p + tl <= total && p < best; p++)
            if (s->lz[p] == g->trig[i][0] && !memcmp(s->lz + p, g->trig[i], tl)) {
                best = p;
                break;
            }
    }
    if (best == (size_t)-1) {
        size_t keep = g->trig_max - 1;
        if (total > keep) {
            memmove(s->lz, s->lz + total - keep, keep);
            s->lz_len = keep;
        } else {
            s->lz_len = total;
        }
        return 0;
    }
    s->gm = pg_gmatch_create(pg_gram_ref_grammar(g->gram), e->tv);
    if (!s->gm) {
        *msg = "out of memory for the grammar matcher";
        return PG_ENOMEM;
    }
    if (pg_gmatch_accept_bytes(s->gm, s->lz + best, total - best) < 0) {
        *msg = "the output after the grammar trigger does not match the grammar";
        return PG_EINVAL;
    }
    s->lz_len = 0;
    pg_sampler_set_allowed(s->smp, s->mask);
    return pg_gmatch_is_done(s->gm) ? 1 : 0;
}

int eng_gram_accept(pg_engine *e, eng_seq *s, int32_t tok, const char **msg) {
    if (!s->gm) return s->lz ? lazy_feed(e, s, tok, msg) : 0;
    if (pg_vocab_is_eog(e->v, tok)) return 1; /* only allowed where the grammar accepts */
    if (s->gm_first) {
        int rc = pg_gmatch_accept_token(s->gm_first, tok);
        pg_gmatch_destroy(s->gm_first);
        s->gm_first = NULL;
        if (rc == PG_OK) {
            char buf[512], *big = NULL;
            const char *p = buf;
            int64_t k = pg_token_to_piece(e->v, tok, buf, sizeof buf, 0);
            if (k > (int64_t)sizeof buf) { /* a long piece: first token only, so one allocation is fine */
                if (!(big = malloc((size_t)k))) k = 0;
                else k = pg_token_to_piece(e->v, tok, big, (size_t)k, 0), p = big;
            }
            if (k > 0 && p[0] == ' ') {
                p++, k--;
                s->lead_strip = 1;
            }
            rc = k > 0 ? pg_gmatch_accept_bytes(s->gm, p, (size_t)k) : PG_EINVAL;
            free(big);
        }
        if (rc < 0) {
            PG_ERROR("engine: the grammar rejected sampled token %d (first token)", tok);
            *msg = "internal error: the grammar rejected a sampled token";
            return PG_EINVAL;
        }
    } else if (pg_gmatch_accept_token(s->gm, tok) < 0) {
        PG_ERROR("engine: the grammar rejected sampled token %d", tok);
        *msg = "internal error: the grammar rejected a sampled token";
        return PG_EINVAL;
    }
    return pg_gmatch_is_done(s->gm) ? 1 : 0;
}

void eng_gram_strip(eng_seq *s, char *buf, int64_t *k) {
    if (!s->lead_strip || *k <= 0) return;
    s->lead_strip = 0;
    if (buf[0] == ' ') {
        memmove(buf, buf + 1, (size_t)(*k - 1));
        (*k)--;
    }
}
