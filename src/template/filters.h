/* filters.h - Jinja filters. Filter names resolve to ids at parse time
 * (unknown -> parse error); everything runs inside a render and reports
 * errors through pg_tpl_rt_fail. */
#ifndef PG_TEMPLATE_FILTERS_H
#define PG_TEMPLATE_FILTERS_H

#include "template/names.h"
#include "template/rt.h"

#include <stddef.h>

pg_jv pg_tpl_filter_apply(pg_tpl_rt *rt, int id, pg_jv v, const pg_tpl_args *a);

#endif
