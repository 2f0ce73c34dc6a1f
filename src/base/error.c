/* error.c - see error.h. Messages are truncated to fit pg_error.msg. */
#include "base/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

int pg_error_set(pg_error *e, int code, const char *fmt, ...) {
    if (e) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(e->msg, sizeof e->msg, fmt, ap);
        va_end(ap);
        e->code = code;
    }
    return code;
}

void pg_error_clear(pg_error *e) {
    if (e) {
        e->code = 0;
        e->msg[0] = 0;
    }
}

const char *pg_error_code_name(int code) {
    switch (code) {
    case PG_OK: return "ok";
    case PG_EINVAL: return "invalid argument";
    case PG_EIO: return "i/o error";
    case PG_ENOMEM: return "out of memory";
    case PG_EFORMAT: return "malformed data";
    case PG_EUNSUPPORTED: return "unsupported";
    case PG_ERANGE: return "out of range";
    case PG_ENOTFOUND: return "not found";
    case PG_ELIMIT: return "limit exceeded";
    case PG_ECANCELED: return "canceled";
    case PG_EBUSY: return "busy";
    default: return "error";
    }
}

void pg_panic(const char *file, int line, const char *fmt, ...) {
    va_list ap;
    fprintf(stderr, "pagoda: internal error at %s:%d: ", file, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    abort();
}
