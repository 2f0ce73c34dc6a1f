/* builtins.c - filters, tests, methods and globals of the template language.
 *
 * Behaviour follows Jinja2 3.1 inside transformers' sandbox, with Python
 * semantics for the str / dict / list methods templates call. Strings are
 * UTF-8; indexing, slicing, len() and padding count code points. Case
 * mapping covers Latin, Greek, Cyrillic, Armenian and fullwidth letters
 * with simple 1:1 rules (plus ß -> SS); other scripts are treated as
 * caseless, and Greek final-sigma lowering is not done. isalpha/isalnum
 * treat every non-ASCII char as a letter, isdigit only ASCII digits.
 * Unicode whitespace is recognised for strip/split/trim as Python does.
 *
 * Ids: filters, tests and functions are indexes into the name tables
 * below; the enums must follow the table order. */
#include "template/builtins.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FAIL(...) pg_tpl_rt_fail(rt, PG_EINVAL, __VA_ARGS__)

/* ------------------------------------------------------------ name tables */

#define FILTERS(X)                                                                                      \
    X(abs) X(attr) X(batch) X(capitalize) X(center) X(count) X(d) X(default) X(dictsort) X(e)           \
    X(escape) X(first) X(float) X(forceescape) X(format) X(indent) X(int) X(items) X(join) X(keys)      \
    X(last) X(length) X(list) X(lower) X(map) X(max) X(min) X(pprint) X(reject) X(rejectattr)           \
    X(replace) X(reverse) X(round) X(safe) X(select) X(selectattr) X(sort) X(string) X(striptags)       \
    X(sum) X(title) X(tojson) X(trim) X(unique) X(upper) X(values) X(wordcount)

#define TESTS(X)                                                                                        \
    X(boolean) X(callable) X(defined) X(divisibleby) X(eq) X(equalto) X(escaped) X(even) X(false)       \
    X(filter) X(float) X(ge) X(greaterthan) X(gt) X(in) X(integer) X(iterable) X(le) X(lessthan)        \
    X(lower) X(lt) X(mapping) X(ne) X(none) X(number) X(odd) X(sameas) X(sequence) X(string) X(test)    \
    X(true) X(undefined) X(upper)

#define ENUM_F(n) F_##n,
#define ENUM_T(n) T_##n,
#define NAME_X(n) #n,
enum { FILTERS(ENUM_F) N_FILTERS };
enum { TESTS(ENUM_T) N_TESTS };
static const char *filter_names[] = {FILTERS(NAME_X)};
static const char *test_names[] = {TESTS(NAME_X)};

/* functions: globals first, then methods (owner type, name) */
enum {
    G_RANGE, G_DICT, G_NAMESPACE, G_RAISE, G_STRFTIME, N_GLOBALS,
    /* str */
    S_CAPITALIZE = N_GLOBALS, S_COUNT, S_ENDSWITH, S_FIND, S_FORMAT, S_INDEX, S_ISALNUM, S_ISALPHA,
    S_ISDIGIT, S_ISLOWER, S_ISSPACE, S_ISUPPER, S_JOIN, S_LOWER, S_LSTRIP, S_REPLACE, S_RFIND,
    S_RSPLIT, S_RSTRIP, S_SPLIT, S_SPLITLINES, S_STARTSWITH, S_STRIP, S_TITLE, S_UPPER,
    /* dict */
    D_CLEAR, D_COPY, D_GET, D_ITEMS, D_KEYS, D_POP, D_SETDEFAULT, D_UPDATE, D_VALUES,
    /* list */
    L_APPEND, L_CLEAR, L_COPY, L_COUNT, L_EXTEND, L_INDEX, L_INSERT, L_POP, L_REMOVE, L_REVERSE,
    /* loop */
    LP_CYCLE, LP_CHANGED,
    N_FUNCS
};

static const struct {
    int owner; /* pg_jv_type, or -1 for globals */
    const char *name;
} funcs[N_FUNCS] = {
    [G_RANGE] = {-1, "range"}, [G_DICT] = {-1, "dict"}, [G_NAMESPACE] = {-1, "namespace"},
    [G_RAISE] = {-1, "raise_exception"}, [G_STRFTIME] = {-1, "strftime_now"},
    [S_CAPITALIZE] = {PG_JV_STRING, "capitalize"}, [S_COUNT] = {PG_JV_STRING, "count"},
    [S_ENDSWITH] = {PG_JV_STRING, "endswith"}, [S_FIND] = {PG_JV_STRING, "find"},
    [S_FORMAT] = {PG_JV_STRING, "format"}, [S_INDEX] = {PG_JV_STRING, "index"},
    [S_ISALNUM] = {PG_JV_STRING, "isalnum"}, [S_ISALPHA] = {PG_JV_STRING, "isalpha"},
    [S_ISDIGIT] = {PG_JV_STRING, "isdigit"}, [S_ISLOWER] = {PG_JV_STRING, "islower"},
    [S_ISSPACE] = {PG_JV_STRING, "isspace"}, [S_ISUPPER] = {PG_JV_STRING, "isupper"},
    [S_JOIN] = {PG_JV_STRING, "join"}, [S_LOWER] = {PG_JV_STRING, "lower"},
    [S_LSTRIP] = {PG_JV_STRING, "lstrip"}, [S_REPLACE] = {PG_JV_STRING, "replace"},
    [S_RFIND] = {PG_JV_STRING, "rfind"}, [S_RSPLIT] = {PG_JV_STRING, "rsplit"},
    [S_RSTRIP] = {PG_JV_STRING, "rstrip"}, [S_SPLIT] = {PG_JV_STRING, "split"},
    [S_SPLITLINES] = {PG_JV_STRING, "splitlines"}, [S_STARTSWITH] = {PG_JV_STRING, "startswith"},
    [S_STRIP] = {PG_JV_STRING, "strip"}, [S_TITLE] = {PG_JV_STRING, "title"},
    [S_UPPER] = {PG_JV_STRING, "upper"},
    [D_CLEAR] = {PG_JV_DICT, "clear"}, [D_COPY] = {PG_JV_DICT, "copy"}, [D_GET] = {PG_JV_DICT, "get"},
    [D_ITEMS] = {PG_JV_DICT, "items"}, [D_KEYS] = {PG_JV_DICT, "keys"}, [D_POP] = {PG_JV_DICT, "pop"},
    [D_SETDEFAULT] = {PG_JV_DICT, "setdefault"}, [D_UPDATE] = {PG_JV_DICT, "update"},
    [D_VALUES] = {PG_JV_DICT, "values"},
    [L_APPEND] = {PG_JV_LIST, "append"}, [L_CLEAR] = {PG_JV_LIST, "clear"}, [L_COPY] = {PG_JV_LIST, "copy"},
    [L_COUNT] = {PG_JV_LIST, "count"}, [L_EXTEND] = {PG_JV_LIST, "extend"}, [L_INDEX] = {PG_JV_LIST, "index"},
    [L_INSERT] = {PG_JV_LIST, "insert"}, [L_POP] = {PG_JV_LIST, "pop"}, [L_REMOVE] = {PG_JV_LIST, "remove"},
    [L_REVERSE] = {PG_JV_LIST, "reverse"},
    [LP_CYCLE] = {PG_JV_LOOP, "cycle"}, [LP_CHANGED] = {PG_JV_LOOP, "changed"},
};

static int lookup(const char **tab, int n, const char *name, size_t len) {
    for (int i = 0; i < n; i++)
        if (strlen(tab[i]) == len && memcmp(tab[i], name, len) == 0) return i;
    return -1;
}

int pg_tpl_filter_id(const char *name, size_t n) {
    if (n == 5 && memcmp(name, "count", 5) == 0) return F_length;
    return lookup(filter_names, N_FILTERS, name, n);
}

int pg_tpl_test_id(const char *name, size_t n) { return lookup(test_names, N_TESTS, name, n); }

static int method_id(int owner, const char *name, size_t n) {
    for (int i = N_GLOBALS; i < N_FUNCS; i++)
        if (funcs[i].owner == owner && strlen(funcs[i].name) == n && memcmp(funcs[i].name, name, n) == 0)
            return i;
    return -1;
}

pg_jv pg_tpl_bound(pg_tpl_rt *rt, int id, pg_jv self) {
    pg_tpl_func *f = pg_tpl_rt_alloc(rt, sizeof *f);
    f->id = id;
    f->self = self;
    pg_jv v = pg_jv_undefined();
    v.type = PG_JV_FUNC;
    v.u.ptr = f;
    return v;
}

/* Globals are static objects (no arena needed). */
static pg_tpl_func global_objs[N_GLOBALS] = {
    {G_RANGE, {0}}, {G_DICT, {0}}, {G_NAMESPACE, {0}}, {G_RAISE, {0}}, {G_STRFTIME, {0}},
};

int pg_tpl_global(const char *name, size_t n, pg_jv *out) {
    for (int i = 0; i < N_GLOBALS; i++)
        if (strlen(funcs[i].name) == n && memcmp(funcs[i].name, name, n) == 0) {
            pg_jv v = pg_jv_undefined();
            v.type = PG_JV_FUNC;
            v.u.ptr = &global_objs[i];
            *out = v;
            return 1;
        }
    return 0;
}

/* ------------------------------------------------------------ string utils */

static size_t cp_len_at(const char *s, size_t n, size_t i) {
    size_t j = i + 1;
    while (j < n && ((unsigned char)s[j] & 0xC0) == 0x80) j++;
    return j - i;
}

static uint32_t cp_at(const char *s, size_t n, size_t i, size_t *len) {
    size_t l = cp_len_at(s, n, i);
    const unsigned char *u = (const unsigned char *)s + i;
    uint32_t c;
    if (l == 1)
        c = u[0];
    else if (l == 2)
        c = ((u[0] & 0x1Fu) << 6) | (u[1] & 0x3Fu);
    else if (l == 3)
        c = ((u[0] & 0x0Fu) << 12) | ((u[1] & 0x3Fu) << 6) | (u[2] & 0x3Fu);
    else
        c = ((u[0] & 0x07u) << 18) | ((u[1] & 0x3Fu) << 12) | ((u[2] & 0x3Fu) << 6) | (u[3] & 0x3Fu);
    if (len) *len = l;
    return c;
}

static int is_uspace(uint32_t c) {
    return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F ||
           c == 0x3000;
}

/* byte length of the whitespace char at i, 0 if none */
static size_t ws_at(const char *s, size_t n, size_t i) {
    size_t l;
    uint32_t c = cp_at(s, n, i, &l);
    return is_uspace(c) ? l : 0;
}

static int in_chars(const char *s, size_t n, size_t i, size_t *l, pg_jv chars) {
    uint32_t c = cp_at(s, n, i, l);
    for (size_t k = 0; k < chars.u.s.n;) {
        size_t kl;
        uint32_t d = cp_at(chars.u.s.p, chars.u.s.n, k, &kl);
        if (c == d) return 1;
        k += kl;
    }
    return 0;
}

/* strip: which 1 = left, 2 = right, 3 = both. chars NONE = whitespace. */
static pg_jv str_strip(pg_jv s, pg_jv chars, int which) {
    const char *p = s.u.s.p;
    size_t b = 0, e = s.u.s.n;
    int ws = chars.type != PG_JV_STRING;
    if (which & 1)
        while (b < e) {
            size_t l;
            if (ws) {
                l = ws_at(p, e, b);
                if (!l) break;
            } else if (!in_chars(p, e, b, &l, chars)) {
                break;
            }
            b += l;
        }
    if (which & 2)
        while (e > b) {
            size_t st = e - 1;
            while (st > b && ((unsigned char)p[st] & 0xC0) == 0x80) st--;
            size_t l;
            if (ws) {
                if (!ws_at(p, e, st)) break;
            } else if (!in_chars(p, e, st, &l, chars)) {
                break;
            }
            e = st;
        }
    return pg_jv_str_ref(p + b, e - b);
}

static int is_lower_c(int c) { return c >= 'a' && c <= 'z'; }
static int is_upper_c(int c) { return c >= 'A' && c <= 'Z'; }
static int is_alpha_c(int c) { return is_lower_c(c) || is_upper_c(c); }
static int is_digit_c(int c) { return c >= '0' && c <= '9'; }

/* Simple (1:1) case mapping for Latin, Greek, Cyrillic, Armenian and
 * fullwidth Latin; other scripts are caseless here. 'ß'.upper() == "SS"
 * is the one 1:2 mapping handled (in str_map_case). */
static int pair_even_upper(uint32_t c, uint32_t lo, uint32_t hi) { return c >= lo && c <= hi; }

static uint32_t u_lower(uint32_t c) {
    if (c < 0x80) return (c >= 'A' && c <= 'Z') ? c + 32 : c;
    if ((c >= 0xC0 && c <= 0xDE && c != 0xD7)) return c + 0x20;
    if (c == 0x178) return 0xFF;
    if (c == 0x130) return 'i';
    if ((pair_even_upper(c, 0x100, 0x137) || pair_even_upper(c, 0x14A, 0x177) || pair_even_upper(c, 0x460, 0x481) ||
         pair_even_upper(c, 0x48A, 0x4BF) || pair_even_upper(c, 0x4D0, 0x52F) || pair_even_upper(c, 0x1E00, 0x1E95) ||
         pair_even_upper(c, 0x1EA0, 0x1EFF)) && !(c & 1))
        return c + 1;
    if ((pair_even_upper(c, 0x139, 0x148) || pair_even_upper(c, 0x179, 0x17E)) && (c & 1)) return c + 1;
    if (c >= 0x391 && c <= 0x3A9 && c != 0x3A2) return c + 0x20;
    if (c == 0x386) return 0x3AC;
    if (c >= 0x388 && c <= 0x38A) return c + 0x25;
    if (c == 0x38C) return 0x3CC;
    if (c == 0x38E || c == 0x38F) return c + 0x3F;
    if (c >= 0x410 && c <= 0x42F) return c + 0x20;
    if (c >= 0x400 && c <= 0x40F) return c + 0x50;
    if (c >= 0x531 && c <= 0x556) return c + 0x30;
    if (c >= 0xFF21 && c <= 0xFF3A) return c + 0x20;
    return c;
}

static uint32_t u_upper(uint32_t c) {
    if (c < 0x80) return (c >= 'a' && c <= 'z') ? c - 32 : c;
    if (c >= 0xE0 && c <= 0xFE && c != 0xF7) return c - 0x20;
    if (c == 0xFF) return 0x178;
    if (c == 0xB5) return 0x39C;
    if (c == 0x131) return 'I';
    if (c == 0x17F) return 'S';
    if ((pair_even_upper(c, 0x100, 0x137) || pair_even_upper(c, 0x14A, 0x177) || pair_even_upper(c, 0x460, 0x481) ||
         pair_even_upper(c, 0x48A, 0x4BF) || pair_even_upper(c, 0x4D0, 0x52F) || pair_even_upper(c, 0x1E00, 0x1E95) ||
         pair_even_upper(c, 0x1EA0, 0x1EFF)) && (c & 1))
        return c - 1;
    if ((pair_even_upper(c, 0x139, 0x148) || pair_even_upper(c, 0x179, 0x17E)) && !(c & 1)) return c - 1;
    if (c >= 0x3B1 && c <= 0x3C9 && c != 0x3C2) return c - 0x20;
    if (c == 0x3C2) return 0x3A3;
    if (c == 0x3AC) return 0x386;
    if (c >= 0x3AD && c <= 0x3AF) return c - 0x25;
    if (c == 0x3CC) return 0x38C;
    if (c == 0x3CD || c == 0x3CE) return c - 0x3F;
    if (c >= 0x430 && c <= 0x44F) return c - 0x20;
    if (c >= 0x450 && c <= 0x45F) return c - 0x50;
    if (c >= 0x561 && c <= 0x586) return c - 0x30;
    if (c >= 0xFF41 && c <= 0xFF5A) return c - 0x20;
    return c;
}

static int u_cased(uint32_t c) { return c == 0xDF || u_lower(c) != c || u_upper(c) != c; }

static void put_cp(pg_jv_buf *b, uint32_t c) {
    char t[4];
    size_t o = 0;
    if (c < 0x80) {
        t[o++] = (char)c;
    } else if (c < 0x800) {
        t[o++] = (char)(0xC0 | (c >> 6));
        t[o++] = (char)(0x80 | (c & 0x3F));
    } else if (c < 0x10000) {
        t[o++] = (char)(0xE0 | (c >> 12));
        t[o++] = (char)(0x80 | ((c >> 6) & 0x3F));
        t[o++] = (char)(0x80 | (c & 0x3F));
    } else {
        t[o++] = (char)(0xF0 | (c >> 18));
        t[o++] = (char)(0x80 | ((c >> 12) & 0x3F));
        t[o++] = (char)(0x80 | ((c >> 6) & 0x3F));
        t[o++] = (char)(0x80 | (c & 0x3F));
    }
    pg_jv_buf_put(b, t, o);
}

static void put_upper(pg_jv_buf *b, uint32_t c) {
    if (c == 0xDF)
        pg_jv_buf_put(b, "SS", 2);
    else
        put_cp(b, u_upper(c));
}

/* mode 0 lower, 1 upper, 2 str.capitalize, 3 str.title, 4 Jinja title
 * (words split at whitespace and "-({[<", first letter up, rest down) */
static pg_jv str_map_case(pg_tpl_rt *rt, pg_jv s, int mode) {
    pg_jv_buf b;
    pg_tpl_rt_buf(rt, &b);
    int prev_cased = 0, word_start = 1;
    size_t i = 0, k = 0;
    while (i < s.u.s.n) {
        size_t l;
        uint32_t c = cp_at(s.u.s.p, s.u.s.n, i, &l);
        if (l > 1 && c < 0x80) c = 0xFFFD; /* malformed: copy below */
        int raw = c == 0xFFFD;
        switch (mode) {
        case 0: raw ? pg_jv_buf_put(&b, s.u.s.p + i, l) : put_cp(&b, u_lower(c)); break;
        case 1: raw ? pg_jv_buf_put(&b, s.u.s.p + i, l) : put_upper(&b, c); break;
        case 2:
            if (raw) pg_jv_buf_put(&b, s.u.s.p + i, l);
            else if (k == 0) put_upper(&b, c);
            else put_cp(&b, u_lower(c));
            break;
        case 3:
            if (raw) {
                pg_jv_buf_put(&b, s.u.s.p + i, l);
                prev_cased = 0;
            } else if (u_cased(c)) {
                prev_cased ? put_cp(&b, u_lower(c)) : put_upper(&b, c);
                prev_cased = 1;
            } else {
                put_cp(&b, c);
                prev_cased = 0;
            }
            break;
        default: {
            int sep = c == '-' || c == '(' || c == '{' || c == '[' || c == '<' || is_uspace(c);
            if (raw) {
                pg_jv_buf_put(&b, s.u.s.p + i, l);
                word_start = 0;
            } else if (sep) {
                put_cp(&b, c);
                word_start = 1;
            } else if (word_start) {
                put_upper(&b, c);
                word_start = 0;
            } else {
                put_cp(&b, u_lower(c));
            }
        }
        }
        i += l;
        k++;
    }
    return pg_tpl_rt_buf_done(rt, &b);
}

/* byte offset of code point index ci (clamped to n) */
static size_t cp_offset(const char *s, size_t n, size_t ci) {
    size_t i = 0;
    while (ci && i < n) {
        i += cp_len_at(s, n, i);
        ci--;
    }
    return i;
}

static const char *memmem_s(const char *h, size_t hn, const char *nd, size_t nn) {
    if (nn == 0) return h;
    if (nn > hn) return NULL;
    return memmem(h, hn, nd, nn);
}

static pg_jv need_str(pg_tpl_rt *rt, pg_jv v, const char *what) {
    if (v.type == PG_JV_STRING) return v;
    if (v.type == PG_JV_UNDEFINED) pg_tpl_rt_undefined_error(rt, v);
    FAIL("%s must be a string, not '%s'", what, pg_jv_type_name(v));
}

static pg_jv str_replace(pg_tpl_rt *rt, pg_jv s, pg_jv old, pg_jv nw, int64_t count) {
    pg_jv_buf b;
    pg_tpl_rt_buf(rt, &b);
    const char *p = s.u.s.p;
    size_t n = s.u.s.n, i = 0;
    int64_t done = 0;
    if (old.u.s.n == 0) {
        while (count < 0 || done < count) {
            pg_jv_buf_put(&b, nw.u.s.p, nw.u.s.n);
            done++;
            if (i >= n) break;
            size_t l = cp_len_at(p, n, i);
            pg_jv_buf_put(&b, p + i, l);
            i += l;
            if (b.err) break;
        }
        pg_jv_buf_put(&b, p + i, n - i);
        return pg_tpl_rt_buf_done(rt, &b);
    }
    while (i <= n && (count < 0 || done < count) && !b.err) {
        const char *f = memmem_s(p + i, n - i, old.u.s.p, old.u.s.n);
        if (!f) break;
        size_t at = (size_t)(f - p);
        pg_jv_buf_put(&b, p + i, at - i);
        pg_jv_buf_put(&b, nw.u.s.p, nw.u.s.n);
        i = at + old.u.s.n;
        done++;
    }
    pg_jv_buf_put(&b, p + i, n - i);
    return pg_tpl_rt_buf_done(rt, &b);
}

static pg_jv str_split(pg_tpl_rt *rt, pg_jv s, pg_jv sep, int64_t maxsplit, int right) {
    pg_jv out = pg_tpl_rt_list(rt, 0);
    const char *p = s.u.s.p;
    size_t n = s.u.s.n;
    if (sep.type == PG_JV_STRING) {
        if (sep.u.s.n == 0) FAIL("empty separator");
        if (!right) {
            size_t i = 0;
            int64_t k = 0;
            for (;;) {
                const char *f = (maxsplit < 0 || k < maxsplit) ? memmem_s(p + i, n - i, sep.u.s.p, sep.u.s.n) : NULL;
                if (!f) {
                    pg_tpl_rt_push(rt, out, pg_jv_str_ref(p + i, n - i));
                    break;
                }
                pg_tpl_rt_push(rt, out, pg_jv_str_ref(p + i, (size_t)(f - p) - i));
                i = (size_t)(f - p) + sep.u.s.n;
                k++;
            }
            return out;
        }
        /* rsplit: collect from the right, then reverse */
        size_t e = n;
        int64_t k = 0;
        pg_jv tmp = pg_tpl_rt_list(rt, 0);
        for (;;) {
            const char *f = NULL;
            if (maxsplit < 0 || k < maxsplit)
                for (size_t j = e >= sep.u.s.n ? e - sep.u.s.n + 1 : 0; j-- > 0;)
                    if (memcmp(p + j, sep.u.s.p, sep.u.s.n) == 0) {
                        f = p + j;
                        break;
                    }
            if (!f) {
                pg_tpl_rt_push(rt, tmp, pg_jv_str_ref(p, e));
                break;
            }
            size_t at = (size_t)(f - p);
            pg_tpl_rt_push(rt, tmp, pg_jv_str_ref(p + at + sep.u.s.n, e - at - sep.u.s.n));
            e = at;
            k++;
        }
        for (size_t j = pg_jv_list_len(tmp); j-- > 0;) pg_tpl_rt_push(rt, out, pg_jv_list_at(tmp, j));
        return out;
    }
    /* whitespace split (maxsplit honoured from the left only) */
    size_t i = 0;
    int64_t k = 0;
    for (;;) {
        size_t l;
        while (i < n && (l = ws_at(p, n, i))) i += l;
        if (i >= n) break;
        if (maxsplit >= 0 && k >= maxsplit) {
            pg_jv rest = str_strip(pg_jv_str_ref(p + i, n - i), pg_jv_none(), 2);
            pg_tpl_rt_push(rt, out, rest);
            break;
        }
        size_t st = i;
        while (i < n && !ws_at(p, n, i)) i += cp_len_at(p, n, i);
        pg_tpl_rt_push(rt, out, pg_jv_str_ref(p + st, i - st));
        k++;
    }
    return out;
}

/* Python str.splitlines (keepends=False) */
static pg_jv str_splitlines(pg_tpl_rt *rt, pg_jv s) {
    pg_jv out = pg_tpl_rt_list(rt, 0);
    const char *p = s.u.s.p;
    size_t n = s.u.s.n, st = 0, i = 0;
    while (i < n) {
        size_t l;
        uint32_t c = cp_at(p, n, i, &l);
        int br = c == '\n' || c == '\r' || c == 0x0B || c == 0x0C || (c >= 0x1C && c <= 0x1E) || c == 0x85 ||
                 c == 0x2028 || c == 0x2029;
        if (br) {
            pg_tpl_rt_push(rt, out, pg_jv_str_ref(p + st, i - st));
            if (c == '\r' && i + 1 < n && p[i + 1] == '\n') l = 2;
            i += l;
            st = i;
        } else {
            i += l;
        }
    }
    if (st < n) pg_tpl_rt_push(rt, out, pg_jv_str_ref(p + st, n - st));
    return out;
}

static pg_jv markup(pg_jv s) {
    s.aux = 1;
    return s;
}

/* markupsafe.escape: a Markup string is returned as is; the result is Markup. */
static pg_jv html_escape(pg_tpl_rt *rt, pg_jv s) {
    if (s.aux) return s;
    pg_jv_buf b;
    pg_tpl_rt_buf(rt, &b);
    for (size_t i = 0; i < s.u.s.n; i++) {
        char c = s.u.s.p[i];
        switch (c) {
        case '&': pg_jv_buf_put(&b, "&amp;", 5); break;
        case '<': pg_jv_buf_put(&b, "&lt;", 4); break;
        case '>': pg_jv_buf_put(&b, "&gt;", 4); break;
        case '"': pg_jv_buf_put(&b, "&#34;", 5); break;
        case '\'': pg_jv_buf_put(&b, "&#39;", 5); break;
        default: pg_jv_buf_putc(&b, c);
        }
    }
    return markup(pg_tpl_rt_buf_done(rt, &b));
}

pg_jv pg_tpl_escape(pg_tpl_rt *rt, pg_jv s) { return html_escape(rt, s); }

/* ------------------------------------------------------------ item access */

static pg_jv undef_attr(pg_jv obj, const char *name, size_t n) {
    return pg_tpl_rt_undef(PG_UNDEF_ATTR + obj.type, name, n);
}

static pg_jv loop_attr(pg_tpl_rt *rt, pg_jv obj, const char *name, size_t n) {
    pg_tpl_loop *l = obj.u.ptr;
#define IS(s) (n == sizeof(s) - 1 && memcmp(name, s, n) == 0)
    if (IS("index")) return pg_jv_int((int64_t)l->i + 1);
    if (IS("index0")) return pg_jv_int((int64_t)l->i);
    if (IS("revindex")) return pg_jv_int((int64_t)(l->len - l->i));
    if (IS("revindex0")) return pg_jv_int((int64_t)(l->len - l->i - 1));
    if (IS("first")) return pg_jv_bool(l->i == 0);
    if (IS("last")) return pg_jv_bool(l->i + 1 == l->len);
    if (IS("length")) return pg_jv_int((int64_t)l->len);
    if (IS("depth")) return pg_jv_int(1);
    if (IS("depth0")) return pg_jv_int(0);
    if (IS("previtem"))
        return l->i > 0 ? l->items[l->i - 1] : pg_tpl_rt_undef(PG_UNDEF_PLAIN, NULL, 0);
    if (IS("nextitem"))
        return l->i + 1 < l->len ? l->items[l->i + 1] : pg_tpl_rt_undef(PG_UNDEF_PLAIN, NULL, 0);
    if (IS("cycle")) return pg_tpl_bound(rt, LP_CYCLE, obj);
    if (IS("changed")) return pg_tpl_bound(rt, LP_CHANGED, obj);
#undef IS
    return undef_attr(obj, name, n);
}

pg_jv pg_tpl_getattr(pg_tpl_rt *rt, pg_jv obj, const char *name, size_t n) {
    pg_jv v;
    int id;
    switch (obj.type) {
    case PG_JV_UNDEFINED: pg_tpl_rt_undefined_error(rt, obj);
    case PG_JV_DICT:
        if ((id = method_id(PG_JV_DICT, name, n)) >= 0) return pg_tpl_bound(rt, id, obj);
        if (pg_jv_dict_get_str(obj, name, n, &v)) return v;
        return undef_attr(obj, name, n);
    case PG_JV_NAMESPACE:
        if (pg_jv_dict_get_str(obj, name, n, &v)) return v;
        return undef_attr(obj, name, n);
    case PG_JV_STRING:
    case PG_JV_LIST:
        if ((id = method_id(obj.type, name, n)) >= 0) return pg_tpl_bound(rt, id, obj);
        return undef_attr(obj, name, n);
    case PG_JV_LOOP: return loop_attr(rt, obj, name, n);
    default: return undef_attr(obj, name, n);
    }
}

static int norm_index(int64_t i, size_t len, size_t *out) {
    if (i < 0) i += (int64_t)len;
    if (i < 0 || (uint64_t)i >= len) return 0;
    *out = (size_t)i;
    return 1;
}

pg_jv pg_tpl_getitem(pg_tpl_rt *rt, pg_jv obj, pg_jv key) {
    pg_jv v;
    size_t idx;
    switch (obj.type) {
    case PG_JV_UNDEFINED: pg_tpl_rt_undefined_error(rt, obj);
    case PG_JV_DICT:
    case PG_JV_NAMESPACE:
        if (pg_jv_dict_get(obj, key, &v)) return v;
        if (key.type == PG_JV_STRING) return pg_tpl_getattr(rt, obj, key.u.s.p, key.u.s.n);
        return undef_attr(obj, NULL, 0);
    case PG_JV_LIST:
        if (key.type == PG_JV_INT || key.type == PG_JV_BOOL) {
            int64_t i = key.type == PG_JV_INT ? key.u.i : key.u.b;
            if (norm_index(i, pg_jv_list_len(obj), &idx)) return pg_jv_list_at(obj, idx);
            return undef_attr(obj, NULL, 0);
        }
        if (key.type == PG_JV_STRING) return pg_tpl_getattr(rt, obj, key.u.s.p, key.u.s.n);
        return undef_attr(obj, NULL, 0);
    case PG_JV_STRING:
        if (key.type == PG_JV_INT || key.type == PG_JV_BOOL) {
            int64_t i = key.type == PG_JV_INT ? key.u.i : key.u.b;
            size_t len = pg_jv_utf8_len(obj.u.s.p, obj.u.s.n);
            if (!norm_index(i, len, &idx)) return undef_attr(obj, NULL, 0);
            size_t off = cp_offset(obj.u.s.p, obj.u.s.n, idx);
            return pg_jv_str_ref(obj.u.s.p + off, cp_len_at(obj.u.s.p, obj.u.s.n, off));
        }
        if (key.type == PG_JV_STRING) return pg_tpl_getattr(rt, obj, key.u.s.p, key.u.s.n);
        return undef_attr(obj, NULL, 0);
    case PG_JV_LOOP:
        if (key.type == PG_JV_STRING) return loop_attr(rt, obj, key.u.s.p, key.u.s.n);
        return undef_attr(obj, NULL, 0);
    default: return undef_attr(obj, NULL, 0);
    }
}

/* Python slice.indices */
static void slice_indices(pg_tpl_rt *rt, pg_jv start, pg_jv stop, pg_jv step, size_t len, int64_t *s0,
                          int64_t *s1, int64_t *st) {
    int64_t L = (int64_t)len;
    int64_t k = 1;
    if (step.type != PG_JV_NONE && step.type != PG_JV_UNDEFINED) k = pg_tpl_rt_int(rt, step, "slice step");
    if (k == 0) FAIL("slice step cannot be zero");
    int64_t lo, hi;
    if (k > 0) {
        lo = 0;
        hi = L;
    } else {
        lo = -1;
        hi = L - 1;
    }
    int64_t a = k > 0 ? lo : hi, b = k > 0 ? hi : lo;
    if (start.type != PG_JV_NONE && start.type != PG_JV_UNDEFINED) {
        a = pg_tpl_rt_int(rt, start, "slice index");
        if (a < 0) {
            a += L;
            if (a < lo) a = lo;
        } else if (a > hi) {
            a = hi;
        }
    }
    if (stop.type != PG_JV_NONE && stop.type != PG_JV_UNDEFINED) {
        b = pg_tpl_rt_int(rt, stop, "slice index");
        if (b < 0) {
            b += L;
            if (b < lo) b = lo;
        } else if (b > hi) {
            b = hi;
        }
    }
    *s0 = a;
    *s1 = b;
    *st = k;
}

pg_jv pg_tpl_slice(pg_tpl_rt *rt, pg_jv obj, pg_jv start, pg_jv stop, pg_jv step) {
    if (obj.type == PG_JV_UNDEFINED) pg_tpl_rt_undefined_error(rt, obj);
    if (obj.type == PG_JV_LIST) {
        int64_t a, b, k;
        slice_indices(rt, start, stop, step, pg_jv_list_len(obj), &a, &b, &k);
        pg_jv out = pg_jv_list_is_tuple(obj) ? pg_jv_tuple_new(rt->arena, 0) : pg_tpl_rt_list(rt, 0);
        if (out.type != PG_JV_LIST) pg_tpl_rt_fail(rt, PG_ENOMEM, "out of memory");
        for (int64_t i = a; k > 0 ? i < b : i > b; i += k) pg_tpl_rt_push(rt, out, pg_jv_list_at(obj, (size_t)i));
        return out;
    }
    if (obj.type == PG_JV_STRING) {
        const char *p = obj.u.s.p;
        size_t n = obj.u.s.n;
        size_t len = pg_jv_utf8_len(p, n);
        int64_t a, b, k;
        slice_indices(rt, start, stop, step, len, &a, &b, &k);
        if (k == 1) {
            if (b <= a) return pg_jv_str_ref("", 0);
            size_t oa = cp_offset(p, n, (size_t)a);
            size_t ob = oa + cp_offset(p + oa, n - oa, (size_t)(b - a));
            return pg_jv_str_ref(p + oa, ob - oa);
        }
        /* general step: index code point offsets once */
        size_t *offs = pg_tpl_rt_alloc(rt, (len + 1) * sizeof(size_t));
        for (size_t i = 0, o = 0; i <= len; i++) {
            offs[i] = o;
            if (o < n) o += cp_len_at(p, n, o);
        }
        pg_jv_buf bb;
        pg_tpl_rt_buf(rt, &bb);
        for (int64_t i = a; k > 0 ? i < b : i > b; i += k)
            pg_jv_buf_put(&bb, p + offs[i], offs[i + 1] - offs[i]);
        return pg_tpl_rt_buf_done(rt, &bb);
    }
    FAIL("'%s' object is not subscriptable", pg_jv_type_name(obj));
}

/* attribute path "a.b.0" through getitem (Jinja's make_attrgetter) */
static pg_jv attr_path(pg_tpl_rt *rt, pg_jv v, pg_jv path) {
    if (path.type == PG_JV_INT) return pg_tpl_getitem(rt, v, path);
    path = need_str(rt, path, "attribute");
    const char *p = path.u.s.p;
    size_t n = path.u.s.n, i = 0;
    while (i <= n) {
        size_t j = i;
        while (j < n && p[j] != '.') j++;
        pg_jv key = pg_jv_str_ref(p + i, j - i);
        int digits = j > i;
        int64_t iv = 0;
        for (size_t k = i; k < j; k++) {
            if (!is_digit_c(p[k]) || iv > 1000000000000LL) {
                digits = 0;
                break;
            }
            iv = iv * 10 + (p[k] - '0');
        }
        if (digits) key = pg_jv_int(iv);
        if (v.type == PG_JV_UNDEFINED) return v;
        v = pg_tpl_getitem(rt, v, key);
        i = j + 1;
    }
    return v;
}

/* ------------------------------------------------------------ formatting */

static void pad_to(pg_jv_buf *b, const char *s, size_t n, size_t width, int left, char fill) {
    size_t len = pg_jv_utf8_len(s, n);
    if (!left) for (size_t i = len; i < width; i++) pg_jv_buf_putc(b, fill);
    pg_jv_buf_put(b, s, n);
    if (left) for (size_t i = len; i < width; i++) pg_jv_buf_putc(b, fill);
}

static pg_jv num_arg(pg_tpl_rt *rt, pg_jv v, char conv) {
    if (v.type == PG_JV_UNDEFINED) pg_tpl_rt_undefined_error(rt, v);
    if (!pg_jv_is_number(v)) FAIL("%%%c format: a real number is required, not %s", conv, pg_jv_type_name(v));
    return v;
}

pg_jv pg_tpl_percent_format(pg_tpl_rt *rt, pg_jv fmt, pg_jv args) {
    fmt = need_str(rt, fmt, "format");
    const pg_jv *av = &args;
    size_t an = 1, ai = 0;
    pg_jv mapping = pg_jv_undefined();
    if (args.type == PG_JV_LIST && pg_jv_list_is_tuple(args)) {
        av = pg_jv_list_items(args);
        an = pg_jv_list_len(args);
    } else if (args.type == PG_JV_DICT) {
        mapping = args;
    }
    pg_jv_buf b;
    pg_tpl_rt_buf(rt, &b);
    const char *p = fmt.u.s.p;
    size_t n = fmt.u.s.n, i = 0;
    int used_mapping = 0;
    while (i < n && !b.err) {
        if (p[i] != '%') {
            pg_jv_buf_putc(&b, p[i++]);
            continue;
        }
        i++;
        if (i >= n) FAIL("incomplete format");
        if (p[i] == '%') {
            pg_jv_buf_putc(&b, '%');
            i++;
            continue;
        }
        pg_jv arg;
        int have = 0;
        if (p[i] == '(') {
            size_t st = ++i;
            while (i < n && p[i] != ')') i++;
            if (i >= n) FAIL("incomplete format key");
            if (mapping.type != PG_JV_DICT) FAIL("format requires a mapping");
            if (!pg_jv_dict_get_str(mapping, p + st, i - st, &arg)) FAIL("format key '%.*s' not found", (int)(i - st), p + st);
            i++;
            have = 1;
            used_mapping = 1;
        }
        char flags[8];
        size_t nf = 0;
        while (i < n && strchr("-+ 0#", p[i]) && nf < 6) flags[nf++] = p[i++];
        flags[nf] = 0;
        int width = -1, prec = -1;
        while (i < n && is_digit_c(p[i])) {
            width = (width < 0 ? 0 : width) * 10 + (p[i++] - '0');
            if (width > 100000) FAIL("format width too large");
        }
        if (i < n && p[i] == '.') {
            i++;
            prec = 0;
            while (i < n && is_digit_c(p[i])) {
                prec = prec * 10 + (p[i++] - '0');
                if (prec > 1000) FAIL("format precision too large");
            }
        }
        while (i < n && (p[i] == 'l' || p[i] == 'h' || p[i] == 'L')) i++;
        if (i >= n) FAIL("incomplete format");
        char conv = p[i++];
        if (!have) {
            if (mapping.type == PG_JV_DICT) {
                arg = mapping;
                used_mapping = 1;
            } else {
                if (ai >= an) FAIL("not enough arguments for format string");
                arg = av[ai++];
            }
        }
        int left = strchr(flags, '-') != NULL;
        char cfmt[32];
        switch (conv) {
        case 's':
        case 'r':
        case 'a': {
            pg_jv s;
            if (conv == 's') {
                s = pg_tpl_rt_to_str(rt, arg);
            } else {
                pg_jv_buf rb;
                pg_tpl_rt_buf(rt, &rb);
                pg_jv_write_repr(&rb, arg);
                s = pg_tpl_rt_buf_done(rt, &rb);
            }
            size_t len = s.u.s.n;
            if (prec >= 0) len = cp_offset(s.u.s.p, s.u.s.n, (size_t)prec);
            pad_to(&b, s.u.s.p, len, width < 0 ? 0 : (size_t)width, left, ' ');
            break;
        }
        case 'd':
        case 'i':
        case 'u':
        case 'x':
        case 'X':
        case 'o': {
            pg_jv v = num_arg(rt, arg, conv);
            long long x = v.type == PG_JV_FLOAT ? (long long)v.u.f : (long long)(v.type == PG_JV_INT ? v.u.i : v.u.b);
            if (v.type == PG_JV_FLOAT && !(fabs(v.u.f) < 9.2e18)) FAIL("cannot convert float to integer");
            char c = conv == 'i' || conv == 'u' ? 'd' : conv;
            snprintf(cfmt, sizeof cfmt, "%%%s%s%s%s%sll%c", flags, width >= 0 ? "*" : "", prec >= 0 ? "." : "",
                     prec >= 0 ? "*" : "", "", c);
            if (width >= 0 && prec >= 0) pg_jv_buf_printf(&b, cfmt, width, prec, x);
            else if (width >= 0) pg_jv_buf_printf(&b, cfmt, width, x);
            else if (prec >= 0) pg_jv_buf_printf(&b, cfmt, prec, x);
            else pg_jv_buf_printf(&b, cfmt, x);
            break;
        }
        case 'e': case 'E': case 'f': case 'F': case 'g': case 'G': {
            double x = pg_jv_as_double(num_arg(rt, arg, conv));
            snprintf(cfmt, sizeof cfmt, "%%%s%s.*%c", flags, width >= 0 ? "*" : "", conv);
            if (width >= 0) pg_jv_buf_printf(&b, cfmt, width, prec < 0 ? 6 : prec, x);
            else pg_jv_buf_printf(&b, cfmt, prec < 0 ? 6 : prec, x);
            break;
        }
        case 'c': {
            pg_jv s;
            if (arg.type == PG_JV_STRING && pg_jv_utf8_len(arg.u.s.p, arg.u.s.n) == 1) {
                s = arg;
            } else if (arg.type == PG_JV_INT && arg.u.i >= 0 && arg.u.i < 0x110000) {
                char tmp[4];
                size_t o = 0;
                uint32_t c = (uint32_t)arg.u.i;
                if (c < 0x80) tmp[o++] = (char)c;
                else if (c < 0x800) { tmp[o++] = (char)(0xC0 | (c >> 6)); tmp[o++] = (char)(0x80 | (c & 0x3F)); }
                else if (c < 0x10000) { tmp[o++] = (char)(0xE0 | (c >> 12)); tmp[o++] = (char)(0x80 | ((c >> 6) & 0x3F)); tmp[o++] = (char)(0x80 | (c & 0x3F)); }
                else { tmp[o++] = (char)(0xF0 | (c >> 18)); tmp[o++] = (char)(0x80 | ((c >> 12) & 0x3F)); tmp[o++] = (char)(0x80 | ((c >> 6) & 0x3F)); tmp[o++] = (char)(0x80 | (c & 0x3F)); }
                s = pg_tpl_rt_str(rt, tmp, o);
            } else {
                FAIL("%%c requires int or char");
            }
            pad_to(&b, s.u.s.p, s.u.s.n, width < 0 ? 0 : (size_t)width, left, ' ');
            break;
        }
        default: FAIL("unsupported format character '%c'", conv);
        }
    }
    if (!used_mapping && ai < an && mapping.type != PG_JV_DICT)
        FAIL("not all arguments converted during string formatting");
    return pg_tpl_rt_buf_done(rt, &b);
}

/* str.format: {} {0} {name} with optional !r/!s and a simple spec
 * [[fill]align][sign][0][width][.precision][type] */
static pg_jv str_format(pg_tpl_rt *rt, pg_jv fmt, const pg_tpl_args *a) {
    pg_jv_buf b;
    pg_tpl_rt_buf(rt, &b);
    const char *p = fmt.u.s.p;
    size_t n = fmt.u.s.n, i = 0, auto_i = 0;
    while (i < n && !b.err) {
        char c = p[i];
        if (c == '}') {
            if (i + 1 < n && p[i + 1] == '}') {
                pg_jv_buf_putc(&b, '}');
                i += 2;
                continue;
            }
            FAIL("Single '}' encountered in format string");
        }
        if (c != '{') {
            pg_jv_buf_putc(&b, c);
            i++;
            continue;
        }
        if (i + 1 < n && p[i + 1] == '{') {
            pg_jv_buf_putc(&b, '{');
            i += 2;
            continue;
        }
        size_t st = ++i;
        while (i < n && p[i] != '}' && p[i] != '!' && p[i] != ':') i++;
        size_t fe = i;
        char convc = 0;
        if (i < n && p[i] == '!') {
            if (i + 1 >= n) FAIL("unmatched '{' in format string");
            convc = p[i + 1];
            i += 2;
        }
        const char *spec = "";
        size_t specn = 0;
        if (i < n && p[i] == ':') {
            spec = p + i + 1;
            while (i < n && p[i] != '}') i++;
            specn = (size_t)(p + i - spec);
        }
        if (i >= n || p[i] != '}') FAIL("unmatched '{' in format string");
        i++;
        pg_jv arg;
        if (fe == st) {
            if (auto_i >= a->npos) FAIL("Replacement index %zu out of range for positional args tuple", auto_i);
            arg = a->pos[auto_i++];
        } else if (is_digit_c(p[st])) {
            size_t k = 0;
            for (size_t j = st; j < fe; j++) {
                if (!is_digit_c(p[j]) || k > 1000000) FAIL("unsupported format field");
                k = k * 10 + (size_t)(p[j] - '0');
            }
            if (k >= a->npos) FAIL("Replacement index %zu out of range for positional args tuple", k);
            arg = a->pos[k];
        } else {
            int found = 0;
            for (size_t k = 0; k < a->nkw; k++)
                if (strlen(a->kwn[k]) == fe - st && memcmp(a->kwn[k], p + st, fe - st) == 0) {
                    arg = a->kwv[k];
                    found = 1;
                }
            if (!found) FAIL("format key '%.*s' not found", (int)(fe - st), p + st);
        }
        pg_jv s;
        if (convc == 'r' || convc == 'a') {
            pg_jv_buf rb;
            pg_tpl_rt_buf(rt, &rb);
            pg_jv_write_repr(&rb, arg);
            s = pg_tpl_rt_buf_done(rt, &rb);
        } else {
            s = pg_jv_str_ref("", 0);
        }
        /* parse spec */
        char fill = ' ', align = 0, sign = 0, type = 0;
        int zero = 0, width = 0, prec = -1;
        size_t k = 0;
        if (specn >= 2 && strchr("<>^=", spec[1])) {
            fill = spec[0];
            align = spec[1];
            k = 2;
        } else if (specn >= 1 && strchr("<>^=", spec[0])) {
            align = spec[0];
            k = 1;
        }
        if (k < specn && strchr("+- ", spec[k])) sign = spec[k++];
        if (k < specn && spec[k] == '0') {
            zero = 1;
            k++;
        }
        while (k < specn && is_digit_c(spec[k])) {
            width = width * 10 + (spec[k++] - '0');
            if (width > 100000) FAIL("format width too large");
        }
        if (k < specn && spec[k] == '.') {
            k++;
            prec = 0;
            while (k < specn && is_digit_c(spec[k])) {
                prec = prec * 10 + (spec[k++] - '0');
                if (prec > 1000) FAIL("format precision too large");
            }
        }
        if (k < specn) type = spec[k++];
        if (k != specn) FAIL("invalid format specifier");
        char tmp[1400];
        if (!convc && type && strchr("dxXobn", type)) {
            if (arg.type != PG_JV_INT && arg.type != PG_JV_BOOL) FAIL("Unknown format code '%c' for object of type '%s'", type, pg_jv_type_name(arg));
            long long x = arg.type == PG_JV_INT ? arg.u.i : arg.u.b;
            char cf[16];
            snprintf(cf, sizeof cf, "%%%sll%c", sign == '+' ? "+" : sign == ' ' ? " " : "", type == 'n' || type == 'b' ? 'd' : type);
            snprintf(tmp, sizeof tmp, cf, x);
            s = pg_tpl_rt_str(rt, tmp, strlen(tmp));
            if (!align) align = '>';
        } else if (!convc && type && strchr("eEfFgG%", type)) {
            if (!pg_jv_is_number(arg)) FAIL("Unknown format code '%c' for object of type '%s'", type, pg_jv_type_name(arg));
            double x = pg_jv_as_double(arg);
            char cf[16];
            if (type == '%') x *= 100;
            snprintf(cf, sizeof cf, "%%%s.*%c", sign == '+' ? "+" : sign == ' ' ? " " : "", type == '%' ? 'f' : type);
            snprintf(tmp, sizeof tmp - 1, cf, prec < 0 ? 6 : prec, x);
            if (type == '%') strcat(tmp, "%");
            s = pg_tpl_rt_str(rt, tmp, strlen(tmp));
            if (!align) align = '>';
        } else if (!convc) {
            if (pg_jv_is_number(arg) && arg.type != PG_JV_BOOL && !type && prec >= 0) {
                snprintf(tmp, sizeof tmp, "%.*g", prec > 60 ? 60 : prec, pg_jv_as_double(arg));
                s = pg_tpl_rt_str(rt, tmp, strlen(tmp));
            } else {
                s = pg_tpl_rt_to_str(rt, arg);
                if (prec >= 0) s.u.s.n = cp_offset(s.u.s.p, s.u.s.n, (size_t)prec);
            }
            if (!align) align = pg_jv_is_number(arg) && arg.type != PG_JV_BOOL ? '>' : '<';
        }
        if (zero && !align) {
            fill = '0';
            align = '=';
        } else if (zero && fill == ' ') {
            fill = '0';
        }
        size_t len = pg_jv_utf8_len(s.u.s.p, s.u.s.n);
        size_t padn = (size_t)width > len ? (size_t)width - len : 0;
        if (align == '<') {
            pg_jv_buf_put(&b, s.u.s.p, s.u.s.n);
            for (size_t q = 0; q < padn; q++) pg_jv_buf_putc(&b, fill);
        } else if (align == '^') {
            for (size_t q = 0; q < padn / 2; q++) pg_jv_buf_putc(&b, fill);
            pg_jv_buf_put(&b, s.u.s.p, s.u.s.n);
            for (size_t q = 0; q < padn - padn / 2; q++) pg_jv_buf_putc(&b, fill);
        } else if (align == '=' && s.u.s.n && (s.u.s.p[0] == '-' || s.u.s.p[0] == '+' || s.u.s.p[0] == ' ')) {
            pg_jv_buf_putc(&b, s.u.s.p[0]);
            for (size_t q = 0; q < padn; q++) pg_jv_buf_putc(&b, fill);
            pg_jv_buf_put(&b, s.u.s.p + 1, s.u.s.n - 1);
        } else {
            for (size_t q = 0; q < padn; q++) pg_jv_buf_putc(&b, fill);
            pg_jv_buf_put(&b, s.u.s.p, s.u.s.n);
        }
    }
    return pg_tpl_rt_buf_done(rt, &b);
}

/* ------------------------------------------------------------ sorting */

typedef struct sitem {
    pg_jv key, item;
} sitem;

static int cmp_keys(pg_tpl_rt *rt, pg_jv a, pg_jv b) {
    int c;
    if (pg_jv_compare(a, b, &c) != PG_OK)
        FAIL("'<' not supported between instances of '%s' and '%s'", pg_jv_type_name(a), pg_jv_type_name(b));
    return c;
}

static void merge_sort(pg_tpl_rt *rt, sitem *v, sitem *tmp, size_t n, int reverse) {
    if (n < 2) return;
    size_t h = n / 2;
    merge_sort(rt, v, tmp, h, reverse);
    merge_sort(rt, v + h, tmp, n - h, reverse);
    size_t i = 0, j = h, o = 0;
    while (i < h && j < n) {
        int c = cmp_keys(rt, v[j].key, v[i].key);
        /* take right only if strictly before left (stability) */
        if (reverse ? c > 0 : c < 0)
            tmp[o++] = v[j++];
        else
            tmp[o++] = v[i++];
    }
    while (i < h) tmp[o++] = v[i++];
    while (j < n) tmp[o++] = v[j++];
    memcpy(v, tmp, n * sizeof *v);
}

static pg_jv sort_key(pg_tpl_rt *rt, pg_jv v, int case_sensitive) {
    if (!case_sensitive && v.type == PG_JV_STRING) return str_map_case(rt, v, 0);
    return v;
}

/* ------------------------------------------------------------ tests */

static int run_test_by_name(pg_tpl_rt *rt, pg_jv name, pg_jv v, const pg_tpl_args *rest);

int pg_tpl_test_apply(pg_tpl_rt *rt, int id, pg_jv v, const pg_tpl_args *a) {
    pg_jv x = pg_tpl_arg(a, 0, NULL, pg_jv_undefined(), NULL);
    int c;
    switch (id) {
    case T_boolean: return v.type == PG_JV_BOOL;
    case T_callable: return v.type == PG_JV_MACRO || v.type == PG_JV_FUNC;
    case T_defined: return v.type != PG_JV_UNDEFINED;
    case T_undefined: return v.type == PG_JV_UNDEFINED;
    case T_none: return v.type == PG_JV_NONE;
    case T_true: return v.type == PG_JV_BOOL && v.u.b;
    case T_false: return v.type == PG_JV_BOOL && !v.u.b;
    case T_string: return v.type == PG_JV_STRING;
    case T_number: return pg_jv_is_number(v);
    case T_integer: return v.type == PG_JV_INT;
    case T_float: return v.type == PG_JV_FLOAT;
    case T_mapping: return v.type == PG_JV_DICT;
    case T_iterable: return v.type == PG_JV_LIST || v.type == PG_JV_DICT || v.type == PG_JV_STRING ||
                            v.type == PG_JV_UNDEFINED;
    case T_sequence: return v.type == PG_JV_LIST || v.type == PG_JV_DICT || v.type == PG_JV_STRING ||
                            v.type == PG_JV_UNDEFINED;
    case T_escaped: return 0;
    case T_lower:
    case T_upper: {
        pg_jv s = pg_tpl_rt_to_str(rt, v);
        int cased = 0;
        for (size_t i = 0; i < s.u.s.n;) {
            size_t l;
            uint32_t ch = cp_at(s.u.s.p, s.u.s.n, i, &l);
            i += l;
            if (id == T_lower ? u_lower(ch) != ch : (u_upper(ch) != ch || ch == 0xDF)) return 0;
            if (u_cased(ch)) cased = 1;
        }
        return cased;
    }
    case T_odd:
    case T_even: {
        int64_t i = pg_tpl_rt_int(rt, v, "value");
        return id == T_odd ? (i % 2 != 0) : (i % 2 == 0);
    }
    case T_divisibleby: {
        int64_t i = pg_tpl_rt_int(rt, v, "value"), d = pg_tpl_rt_int(rt, x, "divisor");
        if (d == 0) FAIL("integer division or modulo by zero");
        if (d == -1) return 1;
        return i % d == 0;
    }
    case T_eq:
    case T_equalto: return pg_jv_equal(v, x);
    case T_ne: return !pg_jv_equal(v, x);
    case T_lt:
    case T_lessthan: return cmp_keys(rt, v, x) < 0;
    case T_le: return cmp_keys(rt, v, x) <= 0;
    case T_gt:
    case T_greaterthan: return cmp_keys(rt, v, x) > 0;
    case T_ge: return cmp_keys(rt, v, x) >= 0;
    case T_sameas:
        if (v.type != x.type) return 0;
        switch (v.type) {
        case PG_JV_NONE:
        case PG_JV_UNDEFINED: return 1;
        case PG_JV_BOOL: return v.u.b == x.u.b;
        case PG_JV_INT: return v.u.i == x.u.i;
        case PG_JV_FLOAT: return v.u.f == x.u.f;
        case PG_JV_STRING: return v.u.s.p == x.u.s.p && v.u.s.n == x.u.s.n;
        default: return v.u.ptr == x.u.ptr;
        }
    case T_in: {
        if (x.type == PG_JV_STRING) {
            pg_jv s = need_str(rt, v, "'in <string>' left operand");
            return memmem_s(x.u.s.p, x.u.s.n, s.u.s.p, s.u.s.n) != NULL;
        }
        if (x.type == PG_JV_DICT || x.type == PG_JV_NAMESPACE) return pg_jv_dict_get(x, v, NULL);
        pg_jv l = pg_tpl_rt_iter(rt, x);
        for (size_t i = 0; i < pg_jv_list_len(l); i++)
            if (pg_jv_equal(pg_jv_list_at(l, i), v)) return 1;
        return 0;
    }
    case T_filter: {
        pg_jv s = need_str(rt, v, "filter name");
        return pg_tpl_filter_id(s.u.s.p, s.u.s.n) >= 0;
    }
    case T_test: {
        pg_jv s = need_str(rt, v, "test name");
        return pg_tpl_test_id(s.u.s.p, s.u.s.n) >= 0;
    }
    }
    (void)c;
    PG_PANIC("unknown test id %d", id);
}

int pg_tpl_contains(pg_tpl_rt *rt, pg_jv container, pg_jv item) {
    pg_tpl_args a = {&container, 1, NULL, NULL, 0};
    return pg_tpl_test_apply(rt, T_in, item, &a);
}

static int run_test_by_name(pg_tpl_rt *rt, pg_jv name, pg_jv v, const pg_tpl_args *rest) {
    name = need_str(rt, name, "test name");
    int id = pg_tpl_test_id(name.u.s.p, name.u.s.n);
    if (id < 0) {
        /* operator aliases */
        static const struct {
            const char *op;
            int id;
        } al[] = {{"==", T_eq}, {"!=", T_ne}, {"<", T_lt}, {"<=", T_le}, {">", T_gt}, {">=", T_ge}};
        for (size_t k = 0; k < sizeof al / sizeof al[0]; k++)
            if (strlen(al[k].op) == name.u.s.n && memcmp(al[k].op, name.u.s.p, name.u.s.n) == 0) id = al[k].id;
        if (id < 0) FAIL("no test named '%.*s'", (int)(name.u.s.n > 60 ? 60 : name.u.s.n), name.u.s.p);
    }
    return pg_tpl_test_apply(rt, id, v, rest);
}

/* select/reject/selectattr/rejectattr */
static pg_jv select_impl(pg_tpl_rt *rt, pg_jv seq, const pg_tpl_args *a, int use_attr, int want) {
    /* Jinja2 checks `if value:` first, so a falsy input (None) gives [] */
    pg_jv l = pg_jv_truthy(seq) ? pg_tpl_rt_iter(rt, seq) : pg_tpl_rt_list(rt, 0);
    size_t k = 0;
    pg_jv attr = pg_jv_undefined();
    if (use_attr) {
        if (a->npos < 1) FAIL("selectattr/rejectattr need an attribute");
        attr = a->pos[k++];
    }
    int has_test = a->npos > k;
    pg_jv tname = has_test ? a->pos[k++] : pg_jv_undefined();
    pg_tpl_args rest = {a->pos + k, a->npos - k, a->kwn, a->kwv, a->nkw};
    pg_jv out = pg_tpl_rt_list(rt, 0);
    for (size_t i = 0; i < pg_jv_list_len(l); i++) {
        pg_tpl_rt_tick(rt);
        pg_jv item = pg_jv_list_at(l, i);
        pg_jv v = use_attr ? attr_path(rt, item, attr) : item;
        int r = has_test ? run_test_by_name(rt, tname, v, &rest) : pg_jv_truthy(v);
        if (r == want) pg_tpl_rt_push(rt, out, item);
    }
    return out;
}

/* ------------------------------------------------------------ tojson */

static pg_jv tojson(pg_tpl_rt *rt, pg_jv v, const pg_tpl_args *a) {
    static const char *names[] = {"ensure_ascii", "indent", "separators", "sort_keys", NULL};
    pg_tpl_args_check(rt, a, 4, names, "tojson");
    pg_jv_json_opts o = {0, -1, NULL, NULL, NULL, 0};
    o.ensure_ascii = pg_jv_truthy(pg_tpl_arg(a, 0, "ensure_ascii", pg_jv_bool(0), NULL));
    pg_jv ind = pg_tpl_arg(a, 1, "indent", pg_jv_none(), NULL);
    if (ind.type == PG_JV_INT || ind.type == PG_JV_BOOL) {
        int64_t w = ind.type == PG_JV_INT ? ind.u.i : ind.u.b;
        if (w > 1000) FAIL("indent too large");
        o.indent = w < 0 ? 0 : (int)w;
    } else if (ind.type == PG_JV_STRING) {
        char *s = pg_tpl_rt_alloc(rt, ind.u.s.n + 1);
        memcpy(s, ind.u.s.p, ind.u.s.n);
        o.indent_str = s;
    } else if (ind.type != PG_JV_NONE && ind.type != PG_JV_UNDEFINED) {
        FAIL("indent must be an integer or a string");
    }
    pg_jv seps = pg_tpl_arg(a, 2, "separators", pg_jv_none(), NULL);
    if (seps.type == PG_JV_LIST) {
        if (pg_jv_list_len(seps) != 2) FAIL("separators must be a pair of strings");
        pg_jv s0 = need_str(rt, pg_jv_list_at(seps, 0), "separator");
        pg_jv s1 = need_str(rt, pg_jv_list_at(seps, 1), "separator");
        char *x = pg_tpl_rt_alloc(rt, s0.u.s.n + 1), *y = pg_tpl_rt_alloc(rt, s1.u.s.n + 1);
        memcpy(x, s0.u.s.p, s0.u.s.n);
        memcpy(y, s1.u.s.p, s1.u.s.n);
        o.item_sep = x;
        o.key_sep = y;
    }
    o.sort_keys = pg_jv_truthy(pg_tpl_arg(a, 3, "sort_keys", pg_jv_bool(0), NULL));
    pg_jv_buf b;
    pg_tpl_rt_buf(rt, &b);
    pg_jv_write_json(&b, v, &o);
    if (b.err == PG_EINVAL) {
        if (v.type == PG_JV_UNDEFINED) pg_tpl_rt_undefined_error(rt, v);
        FAIL("Object of type %s is not JSON serializable", b.bad_type ? b.bad_type : "object");
    }
    return pg_tpl_rt_buf_done(rt, &b);
}

/* ------------------------------------------------------------ filters */

static pg_jv to_list_copy(pg_tpl_rt *rt, pg_jv v) {
    pg_jv l = pg_tpl_rt_iter(rt, v);
    size_t n = pg_jv_list_len(l);
    pg_jv out = pg_tpl_rt_list(rt, n);
    for (size_t i = 0; i < n; i++) pg_tpl_rt_push(rt, out, pg_jv_list_at(l, i));
    return out;
}

static pg_jv parse_int_str(pg_jv s, int base, int *ok) {
    pg_jv t = str_strip(s, pg_jv_none(), 3);
    const char *p = t.u.s.p;
    size_t n = t.u.s.n, i = 0;
    int neg = 0;
    *ok = 0;
    if (i < n && (p[i] == '+' || p[i] == '-')) neg = p[i++] == '-';
    if (base == 16 && i + 1 < n && p[i] == '0' && (p[i + 1] | 0x20) == 'x') i += 2;
    uint64_t v = 0;
    size_t nd = 0;
    for (; i < n; i++) {
        int c = p[i], d;
        if (c == '_' && nd) continue;
        if (is_digit_c(c)) d = c - '0';
        else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') d = (c | 0x20) - 'a' + 10;
        else return pg_jv_undefined();
        if (d >= base) return pg_jv_undefined();
        if (v > (uint64_t)INT64_MAX / (uint64_t)base) return pg_jv_undefined();
        v = v * (uint64_t)base + (uint64_t)d;
        nd++;
    }
    if (!nd || v > (uint64_t)INT64_MAX) return pg_jv_undefined();
    *ok = 1;
    return pg_jv_int(neg ? -(int64_t)v : (int64_t)v);
}

static int parse_float_str(pg_jv s, double *out) {
    pg_jv t = str_strip(s, pg_jv_none(), 3);
    if (!t.u.s.n || t.u.s.n > 400) return 0;
    char buf[404];
    memcpy(buf, t.u.s.p, t.u.s.n);
    buf[t.u.s.n] = 0;
    char *e;
    double d = strtod(buf, &e);
    if (*e) return 0;
    *out = d;
    return 1;
}

static pg_jv do_indent(pg_tpl_rt *rt, pg_jv s, const pg_tpl_args *a) {
    static const char *names[] = {"width", "first", "blank", NULL};
    pg_tpl_args_check(rt, a, 3, names, "indent");
    pg_jv w = pg_tpl_arg(a, 0, "width", pg_jv_int(4), NULL);
    int first = pg_jv_truthy(pg_tpl_arg(a, 1, "first", pg_jv_bool(0), NULL));
    int blank = pg_jv_truthy(pg_tpl_arg(a, 2, "blank", pg_jv_bool(0), NULL));
    pg_jv ind;
    if (w.type == PG_JV_STRING) {
        ind = w;
    } else {
        int64_t n = pg_tpl_rt_int(rt, w, "indent width");
        if (n > 10000) FAIL("indent width too large");
        if (n < 0) n = 0;
        char *sp = pg_tpl_rt_alloc(rt, (size_t)n + 1);
        memset(sp, ' ', (size_t)n);
        ind = pg_jv_str_ref(sp, (size_t)n);
    }
    /* s += "\n"; lines = s.splitlines() */
    pg_jv_buf t;
    pg_tpl_rt_buf(rt, &t);
    pg_jv_buf_put(&t, s.u.s.p, s.u.s.n);
    pg_jv_buf_putc(&t, '\n');
    pg_jv lines = str_splitlines(rt, pg_tpl_rt_buf_done(rt, &t));
    size_t nl = pg_jv_list_len(lines);
    pg_jv_buf b;
    pg_tpl_rt_buf(rt, &b);
    if (first) pg_jv_buf_put(&b, ind.u.s.p, ind.u.s.n);
    for (size_t i = 0; i < nl; i++) {
        pg_jv ln = pg_jv_list_at(lines, i);
        if (i) {
            pg_jv_buf_putc(&b, '\n');
            if (blank || ln.u.s.n) pg_jv_buf_put(&b, ind.u.s.p, ind.u.s.n);
        }
        pg_jv_buf_put(&b, ln.u.s.p, ln.u.s.n);
    }
    return pg_tpl_rt_buf_done(rt, &b);
}

static pg_jv minmax(pg_tpl_rt *rt, pg_jv v, const pg_tpl_args *a, int want_max) {
    static const char *names[] = {"case_sensitive", "attribute", NULL};
    pg_tpl_args_check(rt, a, 2, names, want_max ? "max" : "min");
    int cs = pg_jv_truthy(pg_tpl_arg(a, 0, "case_sensitive", pg_jv_bool(0), NULL));
    pg_jv attr = pg_tpl_arg(a, 1, "attribute", pg_jv_none(), NULL);
    pg_jv l = pg_tpl_rt_iter(rt, v);
    size_t n = pg_jv_list_len(l);
    if (!n) return pg_tpl_rt_undef(PG_UNDEF_PLAIN, NULL, 0);
    pg_jv best = pg_jv_list_at(l, 0);
    pg_jv bk = sort_key(rt, attr.type == PG_JV_NONE ? best : attr_path(rt, best, attr), cs);
    for (size_t i = 1; i < n; i++) {
        pg_jv it = pg_jv_list_at(l, i);
        pg_jv k = sort_key(rt, attr.type == PG_JV_NONE ? it : attr_path(rt, it, attr), cs);
        int c = cmp_keys(rt, k, bk);
        if (want_max ? c > 0 : c < 0) {
            best = it;
            bk = k;
        }
    }
    return best;
}

static pg_jv sorted_list(pg_tpl_rt *rt, pg_jv v, int reverse, int cs, pg_jv attr) {
    pg_jv l = pg_tpl_rt_iter(rt, v);
    size_t n = pg_jv_list_len(l);
    sitem *it = pg_tpl_rt_alloc(rt, (n + 1) * sizeof *it);
    sitem *tmp = pg_tpl_rt_alloc(rt, (n + 1) * sizeof *tmp);
    for (size_t i = 0; i < n; i++) {
        it[i].item = pg_jv_list_at(l, i);
        it[i].key = sort_key(rt, attr.type == PG_JV_NONE || attr.type == PG_JV_UNDEFINED
                                     ? it[i].item : attr_path(rt, it[i].item, attr), cs);
    }
    /* count the n log n comparisons as work */
    for (size_t m = n; m > 1; m >>= 1) rt->steps += n;
    pg_tpl_rt_tick(rt);
    merge_sort(rt, it, tmp, n, reverse);
    pg_jv out = pg_tpl_rt_list(rt, n);
    for (size_t i = 0; i < n; i++) pg_tpl_rt_push(rt, out, it[i].item);
    return out;
}

static pg_jv make_pair(pg_tpl_rt *rt, pg_jv k, pg_jv v) {
    pg_jv t = pg_jv_tuple_new(rt->arena, 2);
    if (t.type != PG_JV_LIST) pg_tpl_rt_fail(rt, PG_ENOMEM, "out of memory");
    pg_tpl_rt_push(rt, t, k);
    pg_tpl_rt_push(rt, t, v);
    return t;
}

static pg_jv dict_items(pg_tpl_rt *rt, pg_jv d) {
    size_t n = pg_jv_dict_len(d);
    pg_jv out = pg_tpl_rt_list(rt, n);
    for (size_t i = 0; i < n; i++) pg_tpl_rt_push(rt, out, make_pair(rt, pg_jv_dict_key_at(d, i), pg_jv_dict_val_at(d, i)));
    return out;
}

static pg_jv str_of(pg_tpl_rt *rt, pg_jv v) { return pg_tpl_rt_to_str(rt, v); }

/* Python Markup methods return Markup: carry the flag from input to result. */
static pg_jv keep_markup(pg_jv in, pg_jv out) {
    if (in.type == PG_JV_STRING && in.aux && out.type == PG_JV_STRING) out.aux = 1;
    return out;
}

static pg_jv num_of(pg_tpl_rt *rt, pg_jv v, const char *what) {
    if (v.type == PG_JV_UNDEFINED) pg_tpl_rt_undefined_error(rt, v);
    if (!pg_jv_is_number(v)) FAIL("%s: expected a number, got '%s'", what, pg_jv_type_name(v));
    return v;
}

pg_jv pg_tpl_filter_apply(pg_tpl_rt *rt, int id, pg_jv v, const pg_tpl_args *a) {
    switch (id) {
    case F_abs: {
        v = num_of(rt, v, "abs");
        if (v.type == PG_JV_FLOAT) return pg_jv_float(fabs(v.u.f));
        int64_t i = v.type == PG_JV_INT ? v.u.i : v.u.b;
        if (i == INT64_MIN) FAIL("integer overflow");
        return pg_jv_int(i < 0 ? -i : i);
    }
    case F_attr: {
        pg_jv name = need_str(rt, pg_tpl_arg(a, 0, "name", pg_jv_undefined(), NULL), "attribute name");
        if (v.type == PG_JV_UNDEFINED) return v;
        /* Python getattr only: a dict's keys are not attributes */
        if (v.type == PG_JV_DICT) {
            int mid = method_id(PG_JV_DICT, name.u.s.p, name.u.s.n);
            if (mid >= 0) return pg_tpl_bound(rt, mid, v);
            return undef_attr(v, name.u.s.p, name.u.s.n);
        }
        return pg_tpl_getattr(rt, v, name.u.s.p, name.u.s.n);
    }
    case F_batch: {
        int64_t cnt = pg_tpl_rt_int(rt, pg_tpl_arg(a, 0, "linecount", pg_jv_undefined(), NULL), "linecount");
        int has_fill;
        pg_jv fill = pg_tpl_arg(a, 1, "fill_with", pg_jv_none(), &has_fill);
        if (cnt <= 0) FAIL("batch size must be positive");
        pg_jv l = pg_tpl_rt_iter(rt, v);
        pg_jv out = pg_tpl_rt_list(rt, 0), cur = pg_jv_undefined();
        for (size_t i = 0; i < pg_jv_list_len(l); i++) {
            if (cur.type != PG_JV_LIST || pg_jv_list_len(cur) == (size_t)cnt) {
                cur = pg_tpl_rt_list(rt, 0);
                pg_tpl_rt_push(rt, out, cur);
            }
            pg_tpl_rt_push(rt, cur, pg_jv_list_at(l, i));
        }
        if (has_fill && fill.type != PG_JV_NONE && cur.type == PG_JV_LIST)
            while (pg_jv_list_len(cur) < (size_t)cnt) pg_tpl_rt_push(rt, cur, fill);
        return out;
    }
    case F_capitalize: return keep_markup(v, str_map_case(rt, str_of(rt, v), 2));
    case F_center: {
        pg_jv s = str_of(rt, v);
        int64_t w = pg_tpl_rt_int(rt, pg_tpl_arg(a, 0, "width", pg_jv_int(80), NULL), "width");
        if (w > 100000) FAIL("width too large");
        size_t len = pg_jv_utf8_len(s.u.s.p, s.u.s.n);
        if (w <= (int64_t)len) return s;
        size_t marg = (size_t)w - len, left = marg / 2 + (marg & (size_t)w & 1);
        pg_jv_buf b;
        pg_tpl_rt_buf(rt, &b);
        for (size_t i = 0; i < left; i++) pg_jv_buf_putc(&b, ' ');
        pg_jv_buf_put(&b, s.u.s.p, s.u.s.n);
        for (size_t i = 0; i < marg - left; i++) pg_jv_buf_putc(&b, ' ');
        return pg_tpl_rt_buf_done(rt, &b);
    }
    case F_count:
    case F_length:
        switch (v.type) {
        case PG_JV_STRING: return pg_jv_int((int64_t)pg_jv_utf8_len(v.u.s.p, v.u.s.n));
        case PG_JV_LIST: return pg_jv_int((int64_t)pg_jv_list_len(v));
        case PG_JV_DICT: return pg_jv_int((int64_t)pg_jv_dict_len(v));
        case PG_JV_UNDEFINED: return pg_jv_int(0);
        default: FAIL("object of type '%s' has no len()", pg_jv_type_name(v));
        }
    case F_d:
    case F_default: {
        pg_jv dv = pg_tpl_arg(a, 0, "default_value", pg_jv_str_ref("", 0), NULL);
        int boolean = pg_jv_truthy(pg_tpl_arg(a, 1, "boolean", pg_jv_bool(0), NULL));
        if (v.type == PG_JV_UNDEFINED || (boolean && !pg_jv_truthy(v))) return dv;
        return v;
    }
    case F_dictsort: {
        static const char *names[] = {"case_sensitive", "by", "reverse", NULL};
        pg_tpl_args_check(rt, a, 3, names, "dictsort");
        if (v.type != PG_JV_DICT) FAIL("dictsort needs a mapping");
        int cs = pg_jv_truthy(pg_tpl_arg(a, 0, "case_sensitive", pg_jv_bool(0), NULL));
        pg_jv by = pg_tpl_arg(a, 1, "by", pg_jv_str_ref("key", 3), NULL);
        int rev = pg_jv_truthy(pg_tpl_arg(a, 2, "reverse", pg_jv_bool(0), NULL));
        int pos = by.type == PG_JV_STRING && by.u.s.n == 5 && memcmp(by.u.s.p, "value", 5) == 0;
        return sorted_list(rt, dict_items(rt, v), rev, cs, pg_jv_int(pos));
    }
    case F_e:
    case F_escape: return html_escape(rt, str_of(rt, v));
    case F_forceescape: {
        pg_jv t = str_of(rt, v);
        t.aux = 0;
        return html_escape(rt, t);
    }
    case F_first: {
        pg_jv l = pg_tpl_rt_iter(rt, v);
        return pg_jv_list_len(l) ? pg_jv_list_at(l, 0) : pg_tpl_rt_undef(PG_UNDEF_PLAIN, NULL, 0);
    }
    case F_last: {
        pg_jv l = pg_tpl_rt_iter(rt, v);
        size_t n = pg_jv_list_len(l);
        return n ? pg_jv_list_at(l, n - 1) : pg_tpl_rt_undef(PG_UNDEF_PLAIN, NULL, 0);
    }
    case F_float: {
        pg_jv dflt = pg_tpl_arg(a, 0, "default", pg_jv_float(0.0), NULL);
        double d;
        if (pg_jv_is_number(v)) return pg_jv_float(pg_jv_as_double(v));
        if (v.type == PG_JV_STRING && parse_float_str(v, &d)) return pg_jv_float(d);
        return dflt;
    }
    case F_int: {
        pg_jv dflt = pg_tpl_arg(a, 0, "default", pg_jv_int(0), NULL);
        int64_t base = pg_tpl_rt_int(rt, pg_tpl_arg(a, 1, "base", pg_jv_int(10), NULL), "base");
        if (v.type == PG_JV_INT) return v;
        if (v.type == PG_JV_BOOL) return pg_jv_int(v.u.b);
        if (v.type == PG_JV_FLOAT) {
            if (!(fabs(v.u.f) < 9.2e18)) return dflt;
            return pg_jv_int((int64_t)v.u.f);
        }
        if (v.type == PG_JV_STRING) {
            int ok;
            if (base < 2 || base > 36) return dflt;
            pg_jv r = parse_int_str(v, (int)base, &ok);
            if (ok) return r;
            double d;
            if (parse_float_str(v, &d) && fabs(d) < 9.2e18) return pg_jv_int((int64_t)d);
        }
        return dflt;
    }
    case F_format: {
        pg_jv t;
        if (a->nkw) {
            t = pg_tpl_rt_dict(rt);
            for (size_t k = 0; k < a->nkw; k++)
                pg_tpl_rt_dict_set(rt, t, pg_jv_str_ref(a->kwn[k], strlen(a->kwn[k])), a->kwv[k]);
        } else {
            t = pg_jv_tuple_new(rt->arena, a->npos);
            if (t.type != PG_JV_LIST) pg_tpl_rt_fail(rt, PG_ENOMEM, "out of memory");
            for (size_t k = 0; k < a->npos; k++) pg_tpl_rt_push(rt, t, a->pos[k]);
        }
        return pg_tpl_percent_format(rt, v, t);
    }
    case F_indent: return do_indent(rt, str_of(rt, v), a);
    case F_items:
        if (v.type == PG_JV_UNDEFINED) return pg_tpl_rt_list(rt, 0);
        if (v.type != PG_JV_DICT && v.type != PG_JV_NAMESPACE) FAIL("Can only get item pairs from a mapping.");
        return dict_items(rt, v);
    case F_keys:
    case F_values: {
        if (v.type == PG_JV_UNDEFINED) return pg_tpl_rt_list(rt, 0);
        if (v.type != PG_JV_DICT) FAIL("%s needs a mapping", id == F_keys ? "keys" : "values");
        size_t n = pg_jv_dict_len(v);
        pg_jv out = pg_tpl_rt_list(rt, n);
        for (size_t i = 0; i < n; i++)
            pg_tpl_rt_push(rt, out, id == F_keys ? pg_jv_dict_key_at(v, i) : pg_jv_dict_val_at(v, i));
        return out;
    }
    case F_join: {
        static const char *names[] = {"d", "attribute", NULL};
        pg_tpl_args_check(rt, a, 2, names, "join");
        pg_jv sep = str_of(rt, pg_tpl_arg(a, 0, "d", pg_jv_str_ref("", 0), NULL));
        pg_jv attr = pg_tpl_arg(a, 1, "attribute", pg_jv_none(), NULL);
        pg_jv l = pg_tpl_rt_iter(rt, v);
        pg_jv_buf b;
        pg_tpl_rt_buf(rt, &b);
        for (size_t i = 0; i < pg_jv_list_len(l) && !b.err; i++) {
            pg_tpl_rt_tick(rt);
            if (i) pg_jv_buf_put(&b, sep.u.s.p, sep.u.s.n);
            pg_jv it = pg_jv_list_at(l, i);
            if (attr.type != PG_JV_NONE) it = attr_path(rt, it, attr);
            pg_jv_write_str(&b, it);
        }
        return pg_tpl_rt_buf_done(rt, &b);
    }
    case F_list: return to_list_copy(rt, v);
    case F_lower: return keep_markup(v, str_map_case(rt, str_of(rt, v), 0));
    case F_upper: return keep_markup(v, str_map_case(rt, str_of(rt, v), 1));
    case F_title: return keep_markup(v, str_map_case(rt, str_of(rt, v), 4));
    case F_map: {
        pg_jv l = pg_jv_truthy(v) ? pg_tpl_rt_iter(rt, v) : pg_tpl_rt_list(rt, 0);
        pg_jv out = pg_tpl_rt_list(rt, pg_jv_list_len(l));
        int has_attr;
        pg_jv attr = pg_tpl_arg(a, SIZE_MAX, "attribute", pg_jv_undefined(), &has_attr);
        if (has_attr && a->npos == 0) {
            pg_jv dflt = pg_tpl_arg(a, SIZE_MAX, "default", pg_jv_undefined(), NULL);
            for (size_t i = 0; i < pg_jv_list_len(l); i++) {
                pg_tpl_rt_tick(rt);
                pg_jv x = attr_path(rt, pg_jv_list_at(l, i), attr);
                if (x.type == PG_JV_UNDEFINED && dflt.type != PG_JV_UNDEFINED) x = dflt;
                pg_tpl_rt_push(rt, out, x);
            }
            return out;
        }
        if (a->npos == 0) FAIL("map requires a filter argument");
        pg_jv fname = need_str(rt, a->pos[0], "filter name");
        int fid = pg_tpl_filter_id(fname.u.s.p, fname.u.s.n);
        if (fid < 0) FAIL("no filter named '%.*s'", (int)(fname.u.s.n > 60 ? 60 : fname.u.s.n), fname.u.s.p);
        pg_tpl_args rest = {a->pos + 1, a->npos - 1, a->kwn, a->kwv, a->nkw};
        for (size_t i = 0; i < pg_jv_list_len(l); i++) {
            pg_tpl_rt_tick(rt);
            pg_tpl_rt_push(rt, out, pg_tpl_filter_apply(rt, fid, pg_jv_list_at(l, i), &rest));
        }
        return out;
    }
    case F_max: return minmax(rt, v, a, 1);
    case F_min: return minmax(rt, v, a, 0);
    case F_pprint: {
        pg_jv_buf b;
        pg_tpl_rt_buf(rt, &b);
        pg_jv_write_repr(&b, v);
        return pg_tpl_rt_buf_done(rt, &b);
    }
    case F_reject: return select_impl(rt, v, a, 0, 0);
    case F_select: return select_impl(rt, v, a, 0, 1);
    case F_rejectattr: return select_impl(rt, v, a, 1, 0);
    case F_selectattr: return select_impl(rt, v, a, 1, 1);
    case F_replace: {
        pg_jv s = str_of(rt, v);
        pg_jv old = str_of(rt, pg_tpl_arg(a, 0, "old", pg_jv_undefined(), NULL));
        pg_jv nw = str_of(rt, pg_tpl_arg(a, 1, "new", pg_jv_undefined(), NULL));
        pg_jv cnt = pg_tpl_arg(a, 2, "count", pg_jv_none(), NULL);
        return str_replace(rt, s, old, nw, cnt.type == PG_JV_NONE ? -1 : pg_tpl_rt_int(rt, cnt, "count"));
    }
    case F_reverse: {
        if (v.type == PG_JV_STRING) return pg_tpl_slice(rt, v, pg_jv_none(), pg_jv_none(), pg_jv_int(-1));
        pg_jv l = pg_tpl_rt_iter(rt, v);
        return pg_tpl_slice(rt, l, pg_jv_none(), pg_jv_none(), pg_jv_int(-1));
    }
    case F_round: {
        v = num_of(rt, v, "round");
        int64_t prec = pg_tpl_rt_int(rt, pg_tpl_arg(a, 0, "precision", pg_jv_int(0), NULL), "precision");
        pg_jv m = pg_tpl_arg(a, 1, "method", pg_jv_str_ref("common", 6), NULL);
        m = need_str(rt, m, "method");
        if (prec > 300 || prec < -300) FAIL("precision out of range");
        double x = pg_jv_as_double(v);
        if (m.u.s.n == 6 && memcmp(m.u.s.p, "common", 6) == 0) {
            if (v.type != PG_JV_FLOAT) return pg_jv_int(v.type == PG_JV_INT ? v.u.i : v.u.b);
            if (!isfinite(x)) return v;
            if (prec >= 0) {
                char buf[400];
                snprintf(buf, sizeof buf, "%.*f", (int)prec, x);
                return pg_jv_float(strtod(buf, NULL));
            }
            double p10 = pow(10.0, (double)-prec);
            return pg_jv_float(nearbyint(x / p10) * p10);
        }
        double p10 = pow(10.0, (double)prec);
        if (m.u.s.n == 4 && memcmp(m.u.s.p, "ceil", 4) == 0) return pg_jv_float(ceil(x * p10) / p10);
        if (m.u.s.n == 5 && memcmp(m.u.s.p, "floor", 5) == 0) return pg_jv_float(floor(x * p10) / p10);
        FAIL("method must be common, ceil or floor");
    }
    case F_safe: return markup(str_of(rt, v));
    case F_sort: {
        static const char *names[] = {"reverse", "case_sensitive", "attribute", NULL};
        pg_tpl_args_check(rt, a, 3, names, "sort");
        int rev = pg_jv_truthy(pg_tpl_arg(a, 0, "reverse", pg_jv_bool(0), NULL));
        int cs = pg_jv_truthy(pg_tpl_arg(a, 1, "case_sensitive", pg_jv_bool(0), NULL));
        pg_jv attr = pg_tpl_arg(a, 2, "attribute", pg_jv_none(), NULL);
        return sorted_list(rt, v, rev, cs, attr);
    }
    case F_string: return str_of(rt, v);
    case F_striptags: {
        pg_jv s = str_of(rt, v);
        pg_jv_buf b;
        pg_tpl_rt_buf(rt, &b);
        int in_tag = 0, pend_space = 0;
        for (size_t i = 0; i < s.u.s.n; i++) {
            char c = s.u.s.p[i];
            if (in_tag) {
                if (c == '>') in_tag = 0;
                continue;
            }
            if (c == '<') {
                in_tag = 1;
                continue;
            }
            if (c == ' ' || (c >= 9 && c <= 13)) {
                pend_space = b.len > 0;
                continue;
            }
            if (pend_space) pg_jv_buf_putc(&b, ' ');
            pend_space = 0;
            pg_jv_buf_putc(&b, c);
        }
        return pg_tpl_rt_buf_done(rt, &b);
    }
    case F_sum: {
        pg_jv attr = pg_tpl_arg(a, 0, "attribute", pg_jv_none(), NULL);
        pg_jv acc = pg_tpl_arg(a, 1, "start", pg_jv_int(0), NULL);
        pg_jv l = pg_tpl_rt_iter(rt, v);
        for (size_t i = 0; i < pg_jv_list_len(l); i++) {
            pg_jv x = pg_jv_list_at(l, i);
            if (attr.type != PG_JV_NONE) x = attr_path(rt, x, attr);
            num_of(rt, x, "sum");
            num_of(rt, acc, "sum");
            if (acc.type == PG_JV_FLOAT || x.type == PG_JV_FLOAT) {
                acc = pg_jv_float(pg_jv_as_double(acc) + pg_jv_as_double(x));
            } else {
                int64_t r, p = acc.type == PG_JV_INT ? acc.u.i : acc.u.b, q = x.type == PG_JV_INT ? x.u.i : x.u.b;
                if (__builtin_add_overflow(p, q, &r)) FAIL("integer overflow");
                acc = pg_jv_int(r);
            }
        }
        return acc;
    }
    case F_tojson: return tojson(rt, v, a);
    case F_trim: {
        pg_jv chars = pg_tpl_arg(a, 0, "chars", pg_jv_none(), NULL);
        if (chars.type != PG_JV_NONE) chars = need_str(rt, chars, "chars");
        return keep_markup(v, str_strip(str_of(rt, v), chars, 3));
    }
    case F_unique: {
        int cs = pg_jv_truthy(pg_tpl_arg(a, 0, "case_sensitive", pg_jv_bool(0), NULL));
        pg_jv attr = pg_tpl_arg(a, 1, "attribute", pg_jv_none(), NULL);
        pg_jv l = pg_tpl_rt_iter(rt, v);
        pg_jv seen = pg_tpl_rt_dict(rt);
        pg_jv out = pg_tpl_rt_list(rt, 0);
        for (size_t i = 0; i < pg_jv_list_len(l); i++) {
            pg_jv it = pg_jv_list_at(l, i);
            pg_jv k = sort_key(rt, attr.type == PG_JV_NONE ? it : attr_path(rt, it, attr), cs);
            if (k.type == PG_JV_LIST || k.type == PG_JV_DICT) {
                int dup = 0;
                for (size_t j = 0; j < pg_jv_list_len(out) && !dup; j++) {
                    pg_tpl_rt_tick(rt);
                    pg_jv o = pg_jv_list_at(out, j);
                    dup = pg_jv_equal(sort_key(rt, attr.type == PG_JV_NONE ? o : attr_path(rt, o, attr), cs), k);
                }
                if (!dup) pg_tpl_rt_push(rt, out, it);
                continue;
            }
            if (pg_jv_dict_get(seen, k, NULL)) continue;
            pg_tpl_rt_dict_set(rt, seen, k, pg_jv_bool(1));
            pg_tpl_rt_push(rt, out, it);
        }
        return out;
    }
    case F_wordcount: {
        pg_jv s = str_of(rt, v);
        int64_t n = 0;
        int in = 0;
        for (size_t i = 0; i < s.u.s.n; i++) {
            unsigned char c = (unsigned char)s.u.s.p[i];
            int w = c >= 0x80 || is_alpha_c(c) || is_digit_c(c) || c == '_';
            if (w && !in) n++;
            in = w;
        }
        return pg_jv_int(n);
    }
    }
    PG_PANIC("unknown filter id %d", id);
}

/* ------------------------------------------------------------ functions */

static pg_jv fn_range(pg_tpl_rt *rt, const pg_tpl_args *a) {
    if (a->nkw) FAIL("range() takes no keyword arguments");
    if (a->npos < 1 || a->npos > 3) FAIL("range expected 1 to 3 arguments, got %zu", a->npos);
    int64_t start = 0, stop, step = 1;
    if (a->npos == 1) {
        stop = pg_tpl_rt_int(rt, a->pos[0], "range() argument");
    } else {
        start = pg_tpl_rt_int(rt, a->pos[0], "range() argument");
        stop = pg_tpl_rt_int(rt, a->pos[1], "range() argument");
        if (a->npos == 3) step = pg_tpl_rt_int(rt, a->pos[2], "range() argument");
    }
    if (step == 0) FAIL("range() arg 3 must not be zero");
    /* length without overflow */
    uint64_t n = 0;
    if (step > 0 && start < stop) n = ((uint64_t)stop - (uint64_t)start - 1) / (uint64_t)step + 1;
    if (step < 0 && start > stop) n = ((uint64_t)start - (uint64_t)stop - 1) / (uint64_t)(-(step + 1) + 1) + 1;
    /* Jinja2's sandbox refuses ranges over 100000 items (MAX_RANGE) */
    if (n > 100000)
        pg_tpl_rt_fail(rt, PG_ELIMIT, "range too big: the sandbox blocks ranges larger than 100000");
    pg_jv out = pg_tpl_rt_list(rt, (size_t)n);
    int64_t x = start;
    for (uint64_t i = 0; i < n; i++, x += step) pg_tpl_rt_push(rt, out, pg_jv_int(x));
    return out;
}

static void dict_update_from(pg_tpl_rt *rt, pg_jv d, pg_jv src) {
    if (src.type == PG_JV_DICT || src.type == PG_JV_NAMESPACE) {
        for (size_t i = 0; i < pg_jv_dict_len(src); i++)
            pg_tpl_rt_dict_set(rt, d, pg_jv_dict_key_at(src, i), pg_jv_dict_val_at(src, i));
        return;
    }
    if (src.type == PG_JV_UNDEFINED) pg_tpl_rt_undefined_error(rt, src);
    pg_jv l = pg_tpl_rt_iter(rt, src);
    for (size_t i = 0; i < pg_jv_list_len(l); i++) {
        pg_jv p = pg_jv_list_at(l, i);
        if (p.type != PG_JV_LIST || pg_jv_list_len(p) != 2) FAIL("dictionary update sequence element has wrong length");
        pg_tpl_rt_dict_set(rt, d, pg_jv_list_at(p, 0), pg_jv_list_at(p, 1));
    }
}

static void kwargs_into(pg_tpl_rt *rt, pg_jv d, const pg_tpl_args *a) {
    for (size_t k = 0; k < a->nkw; k++)
        pg_tpl_rt_dict_set(rt, d, pg_jv_str_ref(a->kwn[k], strlen(a->kwn[k])), a->kwv[k]);
}

static int64_t str_find(pg_jv s, pg_jv sub, int rev) {
    const char *p = s.u.s.p;
    size_t n = s.u.s.n;
    const char *f = NULL;
    if (!rev) {
        f = memmem_s(p, n, sub.u.s.p, sub.u.s.n);
    } else if (sub.u.s.n <= n) {
        for (size_t j = n - sub.u.s.n + 1; j-- > 0;)
            if (memcmp(p + j, sub.u.s.p, sub.u.s.n) == 0) {
                f = p + j;
                break;
            }
    }
    if (!f) return -1;
    return (int64_t)pg_jv_utf8_len(p, (size_t)(f - p));
}

static int str_affix(pg_tpl_rt *rt, pg_jv s, pg_jv x, int end) {
    if (x.type == PG_JV_LIST) {
        for (size_t i = 0; i < pg_jv_list_len(x); i++)
            if (str_affix(rt, s, pg_jv_list_at(x, i), end)) return 1;
        return 0;
    }
    x = need_str(rt, x, end ? "endswith argument" : "startswith argument");
    if (x.u.s.n > s.u.s.n) return 0;
    return memcmp(end ? s.u.s.p + s.u.s.n - x.u.s.n : s.u.s.p, x.u.s.p, x.u.s.n) == 0;
}

static int str_all(pg_jv s, int kind) {
    if (!s.u.s.n) return 0;
    int cased = 0;
    for (size_t i = 0; i < s.u.s.n;) {
        size_t l;
        uint32_t c = cp_at(s.u.s.p, s.u.s.n, i, &l);
        i += l;
        switch (kind) {
        case 0: if (!(c < 0x80 ? (is_alpha_c((int)c) || is_digit_c((int)c)) : 1)) return 0; break;
        case 1: if (!(c < 0x80 ? is_alpha_c((int)c) : 1)) return 0; break;
        case 2: if (!(c < 0x80 && is_digit_c((int)c))) return 0; break;
        case 3: if (!is_uspace(c)) return 0; break;
        case 4: if (u_lower(c) != c) return 0; if (u_upper(c) != c || c == 0xDF) cased = 1; break;
        case 5: if (u_upper(c) != c || c == 0xDF) return 0; if (u_lower(c) != c) cased = 1; break;
        }
    }
    return kind >= 4 ? cased : 1;
}

static size_t list_index_of(pg_tpl_rt *rt, pg_jv l, pg_jv x, int *found) {
    for (size_t i = 0; i < pg_jv_list_len(l); i++) {
        pg_tpl_rt_tick(rt);
        if (pg_jv_equal(pg_jv_list_at(l, i), x)) {
            *found = 1;
            return i;
        }
    }
    *found = 0;
    return 0;
}

pg_jv pg_tpl_func_call(pg_tpl_rt *rt, pg_jv fn, const pg_tpl_args *a) {
    pg_tpl_func *f = fn.u.ptr;
    pg_jv self = f->self;
    pg_jv a0 = pg_tpl_arg(a, 0, NULL, pg_jv_undefined(), NULL);
    pg_jv a1 = pg_tpl_arg(a, 1, NULL, pg_jv_undefined(), NULL);
    switch (f->id) {
    case G_RANGE: return fn_range(rt, a);
    case G_DICT: {
        pg_jv d = pg_tpl_rt_dict(rt);
        if (a->npos > 1) FAIL("dict expected at most 1 argument");
        if (a->npos) dict_update_from(rt, d, a0);
        kwargs_into(rt, d, a);
        return d;
    }
    case G_NAMESPACE: {
        pg_jv d = pg_jv_namespace_new(rt->arena);
        if (d.type != PG_JV_NAMESPACE) pg_tpl_rt_fail(rt, PG_ENOMEM, "out of memory");
        for (size_t i = 0; i < a->npos; i++) dict_update_from(rt, d, a->pos[i]);
        kwargs_into(rt, d, a);
        return d;
    }
    case G_RAISE: {
        pg_jv m = pg_tpl_rt_to_str(rt, a0);
        /* the template's own message, verbatim (no line prefix) */
        pg_error_set(rt->err, PG_EINVAL, "%.*s", (int)(m.u.s.n > 500 ? 500 : m.u.s.n), m.u.s.p);
        longjmp(rt->jb, 1);
    }
    case G_STRFTIME: {
        pg_jv fmt = need_str(rt, a0, "strftime_now format");
        if (fmt.u.s.n > 256) FAIL("strftime format too long");
        char fbuf[260], out[2048];
        memcpy(fbuf, fmt.u.s.p, fmt.u.s.n);
        fbuf[fmt.u.s.n] = 0;
        struct tm tm;
        time_t now = rt->now;
        gmtime_r(&now, &tm);
        size_t n = fmt.u.s.n ? strftime(out, sizeof out, fbuf, &tm) : 0;
        return pg_tpl_rt_str(rt, out, n);
    }
    /* ---- str methods ---- */
    case S_CAPITALIZE: return str_map_case(rt, self, 2);
    case S_LOWER: return str_map_case(rt, self, 0);
    case S_UPPER: return str_map_case(rt, self, 1);
    case S_TITLE: return str_map_case(rt, self, 3);
    case S_STRIP:
    case S_LSTRIP:
    case S_RSTRIP: {
        pg_jv chars = a0.type == PG_JV_UNDEFINED || a0.type == PG_JV_NONE ? pg_jv_none() : need_str(rt, a0, "chars");
        return str_strip(self, chars, f->id == S_STRIP ? 3 : f->id == S_LSTRIP ? 1 : 2);
    }
    case S_SPLIT:
    case S_RSPLIT: {
        pg_jv sep = pg_tpl_arg(a, 0, "sep", pg_jv_none(), NULL);
        pg_jv mx = pg_tpl_arg(a, 1, "maxsplit", pg_jv_int(-1), NULL);
        if (sep.type != PG_JV_NONE) sep = need_str(rt, sep, "separator");
        return str_split(rt, self, sep, pg_tpl_rt_int(rt, mx, "maxsplit"), f->id == S_RSPLIT);
    }
    case S_SPLITLINES: return str_splitlines(rt, self);
    case S_STARTSWITH: return pg_jv_bool(str_affix(rt, self, a0, 0));
    case S_ENDSWITH: return pg_jv_bool(str_affix(rt, self, a0, 1));
    case S_REPLACE: {
        pg_jv cnt = pg_tpl_arg(a, 2, "count", pg_jv_int(-1), NULL);
        return str_replace(rt, self, need_str(rt, a0, "old"), need_str(rt, a1, "new"), pg_tpl_rt_int(rt, cnt, "count"));
    }
    case S_FIND:
    case S_RFIND:
    case S_INDEX: {
        int64_t r = str_find(self, need_str(rt, a0, "substring"), f->id == S_RFIND);
        if (r < 0 && f->id == S_INDEX) FAIL("substring not found");
        return pg_jv_int(r);
    }
    case S_COUNT: {
        pg_jv sub = need_str(rt, a0, "substring");
        if (!sub.u.s.n) return pg_jv_int((int64_t)pg_jv_utf8_len(self.u.s.p, self.u.s.n) + 1);
        int64_t c = 0;
        size_t i = 0;
        const char *hit;
        while ((hit = memmem_s(self.u.s.p + i, self.u.s.n - i, sub.u.s.p, sub.u.s.n))) {
            c++;
            i = (size_t)(hit - self.u.s.p) + sub.u.s.n;
        }
        return pg_jv_int(c);
    }
    case S_FORMAT: return str_format(rt, self, a);
    case S_JOIN: {
        pg_jv l = pg_tpl_rt_iter(rt, a0);
        pg_jv_buf b;
        pg_tpl_rt_buf(rt, &b);
        for (size_t i = 0; i < pg_jv_list_len(l); i++) {
            pg_jv it = pg_jv_list_at(l, i);
            if (it.type != PG_JV_STRING) FAIL("sequence item %zu: expected str instance, %s found", i, pg_jv_type_name(it));
            if (i) pg_jv_buf_put(&b, self.u.s.p, self.u.s.n);
            pg_jv_buf_put(&b, it.u.s.p, it.u.s.n);
        }
        return pg_tpl_rt_buf_done(rt, &b);
    }
    case S_ISALNUM: return pg_jv_bool(str_all(self, 0));
    case S_ISALPHA: return pg_jv_bool(str_all(self, 1));
    case S_ISDIGIT: return pg_jv_bool(str_all(self, 2));
    case S_ISSPACE: return pg_jv_bool(str_all(self, 3));
    case S_ISLOWER: return pg_jv_bool(str_all(self, 4));
    case S_ISUPPER: return pg_jv_bool(str_all(self, 5));
    /* ---- dict methods ---- */
    case D_GET: {
        pg_jv v;
        if (pg_jv_dict_get(self, a0, &v)) return v;
        return a->npos > 1 ? a1 : pg_jv_none();
    }
    case D_ITEMS: return dict_items(rt, self);
    case D_KEYS:
    case D_VALUES: {
        size_t n = pg_jv_dict_len(self);
        pg_jv out = pg_tpl_rt_list(rt, n);
        for (size_t i = 0; i < n; i++)
            pg_tpl_rt_push(rt, out, f->id == D_KEYS ? pg_jv_dict_key_at(self, i) : pg_jv_dict_val_at(self, i));
        return out;
    }
    case D_UPDATE:
        if (a->npos) dict_update_from(rt, self, a0);
        kwargs_into(rt, self, a);
        return pg_jv_none();
    case D_POP: {
        pg_jv v;
        if (pg_jv_dict_get(self, a0, &v)) {
            pg_jv_dict_del(self, a0);
            return v;
        }
        if (a->npos > 1) return a1;
        FAIL("KeyError in dict.pop()");
    }
    case D_SETDEFAULT: {
        pg_jv v;
        if (pg_jv_dict_get(self, a0, &v)) return v;
        pg_jv d = a->npos > 1 ? a1 : pg_jv_none();
        pg_tpl_rt_dict_set(rt, self, a0, d);
        return d;
    }
    case D_COPY: {
        pg_jv d = pg_tpl_rt_dict(rt);
        dict_update_from(rt, d, self);
        return d;
    }
    case D_CLEAR:
        while (pg_jv_dict_len(self)) pg_jv_dict_del(self, pg_jv_dict_key_at(self, pg_jv_dict_len(self) - 1));
        return pg_jv_none();
    /* ---- list methods ---- */
    case L_APPEND: pg_tpl_rt_push(rt, self, a0); return pg_jv_none();
    case L_EXTEND: {
        pg_jv l = pg_tpl_rt_iter(rt, a0);
        size_t n = pg_jv_list_len(l);
        for (size_t i = 0; i < n; i++) pg_tpl_rt_push(rt, self, pg_jv_list_at(l, i));
        return pg_jv_none();
    }
    case L_INSERT: {
        int64_t i = pg_tpl_rt_int(rt, a0, "index");
        int64_t n = (int64_t)pg_jv_list_len(self);
        if (i < 0) i = i + n < 0 ? 0 : i + n;
        if (i > n) i = n;
        if ((size_t)n >= rt->lim.max_items) pg_tpl_rt_fail(rt, PG_ELIMIT, "list longer than the limit");
        if (pg_jv_list_insert(rt->arena, self, (size_t)i, a1)) pg_tpl_rt_fail(rt, PG_ENOMEM, "out of memory");
        return pg_jv_none();
    }
    case L_POP: {
        size_t n = pg_jv_list_len(self), idx;
        int64_t i = a->npos ? pg_tpl_rt_int(rt, a0, "index") : -1;
        if (!norm_index(i, n, &idx)) FAIL("pop index out of range");
        pg_jv v = pg_jv_list_at(self, idx);
        pg_jv_list_remove(self, idx);
        return v;
    }
    case L_REMOVE: {
        int found;
        size_t i = list_index_of(rt, self, a0, &found);
        if (!found) FAIL("list.remove(x): x not in list");
        pg_jv_list_remove(self, i);
        return pg_jv_none();
    }
    case L_INDEX: {
        int found;
        size_t i = list_index_of(rt, self, a0, &found);
        if (!found) FAIL("value is not in list");
        return pg_jv_int((int64_t)i);
    }
    case L_COUNT: {
        int64_t c = 0;
        for (size_t i = 0; i < pg_jv_list_len(self); i++) c += pg_jv_equal(pg_jv_list_at(self, i), a0);
        return pg_jv_int(c);
    }
    case L_REVERSE: {
        pg_jv *it = pg_jv_list_items(self);
        size_t n = pg_jv_list_len(self);
        for (size_t i = 0; i < n / 2; i++) {
            pg_jv t = it[i];
            it[i] = it[n - 1 - i];
            it[n - 1 - i] = t;
        }
        return pg_jv_none();
    }
    case L_COPY: return to_list_copy(rt, self);
    case L_CLEAR:
        while (pg_jv_list_len(self)) pg_jv_list_remove(self, pg_jv_list_len(self) - 1);
        return pg_jv_none();
    /* ---- loop ---- */
    case LP_CYCLE: {
        pg_tpl_loop *l = self.u.ptr;
        if (!a->npos) FAIL("no items for cycling given");
        return a->pos[l->i % a->npos];
    }
    case LP_CHANGED: {
        pg_tpl_loop *l = self.u.ptr;
        pg_jv t = pg_jv_tuple_new(rt->arena, a->npos);
        if (t.type != PG_JV_LIST) pg_tpl_rt_fail(rt, PG_ENOMEM, "out of memory");
        for (size_t i = 0; i < a->npos; i++) pg_tpl_rt_push(rt, t, a->pos[i]);
        if (l->changed_init && pg_jv_equal(l->last_changed, t)) return pg_jv_bool(0);
        l->changed_init = 1;
        l->last_changed = t;
        return pg_jv_bool(1);
    }
    }
    PG_PANIC("unknown function id %d", f->id);
}
