/* test_bigmem.c - base/bigmem: large zero-filled buffers from mmap.
 * Sizes from 1 byte to several huge pages: the memory is zero-filled,
 * page-aligned and writable over the requested length (written, read back
 * and freed, so ASan/UBSan or a fault would catch a short mapping); sizes
 * that cannot be rounded up to whole 2 MiB pages fail with ENOMEM instead
 * of wrapping around; freeing NULL is a no-op. */
#include "test.h"

#include "base/bigmem.h"

#include <errno.h>
#include <stdint.h>
#include <unistd.h>

static void test_sizes(void) {
    const size_t MiB = (size_t)1 << 20;
    const size_t sizes[] = {0, 1, 4095, 4096, 2 * MiB - 1, 2 * MiB, 2 * MiB + 1, 5 * MiB + 123, 64 * MiB};
    const long page = sysconf(_SC_PAGESIZE);
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t n = sizes[i];
        unsigned char *p = pg_bigmem_alloc(n);
        CHECKF(p != NULL, "alloc %zu", n);
        if (!p) continue;
        CHECKF((uintptr_t)p % (uintptr_t)page == 0, "alloc %zu not page-aligned", n);
        /* zero-filled: every page's first and last byte and a stride */
        size_t len = n ? n : 1, nonzero = 0;
        for (size_t k = 0; k < len; k += 4093) nonzero += p[k] != 0;
        nonzero += p[len - 1] != 0;
        CHECKF(nonzero == 0, "alloc %zu not zero-filled", n);
        /* writable over the whole length */
        for (size_t k = 0; k < len; k += 4096) p[k] = (unsigned char)(k >> 12 | 1);
        p[len - 1] = 0xA5;
        size_t bad = 0;
        for (size_t k = 0; k + 1 < len; k += 4096) bad += p[k] != (unsigned char)(k >> 12 | 1);
        CHECKF(bad == 0 && p[len - 1] == 0xA5, "alloc %zu lost writes", n);
        pg_bigmem_free(p, n);
    }
}

static void test_limits(void) {
    errno = 0;
    CHECK(pg_bigmem_alloc(SIZE_MAX) == NULL);
    CHECK(errno == ENOMEM);
    errno = 0;
    CHECK(pg_bigmem_alloc(SIZE_MAX - ((size_t)1 << 20)) == NULL); /* rounding would wrap */
    CHECK(errno == ENOMEM);
    pg_bigmem_free(NULL, 123); /* no-op */
    /* many small buffers: each is its own mapping, all distinct */
    void *ps[16];
    for (int i = 0; i < 16; i++) {
        ps[i] = pg_bigmem_alloc(100);
        CHECK(ps[i] != NULL);
        for (int j = 0; j < i; j++) CHECK(ps[i] != ps[j]);
    }
    for (int i = 0; i < 16; i++) pg_bigmem_free(ps[i], 100);
}

int main(void) {
    test_sizes();
    test_limits();
    return t_done("test_bigmem");
}
