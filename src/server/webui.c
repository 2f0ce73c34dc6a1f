/* webui.c - lookup of the embedded web UI files and their response headers.
 *
 * The asset table is generated (scripts/embed_webui.sh -> build/gen/
 * webui_assets.c); this file only maps URL paths to entries and says which
 * headers go with them. It knows nothing of libmicrohttpd: http.c builds the
 * response from the bytes and the header pairs.
 *
 * Caching: the file names carry no content hash, so every response says
 * "Cache-Control: no-cache" (store, but revalidate) with a strong ETag (CRC
 * and length of the bytes, computed at build time); a revalidation with a
 * matching If-None-Match gets 304 without a body. */
#include "server/webui.h"

#include <string.h>

const char pg_webui_csp[] = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
                            "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
                            "form-action 'self'; frame-ancestors 'none'";

const pg_asset *pg_webui_find(const char *path) {
    if (!path) return NULL;
    const char *want = path;
    if (!strcmp(path, "/") || !strcmp(path, "/index.html")) want = "/webui/chat.html";
    else if (!strcmp(path, "/dashboard") || !strcmp(path, "/dashboard/")) want = "/webui/dashboard.html";
    else if (!strcmp(path, "/favicon.ico")) want = "/webui/favicon.svg";
    else if (strncmp(path, "/webui/", 7)) return NULL;
    for (size_t i = 0; i < pg_webui_n_assets; i++)
        if (!strcmp(pg_webui_assets[i].path, want)) return &pg_webui_assets[i];
    return NULL;
}

int pg_webui_headers(const pg_asset *a, const char *out[][2], int cap) {
    const char *h[][2] = {
        {"Content-Type", a->content_type},
        {"ETag", a->etag},
        {"Cache-Control", "no-cache"},
        {"Content-Security-Policy", pg_webui_csp},
        {"X-Content-Type-Options", "nosniff"},
        {"X-Frame-Options", "DENY"},
        {"Referrer-Policy", "no-referrer"},
        {"Cross-Origin-Opener-Policy", "same-origin"},
        {"Cross-Origin-Resource-Policy", "same-origin"},
    };
    int n = (int)(sizeof h / sizeof h[0]);
    if (n > cap) n = cap;
    for (int i = 0; i < n; i++) {
        out[i][0] = h[i][0];
        out[i][1] = h[i][1];
    }
    return n;
}

/* Compares one entity tag of a list (quoted, maybe W/-prefixed) with ours;
 * If-None-Match uses the weak comparison (RFC 9110 13.1.2). */
int pg_webui_etag_match(const char *v, const char *etag) {
    if (!v || !etag) return 0;
    size_t el = strlen(etag);
    const char *p = v;
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == ',') p++;
        if (*p == '*') return 1;
        if (p[0] == 'W' && p[1] == '/') p += 2;
        if (*p != '"') {
            while (*p && *p != ',') p++;
            continue;
        }
        const char *q = strchr(p + 1, '"');
        if (!q) return 0;
        if ((size_t)(q + 1 - p) == el && !memcmp(p, etag, el)) return 1;
        p = q + 1;
    }
    return 0;
}
