/* toolcall_impl.h - private to toolcall.c and toolcall_stream.c: the
 * parser's buffers and result, resume points, and the one reader both the
 * one-shot parse and the stream use (see toolcall.c's design note). */
#ifndef PG_SERVER_TOOLCALL_IMPL_H
#define PG_SERVER_TOOLCALL_IMPL_H

#include "server/toolcall.h"

#include <stddef.h>

/* Growable bytes, NUL-terminated; err set on allocation failure. */
typedef struct tbuf {
    char *p;
    size_t len, cap;
    int err;
} tbuf;
void pg_tc_tb_put(tbuf *b, const char *s, size_t n);

/* What one read produced. */
typedef struct pres {
    tbuf content, reasoning;
    pg_tc_call *calls;
    size_t n_calls, cap_calls;
    int has_reasoning;
    int oom;
} pres;
void pg_tc_pres_free(pres *r);

/* A point where a later read may resume (streams): everything before off
 * is decided and the output produced before it ends in a non-space byte
 * (so no later strip reaches across it). */
enum { CK_NONE = 0, CK_BODY, CK_REASONING };
typedef struct ckpt {
    size_t off;
    int mode;
} ckpt;

/* Reads t[0..n): final = the whole answer, else a prefix (PARTIAL).
 * from: resume at that point (the output then holds only what follows it;
 * calls_before calls came before it); co: PARTIAL's furthest resume point
 * (mode CK_NONE if none). */
void pg_tc_parse_core(const pg_tc_style *st, unsigned flags, const char *t, size_t n, int final, const ckpt *from,
                      size_t calls_before, pres *r, ckpt *co);

#endif
