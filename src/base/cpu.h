/* cpu.h - run-time CPU feature detection and the kernel dispatch level.
 *
 * The level is the best the CPU supports, lowered by the environment
 * variable PAGODA_CPU=scalar|avx2|avx512 (tests force each level; CI on a
 * machine without AVX-512 still runs the AVX2 and scalar paths). */
#ifndef PG_BASE_CPU_H
#define PG_BASE_CPU_H

typedef enum {
    PG_CPU_SCALAR = 0,
    PG_CPU_AVX2 = 1,   /* AVX2 + FMA + F16C */
    PG_CPU_AVX512 = 2, /* AVX-512 F/BW/VL/DQ + VNNI */
} pg_cpu_level;

typedef struct {
    int avx2, fma, f16c, avx512f, avx512bw, avx512vl, avx512dq, avx512vnni, avxvnni, avx512bf16;
} pg_cpu_features;

const pg_cpu_features *pg_cpu_detect(void);
/* Best supported level, capped by PAGODA_CPU; cached after first call. */
pg_cpu_level pg_cpu_level_get(void);
/* Force a level (tests); capped at what the CPU supports. Returns the level set. */
pg_cpu_level pg_cpu_level_set(pg_cpu_level l);
pg_cpu_level pg_cpu_level_max(void);
const char *pg_cpu_level_name(pg_cpu_level l);

#endif
