/* value.h - pg_jv, the dynamic value of the chat-template interpreter.
 *
 * A pg_jv is a small tagged value passed by copy: scalars inline, strings
 * as (pointer, byte length) of UTF-8 text that is NOT NUL-terminated, and
 * containers (list, dict, namespace) by pointer to an arena-owned object.
 * Everything a value points at lives in a pg_arena: callers that build
 * messages/tools create an arena, build values with the constructors below,
 * render, and destroy the arena. Values never own malloc memory.
 *
 * Semantics follow Python as Jinja2 sees it: dicts keep insertion order,
 * 1 == 1.0 == True, str() / repr() / json.dumps() printing match Python's.
 * Containers are mutable (list.append, dict.update, namespace attributes);
 * the renderer deep-copies caller values first, so a render never changes
 * what a caller built. */
#ifndef PG_TEMPLATE_VALUE_H
#define PG_TEMPLATE_VALUE_H

#include "base/arena.h"

#include <stddef.h>
#include <stdint.h>

typedef enum {
    PG_JV_UNDEFINED = 0, /* Jinja Undefined; aux + u.s hint at why, for error messages */
    PG_JV_NONE,
    PG_JV_BOOL,
    PG_JV_INT,
    PG_JV_FLOAT,
    PG_JV_STRING,
    PG_JV_LIST,      /* also tuples and generators (list kind) */
    PG_JV_DICT,
    PG_JV_NAMESPACE, /* Jinja namespace(): a dict with attribute assignment */
    PG_JV_MACRO,     /* interpreter objects: opaque pointers */
    PG_JV_FUNC,
    PG_JV_LOOP,
} pg_jv_type;

typedef struct pg_jv_list pg_jv_list;
typedef struct pg_jv_dict pg_jv_dict;

typedef struct pg_jv {
    uint8_t type;
    uint8_t aux; /* UNDEFINED: interpreter's hint kind (why it is undefined);
                  * STRING: 1 = Markup (made by |safe / |escape), else 0 */
    union {
        int b;
        int64_t i;
        double f;
        struct {
            const char *p;
            size_t n;
        } s;
        pg_jv_list *l;
        pg_jv_dict *d;
        void *ptr;
    } u;
} pg_jv;

/* ---- scalars (no allocation) ---- */
pg_jv pg_jv_undefined(void);
pg_jv pg_jv_none(void);
pg_jv pg_jv_bool(int b);
pg_jv pg_jv_int(int64_t i);
pg_jv pg_jv_float(double f);
/* Borrow s (must outlive the value; e.g. arena or static memory). */
pg_jv pg_jv_str_ref(const char *s, size_t n);
/* Copy s into the arena. type NONE... never; returns UNDEFINED on OOM. */
pg_jv pg_jv_str(pg_arena *a, const char *s, size_t n);
pg_jv pg_jv_cstr(pg_arena *a, const char *s);

/* ---- lists ---- */
/* New empty list (or tuple). Returns UNDEFINED on OOM. */
pg_jv pg_jv_list_new(pg_arena *a, size_t cap_hint);
pg_jv pg_jv_tuple_new(pg_arena *a, size_t cap_hint);
int pg_jv_list_push(pg_arena *a, pg_jv list, pg_jv item); /* PG_OK / PG_ENOMEM */
size_t pg_jv_list_len(pg_jv list);
pg_jv pg_jv_list_at(pg_jv list, size_t i); /* i < len */
pg_jv *pg_jv_list_items(pg_jv list);       /* contiguous; valid until next push */
int pg_jv_list_is_tuple(pg_jv list);
/* A generator (what Jinja's map/select/reject/... filters return): a list
 * that iterates like one but is always true, has no len(), no indexing and
 * is not JSON serializable, as in Python. Not consumed by iteration here. */
/* Turns a list the caller just built (no other references) into one. */
pg_jv pg_jv_as_generator(pg_jv list);
int pg_jv_list_is_gen(pg_jv list);
/* Remove item i (shifts the rest). */
void pg_jv_list_remove(pg_jv list, size_t i);
int pg_jv_list_insert(pg_arena *a, pg_jv list, size_t i, pg_jv item);

/* ---- dicts and namespaces ---- */
pg_jv pg_jv_dict_new(pg_arena *a);
pg_jv pg_jv_namespace_new(pg_arena *a);
/* Keys are any hashable scalar (string, int, float, bool, none). Insert or
 * replace (order kept on replace). PG_OK / PG_ENOMEM / PG_EINVAL (key type). */
int pg_jv_dict_set(pg_arena *a, pg_jv dict, pg_jv key, pg_jv val);
int pg_jv_dict_set_str(pg_arena *a, pg_jv dict, const char *key, pg_jv val); /* key copied */
/* Lookup: 1 and *val if found, else 0. */
int pg_jv_dict_get(pg_jv dict, pg_jv key, pg_jv *val);
int pg_jv_dict_get_str(pg_jv dict, const char *key, size_t klen, pg_jv *val);
int pg_jv_dict_del(pg_jv dict, pg_jv key); /* 1 if removed */
size_t pg_jv_dict_len(pg_jv dict);
/* Iteration in insertion order: i < len. */
pg_jv pg_jv_dict_key_at(pg_jv dict, size_t i);
pg_jv pg_jv_dict_val_at(pg_jv dict, size_t i);

/* ---- Python semantics ---- */
int pg_jv_truthy(pg_jv v);
int pg_jv_is_str(pg_jv v);
int pg_jv_is_number(pg_jv v); /* int, float or bool (Python Number) */
double pg_jv_as_double(pg_jv v);
/* Python ==. Depth-limited: nesting past 512 compares unequal. */
int pg_jv_equal(pg_jv a, pg_jv b);
/* Python <: returns -1/0/1 in *cmp, or PG_EINVAL if not orderable. */
int pg_jv_compare(pg_jv a, pg_jv b, int *cmp);
const char *pg_jv_type_name(pg_jv v); /* Python type names: 'str', 'dict object' ... */
size_t pg_jv_utf8_len(const char *s, size_t n); /* code points */

/* ---- printing: appended to a growable arena buffer ---- */
typedef struct pg_jv_buf {
    pg_arena *arena;
    char *p;
    size_t len, cap;
    size_t max;  /* appends past max fail with PG_ELIMIT */
    int err;     /* first error (sticky) */
    const char *bad_type; /* JSON: type name of the value it could not encode */
} pg_jv_buf;
void pg_jv_buf_init(pg_jv_buf *b, pg_arena *a, size_t max);
void pg_jv_buf_put(pg_jv_buf *b, const char *s, size_t n);
void pg_jv_buf_putc(pg_jv_buf *b, char c);
void pg_jv_buf_printf(pg_jv_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* str(v) as Jinja prints it (undefined -> ""), Python repr(v), and
 * json.dumps(v, ensure_ascii, indent, separators, sort_keys):
 * indent < 0 means None; indent_str (if not NULL) overrides a numeric indent;
 * item_sep/key_sep NULL mean Python's defaults. Errors go to b->err:
 * PG_EINVAL for a value JSON cannot hold (b->bad_type names its type),
 * PG_ELIMIT for nesting past 512 or output past b->max. */
void pg_jv_write_str(pg_jv_buf *b, pg_jv v);
void pg_jv_write_repr(pg_jv_buf *b, pg_jv v);
typedef struct pg_jv_json_opts {
    int ensure_ascii;
    int indent;              /* < 0: none */
    const char *indent_str;  /* overrides indent when not NULL */
    const char *item_sep;    /* NULL: ", " (or "," with indent) */
    const char *key_sep;     /* NULL: ": " */
    int sort_keys;
} pg_jv_json_opts;
void pg_jv_write_json(pg_jv_buf *b, pg_jv v, const pg_jv_json_opts *o);
/* Python float repr into out (>= 32 bytes); returns length. */
size_t pg_jv_format_float(double f, char *out);

/* Deep copy of plain data (containers copied, strings copied). Interpreter
 * objects are copied by reference. PG_OK / PG_ENOMEM / PG_ELIMIT (depth). */
int pg_jv_deep_copy(pg_arena *a, pg_jv v, pg_jv *out);

#endif
