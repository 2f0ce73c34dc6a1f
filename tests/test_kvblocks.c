/* test_kvblocks.c - KV block manager: state machine, prefix sharing, LRU
 * eviction, forced hash collisions, salts, aborts on double free (forked
 * child), and a random submit/grow/finish/cancel simulation with the
 * invariant checker after every step and a shadow copy of block contents
 * that proves every prefix hit serves the right tokens. */
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "engine/kvblocks.h"
#include "test.h"

static void check_ok(const pg_kvb *k) {
    char msg[256];
    int rc = pg_kvb_check(k, msg, sizeof msg);
    CHECKF(rc == 0, "invariant: %s", msg);
    if (rc) exit(1);
}

/* Runs fn in a child; true if the child died of SIGABRT. */
static int aborts(void (*fn)(void)) {
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        if (!freopen("/dev/null", "w", stderr)) _exit(3);
        fn();
        _exit(0);
    }
    int st = 0;
    if (waitpid(pid, &st, 0) != pid) return 0;
    return WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT;
}

static void double_unref(void) {
    pg_kvb *k = pg_kvb_create(4, 2);
    int32_t b = pg_kvb_alloc(k);
    pg_kvb_unref(k, b);
    pg_kvb_unref(k, b); /* FREE: must abort */
}
static void ref_free(void) {
    pg_kvb *k = pg_kvb_create(4, 2);
    pg_kvb_ref(k, 2);
}
static void unref_cached(void) {
    pg_kvb *k = pg_kvb_create(4, 2);
    int32_t t[2] = {1, 2};
    int32_t b = pg_kvb_alloc(k);
    pg_kvb_commit(k, b, pg_kvb_hash(PG_KVB_ROOT, t, 2, 0), PG_KVB_ROOT, 0, t);
    pg_kvb_unref(k, b);
    pg_kvb_unref(k, b); /* CACHED: must abort */
}
static void no_abort(void) {
    pg_kvb *k = pg_kvb_create(4, 2);
    pg_kvb_unref(k, pg_kvb_alloc(k));
    pg_kvb_destroy(k);
}

static void test_basic(void) {
    CHECK(pg_kvb_create(0, 16) == NULL);
    CHECK(pg_kvb_create(16, 0) == NULL);
    CHECK(pg_kvb_create(-3, 16) == NULL);
    pg_kvb *k = pg_kvb_create(4, 2);
    REQUIRE(k);
    check_ok(k);
    CHECK(pg_kvb_n_free(k) == 4 && pg_kvb_n_active(k) == 0);
    int32_t ids[4];
    for (int i = 0; i < 4; i++) {
        ids[i] = pg_kvb_alloc(k);
        CHECK(ids[i] >= 0 && pg_kvb_state(k, ids[i]) == PG_KVB_ACTIVE && pg_kvb_refcount(k, ids[i]) == 1);
        check_ok(k);
    }
    CHECK(pg_kvb_alloc(k) == -1);
    CHECK(pg_kvb_n_free(k) == 0 && pg_kvb_n_active(k) == 4);
    pg_kvb_ref(k, ids[1]);
    CHECK(pg_kvb_refcount(k, ids[1]) == 2);
    pg_kvb_unref(k, ids[1]);
    CHECK(pg_kvb_state(k, ids[1]) == PG_KVB_ACTIVE);
    for (int i = 0; i < 4; i++) pg_kvb_unref(k, ids[i]);
    check_ok(k);
    for (int i = 0; i < 4; i++) CHECK(pg_kvb_state(k, ids[i]) == PG_KVB_FREE);
    CHECK(pg_kvb_n_free(k) == 4);
    pg_kvb_destroy(k);
    CHECK(aborts(double_unref));
    CHECK(aborts(ref_free));
    CHECK(aborts(unref_cached));
    CHECK(!aborts(no_abort));
}

static void test_hash(void) {
    int32_t t[5] = {1, 2, 3, 4, 5}, u[5] = {1, 2, 3, 4, 6};
    uint64_t h = pg_kvb_hash(7, t, 5, 9);
    CHECK(h == pg_kvb_hash(7, t, 5, 9));
    CHECK(h != pg_kvb_hash(7, u, 5, 9));
    CHECK(h != pg_kvb_hash(8, t, 5, 9));
    CHECK(h != pg_kvb_hash(7, t, 5, 10));
    CHECK(h != pg_kvb_hash(7, t, 4, 9));
    int32_t a[2] = {0, 1}, b[2] = {1, 0};
    CHECK(pg_kvb_hash(0, a, 2, 0) != pg_kvb_hash(0, b, 2, 0));
    /* avalanche: flipping one bit of one token changes ~half the bits */
    int total = 0;
    for (int bit = 0; bit < 32; bit++) {
        int32_t v[5];
        memcpy(v, t, sizeof v);
        v[2] ^= (int32_t)(1u << bit);
        total += __builtin_popcountll(h ^ pg_kvb_hash(7, v, 5, 9));
    }
    CHECK(total > 32 * 24 && total < 32 * 40);
}

static void test_prefix_sharing(void) {
    enum { BS = 4 };
    pg_kvb *k = pg_kvb_create(16, BS);
    int32_t prompt[10] = {5, 6, 7, 8, 9, 10, 11, 12, 13, 14};
    int32_t ids[4];
    uint64_t hs[4];
    /* sequence A computes everything */
    CHECK(pg_kvb_match_prefix(k, prompt, 9, 1, ids, hs, 4) == 0);
    int32_t a[3];
    uint64_t parent = PG_KVB_ROOT;
    for (int i = 0; i < 3; i++) a[i] = pg_kvb_alloc(k);
    for (int i = 0; i < 2; i++) {
        uint64_t h = pg_kvb_hash(parent, prompt + i * BS, BS, 1);
        CHECK(pg_kvb_commit(k, a[i], h, parent, 1, prompt + i * BS) == PG_KVB_COMMIT_NEW);
        parent = h;
    }
    check_ok(k);
    /* B shares the two full blocks */
    int32_t n = pg_kvb_match_prefix(k, prompt, 9, 1, ids, hs, 4);
    CHECK(n == 2 && ids[0] == a[0] && ids[1] == a[1] && hs[1] == parent);
    for (int i = 0; i < n; i++) pg_kvb_ref(k, ids[i]);
    CHECK(pg_kvb_refcount(k, a[0]) == 2 && pg_kvb_refcount(k, a[1]) == 2);
    pg_kvb_stats st = pg_kvb_get_stats(k);
    CHECK(st.hit_blocks == 2 && st.hit_tokens == 8 && st.queries == 2 && st.query_blocks == 4);
    /* max_blocks and partial blocks limit the walk */
    CHECK(pg_kvb_match_prefix(k, prompt, 9, 1, ids, NULL, 1) == 1);
    CHECK(pg_kvb_match_prefix(k, prompt, 7, 1, ids, NULL, 4) == 1);
    /* a different salt never shares */
    CHECK(pg_kvb_match_prefix(k, prompt, 9, 2, ids, hs, 4) == 0);
    /* a different first token breaks the chain at block 0 */
    int32_t other[10];
    memcpy(other, prompt, sizeof other);
    other[0] = 99;
    CHECK(pg_kvb_match_prefix(k, other, 9, 1, ids, hs, 4) == 0);
    /* A finishes (last block first), B still holds */
    for (int i = 2; i >= 0; i--) pg_kvb_unref(k, a[i]);
    check_ok(k);
    CHECK(pg_kvb_state(k, a[0]) == PG_KVB_ACTIVE && pg_kvb_refcount(k, a[0]) == 1);
    CHECK(pg_kvb_state(k, a[2]) == PG_KVB_FREE);
    pg_kvb_unref(k, a[1]);
    pg_kvb_unref(k, a[0]);
    CHECK(pg_kvb_state(k, a[0]) == PG_KVB_CACHED && pg_kvb_state(k, a[1]) == PG_KVB_CACHED);
    CHECK(pg_kvb_n_free(k) == 16 && pg_kvb_n_cached(k) == 2);
    check_ok(k);
    /* C revives the cached blocks */
    n = pg_kvb_match_prefix(k, prompt, 9, 1, ids, hs, 4);
    CHECK(n == 2);
    for (int i = 0; i < n; i++) pg_kvb_ref(k, ids[i]);
    CHECK(pg_kvb_state(k, a[0]) == PG_KVB_ACTIVE && pg_kvb_n_cached(k) == 0);
    check_ok(k);
    pg_kvb_destroy(k);
}

static void test_lru(void) {
    enum { BS = 2 };
    pg_kvb *k = pg_kvb_create(4, BS);
    int32_t b[4], tok[4][BS];
    uint64_t h[4];
    for (int i = 0; i < 4; i++) {
        b[i] = pg_kvb_alloc(k);
        tok[i][0] = 100 + i;
        tok[i][1] = 200 + i;
        h[i] = pg_kvb_hash(PG_KVB_ROOT, tok[i], BS, 0);
        CHECK(pg_kvb_commit(k, b[i], h[i], PG_KVB_ROOT, 0, tok[i]) == PG_KVB_COMMIT_NEW);
    }
    for (int i = 0; i < 4; i++) pg_kvb_unref(k, b[i]); /* LRU: b0 b1 b2 b3 */
    pg_kvb_ref(k, b[1]);                               /* revive b1 */
    pg_kvb_unref(k, b[1]);                             /* LRU: b0 b2 b3 b1 */
    check_ok(k);
    const int order[4] = {0, 2, 3, 1};
    for (int i = 0; i < 4; i++) {
        int32_t got = pg_kvb_alloc(k);
        CHECKF(got == b[order[i]], "eviction %d: got %d want %d", i, got, b[order[i]]);
        CHECK(pg_kvb_lookup(k, h[order[i]], PG_KVB_ROOT, 0, tok[order[i]]) == -1);
        CHECK(!pg_kvb_is_hashed(k, got));
        check_ok(k);
    }
    CHECK(pg_kvb_get_stats(k).evictions == 4);
    CHECK(pg_kvb_alloc(k) == -1);
    /* free list is used before any cached block is evicted */
    for (int i = 0; i < 4; i++) pg_kvb_unref(k, b[i]);
    int32_t c = pg_kvb_alloc(k);
    CHECK(pg_kvb_commit(k, c, h[0], PG_KVB_ROOT, 0, tok[0]) == PG_KVB_COMMIT_NEW);
    pg_kvb_unref(k, c);
    for (int i = 0; i < 3; i++) CHECK(pg_kvb_alloc(k) != c);
    CHECK(pg_kvb_lookup(k, h[0], PG_KVB_ROOT, 0, tok[0]) == c);
    CHECK(pg_kvb_alloc(k) == c);
    CHECK(pg_kvb_get_stats(k).evictions == 5);
    check_ok(k);
    pg_kvb_destroy(k);
}

/* The eviction hook (disk prefix cache) sees each evicted block's identity
 * before it is dropped; lru_next walks least to most recent; identity of
 * unhashed blocks is refused. */
typedef struct {
    int n;
    int32_t id[8];
    uint64_t hash[8], parent[8], salt[8];
    int32_t tok0[8];
} evict_log;
static void on_evict(void *ud, int32_t id, uint64_t hash, uint64_t parent, uint64_t salt, const int32_t *tokens) {
    evict_log *l = ud;
    if (l->n >= 8) return;
    l->id[l->n] = id;
    l->hash[l->n] = hash;
    l->parent[l->n] = parent;
    l->salt[l->n] = salt;
    l->tok0[l->n] = tokens[0];
    l->n++;
}
static void test_evict_hook(void) {
    enum { BS = 2 };
    pg_kvb *k = pg_kvb_create(3, BS);
    evict_log log;
    memset(&log, 0, sizeof log);
    pg_kvb_set_evict_hook(k, on_evict, &log);
    int32_t b[3], tok[3][BS];
    uint64_t h[3], parent = PG_KVB_ROOT;
    for (int i = 0; i < 3; i++) {
        b[i] = pg_kvb_alloc(k);
        tok[i][0] = 10 + i;
        tok[i][1] = 20 + i;
        h[i] = pg_kvb_hash(parent, tok[i], BS, 9);
        CHECK(pg_kvb_commit(k, b[i], h[i], parent, 9, tok[i]) == PG_KVB_COMMIT_NEW);
        parent = h[i];
    }
    uint64_t hh, pp, ss;
    const int32_t *tt;
    CHECK(pg_kvb_block_identity(k, b[1], &hh, &pp, &ss, &tt) == 0 && hh == h[1] && pp == h[0] && ss == 9 &&
          tt[0] == 11);
    for (int i = 2; i >= 0; i--) pg_kvb_unref(k, b[i]); /* LRU: b2 b1 b0 */
    int32_t walk[3], n = 0;
    for (int32_t id = pg_kvb_lru_next(k, -1); id >= 0 && n < 4; id = pg_kvb_lru_next(k, id)) walk[n++] = id;
    CHECK(n == 3 && walk[0] == b[2] && walk[1] == b[1] && walk[2] == b[0]);
    CHECK(log.n == 0);
    int32_t x = pg_kvb_alloc(k); /* evicts b2 */
    CHECK(x == b[2] && log.n == 1 && log.id[0] == b[2] && log.hash[0] == h[2] && log.parent[0] == h[1] &&
          log.salt[0] == 9 && log.tok0[0] == 12);
    CHECK(pg_kvb_block_identity(k, x, &hh, &pp, &ss, &tt) == -1);
    pg_kvb_set_evict_hook(k, NULL, NULL);
    pg_kvb_alloc(k);
    CHECK(log.n == 1);
    check_ok(k);
    pg_kvb_destroy(k);
}

static void test_collision(void) {
    enum { BS = 3 };
    pg_kvb *k = pg_kvb_create(8, BS);
    int32_t t1[BS] = {1, 2, 3}, t2[BS] = {1, 2, 4};
    const uint64_t H = 0xdeadbeefULL; /* forced: the same key for different contents */
    int32_t x = pg_kvb_alloc(k), y = pg_kvb_alloc(k), z = pg_kvb_alloc(k);
    CHECK(pg_kvb_commit(k, x, H, 11, 5, t1) == PG_KVB_COMMIT_NEW);
    CHECK(pg_kvb_lookup(k, H, 11, 5, t1) == x);
    CHECK(pg_kvb_lookup(k, H, 11, 5, t2) == -1); /* other tokens */
    CHECK(pg_kvb_lookup(k, H, 12, 5, t1) == -1); /* other parent */
    CHECK(pg_kvb_lookup(k, H, 11, 6, t1) == -1); /* other salt */
    CHECK(pg_kvb_commit(k, y, H, 11, 5, t2) == PG_KVB_COMMIT_COLLISION);
    CHECK(!pg_kvb_is_hashed(k, y));
    CHECK(pg_kvb_lookup(k, H, 11, 5, t2) == -1);
    CHECK(pg_kvb_commit(k, z, H, 11, 5, t1) == PG_KVB_COMMIT_DUP);
    CHECK(!pg_kvb_is_hashed(k, z));
    CHECK(pg_kvb_get_stats(k).collisions >= 4);
    /* many keys colliding in the same probe chain, then removal by eviction */
    pg_kvb_unref(k, y);
    pg_kvb_unref(k, z);
    check_ok(k);
    pg_kvb_destroy(k);

    pg_kvb *m = pg_kvb_create(32, 1);
    int32_t ids[32];
    for (int i = 0; i < 32; i++) {
        ids[i] = pg_kvb_alloc(m);
        int32_t t = i;
        /* keys chosen to share home slots: multiples of 2^60 */
        CHECK(pg_kvb_commit(m, ids[i], (uint64_t)(i % 4) << 60 | (uint64_t)i, 0, 0, &t) ==
              PG_KVB_COMMIT_NEW);
    }
    check_ok(m);
    for (int i = 0; i < 32; i += 3) pg_kvb_unref(m, ids[i]);
    for (int i = 0; i < 32; i += 3) {
        int32_t got = pg_kvb_alloc(m); /* evicts, removing keys from the middle of chains */
        CHECK(got >= 0);
        check_ok(m);
    }
    for (int i = 0; i < 32; i++) {
        int32_t t = i;
        int32_t want = i % 3 == 0 ? -1 : ids[i];
        CHECK(pg_kvb_lookup(m, (uint64_t)(i % 4) << 60 | (uint64_t)i, 0, 0, &t) == want);
    }
    pg_kvb_destroy(m);
}

/* ---- random simulation ---- */

enum { SIM_BS = 4, SIM_BLOCKS = 48, MAX_SEQ = 12, MAX_TOK = 96, MAX_BLK = MAX_TOK / SIM_BS };

typedef struct {
    int live;
    uint64_t salt;
    int32_t tok[MAX_TOK];
    int n_tok;
    int32_t blk[MAX_BLK];
    int n_blk;
    uint64_t hash[MAX_BLK]; /* chain hash of each full block */
    int chain_ok;            /* no collision seen: keep committing */
} sim_seq;

static uint64_t srs;
static uint32_t srnd(void) {
    srs ^= srs << 13;
    srs ^= srs >> 7;
    srs ^= srs << 17;
    return (uint32_t)(srs >> 17);
}

static int32_t shadow_tok[SIM_BLOCKS][SIM_BS]; /* what "KV" a block holds */
static uint64_t shadow_pfx[SIM_BLOCKS];        /* independent digest of the whole prefix */

static uint64_t fnv_prefix(const int32_t *t, int n, uint64_t salt) {
    uint64_t h = 1469598103934665603ULL ^ salt;
    for (int i = 0; i < n; i++) {
        h ^= (uint32_t)t[i];
        h *= 1099511628211ULL;
    }
    return h;
}

static void release(pg_kvb *k, sim_seq *s) {
    for (int i = s->n_blk - 1; i >= 0; i--) pg_kvb_unref(k, s->blk[i]);
    s->live = 0;
    s->n_blk = 0;
}

/* Token at position pos was just written; commit the block if now full. */
static void after_write(pg_kvb *k, sim_seq *s, int pos, uint64_t *commits_dup) {
    int bi = pos / SIM_BS;
    shadow_tok[s->blk[bi]][pos % SIM_BS] = s->tok[pos];
    if ((pos + 1) % SIM_BS) return;
    shadow_pfx[s->blk[bi]] = fnv_prefix(s->tok, pos + 1, s->salt);
    uint64_t parent = bi ? s->hash[bi - 1] : PG_KVB_ROOT;
    const int32_t *t = s->tok + bi * SIM_BS;
    s->hash[bi] = pg_kvb_hash(parent, t, SIM_BS, s->salt);
    if (!s->chain_ok) return;
    int rc = pg_kvb_commit(k, s->blk[bi], s->hash[bi], parent, s->salt, t);
    if (rc == PG_KVB_COMMIT_DUP) (*commits_dup)++;
    if (rc == PG_KVB_COMMIT_COLLISION) s->chain_ok = 0;
}

/* Append one token; 0 if out of blocks (caller preempts). */
static int append(pg_kvb *k, sim_seq *s, int32_t tok, uint64_t *dups) {
    int pos = s->n_tok;
    if (pos % SIM_BS == 0) {
        int32_t b = pg_kvb_alloc(k);
        if (b < 0) return 0;
        s->blk[s->n_blk++] = b;
    }
    s->tok[pos] = tok;
    s->n_tok++;
    after_write(k, s, pos, dups);
    return 1;
}

static void sim_run(uint64_t seed, int steps) {
    srs = seed;
    pg_kvb *k = pg_kvb_create(SIM_BLOCKS, SIM_BS);
    REQUIRE(k);
    static int32_t docs[4][MAX_TOK];
    for (int d = 0; d < 4; d++)
        for (int i = 0; i < MAX_TOK; i++) docs[d][i] = (int32_t)(srnd() % 50);
    sim_seq seqs[MAX_SEQ];
    memset(seqs, 0, sizeof seqs);
    uint64_t dups = 0, preempt = 0, finished = 0, shared_seen = 0, verified_hits = 0;
    int bad_hits = 0;
    for (int step = 0; step < steps; step++) {
        int act = (int)(srnd() % 100);
        int si = (int)(srnd() % MAX_SEQ);
        sim_seq *s = &seqs[si];
        if (act < 30 && !s->live) {
            /* submit: prompt = shared document prefix + random suffix */
            memset(s, 0, sizeof *s);
            s->live = 1;
            s->chain_ok = 1;
            s->salt = 1 + srnd() % 2;
            int d = (int)(srnd() % 4), pre = (int)(srnd() % 40), suf = (int)(srnd() % 12);
            int n = pre + suf + 1;
            int32_t prompt[MAX_TOK];
            for (int i = 0; i < pre; i++) prompt[i] = docs[d][i];
            for (int i = pre; i < n; i++) prompt[i] = (int32_t)(srnd() % 50);
            int32_t ids[MAX_BLK];
            uint64_t hs[MAX_BLK];
            int hit = pg_kvb_match_prefix(k, prompt, n - 1, s->salt, ids, hs, MAX_BLK);
            for (int i = 0; i < hit; i++) {
                /* the hit must hold exactly our tokens and our whole prefix */
                if (memcmp(shadow_tok[ids[i]], prompt + i * SIM_BS, sizeof shadow_tok[0]) ||
                    shadow_pfx[ids[i]] != fnv_prefix(prompt, (i + 1) * SIM_BS, s->salt))
                    bad_hits++;
                verified_hits++;
                pg_kvb_ref(k, ids[i]);
                if (pg_kvb_refcount(k, ids[i]) >= 2) shared_seen++;
                s->blk[s->n_blk++] = ids[i];
                s->hash[i] = hs[i];
            }
            memcpy(s->tok, prompt, (size_t)hit * SIM_BS * sizeof *prompt);
            s->n_tok = hit * SIM_BS;
            for (int i = hit * SIM_BS; i < n; i++) {
                if (!append(k, s, prompt[i], &dups)) {
                    release(k, s);
                    preempt++;
                    break;
                }
            }
        } else if (act < 75 && s->live) {
            int g = 1 + (int)(srnd() % 6);
            for (int i = 0; i < g && s->live; i++) {
                if (s->n_tok == MAX_TOK) {
                    release(k, s);
                    finished++;
                } else if (!append(k, s, (int32_t)(srnd() % 50), &dups)) {
                    release(k, s);
                    preempt++;
                }
            }
        } else if (act >= 75 && s->live) {
            release(k, s); /* finish or cancel */
            finished++;
        }
        check_ok(k);
        /* refcounts equal the number of holders */
        int holders[SIM_BLOCKS] = {0}, distinct = 0;
        for (int q = 0; q < MAX_SEQ; q++)
            if (seqs[q].live)
                for (int i = 0; i < seqs[q].n_blk; i++) holders[seqs[q].blk[i]]++;
        int ref_mismatch = 0;
        for (int b = 0; b < SIM_BLOCKS; b++) {
            distinct += holders[b] > 0;
            if (holders[b] != pg_kvb_refcount(k, b)) ref_mismatch++;
        }
        CHECK(ref_mismatch == 0);
        CHECK(distinct == pg_kvb_n_active(k));
        CHECK(pg_kvb_n_free(k) + pg_kvb_n_active(k) == SIM_BLOCKS);
    }
    for (int q = 0; q < MAX_SEQ; q++)
        if (seqs[q].live) release(k, &seqs[q]);
    check_ok(k);
    CHECK(pg_kvb_n_free(k) == SIM_BLOCKS && pg_kvb_n_active(k) == 0);
    for (int b = 0; b < SIM_BLOCKS; b++) {
        int st = pg_kvb_state(k, b);
        CHECK(st == PG_KVB_FREE || st == PG_KVB_CACHED);
    }
    pg_kvb_stats st = pg_kvb_get_stats(k);
    CHECK(bad_hits == 0);
    CHECK(st.hit_blocks == verified_hits && st.hit_blocks > 100);
    CHECK(shared_seen > 10);
    CHECK(st.evictions > 10);
    CHECK(preempt > 0 && finished > 100);
    fprintf(stderr,
            "sim seed %llu: %llu hit blocks (%llu shared), %llu evictions, %llu dups, %llu "
            "preemptions, %llu finished\n",
            (unsigned long long)seed, (unsigned long long)st.hit_blocks,
            (unsigned long long)shared_seen, (unsigned long long)st.evictions,
            (unsigned long long)dups, (unsigned long long)preempt, (unsigned long long)finished);
    pg_kvb_destroy(k);
}

int main(void) {
    test_basic();
    test_hash();
    test_prefix_sharing();
    test_lru();
    test_collision();
    test_evict_hook();
    sim_run(1, 6000);
    sim_run(0xabcdef, 6000);
    sim_run(424242, 6000);
    return t_done("test_kvblocks");
}
