/* gram_build.c - the back half of the GBNF compiler (pipeline in grammar.c):
 * rule analysis (Tarjan SCCs, NFA size estimates), conversion of rules into
 * CFG productions and lexemes, Thompson construction of the lexeme NFAs over
 * UTF-8 bytes, and build(): trimming, productivity, nullable sets and the
 * final pg_grammar; also pg_grammar_compile() and the stats/free API. */
#include "sample/gram_impl.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------- analysis ---------------- */

typedef struct tarjan {
    int32_t *idx, *low, *stk;
    uint8_t *on;
    int32_t n_stk, counter;
    uint8_t *cyc;
} tarjan;

static void refs_of(gb *b, int32_t e, int32_t **out, size_t *n, size_t *cap) {
    gx *x = &b->x[e];
    if (x->k == GX_REF) { VPUSH(*out, *n, *cap, x->a); return; }
    if (x->k == GX_SEQ || x->k == GX_ALT || x->k == GX_REP)
        for (int32_t i = 0; i < x->nk; i++) refs_of(b, b->kids[x->kid0 + i], out, n, cap);
}

static int32_t xsize(gb *b, int32_t e);

static void strong(gb *b, tarjan *t, int32_t v, int depth) {
    if (depth > MAX_DEPTH * 20) { gb_fail(b, PG_ELIMIT, "grammar: rule references nested too deeply"); return; }
    t->idx[v] = t->low[v] = t->counter++;
    t->stk[t->n_stk++] = v;
    t->on[v] = 1;
    int32_t *rs = NULL;
    size_t nr = 0, cr = 0;
    refs_of(b, b->rules[v].body, &rs, &nr, &cr);
    for (size_t i = 0; i < nr; i++) {
        int32_t w = rs[i];
        if (w == v) t->cyc[v] = 1;
        if (t->idx[w] < 0) {
            strong(b, t, w, depth + 1);
            if (b->failed) { free(rs); return; }
            if (t->low[w] < t->low[v]) t->low[v] = t->low[w];
        } else if (t->on[w] && t->idx[w] < t->low[v]) t->low[v] = t->idx[w];
    }
    if (t->low[v] == t->idx[v]) {
        int32_t cnt = 0, top = t->n_stk;
        while (1) {
            int32_t w = t->stk[--t->n_stk];
            t->on[w] = 0;
            cnt++;
            if (w == v) break;
        }
        int cyclic = cnt > 1 || t->cyc[v];
        /* SCC members are stk[n_stk .. top); callees' SCCs are already done */
        for (int32_t i = t->n_stk; i < top; i++) {
            int32_t w = t->stk[i];
            t->cyc[w] = (uint8_t)cyclic;
        }
        for (int32_t i = t->n_stk; i < top; i++) {
            int32_t w = t->stk[i];
            int reg = !cyclic;
            if (reg) {
                int32_t *r2 = NULL;
                size_t n2 = 0, c2 = 0;
                refs_of(b, b->rules[w].body, &r2, &n2, &c2);
                for (size_t j = 0; j < n2; j++)
                    if (!b->regular[r2[j]]) reg = 0;
                free(r2);
            }
            b->regular[w] = (uint8_t)reg;
        }
        for (int32_t i = t->n_stk; i < top; i++) {
            int32_t w = t->stk[i];
            b->rsize[w] = b->regular[w] ? xsize(b, b->rules[w].body) : BIG;
        }
    }
    free(rs);
}

static int32_t sat_add(int32_t a, int32_t c) { int64_t s = (int64_t)a + c; return s > BIG ? BIG : (int32_t)s; }
static int32_t sat_mul(int32_t a, int32_t c) { int64_t s = (int64_t)a * c; return s > BIG ? BIG : (int32_t)s; }

static int32_t cls_size(gb *b, gx *x) {
    int32_t n = 2;
    for (int32_t i = 0; i < x->b; i++) {
        uint32_t hi = b->rng[x->a + 2 * i + 1];
        n += hi < 0x80 ? 1 : 12;
    }
    if (x->neg) n += 16;
    return n;
}

static int32_t xsize(gb *b, int32_t e) {
    if ((size_t)e >= b->nxs) {
        size_t nn = b->nx + 16;
        b->xsize = gram_xrealloc(b->xsize, nn * sizeof *b->xsize);
        for (size_t i = b->nxs; i < nn; i++) b->xsize[i] = -1;
        b->nxs = nn;
    }
    if (b->xsize[e] >= 0) return b->xsize[e];
    gx *x = &b->x[e];
    int32_t s = 0;
    switch (x->k) {
    case GX_STR: s = x->b + 1; break;
    case GX_CLS: s = cls_size(b, x); break;
    case GX_REF: s = b->regular[x->a] ? b->rsize[x->a] : BIG; break;
    case GX_SEQ: case GX_ALT:
        s = 2;
        for (int32_t i = 0; i < x->nk; i++) s = sat_add(s, xsize(b, b->kids[x->kid0 + i]) + 1);
        break;
    case GX_REP: {
        int32_t k = xsize(b, b->kids[x->kid0]);
        s = sat_add(sat_mul(k + 2, x->b < 0 ? x->a + 1 : x->b), 2);
        break;
    }
    }
    b->xsize[e] = s;
    return s;
}

/* ---------------- CFG ---------------- */

static int32_t new_nt(gb *b) { return b->n_nt++; }

static void add_prod(gb *b, int32_t lhs, const int32_t *syms, int32_t n) {
    VGROW(b->plhs, b->np, b->capp);
    /* plhs, pstart, plen grow together (same capacity) */
    b->pstart = gram_xrealloc(b->pstart, b->capp * sizeof *b->pstart);
    b->plen = gram_xrealloc(b->plen, b->capp * sizeof *b->plen);
    b->plhs[b->np] = lhs;
    b->pstart[b->np] = (int32_t)b->npsym;
    b->plen[b->np] = n;
    b->np++;
    for (int32_t i = 0; i < n; i++) VPUSH(b->psym, b->npsym, b->cappsym, syms[i]);
    b->total_syms += (size_t)n + 1;
}

/* Serialize an expression as a dedup key (rule refs by index). */
static void ser(gb *b, int32_t e, char **s, size_t *n, size_t *cap) {
    gx *x = &b->x[e];
    char t[64];
    int k = snprintf(t, sizeof t, "%c%d,%d,%d,%d(", "SCRQAP"[x->k], x->neg, x->a, x->b, x->nk);
    if (x->k == GX_STR || x->k == GX_CLS) k = snprintf(t, sizeof t, "%c%d(", "SCRQAP"[x->k], x->neg);
    for (int i = 0; i < k; i++) VPUSH(*s, *n, *cap, t[i]);
    if (x->k == GX_STR)
        for (int32_t i = 0; i < x->b; i++) VPUSH(*s, *n, *cap, (char)b->bytes[x->a + i]);
    else if (x->k == GX_CLS)
        for (int32_t i = 0; i < 2 * x->b; i++) {
            k = snprintf(t, sizeof t, "%x,", b->rng[x->a + i]);
            for (int j = 0; j < k; j++) VPUSH(*s, *n, *cap, t[j]);
        }
    else if (x->k != GX_REF)
        for (int32_t i = 0; i < x->nk; i++) ser(b, b->kids[x->kid0 + i], s, n, cap);
    VPUSH(*s, *n, *cap, ')');
}

static int32_t lexeme_of(gb *b, int32_t e) {
    /* a reference to a regular rule is its body: rules with equal bodies share one lexeme */
    for (int hops = 0; b->x[e].k == GX_REF && b->regular[b->x[e].a] && hops < 1000; hops++) e = b->rules[b->x[e].a].body;
    char *key = NULL;
    size_t kn = 0, kc = 0;
    ser(b, e, &key, &kn, &kc);
    size_t hk = name_hash(key, kn);
    if (b->lh_cap) {
        size_t h = hk & (b->lh_cap - 1);
        while (b->lh[h] >= 0) {
            int32_t i = b->lh[h];
            if (b->lex_keylen[i] == kn && !memcmp(b->lex_key[i], key, kn)) { free(key); return i; }
            h = (h + 1) & (b->lh_cap - 1);
        }
    }
    if ((b->nlex + 1) * 2 > b->lh_cap) {
        size_t nc = b->lh_cap ? b->lh_cap * 2 : 256;
        free(b->lh);
        b->lh = gram_xrealloc(NULL, nc * sizeof *b->lh);
        for (size_t i = 0; i < nc; i++) b->lh[i] = -1;
        b->lh_cap = nc;
        for (size_t i = 0; i < b->nlex; i++) {
            size_t h = name_hash(b->lex_key[i], b->lex_keylen[i]) & (nc - 1);
            while (b->lh[h] >= 0) h = (h + 1) & (nc - 1);
            b->lh[h] = (int32_t)i;
        }
    }
    {
        size_t h = hk & (b->lh_cap - 1);
        while (b->lh[h] >= 0) h = (h + 1) & (b->lh_cap - 1);
        b->lh[h] = (int32_t)b->nlex;
    }
    size_t cap0 = b->caplex;
    VPUSH(b->lex_x, b->nlex, b->caplex, e);
    if (b->caplex != cap0) {
        b->lex_key = gram_xrealloc(b->lex_key, b->caplex * sizeof *b->lex_key);
        b->lex_keylen = gram_xrealloc(b->lex_keylen, b->caplex * sizeof *b->lex_keylen);
    }
    b->lex_key[b->nlex - 1] = key;
    b->lex_keylen[b->nlex - 1] = kn;
    return (int32_t)(b->nlex - 1);
}

static int32_t rule_nt(gb *b, int32_t r) {
    if (b->rule_nt[r] < 0) {
        b->rule_nt[r] = new_nt(b);
        VPUSH(b->pending_rules, b->npend, b->cappend, r);
    }
    return b->rule_nt[r];
}

/* Number of references to "big" regular rules (rules with a repetition:
 * strings, numbers...) that would be inlined into e; rules of single
 * characters (classes, escapes) are inlined freely. A big rule is kept as its own lexeme rather
 * than merged into a larger one, so that e.g. every string value of an
 * object shares one DFA (and its mask caches) instead of each position of
 * the object being a distinct DFA state. */
/* e contains a repetition with max > 1 (through regular rule references). */
static int has_loop(gb *b, int32_t e) {
    gx *x = &b->x[e];
    switch (x->k) {
    case GX_STR: case GX_CLS: return 0;
    case GX_REF:
        if (!b->regular[x->a]) return 1;
        if (b->rloop[x->a] < 0) b->rloop[x->a] = (int8_t)has_loop(b, b->rules[x->a].body);
        return b->rloop[x->a];
    case GX_REP: return x->b < 0 || x->b > 1 || has_loop(b, b->kids[x->kid0]);
    default:
        for (int32_t i = 0; i < x->nk; i++)
            if (has_loop(b, b->kids[x->kid0 + i])) return 1;
        return 0;
    }
}

static int32_t xbig_(gb *b, int32_t e);
static int32_t xbig(gb *b, int32_t e) {
    if ((size_t)e >= b->nxb) {
        size_t nn = b->nx + 16;
        b->xbigm = gram_xrealloc(b->xbigm, nn * sizeof *b->xbigm);
        for (size_t i = b->nxb; i < nn; i++) b->xbigm[i] = -1;
        b->nxb = nn;
    }
    if (b->xbigm[e] < 0) b->xbigm[e] = xbig_(b, e);
    return b->xbigm[e];
}

static int32_t xbig_(gb *b, int32_t e) {
    gx *x = &b->x[e];
    switch (x->k) {
    case GX_STR: case GX_CLS: return 0;
    case GX_REF:
        if (!b->regular[x->a]) return 0; /* xsize is infinite anyway */
        return has_loop(b, b->rules[x->a].body) ? 1 : xbig(b, b->rules[x->a].body);
    case GX_REP: return xbig(b, b->kids[x->kid0]);
    default: {
        int32_t n = 0;
        for (int32_t i = 0; i < x->nk && n < 2; i++) n += xbig(b, b->kids[x->kid0 + i]);
        return n;
    }
    }
}

static int lexable(gb *b, int32_t e) { return xsize(b, e) <= LEX_LIMIT && xbig(b, e) == 0; }

static void seq_syms(gb *b, int32_t e, int32_t **out, size_t *n, size_t *cap);

/* Symbol for one non-mergeable element. */
static int32_t sym_of(gb *b, int32_t e) {
    gx x = b->x[e];
    if (lexable(b, e)) return SYM_LEX(lexeme_of(b, e));
    if (x.k == GX_REF && b->regular[x.a] && lexable(b, b->rules[x.a].body)) return SYM_LEX(lexeme_of(b, e));
    if (x.k == GX_REF) return rule_nt(b, x.a);
    if (x.k == GX_SEQ || x.k == GX_ALT) {
        int32_t nt = new_nt(b);
        int32_t *syms = NULL;
        size_t ns = 0, cs = 0;
        int32_t nalt = x.k == GX_ALT ? x.nk : 1;
        for (int32_t i = 0; i < nalt; i++) {
            ns = 0;
            seq_syms(b, x.k == GX_ALT ? b->kids[x.kid0 + i] : e, &syms, &ns, &cs);
            add_prod(b, nt, syms, (int32_t)ns);
        }
        free(syms);
        return nt;
    }
    if (x.k == GX_REP && x.b >= 0 && lexable(b, b->kids[x.kid0])) {
        /* A bounded repetition too large for one DFA (e.g. char{0,65535}):
         * chunks of K kids are lexemes: x{m,n} = (x{K})^(m/K) x{m2,n2}
         * with m2 = m%K, n2 = n - K(m/K) = qK + r, and x{m2,n2} a
         * right-nested, unambiguous rule chain (see below). */
        int32_t kid = b->kids[x.kid0];
        int32_t ks = xsize(b, kid) + 2;
        int32_t K = CHUNK_LIMIT / (ks > 0 ? ks : 1);
        if (K < 2) K = 2;
        int32_t mn = x.a, d = x.b - x.a;
        int32_t *syms = NULL;
        size_t ns = 0, cs = 0;
        int32_t full = -1; /* x{K} */
#define REP_LEX(lo, hi)                                                             \
    ({                                                                              \
        int32_t r_ = new_x(b, GX_REP);                                              \
        b->x[r_].a = (lo);                                                          \
        b->x[r_].b = (hi);                                                          \
        b->x[r_].kid0 = (int32_t)b->nkids;                                          \
        b->x[r_].nk = 1;                                                            \
        VPUSH(b->kids, b->nkids, b->capkids, kid);                                  \
        SYM_LEX(lexeme_of(b, r_));                                                  \
    })
        (void)d;
        int32_t mfull = mn / K, m2 = mn % K, n2 = x.b - mfull * K; /* then x{m2,n2}, m2 < K */
        if (mfull || n2 >= K) full = REP_LEX(K, K);
        for (int32_t i = 0; i < mfull; i++) VPUSH(syms, ns, cs, full);
        if (n2 < K) {
            if (n2 > 0) VPUSH(syms, ns, cs, REP_LEX(m2, n2));
        } else {
            /* P_0 = x{0,r}; P_j ::= x{0,K-1} | x{K} P_{j-1}; Q ::= x{m2,K-1} | x{K} P_{q-1}:
             * Q = [m2, K-1] + (K + [0, (q-1)K + r]) = [m2, n2]; no lexeme boundary inside the first chunk */
            int32_t q = n2 / K, r = n2 % K;
            int32_t o = new_nt(b);
            if (r) { int32_t l = REP_LEX(0, r); add_prod(b, o, &l, 1); }
            else add_prod(b, o, NULL, 0);
            int32_t part = q > 1 ? REP_LEX(0, K - 1) : 0;
            for (int32_t j = 1; j < q; j++) {
                int32_t oj = new_nt(b);
                add_prod(b, oj, &part, 1);
                int32_t two[2] = {full, o};
                add_prod(b, oj, two, 2);
                o = oj;
                if (b->total_syms > PG_GRAMMAR_MAX_SYMBOLS) break;
            }
            int32_t top = new_nt(b);
            int32_t first = REP_LEX(m2, K - 1);
            add_prod(b, top, &first, 1);
            int32_t two[2] = {full, o};
            add_prod(b, top, two, 2);
            VPUSH(syms, ns, cs, top);
        }
#undef REP_LEX
        int32_t nt = new_nt(b);
        add_prod(b, nt, syms, (int32_t)ns);
        free(syms);
        return nt;
    }
    if (x.k == GX_REP) {
        int32_t kid = b->kids[x.kid0];
        int32_t k = sym_of(b, kid);
        int32_t nt = new_nt(b);
        int32_t mn = x.a, mx = x.b;
        int32_t *syms = NULL;
        size_t ns = 0, cs = 0;
        for (int32_t i = 0; i < mn; i++) VPUSH(syms, ns, cs, k);
        if (mx < 0) {
            int32_t star = new_nt(b);
            add_prod(b, star, NULL, 0);
            int32_t two[2] = {star, k};
            add_prod(b, star, two, 2);
            VPUSH(syms, ns, cs, star);
        } else if (mx > mn) {
            /* O_1 ::= e | k ; O_j ::= e | k O_{j-1} */
            int32_t prev = -1;
            for (int32_t j = 1; j <= mx - mn; j++) {
                int32_t o = new_nt(b);
                add_prod(b, o, NULL, 0);
                int32_t two[2] = {k, prev};
                add_prod(b, o, two, prev < 0 ? 1 : 2);
                prev = o;
                if (b->total_syms > PG_GRAMMAR_MAX_SYMBOLS) break;
            }
            VPUSH(syms, ns, cs, prev);
        }
        add_prod(b, nt, syms, (int32_t)ns);
        free(syms);
        return nt;
    }
    /* a huge literal or class: lexeme anyway (linear NFA) */
    return SYM_LEX(lexeme_of(b, e));
}

/* Symbols of a sequence: merges runs of small non-reference elements. */
static void seq_syms(gb *b, int32_t e, int32_t **out, size_t *n, size_t *cap) {
    gx x = b->x[e];
    int32_t one = e;
    const int32_t *els = &one;
    int32_t nel = 1;
    int32_t *copy = NULL;
    if (x.k == GX_SEQ) {
        copy = gram_xrealloc(NULL, (size_t)(x.nk ? x.nk : 1) * sizeof *copy);
        if (x.nk) memcpy(copy, b->kids + x.kid0, (size_t)x.nk * sizeof *copy);
        els = copy;
        nel = x.nk;
    }
    int32_t *pend = NULL;
    size_t np = 0, cp = 0;
    int32_t psize = 0;
    for (int32_t i = 0; i <= nel; i++) {
        int32_t el = i < nel ? els[i] : -1;
        int mergeable = el >= 0 && b->x[el].k != GX_REF && lexable(b, el);
        if (el >= 0 && b->x[el].k == GX_STR && b->x[el].b == 0) continue; /* "" = nothing */
        if (mergeable && psize + xsize(b, el) <= LEX_LIMIT) {
            VPUSH(pend, np, cp, el);
            psize += xsize(b, el);
            continue;
        }
        if (np) {
            int32_t lx = np == 1 ? pend[0] : new_list(b, GX_SEQ, pend, (int32_t)np);
            VPUSH(*out, *n, *cap, SYM_LEX(lexeme_of(b, lx)));
            np = 0;
            psize = 0;
        }
        if (el < 0) break;
        if (mergeable) { VPUSH(pend, np, cp, el); psize = xsize(b, el); continue; }
        VPUSH(*out, *n, *cap, sym_of(b, el));
    }
    free(pend);
    free(copy);
}

static void convert_rule(gb *b, int32_t r) {
    int32_t nt = b->rule_nt[r];
    gx x = b->x[b->rules[r].body];
    int32_t *syms = NULL;
    size_t ns = 0, cs = 0;
    if (lexable(b, b->rules[r].body)) {
        int32_t s = SYM_LEX(lexeme_of(b, b->rules[r].body));
        add_prod(b, nt, &s, 1);
        return;
    }
    int32_t nalt = x.k == GX_ALT ? x.nk : 1;
    for (int32_t i = 0; i < nalt; i++) {
        ns = 0;
        seq_syms(b, x.k == GX_ALT ? b->kids[x.kid0 + i] : b->rules[r].body, &syms, &ns, &cs);
        add_prod(b, nt, syms, (int32_t)ns);
    }
    free(syms);
}

/* ---------------- NFA ---------------- */

static int32_t nnew(gb *b) {
    VGROW(b->nfinal, b->n_nfa, b->capfinal);
    b->nfinal[b->n_nfa] = 0;
    return b->n_nfa++;
}

static void nedge(gb *b, int32_t from, int lo, int hi, int32_t to) {
    size_t c0 = b->cape;
    VGROW(b->ef, b->ne, b->cape);
    if (b->cape != c0) {
        b->et = gram_xrealloc(b->et, b->cape * sizeof *b->et);
        b->elo = gram_xrealloc(b->elo, b->cape);
        b->ehi = gram_xrealloc(b->ehi, b->cape);
    }
    b->ef[b->ne] = from;
    b->et[b->ne] = to;
    b->elo[b->ne] = (uint8_t)lo;
    b->ehi[b->ne] = (uint8_t)hi;
    b->ne++;
}
#define EPS(b, f, t) nedge(b, f, 1, 0, t)

static void enc(uint32_t cp, uint8_t *t, int n) {
    if (n == 1) t[0] = (uint8_t)cp;
    else if (n == 2) { t[0] = (uint8_t)(0xC0 | (cp >> 6)); t[1] = (uint8_t)(0x80 | (cp & 0x3F)); }
    else if (n == 3) {
        t[0] = (uint8_t)(0xE0 | (cp >> 12)); t[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
        t[2] = (uint8_t)(0x80 | (cp & 0x3F));
    } else {
        t[0] = (uint8_t)(0xF0 | (cp >> 18)); t[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3F));
        t[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F)); t[3] = (uint8_t)(0x80 | (cp & 0x3F));
    }
}

/* State from which exactly k continuation bytes (80..BF) lead to e; shared
 * per class so every multi-byte range ends in one chain. */
static int32_t utf8_tail(gb *b, int32_t *tails, int32_t e, int k) {
    if (k == 0) return e;
    if (tails[k] < 0) {
        int32_t t = nnew(b);
        nedge(b, t, 0x80, 0xBF, utf8_tail(b, tails, e, k - 1));
        tails[k] = t;
    }
    return tails[k];
}

/* All byte sequences of length n between lo and hi (continuation bytes 80..BF). */
static void utf8_seq(gb *b, int32_t *tails, int32_t s, int32_t e, const uint8_t *lo, const uint8_t *hi, int n) {
    static const uint8_t MN[4] = {0x80, 0x80, 0x80, 0x80}, MX[4] = {0xBF, 0xBF, 0xBF, 0xBF};
    if (n == 1) { nedge(b, s, lo[0], hi[0], e); return; }
    if (lo[0] == hi[0]) {
        int lo_min = 1, hi_max = 1;
        for (int i = 1; i < n; i++) { if (lo[i] != 0x80) lo_min = 0; if (hi[i] != 0xBF) hi_max = 0; }
        if (lo_min && hi_max) { nedge(b, s, lo[0], lo[0], utf8_tail(b, tails, e, n - 1)); return; }
        int32_t m = nnew(b);
        nedge(b, s, lo[0], lo[0], m);
        utf8_seq(b, tails, m, e, lo + 1, hi + 1, n - 1);
        return;
    }
    int a = lo[0], z = hi[0];
    int lo_min = 1, hi_max = 1;
    for (int i = 1; i < n; i++) { if (lo[i] != 0x80) lo_min = 0; if (hi[i] != 0xBF) hi_max = 0; }
    if (!lo_min) {
        int32_t m = nnew(b);
        nedge(b, s, a, a, m);
        utf8_seq(b, tails, m, e, lo + 1, MX, n - 1);
        a++;
    }
    if (!hi_max) {
        int32_t m = nnew(b);
        nedge(b, s, z, z, m);
        utf8_seq(b, tails, m, e, MN, hi + 1, n - 1);
        z--;
    }
    if (a <= z) nedge(b, s, a, z, utf8_tail(b, tails, e, n - 1));
}

static void cp_range(gb *b, int32_t *tails, int32_t s, int32_t e, uint32_t lo, uint32_t hi) {
    static const uint32_t lmin[5] = {0, 0, 0x80, 0x800, 0x10000}, lmax[5] = {0, 0x7F, 0x7FF, 0xFFFF, 0x10FFFF};
    for (int n = 1; n <= 4; n++) {
        uint32_t a = lo > lmin[n] ? lo : lmin[n], z = hi < lmax[n] ? hi : lmax[n];
        if (a > z) continue;
        uint8_t ta[4], tz[4];
        enc(a, ta, n);
        enc(z, tz, n);
        utf8_seq(b, tails, s, e, ta, tz, n);
    }
}

static int cmp_u32pair(const void *p, const void *q) {
    const uint32_t *x = p, *y = q;
    return x[0] < y[0] ? -1 : x[0] > y[0];
}

static int32_t frag(gb *b, int32_t e, int32_t s);

static int x_nullable(gb *b, int32_t e) {
    gx *x = &b->x[e];
    switch (x->k) {
    case GX_STR: return x->b == 0;
    case GX_CLS: return 0;
    case GX_REF: return x_nullable(b, b->rules[x->a].body);
    case GX_SEQ:
        for (int32_t i = 0; i < x->nk; i++)
            if (!x_nullable(b, b->kids[x->kid0 + i])) return 0;
        return 1;
    case GX_ALT:
        for (int32_t i = 0; i < x->nk; i++)
            if (x_nullable(b, b->kids[x->kid0 + i])) return 1;
        return 0;
    case GX_REP: return x->a == 0 || x_nullable(b, b->kids[x->kid0]);
    }
    return 0;
}

static int32_t frag_cls(gb *b, gx *x, int32_t s) {
    int32_t e = nnew(b);
    size_t n = (size_t)x->b;
    uint32_t *r = gram_xrealloc(NULL, (2 * n + 2) * sizeof *r);
    if (n) memcpy(r, b->rng + x->a, 2 * n * sizeof *r);
    qsort(r, n, 2 * sizeof *r, cmp_u32pair);
    /* merge overlapping */
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (m && r[2 * i] <= r[2 * (m - 1) + 1] + 1) {
            if (r[2 * i + 1] > r[2 * (m - 1) + 1]) r[2 * (m - 1) + 1] = r[2 * i + 1];
        } else { r[2 * m] = r[2 * i]; r[2 * m + 1] = r[2 * i + 1]; m++; }
    }
    /* ranges to emit, minus surrogates */
    uint32_t *out = gram_xrealloc(NULL, (2 * m + 8) * sizeof *out);
    size_t no = 0;
    if (!x->neg) {
        for (size_t i = 0; i < m; i++) { out[no++] = r[2 * i]; out[no++] = r[2 * i + 1]; }
    } else {
        uint32_t next = 0;
        for (size_t i = 0; i < m; i++) {
            if (r[2 * i] > next) { out[no++] = next; out[no++] = r[2 * i] - 1; }
            next = r[2 * i + 1] + 1;
        }
        if (next <= 0x10FFFF) { out[no++] = next; out[no++] = 0x10FFFF; }
    }
    int32_t tails[4] = {-1, -1, -1, -1};
    for (size_t i = 0; i < no; i += 2) {
        uint32_t lo = out[i], hi = out[i + 1];
        if (lo <= 0xD7FF) cp_range(b, tails, s, e, lo, hi < 0xD7FF ? hi : 0xD7FF);
        if (hi >= 0xE000) cp_range(b, tails, s, e, lo > 0xE000 ? lo : 0xE000, hi);
    }
    free(r);
    free(out);
    return e;
}

static int32_t frag(gb *b, int32_t e, int32_t s) {
    gx x = b->x[e];
    switch (x.k) {
    case GX_STR:
        for (int32_t i = 0; i < x.b; i++) {
            int32_t t = nnew(b);
            nedge(b, s, b->bytes[x.a + i], b->bytes[x.a + i], t);
            s = t;
        }
        return s;
    case GX_CLS: return frag_cls(b, &b->x[e], s);
    case GX_REF: return frag(b, b->rules[x.a].body, s);
    case GX_SEQ:
        for (int32_t i = 0; i < x.nk; i++) s = frag(b, b->kids[x.kid0 + i], s);
        return s;
    case GX_ALT: {
        int32_t end = nnew(b);
        for (int32_t i = 0; i < x.nk; i++) {
            int32_t st = nnew(b);
            EPS(b, s, st);
            int32_t en = frag(b, b->kids[x.kid0 + i], st);
            EPS(b, en, end);
        }
        return end;
    }
    case GX_REP: {
        int32_t kid = b->kids[x.kid0];
        b->in_rep++;
        for (int32_t i = 0; i < x.a; i++) {
            int32_t st = nnew(b);
            EPS(b, s, st);
            s = frag(b, kid, st);
        }
        b->in_rep--;
        if (x.b < 0) {
            int32_t loop = nnew(b);
            EPS(b, s, loop);
            int32_t st = nnew(b);
            EPS(b, loop, st);
            b->in_rep++;
            int32_t en = frag(b, kid, st);
            b->in_rep--;
            EPS(b, en, loop);
            return loop;
        }
        int32_t end = nnew(b);
        int32_t first = b->n_nfa, top = b->in_rep == 0;
        b->in_rep++;
        for (int32_t i = x.a; i < x.b; i++) {
            EPS(b, s, end);
            int32_t st = nnew(b);
            EPS(b, s, st);
            s = frag(b, kid, st);
        }
        b->in_rep--;
        EPS(b, s, end);
        /* a top-level run of optional copies of a non-empty kid: copy i is
         * states [first + i*S, first + (i+1)*S), all isomorphic (used to
         * share mask caches between positions, gram_match.c) */
        int32_t nc = x.b - x.a;
        if (top && nc >= 8 && !x_nullable(b, kid) && (b->n_nfa - first) % nc == 0) {
            grep_ r = {first, (b->n_nfa - first) / nc, nc};
            VPUSH(b->regs, b->nregs, b->capregs, r);
        }
        return end;
    }
    }
    PG_PANIC("bad expression kind");
}

/* ---------------- driver ---------------- */

static void gb_free(gb *b) {
    for (size_t i = 0; i < b->nrules; i++) free(b->rules[i].name);
    for (size_t i = 0; i < b->nlex; i++) free(b->lex_key[i]);
    free(b->rh); free(b->lh);
    free(b->x); free(b->kids); free(b->bytes); free(b->rng); free(b->rules);
    free(b->xsize); free(b->xbigm); free(b->rloop); free(b->regular); free(b->rsize); free(b->rule_nt);
    free(b->plhs); free(b->pstart); free(b->plen); free(b->psym); free(b->pending_rules);
    free(b->lex_x); free(b->lex_key); free(b->lex_keylen);
    free(b->regs);
    free(b->ef); free(b->et); free(b->elo); free(b->ehi); free(b->nfinal);
}

void pg_grammar_free(pg_grammar *g) {
    if (!g) return;
    gram_dfa_free(g);
    pthread_mutex_destroy(&g->mu);
    free(g->prod_lhs); free(g->prod_dot0); free(g->dsym); free(g->dprod);
    free(g->nt_p0); free(g->nt_np); free(g->nt_prods); free(g->nt_nullable);
    free(g->lex_nfa); free(g->lex_nullable); free(g->reg);
    free(g->nfa_e0); free(g->nfa_to); free(g->nfa_lo); free(g->nfa_hi); free(g->nfa_final);
    free(g);
}

/* analysis: NFA size tables and Tarjan SCCs over rule references */
static void build_analyse(gb *b, size_t nr) {
    b->nxs = b->nx + 1;
    b->xsize = gram_xrealloc(NULL, b->nxs * sizeof *b->xsize);
    for (size_t i = 0; i < b->nxs; i++) b->xsize[i] = -1;
    b->regular = calloc(nr + 1, 1);
    b->rloop = gram_xrealloc(NULL, nr + 1);
    memset(b->rloop, -1, nr + 1);
    b->rsize = gram_xrealloc(NULL, (nr + 1) * sizeof *b->rsize);
    tarjan t;
    t.idx = gram_xrealloc(NULL, (nr + 1) * sizeof *t.idx);
    t.low = gram_xrealloc(NULL, (nr + 1) * sizeof *t.low);
    t.stk = gram_xrealloc(NULL, (nr + 1) * sizeof *t.stk);
    t.on = calloc(nr + 1, 1);
    t.cyc = calloc(nr + 1, 1);
    t.n_stk = 0;
    t.counter = 0;
    for (size_t i = 0; i < nr; i++) t.idx[i] = -1;
    for (size_t i = 0; i < nr && !b->failed; i++)
        if (t.idx[i] < 0) strong(b, &t, (int32_t)i, 0);
    free(t.idx); free(t.low); free(t.stk); free(t.on); free(t.cyc);
}

/* trims the NFA to the states that can reach a final state, stores it in g
 * as CSR with the copy regions; returns which lexemes kept their start */
static uint8_t *build_nfa(gb *b, pg_grammar *g, int32_t *lex_start, int32_t nlex) {
    int32_t nn = b->n_nfa;
    /* trim: states that can reach a final state (reverse reachability) */
    int32_t *re0 = calloc((size_t)nn + 2, sizeof *re0), *rsrc = gram_xrealloc(NULL, (b->ne + 1) * sizeof *rsrc);
    for (size_t i = 0; i < b->ne; i++) re0[b->et[i] + 1]++;
    for (int32_t i = 0; i < nn; i++) re0[i + 1] += re0[i];
    int32_t *fill = gram_xrealloc(NULL, ((size_t)nn + 1) * sizeof *fill);
    memcpy(fill, re0, (size_t)nn * sizeof *fill);
    for (size_t i = 0; i < b->ne; i++) rsrc[fill[b->et[i]]++] = b->ef[i];
    uint8_t *alive = calloc((size_t)nn + 1, 1);
    int32_t *stack = gram_xrealloc(NULL, ((size_t)nn + 1) * sizeof *stack);
    int32_t ns = 0;
    for (int32_t i = 0; i < nn; i++) if (b->nfinal[i]) { alive[i] = 1; stack[ns++] = i; }
    while (ns) {
        int32_t v = stack[--ns];
        for (int32_t k = re0[v]; k < re0[v + 1]; k++)
            if (!alive[rsrc[k]]) { alive[rsrc[k]] = 1; stack[ns++] = rsrc[k]; }
    }
    free(re0); free(rsrc); free(fill); free(stack);
    /* CSR of live edges */
    g->n_nfa = nn;
    g->nfa_e0 = calloc((size_t)nn + 2, sizeof *g->nfa_e0);
    size_t nle = 0;
    for (size_t i = 0; i < b->ne; i++)
        if (alive[b->ef[i]] && alive[b->et[i]]) { g->nfa_e0[b->ef[i] + 1]++; nle++; }
    for (int32_t i = 0; i < nn; i++) g->nfa_e0[i + 1] += g->nfa_e0[i];
    g->nfa_to = gram_xrealloc(NULL, (nle + 1) * sizeof *g->nfa_to);
    g->nfa_lo = gram_xrealloc(NULL, nle + 1);
    g->nfa_hi = gram_xrealloc(NULL, nle + 1);
    fill = gram_xrealloc(NULL, ((size_t)nn + 1) * sizeof *fill);
    memcpy(fill, g->nfa_e0, (size_t)nn * sizeof *fill);
    for (size_t i = 0; i < b->ne; i++)
        if (alive[b->ef[i]] && alive[b->et[i]]) {
            int32_t k = fill[b->ef[i]]++;
            g->nfa_to[k] = b->et[i];
            g->nfa_lo[k] = b->elo[i];
            g->nfa_hi[k] = b->ehi[i];
        }
    free(fill);
    g->nfa_final = gram_xrealloc(NULL, (size_t)nn + 1);
    if (nn) memcpy(g->nfa_final, b->nfinal, (size_t)nn);
    g->n_lex = nlex;
    g->lex_nfa = lex_start;
    /* copy regions, sorted by base (disjoint: only top-level ones are kept) */
    g->n_regs = (int32_t)b->nregs;
    g->reg = gram_xrealloc(NULL, (b->nregs + 1) * 3 * sizeof *g->reg);
    for (size_t i = 0; i < b->nregs; i++) {
        g->reg[3 * i] = b->regs[i].base;
        g->reg[3 * i + 1] = b->regs[i].stride;
        g->reg[3 * i + 2] = b->regs[i].n;
    }
    uint8_t *lex_ok = calloc((size_t)nlex + 1, 1);
    for (int32_t l = 0; l < nlex; l++) lex_ok[l] = alive[lex_start[l]];
    free(alive);
    return lex_ok;
}

/* productions per nonterminal and the nullable nonterminals */
static void build_nt_index(pg_grammar *g, int32_t nnt, int32_t np) {
    g->nt_p0 = calloc((size_t)nnt + 1, sizeof *g->nt_p0);
    g->nt_np = calloc((size_t)nnt + 1, sizeof *g->nt_np);
    g->nt_prods = gram_xrealloc(NULL, ((size_t)np + 1) * sizeof *g->nt_prods);
    for (int32_t p = 0; p < np; p++) g->nt_np[g->prod_lhs[p]]++;
    for (int32_t i = 1; i <= nnt; i++) g->nt_p0[i] = g->nt_p0[i - 1] + g->nt_np[i - 1];
    int32_t *cnt = calloc((size_t)nnt + 1, sizeof *cnt);
    for (int32_t p = 0; p < np; p++) {
        int32_t l = g->prod_lhs[p];
        g->nt_prods[g->nt_p0[l] + cnt[l]++] = p;
    }
    free(cnt);
    /* nullable */
    g->nt_nullable = calloc((size_t)nnt + 1, 1);
    int changed = 1;
    while (changed) {
        changed = 0;
        for (int32_t p = 0; p < np; p++) {
            if (g->nt_nullable[g->prod_lhs[p]]) continue;
            int ok = 1;
            for (int32_t d = g->prod_dot0[p]; g->dsym[d] != SYM_END && ok; d++) {
                int32_t s = g->dsym[d];
                ok = s >= 0 ? g->nt_nullable[s] : g->lex_nullable[SYM_LEXID(s)];
            }
            if (ok) { g->nt_nullable[g->prod_lhs[p]] = 1; changed = 1; }
        }
    }
}

static int build(gb *b, const char *root, pg_grammar **out) {
    int rc = parse_grammar(b);
    if (rc) return rc;
    for (size_t i = 0; i < b->nrules; i++)
        if (b->rules[i].body < 0) {
            int32_t l, c;
            line_col(b, b->rules[i].ref_pos ? b->rules[i].ref_pos - 1 : 0, &l, &c);
            return gb_fail(b, PG_EINVAL, "grammar: line %d col %d: undefined rule '%s'", l, c, b->rules[i].name);
        }
    int32_t rroot = find_rule(b, root, strlen(root), 0);
    if (rroot < 0) return gb_fail(b, PG_EINVAL, "grammar: no '%s' rule (the start rule)", root);

    size_t nr = b->nrules;
    build_analyse(b, nr);
    if (b->failed) return b->err ? b->err->code : PG_ELIMIT;
    /* xsize of expressions created later (merged sequences) */
    /* CFG */
    b->rule_nt = gram_xrealloc(NULL, (nr + 1) * sizeof *b->rule_nt);
    for (size_t i = 0; i < nr; i++) b->rule_nt[i] = -1;
    b->n_nt = 1; /* 0 = S' */
    int32_t rnt = rule_nt(b, rroot);
    add_prod(b, 0, &rnt, 1);
    for (size_t i = 0; i < b->npend; i++) {
        convert_rule(b, b->pending_rules[i]);
        if (b->total_syms > PG_GRAMMAR_MAX_SYMBOLS)
            return gb_fail(b, PG_ELIMIT, "grammar: too large after expanding repetitions (over %d symbols)",
                           PG_GRAMMAR_MAX_SYMBOLS);
    }
    /* NFA per lexeme */
    int32_t nlex = (int32_t)b->nlex;
    int32_t *lex_start = gram_xrealloc(NULL, (size_t)(nlex + 1) * sizeof *lex_start);
    for (int32_t l = 0; l < nlex; l++) {
        int32_t s = nnew(b);
        lex_start[l] = s;
        int32_t e = frag(b, b->lex_x[l], s);
        b->nfinal[e] = 1;
        if (b->n_nfa > 50 * 1000 * 1000) { free(lex_start); return gb_fail(b, PG_ELIMIT, "grammar: lexer too large"); }
    }
    pg_grammar *g = calloc(1, sizeof *g);
    if (!g) { free(lex_start); return gb_fail(b, PG_ENOMEM, "grammar: out of memory"); }
    pthread_mutex_init(&g->mu, NULL);
    uint8_t *lex_ok = build_nfa(b, g, lex_start, nlex);
    /* productivity */
    int32_t nnt = b->n_nt;
    uint8_t *prodv = calloc((size_t)nnt + 1, 1);
    int changed = 1;
    while (changed) {
        changed = 0;
        for (size_t p = 0; p < b->np; p++) {
            if (prodv[b->plhs[p]]) continue;
            int ok = 1;
            for (int32_t i = 0; i < b->plen[p] && ok; i++) {
                int32_t s = b->psym[b->pstart[p] + i];
                ok = s >= 0 ? prodv[s] : lex_ok[SYM_LEXID(s)];
            }
            if (ok) { prodv[b->plhs[p]] = 1; changed = 1; }
        }
    }
    if (!prodv[0]) {
        free(prodv); free(lex_ok); pg_grammar_free(g);
        return gb_fail(b, PG_EINVAL, "grammar: the grammar matches no string (rule '%s' cannot complete)", root);
    }
    /* keep productive productions; lay out dots */
    g->n_nt = nnt;
    g->prod_lhs = gram_xrealloc(NULL, (b->np + 1) * sizeof *g->prod_lhs);
    g->prod_dot0 = gram_xrealloc(NULL, (b->np + 1) * sizeof *g->prod_dot0);
    g->dsym = gram_xrealloc(NULL, (b->total_syms + 1) * sizeof *g->dsym);
    g->dprod = gram_xrealloc(NULL, (b->total_syms + 1) * sizeof *g->dprod);
    int32_t np = 0, nd = 0;
    for (size_t p = 0; p < b->np; p++) {
        int ok = 1;
        for (int32_t i = 0; i < b->plen[p] && ok; i++) {
            int32_t s = b->psym[b->pstart[p] + i];
            ok = s >= 0 ? prodv[s] : lex_ok[SYM_LEXID(s)];
        }
        if (!ok) continue;
        g->prod_lhs[np] = b->plhs[p];
        g->prod_dot0[np] = nd;
        for (int32_t i = 0; i < b->plen[p]; i++) { g->dsym[nd] = b->psym[b->pstart[p] + i]; g->dprod[nd++] = np; }
        g->dsym[nd] = SYM_END;
        g->dprod[nd++] = np;
        np++;
    }
    g->n_prod = np;
    g->n_dots = nd;
    free(prodv);
    g->lex_nullable = calloc((size_t)nlex + 1, 1);
    gram_dfa_init(g);
    for (int32_t l = 0; l < nlex; l++) {
        if (!lex_ok[l]) { g->lex_dfa0[l] = DFA_DEAD; continue; }
        int32_t d = gram_dfa_start(g, l);
        g->lex_nullable[l] = d >= 0 && g->dfa[d].acc;
    }
    free(lex_ok);
    build_nt_index(g, nnt, np);
    *out = g;
    return 0;
}

int pg_grammar_compile(const char *gbnf, size_t len, const char *root, pg_grammar **out, pg_error *err) {
    *out = NULL;
    if (!gbnf) return pg_error_set(err, PG_EINVAL, "grammar: no text");
    if (len > PG_GRAMMAR_MAX_TEXT) return pg_error_set(err, PG_ELIMIT, "grammar: text over %u bytes", PG_GRAMMAR_MAX_TEXT);
    gb b;
    memset(&b, 0, sizeof b);
    b.s = gbnf;
    b.n = len;
    b.err = err;
    int rc = build(&b, root ? root : "root", out);
    gb_free(&b);
    if (rc && !b.failed) rc = pg_error_set(err, rc, "grammar: compile failed");
    return rc;
}

void pg_grammar_stats_get(const pg_grammar *g, pg_grammar_stats *st) {
    st->n_rules = g->n_nt;
    st->n_prods = g->n_prod;
    st->n_lexemes = g->n_lex;
    st->n_nfa = g->n_nfa;
    pthread_mutex_lock((pthread_mutex_t *)&g->mu);
    st->n_dfa = g->n_dfa;
    pthread_mutex_unlock((pthread_mutex_t *)&g->mu);
}
