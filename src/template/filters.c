/* filters.c - Jinja filters (`x | name(args)`) as a table of small
 * functions.
 *
 * FILTERS(X) (names.h) lists the filter names in table order; each name n has a
 * static function f_n (aliases d, e and count are #defines to
 * f_default, f_escape and f_length), so a filter id resolved at parse time
 * is an index into the table and applying it is one indirect call.
 * Behaviour follows Jinja2 3.1 inside transformers' sandbox. */
#include "template/filters.h"

#include "template/names.h"

#include "template/access.h"
#include "template/format.h"
#include "template/methods.h"
#include "template/predicates.h"
#include "template/tstr.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FAIL(...) pg_tpl_rt_fail(rt, PG_EINVAL, __VA_ARGS__)

typedef pg_jv (*filter_fn)(pg_tpl_rt *rt, pg_jv v, const pg_tpl_args *a);
#define FILTER(name) static pg_jv f_##name(pg_tpl_rt *rt, pg_jv v, const pg_tpl_args *a)
#define f_d f_default
#define f_e f_escape
#define f_count f_length

/* ------------------------------------------------------------ sorting */

typedef struct sitem {
    pg_jv key, item;
} sitem;

static void merge_sort(pg_tpl_rt *rt, sitem *v, sitem *tmp, size_t n, int reverse) {
    if (n < 2) return;
    size_t h = n / 2;
    merge_sort(rt, v, tmp, h, reverse);
    merge_sort(rt, v + h, tmp, n - h, reverse);
    size_t i = 0, j = h, o = 0;
    while (i < h && j < n) {
        int c = pg_tpl_rt_cmp(rt, v[j].key, v[i].key);
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
    if (!case_sensitive && v.type == PG_JV_STRING) return pg_ts_map_case(rt, v, 0);
    return v;
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
        pg_jv v = use_attr ? pg_tpl_attr_path(rt, item, attr) : item;
        int r = has_test ? pg_tpl_test_by_name(rt, tname, v, &rest) : pg_jv_truthy(v);
        if (r == want) pg_tpl_rt_push(rt, out, item);
    }
    return pg_jv_as_generator(out);
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
        pg_jv s0 = pg_tpl_rt_need_str(rt, pg_jv_list_at(seps, 0), "separator");
        pg_jv s1 = pg_tpl_rt_need_str(rt, pg_jv_list_at(seps, 1), "separator");
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

static pg_jv parse_int_str(pg_tpl_rt *rt, pg_jv s, int base, int *ok) {
    pg_jv t = pg_ts_strip(rt, s, pg_jv_none(), 3);
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
        if (pg_ts_isdigit(c)) d = c - '0';
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

static int parse_float_str(pg_tpl_rt *rt, pg_jv s, double *out) {
    pg_jv t = pg_ts_strip(rt, s, pg_jv_none(), 3);
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
    pg_jv lines = pg_ts_splitlines(rt, pg_tpl_rt_buf_done(rt, &t));
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
    pg_jv bk = sort_key(rt, attr.type == PG_JV_NONE ? best : pg_tpl_attr_path(rt, best, attr), cs);
    for (size_t i = 1; i < n; i++) {
        pg_jv it = pg_jv_list_at(l, i);
        pg_jv k = sort_key(rt, attr.type == PG_JV_NONE ? it : pg_tpl_attr_path(rt, it, attr), cs);
        int c = pg_tpl_rt_cmp(rt, k, bk);
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
                                     ? it[i].item : pg_tpl_attr_path(rt, it[i].item, attr), cs);
    }
    /* count the n log n comparisons as work */
    for (size_t m = n; m > 1; m >>= 1) rt->steps += n;
    pg_tpl_rt_tick(rt);
    merge_sort(rt, it, tmp, n, reverse);
    pg_jv out = pg_tpl_rt_list(rt, n);
    for (size_t i = 0; i < n; i++) pg_tpl_rt_push(rt, out, it[i].item);
    return out;
}

static pg_jv str_of(pg_tpl_rt *rt, pg_jv v) { return pg_tpl_rt_to_str(rt, v); }

static pg_jv num_of(pg_tpl_rt *rt, pg_jv v, const char *what) {
    if (v.type == PG_JV_UNDEFINED) pg_tpl_rt_undefined_error(rt, v);
    if (!pg_jv_is_number(v)) FAIL("%s: expected a number, got '%s'", what, pg_jv_type_name(v));
    return v;
}

/* ------------------------------------------------------------ filters */

FILTER(abs) {
    v = num_of(rt, v, "abs");
    if (v.type == PG_JV_FLOAT) return pg_jv_float(fabs(v.u.f));
    int64_t i = v.type == PG_JV_INT ? v.u.i : v.u.b;
    if (i == INT64_MIN) FAIL("integer overflow");
    return pg_jv_int(i < 0 ? -i : i);
}

FILTER(attr) {
    pg_jv name = pg_tpl_rt_need_str(rt, pg_tpl_arg(a, 0, "name", pg_jv_undefined(), NULL), "attribute name");
    if (v.type == PG_JV_UNDEFINED) return v;
    /* Python getattr only: a dict's keys are not attributes */
    if (v.type == PG_JV_DICT) {
        int mid = pg_tpl_method_id(PG_JV_DICT, name.u.s.p, name.u.s.n);
        if (mid >= 0) return pg_tpl_bound(rt, mid, v);
        return pg_tpl_undef_attr(v, name.u.s.p, name.u.s.n);
    }
    return pg_tpl_getattr(rt, v, name.u.s.p, name.u.s.n);
}

FILTER(batch) {
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
    return pg_jv_as_generator(out);
}

FILTER(capitalize) {
    return pg_ts_keep_markup(v, pg_ts_map_case(rt, str_of(rt, v), 2));
}

FILTER(center) {
    pg_jv s = str_of(rt, v);
    pg_tpl_rt_charge(rt, (uint64_t)s.u.s.n * PG_TPL_COST_WALK);
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

FILTER(length) {
    switch (v.type) {
    case PG_JV_STRING: pg_tpl_rt_charge(rt, (uint64_t)v.u.s.n * PG_TPL_COST_WALK); return pg_jv_int((int64_t)pg_jv_utf8_len(v.u.s.p, v.u.s.n));
    case PG_JV_LIST:
        if (pg_jv_list_is_gen(v)) FAIL("object of type 'generator' has no len()");
        return pg_jv_int((int64_t)pg_jv_list_len(v));
    case PG_JV_DICT: return pg_jv_int((int64_t)pg_jv_dict_len(v));
    case PG_JV_UNDEFINED: return pg_jv_int(0);
    default: FAIL("object of type '%s' has no len()", pg_jv_type_name(v));
    }
}

FILTER(default) {
    pg_jv dv = pg_tpl_arg(a, 0, "default_value", pg_jv_str_ref("", 0), NULL);
    int boolean = pg_jv_truthy(pg_tpl_arg(a, 1, "boolean", pg_jv_bool(0), NULL));
    if (v.type == PG_JV_UNDEFINED || (boolean && !pg_jv_truthy(v))) return dv;
    return v;
}

FILTER(dictsort) {
    static const char *names[] = {"case_sensitive", "by", "reverse", NULL};
    pg_tpl_args_check(rt, a, 3, names, "dictsort");
    if (v.type != PG_JV_DICT) FAIL("dictsort needs a mapping");
    int cs = pg_jv_truthy(pg_tpl_arg(a, 0, "case_sensitive", pg_jv_bool(0), NULL));
    pg_jv by = pg_tpl_arg(a, 1, "by", pg_jv_str_ref("key", 3), NULL);
    int rev = pg_jv_truthy(pg_tpl_arg(a, 2, "reverse", pg_jv_bool(0), NULL));
    int pos = by.type == PG_JV_STRING && by.u.s.n == 5 && memcmp(by.u.s.p, "value", 5) == 0;
    return sorted_list(rt, pg_tpl_rt_items(rt, v), rev, cs, pg_jv_int(pos));
}

FILTER(escape) {
    return pg_ts_escape(rt, str_of(rt, v));
}

FILTER(forceescape) {
    pg_jv t = str_of(rt, v);
    t.aux = 0;
    return pg_ts_escape(rt, t);
}

FILTER(first) {
    pg_jv l = pg_tpl_rt_iter(rt, v);
    return pg_jv_list_len(l) ? pg_jv_list_at(l, 0) : pg_tpl_rt_undef(PG_UNDEF_PLAIN, NULL, 0);
}

FILTER(last) {
    if (pg_jv_list_is_gen(v)) FAIL("'generator' object is not reversible");
    pg_jv l = pg_tpl_rt_iter(rt, v);
    size_t n = pg_jv_list_len(l);
    return n ? pg_jv_list_at(l, n - 1) : pg_tpl_rt_undef(PG_UNDEF_PLAIN, NULL, 0);
}

FILTER(float) {
    pg_jv dflt = pg_tpl_arg(a, 0, "default", pg_jv_float(0.0), NULL);
    double d;
    if (pg_jv_is_number(v)) return pg_jv_float(pg_jv_as_double(v));
    if (v.type == PG_JV_STRING && parse_float_str(rt, v, &d)) return pg_jv_float(d);
    return dflt;
}

FILTER(int) {
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
        pg_jv r = parse_int_str(rt, v, (int)base, &ok);
        if (ok) return r;
        double d;
        if (parse_float_str(rt, v, &d) && fabs(d) < 9.2e18) return pg_jv_int((int64_t)d);
    }
    return dflt;
}

FILTER(format) {
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

FILTER(indent) {
    return do_indent(rt, str_of(rt, v), a);
}

FILTER(items) {
    if (v.type == PG_JV_UNDEFINED) return pg_tpl_rt_list(rt, 0);
    if (v.type != PG_JV_DICT && v.type != PG_JV_NAMESPACE) FAIL("Can only get item pairs from a mapping.");
    return pg_jv_as_generator(pg_tpl_rt_items(rt, v));
}

static pg_jv keys_or_values(pg_tpl_rt *rt, pg_jv v, int keys) {
    if (v.type == PG_JV_UNDEFINED) return pg_tpl_rt_list(rt, 0);
    if (v.type != PG_JV_DICT) FAIL("%s needs a mapping", keys ? "keys" : "values");
    size_t n = pg_jv_dict_len(v);
    pg_jv out = pg_tpl_rt_list(rt, n);
    for (size_t i = 0; i < n; i++) pg_tpl_rt_push(rt, out, keys ? pg_jv_dict_key_at(v, i) : pg_jv_dict_val_at(v, i));
    return out;
}

FILTER(keys) { return keys_or_values(rt, v, 1); }
FILTER(values) { return keys_or_values(rt, v, 0); }

FILTER(join) {
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
        if (attr.type != PG_JV_NONE) it = pg_tpl_attr_path(rt, it, attr);
        pg_jv_write_str(&b, it);
    }
    return pg_tpl_rt_buf_done(rt, &b);
}

FILTER(list) {
    return pg_tpl_rt_list_copy(rt, v);
}

FILTER(lower) {
    return pg_ts_keep_markup(v, pg_ts_map_case(rt, str_of(rt, v), 0));
}

FILTER(upper) {
    return pg_ts_keep_markup(v, pg_ts_map_case(rt, str_of(rt, v), 1));
}

FILTER(title) {
    return pg_ts_keep_markup(v, pg_ts_map_case(rt, str_of(rt, v), 4));
}

FILTER(map) {
    pg_jv l = pg_jv_truthy(v) ? pg_tpl_rt_iter(rt, v) : pg_tpl_rt_list(rt, 0);
    pg_jv out = pg_tpl_rt_list(rt, pg_jv_list_len(l));
    int has_attr;
    pg_jv attr = pg_tpl_arg(a, SIZE_MAX, "attribute", pg_jv_undefined(), &has_attr);
    if (has_attr && a->npos == 0) {
        pg_jv dflt = pg_tpl_arg(a, SIZE_MAX, "default", pg_jv_undefined(), NULL);
        for (size_t i = 0; i < pg_jv_list_len(l); i++) {
            pg_tpl_rt_tick(rt);
            pg_jv x = pg_tpl_attr_path(rt, pg_jv_list_at(l, i), attr);
            if (x.type == PG_JV_UNDEFINED && dflt.type != PG_JV_UNDEFINED) x = dflt;
            pg_tpl_rt_push(rt, out, x);
        }
        return pg_jv_as_generator(out);
    }
    if (a->npos == 0) FAIL("map requires a filter argument");
    pg_jv fname = pg_tpl_rt_need_str(rt, a->pos[0], "filter name");
    int fid = pg_tpl_filter_id(fname.u.s.p, fname.u.s.n);
    if (fid < 0) FAIL("no filter named '%.*s'", (int)(fname.u.s.n > 60 ? 60 : fname.u.s.n), fname.u.s.p);
    pg_tpl_args rest = {a->pos + 1, a->npos - 1, a->kwn, a->kwv, a->nkw};
    for (size_t i = 0; i < pg_jv_list_len(l); i++) {
        pg_tpl_rt_tick(rt);
        pg_tpl_rt_push(rt, out, pg_tpl_filter_apply(rt, fid, pg_jv_list_at(l, i), &rest));
    }
    return pg_jv_as_generator(out);
}

FILTER(max) {
    return minmax(rt, v, a, 1);
}

FILTER(min) {
    return minmax(rt, v, a, 0);
}

FILTER(pprint) {
    pg_jv_buf b;
    pg_tpl_rt_buf(rt, &b);
    pg_jv_write_repr(&b, v);
    return pg_tpl_rt_buf_done(rt, &b);
}

FILTER(reject) {
    return select_impl(rt, v, a, 0, 0);
}

FILTER(select) {
    return select_impl(rt, v, a, 0, 1);
}

FILTER(rejectattr) {
    return select_impl(rt, v, a, 1, 0);
}

FILTER(selectattr) {
    return select_impl(rt, v, a, 1, 1);
}

FILTER(replace) {
    pg_jv s = str_of(rt, v);
    pg_jv old = str_of(rt, pg_tpl_arg(a, 0, "old", pg_jv_undefined(), NULL));
    pg_jv nw = str_of(rt, pg_tpl_arg(a, 1, "new", pg_jv_undefined(), NULL));
    pg_jv cnt = pg_tpl_arg(a, 2, "count", pg_jv_none(), NULL);
    return pg_ts_replace(rt, s, old, nw, cnt.type == PG_JV_NONE ? -1 : pg_tpl_rt_int(rt, cnt, "count"));
}

FILTER(reverse) {
    if (v.type == PG_JV_STRING) return pg_tpl_slice(rt, v, pg_jv_none(), pg_jv_none(), pg_jv_int(-1));
    pg_jv l = pg_jv_list_is_gen(v) ? pg_tpl_rt_list_copy(rt, v) : pg_tpl_rt_iter(rt, v);
    return pg_tpl_slice(rt, l, pg_jv_none(), pg_jv_none(), pg_jv_int(-1));
}

FILTER(round) {
    v = num_of(rt, v, "round");
    int64_t prec = pg_tpl_rt_int(rt, pg_tpl_arg(a, 0, "precision", pg_jv_int(0), NULL), "precision");
    pg_jv m = pg_tpl_arg(a, 1, "method", pg_jv_str_ref("common", 6), NULL);
    m = pg_tpl_rt_need_str(rt, m, "method");
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

FILTER(safe) {
    return pg_ts_markup(str_of(rt, v));
}

FILTER(sort) {
    static const char *names[] = {"reverse", "case_sensitive", "attribute", NULL};
    pg_tpl_args_check(rt, a, 3, names, "sort");
    int rev = pg_jv_truthy(pg_tpl_arg(a, 0, "reverse", pg_jv_bool(0), NULL));
    int cs = pg_jv_truthy(pg_tpl_arg(a, 1, "case_sensitive", pg_jv_bool(0), NULL));
    pg_jv attr = pg_tpl_arg(a, 2, "attribute", pg_jv_none(), NULL);
    return sorted_list(rt, v, rev, cs, attr);
}

FILTER(string) {
    return str_of(rt, v);
}

FILTER(striptags) {
    pg_jv s = str_of(rt, v);
    pg_tpl_rt_charge(rt, (uint64_t)s.u.s.n * PG_TPL_COST_WALK);
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

FILTER(sum) {
    pg_jv attr = pg_tpl_arg(a, 0, "attribute", pg_jv_none(), NULL);
    pg_jv acc = pg_tpl_arg(a, 1, "start", pg_jv_int(0), NULL);
    pg_jv l = pg_tpl_rt_iter(rt, v);
    pg_tpl_rt_charge_value(rt, l);
    for (size_t i = 0; i < pg_jv_list_len(l); i++) {
        pg_jv x = pg_jv_list_at(l, i);
        if (attr.type != PG_JV_NONE) x = pg_tpl_attr_path(rt, x, attr);
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

FILTER(tojson) {
    return tojson(rt, v, a);
}

FILTER(trim) {
    pg_jv chars = pg_tpl_arg(a, 0, "chars", pg_jv_none(), NULL);
    if (chars.type != PG_JV_NONE) chars = pg_tpl_rt_need_str(rt, chars, "chars");
    return pg_ts_keep_markup(v, pg_ts_strip(rt, str_of(rt, v), chars, 3));
}

FILTER(unique) {
    int cs = pg_jv_truthy(pg_tpl_arg(a, 0, "case_sensitive", pg_jv_bool(0), NULL));
    pg_jv attr = pg_tpl_arg(a, 1, "attribute", pg_jv_none(), NULL);
    pg_jv l = pg_tpl_rt_iter(rt, v);
    pg_jv seen = pg_tpl_rt_dict(rt);
    pg_jv out = pg_tpl_rt_list(rt, 0);
    for (size_t i = 0; i < pg_jv_list_len(l); i++) {
        pg_jv it = pg_jv_list_at(l, i);
        pg_jv k = sort_key(rt, attr.type == PG_JV_NONE ? it : pg_tpl_attr_path(rt, it, attr), cs);
        if (k.type == PG_JV_LIST || k.type == PG_JV_DICT) {
            int dup = 0;
            for (size_t j = 0; j < pg_jv_list_len(out) && !dup; j++) {
                pg_tpl_rt_tick(rt);
                pg_tpl_rt_charge_value(rt, k);
                pg_jv o = pg_jv_list_at(out, j);
                dup = pg_jv_equal(sort_key(rt, attr.type == PG_JV_NONE ? o : pg_tpl_attr_path(rt, o, attr), cs), k);
            }
            if (!dup) pg_tpl_rt_push(rt, out, it);
            continue;
        }
        if (pg_jv_dict_get(seen, k, NULL)) continue;
        pg_tpl_rt_dict_set(rt, seen, k, pg_jv_bool(1));
        pg_tpl_rt_push(rt, out, it);
    }
    return pg_jv_as_generator(out);
}

FILTER(wordcount) {
    pg_jv s = str_of(rt, v);
    pg_tpl_rt_charge(rt, (uint64_t)s.u.s.n * PG_TPL_COST_WALK);
    int64_t n = 0;
    int in = 0;
    for (size_t i = 0; i < s.u.s.n; i++) {
        unsigned char c = (unsigned char)s.u.s.p[i];
        int w = c >= 0x80 || pg_ts_isalpha(c) || pg_ts_isdigit(c) || c == '_';
        if (w && !in) n++;
        in = w;
    }
    return pg_jv_int(n);
}

#define ROW(n) f_##n,
static const filter_fn filters[] = {FILTERS(ROW)};
#undef ROW
#define N_FILTERS (int)(sizeof filters / sizeof filters[0])

pg_jv pg_tpl_filter_apply(pg_tpl_rt *rt, int id, pg_jv v, const pg_tpl_args *a) {
    PG_ASSERT(id >= 0 && id < N_FILTERS);
    return filters[id](rt, v, a);
}
