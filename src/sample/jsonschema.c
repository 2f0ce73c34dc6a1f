/* jsonschema.c - JSON Schema -> GBNF compiler. See jsonschema.h.
 * This file holds the driver: oneOf disjointness, the not/dependencies
 * rewrites, gen_body()/gen() dispatch and pg_jsonschema_to_gbnf(); the other
 * parts are js_util.c, js_regex.c, js_numeric.c, js_merge.c and js_gen.c,
 * sharing js_impl.h.
 *
 * Design. The schema is parsed with jansson (object iteration follows the
 * document's key order) and compiled top-down: gen() turns one schema node
 * into one GBNF rule and returns its name. Nodes of the document are memoised
 * by pointer, so a $ref to a node being compiled refers to its rule: this is
 * how recursion works. Combinators are normalised on the JSON level first:
 * allOf (and $ref with siblings in 2019-09+) is merged into one synthetic
 * schema (merge()); anyOf/oneOf distribute the sibling keywords into each
 * alternative; oneOf is only accepted when the alternatives are provably
 * disjoint. Synthetic schemas stay alive in ctx->owned so memoising by
 * pointer remains sound.
 *
 * Canonical strings. A decoded character has one canonical encoding: raw for
 * everything except '"', '\\' and controls (< 0x20), which are escaped (short
 * form or \u00XX in either hex case; "\/" is also taken for '/'). Patterns,
 * formats, lengths and key exclusions are all expressed on that encoding, so
 * lengths count code points and a key cannot slip past an exclusion through an
 * alternative spelling.
 *
 * Exactness policy. Over-approximation (accepting an invalid instance) is
 * never allowed: whatever cannot be expressed is refused with an error that
 * names the keyword. Under-approximation is limited to spellings a compact
 * serialiser never produces (numbers in exponent form under bounds, "-0",
 * object keys out of the schema's order, IP-literal URI hosts).
 * Pattern semantics follow Python's `re.search` (the validator MaskBench
 * uses): unanchored, `.` excludes only "\n", `$` also matches before a final
 * "\n", \d \w \s are Unicode-aware (classes built with utf8proc).
 */
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


/* ---- oneOf disjointness (conservative proof) */

static unsigned eff_types(ctx_t *c, json_t *s) {
    if (json_is_false(s)) return 0;
    if (!json_is_object(s)) return T_ALL;
    unsigned t = schema_types(s);
    if (t == (unsigned)-1) t = T_ALL;
    json_t *e = enum_of(s);
    if (e) {
        unsigned u = 0;
        for (size_t i = 0; i < json_array_size(e); i++) {
            unsigned vt = value_type(c, json_array_get(e, i));
            u |= vt == T_INT ? (T_INT) : vt;
        }
        json_decref(e);
        t &= u;
    }
    return t;
}

static int disjoint(ctx_t *c, json_t *a, json_t *b, int depth) {
    if (depth > 8) return 0;
    int save = c->failed;
    json_t *fa = flatten(c, a, "", depth), *fb = flatten(c, b, "", depth);
    if (!fa || !fb) { c->failed = save; return 0; }
    a = fa;
    b = fb;
    if (json_is_false(a) || json_is_false(b)) return 1;
    unsigned ta = eff_types(c, a), tb = eff_types(c, b);
    /* integer vs number overlap: T_INT bits compare; T_FRAC alone is non-integers */
    unsigned common = ta & tb;
    if (!common) return 1;
    /* enum values of one side all rejected by the other */
    json_t *sides[2][2] = {{a, b}, {b, a}};
    for (int k = 0; k < 2; k++) {
        json_t *e = json_is_object(sides[k][0]) ? enum_of(sides[k][0]) : NULL;
        if (!e) continue;
        int all_out = 1;
        for (size_t i = 0; i < json_array_size(e); i++)
            if (validate(c, json_array_get(e, i), sides[k][1], 0) != 0) all_out = 0;
        json_decref(e);
        if (all_out) return 1;
    }
    if (!json_is_object(a) || !json_is_object(b)) return 0;
    /* per type: disjoint ranges of the keyword that applies to it */
    unsigned proven = 0;
    static const struct { unsigned bits; const char *lo, *hi; } rng[] = {
        {T_STR, "minLength", "maxLength"}, {T_ARR, "minItems", "maxItems"}, {T_OBJ, "minProperties", "maxProperties"}};
    for (size_t i = 0; i < 3; i++) {
        double alo = 0, ahi = 1e300, blo = 0, bhi = 1e300;
        json_t *x;
        if ((x = json_object_get(a, rng[i].lo)) && json_is_number(x)) alo = json_number_value(x);
        if ((x = json_object_get(a, rng[i].hi)) && json_is_number(x)) ahi = json_number_value(x);
        if ((x = json_object_get(b, rng[i].lo)) && json_is_number(x)) blo = json_number_value(x);
        if ((x = json_object_get(b, rng[i].hi)) && json_is_number(x)) bhi = json_number_value(x);
        if (ahi < blo || bhi < alo) proven |= rng[i].bits;
    }
    {
        /* numbers: [lo, hi] with exclusivity (draft-6 numeric forms only) */
        double lo[2], hi[2];
        int lox[2], hix[2], ok = 1;
        json_t *sd[2] = {a, b};
        for (int k = 0; k < 2; k++) {
            json_t *mi = json_object_get(sd[k], "minimum"), *ma = json_object_get(sd[k], "maximum");
            json_t *xmi = json_object_get(sd[k], "exclusiveMinimum"), *xma = json_object_get(sd[k], "exclusiveMaximum");
            if (json_is_boolean(xmi) || json_is_boolean(xma)) ok = 0;
            lo[k] = -1e300; hi[k] = 1e300; lox[k] = hix[k] = 0;
            if (json_is_number(mi)) lo[k] = json_number_value(mi);
            if (json_is_number(xmi) && json_number_value(xmi) >= lo[k]) { lo[k] = json_number_value(xmi); lox[k] = 1; }
            if (json_is_number(ma)) hi[k] = json_number_value(ma);
            if (json_is_number(xma) && json_number_value(xma) <= hi[k]) { hi[k] = json_number_value(xma); hix[k] = 1; }
        }
        if (ok && (hi[0] < lo[1] || (hi[0] == lo[1] && (hix[0] || lox[1])) || hi[1] < lo[0] ||
                   (hi[1] == lo[0] && (hix[1] || lox[0]))))
            proven |= T_INT | T_FRAC;
    }
    /* objects: a required property whose schemas are disjoint or forbidden on the other side */
    for (int k = 0; k < 2 && (common & T_OBJ) && !(proven & T_OBJ); k++) {
        json_t *x = sides[k][0], *y = sides[k][1];
        if (!json_is_object(x) || !json_is_object(y)) continue;
        json_t *req = json_object_get(x, "required");
        json_t *px = json_object_get(x, "properties"), *py = json_object_get(y, "properties");
        json_t *apy = json_object_get(y, "additionalProperties");
        for (size_t i = 0; json_is_array(req) && i < json_array_size(req); i++) {
            const char *p = json_string_value(json_array_get(req, i));
            if (!p) continue;
            json_t *sy = py ? json_object_get(py, p) : NULL;
            if (!sy && json_is_false(apy) && !json_object_get(y, "patternProperties")) { proven |= T_OBJ; break; }
            if (!sy) continue;
            json_t *sx = px ? json_object_get(px, p) : NULL;
            if (!sx) continue;
            json_t *ry = json_object_get(y, "required");
            int yreq = 0;
            for (size_t j = 0; json_is_array(ry) && j < json_array_size(ry); j++)
                if (json_is_string(json_array_get(ry, j)) && !strcmp(json_string_value(json_array_get(ry, j)), p)) yreq = 1;
            (void)yreq; /* present in x's instances, so y's schema for it applies either way */
            if (disjoint(c, sx, sy, depth + 1)) { proven |= T_OBJ; break; }
        }
    }
    return (common & ~proven) == 0;
}

/* ---- not / dependencies, rewritten into supported keywords */

static unsigned types_or_all(const json_t *s) {
    unsigned t = schema_types(s);
    return t == (unsigned)-1 ? T_ALL : t;
}
static json_t *types_json(unsigned t) {
    static const char *nm[] = {"null", "boolean", "integer", "number", "string", "array", "object"};
    json_t *arr = json_array();
    for (int i = 0; i < 7; i++) {
        unsigned bit = 1u << i;
        if (bit == T_INT && (t & T_FRAC)) continue;
        if (bit == T_FRAC) { if (t & T_FRAC) json_array_append_new(arr, json_string("number")); continue; }
        if (t & bit) json_array_append_new(arr, json_string(nm[i]));
    }
    return arr;
}

/* The complement of one keyword group of a schema, as schemas whose union
 * is exactly the instances that violate it (keywords constrain only their
 * own type, so each piece carries that type). Appends to out; 0 = cannot. */
static int not_piece(ctx_t *c, const char *k, json_t *v, json_t *n, json_t *out) {
    if (!strcmp(k, "type")) {
        unsigned ex = schema_types(n);
        if (ex == (unsigned)-1) return 0;
        unsigned t = T_ALL & ~ex;
        if ((t & T_FRAC) && !(t & T_INT)) return 0;
        if (t) json_array_append_new(out, json_pack("{s:o}", "type", types_json(t)));
        return 1;
    }
    if (!strcmp(k, "required")) {
        if (!json_is_array(v)) return 0;
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e) {
            if (!json_is_string(e)) return 0;
            json_array_append_new(out, json_pack("{s:s,s:{s:b}}", "type", "object", "properties", json_string_value(e), 0));
        }
        return 1;
    }
    if (!strcmp(k, "properties")) {
        if (!json_is_object(v)) return 0;
        const char *pk;
        json_t *pv;
        json_object_foreach(v, pk, pv)
            json_array_append_new(out, json_pack("{s:s,s:[s],s:{s:{s:O}}}", "type", "object", "required", pk, "properties", pk, "not", pv));
        return 1;
    }
    static const struct { const char *k, *neg, *type; int delta; } cmp[] = {
        {"minimum", "exclusiveMaximum", "number", 0}, {"maximum", "exclusiveMinimum", "number", 0},
        {"exclusiveMinimum", "maximum", "number", 0}, {"exclusiveMaximum", "minimum", "number", 0},
        {"minLength", "maxLength", "string", -1}, {"maxLength", "minLength", "string", 1},
        {"minItems", "maxItems", "array", -1}, {"maxItems", "minItems", "array", 1},
        {"minProperties", "maxProperties", "object", -1}, {"maxProperties", "minProperties", "object", 1}};
    for (size_t i = 0; i < sizeof cmp / sizeof cmp[0]; i++) {
        if (strcmp(k, cmp[i].k)) continue;
        if (!json_is_number(v)) return 0;
        if (json_object_get(n, "exclusiveMinimum") && json_is_boolean(json_object_get(n, "exclusiveMinimum"))) return 0;
        if (json_object_get(n, "exclusiveMaximum") && json_is_boolean(json_object_get(n, "exclusiveMaximum"))) return 0;
        double x = json_number_value(v) + cmp[i].delta;
        if (x < 0 && cmp[i].delta) return 1; /* e.g. not minLength 0: nothing */
        json_t *val = cmp[i].delta ? json_integer((json_int_t)x) : json_copy(v);
        json_array_append_new(out, json_pack("{s:s,s:o}", "type", cmp[i].type, cmp[i].neg, val));
        return 1;
    }
    if (!strcmp(k, "anyOf") || !strcmp(k, "not") || !strcmp(k, "allOf")) {
        json_array_append_new(out, json_pack("{s:{s:O}}", "not", k, v));
        return 1;
    }
    if ((!strcmp(k, "enum") || !strcmp(k, "const")) && !json_object_get(n, k[0] == 'e' ? "const" : "enum")) {
        /* values other than these: strings outside the set, the other
         * boolean, and every type with no value in the set */
        json_t *vals = enum_of(n);
        json_t *strs = json_array();
        int has_t = 0, has_f = 0, has_null = 0, other = 0;
        size_t i;
        json_t *e;
        json_array_foreach(vals, i, e) {
            if (json_is_string(e)) json_array_append(strs, e);
            else if (json_is_true(e)) has_t = 1;
            else if (json_is_false(e)) has_f = 1;
            else if (json_is_null(e)) has_null = 1;
            else other = 1;
        }
        json_decref(vals);
        if (other) { json_decref(strs); return 0; }
        unsigned t = T_INT | T_FRAC | T_ARR | T_OBJ | (has_null ? 0 : T_NULL) | (has_t || has_f ? 0 : T_BOOL) |
                     (json_array_size(strs) ? 0 : T_STR);
        json_array_append_new(out, json_pack("{s:o}", "type", types_json(t)));
        if (json_array_size(strs)) json_array_append_new(out, json_pack("{s:s,s:O}", "type", "string", "x-pg-notin", strs));
        if (has_t != has_f) json_array_append_new(out, json_pack("{s:b}", "const", !has_t));
        json_decref(strs);
        return 1;
    }
    return 0;
}

/* s has "not": returns an equivalent schema without it, or NULL (failed).
 * not (A and B ...) = anyOf (not A, not B, ...) per keyword; not anyOf =
 * all of the nots; not not X = X. */
static json_t *apply_not(ctx_t *c, json_t *s, const char *path, int depth) {
    char sp[512];
    subpath(sp, sizeof sp, path, "not");
    if (depth > 8) { fail(c, sp, "unsupported keyword 'not' (nested too deeply)"); return NULL; }
    json_t *rest = own(c, json_copy(s));
    json_object_del(rest, "not");
    json_t *n = flatten(c, json_object_get(s, "not"), sp, 0);
    if (!n) return NULL;
    if (json_is_false(n)) return rest;
    if (json_is_true(n) || (json_is_object(n) && !n_constraints(n))) return json_false();
    if (!json_is_object(n)) { fail(c, sp, "schema must be an object or boolean"); return NULL; }
    json_t *v;
    if (n_constraints(n) == 1 && (v = json_object_get(n, "anyOf")) && json_is_array(v)) {
        /* not anyOf [X...] = all of not X */
        json_t *cur = rest;
        size_t i;
        json_t *x;
        json_array_foreach(v, i, x) {
            if (json_is_false(cur)) return json_false();
            json_t *t = own(c, json_copy(cur));
            json_object_set(t, "not", x);
            cur = apply_not(c, t, path, depth + 1);
            if (!cur) return NULL;
        }
        return cur;
    }
    if (n_constraints(n) == 1 && (v = json_object_get(n, "not"))) return merge(c, rest, v, path, 0);
    if (n_constraints(n) == 1 && (v = json_object_get(n, "allOf")) && json_is_array(v)) {
        json_t *alts = json_array();
        size_t i;
        json_t *x;
        json_array_foreach(v, i, x) json_array_append_new(alts, json_pack("{s:O}", "not", x));
        n = own(c, json_pack("{s:o}", "anyOf", alts));
        json_t *pieces = json_array();
        json_array_foreach(json_object_get(n, "anyOf"), i, x) json_array_append(pieces, x);
        json_t *r = own(c, json_pack("{s:o}", "anyOf", json_array()));
        json_array_foreach(pieces, i, x) {
            json_t *m = merge(c, rest, x, path, 0);
            if (!m) { json_decref(pieces); return NULL; }
            json_array_append(json_object_get(r, "anyOf"), m);
        }
        json_decref(pieces);
        return r;
    }
    json_t *pieces = json_array();
    const char *k;
    json_object_foreach(n, k, v) {
        if (!is_constraint(k)) continue;
        if (!not_piece(c, k, v, n, pieces)) {
            json_decref(pieces);
            fail(c, sp, "unsupported keyword 'not' (of '%s')", k);
            return NULL;
        }
    }
    if (json_array_size(pieces) > 64) { json_decref(pieces); fail(c, sp, "unsupported keyword 'not' (too many cases)"); return NULL; }
    json_t *alts = json_array();
    size_t i;
    json_t *x;
    json_array_foreach(pieces, i, x) {
        json_t *m = merge(c, rest, x, path, 0);
        if (!m) { json_decref(pieces); json_decref(alts); return NULL; }
        json_array_append(alts, m);
    }
    json_decref(pieces);
    if (!json_array_size(alts)) { json_decref(alts); return json_false(); }
    json_t *r = own(c, json_object());
    json_object_set_new(r, "anyOf", alts);
    return r;
}

/* s has dependencies / dependentRequired / dependentSchemas: an anyOf of the
 * presence cases (disjoint, so exact). NULL on failure. */
static json_t *apply_deps(ctx_t *c, json_t *s, const char *path) {
    static const char *const keys[] = {"dependencies", "dependentRequired", "dependentSchemas"};
    json_t *rest = own(c, json_copy(s));
    const char *names[8];
    json_t *deps[8];
    int k = 0;
    for (int i = 0; i < 3; i++) {
        json_t *d = json_object_get(s, keys[i]);
        json_object_del(rest, keys[i]);
        if (!d) continue;
        if (!json_is_object(d)) { fail(c, path, "bad value of '%s'", keys[i]); return NULL; }
        const char *nm;
        json_t *v;
        json_object_foreach(d, nm, v) {
            if (k == 5) { fail(c, path, "unsupported keyword '%s' (more than 5 dependencies)", keys[i]); return NULL; }
            names[k] = nm;
            deps[k++] = v;
        }
    }
    json_t *alts = json_array();
    for (int mask = 0; mask < (1 << k); mask++) {
        json_t *cur = rest;
        for (int i = 0; i < k && !json_is_false(cur); i++) {
            json_t *add;
            if (mask & (1 << i)) {
                if (json_is_array(deps[i])) {
                    add = json_pack("{s:[s]}", "required", names[i]);
                    size_t j;
                    json_t *e;
                    json_array_foreach(deps[i], j, e) json_array_append(json_object_get(add, "required"), e);
                } else {
                    add = json_pack("{s:[s],s:[O]}", "required", names[i], "allOf", deps[i]);
                }
            } else add = json_pack("{s:{s:b}}", "properties", names[i], 0);
            own(c, add);
            /* constraints only apply to objects: keep other types through anyOf with a non-object branch */
            cur = merge(c, cur, add, path, 0);
            if (!cur) { json_decref(alts); return NULL; }
        }
        json_array_append(alts, cur);
    }
    /* non-object instances satisfy dependencies trivially */
    json_t *nonobj = json_copy(rest);
    unsigned t = types_or_all(rest) & ~(unsigned)T_OBJ;
    json_object_set_new(nonobj, "type", types_json(t));
    if (t) json_array_append_new(alts, nonobj);
    else json_decref(nonobj);
    json_t *r = own(c, json_object());
    json_object_set_new(r, "anyOf", alts);
    return r;
}

/* ---- main dispatch */

/* gen_body() for anyOf / oneOf (comb): the sibling keywords are merged into
 * each alternative; oneOf needs provably disjoint alternatives (or ones that
 * "not the others" can express) */
static int gen_comb(ctx_t *c, json_t *s, const char *path, const char *comb, sb_t *b) {
    char nm[24];
    json_t *alts = json_object_get(s, comb);
    if (!json_is_array(alts) || !json_array_size(alts)) return fail(c, path, "bad value of '%s'", comb);
    json_t *rest = own(c, json_copy(s));
    json_object_del(rest, comb);
    int plain = !has_constraints_except(rest, NULL, NULL);
    size_t na = json_array_size(alts);
    json_t **m = calloc(na, sizeof *m);
    if (!m) abort();
    for (size_t i = 0; i < na; i++) {
        char sp[512];
        subpath_i(sp, sizeof sp, path, comb, i);
        m[i] = plain ? json_array_get(alts, i) : merge(c, rest, json_array_get(alts, i), sp, 0);
        if (!m[i]) { free(m); return R_ERR; }
    }
    if (comb[0] == 'o') {
        size_t bi = 0, bj = 0;
        int overlap = 0;
        for (size_t i = 0; i < na && !overlap; i++)
            for (size_t j = i + 1; j < na && !overlap; j++)
                if (!disjoint(c, m[i], m[j], 0)) { overlap = 1; bi = i; bj = j; }
        if (overlap && na > 8) {
            free(m);
            return fail(c, path, "unsupported keyword 'oneOf' (alternatives %zu and %zu may overlap)", bi, bj);
        }
        if (overlap) {
            /* exactly one: alternative i and not any other (when 'not' can
             * express the others, e.g. required-only alternatives) */
            char save = c->err && c->errlen ? c->err[0] : 0;
            for (size_t i = 0; i < na; i++) {
                json_t *t = own(c, json_is_object(m[i]) ? json_copy(m[i]) : json_object());
                if (json_is_false(m[i])) continue;
                json_t *others = json_array();
                for (size_t j = 0; j < na; j++) if (j != i) json_array_append(others, json_array_get(alts, j));
                json_object_set_new(t, "not", json_pack("{s:o}", "anyOf", others));
                json_t *x = apply_not(c, t, path, 0);
                if (!x) {
                    c->failed = 0;
                    if (c->err && c->errlen) c->err[0] = save;
                    free(m);
                    return fail(c, path, "unsupported keyword 'oneOf' (alternatives %zu and %zu may overlap)", bi, bj);
                }
                m[i] = x;
            }
        }
    }
    int n = 0;
    sb_t t = {0};
    for (size_t i = 0; i < na; i++) {
        char sp[512];
        subpath_i(sp, sizeof sp, path, comb, i);
        int r = gen(c, m[i], sp, nm);
        if (r == R_ERR) { free(m); sb_free(&t); return R_ERR; }
        if (r == R_OK) sb_printf(&t, "%s%s", n++ ? " | " : "", nm);
    }
    free(m);
    if (n) sb_puts(b, sb_str(&t));
    sb_free(&t);
    return n ? R_OK : R_NEVER;
}

static int gen_body(ctx_t *c, json_t *s, const char *path, sb_t *b) {
    if (json_is_true(s)) { need(c, B_VALUE); sb_puts(b, "value"); return R_OK; }
    if (json_is_false(s)) return R_NEVER;
    if (!json_is_object(s)) return fail(c, path, "schema must be an object or boolean");
    const char *k;
    json_t *v;
    json_object_foreach(s, k, v) {
        if (in_list(k, REFUSED)) return fail(c, path, "unsupported keyword '%s'", k);
        if (!strcmp(k, "if") && (json_object_get(s, "then") || json_object_get(s, "else")))
            return fail(c, path, "unsupported keyword 'if'");
    }
    char nm[24];
    /* $ref */
    json_t *ref = json_object_get(s, "$ref");
    if (ref) {
        int sib;
        json_t *t = deref(c, s, path, &sib);
        if (!t) return R_ERR;
        if (sib) {
            json_t *m = flatten(c, s, path, 0);
            if (!m) return R_ERR;
            int r = gen(c, m, path, nm);
            if (r == R_OK) sb_puts(b, nm);
            return r;
        }
        char sp[512];
        snprintf(sp, sizeof sp, "%s", json_string_value(ref));
        int r = gen(c, t, sp, nm);
        if (r == R_OK) sb_puts(b, nm);
        return r;
    }
    if (json_object_get(s, "allOf")) {
        json_t *m = flatten(c, s, path, 0);
        if (!m) return R_ERR;
        if (json_is_object(m) && json_object_get(m, "allOf")) return fail(c, path, "unsupported keyword 'allOf'");
        int r = gen(c, m, path, nm);
        if (r == R_OK) sb_puts(b, nm);
        return r;
    }
    /* enum/const first: the other keywords (combinators included) only
     * filter its values */
    {
        json_t *en = enum_of(s);
        if (en) {
            /* keep the values the other keywords accept */
            json_t *rest = own(c, json_copy(s));
            json_object_del(rest, "enum");
            json_object_del(rest, "const");
            int n = 0;
            sb_t t = {0};
            for (size_t i = 0; i < json_array_size(en); i++) {
                json_t *val = json_array_get(en, i);
                int r = validate(c, val, rest, 0);
                if (r < 0) {
                    json_decref(en);
                    sb_free(&t);
                    if (json_object_get(s, "not") || json_object_get(s, "anyOf") || json_object_get(s, "oneOf") ||
                        json_object_get(s, "dependencies") || json_object_get(s, "dependentRequired") ||
                        json_object_get(s, "dependentSchemas"))
                        goto combinators; /* they carry the enum into their branches */
                    return fail(c, path, "unsupported keyword 'enum' combined with keywords that cannot be checked on its values");
                }
                if (!r) continue;
                if (n++) sb_puts(&t, " | ");
                emit_literal(c, &t, val);
            }
            json_decref(en);
            if (n) sb_puts(b, sb_str(&t));
            sb_free(&t);
            return n ? R_OK : R_NEVER;
        }
    }
combinators:
    if (json_object_get(s, "not")) {
        json_t *m = apply_not(c, s, path, 0);
        if (!m) return R_ERR;
        int r = gen(c, m, path, nm);
        if (r == R_OK) sb_puts(b, nm);
        return r;
    }
    if (json_object_get(s, "dependencies") || json_object_get(s, "dependentRequired") || json_object_get(s, "dependentSchemas")) {
        json_t *m = apply_deps(c, s, path);
        if (!m) return R_ERR;
        int r = gen(c, m, path, nm);
        if (r == R_OK) sb_puts(b, nm);
        return r;
    }
    const char *comb = json_object_get(s, "anyOf") ? "anyOf" : json_object_get(s, "oneOf") ? "oneOf" : NULL;
    if (comb) return gen_comb(c, s, path, comb, b);
    unsigned types = schema_types(s);
    if (types == (unsigned)-1) return fail(c, path, "bad value of 'type'");
    int n = 0;
    sb_t t = {0};
    int r;
    if (types & T_NULL) { sb_printf(&t, "%s\"null\"", n++ ? " | " : ""); }
    if (types & T_BOOL) { sb_printf(&t, "%s\"true\" | \"false\"", n++ ? " | " : ""); }
    if (types & (T_INT | T_FRAC)) {
        sb_t e = {0};
        r = gen_number(c, s, path, types, &e);
        if (r == R_OK) sb_printf(&t, "%s%s", n++ ? " | " : "", sb_str(&e));
        sb_free(&e);
        if (r == R_ERR) { sb_free(&t); return r; }
    }
    if (types & T_STR) {
        sb_t e = {0};
        r = gen_string(c, s, path, &e);
        if (r == R_OK) sb_printf(&t, "%s%s", n++ ? " | " : "", sb_str(&e));
        sb_free(&e);
        if (r == R_ERR) { sb_free(&t); return r; }
    }
    if (types & T_ARR) {
        sb_t e = {0};
        r = gen_array(c, s, path, &e);
        if (r == R_OK) sb_printf(&t, "%s%s", n++ ? " | " : "", sb_str(&e));
        sb_free(&e);
        if (r == R_ERR) { sb_free(&t); return r; }
    }
    if (types & T_OBJ) {
        sb_t e = {0};
        r = gen_object(c, s, path, &e);
        if (r == R_OK) sb_printf(&t, "%s%s", n++ ? " | " : "", sb_str(&e));
        sb_free(&e);
        if (r == R_ERR) { sb_free(&t); return r; }
    }
    if (n) sb_puts(b, sb_str(&t));
    sb_free(&t);
    return n ? R_OK : R_NEVER;
}

int gen(ctx_t *c, json_t *s, const char *path, char *name) {
    if (c->failed) return R_ERR;
    if (json_is_true(s)) { need(c, B_VALUE); strcpy(name, "value"); return R_OK; }
    if (json_is_false(s)) return R_NEVER;
    for (size_t h = c->mcap ? (size_t)hash_ptr(s) & (c->mcap - 1) : 0; c->mcap && c->mhash[h] >= 0; h = (h + 1) & (c->mcap - 1)) {
        memo_t *m = &c->memo[c->mhash[h]];
        if (m->node != s) continue;
        if (m->state == 0) { m->used_early = 1; snprintf(name, 24, "r%d", m->id); return R_OK; }
        if (m->result == R_OK) snprintf(name, 24, "r%d", m->id);
        return m->result;
    }
    if (c->depth > MAX_DEPTH) return fail(c, path, "schema nested too deeply");
    if (c->nmemo == c->capmemo) {
        c->capmemo = c->capmemo ? 2 * c->capmemo : 64;
        c->memo = realloc(c->memo, c->capmemo * sizeof *c->memo);
        if (!c->memo) abort();
    }
    size_t mi = c->nmemo++;
    int id = rule_new(c);
    c->memo[mi] = (memo_t){s, id, 0, 0, 0};
    if (2 * c->nmemo + 2 > c->mcap) idx_rebuild(&c->mhash, &c->mcap, c->nmemo, memo_key, c);
    else {
        size_t h = (size_t)hash_ptr(s) & (c->mcap - 1);
        while (c->mhash[h] >= 0) h = (h + 1) & (c->mcap - 1);
        c->mhash[h] = (int)mi;
    }
    c->depth++;
    sb_t body = {0};
    int r = gen_body(c, s, path, &body);
    c->depth--;
    memo_t *m = &c->memo[mi];
    m->state = 1;
    m->result = r;
    if (r == R_OK) {
        rule_def(c, id, sb_str(&body));
        snprintf(name, 24, "r%d", id);
    } else if (r == R_NEVER && m->used_early) {
        r = m->result = fail(c, path, "schema admits no value but is referenced recursively");
    }
    sb_free(&body);
    return r;
}

/* ------------------------------------------------------------ entry */

static int detect_draft(json_t *root) {
    json_t *sv = json_is_object(root) ? json_object_get(root, "$schema") : NULL;
    const char *s = json_is_string(sv) ? json_string_value(sv) : "";
    if (strstr(s, "draft-03") || strstr(s, "draft-04")) return 4;
    if (strstr(s, "draft-06")) return 6;
    if (strstr(s, "draft-07")) return 7;
    if (strstr(s, "2019-09")) return 2019;
    return 2020;
}

int pg_jsonschema_to_gbnf(const char *schema_json, size_t len, unsigned flags, char **gbnf_out, char *err,
                          size_t errlen) {
    *gbnf_out = NULL;
    if (err && errlen) err[0] = 0;
    json_error_t je;
    json_t *root = json_loadb(schema_json, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &je);
    if (!root) {
        if (err && errlen) snprintf(err, errlen, "schema is not valid JSON: %s (line %d)", je.text, je.line);
        return -1;
    }
    ctx_t c = {0};
    c.root = root;
    c.flags = flags;
    c.draft = detect_draft(root);
    c.owned = json_array();
    c.err = err;
    c.errlen = errlen;
    char nm[24];
    int r = gen(&c, root, "", nm);
    int ret = 0;
    if (r == R_ERR) ret = -1;
    else if (r == R_NEVER) {
        if (err && errlen) snprintf(err, errlen, "schema admits no value at /");
        ret = -1;
    } else {
        sb_t o = {0};
        if (flags & PG_JS_FLEXIBLE_WS) need(&c, B_WS);
        sb_printf(&o, "root ::= %s\n", nm);
        sb_puts(&o, sb_str(&c.out));
        *gbnf_out = o.p;
    }
    sb_free(&c.out);
    free(c.memo);
    free(c.mhash);
    free(c.dhash);
    for (size_t i = 0; i < c.ndedup; i++) free(c.dedup_txt[i]);
    free(c.dedup_txt);
    free(c.dedup_id);
    json_decref(c.owned);
    json_decref(root);
    return ret;
}
