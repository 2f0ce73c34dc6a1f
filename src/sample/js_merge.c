/* js_merge.c - schema-level helpers of the JSON Schema compiler: keyword
 * lists and type bits, JSON equality, $ref resolution, flattening and
 * merging of allOf into one synthetic schema (merge()), and validation of
 * literal instances against a schema (validate()). */
#include "sample/js_impl.h"


#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>


/* ------------------------------------------------------ schema helpers */


/* keywords this compiler understands */
static const char *const HANDLED[] = {
    "type", "enum", "const", "properties", "required", "additionalProperties", "patternProperties",
    "items", "prefixItems", "additionalItems", "minItems", "maxItems", "uniqueItems", "minLength",
    "maxLength", "pattern", "format", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum",
    "multipleOf", "minProperties", "maxProperties", "allOf", "anyOf", "oneOf", "$ref", "if", "not",
    "dependencies", "dependentRequired", "dependentSchemas", "x-pg-notin", NULL};
/* standard keywords that are refused */
const char *const REFUSED[] = {
    "contains", "minContains",
    "maxContains", "propertyNames", "unevaluatedProperties", "unevaluatedItems", "$dynamicRef",
    "$recursiveRef", "extends", "disallow", "divisibleBy", NULL};

int in_list(const char *k, const char *const *l) {
    for (; *l; l++)
        if (!strcmp(k, *l)) return 1;
    return 0;
}
/* keyword that constrains instances (as opposed to annotations/unknown) */
int is_constraint(const char *k) { return in_list(k, HANDLED) || in_list(k, REFUSED); }

int has_constraints_except(const json_t *s, const char *skip1, const char *skip2) {
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)s, k, v) {
        if ((skip1 && !strcmp(k, skip1)) || (skip2 && !strcmp(k, skip2))) continue;
        if (is_constraint(k)) return 1;
    }
    return 0;
}

int n_constraints(const json_t *s) {
    int n = 0;
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)s, k, v) n += is_constraint(k);
    return n;
}

json_t *own(ctx_t *c, json_t *v) {
    json_array_append_new(c->owned, v);
    return v;
}

static unsigned type_bit(const char *t) {
    if (!strcmp(t, "null")) return T_NULL;
    if (!strcmp(t, "boolean")) return T_BOOL;
    if (!strcmp(t, "integer")) return T_INT;
    if (!strcmp(t, "number")) return T_INT | T_FRAC;
    if (!strcmp(t, "string")) return T_STR;
    if (!strcmp(t, "array")) return T_ARR;
    if (!strcmp(t, "object")) return T_OBJ;
    if (!strcmp(t, "any")) return T_ALL;
    return 0;
}
/* allowed type set from "type"; returns (unsigned)-1 on a bad value */
unsigned schema_types(const json_t *s) {
    json_t *t = json_object_get(s, "type");
    if (!t) return T_ALL;
    if (json_is_string(t)) {
        unsigned b = type_bit(json_string_value(t));
        return b ? b : (unsigned)-1;
    }
    if (json_is_array(t)) {
        unsigned m = 0;
        size_t i;
        json_t *e;
        json_array_foreach(t, i, e) {
            unsigned b = json_is_string(e) ? type_bit(json_string_value(e)) : 0;
            if (!b) return (unsigned)-1;
            m |= b;
        }
        return m;
    }
    return (unsigned)-1;
}

unsigned value_type(ctx_t *c, const json_t *v) {
    switch (json_typeof(v)) {
    case JSON_NULL: return T_NULL;
    case JSON_TRUE: case JSON_FALSE: return T_BOOL;
    case JSON_INTEGER: return T_INT;
    case JSON_REAL: {
        double d = json_real_value(v);
        if (c->draft >= 6 && d == floor(d) && fabs(d) < 1e300) return T_INT;
        return T_FRAC;
    }
    case JSON_STRING: return T_STR;
    case JSON_ARRAY: return T_ARR;
    case JSON_OBJECT: return T_OBJ;
    }
    return 0;
}

/* JSON Schema equality: numbers by value, no bool/number confusion */
int js_equal(const json_t *a, const json_t *b) {
    if (json_is_number(a) && json_is_number(b)) return json_number_value(a) == json_number_value(b);
    if (json_typeof(a) != json_typeof(b)) return 0;
    if (json_is_array(a)) {
        if (json_array_size(a) != json_array_size(b)) return 0;
        for (size_t i = 0; i < json_array_size(a); i++)
            if (!js_equal(json_array_get(a, i), json_array_get(b, i))) return 0;
        return 1;
    }
    if (json_is_object(a)) {
        if (json_object_size(a) != json_object_size(b)) return 0;
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)a, k, v) {
            json_t *w = json_object_get(b, k);
            if (!w || !js_equal(v, w)) return 0;
        }
        return 1;
    }
    return json_equal((json_t *)a, (json_t *)b);
}

static size_t utf8_len(const char *s, size_t n) {
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (((unsigned char)s[i] & 0xC0) != 0x80) k++;
    return k;
}

/* ------------------------------------------------------------- $ref */

static json_t *resolve_ref(ctx_t *c, const char *ref) {
    const char *p = ref;
    if (*p != '#') {
        /* allow the document's own $id as prefix */
        json_t *id = json_object_get(c->root, "$id");
        if (!id) id = json_object_get(c->root, "id");
        const char *h = strchr(ref, '#');
        if (!id || !json_is_string(id) || !h) return NULL;
        size_t idl = strlen(json_string_value(id));
        const char *ids = json_string_value(id);
        if (idl && ids[idl - 1] == '#') idl--;
        if ((size_t)(h - ref) != idl || strncmp(ref, ids, idl)) return NULL;
        p = h;
    }
    p++; /* '#' */
    json_t *cur = c->root;
    if (!*p) return cur;
    if (*p != '/') {
        /* plain-name fragment: $anchor or draft-6/7 "$id": "#name" */
        return NULL;
    }
    while (*p == '/') {
        p++;
        char tok[512];
        size_t k = 0;
        while (*p && *p != '/' && k + 1 < sizeof tok) {
            char ch = *p++;
            if (ch == '~' && *p == '0') { ch = '~'; p++; }
            else if (ch == '~' && *p == '1') { ch = '/'; p++; }
            else if (ch == '%' && hexval(p[0]) >= 0 && hexval(p[1]) >= 0) {
                ch = (char)(hexval(p[0]) * 16 + hexval(p[1]));
                p += 2;
            }
            tok[k++] = ch;
        }
        tok[k] = 0;
        if (json_is_object(cur)) cur = json_object_get(cur, tok);
        else if (json_is_array(cur)) {
            char *e;
            long idx = strtol(tok, &e, 10);
            if (*e || idx < 0) return NULL;
            cur = json_array_get(cur, (size_t)idx);
        } else return NULL;
        if (!cur) return NULL;
    }
    return cur;
}

/* Follow $ref chains (siblings ignored in draft <= 7). Returns the node to
 * use, or NULL after fail(). *merged_needed set when a 2019+ $ref has
 * constraining siblings. */
json_t *deref(ctx_t *c, json_t *s, const char *path, int *sib) {
    *sib = 0;
    for (int hops = 0; json_is_object(s); hops++) {
        json_t *r = json_object_get(s, "$ref");
        if (!r) return s;
        if (!json_is_string(r)) { fail(c, path, "bad $ref"); return NULL; }
        if (hops > 32) { fail(c, path, "unsupported keyword '$ref' (cycle of references)"); return NULL; }
        json_t *t = resolve_ref(c, json_string_value(r));
        if (!t) { fail(c, path, "unsupported keyword '$ref' (cannot resolve \"%.100s\")", json_string_value(r)); return NULL; }
        if (c->draft >= 2019 && has_constraints_except(s, "$ref", NULL)) { *sib = 1; return s; }
        s = t;
    }
    return s;
}

/* Does Python-style pattern pat match (search) subj? PCRE2 with UTF/UCP is
 * close enough to decide whether a property name falls under a pattern; an
 * error counts as "cannot tell" (*err = 1). */
int pcre_matches(const char *pat, const char *subj, int *err) {
    int ec;
    PCRE2_SIZE eo;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)pat, PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_UCP, &ec, &eo, NULL);
    if (!re) { *err = 1; return 0; }
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(re, NULL);
    int rc = pcre2_match(re, (PCRE2_SPTR)subj, strlen(subj), 0, 0, md, NULL);
    pcre2_match_data_free(md);
    pcre2_code_free(re);
    if (rc < -1) { *err = 1; return 0; }
    return rc >= 0;
}

/* ------------------------------------------------------------- allOf merge */


/* $ref (with siblings) and allOf resolved at the top of s. */
json_t *flatten(ctx_t *c, json_t *s, const char *path, int depth) {
    if (depth > 24) { fail(c, path, "unsupported keyword 'allOf' (recursive reference inside allOf)"); return NULL; }
    int sib;
    s = deref(c, s, path, &sib);
    if (!s) return NULL;
    if (!json_is_object(s)) return s;
    if (sib) {
        json_t *t = resolve_ref(c, json_string_value(json_object_get(s, "$ref")));
        json_t *rest = own(c, json_copy(s));
        json_object_del(rest, "$ref");
        return merge(c, t, rest, path, depth + 1);
    }
    json_t *all = json_object_get(s, "allOf");
    if (!all) return s;
    if (!json_is_array(all)) { fail(c, path, "bad allOf"); return NULL; }
    json_t *acc = own(c, json_copy(s));
    json_object_del(acc, "allOf");
    size_t i;
    json_t *e;
    json_array_foreach(all, i, e) {
        acc = merge(c, acc, e, path, depth + 1);
        if (!acc) return NULL;
    }
    return acc;
}

json_t *enum_of(json_t *s) {
    json_t *cn = json_object_get(s, "const");
    json_t *en = json_object_get(s, "enum");
    if (!cn && !en) return NULL;
    json_t *out = json_array();
    if (en && json_is_array(en)) {
        size_t i;
        json_t *v;
        json_array_foreach(en, i, v) if (!cn || js_equal(v, cn)) json_array_append(out, v);
    } else if (cn) json_array_append(out, cn);
    return out;
}

/* merges keyword k present in both a (va) and b (vb) with different values
 * into r; -1 on failure */
static int merge_keyword(ctx_t *c, json_t *a, json_t *b, json_t *r, const char *k, json_t *va, json_t *vb,
                         const char *path, int depth) {
    if (!strcmp(k, "type")) {
        unsigned ta = schema_types(a), tb = schema_types(b);
        if (ta == (unsigned)-1 || tb == (unsigned)-1) { fail(c, path, "bad type"); return -1; }
        unsigned t = ta & tb;
        json_t *arr = json_array();
        static const char *nm[] = {"null", "boolean", "integer", "number", "string", "array", "object"};
        for (int i = 0; i < 7; i++) {
            unsigned bit = 1u << i;
            if (bit == T_INT && (t & T_FRAC)) continue;
            if (bit == T_FRAC) { if (t & T_FRAC) json_array_append_new(arr, json_string("number")); continue; }
            if (t & bit) json_array_append_new(arr, json_string(nm[i]));
        }
        json_object_set_new(r, "type", arr);
    } else if (!strcmp(k, "required")) {
        json_t *u = json_copy(va);
        size_t i;
        json_t *e;
        json_array_foreach(vb, i, e) {
            int found = 0;
            for (size_t j = 0; j < json_array_size(u); j++) if (json_equal(json_array_get(u, j), e)) found = 1;
            if (!found) json_array_append(u, e);
        }
        json_object_set_new(r, "required", u);
    } else if (!strcmp(k, "minLength") || !strcmp(k, "minItems") || !strcmp(k, "minProperties") ||
               (!strcmp(k, "minimum") && json_is_number(va) && json_is_number(vb)) ||
               (!strcmp(k, "exclusiveMinimum") && json_is_number(va) && json_is_number(vb))) {
        if (!json_is_number(va) || !json_is_number(vb)) { fail(c, path, "bad %s", k); return -1; }
        json_object_set(r, k, json_number_value(va) >= json_number_value(vb) ? va : vb);
    } else if (!strcmp(k, "maxLength") || !strcmp(k, "maxItems") || !strcmp(k, "maxProperties") ||
               (!strcmp(k, "maximum") && json_is_number(va) && json_is_number(vb)) ||
               (!strcmp(k, "exclusiveMaximum") && json_is_number(va) && json_is_number(vb))) {
        if (!json_is_number(va) || !json_is_number(vb)) { fail(c, path, "bad %s", k); return -1; }
        json_object_set(r, k, json_number_value(va) <= json_number_value(vb) ? va : vb);
    } else if (!strcmp(k, "items") && json_is_object(va) && json_is_object(vb)) {
        char sp[512];
        subpath(sp, sizeof sp, path, "items");
        json_t *m = merge(c, va, vb, sp, depth + 1);
        if (!m) return -1;
        json_object_set(r, k, m);
    } else if (!strcmp(k, "multipleOf") && json_is_integer(va) && json_is_integer(vb) && json_integer_value(va) > 0 &&
               json_integer_value(vb) > 0 && json_integer_value(va) <= 1000000 && json_integer_value(vb) <= 1000000) {
        /* multiples of both integers = multiples of their lcm */
        long long x = json_integer_value(va), y = json_integer_value(vb), g = x, h = y;
        while (h) { long long t = g % h; g = h; h = t; }
        json_object_set_new(r, k, json_integer((json_int_t)(x / g * y)));
    } else if (!strcmp(k, "x-pg-notin") && json_is_array(va) && json_is_array(vb)) {
        json_t *u = json_copy(va);
        json_array_extend(u, vb);
        json_object_set_new(r, k, u);
    } else if (!strcmp(k, "not")) {
        /* not A and not B = not anyOf [A, B] */
        json_object_set_new(r, "not", json_pack("{s:[O,O]}", "anyOf", va, vb));
    } else if (!strcmp(k, "uniqueItems")) {
        json_object_set(r, k, json_true());
    } else if (!strcmp(k, "anyOf") && json_is_array(va) && json_is_array(vb)) {
        if (json_array_size(va) * json_array_size(vb) > 64) { fail(c, path, "unsupported keyword 'anyOf' (too many combinations in allOf)"); return -1; }
        json_t *x = json_array();
        size_t i, j;
        json_t *ea, *eb;
        json_array_foreach(va, i, ea) json_array_foreach(vb, j, eb) {
            json_t *m = merge(c, ea, eb, path, depth + 1);
            if (!m) { json_decref(x); return -1; }
            json_array_append(x, m);
        }
        json_object_set_new(r, "anyOf", x);
    } else {
        fail(c, path, "unsupported keyword '%s' (conflicting values inside allOf)", k);
        return -1;
    }
    return 0;
}

/* enum / const of a and b: the intersection */
static void merge_enum(json_t *a, json_t *b, json_t *r) {
    /* enum / const */
    json_t *ea = enum_of(a), *eb = enum_of(b);
    if (ea || eb) {
        json_t *x = json_array();
        json_t *src = ea ? ea : eb;
        size_t i;
        json_t *v;
        json_array_foreach(src, i, v) {
            int ok = 1;
            if (ea && eb) {
                ok = 0;
                for (size_t j = 0; j < json_array_size(eb); j++) if (js_equal(v, json_array_get(eb, j))) ok = 1;
            }
            if (ok) json_array_append(x, v);
        }
        json_object_del(r, "const");
        json_object_set_new(r, "enum", x);
        if (ea) json_decref(ea);
        if (eb) json_decref(eb);
    }
}

/* object keywords: properties, additionalProperties, patternProperties; -1 on
 * failure */
static int merge_object(ctx_t *c, json_t *a, json_t *b, json_t *r, const char *path, int depth) {
    /* object keywords */
    json_t *pa = json_object_get(a, "properties"), *pb = json_object_get(b, "properties");
    json_t *apa = json_object_get(a, "additionalProperties"), *apb = json_object_get(b, "additionalProperties");
    json_t *ppa = json_object_get(a, "patternProperties"), *ppb = json_object_get(b, "patternProperties");
    if (pa || pb || apa || apb || ppa || ppb) {
        if (ppa || ppb) {
            if ((ppa && apb) || (ppb && apa) || (ppa && ppb && !js_equal(ppa, ppb))) {
                fail(c, path, "unsupported keyword 'patternProperties' (inside allOf with other object keywords)");
                return -1;
            }
            json_object_set(r, "patternProperties", ppa ? ppa : ppb);
        }
        json_t *P = json_object();
        json_t *lists[2] = {pa, pb};
        for (int li = 0; li < 2; li++) {
            if (!lists[li]) continue;
            const char *pk;
            json_t *pv;
            json_object_foreach(lists[li], pk, pv) {
                if (json_object_get(P, pk)) continue;
                json_t *x = pa ? json_object_get(pa, pk) : NULL;
                json_t *y = pb ? json_object_get(pb, pk) : NULL;
                /* a key absent from one side's properties falls under its
                 * matching patternProperties, else its additionalProperties */
                json_t *pps[2] = {ppa, ppb}, *aps[2] = {apa, apb}, **xy[2] = {&x, &y};
                for (int side = 0; side < 2; side++) {
                    if (*xy[side]) continue;
                    json_t *match = NULL;
                    if (pps[side] && !(ppa && ppb)) {
                        const char *pat;
                        json_t *ps;
                        json_object_foreach(pps[side], pat, ps) {
                            int perr = 0;
                            int hit = pcre_matches(pat, pk, &perr);
                            if (perr) { json_decref(P); fail(c, path, "unsupported keyword 'patternProperties' (pattern \"%.60s\")", pat); return -1; }
                            if (hit) {
                                if (!match) match = own(c, json_pack("{s:[]}", "allOf"));
                                json_array_append(json_object_get(match, "allOf"), ps);
                            }
                        }
                    }
                    *xy[side] = match ? match : aps[side] ? aps[side] : json_true();
                }
                char sp[512];
                subpath(sp, sizeof sp, path, pk);
                json_t *m = merge(c, x, y, sp, depth + 1);
                if (!m) { json_decref(P); return -1; }
                json_object_set(P, pk, m);
            }
        }
        json_object_set_new(r, "properties", P);
        if (apa || apb) {
            json_t *m = merge(c, apa ? apa : json_true(), apb ? apb : json_true(), path, depth + 1);
            if (!m) return -1;
            json_object_set(r, "additionalProperties", m);
        }
    }
    return 0;
}

json_t *merge(ctx_t *c, json_t *a, json_t *b, const char *path, int depth) {
    if (++c->work > 20000) { fail(c, path, "schema too complex (combinator expansion over 20000 merges)"); return NULL; }
    if (json_is_true(a) || (json_is_object(a) && json_object_size(a) == 0)) return flatten(c, b, path, depth + 1);
    if (json_is_true(b) || (json_is_object(b) && json_object_size(b) == 0)) return flatten(c, a, path, depth + 1);
    if (json_is_false(a) || json_is_false(b)) return json_false();
    a = flatten(c, a, path, depth + 1);
    if (!a) return NULL;
    b = flatten(c, b, path, depth + 1);
    if (!b) return NULL;
    if (json_is_boolean(a) || json_is_boolean(b)) return merge(c, a, b, path, depth + 1);
    if (!json_is_object(a) || !json_is_object(b)) { fail(c, path, "schema must be an object or boolean"); return NULL; }
    if (a == b || js_equal(a, b)) return a; /* X and X = X (also ends recursive self-merges) */
    json_t *r = own(c, json_copy(a));
    const char *k;
    json_t *vb;
    json_object_foreach(b, k, vb) {
        json_t *va = json_object_get(a, k);
        if (!is_constraint(k)) { if (!va) json_object_set(r, k, vb); continue; }
        if (!va) {
            if (!strcmp(k, "properties") || !strcmp(k, "additionalProperties") || !strcmp(k, "patternProperties") ||
                !strcmp(k, "enum") || !strcmp(k, "const"))
                continue; /* handled below */
            json_object_set(r, k, vb);
            continue;
        }
        if (!strcmp(k, "properties") || !strcmp(k, "additionalProperties") || !strcmp(k, "patternProperties") ||
            !strcmp(k, "enum") || !strcmp(k, "const"))
            continue;
        if (js_equal(va, vb)) continue;
        if (merge_keyword(c, a, b, r, k, va, vb, path, depth)) return NULL;
    }
    merge_enum(a, b, r);
    if (merge_object(c, a, b, r, path, depth)) return NULL;
    return r;
}

int fmt_known_refused(const char *f) {
    static const char *const l[] = {"ipv6", "iri", "iri-reference", "idn-hostname", "uri-template", "json-pointer",
                                    "relative-json-pointer", "regex", "duration", "color", NULL};
    return in_list(f, l);
}

/* ------------------------------------------------------- mini validator */
/* 1 valid, 0 invalid, -1 cannot tell */
/* validate(): additionalProperties (k "additionalProperties") or
 * patternProperties of s against object v; 0 invalid, -1 unknown, else 1 */
static int validate_props(ctx_t *c, const json_t *v, json_t *s, const char *k, int depth, int *unknown) {
    json_t *props = json_object_get(s, "properties");
    json_t *pp = json_object_get(s, "patternProperties");
    json_t *ap = json_object_get(s, "additionalProperties");
    if (pp && !json_is_object(pp)) return -1;
    int is_ap = k[0] == 'a';
    const char *ik;
    json_t *iv;
    json_object_foreach((json_t *)v, ik, iv) {
        int matched = 0;
        if (pp) {
            const char *pat;
            json_t *ps;
            json_object_foreach(pp, pat, ps) {
                int perr = 0;
                int hit = pcre_matches(pat, ik, &perr);
                if (perr) return -1;
                if (!hit) continue;
                matched = 1;
                if (is_ap) continue; /* checked under patternProperties */
                int r = validate(c, iv, ps, depth + 1);
                if (r == 0) return 0;
                if (r < 0) *unknown = 1;
            }
        }
        if (!is_ap || matched || (props && json_object_get(props, ik))) continue;
        int r = validate(c, iv, ap, depth + 1);
        if (r == 0) return 0;
        if (r < 0) *unknown = 1;
    }
    return 1;
}

int validate(ctx_t *c, const json_t *v, json_t *s, int depth) {
    if (depth > 32) return -1;
    if (json_is_true(s)) return 1;
    if (json_is_false(s)) return 0;
    if (!json_is_object(s)) return -1;
    int sib;
    int save = c->failed;
    json_t *t = deref(c, s, "", &sib);
    if (!t || sib) { c->failed = save; return -1; }
    s = t;
    unsigned vt = value_type(c, v);
    const char *k;
    json_t *x;
    int unknown = 0;
    json_object_foreach(s, k, x) {
        if (!is_constraint(k)) continue;
        if (!strcmp(k, "type")) {
            unsigned ts = schema_types(s);
            if (ts == (unsigned)-1) return -1;
            if (!(ts & vt)) return 0;
        } else if (!strcmp(k, "enum") || !strcmp(k, "const")) {
            json_t *e = enum_of(s);
            int ok = 0;
            for (size_t i = 0; i < json_array_size(e); i++) if (js_equal(v, json_array_get(e, i))) ok = 1;
            json_decref(e);
            if (!ok) return 0;
        } else if ((!strcmp(k, "minLength") || !strcmp(k, "maxLength")) && json_is_number(x)) {
            if (vt != T_STR) continue;
            double L = (double)utf8_len(json_string_value(v), json_string_length(v));
            if (k[1] == 'i' ? L < json_number_value(x) : L > json_number_value(x)) return 0;
        } else if ((!strcmp(k, "minimum") || !strcmp(k, "maximum") || !strcmp(k, "exclusiveMinimum") ||
                    !strcmp(k, "exclusiveMaximum")) && json_is_number(x)) {
            if (!json_is_number(v)) continue;
            double d = json_number_value(v), b = json_number_value(x);
            if (!strcmp(k, "minimum")) { json_t *xm = json_object_get(s, "exclusiveMinimum"); if (json_is_true(xm) ? d <= b : d < b) return 0; }
            if (!strcmp(k, "maximum")) { json_t *xm = json_object_get(s, "exclusiveMaximum"); if (json_is_true(xm) ? d >= b : d > b) return 0; }
            if (!strcmp(k, "exclusiveMinimum") && d <= b) return 0;
            if (!strcmp(k, "exclusiveMaximum") && d >= b) return 0;
        } else if ((!strcmp(k, "exclusiveMinimum") || !strcmp(k, "exclusiveMaximum")) && json_is_boolean(x)) {
            continue;
        } else if (!strcmp(k, "required") && json_is_array(x)) {
            if (vt != T_OBJ) continue;
            for (size_t i = 0; i < json_array_size(x); i++) {
                json_t *e = json_array_get(x, i);
                if (json_is_string(e) && !json_object_get(v, json_string_value(e))) return 0;
            }
        } else if (!strcmp(k, "properties") && json_is_object(x)) {
            if (vt != T_OBJ) continue;
            const char *pk;
            json_t *pv;
            json_object_foreach(x, pk, pv) {
                json_t *iv = json_object_get(v, pk);
                if (!iv) continue;
                int r = validate(c, iv, pv, depth + 1);
                if (r == 0) return 0;
                if (r < 0) unknown = 1;
            }
        } else if (!strcmp(k, "additionalProperties") || !strcmp(k, "patternProperties")) {
            if (vt != T_OBJ) continue;
            int r = validate_props(c, v, s, k, depth, &unknown);
            if (r <= 0) return r;
        } else if (!strcmp(k, "not")) {
            int r = validate(c, v, x, depth + 1);
            if (r > 0) return 0;
            if (r < 0) unknown = 1;
        } else if ((!strcmp(k, "items") && json_is_array(x)) || !strcmp(k, "prefixItems") || !strcmp(k, "additionalItems")) {
            if (vt != T_ARR) continue;
            json_t *pre = json_object_get(s, "prefixItems");
            json_t *it = json_object_get(s, "items");
            json_t *tuple = json_is_array(it) && !pre ? it : pre;
            json_t *rest = json_is_array(it) && !pre ? json_object_get(s, "additionalItems") : (json_is_array(it) ? NULL : it);
            if (!tuple || !json_is_array(tuple)) {
                if (!strcmp(k, "additionalItems")) continue; /* no tuple: additionalItems is ignored */
                return -1;
            }
            if (!strcmp(k, "items") && pre) continue; /* handled with prefixItems */
            for (size_t i = 0; i < json_array_size(v); i++) {
                json_t *sch = i < json_array_size(tuple) ? json_array_get(tuple, i) : rest;
                if (!sch) continue;
                int r = validate(c, json_array_get(v, i), sch, depth + 1);
                if (r == 0) return 0;
                if (r < 0) unknown = 1;
            }
        } else if (!strcmp(k, "items") && (json_is_object(x) || json_is_boolean(x))) {
            if (json_object_get(s, "prefixItems")) continue; /* handled with prefixItems */
            if (vt != T_ARR) continue;
            for (size_t i = 0; i < json_array_size(v); i++) {
                int r = validate(c, json_array_get(v, i), x, depth + 1);
                if (r == 0) return 0;
                if (r < 0) unknown = 1;
            }
        } else if ((!strcmp(k, "minItems") || !strcmp(k, "maxItems")) && json_is_number(x)) {
            if (vt != T_ARR) continue;
            double L = (double)json_array_size(v);
            if (k[1] == 'i' ? L < json_number_value(x) : L > json_number_value(x)) return 0;
        } else if ((!strcmp(k, "anyOf") || !strcmp(k, "oneOf") || !strcmp(k, "allOf")) && json_is_array(x)) {
            int nvalid = 0, nunk = 0;
            for (size_t i = 0; i < json_array_size(x); i++) {
                int r = validate(c, v, json_array_get(x, i), depth + 1);
                if (r > 0) nvalid++;
                if (r < 0) nunk++;
            }
            size_t n = json_array_size(x);
            if (k[0] == 'a' && k[1] == 'l') { if ((size_t)nvalid + (size_t)nunk < n) return 0; if (nunk) unknown = 1; }
            else if (k[0] == 'a') { if (!nvalid && !nunk) return 0; if (!nvalid) unknown = 1; }
            else { if (nunk) unknown = 1; else if (nvalid != 1) return 0; }
        } else if (!strcmp(k, "x-pg-notin") && json_is_array(x)) {
            for (size_t i = 0; vt == T_STR && i < json_array_size(x); i++)
                if (js_equal(v, json_array_get(x, i))) return 0;
        } else if (!strcmp(k, "format")) {
            /* formats the validator does not know are annotations */
            const char *f = json_string_value(x);
            static const char *const known[] = {"date", "time", "date-time", "email", "idn-email", "uuid", "uri",
                                                "uri-reference", "hostname", "ipv4", NULL};
            if (vt == T_STR && f && (in_list(f, known) || fmt_known_refused(f))) unknown = 1;
        } else if (!strcmp(k, "pattern")) {
            if (vt == T_STR) unknown = 1;
        } else if (!strcmp(k, "multipleOf")) {
            if (json_is_number(v)) unknown = 1;
        } else if (!strcmp(k, "uniqueItems")) {
            if (vt == T_ARR && json_is_true(x)) unknown = 1;
        } else {
            unknown = 1;
        }
    }
    return unknown ? -1 : 1;
}
