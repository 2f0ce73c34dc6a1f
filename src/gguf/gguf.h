/* gguf.h - GGUF v2/v3 reader over an mmap (or a caller's buffer).
 *
 * The file is untrusted. pg_gguf_open validates everything up front: header,
 * every metadata value (nested arrays included), tensor infos (known type,
 * dims > 0 and within limits, element count and byte size without overflow,
 * row length a multiple of the block size, offsets aligned and inside the
 * data section, no overlap past EOF, no duplicate names) and
 * general.alignment. After a successful open every accessor is safe.
 *
 * Ownership: the pg_gguf owns its mapping (or borrows the caller's buffer in
 * pg_gguf_open_mem, which must outlive it) and a small index allocated at
 * open. Strings returned point into the file and are NOT NUL-terminated: use
 * the length. Tensor and key names are copied and NUL-terminated. */
#ifndef PG_GGUF_GGUF_H
#define PG_GGUF_GGUF_H

#include "base/error.h"

#include <stddef.h>
#include <stdint.h>

typedef enum {
    PG_GGUF_U8 = 0,
    PG_GGUF_I8 = 1,
    PG_GGUF_U16 = 2,
    PG_GGUF_I16 = 3,
    PG_GGUF_U32 = 4,
    PG_GGUF_I32 = 5,
    PG_GGUF_F32 = 6,
    PG_GGUF_BOOL = 7,
    PG_GGUF_STRING = 8,
    PG_GGUF_ARRAY = 9,
    PG_GGUF_U64 = 10,
    PG_GGUF_I64 = 11,
    PG_GGUF_F64 = 12,
    PG_GGUF_NTYPES = 13,
} pg_gguf_vtype;

#define PG_GGUF_MAX_DIMS 4

typedef struct pg_gguf pg_gguf;

typedef struct pg_gguf_tensor {
    const char *name;          /* NUL-terminated copy */
    uint32_t n_dims;
    int64_t ne[PG_GGUF_MAX_DIMS]; /* ne[0] = row length (fastest); unused dims are 1 */
    int type;                  /* pg_type id (tensor/types.h) */
    uint64_t offset;           /* relative to the data section */
    uint64_t nbytes;
    const void *data;          /* inside the mapping */
} pg_gguf_tensor;

/* A reference to a metadata value (scalar, string or array). */
typedef struct pg_gguf_value {
    pg_gguf_vtype type;
    const uint8_t *p;          /* raw bytes of the value in the file: the
                                * scalar itself; for STRING the u64 length
                                * that precedes the bytes; for ARRAY the first
                                * element (after elem type and count) */
    /* for arrays: */
    pg_gguf_vtype elem_type;
    uint64_t count;
} pg_gguf_value;

/* Errors of pg_gguf_open / pg_gguf_open_mem: PG_EIO (open/stat/mmap
 * failed, not a regular file), PG_ENOMEM, PG_EUNSUPPORTED (GGUF version
 * other than 2/3, tensor type id unknown to ggml), PG_EFORMAT (everything
 * else: truncation, bad magic, counts, lengths, value types, nesting,
 * dims, sizes, alignment, offsets, duplicates). Messages name the key or
 * tensor; pg_gguf_open prefixes them with the path. A type that ggml knows
 * but pagoda cannot compute with (pg_type_traits.weight_ok == 0) opens
 * fine: the model loader rejects it.
 *
 * Out-of-range indices and absent keys in the accessors below are not
 * errors: kv_key/tensor_at return NULL, arr_str NULL, arr_f64 NAN,
 * arr_i64 0, value_elem a value of type PG_GGUF_NTYPES. */
int pg_gguf_open(const char *path, pg_gguf **out, pg_error *err);
int pg_gguf_open_mem(const void *data, size_t size, pg_gguf **out, pg_error *err);
void pg_gguf_close(pg_gguf *g);

uint32_t pg_gguf_version(const pg_gguf *g);
size_t pg_gguf_alignment(const pg_gguf *g);
const void *pg_gguf_base(const pg_gguf *g, size_t *size); /* whole file */
/* Page residency of a file opened with pg_gguf_open (no-ops for memory
 * GGUFs). prefault: map every page now (from the page cache, or read), so
 * the first forward pass does not pay the faults. release: drop the whole
 * pages inside [p, p + n) from this process (the model repacked them into
 * its own copy); a later read faults them back in unchanged. */
void pg_gguf_prefault(const pg_gguf *g);
/* The same for bytes [off, off + n) of the file (clamped to it), so a
 * loader can map a large file in steps and report progress. */
void pg_gguf_prefault_range(const pg_gguf *g, size_t off, size_t n);
void pg_gguf_release(const pg_gguf *g, const void *p, size_t n);
/* File offset of the data section: end of the tensor infos rounded up to
 * the alignment (may equal or exceed the file size when there are no
 * tensors). Tensor data lies at base + data_offset + tensor offset. */
size_t pg_gguf_data_offset(const pg_gguf *g);

/* ---- metadata ---- */
int64_t pg_gguf_n_kv(const pg_gguf *g);
const char *pg_gguf_kv_key(const pg_gguf *g, int64_t i);
pg_gguf_value pg_gguf_kv_value(const pg_gguf *g, int64_t i);
int64_t pg_gguf_find_key(const pg_gguf *g, const char *key); /* -1 if absent */

/* Typed getters. Return PG_OK, PG_ENOTFOUND (key absent; err names the key),
 * or PG_EFORMAT (wrong type / out of range; err names the key). Integer
 * getters accept any integer type whose value fits. */
int pg_gguf_get_u32(const pg_gguf *g, const char *key, uint32_t *out, pg_error *err);
int pg_gguf_get_i64(const pg_gguf *g, const char *key, int64_t *out, pg_error *err);
int pg_gguf_get_f32(const pg_gguf *g, const char *key, float *out, pg_error *err); /* f32/f64/ints */
int pg_gguf_get_bool(const pg_gguf *g, const char *key, int *out, pg_error *err);
int pg_gguf_get_str(const pg_gguf *g, const char *key, const char **s, size_t *len, pg_error *err);
/* Array metadata: element type and count. */
int pg_gguf_get_arr(const pg_gguf *g, const char *key, pg_gguf_vtype *elem_type, uint64_t *count,
                    pg_error *err);
/* Element i of a numeric array as double / int64 (any numeric elem type). */
double pg_gguf_arr_f64(const pg_gguf *g, const char *key, uint64_t i);
int64_t pg_gguf_arr_i64(const pg_gguf *g, const char *key, uint64_t i);
/* Element i of a string array (O(1): string arrays are indexed at open). */
const char *pg_gguf_arr_str(const pg_gguf *g, const char *key, uint64_t i, size_t *len);

/* Value helpers (for generic printing / nested arrays). */
size_t pg_gguf_vtype_size(pg_gguf_vtype t); /* 0 for string/array */
const char *pg_gguf_vtype_name(pg_gguf_vtype t);
/* Scalar value as double/int64 (numeric or bool types). */
double pg_gguf_value_f64(pg_gguf_value v);
int64_t pg_gguf_value_i64(pg_gguf_value v);
/* String value (type STRING). */
const char *pg_gguf_value_str(pg_gguf_value v, size_t *len);
/* Element i of an array value (walks nested/string arrays linearly). */
pg_gguf_value pg_gguf_value_elem(pg_gguf_value arr, uint64_t i);

/* Linear walk over the elements of an array value: O(1) per element for
 * every element type, strings and nested arrays included (pg_gguf_value_elem
 * is O(i) for those). Usage:
 *   pg_gguf_iter it; pg_gguf_value e;
 *   pg_gguf_iter_init(&it, arr);
 *   while (pg_gguf_iter_next(&it, &e)) ...                                  */
typedef struct pg_gguf_iter {
    pg_gguf_value arr;
    uint64_t i;                /* index of the next element */
    const uint8_t *p;          /* its bytes */
} pg_gguf_iter;
void pg_gguf_iter_init(pg_gguf_iter *it, pg_gguf_value arr);
int pg_gguf_iter_next(pg_gguf_iter *it, pg_gguf_value *elem); /* 1: *elem set; 0: done */

/* ---- tensors ---- */
int64_t pg_gguf_n_tensors(const pg_gguf *g);
const pg_gguf_tensor *pg_gguf_tensor_at(const pg_gguf *g, int64_t i);
const pg_gguf_tensor *pg_gguf_find_tensor(const pg_gguf *g, const char *name); /* NULL if absent */

#endif
