/* util.h - small helpers shared by the server's modules: the monotonic
 * clock, response ids, OpenAI-shaped error objects, the HTTP status of a
 * PG_E* code, and srv_buf, a growable byte buffer with a JSON writer that
 * produces exactly what jansson's JSON_COMPACT dump produces for the same
 * values (strings, integers, reals), so hot paths (SSE frames) can format
 * JSON without building a jansson tree. Knows nothing of the HTTP library. */
#ifndef PG_SERVER_UTIL_H
#define PG_SERVER_UTIL_H

#include "base/error.h"
#include "tokenizer/tokenizer.h"

#include <jansson.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/* Internal code: a choice hit its deadline before producing a token
 * (-> 504). Distinct from every PG_E*. */
#define SRV_ETIMEOUT (-1000)
/* The status logged (and counted) for a request whose client closed the
 * connection before any response was sent (nginx's "client closed
 * request"; never sent on the wire). */
#define SRV_STATUS_CLIENT_CLOSED 499

double srv_now(void); /* monotonic seconds */

/* Response / trace ids: splitmix64 of a per-process random key and a
 * counter, so ids are unique and not guessable from each other. */
typedef struct srv_idgen {
    uint64_t key;
    atomic_uint_fast64_t seq;
} srv_idgen;
void srv_idgen_init(srv_idgen *g); /* random key from getrandom (time/pid fallback) */
/* prefix + 24 hex digits into out (cap >= strlen(prefix) + 25). */
void srv_make_id(srv_idgen *g, const char *prefix, char *out, size_t cap);
uint64_t srv_next_serial(srv_idgen *g);

/* {"error":{"message","type","param","code"}}; param/code may be NULL. */
json_t *srv_error_json(const char *message, const char *type, const char *param, const char *code);
/* Compact dump; decrefs j. Never NULL unless out of memory twice. */
char *srv_dump(json_t *j, size_t *len);
/* HTTP status for a PG_E* (or SRV_ETIMEOUT) code. */
int srv_status_for(int pg_code);

/* JSON field getters of request bodies: absent or null -> 0 (*v
 * untouched); wrong type or out of [lo, hi] -> 400 with *err set to an
 * OpenAI error object naming the field. */
int srv_get_num(json_t *o, const char *k, double lo, double hi, double *v, json_t **err);
int srv_get_int(json_t *o, const char *k, long long lo, long long hi, long long *v, json_t **err);
int srv_get_bool(json_t *o, const char *k, int *v, json_t **err);

/* Tokenizes t[0..n) into a malloc'd array. 0 or a PG_E* code. */
int srv_tokenize_alloc(const pg_vocab *v, const char *t, size_t n, int add_special, int parse_special, int32_t **out,
                       int32_t *n_out, pg_error *err);
/* Detokenizes into a malloc'd NUL-terminated string; NULL when out of memory. */
char *srv_detok_alloc(const pg_vocab *v, const int32_t *ids, size_t n, int special, size_t *len);

/* Growable bytes. The owner keeps it for the request's life and resets
 * len to reuse the storage: after the first few frames it no longer
 * allocates. On allocation failure err is set and later writes are
 * dropped (the caller checks err once). */
typedef struct srv_buf {
    char *p;
    size_t len, cap;
    int err;
} srv_buf;
void srv_buf_free(srv_buf *b);
int srv_buf_reserve(srv_buf *b, size_t extra);
void srv_buf_put(srv_buf *b, const void *s, size_t n);
void srv_buf_puts(srv_buf *b, const char *s);
void srv_buf_putc(srv_buf *b, char c);
/* JSON values, byte-identical to jansson 2.x JSON_COMPACT: */
void srv_buf_int(srv_buf *b, long long v);
void srv_buf_real(srv_buf *b, double v); /* "%.17g", ".0" added, exponent trimmed; non-finite -> -9999.0 */
/* A JSON string of s[0..n). Bytes that are not valid UTF-8 make the whole
 * string "" (what json_stringn's NULL led to). */
void srv_buf_jstr(srv_buf *b, const char *s, size_t n);
/* The inside of a JSON string (no quotes, no UTF-8 check): for a string
 * written in pieces, each piece valid UTF-8 on its own. */
void srv_buf_jesc(srv_buf *b, const char *s, size_t n);
/* 1 if s[0..n) is valid UTF-8 (RFC 3629: no overlongs, surrogates or
 * code points above U+10FFFF). */
int srv_utf8_valid(const char *s, size_t n);

/* Bounds a JSON body's parse cost before any tree is built (issue 29):
 * counts its values (every string, number, literal, array and object; keys
 * included) and its nesting depth in one pass without allocating. 0 within
 * both limits, -1 more than max_values values, -2 deeper than max_depth;
 * *values / *depth get what was counted (the scan stops at the first
 * excess). Syntax is not checked here (the parser does that). */
int srv_json_prescan(const char *s, size_t n, size_t max_values, int max_depth, size_t *values, int *depth);

#endif
