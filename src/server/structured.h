/* structured.h - the structured-output fields of a request body (OpenAI
 * response_format, vLLM structured_outputs and guided_*, llama.cpp grammar
 * / json_schema) -> one compiled grammar from the server's cache, for any
 * protocol adapter.
 *
 * At most one constraint per request: two of them -> 400 naming the
 * second. A constraint that does not compile -> 400 invalid_request_error
 * whose "param" is the field's path (e.g.
 * "response_format.json_schema.schema") and whose message says why. The
 * result is a held reference (the caller's request frees it; the engine
 * holds its own while it runs). README "Structured outputs" documents the
 * fields. */
#ifndef PG_SERVER_STRUCTURED_H
#define PG_SERVER_STRUCTURED_H

#include "sample/gram_cache.h"

#include <jansson.h>

/* Names of the top-level body fields this module reads (for the adapters'
 * lists of known fields). NULL-terminated. */
extern const char *const srv_structured_fields[];

/* Reads the fields of body o. 0 with *out = a held reference or NULL (no
 * constraint), or an HTTP status (400; 500 out of memory; 503 without a
 * cache) with *err_json set. cache may be NULL: then any constraint is
 * compiled without caching. */
int srv_structured_parse(pg_gram_cache *cache, json_t *o, pg_gram_ref **out, json_t **err_json);

#endif
