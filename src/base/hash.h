/* hash.h - the integer mixing functions used across pagoda (splitmix64
 * and Fibonacci hashing), in one place instead of a copy per module.
 *
 * None is cryptographic: they spread keys over hash tables and seed or
 * step PRNGs. Where a hash must resist crafted input (prefix-cache blocks,
 * request ids) the caller mixes in a per-process random key first. The
 * functions are fixed: changing one changes every seeded output (sampler
 * streams, synthetic models), so they are part of the reproducibility
 * contract. */
#ifndef PG_BASE_HASH_H
#define PG_BASE_HASH_H

#include <stdint.h>

/* 2^64 / golden ratio, odd: the splitmix64 increment and the Fibonacci
 * hashing multiplier. */
#define PG_HASH_GOLDEN 0x9E3779B97F4A7C15ULL
/* splitmix64's two finaliser multipliers (Stafford's variant 13). */
#define PG_HASH_MIX1 0xBF58476D1CE4E5B9ULL
#define PG_HASH_MIX2 0x94D049BB133111EBULL

/* The splitmix64 finaliser: a bijection of 64-bit words with full
 * avalanche. */
static inline uint64_t pg_hash_fmix64(uint64_t z) {
    z = (z ^ (z >> 30)) * PG_HASH_MIX1;
    z = (z ^ (z >> 27)) * PG_HASH_MIX2;
    return z ^ (z >> 31);
}

/* One splitmix64 step: advances *state by the golden increment and returns
 * the mixed value (a PRNG with period 2^64, or a seed expander). */
static inline uint64_t pg_splitmix64(uint64_t *state) { return pg_hash_fmix64(*state += PG_HASH_GOLDEN); }

/* splitmix64 of one word without state: mix64(x) = fmix64(x + golden). */
static inline uint64_t pg_mix64(uint64_t x) { return pg_hash_fmix64(x + PG_HASH_GOLDEN); }

/* Fibonacci hashing: the key times the golden multiplier; callers take the
 * high bits (>> (64 - bits)) as a table index, where the mixing is best. */
static inline uint64_t pg_hash_fib(uint64_t key) { return key * PG_HASH_GOLDEN; }

#endif
