/* pcache_disk.h - the prefix cache on disk: full KV blocks kept as files in
 * one directory, so that a later request, also after a restart, loads a
 * cached prefix instead of recomputing it.
 *
 * What goes to disk: blocks the in-memory prefix cache (kvblocks.h) evicts,
 * and at shutdown every block still cached in memory. A file holds one
 * block, named by its chained block hash and its tenant salt:
 *   DIR/<hash, 16 hex>-<salt, 16 hex>.kvb
 * File layout (host byte order; the endian marker rejects other hosts):
 *   offset  0  magic "PGKVBLK\0"
 *           8  u32 format version (1)      12  u32 header bytes (128 + 4 x block_size)
 *          16  u64 model identity [2]      (pg_pcd_model_id)
 *          32  u32 KV type, block size, layers, KV heads, head dim, endian marker 0x01020304
 *          56  u64 block hash, parent hash, tenant salt
 *          80  u64 payload bytes           88  u64 payload checksum
 *          96  u64 header checksum (over the header and tokens, this field as 0)
 *         104  u32 compute level (base/cpu.h: K/V computed by other kernels
 *              differ in the last bits, and outputs must equal a cold run)
 *         108  reserved (0) up to 128
 *         128  i32 token ids of the block [block_size]
 *   then the payload: pg_kv_block_export's image (every layer's K and V).
 * A match needs: equal model identity, KV type, geometry and compute
 * level; the file's hash and salt equal to its name and to the request's;
 * its parent hash and tokens equal to the request's, and the hash
 * recomputed from them (pg_kvb_hash) equal to the stored one; both
 * checksums right; the file exactly header + payload bytes. The parent
 * hash stands for the whole chain before the block, exactly as in memory
 * (the hash is keyed by the salt, which derives from a secret key kept in
 * DIR/salt.key, mode 0600). Anything else (truncated, corrupted, another
 * model or KV type, bad magic or version) is removed and counted, never
 * loaded.
 *
 * Safety: a file is written to DIR/.tmp-<pid>-<n> and renamed into place,
 * so a name never shows a partial file; no fsync per file (a file torn by
 * a power loss fails its checksum and is removed); the directory is
 * fsynced at close. DIR/lock (flock) keeps a second process off the
 * directory. Stale temp files are removed at open.
 *
 * Size bound: the files' bytes stay <= max_bytes, least recently used
 * removed first (order from the files' mtimes at open, then from use; a
 * load refreshes the file's mtime, so the order survives restarts).
 *
 * Threads: writes of evicted blocks go through a background writer with a
 * bounded queue of preallocated slots (put_begin copies the block into a
 * slot on the caller's thread; when every slot is busy the block is
 * dropped and counted, never waited for). Loads run on the caller's thread
 * (the engine thread at admission: one open + two preads + a checksum per
 * block). Every function is thread-safe; one mutex guards the index. */
#ifndef PG_ENGINE_PCACHE_DISK_H
#define PG_ENGINE_PCACHE_DISK_H

#include "base/error.h"
#include "model/model.h"

#include <stddef.h>
#include <stdint.h>

typedef struct pg_pcd pg_pcd;

/* What a file must match to be used. */
typedef struct pg_pcd_geom {
    uint64_t model_id[2];
    uint32_t kv_type, block_size, n_layer, n_head_kv, head_dim, compute_level;
    uint64_t payload_bytes; /* pg_kv_block_bytes */
} pg_pcd_geom;

typedef struct pg_pcd_stats {
    uint64_t hits;          /* blocks loaded (from a file or a queued write) */
    uint64_t misses;        /* loads with no file for the key */
    uint64_t bytes_read, bytes_written;
    uint64_t files_written;
    uint64_t files_invalid; /* removed: truncated, corrupt, foreign */
    uint64_t files_evicted; /* removed by the size bound */
    uint64_t dropped;       /* evicted blocks not written: the queue was full */
    uint64_t write_errors;
    uint64_t files, bytes;  /* now on disk */
} pg_pcd_stats;

/* Opens (creating it, mode 0700) DIR, locks it, reads or creates the salt
 * key, scans the files (headers checked; foreign and broken files removed)
 * and starts the writer. queue_slots: blocks the writer may hold (>= 1).
 * PG_EIO / PG_EBUSY (locked by another process) / PG_EINVAL / PG_ENOMEM. */
int pg_pcd_open(const char *dir, uint64_t max_bytes, const pg_pcd_geom *g, int32_t queue_slots, pg_pcd **out,
                pg_error *err);
/* Waits for queued writes, stops the writer, fsyncs the directory. */
void pg_pcd_close(pg_pcd *d);

/* The directory's secret key (mixed into every tenant salt). */
uint64_t pg_pcd_salt_key(const pg_pcd *d);

/* 1 when a file (or a queued write) exists for the key. */
int pg_pcd_has(pg_pcd *d, uint64_t hash, uint64_t salt);

/* Asynchronous write: returns a buffer of payload_bytes to fill with the
 * block's image, then hand it to pg_pcd_put_commit; NULL when the key is
 * already stored or queued, or every slot is busy (counted as dropped). */
void *pg_pcd_put_begin(pg_pcd *d, uint64_t hash, uint64_t parent, uint64_t salt, const int32_t *tokens);
void pg_pcd_put_commit(pg_pcd *d, void *payload);

/* Synchronous write (shutdown). 0, 1 when already stored, or a negative
 * code (the error is counted; nothing is left behind). */
int pg_pcd_write(pg_pcd *d, uint64_t hash, uint64_t parent, uint64_t salt, const int32_t *tokens,
                 const void *payload);

/* Loads the block stored under (hash, salt) into payload after checking
 * it against parent and tokens (block_size ids). 0; PG_ENOTFOUND when no
 * file exists; PG_EINVAL when the file was invalid (it is removed). On
 * failure payload may have been overwritten. */
int pg_pcd_load(pg_pcd *d, uint64_t hash, uint64_t parent, uint64_t salt, const int32_t *tokens, void *payload);

/* Waits until the writer's queue is empty. */
void pg_pcd_flush(pg_pcd *d);
pg_pcd_stats pg_pcd_get_stats(pg_pcd *d);

/* Invariant check of the index, the LRU list, the byte count and the
 * write slots (under the lock): 0, or -1 with a description. For tests. */
int pg_pcd_check(pg_pcd *d, char *msg, size_t cap);

/* The model's identity: two independent 64-bit hashes over the GGUF
 * header (metadata and tensor infos: names, types, shapes, offsets,
 * vocabulary), the file size, and the first and last 4 KiB of every
 * tensor's data, read from the file at path (pread, so the bytes are the
 * file's, not a repacked copy), or from the in-memory image when path is
 * NULL (the demo model). About 8 KiB per tensor: milliseconds, not a pass
 * over the weights; any change of metadata, shapes or types, and any
 * tensor replaced or re-quantized, changes it. PG_EIO when the file cannot
 * be read. */
int pg_pcd_model_id(const pg_model *m, const char *path, uint64_t out[2], pg_error *err);

/* The 64-bit checksum of the file format (exposed for tests). */
uint64_t pg_pcd_checksum(const void *p, size_t n, uint64_t seed);

#endif
