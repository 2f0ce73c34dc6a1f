/* builtins.h - Jinja2 filters, tests, attribute/item access, Python
 * methods of str/dict/list, loop attributes and the global functions
 * (range, dict, namespace, raise_exception, strftime_now).
 *
 * Filter and test names resolve to ids at parse time (unknown -> parse
 * error). Everything here runs inside a render and reports errors through
 * pg_tpl_rt_fail. */
#ifndef PG_TEMPLATE_BUILTINS_H
#define PG_TEMPLATE_BUILTINS_H

#include "template/rt.h"

#include <stddef.h>

/* -1 if unknown. */
int pg_tpl_filter_id(const char *name, size_t n);
int pg_tpl_test_id(const char *name, size_t n);

pg_jv pg_tpl_filter_apply(pg_tpl_rt *rt, int id, pg_jv v, const pg_tpl_args *a);
int pg_tpl_test_apply(pg_tpl_rt *rt, int id, pg_jv v, const pg_tpl_args *a);

/* obj.name and obj[key], Jinja2 style (dict keys via '.', methods via []). */
pg_jv pg_tpl_getattr(pg_tpl_rt *rt, pg_jv obj, const char *name, size_t n);
pg_jv pg_tpl_getitem(pg_tpl_rt *rt, pg_jv obj, pg_jv key);
/* obj[start:stop:step]; each bound may be NONE/UNDEFINED for "omitted". */
pg_jv pg_tpl_slice(pg_tpl_rt *rt, pg_jv obj, pg_jv start, pg_jv stop, pg_jv step);

/* Global functions: returns 1 and the function value if name is one. */
int pg_tpl_global(const char *name, size_t n, pg_jv *out);
/* Call a PG_JV_FUNC value. */
pg_jv pg_tpl_func_call(pg_tpl_rt *rt, pg_jv fn, const pg_tpl_args *a);

/* Python `a % b` for strings (printf-style formatting). */
pg_jv pg_tpl_percent_format(pg_tpl_rt *rt, pg_jv fmt, pg_jv args);

/* Python `item in container` (Jinja semantics: undefined container -> false). */
int pg_tpl_contains(pg_tpl_rt *rt, pg_jv container, pg_jv item);

/* HTML-escape s unless it is Markup already; the result is Markup. */
pg_jv pg_tpl_escape(pg_tpl_rt *rt, pg_jv s);

/* A fresh FUNC value bound to self (loop methods are made this way too). */
pg_jv pg_tpl_bound(pg_tpl_rt *rt, int id, pg_jv self);

#endif
