/* arena.h - bump allocator for per-request / per-load memory.
 * Memory comes in chunks from malloc; everything is freed in one call
 * (pg_arena_reset keeps the first chunk for reuse). Not thread-safe. */
#ifndef PG_BASE_ARENA_H
#define PG_BASE_ARENA_H

#include <stddef.h>

typedef struct pg_arena pg_arena;

/* chunk_size: default size of each chunk (larger requests get their own). */
pg_arena *pg_arena_create(size_t chunk_size);
void pg_arena_destroy(pg_arena *a);
/* Returns NULL when malloc fails or size overflows. Alignment 16 (or align if larger, power of 2). */
void *pg_arena_alloc(pg_arena *a, size_t size);
void *pg_arena_alloc_aligned(pg_arena *a, size_t size, size_t align);
void *pg_arena_calloc(pg_arena *a, size_t n, size_t size);
char *pg_arena_strndup(pg_arena *a, const char *s, size_t n);
/* Free all chunks but the first; reuse it. */
void pg_arena_reset(pg_arena *a);
size_t pg_arena_used(const pg_arena *a);

#endif
