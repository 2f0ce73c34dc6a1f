/* stop.c - see stop.h.
 *
 * One KMP automaton per stop string: state[i] = length of the longest prefix
 * of stop i that is a suffix of the stream so far (fail[i][] is its failure
 * function). Per byte the work is O(n_stops) amortised. The hold-back length
 * is max_i state[i]; it can only grow by the bytes just fed, so bytes once
 * emitted never need to be taken back. When state[i] reaches len[i] a stop
 * string ends at this byte; all automata are stepped over the byte first so
 * the longest string ending here wins (earliest cut).
 */
#include "sample/stop.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct pg_stop {
    int n;
    size_t max_len;
    size_t len[PG_STOP_MAX_STRINGS];
    unsigned char pat[PG_STOP_MAX_STRINGS][PG_STOP_MAX_LEN];
    uint16_t fail[PG_STOP_MAX_STRINGS][PG_STOP_MAX_LEN];
    uint16_t state[PG_STOP_MAX_STRINGS];
    char held[PG_STOP_MAX_LEN]; /* the last n_held bytes of the stream, unemitted */
    size_t n_held;
    int stopped, stop_index;
};

int pg_stop_create(const char *const *stops, int n, pg_stop **out, pg_error *err) {
    *out = NULL;
    if (n < 0 || n > PG_STOP_MAX_STRINGS)
        return pg_error_set(err, PG_EINVAL, "at most %d stop strings are allowed", PG_STOP_MAX_STRINGS);
    for (int i = 0; i < n; i++) {
        if (!stops[i] || !stops[i][0])
            return pg_error_set(err, PG_EINVAL, "stop strings must not be empty");
        if (strnlen(stops[i], PG_STOP_MAX_LEN + 1) > PG_STOP_MAX_LEN)
            return pg_error_set(err, PG_EINVAL, "stop strings must be at most %d bytes",
                                PG_STOP_MAX_LEN);
    }
    pg_stop *s = calloc(1, sizeof *s);
    if (!s) return pg_error_set(err, PG_ENOMEM, "out of memory");
    s->n = n;
    for (int i = 0; i < n; i++) {
        size_t L = strlen(stops[i]);
        s->len[i] = L;
        memcpy(s->pat[i], stops[i], L);
        if (L > s->max_len) s->max_len = L;
        /* fail[q] = longest proper border of pat[0..q] */
        uint16_t *f = s->fail[i];
        const unsigned char *p = s->pat[i];
        f[0] = 0;
        size_t k = 0;
        for (size_t q = 1; q < L; q++) {
            while (k > 0 && p[q] != p[k]) k = f[k - 1];
            if (p[q] == p[k]) k++;
            f[q] = (uint16_t)k;
        }
    }
    pg_stop_reset(s);
    *out = s;
    return PG_OK;
}

void pg_stop_destroy(pg_stop *s) { free(s); }

void pg_stop_reset(pg_stop *s) {
    memset(s->state, 0, sizeof s->state);
    s->n_held = 0;
    s->stopped = 0;
    s->stop_index = -1;
}

size_t pg_stop_max_len(const pg_stop *s) { return s->max_len; }
size_t pg_stop_held(const pg_stop *s) { return s->n_held; }

int pg_stop_feed(pg_stop *s, const char *text, size_t len, char *dst, size_t dst_cap,
                 pg_stop_result *r) {
    r->n_emit = 0;
    r->stopped = s->stopped;
    r->stop_index = s->stop_index;
    if (s->stopped) return PG_OK;
    if (dst_cap < len || dst_cap - len < s->max_len) return PG_ERANGE;
    /* pending = held ++ text, laid out in dst; the tail is copied back */
    size_t h0 = s->n_held;
    memcpy(dst, s->held, h0);
    if (len) memcpy(dst + h0, text, len);
    size_t total = h0 + len;
    size_t hold = 0;
    for (size_t j = 0; j < len; j++) {
        unsigned char c = (unsigned char)text[j];
        size_t best = 0, hit_len = 0;
        int hit = -1;
        for (int i = 0; i < s->n; i++) {
            const unsigned char *p = s->pat[i];
            size_t q = s->state[i];
            while (q > 0 && p[q] != c) q = s->fail[i][q - 1];
            if (p[q] == c) q++;
            if (q == s->len[i]) {
                if (q > hit_len) hit = i, hit_len = q;
                q = s->fail[i][q - 1]; /* keep the automaton valid */
            }
            s->state[i] = (uint16_t)q;
            if (q > best) best = q;
        }
        if (hit >= 0) {
            /* the match ends at pending[h0 + j]; it starts inside pending
             * because its prefix was held (hold-back >= state before) */
            size_t end = h0 + j + 1;
            r->n_emit = end - hit_len;
            r->stopped = s->stopped = 1;
            r->stop_index = s->stop_index = hit;
            s->n_held = 0;
            return PG_OK;
        }
        hold = best;
    }
    if (len == 0) hold = h0;
    if (hold > total) hold = total; /* cannot happen; defensive */
    r->n_emit = total - hold;
    memcpy(s->held, dst + r->n_emit, hold);
    s->n_held = hold;
    return PG_OK;
}

size_t pg_stop_flush(pg_stop *s, char *dst, size_t dst_cap) {
    if (s->stopped) return 0;
    size_t n = s->n_held;
    PG_ASSERT(n <= dst_cap);
    memcpy(dst, s->held, n);
    s->n_held = 0;
    memset(s->state, 0, sizeof s->state);
    return n;
}

const char *pg_stop_string(const pg_stop *s, int i, size_t *len) {
    if (i < 0 || i >= s->n) return NULL;
    *len = s->len[i];
    return (const char *)s->pat[i];
}
