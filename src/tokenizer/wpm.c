/* wpm.c - BERT WordPiece ("bert" vocabularies), matching Hugging Face's
 * BertNormalizer + BertPreTokenizer + WordPiece with the usual settings
 * (clean text, CJK spacing, accent stripping, lowercasing, "##", [UNK],
 * 100 characters per word at most). Vocabularies converted by llama.cpp
 * spell word starts "\u2581word" and continuations bare; both spellings work.
 *
 * One pass over the code points (utf8proc for categories, canonical
 * decomposition and lowercase): controls, U+0000 and U+FFFD are dropped
 * (invalid UTF-8 bytes too), whitespace ends a word, a CJK ideograph or a
 * punctuation character is a word of its own, everything else is NFD'ed,
 * nonspacing marks (Mn) are dropped and the rest lowercased into the
 * current word. Each finished word goes through greedy longest-match-first
 * WordPiece; a word with an unmatchable position becomes one [UNK].
 * Memory: one word buffer and one candidate buffer per call. */
#include "tokenizer/tok_internal.h"

#include <utf8proc.h>

#define MAX_WORD_CHARS 100

static int is_cjk(int32_t c) {
    return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x20000 && c <= 0x2A6DF) ||
           (c >= 0x2A700 && c <= 0x2B73F) || (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B820 && c <= 0x2CEAF) ||
           (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

/* Unicode White_Space (Rust char::is_whitespace) */
static int is_ws(int32_t c) {
    return c == ' ' || (c >= 0x09 && c <= 0x0D) || c == 0x85 || c == 0xA0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F ||
           c == 0x3000;
}

static int is_punct(int32_t c) {
    if ((c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) || (c >= 123 && c <= 126)) return 1;
    int cat = utf8proc_category(c);
    return cat >= UTF8PROC_CATEGORY_PC && cat <= UTF8PROC_CATEGORY_PO;
}

typedef struct {
    char *w;      /* current word, UTF-8 */
    size_t wn, wcap;
    size_t nch;   /* characters in the word */
    uint32_t *cs; /* byte offset of each character start, plus end */
    size_t cscap;
    char *cand;   /* "##" + candidate */
    size_t candcap;
    int oom;
} wstate;

static int grow(void **p, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return 0;
    size_t c = *cap ? *cap : 64;
    while (c < need) c *= 2;
    void *q = realloc(*p, c * elem);
    if (!q) return -1;
    *p = q;
    *cap = c;
    return 0;
}

static void word_add(wstate *s, int32_t c) {
    if (grow((void **)&s->w, &s->wcap, s->wn + 4, 1) || grow((void **)&s->cs, &s->cscap, s->nch + 2, sizeof *s->cs)) {
        s->oom = 1;
        return;
    }
    s->cs[s->nch++] = (uint32_t)s->wn;
    s->wn += (size_t)utf8proc_encode_char(c, (utf8proc_uint8_t *)s->w + s->wn);
}

static void word_flush(const pg_vocab *v, wstate *s, pg_tok_ids *out) {
    if (s->nch == 0 || s->oom) {
        s->wn = s->nch = 0;
        return;
    }
    s->cs[s->nch] = (uint32_t)s->wn;
    size_t mark = out->n;
    if (s->nch > MAX_WORD_CHARS) goto unk;
    if (grow((void **)&s->cand, &s->candcap, s->wn + 3, 1)) {
        s->oom = 1;
        return;
    }
    /* the spelling that needs a prefix: continuations ("##") in HF
     * vocabularies, word starts (U+2581) in converted ones */
    const char *pfx = v->wpm_hashes ? "##" : "\xe2\x96\x81";
    size_t pl = v->wpm_hashes ? 2 : 3;
    memcpy(s->cand, pfx, pl);
    for (size_t st = 0; st < s->nch;) {
        int32_t found = -1;
        size_t en = s->nch;
        int prefixed = (st == 0) != v->wpm_hashes;
        for (; en > st; en--) {
            size_t b0 = s->cs[st], b1 = s->cs[en];
            if (!prefixed) found = pg_vocab_find(v, s->w + b0, b1 - b0);
            else {
                memcpy(s->cand + pl, s->w + b0, b1 - b0);
                found = pg_vocab_find(v, s->cand, b1 - b0 + pl);
            }
            if (found >= 0) break;
        }
        if (found < 0) goto unk;
        pg_tok_push(out, found);
        st = en;
    }
    s->wn = s->nch = 0;
    return;
unk:
    out->n = mark;
    if (v->unk >= 0) pg_tok_push(out, v->unk);
    s->wn = s->nch = 0;
}

int pg_tok_wpm(const pg_vocab *v, const char *text, size_t len, pg_tok_ids *out, pg_error *err) {
    wstate s = {0};
    const utf8proc_uint8_t *p = (const utf8proc_uint8_t *)text;
    size_t i = 0;
    while (i < len && !s.oom) {
        utf8proc_int32_t c;
        utf8proc_ssize_t l = utf8proc_iterate(p + i, (utf8proc_ssize_t)(len - i), &c);
        if (l <= 0) { /* invalid byte: dropped like other unusable input */
            i++;
            continue;
        }
        i += (size_t)l;
        if (c == 0 || c == 0xFFFD) continue;
        if (is_ws(c) || utf8proc_category(c) == UTF8PROC_CATEGORY_ZS) {
            word_flush(v, &s, out);
            continue;
        }
        int cat = utf8proc_category(c);
        if (cat == UTF8PROC_CATEGORY_CC || cat == UTF8PROC_CATEGORY_CF || cat == UTF8PROC_CATEGORY_CN ||
            cat == UTF8PROC_CATEGORY_CO || cat == UTF8PROC_CATEGORY_CS)
            continue;
        if (is_cjk(c)) {
            word_flush(v, &s, out);
            word_add(&s, c);
            word_flush(v, &s, out);
            continue;
        }
        utf8proc_int32_t d[32];
        int bound = 0;
        utf8proc_ssize_t nd = utf8proc_decompose_char(c, d, 32, UTF8PROC_DECOMPOSE, &bound);
        if (nd < 0 || nd > 32) {
            d[0] = c;
            nd = 1;
        }
        for (utf8proc_ssize_t k = 0; k < nd; k++) {
            int32_t x = d[k];
            if (utf8proc_category(x) == UTF8PROC_CATEGORY_MN) continue;
            x = utf8proc_tolower(x);
            if (is_punct(x)) {
                word_flush(v, &s, out);
                word_add(&s, x);
                word_flush(v, &s, out);
            } else if (is_ws(x)) {
                word_flush(v, &s, out);
            } else {
                word_add(&s, x);
            }
        }
    }
    word_flush(v, &s, out);
    free(s.w);
    free(s.cs);
    free(s.cand);
    if (s.oom) return pg_error_set(err, PG_ENOMEM, "tokenizer: out of memory");
    return PG_OK;
}
