/* jsonschema.c - JSON Schema -> GBNF compiler. See jsonschema.h.
 *
 * Design. The schema is parsed with jansson (object iteration follows the
 * document's key order) and compiled top-down: gen() turns one schema node
 * into one GBNF rule and returns its name. Nodes of the document are memoised
 * by pointer, so a $ref to a node being compiled refers to its rule: this is
 * how recursion works. Combinators are normalised on the JSON level first:
 * allOf (and $ref with siblings in 2019-09+) is merged into one synthetic
 * schema (merge()); anyOf/oneOf distribute the sibling keywords into each
 * alternative; oneOf is only accepted when the alternatives are provably
 * disjoint. Synthetic schemas stay alive in ctx->owned so memoising by
 * pointer remains sound.
 *
 * Canonical strings. A decoded character has one canonical encoding: raw for
 * everything except '"', '\\' and controls (< 0x20), which are escaped (short
 * form or \u00XX in either hex case; "\/" is also taken for '/'). Patterns,
 * formats, lengths and key exclusions are all expressed on that encoding, so
 * lengths count code points and a key cannot slip past an exclusion through an
 * alternative spelling.
 *
 * Exactness policy. Over-approximation (accepting an invalid instance) is
 * never allowed: whatever cannot be expressed is refused with an error that
 * names the keyword. Under-approximation is limited to spellings a compact
 * serialiser never produces (numbers in exponent form under bounds, "-0",
 * object keys out of the schema's order, IP-literal URI hosts).
 * Pattern semantics follow Python's `re.search` (the validator MaskBench
 * uses): unanchored, `.` excludes only "\n", `$` also matches before a final
 * "\n", \d \w \s are Unicode-aware (classes built with utf8proc).
 */
#include "sample/jsonschema.h"

#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

/* ------------------------------------------------------------------ buffers */

typedef struct {
    char *p;
    size_t n, cap;
} sb_t;

static void sb_putn(sb_t *b, const char *s, size_t n) {
    if (b->n + n + 1 > b->cap) {
        size_t c = b->cap ? b->cap : 256;
        while (c < b->n + n + 1) c *= 2;
        char *q = realloc(b->p, c);
        if (!q) abort();
        b->p = q;
        b->cap = c;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}
static void sb_puts(sb_t *b, const char *s) { sb_putn(b, s, strlen(s)); }
static void sb_printf(sb_t *b, const char *fmt, ...) {
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if ((size_t)n < sizeof tmp) {
        sb_putn(b, tmp, (size_t)n);
        return;
    }
    char *big = malloc((size_t)n + 1);
    if (!big) abort();
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    sb_putn(b, big, (size_t)n);
    free(big);
}
static const char *sb_str(sb_t *b) { return b->p ? b->p : ""; }
static void sb_free(sb_t *b) {
    free(b->p);
    b->p = NULL;
    b->n = b->cap = 0;
}

/* ------------------------------------------------------- code point sets */

#define CP_MAX 0x10FFFFu

typedef struct {
    uint32_t (*r)[2]; /* sorted, disjoint, non-adjacent inclusive ranges */
    int n, cap;
} cpset;

static void cs_add(cpset *s, uint32_t lo, uint32_t hi) {
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 8;
        s->r = realloc(s->r, (size_t)s->cap * sizeof *s->r);
        if (!s->r) abort();
    }
    s->r[s->n][0] = lo;
    s->r[s->n][1] = hi;
    s->n++;
}
static int cs_cmp(const void *a, const void *b) {
    const uint32_t *x = a, *y = b;
    return x[0] < y[0] ? -1 : x[0] > y[0];
}
static void cs_norm(cpset *s) {
    if (s->n < 2) return;
    qsort(s->r, (size_t)s->n, sizeof *s->r, cs_cmp);
    int k = 0;
    for (int i = 1; i < s->n; i++) {
        if (s->r[i][0] <= s->r[k][1] + 1) {
            if (s->r[i][1] > s->r[k][1]) s->r[k][1] = s->r[i][1];
        } else {
            s->r[++k][0] = s->r[i][0];
            s->r[k][1] = s->r[i][1];
        }
    }
    s->n = k + 1;
}
static void cs_free(cpset *s) {
    free(s->r);
    s->r = NULL;
    s->n = s->cap = 0;
}
static void cs_copy(cpset *d, const cpset *s) {
    d->r = NULL;
    d->n = d->cap = 0;
    for (int i = 0; i < s->n; i++) cs_add(d, s->r[i][0], s->r[i][1]);
}
static void cs_union(cpset *d, const cpset *s) {
    for (int i = 0; i < s->n; i++) cs_add(d, s->r[i][0], s->r[i][1]);
    cs_norm(d);
}
/* complement within [0, CP_MAX] (normalised input) */
static void cs_complement(cpset *s) {
    cpset o = {0};
    uint32_t next = 0;
    for (int i = 0; i < s->n; i++) {
        if (s->r[i][0] > next) cs_add(&o, next, s->r[i][0] - 1);
        next = s->r[i][1] + 1;
    }
    if (next <= CP_MAX) cs_add(&o, next, CP_MAX);
    cs_free(s);
    *s = o;
}
static int cs_has(const cpset *s, uint32_t c) {
    for (int i = 0; i < s->n; i++)
        if (c >= s->r[i][0] && c <= s->r[i][1]) return 1;
    return 0;
}
/* s = s minus [lo,hi] */
static void cs_remove(cpset *s, uint32_t lo, uint32_t hi) {
    cpset o = {0};
    for (int i = 0; i < s->n; i++) {
        uint32_t a = s->r[i][0], b = s->r[i][1];
        if (b < lo || a > hi) {
            cs_add(&o, a, b);
            continue;
        }
        if (a < lo) cs_add(&o, a, lo - 1);
        if (b > hi) cs_add(&o, hi + 1, b);
    }
    cs_free(s);
    *s = o;
}

/* Unicode classes with Python `re` semantics for str patterns. */
static cpset g_digit, g_word, g_space;
static pthread_once_t g_cls_once = PTHREAD_ONCE_INIT;
static void build_classes(void) {
    uint32_t dstart = 0, wstart = 0;
    int din = 0, win = 0;
    for (uint32_t c = 0; c <= CP_MAX + 1; c++) {
        int d = 0, w = 0;
        if (c <= CP_MAX) {
            utf8proc_category_t cat = utf8proc_category((utf8proc_int32_t)c);
            d = cat == UTF8PROC_CATEGORY_ND;
            w = c == '_' || (cat >= UTF8PROC_CATEGORY_LU && cat <= UTF8PROC_CATEGORY_LO) ||
                cat == UTF8PROC_CATEGORY_ND || cat == UTF8PROC_CATEGORY_NL || cat == UTF8PROC_CATEGORY_NO;
        }
        if (d && !din) dstart = c;
        if (!d && din) cs_add(&g_digit, dstart, c - 1);
        if (w && !win) wstart = c;
        if (!w && win) cs_add(&g_word, wstart, c - 1);
        din = d;
        win = w;
    }
    static const uint32_t sp[][2] = {{9, 13},         {0x1c, 0x20},     {0x85, 0x85},
                                     {0xa0, 0xa0},    {0x1680, 0x1680}, {0x2000, 0x200a},
                                     {0x2028, 0x2029}, {0x202f, 0x202f}, {0x205f, 0x205f},
                                     {0x3000, 0x3000}};
    for (size_t i = 0; i < sizeof sp / sizeof sp[0]; i++) cs_add(&g_space, sp[i][0], sp[i][1]);
    cs_norm(&g_space);
}

/* ------------------------------------------------------------- context */

#define MAX_DEPTH 64

typedef struct {
    const json_t *node;
    int id;          /* rule id, or -1 while the result is NEVER */
    int state;       /* 0 in progress, 1 done */
    int result;      /* gen() result when done */
    int used_early;  /* referenced while in progress */
} memo_t;

typedef struct {
    json_t *root;
    unsigned flags;
    int draft; /* 4, 6, 7, 2019, 2020 */
    sb_t out;
    int nrules;
    memo_t *memo;
    size_t nmemo, capmemo;
    int *mhash; /* open addressing over memo indices (-1 empty), size mcap */
    size_t mcap;
    int *dhash; /* same for dedup texts */
    size_t dcap;
    json_t *owned; /* synthetic schemas kept alive */
    char *err;
    size_t errlen;
    int failed;
    int depth;
    long work; /* schema merges so far: bounds the 'not'/'oneOf' expansions */
    unsigned basics; /* emitted helper rules */
    /* deduplicated helper rules: text -> id */
    char **dedup_txt;
    int *dedup_id;
    size_t ndedup, capdedup;
} ctx_t;

enum { R_NEVER = 0, R_OK = 1, R_ERR = -1 };

static int fail(ctx_t *c, const char *path, const char *fmt, ...) {
    if (c->failed) return R_ERR;
    c->failed = 1;
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (c->err && c->errlen) snprintf(c->err, c->errlen, "%s at %s", msg, (path && *path) ? path : "/");
    return R_ERR;
}

static void subpath(char *dst, size_t n, const char *path, const char *key) {
    snprintf(dst, n, "%s/%s", path, key);
}
static void subpath_i(char *dst, size_t n, const char *path, const char *key, size_t i) {
    snprintf(dst, n, "%s/%s/%zu", path, key, i);
}

/* name of rule id */
#define RN(buf, id) snprintf((buf), sizeof(buf), "r%d", (id))

static int rule_new(ctx_t *c) { return c->nrules++; }
static void rule_def(ctx_t *c, int id, const char *body) {
    sb_printf(&c->out, "r%d ::= ", id);
    sb_puts(&c->out, body);
    sb_puts(&c->out, "\n");
}
/* A helper rule with the given body, shared when the same body recurs. */
static uint64_t hash_str(const char *s) {
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}
static uint64_t hash_ptr(const void *p) {
    uint64_t h = (uint64_t)(uintptr_t)p;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    return h;
}
/* (re)build an index table of n entries with keys from key(i) */
static void idx_rebuild(int **tab, size_t *cap, size_t n, uint64_t (*key)(void *, size_t), void *ctx) {
    size_t nc = 64;
    while (nc < 2 * n + 2) nc *= 2;
    free(*tab);
    *tab = malloc(nc * sizeof **tab);
    if (!*tab) abort();
    memset(*tab, 0xff, nc * sizeof **tab);
    *cap = nc;
    for (size_t i = 0; i < n; i++) {
        size_t h = (size_t)key(ctx, i) & (nc - 1);
        while ((*tab)[h] >= 0) h = (h + 1) & (nc - 1);
        (*tab)[h] = (int)i;
    }
}
static uint64_t dedup_key(void *cx, size_t i) { return hash_str(((ctx_t *)cx)->dedup_txt[i]); }
static uint64_t memo_key(void *cx, size_t i) { return hash_ptr(((ctx_t *)cx)->memo[i].node); }

static int rule_dedup(ctx_t *c, const char *body) {
    if (c->dcap) {
        size_t h = (size_t)hash_str(body) & (c->dcap - 1);
        for (; c->dhash[h] >= 0; h = (h + 1) & (c->dcap - 1))
            if (!strcmp(c->dedup_txt[c->dhash[h]], body)) return c->dedup_id[c->dhash[h]];
    }
    if (c->ndedup == c->capdedup) {
        c->capdedup = c->capdedup ? 2 * c->capdedup : 16;
        c->dedup_txt = realloc(c->dedup_txt, c->capdedup * sizeof *c->dedup_txt);
        c->dedup_id = realloc(c->dedup_id, c->capdedup * sizeof *c->dedup_id);
        if (!c->dedup_txt || !c->dedup_id) abort();
    }
    int id = rule_new(c);
    c->dedup_txt[c->ndedup] = strdup(body);
    c->dedup_id[c->ndedup++] = id;
    if (2 * c->ndedup + 2 > c->dcap) idx_rebuild(&c->dhash, &c->dcap, c->ndedup, dedup_key, c);
    else {
        size_t h = (size_t)hash_str(body) & (c->dcap - 1);
        while (c->dhash[h] >= 0) h = (h + 1) & (c->dcap - 1);
        c->dhash[h] = (int)(c->ndedup - 1);
    }
    rule_def(c, id, body);
    return id;
}

static const char *WS(ctx_t *c) { return (c->flags & PG_JS_FLEXIBLE_WS) ? " ws " : " "; }

/* Helper rules, emitted once on first use. */
enum {
    B_WS = 1, B_CHAR = 2, B_STRING = 4, B_NUMBER = 8, B_INTEGER = 16, B_VALUE = 32, B_HEX = 64,
    B_DATE = 128, B_TIME = 256, B_URI = 512, B_HOST = 1024, B_IPV4 = 2048, B_URIREF = 4096, B_ESC = 8192
};

static void need(ctx_t *c, unsigned b) {
    if (c->basics & b) return;
    c->basics |= b;
    sb_t *o = &c->out;
    switch (b) {
    case B_WS: sb_puts(o, "ws ::= [ \\t\\n\\r]*\n"); break;
    case B_HEX: sb_puts(o, "hex ::= [0-9a-fA-F]\n"); break;
    case B_ESC: sb_puts(o, "esc ::= \"\\\\\" [\"\\\\bfnrt] | \"\\\\u00\" [01] [0-9a-fA-F]\n"); break;
    case B_CHAR:
        /* one canonical character of a JSON string body */
        sb_puts(o, "char ::= [^\"\\\\\\x00-\\x1F] | \"\\\\\" [\"\\\\/bfnrt] | \"\\\\u00\" [01] [0-9a-fA-F]\n");
        break;
    case B_STRING:
        need(c, B_CHAR);
        sb_puts(o, "string ::= \"\\\"\" char* \"\\\"\"\n");
        break;
    case B_INTEGER: sb_puts(o, "integer ::= \"-\"? (\"0\" | [1-9] [0-9]*)\n"); break;
    case B_NUMBER:
        sb_puts(o, "number ::= \"-\"? (\"0\" | [1-9] [0-9]*) (\".\" [0-9]+)? ([eE] [-+]? [0-9]+)?\n");
        break;
    case B_VALUE: {
        need(c, B_STRING);
        need(c, B_NUMBER);
        if (c->flags & PG_JS_FLEXIBLE_WS) need(c, B_WS);
        const char *w = WS(c);
        sb_printf(o, "value ::= object | array | string | number | \"true\" | \"false\" | \"null\"\n");
        sb_printf(o, "object ::= \"{\"%s(string%s\":\"%svalue (%s\",\"%sstring%s\":\"%svalue)*)?%s\"}\"\n", w, w, w,
                  w, w, w, w, w);
        sb_printf(o, "array ::= \"[\"%s(value (%s\",\"%svalue)*)?%s\"]\"\n", w, w, w, w);
        break;
    }
    case B_DATE:
        sb_puts(o, "date-year ::= \"000\" [1-9] | \"00\" [1-9] [0-9] | \"0\" [1-9] [0-9] [0-9] | [1-9] [0-9] [0-9] [0-9]\n");
        sb_puts(o, "date-leap ::= [0-9] [0-9] ([02468] [48] | [13579] [26] | [2468] \"0\") | ([02468] [48] | [13579] [26] | [2468] \"0\") \"00\"\n");
        sb_puts(o, "date-md ::= (\"0\" [1-9] | \"1\" [0-2]) \"-\" (\"0\" [1-9] | \"1\" [0-9] | \"2\" [0-8]) | (\"0\" [13-9] | \"1\" [0-2]) \"-\" (\"29\" | \"30\") | (\"0\" [13578] | \"1\" [02]) \"-31\"\n");
        sb_puts(o, "date ::= date-year \"-\" date-md | date-leap \"-02-29\"\n");
        break;
    case B_TIME:
        sb_puts(o, "time ::= ([01] [0-9] | \"2\" [0-3]) \":\" [0-5] [0-9] \":\" [0-5] [0-9] (\".\" [0-9]+)? (\"Z\" | [-+] ([01] [0-9] | \"2\" [0-3]) \":\" [0-5] [0-9])\n");
        break;
    case B_URI:
    case B_URIREF:
        if (!(c->basics & (B_URI | B_URIREF) & ~b)) {
            /* RFC 3986 without IP-literal hosts (those are refused by omission) */
            sb_puts(o, "uri-unres ::= [a-zA-Z0-9._~\\x2D]\n");
            sb_puts(o, "uri-pct ::= \"%\" [0-9a-fA-F] [0-9a-fA-F]\n");
            sb_puts(o, "uri-sub ::= [!$&'()*+,;=]\n");
            sb_puts(o, "uri-pchar ::= uri-unres | uri-pct | uri-sub | [:@]\n");
            sb_puts(o, "uri-seg ::= uri-pchar*\n");
            sb_puts(o, "uri-segnz ::= uri-pchar+\n");
            sb_puts(o, "uri-auth ::= ((uri-unres | uri-pct | uri-sub | \":\")* \"@\")? (uri-unres | uri-pct | uri-sub)* (\":\" [0-9]*)?\n");
            sb_puts(o, "uri-qf ::= (\"?\" (uri-pchar | [/?])*)? (\"#\" (uri-pchar | [/?])*)?\n");
        }
        if (b == B_URI)
            sb_puts(o, "uri ::= [a-zA-Z] [a-zA-Z0-9+.\\x2D]* \":\" (\"//\" uri-auth (\"/\" uri-seg)* | \"/\" (uri-segnz (\"/\" uri-seg)*)? | uri-segnz (\"/\" uri-seg)* | \"\") uri-qf\n");
        else {
            need(c, B_URI);
            sb_puts(o, "uri-ref ::= uri | (\"//\" uri-auth (\"/\" uri-seg)* | \"/\" (uri-segnz (\"/\" uri-seg)*)? | (uri-unres | uri-pct | uri-sub | \"@\")+ (\"/\" uri-seg)* | \"\") uri-qf\n");
        }
        break;
    case B_HOST:
        sb_puts(o, "host-label ::= [a-zA-Z0-9] ([a-zA-Z0-9\\x2D]{0,29} [a-zA-Z0-9])?\n");
        sb_puts(o, "hostname ::= (host-label \".\"){0,5} [a-zA-Z] ([a-zA-Z0-9\\x2D]{0,29} [a-zA-Z0-9])?\n");
        break;
    case B_IPV4:
        sb_puts(o, "ipv4-oct ::= [0-9] | [1-9] [0-9] | \"1\" [0-9] [0-9] | \"2\" [0-4] [0-9] | \"25\" [0-5]\n");
        sb_puts(o, "ipv4 ::= ipv4-oct \".\" ipv4-oct \".\" ipv4-oct \".\" ipv4-oct\n");
        break;
    }
}

/* ------------------------------------------------------ GBNF literals */

static int utf8_dec(const unsigned char *s, size_t n, uint32_t *cp) {
    utf8proc_int32_t v;
    utf8proc_ssize_t k = utf8proc_iterate(s, (utf8proc_ssize_t)n, &v);
    if (k <= 0) return -1;
    *cp = (uint32_t)v;
    return (int)k;
}
static void put_utf8(sb_t *b, uint32_t cp) {
    unsigned char t[4];
    utf8proc_ssize_t k = utf8proc_encode_char((utf8proc_int32_t)cp, t);
    sb_putn(b, (const char *)t, (size_t)k);
}

/* Append bytes as the inside of a GBNF string literal. */
static void gbnf_lit_body(sb_t *b, const char *s, size_t n) {
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '"') sb_puts(b, "\\\"");
        else if (ch == '\\') sb_puts(b, "\\\\");
        else if (ch < 0x20 || ch == 0x7f) sb_printf(b, "\\x%02X", ch);
        else sb_putn(b, (const char *)&ch, 1);
    }
}
static void gbnf_lit(sb_t *b, const char *s, size_t n) {
    sb_puts(b, "\"");
    gbnf_lit_body(b, s, n);
    sb_puts(b, "\"");
}

/* A code point inside a GBNF character class. */
static void class_cp(sb_t *b, uint32_t cp) {
    if (cp < 0x80) {
        if ((cp >= '0' && cp <= '9') || (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') ||
            (cp >= 0x20 && strchr(" !\"#$%&'()*+,./:;<=>?@_`{|}~", (int)cp)))
            sb_printf(b, cp == '"' ? "\\\"" : "%c", (int)cp);
        else sb_printf(b, "\\x%02X", cp);
    } else if (cp >= 0xD800 && cp <= 0xDFFF) {
        sb_printf(b, "\\u%04X", cp);
    } else put_utf8(b, cp);
}

/* The canonical JSON encoding of string s (with quotes), as raw bytes. */
static void json_str_enc(sb_t *b, const char *s, size_t n) {
    sb_puts(b, "\"");
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        switch (ch) {
        case '"': sb_puts(b, "\\\""); break;
        case '\\': sb_puts(b, "\\\\"); break;
        case '\b': sb_puts(b, "\\b"); break;
        case '\f': sb_puts(b, "\\f"); break;
        case '\n': sb_puts(b, "\\n"); break;
        case '\r': sb_puts(b, "\\r"); break;
        case '\t': sb_puts(b, "\\t"); break;
        default:
            if (ch < 0x20) sb_printf(b, "\\u%04X", ch);
            else sb_putn(b, (const char *)&ch, 1);
        }
    }
    sb_puts(b, "\"");
}

static const char *hexcls(unsigned v) {
    static const char *t[16] = {"\"0\"", "\"1\"", "\"2\"", "\"3\"", "\"4\"", "\"5\"", "\"6\"", "\"7\"", "\"8\"", "\"9\"",
                                "[aA]", "[bB]", "[cC]", "[dD]", "[eE]", "[fF]"};
    return t[v & 15];
}

/* GBNF for the JSON string content of a single control/special char
 * (canonical encodings of one decoded code point that must be escaped). */
static void esc_alts(sb_t *b, uint32_t cp) {
    const char *sh = NULL;
    switch (cp) {
    case '"': sb_puts(b, "\"\\\\\\\"\""); return;
    case '\\': sb_puts(b, "\"\\\\\\\\\""); return;
    case '\b': sh = "b"; break;
    case '\f': sh = "f"; break;
    case '\n': sh = "n"; break;
    case '\r': sh = "r"; break;
    case '\t': sh = "t"; break;
    }
    if (sh) sb_printf(b, "\"\\\\%s\" | ", sh);
    sb_printf(b, "\"\\\\u00%u\" %s", cp >> 4, hexcls(cp));
}

/* GBNF expression for "one canonical JSON string character whose decoded
 * code point is in s". Returns 0 if s has no code point (empty language). */
static int enc_class(ctx_t *c, sb_t *b, const cpset *s) {
    cpset raw;
    cs_copy(&raw, s);
    cs_norm(&raw);
    cs_remove(&raw, 0, 0x1f);
    cs_remove(&raw, '"', '"');
    cs_remove(&raw, '\\', '\\');
    cs_remove(&raw, 0xD800, 0xDFFF);
    sb_t e = {0};
    int nalt = 0;
    if (raw.n) {
        /* choose the shorter of the positive and negated forms */
        cpset neg;
        cs_copy(&neg, &raw);
        cs_complement(&neg);
        cs_remove(&neg, 0, 0x1f);
        cs_remove(&neg, '"', '"');
        cs_remove(&neg, '\\', '\\');
        cs_remove(&neg, 0xD800, 0xDFFF);
        sb_t cl = {0};
        if (neg.n < raw.n) {
            sb_puts(&cl, "[^\"\\\\\\x00-\\x1F");
            for (int i = 0; i < neg.n; i++) {
                class_cp(&cl, neg.r[i][0]);
                if (neg.r[i][1] != neg.r[i][0]) {
                    sb_puts(&cl, "-");
                    class_cp(&cl, neg.r[i][1]);
                }
            }
            sb_puts(&cl, "]");
        } else {
            sb_puts(&cl, "[");
            for (int i = 0; i < raw.n; i++) {
                class_cp(&cl, raw.r[i][0]);
                if (raw.r[i][1] != raw.r[i][0]) {
                    sb_puts(&cl, "-");
                    class_cp(&cl, raw.r[i][1]);
                }
            }
            sb_puts(&cl, "]");
        }
        if (cl.n > 120) {
            char nm[24];
            RN(nm, rule_dedup(c, sb_str(&cl)));
            sb_puts(&e, nm);
        } else sb_puts(&e, sb_str(&cl));
        sb_free(&cl);
        cs_free(&neg);
        nalt++;
        if (cs_has(&raw, '/')) {
            sb_puts(&e, " | \"\\\\/\"");
            nalt++;
        }
    }
    cs_free(&raw);
    int allesc = cs_has(s, '"') && cs_has(s, '\\');
    for (uint32_t cp = 0; cp < 0x20 && allesc; cp++)
        if (!cs_has(s, cp)) allesc = 0;
    if (allesc) {
        /* every escaped character: one shared helper rule */
        need(c, B_ESC);
        if (nalt++) sb_puts(&e, " | ");
        sb_puts(&e, "esc");
    }
    for (uint32_t cp = 0; cp < 0x20 && !allesc; cp++) {
        if (!cs_has(s, cp)) continue;
        /* group full high nibbles for compactness */
        if ((cp & 15) == 0) {
            int all = 1;
            for (uint32_t k = cp; k < cp + 16; k++)
                if (!cs_has(s, k)) all = 0;
            if (all) {
                if (nalt++) sb_puts(&e, " | ");
                sb_printf(&e, "\"\\\\u00%u\" [0-9a-fA-F]", cp >> 4);
                for (uint32_t k = cp; k < cp + 16; k++) {
                    const char *sh = k == 8 ? "b" : k == 9 ? "t" : k == 10 ? "n" : k == 12 ? "f" : k == 13 ? "r" : NULL;
                    if (sh) sb_printf(&e, " | \"\\\\%s\"", sh);
                }
                cp += 15;
                continue;
            }
        }
        if (nalt++) sb_puts(&e, " | ");
        esc_alts(&e, cp);
    }
    if (cs_has(s, '"') && !allesc) {
        if (nalt++) sb_puts(&e, " | ");
        esc_alts(&e, '"');
    }
    if (cs_has(s, '\\') && !allesc) {
        if (nalt++) sb_puts(&e, " | ");
        esc_alts(&e, '\\');
    }
    if (!nalt) {
        sb_free(&e);
        return 0;
    }
    if (nalt > 1) {
        sb_puts(b, "(");
        sb_puts(b, sb_str(&e));
        sb_puts(b, ")");
    } else sb_puts(b, sb_str(&e));
    sb_free(&e);
    return 1;
}

/* ------------------------------------------------------------- regexes */
/* Python `re` syntax subset -> AST -> GBNF over canonical JSON string
 * characters. Lookaround, backreferences, word boundaries, inline flags and
 * anchors other than at the ends of top-level alternatives are refused. */

enum { RX_SET, RX_CAT, RX_ALT, RX_REP, RX_BOL, RX_EOL, RX_EOS };

typedef struct rx {
    int kind;
    cpset set;
    struct rx **kid;
    int nkid, capkid;
    int min, max; /* RX_REP; max -1 = unbounded */
} rx;

typedef struct {
    const unsigned char *s;
    size_t n, i;
    const char *err;
} rxp;

static rx *rx_new(int kind) {
    rx *r = calloc(1, sizeof *r);
    if (!r) abort();
    r->kind = kind;
    return r;
}
static void rx_push(rx *p, rx *k) {
    if (p->nkid == p->capkid) {
        p->capkid = p->capkid ? 2 * p->capkid : 4;
        p->kid = realloc(p->kid, (size_t)p->capkid * sizeof *p->kid);
        if (!p->kid) abort();
    }
    p->kid[p->nkid++] = k;
}
static void rx_free(rx *r) {
    if (!r) return;
    for (int i = 0; i < r->nkid; i++) rx_free(r->kid[i]);
    free(r->kid);
    cs_free(&r->set);
    free(r);
}

static int hexval(int ch) {
    if (ch >= '0' && ch <= '9') return ch - '0';
    if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
    return -1;
}

/* Parse an escape after '\\'. Returns 1 with a single code point in *cp,
 * 2 with a class in *set, 3 for \A, 4 for \Z, 0 on error. */
static int rx_escape(rxp *p, int in_class, uint32_t *cp, cpset *set) {
    if (p->i >= p->n) { p->err = "trailing backslash"; return 0; }
    unsigned char ch = p->s[p->i++];
    pthread_once(&g_cls_once, build_classes);
    switch (ch) {
    case 'd': cs_copy(set, &g_digit); return 2;
    case 'w': cs_copy(set, &g_word); return 2;
    case 's': cs_copy(set, &g_space); return 2;
    case 'D': cs_copy(set, &g_digit); cs_complement(set); return 2;
    case 'W': cs_copy(set, &g_word); cs_complement(set); return 2;
    case 'S': cs_copy(set, &g_space); cs_complement(set); return 2;
    case 'n': *cp = '\n'; return 1;
    case 'r': *cp = '\r'; return 1;
    case 't': *cp = '\t'; return 1;
    case 'f': *cp = '\f'; return 1;
    case 'v': *cp = '\v'; return 1;
    case 'a': *cp = 7; return 1;
    case 'b':
        if (in_class) { *cp = 8; return 1; }
        p->err = "word boundary \\b";
        return 0;
    case 'A': if (in_class) break; return 3;
    case 'Z': if (in_class) break; return 4;
    case 'x': case 'u': case 'U': {
        int nd = ch == 'x' ? 2 : ch == 'u' ? 4 : 8;
        uint32_t v = 0;
        for (int k = 0; k < nd; k++) {
            int h = p->i < p->n ? hexval(p->s[p->i]) : -1;
            if (h < 0) { p->err = "bad hex escape"; return 0; }
            v = v * 16 + (uint32_t)h;
            p->i++;
        }
        if (v > CP_MAX) { p->err = "bad code point"; return 0; }
        *cp = v;
        return 1;
    }
    case '0': {
        uint32_t v = 0;
        for (int k = 0; k < 2 && p->i < p->n && p->s[p->i] >= '0' && p->s[p->i] <= '7'; k++)
            v = v * 8 + (uint32_t)(p->s[p->i++] - '0');
        *cp = v;
        return 1;
    }
    default:
        break;
    }
    if ((ch >= '1' && ch <= '9')) { p->err = "backreference"; return 0; }
    if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z')) { p->err = "unknown escape"; return 0; }
    if (ch >= 0x80) {
        p->i--;
        int k = utf8_dec(p->s + p->i, p->n - p->i, cp);
        if (k < 0) { p->err = "bad UTF-8"; return 0; }
        p->i += (size_t)k;
        return 1;
    }
    *cp = ch;
    return 1;
}

static int rx_char(rxp *p, uint32_t *cp) {
    int k = utf8_dec(p->s + p->i, p->n - p->i, cp);
    if (k < 0) { p->err = "bad UTF-8"; return 0; }
    p->i += (size_t)k;
    return 1;
}

static rx *rx_class(rxp *p) {
    /* after '[' */
    int neg = 0;
    rx *r = rx_new(RX_SET);
    if (p->i < p->n && p->s[p->i] == '^') { neg = 1; p->i++; }
    int first = 1;
    for (;;) {
        if (p->i >= p->n) { p->err = "unterminated class"; rx_free(r); return NULL; }
        unsigned char ch = p->s[p->i];
        if (ch == ']' && !first) { p->i++; break; }
        first = 0;
        uint32_t lo;
        if (ch == '[' && p->i + 1 < p->n && p->s[p->i + 1] == ':') { p->err = "POSIX class"; rx_free(r); return NULL; }
        if (ch == '\\') {
            p->i++;
            cpset s = {0};
            int k = rx_escape(p, 1, &lo, &s);
            if (k == 0 || k >= 3) { if (k) p->err = "anchor in class"; cs_free(&s); rx_free(r); return NULL; }
            if (k == 2) { cs_union(&r->set, &s); cs_free(&s); continue; }
        } else if (!rx_char(p, &lo)) { rx_free(r); return NULL; }
        /* range? */
        if (p->i + 1 < p->n && p->s[p->i] == '-' && p->s[p->i + 1] != ']') {
            p->i++;
            uint32_t hi;
            if (p->s[p->i] == '\\') {
                p->i++;
                cpset s = {0};
                int k = rx_escape(p, 1, &hi, &s);
                cs_free(&s);
                if (k != 1) { p->err = "bad class range"; rx_free(r); return NULL; }
            } else if (!rx_char(p, &hi)) { rx_free(r); return NULL; }
            if (hi < lo) { p->err = "bad class range"; rx_free(r); return NULL; }
            cs_add(&r->set, lo, hi);
        } else cs_add(&r->set, lo, lo);
    }
    cs_norm(&r->set);
    if (neg) cs_complement(&r->set);
    return r;
}

static rx *rx_alt(rxp *p, int depth);

static int rx_num(rxp *p, int *v) {
    size_t st = p->i;
    long x = 0;
    while (p->i < p->n && p->s[p->i] >= '0' && p->s[p->i] <= '9') {
        x = x * 10 + (p->s[p->i++] - '0');
        if (x > 100000) x = 100000;
    }
    *v = (int)x;
    return p->i > st;
}

static rx *rx_atom(rxp *p, int depth) {
    unsigned char ch = p->s[p->i];
    if (ch == '(') {
        p->i++;
        if (p->i < p->n && p->s[p->i] == '?') {
            p->i++;
            if (p->i < p->n && p->s[p->i] == ':') p->i++;
            else if (p->i + 1 < p->n && p->s[p->i] == 'P' && p->s[p->i + 1] == '<') {
                while (p->i < p->n && p->s[p->i] != '>') p->i++;
                p->i++;
            } else {
                p->err = "lookaround, inline flag or special group";
                return NULL;
            }
        }
        rx *r = rx_alt(p, depth + 1);
        if (!r) return NULL;
        if (p->i >= p->n || p->s[p->i] != ')') { p->err = "unbalanced parenthesis"; rx_free(r); return NULL; }
        p->i++;
        return r;
    }
    if (ch == '[') { p->i++; return rx_class(p); }
    if (ch == '.') {
        p->i++;
        rx *r = rx_new(RX_SET);
        cs_add(&r->set, 0, CP_MAX);
        cs_remove(&r->set, '\n', '\n');
        return r;
    }
    if (ch == '^') { p->i++; return rx_new(RX_BOL); }
    if (ch == '$') { p->i++; return rx_new(RX_EOL); }
    if (ch == '*' || ch == '+' || ch == '?') { p->err = "nothing to repeat"; return NULL; }
    rx *r = rx_new(RX_SET);
    uint32_t cp;
    if (ch == '\\') {
        p->i++;
        int k = rx_escape(p, 0, &cp, &r->set);
        if (k == 0) { rx_free(r); return NULL; }
        if (k == 3) { r->kind = RX_BOL; return r; }
        if (k == 4) { r->kind = RX_EOS; return r; }
        if (k == 1) cs_add(&r->set, cp, cp);
        return r;
    }
    if (!rx_char(p, &cp)) { rx_free(r); return NULL; }
    cs_add(&r->set, cp, cp);
    return r;
}

/* try to parse a {m,n} quantifier at p->i (Python: otherwise literal) */
static int rx_brace(rxp *p, int *mn, int *mx) {
    size_t save = p->i;
    p->i++;
    int a = 0, b = -1, hasa = rx_num(p, &a);
    if (p->i < p->n && p->s[p->i] == '}') {
        if (!hasa) { p->i = save; return 0; }
        p->i++;
        *mn = *mx = a;
        return 1;
    }
    if (p->i < p->n && p->s[p->i] == ',') {
        p->i++;
        int hasb = rx_num(p, &b);
        if (p->i < p->n && p->s[p->i] == '}') {
            p->i++;
            *mn = hasa ? a : 0;
            *mx = hasb ? b : -1;
            return 1;
        }
    }
    p->i = save;
    return 0;
}

static rx *rx_cat(rxp *p, int depth) {
    rx *cat = rx_new(RX_CAT);
    while (p->i < p->n && p->s[p->i] != '|' && p->s[p->i] != ')') {
        rx *a;
        if (p->s[p->i] == '{') {
            /* literal brace unless it is a quantifier (which has nothing to repeat) */
            int mn, mx;
            size_t save = p->i;
            if (rx_brace(p, &mn, &mx)) { p->err = "nothing to repeat"; p->i = save; rx_free(cat); return NULL; }
            p->i++;
            a = rx_new(RX_SET);
            cs_add(&a->set, '{', '{');
        } else {
            a = rx_atom(p, depth);
            if (!a) { rx_free(cat); return NULL; }
        }
        for (;;) {
            if (p->i >= p->n) break;
            unsigned char q = p->s[p->i];
            int mn, mx;
            if (q == '*') { mn = 0; mx = -1; p->i++; }
            else if (q == '+') { mn = 1; mx = -1; p->i++; }
            else if (q == '?') { mn = 0; mx = 1; p->i++; }
            else if (q == '{' && rx_brace(p, &mn, &mx)) {}
            else break;
            if (mx >= 0 && mx < mn) { p->err = "bad repetition bounds"; rx_free(a); rx_free(cat); return NULL; }
            if (a->kind == RX_BOL || a->kind == RX_EOL || a->kind == RX_EOS) { p->err = "repeated anchor"; rx_free(a); rx_free(cat); return NULL; }
            if (p->i < p->n && p->s[p->i] == '?') p->i++; /* lazy: same language */
            else if (p->i < p->n && p->s[p->i] == '+') { p->err = "possessive quantifier"; rx_free(a); rx_free(cat); return NULL; }
            rx *r = rx_new(RX_REP);
            r->min = mn;
            r->max = mx;
            rx_push(r, a);
            a = r;
        }
        rx_push(cat, a);
    }
    return cat;
}

static rx *rx_alt(rxp *p, int depth) {
    if (depth > 50) { p->err = "nesting too deep"; return NULL; }
    rx *alt = rx_new(RX_ALT);
    for (;;) {
        rx *c = rx_cat(p, depth);
        if (!c) { rx_free(alt); return NULL; }
        rx_push(alt, c);
        if (p->i < p->n && p->s[p->i] == '|') { p->i++; continue; }
        break;
    }
    return alt;
}

/* Simplify: single-kid CAT/ALT collapse. */
static rx *rx_simplify(rx *r) {
    for (int i = 0; i < r->nkid; i++) r->kid[i] = rx_simplify(r->kid[i]);
    if ((r->kind == RX_CAT || r->kind == RX_ALT) && r->nkid == 1) {
        rx *k = r->kid[0];
        r->nkid = 0;
        rx_free(r);
        return k;
    }
    return r;
}

static int rx_has_anchor(const rx *r) {
    if (r->kind == RX_BOL || r->kind == RX_EOL || r->kind == RX_EOS) return 1;
    for (int i = 0; i < r->nkid; i++)
        if (rx_has_anchor(r->kid[i])) return 1;
    return 0;
}

/* Length in code points of the strings r matches: [*mn, *mx], mx -1 = inf. */
static void rx_len(const rx *r, long *mn, long *mx) {
    switch (r->kind) {
    case RX_SET: *mn = *mx = 1; return;
    case RX_BOL: case RX_EOL: case RX_EOS: *mn = *mx = 0; return;
    case RX_CAT: {
        long a = 0, b = 0;
        for (int i = 0; i < r->nkid; i++) {
            long x, y;
            rx_len(r->kid[i], &x, &y);
            a += x;
            if (b >= 0) b = y < 0 ? -1 : b + y;
        }
        *mn = a; *mx = b;
        return;
    }
    case RX_ALT: {
        long a = -1, b = 0;
        for (int i = 0; i < r->nkid; i++) {
            long x, y;
            rx_len(r->kid[i], &x, &y);
            if (a < 0 || x < a) a = x;
            if (b >= 0) b = y < 0 ? -1 : (y > b ? y : b);
        }
        *mn = a < 0 ? 0 : a; *mx = b;
        return;
    }
    case RX_REP: {
        long x, y;
        rx_len(r->kid[0], &x, &y);
        *mn = x * r->min;
        *mx = (r->max < 0 || y < 0) ? (y == 0 ? 0 : -1) : y * r->max;
        return;
    }
    }
}

/* Emit r as a GBNF expression; returns 0 if its language is empty. */
static int rx_emit(ctx_t *c, sb_t *b, const rx *r) {
    switch (r->kind) {
    case RX_SET: return enc_class(c, b, &r->set);
    case RX_CAT: {
        if (r->nkid == 0) { sb_puts(b, "\"\""); return 1; }
        sb_t t = {0};
        sb_puts(&t, "(");
        for (int i = 0; i < r->nkid; i++) {
            if (i) sb_puts(&t, " ");
            if (!rx_emit(c, &t, r->kid[i])) { sb_free(&t); return 0; }
        }
        sb_puts(&t, ")");
        sb_puts(b, sb_str(&t));
        sb_free(&t);
        return 1;
    }
    case RX_ALT: {
        sb_t t = {0};
        int n = 0;
        for (int i = 0; i < r->nkid; i++) {
            sb_t k = {0};
            if (rx_emit(c, &k, r->kid[i])) {
                sb_puts(&t, n++ ? " | " : "(");
                sb_puts(&t, sb_str(&k));
            }
            sb_free(&k);
        }
        if (n) { sb_puts(&t, ")"); sb_puts(b, sb_str(&t)); }
        sb_free(&t);
        return n > 0;
    }
    case RX_REP: {
        sb_t k = {0};
        if (!rx_emit(c, &k, r->kid[0])) {
            sb_free(&k);
            if (r->min > 0) return 0;
            sb_puts(b, "\"\"");
            return 1;
        }
        sb_printf(b, "(%s)", sb_str(&k));
        sb_free(&k);
        if (r->min == 0 && r->max < 0) sb_puts(b, "*");
        else if (r->min == 1 && r->max < 0) sb_puts(b, "+");
        else if (r->min == 0 && r->max == 1) sb_puts(b, "?");
        else if (r->max < 0) sb_printf(b, "{%d,}", r->min);
        else if (r->min == r->max) sb_printf(b, "{%d}", r->min);
        else sb_printf(b, "{%d,%d}", r->min, r->max);
        return 1;
    }
    }
    return 0;
}

/* One top-level alternative with its anchors stripped. */
typedef struct {
    rx *body;
    int bol, eol; /* eol: 1 = '$' (optional final \n), 2 = '\Z' */
} rx_branch;

/* Split into anchored branches. Returns number of branches, -1 on refusal. */
static int rx_branches(rx *r, rx_branch *out, int max, const char **why) {
    if (r->kind == RX_ALT) {
        int n = 0;
        for (int i = 0; i < r->nkid; i++) {
            int k = rx_branches(r->kid[i], out + n, max - n, why);
            if (k < 0) return -1;
            n += k;
        }
        return n;
    }
    if (max < 1) { *why = "too many alternatives"; return -1; }
    rx_branch br = {r, 0, 0};
    if (r->kind == RX_BOL) { br.bol = 1; br.body = NULL; out[0] = br; return 1; }
    if (r->kind == RX_EOL || r->kind == RX_EOS) { br.eol = r->kind == RX_EOL ? 1 : 2; br.body = NULL; out[0] = br; return 1; }
    if (r->kind == RX_CAT) {
        int s = 0, e = r->nkid;
        while (s < e && r->kid[s]->kind == RX_BOL) { br.bol = 1; s++; }
        while (e > s && (r->kid[e - 1]->kind == RX_EOL || r->kid[e - 1]->kind == RX_EOS)) {
            int k = r->kid[e - 1]->kind == RX_EOL ? 1 : 2;
            if (!br.eol || k == 2) br.eol = k;
            e--;
        }
        /* a single inner ALT wrapped by anchors: distribute only if it has anchors */
        for (int i = s; i < e; i++)
            if (rx_has_anchor(r->kid[i])) {
                if (e - s == 1 && r->kid[i]->kind == RX_ALT && !br.bol && !br.eol)
                    return rx_branches(r->kid[i], out, max, why);
                *why = "anchor inside the pattern";
                return -1;
            }
        /* keep kids s..e as a view: move them into a fresh CAT owned by r */
        if ((s > 0 || e < r->nkid) && e - s == 1) {
            br.body = r->kid[s];
        } else if (s > 0 || e < r->nkid) {
            rx *cat = rx_new(RX_CAT);
            for (int i = s; i < e; i++) rx_push(cat, r->kid[i]);
            /* detach moved kids from r, keep anchors in r */
            int w = 0;
            for (int i = 0; i < r->nkid; i++)
                if (i < s || i >= e) r->kid[w++] = r->kid[i];
            r->nkid = w;
            rx_push(r, cat); /* r now owns cat (freed with r) */
            br.body = cat;
        }
        out[0] = br;
        return 1;
    }
    out[0] = br;
    return 1;
}

/* GBNF for the JSON string CONTENT (no quotes) of strings matching pattern
 * (Python re.search semantics). Optional length bounds [lmin, lmax] (lmax -1
 * none) are applied when they can be exactly. Returns R_OK / R_NEVER / R_ERR. */
static int pattern_expr(ctx_t *c, const char *path, const char *pat, size_t patlen, long lmin, long lmax, sb_t *b) {
    rxp p = {(const unsigned char *)pat, patlen, 0, NULL};
    rx *r = rx_alt(&p, 0);
    if (r && p.i < p.n) { p.err = "unbalanced parenthesis"; rx_free(r); r = NULL; }
    if (!r) return fail(c, path, "unsupported keyword 'pattern' (%s in \"%.80s\")", p.err, pat);
    r = rx_simplify(r);
    rx_branch br[64];
    const char *why = NULL;
    int nb = rx_branches(r, br, 64, &why);
    if (nb < 0) { rx_free(r); return fail(c, path, "unsupported keyword 'pattern' (%s in \"%.80s\")", why, pat); }
    int has_len = lmin > 0 || lmax >= 0;
    need(c, B_CHAR);
    sb_t t = {0};
    int n = 0;
    for (int i = 0; i < nb; i++) {
        long mn = 0, mx = 0;
        if (br[i].body) rx_len(br[i].body, &mn, &mx);
        int fullanch = br[i].bol && br[i].eol;
        sb_t k = {0};
        if (has_len) {
            /* the final "\n" that '$' tolerates counts too; an unanchored side
             * makes the length unbounded */
            long mx2 = (mx < 0 || !fullanch) ? -1 : mx + (br[i].eol == 1);
            int inside = mn >= lmin && (lmax < 0 || (mx2 >= 0 && mx2 <= lmax));
            if (!inside && !fullanch) { sb_free(&k); sb_free(&t); rx_free(r); return fail(c, path, "unsupported keyword 'pattern' combined with minLength/maxLength (unanchored pattern)"); }
            if (!inside) {
                /* single repeated class: intersect bounds */
                const rx *body = br[i].body;
                if (body && body->kind == RX_REP && body->kid[0]->kind == RX_SET) {
                    sb_t cl = {0};
                    int ok = enc_class(c, &cl, &body->kid[0]->set);
                    /* v = 0: no final newline; v = 1: '$' before a final "\n" (one more char) */
                    for (int v = 0; v <= (br[i].eol == 1); v++) {
                        long a = body->min > lmin - v ? body->min : lmin - v;
                        long lm = lmax < 0 ? -1 : lmax - v;
                        long z = body->max < 0 ? lm : (lm < 0 ? body->max : (body->max < lm ? body->max : lm));
                        if (a < 0) a = 0;
                        if (z >= 0 && z < a) continue;
                        if (!ok && a > 0) continue;
                        sb_puts(&t, n++ ? " | " : "(");
                        if (!ok) sb_puts(&t, "\"\"");
                        else if (z < 0) sb_printf(&t, "%s{%ld,}", sb_str(&cl), a);
                        else sb_printf(&t, "%s{%ld,%ld}", sb_str(&cl), a, z);
                        if (v) sb_puts(&t, " \"\\\\n\"");
                    }
                    sb_free(&cl);
                    sb_free(&k);
                    continue;
                }
                sb_free(&k);
                sb_free(&t);
                rx_free(r);
                return fail(c, path, "unsupported keyword 'pattern' combined with minLength/maxLength that it does not imply");
            }
        }
        if (!br[i].bol) sb_puts(&k, "char* ");
        if (br[i].body) {
            if (!rx_emit(c, &k, br[i].body)) { sb_free(&k); continue; }
        } else sb_puts(&k, "\"\"");
        if (br[i].eol == 1) sb_puts(&k, " \"\\\\n\"?");
        else if (!br[i].eol) sb_puts(&k, " char*");
        sb_puts(&t, n++ ? " | " : "(");
        sb_puts(&t, sb_str(&k));
        sb_free(&k);
    }
    rx_free(r);
    if (!n) { sb_free(&t); return R_NEVER; }
    sb_puts(&t, ")");
    sb_puts(b, sb_str(&t));
    sb_free(&t);
    return R_OK;
}

/* ------------------------------------------------------ numeric ranges */

/* All digit strings s of length n with a <= s <= b (n digits each, leading
 * zeros allowed at this level). */
static void digits_range(sb_t *o, const char *a, const char *b, int n) {
    if (n == 0) { sb_puts(o, "\"\""); return; }
    if (!strncmp(a, b, (size_t)n)) { sb_puts(o, "\""); sb_putn(o, a, (size_t)n); sb_puts(o, "\""); return; }
    if (a[0] == b[0]) {
        sb_printf(o, "\"%c\" ", a[0]);
        digits_range(o, a + 1, b + 1, n - 1);
        return;
    }
    int a_zeros = 1, b_nines = 1;
    for (int i = 1; i < n; i++) {
        if (a[i] != '0') a_zeros = 0;
        if (b[i] != '9') b_nines = 0;
    }
    char lo_d = a_zeros ? a[0] : (char)(a[0] + 1);
    char hi_d = b_nines ? b[0] : (char)(b[0] - 1);
    int k = 0;
    sb_puts(o, "(");
    char nines[40], zeros[40];
    memset(nines, '9', sizeof nines);
    memset(zeros, '0', sizeof zeros);
    if (!a_zeros) {
        sb_printf(o, "\"%c\" ", a[0]);
        digits_range(o, a + 1, nines, n - 1);
        k++;
    }
    if (lo_d <= hi_d) {
        if (k++) sb_puts(o, " | ");
        if (lo_d == hi_d) sb_printf(o, "\"%c\"", lo_d);
        else sb_printf(o, "[%c-%c]", lo_d, hi_d);
        if (n > 1) sb_printf(o, " [0-9]{%d}", n - 1);
    }
    if (!b_nines) {
        if (k++) sb_puts(o, " | ");
        sb_printf(o, "\"%c\" ", b[0]);
        digits_range(o, zeros, b + 1, n - 1);
    }
    sb_puts(o, ")");
}

/* Canonical non-negative integers in [lo, hi] (hi < 0: unbounded); lo <= hi. */
static void nn_range(sb_t *o, long long lo, long long hi) {
    char a[24], bb[24];
    int la = snprintf(a, sizeof a, "%lld", lo);
    int lb = hi < 0 ? 0 : snprintf(bb, sizeof bb, "%lld", hi);
    int k = 0;
    sb_puts(o, "(");
    int last = hi < 0 ? la : lb;
    for (int L = la; L <= last; L++) {
        char x[24], y[24];
        if (L == la) memcpy(x, a, (size_t)L + 1);
        else { x[0] = '1'; memset(x + 1, '0', (size_t)L - 1); x[L] = 0; }
        if (hi >= 0 && L == lb) memcpy(y, bb, (size_t)L + 1);
        else { memset(y, '9', (size_t)L); y[L] = 0; }
        if (k++) sb_puts(o, " | ");
        digits_range(o, x, y, L);
    }
    if (hi < 0) {
        if (k++) sb_puts(o, " | ");
        sb_printf(o, "[1-9] [0-9]{%d,}", la);
    }
    sb_puts(o, ")");
}

#define BOUND_LIM 1000000000000000LL /* |bounds| handled exactly */

/* Canonical integers in [lo, hi]; has_lo/has_hi say whether bounded.
 * Returns 0 if empty. */
static int int_range(sb_t *o, int has_lo, long long lo, int has_hi, long long hi) {
    if (has_lo && has_hi && lo > hi) return 0;
    int k = 0;
    sb_puts(o, "(");
    if (!has_hi || hi >= 0) {
        long long a = (!has_lo || lo < 0) ? 0 : lo;
        sb_puts(o, k++ ? " | " : "");
        nn_range(o, a, has_hi ? hi : -1);
    }
    if (!has_lo || lo < 0) {
        long long a = (has_hi && hi < 0) ? -hi : 1;
        sb_puts(o, k++ ? " | " : "");
        sb_puts(o, "\"-\" ");
        nn_range(o, a, has_lo ? -lo : -1);
    }
    sb_puts(o, ")");
    return 1;
}

/* Numbers (decimal, no exponent) in a range with integer-valued bounds.
 * lo_x / hi_x: exclusive. Returns 0 if empty. */
static int num_range(sb_t *o, int has_lo, long long lo, int lo_x, int has_hi, long long hi, int hi_x) {
    /* split x = sign, integer part i, fraction f (f > 0 meaning nonzero fraction).
     * x >= 0 part: i in [lo', hi'] ... done per component. */
    if (has_lo && has_hi && (lo > hi || (lo == hi && (lo_x || hi_x)))) return 0;
    int k = 0;
    sb_puts(o, "(");
    const char *anyfrac = "(\".\" [0-9]+)?";
    const char *zerofrac = "(\".\" \"0\"+)?";
    const char *nzfrac = "\".\" [0-9]* [1-9] [0-9]*";
    /* non-negative side: value v = i + f, v in range */
    if (!has_hi || hi >= 0) {
        /* integral part i ranges with any fraction where i and i+1 both fit:
         * i + f <= hi (f<1) needs i <= hi-1, or i == hi with zero fraction (if !hi_x) */
        long long a = 0;
        int a_from_lo = 0;
        if (has_lo && lo >= 0) { a = lo; a_from_lo = 1; }
        /* i == a with lo exclusive: needs nonzero fraction */
        long long full_lo = (a_from_lo && lo_x) ? a + 1 : a;
        long long full_hi = has_hi ? hi - 1 : -1; /* any fraction allowed */
        if (a_from_lo && lo_x && (!has_hi || a < hi)) {
            sb_puts(o, k++ ? " | " : "");
            sb_printf(o, "\"%lld\" %s", a, nzfrac);
        }
        if (!has_hi || full_lo <= full_hi) {
            sb_puts(o, k++ ? " | " : "");
            nn_range(o, full_lo, full_hi);
            sb_printf(o, " %s", anyfrac);
        }
        if (has_hi && !hi_x && hi >= full_lo) {
            sb_puts(o, k++ ? " | " : "");
            sb_printf(o, "\"%lld\" %s", hi, zerofrac);
        }
    }
    /* negative side: v = -(i + f) with i + f > 0 */
    if (!has_lo || lo < 0) {
        /* m = -v in (0, -lo] (or (0,inf)), m >= -hi (or > -hi if hi_x) when hi < 0 */
        int has_mlo = has_hi && hi < 0;
        long long mlo = has_mlo ? -hi : 0;
        int mlo_x = has_mlo ? hi_x : 1; /* m > 0 strictly when hi >= 0 */
        int has_mhi = has_lo;
        long long mhi = has_lo ? -lo : 0;
        int mhi_x = lo_x;
        sb_t t = {0};
        if (num_range(&t, 1, mlo, mlo_x, has_mhi, mhi, mhi_x)) {
            sb_puts(o, k++ ? " | " : "");
            sb_printf(o, "\"-\" %s", sb_str(&t));
        }
        sb_free(&t);
    }
    sb_puts(o, ")");
    if (!k) return 0;
    return 1;
}

/* Decimal bounds with a fractional part. A bound is I.F with I >= 0 and F
 * its fraction digits without trailing zeros (F may be empty). */
typedef struct {
    long long ip;
    char fr[24];
    int x; /* exclusive */
} decb;

/* fraction part (".digits" or absent) of values >= 0.F (> when x) */
static void frac_ge(sb_t *o, const char *F, int x) {
    size_t k = strlen(F);
    if (!k) { sb_puts(o, x ? "\".\" [0-9]* [1-9] [0-9]*" : "(\".\" [0-9]+)?"); return; }
    sb_puts(o, "\".\" (");
    int n = 0;
    for (size_t j = 0; j < k; j++) {
        if (F[j] == '9') continue;
        sb_printf(o, "%s\"%.*s\" [%c-9] [0-9]*", n++ ? " | " : "", (int)j, F, F[j] + 1);
    }
    sb_printf(o, "%s\"%s\" %s", n++ ? " | " : "", F, x ? "[0-9]* [1-9] [0-9]*" : "[0-9]*");
    sb_puts(o, ")");
}
/* fraction part of values <= 0.F (< when x); returns 0 if none */
static int frac_le(sb_t *o, const char *F, int x) {
    size_t k = strlen(F);
    if (!k) {
        if (x) return 0;
        sb_puts(o, "(\".\" \"0\"+)?");
        return 1;
    }
    sb_puts(o, "(\".\" (");
    int n = 0;
    for (size_t j = 0; j < k; j++) {
        if (F[j] != '0') sb_printf(o, "%s\"%.*s\" [0-%c] [0-9]*", n++ ? " | " : "", (int)j, F, F[j] - 1);
        if (j + 1 < k || !x) sb_printf(o, "%s\"%.*s\" \"0\"*", n++ ? " | " : "", (int)(j + 1), F);
    }
    sb_puts(o, "))?");
    return 1;
}

/* magnitudes m (no sign) with lo <= m <= hi (has_hi 0: unbounded above),
 * lo.ip <= hi.ip. Returns 0 if empty or -1 if not expressible. */
static int mag_range(sb_t *o, const decb *lo, int has_hi, const decb *hi) {
    int n = 0;
    sb_puts(o, "(");
    if (has_hi && lo->ip == hi->ip) {
        if (lo->fr[0] || lo->x) return -1;
        sb_t t = {0};
        if (frac_le(&t, hi->fr, hi->x)) { sb_printf(o, "\"%lld\" %s", lo->ip, sb_str(&t)); n++; }
        sb_free(&t);
        sb_puts(o, ")");
        return n;
    }
    /* i == lo.ip */
    sb_printf(o, "\"%lld\" ", lo->ip);
    frac_ge(o, lo->fr, lo->x);
    n++;
    /* lo.ip < i < hi.ip */
    if (!has_hi || lo->ip + 1 <= hi->ip - 1) {
        sb_puts(o, " | ");
        nn_range(o, lo->ip + 1, has_hi ? hi->ip - 1 : -1);
        sb_puts(o, " (\".\" [0-9]+)?");
    }
    if (has_hi) {
        sb_t t = {0};
        if (frac_le(&t, hi->fr, hi->x)) sb_printf(o, " | \"%lld\" %s", hi->ip, sb_str(&t));
        sb_free(&t);
    }
    sb_puts(o, ")");
    return n;
}

static int to_decb(double v, int x, decb *d) {
    char buf[64];
    snprintf(buf, sizeof buf, "%.15g", v);
    if (strtod(buf, NULL) != v) snprintf(buf, sizeof buf, "%.17g", v);
    if (strchr(buf, 'e') || strchr(buf, 'E') || buf[0] == '-') return 0;
    char *dot = strchr(buf, '.');
    d->x = x;
    d->fr[0] = 0;
    if (dot) {
        *dot = 0;
        snprintf(d->fr, sizeof d->fr, "%s", dot + 1);
        size_t k = strlen(d->fr);
        while (k && d->fr[k - 1] == '0') d->fr[--k] = 0;
    }
    d->ip = atoll(buf);
    return 1;
}

/* numbers (no exponent) in the range; bounds may be fractional.
 * Returns R_OK / R_NEVER, or -2 when not expressible. */
static int dec_range(sb_t *o, int has_lo, double lo, int lo_x, int has_hi, double hi, int hi_x) {
    if (has_lo && has_hi && (lo > hi || (lo == hi && (lo_x || hi_x)))) return R_NEVER;
    int n = 0;
    sb_t t = {0};
    sb_puts(&t, "(");
    /* m >= 0 side: [max(lo, 0), hi] */
    if (!has_hi || hi >= 0) {
        decb a, b;
        if (!to_decb(has_lo && lo >= 0 ? lo : 0, has_lo && lo >= 0 ? lo_x : 0, &a)) goto bad;
        if (has_hi && !to_decb(hi, hi_x, &b)) goto bad;
        sb_t u = {0};
        int r = mag_range(&u, &a, has_hi, &b);
        if (r < 0) { sb_free(&u); goto bad; }
        if (r > 0) { sb_printf(&t, "%s%s", n++ ? " | " : "", sb_str(&u)); }
        sb_free(&u);
    }
    /* negative side: m = -x in [max(-hi, 0) (exclusive if hi >= 0), -lo] */
    if (!has_lo || lo < 0) {
        decb a, b;
        int ax = has_hi && hi < 0 ? hi_x : 1;
        if (!to_decb(has_hi && hi < 0 ? -hi : 0, ax, &a)) goto bad;
        if (has_lo && !to_decb(-lo, lo_x, &b)) goto bad;
        sb_t u = {0};
        int r = mag_range(&u, &a, has_lo, &b);
        if (r < 0) { sb_free(&u); goto bad; }
        if (r > 0) sb_printf(&t, "%s\"-\" %s", n++ ? " | " : "", sb_str(&u));
        sb_free(&u);
    }
    sb_puts(&t, ")");
    if (n) sb_puts(o, sb_str(&t));
    sb_free(&t);
    return n ? R_OK : R_NEVER;
bad:
    sb_free(&t);
    return -2;
}

/* ------------------------------------------------------ schema helpers */

enum { T_NULL = 1, T_BOOL = 2, T_INT = 4, T_FRAC = 8, T_STR = 16, T_ARR = 32, T_OBJ = 64, T_ALL = 127 };

/* keywords this compiler understands */
static const char *const HANDLED[] = {
    "type", "enum", "const", "properties", "required", "additionalProperties", "patternProperties",
    "items", "prefixItems", "additionalItems", "minItems", "maxItems", "uniqueItems", "minLength",
    "maxLength", "pattern", "format", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum",
    "multipleOf", "minProperties", "maxProperties", "allOf", "anyOf", "oneOf", "$ref", "if", "not",
    "dependencies", "dependentRequired", "dependentSchemas", "x-pg-notin", NULL};
/* standard keywords that are refused */
static const char *const REFUSED[] = {
    "contains", "minContains",
    "maxContains", "propertyNames", "unevaluatedProperties", "unevaluatedItems", "$dynamicRef",
    "$recursiveRef", "extends", "disallow", "divisibleBy", NULL};

static int in_list(const char *k, const char *const *l) {
    for (; *l; l++)
        if (!strcmp(k, *l)) return 1;
    return 0;
}
/* keyword that constrains instances (as opposed to annotations/unknown) */
static int is_constraint(const char *k) { return in_list(k, HANDLED) || in_list(k, REFUSED); }

static int has_constraints_except(const json_t *s, const char *skip1, const char *skip2) {
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)s, k, v) {
        if ((skip1 && !strcmp(k, skip1)) || (skip2 && !strcmp(k, skip2))) continue;
        if (is_constraint(k)) return 1;
    }
    return 0;
}

static int n_constraints(const json_t *s) {
    int n = 0;
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)s, k, v) n += is_constraint(k);
    return n;
}

static json_t *own(ctx_t *c, json_t *v) {
    json_array_append_new(c->owned, v);
    return v;
}

static unsigned type_bit(const char *t) {
    if (!strcmp(t, "null")) return T_NULL;
    if (!strcmp(t, "boolean")) return T_BOOL;
    if (!strcmp(t, "integer")) return T_INT;
    if (!strcmp(t, "number")) return T_INT | T_FRAC;
    if (!strcmp(t, "string")) return T_STR;
    if (!strcmp(t, "array")) return T_ARR;
    if (!strcmp(t, "object")) return T_OBJ;
    if (!strcmp(t, "any")) return T_ALL;
    return 0;
}
/* allowed type set from "type"; returns (unsigned)-1 on a bad value */
static unsigned schema_types(const json_t *s) {
    json_t *t = json_object_get(s, "type");
    if (!t) return T_ALL;
    if (json_is_string(t)) {
        unsigned b = type_bit(json_string_value(t));
        return b ? b : (unsigned)-1;
    }
    if (json_is_array(t)) {
        unsigned m = 0;
        size_t i;
        json_t *e;
        json_array_foreach(t, i, e) {
            unsigned b = json_is_string(e) ? type_bit(json_string_value(e)) : 0;
            if (!b) return (unsigned)-1;
            m |= b;
        }
        return m;
    }
    return (unsigned)-1;
}

static unsigned value_type(ctx_t *c, const json_t *v) {
    switch (json_typeof(v)) {
    case JSON_NULL: return T_NULL;
    case JSON_TRUE: case JSON_FALSE: return T_BOOL;
    case JSON_INTEGER: return T_INT;
    case JSON_REAL: {
        double d = json_real_value(v);
        if (c->draft >= 6 && d == floor(d) && fabs(d) < 1e300) return T_INT;
        return T_FRAC;
    }
    case JSON_STRING: return T_STR;
    case JSON_ARRAY: return T_ARR;
    case JSON_OBJECT: return T_OBJ;
    }
    return 0;
}

/* JSON Schema equality: numbers by value, no bool/number confusion */
static int js_equal(const json_t *a, const json_t *b) {
    if (json_is_number(a) && json_is_number(b)) return json_number_value(a) == json_number_value(b);
    if (json_typeof(a) != json_typeof(b)) return 0;
    if (json_is_array(a)) {
        if (json_array_size(a) != json_array_size(b)) return 0;
        for (size_t i = 0; i < json_array_size(a); i++)
            if (!js_equal(json_array_get(a, i), json_array_get(b, i))) return 0;
        return 1;
    }
    if (json_is_object(a)) {
        if (json_object_size(a) != json_object_size(b)) return 0;
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)a, k, v) {
            json_t *w = json_object_get(b, k);
            if (!w || !js_equal(v, w)) return 0;
        }
        return 1;
    }
    return json_equal((json_t *)a, (json_t *)b);
}

static size_t utf8_len(const char *s, size_t n) {
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (((unsigned char)s[i] & 0xC0) != 0x80) k++;
    return k;
}

/* ------------------------------------------------------------- $ref */

static json_t *resolve_ref(ctx_t *c, const char *ref) {
    const char *p = ref;
    if (*p != '#') {
        /* allow the document's own $id as prefix */
        json_t *id = json_object_get(c->root, "$id");
        if (!id) id = json_object_get(c->root, "id");
        const char *h = strchr(ref, '#');
        if (!id || !json_is_string(id) || !h) return NULL;
        size_t idl = strlen(json_string_value(id));
        const char *ids = json_string_value(id);
        if (idl && ids[idl - 1] == '#') idl--;
        if ((size_t)(h - ref) != idl || strncmp(ref, ids, idl)) return NULL;
        p = h;
    }
    p++; /* '#' */
    json_t *cur = c->root;
    if (!*p) return cur;
    if (*p != '/') {
        /* plain-name fragment: $anchor or draft-6/7 "$id": "#name" */
        return NULL;
    }
    while (*p == '/') {
        p++;
        char tok[512];
        size_t k = 0;
        while (*p && *p != '/' && k + 1 < sizeof tok) {
            char ch = *p++;
            if (ch == '~' && *p == '0') { ch = '~'; p++; }
            else if (ch == '~' && *p == '1') { ch = '/'; p++; }
            else if (ch == '%' && hexval(p[0]) >= 0 && hexval(p[1]) >= 0) {
                ch = (char)(hexval(p[0]) * 16 + hexval(p[1]));
                p += 2;
            }
            tok[k++] = ch;
        }
        tok[k] = 0;
        if (json_is_object(cur)) cur = json_object_get(cur, tok);
        else if (json_is_array(cur)) {
            char *e;
            long idx = strtol(tok, &e, 10);
            if (*e || idx < 0) return NULL;
            cur = json_array_get(cur, (size_t)idx);
        } else return NULL;
        if (!cur) return NULL;
    }
    return cur;
}

/* Follow $ref chains (siblings ignored in draft <= 7). Returns the node to
 * use, or NULL after fail(). *merged_needed set when a 2019+ $ref has
 * constraining siblings. */
static json_t *deref(ctx_t *c, json_t *s, const char *path, int *sib) {
    *sib = 0;
    for (int hops = 0; json_is_object(s); hops++) {
        json_t *r = json_object_get(s, "$ref");
        if (!r) return s;
        if (!json_is_string(r)) { fail(c, path, "bad $ref"); return NULL; }
        if (hops > 32) { fail(c, path, "unsupported keyword '$ref' (cycle of references)"); return NULL; }
        json_t *t = resolve_ref(c, json_string_value(r));
        if (!t) { fail(c, path, "unsupported keyword '$ref' (cannot resolve \"%.100s\")", json_string_value(r)); return NULL; }
        if (c->draft >= 2019 && has_constraints_except(s, "$ref", NULL)) { *sib = 1; return s; }
        s = t;
    }
    return s;
}

/* Does Python-style pattern pat match (search) subj? PCRE2 with UTF/UCP is
 * close enough to decide whether a property name falls under a pattern; an
 * error counts as "cannot tell" (*err = 1). */
static int pcre_matches(const char *pat, const char *subj, int *err) {
    int ec;
    PCRE2_SIZE eo;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)pat, PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_UCP, &ec, &eo, NULL);
    if (!re) { *err = 1; return 0; }
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(re, NULL);
    int rc = pcre2_match(re, (PCRE2_SPTR)subj, strlen(subj), 0, 0, md, NULL);
    pcre2_match_data_free(md);
    pcre2_code_free(re);
    if (rc < -1) { *err = 1; return 0; }
    return rc >= 0;
}

/* ------------------------------------------------------------- allOf merge */

static json_t *merge(ctx_t *c, json_t *a, json_t *b, const char *path, int depth);

/* $ref (with siblings) and allOf resolved at the top of s. */
static json_t *flatten(ctx_t *c, json_t *s, const char *path, int depth) {
    if (depth > 24) { fail(c, path, "unsupported keyword 'allOf' (recursive reference inside allOf)"); return NULL; }
    int sib;
    s = deref(c, s, path, &sib);
    if (!s) return NULL;
    if (!json_is_object(s)) return s;
    if (sib) {
        json_t *t = resolve_ref(c, json_string_value(json_object_get(s, "$ref")));
        json_t *rest = own(c, json_copy(s));
        json_object_del(rest, "$ref");
        return merge(c, t, rest, path, depth + 1);
    }
    json_t *all = json_object_get(s, "allOf");
    if (!all) return s;
    if (!json_is_array(all)) { fail(c, path, "bad allOf"); return NULL; }
    json_t *acc = own(c, json_copy(s));
    json_object_del(acc, "allOf");
    size_t i;
    json_t *e;
    json_array_foreach(all, i, e) {
        acc = merge(c, acc, e, path, depth + 1);
        if (!acc) return NULL;
    }
    return acc;
}

static json_t *enum_of(json_t *s) {
    json_t *cn = json_object_get(s, "const");
    json_t *en = json_object_get(s, "enum");
    if (!cn && !en) return NULL;
    json_t *out = json_array();
    if (en && json_is_array(en)) {
        size_t i;
        json_t *v;
        json_array_foreach(en, i, v) if (!cn || js_equal(v, cn)) json_array_append(out, v);
    } else if (cn) json_array_append(out, cn);
    return out;
}

static json_t *merge(ctx_t *c, json_t *a, json_t *b, const char *path, int depth) {
    if (++c->work > 20000) { fail(c, path, "schema too complex (combinator expansion over 20000 merges)"); return NULL; }
    if (json_is_true(a) || (json_is_object(a) && json_object_size(a) == 0)) return flatten(c, b, path, depth + 1);
    if (json_is_true(b) || (json_is_object(b) && json_object_size(b) == 0)) return flatten(c, a, path, depth + 1);
    if (json_is_false(a) || json_is_false(b)) return json_false();
    a = flatten(c, a, path, depth + 1);
    if (!a) return NULL;
    b = flatten(c, b, path, depth + 1);
    if (!b) return NULL;
    if (json_is_boolean(a) || json_is_boolean(b)) return merge(c, a, b, path, depth + 1);
    if (!json_is_object(a) || !json_is_object(b)) { fail(c, path, "schema must be an object or boolean"); return NULL; }
    if (a == b || js_equal(a, b)) return a; /* X and X = X (also ends recursive self-merges) */
    json_t *r = own(c, json_copy(a));
    const char *k;
    json_t *vb;
    json_object_foreach(b, k, vb) {
        json_t *va = json_object_get(a, k);
        if (!is_constraint(k)) { if (!va) json_object_set(r, k, vb); continue; }
        if (!va) {
            if (!strcmp(k, "properties") || !strcmp(k, "additionalProperties") || !strcmp(k, "patternProperties") ||
                !strcmp(k, "enum") || !strcmp(k, "const"))
                continue; /* handled below */
            json_object_set(r, k, vb);
            continue;
        }
        if (!strcmp(k, "properties") || !strcmp(k, "additionalProperties") || !strcmp(k, "patternProperties") ||
            !strcmp(k, "enum") || !strcmp(k, "const"))
            continue;
        if (js_equal(va, vb)) continue;
        if (!strcmp(k, "type")) {
            unsigned ta = schema_types(a), tb = schema_types(b);
            if (ta == (unsigned)-1 || tb == (unsigned)-1) { fail(c, path, "bad type"); return NULL; }
            unsigned t = ta & tb;
            json_t *arr = json_array();
            static const char *nm[] = {"null", "boolean", "integer", "number", "string", "array", "object"};
            for (int i = 0; i < 7; i++) {
                unsigned bit = 1u << i;
                if (bit == T_INT && (t & T_FRAC)) continue;
                if (bit == T_FRAC) { if (t & T_FRAC) json_array_append_new(arr, json_string("number")); continue; }
                if (t & bit) json_array_append_new(arr, json_string(nm[i]));
            }
            json_object_set_new(r, "type", arr);
        } else if (!strcmp(k, "required")) {
            json_t *u = json_copy(va);
            size_t i;
            json_t *e;
            json_array_foreach(vb, i, e) {
                int found = 0;
                for (size_t j = 0; j < json_array_size(u); j++) if (json_equal(json_array_get(u, j), e)) found = 1;
                if (!found) json_array_append(u, e);
            }
            json_object_set_new(r, "required", u);
        } else if (!strcmp(k, "minLength") || !strcmp(k, "minItems") || !strcmp(k, "minProperties") ||
                   (!strcmp(k, "minimum") && json_is_number(va) && json_is_number(vb)) ||
                   (!strcmp(k, "exclusiveMinimum") && json_is_number(va) && json_is_number(vb))) {
            if (!json_is_number(va) || !json_is_number(vb)) { fail(c, path, "bad %s", k); return NULL; }
            json_object_set(r, k, json_number_value(va) >= json_number_value(vb) ? va : vb);
        } else if (!strcmp(k, "maxLength") || !strcmp(k, "maxItems") || !strcmp(k, "maxProperties") ||
                   (!strcmp(k, "maximum") && json_is_number(va) && json_is_number(vb)) ||
                   (!strcmp(k, "exclusiveMaximum") && json_is_number(va) && json_is_number(vb))) {
            if (!json_is_number(va) || !json_is_number(vb)) { fail(c, path, "bad %s", k); return NULL; }
            json_object_set(r, k, json_number_value(va) <= json_number_value(vb) ? va : vb);
        } else if (!strcmp(k, "items") && json_is_object(va) && json_is_object(vb)) {
            char sp[512];
            subpath(sp, sizeof sp, path, "items");
            json_t *m = merge(c, va, vb, sp, depth + 1);
            if (!m) return NULL;
            json_object_set(r, k, m);
        } else if (!strcmp(k, "multipleOf") && json_is_integer(va) && json_is_integer(vb) && json_integer_value(va) > 0 &&
                   json_integer_value(vb) > 0 && json_integer_value(va) <= 1000000 && json_integer_value(vb) <= 1000000) {
            /* multiples of both integers = multiples of their lcm */
            long long x = json_integer_value(va), y = json_integer_value(vb), g = x, h = y;
            while (h) { long long t = g % h; g = h; h = t; }
            json_object_set_new(r, k, json_integer((json_int_t)(x / g * y)));
        } else if (!strcmp(k, "x-pg-notin") && json_is_array(va) && json_is_array(vb)) {
            json_t *u = json_copy(va);
            json_array_extend(u, vb);
            json_object_set_new(r, k, u);
        } else if (!strcmp(k, "not")) {
            /* not A and not B = not anyOf [A, B] */
            json_object_set_new(r, "not", json_pack("{s:[O,O]}", "anyOf", va, vb));
        } else if (!strcmp(k, "uniqueItems")) {
            json_object_set(r, k, json_true());
        } else if (!strcmp(k, "anyOf") && json_is_array(va) && json_is_array(vb)) {
            if (json_array_size(va) * json_array_size(vb) > 64) { fail(c, path, "unsupported keyword 'anyOf' (too many combinations in allOf)"); return NULL; }
            json_t *x = json_array();
            size_t i, j;
            json_t *ea, *eb;
            json_array_foreach(va, i, ea) json_array_foreach(vb, j, eb) {
                json_t *m = merge(c, ea, eb, path, depth + 1);
                if (!m) { json_decref(x); return NULL; }
                json_array_append(x, m);
            }
            json_object_set_new(r, "anyOf", x);
        } else {
            fail(c, path, "unsupported keyword '%s' (conflicting values inside allOf)", k);
            return NULL;
        }
    }
    /* enum / const */
    json_t *ea = enum_of(a), *eb = enum_of(b);
    if (ea || eb) {
        json_t *x = json_array();
        json_t *src = ea ? ea : eb;
        size_t i;
        json_t *v;
        json_array_foreach(src, i, v) {
            int ok = 1;
            if (ea && eb) {
                ok = 0;
                for (size_t j = 0; j < json_array_size(eb); j++) if (js_equal(v, json_array_get(eb, j))) ok = 1;
            }
            if (ok) json_array_append(x, v);
        }
        json_object_del(r, "const");
        json_object_set_new(r, "enum", x);
        if (ea) json_decref(ea);
        if (eb) json_decref(eb);
    }
    /* object keywords */
    json_t *pa = json_object_get(a, "properties"), *pb = json_object_get(b, "properties");
    json_t *apa = json_object_get(a, "additionalProperties"), *apb = json_object_get(b, "additionalProperties");
    json_t *ppa = json_object_get(a, "patternProperties"), *ppb = json_object_get(b, "patternProperties");
    if (pa || pb || apa || apb || ppa || ppb) {
        if (ppa || ppb) {
            if ((ppa && apb) || (ppb && apa) || (ppa && ppb && !js_equal(ppa, ppb))) {
                fail(c, path, "unsupported keyword 'patternProperties' (inside allOf with other object keywords)");
                return NULL;
            }
            json_object_set(r, "patternProperties", ppa ? ppa : ppb);
        }
        json_t *P = json_object();
        json_t *lists[2] = {pa, pb};
        for (int li = 0; li < 2; li++) {
            if (!lists[li]) continue;
            const char *pk;
            json_t *pv;
            json_object_foreach(lists[li], pk, pv) {
                if (json_object_get(P, pk)) continue;
                json_t *x = pa ? json_object_get(pa, pk) : NULL;
                json_t *y = pb ? json_object_get(pb, pk) : NULL;
                /* a key absent from one side's properties falls under its
                 * matching patternProperties, else its additionalProperties */
                json_t *pps[2] = {ppa, ppb}, *aps[2] = {apa, apb}, **xy[2] = {&x, &y};
                for (int side = 0; side < 2; side++) {
                    if (*xy[side]) continue;
                    json_t *match = NULL;
                    if (pps[side] && !(ppa && ppb)) {
                        const char *pat;
                        json_t *ps;
                        json_object_foreach(pps[side], pat, ps) {
                            int perr = 0;
                            int hit = pcre_matches(pat, pk, &perr);
                            if (perr) { json_decref(P); fail(c, path, "unsupported keyword 'patternProperties' (pattern \"%.60s\")", pat); return NULL; }
                            if (hit) {
                                if (!match) match = own(c, json_pack("{s:[]}", "allOf"));
                                json_array_append(json_object_get(match, "allOf"), ps);
                            }
                        }
                    }
                    *xy[side] = match ? match : aps[side] ? aps[side] : json_true();
                }
                char sp[512];
                subpath(sp, sizeof sp, path, pk);
                json_t *m = merge(c, x, y, sp, depth + 1);
                if (!m) { json_decref(P); return NULL; }
                json_object_set(P, pk, m);
            }
        }
        json_object_set_new(r, "properties", P);
        if (apa || apb) {
            json_t *m = merge(c, apa ? apa : json_true(), apb ? apb : json_true(), path, depth + 1);
            if (!m) return NULL;
            json_object_set(r, "additionalProperties", m);
        }
    }
    return r;
}

static int fmt_known_refused(const char *f) {
    static const char *const l[] = {"ipv6", "iri", "iri-reference", "idn-hostname", "uri-template", "json-pointer",
                                    "relative-json-pointer", "regex", "duration", "color", NULL};
    return in_list(f, l);
}

/* ------------------------------------------------------- mini validator */
/* 1 valid, 0 invalid, -1 cannot tell */
static int validate(ctx_t *c, const json_t *v, json_t *s, int depth) {
    if (depth > 32) return -1;
    if (json_is_true(s)) return 1;
    if (json_is_false(s)) return 0;
    if (!json_is_object(s)) return -1;
    int sib;
    int save = c->failed;
    json_t *t = deref(c, s, "", &sib);
    if (!t || sib) { c->failed = save; return -1; }
    s = t;
    unsigned vt = value_type(c, v);
    const char *k;
    json_t *x;
    int unknown = 0;
    json_object_foreach(s, k, x) {
        if (!is_constraint(k)) continue;
        if (!strcmp(k, "type")) {
            unsigned ts = schema_types(s);
            if (ts == (unsigned)-1) return -1;
            if (!(ts & vt)) return 0;
        } else if (!strcmp(k, "enum") || !strcmp(k, "const")) {
            json_t *e = enum_of(s);
            int ok = 0;
            for (size_t i = 0; i < json_array_size(e); i++) if (js_equal(v, json_array_get(e, i))) ok = 1;
            json_decref(e);
            if (!ok) return 0;
        } else if ((!strcmp(k, "minLength") || !strcmp(k, "maxLength")) && json_is_number(x)) {
            if (vt != T_STR) continue;
            double L = (double)utf8_len(json_string_value(v), json_string_length(v));
            if (k[1] == 'i' ? L < json_number_value(x) : L > json_number_value(x)) return 0;
        } else if ((!strcmp(k, "minimum") || !strcmp(k, "maximum") || !strcmp(k, "exclusiveMinimum") ||
                    !strcmp(k, "exclusiveMaximum")) && json_is_number(x)) {
            if (!json_is_number(v)) continue;
            double d = json_number_value(v), b = json_number_value(x);
            if (!strcmp(k, "minimum")) { json_t *xm = json_object_get(s, "exclusiveMinimum"); if (json_is_true(xm) ? d <= b : d < b) return 0; }
            if (!strcmp(k, "maximum")) { json_t *xm = json_object_get(s, "exclusiveMaximum"); if (json_is_true(xm) ? d >= b : d > b) return 0; }
            if (!strcmp(k, "exclusiveMinimum") && d <= b) return 0;
            if (!strcmp(k, "exclusiveMaximum") && d >= b) return 0;
        } else if ((!strcmp(k, "exclusiveMinimum") || !strcmp(k, "exclusiveMaximum")) && json_is_boolean(x)) {
            continue;
        } else if (!strcmp(k, "required") && json_is_array(x)) {
            if (vt != T_OBJ) continue;
            for (size_t i = 0; i < json_array_size(x); i++) {
                json_t *e = json_array_get(x, i);
                if (json_is_string(e) && !json_object_get(v, json_string_value(e))) return 0;
            }
        } else if (!strcmp(k, "properties") && json_is_object(x)) {
            if (vt != T_OBJ) continue;
            const char *pk;
            json_t *pv;
            json_object_foreach(x, pk, pv) {
                json_t *iv = json_object_get(v, pk);
                if (!iv) continue;
                int r = validate(c, iv, pv, depth + 1);
                if (r == 0) return 0;
                if (r < 0) unknown = 1;
            }
        } else if (!strcmp(k, "additionalProperties") || !strcmp(k, "patternProperties")) {
            if (vt != T_OBJ) continue;
            json_t *props = json_object_get(s, "properties");
            json_t *pp = json_object_get(s, "patternProperties");
            json_t *ap = json_object_get(s, "additionalProperties");
            if (pp && !json_is_object(pp)) return -1;
            int is_ap = k[0] == 'a';
            const char *ik;
            json_t *iv;
            json_object_foreach((json_t *)v, ik, iv) {
                int matched = 0;
                if (pp) {
                    const char *pat;
                    json_t *ps;
                    json_object_foreach(pp, pat, ps) {
                        int perr = 0;
                        int hit = pcre_matches(pat, ik, &perr);
                        if (perr) return -1;
                        if (!hit) continue;
                        matched = 1;
                        if (is_ap) continue; /* checked under patternProperties */
                        int r = validate(c, iv, ps, depth + 1);
                        if (r == 0) return 0;
                        if (r < 0) unknown = 1;
                    }
                }
                if (!is_ap || matched || (props && json_object_get(props, ik))) continue;
                int r = validate(c, iv, ap, depth + 1);
                if (r == 0) return 0;
                if (r < 0) unknown = 1;
            }
        } else if (!strcmp(k, "not")) {
            int r = validate(c, v, x, depth + 1);
            if (r > 0) return 0;
            if (r < 0) unknown = 1;
        } else if ((!strcmp(k, "items") && json_is_array(x)) || !strcmp(k, "prefixItems") || !strcmp(k, "additionalItems")) {
            if (vt != T_ARR) continue;
            json_t *pre = json_object_get(s, "prefixItems");
            json_t *it = json_object_get(s, "items");
            json_t *tuple = json_is_array(it) && !pre ? it : pre;
            json_t *rest = json_is_array(it) && !pre ? json_object_get(s, "additionalItems") : (json_is_array(it) ? NULL : it);
            if (!tuple || !json_is_array(tuple)) {
                if (!strcmp(k, "additionalItems")) continue; /* no tuple: additionalItems is ignored */
                return -1;
            }
            if (!strcmp(k, "items") && pre) continue; /* handled with prefixItems */
            for (size_t i = 0; i < json_array_size(v); i++) {
                json_t *sch = i < json_array_size(tuple) ? json_array_get(tuple, i) : rest;
                if (!sch) continue;
                int r = validate(c, json_array_get(v, i), sch, depth + 1);
                if (r == 0) return 0;
                if (r < 0) unknown = 1;
            }
        } else if (!strcmp(k, "items") && (json_is_object(x) || json_is_boolean(x))) {
            if (json_object_get(s, "prefixItems")) continue; /* handled with prefixItems */
            if (vt != T_ARR) continue;
            for (size_t i = 0; i < json_array_size(v); i++) {
                int r = validate(c, json_array_get(v, i), x, depth + 1);
                if (r == 0) return 0;
                if (r < 0) unknown = 1;
            }
        } else if ((!strcmp(k, "minItems") || !strcmp(k, "maxItems")) && json_is_number(x)) {
            if (vt != T_ARR) continue;
            double L = (double)json_array_size(v);
            if (k[1] == 'i' ? L < json_number_value(x) : L > json_number_value(x)) return 0;
        } else if ((!strcmp(k, "anyOf") || !strcmp(k, "oneOf") || !strcmp(k, "allOf")) && json_is_array(x)) {
            int nvalid = 0, nunk = 0;
            for (size_t i = 0; i < json_array_size(x); i++) {
                int r = validate(c, v, json_array_get(x, i), depth + 1);
                if (r > 0) nvalid++;
                if (r < 0) nunk++;
            }
            size_t n = json_array_size(x);
            if (k[0] == 'a' && k[1] == 'l') { if ((size_t)nvalid + (size_t)nunk < n) return 0; if (nunk) unknown = 1; }
            else if (k[0] == 'a') { if (!nvalid && !nunk) return 0; if (!nvalid) unknown = 1; }
            else { if (nunk) unknown = 1; else if (nvalid != 1) return 0; }
        } else if (!strcmp(k, "x-pg-notin") && json_is_array(x)) {
            for (size_t i = 0; vt == T_STR && i < json_array_size(x); i++)
                if (js_equal(v, json_array_get(x, i))) return 0;
        } else if (!strcmp(k, "format")) {
            /* formats the validator does not know are annotations */
            const char *f = json_string_value(x);
            static const char *const known[] = {"date", "time", "date-time", "email", "idn-email", "uuid", "uri",
                                                "uri-reference", "hostname", "ipv4", NULL};
            if (vt == T_STR && f && (in_list(f, known) || fmt_known_refused(f))) unknown = 1;
        } else if (!strcmp(k, "pattern")) {
            if (vt == T_STR) unknown = 1;
        } else if (!strcmp(k, "multipleOf")) {
            if (json_is_number(v)) unknown = 1;
        } else if (!strcmp(k, "uniqueItems")) {
            if (vt == T_ARR && json_is_true(x)) unknown = 1;
        } else {
            unknown = 1;
        }
    }
    return unknown ? -1 : 1;
}

/* ------------------------------------------------------------ generator */

/* Compiles schema s; on R_OK writes its rule name to name (24 bytes). */
static int gen(ctx_t *c, json_t *s, const char *path, char *name);

static int gen_child(ctx_t *c, json_t *s, const char *path, const char *key, char *name) {
    char sp[512];
    subpath(sp, sizeof sp, path, key);
    return gen(c, s, sp, name);
}

/* literal GBNF for a JSON value (enum/const), following canonical form */
static void emit_literal(ctx_t *c, sb_t *b, const json_t *v) {
    const char *w = WS(c);
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        sb_puts(b, "\"{\"");
        const char *k;
        json_t *x;
        int i = 0;
        json_object_foreach((json_t *)v, k, x) {
            sb_printf(b, "%s", w);
            if (i++) sb_printf(b, "\",\"%s", w);
            sb_t e = {0};
            json_str_enc(&e, k, strlen(k));
            gbnf_lit(b, e.p, e.n);
            sb_free(&e);
            sb_printf(b, "%s\":\"%s", w, w);
            emit_literal(c, b, x);
        }
        sb_printf(b, "%s\"}\"", w);
        return;
    }
    case JSON_ARRAY: {
        sb_puts(b, "\"[\"");
        for (size_t i = 0; i < json_array_size(v); i++) {
            sb_printf(b, "%s", w);
            if (i) sb_printf(b, "\",\"%s", w);
            emit_literal(c, b, json_array_get(v, i));
        }
        sb_printf(b, "%s\"]\"", w);
        return;
    }
    case JSON_STRING: {
        sb_t e = {0};
        json_str_enc(&e, json_string_value(v), json_string_length(v));
        gbnf_lit(b, e.p, e.n);
        sb_free(&e);
        return;
    }
    case JSON_INTEGER: sb_printf(b, "(\"%lld\" (\".\" \"0\"+)?)", (long long)json_integer_value(v)); return;
    case JSON_REAL: {
        double d = json_real_value(v);
        if (d == floor(d) && fabs(d) < 1e15) { sb_printf(b, "(\"%.0f\" (\".\" \"0\"+)?)", d); return; }
        char *t = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
        gbnf_lit(b, t, strlen(t));
        free(t);
        return;
    }
    case JSON_TRUE: sb_puts(b, "\"true\""); return;
    case JSON_FALSE: sb_puts(b, "\"false\""); return;
    case JSON_NULL: sb_puts(b, "\"null\""); return;
    }
}

static int get_count(ctx_t *c, json_t *s, const char *k, const char *path, long *out) {
    json_t *v = json_object_get(s, k);
    if (!v) return 1;
    if (!json_is_number(v) || json_number_value(v) < 0 || json_number_value(v) != floor(json_number_value(v))) {
        fail(c, path, "bad value of '%s'", k);
        return 0;
    }
    double d = json_number_value(v);
    *out = d > 1e9 ? 1000000000L : (long)d;
    return 1;
}

typedef struct trie {
    uint32_t cp;
    int term;
    struct trie **kid;
    int nkid;
} trie;

static trie *trie_kid(trie *t, uint32_t cp) {
    for (int i = 0; i < t->nkid; i++)
        if (t->kid[i]->cp == cp) return t->kid[i];
    t->kid = realloc(t->kid, (size_t)(t->nkid + 1) * sizeof *t->kid);
    trie *k = calloc(1, sizeof *k);
    if (!t->kid || !k) abort();
    k->cp = cp;
    t->kid[t->nkid++] = k;
    return k;
}
static void trie_free(trie *t) {
    for (int i = 0; i < t->nkid; i++) trie_free(t->kid[i]);
    free(t->kid);
    free(t);
}
/* rule: rest of a key string (after the opening quote and the prefix of t),
 * closing quote included, such that the whole key is not a name */
static int trie_rule(ctx_t *c, trie *t) {
    int id = rule_new(c);
    sb_t body = {0};
    int n = 0;
    if (!t->term) { sb_puts(&body, "\"\\\"\""); n++; }
    cpset other = {0};
    cs_add(&other, 0, CP_MAX);
    for (int i = 0; i < t->nkid; i++) {
        int kid = trie_rule(c, t->kid[i]);
        cpset one = {0};
        cs_add(&one, t->kid[i]->cp, t->kid[i]->cp);
        if (n++) sb_puts(&body, " | ");
        enc_class(c, &body, &one);
        sb_printf(&body, " r%d", kid);
        cs_free(&one);
        cs_remove(&other, t->kid[i]->cp, t->kid[i]->cp);
    }
    if (n++) sb_puts(&body, " | ");
    sb_t oc = {0};
    enc_class(c, &oc, &other);
    sb_puts(&oc, " char* \"\\\"\"");
    sb_printf(&body, "r%d", rule_dedup(c, sb_str(&oc)));
    sb_free(&oc);
    cs_free(&other);
    rule_def(c, id, sb_str(&body));
    sb_free(&body);
    return id;
}

/* ---- strings */


static int gen_string(ctx_t *c, json_t *s, const char *path, sb_t *b) {
    long mn = 0, mx = -1;
    if (!get_count(c, s, "minLength", path, &mn) || !get_count(c, s, "maxLength", path, &mx)) return R_ERR;
    if (mx >= 0 && mx < mn) return R_NEVER;
    json_t *pat = json_object_get(s, "pattern");
    json_t *fmt = json_object_get(s, "format");
    json_t *notin = json_object_get(s, "x-pg-notin");
    if (notin) {
        const char *f0 = json_is_string(fmt) ? json_string_value(fmt) : NULL;
        int fmt_active = f0 && (!strcmp(f0, "date") || !strcmp(f0, "time") || !strcmp(f0, "date-time") ||
                                !strcmp(f0, "email") || !strcmp(f0, "idn-email") || !strcmp(f0, "uuid") ||
                                !strcmp(f0, "uri") || !strcmp(f0, "uri-reference") || !strcmp(f0, "hostname") ||
                                !strcmp(f0, "ipv4") || fmt_known_refused(f0));
        if (pat || fmt_active || mn > 0 || mx >= 0)
            return fail(c, path, "unsupported keyword 'not' (of 'enum' together with other string keywords)");
        need(c, B_CHAR);
        trie *root = calloc(1, sizeof *root);
        if (!root) abort();
        size_t i;
        json_t *e;
        json_array_foreach(notin, i, e) {
            if (!json_is_string(e)) continue;
            trie *t = root;
            const unsigned char *p = (const unsigned char *)json_string_value(e);
            size_t L = json_string_length(e);
            for (size_t q = 0; q < L;) {
                uint32_t cp;
                int kk = utf8_dec(p + q, L - q, &cp);
                if (kk < 0) { kk = 1; cp = p[q]; }
                q += (size_t)kk;
                t = trie_kid(t, cp);
            }
            t->term = 1;
        }
        int id = trie_rule(c, root);
        trie_free(root);
        sb_printf(b, "\"\\\"\" r%d", id);
        return R_OK;
    }
    const char *f = json_is_string(fmt) ? json_string_value(fmt) : NULL;
    const char *frule = NULL;
    long flen = -1;
    if (f) {
        if (!strcmp(f, "date")) { need(c, B_DATE); frule = "date"; flen = 10; }
        else if (!strcmp(f, "time")) { need(c, B_TIME); frule = "time"; }
        else if (!strcmp(f, "date-time")) { need(c, B_DATE); need(c, B_TIME); frule = "date \"T\" time"; }
        else if (!strcmp(f, "email") || !strcmp(f, "idn-email")) { need(c, B_CHAR); frule = "([^\"\\\\\\x00-\\x1F@] | \"\\\\\" [\"\\\\/bfnrt] | \"\\\\u00\" [01] [0-9a-fA-F])* \"@\" char*"; }
        else if (!strcmp(f, "uuid")) { need(c, B_HEX); frule = "hex{8} \"-\" hex{4} \"-\" hex{4} \"-\" hex{4} \"-\" hex{12}"; flen = 36; }
        else if (!strcmp(f, "uri")) { need(c, B_URI); frule = "uri"; }
        else if (!strcmp(f, "uri-reference")) { need(c, B_URIREF); frule = "uri-ref"; }
        else if (!strcmp(f, "hostname")) { need(c, B_HOST); frule = "hostname"; }
        else if (!strcmp(f, "ipv4")) { need(c, B_IPV4); frule = "ipv4"; flen = -2; }
        else if (fmt_known_refused(f)) return fail(c, path, "unsupported keyword 'format' (\"%s\")", f);
    }
    if (frule) {
        if (pat) return fail(c, path, "unsupported keyword 'pattern' combined with format \"%s\"", f);
        if (mn > 0 || mx >= 0) {
            if (flen == -2) { if (mn > 7 || (mx >= 0 && mx < 15)) return fail(c, path, "unsupported keyword 'maxLength'/'minLength' combined with format \"%s\"", f); }
            else if (flen < 0) return fail(c, path, "unsupported keyword 'maxLength'/'minLength' combined with format \"%s\"", f);
            else if (flen < mn || (mx >= 0 && flen > mx)) return R_NEVER;
        }
        sb_printf(b, "\"\\\"\" (%s) \"\\\"\"", frule);
        return R_OK;
    }
    if (pat) {
        if (!json_is_string(pat)) return fail(c, path, "bad value of 'pattern'");
        sb_t e = {0};
        char sp[512];
        subpath(sp, sizeof sp, path, "pattern");
        int r = pattern_expr(c, sp, json_string_value(pat), json_string_length(pat), mn, mx, &e);
        if (r == R_OK) sb_printf(b, "\"\\\"\" %s \"\\\"\"", sb_str(&e));
        sb_free(&e);
        return r;
    }
    need(c, B_CHAR);
    if (mn == 0 && mx < 0) sb_puts(b, "string"), need(c, B_STRING);
    else if (mx < 0) sb_printf(b, "\"\\\"\" char{%ld,} \"\\\"\"", mn);
    else sb_printf(b, "\"\\\"\" char{%ld,%ld} \"\\\"\"", mn, mx);
    return R_OK;
}

/* ---- numbers */

static int mult_rule(ctx_t *c, long k) {
    /* right-linear grammar over remainders mod k; state rules m<id>-<r> */
    int base = rule_new(c);
    int *ids = malloc((size_t)k * sizeof *ids);
    if (!ids) abort();
    for (long r = 0; r < k; r++) ids[r] = rule_new(c);
    for (long r = 0; r < k; r++) {
        sb_t t = {0};
        int n = 0;
        if (r == 0) { sb_puts(&t, "\"\""); n++; }
        for (long tgt = 0; tgt < k; tgt++) {
            char cls[32];
            int m = 0;
            for (int d = 0; d <= 9; d++)
                if ((10 * r + d) % k == tgt) cls[m++] = (char)('0' + d);
            if (!m) continue;
            cls[m] = 0;
            sb_printf(&t, "%s[%s] r%d", n++ ? " | " : "", cls, ids[tgt]);
        }
        rule_def(c, ids[r], sb_str(&t));
        sb_free(&t);
    }
    sb_t t = {0};
    sb_puts(&t, "\"0\" | \"-\"? (");
    int n = 0;
    for (long tgt = 0; tgt < k; tgt++) {
        char cls[32];
        int m = 0;
        for (int d = 1; d <= 9; d++)
            if (d % k == tgt) cls[m++] = (char)('0' + d);
        if (!m) continue;
        cls[m] = 0;
        sb_printf(&t, "%s[%s] r%d", n++ ? " | " : "", cls, ids[tgt]);
    }
    sb_puts(&t, ")");
    rule_def(c, base, sb_str(&t));
    sb_free(&t);
    free(ids);
    return base;
}

static int gen_number(ctx_t *c, json_t *s, const char *path, unsigned types, sb_t *b) {
    json_t *mi = json_object_get(s, "minimum"), *ma = json_object_get(s, "maximum");
    json_t *xmi = json_object_get(s, "exclusiveMinimum"), *xma = json_object_get(s, "exclusiveMaximum");
    json_t *mo = json_object_get(s, "multipleOf");
    int has_lo = 0, has_hi = 0, lo_x = 0, hi_x = 0;
    double lo = 0, hi = 0;
    if (mi) { if (!json_is_number(mi)) return fail(c, path, "bad value of 'minimum'"); has_lo = 1; lo = json_number_value(mi); lo_x = json_is_true(xmi); }
    if (ma) { if (!json_is_number(ma)) return fail(c, path, "bad value of 'maximum'"); has_hi = 1; hi = json_number_value(ma); hi_x = json_is_true(xma); }
    if (json_is_number(xmi)) { double v = json_number_value(xmi); if (!has_lo || v >= lo) { lo = v; lo_x = 1; has_lo = 1; } }
    if (json_is_number(xma)) { double v = json_number_value(xma); if (!has_hi || v <= hi) { hi = v; hi_x = 1; has_hi = 1; } }
    if ((xmi && !json_is_number(xmi) && !json_is_boolean(xmi)) || (xma && !json_is_number(xma) && !json_is_boolean(xma)))
        return fail(c, path, "bad value of 'exclusiveMinimum'/'exclusiveMaximum'");
    if ((has_lo && fabs(lo) > 9e15) || (has_hi && fabs(hi) > 9e15)) {
        /* int64-style bounds: exact only through the digits; refuse */
        return fail(c, path, "unsupported keyword 'minimum'/'maximum' (bound beyond 9e15)");
    }
    int frac = (types & T_FRAC) != 0;
    long k = 0;
    if (mo) {
        if (!json_is_number(mo) || json_number_value(mo) <= 0) return fail(c, path, "bad value of 'multipleOf'");
        double d = json_number_value(mo);
        if (d != floor(d) || !json_is_integer(mo)) return fail(c, path, "unsupported keyword 'multipleOf' (non-integer divisor)");
        if (d > 1000) return fail(c, path, "unsupported keyword 'multipleOf' (divisor above 1000)");
        k = (long)d;
        if (k > 1) {
            if (has_lo || has_hi) return fail(c, path, "unsupported keyword 'multipleOf' combined with minimum/maximum");
            sb_printf(b, "r%d", mult_rule(c, k));
            return R_OK;
        }
        frac = 0; /* multiples of 1 are integers */
    }
    if (!frac) {
        if (!has_lo && !has_hi) { need(c, B_INTEGER); sb_puts(b, "integer"); return R_OK; }
        long long L = 0, H = 0;
        if (has_lo) L = lo_x ? (long long)floor(lo) + 1 : (long long)ceil(lo);
        if (has_hi) H = hi_x ? (long long)ceil(hi) - 1 : (long long)floor(hi);
        sb_t t = {0};
        int r = int_range(&t, has_lo, L, has_hi, H);
        if (r) sb_puts(b, sb_str(&t));
        sb_free(&t);
        return r ? R_OK : R_NEVER;
    }
    if (!has_lo && !has_hi) { need(c, B_NUMBER); sb_puts(b, "number"); return R_OK; }
    if ((has_lo && lo != floor(lo)) || (has_hi && hi != floor(hi))) {
        sb_t t = {0};
        int r = dec_range(&t, has_lo, lo, lo_x, has_hi, hi, hi_x);
        if (r == R_OK) sb_puts(b, sb_str(&t));
        sb_free(&t);
        if (r == -2) return fail(c, path, "unsupported keyword 'minimum'/'maximum' (fractional bounds within one integer)");
        return r;
    }
    sb_t t = {0};
    int r = num_range(&t, has_lo, (long long)lo, lo_x, has_hi, (long long)hi, hi_x);
    if (r) sb_puts(b, sb_str(&t));
    sb_free(&t);
    return r ? R_OK : R_NEVER;
}

/* ---- arrays */

/* uniqueItems over a finite item domain (an enum of at most 6 values, or
 * booleans): one rule per subset of values already used, any order. */
static int unique_array(ctx_t *c, json_t *s, const char *path, long mn, long mx, sb_t *b) {
    json_t *items = json_object_get(s, "items");
    if (!items || json_is_array(items) || json_object_get(s, "prefixItems"))
        return fail(c, path, "unsupported keyword 'uniqueItems'");
    json_t *it = flatten(c, items, path, 0);
    if (!it) return R_ERR;
    if (!json_is_object(it)) return fail(c, path, "unsupported keyword 'uniqueItems'");
    json_t *vals = enum_of(it);
    if (!vals && schema_types(it) == T_BOOL) vals = json_pack("[bb]", 1, 0);
    if (!vals) return fail(c, path, "unsupported keyword 'uniqueItems' (items are not a small enum)");
    json_t *rest = own(c, json_copy(it));
    json_object_del(rest, "enum");
    json_object_del(rest, "const");
    json_t *V[6];
    int k = 0;
    for (size_t i = 0; i < json_array_size(vals); i++) {
        json_t *v = json_array_get(vals, i);
        int r = validate(c, v, rest, 0);
        if (r < 0) { json_decref(vals); return fail(c, path, "unsupported keyword 'uniqueItems' (items are not a small enum)"); }
        if (!r) continue;
        int dup = 0;
        for (int j = 0; j < k; j++) if (js_equal(V[j], v)) dup = 1;
        if (dup) continue;
        if (k == 6) { json_decref(vals); return fail(c, path, "unsupported keyword 'uniqueItems' (more than 6 item values)"); }
        V[k++] = v;
    }
    const char *w = WS(c);
    int ids[64];
    for (int m = 0; m < (1 << k); m++) ids[m] = rule_new(c);
    char lit[6][4096];
    for (int j = 0; j < k; j++) {
        sb_t t = {0};
        emit_literal(c, &t, V[j]);
        snprintf(lit[j], sizeof lit[j], "%s", sb_str(&t));
        sb_free(&t);
    }
    /* U(m): the items after the set m was used. alive[m]: some way on
     * reaches at least mn items without exceeding mx. */
    char alive[64];
    for (int m = (1 << k) - 1; m >= 1; m--) {
        int cnt = __builtin_popcount((unsigned)m);
        alive[m] = cnt >= mn;
        for (int j = 0; j < k && !alive[m]; j++)
            if (!(m & (1 << j)) && (mx < 0 || cnt + 1 <= mx) && alive[m | (1 << j)]) alive[m] = 1;
    }
    for (int m = 1; m < (1 << k); m++) {
        if (!alive[m]) continue;
        sb_t t = {0};
        int n = 0, cnt = __builtin_popcount((unsigned)m);
        if (cnt >= mn) { sb_puts(&t, "\"\""); n++; }
        for (int j = 0; j < k; j++) {
            if (m & (1 << j)) continue;
            if ((mx >= 0 && cnt + 1 > mx) || !alive[m | (1 << j)]) continue;
            sb_printf(&t, "%s%s\",\"%s%s r%d", n++ ? " | " : "", w, w, lit[j], ids[m | (1 << j)]);
        }
        rule_def(c, ids[m], sb_str(&t));
        sb_free(&t);
    }
    sb_t t = {0};
    int n = 0;
    for (int j = 0; j < k && mx != 0; j++)
        if (alive[1 << j]) sb_printf(&t, "%s%s r%d", n++ ? " | " : "", lit[j], ids[1 << j]);
    json_decref(vals);
    if (!n && mn > 0) { sb_free(&t); return R_NEVER; }
    if (n) sb_printf(b, "\"[\"%s(%s)%s%s\"]\"", w, sb_str(&t), mn == 0 ? "?" : "", w);
    else sb_printf(b, "\"[\"%s\"]\"", w);
    sb_free(&t);
    return R_OK;
}

static int gen_array(ctx_t *c, json_t *s, const char *path, sb_t *b) {
    long mn = 0, mx = -1;
    if (!get_count(c, s, "minItems", path, &mn) || !get_count(c, s, "maxItems", path, &mx)) return R_ERR;
    if (mx >= 0 && mx < mn) return R_NEVER;
    if (json_is_true(json_object_get(s, "uniqueItems")) && (mx < 0 || mx > 1))
        return unique_array(c, s, path, mn, mx, b);
    json_t *items = json_object_get(s, "items");
    json_t *prefix = json_object_get(s, "prefixItems");
    json_t *addl = NULL;
    if (json_is_array(items)) {
        if (prefix) return fail(c, path, "unsupported keyword 'items' (array form with prefixItems)");
        prefix = items;
        addl = json_object_get(s, "additionalItems");
    } else addl = items;
    size_t np = prefix ? json_array_size(prefix) : 0;
    if (prefix && !json_is_array(prefix)) return fail(c, path, "bad value of 'prefixItems'");
    char (*pn)[24] = calloc(np + 1, sizeof *pn);
    int *pok = calloc(np + 1, sizeof *pok);
    if (!pn || !pok) abort();
    for (size_t i = 0; i < np; i++) {
        char sp[512];
        subpath_i(sp, sizeof sp, path, json_is_array(items) ? "items" : "prefixItems", i);
        int r = gen(c, json_array_get(prefix, i), sp, pn[i]);
        if (r == R_ERR) { free(pn); free(pok); return R_ERR; }
        pok[i] = r == R_OK;
    }
    char an[24];
    int aok;
    if (addl) {
        int r = gen_child(c, addl, path, json_is_array(items) ? "additionalItems" : "items", an);
        if (r == R_ERR) { free(pn); free(pok); return R_ERR; }
        aok = r == R_OK;
    } else {
        need(c, B_VALUE);
        strcpy(an, "value");
        aok = 1;
    }
    const char *w = WS(c);
    /* tail after i >= np items: ("," A){max(mn-i,0), mx-i} */
    sb_t body = {0};
    /* build R(i) right to left, as nested text */
    /* content = "" (if mn == 0) | e0 R(1);  R(i) = "" (if i >= mn) | "," e_i R(i+1) (if i < mx) */
    sb_t tail = {0};
    {
        long need_more = mn - (long)np;
        if (need_more < 0) need_more = 0;
        long cap = mx < 0 ? -1 : mx - (long)np;
        if (cap >= 0 && cap < need_more) { /* cannot reach */ sb_puts(&tail, "!"); }
        else if (!aok) {
            if (need_more > 0) sb_puts(&tail, "!");
            else sb_puts(&tail, "");
        } else if (cap == 0) sb_puts(&tail, "");
        else if (cap < 0) sb_printf(&tail, "(%s\",\"%s%s){%ld,}", w, w, an, need_more);
        else sb_printf(&tail, "(%s\",\"%s%s){%ld,%ld}", w, w, an, need_more, cap);
    }
    /* tail "!" marks an empty language */
    char *cur = strdup(sb_str(&tail));
    sb_free(&tail);
    for (long i = (long)np - 1; i >= 1; i--) {
        /* R(i) */
        sb_t t = {0};
        int n = 0;
        if (i >= mn) { sb_puts(&t, "\"\""); n++; }
        if ((mx < 0 || i < mx) && pok[i] && strcmp(cur, "!")) {
            sb_printf(&t, "%s%s\",\"%s%s %s", n++ ? " | " : "", w, w, pn[i], cur);
        }
        free(cur);
        if (!n) cur = strdup("!");
        else { sb_t u = {0}; sb_printf(&u, "(%s)", sb_str(&t)); cur = strdup(sb_str(&u)); sb_free(&u); }
        sb_free(&t);
    }
    /* content */
    int n = 0;
    sb_t content = {0};
    if (mn == 0) n++; /* empty array */
    const char *e0 = np > 0 ? (pok[0] ? pn[0] : NULL) : (aok ? an : NULL);
    if (np == 0) {
        /* homogeneous: A ("," A){max(mn,1)-1, mx-1} */
        if (aok && mx != 0) {
            long lo = mn > 0 ? mn - 1 : 0;
            if (mx < 0) sb_printf(&content, "%s (%s\",\"%s%s){%ld,}", an, w, w, an, lo);
            else sb_printf(&content, "%s (%s\",\"%s%s){%ld,%ld}", an, w, w, an, lo, mx - 1);
            n++;
        }
    } else if (e0 && mx != 0 && strcmp(cur, "!")) {
        sb_printf(&content, "%s %s", e0, np == 1 ? cur : cur);
        n++;
    }
    free(cur);
    free(pn);
    free(pok);
    if (!n) { sb_free(&content); sb_free(&body); return R_NEVER; }
    if (content.n) sb_printf(b, "\"[\"%s(%s)%s%s\"]\"", w, sb_str(&content), mn == 0 ? "?" : "", w);
    else sb_printf(b, "\"[\"%s\"]\"", w);
    sb_free(&content);
    sb_free(&body);
    return R_OK;
}

/* ---- objects */

static int gen_object(ctx_t *c, json_t *s, const char *path, sb_t *b) {
    long minp = 0, maxp = -1;
    if (!get_count(c, s, "minProperties", path, &minp) || !get_count(c, s, "maxProperties", path, &maxp)) return R_ERR;
    if (maxp >= 0 && maxp < minp) return R_NEVER;
    json_t *props = json_object_get(s, "properties");
    json_t *req = json_object_get(s, "required");
    json_t *ap = json_object_get(s, "additionalProperties");
    json_t *pp = json_object_get(s, "patternProperties");
    if (props && !json_is_object(props)) return fail(c, path, "bad value of 'properties'");
    if (req && !json_is_array(req)) return fail(c, path, "bad value of 'required'");
    const char *w = WS(c);
    size_t nreq = req ? json_array_size(req) : 0;
    size_t n = (props ? json_object_size(props) : 0) + nreq;
    char **kv = calloc(n + 1, sizeof *kv);
    int *opt = calloc(n + 1, sizeof *opt);
    if (!kv || !opt) abort();
    const char **names = calloc(n + 1, sizeof *names);
    json_t **psch = calloc(n + 1, sizeof *psch);
    if (!names || !psch) abort();
    int ret = R_OK;
    size_t i = 0;
    if (props) {
        const char *k;
        json_t *v;
        json_object_foreach(props, k, v) { names[i] = k; psch[i] = v; i++; }
    }
    /* required names absent from properties must come as additional
     * properties: placed after the declared ones, in 'required' order */
    for (size_t j = 0; j < nreq; j++) {
        json_t *r = json_array_get(req, j);
        if (!json_is_string(r)) { n = i; ret = fail(c, path, "bad value of 'required'"); goto out; }
        const char *rn = json_string_value(r);
        if (strlen(rn) != json_string_length(r)) { n = i; ret = fail(c, path, "unsupported keyword 'required' (name with a NUL character)"); goto out; }
        int dup = 0;
        for (size_t q = 0; q < i; q++) if (!strcmp(names[q], rn)) dup = 1;
        if (dup) continue;
        names[i] = rn;
        psch[i] = NULL; /* set below: matching pattern schemas or additionalProperties */
        i++;
    }
    n = i;
    /* A name matching patternProperties takes allOf of the matching pattern
     * schemas (and its own). Pattern keys generated as extras carry allOf of
     * ALL pattern schemas, which is never weaker, so a declared name that
     * also comes out as an extra is still valid; this is only sound when
     * the name's own schema adds nothing, hence the refusal otherwise. */
    for (i = 0; i < n; i++) {
        json_t *match = NULL;
        if (pp && json_is_object(pp)) {
            const char *pat;
            json_t *ps;
            json_object_foreach(pp, pat, ps) {
                int perr = 0;
                int hit = pcre_matches(pat, names[i], &perr);
                if (perr) { ret = fail(c, path, "unsupported keyword 'patternProperties' (pattern \"%.60s\")", pat); goto out; }
                if (hit) {
                    if (!match) match = own(c, json_pack("{s:[]}", "allOf"));
                    json_array_append(json_object_get(match, "allOf"), ps);
                }
            }
        }
        if (match) {
            if (psch[i] && !(json_is_true(psch[i]) || (json_is_object(psch[i]) && !n_constraints(psch[i])))) {
                ret = fail(c, path, "unsupported keyword 'patternProperties' (property \"%.60s\" also matches it)", names[i]);
                goto out;
            }
            psch[i] = match;
        } else if (!psch[i]) {
            if (json_is_false(ap)) { ret = R_NEVER; goto out; }
            psch[i] = ap ? ap : json_true();
        }
    }
    for (i = 0; i < n; i++) {
        const char *k = names[i];
        json_t *v = psch[i];
        int isreq = 0;
        for (size_t j = 0; j < nreq; j++)
            if (!strcmp(json_string_value(json_array_get(req, j)), k)) isreq = 1;
        opt[i] = !isreq;
        char sp[512], nm[24];
        snprintf(sp, sizeof sp, "%s/properties/%s", path, k);
        int r = gen(c, v, sp, nm);
        if (r == R_ERR) { ret = R_ERR; goto out; }
        if (r == R_NEVER) {
            if (isreq) { ret = R_NEVER; goto out; }
            kv[i] = NULL;
        } else {
            sb_t e = {0}, t = {0};
            json_str_enc(&e, k, strlen(k));
            gbnf_lit(&t, e.p, e.n);
            sb_printf(&t, "%s\":\"%s%s", w, w, nm);
            kv[i] = strdup(sb_str(&t));
            sb_free(&e);
            sb_free(&t);
        }
    }
    /* extra keys */
    char *E = NULL;
    {
        int pp_trivial = 1;
        if (pp) {
            if (!json_is_object(pp)) { ret = fail(c, path, "bad value of 'patternProperties'"); goto out; }
            const char *k;
            json_t *v;
            json_object_foreach(pp, k, v) if (!(json_is_true(v) || (json_is_object(v) && !has_constraints_except(v, NULL, NULL)))) pp_trivial = 0;
        }
        int ap_false = json_is_false(ap);
        if (pp && json_object_size(pp) && (!pp_trivial || ap_false)) {
            /* Keys matching a pattern take the value schema allOf(every
             * pattern's schema): exact for one pattern, stronger (never
             * weaker) when a key matches only some of several. Other extra
             * keys are not generated: when additionalProperties is not
             * false this under-approximates, it never accepts an invalid
             * instance. */
            json_t *V = json_true();
            const char *k;
            json_t *v;
            char sp[512];
            snprintf(sp, sizeof sp, "%s/patternProperties", path);
            json_object_foreach(pp, k, v) {
                V = merge(c, V, v, sp, 0);
                if (!V) { ret = R_ERR; goto out; }
            }
            char nm[24];
            int r2 = gen(c, V, sp, nm);
            if (r2 == R_ERR) { ret = R_ERR; goto out; }
            sb_t alts = {0};
            int na = 0;
            json_object_foreach(pp, k, v) {
                sb_t pe = {0};
                int r = pattern_expr(c, sp, k, strlen(k), 0, -1, &pe);
                if (r == R_ERR) { sb_free(&pe); sb_free(&alts); ret = R_ERR; goto out; }
                if (r == R_OK) sb_printf(&alts, "%s%s", na++ ? " | " : "", sb_str(&pe));
                sb_free(&pe);
            }
            if (na && r2 == R_OK) {
                sb_t t = {0};
                sb_printf(&t, "\"\\\"\" (%s) \"\\\"\"%s\":\"%s%s", sb_str(&alts), w, w, nm);
                E = strdup(sb_str(&t));
                sb_free(&t);
            }
            sb_free(&alts);
        } else if (!ap_false) {
            char nm[24];
            int r;
            if (ap) r = gen_child(c, ap, path, "additionalProperties", nm);
            else { need(c, B_VALUE); strcpy(nm, "value"); r = R_OK; }
            if (r == R_ERR) { ret = R_ERR; goto out; }
            if (r == R_OK) {
                need(c, B_CHAR);
                trie *root = calloc(1, sizeof *root);
                for (size_t j = 0; j < n; j++) {
                    trie *t = root;
                    const unsigned char *p = (const unsigned char *)names[j];
                    size_t L = strlen(names[j]);
                    for (size_t q = 0; q < L;) {
                        uint32_t cp;
                        int kk = utf8_dec(p + q, L - q, &cp);
                        if (kk < 0) { kk = 1; cp = p[q]; }
                        q += (size_t)kk;
                        t = trie_kid(t, cp);
                    }
                    t->term = 1;
                }
                int kid = trie_rule(c, root);
                trie_free(root);
                sb_t t = {0};
                sb_printf(&t, "\"\\\"\" r%d%s\":\"%s%s", kid, w, w, nm);
                E = strdup(sb_str(&t));
                sb_free(&t);
            }
        }
    }
    {
        long cap = maxp >= 0 ? (maxp > minp ? maxp : minp) : minp;
        if (cap < 1) cap = 1;
        if ((long)(n + 1) * (cap + 1) > 20000) { free(E); ret = fail(c, path, "unsupported keyword 'minProperties'/'maxProperties' (grammar too large)"); goto out; }
        size_t W = (size_t)cap + 1;
        char *aA = calloc((n + 1) * W, 1), *aB = calloc((n + 1) * W, 1), *aD = calloc(n + 1, 1);
        int *idA = calloc((n + 1) * W, sizeof(int)), *idB = calloc((n + 1) * W, sizeof(int)), *idD = calloc(n + 1, sizeof(int));
        if (!aA || !aB || !aD || !idA || !idB || !idD) abort();
#define SAT(x) ((x) > cap ? cap : (x))
#define OKC(x) (maxp < 0 || (x) <= maxp)
        for (long ii = (long)n; ii >= 0; ii--) {
            for (long cc = cap; cc >= 1; cc--) {
                size_t at = (size_t)ii * W + (size_t)cc;
                int bv;
                if (ii == (long)n) bv = cc >= minp;
                else bv = (kv[ii] && OKC(cc + 1) && aA[(size_t)(ii + 1) * W + (size_t)SAT(cc + 1)]) ||
                          (opt[ii] && aB[(size_t)(ii + 1) * W + (size_t)cc]);
                aB[at] = (char)bv;
                int av = bv;
                if (!av && E && OKC(cc + 1) && cc < cap) av = aA[(size_t)ii * W + (size_t)SAT(cc + 1)];
                aA[at] = (char)av;
            }
            if (ii == (long)n) aD[ii] = minp == 0;
            else aD[ii] = (char)((kv[ii] && OKC(1) && aA[(size_t)(ii + 1) * W + (size_t)SAT(1)]) || (opt[ii] && aD[ii + 1]));
        }
        int root_e = E && OKC(1) && aA[SAT(1)];
        if (!root_e && !aD[0]) {
            ret = R_NEVER;
        } else {
            for (size_t q = 0; q < (n + 1) * W; q++) {
                if (aA[q]) idA[q] = rule_new(c);
                if (aB[q]) idB[q] = rule_new(c);
            }
            for (size_t q = 0; q <= n; q++) if (aD[q]) idD[q] = rule_new(c);
            for (long ii = 0; ii <= (long)n; ii++) {
                for (long cc = 1; cc <= cap; cc++) {
                    size_t at = (size_t)ii * W + (size_t)cc;
                    if (aA[at]) {
                        sb_t t = {0};
                        int m = 0;
                        if (E && OKC(cc + 1) && aA[(size_t)ii * W + (size_t)SAT(cc + 1)]) {
                            sb_printf(&t, "%s\",\"%s%s r%d", w, w, E, idA[(size_t)ii * W + (size_t)SAT(cc + 1)]);
                            m++;
                        }
                        if (aB[at]) sb_printf(&t, "%sr%d", m++ ? " | " : "", idB[at]);
                        rule_def(c, idA[at], sb_str(&t));
                        sb_free(&t);
                    }
                    if (aB[at]) {
                        sb_t t = {0};
                        int m = 0;
                        if (ii == (long)n) { sb_puts(&t, "\"\""); m++; }
                        else {
                            if (kv[ii] && OKC(cc + 1) && aA[(size_t)(ii + 1) * W + (size_t)SAT(cc + 1)])
                                sb_printf(&t, "%s%s\",\"%s%s r%d", m++ ? " | " : "", w, w, kv[ii], idA[(size_t)(ii + 1) * W + (size_t)SAT(cc + 1)]);
                            if (opt[ii] && aB[(size_t)(ii + 1) * W + (size_t)cc])
                                sb_printf(&t, "%sr%d", m++ ? " | " : "", idB[(size_t)(ii + 1) * W + (size_t)cc]);
                        }
                        rule_def(c, idB[at], sb_str(&t));
                        sb_free(&t);
                    }
                }
                if (aD[ii]) {
                    sb_t t = {0};
                    int m = 0;
                    if (ii == (long)n) { sb_puts(&t, "\"\""); m++; }
                    else {
                        if (kv[ii] && OKC(1) && aA[(size_t)(ii + 1) * W + (size_t)SAT(1)])
                            sb_printf(&t, "%s%s r%d", m++ ? " | " : "", kv[ii], idA[(size_t)(ii + 1) * W + (size_t)SAT(1)]);
                        if (opt[ii] && aD[ii + 1]) sb_printf(&t, "%sr%d", m++ ? " | " : "", idD[ii + 1]);
                    }
                    rule_def(c, idD[ii], sb_str(&t));
                    sb_free(&t);
                }
            }
            sb_printf(b, "\"{\"%s(", w);
            int m = 0;
            if (root_e) sb_printf(b, "%s r%d", E, idA[SAT(1)]), m++;
            if (aD[0]) sb_printf(b, "%sr%d", m++ ? " | " : "", idD[0]);
            sb_printf(b, ")%s\"}\"", w);
        }
#undef SAT
#undef OKC
        free(aA); free(aB); free(aD); free(idA); free(idB); free(idD);
    }
    free(E);
out:
    for (size_t j = 0; j < n; j++) free(kv[j]);
    free(kv);
    free(opt);
    free(names);
    free(psch);
    return ret;
}

/* ---- oneOf disjointness (conservative proof) */

static unsigned eff_types(ctx_t *c, json_t *s) {
    if (json_is_false(s)) return 0;
    if (!json_is_object(s)) return T_ALL;
    unsigned t = schema_types(s);
    if (t == (unsigned)-1) t = T_ALL;
    json_t *e = enum_of(s);
    if (e) {
        unsigned u = 0;
        for (size_t i = 0; i < json_array_size(e); i++) {
            unsigned vt = value_type(c, json_array_get(e, i));
            u |= vt == T_INT ? (T_INT) : vt;
        }
        json_decref(e);
        t &= u;
    }
    return t;
}

static int disjoint(ctx_t *c, json_t *a, json_t *b, int depth) {
    if (depth > 8) return 0;
    int save = c->failed;
    json_t *fa = flatten(c, a, "", depth), *fb = flatten(c, b, "", depth);
    if (!fa || !fb) { c->failed = save; return 0; }
    a = fa;
    b = fb;
    if (json_is_false(a) || json_is_false(b)) return 1;
    unsigned ta = eff_types(c, a), tb = eff_types(c, b);
    /* integer vs number overlap: T_INT bits compare; T_FRAC alone is non-integers */
    unsigned common = ta & tb;
    if (!common) return 1;
    /* enum values of one side all rejected by the other */
    json_t *sides[2][2] = {{a, b}, {b, a}};
    for (int k = 0; k < 2; k++) {
        json_t *e = json_is_object(sides[k][0]) ? enum_of(sides[k][0]) : NULL;
        if (!e) continue;
        int all_out = 1;
        for (size_t i = 0; i < json_array_size(e); i++)
            if (validate(c, json_array_get(e, i), sides[k][1], 0) != 0) all_out = 0;
        json_decref(e);
        if (all_out) return 1;
    }
    if (!json_is_object(a) || !json_is_object(b)) return 0;
    /* per type: disjoint ranges of the keyword that applies to it */
    unsigned proven = 0;
    static const struct { unsigned bits; const char *lo, *hi; } rng[] = {
        {T_STR, "minLength", "maxLength"}, {T_ARR, "minItems", "maxItems"}, {T_OBJ, "minProperties", "maxProperties"}};
    for (size_t i = 0; i < 3; i++) {
        double alo = 0, ahi = 1e300, blo = 0, bhi = 1e300;
        json_t *x;
        if ((x = json_object_get(a, rng[i].lo)) && json_is_number(x)) alo = json_number_value(x);
        if ((x = json_object_get(a, rng[i].hi)) && json_is_number(x)) ahi = json_number_value(x);
        if ((x = json_object_get(b, rng[i].lo)) && json_is_number(x)) blo = json_number_value(x);
        if ((x = json_object_get(b, rng[i].hi)) && json_is_number(x)) bhi = json_number_value(x);
        if (ahi < blo || bhi < alo) proven |= rng[i].bits;
    }
    {
        /* numbers: [lo, hi] with exclusivity (draft-6 numeric forms only) */
        double lo[2], hi[2];
        int lox[2], hix[2], ok = 1;
        json_t *sd[2] = {a, b};
        for (int k = 0; k < 2; k++) {
            json_t *mi = json_object_get(sd[k], "minimum"), *ma = json_object_get(sd[k], "maximum");
            json_t *xmi = json_object_get(sd[k], "exclusiveMinimum"), *xma = json_object_get(sd[k], "exclusiveMaximum");
            if (json_is_boolean(xmi) || json_is_boolean(xma)) ok = 0;
            lo[k] = -1e300; hi[k] = 1e300; lox[k] = hix[k] = 0;
            if (json_is_number(mi)) lo[k] = json_number_value(mi);
            if (json_is_number(xmi) && json_number_value(xmi) >= lo[k]) { lo[k] = json_number_value(xmi); lox[k] = 1; }
            if (json_is_number(ma)) hi[k] = json_number_value(ma);
            if (json_is_number(xma) && json_number_value(xma) <= hi[k]) { hi[k] = json_number_value(xma); hix[k] = 1; }
        }
        if (ok && (hi[0] < lo[1] || (hi[0] == lo[1] && (hix[0] || lox[1])) || hi[1] < lo[0] ||
                   (hi[1] == lo[0] && (hix[1] || lox[0]))))
            proven |= T_INT | T_FRAC;
    }
    /* objects: a required property whose schemas are disjoint or forbidden on the other side */
    for (int k = 0; k < 2 && (common & T_OBJ) && !(proven & T_OBJ); k++) {
        json_t *x = sides[k][0], *y = sides[k][1];
        if (!json_is_object(x) || !json_is_object(y)) continue;
        json_t *req = json_object_get(x, "required");
        json_t *px = json_object_get(x, "properties"), *py = json_object_get(y, "properties");
        json_t *apy = json_object_get(y, "additionalProperties");
        for (size_t i = 0; json_is_array(req) && i < json_array_size(req); i++) {
            const char *p = json_string_value(json_array_get(req, i));
            if (!p) continue;
            json_t *sy = py ? json_object_get(py, p) : NULL;
            if (!sy && json_is_false(apy) && !json_object_get(y, "patternProperties")) { proven |= T_OBJ; break; }
            if (!sy) continue;
            json_t *sx = px ? json_object_get(px, p) : NULL;
            if (!sx) continue;
            json_t *ry = json_object_get(y, "required");
            int yreq = 0;
            for (size_t j = 0; json_is_array(ry) && j < json_array_size(ry); j++)
                if (json_is_string(json_array_get(ry, j)) && !strcmp(json_string_value(json_array_get(ry, j)), p)) yreq = 1;
            (void)yreq; /* present in x's instances, so y's schema for it applies either way */
            if (disjoint(c, sx, sy, depth + 1)) { proven |= T_OBJ; break; }
        }
    }
    return (common & ~proven) == 0;
}

/* ---- not / dependencies, rewritten into supported keywords */

static unsigned types_or_all(const json_t *s) {
    unsigned t = schema_types(s);
    return t == (unsigned)-1 ? T_ALL : t;
}
static json_t *types_json(unsigned t) {
    static const char *nm[] = {"null", "boolean", "integer", "number", "string", "array", "object"};
    json_t *arr = json_array();
    for (int i = 0; i < 7; i++) {
        unsigned bit = 1u << i;
        if (bit == T_INT && (t & T_FRAC)) continue;
        if (bit == T_FRAC) { if (t & T_FRAC) json_array_append_new(arr, json_string("number")); continue; }
        if (t & bit) json_array_append_new(arr, json_string(nm[i]));
    }
    return arr;
}

/* The complement of one keyword group of a schema, as schemas whose union
 * is exactly the instances that violate it (keywords constrain only their
 * own type, so each piece carries that type). Appends to out; 0 = cannot. */
static int not_piece(ctx_t *c, const char *k, json_t *v, json_t *n, json_t *out) {
    if (!strcmp(k, "type")) {
        unsigned ex = schema_types(n);
        if (ex == (unsigned)-1) return 0;
        unsigned t = T_ALL & ~ex;
        if ((t & T_FRAC) && !(t & T_INT)) return 0;
        if (t) json_array_append_new(out, json_pack("{s:o}", "type", types_json(t)));
        return 1;
    }
    if (!strcmp(k, "required")) {
        if (!json_is_array(v)) return 0;
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e) {
            if (!json_is_string(e)) return 0;
            json_array_append_new(out, json_pack("{s:s,s:{s:b}}", "type", "object", "properties", json_string_value(e), 0));
        }
        return 1;
    }
    if (!strcmp(k, "properties")) {
        if (!json_is_object(v)) return 0;
        const char *pk;
        json_t *pv;
        json_object_foreach(v, pk, pv)
            json_array_append_new(out, json_pack("{s:s,s:[s],s:{s:{s:O}}}", "type", "object", "required", pk, "properties", pk, "not", pv));
        return 1;
    }
    static const struct { const char *k, *neg, *type; int delta; } cmp[] = {
        {"minimum", "exclusiveMaximum", "number", 0}, {"maximum", "exclusiveMinimum", "number", 0},
        {"exclusiveMinimum", "maximum", "number", 0}, {"exclusiveMaximum", "minimum", "number", 0},
        {"minLength", "maxLength", "string", -1}, {"maxLength", "minLength", "string", 1},
        {"minItems", "maxItems", "array", -1}, {"maxItems", "minItems", "array", 1},
        {"minProperties", "maxProperties", "object", -1}, {"maxProperties", "minProperties", "object", 1}};
    for (size_t i = 0; i < sizeof cmp / sizeof cmp[0]; i++) {
        if (strcmp(k, cmp[i].k)) continue;
        if (!json_is_number(v)) return 0;
        if (json_object_get(n, "exclusiveMinimum") && json_is_boolean(json_object_get(n, "exclusiveMinimum"))) return 0;
        if (json_object_get(n, "exclusiveMaximum") && json_is_boolean(json_object_get(n, "exclusiveMaximum"))) return 0;
        double x = json_number_value(v) + cmp[i].delta;
        if (x < 0 && cmp[i].delta) return 1; /* e.g. not minLength 0: nothing */
        json_t *val = cmp[i].delta ? json_integer((json_int_t)x) : json_copy(v);
        json_array_append_new(out, json_pack("{s:s,s:o}", "type", cmp[i].type, cmp[i].neg, val));
        return 1;
    }
    if (!strcmp(k, "anyOf") || !strcmp(k, "not") || !strcmp(k, "allOf")) {
        json_array_append_new(out, json_pack("{s:{s:O}}", "not", k, v));
        return 1;
    }
    if ((!strcmp(k, "enum") || !strcmp(k, "const")) && !json_object_get(n, k[0] == 'e' ? "const" : "enum")) {
        /* values other than these: strings outside the set, the other
         * boolean, and every type with no value in the set */
        json_t *vals = enum_of(n);
        json_t *strs = json_array();
        int has_t = 0, has_f = 0, has_null = 0, other = 0;
        size_t i;
        json_t *e;
        json_array_foreach(vals, i, e) {
            if (json_is_string(e)) json_array_append(strs, e);
            else if (json_is_true(e)) has_t = 1;
            else if (json_is_false(e)) has_f = 1;
            else if (json_is_null(e)) has_null = 1;
            else other = 1;
        }
        json_decref(vals);
        if (other) { json_decref(strs); return 0; }
        unsigned t = T_INT | T_FRAC | T_ARR | T_OBJ | (has_null ? 0 : T_NULL) | (has_t || has_f ? 0 : T_BOOL) |
                     (json_array_size(strs) ? 0 : T_STR);
        json_array_append_new(out, json_pack("{s:o}", "type", types_json(t)));
        if (json_array_size(strs)) json_array_append_new(out, json_pack("{s:s,s:O}", "type", "string", "x-pg-notin", strs));
        if (has_t != has_f) json_array_append_new(out, json_pack("{s:b}", "const", !has_t));
        json_decref(strs);
        return 1;
    }
    return 0;
}

/* s has "not": returns an equivalent schema without it, or NULL (failed).
 * not (A and B ...) = anyOf (not A, not B, ...) per keyword; not anyOf =
 * all of the nots; not not X = X. */
static json_t *apply_not(ctx_t *c, json_t *s, const char *path, int depth) {
    char sp[512];
    subpath(sp, sizeof sp, path, "not");
    if (depth > 8) { fail(c, sp, "unsupported keyword 'not' (nested too deeply)"); return NULL; }
    json_t *rest = own(c, json_copy(s));
    json_object_del(rest, "not");
    json_t *n = flatten(c, json_object_get(s, "not"), sp, 0);
    if (!n) return NULL;
    if (json_is_false(n)) return rest;
    if (json_is_true(n) || (json_is_object(n) && !n_constraints(n))) return json_false();
    if (!json_is_object(n)) { fail(c, sp, "schema must be an object or boolean"); return NULL; }
    json_t *v;
    if (n_constraints(n) == 1 && (v = json_object_get(n, "anyOf")) && json_is_array(v)) {
        /* not anyOf [X...] = all of not X */
        json_t *cur = rest;
        size_t i;
        json_t *x;
        json_array_foreach(v, i, x) {
            if (json_is_false(cur)) return json_false();
            json_t *t = own(c, json_copy(cur));
            json_object_set(t, "not", x);
            cur = apply_not(c, t, path, depth + 1);
            if (!cur) return NULL;
        }
        return cur;
    }
    if (n_constraints(n) == 1 && (v = json_object_get(n, "not"))) return merge(c, rest, v, path, 0);
    if (n_constraints(n) == 1 && (v = json_object_get(n, "allOf")) && json_is_array(v)) {
        json_t *alts = json_array();
        size_t i;
        json_t *x;
        json_array_foreach(v, i, x) json_array_append_new(alts, json_pack("{s:O}", "not", x));
        n = own(c, json_pack("{s:o}", "anyOf", alts));
        json_t *pieces = json_array();
        json_array_foreach(json_object_get(n, "anyOf"), i, x) json_array_append(pieces, x);
        json_t *r = own(c, json_pack("{s:o}", "anyOf", json_array()));
        json_array_foreach(pieces, i, x) {
            json_t *m = merge(c, rest, x, path, 0);
            if (!m) { json_decref(pieces); return NULL; }
            json_array_append(json_object_get(r, "anyOf"), m);
        }
        json_decref(pieces);
        return r;
    }
    json_t *pieces = json_array();
    const char *k;
    json_object_foreach(n, k, v) {
        if (!is_constraint(k)) continue;
        if (!not_piece(c, k, v, n, pieces)) {
            json_decref(pieces);
            fail(c, sp, "unsupported keyword 'not' (of '%s')", k);
            return NULL;
        }
    }
    if (json_array_size(pieces) > 64) { json_decref(pieces); fail(c, sp, "unsupported keyword 'not' (too many cases)"); return NULL; }
    json_t *alts = json_array();
    size_t i;
    json_t *x;
    json_array_foreach(pieces, i, x) {
        json_t *m = merge(c, rest, x, path, 0);
        if (!m) { json_decref(pieces); json_decref(alts); return NULL; }
        json_array_append(alts, m);
    }
    json_decref(pieces);
    if (!json_array_size(alts)) { json_decref(alts); return json_false(); }
    json_t *r = own(c, json_object());
    json_object_set_new(r, "anyOf", alts);
    return r;
}

/* s has dependencies / dependentRequired / dependentSchemas: an anyOf of the
 * presence cases (disjoint, so exact). NULL on failure. */
static json_t *apply_deps(ctx_t *c, json_t *s, const char *path) {
    static const char *const keys[] = {"dependencies", "dependentRequired", "dependentSchemas"};
    json_t *rest = own(c, json_copy(s));
    const char *names[8];
    json_t *deps[8];
    int k = 0;
    for (int i = 0; i < 3; i++) {
        json_t *d = json_object_get(s, keys[i]);
        json_object_del(rest, keys[i]);
        if (!d) continue;
        if (!json_is_object(d)) { fail(c, path, "bad value of '%s'", keys[i]); return NULL; }
        const char *nm;
        json_t *v;
        json_object_foreach(d, nm, v) {
            if (k == 5) { fail(c, path, "unsupported keyword '%s' (more than 5 dependencies)", keys[i]); return NULL; }
            names[k] = nm;
            deps[k++] = v;
        }
    }
    json_t *alts = json_array();
    for (int mask = 0; mask < (1 << k); mask++) {
        json_t *cur = rest;
        for (int i = 0; i < k && !json_is_false(cur); i++) {
            json_t *add;
            if (mask & (1 << i)) {
                if (json_is_array(deps[i])) {
                    add = json_pack("{s:[s]}", "required", names[i]);
                    size_t j;
                    json_t *e;
                    json_array_foreach(deps[i], j, e) json_array_append(json_object_get(add, "required"), e);
                } else {
                    add = json_pack("{s:[s],s:[O]}", "required", names[i], "allOf", deps[i]);
                }
            } else add = json_pack("{s:{s:b}}", "properties", names[i], 0);
            own(c, add);
            /* constraints only apply to objects: keep other types through anyOf with a non-object branch */
            cur = merge(c, cur, add, path, 0);
            if (!cur) { json_decref(alts); return NULL; }
        }
        json_array_append(alts, cur);
    }
    /* non-object instances satisfy dependencies trivially */
    json_t *nonobj = json_copy(rest);
    unsigned t = types_or_all(rest) & ~(unsigned)T_OBJ;
    json_object_set_new(nonobj, "type", types_json(t));
    if (t) json_array_append_new(alts, nonobj);
    else json_decref(nonobj);
    json_t *r = own(c, json_object());
    json_object_set_new(r, "anyOf", alts);
    return r;
}

/* ---- main dispatch */

static int gen_body(ctx_t *c, json_t *s, const char *path, sb_t *b) {
    if (json_is_true(s)) { need(c, B_VALUE); sb_puts(b, "value"); return R_OK; }
    if (json_is_false(s)) return R_NEVER;
    if (!json_is_object(s)) return fail(c, path, "schema must be an object or boolean");
    const char *k;
    json_t *v;
    json_object_foreach(s, k, v) {
        if (in_list(k, REFUSED)) return fail(c, path, "unsupported keyword '%s'", k);
        if (!strcmp(k, "if") && (json_object_get(s, "then") || json_object_get(s, "else")))
            return fail(c, path, "unsupported keyword 'if'");
    }
    char nm[24];
    /* $ref */
    json_t *ref = json_object_get(s, "$ref");
    if (ref) {
        int sib;
        json_t *t = deref(c, s, path, &sib);
        if (!t) return R_ERR;
        if (sib) {
            json_t *m = flatten(c, s, path, 0);
            if (!m) return R_ERR;
            int r = gen(c, m, path, nm);
            if (r == R_OK) sb_puts(b, nm);
            return r;
        }
        char sp[512];
        snprintf(sp, sizeof sp, "%s", json_string_value(ref));
        int r = gen(c, t, sp, nm);
        if (r == R_OK) sb_puts(b, nm);
        return r;
    }
    if (json_object_get(s, "allOf")) {
        json_t *m = flatten(c, s, path, 0);
        if (!m) return R_ERR;
        if (json_is_object(m) && json_object_get(m, "allOf")) return fail(c, path, "unsupported keyword 'allOf'");
        int r = gen(c, m, path, nm);
        if (r == R_OK) sb_puts(b, nm);
        return r;
    }
    /* enum/const first: the other keywords (combinators included) only
     * filter its values */
    {
        json_t *en = enum_of(s);
        if (en) {
            /* keep the values the other keywords accept */
            json_t *rest = own(c, json_copy(s));
            json_object_del(rest, "enum");
            json_object_del(rest, "const");
            int n = 0;
            sb_t t = {0};
            for (size_t i = 0; i < json_array_size(en); i++) {
                json_t *val = json_array_get(en, i);
                int r = validate(c, val, rest, 0);
                if (r < 0) {
                    json_decref(en);
                    sb_free(&t);
                    if (json_object_get(s, "not") || json_object_get(s, "anyOf") || json_object_get(s, "oneOf") ||
                        json_object_get(s, "dependencies") || json_object_get(s, "dependentRequired") ||
                        json_object_get(s, "dependentSchemas"))
                        goto combinators; /* they carry the enum into their branches */
                    return fail(c, path, "unsupported keyword 'enum' combined with keywords that cannot be checked on its values");
                }
                if (!r) continue;
                if (n++) sb_puts(&t, " | ");
                emit_literal(c, &t, val);
            }
            json_decref(en);
            if (n) sb_puts(b, sb_str(&t));
            sb_free(&t);
            return n ? R_OK : R_NEVER;
        }
    }
combinators:
    if (json_object_get(s, "not")) {
        json_t *m = apply_not(c, s, path, 0);
        if (!m) return R_ERR;
        int r = gen(c, m, path, nm);
        if (r == R_OK) sb_puts(b, nm);
        return r;
    }
    if (json_object_get(s, "dependencies") || json_object_get(s, "dependentRequired") || json_object_get(s, "dependentSchemas")) {
        json_t *m = apply_deps(c, s, path);
        if (!m) return R_ERR;
        int r = gen(c, m, path, nm);
        if (r == R_OK) sb_puts(b, nm);
        return r;
    }
    const char *comb = json_object_get(s, "anyOf") ? "anyOf" : json_object_get(s, "oneOf") ? "oneOf" : NULL;
    if (comb) {
        json_t *alts = json_object_get(s, comb);
        if (!json_is_array(alts) || !json_array_size(alts)) return fail(c, path, "bad value of '%s'", comb);
        json_t *rest = own(c, json_copy(s));
        json_object_del(rest, comb);
        int plain = !has_constraints_except(rest, NULL, NULL);
        size_t na = json_array_size(alts);
        json_t **m = calloc(na, sizeof *m);
        if (!m) abort();
        for (size_t i = 0; i < na; i++) {
            char sp[512];
            subpath_i(sp, sizeof sp, path, comb, i);
            m[i] = plain ? json_array_get(alts, i) : merge(c, rest, json_array_get(alts, i), sp, 0);
            if (!m[i]) { free(m); return R_ERR; }
        }
        if (comb[0] == 'o') {
            size_t bi = 0, bj = 0;
            int overlap = 0;
            for (size_t i = 0; i < na && !overlap; i++)
                for (size_t j = i + 1; j < na && !overlap; j++)
                    if (!disjoint(c, m[i], m[j], 0)) { overlap = 1; bi = i; bj = j; }
            if (overlap && na > 8) {
                free(m);
                return fail(c, path, "unsupported keyword 'oneOf' (alternatives %zu and %zu may overlap)", bi, bj);
            }
            if (overlap) {
                /* exactly one: alternative i and not any other (when 'not' can
                 * express the others, e.g. required-only alternatives) */
                char save = c->err && c->errlen ? c->err[0] : 0;
                for (size_t i = 0; i < na; i++) {
                    json_t *t = own(c, json_is_object(m[i]) ? json_copy(m[i]) : json_object());
                    if (json_is_false(m[i])) continue;
                    json_t *others = json_array();
                    for (size_t j = 0; j < na; j++) if (j != i) json_array_append(others, json_array_get(alts, j));
                    json_object_set_new(t, "not", json_pack("{s:o}", "anyOf", others));
                    json_t *x = apply_not(c, t, path, 0);
                    if (!x) {
                        c->failed = 0;
                        if (c->err && c->errlen) c->err[0] = save;
                        free(m);
                        return fail(c, path, "unsupported keyword 'oneOf' (alternatives %zu and %zu may overlap)", bi, bj);
                    }
                    m[i] = x;
                }
            }
        }
        int n = 0;
        sb_t t = {0};
        for (size_t i = 0; i < na; i++) {
            char sp[512];
            subpath_i(sp, sizeof sp, path, comb, i);
            int r = gen(c, m[i], sp, nm);
            if (r == R_ERR) { free(m); sb_free(&t); return R_ERR; }
            if (r == R_OK) sb_printf(&t, "%s%s", n++ ? " | " : "", nm);
        }
        free(m);
        if (n) sb_puts(b, sb_str(&t));
        sb_free(&t);
        return n ? R_OK : R_NEVER;
    }
    unsigned types = schema_types(s);
    if (types == (unsigned)-1) return fail(c, path, "bad value of 'type'");
    int n = 0;
    sb_t t = {0};
    int r;
    if (types & T_NULL) { sb_printf(&t, "%s\"null\"", n++ ? " | " : ""); }
    if (types & T_BOOL) { sb_printf(&t, "%s\"true\" | \"false\"", n++ ? " | " : ""); }
    if (types & (T_INT | T_FRAC)) {
        sb_t e = {0};
        r = gen_number(c, s, path, types, &e);
        if (r == R_OK) sb_printf(&t, "%s%s", n++ ? " | " : "", sb_str(&e));
        sb_free(&e);
        if (r == R_ERR) { sb_free(&t); return r; }
    }
    if (types & T_STR) {
        sb_t e = {0};
        r = gen_string(c, s, path, &e);
        if (r == R_OK) sb_printf(&t, "%s%s", n++ ? " | " : "", sb_str(&e));
        sb_free(&e);
        if (r == R_ERR) { sb_free(&t); return r; }
    }
    if (types & T_ARR) {
        sb_t e = {0};
        r = gen_array(c, s, path, &e);
        if (r == R_OK) sb_printf(&t, "%s%s", n++ ? " | " : "", sb_str(&e));
        sb_free(&e);
        if (r == R_ERR) { sb_free(&t); return r; }
    }
    if (types & T_OBJ) {
        sb_t e = {0};
        r = gen_object(c, s, path, &e);
        if (r == R_OK) sb_printf(&t, "%s%s", n++ ? " | " : "", sb_str(&e));
        sb_free(&e);
        if (r == R_ERR) { sb_free(&t); return r; }
    }
    if (n) sb_puts(b, sb_str(&t));
    sb_free(&t);
    return n ? R_OK : R_NEVER;
}

static int gen(ctx_t *c, json_t *s, const char *path, char *name) {
    if (c->failed) return R_ERR;
    if (json_is_true(s)) { need(c, B_VALUE); strcpy(name, "value"); return R_OK; }
    if (json_is_false(s)) return R_NEVER;
    for (size_t h = c->mcap ? (size_t)hash_ptr(s) & (c->mcap - 1) : 0; c->mcap && c->mhash[h] >= 0; h = (h + 1) & (c->mcap - 1)) {
        memo_t *m = &c->memo[c->mhash[h]];
        if (m->node != s) continue;
        if (m->state == 0) { m->used_early = 1; snprintf(name, 24, "r%d", m->id); return R_OK; }
        if (m->result == R_OK) snprintf(name, 24, "r%d", m->id);
        return m->result;
    }
    if (c->depth > MAX_DEPTH) return fail(c, path, "schema nested too deeply");
    if (c->nmemo == c->capmemo) {
        c->capmemo = c->capmemo ? 2 * c->capmemo : 64;
        c->memo = realloc(c->memo, c->capmemo * sizeof *c->memo);
        if (!c->memo) abort();
    }
    size_t mi = c->nmemo++;
    int id = rule_new(c);
    c->memo[mi] = (memo_t){s, id, 0, 0, 0};
    if (2 * c->nmemo + 2 > c->mcap) idx_rebuild(&c->mhash, &c->mcap, c->nmemo, memo_key, c);
    else {
        size_t h = (size_t)hash_ptr(s) & (c->mcap - 1);
        while (c->mhash[h] >= 0) h = (h + 1) & (c->mcap - 1);
        c->mhash[h] = (int)mi;
    }
    c->depth++;
    sb_t body = {0};
    int r = gen_body(c, s, path, &body);
    c->depth--;
    memo_t *m = &c->memo[mi];
    m->state = 1;
    m->result = r;
    if (r == R_OK) {
        rule_def(c, id, sb_str(&body));
        snprintf(name, 24, "r%d", id);
    } else if (r == R_NEVER && m->used_early) {
        r = m->result = fail(c, path, "schema admits no value but is referenced recursively");
    }
    sb_free(&body);
    return r;
}

/* ------------------------------------------------------------ entry */

static int detect_draft(json_t *root) {
    json_t *sv = json_is_object(root) ? json_object_get(root, "$schema") : NULL;
    const char *s = json_is_string(sv) ? json_string_value(sv) : "";
    if (strstr(s, "draft-03") || strstr(s, "draft-04")) return 4;
    if (strstr(s, "draft-06")) return 6;
    if (strstr(s, "draft-07")) return 7;
    if (strstr(s, "2019-09")) return 2019;
    return 2020;
}

int pg_jsonschema_to_gbnf(const char *schema_json, size_t len, unsigned flags, char **gbnf_out, char *err,
                          size_t errlen) {
    *gbnf_out = NULL;
    if (err && errlen) err[0] = 0;
    json_error_t je;
    json_t *root = json_loadb(schema_json, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &je);
    if (!root) {
        if (err && errlen) snprintf(err, errlen, "schema is not valid JSON: %s (line %d)", je.text, je.line);
        return -1;
    }
    ctx_t c = {0};
    c.root = root;
    c.flags = flags;
    c.draft = detect_draft(root);
    c.owned = json_array();
    c.err = err;
    c.errlen = errlen;
    char nm[24];
    int r = gen(&c, root, "", nm);
    int ret = 0;
    if (r == R_ERR) ret = -1;
    else if (r == R_NEVER) {
        if (err && errlen) snprintf(err, errlen, "schema admits no value at /");
        ret = -1;
    } else {
        sb_t o = {0};
        if (flags & PG_JS_FLEXIBLE_WS) need(&c, B_WS);
        sb_printf(&o, "root ::= %s\n", nm);
        sb_puts(&o, sb_str(&c.out));
        *gbnf_out = o.p;
    }
    sb_free(&c.out);
    free(c.memo);
    free(c.mhash);
    free(c.dhash);
    for (size_t i = 0; i < c.ndedup; i++) free(c.dedup_txt[i]);
    free(c.dedup_txt);
    free(c.dedup_id);
    json_decref(c.owned);
    json_decref(root);
    return ret;
}
