/* arena.c - chunk list bump allocator. Each chunk: header + payload. The
 * first chunk is kept across resets so a steady workload does not malloc. */
#include "base/arena.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct chunk {
    struct chunk *next;
    size_t cap, used;
    unsigned char data[];
} chunk;

struct pg_arena {
    chunk *head;   /* current chunk (most recent) */
    chunk *first;  /* oldest chunk, kept on reset */
    size_t chunk_size;
    size_t total_used;
};

static chunk *chunk_new(size_t cap) {
    if (cap > SIZE_MAX - sizeof(chunk)) return NULL;
    chunk *c = malloc(sizeof(chunk) + cap);
    if (!c) return NULL;
    c->next = NULL;
    c->cap = cap;
    c->used = 0;
    return c;
}

pg_arena *pg_arena_create(size_t chunk_size) {
    pg_arena *a = calloc(1, sizeof *a);
    if (!a) return NULL;
    a->chunk_size = chunk_size ? chunk_size : 64 * 1024;
    return a;
}

void pg_arena_destroy(pg_arena *a) {
    if (!a) return;
    chunk *c = a->head;
    while (c) {
        chunk *n = c->next;
        free(c);
        c = n;
    }
    free(a);
}

void *pg_arena_alloc_aligned(pg_arena *a, size_t size, size_t align) {
    if (align < 16) align = 16;
    if (size == 0) size = 1;
    chunk *c = a->head;
    if (c) {
        /* align the address, not the offset: malloc gives only 16 */
        uintptr_t base = (uintptr_t)c->data;
        size_t off = (size_t)(((base + c->used + align - 1) & ~(uintptr_t)(align - 1)) - base);
        if (off >= c->used && off <= c->cap && size <= c->cap - off) {
            c->used = off + size;
            a->total_used += size;
            return c->data + off;
        }
    }
    size_t need = size;
    if (need > SIZE_MAX - align) return NULL;
    need += align;
    size_t cap = need > a->chunk_size ? need : a->chunk_size;
    chunk *n = chunk_new(cap);
    if (!n) return NULL;
    n->next = a->head;
    a->head = n;
    if (!a->first) a->first = n;
    size_t off = ((uintptr_t)n->data % align) ? align - ((uintptr_t)n->data % align) : 0;
    n->used = off + size;
    a->total_used += size;
    return n->data + off;
}

void *pg_arena_alloc(pg_arena *a, size_t size) { return pg_arena_alloc_aligned(a, size, 16); }

void *pg_arena_calloc(pg_arena *a, size_t n, size_t size) {
    size_t tot;
    if (__builtin_mul_overflow(n, size, &tot)) return NULL;
    void *p = pg_arena_alloc(a, tot);
    if (p) memset(p, 0, tot);
    return p;
}

char *pg_arena_strndup(pg_arena *a, const char *s, size_t n) {
    if (n == SIZE_MAX) return NULL;
    char *p = pg_arena_alloc_aligned(a, n + 1, 1);
    if (!p) return NULL;
    memcpy(p, s, n);
    p[n] = 0;
    return p;
}

void pg_arena_reset(pg_arena *a) {
    chunk *c = a->head;
    while (c && c != a->first) {
        chunk *n = c->next;
        free(c);
        c = n;
    }
    a->head = a->first;
    if (a->first) a->first->used = 0;
    a->total_used = 0;
}

size_t pg_arena_used(const pg_arena *a) { return a->total_used; }
