/* tpl_json.c - jansson -> pg_jv (see tpl_json.h). Recursive with an
 * explicit depth bound, so hostile nesting fails with PG_ELIMIT rather
 * than exhausting the stack. */
#include "template/tpl_json.h"

#include "base/error.h"

static int conv(pg_arena *a, const json_t *j, int depth, int max_depth, pg_jv *out) {
    switch (json_typeof(j)) {
    case JSON_NULL: *out = pg_jv_none(); return PG_OK;
    case JSON_TRUE: *out = pg_jv_bool(1); return PG_OK;
    case JSON_FALSE: *out = pg_jv_bool(0); return PG_OK;
    case JSON_INTEGER: *out = pg_jv_int((int64_t)json_integer_value(j)); return PG_OK;
    case JSON_REAL: *out = pg_jv_float(json_real_value(j)); return PG_OK;
    case JSON_STRING:
        *out = pg_jv_str(a, json_string_value(j), json_string_length(j));
        return out->type == PG_JV_STRING ? PG_OK : PG_ENOMEM;
    case JSON_ARRAY: {
        if (depth >= max_depth) return PG_ELIMIT;
        size_t n = json_array_size(j);
        pg_jv l = pg_jv_list_new(a, n);
        if (l.type != PG_JV_LIST) return PG_ENOMEM;
        for (size_t i = 0; i < n; i++) {
            pg_jv x;
            int rc = conv(a, json_array_get(j, i), depth + 1, max_depth, &x);
            if (!rc) rc = pg_jv_list_push(a, l, x);
            if (rc) return rc;
        }
        *out = l;
        return PG_OK;
    }
    case JSON_OBJECT: {
        if (depth >= max_depth) return PG_ELIMIT;
        pg_jv d = pg_jv_dict_new(a);
        if (d.type != PG_JV_DICT) return PG_ENOMEM;
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)j, k, v) {
            pg_jv x;
            int rc = conv(a, v, depth + 1, max_depth, &x);
            if (!rc) rc = pg_jv_dict_set_str(a, d, k, x);
            if (rc) return rc;
        }
        *out = d;
        return PG_OK;
    }
    }
    return PG_EINVAL;
}

int pg_tpl_value_from_json(pg_arena *a, const json_t *j, int max_depth, pg_jv *out) {
    if (!j) return PG_EINVAL;
    return conv(a, j, 0, max_depth, out);
}
