/* js_impl.h - internals shared by the parts of the JSON Schema -> GBNF
 * compiler (jsonschema.c, js_util.c, js_regex.c, js_numeric.c, js_merge.c,
 * js_gen.c): buffer, code point set and context types, and the functions one
 * part calls in another. Not a public header. */
#ifndef PG_SAMPLE_JS_IMPL_H
#define PG_SAMPLE_JS_IMPL_H

#include "sample/jsonschema.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* ------------------------------------------------------------------ buffers */

typedef struct {
    char *p;
    size_t n, cap;
} sb_t;

/* ------------------------------------------------------- code point sets */

#define CP_MAX 0x10FFFFu

typedef struct {
    uint32_t (*r)[2]; /* sorted, disjoint, non-adjacent inclusive ranges */
    int n, cap;
} cpset;

/* ------------------------------------------------------------- context */

#define MAX_DEPTH 64

typedef struct {
    const json_t *node;
    int id;          /* rule id, or -1 while the result is NEVER */
    int state;       /* 0 in progress, 1 done */
    int result;      /* gen() result when done */
    int used_early;  /* referenced while in progress */
} memo_t;

typedef struct {
    json_t *root;
    unsigned flags;
    int draft; /* 4, 6, 7, 2019, 2020 */
    sb_t out;
    int nrules;
    memo_t *memo;
    size_t nmemo, capmemo;
    int *mhash; /* open addressing over memo indices (-1 empty), size mcap */
    size_t mcap;
    int *dhash; /* same for dedup texts */
    size_t dcap;
    json_t *owned; /* synthetic schemas kept alive */
    char *err;
    size_t errlen;
    int failed;
    int depth;
    long work; /* schema merges so far: bounds the 'not'/'oneOf' expansions */
    unsigned basics; /* emitted helper rules */
    /* deduplicated helper rules: text -> id */
    char **dedup_txt;
    int *dedup_id;
    size_t ndedup, capdedup;
} ctx_t;

enum { R_NEVER = 0, R_OK = 1, R_ERR = -1 };

/* name of rule id */
#define RN(buf, id) snprintf((buf), sizeof(buf), "r%d", (id))

/* Helper rules, emitted once on first use. */
enum {
    B_WS = 1, B_CHAR = 2, B_STRING = 4, B_NUMBER = 8, B_INTEGER = 16, B_VALUE = 32, B_HEX = 64,
    B_DATE = 128, B_TIME = 256, B_URI = 512, B_HOST = 1024, B_IPV4 = 2048, B_URIREF = 4096, B_ESC = 8192
};

#define BOUND_LIM 1000000000000000LL /* |bounds| handled exactly */

enum { T_NULL = 1, T_BOOL = 2, T_INT = 4, T_FRAC = 8, T_STR = 16, T_ARR = 32, T_OBJ = 64, T_ALL = 127 };

extern const char *const REFUSED[];

void sb_putn(sb_t *b, const char *s, size_t n);
void sb_puts(sb_t *b, const char *s);
void sb_printf(sb_t *b, const char *fmt, ...);
const char *sb_str(sb_t *b);
void sb_free(sb_t *b);
void cs_add(cpset *s, uint32_t lo, uint32_t hi);
void cs_norm(cpset *s);
void cs_free(cpset *s);
void cs_copy(cpset *d, const cpset *s);
void cs_union(cpset *d, const cpset *s);
void cs_complement(cpset *s);
void cs_remove(cpset *s, uint32_t lo, uint32_t hi);
int fail(ctx_t *c, const char *path, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void subpath(char *dst, size_t n, const char *path, const char *key);
void subpath_i(char *dst, size_t n, const char *path, const char *key, size_t i);
int rule_new(ctx_t *c);
void rule_def(ctx_t *c, int id, const char *body);
uint64_t hash_ptr(const void *p);
void idx_rebuild(int **tab, size_t *cap, size_t n, uint64_t (*key)(void *, size_t), void *ctx);
uint64_t memo_key(void *cx, size_t i);
int rule_dedup(ctx_t *c, const char *body);
const char *WS(ctx_t *c);
void need(ctx_t *c, unsigned b);
int utf8_dec(const unsigned char *s, size_t n, uint32_t *cp);
void gbnf_lit(sb_t *b, const char *s, size_t n);
void json_str_enc(sb_t *b, const char *s, size_t n);
int enc_class(ctx_t *c, sb_t *b, const cpset *s);
int hexval(int ch);
int pattern_expr(ctx_t *c, const char *path, const char *pat, size_t patlen, long lmin, long lmax, sb_t *b);
int int_range(sb_t *o, int has_lo, long long lo, int has_hi, long long hi);
int num_range(sb_t *o, int has_lo, long long lo, int lo_x, int has_hi, long long hi, int hi_x);
int dec_range(sb_t *o, int has_lo, double lo, int lo_x, int has_hi, double hi, int hi_x);
int in_list(const char *k, const char *const *l);
int is_constraint(const char *k);
int has_constraints_except(const json_t *s, const char *skip1, const char *skip2);
int n_constraints(const json_t *s);
json_t *own(ctx_t *c, json_t *v);
unsigned schema_types(const json_t *s);
unsigned value_type(ctx_t *c, const json_t *v);
int js_equal(const json_t *a, const json_t *b);
json_t *deref(ctx_t *c, json_t *s, const char *path, int *sib);
int pcre_matches(const char *pat, const char *subj, int *err);
json_t *flatten(ctx_t *c, json_t *s, const char *path, int depth);
json_t *enum_of(json_t *s);
json_t *merge(ctx_t *c, json_t *a, json_t *b, const char *path, int depth);
int fmt_known_refused(const char *f);
int validate(ctx_t *c, const json_t *v, json_t *s, int depth);
void emit_literal(ctx_t *c, sb_t *b, const json_t *v);
int gen_string(ctx_t *c, json_t *s, const char *path, sb_t *b);
int gen_number(ctx_t *c, json_t *s, const char *path, unsigned types, sb_t *b);
int gen_array(ctx_t *c, json_t *s, const char *path, sb_t *b);
int gen_object(ctx_t *c, json_t *s, const char *path, sb_t *b);
int gen(ctx_t *c, json_t *s, const char *path, char *name);

#endif
