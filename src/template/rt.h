/* rt.h - render-time state shared by the evaluator and the builtins.
 *
 * A render owns one pg_tpl_rt: its arena (every value made while rendering
 * lives there), the limits and counters, and a jmp_buf. Any error -
 * undefined value misuse, type error, raise_exception, limit hit - calls
 * pg_tpl_rt_fail, which fills the pg_error and longjmps back to the render
 * entry; nothing made during the render needs freeing except the arena,
 * so unwinding this way leaks nothing. The pg_tpl_rt_* helpers check sizes
 * BEFORE allocating (strings, lists) and the arena total after, so hostile
 * templates hit PG_ELIMIT instead of exhausting memory. */
#ifndef PG_TEMPLATE_RT_H
#define PG_TEMPLATE_RT_H

#include "template/chat.h"
#include "template/parser.h"
#include "template/value.h"

#include <setjmp.h>
#include <time.h>

/* Undefined hint kinds (pg_jv.aux); u.s is the name / attribute. */
enum {
    PG_UNDEF_PLAIN = 0,   /* no hint */
    PG_UNDEF_NAME = 1,    /* 'x' is undefined */
    PG_UNDEF_ATTR = 16,   /* + pg_jv_type of the object: 'T object' has no attribute 'x' */
};

typedef struct pg_tpl_scope pg_tpl_scope;
struct pg_tpl_scope {
    pg_tpl_scope *parent;
    const char **names;
    size_t *lens;
    pg_jv *vals;
    size_t n, cap;
};

/* loop object of a for statement */
typedef struct pg_tpl_loop {
    pg_jv *items;
    size_t len, i;
    pg_jv last_changed;
    int changed_init;
} pg_tpl_loop;

/* macro value (also `caller` of call blocks) */
typedef struct pg_tpl_macro {
    const pg_tpl_node *def;  /* MACRO or CALLBLOCK node */
    pg_tpl_scope *closure;   /* scope the macro was defined in */
    pg_jv caller;            /* for a call block's target macro: the caller */
} pg_tpl_macro;

/* builtin function or bound method */
typedef struct pg_tpl_func {
    int id;     /* builtins.c function id */
    pg_jv self; /* bound object (methods) */
} pg_tpl_func;

typedef struct pg_tpl_args {
    const pg_jv *pos;
    size_t npos;
    const char *const *kwn;
    const pg_jv *kwv;
    size_t nkw;
} pg_tpl_args;

typedef struct pg_tpl_rt {
    pg_arena *arena;
    pg_tpl_limits lim;
    jmp_buf jb;
    pg_error *err;
    uint64_t steps, iters;
    int depth, calls;
    int line;          /* line of the node being evaluated (error messages) */
    pg_jv_buf *out;    /* current output buffer */
    time_t now;
    pg_tpl_scope *globals;
    /* cost budget (pg_tpl_rt_charge): bytes charged so far, the total at
     * which the clock and the cancel flag are polled next */
    uint64_t work, next_check;
    int64_t deadline_ns;      /* CLOCK_MONOTONIC; 0 = none */
    const atomic_int *cancel; /* NULL = none */
} pg_tpl_rt;

/* Charge weights per byte: a memchr/memmem/memcpy-class pass costs 1, a
 * code-point-by-code-point walk (len, index, rfind, splitlines) WALK, a
 * per-character transform (upper/lower/title, escape) MAP, so each unit
 * of budget is roughly the same CPU time. */
#define PG_TPL_COST_WALK 4
#define PG_TPL_COST_MAP 16

/* Poll the clock and the cancel flag every this many charged bytes (and
 * every 1024 steps). */
#define PG_TPL_CHECK_BYTES ((uint64_t)1 << 20)

_Noreturn void pg_tpl_rt_fail(pg_tpl_rt *rt, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Fail with the message an undefined value carries. */
_Noreturn void pg_tpl_rt_undefined_error(pg_tpl_rt *rt, pg_jv v);
/* Count one step of work (fails past max_steps). */
void pg_tpl_rt_tick(pg_tpl_rt *rt);
/* Charge n bytes scanned, copied or allocated to the cost budget; fails
 * with PG_ELIMIT past lim.max_work or the deadline, PG_ECANCELED once the
 * cancel flag is set. Call it BEFORE the work (so one huge scan is
 * refused, not done). */
void pg_tpl_rt_charge(pg_tpl_rt *rt, uint64_t n);
/* Charge what comparing or hashing v costs (string bytes, container items). */
void pg_tpl_rt_charge_value(pg_tpl_rt *rt, pg_jv v);
void *pg_tpl_rt_alloc(pg_tpl_rt *rt, size_t n);     /* zeroed */
void *pg_tpl_rt_alloc_raw(pg_tpl_rt *rt, size_t n); /* not zeroed */

pg_jv pg_tpl_rt_undef(int kind, const char *name, size_t n);
pg_jv pg_tpl_rt_str(pg_tpl_rt *rt, const char *p, size_t n);
pg_jv pg_tpl_rt_list(pg_tpl_rt *rt, size_t cap);
void pg_tpl_rt_push(pg_tpl_rt *rt, pg_jv list, pg_jv v);
void pg_tpl_rt_dict_set(pg_tpl_rt *rt, pg_jv d, pg_jv k, pg_jv v);
pg_jv pg_tpl_rt_dict(pg_tpl_rt *rt);

/* String building capped at max_string; done() turns it into a value. */
void pg_tpl_rt_buf(pg_tpl_rt *rt, pg_jv_buf *b);
pg_jv pg_tpl_rt_buf_done(pg_tpl_rt *rt, pg_jv_buf *b);
/* str(v) (undefined -> ""). */
pg_jv pg_tpl_rt_to_str(pg_tpl_rt *rt, pg_jv v);
/* Materialise an iterable as a list: list/tuple itself, str -> chars,
 * dict -> keys, undefined -> [], namespace -> keys; else fails. */
pg_jv pg_tpl_rt_iter(pg_tpl_rt *rt, pg_jv v);
/* Integer from int/bool, else fail with what. */
int64_t pg_tpl_rt_int(pg_tpl_rt *rt, pg_jv v, const char *what);
/* Python index i (negative from the end) into len items: 1 and *out if valid. */
int pg_tpl_norm_index(int64_t i, size_t len, size_t *out);
/* v itself if a string; else fail ("WHAT must be a string"). */
pg_jv pg_tpl_rt_need_str(pg_tpl_rt *rt, pg_jv v, const char *what);
/* Python a < b ordering: -1/0/1; fails for unorderable types. */
int pg_tpl_rt_cmp(pg_tpl_rt *rt, pg_jv a, pg_jv b);
/* dict.items() as a list of (key, value) tuples. */
pg_jv pg_tpl_rt_items(pg_tpl_rt *rt, pg_jv d);
/* A new list holding the items of iterable v (list(v)). */
pg_jv pg_tpl_rt_list_copy(pg_tpl_rt *rt, pg_jv v);

/* Argument helpers: positional index i or keyword name; *found says which. */
pg_jv pg_tpl_arg(const pg_tpl_args *a, size_t i, const char *name, pg_jv dflt, int *found);
/* Fail if any keyword is not in the NULL-terminated list or too many positionals. */
void pg_tpl_args_check(pg_tpl_rt *rt, const pg_tpl_args *a, size_t max_pos, const char *const *names,
                       const char *fname);

#endif
