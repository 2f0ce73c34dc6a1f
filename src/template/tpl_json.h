/* tpl_json.h - JSON (jansson) to template values: the one converter the
 * CLI, the server and the tests use to turn request / case JSON into the
 * pg_jv values a chat template renders.
 *
 * null/true/false/integers/reals/strings/arrays/objects map to
 * NONE/BOOL/INT/FLOAT/STRING/LIST/DICT; object key order is kept (dicts
 * keep insertion order, as Python's json module does). Strings are copied
 * into the arena, so the result does not borrow from the json_t. */
#ifndef PG_TEMPLATE_TPL_JSON_H
#define PG_TEMPLATE_TPL_JSON_H

#include "base/arena.h"
#include "template/value.h"

#include <jansson.h>

/* Convert j into *out (allocated in a). Nesting deeper than max_depth
 * containers fails with PG_ELIMIT; PG_ENOMEM on allocation failure;
 * PG_OK on success. */
int pg_tpl_value_from_json(pg_arena *a, const json_t *j, int max_depth, pg_jv *out);

#endif
