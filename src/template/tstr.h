/* tstr.h - Unicode (UTF-8) string helpers shared by the template builtins:
 * code point walking, Python's whitespace, simple case mapping, and the
 * str methods that scan or split (strip, split, replace, find, ...).
 * Functions taking a pg_tpl_rt charge their scans to the render's cost
 * budget, allocate in the render arena and fail through pg_tpl_rt_fail;
 * the others never allocate and are O(1) or scan what the caller charged. */
#ifndef PG_TEMPLATE_TSTR_H
#define PG_TEMPLATE_TSTR_H

#include "template/rt.h"

#include <stddef.h>
#include <stdint.h>

static inline int pg_ts_isdigit(int c) { return c >= '0' && c <= '9'; }
static inline int pg_ts_isalpha(int c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

/* Markup flag (jv.aux = 1 on strings): set, and carried from in to out. */
static inline pg_jv pg_ts_markup(pg_jv s) {
    s.aux = 1;
    return s;
}
static inline pg_jv pg_ts_keep_markup(pg_jv in, pg_jv out) {
    if (in.type == PG_JV_STRING && in.aux && out.type == PG_JV_STRING) out.aux = 1;
    return out;
}

/* Byte length of the code point starting at byte i (i < n). */
size_t pg_ts_cp_len(const char *s, size_t n, size_t i);
/* Code point at byte i; *len (may be NULL) gets its byte length. */
uint32_t pg_ts_cp_at(const char *s, size_t n, size_t i, size_t *len);
/* Byte offset of code point index ci (clamped to n). */
size_t pg_ts_cp_offset(const char *s, size_t n, size_t ci);
int pg_ts_is_space(uint32_t c); /* Python str.isspace for one char */
/* Byte length of the whitespace char at byte i, 0 if none. */
size_t pg_ts_ws_at(const char *s, size_t n, size_t i);
uint32_t pg_ts_lower(uint32_t c);
uint32_t pg_ts_upper(uint32_t c);
int pg_ts_cased(uint32_t c);
void pg_ts_put_cp(pg_jv_buf *b, uint32_t c); /* UTF-8 encode */
/* memmem that finds the empty needle at h. */
const char *pg_ts_memmem(const char *h, size_t hn, const char *nd, size_t nn);

/* which: 1 = left, 2 = right, 3 = both; chars NONE = whitespace. Borrows s. */
pg_jv pg_ts_strip(pg_tpl_rt *rt, pg_jv s, pg_jv chars, int which);
/* mode 0 lower, 1 upper, 2 str.capitalize, 3 str.title, 4 Jinja title
 * (words split at whitespace and "-({[<", first letter up, rest down). */
pg_jv pg_ts_map_case(pg_tpl_rt *rt, pg_jv s, int mode);
/* str.replace(old, new, count); count < 0 = all. */
pg_jv pg_ts_replace(pg_tpl_rt *rt, pg_jv s, pg_jv old, pg_jv nw, int64_t count);
/* str.split / str.rsplit (right); sep NONE = whitespace; maxsplit < 0 = all. */
pg_jv pg_ts_split(pg_tpl_rt *rt, pg_jv s, pg_jv sep, int64_t maxsplit, int right);
pg_jv pg_ts_splitlines(pg_tpl_rt *rt, pg_jv s); /* keepends=False */
/* markupsafe.escape: a Markup string is returned as is; the result is Markup. */
pg_jv pg_ts_escape(pg_tpl_rt *rt, pg_jv s);
/* str.find / rfind (rev): code point index or -1. */
int64_t pg_ts_find(pg_tpl_rt *rt, pg_jv s, pg_jv sub, int rev);
/* startswith / endswith (end); x a string or a list of strings. */
int pg_ts_affix(pg_tpl_rt *rt, pg_jv s, pg_jv x, int end);
/* kind: 0 isalnum, 1 isalpha, 2 isdigit, 3 isspace, 4 islower, 5 isupper. */
int pg_ts_all(pg_tpl_rt *rt, pg_jv s, int kind);

#endif
