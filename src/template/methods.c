/* methods.c - global functions (range, dict, namespace, raise_exception,
 * strftime_now) and the Python methods of str, dict, list and the loop
 * object that templates call (`s.strip()`, `d.items()`, `l.append(x)`).
 *
 * A function id indexes funcs[]: globals first, then methods grouped by
 * owner type. A FUNC value is {id, bound self}; calling it is one
 * indirect call through the table. Methods that mutate (append, update,
 * pop, ...) change the arena copy the render made, never caller data. */
#include "template/methods.h"

#include "template/format.h"
#include "template/tstr.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define FAIL(...) pg_tpl_rt_fail(rt, PG_EINVAL, __VA_ARGS__)
#define ARG(i) pg_tpl_arg(a, (i), NULL, pg_jv_undefined(), NULL)

/* id: the function id (one function serves strip/lstrip/rstrip, ...);
 * self: the bound object (undefined for globals). */
typedef pg_jv (*method_fn)(pg_tpl_rt *rt, int id, pg_jv self, const pg_tpl_args *a);

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

/* ------------------------------------------------------------ helpers */

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

static size_t list_index_of(pg_tpl_rt *rt, pg_jv l, pg_jv x, int *found) {
    for (size_t i = 0; i < pg_jv_list_len(l); i++) {
        pg_tpl_rt_tick(rt);
        pg_tpl_rt_charge_value(rt, x);
        if (pg_jv_equal(pg_jv_list_at(l, i), x)) {
            *found = 1;
            return i;
        }
    }
    *found = 0;
    return 0;
}

/* ------------------------------------------------------------ functions */

static pg_jv m_g_range(pg_tpl_rt *rt, int id, pg_jv self, const pg_tpl_args *a) {
    return fn_range(rt, a);
}

static pg_jv m_g_dict(pg_tpl_rt *rt, int id, pg_jv self, const pg_tpl_args *a) {
    pg_jv d = pg_tpl_rt_dict(rt);
    if (a->npos > 1) FAIL("dict expected at most 1 argument");
    if (a->npos) dict_update_from(rt, d, ARG(0));
    kwargs_into(rt, d, a);
    return d;
}

static pg_jv m_g_namespace(pg_tpl_rt *rt, int id, pg_jv self, const pg_tpl_args *a) {
    pg_jv d = pg_jv_namespace_new(rt->arena);
    if (d.type != PG_JV_NAMESPACE) pg_tpl_rt_fail(rt, PG_ENOMEM, "out of memory");
    for (size_t i = 0; i < a->npos; i++) dict_update_from(rt, d, a->pos[i]);
    kwargs_into(rt, d, a);
    return d;
}

static pg_jv m_g_raise(pg_tpl_rt *rt, int id, pg_jv self, const pg_tpl_args *a) {
    pg_jv m = pg_tpl_rt_to_str(rt, ARG(0));
    /* the template's own message, verbatim (no line prefix) */
    pg_error_set(rt->err, PG_EINVAL, "%.*s", (int)(m.u.s.n > 500 ? 500 : m.u.s.n), m.u.s.p);
    longjmp(rt->jb, 1);
}

static pg_jv m_g_strftime(pg_tpl_rt *rt, int id, pg_jv self, const pg_tpl_args *a) {
    pg_jv fmt = pg_tpl_rt_need_str(rt, ARG(0), "strftime_now format");
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

static pg_jv m_s_capitalize(pg_tpl_rt *rt, int id, pg_jv self, const pg_tpl_args *a) {
    return pg_ts_map_case(rt, self, 2);
}

static pg_jv m_s_lower(pg_tpl_rt *rt, int id, pg_jv self, const pg_tpl_args *a) {
    return pg_ts_map_case(rt, self, 0);
}

static pg_jv m_s_upper(pg_tpl_rt *rt, int id, pg_jv self, const pg_tpl_args *a) {
    return pg_ts_map_case(rt, self, 1);
}

static pg_jv m_s_title(pg_tpl_rt *rt, int id, pg_jv self, const pg_tpl_args *a) {
    return pg_ts_map_case(rt, self, 3);
}

static pg_jv m_s_rstrip(pg_tpl_rt *rt, int id, pg_jv self, const pg_tpl_args *a) {
    pg_jv chars = ARG(0).type == PG_JV_UNDEFINED || ARG(0).type == PG_JV_NONE ? pg_jv_none() : pg_tpl_rt_need_str(rt, ARG(0), "chars");
    return pg_ts_strip(rt, self, chars, id == S_STRIP ? 3 : id == S_LSTRIP ? 1 : 2);
}

static pg_jv m_s_rsplit(pg_tpl_rt *rt, int id, pg_jv self, const pg_tpl_args *a) {
    pg_jv sep = pg_tpl_arg(a, 0, "sep", pg_jv_none(), NULL);
    pg_jv mx = pg_tpl_arg(a, 1, "maxsplit", pg_jv_int(-1), NULL);
    if (sep.type != PG_JV_NONE) sep = pg_tpl_rt_need_str(rt, sep, "separator");
    return pg_ts_split(rt, self, sep, pg_tpl_rt_int(rt, mx, "maxsplit"), id == S_RSPLIT);
}

static pg_jv m_s_splitlines(pg_tpl_rt *rt, int id, pg_jv self, const pg_tpl_args *a) {
    return pg_ts_splitlines(rt, self);
}

static pg_jv m_s_startswith(pg_tpl_rt *rt, int id, pg_jv self, const pg_tpl_args *a) {
    return pg_jv_bool(pg_ts_affix(rt, self, ARG(0), 0));
}

static pg_jv m_s_endswith(pg_tpl_rt *rt, int id, pg_jv self, const pg_tpl_args *a) {
    return pg_jv_bool(pg_ts_affix(rt, self, ARG(0), 1));
}

static pg_jv m_s_replace(pg_tpl_rt *rt, int id, pg_jv self, const pg_tpl_args *a) {
    pg_jv cnt = pg_tpl_arg(a, 2, "count", pg_jv_int(-1), NULL);
    return pg_ts_replace(rt, self, pg_tpl_rt_need_str(rt, ARG(0), "old"), pg_tpl_rt_need_str(rt, ARG(1), "new"), pg_tpl_rt_int(rt, cnt, "count"));
}

static pg_jv m_s_index(pg_tpl_rt *rt, int id, pg_jv self, const pg_tpl_args *a) {
    int64_t r = pg_ts_find(rt, self, pg_tpl_rt_need_str(rt, ARG(0), "substring"), id == S_RFIND);
    if (r < 0 && id == S_INDEX) FAIL("substring not found");
    return pg_jv_int(r);
}

static pg_jv m_s_count(pg_tpl_rt *rt, int id, pg_jv self, const pg_tpl_args *a) {
    pg_jv sub = pg_tpl_rt_need_str(rt, ARG(0), "substring");
    pg_tpl_rt_charge(rt, self.u.s.n);
    if (!sub.u.s.n) return pg_jv_int((int64_t)pg_jv_utf8_len(self.u.s.p, self.u.s.n) + 1);
    int64_t c = 0;
    size_t i = 0;
    const char *hit;
    while ((hit = pg_ts_memmem(self.u.s.p + i, self.u.s.n - i, sub.u.s.p, sub.u.s.n))) {
        c++;
        i = (size_t)(hit - self.u.s.p) + sub.u.s.n;
    }
    return pg_jv_int(c);
}

static pg_jv m_s_format(pg_tpl_rt *rt, int id, pg_jv self, const pg_tpl_args *a) {
    return pg_tpl_str_format(rt, self, a);
}

static pg_jv m_s_join(pg_tpl_rt *rt, int id, pg_jv self, const pg_tpl_args *a) {
    pg_jv l = pg_tpl_rt_iter(rt, ARG(0));
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

static pg_jv m_s_isalnum(pg_tpl_rt *rt, int id, pg_jv self, const pg_tpl_args *a) {
    return pg_jv_bool(pg_ts_all(rt, self, 0));
}

static pg_jv m_s_isalpha(pg_tpl_rt *rt, int id, pg_jv self, const pg_tpl_args *a) {
    return pg_jv_bool(pg_ts_all(rt, self, 1));
}

static pg_jv m_s_isdigit(pg_tpl_rt *rt, int id, pg_jv self, const pg_tpl_args *a) {
    return pg_jv_bool(pg_ts_all(rt, self, 2));
}

static pg_jv m_s_isspace(pg_tpl_rt *rt, int id, pg_jv self, const pg_tpl_args *a) {
    return pg_jv_bool(pg_ts_all(rt, self, 3));
}

static pg_jv m_s_islower(pg_tpl_rt *rt, int id, pg_jv self, const pg_tpl_args *a) {
    return pg_jv_bool(pg_ts_all(rt, self, 4));
}

static pg_jv m_s_isupper(pg_tpl_rt *rt, int id, pg_jv self, const pg_tpl_args *a) {
    return pg_jv_bool(pg_ts_all(rt, self, 5));
}

static pg_jv m_d_get(pg_tpl_rt *rt, int id, pg_jv self, const pg_tpl_args *a) {
    pg_jv v;
    pg_tpl_rt_charge_value(rt, ARG(0)); /* hashed */
    if (pg_jv_dict_get(self, ARG(0), &v)) return v;
    return a->npos > 1 ? ARG(1) : pg_jv_none();
}

static pg_jv m_d_items(pg_tpl_rt *rt, int id, pg_jv self, const pg_tpl_args *a) {
    return pg_tpl_rt_items(rt, self);
}

static pg_jv m_d_values(pg_tpl_rt *rt, int id, pg_jv self, const pg_tpl_args *a) {
    size_t n = pg_jv_dict_len(self);
    pg_jv out = pg_tpl_rt_list(rt, n);
    for (size_t i = 0; i < n; i++)
        pg_tpl_rt_push(rt, out, id == D_KEYS ? pg_jv_dict_key_at(self, i) : pg_jv_dict_val_at(self, i));
    return out;
}

static pg_jv m_d_update(pg_tpl_rt *rt, int id, pg_jv self, const pg_tpl_args *a) {
    if (a->npos) dict_update_from(rt, self, ARG(0));
    kwargs_into(rt, self, a);
    return pg_jv_none();
}

static pg_jv m_d_pop(pg_tpl_rt *rt, int id, pg_jv self, const pg_tpl_args *a) {
    pg_jv v;
    pg_tpl_rt_charge_value(rt, ARG(0)); /* hashed */
    if (pg_jv_dict_get(self, ARG(0), &v)) {
        pg_jv_dict_del(self, ARG(0));
        return v;
    }
    if (a->npos > 1) return ARG(1);
    FAIL("KeyError in dict.pop()");
}

static pg_jv m_d_setdefault(pg_tpl_rt *rt, int id, pg_jv self, const pg_tpl_args *a) {
    pg_jv v;
    pg_tpl_rt_charge_value(rt, ARG(0)); /* hashed */
    if (pg_jv_dict_get(self, ARG(0), &v)) return v;
    pg_jv d = a->npos > 1 ? ARG(1) : pg_jv_none();
    pg_tpl_rt_dict_set(rt, self, ARG(0), d);
    return d;
}

static pg_jv m_d_copy(pg_tpl_rt *rt, int id, pg_jv self, const pg_tpl_args *a) {
    pg_jv d = pg_tpl_rt_dict(rt);
    dict_update_from(rt, d, self);
    return d;
}

static pg_jv m_d_clear(pg_tpl_rt *rt, int id, pg_jv self, const pg_tpl_args *a) {
    pg_tpl_rt_charge_value(rt, self);
    while (pg_jv_dict_len(self)) pg_jv_dict_del(self, pg_jv_dict_key_at(self, pg_jv_dict_len(self) - 1));
    return pg_jv_none();
}

static pg_jv m_l_append(pg_tpl_rt *rt, int id, pg_jv self, const pg_tpl_args *a) {
    pg_tpl_rt_push(rt, self, ARG(0)); return pg_jv_none();
}

static pg_jv m_l_extend(pg_tpl_rt *rt, int id, pg_jv self, const pg_tpl_args *a) {
    pg_jv l = pg_tpl_rt_iter(rt, ARG(0));
    size_t n = pg_jv_list_len(l);
    for (size_t i = 0; i < n; i++) pg_tpl_rt_push(rt, self, pg_jv_list_at(l, i));
    return pg_jv_none();
}

static pg_jv m_l_insert(pg_tpl_rt *rt, int id, pg_jv self, const pg_tpl_args *a) {
    int64_t i = pg_tpl_rt_int(rt, ARG(0), "index");
    int64_t n = (int64_t)pg_jv_list_len(self);
    pg_tpl_rt_charge_value(rt, self); /* items moved */
    if (i < 0) i = i + n < 0 ? 0 : i + n;
    if (i > n) i = n;
    if ((size_t)n >= rt->lim.max_items) pg_tpl_rt_fail(rt, PG_ELIMIT, "list longer than the limit");
    if (pg_jv_list_insert(rt->arena, self, (size_t)i, ARG(1))) pg_tpl_rt_fail(rt, PG_ENOMEM, "out of memory");
    return pg_jv_none();
}

static pg_jv m_l_pop(pg_tpl_rt *rt, int id, pg_jv self, const pg_tpl_args *a) {
    size_t n = pg_jv_list_len(self), idx;
    int64_t i = a->npos ? pg_tpl_rt_int(rt, ARG(0), "index") : -1;
    if (!pg_tpl_norm_index(i, n, &idx)) FAIL("pop index out of range");
    pg_tpl_rt_charge(rt, (uint64_t)(n - idx) * sizeof(pg_jv)); /* items shifted */
    pg_jv v = pg_jv_list_at(self, idx);
    pg_jv_list_remove(self, idx);
    return v;
}

static pg_jv m_l_remove(pg_tpl_rt *rt, int id, pg_jv self, const pg_tpl_args *a) {
    int found;
    size_t i = list_index_of(rt, self, ARG(0), &found);
    if (!found) FAIL("list.remove(x): x not in list");
    pg_jv_list_remove(self, i);
    return pg_jv_none();
}

static pg_jv m_l_index(pg_tpl_rt *rt, int id, pg_jv self, const pg_tpl_args *a) {
    int found;
    size_t i = list_index_of(rt, self, ARG(0), &found);
    if (!found) FAIL("value is not in list");
    return pg_jv_int((int64_t)i);
}

static pg_jv m_l_count(pg_tpl_rt *rt, int id, pg_jv self, const pg_tpl_args *a) {
    int64_t c = 0;
    pg_tpl_rt_charge_value(rt, self);
    for (size_t i = 0; i < pg_jv_list_len(self); i++) {
        pg_tpl_rt_charge_value(rt, ARG(0));
        c += pg_jv_equal(pg_jv_list_at(self, i), ARG(0));
    }
    return pg_jv_int(c);
}

static pg_jv m_l_reverse(pg_tpl_rt *rt, int id, pg_jv self, const pg_tpl_args *a) {
    pg_jv *it = pg_jv_list_items(self);
    size_t n = pg_jv_list_len(self);
    pg_tpl_rt_charge_value(rt, self);
    for (size_t i = 0; i < n / 2; i++) {
        pg_jv t = it[i];
        it[i] = it[n - 1 - i];
        it[n - 1 - i] = t;
    }
    return pg_jv_none();
}

static pg_jv m_l_copy(pg_tpl_rt *rt, int id, pg_jv self, const pg_tpl_args *a) {
    return pg_tpl_rt_list_copy(rt, self);
}

static pg_jv m_l_clear(pg_tpl_rt *rt, int id, pg_jv self, const pg_tpl_args *a) {
    pg_tpl_rt_charge_value(rt, self);
    while (pg_jv_list_len(self)) pg_jv_list_remove(self, pg_jv_list_len(self) - 1);
    return pg_jv_none();
}

static pg_jv m_lp_cycle(pg_tpl_rt *rt, int id, pg_jv self, const pg_tpl_args *a) {
    pg_tpl_loop *l = self.u.ptr;
    if (!a->npos) FAIL("no items for cycling given");
    return a->pos[l->i % a->npos];
}

static pg_jv m_lp_changed(pg_tpl_rt *rt, int id, pg_jv self, const pg_tpl_args *a) {
    pg_tpl_loop *l = self.u.ptr;
    pg_jv t = pg_jv_tuple_new(rt->arena, a->npos);
    if (t.type != PG_JV_LIST) pg_tpl_rt_fail(rt, PG_ENOMEM, "out of memory");
    for (size_t i = 0; i < a->npos; i++) {
        pg_tpl_rt_push(rt, t, a->pos[i]);
        pg_tpl_rt_charge_value(rt, a->pos[i]); /* compared with the last call's */
    }
    if (l->changed_init && pg_jv_equal(l->last_changed, t)) return pg_jv_bool(0);
    l->changed_init = 1;
    l->last_changed = t;
    return pg_jv_bool(1);
}

static const struct {
    int owner; /* pg_jv_type, or -1 for globals */
    const char *name;
    method_fn fn;
} funcs[N_FUNCS] = {
    [G_RANGE] = {-1, "range", m_g_range}, [G_DICT] = {-1, "dict", m_g_dict}, [G_NAMESPACE] = {-1, "namespace", m_g_namespace},
    [G_RAISE] = {-1, "raise_exception", m_g_raise}, [G_STRFTIME] = {-1, "strftime_now", m_g_strftime},
    [S_CAPITALIZE] = {PG_JV_STRING, "capitalize", m_s_capitalize}, [S_COUNT] = {PG_JV_STRING, "count", m_s_count},
    [S_ENDSWITH] = {PG_JV_STRING, "endswith", m_s_endswith}, [S_FIND] = {PG_JV_STRING, "find", m_s_index},
    [S_FORMAT] = {PG_JV_STRING, "format", m_s_format}, [S_INDEX] = {PG_JV_STRING, "index", m_s_index},
    [S_ISALNUM] = {PG_JV_STRING, "isalnum", m_s_isalnum}, [S_ISALPHA] = {PG_JV_STRING, "isalpha", m_s_isalpha},
    [S_ISDIGIT] = {PG_JV_STRING, "isdigit", m_s_isdigit}, [S_ISLOWER] = {PG_JV_STRING, "islower", m_s_islower},
    [S_ISSPACE] = {PG_JV_STRING, "isspace", m_s_isspace}, [S_ISUPPER] = {PG_JV_STRING, "isupper", m_s_isupper},
    [S_JOIN] = {PG_JV_STRING, "join", m_s_join}, [S_LOWER] = {PG_JV_STRING, "lower", m_s_lower},
    [S_LSTRIP] = {PG_JV_STRING, "lstrip", m_s_rstrip}, [S_REPLACE] = {PG_JV_STRING, "replace", m_s_replace},
    [S_RFIND] = {PG_JV_STRING, "rfind", m_s_index}, [S_RSPLIT] = {PG_JV_STRING, "rsplit", m_s_rsplit},
    [S_RSTRIP] = {PG_JV_STRING, "rstrip", m_s_rstrip}, [S_SPLIT] = {PG_JV_STRING, "split", m_s_rsplit},
    [S_SPLITLINES] = {PG_JV_STRING, "splitlines", m_s_splitlines}, [S_STARTSWITH] = {PG_JV_STRING, "startswith", m_s_startswith},
    [S_STRIP] = {PG_JV_STRING, "strip", m_s_rstrip}, [S_TITLE] = {PG_JV_STRING, "title", m_s_title},
    [S_UPPER] = {PG_JV_STRING, "upper", m_s_upper},
    [D_CLEAR] = {PG_JV_DICT, "clear", m_d_clear}, [D_COPY] = {PG_JV_DICT, "copy", m_d_copy}, [D_GET] = {PG_JV_DICT, "get", m_d_get},
    [D_ITEMS] = {PG_JV_DICT, "items", m_d_items}, [D_KEYS] = {PG_JV_DICT, "keys", m_d_values}, [D_POP] = {PG_JV_DICT, "pop", m_d_pop},
    [D_SETDEFAULT] = {PG_JV_DICT, "setdefault", m_d_setdefault}, [D_UPDATE] = {PG_JV_DICT, "update", m_d_update},
    [D_VALUES] = {PG_JV_DICT, "values", m_d_values},
    [L_APPEND] = {PG_JV_LIST, "append", m_l_append}, [L_CLEAR] = {PG_JV_LIST, "clear", m_l_clear}, [L_COPY] = {PG_JV_LIST, "copy", m_l_copy},
    [L_COUNT] = {PG_JV_LIST, "count", m_l_count}, [L_EXTEND] = {PG_JV_LIST, "extend", m_l_extend}, [L_INDEX] = {PG_JV_LIST, "index", m_l_index},
    [L_INSERT] = {PG_JV_LIST, "insert", m_l_insert}, [L_POP] = {PG_JV_LIST, "pop", m_l_pop}, [L_REMOVE] = {PG_JV_LIST, "remove", m_l_remove},
    [L_REVERSE] = {PG_JV_LIST, "reverse", m_l_reverse},
    [LP_CYCLE] = {PG_JV_LOOP, "cycle", m_lp_cycle}, [LP_CHANGED] = {PG_JV_LOOP, "changed", m_lp_changed},
};

int pg_tpl_method_id(int owner, const char *name, size_t n) {
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

pg_jv pg_tpl_func_call(pg_tpl_rt *rt, pg_jv fn, const pg_tpl_args *a) {
    pg_tpl_func *f = fn.u.ptr;
    PG_ASSERT(f->id >= 0 && f->id < N_FUNCS);
    return funcs[f->id].fn(rt, f->id, f->self, a);
}
