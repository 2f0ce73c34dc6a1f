/* auth.c - API keys and per-key rate limits.
 *
 * Keys come from --api-key (name "key-<i>", default limits) and from the
 * key file, one key per line:
 *     KEY [NAME [RPM [TPM]]]        # '#' starts a comment line
 * RPM / TPM are requests / tokens per minute ("-" or absent: the defaults
 * of --rate-limit-rpm / --rate-limit-tpm; 0: unlimited). The file is
 * re-read by srv_keys_reload (SIGHUP); a file that fails to parse leaves the
 * old set in place.
 *
 * Lookup compares the presented key with EVERY key, in time that depends
 * only on the lengths, never stopping at a match, so timing does not reveal
 * how much of a key was right. Keys are never logged; callers log the name.
 *
 * Each key has two token buckets refilled continuously at limit/60 per
 * second up to limit: requests (one taken at admission) and tokens (prompt
 * tokens charged at submit, generated tokens at completion). The token
 * bucket may go negative (debt): a request is admitted while it is
 * positive, since its size is unknown before it runs. Entries are sorted by
 * id (a 64-bit digest of the key) for the bucket look-ups; a reload carries
 * the buckets of keys that stay. One mutex guards the set. */
#include "server/auth.h"

#include "base/hash.h"
#include "base/log.h"
#include "server/util.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KEY_MAX_LEN 512
#define KEY_FILE_MAX ((long)16 << 20)

typedef struct kent {
    char *key;
    size_t len;
    char name[64];
    double rpm, tpm; /* 0 = unlimited */
    uint64_t id;
    double req, tok, t; /* bucket levels at time t */
} kent;

struct srv_keyset {
    pthread_mutex_t mu;
    kent *v;
    int n;
    char *file;
    char **cli;
    int n_cli;
    double drpm, dtpm;
};

uint64_t srv_hash64(const void *p, size_t n, uint64_t seed) {
    const unsigned char *b = p;
    uint64_t h = 0xcbf29ce484222325ULL ^ seed;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 0x100000001b3ULL;
    }
    return pg_hash_fmix64(h);
}

static void free_entries(kent *v, int n) {
    for (int i = 0; i < n; i++) {
        if (v[i].key) memset(v[i].key, 0, v[i].len); /* do not leave keys in freed memory */
        free(v[i].key);
    }
    free(v);
}

static int cmp_id(const void *a, const void *b) {
    uint64_t x = ((const kent *)a)->id, y = ((const kent *)b)->id;
    return x < y ? -1 : x > y;
}

static int key_ok(const char *k, size_t n) {
    if (n == 0 || n > KEY_MAX_LEN) return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)k[i] <= 0x20 || (unsigned char)k[i] >= 0x7f) return 0;
    return 1;
}

/* Appends one entry (key copied). Duplicate keys: the first wins. */
static int add_entry(kent **v, int *n, int *cap, const char *key, size_t len, const char *name, double rpm, double tpm,
                     pg_error *err) {
    uint64_t id = srv_hash64(key, len, 0x7061676f64616b65ULL);
    for (int i = 0; i < *n; i++)
        if ((*v)[i].id == id && (*v)[i].len == len && !memcmp((*v)[i].key, key, len)) {
            PG_WARN("api keys: key '%s' repeats key '%s'; ignored", name, (*v)[i].name);
            return 0;
        }
    if (*n == *cap) {
        int nc = *cap ? *cap * 2 : 16;
        kent *w = realloc(*v, (size_t)nc * sizeof *w);
        if (!w) return pg_error_set(err, PG_ENOMEM, "out of memory");
        *v = w;
        *cap = nc;
    }
    kent *e = &(*v)[*n];
    memset(e, 0, sizeof *e);
    e->key = malloc(len + 1);
    if (!e->key) return pg_error_set(err, PG_ENOMEM, "out of memory");
    memcpy(e->key, key, len);
    e->key[len] = 0;
    e->len = len;
    snprintf(e->name, sizeof e->name, "%s", name);
    e->rpm = rpm;
    e->tpm = tpm;
    e->id = id;
    e->req = rpm;
    e->tok = tpm;
    e->t = srv_now();
    (*n)++;
    return 0;
}

static int parse_limit(const char *s, double dflt, double *out) {
    if (!s || !strcmp(s, "-")) {
        *out = dflt;
        return 0;
    }
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v >= 0) || v > 1e12) return -1;
    *out = v;
    return 0;
}

static int name_ok(const char *s) {
    size_t n = strlen(s);
    if (n == 0 || n > 63) return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
              c == '.' || c == '@' || c == ':'))
            return 0;
    }
    return 1;
}

static int load_file(srv_keyset *k, kent **v, int *n, int *cap, pg_error *err) {
    FILE *f = fopen(k->file, "rb");
    if (!f) return pg_error_set(err, PG_EIO, "cannot open the API key file '%s': %s", k->file, strerror(errno));
    char *line = NULL;
    size_t lcap = 0;
    ssize_t ll;
    int lineno = 0, rc = 0;
    long total = 0;
    while ((ll = getline(&line, &lcap, f)) >= 0) {
        lineno++;
        total += ll;
        if (total > KEY_FILE_MAX) {
            rc = pg_error_set(err, PG_ELIMIT, "the API key file '%s' is larger than 16 MiB", k->file);
            break;
        }
        char *save = NULL;
        char *tok[5];
        int nt = 0;
        for (char *t = strtok_r(line, " \t\r\n", &save); t && nt < 5; t = strtok_r(NULL, " \t\r\n", &save)) tok[nt++] = t;
        if (nt == 0 || tok[0][0] == '#') continue;
        if (nt > 4) {
            rc = pg_error_set(err, PG_EFORMAT, "%s:%d: expected 'KEY [NAME [RPM [TPM]]]'", k->file, lineno);
            break;
        }
        if (!key_ok(tok[0], strlen(tok[0]))) {
            rc = pg_error_set(err, PG_EFORMAT, "%s:%d: a key must be 1..%d printable ASCII characters", k->file, lineno,
                              KEY_MAX_LEN);
            break;
        }
        char dname[64];
        snprintf(dname, sizeof dname, "line-%d", lineno);
        const char *name = nt > 1 && strcmp(tok[1], "-") ? tok[1] : dname;
        if (!name_ok(name)) {
            rc = pg_error_set(err, PG_EFORMAT, "%s:%d: a key name must be 1..63 characters of [A-Za-z0-9_.@:-]", k->file,
                              lineno);
            break;
        }
        double rpm, tpm;
        if (parse_limit(nt > 2 ? tok[2] : NULL, k->drpm, &rpm) < 0 || parse_limit(nt > 3 ? tok[3] : NULL, k->dtpm, &tpm) < 0) {
            rc = pg_error_set(err, PG_EFORMAT, "%s:%d: RPM and TPM must be non-negative numbers or '-'", k->file, lineno);
            break;
        }
        if ((rc = add_entry(v, n, cap, tok[0], strlen(tok[0]), name, rpm, tpm, err)) < 0) break;
    }
    if (line) memset(line, 0, lcap);
    free(line);
    fclose(f);
    return rc;
}

/* Builds a fresh entry list (cli keys, then the file). */
static int build(srv_keyset *k, kent **out, int *n_out, pg_error *err) {
    kent *v = NULL;
    int n = 0, cap = 0, rc = 0;
    for (int i = 0; i < k->n_cli && rc == 0; i++) {
        char name[32];
        snprintf(name, sizeof name, "key-%d", i + 1);
        if (!key_ok(k->cli[i], strlen(k->cli[i])))
            rc = pg_error_set(err, PG_EINVAL, "--api-key #%d: a key must be 1..%d printable ASCII characters", i + 1,
                              KEY_MAX_LEN);
        else rc = add_entry(&v, &n, &cap, k->cli[i], strlen(k->cli[i]), name, k->drpm, k->dtpm, err);
    }
    if (rc == 0 && k->file) rc = load_file(k, &v, &n, &cap, err);
    if (rc < 0) {
        free_entries(v, n);
        return rc;
    }
    if (n) qsort(v, (size_t)n, sizeof *v, cmp_id);
    *out = v;
    *n_out = n;
    return 0;
}

int srv_keys_create(const pg_server_config *c, srv_keyset **out, pg_error *err) {
    srv_keyset *k = calloc(1, sizeof *k);
    if (!k) return pg_error_set(err, PG_ENOMEM, "out of memory");
    pthread_mutex_init(&k->mu, NULL);
    k->drpm = c->default_rpm;
    k->dtpm = c->default_tpm;
    int rc = 0;
    if (c->api_key_file && !(k->file = strdup(c->api_key_file))) rc = pg_error_set(err, PG_ENOMEM, "out of memory");
    if (rc == 0 && c->n_api_keys > 0) {
        k->cli = calloc((size_t)c->n_api_keys, sizeof *k->cli);
        if (!k->cli) rc = pg_error_set(err, PG_ENOMEM, "out of memory");
        for (int i = 0; rc == 0 && i < c->n_api_keys; i++) {
            if (!(k->cli[i] = strdup(c->api_keys[i]))) rc = pg_error_set(err, PG_ENOMEM, "out of memory");
            else k->n_cli = i + 1;
        }
    }
    if (rc == 0) rc = build(k, &k->v, &k->n, err);
    if (rc < 0) {
        srv_keys_destroy(k);
        return rc;
    }
    *out = k;
    return 0;
}

void srv_keys_destroy(srv_keyset *k) {
    if (!k) return;
    free_entries(k->v, k->n);
    for (int i = 0; i < k->n_cli; i++) {
        memset(k->cli[i], 0, strlen(k->cli[i]));
        free(k->cli[i]);
    }
    free(k->cli);
    free(k->file);
    pthread_mutex_destroy(&k->mu);
    free(k);
}

static kent *find_id(srv_keyset *k, uint64_t id) {
    int lo = 0, hi = k->n - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2;
        if (k->v[mid].id == id) return &k->v[mid];
        if (k->v[mid].id < id) lo = mid + 1;
        else hi = mid - 1;
    }
    return NULL;
}

int srv_keys_reload(srv_keyset *k, pg_error *err) {
    kent *v;
    int n;
    int rc = build(k, &v, &n, err);
    if (rc < 0) return rc;
    pthread_mutex_lock(&k->mu);
    for (int i = 0; i < n; i++) {
        kent *o = find_id(k, v[i].id);
        if (!o) continue;
        v[i].req = o->req < v[i].rpm ? o->req : v[i].rpm;
        v[i].tok = o->tok < v[i].tpm ? o->tok : v[i].tpm;
        v[i].t = o->t;
    }
    kent *old = k->v;
    int old_n = k->n;
    k->v = v;
    k->n = n;
    pthread_mutex_unlock(&k->mu);
    free_entries(old, old_n);
    return n;
}

int srv_keys_enabled(srv_keyset *k) {
    if (!k) return 0;
    pthread_mutex_lock(&k->mu);
    int n = k->n;
    pthread_mutex_unlock(&k->mu);
    /* a configured key file keeps auth on even when it lists no key: an
     * emptied file locks everyone out rather than opening the server */
    return n > 0 || k->file != NULL || k->n_cli > 0;
}

static unsigned ct_diff(const char *a, size_t al, const char *b, size_t bl) {
    size_t n = al > bl ? al : bl;
    unsigned d = al != bl;
    for (size_t i = 0; i < n; i++) {
        unsigned char x = i < al ? (unsigned char)a[i] : 0;
        unsigned char y = i < bl ? (unsigned char)b[i] : 0;
        d |= (unsigned)(x ^ y);
    }
    return d;
}

int srv_keys_lookup(srv_keyset *k, const char *key, size_t len, uint64_t *id, char *name, size_t name_cap) {
    if (!k || !key || len == 0 || len > KEY_MAX_LEN) return 0;
    pthread_mutex_lock(&k->mu);
    int found = -1;
    for (int i = 0; i < k->n; i++) {
        unsigned d = ct_diff(key, len, k->v[i].key, k->v[i].len);
        /* branch-free select of the first match */
        int m = (int)(((d | (0u - d)) >> 31) ^ 1u) & (found < 0);
        found = m ? i : found;
    }
    if (found >= 0) {
        *id = k->v[found].id;
        snprintf(name, name_cap, "%s", k->v[found].name);
    }
    pthread_mutex_unlock(&k->mu);
    return found >= 0;
}

static void refill(kent *e, double t) {
    double dt = t - e->t;
    if (dt > 0) {
        if (e->rpm > 0) e->req = fmin(e->rpm, e->req + dt * e->rpm / 60.0);
        if (e->tpm > 0) e->tok = fmin(e->tpm, e->tok + dt * e->tpm / 60.0);
        e->t = t;
    }
}

static void snapshot(const kent *e, srv_rl *rl) {
    rl->lim_req = e->rpm;
    rl->lim_tok = e->tpm;
    rl->rem_req = e->req;
    rl->rem_tok = e->tok;
    rl->reset_req_s = e->rpm > 0 ? (e->rpm - e->req) * 60.0 / e->rpm : 0;
    rl->reset_tok_s = e->tpm > 0 ? (e->tpm - e->tok) * 60.0 / e->tpm : 0;
}

int srv_keys_admit(srv_keyset *k, uint64_t id, srv_rl *rl, int *which) {
    memset(rl, 0, sizeof *rl);
    if (!k) return 0;
    pthread_mutex_lock(&k->mu);
    kent *e = find_id(k, id);
    if (!e) {
        pthread_mutex_unlock(&k->mu);
        return 0;
    }
    refill(e, srv_now());
    double wait = 0;
    if (e->rpm > 0 && e->req < 1) {
        wait = (1 - e->req) * 60.0 / e->rpm;
        *which = 'r';
    }
    if (e->tpm > 0 && e->tok < 1) {
        double w = (1 - e->tok) * 60.0 / e->tpm;
        if (w > wait) {
            wait = w;
            *which = 't';
        }
    }
    if (wait == 0 && e->rpm > 0) e->req -= 1;
    snapshot(e, rl);
    pthread_mutex_unlock(&k->mu);
    if (wait == 0) return 0;
    double c = ceil(wait);
    return c < 1 ? 1 : c > 86400 ? 86400 : (int)c;
}

void srv_keys_peek(srv_keyset *k, uint64_t id, srv_rl *rl) {
    memset(rl, 0, sizeof *rl);
    if (!k) return;
    pthread_mutex_lock(&k->mu);
    kent *e = find_id(k, id);
    if (e) {
        refill(e, srv_now());
        snapshot(e, rl);
    }
    pthread_mutex_unlock(&k->mu);
}

int srv_ct_equal(const char *a, size_t al, const char *b, size_t bl) { return ct_diff(a, al, b, bl) == 0; }

void srv_keys_charge(srv_keyset *k, uint64_t id, int64_t tokens) {
    if (!k || tokens <= 0) return;
    pthread_mutex_lock(&k->mu);
    kent *e = find_id(k, id);
    if (e && e->tpm > 0) {
        refill(e, srv_now());
        e->tok -= (double)tokens;
        if (e->tok < -1e15) e->tok = -1e15;
    }
    pthread_mutex_unlock(&k->mu);
}
