/* engine_check.c - pg_engine_check: the engine's invariants (lists
 * ordered and consistent with the states, block tables consistent with the
 * block pool's refcounts, grammar state matching the request's
 * constraint), checked from the outside in tests or after
 * every step (cfg.check_steps). */
#include "engine/engine_impl.h"

#include <stdio.h>
#include <stdlib.h>

#define CHECK_FAIL(...)                                                                                                \
    do {                                                                                                               \
        snprintf(msg, cap, __VA_ARGS__);                                                                               \
        free(refs);                                                                                                    \
        return -1;                                                                                                     \
    } while (0)

static int check_seq(const pg_engine *e, const eng_seq *s, int32_t *refs, char *msg, size_t cap) {
    (void)msg;
    (void)cap;
    if (s->n_tokens < s->g->n_prompt || s->n_tokens > s->cap_tokens) return -1;
    if (s->n_gen != s->n_tokens - s->g->n_prompt) return -2;
    if (s->n_computed < 0 || s->n_computed > s->n_tokens - 1) return -3;
    if (s->n_blocks < 0 || s->n_blocks > s->cap_blocks) return -4;
    if (s->n_committed > s->n_blocks || s->n_committed > s->n_computed / e->bs + 0) return -5;
    if (s->sched_n != 0) return -6;
    if (s->n_dropped < 0 || s->n_dropped > s->n_committed) return -9;
    /* speculation: nothing drafted between steps, draft K/V never ahead of
     * the committed positions, no drafting for grammar / opted-out requests */
    if (s->n_draft != 0 || s->spec_j != -1) return -17;
    if (s->draft && (s->g->gram || s->g->no_spec || e->cfg.spec_mode == PG_SPEC_OFF)) return -18;
    if (s->d_computed < 0 || s->d_computed > s->n_computed) return -19;
    if (s->draft && (s->spec_k < 1 || s->spec_k > e->spec_kmax)) return -20;
    /* grammar: unconstrained sequences carry nothing; constrained ones a
     * mask and either a matcher (the first-step one only before the first
     * token) or, lazy and not yet triggered, the tail buffer */
    if (!s->g->gram) {
        if (s->gm || s->gm_first || s->mask || s->mask_first || s->lz) return -11;
    } else {
        if (!s->mask) return -12;
        if (s->g->n_trig == 0 && (!s->gm || (s->gm_first != NULL) != (s->n_gen == 0))) return -13;
        if (s->g->n_trig > 0 && (!s->lz || s->gm_first || (s->gm && s->lz_len))) return -14;
        if (s->lz && s->lz_len >= s->g->trig_max) return -15;
        if ((s->mask_first != NULL) != (s->gm_first != NULL)) return -16;
    }
    for (int32_t i = 0; i < s->n_blocks; i++) {
        int32_t id = s->blocks[i];
        if (i < s->n_dropped) {
            if (id != -1) return -10;
            continue;
        }
        if (id < 0 || id >= e->n_blocks) return -7;
        for (int32_t j = 0; j < i; j++)
            if (s->blocks[j] == id) return -8;
        refs[id]++;
    }
    return 0;
}

int pg_engine_check(pg_engine *e, char *msg, size_t cap) {
    int32_t *refs = calloc((size_t)e->n_blocks, sizeof(int32_t));
    if (!refs) {
        snprintf(msg, cap, "out of memory");
        return -1;
    }
    if (pg_kvb_check(e->kvb, msg, cap) < 0 || (e->pcd && pg_pcd_check(e->pcd, msg, cap) < 0)) {
        free(refs);
        return -1;
    }
    if (e->n_running < 0 || e->n_running > e->cfg.max_seqs) CHECK_FAIL("running count %d", e->n_running);
    for (int32_t i = 0; i < e->n_running; i++) {
        const eng_seq *s = e->running[i];
        if (s->state != SEQ_RUNNING) CHECK_FAIL("running[%d] in state %d", i, s->state);
        if (i > 0 && !eng_seq_before(e->running[i - 1], s)) CHECK_FAIL("running list out of order at %d", i);
        int r = check_seq(e, s, refs, msg, cap);
        if (r < 0) CHECK_FAIL("running request %llu choice %d: check %d failed", (unsigned long long)s->g->id, s->index, r);
        int32_t want = (s->n_computed + e->bs - 1) / e->bs;
        if (s->n_blocks != want)
            CHECK_FAIL("running request %llu: %d blocks for %d computed positions", (unsigned long long)s->g->id,
                       s->n_blocks, s->n_computed);
    }
    int32_t nw = 0;
    for (const eng_seq *s = e->wait_head; s; s = s->wnext) {
        if (s->state != SEQ_WAITING) CHECK_FAIL("waiting sequence in state %d", s->state);
        if (s->wnext && !eng_seq_before(s, s->wnext)) CHECK_FAIL("waiting list out of order");
        if (s->wnext && s->wnext->wprev != s) CHECK_FAIL("waiting list links broken");
        if (s->n_blocks || s->n_computed) CHECK_FAIL("waiting sequence holds %d blocks", s->n_blocks);
        int r = check_seq(e, s, refs, msg, cap);
        if (r < 0) CHECK_FAIL("waiting request %llu choice %d: check %d failed", (unsigned long long)s->g->id, s->index, r);
        nw++;
    }
    if (nw != e->n_waiting) CHECK_FAIL("waiting count %d but %d listed", e->n_waiting, nw);
    /* paused: out of both lists; blocks kept whole (as when running) or none */
    int32_t np = 0;
    for (const eng_seq *s = e->pause_head; s; s = s->wnext) {
        if (s->state != SEQ_PAUSED) CHECK_FAIL("paused sequence in state %d", s->state);
        if (!s->g->paused) CHECK_FAIL("request %llu not paused but its sequence is", (unsigned long long)s->g->id);
        if (s->wnext && s->wnext->wprev != s) CHECK_FAIL("paused list links broken");
        int r = check_seq(e, s, refs, msg, cap);
        if (r < 0) CHECK_FAIL("paused request %llu choice %d: check %d failed", (unsigned long long)s->g->id, s->index, r);
        int32_t want = (s->n_computed + e->bs - 1) / e->bs;
        if (s->n_blocks != want)
            CHECK_FAIL("paused request %llu: %d blocks for %d computed positions", (unsigned long long)s->g->id,
                       s->n_blocks, s->n_computed);
        np++;
    }
    if (np != e->n_paused) CHECK_FAIL("paused count %d but %d listed", e->n_paused, np);
    for (int32_t i = 0; i < e->n_running; i++)
        if (e->running[i]->g->paused) CHECK_FAIL("request %llu is paused but runs", (unsigned long long)e->running[i]->g->id);
    for (const eng_seq *s = e->wait_head; s; s = s->wnext)
        if (s->g->paused) CHECK_FAIL("request %llu is paused but waits", (unsigned long long)s->g->id);
    int32_t active = 0;
    for (int32_t id = 0; id < e->n_blocks; id++) {
        int st = pg_kvb_state(e->kvb, id);
        int32_t rc = pg_kvb_refcount(e->kvb, id);
        if (rc != refs[id]) CHECK_FAIL("block %d: refcount %d but %d table references", id, rc, refs[id]);
        if ((refs[id] > 0) != (st == PG_KVB_ACTIVE)) CHECK_FAIL("block %d: state %d with %d references", id, st, refs[id]);
        active += refs[id] > 0;
    }
    if (active != pg_kvb_n_active(e->kvb)) CHECK_FAIL("active blocks %d vs %d", active, pg_kvb_n_active(e->kvb));
    free(refs);
    return 0;
}