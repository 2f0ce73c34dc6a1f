/* lexer.h - tokenizer for the Jinja2 subset used by chat templates.
 *
 * Applies the environment transformers uses: newlines normalised to "\n",
 * one trailing newline dropped (keep_trailing_newline=False),
 * trim_blocks=True, lstrip_blocks=True, "-" / "+" whitespace control on
 * tags. Comments disappear; {% raw %} bodies become TEXT tokens. Tag
 * contents become NAME / STRING (unescaped) / INT / FLOAT / OP tokens.
 * Every token has a 1-based line. Token text points into the normalised
 * source or the arena, both owned by the caller's arena. */
#ifndef PG_TEMPLATE_LEXER_H
#define PG_TEMPLATE_LEXER_H

#include "base/arena.h"
#include "base/error.h"

#include <stddef.h>
#include <stdint.h>

typedef enum {
    PG_TOK_EOF = 0,
    PG_TOK_TEXT,
    PG_TOK_VAR_BEGIN,
    PG_TOK_VAR_END,
    PG_TOK_BLOCK_BEGIN,
    PG_TOK_BLOCK_END,
    PG_TOK_NAME,
    PG_TOK_STRING,
    PG_TOK_INT,
    PG_TOK_FLOAT,
    PG_TOK_OP,
} pg_tpl_tok_type;

typedef enum {
    PG_OP_NONE = 0,
    PG_OP_ADD, PG_OP_SUB, PG_OP_MUL, PG_OP_DIV, PG_OP_FLOORDIV, PG_OP_POW, PG_OP_MOD,
    PG_OP_TILDE, PG_OP_LBRACKET, PG_OP_RBRACKET, PG_OP_LPAREN, PG_OP_RPAREN,
    PG_OP_LBRACE, PG_OP_RBRACE, PG_OP_EQ, PG_OP_NE, PG_OP_LT, PG_OP_LE, PG_OP_GT,
    PG_OP_GE, PG_OP_ASSIGN, PG_OP_DOT, PG_OP_COLON, PG_OP_PIPE, PG_OP_COMMA,
    PG_OP_SEMICOLON,
    /* used by the parser for `in` / `not in` comparisons */
    PG_OP_IN, PG_OP_NOTIN,
} pg_tpl_op;

typedef struct pg_tpl_tok {
    uint8_t type;  /* pg_tpl_tok_type */
    uint8_t op;    /* pg_tpl_op for PG_TOK_OP */
    int line;
    const char *p; /* NAME / STRING / TEXT bytes (not NUL-terminated) */
    size_t n;
    int64_t i;     /* INT */
    double f;      /* FLOAT */
} pg_tpl_tok;

/* Tokenize src. On success *toks (arena) ends with a PG_TOK_EOF token.
 * Errors: PG_EFORMAT with "line N: ..." in err. */
int pg_tpl_lex(pg_arena *a, const char *src, size_t len, pg_tpl_tok **toks, size_t *n_toks,
               pg_error *err);

const char *pg_tpl_op_str(int op);

#endif
