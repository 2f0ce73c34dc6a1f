/* engine_spec.c - speculative decoding (engine thread).
 *
 * A decoding sequence that speculates adds up to K drafted tokens after its
 * last token; the target model computes all 1 + K positions in the step's
 * one batched forward pass (rows of every sequence together) and gets
 * 1 + K logits rows. The rows are sampled in order, each exactly as a
 * normal decode step would sample it (same sampler state, the next draw of
 * the sequence's RNG stream); while the sampled token equals the draft at
 * that position the next row is valid too (its context is the real one),
 * so the loop goes on; the first token that differs (or the row after the
 * last draft) ends it. A step therefore yields 1 + accepted tokens, and
 * the tokens are the ones decoding without speculation would give:
 * identical greedy AND sampled outputs (batch invariance: a request's
 * output does not depend on whether it speculated, how many drafts were
 * accepted, or what else ran). With deterministic (one-hot) drafts this
 * "sample the target, accept while equal" rule is exactly Leviathan et
 * al.'s rejection sampling (sample/spec_sample.h has the general form and
 * the test of its distribution).
 *
 * Drafts (deterministic, they depend only on the request's own tokens):
 *   ngram  prompt lookup: the most recent earlier occurrence of the last
 *          4 (then 3, then 2) tokens in the prompt + output, and the tokens
 *          that followed it (continued cyclically through the drafts
 *          themselves when the match is close to the end, so a repeating
 *          stream of period P < K still gets K drafts).
 *   draft  a small model with the same vocabulary, greedy, run by the
 *          engine on its pool with its own KV store (e->dkv) indexed by the
 *          sequence's block table (the same block ids as the target's
 *          store). d_computed counts the positions whose draft K/V are
 *          valid; it starts at 0 after admission or preemption (blocks from
 *          the prefix cache hold the target's K/V, the draft's are
 *          recomputed: a catch-up prefill of the draft model, chunked by
 *          max_batched_tokens, no drafts until caught up).
 *
 * KV rollback: the step takes blocks for positions up to n_tokens + K;
 * after the verify n_computed = (position of the last token) + 1 + accepted,
 * K/V past it are garbage and get overwritten when those positions are
 * computed for real; blocks wholly past ceil(n_computed / bs) return to the
 * pool. Prefix-cache commits cover full blocks of n_computed only, i.e.
 * committed tokens, never drafts.
 *
 * Adaptive K: a sequence starts at K = 4 (or the configured maximum if
 * smaller); a verify that accepts every draft doubles K (up to the
 * maximum), one that rejects sets K = accepted + 1; three verifies in a
 * row that accept nothing stop drafting for 16 tokens, then 32, ... up to
 * 256 (retries), reset by a fully accepted verify.
 *
 * Back-off under load: drafting only while the step is a pure decode step
 * (nothing prefilling or waiting) and its decode rows (one per decoding
 * sequence) leave room within spec_max_rows (default 1 + K, i.e. 9 with the
 * automatic K = 8): each candidate gets (spec_max_rows - decoding
 * sequences) / candidates drafts, and nothing when that is below 2 (one
 * draft per sequence doubles the rows for at most one token each). One
 * stream drafts up to K; with the defaults two streams draft 3 each, three
 * 2 each, and from 4 streams on nothing is drafted, so the step is the
 * plain decode step (a step of
 * many rows is compute-bound on a CPU: verifying drafts is no longer
 * nearly free there). */
#include "engine/engine_impl.h"

#include "base/log.h"

#include <stdlib.h>
#include <string.h>

#define NGRAM_MAX 4
#define NGRAM_MIN 2
#define NGRAM_SCAN 16384  /* tokens looked back for a match */
#define SPEC_K_AUTO 8
#define SPEC_K_START 4
#define SPEC_MIN_SHARE 2  /* fewer drafts per sequence than this: not worth the rows (measured: one draft each at
                             4 streams, all accepted, gave 0.95-1.09x) */
#define SPEC_FAILS 3      /* verifies in a row accepting nothing before a back-off */
#define SPEC_RETRY 16     /* tokens of the first back-off; doubles each time, at most 16x */

int pg_spec_mode_parse(const char *s, int has_draft, int *mode) {
    if (!strcmp(s, "off")) *mode = PG_SPEC_OFF;
    else if (!strcmp(s, "ngram")) *mode = PG_SPEC_NGRAM;
    else if (!strcmp(s, "draft") && has_draft) *mode = PG_SPEC_DRAFT;
    else return PG_EINVAL;
    if (has_draft && *mode != PG_SPEC_DRAFT) return PG_EINVAL; /* a draft model given but not used */
    return PG_OK;
}

int eng_spec_create(pg_engine *e, pg_error *err) {
    const pg_engine_config *c = &e->cfg;
    e->n_rows = c->max_seqs;
    if (c->spec_mode == PG_SPEC_OFF) return PG_OK;
    if (c->spec_mode != PG_SPEC_NGRAM && c->spec_mode != PG_SPEC_DRAFT)
        return pg_error_set(err, PG_EINVAL, "engine: unknown speculative mode %d", c->spec_mode);
    if (c->spec_tokens < 0 || c->spec_tokens > PG_SPEC_MAX_K)
        return pg_error_set(err, PG_EINVAL, "engine: speculative tokens must be between 1 and %d (0 = auto), got %d",
                            PG_SPEC_MAX_K, c->spec_tokens);
    if (c->spec_max_rows < 0 || c->spec_max_rows > 4096)
        return pg_error_set(err, PG_EINVAL, "engine: spec_max_rows must be between 0 and 4096, got %d", c->spec_max_rows);
    e->spec_kmax = c->spec_tokens ? c->spec_tokens : SPEC_K_AUTO;
    e->spec_rows = c->spec_max_rows ? c->spec_max_rows : 1 + e->spec_kmax;
    e->n_rows = c->max_seqs * (1 + e->spec_kmax);
    if (c->spec_mode == PG_SPEC_NGRAM) {
        if (c->draft_model) return pg_error_set(err, PG_EINVAL, "engine: a draft model needs speculative mode 'draft'");
        return PG_OK;
    }
    const pg_model *d = c->draft_model;
    if (!d) return pg_error_set(err, PG_EINVAL, "engine: speculative mode 'draft' needs a draft model");
    const pg_hparams *dh = pg_model_hparams(d);
    if (!(pg_model_caps(d) & PG_CAP_GENERATE))
        return pg_error_set(err, PG_EINVAL, "engine: the draft model cannot generate (an encoder?)");
    if (dh->n_vocab != e->n_vocab)
        return pg_error_set(err, PG_EINVAL,
                            "engine: the draft model's vocabulary has %d tokens but the model's %d; a draft model must "
                            "share the model's vocabulary",
                            dh->n_vocab, e->n_vocab);
    { /* same tokens, id by id (a draft that means other things by the same ids drafts nothing useful) */
        pg_vocab *dv = NULL;
        pg_error verr = {0};
        if (pg_vocab_load(pg_model_gguf(d), &dv, &verr) < 0)
            return pg_error_set(err, PG_EINVAL, "engine: the draft model's vocabulary cannot be read: %s", verr.msg);
        int32_t bad = pg_vocab_n_tokens(dv) == pg_vocab_n_tokens(e->v) ? -1 : 0;
        for (int32_t id = 0; bad < 0 && id < pg_vocab_n_tokens(dv); id++) {
            size_t la = 0, lb = 0;
            const char *ta = pg_vocab_token_text(dv, id, &la), *tb = pg_vocab_token_text(e->v, id, &lb);
            if (la != lb || (la && memcmp(ta, tb, la) != 0)) bad = id;
        }
        pg_vocab_free(dv);
        if (bad >= 0)
            return pg_error_set(err, PG_EINVAL,
                                "engine: the draft model's vocabulary differs from the model's (token %d); a draft "
                                "model must share the model's vocabulary",
                                bad);
    }
    if (e->kv_window > 0)
        return pg_error_set(err, PG_EUNSUPPORTED,
                            "engine: a draft model is not supported with a sliding-window model (use --spec ngram)");
    e->d_ctx = dh->n_ctx_train > 0 && dh->n_ctx_train < e->n_ctx ? dh->n_ctx_train : e->n_ctx;
    int rc;
    if ((rc = pg_kv_store_create(d, e->n_blocks, e->bs, c->kv_type, &e->dkv, err)) < 0) return rc;
    if ((rc = pg_forward_create(d, e->pool, c->max_batched_tokens, c->max_seqs, e->d_ctx, &e->dfwd, err)) < 0)
        return rc;
    size_t T = (size_t)c->max_batched_tokens, S = (size_t)c->max_seqs;
    e->dlogits = malloc(S * (size_t)e->n_vocab * sizeof(float));
    e->d_tok = malloc(T * sizeof(int32_t));
    e->d_pos = malloc(T * sizeof(int32_t));
    e->d_seq = malloc(T * sizeof(int32_t));
    e->d_out = malloc(S * sizeof(int32_t));
    e->d_seqs = malloc(S * sizeof(pg_batch_seq));
    e->dsched = malloc(S * sizeof(eng_seq *));
    if (!e->dlogits || !e->d_tok || !e->d_pos || !e->d_seq || !e->d_out || !e->d_seqs || !e->dsched)
        return pg_error_set(err, PG_ENOMEM, "engine: out of memory for the draft model's buffers");
    return PG_OK;
}

void eng_spec_free(pg_engine *e) {
    pg_forward_destroy(e->dfwd);
    pg_kv_store_destroy(e->dkv);
    free(e->dlogits);
    free(e->d_tok);
    free(e->d_pos);
    free(e->d_seq);
    free(e->d_out);
    free(e->d_seqs);
    free(e->dsched);
}

int eng_spec_seq(pg_engine *e, eng_seq *s) {
    s->spec_j = -1;
    if (e->cfg.spec_mode == PG_SPEC_OFF || s->g->no_spec || s->g->gram) return PG_OK;
    s->draft = malloc(PG_SPEC_MAX_K * sizeof(int32_t));
    if (!s->draft) return PG_ENOMEM;
    s->spec_k = SPEC_K_START < e->spec_kmax ? SPEC_K_START : e->spec_kmax;
    return PG_OK;
}

void eng_spec_plan_step(pg_engine *e) {
    e->spec_share = 0;
    if (e->cfg.spec_mode == PG_SPEC_OFF || e->n_waiting > 0) return;
    int32_t ndec = 0, ncand = 0;
    for (int32_t i = 0; i < e->n_running; i++) {
        const eng_seq *s = e->running[i];
        if (s->n_tokens - s->n_computed != 1) return; /* a prefill in the step: compute-bound already */
        ndec++;
        if (s->draft && s->n_gen >= s->spec_retry) ncand++;
    }
    if (ncand == 0 || ndec >= e->spec_rows) return;
    e->spec_share = (e->spec_rows - ndec) / ncand;
    if (e->spec_share < SPEC_MIN_SHARE && e->spec_kmax >= SPEC_MIN_SHARE) e->spec_share = 0;
}

/* Prompt lookup: drafts after the most recent earlier occurrence of the
 * last g tokens (g = NGRAM_MAX .. NGRAM_MIN). Returns the count (<= k). */
static int32_t ngram_draft(const int32_t *t, int32_t n, int32_t *out, int32_t k) {
    const int32_t lo = n > NGRAM_SCAN ? n - NGRAM_SCAN : 0;
    for (int32_t g = NGRAM_MAX; g >= NGRAM_MIN; g--) {
        if (n < g + 1) continue;
        const int32_t *key = t + n - g;
        for (int32_t i = n - g - 1; i >= lo; i--) {
            if (t[i] != key[0] || memcmp(t + i, key, (size_t)g * sizeof(int32_t)) != 0) continue;
            for (int32_t c = 0; c < k; c++) {
                const int32_t src = i + g + c; /* < n + c: the sequence, then the drafts themselves */
                out[c] = src < n ? t[src] : out[src - n];
            }
            return k;
        }
    }
    return 0;
}

int32_t eng_spec_plan(pg_engine *e, eng_seq *s, int32_t lim) {
    if (s->n_gen < s->spec_retry) return 0;
    int32_t k = s->spec_k < lim ? s->spec_k : lim;
    const int32_t left = s->g->max_tokens - s->n_gen - 1; /* a verify yields up to k + 1 tokens */
    if (k > left) k = left;
    if (e->dfwd && k > e->d_ctx - s->n_tokens) k = e->d_ctx - s->n_tokens;
    if (k <= 0) return 0;
    if (e->dfwd) return k; /* drafted by eng_spec_run_draft once every sequence is scheduled */
    int32_t n = ngram_draft(s->tokens, s->n_tokens, s->draft, k);
    memcpy(s->tokens + s->n_tokens, s->draft, (size_t)n * sizeof(int32_t));
    return n;
}

static int32_t argmax_row(const float *r, int32_t n) {
    int32_t best = 0;
    for (int32_t i = 1; i < n; i++)
        if (r[i] > r[best]) best = i;
    return best;
}

/* No drafts for s this step after all (keeps its one decode token). */
static void withdraw(eng_seq *s) {
    s->sched_n -= s->n_draft;
    s->n_draft = 0;
}

void eng_spec_run_draft(pg_engine *e) {
    int32_t ns = 0, maxd = 0;
    for (int32_t i = 0; i < e->n_running; i++) {
        eng_seq *s = e->running[i];
        if (s->sched_n && s->n_draft > 0) e->dsched[ns++] = s;
    }
    if (ns == 0) return;
    /* 1. catch-up: positions [d_computed, n_tokens) of each, the last row
     * giving the first draft; what does not fit in the batch waits */
    const int32_t cap = e->cfg.max_batched_tokens;
    int32_t nt = 0, no = 0, nb = 0;
    for (int32_t i = 0; i < ns; i++) {
        eng_seq *s = e->dsched[i];
        int32_t from = s->d_computed, c = s->n_tokens - from;
        if (c > cap - nt) {
            c = cap - nt;
            withdraw(s);
        }
        if (c <= 0) continue;
        for (int32_t j = 0; j < c; j++) {
            e->d_tok[nt] = s->tokens[from + j];
            e->d_pos[nt] = from + j;
            e->d_seq[nt] = nb;
            nt++;
        }
        e->d_seqs[nb].block_table = s->blocks;
        e->d_seqs[nb].n_blocks = s->n_blocks;
        nb++;
        s->d_computed = from + c;
        if (s->n_draft > 0) e->d_out[no++] = nt - 1;
    }
    pg_error err = {0};
    if (nt > 0) {
        pg_batch b = {nt, e->d_tok, e->d_pos, e->d_seq, nb, e->d_seqs, no, e->d_out};
        if (pg_forward_run(e->dfwd, e->dkv, &b, e->dlogits, &err) < 0) goto fail;
    }
    int32_t r = 0;
    for (int32_t i = 0; i < ns; i++) {
        eng_seq *s = e->dsched[i];
        if (s->n_draft == 0) continue;
        s->draft[0] = argmax_row(e->dlogits + (size_t)r++ * (size_t)e->n_vocab, e->n_vocab);
        if (s->n_draft > maxd) maxd = s->n_draft;
    }
    /* 2. one token per sequence and pass: draft j-1 at position n_tokens + j - 1 */
    for (int32_t j = 1; j < maxd; j++) {
        nt = 0;
        for (int32_t i = 0; i < ns; i++) {
            eng_seq *s = e->dsched[i];
            if (s->n_draft <= j) continue;
            e->d_tok[nt] = s->draft[j - 1];
            e->d_pos[nt] = s->n_tokens + j - 1;
            e->d_seq[nt] = nt;
            e->d_seqs[nt].block_table = s->blocks;
            e->d_seqs[nt].n_blocks = s->n_blocks;
            e->d_out[nt] = nt;
            nt++;
        }
        pg_batch b = {nt, e->d_tok, e->d_pos, e->d_seq, nt, e->d_seqs, nt, e->d_out};
        if (pg_forward_run(e->dfwd, e->dkv, &b, e->dlogits, &err) < 0) goto fail;
        r = 0;
        for (int32_t i = 0; i < ns; i++) {
            eng_seq *s = e->dsched[i];
            if (s->n_draft <= j) continue;
            s->draft[j] = argmax_row(e->dlogits + (size_t)r++ * (size_t)e->n_vocab, e->n_vocab);
            s->d_computed = s->n_tokens + j;
        }
    }
    for (int32_t i = 0; i < ns; i++) {
        eng_seq *s = e->dsched[i];
        if (s->n_draft > 0) memcpy(s->tokens + s->n_tokens, s->draft, (size_t)s->n_draft * sizeof(int32_t));
    }
    return;
fail:
    PG_ERROR("engine: draft model forward pass failed: %s (no drafts this step)", err.msg);
    for (int32_t i = 0; i < ns; i++) {
        eng_seq *s = e->dsched[i];
        s->d_computed = 0;
        if (s->n_draft > 0) withdraw(s);
    }
}

int eng_spec_verify(pg_engine *e, eng_seq *s, const float *rows, double t) {
    const int32_t nd = s->n_draft, p0 = s->n_computed; /* p0: position of the last real token */
    s->sched_n = 0;
    s->spec_drafted += (uint32_t)nd;
    e->st_sdraft += (uint64_t)nd;
    e->st_sver++;
    int32_t m = 0;
    for (int32_t j = 0; j <= nd; j++) {
        s->spec_j = j < nd ? j : -1;
        if (eng_after_sample(e, s, rows + (size_t)j * (size_t)e->n_vocab, t)) return 1; /* finished: s is gone */
        if (j == nd || s->tokens[s->n_tokens - 1] != s->draft[j]) break;
        m++;
    }
    s->spec_j = -1;
    s->n_draft = 0;
    s->n_computed = p0 + 1 + m; /* rollback: K/V past the accepted drafts are not kept */
    if (s->d_computed > s->n_computed) s->d_computed = s->n_computed;
    eng_trim_blocks(e, s);
    eng_commit_full(e, s);
    eng_drop_window_blocks(e, s);
    /* adapt K */
    if (m == nd) {
        s->spec_k = 2 * s->spec_k < e->spec_kmax ? 2 * s->spec_k : e->spec_kmax;
        s->spec_backoffs = 0;
    } else {
        s->spec_k = m + 1;
    }
    if (m > 0) {
        s->spec_fail = 0;
    } else if (++s->spec_fail >= SPEC_FAILS) {
        int32_t sh = s->spec_backoffs < 4 ? s->spec_backoffs : 4;
        s->spec_retry = s->n_gen + (SPEC_RETRY << sh);
        s->spec_backoffs++;
        s->spec_fail = 0;
    }
    return 0;
}

void eng_spec_finish(pg_engine *e, eng_seq *s) {
    if (s->spec_drafted == 0) return;
    uint32_t b = (uint32_t)((uint64_t)s->spec_accepted * PG_SPEC_HIST / s->spec_drafted);
    if (b >= PG_SPEC_HIST) b = PG_SPEC_HIST - 1;
    e->st_shist[b]++;
    s->spec_drafted = 0; /* counted once */
}
