/* predicates.h - Jinja tests (`x is odd`, `x is divisibleby(3)`, `x in y`).
 * Test names resolve to ids at parse time (unknown -> parse error). */
#ifndef PG_TEMPLATE_PREDICATES_H
#define PG_TEMPLATE_PREDICATES_H

#include "template/names.h"
#include "template/rt.h"

#include <stddef.h>

int pg_tpl_test_apply(pg_tpl_rt *rt, int id, pg_jv v, const pg_tpl_args *a);
/* A test named by a runtime string (select/reject): a test name or one of
 * the operator aliases == != < <= > >=; fails if unknown. */
int pg_tpl_test_by_name(pg_tpl_rt *rt, pg_jv name, pg_jv v, const pg_tpl_args *rest);
/* Python `item in container` (Jinja semantics: undefined container -> false). */
int pg_tpl_contains(pg_tpl_rt *rt, pg_jv container, pg_jv item);

#endif
