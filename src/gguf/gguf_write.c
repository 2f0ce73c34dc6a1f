/* gguf_write.c - see gguf_write.h.
 *
 * The metadata section is serialized as it is added into one growing byte
 * buffer (key, value type, value: the exact on-disk encoding, little-endian
 * as on x86-64), so writing it is a single fwrite. Tensor infos are kept in
 * an array; offsets are assigned at write time (each tensor's data starts at
 * a multiple of the alignment relative to the data section, which itself
 * starts at the first aligned file offset after the infos). Keys and names
 * are kept in arrays for the duplicate checks (linear: files have hundreds
 * of entries, not millions). */
#include "gguf/gguf_write.h"

#include "tensor/types.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define GGUF_DEFAULT_ALIGNMENT 32

typedef struct {
    char *name;
    uint32_t n_dims;
    int64_t ne[PG_GGUF_MAX_DIMS];
    int type;
    size_t nbytes;
    uint64_t offset;
    const void *data;
} wtensor;

struct pg_gguf_writer {
    uint8_t *kv;
    size_t kv_len, kv_cap;
    char **keys;
    int64_t n_kv, keys_cap;
    wtensor *t;
    int64_t n_t, t_cap;
    size_t alignment;
};

pg_gguf_writer *pg_gguf_writer_create(void) {
    pg_gguf_writer *w = calloc(1, sizeof *w);
    if (w) w->alignment = GGUF_DEFAULT_ALIGNMENT;
    return w;
}

void pg_gguf_writer_destroy(pg_gguf_writer *w) {
    if (!w) return;
    for (int64_t i = 0; i < w->n_kv; i++) free(w->keys[i]);
    for (int64_t i = 0; i < w->n_t; i++) free(w->t[i].name);
    free(w->keys);
    free(w->t);
    free(w->kv);
    free(w);
}

static int put(pg_gguf_writer *w, const void *p, size_t n) {
    if (n > SIZE_MAX - w->kv_len) return PG_ENOMEM;
    if (w->kv_len + n > w->kv_cap) {
        size_t cap = w->kv_cap ? w->kv_cap : 4096;
        while (cap < w->kv_len + n) {
            if (cap > SIZE_MAX / 2) return PG_ENOMEM;
            cap *= 2;
        }
        uint8_t *b = realloc(w->kv, cap);
        if (!b) return PG_ENOMEM;
        w->kv = b;
        w->kv_cap = cap;
    }
    memcpy(w->kv + w->kv_len, p, n);
    w->kv_len += n;
    return 0;
}
static int put_u32(pg_gguf_writer *w, uint32_t v) { return put(w, &v, 4); }
static int put_u64(pg_gguf_writer *w, uint64_t v) { return put(w, &v, 8); }
static int put_str(pg_gguf_writer *w, const char *s, size_t len) {
    int rc = put_u64(w, len);
    return rc ? rc : put(w, s, len);
}

static int is_scalar(pg_gguf_vtype t) { return t < PG_GGUF_NTYPES && t != PG_GGUF_STRING && t != PG_GGUF_ARRAY; }

/* Starts a key: duplicate check, then key string and value type. On a
 * later failure the caller rolls kv_len back to *mark. */
static int begin_kv(pg_gguf_writer *w, const char *key, pg_gguf_vtype type, size_t *mark, pg_error *err) {
    if (!key || !*key) return pg_error_set(err, PG_EINVAL, "gguf writer: empty key");
    for (int64_t i = 0; i < w->n_kv; i++)
        if (!strcmp(w->keys[i], key)) return pg_error_set(err, PG_EINVAL, "gguf writer: duplicate key '%s'", key);
    if (w->n_kv == w->keys_cap) {
        int64_t cap = w->keys_cap ? w->keys_cap * 2 : 32;
        char **k = realloc(w->keys, (size_t)cap * sizeof *k);
        if (!k) return pg_error_set(err, PG_ENOMEM, "out of memory");
        w->keys = k;
        w->keys_cap = cap;
    }
    *mark = w->kv_len;
    if (put_str(w, key, strlen(key)) || put_u32(w, (uint32_t)type)) {
        w->kv_len = *mark;
        return pg_error_set(err, PG_ENOMEM, "out of memory");
    }
    return 0;
}

static int end_kv(pg_gguf_writer *w, const char *key, size_t mark, int rc, pg_error *err) {
    if (rc) {
        w->kv_len = mark;
        return rc == PG_ENOMEM ? pg_error_set(err, PG_ENOMEM, "out of memory") : rc;
    }
    char *k = strdup(key);
    if (!k) {
        w->kv_len = mark;
        return pg_error_set(err, PG_ENOMEM, "out of memory");
    }
    w->keys[w->n_kv++] = k;
    return 0;
}

int pg_gguf_writer_add_scalar(pg_gguf_writer *w, const char *key, pg_gguf_vtype type, const void *val, pg_error *err) {
    if (!is_scalar(type)) return pg_error_set(err, PG_EINVAL, "gguf writer: key '%s': not a scalar type", key ? key : "");
    if (key && !strcmp(key, "general.alignment")) {
        uint32_t a;
        if (type != PG_GGUF_U32) return pg_error_set(err, PG_EINVAL, "gguf writer: general.alignment must be u32");
        memcpy(&a, val, 4);
        if (a == 0 || (a & (a - 1))) return pg_error_set(err, PG_EINVAL, "gguf writer: alignment %u is not a power of two", a);
    }
    size_t mark;
    int rc = begin_kv(w, key, type, &mark, err);
    if (rc) return rc;
    rc = end_kv(w, key, mark, put(w, val, pg_gguf_vtype_size(type)), err);
    if (!rc && !strcmp(key, "general.alignment")) {
        uint32_t a;
        memcpy(&a, val, 4);
        w->alignment = a;
    }
    return rc;
}

int pg_gguf_writer_add_u32(pg_gguf_writer *w, const char *key, uint32_t v, pg_error *err) {
    return pg_gguf_writer_add_scalar(w, key, PG_GGUF_U32, &v, err);
}
int pg_gguf_writer_add_f32(pg_gguf_writer *w, const char *key, float v, pg_error *err) {
    return pg_gguf_writer_add_scalar(w, key, PG_GGUF_F32, &v, err);
}

int pg_gguf_writer_add_str(pg_gguf_writer *w, const char *key, const char *s, size_t len, pg_error *err) {
    size_t mark;
    int rc = begin_kv(w, key, PG_GGUF_STRING, &mark, err);
    if (rc) return rc;
    return end_kv(w, key, mark, put_str(w, s, len), err);
}

int pg_gguf_writer_add_arr(pg_gguf_writer *w, const char *key, pg_gguf_vtype elem_type, const void *data,
                           uint64_t count, pg_error *err) {
    if (!is_scalar(elem_type)) return pg_error_set(err, PG_EINVAL, "gguf writer: key '%s': bad array element type", key ? key : "");
    size_t es = pg_gguf_vtype_size(elem_type);
    if (count > SIZE_MAX / es) return pg_error_set(err, PG_ERANGE, "gguf writer: key '%s': array too large", key);
    size_t mark;
    int rc = begin_kv(w, key, PG_GGUF_ARRAY, &mark, err);
    if (rc) return rc;
    rc = put_u32(w, (uint32_t)elem_type);
    if (!rc) rc = put_u64(w, count);
    if (!rc) rc = put(w, data, (size_t)count * es);
    return end_kv(w, key, mark, rc, err);
}

int pg_gguf_writer_add_arr_str(pg_gguf_writer *w, const char *key, const char *const *strs, const size_t *lens,
                               uint64_t count, pg_error *err) {
    size_t mark;
    int rc = begin_kv(w, key, PG_GGUF_ARRAY, &mark, err);
    if (rc) return rc;
    rc = put_u32(w, PG_GGUF_STRING);
    if (!rc) rc = put_u64(w, count);
    for (uint64_t i = 0; i < count && !rc; i++) rc = put_str(w, strs[i], lens[i]);
    return end_kv(w, key, mark, rc, err);
}

/* The encoding of a value's payload (after its type). */
static int put_value(pg_gguf_writer *w, pg_gguf_value v) {
    if (is_scalar(v.type)) return put(w, v.p, pg_gguf_vtype_size(v.type));
    if (v.type == PG_GGUF_STRING) {
        size_t len;
        const char *s = pg_gguf_value_str(v, &len);
        return put_str(w, s, len);
    }
    if (v.type != PG_GGUF_ARRAY) return PG_EINVAL;
    int rc = put_u32(w, (uint32_t)v.elem_type);
    if (!rc) rc = put_u64(w, v.count);
    if (rc) return rc;
    if (is_scalar(v.elem_type)) return put(w, v.p, (size_t)v.count * pg_gguf_vtype_size(v.elem_type));
    pg_gguf_iter it;
    pg_gguf_value e;
    pg_gguf_iter_init(&it, v);
    while (!rc && pg_gguf_iter_next(&it, &e)) rc = put_value(w, e);
    return rc;
}

int pg_gguf_writer_add_value(pg_gguf_writer *w, const char *key, pg_gguf_value v, pg_error *err) {
    if (v.type >= PG_GGUF_NTYPES) return pg_error_set(err, PG_EINVAL, "gguf writer: key '%s': bad value", key ? key : "");
    if (is_scalar(v.type)) return pg_gguf_writer_add_scalar(w, key, v.type, v.p, err);
    size_t mark;
    int rc = begin_kv(w, key, v.type, &mark, err);
    if (rc) return rc;
    rc = put_value(w, v);
    if (rc == PG_EINVAL) {
        w->kv_len = mark;
        return pg_error_set(err, PG_EINVAL, "gguf writer: key '%s': bad nested value", key);
    }
    return end_kv(w, key, mark, rc, err);
}

int64_t pg_gguf_writer_add_tensor(pg_gguf_writer *w, const char *name, uint32_t n_dims, const int64_t *ne, int type,
                                  const void *data, pg_error *err) {
    if (!name || !*name || strlen(name) > 65535) return pg_error_set(err, PG_EINVAL, "gguf writer: bad tensor name");
    if (n_dims < 1 || n_dims > PG_GGUF_MAX_DIMS)
        return pg_error_set(err, PG_EINVAL, "gguf writer: tensor '%s': %u dims", name, n_dims);
    const pg_type_traits *tr = pg_type_get(type);
    if (!tr) return pg_error_set(err, PG_EINVAL, "gguf writer: tensor '%s': unknown type %d", name, type);
    for (int64_t i = 0; i < w->n_t; i++)
        if (!strcmp(w->t[i].name, name)) return pg_error_set(err, PG_EINVAL, "gguf writer: duplicate tensor '%s'", name);
    wtensor t = {.n_dims = n_dims, .type = type, .data = data};
    uint64_t rows = 1;
    for (uint32_t d = 0; d < PG_GGUF_MAX_DIMS; d++) {
        t.ne[d] = d < n_dims ? ne[d] : 1;
        if (t.ne[d] < 1 || t.ne[d] > ((int64_t)1 << 40))
            return pg_error_set(err, PG_EINVAL, "gguf writer: tensor '%s': bad dim %u", name, d);
        if (d > 0 && __builtin_mul_overflow(rows, (uint64_t)t.ne[d], &rows))
            return pg_error_set(err, PG_ERANGE, "gguf writer: tensor '%s': too large", name);
    }
    size_t rb = pg_row_size(type, t.ne[0]);
    if (rb == 0 || rb == SIZE_MAX)
        return pg_error_set(err, PG_EINVAL, "gguf writer: tensor '%s': row of %lld is not a whole number of %s blocks",
                            name, (long long)t.ne[0], tr->name);
    if (__builtin_mul_overflow(rb, (size_t)rows, &t.nbytes))
        return pg_error_set(err, PG_ERANGE, "gguf writer: tensor '%s': too large", name);
    if (w->n_t == w->t_cap) {
        int64_t cap = w->t_cap ? w->t_cap * 2 : 64;
        wtensor *nt = realloc(w->t, (size_t)cap * sizeof *nt);
        if (!nt) return pg_error_set(err, PG_ENOMEM, "out of memory");
        w->t = nt;
        w->t_cap = cap;
    }
    t.name = strdup(name);
    if (!t.name) return pg_error_set(err, PG_ENOMEM, "out of memory");
    w->t[w->n_t] = t;
    return w->n_t++;
}

size_t pg_gguf_writer_tensor_size(const pg_gguf_writer *w, int64_t idx) {
    return idx >= 0 && idx < w->n_t ? w->t[idx].nbytes : 0;
}

static int fput(FILE *f, const void *p, size_t n) { return fwrite(p, 1, n, f) == n ? 0 : -1; }
static int fpad(FILE *f, uint64_t pos, size_t align) {
    static const uint8_t z[256];
    size_t pad = (size_t)((align - pos % align) % align);
    while (pad) {
        size_t k = pad < sizeof z ? pad : sizeof z;
        if (fput(f, z, k)) return -1;
        pad -= k;
    }
    return 0;
}

/* The whole file to stream f (a file or an open_memstream buffer). Returns
 * 0, the fill callback's or PG_ENOMEM's error (err set), or 1 when a write
 * failed (the caller names the destination). */
static int write_stream(pg_gguf_writer *w, FILE *f, pg_gguf_fill_fn fill, void *ctx, pg_error *err) {
    const size_t A = w->alignment;
    uint64_t off = 0;
    size_t maxfill = 0;
    for (int64_t i = 0; i < w->n_t; i++) {
        w->t[i].offset = off;
        off += (w->t[i].nbytes + A - 1) / A * A;
        if (!w->t[i].data && w->t[i].nbytes > maxfill) maxfill = w->t[i].nbytes;
    }
    void *buf = maxfill ? malloc(maxfill) : NULL;
    if (maxfill && !buf) return pg_error_set(err, PG_ENOMEM, "out of memory");
    int rc = 0, bad = 0;
    uint32_t version = 3;
    uint64_t nt = (uint64_t)w->n_t, nkv = (uint64_t)w->n_kv, pos = 0;
    bad = fput(f, "GGUF", 4) || fput(f, &version, 4) || fput(f, &nt, 8) || fput(f, &nkv, 8) ||
              (w->kv_len && fput(f, w->kv, w->kv_len));
    pos = 24 + w->kv_len;
    for (int64_t i = 0; i < w->n_t && !bad; i++) {
        const wtensor *t = &w->t[i];
        uint64_t len = strlen(t->name);
        uint32_t type = (uint32_t)t->type;
        bad = fput(f, &len, 8) || fput(f, t->name, len) || fput(f, &t->n_dims, 4);
        for (uint32_t d = 0; d < t->n_dims && !bad; d++) {
            uint64_t v = (uint64_t)t->ne[d];
            bad = fput(f, &v, 8);
        }
        bad = bad || fput(f, &type, 4) || fput(f, &t->offset, 8);
        pos += 8 + len + 4 + 8 * (uint64_t)t->n_dims + 4 + 8;
    }
    bad = bad || fpad(f, pos, A);
    for (int64_t i = 0; i < w->n_t && !bad && !rc; i++) {
        const wtensor *t = &w->t[i];
        const void *src = t->data;
        if (!src) {
            rc = fill(ctx, i, buf, t->nbytes, err);
            src = buf;
        }
        if (!rc) bad = fput(f, src, t->nbytes) || (i + 1 < w->n_t && fpad(f, t->nbytes, A));
    }
    free(buf);
    return rc ? rc : bad;
}

static int check_fill(const pg_gguf_writer *w, pg_gguf_fill_fn fill, pg_error *err) {
    for (int64_t i = 0; i < w->n_t; i++)
        if (!w->t[i].data && !fill) return pg_error_set(err, PG_EINVAL, "gguf writer: tensor '%s' has no data", w->t[i].name);
    return 0;
}

int pg_gguf_writer_write(pg_gguf_writer *w, const char *path, pg_gguf_fill_fn fill, void *ctx, pg_error *err) {
    int rc = check_fill(w, fill, err);
    if (rc < 0) return rc;
    FILE *f = fopen(path, "wb");
    if (!f) return pg_error_set(err, PG_EIO, "%s: cannot create", path);
    setvbuf(f, NULL, _IOFBF, 1 << 20);
    rc = write_stream(w, f, fill, ctx, err);
    if (fclose(f) != 0 && rc == 0) rc = 1;
    if (rc == 1) rc = pg_error_set(err, PG_EIO, "%s: write failed", path);
    if (rc) unlink(path);
    return rc;
}

int pg_gguf_writer_write_mem(pg_gguf_writer *w, pg_gguf_fill_fn fill, void *ctx, void **image, size_t *size,
                             pg_error *err) {
    *image = NULL;
    *size = 0;
    int rc = check_fill(w, fill, err);
    if (rc < 0) return rc;
    char *buf = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&buf, &n);
    if (!f) return pg_error_set(err, PG_ENOMEM, "out of memory for the GGUF image");
    rc = write_stream(w, f, fill, ctx, err);
    if (fclose(f) != 0 && rc == 0) rc = 1;
    if (rc == 1) rc = pg_error_set(err, PG_ENOMEM, "out of memory for the GGUF image");
    if (rc) {
        free(buf);
        return rc;
    }
    *image = buf;
    *size = n;
    return PG_OK;
}
