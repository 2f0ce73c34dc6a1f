/* access.c - item access: obj.name, obj[key], obj[a:b:c], loop
 * attributes and attribute paths ("a.b.0") used by filters.
 *
 * Jinja2 semantics: a missing key or attribute is an Undefined that
 * carries a hint (for the error message if it is used); '.' finds dict
 * keys and methods, [] finds keys first and then attributes. */
#include "template/access.h"

#include "template/methods.h"
#include "template/tstr.h"

#include <string.h>

#define FAIL(...) pg_tpl_rt_fail(rt, PG_EINVAL, __VA_ARGS__)

pg_jv pg_tpl_undef_attr(pg_jv obj, const char *name, size_t n) {
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
    if (IS("cycle") || IS("changed")) return pg_tpl_bound(rt, pg_tpl_method_id(PG_JV_LOOP, name, n), obj);
#undef IS
    return pg_tpl_undef_attr(obj, name, n);
}

pg_jv pg_tpl_getattr(pg_tpl_rt *rt, pg_jv obj, const char *name, size_t n) {
    pg_jv v;
    int id;
    switch (obj.type) {
    case PG_JV_UNDEFINED: pg_tpl_rt_undefined_error(rt, obj);
    case PG_JV_DICT:
        if ((id = pg_tpl_method_id(PG_JV_DICT, name, n)) >= 0) return pg_tpl_bound(rt, id, obj);
        if (pg_jv_dict_get_str(obj, name, n, &v)) return v;
        return pg_tpl_undef_attr(obj, name, n);
    case PG_JV_NAMESPACE:
        if (pg_jv_dict_get_str(obj, name, n, &v)) return v;
        return pg_tpl_undef_attr(obj, name, n);
    case PG_JV_STRING:
    case PG_JV_LIST:
        if ((id = pg_tpl_method_id(obj.type, name, n)) >= 0) return pg_tpl_bound(rt, id, obj);
        return pg_tpl_undef_attr(obj, name, n);
    case PG_JV_LOOP: return loop_attr(rt, obj, name, n);
    default: return pg_tpl_undef_attr(obj, name, n);
    }
}

pg_jv pg_tpl_getitem(pg_tpl_rt *rt, pg_jv obj, pg_jv key) {
    pg_jv v;
    size_t idx;
    switch (obj.type) {
    case PG_JV_UNDEFINED: pg_tpl_rt_undefined_error(rt, obj);
    case PG_JV_DICT:
    case PG_JV_NAMESPACE:
        pg_tpl_rt_charge_value(rt, key); /* hashed */
        if (pg_jv_dict_get(obj, key, &v)) return v;
        if (key.type == PG_JV_STRING) return pg_tpl_getattr(rt, obj, key.u.s.p, key.u.s.n);
        return pg_tpl_undef_attr(obj, NULL, 0);
    case PG_JV_LIST:
        if (pg_jv_list_is_gen(obj)) return pg_tpl_undef_attr(obj, NULL, 0); /* not subscriptable */
        if (key.type == PG_JV_INT || key.type == PG_JV_BOOL) {
            int64_t i = key.type == PG_JV_INT ? key.u.i : key.u.b;
            if (pg_tpl_norm_index(i, pg_jv_list_len(obj), &idx)) return pg_jv_list_at(obj, idx);
            return pg_tpl_undef_attr(obj, NULL, 0);
        }
        if (key.type == PG_JV_STRING) return pg_tpl_getattr(rt, obj, key.u.s.p, key.u.s.n);
        return pg_tpl_undef_attr(obj, NULL, 0);
    case PG_JV_STRING:
        if (key.type == PG_JV_INT || key.type == PG_JV_BOOL) {
            int64_t i = key.type == PG_JV_INT ? key.u.i : key.u.b;
            pg_tpl_rt_charge(rt, (uint64_t)obj.u.s.n * PG_TPL_COST_WALK); /* code points counted */
            size_t len = pg_jv_utf8_len(obj.u.s.p, obj.u.s.n);
            if (!pg_tpl_norm_index(i, len, &idx)) return pg_tpl_undef_attr(obj, NULL, 0);
            size_t off = pg_ts_cp_offset(obj.u.s.p, obj.u.s.n, idx);
            return pg_jv_str_ref(obj.u.s.p + off, pg_ts_cp_len(obj.u.s.p, obj.u.s.n, off));
        }
        if (key.type == PG_JV_STRING) return pg_tpl_getattr(rt, obj, key.u.s.p, key.u.s.n);
        return pg_tpl_undef_attr(obj, NULL, 0);
    case PG_JV_LOOP:
        if (key.type == PG_JV_STRING) return loop_attr(rt, obj, key.u.s.p, key.u.s.n);
        return pg_tpl_undef_attr(obj, NULL, 0);
    default: return pg_tpl_undef_attr(obj, NULL, 0);
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
    if (obj.type == PG_JV_LIST && !pg_jv_list_is_gen(obj)) {
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
        pg_tpl_rt_charge(rt, (uint64_t)n * PG_TPL_COST_WALK); /* code points counted */
        size_t len = pg_jv_utf8_len(p, n);
        int64_t a, b, k;
        slice_indices(rt, start, stop, step, len, &a, &b, &k);
        if (k == 1) {
            if (b <= a) return pg_jv_str_ref("", 0);
            size_t oa = pg_ts_cp_offset(p, n, (size_t)a);
            size_t ob = oa + pg_ts_cp_offset(p + oa, n - oa, (size_t)(b - a));
            return pg_jv_str_ref(p + oa, ob - oa);
        }
        /* general step: index code point offsets once */
        size_t *offs = pg_tpl_rt_alloc(rt, (len + 1) * sizeof(size_t));
        for (size_t i = 0, o = 0; i <= len; i++) {
            offs[i] = o;
            if (o < n) o += pg_ts_cp_len(p, n, o);
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
pg_jv pg_tpl_attr_path(pg_tpl_rt *rt, pg_jv v, pg_jv path) {
    if (path.type == PG_JV_INT) return pg_tpl_getitem(rt, v, path);
    path = pg_tpl_rt_need_str(rt, path, "attribute");
    const char *p = path.u.s.p;
    size_t n = path.u.s.n, i = 0;
    while (i <= n) {
        size_t j = i;
        while (j < n && p[j] != '.') j++;
        pg_jv key = pg_jv_str_ref(p + i, j - i);
        int digits = j > i;
        int64_t iv = 0;
        for (size_t k = i; k < j; k++) {
            if (!pg_ts_isdigit(p[k]) || iv > 1000000000000LL) {
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
