/* webui.h - the built-in web UI (chat page and metrics dashboard), embedded
 * in the binary at build time.
 *
 * The files of webui/ are turned into byte arrays by scripts/embed_webui.sh
 * (build/gen/webui_assets.c, compiled into libpagoda.a). Each is served at
 * /webui/NAME; "/" is the chat page (chat.html), "/dashboard" the dashboard
 * (dashboard.html), "/favicon.ico" the icon. The bytes are static and
 * read-only: the HTTP side hands them to the client without copying. */
#ifndef PG_SERVER_WEBUI_H
#define PG_SERVER_WEBUI_H

#include <stddef.h>

typedef struct pg_asset {
    const char *path;           /* "/webui/chat.html" */
    const unsigned char *data;  /* len bytes (a NUL follows, not counted) */
    size_t len;
    const char *content_type;   /* "text/html; charset=utf-8" ... */
    const char *etag;           /* strong validator, quoted: "\"crc-len\"" */
} pg_asset;

/* The generated table (build/gen/webui_assets.c). */
extern const pg_asset pg_webui_assets[];
extern const size_t pg_webui_n_assets;

/* The asset served at an URL path (no query string), or NULL. */
const pg_asset *pg_webui_find(const char *path);

/* Response headers of an asset, as name/value pairs: Content-Type, ETag,
 * Cache-Control (revalidate every time: names carry no hash), the
 * Content-Security-Policy (default-src 'self': nothing may be loaded from or
 * sent to another origin; no inline script or style) and the usual
 * hardening headers. Returns the number of pairs written (at most cap). */
int pg_webui_headers(const pg_asset *a, const char *out[][2], int cap);

/* The Content-Security-Policy value (for docs and tests). */
extern const char pg_webui_csp[];

/* 1 when an If-None-Match header value names the asset's ETag (a list of
 * quoted tags, weak "W/" ones compared weakly, or "*"). */
int pg_webui_etag_match(const char *if_none_match, const char *etag);

#endif
