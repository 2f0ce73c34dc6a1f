/* cmd_quantize.c - `pagoda quantize IN.gguf OUT.gguf TYPE [--threads N]`.
 *
 * Re-encodes the weights of a GGUF file: every metadata key is copied
 * (general.file_type is replaced by the llama.cpp file-type number of
 * TYPE); 2-D+ tensors whose name ends in "weight" (except MoE routers,
 * ffn_gate_inp) are converted to the target type through the source type's
 * to_float and the target's from_float quantizer; 1-D tensors (norms,
 * biases) become f32; anything else is copied unchanged.
 *
 * q4_K_M is the llama.cpp mix (facts of its rule, non-Falcon, no experts):
 * q4_K by default; q6_K for output.weight (or token_embd.weight when the
 * model has no output.weight); q6_K for attn_v.weight and ffn_down of layer
 * i of n when use_more_bits(i, n): i < n/8 || i >= 7n/8 || (i - n/8) % 3
 * == 2; q5_K for a fused attn_qkv.weight. A row length that is not a
 * multiple of the chosen type's block falls back as llama.cpp does (q4_K ->
 * q5_0, q5_K -> q5_1, q6_K -> q8_0, q2_K/q3_K/iq4_xs -> iq4_nl; then f16).
 *
 * Tensors are produced one at a time by the writer's fill callback (the
 * output never has to fit in memory); rows are split over a thread pool,
 * each thread with its own float row buffer. */
#include "cli/commands.h"

#include "base/error.h"
#include "base/pool.h"
#include "gguf/gguf.h"
#include "gguf/gguf_write.h"
#include "tensor/types.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/* llama.cpp's llama_ftype numbers for general.file_type */
static const struct {
    const char *name;
    int type;  /* target pg_type; -1 for the q4_K_M mix */
    uint32_t ftype;
} targets[] = {
    {"f32", PG_TYPE_F32, 0},     {"f16", PG_TYPE_F16, 1},     {"q4_0", PG_TYPE_Q4_0, 2},   {"q4_1", PG_TYPE_Q4_1, 3},
    {"q8_0", PG_TYPE_Q8_0, 7},   {"q5_0", PG_TYPE_Q5_0, 8},   {"q5_1", PG_TYPE_Q5_1, 9},   {"q2_K", PG_TYPE_Q2_K, 10},
    {"q3_K", PG_TYPE_Q3_K, 11},  {"q4_K", PG_TYPE_Q4_K, 14},  {"q5_K", PG_TYPE_Q5_K, 16},  {"q6_K", PG_TYPE_Q6_K, 18},
    {"iq4_nl", PG_TYPE_IQ4_NL, 25}, {"iq4_xs", PG_TYPE_IQ4_XS, 30}, {"bf16", PG_TYPE_BF16, 32}, {"q4_K_M", -1, 15},
};

static int ends_with(const char *s, const char *suf) {
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && !strcmp(s + a - b, suf);
}

static int use_more_bits(int i, int n) { return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2; }

/* Layer index of "blk.N.<...>", or -1. */
static int layer_of(const char *name) {
    if (strncmp(name, "blk.", 4)) return -1;
    char *end;
    long v = strtol(name + 4, &end, 10);
    return end != name + 4 && *end == '.' && v >= 0 && v < 1000000 ? (int)v : -1;
}

static int fallback(int type, int64_t ne0) {
    const pg_type_traits *t = pg_type_get(type);
    if (t && ne0 % t->blck_size == 0) return type;
    switch (type) {
    case PG_TYPE_Q4_K: type = PG_TYPE_Q5_0; break;
    case PG_TYPE_Q5_K: type = PG_TYPE_Q5_1; break;
    case PG_TYPE_Q6_K: type = PG_TYPE_Q8_0; break;
    case PG_TYPE_Q2_K:
    case PG_TYPE_Q3_K:
    case PG_TYPE_IQ4_XS: type = PG_TYPE_IQ4_NL; break;
    default: type = PG_TYPE_F16; break;
    }
    t = pg_type_get(type);
    return ne0 % t->blck_size == 0 ? type : PG_TYPE_F16;
}

typedef struct {
    const pg_gguf *g;
    int n_layer;      /* from <arch>.block_count, else 1 + the largest blk index */
    int has_output;
} model_info;

/* Target type of tensor t under target `base` (-1: q4_K_M); *wanted gets
 * the type chosen before the row-length fallback. */
static int pick_type(const model_info *mi, const pg_gguf_tensor *t, int base, int *wanted) {
    *wanted = -1;
    uint32_t nd = t->n_dims;
    while (nd > 1 && t->ne[nd - 1] == 1) nd--;
    if (nd == 1) return PG_TYPE_F32;
    if (!ends_with(t->name, "weight") || strstr(t->name, "ffn_gate_inp")) return t->type;
    int type = base >= 0 ? base : PG_TYPE_Q4_K;
    if (base < 0) {
        int il = layer_of(t->name);
        if (!strcmp(t->name, "output.weight") || (!mi->has_output && !strcmp(t->name, "token_embd.weight")))
            type = PG_TYPE_Q6_K;
        else if (ends_with(t->name, "attn_v.weight") && il >= 0 && use_more_bits(il, mi->n_layer))
            type = PG_TYPE_Q6_K;
        else if (strstr(t->name, "ffn_down") && il >= 0 && use_more_bits(il, mi->n_layer))
            type = PG_TYPE_Q6_K;
        else if (ends_with(t->name, "attn_qkv.weight"))
            type = PG_TYPE_Q5_K;
    }
    *wanted = type;
    return fallback(type, t->ne[0]);
}

typedef struct {
    const pg_gguf *g;
    pg_pool *pool;
    const pg_gguf_tensor **src; /* per output tensor */
    int *dtype;
    float **rowbuf;             /* per thread, K floats */
    int64_t done_bytes, total_bytes;
    /* current job */
    const pg_gguf_tensor *t;
    int type;
    char *dst;
    int64_t rows;
    int progress; /* stderr is a terminal */
} qctx;

static void convert_rows(void *arg, int ith, int nth) {
    qctx *c = arg;
    const pg_gguf_tensor *t = c->t;
    const pg_type_traits *st = pg_type_get(t->type), *dt = pg_type_get(c->type);
    const int64_t K = t->ne[0];
    const size_t srb = pg_row_size(t->type, K), drb = pg_row_size(c->type, K);
    float *row = c->rowbuf[ith];
    long lo, hi;
    pg_split_range((long)c->rows, ith, nth, &lo, &hi);
    for (long r = lo; r < hi; r++) {
        const char *s = (const char *)t->data + (size_t)r * srb;
        char *d = c->dst + (size_t)r * drb;
        if (t->type == PG_TYPE_F32) memcpy(row, s, (size_t)K * 4);
        else st->to_float(s, row, K);
        if (c->type == PG_TYPE_F32) memcpy(d, row, (size_t)K * 4);
        else dt->from_float(row, d, K);
    }
}

static int fill(void *ctx, int64_t idx, void *dst, size_t nbytes, pg_error *err) {
    qctx *c = ctx;
    const pg_gguf_tensor *t = c->src[idx];
    int type = c->dtype[idx];
    if (type == t->type) {
        if (nbytes != t->nbytes) return pg_error_set(err, PG_EFORMAT, "tensor '%s': size mismatch", t->name);
        memcpy(dst, t->data, nbytes);
    } else {
        c->t = t;
        c->type = type;
        c->dst = dst;
        c->rows = (int64_t)(t->nbytes / pg_row_size(t->type, t->ne[0]));
        pg_pool_run(c->pool, convert_rows, c);
    }
    c->done_bytes += (int64_t)t->nbytes;
    if (c->progress)
        fprintf(stderr, "\r[%3d%%] %-40s %-7s -> %-7s", (int)(100 * c->done_bytes / (c->total_bytes ? c->total_bytes : 1)),
            t->name, pg_type_name(t->type), pg_type_name(type));
    return 0;
}

static const pg_cli_opt quant_opts[] = {
    {"-t, --threads", "N", PG_ARG_UINT, 0, "2", "threads"},
};
const pg_cli_cmd pg_cli_quantize = {
    "quantize", "IN.gguf OUT.gguf TYPE [-t N]",
    "writes a copy of IN.gguf with its weights in TYPE (f32, f16, bf16, q8_0, q4_0, q4_1, q5_0, q5_1, q2_K, "
    "q3_K, q4_K, q5_K, q6_K, iq4_nl, iq4_xs, or the q4_K_M mix; any letter case)",
    "TYPE  f32 f16 bf16 q8_0 q4_0 q4_1 q5_0 q5_1 q2_K q3_K q4_K q5_K q6_K iq4_nl iq4_xs q4_K_M (any letter case).\n"
    "      A tensor whose row length does not fit the type's block falls back (q4_K -> q5_0, q5_K -> q5_1,\n"
    "      q6_K -> q8_0, q2_K/q3_K/iq4_xs -> iq4_nl, then f16); each fallback and the resulting mix are printed.",
    quant_opts, PG_CLI_N(quant_opts), 3, 3, "needs IN.gguf OUT.gguf TYPE"};

static int usage(const char *why) {
    fprintf(stderr, "pagoda quantize: %s (usage: pagoda quantize IN.gguf OUT.gguf TYPE [-t N]; TYPE:", why);
    for (size_t i = 0; i < sizeof targets / sizeof targets[0]; i++) fprintf(stderr, " %s", targets[i].name);
    fprintf(stderr, ", any letter case)\n");
    return 2;
}

int cmd_quantize(int argc, char **argv) {
    const char *pos[3] = {0};
    int npos = 0, threads = 2;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            pg_cli_print_help(stdout, &pg_cli_quantize);
            return 0;
        }
        if ((!strcmp(argv[i], "--threads") || !strcmp(argv[i], "-t")) && i + 1 < argc) {
            long n;
            if (pg_cli_parse_long(argv[++i], 1, 256, &n)) {
                fprintf(stderr, "pagoda quantize: --threads must be in [1, 256], got '%s'\n", argv[i]);
                return 2;
            }
            threads = (int)n;
        } else if (npos < 3) {
            pos[npos++] = argv[i];
        } else {
            return usage("too many arguments");
        }
    }
    if (npos != 3) return usage("needs IN.gguf OUT.gguf TYPE");
    int ti = -1;
    for (size_t i = 0; i < sizeof targets / sizeof targets[0]; i++)
        if (!strcasecmp(pos[2], targets[i].name)) ti = (int)i;
    if (ti < 0) {
        char why[160];
        snprintf(why, sizeof why, "unknown type '%.100s'", pos[2]);
        return usage(why);
    }
    const int base = targets[ti].type;

    pg_error err = {0};
    pg_gguf *g = NULL;
    if (pg_gguf_open(pos[0], &g, &err) < 0) {
        fprintf(stderr, "pagoda quantize: %s\n", err.msg);
        return 1;
    }
    int rc = 1;
    const int64_t nt = pg_gguf_n_tensors(g);
    pg_gguf_writer *w = pg_gguf_writer_create();
    pg_pool *pool = pg_pool_create(threads);
    qctx c = {.g = g, .pool = pool, .progress = isatty(2)};
    c.src = calloc((size_t)nt + 1, sizeof *c.src);
    c.dtype = calloc((size_t)nt + 1, sizeof *c.dtype);
    c.rowbuf = calloc((size_t)pg_pool_size(pool), sizeof *c.rowbuf);
    if (!w || !pool || !c.src || !c.dtype || !c.rowbuf) {
        fprintf(stderr, "pagoda quantize: out of memory\n");
        goto out;
    }

    /* model facts for the mix */
    model_info mi = {g, 0, pg_gguf_find_tensor(g, "output.weight") != NULL};
    {
        const char *arch;
        size_t alen;
        char key[128];
        uint32_t nl;
        if (pg_gguf_get_str(g, "general.architecture", &arch, &alen, NULL) == 0 && alen < 64) {
            snprintf(key, sizeof key, "%.*s.block_count", (int)alen, arch);
            if (pg_gguf_get_u32(g, key, &nl, NULL) == 0 && nl < 1000000) mi.n_layer = (int)nl;
        }
        for (int64_t i = 0; i < nt && mi.n_layer == 0; i++) {
            int il = layer_of(pg_gguf_tensor_at(g, i)->name);
            if (il + 1 > mi.n_layer) mi.n_layer = il + 1;
        }
        if (mi.n_layer == 0) mi.n_layer = 1;
    }

    /* metadata: everything but general.file_type, then the new one */
    for (int64_t i = 0; i < pg_gguf_n_kv(g); i++) {
        const char *k = pg_gguf_kv_key(g, i);
        if (!strcmp(k, "general.file_type")) continue;
        if (pg_gguf_writer_add_value(w, k, pg_gguf_kv_value(g, i), &err) < 0) goto fail;
    }
    if (pg_gguf_writer_add_u32(w, "general.file_type", targets[ti].ftype, &err) < 0) goto fail;

    int64_t maxK = 1;
    int n_fallback = 0;
    int mix[PG_TYPE_COUNT] = {0};
    for (int64_t i = 0; i < nt; i++) {
        const pg_gguf_tensor *t = pg_gguf_tensor_at(g, i);
        int wanted;
        int type = pick_type(&mi, t, base, &wanted);
        if (wanted >= 0 && type != wanted) {
            /* say it: a q4_K_M file whose rows do not fit 256-blocks holds no K-quant at all */
            fprintf(stderr, "pagoda quantize: %s: row length %lld is not a multiple of %s's block of %d; using %s\n",
                    t->name, (long long)t->ne[0], pg_type_name(wanted), (int)pg_type_get(wanted)->blck_size,
                    pg_type_name(type));
            n_fallback++;
        }
        if (type >= 0 && type < PG_TYPE_COUNT) mix[type]++;
        const pg_type_traits *st = pg_type_get(t->type), *dt = pg_type_get(type);
        if (type != t->type) {
            if (!st || (t->type != PG_TYPE_F32 && !st->to_float)) {
                pg_error_set(&err, PG_EUNSUPPORTED, "tensor '%s': cannot convert from %s", t->name, pg_type_name(t->type));
                goto fail;
            }
            if (!dt || (type != PG_TYPE_F32 && !dt->from_float)) {
                pg_error_set(&err, PG_EUNSUPPORTED, "tensor '%s': no quantizer for %s", t->name, pg_type_name(type));
                goto fail;
            }
        }
        if (t->ne[0] > maxK) maxK = t->ne[0];
        c.src[i] = t;
        c.dtype[i] = type;
        if (pg_gguf_writer_add_tensor(w, t->name, t->n_dims, t->ne, type, NULL, &err) < 0) goto fail;
        c.total_bytes += (int64_t)t->nbytes;
    }
    for (int i = 0; i < pg_pool_size(pool); i++)
        if (!(c.rowbuf[i] = malloc((size_t)maxK * sizeof(float)))) {
            pg_error_set(&err, PG_ENOMEM, "out of memory");
            goto fail;
        }
    if (pg_gguf_writer_write(w, pos[1], fill, &c, &err) < 0) goto fail;
    {
        /* the mix the file really holds, most tensors first */
        char held[512];
        size_t o = 0;
        held[0] = 0;
        for (;;) {
            int best = -1;
            for (int k = 0; k < PG_TYPE_COUNT; k++)
                if (mix[k] && (best < 0 || mix[k] > mix[best])) best = k;
            if (best < 0) break;
            o += (size_t)snprintf(held + o, o < sizeof held ? sizeof held - o : 0, "%s%s x%d", o ? ", " : "",
                                  pg_type_name(best), mix[best]);
            if (o >= sizeof held) o = sizeof held - 1;
            mix[best] = 0;
        }
        fprintf(stderr, "%spagoda quantize: wrote %s (%lld tensors; asked for %s, holds %s%s)\n", c.progress ? "\n" : "",
                pos[1], (long long)nt, targets[ti].name, held,
                n_fallback ? "; see the fallbacks above" : "");
    }
    rc = 0;
    goto out;
fail:
    fprintf(stderr, "\npagoda quantize: %s\n", err.msg);
out:
    if (c.rowbuf)
        for (int i = 0; i < pg_pool_size(pool); i++) free(c.rowbuf[i]);
    free(c.rowbuf);
    free(c.src);
    free(c.dtype);
    pg_pool_destroy(pool);
    pg_gguf_writer_destroy(w);
    pg_gguf_close(g);
    return rc;
}
