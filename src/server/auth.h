/* auth.h - API keys (from --api-key and the key file) and per-key
 * token-bucket rate limits. Thread-safe (one mutex inside). */
#ifndef PG_SERVER_AUTH_H
#define PG_SERVER_AUTH_H

#include "base/error.h"
#include "server/server.h"

#include <stddef.h>
#include <stdint.h>

typedef struct srv_keyset srv_keyset;
/* Rate-limit snapshot of one key, for the x-ratelimit-* headers. A limit of
 * 0 means unlimited (its headers are left out). */
typedef struct srv_rl {
    double lim_req, lim_tok;
    double rem_req, rem_tok;        /* may be negative for tokens (debt) */
    double reset_req_s, reset_tok_s; /* until the bucket is full again */
} srv_rl;

/* Builds the key set from c->api_keys and c->api_key_file. Enabled (auth
 * required) when at least one key exists, from either source. */
int srv_keys_create(const pg_server_config *c, srv_keyset **out, pg_error *err);
void srv_keys_destroy(srv_keyset *k);
/* Re-reads the key file; on error keeps the old keys. Buckets of keys that
 * stay are kept. Returns the number of keys or a negative code. */
int srv_keys_reload(srv_keyset *k, pg_error *err);
int srv_keys_enabled(srv_keyset *k);
/* Constant-time (in the key bytes) lookup of a presented key. Returns 1
 * and fills *id (a 64-bit digest of the key, also its cache salt) and name,
 * or 0. */
int srv_keys_lookup(srv_keyset *k, const char *key, size_t len, uint64_t *id, char *name, size_t name_cap);
/* Refills the key's buckets; when neither is exhausted takes one request
 * and returns 0; else returns the seconds to wait (>= 1) and which limit
 * ('r' requests, 't' tokens). Fills *rl either way. A key removed by a
 * reload is never limited. */
int srv_keys_admit(srv_keyset *k, uint64_t id, srv_rl *rl, int *which);
/* The key's current buckets without taking anything (headers of
 * non-generation responses). */
void srv_keys_peek(srv_keyset *k, uint64_t id, srv_rl *rl);
/* Equality in time that depends only on the lengths. */
int srv_ct_equal(const char *a, size_t al, const char *b, size_t bl);
/* Charges tokens (prompt at submit, generated at completion). */
void srv_keys_charge(srv_keyset *k, uint64_t id, int64_t tokens);
/* 64-bit digest (splitmix of FNV-1a) of bytes, for salts. */
uint64_t srv_hash64(const void *p, size_t n, uint64_t seed);

#endif
