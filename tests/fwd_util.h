/* fwd_util.h - test support: a model with its KV store, forward pass and
 * pool, and a helper that feeds one sequence through pg_forward_run. */
#ifndef PG_TEST_FWD_UTIL_H
#define PG_TEST_FWD_UTIL_H

#include "base/pool.h"
#include "model/model.h"

typedef struct {
    pg_model *m;
    pg_forward *f;
    pg_kv_store *kv;
    pg_pool *pool;
    int32_t n_vocab;
} fwd_ctx;

/* Takes ownership of m. Aborts the test on failure (these are fixtures). */
void fwd_open_model(fwd_ctx *c, pg_model *m, int32_t n_blocks, int32_t block_size, int kv_type, int32_t max_tokens,
                    int32_t max_out);
/* Returns -1 (and prints why) if the model does not load. */
int fwd_open(fwd_ctx *c, const char *path, int32_t n_blocks, int32_t block_size, int kv_type, int32_t max_tokens,
             int32_t max_out);
void fwd_close(fwd_ctx *c);
/* Runs tokens [0, n) of one sequence at positions start.. in chunks of
 * `chunk`; writes the last token's logits. */
void fwd_run_seq(fwd_ctx *c, const int32_t *table, int32_t n_blocks, const int32_t *toks, int n, int start, int chunk,
                 float *logits);
int fwd_argmax(const float *x, int n);

#endif
