/* bigmem.c - see bigmem.h. The mapping is rounded up to whole 2 MiB so the
 * last huge page is usable; MADV_HUGEPAGE is advice (THP may be off, then
 * the buffer just has 4 KiB pages). */
#include "base/bigmem.h"

#include <errno.h>
#include <sys/mman.h>

#define HUGE_SZ ((size_t)2 << 20)

static size_t round_len(size_t n) { return n > (size_t)-1 - HUGE_SZ ? 0 : (n + HUGE_SZ - 1) / HUGE_SZ * HUGE_SZ; }

void *pg_bigmem_alloc(size_t n) {
    const size_t len = round_len(n ? n : 1);
    if (!len) {
        errno = ENOMEM; /* n too large to round up */
        return NULL;
    }
    void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return NULL;
#ifdef MADV_HUGEPAGE
    (void)madvise(p, len, MADV_HUGEPAGE);
#endif
    return p;
}

void pg_bigmem_free(void *p, size_t n) {
    if (p) munmap(p, round_len(n ? n : 1));
}
