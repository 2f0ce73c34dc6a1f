/* gguf_write.h - GGUF v3 writer, to a file or to memory.
 *
 * Usage: create a writer, add metadata (scalars, strings, arrays, or values
 * copied from a reader), add tensor descriptions, then write the file in one
 * pass. Keys and tensor names are copied; tensor data is either borrowed
 * (must stay valid until pg_gguf_writer_write returns) or produced on
 * demand by a fill callback, one tensor at a time, so a file larger than
 * memory can be written. Tensor data offsets are aligned to the alignment
 * (32, or the u32 value of key "general.alignment" when it is added), and
 * each tensor's byte size is pg_row_size(type, ne0) * ne1 * ne2 * ne3.
 * Errors: PG_EINVAL (duplicate key or tensor name, bad dims/type, bad
 * alignment value), PG_ENOMEM, PG_EIO (create/write failed; the partial
 * file is removed), or the fill callback's error. */
#ifndef PG_GGUF_GGUF_WRITE_H
#define PG_GGUF_GGUF_WRITE_H

#include "base/error.h"
#include "gguf/gguf.h"

#include <stddef.h>
#include <stdint.h>

typedef struct pg_gguf_writer pg_gguf_writer;

pg_gguf_writer *pg_gguf_writer_create(void); /* NULL when out of memory */
void pg_gguf_writer_destroy(pg_gguf_writer *w);

/* Scalars: type is one of the numeric or BOOL value types; val points to a
 * value of that type's size (e.g. uint32_t for PG_GGUF_U32, uint8_t for
 * BOOL). */
int pg_gguf_writer_add_scalar(pg_gguf_writer *w, const char *key, pg_gguf_vtype type, const void *val, pg_error *err);
int pg_gguf_writer_add_u32(pg_gguf_writer *w, const char *key, uint32_t v, pg_error *err);
int pg_gguf_writer_add_f32(pg_gguf_writer *w, const char *key, float v, pg_error *err);
int pg_gguf_writer_add_str(pg_gguf_writer *w, const char *key, const char *s, size_t len, pg_error *err);
/* Array of a numeric/BOOL element type: count elements packed at data. */
int pg_gguf_writer_add_arr(pg_gguf_writer *w, const char *key, pg_gguf_vtype elem_type, const void *data,
                           uint64_t count, pg_error *err);
/* Array of strings (lens[i] bytes at strs[i]). */
int pg_gguf_writer_add_arr_str(pg_gguf_writer *w, const char *key, const char *const *strs, const size_t *lens,
                               uint64_t count, pg_error *err);
/* Any value from a reader (nested arrays included), under `key`. */
int pg_gguf_writer_add_value(pg_gguf_writer *w, const char *key, pg_gguf_value v, pg_error *err);

/* Fill callback: write exactly nbytes of tensor number idx (in add order)
 * into dst; return 0 or a negative PG_E* code with err set. */
typedef int (*pg_gguf_fill_fn)(void *ctx, int64_t idx, void *dst, size_t nbytes, pg_error *err);

/* Describe a tensor: ne[0..n_dims-1] (ne[0] = row length), a pg_type id,
 * and data (nbytes as above) or NULL to have the fill callback produce it.
 * Returns the tensor's index (>= 0) or a negative error. */
int64_t pg_gguf_writer_add_tensor(pg_gguf_writer *w, const char *name, uint32_t n_dims, const int64_t *ne, int type,
                                  const void *data, pg_error *err);
/* Byte size of tensor idx (0 if out of range). */
size_t pg_gguf_writer_tensor_size(const pg_gguf_writer *w, int64_t idx);

/* Write everything to path (created or truncated). fill may be NULL when
 * every tensor has data. */
int pg_gguf_writer_write(pg_gguf_writer *w, const char *path, pg_gguf_fill_fn fill, void *ctx, pg_error *err);

/* The same bytes into memory: *image (malloc'd, the caller frees it) of
 * *size bytes, ready for pg_gguf_open_mem. Used for models built in
 * memory (the demo model, tests). */
int pg_gguf_writer_write_mem(pg_gguf_writer *w, pg_gguf_fill_fn fill, void *ctx, void **image, size_t *size,
                             pg_error *err);

#endif
