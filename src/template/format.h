/* format.h - printf-style `%` and str.format for template strings. Both
 * run inside a render and fail through pg_tpl_rt_fail. */
#ifndef PG_TEMPLATE_FORMAT_H
#define PG_TEMPLATE_FORMAT_H

#include "template/rt.h"

/* Python `fmt % args`: args a tuple (positional), a dict (%(name)s) or one value. */
pg_jv pg_tpl_percent_format(pg_tpl_rt *rt, pg_jv fmt, pg_jv args);
/* Python fmt.format(*pos, **kw). */
pg_jv pg_tpl_str_format(pg_tpl_rt *rt, pg_jv fmt, const pg_tpl_args *a);

#endif
