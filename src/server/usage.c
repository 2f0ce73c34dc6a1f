/* usage.c - usage and cost accounting (see usage.h for the contract).
 *
 * Names: keys[] and models[] are interned once (index = label); index
 * SRV_USAGE_MAX_KEYS / SRV_USAGE_MAX_MODELS is "_other". totals[k][m] are
 * the running counters. ring[minute % SRV_USAGE_MINUTES] holds the rows of
 * one wall-clock minute: (key index, model index, counters), at most
 * (MAX_KEYS + 1) x (MAX_MODELS + 1) of them; a bucket met again for a
 * newer minute is emptied (its row storage kept). */
#include "server/usage.h"

#include "server/util.h"

#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NK (SRV_USAGE_MAX_KEYS + 1)
#define NM (SRV_USAGE_MAX_MODELS + 1)
#define NAME_CAP 64

typedef struct counts {
    int64_t requests, prompt, cached, generated;
    double compute_s;
} counts;

typedef struct row {
    uint16_t key, model;
    counts c;
} row;

typedef struct bucket {
    int64_t minute; /* unix minute; -1 = empty */
    row *rows;
    int n, cap;
} bucket;

struct srv_usage_acct {
    pthread_mutex_t mu;
    double cost_per_hour;
    char keys[SRV_USAGE_MAX_KEYS][NAME_CAP];
    int n_keys;
    char models[SRV_USAGE_MAX_MODELS][NAME_CAP];
    int n_models;
    counts totals[NK][NM];
    bucket ring[SRV_USAGE_MINUTES];
};

srv_usage_acct *srv_usage_create(double cost_per_hour) {
    srv_usage_acct *a = calloc(1, sizeof *a);
    if (!a) return NULL;
    pthread_mutex_init(&a->mu, NULL);
    a->cost_per_hour = cost_per_hour > 0 ? cost_per_hour : 0;
    for (int i = 0; i < SRV_USAGE_MINUTES; i++) a->ring[i].minute = -1;
    return a;
}

void srv_usage_destroy(srv_usage_acct *a) {
    if (!a) return;
    for (int i = 0; i < SRV_USAGE_MINUTES; i++) free(a->ring[i].rows);
    pthread_mutex_destroy(&a->mu);
    free(a);
}

/* Index of name in tab (interned when there is room), else `max` (other). */
static int intern(char (*tab)[NAME_CAP], int *n, int max, const char *name) {
    for (int i = 0; i < *n; i++)
        if (!strcmp(tab[i], name)) return i;
    if (*n == max || strlen(name) >= NAME_CAP) return max;
    snprintf(tab[*n], NAME_CAP, "%s", name);
    return (*n)++;
}

static void add(counts *d, const counts *s) {
    d->requests += s->requests;
    d->prompt += s->prompt;
    d->cached += s->cached;
    d->generated += s->generated;
    d->compute_s += s->compute_s;
}

void srv_usage_record(srv_usage_acct *a, int64_t now_s, const char *key, const char *model, int64_t prompt_tokens,
                      int64_t cached_tokens, int64_t generated_tokens, double compute_s) {
    if (!a) return;
    if (!key || !*key) key = SRV_USAGE_ANON;
    if (!model) model = "";
    counts c = {1, prompt_tokens, cached_tokens, generated_tokens, compute_s > 0 ? compute_s : 0};
    int64_t minute = now_s >= 0 ? now_s / 60 : 0;
    pthread_mutex_lock(&a->mu);
    int k = intern(a->keys, &a->n_keys, SRV_USAGE_MAX_KEYS, key);
    int m = intern(a->models, &a->n_models, SRV_USAGE_MAX_MODELS, model);
    add(&a->totals[k][m], &c);
    bucket *b = &a->ring[minute % SRV_USAGE_MINUTES];
    if (b->minute != minute) {
        if (b->minute > minute) goto out; /* the clock went back past the ring: totals only */
        b->minute = minute;
        b->n = 0;
    }
    for (int i = 0; i < b->n; i++)
        if (b->rows[i].key == k && b->rows[i].model == m) {
            add(&b->rows[i].c, &c);
            goto out;
        }
    if (b->n == b->cap) {
        int nc = b->cap ? b->cap * 2 : 4;
        row *nr = realloc(b->rows, (size_t)nc * sizeof *nr);
        if (!nr) goto out; /* out of memory: this minute misses it, the totals have it */
        b->rows = nr;
        b->cap = nc;
    }
    b->rows[b->n++] = (row){(uint16_t)k, (uint16_t)m, c};
out:
    pthread_mutex_unlock(&a->mu);
}

/* Strict non-negative decimal integer (at most 15 digits). */
static int parse_time(const char *s, int64_t *out) {
    if (!s || !*s || strlen(s) > 15) return -1;
    int64_t v = 0;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9') return -1;
        v = v * 10 + (*p - '0');
    }
    *out = v;
    return 0;
}

static int bad(char **out, const char *param, const char *msg) {
    *out = srv_dump(srv_error_json(msg, "invalid_request_error", param, "invalid_value"), NULL);
    return 400;
}

static json_t *counts_json(const srv_usage_acct *a, const counts *c) {
    json_t *o = json_object();
    json_object_set_new(o, "requests", json_integer(c->requests));
    json_object_set_new(o, "prompt_tokens", json_integer(c->prompt));
    json_object_set_new(o, "cached_tokens", json_integer(c->cached));
    json_object_set_new(o, "generated_tokens", json_integer(c->generated));
    json_object_set_new(o, "total_tokens", json_integer(c->prompt + c->generated));
    json_object_set_new(o, "compute_seconds", json_real(c->compute_s));
    if (a->cost_per_hour > 0) {
        double cost = c->compute_s / 3600.0 * a->cost_per_hour;
        int64_t tok = c->prompt + c->generated;
        json_object_set_new(o, "estimated_cost", json_real(cost));
        json_object_set_new(o, "cost_per_1k_tokens", tok > 0 ? json_real(cost * 1000.0 / (double)tok) : json_null());
    }
    return o;
}

int srv_usage_query(srv_usage_acct *a, int64_t now_s, const char *since, const char *until, const char *group_by,
                    char **out) {
    *out = NULL;
    int64_t t0 = now_s - 60 * (int64_t)SRV_USAGE_MINUTES, t1 = now_s + 1;
    if (t0 < 0) t0 = 0;
    if (since && parse_time(since, &t0) < 0)
        return bad(out, "since", "'since' must be a time in unix seconds (decimal digits)");
    if (until && parse_time(until, &t1) < 0)
        return bad(out, "until", "'until' must be a time in unix seconds (decimal digits)");
    if (t1 <= t0) return bad(out, "until", "'until' must be later than 'since'");
    int by_model = 0;
    if (group_by && !strcmp(group_by, "model")) by_model = 1;
    else if (group_by && strcmp(group_by, "key")) return bad(out, "group_by", "'group_by' must be 'key' or 'model'");
    /* sum the buckets overlapping [t0, t1) */
    counts *g = calloc(NK > NM ? NK : NM, sizeof *g);
    if (!g) return 500;
    counts total = {0};
    int64_t m0 = t0 / 60, m1 = (t1 + 59) / 60; /* minutes [m0, m1) */
    pthread_mutex_lock(&a->mu);
    for (int i = 0; i < SRV_USAGE_MINUTES; i++) {
        const bucket *b = &a->ring[i];
        if (b->minute < 0 || b->minute < m0 || b->minute >= m1) continue;
        for (int j = 0; j < b->n; j++) {
            add(&g[by_model ? b->rows[j].model : b->rows[j].key], &b->rows[j].c);
            add(&total, &b->rows[j].c);
        }
    }
    json_t *data = json_array();
    int n = by_model ? a->n_models : a->n_keys;
    for (int i = 0; i <= (by_model ? SRV_USAGE_MAX_MODELS : SRV_USAGE_MAX_KEYS); i++) {
        if (i >= n && i != (by_model ? SRV_USAGE_MAX_MODELS : SRV_USAGE_MAX_KEYS)) continue;
        if (!g[i].requests) continue;
        json_t *o = counts_json(a, &g[i]);
        const char *name = i < n ? (by_model ? a->models[i] : a->keys[i]) : SRV_USAGE_OTHER;
        json_object_set_new(o, by_model ? "model" : "key", json_string(name));
        json_array_append_new(data, o);
    }
    pthread_mutex_unlock(&a->mu);
    free(g);
    json_t *o = json_object();
    json_object_set_new(o, "object", json_string("usage"));
    json_object_set_new(o, "group_by", json_string(by_model ? "model" : "key"));
    json_object_set_new(o, "since", json_integer(m0 * 60));
    json_object_set_new(o, "until", json_integer(m1 * 60));
    json_object_set_new(o, "bucket_seconds", json_integer(60));
    json_object_set_new(o, "cost_per_hour", a->cost_per_hour > 0 ? json_real(a->cost_per_hour) : json_null());
    json_object_set_new(o, "data", data);
    json_object_set_new(o, "total", counts_json(a, &total));
    *out = srv_dump(o, NULL);
    return *out ? 200 : 500;
}

/* A label value with \ " and newline escaped (names are plain already). */
static void label(FILE *f, const char *s) {
    for (; *s; s++) {
        if (*s == '\\' || *s == '"') fputc('\\', f);
        if (*s == '\n') {
            fputs("\\n", f);
            continue;
        }
        fputc(*s, f);
    }
}

enum { U_REQ, U_PROMPT, U_CACHED, U_GEN, U_COMPUTE, U_COST, U_COST1K, U_N };

int srv_usage_metrics(srv_usage_acct *a, char **buf, size_t *len) {
    static const char *const names[U_N][3] = {
        {"usage_requests_total", "counter", "finished generation requests per API key name and model"},
        {"usage_prompt_tokens_total", "counter", "prompt tokens per API key name and model"},
        {"usage_cached_tokens_total", "counter", "prompt tokens served from the prefix cache per API key name and model"},
        {"usage_generated_tokens_total", "counter", "generated tokens per API key name and model"},
        {"usage_compute_seconds_total", "counter",
         "engine compute seconds (each step's time shared among its sequences by tokens) per API key name and model"},
        {"usage_estimated_cost_total", "counter", "compute seconds x --cost-per-hour / 3600 per API key name and model"},
        {"usage_cost_per_1k_tokens", "gauge",
         "estimated cost per 1000 prompt + generated tokens per API key name and model"},
    };
    char *s = NULL;
    size_t sl = 0;
    FILE *f = open_memstream(&s, &sl);
    if (!f) return -1;
    pthread_mutex_lock(&a->mu);
    int nm = a->cost_per_hour > 0 ? U_N : U_COST;
    for (int w = 0; w < nm; w++) {
        fprintf(f, "# HELP pagoda:%s %s\n# TYPE pagoda:%s %s\n", names[w][0], names[w][2], names[w][0], names[w][1]);
        for (int k = 0; k < NK; k++) {
            if (k >= a->n_keys && k != SRV_USAGE_MAX_KEYS) continue;
            for (int m = 0; m < NM; m++) {
                if (m >= a->n_models && m != SRV_USAGE_MAX_MODELS) continue;
                const counts *c = &a->totals[k][m];
                if (!c->requests) continue;
                fputs("pagoda:", f);
                fputs(names[w][0], f);
                fputs("{model_name=\"", f);
                label(f, m < a->n_models ? a->models[m] : SRV_USAGE_OTHER);
                fputs("\",key=\"", f);
                label(f, k < a->n_keys ? a->keys[k] : SRV_USAGE_OTHER);
                fputs("\"} ", f);
                double cost = c->compute_s / 3600.0 * a->cost_per_hour;
                int64_t tok = c->prompt + c->generated;
                switch (w) {
                case U_REQ: fprintf(f, "%" PRId64 "\n", c->requests); break;
                case U_PROMPT: fprintf(f, "%" PRId64 "\n", c->prompt); break;
                case U_CACHED: fprintf(f, "%" PRId64 "\n", c->cached); break;
                case U_GEN: fprintf(f, "%" PRId64 "\n", c->generated); break;
                case U_COMPUTE: fprintf(f, "%.9g\n", c->compute_s); break;
                case U_COST: fprintf(f, "%.9g\n", cost); break;
                default: fprintf(f, "%.9g\n", tok > 0 ? cost * 1000.0 / (double)tok : 0.0); break;
                }
            }
        }
    }
    pthread_mutex_unlock(&a->mu);
    if (fclose(f) != 0 || !s) {
        free(s);
        return -1;
    }
    char *nb = realloc(*buf, *len + sl + 1);
    if (!nb) {
        free(s);
        return -1;
    }
    memcpy(nb + *len, s, sl + 1);
    *buf = nb;
    *len += sl;
    free(s);
    return 0;
}
