/* methods.h - global functions and the methods of str/dict/list/loop. */
#ifndef PG_TEMPLATE_METHODS_H
#define PG_TEMPLATE_METHODS_H

#include "template/rt.h"

#include <stddef.h>

/* Global functions: returns 1 and the function value if name is one. */
int pg_tpl_global(const char *name, size_t n, pg_jv *out);
/* Method id of name on a value of type owner (pg_jv_type), -1 if none. */
int pg_tpl_method_id(int owner, const char *name, size_t n);
/* A fresh FUNC value: method id bound to self. */
pg_jv pg_tpl_bound(pg_tpl_rt *rt, int id, pg_jv self);
/* Call a PG_JV_FUNC value. */
pg_jv pg_tpl_func_call(pg_tpl_rt *rt, pg_jv fn, const pg_tpl_args *a);

#endif
