/* kv_impl.h - private layout of pg_kv_store (see kv.c). */
#ifndef PG_MODEL_KV_IMPL_H
#define PG_MODEL_KV_IMPL_H

#include "model/model.h"

struct pg_kv_store {
    int n_layer;
    int32_t n_blocks, block_size;
    int type;           /* PG_KV_* (= the tensor/attn.h row format) */
    size_t n_elem;      /* values per position row: n_head_kv * head_dim */
    size_t row_bytes;   /* bytes per position row in type (quantized: whole blocks) */
    size_t layer_bytes; /* bytes of K (or V) of one layer */
    size_t total_bytes;
    void *mem;
};

/* Base of layer l's K (which = 0) or V (which = 1). */
static inline char *pg_kv_layer(const pg_kv_store *kv, int l, int which) {
    return (char *)kv->mem + ((size_t)l * 2 + (size_t)which) * kv->layer_bytes;
}
/* Position slot (block b, offset o) of a layer's K or V: one row of
 * row_bytes; a block's rows are contiguous (block_size * row_bytes bytes),
 * whatever the type, so a block of one layer's K or V can be copied as raw
 * bytes. */
static inline char *pg_kv_slot(const pg_kv_store *kv, int l, int which, int32_t b, int32_t o) {
    return pg_kv_layer(kv, l, which) + ((size_t)b * kv->block_size + (size_t)o) * kv->row_bytes;
}

#endif
