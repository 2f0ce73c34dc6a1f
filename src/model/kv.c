/* kv.c - paged KV storage: the K and V tensors of every layer, cut into
 * blocks of block_size positions. Layout per layer and per K/V:
 *   [n_blocks][block_size][row]   row = n_head_kv * head_dim values
 * in the store's type (model.h: f16, f32, or q8_0 / q4_0 blocks of 32
 * values along the row, tensor/attn.h), so one position's keys for all KV
 * heads are contiguous and a block is block_size * row_bytes contiguous
 * bytes per layer and K/V. The engine owns the block ids (allocation,
 * sharing, prefix cache); this file only stores. All memory is allocated
 * once at creation. */
#include "model/kv_impl.h"

#include "base/bigmem.h"
#include "tensor/attn.h"

#include <stdlib.h>
#include <string.h>

_Static_assert((int)PG_KV_F32 == (int)PG_ATTN_F32 && (int)PG_KV_F16 == (int)PG_ATTN_F16 &&
                   (int)PG_KV_Q8_0 == (int)PG_ATTN_Q8_0 && (int)PG_KV_Q4_0 == (int)PG_ATTN_Q4_0 &&
                   (int)PG_KV_NTYPES == (int)PG_ATTN_NFMT,
               "KV types are the attention kernels' row formats");

static const char *const kv_names[PG_KV_NTYPES] = {"f32", "f16", "q8_0", "q4_0"};

const char *pg_kv_type_name(int kv_type) {
    return kv_type >= 0 && kv_type < PG_KV_NTYPES ? kv_names[kv_type] : NULL;
}

int pg_kv_type_parse(const char *s) {
    for (int t = 0; s && t < PG_KV_NTYPES; t++)
        if (!strcmp(s, kv_names[t])) return t;
    return -1;
}

size_t pg_kv_bytes_per_token(const pg_model *m, int kv_type) {
    const pg_hparams *hp = pg_model_hparams(m);
    return 2 * (size_t)hp->n_layer * pg_attn_row_bytes(kv_type, (size_t)hp->n_head_kv * (size_t)hp->head_dim);
}

int pg_kv_store_create(const pg_model *m, int32_t n_blocks, int32_t block_size, int kv_type, pg_kv_store **out,
                       pg_error *err) {
    *out = NULL;
    if (n_blocks <= 0 || block_size <= 0 || block_size > 4096)
        return pg_error_set(err, PG_EINVAL, "invalid KV pool shape (%d blocks of %d)", n_blocks, block_size);
    if (!pg_kv_type_name(kv_type)) return pg_error_set(err, PG_EINVAL, "invalid KV type %d", kv_type);
    const pg_hparams *hp = pg_model_hparams(m);
    pg_kv_store *kv = calloc(1, sizeof *kv);
    if (!kv) return pg_error_set(err, PG_ENOMEM, "out of memory");
    kv->n_layer = hp->n_layer;
    kv->n_blocks = n_blocks;
    kv->block_size = block_size;
    kv->type = kv_type;
    kv->n_elem = (size_t)hp->n_head_kv * hp->head_dim;
    kv->row_bytes = pg_attn_row_bytes(kv_type, kv->n_elem);
    size_t per_layer;
    if (pg_mul_size((size_t)n_blocks * (size_t)block_size, kv->row_bytes, &per_layer) < 0 ||
        per_layer > ((size_t)1 << 46) / (2 * (size_t)hp->n_layer)) {
        free(kv);
        return pg_error_set(err, PG_ERANGE, "KV pool too large");
    }
    kv->layer_bytes = per_layer;
    size_t total = per_layer * 2 * (size_t)hp->n_layer;
    if (!(kv->mem = pg_bigmem_alloc(total))) {
        free(kv);
        return pg_error_set(err, PG_ENOMEM, "cannot allocate %zu bytes for the KV cache", total);
    }
    /* Not touched: attention only reads positions that were written first
     * (by this sequence or by the cached block it shares), and leaving the
     * pages untouched keeps start-up fast and RSS proportional to use
     * (in 2 MiB steps: huge pages, base/bigmem.h). */
    kv->total_bytes = total;
    *out = kv;
    return 0;
}

void pg_kv_store_destroy(pg_kv_store *kv) {
    if (!kv) return;
    pg_bigmem_free(kv->mem, kv->total_bytes);
    free(kv);
}

int32_t pg_kv_store_n_blocks(const pg_kv_store *kv) { return kv->n_blocks; }

/* ---- one block as a flat image (disk prefix cache) ----
 * A block of one layer's K (or V) is contiguous: block_size consecutive
 * position slots. Its size is taken from the slot addresses, so the image
 * follows whatever row format the store uses. */
static size_t block_part_bytes(const pg_kv_store *kv) {
    return (size_t)(pg_kv_slot(kv, 0, 0, 1, 0) - pg_kv_slot(kv, 0, 0, 0, 0));
}

size_t pg_kv_block_bytes(const pg_kv_store *kv) { return 2 * (size_t)kv->n_layer * block_part_bytes(kv); }
int pg_kv_store_type(const pg_kv_store *kv) { return kv->type; }

void pg_kv_block_export(const pg_kv_store *kv, int32_t b, void *dst) {
    PG_ASSERT(b >= 0 && b < kv->n_blocks);
    size_t part = block_part_bytes(kv);
    char *d = dst;
    for (int l = 0; l < kv->n_layer; l++)
        for (int w = 0; w < 2; w++, d += part) memcpy(d, pg_kv_slot(kv, l, w, b, 0), part);
}

void pg_kv_block_import(pg_kv_store *kv, int32_t b, const void *src) {
    PG_ASSERT(b >= 0 && b < kv->n_blocks);
    size_t part = block_part_bytes(kv);
    const char *s = src;
    for (int l = 0; l < kv->n_layer; l++)
        for (int w = 0; w < 2; w++, s += part) memcpy(pg_kv_slot(kv, l, w, b, 0), s, part);
}
