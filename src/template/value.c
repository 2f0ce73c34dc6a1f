/* value.c - pg_jv containers and Python-compatible printing.
 *
 * Lists are arena arrays that double on growth (the old array is left in
 * the arena). Dicts keep parallel key/value arrays in insertion order plus,
 * once they pass 8 entries, an open-addressing index of uint32 slots
 * (entry index + 1; 0 = empty) so building big dicts in a loop is not
 * quadratic. Keys are hashed after Python's numeric normalisation
 * (True == 1 == 1.0 hash alike). Printing writes into pg_jv_buf, a
 * length-capped arena buffer; every recursive walk carries a depth and
 * stops at PG_JV_MAX_DEPTH so hostile nesting cannot blow the C stack. */
#include "template/value.h"

#include "base/error.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PG_JV_MAX_DEPTH 512

/* kind of a PG_JV_LIST (the `tuple` field) */
enum { LK_LIST = 0, LK_TUPLE = 1, LK_GEN = 2 };

struct pg_jv_list {
    pg_jv *items;
    size_t len, cap;
    int tuple; /* LK_* */
};

struct pg_jv_dict {
    pg_jv *keys, *vals;
    size_t len, cap;
    uint32_t *index; /* NULL until len > 8 */
    size_t index_cap; /* power of two */
};

pg_jv pg_jv_undefined(void) {
    pg_jv v;
    memset(&v, 0, sizeof v);
    v.type = PG_JV_UNDEFINED;
    return v;
}
pg_jv pg_jv_none(void) {
    pg_jv v = pg_jv_undefined();
    v.type = PG_JV_NONE;
    return v;
}
pg_jv pg_jv_bool(int b) {
    pg_jv v = pg_jv_undefined();
    v.type = PG_JV_BOOL;
    v.u.b = b ? 1 : 0;
    return v;
}
pg_jv pg_jv_int(int64_t i) {
    pg_jv v = pg_jv_undefined();
    v.type = PG_JV_INT;
    v.u.i = i;
    return v;
}
pg_jv pg_jv_float(double f) {
    pg_jv v = pg_jv_undefined();
    v.type = PG_JV_FLOAT;
    v.u.f = f;
    return v;
}
pg_jv pg_jv_str_ref(const char *s, size_t n) {
    pg_jv v = pg_jv_undefined();
    v.type = PG_JV_STRING;
    v.u.s.p = n ? s : "";
    v.u.s.n = n;
    return v;
}
pg_jv pg_jv_str(pg_arena *a, const char *s, size_t n) {
    if (n == 0) return pg_jv_str_ref("", 0);
    char *p = pg_arena_alloc(a, n);
    if (!p) return pg_jv_undefined();
    memcpy(p, s, n);
    return pg_jv_str_ref(p, n);
}
pg_jv pg_jv_cstr(pg_arena *a, const char *s) { return pg_jv_str(a, s, strlen(s)); }

/* ---------------------------------------------------------------- lists */

static pg_jv list_make(pg_arena *a, size_t cap, int tuple) {
    pg_jv_list *l = pg_arena_calloc(a, 1, sizeof *l);
    if (!l) return pg_jv_undefined();
    if (cap) {
        size_t bytes;
        if (pg_mul_size(cap, sizeof(pg_jv), &bytes)) return pg_jv_undefined();
        l->items = pg_arena_alloc(a, bytes); /* slots past len are never read */
        if (!l->items) return pg_jv_undefined();
        l->cap = cap;
    }
    l->tuple = tuple;
    pg_jv v = pg_jv_undefined();
    v.type = PG_JV_LIST;
    v.u.l = l;
    return v;
}
pg_jv pg_jv_list_new(pg_arena *a, size_t cap_hint) { return list_make(a, cap_hint, 0); }
pg_jv pg_jv_tuple_new(pg_arena *a, size_t cap_hint) { return list_make(a, cap_hint, LK_TUPLE); }
pg_jv pg_jv_as_generator(pg_jv list) {
    if (list.type == PG_JV_LIST) list.u.l->tuple = LK_GEN;
    return list;
}

static int list_reserve(pg_arena *a, pg_jv_list *l, size_t need) {
    if (need <= l->cap) return PG_OK;
    size_t nc = l->cap ? l->cap * 2 : 4;
    while (nc < need) nc *= 2;
    size_t bytes;
    if (pg_mul_size(nc, sizeof(pg_jv), &bytes)) return PG_ENOMEM;
    pg_jv *n = pg_arena_alloc(a, bytes);
    if (!n) return PG_ENOMEM;
    if (l->len) memcpy(n, l->items, l->len * sizeof(pg_jv));
    l->items = n;
    l->cap = nc;
    return PG_OK;
}

int pg_jv_list_push(pg_arena *a, pg_jv list, pg_jv item) {
    PG_ASSERT(list.type == PG_JV_LIST);
    pg_jv_list *l = list.u.l;
    if (list_reserve(a, l, l->len + 1)) return PG_ENOMEM;
    l->items[l->len++] = item;
    return PG_OK;
}
int pg_jv_list_insert(pg_arena *a, pg_jv list, size_t i, pg_jv item) {
    PG_ASSERT(list.type == PG_JV_LIST);
    pg_jv_list *l = list.u.l;
    if (i > l->len) i = l->len;
    if (list_reserve(a, l, l->len + 1)) return PG_ENOMEM;
    memmove(l->items + i + 1, l->items + i, (l->len - i) * sizeof(pg_jv));
    l->items[i] = item;
    l->len++;
    return PG_OK;
}
size_t pg_jv_list_len(pg_jv list) { return list.type == PG_JV_LIST ? list.u.l->len : 0; }
pg_jv pg_jv_list_at(pg_jv list, size_t i) {
    PG_ASSERT(list.type == PG_JV_LIST && i < list.u.l->len);
    return list.u.l->items[i];
}
pg_jv *pg_jv_list_items(pg_jv list) { return list.u.l->items; }
int pg_jv_list_is_tuple(pg_jv list) { return list.type == PG_JV_LIST && list.u.l->tuple == LK_TUPLE; }
int pg_jv_list_is_gen(pg_jv list) { return list.type == PG_JV_LIST && list.u.l->tuple == LK_GEN; }
void pg_jv_list_remove(pg_jv list, size_t i) {
    pg_jv_list *l = list.u.l;
    PG_ASSERT(i < l->len);
    memmove(l->items + i, l->items + i + 1, (l->len - i - 1) * sizeof(pg_jv));
    l->len--;
}

/* ---------------------------------------------------------------- dicts */

static pg_jv dict_make(pg_arena *a, int ns) {
    pg_jv_dict *d = pg_arena_calloc(a, 1, sizeof *d);
    if (!d) return pg_jv_undefined();
    pg_jv v = pg_jv_undefined();
    v.type = ns ? PG_JV_NAMESPACE : PG_JV_DICT;
    v.u.d = d;
    return v;
}
pg_jv pg_jv_dict_new(pg_arena *a) { return dict_make(a, 0); }
pg_jv pg_jv_namespace_new(pg_arena *a) { return dict_make(a, 1); }

static int key_ok(pg_jv k) {
    return k.type == PG_JV_STRING || k.type == PG_JV_INT || k.type == PG_JV_FLOAT ||
           k.type == PG_JV_BOOL || k.type == PG_JV_NONE;
}

static uint64_t mix64(uint64_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}

static uint64_t key_hash(pg_jv k) {
    switch (k.type) {
    case PG_JV_STRING: {
        uint64_t h = 1469598103934665603ULL;
        for (size_t i = 0; i < k.u.s.n; i++) h = (h ^ (unsigned char)k.u.s.p[i]) * 1099511628211ULL;
        return h;
    }
    case PG_JV_BOOL: return mix64((uint64_t)k.u.b);
    case PG_JV_INT: return mix64((uint64_t)k.u.i);
    case PG_JV_FLOAT: {
        double f = k.u.f;
        if (f == floor(f) && fabs(f) < 9.2e18) return mix64((uint64_t)(int64_t)f);
        uint64_t bits;
        memcpy(&bits, &f, sizeof bits);
        return mix64(bits);
    }
    default: return 0x9e3779b97f4a7c15ULL;
    }
}

static int dict_find(const pg_jv_dict *d, pg_jv key, size_t *pos) {
    if (d->index) {
        size_t mask = d->index_cap - 1;
        for (size_t s = key_hash(key) & mask;; s = (s + 1) & mask) {
            uint32_t e = d->index[s];
            if (!e) return 0;
            if (pg_jv_equal(d->keys[e - 1], key)) {
                *pos = e - 1;
                return 1;
            }
        }
    }
    for (size_t i = 0; i < d->len; i++)
        if (pg_jv_equal(d->keys[i], key)) {
            *pos = i;
            return 1;
        }
    return 0;
}

static int dict_reindex(pg_arena *a, pg_jv_dict *d) {
    if (d->len <= 8) {
        d->index = NULL;
        d->index_cap = 0;
        return PG_OK;
    }
    size_t cap = 16;
    while (cap < d->len * 2) cap *= 2;
    if (cap != d->index_cap || !d->index) {
        uint32_t *ix = pg_arena_calloc(a, cap, sizeof(uint32_t));
        if (!ix) return PG_ENOMEM;
        d->index = ix;
        d->index_cap = cap;
    } else {
        memset(d->index, 0, cap * sizeof(uint32_t));
    }
    size_t mask = cap - 1;
    for (size_t i = 0; i < d->len; i++) {
        size_t s = key_hash(d->keys[i]) & mask;
        while (d->index[s]) s = (s + 1) & mask;
        d->index[s] = (uint32_t)(i + 1);
    }
    return PG_OK;
}

int pg_jv_dict_set(pg_arena *a, pg_jv dict, pg_jv key, pg_jv val) {
    PG_ASSERT(dict.type == PG_JV_DICT || dict.type == PG_JV_NAMESPACE);
    if (!key_ok(key)) return PG_EINVAL;
    pg_jv_dict *d = dict.u.d;
    size_t pos;
    if (dict_find(d, key, &pos)) {
        d->vals[pos] = val;
        return PG_OK;
    }
    if (d->len >= UINT32_MAX - 1) return PG_ENOMEM;
    if (d->len == d->cap) {
        size_t nc = d->cap ? d->cap * 2 : 4;
        pg_jv *nk = pg_arena_alloc(a, nc * sizeof(pg_jv));
        pg_jv *nv = pg_arena_alloc(a, nc * sizeof(pg_jv));
        if (!nk || !nv) return PG_ENOMEM;
        if (d->len) {
            memcpy(nk, d->keys, d->len * sizeof(pg_jv));
            memcpy(nv, d->vals, d->len * sizeof(pg_jv));
        }
        d->keys = nk;
        d->vals = nv;
        d->cap = nc;
    }
    d->keys[d->len] = key;
    d->vals[d->len] = val;
    d->len++;
    if (d->len > 8) {
        if (!d->index || d->len * 2 > d->index_cap) return dict_reindex(a, d);
        size_t mask = d->index_cap - 1;
        size_t s = key_hash(key) & mask;
        while (d->index[s]) s = (s + 1) & mask;
        d->index[s] = (uint32_t)d->len;
    }
    return PG_OK;
}

int pg_jv_dict_set_str(pg_arena *a, pg_jv dict, const char *key, pg_jv val) {
    pg_jv k = pg_jv_cstr(a, key);
    if (k.type != PG_JV_STRING) return PG_ENOMEM;
    return pg_jv_dict_set(a, dict, k, val);
}

int pg_jv_dict_get(pg_jv dict, pg_jv key, pg_jv *val) {
    if (dict.type != PG_JV_DICT && dict.type != PG_JV_NAMESPACE) return 0;
    if (!key_ok(key)) return 0;
    size_t pos;
    if (!dict_find(dict.u.d, key, &pos)) return 0;
    if (val) *val = dict.u.d->vals[pos];
    return 1;
}

int pg_jv_dict_get_str(pg_jv dict, const char *key, size_t klen, pg_jv *val) {
    return pg_jv_dict_get(dict, pg_jv_str_ref(key, klen), val);
}

int pg_jv_dict_del(pg_jv dict, pg_jv key) {
    if (dict.type != PG_JV_DICT && dict.type != PG_JV_NAMESPACE) return 0;
    pg_jv_dict *d = dict.u.d;
    size_t pos;
    if (!key_ok(key) || !dict_find(d, key, &pos)) return 0;
    memmove(d->keys + pos, d->keys + pos + 1, (d->len - pos - 1) * sizeof(pg_jv));
    memmove(d->vals + pos, d->vals + pos + 1, (d->len - pos - 1) * sizeof(pg_jv));
    d->len--;
    if (d->index) {
        /* rebuild in place (same capacity is still big enough) */
        size_t mask = d->index_cap - 1;
        memset(d->index, 0, d->index_cap * sizeof(uint32_t));
        for (size_t i = 0; i < d->len; i++) {
            size_t s = key_hash(d->keys[i]) & mask;
            while (d->index[s]) s = (s + 1) & mask;
            d->index[s] = (uint32_t)(i + 1);
        }
    }
    return 1;
}

size_t pg_jv_dict_len(pg_jv dict) {
    return (dict.type == PG_JV_DICT || dict.type == PG_JV_NAMESPACE) ? dict.u.d->len : 0;
}
pg_jv pg_jv_dict_key_at(pg_jv dict, size_t i) {
    PG_ASSERT(i < dict.u.d->len);
    return dict.u.d->keys[i];
}
pg_jv pg_jv_dict_val_at(pg_jv dict, size_t i) {
    PG_ASSERT(i < dict.u.d->len);
    return dict.u.d->vals[i];
}

/* ------------------------------------------------------------ semantics */

int pg_jv_truthy(pg_jv v) {
    switch (v.type) {
    case PG_JV_UNDEFINED:
    case PG_JV_NONE: return 0;
    case PG_JV_BOOL: return v.u.b;
    case PG_JV_INT: return v.u.i != 0;
    case PG_JV_FLOAT: return v.u.f != 0.0;
    case PG_JV_STRING: return v.u.s.n != 0;
    case PG_JV_LIST: return v.u.l->len != 0 || v.u.l->tuple == LK_GEN; /* a generator is always true */
    case PG_JV_DICT: return v.u.d->len != 0;
    default: return 1;
    }
}

int pg_jv_is_str(pg_jv v) { return v.type == PG_JV_STRING; }
int pg_jv_is_number(pg_jv v) {
    return v.type == PG_JV_INT || v.type == PG_JV_FLOAT || v.type == PG_JV_BOOL;
}
double pg_jv_as_double(pg_jv v) {
    switch (v.type) {
    case PG_JV_BOOL: return v.u.b;
    case PG_JV_INT: return (double)v.u.i;
    case PG_JV_FLOAT: return v.u.f;
    default: return 0.0;
    }
}

static int num_eq(pg_jv a, pg_jv b) {
    if (a.type != PG_JV_FLOAT && b.type != PG_JV_FLOAT) {
        int64_t x = a.type == PG_JV_BOOL ? a.u.b : a.u.i;
        int64_t y = b.type == PG_JV_BOOL ? b.u.b : b.u.i;
        return x == y;
    }
    return pg_jv_as_double(a) == pg_jv_as_double(b);
}

static int equal_d(pg_jv a, pg_jv b, int depth) {
    if (depth > PG_JV_MAX_DEPTH) return 0;
    if (pg_jv_is_number(a) && pg_jv_is_number(b)) return num_eq(a, b);
    if (a.type != b.type) return 0;
    switch (a.type) {
    case PG_JV_UNDEFINED:
    case PG_JV_NONE: return 1;
    case PG_JV_STRING: return a.u.s.n == b.u.s.n && memcmp(a.u.s.p, b.u.s.p, a.u.s.n) == 0;
    case PG_JV_LIST: {
        if (a.u.l == b.u.l) return 1;
        if (a.u.l->tuple == LK_GEN) return 0; /* generators compare by identity */
        if (a.u.l->len != b.u.l->len || a.u.l->tuple != b.u.l->tuple) return 0;
        for (size_t i = 0; i < a.u.l->len; i++)
            if (!equal_d(a.u.l->items[i], b.u.l->items[i], depth + 1)) return 0;
        return 1;
    }
    case PG_JV_DICT: {
        if (a.u.d == b.u.d) return 1;
        if (a.u.d->len != b.u.d->len) return 0;
        for (size_t i = 0; i < a.u.d->len; i++) {
            size_t pos;
            if (!dict_find(b.u.d, a.u.d->keys[i], &pos)) return 0;
            if (!equal_d(a.u.d->vals[i], b.u.d->vals[pos], depth + 1)) return 0;
        }
        return 1;
    }
    default: return a.u.ptr == b.u.ptr;
    }
}

int pg_jv_equal(pg_jv a, pg_jv b) { return equal_d(a, b, 0); }

static int compare_d(pg_jv a, pg_jv b, int *cmp, int depth) {
    if (depth > PG_JV_MAX_DEPTH) return PG_ELIMIT;
    if (pg_jv_is_number(a) && pg_jv_is_number(b)) {
        if (a.type != PG_JV_FLOAT && b.type != PG_JV_FLOAT) {
            int64_t x = a.type == PG_JV_BOOL ? a.u.b : a.u.i;
            int64_t y = b.type == PG_JV_BOOL ? b.u.b : b.u.i;
            *cmp = x < y ? -1 : x > y;
        } else {
            double x = pg_jv_as_double(a), y = pg_jv_as_double(b);
            *cmp = x < y ? -1 : x > y;
        }
        return PG_OK;
    }
    if (a.type == PG_JV_STRING && b.type == PG_JV_STRING) {
        size_t n = a.u.s.n < b.u.s.n ? a.u.s.n : b.u.s.n;
        int c = n ? memcmp(a.u.s.p, b.u.s.p, n) : 0;
        if (c == 0) c = a.u.s.n < b.u.s.n ? -1 : a.u.s.n > b.u.s.n;
        *cmp = c < 0 ? -1 : c > 0;
        return PG_OK;
    }
    if (a.type == PG_JV_LIST && b.type == PG_JV_LIST) {
        size_t n = a.u.l->len < b.u.l->len ? a.u.l->len : b.u.l->len;
        for (size_t i = 0; i < n; i++) {
            pg_jv x = a.u.l->items[i], y = b.u.l->items[i];
            if (equal_d(x, y, depth + 1)) continue;
            return compare_d(x, y, cmp, depth + 1);
        }
        *cmp = a.u.l->len < b.u.l->len ? -1 : a.u.l->len > b.u.l->len;
        return PG_OK;
    }
    return PG_EINVAL;
}

int pg_jv_compare(pg_jv a, pg_jv b, int *cmp) { return compare_d(a, b, cmp, 0); }

const char *pg_jv_type_name(pg_jv v) {
    switch (v.type) {
    case PG_JV_UNDEFINED: return "Undefined";
    case PG_JV_NONE: return "NoneType";
    case PG_JV_BOOL: return "bool";
    case PG_JV_INT: return "int";
    case PG_JV_FLOAT: return "float";
    case PG_JV_STRING: return "str";
    case PG_JV_LIST: return v.u.l->tuple == LK_GEN ? "generator" : v.u.l->tuple ? "tuple" : "list";
    case PG_JV_DICT: return "dict";
    case PG_JV_NAMESPACE: return "Namespace";
    case PG_JV_MACRO: return "Macro";
    case PG_JV_FUNC: return "function";
    case PG_JV_LOOP: return "LoopContext";
    }
    return "object";
}

size_t pg_jv_utf8_len(const char *s, size_t n) {
    size_t c = 0;
    for (size_t i = 0; i < n; i++)
        if (((unsigned char)s[i] & 0xC0) != 0x80) c++;
    return c;
}

/* -------------------------------------------------------------- buffers */

void pg_jv_buf_init(pg_jv_buf *b, pg_arena *a, size_t max) {
    memset(b, 0, sizeof *b);
    b->arena = a;
    b->max = max;
}

static int buf_reserve(pg_jv_buf *b, size_t extra) {
    if (b->err) return -1;
    size_t need;
    if (pg_add_size(b->len, extra, &need) || need > b->max) {
        b->err = PG_ELIMIT;
        return -1;
    }
    if (need <= b->cap) return 0;
    size_t nc = b->cap ? b->cap : 64;
    while (nc < need) nc = nc > SIZE_MAX / 2 ? need : nc * 2;
    if (nc > b->max) nc = b->max > need ? b->max : need;
    char *n = pg_arena_alloc(b->arena, nc);
    if (!n) {
        b->err = PG_ENOMEM;
        return -1;
    }
    if (b->len) memcpy(n, b->p, b->len);
    b->p = n;
    b->cap = nc;
    return 0;
}

void pg_jv_buf_put(pg_jv_buf *b, const char *s, size_t n) {
    if (!n || buf_reserve(b, n)) return;
    memcpy(b->p + b->len, s, n);
    b->len += n;
}
void pg_jv_buf_putc(pg_jv_buf *b, char c) { pg_jv_buf_put(b, &c, 1); }
void pg_jv_buf_printf(pg_jv_buf *b, const char *fmt, ...) {
    char tmp[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if ((size_t)n < sizeof tmp) {
        pg_jv_buf_put(b, tmp, (size_t)n);
        return;
    }
    if (buf_reserve(b, (size_t)n + 1)) return;
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

/* ------------------------------------------------------------- printing */

size_t pg_jv_format_float(double f, char *out) {
    if (isnan(f)) return (size_t)sprintf(out, "nan");
    if (isinf(f)) return (size_t)sprintf(out, f < 0 ? "-inf" : "inf");
    /* shortest round-trip digits */
    char sci[40];
    int prec;
    for (prec = 0; prec < 17; prec++) {
        snprintf(sci, sizeof sci, "%.*e", prec, f);
        if (strtod(sci, NULL) == f) break;
    }
    if (prec == 17) snprintf(sci, sizeof sci, "%.16e", f);
    /* sci = [-]D[.DDD]e(+|-)XX */
    const char *p = sci;
    int neg = 0;
    if (*p == '-') {
        neg = 1;
        p++;
    }
    char digits[24];
    int nd = 0;
    while (*p && *p != 'e') {
        if (*p != '.' && nd < 23) digits[nd++] = *p;
        p++;
    }
    int exp10 = *p == 'e' ? atoi(p + 1) : 0;
    while (nd > 1 && digits[nd - 1] == '0') nd--;
    digits[nd] = 0;
    size_t o = 0;
    if (neg) out[o++] = '-';
    if (exp10 >= -4 && exp10 < 16) {
        if (exp10 >= 0) {
            for (int i = 0; i <= exp10; i++) out[o++] = i < nd ? digits[i] : '0';
            out[o++] = '.';
            if (nd > exp10 + 1)
                for (int i = exp10 + 1; i < nd; i++) out[o++] = digits[i];
            else
                out[o++] = '0';
        } else {
            out[o++] = '0';
            out[o++] = '.';
            for (int i = 0; i < -exp10 - 1; i++) out[o++] = '0';
            for (int i = 0; i < nd; i++) out[o++] = digits[i];
        }
    } else {
        out[o++] = digits[0];
        if (nd > 1) {
            out[o++] = '.';
            for (int i = 1; i < nd; i++) out[o++] = digits[i];
        }
        o += (size_t)sprintf(out + o, "e%c%02d", exp10 < 0 ? '-' : '+', exp10 < 0 ? -exp10 : exp10);
    }
    out[o] = 0;
    return o;
}

/* Decode one UTF-8 code point at s[i] (lenient: a bad byte is itself). */
static uint32_t utf8_next(const char *s, size_t n, size_t *i) {
    const unsigned char *u = (const unsigned char *)s;
    uint32_t c = u[*i];
    size_t k = 0;
    if (c < 0x80) {
        (*i)++;
        return c;
    }
    if (c >= 0xF0 && c < 0xF8) {
        k = 3;
        c &= 0x07;
    } else if (c >= 0xE0 && c < 0xF0) {
        k = 2;
        c &= 0x0F;
    } else if (c >= 0xC0 && c < 0xE0) {
        k = 1;
        c &= 0x1F;
    }
    if (k == 0 || *i + k >= n) { /* stray or truncated byte: itself */
        (*i)++;
        return u[*i - 1];
    }
    for (size_t j = 1; j <= k; j++) {
        if ((u[*i + j] & 0xC0) != 0x80) {
            (*i)++;
            return u[*i - 1];
        }
        c = (c << 6) | (u[*i + j] & 0x3F);
    }
    *i += k + 1;
    return c;
}

static void write_py_str_repr(pg_jv_buf *b, const char *s, size_t n) {
    int has_sq = memchr(s, '\'', n) != NULL, has_dq = memchr(s, '"', n) != NULL;
    char q = (has_sq && !has_dq) ? '"' : '\'';
    pg_jv_buf_putc(b, q);
    size_t i = 0;
    while (i < n) {
        size_t start = i;
        uint32_t c = utf8_next(s, n, &i);
        if (c == (uint32_t)q || c == '\\') {
            pg_jv_buf_putc(b, '\\');
            pg_jv_buf_putc(b, (char)c);
        } else if (c == '\n') {
            pg_jv_buf_put(b, "\\n", 2);
        } else if (c == '\r') {
            pg_jv_buf_put(b, "\\r", 2);
        } else if (c == '\t') {
            pg_jv_buf_put(b, "\\t", 2);
        } else if (c < 0x20 || c == 0x7f || (c >= 0x80 && c <= 0xa0) || c == 0xad) {
            pg_jv_buf_printf(b, "\\x%02x", c);
        } else {
            pg_jv_buf_put(b, s + start, i - start);
        }
    }
    pg_jv_buf_putc(b, q);
}

static void write_repr_d(pg_jv_buf *b, pg_jv v, int depth);

static void write_str_d(pg_jv_buf *b, pg_jv v, int depth) {
    char tmp[40];
    switch (v.type) {
    case PG_JV_UNDEFINED: return;
    case PG_JV_NONE: pg_jv_buf_put(b, "None", 4); return;
    case PG_JV_BOOL: v.u.b ? pg_jv_buf_put(b, "True", 4) : pg_jv_buf_put(b, "False", 5); return;
    case PG_JV_INT: pg_jv_buf_printf(b, "%lld", (long long)v.u.i); return;
    case PG_JV_FLOAT: pg_jv_buf_put(b, tmp, pg_jv_format_float(v.u.f, tmp)); return;
    case PG_JV_STRING: pg_jv_buf_put(b, v.u.s.p, v.u.s.n); return;
    default: write_repr_d(b, v, depth); return;
    }
}

static void write_repr_d(pg_jv_buf *b, pg_jv v, int depth) {
    if (b->err) return;
    if (depth > PG_JV_MAX_DEPTH) {
        b->err = PG_ELIMIT;
        return;
    }
    switch (v.type) {
    case PG_JV_UNDEFINED: pg_jv_buf_put(b, "Undefined", 9); return;
    case PG_JV_STRING: write_py_str_repr(b, v.u.s.p, v.u.s.n); return;
    case PG_JV_LIST: {
        pg_jv_list *l = v.u.l;
        if (l->tuple == LK_GEN) {
            pg_jv_buf_put(b, "<generator object>", 18);
            return;
        }
        pg_jv_buf_putc(b, l->tuple ? '(' : '[');
        for (size_t i = 0; i < l->len && !b->err; i++) {
            if (i) pg_jv_buf_put(b, ", ", 2);
            write_repr_d(b, l->items[i], depth + 1);
        }
        if (l->tuple && l->len == 1) pg_jv_buf_putc(b, ',');
        pg_jv_buf_putc(b, l->tuple ? ')' : ']');
        return;
    }
    case PG_JV_NAMESPACE:
    case PG_JV_DICT: {
        pg_jv_dict *d = v.u.d;
        if (v.type == PG_JV_NAMESPACE) pg_jv_buf_put(b, "<Namespace ", 11);
        pg_jv_buf_putc(b, '{');
        for (size_t i = 0; i < d->len && !b->err; i++) {
            if (i) pg_jv_buf_put(b, ", ", 2);
            write_repr_d(b, d->keys[i], depth + 1);
            pg_jv_buf_put(b, ": ", 2);
            write_repr_d(b, d->vals[i], depth + 1);
        }
        pg_jv_buf_putc(b, '}');
        if (v.type == PG_JV_NAMESPACE) pg_jv_buf_putc(b, '>');
        return;
    }
    case PG_JV_MACRO: pg_jv_buf_put(b, "<Macro>", 7); return;
    case PG_JV_FUNC: pg_jv_buf_put(b, "<function>", 10); return;
    case PG_JV_LOOP: pg_jv_buf_put(b, "<LoopContext>", 13); return;
    default: write_str_d(b, v, depth); return;
    }
}

void pg_jv_write_str(pg_jv_buf *b, pg_jv v) { write_str_d(b, v, 0); }
void pg_jv_write_repr(pg_jv_buf *b, pg_jv v) { write_repr_d(b, v, 0); }

static void json_str(pg_jv_buf *b, const char *s, size_t n, int ensure_ascii) {
    pg_jv_buf_putc(b, '"');
    size_t i = 0;
    while (i < n && !b->err) {
        size_t start = i;
        unsigned char ch = (unsigned char)s[i];
        if (ch < 0x80) {
            i++;
            switch (ch) {
            case '"': pg_jv_buf_put(b, "\\\"", 2); break;
            case '\\': pg_jv_buf_put(b, "\\\\", 2); break;
            case '\n': pg_jv_buf_put(b, "\\n", 2); break;
            case '\r': pg_jv_buf_put(b, "\\r", 2); break;
            case '\t': pg_jv_buf_put(b, "\\t", 2); break;
            case '\b': pg_jv_buf_put(b, "\\b", 2); break;
            case '\f': pg_jv_buf_put(b, "\\f", 2); break;
            default:
                if (ch < 0x20)
                    pg_jv_buf_printf(b, "\\u%04x", ch);
                else
                    pg_jv_buf_putc(b, (char)ch);
            }
            continue;
        }
        uint32_t c = utf8_next(s, n, &i);
        if (!ensure_ascii) {
            pg_jv_buf_put(b, s + start, i - start);
        } else if (c >= 0x10000) {
            uint32_t v = c - 0x10000;
            pg_jv_buf_printf(b, "\\u%04x\\u%04x", 0xD800 + (v >> 10), 0xDC00 + (v & 0x3FF));
        } else {
            pg_jv_buf_printf(b, "\\u%04x", c);
        }
    }
    pg_jv_buf_putc(b, '"');
}

static void json_newline(pg_jv_buf *b, const pg_jv_json_opts *o, int level) {
    pg_jv_buf_putc(b, '\n');
    for (int i = 0; i < level && !b->err; i++) {
        if (o->indent_str)
            pg_jv_buf_put(b, o->indent_str, strlen(o->indent_str));
        else
            for (int k = 0; k < o->indent; k++) pg_jv_buf_putc(b, ' ');
    }
}

static int json_pretty(const pg_jv_json_opts *o) { return o->indent_str || o->indent >= 0; }

static void json_key(pg_jv_buf *b, pg_jv k, const pg_jv_json_opts *o) {
    char tmp[40];
    switch (k.type) {
    case PG_JV_STRING: json_str(b, k.u.s.p, k.u.s.n, o->ensure_ascii); return;
    case PG_JV_INT: pg_jv_buf_printf(b, "\"%lld\"", (long long)k.u.i); return;
    case PG_JV_BOOL: pg_jv_buf_put(b, k.u.b ? "\"true\"" : "\"false\"", k.u.b ? 6 : 7); return;
    case PG_JV_NONE: pg_jv_buf_put(b, "\"null\"", 6); return;
    case PG_JV_FLOAT: {
        size_t n = pg_jv_format_float(k.u.f, tmp);
        pg_jv_buf_putc(b, '"');
        pg_jv_buf_put(b, tmp, n);
        pg_jv_buf_putc(b, '"');
        return;
    }
    default:
        b->err = PG_EINVAL;
        b->bad_type = pg_jv_type_name(k);
        return;
    }
}

static int key_less(pg_jv a, pg_jv b) {
    int c = 0;
    if (pg_jv_compare(a, b, &c) != PG_OK) return 0;
    return c < 0;
}

static void json_d(pg_jv_buf *b, pg_jv v, const pg_jv_json_opts *o, int depth) {
    char tmp[40];
    if (b->err) return;
    if (depth > PG_JV_MAX_DEPTH) {
        b->err = PG_ELIMIT;
        return;
    }
    const char *isep = o->item_sep ? o->item_sep : (json_pretty(o) ? "," : ", ");
    const char *ksep = o->key_sep ? o->key_sep : ": ";
    switch (v.type) {
    case PG_JV_NONE: pg_jv_buf_put(b, "null", 4); return;
    case PG_JV_BOOL: pg_jv_buf_put(b, v.u.b ? "true" : "false", v.u.b ? 4 : 5); return;
    case PG_JV_INT: pg_jv_buf_printf(b, "%lld", (long long)v.u.i); return;
    case PG_JV_FLOAT:
        if (isnan(v.u.f))
            pg_jv_buf_put(b, "NaN", 3);
        else if (isinf(v.u.f))
            v.u.f < 0 ? pg_jv_buf_put(b, "-Infinity", 9) : pg_jv_buf_put(b, "Infinity", 8);
        else
            pg_jv_buf_put(b, tmp, pg_jv_format_float(v.u.f, tmp));
        return;
    case PG_JV_STRING: json_str(b, v.u.s.p, v.u.s.n, o->ensure_ascii); return;
    case PG_JV_LIST: {
        pg_jv_list *l = v.u.l;
        if (l->tuple == LK_GEN) {
            b->err = PG_EINVAL;
            b->bad_type = "generator";
            return;
        }
        if (!l->len) {
            pg_jv_buf_put(b, "[]", 2);
            return;
        }
        pg_jv_buf_putc(b, '[');
        for (size_t i = 0; i < l->len && !b->err; i++) {
            if (i) pg_jv_buf_put(b, isep, strlen(isep));
            if (json_pretty(o)) json_newline(b, o, depth + 1);
            json_d(b, l->items[i], o, depth + 1);
        }
        if (json_pretty(o)) json_newline(b, o, depth);
        pg_jv_buf_putc(b, ']');
        return;
    }
    case PG_JV_DICT: {
        pg_jv_dict *d = v.u.d;
        if (!d->len) {
            pg_jv_buf_put(b, "{}", 2);
            return;
        }
        /* order: insertion, or sorted by key (insertion sort on an index
         * array; a dict printed with sort_keys is small in practice, and
         * the caller's work budget bounds the rest) */
        size_t *ord = pg_arena_calloc(b->arena, d->len, sizeof(size_t));
        if (!ord) {
            b->err = PG_ENOMEM;
            return;
        }
        for (size_t i = 0; i < d->len; i++) ord[i] = i;
        if (o->sort_keys) {
            for (size_t i = 1; i < d->len; i++) {
                size_t x = ord[i], j = i;
                while (j > 0 && key_less(d->keys[x], d->keys[ord[j - 1]])) {
                    ord[j] = ord[j - 1];
                    j--;
                }
                ord[j] = x;
            }
        }
        pg_jv_buf_putc(b, '{');
        for (size_t i = 0; i < d->len && !b->err; i++) {
            if (i) pg_jv_buf_put(b, isep, strlen(isep));
            if (json_pretty(o)) json_newline(b, o, depth + 1);
            json_key(b, d->keys[ord[i]], o);
            pg_jv_buf_put(b, ksep, strlen(ksep));
            json_d(b, d->vals[ord[i]], o, depth + 1);
        }
        if (json_pretty(o)) json_newline(b, o, depth);
        pg_jv_buf_putc(b, '}');
        return;
    }
    default:
        /* Not JSON serializable: report the type through the buffer. */
        b->err = PG_EINVAL;
        b->bad_type = pg_jv_type_name(v);
        return;
    }
}

void pg_jv_write_json(pg_jv_buf *b, pg_jv v, const pg_jv_json_opts *o) {
    pg_jv_json_opts def = {0, -1, NULL, NULL, NULL, 0};
    json_d(b, v, o ? o : &def, 0);
}

static int copy_d(pg_arena *a, pg_jv v, pg_jv *out, int depth) {
    if (depth > PG_JV_MAX_DEPTH) return PG_ELIMIT;
    switch (v.type) {
    case PG_JV_STRING:
        *out = pg_jv_str(a, v.u.s.p, v.u.s.n);
        return out->type == PG_JV_STRING ? PG_OK : PG_ENOMEM;
    case PG_JV_LIST: {
        pg_jv l = list_make(a, v.u.l->len, v.u.l->tuple);
        if (l.type != PG_JV_LIST) return PG_ENOMEM;
        for (size_t i = 0; i < v.u.l->len; i++) {
            pg_jv x;
            int rc = copy_d(a, v.u.l->items[i], &x, depth + 1);
            if (rc) return rc;
            l.u.l->items[l.u.l->len++] = x;
        }
        *out = l;
        return PG_OK;
    }
    case PG_JV_DICT:
    case PG_JV_NAMESPACE: {
        pg_jv d = dict_make(a, v.type == PG_JV_NAMESPACE);
        if (d.type != v.type) return PG_ENOMEM;
        for (size_t i = 0; i < v.u.d->len; i++) {
            pg_jv k, x;
            int rc = copy_d(a, v.u.d->keys[i], &k, depth + 1);
            if (!rc) rc = copy_d(a, v.u.d->vals[i], &x, depth + 1);
            if (!rc) rc = pg_jv_dict_set(a, d, k, x);
            if (rc) return rc;
        }
        *out = d;
        return PG_OK;
    }
    default: *out = v; return PG_OK;
    }
}

int pg_jv_deep_copy(pg_arena *a, pg_jv v, pg_jv *out) { return copy_d(a, v, out, 0); }
