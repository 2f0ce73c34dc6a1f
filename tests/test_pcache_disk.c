/* test_pcache_disk.c - the prefix cache on disk (engine/pcache_disk.h):
 * the store alone (round trip, queued and synchronous writes, reopen, the
 * salt key, corrupted / truncated / foreign / bad-version files removed,
 * stale temp files, the LRU size bound also across a reopen, the directory
 * lock, a full queue) and, with stories260K, through the engine: a request
 * after the engine was destroyed and re-created (a restart) and after its
 * blocks were evicted from a small KV pool hits the disk, reports its
 * cached tokens and gives exactly the output of a cold run; another
 * tenant's salt does not hit; a corrupted file costs a recompute, not a
 * wrong answer. */
#include "test.h"

#include "engine/engine.h"
#include "engine/kvblocks.h"
#include "engine/pcache_disk.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sys/stat.h>
#include <unistd.h>

#define BS 4
#define PAY 256
#define FILE_BYTES (128 + 4 * BS + PAY)

static char g_tmp[256];

static void rm_rf(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *de;
    char p[1024];
    while ((de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
        snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
        struct stat sb;
        if (lstat(p, &sb) == 0 && S_ISDIR(sb.st_mode)) rm_rf(p);
        else unlink(p);
    }
    closedir(d);
    rmdir(dir);
}

static int count_files(const char *dir, const char *suffix) {
    DIR *d = opendir(dir);
    if (!d) return -1;
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        size_t l = strlen(de->d_name), sl = strlen(suffix);
        if (l >= sl && !strcmp(de->d_name + l - sl, suffix)) n++;
    }
    closedir(d);
    return n;
}

static pg_pcd_geom geom(uint64_t model) {
    pg_pcd_geom g;
    memset(&g, 0, sizeof g);
    g.model_id[0] = model;
    g.model_id[1] = ~model;
    g.kv_type = PG_KV_F16;
    g.block_size = BS;
    g.n_layer = 2;
    g.n_head_kv = 2;
    g.head_dim = 8;
    g.compute_level = 1;
    g.payload_bytes = PAY;
    return g;
}

static void check_store(pg_pcd *d) {
    char msg[256];
    int rc = pg_pcd_check(d, msg, sizeof msg);
    CHECKF(rc == 0, "store invariant: %s", msg);
}

static pg_pcd *open_store(const char *dir, uint64_t max_bytes, const pg_pcd_geom *g, int32_t slots) {
    pg_pcd *d = NULL;
    pg_error err = {0};
    int rc = pg_pcd_open(dir, max_bytes, g, slots, &d, &err);
    if (rc < 0) fprintf(stderr, "pg_pcd_open: %s\n", err.msg);
    REQUIRE(rc == 0 && d);
    check_store(d);
    return d;
}

/* block i of a chain: tokens, payload, hash (parent = block i-1's) */
typedef struct {
    int32_t tok[BS];
    uint8_t pay[PAY];
    uint64_t hash, parent, salt;
} blk;

static void mk_chain(blk *b, int n, uint64_t salt, uint32_t seed) {
    uint64_t parent = PG_KVB_ROOT;
    for (int i = 0; i < n; i++) {
        for (int j = 0; j < BS; j++) b[i].tok[j] = (int32_t)(seed * 131 + (uint32_t)i * 7 + (uint32_t)j);
        for (int j = 0; j < PAY; j++) b[i].pay[j] = (uint8_t)(seed * 17 + (uint32_t)i * 31 + (uint32_t)j * 3);
        b[i].parent = parent;
        b[i].salt = salt;
        b[i].hash = pg_kvb_hash(parent, b[i].tok, BS, salt);
        parent = b[i].hash;
    }
}

static void path_of(char *out, size_t n, const char *dir, const blk *b) {
    snprintf(out, n, "%s/%016" PRIx64 "-%016" PRIx64 ".kvb", dir, b->hash, b->salt);
}

static int exists(const char *p) {
    struct stat sb;
    return stat(p, &sb) == 0;
}

static void put_async(pg_pcd *d, const blk *b) {
    void *p = pg_pcd_put_begin(d, b->hash, b->parent, b->salt, b->tok);
    REQUIRE(p != NULL);
    memcpy(p, b->pay, PAY);
    pg_pcd_put_commit(d, p);
}

static int load_ok(pg_pcd *d, const blk *b) {
    uint8_t buf[PAY];
    int rc = pg_pcd_load(d, b->hash, b->parent, b->salt, b->tok, buf);
    return rc == 0 && memcmp(buf, b->pay, PAY) == 0;
}

/* patch bytes of a file at an offset */
static void patch(const char *p, long off, const void *bytes, size_t n) {
    int fd = open(p, O_WRONLY | O_CREAT, 0600);
    REQUIRE(fd >= 0);
    REQUIRE(pwrite(fd, bytes, n, off) == (ssize_t)n);
    close(fd);
}

static void test_store(void) {
    char dir[512];
    snprintf(dir, sizeof dir, "%s/store", g_tmp);
    pg_pcd_geom g = geom(42);
    blk b[8];
    mk_chain(b, 8, 0x1234, 1);

    pg_pcd *d = open_store(dir, 1 << 20, &g, 4);
    uint64_t key = pg_pcd_salt_key(d);
    CHECK(!pg_pcd_has(d, b[0].hash, b[0].salt));
    uint8_t tmp[PAY];
    CHECK(pg_pcd_load(d, b[0].hash, b[0].parent, b[0].salt, b[0].tok, tmp) == PG_ENOTFOUND);
    for (int i = 0; i < 3; i++) put_async(d, &b[i]);
    /* queued or written: loadable at once, and a second put is refused */
    CHECK(load_ok(d, &b[0]));
    check_store(d);
    CHECK(pg_pcd_put_begin(d, b[1].hash, b[1].parent, b[1].salt, b[1].tok) == NULL);
    pg_pcd_flush(d);
    CHECK(pg_pcd_write(d, b[3].hash, b[3].parent, b[3].salt, b[3].tok, b[3].pay) == 0);
    CHECK(pg_pcd_write(d, b[3].hash, b[3].parent, b[3].salt, b[3].tok, b[3].pay) == 1);
    for (int i = 0; i < 4; i++) CHECKF(load_ok(d, &b[i]), "block %d", i);
    /* the same key with another parent or other tokens is a miss, not a removal */
    CHECK(pg_pcd_load(d, b[1].hash, b[2].hash, b[1].salt, b[1].tok, tmp) == PG_ENOTFOUND);
    CHECK(pg_pcd_load(d, b[1].hash, b[1].parent, b[1].salt, b[2].tok, tmp) == PG_ENOTFOUND);
    /* another salt (tenant) is another key */
    CHECK(pg_pcd_load(d, b[1].hash, b[1].parent, b[1].salt + 1, b[1].tok, tmp) == PG_ENOTFOUND);
    CHECK(load_ok(d, &b[1]));
    pg_pcd_stats st = pg_pcd_get_stats(d);
    CHECK(st.files == 4 && st.bytes == 4 * FILE_BYTES && st.files_written == 4 && st.files_invalid == 0);
    CHECK(st.hits >= 6);
    /* the directory is locked */
    pg_pcd *d2 = NULL;
    pg_error err = {0};
    CHECK(pg_pcd_open(dir, 1 << 20, &g, 4, &d2, &err) == PG_EBUSY && d2 == NULL);
    /* a full queue drops (two puts without a commit on a one-slot store are tested below) */
    check_store(d);
    pg_pcd_close(d);
    CHECK(count_files(dir, ".kvb") == 4);

    /* reopen: indexed again, same key; a stale temp file and a foreign name */
    char p[1024];
    snprintf(p, sizeof p, "%s/.tmp-99999-1", dir);
    patch(p, 0, "junk", 4);
    snprintf(p, sizeof p, "%s/notes.txt", dir);
    patch(p, 0, "keep", 4);
    d = open_store(dir, 1 << 20, &g, 1);
    CHECK(pg_pcd_salt_key(d) == key);
    st = pg_pcd_get_stats(d);
    CHECK(st.files == 4 && st.files_invalid == 0);
    for (int i = 0; i < 4; i++) CHECKF(load_ok(d, &b[i]), "after reopen: block %d", i);
    snprintf(p, sizeof p, "%s/.tmp-99999-1", dir);
    CHECK(!exists(p));
    snprintf(p, sizeof p, "%s/notes.txt", dir);
    CHECK(exists(p));
    /* one slot: a second put while the first is being filled is dropped */
    void *q = pg_pcd_put_begin(d, b[4].hash, b[4].parent, b[4].salt, b[4].tok);
    REQUIRE(q);
    CHECK(pg_pcd_put_begin(d, b[5].hash, b[5].parent, b[5].salt, b[5].tok) == NULL);
    CHECK(pg_pcd_get_stats(d).dropped == 1);
    memcpy(q, b[4].pay, PAY);
    pg_pcd_put_commit(d, q);
    pg_pcd_flush(d);
    CHECK(load_ok(d, &b[4]));

    /* corrupted payload: refused at load and removed */
    path_of(p, sizeof p, dir, &b[0]);
    uint8_t x = 0xff;
    patch(p, FILE_BYTES - 10, &x, 1);
    CHECK(pg_pcd_load(d, b[0].hash, b[0].parent, b[0].salt, b[0].tok, tmp) == PG_EINVAL);
    CHECK(!exists(p) && !pg_pcd_has(d, b[0].hash, b[0].salt));
    /* truncated: refused and removed */
    path_of(p, sizeof p, dir, &b[1]);
    REQUIRE(truncate(p, FILE_BYTES - 100) == 0);
    CHECK(pg_pcd_load(d, b[1].hash, b[1].parent, b[1].salt, b[1].tok, tmp) == PG_EINVAL);
    CHECK(!exists(p));
    /* a token changed in the header (header checksum) */
    path_of(p, sizeof p, dir, &b[2]);
    int32_t t0 = b[2].tok[0] + 1;
    patch(p, 128, &t0, 4);
    CHECK(pg_pcd_load(d, b[2].hash, b[2].parent, b[2].salt, b[2].tok, tmp) == PG_EINVAL);
    CHECK(!exists(p));
    st = pg_pcd_get_stats(d);
    CHECK(st.files_invalid == 3 && st.files == 2);
    /* a file removed behind the store's back is a miss */
    path_of(p, sizeof p, dir, &b[3]);
    unlink(p);
    CHECK(pg_pcd_load(d, b[3].hash, b[3].parent, b[3].salt, b[3].tok, tmp) == PG_ENOTFOUND);
    check_store(d);
    pg_pcd_close(d);

    /* scan: bad magic, bad version, a renamed file (name != header key),
     * garbage under a block name: all removed at open */
    d = open_store(dir, 1 << 20, &g, 2);
    for (int i = 0; i < 4; i++) CHECK(pg_pcd_write(d, b[i].hash, b[i].parent, b[i].salt, b[i].tok, b[i].pay) == 0);
    check_store(d);
    pg_pcd_close(d);
    path_of(p, sizeof p, dir, &b[0]);
    patch(p, 0, "XXXX", 4);
    path_of(p, sizeof p, dir, &b[1]);
    uint32_t ver = 2;
    patch(p, 8, &ver, 4);
    char p2[1024];
    path_of(p, sizeof p, dir, &b[2]);
    path_of(p2, sizeof p2, dir, &b[6]);
    REQUIRE(rename(p, p2) == 0);
    path_of(p, sizeof p, dir, &b[7]);
    patch(p, 0, "not a block", 11);
    d = open_store(dir, 1 << 20, &g, 2);
    st = pg_pcd_get_stats(d);
    CHECKF(st.files_invalid == 4 && st.files == 2, "invalid %llu files %llu", (unsigned long long)st.files_invalid,
           (unsigned long long)st.files);
    CHECK(load_ok(d, &b[3]) && load_ok(d, &b[4]));
    CHECK(count_files(dir, ".kvb") == 2);
    check_store(d);
    pg_pcd_close(d);

    /* foreign: another model, another KV type, another block geometry */
    pg_pcd_geom g2 = geom(43);
    d = open_store(dir, 1 << 20, &g2, 2);
    st = pg_pcd_get_stats(d);
    CHECK(st.files_invalid == 2 && st.files == 0);
    CHECK(pg_pcd_write(d, b[3].hash, b[3].parent, b[3].salt, b[3].tok, b[3].pay) == 0);
    check_store(d);
    pg_pcd_close(d);
    pg_pcd_geom g3 = geom(43);
    g3.kv_type = PG_KV_F32;
    d = open_store(dir, 1 << 20, &g3, 2);
    CHECK(pg_pcd_get_stats(d).files_invalid == 1 && pg_pcd_get_stats(d).files == 0);
    CHECK(pg_pcd_write(d, b[3].hash, b[3].parent, b[3].salt, b[3].tok, b[3].pay) == 0);
    check_store(d);
    pg_pcd_close(d);
    pg_pcd_geom g4 = g3;
    g4.compute_level = 2;
    d = open_store(dir, 1 << 20, &g4, 2);
    CHECK(pg_pcd_get_stats(d).files_invalid == 1 && pg_pcd_get_stats(d).files == 0);
    check_store(d);
    pg_pcd_close(d);
    /* a store too small for one file is refused */
    CHECK(pg_pcd_open(dir, FILE_BYTES - 1, &g, 2, &d2, &err) == PG_EINVAL);
    rm_rf(dir);
}

/* LRU: the bound holds, a load protects a file, mtimes order a reopen */
static void test_lru(void) {
    char dir[512];
    snprintf(dir, sizeof dir, "%s/lru", g_tmp);
    pg_pcd_geom g = geom(7);
    blk b[8];
    mk_chain(b, 8, 99, 2);
    pg_pcd *d = open_store(dir, 3 * FILE_BYTES, &g, 4);
    for (int i = 0; i < 3; i++) put_async(d, &b[i]);
    pg_pcd_flush(d);
    CHECK(load_ok(d, &b[0])); /* 0 is now the most recent: 1 goes first */
    put_async(d, &b[3]);
    pg_pcd_flush(d);
    pg_pcd_stats st = pg_pcd_get_stats(d);
    CHECK(st.files == 3 && st.bytes <= 3 * FILE_BYTES && st.files_evicted == 1);
    CHECK(pg_pcd_has(d, b[0].hash, b[0].salt) && !pg_pcd_has(d, b[1].hash, b[1].salt));
    CHECK(pg_pcd_has(d, b[2].hash, b[2].salt) && pg_pcd_has(d, b[3].hash, b[3].salt));
    CHECK(pg_pcd_write(d, b[4].hash, b[4].parent, b[4].salt, b[4].tok, b[4].pay) == 0);
    CHECK(!pg_pcd_has(d, b[2].hash, b[2].salt) && pg_pcd_get_stats(d).files_evicted == 2);
    CHECK(count_files(dir, ".kvb") == 3);
    check_store(d);
    pg_pcd_close(d);
    /* files now: 0, 3, 4. Give them mtimes 4 < 0 < 3, reopen with room
     * for two: 4 (the oldest) goes */
    char p[1024];
    int order[3] = {4, 0, 3};
    for (int k = 0; k < 3; k++) {
        path_of(p, sizeof p, dir, &b[order[k]]);
        struct timespec ts[2] = {{1000000 + k * 10, 0}, {1000000 + k * 10, 0}};
        REQUIRE(utimensat(AT_FDCWD, p, ts, 0) == 0);
    }
    d = open_store(dir, 2 * FILE_BYTES, &g, 2);
    CHECK(pg_pcd_get_stats(d).files == 2 && pg_pcd_get_stats(d).files_evicted == 1);
    CHECK(!pg_pcd_has(d, b[4].hash, b[4].salt));
    CHECK(load_ok(d, &b[0]) && load_ok(d, &b[3]));
    check_store(d);
    pg_pcd_close(d);
    rm_rf(dir);
}

static void test_checksum(void) {
    uint8_t a[1000];
    for (int i = 0; i < 1000; i++) a[i] = (uint8_t)(i * 7);
    uint64_t h = pg_pcd_checksum(a, sizeof a, 1);
    CHECK(h == pg_pcd_checksum(a, sizeof a, 1));
    CHECK(h != pg_pcd_checksum(a, sizeof a, 2));
    CHECK(h != pg_pcd_checksum(a, sizeof a - 1, 1));
    int diff = 1;
    for (int i = 0; i < 1000; i += 37)
        for (int bit = 0; bit < 8; bit += 3) {
            a[i] ^= (uint8_t)(1u << bit);
            diff &= pg_pcd_checksum(a, sizeof a, 1) != h;
            a[i] ^= (uint8_t)(1u << bit);
        }
    CHECK(diff);
}

/* ------------------------------------------------------------- engine */

#define MAXT 64
typedef struct {
    int32_t toks[MAXT];
    float lp[MAXT];
    int n;
    int done;
    pg_engine_usage u;
} res;

static void on_event(const pg_engine_event *ev, void *user) {
    res *r = user;
    if (ev->type == PG_EV_TOKEN && r->n < MAXT) {
        r->toks[r->n] = ev->token;
        r->lp[r->n] = ev->sample ? ev->sample->logprob : 0;
        r->n++;
    }
    if (ev->type == PG_EV_DONE) r->u = *ev->usage;
    if (ev->last) r->done = 1;
}

static pg_model *g_model;
static pg_vocab *g_vocab;
static char g_model_path[1024];

static pg_engine *mk_engine(const char *dir, uint64_t kv_mem) {
    pg_engine_config c;
    pg_engine_config_default(&c);
    c.manual = 1;
    c.check_steps = 1;
    c.threads = 1;
    c.max_seqs = 4;
    c.max_batched_tokens = 64;
    c.default_seed = 1234;
    c.kv_cache_mem = kv_mem;
    c.prefix_cache_dir = dir;
    c.prefix_cache_disk = 64 << 20;
    c.model_path = g_model_path;
    pg_engine *e = NULL;
    pg_error err = {0};
    int rc = pg_engine_create(g_model, g_vocab, &c, &e, &err);
    if (rc < 0) fprintf(stderr, "engine: %s\n", err.msg);
    REQUIRE(rc == 0);
    return e;
}

static void run(pg_engine *e, const int32_t *prompt, int32_t n, uint64_t salt, res *r) {
    memset(r, 0, sizeof *r);
    pg_request q;
    memset(&q, 0, sizeof q);
    q.prompt = prompt;
    q.n_prompt = n;
    q.sampling = pg_sampling_params_default();
    q.sampling.temperature = 0;
    q.sampling.n_logprobs = 1;
    q.max_tokens = 24;
    q.n = 1;
    q.cache_salt = salt;
    q.cb = on_event;
    q.user = r;
    pg_error err = {0};
    REQUIRE(pg_engine_submit(e, &q, &err) > 0);
    int guard = 0;
    while (!r->done) {
        pg_engine_step(e);
        REQUIRE(++guard < 100000);
    }
}

static int same(const res *a, const res *b) {
    return a->n == b->n && memcmp(a->toks, b->toks, sizeof a->toks[0] * (size_t)a->n) == 0 &&
           memcmp(a->lp, b->lp, sizeof a->lp[0] * (size_t)a->n) == 0;
}

static void test_engine(void) {
    char dir[512];
    snprintf(dir, sizeof dir, "%s/eng", g_tmp);
    int32_t prompt[100], other[100];
    for (int i = 0; i < 100; i++) {
        prompt[i] = 1 + (i * 37) % 500;
        other[i] = 1 + (i * 53 + 11) % 500;
    }
    /* the cold reference: an engine without a disk cache */
    pg_engine_config c;
    pg_engine_config_default(&c);
    c.manual = 1;
    c.threads = 1;
    c.max_seqs = 4;
    c.max_batched_tokens = 64;
    pg_engine *e = NULL;
    pg_error err = {0};
    REQUIRE(pg_engine_create(g_model, g_vocab, &c, &e, &err) == 0);
    res cold, r;
    run(e, prompt, 100, 0, &cold);
    pg_engine_destroy(e);
    REQUIRE(cold.n == 24);

    /* first server: computes, writes its cached blocks at destroy */
    e = mk_engine(dir, 0);
    run(e, prompt, 100, 0, &r);
    CHECK(same(&r, &cold) && r.u.cached_tokens == 0);
    pg_engine_destroy(e);
    CHECK(count_files(dir, ".kvb") >= 6); /* 124 positions: 7 full blocks */

    /* restart: the prompt's 6 full blocks (96 tokens; the last prompt
     * token is always recomputed) come from disk; identical output */
    e = mk_engine(dir, 0);
    run(e, prompt, 100, 0, &r);
    CHECKF(r.u.cached_tokens == 96, "cached %d", r.u.cached_tokens);
    CHECK(same(&r, &cold));
    pg_engine_stats st;
    pg_engine_stats_get(e, &st);
    CHECK(st.disk_enabled && st.disk_hits == 6 && st.disk_hit_tokens == 96);
    /* another tenant: no hit, same output */
    run(e, prompt, 100, 5, &r);
    CHECK(r.u.cached_tokens == 0 && same(&r, &cold));
    pg_engine_destroy(e);

    /* a corrupted block: the chain is cut there, the rest recomputed */
    DIR *dd = opendir(dir);
    REQUIRE(dd);
    struct dirent *de;
    int n_kvb = 0;
    while ((de = readdir(dd))) {
        size_t l = strlen(de->d_name);
        if (l < 4 || strcmp(de->d_name + l - 4, ".kvb")) continue;
        char p[1024];
        snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
        struct stat sb;
        REQUIRE(stat(p, &sb) == 0);
        uint8_t x = 0x5a;
        patch(p, (long)sb.st_size - 1, &x, 1); /* every file: the first block is bad */
        n_kvb++;
    }
    closedir(dd);
    e = mk_engine(dir, 0);
    run(e, prompt, 100, 0, &r);
    CHECK(r.u.cached_tokens == 0 && same(&r, &cold));
    pg_engine_stats_get(e, &st);
    CHECK(st.disk_files_invalid >= 1 && st.disk_hits == 0);
    pg_engine_destroy(e);

    /* eviction: a pool of 10 blocks; other's prompt evicts prompt's
     * blocks (written by the writer), then prompt hits the disk */
    rm_rf(dir);
    e = mk_engine(dir, (uint64_t)10 * 16 * pg_kv_bytes_per_token(g_model, PG_KV_F16));
    run(e, prompt, 100, 0, &r);
    CHECK(same(&r, &cold));
    res ro;
    run(e, other, 100, 0, &ro);
    run(e, prompt, 100, 0, &r);
    CHECKF(r.u.cached_tokens == 96, "after eviction: cached %d", r.u.cached_tokens);
    CHECK(same(&r, &cold));
    pg_engine_stats_get(e, &st);
    /* blocks 0-1 were still in memory, the deeper ones (evicted first) came from disk */
    CHECKF(st.disk_hits >= 1 && st.disk_hits <= 6 && st.disk_dropped == 0, "hits %llu dropped %llu",
           (unsigned long long)st.disk_hits, (unsigned long long)st.disk_dropped);
    char msg[256];
    CHECKF(pg_engine_check(e, msg, sizeof msg) == 0, "%s", msg);
    pg_engine_destroy(e);
    rm_rf(dir);
}

static void test_model_id(const char *td) {
    uint64_t a[2], b[2], m[2];
    pg_error err = {0};
    REQUIRE(pg_pcd_model_id(g_model, g_model_path, a, &err) == 0);
    REQUIRE(pg_pcd_model_id(g_model, g_model_path, b, &err) == 0);
    CHECK(a[0] == b[0] && a[1] == b[1]);
    REQUIRE(pg_pcd_model_id(g_model, NULL, m, &err) == 0); /* from memory: the same file bytes */
    CHECK(m[0] == a[0] && m[1] == a[1]);
    char p[1024];
    snprintf(p, sizeof p, "%s/models/syn-a-q4_0.gguf", td);
    pg_model *o = NULL;
    if (pg_model_load(p, &o, &err) == 0) {
        REQUIRE(pg_pcd_model_id(o, p, b, &err) == 0);
        CHECK(b[0] != a[0] && b[1] != a[1]);
        pg_model_free(o);
    }
    CHECK(pg_pcd_model_id(g_model, "/nonexistent/model.gguf", b, &err) == PG_EIO);
}

int main(void) {
    snprintf(g_tmp, sizeof g_tmp, "/tmp/pg-pcd-test-XXXXXX");
    REQUIRE(mkdtemp(g_tmp));
    test_checksum();
    test_store();
    test_lru();
    const char *td = t_testdata();
    if (!td) {
        rm_rf(g_tmp);
        SKIP("test data not found (set PAGODA_TESTDATA): store tests passed, engine tests skipped");
    }
    snprintf(g_model_path, sizeof g_model_path, "%s/models/stories260K.gguf", td);
    pg_error err = {0};
    if (pg_model_load(g_model_path, &g_model, &err) < 0) SKIP("cannot load %s: %s", g_model_path, err.msg);
    REQUIRE(pg_vocab_load(pg_model_gguf(g_model), &g_vocab, &err) == 0);
    test_model_id(td);
    test_engine();
    pg_vocab_free(g_vocab);
    pg_model_free(g_model);
    rm_rf(g_tmp);
    return t_done("test_pcache_disk");
}
