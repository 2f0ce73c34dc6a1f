/* otlp.h - OpenTelemetry span export over OTLP/HTTP with JSON bodies
 * (`pagoda serve --otlp-endpoint URL`, issue 28).
 *
 * The HTTP front hands finished requests' spans to srv_otlp_push, which only
 * copies them into a bounded queue (SRV_OTLP_QUEUE spans, allocated at
 * create) under a mutex and signals the exporter thread: nothing on the HTTP
 * or engine threads waits on the network. When the queue is full the new
 * spans are dropped and counted. The exporter thread sends a batch
 * (up to SRV_OTLP_BATCH spans) when that many are queued or a second after
 * the first one arrived: one POST of an ExportTraceServiceRequest in JSON to
 * the endpoint with a plain socket (connect 2 s, whole exchange 5 s); a batch
 * that fails (no connection, timeout, non-2xx) is dropped and counted, not
 * retried. On destroy the queue is flushed for up to 2 s (a batch being
 * sent then may take its 5 s), what is left is counted as failed.
 *
 * Only http:// endpoints (no TLS): point it at a local OpenTelemetry
 * collector or Jaeger's OTLP port, which can forward over TLS. The path
 * defaults to /v1/traces when the URL has none.
 *
 * Ids are lowercase hex as the W3C traceparent carries them (OTLP/JSON
 * encodes trace and span ids as hex); times are unix nanoseconds. */
#ifndef PG_SERVER_OTLP_H
#define PG_SERVER_OTLP_H

#include "base/error.h"

#include <stddef.h>
#include <stdint.h>

#define SRV_OTLP_QUEUE 4096
#define SRV_OTLP_BATCH 256

typedef struct srv_otlp srv_otlp;

enum { SRV_SPAN_SERVER = 2, SRV_SPAN_INTERNAL = 1 };
enum { SRV_SPAN_MAX_ATTRS = 12 };

/* One attribute: a string (s != NULL) or an integer / a double. */
typedef struct srv_span_attr {
    const char *key; /* a static string */
    char s[128];     /* string value (copied, cut at 127 bytes) */
    int is_str, is_double;
    int64_t i;
    double d;
} srv_span_attr;

typedef struct srv_span {
    char trace_id[33];  /* 32 hex */
    char span_id[17];   /* 16 hex */
    char parent_id[17]; /* 16 hex, "" for a root span */
    char name[64];
    int kind;           /* SRV_SPAN_* */
    uint64_t start_ns, end_ns; /* unix nanoseconds */
    int error;          /* status code ERROR (else OK) */
    srv_span_attr attr[SRV_SPAN_MAX_ATTRS];
    int n_attr;
} srv_span;

/* Attribute helpers (no-ops past SRV_SPAN_MAX_ATTRS). */
void srv_span_str(srv_span *s, const char *key, const char *v);
void srv_span_int(srv_span *s, const char *key, int64_t v);
void srv_span_double(srv_span *s, const char *key, double v);

/* url: "http://HOST[:PORT][/PATH]" (port 80 by default, path /v1/traces);
 * service / instance: the resource's service.name and service.instance.id.
 * Starts the exporter thread. 0, or PG_EINVAL with err filled (https, bad
 * URL) / PG_ENOMEM. */
int srv_otlp_create(const char *url, const char *service, const char *instance, srv_otlp **out, pg_error *err);
/* Sets service.instance.id (thread-safe). */
void srv_otlp_set_instance(srv_otlp *o, const char *instance);
/* Flushes what is queued (up to 2 s), stops the thread, frees. NULL ok. */
void srv_otlp_destroy(srv_otlp *o);
/* Queues n spans (all, or none when they do not fit: counted as dropped). */
void srv_otlp_push(srv_otlp *o, const srv_span *spans, int n);
/* Appends the exporter's Prometheus counters (labelled model_name) to *buf
 * (malloc'd, *len bytes). 0 or -1 (out of memory, *buf unchanged). */
int srv_otlp_metrics(srv_otlp *o, const char *model, char **buf, size_t *len);
/* Counters (tests): spans exported, dropped because the queue was full,
 * dropped because their batch could not be sent. */
void srv_otlp_counts(srv_otlp *o, uint64_t *exported, uint64_t *dropped_full, uint64_t *dropped_failed);

#endif
