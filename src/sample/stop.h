/* stop.h - stop-string matcher over a streamed, detokenized text.
 *
 * Feed each new piece of text as it is produced. The matcher emits every
 * byte that can no longer be part of a stop string and holds back the
 * longest suffix of the stream that is a prefix of some stop string (at most
 * max_len - 1 bytes), so matches across piece/token boundaries are found.
 *
 * Semantics: the stream is cut at the first stop-string occurrence, where
 * "first" is the occurrence that is complete earliest (fewest bytes fed);
 * among occurrences complete at the same byte, the longest (earliest start).
 * Everything before the cut has been emitted once the result says stopped;
 * the stop string and anything after it is never emitted. This depends only
 * on the bytes, never on how they were split into pieces. Matching is on raw
 * bytes (UTF-8 strings match UTF-8 text byte for byte).
 *
 * Memory: the matcher owns at most PG_STOP_MAX_LEN bytes of held text; the
 * caller provides the output buffer. No allocation after create.
 */
#ifndef PG_SAMPLE_STOP_H
#define PG_SAMPLE_STOP_H

#include <stddef.h>

#include "base/error.h"

#define PG_STOP_MAX_STRINGS 16
#define PG_STOP_MAX_LEN 256 /* bytes per stop string */

typedef struct pg_stop pg_stop;

typedef struct pg_stop_result {
    size_t n_emit;  /* bytes written to dst by this call */
    int stopped;    /* 1 once a stop string matched (sticky) */
    int stop_index; /* which stop string (index given to create), -1 if none */
} pg_stop_result;

/* n stop strings (NUL-terminated, non-empty, <= PG_STOP_MAX_LEN bytes,
 * n <= PG_STOP_MAX_STRINGS; n == 0 is allowed and never stops). On bad input
 * returns PG_EINVAL with a message and *out = NULL. */
int pg_stop_create(const char *const *stops, int n, pg_stop **out, pg_error *err);
void pg_stop_destroy(pg_stop *s);
void pg_stop_reset(pg_stop *s);

/* Longest stop string (0 if none); feed needs dst_cap >= len + max_len. */
size_t pg_stop_max_len(const pg_stop *s);
/* Stop string i (pattern bytes, *len set), NULL if out of range. */
const char *pg_stop_string(const pg_stop *s, int i, size_t *len);
/* Bytes currently held back. */
size_t pg_stop_held(const pg_stop *s);

/* Feed text[0, len). Writes the bytes now safe to emit (previously held
 * bytes first, in stream order) to dst and fills *r. After a stop, further
 * feeds emit nothing. PG_ERANGE if dst_cap < len + pg_stop_max_len(s). */
int pg_stop_feed(pg_stop *s, const char *text, size_t len, char *dst, size_t dst_cap,
                 pg_stop_result *r);
/* End of generation (no stop): writes the held bytes to dst (cap >=
 * pg_stop_max_len) and returns their count; 0 after a stop. */
size_t pg_stop_flush(pg_stop *s, char *dst, size_t dst_cap);

#endif
