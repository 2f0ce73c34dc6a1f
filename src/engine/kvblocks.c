/* kvblocks.c - see kvblocks.h for the state machine and the prefix cache.
 *
 * Layout (struct-of-arrays, all n_blocks long, allocated once):
 *   state, refcnt          the state machine
 *   prev, next             links of the one list a block is on: the free
 *                          list (FREE, used as a stack at the head) or the
 *                          LRU list (CACHED, head = least recently used,
 *                          tail = most recent); -1 terminates
 *   hashed, hash, parent, salt, tokens[n_blocks*block_size]
 *                          identity of a registered block
 *   map[cap]               open addressing, linear probing, cap a power of
 *                          two >= 2*n_blocks; a slot holds a block id or -1;
 *                          keys are unique; removal by backward shift (no
 *                          tombstones), so probe chains never degrade.
 */
#include "engine/kvblocks.h"

#include "base/hash.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"

struct pg_kvb {
    int32_t n_blocks, block_size;
    uint8_t *state;
    uint8_t *hashed;
    int32_t *refcnt;
    int32_t *prev, *next;
    uint64_t *hash, *parent, *salt;
    int32_t *tokens;
    int32_t *map;
    uint64_t map_mask;
    int map_bits;
    int32_t free_head, n_free_list;
    int32_t lru_head, lru_tail, n_lru;
    int32_t n_active;
    int32_t n_hashed;
    pg_kvb_stats st;
    pg_kvb_evict_fn evict_fn;
    void *evict_ud;
};

/* ---- hash: SipHash-2-4 over 64-bit words, keyed by the salt ---- */

static inline uint64_t rotl(uint64_t x, int b) { return (x << b) | (x >> (64 - b)); }

#define SIPROUND                                                                 \
    do {                                                                         \
        v0 += v1; v1 = rotl(v1, 13); v1 ^= v0; v0 = rotl(v0, 32);                \
        v2 += v3; v3 = rotl(v3, 16); v3 ^= v2;                                   \
        v0 += v3; v3 = rotl(v3, 21); v3 ^= v0;                                   \
        v2 += v1; v1 = rotl(v1, 17); v1 ^= v2; v2 = rotl(v2, 32);                \
    } while (0)

uint64_t pg_kvb_hash(uint64_t parent, const int32_t *tokens, int32_t block_size, uint64_t salt) {
    /* key = (salt, salt with a distinct constant); message = block_size,
     * parent, then the tokens two per word; the word count is folded into
     * the final word as SipHash does with the byte length. */
    uint64_t k0 = salt, k1 = salt ^ 0x5bd1e9955bd1e995ULL;
    uint64_t v0 = k0 ^ 0x736f6d6570736575ULL, v1 = k1 ^ 0x646f72616e646f6dULL;
    uint64_t v2 = k0 ^ 0x6c7967656e657261ULL, v3 = k1 ^ 0x7465646279746573ULL;
    uint64_t nwords = 0;
#define ABSORB(m_)                                                               \
    do {                                                                         \
        uint64_t m__ = (m_);                                                     \
        v3 ^= m__; SIPROUND; SIPROUND; v0 ^= m__; nwords++;                      \
    } while (0)
    ABSORB((uint64_t)(uint32_t)block_size);
    ABSORB(parent);
    int32_t i = 0;
    for (; i + 1 < block_size; i += 2)
        ABSORB((uint64_t)(uint32_t)tokens[i] | ((uint64_t)(uint32_t)tokens[i + 1] << 32));
    if (i < block_size) ABSORB((uint64_t)(uint32_t)tokens[i] | 0xffffffff00000000ULL);
    ABSORB(nwords << 56);
#undef ABSORB
    v2 ^= 0xff;
    SIPROUND; SIPROUND; SIPROUND; SIPROUND;
    return v0 ^ v1 ^ v2 ^ v3;
}

/* ---- create / destroy ---- */

pg_kvb *pg_kvb_create(int32_t n_blocks, int32_t block_size) {
    if (n_blocks < 1 || n_blocks > (1 << 28) || block_size < 1 || block_size > (1 << 16))
        return NULL;
    size_t ntok;
    if (pg_mul_size((size_t)n_blocks, (size_t)block_size, &ntok) || ntok > ((size_t)1 << 34))
        return NULL;
    pg_kvb *k = calloc(1, sizeof *k);
    if (!k) return NULL;
    size_t n = (size_t)n_blocks;
    k->n_blocks = n_blocks;
    k->block_size = block_size;
    k->state = calloc(n, 1);
    k->hashed = calloc(n, 1);
    k->refcnt = calloc(n, sizeof *k->refcnt);
    k->prev = malloc(n * sizeof *k->prev);
    k->next = malloc(n * sizeof *k->next);
    k->hash = calloc(n, sizeof *k->hash);
    k->parent = calloc(n, sizeof *k->parent);
    k->salt = calloc(n, sizeof *k->salt);
    k->tokens = calloc(ntok, sizeof *k->tokens);
    int bits = 3;
    while (((size_t)1 << bits) < 2 * n) bits++;
    k->map_bits = bits;
    k->map_mask = ((uint64_t)1 << bits) - 1;
    k->map = malloc(((size_t)1 << bits) * sizeof *k->map);
    if (!k->state || !k->hashed || !k->refcnt || !k->prev || !k->next || !k->hash || !k->parent ||
        !k->salt || !k->tokens || !k->map) {
        pg_kvb_destroy(k);
        return NULL;
    }
    memset(k->map, 0xff, ((size_t)1 << bits) * sizeof *k->map);
    /* free list in id order: 0 is handed out first */
    for (int32_t i = 0; i < n_blocks; i++) {
        k->state[i] = PG_KVB_FREE;
        k->prev[i] = i - 1;
        k->next[i] = i + 1 < n_blocks ? i + 1 : -1;
    }
    k->free_head = 0;
    k->n_free_list = n_blocks;
    k->lru_head = k->lru_tail = -1;
    return k;
}

void pg_kvb_destroy(pg_kvb *k) {
    if (!k) return;
    free(k->state);
    free(k->hashed);
    free(k->refcnt);
    free(k->prev);
    free(k->next);
    free(k->hash);
    free(k->parent);
    free(k->salt);
    free(k->tokens);
    free(k->map);
    free(k);
}

/* ---- lists ---- */

static void free_push(pg_kvb *k, int32_t id) {
    k->prev[id] = -1;
    k->next[id] = k->free_head;
    if (k->free_head >= 0) k->prev[k->free_head] = id;
    k->free_head = id;
    k->n_free_list++;
}

static int32_t free_pop(pg_kvb *k) {
    int32_t id = k->free_head;
    if (id < 0) return -1;
    k->free_head = k->next[id];
    if (k->free_head >= 0) k->prev[k->free_head] = -1;
    k->prev[id] = k->next[id] = -1;
    k->n_free_list--;
    return id;
}

static void lru_push_tail(pg_kvb *k, int32_t id) {
    k->next[id] = -1;
    k->prev[id] = k->lru_tail;
    if (k->lru_tail >= 0) k->next[k->lru_tail] = id;
    else k->lru_head = id;
    k->lru_tail = id;
    k->n_lru++;
}

static void lru_remove(pg_kvb *k, int32_t id) {
    int32_t p = k->prev[id], n = k->next[id];
    if (p >= 0) k->next[p] = n;
    else k->lru_head = n;
    if (n >= 0) k->prev[n] = p;
    else k->lru_tail = p;
    k->prev[id] = k->next[id] = -1;
    k->n_lru--;
}

/* ---- map ---- */

static inline uint64_t home(const pg_kvb *k, uint64_t h) {
    return pg_hash_fib(h) >> (64 - k->map_bits);
}

/* Slot holding key h, or the empty slot where it would go (*found = 0). */
static uint64_t map_find(const pg_kvb *k, uint64_t h, int *found) {
    uint64_t i = home(k, h);
    for (;;) {
        int32_t id = k->map[i];
        if (id < 0) {
            *found = 0;
            return i;
        }
        if (k->hash[id] == h) {
            *found = 1;
            return i;
        }
        i = (i + 1) & k->map_mask;
    }
}

static void map_remove_slot(pg_kvb *k, uint64_t i) {
    k->map[i] = -1;
    uint64_t j = i;
    for (;;) {
        j = (j + 1) & k->map_mask;
        int32_t id = k->map[j];
        if (id < 0) return;
        uint64_t h = home(k, k->hash[id]);
        /* entry at j may stay if its home lies cyclically in (i, j] */
        int stays = i <= j ? (h > i && h <= j) : (h > i || h <= j);
        if (stays) continue;
        k->map[i] = id;
        k->map[j] = -1;
        i = j;
    }
}

static void unhash(pg_kvb *k, int32_t id) {
    int found;
    uint64_t slot = map_find(k, k->hash[id], &found);
    PG_ASSERT(found && k->map[slot] == id);
    map_remove_slot(k, slot);
    k->hashed[id] = 0;
    k->hash[id] = k->parent[id] = k->salt[id] = 0;
    k->n_hashed--;
}

/* ---- state machine ---- */

int32_t pg_kvb_alloc(pg_kvb *k) {
    int32_t id = free_pop(k);
    if (id < 0) {
        id = k->lru_head;
        if (id < 0) return -1;
        PG_ASSERT(k->state[id] == PG_KVB_CACHED && k->refcnt[id] == 0);
        if (k->evict_fn)
            k->evict_fn(k->evict_ud, id, k->hash[id], k->parent[id], k->salt[id],
                        k->tokens + (size_t)id * (size_t)k->block_size);
        lru_remove(k, id);
        unhash(k, id);
        k->st.evictions++;
    } else {
        PG_ASSERT(k->state[id] == PG_KVB_FREE && !k->hashed[id]);
    }
    k->state[id] = PG_KVB_ACTIVE;
    k->refcnt[id] = 1;
    k->n_active++;
    return id;
}

void pg_kvb_ref(pg_kvb *k, int32_t id) {
    PG_ASSERT(id >= 0 && id < k->n_blocks);
    if (k->state[id] == PG_KVB_ACTIVE) {
        PG_ASSERT(k->refcnt[id] >= 1 && k->refcnt[id] < INT32_MAX);
        k->refcnt[id]++;
        return;
    }
    PG_ASSERT(k->state[id] == PG_KVB_CACHED); /* ref of a FREE block is a bug */
    lru_remove(k, id);
    k->state[id] = PG_KVB_ACTIVE;
    k->refcnt[id] = 1;
    k->n_active++;
}

void pg_kvb_unref(pg_kvb *k, int32_t id) {
    PG_ASSERT(id >= 0 && id < k->n_blocks);
    PG_ASSERT(k->state[id] == PG_KVB_ACTIVE && k->refcnt[id] >= 1); /* double free */
    if (--k->refcnt[id] > 0) return;
    k->n_active--;
    if (k->hashed[id]) {
        k->state[id] = PG_KVB_CACHED;
        lru_push_tail(k, id);
    } else {
        k->state[id] = PG_KVB_FREE;
        free_push(k, id);
    }
}

/* ---- prefix cache ---- */

static int same_contents(const pg_kvb *k, int32_t id, uint64_t parent, uint64_t salt,
                         const int32_t *tokens) {
    return k->parent[id] == parent && k->salt[id] == salt &&
           memcmp(k->tokens + (size_t)id * (size_t)k->block_size, tokens,
                  (size_t)k->block_size * sizeof *tokens) == 0;
}

int pg_kvb_commit(pg_kvb *k, int32_t id, uint64_t hash, uint64_t parent, uint64_t salt,
                  const int32_t *tokens) {
    PG_ASSERT(id >= 0 && id < k->n_blocks);
    PG_ASSERT(k->state[id] == PG_KVB_ACTIVE && !k->hashed[id]);
    int found;
    uint64_t slot = map_find(k, hash, &found);
    if (found) {
        if (same_contents(k, k->map[slot], parent, salt, tokens)) return PG_KVB_COMMIT_DUP;
        k->st.collisions++;
        return PG_KVB_COMMIT_COLLISION;
    }
    k->map[slot] = id;
    k->hashed[id] = 1;
    k->hash[id] = hash;
    k->parent[id] = parent;
    k->salt[id] = salt;
    memcpy(k->tokens + (size_t)id * (size_t)k->block_size, tokens,
           (size_t)k->block_size * sizeof *tokens);
    k->n_hashed++;
    k->st.commits++;
    return PG_KVB_COMMIT_NEW;
}

int32_t pg_kvb_lookup(pg_kvb *k, uint64_t hash, uint64_t parent, uint64_t salt,
                      const int32_t *tokens) {
    k->st.lookups++;
    int found;
    uint64_t slot = map_find(k, hash, &found);
    if (!found) return -1;
    int32_t id = k->map[slot];
    if (!same_contents(k, id, parent, salt, tokens)) {
        k->st.collisions++;
        return -1;
    }
    return id;
}

int32_t pg_kvb_match_prefix(pg_kvb *k, const int32_t *tokens, int64_t n_tokens, uint64_t salt,
                            int32_t *ids, uint64_t *hashes, int32_t max_blocks) {
    k->st.queries++;
    if (n_tokens <= 0 || max_blocks <= 0) return 0;
    k->st.query_tokens += (uint64_t)n_tokens;
    int64_t nb = n_tokens / k->block_size;
    if (nb > max_blocks) nb = max_blocks;
    k->st.query_blocks += (uint64_t)nb;
    uint64_t parent = PG_KVB_ROOT;
    int32_t i = 0;
    for (; i < nb; i++) {
        const int32_t *t = tokens + (size_t)i * (size_t)k->block_size;
        uint64_t h = pg_kvb_hash(parent, t, k->block_size, salt);
        int32_t id = pg_kvb_lookup(k, h, parent, salt, t);
        if (id < 0) break;
        ids[i] = id;
        if (hashes) hashes[i] = h;
        parent = h;
    }
    k->st.hit_blocks += (uint64_t)i;
    k->st.hit_tokens += (uint64_t)i * (uint64_t)k->block_size;
    return i;
}

/* ---- queries ---- */

int32_t pg_kvb_n_free(const pg_kvb *k) { return k->n_free_list + k->n_lru; }
int32_t pg_kvb_n_active(const pg_kvb *k) { return k->n_active; }
int32_t pg_kvb_n_cached(const pg_kvb *k) { return k->n_lru; }
int pg_kvb_state(const pg_kvb *k, int32_t id) {
    PG_ASSERT(id >= 0 && id < k->n_blocks);
    return k->state[id];
}
int32_t pg_kvb_refcount(const pg_kvb *k, int32_t id) {
    PG_ASSERT(id >= 0 && id < k->n_blocks);
    return k->refcnt[id];
}
int pg_kvb_is_hashed(const pg_kvb *k, int32_t id) {
    PG_ASSERT(id >= 0 && id < k->n_blocks);
    return k->hashed[id];
}
pg_kvb_stats pg_kvb_get_stats(const pg_kvb *k) { return k->st; }

void pg_kvb_set_evict_hook(pg_kvb *k, pg_kvb_evict_fn fn, void *ud) {
    k->evict_fn = fn;
    k->evict_ud = ud;
}

int pg_kvb_block_identity(const pg_kvb *k, int32_t id, uint64_t *hash, uint64_t *parent, uint64_t *salt,
                          const int32_t **tokens) {
    PG_ASSERT(id >= 0 && id < k->n_blocks);
    if (!k->hashed[id]) return -1;
    *hash = k->hash[id];
    *parent = k->parent[id];
    *salt = k->salt[id];
    *tokens = k->tokens + (size_t)id * (size_t)k->block_size;
    return 0;
}

int32_t pg_kvb_lru_next(const pg_kvb *k, int32_t id) {
    if (id < 0) return k->lru_head;
    PG_ASSERT(id < k->n_blocks && k->state[id] == PG_KVB_CACHED);
    return k->next[id];
}

/* ---- invariant check ---- */

#define FAIL(...)                                                                \
    do {                                                                         \
        if (msg && cap) snprintf(msg, cap, __VA_ARGS__);                         \
        free(seen);                                                              \
        return -1;                                                               \
    } while (0)

int pg_kvb_check(const pg_kvb *k, char *msg, size_t cap) {
    const int32_t N = k->n_blocks;
    uint8_t *seen = calloc((size_t)N, 1); /* 1 = on free list, 2 = on LRU */
    if (!seen) {
        if (msg && cap) snprintf(msg, cap, "check: out of memory");
        return -1;
    }
    if (msg && cap) msg[0] = 0;
    /* free list: acyclic, consistent back links, only FREE blocks */
    int32_t cnt = 0, prev = -1;
    for (int32_t id = k->free_head; id >= 0; id = k->next[id]) {
        if (id >= N) FAIL("free list: bad id %d", id);
        if (seen[id]) FAIL("free list: cycle or shared node at block %d", id);
        seen[id] = 1;
        if (k->prev[id] != prev) FAIL("free list: bad prev link at block %d", id);
        if (k->state[id] != PG_KVB_FREE) FAIL("free list: block %d is not FREE", id);
        prev = id;
        if (++cnt > N) FAIL("free list: too long");
    }
    if (cnt != k->n_free_list) FAIL("free list: %d nodes, counter says %d", cnt, k->n_free_list);
    /* LRU list */
    cnt = 0;
    prev = -1;
    for (int32_t id = k->lru_head; id >= 0; id = k->next[id]) {
        if (id >= N) FAIL("lru: bad id %d", id);
        if (seen[id]) FAIL("lru: cycle or block %d also on another list", id);
        seen[id] = 2;
        if (k->prev[id] != prev) FAIL("lru: bad prev link at block %d", id);
        if (k->state[id] != PG_KVB_CACHED) FAIL("lru: block %d is not CACHED", id);
        prev = id;
        if (++cnt > N) FAIL("lru: too long");
    }
    if (prev != k->lru_tail) FAIL("lru: tail is %d, last node %d", k->lru_tail, prev);
    if (cnt != k->n_lru) FAIL("lru: %d nodes, counter says %d", cnt, k->n_lru);
    /* per-block state */
    int32_t n_free = 0, n_act = 0, n_cached = 0, n_hashed = 0;
    for (int32_t id = 0; id < N; id++) {
        int s = k->state[id];
        if (k->refcnt[id] < 0) FAIL("block %d: negative refcount", id);
        n_hashed += k->hashed[id] != 0;
        switch (s) {
        case PG_KVB_FREE:
            n_free++;
            if (seen[id] != 1) FAIL("block %d: FREE but not on the free list", id);
            if (k->refcnt[id] != 0 || k->hashed[id]) FAIL("block %d: FREE with refs or hash", id);
            break;
        case PG_KVB_ACTIVE:
            n_act++;
            if (seen[id]) FAIL("block %d: ACTIVE but on a list", id);
            if (k->refcnt[id] < 1) FAIL("block %d: ACTIVE with refcount %d", id, k->refcnt[id]);
            break;
        case PG_KVB_CACHED:
            n_cached++;
            if (seen[id] != 2) FAIL("block %d: CACHED but not on the LRU list", id);
            if (k->refcnt[id] != 0 || !k->hashed[id]) FAIL("block %d: CACHED with refs or no hash", id);
            break;
        default: FAIL("block %d: bad state %d", id, s);
        }
        if (k->hashed[id]) {
            int found;
            uint64_t slot = map_find(k, k->hash[id], &found);
            if (!found || k->map[slot] != id) FAIL("block %d: hashed but not reachable in the map", id);
        }
    }
    if (n_free + n_act + n_cached != N) FAIL("states add up to %d, not %d", n_free + n_act + n_cached, N);
    if (n_act != k->n_active) FAIL("active counter %d, actual %d", k->n_active, n_act);
    if (n_hashed != k->n_hashed) FAIL("hashed counter %d, actual %d", k->n_hashed, n_hashed);
    /* map: every entry is a hashed block, reachable from its home slot */
    int32_t n_entries = 0;
    for (uint64_t s = 0; s <= k->map_mask; s++) {
        int32_t id = k->map[s];
        if (id < 0) continue;
        if (id >= N) FAIL("map slot %llu: bad id %d", (unsigned long long)s, id);
        if (!k->hashed[id]) FAIL("map slot %llu: block %d is not hashed", (unsigned long long)s, id);
        for (uint64_t j = home(k, k->hash[id]); j != s; j = (j + 1) & k->map_mask)
            if (k->map[j] < 0) FAIL("map slot %llu: probe chain broken", (unsigned long long)s);
        n_entries++;
    }
    if (n_entries != n_hashed) FAIL("map has %d entries, %d blocks hashed", n_entries, n_hashed);
    free(seen);
    return 0;
}
