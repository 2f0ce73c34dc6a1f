/* test_webui.c - the embedded web UI table (webui.c and the generated
 * build/gen/webui_assets.c) and the histogram quantile of /v1/stats
 * (stats.c). The browser-level checks are in tests/webui.test.sh. */
#include "server/stats.h"
#include "server/webui.h"
#include "test.h"

#include <jansson.h>

#include <stdio.h>
#include <string.h>

/* the embedded bytes are the files of webui/ (run from the repo root) */
static void test_assets_match_files(void) {
    REQUIRE(pg_webui_n_assets >= 7);
    for (size_t i = 0; i < pg_webui_n_assets; i++) {
        const pg_asset *a = &pg_webui_assets[i];
        CHECK(!strncmp(a->path, "/webui/", 7));
        CHECK(pg_webui_find(a->path) == a);
        CHECK(a->data[a->len] == 0);
        CHECK(a->etag[0] == '"' && a->etag[strlen(a->etag) - 1] == '"');
        char fn[256];
        snprintf(fn, sizeof fn, "webui/%s", a->path + 7);
        FILE *f = fopen(fn, "rb");
        if (!f) continue; /* run from elsewhere: nothing to compare */
        static unsigned char buf[1 << 20];
        size_t n = fread(buf, 1, sizeof buf, f);
        fclose(f);
        CHECKF(n == a->len && !memcmp(buf, a->data, n), "%s differs from the embedded copy (rebuild)", fn);
    }
}

static void test_routes(void) {
    const pg_asset *chat = pg_webui_find("/"), *dash = pg_webui_find("/dashboard");
    REQUIRE(chat && dash);
    CHECK(!strcmp(chat->path, "/webui/chat.html"));
    CHECK(!strcmp(dash->path, "/webui/dashboard.html"));
    CHECK(pg_webui_find("/index.html") == chat);
    CHECK(pg_webui_find("/dashboard/") == dash);
    CHECK(!strcmp(chat->content_type, "text/html; charset=utf-8"));
    const pg_asset *js = pg_webui_find("/webui/chat.js");
    REQUIRE(js);
    CHECK(!strncmp(js->content_type, "text/javascript", 15));
    CHECK(pg_webui_find("/favicon.ico") == pg_webui_find("/webui/favicon.svg"));
    /* not assets */
    CHECK(!pg_webui_find("/webui/"));
    CHECK(!pg_webui_find("/webui/../Makefile"));
    CHECK(!pg_webui_find("/webui/chat.js/"));
    CHECK(!pg_webui_find("/v1/models"));
    CHECK(!pg_webui_find("/chat.html"));
    CHECK(!pg_webui_find(""));
    CHECK(!pg_webui_find(NULL));
}

static void test_headers(void) {
    const pg_asset *a = pg_webui_find("/");
    const char *h[16][2];
    int n = pg_webui_headers(a, h, 16);
    int csp = 0, etag = 0, cc = 0, ct = 0;
    for (int i = 0; i < n; i++) {
        if (!strcmp(h[i][0], "Content-Security-Policy")) {
            csp = strstr(h[i][1], "default-src 'self'") && strstr(h[i][1], "connect-src 'self'") &&
                  !strstr(h[i][1], "unsafe") && !strchr(h[i][1], '*');
        }
        if (!strcmp(h[i][0], "ETag")) etag = !strcmp(h[i][1], a->etag);
        if (!strcmp(h[i][0], "Cache-Control")) cc = !strcmp(h[i][1], "no-cache");
        if (!strcmp(h[i][0], "Content-Type")) ct = !strcmp(h[i][1], a->content_type);
    }
    CHECK(csp && etag && cc && ct);
    CHECK(pg_webui_headers(a, h, 2) == 2);
}

static void test_etag_match(void) {
    const char *e = "\"0123abcd-1f\"";
    CHECK(pg_webui_etag_match("\"0123abcd-1f\"", e));
    CHECK(pg_webui_etag_match("W/\"0123abcd-1f\"", e));
    CHECK(pg_webui_etag_match("\"x\", \"0123abcd-1f\"", e));
    CHECK(pg_webui_etag_match("*", e));
    CHECK(!pg_webui_etag_match("\"0123abcd-1e\"", e));
    CHECK(!pg_webui_etag_match("\"0123abcd-1f", e)); /* unterminated */
    CHECK(!pg_webui_etag_match("0123abcd-1f", e));
    CHECK(!pg_webui_etag_match("", e));
    CHECK(!pg_webui_etag_match(NULL, e));
    CHECK(!pg_webui_etag_match("\"\"", e));
}

static void test_quantile(void) {
    const double *b = srv_hist_bounds();
    uint64_t c[SRV_HIST_NB + 1];
    memset(c, 0, sizeof c);
    CHECK(srv_hist_quantile(c, b, 0.5) < 0); /* empty */
    /* 10 observations in (b[3], b[4]]: the median is halfway through it */
    c[4] = 10;
    double q = srv_hist_quantile(c, b, 0.5);
    CHECKF(fabs(q - (b[3] + 0.5 * (b[4] - b[3]))) < 1e-12, "%g", q);
    /* 90 in the first bucket (0, b[0]], 10 in the overflow: p50 inside the
     * first, p99 answers the last finite bound */
    memset(c, 0, sizeof c);
    c[0] = 90;
    c[SRV_HIST_NB] = 10;
    q = srv_hist_quantile(c, b, 0.5);
    CHECKF(fabs(q - b[0] * 50.0 / 90.0) < 1e-12, "%g", q);
    CHECK(srv_hist_quantile(c, b, 0.99) == b[SRV_HIST_NB - 1]);
    /* monotone in q */
    memset(c, 0, sizeof c);
    for (int i = 0; i <= SRV_HIST_NB; i++) c[i] = (uint64_t)(i * 7 % 5);
    double prev = -1;
    for (double p = 0.01; p < 1; p += 0.01) {
        double v = srv_hist_quantile(c, b, p);
        CHECK(v >= prev);
        prev = v;
    }
}

/* the /v1/stats body from a crafted input: every figure where stats.c
 * documents it */
static void test_stats_json(void) {
    srv_metrics m;
    srv_metrics_init(&m);
    /* openai and anthropic share the figures: the top-level counters are sums */
    srv_pmetrics *po = &m.p[SRV_PROTO_OPENAI], *pa = &m.p[SRV_PROTO_ANTHROPIC];
    atomic_store(&po->requests, 5);
    atomic_store(&pa->requests, 2);
    atomic_store(&po->status[200], 3);
    atomic_store(&pa->status[200], 2);
    atomic_store(&po->status[400], 2);
    atomic_store(&pa->status[401], 1);
    atomic_store(&po->status[429], 3);
    atomic_store(&po->status[500], 1);
    atomic_store(&po->status[503], 4);
    atomic_store(&po->rejected[REJ_QUEUE_FULL], 2);
    atomic_store(&pa->rejected[REJ_RATE_LIMIT], 1);
    atomic_store(&po->rejected[REJ_DRAINING], 3);
    atomic_store(&po->finished[FIN_ABORT], 2);
    atomic_store(&pa->finished[FIN_ERROR], 1);
    atomic_store(&po->disconnects, 1);
    atomic_store(&pa->disconnects, 1);
    for (int i = 0; i < 6; i++) srv_hist_observe(&po->h[H_TTFT], 0.03); /* bucket (0.025, 0.05] */
    for (int i = 0; i < 4; i++) srv_hist_observe(&pa->h[H_TTFT], 0.03);
    size_t tl = 0;
    pg_engine_stats est = {0};
    char *txt = srv_metrics_text(&m, "tiny", &est, 0, &tl);
    REQUIRE(txt);
    CHECK(strstr(txt, "pagoda:http_requests_total{model_name=\"tiny\",protocol=\"anthropic\",status=\"401\"} 1\n"));
    CHECK(strstr(txt, "pagoda:http_requests_total{model_name=\"tiny\",protocol=\"openai\",status=\"200\"} 3\n"));
    CHECK(strstr(txt, "pagoda:client_disconnects_total{model_name=\"tiny\",protocol=\"anthropic\"} 1\n"));
    CHECK(strstr(txt, "pagoda:request_success_total{model_name=\"tiny\",protocol=\"anthropic\",finished_reason=\"error\"} 1\n"));
    CHECK(strstr(txt, "pagoda:time_to_first_token_seconds_count{model_name=\"tiny\",protocol=\"anthropic\"} 4\n"));
    CHECK(strstr(txt, "pagoda:time_to_first_token_seconds_count{model_name=\"tiny\",protocol=\"openai\"} 6\n"));
    CHECK(!strstr(txt, "protocol=\"ollama\"") && !strstr(txt, "protocol=\"responses\"")); /* unused: not shown */
    free(txt);
    srv_stats_row rows[2];
    memset(rows, 0, sizeof rows);
    snprintf(rows[0].id, sizeof rows[0].id, "chatcmpl-old");
    rows[0].age_s = 2.5;
    rows[0].prompt_tokens = 11;
    rows[0].generated_tokens = 4;
    rows[0].state = "generating";
    rows[0].stream = 1;
    rows[0].choices = 1;
    rows[0].protocol = "anthropic";
    snprintf(rows[1].id, sizeof rows[1].id, "cmpl-new");
    rows[1].state = "waiting";
    rows[1].choices = 2;
    srv_stats_in in;
    memset(&in, 0, sizeof in);
    in.model = "tiny";
    in.status = "ready";
    in.uptime_s = 42;
    in.engine.running = 1;
    in.engine.waiting = 1;
    in.engine.kv_usage = 0.25;
    in.engine.generated_tokens = 99;
    in.n_ctx = 2048;
    in.metrics = &m;
    in.rows = rows;
    in.n_rows = 2;
    char *js = srv_stats_json(&in);
    REQUIRE(js);
    json_error_t je;
    json_t *o = json_loads(js, 0, &je);
    free(js);
    REQUIRE(o);
    json_t *c = json_object_get(o, "counters"), *e = json_object_get(o, "engine");
    CHECK(!strcmp(json_string_value(json_object_get(o, "model")), "tiny"));
    CHECK(!strcmp(json_string_value(json_object_get(o, "status")), "ready"));
    CHECK(json_integer_value(json_object_get(o, "uptime_s")) == 42);
    CHECK(json_integer_value(json_object_get(c, "requests")) == 7);
    CHECK(json_integer_value(json_object_get(c, "http_responses")) == 16);
    CHECK(json_integer_value(json_object_get(c, "rejected_429")) == 3); /* queue full + rate limit */
    CHECK(json_integer_value(json_object_get(c, "rejected_503")) == 3); /* rejections, not /ready's 503s */
    CHECK(json_integer_value(json_object_get(c, "errors_4xx")) == 3);   /* 400 + 401, not 429 */
    CHECK(json_integer_value(json_object_get(c, "errors_5xx")) == 1);   /* 500, not 503 */
    CHECK(json_integer_value(json_object_get(c, "generation_errors")) == 1);
    CHECK(json_integer_value(json_object_get(c, "cancelled")) == 2);
    CHECK(json_integer_value(json_object_get(c, "disconnects")) == 2);
    CHECK(json_integer_value(json_object_get(e, "running")) == 1);
    CHECK(json_integer_value(json_object_get(e, "generated_tokens")) == 99);
    CHECK(json_integer_value(json_object_get(e, "n_ctx")) == 2048);
    CHECK(fabs(json_real_value(json_object_get(e, "kv_usage")) - 0.25) < 1e-12);
    CHECK(json_is_null(json_object_get(e, "prefix_cache_hit_rate"))); /* no query yet */
    json_t *ttft = json_object_get(json_object_get(o, "histograms"), "ttft");
    CHECK(json_integer_value(json_object_get(ttft, "count")) == 10);
    CHECK(json_array_size(json_object_get(ttft, "counts")) == SRV_HIST_NB + 1);
    CHECK(json_array_size(json_object_get(ttft, "bounds")) == SRV_HIST_NB);
    double p50 = json_real_value(json_object_get(ttft, "p50"));
    CHECKF(p50 > 0.025 && p50 <= 0.05, "%g", p50);
    CHECK(json_is_null(json_object_get(json_object_get(json_object_get(o, "histograms"), "itl"), "p50")));
    json_t *run = json_object_get(o, "running");
    REQUIRE(json_array_size(run) == 2);
    json_t *r0 = json_array_get(run, 0);
    CHECK(!strcmp(json_string_value(json_object_get(r0, "id")), "chatcmpl-old"));
    CHECK(!strcmp(json_string_value(json_object_get(r0, "model")), "tiny"));
    CHECK(!strcmp(json_string_value(json_object_get(r0, "state")), "generating"));
    CHECK(json_integer_value(json_object_get(r0, "prompt_tokens")) == 11);
    CHECK(json_integer_value(json_object_get(r0, "generated_tokens")) == 4);
    CHECK(json_is_true(json_object_get(r0, "stream")));
    CHECK(!json_object_get(r0, "text") && !json_object_get(r0, "prompt"));
    CHECK(json_integer_value(json_object_get(json_array_get(run, 1), "choices")) == 2);
    CHECK(!strcmp(json_string_value(json_object_get(r0, "protocol")), "anthropic"));
    CHECK(!strcmp(json_string_value(json_object_get(json_array_get(run, 1), "protocol")), "openai"));
    json_t *ps = json_object_get(o, "protocols");
    CHECK(json_object_size(ps) == 2 && !json_object_get(ps, "ollama"));
    json_t *an = json_object_get(ps, "anthropic"), *oa = json_object_get(ps, "openai");
    CHECK(json_integer_value(json_object_get(an, "requests")) == 2);
    CHECK(json_integer_value(json_object_get(an, "http_responses")) == 3);
    CHECK(json_integer_value(json_object_get(an, "errors_4xx")) == 1);
    CHECK(json_integer_value(json_object_get(an, "rejected_429")) == 1);
    CHECK(json_integer_value(json_object_get(oa, "http_responses")) == 13);
    CHECK(json_integer_value(json_object_get(oa, "disconnects")) == 1);
    CHECK(json_integer_value(json_object_get(json_object_get(json_object_get(an, "histograms"), "ttft"), "count")) == 4);
    json_decref(o);
    srv_metrics_free(&m);
}

int main(void) {
    test_assets_match_files();
    test_routes();
    test_headers();
    test_etag_match();
    test_quantile();
    test_stats_json();
    return t_done("test_webui");
}
