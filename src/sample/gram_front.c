/* gram_front.c - small front-ends that produce GBNF text for the grammar
 * engine: an ECMAScript-subset regex (whole-output match) and a choice list.
 *
 * Regex translation is structural: alternation/concatenation/groups map to
 * GBNF groups, quantifiers to GBNF quantifiers; every class (including \d
 * \w \s, their negations and '.') is first built as a sorted list of code
 * point intervals and then written as an explicit GBNF class, so negated
 * shorthands inside classes ([^\D]) are exact. Refused with a message:
 * backreferences, lookaround, named groups, word boundaries and anchors
 * other than a leading ^ / trailing $. */
#include "sample/grammar.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct sbuf {
    char *p;
    size_t n, cap;
    int oom;
} sbuf;

static void sb_put(sbuf *s, const char *t, size_t n) {
    if (s->oom || (n == 0 && s->p)) return;
    if (s->n + n + 1 > s->cap) {
        size_t c = s->cap ? s->cap : 256;
        while (s->n + n + 1 > c) c *= 2;
        char *q = realloc(s->p, c);
        if (!q) { s->oom = 1; return; }
        s->p = q;
        s->cap = c;
    }
    if (n) memcpy(s->p + s->n, t, n);
    s->n += n;
    s->p[s->n] = 0;
}
static void sb_str(sbuf *s, const char *t) { sb_put(s, t, strlen(t)); }

size_t pg_gbnf_escape(const char *s, size_t n, char *out, size_t cap) {
    size_t k = 0;
#define PUTC(c) do { if (k + 1 < cap) out[k] = (c); k++; } while (0)
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') { PUTC('\\'); PUTC((char)c); }
        else if (c == '\n') { PUTC('\\'); PUTC('n'); }
        else if (c == '\r') { PUTC('\\'); PUTC('r'); }
        else if (c == '\t') { PUTC('\\'); PUTC('t'); }
        else if (c < 0x20 || c == 0x7F) {
            char t[8];
            snprintf(t, sizeof t, "\\x%02X", c);
            for (int j = 0; t[j]; j++) PUTC(t[j]);
        } else PUTC((char)c);
    }
    if (cap) out[k < cap ? k : cap - 1] = 0;
#undef PUTC
    return k;
}

static void sb_lit(sbuf *s, const char *t, size_t n) {
    size_t need = pg_gbnf_escape(t, n, NULL, 0);
    char *tmp = malloc(need + 1);
    if (!tmp) { s->oom = 1; return; }
    pg_gbnf_escape(t, n, tmp, need + 1);
    sb_put(s, "\"", 1);
    sb_put(s, tmp, need);
    sb_put(s, "\"", 1);
    free(tmp);
}

/* One UTF-8 character of s[0..n): its length and code point, or -1. */
static int utf8_char(const unsigned char *s, size_t n, uint32_t *cp) {
    unsigned c = s[0];
    int k;
    if (c < 0x80) { *cp = c; return 1; }
    if (c >= 0xC2 && c <= 0xDF) k = 1;
    else if (c >= 0xE0 && c <= 0xEF) k = 2;
    else if (c >= 0xF0 && c <= 0xF4) k = 3;
    else return -1;
    if ((size_t)k >= n) return -1;
    uint32_t v = c & (0x3Fu >> k);
    for (int j = 1; j <= k; j++) {
        if ((s[j] & 0xC0) != 0x80) return -1;
        v = (v << 6) | (s[j] & 0x3F);
    }
    if ((k == 2 && v < 0x800) || (k == 3 && (v < 0x10000 || v > 0x10FFFF)) || (v >= 0xD800 && v <= 0xDFFF)) return -1;
    *cp = v;
    return k + 1;
}

static int utf8_ok(const unsigned char *s, size_t n) {
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        int k = utf8_char(s + i, n - i, &cp);
        if (k < 0) return 0;
        i += (size_t)k;
    }
    return 1;
}

int pg_choice_to_gbnf(const char *const *choices, const size_t *lens, size_t n, char **out, pg_error *err) {
    *out = NULL;
    if (n == 0) return pg_error_set(err, PG_EINVAL, "choice: the list is empty");
    sbuf s = {0};
    sb_str(&s, "root ::= ");
    for (size_t i = 0; i < n; i++) {
        if (!utf8_ok((const unsigned char *)choices[i], lens[i])) {
            free(s.p);
            return pg_error_set(err, PG_EINVAL, "choice: entry %zu is not valid UTF-8", i);
        }
        if (i) sb_str(&s, " | ");
        sb_lit(&s, choices[i], lens[i]);
    }
    sb_str(&s, "\n");
    if (s.oom) { free(s.p); return pg_error_set(err, PG_ENOMEM, "choice: out of memory"); }
    *out = s.p;
    return 0;
}

/* ---------------- regex ---------------- */

typedef struct rx {
    const char *s;
    size_t n, pos;
    sbuf out;
    pg_error *err;
    int failed, depth;
} rx;

typedef struct ivs {
    uint32_t *v; /* pairs */
    size_t n, cap;
} ivs;

static int rx_fail(rx *r, const char *what) {
    if (!r->failed) pg_error_set(r->err, PG_EINVAL, "regex: at offset %zu: %s", r->pos, what);
    r->failed = 1;
    return -1;
}

static void iv_add(ivs *a, uint32_t lo, uint32_t hi) {
    if (a->n + 2 > a->cap) {
        a->cap = a->cap ? a->cap * 2 : 16;
        uint32_t *q = realloc(a->v, a->cap * sizeof *q);
        if (!q) return;
        a->v = q;
    }
    a->v[a->n++] = lo;
    a->v[a->n++] = hi;
}

static int cmp_pair(const void *x, const void *y) {
    const uint32_t *a = x, *b = y;
    return a[0] < b[0] ? -1 : a[0] > b[0];
}

static void iv_norm(ivs *a) {
    if (a->n > 2) qsort(a->v, a->n / 2, 2 * sizeof *a->v, cmp_pair);
    size_t m = 0;
    for (size_t i = 0; i < a->n; i += 2) {
        if (m && a->v[i] <= a->v[m - 1] + 1) {
            if (a->v[i + 1] > a->v[m - 1]) a->v[m - 1] = a->v[i + 1];
        } else { a->v[m++] = a->v[i]; a->v[m++] = a->v[i + 1]; }
    }
    a->n = m;
}

static void iv_complement(ivs *a) {
    iv_norm(a);
    ivs c = {0};
    uint32_t next = 0;
    for (size_t i = 0; i < a->n; i += 2) {
        if (a->v[i] > next) iv_add(&c, next, a->v[i] - 1);
        next = a->v[i + 1] + 1;
    }
    if (next <= 0x10FFFF) iv_add(&c, next, 0x10FFFF);
    free(a->v);
    *a = c;
}

static void add_class_escape(ivs *a, char c) {
    ivs t = {0};
    switch (c | 0x20) {
    case 'd': iv_add(&t, '0', '9'); break;
    case 'w': iv_add(&t, '0', '9'); iv_add(&t, 'A', 'Z'); iv_add(&t, '_', '_'); iv_add(&t, 'a', 'z'); break;
    case 's':
        iv_add(&t, 9, 13); iv_add(&t, ' ', ' '); iv_add(&t, 0xA0, 0xA0); iv_add(&t, 0x1680, 0x1680);
        iv_add(&t, 0x2000, 0x200A); iv_add(&t, 0x2028, 0x2029); iv_add(&t, 0x202F, 0x202F);
        iv_add(&t, 0x205F, 0x205F); iv_add(&t, 0x3000, 0x3000); iv_add(&t, 0xFEFF, 0xFEFF);
        break;
    }
    if (c >= 'A' && c <= 'Z') iv_complement(&t);
    for (size_t i = 0; i < t.n; i += 2) iv_add(a, t.v[i], t.v[i + 1]);
    free(t.v);
}

static void emit_class(rx *r, ivs *a) {
    iv_norm(a);
    if (a->n == 0) { sb_str(&r->out, "[^\\x00-\\U0010FFFF]"); return; }
    sb_str(&r->out, "[");
    for (size_t i = 0; i < a->n; i += 2) {
        char t[40];
        snprintf(t, sizeof t, "\\U%08X", a->v[i]);
        sb_str(&r->out, t);
        if (a->v[i + 1] != a->v[i]) {
            snprintf(t, sizeof t, "-\\U%08X", a->v[i + 1]);
            sb_str(&r->out, t);
        }
    }
    sb_str(&r->out, "]");
}

static int32_t rx_utf8(rx *r) {
    uint32_t cp;
    int k = utf8_char((const unsigned char *)r->s + r->pos, r->n - r->pos, &cp);
    if (k < 0) return rx_fail(r, "invalid UTF-8");
    r->pos += (size_t)k;
    return (int32_t)cp;
}

static int hexv(char c) {
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* After a backslash: a single code point (>= 0), or -2 for a class escape
 * (\d etc., char in *cls), or -1 on error. */
static int32_t rx_escape(rx *r, char *cls, int in_class) {
    if (r->pos >= r->n) return rx_fail(r, "trailing backslash");
    char c = r->s[r->pos++];
    switch (c) {
    case 'd': case 'D': case 'w': case 'W': case 's': case 'S': *cls = c; return -2;
    case 'n': return '\n';
    case 'r': return '\r';
    case 't': return '\t';
    case 'f': return '\f';
    case 'v': return '\v';
    case '0': return 0;
    case 'b':
        if (in_class) return '\b';
        return rx_fail(r, "word boundary \\b is not supported");
    case 'B': return rx_fail(r, "\\B is not supported");
    case 'x': case 'u': {
        int nd = c == 'x' ? 2 : 4;
        uint32_t v = 0;
        if (c == 'u' && r->pos < r->n && r->s[r->pos] == '{') {
            r->pos++;
            int k = 0;
            while (r->pos < r->n && r->s[r->pos] != '}') {
                int h = hexv(r->s[r->pos++]);
                if (h < 0 || ++k > 6) return rx_fail(r, "bad \\u{...} escape");
                v = v * 16 + (uint32_t)h;
            }
            if (r->pos >= r->n) return rx_fail(r, "bad \\u{...} escape");
            r->pos++;
        } else {
            for (int i = 0; i < nd; i++) {
                int h = r->pos < r->n ? hexv(r->s[r->pos]) : -1;
                if (h < 0) return rx_fail(r, "bad hex escape");
                v = v * 16 + (uint32_t)h;
                r->pos++;
            }
        }
        if (v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) return rx_fail(r, "escape is not a Unicode scalar value");
        return (int32_t)v;
    }
    default:
        if (c >= '1' && c <= '9') return rx_fail(r, "backreferences are not supported");
        if (c == 'k') return rx_fail(r, "named backreferences are not supported");
        if (c == 'p' || c == 'P') return rx_fail(r, "Unicode property escapes are not supported");
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return rx_fail(r, "unknown escape");
        r->pos--;
        return rx_utf8(r);
    }
}

static void emit_cp(rx *r, uint32_t cp) {
    char t[8];
    size_t n;
    if (cp < 0x80) { t[0] = (char)cp; n = 1; }
    else if (cp < 0x800) { t[0] = (char)(0xC0 | (cp >> 6)); t[1] = (char)(0x80 | (cp & 0x3F)); n = 2; }
    else if (cp < 0x10000) {
        t[0] = (char)(0xE0 | (cp >> 12)); t[1] = (char)(0x80 | ((cp >> 6) & 0x3F)); t[2] = (char)(0x80 | (cp & 0x3F)); n = 3;
    } else {
        t[0] = (char)(0xF0 | (cp >> 18)); t[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        t[2] = (char)(0x80 | ((cp >> 6) & 0x3F)); t[3] = (char)(0x80 | (cp & 0x3F)); n = 4;
    }
    sb_lit(&r->out, t, n);
}

static int rx_alts(rx *r);

static int rx_class(rx *r) {
    ivs a = {0};
    int neg = 0;
    if (r->pos < r->n && r->s[r->pos] == '^') { neg = 1; r->pos++; }
    int first = 1;
    while (1) {
        if (r->pos >= r->n) { free(a.v); return rx_fail(r, "unterminated character class"); }
        if (r->s[r->pos] == ']' && !first) { r->pos++; break; }
        if (r->s[r->pos] == ']' && first) { r->pos++; break; } /* [] matches nothing (ECMAScript) */
        first = 0;
        int32_t lo;
        char cls = 0;
        if (r->s[r->pos] == '\\') { r->pos++; lo = rx_escape(r, &cls, 1); }
        else lo = rx_utf8(r);
        if (lo == -1) { free(a.v); return -1; }
        if (lo == -2) { add_class_escape(&a, cls); continue; }
        int32_t hi = lo;
        if (r->pos + 1 < r->n && r->s[r->pos] == '-' && r->s[r->pos + 1] != ']') {
            r->pos++;
            if (r->s[r->pos] == '\\') { r->pos++; hi = rx_escape(r, &cls, 1); }
            else hi = rx_utf8(r);
            if (hi == -1) { free(a.v); return -1; }
            if (hi == -2) { free(a.v); return rx_fail(r, "class escape as a range end"); }
            if (hi < lo) { free(a.v); return rx_fail(r, "character range out of order"); }
        }
        iv_add(&a, (uint32_t)lo, (uint32_t)hi);
    }
    if (neg) iv_complement(&a);
    emit_class(r, &a);
    free(a.v);
    return 0;
}

static int rx_quant(rx *r) {
    if (r->pos >= r->n) return 0;
    char c = r->s[r->pos];
    if (c == '*' || c == '+' || c == '?') {
        r->pos++;
        char t[2] = {c, 0};
        sb_str(&r->out, t);
    } else if (c == '{') {
        size_t p = r->pos + 1;
        long m = 0, n = -2;
        int dig = 0;
        while (p < r->n && r->s[p] >= '0' && r->s[p] <= '9') { m = m * 10 + (r->s[p++] - '0'); dig = 1; if (m > PG_GRAMMAR_MAX_REPEAT) return rx_fail(r, "repetition count too large"); }
        if (!dig) return 0; /* a literal '{' (Annex B) */
        if (p < r->n && r->s[p] == ',') {
            p++;
            n = -1;
            int d2 = 0;
            long v = 0;
            while (p < r->n && r->s[p] >= '0' && r->s[p] <= '9') { v = v * 10 + (r->s[p++] - '0'); d2 = 1; if (v > PG_GRAMMAR_MAX_REPEAT) return rx_fail(r, "repetition count too large"); }
            if (d2) n = v;
        }
        if (p >= r->n || r->s[p] != '}') return 0;
        r->pos = p + 1;
        char t[64];
        if (n == -2) snprintf(t, sizeof t, "{%ld}", m);
        else if (n == -1) snprintf(t, sizeof t, "{%ld,}", m);
        else {
            if (n < m) return rx_fail(r, "repetition {m,n} with n < m");
            snprintf(t, sizeof t, "{%ld,%ld}", m, n);
        }
        sb_str(&r->out, t);
    } else return 0;
    if (r->pos < r->n && r->s[r->pos] == '?') r->pos++; /* lazy: same language */
    if (r->pos < r->n && (r->s[r->pos] == '*' || r->s[r->pos] == '+' ||
                          (r->s[r->pos] == '{' && r->pos + 1 < r->n && r->s[r->pos + 1] >= '0' && r->s[r->pos + 1] <= '9')))
        return rx_fail(r, "nothing to repeat");
    return 0;
}

static int rx_seq(rx *r) {
    sb_str(&r->out, "(");
    int any = 0;
    while (r->pos < r->n) {
        char c = r->s[r->pos];
        if (c == '|' || c == ')') break;
        if (c == '^') {
            if (r->pos == 0) { r->pos++; continue; }
            return rx_fail(r, "'^' is only supported at the start");
        }
        if (c == '$') {
            if (r->pos + 1 == r->n) { r->pos++; continue; }
            return rx_fail(r, "'$' is only supported at the end");
        }
        if (c == '*' || c == '+' || c == '?') return rx_fail(r, "nothing to repeat");
        if (any) sb_str(&r->out, " ");
        any = 1;
        if (c == '(') {
            r->pos++;
            if (++r->depth > 500) return rx_fail(r, "groups nested too deeply");
            if (r->pos < r->n && r->s[r->pos] == '?') {
                if (r->pos + 1 < r->n && r->s[r->pos + 1] == ':') r->pos += 2;
                else if (r->pos + 1 < r->n && (r->s[r->pos + 1] == '=' || r->s[r->pos + 1] == '!'))
                    return rx_fail(r, "lookahead is not supported");
                else if (r->pos + 2 < r->n && r->s[r->pos + 1] == '<' && (r->s[r->pos + 2] == '=' || r->s[r->pos + 2] == '!'))
                    return rx_fail(r, "lookbehind is not supported");
                else if (r->pos + 1 < r->n && r->s[r->pos + 1] == '<') {
                    /* named group: same language as a plain group */
                    size_t p = r->pos + 2;
                    while (p < r->n && r->s[p] != '>') p++;
                    if (p >= r->n) return rx_fail(r, "bad group name");
                    r->pos = p + 1;
                } else return rx_fail(r, "unsupported group syntax");
            }
            if (rx_alts(r)) return -1;
            if (r->pos >= r->n || r->s[r->pos] != ')') return rx_fail(r, "missing ')'");
            r->pos++;
            r->depth--;
        } else if (c == '[') {
            r->pos++;
            if (rx_class(r)) return -1;
        } else if (c == '.') {
            r->pos++;
            sb_str(&r->out, "[^\\n\\r\\u2028\\u2029]");
        } else if (c == '\\') {
            r->pos++;
            char cls = 0;
            int32_t cp = rx_escape(r, &cls, 0);
            if (cp == -1) return -1;
            if (cp == -2) {
                ivs a = {0};
                add_class_escape(&a, cls);
                emit_class(r, &a);
                free(a.v);
            } else emit_cp(r, (uint32_t)cp);
        } else {
            int32_t cp = rx_utf8(r);
            if (cp < 0) return -1;
            emit_cp(r, (uint32_t)cp);
        }
        if (rx_quant(r)) return -1;
    }
    if (!any) sb_str(&r->out, "\"\"");
    sb_str(&r->out, ")");
    return 0;
}

static int rx_alts(rx *r) {
    sb_str(&r->out, "(");
    while (1) {
        if (rx_seq(r)) return -1;
        if (r->pos < r->n && r->s[r->pos] == '|') {
            r->pos++;
            sb_str(&r->out, " | ");
            continue;
        }
        break;
    }
    sb_str(&r->out, ")");
    return 0;
}

int pg_regex_to_gbnf(const char *re, size_t len, char **out, pg_error *err) {
    *out = NULL;
    if (len > PG_GRAMMAR_MAX_TEXT) return pg_error_set(err, PG_ELIMIT, "regex: longer than %u bytes", PG_GRAMMAR_MAX_TEXT);
    rx r;
    memset(&r, 0, sizeof r);
    r.s = re;
    r.n = len;
    r.err = err;
    sb_str(&r.out, "root ::= ");
    if (rx_alts(&r) == 0 && r.pos < r.n) rx_fail(&r, "unbalanced ')'");
    if (r.failed) { free(r.out.p); return err ? err->code : PG_EINVAL; }
    sb_str(&r.out, "\n");
    if (r.out.oom) { free(r.out.p); return pg_error_set(err, PG_ENOMEM, "regex: out of memory"); }
    *out = r.out.p;
    return 0;
}
