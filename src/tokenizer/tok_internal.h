/* tok_internal.h - the pg_vocab layout shared by the tokenizer's .c files
 * (vocab.c loads it; spm.c, bpe.c, wpm.c tokenize with it; detok.c renders).
 * Not part of the public API: include tokenizer/tokenizer.h instead. */
#ifndef PG_TOKENIZER_TOK_INTERNAL_H
#define PG_TOKENIZER_TOK_INTERNAL_H

#include "tokenizer/tokenizer.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

enum { PG_VK_SPM = 0, PG_VK_BPE = 1, PG_VK_WPM = 2 };

#define PG_TOK_MAX_RE 8

struct pg_vocab {
    int kind; /* PG_VK_* */
    int32_t n;
    /* token strings: blob holds every text NUL-terminated; off/len index it */
    char *blob;
    uint32_t *off;
    uint32_t *len;
    float *score; /* n entries (0 when the file has no scores) */
    uint8_t *type; /* PG_TOKTYPE_* */
    uint8_t *eog;  /* 1 for end-of-generation ids */
    /* text -> id: open addressing, power-of-two slots holding id or -1 */
    int32_t *slot;
    uint32_t *tok_hash; /* hash of each token's text, to skip compares */
    uint32_t slot_mask;

    int32_t bos, eos, eot, eom, unk, pad;
    int32_t sep; /* separator between a pair's texts (rerankers), -1 if none */
    int add_bos, add_eos, add_space_prefix;

    /* special-text matching: ids of CONTROL/UNKNOWN/USER_DEFINED tokens,
     * bucketed by first byte (spec_start[b]..spec_start[b+1]), each bucket
     * sorted by length descending. */
    int32_t *spec_ids;
    int32_t n_spec;
    int32_t spec_start[257];

    /* byte -> token id: SPM "<0xNN>", BPE the byte-level char; -1 if none */
    int32_t byte_tok[256];

    /* BPE: merges (left id, right id) -> rank, result id */
    uint64_t *mkey; /* (left << 32 | right) + 1; 0 = empty */
    int32_t *mrank;
    int32_t *mres;
    uint64_t mmask;
    int ignore_merges;
    /* SPM: no entry has U+2581 right after another character, so text can
     * be merged word by word (see spm.c) */
    int spm_chunks;
    /* WordPiece spelling: 1 = Hugging Face ("word", "##piece"); 0 = the
     * llama.cpp GGUF conversion ("\u2581word", "piece") */
    int wpm_hashes;
    pcre2_code *re[PG_TOK_MAX_RE];
    int n_re;

    char kind_name[8];
    char pre_name[32];
};

/* Growable id output (doubling: amortised, no per-token malloc). */
typedef struct {
    int32_t *ids;
    size_t n, cap;
    int oom;
} pg_tok_ids;

static inline void pg_tok_push(pg_tok_ids *o, int32_t id) {
    if (o->n == o->cap) {
        size_t nc = o->cap ? o->cap * 2 : 256;
        int32_t *p = realloc(o->ids, nc * sizeof *p);
        if (!p) { o->oom = 1; return; }
        o->ids = p;
        o->cap = nc;
    }
    o->ids[o->n++] = id;
}

uint32_t pg_tok_hash(const char *s, size_t n);

/* Length of the UTF-8 sequence a lead byte announces (1 for invalid bytes),
 * clipped to the bytes left: the way llama.cpp steps through text. */
static inline size_t pg_tok_u8len(const char *s, size_t left) {
    static const uint8_t lut[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
    size_t l = lut[(uint8_t)s[0] >> 4];
    return l < left ? l : left;
}

/* Length of the well-formed UTF-8 character at s (1..4), or 1 when the
 * bytes there are not one (each stray byte is then a symbol of its own). */
static inline size_t pg_tok_u8char(const char *s, size_t left) {
    const uint8_t *p = (const uint8_t *)s;
    uint8_t b = p[0];
    size_t need;
    uint8_t lo = 0x80, hi = 0xBF;
    if (b < 0x80) return 1;
    if (b >= 0xC2 && b <= 0xDF) need = 1;
    else if (b == 0xE0) need = 2, lo = 0xA0;
    else if (b == 0xED) need = 2, hi = 0x9F;
    else if (b >= 0xE1 && b <= 0xEF) need = 2;
    else if (b == 0xF0) need = 3, lo = 0x90;
    else if (b == 0xF4) need = 3, hi = 0x8F;
    else if (b >= 0xF1 && b <= 0xF3) need = 3;
    else return 1;
    if (need >= left) return 1;
    if (p[1] < lo || p[1] > hi) return 1;
    for (size_t j = 2; j <= need; j++)
        if (p[j] < 0x80 || p[j] > 0xBF) return 1;
    return need + 1;
}

/* Family tokenizers over one raw-text fragment (specials already split
 * off). Return 0 or a negative PG_E*. */
int pg_tok_spm(const pg_vocab *v, const char *text, size_t len, int add_prefix, pg_tok_ids *out, pg_error *err);
int pg_tok_bpe(const pg_vocab *v, const char *text, size_t len, pg_tok_ids *out, pg_error *err);
int pg_tok_wpm(const pg_vocab *v, const char *text, size_t len, pg_tok_ids *out, pg_error *err);

/* bpe.c: pre-tokenizer set-up by name (compiles the regexes). */
int pg_tok_bpe_setup(pg_vocab *v, const char *pre, size_t pre_len, pg_error *err);
/* GPT-2 byte-level map: byte -> code point, and code point -> byte (-1). */
uint32_t pg_tok_byte_to_cp(uint8_t b);
int pg_tok_cp_to_byte(uint32_t cp);

#endif
