/* test_gguf.c - the GGUF reader: (a) every real file in the test data,
 * (b) hand-made valid and broken files built in memory (each broken case
 * checks the error code and that the message names the problem and the
 * key/tensor), (c) every file of the fuzz seed corpus.
 * Without test data, (b) and (c) still run; the test then exits 77. */
#include "test.h"

#include "gguf/gguf.h"
#include "tensor/types.h"

#include <dirent.h>
#include <stdint.h>
#include <string.h>

/* ------------------------------------------------------- in-memory builder */

typedef struct {
    uint8_t *b;
    size_t n, cap;
} buf;

static void b_raw(buf *b, const void *p, size_t n) {
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->b = realloc(b->b, b->cap);
        REQUIRE(b->b);
    }
    memcpy(b->b + b->n, p, n);
    b->n += n;
}
static void b_u8(buf *b, uint8_t v) { b_raw(b, &v, 1); }
static void b_u32(buf *b, uint32_t v) { b_raw(b, &v, 4); }
static void b_u64(buf *b, uint64_t v) { b_raw(b, &v, 8); }
static void b_f32(buf *b, float v) { b_raw(b, &v, 4); }
static void b_str(buf *b, const char *s) {
    b_u64(b, strlen(s));
    b_raw(b, s, strlen(s));
}
static void b_hdr(buf *b, uint32_t version, uint64_t nt, uint64_t nkv) {
    b_raw(b, "GGUF", 4);
    b_u32(b, version);
    b_u64(b, nt);
    b_u64(b, nkv);
}
static void b_kv_u32(buf *b, const char *k, uint32_t v) {
    b_str(b, k);
    b_u32(b, PG_GGUF_U32);
    b_u32(b, v);
}
static void b_kv_str(buf *b, const char *k, const char *v) {
    b_str(b, k);
    b_u32(b, PG_GGUF_STRING);
    b_str(b, v);
}
static void b_tinfo(buf *b, const char *name, uint32_t nd, const uint64_t *dims, uint32_t type, uint64_t off) {
    b_str(b, name);
    b_u32(b, nd);
    for (uint32_t i = 0; i < nd; i++) b_u64(b, dims[i]);
    b_u32(b, type);
    b_u64(b, off);
}
static void b_pad(buf *b, size_t align) {
    while (b->n % align) b_u8(b, 0);
}
static void b_fill(buf *b, size_t n) {
    for (size_t i = 0; i < n; i++) b_u8(b, (uint8_t)(i * 7 + 1));
}

/* The reference valid file: several value types, a string array, nested
 * arrays, three tensors (f32 [8,2], q4_0 [32], f16 [4]). */
static buf make_valid(uint32_t version) {
    buf b = {0};
    b_hdr(&b, version, 3, 10);
    b_kv_str(&b, "general.architecture", "llama");
    b_kv_u32(&b, "general.alignment", 32);
    b_kv_u32(&b, "llama.embedding_length", 64);
    b_str(&b, "llama.rope.freq_base");
    b_u32(&b, PG_GGUF_F32);
    b_f32(&b, 10000.0f);
    b_str(&b, "tokenizer.ggml.tokens");
    b_u32(&b, PG_GGUF_ARRAY);
    b_u32(&b, PG_GGUF_STRING);
    b_u64(&b, 3);
    b_str(&b, "a");
    b_str(&b, "bc");
    b_str(&b, "");
    b_str(&b, "tokenizer.ggml.scores");
    b_u32(&b, PG_GGUF_ARRAY);
    b_u32(&b, PG_GGUF_F32);
    b_u64(&b, 3);
    b_f32(&b, -1.5f);
    b_f32(&b, 0.0f);
    b_f32(&b, 2.25f);
    b_str(&b, "test.nested"); /* [[1,2],[-3]] as i32 */
    b_u32(&b, PG_GGUF_ARRAY);
    b_u32(&b, PG_GGUF_ARRAY);
    b_u64(&b, 2);
    b_u32(&b, PG_GGUF_I32);
    b_u64(&b, 2);
    b_u32(&b, 1);
    b_u32(&b, 2);
    b_u32(&b, PG_GGUF_I32);
    b_u64(&b, 1);
    b_u32(&b, (uint32_t)-3);
    b_str(&b, "test.flag");
    b_u32(&b, PG_GGUF_BOOL);
    b_u8(&b, 1);
    b_str(&b, "test.big");
    b_u32(&b, PG_GGUF_U64);
    b_u64(&b, 5000000000ull);
    b_str(&b, "test.neg");
    b_u32(&b, PG_GGUF_I8);
    b_u8(&b, (uint8_t)-5);
    uint64_t d0[2] = {8, 2}, d1[1] = {32}, d2[1] = {4};
    b_tinfo(&b, "a.weight", 2, d0, PG_TYPE_F32, 0);
    b_tinfo(&b, "b.weight", 1, d1, PG_TYPE_Q4_0, 64);
    b_tinfo(&b, "c.weight", 1, d2, PG_TYPE_F16, 96);
    b_pad(&b, 32);
    b_fill(&b, 104);
    return b;
}

/* One tensor (no KVs, default alignment) with data_len bytes of data. */
static buf make_one_tensor(const char *name, uint32_t nd, const uint64_t *dims, uint32_t type, uint64_t off,
                           size_t data_len) {
    buf b = {0};
    b_hdr(&b, 3, 1, 0);
    b_tinfo(&b, name, nd, dims, type, off);
    b_pad(&b, 32);
    b_fill(&b, data_len);
    return b;
}

/* Open must fail with `code` and a message holding every non-NULL needle. */
static void expect_fail(const char *label, buf b, int code, const char *n1, const char *n2) {
    pg_gguf *g = (pg_gguf *)1;
    pg_error e;
    pg_error_clear(&e);
    int rc = pg_gguf_open_mem(b.b, b.n, &g, &e);
    CHECKF(rc == code, "%s: rc %d, want %d (%s)", label, rc, code, e.msg);
    CHECKF(g == NULL, "%s: out not NULL on failure", label);
    CHECKF(e.code == rc, "%s: err.code %d != rc %d", label, e.code, rc);
    CHECKF(!strchr(e.msg, '\n') && e.msg[0], "%s: message empty or multi-line", label);
    if (n1) CHECKF(strstr(e.msg, n1) != NULL, "%s: message '%s' lacks '%s'", label, e.msg, n1);
    if (n2) CHECKF(strstr(e.msg, n2) != NULL, "%s: message '%s' lacks '%s'", label, e.msg, n2);
    free(b.b);
}

static void patch_u32(buf *b, size_t at, uint32_t v) { memcpy(b->b + at, &v, 4); }
static void patch_u64(buf *b, size_t at, uint64_t v) { memcpy(b->b + at, &v, 8); }

/* Find the offset of the first occurrence of a byte string. */
static size_t find_bytes(const buf *b, const void *needle, size_t n) {
    for (size_t i = 0; i + n <= b->n; i++)
        if (!memcmp(b->b + i, needle, n)) return i;
    REQUIRE(!"needle not found");
    return 0;
}

static void check_valid_contents(pg_gguf *g, uint32_t version) {
    pg_error e;
    CHECK(pg_gguf_version(g) == version);
    CHECK(pg_gguf_alignment(g) == 32);
    CHECK(pg_gguf_n_kv(g) == 10);
    CHECK(pg_gguf_n_tensors(g) == 3);
    const char *s;
    size_t n;
    CHECK(pg_gguf_get_str(g, "general.architecture", &s, &n, &e) == PG_OK && n == 5 && !memcmp(s, "llama", 5));
    uint32_t u;
    CHECK(pg_gguf_get_u32(g, "llama.embedding_length", &u, &e) == PG_OK && u == 64);
    float f;
    CHECK(pg_gguf_get_f32(g, "llama.rope.freq_base", &f, &e) == PG_OK && f == 10000.0f);
    CHECK(pg_gguf_get_f32(g, "llama.embedding_length", &f, &e) == PG_OK && f == 64.0f);
    int fl;
    CHECK(pg_gguf_get_bool(g, "test.flag", &fl, &e) == PG_OK && fl == 1);
    int64_t i64;
    CHECK(pg_gguf_get_i64(g, "test.big", &i64, &e) == PG_OK && i64 == 5000000000ll);
    CHECK(pg_gguf_get_i64(g, "test.neg", &i64, &e) == PG_OK && i64 == -5);
    /* Range and type errors name the key. */
    CHECK(pg_gguf_get_u32(g, "test.big", &u, &e) == PG_EFORMAT && strstr(e.msg, "test.big"));
    CHECK(pg_gguf_get_u32(g, "test.neg", &u, &e) == PG_EFORMAT && strstr(e.msg, "test.neg"));
    CHECK(pg_gguf_get_u32(g, "general.architecture", &u, &e) == PG_EFORMAT && strstr(e.msg, "string"));
    CHECK(pg_gguf_get_str(g, "llama.embedding_length", &s, &n, &e) == PG_EFORMAT);
    CHECK(pg_gguf_get_bool(g, "llama.embedding_length", &fl, &e) == PG_EFORMAT);
    CHECK(pg_gguf_get_u32(g, "no.such.key", &u, &e) == PG_ENOTFOUND && strstr(e.msg, "no.such.key"));
    CHECK(pg_gguf_find_key(g, "no.such.key") == -1);
    /* String array, O(1) index. */
    pg_gguf_vtype et;
    uint64_t cnt;
    CHECK(pg_gguf_get_arr(g, "tokenizer.ggml.tokens", &et, &cnt, &e) == PG_OK && et == PG_GGUF_STRING && cnt == 3);
    s = pg_gguf_arr_str(g, "tokenizer.ggml.tokens", 1, &n);
    CHECK(s && n == 2 && !memcmp(s, "bc", 2));
    s = pg_gguf_arr_str(g, "tokenizer.ggml.tokens", 2, &n);
    CHECK(s && n == 0);
    CHECK(pg_gguf_arr_str(g, "tokenizer.ggml.tokens", 3, &n) == NULL && n == 0);
    CHECK(pg_gguf_arr_str(g, "tokenizer.ggml.scores", 0, &n) == NULL);
    CHECK(pg_gguf_arr_f64(g, "tokenizer.ggml.scores", 0) == -1.5);
    CHECK(pg_gguf_arr_f64(g, "tokenizer.ggml.scores", 2) == 2.25);
    CHECK(isnan(pg_gguf_arr_f64(g, "tokenizer.ggml.scores", 3)));
    CHECK(pg_gguf_arr_i64(g, "tokenizer.ggml.scores", 2) == 2);
    CHECK(pg_gguf_arr_i64(g, "tokenizer.ggml.tokens", 0) == 0);
    /* Nested arrays through value_elem and the iterator. */
    int64_t k = pg_gguf_find_key(g, "test.nested");
    REQUIRE(k >= 0);
    CHECK(!strcmp(pg_gguf_kv_key(g, k), "test.nested"));
    pg_gguf_value v = pg_gguf_kv_value(g, k);
    CHECK(v.type == PG_GGUF_ARRAY && v.elem_type == PG_GGUF_ARRAY && v.count == 2);
    pg_gguf_value e1 = pg_gguf_value_elem(v, 1);
    CHECK(e1.type == PG_GGUF_ARRAY && e1.elem_type == PG_GGUF_I32 && e1.count == 1);
    CHECK(pg_gguf_value_i64(pg_gguf_value_elem(e1, 0)) == -3);
    CHECK(pg_gguf_value_elem(v, 2).type == PG_GGUF_NTYPES);
    pg_gguf_iter it;
    pg_gguf_value el;
    int64_t sum = 0, nel = 0;
    pg_gguf_iter_init(&it, v);
    while (pg_gguf_iter_next(&it, &el)) {
        pg_gguf_iter in;
        pg_gguf_value x;
        pg_gguf_iter_init(&in, el);
        while (pg_gguf_iter_next(&in, &x)) sum += pg_gguf_value_i64(x), nel++;
    }
    CHECK(sum == 0 && nel == 3);
    pg_gguf_value tv = pg_gguf_kv_value(g, pg_gguf_find_key(g, "tokenizer.ggml.tokens"));
    pg_gguf_value t1 = pg_gguf_value_elem(tv, 1);
    s = pg_gguf_value_str(t1, &n);
    CHECK(s && n == 2 && !memcmp(s, "bc", 2));
    CHECK(pg_gguf_kv_key(g, 10) == NULL && pg_gguf_kv_key(g, -1) == NULL);
    CHECK(!strcmp(pg_gguf_vtype_name(PG_GGUF_F64), "f64") && pg_gguf_vtype_size(PG_GGUF_U16) == 2);
    /* Tensors. */
    size_t fsize;
    const uint8_t *base = pg_gguf_base(g, &fsize);
    size_t doff = pg_gguf_data_offset(g);
    CHECK(doff % 32 == 0 && doff + 104 == fsize);
    const pg_gguf_tensor *a = pg_gguf_find_tensor(g, "a.weight");
    const pg_gguf_tensor *bq = pg_gguf_find_tensor(g, "b.weight");
    const pg_gguf_tensor *c = pg_gguf_find_tensor(g, "c.weight");
    REQUIRE(a && bq && c);
    CHECK(a == pg_gguf_tensor_at(g, 0) && c == pg_gguf_tensor_at(g, 2));
    CHECK(a->n_dims == 2 && a->ne[0] == 8 && a->ne[1] == 2 && a->ne[2] == 1 && a->ne[3] == 1);
    CHECK(a->type == PG_TYPE_F32 && a->nbytes == 64 && a->data == base + doff);
    CHECK(bq->type == PG_TYPE_Q4_0 && bq->nbytes == 18 && bq->data == base + doff + 64);
    CHECK(c->type == PG_TYPE_F16 && c->nbytes == 8 && (const uint8_t *)c->data + 8 == base + fsize);
    CHECK(pg_gguf_find_tensor(g, "nope") == NULL && pg_gguf_tensor_at(g, 3) == NULL);
}

static void test_valid(void) {
    for (uint32_t ver = 2; ver <= 3; ver++) {
        /* v2 and v3 share the layout (u64 counts and lengths). */
        buf b = make_valid(ver);
        pg_gguf *g = NULL;
        pg_error e;
        int rc = pg_gguf_open_mem(b.b, b.n, &g, &e);
        CHECKF(rc == PG_OK, "valid v%u: %s", ver, e.msg);
        if (rc == PG_OK) {
            check_valid_contents(g, ver);
            pg_gguf_close(g);
        }
        free(b.b);
    }
}

static void test_truncation(void) {
    buf b = make_valid(3);
    int fails = 0;
    for (size_t cut = 0; cut < b.n; cut++) {
        pg_gguf *g = NULL;
        pg_error e;
        int rc = pg_gguf_open_mem(b.b, cut, &g, &e);
        int ok = rc == PG_EFORMAT && !g &&
                 (strstr(e.msg, "truncated") || strstr(e.msg, "past end of file") || strstr(e.msg, "impossible"));
        if (!ok && fails++ < 5) fprintf(stderr, "cut %zu: rc %d msg '%s'\n", cut, rc, e.msg);
        if (g) pg_gguf_close(g);
    }
    CHECKF(fails == 0, "%d truncation cut points misreported", fails);
    /* Messages around the header and KVs are specific. */
    pg_gguf *g;
    pg_error e;
    CHECK(pg_gguf_open_mem(b.b, 2, &g, &e) == PG_EFORMAT && strstr(e.msg, "magic"));
    CHECK(pg_gguf_open_mem(b.b, 10, &g, &e) == PG_EFORMAT && strstr(e.msg, "tensor count"));
    /* (early cuts hit the count bound first: "kv count 10 is impossible") */
    size_t at = find_bytes(&b, "test.neg", 8);
    CHECK(pg_gguf_open_mem(b.b, at + 8 + 4, &g, &e) == PG_EFORMAT && strstr(e.msg, "key 'test.neg'") &&
          strstr(e.msg, "truncated"));
    CHECK(pg_gguf_open_mem(b.b, 100, &g, &e) == PG_EFORMAT && strstr(e.msg, "kv count 10 is impossible"));
    at = find_bytes(&b, "c.weight", 8);
    CHECK(pg_gguf_open_mem(b.b, at + 8 + 4 + 3, &g, &e) == PG_EFORMAT && strstr(e.msg, "c.weight"));
    free(b.b);
    CHECK(pg_gguf_open_mem(NULL, 0, &g, &e) == PG_EFORMAT);
}

static void test_header_errors(void) {
    buf b = make_valid(3);
    b.b[0] = 'X';
    expect_fail("wrong magic", b, PG_EFORMAT, "magic", NULL);
    b = make_valid(3);
    patch_u32(&b, 4, 1);
    expect_fail("version 1", b, PG_EUNSUPPORTED, "version 1", NULL);
    b = make_valid(3);
    patch_u32(&b, 4, 99);
    expect_fail("version 99", b, PG_EUNSUPPORTED, "version 99", NULL);
    b = make_valid(3);
    patch_u32(&b, 4, 0x03000000u);
    expect_fail("big-endian", b, PG_EUNSUPPORTED, "big-endian", NULL);
    b = make_valid(3);
    patch_u64(&b, 16, 1ull << 60);
    expect_fail("huge kv count", b, PG_EFORMAT, "kv count", NULL);
    b = make_valid(3);
    patch_u64(&b, 16, UINT64_MAX);
    expect_fail("max kv count", b, PG_EFORMAT, "kv count", NULL);
    b = make_valid(3);
    patch_u64(&b, 8, 1ull << 62);
    expect_fail("huge tensor count", b, PG_EFORMAT, "tensor count", NULL);
    b = make_valid(3);
    patch_u64(&b, 16, 11); /* one KV more than present: runs into tensor infos */
    expect_fail("kv count too high", b, PG_EFORMAT, NULL, NULL);
}

static void test_kv_errors(void) {
    buf b = {0};
    b_hdr(&b, 3, 0, 1);
    b_str(&b, "my.key");
    b_u32(&b, PG_GGUF_STRING);
    b_u64(&b, 1ull << 62);
    b_raw(&b, "abc", 3);
    expect_fail("huge string length", b, PG_EFORMAT, "my.key", "string length");

    b = (buf){0};
    b_hdr(&b, 3, 0, 1);
    b_u64(&b, UINT64_MAX);
    b_raw(&b, "abcdefgh", 8);
    expect_fail("huge key length", b, PG_EFORMAT, "string length", "key");

    b = (buf){0};
    b_hdr(&b, 3, 0, 1);
    b_str(&b, "my.key");
    b_u32(&b, 13);
    b_u32(&b, 0);
    expect_fail("unknown value type", b, PG_EFORMAT, "my.key", "unknown value type 13");

    b = (buf){0};
    b_hdr(&b, 3, 0, 1);
    b_str(&b, "my.arr");
    b_u32(&b, PG_GGUF_ARRAY);
    b_u32(&b, 77);
    b_u64(&b, 0);
    expect_fail("unknown elem type", b, PG_EFORMAT, "my.arr", "element type 77");

    b = (buf){0};
    b_hdr(&b, 3, 0, 1);
    b_str(&b, "my.arr");
    b_u32(&b, PG_GGUF_ARRAY);
    b_u32(&b, PG_GGUF_U32);
    b_u64(&b, 1ull << 61);
    b_u32(&b, 0);
    expect_fail("huge array count", b, PG_EFORMAT, "my.arr", "array of");

    b = (buf){0};
    b_hdr(&b, 3, 0, 1);
    b_str(&b, "my.arr");
    b_u32(&b, PG_GGUF_ARRAY);
    b_u32(&b, PG_GGUF_STRING);
    b_u64(&b, 2);
    b_str(&b, "ok");
    b_u64(&b, 100);
    b_raw(&b, "short", 5);
    expect_fail("string array element past end", b, PG_EFORMAT, "my.arr", "string length 100");

    /* Nesting: 8 levels open, 9 do not. */
    for (int levels = 8; levels <= 9; levels++) {
        b = (buf){0};
        b_hdr(&b, 3, 0, 1);
        b_str(&b, "deep.arr");
        b_u32(&b, PG_GGUF_ARRAY);
        for (int l = 1; l < levels; l++) {
            b_u32(&b, PG_GGUF_ARRAY);
            b_u64(&b, 1);
        }
        b_u32(&b, PG_GGUF_U8);
        b_u64(&b, 1);
        b_u8(&b, 42);
        if (levels == 9) {
            expect_fail("nesting too deep", b, PG_EFORMAT, "deep.arr", "nested deeper");
        } else {
            pg_gguf *g = NULL;
            pg_error e;
            CHECKF(pg_gguf_open_mem(b.b, b.n, &g, &e) == PG_OK, "8 levels: %s", e.msg);
            if (g) {
                pg_gguf_value v = pg_gguf_kv_value(g, 0);
                for (int l = 0; l < 8; l++) v = pg_gguf_value_elem(v, 0);
                CHECK(v.type == PG_GGUF_U8 && pg_gguf_value_i64(v) == 42);
                pg_gguf_close(g);
            }
            free(b.b);
        }
    }

    b = (buf){0};
    b_hdr(&b, 3, 0, 2);
    b_kv_u32(&b, "dup.key", 1);
    b_kv_u32(&b, "dup.key", 2);
    expect_fail("duplicate key", b, PG_EFORMAT, "duplicate key", "dup.key");

    b = (buf){0};
    b_hdr(&b, 3, 0, 1);
    b_kv_u32(&b, "", 1);
    expect_fail("empty key", b, PG_EFORMAT, "empty", NULL);

    b = (buf){0};
    b_hdr(&b, 3, 0, 1);
    b_u64(&b, 3);
    b_raw(&b, "a\0b", 3);
    b_u32(&b, PG_GGUF_U8);
    b_u8(&b, 0);
    expect_fail("NUL in key", b, PG_EFORMAT, "NUL", NULL);

    uint32_t bad_align[] = {0, 3, 48};
    for (int i = 0; i < 3; i++) {
        b = (buf){0};
        b_hdr(&b, 3, 0, 1);
        b_kv_u32(&b, "general.alignment", bad_align[i]);
        char want[32];
        snprintf(want, sizeof want, "%u is not", bad_align[i]);
        expect_fail("bad alignment", b, PG_EFORMAT, "general.alignment", want);
    }
    b = (buf){0};
    b_hdr(&b, 3, 0, 1);
    b_str(&b, "general.alignment");
    b_u32(&b, PG_GGUF_U64);
    b_u64(&b, 32);
    expect_fail("alignment type", b, PG_EFORMAT, "general.alignment", "u64");
}

static void test_tensor_errors(void) {
    uint64_t d32[1] = {32}, d64[2] = {64, 2};
    expect_fail("unknown tensor type 99", make_one_tensor("blk.0.attn_q.weight", 1, d32, 99, 0, 128),
                PG_EUNSUPPORTED, "blk.0.attn_q.weight", "unknown tensor type 99");
    expect_fail("removed type 4", make_one_tensor("t4", 1, d32, 4, 0, 128), PG_EUNSUPPORTED, "'t4'",
                "type 4");
    uint64_t d5[5] = {1, 1, 1, 1, 1};
    expect_fail("n_dims 5", make_one_tensor("five.d", 5, d5, PG_TYPE_F32, 0, 4), PG_EFORMAT, "five.d",
                "n_dims 5");
    expect_fail("n_dims 0", make_one_tensor("zero.d", 0, d5, PG_TYPE_F32, 0, 4), PG_EFORMAT, "zero.d",
                "n_dims 0");
    uint64_t dz[2] = {4, 0};
    expect_fail("dim 0", make_one_tensor("dim.zero", 2, dz, PG_TYPE_F32, 0, 16), PG_EFORMAT, "dim.zero",
                "dim 1 is 0");
    uint64_t dneg[1] = {(uint64_t)-4};
    expect_fail("negative dim", make_one_tensor("dim.neg", 1, dneg, PG_TYPE_F32, 0, 16), PG_EFORMAT, "dim.neg",
                "must be > 0");
    uint64_t dov[3] = {1ull << 32, 1ull << 32, 4};
    expect_fail("overflowing dims", make_one_tensor("big.t", 3, dov, PG_TYPE_F32, 0, 16), PG_EFORMAT, "big.t",
                "overflows");
    uint64_t dbytes[1] = {1ull << 62};
    expect_fail("byte size overflow", make_one_tensor("bytes.t", 1, dbytes, PG_TYPE_F32, 0, 16), PG_EFORMAT,
                "bytes.t", "byte size overflows");
    uint64_t d16[1] = {16};
    expect_fail("row not block multiple", make_one_tensor("q.t", 1, d16, PG_TYPE_Q4_0, 0, 32), PG_EFORMAT,
                "q.t", "not a multiple of the q4_0 block size 32");
    expect_fail("misaligned offset", make_one_tensor("mis.t", 2, d64, PG_TYPE_F32, 4, 1024), PG_EFORMAT, "mis.t",
                "not a multiple of the alignment 32");
    expect_fail("data past EOF", make_one_tensor("blk.0.attn_q.weight", 2, d64, PG_TYPE_F32, 0, 511),
                PG_EFORMAT, "tensor 'blk.0.attn_q.weight': data", "extends past end of file");
    expect_fail("offset past EOF", make_one_tensor("far.t", 1, d32, PG_TYPE_F32, 1ull << 40, 128), PG_EFORMAT,
                "far.t", "past end of file");
    expect_fail("offset overflow", make_one_tensor("wrap.t", 1, d32, PG_TYPE_F32, UINT64_MAX - 31, 128),
                PG_EFORMAT, "wrap.t", "past end of file");

    buf b = {0};
    b_hdr(&b, 3, 2, 0);
    b_tinfo(&b, "same.name", 1, d32, PG_TYPE_F32, 0);
    b_tinfo(&b, "same.name", 1, d32, PG_TYPE_F32, 128);
    b_pad(&b, 32);
    b_fill(&b, 256);
    expect_fail("duplicate tensor", b, PG_EFORMAT, "duplicate tensor name", "same.name");

    /* A type ggml knows but pagoda cannot compute with still opens. */
    uint64_t d256[1] = {256};
    b = make_one_tensor("iq2.t", 1, d256, PG_TYPE_IQ2_XXS, 0, 66);
    pg_gguf *g = NULL;
    pg_error e;
    CHECKF(pg_gguf_open_mem(b.b, b.n, &g, &e) == PG_OK, "iq2_xxs: %s", e.msg);
    if (g) {
        const pg_gguf_tensor *t = pg_gguf_find_tensor(g, "iq2.t");
        CHECK(t && t->type == PG_TYPE_IQ2_XXS && t->nbytes == 66);
        pg_gguf_close(g);
    }
    free(b.b);

    /* Alignment 64: data section and offsets follow it. */
    b = (buf){0};
    b_hdr(&b, 3, 2, 1);
    b_kv_u32(&b, "general.alignment", 64);
    b_tinfo(&b, "x", 1, d32, PG_TYPE_F32, 0);
    b_tinfo(&b, "y", 1, d32, PG_TYPE_F32, 128);
    b_pad(&b, 64);
    b_fill(&b, 256);
    CHECKF(pg_gguf_open_mem(b.b, b.n, &g, &e) == PG_OK, "align 64: %s", e.msg);
    if (g) {
        CHECK(pg_gguf_alignment(g) == 64 && pg_gguf_data_offset(g) % 64 == 0);
        CHECK((const uint8_t *)pg_gguf_find_tensor(g, "y")->data == b.b + pg_gguf_data_offset(g) + 128);
        pg_gguf_close(g);
    }
    patch_u64(&b, find_bytes(&b, "y", 1) + 1 + 4 + 8 + 4, 32); /* 32 is not a multiple of 64 */
    expect_fail("offset misaligned for 64", b, PG_EFORMAT, "'y'", "alignment 64");

    /* No tensors, header not ending on the alignment: fine. */
    b = (buf){0};
    b_hdr(&b, 3, 0, 1);
    b_kv_str(&b, "k", "v");
    CHECKF(pg_gguf_open_mem(b.b, b.n, &g, &e) == PG_OK, "no tensors: %s", e.msg);
    if (g) pg_gguf_close(g);
    free(b.b);
}

static void test_open_path(void) {
    pg_gguf *g;
    pg_error e;
    CHECK(pg_gguf_open("/nonexistent/x.gguf", &g, &e) == PG_EIO && strstr(e.msg, "/nonexistent/x.gguf"));
    CHECK(pg_gguf_open("/", &g, &e) == PG_EIO && strstr(e.msg, "regular file"));
    /* A file on disk goes through mmap and gets the path prefixed. */
    char path[] = "/tmp/pg_test_gguf_XXXXXX";
    int fd = mkstemp(path);
    REQUIRE(fd >= 0);
    buf b = make_valid(3);
    FILE *f = fdopen(fd, "wb");
    REQUIRE(f && fwrite(b.b, 1, b.n, f) == b.n);
    fclose(f);
    CHECKF(pg_gguf_open(path, &g, &e) == PG_OK, "%s", e.msg);
    if (g == NULL) return;
    check_valid_contents(g, 3);
    pg_gguf_close(g);
    f = fopen(path, "wb");
    REQUIRE(f && fwrite(b.b, 1, b.n - 1, f) == b.n - 1);
    fclose(f);
    CHECK(pg_gguf_open(path, &g, &e) == PG_EFORMAT && strstr(e.msg, path) && strstr(e.msg, "c.weight"));
    f = fopen(path, "wb");
    fclose(f);
    CHECK(pg_gguf_open(path, &g, &e) == PG_EFORMAT && strstr(e.msg, "truncated"));
    remove(path);
    free(b.b);
}

/* ------------------------------------------------------- generic walking */

/* Check every accessor of an opened file for consistency. */
static void walk(pg_gguf *g, const char *label) {
    size_t fsize;
    const uint8_t *base = pg_gguf_base(g, &fsize);
    for (int64_t i = 0; i < pg_gguf_n_kv(g); i++) {
        const char *k = pg_gguf_kv_key(g, i);
        CHECKF(k && pg_gguf_find_key(g, k) == i, "%s: key %lld lookup", label, (long long)i);
        pg_gguf_value v = pg_gguf_kv_value(g, i);
        if (v.type == PG_GGUF_ARRAY && v.elem_type == PG_GGUF_STRING) {
            pg_gguf_iter it;
            pg_gguf_value e;
            uint64_t j = 0;
            int bad = 0;
            pg_gguf_iter_init(&it, v);
            while (pg_gguf_iter_next(&it, &e)) {
                size_t l1, l2;
                const char *s1 = pg_gguf_value_str(e, &l1);
                const char *s2 = pg_gguf_arr_str(g, k, j, &l2);
                bad += !(s1 && s1 == s2 && l1 == l2 && (const uint8_t *)s1 + l1 <= base + fsize);
                j++;
            }
            CHECKF(!bad && j == v.count, "%s: string array '%s'", label, k);
        }
    }
    uint64_t total = 0;
    for (int64_t i = 0; i < pg_gguf_n_tensors(g); i++) {
        const pg_gguf_tensor *t = pg_gguf_tensor_at(g, i);
        REQUIRE(t);
        CHECKF(pg_gguf_find_tensor(g, t->name) == t, "%s: tensor '%s' lookup", label, t->name);
        size_t row = pg_row_size(t->type, t->ne[0]);
        CHECKF(t->nbytes == row * (uint64_t)t->ne[1] * (uint64_t)t->ne[2] * (uint64_t)t->ne[3], "%s: '%s' nbytes",
               label, t->name);
        const uint8_t *d = t->data;
        CHECKF(d >= base + pg_gguf_data_offset(g) && d + t->nbytes <= base + fsize, "%s: '%s' data", label,
               t->name);
        CHECK(t->offset % pg_gguf_alignment(g) == 0);
        total += t->nbytes;
    }
    CHECK(total <= fsize);
}

static int count_type(pg_gguf *g, int type) {
    int n = 0;
    for (int64_t i = 0; i < pg_gguf_n_tensors(g); i++) n += pg_gguf_tensor_at(g, i)->type == type;
    return n;
}

static void test_real_files(const char *td) {
    const char *dirs[] = {"models", "tokenizer"};
    int files = 0;
    for (int di = 0; di < 2; di++) {
        char dpath[1024];
        snprintf(dpath, sizeof dpath, "%s/%s", td, dirs[di]);
        DIR *d = opendir(dpath);
        CHECKF(d != NULL, "cannot open %s", dpath);
        if (!d) continue;
        struct dirent *de;
        while ((de = readdir(d))) {
            size_t l = strlen(de->d_name);
            if (l < 5 || strcmp(de->d_name + l - 5, ".gguf")) continue;
            char path[2048];
            snprintf(path, sizeof path, "%s/%s", dpath, de->d_name);
            pg_gguf *g = NULL;
            pg_error e;
            int rc = pg_gguf_open(path, &g, &e);
            CHECKF(rc == PG_OK, "%s: %s", path, e.msg);
            if (rc) continue;
            files++;
            CHECK(pg_gguf_version(g) == 3);
            const char *s;
            size_t n;
            CHECKF(pg_gguf_get_str(g, "general.architecture", &s, &n, &e) == PG_OK && n > 0, "%s", path);
            uint64_t cnt = 0;
            pg_gguf_vtype et;
            CHECKF(pg_gguf_get_arr(g, "tokenizer.ggml.tokens", &et, &cnt, &e) == PG_OK && et == PG_GGUF_STRING &&
                       cnt >= 512,
                   "%s: tokens", path);
            if (di == 1) CHECKF(pg_gguf_n_tensors(g) == 0, "%s: vocab-only file has tensors", path);
            else CHECKF(pg_gguf_n_tensors(g) > 0, "%s: no tensors", path);
            walk(g, de->d_name);
            pg_gguf_close(g);
        }
        closedir(d);
    }
    CHECKF(files >= 20, "only %d GGUF files found", files);

    /* Known facts of two files (checked with an independent reader). */
    char path[1024];
    snprintf(path, sizeof path, "%s/models/stories260K.gguf", td);
    pg_gguf *g;
    pg_error e;
    REQUIRE(pg_gguf_open(path, &g, &e) == PG_OK);
    const char *s;
    size_t n;
    uint32_t u;
    float f;
    CHECK(pg_gguf_get_str(g, "general.architecture", &s, &n, &e) == PG_OK && n == 5 && !memcmp(s, "llama", 5));
    CHECK(pg_gguf_get_u32(g, "llama.embedding_length", &u, &e) == PG_OK && u == 64);
    CHECK(pg_gguf_get_u32(g, "llama.block_count", &u, &e) == PG_OK && u == 5);
    CHECK(pg_gguf_get_u32(g, "llama.attention.head_count_kv", &u, &e) == PG_OK && u == 4);
    CHECK(pg_gguf_get_u32(g, "llama.context_length", &u, &e) == PG_OK && u == 2048);
    CHECK(pg_gguf_get_f32(g, "llama.attention.layer_norm_rms_epsilon", &f, &e) == PG_OK && fabsf(f - 1e-5f) < 1e-9f);
    CHECK(pg_gguf_get_u32(g, "tokenizer.ggml.seperator_token_id", &u, &e) == PG_OK && u == 4294967295u);
    CHECK(pg_gguf_n_tensors(g) == 48 && pg_gguf_n_kv(g) == 19 && pg_gguf_alignment(g) == 32);
    uint64_t cnt;
    pg_gguf_vtype et;
    CHECK(pg_gguf_get_arr(g, "tokenizer.ggml.tokens", &et, &cnt, &e) == PG_OK && cnt == 512);
    s = pg_gguf_arr_str(g, "tokenizer.ggml.tokens", 1, &n);
    CHECK(s && n == 3 && !memcmp(s, "<s>", 3));
    CHECK(pg_gguf_arr_i64(g, "tokenizer.ggml.token_type", 0) == 2);
    CHECK(pg_gguf_arr_i64(g, "tokenizer.ggml.token_type", 1) == 3);
    CHECK(pg_gguf_get_arr(g, "tokenizer.ggml.scores", &et, &cnt, &e) == PG_OK && et == PG_GGUF_F32 && cnt == 512);
    const pg_gguf_tensor *t = pg_gguf_find_tensor(g, "token_embd.weight");
    CHECK(t && t->n_dims == 2 && t->ne[0] == 64 && t->ne[1] == 512 && t->type == PG_TYPE_F32 &&
          t->nbytes == 64 * 512 * 4 && t->offset == 0);
    t = pg_gguf_find_tensor(g, "output_norm.weight");
    CHECK(t && t->n_dims == 1 && t->ne[0] == 64 && t->offset == 131072);
    CHECK(pg_gguf_data_offset(g) == 14176);
    CHECK(count_type(g, PG_TYPE_F32) == 48);
    pg_gguf_close(g);

    snprintf(path, sizeof path, "%s/models/syn-a-q4_k_m.gguf", td);
    REQUIRE(pg_gguf_open(path, &g, &e) == PG_OK);
    CHECK(pg_gguf_n_tensors(g) == 39);
    CHECK(count_type(g, PG_TYPE_Q4_K) == 25 && count_type(g, PG_TYPE_Q6_K) == 5 && count_type(g, PG_TYPE_F32) == 9);
    t = pg_gguf_find_tensor(g, "token_embd.weight");
    CHECK(t && t->type == PG_TYPE_Q4_K && t->ne[0] == 256 && t->ne[1] == 512 && t->nbytes == 512 * 144);
    CHECK(pg_gguf_get_u32(g, "general.file_type", &u, &e) == PG_OK && u == 15);
    pg_gguf_close(g);
}

/* ------------------------------------------------------------ fuzz corpus */

static void test_corpus(void) {
    const char *dir = "fuzz/corpus";
    DIR *d = opendir(dir);
    CHECKF(d != NULL, "cannot open %s (run from the repository root)", dir);
    if (!d) return;
    int n = 0, valid = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.') continue;
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        size_t len;
        char *data = t_read_file(path, &len);
        CHECKF(data != NULL, "read %s", path);
        if (!data) continue;
        n++;
        pg_gguf *g = NULL;
        pg_error e;
        pg_error_clear(&e);
        int rc = pg_gguf_open_mem(data, len, &g, &e);
        /* The generator names files by what they are. */
        if (!strncmp(de->d_name, "valid-", 6)) {
            CHECKF(rc == PG_OK, "%s should open: %s", de->d_name, e.msg);
            valid += rc == PG_OK;
        } else if (!strncmp(de->d_name, "bad-", 4)) {
            CHECKF(rc < 0 && e.msg[0] && !g, "%s should fail (rc %d)", de->d_name, rc);
        } else {
            CHECKF(rc <= 0, "%s", de->d_name);
        }
        if (g) {
            walk(g, de->d_name);
            pg_gguf_close(g);
        }
        free(data);
    }
    closedir(d);
    CHECKF(n >= 10 && valid >= 3, "corpus: %d files, %d valid", n, valid);
}

int main(void) {
    test_valid();
    test_truncation();
    test_header_errors();
    test_kv_errors();
    test_tensor_errors();
    test_open_path();
    test_corpus();
    const char *td = t_testdata();
    if (!td) {
        if (t_failures) return t_done("test_gguf");
        SKIP("test data not found (PAGODA_TESTDATA or ../shared); in-memory and corpus cases passed");
    }
    test_real_files(td);
    return t_done("test_gguf");
}
