/* http_core.c - the HTTP front's parts that never call libmicrohttpd
 * (http.c is the glue that does; both share http_impl.h):
 *
 *   - the registry of live requests (generation and embedding jobs) that
 *     the watcher and the drain walk, and the parse workers that run
 *     adapter->parse (JSON, chat template) off the library's threads;
 *   - connection tracking for the admission limits (--max-connections,
 *     --max-connections-per-ip: beyond them a socket is closed at once) and
 *     the receive deadlines (headers within --timeout, then a minimum body
 *     rate), enforced by the watcher shutting late sockets down;
 *   - the disconnect watcher: a *suspended* connection is invisible to the
 *     library, so this thread poll()s the sockets of live requests for
 *     POLLHUP/POLLERR (not POLLRDHUP: a half-close is the end of a
 *     request, not a hang-up); on hang-up it cancels the request or job and
 *     resumes the connection (srv_http_conn_wake) so the library sees the
 *     failure and cleans up;
 *   - drain support (live count, cancel all), the listening socket (plain
 *     SO_REUSEADDR, never SO_REUSEPORT), the replica name, W3C trace
 *     context, CORS origin matching and small header-value checks.
 *
 * Locks: the registry (h->mu) before a request's mutex; the connection
 * list (h->cmu) and the parse queue (h->pmu) are leaves. */
#include "server/http_impl.h"

#include "base/log.h"
#include "server/stats.h"

#include <errno.h>
#include <malloc.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

void srv_http_conn_free(hconn *r) {
    if (r->req) srv_req_unref(r->req);
    if (r->ejob) srv_ejob_detach(r->ejob);
    free(r->body);
    free(r->rest);
    free(r->fail.body);
    srv_buf_free(&r->out);
    free(r);
}

void srv_http_registry_add(srv_http *h, hconn *r, int fd) {
    r->fd = fd;
    pthread_mutex_lock(&h->mu);
    r->next = h->live;
    r->prev = NULL;
    if (h->live) h->live->prev = r;
    h->live = r;
    r->in_registry = 1;
    pthread_mutex_unlock(&h->mu);
    if (h->wake[1] >= 0) {
        char b = 1;
        ssize_t w = write(h->wake[1], &b, 1);
        (void)w;
    }
}

void srv_http_registry_remove(srv_http *h, hconn *r) {
    pthread_mutex_lock(&h->mu);
    if (r->in_registry) {
        if (r->prev) r->prev->next = r->next;
        else h->live = r->next;
        if (r->next) r->next->prev = r->prev;
        r->in_registry = 0;
    }
    pthread_mutex_unlock(&h->mu);
}

/* OpenAI-style durations: "20ms", "7s", "6m0s". */
void srv_http_fmt_dur(char *b, size_t cap, double s) {
    if (!(s > 0)) snprintf(b, cap, "0s");
    else if (s < 1) snprintf(b, cap, "%dms", (int)ceil(s * 1000));
    else {
        long t = (long)ceil(s);
        if (t >= 60) snprintf(b, cap, "%ldm%lds", t / 60, t % 60);
        else snprintf(b, cap, "%lds", t);
    }
}

/* v without leading / trailing blanks; NULL when empty. */
static const char *trimmed(const char *v, size_t *len) {
    while (*v == ' ' || *v == '\t') v++;
    size_t n = strlen(v);
    while (n && (v[n - 1] == ' ' || v[n - 1] == '\t')) n--;
    if (!n) return NULL;
    *len = n;
    return v;
}

const char *srv_http_request_key(const char *auth, const char *x_api_key, size_t *len) {
    if (!auth) return x_api_key ? trimmed(x_api_key, len) : NULL;
    while (*auth == ' ' || *auth == '\t') auth++;
    if (strncasecmp(auth, "bearer", 6) || (auth[6] != ' ' && auth[6] != '\t')) return NULL;
    return trimmed(auth + 6, len);
}

srv_pmetrics *srv_http_pm(const hconn *r) {
    int p = r->rt ? r->rt->proto : SRV_PROTO_OPENAI;
    return &r->h->env.metrics->p[p >= 0 && p < SRV_PROTO_COUNT ? p : SRV_PROTO_OPENAI];
}

void srv_http_count_status(hconn *r, int status) {
    r->status = status;
    r->stage = 2;
    if (status >= 100 && status < 600) atomic_fetch_add(&srv_http_pm(r)->status[status], 1);
}

/* A generation request's body is parsed (JSON, the chat template's render
 * with its cost budget and deadline) on a parse worker, not on the MHD
 * thread: the connection is suspended meanwhile and resumed by the worker;
 * ahc then goes on in after_parse (stage 3). A render that runs long (a
 * hostile template) holds a worker, never /health; the drain counts it as
 * live, and the shutdown grace's cancel flag stops it. */
void *srv_http_parse_main(void *arg) {
    srv_http *h = arg;
    pthread_mutex_lock(&h->pmu);
    for (;;) {
        /* at stop, leave only once nothing is queued or about to be */
        while (!h->pq_head && !(h->pq_stop && h->n_parsing == 0)) pthread_cond_wait(&h->pcv, &h->pmu);
        hconn *r = h->pq_head;
        if (!r) break;
        h->pq_head = r->pq_next;
        if (!h->pq_head) h->pq_tail = NULL;
        pthread_mutex_unlock(&h->pmu);
        srv_caller who = {r->authed, r->key_id};
        memset(&r->fail, 0, sizeof r->fail);
        r->parse_st = r->rt->ad->parse(h->env.ctx, &who, r->body, r->body_len, r->req, &r->ast, &r->fail);
        srv_req_lock(r->req);
        srv_http_conn_wake(r); /* resume: ahc goes on in after_parse */
        srv_req_unlock(r->req);
        pthread_mutex_lock(&h->pmu);
        if (--h->n_parsing == 0 && h->pq_stop) pthread_cond_broadcast(&h->pcv);
    }
    pthread_mutex_unlock(&h->pmu);
    return NULL;
}

/* {"status":"loading"} plus, once the model's size is known, its load
 * progress: "progress" (0..1), "loaded_bytes", "total_bytes". */
char *srv_http_loading_body(const srv_http_env *env) {
    uint64_t done = env->load_done ? atomic_load(env->load_done) : 0;
    uint64_t total = env->load_total ? atomic_load(env->load_total) : 0;
    char b[160];
    if (total == 0) return strdup("{\"status\":\"loading\"}");
    if (done > total) done = total;
    snprintf(b, sizeof b, "{\"status\":\"loading\",\"progress\":%.3f,\"loaded_bytes\":%llu,\"total_bytes\":%llu}",
             (double)done / (double)total, (unsigned long long)done, (unsigned long long)total);
    return strdup(b);
}

/* CORS: the allowed value for this request's Origin (the configured
 * origin itself, or "*"), or NULL (no Origin, or not allowed). */
const char *srv_http_cors_allow(const srv_http *h, const char *origin) {
    const pg_server_config *cfg = h->env.cfg;
    if (!origin || !cfg->n_cors_origins) return NULL;
    for (int i = 0; i < cfg->n_cors_origins; i++) {
        if (!strcmp(cfg->cors_origins[i], "*")) return "*";
        if (!strcmp(cfg->cors_origins[i], origin)) return cfg->cors_origins[i];
    }
    return NULL;
}

int srv_http_sane_request_id(const char *v) {
    size_t n = strlen(v);
    if (n == 0 || n > 120) return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)v[i] < 0x21 || (unsigned char)v[i] > 0x7e) return 0;
    return 1;
}

static int hexn(const char *p, size_t n) {
    int nonzero = 0;
    for (size_t i = 0; i < n; i++) {
        char c = p[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return -1;
        nonzero |= c != '0';
    }
    return nonzero;
}

/* W3C trace context: keep a valid incoming trace id (version 00 layout
 * "00-<32 hex>-<16 hex>-<2 hex>"; other versions are read by that prefix),
 * else start a new trace; our span gets a fresh id. */
void srv_http_trace_init(srv_http *h, hconn *r, const char *tp) {
    char flags[3] = "01";
    int ok = 0;
    if (tp && strlen(tp) >= 55 && tp[2] == '-' && tp[35] == '-' && tp[52] == '-' && hexn(tp, 2) >= 0 &&
        strncmp(tp, "ff", 2) && hexn(tp + 3, 32) == 1 && hexn(tp + 36, 16) == 1 && hexn(tp + 53, 2) >= 0 &&
        (tp[55] == 0 || (strncmp(tp, "00", 2) && tp[55] == '-'))) {
        memcpy(r->trace_id, tp + 3, 32);
        r->trace_id[32] = 0;
        memcpy(r->parent_span, tp + 36, 16);
        r->parent_span[16] = 0;
        flags[0] = tp[53];
        flags[1] = tp[54];
        ok = 1;
    }
    char a[64], b[64];
    if (!ok) {
        srv_make_id(h->env.ids, "", a, sizeof a);
        srv_make_id(h->env.ids, "", b, sizeof b);
        snprintf(r->trace_id, sizeof r->trace_id, "%.16s%.16s", a, b);
    }
    srv_make_id(h->env.ids, "", a, sizeof a);
    snprintf(r->traceparent, sizeof r->traceparent, "00-%s-%.16s-%s", r->trace_id, a, flags);
}

/* The key of a client address: family and the address bytes (no port). */
static int addr_key(const struct sockaddr *sa, unsigned char *out) {
    if (sa && sa->sa_family == AF_INET) {
        memcpy(out, &((const struct sockaddr_in *)sa)->sin_addr, 4);
        return AF_INET;
    }
    if (sa && sa->sa_family == AF_INET6) {
        memcpy(out, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
        return AF_INET6;
    }
    return 0;
}

/* MHD's accept policy: refuse (MHD closes the socket at once) beyond
 * --max-connections in all or --max-connections-per-ip from one address.
 * MHD's own limits are set above ours, so it never stops accepting and
 * leaves connections hanging in the listen queue. */
int srv_http_admit(srv_http *h, const struct sockaddr *addr, socklen_t len) {
    const pg_server_config *cfg = h->env.cfg;
    unsigned char key[16];
    int fam = len >= sizeof(struct sockaddr_in) ? addr_key(addr, key) : 0;
    size_t kl = fam == AF_INET ? 4 : 16;
    unsigned same = 0;
    pthread_mutex_lock(&h->cmu);
    unsigned total = h->n_conns;
    if (fam && cfg->max_connections_per_ip)
        for (tconn *t = h->conns; t; t = t->next) same += t->family == fam && !memcmp(t->addr, key, kl);
    pthread_mutex_unlock(&h->cmu);
    if (total >= cfg->max_connections || (cfg->max_connections_per_ip && same >= cfg->max_connections_per_ip))
        atomic_fetch_add(&h->env.metrics->conn_refused, 1);
    if (total >= cfg->max_connections) {
        PG_DEBUG("refused a connection: %u open (--max-connections %u)", total, cfg->max_connections);
        return 0;
    }
    if (cfg->max_connections_per_ip && same >= cfg->max_connections_per_ip) {
        PG_DEBUG("refused a connection: %u open from its address (--max-connections-per-ip %u)", same,
                 cfg->max_connections_per_ip);
        return 0;
    }
    return 1;
}

/* Connection tracking (the library's NOTIFY_CONNECTION): a socket from
 * accept (open: the headers' deadline starts) to close (unlinked, freed). */
tconn *srv_http_track_open(srv_http *h, int fd, const struct sockaddr *sa) {
    tconn *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    t->fd = fd;
    t->family = sa ? addr_key(sa, t->addr) : 0;
    double to = h->env.cfg->connection_timeout_s;
    t->deadline = to > 0 ? srv_now() + to : 0;
    pthread_mutex_lock(&h->cmu);
    t->next = h->conns;
    if (h->conns) h->conns->prev = t;
    h->conns = t;
    h->n_conns++;
    pthread_mutex_unlock(&h->cmu);
    return t;
}

void srv_http_track_close(srv_http *h, tconn *t) {
    pthread_mutex_lock(&h->cmu);
    if (t->prev) t->prev->next = t->next;
    else h->conns = t->next;
    if (t->next) t->next->prev = t->prev;
    h->n_conns--;
    pthread_mutex_unlock(&h->cmu);
    free(t);
}

void srv_http_set_deadline(srv_http *h, tconn *t, double when) {
    if (!t) return;
    pthread_mutex_lock(&h->cmu);
    t->deadline = when;
    pthread_mutex_unlock(&h->cmu);
}

/* While a body arrives: --timeout of slack after the headers, then at
 * least SRV_MIN_BODY_RATE bytes per second. 0 (none) without a timeout. */
double srv_http_body_deadline(const hconn *r) {
    double to = r->h->env.cfg->connection_timeout_s;
    return to > 0 ? r->t_start + to + (double)r->body_len / SRV_MIN_BODY_RATE : 0;
}

/* Watcher: connections past their receive deadline (slow headers, a body
 * slower than the minimum rate) are shut down; MHD sees the socket fail
 * and closes it. Under cmu, so the fd is still the connection's (CLOSED
 * unlinks under cmu before MHD closes the socket). */
static void cut_late(srv_http *h) {
    double now = srv_now();
    int n = 0;
    pthread_mutex_lock(&h->cmu);
    for (tconn *t = h->conns; t; t = t->next) {
        if (t->cut || t->deadline <= 0 || now < t->deadline || t->fd < 0) continue;
        shutdown(t->fd, SHUT_RDWR);
        t->cut = 1;
        n++;
    }
    pthread_mutex_unlock(&h->cmu);
    if (n) {
        atomic_fetch_add(&h->env.metrics->conn_late, (uint_fast64_t)n);
        PG_DEBUG("closed %d connection(s) that did not send their request in time", n);
    }
}

int srv_http_is_token(const char *v, const char *word) {
    if (!v) return 0;
    while (*v == ' ' || *v == '\t') v++;
    size_t n = strlen(word);
    if (strncasecmp(v, word, n)) return 0;
    for (v += n; *v == ' ' || *v == '\t'; v++) {}
    return *v == 0;
}

int srv_http_plain_number(const char *v) {
    if (!v) return 0;
    while (*v == ' ' || *v == '\t') v++;
    if (*v < '0' || *v > '9') return 0;
    while (*v >= '0' && *v <= '9') v++;
    while (*v == ' ' || *v == '\t') v++;
    return *v == 0;
}

int srv_http_live_count(srv_http *h) {
    pthread_mutex_lock(&h->pmu);
    int n = h->n_parsing;
    pthread_mutex_unlock(&h->pmu);
    pthread_mutex_lock(&h->mu);
    for (hconn *r = h->live; r; r = r->next) n++;
    pthread_mutex_unlock(&h->mu);
    return n;
}

int srv_http_cancel_all(srv_http *h) {
    /* requests referenced under the registry lock, cancelled outside it */
    int n = 0;
    size_t nr = 0, cap = 0;
    srv_req **reqs = NULL;
    pthread_mutex_lock(&h->mu);
    for (hconn *r = h->live; r; r = r->next) {
        n++;
        if (!r->req) continue; /* an embedding job: srv_embq_cancel_all */
        if (nr == cap) {
            size_t nc = cap ? cap * 2 : 64;
            srv_req **b = realloc(reqs, nc * sizeof *reqs);
            if (!b) continue;
            reqs = b;
            cap = nc;
        }
        srv_req_ref(r->req);
        reqs[nr++] = r->req;
    }
    pthread_mutex_unlock(&h->mu);
    for (size_t i = 0; i < nr; i++) {
        srv_req_cancel(reqs[i]);
        srv_req_unref(reqs[i]);
    }
    free(reqs);
    return n;
}

/* The client of the request with this serial hung up: cancel it and
 * resume its connection so that MHD notices. */
static void hung_up(srv_http *h, uint64_t serial) {
    srv_req *req = NULL;
    int running = 0;
    srv_pmetrics *pm = NULL;
    pthread_mutex_lock(&h->mu);
    for (hconn *r = h->live; r; r = r->next) {
        if (r->serial != serial) continue;
        pm = srv_http_pm(r);
        if (r->ejob) { /* cancelled here: the job lives while the connection does */
            srv_ejob_lock(r->ejob);
            int first = !r->disconnected;
            if (first) {
                r->disconnected = 1;
                running = !srv_ejob_done(r->ejob);
                srv_http_conn_wake(r);
            }
            srv_ejob_unlock(r->ejob);
            if (running) srv_ejob_cancel(r->ejob);
            break;
        }
        srv_req_lock(r->req);
        if (!r->disconnected) {
            r->disconnected = 1;
            running = srv_req_running(r->req);
            srv_http_conn_wake(r);
        }
        srv_req_unlock(r->req);
        srv_req_ref(r->req);
        req = r->req;
        break;
    }
    pthread_mutex_unlock(&h->mu);
    if (running && !req) {
        atomic_fetch_add(&pm->disconnects, 1);
        PG_DEBUG("client disconnected; cancelling its embedding job");
    }
    if (!req) return;
    if (running) {
        atomic_fetch_add(&pm->disconnects, 1);
        PG_DEBUG("client disconnected; cancelling %d engine request(s)", running);
        srv_req_cancel(req);
    }
    srv_req_unref(req);
}

void *srv_http_watcher_main(void *arg) {
    srv_http *h = arg;
    struct pollfd *pf = NULL;
    uint64_t *serial = NULL;
    size_t cap = 0;
    while (!atomic_load(h->env.stopping)) {
        pthread_mutex_lock(&h->mu);
        size_t n = 1;
        for (hconn *r = h->live; r; r = r->next) n++;
        if (n > cap) {
            struct pollfd *p2 = realloc(pf, n * 2 * sizeof *pf);
            uint64_t *s2 = realloc(serial, n * 2 * sizeof *serial);
            if (p2) pf = p2;
            if (s2) serial = s2;
            if (!p2 || !s2) {
                pthread_mutex_unlock(&h->mu);
                usleep(100000);
                continue;
            }
            cap = n * 2;
        }
        pf[0].fd = h->wake[0];
        pf[0].events = POLLIN;
        n = 1;
        for (hconn *r = h->live; r; r = r->next) {
            if (r->fd < 0 || r->disconnected) continue;
            pf[n].fd = r->fd;
            pf[n].events = 0; /* POLLHUP / POLLERR only: a half-close (FIN) is the end of the request, not a hang-up */
            pf[n].revents = 0;
            serial[n] = r->serial;
            n++;
        }
        pthread_mutex_unlock(&h->mu);
        pf[0].revents = 0;
        int k = poll(pf, n, 250);
        cut_late(h);
        if (k <= 0) continue;
        if (pf[0].revents) {
            char b[64];
            while (read(h->wake[0], b, sizeof b) > 0) {}
        }
        for (size_t i = 1; i < n; i++)
            if (pf[i].revents & (POLLHUP | POLLERR | POLLNVAL)) hung_up(h, serial[i]);
    }
    free(pf);
    free(serial);
    return NULL;
}

/* The listening socket, made here so that a busy port is an error: plain
 * SO_REUSEADDR (fast restarts over TIME_WAIT) and never SO_REUSEPORT,
 * which would let a second server share the port. */
int srv_http_listen_socket(const pg_server_config *cfg, const struct addrinfo *ai, pg_error *err) {
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
    if (fd < 0) return pg_error_set(err, PG_EIO, "cannot listen on %s:%d: socket: %s", cfg->host, cfg->port, strerror(errno));
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (ai->ai_family == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 512) < 0) {
        int e = errno;
        close(fd);
        return pg_error_set(err, PG_EIO, "cannot listen on %s:%d: %s%s", cfg->host, cfg->port, strerror(e),
                            e == EADDRINUSE ? " (another server is running there?)" : "");
    }
    return fd;
}

/* x-pagoda-replica: --replica-name, else HOST:PORT (the host name for a
 * wildcard listen address); header-safe bytes only. */
void srv_http_set_replica(srv_http *h) {
    const pg_server_config *cfg = h->env.cfg;
    if (cfg->replica_name && *cfg->replica_name) snprintf(h->replica, sizeof h->replica, "%s", cfg->replica_name);
    else {
        char host[256];
        const char *hn = cfg->host;
        int wild = !strcmp(hn, "0.0.0.0") || !strcmp(hn, "::") || !strcmp(hn, "[::]") || !*hn;
        if (wild && gethostname(host, sizeof host) == 0) {
            host[sizeof host - 1] = 0;
            hn = host;
        }
        int v6 = strchr(hn, ':') != NULL;
        snprintf(h->replica, sizeof h->replica, "%s%s%s:%d", v6 ? "[" : "", hn, v6 ? "]" : "", h->port);
    }
    for (char *p = h->replica; *p; p++)
        if ((unsigned char)*p < 0x21 || (unsigned char)*p > 0x7e) *p = '_';
}
