/* resp_store.h - the Responses API's store of finished responses (issue
 * 24): GET /v1/responses/{id}, DELETE, and previous_response_id read it.
 *
 * Bounded three ways: at most max_entries responses, at most max_bytes of
 * stored text (ids, bodies and histories counted), and each response lives
 * ttl_s seconds after it was stored. Past a bound the least recently used
 * entries go first (a get or a use as previous_response_id refreshes an
 * entry's recency, not its expiry). An entry larger than the byte bound
 * on its own is not stored. max_entries 0 turns the store off (every put
 * refused, every lookup missing).
 *
 * Each entry belongs to an owner (the API key's digest; 0 when keys are
 * off): a lookup by another owner misses exactly like a missing id, so a
 * caller cannot learn of another key's responses.
 *
 * An entry holds two texts: the response object (what GET returns) and the
 * conversation history (what a later previous_response_id prepends: the
 * adapter's own encoding). Lookups copy them out (malloc), so nothing the
 * caller holds is freed by a later eviction.
 *
 * Thread-safe: one mutex around every call; time comes from the caller
 * (now, seconds on any monotonic clock), so tests drive expiry directly. */
#ifndef PG_SERVER_RESP_STORE_H
#define PG_SERVER_RESP_STORE_H

#include <stddef.h>
#include <stdint.h>

typedef struct srv_rstore srv_rstore;

/* NULL when out of memory. ttl_s <= 0: entries never expire. */
srv_rstore *srv_rstore_create(size_t max_entries, size_t max_bytes, double ttl_s);
void srv_rstore_destroy(srv_rstore *s);

/* Stores (or replaces) id. 0, or -1: the store is off, the entry alone is
 * over the byte bound, or out of memory (nothing stored). */
int srv_rstore_put(srv_rstore *s, const char *id, uint64_t owner, const char *resp, size_t resp_len, const char *hist,
                   size_t hist_len, double now);

enum { SRV_RSTORE_RESPONSE = 0, SRV_RSTORE_HISTORY = 1 };
/* Copies one text of the entry (what: SRV_RSTORE_*) into *out (malloc'd,
 * NUL-terminated). 0, -1 missing / expired / another owner's, -2 out of
 * memory. */
int srv_rstore_get(srv_rstore *s, const char *id, uint64_t owner, int what, char **out, size_t *len, double now);
/* 0 deleted, -1 missing (as get). */
int srv_rstore_delete(srv_rstore *s, const char *id, uint64_t owner, double now);

/* 1 when puts can succeed (a store with max_entries > 0). */
int srv_rstore_enabled(const srv_rstore *s);

typedef struct srv_rstore_stats {
    size_t entries, bytes;
    uint64_t evicted_lru, expired; /* entries dropped by a bound, and by their age */
} srv_rstore_stats;
void srv_rstore_stats_get(srv_rstore *s, srv_rstore_stats *st);
/* Invariants (list and table agree, counts and bytes sum, bounds kept);
 * 0 or -1 with msg filled. */
int srv_rstore_check(srv_rstore *s, char *msg, size_t cap);

#endif
