/* bigmem.h - large long-lived buffers (KV cache, repacked weights) straight
 * from mmap, with transparent huge pages requested: those buffers are
 * streamed by every step, and 2 MiB pages cut TLB misses and page faults.
 * Pages are committed on first touch, so resident memory still follows use.
 * Memory is zero-filled. Returns NULL on failure (errno set). */
#ifndef PG_BASE_BIGMEM_H
#define PG_BASE_BIGMEM_H

#include <stddef.h>

void *pg_bigmem_alloc(size_t n);
void pg_bigmem_free(void *p, size_t n); /* n as given to pg_bigmem_alloc */

#endif
