/* gram_earley.c - the matcher half of gram_match.c (design notes there):
 * per-(grammar, vocab) token caches, the Earley parse state over lexemes
 * (pg_gmatch: create/clone/accept), exact token masks and forced bytes /
 * tokens. */
#include "sample/gram_impl.h"

#include <stdlib.h>
#include <string.h>

/* ---------------- per-(grammar, vocab) caches ---------------- */

typedef struct centry {
    int32_t n_tok;
    int32_t dense;   /* data is a bitset of n_vocab bits, else a list of ids */
    uint32_t *data;
    int32_t n_bnd;
    int32_t *bnd;    /* trie nodes: DFA accepts there and the node has children */
    uint64_t *bbits; /* the same as a bitset over trie nodes when n_bnd is large, else NULL */
} centry;

typedef struct gcache {
    const pg_gram_vocab *tv;
    uint64_t tv_uid;   /* tv->uid: the address alone may be a freed vocab's */
    centry **ent;    /* by DFA state */
    int32_t n_ent;
    int32_t *canon;  /* by DFA state: canonical state + 1 (0 = not computed), see canon_state */
    int32_t n_canon;
    size_t bytes;
    struct gcache *next;
} gcache;

#define CACHE_MAX_BYTES ((size_t)64 << 20) /* per (grammar, vocab); beyond it entries are built per use and freed */

static void centry_free(centry *e) {
    if (!e) return;
    free(e->bbits);
    free(e->data);
    free(e->bnd);
    free(e);
}

void caches_free(pg_grammar *g) {
    gcache *c = g->caches;
    while (c) {
        gcache *n = c->next;
        for (int32_t i = 0; i < c->n_ent; i++) centry_free(c->ent[i]);
        free(c->ent);
        free(c->canon);
        free(c);
        c = n;
    }
    g->caches = NULL;
}

static gcache *cache_for(pg_grammar *g, const pg_gram_vocab *tv) {
    for (gcache *c = g->caches; c; c = c->next)
        if (c->tv == tv && c->tv_uid == tv->uid) return c;
    gcache *c = calloc(1, sizeof *c);
    if (!c) PG_PANIC("grammar: out of memory");
    c->tv = tv;
    c->tv_uid = tv->uid;
    c->next = g->caches;
    g->caches = c;
    return c;
}

/* DFA-only walk of the whole trie from DFA state st. */
/* DFA state st loops on every plain byte and is not accepting: all plain
 * tokens stay inside the lexeme and none crosses a lexeme end. */
static int plain_loop(pg_grammar *g, int32_t st) {
    if (g->dfa[st].acc) return 0;
    for (int c = 0x20; c <= 0x7E; c++)
        if (c != '"' && c != '\\' && dstep(g, st, (uint8_t)c) != st) return 0;
    return 1;
}

/* Every token of the trie subtree of node i (i's own included) into bits:
 * a precomputed bitset for big subtrees, else one bit per token. */
static void subtree_tokens(const pg_gram_vocab *tv, int32_t i, uint32_t *bits) {
    if (tv->nbig[i] >= 0) {
        size_t words = pg_gram_vocab_mask_words(tv);
        const uint32_t *bb = tv->bigbits + (size_t)tv->nbig[i] * words;
        for (size_t w = 0; w < words; w++) bits[w] |= bb[w];
        return;
    }
    int32_t z = tv->tpos[tv->nskip[i]];
    for (int32_t k = tv->tpos[i]; k < z; k++) {
        uint32_t id = (uint32_t)tv->toks[k];
        bits[id >> 5] |= 1u << (id & 31);
    }
}

/* DFA-only walk of the trie from DFA state st: tokens that stay alive and
 * the (main-trie) nodes where the DFA accepts and the node has children. */
__attribute__((noinline)) static centry *centry_build(pg_grammar *g, const pg_gram_vocab *tv, int32_t st, int32_t *stk) {
    centry *e = calloc(1, sizeof *e);
    if (!e) PG_PANIC("grammar: out of memory");
    size_t words = pg_gram_vocab_mask_words(tv);
    uint32_t *bits = calloc(words + 1, sizeof *bits);
    if (!bits) PG_PANIC("grammar: out of memory");
    size_t nl = 0;
    int32_t *bnd = NULL;
    size_t nbd = 0, cbd = 0;
    /* the trie to walk: all tokens, or only the non-plain ones */
    int plain = plain_loop(g, st);
    int32_t nn = plain ? tv->np_n : tv->n_nodes;
    const uint8_t *nb = plain ? tv->np_nb : tv->nb;
    const int32_t *nd = plain ? tv->np_nd : tv->nd, *nskip = plain ? tv->np_nskip : tv->nskip;
    const int32_t *nt0 = plain ? tv->np_nt0 : tv->nt0, *ntn = plain ? tv->np_ntn : tv->ntn;
    const int32_t *toks = plain ? tv->np_toks : tv->toks;
    if (plain) {
        memcpy(bits, tv->plain_bits, words * sizeof *bits);
        nl = (size_t)tv->n_plain;
    }
    stk[0] = st;
    int32_t i = 0;
    while (i < nn) {
        int32_t d = nd[i];
        int32_t t = dstep(g, stk[d - 1], nb[i]);
        if (t < 0) { i = nskip[i]; continue; }
        stk[d] = t;
        if (!plain && (t == stk[d - 1] || d == 1) && nskip[i] > i + 1 && !dacc(g, t)) {
            /* every byte below i loops on t (non-accepting): the whole
             * subtree stays alive with no lexeme end, take its tokens.
             * Only tried at depth 1 and where t looped on this node's byte
             * (states that move on every byte, like positions in x{m,n},
             * never pass). Big subtrees OR a precomputed token bitset. */
            if (dfa_loops_on(g, t, tv->subtab + 4 * (size_t)tv->nsub[i])) {
                subtree_tokens(tv, i, bits);
                nl += (size_t)(tv->tpos[nskip[i]] - tv->tpos[i]);
                i = nskip[i];
                continue;
            }
        }
        for (int32_t k = 0; k < ntn[i]; k++) {
            uint32_t id = (uint32_t)toks[nt0[i] + k];
            bits[id >> 5] |= 1u << (id & 31);
            nl++;
        }
        if (dacc(g, t) && nskip[i] > i + 1) {
            if (nbd == cbd) { cbd = cbd ? cbd * 2 : 16; bnd = gram_xrealloc(bnd, cbd * sizeof *bnd); }
            bnd[nbd++] = plain ? tv->np_main[i] : i;
        }
        i++;
    }
    e->n_tok = (int32_t)nl;
    if (nl > words / 4) {
        e->dense = 1;
        e->data = bits;
    } else {
        uint32_t *list = gram_xrealloc(NULL, (nl + 1) * sizeof *list);
        size_t k = 0;
        for (size_t w = 0; w < words; w++)
            for (uint32_t x = bits[w]; x; x &= x - 1) list[k++] = (uint32_t)(w * 32 + (size_t)__builtin_ctz(x));
        e->n_tok = (int32_t)k;
        e->data = list;
        free(bits);
    }
    e->n_bnd = (int32_t)nbd;
    e->bnd = bnd;
    int32_t mn = tv->n_nodes;
    if (nbd > (size_t)mn / 256) {
        e->bbits = calloc(((size_t)mn + 63) / 64, sizeof *e->bbits);
        if (!e->bbits) PG_PANIC("grammar: out of memory");
        for (size_t k = 0; k < nbd; k++) e->bbits[bnd[k] >> 6] |= 1ull << (bnd[k] & 63);
    }
    return e;
}

static size_t centry_bytes(const centry *e, const pg_gram_vocab *tv) {
    return sizeof *e + (e->dense ? pg_gram_vocab_mask_words(tv) * 4 : (size_t)e->n_tok * 4) + (size_t)e->n_bnd * 4 +
           (e->bbits ? ((size_t)tv->n_nodes + 63) / 64 * 8 : 0);
}

/* ---------------- matcher ---------------- */

typedef struct gitem { int32_t dot, origin; } gitem;
typedef struct gscan { int32_t st, dot, origin; } gscan;

typedef struct gframe {
    size_t soff;      /* scans of this position: sb[soff .. soff+ns) */
    int32_t ns;
    int32_t pushed;   /* a set was pushed at this position */
    size_t n_items0;  /* items/sets before this frame's push (to pop) */
    int32_t n_sets0;
} gframe;

struct pg_gmatch {
    pg_grammar *g;
    const pg_gram_vocab *tv;
    gcache *cache;
    /* committed state */
    gitem *items; size_t n_items, cap_items;
    int32_t *set0; uint8_t *set_acc; int32_t n_sets, cap_sets;
    gscan *sb; size_t nsb, cap_sb; /* committed scans are sb[0 .. ncs) */
    int32_t ncs;
    int at_set;    /* the last committed position has a set */
    int done;      /* an EOG token was accepted */
    /* scratch */
    int32_t *hkey; int32_t *hgen; int32_t hcap, hg; /* dedup hash: 3 ints per slot */
    int32_t hcount; /* items in the hash (set under construction) */
    gframe *fr; int32_t cap_fr;
    int32_t *stk; int32_t cap_stk;
    int32_t *grp; int32_t cap_grp;
    uint64_t *pr; size_t npr, cap_pr; /* completion walks: (byte << 32 | node) pairs, stacked by level */
    struct mframe *mf; int32_t cap_mf;
};

static void hreset(pg_gmatch *m, int32_t need) {
    if (need * 2 > m->hcap) {
        int32_t c = 64;
        while (c < need * 2) c *= 2;
        free(m->hkey);
        free(m->hgen);
        m->hkey = gram_xrealloc(NULL, (size_t)c * 3 * sizeof *m->hkey);
        m->hgen = calloc((size_t)c, sizeof *m->hgen);
        if (!m->hgen) PG_PANIC("grammar: out of memory");
        m->hcap = c;
        m->hg = 0;
    }
    if (++m->hg == INT32_MAX) { memset(m->hgen, 0, (size_t)m->hcap * sizeof *m->hgen); m->hg = 1; }
}

/* 1 if newly inserted. Table must have room (caller sized it). */
static int hinsert(pg_gmatch *m, int32_t a, int32_t b, int32_t c) {
    uint32_t h = ((uint32_t)a * 2654435761u) ^ ((uint32_t)b * 2246822519u) ^ ((uint32_t)c * 3266489917u);
    h ^= h >> 15;
    int32_t mask = m->hcap - 1, i = (int32_t)(h & (uint32_t)mask);
    while (m->hgen[i] == m->hg) {
        int32_t *k = m->hkey + 3 * i;
        if (k[0] == a && k[1] == b && k[2] == c) return 0;
        i = (i + 1) & mask;
    }
    m->hgen[i] = m->hg;
    m->hkey[3 * i] = a;
    m->hkey[3 * i + 1] = b;
    m->hkey[3 * i + 2] = c;
    return 1;
}

static void push_scan(pg_gmatch *m, int32_t st, int32_t dot, int32_t origin) {
    if (m->nsb == m->cap_sb) {
        m->cap_sb = m->cap_sb ? m->cap_sb * 2 : 256;
        m->sb = gram_xrealloc(m->sb, m->cap_sb * sizeof *m->sb);
    }
    gscan s = {st, dot, origin};
    m->sb[m->nsb++] = s;
}

/* Item dedup: items of the set under construction are tracked in the hash
 * table, which is then only valid during one closure. */
static inline void add_item(pg_gmatch *m, int32_t dot, int32_t origin, int32_t k) {
    if (m->hcount * 2 + 2 > m->hcap) {
        /* grow: rebuild from the set's items */
        int32_t need = m->hcount * 2 + 64;
        m->hcap = 0;
        hreset(m, need);
        for (size_t i = (size_t)m->set0[k]; i < m->n_items; i++) hinsert(m, m->items[i].dot, m->items[i].origin, -7);
    }
    if (!hinsert(m, dot, origin, -7)) return;
    m->hcount++;
    if (m->n_items == m->cap_items) {
        m->cap_items = m->cap_items ? m->cap_items * 2 : 256;
        m->items = gram_xrealloc(m->items, m->cap_items * sizeof *m->items);
    }
    gitem it = {dot, origin};
    m->items[m->n_items++] = it;
    if (dot == m->g->prod_dot0[0] + 1 && origin == 0) m->set_acc[k] = 1;
}

static void begin_set(pg_gmatch *m) {
    if (m->n_sets + 1 >= m->cap_sets) {
        m->cap_sets = m->cap_sets ? m->cap_sets * 2 : 64;
        m->set0 = gram_xrealloc(m->set0, (size_t)m->cap_sets * sizeof *m->set0);
        m->set_acc = gram_xrealloc(m->set_acc, (size_t)m->cap_sets);
    }
    m->set0[m->n_sets] = (int32_t)m->n_items;
    m->set_acc[m->n_sets] = 0;
    m->n_sets++;
    hreset(m, 64);
    m->hcount = 0;
}

/* Closure of the last set (its seed items already added); appends the
 * scans of predicted lexemes to sb. */
static void close_set(pg_gmatch *m) {
    pg_grammar *g = m->g;
    int32_t k = m->n_sets - 1;
    for (size_t i = (size_t)m->set0[k]; i < m->n_items; i++) {
        gitem it = m->items[i];
        int32_t s = g->dsym[it.dot];
        if (s == SYM_END) {
            if (it.origin == k) continue; /* nullable: handled at prediction */
            int32_t lhs = g->prod_lhs[g->dprod[it.dot]];
            size_t a = (size_t)m->set0[it.origin], z = (size_t)m->set0[it.origin + 1];
            for (size_t j = a; j < z; j++)
                if (g->dsym[m->items[j].dot] == lhs) add_item(m, m->items[j].dot + 1, m->items[j].origin, k);
        } else if (s >= 0) {
            for (int32_t q = 0; q < g->nt_np[s]; q++) add_item(m, g->prod_dot0[g->nt_prods[g->nt_p0[s] + q]], k, k);
            if (g->nt_nullable[s]) add_item(m, it.dot + 1, it.origin, k);
        } else {
            int32_t l = SYM_LEXID(s);
            int32_t st = gram_dfa_start(g, l);
            if (st >= 0) push_scan(m, st, it.dot, it.origin);
            if (g->lex_nullable[l]) add_item(m, it.dot + 1, it.origin, k);
        }
    }
}

static void pop_to(pg_gmatch *m, size_t n_items, int32_t n_sets) {
    m->n_items = n_items;
    m->n_sets = n_sets;
}

/* One byte: the scans sb[in .. in+nin) step into new scans appended at the
 * end of sb; a completion pushes a set. Returns the number of new scans,
 * sets *pushed. */
static int32_t step(pg_gmatch *m, size_t in, int32_t nin, uint8_t c, int *pushed) {
    pg_grammar *g = m->g;
    size_t out = m->nsb;
    int32_t ncomp = 0;
    for (int32_t i = 0; i < nin; i++) {
        gscan s = m->sb[in + (size_t)i];
        int32_t t = dstep(g, s.st, c);
        if (t < 0) continue;
        if (dacc(g, t)) {
            ncomp++;
            if ((void)dfa_first(g, t), !g->dfa[t].has_out) { /* dead end: only the completion lives on */
                push_scan(m, t, s.dot, s.origin);
                m->sb[m->nsb - 1].st = -1 - t; /* marker: complete, then drop */
                continue;
            }
        }
        push_scan(m, t, s.dot, s.origin);
    }
    *pushed = 0;
    if (ncomp) {
        begin_set(m);
        size_t w = out, end = m->nsb;
        for (size_t i = out; i < end; i++) {
            gscan s = m->sb[i];
            int32_t st = s.st < 0 ? -1 - s.st : s.st;
            if (g->dfa[st].acc) add_item(m, s.dot + 1, s.origin, m->n_sets - 1);
            if (s.st >= 0) m->sb[w++] = s;
        }
        m->nsb = w;
        close_set(m);
        *pushed = 1;
    }
    int32_t n = (int32_t)(m->nsb - out);
    if (n > 1) { /* dedup scans */
        hreset(m, n);
        size_t w = out;
        for (size_t i = out; i < m->nsb; i++)
            if (hinsert(m, m->sb[i].st, m->sb[i].dot, m->sb[i].origin)) m->sb[w++] = m->sb[i];
        m->nsb = w;
        n = (int32_t)(w - out);
    }
    return n;
}

static void m_init(pg_gmatch *m) {
    m->n_items = 0;
    m->n_sets = 0;
    m->nsb = 0;
    begin_set(m);
    add_item(m, m->g->prod_dot0[0], 0, 0);
    close_set(m);
    m->ncs = (int32_t)m->nsb;
    m->at_set = 1;
    m->done = 0;
}

pg_gmatch *pg_gmatch_create(pg_grammar *g, const pg_gram_vocab *tv) {
    pg_gmatch *m = calloc(1, sizeof *m);
    if (!m) return NULL;
    m->g = g;
    m->tv = tv;
    pthread_mutex_lock(&g->mu);
    m->cache = cache_for(g, tv);
    m_init(m);
    pthread_mutex_unlock(&g->mu);
    return m;
}

void pg_gmatch_destroy(pg_gmatch *m) {
    if (!m) return;
    free(m->items); free(m->set0); free(m->set_acc); free(m->sb);
    free(m->hkey); free(m->hgen); free(m->fr); free(m->stk); free(m->grp);
    free(m->pr); free(m->mf);
    free(m);
}

pg_gmatch *pg_gmatch_clone(const pg_gmatch *m) {
    pg_gmatch *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->g = m->g;
    c->tv = m->tv;
    c->cache = m->cache;
    c->cap_items = m->n_items + 16;
    c->items = gram_xrealloc(NULL, c->cap_items * sizeof *c->items);
    memcpy(c->items, m->items, m->n_items * sizeof *c->items);
    c->n_items = m->n_items;
    c->cap_sets = m->n_sets + 16;
    c->set0 = gram_xrealloc(NULL, (size_t)c->cap_sets * sizeof *c->set0);
    c->set_acc = gram_xrealloc(NULL, (size_t)c->cap_sets);
    memcpy(c->set0, m->set0, (size_t)m->n_sets * sizeof *c->set0);
    memcpy(c->set_acc, m->set_acc, (size_t)m->n_sets);
    c->n_sets = m->n_sets;
    c->cap_sb = (size_t)m->ncs + 16;
    c->sb = gram_xrealloc(NULL, c->cap_sb * sizeof *c->sb);
    if (m->ncs) memcpy(c->sb, m->sb, (size_t)m->ncs * sizeof *c->sb);
    c->nsb = (size_t)m->ncs;
    c->ncs = m->ncs;
    c->at_set = m->at_set;
    c->done = m->done;
    return c;
}

int pg_gmatch_is_accepting(const pg_gmatch *m) {
    return !m->done && m->at_set && m->set_acc[m->n_sets - 1];
}

int pg_gmatch_is_done(const pg_gmatch *m) {
    return m->done || (m->ncs == 0 && pg_gmatch_is_accepting(m)); /* dead-end scans are dropped by step() */
}

static int accept_bytes_locked(pg_gmatch *m, const uint8_t *b, size_t n) {
    if (m->done) return PG_EINVAL;
    if (n == 0) return PG_OK;
    size_t items0 = m->n_items;
    int32_t sets0 = m->n_sets;
    size_t base = (size_t)m->ncs; /* committed scans sb[0..base) stay intact until success */
    size_t cur = 0;
    int32_t ncur = m->ncs;
    int at = m->at_set;
    m->nsb = base;
    for (size_t i = 0; i < n; i++) {
        int pushed;
        size_t out = m->nsb;
        int32_t nn = step(m, cur, ncur, b[i], &pushed);
        if (!(nn > 0 || (pushed && m->set_acc[m->n_sets - 1]))) {
            pop_to(m, items0, sets0);
            m->nsb = base;
            return PG_EINVAL;
        }
        if (nn) memmove(m->sb + base, m->sb + out, (size_t)nn * sizeof *m->sb);
        m->nsb = base + (size_t)nn;
        cur = base;
        ncur = nn;
        at = pushed;
    }
    if (ncur) memmove(m->sb, m->sb + cur, (size_t)ncur * sizeof *m->sb);
    m->nsb = (size_t)ncur;
    m->ncs = ncur;
    m->at_set = at;
    return PG_OK;
}

int pg_gmatch_accept_bytes(pg_gmatch *m, const char *bytes, size_t n) {
    pthread_mutex_lock(&m->g->mu);
    int rc = accept_bytes_locked(m, (const uint8_t *)bytes, n);
    pthread_mutex_unlock(&m->g->mu);
    return rc;
}

int pg_gmatch_accept_token(pg_gmatch *m, int32_t id) {
    const pg_gram_vocab *tv = m->tv;
    if (id < 0 || id >= tv->n_vocab || m->done) return PG_EINVAL;
    if (tv->is_eog[id]) {
        if (!pg_gmatch_is_accepting(m)) return PG_EINVAL;
        m->done = 1;
        return PG_OK;
    }
    if (!tv->tlen[id]) return PG_EINVAL;
    return pg_gmatch_accept_bytes(m, tv->tbytes + tv->toff[id], tv->tlen[id]);
}

/* Frames: fr[0] is the walk's root position. */
static void ensure_frames(pg_gmatch *m, int32_t n) {
    if (n > m->cap_fr) {
        m->cap_fr = n + 8;
        m->fr = gram_xrealloc(m->fr, (size_t)m->cap_fr * sizeof *m->fr);
    }
    if (n > m->cap_stk) {
        m->cap_stk = n + 8;
        m->stk = gram_xrealloc(m->stk, (size_t)m->cap_stk * sizeof *m->stk);
    }
}

static inline void set_tok_bits(const pg_gram_vocab *tv, int32_t node, uint32_t *mask) {
    for (int32_t k = 0; k < tv->ntn[node]; k++) {
        uint32_t id = (uint32_t)tv->toks[tv->nt0[node] + k];
        mask[id >> 5] |= 1u << (id & 31);
    }
}

/* General walk of the trie nodes [i, end) (whole subtrees, the first at
 * depth d0 + 1) from the scans sb[soff .. soff+ns): sets the bits of the
 * tokens allowed into mask. Restores sets/scans. */
__attribute__((noinline)) static void walk_range(pg_gmatch *m, int32_t i, int32_t end, int32_t d0, size_t soff, int32_t ns, uint32_t *mask) {
    const pg_gram_vocab *tv = m->tv;
    ensure_frames(m, tv->max_depth + 2);
    gframe *fr = m->fr;
    size_t nsb0 = m->nsb;
    size_t items0 = m->n_items;
    int32_t sets0 = m->n_sets;
    fr[0].soff = soff;
    fr[0].ns = ns;
    fr[0].pushed = 0;
    int32_t top = 0;
    while (i < end) {
        int32_t d = tv->nd[i] - d0;
        while (top >= d) { /* pop */
            if (fr[top].pushed) pop_to(m, fr[top].n_items0, fr[top].n_sets0);
            m->nsb = fr[top].soff;
            top--;
        }
        gframe *p = &fr[top];
        size_t n_items0 = m->n_items;
        int32_t n_sets0 = m->n_sets;
        size_t so = m->nsb;
        int pushed;
        int32_t n = step(m, p->soff, p->ns, tv->nb[i], &pushed);
        int acc = pushed && m->set_acc[m->n_sets - 1];
        if (n == 0) {
            if (acc) set_tok_bits(tv, i, mask);
            if (pushed) pop_to(m, n_items0, n_sets0);
            m->nsb = so;
            i = tv->nskip[i];
            continue;
        }
        if (n == 1 && tv->nskip[i] > i + 1 && !dacc(m->g, m->sb[so].st) &&
            (d == 1 || (p->ns == 1 && m->sb[p->soff].st == m->sb[so].st)) &&
            dfa_loops_on(m->g, m->sb[so].st, tv->subtab + 4 * (size_t)tv->nsub[i])) {
            /* one scan left, in a non-accepting state that every byte
             * below i keeps: the whole subtree is allowed (see centry_build) */
            subtree_tokens(tv, i, mask);
            if (pushed) pop_to(m, n_items0, n_sets0);
            m->nsb = so;
            i = tv->nskip[i];
            continue;
        }
        set_tok_bits(tv, i, mask);
        top++;
        fr[top].soff = so;
        fr[top].ns = n;
        fr[top].pushed = pushed;
        fr[top].n_items0 = n_items0;
        fr[top].n_sets0 = n_sets0;
        i++;
    }
    while (top >= 1) {
        if (fr[top].pushed) pop_to(m, fr[top].n_items0, fr[top].n_sets0);
        top--;
    }
    m->nsb = nsb0;
    pop_to(m, items0, sets0);
}

static void cand_push(pg_gmatch *m, int32_t *nc, int32_t x) {
    if (*nc == m->cap_grp) {
        m->cap_grp = m->cap_grp ? m->cap_grp * 2 : 256;
        m->grp = gram_xrealloc(m->grp, (size_t)m->cap_grp * sizeof *m->grp);
    }
    m->grp[(*nc)++] = x;
}

static void pair_push(pg_gmatch *m, uint64_t v) {
    if (m->npr == m->cap_pr) {
        m->cap_pr = m->cap_pr ? m->cap_pr * 2 : 256;
        m->pr = gram_xrealloc(m->pr, m->cap_pr * sizeof *m->pr);
    }
    m->pr[m->npr++] = v;
}

/* Pairs by byte (order within a byte does not matter). */
static void sort_pairs(pg_gmatch *m, uint64_t *p, int32_t n) {
    if (n > 48) { /* counting sort by byte through scratch above the pairs */
        int32_t cnt[257];
        memset(cnt, 0, sizeof cnt);
        for (int32_t i = 0; i < n; i++) cnt[(p[i] >> 32) + 1]++;
        for (int c = 0; c < 256; c++) cnt[c + 1] += cnt[c];
        size_t off = (size_t)(p - m->pr);
        for (int32_t i = 0; i < n; i++) pair_push(m, 0);
        p = m->pr + off; /* may have moved */
        uint64_t *tmp = p + n;
        for (int32_t i = 0; i < n; i++) tmp[cnt[p[i] >> 32]++] = p[i];
        memcpy(p, tmp, (size_t)n * sizeof *p);
        m->npr -= (size_t)n;
        return;
    }
    for (int32_t i = 1; i < n; i++) {
        uint64_t v = p[i];
        int32_t j = i;
        while (j > 0 && p[j - 1] > v) { p[j] = p[j - 1]; j--; }
        p[j] = v;
    }
}

typedef struct mframe {
    size_t p0, p1, cur; /* this level's (byte, node) pairs in m->pr, sorted; next group */
    size_t soff;        /* scans after this level's bytes: sb[soff .. soff+ns) */
    int32_t ns;
    int32_t pushed;
    size_t n_items0;
    int32_t n_sets0;
} mframe;

/* Tokens that cross the end of a lexeme: the subtrees of the children
 * x = m->grp[0..nc) of boundary nodes, walked from the scans after the
 * completion sb[so .. so+ns). The parse from there depends only on the
 * bytes after the boundary, and the same suffixes recur under many
 * boundary nodes (`",` `"},` ...), so the candidate subtrees are walked
 * merged: a level holds every candidate node spelling the same suffix,
 * grouped by next byte; each group costs one parser step, shared by all
 * its nodes, and a dead group drops all their subtrees at once. A group of
 * one node continues as a plain walk (no per-level bookkeeping). */
static void completion_walks(pg_gmatch *m, int32_t nc, size_t so, int32_t ns, uint32_t *mask) {
    const pg_gram_vocab *tv = m->tv;
    if (nc == 1) {
        int32_t x = m->grp[0];
        walk_range(m, x, tv->nskip[x], tv->nd[x] - 1, so, ns, mask);
        return;
    }
    ensure_frames(m, tv->max_depth + 2);
    if (m->cap_mf < tv->max_depth + 2) {
        m->cap_mf = tv->max_depth + 2;
        m->mf = gram_xrealloc(m->mf, (size_t)m->cap_mf * sizeof *m->mf);
    }
    mframe *fr = m->mf;
    size_t nsb0 = m->nsb, items0 = m->n_items;
    int32_t sets0 = m->n_sets;
    m->npr = 0;
    for (int32_t k = 0; k < nc; k++) pair_push(m, ((uint64_t)tv->nb[m->grp[k]] << 32) | (uint32_t)m->grp[k]);
    sort_pairs(m, m->pr, (int32_t)m->npr);
    int32_t top = 0;
    fr[0].p0 = 0;
    fr[0].p1 = m->npr;
    fr[0].cur = 0;
    fr[0].soff = so;
    fr[0].ns = ns;
    fr[0].pushed = 0;
    while (top >= 0) {
        mframe *f = &fr[top];
        if (f->cur == f->p1) { /* level done: drop its scans, sets and pairs */
            if (top > 0) {
                if (f->pushed) pop_to(m, f->n_items0, f->n_sets0);
                m->nsb = f->soff;
                m->npr = f->p0;
            }
            top--;
            continue;
        }
        size_t g0 = f->cur, g1 = g0 + 1;
        uint8_t b = (uint8_t)(m->pr[g0] >> 32);
        while (g1 < f->p1 && (uint8_t)(m->pr[g1] >> 32) == b) g1++;
        f->cur = g1;
        size_t n_items0 = m->n_items;
        int32_t n_sets0 = m->n_sets;
        size_t sso = m->nsb;
        int pushed;
        int32_t n = step(m, f->soff, f->ns, b, &pushed);
        int acc = pushed && m->set_acc[m->n_sets - 1];
        if (n > 0 || acc)
            for (size_t q = g0; q < g1; q++) set_tok_bits(tv, (int32_t)(uint32_t)m->pr[q], mask);
        size_t c0 = m->npr;
        if (n > 0 && g1 - g0 == 1) { /* a single node: plain walk of its children */
            int32_t x = (int32_t)(uint32_t)m->pr[g0];
            if (tv->nskip[x] > x + 1) walk_range(m, x + 1, tv->nskip[x], tv->nd[x], sso, n, mask);
        } else if (n > 0) {
            /* children whose byte some scan can take (the others die),
             * when every scan's first-byte set is known already (building
             * one steps the state on all 256 bytes: costly for lexemes
             * with large Unicode classes) */
            uint64_t fb[4] = {~0ull, ~0ull, ~0ull, ~0ull};
            int known = 1;
            for (int32_t q = 0; q < n && known; q++) known = m->g->dfa[m->sb[sso + (size_t)q].st].first_ok;
            if (known) {
                fb[0] = fb[1] = fb[2] = fb[3] = 0;
                for (int32_t q = 0; q < n; q++) {
                    uint64_t ff[4];
                    memcpy(ff, m->g->dfa[m->sb[sso + (size_t)q].st].first, sizeof ff);
                    fb[0] |= ff[0]; fb[1] |= ff[1]; fb[2] |= ff[2]; fb[3] |= ff[3];
                }
            }
            for (size_t q = g0; q < g1; q++) {
                int32_t x = (int32_t)(uint32_t)m->pr[q];
                for (int32_t c = x + 1; c < tv->nskip[x]; c = tv->nskip[c]) {
                    uint8_t cb = tv->nb[c];
                    if ((fb[cb >> 6] >> (cb & 63)) & 1) pair_push(m, ((uint64_t)cb << 32) | (uint32_t)c);
                }
            }
        }
        if (m->npr == c0) { /* dead, single, or alive with no deeper node: undo the step */
            if (pushed) pop_to(m, n_items0, n_sets0);
            m->nsb = sso;
            continue;
        }
        sort_pairs(m, m->pr + c0, (int32_t)(m->npr - c0));
        top++;
        fr[top].p0 = c0;
        fr[top].p1 = m->npr;
        fr[top].cur = c0;
        fr[top].soff = sso;
        fr[top].ns = n;
        fr[top].pushed = pushed;
        fr[top].n_items0 = n_items0;
        fr[top].n_sets0 = n_sets0;
    }
    m->nsb = nsb0;
    pop_to(m, items0, sets0);
}

/* A DFA state whose NFA states lie inside a copy region of x{m,n} (see
 * gram_internal.h) at copies k0..k1 behaves, for any D bytes, exactly like
 * the same set shifted back by k0 copies, provided at least D copies remain
 * after k1 (each copy eats at least one byte, so neither can reach the last
 * copy's end within D bytes). D = the longest token, so both states have
 * the same mask cache entry: positions deep inside a long bounded string
 * share one entry instead of one full trie walk each. */
static int32_t region_of(const pg_grammar *g, int32_t v) {
    int32_t lo = 0, hi = g->n_regs - 1, r = -1;
    while (lo <= hi) {
        int32_t mid = (lo + hi) / 2;
        if (g->reg[3 * mid] <= v) { r = mid; lo = mid + 1; }
        else hi = mid - 1;
    }
    if (r < 0) return -1;
    int64_t end = (int64_t)g->reg[3 * r] + (int64_t)g->reg[3 * r + 1] * g->reg[3 * r + 2];
    return v < end ? r : -1;
}

static int32_t canon_state(pg_grammar *g, int32_t st, int32_t D) {
    if (!g->n_regs) return st;
    int32_t n = g->dfa[st].nset, lex = g->dfa[st].lex;
    memcpy(g->nbuf, g->dset + g->dfa[st].set0, (size_t)n * sizeof *g->nbuf);
    int changed = 0;
    for (int32_t i = 0; i < n;) {
        int32_t r = region_of(g, g->nbuf[i]);
        if (r < 0) { i++; continue; }
        int32_t base = g->reg[3 * r], S = g->reg[3 * r + 1], N = g->reg[3 * r + 2];
        int64_t end = (int64_t)base + (int64_t)S * N;
        int32_t j = i;
        while (j < n && g->nbuf[j] < end) j++;
        int32_t k0 = (g->nbuf[i] - base) / S, k1 = (g->nbuf[j - 1] - base) / S;
        if (k0 > 0 && N - 1 - k1 >= D) {
            for (int32_t t = i; t < j; t++) g->nbuf[t] -= k0 * S;
            changed = 1;
        }
        i = j;
    }
    return changed ? intern(g, n, lex) : st;
}

static centry *get_entry(pg_gmatch *m, int32_t st, int *owned) {
    *owned = 0;
    gcache *c = m->cache;
    pg_grammar *g = m->g;
    if (g->n_regs) {
        if (st >= c->n_canon) {
            int32_t n = g->n_dfa + 64;
            c->canon = gram_xrealloc(c->canon, (size_t)n * sizeof *c->canon);
            for (int32_t i = c->n_canon; i < n; i++) c->canon[i] = 0;
            c->n_canon = n;
        }
        if (!c->canon[st]) c->canon[st] = canon_state(g, st, m->tv->max_depth) + 1;
        st = c->canon[st] - 1;
    }
    if (st >= c->n_ent) {
        int32_t n = g->n_dfa + 64;
        c->ent = gram_xrealloc(c->ent, (size_t)n * sizeof *c->ent);
        for (int32_t i = c->n_ent; i < n; i++) c->ent[i] = NULL;
        c->n_ent = n;
    }
    if (c->ent[st]) return c->ent[st];
    ensure_frames(m, m->tv->max_depth + 2);
    centry *e = centry_build(g, m->tv, st, m->stk);
    size_t sz = centry_bytes(e, m->tv);
    if (c->bytes + sz > CACHE_MAX_BYTES) { *owned = 1; return e; } /* caller frees (not cached) */
    c->bytes += sz;
    c->ent[st] = e;
    return e;
}

static int cmp_scan_st(const void *a, const void *b) {
    const gscan *x = a, *y = b;
    return x->st < y->st ? -1 : x->st > y->st;
}

void pg_gmatch_mask(pg_gmatch *m, uint32_t *mask) {
    const pg_gram_vocab *tv = m->tv;
    size_t words = pg_gram_vocab_mask_words(tv);
    memset(mask, 0, words * sizeof *mask);
    if (m->done) return;
    pg_grammar *g = m->g;
    pthread_mutex_lock(&g->mu);
    if (pg_gmatch_is_accepting(m))
        for (int32_t i = 0; i < tv->n_eog; i++) mask[tv->eog[i] >> 5] |= 1u << (tv->eog[i] & 31);
    /* group the committed scans by DFA state: a sorted copy above them */
    int32_t n = m->ncs;
    m->nsb = (size_t)n;
    for (int32_t i = 0; i < n; i++) push_scan(m, m->sb[i].st, m->sb[i].dot, m->sb[i].origin);
    size_t grp0 = (size_t)n;
    if (n > 1) qsort(m->sb + grp0, (size_t)n, sizeof *m->sb, cmp_scan_st);
    for (int32_t a = 0; a < n;) {
        int32_t st = m->sb[grp0 + (size_t)a].st, z = a;
        while (z < n && m->sb[grp0 + (size_t)z].st == st) z++;
        int owned;
        centry *e = get_entry(m, st, &owned);
        if (e->dense) {
            for (size_t w = 0; w < words; w++) mask[w] |= e->data[w];
        } else {
            for (int32_t k = 0; k < e->n_tok; k++) mask[e->data[k] >> 5] |= 1u << (e->data[k] & 31);
        }
        if (e->n_bnd) {
            size_t items0 = m->n_items;
            int32_t sets0 = m->n_sets;
            size_t so = m->nsb;
            begin_set(m);
            for (int32_t q = a; q < z; q++) {
                gscan s = m->sb[grp0 + (size_t)q];
                add_item(m, s.dot + 1, s.origin, m->n_sets - 1);
            }
            close_set(m);
            int32_t ns = (int32_t)(m->nsb - so);
            if (ns > 0) {
                /* bytes that can follow the completion */
                uint8_t f[32];
                memset(f, 0, sizeof f);
                for (int32_t q = 0; q < ns; q++) {
                    const uint8_t *ff = dfa_first(g, m->sb[so + (size_t)q].st);
                    for (int k = 0; k < 32; k++) f[k] |= ff[k];
                }
                int nf = 0;
                for (int k = 0; k < 32; k++) nf += __builtin_popcount(f[k]);
                int32_t nc = 0;
                if (e->bbits && nf <= 24) {
                    /* candidates: nodes with a following byte whose parent is a boundary */
                    for (int c = 0; c < 256; c++) {
                        if (!(f[c >> 3] & (1u << (c & 7)))) continue;
                        for (int32_t k = tv->bn0[c]; k < tv->bn0[c + 1]; k++) {
                            int32_t x = tv->bnodes[k], p = tv->npar[x];
                            if (p >= 0 && ((e->bbits[p >> 6] >> (p & 63)) & 1)) cand_push(m, &nc, x);
                        }
                    }
                } else {
                    for (int32_t k = 0; k < e->n_bnd; k++) {
                        int32_t nd = e->bnd[k];
                        for (int32_t x = nd + 1; x < tv->nskip[nd]; x = tv->nskip[x])
                            if (f[tv->nb[x] >> 3] & (1u << (tv->nb[x] & 7))) cand_push(m, &nc, x);
                    }
                }
                completion_walks(m, nc, so, ns, mask);
            }
            m->nsb = so;
            pop_to(m, items0, sets0);
        }
        if (owned) centry_free(e);
        a = z;
    }
    m->nsb = (size_t)n;
    pthread_mutex_unlock(&g->mu);
}

size_t pg_gmatch_forced_bytes(pg_gmatch *m, char *buf, size_t cap) {
    if (m->done) return 0;
    pg_grammar *g = m->g;
    pthread_mutex_lock(&g->mu);
    size_t items0 = m->n_items;
    int32_t sets0 = m->n_sets;
    size_t cur = 0;
    int32_t ncur = m->ncs;
    int at = m->at_set;
    size_t nout = 0;
    m->nsb = (size_t)m->ncs;
    while (nout < cap && ncur > 0) {
        if (at && m->set_acc[m->n_sets - 1]) break;
        uint8_t f[32];
        memset(f, 0, sizeof f);
        for (int32_t i = 0; i < ncur; i++) {
            const uint8_t *ff = dfa_first(g, m->sb[cur + (size_t)i].st);
            for (int k = 0; k < 32; k++) f[k] |= ff[k];
        }
        int cnt = 0, byte = -1;
        for (int c = 0; c < 256 && cnt < 2; c++)
            if (f[c >> 3] & (1u << (c & 7))) { cnt++; byte = c; }
        if (cnt != 1) break;
        size_t out = m->nsb;
        int pushed;
        int32_t nn = step(m, cur, ncur, (uint8_t)byte, &pushed);
        buf[nout++] = (char)byte;
        cur = out;
        ncur = nn;
        at = pushed;
    }
    m->nsb = (size_t)m->ncs;
    pop_to(m, items0, sets0);
    pthread_mutex_unlock(&g->mu);
    return nout;
}

int32_t pg_gmatch_forced_tokens(pg_gmatch *m, const pg_vocab *v, int32_t *out, int32_t cap) {
    char buf[512];
    size_t nb = pg_gmatch_forced_bytes(m, buf, sizeof buf);
    if (nb == 0 || cap <= 0) return 0;
    int32_t ids[520];
    int64_t nt = pg_tokenize(v, buf, nb, 0, 0, ids, 520, NULL);
    if (nt <= 1 || nt > 520) return 0;
    pg_gmatch *c = pg_gmatch_clone(m);
    if (!c) return 0;
    int32_t k = 0;
    for (int64_t i = 0; i < nt - 1 && k < cap; i++) {
        if (pg_gmatch_accept_token(c, ids[i]) != PG_OK) break;
        out[k++] = ids[i];
    }
    pg_gmatch_destroy(c);
    return k;
}
