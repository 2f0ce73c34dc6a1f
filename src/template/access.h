/* access.h - attribute, item and slice access on template values. */
#ifndef PG_TEMPLATE_ACCESS_H
#define PG_TEMPLATE_ACCESS_H

#include "template/rt.h"

/* obj.name and obj[key], Jinja2 style (dict keys via '.', methods via []). */
pg_jv pg_tpl_getattr(pg_tpl_rt *rt, pg_jv obj, const char *name, size_t n);
pg_jv pg_tpl_getitem(pg_tpl_rt *rt, pg_jv obj, pg_jv key);
/* obj[start:stop:step]; each bound may be NONE/UNDEFINED for "omitted". */
pg_jv pg_tpl_slice(pg_tpl_rt *rt, pg_jv obj, pg_jv start, pg_jv stop, pg_jv step);
/* Attribute path "a.b.0" (or an int index) through getitem, as Jinja's
 * make_attrgetter; an undefined step ends the walk with that undefined. */
pg_jv pg_tpl_attr_path(pg_tpl_rt *rt, pg_jv v, pg_jv path);
/* The undefined value "'T object' has no attribute 'name'". */
pg_jv pg_tpl_undef_attr(pg_jv obj, const char *name, size_t n);

#endif
