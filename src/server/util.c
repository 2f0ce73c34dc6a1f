/* util.c - see util.h. The JSON writer follows jansson's dump rules (no
 * escaping of '/' or non-ASCII, \uXXXX for other control bytes, reals
 * printed with 17 significant digits) so that a frame formatted here reads
 * byte for byte like the jansson-built frames it replaced. */
#include "server/util.h"

#include "base/error.h"
#include "base/hash.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

double srv_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void srv_idgen_init(srv_idgen *g) {
    if (getrandom(&g->key, sizeof g->key, 0) != (ssize_t)sizeof g->key)
        g->key = (uint64_t)time(NULL) ^ (uint64_t)getpid() << 32;
    atomic_store(&g->seq, 0);
}

uint64_t srv_next_serial(srv_idgen *g) { return atomic_fetch_add(&g->seq, 1) + 1; }

void srv_make_id(srv_idgen *g, const char *prefix, char *out, size_t cap) {
    uint64_t z = pg_hash_fmix64(g->key + PG_HASH_GOLDEN * srv_next_serial(g));
    uint64_t w = z * 0xD6E8FEB86659FD93ULL + g->key;
    snprintf(out, cap, "%s%016llx%08llx", prefix, (unsigned long long)z, (unsigned long long)(w >> 32));
}

json_t *srv_error_json(const char *message, const char *type, const char *param, const char *code) {
    json_t *e = json_object();
    json_t *msg = json_string(message ? message : "");
    if (!msg) msg = json_string("(message is not valid UTF-8)");
    json_object_set_new(e, "message", msg);
    json_object_set_new(e, "type", json_string(type));
    json_object_set_new(e, "param", param ? json_string(param) : json_null());
    json_object_set_new(e, "code", code ? json_string(code) : json_null());
    json_t *o = json_object();
    json_object_set_new(o, "error", e);
    return o;
}

int srv_status_for(int c) {
    switch (c) {
    case PG_EINVAL: case PG_ERANGE: case PG_EFORMAT: case PG_ELIMIT: case PG_EUNSUPPORTED: return 400;
    case PG_ENOTFOUND: return 404;
    case PG_EBUSY: return 429;
    case PG_ENOMEM: case PG_ECANCELED: return 503;
    case SRV_ETIMEOUT: return 504;
    default: return 500;
    }
}

char *srv_dump(json_t *j, size_t *len) {
    char *s = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    if (!s) s = strdup("{\"error\":{\"message\":\"out of memory\",\"type\":\"server_error\",\"param\":null,\"code\":null}}");
    if (len) *len = s ? strlen(s) : 0;
    return s;
}

/* ---------- request-body helpers ---------- */

#define FAIL400(param, ...)                                                          \
    do {                                                                             \
        char m_[600];                                                                \
        snprintf(m_, sizeof m_, __VA_ARGS__);                                        \
        *err = srv_error_json(m_, "invalid_request_error", param, NULL);             \
        return 400;                                                                  \
    } while (0)

int srv_get_num(json_t *o, const char *k, double lo, double hi, double *v, json_t **err) {
    json_t *x = json_object_get(o, k);
    if (!x || json_is_null(x)) return 0;
    if (!json_is_number(x)) FAIL400(k, "'%s' must be a number", k);
    double d = json_number_value(x);
    if (!(d >= lo && d <= hi)) FAIL400(k, "'%s' must be in [%g, %g], got %g", k, lo, hi, d);
    *v = d;
    return 0;
}

int srv_get_int(json_t *o, const char *k, long long lo, long long hi, long long *v, json_t **err) {
    json_t *x = json_object_get(o, k);
    if (!x || json_is_null(x)) return 0;
    if (!json_is_integer(x)) FAIL400(k, "'%s' must be an integer", k);
    long long d = json_integer_value(x);
    if (d < lo || d > hi) FAIL400(k, "'%s' must be in [%lld, %lld], got %lld", k, lo, hi, d);
    *v = d;
    return 0;
}

int srv_get_bool(json_t *o, const char *k, int *v, json_t **err) {
    json_t *x = json_object_get(o, k);
    if (!x || json_is_null(x)) return 0;
    if (!json_is_boolean(x)) FAIL400(k, "'%s' must be a boolean", k);
    *v = json_is_true(x);
    return 0;
}
#undef FAIL400

int srv_tokenize_alloc(const pg_vocab *v, const char *t, size_t n, int add_special, int parse_special, int32_t **out,
                       int32_t *n_out, pg_error *err) {
    size_t cap = n + 8;
    int32_t *ids = malloc(cap * sizeof *ids);
    if (!ids) return pg_error_set(err, PG_ENOMEM, "out of memory");
    int64_t k = pg_tokenize(v, t, n, add_special, parse_special, ids, cap, err);
    if (k > (int64_t)cap) {
        int32_t *b = realloc(ids, (size_t)k * sizeof *ids);
        if (!b) {
            free(ids);
            return pg_error_set(err, PG_ENOMEM, "out of memory");
        }
        ids = b;
        cap = (size_t)k;
        k = pg_tokenize(v, t, n, add_special, parse_special, ids, cap, err);
    }
    if (k < 0) {
        free(ids);
        return (int)k;
    }
    if (k > INT32_MAX / 2) {
        free(ids);
        return pg_error_set(err, PG_ERANGE, "the prompt is too long");
    }
    *out = ids;
    *n_out = (int32_t)k;
    return 0;
}

char *srv_detok_alloc(const pg_vocab *v, const int32_t *ids, size_t n, int special, size_t *len) {
    char small[256];
    int64_t k = pg_detokenize(v, ids, n, small, sizeof small, special);
    if (k < 0) k = 0;
    char *s = malloc((size_t)k + 1);
    if (!s) return NULL;
    if (k <= (int64_t)sizeof small) memcpy(s, small, (size_t)k);
    else pg_detokenize(v, ids, n, s, (size_t)k, special);
    s[k] = 0;
    *len = (size_t)k;
    return s;
}

/* ---------- srv_buf ---------- */

void srv_buf_free(srv_buf *b) {
    free(b->p);
    memset(b, 0, sizeof *b);
}

int srv_buf_reserve(srv_buf *b, size_t extra) {
    if (b->err) return -1;
    if (extra <= b->cap - b->len) return 0;
    size_t need = b->len + extra;
    if (need < b->len) return b->err = -1;
    size_t nc = b->cap ? b->cap : 1024;
    while (nc < need) {
        if (nc > SIZE_MAX / 2) return b->err = -1;
        nc *= 2;
    }
    char *q = realloc(b->p, nc);
    if (!q) return b->err = -1;
    b->p = q;
    b->cap = nc;
    return 0;
}

void srv_buf_put(srv_buf *b, const void *s, size_t n) {
    if (!n || srv_buf_reserve(b, n) < 0) return;
    memcpy(b->p + b->len, s, n);
    b->len += n;
}

void srv_buf_puts(srv_buf *b, const char *s) { srv_buf_put(b, s, strlen(s)); }

void srv_buf_putc(srv_buf *b, char c) {
    if (srv_buf_reserve(b, 1) < 0) return;
    b->p[b->len++] = c;
}

void srv_buf_int(srv_buf *b, long long v) {
    char t[32];
    int n = snprintf(t, sizeof t, "%lld", v);
    srv_buf_put(b, t, (size_t)n);
}

void srv_buf_real(srv_buf *b, double v) {
    if (!isfinite(v)) v = -9999.0; /* jansson cannot encode these; vLLM's stand-in for -inf */
    char t[48];
    int n = snprintf(t, sizeof t, "%.17g", v);
    if (n < 0 || n >= (int)sizeof t - 3) return;
    if (!strchr(t, '.') && !strchr(t, 'e')) {
        memcpy(t + n, ".0", 3);
        n += 2;
    }
    char *e = strchr(t, 'e');
    if (e) { /* "e+05" -> "e5", "e-05" -> "e-5" */
        char *src = e + 1, *dst = e + 1;
        if (*src == '+') src++;
        else if (*src == '-') *dst++ = *src++;
        while (*src == '0' && src[1]) src++;
        memmove(dst, src, strlen(src) + 1);
        n = (int)strlen(t);
    }
    srv_buf_put(b, t, (size_t)n);
}

int srv_utf8_valid(const char *s, size_t n) {
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        unsigned c = p[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t k;
        unsigned cp;
        if (c >= 0xC2 && c <= 0xDF) k = 1, cp = c & 0x1F;
        else if (c >= 0xE0 && c <= 0xEF) k = 2, cp = c & 0x0F;
        else if (c >= 0xF0 && c <= 0xF4) k = 3, cp = c & 0x07;
        else return 0;
        if (n - i <= k) return 0;
        for (size_t j = 1; j <= k; j++) {
            if ((p[i + j] & 0xC0) != 0x80) return 0;
            cp = cp << 6 | (p[i + j] & 0x3F);
        }
        if ((k == 2 && cp < 0x800) || (k == 3 && cp < 0x10000) || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return 0;
        i += k + 1;
    }
    return 1;
}

void srv_buf_jesc(srv_buf *b, const char *s, size_t n) {
    /* worst case 6 bytes per byte */
    if (n > (SIZE_MAX - 2) / 6 || srv_buf_reserve(b, n * 6) < 0) return;
    char *o = b->p + b->len;
    static const char hex[] = "0123456789ABCDEF"; /* jansson writes \u001F */
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\') {
            *o++ = (char)c;
            continue;
        }
        *o++ = '\\';
        switch (c) {
        case '"': *o++ = '"'; break;
        case '\\': *o++ = '\\'; break;
        case '\b': *o++ = 'b'; break;
        case '\f': *o++ = 'f'; break;
        case '\n': *o++ = 'n'; break;
        case '\r': *o++ = 'r'; break;
        case '\t': *o++ = 't'; break;
        default:
            *o++ = 'u';
            *o++ = '0';
            *o++ = '0';
            *o++ = hex[c >> 4];
            *o++ = hex[c & 15];
        }
    }
    b->len = (size_t)(o - b->p);
}

void srv_buf_jstr(srv_buf *b, const char *s, size_t n) {
    if (!srv_utf8_valid(s, n)) n = 0;
    srv_buf_putc(b, '"');
    srv_buf_jesc(b, s, n);
    srv_buf_putc(b, '"');
}

/* One pass, no allocation: strings (with their escapes) are skipped as
 * one value; every other run of non-structural characters (a number,
 * true/false/null, or garbage the parser will refuse) is one value; each
 * '[' and '{' is one value and one level. Keys count as values too, so the
 * count bounds the parser's nodes from above. */
int srv_json_prescan(const char *s, size_t n, size_t max_values, int max_depth, size_t *values, int *depth) {
    size_t nv = 0;
    int d = 0, dmax = 0, in_lit = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        switch (c) {
        case '"':
            in_lit = 0;
            nv++;
            for (i++; i < n && s[i] != '"'; i++)
                if (s[i] == '\\') i++;
            break;
        case '[':
        case '{':
            in_lit = 0;
            nv++;
            if (++d > dmax) dmax = d;
            break;
        case ']':
        case '}':
            in_lit = 0;
            if (d > 0) d--;
            break;
        case ',':
        case ':':
        case ' ':
        case '\t':
        case '\n':
        case '\r':
            in_lit = 0;
            break;
        default:
            if (!in_lit) nv++;
            in_lit = 1;
        }
        if (nv > max_values || dmax > max_depth) break;
    }
    *values = nv;
    *depth = dmax;
    if (nv > max_values) return -1;
    if (dmax > max_depth) return -2;
    return 0;
}
