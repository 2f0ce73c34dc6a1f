/* spm.c - SentencePiece-style BPE by scores ("llama" vocabularies).
 *
 * The fragment is escaped (optional leading space, every ' ' -> U+2581 "▁")
 * and cut into UTF-8 characters (a byte that does not start a well-formed
 * character is a one-byte symbol, so stray bytes never swallow a "▁").
 * Symbols form a doubly linked list over one array; every adjacent pair
 * whose concatenation is a vocab entry goes into a max-heap keyed by that
 * entry's score (ties: leftmost first). Popping a pair whose symbols changed
 * since it was pushed is skipped (the size check below). Merged symbols are
 * always vocab entries; a single character that is not becomes its byte
 * tokens <0xNN> (byte fallback), or the unknown token if the vocab has none.
 * Since pairs are contiguous in the escaped text, lookups hash the text in
 * place: no strings are built.
 *
 * Speed: one heap over a whole 1 MB text thrashes the cache, so when the
 * vocabulary allows it (vocab->spm_chunks: no entry has "▁" right after
 * another character, true for Llama/Phi-3 style vocabularies) the text is
 * cut before every "▁" run and each chunk is merged alone; this gives the
 * same result because no merge can cross such a cut. Repeated chunks are
 * answered from a per-call cache. Memory: a few arrays per call. */
#include "tokenizer/tok_internal.h"

#include "base/heap.h"

typedef struct {
    int32_t prev, next;
    uint32_t start, n; /* bytes in the escaped text; n == 0: merged away */
} sym;

typedef struct {
    float score;
    int32_t left, right;
    uint32_t size;
} bigram;

/* a goes before b in the max-heap */
static inline int bg_before(const bigram *a, const bigram *b) {
    return a->score > b->score || (a->score == b->score && a->left < b->left);
}

PG_HEAP_DEFINE(heap, bigram, bg_before)

static void try_pair(const pg_vocab *v, const char *t, const sym *s, int32_t l, int32_t r, bigram *h, size_t *hn,
                     size_t hcap) {
    if (l < 0 || r < 0) return;
    uint32_t size = s[l].n + s[r].n;
    int32_t id = pg_vocab_find(v, t + s[l].start, size);
    if (id < 0) return;
    PG_ASSERT(*hn < hcap);
    heap_push(h, hn, (bigram){v->score[id], l, r, size});
}

/* Merge one chunk t[0..tn) and append its ids. s/h hold >= tn symbols and
 * 3*tn heap entries. */
static void spm_chunk(const pg_vocab *v, const char *t, size_t tn, sym *s, bigram *h, size_t hcap,
                      pg_tok_ids *out) {
    int32_t ns = 0;
    for (size_t i = 0; i < tn;) {
        size_t l = pg_tok_u8char(t + i, tn - i);
        s[ns] = (sym){ns - 1, ns + 1, (uint32_t)i, (uint32_t)l};
        ns++;
        i += l;
    }
    s[ns - 1].next = -1;
    size_t hn = 0;
    for (int32_t i = 1; i < ns; i++) try_pair(v, t, s, i - 1, i, h, &hn, hcap);
    while (hn) {
        bigram b = heap_pop(h, &hn);
        sym *L = &s[b.left], *R = &s[b.right];
        if (L->n == 0 || R->n == 0 || L->n + R->n != b.size) continue; /* stale */
        L->n += R->n;
        R->n = 0;
        L->next = R->next;
        if (R->next >= 0) s[R->next].prev = b.left;
        try_pair(v, t, s, L->prev, b.left, h, &hn, hcap);
        try_pair(v, t, s, b.left, L->next, h, &hn, hcap);
    }
    for (int32_t i = 0; i >= 0; i = s[i].next) {
        int32_t id = pg_vocab_find(v, t + s[i].start, s[i].n);
        if (id >= 0) {
            pg_tok_push(out, id);
            continue;
        }
        for (uint32_t k = 0; k < s[i].n; k++) {
            int32_t bt = v->byte_tok[(uint8_t)t[s[i].start + k]];
            if (bt >= 0) pg_tok_push(out, bt);
            else if (v->unk >= 0) {
                pg_tok_push(out, v->unk); /* one unknown per character */
                break;
            }
        }
    }
}

static int is_sp(const char *t) { return (uint8_t)t[0] == 0xE2 && (uint8_t)t[1] == 0x96 && (uint8_t)t[2] == 0x81; }

/* per-call cache of short chunks (words) -> ids; direct-mapped */
#define CACHE_SLOTS 4096
#define CACHE_MAXLEN 32
typedef struct {
    uint32_t hash, s, len, ids_off, n_ids; /* len 0: empty */
} centry;

int pg_tok_spm(const pg_vocab *v, const char *text, size_t len, int add_prefix, pg_tok_ids *out, pg_error *err) {
    if (len == 0) return PG_OK;
    size_t tcap = len * 3 + 3;
    char *t = malloc(tcap);
    if (!t) return pg_error_set(err, PG_ENOMEM, "tokenizer: out of memory");
    size_t tn = 0;
    if (add_prefix) {
        memcpy(t, "\xe2\x96\x81", 3);
        tn = 3;
    }
    for (size_t i = 0; i < len; i++) {
        if (text[i] == ' ') {
            memcpy(t + tn, "\xe2\x96\x81", 3);
            tn += 3;
        } else {
            t[tn++] = text[i];
        }
    }
    /* Chunks: when no vocab entry has a "▁" right after another character,
     * no merge can cross the start of a "▁" run, so each chunk (a "▁" run
     * and the word after it) is merged on its own: small arrays that stay
     * in cache, and repeated words come from the cache. */
    size_t maxc = v->spm_chunks ? 0 : tn;
    if (v->spm_chunks) {
        for (size_t i = 0, cs = 0; i <= tn; i++) {
            if (i == tn || (i > cs && i + 3 <= tn && is_sp(t + i) && !(i >= 3 && is_sp(t + i - 3)))) {
                if (i - cs > maxc) maxc = i - cs;
                cs = i;
            }
        }
    }
    sym *s = malloc((maxc + 1) * sizeof *s);
    size_t hcap = 3 * (maxc + 1); /* n-1 initial pairs + 2 per merge */
    bigram *h = malloc(hcap * sizeof *h);
    centry *cache = v->spm_chunks ? calloc(CACHE_SLOTS, sizeof *cache) : NULL;
    pg_tok_ids pool = {0};
    int rc = PG_OK;
    if (!s || !h || (v->spm_chunks && !cache)) {
        rc = pg_error_set(err, PG_ENOMEM, "tokenizer: out of memory");
        goto done;
    }
    if (!v->spm_chunks) {
        spm_chunk(v, t, tn, s, h, hcap, out);
        goto done;
    }
    for (size_t i = 0, cs = 0; i <= tn; i++) {
        if (!(i == tn || (i > cs && i + 3 <= tn && is_sp(t + i) && !(i >= 3 && is_sp(t + i - 3))))) continue;
        size_t cl = i - cs;
        if (cl == 0) break;
        centry *ce = NULL;
        uint32_t hh = 0;
        if (cl <= CACHE_MAXLEN) {
            hh = pg_tok_hash(t + cs, cl);
            ce = &cache[hh & (CACHE_SLOTS - 1)];
            if (ce->len == cl && ce->hash == hh && !memcmp(t + ce->s, t + cs, cl)) {
                for (uint32_t k = 0; k < ce->n_ids; k++) pg_tok_push(out, pool.ids[ce->ids_off + k]);
                cs = i;
                continue;
            }
        }
        size_t before = out->n;
        spm_chunk(v, t + cs, cl, s, h, hcap, out);
        if (ce && !out->oom && pool.n < (1u << 22)) {
            uint32_t off = (uint32_t)pool.n;
            for (size_t k = before; k < out->n; k++) pg_tok_push(&pool, out->ids[k]);
            if (!pool.oom) *ce = (centry){hh, (uint32_t)cs, (uint32_t)cl, off, (uint32_t)(out->n - before)};
        }
        cs = i;
    }
    if (pool.oom) rc = pg_error_set(err, PG_ENOMEM, "tokenizer: out of memory");
done:
    free(t);
    free(s);
    free(h);
    free(cache);
    free(pool.ids);
    return rc;
}
