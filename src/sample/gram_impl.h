/* gram_impl.h - internals shared by the parts of the grammar compiler
 * (grammar.c parser, gram_build.c) and of the matcher (gram_match.c,
 * gram_earley.c): builder limits and types, the vocabulary trie struct, the
 * DFA step fast path, and the functions one part calls in another. Not a
 * public header; builds on gram_internal.h. */
#ifndef PG_SAMPLE_GRAM_IMPL_H
#define PG_SAMPLE_GRAM_IMPL_H

#include "sample/gram_internal.h"

#include <stddef.h>
#include <stdint.h>

#define LEX_LIMIT 60000     /* NFA-size estimate up to which an expression is one lexeme */
#define CHUNK_LIMIT 20000   /* NFA-size target of one chunk lexeme of a huge bounded repetition */
#define BIG (INT32_MAX / 4) /* saturated size */
#define MAX_DEPTH 2000      /* nesting of parentheses / rule chains */
#define BIG_SUBTREE 1024    /* trie subtrees with at least this many tokens keep a token bitset */

#define VGROW(arr, n, cap)                                                         \
    do {                                                                           \
        if ((size_t)(n) >= (size_t)(cap)) {                                        \
            size_t nc_ = (size_t)(cap) ? (size_t)(cap) * 2 : 16;                   \
            while (nc_ <= (size_t)(n)) nc_ *= 2;                                   \
            (arr) = gram_xrealloc((arr), nc_ * sizeof *(arr));                     \
            (cap) = nc_;                                                           \
        }                                                                          \
    } while (0)
#define VPUSH(arr, n, cap, v)                                                      \
    do {                                                                           \
        VGROW(arr, n, cap);                                                        \
        (arr)[(n)++] = (v);                                                        \
    } while (0)

/* ---------------- AST ---------------- */

enum { GX_STR, GX_CLS, GX_REF, GX_SEQ, GX_ALT, GX_REP };

typedef struct gx {
    uint8_t k;
    uint8_t neg;   /* GX_CLS */
    int32_t a, b;  /* STR: byte offset, length; CLS: range offset, count; REF: rule; REP: min, max (-1 inf) */
    int32_t kid0, nk; /* SEQ/ALT: kids[kid0..+nk]; REP: kids[kid0] */
} gx;

typedef struct grule {
    char *name;
    int32_t body; /* expr, -1 undefined */
    size_t ref_pos;   /* first reference + 1, 0 = none (for "undefined rule") */
} grule;

typedef struct grep_ { int32_t base, stride, n; } grep_;

typedef struct gb {
    /* AST */
    gx *x; size_t nx, capx;
    int32_t *kids; size_t nkids, capkids;
    uint8_t *bytes; size_t nbytes, capbytes;
    uint32_t *rng; size_t nrng, caprng;
    grule *rules; size_t nrules, caprules;
    int32_t *rh; size_t rh_cap; /* rule name hash (open addressing) */
    int32_t *lh; size_t lh_cap; /* lexeme key hash */
    /* parser */
    const char *s; size_t n, pos;
    int depth;
    pg_error *err;
    int failed;
    /* analysis */
    int32_t *xsize;      /* per expr, -1 = not computed */
    size_t nxs;
    int32_t *xbigm;      /* per expr memo of xbig, -1 = not computed */
    int8_t *rloop;       /* per rule memo of has_loop, -1 = not computed */
    size_t nxb;
    uint8_t *regular;    /* per rule */
    int32_t *rsize;      /* per rule */
    /* CFG under construction */
    int32_t *rule_nt;    /* per rule: nonterminal or -1 */
    int32_t n_nt;
    int32_t *plhs; size_t np, capp;
    int32_t *pstart; /* offset into psym */
    int32_t *plen;
    int32_t *psym; size_t npsym, cappsym;
    int32_t *pending_rules; size_t npend, cappend;
    /* lexemes: expr per lexeme + dedup by serialized key */
    int32_t *lex_x; size_t nlex, caplex;
    char **lex_key;
    size_t *lex_keylen;
    /* NFA under construction: edge list */
    int32_t n_nfa;
    int32_t *ef, *et; uint8_t *elo, *ehi; size_t ne, cape;
    uint8_t *nfinal; size_t capfinal;
    size_t total_syms;
    int in_rep;                 /* frag() nesting inside repetitions */
    grep_ *regs; size_t nregs, capregs; /* copy regions (see frag) */
} gb;

struct pg_gram_vocab {
    uint64_t uid;     /* unique per created vocab: grammars key their caches by it, since a
                         freed vocab's address can be reused by a different one */
    int32_t n_vocab;
    int32_t n_nodes, max_depth;
    uint8_t *nb;      /* byte of node */
    int32_t *nd;      /* depth (1 = first byte) */
    int32_t *nskip;   /* index after the subtree */
    int32_t *nt0, *ntn; /* tokens ending here: toks[nt0 .. +ntn] */
    int32_t *npar;    /* parent node, -1 at depth 1 */
    int32_t bn0[257]; /* nodes by byte: bnodes[bn0[c] .. bn0[c+1]) in preorder */
    int32_t *bnodes;
    /* "plain" tokens: every byte printable ASCII other than '"' and '\\'.
     * A second trie holds only the other tokens (np_main: its nodes' ids in
     * the main trie), for DFA states that loop on every plain byte. */
    uint32_t *plain_bits;
    int32_t n_plain;
    int32_t np_n;
    uint8_t *np_nb;
    int32_t *np_nd, *np_nskip, *np_nt0, *np_ntn, *np_toks, *np_main;
    int32_t *toks;
    /* tpos[x]: tokens ending at nodes before x in preorder, so the tokens of
     * the subtree of x are toks[tpos[x] .. tpos[nskip[x]]) (n_nodes + 1
     * entries). nsub[x]: index into subtab (4 words = a 256-bit byte set per
     * entry, deduplicated) of the bytes of the nodes strictly below x. */
    int32_t *tpos;
    int32_t *nsub;
    uint64_t *subtab;
    int32_t n_subtab;
    /* nbig[x] >= 0: the tokens of x's subtree (>= BIG_SUBTREE of them) as
     * a bitset, bigbits + nbig[x] * mask words; -1 for smaller subtrees */
    int32_t *nbig;
    uint32_t *bigbits;
    int32_t n_big;
    int32_t *eog;
    int32_t n_eog;
    uint32_t *toff, *tlen; /* token bytes in tbytes; tlen 0 = not in the trie */
    char *tbytes;
    uint8_t *is_eog;
};

int gb_fail(gb *b, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void line_col(const gb *b, size_t pos, int32_t *line, int32_t *col);
int32_t new_x(gb *b, int k);
int32_t new_list(gb *b, int k, const int32_t *items, int32_t n);
size_t name_hash(const char *s, size_t n);
int32_t find_rule(gb *b, const char *name, size_t len, int create);
int parse_grammar(gb *b);
int32_t intern(pg_grammar *g, int32_t n, int32_t lex);
int32_t dfa_step_slow(pg_grammar *g, int32_t st, uint8_t c);
const uint8_t *dfa_first(pg_grammar *g, int32_t st);
int dfa_loops_on(pg_grammar *g, int32_t st, const uint64_t *bytes);
void caches_free(pg_grammar *g);

static inline int32_t dstep(pg_grammar *g, int32_t st, uint8_t c) {
    struct gdfa_hot h = g->hot[st];
    int32_t t = g->tpool[h.toff + g->lex_cls[(h.cls & ~255u) + c]];
    return t != DFA_UNKNOWN ? t : dfa_step_slow(g, st, c);
}

static inline int dacc(const pg_grammar *g, int32_t st) { return (int)(g->hot[st].cls & 1u); }

#endif
