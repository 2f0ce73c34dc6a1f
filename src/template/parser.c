/* parser.c - recursive-descent parser mirroring Jinja2's grammar.
 *
 * Precedence (low to high): conditional `a if c else b`, or, and, not,
 * comparisons (chained, incl. in / not in), + -, ~, * / // %, ** (left
 * associative like Jinja2), unary - +, primary with postfix (.attr, [sub],
 * call) and then filters / tests. Statement structure follows Jinja2's
 * subparse: a block tag's body runs until one of the expected end tags.
 * Errors longjmp to pg_tpl_parse, which reports "line N: message". Nesting
 * is capped (expressions and blocks) so hostile input cannot exhaust the
 * stack here or later in the evaluator. */
#include "template/parser.h"

#include "template/builtins.h"
#include "template/lexer.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define MAX_EXPR_DEPTH 150
#define MAX_STMT_DEPTH 100

typedef struct P {
    pg_arena *a;
    pg_tpl_tok *t;
    size_t nt, i;
    pg_error *err;
    jmp_buf jb;
    int expr_depth, stmt_depth, loop_depth;
    pg_tpl_node *macro; /* innermost macro being parsed (for caller/kwargs use) */
} P;

static _Noreturn __attribute__((format(printf, 3, 4))) void fail(P *p, int line, const char *fmt, ...) {
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    pg_error_set(p->err, PG_EFORMAT, "line %d: %s", line, msg);
    longjmp(p->jb, 1);
}

static void *alloc(P *p, size_t n) {
    void *r = pg_arena_calloc(p->a, 1, n);
    if (!r) {
        pg_error_set(p->err, PG_ENOMEM, "out of memory");
        longjmp(p->jb, 2);
    }
    return r;
}

static pg_tpl_node *mk(P *p, int kind, int line) {
    pg_tpl_node *n = alloc(p, sizeof *n);
    n->kind = kind;
    n->line = line;
    return n;
}

/* growable node list */
typedef struct vec {
    pg_tpl_node **v;
    size_t n, cap;
} vec;

static void vpush(P *p, vec *v, pg_tpl_node *x) {
    if (v->n == v->cap) {
        size_t nc = v->cap ? v->cap * 2 : 4;
        pg_tpl_node **nv = alloc(p, nc * sizeof *nv);
        if (v->n) memcpy(nv, v->v, v->n * sizeof *nv);
        v->v = nv;
        v->cap = nc;
    }
    v->v[v->n++] = x;
}
static pg_tpl_nodes vdone(vec v) {
    pg_tpl_nodes r = {v.v, v.n};
    return r;
}

static pg_tpl_tok *cur(P *p) { return &p->t[p->i]; }
static pg_tpl_tok *peek(P *p, size_t k) { return p->i + k < p->nt ? &p->t[p->i + k] : &p->t[p->nt - 1]; }
static void next(P *p) {
    if (p->t[p->i].type != PG_TOK_EOF) p->i++;
}

static int is_op(P *p, int op) { return cur(p)->type == PG_TOK_OP && cur(p)->op == op; }
static int is_name(P *p, const char *nm) {
    pg_tpl_tok *t = cur(p);
    return t->type == PG_TOK_NAME && t->n == strlen(nm) && memcmp(t->p, nm, t->n) == 0;
}
static int tok_is_name(pg_tpl_tok *t, const char *nm) {
    return t->type == PG_TOK_NAME && t->n == strlen(nm) && memcmp(t->p, nm, t->n) == 0;
}

static const char *tok_desc(P *p, pg_tpl_tok *t, char *buf, size_t cap) {
    (void)p;
    switch (t->type) {
    case PG_TOK_EOF: return "end of template";
    case PG_TOK_TEXT: return "template data";
    case PG_TOK_VAR_BEGIN: return "'{{'";
    case PG_TOK_VAR_END: return "end of print statement";
    case PG_TOK_BLOCK_BEGIN: return "'{%'";
    case PG_TOK_BLOCK_END: return "end of statement block";
    case PG_TOK_NAME: snprintf(buf, cap, "'%.*s'", (int)(t->n > 60 ? 60 : t->n), t->p); return buf;
    case PG_TOK_STRING: return "string";
    case PG_TOK_INT: return "integer";
    case PG_TOK_FLOAT: return "float";
    case PG_TOK_OP: snprintf(buf, cap, "'%s'", pg_tpl_op_str(t->op)); return buf;
    }
    return "token";
}

static _Noreturn void unexpected(P *p, const char *want) {
    char b[96];
    fail(p, cur(p)->line, "expected %s, got %s", want, tok_desc(p, cur(p), b, sizeof b));
}

static void expect_op(P *p, int op) {
    if (!is_op(p, op)) {
        char w[16];
        snprintf(w, sizeof w, "'%s'", pg_tpl_op_str(op));
        unexpected(p, w);
    }
    next(p);
}

static void expect_type(P *p, int type, const char *what) {
    if (cur(p)->type != type) unexpected(p, what);
    next(p);
}

static const char *dup_tok(P *p, pg_tpl_tok *t) {
    char *s = alloc(p, t->n + 1);
    memcpy(s, t->p, t->n);
    return s;
}

static pg_tpl_tok *expect_name(P *p) {
    if (cur(p)->type != PG_TOK_NAME) unexpected(p, "name");
    pg_tpl_tok *t = cur(p);
    next(p);
    return t;
}

/* ------------------------------------------------------------ expressions */

static pg_tpl_node *parse_expression(P *p, int with_condexpr);
static pg_tpl_node *parse_unary(P *p, int with_filter);
static pg_tpl_node *parse_primary(P *p);
static pg_tpl_node *parse_postfix(P *p, pg_tpl_node *n);
static pg_tpl_node *parse_filter(P *p, pg_tpl_node *n, int start_inline);

static int is_tuple_end(P *p, const char **extra) {
    pg_tpl_tok *t = cur(p);
    if (t->type == PG_TOK_VAR_END || t->type == PG_TOK_BLOCK_END || t->type == PG_TOK_EOF) return 1;
    if (t->type == PG_TOK_OP && t->op == PG_OP_RPAREN) return 1;
    for (; extra && *extra; extra++)
        if (is_name(p, *extra)) return 1;
    return 0;
}

static pg_tpl_node *parse_tuple(P *p, int simplified, int with_condexpr, const char **extra,
                                int explicit_parens) {
    int line = cur(p)->line;
    vec args = {0};
    int is_tuple = 0;
    for (;;) {
        if (args.n) expect_op(p, PG_OP_COMMA);
        if (is_tuple_end(p, extra)) break;
        vpush(p, &args, simplified ? parse_primary(p) : parse_expression(p, with_condexpr));
        if (is_op(p, PG_OP_COMMA))
            is_tuple = 1;
        else
            break;
    }
    if (!is_tuple) {
        if (args.n) return args.v[0];
        if (!explicit_parens) unexpected(p, "an expression");
    }
    pg_tpl_node *n = mk(p, PG_N_TUPLE, line);
    n->args = vdone(args);
    return n;
}

static pg_tpl_node *parse_condexpr(P *p);
static pg_tpl_node *parse_or(P *p);

static pg_tpl_node *parse_expression(P *p, int with_condexpr) {
    if (with_condexpr) return parse_condexpr(p);
    return parse_or(p);
}

static pg_tpl_node *parse_and(P *p);
static pg_tpl_node *parse_not(P *p);
static pg_tpl_node *parse_compare(P *p);
static pg_tpl_node *parse_math1(P *p);

static pg_tpl_node *parse_or(P *p) {
    pg_tpl_node *l = parse_and(p);
    while (is_name(p, "or")) {
        int line = cur(p)->line;
        next(p);
        pg_tpl_node *n = mk(p, PG_N_OR, line);
        n->a = l;
        n->b = parse_and(p);
        l = n;
    }
    return l;
}

static pg_tpl_node *parse_condexpr(P *p) {
    pg_tpl_node *e1 = parse_or(p);
    while (is_name(p, "if")) {
        int line = cur(p)->line;
        next(p);
        pg_tpl_node *n = mk(p, PG_N_COND, line);
        n->a = e1;
        n->b = parse_or(p);
        if (is_name(p, "else")) {
            next(p);
            n->c = parse_condexpr(p);
        }
        e1 = n;
    }
    return e1;
}

static pg_tpl_node *parse_and(P *p) {
    pg_tpl_node *l = parse_not(p);
    while (is_name(p, "and")) {
        int line = cur(p)->line;
        next(p);
        pg_tpl_node *n = mk(p, PG_N_AND, line);
        n->a = l;
        n->b = parse_not(p);
        l = n;
    }
    return l;
}

static pg_tpl_node *parse_not(P *p) {
    if (is_name(p, "not")) {
        int line = cur(p)->line;
        next(p);
        if (++p->expr_depth > MAX_EXPR_DEPTH) fail(p, line, "expression nested too deeply");
        pg_tpl_node *n = mk(p, PG_N_NOT, line);
        n->a = parse_not(p);
        p->expr_depth--;
        return n;
    }
    return parse_compare(p);
}

static pg_tpl_node *parse_compare(P *p) {
    int line = cur(p)->line;
    pg_tpl_node *e = parse_math1(p);
    vec ops_nodes = {0};
    int ops[64];
    size_t nops = 0;
    for (;;) {
        int op = 0;
        pg_tpl_tok *t = cur(p);
        if (t->type == PG_TOK_OP && (t->op == PG_OP_EQ || t->op == PG_OP_NE || t->op == PG_OP_LT ||
                                     t->op == PG_OP_LE || t->op == PG_OP_GT || t->op == PG_OP_GE)) {
            op = t->op;
            next(p);
        } else if (is_name(p, "in")) {
            op = PG_OP_IN;
            next(p);
        } else if (is_name(p, "not") && tok_is_name(peek(p, 1), "in")) {
            op = PG_OP_NOTIN;
            next(p);
            next(p);
        } else {
            break;
        }
        if (nops >= 64) fail(p, line, "comparison chain too long");
        ops[nops++] = op;
        vpush(p, &ops_nodes, parse_math1(p));
    }
    if (!nops) return e;
    pg_tpl_node *n = mk(p, PG_N_COMPARE, line);
    n->a = e;
    n->args = vdone(ops_nodes);
    n->ops = alloc(p, nops * sizeof(int));
    memcpy(n->ops, ops, nops * sizeof(int));
    return n;
}

static pg_tpl_node *binop(P *p, int op, pg_tpl_node *l, pg_tpl_node *r, int line) {
    pg_tpl_node *n = mk(p, PG_N_BINOP, line);
    n->op = op;
    n->a = l;
    n->b = r;
    return n;
}

static pg_tpl_node *parse_pow(P *p) {
    pg_tpl_node *l = parse_unary(p, 1);
    while (is_op(p, PG_OP_POW)) {
        int line = cur(p)->line;
        next(p);
        l = binop(p, PG_OP_POW, l, parse_unary(p, 1), line);
    }
    return l;
}

static pg_tpl_node *parse_math2(P *p) {
    pg_tpl_node *l = parse_pow(p);
    while (is_op(p, PG_OP_MUL) || is_op(p, PG_OP_DIV) || is_op(p, PG_OP_FLOORDIV) || is_op(p, PG_OP_MOD)) {
        int op = cur(p)->op, line = cur(p)->line;
        next(p);
        l = binop(p, op, l, parse_pow(p), line);
    }
    return l;
}

static pg_tpl_node *parse_concat(P *p) {
    int line = cur(p)->line;
    pg_tpl_node *l = parse_math2(p);
    if (!is_op(p, PG_OP_TILDE)) return l;
    vec args = {0};
    vpush(p, &args, l);
    while (is_op(p, PG_OP_TILDE)) {
        next(p);
        vpush(p, &args, parse_math2(p));
    }
    pg_tpl_node *n = mk(p, PG_N_CONCAT, line);
    n->args = vdone(args);
    return n;
}

static pg_tpl_node *parse_math1(P *p) {
    pg_tpl_node *l = parse_concat(p);
    while (is_op(p, PG_OP_ADD) || is_op(p, PG_OP_SUB)) {
        int op = cur(p)->op, line = cur(p)->line;
        next(p);
        l = binop(p, op, l, parse_concat(p), line);
    }
    return l;
}

static pg_tpl_node *parse_unary(P *p, int with_filter) {
    int line = cur(p)->line;
    if (++p->expr_depth > MAX_EXPR_DEPTH) fail(p, line, "expression nested too deeply");
    pg_tpl_node *n;
    if (is_op(p, PG_OP_SUB) || is_op(p, PG_OP_ADD)) {
        int neg = is_op(p, PG_OP_SUB);
        next(p);
        n = mk(p, neg ? PG_N_NEG : PG_N_POS, line);
        n->a = parse_unary(p, 0);
    } else {
        n = parse_primary(p);
    }
    n = parse_postfix(p, n);
    if (with_filter) n = parse_filter(p, n, 0);
    p->expr_depth--;
    return n;
}

static void parse_call_args(P *p, pg_tpl_node *n) {
    expect_op(p, PG_OP_LPAREN);
    vec args = {0}, kwargs = {0};
    const char *names[64];
    size_t nn = 0;
    while (!is_op(p, PG_OP_RPAREN)) {
        if (args.n || kwargs.n) {
            expect_op(p, PG_OP_COMMA);
            if (is_op(p, PG_OP_RPAREN)) break;
        }
        if (is_op(p, PG_OP_MUL) || is_op(p, PG_OP_POW))
            fail(p, cur(p)->line, "*args / **kwargs in calls are not supported");
        if (cur(p)->type == PG_TOK_NAME && peek(p, 1)->type == PG_TOK_OP && peek(p, 1)->op == PG_OP_ASSIGN) {
            if (nn >= 64) fail(p, cur(p)->line, "too many keyword arguments");
            names[nn++] = dup_tok(p, cur(p));
            next(p);
            next(p);
            vpush(p, &kwargs, parse_expression(p, 1));
        } else {
            if (kwargs.n) fail(p, cur(p)->line, "positional argument follows keyword argument");
            vpush(p, &args, parse_expression(p, 1));
        }
    }
    next(p);
    n->args = vdone(args);
    n->kwargs = vdone(kwargs);
    n->n_names = nn;
    if (nn) {
        n->names = alloc(p, nn * sizeof(char *));
        memcpy(n->names, names, nn * sizeof(char *));
    }
}

static pg_tpl_node *parse_filter(P *p, pg_tpl_node *node, int start_inline) {
    for (;;) {
        if (is_op(p, PG_OP_PIPE) && !start_inline) {
            next(p);
        } else if (is_name(p, "is") && !start_inline && node) {
            int line = cur(p)->line;
            next(p);
            int negated = 0;
            if (is_name(p, "not")) {
                negated = 1;
                next(p);
            }
            pg_tpl_tok *nt = expect_name(p);
            pg_tpl_node *t = mk(p, PG_N_TEST, line);
            t->a = node;
            t->s = dup_tok(p, nt);
            t->sn = nt->n;
            t->builtin = pg_tpl_test_id(nt->p, nt->n);
            if (t->builtin < 0) fail(p, line, "no test named '%.*s'", (int)nt->n, nt->p);
            pg_tpl_tok *c = cur(p);
            if (is_op(p, PG_OP_LPAREN)) {
                parse_call_args(p, t);
            } else if ((c->type == PG_TOK_NAME || c->type == PG_TOK_STRING || c->type == PG_TOK_INT ||
                        c->type == PG_TOK_FLOAT ||
                        (c->type == PG_TOK_OP && (c->op == PG_OP_LBRACKET || c->op == PG_OP_LBRACE))) &&
                       !is_name(p, "else") && !is_name(p, "or") && !is_name(p, "and")) {
                if (is_name(p, "is")) fail(p, c->line, "You cannot chain multiple tests with is");
                vec args = {0};
                if (++p->expr_depth > MAX_EXPR_DEPTH) fail(p, line, "expression nested too deeply");
                vpush(p, &args, parse_postfix(p, parse_primary(p)));
                p->expr_depth--;
                t->args = vdone(args);
            }
            node = t;
            if (negated) {
                pg_tpl_node *nn = mk(p, PG_N_NOT, line);
                nn->a = t;
                node = nn;
            }
            continue;
        } else if (is_op(p, PG_OP_LPAREN) && !start_inline && node) {
            pg_tpl_node *c = mk(p, PG_N_CALL, cur(p)->line);
            c->a = node;
            parse_call_args(p, c);
            node = c;
            continue;
        } else if (!start_inline) {
            return node;
        }
        start_inline = 0;
        int line = cur(p)->line;
        pg_tpl_tok *nt = expect_name(p);
        pg_tpl_node *f = mk(p, PG_N_FILTER, line);
        f->a = node;
        f->s = dup_tok(p, nt);
        f->sn = nt->n;
        f->builtin = pg_tpl_filter_id(nt->p, nt->n);
        if (f->builtin < 0) fail(p, line, "no filter named '%.*s'", (int)nt->n, nt->p);
        if (is_op(p, PG_OP_LPAREN)) parse_call_args(p, f);
        node = f;
    }
}

static pg_tpl_node *parse_subscribed(P *p) {
    int line = cur(p)->line;
    pg_tpl_node *parts[3] = {NULL, NULL, NULL};
    if (is_op(p, PG_OP_COLON)) {
        next(p);
    } else {
        pg_tpl_node *e = parse_expression(p, 1);
        if (!is_op(p, PG_OP_COLON)) return e;
        next(p);
        parts[0] = e;
    }
    if (!is_op(p, PG_OP_COLON) && !is_op(p, PG_OP_RBRACKET) && !is_op(p, PG_OP_COMMA))
        parts[1] = parse_expression(p, 1);
    if (is_op(p, PG_OP_COLON)) {
        next(p);
        if (!is_op(p, PG_OP_RBRACKET) && !is_op(p, PG_OP_COMMA)) parts[2] = parse_expression(p, 1);
    }
    pg_tpl_node *s = mk(p, PG_N_SLICE, line);
    s->b = parts[0];
    s->c = parts[1];
    s->d = parts[2];
    return s;
}

static pg_tpl_node *parse_postfix(P *p, pg_tpl_node *node) {
    for (;;) {
        int line = cur(p)->line;
        if (is_op(p, PG_OP_DOT)) {
            next(p);
            pg_tpl_tok *t = cur(p);
            if (t->type == PG_TOK_NAME) {
                pg_tpl_node *n = mk(p, PG_N_GETATTR, line);
                n->a = node;
                n->s = dup_tok(p, t);
                n->sn = t->n;
                next(p);
                node = n;
            } else if (t->type == PG_TOK_INT) {
                pg_tpl_node *k = mk(p, PG_N_CONST, line);
                k->val = pg_jv_int(t->i);
                pg_tpl_node *n = mk(p, PG_N_GETITEM, line);
                n->a = node;
                n->b = k;
                next(p);
                node = n;
            } else {
                unexpected(p, "name or number");
            }
        } else if (is_op(p, PG_OP_LBRACKET)) {
            next(p);
            vec args = {0};
            while (!is_op(p, PG_OP_RBRACKET)) {
                if (args.n) expect_op(p, PG_OP_COMMA);
                if (is_op(p, PG_OP_RBRACKET)) break;
                vpush(p, &args, parse_subscribed(p));
            }
            expect_op(p, PG_OP_RBRACKET);
            if (!args.n) fail(p, line, "expected subscript expression");
            pg_tpl_node *n = mk(p, PG_N_GETITEM, line);
            n->a = node;
            if (args.n == 1) {
                n->b = args.v[0];
            } else {
                pg_tpl_node *t = mk(p, PG_N_TUPLE, line);
                t->args = vdone(args);
                n->b = t;
            }
            node = n;
        } else if (is_op(p, PG_OP_LPAREN)) {
            pg_tpl_node *c = mk(p, PG_N_CALL, line);
            c->a = node;
            parse_call_args(p, c);
            node = c;
        } else {
            return node;
        }
    }
}

static pg_tpl_node *parse_primary(P *p) {
    pg_tpl_tok *t = cur(p);
    int line = t->line;
    pg_tpl_node *n;
    if (t->type == PG_TOK_NAME) {
        n = mk(p, PG_N_CONST, line);
        if (tok_is_name(t, "true") || tok_is_name(t, "True"))
            n->val = pg_jv_bool(1);
        else if (tok_is_name(t, "false") || tok_is_name(t, "False"))
            n->val = pg_jv_bool(0);
        else if (tok_is_name(t, "none") || tok_is_name(t, "None"))
            n->val = pg_jv_none();
        else {
            n->kind = PG_N_NAME;
            n->s = dup_tok(p, t);
            n->sn = t->n;
            if (p->macro) {
                if (tok_is_name(t, "caller")) p->macro->uses_caller = 1;
                if (tok_is_name(t, "kwargs")) p->macro->uses_kwargs = 1;
                if (tok_is_name(t, "varargs")) p->macro->uses_varargs = 1;
            }
        }
        next(p);
        return n;
    }
    if (t->type == PG_TOK_STRING) {
        /* adjacent literals concatenate */
        size_t total = 0, k = p->i;
        while (p->t[k].type == PG_TOK_STRING) total += p->t[k++].n;
        char *s = alloc(p, total + 1);
        size_t o = 0;
        while (cur(p)->type == PG_TOK_STRING) {
            memcpy(s + o, cur(p)->p, cur(p)->n);
            o += cur(p)->n;
            next(p);
        }
        n = mk(p, PG_N_CONST, line);
        n->val = pg_jv_str_ref(s, o);
        return n;
    }
    if (t->type == PG_TOK_INT || t->type == PG_TOK_FLOAT) {
        n = mk(p, PG_N_CONST, line);
        n->val = t->type == PG_TOK_INT ? pg_jv_int(t->i) : pg_jv_float(t->f);
        next(p);
        return n;
    }
    if (is_op(p, PG_OP_LPAREN)) {
        next(p);
        n = parse_tuple(p, 0, 1, NULL, 1);
        expect_op(p, PG_OP_RPAREN);
        return n;
    }
    if (is_op(p, PG_OP_LBRACKET)) {
        next(p);
        vec items = {0};
        while (!is_op(p, PG_OP_RBRACKET)) {
            if (items.n) expect_op(p, PG_OP_COMMA);
            if (is_op(p, PG_OP_RBRACKET)) break;
            vpush(p, &items, parse_expression(p, 1));
        }
        expect_op(p, PG_OP_RBRACKET);
        n = mk(p, PG_N_LIST, line);
        n->args = vdone(items);
        return n;
    }
    if (is_op(p, PG_OP_LBRACE)) {
        next(p);
        vec keys = {0}, vals = {0};
        while (!is_op(p, PG_OP_RBRACE)) {
            if (keys.n) expect_op(p, PG_OP_COMMA);
            if (is_op(p, PG_OP_RBRACE)) break;
            vpush(p, &keys, parse_expression(p, 1));
            expect_op(p, PG_OP_COLON);
            vpush(p, &vals, parse_expression(p, 1));
        }
        expect_op(p, PG_OP_RBRACE);
        n = mk(p, PG_N_DICT, line);
        n->args = vdone(keys);
        n->kwargs = vdone(vals);
        return n;
    }
    unexpected(p, "an expression");
}

/* ------------------------------------------------------------- statements */

static pg_tpl_nodes subparse(P *p, const char **end_tags);

static _Noreturn void fail_eof(P *p, const char **end_tags) {
    char want[200] = "";
    size_t o = 0;
    for (const char **e = end_tags; e && *e && o < sizeof want - 40; e++)
        o += (size_t)snprintf(want + o, sizeof want - o, "%s'%s'", e == end_tags ? "" : " or ", *e);
    if (o)
        fail(p, cur(p)->line, "unexpected end of template; looking for the tag %s", want);
    fail(p, cur(p)->line, "unexpected end of template");
}

/* Body up to one of end_tags; the end tag name is left current unless
 * drop_needle (then consumed). */
static pg_tpl_nodes parse_statements(P *p, const char **end_tags, int drop_needle) {
    if (is_op(p, PG_OP_COLON)) next(p);
    expect_type(p, PG_TOK_BLOCK_END, "end of statement block");
    pg_tpl_nodes body = subparse(p, end_tags);
    if (cur(p)->type == PG_TOK_EOF) fail_eof(p, end_tags);
    if (drop_needle) next(p);
    return body;
}

static pg_tpl_node *parse_assign_target(P *p, int with_namespace, const char **extra) {
    int line = cur(p)->line;
    if (with_namespace && cur(p)->type == PG_TOK_NAME && peek(p, 1)->type == PG_TOK_OP &&
        peek(p, 1)->op == PG_OP_DOT && peek(p, 2)->type == PG_TOK_NAME) {
        pg_tpl_node *ns = mk(p, PG_N_NAME, line);
        ns->s = dup_tok(p, cur(p));
        ns->sn = cur(p)->n;
        next(p);
        next(p);
        pg_tpl_node *n = mk(p, PG_N_GETATTR, line);
        n->a = ns;
        n->s = dup_tok(p, cur(p));
        n->sn = cur(p)->n;
        next(p);
        return n;
    }
    pg_tpl_node *t = parse_tuple(p, 1, 0, extra, 0);
    if (t->kind == PG_N_NAME) return t;
    if (t->kind == PG_N_TUPLE) {
        for (size_t i = 0; i < t->args.n; i++)
            if (t->args.v[i]->kind != PG_N_NAME) fail(p, line, "can't assign to this target");
        return t;
    }
    fail(p, line, "can't assign to %s", t->kind == PG_N_CONST ? "a literal" : "this expression");
}

static void parse_signature(P *p, pg_tpl_node *n) {
    expect_op(p, PG_OP_LPAREN);
    vec defs = {0};
    const char *names[64];
    size_t nn = 0;
    while (!is_op(p, PG_OP_RPAREN)) {
        if (nn) expect_op(p, PG_OP_COMMA);
        if (is_op(p, PG_OP_RPAREN)) break;
        pg_tpl_tok *t = expect_name(p);
        if (nn >= 64) fail(p, t->line, "too many macro parameters");
        names[nn++] = dup_tok(p, t);
        if (is_op(p, PG_OP_ASSIGN)) {
            next(p);
            vpush(p, &defs, parse_expression(p, 1));
        } else {
            if (defs.n && defs.v[defs.n - 1]) fail(p, t->line, "non-default argument follows default argument");
            vpush(p, &defs, NULL);
        }
    }
    next(p);
    n->names = alloc(p, (nn ? nn : 1) * sizeof(char *));
    memcpy(n->names, names, nn * sizeof(char *));
    n->n_names = nn;
    n->args = vdone(defs);
}

/* {% if %} ... {% elif %} ... {% else %} ... {% endif %}: elif chains nest as
 * IF nodes in else_body. */
static pg_tpl_node *parse_if(P *p, int line) {
    next(p);
    pg_tpl_node *n = mk(p, PG_N_IF, line);
    pg_tpl_node *node = n;
    for (;;) {
        node->a = parse_tuple(p, 0, 0, NULL, 0);
        static const char *ends[] = {"elif", "else", "endif", NULL};
        node->body = parse_statements(p, ends, 0);
        if (is_name(p, "elif")) {
            int l2 = cur(p)->line;
            next(p);
            pg_tpl_node *e = mk(p, PG_N_IF, l2);
            pg_tpl_node **one = alloc(p, sizeof *one);
            one[0] = e;
            node->else_body.v = one;
            node->else_body.n = 1;
            node = e;
            continue;
        }
        if (is_name(p, "else")) {
            next(p);
            static const char *ende[] = {"endif", NULL};
            node->else_body = parse_statements(p, ende, 1);
        } else {
            next(p);
        }
        break;
    }
    return n;
}

/* {% for target in iter [if cond] %} ... [{% else %} ...] {% endfor %} */
static pg_tpl_node *parse_for(P *p, int line) {
    next(p);
    pg_tpl_node *n = mk(p, PG_N_FOR, line);
    static const char *in_end[] = {"in", NULL};
    n->a = parse_assign_target(p, 0, in_end);
    if (!is_name(p, "in")) unexpected(p, "'in'");
    next(p);
    static const char *rec_end[] = {"recursive", NULL};
    n->b = parse_tuple(p, 0, 0, rec_end, 0);
    if (is_name(p, "if")) {
        next(p);
        n->c = parse_expression(p, 1);
    }
    if (is_name(p, "recursive")) fail(p, line, "recursive loops are not supported");
    p->loop_depth++;
    static const char *ends[] = {"endfor", "else", NULL};
    n->body = parse_statements(p, ends, 0);
    p->loop_depth--;
    if (is_name(p, "else")) {
        next(p);
        static const char *endf[] = {"endfor", NULL};
        n->else_body = parse_statements(p, endf, 1);
    } else {
        next(p);
    }
    return n;
}

static pg_tpl_node *parse_statement(P *p) {
    pg_tpl_tok *t = cur(p);
    int line = t->line;
    if (t->type != PG_TOK_NAME) unexpected(p, "tag name");
    if (++p->stmt_depth > MAX_STMT_DEPTH) fail(p, line, "blocks nested too deeply");
    pg_tpl_node *n = NULL;
    if (tok_is_name(t, "if")) {
        n = parse_if(p, line);
    } else if (tok_is_name(t, "for")) {
        n = parse_for(p, line);
    } else if (tok_is_name(t, "set")) {
        next(p);
        pg_tpl_node *target = parse_assign_target(p, 1, NULL);
        if (is_op(p, PG_OP_ASSIGN)) {
            next(p);
            n = mk(p, PG_N_SET, line);
            n->a = target;
            n->b = parse_tuple(p, 0, 1, NULL, 0);
        } else {
            n = mk(p, PG_N_SETBLOCK, line);
            n->a = target;
            if (is_op(p, PG_OP_PIPE)) {
                next(p);
                n->c = parse_filter(p, NULL, 1);
            }
            static const char *ends[] = {"endset", NULL};
            n->body = parse_statements(p, ends, 1);
        }
    } else if (tok_is_name(t, "macro")) {
        next(p);
        n = mk(p, PG_N_MACRO, line);
        pg_tpl_tok *nm = expect_name(p);
        n->s = dup_tok(p, nm);
        n->sn = nm->n;
        parse_signature(p, n);
        pg_tpl_node *saved = p->macro;
        int saved_loop = p->loop_depth;
        p->macro = n;
        p->loop_depth = 0;
        static const char *ends[] = {"endmacro", NULL};
        n->body = parse_statements(p, ends, 1);
        p->macro = saved;
        p->loop_depth = saved_loop;
    } else if (tok_is_name(t, "call")) {
        next(p);
        n = mk(p, PG_N_CALLBLOCK, line);
        if (is_op(p, PG_OP_LPAREN))
            parse_signature(p, n);
        else
            n->names = alloc(p, sizeof(char *));
        n->a = parse_expression(p, 1);
        if (n->a->kind != PG_N_CALL) fail(p, line, "expected call");
        pg_tpl_node *saved = p->macro;
        int saved_loop = p->loop_depth;
        p->macro = n;
        p->loop_depth = 0;
        static const char *ends[] = {"endcall", NULL};
        n->body = parse_statements(p, ends, 1);
        p->macro = saved;
        p->loop_depth = saved_loop;
    } else if (tok_is_name(t, "filter")) {
        next(p);
        n = mk(p, PG_N_FILTERBLOCK, line);
        n->c = parse_filter(p, NULL, 1);
        static const char *ends[] = {"endfilter", NULL};
        n->body = parse_statements(p, ends, 1);
    } else if (tok_is_name(t, "break") || tok_is_name(t, "continue")) {
        if (!p->loop_depth)
            fail(p, line, "'%.*s' outside of a loop", (int)t->n, t->p);
        n = mk(p, tok_is_name(t, "break") ? PG_N_BREAK : PG_N_CONTINUE, line);
        next(p);
    } else if (tok_is_name(t, "with")) {
        next(p);
        n = mk(p, PG_N_WITH, line);
        vec vals = {0};
        const char *names[64];
        size_t nn = 0;
        while (cur(p)->type != PG_TOK_BLOCK_END) {
            if (nn) expect_op(p, PG_OP_COMMA);
            pg_tpl_tok *nm = expect_name(p);
            if (nn >= 64) fail(p, line, "too many with targets");
            names[nn++] = dup_tok(p, nm);
            expect_op(p, PG_OP_ASSIGN);
            vpush(p, &vals, parse_expression(p, 1));
        }
        n->names = alloc(p, (nn ? nn : 1) * sizeof(char *));
        memcpy(n->names, names, nn * sizeof(char *));
        n->n_names = nn;
        n->args = vdone(vals);
        static const char *ends[] = {"endwith", NULL};
        n->body = parse_statements(p, ends, 1);
    } else if (tok_is_name(t, "generation")) {
        next(p);
        n = mk(p, PG_N_BLOCKBODY, line);
        static const char *ends[] = {"endgeneration", NULL};
        n->body = parse_statements(p, ends, 1);
    } else {
        fail(p, line, "encountered unknown tag '%.*s'", (int)(t->n > 60 ? 60 : t->n), t->p);
    }
    p->stmt_depth--;
    return n;
}

static pg_tpl_nodes subparse(P *p, const char **end_tags) {
    vec body = {0};
    for (;;) {
        pg_tpl_tok *t = cur(p);
        if (t->type == PG_TOK_EOF) break;
        if (t->type == PG_TOK_TEXT) {
            pg_tpl_node *n = mk(p, PG_N_TEXT, t->line);
            n->s = t->p;
            n->sn = t->n;
            vpush(p, &body, n);
            next(p);
        } else if (t->type == PG_TOK_VAR_BEGIN) {
            next(p);
            pg_tpl_node *n = mk(p, PG_N_OUTPUT, t->line);
            n->a = parse_tuple(p, 0, 1, NULL, 0);
            expect_type(p, PG_TOK_VAR_END, "end of print statement");
            vpush(p, &body, n);
        } else if (t->type == PG_TOK_BLOCK_BEGIN) {
            next(p);
            for (const char **e = end_tags; e && *e; e++)
                if (is_name(p, *e)) return vdone(body);
            vpush(p, &body, parse_statement(p));
            expect_type(p, PG_TOK_BLOCK_END, "end of statement block");
        } else {
            char b[96];
            fail(p, t->line, "unexpected %s", tok_desc(p, t, b, sizeof b));
        }
    }
    return vdone(body);
}

int pg_tpl_parse(pg_arena *a, const char *src, size_t len, pg_tpl_nodes *root, pg_error *err) {
    P p;
    memset(&p, 0, sizeof p);
    p.a = a;
    p.err = err;
    int rc = pg_tpl_lex(a, src, len, &p.t, &p.nt, err);
    if (rc) return rc;
    if (setjmp(p.jb)) return err ? err->code : PG_EFORMAT;
    *root = subparse(&p, NULL);
    if (cur(&p)->type != PG_TOK_EOF) {
        char b[96];
        fail(&p, cur(&p)->line, "unexpected %s", tok_desc(&p, cur(&p), b, sizeof b));
    }
    return PG_OK;
}
