/* test_jsonschema.c - JSON Schema -> GBNF compiler: keywords, refusals with
 * messages, and (with the grammar engine) acceptance of valid and rejection of
 * invalid instances on hand-made schemas and a subset of ../shared/maskbench. */
#include "sample/jsonschema.h"
#include "test.h"

#include <dirent.h>
#include <jansson.h>

#if __has_include("sample/grammar.h")
#include "sample/grammar.h"
#define HAVE_ENGINE 1
#else
#define HAVE_ENGINE 0
#endif

static char *compile(const char *schema, unsigned flags, char *err, size_t errlen) {
    char *g = NULL;
    int r = pg_jsonschema_to_gbnf(schema, strlen(schema), flags, &g, err, errlen);
    if (r != 0) {
        if (g) { fprintf(stderr, "output set on error\n"); t_failures++; }
        return NULL;
    }
    return g;
}

/* refusal: compile fails and the message contains want (keyword and path) */
static void refuse(const char *schema, const char *want) {
    char err[512] = "";
    char *g = compile(schema, 0, err, sizeof err);
    CHECKF(g == NULL, "schema %s compiled but should be refused", schema);
    CHECKF(strstr(err, want) != NULL, "schema %s: message \"%s\" lacks \"%s\"", schema, err, want);
    free(g);
}

static void test_refusals(void) {
    refuse("{\"not\":{\"pattern\":\"a\"}}", "unsupported keyword 'not' (of 'pattern') at /not");
    refuse("{\"not\":{\"enum\":[1,2]}}", "unsupported keyword 'not' (of 'enum') at /not");
    refuse("{\"type\":\"object\",\"properties\":{\"x\":{\"not\":{\"pattern\":\"a\"}}}}", "unsupported keyword 'not' (of 'pattern') at /properties/x/not");
    refuse("{\"not\":{\"type\":\"integer\"}}", "unsupported keyword 'not' (of 'type')");
    refuse("{\"type\":\"object\",\"dependencies\":{\"a\":[\"b\"],\"b\":[\"c\"],\"c\":[\"d\"],\"d\":[\"e\"],\"e\":[\"f\"],\"f\":[\"a\"]}}", "'dependencies' (more than 5");
    refuse("{\"type\":\"array\",\"uniqueItems\":true}", "'uniqueItems'");
    refuse("{\"type\":\"array\",\"items\":{\"type\":\"string\"},\"uniqueItems\":true}", "'uniqueItems'");
    refuse("{\"type\":\"array\",\"items\":{\"enum\":[1,2]},\"uniqueItems\":true,\"minItems\":3}", "admits no value");
    refuse("{\"if\":{\"type\":\"string\"},\"then\":{\"minLength\":2}}", "'if'");
    refuse("{\"type\":\"array\",\"contains\":{\"type\":\"string\"}}", "'contains'");
    refuse("{\"type\":\"object\",\"propertyNames\":{\"pattern\":\"^a\"}}", "'propertyNames'");
    refuse("{\"type\":\"string\",\"pattern\":\"(?=a)b\"}", "'pattern'");
    refuse("{\"type\":\"string\",\"pattern\":\"(a)\\\\1\"}", "backreference");
    refuse("{\"type\":\"string\",\"pattern\":\"a\\\\bc\"}", "word boundary");
    refuse("{\"type\":\"string\",\"pattern\":\"a^b\"}", "anchor inside");
    refuse("{\"type\":\"string\",\"format\":\"ipv6\"}", "'format' (\"ipv6\")");
    refuse("{\"type\":\"number\",\"multipleOf\":0.01}", "'multipleOf'");
    refuse("{\"type\":\"integer\",\"multipleOf\":3,\"minimum\":1}", "'multipleOf'");
    refuse("{\"oneOf\":[{\"type\":\"integer\"},{\"type\":\"number\"}]}", "'oneOf'");
    refuse("{\"oneOf\":[{\"type\":\"object\",\"properties\":{\"a\":{}}},{\"type\":\"object\"}]}", "admits no value");
    refuse("{\"oneOf\":[{\"type\":\"string\",\"pattern\":\"^a\"},{\"type\":\"string\",\"pattern\":\"b$\"}]}", "'oneOf' (alternatives 0 and 1 may overlap)");
    refuse("{\"$ref\":\"#/definitions/missing\"}", "'$ref'");
    refuse("{\"$ref\":\"other.json#/a\"}", "'$ref'");
    refuse("{\"type\":\"string\",\"pattern\":\"a\",\"maxLength\":3}", "'pattern'");
    refuse("{\"type\":\"string\",\"format\":\"uri\",\"maxLength\":30}", "format \"uri\"");
    refuse("{\"type\":\"number\",\"minimum\":0.5,\"maximum\":0.7}", "fractional bounds within one integer");
    refuse("{\"type\":\"object\",\"properties\":{\"ab\":{\"type\":\"integer\"}},\"patternProperties\":{\"^a\":{\"type\":\"string\"}}}", "'patternProperties' (property \"ab\" also matches it)");
    refuse("{\"allOf\":[{\"pattern\":\"^a\"},{\"pattern\":\"b$\"}]}", "'pattern'");
    refuse("false", "admits no value");
    refuse("{\"type\":\"object\",\"properties\":{\"a\":false},\"required\":[\"a\"]}", "admits no value");
    refuse("{\"type\":\"string\",\"minLength\":5,\"maxLength\":2}", "admits no value");
    refuse("{\"type\":", "not valid JSON");
    refuse("{\"type\":\"strin\"}", "'type'");
}

static void test_shapes(void) {
    char err[512];
    /* annotations are ignored, result has a root rule */
    char *g = compile("{\"title\":\"t\",\"description\":\"d\",\"$comment\":\"c\",\"examples\":[1],\"type\":\"integer\"}", 0, err, sizeof err);
    REQUIRE(g != NULL);
    CHECK(!strncmp(g, "root ::= ", 9));
    free(g);
    /* compact by default: no ws rule; flexible adds one */
    g = compile("{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"boolean\"}}}", 0, err, sizeof err);
    REQUIRE(g != NULL);
    CHECK(strstr(g, "ws ::=") == NULL);
    free(g);
    g = compile("{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"boolean\"}}}", PG_JS_FLEXIBLE_WS, err, sizeof err);
    REQUIRE(g != NULL);
    CHECK(strstr(g, "ws ::=") != NULL);
    free(g);
    /* recursion through $ref compiles to a finite grammar */
    g = compile("{\"$defs\":{\"n\":{\"type\":\"object\",\"properties\":{\"kids\":{\"type\":\"array\",\"items\":{\"$ref\":\"#/$defs/n\"}}}}},\"$ref\":\"#/$defs/n\"}", 0, err, sizeof err);
    CHECKF(g != NULL, "%s", err);
    free(g);
    /* 200 optional properties: linear, not exponential */
    char *big = malloc(200 * 40 + 100);
    size_t n = (size_t)sprintf(big, "{\"type\":\"object\",\"properties\":{");
    for (int i = 0; i < 200; i++) n += (size_t)sprintf(big + n, "%s\"p%d\":{\"type\":\"integer\"}", i ? "," : "", i);
    sprintf(big + n, "},\"additionalProperties\":false}");
    g = compile(big, 0, err, sizeof err);
    CHECKF(g != NULL, "%s", err);
    CHECKF(g && strlen(g) < 200000, "grammar of %zu bytes", g ? strlen(g) : 0);
    free(g);
    free(big);
}

#if HAVE_ENGINE
static pg_gram_vocab *g_vocab;

/* 1: instance accepted, 0: rejected, -1: grammar failed to compile */
static int accepts(const char *gbnf, const char *inst, size_t n) {
    pg_grammar *gr = NULL;
    pg_error e = {0};
    if (pg_grammar_compile(gbnf, strlen(gbnf), NULL, &gr, &e) != 0) {
        fprintf(stderr, "engine refused grammar: %s\n", e.msg);
        return -1;
    }
    pg_gmatch *m = pg_gmatch_create(gr, g_vocab);
    int ok = pg_gmatch_accept_bytes(m, inst, n) == 0 && pg_gmatch_is_accepting(m);
    pg_gmatch_destroy(m);
    pg_grammar_free(gr);
    return ok;
}

typedef struct {
    const char *schema;
    const char *inst;
    int valid;
} case_t;

static const case_t CASES[] = {
    /* types and type arrays */
    {"{\"type\":\"integer\"}", "12", 1}, {"{\"type\":\"integer\"}", "1.5", 0}, {"{\"type\":\"integer\"}", "012", 0},
    {"{\"type\":\"number\"}", "-1.5e+3", 1}, {"{\"type\":\"number\"}", "\"1\"", 0},
    {"{\"type\":[\"string\",\"null\"]}", "null", 1}, {"{\"type\":[\"string\",\"null\"]}", "\"a\\\"b\"", 1},
    {"{\"type\":[\"string\",\"null\"]}", "true", 0}, {"{\"type\":\"boolean\"}", "false", 1},
    {"true", "{\"a\":[1,{\"b\":null}]}", 1}, {"{}", "\"x\"", 1},
    /* objects: order, optional subsets, required, additionalProperties */
    {"{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\"},\"b\":{\"type\":\"string\"},\"c\":{\"type\":\"boolean\"}},\"required\":[\"b\"],\"additionalProperties\":false}", "{\"b\":\"x\"}", 1},
    {"{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\"},\"b\":{\"type\":\"string\"},\"c\":{\"type\":\"boolean\"}},\"required\":[\"b\"],\"additionalProperties\":false}", "{\"a\":1,\"b\":\"x\",\"c\":true}", 1},
    {"{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\"},\"b\":{\"type\":\"string\"},\"c\":{\"type\":\"boolean\"}},\"required\":[\"b\"],\"additionalProperties\":false}", "{\"a\":1,\"c\":true}", 0},
    {"{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\"},\"b\":{\"type\":\"string\"},\"c\":{\"type\":\"boolean\"}},\"required\":[\"b\"],\"additionalProperties\":false}", "{\"b\":\"x\",\"d\":1}", 0},
    {"{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\"},\"b\":{\"type\":\"string\"},\"c\":{\"type\":\"boolean\"}},\"required\":[\"b\"],\"additionalProperties\":false}", "{\"b\":\"x\",}", 0},
    {"{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\"}}}", "{\"z\":[1],\"a\":2,\"y\":{}}", 1},
    {"{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\"}}}", "{\"z\":1,\"a\":\"no\"}", 0},
    {"{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\"}},\"additionalProperties\":{\"type\":\"string\"}}", "{\"a\":1,\"ab\":\"s\"}", 1},
    {"{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\"}},\"additionalProperties\":{\"type\":\"string\"}}", "{\"a\":1,\"b\":2}", 0},
    {"{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\"}},\"additionalProperties\":{\"type\":\"string\"}}", "{\"a\":\"s\"}", 0},
    {"{\"type\":\"object\",\"properties\":{},\"required\":[\"id\"]}", "{\"id\":[]}", 1},
    {"{\"type\":\"object\",\"properties\":{},\"required\":[\"id\"]}", "{}", 0},
    {"{\"type\":\"object\",\"minProperties\":2,\"maxProperties\":3,\"additionalProperties\":{\"type\":\"integer\"}}", "{\"a\":1,\"b\":2}", 1},
    {"{\"type\":\"object\",\"minProperties\":2,\"maxProperties\":3,\"additionalProperties\":{\"type\":\"integer\"}}", "{\"a\":1}", 0},
    {"{\"type\":\"object\",\"minProperties\":2,\"maxProperties\":3,\"additionalProperties\":{\"type\":\"integer\"}}", "{\"a\":1,\"b\":2,\"c\":3,\"d\":4}", 0},
    {"{\"type\":\"object\",\"properties\":{\"k\":{\"const\":1}},\"minProperties\":1}", "{\"k\":1}", 1},
    {"{\"type\":\"object\",\"properties\":{\"k\":{\"const\":1}},\"minProperties\":1}", "{}", 0},
    {"{\"type\":\"object\",\"patternProperties\":{\"^x-\":{\"type\":\"integer\"}},\"additionalProperties\":false}", "{\"x-a\":1}", 1},
    {"{\"type\":\"object\",\"patternProperties\":{\"^x-\":{\"type\":\"integer\"}},\"additionalProperties\":false}", "{\"y\":1}", 0},
    {"{\"type\":\"object\",\"properties\":{\"x-a\":{}},\"required\":[\"x-b\"],\"patternProperties\":{\"^x-\":{\"type\":\"integer\"}},\"additionalProperties\":false}", "{\"x-a\":1,\"x-b\":2}", 1},
    {"{\"type\":\"object\",\"properties\":{\"x-a\":{}},\"required\":[\"x-b\"],\"patternProperties\":{\"^x-\":{\"type\":\"integer\"}},\"additionalProperties\":false}", "{\"x-a\":\"s\",\"x-b\":2}", 0},
    {"{\"type\":\"object\",\"properties\":{\"x-a\":{}},\"required\":[\"x-b\"],\"patternProperties\":{\"^x-\":{\"type\":\"integer\"}},\"additionalProperties\":false}", "{\"x-a\":1}", 0},
    {"{\"type\":\"object\",\"properties\":{\"x-a\":{}},\"required\":[\"x-b\"],\"patternProperties\":{\"^x-\":{\"type\":\"integer\"}},\"additionalProperties\":false}", "{\"x-b\":2,\"x-c\":\"s\"}", 0},
    {"{\"type\":\"object\",\"properties\":{\"ab\":{}},\"patternProperties\":{\"^a\":{\"type\":\"string\"}}}", "{\"ab\":\"s\"}", 1},
    {"{\"type\":\"object\",\"properties\":{\"ab\":{}},\"patternProperties\":{\"^a\":{\"type\":\"string\"}}}", "{\"ab\":1}", 0},
    /* arrays */
    {"{\"type\":\"array\",\"items\":{\"type\":\"integer\"},\"minItems\":2,\"maxItems\":3}", "[1,2]", 1},
    {"{\"type\":\"array\",\"items\":{\"type\":\"integer\"},\"minItems\":2,\"maxItems\":3}", "[1]", 0},
    {"{\"type\":\"array\",\"items\":{\"type\":\"integer\"},\"minItems\":2,\"maxItems\":3}", "[1,2,3,4]", 0},
    {"{\"type\":\"array\",\"items\":{\"type\":\"integer\"},\"minItems\":2,\"maxItems\":3}", "[1,\"a\"]", 0},
    {"{\"type\":\"array\",\"prefixItems\":[{\"type\":\"string\"},{\"type\":\"integer\"}],\"items\":false}", "[\"a\",1]", 1},
    {"{\"type\":\"array\",\"prefixItems\":[{\"type\":\"string\"},{\"type\":\"integer\"}],\"items\":false}", "[\"a\"]", 1},
    {"{\"type\":\"array\",\"prefixItems\":[{\"type\":\"string\"},{\"type\":\"integer\"}],\"items\":false}", "[\"a\",1,2]", 0},
    {"{\"type\":\"array\",\"prefixItems\":[{\"type\":\"string\"},{\"type\":\"integer\"}],\"items\":false}", "[1]", 0},
    {"{\"type\":\"array\",\"items\":[{\"type\":\"string\"}],\"additionalItems\":{\"type\":\"null\"},\"minItems\":2}", "[\"a\",null,null]", 1},
    {"{\"type\":\"array\",\"items\":[{\"type\":\"string\"}],\"additionalItems\":{\"type\":\"null\"},\"minItems\":2}", "[\"a\"]", 0},
    {"{\"type\":\"array\",\"items\":[{\"type\":\"string\"}],\"additionalItems\":{\"type\":\"null\"},\"minItems\":2}", "[\"a\",1]", 0},
    {"{\"type\":\"array\",\"items\":{\"enum\":[\"a\",\"b\",\"c\"]},\"uniqueItems\":true,\"minItems\":2}", "[\"c\",\"a\"]", 1},
    {"{\"type\":\"array\",\"items\":{\"enum\":[\"a\",\"b\",\"c\"]},\"uniqueItems\":true,\"minItems\":2}", "[\"c\",\"c\"]", 0},
    {"{\"type\":\"array\",\"items\":{\"enum\":[\"a\",\"b\",\"c\"]},\"uniqueItems\":true,\"minItems\":2}", "[\"c\"]", 0},
    {"{\"type\":\"array\",\"items\":{\"enum\":[\"a\",\"b\",\"c\"]},\"uniqueItems\":true,\"minItems\":2}", "[\"a\",\"b\",\"c\"]", 1},
    {"{\"type\":\"array\",\"items\":{\"type\":\"boolean\"},\"uniqueItems\":true,\"maxItems\":1}", "[true]", 1},
    {"{\"type\":\"array\",\"items\":{\"type\":\"boolean\"},\"uniqueItems\":true}", "[true,false]", 1},
    {"{\"type\":\"array\",\"items\":{\"type\":\"boolean\"},\"uniqueItems\":true}", "[true,true]", 0},
    {"{\"type\":\"array\",\"items\":{\"type\":\"boolean\"},\"uniqueItems\":true}", "[]", 1},
    /* enum / const */
    {"{\"enum\":[\"red\",1,null,{\"a\":[true]}]}", "\"red\"", 1}, {"{\"enum\":[\"red\",1,null,{\"a\":[true]}]}", "1.0", 1},
    {"{\"enum\":[\"red\",1,null,{\"a\":[true]}]}", "{\"a\":[true]}", 1}, {"{\"enum\":[\"red\",1,null,{\"a\":[true]}]}", "\"blue\"", 0},
    {"{\"type\":\"string\",\"enum\":[\"a\",1]}", "1", 0}, {"{\"const\":\"caf\xc3\xa9\"}", "\"caf\xc3\xa9\"", 1},
    {"{\"enum\":[\"a\\\"b\"]}", "\"a\\\"b\"", 1},
    {"{\"type\":\"string\",\"format\":\"url\",\"enum\":[\"a\",\"b\"]}", "\"a\"", 1},
    {"{\"type\":\"string\",\"format\":\"url\",\"enum\":[\"a\",\"b\"]}", "\"c\"", 0},
    {"{\"enum\":[{\"foo\":1},{\"bar\":2}],\"patternProperties\":{\"^f\":{\"type\":\"string\"}}}", "{\"foo\":1}", 0},
    {"{\"enum\":[{\"foo\":1},{\"bar\":2}],\"patternProperties\":{\"^f\":{\"type\":\"string\"}}}", "{\"bar\":2}", 1},
    {"{\"enum\":[[1,\"a\"],[1,2]],\"items\":[{\"type\":\"integer\"}],\"additionalItems\":{\"type\":\"string\"}}", "[1,\"a\"]", 1},
    {"{\"enum\":[[1,\"a\"],[1,2]],\"items\":[{\"type\":\"integer\"}],\"additionalItems\":{\"type\":\"string\"}}", "[1,2]", 0},
    {"{\"enum\":[1,2,3],\"not\":{\"enum\":[2]}}", "1", 1}, {"{\"enum\":[1,2,3],\"not\":{\"enum\":[2]}}", "2", 0},
    {"{\"enum\":[\"ab\",\"cd\",\"e\"],\"anyOf\":[{\"maxLength\":1},{\"not\":{\"const\":\"cd\"}}]}", "\"ab\"", 1},
    {"{\"enum\":[\"ab\",\"cd\",\"e\"],\"anyOf\":[{\"maxLength\":1},{\"not\":{\"const\":\"cd\"}}]}", "\"cd\"", 0},
    {"{\"enum\":[\"ab\",\"cd\",\"e\"],\"anyOf\":[{\"maxLength\":1},{\"not\":{\"const\":\"cd\"}}]}", "\"e\"", 1},
    /* strings */
    {"{\"type\":\"string\",\"minLength\":2,\"maxLength\":3}", "\"\xc3\xa9\xc3\xa9\"", 1},
    {"{\"type\":\"string\",\"minLength\":2,\"maxLength\":3}", "\"a\\nb\"", 1},
    {"{\"type\":\"string\",\"minLength\":2,\"maxLength\":3}", "\"abcd\"", 0},
    {"{\"type\":\"string\",\"minLength\":2,\"maxLength\":3}", "\"a\"", 0},
    {"{\"type\":\"string\",\"pattern\":\"^[a-z]+$\",\"maxLength\":4}", "\"abcd\"", 1},
    {"{\"type\":\"string\",\"pattern\":\"^[a-z]+$\",\"maxLength\":4}", "\"abcde\"", 0},
    {"{\"type\":\"string\",\"pattern\":\"^[a-z]+$\",\"maxLength\":4}", "\"ab1\"", 0},
    {"{\"type\":\"string\",\"pattern\":\"ab\"}", "\"xxabyy\"", 1}, {"{\"type\":\"string\",\"pattern\":\"ab\"}", "\"xxbayy\"", 0},
    {"{\"type\":\"string\",\"pattern\":\"^\\\\d{3}-\\\\w+$\"}", "\"123-a_b\"", 1},
    {"{\"type\":\"string\",\"pattern\":\"^\\\\d{3}-\\\\w+$\"}", "\"12-ab\"", 0},
    {"{\"type\":\"string\",\"pattern\":\"^\\\\d{3}-\\\\w+$\"}", "\"123-a b\"", 0},
    {"{\"type\":\"string\",\"pattern\":\"^(ab|cd){2}$\"}", "\"abcd\"", 1}, {"{\"type\":\"string\",\"pattern\":\"^(ab|cd){2}$\"}", "\"abc\"", 0},
    {"{\"type\":\"string\",\"pattern\":\"^a.c$\"}", "\"a\\\"c\"", 1}, {"{\"type\":\"string\",\"pattern\":\"^a.c$\"}", "\"a\\nc\"", 0},
    {"{\"type\":\"string\",\"pattern\":\"^[^a]$\"}", "\"\\\\\"", 1},
    {"{\"type\":\"string\",\"format\":\"date\"}", "\"2024-02-29\"", 1}, {"{\"type\":\"string\",\"format\":\"date\"}", "\"2023-02-29\"", 0},
    {"{\"type\":\"string\",\"format\":\"date\"}", "\"1900-02-29\"", 0}, {"{\"type\":\"string\",\"format\":\"date\"}", "\"2000-02-29\"", 1},
    {"{\"type\":\"string\",\"format\":\"date\"}", "\"2019-04-31\"", 0}, {"{\"type\":\"string\",\"format\":\"date\"}", "\"2019-12-31\"", 1},
    {"{\"type\":\"string\",\"format\":\"date-time\"}", "\"2019-12-31T23:59:59.123Z\"", 1},
    {"{\"type\":\"string\",\"format\":\"date-time\"}", "\"2019-12-31T24:00:00Z\"", 0},
    {"{\"type\":\"string\",\"format\":\"date-time\"}", "\"2019-12-31T10:00:00+05:30\"", 1},
    {"{\"type\":\"string\",\"format\":\"date-time\"}", "\"2019-12-31 10:00:00Z\"", 0},
    {"{\"type\":\"string\",\"format\":\"time\"}", "\"10:00:00Z\"", 1}, {"{\"type\":\"string\",\"format\":\"time\"}", "\"10:00\"", 0},
    {"{\"type\":\"string\",\"format\":\"email\"}", "\"a@b\"", 1}, {"{\"type\":\"string\",\"format\":\"email\"}", "\"ab\"", 0},
    {"{\"type\":\"string\",\"format\":\"uuid\"}", "\"123e4567-e89b-12d3-a456-426655440000\"", 1},
    {"{\"type\":\"string\",\"format\":\"uuid\"}", "\"123e4567-e89b-12d3-a456-42665544000\"", 0},
    {"{\"type\":\"string\",\"format\":\"uri\"}", "\"https://example.com/a?b=c#d\"", 1},
    {"{\"type\":\"string\",\"format\":\"uri\"}", "\"not a url\"", 0}, {"{\"type\":\"string\",\"format\":\"uri\"}", "\"/relative\"", 0},
    {"{\"type\":\"string\",\"format\":\"ipv4\"}", "\"192.168.0.255\"", 1}, {"{\"type\":\"string\",\"format\":\"ipv4\"}", "\"192.168.0.256\"", 0},
    {"{\"type\":\"string\",\"format\":\"hostname\"}", "\"ns1.example.com\"", 1}, {"{\"type\":\"string\",\"format\":\"hostname\"}", "\"ns1 example.com\"", 0},
    {"{\"type\":\"string\",\"format\":\"int32\"}", "\"anything\"", 1},
    /* numbers */
    {"{\"type\":\"integer\",\"minimum\":-5,\"maximum\":130}", "-5", 1}, {"{\"type\":\"integer\",\"minimum\":-5,\"maximum\":130}", "130", 1},
    {"{\"type\":\"integer\",\"minimum\":-5,\"maximum\":130}", "131", 0}, {"{\"type\":\"integer\",\"minimum\":-5,\"maximum\":130}", "-6", 0},
    {"{\"type\":\"integer\",\"minimum\":-5,\"maximum\":130}", "99", 1}, {"{\"type\":\"integer\",\"minimum\":-5,\"maximum\":130}", "1000", 0},
    {"{\"type\":\"integer\",\"exclusiveMinimum\":0}", "0", 0}, {"{\"type\":\"integer\",\"exclusiveMinimum\":0}", "1", 1},
    {"{\"type\":\"integer\",\"exclusiveMinimum\":0}", "123456789012", 1},
    {"{\"type\":\"integer\",\"minimum\":0,\"exclusiveMinimum\":true,\"$schema\":\"http://json-schema.org/draft-04/schema#\"}", "0", 0},
    {"{\"type\":\"number\",\"minimum\":0,\"maximum\":1}", "0.5", 1}, {"{\"type\":\"number\",\"minimum\":0,\"maximum\":1}", "1.0", 1},
    {"{\"type\":\"number\",\"minimum\":0,\"maximum\":1}", "1.01", 0}, {"{\"type\":\"number\",\"minimum\":0,\"maximum\":1}", "-0.1", 0},
    {"{\"type\":\"number\",\"exclusiveMaximum\":1,\"minimum\":-2}", "-2", 1}, {"{\"type\":\"number\",\"exclusiveMaximum\":1,\"minimum\":-2}", "-1.5", 1},
    {"{\"type\":\"number\",\"exclusiveMaximum\":1,\"minimum\":-2}", "1", 0}, {"{\"type\":\"number\",\"exclusiveMaximum\":1,\"minimum\":-2}", "-2.5", 0},
    {"{\"type\":\"number\",\"minimum\":0.5}", "0.5", 1}, {"{\"type\":\"number\",\"minimum\":0.5}", "0.49", 0},
    {"{\"type\":\"number\",\"minimum\":0.5}", "3", 1}, {"{\"type\":\"number\",\"minimum\":0.5}", "-1", 0},
    {"{\"type\":\"number\",\"minimum\":0.5}", "0.50001", 1}, {"{\"type\":\"number\",\"minimum\":0.5}", "0", 0},
    {"{\"type\":\"number\",\"minimum\":0.01,\"maximum\":1.0}", "0.01", 1}, {"{\"type\":\"number\",\"minimum\":0.01,\"maximum\":1.0}", "0.009", 0},
    {"{\"type\":\"number\",\"minimum\":0.01,\"maximum\":1.0}", "1.0", 1}, {"{\"type\":\"number\",\"minimum\":0.01,\"maximum\":1.0}", "1.01", 0},
    {"{\"type\":\"number\",\"minimum\":0.01,\"maximum\":1.0}", "0.5", 1},
    {"{\"type\":\"number\",\"minimum\":-1.5,\"exclusiveMaximum\":2.5}", "-1.5", 1}, {"{\"type\":\"number\",\"minimum\":-1.5,\"exclusiveMaximum\":2.5}", "-1.6", 0},
    {"{\"type\":\"number\",\"minimum\":-1.5,\"exclusiveMaximum\":2.5}", "2.49", 1}, {"{\"type\":\"number\",\"minimum\":-1.5,\"exclusiveMaximum\":2.5}", "2.5", 0},
    {"{\"type\":\"number\",\"minimum\":-1.5,\"exclusiveMaximum\":2.5}", "2.50", 0}, {"{\"type\":\"number\",\"minimum\":-1.5,\"exclusiveMaximum\":2.5}", "0", 1},
    {"{\"type\":\"number\",\"maximum\":-0.5}", "-0.5", 1}, {"{\"type\":\"number\",\"maximum\":-0.5}", "-0.4", 0},
    {"{\"type\":\"number\",\"maximum\":-0.5}", "0", 0}, {"{\"type\":\"number\",\"maximum\":-0.5}", "-3", 1},
    {"{\"type\":\"number\",\"exclusiveMinimum\":0.25}", "0.25", 0}, {"{\"type\":\"number\",\"exclusiveMinimum\":0.25}", "0.2500001", 1},
    {"{\"type\":\"number\",\"exclusiveMinimum\":0.25}", "0.250", 0},
    {"{\"type\":\"integer\",\"allOf\":[{\"multipleOf\":4},{\"multipleOf\":6}]}", "12", 1},
    {"{\"type\":\"integer\",\"allOf\":[{\"multipleOf\":4},{\"multipleOf\":6}]}", "8", 0},
    {"{\"type\":\"integer\",\"multipleOf\":7}", "49", 1}, {"{\"type\":\"integer\",\"multipleOf\":7}", "50", 0},
    {"{\"type\":\"integer\",\"multipleOf\":7}", "-14", 1}, {"{\"type\":\"integer\",\"multipleOf\":7}", "0", 1},
    /* combinators */
    {"{\"anyOf\":[{\"type\":\"string\",\"maxLength\":1},{\"type\":\"integer\"}]}", "\"a\"", 1},
    {"{\"anyOf\":[{\"type\":\"string\",\"maxLength\":1},{\"type\":\"integer\"}]}", "\"ab\"", 0},
    {"{\"oneOf\":[{\"type\":\"string\"},{\"type\":\"integer\"}]}", "3", 1},
    {"{\"oneOf\":[{\"type\":\"object\",\"properties\":{\"k\":{\"const\":\"a\"},\"x\":{\"type\":\"integer\"}},\"required\":[\"k\"]},{\"type\":\"object\",\"properties\":{\"k\":{\"const\":\"b\"}},\"required\":[\"k\"]}]}", "{\"k\":\"a\",\"x\":1}", 1},
    {"{\"oneOf\":[{\"type\":\"object\",\"properties\":{\"k\":{\"const\":\"a\"},\"x\":{\"type\":\"integer\"}},\"required\":[\"k\"]},{\"type\":\"object\",\"properties\":{\"k\":{\"const\":\"b\"}},\"required\":[\"k\"]}]}", "{\"k\":\"c\"}", 0},
    {"{\"type\":\"object\",\"properties\":{\"a\":{},\"b\":{}},\"anyOf\":[{\"required\":[\"a\"]},{\"required\":[\"b\"]}]}", "{\"b\":1}", 1},
    {"{\"type\":\"object\",\"properties\":{\"a\":{},\"b\":{}},\"anyOf\":[{\"required\":[\"a\"]},{\"required\":[\"b\"]}]}", "{}", 0},
    {"{\"allOf\":[{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\"}},\"required\":[\"a\"]},{\"properties\":{\"b\":{\"type\":\"string\"}},\"required\":[\"b\"]}]}", "{\"a\":1,\"b\":\"x\"}", 1},
    {"{\"allOf\":[{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\"}},\"required\":[\"a\"]},{\"properties\":{\"b\":{\"type\":\"string\"}},\"required\":[\"b\"]}]}", "{\"a\":1}", 0},
    {"{\"allOf\":[{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\"}},\"additionalProperties\":false},{\"properties\":{\"b\":{\"type\":\"string\"}}}]}", "{\"a\":1,\"b\":\"x\"}", 0},
    {"{\"allOf\":[{\"type\":\"integer\",\"minimum\":3},{\"maximum\":5}]}", "6", 0}, {"{\"allOf\":[{\"type\":\"integer\",\"minimum\":3},{\"maximum\":5}]}", "4", 1},
    /* not, dependencies, oneOf made exact through not */
    {"{\"not\":{\"type\":[\"string\",\"object\"]}}", "[1]", 1}, {"{\"not\":{\"type\":[\"string\",\"object\"]}}", "\"s\"", 0},
    {"{\"type\":\"object\",\"properties\":{\"a\":{\"not\":{}}}}", "{\"b\":1}", 1},
    {"{\"type\":\"object\",\"properties\":{\"a\":{\"not\":{}}}}", "{\"a\":1}", 0},
    {"{\"type\":\"object\",\"not\":{\"required\":[\"x\"]}}", "{\"y\":1}", 1},
    {"{\"type\":\"object\",\"not\":{\"required\":[\"x\"]}}", "{\"x\":1}", 0},
    {"{\"type\":\"object\",\"properties\":{\"a\":{},\"b\":{},\"c\":{}},\"dependencies\":{\"a\":[\"c\"]}}", "{\"a\":1,\"c\":2}", 1},
    {"{\"type\":\"object\",\"properties\":{\"a\":{},\"b\":{},\"c\":{}},\"dependencies\":{\"a\":[\"c\"]}}", "{\"b\":1}", 1},
    {"{\"type\":\"object\",\"properties\":{\"a\":{},\"b\":{},\"c\":{}},\"dependencies\":{\"a\":[\"c\"]}}", "{\"a\":1,\"b\":2}", 0},
    {"{\"type\":\"object\",\"properties\":{\"a\":{},\"b\":{}},\"dependencies\":{\"a\":{\"properties\":{\"b\":{\"type\":\"string\"}}}}}", "{\"a\":1,\"b\":\"s\"}", 1},
    {"{\"type\":\"object\",\"properties\":{\"a\":{},\"b\":{}},\"dependencies\":{\"a\":{\"properties\":{\"b\":{\"type\":\"string\"}}}}}", "{\"a\":1,\"b\":2}", 0},
    {"{\"type\":\"object\",\"properties\":{\"a\":{},\"b\":{}},\"dependencies\":{\"a\":{\"properties\":{\"b\":{\"type\":\"string\"}}}}}", "{\"b\":2}", 1},
    {"{\"type\":\"object\",\"properties\":{\"p\":{},\"q\":{}},\"oneOf\":[{\"required\":[\"p\"]},{\"required\":[\"q\"]}]}", "{\"p\":1}", 1},
    {"{\"type\":\"object\",\"properties\":{\"p\":{},\"q\":{}},\"oneOf\":[{\"required\":[\"p\"]},{\"required\":[\"q\"]}]}", "{\"q\":1}", 1},
    {"{\"type\":\"object\",\"properties\":{\"p\":{},\"q\":{}},\"oneOf\":[{\"required\":[\"p\"]},{\"required\":[\"q\"]}]}", "{\"p\":1,\"q\":1}", 0},
    {"{\"type\":\"object\",\"properties\":{\"p\":{},\"q\":{}},\"oneOf\":[{\"required\":[\"p\"]},{\"required\":[\"q\"]}]}", "{}", 0},
    {"{\"not\":{\"minLength\":2}}", "\"a\"", 1}, {"{\"not\":{\"minLength\":2}}", "\"ab\"", 0}, {"{\"not\":{\"minLength\":2}}", "3", 0},
    {"{\"type\":\"integer\",\"not\":{\"minimum\":3,\"maximum\":5}}", "4", 0}, {"{\"type\":\"integer\",\"not\":{\"minimum\":3,\"maximum\":5}}", "6", 1},
    {"{\"type\":\"integer\",\"not\":{\"minimum\":3,\"maximum\":5}}", "2", 1},
    {"{\"not\":{\"type\":\"object\",\"required\":[\"a\"]}}", "\"s\"", 1}, {"{\"not\":{\"type\":\"object\",\"required\":[\"a\"]}}", "{\"a\":1}", 0},
    {"{\"not\":{\"type\":\"object\",\"required\":[\"a\"]}}", "{\"b\":1}", 1},
    {"{\"not\":{\"required\":[\"a\"]}}", "\"s\"", 0},
    {"{\"type\":\"object\",\"properties\":{\"r\":{\"type\":\"number\"},\"l\":{\"type\":\"number\"},\"w\":{\"type\":\"number\"}},\"oneOf\":[{\"required\":[\"r\"]},{\"properties\":{\"l\":{\"minimum\":1}},\"required\":[\"l\",\"w\"]}]}", "{\"r\":1,\"l\":0,\"w\":2}", 1},
    {"{\"type\":\"object\",\"properties\":{\"r\":{\"type\":\"number\"},\"l\":{\"type\":\"number\"},\"w\":{\"type\":\"number\"}},\"oneOf\":[{\"required\":[\"r\"]},{\"properties\":{\"l\":{\"minimum\":1}},\"required\":[\"l\",\"w\"]}]}", "{\"r\":1,\"l\":5,\"w\":2}", 0},
    {"{\"type\":\"object\",\"properties\":{\"r\":{\"type\":\"number\"},\"l\":{\"type\":\"number\"},\"w\":{\"type\":\"number\"}},\"oneOf\":[{\"required\":[\"r\"]},{\"properties\":{\"l\":{\"minimum\":1}},\"required\":[\"l\",\"w\"]}]}", "{\"l\":5,\"w\":2}", 1},
    {"{\"type\":\"object\",\"properties\":{\"r\":{\"type\":\"number\"},\"l\":{\"type\":\"number\"},\"w\":{\"type\":\"number\"}},\"oneOf\":[{\"required\":[\"r\"]},{\"properties\":{\"l\":{\"minimum\":1}},\"required\":[\"l\",\"w\"]}]}", "{\"l\":5}", 0},
    {"{\"type\":\"string\",\"oneOf\":[{\"maxLength\":0},{\"minLength\":1,\"pattern\":\"^a\"}]}", "\"\"", 1},
    {"{\"type\":\"string\",\"oneOf\":[{\"maxLength\":0},{\"minLength\":1,\"pattern\":\"^a\"}]}", "\"b\"", 0},
    {"{\"not\":{\"enum\":[\"a\",\"b\",null]}}", "\"c\"", 1}, {"{\"not\":{\"enum\":[\"a\",\"b\",null]}}", "\"ab\"", 1},
    {"{\"not\":{\"enum\":[\"a\",\"b\",null]}}", "\"a\"", 0}, {"{\"not\":{\"enum\":[\"a\",\"b\",null]}}", "null", 0},
    {"{\"not\":{\"enum\":[\"a\",\"b\",null]}}", "[1]", 1},
    {"{\"type\":\"boolean\",\"not\":{\"const\":true}}", "false", 1}, {"{\"type\":\"boolean\",\"not\":{\"const\":true}}", "true", 0},
    /* $ref and recursion */
    {"{\"definitions\":{\"n\":{\"type\":\"object\",\"properties\":{\"v\":{\"type\":\"integer\"},\"next\":{\"$ref\":\"#/definitions/n\"}},\"required\":[\"v\"],\"additionalProperties\":false}},\"$ref\":\"#/definitions/n\"}", "{\"v\":1,\"next\":{\"v\":2,\"next\":{\"v\":3}}}", 1},
    {"{\"definitions\":{\"n\":{\"type\":\"object\",\"properties\":{\"v\":{\"type\":\"integer\"},\"next\":{\"$ref\":\"#/definitions/n\"}},\"required\":[\"v\"],\"additionalProperties\":false}},\"$ref\":\"#/definitions/n\"}", "{\"v\":1,\"next\":{\"next\":{\"v\":3}}}", 0},
    {"{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\"},\"b\":{\"$ref\":\"#/properties/a\"}}}", "{\"b\":\"s\"}", 0},
    {"{\"type\":\"object\",\"properties\":{\"a\":true,\"b\":false}}", "{\"b\":1}", 0},
};

static void test_cases(void) {
    for (size_t i = 0; i < sizeof CASES / sizeof CASES[0]; i++) {
        for (unsigned fl = 0; fl <= PG_JS_FLEXIBLE_WS; fl++) {
            char err[512];
            char *g = compile(CASES[i].schema, fl, err, sizeof err);
            CHECKF(g != NULL, "case %zu %s: %s", i, CASES[i].schema, err);
            if (!g) continue;
            int a = accepts(g, CASES[i].inst, strlen(CASES[i].inst));
            CHECKF(a == CASES[i].valid, "case %zu schema %s instance %s: got %d want %d (flags %u)", i, CASES[i].schema,
                   CASES[i].inst, a, CASES[i].valid, fl);
            free(g);
        }
    }
    /* flexible whitespace */
    char err[512];
    char *g = compile("{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"array\",\"items\":{\"type\":\"integer\"}}}}", PG_JS_FLEXIBLE_WS, err, sizeof err);
    REQUIRE(g != NULL);
    const char *sp = "{ \"a\" :\n [ 1 , 2 ]\t}";
    CHECK(accepts(g, sp, strlen(sp)) == 1);
    free(g);
    g = compile("{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"array\",\"items\":{\"type\":\"integer\"}}}}", 0, err, sizeof err);
    REQUIRE(g != NULL);
    CHECK(accepts(g, sp, strlen(sp)) == 0);
    free(g);
}

/* A bounded subset of MaskBench: every 15th file. Valid instances must be
 * accepted except for known under-approximations (keys out of the schema's
 * order), invalid ones must never be. */
static void test_maskbench(void) {
    const char *td = t_testdata();
    if (!td) { fprintf(stderr, "maskbench subset skipped: no test data\n"); return; }
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/maskbench", td);
    DIR *d = opendir(dir);
    if (!d) { fprintf(stderr, "maskbench subset skipped: no %s\n", dir); return; }
    char **names = NULL;
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (!strstr(de->d_name, ".json")) continue;
        names = realloc(names, (n + 1) * sizeof *names);
        names[n++] = strdup(de->d_name);
    }
    closedir(d);
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++)
            if (strcmp(names[i], names[j]) > 0) { char *t = names[i]; names[i] = names[j]; names[j] = t; }
    int files = 0, compiled = 0, pass = 0, inval = 0, valerr = 0;
    for (size_t i = 0; i < n; i += 15) {
        char path[2048];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        json_error_t je;
        json_t *doc = json_load_file(path, 0, &je);
        if (!doc) continue;
        files++;
        char *s = json_dumps(json_object_get(doc, "schema"), JSON_ENCODE_ANY | JSON_COMPACT);
        char err[512], *g = NULL;
        if (pg_jsonschema_to_gbnf(s, strlen(s), 0, &g, err, sizeof err) == 0) {
            compiled++;
            pg_grammar *gr = NULL;
            pg_error e = {0};
            int ok = 1;
            if (pg_grammar_compile(g, strlen(g), NULL, &gr, &e) != 0) {
                fprintf(stderr, "%s: engine refused grammar: %s\n", names[i], e.msg);
                ok = 0;
                valerr++;
            } else {
                json_t *tests = json_object_get(doc, "tests");
                size_t k;
                json_t *t;
                json_array_foreach(tests, k, t) {
                    char *inst = json_dumps(json_object_get(t, "data"), JSON_ENCODE_ANY | JSON_COMPACT);
                    pg_gmatch *m = pg_gmatch_create(gr, g_vocab);
                    int acc = pg_gmatch_accept_bytes(m, inst, strlen(inst)) == 0 && pg_gmatch_is_accepting(m);
                    pg_gmatch_destroy(m);
                    int valid = json_is_true(json_object_get(t, "valid"));
                    if (acc && !valid) { inval++; ok = 0; fprintf(stderr, "%s: INVALID instance accepted: %.200s\n", names[i], inst); }
                    if (!acc && valid) { ok = 0; fprintf(stderr, "%s: valid instance rejected: %.200s\n", names[i], inst); }
                    free(inst);
                }
                pg_grammar_free(gr);
                if (!ok) valerr++;
            }
            pass += ok;
        }
        free(g);
        free(s);
        json_decref(doc);
    }
    for (size_t i = 0; i < n; i++) free(names[i]);
    free(names);
    fprintf(stderr, "maskbench subset: %d files, %d compiled, %d pass, %d with a rejected valid instance, %d invalid accepted\n",
            files, compiled, pass, valerr, inval);
    CHECK(inval == 0);
    CHECKF(files == 0 || pass * 100 >= files * 70, "pass %d of %d", pass, files);
}
#endif

int main(void) {
    test_refusals();
    test_shapes();
#if HAVE_ENGINE
    /* single-byte vocabulary: instances are fed as bytes */
    const char *toks[257];
    size_t lens[257];
    char bytes[256];
    for (int i = 0; i < 256; i++) { bytes[i] = (char)i; toks[i] = &bytes[i]; lens[i] = 1; }
    toks[256] = NULL;
    lens[256] = 0;
    int32_t eog = 256;
    pg_error e = {0};
    g_vocab = pg_gram_vocab_create_raw(toks, lens, 257, &eog, 1, &e);
    REQUIRE(g_vocab != NULL);
    test_cases();
    test_maskbench();
    pg_gram_vocab_free(g_vocab);
#else
    fprintf(stderr, "grammar engine not in this tree: acceptance tests not built\n");
#endif
    return t_done("test_jsonschema");
}
