/* js_regex.c - pattern translation for the JSON Schema compiler: the Unicode
 * classes with Python `re` semantics, a parser of the supported `re` subset
 * into an AST, and its emission as GBNF over canonical JSON string
 * characters (pattern_expr()). */
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

int hexval(int ch) {
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
int pattern_expr(ctx_t *c, const char *path, const char *pat, size_t patlen, long lmin, long lmax, sb_t *b) {
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
