/* test_quantize.c - the GGUF writer and `pagoda quantize`.
 *   1. writer round trip through the reader: scalars of every type,
 *      strings, numeric and string arrays, values copied from a reader,
 *      tensors (borrowed data and fill callback) at a custom alignment;
 *      offsets aligned; bytes identical; error cases (duplicates, bad rows).
 *   2. `pagoda quantize stories260K.gguf OUT q8_0` (needs PAGODA_BIN, set by
 *      tests/run.sh, and the shared test data; skipped otherwise): the reader
 *      opens the output, all keys are copied, general.file_type is 7, every
 *      tensor keeps its name and shape, 2-D weights are q8_0 (or the f16
 *      fallback when the row is not a multiple of 32) and dequantize within
 *      tolerance of the f32 source, 1-D tensors stay f32 and identical; the
 *      model loads, its logits are close to the f32 model's (cosine) and
 *      greedy decoding produces tokens. */
#include "test.h"

#include "base/pool.h"
#include "gguf/gguf.h"
#include "gguf/gguf_write.h"
#include "model/model.h"
#include "tensor/types.h"

#include <stdint.h>
#include <sys/wait.h>
#include <unistd.h>

#define Q8_REL_RMS_TOL 0.01 /* q8_0: ~0.3% of RMS on these weights */
#define COSINE_MIN 0.99

static char tmpdir[256];

static int fill_cb(void *ctx, int64_t idx, void *dst, size_t nbytes, pg_error *err) {
    (void)err;
    uint8_t *d = dst;
    for (size_t i = 0; i < nbytes; i++) d[i] = (uint8_t)(i * 7 + (size_t)idx + (uintptr_t)ctx);
    return 0;
}
static int fill_fail(void *ctx, int64_t idx, void *dst, size_t nbytes, pg_error *err) {
    (void)ctx, (void)idx, (void)dst, (void)nbytes;
    return pg_error_set(err, PG_EFORMAT, "refused");
}

static void test_writer(void) {
    char path[512], path2[512];
    snprintf(path, sizeof path, "%s/w.gguf", tmpdir);
    snprintf(path2, sizeof path2, "%s/w2.gguf", tmpdir);
    pg_error err = {0};
    pg_gguf_writer *w = pg_gguf_writer_create();
    REQUIRE(w);
    uint8_t u8 = 200;
    int8_t i8 = -5;
    uint16_t u16 = 60000;
    int16_t i16 = -30000;
    int32_t i32 = -123456789;
    uint64_t u64 = 0xfedcba9876543210ull;
    int64_t i64 = -0x123456789abcll;
    double f64 = 3.25;
    uint8_t b = 1;
    CHECK(pg_gguf_writer_add_scalar(w, "t.u8", PG_GGUF_U8, &u8, &err) == 0);
    CHECK(pg_gguf_writer_add_scalar(w, "t.i8", PG_GGUF_I8, &i8, &err) == 0);
    CHECK(pg_gguf_writer_add_scalar(w, "t.u16", PG_GGUF_U16, &u16, &err) == 0);
    CHECK(pg_gguf_writer_add_scalar(w, "t.i16", PG_GGUF_I16, &i16, &err) == 0);
    CHECK(pg_gguf_writer_add_u32(w, "t.u32", 4000000000u, &err) == 0);
    CHECK(pg_gguf_writer_add_scalar(w, "t.i32", PG_GGUF_I32, &i32, &err) == 0);
    CHECK(pg_gguf_writer_add_f32(w, "t.f32", 1.5f, &err) == 0);
    CHECK(pg_gguf_writer_add_scalar(w, "t.bool", PG_GGUF_BOOL, &b, &err) == 0);
    CHECK(pg_gguf_writer_add_scalar(w, "t.u64", PG_GGUF_U64, &u64, &err) == 0);
    CHECK(pg_gguf_writer_add_scalar(w, "t.i64", PG_GGUF_I64, &i64, &err) == 0);
    CHECK(pg_gguf_writer_add_scalar(w, "t.f64", PG_GGUF_F64, &f64, &err) == 0);
    CHECK(pg_gguf_writer_add_str(w, "t.str", "h\0llo", 5, &err) == 0);
    const float fa[3] = {1, -2, 0.5f};
    CHECK(pg_gguf_writer_add_arr(w, "t.arr", PG_GGUF_F32, fa, 3, &err) == 0);
    const char *ss[3] = {"a", "", "ccc"};
    const size_t sl[3] = {1, 0, 3};
    CHECK(pg_gguf_writer_add_arr_str(w, "t.strs", ss, sl, 3, &err) == 0);
    CHECK(pg_gguf_writer_add_u32(w, "general.alignment", 64, &err) == 0);
    /* errors */
    CHECK(pg_gguf_writer_add_u32(w, "t.u32", 1, &err) == PG_EINVAL);
    CHECK(pg_gguf_writer_add_u32(w, "general.alignment2", 1, &err) == 0);
    float f1[7] = {1, 2, 3, 4, 5, 6, 7};
    uint8_t q8[2 * 34 * 3];
    for (size_t i = 0; i < sizeof q8; i++) q8[i] = (uint8_t)(i * 13);
    for (int r = 0; r < 6; r++) q8[r * 34 + 1] = 0x3c, q8[r * 34] = 0; /* d = 1.0 */
    int64_t ne1[1] = {7}, ne2[2] = {64, 3}, ne3[3] = {32, 2, 3};
    CHECK(pg_gguf_writer_add_tensor(w, "a", 1, ne1, PG_TYPE_F32, f1, &err) == 0);
    CHECK(pg_gguf_writer_add_tensor(w, "b", 2, ne2, PG_TYPE_Q8_0, q8, &err) == 1);
    CHECK(pg_gguf_writer_add_tensor(w, "c", 3, ne3, PG_TYPE_F16, NULL, &err) == 2);
    CHECK(pg_gguf_writer_add_tensor(w, "b", 1, ne1, PG_TYPE_F32, f1, &err) == PG_EINVAL);   /* duplicate */
    CHECK(pg_gguf_writer_add_tensor(w, "d", 1, ne1, PG_TYPE_Q8_0, q8, &err) == PG_EINVAL);  /* 7 % 32 */
    CHECK(pg_gguf_writer_tensor_size(w, 2) == 32 * 2 * 3 * 2);
    CHECK(pg_gguf_writer_write(w, path, fill_fail, NULL, &err) == PG_EFORMAT);
    CHECK(access(path, F_OK) != 0); /* removed after a failure */
    REQUIRE(pg_gguf_writer_write(w, path, fill_cb, (void *)(uintptr_t)3, &err) == 0);
    pg_gguf_writer_destroy(w);

    pg_gguf *g = NULL;
    REQUIRE(pg_gguf_open(path, &g, &err) == 0);
    CHECK(pg_gguf_version(g) == 3);
    CHECK(pg_gguf_alignment(g) == 64);
    CHECK(pg_gguf_data_offset(g) % 64 == 0);
    CHECK(pg_gguf_n_kv(g) == 16);
    uint32_t v32;
    int64_t v64;
    float vf;
    int vb;
    const char *s;
    size_t len;
    CHECK(pg_gguf_get_i64(g, "t.u8", &v64, &err) == 0 && v64 == 200);
    CHECK(pg_gguf_get_i64(g, "t.i8", &v64, &err) == 0 && v64 == -5);
    CHECK(pg_gguf_get_i64(g, "t.u16", &v64, &err) == 0 && v64 == 60000);
    CHECK(pg_gguf_get_i64(g, "t.i16", &v64, &err) == 0 && v64 == -30000);
    CHECK(pg_gguf_get_u32(g, "t.u32", &v32, &err) == 0 && v32 == 4000000000u);
    CHECK(pg_gguf_get_i64(g, "t.i32", &v64, &err) == 0 && v64 == -123456789);
    CHECK(pg_gguf_get_f32(g, "t.f32", &vf, &err) == 0 && vf == 1.5f);
    CHECK(pg_gguf_get_bool(g, "t.bool", &vb, &err) == 0 && vb == 1);
    int64_t ki = pg_gguf_find_key(g, "t.u64");
    CHECK(ki >= 0 && !memcmp(pg_gguf_kv_value(g, ki).p, &u64, 8));
    CHECK(pg_gguf_get_i64(g, "t.i64", &v64, &err) == 0 && v64 == i64);
    CHECK(pg_gguf_get_f32(g, "t.f64", &vf, &err) == 0 && vf == 3.25f);
    CHECK(pg_gguf_get_str(g, "t.str", &s, &len, &err) == 0 && len == 5 && !memcmp(s, "h\0llo", 5));
    pg_gguf_vtype et;
    uint64_t cnt;
    CHECK(pg_gguf_get_arr(g, "t.arr", &et, &cnt, &err) == 0 && et == PG_GGUF_F32 && cnt == 3);
    CHECK(pg_gguf_arr_f64(g, "t.arr", 1) == -2.0);
    CHECK(pg_gguf_get_arr(g, "t.strs", &et, &cnt, &err) == 0 && et == PG_GGUF_STRING && cnt == 3);
    s = pg_gguf_arr_str(g, "t.strs", 2, &len);
    CHECK(s && len == 3 && !memcmp(s, "ccc", 3));
    s = pg_gguf_arr_str(g, "t.strs", 1, &len);
    CHECK(s && len == 0);
    REQUIRE(pg_gguf_n_tensors(g) == 3);
    const pg_gguf_tensor *ta = pg_gguf_find_tensor(g, "a"), *tb = pg_gguf_find_tensor(g, "b"), *tc = pg_gguf_find_tensor(g, "c");
    REQUIRE(ta && tb && tc);
    CHECK(ta->type == PG_TYPE_F32 && ta->n_dims == 1 && ta->ne[0] == 7 && !memcmp(ta->data, f1, sizeof f1));
    CHECK(tb->type == PG_TYPE_Q8_0 && tb->n_dims == 2 && tb->ne[1] == 3 && !memcmp(tb->data, q8, sizeof q8));
    CHECK(tc->type == PG_TYPE_F16 && tc->n_dims == 3 && tc->ne[2] == 3 && tc->nbytes == 384);
    int okfill = 1;
    for (size_t i = 0; i < tc->nbytes; i++) okfill &= ((const uint8_t *)tc->data)[i] == (uint8_t)(i * 7 + 2 + 3);
    CHECK(okfill);
    CHECK(ta->offset % 64 == 0 && tb->offset % 64 == 0 && tc->offset % 64 == 0);

    /* copy every value through pg_gguf_writer_add_value: same values */
    w = pg_gguf_writer_create();
    REQUIRE(w);
    for (int64_t i = 0; i < pg_gguf_n_kv(g); i++)
        CHECK(pg_gguf_writer_add_value(w, pg_gguf_kv_key(g, i), pg_gguf_kv_value(g, i), &err) == 0);
    for (int64_t i = 0; i < pg_gguf_n_tensors(g); i++) {
        const pg_gguf_tensor *t = pg_gguf_tensor_at(g, i);
        CHECK(pg_gguf_writer_add_tensor(w, t->name, t->n_dims, t->ne, t->type, t->data, &err) == i);
    }
    REQUIRE(pg_gguf_writer_write(w, path2, NULL, NULL, &err) == 0);
    pg_gguf_writer_destroy(w);
    size_t n1, n2;
    char *b1 = t_read_file(path, &n1), *b2 = t_read_file(path2, &n2);
    CHECK(b1 && b2 && n1 == n2 && !memcmp(b1, b2, n1)); /* identical file */
    free(b1), free(b2);
    pg_gguf_close(g);
    unlink(path), unlink(path2);
}

/* ---- pagoda quantize ---- */

static double rel_rms(const float *a, const float *b, int64_t n) {
    double e = 0, s = 0;
    for (int64_t i = 0; i < n; i++) {
        e += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
        s += (double)b[i] * b[i];
    }
    return s > 0 ? sqrt(e / s) : sqrt(e);
}

/* Logits of the last prompt position, then greedy tokens. */
static int run_model(const char *path, const int32_t *prompt, int np, float *logits, int32_t *gen, int ngen) {
    pg_error err = {0};
    pg_model *m = NULL;
    if (pg_model_load(path, &m, &err) < 0) {
        fprintf(stderr, "load %s: %s\n", path, err.msg);
        return -1;
    }
    pg_pool *pool = pg_pool_create(2);
    pg_kv_store *kv = NULL;
    pg_forward *f = NULL;
    REQUIRE(pg_kv_store_create(m, 8, 16, PG_KV_F32, &kv, &err) == 0);
    REQUIRE(pg_forward_create(m, pool, 64, 1, 128, &f, &err) == 0);
    const int32_t nv = pg_model_hparams(m)->n_vocab;
    int32_t table[8] = {0, 1, 2, 3, 4, 5, 6, 7}, pos[64], seq[64] = {0}, last = np - 1;
    pg_batch_seq sq = {table, 8};
    for (int i = 0; i < np; i++) pos[i] = i;
    pg_batch b = {np, prompt, pos, seq, 1, &sq, 1, &last};
    REQUIRE(pg_forward_run(f, kv, &b, logits, &err) == 0);
    float *lg = malloc((size_t)nv * 4);
    REQUIRE(lg);
    memcpy(lg, logits, (size_t)nv * 4);
    for (int k = 0; k < ngen; k++) {
        int32_t best = 0;
        for (int32_t i = 1; i < nv; i++)
            if (lg[i] > lg[best]) best = i;
        gen[k] = best;
        int32_t p = np + k, zero = 0;
        pg_batch b1 = {1, &gen[k], &p, seq, 1, &sq, 1, &zero};
        REQUIRE(pg_forward_run(f, kv, &b1, lg, &err) == 0);
    }
    free(lg);
    pg_forward_destroy(f);
    pg_kv_store_destroy(kv);
    pg_pool_destroy(pool);
    pg_model_free(m);
    return nv;
}

static int test_quantize_cli(void) {
    const char *bin = getenv("PAGODA_BIN"), *td = t_testdata();
    if (!bin || access(bin, X_OK) != 0 || !td) {
        fprintf(stderr, "note: quantize CLI part skipped (PAGODA_BIN or test data absent)\n");
        return 0;
    }
    char src[512], out[512];
    snprintf(src, sizeof src, "%s/models/stories260K.gguf", td);
    snprintf(out, sizeof out, "%s/s-q8_0.gguf", tmpdir);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        execl(bin, bin, "quantize", src, out, "q8_0", "--threads", "2", (char *)NULL);
        _exit(127);
    }
    int st = 0;
    REQUIRE(waitpid(pid, &st, 0) == pid);
    REQUIRE(WIFEXITED(st) && WEXITSTATUS(st) == 0);

    pg_error err = {0};
    pg_gguf *gs = NULL, *gq = NULL;
    REQUIRE(pg_gguf_open(src, &gs, &err) == 0);
    REQUIRE(pg_gguf_open(out, &gq, &err) == 0);
    uint32_t ft = 0;
    CHECK(pg_gguf_get_u32(gq, "general.file_type", &ft, &err) == 0 && ft == 7);
    int64_t nkv_s = pg_gguf_n_kv(gs) + (pg_gguf_find_key(gs, "general.file_type") < 0);
    CHECK(pg_gguf_n_kv(gq) == nkv_s);
    for (int64_t i = 0; i < pg_gguf_n_kv(gs); i++) {
        const char *k = pg_gguf_kv_key(gs, i);
        int64_t j = pg_gguf_find_key(gq, k);
        CHECKF(j >= 0, "key %s missing", k);
        if (j >= 0 && strcmp(k, "general.file_type"))
            CHECKF(pg_gguf_kv_value(gs, i).type == pg_gguf_kv_value(gq, j).type, "key %s type", k);
    }
    const char *tk = "tokenizer.ggml.tokens";
    size_t l1 = 0, l2 = 0;
    const char *s1 = pg_gguf_arr_str(gs, tk, 100, &l1), *s2 = pg_gguf_arr_str(gq, tk, 100, &l2);
    CHECK(s1 && s2 && l1 == l2 && !memcmp(s1, s2, l1));
    REQUIRE(pg_gguf_n_tensors(gq) == pg_gguf_n_tensors(gs));
    int n_q8 = 0;
    for (int64_t i = 0; i < pg_gguf_n_tensors(gs); i++) {
        const pg_gguf_tensor *a = pg_gguf_tensor_at(gs, i), *q = pg_gguf_find_tensor(gq, a->name);
        REQUIRE(q);
        CHECK(q->n_dims == a->n_dims && !memcmp(q->ne, a->ne, sizeof a->ne));
        REQUIRE(a->type == PG_TYPE_F32);
        int64_t n = (int64_t)(a->nbytes / 4);
        if (a->n_dims == 1) {
            CHECKF(q->type == PG_TYPE_F32 && !memcmp(q->data, a->data, a->nbytes), "%s kept f32", a->name);
            continue;
        }
        CHECKF(q->type == (a->ne[0] % 32 == 0 ? PG_TYPE_Q8_0 : PG_TYPE_F16), "%s type %s", a->name, pg_type_name(q->type));
        n_q8 += q->type == PG_TYPE_Q8_0;
        float *d = malloc((size_t)n * 4);
        REQUIRE(d);
        size_t rb = pg_row_size(q->type, q->ne[0]);
        for (int64_t r = 0; r < n / q->ne[0]; r++)
            pg_type_get(q->type)->to_float((const char *)q->data + (size_t)r * rb, d + r * q->ne[0], q->ne[0]);
        double e = rel_rms(d, a->data, n);
        CHECKF(e < Q8_REL_RMS_TOL, "%s: relative RMS error %.4f", a->name, e);
        free(d);
    }
    CHECK(n_q8 >= 20);
    pg_gguf_close(gs);
    pg_gguf_close(gq);

    /* the quantized model runs and stays close to the f32 one */
    const int32_t prompt[6] = {1, 403, 407, 261, 378, 283};
    float la[512], lb[512];
    int32_t ga[16], gb[16];
    int nva = run_model(src, prompt, 6, la, ga, 16), nvb = run_model(out, prompt, 6, lb, gb, 16);
    REQUIRE(nva == 512 && nvb == 512);
    double dot = 0, na = 0, nb = 0;
    for (int i = 0; i < 512; i++) dot += (double)la[i] * lb[i], na += (double)la[i] * la[i], nb += (double)lb[i] * lb[i];
    double cs = dot / sqrt(na * nb);
    CHECKF(cs > COSINE_MIN, "cosine of q8_0 vs f32 logits %.5f", cs);
    int same = 0, inrange = 1;
    for (int k = 0; k < 16; k++) same += ga[k] == gb[k], inrange &= gb[k] >= 0 && gb[k] < 512;
    CHECK(inrange);
    fprintf(stderr, "q8_0 vs f32: logits cosine %.6f, greedy tokens equal %d/16\n", cs, same);
    unlink(out);
    return 1;
}

int main(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/pagoda-quant-XXXXXX");
    REQUIRE(mkdtemp(tmpdir));
    test_writer();
    test_quantize_cli();
    rmdir(tmpdir);
    return t_done("test_quantize");
}
