/* toolcall_stream.c - the incremental parser (see toolcall.h): each piece
 * is appended and the text re-read in PARTIAL mode from the stream's last
 * resume point (toolcall.c); the growth of content, reasoning and calls
 * since the last piece becomes events. At the end the text is read in
 * FINAL mode. The reads' outputs must extend what was sent: checked, and
 * a violation (a parser bug, never bad input) aborts. */
#include "server/toolcall_impl.h"

#include "base/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct pg_tc_stream {
    pg_tc_style st;
    unsigned flags;
    tbuf text;
    size_t sent_content, sent_reasoning, sent_calls; /* totals sent as events */
    /* Resuming: reads start at ck; what came before it is frozen: fz_*
     * bytes / calls of the totals (cur holds only what follows ck). */
    ckpt ck;
    size_t fz_content, fz_reasoning, fz_calls;
    int fz_has_reasoning;
    pres cur;             /* the last read (relative to the frozen part); events point into it */
    size_t cur_fz_content, cur_fz_reasoning, cur_fz_calls; /* the frozen counts cur was read with */
    size_t n_ev;
    pg_tc_event *evx;
    size_t evx_cap;
    int ended;
};

pg_tc_stream *pg_tc_stream_create(const pg_tc_style *st, unsigned flags) {
    pg_tc_stream *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->st = *st;
    s->flags = flags;
    return s;
}

void pg_tc_stream_destroy(pg_tc_stream *s) {
    if (!s) return;
    free(s->text.p);
    pg_tc_pres_free(&s->cur);
    free(s->evx);
    free(s);
}

size_t pg_tc_stream_n_calls(const pg_tc_stream *s) { return s->sent_calls; }

static int push_ev(pg_tc_stream *s, pg_tc_ev_kind k, int32_t idx, const char *t, size_t len) {
    if (s->n_ev >= s->evx_cap) {
        size_t c = s->evx_cap ? s->evx_cap * 2 : 16;
        pg_tc_event *q = realloc(s->evx, c * sizeof *q);
        if (!q) return PG_ENOMEM;
        s->evx = q;
        s->evx_cap = c;
    }
    s->evx[s->n_ev++] = (pg_tc_event){.kind = k, .index = idx, .text = t, .len = len};
    return 0;
}

/* A stream read's output must extend what was sent: a broken parser
 * invariant, never bad input. now_rel / old_rel: the new and the previous
 * read's text after their frozen parts (fz_now >= fz_old); sent: total. */
static void check_prefix(const char *what, size_t sent, const tbuf *now_rel, size_t fz_now, const tbuf *old_rel,
                         size_t fz_old) {
    if (fz_now + now_rel->len < sent) goto bad;
    if (sent > fz_now) { /* bytes sent after the new frozen point must be unchanged */
        size_t k = sent - fz_now, shift = fz_now - fz_old;
        if (old_rel->len < shift + k || memcmp(now_rel->p, old_rel->p + shift, k)) goto bad;
    }
    return;
bad:
    fprintf(stderr, "%s:%d: toolcall stream: %s does not extend what was sent\n", __FILE__, __LINE__, what);
    abort();
}

int pg_tc_stream_feed(pg_tc_stream *s, const char *text, size_t n, int last, const pg_tc_event **ev, size_t *n_ev) {
    *ev = NULL;
    *n_ev = 0;
    if (s->ended) return PG_EINVAL;
    pg_tc_tb_put(&s->text, text, n);
    if (s->text.err) return PG_ENOMEM;
    if (!n && !last) return 0;
    pres r = {0};
    ckpt co;
    pg_tc_parse_core(&s->st, s->flags, s->text.p ? s->text.p : "", s->text.len, last, s->ck.mode ? &s->ck : NULL,
               s->ck.mode ? s->fz_calls : 0, &r, &co);
    if (r.oom) {
        pg_tc_pres_free(&r);
        return PG_ENOMEM;
    }
    /* s->cur was read from the previous checkpoint (cur_fz_* <= fz_*) */
    check_prefix("reasoning", s->sent_reasoning, &r.reasoning, s->fz_reasoning, &s->cur.reasoning, s->cur_fz_reasoning);
    check_prefix("content", s->sent_content, &r.content, s->fz_content, &s->cur.content, s->cur_fz_content);
    for (size_t k = s->fz_calls; k < s->sent_calls; k++) {
        size_t j = k - s->fz_calls, jo = k - s->cur_fz_calls;
        if (j >= r.n_calls || jo >= s->cur.n_calls || strcmp(r.calls[j].name, s->cur.calls[jo].name) ||
            strcmp(r.calls[j].arguments, s->cur.calls[jo].arguments)) {
            fprintf(stderr, "%s:%d: toolcall stream: call %zu changed\n", __FILE__, __LINE__, k);
            abort();
        }
    }
    pg_tc_pres_free(&s->cur);
    s->cur = r;
    s->cur_fz_content = s->fz_content;
    s->cur_fz_reasoning = s->fz_reasoning;
    s->cur_fz_calls = s->fz_calls;
    s->n_ev = 0;
    int rc = 0;
    size_t tot_r = s->fz_reasoning + r.reasoning.len, tot_c = s->fz_content + r.content.len;
    size_t tot_k = s->fz_calls + r.n_calls;
    if (tot_r > s->sent_reasoning)
        rc |= push_ev(s, PG_TC_EV_REASONING, 0, r.reasoning.p + (s->sent_reasoning - s->fz_reasoning),
                      tot_r - s->sent_reasoning);
    if (tot_c > s->sent_content)
        rc |= push_ev(s, PG_TC_EV_CONTENT, 0, r.content.p + (s->sent_content - s->fz_content), tot_c - s->sent_content);
    for (size_t k = s->sent_calls; k < tot_k; k++) {
        const pg_tc_call *x = &r.calls[k - s->fz_calls];
        rc |= push_ev(s, PG_TC_EV_CALL_START, (int32_t)k, x->name, strlen(x->name));
        rc |= push_ev(s, PG_TC_EV_CALL_ARGS, (int32_t)k, x->arguments, strlen(x->arguments));
    }
    if (rc) return PG_ENOMEM;
    s->sent_reasoning = tot_r;
    s->sent_content = tot_c;
    s->sent_calls = tot_k;
    s->ended = last;
    /* freeze up to the new checkpoint: what this read produced so far
     * (all of it was just sent; its held tail lies after the point) */
    if (!last && co.mode) {
        s->fz_reasoning = tot_r;
        s->fz_content = tot_c;
        s->fz_calls = tot_k;
        s->ck = co;
    }
    *ev = s->evx;
    *n_ev = s->n_ev;
    return 0;
}
