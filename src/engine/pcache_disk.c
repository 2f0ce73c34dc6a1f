/* pcache_disk.c - see pcache_disk.h for the file format and the rules.
 *
 * Index (under mu): entries[max_ents] {hash, salt, bytes, state, slot,
 * prev/next}; an entry is FREE (on the free-entry list), PENDING (a queued
 * write in slot `slot`, not yet a file) or DISK (a file, on the LRU list:
 * head = least recently used). map[] is open addressing (linear probing,
 * backward-shift removal) from key (hash, salt) to entry index.
 *
 * Write slots (preallocated at open, header + payload each): FREE ->
 * FILLING (put_begin, caller's thread) -> QUEUED (put_commit, in the FIFO
 * ring) -> WRITING (writer thread, outside the lock) -> FREE. A load of a
 * PENDING key copies from its slot (QUEUED or WRITING: the bytes are final).
 *
 * Entry lifecycle:
 *   FREE --put_begin--> PENDING --written--> DISK --evicted / invalid--> FREE
 *                          \--write failed--> FREE
 *   FREE --scan (valid header) / pg_pcd_write--> DISK */
#include "engine/pcache_disk.h"

#include "base/cpu.h"
#include "base/hash.h"
#include "base/log.h"
#include "engine/kvblocks.h"
#include "gguf/gguf.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#define PCD_MAGIC "PGKVBLK"
#define PCD_VERSION 1u
#define PCD_ENDIAN 0x01020304u
#define PCD_FIXED 128u
#define NAME_LEN 38 /* 16 + 1 + 16 + ".kvb" + NUL */

/* fixed part of the header; offsets as documented in pcache_disk.h */
typedef struct pcd_hdr {
    char magic[8];
    uint32_t version, header_bytes;
    uint64_t model_id[2];
    uint32_t kv_type, block_size, n_layer, n_head_kv, head_dim, endian;
    uint64_t hash, parent, salt;
    uint64_t payload_bytes, payload_sum, header_sum;
    uint32_t compute_level, reserved0;
    uint64_t reserved[2];
} pcd_hdr;
_Static_assert(sizeof(pcd_hdr) == PCD_FIXED, "header layout");

enum { E_FREE = 0, E_PENDING = 1, E_DISK = 2 };
enum { S_FREE = 0, S_FILLING = 1, S_QUEUED = 2, S_WRITING = 3 };

typedef struct pcd_ent {
    uint64_t hash, salt, bytes;
    int32_t prev, next; /* LRU list (DISK) or free-entry list (FREE, next only) */
    int32_t slot;       /* PENDING: its write slot */
    uint8_t state;
} pcd_ent;

typedef struct pcd_slot {
    uint8_t *buf; /* [file_bytes]: header, tokens, payload */
    int state;
    int32_t ent;
} pcd_slot;

struct pg_pcd {
    char *dir;
    int dir_fd, lock_fd;
    uint64_t max_bytes, salt_key;
    pg_pcd_geom g;
    size_t header_bytes, file_bytes;

    pthread_mutex_t mu;
    pthread_cond_t cv_work, cv_done;
    pthread_t th;
    int has_thread, stop;

    pcd_ent *ents;
    int32_t max_ents, free_ent, lru_head, lru_tail;
    int32_t *map;
    uint64_t map_mask;
    int map_bits;

    pcd_slot *slots;
    int32_t n_slots;
    int32_t *ring; /* FIFO of queued slot ids */
    int32_t ring_head, ring_n;
    int32_t n_writing;

    uint8_t *hbuf; /* header buffer of loads and synchronous writes (callers serialise on io_mu) */
    pthread_mutex_t io_mu;
    atomic_uint tmp_seq;
    pg_pcd_stats st;
    int warned;
};

/* ------------------------------------------------------------ checksum */

static inline uint64_t rotl64(uint64_t x, int b) { return (x << b) | (x >> (64 - b)); }

/* Four independent lanes of (a ^ w) * odd, rotated, then one finaliser
 * over the lanes and the length: detects random corruption (not an
 * adversary: files are trusted only as far as the directory is). */
uint64_t pg_pcd_checksum(const void *p, size_t n, uint64_t seed) {
    const uint8_t *b = p;
    uint64_t a[4] = {seed ^ 0x243F6A8885A308D3ULL, seed ^ 0x13198A2E03707344ULL, seed ^ 0xA4093822299F31D0ULL,
                     seed ^ 0x082EFA98EC4E6C89ULL};
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        uint64_t w[4];
        memcpy(w, b + i, 32);
        for (int j = 0; j < 4; j++) a[j] = rotl64((a[j] ^ w[j]) * PG_HASH_MIX1, 29);
    }
    for (int j = 0; i < n; j = (j + 1) & 3) {
        uint64_t w = 0;
        size_t k = n - i < 8 ? n - i : 8;
        memcpy(&w, b + i, k);
        a[j] = rotl64((a[j] ^ w ^ ((uint64_t)k << 56)) * PG_HASH_MIX2, 31);
        i += k;
    }
    uint64_t h = pg_hash_fmix64(a[0] ^ (uint64_t)n);
    h = pg_hash_fmix64(h ^ a[1]);
    h = pg_hash_fmix64(h ^ a[2]);
    return pg_hash_fmix64(h ^ a[3]);
}

/* ---------------------------------------------------------- model id */

static int read_full(int fd, void *buf, size_t n, uint64_t off) {
    uint8_t *b = buf;
    while (n) {
        ssize_t r = pread(fd, b, n, (off_t)off);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return -1;
        b += r;
        n -= (size_t)r;
        off += (uint64_t)r;
    }
    return 0;
}

int pg_pcd_model_id(const pg_model *m, const char *path, uint64_t out[2], pg_error *err) {
    const pg_gguf *gg = pg_model_gguf(m);
    if (!gg) return pg_error_set(err, PG_EINVAL, "prefix cache: the model has no GGUF image");
    size_t size = 0;
    const uint8_t *base = pg_gguf_base(gg, &size);
    size_t hdr = pg_gguf_data_offset(gg);
    if (!base || hdr > size) return pg_error_set(err, PG_EINVAL, "prefix cache: bad GGUF image");
    uint64_t h0 = pg_pcd_checksum(base, hdr, 0x7061676f64612d31ULL);
    uint64_t h1 = pg_pcd_checksum(base, hdr, 0x6b762d6964656e74ULL);
    h0 = pg_hash_fmix64(h0 ^ (uint64_t)size);
    h1 = pg_hash_fmix64(h1 + (uint64_t)size * PG_HASH_GOLDEN);
    int fd = -1;
    if (path) {
        struct stat sb;
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0 || fstat(fd, &sb) < 0 || (uint64_t)sb.st_size != (uint64_t)size) {
            if (fd >= 0) close(fd);
            return pg_error_set(err, PG_EIO, "prefix cache: cannot read the model file %s again (or it changed)",
                                path);
        }
    }
    uint8_t *chunk = malloc(8192);
    if (!chunk) {
        if (fd >= 0) close(fd);
        return pg_error_set(err, PG_ENOMEM, "out of memory");
    }
    int rc = 0;
    int64_t nt = pg_gguf_n_tensors(gg);
    for (int64_t i = 0; i < nt && rc == 0; i++) {
        const pg_gguf_tensor *t = pg_gguf_tensor_at(gg, i);
        uint64_t off = (uint64_t)hdr + t->offset, n = t->nbytes;
        if (off > size || n > size - off) {
            rc = pg_error_set(err, PG_EINVAL, "prefix cache: tensor %s outside the file", t->name);
            break;
        }
        uint64_t first = n < 4096 ? n : 4096, last = n - first < 4096 ? n - first : 4096;
        uint64_t offs[2] = {off, off + n - last}, lens[2] = {first, last};
        for (int k = 0; k < 2; k++) {
            if (!lens[k]) continue;
            if (fd >= 0) {
                if (read_full(fd, chunk, lens[k], offs[k]) < 0) {
                    rc = pg_error_set(err, PG_EIO, "prefix cache: cannot read the model file %s", path);
                    break;
                }
            } else {
                memcpy(chunk, base + offs[k], lens[k]);
            }
            h0 = pg_pcd_checksum(chunk, lens[k], h0);
            h1 = pg_pcd_checksum(chunk, lens[k], h1 ^ 0x5bd1e995ULL);
        }
    }
    free(chunk);
    if (fd >= 0) close(fd);
    out[0] = h0;
    out[1] = h1;
    return rc;
}

/* -------------------------------------------------------------- index */

static inline uint64_t key_home(const pg_pcd *d, uint64_t hash, uint64_t salt) {
    return pg_hash_fib(hash ^ pg_mix64(salt)) >> (64 - d->map_bits);
}

static uint64_t map_find(const pg_pcd *d, uint64_t hash, uint64_t salt, int *found) {
    uint64_t i = key_home(d, hash, salt);
    for (;;) {
        int32_t e = d->map[i];
        if (e < 0) {
            *found = 0;
            return i;
        }
        if (d->ents[e].hash == hash && d->ents[e].salt == salt) {
            *found = 1;
            return i;
        }
        i = (i + 1) & d->map_mask;
    }
}

static void map_remove_slot(pg_pcd *d, uint64_t i) {
    d->map[i] = -1;
    uint64_t j = i;
    for (;;) {
        j = (j + 1) & d->map_mask;
        int32_t e = d->map[j];
        if (e < 0) return;
        uint64_t h = key_home(d, d->ents[e].hash, d->ents[e].salt);
        int stays = i <= j ? (h > i && h <= j) : (h > i || h <= j);
        if (stays) continue;
        d->map[i] = e;
        d->map[j] = -1;
        i = j;
    }
}

static int32_t ent_find(const pg_pcd *d, uint64_t hash, uint64_t salt) {
    int found;
    uint64_t i = map_find(d, hash, salt, &found);
    return found ? d->map[i] : -1;
}

static void lru_push_tail(pg_pcd *d, int32_t e) {
    d->ents[e].next = -1;
    d->ents[e].prev = d->lru_tail;
    if (d->lru_tail >= 0) d->ents[d->lru_tail].next = e;
    else d->lru_head = e;
    d->lru_tail = e;
}

static void lru_remove(pg_pcd *d, int32_t e) {
    int32_t p = d->ents[e].prev, n = d->ents[e].next;
    if (p >= 0) d->ents[p].next = n;
    else d->lru_head = n;
    if (n >= 0) d->ents[n].prev = p;
    else d->lru_tail = p;
    d->ents[e].prev = d->ents[e].next = -1;
}

static void key_name(char out[NAME_LEN], uint64_t hash, uint64_t salt) {
    snprintf(out, NAME_LEN, "%016" PRIx64 "-%016" PRIx64 ".kvb", hash, salt);
}

/* Removes entry e from the index (a DISK entry also from the LRU list and
 * the byte count; the file itself is the caller's). */
static void ent_free(pg_pcd *d, int32_t e) {
    pcd_ent *x = &d->ents[e];
    if (x->state == E_DISK) {
        lru_remove(d, e);
        d->st.bytes -= x->bytes;
        d->st.files--;
    }
    int found;
    uint64_t i = map_find(d, x->hash, x->salt, &found);
    PG_ASSERT(found && d->map[i] == e);
    map_remove_slot(d, i);
    memset(x, 0, sizeof *x);
    x->state = E_FREE;
    x->slot = -1;
    x->next = d->free_ent;
    d->free_ent = e;
}

/* Removes the least recently used file. 0, or -1 when there is none. */
static int evict_one(pg_pcd *d) {
    int32_t e = d->lru_head;
    if (e < 0) return -1;
    char name[NAME_LEN];
    key_name(name, d->ents[e].hash, d->ents[e].salt);
    unlinkat(d->dir_fd, name, 0);
    ent_free(d, e);
    d->st.files_evicted++;
    return 0;
}

/* A new entry for a key not in the index (evicts a file when the table is
 * full); -1 when none can be had. */
static int32_t ent_new(pg_pcd *d, uint64_t hash, uint64_t salt, int state) {
    if (d->free_ent < 0 && evict_one(d) < 0) return -1;
    int32_t e = d->free_ent;
    d->free_ent = d->ents[e].next;
    pcd_ent *x = &d->ents[e];
    memset(x, 0, sizeof *x);
    x->hash = hash;
    x->salt = salt;
    x->state = (uint8_t)state;
    x->slot = -1;
    x->prev = x->next = -1;
    int found;
    uint64_t i = map_find(d, hash, salt, &found);
    PG_ASSERT(!found);
    d->map[i] = e;
    return e;
}

/* Entry e becomes a file of `bytes`, most recently used; older files go
 * while the bound is exceeded. */
static void ent_to_disk(pg_pcd *d, int32_t e, uint64_t bytes) {
    while (d->st.bytes + bytes > d->max_bytes && evict_one(d) == 0) {
    }
    d->ents[e].state = E_DISK;
    d->ents[e].bytes = bytes;
    d->ents[e].slot = -1;
    lru_push_tail(d, e);
    d->st.bytes += bytes;
    d->st.files++;
}

/* ------------------------------------------------------------- headers */

#define PAYLOAD_SEED 0x7061796c6f616431ULL
#define HEADER_SEED 0x6865616465723031ULL

/* Header and tokens for (hash, parent, salt, tokens); sums left 0. */
static void hdr_fill(const pg_pcd *d, uint8_t *buf, uint64_t hash, uint64_t parent, uint64_t salt,
                     const int32_t *tokens) {
    pcd_hdr h;
    memset(&h, 0, sizeof h);
    memcpy(h.magic, PCD_MAGIC, 8);
    h.version = PCD_VERSION;
    h.header_bytes = (uint32_t)d->header_bytes;
    h.model_id[0] = d->g.model_id[0];
    h.model_id[1] = d->g.model_id[1];
    h.kv_type = d->g.kv_type;
    h.block_size = d->g.block_size;
    h.n_layer = d->g.n_layer;
    h.n_head_kv = d->g.n_head_kv;
    h.head_dim = d->g.head_dim;
    h.endian = PCD_ENDIAN;
    h.hash = hash;
    h.parent = parent;
    h.salt = salt;
    h.payload_bytes = d->g.payload_bytes;
    h.compute_level = d->g.compute_level;
    memcpy(buf, &h, sizeof h);
    memcpy(buf + PCD_FIXED, tokens, (size_t)d->g.block_size * sizeof(int32_t));
}

/* Fills the two checksums of a header whose payload follows at payload. */
static void hdr_seal(const pg_pcd *d, uint8_t *buf, const void *payload) {
    uint64_t ps = pg_pcd_checksum(payload, d->g.payload_bytes, PAYLOAD_SEED), zero = 0;
    memcpy(buf + offsetof(pcd_hdr, payload_sum), &ps, 8);
    memcpy(buf + offsetof(pcd_hdr, header_sum), &zero, 8);
    uint64_t hs = pg_pcd_checksum(buf, d->header_bytes, HEADER_SEED);
    memcpy(buf + offsetof(pcd_hdr, header_sum), &hs, 8);
}

/* 0 when buf (header_bytes read from a file named for hash, salt) is a
 * header of this model, KV type, geometry and compute level, checksummed,
 * and its hash follows from its parent, tokens and salt. Clobbers the
 * header_sum field (restored). */
static int hdr_check(const pg_pcd *d, uint8_t *buf, uint64_t hash, uint64_t salt) {
    pcd_hdr h;
    memcpy(&h, buf, sizeof h);
    if (memcmp(h.magic, PCD_MAGIC, 8) || h.version != PCD_VERSION || h.endian != PCD_ENDIAN ||
        h.header_bytes != d->header_bytes)
        return -1;
    if (h.model_id[0] != d->g.model_id[0] || h.model_id[1] != d->g.model_id[1] || h.kv_type != d->g.kv_type ||
        h.block_size != d->g.block_size || h.n_layer != d->g.n_layer || h.n_head_kv != d->g.n_head_kv ||
        h.head_dim != d->g.head_dim || h.compute_level != d->g.compute_level ||
        h.payload_bytes != d->g.payload_bytes)
        return -1;
    if (h.hash != hash || h.salt != salt) return -1;
    uint64_t zero = 0;
    memcpy(buf + offsetof(pcd_hdr, header_sum), &zero, 8);
    uint64_t hs = pg_pcd_checksum(buf, d->header_bytes, HEADER_SEED);
    memcpy(buf + offsetof(pcd_hdr, header_sum), &h.header_sum, 8);
    if (hs != h.header_sum) return -1;
    /* buf is malloc'd, so the tokens at offset 128 are aligned */
    uint64_t want = pg_kvb_hash(h.parent, (const int32_t *)(const void *)(buf + PCD_FIXED),
                                (int32_t)d->g.block_size, salt);
    return want == hash ? 0 : -1;
}

/* --------------------------------------------------------------- files */

static int write_all(int fd, const void *p, size_t n) {
    const uint8_t *b = p;
    while (n) {
        ssize_t w = write(fd, b, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -1;
        b += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Writes header + payload to a temp file and renames it to the key's
 * name. 0 or -1 (errno kept; the temp file removed). */
static int write_file(pg_pcd *d, const uint8_t *hdr, const void *payload, uint64_t hash, uint64_t salt) {
    char tmp[64], name[NAME_LEN];
    snprintf(tmp, sizeof tmp, ".tmp-%ld-%u", (long)getpid(), atomic_fetch_add(&d->tmp_seq, 1u));
    key_name(name, hash, salt);
    int fd = openat(d->dir_fd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) return -1;
    int ok = write_all(fd, hdr, d->header_bytes) == 0 && write_all(fd, payload, d->g.payload_bytes) == 0;
    int e = errno;
    if (close(fd) < 0 && ok) ok = 0, e = errno;
    if (ok && renameat(d->dir_fd, tmp, d->dir_fd, name) < 0) ok = 0, e = errno;
    if (!ok) {
        unlinkat(d->dir_fd, tmp, 0);
        errno = e;
        return -1;
    }
    return 0;
}

/* After a write of entry e (PENDING): a file, or freed on failure. */
static void finish_write(pg_pcd *d, int32_t e, int rc, int err_no) {
    if (rc < 0) {
        d->st.write_errors++;
        if (!d->warned) {
            d->warned = 1;
            PG_WARN("prefix cache: cannot write to %s: %s (further errors are only counted)", d->dir,
                    strerror(err_no));
        }
        ent_free(d, e);
        return;
    }
    d->st.files_written++;
    d->st.bytes_written += d->file_bytes;
    ent_to_disk(d, e, d->file_bytes);
}

static void *writer_main(void *arg) {
    pg_pcd *d = arg;
    pthread_mutex_lock(&d->mu);
    for (;;) {
        while (!d->ring_n && !d->stop) pthread_cond_wait(&d->cv_work, &d->mu);
        if (!d->ring_n) break;
        int32_t sid = d->ring[d->ring_head];
        d->ring_head = (d->ring_head + 1) % d->n_slots;
        d->ring_n--;
        pcd_slot *sl = &d->slots[sid];
        sl->state = S_WRITING;
        d->n_writing++;
        int32_t e = sl->ent;
        uint64_t hash = d->ents[e].hash, salt = d->ents[e].salt;
        pthread_mutex_unlock(&d->mu);
        /* loads may read this slot's parent, tokens and payload meanwhile;
         * only the two sum fields change here */
        hdr_seal(d, sl->buf, sl->buf + d->header_bytes);
        int rc = write_file(d, sl->buf, sl->buf + d->header_bytes, hash, salt);
        int en = errno;
        pthread_mutex_lock(&d->mu);
        finish_write(d, e, rc, en);
        sl->state = S_FREE;
        sl->ent = -1;
        d->n_writing--;
        pthread_cond_broadcast(&d->cv_done);
    }
    pthread_mutex_unlock(&d->mu);
    return NULL;
}

/* ---------------------------------------------------------- open/close */

/* Reads DIR/salt.key (8 bytes) or creates it (random, temp + rename). */
static int salt_key_init(pg_pcd *d, pg_error *err) {
    int fd = openat(d->dir_fd, "salt.key", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        uint64_t k = 0;
        struct stat sb;
        int ok = fstat(fd, &sb) == 0 && sb.st_size == 8 && read_full(fd, &k, 8, 0) == 0;
        close(fd);
        if (ok) {
            d->salt_key = k;
            return 0;
        }
        PG_WARN("prefix cache: %s/salt.key is damaged; making a new key (old files will not match)", d->dir);
    }
    uint64_t k;
    if (getrandom(&k, sizeof k, 0) != (ssize_t)sizeof k)
        return pg_error_set(err, PG_EIO, "prefix cache: no random bytes for the salt key");
    fd = openat(d->dir_fd, ".tmp-key", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    int ok = fd >= 0 && write_all(fd, &k, 8) == 0 && fsync(fd) == 0;
    if (fd >= 0 && close(fd) < 0) ok = 0;
    if (!ok || renameat(d->dir_fd, ".tmp-key", d->dir_fd, "salt.key") < 0) {
        unlinkat(d->dir_fd, ".tmp-key", 0);
        return pg_error_set(err, PG_EIO, "prefix cache: cannot write %s/salt.key: %s", d->dir, strerror(errno));
    }
    d->salt_key = k;
    return 0;
}

static int parse_name(const char *nm, uint64_t *hash, uint64_t *salt) {
    if (strlen(nm) != NAME_LEN - 1 || nm[16] != '-' || strcmp(nm + 33, ".kvb")) return -1;
    uint64_t v[2] = {0, 0};
    for (int k = 0; k < 2; k++)
        for (int i = 0; i < 16; i++) {
            char c = nm[k * 17 + i];
            int x = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
            if (x < 0) return -1;
            v[k] = v[k] << 4 | (uint64_t)x;
        }
    *hash = v[0];
    *salt = v[1];
    return 0;
}

typedef struct {
    int64_t mtime_ns;
    uint64_t hash, salt;
} scan_item;

static int scan_cmp(const void *a, const void *b) {
    const scan_item *x = a, *y = b;
    return x->mtime_ns < y->mtime_ns ? -1 : x->mtime_ns > y->mtime_ns;
}

/* Index the valid files (oldest first into the LRU list), remove temp
 * files and invalid block files; enforce the bound. */
static int scan_dir(pg_pcd *d, pg_error *err) {
    int fd2 = dup(d->dir_fd);
    DIR *dd = fd2 >= 0 ? fdopendir(fd2) : NULL;
    if (!dd) {
        if (fd2 >= 0) close(fd2);
        return pg_error_set(err, PG_EIO, "prefix cache: cannot list %s: %s", d->dir, strerror(errno));
    }
    rewinddir(dd);
    scan_item *items = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;
    int rc = 0;
    while ((de = readdir(dd))) {
        const char *nm = de->d_name;
        if (!strncmp(nm, ".tmp-", 5)) {
            unlinkat(d->dir_fd, nm, 0);
            continue;
        }
        uint64_t hash, salt;
        if (parse_name(nm, &hash, &salt) < 0) continue; /* not ours: left alone */
        struct stat sb;
        if (fstatat(d->dir_fd, nm, &sb, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(sb.st_mode)) continue;
        int ok = (uint64_t)sb.st_size == d->file_bytes;
        if (ok) {
            int fd = openat(d->dir_fd, nm, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
            ok = fd >= 0 && read_full(fd, d->hbuf, d->header_bytes, 0) == 0 && hdr_check(d, d->hbuf, hash, salt) == 0;
            if (fd >= 0) close(fd);
        }
        if (!ok) {
            unlinkat(d->dir_fd, nm, 0);
            d->st.files_invalid++;
            continue;
        }
        if (n == cap) {
            size_t nc = cap ? cap * 2 : 256;
            scan_item *ni = realloc(items, nc * sizeof *ni);
            if (!ni) {
                rc = pg_error_set(err, PG_ENOMEM, "out of memory");
                break;
            }
            items = ni;
            cap = nc;
        }
        items[n].mtime_ns = (int64_t)sb.st_mtim.tv_sec * 1000000000 + sb.st_mtim.tv_nsec;
        items[n].hash = hash;
        items[n].salt = salt;
        n++;
    }
    closedir(dd);
    if (rc == 0) {
        qsort(items, n, sizeof *items, scan_cmp);
        for (size_t i = 0; i < n; i++) {
            int32_t e = ent_new(d, items[i].hash, items[i].salt, E_PENDING);
            if (e < 0) break;
            ent_to_disk(d, e, d->file_bytes);
        }
    }
    free(items);
    return rc;
}

int pg_pcd_open(const char *dir, uint64_t max_bytes, const pg_pcd_geom *g, int32_t queue_slots, pg_pcd **out,
                pg_error *err) {
    *out = NULL;
    if (!dir || !*dir) return pg_error_set(err, PG_EINVAL, "prefix cache: empty directory name");
    if (g->block_size < 1 || g->block_size > (1u << 16) || g->payload_bytes == 0 ||
        g->payload_bytes > ((uint64_t)1 << 36) || queue_slots < 1 || queue_slots > 4096)
        return pg_error_set(err, PG_EINVAL, "prefix cache: bad block geometry");
    size_t header_bytes = PCD_FIXED + 4 * (size_t)g->block_size;
    uint64_t file_bytes = header_bytes + g->payload_bytes;
    if (max_bytes < file_bytes)
        return pg_error_set(err, PG_EINVAL, "prefix cache: %llu bytes of disk hold no block file (%llu bytes)",
                            (unsigned long long)max_bytes, (unsigned long long)file_bytes);
    if (mkdir(dir, 0700) < 0 && errno != EEXIST)
        return pg_error_set(err, PG_EIO, "prefix cache: cannot create %s: %s", dir, strerror(errno));
    pg_pcd *d = calloc(1, sizeof *d);
    if (!d) return pg_error_set(err, PG_ENOMEM, "out of memory");
    d->dir_fd = d->lock_fd = -1;
    d->max_bytes = max_bytes;
    d->g = *g;
    d->header_bytes = header_bytes;
    d->file_bytes = (size_t)file_bytes;
    pthread_mutex_init(&d->mu, NULL);
    pthread_mutex_init(&d->io_mu, NULL);
    pthread_cond_init(&d->cv_work, NULL);
    pthread_cond_init(&d->cv_done, NULL);
    int rc;
    d->dir = strdup(dir);
    if (!d->dir) {
        rc = pg_error_set(err, PG_ENOMEM, "out of memory");
        goto fail;
    }
    d->dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (d->dir_fd < 0) {
        rc = pg_error_set(err, PG_EIO, "prefix cache: cannot open %s: %s", dir, strerror(errno));
        goto fail;
    }
    d->lock_fd = openat(d->dir_fd, "lock", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (d->lock_fd < 0) {
        rc = pg_error_set(err, PG_EIO, "prefix cache: cannot create %s/lock: %s", dir, strerror(errno));
        goto fail;
    }
    if (flock(d->lock_fd, LOCK_EX | LOCK_NB) < 0) {
        rc = pg_error_set(err, PG_EBUSY, "prefix cache: %s is in use by another process", dir);
        goto fail;
    }
    if ((rc = salt_key_init(d, err)) < 0) goto fail;
    uint64_t me = max_bytes / file_bytes + (uint64_t)queue_slots + 16;
    if (me > (1u << 22)) me = 1u << 22;
    d->max_ents = (int32_t)me;
    int bits = 4;
    while (((uint64_t)1 << bits) < 2 * me) bits++;
    d->map_bits = bits;
    d->map_mask = ((uint64_t)1 << bits) - 1;
    d->ents = calloc((size_t)me, sizeof *d->ents);
    d->map = malloc(((size_t)1 << bits) * sizeof *d->map);
    d->n_slots = queue_slots;
    d->slots = calloc((size_t)queue_slots, sizeof *d->slots);
    d->ring = calloc((size_t)queue_slots, sizeof *d->ring);
    d->hbuf = malloc(header_bytes);
    if (!d->ents || !d->map || !d->slots || !d->ring || !d->hbuf) {
        rc = pg_error_set(err, PG_ENOMEM, "prefix cache: out of memory for the index");
        goto fail;
    }
    for (int32_t i = 0; i < queue_slots; i++) {
        d->slots[i].ent = -1;
        if (!(d->slots[i].buf = malloc(d->file_bytes))) {
            rc = pg_error_set(err, PG_ENOMEM, "prefix cache: out of memory for the write queue");
            goto fail;
        }
    }
    memset(d->map, 0xff, ((size_t)1 << bits) * sizeof *d->map);
    for (int32_t i = 0; i < d->max_ents; i++) {
        d->ents[i].slot = -1;
        d->ents[i].next = i + 1 < d->max_ents ? i + 1 : -1;
    }
    d->free_ent = 0;
    d->lru_head = d->lru_tail = -1;
    if ((rc = scan_dir(d, err)) < 0) goto fail;
    if (pthread_create(&d->th, NULL, writer_main, d) != 0) {
        rc = pg_error_set(err, PG_ENOMEM, "prefix cache: cannot start the writer thread");
        goto fail;
    }
    d->has_thread = 1;
    PG_INFO("prefix cache on disk: %s, %llu files (%.1f MiB) of %.1f MiB, %llu invalid removed, %zu bytes per block",
            dir, (unsigned long long)d->st.files, (double)d->st.bytes / 1048576.0, (double)max_bytes / 1048576.0,
            (unsigned long long)d->st.files_invalid, d->file_bytes);
    *out = d;
    return 0;
fail:
    pg_pcd_close(d);
    return rc;
}

void pg_pcd_flush(pg_pcd *d) {
    pthread_mutex_lock(&d->mu);
    while (d->has_thread && (d->ring_n || d->n_writing)) pthread_cond_wait(&d->cv_done, &d->mu);
    pthread_mutex_unlock(&d->mu);
}

void pg_pcd_close(pg_pcd *d) {
    if (!d) return;
    if (d->has_thread) {
        pthread_mutex_lock(&d->mu);
        d->stop = 1; /* the writer drains the queue before it exits */
        pthread_cond_broadcast(&d->cv_work);
        pthread_mutex_unlock(&d->mu);
        pthread_join(d->th, NULL);
    }
    if (d->dir_fd >= 0) {
        fsync(d->dir_fd);
        close(d->dir_fd);
    }
    if (d->lock_fd >= 0) close(d->lock_fd);
    if (d->slots)
        for (int32_t i = 0; i < d->n_slots; i++) free(d->slots[i].buf);
    free(d->slots);
    free(d->ring);
    free(d->ents);
    free(d->map);
    free(d->hbuf);
    free(d->dir);
    pthread_mutex_destroy(&d->mu);
    pthread_mutex_destroy(&d->io_mu);
    pthread_cond_destroy(&d->cv_work);
    pthread_cond_destroy(&d->cv_done);
    free(d);
}

uint64_t pg_pcd_salt_key(const pg_pcd *d) { return d->salt_key; }

pg_pcd_stats pg_pcd_get_stats(pg_pcd *d) {
    pthread_mutex_lock(&d->mu);
    pg_pcd_stats s = d->st;
    pthread_mutex_unlock(&d->mu);
    return s;
}

int pg_pcd_has(pg_pcd *d, uint64_t hash, uint64_t salt) {
    pthread_mutex_lock(&d->mu);
    int r = ent_find(d, hash, salt) >= 0;
    pthread_mutex_unlock(&d->mu);
    return r;
}

/* ---------------------------------------------------------- write / load */

void *pg_pcd_put_begin(pg_pcd *d, uint64_t hash, uint64_t parent, uint64_t salt, const int32_t *tokens) {
    pthread_mutex_lock(&d->mu);
    void *ret = NULL;
    if (ent_find(d, hash, salt) >= 0) goto out;
    int32_t sid = -1;
    for (int32_t i = 0; i < d->n_slots; i++)
        if (d->slots[i].state == S_FREE) {
            sid = i;
            break;
        }
    int32_t e = sid >= 0 ? ent_new(d, hash, salt, E_PENDING) : -1;
    if (e < 0) {
        d->st.dropped++;
        goto out;
    }
    d->ents[e].slot = sid;
    d->slots[sid].state = S_FILLING;
    d->slots[sid].ent = e;
    hdr_fill(d, d->slots[sid].buf, hash, parent, salt, tokens);
    ret = d->slots[sid].buf + d->header_bytes;
out:
    pthread_mutex_unlock(&d->mu);
    return ret;
}

void pg_pcd_put_commit(pg_pcd *d, void *payload) {
    pthread_mutex_lock(&d->mu);
    int32_t sid = -1;
    for (int32_t i = 0; i < d->n_slots; i++)
        if (d->slots[i].buf + d->header_bytes == payload) sid = i;
    PG_ASSERT(sid >= 0 && d->slots[sid].state == S_FILLING);
    d->slots[sid].state = S_QUEUED;
    d->ring[(d->ring_head + d->ring_n) % d->n_slots] = sid;
    d->ring_n++;
    pthread_cond_signal(&d->cv_work);
    pthread_mutex_unlock(&d->mu);
}

int pg_pcd_write(pg_pcd *d, uint64_t hash, uint64_t parent, uint64_t salt, const int32_t *tokens,
                 const void *payload) {
    pthread_mutex_lock(&d->mu);
    if (ent_find(d, hash, salt) >= 0) {
        pthread_mutex_unlock(&d->mu);
        return 1;
    }
    int32_t e = ent_new(d, hash, salt, E_PENDING); /* slot -1: loads miss it until written */
    pthread_mutex_unlock(&d->mu);
    if (e < 0) return PG_ENOMEM;
    pthread_mutex_lock(&d->io_mu);
    hdr_fill(d, d->hbuf, hash, parent, salt, tokens);
    hdr_seal(d, d->hbuf, payload);
    int rc = write_file(d, d->hbuf, payload, hash, salt);
    int en = errno;
    pthread_mutex_unlock(&d->io_mu);
    pthread_mutex_lock(&d->mu);
    finish_write(d, e, rc, en);
    pthread_mutex_unlock(&d->mu);
    return rc < 0 ? PG_EIO : 0;
}

/* Drops the index entry of a file found invalid and removes the file. */
static void drop_invalid(pg_pcd *d, uint64_t hash, uint64_t salt, const char *name) {
    pthread_mutex_lock(&d->mu);
    int32_t e = ent_find(d, hash, salt);
    if (e >= 0 && d->ents[e].state == E_DISK) {
        unlinkat(d->dir_fd, name, 0);
        ent_free(d, e);
    }
    d->st.files_invalid++;
    pthread_mutex_unlock(&d->mu);
}

int pg_pcd_load(pg_pcd *d, uint64_t hash, uint64_t parent, uint64_t salt, const int32_t *tokens, void *payload) {
    const size_t tok_bytes = (size_t)d->g.block_size * sizeof(int32_t);
    pthread_mutex_lock(&d->mu);
    int32_t e = ent_find(d, hash, salt);
    if (e < 0 || (d->ents[e].state == E_PENDING && d->ents[e].slot < 0)) {
        d->st.misses++;
        pthread_mutex_unlock(&d->mu);
        return PG_ENOTFOUND;
    }
    if (d->ents[e].state == E_PENDING) { /* queued or being written: the slot's bytes are final */
        const uint8_t *buf = d->slots[d->ents[e].slot].buf;
        uint64_t par;
        memcpy(&par, buf + offsetof(pcd_hdr, parent), 8);
        int same = par == parent && memcmp(buf + PCD_FIXED, tokens, tok_bytes) == 0;
        if (same) {
            memcpy(payload, buf + d->header_bytes, d->g.payload_bytes);
            d->st.hits++;
        } else {
            d->st.misses++;
        }
        pthread_mutex_unlock(&d->mu);
        return same ? 0 : PG_ENOTFOUND;
    }
    lru_remove(d, e); /* most recently used now */
    lru_push_tail(d, e);
    pthread_mutex_unlock(&d->mu);

    char name[NAME_LEN];
    key_name(name, hash, salt);
    pthread_mutex_lock(&d->io_mu);
    int rc = 0;
    int fd = openat(d->dir_fd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) { /* removed behind our back (or evicted meanwhile) */
        pthread_mutex_unlock(&d->io_mu);
        pthread_mutex_lock(&d->mu);
        e = ent_find(d, hash, salt);
        if (e >= 0 && d->ents[e].state == E_DISK) ent_free(d, e);
        d->st.misses++;
        pthread_mutex_unlock(&d->mu);
        return PG_ENOTFOUND;
    }
    struct stat sb;
    uint64_t ps = 0;
    if (fstat(fd, &sb) < 0 || (uint64_t)sb.st_size != d->file_bytes ||
        read_full(fd, d->hbuf, d->header_bytes, 0) < 0 || hdr_check(d, d->hbuf, hash, salt) < 0 ||
        read_full(fd, payload, d->g.payload_bytes, d->header_bytes) < 0) {
        rc = PG_EINVAL;
    } else {
        memcpy(&ps, d->hbuf + offsetof(pcd_hdr, payload_sum), 8);
        if (pg_pcd_checksum(payload, d->g.payload_bytes, PAYLOAD_SEED) != ps) rc = PG_EINVAL;
    }
    if (rc == 0) {
        uint64_t par;
        memcpy(&par, d->hbuf + offsetof(pcd_hdr, parent), 8);
        /* a valid file of another chain under the same 64-bit key: a miss */
        if (par != parent || memcmp(d->hbuf + PCD_FIXED, tokens, tok_bytes) != 0) rc = PG_ENOTFOUND;
    }
    if (rc == 0) futimens(fd, NULL); /* mtime = last use: the LRU order across restarts */
    close(fd);
    pthread_mutex_unlock(&d->io_mu);
    if (rc == PG_EINVAL) {
        drop_invalid(d, hash, salt, name);
        return rc;
    }
    pthread_mutex_lock(&d->mu);
    if (rc == 0) {
        d->st.hits++;
        d->st.bytes_read += d->file_bytes;
    } else {
        d->st.misses++;
    }
    pthread_mutex_unlock(&d->mu);
    return rc;
}

/* ---------------------------------------------------------- invariants */

#define CHK(cond, ...)                                                           \
    do {                                                                         \
        if (!(cond)) {                                                           \
            if (msg && cap) snprintf(msg, cap, __VA_ARGS__);                     \
            pthread_mutex_unlock(&d->mu);                                        \
            return -1;                                                           \
        }                                                                        \
    } while (0)

int pg_pcd_check(pg_pcd *d, char *msg, size_t cap) {
    if (msg && cap) msg[0] = 0;
    pthread_mutex_lock(&d->mu);
    /* LRU list: DISK entries only, links consistent, bytes add up */
    uint64_t files = 0, bytes = 0;
    int32_t prev = -1;
    for (int32_t e = d->lru_head; e >= 0; e = d->ents[e].next) {
        CHK(e < d->max_ents, "lru: bad entry %d", e);
        CHK(d->ents[e].state == E_DISK, "lru: entry %d is not on disk", e);
        CHK(d->ents[e].prev == prev, "lru: bad prev link at %d", e);
        CHK(++files <= (uint64_t)d->max_ents, "lru: cycle");
        bytes += d->ents[e].bytes;
        prev = e;
    }
    CHK(prev == d->lru_tail, "lru: tail %d, last %d", d->lru_tail, prev);
    CHK(files == d->st.files && bytes == d->st.bytes, "lru: %llu files / %llu bytes, counters %llu / %llu",
        (unsigned long long)files, (unsigned long long)bytes, (unsigned long long)d->st.files,
        (unsigned long long)d->st.bytes);
    CHK(bytes <= d->max_bytes, "bytes %llu over the bound %llu", (unsigned long long)bytes,
        (unsigned long long)d->max_bytes);
    /* every used entry is reachable in the map under its key; free ones counted */
    int32_t used = 0, free_n = 0;
    for (int32_t e = 0; e < d->max_ents; e++) {
        const pcd_ent *x = &d->ents[e];
        if (x->state == E_FREE) continue;
        used++;
        CHK(ent_find(d, x->hash, x->salt) == e, "entry %d not reachable in the map", e);
        if (x->state == E_PENDING && x->slot >= 0)
            CHK(x->slot < d->n_slots && d->slots[x->slot].ent == e && d->slots[x->slot].state != S_FREE,
                "pending entry %d: slot %d does not hold it", e, x->slot);
    }
    for (int32_t e = d->free_ent; e >= 0; e = d->ents[e].next) {
        CHK(d->ents[e].state == E_FREE, "free list: entry %d in use", e);
        CHK(++free_n <= d->max_ents, "free list: cycle");
    }
    CHK(used + free_n == d->max_ents, "%d used + %d free entries != %d", used, free_n, d->max_ents);
    int32_t in_map = 0;
    for (uint64_t i = 0; i <= d->map_mask; i++) in_map += d->map[i] >= 0;
    CHK(in_map == used, "map holds %d entries, %d in use", in_map, used);
    /* slots: QUEUED ones are in the ring exactly once, busy ones own a PENDING entry */
    int32_t queued = 0, writing = 0;
    for (int32_t i = 0; i < d->n_slots; i++) {
        const pcd_slot *sl = &d->slots[i];
        if (sl->state == S_FREE) continue;
        CHK(sl->ent >= 0 && d->ents[sl->ent].state == E_PENDING && d->ents[sl->ent].slot == i,
            "slot %d: entry %d is not its pending entry", i, sl->ent);
        if (sl->state == S_QUEUED) {
            queued++;
            int seen = 0;
            for (int32_t r = 0; r < d->ring_n; r++) seen += d->ring[(d->ring_head + r) % d->n_slots] == i;
            CHK(seen == 1, "slot %d queued %d times in the ring", i, seen);
        }
        writing += sl->state == S_WRITING;
    }
    CHK(queued == d->ring_n && writing == d->n_writing, "ring %d vs %d queued, writing %d vs %d", d->ring_n, queued,
        d->n_writing, writing);
    pthread_mutex_unlock(&d->mu);
    return 0;
}
