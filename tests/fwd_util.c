/* fwd_util.c - see fwd_util.h. */
#include "fwd_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void die(const char *what, const pg_error *err) {
    fprintf(stderr, "FAIL %s: %s\n", what, err->msg);
    exit(1);
}

void fwd_open_model(fwd_ctx *c, pg_model *m, int32_t n_blocks, int32_t block_size, int kv_type, int32_t max_tokens,
                    int32_t max_out) {
    pg_error err = {0};
    c->m = m;
    c->pool = pg_pool_create(2);
    if (pg_kv_store_create(m, n_blocks, block_size, kv_type, &c->kv, &err) < 0) die("kv store", &err);
    if (pg_forward_create(m, c->pool, max_tokens, max_out, n_blocks * block_size, &c->f, &err) < 0) die("forward", &err);
    c->n_vocab = pg_model_hparams(m)->n_vocab;
}

int fwd_open(fwd_ctx *c, const char *path, int32_t n_blocks, int32_t block_size, int kv_type, int32_t max_tokens,
             int32_t max_out) {
    pg_error err = {0};
    memset(c, 0, sizeof *c);
    pg_model *m;
    if (pg_model_load(path, &m, &err) < 0) {
        fprintf(stderr, "load %s: %s\n", path, err.msg);
        return -1;
    }
    fwd_open_model(c, m, n_blocks, block_size, kv_type, max_tokens, max_out);
    return 0;
}

void fwd_close(fwd_ctx *c) {
    pg_forward_destroy(c->f);
    pg_kv_store_destroy(c->kv);
    pg_model_free(c->m);
    pg_pool_destroy(c->pool);
}

void fwd_run_seq(fwd_ctx *c, const int32_t *table, int32_t n_blocks, const int32_t *toks, int n, int start, int chunk,
                 float *logits) {
    pg_error err = {0};
    pg_batch_seq s = {table, n_blocks};
    int32_t pos[512], seq[512];
    if (chunk > 512) chunk = 512;
    for (int off = 0; off < n; off += chunk) {
        int k = n - off < chunk ? n - off : chunk;
        for (int i = 0; i < k; i++) {
            pos[i] = start + off + i;
            seq[i] = 0;
        }
        int32_t last = k - 1;
        pg_batch b = {k, toks + off, pos, seq, 1, &s, off + k == n, &last};
        if (pg_forward_run(c->f, c->kv, &b, logits, &err) < 0) die("forward", &err);
    }
}

int fwd_argmax(const float *x, int n) {
    int b = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[b]) b = i;
    return b;
}
