/* demo.h - the built-in demo model (`pagoda serve` without -m; tests): a tiny
 * Llama (n_embd 64, 2 layers, 4 heads, byte-level SentencePiece vocabulary
 * of 256 byte tokens plus <unk> <s> </s> "▁" <|im_start|> <|im_end|>, a
 * ChatML chat template) with seeded random weights. It is written as a GGUF
 * image in memory by the GGUF writer (gguf/gguf_write.h) and loaded
 * through pg_gguf_open_mem + pg_model_load_gguf, so it goes through the
 * real loader and tokenizer. */
#ifndef PG_MODEL_DEMO_H
#define PG_MODEL_DEMO_H

#include "base/error.h"
#include "model/model.h"

#include <stddef.h>
#include <stdint.h>

#define PG_DEMO_NAME "pagoda-demo"
#define PG_DEMO_NOTICE                                                          \
    "pagoda-demo: random weights - serve a real model with pagoda serve -m FILE.gguf"

/* Builds the GGUF image (malloc'd, *image / *size; the caller frees it after
 * pg_model_free) and loads it. */
int pg_demo_model_create(uint64_t seed, pg_model **out, void **image, size_t *size, pg_error *err);

#endif
