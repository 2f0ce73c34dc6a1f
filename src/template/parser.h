/* parser.h - AST of a compiled chat template.
 *
 * One node struct serves expressions and statements; which fields are used
 * depends on kind (listed per kind below). Nodes, strings and constant
 * values live in the compiling arena and are read-only after parsing, so a
 * compiled template may be rendered by several threads at once.
 * Filter and test names are resolved to builtin ids at parse time: an
 * unknown filter or test is a parse error, as in Jinja2. */
#ifndef PG_TEMPLATE_PARSER_H
#define PG_TEMPLATE_PARSER_H

#include "base/arena.h"
#include "base/error.h"
#include "template/value.h"

#include <stddef.h>

typedef enum {
    /* expressions */
    PG_N_CONST = 1, /* val */
    PG_N_NAME,      /* s */
    PG_N_LIST,      /* args */
    PG_N_TUPLE,     /* args */
    PG_N_DICT,      /* args = keys, kwargs = values */
    PG_N_GETATTR,   /* a . s */
    PG_N_GETITEM,   /* a [ b ] */
    PG_N_SLICE,     /* a [ b : c : d ], each of b c d may be NULL */
    PG_N_CALL,      /* a ( args, names=kwargs ) */
    PG_N_FILTER,    /* a | s(args, names=kwargs); builtin = filter id; a NULL in filter blocks */
    PG_N_TEST,      /* a is s(args); builtin = test id */
    PG_N_NOT,       /* a */
    PG_N_NEG,       /* a */
    PG_N_POS,       /* a */
    PG_N_BINOP,     /* a op b (ADD SUB MUL DIV FLOORDIV MOD POW) */
    PG_N_AND,       /* a b */
    PG_N_OR,        /* a b */
    PG_N_CONCAT,    /* args */
    PG_N_COMPARE,   /* a then (ops[i], args[i]) */
    PG_N_COND,      /* a if b else c (c may be NULL) */
    /* statements */
    PG_N_TEXT,      /* s */
    PG_N_OUTPUT,    /* a */
    PG_N_IF,        /* a: cond, body, else_body */
    PG_N_FOR,       /* a: target, b: iterable, c: filter cond or NULL, body, else_body */
    PG_N_SET,       /* a: target (NAME, TUPLE of NAMEs, GETATTR), b: value */
    PG_N_SETBLOCK,  /* a: target, body; c: filter chain (FILTER nodes with a = inner) or NULL */
    PG_N_MACRO,     /* s: name, names: params, args: defaults (NULL = none), body */
    PG_N_CALLBLOCK, /* a: call expr, names/args: caller params/defaults, body */
    PG_N_FILTERBLOCK, /* c: filter chain, body */
    PG_N_BREAK,
    PG_N_CONTINUE,
    PG_N_WITH,      /* names = targets, args = values, body */
    PG_N_BLOCKBODY, /* body rendered as is ({% generation %}) */
} pg_tpl_node_kind;

typedef struct pg_tpl_node pg_tpl_node;

typedef struct pg_tpl_nodes {
    pg_tpl_node **v;
    size_t n;
} pg_tpl_nodes;

struct pg_tpl_node {
    int kind;
    int op;       /* BINOP operator (pg_tpl_op) */
    int line;
    int builtin;  /* FILTER / TEST id */
    const char *s;
    size_t sn;
    pg_jv val;
    pg_tpl_node *a, *b, *c, *d;
    pg_tpl_nodes args;
    pg_tpl_nodes kwargs;
    const char **names;  /* kwarg names / params; NUL-terminated copies */
    size_t n_names;
    int *ops;            /* COMPARE operators, one per args entry */
    pg_tpl_nodes body, else_body;
    int uses_caller, uses_kwargs, uses_varargs; /* MACRO */
};

/* Parse a template (lexing included). Returns the top-level statement list
 * in *root. Errors: PG_EFORMAT with "line N: ...". */
int pg_tpl_parse(pg_arena *a, const char *src, size_t len, pg_tpl_nodes *root, pg_error *err);

#endif
