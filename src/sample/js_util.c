/* js_util.c - shared plumbing of the JSON Schema -> GBNF compiler (see
 * jsonschema.c for the design): growable string buffers, code point sets,
 * the compile context (errors, rule naming, helper-rule deduplication and the
 * basic helper rules emitted on demand) and the GBNF/JSON encoders of
 * literals and character classes. */
#include "sample/js_impl.h"


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


void sb_putn(sb_t *b, const char *s, size_t n) {
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
void sb_puts(sb_t *b, const char *s) { sb_putn(b, s, strlen(s)); }
void sb_printf(sb_t *b, const char *fmt, ...) {
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
const char *sb_str(sb_t *b) { return b->p ? b->p : ""; }
void sb_free(sb_t *b) {
    free(b->p);
    b->p = NULL;
    b->n = b->cap = 0;
}


void cs_add(cpset *s, uint32_t lo, uint32_t hi) {
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
void cs_norm(cpset *s) {
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
void cs_free(cpset *s) {
    free(s->r);
    s->r = NULL;
    s->n = s->cap = 0;
}
void cs_copy(cpset *d, const cpset *s) {
    d->r = NULL;
    d->n = d->cap = 0;
    for (int i = 0; i < s->n; i++) cs_add(d, s->r[i][0], s->r[i][1]);
}
void cs_union(cpset *d, const cpset *s) {
    for (int i = 0; i < s->n; i++) cs_add(d, s->r[i][0], s->r[i][1]);
    cs_norm(d);
}
/* complement within [0, CP_MAX] (normalised input) */
void cs_complement(cpset *s) {
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
void cs_remove(cpset *s, uint32_t lo, uint32_t hi) {
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


int fail(ctx_t *c, const char *path, const char *fmt, ...) {
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

void subpath(char *dst, size_t n, const char *path, const char *key) {
    snprintf(dst, n, "%s/%s", path, key);
}
void subpath_i(char *dst, size_t n, const char *path, const char *key, size_t i) {
    snprintf(dst, n, "%s/%s/%zu", path, key, i);
}


int rule_new(ctx_t *c) { return c->nrules++; }
void rule_def(ctx_t *c, int id, const char *body) {
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
uint64_t hash_ptr(const void *p) {
    uint64_t h = (uint64_t)(uintptr_t)p;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    return h;
}
/* (re)build an index table of n entries with keys from key(i) */
void idx_rebuild(int **tab, size_t *cap, size_t n, uint64_t (*key)(void *, size_t), void *ctx) {
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
uint64_t memo_key(void *cx, size_t i) { return hash_ptr(((ctx_t *)cx)->memo[i].node); }

int rule_dedup(ctx_t *c, const char *body) {
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

const char *WS(ctx_t *c) { return (c->flags & PG_JS_FLEXIBLE_WS) ? " ws " : " "; }


void need(ctx_t *c, unsigned b) {
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

int utf8_dec(const unsigned char *s, size_t n, uint32_t *cp) {
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
void gbnf_lit(sb_t *b, const char *s, size_t n) {
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
void json_str_enc(sb_t *b, const char *s, size_t n) {
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
int enc_class(ctx_t *c, sb_t *b, const cpset *s) {
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
