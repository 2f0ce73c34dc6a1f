/* tokenizer.h - text <-> token ids for the three GGUF vocabulary families.
 *
 *   "llama" SentencePiece BPE by scores, byte fallback <0xNN>, leading "▁" rule
 *   "gpt2"  byte-level BPE by merge rank, regex pre-tokenizer picked by
 *           tokenizer.ggml.pre (PCRE2, UTF+UCP, JIT)
 *   "bert"  BERT basic tokenizer + greedy longest-match WordPiece ("##")
 *
 * A pg_vocab is built once from tokenizer.ggml.* metadata (it copies all it
 * needs, so the pg_gguf may be closed afterwards), is immutable afterwards
 * and may be shared by any number of threads. pg_tokenize and the other
 * functions allocate only per call, never per token.
 *
 * Malformed text: invalid UTF-8 is never an error. SPM and byte-level BPE
 * keep every byte (byte tokens), so detokenize(tokenize(s)) == s holds for
 * any bytes s (modulo the SPM leading space, see pg_detokenize). WordPiece
 * drops bytes that are not valid UTF-8 (BERT's text cleaning removes
 * U+FFFD and controls).
 *
 * Output text: pg_token_to_piece returns a token's raw bytes (a byte token
 * may be half a character). pg_detokenize and the streaming pg_detok
 * return valid UTF-8 only: every maximal ill-formed subsequence becomes
 * one U+FFFD (the Unicode "maximal subpart" practice), so the output can go
 * straight into JSON. */
#ifndef PG_TOKENIZER_TOKENIZER_H
#define PG_TOKENIZER_TOKENIZER_H

#include "base/error.h"
#include "gguf/gguf.h"

#include <stddef.h>
#include <stdint.h>

typedef struct pg_vocab pg_vocab; /* opaque; immutable after load, thread-safe to share */

/* GGUF token types (tokenizer.ggml.token_type). */
enum {
    PG_TOKTYPE_UNDEFINED = 0,
    PG_TOKTYPE_NORMAL = 1,
    PG_TOKTYPE_UNKNOWN = 2,
    PG_TOKTYPE_CONTROL = 3,
    PG_TOKTYPE_USER_DEFINED = 4,
    PG_TOKTYPE_UNUSED = 5,
    PG_TOKTYPE_BYTE = 6,
};

/* Load from tokenizer.ggml.* metadata. Errors: PG_ENOTFOUND (no
 * tokenizer.ggml.model / tokens), PG_EUNSUPPORTED (unknown model or
 * pre-tokenizer name), PG_EFORMAT (inconsistent arrays, bad ids), PG_ENOMEM. */
int pg_vocab_load(const pg_gguf *g, pg_vocab **out, pg_error *err);
void pg_vocab_free(pg_vocab *v);

int32_t pg_vocab_n_tokens(const pg_vocab *v);
const char *pg_vocab_kind(const pg_vocab *v); /* "llama" | "gpt2" | "bert" */
const char *pg_vocab_pre(const pg_vocab *v);  /* pre-tokenizer name in use ("default" ...) */
int32_t pg_vocab_bos(const pg_vocab *v);      /* -1 if none; likewise: */
int32_t pg_vocab_eos(const pg_vocab *v);
int32_t pg_vocab_eot(const pg_vocab *v);
/* Separator of a text pair (tokenizer.ggml.seperator_token_id; WordPiece: [SEP]; else EOS), -1 if none. */
int32_t pg_vocab_sep(const pg_vocab *v);
int pg_vocab_add_bos(const pg_vocab *v); /* add_bos_token (default: llama/bert 1, gpt2 0 except llama3-style pre) */
int pg_vocab_add_eos(const pg_vocab *v); /* add_eos_token (default: bert 1 ([SEP]), else 0) */
int pg_vocab_is_eog(const pg_vocab *v, int32_t id);     /* eos, eot, eom and known end-of-turn control tokens */
int pg_vocab_is_control(const pg_vocab *v, int32_t id); /* token_type CONTROL */
int pg_vocab_token_type(const pg_vocab *v, int32_t id); /* PG_TOKTYPE_*, -1 if id out of range */
/* Raw vocab string (not NUL-terminated, *len set); NULL if id out of range. */
const char *pg_vocab_token_text(const pg_vocab *v, int32_t id, size_t *len);
/* Exact vocab entry (raw vocab string), -1 if none. O(1). */
int32_t pg_vocab_find(const pg_vocab *v, const char *text, size_t len);

/* Tokenize UTF-8 text (any bytes accepted, see above).
 * add_special: add BOS/EOS as pg_vocab_add_bos/eos say.
 * parse_special: recognise CONTROL (and UNKNOWN-type) token text such as
 * "<|im_start|>" in the text. USER_DEFINED tokens are always recognised
 * (as Hugging Face added tokens are). Matching is leftmost-longest.
 * Writes up to cap ids; returns the total number of ids (may exceed cap:
 * call again with a bigger buffer) or a negative PG_E* code. */
int64_t pg_tokenize(const pg_vocab *v, const char *text, size_t len, int add_special, int parse_special,
                    int32_t *out, size_t cap, pg_error *err);

/* pg_tokenize with parse_special on everywhere except in the plain spans
 * (byte ranges of text, sorted and disjoint): a CONTROL/UNKNOWN token is
 * recognised only where its text overlaps no plain span; the text of a
 * span is tokenized as ordinary text together with its neighbours (same
 * fragments, same merges as pg_tokenize, so with no spans the ids equal
 * pg_tokenize(..., parse_special=1) and with one span over everything
 * pg_tokenize(..., parse_special=0)). For chat prompts: the spans are the
 * bytes that came from message text (src/server/prompt.c). */
typedef struct pg_tok_span {
    size_t off, len;
} pg_tok_span;
int64_t pg_tokenize_spans(const pg_vocab *v, const char *text, size_t len, int add_special,
                          const pg_tok_span *plain, size_t n_plain, int32_t *out, size_t cap, pg_error *err);

/* Special-token text search (CONTROL / UNKNOWN tokens: the ones only
 * parse_special recognises). pg_vocab_special_at: the id of the longest
 * one whose text starts s[0..left), or -1. pg_vocab_special_prefix: 1 if
 * s[0..n) is a proper prefix of one (n < its length). */
int32_t pg_vocab_special_at(const pg_vocab *v, const char *s, size_t left);
/* Every token recognised as text by pg_tokenize (CONTROL, UNKNOWN and
 * USER_DEFINED with non-empty text): *n ids, owned by the vocab. */
const int32_t *pg_vocab_special_ids(const pg_vocab *v, size_t *n);
int pg_vocab_special_prefix(const pg_vocab *v, const char *s, size_t n);

/* Bytes of one token's text as it appears in output: byte tokens <0xNN> ->
 * the byte, SPM "▁" -> " ", byte-level BPE unicode -> bytes, WordPiece
 * "##x" -> "x" and other words " word". special: render CONTROL/UNKNOWN
 * tokens' text (else empty). USER_DEFINED tokens render their raw text.
 * Writes up to cap bytes (no NUL); returns the full length (may exceed
 * cap); 0 for an id out of range. */
int64_t pg_token_to_piece(const pg_vocab *v, int32_t id, char *buf, size_t cap, int special);

/* Whole-sequence detokenization: the pieces concatenated, except that for
 * vocabularies that prefix a space (SPM with add_space_prefix, WordPiece)
 * the first token that is not a leading BOS loses one leading space (as
 * llama.cpp / HF decode do). Output is valid UTF-8 (U+FFFD for ill-formed
 * bytes). Writes up to cap bytes, returns the full length (PG_ENOMEM if a
 * scratch allocation fails). */
int64_t pg_detokenize(const pg_vocab *v, const int32_t *ids, size_t n, char *buf, size_t cap, int special);

/* Streaming detokenizer: push one id at a time; it appends to out only
 * complete UTF-8 characters, holding back an incomplete trailing sequence
 * until later tokens complete it (or prove it ill-formed: then U+FFFD).
 * pg_detok_flush emits what is left (a dangling incomplete sequence as
 * U+FFFD) and resets. The concatenation of everything emitted by pushes and
 * the flush equals pg_detokenize of the same ids. If cap is too small the
 * rest is kept and emitted by the next push/flush (cap >= 4 guarantees
 * progress; 64+ is comfortable). Returns bytes written (>= 0), or PG_ENOMEM
 * when an internal buffer could not grow: nothing was written and the
 * caller must fail the request (its text would be incomplete); a token is
 * never dropped silently. */
typedef struct pg_detok pg_detok;
pg_detok *pg_detok_create(const pg_vocab *v, int special); /* NULL on OOM */
void pg_detok_destroy(pg_detok *d);
void pg_detok_reset(pg_detok *d);
int64_t pg_detok_push(pg_detok *d, int32_t id, char *out, size_t cap);
int64_t pg_detok_flush(pg_detok *d, char *out, size_t cap);

/* Copy in[0..n) to out as valid UTF-8, each maximal ill-formed subpart
 * replaced by U+FFFD. final=0: stop before a trailing sequence that is an
 * incomplete but so far valid prefix (*consumed tells how far it got).
 * Writes up to cap bytes, returns the full output length. */
int64_t pg_utf8_sanitize(const char *in, size_t n, int final, char *out, size_t cap, size_t *consumed);

#endif
