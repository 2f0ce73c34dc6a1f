/* lexer.c - one pass over the normalised source.
 *
 * Outside tags we look for the next "{{", "{%" or "{#". The text before a
 * tag is trimmed as Jinja2 does: a "-" after the opening delimiter strips
 * all whitespace before it; otherwise, for block and comment tags (not
 * {{ }}), lstrip_blocks removes spaces/tabs between the start of the line
 * and the tag. "line_starting" remembers whether the previous tag ended at
 * a newline, which makes the start of the next text count as a line start.
 * Inside tags a small scanner produces tokens; an end delimiter only counts
 * while brackets are balanced (so `{{ {'a': {}} }}` works). Block/comment
 * end "%}" eats one following "\n" (trim_blocks), "-%}" eats all following
 * whitespace, "+%}" eats nothing. */
#include "template/lexer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct lexer {
    pg_arena *a;
    const char *s;
    size_t n, pos;
    int line;
    pg_tpl_tok *toks;
    size_t nt, cap;
    pg_error *err;
    int failed;
} lexer;

static const char *op_names[] = {
    "", "+", "-", "*", "/", "//", "**", "%", "~", "[", "]", "(", ")", "{", "}",
    "==", "!=", "<", "<=", ">", ">=", "=", ".", ":", "|", ",", ";", "in", "not in",
};

const char *pg_tpl_op_str(int op) {
    if (op < 0 || op >= (int)(sizeof op_names / sizeof op_names[0])) return "?";
    return op_names[op];
}

static int fail(lexer *L, int line, const char *msg) {
    if (!L->failed) pg_error_set(L->err, PG_EFORMAT, "line %d: %s", line, msg);
    L->failed = 1;
    return PG_EFORMAT;
}

static pg_tpl_tok *push(lexer *L, int type, int line) {
    if (L->nt == L->cap) {
        size_t nc = L->cap ? L->cap * 2 : 256;
        pg_tpl_tok *t = pg_arena_calloc(L->a, nc, sizeof *t);
        if (!t) {
            pg_error_set(L->err, PG_ENOMEM, "out of memory");
            L->failed = 1;
            return NULL;
        }
        if (L->nt) memcpy(t, L->toks, L->nt * sizeof *t);
        L->toks = t;
        L->cap = nc;
    }
    pg_tpl_tok *t = &L->toks[L->nt++];
    memset(t, 0, sizeof *t);
    t->type = (uint8_t)type;
    t->line = line;
    return t;
}

/* Python's \s on str for the ASCII range (str.strip/rstrip too). */
static int is_ws(unsigned char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v' ||
           (c >= 0x1c && c <= 0x1f);
}

static int count_nl(const char *p, size_t n) {
    int c = 0;
    for (size_t i = 0; i < n; i++) c += p[i] == '\n';
    return c;
}

/* Strip rule for the text before a tag. sign: '-', '+' or 0. */
static size_t trim_text(const char *t, size_t n, int sign, int kind_var, int line_starting) {
    if (sign == '-') {
        while (n && is_ws((unsigned char)t[n - 1])) n--;
        return n;
    }
    if (sign == '+' || kind_var) return n;
    size_t l = n;
    while (l && t[l - 1] != '\n') l--;
    if (l == 0 && !line_starting) return n;
    if (l == n) return n;
    for (size_t i = l; i < n; i++)
        if (!is_ws((unsigned char)t[i])) return n;
    return l;
}

static void emit_text(lexer *L, const char *p, size_t n, int line) {
    if (!n) return;
    pg_tpl_tok *t = push(L, PG_TOK_TEXT, line);
    if (!t) return;
    t->p = p;
    t->n = n;
}

static void put_utf8(char *out, size_t *o, uint32_t c) {
    if (c < 0x80) {
        out[(*o)++] = (char)c;
    } else if (c < 0x800) {
        out[(*o)++] = (char)(0xC0 | (c >> 6));
        out[(*o)++] = (char)(0x80 | (c & 0x3F));
    } else if (c < 0x10000) {
        out[(*o)++] = (char)(0xE0 | (c >> 12));
        out[(*o)++] = (char)(0x80 | ((c >> 6) & 0x3F));
        out[(*o)++] = (char)(0x80 | (c & 0x3F));
    } else {
        out[(*o)++] = (char)(0xF0 | (c >> 18));
        out[(*o)++] = (char)(0x80 | ((c >> 12) & 0x3F));
        out[(*o)++] = (char)(0x80 | ((c >> 6) & 0x3F));
        out[(*o)++] = (char)(0x80 | (c & 0x3F));
    }
}

static int hexval(int c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Python "unicode-escape" decoding of a string literal body. Output is
 * never longer than the input (every escape is at least as long as its
 * UTF-8 encoding), so one allocation of n bytes suffices. */
static int lex_string(lexer *L, int line) {
    char q = L->s[L->pos];
    size_t start = ++L->pos;
    while (L->pos < L->n && L->s[L->pos] != q) {
        if (L->s[L->pos] == '\\' && L->pos + 1 < L->n) L->pos++;
        L->pos++;
    }
    if (L->pos >= L->n) return fail(L, line, "unexpected end of string");
    size_t end = L->pos++;
    L->line += count_nl(L->s + start, end - start);
    char *out = pg_arena_alloc(L->a, end - start + 1);
    if (!out) return fail(L, line, "out of memory");
    size_t o = 0;
    for (size_t i = start; i < end;) {
        char c = L->s[i];
        if (c != '\\') {
            out[o++] = c;
            i++;
            continue;
        }
        char e = L->s[i + 1];
        i += 2;
        switch (e) {
        case '\n': break;
        case '\\': out[o++] = '\\'; break;
        case '\'': out[o++] = '\''; break;
        case '"': out[o++] = '"'; break;
        case 'a': out[o++] = '\a'; break;
        case 'b': out[o++] = '\b'; break;
        case 'f': out[o++] = '\f'; break;
        case 'n': out[o++] = '\n'; break;
        case 'r': out[o++] = '\r'; break;
        case 't': out[o++] = '\t'; break;
        case 'v': out[o++] = '\v'; break;
        case 'x':
        case 'u':
        case 'U': {
            int nd = e == 'x' ? 2 : e == 'u' ? 4 : 8;
            uint32_t v = 0;
            for (int k = 0; k < nd; k++) {
                int h = i + (size_t)k < end ? hexval((unsigned char)L->s[i + (size_t)k]) : -1;
                if (h < 0) return fail(L, line, "truncated \\x / \\u escape in string literal");
                v = v * 16 + (uint32_t)h;
            }
            if (v > 0x10FFFF) return fail(L, line, "illegal Unicode character in string literal");
            i += (size_t)nd;
            put_utf8(out, &o, v);
            break;
        }
        default:
            if (e >= '0' && e <= '7') {
                uint32_t v = (uint32_t)(e - '0');
                for (int k = 0; k < 2 && i < end && L->s[i] >= '0' && L->s[i] <= '7'; k++)
                    v = v * 8 + (uint32_t)(L->s[i++] - '0');
                put_utf8(out, &o, v);
            } else {
                out[o++] = '\\';
                out[o++] = e;
            }
        }
    }
    pg_tpl_tok *t = push(L, PG_TOK_STRING, line);
    if (!t) return PG_ENOMEM;
    t->p = out;
    t->n = o;
    return PG_OK;
}

static int is_digit(char c) { return c >= '0' && c <= '9'; }
static int is_name0(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
static int is_name(char c) { return is_name0(c) || is_digit(c); }

/* digits with optional single underscores between them; copies digits to buf */
static size_t scan_digits(lexer *L, size_t p, char *buf, size_t *bl, size_t cap) {
    while (p < L->n && (is_digit(L->s[p]) || (L->s[p] == '_' && p + 1 < L->n && is_digit(L->s[p + 1]) &&
                                               p > 0 && is_digit(L->s[p - 1])))) {
        if (L->s[p] != '_' && *bl + 1 < cap) buf[(*bl)++] = L->s[p];
        p++;
    }
    return p;
}

static int lex_number(lexer *L, int line) {
    char buf[128];
    size_t bl = 0;
    size_t p = L->pos;
    if (L->s[p] == '0' && p + 1 < L->n && strchr("xXoObB", L->s[p + 1]) && L->s[p + 1]) {
        int base = (L->s[p + 1] | 0x20) == 'x' ? 16 : (L->s[p + 1] | 0x20) == 'o' ? 8 : 2;
        p += 2;
        uint64_t v = 0;
        int nd = 0;
        while (p < L->n && (hexval((unsigned char)L->s[p]) >= 0 || L->s[p] == '_')) {
            if (L->s[p] != '_') {
                int h = hexval((unsigned char)L->s[p]);
                if (h >= base) break;
                if (v > (UINT64_MAX >> 1) / (uint64_t)base) return fail(L, line, "integer literal too large");
                v = v * (uint64_t)base + (uint64_t)h;
                nd++;
            }
            p++;
        }
        if (!nd) return fail(L, line, "invalid integer literal");
        if (v > INT64_MAX) return fail(L, line, "integer literal too large");
        pg_tpl_tok *t = push(L, PG_TOK_INT, line);
        if (!t) return PG_ENOMEM;
        t->i = (int64_t)v;
        L->pos = p;
        return PG_OK;
    }
    p = scan_digits(L, p, buf, &bl, sizeof buf);
    int is_float = 0;
    size_t q = p;
    size_t bl2 = bl;
    if (q + 1 < L->n && L->s[q] == '.' && is_digit(L->s[q + 1])) {
        buf[bl2++] = '.';
        q = scan_digits(L, q + 1, buf, &bl2, sizeof buf);
        is_float = 1;
        p = q;
        bl = bl2;
    }
    if (p < L->n && (L->s[p] == 'e' || L->s[p] == 'E')) {
        size_t r = p + 1;
        size_t bl3 = bl;
        char tmp[128];
        memcpy(tmp, buf, bl);
        tmp[bl3++] = 'e';
        if (r < L->n && (L->s[r] == '+' || L->s[r] == '-')) tmp[bl3++] = L->s[r++];
        if (r < L->n && is_digit(L->s[r])) {
            r = scan_digits(L, r, tmp, &bl3, sizeof tmp);
            memcpy(buf, tmp, bl3);
            bl = bl3;
            p = r;
            is_float = 1;
        }
    }
    if (bl >= sizeof buf - 1) return fail(L, line, "number literal too long");
    buf[bl] = 0;
    pg_tpl_tok *t = push(L, is_float ? PG_TOK_FLOAT : PG_TOK_INT, line);
    if (!t) return PG_ENOMEM;
    if (is_float) {
        t->f = strtod(buf, NULL);
    } else {
        char *e;
        unsigned long long v = strtoull(buf, &e, 10);
        if (bl > 19 || v > (unsigned long long)INT64_MAX) return fail(L, line, "integer literal too large");
        t->i = (int64_t)v;
    }
    L->pos = p;
    return PG_OK;
}

static int lex_op(lexer *L, int line, int *depth, char *stack) {
    static const struct {
        const char *s;
        int op;
    } ops[] = {
        {"//", PG_OP_FLOORDIV}, {"**", PG_OP_POW}, {"==", PG_OP_EQ}, {"!=", PG_OP_NE},
        {"<=", PG_OP_LE}, {">=", PG_OP_GE}, {"+", PG_OP_ADD}, {"-", PG_OP_SUB},
        {"*", PG_OP_MUL}, {"/", PG_OP_DIV}, {"%", PG_OP_MOD}, {"~", PG_OP_TILDE},
        {"[", PG_OP_LBRACKET}, {"]", PG_OP_RBRACKET}, {"(", PG_OP_LPAREN}, {")", PG_OP_RPAREN},
        {"{", PG_OP_LBRACE}, {"}", PG_OP_RBRACE}, {"<", PG_OP_LT}, {">", PG_OP_GT},
        {"=", PG_OP_ASSIGN}, {".", PG_OP_DOT}, {":", PG_OP_COLON}, {"|", PG_OP_PIPE},
        {",", PG_OP_COMMA}, {";", PG_OP_SEMICOLON},
    };
    for (size_t k = 0; k < sizeof ops / sizeof ops[0]; k++) {
        size_t l = strlen(ops[k].s);
        if (L->pos + l <= L->n && memcmp(L->s + L->pos, ops[k].s, l) == 0) {
            int op = ops[k].op;
            if (op == PG_OP_LBRACKET || op == PG_OP_LPAREN || op == PG_OP_LBRACE) {
                if (*depth >= 200) return fail(L, line, "brackets nested too deeply");
                stack[(*depth)++] = (char)op;
            } else if (op == PG_OP_RBRACKET || op == PG_OP_RPAREN || op == PG_OP_RBRACE) {
                int want = op == PG_OP_RBRACKET ? PG_OP_LBRACKET : op == PG_OP_RPAREN ? PG_OP_LPAREN : PG_OP_LBRACE;
                if (*depth == 0 || stack[*depth - 1] != want) {
                    char msg[64];
                    snprintf(msg, sizeof msg, "unexpected '%s'", ops[k].s);
                    return fail(L, line, msg);
                }
                (*depth)--;
            }
            pg_tpl_tok *t = push(L, PG_TOK_OP, line);
            if (!t) return PG_ENOMEM;
            t->op = (uint8_t)op;
            L->pos += l;
            return PG_OK;
        }
    }
    char msg[64];
    snprintf(msg, sizeof msg, "unexpected char '%c'", L->s[L->pos]);
    return fail(L, line, msg);
}

/* Skip whitespace after an end tag per its kind; returns whether the last
 * consumed char was a newline (Jinja's line_starting). */
static int after_end(lexer *L, int strip_all, int trim_nl) {
    int ls = 0;
    if (strip_all) {
        while (L->pos < L->n && is_ws((unsigned char)L->s[L->pos])) {
            ls = L->s[L->pos] == '\n';
            if (ls) L->line++;
            L->pos++;
        }
    } else if (trim_nl && L->pos < L->n && L->s[L->pos] == '\n') {
        L->pos++;
        L->line++;
        ls = 1;
    }
    return ls;
}

/* Tokens of one {{ }} or {% %} tag; L->pos is after the opening delimiter
 * and sign. Returns line_starting for the following text. */
static int lex_tag(lexer *L, int is_block, int open_line, int *line_starting) {
    int depth = 0;
    char stack[200];
    for (;;) {
        while (L->pos < L->n && is_ws((unsigned char)L->s[L->pos])) {
            if (L->s[L->pos] == '\n') L->line++;
            L->pos++;
        }
        if (L->pos >= L->n)
            return fail(L, open_line, is_block ? "unexpected end of template: missing '%}'"
                                               : "unexpected end of template: missing '}}'");
        const char *c = L->s + L->pos;
        size_t left = L->n - L->pos;
        if (depth == 0) {
            if (is_block) {
                int strip = 0, plus = 0;
                size_t l = 0;
                if (left >= 3 && c[0] == '-' && c[1] == '%' && c[2] == '}') strip = 1, l = 3;
                else if (left >= 3 && c[0] == '+' && c[1] == '%' && c[2] == '}') plus = 1, l = 3;
                else if (left >= 2 && c[0] == '%' && c[1] == '}') l = 2;
                if (l) {
                    if (!push(L, PG_TOK_BLOCK_END, L->line)) return PG_ENOMEM;
                    L->pos += l;
                    *line_starting = after_end(L, strip, !plus);
                    return PG_OK;
                }
            } else {
                int strip = 0;
                size_t l = 0;
                if (left >= 3 && c[0] == '-' && c[1] == '}' && c[2] == '}') strip = 1, l = 3;
                else if (left >= 2 && c[0] == '}' && c[1] == '}') l = 2;
                if (l) {
                    if (!push(L, PG_TOK_VAR_END, L->line)) return PG_ENOMEM;
                    L->pos += l;
                    *line_starting = after_end(L, strip, 0);
                    return PG_OK;
                }
            }
        }
        int rc;
        if (*c == '\'' || *c == '"') {
            rc = lex_string(L, L->line);
        } else if (is_digit(*c)) {
            rc = lex_number(L, L->line);
        } else if (is_name0(*c)) {
            size_t s = L->pos;
            while (L->pos < L->n && is_name(L->s[L->pos])) L->pos++;
            pg_tpl_tok *t = push(L, PG_TOK_NAME, L->line);
            if (!t) return PG_ENOMEM;
            t->p = L->s + s;
            t->n = L->pos - s;
            rc = PG_OK;
        } else {
            rc = lex_op(L, L->line, &depth, stack);
        }
        if (rc) return rc;
    }
}

/* {% raw %} ... {% endraw %}: pos is after "{%" + sign; returns 1 if this
 * is a raw tag (and lexes it), 0 if not, <0 on error. */
static int try_raw(lexer *L, int open_line, int *line_starting, const char *pre, size_t pre_n,
                   int pre_line) {
    size_t p = L->pos;
    while (p < L->n && is_ws((unsigned char)L->s[p])) p++;
    if (p + 3 > L->n || memcmp(L->s + p, "raw", 3) != 0) return 0;
    p += 3;
    if (p < L->n && is_name(L->s[p])) return 0;
    while (p < L->n && is_ws((unsigned char)L->s[p])) p++;
    int strip = 0;
    if (p + 3 <= L->n && memcmp(L->s + p, "-%}", 3) == 0) {
        strip = 1;
        p += 3;
    } else if (p + 2 <= L->n && memcmp(L->s + p, "%}", 2) == 0) {
        p += 2;
    } else {
        return 0;
    }
    L->line += count_nl(L->s + L->pos, p - L->pos);
    L->pos = p;
    after_end(L, strip, 0);
    /* find {%[-+]? endraw [-+]?%} */
    size_t body = L->pos;
    int body_line = L->line;
    for (size_t q = body; q + 1 < L->n; q++) {
        if (L->s[q] != '{' || L->s[q + 1] != '%') continue;
        size_t r = q + 2;
        int sign = 0;
        if (r < L->n && (L->s[r] == '-' || L->s[r] == '+')) sign = L->s[r++];
        while (r < L->n && is_ws((unsigned char)L->s[r])) r++;
        if (r + 6 > L->n || memcmp(L->s + r, "endraw", 6) != 0) continue;
        r += 6;
        while (r < L->n && is_ws((unsigned char)L->s[r])) r++;
        int estrip = 0, eplus = 0;
        if (r + 3 <= L->n && memcmp(L->s + r, "-%}", 3) == 0) estrip = 1, r += 3;
        else if (r + 3 <= L->n && memcmp(L->s + r, "+%}", 3) == 0) eplus = 1, r += 3;
        else if (r + 2 <= L->n && memcmp(L->s + r, "%}", 2) == 0) r += 2;
        else continue;
        size_t tl = trim_text(L->s + body, q - body, sign, 0, 0);
        emit_text(L, pre, pre_n, pre_line);
        emit_text(L, L->s + body, tl, body_line);
        L->line += count_nl(L->s + body, r - body);
        L->pos = r;
        *line_starting = after_end(L, estrip, !eplus);
        return 1;
    }
    return fail(L, open_line, "missing end of raw directive");
}

int pg_tpl_lex(pg_arena *a, const char *src, size_t len, pg_tpl_tok **toks, size_t *n_toks,
               pg_error *err) {
    lexer L;
    memset(&L, 0, sizeof L);
    L.a = a;
    L.err = err;
    L.line = 1;
    /* normalise newlines; drop one trailing newline */
    char *s = pg_arena_alloc(a, len + 1);
    if (!s) return pg_error_set(err, PG_ENOMEM, "out of memory");
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        if (src[i] == '\r') {
            s[o++] = '\n';
            if (i + 1 < len && src[i + 1] == '\n') i++;
        } else {
            s[o++] = src[i];
        }
    }
    if (o && s[o - 1] == '\n') o--;
    s[o] = 0;
    L.s = s;
    L.n = o;

    int line_starting = 1;
    while (L.pos < L.n && !L.failed) {
        const char *t = NULL;
        for (size_t i = L.pos; i + 1 < L.n; i++)
            if (L.s[i] == '{' && (L.s[i + 1] == '{' || L.s[i + 1] == '%' || L.s[i + 1] == '#')) {
                t = L.s + i;
                break;
            }
        if (!t) {
            emit_text(&L, L.s + L.pos, L.n - L.pos, L.line);
            L.line += count_nl(L.s + L.pos, L.n - L.pos);
            L.pos = L.n;
            break;
        }
        size_t tpos = (size_t)(t - L.s);
        char kind = t[1];
        int sign = 0;
        size_t after = tpos + 2;
        if (after < L.n && (L.s[after] == '-' || L.s[after] == '+')) sign = L.s[after++];
        const char *text = L.s + L.pos;
        size_t tl = trim_text(text, tpos - L.pos, sign, kind == '{', line_starting);
        int text_line = L.line;
        L.line += count_nl(text, tpos - L.pos);
        int open_line = L.line;
        if (kind == '#') {
            /* comment: up to the first "#}" */
            size_t q = after;
            while (q + 1 < L.n && !(L.s[q] == '#' && L.s[q + 1] == '}')) q++;
            if (q + 1 >= L.n) {
                fail(&L, open_line, "missing end of comment tag");
                break;
            }
            emit_text(&L, text, tl, text_line);
            int strip = q > after && L.s[q - 1] == '-';
            int plus = q > after && L.s[q - 1] == '+';
            L.line += count_nl(L.s + after, q - after);
            L.pos = q + 2;
            line_starting = after_end(&L, strip, !plus);
            continue;
        }
        if (kind == '%') {
            L.pos = after;
            int r = try_raw(&L, open_line, &line_starting, text, tl, text_line);
            if (r < 0) break;
            if (r == 1) continue;
        }
        emit_text(&L, text, tl, text_line);
        if (!push(&L, kind == '%' ? PG_TOK_BLOCK_BEGIN : PG_TOK_VAR_BEGIN, open_line)) break;
        L.pos = after;
        if (lex_tag(&L, kind == '%', open_line, &line_starting)) break;
    }
    if (L.failed) return err ? err->code : PG_EFORMAT;
    pg_tpl_tok *e = push(&L, PG_TOK_EOF, L.line);
    if (!e) return PG_ENOMEM;
    *toks = L.toks;
    *n_toks = L.nt;
    return PG_OK;
}
