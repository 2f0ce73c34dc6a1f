/* gram_cache.c - refcounted compiled grammars and the bounded cache of
 * them (see gram_cache.h).
 *
 * The cache is a small open hash (chained, power-of-two buckets) plus a
 * doubly linked LRU list, all under one mutex; entry i holds the key
 * bytes [kind, flags, text] and one reference to its grammar. A lookup
 * moves the hit to the front; an insert evicts from the back until both
 * bounds hold. Compilation (front-end + pg_grammar_compile, up to hundreds
 * of ms for big schemas) never runs under the mutex. */
#include "sample/gram_cache.h"

#include "base/hash.h"
#include "sample/jsonschema.h"

#include <jansson.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct pg_gram_ref {
    pg_grammar *g;
    int refs; /* atomic */
};

pg_gram_ref *pg_gram_ref_wrap(pg_grammar *g) {
    pg_gram_ref *r = calloc(1, sizeof *r);
    if (!r) {
        pg_grammar_free(g);
        return NULL;
    }
    r->g = g;
    r->refs = 1;
    return r;
}

pg_grammar *pg_gram_ref_grammar(const pg_gram_ref *r) { return r->g; }

void pg_gram_ref_hold(pg_gram_ref *r) { __atomic_add_fetch(&r->refs, 1, __ATOMIC_RELAXED); }

void pg_gram_ref_drop(pg_gram_ref *r) {
    if (!r) return;
    if (__atomic_sub_fetch(&r->refs, 1, __ATOMIC_ACQ_REL) > 0) return;
    pg_grammar_free(r->g);
    free(r);
}

/* ------------------------------------------------------------- build */

/* A JSON array of strings -> GBNF of the choice list. */
static int choice_gbnf(const char *text, size_t len, char **out, pg_error *err) {
    json_error_t je;
    json_t *a = json_loadb(text, len, 0, &je);
    if (!a || !json_is_array(a) || json_array_size(a) == 0 || json_array_size(a) > PG_GRAM_MAX_CHOICES) {
        json_decref(a);
        return pg_error_set(err, PG_EINVAL, "the choices must be a non-empty list of at most %d strings",
                            PG_GRAM_MAX_CHOICES);
    }
    size_t n = json_array_size(a);
    const char **s = calloc(n, sizeof *s);
    size_t *l = calloc(n, sizeof *l);
    int rc = PG_OK;
    if (!s || !l) {
        rc = pg_error_set(err, PG_ENOMEM, "out of memory");
    } else {
        for (size_t i = 0; i < n && rc == PG_OK; i++) {
            json_t *x = json_array_get(a, i);
            if (!json_is_string(x)) {
                rc = pg_error_set(err, PG_EINVAL, "choice %zu is not a string", i);
                break;
            }
            s[i] = json_string_value(x);
            l[i] = json_string_length(x);
        }
        if (rc == PG_OK) rc = pg_choice_to_gbnf(s, l, n, out, err);
    }
    free(s);
    free(l);
    json_decref(a);
    return rc;
}

/* Front-end of kind -> GBNF text (malloc'd) or NULL for GBNF input. */
static int front_end(int kind, const char *text, size_t len, unsigned flags, char **gbnf, pg_error *err) {
    *gbnf = NULL;
    switch (kind) {
    case PG_GRAM_GBNF:
        return PG_OK;
    case PG_GRAM_JSON_SCHEMA: {
        char msg[512] = "";
        int rc = pg_jsonschema_to_gbnf(text, len, (flags & PG_GRAM_FLEXIBLE_WS) ? PG_JS_FLEXIBLE_WS : 0, gbnf, msg,
                                       sizeof msg);
        if (rc < 0) return pg_error_set(err, rc == PG_ENOMEM ? PG_ENOMEM : PG_EINVAL, "%s", msg[0] ? msg : "invalid schema");
        return PG_OK;
    }
    case PG_GRAM_REGEX:
        return pg_regex_to_gbnf(text, len, gbnf, err);
    case PG_GRAM_CHOICE:
        return choice_gbnf(text, len, gbnf, err);
    default:
        return pg_error_set(err, PG_EINVAL, "unknown grammar kind %d", kind);
    }
}

static int build(int kind, const char *text, size_t len, unsigned flags, pg_gram_ref **out, size_t *gbnf_len,
                 pg_error *err) {
    *out = NULL;
    if (len > PG_GRAMMAR_MAX_TEXT) return pg_error_set(err, PG_ELIMIT, "the grammar text exceeds %u bytes", PG_GRAMMAR_MAX_TEXT);
    char *gbnf = NULL;
    int rc = front_end(kind, text, len, flags, &gbnf, err);
    if (rc < 0) return rc;
    const char *src = gbnf ? gbnf : text;
    size_t slen = gbnf ? strlen(gbnf) : len;
    if (gbnf_len) *gbnf_len = gbnf ? slen : 0;
    pg_grammar *g = NULL;
    rc = pg_grammar_compile(src, slen, NULL, &g, err);
    free(gbnf);
    if (rc < 0) return rc;
    if (!(*out = pg_gram_ref_wrap(g))) return pg_error_set(err, PG_ENOMEM, "out of memory");
    return PG_OK;
}

int pg_gram_build(int kind, const char *text, size_t len, unsigned flags, pg_gram_ref **out, pg_error *err) {
    return build(kind, text, len, flags, out, NULL, err);
}

/* ------------------------------------------------------------- cache */

typedef struct gc_entry gc_entry;
struct gc_entry {
    gc_entry *hnext;        /* bucket chain */
    gc_entry *prev, *next;  /* LRU list, most recent first */
    uint64_t hash;
    int kind;
    unsigned flags;
    char *text;
    size_t len;
    size_t bytes;           /* accounted: len + the GBNF produced */
    pg_gram_ref *ref;       /* the cache's reference */
};

struct pg_gram_cache {
    pthread_mutex_t mu;
    gc_entry **bucket;
    size_t n_bucket;        /* power of two */
    gc_entry *head, *tail;
    int32_t n, max_n;
    size_t bytes, max_bytes;
    pg_gram_cache_stats st;
};

static uint64_t key_hash(int kind, unsigned flags, const char *s, size_t n) {
    uint64_t h = pg_mix64(((uint64_t)(unsigned)kind << 32) ^ flags ^ ((uint64_t)n << 40));
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, s + i, 8);
        h = pg_mix64(h ^ w);
    }
    uint64_t w = 0;
    if (i < n) memcpy(&w, s + i, n - i);
    return pg_mix64(h ^ w ^ 0x5bd1e995ULL);
}

pg_gram_cache *pg_gram_cache_create(int32_t max_entries, size_t max_bytes) {
    if (max_entries < 1) max_entries = 1;
    if (max_bytes < 1) max_bytes = 1;
    pg_gram_cache *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    size_t nb = 16;
    while (nb < (size_t)max_entries * 2 && nb < ((size_t)1 << 20)) nb *= 2;
    c->bucket = calloc(nb, sizeof *c->bucket);
    if (!c->bucket) {
        free(c);
        return NULL;
    }
    c->n_bucket = nb;
    c->max_n = max_entries;
    c->max_bytes = max_bytes;
    pthread_mutex_init(&c->mu, NULL);
    return c;
}

static void entry_free(gc_entry *x) {
    pg_gram_ref_drop(x->ref);
    free(x->text);
    free(x);
}

/* Unlinks x from its bucket and the LRU list (under mu). */
static void unlink_entry(pg_gram_cache *c, gc_entry *x) {
    gc_entry **pp = &c->bucket[x->hash & (c->n_bucket - 1)];
    while (*pp != x) pp = &(*pp)->hnext;
    *pp = x->hnext;
    if (x->prev) x->prev->next = x->next;
    else c->head = x->next;
    if (x->next) x->next->prev = x->prev;
    else c->tail = x->prev;
    c->n--;
    c->bytes -= x->bytes;
}

static void push_front(pg_gram_cache *c, gc_entry *x) {
    x->prev = NULL;
    x->next = c->head;
    if (c->head) c->head->prev = x;
    else c->tail = x;
    c->head = x;
}

void pg_gram_cache_destroy(pg_gram_cache *c) {
    if (!c) return;
    for (gc_entry *x = c->head, *nx; x; x = nx) {
        nx = x->next;
        entry_free(x);
    }
    free(c->bucket);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

static gc_entry *find(pg_gram_cache *c, uint64_t h, int kind, unsigned flags, const char *text, size_t len) {
    for (gc_entry *x = c->bucket[h & (c->n_bucket - 1)]; x; x = x->hnext)
        if (x->hash == h && x->kind == kind && x->flags == flags && x->len == len && !memcmp(x->text, text, len))
            return x;
    return NULL;
}

int pg_gram_cache_get(pg_gram_cache *c, int kind, const char *text, size_t len, unsigned flags, pg_gram_ref **out,
                      pg_error *err) {
    *out = NULL;
    if (kind != PG_GRAM_JSON_SCHEMA) flags = 0; /* the flag means nothing to the other kinds */
    uint64_t h = key_hash(kind, flags, text, len);
    pthread_mutex_lock(&c->mu);
    gc_entry *x = find(c, h, kind, flags, text, len);
    if (x) {
        c->st.hits++;
        if (x != c->head) { /* to the front */
            x->prev->next = x->next;
            if (x->next) x->next->prev = x->prev;
            else c->tail = x->prev;
            push_front(c, x);
        }
        pg_gram_ref_hold(x->ref);
        *out = x->ref;
        pthread_mutex_unlock(&c->mu);
        return PG_OK;
    }
    c->st.misses++;
    pthread_mutex_unlock(&c->mu);

    pg_gram_ref *r = NULL;
    size_t glen = 0;
    int rc = build(kind, text, len, flags, &r, &glen, err);
    if (rc < 0) {
        pthread_mutex_lock(&c->mu);
        c->st.compile_errors++;
        pthread_mutex_unlock(&c->mu);
        return rc;
    }
    size_t bytes = len + glen + sizeof(gc_entry);
    x = calloc(1, sizeof *x);
    char *copy = malloc(len ? len : 1);
    if (!x || !copy || bytes > c->max_bytes) { /* not kept: the caller still gets it */
        free(x);
        free(copy);
        *out = r;
        return PG_OK;
    }
    memcpy(copy, text, len);
    x->hash = h;
    x->kind = kind;
    x->flags = flags;
    x->text = copy;
    x->len = len;
    x->bytes = bytes;
    x->ref = r;
    pthread_mutex_lock(&c->mu);
    gc_entry *y = find(c, h, kind, flags, text, len);
    if (y) { /* another thread inserted it meanwhile: use that one */
        pg_gram_ref_hold(y->ref);
        *out = y->ref;
        pthread_mutex_unlock(&c->mu);
        entry_free(x);
        return PG_OK;
    }
    while (c->tail && (c->n + 1 > c->max_n || c->bytes + bytes > c->max_bytes)) {
        gc_entry *v = c->tail;
        unlink_entry(c, v);
        c->st.evictions++;
        entry_free(v); /* drops only the cache's reference */
    }
    size_t b = h & (c->n_bucket - 1);
    x->hnext = c->bucket[b];
    c->bucket[b] = x;
    push_front(c, x);
    c->n++;
    c->bytes += bytes;
    pg_gram_ref_hold(r);
    *out = r;
    pthread_mutex_unlock(&c->mu);
    return PG_OK;
}

void pg_gram_cache_stats_get(pg_gram_cache *c, pg_gram_cache_stats *st) {
    pthread_mutex_lock(&c->mu);
    *st = c->st;
    st->entries = c->n;
    st->bytes = c->bytes;
    pthread_mutex_unlock(&c->mu);
}
