/* detok.c - token ids back to text: single pieces, whole sequences, and
 * the streaming detokenizer.
 *
 * Pieces are raw bytes (a byte token may be part of a character). Whole and
 * streamed output go through one UTF-8 sanitizer that replaces each maximal
 * ill-formed subpart with U+FFFD. Its decisions depend only on the bytes of
 * the sequence under the cursor, so sanitizing the concatenation at once or
 * chunk by chunk (holding back an incomplete but so far valid tail) gives
 * the same text: that is what makes streaming == pg_detokenize.
 *
 * Leading space rule (SPM with add_space_prefix, WordPiece): the first
 * token that is not a leading BOS loses one leading space. */
#include "tokenizer/tok_internal.h"

typedef struct {
    char *buf;
    size_t cap, pos; /* pos counts everything, even past cap */
} wr;

static inline void wr_put(wr *w, const char *s, size_t n) {
    if (w->pos < w->cap) {
        size_t k = w->cap - w->pos < n ? w->cap - w->pos : n;
        memcpy(w->buf + w->pos, s, k);
    }
    w->pos += n;
}

static int byte_token_value(const char *t, size_t l) {
    /* "<0xNN>" */
    if (l != 6 || t[0] != '<' || t[1] != '0' || t[2] != 'x' || t[5] != '>') return -1;
    int v = 0;
    for (int i = 3; i < 5; i++) {
        char c = t[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (d < 0) return -1;
        v = v * 16 + d;
    }
    return v;
}

int64_t pg_token_to_piece(const pg_vocab *v, int32_t id, char *buf, size_t cap, int special) {
    if (!v || id < 0 || id >= v->n) return 0;
    wr w = {buf, buf ? cap : 0, 0};
    const char *t = v->blob + v->off[id];
    size_t l = v->len[id];
    switch (v->type[id]) {
    case PG_TOKTYPE_CONTROL:
    case PG_TOKTYPE_UNKNOWN:
        if (special) {
            if (v->kind == PG_VK_WPM) wr_put(&w, " ", 1);
            wr_put(&w, t, l);
        }
        break;
    case PG_TOKTYPE_USER_DEFINED: wr_put(&w, t, l); break;
    case PG_TOKTYPE_UNUSED: break;
    case PG_TOKTYPE_BYTE: {
        int b = byte_token_value(t, l);
        if (b >= 0) {
            char c = (char)b;
            wr_put(&w, &c, 1);
        } else {
            wr_put(&w, t, l);
        }
        break;
    }
    default:
        if (v->kind == PG_VK_SPM || (v->kind == PG_VK_WPM && !v->wpm_hashes)) {
            size_t s = 0;
            for (size_t i = 0; i + 2 < l; i++) {
                if ((uint8_t)t[i] == 0xE2 && (uint8_t)t[i + 1] == 0x96 && (uint8_t)t[i + 2] == 0x81) {
                    wr_put(&w, t + s, i - s);
                    wr_put(&w, " ", 1);
                    s = i + 3;
                    i += 2;
                }
            }
            wr_put(&w, t + s, l - s);
        } else if (v->kind == PG_VK_BPE) {
            for (size_t i = 0; i < l;) {
                uint8_t c0 = (uint8_t)t[i];
                size_t n = pg_tok_u8len(t + i, l - i);
                uint32_t cp = c0;
                if (n == 2 && (c0 & 0xE0) == 0xC0) cp = ((uint32_t)(c0 & 0x1F) << 6) | ((uint8_t)t[i + 1] & 0x3F);
                int b = (n == 1 && c0 < 0x80) || n == 2 ? pg_tok_cp_to_byte(cp) : -1;
                if (b >= 0) {
                    char c = (char)b;
                    wr_put(&w, &c, 1);
                } else {
                    wr_put(&w, t + i, n); /* not a byte stand-in: keep as is */
                }
                i += n;
            }
        } else {
            if (l >= 2 && t[0] == '#' && t[1] == '#') wr_put(&w, t + 2, l - 2);
            else {
                wr_put(&w, " ", 1);
                wr_put(&w, t, l);
            }
        }
    }
    return (int64_t)w.pos;
}

int64_t pg_utf8_sanitize(const char *in, size_t n, int final, char *out, size_t cap, size_t *consumed) {
    static const char fffd[3] = {(char)0xEF, (char)0xBF, (char)0xBD};
    wr w = {out, out ? cap : 0, 0};
    const uint8_t *p = (const uint8_t *)in;
    size_t i = 0;
    while (i < n) {
        uint8_t b = p[i];
        if (b < 0x80) {
            size_t j = i + 1;
            while (j < n && p[j] < 0x80) j++; /* ASCII run */
            wr_put(&w, in + i, j - i);
            i = j;
            continue;
        }
        size_t need;
        uint8_t lo = 0x80, hi = 0xBF;
        if (b >= 0xC2 && b <= 0xDF) need = 1;
        else if (b == 0xE0) need = 2, lo = 0xA0;
        else if ((b >= 0xE1 && b <= 0xEC) || b == 0xEE || b == 0xEF) need = 2;
        else if (b == 0xED) need = 2, hi = 0x9F;
        else if (b == 0xF0) need = 3, lo = 0x90;
        else if (b >= 0xF1 && b <= 0xF3) need = 3;
        else if (b == 0xF4) need = 3, hi = 0x8F;
        else {
            wr_put(&w, fffd, 3);
            i++;
            continue;
        }
        size_t j = 1;
        for (; j <= need; j++) {
            if (i + j >= n) break;
            uint8_t c = p[i + j];
            if (j == 1 ? (c < lo || c > hi) : (c < 0x80 || c > 0xBF)) break;
        }
        if (j > need) {
            wr_put(&w, in + i, need + 1);
            i += need + 1;
        } else if (i + j >= n && !final) {
            break; /* incomplete but valid so far: wait for more */
        } else {
            wr_put(&w, fffd, 3);
            i += j;
        }
    }
    if (consumed) *consumed = i;
    return (int64_t)w.pos;
}

/* ---- whole sequence ---- */

static int strips_leading_space(const pg_vocab *v) { return v->add_space_prefix && v->kind != PG_VK_BPE; }

int64_t pg_detokenize(const pg_vocab *v, const int32_t *ids, size_t n, char *buf, size_t cap, int special) {
    if (!v || (!ids && n)) return 0;
    size_t rcap = 256, rn = 0;
    char *raw = malloc(rcap);
    if (!raw) return PG_ENOMEM;
    int strip = strips_leading_space(v);
    for (size_t i = 0; i < n; i++) {
        int64_t l = pg_token_to_piece(v, ids[i], raw + rn, rcap - rn, special);
        if ((size_t)l > rcap - rn) {
            while ((size_t)l > rcap - rn) rcap *= 2;
            char *r = realloc(raw, rcap);
            if (!r) {
                free(raw);
                return PG_ENOMEM;
            }
            raw = r;
            pg_token_to_piece(v, ids[i], raw + rn, rcap - rn, special);
        }
        if (strip && !(i == 0 && ids[i] == v->bos)) {
            if (l > 0 && raw[rn] == ' ') {
                memmove(raw + rn, raw + rn + 1, (size_t)l - 1);
                l--;
            }
            strip = 0;
        }
        rn += (size_t)l;
    }
    int64_t r = pg_utf8_sanitize(raw, rn, 1, buf, buf ? cap : 0, NULL);
    free(raw);
    return r;
}

/* ---- streaming ---- */

struct pg_detok {
    const pg_vocab *v;
    int special;
    int first, strip;  /* next push is the first token; leading space pending */
    char *pend;        /* raw bytes not yet sanitized (an incomplete tail) */
    size_t pn, pcap;
    char *q;           /* sanitized text not yet handed out: q[qo..qn) */
    size_t qo, qn, qcap;
};

void pg_detok_reset(pg_detok *d) {
    d->first = 1;
    d->strip = strips_leading_space(d->v);
    d->pn = 0;
    d->qo = d->qn = 0;
}

pg_detok *pg_detok_create(const pg_vocab *v, int special) {
    if (!v) return NULL;
    pg_detok *d = calloc(1, sizeof *d);
    if (!d) return NULL;
    d->v = v;
    d->special = special;
    d->pcap = 256;
    d->qcap = 1024;
    d->pend = malloc(d->pcap);
    d->q = malloc(d->qcap);
    if (!d->pend || !d->q) {
        pg_detok_destroy(d);
        return NULL;
    }
    pg_detok_reset(d);
    return d;
}

void pg_detok_destroy(pg_detok *d) {
    if (!d) return;
    free(d->pend);
    free(d->q);
    free(d);
}

static int reserve(char **p, size_t *cap, size_t need) {
    if (need <= *cap) return 0;
    size_t c = *cap;
    while (c < need) c *= 2;
    char *r = realloc(*p, c);
    if (!r) return -1;
    *p = r;
    *cap = c;
    return 0;
}

/* sanitize pend into q (final: everything) */
static int drain_pending(pg_detok *d, int final) {
    if (d->qo == d->qn) d->qo = d->qn = 0;
    if (reserve(&d->q, &d->qcap, d->qn + 3 * d->pn + 4)) return -1;
    size_t used = 0;
    int64_t w = pg_utf8_sanitize(d->pend, d->pn, final, d->q + d->qn, d->qcap - d->qn, &used);
    d->qn += (size_t)w;
    memmove(d->pend, d->pend + used, d->pn - used);
    d->pn -= used;
    return 0;
}

/* hand out whole characters of q that fit in cap */
static int64_t emit(pg_detok *d, char *out, size_t cap) {
    size_t avail = d->qn - d->qo, k = avail < cap ? avail : cap;
    if (k < avail)
        while (k > 0 && ((uint8_t)d->q[d->qo + k] & 0xC0) == 0x80) k--;
    if (k) memcpy(out, d->q + d->qo, k);
    d->qo += k;
    return (int64_t)k;
}

int64_t pg_detok_push(pg_detok *d, int32_t id, char *out, size_t cap) {
    if (!d) return 0;
    if (!out) cap = 0;
    int64_t l = pg_token_to_piece(d->v, id, NULL, 0, d->special);
    if (reserve(&d->pend, &d->pcap, d->pn + (size_t)l + 1)) return PG_ENOMEM; /* the token was not taken */
    pg_token_to_piece(d->v, id, d->pend + d->pn, (size_t)l, d->special);
    if (d->strip && !(d->first && id == d->v->bos)) {
        if (l > 0 && d->pend[d->pn] == ' ') {
            memmove(d->pend + d->pn, d->pend + d->pn + 1, (size_t)l - 1);
            l--;
        }
        d->strip = 0;
    }
    d->first = 0;
    d->pn += (size_t)l;
    if (drain_pending(d, 0)) return PG_ENOMEM; /* the token stays pending */
    return emit(d, out, cap);
}

int64_t pg_detok_flush(pg_detok *d, char *out, size_t cap) {
    if (!d) return 0;
    if (!out) cap = 0;
    if (drain_pending(d, 1)) return PG_ENOMEM; /* nothing lost: a retry may succeed */
    int64_t k = emit(d, out, cap);
    d->first = 1;
    d->strip = strips_leading_space(d->v);
    return k;
}
