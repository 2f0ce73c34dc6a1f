/* gguf.c - GGUF v2/v3 reader (see gguf.h).
 *
 * Design: one validating pass at open over the whole header (magic, version,
 * counts, every KV with nested arrays, every tensor info) using a bounds-
 * checked cursor; nothing is allocated before the amount is bounded by the
 * bytes left in the file (each KV needs >= 13 bytes, each tensor info >= 33,
 * each array element >= its minimal encoding), so memory stays O(file size)
 * whatever the counts claim. After open, accessors read validated bytes only.
 *
 * Memory: everything open allocates (struct, kv and tensor tables, names,
 * hash tables, string-array offset tables) lives in one pg_arena, freed by
 * pg_gguf_close. Keys and tensor names are found through open-addressing
 * hash tables (FNV-1a, power-of-two size >= 2n, linear probing) that also
 * detect duplicates at open. Every top-level string array gets a table of
 * pointers to its elements' u64 length fields, so pg_gguf_arr_str is O(1).
 *
 * All multi-byte reads go through memcpy (the file has no alignment
 * guarantees for metadata); the host is little-endian like the format. */
#include "gguf/gguf.h"

#include "base/arena.h"
#include "base/error.h"
#include "tensor/types.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "gguf.c assumes a little-endian host"
#endif

#define GGUF_DEFAULT_ALIGNMENT 32
#define GGUF_MAX_DEPTH 8        /* array nesting levels (top-level array = 1) */
#define GGUF_MAX_NAME 65535     /* key / tensor name bytes */
#define KV_MIN_BYTES 13         /* key len 8 + key >= 1 byte + type 4 (value not counted) */
#define TI_MIN_BYTES 33         /* name len 8 + 1 + n_dims 4 + dim 8 + type 4 + offset 8 */

typedef struct {
    const char *key;            /* NUL-terminated copy */
    pg_gguf_value v;
    const uint8_t **strs;       /* top-level string arrays: element i's length field */
} gguf_kv;

struct pg_gguf {
    pg_arena *arena;
    const uint8_t *base;
    size_t size;
    int mapped;                 /* base is our mmap */
    uint32_t version;
    size_t alignment;
    size_t data_off;
    int64_t n_kv;
    gguf_kv *kv;
    int64_t n_tensors;
    pg_gguf_tensor *tensors;
    uint32_t *kv_hash;          /* slot -> kv index + 1 (0 = empty) */
    size_t kv_hash_mask;
    uint32_t *t_hash;           /* slot -> tensor index + 1 */
    size_t t_hash_mask;
};

/* ---------------------------------------------------------------- helpers */

static uint64_t rd_u64(const uint8_t *p) {
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}
static uint32_t rd_u32(const uint8_t *p) {
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

static uint64_t fnv1a(const char *s, size_t n) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ull;
    }
    return h;
}

/* Printable, bounded copy of a name for messages (names come from the file
 * and may hold control bytes; messages must stay one line). cap >= 8. */
static const char *esc(char *buf, size_t cap, const void *s, size_t n) {
    const unsigned char *c = s;
    size_t o = 0, i;
    for (i = 0; i < n; i++) {
        bool plain = c[i] >= 0x20 && c[i] < 0x7f && c[i] != '\\';
        if (o + (plain ? 1 : 4) + 4 > cap) break; /* keep room for "..." + NUL */
        if (plain) buf[o++] = (char)c[i];
        else o += (size_t)snprintf(buf + o, cap - o, "\\x%02x", c[i]);
    }
    if (i < n) memcpy(buf + o, "...", 4);
    else buf[o] = 0;
    return buf;
}

static const char *vtype_names[PG_GGUF_NTYPES] = {
    "u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool", "string", "array", "u64", "i64", "f64",
};

size_t pg_gguf_vtype_size(pg_gguf_vtype t) {
    switch (t) {
    case PG_GGUF_U8: case PG_GGUF_I8: case PG_GGUF_BOOL: return 1;
    case PG_GGUF_U16: case PG_GGUF_I16: return 2;
    case PG_GGUF_U32: case PG_GGUF_I32: case PG_GGUF_F32: return 4;
    case PG_GGUF_U64: case PG_GGUF_I64: case PG_GGUF_F64: return 8;
    default: return 0;
    }
}

const char *pg_gguf_vtype_name(pg_gguf_vtype t) {
    return ((unsigned)t < PG_GGUF_NTYPES) ? vtype_names[t] : "unknown";
}

/* Smallest encoding of one element of type t (bounds counts before work). */
static size_t min_elem_bytes(pg_gguf_vtype t) {
    if (t == PG_GGUF_STRING) return 8;
    if (t == PG_GGUF_ARRAY) return 12;
    return pg_gguf_vtype_size(t);
}

/* ----------------------------------------------------------------- parser */

/* Bounds-checked reader. `ctx` names the item being parsed ("key 'x'",
 * "tensor 'y'"): formatted once per item, used only in messages. */
typedef struct {
    const uint8_t *b;
    size_t n, pos;
    pg_error *err;
    char ctx[128];
} cursor;

static size_t left(const cursor *c) { return c->n - c->pos; }

static int take(cursor *c, size_t k, const uint8_t **p, const char *what) {
    if (left(c) < k)
        return pg_error_set(c->err, PG_EFORMAT,
                            "%s%struncated file: %s needs %zu bytes at offset %zu, only %zu left", c->ctx,
                            c->ctx[0] ? ": " : "", what, k, c->pos, left(c));
    *p = c->b + c->pos;
    c->pos += k;
    return PG_OK;
}

static int take_u32(cursor *c, uint32_t *v, const char *what) {
    const uint8_t *p = NULL;
    int rc = take(c, 4, &p, what);
    if (rc) return rc;
    *v = rd_u32(p);
    return PG_OK;
}

static int take_u64(cursor *c, uint64_t *v, const char *what) {
    const uint8_t *p = NULL;
    int rc = take(c, 8, &p, what);
    if (rc) return rc;
    *v = rd_u64(p);
    return PG_OK;
}

/* A string: u64 length then bytes; *s points at the bytes. */
static int take_str(cursor *c, const uint8_t **s, uint64_t *len, const char *what) {
    const uint8_t *lf = NULL;
    int rc = take(c, 8, &lf, what);
    if (rc) return rc;
    *len = rd_u64(lf);
    if (*len > left(c))
        return pg_error_set(c->err, PG_EFORMAT,
                            "%s%s%s: string length %llu at offset %zu extends past end of file (%zu bytes left)",
                            c->ctx, c->ctx[0] ? ": " : "", what, (unsigned long long)*len, c->pos - 8,
                            left(c));
    *s = c->b + c->pos;
    c->pos += (size_t)*len;
    return PG_OK;
}

/* Validate one value of type t (< PG_GGUF_NTYPES) at the cursor; depth is
 * the array nesting of its container (0 for a KV's own value). */
static int parse_value(cursor *c, pg_gguf_vtype t, int depth, pg_gguf_value *out) {
    out->type = t;
    out->elem_type = 0;
    out->count = 0;
    out->p = c->b + c->pos;
    if (t == PG_GGUF_STRING) {
        const uint8_t *s = NULL;
        uint64_t n;
        return take_str(c, &s, &n, "string value");
    }
    if (t != PG_GGUF_ARRAY) {
        const uint8_t *p = NULL;
        return take(c, pg_gguf_vtype_size(t), &p, "scalar value");
    }
    if (depth + 1 > GGUF_MAX_DEPTH)
        return pg_error_set(c->err, PG_EFORMAT, "%s: arrays nested deeper than %d levels", c->ctx,
                            GGUF_MAX_DEPTH);
    uint32_t et;
    uint64_t count;
    int rc = take_u32(c, &et, "array element type");
    if (rc) return rc;
    if (et >= PG_GGUF_NTYPES)
        return pg_error_set(c->err, PG_EFORMAT, "%s: unknown array element type %u", c->ctx, et);
    if ((rc = take_u64(c, &count, "array count"))) return rc;
    size_t mb = min_elem_bytes((pg_gguf_vtype)et);
    if (count > left(c) / mb)
        return pg_error_set(c->err, PG_EFORMAT,
                            "%s: array of %llu %s elements at offset %zu extends past end of file (%zu bytes left)",
                            c->ctx, (unsigned long long)count, vtype_names[et], c->pos - 12, left(c));
    out->elem_type = (pg_gguf_vtype)et;
    out->count = count;
    out->p = c->b + c->pos;
    if (et == PG_GGUF_STRING) {
        for (uint64_t i = 0; i < count; i++) {
            const uint8_t *s = NULL;
            uint64_t n;
            if ((rc = take_str(c, &s, &n, "string array element"))) return rc;
        }
    } else if (et == PG_GGUF_ARRAY) {
        for (uint64_t i = 0; i < count; i++) {
            pg_gguf_value e;
            if ((rc = parse_value(c, PG_GGUF_ARRAY, depth + 1, &e))) return rc;
        }
    } else {
        c->pos += (size_t)count * mb; /* bounded above */
    }
    return PG_OK;
}

/* Encoded size of a validated value's data (for arrays: the elements). */
static size_t value_bytes(pg_gguf_value v) {
    if (v.type == PG_GGUF_STRING) return 8 + (size_t)rd_u64(v.p);
    if (v.type != PG_GGUF_ARRAY) return pg_gguf_vtype_size(v.type);
    size_t es = pg_gguf_vtype_size(v.elem_type);
    if (es) return (size_t)v.count * es;
    const uint8_t *p = v.p;
    for (uint64_t i = 0; i < v.count; i++) {
        pg_gguf_value e = {.type = v.elem_type};
        if (v.elem_type == PG_GGUF_ARRAY) {
            e.elem_type = (pg_gguf_vtype)rd_u32(p);
            e.count = rd_u64(p + 4);
            e.p = p + 12;
            p = e.p + value_bytes(e);
        } else {
            e.p = p;
            p += value_bytes(e);
        }
    }
    return (size_t)(p - v.p);
}

/* Hash insert; returns 0 if inserted, 1 if the name already exists. */
static int hash_insert(uint32_t *tab, size_t mask, const char *const *names_of, size_t stride,
                       const char *name, size_t len, uint32_t idx) {
    size_t h = (size_t)fnv1a(name, len) & mask;
    for (;;) {
        uint32_t s = tab[h];
        if (!s) {
            tab[h] = idx + 1;
            return 0;
        }
        const char *other = *(const char *const *)((const char *)names_of + (size_t)(s - 1) * stride);
        if (!strcmp(other, name)) return 1;
        h = (h + 1) & mask;
    }
}

static int64_t hash_find(const uint32_t *tab, size_t mask, const char *const *names_of, size_t stride,
                         const char *name) {
    if (!tab || !name) return -1;
    size_t h = (size_t)fnv1a(name, strlen(name)) & mask;
    for (;;) {
        uint32_t s = tab[h];
        if (!s) return -1;
        const char *other = *(const char *const *)((const char *)names_of + (size_t)(s - 1) * stride);
        if (!strcmp(other, name)) return (int64_t)(s - 1);
        h = (h + 1) & mask;
    }
}

static uint32_t *hash_new(pg_arena *a, int64_t n, size_t *mask) {
    size_t cap = 16;
    while (cap < (size_t)n * 2) cap *= 2;
    *mask = cap - 1;
    return pg_arena_calloc(a, cap, sizeof(uint32_t));
}

/* A name (key or tensor) at the cursor: checked and copied. */
static int take_name(cursor *c, pg_arena *a, const char *what, char **out) {
    const uint8_t *s = NULL;
    uint64_t n;
    int rc = take_str(c, &s, &n, what);
    if (rc) return rc;
    char eb[96];
    if (n == 0) return pg_error_set(c->err, PG_EFORMAT, "%s: %s is empty", c->ctx, what);
    if (n > GGUF_MAX_NAME)
        return pg_error_set(c->err, PG_EFORMAT, "%s: %s is %llu bytes long (limit %d)", c->ctx, what,
                            (unsigned long long)n, GGUF_MAX_NAME);
    if (memchr(s, 0, (size_t)n))
        return pg_error_set(c->err, PG_EFORMAT, "%s: %s '%s' contains a NUL byte", c->ctx, what,
                            esc(eb, sizeof eb, s, (size_t)n));
    *out = pg_arena_strndup(a, (const char *)s, (size_t)n);
    if (!*out) return pg_error_set(c->err, PG_ENOMEM, "%s: out of memory", c->ctx);
    return PG_OK;
}

static int parse_kvs(pg_gguf *g, cursor *c) {
    char eb[96];
    for (int64_t i = 0; i < g->n_kv; i++) {
        gguf_kv *kv = &g->kv[i];
        char *key;
        snprintf(c->ctx, sizeof c->ctx, "kv %lld", (long long)i);
        int rc = take_name(c, g->arena, "key", &key);
        if (rc) return rc;
        kv->key = key;
        snprintf(c->ctx, sizeof c->ctx, "key '%s'", esc(eb, sizeof eb, key, strlen(key)));
        if (hash_insert(g->kv_hash, g->kv_hash_mask, &g->kv[0].key, sizeof(gguf_kv), key, strlen(key),
                        (uint32_t)i))
            return pg_error_set(c->err, PG_EFORMAT, "duplicate key '%s' (kv %lld)", eb, (long long)i);
        uint32_t t;
        if ((rc = take_u32(c, &t, "value type"))) return rc;
        if (t >= PG_GGUF_NTYPES) return pg_error_set(c->err, PG_EFORMAT, "%s: unknown value type %u", c->ctx, t);
        if ((rc = parse_value(c, (pg_gguf_vtype)t, 0, &kv->v))) return rc;
        if (kv->v.type == PG_GGUF_ARRAY && kv->v.elem_type == PG_GGUF_STRING && kv->v.count > 0) {
            /* count <= bytes/8 was checked, so this allocation is bounded. */
            kv->strs = pg_arena_alloc(g->arena, (size_t)kv->v.count * sizeof(*kv->strs));
            if (!kv->strs) return pg_error_set(c->err, PG_ENOMEM, "%s: out of memory", c->ctx);
            const uint8_t *p = kv->v.p;
            for (uint64_t j = 0; j < kv->v.count; j++) {
                kv->strs[j] = p;
                p += 8 + (size_t)rd_u64(p);
            }
        }
    }
    c->ctx[0] = 0;
    return PG_OK;
}

static int parse_alignment(pg_gguf *g, pg_error *err) {
    g->alignment = GGUF_DEFAULT_ALIGNMENT;
    int64_t i = pg_gguf_find_key(g, "general.alignment");
    if (i < 0) return PG_OK;
    pg_gguf_value v = g->kv[i].v;
    if (v.type != PG_GGUF_U32)
        return pg_error_set(err, PG_EFORMAT, "key 'general.alignment': expected u32, found %s",
                            pg_gguf_vtype_name(v.type));
    uint32_t a = rd_u32(v.p);
    if (a == 0 || (a & (a - 1)))
        return pg_error_set(err, PG_EFORMAT,
                            "key 'general.alignment': %u is not a nonzero power of two", a);
    g->alignment = a;
    return PG_OK;
}

static int parse_tensor_infos(pg_gguf *g, cursor *c) {
    char eb[96];
    for (int64_t i = 0; i < g->n_tensors; i++) {
        pg_gguf_tensor *t = &g->tensors[i];
        char *name;
        snprintf(c->ctx, sizeof c->ctx, "tensor %lld", (long long)i);
        int rc = take_name(c, g->arena, "name", &name);
        if (rc) return rc;
        t->name = name;
        const char *nm = esc(eb, sizeof eb, name, strlen(name));
        snprintf(c->ctx, sizeof c->ctx, "tensor '%s'", nm);
        if (hash_insert(g->t_hash, g->t_hash_mask, &g->tensors[0].name, sizeof(pg_gguf_tensor), name,
                        strlen(name), (uint32_t)i))
            return pg_error_set(c->err, PG_EFORMAT, "duplicate tensor name '%s' (tensor %lld)", nm,
                                (long long)i);
        if ((rc = take_u32(c, &t->n_dims, "n_dims"))) return rc;
        if (t->n_dims == 0 || t->n_dims > PG_GGUF_MAX_DIMS)
            return pg_error_set(c->err, PG_EFORMAT, "tensor '%s': n_dims %u is out of range 1..%d", nm,
                                t->n_dims, PG_GGUF_MAX_DIMS);
        uint64_t nel = 1;
        for (int d = 0; d < PG_GGUF_MAX_DIMS; d++) t->ne[d] = 1;
        for (uint32_t d = 0; d < t->n_dims; d++) {
            uint64_t v;
            if ((rc = take_u64(c, &v, "dim"))) return rc;
            if (v == 0 || v > (uint64_t)INT64_MAX)
                return pg_error_set(c->err, PG_EFORMAT, "tensor '%s': dim %u is %lld (must be > 0)", nm, d,
                                    (long long)v);
            if (__builtin_mul_overflow(nel, v, &nel) || nel > (uint64_t)INT64_MAX)
                return pg_error_set(c->err, PG_EFORMAT, "tensor '%s': element count overflows at dim %u", nm,
                                    d);
            t->ne[d] = (int64_t)v;
        }
        uint32_t type;
        if ((rc = take_u32(c, &type, "type"))) return rc;
        const pg_type_traits *tr = type < PG_TYPE_COUNT ? pg_type_get_level((int)type, PG_CPU_SCALAR) : NULL;
        if (!tr)
            return pg_error_set(c->err, PG_EUNSUPPORTED, "tensor '%s': unknown tensor type %u", nm, type);
        t->type = (int)type;
        if (t->ne[0] % tr->blck_size)
            return pg_error_set(c->err, PG_EFORMAT,
                                "tensor '%s': row length %lld is not a multiple of the %s block size %d", nm,
                                (long long)t->ne[0], tr->name, tr->blck_size);
        size_t nb = pg_row_size((int)type, t->ne[0]);
        bool ovf = nb == SIZE_MAX;
        for (int d = 1; d < PG_GGUF_MAX_DIMS && !ovf; d++) ovf = pg_mul_size(nb, (size_t)t->ne[d], &nb) != 0;
        if (ovf) return pg_error_set(c->err, PG_EFORMAT, "tensor '%s': byte size overflows", nm);
        t->nbytes = nb;
        if ((rc = take_u64(c, &t->offset, "offset"))) return rc;
    }
    c->ctx[0] = 0;
    return PG_OK;
}

/* Offsets and sizes against the data section (needs the header end). */
static int check_tensor_data(pg_gguf *g, pg_error *err) {
    char eb[96];
    for (int64_t i = 0; i < g->n_tensors; i++) {
        pg_gguf_tensor *t = &g->tensors[i];
        const char *nm = esc(eb, sizeof eb, t->name, strlen(t->name));
        if (t->offset % g->alignment)
            return pg_error_set(err, PG_EFORMAT,
                                "tensor '%s': offset %llu is not a multiple of the alignment %zu", nm,
                                (unsigned long long)t->offset, g->alignment);
        uint64_t start, end;
        if (__builtin_add_overflow((uint64_t)g->data_off, t->offset, &start) ||
            __builtin_add_overflow(start, t->nbytes, &end) || end > g->size)
            return pg_error_set(err, PG_EFORMAT,
                                "tensor '%s': data [offset %llu + size %llu] extends past end of file "
                                "(data section at %zu, file size %zu)",
                                nm, (unsigned long long)t->offset, (unsigned long long)t->nbytes,
                                g->data_off, g->size);
        t->data = g->base + start;
    }
    return PG_OK;
}

static int parse(pg_gguf *g, pg_error *err) {
    cursor c = {.b = g->base, .n = g->size, .pos = 0, .err = err};
    const uint8_t *p = NULL;
    int rc = take(&c, 4, &p, "magic");
    if (rc) return rc;
    if (memcmp(p, "GGUF", 4)) {
        char eb[32];
        return pg_error_set(err, PG_EFORMAT, "not a GGUF file (bad magic '%s')", esc(eb, sizeof eb, p, 4));
    }
    rc = take_u32(&c, &g->version, "version");
    if (rc) return rc;
    if (g->version == 1)
        return pg_error_set(err, PG_EUNSUPPORTED, "GGUF version 1 is not supported (only versions 2 and 3)");
    if (g->version != 2 && g->version != 3) {
        uint32_t v = g->version;
        uint32_t sw = __builtin_bswap32(v);
        return pg_error_set(err, PG_EUNSUPPORTED, "unsupported GGUF version %u (only versions 2 and 3%s)", v,
                            (sw == 2 || sw == 3) ? "; this looks like a big-endian file" : "");
    }
    uint64_t nt, nkv;
    if ((rc = take_u64(&c, &nt, "tensor count"))) return rc;
    if ((rc = take_u64(&c, &nkv, "kv count"))) return rc;
    /* Bound both counts by the bytes left before allocating anything. */
    size_t rem = left(&c);
    if (nkv > rem / KV_MIN_BYTES)
        return pg_error_set(err, PG_EFORMAT, "kv count %llu is impossible: only %zu bytes follow the header",
                            (unsigned long long)nkv, rem);
    if (nt > rem / TI_MIN_BYTES || nkv * KV_MIN_BYTES + nt * TI_MIN_BYTES > rem)
        return pg_error_set(err, PG_EFORMAT,
                            "tensor count %llu is impossible: only %zu bytes follow the header",
                            (unsigned long long)nt, rem);
    if (nkv >= UINT32_MAX || nt >= UINT32_MAX) /* hash tables hold index + 1 in u32 */
        return pg_error_set(err, PG_EFORMAT, "too many keys or tensors");
    g->n_kv = (int64_t)nkv;
    g->n_tensors = (int64_t)nt;
    g->kv = pg_arena_calloc(g->arena, nkv ? nkv : 1, sizeof(gguf_kv));
    g->tensors = pg_arena_calloc(g->arena, nt ? nt : 1, sizeof(pg_gguf_tensor));
    g->kv_hash = hash_new(g->arena, g->n_kv, &g->kv_hash_mask);
    g->t_hash = hash_new(g->arena, g->n_tensors, &g->t_hash_mask);
    if (!g->kv || !g->tensors || !g->kv_hash || !g->t_hash)
        return pg_error_set(err, PG_ENOMEM, "out of memory indexing GGUF header");
    if ((rc = parse_kvs(g, &c))) return rc;
    if ((rc = parse_alignment(g, err))) return rc;
    if ((rc = parse_tensor_infos(g, &c))) return rc;
    size_t a = g->alignment;
    /* c.pos <= size and a <= 2^31, so no overflow on 64-bit size_t. */
    g->data_off = (c.pos + a - 1) & ~(a - 1);
    return check_tensor_data(g, err);
}

static int open_common(const uint8_t *base, size_t size, int mapped, pg_gguf **out, pg_error *err) {
    *out = NULL;
    pg_arena *a = pg_arena_create(64 * 1024);
    pg_gguf *g = a ? pg_arena_calloc(a, 1, sizeof *g) : NULL;
    if (!g) {
        pg_arena_destroy(a);
        return pg_error_set(err, PG_ENOMEM, "out of memory opening GGUF");
    }
    g->arena = a;
    g->base = base;
    g->size = size;
    g->mapped = mapped;
    int rc = parse(g, err);
    if (rc) {
        g->mapped = 0; /* the caller unmaps on failure */
        pg_gguf_close(g);
        return rc;
    }
    *out = g;
    return PG_OK;
}

int pg_gguf_open_mem(const void *data, size_t size, pg_gguf **out, pg_error *err) {
    if (!out || (!data && size)) return pg_error_set(err, PG_EINVAL, "pg_gguf_open_mem: bad arguments");
    static const uint8_t empty[1];
    return open_common(data ? data : empty, size, 0, out, err);
}

int pg_gguf_open(const char *path, pg_gguf **out, pg_error *err) {
    if (!out || !path) return pg_error_set(err, PG_EINVAL, "pg_gguf_open: bad arguments");
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return pg_error_set(err, PG_EIO, "cannot open '%s': %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return pg_error_set(err, PG_EIO, "cannot stat '%s': %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return pg_error_set(err, PG_EIO, "'%s' is not a regular file", path);
    }
    size_t size = (size_t)st.st_size;
    void *m = NULL;
    if (size > 0) {
        m = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (m == MAP_FAILED) {
            int e = errno;
            close(fd);
            return pg_error_set(err, PG_EIO, "cannot mmap '%s': %s", path, strerror(e));
        }
    }
    close(fd);
    pg_error local;
    pg_error *e = err ? err : &local;
    int rc = open_common(m, size, m != NULL, out, e);
    if (rc) {
        if (m) munmap(m, size);
        char msg[sizeof e->msg];
        snprintf(msg, sizeof msg, "%s", e->msg);
        pg_error_set(e, rc, "%s: %s", path, msg);
    }
    return rc;
}

void pg_gguf_close(pg_gguf *g) {
    if (!g) return;
    if (g->mapped && g->size) munmap((void *)g->base, g->size);
    pg_arena_destroy(g->arena); /* g itself lives in the arena */
}

uint32_t pg_gguf_version(const pg_gguf *g) { return g->version; }
size_t pg_gguf_alignment(const pg_gguf *g) { return g->alignment; }
size_t pg_gguf_data_offset(const pg_gguf *g) { return g->data_off; }
#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22 /* Linux 5.14 */
#endif

void pg_gguf_prefault_range(const pg_gguf *g, size_t off, size_t n) {
    if (!g->mapped || !g->size || off >= g->size) return;
    if (n > g->size - off) n = g->size - off;
    const long pgs = sysconf(_SC_PAGESIZE);
    const size_t ps = (size_t)(pgs > 0 ? pgs : 4096);
    const size_t lo = off / ps * ps; /* madvise needs a page-aligned start */
    void *b = (void *)(g->base + lo);
    const size_t len = off + n - lo;
    if (madvise(b, len, MADV_POPULATE_READ) == 0) return;
    /* older kernels: read-ahead, then touch one byte per page */
    (void)madvise(b, len, MADV_WILLNEED);
    volatile uint8_t sink = 0;
    for (size_t o = lo; o < off + n; o += ps) sink ^= g->base[o];
    (void)sink;
}

void pg_gguf_prefault(const pg_gguf *g) { pg_gguf_prefault_range(g, 0, g->size); }

void pg_gguf_release(const pg_gguf *g, const void *p, size_t n) {
    if (!g->mapped || !n) return;
    const uintptr_t pg = (uintptr_t)sysconf(_SC_PAGESIZE), b = (uintptr_t)g->base;
    uintptr_t lo = (uintptr_t)p, hi = lo + n;
    PG_ASSERT(pg > 0 && lo >= b && hi <= b + g->size && hi >= lo);
    lo = (lo + pg - 1) / pg * pg;
    hi = hi / pg * pg;
    if (hi > lo) (void)madvise((void *)lo, hi - lo, MADV_DONTNEED); /* read-only private mapping: nothing is lost */
}

const void *pg_gguf_base(const pg_gguf *g, size_t *size) {
    if (size) *size = g->size;
    return g->base;
}

/* --------------------------------------------------------------- metadata */

int64_t pg_gguf_n_kv(const pg_gguf *g) { return g->n_kv; }

const char *pg_gguf_kv_key(const pg_gguf *g, int64_t i) {
    return (i >= 0 && i < g->n_kv) ? g->kv[i].key : NULL;
}

pg_gguf_value pg_gguf_kv_value(const pg_gguf *g, int64_t i) {
    if (i < 0 || i >= g->n_kv) return (pg_gguf_value){.type = PG_GGUF_NTYPES};
    return g->kv[i].v;
}

int64_t pg_gguf_find_key(const pg_gguf *g, const char *key) {
    if (g->n_kv == 0) return -1;
    return hash_find(g->kv_hash, g->kv_hash_mask, &g->kv[0].key, sizeof(gguf_kv), key);
}

static bool is_int(pg_gguf_vtype t) {
    return t == PG_GGUF_U8 || t == PG_GGUF_I8 || t == PG_GGUF_U16 || t == PG_GGUF_I16 || t == PG_GGUF_U32 ||
           t == PG_GGUF_I32 || t == PG_GGUF_U64 || t == PG_GGUF_I64;
}

/* Integer scalar at p as a sign + magnitude pair (u64 may exceed i64). */
static void read_int(pg_gguf_vtype t, const uint8_t *p, bool *neg, uint64_t *mag) {
    int64_t s = 0;
    uint64_t u = 0;
    bool is_signed = true;
    switch (t) {
    case PG_GGUF_U8: u = p[0]; is_signed = false; break;
    case PG_GGUF_I8: s = (int8_t)p[0]; break;
    case PG_GGUF_U16: { uint16_t v; memcpy(&v, p, 2); u = v; is_signed = false; break; }
    case PG_GGUF_I16: { int16_t v; memcpy(&v, p, 2); s = v; break; }
    case PG_GGUF_U32: u = rd_u32(p); is_signed = false; break;
    case PG_GGUF_I32: { int32_t v; memcpy(&v, p, 4); s = v; break; }
    case PG_GGUF_U64: u = rd_u64(p); is_signed = false; break;
    case PG_GGUF_I64: { int64_t v; memcpy(&v, p, 8); s = v; break; }
    case PG_GGUF_BOOL: u = p[0] != 0; is_signed = false; break;
    default: break;
    }
    if (is_signed) {
        *neg = s < 0;
        *mag = s < 0 ? (uint64_t)0 - (uint64_t)s : (uint64_t)s;
    } else {
        *neg = false;
        *mag = u;
    }
}

static double num_f64(pg_gguf_vtype t, const uint8_t *p) {
    if (t == PG_GGUF_F32) {
        float f;
        memcpy(&f, p, 4);
        return f;
    }
    if (t == PG_GGUF_F64) {
        double d;
        memcpy(&d, p, 8);
        return d;
    }
    if (is_int(t) || t == PG_GGUF_BOOL) {
        bool neg;
        uint64_t mag;
        read_int(t, p, &neg, &mag);
        return neg ? -(double)mag : (double)mag;
    }
    return NAN;
}

static int64_t num_i64(pg_gguf_vtype t, const uint8_t *p) {
    if (t == PG_GGUF_F32 || t == PG_GGUF_F64) {
        double d = num_f64(t, p);
        if (!(d >= -9.2233720368547758e18 && d < 9.2233720368547758e18)) return 0;
        return (int64_t)d;
    }
    if (is_int(t) || t == PG_GGUF_BOOL) {
        bool neg;
        uint64_t mag;
        read_int(t, p, &neg, &mag);
        if (neg) return (int64_t)(0 - mag); /* mag <= 2^63 */
        return mag > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)mag;
    }
    return 0;
}

static int lookup(const pg_gguf *g, const char *key, pg_gguf_value *v, pg_error *err) {
    int64_t i = pg_gguf_find_key(g, key);
    if (i < 0) return pg_error_set(err, PG_ENOTFOUND, "key '%s' not found", key ? key : "(null)");
    *v = g->kv[i].v;
    return PG_OK;
}

static int wrong_type(const char *key, const char *want, pg_gguf_vtype t, pg_error *err) {
    return pg_error_set(err, PG_EFORMAT, "key '%s': expected %s, found %s", key, want, pg_gguf_vtype_name(t));
}

static int get_int(const pg_gguf *g, const char *key, bool *neg, uint64_t *mag, pg_error *err) {
    pg_gguf_value v;
    int rc = lookup(g, key, &v, err);
    if (rc) return rc;
    if (!is_int(v.type)) return wrong_type(key, "an integer", v.type, err);
    read_int(v.type, v.p, neg, mag);
    return PG_OK;
}

int pg_gguf_get_u32(const pg_gguf *g, const char *key, uint32_t *out, pg_error *err) {
    bool neg;
    uint64_t mag;
    int rc = get_int(g, key, &neg, &mag, err);
    if (rc) return rc;
    if ((neg && mag) || mag > UINT32_MAX)
        return pg_error_set(err, PG_EFORMAT, "key '%s': value %s%llu does not fit in u32", key, neg ? "-" : "",
                            (unsigned long long)mag);
    *out = (uint32_t)mag;
    return PG_OK;
}

int pg_gguf_get_i64(const pg_gguf *g, const char *key, int64_t *out, pg_error *err) {
    bool neg;
    uint64_t mag;
    int rc = get_int(g, key, &neg, &mag, err);
    if (rc) return rc;
    if (!neg && mag > (uint64_t)INT64_MAX)
        return pg_error_set(err, PG_EFORMAT, "key '%s': value %llu does not fit in i64", key,
                            (unsigned long long)mag);
    *out = neg ? (int64_t)(0 - mag) : (int64_t)mag;
    return PG_OK;
}

int pg_gguf_get_f32(const pg_gguf *g, const char *key, float *out, pg_error *err) {
    pg_gguf_value v;
    int rc = lookup(g, key, &v, err);
    if (rc) return rc;
    if (v.type != PG_GGUF_F32 && v.type != PG_GGUF_F64 && !is_int(v.type))
        return wrong_type(key, "a number", v.type, err);
    *out = (float)num_f64(v.type, v.p);
    return PG_OK;
}

int pg_gguf_get_bool(const pg_gguf *g, const char *key, int *out, pg_error *err) {
    pg_gguf_value v;
    int rc = lookup(g, key, &v, err);
    if (rc) return rc;
    if (v.type != PG_GGUF_BOOL) return wrong_type(key, "bool", v.type, err);
    *out = v.p[0] != 0;
    return PG_OK;
}

int pg_gguf_get_str(const pg_gguf *g, const char *key, const char **s, size_t *len, pg_error *err) {
    pg_gguf_value v;
    int rc = lookup(g, key, &v, err);
    if (rc) return rc;
    if (v.type != PG_GGUF_STRING) return wrong_type(key, "string", v.type, err);
    *s = pg_gguf_value_str(v, len);
    return PG_OK;
}

int pg_gguf_get_arr(const pg_gguf *g, const char *key, pg_gguf_vtype *elem_type, uint64_t *count,
                    pg_error *err) {
    pg_gguf_value v;
    int rc = lookup(g, key, &v, err);
    if (rc) return rc;
    if (v.type != PG_GGUF_ARRAY) return wrong_type(key, "array", v.type, err);
    if (elem_type) *elem_type = v.elem_type;
    if (count) *count = v.count;
    return PG_OK;
}

/* A numeric array's element i, or NULL. */
static const uint8_t *num_elem(const pg_gguf *g, const char *key, uint64_t i, pg_gguf_vtype *et) {
    int64_t k = pg_gguf_find_key(g, key);
    if (k < 0) return NULL;
    pg_gguf_value v = g->kv[k].v;
    size_t es = v.type == PG_GGUF_ARRAY ? pg_gguf_vtype_size(v.elem_type) : 0;
    if (!es || i >= v.count) return NULL;
    *et = v.elem_type;
    return v.p + (size_t)i * es;
}

double pg_gguf_arr_f64(const pg_gguf *g, const char *key, uint64_t i) {
    pg_gguf_vtype et;
    const uint8_t *p = num_elem(g, key, i, &et);
    return p ? num_f64(et, p) : NAN;
}

int64_t pg_gguf_arr_i64(const pg_gguf *g, const char *key, uint64_t i) {
    pg_gguf_vtype et;
    const uint8_t *p = num_elem(g, key, i, &et);
    return p ? num_i64(et, p) : 0;
}

const char *pg_gguf_arr_str(const pg_gguf *g, const char *key, uint64_t i, size_t *len) {
    if (len) *len = 0;
    int64_t k = pg_gguf_find_key(g, key);
    if (k < 0 || !g->kv[k].strs || i >= g->kv[k].v.count) return NULL;
    const uint8_t *lf = g->kv[k].strs[i];
    if (len) *len = (size_t)rd_u64(lf);
    return (const char *)lf + 8;
}

double pg_gguf_value_f64(pg_gguf_value v) {
    if (!v.p || (unsigned)v.type >= PG_GGUF_NTYPES) return NAN;
    return num_f64(v.type, v.p);
}

int64_t pg_gguf_value_i64(pg_gguf_value v) {
    if (!v.p || (unsigned)v.type >= PG_GGUF_NTYPES) return 0;
    return num_i64(v.type, v.p);
}

const char *pg_gguf_value_str(pg_gguf_value v, size_t *len) {
    if (v.type != PG_GGUF_STRING || !v.p) {
        if (len) *len = 0;
        return NULL;
    }
    if (len) *len = (size_t)rd_u64(v.p);
    return (const char *)v.p + 8;
}

void pg_gguf_iter_init(pg_gguf_iter *it, pg_gguf_value arr) {
    it->arr = arr;
    it->i = 0;
    it->p = arr.type == PG_GGUF_ARRAY ? arr.p : NULL;
}

int pg_gguf_iter_next(pg_gguf_iter *it, pg_gguf_value *elem) {
    if (!it->p || it->i >= it->arr.count) return 0;
    pg_gguf_value e = {.type = it->arr.elem_type};
    if (e.type == PG_GGUF_ARRAY) {
        e.elem_type = (pg_gguf_vtype)rd_u32(it->p);
        e.count = rd_u64(it->p + 4);
        e.p = it->p + 12;
    } else {
        e.p = it->p;
    }
    it->p = e.p + value_bytes(e);
    it->i++;
    *elem = e;
    return 1;
}

pg_gguf_value pg_gguf_value_elem(pg_gguf_value arr, uint64_t i) {
    pg_gguf_value e = {.type = PG_GGUF_NTYPES};
    if (arr.type != PG_GGUF_ARRAY || !arr.p || i >= arr.count) return e;
    size_t es = pg_gguf_vtype_size(arr.elem_type);
    if (es) return (pg_gguf_value){.type = arr.elem_type, .p = arr.p + (size_t)i * es};
    pg_gguf_iter it;
    pg_gguf_iter_init(&it, arr);
    for (uint64_t k = 0; k <= i; k++) pg_gguf_iter_next(&it, &e);
    return e;
}

/* ---------------------------------------------------------------- tensors */

int64_t pg_gguf_n_tensors(const pg_gguf *g) { return g->n_tensors; }

const pg_gguf_tensor *pg_gguf_tensor_at(const pg_gguf *g, int64_t i) {
    return (i >= 0 && i < g->n_tensors) ? &g->tensors[i] : NULL;
}

const pg_gguf_tensor *pg_gguf_find_tensor(const pg_gguf *g, const char *name) {
    if (g->n_tensors == 0) return NULL;
    int64_t i = hash_find(g->t_hash, g->t_hash_mask, &g->tensors[0].name, sizeof(pg_gguf_tensor), name);
    return i < 0 ? NULL : &g->tensors[i];
}
