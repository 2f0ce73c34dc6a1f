/* cmd_info.c - `pagoda info MODEL [--json]`: describe a GGUF file.
 *
 * Reads only the header through the GGUF reader (no model load), so it also
 * describes files whose tensor types pagoda cannot compute with, and
 * vocabulary-only files. Everything is gathered into one jansson object;
 * the text form prints the same object's fields, so both stay in step.
 * Hyper-parameters are every scalar/string `<arch>.*` key, printed
 * generically (arrays under `<arch>.` are summarised as "<type>[n]").
 * "features" comes from loading the file as a model (so it reflects what
 * the forward pass will actually do: window, soft-caps, experts, ...); it
 * is null, with the loader's message, when the file is not a usable model. */
#include "cli/commands.h"

#include "gguf/gguf.h"
#include "model/model.h"
#include "tensor/ops.h"
#include "tensor/types.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const pg_cli_opt info_opts[] = {
    {"-m, --model", "FILE", PG_ARG_STR, 0, NULL, "the GGUF file (or give it as MODEL)"},
    {"--json", NULL, PG_ARG_NONE, 0, NULL, "print one JSON object"},
};
const pg_cli_cmd pg_cli_info = {
    "info", "(MODEL | -m MODEL) [--json]",
    "architecture, hyper-parameters, features, tokenizer, parameter count and tensors per type of a GGUF file",
    NULL, info_opts, PG_CLI_N(info_opts), 0, 1, NULL};

static const char usage_line[] = "(usage: pagoda info (MODEL | -m MODEL) [--json])\n";

/* A string from the file as JSON (invalid UTF-8 is replaced byte-wise). */
static json_t *json_str_bytes(const char *s, size_t n) {
    json_t *j = json_stringn(s, n);
    if (j) return j;
    char *o = malloc(n + 1);
    if (!o) return json_null();
    for (size_t i = 0; i < n; i++) o[i] = (unsigned char)s[i] < 0x80 && s[i] ? s[i] : '?';
    j = json_stringn(o, n);
    free(o);
    return j ? j : json_null();
}

static json_t *value_json(pg_gguf_value v) {
    switch (v.type) {
    case PG_GGUF_F32:
    case PG_GGUF_F64: return json_real(pg_gguf_value_f64(v));
    case PG_GGUF_BOOL: return json_boolean(pg_gguf_value_i64(v) != 0);
    case PG_GGUF_U64: {
        uint64_t u;
        memcpy(&u, v.p, 8);
        return u > (uint64_t)INT64_MAX ? json_real((double)u) : json_integer((json_int_t)u);
    }
    case PG_GGUF_STRING: {
        size_t n;
        const char *s = pg_gguf_value_str(v, &n);
        return json_str_bytes(s, n);
    }
    case PG_GGUF_ARRAY: {
        char b[64];
        snprintf(b, sizeof b, "%s[%" PRIu64 "]", pg_gguf_vtype_name(v.elem_type), v.count);
        return json_string(b);
    }
    default: return json_integer(pg_gguf_value_i64(v));
    }
}

static json_t *key_json(const pg_gguf *g, const char *key) {
    int64_t i = pg_gguf_find_key(g, key);
    return i < 0 ? json_null() : value_json(pg_gguf_kv_value(g, i));
}

typedef struct {
    int type;
    int count;
} type_count;

static int cmp_type_count(const void *a, const void *b) {
    const type_count *x = a, *y = b;
    if (x->count != y->count) return y->count - x->count;
    return strcmp(pg_type_name(x->type), pg_type_name(y->type));
}

/* The description of an opened file; NULL on allocation failure. */
static json_t *describe(const pg_gguf *g, const char *path) {
    json_t *o = json_object();
    size_t fsize;
    pg_gguf_base(g, &fsize);
    json_object_set_new(o, "file", json_string(path));
    json_object_set_new(o, "gguf_version", json_integer(pg_gguf_version(g)));
    json_object_set_new(o, "file_size", json_integer((json_int_t)fsize));
    json_object_set_new(o, "alignment", json_integer((json_int_t)pg_gguf_alignment(g)));
    json_object_set_new(o, "kv_count", json_integer(pg_gguf_n_kv(g)));
    json_object_set_new(o, "architecture", key_json(g, "general.architecture"));
    json_object_set_new(o, "name", key_json(g, "general.name"));

    /* <arch>.* keys, in file order. */
    json_t *hp = json_object();
    const char *arch;
    size_t alen;
    if (pg_gguf_get_str(g, "general.architecture", &arch, &alen, NULL) == PG_OK && alen > 0) {
        for (int64_t i = 0; i < pg_gguf_n_kv(g); i++) {
            const char *k = pg_gguf_kv_key(g, i);
            if (strlen(k) > alen + 1 && !strncmp(k, arch, alen) && k[alen] == '.')
                json_object_set_new(hp, k + alen + 1, value_json(pg_gguf_kv_value(g, i)));
        }
    }
    json_object_set_new(o, "hparams", hp);

    json_t *tok = json_object();
    json_object_set_new(tok, "model", key_json(g, "tokenizer.ggml.model"));
    json_object_set_new(tok, "pre", key_json(g, "tokenizer.ggml.pre"));
    pg_gguf_vtype et;
    uint64_t nvocab;
    if (pg_gguf_get_arr(g, "tokenizer.ggml.tokens", &et, &nvocab, NULL) == PG_OK && et == PG_GGUF_STRING)
        json_object_set_new(tok, "vocab_size", json_integer((json_int_t)nvocab));
    else
        json_object_set_new(tok, "vocab_size", json_null());
    json_object_set_new(tok, "bos_token_id", key_json(g, "tokenizer.ggml.bos_token_id"));
    json_object_set_new(tok, "eos_token_id", key_json(g, "tokenizer.ggml.eos_token_id"));
    json_object_set_new(tok, "chat_template", json_boolean(pg_gguf_find_key(g, "tokenizer.chat_template") >= 0));
    json_object_set_new(o, "tokenizer", tok);

    type_count tc[PG_TYPE_COUNT];
    int ntc = 0;
    uint64_t bytes = 0, params = 0;
    for (int64_t i = 0; i < pg_gguf_n_tensors(g); i++) {
        const pg_gguf_tensor *t = pg_gguf_tensor_at(g, i);
        bytes += t->nbytes; /* each fits in the file, so the sum does too */
        uint64_t ne = 1;
        for (int d = 0; d < PG_GGUF_MAX_DIMS; d++) ne *= (uint64_t)t->ne[d];
        params += ne; /* ne <= 8 * nbytes (at most 8 elements per byte in any type) */
        int k = 0;
        while (k < ntc && tc[k].type != t->type) k++;
        if (k == ntc) tc[ntc++] = (type_count){t->type, 0};
        tc[k].count++;
    }
    qsort(tc, (size_t)ntc, sizeof tc[0], cmp_type_count);
    json_t *ts = json_object();
    json_object_set_new(ts, "count", json_integer(pg_gguf_n_tensors(g)));
    json_object_set_new(ts, "bytes", json_integer((json_int_t)bytes));
    json_object_set_new(ts, "parameters", json_integer((json_int_t)params));
    json_t *types = json_object(), *unsup = json_array();
    for (int k = 0; k < ntc; k++) {
        json_object_set_new(types, pg_type_name(tc[k].type), json_integer(tc[k].count));
        const pg_type_traits *tr = pg_type_get(tc[k].type);
        if (!tr || !tr->weight_ok) json_array_append_new(unsup, json_string(pg_type_name(tc[k].type)));
    }
    json_object_set_new(ts, "types", types);
    json_object_set_new(ts, "unsupported_types", unsup);
    json_object_set_new(o, "tensors", ts);
    return o;
}

/* What the forward pass does beyond plain llama, from the loaded model. */
static json_t *features_json(const pg_model *m) {
    const pg_hparams *hp = pg_model_hparams(m);
    json_t *o = json_object();
    json_object_set_new(o, "rope", json_string(hp->rope_mode == PG_ROPE_NEOX ? "neox" : "normal"));
    json_object_set_new(o, "activation", json_string(hp->act == PG_ACT_GELU ? "gelu" : "silu"));
    json_object_set_new(o, "head_dim", json_integer(hp->head_dim));
    json_object_set_new(o, "qkv_bias", json_boolean(hp->has_qkv_bias));
    json_object_set_new(o, "fused_qkv", json_boolean(hp->fused_qkv));
    json_object_set_new(o, "fused_gate_up", json_boolean(hp->fused_gate_up));
    json_object_set_new(o, "qk_norm", json_boolean(hp->qk_norm));
    json_object_set_new(o, "post_norms", json_boolean(hp->post_norms));
    json_object_set_new(o, "embd_scale", json_real(hp->embd_scale));
    json_object_set_new(o, "tied_output", json_boolean(hp->tied_output));
    int nwin = 0;
    for (int il = 0; il < hp->n_layer; il++) nwin += pg_model_layer_window(m, il) > 0;
    json_object_set_new(o, "sliding_window", json_integer(nwin ? hp->sliding_window : 0));
    json_object_set_new(o, "windowed_layers", json_integer(nwin));
    /* windowed layers with their own rope base (gemma3), else null */
    json_object_set_new(o, "rope_base_windowed", nwin && hp->rope_base_swa > 0 ? json_real(hp->rope_base_swa) : json_null());
    json_object_set_new(o, "kv_window", json_integer(pg_model_kv_window(m)));
    json_object_set_new(o, "attn_softcap", json_real(hp->attn_softcap));
    json_object_set_new(o, "final_softcap", json_real(hp->final_softcap));
    json_object_set_new(o, "experts", json_integer(hp->n_expert));
    json_object_set_new(o, "experts_used", json_integer(hp->n_expert_used));
    json_object_set_new(o, "expert_ff", json_integer(hp->n_ff_exp));
    json_object_set_new(o, "shared_expert_ff", json_integer(hp->n_ff_shexp));
    json_object_set_new(o, "experts_renormalised", json_boolean(hp->n_expert > 0 && hp->moe_norm_topk));
    json_object_set_new(o, "longrope", json_boolean(hp->longrope));
    /* what the model can serve (pg_model_caps) and its pooling type */
    const int caps = pg_model_caps(m);
    json_t *ca = json_array();
    if (caps & PG_CAP_GENERATE) json_array_append_new(ca, json_string("generate"));
    if (caps & PG_CAP_EMBED) json_array_append_new(ca, json_string("embed"));
    if (caps & PG_CAP_RERANK) json_array_append_new(ca, json_string("rerank"));
    json_object_set_new(o, "capabilities", ca);
    json_object_set_new(o, "pooling", hp->pooling == PG_POOL_UNSPEC ? json_null() : json_string(pg_pooling_name(hp->pooling)));
    return o;
}

static void print_features(FILE *f, json_t *o) {
    json_t *ft = json_object_get(o, "features");
    if (!ft || json_is_null(ft)) {
        json_t *e = json_object_get(o, "features_error");
        fprintf(f, "features: (not loadable as a model%s%s)\n", e ? ": " : "", e ? json_string_value(e) : "");
        return;
    }
#define B(k) json_is_true(json_object_get(ft, k))
#define I(k) json_integer_value(json_object_get(ft, k))
#define R(k) json_real_value(json_object_get(ft, k))
    fprintf(f, "features: %s rope, %s", json_string_value(json_object_get(ft, "rope")),
            json_string_value(json_object_get(ft, "activation")));
    if (B("qkv_bias")) fputs(", qkv bias", f);
    if (B("fused_qkv")) fputs(", fused qkv", f);
    if (B("fused_gate_up")) fputs(", fused gate/up", f);
    if (B("qk_norm")) fputs(", q/k norm", f);
    if (B("post_norms")) fputs(", post-norms", f);
    if (R("embd_scale") != 1.0) fprintf(f, ", embeddings x%g", R("embd_scale"));
    if (I("sliding_window") > 0) {
        fprintf(f, ", sliding window %" JSON_INTEGER_FORMAT " on %" JSON_INTEGER_FORMAT " layers", I("sliding_window"),
                I("windowed_layers"));
        if (json_is_real(json_object_get(ft, "rope_base_windowed")))
            fprintf(f, " (their rope base %g)", R("rope_base_windowed"));
    }
    if (R("attn_softcap") > 0) fprintf(f, ", attn soft-cap %g", R("attn_softcap"));
    if (R("final_softcap") > 0) fprintf(f, ", final soft-cap %g", R("final_softcap"));
    if (I("experts") > 0) {
        fprintf(f, ", experts %" JSON_INTEGER_FORMAT " (%" JSON_INTEGER_FORMAT " used, ff %" JSON_INTEGER_FORMAT "%s)",
                I("experts"), I("experts_used"), I("expert_ff"), B("experts_renormalised") ? ", renormalised" : "");
        if (I("shared_expert_ff") > 0) fprintf(f, ", shared expert ff %" JSON_INTEGER_FORMAT, I("shared_expert_ff"));
    }
    if (B("longrope")) fputs(", LongRoPE", f);
    if (B("tied_output")) fputs(", tied output", f);
    fputc('\n', f);
    json_t *ca = json_object_get(ft, "capabilities"), *po = json_object_get(ft, "pooling");
    if (json_array_size(ca)) {
        fputs("capabilities:", f);
        for (size_t i = 0; i < json_array_size(ca); i++)
            fprintf(f, "%s %s", i ? "," : "", json_string_value(json_array_get(ca, i)));
        if (json_is_string(po)) fprintf(f, " (pooling %s)", json_string_value(po));
        fputc('\n', f);
    }
#undef B
#undef I
#undef R
}

/* A parameter count the way model cards write it: "1.10 B", "260.00 K",
 * "6.74 B"; below a thousand, the number itself. */
static void format_count(char *buf, size_t n, double v) {
    static const char *units[] = {"K", "M", "B", "T"};
    if (v < 1000) {
        snprintf(buf, n, "%.0f", v);
        return;
    }
    int u = -1;
    while (v >= 1000 && u < 3) {
        v /= 1000;
        u++;
    }
    /* 999.995 M would print as "1000.00 M": round up a unit instead */
    if (v >= 999.995 && u < 3) {
        v /= 1000;
        u++;
    }
    snprintf(buf, n, "%.2f %s", v, units[u]);
}

/* Text form of a JSON scalar; strings are escaped to stay on one line. */
static void print_scalar(FILE *f, json_t *v) {
    if (!v || json_is_null(v)) {
        fputs("(none)", f);
    } else if (json_is_string(v)) {
        const char *s = json_string_value(v);
        size_t n = json_string_length(v);
        for (size_t i = 0; i < n; i++) {
            unsigned char c = (unsigned char)s[i];
            if (c == '\n') fputs("\\n", f);
            else if (c < 0x20 || c == 0x7f) fprintf(f, "\\x%02x", c);
            else fputc(c, f);
        }
    } else if (json_is_integer(v)) {
        fprintf(f, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    } else if (json_is_real(v)) {
        fprintf(f, "%g", json_real_value(v));
    } else if (json_is_boolean(v)) {
        fputs(json_is_true(v) ? "true" : "false", f);
    }
}

static void print_field(FILE *f, const char *label, json_t *v) {
    fprintf(f, "%s: ", label);
    print_scalar(f, v);
    fputc('\n', f);
}

static void print_text(FILE *f, json_t *o) {
    print_field(f, "file", json_object_get(o, "file"));
    print_field(f, "gguf version", json_object_get(o, "gguf_version"));
    fprintf(f, "file size: %" JSON_INTEGER_FORMAT " bytes\n", json_integer_value(json_object_get(o, "file_size")));
    print_field(f, "alignment", json_object_get(o, "alignment"));
    print_field(f, "metadata keys", json_object_get(o, "kv_count"));
    print_field(f, "architecture", json_object_get(o, "architecture"));
    print_field(f, "name", json_object_get(o, "name"));
    json_t *hp = json_object_get(o, "hparams");
    fprintf(f, "hyper-parameters:%s\n", json_object_size(hp) ? "" : " (none)");
    const char *k;
    json_t *v;
    json_object_foreach(hp, k, v) {
        fputs("  ", f);
        print_field(f, k, v);
    }
    print_features(f, o);
    json_t *tok = json_object_get(o, "tokenizer");
    print_field(f, "tokenizer", json_object_get(tok, "model"));
    print_field(f, "tokenizer pre", json_object_get(tok, "pre"));
    print_field(f, "vocabulary size", json_object_get(tok, "vocab_size"));
    print_field(f, "bos token id", json_object_get(tok, "bos_token_id"));
    print_field(f, "eos token id", json_object_get(tok, "eos_token_id"));
    fprintf(f, "chat template: %s\n", json_is_true(json_object_get(tok, "chat_template")) ? "yes" : "no");
    json_t *ts = json_object_get(o, "tensors");
    print_field(f, "tensors", json_object_get(ts, "count"));
    json_int_t bytes = json_integer_value(json_object_get(ts, "bytes"));
    json_int_t params = json_integer_value(json_object_get(ts, "parameters"));
    fprintf(f, "tensor bytes: %" JSON_INTEGER_FORMAT " (%.2f MiB)\n", bytes, (double)bytes / (1024.0 * 1024.0));
    char ps[32];
    format_count(ps, sizeof ps, (double)params);
    fprintf(f, "parameters: %" JSON_INTEGER_FORMAT " (%s)\n", params, ps);
    fputs("tensor types:", f);
    int first = 1;
    json_object_foreach(json_object_get(ts, "types"), k, v) {
        fprintf(f, "%s %s: %" JSON_INTEGER_FORMAT, first ? "" : ",", k, json_integer_value(v));
        first = 0;
    }
    fputs(first ? " (none)\n" : "\n", f);
    json_t *un = json_object_get(ts, "unsupported_types");
    if (json_array_size(un)) {
        fputs("not supported for inference:", f);
        size_t i;
        json_array_foreach(un, i, v) fprintf(f, "%s %s", i ? "," : "", json_string_value(v));
        fputc('\n', f);
    }
}

int cmd_info(int argc, char **argv) {
    const char *path = NULL;
    int json = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json")) {
            json = 1;
        } else if ((!strcmp(argv[i], "-m") || !strcmp(argv[i], "--model")) && i + 1 < argc) {
            if (path) {
                fprintf(stderr, "pagoda info: more than one MODEL given %s", usage_line);
                return 2;
            }
            path = argv[++i];
        } else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            pg_cli_print_help(stdout, &pg_cli_info);
            return 0;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            fprintf(stderr, "pagoda info: unknown option '%s' %s", argv[i], usage_line);
            return 2;
        } else if (path) {
            fprintf(stderr, "pagoda info: more than one MODEL given %s", usage_line);
            return 2;
        } else {
            path = argv[i];
        }
    }
    if (!path) {
        fprintf(stderr, "pagoda info: no MODEL given %s", usage_line);
        return 2;
    }
    pg_gguf *g;
    pg_error err;
    if (pg_gguf_open(path, &g, &err) != PG_OK) {
        fprintf(stderr, "pagoda info: %s\n", err.msg);
        return 1;
    }
    json_t *o = describe(g, path);
    pg_gguf_close(g);
    if (!o) {
        fprintf(stderr, "pagoda info: out of memory\n");
        return 1;
    }
    pg_model *m;
    if (pg_model_load(path, &m, &err) == PG_OK) {
        json_object_set_new(o, "features", features_json(m));
        pg_model_free(m);
    } else {
        json_object_set_new(o, "features", json_null());
        json_object_set_new(o, "features_error", json_string(err.msg));
    }
    if (json) {
        char *s = json_dumps(o, JSON_PRESERVE_ORDER | JSON_INDENT(2) | JSON_REAL_PRECISION(9));
        if (s) puts(s);
        free(s);
    } else {
        print_text(stdout, o);
    }
    json_decref(o);
    return fflush(stdout) == 0 ? 0 : 1;
}
