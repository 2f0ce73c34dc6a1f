/* types.c - the type table and the type kernels of each level.
 *
 * Static facts (name, block size, type size, vec_dot_type) live in `info`.
 * The kernels come from the kernel sets (dispatch.h): types_init
 * resolves them once (pthread_once) into `resolved[level][type]`, the
 * traits a caller sees at that level. */
#include "tensor/types.h"

#include "tensor/dispatch.h"

#include "tensor/blocks.h"

#include <pthread.h>
#include <stdint.h>

static pg_type_traits info[PG_TYPE_COUNT];
static pg_type_traits resolved[3][PG_TYPE_COUNT];
static pthread_once_t once = PTHREAD_ONCE_INIT;

#define T(id, nm, blk, sz, ok, vdt) \
    info[id] = (pg_type_traits){.name = nm, .known = 1, .weight_ok = ok, .blck_size = blk, .type_size = sz, .vec_dot_type = vdt}

static void fill_info(void) {
    T(PG_TYPE_F32, "f32", 1, 4, 1, PG_TYPE_F32);
    T(PG_TYPE_F16, "f16", 1, 2, 1, PG_TYPE_F32);
    T(PG_TYPE_BF16, "bf16", 1, 2, 1, PG_TYPE_F32);
    T(PG_TYPE_Q4_0, "q4_0", QK4_0, sizeof(block_q4_0), 1, PG_TYPE_Q8_0);
    T(PG_TYPE_Q4_1, "q4_1", QK4_1, sizeof(block_q4_1), 1, PG_TYPE_Q8_1);
    T(PG_TYPE_Q5_0, "q5_0", QK5_0, sizeof(block_q5_0), 1, PG_TYPE_Q8_0);
    T(PG_TYPE_Q5_1, "q5_1", QK5_1, sizeof(block_q5_1), 1, PG_TYPE_Q8_1);
    T(PG_TYPE_Q8_0, "q8_0", QK8_0, sizeof(block_q8_0), 1, PG_TYPE_Q8_0);
    T(PG_TYPE_Q8_1, "q8_1", QK8_1, sizeof(block_q8_1), 0, PG_TYPE_Q8_1);
    T(PG_TYPE_Q2_K, "q2_K", QK_K, sizeof(block_q2_K), 1, PG_TYPE_Q8_K);
    T(PG_TYPE_Q3_K, "q3_K", QK_K, sizeof(block_q3_K), 1, PG_TYPE_Q8_K);
    T(PG_TYPE_Q4_K, "q4_K", QK_K, sizeof(block_q4_K), 1, PG_TYPE_Q8_K);
    T(PG_TYPE_Q5_K, "q5_K", QK_K, sizeof(block_q5_K), 1, PG_TYPE_Q8_K);
    T(PG_TYPE_Q6_K, "q6_K", QK_K, sizeof(block_q6_K), 1, PG_TYPE_Q8_K);
    T(PG_TYPE_Q8_K, "q8_K", QK_K, sizeof(block_q8_K), 0, PG_TYPE_Q8_K);
    T(PG_TYPE_IQ4_NL, "iq4_nl", QK4_NL, sizeof(block_iq4_nl), 1, PG_TYPE_Q8_0);
    T(PG_TYPE_IQ4_XS, "iq4_xs", QK_K, sizeof(block_iq4_xs), 1, PG_TYPE_Q8_K);
    /* Known to ggml but not supported by pagoda: sizes from ggml's table so
     * that `info` can still describe files that hold them. */
    T(PG_TYPE_IQ2_XXS, "iq2_xxs", QK_K, 66, 0, PG_TYPE_Q8_K);
    T(PG_TYPE_IQ2_XS, "iq2_xs", QK_K, 74, 0, PG_TYPE_Q8_K);
    T(PG_TYPE_IQ3_XXS, "iq3_xxs", QK_K, 98, 0, PG_TYPE_Q8_K);
    T(PG_TYPE_IQ1_S, "iq1_s", QK_K, 50, 0, PG_TYPE_Q8_K);
    T(PG_TYPE_IQ3_S, "iq3_s", QK_K, 110, 0, PG_TYPE_Q8_K);
    T(PG_TYPE_IQ2_S, "iq2_s", QK_K, 82, 0, PG_TYPE_Q8_K);
    T(PG_TYPE_IQ1_M, "iq1_m", QK_K, 56, 0, PG_TYPE_Q8_K);
    T(PG_TYPE_I8, "i8", 1, 1, 0, PG_TYPE_F32);
    T(PG_TYPE_I16, "i16", 1, 2, 0, PG_TYPE_F32);
    T(PG_TYPE_I32, "i32", 1, 4, 0, PG_TYPE_F32);
    T(PG_TYPE_I64, "i64", 1, 8, 0, PG_TYPE_F32);
    T(PG_TYPE_F64, "f64", 1, 8, 0, PG_TYPE_F32);
}

/* Resolve every level once: a slot takes the kernel of the highest level
 * <= l that has one (the scalar families have all of them). */
static void init_once(void) {
    fill_info();
    for (int l = 0; l <= (int)PG_CPU_AVX512; l++) {
        for (int t = 0; t < PG_TYPE_COUNT; t++) resolved[l][t] = info[t];
        for (int k = 0; k <= l; k++) {
            const pg_kernel_set *ks = pg_kernels_at((pg_cpu_level)k);
            if ((int)ks->level != k) continue; /* level not in this build / CPU */
            for (int f = 0; f < PG_TYPE_FAMILIES; f++) {
                if (!ks->types[f]) continue;
                for (int t = 0; t < PG_TYPE_COUNT; t++) {
                    const pg_type_kernels *tk = &ks->types[f][t];
                    pg_type_traits *tr = &resolved[l][t];
                    if (tk->to_float) tr->to_float = tk->to_float;
                    if (tk->from_float) tr->from_float = tk->from_float;
                    if (tk->vec_dot) tr->vec_dot = tk->vec_dot;
                }
            }
        }
    }
}

static void types_init(void) { pthread_once(&once, init_once); }

const pg_type_traits *pg_type_get_level(int type, pg_cpu_level level) {
    types_init();
    if (type < 0 || type >= PG_TYPE_COUNT || !info[type].known) return NULL;
    if ((int)level < 0) level = PG_CPU_SCALAR;
    if (level > PG_CPU_AVX512) level = PG_CPU_AVX512;
    return &resolved[level][type];
}

const pg_type_traits *pg_type_get(int type) { return pg_type_get_level(type, pg_cpu_level_get()); }

const char *pg_type_name(int type) {
    const pg_type_traits *t = pg_type_get_level(type, PG_CPU_SCALAR);
    return t ? t->name : "unknown";
}

size_t pg_row_size(int type, int64_t n) {
    const pg_type_traits *t = pg_type_get_level(type, PG_CPU_SCALAR);
    if (!t || n < 0 || n % t->blck_size) return 0;
    size_t out;
    if (__builtin_mul_overflow((size_t)(n / t->blck_size), t->type_size, &out)) return SIZE_MAX;
    return out;
}
