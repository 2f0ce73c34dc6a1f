/* gram_cache.h - compiled grammars shared by requests (structured outputs).
 *
 *   pg_gram_ref    a compiled pg_grammar with a reference count. Whoever
 *                  holds a reference may use the grammar (create matchers);
 *                  the grammar is freed with the last reference. The engine
 *                  holds one per request from pg_engine_submit until the
 *                  request's sequences are freed, so a grammar evicted from
 *                  the cache stays alive while requests still use it.
 *   pg_gram_cache  compiled grammars keyed by (kind, flags, text), compared
 *                  by hash then by the full key bytes. Bounded by entry
 *                  count and by key bytes (the text kept for the
 *                  comparison plus the GBNF it compiled to); least recently
 *                  used entries are evicted first (only the cache's own
 *                  reference is dropped). Thread-safe: one mutex guards the
 *                  table; compiling runs outside it (two threads missing on
 *                  the same key at once may both compile; the first insert
 *                  wins and the other's grammar is freed). Compile errors
 *                  are not cached.
 *
 * Kinds and their text:
 *   PG_GRAM_GBNF         llama.cpp GBNF (start rule `root`)
 *   PG_GRAM_JSON_SCHEMA  a JSON Schema document (jsonschema.h)
 *   PG_GRAM_REGEX        an ECMAScript-subset regex, anchored (grammar.h)
 *   PG_GRAM_CHOICE       a JSON array of strings: the output is one of them
 * flags: PG_GRAM_FLEXIBLE_WS (JSON Schema only: JSON whitespace allowed
 * between tokens instead of the compact form; ignored by other kinds). */
#ifndef PG_SAMPLE_GRAM_CACHE_H
#define PG_SAMPLE_GRAM_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "sample/grammar.h"

enum { PG_GRAM_GBNF = 1, PG_GRAM_JSON_SCHEMA = 2, PG_GRAM_REGEX = 3, PG_GRAM_CHOICE = 4 };
#define PG_GRAM_FLEXIBLE_WS 1u

/* Text limits (a request's constraint): the GBNF engine's own limit. */
#define PG_GRAM_MAX_CHOICES 4096

typedef struct pg_gram_ref pg_gram_ref;
typedef struct pg_gram_cache pg_gram_cache;

/* Takes ownership of g (freed with the last reference, or at once when
 * this fails: NULL on OOM). Reference count 1. */
pg_gram_ref *pg_gram_ref_wrap(pg_grammar *g);
pg_grammar *pg_gram_ref_grammar(const pg_gram_ref *r);
void pg_gram_ref_hold(pg_gram_ref *r);
void pg_gram_ref_drop(pg_gram_ref *r); /* NULL ok */

/* Front-end + compile without a cache: *out has one reference. Errors:
 * PG_EINVAL / PG_EFORMAT / PG_ELIMIT with the front-end's or the
 * compiler's message (fit for a 400 body), PG_ENOMEM. */
int pg_gram_build(int kind, const char *text, size_t len, unsigned flags, pg_gram_ref **out, pg_error *err);

/* max_entries >= 1; max_bytes >= 1 (an entry bigger than max_bytes is
 * still returned, just not kept). NULL on OOM. */
pg_gram_cache *pg_gram_cache_create(int32_t max_entries, size_t max_bytes);
/* Drops the cache's references; grammars held elsewhere live on. */
void pg_gram_cache_destroy(pg_gram_cache *c);
/* A held reference to the compiled grammar of (kind, text, flags): from
 * the cache, or compiled and inserted. The caller drops it. Errors as
 * pg_gram_build. */
int pg_gram_cache_get(pg_gram_cache *c, int kind, const char *text, size_t len, unsigned flags, pg_gram_ref **out,
                      pg_error *err);

typedef struct pg_gram_cache_stats {
    uint64_t hits, misses, compile_errors, evictions;
    int32_t entries;
    size_t bytes;
} pg_gram_cache_stats;
void pg_gram_cache_stats_get(pg_gram_cache *c, pg_gram_cache_stats *st);

#endif
