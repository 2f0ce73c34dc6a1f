/* fuzz_gguf.c - libFuzzer harness for the GGUF reader.
 *
 * Opens the input with pg_gguf_open_mem; on success walks everything the
 * accessors can reach: every KV through the typed getters, every array
 * (nested ones recursively, via both the iterator and pg_gguf_value_elem),
 * every string array through pg_gguf_arr_str, and every tensor (name lookup,
 * first and last data byte). ASan/UBSan flag any read the validation at open
 * should have prevented. Built by `make fuzz`; run by scripts/fuzz_run.sh. */
#include "gguf/gguf.h"
#include "tensor/types.h"

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

static volatile uint64_t sink;

static void touch(const void *p, size_t n) {
    if (!n) return;
    const volatile uint8_t *b = p;
    sink += b[0] + b[n - 1];
}

static void walk_value(pg_gguf_value v, int depth) {
    size_t len;
    switch (v.type) {
    case PG_GGUF_STRING: {
        const char *s = pg_gguf_value_str(v, &len);
        touch(s, len);
        break;
    }
    case PG_GGUF_ARRAY: {
        if (depth > 16) __builtin_trap(); /* the reader limits nesting to 8 */
        pg_gguf_iter it;
        pg_gguf_value e;
        uint64_t n = 0;
        pg_gguf_iter_init(&it, v);
        while (pg_gguf_iter_next(&it, &e)) {
            if (e.type != v.elem_type) __builtin_trap();
            walk_value(e, depth + 1);
            n++;
        }
        if (n != v.count) __builtin_trap();
        /* Random access (linear for strings/arrays): first and last only. */
        if (v.count) {
            pg_gguf_value a = pg_gguf_value_elem(v, 0), b = pg_gguf_value_elem(v, v.count - 1);
            sink += (uint64_t)pg_gguf_value_i64(a) + (uint64_t)pg_gguf_value_i64(b);
        }
        if (pg_gguf_value_elem(v, v.count).type != PG_GGUF_NTYPES) __builtin_trap();
        break;
    }
    default: {
        double d = pg_gguf_value_f64(v);
        sink += (uint64_t)pg_gguf_value_i64(v) + (isnan(d) ? 1 : 0);
        break;
    }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    pg_gguf *g = NULL;
    pg_error err;
    int rc = pg_gguf_open_mem(data, size, &g, &err);
    if (rc != PG_OK) {
        if (rc >= 0 || g || err.code != rc || !err.msg[0]) __builtin_trap();
        return 0;
    }
    (void)pg_gguf_version(g);
    size_t align = pg_gguf_alignment(g);
    if (!align || (align & (align - 1))) __builtin_trap();

    for (int64_t i = 0; i < pg_gguf_n_kv(g); i++) {
        const char *key = pg_gguf_kv_key(g, i);
        if (!key || pg_gguf_find_key(g, key) != i) __builtin_trap();
        pg_gguf_value v = pg_gguf_kv_value(g, i);
        walk_value(v, 0);
        uint32_t u;
        int64_t i64;
        float f;
        int b;
        const char *s;
        size_t len;
        pg_gguf_vtype et;
        uint64_t count;
        sink += (uint64_t)pg_gguf_get_u32(g, key, &u, &err) + (uint64_t)pg_gguf_get_i64(g, key, &i64, &err) +
                (uint64_t)pg_gguf_get_f32(g, key, &f, &err) + (uint64_t)pg_gguf_get_bool(g, key, &b, &err);
        if (pg_gguf_get_str(g, key, &s, &len, &err) == PG_OK) touch(s, len);
        if (pg_gguf_get_arr(g, key, &et, &count, &err) == PG_OK) {
            if (et == PG_GGUF_STRING) {
                for (uint64_t j = 0; j < count; j++) {
                    s = pg_gguf_arr_str(g, key, j, &len);
                    if (!s) __builtin_trap();
                    touch(s, len);
                }
            } else if (pg_gguf_vtype_size(et)) {
                for (uint64_t j = 0; j < count; j++)
                    sink += (uint64_t)pg_gguf_arr_i64(g, key, j) + (isnan(pg_gguf_arr_f64(g, key, j)) ? 1 : 0);
            }
            if (pg_gguf_arr_str(g, key, count, &len) != NULL) __builtin_trap();
        }
    }

    size_t fsize;
    const uint8_t *base = pg_gguf_base(g, &fsize);
    for (int64_t i = 0; i < pg_gguf_n_tensors(g); i++) {
        const pg_gguf_tensor *t = pg_gguf_tensor_at(g, i);
        if (!t || pg_gguf_find_tensor(g, t->name) != t) __builtin_trap();
        if (!pg_type_get(t->type) || t->n_dims < 1 || t->n_dims > PG_GGUF_MAX_DIMS) __builtin_trap();
        const uint8_t *d = t->data;
        if (d < base || t->nbytes > fsize || d + t->nbytes > base + fsize) __builtin_trap();
        touch(d, t->nbytes);
    }
    pg_gguf_close(g);
    return 0;
}
