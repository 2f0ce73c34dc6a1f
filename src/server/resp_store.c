/* resp_store.c - bounded store of Responses API responses (see
 * resp_store.h).
 *
 * One malloc per entry (the struct, its id and both texts). Entries are
 * linked three ways: a chained hash table on the id (FNV-1a), a recency
 * list (head = most recently used) and an age list (head = oldest). The
 * TTL is the same for every entry, so the age list is in expiry order:
 * every call first drops expired entries from its head, which keeps
 * expired text from lingering even when nobody looks it up. Eviction for
 * the count and byte bounds takes the recency list's tail. */
#include "server/resp_store.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct ent ent;
struct ent {
    ent *hnext;            /* hash chain */
    ent *uprev, *unext;    /* recency list */
    ent *aprev, *anext;    /* age list */
    uint64_t owner;
    double t_put;
    size_t bytes;          /* counted against max_bytes */
    char *id, *resp, *hist;
    size_t resp_len, hist_len;
};

struct srv_rstore {
    pthread_mutex_t mu;
    size_t max_entries, max_bytes;
    double ttl_s;
    ent **tab;
    size_t nb;             /* buckets, a power of two */
    ent *uhead, *utail, *ahead, *atail;
    size_t n, bytes;
    uint64_t evicted, expired;
};

static uint64_t hash_id(const char *s) {
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

srv_rstore *srv_rstore_create(size_t max_entries, size_t max_bytes, double ttl_s) {
    srv_rstore *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->max_entries = max_entries;
    s->max_bytes = max_bytes;
    s->ttl_s = ttl_s;
    size_t want = max_entries < ((size_t)1 << 20) ? max_entries : ((size_t)1 << 20);
    s->nb = 16;
    while (s->nb < want) s->nb <<= 1;
    s->tab = calloc(s->nb, sizeof *s->tab);
    if (!s->tab || pthread_mutex_init(&s->mu, NULL)) {
        free(s->tab);
        free(s);
        return NULL;
    }
    return s;
}

void srv_rstore_destroy(srv_rstore *s) {
    if (!s) return;
    for (ent *e = s->uhead, *nx; e; e = nx) {
        nx = e->unext;
        free(e);
    }
    free(s->tab);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

/* ---- under mu ---- */

static ent **slot(srv_rstore *s, const char *id) {
    ent **p = &s->tab[hash_id(id) & (s->nb - 1)];
    while (*p && strcmp((*p)->id, id)) p = &(*p)->hnext;
    return p;
}

static void unlink_ent(srv_rstore *s, ent *e) {
    ent **p = slot(s, e->id);
    *p = e->hnext;
    if (e->uprev) e->uprev->unext = e->unext;
    else s->uhead = e->unext;
    if (e->unext) e->unext->uprev = e->uprev;
    else s->utail = e->uprev;
    if (e->aprev) e->aprev->anext = e->anext;
    else s->ahead = e->anext;
    if (e->anext) e->anext->aprev = e->aprev;
    else s->atail = e->aprev;
    s->n--;
    s->bytes -= e->bytes;
    free(e);
}

static void touch(srv_rstore *s, ent *e) {
    if (s->uhead == e) return;
    e->uprev->unext = e->unext;
    if (e->unext) e->unext->uprev = e->uprev;
    else s->utail = e->uprev;
    e->uprev = NULL;
    e->unext = s->uhead;
    s->uhead->uprev = e;
    s->uhead = e;
}

static void expire(srv_rstore *s, double now) {
    if (s->ttl_s <= 0) return;
    while (s->ahead && now - s->ahead->t_put >= s->ttl_s) {
        unlink_ent(s, s->ahead);
        s->expired++;
    }
}

/* The live entry id of owner, or NULL. */
static ent *find(srv_rstore *s, const char *id, uint64_t owner, double now) {
    expire(s, now);
    ent *e = *slot(s, id);
    return e && e->owner == owner ? e : NULL;
}

int srv_rstore_put(srv_rstore *s, const char *id, uint64_t owner, const char *resp, size_t resp_len, const char *hist,
                   size_t hist_len, double now) {
    if (!s || !s->max_entries) return -1;
    size_t il = strlen(id);
    size_t text = il + 1 + resp_len + 1 + hist_len + 1;
    if (text < resp_len || text < hist_len) return -1; /* overflow */
    size_t bytes = sizeof(ent) + text;
    if (bytes > s->max_bytes) return -1;
    ent *e = malloc(bytes);
    if (!e) return -1;
    memset(e, 0, sizeof *e);
    e->id = (char *)(e + 1);
    e->resp = e->id + il + 1;
    e->hist = e->resp + resp_len + 1;
    memcpy(e->id, id, il + 1);
    if (resp_len) memcpy(e->resp, resp, resp_len);
    e->resp[resp_len] = 0;
    if (hist_len) memcpy(e->hist, hist, hist_len);
    e->hist[hist_len] = 0;
    e->resp_len = resp_len;
    e->hist_len = hist_len;
    e->owner = owner;
    e->t_put = now;
    e->bytes = bytes;
    pthread_mutex_lock(&s->mu);
    expire(s, now);
    ent *old = *slot(s, id);
    if (old) unlink_ent(s, old);
    while (s->utail && (s->n + 1 > s->max_entries || s->bytes + bytes > s->max_bytes)) {
        unlink_ent(s, s->utail);
        s->evicted++;
    }
    /* callers read the clock before the lock: keep the age list in order */
    if (s->atail && s->atail->t_put > e->t_put) e->t_put = s->atail->t_put;
    ent **p = slot(s, id);
    *p = e;
    e->unext = s->uhead;
    if (s->uhead) s->uhead->uprev = e;
    s->uhead = e;
    if (!s->utail) s->utail = e;
    e->aprev = s->atail;
    if (s->atail) s->atail->anext = e;
    s->atail = e;
    if (!s->ahead) s->ahead = e;
    s->n++;
    s->bytes += bytes;
    pthread_mutex_unlock(&s->mu);
    return 0;
}

int srv_rstore_get(srv_rstore *s, const char *id, uint64_t owner, int what, char **out, size_t *len, double now) {
    *out = NULL;
    *len = 0;
    if (!s) return -1;
    pthread_mutex_lock(&s->mu);
    ent *e = find(s, id, owner, now);
    int rc = -1;
    if (e) {
        touch(s, e);
        const char *t = what == SRV_RSTORE_HISTORY ? e->hist : e->resp;
        size_t n = what == SRV_RSTORE_HISTORY ? e->hist_len : e->resp_len;
        *out = malloc(n + 1);
        if (*out) {
            memcpy(*out, t, n + 1);
            *len = n;
            rc = 0;
        } else {
            rc = -2;
        }
    }
    pthread_mutex_unlock(&s->mu);
    return rc;
}

int srv_rstore_delete(srv_rstore *s, const char *id, uint64_t owner, double now) {
    if (!s) return -1;
    pthread_mutex_lock(&s->mu);
    ent *e = find(s, id, owner, now);
    if (e) unlink_ent(s, e);
    pthread_mutex_unlock(&s->mu);
    return e ? 0 : -1;
}

int srv_rstore_enabled(const srv_rstore *s) { return s && s->max_entries > 0; }

void srv_rstore_stats_get(srv_rstore *s, srv_rstore_stats *st) {
    memset(st, 0, sizeof *st);
    if (!s) return;
    pthread_mutex_lock(&s->mu);
    st->entries = s->n;
    st->bytes = s->bytes;
    st->evicted_lru = s->evicted;
    st->expired = s->expired;
    pthread_mutex_unlock(&s->mu);
}

#define CHECK(cond, ...)                                                                                         \
    do {                                                                                                         \
        if (!(cond)) {                                                                                           \
            snprintf(msg, cap, __VA_ARGS__);                                                                     \
            rc = -1;                                                                                             \
            goto out;                                                                                            \
        }                                                                                                        \
    } while (0)

int srv_rstore_check(srv_rstore *s, char *msg, size_t cap) {
    int rc = 0;
    pthread_mutex_lock(&s->mu);
    size_t n = 0, bytes = 0, hn = 0, an = 0;
    for (ent *e = s->uhead; e; e = e->unext) {
        CHECK(e->unext ? e->unext->uprev == e : s->utail == e, "recency links broken at %s", e->id);
        CHECK(*slot(s, e->id) == e, "entry %s not in the table", e->id);
        CHECK(e->bytes == sizeof(ent) + strlen(e->id) + 1 + e->resp_len + 1 + e->hist_len + 1, "bytes of %s", e->id);
        n++;
        bytes += e->bytes;
        CHECK(n <= s->n, "recency list longer than the count");
    }
    for (ent *e = s->ahead; e; e = e->anext) {
        CHECK(e->anext ? e->anext->aprev == e && e->anext->t_put >= e->t_put : s->atail == e, "age list broken at %s",
              e->id);
        CHECK(++an <= s->n, "age list longer than the count");
    }
    for (size_t b = 0; b < s->nb; b++)
        for (ent *e = s->tab[b]; e; e = e->hnext) CHECK(++hn <= s->n, "table holds more than the count");
    CHECK(n == s->n && an == s->n && hn == s->n, "counts: list %zu, age %zu, table %zu, n %zu", n, an, hn, s->n);
    CHECK(bytes == s->bytes, "bytes %zu != sum %zu", s->bytes, bytes);
    CHECK(s->n <= s->max_entries && s->bytes <= s->max_bytes, "bounds exceeded: %zu entries, %zu bytes", s->n, s->bytes);
out:
    pthread_mutex_unlock(&s->mu);
    return rc;
}
