/* builtins.h - everything the evaluator calls into: filters, tests,
 * attribute/item access, string formatting, global functions and methods.
 * Each concern is its own module; this header only gathers them.
 *   tstr.h       Unicode string helpers (strip, split, case mapping, ...)
 *   format.h     printf-style `%` and str.format
 *   access.h     obj.name, obj[key], slices, attribute paths
 *   names.h      the FILTERS(X) and TESTS(X) name lists, name -> id
 *   filters.h    filters, a table generated from the FILTERS(X) list
 *   predicates.h tests (`is odd`, `in`), a table from the TESTS(X) list
 *   methods.h    range/dict/namespace/raise_exception/strftime_now and
 *                the str/dict/list/loop methods
 * Everything runs inside a render and reports errors through
 * pg_tpl_rt_fail. */
#ifndef PG_TEMPLATE_BUILTINS_H
#define PG_TEMPLATE_BUILTINS_H

#include "template/access.h"
#include "template/filters.h"
#include "template/format.h"
#include "template/methods.h"
#include "template/names.h"
#include "template/predicates.h"
#include "template/tstr.h"

#endif
