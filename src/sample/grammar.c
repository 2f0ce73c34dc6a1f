/* grammar.c - GBNF text -> compiled grammar (see grammar.h, gram_internal.h).
 * This file holds step 1 (the parser); steps 2-4 are in gram_build.c, and
 * both share gram_impl.h.
 *
 * Pipeline:
 *   1. parse: GBNF -> rules, each an expression tree (gx nodes: literal
 *      bytes, code point class, rule reference, sequence, alternation,
 *      repetition {min,max}). Errors carry line:column.
 *   2. analysis: Tarjan SCCs over rule references; a rule is "regular" when
 *      it is on no cycle and refers only to regular rules. Every expression
 *      gets an NFA size estimate (saturating; a reference to a non-regular
 *      rule counts as infinite).
 *   3. CFG: an expression whose estimate is <= LEX_LIMIT and that inlines
 *      no regular rule with a repetition becomes one lexeme (single-
 *      character rules such as `char` are inlined); adjacent literal/class/
 *      group elements of a sequence are merged into one lexeme; a reference
 *      to a regular rule is its own lexeme, and rules with equal bodies
 *      share it (so the JSON string / number of a schema is one DFA shared
 *      by every use). Bounded repetitions too big for one DFA become chunk
 *      lexemes x{K} / x{m,K-1} under a right-nested rule chain.
 *      Everything else becomes nonterminals: groups get auxiliary rules,
 *      x* -> X ::= e | X x (left recursion, cheap for Earley), x+ -> x X,
 *      {m,n} -> m copies then nested optionals.
 *   4. lexeme NFAs (Thompson construction over bytes; classes expand to
 *      UTF-8 byte sequences, surrogates excluded), then dead NFA states are
 *      trimmed, unproductive productions removed (root unproductive = a
 *      grammar that matches no string: error), nullable sets computed.
 */
#include "sample/gram_impl.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


void *gram_xrealloc(void *p, size_t n) {
    void *q = realloc(p, n ? n : 1);
    if (!q) PG_PANIC("grammar: out of memory (%zu bytes)", n);
    return q;
}


int gb_fail(gb *b, int code, const char *fmt, ...) {
    if (b->failed) return b->err ? b->err->code : code;
    b->failed = 1;
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return pg_error_set(b->err, code, "%s", msg);
}

void line_col(const gb *b, size_t pos, int32_t *line, int32_t *col) {
    int32_t l = 1, c = 1;
    for (size_t i = 0; i < pos && i < b->n; i++) {
        if (b->s[i] == '\n') { l++; c = 1; }
        else c++;
    }
    *line = l;
    *col = c;
}

static int perr(gb *b, const char *what) {
    int32_t l, c;
    line_col(b, b->pos, &l, &c);
    return gb_fail(b, PG_EFORMAT, "grammar: line %d col %d: %s", l, c, what);
}

int32_t new_x(gb *b, int k) {
    gx z;
    memset(&z, 0, sizeof z);
    z.k = (uint8_t)k;
    VPUSH(b->x, b->nx, b->capx, z);
    return (int32_t)(b->nx - 1);
}

int32_t new_list(gb *b, int k, const int32_t *items, int32_t n) {
    int32_t e = new_x(b, k);
    b->x[e].kid0 = (int32_t)b->nkids;
    b->x[e].nk = n;
    for (int32_t i = 0; i < n; i++) VPUSH(b->kids, b->nkids, b->capkids, items[i]);
    return e;
}

size_t name_hash(const char *s, size_t n) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) { h ^= (unsigned char)s[i]; h *= 1099511628211ull; }
    return (size_t)(h ^ (h >> 31));
}

int32_t find_rule(gb *b, const char *name, size_t len, int create) {
    if (b->rh_cap) {
        size_t h = name_hash(name, len) & (b->rh_cap - 1);
        while (b->rh[h] >= 0) {
            const char *rn = b->rules[b->rh[h]].name;
            if (!strncmp(rn, name, len) && rn[len] == 0) return b->rh[h];
            h = (h + 1) & (b->rh_cap - 1);
        }
    }
    if (!create) return -1;
    grule r;
    r.name = gram_xrealloc(NULL, len + 1);
    memcpy(r.name, name, len);
    r.name[len] = 0;
    r.body = -1;
    r.ref_pos = 0;
    VPUSH(b->rules, b->nrules, b->caprules, r);
    int32_t id = (int32_t)(b->nrules - 1);
    if (b->nrules * 2 > b->rh_cap) {
        size_t nc = b->rh_cap ? b->rh_cap * 2 : 256;
        free(b->rh);
        b->rh = gram_xrealloc(NULL, nc * sizeof *b->rh);
        for (size_t i = 0; i < nc; i++) b->rh[i] = -1;
        b->rh_cap = nc;
        for (size_t i = 0; i < b->nrules; i++) {
            size_t h = name_hash(b->rules[i].name, strlen(b->rules[i].name)) & (nc - 1);
            while (b->rh[h] >= 0) h = (h + 1) & (nc - 1);
            b->rh[h] = (int32_t)i;
        }
    } else {
        size_t h = name_hash(name, len) & (b->rh_cap - 1);
        while (b->rh[h] >= 0) h = (h + 1) & (b->rh_cap - 1);
        b->rh[h] = id;
    }
    return id;
}

/* ---------------- GBNF parser ---------------- */

static void skip_ws(gb *b) {
    while (b->pos < b->n) {
        char c = b->s[b->pos];
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r') b->pos++;
        else if (c == '#') {
            while (b->pos < b->n && b->s[b->pos] != '\n') b->pos++;
        } else break;
    }
}

static int is_name_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

/* At pos: a name followed by "::="? (returns name length, else 0) */
static size_t at_rule_def(const gb *b, size_t pos) {
    size_t p = pos;
    while (p < b->n && is_name_char(b->s[p])) p++;
    size_t len = p - pos;
    if (!len) return 0;
    while (p < b->n && (b->s[p] == ' ' || b->s[p] == '\t' || b->s[p] == '\n' || b->s[p] == '\r')) p++;
    if (p + 3 <= b->n && !memcmp(b->s + p, "::=", 3)) return len;
    return 0;
}

/* Decode one UTF-8 character of the grammar text; -1 if invalid. */
static int32_t dec_utf8(const gb *b, size_t *pos) {
    const unsigned char *s = (const unsigned char *)b->s;
    size_t p = *pos;
    unsigned c = s[p];
    int n;
    uint32_t cp;
    if (c < 0x80) { *pos = p + 1; return (int32_t)c; }
    if (c >= 0xC2 && c <= 0xDF) { n = 1; cp = c & 0x1F; }
    else if (c >= 0xE0 && c <= 0xEF) { n = 2; cp = c & 0x0F; }
    else if (c >= 0xF0 && c <= 0xF4) { n = 3; cp = c & 0x07; }
    else return -1;
    for (int i = 1; i <= n; i++) {
        if (p + (size_t)i >= b->n) return -1;
        unsigned cc = s[p + (size_t)i];
        if ((cc & 0xC0) != 0x80) return -1;
        cp = (cp << 6) | (cc & 0x3F);
    }
    if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10FFFF)) || (cp >= 0xD800 && cp <= 0xDFFF))
        return -1;
    *pos = p + (size_t)n + 1;
    return (int32_t)cp;
}

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* One (possibly escaped) character inside "..." or [...]: a code point, or -1 (error set). */
static int32_t parse_char(gb *b) {
    if (b->pos >= b->n) { perr(b, "unexpected end of grammar inside a literal"); return -1; }
    if (b->s[b->pos] != '\\') {
        int32_t cp = dec_utf8(b, &b->pos);
        if (cp < 0) perr(b, "invalid UTF-8 in grammar text");
        return cp;
    }
    b->pos++;
    if (b->pos >= b->n) { perr(b, "unexpected end of grammar after '\\'"); return -1; }
    char c = b->s[b->pos++];
    int nd = 0;
    switch (c) {
    case 'n': return '\n';
    case 'r': return '\r';
    case 't': return '\t';
    case 'f': return '\f';
    case 'v': return '\v';
    case '0': return 0;
    case '\\': case '"': case '\'': case '[': case ']': case '/': case '-': case '^': case '.':
        return (unsigned char)c;
    case 'x': nd = 2; break;
    case 'u': nd = 4; break;
    case 'U': nd = 8; break;
    default:
        b->pos--;
        perr(b, "unknown escape sequence");
        return -1;
    }
    uint32_t v = 0;
    for (int i = 0; i < nd; i++) {
        int h = b->pos < b->n ? hexval(b->s[b->pos]) : -1;
        if (h < 0) { perr(b, "bad hex digits in escape"); return -1; }
        v = v * 16 + (uint32_t)h;
        b->pos++;
    }
    if (v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) { perr(b, "escape is not a Unicode scalar value"); return -1; }
    return (int32_t)v;
}

static void put_utf8(gb *b, uint32_t cp) {
    uint8_t t[4];
    int n;
    if (cp < 0x80) { t[0] = (uint8_t)cp; n = 1; }
    else if (cp < 0x800) { t[0] = (uint8_t)(0xC0 | (cp >> 6)); t[1] = (uint8_t)(0x80 | (cp & 0x3F)); n = 2; }
    else if (cp < 0x10000) {
        t[0] = (uint8_t)(0xE0 | (cp >> 12)); t[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
        t[2] = (uint8_t)(0x80 | (cp & 0x3F)); n = 3;
    } else {
        t[0] = (uint8_t)(0xF0 | (cp >> 18)); t[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3F));
        t[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F)); t[3] = (uint8_t)(0x80 | (cp & 0x3F)); n = 4;
    }
    for (int i = 0; i < n; i++) VPUSH(b->bytes, b->nbytes, b->capbytes, t[i]);
}

static int32_t parse_alts(gb *b);

static int parse_uint(gb *b, int32_t *out) {
    if (b->pos >= b->n || b->s[b->pos] < '0' || b->s[b->pos] > '9') return perr(b, "expected a number");
    int64_t v = 0;
    while (b->pos < b->n && b->s[b->pos] >= '0' && b->s[b->pos] <= '9') {
        v = v * 10 + (b->s[b->pos] - '0');
        if (v > PG_GRAMMAR_MAX_REPEAT) return gb_fail(b, PG_ELIMIT, "grammar: repetition count over %d", PG_GRAMMAR_MAX_REPEAT);
        b->pos++;
    }
    *out = (int32_t)v;
    return 0;
}

static int32_t parse_primary(gb *b) {
    char c = b->s[b->pos];
    size_t start = b->pos;
    if (c == '"') {
        b->pos++;
        int32_t e = new_x(b, GX_STR);
        b->x[e].a = (int32_t)b->nbytes;
        while (1) {
            if (b->pos >= b->n) { b->pos = start; perr(b, "unterminated string literal"); return -1; }
            if (b->s[b->pos] == '"') { b->pos++; break; }
            int32_t cp = parse_char(b);
            if (cp < 0) return -1;
            put_utf8(b, (uint32_t)cp);
        }
        b->x[e].b = (int32_t)b->nbytes - b->x[e].a;
        return e;
    }
    if (c == '[') {
        b->pos++;
        int32_t e = new_x(b, GX_CLS);
        if (b->pos < b->n && b->s[b->pos] == '^') { b->x[e].neg = 1; b->pos++; }
        b->x[e].a = (int32_t)b->nrng;
        while (1) {
            if (b->pos >= b->n) { b->pos = start; perr(b, "unterminated character class"); return -1; }
            if (b->s[b->pos] == ']') { b->pos++; break; }
            int32_t lo = parse_char(b);
            if (lo < 0) return -1;
            int32_t hi = lo;
            if (b->pos + 1 < b->n && b->s[b->pos] == '-' && b->s[b->pos + 1] != ']') {
                b->pos++;
                hi = parse_char(b);
                if (hi < 0) return -1;
                if (hi < lo) { perr(b, "character range out of order"); return -1; }
            }
            VPUSH(b->rng, b->nrng, b->caprng, (uint32_t)lo);
            VPUSH(b->rng, b->nrng, b->caprng, (uint32_t)hi);
        }
        b->x[e].b = (int32_t)(b->nrng - (size_t)b->x[e].a) / 2;
        return e;
    }
    if (c == '.') {
        b->pos++;
        int32_t e = new_x(b, GX_CLS);
        b->x[e].neg = 1;
        b->x[e].a = (int32_t)b->nrng;
        b->x[e].b = 0;
        return e;
    }
    if (c == '(') {
        b->pos++;
        if (++b->depth > MAX_DEPTH) { gb_fail(b, PG_ELIMIT, "grammar: groups nested deeper than %d", MAX_DEPTH); return -1; }
        skip_ws(b);
        int32_t e = parse_alts(b);
        if (e < 0) return -1;
        skip_ws(b);
        if (b->pos >= b->n || b->s[b->pos] != ')') { perr(b, "expected ')'"); return -1; }
        b->pos++;
        b->depth--;
        return e;
    }
    if (is_name_char(c)) {
        size_t p0 = b->pos;
        while (b->pos < b->n && is_name_char(b->s[b->pos])) b->pos++;
        int32_t r = find_rule(b, b->s + p0, b->pos - p0, 1);
        if (!b->rules[r].ref_pos) b->rules[r].ref_pos = p0 + 1;
        int32_t e = new_x(b, GX_REF);
        b->x[e].a = r;
        return e;
    }
    perr(b, "unexpected character");
    return -1;
}

static int32_t parse_seq(gb *b) {
    int32_t *items = NULL;
    size_t ni = 0, cap = 0;
    while (1) {
        skip_ws(b);
        if (b->pos >= b->n) break;
        char c = b->s[b->pos];
        if (c == '|' || c == ')') break;
        if (at_rule_def(b, b->pos)) break;
        int32_t e = parse_primary(b);
        if (e < 0) { free(items); return -1; }
        /* postfix operators (no whitespace needed before them) */
        while (b->pos < b->n) {
            char o = b->s[b->pos];
            int32_t mn, mx;
            if (o == '*') { mn = 0; mx = -1; b->pos++; }
            else if (o == '+') { mn = 1; mx = -1; b->pos++; }
            else if (o == '?') { mn = 0; mx = 1; b->pos++; }
            else if (o == '{') {
                b->pos++;
                skip_ws(b);
                if (parse_uint(b, &mn)) { free(items); return -1; }
                skip_ws(b);
                mx = mn;
                if (b->pos < b->n && b->s[b->pos] == ',') {
                    b->pos++;
                    skip_ws(b);
                    if (b->pos < b->n && b->s[b->pos] == '}') mx = -1;
                    else {
                        if (parse_uint(b, &mx)) { free(items); return -1; }
                        skip_ws(b);
                        if (mx < mn) { perr(b, "repetition {m,n} with n < m"); free(items); return -1; }
                    }
                }
                if (b->pos >= b->n || b->s[b->pos] != '}') { perr(b, "expected '}'"); free(items); return -1; }
                b->pos++;
            } else break;
            int32_t r = new_x(b, GX_REP);
            b->x[r].a = mn;
            b->x[r].b = mx;
            b->x[r].kid0 = (int32_t)b->nkids;
            b->x[r].nk = 1;
            VPUSH(b->kids, b->nkids, b->capkids, e);
            e = r;
        }
        VPUSH(items, ni, cap, e);
    }
    int32_t e = (ni == 1) ? items[0] : new_list(b, GX_SEQ, items, (int32_t)ni);
    free(items);
    return e;
}

static int32_t parse_alts(gb *b) {
    int32_t *items = NULL;
    size_t ni = 0, cap = 0;
    while (1) {
        int32_t e = parse_seq(b);
        if (e < 0) { free(items); return -1; }
        VPUSH(items, ni, cap, e);
        skip_ws(b);
        if (b->pos < b->n && b->s[b->pos] == '|') { b->pos++; continue; }
        break;
    }
    int32_t e = (ni == 1) ? items[0] : new_list(b, GX_ALT, items, (int32_t)ni);
    free(items);
    return e;
}

int parse_grammar(gb *b) {
    int any = 0;
    while (1) {
        skip_ws(b);
        if (b->pos >= b->n) break;
        size_t nl = at_rule_def(b, b->pos);
        if (!nl) return perr(b, "expected a rule definition 'name ::= ...'");
        int32_t r = find_rule(b, b->s + b->pos, nl, 1);
        if (b->rules[r].body >= 0) {
            char m[200];
            snprintf(m, sizeof m, "rule '%s' defined twice", b->rules[r].name);
            return perr(b, m);
        }
        b->pos += nl;
        skip_ws(b);
        b->pos += 3;
        int32_t e = parse_alts(b);
        if (e < 0) return b->err ? b->err->code : PG_EFORMAT;
        skip_ws(b);
        if (b->pos < b->n && !at_rule_def(b, b->pos)) {
            if (b->s[b->pos] == ')') return perr(b, "unbalanced ')'");
            return perr(b, "unexpected text after rule");
        }
        b->rules[r].body = e;
        any = 1;
    }
    if (!any) return gb_fail(b, PG_EFORMAT, "grammar: empty grammar (no rules)");
    return 0;
}
