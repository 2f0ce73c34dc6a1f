/* ollama_ep.c - Ollama's model endpoints: GET /api/tags, GET /api/ps,
 * GET /api/version, POST /api/show (see ollama.h).
 *
 * Every model object comes from oll_model_entry over the model's facts
 * (facts(): GGUF metadata and tensor table, the file's size and time), so
 * that serving several models changes only the list built around it.
 * The digest is not Ollama's sha256 of the blob (hashing gigabytes at each
 * listing would cost seconds): it is a stable hash of the file's identity
 * (path, size, modification time), 64 hex digits, the same for the same
 * file across restarts. */
#include "server/ollama.h"

#include "gguf/gguf.h"
#include "server/auth.h"
#include "tensor/types.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

typedef struct oll_facts {
    char name[300];        /* "ALIAS:latest" */
    char family[32];       /* general.architecture */
    char params[32];       /* "260K", "1.1B" */
    char quant[32];        /* "Q4_0", "F32" */
    char digest[72];       /* 64 hex digits */
    char modified[48];     /* RFC 3339 */
    uint64_t size;         /* file bytes */
    uint64_t n_params;
} oll_facts;

/* GGUF general.file_type -> Ollama's quantization names. */
static const char *file_type_name(int64_t ft) {
    static const char *const names[] = {
        [0] = "F32",     [1] = "F16",     [2] = "Q4_0",    [3] = "Q4_1",    [7] = "Q8_0",    [8] = "Q5_0",
        [9] = "Q5_1",    [10] = "Q2_K",   [11] = "Q3_K_S", [12] = "Q3_K_M", [13] = "Q3_K_L", [14] = "Q4_K_S",
        [15] = "Q4_K_M", [16] = "Q5_K_S", [17] = "Q5_K_M", [18] = "Q6_K",   [32] = "BF16"};
    return ft >= 0 && ft < (int64_t)(sizeof names / sizeof names[0]) ? names[ft] : NULL;
}

static void rfc3339(time_t t, char *out, size_t cap) {
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void human(uint64_t n, char *out, size_t cap) {
    static const struct { double k; const char *u; } u[] = {{1e12, "T"}, {1e9, "B"}, {1e6, "M"}, {1e3, "K"}};
    for (int i = 0; i < 4; i++)
        if ((double)n >= u[i].k) {
            double v = (double)n / u[i].k;
            snprintf(out, cap, v < 10 ? "%.1f%s" : "%.0f%s", v, u[i].u);
            return;
        }
    snprintf(out, cap, "%llu", (unsigned long long)n);
}

static void facts(const srv_ctx *c, oll_facts *f) {
    memset(f, 0, sizeof *f);
    snprintf(f->name, sizeof f->name, strchr(c->alias, ':') ? "%s" : "%s:latest", c->alias);
    const pg_gguf *g = c->model ? pg_model_gguf(c->model) : NULL;
    snprintf(f->family, sizeof f->family, "%s", c->model ? pg_model_hparams(c->model)->arch : "unknown");
    /* parameters and the dominant weight type (by bytes) from the tensor table */
    uint64_t by_type[PG_TYPE_COUNT] = {0};
    for (int64_t i = 0; g && i < pg_gguf_n_tensors(g); i++) {
        const pg_gguf_tensor *t = pg_gguf_tensor_at(g, i);
        uint64_t ne = 1;
        for (int d = 0; d < PG_GGUF_MAX_DIMS; d++) ne *= (uint64_t)t->ne[d];
        f->n_params += ne;
        if (t->type >= 0 && t->type < PG_TYPE_COUNT) by_type[t->type] += t->nbytes;
    }
    int best = 0;
    for (int k = 1; k < PG_TYPE_COUNT; k++)
        if (by_type[k] > by_type[best]) best = k;
    int64_t ft = -1;
    const char *qn = g && pg_gguf_get_i64(g, "general.file_type", &ft, NULL) == 0 ? file_type_name(ft) : NULL;
    if (qn) snprintf(f->quant, sizeof f->quant, "%s", qn);
    else {
        snprintf(f->quant, sizeof f->quant, "%s", pg_type_name(best));
        for (char *p = f->quant; *p; p++) *p = (char)toupper((unsigned char)*p);
    }
    human(f->n_params, f->params, sizeof f->params);
    /* identity: path, size, time (the demo model: its name) */
    struct stat st;
    char id[600];
    time_t mt = 0;
    if (c->model_path && stat(c->model_path, &st) == 0) {
        f->size = (uint64_t)st.st_size;
        mt = st.st_mtime;
        snprintf(id, sizeof id, "%s|%llu|%lld.%09ld", c->model_path, (unsigned long long)st.st_size,
                 (long long)st.st_mtim.tv_sec, (long)st.st_mtim.tv_nsec);
    } else {
        size_t sz = 0;
        if (g) pg_gguf_base(g, &sz);
        f->size = sz;
        snprintf(id, sizeof id, "demo|%s|%zu", c->alias, sz);
    }
    for (int k = 0; k < 4; k++)
        snprintf(f->digest + 16 * k, sizeof f->digest - 16 * (size_t)k, "%016llx",
                 (unsigned long long)srv_hash64(id, strlen(id), 0x6f6c6c616d61ULL + (uint64_t)k));
    rfc3339(mt ? mt : c->created, f->modified, sizeof f->modified);
}

static json_t *details_json(const oll_facts *f) {
    json_t *d = json_object();
    json_object_set_new(d, "parent_model", json_string(""));
    json_object_set_new(d, "format", json_string("gguf"));
    json_object_set_new(d, "family", json_string(f->family));
    json_t *fam = json_array();
    json_array_append_new(fam, json_string(f->family));
    json_object_set_new(d, "families", fam);
    json_object_set_new(d, "parameter_size", json_string(f->params));
    json_object_set_new(d, "quantization_level", json_string(f->quant));
    return d;
}

/* The one model object of /api/tags (running 0) and /api/ps (1). */
static json_t *oll_model_entry(const srv_ctx *c, int running) {
    oll_facts f;
    facts(c, &f);
    json_t *m = json_object();
    json_object_set_new(m, "name", json_string(f.name));
    json_object_set_new(m, "model", json_string(f.name));
    if (!running) json_object_set_new(m, "modified_at", json_string(f.modified));
    json_object_set_new(m, "size", json_integer((json_int_t)f.size));
    json_object_set_new(m, "digest", json_string(f.digest));
    json_object_set_new(m, "details", details_json(&f));
    if (running) {
        /* pagoda keeps its model loaded for its whole life */
        json_object_set_new(m, "expires_at", json_string("9999-12-31T23:59:59Z"));
        json_object_set_new(m, "size_vram", json_integer(0));
        json_object_set_new(m, "context_length", json_integer(c->n_ctx));
    }
    return m;
}

static int list(const srv_ctx *c, int running, char **out) {
    json_t *o = json_object(), *a = json_array();
    json_array_append_new(a, oll_model_entry(c, running));
    json_object_set_new(o, "models", a);
    *out = srv_dump(o, NULL);
    return 200;
}

int srv_oll_tags(const srv_ctx *c, const char *body, size_t len, char **out) {
    (void)body;
    (void)len;
    return list(c, 0, out);
}

int srv_oll_ps(const srv_ctx *c, const char *body, size_t len, char **out) {
    (void)body;
    (void)len;
    return list(c, 1, out);
}

int srv_oll_version(const srv_ctx *c, const char *body, size_t len, char **out) {
    (void)body;
    (void)len;
    json_t *o = json_object();
    json_object_set_new(o, "version", json_string(c->version ? c->version : "0.0.0"));
    *out = srv_dump(o, NULL);
    return 200;
}

/* ---------- /api/show ---------- */

static json_t *gguf_scalar(pg_gguf_value v) {
    switch (v.type) {
    case PG_GGUF_F32:
    case PG_GGUF_F64: return json_real(pg_gguf_value_f64(v));
    case PG_GGUF_BOOL: return json_boolean(pg_gguf_value_i64(v) != 0);
    case PG_GGUF_STRING: {
        size_t n;
        const char *s = pg_gguf_value_str(v, &n);
        return n <= 4096 ? json_stringn(s, n) : NULL; /* NULL: not valid UTF-8 or long: left out */
    }
    case PG_GGUF_ARRAY: return NULL;
    default: return json_integer(pg_gguf_value_i64(v));
    }
}

/* general.* and {arch}.* scalar metadata; tokenizer.ggml.model;
 * general.parameter_count when the file has none. */
static json_t *model_info(const srv_ctx *c, const oll_facts *f) {
    json_t *mi = json_object();
    const pg_gguf *g = c->model ? pg_model_gguf(c->model) : NULL;
    size_t al = strlen(f->family);
    for (int64_t i = 0; g && i < pg_gguf_n_kv(g); i++) {
        const char *k = pg_gguf_kv_key(g, i);
        if (strncmp(k, "general.", 8) && strcmp(k, "tokenizer.ggml.model") && !(!strncmp(k, f->family, al) && k[al] == '.'))
            continue;
        json_t *v = gguf_scalar(pg_gguf_kv_value(g, i));
        if (v) json_object_set_new(mi, k, v);
    }
    if (!json_object_get(mi, "general.parameter_count"))
        json_object_set_new(mi, "general.parameter_count", json_integer((json_int_t)f->n_params));
    if (!json_object_get(mi, "general.architecture")) json_object_set_new(mi, "general.architecture", json_string(f->family));
    return mi;
}

static json_t *capabilities(const srv_ctx *c) {
    json_t *a = json_array();
    if (c->caps & PG_CAP_GENERATE) {
        json_array_append_new(a, json_string("completion"));
        if (c->tpl_text && strstr(c->tpl_text, "tools")) json_array_append_new(a, json_string("tools"));
        if (c->tc.think) json_array_append_new(a, json_string("thinking"));
    }
    if (c->caps & PG_CAP_EMBED) json_array_append_new(a, json_string("embedding"));
    return a;
}

int srv_oll_show(const srv_ctx *c, const char *body, size_t len, char **out) {
    json_error_t je;
    json_t *o = json_loadb(body ? body : "", len, 0, &je);
    json_t *m = json_object_get(o, "model");
    if (!m || json_is_null(m)) m = json_object_get(o, "name"); /* older clients */
    char msg[400];
    int st = 0;
    if (!json_is_object(o)) st = 400, snprintf(msg, sizeof msg, "the request body must be a JSON object");
    else if (!json_is_string(m) || !json_string_length(m)) st = 400, snprintf(msg, sizeof msg, "model is required");
    else if (!oll_model_match(c, json_string_value(m)))
        st = 404, snprintf(msg, sizeof msg, "model '%.200s' not found", json_string_value(m));
    json_decref(o);
    if (st) {
        *out = oll_error_body(msg, NULL);
        return st;
    }
    oll_facts f;
    facts(c, &f);
    json_t *r = json_object();
    char mf[1200];
    snprintf(mf, sizeof mf,
             "# Modelfile of the model pagoda serves (pagoda does not read Modelfiles)\nFROM %s\n"
             "PARAMETER temperature 0.8\nPARAMETER top_k 40\nPARAMETER top_p 0.9\n",
             c->model_path ? c->model_path : "(the built-in demo model)");
    json_object_set_new(r, "license", json_string(""));
    json_t *mfj = json_string(mf);
    json_object_set_new(r, "modelfile", mfj ? mfj : json_string(""));
    json_object_set_new(r, "parameters", json_string("temperature 0.8\ntop_k 40\ntop_p 0.9"));
    json_t *tt = c->tpl_text ? json_string(c->tpl_text) : NULL;
    json_object_set_new(r, "template", tt ? tt : json_string(""));
    json_object_set_new(r, "system", json_string(""));
    json_object_set_new(r, "details", details_json(&f));
    json_object_set_new(r, "model_info", model_info(c, &f));
    json_object_set_new(r, "capabilities", capabilities(c));
    json_object_set_new(r, "modified_at", json_string(f.modified));
    *out = srv_dump(r, NULL);
    return 200;
}
