/* gram_internal.h - the compiled grammar shared by grammar.c (compiler) and
 * gram_match.c (lazy DFAs, token trie, Earley matcher, masks). Not a public
 * header.
 *
 * CFG layout: nonterminal 0 is the augmented start S' with the single
 * production 0 = S' -> root. Productions are stored as "dots": production p
 * owns dsym[prod_dot0[p] .. prod_dot0[p]+len] where the last entry is
 * SYM_END. An Earley item is (dot, origin): dsym[dot] is the symbol after
 * the dot (>= 0 nonterminal, SYM_END complete, else lexeme SYM_LEX(l)).
 *
 * Lexemes: each is a sub-NFA of one global byte NFA (start lex_nfa[l],
 * accepting states flagged in nfa_final). Every NFA state kept can reach a
 * final state (dead ones trimmed), so every non-empty DFA state is live.
 * DFA states are subsets of NFA states, built lazily (gram_match.c) under
 * g->mu. */
#ifndef PG_SAMPLE_GRAM_INTERNAL_H
#define PG_SAMPLE_GRAM_INTERNAL_H

#include "sample/grammar.h"

#include <pthread.h>
#include <stdint.h>

#define SYM_END INT32_MIN
#define SYM_LEX(l) (-(int32_t)(l) - 1)
#define SYM_IS_LEX(s) ((s) < 0 && (s) != SYM_END)
#define SYM_LEXID(s) (-(s) - 1)

#define DFA_UNKNOWN (-2)
#define DFA_DEAD (-1)

typedef struct gdfa_state {
    int32_t toff;       /* transitions: g->tpool[toff + class], one per byte class of the
                           lexeme; DFA_UNKNOWN until computed, DFA_DEAD, or a state */
    int32_t set0, nset; /* NFA state set in g->dset */
    int32_t lex;
    uint8_t acc;
    uint8_t first[32];  /* bytes with a live transition (valid when first_ok) */
    uint8_t first_ok;
    uint8_t has_out;    /* some byte has a live transition (valid when first_ok) */
} gdfa_state;

struct gcache; /* per-vocabulary token caches (gram_match.c) */

struct pg_grammar {
    /* CFG */
    int32_t n_nt, n_prod, n_dots;
    int32_t *prod_lhs, *prod_dot0;
    int32_t *dsym, *dprod;
    int32_t *nt_p0, *nt_np, *nt_prods; /* productions of nt: nt_prods[nt_p0[nt] ..+nt_np[nt]] */
    uint8_t *nt_nullable;
    /* lexemes */
    int32_t n_lex;
    int32_t *lex_nfa;
    uint8_t *lex_nullable;
    /* NFA, CSR: edges of state s are [nfa_e0[s], nfa_e0[s+1]); eps edge: lo > hi */
    int32_t n_nfa;
    int32_t *nfa_e0, *nfa_to;
    uint8_t *nfa_lo, *nfa_hi, *nfa_final;
    /* copy regions of top-level bounded repetitions x{m,n} in lexemes:
     * (base, stride, n) triples sorted by base; optional copy i of x is NFA
     * states [base + i*stride, base + (i+1)*stride), isomorphic copies */
    int32_t *reg, n_regs;
    /* lazy DFA (mutable under mu) */
    pthread_mutex_t mu;
    gdfa_state *dfa;
    /* hot copy per DFA state for the byte step: transition row offset, and
     * lexeme * 256 (its byte-class map in lex_cls) | accepting bit */
    struct gdfa_hot { int32_t toff; uint32_t cls; } *hot;
    int32_t n_dfa, cap_dfa;
    /* per DFA state, 8 words (kept out of gdfa_state, which the byte step
     * reads): bytes whose step is known to return to the state or not
     * [0..4), and those that do [4..8) (a subset) - see dfa_loops_on */
    uint64_t *dloop;
    int32_t *dset;
    size_t n_dset, cap_dset;
    int32_t *dhash; /* open addressing of DFA state ids, cap_hash slots */
    size_t cap_hash;
    int32_t *lex_dfa0; /* start DFA state per lexeme */
    uint8_t *lex_cls;  /* byte -> class, 256 per lexeme (bytes no edge tells apart share a class) */
    int32_t *lex_ncls; /* classes per lexeme */
    int32_t *tpool;    /* transition rows of all DFA states */
    size_t n_tpool, cap_tpool;
    /* scratch for subset construction */
    int32_t *nmark, nmark_gen, *nstack, *nbuf;
    struct gcache *caches;
};

/* gram_match.c: lazy DFA API used by the compiler (start states) and tests. */
int32_t gram_dfa_start(pg_grammar *g, int32_t lex);
int32_t gram_dfa_step(pg_grammar *g, int32_t st, uint8_t b);
void gram_dfa_init(pg_grammar *g);
void gram_dfa_free(pg_grammar *g);

void *gram_xrealloc(void *p, size_t n);

#endif
