/* vocab.c - loading a pg_vocab from GGUF metadata, lookups, and the
 * pg_tokenize driver.
 *
 * Load copies every token string into one blob (NUL-terminated each) and
 * builds an open-addressing hash (text -> id, power-of-two slots, linear
 * probing, each token's 32-bit hash kept to skip most compares). Special
 * tokens (CONTROL, UNKNOWN, USER_DEFINED) are bucketed by first byte and
 * sorted longest first, so splitting text on them is one left-to-right scan
 * that only looks at buckets of bytes that can start a special token
 * (leftmost-longest, as Hugging Face's added-token matcher does).
 *
 * pg_tokenize: optional BOS, then the text cut into raw fragments and
 * special tokens, each raw fragment handed to the family tokenizer
 * (spm.c / bpe.c / wpm.c), then optional EOS. All memory is per call. */
#include "tokenizer/tok_internal.h"

#include "base/hash.h"
#include "base/log.h"

#include <stdio.h>

#define MAX_TOKENS (1 << 24)     /* hostile-size guard on the token array */
#define MAX_TOKEN_BYTES (1 << 16) /* longest token text accepted */
#define MAX_TEXT ((size_t)1 << 29) /* longest text pg_tokenize accepts */

uint32_t pg_tok_hash(const char *s, size_t n) {
    /* 8 bytes at a time, multiply-xorshift mixing; short keys dominate */
    uint64_t h = PG_HASH_GOLDEN ^ (n * 0xff51afd7ed558ccdull);
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, s, 8);
        h = (h ^ w) * PG_HASH_MIX1;
        h ^= h >> 31;
        s += 8;
        n -= 8;
    }
    if (n) {
        uint64_t w = 0;
        memcpy(&w, s, n);
        h = (h ^ w) * PG_HASH_MIX2;
        h ^= h >> 29;
    }
    h *= PG_HASH_MIX1;
    return (uint32_t)(h ^ (h >> 32));
}

static int32_t pg_tok_find_h(const pg_vocab *v, const char *s, size_t n, uint32_t h) {
    uint32_t i = h & v->slot_mask;
    for (;;) {
        int32_t id = v->slot[i];
        if (id < 0) return -1;
        if (v->tok_hash[id] == h && v->len[id] == n && memcmp(v->blob + v->off[id], s, n) == 0) return id;
        i = (i + 1) & v->slot_mask;
    }
}

int32_t pg_vocab_find(const pg_vocab *v, const char *text, size_t len) {
    if (!v || (!text && len)) return -1;
    return pg_tok_find_h(v, text, len, pg_tok_hash(text, len));
}

void pg_vocab_free(pg_vocab *v) {
    if (!v) return;
    free(v->blob);
    free(v->off);
    free(v->len);
    free(v->score);
    free(v->type);
    free(v->eog);
    free(v->slot);
    free(v->tok_hash);
    free(v->spec_ids);
    free(v->mkey);
    free(v->mrank);
    free(v->mres);
    for (int i = 0; i < v->n_re; i++) pcre2_code_free(v->re[i]);
    free(v);
}

/* Optional integer id key: -1 when absent or out of range. */
static int32_t get_id(const pg_gguf *g, const char *key, int32_t n, int32_t dflt) {
    int64_t x;
    if (pg_gguf_find_key(g, key) < 0) return dflt;
    if (pg_gguf_get_i64(g, key, &x, NULL) != PG_OK) return -1;
    if (x == -1 || x == (int64_t)UINT32_MAX) return -1; /* the usual spelling of "none" */
    if (x < 0 || x >= n) {
        PG_WARN("tokenizer: %s = %lld out of range, ignored", key, (long long)x);
        return -1;
    }
    return (int32_t)x;
}

static int get_bool(const pg_gguf *g, const char *key, int dflt) {
    int b;
    if (pg_gguf_find_key(g, key) < 0) return dflt;
    if (pg_gguf_get_bool(g, key, &b, NULL) != PG_OK) return dflt;
    return b ? 1 : 0;
}

static int32_t find_cstr(const pg_vocab *v, const char *s) { return pg_vocab_find(v, s, strlen(s)); }

static int spec_cmp_len_desc(const void *a, const void *b, void *arg) {
    const pg_vocab *v = arg;
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    uint8_t fx = (uint8_t)v->blob[v->off[x]], fy = (uint8_t)v->blob[v->off[y]];
    if (fx != fy) return fx < fy ? -1 : 1;
    if (v->len[x] != v->len[y]) return v->len[x] > v->len[y] ? -1 : 1;
    return x < y ? -1 : (x > y);
}

static int build_specials(pg_vocab *v, pg_error *err) {
    int32_t cnt = 0;
    for (int32_t i = 0; i < v->n; i++) {
        int t = v->type[i];
        if ((t == PG_TOKTYPE_CONTROL || t == PG_TOKTYPE_UNKNOWN || t == PG_TOKTYPE_USER_DEFINED) && v->len[i] > 0)
            cnt++;
    }
    v->spec_ids = malloc(((size_t)cnt + 1) * sizeof *v->spec_ids);
    if (!v->spec_ids) return pg_error_set(err, PG_ENOMEM, "tokenizer: out of memory");
    cnt = 0;
    for (int32_t i = 0; i < v->n; i++) {
        int t = v->type[i];
        if ((t == PG_TOKTYPE_CONTROL || t == PG_TOKTYPE_UNKNOWN || t == PG_TOKTYPE_USER_DEFINED) && v->len[i] > 0)
            v->spec_ids[cnt++] = i;
    }
    v->n_spec = cnt;
    qsort_r(v->spec_ids, (size_t)cnt, sizeof *v->spec_ids, spec_cmp_len_desc, v);
    /* bucket starts: spec_start[b] = first index whose first byte >= b */
    int32_t j = 0;
    for (int b = 0; b <= 256; b++) {
        while (j < cnt && (uint8_t)v->blob[v->off[v->spec_ids[j]]] < b) j++;
        v->spec_start[b] = j;
    }
    return PG_OK;
}

/* Texts that end a turn when they exist as special tokens (facts from the
 * chat formats of common model families). */
static const char *const k_eog_texts[] = {
    "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<EOT>", "<|EOT|>",
    "<|eom_id|>", "<\xef\xbd\x9c" "end\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>", "<|return|>",
    "<|call|>", "<|end_of_text|>",
};

static int load_tokens(pg_vocab *v, const pg_gguf *g, pg_error *err) {
    pg_gguf_vtype et;
    uint64_t count;
    int rc = pg_gguf_get_arr(g, "tokenizer.ggml.tokens", &et, &count, err);
    if (rc != PG_OK) return rc;
    if (et != PG_GGUF_STRING)
        return pg_error_set(err, PG_EFORMAT, "tokenizer.ggml.tokens: expected an array of strings");
    if (count == 0 || count > MAX_TOKENS)
        return pg_error_set(err, PG_EFORMAT, "tokenizer.ggml.tokens: bad token count %llu",
                            (unsigned long long)count);
    v->n = (int32_t)count;
    size_t total = 0;
    for (uint64_t i = 0; i < count; i++) {
        size_t l = 0;
        const char *s = pg_gguf_arr_str(g, "tokenizer.ggml.tokens", i, &l);
        if (!s || l > MAX_TOKEN_BYTES)
            return pg_error_set(err, PG_EFORMAT, "tokenizer.ggml.tokens[%llu]: bad string", (unsigned long long)i);
        total += l + 1;
    }
    if (total > UINT32_MAX) return pg_error_set(err, PG_EFORMAT, "tokenizer.ggml.tokens: too much text");
    v->blob = malloc(total);
    v->off = malloc(count * sizeof *v->off);
    v->len = malloc(count * sizeof *v->len);
    v->score = calloc(count, sizeof *v->score);
    v->type = malloc(count);
    v->eog = calloc(count, 1);
    v->tok_hash = malloc(count * sizeof *v->tok_hash);
    size_t nslot = 1;
    while (nslot < count * 2) nslot <<= 1;
    v->slot = malloc(nslot * sizeof *v->slot);
    if (!v->blob || !v->off || !v->len || !v->score || !v->type || !v->eog || !v->tok_hash || !v->slot)
        return pg_error_set(err, PG_ENOMEM, "tokenizer: out of memory");
    v->slot_mask = (uint32_t)(nslot - 1);
    memset(v->slot, 0xff, nslot * sizeof *v->slot);
    size_t pos = 0;
    for (uint64_t i = 0; i < count; i++) {
        size_t l = 0;
        const char *s = pg_gguf_arr_str(g, "tokenizer.ggml.tokens", i, &l);
        memcpy(v->blob + pos, s, l);
        v->blob[pos + l] = 0;
        v->off[i] = (uint32_t)pos;
        v->len[i] = (uint32_t)l;
        pos += l + 1;
        v->type[i] = PG_TOKTYPE_NORMAL;
        uint32_t h = pg_tok_hash(s, l);
        v->tok_hash[i] = h;
        /* insert; a duplicate text maps to the later id (as llama.cpp's map does) */
        uint32_t j = h & v->slot_mask;
        for (;;) {
            int32_t o = v->slot[j];
            if (o < 0) { v->slot[j] = (int32_t)i; break; }
            if (v->tok_hash[o] == h && v->len[o] == l && memcmp(v->blob + v->off[o], s, l) == 0) {
                v->slot[j] = (int32_t)i;
                break;
            }
            j = (j + 1) & v->slot_mask;
        }
    }
    if (pg_gguf_find_key(g, "tokenizer.ggml.scores") >= 0) {
        rc = pg_gguf_get_arr(g, "tokenizer.ggml.scores", &et, &count, err);
        if (rc != PG_OK) return rc;
        if (count != (uint64_t)v->n || et == PG_GGUF_STRING || et == PG_GGUF_ARRAY)
            return pg_error_set(err, PG_EFORMAT, "tokenizer.ggml.scores: expected %d numbers", v->n);
        for (int32_t i = 0; i < v->n; i++) v->score[i] = (float)pg_gguf_arr_f64(g, "tokenizer.ggml.scores", (uint64_t)i);
    }
    if (pg_gguf_find_key(g, "tokenizer.ggml.token_type") >= 0) {
        rc = pg_gguf_get_arr(g, "tokenizer.ggml.token_type", &et, &count, err);
        if (rc != PG_OK) return rc;
        if (count != (uint64_t)v->n || et == PG_GGUF_STRING || et == PG_GGUF_ARRAY || et == PG_GGUF_F32 ||
            et == PG_GGUF_F64)
            return pg_error_set(err, PG_EFORMAT, "tokenizer.ggml.token_type: expected %d integers", v->n);
        for (int32_t i = 0; i < v->n; i++) {
            int64_t t = pg_gguf_arr_i64(g, "tokenizer.ggml.token_type", (uint64_t)i);
            v->type[i] = (t >= PG_TOKTYPE_UNDEFINED && t <= PG_TOKTYPE_BYTE) ? (uint8_t)t : PG_TOKTYPE_NORMAL;
            if (v->type[i] == PG_TOKTYPE_UNDEFINED) v->type[i] = PG_TOKTYPE_NORMAL;
        }
    }
    return PG_OK;
}

static int load_merges(pg_vocab *v, const pg_gguf *g, pg_error *err) {
    pg_gguf_vtype et;
    uint64_t count;
    int rc = pg_gguf_get_arr(g, "tokenizer.ggml.merges", &et, &count, err);
    if (rc != PG_OK) return rc;
    if (et != PG_GGUF_STRING || count > MAX_TOKENS)
        return pg_error_set(err, PG_EFORMAT, "tokenizer.ggml.merges: expected an array of strings");
    size_t nslot = 16;
    while (nslot < count * 2) nslot <<= 1;
    v->mkey = calloc(nslot, sizeof *v->mkey);
    v->mrank = malloc(nslot * sizeof *v->mrank);
    v->mres = malloc(nslot * sizeof *v->mres);
    if (!v->mkey || !v->mrank || !v->mres) return pg_error_set(err, PG_ENOMEM, "tokenizer: out of memory");
    v->mmask = nslot - 1;
    char *tmp = NULL;
    size_t tmp_cap = 0;
    uint64_t skipped = 0;
    for (uint64_t r = 0; r < count; r++) {
        size_t l = 0;
        const char *s = pg_gguf_arr_str(g, "tokenizer.ggml.merges", r, &l);
        /* "left right": split on the first space after position 0 (a left
         * part may itself start with a space byte in unusual vocabs) */
        const char *sp = s && l > 1 ? memchr(s + 1, ' ', l - 1) : NULL;
        if (!sp) { skipped++; continue; }
        size_t ll = (size_t)(sp - s), rl = l - ll - 1;
        int32_t a = pg_vocab_find(v, s, ll), b = pg_vocab_find(v, sp + 1, rl);
        if (ll + rl > tmp_cap) {
            tmp_cap = (ll + rl) * 2 + 64;
            char *t = realloc(tmp, tmp_cap);
            if (!t) { free(tmp); return pg_error_set(err, PG_ENOMEM, "tokenizer: out of memory"); }
            tmp = t;
        }
        memcpy(tmp, s, ll);
        memcpy(tmp + ll, sp + 1, rl);
        int32_t c = pg_vocab_find(v, tmp, ll + rl);
        if (a < 0 || b < 0 || c < 0) { skipped++; continue; }
        uint64_t key = (((uint64_t)(uint32_t)a << 32) | (uint32_t)b) + 1;
        uint64_t j = (pg_hash_fib(key) >> 20) & v->mmask;
        while (v->mkey[j] && v->mkey[j] != key) j = (j + 1) & v->mmask;
        if (v->mkey[j]) continue; /* duplicate pair: the first (best) rank wins */
        v->mkey[j] = key;
        v->mrank[j] = (int32_t)r;
        v->mres[j] = c;
    }
    free(tmp);
    if (skipped) PG_DEBUG("tokenizer: %llu merges refer to unknown tokens, skipped", (unsigned long long)skipped);
    return PG_OK;
}

int pg_vocab_load(const pg_gguf *g, pg_vocab **out, pg_error *err) {
    if (!g || !out) return pg_error_set(err, PG_EINVAL, "pg_vocab_load: NULL argument");
    *out = NULL;
    const char *model;
    size_t model_len;
    int rc = pg_gguf_get_str(g, "tokenizer.ggml.model", &model, &model_len, err);
    if (rc != PG_OK) return rc;
    pg_vocab *v = calloc(1, sizeof *v);
    if (!v) return pg_error_set(err, PG_ENOMEM, "tokenizer: out of memory");
    if (model_len == 5 && !memcmp(model, "llama", 5)) v->kind = PG_VK_SPM;
    else if (model_len == 4 && !memcmp(model, "gpt2", 4)) v->kind = PG_VK_BPE;
    else if (model_len == 4 && !memcmp(model, "bert", 4)) v->kind = PG_VK_WPM;
    else {
        rc = pg_error_set(err, PG_EUNSUPPORTED, "tokenizer model '%.*s' is not supported (llama, gpt2, bert)",
                          (int)(model_len > 64 ? 64 : model_len), model);
        goto fail;
    }
    snprintf(v->kind_name, sizeof v->kind_name, "%s", v->kind == PG_VK_SPM ? "llama" : v->kind == PG_VK_BPE ? "gpt2" : "bert");
    rc = load_tokens(v, g, err);
    if (rc != PG_OK) goto fail;
    int32_t n = v->n;

    for (int i = 0; i < 256; i++) v->byte_tok[i] = -1;
    v->bos = v->eos = v->eot = v->eom = v->unk = v->pad = -1;
    if (v->kind == PG_VK_SPM) {
        v->bos = get_id(g, "tokenizer.ggml.bos_token_id", n, n > 1 ? 1 : -1);
        v->eos = get_id(g, "tokenizer.ggml.eos_token_id", n, n > 2 ? 2 : -1);
        v->unk = get_id(g, "tokenizer.ggml.unknown_token_id", n, 0);
        v->add_bos = 1;
        v->add_space_prefix = get_bool(g, "tokenizer.ggml.add_space_prefix", 1);
        for (int b = 0; b < 256; b++) {
            char buf[8];
            snprintf(buf, sizeof buf, "<0x%02X>", b);
            v->byte_tok[b] = find_cstr(v, buf);
        }
        snprintf(v->pre_name, sizeof v->pre_name, "default");
        v->spm_chunks = 1;
        for (int32_t i = 0; i < n && v->spm_chunks; i++) {
            const uint8_t *t = (const uint8_t *)v->blob + v->off[i];
            for (uint32_t k = 1; k + 3 <= v->len[i]; k++) {
                if (t[k] == 0xE2 && t[k + 1] == 0x96 && t[k + 2] == 0x81 &&
                    !(k >= 3 && t[k - 3] == 0xE2 && t[k - 2] == 0x96 && t[k - 1] == 0x81)) {
                    v->spm_chunks = 0;
                    break;
                }
            }
        }
    } else if (v->kind == PG_VK_BPE) {
        v->bos = get_id(g, "tokenizer.ggml.bos_token_id", n, -1);
        v->eos = get_id(g, "tokenizer.ggml.eos_token_id", n, -1);
        v->unk = get_id(g, "tokenizer.ggml.unknown_token_id", n, -1);
        v->add_space_prefix = get_bool(g, "tokenizer.ggml.add_space_prefix", 0);
        for (int b = 0; b < 256; b++) {
            char buf[4];
            uint32_t cp = pg_tok_byte_to_cp((uint8_t)b);
            size_t l;
            if (cp < 0x80) { buf[0] = (char)cp; l = 1; }
            else { buf[0] = (char)(0xC0 | (cp >> 6)); buf[1] = (char)(0x80 | (cp & 0x3F)); l = 2; }
            v->byte_tok[b] = pg_vocab_find(v, buf, l);
        }
        rc = load_merges(v, g, err);
        if (rc != PG_OK) goto fail;
        const char *pre = "";
        size_t pre_len = 0;
        if (pg_gguf_find_key(g, "tokenizer.ggml.pre") >= 0) {
            rc = pg_gguf_get_str(g, "tokenizer.ggml.pre", &pre, &pre_len, err);
            if (rc != PG_OK) goto fail;
        }
        rc = pg_tok_bpe_setup(v, pre, pre_len, err); /* sets add_bos default, ignore_merges */
        if (rc != PG_OK) goto fail;
    } else {
        int32_t cls = find_cstr(v, "[CLS]"), sep = find_cstr(v, "[SEP]");
        v->bos = get_id(g, "tokenizer.ggml.cls_token_id", n, get_id(g, "tokenizer.ggml.bos_token_id", n, cls));
        v->eos = get_id(g, "tokenizer.ggml.seperator_token_id", n, get_id(g, "tokenizer.ggml.eos_token_id", n, sep));
        v->unk = get_id(g, "tokenizer.ggml.unknown_token_id", n, find_cstr(v, "[UNK]"));
        v->add_bos = 1;
        v->add_eos = 1;
        v->add_space_prefix = 1; /* detokenization: words are joined by spaces */
        int32_t n_hash = 0, n_phantom = 0;
        for (int32_t i = 0; i < n; i++) {
            const char *t = v->blob + v->off[i];
            if (v->len[i] > 2 && t[0] == '#' && t[1] == '#') n_hash++;
            if (v->len[i] > 3 && !memcmp(t, "\xe2\x96\x81", 3)) n_phantom++;
        }
        v->wpm_hashes = n_hash >= n_phantom;
        snprintf(v->pre_name, sizeof v->pre_name, "bert");
    }
    v->pad = get_id(g, "tokenizer.ggml.padding_token_id", n, -1);
    v->add_bos = get_bool(g, "tokenizer.ggml.add_bos_token", v->add_bos);
    v->add_eos = get_bool(g, "tokenizer.ggml.add_eos_token", v->add_eos);
    v->eot = get_id(g, "tokenizer.ggml.eot_token_id", n, -1);
    v->eom = get_id(g, "tokenizer.ggml.eom_token_id", n, -1);
    /* pair separator: the key, else WordPiece's [SEP], else EOS (XLM-R's </s></s> pair layout) */
    v->sep = get_id(g, "tokenizer.ggml.seperator_token_id", n, v->kind == PG_VK_WPM ? find_cstr(v, "[SEP]") : v->eos);

    /* end of generation: eos/eot/eom plus the known end-of-turn texts when
     * they are special (not normal) tokens */
    for (size_t i = 0; i < sizeof k_eog_texts / sizeof k_eog_texts[0]; i++) {
        int32_t id = find_cstr(v, k_eog_texts[i]);
        if (id < 0 || (v->type[id] != PG_TOKTYPE_CONTROL && v->type[id] != PG_TOKTYPE_USER_DEFINED)) continue;
        if (v->eot < 0 && i < 7 && id != v->eos) v->eot = id;
        if (v->eom < 0 && !strcmp(k_eog_texts[i], "<|eom_id|>")) v->eom = id;
        v->eog[id] = 1;
    }
    if (v->kind != PG_VK_WPM && v->eos >= 0) v->eog[v->eos] = 1;
    if (v->eot >= 0) v->eog[v->eot] = 1;
    if (v->eom >= 0) v->eog[v->eom] = 1;

    rc = build_specials(v, err);
    if (rc != PG_OK) goto fail;
    *out = v;
    return PG_OK;
fail:
    pg_vocab_free(v);
    return rc;
}

int32_t pg_vocab_n_tokens(const pg_vocab *v) { return v->n; }
const char *pg_vocab_kind(const pg_vocab *v) { return v->kind_name; }
const char *pg_vocab_pre(const pg_vocab *v) { return v->pre_name; }
int32_t pg_vocab_bos(const pg_vocab *v) { return v->bos; }
int32_t pg_vocab_eos(const pg_vocab *v) { return v->eos; }
int32_t pg_vocab_eot(const pg_vocab *v) { return v->eot; }
int32_t pg_vocab_sep(const pg_vocab *v) { return v->sep; }
int pg_vocab_add_bos(const pg_vocab *v) { return v->add_bos && v->bos >= 0; }
int pg_vocab_add_eos(const pg_vocab *v) { return v->add_eos && v->eos >= 0; }
int pg_vocab_is_eog(const pg_vocab *v, int32_t id) { return id >= 0 && id < v->n && v->eog[id]; }
int pg_vocab_is_control(const pg_vocab *v, int32_t id) {
    return id >= 0 && id < v->n && v->type[id] == PG_TOKTYPE_CONTROL;
}
int pg_vocab_token_type(const pg_vocab *v, int32_t id) { return id >= 0 && id < v->n ? v->type[id] : -1; }

const char *pg_vocab_token_text(const pg_vocab *v, int32_t id, size_t *len) {
    if (id < 0 || id >= v->n) {
        if (len) *len = 0;
        return NULL;
    }
    if (len) *len = v->len[id];
    return v->blob + v->off[id];
}

/* Longest special token starting at s[0..left) that may be matched, or -1.
 * USER_DEFINED tokens may be up to left bytes long; CONTROL / UNKNOWN ones
 * (parse_special only) up to ctl_left bytes (0 = none of them). */
static int32_t match_special(const pg_vocab *v, const char *s, size_t left, size_t ctl_left) {
    uint8_t b = (uint8_t)s[0];
    for (int32_t k = v->spec_start[b]; k < v->spec_start[b + 1]; k++) {
        int32_t id = v->spec_ids[k];
        size_t l = v->len[id];
        if (l > (v->type[id] == PG_TOKTYPE_USER_DEFINED ? left : ctl_left)) continue;
        if (memcmp(v->blob + v->off[id], s, l) == 0) return id;
    }
    return -1;
}

int32_t pg_vocab_special_at(const pg_vocab *v, const char *s, size_t left) {
    if (!left) return -1;
    uint8_t b = (uint8_t)s[0];
    for (int32_t k = v->spec_start[b]; k < v->spec_start[b + 1]; k++) {
        int32_t id = v->spec_ids[k];
        size_t l = v->len[id];
        if (v->type[id] != PG_TOKTYPE_USER_DEFINED && l <= left && memcmp(v->blob + v->off[id], s, l) == 0)
            return id;
    }
    return -1;
}

const int32_t *pg_vocab_special_ids(const pg_vocab *v, size_t *n) {
    *n = (size_t)v->n_spec;
    return v->spec_ids;
}

int pg_vocab_special_prefix(const pg_vocab *v, const char *s, size_t n) {
    if (!n) return 0;
    uint8_t b = (uint8_t)s[0];
    for (int32_t k = v->spec_start[b]; k < v->spec_start[b + 1]; k++) {
        int32_t id = v->spec_ids[k];
        if (v->type[id] != PG_TOKTYPE_USER_DEFINED && v->len[id] > n && memcmp(v->blob + v->off[id], s, n) == 0)
            return 1;
    }
    return 0;
}

static int run_fragment(const pg_vocab *v, const char *s, size_t n, int prev_special, pg_tok_ids *ids,
                        pg_error *err) {
    switch (v->kind) {
    case PG_VK_SPM: {
        /* a space is prefixed to the first fragment and to every fragment
         * that follows a special token (the llama.cpp / sentencepiece rule) */
        return pg_tok_spm(v, s, n, v->add_space_prefix && prev_special, ids, err);
    }
    case PG_VK_BPE: return pg_tok_bpe(v, s, n, ids, err);
    default: return pg_tok_wpm(v, s, n, ids, err);
    }
}

/* Special-token matching limit at byte i: CONTROL tokens may not overlap a
 * plain span (spans sorted, disjoint; *k is the first span not wholly
 * before i, advanced as i grows). */
static size_t ctl_limit(const pg_tok_span *plain, size_t n_plain, size_t *k, size_t i, size_t left) {
    while (*k < n_plain && plain[*k].off + plain[*k].len <= i) (*k)++;
    if (*k >= n_plain) return left;
    if (plain[*k].off <= i) return 0; /* inside a plain span */
    size_t room = plain[*k].off - i;
    return room < left ? room : left;
}

int64_t pg_tokenize(const pg_vocab *v, const char *text, size_t len, int add_special, int parse_special,
                    int32_t *out, size_t cap, pg_error *err) {
    if (!parse_special) {
        /* no CONTROL token anywhere: the whole text is one plain span */
        pg_tok_span all = {0, len};
        return pg_tokenize_spans(v, text, len, add_special, &all, 1, out, cap, err);
    }
    return pg_tokenize_spans(v, text, len, add_special, NULL, 0, out, cap, err);
}

int64_t pg_tokenize_spans(const pg_vocab *v, const char *text, size_t len, int add_special,
                          const pg_tok_span *plain, size_t n_plain, int32_t *out, size_t cap, pg_error *err) {
    if (!v || (!text && len) || (!out && cap) || (!plain && n_plain))
        return pg_error_set(err, PG_EINVAL, "pg_tokenize: NULL argument");
    for (size_t k = 1; k < n_plain; k++)
        if (plain[k].off < plain[k - 1].off + plain[k - 1].len)
            return pg_error_set(err, PG_EINVAL, "pg_tokenize_spans: plain spans overlap or are not sorted");
    if (len > MAX_TEXT)
        return pg_error_set(err, PG_ELIMIT, "text of %zu bytes is longer than the tokenizer limit (%zu)", len,
                            MAX_TEXT);
    pg_tok_ids ids = {0};
    int rc = PG_OK;
    if (add_special && v->add_bos && v->bos >= 0) pg_tok_push(&ids, v->bos);
    size_t start = 0, i = 0, span_k = 0;
    int prev_special = 1;
    while (i < len && rc == PG_OK) {
        int32_t sid = -1;
        if (v->spec_start[(uint8_t)text[i]] != v->spec_start[(uint8_t)text[i] + 1])
            sid = match_special(v, text + i, len - i, ctl_limit(plain, n_plain, &span_k, i, len - i));
        if (sid < 0) {
            i++;
            continue;
        }
        if (i > start) {
            rc = run_fragment(v, text + start, i - start, prev_special, &ids, err);
            if (rc != PG_OK) break;
        }
        pg_tok_push(&ids, sid);
        prev_special = 1;
        i += v->len[sid];
        start = i;
    }
    if (rc == PG_OK && len > start) rc = run_fragment(v, text + start, len - start, prev_special, &ids, err);
    if (rc == PG_OK && add_special && v->add_eos && v->eos >= 0) pg_tok_push(&ids, v->eos);
    if (rc == PG_OK && ids.oom) rc = pg_error_set(err, PG_ENOMEM, "tokenizer: out of memory");
    if (rc != PG_OK) {
        free(ids.ids);
        return rc;
    }
    size_t m = ids.n < cap ? ids.n : cap;
    if (m) memcpy(out, ids.ids, m * sizeof *out);
    free(ids.ids);
    return (int64_t)ids.n;
}
