/* js_gen.c - GBNF generation for JSON Schema nodes by type: literals
 * (enum/const), strings (length, pattern, format), numbers (ranges,
 * multipleOf), arrays (items, prefixItems, uniqueItems) and objects
 * (properties, required, additional/pattern properties, property counts). */
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


/* ------------------------------------------------------------ generator */

/* Compiles schema s; on R_OK writes its rule name to name (24 bytes). */

static int gen_child(ctx_t *c, json_t *s, const char *path, const char *key, char *name) {
    char sp[512];
    subpath(sp, sizeof sp, path, key);
    return gen(c, s, sp, name);
}

/* literal GBNF for a JSON value (enum/const), following canonical form */
void emit_literal(ctx_t *c, sb_t *b, const json_t *v) {
    const char *w = WS(c);
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        sb_puts(b, "\"{\"");
        const char *k;
        json_t *x;
        int i = 0;
        json_object_foreach((json_t *)v, k, x) {
            sb_printf(b, "%s", w);
            if (i++) sb_printf(b, "\",\"%s", w);
            sb_t e = {0};
            json_str_enc(&e, k, strlen(k));
            gbnf_lit(b, e.p, e.n);
            sb_free(&e);
            sb_printf(b, "%s\":\"%s", w, w);
            emit_literal(c, b, x);
        }
        sb_printf(b, "%s\"}\"", w);
        return;
    }
    case JSON_ARRAY: {
        sb_puts(b, "\"[\"");
        for (size_t i = 0; i < json_array_size(v); i++) {
            sb_printf(b, "%s", w);
            if (i) sb_printf(b, "\",\"%s", w);
            emit_literal(c, b, json_array_get(v, i));
        }
        sb_printf(b, "%s\"]\"", w);
        return;
    }
    case JSON_STRING: {
        sb_t e = {0};
        json_str_enc(&e, json_string_value(v), json_string_length(v));
        gbnf_lit(b, e.p, e.n);
        sb_free(&e);
        return;
    }
    case JSON_INTEGER: sb_printf(b, "(\"%lld\" (\".\" \"0\"+)?)", (long long)json_integer_value(v)); return;
    case JSON_REAL: {
        double d = json_real_value(v);
        if (d == floor(d) && fabs(d) < 1e15) { sb_printf(b, "(\"%.0f\" (\".\" \"0\"+)?)", d); return; }
        char *t = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
        gbnf_lit(b, t, strlen(t));
        free(t);
        return;
    }
    case JSON_TRUE: sb_puts(b, "\"true\""); return;
    case JSON_FALSE: sb_puts(b, "\"false\""); return;
    case JSON_NULL: sb_puts(b, "\"null\""); return;
    }
}

static int get_count(ctx_t *c, json_t *s, const char *k, const char *path, long *out) {
    json_t *v = json_object_get(s, k);
    if (!v) return 1;
    if (!json_is_number(v) || json_number_value(v) < 0 || json_number_value(v) != floor(json_number_value(v))) {
        fail(c, path, "bad value of '%s'", k);
        return 0;
    }
    double d = json_number_value(v);
    *out = d > 1e9 ? 1000000000L : (long)d;
    return 1;
}

typedef struct trie {
    uint32_t cp;
    int term;
    struct trie **kid;
    int nkid;
} trie;

static trie *trie_kid(trie *t, uint32_t cp) {
    for (int i = 0; i < t->nkid; i++)
        if (t->kid[i]->cp == cp) return t->kid[i];
    t->kid = realloc(t->kid, (size_t)(t->nkid + 1) * sizeof *t->kid);
    trie *k = calloc(1, sizeof *k);
    if (!t->kid || !k) abort();
    k->cp = cp;
    t->kid[t->nkid++] = k;
    return k;
}
static void trie_free(trie *t) {
    for (int i = 0; i < t->nkid; i++) trie_free(t->kid[i]);
    free(t->kid);
    free(t);
}
/* rule: rest of a key string (after the opening quote and the prefix of t),
 * closing quote included, such that the whole key is not a name */
static int trie_rule(ctx_t *c, trie *t) {
    int id = rule_new(c);
    sb_t body = {0};
    int n = 0;
    if (!t->term) { sb_puts(&body, "\"\\\"\""); n++; }
    cpset other = {0};
    cs_add(&other, 0, CP_MAX);
    for (int i = 0; i < t->nkid; i++) {
        int kid = trie_rule(c, t->kid[i]);
        cpset one = {0};
        cs_add(&one, t->kid[i]->cp, t->kid[i]->cp);
        if (n++) sb_puts(&body, " | ");
        enc_class(c, &body, &one);
        sb_printf(&body, " r%d", kid);
        cs_free(&one);
        cs_remove(&other, t->kid[i]->cp, t->kid[i]->cp);
    }
    if (n++) sb_puts(&body, " | ");
    sb_t oc = {0};
    enc_class(c, &oc, &other);
    sb_puts(&oc, " char* \"\\\"\"");
    sb_printf(&body, "r%d", rule_dedup(c, sb_str(&oc)));
    sb_free(&oc);
    cs_free(&other);
    rule_def(c, id, sb_str(&body));
    sb_free(&body);
    return id;
}

/* ---- strings */


int gen_string(ctx_t *c, json_t *s, const char *path, sb_t *b) {
    long mn = 0, mx = -1;
    if (!get_count(c, s, "minLength", path, &mn) || !get_count(c, s, "maxLength", path, &mx)) return R_ERR;
    if (mx >= 0 && mx < mn) return R_NEVER;
    json_t *pat = json_object_get(s, "pattern");
    json_t *fmt = json_object_get(s, "format");
    json_t *notin = json_object_get(s, "x-pg-notin");
    if (notin) {
        const char *f0 = json_is_string(fmt) ? json_string_value(fmt) : NULL;
        int fmt_active = f0 && (!strcmp(f0, "date") || !strcmp(f0, "time") || !strcmp(f0, "date-time") ||
                                !strcmp(f0, "email") || !strcmp(f0, "idn-email") || !strcmp(f0, "uuid") ||
                                !strcmp(f0, "uri") || !strcmp(f0, "uri-reference") || !strcmp(f0, "hostname") ||
                                !strcmp(f0, "ipv4") || fmt_known_refused(f0));
        if (pat || fmt_active || mn > 0 || mx >= 0)
            return fail(c, path, "unsupported keyword 'not' (of 'enum' together with other string keywords)");
        need(c, B_CHAR);
        trie *root = calloc(1, sizeof *root);
        if (!root) abort();
        size_t i;
        json_t *e;
        json_array_foreach(notin, i, e) {
            if (!json_is_string(e)) continue;
            trie *t = root;
            const unsigned char *p = (const unsigned char *)json_string_value(e);
            size_t L = json_string_length(e);
            for (size_t q = 0; q < L;) {
                uint32_t cp;
                int kk = utf8_dec(p + q, L - q, &cp);
                if (kk < 0) { kk = 1; cp = p[q]; }
                q += (size_t)kk;
                t = trie_kid(t, cp);
            }
            t->term = 1;
        }
        int id = trie_rule(c, root);
        trie_free(root);
        sb_printf(b, "\"\\\"\" r%d", id);
        return R_OK;
    }
    const char *f = json_is_string(fmt) ? json_string_value(fmt) : NULL;
    const char *frule = NULL;
    long flen = -1;
    if (f) {
        if (!strcmp(f, "date")) { need(c, B_DATE); frule = "date"; flen = 10; }
        else if (!strcmp(f, "time")) { need(c, B_TIME); frule = "time"; }
        else if (!strcmp(f, "date-time")) { need(c, B_DATE); need(c, B_TIME); frule = "date \"T\" time"; }
        else if (!strcmp(f, "email") || !strcmp(f, "idn-email")) { need(c, B_CHAR); frule = "([^\"\\\\\\x00-\\x1F@] | \"\\\\\" [\"\\\\/bfnrt] | \"\\\\u00\" [01] [0-9a-fA-F])* \"@\" char*"; }
        else if (!strcmp(f, "uuid")) { need(c, B_HEX); frule = "hex{8} \"-\" hex{4} \"-\" hex{4} \"-\" hex{4} \"-\" hex{12}"; flen = 36; }
        else if (!strcmp(f, "uri")) { need(c, B_URI); frule = "uri"; }
        else if (!strcmp(f, "uri-reference")) { need(c, B_URIREF); frule = "uri-ref"; }
        else if (!strcmp(f, "hostname")) { need(c, B_HOST); frule = "hostname"; }
        else if (!strcmp(f, "ipv4")) { need(c, B_IPV4); frule = "ipv4"; flen = -2; }
        else if (fmt_known_refused(f)) return fail(c, path, "unsupported keyword 'format' (\"%s\")", f);
    }
    if (frule) {
        if (pat) return fail(c, path, "unsupported keyword 'pattern' combined with format \"%s\"", f);
        if (mn > 0 || mx >= 0) {
            if (flen == -2) { if (mn > 7 || (mx >= 0 && mx < 15)) return fail(c, path, "unsupported keyword 'maxLength'/'minLength' combined with format \"%s\"", f); }
            else if (flen < 0) return fail(c, path, "unsupported keyword 'maxLength'/'minLength' combined with format \"%s\"", f);
            else if (flen < mn || (mx >= 0 && flen > mx)) return R_NEVER;
        }
        sb_printf(b, "\"\\\"\" (%s) \"\\\"\"", frule);
        return R_OK;
    }
    if (pat) {
        if (!json_is_string(pat)) return fail(c, path, "bad value of 'pattern'");
        sb_t e = {0};
        char sp[512];
        subpath(sp, sizeof sp, path, "pattern");
        int r = pattern_expr(c, sp, json_string_value(pat), json_string_length(pat), mn, mx, &e);
        if (r == R_OK) sb_printf(b, "\"\\\"\" %s \"\\\"\"", sb_str(&e));
        sb_free(&e);
        return r;
    }
    need(c, B_CHAR);
    if (mn == 0 && mx < 0) sb_puts(b, "string"), need(c, B_STRING);
    else if (mx < 0) sb_printf(b, "\"\\\"\" char{%ld,} \"\\\"\"", mn);
    else sb_printf(b, "\"\\\"\" char{%ld,%ld} \"\\\"\"", mn, mx);
    return R_OK;
}

/* ---- numbers */

static int mult_rule(ctx_t *c, long k) {
    /* right-linear grammar over remainders mod k; state rules m<id>-<r> */
    int base = rule_new(c);
    int *ids = malloc((size_t)k * sizeof *ids);
    if (!ids) abort();
    for (long r = 0; r < k; r++) ids[r] = rule_new(c);
    for (long r = 0; r < k; r++) {
        sb_t t = {0};
        int n = 0;
        if (r == 0) { sb_puts(&t, "\"\""); n++; }
        for (long tgt = 0; tgt < k; tgt++) {
            char cls[32];
            int m = 0;
            for (int d = 0; d <= 9; d++)
                if ((10 * r + d) % k == tgt) cls[m++] = (char)('0' + d);
            if (!m) continue;
            cls[m] = 0;
            sb_printf(&t, "%s[%s] r%d", n++ ? " | " : "", cls, ids[tgt]);
        }
        rule_def(c, ids[r], sb_str(&t));
        sb_free(&t);
    }
    sb_t t = {0};
    sb_puts(&t, "\"0\" | \"-\"? (");
    int n = 0;
    for (long tgt = 0; tgt < k; tgt++) {
        char cls[32];
        int m = 0;
        for (int d = 1; d <= 9; d++)
            if (d % k == tgt) cls[m++] = (char)('0' + d);
        if (!m) continue;
        cls[m] = 0;
        sb_printf(&t, "%s[%s] r%d", n++ ? " | " : "", cls, ids[tgt]);
    }
    sb_puts(&t, ")");
    rule_def(c, base, sb_str(&t));
    sb_free(&t);
    free(ids);
    return base;
}

int gen_number(ctx_t *c, json_t *s, const char *path, unsigned types, sb_t *b) {
    json_t *mi = json_object_get(s, "minimum"), *ma = json_object_get(s, "maximum");
    json_t *xmi = json_object_get(s, "exclusiveMinimum"), *xma = json_object_get(s, "exclusiveMaximum");
    json_t *mo = json_object_get(s, "multipleOf");
    int has_lo = 0, has_hi = 0, lo_x = 0, hi_x = 0;
    double lo = 0, hi = 0;
    if (mi) { if (!json_is_number(mi)) return fail(c, path, "bad value of 'minimum'"); has_lo = 1; lo = json_number_value(mi); lo_x = json_is_true(xmi); }
    if (ma) { if (!json_is_number(ma)) return fail(c, path, "bad value of 'maximum'"); has_hi = 1; hi = json_number_value(ma); hi_x = json_is_true(xma); }
    if (json_is_number(xmi)) { double v = json_number_value(xmi); if (!has_lo || v >= lo) { lo = v; lo_x = 1; has_lo = 1; } }
    if (json_is_number(xma)) { double v = json_number_value(xma); if (!has_hi || v <= hi) { hi = v; hi_x = 1; has_hi = 1; } }
    if ((xmi && !json_is_number(xmi) && !json_is_boolean(xmi)) || (xma && !json_is_number(xma) && !json_is_boolean(xma)))
        return fail(c, path, "bad value of 'exclusiveMinimum'/'exclusiveMaximum'");
    if ((has_lo && fabs(lo) > 9e15) || (has_hi && fabs(hi) > 9e15)) {
        /* int64-style bounds: exact only through the digits; refuse */
        return fail(c, path, "unsupported keyword 'minimum'/'maximum' (bound beyond 9e15)");
    }
    int frac = (types & T_FRAC) != 0;
    long k = 0;
    if (mo) {
        if (!json_is_number(mo) || json_number_value(mo) <= 0) return fail(c, path, "bad value of 'multipleOf'");
        double d = json_number_value(mo);
        if (d != floor(d) || !json_is_integer(mo)) return fail(c, path, "unsupported keyword 'multipleOf' (non-integer divisor)");
        if (d > 1000) return fail(c, path, "unsupported keyword 'multipleOf' (divisor above 1000)");
        k = (long)d;
        if (k > 1) {
            if (has_lo || has_hi) return fail(c, path, "unsupported keyword 'multipleOf' combined with minimum/maximum");
            sb_printf(b, "r%d", mult_rule(c, k));
            return R_OK;
        }
        frac = 0; /* multiples of 1 are integers */
    }
    if (!frac) {
        if (!has_lo && !has_hi) { need(c, B_INTEGER); sb_puts(b, "integer"); return R_OK; }
        long long L = 0, H = 0;
        if (has_lo) L = lo_x ? (long long)floor(lo) + 1 : (long long)ceil(lo);
        if (has_hi) H = hi_x ? (long long)ceil(hi) - 1 : (long long)floor(hi);
        sb_t t = {0};
        int r = int_range(&t, has_lo, L, has_hi, H);
        if (r) sb_puts(b, sb_str(&t));
        sb_free(&t);
        return r ? R_OK : R_NEVER;
    }
    if (!has_lo && !has_hi) { need(c, B_NUMBER); sb_puts(b, "number"); return R_OK; }
    if ((has_lo && lo != floor(lo)) || (has_hi && hi != floor(hi))) {
        sb_t t = {0};
        int r = dec_range(&t, has_lo, lo, lo_x, has_hi, hi, hi_x);
        if (r == R_OK) sb_puts(b, sb_str(&t));
        sb_free(&t);
        if (r == -2) return fail(c, path, "unsupported keyword 'minimum'/'maximum' (fractional bounds within one integer)");
        return r;
    }
    sb_t t = {0};
    int r = num_range(&t, has_lo, (long long)lo, lo_x, has_hi, (long long)hi, hi_x);
    if (r) sb_puts(b, sb_str(&t));
    sb_free(&t);
    return r ? R_OK : R_NEVER;
}

/* ---- arrays */

/* uniqueItems over a finite item domain (an enum of at most 6 values, or
 * booleans): one rule per subset of values already used, any order. */
static int unique_array(ctx_t *c, json_t *s, const char *path, long mn, long mx, sb_t *b) {
    json_t *items = json_object_get(s, "items");
    if (!items || json_is_array(items) || json_object_get(s, "prefixItems"))
        return fail(c, path, "unsupported keyword 'uniqueItems'");
    json_t *it = flatten(c, items, path, 0);
    if (!it) return R_ERR;
    if (!json_is_object(it)) return fail(c, path, "unsupported keyword 'uniqueItems'");
    json_t *vals = enum_of(it);
    if (!vals && schema_types(it) == T_BOOL) vals = json_pack("[bb]", 1, 0);
    if (!vals) return fail(c, path, "unsupported keyword 'uniqueItems' (items are not a small enum)");
    json_t *rest = own(c, json_copy(it));
    json_object_del(rest, "enum");
    json_object_del(rest, "const");
    json_t *V[6];
    int k = 0;
    for (size_t i = 0; i < json_array_size(vals); i++) {
        json_t *v = json_array_get(vals, i);
        int r = validate(c, v, rest, 0);
        if (r < 0) { json_decref(vals); return fail(c, path, "unsupported keyword 'uniqueItems' (items are not a small enum)"); }
        if (!r) continue;
        int dup = 0;
        for (int j = 0; j < k; j++) if (js_equal(V[j], v)) dup = 1;
        if (dup) continue;
        if (k == 6) { json_decref(vals); return fail(c, path, "unsupported keyword 'uniqueItems' (more than 6 item values)"); }
        V[k++] = v;
    }
    const char *w = WS(c);
    int ids[64];
    for (int m = 0; m < (1 << k); m++) ids[m] = rule_new(c);
    char lit[6][4096];
    for (int j = 0; j < k; j++) {
        sb_t t = {0};
        emit_literal(c, &t, V[j]);
        snprintf(lit[j], sizeof lit[j], "%s", sb_str(&t));
        sb_free(&t);
    }
    /* U(m): the items after the set m was used. alive[m]: some way on
     * reaches at least mn items without exceeding mx. */
    char alive[64];
    for (int m = (1 << k) - 1; m >= 1; m--) {
        int cnt = __builtin_popcount((unsigned)m);
        alive[m] = cnt >= mn;
        for (int j = 0; j < k && !alive[m]; j++)
            if (!(m & (1 << j)) && (mx < 0 || cnt + 1 <= mx) && alive[m | (1 << j)]) alive[m] = 1;
    }
    for (int m = 1; m < (1 << k); m++) {
        if (!alive[m]) continue;
        sb_t t = {0};
        int n = 0, cnt = __builtin_popcount((unsigned)m);
        if (cnt >= mn) { sb_puts(&t, "\"\""); n++; }
        for (int j = 0; j < k; j++) {
            if (m & (1 << j)) continue;
            if ((mx >= 0 && cnt + 1 > mx) || !alive[m | (1 << j)]) continue;
            sb_printf(&t, "%s%s\",\"%s%s r%d", n++ ? " | " : "", w, w, lit[j], ids[m | (1 << j)]);
        }
        rule_def(c, ids[m], sb_str(&t));
        sb_free(&t);
    }
    sb_t t = {0};
    int n = 0;
    for (int j = 0; j < k && mx != 0; j++)
        if (alive[1 << j]) sb_printf(&t, "%s%s r%d", n++ ? " | " : "", lit[j], ids[1 << j]);
    json_decref(vals);
    if (!n && mn > 0) { sb_free(&t); return R_NEVER; }
    if (n) sb_printf(b, "\"[\"%s(%s)%s%s\"]\"", w, sb_str(&t), mn == 0 ? "?" : "", w);
    else sb_printf(b, "\"[\"%s\"]\"", w);
    sb_free(&t);
    return R_OK;
}

int gen_array(ctx_t *c, json_t *s, const char *path, sb_t *b) {
    long mn = 0, mx = -1;
    if (!get_count(c, s, "minItems", path, &mn) || !get_count(c, s, "maxItems", path, &mx)) return R_ERR;
    if (mx >= 0 && mx < mn) return R_NEVER;
    if (json_is_true(json_object_get(s, "uniqueItems")) && (mx < 0 || mx > 1))
        return unique_array(c, s, path, mn, mx, b);
    json_t *items = json_object_get(s, "items");
    json_t *prefix = json_object_get(s, "prefixItems");
    json_t *addl = NULL;
    if (json_is_array(items)) {
        if (prefix) return fail(c, path, "unsupported keyword 'items' (array form with prefixItems)");
        prefix = items;
        addl = json_object_get(s, "additionalItems");
    } else addl = items;
    size_t np = prefix ? json_array_size(prefix) : 0;
    if (prefix && !json_is_array(prefix)) return fail(c, path, "bad value of 'prefixItems'");
    char (*pn)[24] = calloc(np + 1, sizeof *pn);
    int *pok = calloc(np + 1, sizeof *pok);
    if (!pn || !pok) abort();
    for (size_t i = 0; i < np; i++) {
        char sp[512];
        subpath_i(sp, sizeof sp, path, json_is_array(items) ? "items" : "prefixItems", i);
        int r = gen(c, json_array_get(prefix, i), sp, pn[i]);
        if (r == R_ERR) { free(pn); free(pok); return R_ERR; }
        pok[i] = r == R_OK;
    }
    char an[24];
    int aok;
    if (addl) {
        int r = gen_child(c, addl, path, json_is_array(items) ? "additionalItems" : "items", an);
        if (r == R_ERR) { free(pn); free(pok); return R_ERR; }
        aok = r == R_OK;
    } else {
        need(c, B_VALUE);
        strcpy(an, "value");
        aok = 1;
    }
    const char *w = WS(c);
    /* tail after i >= np items: ("," A){max(mn-i,0), mx-i} */
    sb_t body = {0};
    /* build R(i) right to left, as nested text */
    /* content = "" (if mn == 0) | e0 R(1);  R(i) = "" (if i >= mn) | "," e_i R(i+1) (if i < mx) */
    sb_t tail = {0};
    {
        long need_more = mn - (long)np;
        if (need_more < 0) need_more = 0;
        long cap = mx < 0 ? -1 : mx - (long)np;
        if (cap >= 0 && cap < need_more) { /* cannot reach */ sb_puts(&tail, "!"); }
        else if (!aok) {
            if (need_more > 0) sb_puts(&tail, "!");
            else sb_puts(&tail, "");
        } else if (cap == 0) sb_puts(&tail, "");
        else if (cap < 0) sb_printf(&tail, "(%s\",\"%s%s){%ld,}", w, w, an, need_more);
        else sb_printf(&tail, "(%s\",\"%s%s){%ld,%ld}", w, w, an, need_more, cap);
    }
    /* tail "!" marks an empty language */
    char *cur = strdup(sb_str(&tail));
    sb_free(&tail);
    for (long i = (long)np - 1; i >= 1; i--) {
        /* R(i) */
        sb_t t = {0};
        int n = 0;
        if (i >= mn) { sb_puts(&t, "\"\""); n++; }
        if ((mx < 0 || i < mx) && pok[i] && strcmp(cur, "!")) {
            sb_printf(&t, "%s%s\",\"%s%s %s", n++ ? " | " : "", w, w, pn[i], cur);
        }
        free(cur);
        if (!n) cur = strdup("!");
        else { sb_t u = {0}; sb_printf(&u, "(%s)", sb_str(&t)); cur = strdup(sb_str(&u)); sb_free(&u); }
        sb_free(&t);
    }
    /* content */
    int n = 0;
    sb_t content = {0};
    if (mn == 0) n++; /* empty array */
    const char *e0 = np > 0 ? (pok[0] ? pn[0] : NULL) : (aok ? an : NULL);
    if (np == 0) {
        /* homogeneous: A ("," A){max(mn,1)-1, mx-1} */
        if (aok && mx != 0) {
            long lo = mn > 0 ? mn - 1 : 0;
            if (mx < 0) sb_printf(&content, "%s (%s\",\"%s%s){%ld,}", an, w, w, an, lo);
            else sb_printf(&content, "%s (%s\",\"%s%s){%ld,%ld}", an, w, w, an, lo, mx - 1);
            n++;
        }
    } else if (e0 && mx != 0 && strcmp(cur, "!")) {
        sb_printf(&content, "%s %s", e0, np == 1 ? cur : cur);
        n++;
    }
    free(cur);
    free(pn);
    free(pok);
    if (!n) { sb_free(&content); sb_free(&body); return R_NEVER; }
    if (content.n) sb_printf(b, "\"[\"%s(%s)%s%s\"]\"", w, sb_str(&content), mn == 0 ? "?" : "", w);
    else sb_printf(b, "\"[\"%s\"]\"", w);
    sb_free(&content);
    sb_free(&body);
    return R_OK;
}

/* ---- objects */

/* gen_object(): the GBNF of one extra (undeclared) key-value pair into *E
 * (NULL when none can come), from patternProperties / additionalProperties */
static int obj_extra(ctx_t *c, json_t *pp, json_t *ap, const char *path, const char *w, const char **names, size_t n,
                     char **E) {
    int pp_trivial = 1;
    if (pp) {
        if (!json_is_object(pp)) { return fail(c, path, "bad value of 'patternProperties'"); }
        const char *k;
        json_t *v;
        json_object_foreach(pp, k, v) if (!(json_is_true(v) || (json_is_object(v) && !has_constraints_except(v, NULL, NULL)))) pp_trivial = 0;
    }
    int ap_false = json_is_false(ap);
    if (pp && json_object_size(pp) && (!pp_trivial || ap_false)) {
        /* Keys matching a pattern take the value schema allOf(every
         * pattern's schema): exact for one pattern, stronger (never
         * weaker) when a key matches only some of several. Other extra
         * keys are not generated: when additionalProperties is not
         * false this under-approximates, it never accepts an invalid
         * instance. */
        json_t *V = json_true();
        const char *k;
        json_t *v;
        char sp[512];
        snprintf(sp, sizeof sp, "%s/patternProperties", path);
        json_object_foreach(pp, k, v) {
            V = merge(c, V, v, sp, 0);
            if (!V) { return R_ERR; }
        }
        char nm[24];
        int r2 = gen(c, V, sp, nm);
        if (r2 == R_ERR) { return R_ERR; }
        sb_t alts = {0};
        int na = 0;
        json_object_foreach(pp, k, v) {
            sb_t pe = {0};
            int r = pattern_expr(c, sp, k, strlen(k), 0, -1, &pe);
            if (r == R_ERR) { sb_free(&pe); sb_free(&alts); return R_ERR; }
            if (r == R_OK) sb_printf(&alts, "%s%s", na++ ? " | " : "", sb_str(&pe));
            sb_free(&pe);
        }
        if (na && r2 == R_OK) {
            sb_t t = {0};
            sb_printf(&t, "\"\\\"\" (%s) \"\\\"\"%s\":\"%s%s", sb_str(&alts), w, w, nm);
            *E = strdup(sb_str(&t));
            sb_free(&t);
        }
        sb_free(&alts);
    } else if (!ap_false) {
        char nm[24];
        int r;
        if (ap) r = gen_child(c, ap, path, "additionalProperties", nm);
        else { need(c, B_VALUE); strcpy(nm, "value"); r = R_OK; }
        if (r == R_ERR) { return R_ERR; }
        if (r == R_OK) {
            need(c, B_CHAR);
            trie *root = calloc(1, sizeof *root);
            for (size_t j = 0; j < n; j++) {
                trie *t = root;
                const unsigned char *p = (const unsigned char *)names[j];
                size_t L = strlen(names[j]);
                for (size_t q = 0; q < L;) {
                    uint32_t cp;
                    int kk = utf8_dec(p + q, L - q, &cp);
                    if (kk < 0) { kk = 1; cp = p[q]; }
                    q += (size_t)kk;
                    t = trie_kid(t, cp);
                }
                t->term = 1;
            }
            int kid = trie_rule(c, root);
            trie_free(root);
            sb_t t = {0};
            sb_printf(&t, "\"\\\"\" r%d%s\":\"%s%s", kid, w, w, nm);
            *E = strdup(sb_str(&t));
            sb_free(&t);
        }
    }
    return R_OK;
}

/* gen_object(): the object rule over the declared pairs kv (opt[i]: optional)
 * and the extra pair E, counting pairs against minProperties/maxProperties */
static int obj_counts(ctx_t *c, const char *path, sb_t *b, const char *w, char **kv, const int *opt, size_t n, const char *E, long minp,
                      long maxp) {
    int ret = R_OK;
    long cap = maxp >= 0 ? (maxp > minp ? maxp : minp) : minp;
    if (cap < 1) cap = 1;
    if ((long)(n + 1) * (cap + 1) > 20000) return fail(c, path, "unsupported keyword 'minProperties'/'maxProperties' (grammar too large)");
    size_t W = (size_t)cap + 1;
    char *aA = calloc((n + 1) * W, 1), *aB = calloc((n + 1) * W, 1), *aD = calloc(n + 1, 1);
    int *idA = calloc((n + 1) * W, sizeof(int)), *idB = calloc((n + 1) * W, sizeof(int)), *idD = calloc(n + 1, sizeof(int));
    if (!aA || !aB || !aD || !idA || !idB || !idD) abort();
#define SAT(x) ((x) > cap ? cap : (x))
#define OKC(x) (maxp < 0 || (x) <= maxp)
    for (long ii = (long)n; ii >= 0; ii--) {
        for (long cc = cap; cc >= 1; cc--) {
            size_t at = (size_t)ii * W + (size_t)cc;
            int bv;
            if (ii == (long)n) bv = cc >= minp;
            else bv = (kv[ii] && OKC(cc + 1) && aA[(size_t)(ii + 1) * W + (size_t)SAT(cc + 1)]) ||
                      (opt[ii] && aB[(size_t)(ii + 1) * W + (size_t)cc]);
            aB[at] = (char)bv;
            int av = bv;
            if (!av && E && OKC(cc + 1) && cc < cap) av = aA[(size_t)ii * W + (size_t)SAT(cc + 1)];
            aA[at] = (char)av;
        }
        if (ii == (long)n) aD[ii] = minp == 0;
        else aD[ii] = (char)((kv[ii] && OKC(1) && aA[(size_t)(ii + 1) * W + (size_t)SAT(1)]) || (opt[ii] && aD[ii + 1]));
    }
    int root_e = E && OKC(1) && aA[SAT(1)];
    if (!root_e && !aD[0]) {
        ret = R_NEVER;
    } else {
        for (size_t q = 0; q < (n + 1) * W; q++) {
            if (aA[q]) idA[q] = rule_new(c);
            if (aB[q]) idB[q] = rule_new(c);
        }
        for (size_t q = 0; q <= n; q++) if (aD[q]) idD[q] = rule_new(c);
        for (long ii = 0; ii <= (long)n; ii++) {
            for (long cc = 1; cc <= cap; cc++) {
                size_t at = (size_t)ii * W + (size_t)cc;
                if (aA[at]) {
                    sb_t t = {0};
                    int m = 0;
                    if (E && OKC(cc + 1) && aA[(size_t)ii * W + (size_t)SAT(cc + 1)]) {
                        sb_printf(&t, "%s\",\"%s%s r%d", w, w, E, idA[(size_t)ii * W + (size_t)SAT(cc + 1)]);
                        m++;
                    }
                    if (aB[at]) sb_printf(&t, "%sr%d", m++ ? " | " : "", idB[at]);
                    rule_def(c, idA[at], sb_str(&t));
                    sb_free(&t);
                }
                if (aB[at]) {
                    sb_t t = {0};
                    int m = 0;
                    if (ii == (long)n) { sb_puts(&t, "\"\""); m++; }
                    else {
                        if (kv[ii] && OKC(cc + 1) && aA[(size_t)(ii + 1) * W + (size_t)SAT(cc + 1)])
                            sb_printf(&t, "%s%s\",\"%s%s r%d", m++ ? " | " : "", w, w, kv[ii], idA[(size_t)(ii + 1) * W + (size_t)SAT(cc + 1)]);
                        if (opt[ii] && aB[(size_t)(ii + 1) * W + (size_t)cc])
                            sb_printf(&t, "%sr%d", m++ ? " | " : "", idB[(size_t)(ii + 1) * W + (size_t)cc]);
                    }
                    rule_def(c, idB[at], sb_str(&t));
                    sb_free(&t);
                }
            }
            if (aD[ii]) {
                sb_t t = {0};
                int m = 0;
                if (ii == (long)n) { sb_puts(&t, "\"\""); m++; }
                else {
                    if (kv[ii] && OKC(1) && aA[(size_t)(ii + 1) * W + (size_t)SAT(1)])
                        sb_printf(&t, "%s%s r%d", m++ ? " | " : "", kv[ii], idA[(size_t)(ii + 1) * W + (size_t)SAT(1)]);
                    if (opt[ii] && aD[ii + 1]) sb_printf(&t, "%sr%d", m++ ? " | " : "", idD[ii + 1]);
                }
                rule_def(c, idD[ii], sb_str(&t));
                sb_free(&t);
            }
        }
        sb_printf(b, "\"{\"%s(", w);
        int m = 0;
        if (root_e) sb_printf(b, "%s r%d", E, idA[SAT(1)]), m++;
        if (aD[0]) sb_printf(b, "%sr%d", m++ ? " | " : "", idD[0]);
        sb_printf(b, ")%s\"}\"", w);
    }
#undef SAT
#undef OKC
    free(aA); free(aB); free(aD); free(idA); free(idB); free(idD);
    return ret;
}

int gen_object(ctx_t *c, json_t *s, const char *path, sb_t *b) {
    long minp = 0, maxp = -1;
    if (!get_count(c, s, "minProperties", path, &minp) || !get_count(c, s, "maxProperties", path, &maxp)) return R_ERR;
    if (maxp >= 0 && maxp < minp) return R_NEVER;
    json_t *props = json_object_get(s, "properties");
    json_t *req = json_object_get(s, "required");
    json_t *ap = json_object_get(s, "additionalProperties");
    json_t *pp = json_object_get(s, "patternProperties");
    if (props && !json_is_object(props)) return fail(c, path, "bad value of 'properties'");
    if (req && !json_is_array(req)) return fail(c, path, "bad value of 'required'");
    const char *w = WS(c);
    size_t nreq = req ? json_array_size(req) : 0;
    size_t n = (props ? json_object_size(props) : 0) + nreq;
    char **kv = calloc(n + 1, sizeof *kv);
    int *opt = calloc(n + 1, sizeof *opt);
    if (!kv || !opt) abort();
    const char **names = calloc(n + 1, sizeof *names);
    json_t **psch = calloc(n + 1, sizeof *psch);
    if (!names || !psch) abort();
    int ret = R_OK;
    size_t i = 0;
    if (props) {
        const char *k;
        json_t *v;
        json_object_foreach(props, k, v) { names[i] = k; psch[i] = v; i++; }
    }
    /* required names absent from properties must come as additional
     * properties: placed after the declared ones, in 'required' order */
    for (size_t j = 0; j < nreq; j++) {
        json_t *r = json_array_get(req, j);
        if (!json_is_string(r)) { n = i; ret = fail(c, path, "bad value of 'required'"); goto out; }
        const char *rn = json_string_value(r);
        if (strlen(rn) != json_string_length(r)) { n = i; ret = fail(c, path, "unsupported keyword 'required' (name with a NUL character)"); goto out; }
        int dup = 0;
        for (size_t q = 0; q < i; q++) if (!strcmp(names[q], rn)) dup = 1;
        if (dup) continue;
        names[i] = rn;
        psch[i] = NULL; /* set below: matching pattern schemas or additionalProperties */
        i++;
    }
    n = i;
    /* A name matching patternProperties takes allOf of the matching pattern
     * schemas (and its own). Pattern keys generated as extras carry allOf of
     * ALL pattern schemas, which is never weaker, so a declared name that
     * also comes out as an extra is still valid; this is only sound when
     * the name's own schema adds nothing, hence the refusal otherwise. */
    for (i = 0; i < n; i++) {
        json_t *match = NULL;
        if (pp && json_is_object(pp)) {
            const char *pat;
            json_t *ps;
            json_object_foreach(pp, pat, ps) {
                int perr = 0;
                int hit = pcre_matches(pat, names[i], &perr);
                if (perr) { ret = fail(c, path, "unsupported keyword 'patternProperties' (pattern \"%.60s\")", pat); goto out; }
                if (hit) {
                    if (!match) match = own(c, json_pack("{s:[]}", "allOf"));
                    json_array_append(json_object_get(match, "allOf"), ps);
                }
            }
        }
        if (match) {
            if (psch[i] && !(json_is_true(psch[i]) || (json_is_object(psch[i]) && !n_constraints(psch[i])))) {
                ret = fail(c, path, "unsupported keyword 'patternProperties' (property \"%.60s\" also matches it)", names[i]);
                goto out;
            }
            psch[i] = match;
        } else if (!psch[i]) {
            if (json_is_false(ap)) { ret = R_NEVER; goto out; }
            psch[i] = ap ? ap : json_true();
        }
    }
    for (i = 0; i < n; i++) {
        const char *k = names[i];
        json_t *v = psch[i];
        int isreq = 0;
        for (size_t j = 0; j < nreq; j++)
            if (!strcmp(json_string_value(json_array_get(req, j)), k)) isreq = 1;
        opt[i] = !isreq;
        char sp[512], nm[24];
        snprintf(sp, sizeof sp, "%s/properties/%s", path, k);
        int r = gen(c, v, sp, nm);
        if (r == R_ERR) { ret = R_ERR; goto out; }
        if (r == R_NEVER) {
            if (isreq) { ret = R_NEVER; goto out; }
            kv[i] = NULL;
        } else {
            sb_t e = {0}, t = {0};
            json_str_enc(&e, k, strlen(k));
            gbnf_lit(&t, e.p, e.n);
            sb_printf(&t, "%s\":\"%s%s", w, w, nm);
            kv[i] = strdup(sb_str(&t));
            sb_free(&e);
            sb_free(&t);
        }
    }
    /* extra keys */
    char *E = NULL;
    ret = obj_extra(c, pp, ap, path, w, names, n, &E);
    if (ret != R_OK) goto out;
    ret = obj_counts(c, path, b, w, kv, opt, n, E, minp, maxp);
    free(E);
out:
    for (size_t j = 0; j < n; j++) free(kv[j]);
    free(kv);
    free(opt);
    free(names);
    free(psch);
    return ret;
}
