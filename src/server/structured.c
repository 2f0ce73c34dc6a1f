/* structured.c - structured-output request fields -> a compiled grammar
 * (see structured.h).
 *
 * Fields (all optional; null = absent):
 *   response_format            {"type":"text"} | {"type":"json_object"} |
 *                              {"type":"json_schema","json_schema":{"name",
 *                              "schema","strict","description"}} (OpenAI)
 *   structured_outputs         {"json" | "regex" | "choice" | "grammar" |
 *                              "json_object", "whitespace",
 *                              "disable_any_whitespace"} (vLLM)
 *   guided_json, guided_regex, guided_choice, guided_grammar (vLLM, older)
 *   grammar, json_schema       (llama.cpp: GBNF text, a schema object)
 * json_object means "any JSON object" (the schema {"type":"object"}).
 * Whitespace of the JSON kinds: compact unless structured_outputs.whitespace
 * is "flexible" (or disable_any_whitespace is false).
 * Each constraint becomes (kind, text) for the grammar cache: a schema
 * given as JSON is serialised compactly with its keys in the body's order
 * (jansson keeps insertion order), so equal bodies hit the same entry. */
#include "server/structured.h"

#include "server/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const srv_structured_fields[] = {"response_format", "structured_outputs", "guided_json", "guided_regex",
                                             "guided_choice", "guided_grammar", "grammar", "json_schema", NULL};

#define ANY_OBJECT_SCHEMA "{\"type\":\"object\"}"

typedef struct one {
    int kind;          /* 0: none yet */
    char *text;        /* malloc'd */
    size_t len;
    char param[96];    /* field path for errors */
    unsigned flags;
} one;

static int fail(json_t **err_json, const char *param, const char *fmt, const char *a, const char *b) {
    char m[700];
    snprintf(m, sizeof m, fmt, a, b);
    *err_json = srv_error_json(m, "invalid_request_error", param, NULL);
    return 400;
}

/* Records constraint (kind, text) found at param; text is taken (freed on
 * failure too). */
static int put(one *c, int kind, char *text, size_t len, const char *param, json_t **err_json) {
    if (!text) {
        *err_json = srv_error_json("out of memory", "server_error", NULL, NULL);
        return 500;
    }
    if (c->kind) {
        free(text);
        return fail(err_json, param,
                    "only one structured-output constraint per request: '%s' and '%s' were both given", c->param, param);
    }
    c->kind = kind;
    c->text = text;
    c->len = len;
    snprintf(c->param, sizeof c->param, "%s", param);
    return 0;
}

static char *dup_n(const char *s, size_t n) {
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = 0;
    }
    return d;
}

/* A schema value: an object or a boolean (serialised), or a string holding
 * the schema's JSON text (vLLM accepts both). */
static int put_schema(one *c, json_t *v, const char *param, int allow_string, json_t **err_json) {
    if (allow_string && json_is_string(v))
        return put(c, PG_GRAM_JSON_SCHEMA, dup_n(json_string_value(v), json_string_length(v)), json_string_length(v),
                   param, err_json);
    if (!json_is_object(v) && !json_is_boolean(v))
        return fail(err_json, param, "'%s' must be a JSON Schema object%s", param,
                    allow_string ? " (or its JSON text)" : "");
    char *t = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    return put(c, PG_GRAM_JSON_SCHEMA, t, t ? strlen(t) : 0, param, err_json);
}

static int put_string(one *c, int kind, json_t *v, const char *param, json_t **err_json) {
    if (!json_is_string(v) || json_string_length(v) == 0)
        return fail(err_json, param, "'%s' must be a non-empty string", param, "");
    return put(c, kind, dup_n(json_string_value(v), json_string_length(v)), json_string_length(v), param, err_json);
}

static int put_choice(one *c, json_t *v, const char *param, json_t **err_json) {
    if (!json_is_array(v) || json_array_size(v) == 0 || json_array_size(v) > PG_GRAM_MAX_CHOICES)
        return fail(err_json, param, "'%s' must be a non-empty list of strings (at most 4096)", param, "");
    size_t i;
    json_t *x;
    json_array_foreach(v, i, x) if (!json_is_string(x)) return fail(err_json, param, "'%s' must be a list of strings", param, "");
    char *t = json_dumps(v, JSON_COMPACT);
    return put(c, PG_GRAM_CHOICE, t, t ? strlen(t) : 0, param, err_json);
}

static int response_format(one *c, json_t *rf, json_t **err_json) {
    if (!json_is_object(rf))
        return fail(err_json, "response_format", "'response_format' must be an object such as {\"type\": \"json_object\"}", "", "");
    json_t *ty = json_object_get(rf, "type");
    if (!json_is_string(ty))
        return fail(err_json, "response_format.type",
                    "'response_format.type' must be one of \"text\", \"json_object\", \"json_schema\"", "", "");
    const char *t = json_string_value(ty);
    if (!strcmp(t, "text")) return 0;
    if (!strcmp(t, "json_object"))
        return put(c, PG_GRAM_JSON_SCHEMA, dup_n(ANY_OBJECT_SCHEMA, strlen(ANY_OBJECT_SCHEMA)), strlen(ANY_OBJECT_SCHEMA),
                   "response_format", err_json);
    if (strcmp(t, "json_schema"))
        return fail(err_json, "response_format.type",
                    "unknown 'response_format.type' '%.64s' (one of \"text\", \"json_object\", \"json_schema\")", t, "");
    json_t *js = json_object_get(rf, "json_schema");
    if (!json_is_object(js))
        return fail(err_json, "response_format.json_schema",
                    "'response_format.json_schema' must be an object {\"name\", \"schema\", \"strict\"}", "", "");
    json_t *name = json_object_get(js, "name"), *strict = json_object_get(js, "strict"),
           *desc = json_object_get(js, "description");
    if (name && !json_is_null(name) && (!json_is_string(name) || json_string_length(name) > 256))
        return fail(err_json, "response_format.json_schema.name",
                    "'response_format.json_schema.name' must be a string of at most 256 bytes", "", "");
    if (strict && !json_is_null(strict) && !json_is_boolean(strict))
        return fail(err_json, "response_format.json_schema.strict", "'response_format.json_schema.strict' must be a boolean",
                    "", "");
    if (desc && !json_is_null(desc) && !json_is_string(desc))
        return fail(err_json, "response_format.json_schema.description",
                    "'response_format.json_schema.description' must be a string", "", "");
    json_t *schema = json_object_get(js, "schema");
    if (!schema || json_is_null(schema))
        return fail(err_json, "response_format.json_schema.schema", "'response_format.json_schema.schema' is required",
                    "", "");
    return put_schema(c, schema, "response_format.json_schema.schema", 0, err_json);
}

static int structured_outputs(one *c, json_t *so, json_t **err_json) {
    if (!json_is_object(so)) return fail(err_json, "structured_outputs", "'structured_outputs' must be an object", "", "");
    const char *key;
    json_t *v;
    int rc;
    json_object_foreach(so, key, v) {
        char param[96];
        snprintf(param, sizeof param, "structured_outputs.%.60s", key);
        if (json_is_null(v)) continue;
        if (!strcmp(key, "json")) rc = put_schema(c, v, param, 1, err_json);
        else if (!strcmp(key, "regex")) rc = put_string(c, PG_GRAM_REGEX, v, param, err_json);
        else if (!strcmp(key, "choice")) rc = put_choice(c, v, param, err_json);
        else if (!strcmp(key, "grammar")) rc = put_string(c, PG_GRAM_GBNF, v, param, err_json);
        else if (!strcmp(key, "json_object")) {
            if (!json_is_boolean(v)) return fail(err_json, param, "'%s' must be a boolean", param, "");
            rc = json_is_true(v) ? put(c, PG_GRAM_JSON_SCHEMA, dup_n(ANY_OBJECT_SCHEMA, strlen(ANY_OBJECT_SCHEMA)),
                                       strlen(ANY_OBJECT_SCHEMA), param, err_json)
                                 : 0;
        } else if (!strcmp(key, "whitespace")) {
            if (!json_is_string(v) || (strcmp(json_string_value(v), "compact") && strcmp(json_string_value(v), "flexible")))
                return fail(err_json, param, "'%s' must be \"compact\" or \"flexible\"", param, "");
            if (!strcmp(json_string_value(v), "flexible")) c->flags |= PG_GRAM_FLEXIBLE_WS;
            rc = 0;
        } else if (!strcmp(key, "disable_any_whitespace")) {
            if (!json_is_boolean(v)) return fail(err_json, param, "'%s' must be a boolean", param, "");
            if (json_is_false(v)) c->flags |= PG_GRAM_FLEXIBLE_WS;
            rc = 0;
        } else {
            return fail(err_json, param,
                        "unsupported field '%s' (structured_outputs takes json, regex, choice, grammar, json_object, "
                        "whitespace, disable_any_whitespace)",
                        param, "");
        }
        if (rc) return rc;
    }
    return 0;
}

static const char *what(int kind) {
    switch (kind) {
    case PG_GRAM_JSON_SCHEMA: return "JSON schema";
    case PG_GRAM_REGEX: return "regex";
    case PG_GRAM_CHOICE: return "choice list";
    default: return "grammar";
    }
}

static int collect(one *c, json_t *o, json_t **err_json) {
    json_t *v;
    int rc;
    if ((v = json_object_get(o, "response_format")) && !json_is_null(v) && (rc = response_format(c, v, err_json))) return rc;
    if ((v = json_object_get(o, "structured_outputs")) && !json_is_null(v) && (rc = structured_outputs(c, v, err_json)))
        return rc;
    if ((v = json_object_get(o, "guided_json")) && !json_is_null(v) && (rc = put_schema(c, v, "guided_json", 1, err_json)))
        return rc;
    if ((v = json_object_get(o, "guided_regex")) && !json_is_null(v) &&
        (rc = put_string(c, PG_GRAM_REGEX, v, "guided_regex", err_json)))
        return rc;
    if ((v = json_object_get(o, "guided_choice")) && !json_is_null(v) && (rc = put_choice(c, v, "guided_choice", err_json)))
        return rc;
    if ((v = json_object_get(o, "guided_grammar")) && !json_is_null(v) &&
        (rc = put_string(c, PG_GRAM_GBNF, v, "guided_grammar", err_json)))
        return rc;
    if ((v = json_object_get(o, "grammar")) && !json_is_null(v) && (rc = put_string(c, PG_GRAM_GBNF, v, "grammar", err_json)))
        return rc;
    if ((v = json_object_get(o, "json_schema")) && !json_is_null(v) && (rc = put_schema(c, v, "json_schema", 0, err_json)))
        return rc;
    return 0;
}

int srv_structured_parse(pg_gram_cache *cache, json_t *o, pg_gram_ref **out, json_t **err_json) {
    *out = NULL;
    one c = {0};
    int rc = collect(&c, o, err_json);
    if (rc || !c.kind) {
        free(c.text);
        return rc;
    }
    pg_error e = {0};
    int r = cache ? pg_gram_cache_get(cache, c.kind, c.text, c.len, c.flags, out, &e)
                  : pg_gram_build(c.kind, c.text, c.len, c.flags, out, &e);
    free(c.text);
    if (r == PG_ENOMEM) {
        *err_json = srv_error_json("out of memory while compiling the structured-output constraint", "server_error", NULL, NULL);
        return 500;
    }
    if (r < 0) {
        char m[700];
        snprintf(m, sizeof m, "invalid %s in '%s': %s", what(c.kind), c.param, e.msg);
        *err_json = srv_error_json(m, "invalid_request_error", c.param, NULL);
        return 400;
    }
    return 0;
}
