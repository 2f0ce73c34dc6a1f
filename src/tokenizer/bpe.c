/* bpe.c - byte-level BPE ("gpt2" vocabularies).
 *
 * Pre-tokenization: the fragment is split by a list of regexes chosen by
 * tokenizer.ggml.pre. Each regex re-splits every piece of the previous
 * step: its matches and the unmatched gaps between them both become pieces
 * (Hugging Face's "Isolated" split; llama.cpp does the same). Regexes are
 * PCRE2 with UTF + UCP (Unicode \p{..}, \s) + MATCH_INVALID_UTF (invalid
 * bytes never match, so they end up in gap pieces and still reach BPE as
 * bytes) and are JIT-compiled once at load. A piece is a (start, end) pair
 * into the caller's text: nothing is copied.
 *
 * BPE: a piece starts as one symbol per byte (the token of that byte's
 * GPT-2 unicode stand-in, vocab->byte_tok) and the adjacent pair of lowest
 * merge rank is merged until none is left (ties: leftmost). Pairs are looked
 * up by (left id, right id) in vocab->mkey, which also gives the merged id,
 * so no strings are built. Short pieces keep the pair ranks in an array and
 * rescan it (O(m^2) compares, O(m) lookups); long pieces use a min-heap with
 * lazy deletion (O(m log m)). A per-call cache maps repeated short pieces
 * (words) to their ids. */
#include "tokenizer/tok_internal.h"

#include "base/hash.h"
#include "base/heap.h"
#include "base/log.h"

#include <stdio.h>

/* ---- GPT-2 byte <-> unicode stand-in ---- */

static int byte_is_printable(unsigned b) { return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE; }

uint32_t pg_tok_byte_to_cp(uint8_t b) {
    if (byte_is_printable(b)) return b;
    uint32_t k = 0; /* rank among the non-printable bytes */
    for (unsigned x = 0; x < b; x++) k += !byte_is_printable(x);
    return 256 + k;
}

int pg_tok_cp_to_byte(uint32_t cp) {
    if (cp < 256) return byte_is_printable(cp) ? (int)cp : -1;
    if (cp >= 256 + 68) return -1;
    uint32_t k = cp - 256;
    for (unsigned x = 0; x < 256; x++)
        if (!byte_is_printable(x) && k-- == 0) return (int)x;
    return -1;
}

/* ---- pre-tokenizer regex lists (from the models' tokenizer.json /
 * llama.cpp's pre-tokenizer table) ---- */

#define RE_GPT2 "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+"
#define RE_CJK "[\u4e00-\u9fa5\u0800-\u4e00\uac00-\ud7ff]+"

static const char *const re_default[] = {"[\\p{P}\\$\\+<=>\\^~\\|]+", RE_GPT2, "\\p{N}+", "[0-9][0-9][0-9]", NULL};
static const char *const re_gpt2[] = {RE_GPT2, NULL};
static const char *const re_llama3[] = {
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
    "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
    NULL};
static const char *const re_qwen2[] = {
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
    "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
    NULL};
static const char *const re_starcoder[] = {"\\p{N}", RE_GPT2, NULL};
static const char *const re_falcon[] = {"[\\p{P}\\$\\+<=>\\^~\\|`]+", RE_GPT2, "[0-9][0-9][0-9]", NULL};
static const char *const re_deepseek_coder[] = {"[\\r\\n]", "\\s?\\p{L}+", "\\s?\\p{P}+", RE_CJK, "\\p{N}", NULL};
static const char *const re_deepseek_llm[] = {
    "[\\r\\n]",
    "\\s?[A-Za-z\u00b5\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u01ba\u01bc-\u01bf\u01c4-\u0293\u0295-\u02af\u0370-\u0373"
    "\u0376\u0377\u037b-\u037d\u037f\u0386\u0388-\u038a\u038c\u038e-\u03a1\u03a3-\u03f5\u03f7-\u0481\u048a-\u052f"
    "\u0531-\u0556\u10a0-\u10c5\u13a0-\u13f5\u13f8-\u13fd\u1c90-\u1cba\u1cbd-\u1cbf\u1d00-\u1d2b\u1d6b-\u1d77"
    "\u1d79-\u1d9a\u1e00-\u1f15\u1f18-\u1f1d\u1f20-\u1f45\u1f48-\u1f4d\u1f50-\u1f57\u1f59\u1f5b\u1f5d\u1f5f-\u1f7d"
    "\u1f80-\u1fb4\u1fb6-\u1fbc\u1fbe\u1fc2-\u1fc4\u1fc6-\u1fcc\u1fd0-\u1fd3\u1fd6-\u1fdb\u1fe0-\u1fec\u1ff2-\u1ff4"
    "\u1ff6-\u1ffc\u2102\u2107\u210a-\u2113\u2115\u2119-\u211d\u2124\u2126\u2128\u212a-\u212d\u212f-\u2134\u2139"
    "\u213c-\u213f\u2145-\u2149\u214e\u2183\u2184\u2c00-\u2c7b\u2c7e-\u2ce4\u2ceb-\u2cee\u2cf2\u2cf3\ua640-\ua66d"
    "\ua680-\ua69b\ua722-\ua76f\ua771-\ua787\ua78b-\ua78e\uab70-\uabbf\ufb00-\ufb06\ufb13-\ufb17\uff21-\uff3a"
    "\uff41-\uff5a\U00010400-\U0001044f\U000104b0-\U000104d3\U000104d8-\U000104fb\U00010c80-\U00010cb2"
    "\U00010cc0-\U00010cf2\U000118a0-\U000118df\U0001e900-\U0001e943]+",
    "\\s?[!-/:-~\uff01-\uff0f\uff1a-\uff5e\u2018-\u201f\u3000-\u3002]+",
    "\\s+$",
    RE_CJK,
    "\\p{N}+",
    NULL};

static const struct {
    const char *names; /* '|'-separated tokenizer.ggml.pre values */
    const char *const *re;
    int ignore_merges, add_bos;
} k_pre[] = {
    {"default", re_default, 0, 0},
    {"llama3|llama-v3|llama-bpe|falcon3", re_llama3, 1, 1},
    {"dbrx|smaug-bpe", re_llama3, 0, 0},
    {"qwen2|stablelm2|deepseek-r1-qwen|megrez", re_qwen2, 0, 0},
    {"deepseek-llm", re_deepseek_llm, 0, 0},
    {"deepseek-coder", re_deepseek_coder, 0, 0},
    {"falcon", re_falcon, 0, 0},
    {"gpt-2|gpt2|mpt|olmo|jais|gpt-neox|phi-2|roberta-bpe|jina-es|jina-de|jina-v1-en|jina-v2-es|jina-v2-de|"
     "jina-v2-code|gigachat|trillion",
     re_gpt2, 0, 0},
    {"starcoder|refact|command-r|smollm|codeshell|exaone|minerva-7b", re_starcoder, 0, 0},
};

static int name_in_list(const char *list, const char *s, size_t n) {
    for (const char *p = list;;) {
        const char *e = strchr(p, '|');
        size_t l = e ? (size_t)(e - p) : strlen(p);
        if (l == n && !memcmp(p, s, n)) return 1;
        if (!e) return 0;
        p = e + 1;
    }
}

int pg_tok_bpe_setup(pg_vocab *v, const char *pre, size_t pre_len, pg_error *err) {
    int k = -1;
    if (pre_len == 0) {
        PG_WARN("tokenizer: no tokenizer.ggml.pre, using the default pre-tokenizer");
        k = 0;
    }
    for (size_t i = 0; k < 0 && i < sizeof k_pre / sizeof k_pre[0]; i++)
        if (name_in_list(k_pre[i].names, pre, pre_len)) k = (int)i;
    if (k < 0)
        return pg_error_set(err, PG_EUNSUPPORTED, "tokenizer pre-tokenizer '%.*s' is not supported",
                            (int)(pre_len > 64 ? 64 : pre_len), pre);
    snprintf(v->pre_name, sizeof v->pre_name, "%.*s", (int)(pre_len ? pre_len : 7), pre_len ? pre : "default");
    v->ignore_merges = k_pre[k].ignore_merges;
    v->add_bos = k_pre[k].add_bos;
    for (const char *const *r = k_pre[k].re; *r; r++) {
        int ec;
        PCRE2_SIZE eo;
        PG_ASSERT(v->n_re < PG_TOK_MAX_RE);
        pcre2_code *c = pcre2_compile((PCRE2_SPTR)*r, PCRE2_ZERO_TERMINATED,
                                      PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF, &ec, &eo, NULL);
        if (!c) {
            PCRE2_UCHAR msg[160];
            pcre2_get_error_message(ec, msg, sizeof msg);
            /* our own pattern failed: a bug, but report rather than abort */
            return pg_error_set(err, PG_EUNSUPPORTED, "tokenizer regex %d failed to compile at %zu: %s", v->n_re,
                                (size_t)eo, (const char *)msg);
        }
        v->re[v->n_re++] = c;
        if (pcre2_jit_compile(c, PCRE2_JIT_COMPLETE) != 0) PG_DEBUG("tokenizer: PCRE2 JIT unavailable, interpreting");
    }
    return PG_OK;
}

/* ---- splitting ---- */

typedef struct {
    uint32_t s, e;
} span;

typedef struct {
    span *p;
    size_t n, cap;
} spans;

static int spans_push(spans *a, size_t s, size_t e) {
    if (a->n == a->cap) {
        size_t nc = a->cap ? a->cap * 2 : 64;
        span *q = realloc(a->p, nc * sizeof *q);
        if (!q) return -1;
        a->p = q;
        a->cap = nc;
    }
    a->p[a->n++] = (span){(uint32_t)s, (uint32_t)e};
    return 0;
}

typedef struct {
    pcre2_match_data *md;
    pcre2_match_context *mc;
    pcre2_jit_stack *js;
} matcher;

/* Split text[s..e) by code into out (matches and gaps). */
static int split_piece(matcher *m, const pcre2_code *code, const char *text, size_t s, size_t e, spans *out) {
    const PCRE2_SPTR subj = (PCRE2_SPTR)(text + s);
    size_t n = e - s, off = 0, prev = 0;
    while (off < n) {
        int rc = pcre2_match(code, subj, n, off, 0, m->md, m->mc);
        if (rc == PCRE2_ERROR_JIT_STACKLIMIT && !m->js) {
            m->js = pcre2_jit_stack_create(64 * 1024, 16 * 1024 * 1024, NULL);
            if (!m->js) return -1;
            pcre2_jit_stack_assign(m->mc, NULL, m->js);
            continue;
        }
        if (rc < 0) {
            if (rc != PCRE2_ERROR_NOMATCH) PG_DEBUG("tokenizer: regex match error %d, rest kept as one piece", rc);
            break;
        }
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(m->md);
        size_t ms = ov[0], me = ov[1];
        if (me <= ms) { /* empty match: step one byte/character on */
            off = ms + pg_tok_u8len(text + s + ms, n - ms);
            continue;
        }
        if (ms > prev && spans_push(out, s + prev, s + ms)) return -1;
        if (spans_push(out, s + ms, s + me)) return -1;
        prev = off = me;
    }
    if (prev < n && spans_push(out, s + prev, e)) return -1;
    return 0;
}

/* ---- BPE over one piece ---- */

#define NO_RANK INT32_MAX

static inline int32_t merge_find(const pg_vocab *v, int32_t a, int32_t b, int32_t *res) {
    if (a < 0 || b < 0) return NO_RANK;
    uint64_t key = (((uint64_t)(uint32_t)a << 32) | (uint32_t)b) + 1;
    uint64_t j = (pg_hash_fib(key) >> 20) & v->mmask;
    for (;;) {
        uint64_t k = v->mkey[j];
        if (k == key) {
            *res = v->mres[j];
            return v->mrank[j];
        }
        if (!k) return NO_RANK;
        j = (j + 1) & v->mmask;
    }
}

typedef struct {
    int32_t rank, left, lid, rid;
} mcand;

static inline int mc_before(const mcand *a, const mcand *b) {
    return a->rank < b->rank || (a->rank == b->rank && a->left < b->left);
}

typedef struct {
    int32_t *id;   /* symbol ids (dead: -2) */
    int32_t *prev, *next;
    int32_t *rank; /* short path: rank of pair (i, i+1) */
    int32_t *res;
    mcand *heap;
    size_t cap;    /* symbols the arrays hold */
    char *enc;     /* byte-level text for ignore_merges lookups */
} bpe_ws;

static int ws_reserve(bpe_ws *w, size_t m) {
    if (m <= w->cap) return 0;
    size_t c = w->cap ? w->cap : 64;
    while (c < m) c *= 2;
    int32_t *a = realloc(w->id, c * sizeof *a);
    if (!a) return -1;
    w->id = a;
    if (!(a = realloc(w->prev, c * sizeof *a))) return -1;
    w->prev = a;
    if (!(a = realloc(w->next, c * sizeof *a))) return -1;
    w->next = a;
    if (!(a = realloc(w->rank, c * sizeof *a))) return -1;
    w->rank = a;
    if (!(a = realloc(w->res, c * sizeof *a))) return -1;
    w->res = a;
    mcand *h = realloc(w->heap, 3 * c * sizeof *h);
    if (!h) return -1;
    w->heap = h;
    char *e = realloc(w->enc, 2 * c);
    if (!e) return -1;
    w->enc = e;
    w->cap = c;
    return 0;
}

static void ws_free(bpe_ws *w) {
    free(w->id);
    free(w->prev);
    free(w->next);
    free(w->rank);
    free(w->res);
    free(w->heap);
    free(w->enc);
}

PG_HEAP_DEFINE(mheap, mcand, mc_before)

static void heap_pair(const pg_vocab *v, bpe_ws *w, size_t *hn, int32_t l) {
    if (l < 0) return;
    int32_t r = w->next[l];
    if (r < 0) return;
    int32_t res;
    int32_t rank = merge_find(v, w->id[l], w->id[r], &res);
    if (rank != NO_RANK) mheap_push(w->heap, hn, (mcand){rank, l, w->id[l], w->id[r]});
}

#define SHORT_PIECE 48

/* Merge the m symbols in w->id[0..m); leaves the result in w->id (compact
 * for the short path, linked via next for the heap path); returns the
 * number of result symbols and sets *linked. */
static size_t bpe_merge(const pg_vocab *v, bpe_ws *w, size_t m, int *linked) {
    int32_t *id = w->id;
    if (m <= SHORT_PIECE) {
        *linked = 0;
        for (size_t i = 0; i + 1 < m; i++) w->rank[i] = merge_find(v, id[i], id[i + 1], &w->res[i]);
        while (m > 1) {
            size_t best = 0;
            int32_t br = w->rank[0];
            for (size_t i = 1; i + 1 < m; i++)
                if (w->rank[i] < br) br = w->rank[i], best = i;
            if (br == NO_RANK) break;
            /* symbols best, best+1 -> one; pairs after best shift down */
            id[best] = w->res[best];
            memmove(id + best + 1, id + best + 2, (m - best - 2) * sizeof *id);
            if (m >= best + 3) {
                memmove(w->rank + best + 1, w->rank + best + 2, (m - best - 3) * sizeof *id);
                memmove(w->res + best + 1, w->res + best + 2, (m - best - 3) * sizeof *id);
            }
            m--;
            if (best > 0) w->rank[best - 1] = merge_find(v, id[best - 1], id[best], &w->res[best - 1]);
            if (best + 1 < m) w->rank[best] = merge_find(v, id[best], id[best + 1], &w->res[best]);
        }
        return m;
    }
    *linked = 1;
    for (size_t i = 0; i < m; i++) {
        w->prev[i] = (int32_t)i - 1;
        w->next[i] = i + 1 < m ? (int32_t)i + 1 : -1;
    }
    size_t hn = 0;
    for (size_t i = 0; i + 1 < m; i++) heap_pair(v, w, &hn, (int32_t)i);
    while (hn) {
        mcand c = mheap_pop(w->heap, &hn);
        int32_t l = c.left, r = w->next[l];
        if (id[l] != c.lid || r < 0 || id[r] != c.rid) continue; /* stale */
        int32_t res = -1;
        merge_find(v, id[l], id[r], &res);
        id[l] = res;
        id[r] = -2;
        w->next[l] = w->next[r];
        if (w->next[r] >= 0) w->prev[w->next[r]] = l;
        heap_pair(v, w, &hn, w->prev[l]);
        heap_pair(v, w, &hn, l);
    }
    return m;
}

/* per-call cache of short pieces -> ids (direct-mapped; collisions replace) */
#define CACHE_SLOTS 4096
#define CACHE_MAXLEN 24
typedef struct {
    uint32_t hash, s, len; /* s: piece start in text; len 0 = empty slot */
    uint32_t ids_off, n_ids;
} centry;

typedef struct {
    centry *e;
    int32_t *pool;
    size_t pool_n, pool_cap;
} pcache;

static void emit_piece(const pg_vocab *v, bpe_ws *w, const char *p, size_t m, pg_tok_ids *out) {
    if (v->ignore_merges) {
        size_t el = 0;
        for (size_t i = 0; i < m; i++) {
            uint32_t cp = pg_tok_byte_to_cp((uint8_t)p[i]);
            if (cp < 0x80) w->enc[el++] = (char)cp;
            else {
                w->enc[el++] = (char)(0xC0 | (cp >> 6));
                w->enc[el++] = (char)(0x80 | (cp & 0x3F));
            }
        }
        int32_t id = pg_vocab_find(v, w->enc, el);
        if (id >= 0) {
            pg_tok_push(out, id);
            return;
        }
    }
    for (size_t i = 0; i < m; i++) w->id[i] = v->byte_tok[(uint8_t)p[i]];
    int linked;
    size_t k = bpe_merge(v, w, m, &linked);
    if (!linked) {
        for (size_t i = 0; i < k; i++) {
            if (w->id[i] >= 0) pg_tok_push(out, w->id[i]);
            else if (v->unk >= 0) pg_tok_push(out, v->unk);
        }
    } else {
        for (int32_t i = 0; i >= 0; i = w->next[i]) {
            if (w->id[i] >= 0) pg_tok_push(out, w->id[i]);
            else if (v->unk >= 0) pg_tok_push(out, v->unk);
        }
    }
}

int pg_tok_bpe(const pg_vocab *v, const char *text, size_t len, pg_tok_ids *out, pg_error *err) {
    if (len == 0) return PG_OK;
    int rc = PG_OK;
    spans a = {0}, b = {0};
    bpe_ws w = {0};
    pcache cache = {0};
    matcher m = {0};
    m.md = pcre2_match_data_create(1, NULL);
    m.mc = pcre2_match_context_create(NULL);
    cache.e = calloc(CACHE_SLOTS, sizeof *cache.e);
    if (!m.md || !m.mc || !cache.e || spans_push(&a, 0, len)) goto oom;
    for (int r = 0; r < v->n_re; r++) {
        b.n = 0;
        for (size_t i = 0; i < a.n; i++)
            if (split_piece(&m, v->re[r], text, a.p[i].s, a.p[i].e, &b)) goto oom;
        spans t = a;
        a = b;
        b = t;
    }
    for (size_t i = 0; i < a.n; i++) {
        const char *p = text + a.p[i].s;
        size_t pl = a.p[i].e - a.p[i].s;
        centry *ce = NULL;
        uint32_t h = 0;
        if (pl <= CACHE_MAXLEN) {
            h = pg_tok_hash(p, pl);
            ce = &cache.e[h & (CACHE_SLOTS - 1)];
            if (ce->len == pl && ce->hash == h && !memcmp(text + ce->s, p, pl)) {
                for (uint32_t k = 0; k < ce->n_ids; k++) pg_tok_push(out, cache.pool[ce->ids_off + k]);
                continue;
            }
        }
        if (ws_reserve(&w, pl)) goto oom;
        size_t before = out->n;
        emit_piece(v, &w, p, pl, out);
        if (out->oom) goto oom;
        if (ce) {
            size_t k = out->n - before;
            if (cache.pool_n + k > cache.pool_cap) {
                size_t nc = cache.pool_cap ? cache.pool_cap * 2 : 4096;
                if (nc > (1u << 22)) { /* bound the pool: start over */
                    memset(cache.e, 0, CACHE_SLOTS * sizeof *cache.e);
                    cache.pool_n = 0;
                    nc = cache.pool_cap;
                }
                if (nc > cache.pool_cap) {
                    int32_t *np = realloc(cache.pool, nc * sizeof *np);
                    if (!np) goto oom;
                    cache.pool = np;
                    cache.pool_cap = nc;
                }
            }
            if (cache.pool_n + k <= cache.pool_cap) {
                if (k) memcpy(cache.pool + cache.pool_n, out->ids + before, k * sizeof *out->ids);
                *ce = (centry){h, (uint32_t)(p - text), (uint32_t)pl, (uint32_t)cache.pool_n, (uint32_t)k};
                cache.pool_n += k;
            }
        }
    }
    goto done;
oom:
    rc = pg_error_set(err, PG_ENOMEM, "tokenizer: out of memory");
done:
    free(a.p);
    free(b.p);
    ws_free(&w);
    free(cache.e);
    free(cache.pool);
    if (m.md) pcre2_match_data_free(m.md);
    if (m.mc) pcre2_match_context_free(m.mc);
    if (m.js) pcre2_jit_stack_free(m.js);
    return rc;
}
