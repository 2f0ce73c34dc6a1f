/* rt.c - render-time helpers: errors by longjmp, bounded allocation,
 * string building, iteration. See rt.h for the error model. */
#include "template/rt.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

void pg_tpl_rt_fail(pg_tpl_rt *rt, int code, const char *fmt, ...) {
    char msg[480];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (rt->line > 0)
        pg_error_set(rt->err, code, "line %d: %s", rt->line, msg);
    else
        pg_error_set(rt->err, code, "%s", msg);
    longjmp(rt->jb, 1);
}

static const char *type_obj_name(int t) {
    switch (t) {
    case PG_JV_NONE: return "None";
    case PG_JV_BOOL: return "bool object";
    case PG_JV_INT: return "int object";
    case PG_JV_FLOAT: return "float object";
    case PG_JV_STRING: return "str object";
    case PG_JV_LIST: return "list object";
    case PG_JV_DICT: return "dict object";
    case PG_JV_NAMESPACE: return "Namespace object";
    case PG_JV_MACRO: return "Macro object";
    case PG_JV_FUNC: return "function object";
    case PG_JV_LOOP: return "LoopContext object";
    default: return "object";
    }
}

void pg_tpl_rt_undefined_error(pg_tpl_rt *rt, pg_jv v) {
    int n = (int)(v.u.s.n > 100 ? 100 : v.u.s.n);
    if (v.aux == PG_UNDEF_NAME && v.u.s.p)
        pg_tpl_rt_fail(rt, PG_EINVAL, "'%.*s' is undefined", n, v.u.s.p);
    if (v.aux >= PG_UNDEF_ATTR && v.u.s.p)
        pg_tpl_rt_fail(rt, PG_EINVAL, "'%s' has no attribute '%.*s'", type_obj_name(v.aux - PG_UNDEF_ATTR), n,
                       v.u.s.p);
    if (v.aux >= PG_UNDEF_ATTR)
        pg_tpl_rt_fail(rt, PG_EINVAL, "'%s' has no such element", type_obj_name(v.aux - PG_UNDEF_ATTR));
    pg_tpl_rt_fail(rt, PG_EINVAL, "undefined value");
}

static void check_mem(pg_tpl_rt *rt) {
    if (pg_arena_used(rt->arena) > rt->lim.max_memory)
        pg_tpl_rt_fail(rt, PG_ELIMIT, "template exceeded its memory limit (%zu bytes)", rt->lim.max_memory);
}

/* Declared in chat.h (public: callers build absolute deadlines with it);
 * defined here so chat.c -> eval.c -> rt.c stays one-way. */
int64_t pg_tpl_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* The deadline and the cancel flag: polled, not checked on every step. */
static void check_clock(pg_tpl_rt *rt) {
    if (rt->cancel && atomic_load_explicit(rt->cancel, memory_order_relaxed))
        pg_tpl_rt_fail(rt, PG_ECANCELED, "template rendering was cancelled");
    if (rt->deadline_ns && pg_tpl_now_ns() > rt->deadline_ns)
        pg_tpl_rt_fail(rt, PG_ELIMIT, "template exceeded its time limit (%u ms)", rt->lim.max_millis);
}

void pg_tpl_rt_charge(pg_tpl_rt *rt, uint64_t n) {
    if (__builtin_add_overflow(rt->work, n, &rt->work)) rt->work = UINT64_MAX;
    if (rt->work > rt->lim.max_work)
        pg_tpl_rt_fail(rt, PG_ELIMIT,
                       "template exceeded its cost budget (%llu bytes scanned, copied or allocated)",
                       (unsigned long long)rt->lim.max_work);
    if (rt->work >= rt->next_check) {
        rt->next_check = rt->work + PG_TPL_CHECK_BYTES;
        check_clock(rt);
    }
}

void pg_tpl_rt_charge_value(pg_tpl_rt *rt, pg_jv v) {
    switch (v.type) {
    case PG_JV_STRING: pg_tpl_rt_charge(rt, v.u.s.n); break;
    case PG_JV_LIST: pg_tpl_rt_charge(rt, (uint64_t)pg_jv_list_len(v) * sizeof(pg_jv)); break;
    case PG_JV_DICT:
    case PG_JV_NAMESPACE: pg_tpl_rt_charge(rt, (uint64_t)pg_jv_dict_len(v) * 2 * sizeof(pg_jv)); break;
    default: break;
    }
}

void pg_tpl_rt_tick(pg_tpl_rt *rt) {
    if (++rt->steps > rt->lim.max_steps)
        pg_tpl_rt_fail(rt, PG_ELIMIT, "template exceeded its work limit (%llu steps)",
                       (unsigned long long)rt->lim.max_steps);
    if ((rt->steps & 1023) == 0) check_clock(rt);
    check_mem(rt);
}

void *pg_tpl_rt_alloc(pg_tpl_rt *rt, size_t n) {
    pg_tpl_rt_charge(rt, n);
    void *p = pg_arena_calloc(rt->arena, 1, n);
    if (!p) pg_tpl_rt_fail(rt, PG_ENOMEM, "out of memory");
    check_mem(rt);
    return p;
}

void *pg_tpl_rt_alloc_raw(pg_tpl_rt *rt, size_t n) {
    pg_tpl_rt_charge(rt, n);
    void *p = pg_arena_alloc(rt->arena, n);
    if (!p) pg_tpl_rt_fail(rt, PG_ENOMEM, "out of memory");
    check_mem(rt);
    return p;
}

pg_jv pg_tpl_rt_undef(int kind, const char *name, size_t n) {
    pg_jv v = pg_jv_undefined();
    v.aux = (uint8_t)kind;
    v.u.s.p = name;
    v.u.s.n = n;
    return v;
}

pg_jv pg_tpl_rt_str(pg_tpl_rt *rt, const char *p, size_t n) {
    if (n > rt->lim.max_string)
        pg_tpl_rt_fail(rt, PG_ELIMIT, "string longer than the limit (%zu bytes)", rt->lim.max_string);
    pg_tpl_rt_charge(rt, n);
    pg_jv v = pg_jv_str(rt->arena, p, n);
    if (v.type != PG_JV_STRING) pg_tpl_rt_fail(rt, PG_ENOMEM, "out of memory");
    check_mem(rt);
    return v;
}

pg_jv pg_tpl_rt_list(pg_tpl_rt *rt, size_t cap) {
    if (cap > rt->lim.max_items)
        pg_tpl_rt_fail(rt, PG_ELIMIT, "list longer than the limit (%zu items)", rt->lim.max_items);
    pg_tpl_rt_charge(rt, (uint64_t)cap * sizeof(pg_jv));
    pg_jv v = pg_jv_list_new(rt->arena, cap);
    if (v.type != PG_JV_LIST) pg_tpl_rt_fail(rt, PG_ENOMEM, "out of memory");
    check_mem(rt);
    return v;
}

void pg_tpl_rt_push(pg_tpl_rt *rt, pg_jv list, pg_jv v) {
    if (pg_jv_list_len(list) >= rt->lim.max_items)
        pg_tpl_rt_fail(rt, PG_ELIMIT, "list longer than the limit (%zu items)", rt->lim.max_items);
    pg_tpl_rt_charge(rt, sizeof(pg_jv));
    if (pg_jv_list_push(rt->arena, list, v)) pg_tpl_rt_fail(rt, PG_ENOMEM, "out of memory");
    check_mem(rt);
}

pg_jv pg_tpl_rt_dict(pg_tpl_rt *rt) {
    pg_tpl_rt_charge(rt, 64);
    pg_jv v = pg_jv_dict_new(rt->arena);
    if (v.type != PG_JV_DICT) pg_tpl_rt_fail(rt, PG_ENOMEM, "out of memory");
    return v;
}

void pg_tpl_rt_dict_set(pg_tpl_rt *rt, pg_jv d, pg_jv k, pg_jv v) {
    if (pg_jv_dict_len(d) >= rt->lim.max_items)
        pg_tpl_rt_fail(rt, PG_ELIMIT, "dict larger than the limit (%zu items)", rt->lim.max_items);
    pg_tpl_rt_charge(rt, 2 * sizeof(pg_jv));
    pg_tpl_rt_charge_value(rt, k); /* hashed and compared */
    int rc = pg_jv_dict_set(rt->arena, d, k, v);
    if (rc == PG_EINVAL) pg_tpl_rt_fail(rt, PG_EINVAL, "unhashable type: '%s'", pg_jv_type_name(k));
    if (rc) pg_tpl_rt_fail(rt, PG_ENOMEM, "out of memory");
    check_mem(rt);
}

void pg_tpl_rt_buf(pg_tpl_rt *rt, pg_jv_buf *b) { pg_jv_buf_init(b, rt->arena, rt->lim.max_string); }

pg_jv pg_tpl_rt_buf_done(pg_tpl_rt *rt, pg_jv_buf *b) {
    if (b->err == PG_ELIMIT)
        pg_tpl_rt_fail(rt, PG_ELIMIT, "string longer than the limit (%zu bytes) or nested too deeply",
                       b->max);
    if (b->err) pg_tpl_rt_fail(rt, PG_ENOMEM, "out of memory");
    pg_tpl_rt_charge(rt, b->len);
    check_mem(rt);
    return pg_jv_str_ref(b->p, b->len);
}

pg_jv pg_tpl_rt_to_str(pg_tpl_rt *rt, pg_jv v) {
    if (v.type == PG_JV_STRING) return v;
    if (v.type == PG_JV_UNDEFINED) return pg_jv_str_ref("", 0);
    pg_jv_buf b;
    pg_tpl_rt_buf(rt, &b);
    pg_jv_write_str(&b, v);
    return pg_tpl_rt_buf_done(rt, &b);
}

pg_jv pg_tpl_rt_iter(pg_tpl_rt *rt, pg_jv v) {
    switch (v.type) {
    case PG_JV_LIST: return v;
    case PG_JV_UNDEFINED: return pg_tpl_rt_list(rt, 0);
    case PG_JV_STRING: {
        size_t n = pg_jv_utf8_len(v.u.s.p, v.u.s.n);
        pg_jv l = pg_tpl_rt_list(rt, n);
        for (size_t i = 0; i < v.u.s.n;) {
            size_t j = i + 1;
            while (j < v.u.s.n && ((unsigned char)v.u.s.p[j] & 0xC0) == 0x80) j++;
            pg_tpl_rt_push(rt, l, pg_jv_str_ref(v.u.s.p + i, j - i));
            i = j;
        }
        return l;
    }
    case PG_JV_DICT:
    case PG_JV_NAMESPACE: {
        size_t n = pg_jv_dict_len(v);
        pg_jv l = pg_tpl_rt_list(rt, n);
        for (size_t i = 0; i < n; i++) pg_tpl_rt_push(rt, l, pg_jv_dict_key_at(v, i));
        return l;
    }
    default: pg_tpl_rt_fail(rt, PG_EINVAL, "'%s' object is not iterable", pg_jv_type_name(v));
    }
}

int64_t pg_tpl_rt_int(pg_tpl_rt *rt, pg_jv v, const char *what) {
    if (v.type == PG_JV_INT) return v.u.i;
    if (v.type == PG_JV_BOOL) return v.u.b;
    if (v.type == PG_JV_UNDEFINED) pg_tpl_rt_undefined_error(rt, v);
    pg_tpl_rt_fail(rt, PG_EINVAL, "%s must be an integer, not '%s'", what, pg_jv_type_name(v));
}

int pg_tpl_norm_index(int64_t i, size_t len, size_t *out) {
    if (i < 0) i += (int64_t)len;
    if (i < 0 || (uint64_t)i >= len) return 0;
    *out = (size_t)i;
    return 1;
}

pg_jv pg_tpl_rt_need_str(pg_tpl_rt *rt, pg_jv v, const char *what) {
    if (v.type == PG_JV_STRING) return v;
    if (v.type == PG_JV_UNDEFINED) pg_tpl_rt_undefined_error(rt, v);
    pg_tpl_rt_fail(rt, PG_EINVAL, "%s must be a string, not '%s'", what, pg_jv_type_name(v));
}

int pg_tpl_rt_cmp(pg_tpl_rt *rt, pg_jv a, pg_jv b) {
    int c;
    pg_tpl_rt_charge_value(rt, a); /* sort / min / max / < over long strings */
    if (pg_jv_compare(a, b, &c) != PG_OK)
        pg_tpl_rt_fail(rt, PG_EINVAL, "'<' not supported between instances of '%s' and '%s'", pg_jv_type_name(a),
                       pg_jv_type_name(b));
    return c;
}

static pg_jv make_pair(pg_tpl_rt *rt, pg_jv k, pg_jv v) {
    pg_jv t = pg_jv_tuple_new(rt->arena, 2);
    if (t.type != PG_JV_LIST) pg_tpl_rt_fail(rt, PG_ENOMEM, "out of memory");
    pg_tpl_rt_push(rt, t, k);
    pg_tpl_rt_push(rt, t, v);
    return t;
}

pg_jv pg_tpl_rt_items(pg_tpl_rt *rt, pg_jv d) {
    size_t n = pg_jv_dict_len(d);
    pg_jv out = pg_tpl_rt_list(rt, n);
    for (size_t i = 0; i < n; i++)
        pg_tpl_rt_push(rt, out, make_pair(rt, pg_jv_dict_key_at(d, i), pg_jv_dict_val_at(d, i)));
    return out;
}

pg_jv pg_tpl_rt_list_copy(pg_tpl_rt *rt, pg_jv v) {
    pg_jv l = pg_tpl_rt_iter(rt, v);
    size_t n = pg_jv_list_len(l);
    pg_jv out = pg_tpl_rt_list(rt, n);
    for (size_t i = 0; i < n; i++) pg_tpl_rt_push(rt, out, pg_jv_list_at(l, i));
    return out;
}

pg_jv pg_tpl_arg(const pg_tpl_args *a, size_t i, const char *name, pg_jv dflt, int *found) {
    if (found) *found = 1;
    if (i < a->npos) return a->pos[i];
    if (name)
        for (size_t k = 0; k < a->nkw; k++)
            if (strcmp(a->kwn[k], name) == 0) return a->kwv[k];
    if (found) *found = 0;
    return dflt;
}

void pg_tpl_args_check(pg_tpl_rt *rt, const pg_tpl_args *a, size_t max_pos, const char *const *names,
                       const char *fname) {
    if (a->npos > max_pos)
        pg_tpl_rt_fail(rt, PG_EINVAL, "%s() takes at most %zu positional arguments (%zu given)", fname, max_pos,
                       a->npos);
    for (size_t k = 0; k < a->nkw; k++) {
        int ok = 0;
        size_t idx = 0;
        for (const char *const *n = names; n && *n; n++, idx++)
            if (strcmp(*n, a->kwn[k]) == 0) {
                ok = 1;
                if (idx < a->npos)
                    pg_tpl_rt_fail(rt, PG_EINVAL, "%s() got multiple values for argument '%s'", fname, *n);
            }
        if (!ok) pg_tpl_rt_fail(rt, PG_EINVAL, "%s() got an unexpected keyword argument '%s'", fname, a->kwn[k]);
    }
}
