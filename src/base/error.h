/* error.h - the two error tiers of pagoda.
 *
 * Tier 1, bad input (files, HTTP, JSON, parameters): functions return a
 * negative PG_E* code and fill a pg_error whose message can go straight into
 * an error body or a one-line CLI error. Nothing aborts on bad input.
 *
 * Tier 2, broken invariants (bugs): PG_ASSERT / PG_PANIC abort with
 * file:line. The one variant of this tier is PG_TRAP, for the shape checks
 * of the hot SIMD tile kernels (a tile kernel called with a shape it cannot
 * handle: a dispatcher bug, never input): it stops the process with SIGILL
 * (__builtin_trap) instead of calling pg_panic, so the kernel stays a leaf
 * function with the code it was tuned with (a call there costs the red zone
 * and changes spills). The core dump / debugger shows the kernel and the
 * faulting instruction; there is no message. Nothing else may trap.
 *
 * Out of memory is tier 1 (PG_ENOMEM, the request fails, the process
 * lives), except at start-up where the CLI may exit. */
#ifndef PG_BASE_ERROR_H
#define PG_BASE_ERROR_H

#include <stddef.h>

enum {
    PG_OK = 0,
    PG_EINVAL = -1,      /* bad argument or parameter */
    PG_EIO = -2,         /* open/read/mmap failed */
    PG_ENOMEM = -3,      /* allocation failed or budget exceeded */
    PG_EFORMAT = -4,     /* malformed file / data */
    PG_EUNSUPPORTED = -5,/* well-formed but not supported (type, arch, ...) */
    PG_ERANGE = -6,      /* value out of range / overflow */
    PG_ENOTFOUND = -7,   /* missing key, tensor, model ... */
    PG_ELIMIT = -8,      /* a work/size limit was hit (templates, queues) */
    PG_ECANCELED = -9,
    PG_EBUSY = -10,
};

typedef struct pg_error {
    int code;
    char msg[512];
} pg_error;

/* Fill *e (if not NULL) and return code. printf-style. */
int pg_error_set(pg_error *e, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void pg_error_clear(pg_error *e);
const char *pg_error_code_name(int code);

/* cold: the compiler moves the panic paths out of hot loops (the tile
 * kernels check their shapes per call). */
_Noreturn void pg_panic(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4), cold));

#define PG_ASSERT(cond)                                                      \
    do {                                                                     \
        if (!(cond)) pg_panic(__FILE__, __LINE__, "assertion failed: %s", #cond); \
    } while (0)
#define PG_PANIC(...) pg_panic(__FILE__, __LINE__, __VA_ARGS__)
/* Tier 2 inside hot SIMD kernels only (see above). */
#define PG_TRAP() __builtin_trap()

/* Overflow-checked size arithmetic: return 0 on success, -1 on overflow. */
static inline int pg_mul_size(size_t a, size_t b, size_t *out) {
    return __builtin_mul_overflow(a, b, out) ? -1 : 0;
}
static inline int pg_add_size(size_t a, size_t b, size_t *out) {
    return __builtin_add_overflow(a, b, out) ? -1 : 0;
}

#endif
