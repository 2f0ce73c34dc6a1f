/* tstr.c - Unicode string helpers of the template language.
 *
 * Strings are UTF-8 (pg_jv: pointer + byte length, not NUL-terminated);
 * indexing, slicing, len() and padding count code points. Case mapping
 * covers Latin, Greek, Cyrillic, Armenian and fullwidth letters with
 * simple 1:1 rules (plus ß -> SS); other scripts are treated as caseless,
 * and Greek final-sigma lowering is not done. isalpha/isalnum treat every
 * non-ASCII char as a letter, isdigit only ASCII digits. Unicode
 * whitespace is recognised for strip/split/trim as Python does.
 *
 * Results that are substrings of the input borrow it (pg_jv_str_ref);
 * built strings live in the render arena. Every scan charges the bytes
 * it reads to the render's cost budget (pg_tpl_rt_charge) before reading
 * them, so a loop of scans over a big string ends in PG_ELIMIT quickly. */
#include "template/tstr.h"

#include <string.h>

#define FAIL(...) pg_tpl_rt_fail(rt, PG_EINVAL, __VA_ARGS__)

size_t pg_ts_cp_len(const char *s, size_t n, size_t i) {
    size_t j = i + 1;
    while (j < n && ((unsigned char)s[j] & 0xC0) == 0x80) j++;
    return j - i;
}

uint32_t pg_ts_cp_at(const char *s, size_t n, size_t i, size_t *len) {
    size_t l = pg_ts_cp_len(s, n, i);
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

int pg_ts_is_space(uint32_t c) {
    return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F ||
           c == 0x3000;
}

/* byte length of the whitespace char at i, 0 if none */
size_t pg_ts_ws_at(const char *s, size_t n, size_t i) {
    size_t l;
    uint32_t c = pg_ts_cp_at(s, n, i, &l);
    return pg_ts_is_space(c) ? l : 0;
}

static int in_chars(const char *s, size_t n, size_t i, size_t *l, pg_jv chars) {
    uint32_t c = pg_ts_cp_at(s, n, i, l);
    for (size_t k = 0; k < chars.u.s.n;) {
        size_t kl;
        uint32_t d = pg_ts_cp_at(chars.u.s.p, chars.u.s.n, k, &kl);
        if (c == d) return 1;
        k += kl;
    }
    return 0;
}

/* strip: which 1 = left, 2 = right, 3 = both. chars NONE = whitespace. */
pg_jv pg_ts_strip(pg_tpl_rt *rt, pg_jv s, pg_jv chars, int which) {
    const char *p = s.u.s.p;
    size_t b = 0, e = s.u.s.n;
    int ws = chars.type != PG_JV_STRING;
    /* each char examined costs a scan of chars (1 for whitespace) */
    uint64_t per = ws ? 1 : (uint64_t)chars.u.s.n + 1;
    if (which & 1)
        while (b < e) {
            size_t l;
            pg_tpl_rt_charge(rt, per);
            if (ws) {
                l = pg_ts_ws_at(p, e, b);
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
            pg_tpl_rt_charge(rt, per);
            if (ws) {
                if (!pg_ts_ws_at(p, e, st)) break;
            } else if (!in_chars(p, e, st, &l, chars)) {
                break;
            }
            e = st;
        }
    return pg_jv_str_ref(p + b, e - b);
}

/* Simple (1:1) case mapping for Latin, Greek, Cyrillic, Armenian and
 * fullwidth Latin; other scripts are caseless here. 'ß'.upper() == "SS"
 * is the one 1:2 mapping handled (in pg_ts_map_case). */
static int pair_even_upper(uint32_t c, uint32_t lo, uint32_t hi) { return c >= lo && c <= hi; }
uint32_t pg_ts_lower(uint32_t c) {
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

uint32_t pg_ts_upper(uint32_t c) {
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

int pg_ts_cased(uint32_t c) { return c == 0xDF || pg_ts_lower(c) != c || pg_ts_upper(c) != c; }

void pg_ts_put_cp(pg_jv_buf *b, uint32_t c) {
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
        pg_ts_put_cp(b, pg_ts_upper(c));
}

/* mode 0 lower, 1 upper, 2 str.capitalize, 3 str.title, 4 Jinja title
 * (words split at whitespace and "-({[<", first letter up, rest down) */
pg_jv pg_ts_map_case(pg_tpl_rt *rt, pg_jv s, int mode) {
    pg_tpl_rt_charge(rt, (uint64_t)s.u.s.n * PG_TPL_COST_MAP);
    pg_jv_buf b;
    pg_tpl_rt_buf(rt, &b);
    int prev_cased = 0, word_start = 1;
    size_t i = 0, k = 0;
    while (i < s.u.s.n) {
        size_t l;
        uint32_t c = pg_ts_cp_at(s.u.s.p, s.u.s.n, i, &l);
        if (l > 1 && c < 0x80) c = 0xFFFD; /* malformed: copy below */
        int raw = c == 0xFFFD;
        switch (mode) {
        case 0: raw ? pg_jv_buf_put(&b, s.u.s.p + i, l) : pg_ts_put_cp(&b, pg_ts_lower(c)); break;
        case 1: raw ? pg_jv_buf_put(&b, s.u.s.p + i, l) : put_upper(&b, c); break;
        case 2:
            if (raw) pg_jv_buf_put(&b, s.u.s.p + i, l);
            else if (k == 0) put_upper(&b, c);
            else pg_ts_put_cp(&b, pg_ts_lower(c));
            break;
        case 3:
            if (raw) {
                pg_jv_buf_put(&b, s.u.s.p + i, l);
                prev_cased = 0;
            } else if (pg_ts_cased(c)) {
                prev_cased ? pg_ts_put_cp(&b, pg_ts_lower(c)) : put_upper(&b, c);
                prev_cased = 1;
            } else {
                pg_ts_put_cp(&b, c);
                prev_cased = 0;
            }
            break;
        default: {
            int sep = c == '-' || c == '(' || c == '{' || c == '[' || c == '<' || pg_ts_is_space(c);
            if (raw) {
                pg_jv_buf_put(&b, s.u.s.p + i, l);
                word_start = 0;
            } else if (sep) {
                pg_ts_put_cp(&b, c);
                word_start = 1;
            } else if (word_start) {
                put_upper(&b, c);
                word_start = 0;
            } else {
                pg_ts_put_cp(&b, pg_ts_lower(c));
            }
        }
        }
        i += l;
        k++;
    }
    return pg_tpl_rt_buf_done(rt, &b);
}

/* byte offset of code point index ci (clamped to n) */
size_t pg_ts_cp_offset(const char *s, size_t n, size_t ci) {
    size_t i = 0;
    while (ci && i < n) {
        i += pg_ts_cp_len(s, n, i);
        ci--;
    }
    return i;
}

const char *pg_ts_memmem(const char *h, size_t hn, const char *nd, size_t nn) {
    if (nn == 0) return h;
    if (nn > hn) return NULL;
    return memmem(h, hn, nd, nn);
}

pg_jv pg_ts_replace(pg_tpl_rt *rt, pg_jv s, pg_jv old, pg_jv nw, int64_t count) {
    pg_tpl_rt_charge(rt, s.u.s.n);
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
            size_t l = pg_ts_cp_len(p, n, i);
            pg_jv_buf_put(&b, p + i, l);
            i += l;
            if (b.err) break;
        }
        pg_jv_buf_put(&b, p + i, n - i);
        return pg_tpl_rt_buf_done(rt, &b);
    }
    while (i <= n && (count < 0 || done < count) && !b.err) {
        const char *f = pg_ts_memmem(p + i, n - i, old.u.s.p, old.u.s.n);
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

pg_jv pg_ts_split(pg_tpl_rt *rt, pg_jv s, pg_jv sep, int64_t maxsplit, int right) {
    /* a separator is found with memmem; whitespace (and rsplit) walk */
    pg_tpl_rt_charge(rt, (uint64_t)s.u.s.n * (sep.type == PG_JV_STRING && !right ? 1 : PG_TPL_COST_WALK));
    pg_jv out = pg_tpl_rt_list(rt, 0);
    const char *p = s.u.s.p;
    size_t n = s.u.s.n;
    if (sep.type == PG_JV_STRING) {
        if (sep.u.s.n == 0) FAIL("empty separator");
        if (!right) {
            size_t i = 0;
            int64_t k = 0;
            for (;;) {
                const char *f = (maxsplit < 0 || k < maxsplit) ? pg_ts_memmem(p + i, n - i, sep.u.s.p, sep.u.s.n) : NULL;
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
        while (i < n && (l = pg_ts_ws_at(p, n, i))) i += l;
        if (i >= n) break;
        if (maxsplit >= 0 && k >= maxsplit) {
            pg_jv rest = pg_ts_strip(rt, pg_jv_str_ref(p + i, n - i), pg_jv_none(), 2);
            pg_tpl_rt_push(rt, out, rest);
            break;
        }
        size_t st = i;
        while (i < n && !pg_ts_ws_at(p, n, i)) i += pg_ts_cp_len(p, n, i);
        pg_tpl_rt_push(rt, out, pg_jv_str_ref(p + st, i - st));
        k++;
    }
    return out;
}

/* Python str.splitlines (keepends=False) */
pg_jv pg_ts_splitlines(pg_tpl_rt *rt, pg_jv s) {
    pg_tpl_rt_charge(rt, (uint64_t)s.u.s.n * PG_TPL_COST_WALK);
    pg_jv out = pg_tpl_rt_list(rt, 0);
    const char *p = s.u.s.p;
    size_t n = s.u.s.n, st = 0, i = 0;
    while (i < n) {
        size_t l;
        uint32_t c = pg_ts_cp_at(p, n, i, &l);
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

/* markupsafe.escape: a Markup string is returned as is; the result is Markup. */
pg_jv pg_ts_escape(pg_tpl_rt *rt, pg_jv s) {
    if (s.aux) return s;
    pg_tpl_rt_charge(rt, (uint64_t)s.u.s.n * PG_TPL_COST_WALK);
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
    return pg_ts_markup(pg_tpl_rt_buf_done(rt, &b));
}

int64_t pg_ts_find(pg_tpl_rt *rt, pg_jv s, pg_jv sub, int rev) {
    pg_tpl_rt_charge(rt, s.u.s.n);
    const char *p = s.u.s.p, *q = sub.u.s.p;
    size_t n = s.u.s.n, m = sub.u.s.n;
    const char *f = NULL;
    if (!rev) {
        f = pg_ts_memmem(p, n, q, m);
    } else if (m == 0) {
        f = p + n;
    } else if (m <= n) {
        /* candidates start in [0, end): the last one whose first byte matches */
        size_t end = n - m + 1;
        while (end > 0) {
            const char *c = memrchr(p, (unsigned char)q[0], end);
            if (!c) break;
            if (memcmp(c, q, m) == 0) {
                f = c;
                break;
            }
            end = (size_t)(c - p);
        }
    }
    if (!f) return -1;
    pg_tpl_rt_charge(rt, (uint64_t)(f - p) * PG_TPL_COST_WALK); /* code points before the hit */
    return (int64_t)pg_jv_utf8_len(p, (size_t)(f - p));
}

int pg_ts_affix(pg_tpl_rt *rt, pg_jv s, pg_jv x, int end) {
    if (x.type == PG_JV_LIST) {
        for (size_t i = 0; i < pg_jv_list_len(x); i++)
            if (pg_ts_affix(rt, s, pg_jv_list_at(x, i), end)) return 1;
        return 0;
    }
    x = pg_tpl_rt_need_str(rt, x, end ? "endswith argument" : "startswith argument");
    pg_tpl_rt_charge(rt, x.u.s.n + 1);
    if (x.u.s.n > s.u.s.n) return 0;
    return memcmp(end ? s.u.s.p + s.u.s.n - x.u.s.n : s.u.s.p, x.u.s.p, x.u.s.n) == 0;
}

int pg_ts_all(pg_tpl_rt *rt, pg_jv s, int kind) {
    pg_tpl_rt_charge(rt, (uint64_t)s.u.s.n * PG_TPL_COST_MAP);
    if (!s.u.s.n) return 0;
    int cased = 0;
    for (size_t i = 0; i < s.u.s.n;) {
        size_t l;
        uint32_t c = pg_ts_cp_at(s.u.s.p, s.u.s.n, i, &l);
        i += l;
        switch (kind) {
        case 0: if (!(c < 0x80 ? (pg_ts_isalpha((int)c) || pg_ts_isdigit((int)c)) : 1)) return 0; break;
        case 1: if (!(c < 0x80 ? pg_ts_isalpha((int)c) : 1)) return 0; break;
        case 2: if (!(c < 0x80 && pg_ts_isdigit((int)c))) return 0; break;
        case 3: if (!pg_ts_is_space(c)) return 0; break;
        case 4: if (pg_ts_lower(c) != c) return 0; if (pg_ts_upper(c) != c || c == 0xDF) cased = 1; break;
        case 5: if (pg_ts_upper(c) != c || c == 0xDF) return 0; if (pg_ts_lower(c) != c) cased = 1; break;
        }
    }
    return kind >= 4 ? cased : 1;
}
