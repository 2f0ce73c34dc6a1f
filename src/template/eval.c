/* eval.c - statements and expressions of a parsed template.
 *
 * Scopes: a chain of small name tables. The render's root scope holds the
 * context variables; a for loop, a macro call and a with block each get a
 * child scope (so `set` inside a loop does not leak out, as in Jinja2 -
 * which is why templates use namespace()); if blocks share their parent's.
 * Builtin globals (range, namespace, ...) are consulted after the chain.
 * Output goes to rt->out; macro calls, set blocks and filter blocks swap in
 * a capture buffer. Every statement and expression node counts a step and
 * a recursion level (rt.h has the limits); loops also count iterations. */
#include "template/eval.h"

#include "template/builtins.h"
#include "template/lexer.h"
#include "template/rt.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { FLOW_NORMAL = 0, FLOW_BREAK, FLOW_CONTINUE };

#define FAIL(...) pg_tpl_rt_fail(rt, PG_EINVAL, __VA_ARGS__)

static pg_jv eval(pg_tpl_rt *rt, pg_tpl_scope *sc, const pg_tpl_node *n);
static int exec_body(pg_tpl_rt *rt, pg_tpl_scope *sc, const pg_tpl_nodes *body);

/* ------------------------------------------------------------ scopes */

static pg_tpl_scope *scope_new(pg_tpl_rt *rt, pg_tpl_scope *parent) {
    pg_tpl_scope *s = pg_tpl_rt_alloc(rt, sizeof *s);
    s->parent = parent;
    return s;
}

static void scope_set(pg_tpl_rt *rt, pg_tpl_scope *s, const char *name, size_t len, pg_jv v) {
    for (size_t i = 0; i < s->n; i++)
        if (s->lens[i] == len && memcmp(s->names[i], name, len) == 0) {
            s->vals[i] = v;
            return;
        }
    if (s->n == s->cap) {
        size_t nc = s->cap ? s->cap * 2 : 8;
        if (nc > rt->lim.max_items) pg_tpl_rt_fail(rt, PG_ELIMIT, "too many variables");
        const char **nn = pg_tpl_rt_alloc(rt, nc * sizeof *nn);
        size_t *nl = pg_tpl_rt_alloc(rt, nc * sizeof *nl);
        pg_jv *nv = pg_tpl_rt_alloc(rt, nc * sizeof *nv);
        if (s->n) {
            memcpy(nn, s->names, s->n * sizeof *nn);
            memcpy(nl, s->lens, s->n * sizeof *nl);
            memcpy(nv, s->vals, s->n * sizeof *nv);
        }
        s->names = nn;
        s->lens = nl;
        s->vals = nv;
        s->cap = nc;
    }
    s->names[s->n] = name;
    s->lens[s->n] = len;
    s->vals[s->n] = v;
    s->n++;
}

static pg_jv scope_get(pg_tpl_rt *rt, pg_tpl_scope *s, const char *name, size_t len) {
    (void)rt;
    for (; s; s = s->parent)
        for (size_t i = s->n; i-- > 0;)
            if (s->lens[i] == len && memcmp(s->names[i], name, len) == 0) return s->vals[i];
    pg_jv g;
    if (pg_tpl_global(name, len, &g)) return g;
    return pg_tpl_rt_undef(PG_UNDEF_NAME, name, len);
}

/* ------------------------------------------------------------ output */

static void out_put(pg_tpl_rt *rt, const char *p, size_t n) {
    pg_tpl_rt_charge(rt, n);
    pg_jv_buf_put(rt->out, p, n);
    if (rt->out->err == PG_ELIMIT)
        pg_tpl_rt_fail(rt, PG_ELIMIT, "template output exceeds the limit (%zu bytes)", rt->out->max);
    if (rt->out->err) pg_tpl_rt_fail(rt, PG_ENOMEM, "out of memory");
}

static void out_value(pg_tpl_rt *rt, pg_jv v) {
    if (v.type == PG_JV_STRING) {
        out_put(rt, v.u.s.p, v.u.s.n);
        return;
    }
    if (v.type == PG_JV_UNDEFINED) return;
    pg_jv s = pg_tpl_rt_to_str(rt, v);
    out_put(rt, s.u.s.p, s.u.s.n);
}

/* Run body into a fresh buffer; returns the captured text. */
static pg_jv capture(pg_tpl_rt *rt, pg_tpl_scope *sc, const pg_tpl_nodes *body) {
    pg_jv_buf b;
    pg_jv_buf_init(&b, rt->arena, rt->lim.max_output);
    pg_jv_buf *saved = rt->out;
    rt->out = &b;
    exec_body(rt, sc, body);
    rt->out = saved;
    return pg_jv_str_ref(b.p, b.len);
}

/* ------------------------------------------------------------ arithmetic */

static void need_defined(pg_tpl_rt *rt, pg_jv v) {
    if (v.type == PG_JV_UNDEFINED) pg_tpl_rt_undefined_error(rt, v);
}

static int64_t ival(pg_jv v) { return v.type == PG_JV_INT ? v.u.i : v.u.b; }
static int is_intlike(pg_jv v) { return v.type == PG_JV_INT || v.type == PG_JV_BOOL; }

static _Noreturn void type_err(pg_tpl_rt *rt, int op, pg_jv a, pg_jv b) {
    FAIL("unsupported operand type(s) for %s: '%s' and '%s'", pg_tpl_op_str(op), pg_jv_type_name(a),
         pg_jv_type_name(b));
}

static pg_jv repeat(pg_tpl_rt *rt, pg_jv seq, int64_t times) {
    if (times < 0) times = 0;
    if (seq.type == PG_JV_STRING) {
        size_t total;
        if ((uint64_t)times > SIZE_MAX || pg_mul_size(seq.u.s.n, (size_t)times, &total) || total > rt->lim.max_string)
            pg_tpl_rt_fail(rt, PG_ELIMIT, "string longer than the limit (%zu bytes)", rt->lim.max_string);
        char *p = pg_tpl_rt_alloc_raw(rt, total + 1);
        for (int64_t i = 0; i < times; i++) memcpy(p + (size_t)i * seq.u.s.n, seq.u.s.p, seq.u.s.n);
        return pg_jv_str_ref(p, total);
    }
    size_t n = pg_jv_list_len(seq), total;
    if ((uint64_t)times > SIZE_MAX || pg_mul_size(n, (size_t)times, &total) || total > rt->lim.max_items)
        pg_tpl_rt_fail(rt, PG_ELIMIT, "list longer than the limit (%zu items)", rt->lim.max_items);
    pg_jv out = pg_tpl_rt_list(rt, total);
    for (int64_t i = 0; i < times; i++)
        for (size_t k = 0; k < n; k++) pg_tpl_rt_push(rt, out, pg_jv_list_at(seq, k));
    return out;
}

static pg_jv binop(pg_tpl_rt *rt, int op, pg_jv a, pg_jv b) {
    need_defined(rt, a);
    need_defined(rt, b);
    int nums = pg_jv_is_number(a) && pg_jv_is_number(b);
    int ints = is_intlike(a) && is_intlike(b);
    int64_t r;
    switch (op) {
    case PG_OP_ADD:
        if (ints) {
            if (__builtin_add_overflow(ival(a), ival(b), &r)) FAIL("integer overflow");
            return pg_jv_int(r);
        }
        if (nums) return pg_jv_float(pg_jv_as_double(a) + pg_jv_as_double(b));
        if (a.type == PG_JV_STRING && b.type == PG_JV_STRING) {
            /* Markup + str escapes the str (markupsafe), as transformers
             * renders e.g. "..."|safe + name */
            int mk = a.aux || b.aux;
            if (mk) {
                a = pg_ts_escape(rt, a);
                b = pg_ts_escape(rt, b);
            }
            size_t n;
            if (pg_add_size(a.u.s.n, b.u.s.n, &n) || n > rt->lim.max_string)
                pg_tpl_rt_fail(rt, PG_ELIMIT, "string longer than the limit (%zu bytes)", rt->lim.max_string);
            char *p = pg_tpl_rt_alloc_raw(rt, n + 1);
            memcpy(p, a.u.s.p, a.u.s.n);
            memcpy(p + a.u.s.n, b.u.s.p, b.u.s.n);
            pg_jv res = pg_jv_str_ref(p, n);
            res.aux = (uint8_t)mk;
            return res;
        }
        if (a.type == PG_JV_LIST && b.type == PG_JV_LIST) {
            size_t na = pg_jv_list_len(a), nb = pg_jv_list_len(b);
            if (na + nb > rt->lim.max_items)
                pg_tpl_rt_fail(rt, PG_ELIMIT, "list longer than the limit (%zu items)", rt->lim.max_items);
            pg_jv out = pg_tpl_rt_list(rt, na + nb);
            for (size_t i = 0; i < na; i++) pg_tpl_rt_push(rt, out, pg_jv_list_at(a, i));
            for (size_t i = 0; i < nb; i++) pg_tpl_rt_push(rt, out, pg_jv_list_at(b, i));
            return out;
        }
        if (a.type == PG_JV_STRING || b.type == PG_JV_STRING)
            FAIL("can only concatenate str (not \"%s\") to str",
                 pg_jv_type_name(a.type == PG_JV_STRING ? b : a));
        type_err(rt, op, a, b);
    case PG_OP_SUB:
        if (ints) {
            if (__builtin_sub_overflow(ival(a), ival(b), &r)) FAIL("integer overflow");
            return pg_jv_int(r);
        }
        if (nums) return pg_jv_float(pg_jv_as_double(a) - pg_jv_as_double(b));
        type_err(rt, op, a, b);
    case PG_OP_MUL:
        if (ints) {
            if (__builtin_mul_overflow(ival(a), ival(b), &r)) FAIL("integer overflow");
            return pg_jv_int(r);
        }
        if (nums) return pg_jv_float(pg_jv_as_double(a) * pg_jv_as_double(b));
        if ((a.type == PG_JV_STRING || a.type == PG_JV_LIST) && is_intlike(b)) return repeat(rt, a, ival(b));
        if ((b.type == PG_JV_STRING || b.type == PG_JV_LIST) && is_intlike(a)) return repeat(rt, b, ival(a));
        type_err(rt, op, a, b);
    case PG_OP_DIV:
        if (!nums) type_err(rt, op, a, b);
        if (pg_jv_as_double(b) == 0.0) FAIL("division by zero");
        return pg_jv_float(pg_jv_as_double(a) / pg_jv_as_double(b));
    case PG_OP_FLOORDIV:
    case PG_OP_MOD:
        if (a.type == PG_JV_STRING && op == PG_OP_MOD) return pg_tpl_percent_format(rt, a, b);
        if (!nums) type_err(rt, op, a, b);
        if (ints) {
            int64_t x = ival(a), y = ival(b);
            if (y == 0) FAIL("integer division or modulo by zero");
            if (x == INT64_MIN && y == -1) {
                if (op == PG_OP_MOD) return pg_jv_int(0);
                FAIL("integer overflow");
            }
            int64_t q = x / y, m = x % y;
            if (m != 0 && ((m < 0) != (y < 0))) {
                q -= 1;
                m += y;
            }
            return pg_jv_int(op == PG_OP_FLOORDIV ? q : m);
        } else {
            double x = pg_jv_as_double(a), y = pg_jv_as_double(b);
            if (y == 0.0) FAIL("float division by zero");
            if (op == PG_OP_FLOORDIV) return pg_jv_float(floor(x / y));
            double m = fmod(x, y);
            if (m != 0.0 && ((m < 0) != (y < 0))) m += y;
            return pg_jv_float(m);
        }
    case PG_OP_POW:
        if (!nums) type_err(rt, op, a, b);
        if (ints && ival(b) >= 0) {
            int64_t base = ival(a), e = ival(b), acc = 1;
            while (e > 0) {
                if (e & 1)
                    if (__builtin_mul_overflow(acc, base, &acc)) FAIL("integer overflow");
                e >>= 1;
                if (e && __builtin_mul_overflow(base, base, &base)) FAIL("integer overflow");
            }
            return pg_jv_int(acc);
        }
        if (pg_jv_as_double(a) == 0.0 && pg_jv_as_double(b) < 0) FAIL("0.0 cannot be raised to a negative power");
        return pg_jv_float(pow(pg_jv_as_double(a), pg_jv_as_double(b)));
    }
    PG_PANIC("bad binop %d", op);
}

static int compare_op(pg_tpl_rt *rt, int op, pg_jv a, pg_jv b) {
    int c;
    switch (op) {
    case PG_OP_EQ: pg_tpl_rt_charge_value(rt, a); return pg_jv_equal(a, b);
    case PG_OP_NE: pg_tpl_rt_charge_value(rt, a); return !pg_jv_equal(a, b);
    case PG_OP_IN: return pg_tpl_contains(rt, b, a);
    case PG_OP_NOTIN: return !pg_tpl_contains(rt, b, a);
    default:
        need_defined(rt, a);
        need_defined(rt, b);
        pg_tpl_rt_charge_value(rt, a);
        if (pg_jv_compare(a, b, &c) != PG_OK)
            FAIL("'%s' not supported between instances of '%s' and '%s'", pg_tpl_op_str(op), pg_jv_type_name(a),
                 pg_jv_type_name(b));
        switch (op) {
        case PG_OP_LT: return c < 0;
        case PG_OP_LE: return c <= 0;
        case PG_OP_GT: return c > 0;
        default: return c >= 0;
        }
    }
}

/* ------------------------------------------------------------ calls */

#define MAX_ARGS 64

/* Evaluate a call's arguments into arena arrays of exactly the needed size
 * (frames of this recursive evaluator stay small). */
static void eval_args(pg_tpl_rt *rt, pg_tpl_scope *sc, const pg_tpl_node *n, pg_tpl_args *out) {
    size_t np = n->args.n, nk = n->kwargs.n;
    if (np > MAX_ARGS || nk > MAX_ARGS) FAIL("too many arguments");
    pg_jv *pos = np ? pg_tpl_rt_alloc_raw(rt, np * sizeof(pg_jv)) : NULL;
    pg_jv *kwv = nk ? pg_tpl_rt_alloc_raw(rt, nk * sizeof(pg_jv)) : NULL;
    for (size_t i = 0; i < np; i++) pos[i] = eval(rt, sc, n->args.v[i]);
    for (size_t i = 0; i < nk; i++) kwv[i] = eval(rt, sc, n->kwargs.v[i]);
    out->pos = pos;
    out->npos = np;
    out->kwn = n->names;
    out->kwv = kwv;
    out->nkw = nk;
}

static pg_jv call_macro(pg_tpl_rt *rt, pg_jv mv, const pg_tpl_args *a, const pg_jv *caller) {
    pg_tpl_macro *m = mv.u.ptr;
    const pg_tpl_node *def = m->def;
    const char *mname = def->kind == PG_N_MACRO ? def->s : "caller";
    if (++rt->calls > rt->lim.max_calls)
        pg_tpl_rt_fail(rt, PG_ELIMIT, "macro calls nested too deeply (limit %d)", rt->lim.max_calls);
    pg_tpl_scope *s = scope_new(rt, m->closure);
    size_t np = def->n_names;
    char bound[64] = {0};
    pg_jv varargs = pg_jv_undefined();
    if (def->uses_varargs) {
        varargs = pg_jv_tuple_new(rt->arena, 0);
        if (varargs.type != PG_JV_LIST) pg_tpl_rt_fail(rt, PG_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < a->npos; i++) {
        if (i < np) {
            scope_set(rt, s, def->names[i], strlen(def->names[i]), a->pos[i]);
            bound[i] = 1;
        } else if (def->uses_varargs) {
            pg_tpl_rt_push(rt, varargs, a->pos[i]);
        } else {
            FAIL("macro '%s' takes not more than %zu argument(s)", mname, np);
        }
    }
    pg_jv kwargs = pg_jv_undefined();
    if (def->uses_kwargs) kwargs = pg_tpl_rt_dict(rt);
    for (size_t k = 0; k < a->nkw; k++) {
        size_t i;
        for (i = 0; i < np; i++)
            if (strcmp(def->names[i], a->kwn[k]) == 0) break;
        if (i < np) {
            if (bound[i]) FAIL("macro '%s' got multiple values for argument '%s'", mname, a->kwn[k]);
            scope_set(rt, s, def->names[i], strlen(def->names[i]), a->kwv[k]);
            bound[i] = 1;
        } else if (def->uses_kwargs) {
            pg_tpl_rt_dict_set(rt, kwargs, pg_jv_str_ref(a->kwn[k], strlen(a->kwn[k])), a->kwv[k]);
        } else {
            FAIL("macro '%s' takes no keyword argument '%s'", mname, a->kwn[k]);
        }
    }
    for (size_t i = 0; i < np; i++) {
        if (bound[i]) continue;
        pg_jv v;
        if (i < def->args.n && def->args.v[i])
            v = eval(rt, s, def->args.v[i]);
        else
            v = pg_tpl_rt_undef(PG_UNDEF_NAME, def->names[i], strlen(def->names[i]));
        scope_set(rt, s, def->names[i], strlen(def->names[i]), v);
    }
    if (def->uses_varargs) scope_set(rt, s, "varargs", 7, varargs);
    if (def->uses_kwargs) scope_set(rt, s, "kwargs", 6, kwargs);
    if (caller) scope_set(rt, s, "caller", 6, *caller);
    pg_jv r = capture(rt, s, &def->body);
    rt->calls--;
    return r;
}

static pg_jv call_value(pg_tpl_rt *rt, pg_jv f, const pg_tpl_args *a, const pg_jv *caller) {
    if (f.type == PG_JV_MACRO) return call_macro(rt, f, a, caller);
    if (f.type == PG_JV_FUNC) return pg_tpl_func_call(rt, f, a);
    if (f.type == PG_JV_UNDEFINED) pg_tpl_rt_undefined_error(rt, f);
    FAIL("'%s' object is not callable", pg_jv_type_name(f));
}

/* ------------------------------------------------------------ expressions */

static pg_jv eval_filter(pg_tpl_rt *rt, pg_tpl_scope *sc, const pg_tpl_node *n, const pg_jv *input) {
    pg_jv v;
    if (!n->a) {
        PG_ASSERT(input);
        v = *input;
    } else if (n->a->kind == PG_N_FILTER && input) {
        v = eval_filter(rt, sc, n->a, input);
    } else {
        v = eval(rt, sc, n->a);
    }
    pg_tpl_args av;
    eval_args(rt, sc, n, &av);
    rt->line = n->line;
    return pg_tpl_filter_apply(rt, n->builtin, v, &av);
}

static pg_jv eval_inner(pg_tpl_rt *rt, pg_tpl_scope *sc, const pg_tpl_node *n) {
    switch (n->kind) {
    case PG_N_CONST: return n->val;
    case PG_N_NAME: return scope_get(rt, sc, n->s, n->sn);
    case PG_N_LIST:
    case PG_N_TUPLE: {
        pg_jv l = n->kind == PG_N_TUPLE ? pg_jv_tuple_new(rt->arena, n->args.n) : pg_tpl_rt_list(rt, n->args.n);
        if (l.type != PG_JV_LIST) pg_tpl_rt_fail(rt, PG_ENOMEM, "out of memory");
        for (size_t i = 0; i < n->args.n; i++) pg_tpl_rt_push(rt, l, eval(rt, sc, n->args.v[i]));
        return l;
    }
    case PG_N_DICT: {
        pg_jv d = pg_tpl_rt_dict(rt);
        for (size_t i = 0; i < n->args.n; i++) {
            pg_jv k = eval(rt, sc, n->args.v[i]);
            pg_jv v = eval(rt, sc, n->kwargs.v[i]);
            rt->line = n->line;
            pg_tpl_rt_dict_set(rt, d, k, v);
        }
        return d;
    }
    case PG_N_GETATTR: {
        pg_jv o = eval(rt, sc, n->a);
        rt->line = n->line;
        return pg_tpl_getattr(rt, o, n->s, n->sn);
    }
    case PG_N_GETITEM: {
        pg_jv o = eval(rt, sc, n->a);
        if (n->b->kind == PG_N_SLICE) {
            const pg_tpl_node *s = n->b;
            pg_jv a = s->b ? eval(rt, sc, s->b) : pg_jv_none();
            pg_jv b = s->c ? eval(rt, sc, s->c) : pg_jv_none();
            pg_jv c = s->d ? eval(rt, sc, s->d) : pg_jv_none();
            rt->line = n->line;
            return pg_tpl_slice(rt, o, a, b, c);
        }
        pg_jv k = eval(rt, sc, n->b);
        rt->line = n->line;
        return pg_tpl_getitem(rt, o, k);
    }
    case PG_N_SLICE: FAIL("slice outside of a subscript");
    case PG_N_CALL: {
        pg_jv f = eval(rt, sc, n->a);
        pg_tpl_args av;
        eval_args(rt, sc, n, &av);
        rt->line = n->line;
        return call_value(rt, f, &av, NULL);
    }
    case PG_N_FILTER: return eval_filter(rt, sc, n, NULL);
    case PG_N_TEST: {
        pg_jv v = eval(rt, sc, n->a);
        pg_tpl_args av;
        eval_args(rt, sc, n, &av);
        rt->line = n->line;
        return pg_jv_bool(pg_tpl_test_apply(rt, n->builtin, v, &av));
    }
    case PG_N_NOT: return pg_jv_bool(!pg_jv_truthy(eval(rt, sc, n->a)));
    case PG_N_NEG:
    case PG_N_POS: {
        pg_jv v = eval(rt, sc, n->a);
        rt->line = n->line;
        need_defined(rt, v);
        if (!pg_jv_is_number(v)) FAIL("bad operand type for unary %s: '%s'", n->kind == PG_N_NEG ? "-" : "+", pg_jv_type_name(v));
        if (n->kind == PG_N_POS) return v.type == PG_JV_BOOL ? pg_jv_int(v.u.b) : v;
        if (v.type == PG_JV_FLOAT) return pg_jv_float(-v.u.f);
        if (ival(v) == INT64_MIN) FAIL("integer overflow");
        return pg_jv_int(-ival(v));
    }
    case PG_N_BINOP: {
        pg_jv a = eval(rt, sc, n->a);
        pg_jv b = eval(rt, sc, n->b);
        rt->line = n->line;
        return binop(rt, n->op, a, b);
    }
    case PG_N_AND: {
        pg_jv a = eval(rt, sc, n->a);
        return pg_jv_truthy(a) ? eval(rt, sc, n->b) : a;
    }
    case PG_N_OR: {
        pg_jv a = eval(rt, sc, n->a);
        return pg_jv_truthy(a) ? a : eval(rt, sc, n->b);
    }
    case PG_N_CONCAT: {
        pg_jv_buf b;
        pg_tpl_rt_buf(rt, &b);
        for (size_t i = 0; i < n->args.n; i++) {
            pg_jv v = eval(rt, sc, n->args.v[i]);
            pg_jv_write_str(&b, v);
        }
        rt->line = n->line;
        return pg_tpl_rt_buf_done(rt, &b);
    }
    case PG_N_COMPARE: {
        pg_jv l = eval(rt, sc, n->a);
        for (size_t i = 0; i < n->args.n; i++) {
            pg_jv r = eval(rt, sc, n->args.v[i]);
            rt->line = n->line;
            if (!compare_op(rt, n->ops[i], l, r)) return pg_jv_bool(0);
            l = r;
        }
        return pg_jv_bool(1);
    }
    case PG_N_COND:
        if (pg_jv_truthy(eval(rt, sc, n->b))) return eval(rt, sc, n->a);
        if (n->c) return eval(rt, sc, n->c);
        return pg_tpl_rt_undef(PG_UNDEF_PLAIN, NULL, 0);
    }
    PG_PANIC("bad expression node %d", n->kind);
}

static pg_jv eval(pg_tpl_rt *rt, pg_tpl_scope *sc, const pg_tpl_node *n) {
    pg_tpl_rt_tick(rt);
    if (++rt->depth > rt->lim.max_depth)
        pg_tpl_rt_fail(rt, PG_ELIMIT, "template nested too deeply (limit %d)", rt->lim.max_depth);
    int saved = rt->line;
    rt->line = n->line;
    pg_jv v = eval_inner(rt, sc, n);
    rt->line = saved;
    rt->depth--;
    return v;
}

/* ------------------------------------------------------------ statements */

static void assign_target(pg_tpl_rt *rt, pg_tpl_scope *sc, const pg_tpl_node *t, pg_jv v) {
    if (t->kind == PG_N_NAME) {
        scope_set(rt, sc, t->s, t->sn, v);
        return;
    }
    if (t->kind == PG_N_TUPLE) {
        pg_jv l = v;
        if (l.type != PG_JV_LIST) {
            if (l.type == PG_JV_UNDEFINED) pg_tpl_rt_undefined_error(rt, l);
            l = pg_tpl_rt_iter(rt, v);
        }
        size_t n = pg_jv_list_len(l);
        if (n < t->args.n) FAIL("not enough values to unpack (expected %zu, got %zu)", t->args.n, n);
        if (n > t->args.n) FAIL("too many values to unpack (expected %zu)", t->args.n);
        for (size_t i = 0; i < n; i++) scope_set(rt, sc, t->args.v[i]->s, t->args.v[i]->sn, pg_jv_list_at(l, i));
        return;
    }
    if (t->kind == PG_N_GETATTR) {
        pg_jv ns = scope_get(rt, sc, t->a->s, t->a->sn);
        if (ns.type != PG_JV_NAMESPACE) FAIL("cannot assign attribute on non-namespace object");
        pg_tpl_rt_dict_set(rt, ns, pg_jv_str_ref(t->s, t->sn), v);
        return;
    }
    FAIL("can't assign to this target");
}

static int exec_for(pg_tpl_rt *rt, pg_tpl_scope *sc, const pg_tpl_node *n) {
    pg_jv seq = eval(rt, sc, n->b);
    rt->line = n->line;
    pg_jv items = pg_tpl_rt_iter(rt, seq);
    pg_tpl_scope *ls = scope_new(rt, sc);
    if (n->c) { /* loop filter: evaluated with the target bound */
        pg_jv kept = pg_tpl_rt_list(rt, 0);
        for (size_t i = 0; i < pg_jv_list_len(items); i++) {
            pg_tpl_rt_tick(rt);
            pg_jv it = pg_jv_list_at(items, i);
            assign_target(rt, ls, n->a, it);
            if (pg_jv_truthy(eval(rt, ls, n->c))) pg_tpl_rt_push(rt, kept, it);
        }
        items = kept;
    }
    size_t len = pg_jv_list_len(items);
    /* iterate over a snapshot: the body may append to the list */
    pg_tpl_loop *lo = pg_tpl_rt_alloc(rt, sizeof *lo);
    lo->len = len;
    lo->items = pg_tpl_rt_alloc_raw(rt, (len + 1) * sizeof(pg_jv));
    if (len) memcpy(lo->items, pg_jv_list_items(items), len * sizeof(pg_jv));
    pg_jv loopv = pg_jv_undefined();
    loopv.type = PG_JV_LOOP;
    loopv.u.ptr = lo;
    for (size_t i = 0; i < len; i++) {
        if (++rt->iters > rt->lim.max_iterations)
            pg_tpl_rt_fail(rt, PG_ELIMIT, "template exceeded its loop limit (%llu iterations)",
                           (unsigned long long)rt->lim.max_iterations);
        pg_tpl_rt_tick(rt);
        lo->i = i;
        assign_target(rt, ls, n->a, lo->items[i]);
        scope_set(rt, ls, "loop", 4, loopv);
        int f = exec_body(rt, ls, &n->body);
        if (f == FLOW_BREAK) break;
    }
    if (len == 0 && n->else_body.n) return exec_body(rt, sc, &n->else_body);
    return FLOW_NORMAL;
}

static pg_jv make_macro(pg_tpl_rt *rt, pg_tpl_scope *sc, const pg_tpl_node *def) {
    pg_tpl_macro *m = pg_tpl_rt_alloc(rt, sizeof *m);
    m->def = def;
    m->closure = sc;
    pg_jv v = pg_jv_undefined();
    v.type = PG_JV_MACRO;
    v.u.ptr = m;
    return v;
}

static int exec_stmt(pg_tpl_rt *rt, pg_tpl_scope *sc, const pg_tpl_node *n) {
    rt->line = n->line;
    switch (n->kind) {
    case PG_N_TEXT: out_put(rt, n->s, n->sn); return FLOW_NORMAL;
    case PG_N_OUTPUT: {
        pg_jv v = eval(rt, sc, n->a);
        rt->line = n->line;
        out_value(rt, v);
        return FLOW_NORMAL;
    }
    case PG_N_IF:
        if (pg_jv_truthy(eval(rt, sc, n->a))) return exec_body(rt, sc, &n->body);
        return exec_body(rt, sc, &n->else_body);
    case PG_N_FOR: return exec_for(rt, sc, n);
    case PG_N_SET: {
        pg_jv v = eval(rt, sc, n->b);
        rt->line = n->line;
        assign_target(rt, sc, n->a, v);
        return FLOW_NORMAL;
    }
    case PG_N_SETBLOCK: {
        pg_jv v = capture(rt, sc, &n->body);
        if (n->c) v = eval_filter(rt, sc, n->c, &v);
        rt->line = n->line;
        assign_target(rt, sc, n->a, v);
        return FLOW_NORMAL;
    }
    case PG_N_MACRO: scope_set(rt, sc, n->s, n->sn, make_macro(rt, sc, n)); return FLOW_NORMAL;
    case PG_N_CALLBLOCK: {
        pg_jv caller = make_macro(rt, sc, n);
        const pg_tpl_node *call = n->a;
        pg_jv f = eval(rt, sc, call->a);
        pg_tpl_args av;
        eval_args(rt, sc, call, &av);
        rt->line = n->line;
        if (f.type != PG_JV_MACRO) {
            if (f.type == PG_JV_UNDEFINED) pg_tpl_rt_undefined_error(rt, f);
            FAIL("call block target is not a macro");
        }
        out_value(rt, call_macro(rt, f, &av, &caller));
        return FLOW_NORMAL;
    }
    case PG_N_FILTERBLOCK: {
        pg_jv v = capture(rt, sc, &n->body);
        out_value(rt, eval_filter(rt, sc, n->c, &v));
        return FLOW_NORMAL;
    }
    case PG_N_BREAK: return FLOW_BREAK;
    case PG_N_CONTINUE: return FLOW_CONTINUE;
    case PG_N_WITH: {
        pg_tpl_scope *ws = scope_new(rt, sc);
        for (size_t i = 0; i < n->n_names; i++)
            scope_set(rt, ws, n->names[i], strlen(n->names[i]), eval(rt, sc, n->args.v[i]));
        return exec_body(rt, ws, &n->body);
    }
    case PG_N_BLOCKBODY: return exec_body(rt, sc, &n->body);
    }
    PG_PANIC("bad statement node %d", n->kind);
}

static int exec_body(pg_tpl_rt *rt, pg_tpl_scope *sc, const pg_tpl_nodes *body) {
    if (++rt->depth > rt->lim.max_depth)
        pg_tpl_rt_fail(rt, PG_ELIMIT, "template nested too deeply (limit %d)", rt->lim.max_depth);
    int f = FLOW_NORMAL;
    for (size_t i = 0; i < body->n; i++) {
        pg_tpl_rt_tick(rt);
        f = exec_stmt(rt, sc, body->v[i]);
        if (f != FLOW_NORMAL) break;
    }
    rt->depth--;
    return f;
}

/* ------------------------------------------------------------ entry */

int pg_tpl_eval(const pg_tpl_nodes *root, const pg_tpl_var *vars, size_t n_vars, time_t now,
                const pg_tpl_render_opts *o, char **out, size_t *out_len, pg_error *err) {
    *out = NULL;
    if (out_len) *out_len = 0;
    /* volatile: read after longjmp */
    pg_tpl_rt *volatile rtp = calloc(1, sizeof(pg_tpl_rt));
    if (!rtp) return pg_error_set(err, PG_ENOMEM, "out of memory");
    pg_tpl_rt *rt = rtp;
    pg_error local;
    rt->err = err ? err : &local;
    PG_ASSERT(o);
    rt->lim = o->lim;
    rt->cancel = o->cancel;
    rt->deadline_ns = o->deadline_ns;
    if (o->lim.max_millis) {
        int64_t d = pg_tpl_now_ns() + (int64_t)o->lim.max_millis * 1000000;
        if (!rt->deadline_ns || d < rt->deadline_ns) rt->deadline_ns = d;
    }
    rt->next_check = PG_TPL_CHECK_BYTES;
    rt->now = now;
    rt->arena = pg_arena_create(64 * 1024);
    if (!rt->arena) {
        free(rt);
        return pg_error_set(err, PG_ENOMEM, "out of memory");
    }
    if (setjmp(rt->jb)) {
        rt = rtp;
        int code = rt->err->code ? rt->err->code : PG_EINVAL;
        pg_arena_destroy(rt->arena);
        free(rt);
        return code;
    }
    pg_tpl_scope *g = scope_new(rt, NULL);
    rt->globals = g;
    for (size_t i = 0; i < n_vars; i++) {
        pg_jv v;
        int rc = pg_jv_deep_copy(rt->arena, vars[i].value, &v);
        if (rc == PG_ELIMIT) pg_tpl_rt_fail(rt, PG_ELIMIT, "variable '%s' nested too deeply", vars[i].name);
        if (rc) pg_tpl_rt_fail(rt, PG_ENOMEM, "out of memory");
        size_t nl = strlen(vars[i].name);
        char *nm = pg_tpl_rt_alloc(rt, nl + 1);
        memcpy(nm, vars[i].name, nl);
        scope_set(rt, g, nm, nl, v);
    }
    pg_jv_buf ob;
    pg_jv_buf_init(&ob, rt->arena, rt->lim.max_output);
    rt->out = &ob;
    exec_body(rt, g, root);
    char *res = malloc(ob.len + 1);
    if (!res) pg_tpl_rt_fail(rt, PG_ENOMEM, "out of memory");
    if (ob.len) memcpy(res, ob.p, ob.len);
    res[ob.len] = 0;
    *out = res;
    if (out_len) *out_len = ob.len;
    pg_arena_destroy(rt->arena);
    free(rt);
    return PG_OK;
}
