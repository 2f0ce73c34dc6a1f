/* http_impl.h - the HTTP layer's private types, shared by http.c (the
 * HTTP library's glue) and http_log.c (the request log line and the
 * /v1/stats body, which read a connection's fields but never call the
 * library). The library's connection and daemon handles are only
 * forward-declared here; http.c stays the one file that includes the
 * library's header; http_core.c holds the front's library-free parts.
 * Adapters and the request core never include this file.
 * Not a public header. */
#ifndef PG_SERVER_HTTP_IMPL_H
#define PG_SERVER_HTTP_IMPL_H

#include "server/adapter.h"
#include "server/auth.h"
#include "server/embed_api.h"
#include "server/http.h"
#include "server/request.h"
#include "server/util.h"
#include "server/webui.h"

#include <pthread.h>
#include <stdint.h>
#include <sys/socket.h>

struct MHD_Connection;
struct MHD_Daemon;
struct addrinfo;

/* ---------- the routing table's row type (the table is in http.c) ---------- */

enum { RT_HEALTH = 1, RT_READY, RT_METRICS, RT_STATS, RT_WEBUI, RT_SIMPLE, RT_GENERATE, RT_MODEL, RT_EMBED, RT_RERANK, RT_USAGE, RT_RESPONSE };

/* A row matches its path exactly, or (prefix) any path that starts with it
 * and has a non-empty rest without '/' (the rest is the resource id). HEAD
 * is served wherever GET is (MHD sends the headers only); OPTIONS on any
 * route is the CORS preflight (204). The README's endpoint list is checked
 * against this table by tests/server_misc.test.sh. */
typedef struct route {
    const char *path;
    const char *method;
    int prefix;
    int kind;                    /* RT_* */
    int (*simple)(const srv_ctx *c, const char *body, size_t len, char **out); /* RT_SIMPLE */
    const srv_adapter *ad;       /* RT_GENERATE */
    int proto;                   /* SRV_PROTO_* (metrics.h): the protocol label of its series; a
                                    row that leaves it out is openai (0) */
} route;

/* http_routes.c: the table (in match order), its length, and the row of
 * the embedded web UI's files (webui.h; served when no row matches). */
extern const route srv_routes[];
extern const size_t srv_n_routes;
extern const route srv_webui_route;

typedef struct hconn hconn;

#define SRV_MAX_JSON_DEPTH 64        /* a request body's nesting (400 beyond) */
#define SRV_MIN_BODY_RATE 16384.0    /* bytes/s a body must keep after --timeout of slack */

/* One TCP connection (MHD's socket context), from accept to close, for
 * the admission limits and the receive deadlines (http.c). Under
 * srv_http.cmu. */
typedef struct tconn {
    struct tconn *next, *prev;
    int fd;
    int family;
    unsigned char addr[16]; /* IPv4 (4 bytes) or IPv6 (16) */
    double deadline;        /* monotonic s: headers (and body) must be in by then; 0 none */
    int cut;                /* the watcher shut it down */
} tconn;

struct srv_http {
    srv_http_env env;
    struct MHD_Daemon *daemon;
    int port;
    /* registry of live generation / embedding requests (for the watcher and the drain) */
    pthread_mutex_t mu;
    hconn *live;
    pthread_t watcher;
    int watcher_started;
    int wake[2]; /* pipe: wakes the watcher when the set changes */
    /* parse workers: adapter->parse (JSON, chat template render) runs
     * here, never on an MHD thread (a hostile template cannot stall
     * /health); a connection is suspended while its request is parsed */
    pthread_t *pw;
    int n_pw;
    pthread_mutex_t pmu;
    pthread_cond_t pcv;
    hconn *pq_head, *pq_tail; /* (pmu) waiting to be parsed */
    int pq_stop;              /* (pmu) */
    int n_parsing;            /* (pmu) queued or being parsed (counted as live by the drain) */
    /* every open connection (admission limits, receive deadlines) */
    pthread_mutex_t cmu;
    tconn *conns;
    unsigned n_conns;
    char replica[300]; /* x-pagoda-replica (srv_http_replica) */
};

/* One HTTP request (MHD's con_cls). Fields marked (req) are under the
 * request's mutex once a srv_req exists; the rest belong to the MHD thread
 * of the connection. */
struct hconn {
    srv_http *h;
    struct MHD_Connection *conn;
    const route *rt;       /* NULL: no such path (404) */
    const srv_adapter *miss_ad; /* no route under a protocol's path (/v1/messages/...): its error shape */
    const pg_asset *asset; /* RT_WEBUI: the embedded file */
    int bad_method;
    int preflight;         /* OPTIONS: CORS preflight (204) */
    char *rest;            /* prefix routes: the path after the prefix */
    const char *cors;      /* Access-Control-Allow-Origin value, or NULL */
    char *body;
    size_t body_len, body_cap;
    int too_large;
    int big;               /* a large response: memory is trimmed after it */
    int close_after;       /* answer with Connection: close (a malformed framing) */
    int bad_framing;       /* 400 / 501 for Content-Length / Transfer-Encoding shapes */
    tconn *tc;             /* the connection's tracker (valid during ahc calls) */
    int stage;             /* 0 receiving, 1 waiting on the engine, 2 responded, 3 being parsed */
    hconn *pq_next;        /* parse queue link (pmu) */
    int parse_st;          /* the adapter's parse status (0 ok), set by the worker */
    srv_fail fail;         /* its error body */
    char x_request_id[128];
    double t_start;        /* monotonic seconds at the first header */
    int status;            /* HTTP status sent (0 none yet) */
    char trace_id[33];     /* W3C trace id (32 hex) */
    char traceparent[64];  /* ours: 00-<trace>-<new span>-<flags> */
    char parent_span[17];  /* the incoming traceparent's span id ("" when none): our span's parent */
    int authed;
    uint64_t key_id;
    char key_name[64];
    int has_rl;
    srv_rl rl;
    /* generation */
    srv_req *req;          /* owner reference */
    void *ast;             /* the adapter's state (in the request's arena) */
    int stream;
    int suspended;         /* (req) */
    int gone;              /* (req) NOTIFY_COMPLETED ran: conn is invalid */
    int disconnected;      /* (req) the watcher saw the client go */
    srv_buf out;           /* stream frames, reused */
    /* RT_EMBED / RT_RERANK: the job (embed_api.h); suspended, gone and
     * disconnected are then under the job's mutex instead */
    srv_ejob *ejob;        /* consumer reference */
    size_t out_off;
    int stream_ended;      /* stream: the end was formatted; non-streaming parts: the last part */
    uint64_t sent_bytes;   /* non-streaming body bytes handed to MHD */
    /* registry (under h->mu) */
    hconn *next, *prev;
    int in_registry;
    int fd;
    uint64_t serial;
};

/* http_log.c: one structured log line per finished HTTP request (gone: the
 * client left), and the JSON body of GET /v1/stats (malloc'd, NULL on
 * out-of-memory). */
void srv_http_log_request(srv_http *h, hconn *r, int gone);
/* http_acct.c: a finished request's usage record (usage.h) and its spans
 * (otlp.h: the request, and queue / prefill / decode under it). */
void srv_http_account(srv_http *h, hconn *r, int gone);
char *srv_http_stats_body(srv_http *h, const pg_engine_stats *st);


/* ---------- http_core.c (no library calls) and the one hook http.c gives it ---------- */

void srv_http_conn_wake(void *arg); /* http.c: resume a suspended connection (under the request's mutex) */
void srv_http_conn_free(hconn *r);
void srv_http_registry_add(srv_http *h, hconn *r, int fd);
void srv_http_registry_remove(srv_http *h, hconn *r);
void srv_http_fmt_dur(char *b, size_t cap, double s);
void srv_http_count_status(hconn *r, int status);
/* The request's API key from its Authorization header ("Bearer <key>",
 * trimmed) or, without one, its x-api-key header (Anthropic's clients send
 * the key there; the same key set on every route): the key, or NULL. The
 * anthropic-version / anthropic-beta headers are not read. */
const char *srv_http_request_key(const char *auth, const char *x_api_key, size_t *len);
/* The request series of r's protocol (its route's column; openai without a route). */
srv_pmetrics *srv_http_pm(const hconn *r);
void *srv_http_parse_main(void *arg);
char *srv_http_loading_body(const srv_http_env *env);
const char *srv_http_cors_allow(const srv_http *h, const char *origin);
int srv_http_sane_request_id(const char *v);
void srv_http_trace_init(srv_http *h, hconn *r, const char *tp);
int srv_http_admit(srv_http *h, const struct sockaddr *addr, socklen_t len);
tconn *srv_http_track_open(srv_http *h, int fd, const struct sockaddr *sa);
void srv_http_track_close(srv_http *h, tconn *t);
void srv_http_set_deadline(srv_http *h, tconn *t, double when);
double srv_http_body_deadline(const hconn *r);
int srv_http_is_token(const char *v, const char *word);
int srv_http_plain_number(const char *v);
void *srv_http_watcher_main(void *arg);
int srv_http_listen_socket(const pg_server_config *cfg, const struct addrinfo *ai, pg_error *err);
void srv_http_set_replica(srv_http *h);

#endif
