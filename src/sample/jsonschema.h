/* jsonschema.h - JSON Schema -> GBNF compiler (front-end of the grammar engine).
 *
 * The produced grammar (llama.cpp GBNF syntax, start rule `root`) accepts
 * exactly the compact JSON serialisations of the instances valid against the
 * schema, with object keys in the schema's `properties` order (extra keys,
 * where allowed, may appear anywhere between them) and UTF-8 kept raw in
 * strings. A keyword that cannot be expressed exactly is refused with a
 * message naming it; no constraint is ever dropped silently. README section
 * "Structured outputs: JSON Schema support" lists what is supported.
 */
#ifndef PG_JSONSCHEMA_H
#define PG_JSONSCHEMA_H

#include <stddef.h>

/* Allow JSON whitespace ([ \t\n\r]*) between tokens instead of compact form. */
#define PG_JS_FLEXIBLE_WS 1u

/* Returns 0 and a malloc'd NUL-terminated GBNF text whose start rule is `root`
 * (caller frees), or a negative code with a message naming the keyword/reason
 * (e.g. "unsupported keyword 'not' at /properties/x") in err. */
int pg_jsonschema_to_gbnf(const char *schema_json, size_t len, unsigned flags, char **gbnf_out,
                          char *err, size_t errlen);

#endif
