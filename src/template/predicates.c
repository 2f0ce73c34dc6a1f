/* predicates.c - Jinja tests as a table of small functions.
 *
 * TESTS(X) (names.h) lists the test names in table order; each name n has a static
 * function t_n (aliases are #defines to another test's function), so an
 * id is an index into the table and applying a test is one indirect call.
 * Type tests follow Python's types as Jinja2 3.1 checks them. */
#include "template/predicates.h"

#include "template/names.h"
#include "template/tstr.h"

#include <string.h>

#define FAIL(...) pg_tpl_rt_fail(rt, PG_EINVAL, __VA_ARGS__)

typedef int (*test_fn)(pg_tpl_rt *rt, pg_jv v, pg_jv x);

#define TEST(name) static int t_##name(pg_tpl_rt *rt, pg_jv v, pg_jv x)

TEST(boolean) { return v.type == PG_JV_BOOL; }
TEST(callable) { return v.type == PG_JV_MACRO || v.type == PG_JV_FUNC; }
TEST(defined) { return v.type != PG_JV_UNDEFINED; }
TEST(undefined) { return v.type == PG_JV_UNDEFINED; }
TEST(none) { return v.type == PG_JV_NONE; }
TEST(true) { return v.type == PG_JV_BOOL && v.u.b; }
TEST(false) { return v.type == PG_JV_BOOL && !v.u.b; }
TEST(string) { return v.type == PG_JV_STRING; }
TEST(number) { return pg_jv_is_number(v); }
TEST(integer) { return v.type == PG_JV_INT; }
TEST(float) { return v.type == PG_JV_FLOAT; }
TEST(mapping) { return v.type == PG_JV_DICT; }
TEST(iterable) {
    return v.type == PG_JV_LIST || v.type == PG_JV_DICT || v.type == PG_JV_STRING || v.type == PG_JV_UNDEFINED;
}
TEST(sequence) { return t_iterable(rt, v, x) && !pg_jv_list_is_gen(v); }
TEST(escaped) { return 0; }

/* lower/upper: every cased char has that case and at least one is cased */
static int all_case(pg_tpl_rt *rt, pg_jv v, int upper) {
    pg_jv s = pg_tpl_rt_to_str(rt, v);
    pg_tpl_rt_charge(rt, (uint64_t)s.u.s.n * PG_TPL_COST_MAP);
    int cased = 0;
    for (size_t i = 0; i < s.u.s.n;) {
        size_t l;
        uint32_t ch = pg_ts_cp_at(s.u.s.p, s.u.s.n, i, &l);
        i += l;
        if (!upper ? pg_ts_lower(ch) != ch : (pg_ts_upper(ch) != ch || ch == 0xDF)) return 0;
        if (pg_ts_cased(ch)) cased = 1;
    }
    return cased;
}
TEST(lower) { return all_case(rt, v, 0); }
TEST(upper) { return all_case(rt, v, 1); }
TEST(odd) { return pg_tpl_rt_int(rt, v, "value") % 2 != 0; }
TEST(even) { return pg_tpl_rt_int(rt, v, "value") % 2 == 0; }
TEST(divisibleby) {
    int64_t i = pg_tpl_rt_int(rt, v, "value"), d = pg_tpl_rt_int(rt, x, "divisor");
    if (d == 0) FAIL("integer division or modulo by zero");
    if (d == -1) return 1;
    return i % d == 0;
}
TEST(eq) {
    pg_tpl_rt_charge_value(rt, v);
    return pg_jv_equal(v, x);
}
#define t_equalto t_eq
TEST(ne) { return !t_eq(rt, v, x); }
TEST(lt) { return pg_tpl_rt_cmp(rt, v, x) < 0; }
#define t_lessthan t_lt
TEST(le) { return pg_tpl_rt_cmp(rt, v, x) <= 0; }
TEST(gt) { return pg_tpl_rt_cmp(rt, v, x) > 0; }
#define t_greaterthan t_gt
TEST(ge) { return pg_tpl_rt_cmp(rt, v, x) >= 0; }
TEST(sameas) {
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
}
TEST(in) {
    if (x.type == PG_JV_STRING) {
        pg_jv s = pg_tpl_rt_need_str(rt, v, "'in <string>' left operand");
        pg_tpl_rt_charge(rt, x.u.s.n);
        return pg_ts_memmem(x.u.s.p, x.u.s.n, s.u.s.p, s.u.s.n) != NULL;
    }
    pg_tpl_rt_charge_value(rt, v); /* hashed or compared */
    if (x.type == PG_JV_DICT || x.type == PG_JV_NAMESPACE) return pg_jv_dict_get(x, v, NULL);
    pg_jv l = pg_tpl_rt_iter(rt, x);
    for (size_t i = 0; i < pg_jv_list_len(l); i++) {
        pg_tpl_rt_charge_value(rt, v);
        if (pg_jv_equal(pg_jv_list_at(l, i), v)) return 1;
    }
    return 0;
}
TEST(filter) {
    pg_jv s = pg_tpl_rt_need_str(rt, v, "filter name");
    return pg_tpl_filter_id(s.u.s.p, s.u.s.n) >= 0;
}
TEST(test) {
    pg_jv s = pg_tpl_rt_need_str(rt, v, "test name");
    return pg_tpl_test_id(s.u.s.p, s.u.s.n) >= 0;
}

#define ROW(n) t_##n,
static const test_fn tests[] = {TESTS(ROW)};
#undef ROW
#define N_TESTS (int)(sizeof tests / sizeof tests[0])

int pg_tpl_test_apply(pg_tpl_rt *rt, int id, pg_jv v, const pg_tpl_args *a) {
    PG_ASSERT(id >= 0 && id < N_TESTS);
    return tests[id](rt, v, pg_tpl_arg(a, 0, NULL, pg_jv_undefined(), NULL));
}

int pg_tpl_contains(pg_tpl_rt *rt, pg_jv container, pg_jv item) { return t_in(rt, item, container); }

int pg_tpl_test_by_name(pg_tpl_rt *rt, pg_jv name, pg_jv v, const pg_tpl_args *rest) {
    static const struct {
        const char *op, *test;
    } alias[] = {{"==", "eq"}, {"!=", "ne"}, {"<", "lt"}, {"<=", "le"}, {">", "gt"}, {">=", "ge"}};
    name = pg_tpl_rt_need_str(rt, name, "test name");
    int id = pg_tpl_test_id(name.u.s.p, name.u.s.n);
    for (size_t k = 0; id < 0 && k < sizeof alias / sizeof alias[0]; k++)
        if (strlen(alias[k].op) == name.u.s.n && memcmp(alias[k].op, name.u.s.p, name.u.s.n) == 0)
            id = pg_tpl_test_id(alias[k].test, strlen(alias[k].test));
    if (id < 0) FAIL("no test named '%.*s'", (int)(name.u.s.n > 60 ? 60 : name.u.s.n), name.u.s.p);
    return pg_tpl_test_apply(rt, id, v, rest);
}
