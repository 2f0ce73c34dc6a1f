/* grammar.h - the structured-output grammar engine: GBNF text -> compiled
 * grammar (context-free structure over lexemes, each lexeme a byte-level
 * DFA) -> per-sequence matchers that compute exact token masks.
 *
 * Objects and ownership:
 *   pg_grammar     compiled from GBNF text; immutable in meaning and shared
 *                  by any number of matchers and threads. It owns lazily
 *                  built lexer DFA states and per-vocabulary token caches,
 *                  guarded by one internal mutex (a mask computation holds
 *                  it, so matchers of the SAME grammar serialise; different
 *                  grammars run in parallel).
 *   pg_gram_vocab  the token byte strings of a vocabulary as a prefix trie
 *                  (special tokens left out, EOG ids kept aside); immutable,
 *                  built once per vocabulary, shared.
 *   pg_gmatch      per-sequence parse state; not thread-safe by itself;
 *                  clone for n > 1 choices. Borrows the grammar and the
 *                  vocab (they must outlive it).
 *
 * Semantics: a token is allowed iff the bytes of the output so far followed
 * by the token's bytes are a prefix of some sentence of the grammar (exact,
 * no greedy lexing). Special tokens are never allowed, except the vocab's
 * end-of-generation tokens, which are allowed iff the output so far is a
 * complete sentence.
 *
 * GBNF (llama.cpp's syntax): `name ::= alternatives`; "literal" with
 * escapes \n \r \t \\ \" \' \[ \] \/ \xNN \uNNNN \UNNNNNNNN (code points,
 * matched as UTF-8); [a-z] [^"\\] char classes; . any character; ( ) groups;
 * | ; postfix * + ? {m} {m,} {m,n}; # comments. Newlines are free: a rule
 * ends where the next `name ::=` starts. The start rule is `root`.
 */
#ifndef PG_SAMPLE_GRAMMAR_H
#define PG_SAMPLE_GRAMMAR_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "tokenizer/tokenizer.h"

typedef struct pg_grammar pg_grammar;
typedef struct pg_gram_vocab pg_gram_vocab;
typedef struct pg_gmatch pg_gmatch;

/* Limits on hostile input. */
#define PG_GRAMMAR_MAX_TEXT (8u << 20)   /* GBNF bytes */
#define PG_GRAMMAR_MAX_REPEAT 100000     /* m, n in {m,n} */
#define PG_GRAMMAR_MAX_SYMBOLS 4000000   /* symbols after expansion */

/* Compile GBNF text. root: start rule name (NULL = "root"). Errors
 * (PG_EINVAL/PG_EFORMAT/PG_ELIMIT) carry "line L col C: reason" or the
 * rule at fault: syntax, undefined rule, duplicate rule, empty grammar,
 * a grammar that matches no string. Left recursion is fine (Earley). */
int pg_grammar_compile(const char *gbnf, size_t len, const char *root, pg_grammar **out, pg_error *err);
void pg_grammar_free(pg_grammar *g);

/* Statistics of a compiled grammar (tests, schema-test). */
typedef struct pg_grammar_stats {
    int32_t n_rules;     /* nonterminals after desugaring */
    int32_t n_prods;     /* productions */
    int32_t n_lexemes;   /* distinct lexemes (DFAs) */
    int32_t n_nfa;       /* NFA states of all lexemes */
    int32_t n_dfa;       /* DFA states built so far (lazily) */
} pg_grammar_stats;
void pg_grammar_stats_get(const pg_grammar *g, pg_grammar_stats *st);

/* Front-ends producing GBNF text (malloc'd, NUL-terminated; start rule
 * root). Regex: ECMAScript subset - literals, escapes \n \t \r \f \v \0
 * \xNN \uNNNN \/ and punctuation, classes [...] with ranges and negation,
 * \d \w \s \D \W \S, ., groups (...) (?:...), |, * + ? {m} {m,} {m,n} (lazy
 * suffix ? accepted, same language), ^ at the start and $ at the end.
 * The whole output must match (the regex is anchored). Refused with a
 * message: backreferences, lookaround, named groups, other anchors. */
int pg_regex_to_gbnf(const char *re, size_t len, char **out, pg_error *err);
/* Choice list: the output is exactly one of the n strings (bytes). n >= 1. */
int pg_choice_to_gbnf(const char *const *choices, const size_t *lens, size_t n, char **out, pg_error *err);
/* Append s[0..n) to a GBNF "literal" body with escapes (for front-ends).
 * Writes to out (cap bytes, NUL-terminated if room); returns the length. */
size_t pg_gbnf_escape(const char *s, size_t n, char *out, size_t cap);

/* Vocabulary trie from pagoda's tokenizer: each token's output bytes
 * (pg_token_to_piece: byte-level BPE decoded, SPM "▁" -> " ", <0xNN> ->
 * the byte). CONTROL/UNKNOWN/UNUSED tokens and empty pieces are left out;
 * pg_vocab_is_eog ids are the end tokens. NULL on OOM (err filled). */
pg_gram_vocab *pg_gram_vocab_create(const pg_vocab *v, pg_error *err);
/* Same from explicit byte strings (tests): toks[i] of lens[i] bytes (a
 * NULL or empty entry = special, never allowed); eog ids list. */
pg_gram_vocab *pg_gram_vocab_create_raw(const char *const *toks, const size_t *lens, int32_t n,
                                        const int32_t *eog, int32_t n_eog, pg_error *err);
void pg_gram_vocab_free(pg_gram_vocab *tv);
int32_t pg_gram_vocab_n(const pg_gram_vocab *tv);
/* Words of a mask: (n_vocab + 31) / 32. Bit i of word i/32 = token i. */
size_t pg_gram_vocab_mask_words(const pg_gram_vocab *tv);

/* Matcher. NULL on OOM. */
pg_gmatch *pg_gmatch_create(pg_grammar *g, const pg_gram_vocab *tv);
pg_gmatch *pg_gmatch_clone(const pg_gmatch *m);
void pg_gmatch_destroy(pg_gmatch *m);
/* Advance by one token. PG_OK, or PG_EINVAL when the token is not allowed
 * (state unchanged). An EOG token is accepted iff the matcher is accepting
 * and then ends the matcher (is_done). */
int pg_gmatch_accept_token(pg_gmatch *m, int32_t id);
/* Advance by raw bytes (all or nothing). PG_OK or PG_EINVAL. */
int pg_gmatch_accept_bytes(pg_gmatch *m, const char *bytes, size_t n);
/* Allowed tokens now into mask[pg_gram_vocab_mask_words] (overwritten). */
void pg_gmatch_mask(pg_gmatch *m, uint32_t *mask);
/* The output so far is a complete sentence (EOG allowed). */
int pg_gmatch_is_accepting(const pg_gmatch *m);
/* Accepting and no further byte can follow (or an EOG was accepted): the
 * generation must stop here. */
int pg_gmatch_is_done(const pg_gmatch *m);
/* Bytes every continuation must start with (stops where a choice exists or
 * the sentence could end). Writes up to cap bytes, returns the count. */
size_t pg_gmatch_forced_bytes(pg_gmatch *m, char *buf, size_t cap);
/* Tokens that can be appended without sampling: the tokenization of the
 * forced bytes minus its last token (which might merge with what follows),
 * each checked against the grammar. Returns the count (<= cap). */
int32_t pg_gmatch_forced_tokens(pg_gmatch *m, const pg_vocab *v, int32_t *out, int32_t cap);

#endif
