/* gram_match.c - lazy lexeme DFAs, the vocabulary trie, the Earley matcher
 * over lexemes and exact token masks. This file holds the lazy DFAs and the
 * vocabulary trie; the caches, the matcher and the masks are in
 * gram_earley.c (shared internals: gram_impl.h).
 *
 * Parse state (pg_gmatch): a stack of Earley sets, one per position where
 * some lexeme completed (not one per byte), plus the "scans" at the current
 * byte position: (DFA state, dot, origin) = item (dot, origin) whose next
 * symbol is a lexeme, with the lexeme's DFA advanced over the bytes read
 * since it started. A byte steps every scan's DFA (dead ones vanish); scans
 * whose DFA accepts complete their item into a new Earley set (closure:
 * predict, complete with the Aycock-Horspool nullable rule), whose
 * predicted lexemes add scans at their start states. Completing and
 * continuing are both kept (no greedy lexing), so the language is exactly
 * the grammar's. Every kept NFA state can reach acceptance and every
 * production is productive, so the state is viable iff it has a scan or
 * the current set holds the completed start item.
 *
 * Mask (pg_gmatch_mask) = union over the current scans of
 *   - T_in(s): tokens whose bytes all keep the DFA state s alive (they stay
 *     inside the lexeme), cached per (grammar, vocab, DFA state), and
 *   - for each trie node n where the DFA from s accepts after n's bytes and
 *     n has children (also cached per s): the children's subtrie walked with
 *     the full parser from "scans in state s completed at n". This set is
 *     the same for every such n, so it is built once per distinct s.
 * The general walk visits the flat preorder trie, skipping a subtree as
 * soon as the parse state dies; completion walks only visit children whose
 * byte can follow the completion (nodes indexed by byte, boundary nodes as
 * a bitset when many). Cost: a few bitset ORs plus small walks of the
 * tokens that cross a lexeme boundary.
 *
 * Cache misses (a DFA state seen for the first time) cost one DFA-only walk
 * of the trie. Three things keep them rare and cheap: a state that loops on
 * every plain byte (printable ASCII but '"' and '\\') takes all plain tokens
 * as a precomputed bitset and walks only the trie of the other tokens; each
 * trie node knows the bytes below it (nsub), so where the walk's state loops
 * on all of them the subtree's tokens are taken at once (tpos ranges, or a
 * bitset for big subtrees) - the same test cuts the full-parser walks where
 * one scan is left; and states deep inside a bounded repetition x{m,n} are
 * mapped to the same state shifted back by whole copies (canon_state), valid
 * while at least max-token-length copies remain. Completion walks of all
 * boundary nodes of a state are merged by shared suffix (completion_walks).
 *
 * Threading: DFA states and caches grow lazily under g->mu, held for a
 * whole mask/accept call.
 */
#include "sample/gram_impl.h"

#include <stdlib.h>
#include <string.h>
#include <string.h>

/* ---------------- lazy DFA ---------------- */

void gram_dfa_init(pg_grammar *g) {
    g->lex_dfa0 = gram_xrealloc(NULL, ((size_t)g->n_lex + 1) * sizeof *g->lex_dfa0);
    for (int32_t l = 0; l < g->n_lex; l++) g->lex_dfa0[l] = DFA_UNKNOWN;
    g->cap_hash = 1024;
    g->dhash = gram_xrealloc(NULL, g->cap_hash * sizeof *g->dhash);
    for (size_t i = 0; i < g->cap_hash; i++) g->dhash[i] = -1;
    /* byte classes per lexeme: its NFA states are the contiguous range
     * [lex_nfa[l], next lexeme's start) (built one lexeme after another) */
    g->lex_cls = gram_xrealloc(NULL, ((size_t)g->n_lex + 1) * 256);
    g->lex_ncls = gram_xrealloc(NULL, ((size_t)g->n_lex + 1) * sizeof *g->lex_ncls);
    for (int32_t l = 0; l < g->n_lex; l++) {
        uint8_t cut[257];
        memset(cut, 0, sizeof cut);
        int32_t a = g->lex_nfa[l], z = l + 1 < g->n_lex ? g->lex_nfa[l + 1] : g->n_nfa;
        for (int32_t st = a; st < z; st++)
            for (int32_t e = g->nfa_e0[st]; e < g->nfa_e0[st + 1]; e++)
                if (g->nfa_lo[e] <= g->nfa_hi[e]) { cut[g->nfa_lo[e]] = 1; cut[g->nfa_hi[e] + 1] = 1; }
        int32_t k = 0;
        for (int c = 0; c < 256; c++) {
            if (c && cut[c]) k++;
            g->lex_cls[(size_t)l * 256 + (size_t)c] = (uint8_t)k;
        }
        g->lex_ncls[l] = k + 1;
    }
    g->nmark = calloc((size_t)g->n_nfa + 1, sizeof *g->nmark);
    g->nstack = gram_xrealloc(NULL, ((size_t)g->n_nfa + 1) * sizeof *g->nstack);
    g->nbuf = gram_xrealloc(NULL, ((size_t)g->n_nfa + 1) * sizeof *g->nbuf);
    if (!g->nmark) PG_PANIC("grammar: out of memory");
}

struct gcache;

void gram_dfa_free(pg_grammar *g) {
    caches_free(g);
    free(g->dfa);
    free(g->dloop);
    free(g->hot);
    free(g->tpool);
    free(g->lex_cls);
    free(g->lex_ncls);
    free(g->dset);
    free(g->dhash);
    free(g->lex_dfa0);
    free(g->nmark);
    free(g->nstack);
    free(g->nbuf);
}

static uint64_t set_hash(const int32_t *s, int32_t n) {
    uint64_t h = 1469598103934665603ull;
    for (int32_t i = 0; i < n; i++) { h ^= (uint32_t)s[i]; h *= 1099511628211ull; }
    return h ^ (h >> 29);
}

static int cmp_i32(const void *a, const void *b) {
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return x < y ? -1 : x > y;
}

/* Epsilon closure of nstack[0..ns) into nbuf, keeping only states with a
 * byte edge or final (the ones that matter); returns the count. */
static int32_t closure(pg_grammar *g, int32_t ns) {
    if (++g->nmark_gen == INT32_MAX) {
        memset(g->nmark, 0, (size_t)g->n_nfa * sizeof *g->nmark);
        g->nmark_gen = 1;
    }
    int32_t gen = g->nmark_gen, nb = 0;
    for (int32_t i = 0; i < ns; i++) g->nmark[g->nstack[i]] = gen;
    while (ns) {
        int32_t s = g->nstack[--ns];
        int keep = g->nfa_final[s];
        for (int32_t k = g->nfa_e0[s]; k < g->nfa_e0[s + 1]; k++) {
            if (g->nfa_lo[k] > g->nfa_hi[k]) {
                int32_t t = g->nfa_to[k];
                if (g->nmark[t] != gen) { g->nmark[t] = gen; g->nstack[ns++] = t; }
            } else keep = 1;
        }
        if (keep) g->nbuf[nb++] = s;
    }
    qsort(g->nbuf, (size_t)nb, sizeof *g->nbuf, cmp_i32);
    return nb;
}

int32_t intern(pg_grammar *g, int32_t n, int32_t lex) {
    if (n == 0) return DFA_DEAD;
    uint64_t h = set_hash(g->nbuf, n);
    size_t mask = g->cap_hash - 1, i = (size_t)h & mask;
    while (g->dhash[i] >= 0) {
        gdfa_state *d = &g->dfa[g->dhash[i]];
        if (d->nset == n && !memcmp(g->dset + d->set0, g->nbuf, (size_t)n * sizeof *g->nbuf)) return g->dhash[i];
        i = (i + 1) & mask;
    }
    if (g->n_dfa == g->cap_dfa) {
        g->cap_dfa = g->cap_dfa ? g->cap_dfa * 2 : 64;
        g->dfa = gram_xrealloc(g->dfa, (size_t)g->cap_dfa * sizeof *g->dfa);
        g->dloop = gram_xrealloc(g->dloop, (size_t)g->cap_dfa * 8 * sizeof *g->dloop);
        g->hot = gram_xrealloc(g->hot, (size_t)g->cap_dfa * sizeof *g->hot);
    }
    if (g->n_dset + (size_t)n > g->cap_dset) {
        while (g->n_dset + (size_t)n > g->cap_dset) g->cap_dset = g->cap_dset ? g->cap_dset * 2 : 1024;
        g->dset = gram_xrealloc(g->dset, g->cap_dset * sizeof *g->dset);
    }
    size_t ncls = (size_t)g->lex_ncls[lex];
    if (g->n_tpool + ncls > g->cap_tpool) {
        while (g->n_tpool + ncls > g->cap_tpool) g->cap_tpool = g->cap_tpool ? g->cap_tpool * 2 : 4096;
        g->tpool = gram_xrealloc(g->tpool, g->cap_tpool * sizeof *g->tpool);
    }
    if (g->n_tpool + ncls > (size_t)INT32_MAX) PG_PANIC("grammar: DFA too large");
    int32_t id = g->n_dfa++;
    gdfa_state *d = &g->dfa[id];
    d->toff = (int32_t)g->n_tpool;
    for (size_t k = 0; k < ncls; k++) g->tpool[g->n_tpool + k] = DFA_UNKNOWN;
    g->n_tpool += ncls;
    d->set0 = (int32_t)g->n_dset;
    d->nset = n;
    d->lex = lex;
    d->acc = 0;
    d->first_ok = 0;
    memset(g->dloop + (size_t)id * 8, 0, 8 * sizeof *g->dloop);
    for (int32_t k = 0; k < n; k++) if (g->nfa_final[g->nbuf[k]]) d->acc = 1;
    g->hot[id].toff = d->toff;
    g->hot[id].cls = (uint32_t)lex * 256u | d->acc;
    memcpy(g->dset + g->n_dset, g->nbuf, (size_t)n * sizeof *g->nbuf);
    g->n_dset += (size_t)n;
    g->dhash[i] = id;
    if ((size_t)g->n_dfa * 2 > g->cap_hash) {
        size_t nc = g->cap_hash * 2;
        int32_t *nh = gram_xrealloc(NULL, nc * sizeof *nh);
        for (size_t j = 0; j < nc; j++) nh[j] = -1;
        for (int32_t s = 0; s < g->n_dfa; s++) {
            size_t j = (size_t)set_hash(g->dset + g->dfa[s].set0, g->dfa[s].nset) & (nc - 1);
            while (nh[j] >= 0) j = (j + 1) & (nc - 1);
            nh[j] = s;
        }
        free(g->dhash);
        g->dhash = nh;
        g->cap_hash = nc;
    }
    return id;
}

int32_t gram_dfa_start(pg_grammar *g, int32_t lex) {
    if (g->lex_dfa0[lex] != DFA_UNKNOWN) return g->lex_dfa0[lex];
    g->nstack[0] = g->lex_nfa[lex];
    int32_t n = closure(g, 1);
    int32_t d = intern(g, n, lex);
    g->lex_dfa0[lex] = d;
    return d;
}

int32_t dfa_step_slow(pg_grammar *g, int32_t st, uint8_t c) {
    gdfa_state *d = &g->dfa[st];
    int32_t ns = 0;
    for (int32_t k = 0; k < d->nset; k++) {
        int32_t s = g->dset[d->set0 + k];
        for (int32_t e = g->nfa_e0[s]; e < g->nfa_e0[s + 1]; e++)
            if (g->nfa_lo[e] <= c && c <= g->nfa_hi[e]) g->nstack[ns++] = g->nfa_to[e];
    }
    /* nstack may hold duplicates: closure marks them */
    int32_t m = 0;
    if (++g->nmark_gen == INT32_MAX) {
        memset(g->nmark, 0, (size_t)g->n_nfa * sizeof *g->nmark);
        g->nmark_gen = 1;
    }
    for (int32_t i = 0; i < ns; i++)
        if (g->nmark[g->nstack[i]] != g->nmark_gen) { g->nmark[g->nstack[i]] = g->nmark_gen; g->nstack[m++] = g->nstack[i]; }
    int32_t n = closure(g, m);
    int32_t t = intern(g, n, g->dfa[st].lex);
    g->tpool[g->dfa[st].toff + g->lex_cls[(size_t)g->dfa[st].lex * 256 + c]] = t;
    return t;
}


int32_t gram_dfa_step(pg_grammar *g, int32_t st, uint8_t b) { return dstep(g, st, b); }

const uint8_t *dfa_first(pg_grammar *g, int32_t st) {
    if (!g->dfa[st].first_ok) {
        uint8_t f[32];
        memset(f, 0, sizeof f);
        for (int c = 0; c < 256; c++)
            if (dstep(g, st, (uint8_t)c) >= 0) f[c >> 3] |= (uint8_t)(1u << (c & 7));
        memcpy(g->dfa[st].first, f, 32);
        g->dfa[st].first_ok = 1;
        int any = 0;
        for (int k = 0; k < 32; k++) any |= f[k];
        g->dfa[st].has_out = any != 0;
    }
    return g->dfa[st].first;
}

/* 1 if every byte of the 256-bit set steps st to itself. Steps are
 * computed only for bytes of the set not yet known (stopping at the first
 * that leaves st), so no transition is built that a trie walk below a node
 * with these bytes would not build too. Stepping may grow g->dfa: no
 * pointer into it is held across dstep. */
int dfa_loops_on(pg_grammar *g, int32_t st, const uint64_t *bytes) {
    for (int k = 0; k < 4; k++) {
        const uint64_t *l = g->dloop + (size_t)st * 8;
        if (bytes[k] & l[k] & ~l[4 + k]) return 0;
    }
    for (int k = 0; k < 4; k++) {
        uint64_t todo = bytes[k] & ~g->dloop[(size_t)st * 8 + (size_t)k];
        while (todo) {
            int c = k * 64 + __builtin_ctzll(todo);
            int same = dstep(g, st, (uint8_t)c) == st; /* may grow g->dloop */
            uint64_t *l = g->dloop + (size_t)st * 8;
            l[k] |= 1ull << (c & 63);
            if (!same) return 0;
            l[4 + k] |= 1ull << (c & 63);
            todo &= todo - 1;
        }
    }
    return 1;
}

/* ---------------- vocabulary trie ---------------- */


int32_t pg_gram_vocab_n(const pg_gram_vocab *tv) { return tv->n_vocab; }
size_t pg_gram_vocab_mask_words(const pg_gram_vocab *tv) { return ((size_t)tv->n_vocab + 31) / 32; }

void pg_gram_vocab_free(pg_gram_vocab *tv) {
    if (!tv) return;
    free(tv->npar); free(tv->bnodes); free(tv->plain_bits);
    free(tv->tpos); free(tv->nsub); free(tv->subtab); free(tv->nbig); free(tv->bigbits);
    free(tv->np_nb); free(tv->np_nd); free(tv->np_nskip); free(tv->np_nt0); free(tv->np_ntn); free(tv->np_toks);
    free(tv->np_main);
    free(tv->nb); free(tv->nd); free(tv->nskip); free(tv->nt0); free(tv->ntn); free(tv->toks);
    free(tv->eog); free(tv->toff); free(tv->tlen); free(tv->tbytes); free(tv->is_eog);
    free(tv);
}

static const pg_gram_vocab *sort_tv;
static int cmp_tok(const void *a, const void *b) {
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    const pg_gram_vocab *tv = sort_tv;
    uint32_t lx = tv->tlen[x], ly = tv->tlen[y];
    int c = memcmp(tv->tbytes + tv->toff[x], tv->tbytes + tv->toff[y], lx < ly ? lx : ly);
    if (c) return c;
    if (lx != ly) return lx < ly ? -1 : 1;
    return x < y ? -1 : x > y;
}

/* tpos (token positions by node) and nsub/subtab (bytes below each node,
 * deduplicated through an open-addressing table of the sets seen). A
 * subtree's set is the union of its children's bytes and sets; children
 * follow their parent in preorder, so one backward pass folds each node's
 * set (plus its own byte) into its parent's. */
static int subtree_sets(pg_gram_vocab *tv) {
    int32_t nn = tv->n_nodes;
    tv->tpos = malloc(((size_t)nn + 1) * sizeof *tv->tpos);
    tv->nsub = malloc(((size_t)nn + 1) * sizeof *tv->nsub);
    uint64_t *acc = calloc(((size_t)nn + 1) * 4, sizeof *acc);
    if (!tv->tpos || !tv->nsub || !acc) { free(acc); return -1; }
    int32_t pos = 0;
    for (int32_t i = 0; i < nn; i++) { tv->tpos[i] = pos; pos += tv->ntn[i]; }
    tv->tpos[nn] = pos;
    for (int32_t i = nn - 1; i >= 0; i--) {
        int32_t p = tv->npar[i];
        if (p < 0) continue;
        uint64_t *a = acc + 4 * (size_t)p, *c = acc + 4 * (size_t)i;
        for (int k = 0; k < 4; k++) a[k] |= c[k];
        a[tv->nb[i] >> 6] |= 1ull << (tv->nb[i] & 63);
    }
    size_t cap = 1024;
    while (cap < (size_t)nn / 4) cap *= 2;
    int32_t *h = malloc(cap * sizeof *h);
    size_t tcap = 256;
    uint64_t *tab = malloc(tcap * 4 * sizeof *tab);
    if (!h || !tab) { free(h); free(tab); free(acc); return -1; }
    for (size_t k = 0; k < cap; k++) h[k] = -1;
    int32_t nt = 0;
    for (int32_t i = 0; i < nn; i++) {
        const uint64_t *c = acc + 4 * (size_t)i;
        uint64_t hv = (c[0] * 0x9E3779B97F4A7C15ull) ^ (c[1] * 0xC2B2AE3D27D4EB4Full) ^ (c[2] * 0x165667B19E3779F9ull) ^
                      (c[3] * 0xD6E8FEB86659FD93ull);
        size_t j = (size_t)(hv ^ (hv >> 31)) & (cap - 1);
        while (h[j] >= 0 && memcmp(tab + 4 * (size_t)h[j], c, 32)) j = (j + 1) & (cap - 1);
        if (h[j] < 0) {
            if ((size_t)nt == tcap) {
                tcap *= 2;
                uint64_t *nt2 = realloc(tab, tcap * 4 * sizeof *tab);
                if (!nt2) { free(h); free(tab); free(acc); return -1; }
                tab = nt2;
            }
            memcpy(tab + 4 * (size_t)nt, c, 32);
            h[j] = nt++;
            if ((size_t)nt * 2 > cap) { /* grow and rehash */
                size_t nc = cap * 2;
                int32_t *h2 = malloc(nc * sizeof *h2);
                if (!h2) { free(h); free(tab); free(acc); return -1; }
                for (size_t k = 0; k < nc; k++) h2[k] = -1;
                for (int32_t q = 0; q < nt; q++) {
                    const uint64_t *e = tab + 4 * (size_t)q;
                    uint64_t hq = (e[0] * 0x9E3779B97F4A7C15ull) ^ (e[1] * 0xC2B2AE3D27D4EB4Full) ^
                                  (e[2] * 0x165667B19E3779F9ull) ^ (e[3] * 0xD6E8FEB86659FD93ull);
                    size_t jj = (size_t)(hq ^ (hq >> 31)) & (nc - 1);
                    while (h2[jj] >= 0) jj = (jj + 1) & (nc - 1);
                    h2[jj] = q;
                }
                free(h);
                h = h2;
                cap = nc;
                /* find c's slot again */
                j = (size_t)(hv ^ (hv >> 31)) & (cap - 1);
                while (h[j] != nt - 1) j = (j + 1) & (cap - 1);
            }
        }
        tv->nsub[i] = h[j];
    }
    tv->nsub[nn] = 0;
    free(h);
    free(acc);
    /* token bitsets of the big subtrees (a cache build taking such a
     * subtree ORs words instead of setting a bit per token) */
    size_t words = ((size_t)tv->n_vocab + 31) / 32;
    tv->nbig = malloc(((size_t)nn + 1) * sizeof *tv->nbig);
    if (!tv->nbig) { free(tab); return -1; }
    int32_t nbg = 0;
    for (int32_t i = 0; i < nn; i++) {
        int big = tv->tpos[tv->nskip[i]] - tv->tpos[i] >= BIG_SUBTREE;
        tv->nbig[i] = big ? nbg++ : -1;
    }
    tv->nbig[nn] = -1;
    tv->n_big = nbg;
    tv->bigbits = calloc((size_t)nbg * words + 1, sizeof *tv->bigbits);
    if (!tv->bigbits) { free(tab); return -1; }
    for (int32_t i = 0; i < nn; i++) {
        if (tv->nbig[i] < 0) continue;
        uint32_t *bb = tv->bigbits + (size_t)tv->nbig[i] * words;
        for (int32_t k = tv->tpos[i]; k < tv->tpos[tv->nskip[i]]; k++) bb[tv->toks[k] >> 5] |= 1u << (tv->toks[k] & 31);
    }
    tv->subtab = tab;
    tv->n_subtab = nt;
    return 0;
}

/* Builds the trie from tv->toff/tlen/tbytes (tokens with tlen 0 left out). */
static int build_trie(pg_gram_vocab *tv, pg_error *err) {
    int32_t n = tv->n_vocab;
    int32_t *ord = malloc(((size_t)n + 1) * sizeof *ord);
    if (!ord) return pg_error_set(err, PG_ENOMEM, "grammar vocab: out of memory");
    int32_t m = 0;
    size_t total = 0;
    for (int32_t i = 0; i < n; i++)
        if (tv->tlen[i] && !tv->is_eog[i]) { ord[m++] = i; total += tv->tlen[i]; }
    static pthread_mutex_t sort_mu = PTHREAD_MUTEX_INITIALIZER;
    pthread_mutex_lock(&sort_mu);
    sort_tv = tv;
    qsort(ord, (size_t)m, sizeof *ord, cmp_tok);
    pthread_mutex_unlock(&sort_mu);
    size_t cap = total + 1;
    tv->nb = malloc(cap);
    tv->nd = malloc(cap * sizeof *tv->nd);
    tv->nskip = malloc(cap * sizeof *tv->nskip);
    tv->nt0 = malloc(cap * sizeof *tv->nt0);
    tv->ntn = calloc(cap, sizeof *tv->ntn);
    tv->toks = malloc(((size_t)m + 1) * sizeof *tv->toks);
    int32_t *path = malloc((size_t)(4096 + 8) * sizeof *path); /* node index per depth */
    if (!tv->nb || !tv->nd || !tv->nskip || !tv->nt0 || !tv->ntn || !tv->toks || !path) {
        free(ord); free(path);
        return pg_error_set(err, PG_ENOMEM, "grammar vocab: out of memory");
    }
    int32_t nn = 0, plen = 0, nt = 0, maxd = 0;
    const char *prev = NULL;
    uint32_t prevlen = 0;
    for (int32_t k = 0; k < m; k++) {
        int32_t id = ord[k];
        const char *s = tv->tbytes + tv->toff[id];
        uint32_t len = tv->tlen[id];
        if (len > 4096) len = 4096; /* absurd token: truncated path (never matches past it) */
        uint32_t lcp = 0;
        if (prev) while (lcp < len && lcp < prevlen && s[lcp] == prev[lcp]) lcp++;
        /* close nodes deeper than lcp */
        while (plen > (int32_t)lcp) { tv->nskip[path[plen - 1]] = nn; plen--; }
        for (uint32_t d = lcp; d < len; d++) {
            tv->nb[nn] = (uint8_t)s[d];
            tv->nd[nn] = (int32_t)d + 1;
            tv->nt0[nn] = 0;
            tv->ntn[nn] = 0;
            path[plen++] = nn;
            nn++;
        }
        if ((int32_t)len > maxd) maxd = (int32_t)len;
        int32_t node = path[len - 1];
        if (!tv->ntn[node]) tv->nt0[node] = nt;
        tv->ntn[node]++;
        tv->toks[nt++] = id;
        prev = s;
        prevlen = len;
    }
    while (plen > 0) { tv->nskip[path[plen - 1]] = nn; plen--; }
    tv->n_nodes = nn;
    tv->npar = malloc(((size_t)nn + 1) * sizeof *tv->npar);
    tv->bnodes = malloc(((size_t)nn + 1) * sizeof *tv->bnodes);
    if (!tv->npar || !tv->bnodes) { free(ord); free(path); return pg_error_set(err, PG_ENOMEM, "grammar vocab: out of memory"); }
    {
        int32_t *stack = path; /* reuse: node per depth */
        memset(tv->bn0, 0, sizeof tv->bn0);
        for (int32_t i = 0; i < nn; i++) {
            int32_t d = tv->nd[i];
            if (d <= 4096) stack[d] = i;
            tv->npar[i] = d == 1 ? -1 : stack[d - 1];
            tv->bn0[tv->nb[i] + 1]++;
        }
        for (int c = 0; c < 256; c++) tv->bn0[c + 1] += tv->bn0[c];
        int32_t fill[256];
        memcpy(fill, tv->bn0, sizeof fill);
        for (int32_t i = 0; i < nn; i++) tv->bnodes[fill[tv->nb[i]]++] = i;
    }
    tv->max_depth = maxd;
    if (subtree_sets(tv)) { free(ord); free(path); return pg_error_set(err, PG_ENOMEM, "grammar vocab: out of memory"); }
    /* second pass: plain tokens and the trie of the others */
    size_t words = ((size_t)n + 31) / 32;
    tv->plain_bits = calloc(words + 1, sizeof *tv->plain_bits);
    tv->np_nb = malloc(cap);
    tv->np_nd = malloc(cap * sizeof *tv->np_nd);
    tv->np_nskip = malloc(cap * sizeof *tv->np_nskip);
    tv->np_nt0 = malloc(cap * sizeof *tv->np_nt0);
    tv->np_ntn = calloc(cap, sizeof *tv->np_ntn);
    tv->np_toks = malloc(((size_t)m + 1) * sizeof *tv->np_toks);
    tv->np_main = malloc(cap * sizeof *tv->np_main);
    int32_t *npath = malloc((size_t)(4096 + 8) * sizeof *npath);
    if (!tv->plain_bits || !tv->np_nb || !tv->np_nd || !tv->np_nskip || !tv->np_nt0 || !tv->np_ntn || !tv->np_toks ||
        !tv->np_main || !npath) {
        free(ord); free(path); free(npath);
        return pg_error_set(err, PG_ENOMEM, "grammar vocab: out of memory");
    }
    {
        int32_t mn = 0, np_nn = 0, npl = 0, mpl = 0, npt = 0;
        const char *mprev = NULL, *nprev = NULL;
        uint32_t mprevlen = 0, nprevlen = 0;
        for (int32_t k = 0; k < m; k++) {
            int32_t id = ord[k];
            const char *s = tv->tbytes + tv->toff[id];
            uint32_t len = tv->tlen[id];
            if (len > 4096) len = 4096;
            /* replay the main trie's node numbering */
            uint32_t lcp = 0;
            if (mprev) while (lcp < len && lcp < mprevlen && s[lcp] == mprev[lcp]) lcp++;
            mpl = (int32_t)lcp;
            for (uint32_t d = lcp; d < len; d++) path[mpl++] = mn++;
            mprev = s;
            mprevlen = len;
            int plain = 1;
            for (uint32_t d = 0; d < tv->tlen[id]; d++) {
                unsigned char ch = (unsigned char)tv->tbytes[tv->toff[id] + d];
                if (ch < 0x20 || ch > 0x7E || ch == '"' || ch == '\\') { plain = 0; break; }
            }
            if (plain) { tv->plain_bits[id >> 5] |= 1u << (id & 31); tv->n_plain++; continue; }
            uint32_t nl = 0;
            if (nprev) while (nl < len && nl < nprevlen && s[nl] == nprev[nl]) nl++;
            while (npl > (int32_t)nl) { tv->np_nskip[npath[npl - 1]] = np_nn; npl--; }
            for (uint32_t d = nl; d < len; d++) {
                tv->np_nb[np_nn] = (uint8_t)s[d];
                tv->np_nd[np_nn] = (int32_t)d + 1;
                tv->np_nt0[np_nn] = 0;
                tv->np_ntn[np_nn] = 0;
                tv->np_main[np_nn] = path[d];
                npath[npl++] = np_nn;
                np_nn++;
            }
            int32_t node = npath[len - 1];
            if (!tv->np_ntn[node]) tv->np_nt0[node] = npt;
            tv->np_ntn[node]++;
            tv->np_toks[npt++] = id;
            nprev = s;
            nprevlen = len;
        }
        while (npl > 0) { tv->np_nskip[npath[npl - 1]] = np_nn; npl--; }
        tv->np_n = np_nn;
    }
    free(npath);
    free(ord);
    free(path);
    return 0;
}

static pg_gram_vocab *tv_alloc(int32_t n, pg_error *err) {
    pg_gram_vocab *tv = calloc(1, sizeof *tv);
    if (!tv) { pg_error_set(err, PG_ENOMEM, "grammar vocab: out of memory"); return NULL; }
    static uint64_t next_uid; /* atomic */
    tv->uid = __atomic_add_fetch(&next_uid, 1, __ATOMIC_RELAXED);
    tv->n_vocab = n;
    tv->toff = calloc((size_t)n + 1, sizeof *tv->toff);
    tv->tlen = calloc((size_t)n + 1, sizeof *tv->tlen);
    tv->is_eog = calloc((size_t)n + 1, 1);
    if (!tv->toff || !tv->tlen || !tv->is_eog) {
        pg_gram_vocab_free(tv);
        pg_error_set(err, PG_ENOMEM, "grammar vocab: out of memory");
        return NULL;
    }
    return tv;
}

pg_gram_vocab *pg_gram_vocab_create_raw(const char *const *toks, const size_t *lens, int32_t n,
                                        const int32_t *eog, int32_t n_eog, pg_error *err) {
    pg_gram_vocab *tv = tv_alloc(n, err);
    if (!tv) return NULL;
    size_t total = 0;
    for (int32_t i = 0; i < n; i++) if (toks[i]) total += lens[i];
    tv->tbytes = malloc(total + 1);
    tv->eog = malloc(((size_t)n_eog + 1) * sizeof *tv->eog);
    if (!tv->tbytes || !tv->eog) { pg_gram_vocab_free(tv); pg_error_set(err, PG_ENOMEM, "oom"); return NULL; }
    size_t off = 0;
    for (int32_t i = 0; i < n; i++) {
        tv->toff[i] = (uint32_t)off;
        tv->tlen[i] = toks[i] ? (uint32_t)lens[i] : 0;
        if (toks[i]) { memcpy(tv->tbytes + off, toks[i], lens[i]); off += lens[i]; }
    }
    for (int32_t i = 0; i < n_eog; i++)
        if (eog[i] >= 0 && eog[i] < n) { tv->eog[tv->n_eog++] = eog[i]; tv->is_eog[eog[i]] = 1; }
    if (build_trie(tv, err)) { pg_gram_vocab_free(tv); return NULL; }
    return tv;
}

pg_gram_vocab *pg_gram_vocab_create(const pg_vocab *v, pg_error *err) {
    int32_t n = pg_vocab_n_tokens(v);
    pg_gram_vocab *tv = tv_alloc(n, err);
    if (!tv) return NULL;
    size_t cap = 1 << 16, off = 0;
    tv->tbytes = malloc(cap);
    tv->eog = malloc(((size_t)n + 1) * sizeof *tv->eog);
    if (!tv->tbytes || !tv->eog) { pg_gram_vocab_free(tv); pg_error_set(err, PG_ENOMEM, "oom"); return NULL; }
    for (int32_t i = 0; i < n; i++) {
        tv->toff[i] = (uint32_t)off;
        if (pg_vocab_is_eog(v, i)) { tv->eog[tv->n_eog++] = i; tv->is_eog[i] = 1; continue; }
        int ty = pg_vocab_token_type(v, i);
        if (ty == PG_TOKTYPE_CONTROL || ty == PG_TOKTYPE_UNKNOWN || ty == PG_TOKTYPE_UNUSED) continue;
        char buf[256];
        int64_t len = pg_token_to_piece(v, i, buf, sizeof buf, 0);
        if (len <= 0) continue;
        if (off + (size_t)len + 1 > cap) {
            while (off + (size_t)len + 1 > cap) cap *= 2;
            char *nb = realloc(tv->tbytes, cap);
            if (!nb) { pg_gram_vocab_free(tv); pg_error_set(err, PG_ENOMEM, "oom"); return NULL; }
            tv->tbytes = nb;
        }
        if ((size_t)len > sizeof buf) pg_token_to_piece(v, i, tv->tbytes + off, (size_t)len, 0);
        else memcpy(tv->tbytes + off, buf, (size_t)len);
        tv->tlen[i] = (uint32_t)len;
        off += (size_t)len;
    }
    if (build_trie(tv, err)) { pg_gram_vocab_free(tv); return NULL; }
    return tv;
}
