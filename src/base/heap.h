/* heap.h - one binary heap for the whole code base, generated per element
 * type so that the comparison inlines (the tokenizers' merge loops run it
 * per symbol pair).
 *
 *   PG_HEAP_DEFINE(prefix, T, before)
 *
 * defines static inline
 *   void prefix_push(T *h, size_t *n, T x);   h has room for *n + 1
 *   T    prefix_pop(T *h, size_t *n);         *n > 0; returns the top
 * where before(const T *a, const T *b) is nonzero when a must come out
 * before b (a strict weak order; ties come out in an unspecified but
 * deterministic order). The caller owns the array and its capacity; the
 * heap never allocates. Sift-up / sift-down with a hole (one copy per
 * level). */
#ifndef PG_BASE_HEAP_H
#define PG_BASE_HEAP_H

#include <stddef.h>

#define PG_HEAP_DEFINE(prefix, T, before)                                                                              \
    static inline void prefix##_push(T *h, size_t *n, T x) {                                                           \
        size_t i = (*n)++;                                                                                             \
        while (i > 0) {                                                                                                \
            size_t p = (i - 1) / 2;                                                                                    \
            if (!before(&x, &h[p])) break;                                                                             \
            h[i] = h[p];                                                                                               \
            i = p;                                                                                                     \
        }                                                                                                              \
        h[i] = x;                                                                                                      \
    }                                                                                                                  \
    static inline T prefix##_pop(T *h, size_t *n) {                                                                    \
        T top = h[0], x = h[--(*n)];                                                                                   \
        size_t i = 0, m = *n;                                                                                          \
        for (;;) {                                                                                                     \
            size_t c = 2 * i + 1;                                                                                      \
            if (c >= m) break;                                                                                         \
            if (c + 1 < m && before(&h[c + 1], &h[c])) c++;                                                            \
            if (!before(&h[c], &x)) break;                                                                             \
            h[i] = h[c];                                                                                               \
            i = c;                                                                                                     \
        }                                                                                                              \
        if (m) h[i] = x;                                                                                               \
        return top;                                                                                                    \
    }

#endif
