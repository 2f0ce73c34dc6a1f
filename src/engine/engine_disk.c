/* engine_disk.c - the engine's side of the prefix cache on disk
 * (engine/pcache_disk.h), all on the engine thread:
 *   out:   kvblocks' eviction hook copies an evicted CACHED block's K/V
 *          (pg_kv_block_export, one memcpy per layer and K/V) into a free
 *          slot of the disk store's write queue; the writer thread writes
 *          it. A full queue drops the block (counted), it never waits.
 *   in:    at admission, after the in-memory prefix match stopped at block
 *          k, each next full prompt block whose chained hash has a file is
 *          loaded: alloc a block (FREE -> ACTIVE, as for computing it),
 *          read + verify the file into pcd_buf, pg_kv_block_import, commit
 *          under the same hash (-> a normal cached block for everyone).
 *          The first miss, invalid file or collision ends the chain. No
 *          new block state: the block is ACTIVE and owned by the admitting
 *          sequence for the whole load, and on failure it is unreffed
 *          unhashed (-> FREE) before anyone could see it.
 *          Cost: per block one open, two preads and a checksum over
 *          pg_kv_block_bytes (TinyLlama f16, 16 tokens: 704 KiB), on the
 *          engine thread, so a step that admits a request with a long disk
 *          hit takes that much longer (about 0.2-0.5 ms per block from the
 *          page cache) - against ~50 ms to compute those 16 tokens.
 *   close: after the engine thread stopped, every CACHED block (least
 *          recently used first, at most what the disk bound holds, newest
 *          kept) is written synchronously, then the store is closed.
 * Salts: with a disk cache the engine's salt key is the directory's
 * persistent secret (salt.key) instead of a per-process random one, so
 * hashes of a restarted server match the files. */
#include "engine/engine_impl.h"

#include "base/cpu.h"
#include "base/log.h"

#include <stdlib.h>
#include <time.h>

static void on_evict(void *ud, int32_t id, uint64_t hash, uint64_t parent, uint64_t salt, const int32_t *tokens) {
    pg_engine *e = ud;
    void *p = pg_pcd_put_begin(e->pcd, hash, parent, salt, tokens);
    if (!p) return;
    pg_kv_block_export(e->kv, id, p);
    pg_pcd_put_commit(e->pcd, p);
}

int eng_disk_open(pg_engine *e, pg_error *err) {
    const pg_hparams *hp = pg_model_hparams(e->m);
    pg_pcd_geom g = {{0, 0}, 0, 0, 0, 0, 0, 0, 0};
    int rc = pg_pcd_model_id(e->m, e->cfg.model_path, g.model_id, err);
    if (rc < 0) return rc;
    g.kv_type = (uint32_t)pg_kv_store_type(e->kv);
    g.block_size = (uint32_t)e->bs;
    g.n_layer = (uint32_t)hp->n_layer;
    g.n_head_kv = (uint32_t)hp->n_head_kv;
    g.head_dim = (uint32_t)hp->head_dim;
    g.compute_level = (uint32_t)pg_cpu_level_get();
    g.payload_bytes = pg_kv_block_bytes(e->kv);
    /* write queue: up to 64 MiB of blocks, 4..64 of them */
    uint64_t slots = ((uint64_t)64 << 20) / g.payload_bytes;
    if (slots < 4) slots = 4;
    if (slots > 64) slots = 64;
    uint64_t max = e->cfg.prefix_cache_disk ? e->cfg.prefix_cache_disk : (uint64_t)4 << 30;
    if ((rc = pg_pcd_open(e->cfg.prefix_cache_dir, max, &g, (int32_t)slots, &e->pcd, err)) < 0) return rc;
    if (!(e->pcd_buf = malloc(g.payload_bytes))) return pg_error_set(err, PG_ENOMEM, "engine: out of memory");
    e->salt_key = pg_pcd_salt_key(e->pcd);
    pg_kvb_set_evict_hook(e->kvb, on_evict, e);
    return 0;
}

int32_t eng_disk_extend(pg_engine *e, eng_seq *s, int32_t k) {
    int64_t limit = (int64_t)(s->n_tokens - 1) / e->bs;
    if (limit > s->cap_blocks) limit = s->cap_blocks;
    uint64_t salt = s->g->salt;
    uint64_t parent = k ? s->hashes[k - 1] : PG_KVB_ROOT;
    int32_t loaded = 0;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int32_t j = k; j < limit; j++) {
        const int32_t *t = s->tokens + (size_t)j * (size_t)e->bs;
        uint64_t h = pg_kvb_hash(parent, t, e->bs, salt);
        if (!pg_pcd_has(e->pcd, h, salt)) {
            e->st_dm++;
            break;
        }
        int32_t id = pg_kvb_alloc(e->kvb);
        if (id < 0) break;
        if (pg_pcd_load(e->pcd, h, parent, salt, t, e->pcd_buf) < 0) {
            pg_kvb_unref(e->kvb, id); /* unhashed: back to FREE */
            break;
        }
        pg_kv_block_import(e->kv, id, e->pcd_buf);
        if (pg_kvb_commit(e->kvb, id, h, parent, salt, t) != PG_KVB_COMMIT_NEW) {
            pg_kvb_unref(e->kvb, id);
            break;
        }
        s->blocks[j] = id;
        s->hashes[j] = h;
        parent = h;
        k = j + 1;
        loaded++;
    }
    e->st_dh += (uint64_t)loaded * (uint64_t)e->bs;
    if (loaded) {
        clock_gettime(CLOCK_MONOTONIC, &t1);
        PG_DEBUG("prefix cache: %d block(s) loaded from disk in %.2f ms", loaded,
                 1e3 * (double)(t1.tv_sec - t0.tv_sec) + 1e-6 * (double)(t1.tv_nsec - t0.tv_nsec));
    }
    return k;
}

void eng_disk_close(pg_engine *e) {
    if (!e->pcd) return;
    pg_kvb_set_evict_hook(e->kvb, NULL, NULL);
    pg_pcd_flush(e->pcd);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    /* newest blocks matter most: skip the oldest ones the bound would
     * evict anyway */
    uint64_t file = pg_kv_block_bytes(e->kv) + 128 + 4 * (uint64_t)e->bs;
    uint64_t max = e->cfg.prefix_cache_disk ? e->cfg.prefix_cache_disk : (uint64_t)4 << 30;
    int64_t fit = (int64_t)(max / file), n = pg_kvb_n_cached(e->kvb), skip = n > fit ? n - fit : 0;
    int32_t written = 0, failed = 0;
    for (int32_t id = pg_kvb_lru_next(e->kvb, -1); id >= 0; id = pg_kvb_lru_next(e->kvb, id)) {
        if (skip > 0) {
            skip--;
            continue;
        }
        uint64_t h, parent, salt;
        const int32_t *t;
        if (pg_kvb_block_identity(e->kvb, id, &h, &parent, &salt, &t) < 0) continue;
        if (pg_pcd_has(e->pcd, h, salt)) continue;
        pg_kv_block_export(e->kv, id, e->pcd_buf);
        int rc = pg_pcd_write(e->pcd, h, parent, salt, t, e->pcd_buf);
        if (rc == 0) written++;
        else if (rc < 0) failed++;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (written || failed)
        PG_INFO("prefix cache: %d cached block(s) written to disk at shutdown in %.2f s%s", written,
                (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec),
                failed ? " (some writes failed)" : "");
    pg_pcd_close(e->pcd);
    e->pcd = NULL;
    free(e->pcd_buf);
    e->pcd_buf = NULL;
}

void eng_disk_stats(pg_engine *e, pg_engine_stats *st) {
    if (!e->pcd) return;
    pg_pcd_stats d = pg_pcd_get_stats(e->pcd);
    st->disk_enabled = 1;
    st->disk_hits = d.hits;
    st->disk_misses = e->st_dm + d.misses;
    st->disk_hit_tokens = e->st_dh;
    st->disk_bytes_read = d.bytes_read;
    st->disk_bytes_written = d.bytes_written;
    st->disk_files_written = d.files_written;
    st->disk_files_invalid = d.files_invalid;
    st->disk_files_evicted = d.files_evicted;
    st->disk_dropped = d.dropped;
    st->disk_write_errors = d.write_errors;
    st->disk_files = d.files;
    st->disk_bytes = d.bytes;
}
