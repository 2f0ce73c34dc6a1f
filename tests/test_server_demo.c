/* test_server_demo.c - the built-in demo model of `pagoda serve`: its GGUF
 * image loads through the real loader and tokenizer, text round-trips
 * through the byte-level vocabulary, the chat specials are recognised, the
 * weights are seeded (same seed -> same image, other seed -> other image)
 * and a forward pass gives finite logits over the whole vocabulary. */
#include "test.h"

#include "base/pool.h"
#include "model/model.h"
#include "model/demo.h"
#include "tokenizer/tokenizer.h"

int main(void) {
    pg_error err = {0};
    pg_model *m;
    void *img;
    size_t sz;
    REQUIRE(pg_demo_model_create(7, &m, &img, &sz, &err) == 0);
    const pg_hparams *hp = pg_model_hparams(m);
    CHECK(!strcmp(hp->arch, "llama"));
    CHECK(!strcmp(hp->name, PG_DEMO_NAME));
    CHECK(hp->n_embd == 64 && hp->n_layer == 2 && hp->n_head == 4 && hp->n_vocab == 262);
    pg_vocab *v;
    REQUIRE(pg_vocab_load(pg_model_gguf(m), &v, &err) == 0);
    CHECK(pg_vocab_n_tokens(v) == hp->n_vocab);
    CHECK(!strcmp(pg_vocab_kind(v), "llama"));
    CHECK(pg_vocab_bos(v) == 1 && pg_vocab_eos(v) == 2);

    const char *text = "Hello world, caf\xc3\xa9 \xf0\x9f\x90\x8d!";
    int32_t ids[256];
    int64_t n = pg_tokenize(v, text, strlen(text), 1, 0, ids, 256, &err);
    REQUIRE(n > 2 && n < 256);
    CHECK(ids[0] == 1);
    char out[512];
    int64_t k = pg_detokenize(v, ids, (size_t)n, out, sizeof out, 0);
    CHECKF(k == (int64_t)strlen(text) && !memcmp(out, text, strlen(text)), "got '%.*s'", (int)k, out);

    const char *chat = "<|im_start|>user\nhi<|im_end|>\n";
    n = pg_tokenize(v, chat, strlen(chat), 0, 1, ids, 256, &err);
    REQUIRE(n > 0);
    CHECK(ids[0] == 260);
    int found_end = 0;
    for (int64_t i = 0; i < n; i++) found_end |= ids[i] == 261;
    CHECK(found_end);
    CHECK(pg_vocab_is_eog(v, 261));
    size_t tl;
    const void *base = pg_gguf_base(pg_model_gguf(m), &tl);
    CHECK(base == img && tl == sz);

    /* seeded: same seed same bytes, other seed other bytes */
    pg_model *m2, *m3;
    void *img2, *img3;
    size_t sz2, sz3;
    REQUIRE(pg_demo_model_create(7, &m2, &img2, &sz2, &err) == 0);
    REQUIRE(pg_demo_model_create(8, &m3, &img3, &sz3, &err) == 0);
    CHECK(sz2 == sz && !memcmp(img, img2, sz));
    CHECK(sz3 == sz && memcmp(img, img3, sz) != 0);
    pg_model_free(m2);
    free(img2);
    pg_model_free(m3);
    free(img3);

    /* one forward pass */
    pg_pool *pool = pg_pool_create(1);
    pg_kv_store *kv;
    pg_forward *f;
    REQUIRE(pg_kv_store_create(m, 1, 16, PG_KV_F32, &kv, &err) == 0);
    REQUIRE(pg_forward_create(m, pool, 16, 1, 16, &f, &err) == 0);
    int32_t toks[3] = {1, 3 + 'h', 3 + 'i'}, pos[3] = {0, 1, 2}, seq[3] = {0, 0, 0}, table[1] = {0}, last = 2;
    pg_batch_seq bs = {table, 1};
    pg_batch b = {3, toks, pos, seq, 1, &bs, 1, &last};
    float logits[262];
    REQUIRE(pg_forward_run(f, kv, &b, logits, &err) == 0);
    int finite = 1;
    float lo = logits[0], hi = logits[0];
    for (int i = 0; i < 262; i++) {
        finite &= isfinite(logits[i]);
        if (logits[i] < lo) lo = logits[i];
        if (logits[i] > hi) hi = logits[i];
    }
    CHECK(finite);
    CHECKF(hi - lo > 0.1f, "logits spread %g", hi - lo);
    pg_forward_destroy(f);
    pg_kv_store_destroy(kv);
    pg_pool_destroy(pool);
    pg_vocab_free(v);
    pg_model_free(m);
    free(img);
    return t_done("test_server_demo");
}
