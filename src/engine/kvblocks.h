/* kvblocks.h - bookkeeping of the paged KV cache: block ids, refcounts,
 * free list, automatic prefix caching (vLLM style) and LRU eviction. The KV
 * tensors live elsewhere and are indexed by block id; this module never
 * touches them.
 *
 * Block state machine (every block is in exactly one state):
 *
 *                   alloc: pop the free list
 *       +------+ ------------------------------> +--------+  ref / unref while
 *       | FREE |                                 | ACTIVE |  refcount >= 1;
 *       +------+ <------------------------------ +--------+  commit: gets a hash
 *                  unref to 0, not hashed          |  ^  ^
 *                                                  |  |  |
 *                 unref to 0, hashed (LRU: newest) |  |  | alloc with an empty free
 *                        ref (prefix hit) revives  |  |  | list: evict the least
 *                                                  v  |  | recently used (drop hash)
 *                                               +--------+
 *                                               | CACHED |
 *                                               +--------+
 *
 *   FREE   refcount 0, no hash, on the free list.
 *   ACTIVE refcount >= 1, on no list; hashed once committed (full block,
 *          final contents, registered in the prefix map) or not.
 *   CACHED refcount 0, hashed, on the LRU list (head = least recent); can be
 *          revived by ref (-> ACTIVE) or evicted by alloc.
 *
 * Prefix caching: the hash of a full block is
 *   H(parent block's hash (PG_KVB_ROOT for the first block), its block_size
 *     token ids, a per-tenant 64-bit salt)
 * computed with SipHash-2-4 keyed by the salt (implemented here). The map
 * hash -> block id holds at most one block per hash value. A hit is
 * confirmed against the stored tokens, parent hash and salt, so a hash
 * collision is reported as a miss and never serves another block's data.
 * Residual risk: two different *parents* with equal 64-bit hashes; with the
 * salt as a secret key (the engine should mix a per-process random key into
 * each tenant's salt) such collisions cannot be crafted and occur by chance
 * with probability ~n^2/2^64.
 *
 * Block tables are left to the engine: a sequence owns an array of block
 * ids, refs prefix hits it uses, allocs the rest, commits each block when it
 * becomes full, and on finish/cancel/preemption unrefs its blocks from LAST
 * to FIRST so that deeper blocks (least likely to be shared) are evicted
 * first. match_prefix never matches the whole prompt by itself: pass
 * n_tokens - 1 to keep the last token for computing logits.
 *
 * Not thread-safe: owned by the scheduler thread. All memory is allocated by
 * pg_kvb_create; no call allocates afterwards (pg_kvb_check excepted).
 */
#ifndef PG_ENGINE_KVBLOCKS_H
#define PG_ENGINE_KVBLOCKS_H

#include <stddef.h>
#include <stdint.h>

#define PG_KVB_ROOT 0ULL /* parent hash of a sequence's first block */

enum { PG_KVB_FREE = 0, PG_KVB_ACTIVE = 1, PG_KVB_CACHED = 2 };

/* pg_kvb_commit results */
enum {
    PG_KVB_COMMIT_NEW = 0,       /* registered: the block is now hashed */
    PG_KVB_COMMIT_DUP = 1,       /* same contents already registered; left unhashed */
    PG_KVB_COMMIT_COLLISION = 2, /* hash held by different contents; left unhashed
                                    (the caller should not commit descendants) */
};

typedef struct pg_kvb pg_kvb;

typedef struct pg_kvb_stats {
    uint64_t queries;      /* match_prefix calls */
    uint64_t query_blocks; /* full blocks those calls could have hit */
    uint64_t query_tokens; /* tokens passed to match_prefix */
    uint64_t hit_blocks;   /* blocks served from the cache by match_prefix */
    uint64_t hit_tokens;   /* hit_blocks * block_size */
    uint64_t lookups;      /* pg_kvb_lookup calls (incl. those of match_prefix) */
    uint64_t collisions;   /* lookups/commits that met a different block under their hash */
    uint64_t evictions;    /* CACHED blocks reclaimed by alloc */
    uint64_t commits;      /* blocks registered */
} pg_kvb_stats;

/* NULL on bad sizes (n_blocks in [1, 2^28], block_size in [1, 2^16],
 * product within memory) or allocation failure. */
pg_kvb *pg_kvb_create(int32_t n_blocks, int32_t block_size);
void pg_kvb_destroy(pg_kvb *k);

/* A block with refcount 1 (ACTIVE, unhashed): from the free list, else the
 * least recently used CACHED block is evicted. -1 when every block is ACTIVE. */
int32_t pg_kvb_alloc(pg_kvb *k);
/* ACTIVE: refcount+1; CACHED: revived to ACTIVE with refcount 1. Aborts on
 * a FREE block (a bug). */
void pg_kvb_ref(pg_kvb *k, int32_t id);
/* refcount-1; at 0 the block becomes CACHED (hashed; most recent in LRU)
 * or FREE. Aborts unless ACTIVE (double free). */
void pg_kvb_unref(pg_kvb *k, int32_t id);

uint64_t pg_kvb_hash(uint64_t parent, const int32_t *tokens, int32_t block_size, uint64_t salt);

/* Registers ACTIVE, not yet hashed block id under hash with its contents
 * (tokens: block_size ids, copied). The hash is trusted only as a key;
 * lookups verify everything else. Returns a PG_KVB_COMMIT_* value. */
int pg_kvb_commit(pg_kvb *k, int32_t id, uint64_t hash, uint64_t parent, uint64_t salt,
                  const int32_t *tokens);
/* Block registered under hash whose parent, salt and tokens match, or -1.
 * Does not ref and does not change the LRU order. */
int32_t pg_kvb_lookup(pg_kvb *k, uint64_t hash, uint64_t parent, uint64_t salt,
                      const int32_t *tokens);
/* Walks the full blocks of tokens[0, n_tokens) (at most max_blocks) from the
 * root and returns how many leading blocks are cached; their ids go to
 * ids[] and their hashes to hashes[] (may be NULL). Does not ref: the caller
 * refs the ids it decides to use (before any alloc, which could evict them). */
int32_t pg_kvb_match_prefix(pg_kvb *k, const int32_t *tokens, int64_t n_tokens, uint64_t salt,
                            int32_t *ids, uint64_t *hashes, int32_t max_blocks);

int32_t pg_kvb_n_free(const pg_kvb *k);   /* FREE + CACHED = allocatable */
int32_t pg_kvb_n_active(const pg_kvb *k);
int32_t pg_kvb_n_cached(const pg_kvb *k);
int pg_kvb_state(const pg_kvb *k, int32_t id);
int32_t pg_kvb_refcount(const pg_kvb *k, int32_t id);
int pg_kvb_is_hashed(const pg_kvb *k, int32_t id);
pg_kvb_stats pg_kvb_get_stats(const pg_kvb *k);

/* Eviction hook (disk prefix cache): called by pg_kvb_alloc when it is
 * about to evict CACHED block id, before its hash is dropped and before
 * the caller reuses it, so the block's K/V can still be copied out. The
 * hook must not call back into this pg_kvb. NULL removes it. */
typedef void (*pg_kvb_evict_fn)(void *ud, int32_t id, uint64_t hash, uint64_t parent, uint64_t salt,
                                const int32_t *tokens);
void pg_kvb_set_evict_hook(pg_kvb *k, pg_kvb_evict_fn fn, void *ud);
/* Identity of a hashed block (0), or -1 when id is not hashed; tokens
 * points into the table (block_size ids, valid until the block changes). */
int pg_kvb_block_identity(const pg_kvb *k, int32_t id, uint64_t *hash, uint64_t *parent, uint64_t *salt,
                          const int32_t **tokens);
/* CACHED blocks from the least to the most recently used: pass -1 for the
 * first; returns -1 after the last. */
int32_t pg_kvb_lru_next(const pg_kvb *k, int32_t id);

/* Full invariant check (O(n_blocks + map), allocates a scratch bitmap):
 * 0 if consistent, else -1 with a description in msg. For tests. */
int pg_kvb_check(const pg_kvb *k, char *msg, size_t cap);

#endif
