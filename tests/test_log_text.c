/* test_log_text.c - the text format of structured log lines (key=value) and
 * pg_log_msg in both formats, levels. Output is captured by pointing
 * stderr at a temporary file. */
#include "test.h"

#include "base/log.h"

#include <unistd.h>

static void fields_text(const char *in, const char *want) {
    char out[512];
    int rc = pg_log_fields_text(in, out, sizeof out);
    CHECKF(rc == 0 && !strcmp(out, want), "fields %s -> '%s' (rc %d), want '%s'", in, out, rc, want);
}

static void test_fields(void) {
    fields_text("\"msg\":\"request\",\"status\":200,\"stream\":false", "msg=request status=200 stream=false");
    fields_text("\"error\":\"bad value\",\"x\":null", "error=\"bad value\" x=null");
    fields_text("\"a\":\"q\\\"uote\",\"b\":\"\"", "a=\"q\\\"uote\" b=\"\"");
    fields_text("\"e\":\"k=v\",\"t\":1.5e-3", "e=\"k=v\" t=1.5e-3");
    fields_text("\"o\":{\"x\":[1,\"}\"]},\"n\":-2", "o={\"x\":[1,\"}\"]} n=-2");
    fields_text(" \"s\" : \"x\" , \"t\" : true ", "s=x t=true");
    char out[64];
    CHECK(pg_log_fields_text("\"a\":", out, sizeof out) < 0);
    CHECK(pg_log_fields_text("\"a\":\"open", out, sizeof out) < 0);
    CHECK(pg_log_fields_text("a:1", out, sizeof out) < 0);
    /* truncation keeps the buffer terminated */
    char small[8];
    pg_log_fields_text("\"long_key\":\"long value\"", small, sizeof small);
    CHECK(strlen(small) == 7);
}

/* Runs fn with stderr captured; returns the captured text (static buffer). */
static const char *capture(void (*fn)(void)) {
    static char buf[4096];
    char path[] = "/tmp/pagoda-test-log-XXXXXX";
    int fd = mkstemp(path);
    REQUIRE(fd >= 0);
    fflush(stderr);
    int saved = dup(2);
    dup2(fd, 2);
    fn();
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    lseek(fd, 0, SEEK_SET);
    ssize_t n = read(fd, buf, sizeof buf - 1);
    buf[n > 0 ? n : 0] = 0;
    close(fd);
    unlink(path);
    return buf;
}

static void emit_some(void) {
    pg_log_json_fields(PG_LOG_INFO, "\"msg\":\"request\",\"status\":200,\"error\":\"x y\"");
    pg_log_msg(PG_LOG_ERROR, "httpd", "Application reported internal error, closing connection.\n");
    pg_log_msg(PG_LOG_DEBUG, "httpd", "below the level");
    PG_INFO("plain \"message\"");
}

static void test_lines(void) {
    pg_log_set_level(PG_LOG_INFO);
    pg_log_set_format(PG_LOG_TEXT);
    const char *t = capture(emit_some);
    CHECKF(strstr(t, " info  msg=request status=200 error=\"x y\"\n"), "text fields: %s", t);
    CHECKF(strstr(t, " error component=httpd msg=\"Application reported internal error, closing connection.\"\n"),
           "text pg_log_msg: %s", t);
    CHECKF(!strstr(t, "below the level"), "debug line filtered: %s", t);
    CHECKF(strstr(t, " info  plain \"message\"\n"), "plain message: %s", t);
    CHECK(!strchr(t, '{')); /* no JSON fragments in text mode */
    pg_log_set_format(PG_LOG_JSON);
    const char *j = capture(emit_some);
    CHECKF(strstr(j, "\"level\":\"info\",\"msg\":\"request\",\"status\":200,\"error\":\"x y\"}\n"), "json fields: %s", j);
    CHECKF(strstr(j, "\"level\":\"error\",\"component\":\"httpd\",\"msg\":\"Application reported internal error, "
                     "closing connection.\"}\n"),
           "json pg_log_msg: %s", j);
    CHECKF(strstr(j, "\"msg\":\"plain \\\"message\\\"\"}\n"), "json plain: %s", j);
    pg_log_set_format(PG_LOG_TEXT);
}

int main(void) {
    test_fields();
    test_lines();
    return t_done("test_log");
}
